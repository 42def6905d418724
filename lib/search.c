/*
 * search — full-text search over the notes of the index (docs/search.md).
 *
 * The index: search_fts is a contentless FTS5 table (no note text is kept:
 * the index has no bodies) with five columns per note, weighted in this
 * order by BM25: title (file name and title), aliases, headings,
 * properties (frontmatter values) and body (the whole file). Its rowid is
 * the note's files.id. What goes in is the note's words (search_int.h),
 * folded and joined by spaces, so FTS5's unicode61 tokenizer (configured to
 * take the same characters as words) sees exactly quipu's words.
 *
 * A contentless row can only be deleted by handing FTS5 the tokens it was
 * made of. search_doc keeps, per note, its distinct words and the word
 * count of each column: FTS5 deletes a row's entry for every token given
 * (whatever column and position it is given in) and subtracts each
 * column's count from the BM25 totals, so the distinct words, spread over
 * the columns and padded to their counts, delete the row exactly.
 *
 * A query (search_query.c) becomes a MATCH on search_fts for what the
 * query needs of the text (exact for words, phrases, prefixes, OR and -),
 * and SQL conditions for path:, file:, tag:, [property] and task:.
 * line:(...) and section:(...) are checked in the note's text, read through
 * the vault, as are the hits (line, column, snippet) of each result on the
 * page.
 *
 * Results come in two tiers. BM25 cannot give its first row before it
 * has scored every row, and common words match most of a vault (at 100k
 * notes, tens of thousands: ranking them all took 70-180 ms).
 * Tier 1 is the notes whose title, aliases or headings hold the words (a
 * column filter on the MATCH): few, and ranked by BM25 over those columns,
 * after the note the query names exactly (file name, title or alias).
 * Tier 2 is every other match: counted first up to QP__SEARCH_RANK_MAX,
 * ranked by BM25 when that few, else in rowid order (last indexed first),
 * which FTS5 gives without a sort: one pass over the postings that counts
 * them all (the total stays exact) and reads a file row only for the page.
 * A query of filters only lists its notes by path.
 *
 * When the MATCH alone decides a result (no path:, tag:, [property],
 * line:, section: or excluded folders), neither tier joins the files
 * table: tier 1 is sorted in memory and reads paths only to break ties
 * that reach the page, and tier 2 is counted by count(*) (tier 1 lies
 * inside the same MATCH) and stepped only until its page is full. At 100k
 * notes that halves a common two-word search (see tier1_unjoined).
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unictype.h>
#include <xxhash.h>

#include "query_param_int.h"
#include "quipu/text.h"
#include "quipu/vaultconf.h"
#include "search_int.h"
#include "store_int.h"

#define NCOLS            5
#define DEFAULT_LIMIT    20
#define MAX_LIMIT        1000
#define MAX_LINES        10   /* matching lines shown per result */
#define SNIPPET_MAX      200  /* bytes of a line shown around its first hit */
#define VERIFY_COUNT_MAX 2000 /* candidates read beyond the page to count line:/section: */

static const char *const schema_sql[] = {
    "CREATE VIRTUAL TABLE search_fts USING fts5(title, aliases, headings, props, body,"
    " content='', tokenize=\"unicode61 remove_diacritics 0 categories 'L* N* Co M*'"
    " tokenchars '_'\")",
    "CREATE TABLE search_doc(file INTEGER PRIMARY KEY, counts TEXT NOT NULL,"
    " words TEXT NOT NULL)",
};

/* ---- words ---- */

static bool is_word_cp(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    return uc_is_general_category(cp, UC_CATEGORY_L) || uc_is_general_category(cp, UC_CATEGORY_N) ||
           uc_is_general_category(cp, UC_CATEGORY_M) || uc_is_general_category(cp, UC_CATEGORY_Co);
}

static bool words_grow(qp__search_words *w, size_t need)
{
    if (w->nfolded + need + 2 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->nfolded + need + 2)
            cap *= 2;
        char *f = realloc(w->folded, cap);
        if (!f)
            return false;
        w->folded = f;
        w->cap = cap;
    }
    return true;
}

qp_rc qp__search_words_split(qp__search_words *out, const char *text, size_t len, qp_error *err)
{
    qp__search_words w = {0};
    size_t vcap = 0;
    uint32_t line = 1;
    size_t line_start = 0;
    bool in_word = false;
    memset(out, 0, sizeof *out);
    if (!words_grow(&w, len))
        goto oom;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        uint32_t cp = c;
        size_t l = 1;
        if (c >= 0x80)
            l = qp_text_decode(text + i, len - i, &cp);
        bool wc = c == '\n' ? false : is_word_cp(cp);
        if (wc && !in_word) {
            if (w.n == vcap) {
                vcap = vcap ? vcap * 2 : 64;
                qp__search_word *v = realloc(w.v, vcap * sizeof *v);
                if (!v)
                    goto oom;
                w.v = v;
            }
            if (w.n > 0)
                w.folded[w.nfolded++] = ' ';
            w.v[w.n] = (qp__search_word){w.nfolded, 0, i, 0, line, (uint32_t)(i - line_start + 1)};
            w.n++;
            in_word = true;
        } else if (!wc && in_word) {
            qp__search_word *cur = &w.v[w.n - 1];
            cur->len = w.nfolded - cur->off;
            cur->nsrc = i - cur->src;
            in_word = false;
        }
        if (wc) {
            if (c < 0x80) {
                if (!words_grow(&w, 1))
                    goto oom;
                w.folded[w.nfolded++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            } else {
                size_t fl = 0;
                char *f = qp_text_fold(text + i, l, &fl);
                if (!f || !words_grow(&w, fl)) {
                    free(f);
                    goto oom;
                }
                /* Final sigma is sigma, as FTS5's folding has it: a word
                 * matches whether it was written in capitals or not. */
                if (fl == 2 && (unsigned char)f[0] == 0xCF && (unsigned char)f[1] == 0x82)
                    f[1] = (char)0x83;
                memcpy(w.folded + w.nfolded, f, fl);
                w.nfolded += fl;
                free(f);
            }
        }
        if (c == '\n') {
            line++;
            line_start = i + 1;
        }
        i += l;
    }
    if (in_word) {
        qp__search_word *cur = &w.v[w.n - 1];
        cur->len = w.nfolded - cur->off;
        cur->nsrc = len - cur->src;
    }
    w.folded[w.nfolded] = '\0';
    *out = w;
    return QP_OK;
oom:
    free(w.folded);
    free(w.v);
    return qp_error_set(err, QP_ENOMEM, "out of memory");
}

void qp__search_words_free(qp__search_words *w)
{
    if (!w)
        return;
    free(w->folded);
    free(w->v);
    memset(w, 0, sizeof *w);
}

/* ---- the index ---- */

struct qp__search_writer {
    sqlite3_stmt *ins_fts, *ins_doc, *get_doc, *del_fts, *del_doc;
};

static const char *const writer_sql[] = {
    "INSERT INTO search_fts(rowid, title, aliases, headings, props, body)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO search_doc(file, counts, words) VALUES(?1, ?2, ?3)",
    "SELECT counts, words FROM search_doc WHERE file = ?1",
    "INSERT INTO search_fts(search_fts, rowid, title, aliases, headings, props, body)"
    " VALUES('delete', ?1, ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM search_doc WHERE file = ?1",
};

static qp_rc sql_fail(sqlite3 *db, int src, const char *what, qp_error *err)
{
    qp_rc code = (src & 0xff) == SQLITE_NOMEM     ? QP_ENOMEM
                 : (src & 0xff) == SQLITE_CORRUPT ? QP_ECORRUPT
                 : (src & 0xff) == SQLITE_FULL    ? QP_EFULL
                 : (src & 0xff) == SQLITE_BUSY    ? QP_EBUSY
                                                  : QP_EIO;
    qp_error_set(err, code, "search index: %s: %s", what, sqlite3_errmsg(db));
    if (err)
        err->sys = src;
    return code;
}

qp_rc qp__search_schema(sqlite3 *db, qp_error *err)
{
    for (size_t i = 0; i < sizeof schema_sql / sizeof schema_sql[0]; i++) {
        int src = sqlite3_exec(db, schema_sql[i], NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return sql_fail(db, src, "schema", err);
    }
    return QP_OK;
}

static qp_rc writer_get(sqlite3 *db, qp__search_writer **w, qp_error *err)
{
    if (*w)
        return QP_OK;
    qp__search_writer *nw = calloc(1, sizeof *nw);
    if (!nw)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    sqlite3_stmt **slots[] = {&nw->ins_fts, &nw->ins_doc, &nw->get_doc, &nw->del_fts, &nw->del_doc};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        int src =
            sqlite3_prepare_v3(db, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT, slots[i], NULL);
        if (src != SQLITE_OK) {
            qp_rc rc = sql_fail(db, src, "prepare", err);
            qp__search_writer_free(nw);
            return rc;
        }
    }
    *w = nw;
    return QP_OK;
}

void qp__search_writer_free(qp__search_writer *w)
{
    if (!w)
        return;
    sqlite3_finalize(w->ins_fts);
    sqlite3_finalize(w->ins_doc);
    sqlite3_finalize(w->get_doc);
    sqlite3_finalize(w->del_fts);
    sqlite3_finalize(w->del_doc);
    free(w);
}

static qp_rc step(sqlite3 *db, sqlite3_stmt *s, const char *what, qp_error *err)
{
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return sql_fail(db, src, what, err);
    return QP_OK;
}

/* A growable byte buffer for column texts. */
typedef struct buf {
    char *s;
    size_t n, cap;
    bool oom;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + n + 2)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Frontmatter values as text, one per line (keys are not words of it). */
static void props_text(buf *b, const qp_value *v, int depth)
{
    char num[64];
    if (!v || depth > 32)
        return;
    switch (v->type) {
    case QP_VALUE_NULL:
        return;
    case QP_VALUE_BOOL:
        buf_str(b, v->u.b ? "true\n" : "false\n");
        return;
    case QP_VALUE_INT:
        snprintf(num, sizeof num, "%lld\n", (long long)v->u.i);
        buf_str(b, num);
        return;
    case QP_VALUE_REAL:
        snprintf(num, sizeof num, "%g\n", v->u.r);
        buf_str(b, num);
        return;
    case QP_VALUE_STRING:
    case QP_VALUE_DATE:
    case QP_VALUE_DATETIME:
        buf_add(b, v->u.str.s, v->u.str.len);
        buf_str(b, "\n");
        return;
    case QP_VALUE_LIST:
        for (size_t i = 0; i < v->u.list.n; i++)
            props_text(b, &v->u.list.items[i], depth + 1);
        return;
    case QP_VALUE_MAP:
        for (size_t i = 0; i < v->u.map.n; i++)
            props_text(b, &v->u.map.vals[i], depth + 1);
        return;
    }
}

/* Keeps the first of each distinct word of v[0..k) (NUL-terminated), in
 * the order first seen; returns how many. An open-addressing set keyed by
 * XXH3: sorting every word of a note to drop repeats (strcmp in qsort) was
 * a tenth of a cold index's time, on the writer thread. The order of the
 * distinct words does not matter to the delete they serve. */
static size_t distinct_words(const char **v, size_t k)
{
    size_t cap = 16;
    while (cap < 2 * k)
        cap *= 2;
    const char **set = calloc(cap, sizeof *set);
    if (!set)
        return SIZE_MAX;
    size_t nd = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = strlen(v[i]);
        size_t h = (size_t)XXH3_64bits(v[i], len) & (cap - 1);
        while (set[h] && strcmp(set[h], v[i]) != 0)
            h = (h + 1) & (cap - 1);
        if (!set[h])
            set[h] = v[nd++] = v[i];
    }
    free(set);
    return nd;
}

/* The file name without folders and without ".md". */
static void note_name(const char *path, const char **s, size_t *n)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t l = strlen(base);
    if (l >= 3 && (strcmp(base + l - 3, ".md") == 0 || strcmp(base + l - 3, ".MD") == 0))
        l -= 3;
    *s = base;
    *n = l;
}

struct qp__search_doc {
    const char *col[NCOLS]; /* each column's folded words, joined by spaces */
    size_t collen[NCOLS];
    const char *words; /* the distinct words, for the delete */
    size_t wordslen;
    char counts[128]; /* the word count of each column */
};

qp_rc qp__search_doc_make(qp__search_doc **out, const qp_note *note, qp_arena *arena, qp_error *err)
{
    qp_rc rc = QP_OK;
    buf col[NCOLS] = {{0}};
    qp__search_words words[NCOLS];
    const char **distinct = NULL;
    buf dw = {0};
    size_t n;
    qp__search_doc *doc = NULL;
    memset(words, 0, sizeof words);
    *out = NULL;

    const char *name;
    size_t nname;
    note_name(qp_note_path(note), &name, &nname);
    buf_add(&col[0], name, nname);
    const char *title = qp_note_title(note);
    if (title && (strlen(title) != nname || strncmp(title, name, nname) != 0)) {
        buf_str(&col[0], "\n");
        buf_str(&col[0], title);
    }
    const char *const *aliases = qp_note_aliases(note, &n);
    for (size_t i = 0; i < n; i++) {
        buf_str(&col[1], aliases[i]);
        buf_str(&col[1], "\n");
    }
    const qp_heading *hs = qp_note_headings(note, &n);
    for (size_t i = 0; i < n; i++) {
        buf_str(&col[2], hs[i].text ? hs[i].text : "");
        buf_str(&col[2], "\n");
    }
    props_text(&col[3], qp_note_properties(note), 0);
    size_t slen = 0;
    const char *src = qp_note_source(note, &slen);
    buf_add(&col[4], src ? src : "", src ? slen : 0);
    for (int c = 0; c < NCOLS; c++) {
        buf_add(&col[c], "", 0);
        if (col[c].oom)
            goto oom;
        if ((rc = qp__search_words_split(&words[c], col[c].s, col[c].n, err)) != QP_OK)
            goto cleanup;
    }

    /* The distinct words, for the delete. */
    size_t total = 0;
    for (int c = 0; c < NCOLS; c++)
        total += words[c].n;
    distinct = malloc((total + 1) * sizeof *distinct);
    if (!distinct)
        goto oom;
    size_t k = 0;
    for (int c = 0; c < NCOLS; c++) {
        /* Each word ends at a space or the NUL: cut them in place. */
        for (size_t i = 0; i < words[c].n; i++)
            words[c].folded[words[c].v[i].off + words[c].v[i].len] = '\0';
        for (size_t i = 0; i < words[c].n; i++)
            distinct[k++] = words[c].folded + words[c].v[i].off;
    }
    size_t nd = distinct_words(distinct, k);
    if (nd == SIZE_MAX)
        goto oom;
    for (size_t i = 0; i < nd; i++) {
        if (i)
            buf_str(&dw, " ");
        buf_str(&dw, distinct[i]);
    }
    buf_add(&dw, "", 0);
    if (dw.oom || !(doc = qp_arena_alloc(arena, sizeof *doc)))
        goto oom;
    snprintf(doc->counts, sizeof doc->counts, "%zu %zu %zu %zu %zu", words[0].n, words[1].n,
             words[2].n, words[3].n, words[4].n);
    /* Put the spaces back: the folded texts are what FTS5 indexes. */
    for (int c = 0; c < NCOLS; c++) {
        for (size_t i = 0; i + 1 < words[c].n; i++)
            words[c].folded[words[c].v[i].off + words[c].v[i].len] = ' ';
        doc->collen[c] = words[c].nfolded;
        if (!(doc->col[c] = qp_arena_strndup(arena, words[c].folded, words[c].nfolded)))
            goto oom;
    }
    doc->wordslen = dw.n;
    if (!(doc->words = qp_arena_strndup(arena, dw.s, dw.n)))
        goto oom;
    *out = doc;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory indexing %s for search", qp_note_path(note));
cleanup:
    for (int c = 0; c < NCOLS; c++) {
        free(col[c].s);
        qp__search_words_free(&words[c]);
    }
    free(distinct);
    free(dw.s);
    return rc;
}

qp_rc qp__search_put(sqlite3 *db, qp__search_writer **w, int64_t id, const qp_note *note,
                     qp_error *err)
{
    qp_rc rc = writer_get(db, w, err);
    qp_arena *arena = NULL;
    const qp__search_doc *doc = qp__note_search_doc(note);
    if (rc != QP_OK)
        return rc;
    if (!doc) { /* not made beside the parse (qp_ingest_path): made here */
        qp__search_doc *made = NULL;
        if (!(arena = qp_arena_new()))
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        if ((rc = qp__search_doc_make(&made, note, arena, err)) != QP_OK)
            goto cleanup;
        doc = made;
    }
    sqlite3_stmt *s = (*w)->ins_fts;
    sqlite3_bind_int64(s, 1, id);
    for (int c = 0; c < NCOLS; c++)
        sqlite3_bind_text(s, 2 + c, doc->col[c], (int)doc->collen[c], SQLITE_STATIC);
    if ((rc = step(db, s, "insert", err)) != QP_OK)
        goto cleanup;
    s = (*w)->ins_doc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, doc->counts, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, doc->words, (int)doc->wordslen, SQLITE_STATIC);
    rc = step(db, s, "insert doc", err);
cleanup:
    qp_arena_free(arena);
    return rc;
}

qp_rc qp__search_remove(sqlite3 *db, qp__search_writer **w, int64_t id, qp_error *err)
{
    qp_rc rc = writer_get(db, w, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_stmt *g = (*w)->get_doc;
    sqlite3_bind_int64(g, 1, id);
    int src = sqlite3_step(g);
    if (src != SQLITE_ROW) {
        sqlite3_reset(g);
        sqlite3_clear_bindings(g);
        return src == SQLITE_DONE ? QP_OK : sql_fail(db, src, "doc", err);
    }
    unsigned long long cnt[NCOLS] = {0};
    const char *counts = (const char *)sqlite3_column_text(g, 0);
    if (!counts || sscanf(counts, "%llu %llu %llu %llu %llu", &cnt[0], &cnt[1], &cnt[2], &cnt[3],
                          &cnt[4]) != NCOLS)
        memset(cnt, 0, sizeof cnt);
    const char *words = (const char *)sqlite3_column_text(g, 1);
    char *wcopy = strdup(words ? words : "");
    sqlite3_reset(g);
    sqlite3_clear_bindings(g);
    buf col[NCOLS] = {{0}};
    if (!wcopy)
        return qp_error_set(err, QP_ENOMEM, "out of memory");

    /* Spread the distinct words over the columns, each padded with the
     * first word to its count (see the top of the file). */
    const char *first = wcopy;
    size_t firstlen = strcspn(wcopy, " ");
    const char *next = wcopy;
    for (int c = 0; c < NCOLS; c++) {
        buf_add(&col[c], "", 0);
        for (unsigned long long i = 0; i < cnt[c]; i++) {
            if (i)
                buf_str(&col[c], " ");
            if (*next) {
                size_t l = strcspn(next, " ");
                buf_add(&col[c], next, l);
                next += l;
                while (*next == ' ')
                    next++;
            } else {
                buf_add(&col[c], first, firstlen);
            }
        }
    }
    bool oom = false;
    for (int c = 0; c < NCOLS; c++)
        oom |= col[c].oom;
    if (oom) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    sqlite3_stmt *s = (*w)->del_fts;
    sqlite3_bind_int64(s, 1, id);
    for (int c = 0; c < NCOLS; c++)
        sqlite3_bind_text(s, 2 + c, col[c].s, (int)col[c].n, SQLITE_STATIC);
    if ((rc = step(db, s, "delete", err)) != QP_OK)
        goto cleanup;
    s = (*w)->del_doc;
    sqlite3_bind_int64(s, 1, id);
    rc = step(db, s, "delete doc", err);
cleanup:
    for (int c = 0; c < NCOLS; c++)
        free(col[c].s);
    free(wcopy);
    return rc;
}

/* ---- evaluating a query on a note's words ---- */

typedef struct doc_text {
    qp__search_words body; /* the file's words */
    qp__search_words name; /* the file name's words */
    uint32_t *sections;    /* first line of each section after the first (heading lines) */
    size_t nsections;
    const int *leafvals; /* truth of each SQL leaf for this note */
} doc_text;

static bool word_eq(const qp__search_words *w, size_t i, const char *t, bool prefix)
{
    size_t tl = strlen(t);
    const qp__search_word *x = &w->v[i];
    if (prefix ? x->len < tl : x->len != tl)
        return false;
    return memcmp(w->folded + x->off, t, tl) == 0;
}

/* Where TERM t matches words [a, b) of w: index of the first word, or -1. */
static long term_at(const qp__search_words *w, size_t a, size_t b, const qp__sq_node *t,
                    size_t from)
{
    size_t n = t->nwords;
    if (from < a)
        from = a;
    for (size_t i = from; i + n <= b; i++) {
        size_t k = 0;
        while (k < n && word_eq(w, i + k, t->words[k], t->prefix && k + 1 == n))
            k++;
        if (k == n)
            return (long)i;
    }
    return -1;
}

static bool eval_range(const qp__sq_node *n, const doc_text *d, const qp__search_words *w, size_t a,
                       size_t b, bool doc_level);

/* LINE and SECTION: some line (section) of the body holds the child. */
static bool eval_scoped(const qp__sq_node *n, const doc_text *d)
{
    const qp__search_words *w = &d->body;
    size_t i = 0;
    while (i < w->n) {
        size_t j = i + 1;
        if (n->kind == QP__SQ_LINE) {
            while (j < w->n && w->v[j].line == w->v[i].line)
                j++;
        } else {
            /* the section of word i ends before the next heading line after it */
            uint32_t end = UINT32_MAX;
            for (size_t s = 0; s < d->nsections; s++)
                if (d->sections[s] > w->v[i].line) {
                    end = d->sections[s];
                    break;
                }
            while (j < w->n && w->v[j].line < end)
                j++;
        }
        if (eval_range(n->kids[0], d, w, i, j, false))
            return true;
        i = j;
    }
    return false;
}

static bool eval_range(const qp__sq_node *n, const doc_text *d, const qp__search_words *w, size_t a,
                       size_t b, bool doc_level)
{
    switch (n->kind) {
    case QP__SQ_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!eval_range(n->kids[i], d, w, a, b, doc_level))
                return false;
        return true;
    case QP__SQ_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (eval_range(n->kids[i], d, w, a, b, doc_level))
                return true;
        return false;
    case QP__SQ_NOT:
        return !eval_range(n->kids[0], d, w, a, b, doc_level);
    case QP__SQ_TERM:
        if (term_at(w, a, b, n, a) >= 0)
            return true;
        /* At the level of the whole note, the file name counts too. */
        return doc_level && d && term_at(&d->name, 0, d->name.n, n, 0) >= 0;
    case QP__SQ_LINE:
    case QP__SQ_SECTION:
        return d && eval_scoped(n, d);
    default:
        return d && d->leafvals && n->leaf >= 0 && d->leafvals[n->leaf];
    }
}

/* ---- SQL functions for one query ---- */

typedef struct run_ctx {
    const qp_vaultconf *conf;   /* the settings of this search: one snapshot, no lock per row */
    const qp__sq_node **leaves; /* by leaf index */
} run_ctx;

static void fn_fold(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    if (!t) {
        sqlite3_result_null(cx);
        return;
    }
    size_t fl = 0;
    char *f = qp_text_fold(t, (size_t)sqlite3_value_bytes(argv[0]), &fl);
    if (!f) {
        sqlite3_result_error_nomem(cx);
        return;
    }
    sqlite3_result_text(cx, f, (int)fl, free);
}

static void fn_excluded(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const run_ctx *rc = sqlite3_user_data(cx);
    const char *p = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(cx, rc && rc->conf && p && qp_vaultconf_excluded(rc->conf, p));
}

/* qp_search_match(text, leaf): the words of a task's text satisfy the
 * child of task leaf `leaf`. */
static void fn_match(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const run_ctx *rc = sqlite3_user_data(cx);
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    int leaf = sqlite3_value_int(argv[1]);
    if (!rc || !t || leaf < 0 || !rc->leaves[leaf] || rc->leaves[leaf]->nkids == 0) {
        sqlite3_result_int(cx, t != NULL);
        return;
    }
    qp__search_words w;
    if (qp__search_words_split(&w, t, (size_t)sqlite3_value_bytes(argv[0]), NULL) != QP_OK) {
        sqlite3_result_error_nomem(cx);
        return;
    }
    sqlite3_result_int(cx, eval_range(rc->leaves[leaf]->kids[0], NULL, &w, 0, w.n, false));
    qp__search_words_free(&w);
}

static void register_fns(sqlite3 *db, run_ctx *rc)
{
    sqlite3_create_function(db, "qp_search_fold", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            fn_fold, NULL, NULL);
    sqlite3_create_function(db, "qp_search_excluded", 1, SQLITE_UTF8, rc, rc ? fn_excluded : NULL,
                            NULL, NULL);
    sqlite3_create_function(db, "qp_search_match", 2, SQLITE_UTF8, rc, rc ? fn_match : NULL, NULL,
                            NULL);
}

/* ---- building the statement ---- */

typedef struct sql_build {
    buf sql;
    char **binds; /* texts for the ?s, in order; owned */
    size_t nbinds, capbinds;
    bool oom;
} sql_build;

static void bind_add(sql_build *b, const char *s)
{
    if (b->oom)
        return;
    if (b->nbinds == b->capbinds) {
        size_t cap = b->capbinds ? b->capbinds * 2 : 8;
        char **v = realloc(b->binds, cap * sizeof *v);
        if (!v) {
            b->oom = true;
            return;
        }
        b->binds = v;
        b->capbinds = cap;
    }
    char *d = strdup(s);
    if (!d) {
        b->oom = true;
        return;
    }
    b->binds[b->nbinds++] = d;
}

/* True when n is words, phrases, OR, AND and - only, and FTS5 can say
 * exactly which notes it holds (a NOT needs a positive beside it). */
static bool fts_exact(const qp__sq_node *n)
{
    switch (n->kind) {
    case QP__SQ_TERM:
        return true;
    case QP__SQ_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (!fts_exact(n->kids[i]))
                return false;
        return true;
    case QP__SQ_AND: {
        bool pos = false;
        for (size_t i = 0; i < n->nkids; i++) {
            const qp__sq_node *k = n->kids[i];
            if (k->kind == QP__SQ_NOT) {
                if (!fts_exact(k->kids[0]))
                    return false;
            } else if (fts_exact(k)) {
                pos = true;
            } else {
                return false;
            }
        }
        return pos;
    }
    default:
        return false;
    }
}

static void fts_term(buf *b, const qp__sq_node *t)
{
    buf_str(b, "\"");
    for (size_t i = 0; i < t->nwords; i++) {
        if (i)
            buf_str(b, " ");
        buf_str(b, t->words[i]); /* words hold no '"': they are letters, digits, marks, '_' */
    }
    buf_str(b, t->prefix ? "\"*" : "\"");
}

/* A MATCH expression that every note satisfying n satisfies (exact when
 * fts_exact(n)); false when the text gives no necessary condition. Inside
 * line:, section: and task: (`scoped`) a negation says nothing about the
 * rest of the note, so it is left out. */
static bool fts_core(buf *b, const qp__sq_node *n, bool scoped)
{
    switch (n->kind) {
    case QP__SQ_TERM:
        fts_term(b, n);
        return true;
    case QP__SQ_OR: {
        buf tmp = {0};
        for (size_t i = 0; i < n->nkids; i++) {
            if (i)
                buf_str(&tmp, " OR ");
            buf_str(&tmp, "(");
            if (!fts_core(&tmp, n->kids[i], scoped)) {
                free(tmp.s);
                return false;
            }
            buf_str(&tmp, ")");
        }
        buf_add(b, tmp.s ? tmp.s : "", tmp.n);
        b->oom |= tmp.oom;
        free(tmp.s);
        return true;
    }
    case QP__SQ_AND: {
        size_t npos = 0;
        for (size_t i = 0; i < n->nkids; i++) {
            const qp__sq_node *k = n->kids[i];
            if (k->kind == QP__SQ_NOT)
                continue;
            buf tmp = {0};
            if (fts_core(&tmp, k, scoped)) {
                if (npos++)
                    buf_str(b, " AND ");
                buf_str(b, "(");
                buf_add(b, tmp.s, tmp.n);
                buf_str(b, ")");
                b->oom |= tmp.oom;
            }
            free(tmp.s);
        }
        if (npos == 0)
            return false;
        for (size_t i = 0; i < n->nkids; i++) {
            const qp__sq_node *k = n->kids[i];
            if (!scoped && k->kind == QP__SQ_NOT && fts_exact(k->kids[0])) {
                buf_str(b, " NOT (");
                fts_core(b, k->kids[0], false);
                buf_str(b, ")");
            }
        }
        return true;
    }
    case QP__SQ_LINE:
    case QP__SQ_SECTION:
        return fts_core(b, n->kids[0], true);
    case QP__SQ_TASK:
        return n->nkids > 0 && fts_core(b, n->kids[0], true);
    default:
        return false;
    }
}

static void gen(sql_build *b, const qp__sq_node *n);

static void gen_fts_in(sql_build *b, const qp__sq_node *n)
{
    buf e = {0};
    fts_core(&e, n, false);
    buf_add(&e, "", 0);
    if (e.oom)
        b->oom = true;
    buf_str(&b->sql, "f.id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ?)");
    bind_add(b, e.s ? e.s : "");
    free(e.s);
}

static void gen(sql_build *b, const qp__sq_node *n)
{
    if (fts_exact(n)) {
        gen_fts_in(b, n);
        return;
    }
    switch (n->kind) {
    case QP__SQ_AND:
    case QP__SQ_OR:
        buf_str(&b->sql, "(");
        for (size_t i = 0; i < n->nkids; i++) {
            if (i)
                buf_str(&b->sql, n->kind == QP__SQ_AND ? " AND " : " OR ");
            gen(b, n->kids[i]);
        }
        buf_str(&b->sql, ")");
        return;
    case QP__SQ_NOT:
        buf_str(&b->sql, "NOT (");
        gen(b, n->kids[0]);
        buf_str(&b->sql, ")");
        return;
    case QP__SQ_LINE:
    case QP__SQ_SECTION: {
        buf e = {0};
        bool has = fts_core(&e, n, false);
        free(e.s);
        if (has)
            gen_fts_in(b, n); /* necessary; the text decides */
        else
            buf_str(&b->sql, "1");
        return;
    }
    case QP__SQ_PATH:
        buf_str(&b->sql, "instr(f.path_folded, ?) > 0");
        bind_add(b, n->text);
        return;
    case QP__SQ_FILE:
        buf_str(&b->sql, "instr(f.name_folded, ?) > 0");
        bind_add(b, n->text);
        return;
    case QP__SQ_TAG:
        buf_str(&b->sql, "EXISTS (SELECT 1 FROM tags t WHERE t.file = f.id AND (t.tag_folded = ?"
                         " OR substr(t.tag_folded, 1, length(?) + 1) = ? || '/'))");
        bind_add(b, n->text);
        bind_add(b, n->text);
        bind_add(b, n->text);
        return;
    case QP__SQ_PROP:
        buf_str(&b->sql, "EXISTS (SELECT 1 FROM properties p, json_each(p.json) j"
                         " WHERE p.file = f.id AND qp_search_fold(j.key) = ?");
        bind_add(b, n->text);
        if (n->value) {
            buf_str(&b->sql, " AND instr(qp_search_fold(CAST(j.value AS TEXT)), ?) > 0");
            bind_add(b, n->value);
        } else {
            buf_str(&b->sql, " AND j.type <> 'null'");
        }
        buf_str(&b->sql, ")");
        return;
    case QP__SQ_TASK: {
        char leaf[32];
        buf_str(&b->sql, "EXISTS (SELECT 1 FROM tasks t WHERE t.file = f.id");
        if (n->task == QP__SQ_TASK_TODO)
            buf_str(&b->sql, " AND t.symbol = ' '");
        else if (n->task == QP__SQ_TASK_DONE)
            buf_str(&b->sql, " AND t.symbol <> ' '");
        if (n->nkids) {
            snprintf(leaf, sizeof leaf, " AND qp_search_match(t.text, %d)", n->leaf);
            buf_str(&b->sql, leaf);
        }
        buf_str(&b->sql, ")");
        return;
    }
    case QP__SQ_TERM:
        return; /* fts_exact */
    }
}

static void collect_leaves(const qp__sq_node *n, const qp__sq_node **leaves)
{
    if (n->leaf >= 0)
        leaves[n->leaf] = n;
    for (size_t i = 0; i < n->nkids; i++)
        collect_leaves(n->kids[i], leaves);
}

/* The positive terms, tags and tasks of the query (not under a -), for
 * hits; sv[i] is the innermost line:(...) or section:(...) around v[i]
 * (NULL: none), whose line or section must hold for a hit of v[i] to be
 * shown. */
static void collect_terms(const qp__sq_node *n, const qp__sq_node *scope, const qp__sq_node ***v,
                          const qp__sq_node ***sv, size_t *nv, size_t *cap, bool *oom)
{
    if (n->kind == QP__SQ_NOT || *oom)
        return;
    if (n->kind == QP__SQ_TERM || n->kind == QP__SQ_TAG || n->kind == QP__SQ_TASK) {
        if (*nv == *cap) {
            size_t c = *cap ? *cap * 2 : 8;
            const qp__sq_node **nvv = realloc(*v, c * sizeof *nvv);
            if (nvv)
                *v = nvv;
            const qp__sq_node **nsv = nvv ? realloc(*sv, c * sizeof *nsv) : NULL;
            if (!nsv) {
                *oom = true;
                return;
            }
            *sv = nsv;
            *cap = c;
        }
        (*sv)[*nv] = scope;
        (*v)[(*nv)++] = n;
        return; /* a task's words are hit as its line */
    }
    if (n->kind == QP__SQ_LINE || n->kind == QP__SQ_SECTION)
        scope = n;
    for (size_t i = 0; i < n->nkids; i++)
        collect_terms(n->kids[i], scope, v, sv, nv, cap, oom);
}

/* ---- the method ---- */

typedef struct note_row {
    int64_t id;
    char *path, *title, *date;
    int kind;
    bool is_note;
    double score;
} note_row;

static void note_row_free(note_row *r)
{
    free(r->path);
    free(r->title);
    free(r->date);
    memset(r, 0, sizeof *r);
}

static char *dup_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

/* Heading lines of file `id`, sorted. */
static qp_rc heading_lines(qp_store *st, int64_t id, uint32_t **out, size_t *n, qp_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_HEADINGS_OF, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            uint32_t *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                sqlite3_reset(s);
                free(*out);
                *out = NULL;
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            }
            *out = v;
        }
        (*out)[(*n)++] = (uint32_t)sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return qp__store_sqlite_error(st, src, "headings", err);
    }
    return QP_OK;
}

/* Reads a note and cuts it into words; *ok false when it cannot be read
 * (gone since indexed). */
static qp_rc load_doc(qp_store *st, const qp_vault *vault, const note_row *r, bool sections,
                      char **src, size_t *len, doc_text *d, bool *ok, qp_error *err)
{
    qp_file_stat fs;
    qp_error rerr = QP_ERROR_INIT;
    memset(d, 0, sizeof *d);
    *ok = false;
    *src = NULL;
    qp_rc rc = qp_vault_read(vault, r->path, QP_NOTE_MAX_SIZE, src, len, &fs, &rerr);
    if (rc == QP_ENOMEM)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    if (rc != QP_OK)
        return QP_OK;
    if ((rc = qp__search_words_split(&d->body, *src, *len, err)) != QP_OK)
        return rc;
    const char *name;
    size_t nname;
    note_name(r->path, &name, &nname);
    if ((rc = qp__search_words_split(&d->name, name, nname, err)) != QP_OK)
        return rc;
    if (sections && (rc = heading_lines(st, r->id, &d->sections, &d->nsections, err)) != QP_OK)
        return rc;
    *ok = true;
    return QP_OK;
}

static void doc_free(doc_text *d)
{
    qp__search_words_free(&d->body);
    qp__search_words_free(&d->name);
    free(d->sections);
    memset(d, 0, sizeof *d);
}

/* A JSON string of s[0..n), invalid UTF-8 replaced by '?'. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *fixed = malloc(n + 1);
    if (!fixed)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = qp_text_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && l == 1)
            fixed[w++] = '?';
        else {
            memcpy(fixed + w, s + i, l);
            w += l;
        }
        i += l;
    }
    j = json_stringn(fixed, w);
    free(fixed);
    return j;
}

typedef struct hit {
    uint32_t line, col;
    size_t src, len; /* bytes in the source */
} hit;

static int hit_cmp(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->len > y->len ? -1 : x->len < y->len;
}

/* The matches of one result: its lines that hold a hit of a positive term. */
/* The words [*a, *b) of the line (LINE) or the section (SECTION) that
 * word i is in, cut as eval_scoped() cuts the body. */
static void scope_bounds(const qp__sq_node *scope, const doc_text *d, size_t i, size_t *a,
                         size_t *b)
{
    const qp__search_words *w = &d->body;
    if (scope->kind == QP__SQ_LINE) {
        size_t s = i, e = i + 1;
        while (s > 0 && w->v[s - 1].line == w->v[i].line)
            s--;
        while (e < w->n && w->v[e].line == w->v[i].line)
            e++;
        *a = s;
        *b = e;
        return;
    }
    for (size_t s = 0; s < w->n;) {
        uint32_t end = UINT32_MAX;
        for (size_t k = 0; k < d->nsections; k++)
            if (d->sections[k] > w->v[s].line) {
                end = d->sections[k];
                break;
            }
        size_t j = s + 1;
        while (j < w->n && w->v[j].line < end)
            j++;
        if (i < j) {
            *a = s;
            *b = j;
            return;
        }
        s = j;
    }
    *a = *b = i;
}

static json_t *matches_json(const char *src, size_t len, const doc_text *d,
                            const qp__sq_node *const *terms, const qp__sq_node *const *scopes,
                            size_t nterms, hit *hits, size_t nh, size_t cap, size_t *more)
{
    const qp__search_words *w = &d->body;
    json_t *arr = json_array();
    *more = 0;
    if (!arr)
        return NULL;
    for (size_t t = 0; t < nterms; t++) {
        long at = -1;
        size_t from = 0;
        if (terms[t]->kind != QP__SQ_TERM)
            continue;
        while ((at = term_at(w, 0, w->n, terms[t], from)) >= 0) {
            size_t i = (size_t)at, last = i + terms[t]->nwords - 1;
            from = i + 1;
            if (scopes[t]) { /* only where its line:( ) or section:( ) holds */
                size_t a, b;
                scope_bounds(scopes[t], d, i, &a, &b);
                if (!eval_range(scopes[t]->kids[0], d, w, a, b, false))
                    continue;
            }
            if (nh == cap) {
                cap = cap ? cap * 2 : 16;
                hit *nv = realloc(hits, cap * sizeof *nv);
                if (!nv)
                    goto oom;
                hits = nv;
            }
            hits[nh++] = (hit){w->v[i].line, w->v[i].col, w->v[i].src,
                               w->v[last].src + w->v[last].nsrc - w->v[i].src};
        }
    }
    if (nh > 1)
        qsort(hits, nh, sizeof *hits, hit_cmp);
    size_t nlines = 0;
    for (size_t i = 0; i < nh;) {
        size_t j = i;
        while (j < nh && hits[j].line == hits[i].line)
            j++;
        if (nlines++ >= MAX_LINES) {
            (*more)++;
            i = j;
            continue;
        }
        /* The line around the first hit, at most SNIPPET_MAX bytes. */
        size_t ls = hits[i].src - (hits[i].col - 1), le = ls;
        while (le < len && src[le] != '\n')
            le++;
        if (le > ls && src[le - 1] == '\r')
            le--;
        size_t a = ls, b = le;
        if (b - a > SNIPPET_MAX) {
            a = hits[i].src > ls + SNIPPET_MAX / 4 ? hits[i].src - SNIPPET_MAX / 4 : ls;
            while (a > ls && ((unsigned char)src[a] & 0xC0) == 0x80)
                a--;
            b = a + SNIPPET_MAX < le ? a + SNIPPET_MAX : le;
            while (b < le && ((unsigned char)src[b] & 0xC0) == 0x80)
                b++;
        }
        json_t *hs = json_array();
        size_t prev_end = 0;
        for (size_t k = i; k < j && hs; k++) {
            if (k > i && hits[k].src < prev_end)
                continue; /* overlaps the previous hit */
            json_array_append_new(hs, json_pack("{sI sI}", "column", (json_int_t)hits[k].col,
                                                "length", (json_int_t)hits[k].len));
            prev_end = hits[k].src + hits[k].len;
        }
        json_t *m = json_pack("{sI sI so sI so}", "line", (json_int_t)hits[i].line, "column",
                              (json_int_t)hits[i].col, "text", json_text(src + a, b - a),
                              "text_column", (json_int_t)(a - ls + 1), "hits", hs);
        if (!m || json_array_append_new(arr, m) != 0)
            goto oom;
        i = j;
    }
    free(hits);
    return arr;
oom:
    free(hits);
    json_decref(arr);
    return NULL;
}

/* The byte offset where 1-based `line` starts in src, or len. */
static size_t line_offset(const char *src, size_t len, uint32_t line)
{
    size_t off = 0;
    for (uint32_t l = 1; l < line && off < len; l++) {
        const char *nl = memchr(src + off, '\n', len - off);
        if (!nl)
            return len;
        off = (size_t)(nl - src) + 1;
    }
    return off;
}

static bool add_hit(hit **hits, size_t *nh, size_t *cap, hit h)
{
    if (*nh == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        hit *v = realloc(*hits, nc * sizeof *v);
        if (!v)
            return false;
        *hits = v;
        *cap = nc;
    }
    (*hits)[(*nh)++] = h;
    return true;
}

/* Hits of the tag: and task: leaves of the query in note `id`: the tags
 * written in the body, the task lines. */
static qp_rc leaf_hits(qp_store *st, int64_t id, const char *src, size_t len,
                       const qp__sq_node *const *terms, size_t nterms, hit **hits, size_t *nh,
                       size_t *cap, qp_error *err)
{
    sqlite3 *db = qp__store_db(st);
    for (size_t t = 0; t < nterms; t++) {
        const qp__sq_node *n = terms[t];
        sqlite3_stmt *s = NULL;
        const char *sql = n->kind == QP__SQ_TAG
                              ? "SELECT line, col, length(CAST(tag AS BLOB)) FROM tags"
                                " WHERE file = ?1 AND frontmatter = 0 AND (tag_folded = ?2 OR"
                                " substr(tag_folded, 1, length(?2) + 1) = ?2 || '/')"
                              : "SELECT line, indent, length(CAST(raw AS BLOB)), symbol, text"
                                " FROM tasks WHERE file = ?1";
        if (n->kind == QP__SQ_TERM)
            continue;
        int src_rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
        if (src_rc != SQLITE_OK)
            return qp__store_sqlite_error(st, src_rc, "search hits", err);
        sqlite3_bind_int64(s, 1, id);
        if (n->kind == QP__SQ_TAG)
            sqlite3_bind_text(s, 2, n->text, -1, SQLITE_STATIC);
        while ((src_rc = sqlite3_step(s)) == SQLITE_ROW) {
            uint32_t line = (uint32_t)sqlite3_column_int64(s, 0);
            uint32_t col = (uint32_t)sqlite3_column_int64(s, 1) + (n->kind == QP__SQ_TASK);
            size_t hl = (size_t)sqlite3_column_int64(s, 2);
            if (n->kind == QP__SQ_TASK) {
                const char *sym = (const char *)sqlite3_column_text(s, 3);
                const char *text = (const char *)sqlite3_column_text(s, 4);
                bool todo = sym && strcmp(sym, " ") == 0;
                if ((n->task == QP__SQ_TASK_TODO && !todo) || (n->task == QP__SQ_TASK_DONE && todo))
                    continue;
                if (n->nkids && text) {
                    qp__search_words w;
                    if (qp__search_words_split(&w, text, strlen(text), err) != QP_OK) {
                        sqlite3_finalize(s);
                        return QP_ENOMEM;
                    }
                    bool ok = eval_range(n->kids[0], NULL, &w, 0, w.n, false);
                    qp__search_words_free(&w);
                    if (!ok)
                        continue;
                }
                hl = hl > col - 1 ? hl - (col - 1) : 0;
            }
            size_t off = line_offset(src, len, line);
            if (line == 0 || off + col - 1 >= len)
                continue; /* the file changed since it was indexed */
            if (!add_hit(hits, nh, cap, (hit){line, col, off + col - 1, hl})) {
                sqlite3_finalize(s);
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            }
        }
        sqlite3_finalize(s);
        if (src_rc != SQLITE_DONE)
            return qp__store_sqlite_error(st, src_rc, "search hits", err);
    }
    return QP_OK;
}

static qp_rc param_int(json_int_t *out, json_t *params, const char *name, json_int_t def,
                       json_int_t lo, json_int_t hi, qp_error *err)
{
    json_t *v = json_object_get(params, name);
    *out = def;
    if (!v || json_is_null(v))
        return QP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return qp_error_set(err, QP_EINVAL, "param %s: expected an integer from %lld to %lld", name,
                            (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return QP_OK;
}

/* The first tier: the notes whose title, aliases or headings hold the
 * query's words, ranked by BM25 over those columns only (see the top of the
 * file for why the body is not ranked). */
#define TIER1_COLS    "{title aliases headings} : "
#define TIER1_WEIGHTS "10.0, 6.0, 4.0, 0.0, 0.0"
/* Tier 2 is ranked when it holds at most QP__SEARCH_RANK_MAX notes: BM25
 * over that many costs a few milliseconds at 100k notes. */
#define TIER2_WEIGHTS "10.0, 6.0, 4.0, 2.0, 1.0"

/* One search as it runs: the page being filled and the count. */
typedef struct search_run {
    qp_store *st;
    const qp_vault *vault;
    const qp__sq_query *query;
    const qp__sq_node *const *terms;  /* positive terms, tags and tasks: the hits */
    const qp__sq_node *const *scopes; /* the line:/section: around each term, or NULL */
    size_t nterms;
    long long offset, limit;
    long long seen;            /* candidates found to be results so far, in result order */
    long long verified_beyond; /* line:/section: candidates read past the page */
    bool total_exact;
    json_t *results; /* the page */
    int *leafvals;   /* the SQL leaves' truth for the current row (line:/section:) */
    note_row row;    /* the current row */
    char *src;       /* its text and words, when read */
    doc_text d;
} search_run;

/* True when the next candidate is counted without reading it: it is off
 * the page and nothing needs checking in its text, or line:/section: has
 * read its budget of candidates past the page (the total becomes an upper
 * bound, see docs/search.md). */
static bool count_unread(search_run *r)
{
    bool on_page = r->seen >= r->offset && r->seen < r->offset + r->limit;
    if (!r->query->verify && !on_page) {
        r->seen++;
        return true;
    }
    if (r->query->verify && r->seen >= r->offset + r->limit &&
        r->verified_beyond >= VERIFY_COUNT_MAX) {
        r->total_exact = false;
        r->seen++;
        return true;
    }
    return false;
}

/* The candidate in r->row (and r->leafvals): checked in its text when the
 * query has line: or section:, counted, and put on the page when it falls
 * there. */
static qp_rc take(search_run *r, qp_error *err)
{
    qp_rc rc = QP_OK;
    bool readable = false;
    size_t len = 0;
    free(r->src);
    r->src = NULL;
    doc_free(&r->d);
    /* Filters only (path:, [prop], -word): nothing to show from the text. */
    bool need_text = r->query->verify || r->nterms > 0;
    if (need_text && (rc = load_doc(r->st, r->vault, &r->row, r->query->verify, &r->src, &len,
                                    &r->d, &readable, err)) != QP_OK)
        return rc;
    if (r->query->verify) {
        if (r->seen >= r->offset + r->limit)
            r->verified_beyond++;
        r->d.leafvals = r->leafvals;
        if (!readable || !eval_range(r->query->root, &r->d, &r->d.body, 0, r->d.body.n, true))
            return QP_OK;
    }
    bool on_page = r->seen >= r->offset && r->seen < r->offset + r->limit;
    r->seen++;
    if (!on_page)
        return QP_OK;
    size_t more = 0, nh = 0, caph = 0;
    hit *hits = NULL;
    json_t *m = NULL;
    if (readable) {
        rc = leaf_hits(r->st, r->row.id, r->src, len, r->terms, r->nterms, &hits, &nh, &caph, err);
        if (rc != QP_OK) {
            free(hits);
            return rc;
        }
        m = matches_json(r->src, len, &r->d, r->terms, r->scopes, r->nterms, hits, nh, caph, &more);
    } else {
        m = json_array();
    }
    /* The score in 64ths: a binary fraction prints in few digits. */
    json_t *o =
        json_pack("{ss ss so so sf so sI}", "path", r->row.path, "kind",
                  qp_note_kind_name((qp_note_kind)r->row.kind), "title",
                  r->row.title ? json_string(r->row.title) : json_null(), "date",
                  r->row.date ? json_string(r->row.date) : json_null(), "score",
                  round(r->row.score * 64) / 64, "matches", m, "more_matches", (json_int_t)more);
    if (!o || json_array_append_new(r->results, o) != 0)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return QP_OK;
}

/* r->row from a row of the tier-1 or unranked statement: id, path, kind,
 * title, date, is_note, bm25 (or 0) and the leaf values. */
static qp_rc row_from_stmt(search_run *r, sqlite3_stmt *s, bool scored, qp_error *err)
{
    note_row_free(&r->row);
    r->row.id = sqlite3_column_int64(s, 0);
    r->row.path = dup_col(s, 1);
    r->row.kind = sqlite3_column_int(s, 2);
    r->row.title = dup_col(s, 3);
    r->row.date = dup_col(s, 4);
    r->row.is_note = sqlite3_column_int(s, 5) != 0;
    r->row.score = scored ? -sqlite3_column_double(s, 6) : 0.0; /* bm25 is better when lower */
    if (!r->row.path)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    for (size_t i = 0; r->query->verify && i < r->query->nleaves; i++)
        r->leafvals[i] = sqlite3_column_int(s, 7 + (int)i);
    return QP_OK;
}

/* r->row for note `id`, a row of the tier-2 statement (rowid, then the leaf
 * values), whose file row is looked up only now: most rows of that
 * statement are counted, never shown. *found is false when the file has
 * no row (not possible inside the method's read transaction). */
static qp_rc row_by_id(search_run *r, int64_t id, sqlite3_stmt *t2, bool *found, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    *found = false;
    qp_rc rc = qp__store_stmt(&s, r->st, QP__S_FILE_INFO, err);
    if (rc != QP_OK)
        return rc;
    note_row_free(&r->row);
    sqlite3_bind_int64(s, 1, id);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        r->row.id = id;
        r->row.path = dup_col(s, 0);
        r->row.is_note = sqlite3_column_int(s, 1) != 0;
        r->row.kind = sqlite3_column_int(s, 2);
        r->row.title = dup_col(s, 3);
        r->row.date = dup_col(s, 4);
        *found = true;
        if (!r->row.path)
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    } else if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(r->st, src, "search", err);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == QP_OK && r->query->verify && i < r->query->nleaves; i++)
        r->leafvals[i] = sqlite3_column_int(t2, 1 + (int)i);
    return rc;
}

/* ---- tier 1 without a join ---- */

/* *out = the number of rows of search_fts that `match` holds. */
static qp_rc fts_count(long long *out, qp_store *st, const char *match, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(qp__store_db(st),
                                 "SELECT count(*) FROM search_fts WHERE search_fts MATCH ?1", -1,
                                 &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
        src = sqlite3_step(s);
    }
    *out = src == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    qp_rc rc = src == SQLITE_ROW ? QP_OK : qp__store_sqlite_error(st, src, "search", err);
    sqlite3_finalize(s);
    return rc;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A tier-1 match: its BM25 (lower is better), whether the query names it,
 * and its path once the order needs it. */
typedef struct t1_row {
    int64_t id;
    double bm25;
    bool named;
    char *path;
} t1_row;

static int t1_key_cmp(const t1_row *a, const t1_row *b)
{
    if (a->named != b->named)
        return a->named ? -1 : 1;
    return (a->bm25 > b->bm25) - (a->bm25 < b->bm25);
}

static int t1_cmp(const void *pa, const void *pb)
{
    const t1_row *a = pa, *b = pb;
    int c = t1_key_cmp(a, b);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

static int t1_path_cmp(const void *pa, const void *pb)
{
    return strcmp(((const t1_row *)pa)->path, ((const t1_row *)pb)->path);
}

/* The ids of the notes the query names: file name, title or alias equal
 * to `key`, folded (as the ORDER BY of the joined statement says it).
 * Sorted. */
static qp_rc named_ids(int64_t **out, size_t *n, qp_store *st, const char *key, qp_error *err)
{
    static const char sql[] = "SELECT id FROM files WHERE name_folded = ?1"
                              " UNION SELECT id FROM files WHERE title_folded = ?1"
                              " UNION SELECT file FROM aliases WHERE alias_folded = ?1";
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    int src = sqlite3_prepare_v2(qp__store_db(st), sql, -1, &s, NULL);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, "search", err);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            int64_t *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                sqlite3_finalize(s);
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            }
            *out = v;
        }
        (*out)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "search", err);
    if (*n > 1)
        qsort(*out, *n, sizeof **out, id_cmp);
    return QP_OK;
}

/* The paths of rows v[0..n), from the narrow (id, path) index. */
static qp_rc t1_paths(t1_row *v, size_t n, qp_store *st, qp_error *err)
{
    static const char sql[] = "SELECT path FROM files INDEXED BY files_path_of WHERE id = ?1";
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(qp__store_db(st), sql, -1, &s, NULL);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, "search", err);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        if (v[i].path)
            continue;
        sqlite3_bind_int64(s, 1, v[i].id);
        src = sqlite3_step(s);
        if (src == SQLITE_ROW || src == SQLITE_DONE) {
            /* No row cannot happen inside the read transaction; "" keeps
             * the order total. */
            const unsigned char *t = src == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
            if (!(v[i].path = strdup(t ? (const char *)t : "")))
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        } else {
            rc = qp__store_sqlite_error(st, src, "search", err);
        }
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return rc;
}

/* Tier 1 when nothing but the MATCH decides a result (no join needed, no
 * line:/section:): the same rows in the same order as the joined
 * statement (named first, then BM25, then path), but the files table is
 * read only for the page. The joined statement looked up every match's
 * file row and sorted them all with their paths: at 100k notes a common
 * word has thousands of tier-1 notes, and that join was half the search.
 * Here the matches are sorted by (named, BM25) in memory, and paths are
 * read only for the runs of equal keys that reach the page, which is all
 * that the path decides. *ids and *nids receive the tier's ids, sorted, for
 * tier 2 to skip. */
static qp_rc tier1_unjoined(search_run *r, const char *match, const char *key, int64_t **ids,
                            size_t *nids, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    t1_row *v = NULL;
    int64_t *named = NULL;
    size_t n = 0, cap = 0, nnamed = 0;
    *ids = NULL;
    *nids = 0;
    int src = sqlite3_prepare_v2(qp__store_db(r->st),
                                 "SELECT rowid, bm25(search_fts, " TIER1_WEIGHTS ")"
                                 " FROM search_fts WHERE search_fts MATCH ?1",
                                 -1, &s, NULL);
    qp_rc rc = src == SQLITE_OK ? QP_OK : qp__store_sqlite_error(r->st, src, "search", err);
    if (rc != QP_OK)
        goto cleanup;
    sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            t1_row *w = realloc(v, cap * sizeof *w);
            if (!w)
                goto oom;
            v = w;
        }
        v[n++] = (t1_row){sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1), false, NULL};
    }
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(r->st, src, "search", err);
        goto cleanup;
    }
    if (n && (rc = named_ids(&named, &nnamed, r->st, key, err)) != QP_OK)
        goto cleanup;
    for (size_t i = 0; i < n && nnamed; i++)
        v[i].named = bsearch(&v[i].id, named, nnamed, sizeof *named, id_cmp) != NULL;
    if (n > 1)
        qsort(v, n, sizeof *v, t1_cmp);
    /* Each run of equal keys that reaches the page is put in path order. */
    size_t from = (size_t)r->offset, to = from + (size_t)r->limit;
    for (size_t i = 0; i < n && i < to;) {
        size_t j = i + 1;
        while (j < n && t1_key_cmp(&v[i], &v[j]) == 0)
            j++;
        if (j > from && j - i > 1) {
            if ((rc = t1_paths(v + i, j - i, r->st, err)) != QP_OK)
                goto cleanup;
            qsort(v + i, j - i, sizeof *v, t1_path_cmp);
        }
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        if (count_unread(r))
            continue;
        bool found = false;
        if ((rc = row_by_id(r, v[i].id, NULL, &found, err)) != QP_OK)
            goto cleanup;
        r->row.score = -v[i].bm25;
        if (found && (rc = take(r, err)) != QP_OK)
            goto cleanup;
    }
    if (n) {
        if (!(*ids = malloc(n * sizeof **ids)))
            goto oom;
        for (size_t i = 0; i < n; i++)
            (*ids)[i] = v[i].id;
        qsort(*ids, n, sizeof **ids, id_cmp);
        *nids = n;
    }
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    sqlite3_finalize(s);
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
    free(named);
    return rc;
}

/* The conditions of a result beside the MATCH: a note, not excluded, and
 * the parts of the query that the MATCH does not decide exactly. */
static void gen_where(sql_build *b, const qp__sq_node *r, bool excluding)
{
    buf_str(&b->sql, " AND f.is_note = 1");
    if (excluding)
        buf_str(&b->sql, " AND NOT qp_search_excluded(f.path)");
    if (fts_exact(r))
        return;
    if (r->kind == QP__SQ_AND) {
        /* The exact text kids are the MATCH already. */
        for (size_t i = 0; i < r->nkids; i++) {
            const qp__sq_node *k = r->kids[i];
            if (fts_exact(k) || (k->kind == QP__SQ_NOT && fts_exact(k->kids[0])))
                continue;
            buf_str(&b->sql, " AND ");
            gen(b, k);
        }
    } else {
        buf_str(&b->sql, " AND ");
        gen(b, r);
    }
}

/* The SQL leaves as columns, for line:/section:, which evaluates the
 * query on the text with their values. */
static void gen_leafvals(sql_build *b, const qp__sq_query *q, const qp__sq_node *const *leaves)
{
    for (size_t i = 0; q->verify && i < q->nleaves; i++) {
        buf_str(&b->sql, ", ");
        gen(b, leaves[i]);
    }
}

static void sql_build_free(sql_build *b)
{
    for (size_t i = 0; i < b->nbinds; i++)
        free(b->binds[i]);
    free(b->binds);
    free(b->sql.s);
    memset(b, 0, sizeof *b);
}

static qp_rc prepare(sqlite3_stmt **out, qp_store *st, sql_build *b, qp_error *err)
{
    *out = NULL;
    buf_add(&b->sql, "", 0);
    if (b->oom || b->sql.oom)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    int src = sqlite3_prepare_v2(qp__store_db(st), b->sql.s, -1, out, NULL);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, "search", err);
    for (size_t i = 0; i < b->nbinds; i++)
        sqlite3_bind_text(*out, (int)i + 1, b->binds[i], -1, SQLITE_STATIC);
    return QP_OK;
}

/* The tier-2 statement: the rowid of each match (the files row is joined
 * only when a condition needs it: only notes have rows in search_fts), the
 * leaf values, and when `scored` its BM25 over every column, best first;
 * else in rowid order, last added first. */
static void gen_tier2(sql_build *b, const qp__sq_query *q, const qp__sq_node *const *leaves,
                      const char *match, bool excluding, bool scored)
{
    bool join = excluding || !fts_exact(q->root);
    buf_str(&b->sql, "SELECT search_fts.rowid");
    gen_leafvals(b, q, leaves);
    if (scored)
        buf_str(&b->sql, ", bm25(search_fts, " TIER2_WEIGHTS ")");
    buf_str(&b->sql, join ? " FROM search_fts CROSS JOIN files f ON f.id = search_fts.rowid"
                            " WHERE search_fts MATCH ?"
                          : " FROM search_fts WHERE search_fts MATCH ?");
    bind_add(b, match);
    if (join)
        gen_where(b, q->root, excluding);
    if (scored) {
        char order[64]; /* the score's column: after the rowid and the leaf values */
        snprintf(order, sizeof order, " ORDER BY %zu, search_fts.rowid DESC",
                 2 + (q->verify ? q->nleaves : 0));
        buf_str(&b->sql, order);
    } else {
        buf_str(&b->sql, " ORDER BY search_fts.rowid DESC");
    }
}

qp_rc qp__query_search(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                       qp_error *err)
{
    qp_rc rc = QP_OK;
    const char *q = NULL, *cursor = NULL;
    json_int_t limit = DEFAULT_LIMIT;
    bool prefix = true;
    qp__sq_query query = {0};
    sql_build b1 = {0}, b2 = {0}, b3 = {0};
    sqlite3_stmt *s1 = NULL, *s2 = NULL, *s3 = NULL;
    sqlite3 *db = qp__store_db(st);
    const qp__sq_node **leaves = NULL, **terms = NULL, **scopes = NULL;
    size_t nterms = 0, capterms = 0;
    qp_vaultconf *conf = NULL;
    run_ctx rcx = {NULL, NULL};
    buf core = {0}, pos = {0}, t1m = {0};
    char *key = NULL; /* the query folded, to find the note it names */
    int64_t *t1 = NULL;
    size_t nt1 = 0, capt1 = 0;
    search_run r = {0};
    *out = NULL;

    if ((rc = qp__query_param_string(&q, params, "query", true, err)) != QP_OK ||
        (rc = qp__query_param_string(&cursor, params, "cursor", false, err)) != QP_OK ||
        (rc = param_int(&limit, params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, err)) != QP_OK)
        return rc;
    json_t *jp = json_object_get(params, "prefix");
    if (jp && !json_is_null(jp)) {
        if (!json_is_boolean(jp))
            return qp_error_set(err, QP_EINVAL, "param prefix: expected a boolean");
        prefix = json_is_true(jp);
    }
    long long offset = 0;
    if (cursor) {
        char *end = NULL;
        offset = strtoll(cursor, &end, 10);
        if (!*cursor || *end || offset < 0)
            return qp_error_set(err, QP_EINVAL, "param cursor: not a cursor of this method");
    }
    if (!vault)
        return qp_error_set(err, QP_EINVAL, "search needs the vault to read notes");
    if ((rc = qp__sq_parse(&query, q, prefix, err)) != QP_OK)
        return rc;
    r.results = json_array();
    if (!r.results)
        goto oom;
    if (!query.root) {
        *out = json_pack("{sI so sn}", "total", (json_int_t)0, "results", r.results, "next_cursor");
        r.results = NULL;
        rc = *out ? QP_OK : qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    leaves = calloc(query.nleaves + 1, sizeof *leaves);
    r.leafvals = calloc(query.nleaves + 1, sizeof *r.leafvals);
    if (!leaves || !r.leafvals)
        goto oom;
    collect_leaves(query.root, leaves);
    bool oom = false;
    collect_terms(query.root, NULL, &terms, &scopes, &nterms, &capterms, &oom);
    if (oom)
        goto oom;
    r.st = st;
    r.vault = vault;
    r.query = &query;
    r.terms = terms;
    r.scopes = scopes;
    r.nterms = nterms;
    r.offset = offset;
    r.limit = limit;
    r.total_exact = true;

    /* The settings once for the whole search; a vault that excludes nothing
     * is not asked per note. */
    conf = qp_vault_conf(vault);
    bool excluding = qp_vaultconf_filter_count(conf) > 0;
    rcx.conf = conf;
    rcx.leaves = leaves;
    register_fns(db, &rcx);

    bool ranked = fts_core(&core, query.root, false);
    buf_add(&core, "", 0);
    /* Nothing but the MATCH decides a result: tier 1 needs no join. */
    bool unjoined = ranked && !excluding && !query.verify && fts_exact(query.root);
    if (!ranked) {
        /* Filters only: every note they hold, by path. */
        buf_str(&b1.sql, "SELECT f.id, f.path, f.kind, f.title, f.date, f.is_note, 0.0");
        gen_leafvals(&b1, &query, leaves);
        buf_str(&b1.sql, " FROM files f WHERE 1");
        gen_where(&b1, query.root, true);
        buf_str(&b1.sql, " ORDER BY f.path");
    } else {
        /* Tier 1: BM25 needs every row before the first is known, so it
         * runs only on the notes whose title, aliases or headings hold the
         * words (few, even when the words are common). Without a - in the
         * text part, that column filter implies the query's MATCH. */
        fts_core(&pos, query.root, true);
        buf_add(&pos, "", 0);
        if (core.oom || pos.oom)
            goto oom;
        if (strcmp(core.s, pos.s) != 0) {
            buf_str(&t1m, "(");
            buf_str(&t1m, core.s);
            buf_str(&t1m, ") AND ");
        }
        buf_str(&t1m, TIER1_COLS "(");
        buf_str(&t1m, pos.s);
        buf_str(&t1m, ")");
        buf_add(&t1m, "", 0);
        /* A note named by the query (its file name, title or an alias, as
         * a link would name it) comes first: searching for a person finds
         * the person's note before the meetings that repeat the name. */
        size_t kb = strspn(q, " \t"), ke = strlen(q);
        while (ke > kb && (q[ke - 1] == ' ' || q[ke - 1] == '\t'))
            ke--;
        key = qp_text_fold(q + kb, ke - kb, NULL);
        if (t1m.oom || !key)
            goto oom;
        if (!unjoined) {
            buf_str(&b1.sql, "SELECT f.id, f.path, f.kind, f.title, f.date, f.is_note,"
                             " bm25(search_fts, " TIER1_WEIGHTS ")");
            gen_leafvals(&b1, &query, leaves);
            buf_str(&b1.sql, " FROM search_fts CROSS JOIN files f ON f.id = search_fts.rowid"
                             " WHERE search_fts MATCH ?");
            bind_add(&b1, t1m.s);
            gen_where(&b1, query.root, excluding);
            buf_str(&b1.sql,
                    " ORDER BY (f.name_folded = ? OR f.title_folded = ? OR EXISTS (SELECT 1"
                    " FROM aliases a WHERE a.file = f.id AND a.alias_folded = ?)) IS 1 DESC,"
                    " 7, f.path");
            for (int i = 0; i < 3; i++)
                bind_add(&b1, key);
        }

        /* Tier 2: the other matches. When there are few, ranked by BM25
         * over every column; else in the index's own order (rowid, the
         * note added last first), so that SQLite streams them without a
         * sort and counting them all costs one pass over the postings. */
        gen_tier2(&b2, &query, leaves, core.s, excluding, false);
        gen_tier2(&b3, &query, leaves, core.s, excluding, true);
    }
    if ((!unjoined && (rc = prepare(&s1, st, &b1, err)) != QP_OK) ||
        (ranked && (rc = prepare(&s2, st, &b2, err)) != QP_OK))
        goto cleanup;

    int src_rc;
    if (unjoined) {
        if ((rc = tier1_unjoined(&r, t1m.s, key, &t1, &nt1, err)) != QP_OK)
            goto cleanup;
    } else {
        while ((src_rc = sqlite3_step(s1)) == SQLITE_ROW) {
            if (ranked) {
                if (nt1 == capt1) {
                    capt1 = capt1 ? capt1 * 2 : 64;
                    int64_t *v = realloc(t1, capt1 * sizeof *v);
                    if (!v)
                        goto oom;
                    t1 = v;
                }
                t1[nt1++] = sqlite3_column_int64(s1, 0);
            }
            if (count_unread(&r))
                continue;
            if ((rc = row_from_stmt(&r, s1, ranked, err)) != QP_OK || (rc = take(&r, err)) != QP_OK)
                goto cleanup;
        }
        if (src_rc != SQLITE_DONE) {
            rc = qp__store_sqlite_error(st, src_rc, "search", err);
            goto cleanup;
        }
        if (nt1 > 1)
            qsort(t1, nt1, sizeof *t1, id_cmp);
    }
    if (ranked) {
        /* Counted first, up to the bound: few are ranked, many stream.
         * Without line:/section: a tier-2 match is a result as it stands,
         * so this pass also keeps the ids that fall on the page and, past
         * the bound, goes on counting: one pass over the postings. */
        long long base = r.seen; /* tier-2 match k is result base + k */
        long long lo = r.offset - base, hi = r.offset + r.limit - base;
        int64_t *page = NULL;
        size_t n2 = 0, npage = 0;
        /* When the MATCH alone decides, count(*) counts the tier (tier 1
         * is inside the MATCH), and the pass stops once the page is full:
         * a row handed up to here costs more than one counted inside. */
        long long counted = -1;
        if (unjoined && (rc = fts_count(&counted, st, core.s, err)) != QP_OK)
            goto cleanup;
        if (counted >= 0)
            counted -= (long long)nt1;
        if (!query.verify && hi > 0 && !(page = malloc((size_t)r.limit * sizeof *page)))
            goto oom;
        src_rc = SQLITE_DONE;
        while ((counted < 0 || (counted > QP__SEARCH_RANK_MAX && (long long)n2 < hi)) &&
               (src_rc = sqlite3_step(s2)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(s2, 0);
            if (nt1 && bsearch(&id, t1, nt1, sizeof *t1, id_cmp))
                continue;
            if (page && (long long)n2 >= lo && (long long)n2 < hi)
                page[npage++] = id;
            if (++n2 > QP__SEARCH_RANK_MAX && query.verify)
                break;
        }
        if (src_rc != SQLITE_DONE && src_rc != SQLITE_ROW) {
            free(page);
            rc = qp__store_sqlite_error(st, src_rc, "search", err);
            goto cleanup;
        }
        if (counted >= 0)
            n2 = (size_t)counted;
        bool rank2 = n2 <= QP__SEARCH_RANK_MAX;
        if (!rank2 && !query.verify) {
            /* The page in index order, and the count. */
            for (size_t i = 0; i < npage; i++) {
                bool found = false;
                r.seen = base + (lo > 0 ? lo : 0) + (long long)i;
                if ((rc = row_by_id(&r, page[i], s2, &found, err)) != QP_OK ||
                    (found && (rc = take(&r, err)) != QP_OK)) {
                    free(page);
                    goto cleanup;
                }
            }
            free(page);
            r.seen = base + (long long)n2;
            goto counted;
        }
        free(page);
        sqlite3_stmt *t2 = s2;
        if (rank2) {
            if ((rc = prepare(&s3, st, &b3, err)) != QP_OK)
                goto cleanup;
            t2 = s3;
        } else {
            sqlite3_reset(s2);
        }
        int score_col = 1 + (query.verify ? (int)query.nleaves : 0);
        while ((src_rc = sqlite3_step(t2)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(t2, 0);
            if (nt1 && bsearch(&id, t1, nt1, sizeof *t1, id_cmp))
                continue; /* a tier-1 note */
            if (count_unread(&r))
                continue;
            bool found = false;
            if ((rc = row_by_id(&r, id, t2, &found, err)) != QP_OK)
                goto cleanup;
            if (rank2)
                r.row.score = -sqlite3_column_double(t2, score_col);
            if (found && (rc = take(&r, err)) != QP_OK)
                goto cleanup;
        }
        if (src_rc != SQLITE_DONE) {
            rc = qp__store_sqlite_error(st, src_rc, "search", err);
            goto cleanup;
        }
    }
counted:;
    long long total = r.seen;
    json_t *next = offset + limit < total ? json_sprintf("%lld", offset + limit) : json_null();
    *out = json_pack("{sI so so}", "total", (json_int_t)total, "results", r.results, "next_cursor",
                     next);
    r.results = NULL;
    if (!*out)
        goto oom;
    if (!r.total_exact)
        json_object_set_new(*out, "total_exact", json_false());
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    sqlite3_finalize(s1);
    sqlite3_finalize(s2);
    sqlite3_finalize(s3);
    register_fns(db, NULL);
    qp_vaultconf_free(conf);
    json_decref(r.results);
    sql_build_free(&b1);
    sql_build_free(&b2);
    sql_build_free(&b3);
    free(core.s);
    free(pos.s);
    free(t1m.s);
    free(key);
    free(t1);
    free(leaves);
    free(r.leafvals);
    free(terms);
    free(scopes);
    note_row_free(&r.row);
    free(r.src);
    doc_free(&r.d);
    qp__sq_free(&query);
    return rc;
}
