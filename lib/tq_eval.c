/*
 * tq_eval — running a compiled task query: filter, sort (the user's keys,
 * then the plugin's fixed tail: status.type, urgency, due, priority, path),
 * limit, group, limit per group.
 *
 * Sorting is stable so ties keep the input order. Text is ordered by ICU's
 * root collation with numeric digit runs, which is what the plugin's
 * localeCompare(..., {numeric: true}) is. One run owns its collator and
 * regex clones, so a compiled query can run on several threads at once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ucol.h>
#include <unicode/uregex.h>
#include <unicode/utext.h>

#include "quipu/text.h"
#include "taskquery_int.h"

typedef struct run {
    const qp_taskquery *q;
    const qp_task *tasks;
    size_t n;
    qp_arena *arena;
    qp__coll coll;
    URegularExpression **re;
    const char **not_done_ids; /* sorted ids of tasks that are not done */
    size_t n_not_done_ids;
    const char **wanted_ids; /* sorted ids that not-done tasks depend on */
    size_t n_wanted_ids;
    /* per-task sort keys, computed for the tasks that passed the filters */
    double *urgency;
    const char **clean_desc;
    int32_t *random;
    /* path-derived text tests repeat for every task of a file: remember the
     * last path seen per filter and its answer */
    const char **cache_path;
    bool *cache_val;
    bool failed;
} run;

/* ---- text helpers --------------------------------------------------------- */

bool qp__text_includes_ci(const char *hay, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return true;
    /* ASCII haystacks (nearly all paths) are searched in place; anything
     * else is folded the way the needle was */
    char first = needle[0];
    char upper = first >= 'a' && first <= 'z' ? (char)(first - 32) : first;
    const char *p = hay;
    for (; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            goto slow;
        if (*p != first && *p != upper)
            continue;
        size_t k = 1;
        while (k < nlen) {
            char c = p[k];
            if (c == '\0' || (unsigned char)c >= 0x80)
                break;
            if (c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if (c != needle[k])
                break;
            k++;
        }
        if (k == nlen)
            return true;
    }
    return false;
slow:;
    size_t fl;
    char *f = qp_text_fold(hay, strlen(hay), &fl);
    if (f == NULL)
        return false;
    bool r = strstr(f, needle) != NULL;
    free(f);
    return r;
}

static const char *filename_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool ends_md(const char *s)
{
    size_t l = strlen(s);
    return l >= 3 && strcmp(s + l - 3, ".md") == 0;
}

/* The description with the first occurrence of the global filter removed. */
static const char *desc_for_search(run *r, const qp_task *t, char *buf, size_t cap)
{
    const char *gf = r->q->global_filter;
    const char *hit;
    if (gf == NULL || gf[0] == '\0' || (hit = strstr(t->description, gf)) == NULL)
        return t->description;
    size_t pre = (size_t)(hit - t->description), gl = strlen(gf);
    size_t total = strlen(t->description) - gl;
    char *d = total + 1 <= cap ? buf : qp_arena_alloc(r->arena, total + 1);
    if (d == NULL)
        return t->description;
    memcpy(d, t->description, pre);
    strcpy(d + pre, hit + gl);
    size_t b = 0, e = strlen(d);
    while (b < e && (d[b] == ' ' || d[b] == '\t'))
        b++;
    while (e > b && (d[e - 1] == ' ' || d[e - 1] == '\t'))
        e--;
    d[e] = '\0';
    return d + b;
}

/* folder: up to and including the last '/', "/" at the vault root */
static const char *folder_of(run *r, const char *path)
{
    const char *s = strrchr(path, '/');
    if (s == NULL)
        return "/";
    return qp_arena_strndup(r->arena, path, (size_t)(s - path) + 1);
}

static const char *root_of(run *r, const char *path)
{
    char *p = qp_arena_strdup(r->arena, path);
    if (p == NULL)
        return "/";
    for (char *c = p; *c; c++)
        if (*c == '\\')
            *c = '/';
    while (*p == '/')
        p++;
    char *s = strchr(p, '/');
    if (s == NULL)
        return "/";
    s[1] = '\0';
    return p;
}

/* ---- filters ------------------------------------------------------------------ */

static bool regex_test(run *r, const tq_filter *f, const char *text)
{
    URegularExpression *re = r->re[f->regex_slot];
    UErrorCode st = U_ZERO_ERROR;
    UText *ut = utext_openUTF8(NULL, text, -1, &st);
    if (U_FAILURE(st))
        return false;
    uregex_setUText(re, ut, &st);
    UBool found = U_SUCCESS(st) ? uregex_find(re, 0, &st) : 0;
    uregex_setText(re, u"", 0, &st);
    utext_close(ut);
    return U_SUCCESS(st) && found;
}

static bool text_test(run *r, const tq_filter *f, const char *text)
{
    if (f->regex)
        return regex_test(r, f, text);
    return qp__text_includes_ci(text, f->needle, f->needle_len);
}

static bool date_ok(const qp_task *t, int field)
{
    return t->dates[field] != 0 && !(t->invalid_dates & (1u << field));
}

static bool date_cmp(const tq_filter *f, int32_t d)
{
    switch (f->op) {
    case DOP_BEFORE:
        return d < f->lo;
    case DOP_AFTER:
        return d > f->hi;
    case DOP_ON_OR_BEFORE:
        return d <= f->hi;
    case DOP_ON_OR_AFTER:
        return d >= f->lo;
    default:
        return d >= f->lo && d <= f->hi;
    }
}

static bool id_in(const char *const *ids, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ids[mid], id);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool test(run *r, const tq_filter *f, const qp_task *t)
{
    bool v = false;
    char buf[512];

    if (f->kind == FK_TEXT && f->value >= 0 && t->path != NULL &&
        (f->field == TF_PATH || f->field == TF_FILENAME || f->field == TF_FOLDER ||
         f->field == TF_ROOT)) {
        int slot = f->value;
        if (r->cache_path[slot] == t->path)
            return r->cache_val[slot];
        r->cache_path[slot] = t->path;
        r->cache_val[slot] = false;
        tq_filter plain = *f;
        plain.value = -1;
        plain.kind = FK_TEXT;
        bool res = test(r, &plain, t);
        r->cache_val[slot] = res;
        return res;
    }

    switch (f->kind) {
    case FK_DONE:
        v = qp_task_is_done(t);
        break;
    case FK_STATUS_TYPE:
        v = (int)t->status_type == f->value;
        break;
    case FK_TEXT:
        switch ((tq_text_field)f->field) {
        case TF_DESCRIPTION:
            v = text_test(r, f, desc_for_search(r, t, buf, sizeof buf));
            break;
        case TF_PATH:
            v = text_test(r, f, t->path ? t->path : "");
            break;
        case TF_FILENAME: {
            const char *fn = filename_of(t->path ? t->path : "");
            v = text_test(r, f, ends_md(fn) ? fn : "");
            break;
        }
        case TF_FOLDER:
            v = text_test(r, f, folder_of(r, t->path ? t->path : ""));
            break;
        case TF_ROOT:
            v = text_test(r, f, root_of(r, t->path ? t->path : ""));
            break;
        case TF_HEADING:
            v = text_test(r, f, t->heading ? t->heading : "");
            break;
        case TF_STATUS_NAME:
            v = text_test(r, f, t->status_name);
            break;
        case TF_RECURRENCE:
            v = text_test(r, f, t->recurrence ? t->recurrence : "");
            break;
        case TF_ID:
            v = text_test(r, f, t->id ? t->id : "");
            break;
        case TF_TAGS:
            for (size_t i = 0; i < t->n_tags && !v; i++)
                v = text_test(r, f, t->tags[i]);
            break;
        }
        break;
    case FK_DATE:
        if (f->field == TQ_HAPPENS) {
            static const int fields[] = {QP_TASK_START, QP_TASK_SCHEDULED, QP_TASK_DUE};
            for (int i = 0; i < 3 && !v; i++)
                v = date_ok(t, fields[i]) && date_cmp(f, t->dates[fields[i]]);
        } else if (t->dates[f->field] == 0) {
            v = f->field == QP_TASK_START; /* no start date: already started */
        } else {
            v = date_ok(t, f->field) && date_cmp(f, t->dates[f->field]);
        }
        break;
    case FK_HAS_DATE:
        if (f->field == TQ_HAPPENS)
            v = t->dates[QP_TASK_START] || t->dates[QP_TASK_SCHEDULED] || t->dates[QP_TASK_DUE];
        else
            v = t->dates[f->field] != 0;
        break;
    case FK_DATE_INVALID:
        v = t->dates[f->field] != 0 && (t->invalid_dates & (1u << f->field));
        break;
    case FK_RECURRING:
        v = t->recurrence != NULL;
        break;
    case FK_PRIORITY: {
        /* order: Highest > High > Medium > None > Low > Lowest (codes 0..5) */
        int p = (int)t->priority;
        switch (f->op) {
        case POP_ABOVE:
            v = p < f->value;
            break;
        case POP_BELOW:
            v = p > f->value;
            break;
        case POP_NOT:
            v = p != f->value;
            break;
        default:
            v = p == f->value;
            break;
        }
        break;
    }
    case FK_SUBITEMS: {
        const char *ind = t->indent ? t->indent : "";
        const char *gt = strrchr(ind, '>');
        const char *after = gt ? gt + 1 : ind;
        v = after[0] == '\0' || (after[0] == ' ' && after[1] == '\0');
        break;
    }
    case FK_HAS_ID:
        v = t->id != NULL;
        break;
    case FK_HAS_DEPS:
        v = t->n_depends_on > 0;
        break;
    case FK_BLOCKING:
        v = !qp_task_is_done(t) && t->id != NULL && id_in(r->wanted_ids, r->n_wanted_ids, t->id);
        break;
    case FK_BLOCKED:
        if (!qp_task_is_done(t))
            for (size_t i = 0; i < t->n_depends_on && !v; i++)
                v = id_in(r->not_done_ids, r->n_not_done_ids, t->depends_on[i]);
        break;
    case FK_HAS_TAGS:
        v = t->n_tags > 0;
        break;
    case FK_AND:
        v = test(r, f->a, t) && test(r, f->b, t);
        break;
    case FK_OR:
        v = test(r, f->a, t) || test(r, f->b, t);
        break;
    case FK_XOR:
        v = test(r, f->a, t) != test(r, f->b, t);
        break;
    case FK_NOT:
        v = !test(r, f->a, t);
        break;
    }
    return f->negate ? !v : v;
}

static bool open_regexes(run *r, const tq_filter *f)
{
    if (f == NULL)
        return true;
    if (f->regex && r->re[f->regex_slot] == NULL) {
        UErrorCode st = U_ZERO_ERROR;
        r->re[f->regex_slot] = qp__regex_open(f->pattern, f->rflags, &st);
        if (U_FAILURE(st))
            return false;
    }
    return open_regexes(r, f->a) && open_regexes(r, f->b);
}

static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool build_blocking(run *r)
{
    size_t n1 = 0, n2 = 0;
    for (size_t i = 0; i < r->n; i++) {
        const qp_task *t = &r->tasks[i];
        if (qp_task_is_done(t))
            continue;
        n1 += t->id != NULL;
        n2 += t->n_depends_on;
    }
    r->not_done_ids = qp_arena_alloc(r->arena, (n1 + 1) * sizeof(char *));
    r->wanted_ids = qp_arena_alloc(r->arena, (n2 + 1) * sizeof(char *));
    if (r->not_done_ids == NULL || r->wanted_ids == NULL)
        return false;
    for (size_t i = 0; i < r->n; i++) {
        const qp_task *t = &r->tasks[i];
        if (qp_task_is_done(t))
            continue;
        if (t->id != NULL)
            r->not_done_ids[r->n_not_done_ids++] = t->id;
        for (size_t k = 0; k < t->n_depends_on; k++)
            r->wanted_ids[r->n_wanted_ids++] = t->depends_on[k];
    }
    qsort(r->not_done_ids, r->n_not_done_ids, sizeof(char *), strcmp_p);
    qsort(r->wanted_ids, r->n_wanted_ids, sizeof(char *), strcmp_p);
    return true;
}

/* ---- sort keys ----------------------------------------------------------- */

bool qp__coll_open(qp__coll *c)
{
    UErrorCode st = U_ZERO_ERROR;
    UCollator *prim = NULL;
    uint8_t keys[95][16];
    int order[95];

    memset(c, 0, sizeof *c);
    c->coll = ucol_open("", &st);
    ucol_setAttribute(c->coll, UCOL_NUMERIC_COLLATION, UCOL_ON, &st);
    prim = ucol_open("", &st);
    ucol_setAttribute(prim, UCOL_NUMERIC_COLLATION, UCOL_ON, &st);
    ucol_setStrength(prim, UCOL_PRIMARY);
    if (U_FAILURE(st)) {
        ucol_close(prim);
        qp__coll_close(c);
        return false;
    }
    /* rank printable ASCII by primary weight, so most comparisons of ASCII
     * text (paths, tags, descriptions) never reach ICU */
    for (int i = 0; i < 95; i++) {
        UChar ch = (UChar)(0x20 + i);
        int32_t n = ucol_getSortKey(prim, &ch, 1, keys[i], (int32_t)sizeof keys[i]);
        if (n <= 0 || n > (int32_t)sizeof keys[i]) {
            ucol_close(prim);
            return true; /* no table: every comparison goes to ICU */
        }
        order[i] = i;
    }
    ucol_close(prim);
    for (int i = 1; i < 95; i++) { /* insertion sort of 95 keys */
        int v = order[i], j = i;
        while (j > 0 && strcmp((const char *)keys[order[j - 1]], (const char *)keys[v]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    uint8_t rank = 1;
    for (int i = 0; i < 95; i++) {
        if (i > 0 && strcmp((const char *)keys[order[i - 1]], (const char *)keys[order[i]]) != 0)
            rank++;
        c->prim[0x20 + order[i]] = rank;
    }
    return true;
}

void qp__coll_close(qp__coll *c)
{
    if (c->coll != NULL)
        ucol_close(c->coll);
    c->coll = NULL;
}

static bool is_dig(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Primary-level comparison of printable ASCII with numeric digit runs;
 * 2 when either string leaves printable ASCII or the primaries tie. */
static int fast_primary(const qp__coll *c, const char *a, const char *b)
{
    for (;;) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x == 0 || y == 0)
            return x == 0 && y == 0 ? 2 : x == 0 ? -1 : 1;
        if (x >= 0x7F || y >= 0x7F || c->prim[x] == 0 || c->prim[y] == 0)
            return 2;
        if (is_dig((char)x) && is_dig((char)y)) {
            while (*a == '0' && is_dig(a[1]))
                a++;
            while (*b == '0' && is_dig(b[1]))
                b++;
            size_t la = 0, lb = 0;
            while (is_dig(a[la]))
                la++;
            while (is_dig(b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int d = memcmp(a, b, la);
            if (d != 0)
                return d < 0 ? -1 : 1;
            a += la;
            b += lb;
            continue;
        }
        if (c->prim[x] != c->prim[y])
            return c->prim[x] < c->prim[y] ? -1 : 1;
        a++;
        b++;
    }
}

int qp__coll_cmp(const qp__coll *c, const char *a, const char *b)
{
    if (a == b || strcmp(a, b) == 0)
        return 0;
    int f = fast_primary(c, a, b);
    if (f != 2)
        return f;
    UErrorCode st = U_ZERO_ERROR;
    UCollationResult r = ucol_strcollUTF8(c->coll, a, -1, b, -1, &st);
    if (U_FAILURE(st))
        return strcmp(a, b) < 0 ? -1 : 1;
    return r == UCOL_LESS ? -1 : r == UCOL_GREATER ? 1 : 0;
}

static int collate(run *r, const char *a, const char *b)
{
    return qp__coll_cmp(&r->coll, a, b);
}

/* The cleaned description used by `sort by description`. */
static const char *clean_description(run *r, const qp_task *t)
{
    char buf[512];
    const char *d = desc_for_search(r, t, buf, sizeof buf);
    size_t len = strlen(d);
    char *s = qp_arena_alloc(r->arena, len + 1);
    if (s == NULL)
        return d;
    /* a leading [[target|alias]], [[target]] or [text] shows its display text */
    if (d[0] == '[') {
        size_t i = d[1] == '[' ? 2 : 1, j = i;
        while (j < len && d[j] != ']')
            j++;
        if (j < len) {
            size_t k = j + 1;
            if (k < len && d[k] == ']')
                k++;
            const char *inner = d + i;
            size_t il = j - i;
            const char *bar = memchr(inner, '|', il);
            size_t pos = 0;
            if (bar != NULL) {
                pos = (size_t)(bar - inner) + 1;
            }
            memcpy(s, inner + pos, il - pos);
            strcpy(s + il - pos, d + k);
            d = s;
            len = strlen(d);
            s = qp_arena_alloc(r->arena, len + 1);
            if (s == NULL)
                return d;
        }
    }
    strcpy(s, d);
    static const char *const marks[] = {"**", "*", "==", "__", "_"};
    for (size_t m = 0; m < 5; m++) {
        size_t ml = strlen(marks[m]);
        if (strncmp(s, marks[m], ml) != 0)
            continue;
        /* ^MARK([^c]+)MARK, where c is the mark's character */
        char mc = marks[m][0];
        size_t j = ml;
        while (s[j] && s[j] != mc)
            j++;
        if (j == ml || strncmp(s + j, marks[m], ml) != 0)
            continue;
        memmove(s, s + ml, j - ml);
        memmove(s + j - ml, s + j + ml, strlen(s + j + ml) + 1);
    }
    return s;
}

/* TinySimpleHash of "<YYYY-MM-DD> <description>" over UTF-16 code units. */
static int32_t random_key(const qp_task *t, int32_t today)
{
    char date[11];
    uint32_t h = 9;
    const uint32_t mul = 387420489u; /* 9 ** 9 */
    qp_task_date_format(today, date);
    const char *parts[] = {date, " ", t->description};
    for (int k = 0; k < 3; k++) {
        const char *s = parts[k];
        size_t n = strlen(s), i = 0;
        while (i < n) {
            uint32_t cp;
            i += qp_text_decode(s + i, n - i, &cp);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                h = (h ^ (0xD800 + (v >> 10))) * mul;
                h = (h ^ (0xDC00 + (v & 0x3FF))) * mul;
            } else {
                h = (h ^ cp) * mul;
            }
        }
    }
    return (int32_t)(h ^ (h >> 9));
}

static int cmp_date(const qp_task *a, const qp_task *b, int field)
{
    int32_t da = a->dates[field], db = b->dates[field];
    if (da && !db)
        return -1;
    if (!da && db)
        return 1;
    if (!da && !db)
        return 0;
    bool va = !(a->invalid_dates & (1u << field)), vb = !(b->invalid_dates & (1u << field));
    if (va && !vb)
        return 1;
    if (!va && vb)
        return -1;
    if (!va && !vb)
        return 0;
    return (da > db) - (da < db);
}

static int32_t happens(const qp_task *t)
{
    static const int fields[] = {QP_TASK_START, QP_TASK_SCHEDULED, QP_TASK_DUE};
    int32_t best = 0;
    for (int i = 0; i < 3; i++)
        if (date_ok(t, fields[i]) && (best == 0 || t->dates[fields[i]] < best))
            best = t->dates[fields[i]];
    return best;
}

static int cmp_key(run *r, tq_key key, int tag_n, size_t ia, size_t ib)
{
    const qp_task *a = &r->tasks[ia], *b = &r->tasks[ib];
    switch (key) {
    case K_STATUS:
        return (int)qp_task_is_done(a) - (int)qp_task_is_done(b);
    case K_STATUS_TYPE:
        return ((int)a->status_type > (int)b->status_type) -
               ((int)a->status_type < (int)b->status_type);
    case K_STATUS_NAME:
        return collate(r, a->status_name, b->status_name);
    case K_URGENCY: {
        double ua = r->urgency[ia], ub = r->urgency[ib];
        return (ua < ub) - (ua > ub);
    }
    case K_DUE:
        return cmp_date(a, b, QP_TASK_DUE);
    case K_SCHEDULED:
        return cmp_date(a, b, QP_TASK_SCHEDULED);
    case K_START:
        return cmp_date(a, b, QP_TASK_START);
    case K_CREATED:
        return cmp_date(a, b, QP_TASK_CREATED);
    case K_DONE:
        return cmp_date(a, b, QP_TASK_DONE);
    case K_CANCELLED:
        return cmp_date(a, b, QP_TASK_CANCELLED);
    case K_HAPPENS: {
        int32_t ha = happens(a), hb = happens(b);
        if (ha && !hb)
            return -1;
        if (!ha && hb)
            return 1;
        return (ha > hb) - (ha < hb);
    }
    case K_PRIORITY:
        return ((int)a->priority > (int)b->priority) - ((int)a->priority < (int)b->priority);
    case K_PATH:
        return collate(r, a->path ? a->path : "", b->path ? b->path : "");
    case K_FILENAME: {
        const char *fa = filename_of(a->path ? a->path : ""),
                   *fb = filename_of(b->path ? b->path : "");
        return collate(r, ends_md(fa) ? fa : "", ends_md(fb) ? fb : "");
    }
    case K_HEADING:
        return collate(r, a->heading ? a->heading : "", b->heading ? b->heading : "");
    case K_DESCRIPTION:
        return collate(r, r->clean_desc[ia], r->clean_desc[ib]);
    case K_TAG: {
        size_t n = (size_t)(tag_n > 0 ? tag_n : 1);
        if (a->n_tags == 0 && b->n_tags == 0)
            return 0;
        if (a->n_tags == 0)
            return 1;
        if (b->n_tags == 0)
            return -1;
        if (a->n_tags < n && b->n_tags >= n)
            return 1;
        if (b->n_tags < n && a->n_tags >= n)
            return -1;
        if (a->n_tags < n && b->n_tags < n)
            return 0;
        return collate(r, a->tags[n - 1], b->tags[n - 1]);
    }
    case K_RECURRING:
        return (a->recurrence == NULL) - (b->recurrence == NULL);
    case K_ID:
        return collate(r, a->id ? a->id : "", b->id ? b->id : "");
    case K_RANDOM:
        return (r->random[ia] > r->random[ib]) - (r->random[ia] < r->random[ib]);
    default:
        return 0;
    }
}

static const tq_key default_tail[] = {K_STATUS_TYPE, K_URGENCY, K_DUE, K_PRIORITY, K_PATH};

static int cmp_tasks(run *r, size_t ia, size_t ib)
{
    const qp_taskquery *q = r->q;
    for (size_t i = 0; i < q->n_sorters; i++) {
        int c = cmp_key(r, q->sorters[i].key, q->sorters[i].tag_n, ia, ib);
        if (c != 0)
            return q->sorters[i].reverse ? -c : c;
    }
    for (size_t i = 0; i < sizeof default_tail / sizeof default_tail[0]; i++) {
        int c = cmp_key(r, default_tail[i], 1, ia, ib);
        if (c != 0)
            return c;
    }
    return 0;
}

/* Stable merge sort of task indices. */
static void merge_sort(run *r, size_t *v, size_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(r, v, tmp, h);
    merge_sort(r, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_tasks(r, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* ---- groups --------------------------------------------------------------- */

static const char *escape_md(run *r, const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += (*p == '\\' || *p == '_') ? 2 : 1;
    char *o = qp_arena_alloc(r->arena, n + 1), *w = o;
    if (o == NULL)
        return s;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '_')
            *w++ = '\\';
        *w++ = *p;
    }
    *w = '\0';
    return o;
}

static const char *date_group(run *r, const qp_task *t, int field, const char *fname)
{
    static const char *const wd[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
    int32_t d;
    char buf[64];
    if (field == TQ_HAPPENS) {
        d = happens(t);
    } else {
        d = t->dates[field];
        if (d != 0 && (t->invalid_dates & (1u << field))) {
            snprintf(buf, sizeof buf, "%%%%0%%%% Invalid %s date", fname);
            return qp_arena_strdup(r->arena, buf);
        }
    }
    if (d == 0) {
        snprintf(buf, sizeof buf, "No %s date", fname);
        return qp_arena_strdup(r->arena, buf);
    }
    char ds[11];
    qp_task_date_format(d, ds);
    snprintf(buf, sizeof buf, "%s %s", ds, wd[qp__weekday(qp__days_from_ymd(d))]);
    return qp_arena_strdup(r->arena, buf);
}

/* Group names of task i for one key; *n receives their count. */
static const char **group_names(run *r, tq_key key, size_t i, size_t *n)
{
    const qp_task *t = &r->tasks[i];
    const char **v = qp_arena_alloc(r->arena, (t->n_tags + 1) * sizeof *v);
    char buf[64];
    if (v == NULL) {
        r->failed = true;
        *n = 0;
        return NULL;
    }
    *n = 1;
    const char *path = t->path ? t->path : "";
    switch (key) {
    case K_STATUS:
        v[0] = qp_task_is_done(t) ? "Done" : "Todo";
        break;
    case K_STATUS_TYPE:
        snprintf(buf, sizeof buf, "%%%%%d%%%%%s", (int)t->status_type,
                 qp_status_type_name(t->status_type));
        v[0] = qp_arena_strdup(r->arena, buf);
        break;
    case K_STATUS_NAME:
        v[0] = t->status_name;
        break;
    case K_PRIORITY: {
        static const char *const names[] = {"Highest", "High", "Medium", "Normal", "Low", "Lowest"};
        snprintf(buf, sizeof buf, "%%%%%d%%%%%s priority", (int)t->priority, names[t->priority]);
        v[0] = qp_arena_strdup(r->arena, buf);
        break;
    }
    case K_DUE:
        v[0] = date_group(r, t, QP_TASK_DUE, "due");
        break;
    case K_SCHEDULED:
        v[0] = date_group(r, t, QP_TASK_SCHEDULED, "scheduled");
        break;
    case K_START:
        v[0] = date_group(r, t, QP_TASK_START, "start");
        break;
    case K_CREATED:
        v[0] = date_group(r, t, QP_TASK_CREATED, "created");
        break;
    case K_DONE:
        v[0] = date_group(r, t, QP_TASK_DONE, "done");
        break;
    case K_CANCELLED:
        v[0] = date_group(r, t, QP_TASK_CANCELLED, "cancelled");
        break;
    case K_HAPPENS:
        v[0] = date_group(r, t, TQ_HAPPENS, "happens");
        break;
    case K_PATH: {
        const char *md = strstr(path, ".md");
        char *p = qp_arena_strdup(r->arena, path);
        if (p != NULL && md != NULL)
            memmove(p + (md - path), p + (md - path) + 3, strlen(md + 3) + 1);
        v[0] = escape_md(r, p ? p : path);
        break;
    }
    case K_FOLDER:
        v[0] = escape_md(r, folder_of(r, path));
        break;
    case K_ROOT:
        v[0] = escape_md(r, root_of(r, path));
        break;
    case K_FILENAME:
    case K_BACKLINK: {
        const char *fn = filename_of(path);
        if (!ends_md(fn)) {
            v[0] = "Unknown Location";
            break;
        }
        size_t fl = strlen(fn) - 3;
        if (key == K_FILENAME || t->heading == NULL || t->heading[0] == '\0') {
            size_t need = fl + 5;
            char *s = qp_arena_alloc(r->arena, need);
            if (s != NULL)
                snprintf(s, need, "[[%.*s]]", (int)fl, fn);
            v[0] = s ? s : "";
        } else {
            size_t need = 2 * fl + 2 * strlen(t->heading) + 16;
            char *s = qp_arena_alloc(r->arena, need);
            if (s != NULL)
                snprintf(s, need, "[[%.*s#%s|%.*s > %s]]", (int)fl, fn, t->heading, (int)fl, fn,
                         t->heading);
            v[0] = s ? s : "";
        }
        break;
    }
    case K_HEADING:
        v[0] = t->heading && t->heading[0] ? t->heading : "(No heading)";
        break;
    case K_TAGS:
    case K_TAG:
        if (t->n_tags == 0) {
            v[0] = "(No tags)";
        } else {
            for (size_t k = 0; k < t->n_tags; k++)
                v[k] = t->tags[k];
            *n = t->n_tags;
        }
        break;
    case K_RECURRING:
        v[0] = t->recurrence ? "Recurring" : "Not Recurring";
        break;
    case K_RECURRENCE:
        v[0] = t->recurrence ? t->recurrence : "None";
        break;
    case K_URGENCY:
        snprintf(buf, sizeof buf, "%.2f", r->urgency[i]);
        v[0] = qp_arena_strdup(r->arena, buf);
        break;
    case K_ID:
        v[0] = t->id ? t->id : "";
        break;
    default:
        v[0] = "";
        break;
    }
    for (size_t k = 0; k < *n; k++)
        if (v[k] == NULL)
            r->failed = true;
    return v;
}

typedef struct entry {
    const char **names; /* one per level */
    size_t task;
    size_t seq; /* creation order, for stability */
} entry;

typedef struct gsort {
    run *r;
} gsort;

static int cmp_group_name(run *r, const tq_order *g, const char *a, const char *b)
{
    int c;
    if (g->key == K_URGENCY) {
        double x = atof(a), y = atof(b);
        c = (x < y) - (x > y);
    } else {
        c = collate(r, a, b);
    }
    return g->reverse ? -c : c;
}

static int cmp_entries(run *r, const entry *a, const entry *b)
{
    const qp_taskquery *q = r->q;
    for (size_t l = 0; l < q->n_groupers; l++) {
        if (a->names[l] == b->names[l])
            continue;
        int c = cmp_group_name(r, &q->groupers[l], a->names[l], b->names[l]);
        if (c != 0)
            return c;
        /* equal under collation but different bytes: keep them apart */
        c = strcmp(a->names[l], b->names[l]);
        if (c != 0)
            return c;
    }
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static void sort_entries(run *r, entry *v, entry *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_entries(r, v, tmp, h);
    sort_entries(r, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_entries(r, &v[j], &v[i]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static bool same_group(const qp_taskquery *q, const entry *a, const entry *b)
{
    for (size_t l = 0; l < q->n_groupers; l++)
        if (a->names[l] != b->names[l] && strcmp(a->names[l], b->names[l]) != 0)
            return false;
    return true;
}

/* ---- the run -------------------------------------------------------------- */

static void run_close(run *r)
{
    if (r->re != NULL)
        for (int i = 0; i < r->q->n_regex; i++)
            uregex_close(r->re[i]);
    free(r->re);
    free(r->urgency);
    free((void *)r->clean_desc);
    free(r->random);
    qp__coll_close(&r->coll);
}

qp_rc qp_taskquery_run(qp_taskquery_result **out, const qp_taskquery *q, const qp_task *tasks,
                       size_t n, qp_error *err)
{
    qp_rc rc = QP_OK;
    qp_taskquery_result *res = NULL;
    run r;
    size_t *idx = NULL, *tmp = NULL, m = 0;
    entry *ent = NULL, *etmp = NULL;

    *out = NULL;
    memset(&r, 0, sizeof r);
    r.q = q;
    r.tasks = tasks;
    r.n = n;

    res = calloc(1, sizeof *res);
    if (res == NULL || (res->arena = qp_arena_new()) == NULL)
        goto oom;
    r.arena = res->arena;

    if (q->n_regex > 0) {
        r.re = calloc((size_t)q->n_regex, sizeof *r.re);
        if (r.re == NULL)
            goto oom;
        for (size_t i = 0; i < q->n_filters; i++)
            if (!open_regexes(&r, q->filters[i]))
                goto oom;
    }
    if (q->uses_blocking && !build_blocking(&r))
        goto oom;
    if (q->n_path_cache > 0) {
        r.cache_path = qp_arena_alloc(r.arena, (size_t)q->n_path_cache * sizeof(char *));
        r.cache_val = qp_arena_alloc(r.arena, (size_t)q->n_path_cache);
        if (r.cache_path == NULL || r.cache_val == NULL)
            goto oom;
    }

    /* 1. filter */
    idx = malloc((n ? n : 1) * sizeof *idx);
    if (idx == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        bool keep = true;
        for (size_t k = 0; k < q->n_filters && keep; k++)
            keep = test(&r, q->filters[k], &tasks[i]);
        if (keep)
            idx[m++] = i;
    }
    res->total = m;

    /* 2. sort */
    if (!qp__coll_open(&r.coll))
        goto oom;
    /* indexed by task, but only the m filtered tasks are written: malloc
     * (not a zeroed arena block) so untouched pages cost nothing */
    r.urgency = malloc((n ? n : 1) * sizeof(double));
    if (r.urgency == NULL)
        goto oom;
    for (size_t k = 0; k < m; k++)
        r.urgency[idx[k]] = qp_task_urgency(&tasks[idx[k]], q->today);
    for (size_t s = 0; s < q->n_sorters; s++) {
        if (q->sorters[s].key == K_DESCRIPTION && r.clean_desc == NULL) {
            r.clean_desc = malloc((n ? n : 1) * sizeof(char *));
            if (r.clean_desc == NULL)
                goto oom;
            for (size_t k = 0; k < m; k++)
                r.clean_desc[idx[k]] = clean_description(&r, &tasks[idx[k]]);
        }
        if (q->sorters[s].key == K_RANDOM && r.random == NULL) {
            r.random = malloc((n ? n : 1) * sizeof(int32_t));
            if (r.random == NULL)
                goto oom;
            for (size_t k = 0; k < m; k++)
                r.random[idx[k]] = random_key(&tasks[idx[k]], q->today);
        }
    }
    tmp = malloc((m ? m : 1) * sizeof *tmp);
    if (tmp == NULL)
        goto oom;
    merge_sort(&r, idx, tmp, m);

    /* 3. limit */
    if (q->layout.limit < m)
        m = q->layout.limit;

    /* 4. group */
    size_t nl = q->n_groupers, ne = 0, cap = m + 1;
    ent = malloc(cap * sizeof *ent);
    if (ent == NULL)
        goto oom;
    for (size_t k = 0; k < m; k++) {
        const char **lvl[32];
        size_t cnt[32], total = 1;
        for (size_t l = 0; l < nl && l < 32; l++) {
            lvl[l] = group_names(&r, q->groupers[l].key, idx[k], &cnt[l]);
            if (r.failed)
                goto oom;
            total *= cnt[l];
        }
        for (size_t c = 0; c < total; c++) {
            if (ne == cap) {
                cap *= 2;
                entry *g = realloc(ent, cap * sizeof *ent);
                if (g == NULL)
                    goto oom;
                ent = g;
            }
            const char **names = qp_arena_alloc(r.arena, (nl ? nl : 1) * sizeof *names);
            if (names == NULL)
                goto oom;
            size_t rem = c;
            for (size_t l = nl; l-- > 0;) {
                names[l] = lvl[l][rem % cnt[l]];
                rem /= cnt[l];
            }
            ent[ne] = (entry){names, idx[k], ne}; /* ne is also the entry's order */
            ne++;
        }
    }
    if (nl > 0) {
        etmp = malloc((ne ? ne : 1) * sizeof *etmp);
        if (etmp == NULL)
            goto oom;
        sort_entries(&r, ent, etmp, ne);
    }

    /* 5. leaf groups and the per-group limit */
    {
        size_t ng = 0;
        for (size_t k = 0; k < ne; k++)
            if (k == 0 || !same_group(q, &ent[k - 1], &ent[k]))
                ng++;
        res->groups = qp_arena_alloc(r.arena, (ng ? ng : 1) * sizeof *res->groups);
        size_t *all = qp_arena_alloc(r.arena, (ne ? ne : 1) * sizeof *all);
        bool *seen = calloc(n ? n : 1, 1);
        if (res->groups == NULL || all == NULL || seen == NULL) {
            free(seen);
            goto oom;
        }
        size_t gl = nl > 0 ? q->layout.group_limit : SIZE_MAX, used = 0;
        for (size_t k = 0; k < ne; k++) {
            if (k == 0 || !same_group(q, &ent[k - 1], &ent[k])) {
                qp_taskquery_group *g = &res->groups[res->n_groups++];
                g->names = ent[k].names;
                g->n_names = nl;
                g->tasks = all + used;
                g->n_tasks = 0;
            }
            qp_taskquery_group *g = &res->groups[res->n_groups - 1];
            if (g->n_tasks >= gl)
                continue;
            all[used++] = ent[k].task;
            g->n_tasks++;
            if (!seen[ent[k].task]) {
                seen[ent[k].task] = true;
                res->shown++;
            }
        }
        free(seen);
        if (ne == 0 && nl == 0) {
            /* an ungrouped query with no result still has its one (empty) group */
            res->groups[0] = (qp_taskquery_group){NULL, 0, all, 0};
            res->n_groups = 1;
        }
    }
    *out = res;
    res = NULL;
    goto cleanup;

oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    run_close(&r);
    free(idx);
    free(tmp);
    free(ent);
    free(etmp);
    qp_taskquery_result_free(res);
    return rc;
}

void qp_taskquery_result_free(qp_taskquery_result *r)
{
    if (r == NULL)
        return;
    qp_arena_free(r->arena);
    free(r);
}

qp_rc qp_tasks_eval(qp_taskquery_result **out, const char *query, const char *const *lines,
                    const char *const *paths, const char *const *headings, size_t n,
                    const qp_taskquery_options *opts, qp_error *err)
{
    qp_rc rc;
    qp_taskquery *q = NULL;
    qp_arena *a = NULL;
    qp_task *tasks = NULL;
    size_t *map = NULL, nt = 0;
    qp_taskquery_result *res = NULL;

    *out = NULL;
    if ((rc = qp_taskquery_compile(&q, query, opts, err)) != QP_OK)
        goto cleanup;
    a = qp_arena_new();
    tasks = calloc(n ? n : 1, sizeof *tasks);
    map = calloc(n ? n : 1, sizeof *map);
    if (a == NULL || tasks == NULL || map == NULL) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        bool is_task;
        const char *line = lines[i] ? lines[i] : "";
        rc =
            qp_task_parse_line(&tasks[nt], &is_task, line, strlen(line), paths ? paths[i] : "",
                               headings ? headings[i] : NULL, opts ? opts->settings : NULL, a, err);
        if (rc != QP_OK)
            goto cleanup;
        if (is_task) {
            tasks[nt].line = (int)i;
            map[nt++] = i;
        }
    }
    if ((rc = qp_taskquery_run(&res, q, tasks, nt, err)) != QP_OK)
        goto cleanup;
    /* indices into the parsed array become input indices, and names that
     * borrow from the tasks (tags, headings) are copied: the tasks go away */
    for (size_t g = 0; g < res->n_groups; g++) {
        for (size_t l = 0; l < res->groups[g].n_names; l++) {
            char *copy = qp_arena_strdup(res->arena, res->groups[g].names[l]);
            if (copy == NULL) {
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                goto cleanup;
            }
            res->groups[g].names[l] = copy;
        }
        size_t *v = (size_t *)(uintptr_t)res->groups[g].tasks;
        for (size_t k = 0; k < res->groups[g].n_tasks; k++)
            v[k] = map[v[k]];
    }
    *out = res;
    res = NULL;

cleanup:
    qp_taskquery_result_free(res);
    qp_taskquery_free(q);
    qp_arena_free(a);
    free(tasks);
    free(map);
    return rc;
}
