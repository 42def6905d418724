/*
 * frontmatter — the YAML block at the top of a note (spec/links.md §1.3,
 * §3, §5.2, §6).
 *
 * Detection works on the raw bytes; the block's inside is handed to
 * libyaml's event parser and turned into a qp_value tree in the caller's
 * arena. libyaml does not resolve types, so plain scalars get the YAML 1.2
 * core schema here, and quoted ones stay strings (except that any string
 * shaped like an ISO date is a date, as Obsidian compares them as dates,
 * and '' means "unknown", i.e. null).
 *
 * Positions: libyaml's marks count characters, not bytes (a CRLF counts
 * two), so marks are mapped back to byte offsets by walking the UTF-8
 * text; lines are file lines (the opening fence is line 1, so YAML line 0
 * is file line 2).
 *
 * Bad input is never an error of the call: it makes the block invalid
 * (no properties, aliases, tags or links) with one diagnostic. Aliases
 * (`*x`) are supported by sharing the anchored subtree, and every node an
 * expansion would produce is counted, so "billion laughs" stops at
 * MAX_NODES instead of exhausting memory or time.
 */
#include "quipu/frontmatter.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "quipu/links.h"

#define DEFAULT_MAX_DEPTH 64
/* Nodes in the expanded tree; far above any real note's frontmatter. */
#define MAX_NODES 100000
#define STR_TAG   "tag:yaml.org,2002:str"

/* Internal results: QP_OK, QP_ENOMEM, or INVALID (the diagnostic is set). */
#define INVALID 1

typedef struct anchor {
    const char *name; /* NULL = empty hash slot */
    qp_value val;
    size_t nodes;  /* nodes in the expanded subtree */
    size_t height; /* nesting levels of collections in it */
} anchor;

typedef struct linkpos {
    const char *s; /* the string value's bytes: copies made by aliases share them */
    uint32_t line, col, offset, len;
} linkpos;

typedef struct fm_parser {
    qp_arena *arena;
    yaml_parser_t yp;
    const char *file; /* the whole input */
    size_t flen;
    const char *yaml; /* the block's inside, as given to libyaml */
    size_t ylen;
    size_t ybase; /* file offset of yaml[0] */
    size_t max_depth;
    size_t nodes;
    /* char index → byte offset cursor over yaml[] (marks mostly ascend) */
    size_t cur_char, cur_byte;
    anchor *anchors; /* open-addressing hash, capacity a power of two */
    size_t nanchors, anchor_cap;
    linkpos *lp;
    size_t nlp, lp_cap;
    qp_diag diag;
    bool has_diag;
} fm_parser;

/* ------------------------------------------------------------------ */
/* Positions                                                          */

static size_t char_to_byte(fm_parser *p, size_t ci)
{
    if (ci < p->cur_char) {
        p->cur_char = 0;
        p->cur_byte = 0;
    }
    while (p->cur_char < ci && p->cur_byte < p->ylen) {
        p->cur_byte++;
        while (p->cur_byte < p->ylen && ((unsigned char)p->yaml[p->cur_byte] & 0xC0) == 0x80)
            p->cur_byte++;
        p->cur_char++;
    }
    return p->cur_byte;
}

static uint32_t clamp32(size_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* File line of a libyaml mark line (0-based, within the block). */
static uint32_t file_line(size_t yaml_line)
{
    return clamp32(yaml_line + 2);
}

/* 1-based byte column in the file of file offset `off`. */
static uint32_t file_col(const fm_parser *p, size_t off)
{
    size_t s = off;

    while (s > p->ybase && p->file[s - 1] != '\n')
        s--;
    return clamp32(off - s + 1);
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                        */

static int set_diag(fm_parser *p, uint32_t line, uint32_t col, const char *what, const char *detail)
{
    size_t n;
    char *msg;

    if (p->has_diag)
        return INVALID;
    n = strlen("invalid frontmatter: ") + strlen(what) + (detail ? strlen(detail) + 3 : 0) + 1;
    msg = qp_arena_alloc(p->arena, n);
    if (msg == NULL)
        return QP_ENOMEM;
    strcpy(msg, "invalid frontmatter: ");
    strcat(msg, what);
    if (detail != NULL) {
        strcat(msg, " (");
        strcat(msg, detail);
        strcat(msg, ")");
    }
    p->diag.severity = QP_DIAG_ERROR;
    p->diag.line = line;
    p->diag.col = col;
    p->diag.msg = msg;
    p->has_diag = true;
    return INVALID;
}

static int diag_at(fm_parser *p, yaml_mark_t mark, const char *what)
{
    size_t off = p->ybase + char_to_byte(p, mark.index);
    return set_diag(p, file_line(mark.line), file_col(p, off), what, NULL);
}

/* Turns libyaml's error state into the diagnostic. */
static int yaml_diag(fm_parser *p)
{
    const yaml_parser_t *yp = &p->yp;
    const char *problem = yp->problem != NULL ? yp->problem : "YAML error";
    uint32_t line, col;
    size_t off;

    if (yp->error == YAML_MEMORY_ERROR)
        return QP_ENOMEM;
    if (yp->error == YAML_READER_ERROR) {
        /* Reader errors (invalid UTF-8, control characters) carry a byte
         * offset instead of a mark. */
        size_t ln = 0;
        off = yp->problem_offset < p->ylen ? yp->problem_offset : p->ylen;
        for (size_t i = 0; i < off; i++)
            if (p->yaml[i] == '\n')
                ln++;
        off += p->ybase;
        line = file_line(ln);
    } else {
        off = p->ybase + char_to_byte(p, yp->problem_mark.index);
        line = file_line(yp->problem_mark.line);
    }
    col = file_col(p, off);
    return set_diag(p, line, col, problem, yp->context);
}

static int next_event(fm_parser *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->yp, ev)) {
        memset(ev, 0, sizeof *ev);
        return yaml_diag(p);
    }
    return QP_OK;
}

/* ------------------------------------------------------------------ */
/* Scalars: the YAML 1.2 core schema, plus ISO dates                 */

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool is_date(const char *s, size_t n)
{
    if (n != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    return num2(s + 5) >= 1 && num2(s + 5) <= 12 && num2(s + 8) >= 1 && num2(s + 8) <= 31;
}

/* YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS */
static bool is_datetime(const char *s, size_t n)
{
    if ((n != 16 && n != 19) || !is_date(s, 10) || s[10] != 'T' || !digits(s + 11, 2) ||
        s[13] != ':' || !digits(s + 14, 2))
        return false;
    if (num2(s + 11) > 23 || num2(s + 14) > 59)
        return false;
    if (n == 19 && (s[16] != ':' || !digits(s + 17, 2) || num2(s + 17) > 60))
        return false;
    return true;
}

static bool any_of(const char *s, const char *const *words)
{
    for (; *words != NULL; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ → *out; false when not an int
 * (or out of range, then *overflow). */
static bool parse_int(const char *s, size_t n, int64_t *out, bool *overflow)
{
    int base = 10;
    const char *d = s;
    size_t dn = n;
    char *end;
    long long v;

    *overflow = false;
    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        d = s + 2;
        dn = n - 2;
        for (size_t i = 0; i < dn; i++) {
            char c = d[i];
            bool ok = base == 8 ? (c >= '0' && c <= '7')
                                : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                   (c >= 'A' && c <= 'F'));
            if (!ok)
                return false;
        }
    } else {
        size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
        if (i == n || !digits(s + i, n - i))
            return false;
    }
    errno = 0;
    if (base == 10) {
        v = strtoll(s, &end, 10);
    } else {
        unsigned long long u = strtoull(d, &end, base);
        if (errno == 0 && u > INT64_MAX)
            errno = ERANGE;
        v = (long long)u;
    }
    if (errno == ERANGE) {
        *overflow = true;
        return false;
    }
    *out = v;
    return true;
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float(const char *s, size_t n)
{
    size_t i = 0, intd = 0, fracd = 0;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, intd++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, fracd++;
    }
    if (intd == 0 && fracd == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t ed = 0;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (ed == 0)
            return false;
    }
    return i == n;
}

static void type_plain(qp_value *v, const char *s, size_t n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const pinf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    bool overflow;
    int64_t i;

    if (strlen(s) != n) /* an embedded NUL: only a string can hold it */
        return;
    if (any_of(s, nulls)) {
        v->type = QP_VALUE_NULL;
    } else if (any_of(s, trues) || any_of(s, falses)) {
        v->type = QP_VALUE_BOOL;
        v->u.b = s[0] == 't' || s[0] == 'T';
    } else if (parse_int(s, n, &i, &overflow)) {
        v->type = QP_VALUE_INT;
        v->u.i = i;
    } else if (overflow && s[0] != '0') {
        v->type = QP_VALUE_REAL; /* a decimal beyond int64: keep its magnitude */
        v->u.r = strtod(s, NULL);
    } else if (is_float(s, n)) {
        v->type = QP_VALUE_REAL;
        v->u.r = strtod(s, NULL);
    } else if (any_of(s, pinf)) {
        v->type = QP_VALUE_REAL;
        v->u.r = INFINITY;
    } else if (any_of(s, ninf)) {
        v->type = QP_VALUE_REAL;
        v->u.r = -INFINITY;
    } else if (any_of(s, nans)) {
        v->type = QP_VALUE_REAL;
        v->u.r = NAN;
    }
}

static bool link_shaped(const char *s, size_t n)
{
    return n >= 4 && s[0] == '[' && s[1] == '[' && s[n - 2] == ']' && s[n - 1] == ']';
}

static int scalar(fm_parser *p, const yaml_event_t *ev, qp_value *out)
{
    const char *raw = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *tag = (const char *)ev->data.scalar.tag;
    char *s;

    if (tag != NULL && (strcmp(tag, "!!str") == 0 || strcmp(tag, STR_TAG) == 0))
        plain = false;
    s = qp_arena_strndup(p->arena, raw, n);
    if (s == NULL)
        return QP_ENOMEM;
    out->type = QP_VALUE_STRING;
    out->u.str.s = s;
    out->u.str.len = n;
    if (n == 0) {
        out->type = QP_VALUE_NULL; /* '' means "unknown" (note-format.md) */
    } else if (is_date(s, n)) {
        out->type = QP_VALUE_DATE;
    } else if (is_datetime(s, n)) {
        out->type = QP_VALUE_DATETIME;
    } else if (plain) {
        type_plain(out, s, n);
    }
    if (out->type == QP_VALUE_STRING && link_shaped(s, n)) {
        size_t b0 = char_to_byte(p, ev->start_mark.index);
        size_t b1 = char_to_byte(p, ev->end_mark.index);
        linkpos *lp;

        if (p->nlp == p->lp_cap) {
            size_t cap = p->lp_cap ? p->lp_cap * 2 : 8;
            linkpos *g = qp_arena_grow(p->arena, p->lp, p->nlp, cap, sizeof *g);
            if (g == NULL)
                return QP_ENOMEM;
            p->lp = g;
            p->lp_cap = cap;
        }
        lp = &p->lp[p->nlp++];
        lp->s = s;
        lp->offset = clamp32(p->ybase + b0);
        lp->len = clamp32(b1 > b0 ? b1 - b0 : 0);
        lp->line = file_line(ev->start_mark.line);
        lp->col = file_col(p, p->ybase + b0);
    }
    return QP_OK;
}

/* ------------------------------------------------------------------ */
/* Anchors                                                            */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static anchor *anchor_slot(anchor *tab, size_t cap, const char *name)
{
    size_t i = (size_t)hash_str(name) & (cap - 1);
    while (tab[i].name != NULL && strcmp(tab[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static int anchor_put(fm_parser *p, const char *name, const qp_value *v, size_t nodes,
                      size_t height)
{
    anchor *a;

    if ((p->nanchors + 1) * 2 > p->anchor_cap) {
        size_t cap = p->anchor_cap ? p->anchor_cap * 2 : 16;
        anchor *tab = qp_arena_alloc(p->arena, cap * sizeof *tab);
        if (tab == NULL)
            return QP_ENOMEM;
        for (size_t i = 0; i < p->anchor_cap; i++)
            if (p->anchors[i].name != NULL)
                *anchor_slot(tab, cap, p->anchors[i].name) = p->anchors[i];
        p->anchors = tab;
        p->anchor_cap = cap;
    }
    a = anchor_slot(p->anchors, p->anchor_cap, name);
    if (a->name == NULL) {
        a->name = qp_arena_strdup(p->arena, name);
        if (a->name == NULL)
            return QP_ENOMEM;
        p->nanchors++;
    }
    a->val = *v; /* a redefined anchor replaces the old one, as in YAML */
    a->nodes = nodes;
    a->height = height;
    return QP_OK;
}

static const anchor *anchor_get(const fm_parser *p, const char *name)
{
    const anchor *a;

    if (p->anchor_cap == 0)
        return NULL;
    a = anchor_slot(p->anchors, p->anchor_cap, name);
    return a->name != NULL ? a : NULL;
}

/* ------------------------------------------------------------------ */
/* Tree building                                                      */

static int add_nodes(fm_parser *p, size_t n, yaml_mark_t mark)
{
    if (n > MAX_NODES || p->nodes + n > MAX_NODES)
        return diag_at(p, mark, "too many values (alias expansion?)");
    p->nodes += n;
    return QP_OK;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds the first duplicate key; returns its index or n. Large maps are
 * checked by sorting a copy, so a huge mapping stays O(n log n). */
static size_t find_duplicate(fm_parser *p, const char *const *keys, size_t n, bool *oom)
{
    const char **sorted;
    const char *dup = NULL;

    *oom = false;
    if (n < 2)
        return n;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(keys[i], keys[j]) == 0)
                    return i;
        return n;
    }
    sorted = qp_arena_alloc(p->arena, n * sizeof *sorted);
    if (sorted == NULL) {
        *oom = true;
        return n;
    }
    memcpy(sorted, keys, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, key_cmp);
    for (size_t i = 1; i < n && dup == NULL; i++)
        if (strcmp(sorted[i], sorted[i - 1]) == 0)
            dup = sorted[i];
    if (dup == NULL)
        return n;
    /* report the second occurrence in document order */
    for (size_t i = 0, seen = 0; i < n; i++)
        if (strcmp(keys[i], dup) == 0 && seen++ == 1)
            return i;
    return n;
}

static int build(fm_parser *p, yaml_event_t *ev, qp_value *out, size_t depth, size_t *nodes,
                 size_t *height);

static int build_seq(fm_parser *p, qp_value *out, size_t depth, size_t *nodes, size_t *height)
{
    qp_value *items = NULL;
    size_t n = 0, cap = 0;
    yaml_event_t ev;
    int rc;

    for (;;) {
        size_t cn = 0, ch = 0;
        if ((rc = next_event(p, &ev)) != QP_OK)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            qp_value *g = qp_arena_grow(p->arena, items, n, ncap, sizeof *g);
            if (g == NULL) {
                yaml_event_delete(&ev);
                return QP_ENOMEM;
            }
            items = g;
            cap = ncap;
        }
        if ((rc = build(p, &ev, &items[n], depth, &cn, &ch)) != QP_OK)
            return rc;
        n++;
        *nodes += cn;
        if (ch > *height)
            *height = ch;
    }
    out->type = QP_VALUE_LIST;
    out->u.list.items = items;
    out->u.list.n = n;
    return QP_OK;
}

static int build_map(fm_parser *p, qp_value *out, size_t depth, size_t *nodes, size_t *height)
{
    const char **keys = NULL;
    qp_value *vals = NULL;
    yaml_mark_t *marks = NULL;
    size_t n = 0, cap = 0, dup;
    yaml_event_t ev;
    bool oom;
    int rc;

    for (;;) {
        size_t cn = 0, ch = 0;
        if ((rc = next_event(p, &ev)) != QP_OK)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            rc = diag_at(p, ev.start_mark, "a mapping key must be a plain value");
            yaml_event_delete(&ev);
            return rc;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            const char **gk = qp_arena_grow(p->arena, keys, n, ncap, sizeof *gk);
            qp_value *gv = qp_arena_grow(p->arena, vals, n, ncap, sizeof *gv);
            yaml_mark_t *gm = qp_arena_grow(p->arena, marks, n, ncap, sizeof *gm);
            if (gk == NULL || gv == NULL || gm == NULL) {
                yaml_event_delete(&ev);
                return QP_ENOMEM;
            }
            keys = gk, vals = gv, marks = gm;
            cap = ncap;
        }
        keys[n] =
            qp_arena_strndup(p->arena, (const char *)ev.data.scalar.value, ev.data.scalar.length);
        marks[n] = ev.start_mark;
        yaml_event_delete(&ev);
        if (keys[n] == NULL)
            return QP_ENOMEM;
        if ((rc = add_nodes(p, 1, marks[n])) != QP_OK)
            return rc;
        if ((rc = next_event(p, &ev)) != QP_OK)
            return rc;
        if ((rc = build(p, &ev, &vals[n], depth, &cn, &ch)) != QP_OK)
            return rc;
        n++;
        *nodes += cn + 1;
        if (ch > *height)
            *height = ch;
    }
    dup = find_duplicate(p, keys, n, &oom);
    if (oom)
        return QP_ENOMEM;
    if (dup < n)
        return diag_at(p, marks[dup], "duplicate key");
    out->type = QP_VALUE_MAP;
    out->u.map.keys = keys;
    out->u.map.vals = vals;
    out->u.map.n = n;
    return QP_OK;
}

/* Builds the node that starts with *ev (taken: always deleted). depth is
 * the nesting of the enclosing collections. */
static int build(fm_parser *p, yaml_event_t *ev, qp_value *out, size_t depth, size_t *nodes,
                 size_t *height)
{
    const char *anchor_name = NULL;
    yaml_mark_t mark = ev->start_mark;
    char *aname = NULL;
    int rc = QP_OK;

    *nodes = 1;
    *height = 0;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor_name = (const char *)ev->data.scalar.anchor;
        if ((rc = add_nodes(p, 1, mark)) == QP_OK)
            rc = scalar(p, ev, out);
        break;
    case YAML_ALIAS_EVENT: {
        const anchor *a = anchor_get(p, (const char *)ev->data.alias.anchor);
        if (a == NULL) {
            rc = diag_at(p, mark, "unknown alias");
        } else if (depth + a->height > p->max_depth) {
            rc = diag_at(p, mark, "nested too deeply");
        } else if ((rc = add_nodes(p, a->nodes, mark)) == QP_OK) {
            *out = a->val;
            *nodes = a->nodes;
            *height = a->height;
        }
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        anchor_name =
            (const char *)(seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor);
        if (depth + 1 > p->max_depth) {
            rc = diag_at(p, mark, "nested too deeply");
            break;
        }
        if ((rc = add_nodes(p, 1, mark)) != QP_OK)
            break;
        if (anchor_name != NULL && (aname = qp_arena_strdup(p->arena, anchor_name)) == NULL) {
            rc = QP_ENOMEM;
            break;
        }
        yaml_event_delete(ev); /* its anchor was copied; the children come next */
        anchor_name = aname;
        rc = seq ? build_seq(p, out, depth + 1, nodes, height)
                 : build_map(p, out, depth + 1, nodes, height);
        *height += 1;
        if (rc == QP_OK && anchor_name != NULL)
            rc = anchor_put(p, anchor_name, out, *nodes, *height);
        return rc;
    }
    default:
        rc = diag_at(p, mark, "unexpected YAML event");
        break;
    }
    if (rc == QP_OK && anchor_name != NULL)
        rc = anchor_put(p, anchor_name, out, *nodes, *height);
    yaml_event_delete(ev);
    return rc;
}

/* Parses the whole stream: exactly one document whose root is a mapping.
 * Returns QP_OK with *root filled, INVALID, EMPTY or QP_ENOMEM. */
#define EMPTY 2
static int parse_stream(fm_parser *p, qp_value *root)
{
    yaml_event_t ev;
    size_t nodes, height;
    int rc;

    if ((rc = next_event(p, &ev)) != QP_OK)
        return rc;
    yaml_event_delete(&ev); /* STREAM-START */
    if ((rc = next_event(p, &ev)) != QP_OK)
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return EMPTY; /* only blank lines and comments */
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((rc = next_event(p, &ev)) != QP_OK)
        return rc;
    if (ev.type != YAML_MAPPING_START_EVENT) {
        rc = diag_at(p, ev.start_mark, "the top level is not a mapping of properties");
        yaml_event_delete(&ev);
        return rc;
    }
    if ((rc = build(p, &ev, root, 0, &nodes, &height)) != QP_OK)
        return rc;
    if ((rc = next_event(p, &ev)) != QP_OK)
        return rc;
    yaml_event_delete(&ev); /* DOCUMENT-END */
    if ((rc = next_event(p, &ev)) != QP_OK)
        return rc;
    if (ev.type != YAML_STREAM_END_EVENT)
        rc = diag_at(p, ev.start_mark, "more than one YAML document");
    yaml_event_delete(&ev);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Aliases, tags, links from the finished tree                        */

static bool is_stringish(const qp_value *v)
{
    return v->type == QP_VALUE_STRING || v->type == QP_VALUE_DATE || v->type == QP_VALUE_DATETIME;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_ws((*s)[0]))
        (*s)++, (*n)--;
    while (*n > 0 && is_ws((*s)[*n - 1]))
        (*n)--;
}

typedef struct strvec {
    const char **v;
    size_t n, cap;
} strvec;

static int strvec_push(qp_arena *arena, strvec *sv, const char *s)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 4;
        const char **g = qp_arena_grow(arena, sv->v, sv->n, cap, sizeof *g);
        if (g == NULL)
            return QP_ENOMEM;
        sv->v = g;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    return QP_OK;
}

/* One alias candidate: trimmed, empty dropped (links.md §3). */
static int add_alias(qp_arena *arena, strvec *out, const qp_value *v)
{
    const char *s;
    size_t n;
    char *copy;

    if (!is_stringish(v))
        return QP_OK;
    s = v->u.str.s;
    n = v->u.str.len;
    trim(&s, &n);
    if (n == 0)
        return QP_OK;
    if ((copy = qp_arena_strndup(arena, s, n)) == NULL)
        return QP_ENOMEM;
    return strvec_push(arena, out, copy);
}

/* One tag candidate: trimmed; dropped when empty or containing white
 * space; '#' prepended when missing (links.md §5.2). */
static int add_tag(qp_arena *arena, strvec *out, const qp_value *v)
{
    const char *s;
    size_t n;
    char *tag;

    if (!is_stringish(v))
        return QP_OK;
    s = v->u.str.s;
    n = v->u.str.len;
    trim(&s, &n);
    if (n > 0 && s[0] == '#')
        s++, n--;
    if (n == 0 || memchr(s, '\0', n) != NULL)
        return QP_OK;
    for (size_t i = 0; i < n; i++)
        if (is_ws(s[i]))
            return QP_OK;
    if ((tag = qp_arena_alloc(arena, n + 2)) == NULL)
        return QP_ENOMEM;
    tag[0] = '#';
    memcpy(tag + 1, s, n);
    return strvec_push(arena, out, tag);
}

typedef int (*add_fn)(qp_arena *, strvec *, const qp_value *);

static int collect(qp_arena *arena, const qp_value *v, add_fn add, strvec *out)
{
    int rc = QP_OK;

    if (v == NULL)
        return QP_OK;
    if (v->type != QP_VALUE_LIST)
        return add(arena, out, v);
    for (size_t i = 0; i < v->u.list.n && rc == QP_OK; i++)
        rc = add(arena, out, &v->u.list.items[i]);
    return rc;
}

static int lp_cmp(const void *a, const void *b)
{
    const char *x = ((const linkpos *)a)->s, *y = ((const linkpos *)b)->s;
    return x < y ? -1 : x > y;
}

typedef struct link_walk {
    fm_parser *p;
    char *path; /* malloc'd dotted key path being built */
    size_t plen, pcap;
    qp_link *links;
    size_t n, cap;
} link_walk;

static int path_push(link_walk *w, const char *seg, size_t n)
{
    size_t need = w->plen + (w->plen > 0) + n + 1;
    if (need > w->pcap) {
        size_t cap = w->pcap ? w->pcap : 64;
        char *g;
        while (cap < need)
            cap *= 2;
        if ((g = realloc(w->path, cap)) == NULL)
            return QP_ENOMEM;
        w->path = g;
        w->pcap = cap;
    }
    if (w->plen > 0)
        w->path[w->plen++] = '.';
    memcpy(w->path + w->plen, seg, n);
    w->plen += n;
    w->path[w->plen] = '\0';
    return QP_OK;
}

static int emit_link(link_walk *w, const qp_value *v)
{
    linkpos key = {v->u.str.s, 0, 0, 0, 0};
    const linkpos *pos =
        w->p->nlp > 0 ? bsearch(&key, w->p->lp, w->p->nlp, sizeof key, lp_cmp) : NULL;
    qp_link link;
    bool oom = false;

    memset(&link, 0, sizeof link);
    if (!qp_link_split(&link, w->p->arena, v->u.str.s + 2, v->u.str.len - 4, &oom))
        return oom ? QP_ENOMEM : QP_OK;
    link.syntax = QP_LINK_FRONTMATTER;
    link.embed = false;
    if ((link.key = qp_arena_strndup(w->p->arena, w->path, w->plen)) == NULL)
        return QP_ENOMEM;
    if (pos != NULL) {
        link.line = pos->line;
        link.col = pos->col;
        link.offset = pos->offset;
        link.len = pos->len;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        qp_link *g = qp_arena_grow(w->p->arena, w->links, w->n, cap, sizeof *g);
        if (g == NULL)
            return QP_ENOMEM;
        w->links = g;
        w->cap = cap;
    }
    w->links[w->n++] = link;
    return QP_OK;
}

static int walk_links(link_walk *w, const qp_value *v)
{
    size_t saved = w->plen;
    int rc = QP_OK;

    switch (v->type) {
    case QP_VALUE_STRING:
        if (link_shaped(v->u.str.s, v->u.str.len))
            rc = emit_link(w, v);
        break;
    case QP_VALUE_LIST:
        for (size_t i = 0; i < v->u.list.n && rc == QP_OK; i++) {
            char idx[24];
            int k = snprintf(idx, sizeof idx, "%zu", i);
            if ((rc = path_push(w, idx, (size_t)k)) == QP_OK)
                rc = walk_links(w, &v->u.list.items[i]);
            w->plen = saved;
        }
        break;
    case QP_VALUE_MAP:
        for (size_t i = 0; i < v->u.map.n && rc == QP_OK; i++) {
            if ((rc = path_push(w, v->u.map.keys[i], strlen(v->u.map.keys[i]))) == QP_OK)
                rc = walk_links(w, &v->u.map.vals[i]);
            w->plen = saved;
        }
        break;
    default:
        break;
    }
    return rc;
}

static int extract(fm_parser *p, qp_frontmatter *out, const qp_value *root)
{
    strvec aliases = {0}, tags = {0};
    link_walk w;
    qp_tag *tv;
    int rc;

    if ((rc = collect(p->arena, qp_value_get_ci(root, "aliases"), add_alias, &aliases)) != QP_OK)
        return rc;
    if ((rc = collect(p->arena, qp_value_get_ci(root, "tags"), add_tag, &tags)) != QP_OK)
        return rc;
    if ((tv = qp_arena_alloc(p->arena, tags.n * sizeof *tv)) == NULL)
        return QP_ENOMEM;
    for (size_t i = 0; i < tags.n; i++) {
        tv[i].tag = tags.v[i];
        tv[i].frontmatter = true;
    }

    if (p->nlp > 1)
        qsort(p->lp, p->nlp, sizeof *p->lp, lp_cmp);
    memset(&w, 0, sizeof w);
    w.p = p;
    rc = walk_links(&w, root);
    free(w.path);
    if (rc != QP_OK)
        return rc;

    out->aliases = aliases.v;
    out->naliases = aliases.n;
    out->tags = tv;
    out->ntags = tags.n;
    out->links = w.links;
    out->nlinks = w.n;
    return QP_OK;
}

/* ------------------------------------------------------------------ */
/* Detection                                                          */

/* True when line [s, e) is exactly "---" (a trailing '\r' allowed). */
static bool is_fence(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return n == 3 && memcmp(s, "---", 3) == 0;
}

/* Finds the block. On success sets the YAML span [*ys, *ye), the body
 * offset and the closing fence's 1-based line. */
static bool find_block(const char *b, size_t len, size_t *ys, size_t *ye, size_t *body,
                       uint32_t *close_line)
{
    size_t p = 0, line = 2;

    if (len >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
        p = 3;
    if (len - p < 4 || memcmp(b + p, "---", 3) != 0)
        return false;
    if (b[p + 3] == '\n')
        p += 4;
    else if (b[p + 3] == '\r' && len - p >= 5 && b[p + 4] == '\n')
        p += 5;
    else
        return false;
    *ys = p;
    while (p < len) {
        const char *nl = memchr(b + p, '\n', len - p);
        size_t e = nl != NULL ? (size_t)(nl - b) : len;
        if (is_fence(b + p, e - p)) {
            *ye = p;
            *body = nl != NULL ? e + 1 : len;
            *close_line = clamp32(line);
            return true;
        }
        p = nl != NULL ? e + 1 : len;
        line++;
    }
    return false;
}

qp_rc qp_frontmatter_parse(qp_frontmatter *out, qp_arena *arena, const char *bytes, size_t len,
                           size_t max_depth, qp_error *err)
{
    fm_parser p;
    qp_value *root = NULL;
    size_t ys = 0, ye = 0, body = 0;
    uint32_t close_line = 0;
    int rc;

    memset(out, 0, sizeof *out);
    out->body_line = 1;
    if (bytes == NULL || !find_block(bytes, len, &ys, &ye, &body, &close_line))
        return QP_OK;
    out->present = true;
    out->body_offset = body;
    out->body_line = close_line + 1;

    memset(&p, 0, sizeof p);
    p.arena = arena;
    p.file = bytes;
    p.flen = len;
    p.yaml = bytes + ys;
    p.ylen = ye - ys;
    p.ybase = ys;
    p.max_depth = max_depth ? max_depth : DEFAULT_MAX_DEPTH;
    if ((root = qp_arena_alloc(arena, sizeof *root)) == NULL)
        goto oom;
    if (!yaml_parser_initialize(&p.yp))
        goto oom;
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.yaml, p.ylen);
    rc = parse_stream(&p, root);
    yaml_parser_delete(&p.yp);

    if (rc == QP_OK)
        rc = extract(&p, out, root);
    if (rc == QP_ENOMEM)
        goto oom;
    if (rc == QP_OK) {
        out->valid = true;
        out->properties = root;
        return QP_OK;
    }
    if (rc == INVALID && p.has_diag) {
        qp_diag *d = qp_arena_alloc(arena, sizeof *d);
        if (d == NULL)
            goto oom;
        *d = p.diag;
        out->diags = d;
        out->ndiags = 1;
    }
    return QP_OK; /* INVALID or EMPTY: no properties */

oom:
    /* keep where the body starts; drop everything half-built */
    out->valid = false;
    out->properties = NULL;
    out->aliases = NULL;
    out->naliases = 0;
    out->tags = NULL;
    out->ntags = 0;
    out->links = NULL;
    out->nlinks = 0;
    out->diags = NULL;
    out->ndiags = 0;
    return qp_error_set(err, QP_ENOMEM, "out of memory parsing frontmatter");
}
