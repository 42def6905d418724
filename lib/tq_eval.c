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
    qp_arena *tmp; /* scratch for this run only (sort keys) */
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

/* The rest of a candidate match: hay[1..nlen) against the folded needle,
 * ASCII only (a non-ASCII byte in the hay ends the candidate). */
static bool ascii_rest_matches(const char *hay, const char *needle, size_t nlen)
{
    for (size_t k = 1; k < nlen; k++) {
        char c = hay[k];
        if ((unsigned char)c >= 0x80)
            return false;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != needle[k])
            return false;
    }
    return true;
}

/* Per byte of w, zero where (byte | fold) == c, using the same fold byte
 * for every lane (0x20 folds an ASCII letter to lower case). */
static uint64_t lanes_ne(uint64_t w, uint64_t fold, unsigned char c)
{
    return (w | fold) ^ (0x0101010101010101u * c);
}

static uint64_t has_zero_lane(uint64_t x)
{
    return (x - 0x0101010101010101u) & ~x & 0x8080808080808080u;
}

bool qp__text_includes_ci(const char *hay, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return true;
    /* ASCII haystacks (nearly all paths) are searched in place, eight
     * positions at a time: a block is looked at byte by byte only when it
     * holds a non-ASCII byte or a place where the needle's first two
     * characters may start. Anything non-ASCII met before a match is
     * folded the way the needle was. Path filters run this over every
     * file of the vault, so it is most of a `path includes` query. */
    const uint64_t highs = 0x8080808080808080u;
    const unsigned char c0 = (unsigned char)needle[0];
    const unsigned char c1 = nlen > 1 ? (unsigned char)needle[1] : 0;
    const bool l0 = c0 >= 'a' && c0 <= 'z', l1 = c1 >= 'a' && c1 <= 'z';
    const uint64_t f0 = l0 ? 0x2020202020202020u : 0, f1 = l1 ? 0x2020202020202020u : 0;
    const size_t hl = strlen(hay);
    size_t i = 0;
    for (;;) {
        /* w holds positions i..i+7, v the bytes one further on */
        while (nlen > 1 && i + 9 <= hl) {
            uint64_t w, v;
            memcpy(&w, hay + i, 8);
            memcpy(&v, hay + i + 1, 8);
            if (((w | v) & highs) != 0 ||
                has_zero_lane(lanes_ne(w, f0, c0) | lanes_ne(v, f1, c1)) != 0)
                break;
            i += 8;
        }
        while (nlen == 1 && i + 8 <= hl) {
            uint64_t w;
            memcpy(&w, hay + i, 8);
            if ((w & highs) != 0 || has_zero_lane(lanes_ne(w, f0, c0)) != 0)
                break;
            i += 8;
        }
        if (i >= hl)
            return false;
        size_t end = i + 8 < hl ? i + 8 : hl;
        for (; i < end; i++) {
            unsigned char c = (unsigned char)hay[i];
            if (c >= 0x80)
                goto slow;
            if ((l0 ? (c | 0x20) : c) != c0)
                continue;
            if (hl - i >= nlen && ascii_rest_matches(hay + i, needle, nlen))
                return true;
        }
    }
slow:;
    size_t fl;
    char *f = qp_text_fold(hay, hl, &fl);
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

static bool is_dig(char ch)
{
    return ch >= '0' && ch <= '9';
}

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
    /* fast_key() writes one mark for a whole digit run; that keeps the
     * order only while no other character ranks among the digits */
    uint8_t lo = c->prim['0'], hi = c->prim['0'];
    for (int d = '1'; d <= '9'; d++) {
        lo = c->prim[d] < lo ? c->prim[d] : lo;
        hi = c->prim[d] > hi ? c->prim[d] : hi;
    }
    c->digit_mark = lo;
    c->keys_ok = true;
    for (int ch = 0x20; ch < 0x7F; ch++)
        if (!is_dig((char)ch) && c->prim[ch] >= lo && c->prim[ch] <= hi)
            c->keys_ok = false;
    return true;
}

void qp__coll_close(qp__coll *c)
{
    if (c->coll != NULL)
        ucol_close(c->coll);
    c->coll = NULL;
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

static int32_t happens(const qp_task *t)
{
    static const int fields[] = {QP_TASK_START, QP_TASK_SCHEDULED, QP_TASK_DUE};
    int32_t best = 0;
    for (int i = 0; i < 3; i++)
        if (date_ok(t, fields[i]) && (best == 0 || t->dates[fields[i]] < best))
            best = t->dates[fields[i]];
    return best;
}

/* ---- ordering by ranks ---------------------------------------------------
 *
 * The plugin orders tasks by the user's keys, then status.type, urgency,
 * due, priority and path, and that tail ends in a collation of paths.
 * Comparing two tasks key by key costs two scattered task reads and, on
 * the frequent ties, an ICU comparison, over n log n comparisons. Instead
 * each key becomes, once per run, a dense rank per task (equal ranks
 * exactly when the key compares equal); text keys are ranked by sorting
 * their distinct values once. The ranks are packed into as few 64-bit
 * words as they fit and a stable LSD radix sort orders the tasks, so ties
 * keep the input order. Groups are ordered the same way. */

/* Ranking texts: by the plugin's text compare (sort keys, where equal
 * texts tie), by it and then by bytes (group names, which are kept apart
 * when their bytes differ), or by the number they start with, descending
 * (urgency group names), then bytes. */
enum { RANK_TEXT, RANK_GROUP, RANK_URGENCY };

typedef struct utext {
    const char *s;
    const char *fk; /* fast_key(), or NULL */
    uint64_t hash;
} utext;


/* The primary-level order of printable-ASCII text as a string strcmp()
 * orders the way fast_primary() does: each character becomes its primary
 * rank, a digit run (leading zeros dropped) becomes the digits' mark, its
 * length and its digits. NULL for text with other characters: it is
 * compared by ICU. */
static const char *fast_key(const qp__coll *c, qp_arena *a, const char *s)
{
    if (!c->keys_ok)
        return NULL;
    size_t len = strlen(s);
    char *k = qp_arena_alloc(a, 3 * len + 1), *w = k;
    if (k == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        unsigned char x = (unsigned char)s[i];
        if (x >= 0x7F || c->prim[x] == 0)
            return NULL;
        if (!is_dig((char)x)) {
            *w++ = (char)c->prim[x];
            i++;
            continue;
        }
        while (s[i] == '0' && is_dig(s[i + 1]))
            i++;
        size_t e = i;
        while (is_dig(s[e]))
            e++;
        if (e - i > 250)
            return NULL;
        *w++ = (char)c->digit_mark;
        *w++ = (char)(e - i);
        memcpy(w, s + i, e - i);
        w += e - i;
        i = e;
    }
    *w = '\0';
    return k;
}

static int cmp_utext(run *r, int mode, bool reverse, const utext *a, const utext *b)
{
    int c;
    if (mode == RANK_URGENCY) {
        double x = atof(a->s), y = atof(b->s);
        c = (x < y) - (x > y);
    } else if (a->fk != NULL && b->fk != NULL && (c = strcmp(a->fk, b->fk)) != 0) {
        c = c < 0 ? -1 : 1;
    } else {
        c = collate(r, a->s, b->s);
    }
    if (reverse)
        c = -c;
    if (c == 0 && mode != RANK_TEXT)
        c = strcmp(a->s, b->s);
    return c;
}

/* Merge sort of ids into u[] (distinct texts, so stability does not matter). */
static void sort_utext(run *r, int mode, bool reverse, const utext *u, uint32_t *v, uint32_t *tmp,
                       size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_utext(r, mode, reverse, u, v, tmp, h);
    sort_utext(r, mode, reverse, u, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_utext(r, mode, reverse, &u[v[j]], &u[v[i]]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static size_t table_cap(size_t n)
{
    size_t cap = 64;
    while (cap < 2 * n + 2)
        cap <<= 1;
    return cap;
}

/* Dense ranks of s[0..m) (see RANK_*; `reverse` flips the text order
 * before the byte tie-break); *max receives the largest rank. */
static bool rank_texts(run *r, const char *const *s, size_t m, int mode, bool reverse,
                       uint32_t *rank, uint32_t *max)
{
    bool ok = false;
    size_t cap = table_cap(m < 4096 ? m : 4096), nu = 0;
    uint32_t *slot = calloc(cap, sizeof *slot); /* unique id + 1; 0 = empty */
    utext *u = malloc((m ? m : 1) * sizeof *u);
    uint32_t *order = NULL, *tmp = NULL, *urank = NULL;
    *max = 0;
    if (slot == NULL || u == NULL)
        goto cleanup;
    for (size_t k = 0; k < m; k++) {
        if (k > 0 && s[k] == s[k - 1]) { /* tasks of one file share their path */
            rank[k] = rank[k - 1];
            continue;
        }
        uint64_t h = hash_text(s[k]);
        size_t i = (size_t)h & (cap - 1);
        for (; slot[i] != 0; i = (i + 1) & (cap - 1)) {
            const utext *e = &u[slot[i] - 1];
            if (e->s == s[k] || (e->hash == h && strcmp(e->s, s[k]) == 0))
                break;
        }
        if (slot[i] == 0) {
            u[nu] = (utext){s[k], NULL, h};
            slot[i] = (uint32_t)++nu;
            if (2 * nu + 2 > cap) { /* grow and re-place the ids */
                size_t ncap = cap * 4;
                uint32_t *ns = calloc(ncap, sizeof *ns);
                if (ns == NULL)
                    goto cleanup;
                for (size_t id = 0; id < nu; id++) {
                    size_t j = (size_t)u[id].hash & (ncap - 1);
                    while (ns[j] != 0)
                        j = (j + 1) & (ncap - 1);
                    ns[j] = (uint32_t)id + 1;
                }
                free(slot);
                slot = ns;
                cap = ncap;
            }
            rank[k] = (uint32_t)nu - 1;
        } else {
            rank[k] = slot[i] - 1;
        }
    }
    order = malloc((nu ? nu : 1) * sizeof *order);
    tmp = malloc((nu ? nu : 1) * sizeof *tmp);
    urank = malloc((nu ? nu : 1) * sizeof *urank);
    if (order == NULL || tmp == NULL || urank == NULL)
        goto cleanup;
    for (size_t id = 0; id < nu; id++) {
        order[id] = (uint32_t)id;
        if (mode != RANK_URGENCY)
            u[id].fk = fast_key(&r->coll, r->tmp, u[id].s);
    }
    sort_utext(r, mode, reverse, u, order, tmp, nu);
    uint32_t cur = 0;
    for (size_t p = 0; p < nu; p++) {
        if (p > 0 && cmp_utext(r, mode, reverse, &u[order[p - 1]], &u[order[p]]) != 0)
            cur++;
        urank[order[p]] = cur;
    }
    for (size_t k = 0; k < m; k++)
        rank[k] = urank[rank[k]];
    *max = cur;
    ok = true;
cleanup:
    free(slot);
    free(u);
    free(order);
    free(tmp);
    free(urank);
    return ok;
}

typedef struct ival {
    int64_t v;
    uint32_t id;
} ival;

static int cmp_ival(const void *a, const void *b)
{
    int64_t x = ((const ival *)a)->v, y = ((const ival *)b)->v;
    return (x > y) - (x < y);
}

/* Dense ranks of v[0..m) in ascending order; *max receives the largest. */
static bool rank_ints(const int64_t *v, size_t m, uint32_t *rank, uint32_t *max)
{
    bool ok = false;
    size_t cap = table_cap(m < 4096 ? m : 4096), nu = 0;
    uint32_t *slot = calloc(cap, sizeof *slot); /* unique id + 1; 0 = empty */
    int64_t *u = malloc((m ? m : 1) * sizeof *u);
    ival *pairs = NULL;
    uint32_t *urank = NULL;
    *max = 0;
    if (slot == NULL || u == NULL)
        goto cleanup;
    for (size_t k = 0; k < m; k++) {
        uint64_t h = (uint64_t)v[k] * 0x9E3779B97F4A7C15u;
        size_t i = (size_t)(h >> 32) & (cap - 1);
        while (slot[i] != 0 && u[slot[i] - 1] != v[k])
            i = (i + 1) & (cap - 1);
        if (slot[i] == 0) {
            u[nu] = v[k];
            slot[i] = (uint32_t)++nu;
            if (2 * nu + 2 > cap) {
                size_t ncap = cap * 4;
                uint32_t *ns = calloc(ncap, sizeof *ns);
                if (ns == NULL)
                    goto cleanup;
                for (size_t id = 0; id < nu; id++) {
                    size_t j = (size_t)(((uint64_t)u[id] * 0x9E3779B97F4A7C15u) >> 32) & (ncap - 1);
                    while (ns[j] != 0)
                        j = (j + 1) & (ncap - 1);
                    ns[j] = (uint32_t)id + 1;
                }
                free(slot);
                slot = ns;
                cap = ncap;
            }
            rank[k] = (uint32_t)nu - 1;
        } else {
            rank[k] = slot[i] - 1;
        }
    }
    pairs = malloc((nu ? nu : 1) * sizeof *pairs);
    urank = malloc((nu ? nu : 1) * sizeof *urank);
    if (pairs == NULL || urank == NULL)
        goto cleanup;
    for (size_t id = 0; id < nu; id++)
        pairs[id] = (ival){u[id], (uint32_t)id};
    qsort(pairs, nu, sizeof *pairs, cmp_ival); /* distinct values: no ties */
    for (size_t p = 0; p < nu; p++)
        urank[pairs[p].id] = (uint32_t)p;
    for (size_t k = 0; k < m; k++)
        rank[k] = urank[rank[k]];
    *max = nu > 0 ? (uint32_t)nu - 1 : 0;
    ok = true;
cleanup:
    free(slot);
    free(u);
    free(pairs);
    free(urank);
    return ok;
}

/* An order-preserving integer for a double (-0.0 and 0.0 alike). */
static int64_t double_key(double d)
{
    int64_t i;
    if (d == 0)
        d = 0;
    memcpy(&i, &d, sizeof i);
    return i < 0 ? i ^ INT64_MAX : i;
}

/* Dates sort invalid first, then valid ones by day, then missing. */
static int64_t date_key(const qp_task *t, int field)
{
    int32_t d = t->dates[field];
    if (d == 0)
        return INT64_MAX;
    return (t->invalid_dates & (1u << field)) ? 0 : d;
}

/* The text a text sort key compares, for task t. */
static const char *key_text(run *r, tq_key key, size_t i)
{
    const qp_task *t = &r->tasks[i];
    switch (key) {
    case K_STATUS_NAME:
        return t->status_name;
    case K_PATH:
        return t->path ? t->path : "";
    case K_FILENAME: {
        const char *fn = filename_of(t->path ? t->path : "");
        return ends_md(fn) ? fn : "";
    }
    case K_HEADING:
        return t->heading ? t->heading : "";
    case K_DESCRIPTION:
        return r->clean_desc[i];
    case K_ID:
        return t->id ? t->id : "";
    default:
        return "";
    }
}

/* rank[k] for the task idx[k] under one sort key, ascending; *max the
 * largest rank. */
static bool key_ranks(run *r, const tq_order *o, const size_t *idx, size_t m, uint32_t *rank,
                      uint32_t *max)
{
    bool ok = false;
    int64_t *v = NULL;
    const char **s = NULL;
    switch (o->key) {
    case K_STATUS:
    case K_STATUS_TYPE:
    case K_PRIORITY:
    case K_RECURRING:
        *max = o->key == K_STATUS || o->key == K_RECURRING ? 1
               : o->key == K_PRIORITY                      ? (uint32_t)QP_PRIORITY_LOWEST
                                                           : (uint32_t)QP_STATUS_EMPTY;
        for (size_t k = 0; k < m; k++) {
            const qp_task *t = &r->tasks[idx[k]];
            rank[k] = o->key == K_STATUS      ? (uint32_t)qp_task_is_done(t)
                      : o->key == K_RECURRING ? (uint32_t)(t->recurrence == NULL)
                      : o->key == K_PRIORITY  ? (uint32_t)t->priority
                                              : (uint32_t)t->status_type;
        }
        return true;
    case K_URGENCY:
    case K_DUE:
    case K_SCHEDULED:
    case K_START:
    case K_CREATED:
    case K_DONE:
    case K_CANCELLED:
    case K_HAPPENS:
    case K_RANDOM:
        v = malloc((m ? m : 1) * sizeof *v);
        if (v == NULL)
            return false;
        for (size_t k = 0; k < m; k++) {
            size_t i = idx[k];
            const qp_task *t = &r->tasks[i];
            int32_t h;
            switch (o->key) {
            case K_URGENCY:
                v[k] = double_key(-r->urgency[i]); /* higher urgency first */
                break;
            case K_HAPPENS:
                h = happens(t);
                v[k] = h ? h : INT64_MAX;
                break;
            case K_RANDOM:
                v[k] = r->random[i];
                break;
            default:
                v[k] = date_key(t, QP_TASK_DUE + (int)(o->key - K_DUE));
                break;
            }
        }
        ok = rank_ints(v, m, rank, max);
        free(v);
        return ok;
    case K_TAG: {
        /* texts of the Nth tag, then tasks with fewer tags, then none */
        size_t n = (size_t)(o->tag_n > 0 ? o->tag_n : 1), nt = 0;
        s = malloc((m ? m : 1) * sizeof *s);
        uint32_t *tr = malloc((m ? m : 1) * sizeof *tr);
        if (s == NULL || tr == NULL) {
            free(tr);
            break;
        }
        for (size_t k = 0; k < m; k++) {
            const qp_task *t = &r->tasks[idx[k]];
            if (t->n_tags >= n)
                s[nt++] = t->tags[n - 1];
        }
        uint32_t tmax = 0;
        ok = rank_texts(r, s, nt, RANK_TEXT, false, tr, &tmax);
        if (ok) {
            nt = 0;
            for (size_t k = 0; k < m; k++) {
                size_t c = r->tasks[idx[k]].n_tags;
                rank[k] = c >= n ? tr[nt++] : c > 0 ? tmax + 1 : tmax + 2;
            }
            *max = tmax + 2;
        }
        free(tr);
        break;
    }
    case K_STATUS_NAME:
    case K_PATH:
    case K_FILENAME:
    case K_HEADING:
    case K_DESCRIPTION:
    case K_ID:
        s = malloc((m ? m : 1) * sizeof *s);
        if (s == NULL)
            break;
        for (size_t k = 0; k < m; k++)
            s[k] = key_text(r, o->key, idx[k]);
        ok = rank_texts(r, s, m, RANK_TEXT, false, rank, max);
        break;
    default: /* keys that do not sort (rejected when compiling) */
        memset(rank, 0, (m ? m : 1) * sizeof *rank);
        *max = 0;
        return true;
    }
    free(s);
    return ok;
}

typedef struct rkey {
    uint64_t k;
    uint32_t id;
} rkey;

/* Stable order of 0..m) by the rank columns col[0..nc) (the first most
 * significant), each with max[c]: packs the columns into 64-bit words and
 * radix-sorts them, the least significant word first. The order is
 * written to perm. */
static bool order_by_ranks(uint32_t *const *col, const uint32_t *max, size_t nc, size_t m,
                           uint32_t *perm)
{
    bool ok = false;
    size_t nw = 0, w = 0, used = 0;
    unsigned *bits = malloc((nc ? nc : 1) * sizeof *bits);
    size_t *word = malloc((nc ? nc : 1) * sizeof *word);
    unsigned *wbits = malloc((nc ? nc : 1) * sizeof *wbits);
    uint64_t *key = NULL;
    rkey *a = NULL, *b = NULL;
    for (size_t k = 0; k < m; k++)
        perm[k] = (uint32_t)k;
    if (bits == NULL || word == NULL || wbits == NULL)
        goto cleanup;
    /* columns go into words in order; a column never spans two words */
    for (size_t c = 0; c < nc; c++) {
        unsigned nb = 0;
        while (nb < 32 && (max[c] >> nb) != 0)
            nb++;
        bits[c] = nb;
        if (nb == 0)
            continue;
        if (used + nb > 64) {
            wbits[w++] = (unsigned)used;
            used = 0;
        }
        word[c] = w;
        used += nb;
    }
    if (used > 0)
        wbits[w++] = (unsigned)used;
    nw = w;
    if (nw == 0 || m < 2) {
        ok = true;
        goto cleanup;
    }
    key = malloc(m * sizeof *key);
    a = malloc(m * sizeof *a);
    b = malloc(m * sizeof *b);
    if (key == NULL || a == NULL || b == NULL)
        goto cleanup;
    for (size_t ww = nw; ww-- > 0;) {
        /* this word's value per task, first column in the high bits */
        memset(key, 0, m * sizeof *key);
        for (size_t c = 0; c < nc; c++) {
            if (bits[c] == 0 || word[c] != ww)
                continue;
            for (size_t k = 0; k < m; k++)
                key[k] = (key[k] << bits[c]) | col[c][k];
        }
        for (size_t k = 0; k < m; k++)
            a[k] = (rkey){key[perm[k]], perm[k]};
        for (unsigned sh = 0; sh < wbits[ww]; sh += 8) {
            size_t cnt[256] = {0};
            for (size_t k = 0; k < m; k++)
                cnt[(a[k].k >> sh) & 0xFF]++;
            if (cnt[(a[0].k >> sh) & 0xFF] == m)
                continue; /* one digit value: the pass changes nothing */
            size_t pos = 0;
            for (size_t d = 0; d < 256; d++) {
                size_t c = cnt[d];
                cnt[d] = pos;
                pos += c;
            }
            for (size_t k = 0; k < m; k++)
                b[cnt[(a[k].k >> sh) & 0xFF]++] = a[k];
            rkey *t = a;
            a = b;
            b = t;
        }
        for (size_t k = 0; k < m; k++)
            perm[k] = a[k].id;
    }
    ok = true;
cleanup:
    free(bits);
    free(word);
    free(wbits);
    free(key);
    free(a);
    free(b);
    return ok;
}

static const tq_order default_tail[] = {
    {K_STATUS_TYPE, false, 1, NULL}, {K_URGENCY, false, 1, NULL}, {K_DUE, false, 1, NULL},
    {K_PRIORITY, false, 1, NULL},    {K_PATH, false, 1, NULL},
};

/* Sorts idx[0..m) stably by the user's keys, then the default tail. */
static bool sort_tasks(run *r, size_t *idx, size_t m)
{
    const qp_taskquery *q = r->q;
    size_t nt = sizeof default_tail / sizeof default_tail[0], nc = q->n_sorters + nt;
    bool ok = false;
    uint32_t **col = calloc(nc, sizeof *col), *max = calloc(nc, sizeof *max);
    uint32_t *perm = malloc((m ? m : 1) * sizeof *perm);
    size_t *sorted = malloc((m ? m : 1) * sizeof *sorted);
    if (col == NULL || max == NULL || perm == NULL || sorted == NULL)
        goto cleanup;
    for (size_t c = 0; c < nc; c++) {
        const tq_order *o = c < q->n_sorters ? &q->sorters[c] : &default_tail[c - q->n_sorters];
        col[c] = malloc((m ? m : 1) * sizeof *col[c]);
        if (col[c] == NULL || !key_ranks(r, o, idx, m, col[c], &max[c]))
            goto cleanup;
        if (o->reverse)
            for (size_t k = 0; k < m; k++)
                col[c][k] = max[c] - col[c][k];
    }
    if (!order_by_ranks(col, max, nc, m, perm))
        goto cleanup;
    for (size_t k = 0; k < m; k++)
        sorted[k] = idx[perm[k]];
    memcpy(idx, sorted, m * sizeof *idx);
    ok = true;
cleanup:
    if (col != NULL)
        for (size_t c = 0; c < nc; c++)
            free(col[c]);
    free(col);
    free(max);
    free(perm);
    free(sorted);
    return ok;
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
} entry;

/* Orders the group entries (built in task order) by their names level by
 * level, stably; newgrp[k] says whether sorted entry k starts a leaf
 * group. */
static bool sort_entries(run *r, entry *ent, size_t ne, bool *newgrp)
{
    const qp_taskquery *q = r->q;
    size_t nl = q->n_groupers;
    bool ok = false;
    uint32_t **col = calloc(nl, sizeof *col), *max = calloc(nl, sizeof *max);
    uint32_t *perm = malloc((ne ? ne : 1) * sizeof *perm);
    const char **s = malloc((ne ? ne : 1) * sizeof *s);
    entry *sorted = malloc((ne ? ne : 1) * sizeof *sorted);
    if (col == NULL || max == NULL || perm == NULL || s == NULL || sorted == NULL)
        goto cleanup;
    for (size_t l = 0; l < nl; l++) {
        const tq_order *g = &q->groupers[l];
        col[l] = malloc((ne ? ne : 1) * sizeof *col[l]);
        if (col[l] == NULL)
            goto cleanup;
        for (size_t k = 0; k < ne; k++)
            s[k] = ent[k].names[l];
        if (!rank_texts(r, s, ne, g->key == K_URGENCY ? RANK_URGENCY : RANK_GROUP, g->reverse,
                        col[l], &max[l]))
            goto cleanup;
    }
    if (!order_by_ranks(col, max, nl, ne, perm))
        goto cleanup;
    for (size_t k = 0; k < ne; k++) {
        sorted[k] = ent[perm[k]];
        newgrp[k] = k == 0;
        for (size_t l = 0; l < nl && !newgrp[k]; l++)
            newgrp[k] = col[l][perm[k]] != col[l][perm[k - 1]];
    }
    memcpy(ent, sorted, ne * sizeof *ent);
    ok = true;
cleanup:
    if (col != NULL)
        for (size_t l = 0; l < nl; l++)
            free(col[l]);
    free(col);
    free(max);
    free(perm);
    free((void *)s);
    free(sorted);
    return ok;
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
    qp_arena_free(r->tmp);
}

qp_rc qp_taskquery_run(qp_taskquery_result **out, const qp_taskquery *q, const qp_task *tasks,
                       size_t n, qp_error *err)
{
    qp_rc rc = QP_OK;
    qp_taskquery_result *res = NULL;
    run r;
    size_t *idx = NULL, m = 0;
    entry *ent = NULL;
    bool *newgrp = NULL;

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
        /* a path filter reads each file's path once: a cache miss per file
         * that the next tasks' loads would wait behind; ask for it early */
        if (q->n_path_cache > 0 && i + 16 < n && tasks[i + 16].path != NULL)
            __builtin_prefetch(tasks[i + 16].path);
        for (size_t k = 0; k < q->n_filters && keep; k++)
            keep = test(&r, q->filters[k], &tasks[i]);
        if (keep)
            idx[m++] = i;
    }
    res->total = m;

    /* 2. sort */
    if (!qp__coll_open(&r.coll) || (r.tmp = qp_arena_new()) == NULL)
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
    if (!sort_tasks(&r, idx, m))
        goto oom;

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
            ent[ne] = (entry){names, idx[k]};
            ne++;
        }
    }
    newgrp = malloc((ne ? ne : 1) * sizeof *newgrp);
    if (newgrp == NULL)
        goto oom;
    if (nl > 0) {
        if (!sort_entries(&r, ent, ne, newgrp))
            goto oom;
    } else {
        for (size_t k = 0; k < ne; k++)
            newgrp[k] = k == 0;
    }

    /* 5. leaf groups and the per-group limit */
    {
        size_t ng = 0;
        for (size_t k = 0; k < ne; k++)
            if (newgrp[k])
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
            if (newgrp[k]) {
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
    free(ent);
    free(newgrp);
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
