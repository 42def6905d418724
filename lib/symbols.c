/*
 * symbols — a note's heading outline (symbols) and the vault-wide symbol
 * search (symbols.search) of docs/protocol.md, for LSP documentSymbol and
 * workspace/symbol.
 *
 * symbols.search matches notes (file name), aliases, headings and tags
 * with qp__match_of on folded text. A store given a symbol catalogue
 * (quipu/symcat.h: the daemon's readers) takes the notes, aliases and
 * headings that match from it; otherwise they are scanned in the index.
 * There headings are the big table (five or so per note): a LIKE pattern
 * made of the query's ASCII characters in order ("%a%b%") narrows them in
 * SQLite before any is folded in C. LIKE folds ASCII only, so a non-ASCII
 * character of the query is left out of the pattern (a superset: the C
 * check decides). Tags, tens per vault, are always read from the index.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "methods_int.h"
#include "quipu/text.h"
#include "symcat_int.h"

#define RANK_CAP 500

/* ---- symbols ---- */

/* The headings from *i on that are deeper than `parent_level`, nested;
 * advances *i past them. */
static json_t *outline(const qp__mrefs *r, size_t *i, int parent_level)
{
    json_t *arr = json_array();
    while (arr && *i < r->nh && r->h[*i].level > parent_level) {
        size_t me = (*i)++;
        json_t *children = outline(r, i, r->h[me].level);
        /* The section ends before the next heading of this level or above. */
        size_t k = *i;
        while (k < r->nh && r->h[k].level > r->h[me].level)
            k++;
        json_t *end = k < r->nh ? json_integer(r->h[k].line - 1) : json_null();
        char *sub = qp__heading_subpath(r, me);
        json_t *o = NULL;
        if (sub && children) {
            o = json_pack("{ss si sI so ss so}", "name", r->h[me].text, "level", r->h[me].level,
                          "line", (json_int_t)r->h[me].line, "end_line", end, "subpath", sub,
                          "children", children);
            children = end = NULL;
        }
        free(sub);
        json_decref(children);
        json_decref(end);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

qp_rc qp__m_symbols(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                    qp_error *err)
{
    (void)vault;
    qp__mnote n;
    qp__mrefs r;
    qp_rc rc = qp__mparam_note(&n, st, params, err);
    if (rc != QP_OK)
        return rc;
    if ((rc = qp__mrefs_load(&r, st, n.id, err)) == QP_OK) {
        size_t i = 0;
        json_t *syms = outline(&r, &i, 0);
        *out = syms ? json_pack("{ss so}", "path", n.path, "symbols", syms) : NULL;
        if (!*out)
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        qp__mrefs_free(&r);
    }
    qp__mnote_free(&n);
    return rc;
}

/* ---- symbols.search ---- */

enum { /* the first three as symcat_int.h numbers them */
    SYM_NOTE = QP__SYM_NOTE,
    SYM_ALIAS = QP__SYM_ALIAS,
    SYM_HEADING = QP__SYM_HEADING,
    SYM_TAG
};
static const char *const sym_type[] = {"note", "alias", "heading", "tag"};

typedef struct sym {
    int cls, type;
    int64_t file, mtime, links;
    int64_t row; /* aliases / headings rowid; 0 for notes */
    uint32_t line;
    char *tag;    /* tags only (few) */
    uint32_t ord; /* an alias the catalogue found: its place among its note's */
} sym;

typedef struct sym_vec {
    sym *v;
    size_t n, cap;
} sym_vec;

static sym *sym_push(sym_vec *sv)
{
    if (sv->n == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 256;
        sym *nv = realloc(sv->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        sv->v = nv;
        sv->cap = nc;
    }
    sym *s = &sv->v[sv->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static int sym_pre_cmp(const void *a, const void *b)
{
    const sym *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls - y->cls;
    if (x->type != y->type)
        return x->type - y->type;
    if (x->mtime != y->mtime)
        return x->mtime > y->mtime ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int sym_rank_cmp(const void *a, const void *b)
{
    const sym *x = a, *y = b;
    if (x->links != y->links)
        return x->links > y->links ? -1 : 1;
    return sym_pre_cmp(a, b);
}

/* A max-heap of entry indexes by sym_pre_cmp (the worst kept on top). */
static void heap_down(const sym *v, size_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && sym_pre_cmp(&v[h[l]], &v[h[w]]) > 0)
            w = l;
        if (r < n && sym_pre_cmp(&v[h[r]], &v[h[w]]) > 0)
            w = r;
        if (w == i)
            return;
        size_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Orders sv as the ranking below needs it: (cls, type) groups in that
 * order and, in each group the ranking reaches (until `limit` entries are
 * ranked), its RANK_CAP first entries by sym_pre_cmp first and sorted. That
 * is what sorting the whole vector gave there, in O(n log RANK_CAP): a
 * two-letter query matches tens of thousands of headings, and sorting them
 * all was a quarter of the answer. False when out of memory. */
static bool order_for_rank(sym_vec *sv, size_t limit)
{
    enum {
        NCLS = QP__MATCH_FUZZY + 1,
        NTYPE = SYM_TAG + 1,
        NB = NCLS * NTYPE
    };
    size_t start[NB + 1] = {0}, n = sv->n, done = 0;
    sym *t = n ? malloc(n * sizeof *t) : NULL;
    size_t *h = n ? malloc((n < RANK_CAP ? n : RANK_CAP) * sizeof *h) : NULL;
    bool *picked = n ? calloc(n, sizeof *picked) : NULL;
    if (n && (!t || !h || !picked)) {
        free(t);
        free(h);
        free(picked);
        return false;
    }
#define BUCKET(e)                                                               \
    ((size_t)((e)->cls < 0 || (e)->cls >= NCLS ? NCLS - 1 : (e)->cls) * NTYPE + \
     (size_t)((e)->type < 0 || (e)->type >= NTYPE ? NTYPE - 1 : (e)->type))
    for (size_t i = 0; i < n; i++)
        start[BUCKET(&sv->v[i]) + 1]++;
    for (size_t b = 0; b < NB; b++)
        start[b + 1] += start[b];
    size_t fill[NB];
    memcpy(fill, start, sizeof fill);
    for (size_t i = 0; i < n; i++)
        t[fill[BUCKET(&sv->v[i])]++] = sv->v[i];
#undef BUCKET
    size_t w = 0;
    for (size_t b = 0; b < NB; b++) {
        size_t lo = start[b], size = start[b + 1] - lo;
        if (size == 0)
            continue;
        if (done >= limit) { /* not reached by the ranking: any order */
            memcpy(sv->v + w, t + lo, size * sizeof *t);
            w += size;
            continue;
        }
        size_t keep = size < RANK_CAP ? size : RANK_CAP, nh = 0;
        for (size_t i = lo; i < lo + size; i++) {
            if (nh < keep) {
                h[nh++] = i;
                if (nh == keep)
                    for (size_t k = keep / 2; k-- > 0;)
                        heap_down(t, h, keep, k);
            } else if (sym_pre_cmp(&t[i], &t[h[0]]) < 0) {
                h[0] = i;
                heap_down(t, h, keep, 0);
            }
        }
        for (size_t k = 0; k < keep; k++) {
            sv->v[w + k] = t[h[k]];
            picked[h[k]] = true;
        }
        qp__msort(sv->v + w, keep, sizeof *sv->v, sym_pre_cmp);
        w += keep;
        for (size_t i = lo; i < lo + size; i++)
            if (!picked[i])
                sv->v[w++] = t[i];
        done += keep;
    }
    free(t);
    free(h);
    free(picked);
    return true;
}

/* "%a%b%" of the folded query's ASCII characters (LIKE's wildcards
 * escaped with '\'). New; NULL on OOM. */
static char *like_pattern(const char *q, size_t qlen)
{
    char *p = malloc(3 * qlen + 2);
    size_t w = 0;
    if (!p)
        return NULL;
    p[w++] = '%';
    for (size_t i = 0; i < qlen; i++) {
        unsigned char c = (unsigned char)q[i];
        if (c >= 0x80)
            continue;
        if (c == '%' || c == '_' || c == '\\')
            p[w++] = '\\';
        p[w++] = (char)c;
        p[w++] = '%';
    }
    p[w] = '\0';
    return p;
}

static size_t stem_len(const char *s, size_t len)
{
    return len >= 3 && memcmp(s + len - 3, ".md", 3) == 0 ? len - 3 : len;
}

/* Folds t for matching: ASCII text is lower-cased into buf (what
 * qp_text_fold gives it, without an allocation per row); other text is
 * folded into *heap (new). NULL when out of memory. */
static const char *fold_row(const char *t, size_t *len, char *buf, size_t cap, char **heap)
{
    size_t n = *len;
    *heap = NULL;
    if (n < cap) {
        size_t i = 0;
        for (; i < n && (unsigned char)t[i] < 0x80; i++)
            buf[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + ('a' - 'A') : t[i]);
        if (i == n)
            return buf;
    }
    return *heap = qp_text_fold(t, n, len);
}

/* Runs `sql` (?1 = the LIKE pattern when it has one) and adds a symbol
 * of `type` (an alias or a heading) for each row whose column 3 matches.
 * Columns: 0 file, 1 row, 2 line, 3 the text. The file's mtime is looked
 * up for a match only: joining files in the SQL looked it up for every
 * heading the LIKE let through (most of them, for a short query). */
static qp_rc scan_syms(sym_vec *sv, qp_store *st, const char *sql, const char *like, int type,
                       bool fold, const char *q, size_t qlen, qp_error *err)
{
    sqlite3_stmt *s = NULL, *mt = NULL;
    char buf[256];
    qp_rc rc = qp__mprepare(&s, st, sql, err);
    if (rc == QP_OK)
        rc = qp__mprepare(&mt, st, "SELECT mtime_ns FROM files WHERE id = ?1", err);
    if (rc != QP_OK) {
        sqlite3_finalize(s);
        return rc;
    }
    if (like)
        sqlite3_bind_text(s, 1, like, -1, SQLITE_STATIC);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 3);
        size_t tlen = (size_t)sqlite3_column_bytes(s, 3);
        char *f = NULL;
        if (!t)
            continue;
        if (fold && !(t = fold_row(t, &tlen, buf, sizeof buf, &f))) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
        qp__match cls = qp__match_of(t, tlen, q, qlen);
        free(f);
        if (cls == QP__MATCH_NONE)
            continue;
        sym *y = sym_push(sv);
        if (!y) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
        y->cls = (int)cls;
        y->type = type;
        y->file = sqlite3_column_int64(s, 0);
        y->row = sqlite3_column_int64(s, 1);
        y->line = (uint32_t)sqlite3_column_int64(s, 2);
        if (sv->n > 1 && sv->v[sv->n - 2].file == y->file) {
            y->mtime = sv->v[sv->n - 2].mtime;
        } else {
            sqlite3_reset(mt);
            sqlite3_bind_int64(mt, 1, y->file);
            y->mtime = sqlite3_step(mt) == SQLITE_ROW ? sqlite3_column_int64(mt, 0) : 0;
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(mt);
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "symbols", err);
    return rc;
}

/* The notes whose file name matches. The names are read from the
 * files_name index (7 MB at 100k notes) rather than the files table it
 * indexes (33 MB, every path and title): the scan was a third of the
 * search. Only a matching name looks its row up for is_note and mtime. */
static qp_rc scan_notes(sym_vec *sv, qp_store *st, const char *q, size_t qlen, qp_error *err)
{
    sqlite3_stmt *names = NULL, *row = NULL;
    qp_rc rc =
        qp__mprepare(&names, st, "SELECT id, name_folded FROM files INDEXED BY files_name", err);
    if (rc == QP_OK)
        rc = qp__mprepare(&row, st, "SELECT is_note, mtime_ns FROM files WHERE id = ?1", err);
    int src = SQLITE_DONE;
    while (rc == QP_OK && (src = sqlite3_step(names)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(names, 1);
        size_t tlen = (size_t)sqlite3_column_bytes(names, 1);
        if (!t)
            continue;
        qp__match cls = qp__match_of(t, stem_len(t, tlen), q, qlen);
        if (cls == QP__MATCH_NONE)
            continue;
        int64_t id = sqlite3_column_int64(names, 0);
        sqlite3_reset(row);
        sqlite3_bind_int64(row, 1, id);
        if (sqlite3_step(row) != SQLITE_ROW || sqlite3_column_int(row, 0) == 0)
            continue;
        sym *y = sym_push(sv);
        if (!y) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
        y->cls = (int)cls;
        y->type = SYM_NOTE;
        y->file = id;
        y->mtime = sqlite3_column_int64(row, 1);
        y->line = 1;
    }
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "symbols", err);
    sqlite3_finalize(names);
    sqlite3_finalize(row);
    return rc;
}

/* Each distinct tag that matches, where it first occurs. The distinct
 * tags are stepped through on the tags_folded index, one seek each (a
 * vault has tens of them in rows of hundreds of thousands; GROUP BY read
 * every row). */
static qp_rc scan_tags(sym_vec *sv, qp_store *st, const char *q, size_t qlen, qp_error *err)
{
    sqlite3_stmt *next = NULL, *first = NULL;
    qp_rc rc = qp__mprepare(&next, st,
                            "SELECT tag_folded FROM tags WHERE tag_folded > ?1"
                            " ORDER BY tag_folded LIMIT 1",
                            err);
    if (rc == QP_OK)
        rc = qp__mprepare(&first, st,
                          "SELECT t.file, f.mtime_ns, t.rowid, coalesce(t.line, 1), t.tag"
                          " FROM tags t JOIN files f ON f.id = t.file"
                          " WHERE t.rowid = (SELECT min(rowid) FROM tags WHERE tag_folded = ?1)",
                          err);
    char *after = strdup("");
    if (rc == QP_OK && !after)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    while (rc == QP_OK) {
        sqlite3_reset(next);
        sqlite3_bind_text(next, 1, after, -1, SQLITE_STATIC);
        int src = sqlite3_step(next);
        if (src != SQLITE_ROW) {
            if (src != SQLITE_DONE)
                rc = qp__store_sqlite_error(st, src, "symbols", err);
            break;
        }
        char *tag = strdup((const char *)sqlite3_column_text(next, 0));
        if (!tag) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
        free(after);
        after = tag;
        const char *m = tag[0] == '#' ? tag + 1 : tag;
        qp__match cls = qp__match_of(m, strlen(m), q, qlen);
        if (cls == QP__MATCH_NONE)
            continue;
        sqlite3_reset(first);
        sqlite3_bind_text(first, 1, tag, -1, SQLITE_STATIC);
        if (sqlite3_step(first) != SQLITE_ROW)
            continue;
        sym *y = sym_push(sv);
        if (!y || !(y->tag = strdup((const char *)sqlite3_column_text(first, 4)))) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
        y->cls = (int)cls;
        y->type = SYM_TAG;
        y->file = sqlite3_column_int64(first, 0);
        y->mtime = sqlite3_column_int64(first, 1);
        y->row = sqlite3_column_int64(first, 2);
        y->line = (uint32_t)sqlite3_column_int64(first, 3);
    }
    sqlite3_reset(next);
    sqlite3_reset(first);
    sqlite3_finalize(next);
    sqlite3_finalize(first);
    free(after);
    return rc;
}

static char *base_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strndup(base, stem_len(base, strlen(base)));
}

/* The statements that give an alias's or a heading's text as written: by
 * rowid (a scan of the index found it) or by its note and its place or
 * line (the catalogue found it). */
typedef struct text_stmts {
    sqlite3_stmt *alias_row, *heading_row, *alias_key, *heading_key;
} text_stmts;

static json_t *sym_item(qp_store *st, const sym *y, const text_stmts *ts, qp_error *err, qp_rc *rc)
{
    qp__mnote n;
    json_t *o = NULL;
    char *name = NULL, *container = NULL;
    *rc = qp__mnote_get(&n, st, y->file, err);
    if (*rc != QP_OK)
        return NULL;
    name = base_stem(n.path);
    if (!name)
        goto oom;
    if (y->type == SYM_ALIAS || y->type == SYM_HEADING) {
        sqlite3_stmt *text_of;
        if (y->row > 0) {
            text_of = y->type == SYM_ALIAS ? ts->alias_row : ts->heading_row;
            sqlite3_reset(text_of);
            sqlite3_bind_int64(text_of, 1, y->row);
        } else {
            text_of = y->type == SYM_ALIAS ? ts->alias_key : ts->heading_key;
            sqlite3_reset(text_of);
            sqlite3_bind_int64(text_of, 1, y->file);
            sqlite3_bind_int64(text_of, 2, y->type == SYM_ALIAS ? y->ord : y->line);
        }
        int src = sqlite3_step(text_of);
        const char *t = src == SQLITE_ROW ? (const char *)sqlite3_column_text(text_of, 0) : NULL;
        container = name;
        name = strdup(t ? t : "");
        sqlite3_reset(text_of);
        if (!name)
            goto oom;
    } else if (y->type == SYM_TAG) {
        container = name;
        name = strdup(y->tag);
        if (!name)
            goto oom;
    }
    o = json_pack("{ss ss ss sI so ss}", "name", name, "type", sym_type[y->type], "path", n.path,
                  "line", (json_int_t)(y->line ? y->line : 1), "container",
                  container ? json_string(container) : json_null(), "match",
                  qp__match_name((qp__match)y->cls));
    if (!o)
        goto oom;
    goto done;
oom:
    *rc = qp_error_set(err, QP_ENOMEM, "out of memory");
done:
    free(name);
    free(container);
    qp__mnote_free(&n);
    return o;
}

/* A match of the catalogue (symcat_int.h) as a symbol: an alias keeps its
 * place among its note's aliases, which finds its text for sym_item(). */
static bool catalogue_hit(void *payload, int cls, int type, int64_t file, int64_t mtime,
                          uint32_t at)
{
    sym *y = sym_push(payload);
    if (!y)
        return false;
    y->cls = cls;
    y->type = type;
    y->file = file;
    y->mtime = mtime;
    y->line = type == SYM_HEADING ? at : 1;
    y->ord = type == SYM_ALIAS ? at : 0;
    return true;
}

qp_rc qp__m_symbols_search(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                           qp_error *err)
{
    (void)vault;
    const char *query = NULL;
    size_t limit = 0, qlen = 0;
    sym_vec sv = {0};
    char *q = NULL, *like = NULL;
    sqlite3_stmt *links_stmt = NULL;
    text_stmts ts = {0};
    json_t *items = NULL;
    qp_rc rc = qp__query_param_string(&query, params, "query", true, err);
    if (rc == QP_OK)
        rc = qp__mparam_size(&limit, params, "limit", 100, 1, 1000, err);
    if (rc != QP_OK)
        return rc;
    q = qp__mfold_param(query, '\0', &qlen);
    like = q ? like_pattern(q, qlen) : NULL;
    if (!q || !like) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (qlen == 0)
        goto answer;
    qp_symcat *cat = qp__store_symcat(st);
    if (cat) {
        rc = qp__symcat_collect(cat, st, q, qlen, catalogue_hit, &sv, err);
    } else {
        rc = scan_notes(&sv, st, q, qlen, err);
        if (rc == QP_OK)
            rc = scan_syms(&sv, st, "SELECT file, rowid, 1, alias_folded FROM aliases", NULL,
                           SYM_ALIAS, false, q, qlen, err);
        if (rc == QP_OK)
            rc = scan_syms(&sv, st,
                           "SELECT file, rowid, line, text FROM headings"
                           " WHERE text LIKE ?1 ESCAPE '\\'",
                           like, SYM_HEADING, true, q, qlen, err);
    }
    if (rc == QP_OK)
        rc = scan_tags(&sv, st, q, qlen, err);
    if (rc != QP_OK)
        goto cleanup;
    if (!order_for_rank(&sv, limit)) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }

    /* Most linked note first inside each (class, type), among the
     * RANK_CAP most recently modified of it. */
    size_t ranked = 0;
    for (size_t i = 0; i < sv.n && ranked < limit;) {
        size_t j = i;
        while (j < sv.n && sv.v[j].cls == sv.v[i].cls && sv.v[j].type == sv.v[i].type)
            j++;
        size_t take = j - i < RANK_CAP ? j - i : RANK_CAP;
        for (size_t k = 0; k < take; k++) {
            sym tmp = sv.v[ranked + k];
            sv.v[ranked + k] = sv.v[i + k];
            sv.v[i + k] = tmp; /* keep every tag string owned exactly once */
            if (sv.v[ranked + k].type != SYM_TAG &&
                (rc = qp__links_to_count(&sv.v[ranked + k].links, &links_stmt, st,
                                         sv.v[ranked + k].file, err)) != QP_OK)
                goto cleanup;
        }
        qp__msort(sv.v + ranked, take, sizeof *sv.v, sym_rank_cmp);
        ranked += take;
        i = j;
    }
answer:
    rc = qp__mprepare(&ts.alias_row, st, "SELECT alias FROM aliases WHERE rowid = ?1", err);
    if (rc == QP_OK)
        rc = qp__mprepare(&ts.heading_row, st, "SELECT text FROM headings WHERE rowid = ?1", err);
    if (rc == QP_OK)
        rc = qp__mprepare(&ts.alias_key, st,
                          "SELECT alias FROM aliases WHERE file = ?1 ORDER BY rowid"
                          " LIMIT 1 OFFSET ?2",
                          err);
    if (rc == QP_OK)
        rc = qp__mprepare(&ts.heading_key, st,
                          "SELECT text FROM headings WHERE file = ?1 AND line = ?2", err);
    if (rc != QP_OK)
        goto cleanup;
    items = json_array();
    if (!items) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    size_t shown = sv.n < limit ? sv.n : limit;
    for (size_t k = 0; k < shown; k++) {
        json_t *o = sym_item(st, &sv.v[k], &ts, err, &rc);
        if (!o)
            goto cleanup;
        json_array_append_new(items, o);
    }
    *out = json_pack("{so sb}", "items", items, "incomplete", sv.n > shown);
    items = NULL;
    if (!*out)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    json_decref(items);
    sqlite3_finalize(ts.alias_row);
    sqlite3_finalize(ts.heading_row);
    sqlite3_finalize(ts.alias_key);
    sqlite3_finalize(ts.heading_key);
    sqlite3_finalize(links_stmt);
    for (size_t k = 0; k < sv.n; k++)
        free(sv.v[k].tag);
    free(sv.v);
    free(q);
    free(like);
    return rc;
}
