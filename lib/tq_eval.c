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
#include <xxhash.h>

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
    /* path-derived text tests repeat for every task of a file: remember the
     * last path seen per filter and its answer */
    const char **cache_path;
    bool *cache_val;
    /* grouping: per level, the name built last and the built names */
    const char **one;
    struct memo *memos;
    /* per level with one name per task (not tags), found in input order
     * (see group_entries): each grouped task's name and its rank among
     * the level's names, by task index; NULL for the other levels */
    const char ***pre;
    uint32_t **prerank;
    uint32_t *premax;
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

bool qp__tq_date_holds(const tq_filter *f, const qp_task *t, int field)
{
    return date_ok(t, field) && date_cmp(f, t->dates[field]);
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

/* Whether task t passes filter f. One piece over 80 lines: a switch with a
 * case of a few lines per filter kind, behind the per-filter path cache;
 * split, each case would be a function of its own for no reader's gain. */
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
                v = qp__tq_date_holds(f, t, fields[i]);
        } else if (t->dates[f->field] == 0) {
            v = f->field == QP_TASK_START; /* no start date: already started */
        } else {
            v = qp__tq_date_holds(f, t, f->field);
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
enum {
    RANK_TEXT,
    RANK_GROUP,
    RANK_URGENCY
};

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
    char buf[1024], *w = buf;
    size_t len = strlen(s);
    if (3 * len + 1 > sizeof buf)
        return NULL; /* long text: ICU compares it */
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
    return qp_arena_strndup(a, buf, (size_t)(w - buf));
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

/* Merge sort of ids into u[] (distinct texts, so stability does not
 * matter); linear on input that is already in order. */
static void sort_utext(run *r, int mode, bool reverse, const utext *u, uint32_t *v, uint32_t *tmp,
                       size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_utext(r, mode, reverse, u, v, tmp, h);
    sort_utext(r, mode, reverse, u, v + h, tmp, n - h);
    /* texts often arrive in order already (paths from an index): then the
     * halves need no merge */
    if (cmp_utext(r, mode, reverse, &u[v[h - 1]], &u[v[h]]) <= 0)
        return;
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
    return XXH3_64bits(s, strlen(s));
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
    utext *u = malloc(cap / 2 * sizeof *u);     /* the table stays at most half full */
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
                utext *nu_ = realloc(u, ncap / 2 * sizeof *u);
                if (nu_ == NULL)
                    goto cleanup;
                u = nu_;
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
        return clean_description(r, t);
    case K_ID:
        return t->id ? t->id : "";
    default:
        return "";
    }
}

/* rank[k] for the task idx[k] under one sort key, ascending; *max the
 * largest rank.
 * One piece: a switch over the families of sort keys (numbers, dates,
 * tags, strings by collation), each filling the same rank array. */
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
                v[k] = double_key(-qp_task_urgency(t, r->q->today)); /* higher first */
                break;
            case K_HAPPENS:
                h = happens(t);
                v[k] = h ? h : INT64_MAX;
                break;
            case K_RANDOM:
                v[k] = random_key(t, r->q->today);
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

/* Rank columns packed into 64-bit words, first column in the high bits of
 * the first word; a column never spans two words. */
typedef struct packer {
    size_t m;
    uint64_t **word;
    unsigned *used; /* bits per word */
    size_t nw, cap;
} packer;

static bool pack_column(packer *p, const uint32_t *col, uint32_t max)
{
    unsigned nb = 0;
    while (nb < 32 && (max >> nb) != 0)
        nb++;
    if (nb == 0)
        return true; /* one value: orders nothing */
    if (p->nw == 0 || p->used[p->nw - 1] + nb > 64) {
        if (p->nw == p->cap) {
            size_t nc = p->cap ? 2 * p->cap : 4;
            uint64_t **w = realloc(p->word, nc * sizeof *w);
            if (w == NULL)
                return false;
            p->word = w;
            unsigned *u = realloc(p->used, nc * sizeof *u);
            if (u == NULL)
                return false;
            p->used = u;
            p->cap = nc;
        }
        p->word[p->nw] = calloc(p->m ? p->m : 1, sizeof **p->word);
        if (p->word[p->nw] == NULL)
            return false;
        p->used[p->nw++] = 0;
    }
    uint64_t *w = p->word[p->nw - 1];
    for (size_t k = 0; k < p->m; k++)
        w[k] = (w[k] << nb) | col[k];
    p->used[p->nw - 1] += nb;
    return true;
}

static void packer_free(packer *p)
{
    for (size_t w = 0; w < p->nw; w++)
        free(p->word[w]);
    free(p->word);
    free(p->used);
}

/* One stable LSD radix pass over bits [sh, sh+8) of the keys a[0..m),
 * into b; false when every key has the same digit (nothing to do). */
#define RADIX_PASS(T, KEY)                             \
    do {                                               \
        size_t cnt[256] = {0};                         \
        for (size_t k = 0; k < m; k++)                 \
            cnt[(KEY(a[k]) >> sh) & 0xFF]++;           \
        if (cnt[(KEY(a[0]) >> sh) & 0xFF] == m)        \
            break;                                     \
        size_t pos = 0;                                \
        for (size_t d = 0; d < 256; d++) {             \
            size_t c = cnt[d];                         \
            cnt[d] = pos;                              \
            pos += c;                                  \
        }                                              \
        for (size_t k = 0; k < m; k++)                 \
            b[cnt[(KEY(a[k]) >> sh) & 0xFF]++] = a[k]; \
        T *t_ = a;                                     \
        a = b;                                         \
        b = t_;                                        \
    } while (0)
#define KEY_SELF(x)  (x)
#define KEY_FIELD(x) ((x).k)

/* Stable order of 0..m) by the packed words: perm[j] is the position
 * that sorts j-th. Frees the words as it goes. */
static bool packer_sort(packer *p, uint32_t *perm)
{
    size_t m = p->m;
    unsigned idbits = 0;
    while (idbits < 32 && (((uint64_t)m - 1) >> idbits) != 0 && m > 1)
        idbits++;
    for (size_t k = 0; k < m; k++)
        perm[k] = (uint32_t)k;
    if (p->nw == 0 || m < 2)
        return true;
    if (p->nw == 1 && p->used[0] + idbits <= 64) {
        /* the usual case: key and position share one word */
        uint64_t *a = p->word[0], *b = malloc(m * sizeof *b);
        if (b == NULL)
            return false;
        for (size_t k = 0; k < m; k++)
            a[k] = (a[k] << idbits) | k;
        for (unsigned sh = idbits; sh < idbits + p->used[0]; sh += 8)
            RADIX_PASS(uint64_t, KEY_SELF);
        uint64_t mask = idbits ? (((uint64_t)1 << idbits) - 1) : 0;
        for (size_t k = 0; k < m; k++)
            perm[k] = (uint32_t)(a[k] & mask);
        p->word[0] = a; /* {a, b} is {the word, the scratch}: keep one, free one */
        free(b);
        return true;
    }
    rkey *a = malloc(m * sizeof *a), *b = malloc(m * sizeof *b);
    bool ok = a != NULL && b != NULL;
    for (size_t w = p->nw; ok && w-- > 0;) {
        for (size_t k = 0; k < m; k++)
            a[k] = (rkey){p->word[w][perm[k]], perm[k]};
        free(p->word[w]);
        p->word[w] = NULL;
        for (unsigned sh = 0; sh < p->used[w]; sh += 8)
            RADIX_PASS(rkey, KEY_FIELD);
        for (size_t k = 0; k < m; k++)
            perm[k] = a[k].id;
    }
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
    packer pk = {.m = m};
    uint32_t *col = malloc((m ? m : 1) * sizeof *col), max = 0;
    uint32_t *perm = NULL;
    size_t *sorted = NULL;
    if (col == NULL)
        goto cleanup;
    for (size_t c = 0; c < nc; c++) {
        const tq_order *o = c < q->n_sorters ? &q->sorters[c] : &default_tail[c - q->n_sorters];
        /* a key met before orders nothing more: the tasks it would tell
         * apart are those equal on it already (`sort by due` and the
         * default tail's due) */
        bool seen = false;
        for (size_t e = 0; e < c && !seen; e++) {
            const tq_order *p = e < q->n_sorters ? &q->sorters[e] : &default_tail[e - q->n_sorters];
            seen = p->key == o->key && (o->key != K_TAG || p->tag_n == o->tag_n);
        }
        if (seen)
            continue;
        if (!key_ranks(r, o, idx, m, col, &max))
            goto cleanup;
        if (o->reverse)
            for (size_t k = 0; k < m; k++)
                col[k] = max - col[k];
        if (!pack_column(&pk, col, max))
            goto cleanup;
    }
    free(col);
    col = NULL;
    perm = malloc((m ? m : 1) * sizeof *perm);
    if (perm == NULL || !packer_sort(&pk, perm))
        goto cleanup;
    sorted = malloc((m ? m : 1) * sizeof *sorted);
    if (sorted == NULL)
        goto cleanup;
    for (size_t k = 0; k < m; k++)
        sorted[k] = idx[perm[k]];
    memcpy(idx, sorted, m * sizeof *idx);
    ok = true;
cleanup:
    packer_free(&pk);
    free(col);
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

/* Group names that have to be built (dates, paths, urgency) are built
 * once per distinct value and run, and then shared: a group by filename
 * over a vault builds one name per file, not one per task. */
typedef struct memo_slot {
    uintptr_t a, b;
    const char *v; /* NULL: empty slot */
} memo_slot;

typedef struct memo {
    memo_slot *s;
    size_t cap, n;
    memo_slot last; /* the key looked up last: sorted tasks often repeat it */
} memo;

static size_t memo_hash(uintptr_t a, uintptr_t b)
{
    uint64_t h = ((uint64_t)a * 0x9E3779B97F4A7C15u) ^ ((uint64_t)b * 0xC2B2AE3D27D4EB4Fu);
    return (size_t)(h ^ (h >> 29));
}

/* The slot for (a, b): holds its name, or is empty for the caller to
 * fill. NULL when out of memory. */
static memo_slot *memo_slot_for(memo *mm, uintptr_t a, uintptr_t b)
{
    if (2 * (mm->n + 1) > mm->cap) {
        size_t ncap = mm->cap ? 4 * mm->cap : 256;
        memo_slot *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return NULL;
        for (size_t i = 0; i < mm->cap; i++) {
            if (mm->s[i].v == NULL)
                continue;
            size_t j = memo_hash(mm->s[i].a, mm->s[i].b) & (ncap - 1);
            while (ns[j].v != NULL)
                j = (j + 1) & (ncap - 1);
            ns[j] = mm->s[i];
        }
        free(mm->s);
        mm->s = ns;
        mm->cap = ncap;
    }
    size_t i = memo_hash(a, b) & (mm->cap - 1);
    while (mm->s[i].v != NULL && (mm->s[i].a != a || mm->s[i].b != b))
        i = (i + 1) & (mm->cap - 1);
    mm->s[i].a = a;
    mm->s[i].b = b;
    return &mm->s[i];
}

/* The key a task's group name depends on, for the keys whose names are
 * built; false for the others. */
static bool memo_key(run *r, tq_key key, const qp_task *t, uintptr_t *a, uintptr_t *b)
{
    *b = 0;
    switch (key) {
    case K_DUE:
    case K_SCHEDULED:
    case K_START:
    case K_CREATED:
    case K_DONE:
    case K_CANCELLED: {
        int f = QP_TASK_DUE + (int)(key - K_DUE);
        *a = (uintptr_t)(uint32_t)t->dates[f];
        *b = (t->invalid_dates & (1u << f)) != 0;
        return true;
    }
    case K_HAPPENS:
        *a = (uintptr_t)(uint32_t)happens(t);
        return true;
    case K_PATH:
    case K_FOLDER:
    case K_ROOT:
    case K_FILENAME:
        *a = (uintptr_t)t->path;
        return true;
    case K_BACKLINK:
        *a = (uintptr_t)t->path;
        *b = (uintptr_t)t->heading;
        return true;
    case K_URGENCY: {
        double u = qp_task_urgency(t, r->q->today);
        uint64_t bits;
        memcpy(&bits, &u, sizeof bits);
        *a = (uintptr_t)bits;
        *b = (uintptr_t)(bits >> 32); /* all of it where uintptr_t is 32 bits */
        return true;
    }
    default:
        return false;
    }
}

static const char *group_name(run *r, tq_key key, const qp_task *t);

/* The name of task i at level l, whose key gives one name per task:
 * built once per distinct value (the memo), NULL when out of memory. */
static const char *one_name(run *r, size_t l, size_t i, bool in_order)
{
    const qp_task *t = &r->tasks[i];
    tq_key key = r->q->groupers[l].key;
    uintptr_t a, b;
    memo *mm = &r->memos[l];
    if (!memo_key(r, key, t, &a, &b))
        return group_name(r, key, t);
    if (mm->last.v != NULL && mm->last.a == a && mm->last.b == b)
        return mm->last.v;
    if (in_order && (key == K_PATH || key == K_FOLDER || key == K_ROOT || key == K_FILENAME ||
                     key == K_BACKLINK)) {
        /* keyed by the path: in input order a path's tasks come in one
         * run, so `last` is the only slot that can hit */
        mm->last = (memo_slot){a, b, group_name(r, key, t)};
        return mm->last.v;
    }
    memo_slot *sl = memo_slot_for(mm, a, b);
    if (sl == NULL)
        return NULL;
    if (sl->v == NULL) {
        sl->v = group_name(r, key, t);
        if (sl->v != NULL)
            mm->n++;
    }
    mm->last = *sl;
    return sl->v;
}

/* Group names of task i at grouping level l; *n receives their count. The
 * array is valid until the next call for the same level. */
static const char *const *group_names(run *r, size_t l, size_t i, size_t *n)
{
    static const char *const no_tags[] = {"(No tags)"};
    const qp_task *t = &r->tasks[i];
    tq_key key = r->q->groupers[l].key;
    *n = 1;
    if (key == K_TAGS || key == K_TAG) {
        if (t->n_tags == 0)
            return no_tags;
        *n = t->n_tags;
        return t->tags;
    }
    r->one[l] = r->pre != NULL && r->pre[l] != NULL ? r->pre[l][i] : one_name(r, l, i, false);
    if (r->one[l] == NULL) {
        r->failed = true;
        *n = 0;
        return NULL;
    }
    return &r->one[l];
}

/* The group name of task t for a key with one name per task; NULL when out
 * of memory. */
/* The group name of t under `key`. One piece: a switch with a short case
 * per group key. */
static const char *group_name(run *r, tq_key key, const qp_task *t)
{
    static const char *const types[] = {
        "",          "%%1%%IN_PROGRESS", "%%2%%TODO",     "%%3%%ON_HOLD",
        "%%4%%DONE", "%%5%%CANCELLED",   "%%6%%NON_TASK", "%%7%%EMPTY",
    };
    static const char *const prios[] = {
        "%%0%%Highest priority", "%%1%%High priority", "%%2%%Medium priority",
        "%%3%%Normal priority",  "%%4%%Low priority",  "%%5%%Lowest priority",
    };
    const char *v[1] = {NULL};
    char buf[64];
    const char *path = t->path ? t->path : "";
    switch (key) {
    case K_STATUS:
        v[0] = qp_task_is_done(t) ? "Done" : "Todo";
        break;
    case K_STATUS_TYPE:
        v[0] = (int)t->status_type >= 1 && (int)t->status_type <= 7 ? types[t->status_type] : "";
        break;
    case K_STATUS_NAME:
        v[0] = t->status_name;
        break;
    case K_PRIORITY:
        v[0] = prios[t->priority];
        break;
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
        if (p == NULL) { /* out of memory: no name, the run fails */
            v[0] = NULL;
            break;
        }
        if (md != NULL)
            memmove(p + (md - path), p + (md - path) + 3, strlen(md + 3) + 1);
        v[0] = escape_md(r, p);
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
            char *s = qp_arena_alloc(r->arena, fl + 5); /* "[[" fn "]]" */
            if (s != NULL) {
                memcpy(s, "[[", 2);
                memcpy(s + 2, fn, fl);
                memcpy(s + 2 + fl, "]]", 3);
            }
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
    case K_RECURRING:
        v[0] = t->recurrence ? "Recurring" : "Not Recurring";
        break;
    case K_RECURRENCE:
        v[0] = t->recurrence ? t->recurrence : "None";
        break;
    case K_URGENCY:
        snprintf(buf, sizeof buf, "%.2f", qp_task_urgency(t, r->q->today));
        v[0] = qp_arena_strdup(r->arena, buf);
        break;
    case K_ID:
        v[0] = t->id ? t->id : "";
        break;
    default:
        v[0] = "";
        break;
    }
    return v[0];
}

typedef struct entry {
    size_t names; /* offset of its names (one per level) in the flat array */
    size_t task;
} entry;

/* Orders the group entries (built in task order) by their names level by
 * level, stably; newgrp[k] says whether sorted entry k starts a leaf
 * group (a name at some level differs from the entry before). */
static bool sort_entries(run *r, entry *ent, size_t ne, const char *const *flat, bool *newgrp)
{
    const qp_taskquery *q = r->q;
    size_t nl = q->n_groupers;
    bool ok = false;
    packer pk = {.m = ne};
    uint32_t *col = malloc((ne ? ne : 1) * sizeof *col), max = 0;
    uint32_t *perm = malloc((ne ? ne : 1) * sizeof *perm);
    const char **s = malloc((ne ? ne : 1) * sizeof *s);
    entry *sorted = NULL;
    if (col == NULL || perm == NULL || s == NULL)
        goto cleanup;
    for (size_t l = 0; l < nl; l++) {
        const tq_order *g = &q->groupers[l];
        if (r->prerank != NULL && r->prerank[l] != NULL) { /* ranked in input order */
            for (size_t k = 0; k < ne; k++)
                col[k] = r->prerank[l][ent[k].task];
            max = r->premax[l];
        } else {
            for (size_t k = 0; k < ne; k++)
                s[k] = flat[ent[k].names + l];
            if (!rank_texts(r, s, ne, g->key == K_URGENCY ? RANK_URGENCY : RANK_GROUP, g->reverse,
                            col, &max))
                goto cleanup;
        }
        if (!pack_column(&pk, col, max))
            goto cleanup;
    }
    free(col);
    col = NULL;
    free((void *)s);
    s = NULL;
    if (!packer_sort(&pk, perm))
        goto cleanup;
    sorted = malloc((ne ? ne : 1) * sizeof *sorted);
    if (sorted == NULL)
        goto cleanup;
    /* group names of one level are equal exactly when their bytes are */
    for (size_t k = 0; k < ne; k++) {
        sorted[k] = ent[perm[k]];
        newgrp[k] = k == 0;
        for (size_t l = 0; l < nl && !newgrp[k]; l++) {
            const char *x = flat[sorted[k].names + l], *y = flat[sorted[k - 1].names + l];
            newgrp[k] = x != y && strcmp(x, y) != 0;
        }
    }
    memcpy(ent, sorted, ne * sizeof *ent);
    ok = true;
cleanup:
    packer_free(&pk);
    free(col);
    free(perm);
    free((void *)s);
    free(sorted);
    return ok;
}

/* ---- the run -------------------------------------------------------------- */

static void run_close(run *r)
{
    for (size_t l = 0; l < r->q->n_groupers; l++) {
        if (r->pre != NULL)
            free((void *)r->pre[l]);
        if (r->prerank != NULL)
            free(r->prerank[l]);
    }
    free((void *)r->pre);
    free(r->prerank);
    free(r->premax);
    if (r->memos != NULL)
        for (size_t l = 0; l < r->q->n_groupers; l++)
            free(r->memos[l].s);
    free(r->memos);
    free((void *)r->one);
    if (r->re != NULL)
        for (int i = 0; i < r->q->n_regex; i++)
            uregex_close(r->re[i]);
    free(r->re);
    qp__coll_close(&r->coll);
    qp_arena_free(r->tmp);
}

/* Opens what the filters need: compiled regexes, the blocking-id sets,
 * the per-filter path cache. False on OOM. */
static bool run_open(run *r)
{
    const qp_taskquery *q = r->q;
    if (q->n_regex > 0) {
        r->re = calloc((size_t)q->n_regex, sizeof *r->re);
        if (r->re == NULL)
            return false;
        for (size_t i = 0; i < q->n_filters; i++)
            if (!open_regexes(r, q->filters[i]))
                return false;
    }
    if (q->uses_blocking && !build_blocking(r))
        return false;
    if (q->n_path_cache > 0) {
        r->cache_path = qp_arena_alloc(r->arena, (size_t)q->n_path_cache * sizeof(char *));
        r->cache_val = qp_arena_alloc(r->arena, (size_t)q->n_path_cache);
        if (r->cache_path == NULL || r->cache_val == NULL)
            return false;
    }
    return true;
}

/* Step 1: the indexes of the tasks every filter keeps, in input order. */
static size_t filter_tasks(run *r, size_t *idx)
{
    const qp_taskquery *q = r->q;
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        bool keep = true;
        /* a path filter reads each file's path once: a cache miss per file
         * that the next tasks' loads would wait behind; ask for it early */
        if (q->n_path_cache > 0 && i + 16 < r->n && r->tasks[i + 16].path != NULL)
            __builtin_prefetch(r->tasks[i + 16].path);
        for (size_t k = 0; k < q->n_filters && keep; k++)
            keep = test(r, q->filters[k], &r->tasks[i]);
        if (keep)
            idx[m++] = i;
    }
    return m;
}

/* The entries of a run's grouping: one per task and combination of its
 * group names (tags give several); the names of all entries sit in one
 * flat array, n_groupers per entry. */
typedef struct entries {
    entry *v;
    const char **flat;
    size_t n, cap, nflat;
} entries;

/* Adds task i's entries, one per combination of its names per level. */
static bool add_entries(run *r, entries *e, size_t i)
{
    size_t nl = r->q->n_groupers, total = 1;
    const char *const *lvl[32];
    size_t cnt[32];
    for (size_t l = 0; l < nl && l < 32; l++) {
        lvl[l] = group_names(r, l, i, &cnt[l]);
        if (r->failed)
            return false;
        total *= cnt[l];
    }
    for (size_t c = 0; c < total; c++) {
        if (e->n == e->cap) {
            size_t cap = e->cap * 2;
            entry *g = realloc(e->v, cap * sizeof *g);
            if (g == NULL)
                return false;
            e->v = g;
            const char **f = realloc(e->flat, cap * (nl ? nl : 1) * sizeof *f);
            if (f == NULL)
                return false;
            e->flat = f;
            e->cap = cap;
        }
        size_t rem = c;
        for (size_t l = nl; l-- > 0;) {
            e->flat[e->nflat + l] = lvl[l][rem % cnt[l]];
            rem /= cnt[l];
        }
        e->v[e->n++] = (entry){e->nflat, i};
        e->nflat += nl;
    }
    return true;
}

/* Names and their ranks, per level with one name per task, for the m
 * tasks of idx, found in input order. The sorted tasks are scattered over
 * the input; in input order a file's tasks sit together, so one memo hit
 * follows another, the ranking sees each name's repeats side by side, and
 * names built from paths arrive nearly in order (its merges are linear
 * then). The ranks are dense, so the same in any order: the groups are
 * those ranking the entries would give. */
static bool rank_in_input_order(run *r, const size_t *idx, size_t m)
{
    size_t nl = r->q->n_groupers;
    bool ok = false;
    bool *mark = calloc(r->n ? r->n : 1, sizeof *mark);
    size_t *ord = malloc((m ? m : 1) * sizeof *ord);
    const char **names = malloc((m ? m : 1) * sizeof *names);
    uint32_t *rank = malloc((m ? m : 1) * sizeof *rank);
    r->pre = calloc(nl, sizeof *r->pre);
    r->prerank = calloc(nl, sizeof *r->prerank);
    r->premax = calloc(nl, sizeof *r->premax);
    if (mark == NULL || ord == NULL || names == NULL || rank == NULL || r->pre == NULL ||
        r->prerank == NULL || r->premax == NULL)
        goto cleanup;
    for (size_t k = 0; k < m; k++)
        mark[idx[k]] = true;
    size_t no = 0;
    for (size_t i = 0; i < r->n; i++)
        if (mark[i])
            ord[no++] = i;
    for (size_t l = 0; l < nl; l++) {
        const tq_order *g = &r->q->groupers[l];
        if (g->key == K_TAGS || g->key == K_TAG)
            continue;
        const char **pre = malloc((r->n ? r->n : 1) * sizeof *pre);
        uint32_t *pr = malloc((r->n ? r->n : 1) * sizeof *pr);
        r->pre[l] = pre;
        r->prerank[l] = pr;
        if (pre == NULL || pr == NULL)
            goto cleanup;
        for (size_t k = 0; k < no; k++)
            if ((names[k] = pre[ord[k]] = one_name(r, l, ord[k], true)) == NULL)
                goto cleanup;
        if (!rank_texts(r, names, no, g->key == K_URGENCY ? RANK_URGENCY : RANK_GROUP, g->reverse,
                        rank, &r->premax[l]))
            goto cleanup;
        for (size_t k = 0; k < no; k++)
            pr[ord[k]] = rank[k];
    }
    ok = true;
cleanup:
    free(mark);
    free(ord);
    free((void *)names);
    free(rank);
    return ok;
}

/* Step 4: the entries of the m tasks in idx, sorted by their names, with
 * newgrp[k] true where entry k starts a group. */
static bool group_entries(run *r, const size_t *idx, size_t m, entries *e, bool **newgrp)
{
    size_t nl = r->q->n_groupers;
    e->cap = m + 1;
    e->v = malloc(e->cap * sizeof *e->v);
    e->flat = malloc(e->cap * (nl ? nl : 1) * sizeof *e->flat);
    r->one = calloc(nl ? nl : 1, sizeof *r->one);
    r->memos = calloc(nl ? nl : 1, sizeof *r->memos);
    if (e->v == NULL || e->flat == NULL || r->one == NULL || r->memos == NULL)
        return false;
    if (nl > 0 && !rank_in_input_order(r, idx, m))
        return false;
    for (size_t k = 0; k < m; k++)
        if (!add_entries(r, e, idx[k]))
            return false;
    *newgrp = malloc((e->n ? e->n : 1) * sizeof **newgrp);
    if (*newgrp == NULL)
        return false;
    if (nl > 0)
        return sort_entries(r, e->v, e->n, e->flat, *newgrp);
    for (size_t k = 0; k < e->n; k++)
        (*newgrp)[k] = k == 0;
    return true;
}

/* Step 5: the leaf groups of res, each cut at the per-group limit, and
 * res->shown, the tasks shown at least once. */
static bool leaf_groups(run *r, qp_taskquery_result *res, const entries *e, const bool *newgrp)
{
    size_t nl = r->q->n_groupers, ng = 0;
    for (size_t k = 0; k < e->n; k++)
        ng += newgrp[k];
    res->groups = qp_arena_alloc(r->arena, (ng ? ng : 1) * sizeof *res->groups);
    size_t *all = qp_arena_alloc(r->arena, (e->n ? e->n : 1) * sizeof *all);
    bool *seen = calloc(r->n ? r->n : 1, 1);
    bool ok = res->groups != NULL && all != NULL && seen != NULL;
    size_t gl = nl > 0 ? r->q->layout.group_limit : SIZE_MAX, used = 0;
    for (size_t k = 0; ok && k < e->n; k++) {
        if (newgrp[k]) {
            qp_taskquery_group *g = &res->groups[res->n_groups++];
            const char **names = qp_arena_alloc(r->arena, (nl ? nl : 1) * sizeof *names);
            if (names == NULL) {
                ok = false;
                break;
            }
            memcpy(names, e->flat + e->v[k].names, nl * sizeof *names);
            *g = (qp_taskquery_group){names, nl, all + used, 0};
        }
        qp_taskquery_group *g = &res->groups[res->n_groups - 1];
        if (g->n_tasks >= gl)
            continue;
        all[used++] = e->v[k].task;
        g->n_tasks++;
        if (!seen[e->v[k].task]) {
            seen[e->v[k].task] = true;
            res->shown++;
        }
    }
    free(seen);
    if (ok && e->n == 0 && nl == 0) {
        /* an ungrouped query with no result still has its one (empty) group */
        res->groups[0] = (qp_taskquery_group){NULL, 0, all, 0};
        res->n_groups = 1;
    }
    return ok;
}

qp_rc qp_taskquery_run(qp_taskquery_result **out, const qp_taskquery *q, const qp_task *tasks,
                       size_t n, qp_error *err)
{
    qp_rc rc = QP_OK;
    qp_taskquery_result *res = NULL;
    run r;
    size_t *idx = NULL, m = 0;
    entries e = {0};
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
    if (!run_open(&r))
        goto oom;

    /* 1. filter */
    idx = malloc((n ? n : 1) * sizeof *idx);
    if (idx == NULL)
        goto oom;
    m = filter_tasks(&r, idx);
    res->total = m;
    /* 2. sort */
    if (!qp__coll_open(&r.coll) || (r.tmp = qp_arena_new()) == NULL ||
        (!q->ignore_sort && !sort_tasks(&r, idx, m))) /* ignoreSortInstructions: file order */
        goto oom;
    /* 3. limit */
    if (q->layout.limit < m)
        m = q->layout.limit;
    /* 4. group, 5. leaf groups and the per-group limit */
    if (!group_entries(&r, idx, m, &e, &newgrp) || !leaf_groups(&r, res, &e, newgrp))
        goto oom;
    *out = res;
    res = NULL;
    goto cleanup;

oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    run_close(&r);
    free(idx);
    free(e.v);
    free(e.flat);
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
