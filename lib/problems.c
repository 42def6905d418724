/*
 * problems — everything the index knows is wrong (problems), unresolved
 * links grouped by target (unresolved), and the per-kind counts of status
 * (docs/protocol.md).
 *
 * Problems are gathered kind by kind with one scan each (unresolved links,
 * links whose subpath misses, the parser's diagnostics, ```tasks blocks
 * that do not compile, "Mentioned in" drift of person notes) into lean
 * records (file, line, column, kind, strings in one pool), sorted by path,
 * line and column, and only the asked page becomes JSON: a vault can hold
 * hundreds of thousands of them.
 *
 * Drift of one note (the `note` param) is exactly the `mentions` method's
 * missing and stale lists, plain-text mentions included. Vault-wide it
 * counts the meetings that link to each person: plain-text mentions need
 * every meeting's text, a `mentions` call per person. A Recent Context
 * line whose meeting does not link the person is checked with `mentions`
 * for that person before it is called stale, so a stale line is never a
 * plain-text mention.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "methods_int.h"
#include "quipu/ingest.h"
#include "quipu/query.h"
#include "quipu/taskquery.h"
#include "quipu/text.h"

enum {
    K_UNRESOLVED_LINK = 0,
    K_UNRESOLVED_SUBPATH,
    K_FRONTMATTER,
    K_SIZE,
    K_BINARY,
    K_ENCODING,
    K_TASKS_QUERY,
    K_MENTIONS_MISSING,
    K_MENTIONS_STALE,
    K_COUNT
};

static const char *const kind_names[K_COUNT] = {
    "unresolved_link", "unresolved_subpath", "frontmatter",      "size",          "binary",
    "encoding",        "tasks_query",        "mentions_missing", "mentions_stale"};

enum {
    SEV_ERROR = 0,
    SEV_WARNING,
    SEV_INFO
};
static const char *const sev_names[] = {"error", "warning", "information"};

/* One problem. Strings are offsets into the pool (0 = none: the pool
 * starts with a NUL). */
typedef struct rec {
    int64_t file;
    uint32_t line, col;
    uint8_t kind, sev;
    bool embed;
    uint32_t block_line;
    size_t msg, a, b, c; /* a, b, c: per kind, see rec_json */
} rec;

typedef struct ctx {
    qp_store *st;
    const qp_vault *vault;
    int64_t only; /* a file id, or 0 for the vault */
    bool want[K_COUNT];
    bool records; /* false: count only */
    size_t counts[K_COUNT];
    rec *v;
    size_t n, cap;
    char *pool;
    size_t plen, pcap;
    bool oom;
} ctx;

static size_t pool_add(ctx *c, const char *s)
{
    if (!s)
        return 0;
    size_t l = strlen(s) + 1;
    if (c->plen + l > c->pcap) {
        size_t nc = c->pcap ? c->pcap * 2 : 4096;
        while (nc < c->plen + l)
            nc *= 2;
        char *np = realloc(c->pool, nc);
        if (!np) {
            c->oom = true;
            return 0;
        }
        c->pool = np;
        c->pcap = nc;
    }
    memcpy(c->pool + c->plen, s, l);
    c->plen += l;
    return c->plen - l;
}

/* Adds a problem of `kind` (counted always, kept only when records are
 * wanted); the returned record (NULL when not kept) takes the strings. */
static rec *add(ctx *c, int kind, int sev, int64_t file, uint32_t line, uint32_t col,
                const char *msg)
{
    c->counts[kind]++;
    if (!c->records)
        return NULL;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        rec *nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) {
            c->oom = true;
            return NULL;
        }
        c->v = nv;
        c->cap = nc;
    }
    rec *r = &c->v[c->n++];
    memset(r, 0, sizeof *r);
    r->file = file;
    r->line = line;
    r->col = line > 0 && col == 0 ? 1 : col; /* a line's problem without a column: its start */
    r->kind = (uint8_t)kind;
    r->sev = (uint8_t)sev;
    r->msg = pool_add(c, msg);
    return r;
}

static const char *pool_str(const ctx *c, size_t off)
{
    return off ? c->pool + off : NULL;
}

/* Prepares head + tail, with " AND col = ?1" between them (bound) when the
 * scan is about one file: separate statements, so that the one-file scan
 * uses the column's index (an "?1 = 0 OR" would make every scan full). */
static qp_rc scan_prepare(ctx *c, sqlite3_stmt **s, const char *head, const char *col,
                          const char *tail, qp_error *err)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "%s%s%s%s%s", head, c->only ? " AND " : "", c->only ? col : "",
             c->only ? " = ?1" : "", tail);
    qp_rc rc = qp__mprepare(s, c->st, sql, err);
    if (rc == QP_OK && c->only)
        sqlite3_bind_int64(*s, 1, c->only);
    return rc;
}

/* ---- unresolved links ---- */

static qp_rc scan_unresolved(ctx *c, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    qp_rc rc = scan_prepare(c, &s,
                            "SELECT l.src, l.line, l.col, l.target, l.subpath, l.embed FROM links l"
                            " WHERE l.dst IS NULL AND l.target <> ''",
                            "l.src", "", err);
    if (rc != QP_OK)
        return rc;
    int src;
    char msg[QP_ERROR_MSG_MAX];
    while ((src = sqlite3_step(s)) == SQLITE_ROW && !c->oom) {
        const char *target = (const char *)sqlite3_column_text(s, 3);
        const char *sub = (const char *)sqlite3_column_text(s, 4);
        bool embed = sqlite3_column_int(s, 5) != 0;
        snprintf(msg, sizeof msg, "unresolved %s: %s%s", embed ? "embed" : "link",
                 target ? target : "", sub ? sub : "");
        rec *r =
            add(c, K_UNRESOLVED_LINK, SEV_WARNING, sqlite3_column_int64(s, 0),
                (uint32_t)sqlite3_column_int64(s, 1), (uint32_t)sqlite3_column_int64(s, 2), msg);
        if (r) {
            r->a = pool_add(c, target);
            r->b = pool_add(c, sub);
            r->embed = embed;
        }
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return qp__store_sqlite_error(c->st, src, "links", err);
    return QP_OK;
}

/* ---- unresolved subpaths ---- */

static qp_rc scan_subpaths(ctx *c, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    qp__mrefs refs;
    int64_t loaded = 0;
    memset(&refs, 0, sizeof refs);
    /* Grouped by target, so each target's headings load once. */
    qp_rc rc = scan_prepare(c, &s,
                            "SELECT l.src, l.line, l.col, l.target, l.subpath, l.dst, t.path"
                            " FROM links l JOIN files t ON t.id = l.dst"
                            " WHERE l.subpath IS NOT NULL AND l.subpath <> '#' AND t.is_note = 1",
                            "l.src", " ORDER BY l.dst", err);
    if (rc != QP_OK)
        return rc;
    int src;
    char msg[QP_ERROR_MSG_MAX];
    while ((src = sqlite3_step(s)) == SQLITE_ROW && !c->oom) {
        int64_t dst = sqlite3_column_int64(s, 5);
        if (dst != loaded) {
            qp__mrefs_free(&refs);
            if ((rc = qp__mrefs_load(&refs, c->st, dst, err)) != QP_OK)
                break;
            loaded = dst;
        }
        const char *sub = (const char *)sqlite3_column_text(s, 4);
        uint32_t line = 0;
        bool found = false;
        if ((rc = qp__msubpath_find(&found, &line, sub, &refs, err)) != QP_OK)
            break;
        if (found)
            continue;
        const char *path = (const char *)sqlite3_column_text(s, 6);
        bool block = sub && (sub[0] == '#' ? sub[1] : sub[0]) == '^';
        snprintf(msg, sizeof msg, "%s not found in %s: %s", block ? "block" : "heading", path, sub);
        rec *r =
            add(c, K_UNRESOLVED_SUBPATH, SEV_WARNING, sqlite3_column_int64(s, 0),
                (uint32_t)sqlite3_column_int64(s, 1), (uint32_t)sqlite3_column_int64(s, 2), msg);
        if (r) {
            r->a = pool_add(c, (const char *)sqlite3_column_text(s, 3));
            r->b = pool_add(c, sub);
            r->c = pool_add(c, path);
        }
    }
    sqlite3_finalize(s);
    qp__mrefs_free(&refs);
    if (rc == QP_OK && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = qp__store_sqlite_error(c->st, src, "links", err);
    return rc;
}

/* ---- the parser's diagnostics ---- */

/* The kind of a stored diagnostic: ingest's problems (quipu/ingest.h) by
 * their message, the parser's encoding reports by theirs (lib/note.c); the
 * rest come from the frontmatter parser. */
static int diag_kind(const char *msg)
{
    switch (qp_ingest_problem_of(msg)) {
    case QP_INGEST_TOO_BIG:
        return K_SIZE;
    case QP_INGEST_BINARY:
        return K_BINARY;
    case QP_INGEST_NOT_UTF8:
        return K_ENCODING;
    case QP_INGEST_OK:
        break;
    }
    if (strncmp(msg, "NUL byte", 8) == 0)
        return K_BINARY;
    if (strncmp(msg, "invalid UTF-8", 13) == 0)
        return K_ENCODING;
    if (strncmp(msg, "note is ", 8) == 0)
        return K_SIZE;
    return K_FRONTMATTER;
}

static qp_rc scan_diags(ctx *c, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    /* A note with a few invalid bytes has both ingest's file-wide problem
     * and the parser's report of the first one, with its line: one
     * problem, the one with the line. */
    qp_rc rc =
        scan_prepare(c, &s, "SELECT file, severity, line, col, msg FROM diags d WHERE 1", "d.file",
                     " AND NOT (msg = ?2 AND EXISTS (SELECT 1 FROM diags e WHERE e.file ="
                     " d.file AND e.msg LIKE 'invalid UTF-8 at offset %'))",
                     err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_text(s, 2, qp_ingest_problem_message(QP_INGEST_NOT_UTF8), -1, SQLITE_STATIC);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW && !c->oom) {
        const char *msg = (const char *)sqlite3_column_text(s, 4);
        int kind = diag_kind(msg ? msg : "");
        if (!c->want[kind])
            continue;
        int sev = sqlite3_column_int(s, 1) == 1 ? SEV_ERROR : SEV_WARNING; /* QP_DIAG_ERROR */
        if (kind == K_FRONTMATTER)
            sev = SEV_ERROR; /* the properties are lost */
        add(c, kind, sev, sqlite3_column_int64(s, 0), (uint32_t)sqlite3_column_int64(s, 2),
            (uint32_t)sqlite3_column_int64(s, 3), msg);
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return qp__store_sqlite_error(c->st, src, "diagnostics", err);
    return QP_OK;
}

/* ---- ```tasks blocks ---- */

/* Whether a block compiles depends only on its text and the note it is in
 * (placeholders), and a vault holds thousands of blocks that rarely change:
 * status compiled all of them (5,000 at 100k notes, ~20 ms) after every
 * commit. The result of each (text, path) is kept on the store's
 * connection, by its XXH3 hash (a collision would take a wrong answer for
 * one block's diagnostic, at odds of 2^-64 per pair), in an open-addressed
 * table that is emptied when it grows past MEMO_MAX entries. */
#define MEMO_MAX (1u << 17)

typedef struct memo_ent {
    uint64_t key;       /* 0: empty (a key of 0 is stored as 1) */
    uint32_t line, col; /* of the error, or 0 0 when the block compiles */
    char *msg;          /* the error, or NULL */
} memo_ent;

typedef struct memo {
    memo_ent *v;
    size_t cap, n; /* cap a power of two, n < cap / 2 */
} memo;

static void memo_clear(memo *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].msg);
    free(m->v);
    m->v = NULL;
    m->cap = m->n = 0;
}

static void memo_free(void *p)
{
    memo *m = p;
    if (m) {
        memo_clear(m);
        free(m);
    }
}

static memo_ent *memo_slot(memo *m, uint64_t key)
{
    size_t i = (size_t)key & (m->cap - 1);
    while (m->v[i].key != 0 && m->v[i].key != key)
        i = (i + 1) & (m->cap - 1);
    return &m->v[i];
}

/* The entry of `key`, existing or new (key set, nothing else); NULL on OOM. */
static memo_ent *memo_put(memo *m, uint64_t key)
{
    if (m->n + 1 > MEMO_MAX)
        memo_clear(m);
    if ((m->n + 1) * 2 > m->cap) {
        memo bigger = {calloc(m->cap ? m->cap * 2 : 1024, sizeof(memo_ent)),
                       m->cap ? m->cap * 2 : 1024, 0};
        if (!bigger.v)
            return NULL;
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i].key != 0) {
                *memo_slot(&bigger, m->v[i].key) = m->v[i];
                bigger.n++;
            }
        free(m->v);
        *m = bigger;
    }
    memo_ent *e = memo_slot(m, key);
    if (e->key == 0) {
        e->key = key;
        m->n++;
    }
    return e;
}

/* The memo's key of a block: its text, seeded by its note's path (no
 * allocation: this runs for every block of the vault per status). */
static uint64_t block_key(const char *text, const char *path)
{
    uint64_t k = XXH3_64bits_withSeed(text, strlen(text), XXH3_64bits(path, strlen(path)));
    return k ? k : 1;
}

static qp_rc scan_queries(ctx *c, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    qp_rc rc = scan_prepare(c, &s,
                            "SELECT q.file, q.line, q.query, f.path FROM query_blocks q"
                            " JOIN files f ON f.id = q.file WHERE 1",
                            "q.file", "", err);
    if (rc != QP_OK)
        return rc;
    void **slot = qp__store_memo(c->st, memo_free);
    if (!*slot)
        *slot = calloc(1, sizeof(memo));
    memo *m = *slot; /* NULL on OOM: every block is compiled */
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW && !c->oom) {
        const char *text = (const char *)sqlite3_column_text(s, 2);
        const char *path = (const char *)sqlite3_column_text(s, 3);
        text = text ? text : "";
        path = path ? path : "";
        uint64_t key = m ? block_key(text, path) : 0; /* 0: not kept */
        const memo_ent *e = NULL;
        memo_ent fresh = {0}; /* compiled now, when the memo has no entry */
        if (key && m->cap) {
            e = memo_slot(m, key);
            e = e->key == key ? e : NULL;
        }
        if (!e) {
            qp_taskquery *q = NULL;
            qp_taskquery_options opts = QP_TASKQUERY_OPTIONS_INIT;
            qp_error qerr = QP_ERROR_INIT;
            opts.today = 20000101; /* syntax does not depend on the day */
            opts.query_path = path;
            qp_rc qrc = qp_taskquery_compile(&q, text, &opts, &qerr);
            qp_taskquery_free(q);
            if (qrc == QP_ENOMEM || (qrc == QP_EQUERY && (fresh.msg = strdup(qerr.msg)) == NULL)) {
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                break;
            }
            if (fresh.msg) {
                fresh.line = (uint32_t)(qerr.line > 0 ? qerr.line : 1);
                fresh.col = (uint32_t)(qerr.col > 0 ? qerr.col : 1);
            }
            memo_ent *kept = key ? memo_put(m, key) : NULL;
            if (kept) { /* the memo owns the message from here */
                kept->line = fresh.line;
                kept->col = fresh.col;
                kept->msg = fresh.msg;
                fresh.msg = NULL;
                e = kept;
            } else {
                e = &fresh;
            }
        }
        if (e->msg) {
            uint32_t fence = (uint32_t)sqlite3_column_int64(s, 1);
            rec *r = add(c, K_TASKS_QUERY, SEV_ERROR, sqlite3_column_int64(s, 0), fence + e->line,
                         e->col, e->msg);
            if (r)
                r->block_line = fence;
        }
        free(fresh.msg);
    }
    sqlite3_finalize(s);
    if (rc == QP_OK && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = qp__store_sqlite_error(c->st, src, "query blocks", err);
    return rc;
}

/* ---- "Mentioned in" drift ---- */

/* The line of the person's "## Recent Context" heading, else 1. */
static qp_rc recent_context_line(uint32_t *out, qp_store *st, int64_t file, qp_error *err)
{
    qp__mrefs r;
    *out = 1;
    qp_rc rc = qp__mrefs_load(&r, st, file, err);
    if (rc != QP_OK)
        return rc;
    for (size_t i = 0; i < r.nh; i++) {
        char *k = qp__heading_key(r.h[i].text);
        bool hit = k && strcmp(k, "recent context") == 0;
        free(k);
        if (hit) {
            *out = r.h[i].line;
            break;
        }
    }
    qp__mrefs_free(&r);
    return QP_OK;
}

static void add_missing(ctx *c, int64_t person, uint32_t line, const char *path, const char *title,
                        const char *date)
{
    char msg[QP_ERROR_MSG_MAX];
    const char *name = title ? title : path;
    bool dated = date && strncmp(name, date, strlen(date)) != 0; /* titles may start with it */
    snprintf(msg, sizeof msg, "missing from Recent Context: %s%s%s", dated ? date : "",
             dated ? " " : "", name);
    rec *r = add(c, K_MENTIONS_MISSING, SEV_INFO, person, line, 1, msg);
    if (r) {
        r->a = pool_add(c, path);
        r->b = pool_add(c, title);
        r->c = pool_add(c, date);
    }
}

static void add_stale(ctx *c, int64_t person, uint32_t line, const char *title)
{
    char msg[QP_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg,
             "stale Recent Context line: no meeting titled \"%s\" mentions this note",
             title ? title : "");
    rec *r = add(c, K_MENTIONS_STALE, SEV_WARNING, person, line, 1, msg);
    if (r)
        r->b = pool_add(c, title);
}

/* Exact drift of one person from the `mentions` method. */
static qp_rc drift_exact(ctx *c, int64_t person, const char *path, qp_error *err)
{
    char *params = NULL, *text = NULL;
    json_t *res = NULL, *p = json_pack("{ss}", "note", path);
    qp_rc rc = QP_OK;
    if (!p || !(params = json_dumps(p, JSON_COMPACT))) {
        json_decref(p);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    json_decref(p);
    rc = qp_query_run(&text, c->st, c->vault, "mentions", params, err);
    free(params);
    if (rc != QP_OK)
        return rc;
    res = json_loads(text, 0, NULL);
    free(text);
    if (!res)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    uint32_t rline = 1;
    json_t *missing = json_object_get(res, "missing");
    if (c->want[K_MENTIONS_MISSING] && json_array_size(missing) > 0)
        rc = recent_context_line(&rline, c->st, person, err);
    size_t i;
    json_t *v;
    json_t *mentioned = json_object_get(res, "mentioned_in");
    json_array_foreach(missing, i, v)
    {
        if (rc != QP_OK || !c->want[K_MENTIONS_MISSING])
            break;
        const char *mp = json_string_value(v);
        const char *title = NULL, *date = NULL;
        size_t k;
        json_t *m;
        json_array_foreach(mentioned, k,
                           m) if (strcmp(json_string_value(json_object_get(m, "path")), mp) == 0)
        {
            title = json_string_value(json_object_get(m, "title"));
            date = json_string_value(json_object_get(m, "date"));
            break;
        }
        add_missing(c, person, rline, mp, title, date);
    }
    json_array_foreach(json_object_get(res, "stale"), i, v)
    {
        if (rc != QP_OK || !c->want[K_MENTIONS_STALE])
            break;
        add_stale(c, person, (uint32_t)json_integer_value(json_object_get(v, "line")),
                  json_string_value(json_object_get(v, "title")));
    }
    json_decref(res);
    return rc;
}

typedef struct linked_meeting {
    int64_t id;
    char *path, *title, *date;
    bool listed;
} linked_meeting;

/* Vault-wide drift of one person: the meetings that link to it against
 * its Recent Context lines. */
static qp_rc drift_linked(ctx *c, int64_t person, sqlite3_stmt *meetings, sqlite3_stmt *lines,
                          sqlite3_stmt *by_title, qp_error *err)
{
    linked_meeting *lm = NULL;
    size_t nlm = 0, cap = 0;
    qp_rc rc = QP_OK;
    int src;
    typedef struct lline {
        uint32_t line;
        char *title;
        int64_t meeting;
    } lline;
    lline *ll = NULL;
    size_t nll = 0, capl = 0;

    sqlite3_reset(meetings);
    sqlite3_bind_int64(meetings, 1, person);
    while ((src = sqlite3_step(meetings)) == SQLITE_ROW) {
        if (nlm == cap) {
            cap = cap ? cap * 2 : 32;
            linked_meeting *nv = realloc(lm, cap * sizeof *nv);
            if (!nv)
                goto oom;
            lm = nv;
        }
        const unsigned char *t = sqlite3_column_text(meetings, 2);
        const unsigned char *d = sqlite3_column_text(meetings, 3);
        lm[nlm] = (linked_meeting){sqlite3_column_int64(meetings, 0),
                                   strdup((const char *)sqlite3_column_text(meetings, 1)),
                                   t ? strdup((const char *)t) : NULL,
                                   d ? strdup((const char *)d) : NULL, false};
        nlm++;
        if (!lm[nlm - 1].path || (t && !lm[nlm - 1].title) || (d && !lm[nlm - 1].date))
            goto oom;
    }
    sqlite3_reset(meetings);
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(c->st, src, "links", err);
        goto cleanup;
    }

    sqlite3_reset(lines);
    sqlite3_bind_int64(lines, 1, person);
    while ((src = sqlite3_step(lines)) == SQLITE_ROW) {
        if (nll == capl) {
            capl = capl ? capl * 2 : 32;
            lline *nv = realloc(ll, capl * sizeof *nv);
            if (!nv)
                goto oom;
            ll = nv;
        }
        const unsigned char *t = sqlite3_column_text(lines, 2);
        const char *folded = (const char *)sqlite3_column_text(lines, 3);
        int64_t mid = 0;
        sqlite3_reset(by_title);
        sqlite3_bind_text(by_title, 1, folded ? folded : "", -1, SQLITE_TRANSIENT);
        int bsrc = sqlite3_step(by_title);
        if (bsrc == SQLITE_ROW)
            mid = sqlite3_column_int64(by_title, 0);
        sqlite3_reset(by_title);
        if (bsrc != SQLITE_ROW && bsrc != SQLITE_DONE) {
            rc = qp__store_sqlite_error(c->st, bsrc, "meetings", err);
            goto cleanup;
        }
        ll[nll++] = (lline){(uint32_t)sqlite3_column_int64(lines, 0),
                            strdup(t ? (const char *)t : ""), mid};
        if (!ll[nll - 1].title)
            goto oom;
    }
    sqlite3_reset(lines);
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(c->st, src, "mention lines", err);
        goto cleanup;
    }
    for (size_t i = 0; i < nll; i++)
        for (size_t k = 0; k < nlm; k++)
            if (lm[k].id == ll[i].meeting)
                lm[k].listed = true;

    uint32_t rline = 0;
    for (size_t k = 0; k < nlm && rc == QP_OK; k++) {
        if (lm[k].listed || !c->want[K_MENTIONS_MISSING])
            continue;
        if (rline == 0 && (rc = recent_context_line(&rline, c->st, person, err)) != QP_OK)
            break;
        add_missing(c, person, rline, lm[k].path, lm[k].title, lm[k].date);
    }
    for (size_t i = 0; i < nll && c->want[K_MENTIONS_STALE]; i++)
        if (ll[i].meeting == 0)
            add_stale(c, person, ll[i].line, ll[i].title);
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    for (size_t k = 0; k < nlm; k++) {
        free(lm[k].path);
        free(lm[k].title);
        free(lm[k].date);
    }
    free(lm);
    for (size_t i = 0; i < nll; i++)
        free(ll[i].title);
    free(ll);
    return rc;
}

static qp_rc scan_drift(ctx *c, qp_error *err)
{
    sqlite3_stmt *persons = NULL, *meetings = NULL, *lines = NULL, *by_title = NULL;
    qp_rc rc = scan_prepare(
        c, &persons, "SELECT id, path FROM files WHERE is_note = 1 AND kind = 1", "id", "", err);
    if (rc == QP_OK)
        rc = qp__mprepare(&meetings, c->st,
                          "SELECT DISTINCT m.id, m.path, m.title, m.date FROM links l"
                          " JOIN files m ON m.id = l.src"
                          " WHERE l.dst = ?1 AND l.src <> ?1 AND m.is_note = 1 AND m.kind = 2"
                          " ORDER BY m.date DESC, m.path",
                          err);
    if (rc == QP_OK)
        rc = qp__mprepare(&lines, c->st,
                          "SELECT line, date, title, title_folded FROM mention_lines"
                          " WHERE file = ?1 ORDER BY rowid",
                          err);
    if (rc == QP_OK) /* as `mentions` resolves a line: the first meeting so titled */
        rc = qp__mprepare(&by_title, c->st,
                          "SELECT id FROM files WHERE title_folded = ?1 AND kind = 2"
                          " ORDER BY path LIMIT 1",
                          err);
    if (rc != QP_OK)
        goto cleanup;
    int src;
    while (rc == QP_OK && (src = sqlite3_step(persons)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(persons, 0);
        char *path = strdup((const char *)sqlite3_column_text(persons, 1));
        if (!path) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
        if (c->only && c->vault)
            rc = drift_exact(c, id, path, err);
        else
            rc = drift_linked(c, id, meetings, lines, by_title, err);
        free(path);
    }
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(c->st, src, "persons", err);
cleanup:
    sqlite3_finalize(persons);
    sqlite3_finalize(meetings);
    sqlite3_finalize(lines);
    sqlite3_finalize(by_title);
    return rc;
}

/* ---- running ---- */

static qp_rc collect(ctx *c, qp_error *err)
{
    qp_rc rc = QP_OK;
    if (c->want[K_UNRESOLVED_LINK])
        rc = scan_unresolved(c, err);
    if (rc == QP_OK && c->want[K_UNRESOLVED_SUBPATH])
        rc = scan_subpaths(c, err);
    if (rc == QP_OK &&
        (c->want[K_FRONTMATTER] || c->want[K_SIZE] || c->want[K_BINARY] || c->want[K_ENCODING]))
        rc = scan_diags(c, err);
    if (rc == QP_OK && c->want[K_TASKS_QUERY])
        rc = scan_queries(c, err);
    if (rc == QP_OK && (c->want[K_MENTIONS_MISSING] || c->want[K_MENTIONS_STALE]))
        rc = scan_drift(c, err);
    if (rc == QP_OK && c->oom)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    return rc;
}

static void ctx_free(ctx *c)
{
    free(c->v);
    free(c->pool);
}

static qp_rc ctx_init(ctx *c, qp_store *st, const qp_vault *vault, qp_error *err)
{
    memset(c, 0, sizeof *c);
    c->st = st;
    c->vault = vault;
    for (int k = 0; k < K_COUNT; k++)
        c->want[k] = true;
    c->pool = malloc(4096);
    if (!c->pool)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    c->pool[0] = '\0';
    c->plen = 1;
    c->pcap = 4096;
    return QP_OK;
}

static json_t *counts_json(const ctx *c)
{
    json_t *o = json_object();
    for (int k = 0; o && k < K_COUNT; k++)
        if (c->want[k])
            json_object_set_new(o, kind_names[k], json_integer((json_int_t)c->counts[k]));
    return o;
}

qp_rc qp__problems_counts(json_t **out, qp_store *st, const qp_vault *vault, qp_error *err)
{
    ctx c;
    qp_rc rc = ctx_init(&c, st, vault, err);
    if (rc != QP_OK)
        return rc;
    c.records = false;
    /* Drift needs every person's meetings: seconds at 100k notes, too much
     * for an answer re-run after every commit. `problems` counts it. */
    c.want[K_MENTIONS_MISSING] = c.want[K_MENTIONS_STALE] = false;
    rc = collect(&c, err);
    if (rc == QP_OK && !(*out = counts_json(&c)))
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    ctx_free(&c);
    return rc;
}

/* Sorting records by path: the paths' order as ranks per file id. */
typedef struct id_rank {
    int64_t id;
    int64_t rank;
} id_rank;

static int id_rank_cmp(const void *a, const void *b)
{
    int64_t x = ((const id_rank *)a)->id, y = ((const id_rank *)b)->id;
    return x < y ? -1 : x > y;
}

static int64_t rank_of(const id_rank *t, size_t n, int64_t id)
{
    id_rank key = {id, 0};
    const id_rank *r = n ? bsearch(&key, t, n, sizeof *t, id_rank_cmp) : NULL;
    return r ? r->rank : INT64_MAX;
}

typedef struct sort_rec {
    int64_t rank;
    const rec *r;
} sort_rec;

static int sort_rec_cmp(const void *a, const void *b)
{
    const sort_rec *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->r->line != y->r->line)
        return x->r->line < y->r->line ? -1 : 1;
    if (x->r->col != y->r->col)
        return x->r->col < y->r->col ? -1 : 1;
    if (x->r->kind != y->r->kind)
        return x->r->kind - y->r->kind;
    return x->r < y->r ? -1 : x->r > y->r; /* scan order */
}

static json_t *rec_json(const ctx *c, const rec *r, const char *path)
{
    json_t *o =
        json_pack("{ss sI sI ss ss ss}", "path", path, "line", (json_int_t)r->line, "column",
                  (json_int_t)r->col, "kind", kind_names[r->kind], "severity", sev_names[r->sev],
                  "message", pool_str(c, r->msg) ? pool_str(c, r->msg) : "");
    if (!o)
        return NULL;
    const char *a = pool_str(c, r->a), *b = pool_str(c, r->b), *cc = pool_str(c, r->c);
    switch (r->kind) {
    case K_UNRESOLVED_LINK:
        json_object_set_new(o, "target", json_string(a ? a : ""));
        json_object_set_new(o, "subpath", b ? json_string(b) : json_null());
        json_object_set_new(o, "embed", json_boolean(r->embed));
        break;
    case K_UNRESOLVED_SUBPATH:
        json_object_set_new(o, "target", json_string(a ? a : ""));
        json_object_set_new(o, "subpath", json_string(b ? b : ""));
        json_object_set_new(o, "resolved", json_string(cc ? cc : ""));
        break;
    case K_TASKS_QUERY:
        json_object_set_new(o, "block_line", json_integer(r->block_line));
        break;
    case K_MENTIONS_MISSING:
        json_object_set_new(o, "meeting", json_string(a ? a : ""));
        json_object_set_new(o, "title", b ? json_string(b) : json_null());
        json_object_set_new(o, "date", cc ? json_string(cc) : json_null());
        break;
    case K_MENTIONS_STALE:
        json_object_set_new(o, "title", json_string(b ? b : ""));
        break;
    default:
        break;
    }
    return o;
}

static qp_rc param_kinds(ctx *c, json_t *params, qp_error *err)
{
    json_t *v = json_object_get(params, "kinds");
    if (!v || json_is_null(v))
        return QP_OK;
    if (!json_is_array(v))
        return qp_error_set(err, QP_EINVAL, "param kinds: expected an array of kind names");
    for (int k = 0; k < K_COUNT; k++)
        c->want[k] = false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        int k = 0;
        while (k < K_COUNT && !(s && strcmp(s, kind_names[k]) == 0))
            k++;
        if (k == K_COUNT)
            return qp_error_set(err, QP_EINVAL, "param kinds: unknown kind \"%s\"", s ? s : "?");
        c->want[k] = true;
    }
    return QP_OK;
}

qp_rc qp__m_problems(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                     qp_error *err)
{
    ctx c;
    qp__mnote n;
    size_t limit = 0, cursor = 0;
    id_rank *ranks = NULL;
    size_t nranks = 0;
    sort_rec *order = NULL;
    sqlite3_stmt *s = NULL;
    json_t *arr = NULL;
    memset(&n, 0, sizeof n);
    qp_rc rc = ctx_init(&c, st, vault, err);
    if (rc != QP_OK)
        return rc;
    c.records = true;
    if ((rc = param_kinds(&c, params, err)) != QP_OK ||
        (rc = qp__mparam_size(&limit, params, "limit", 1000, 1, 100000, err)) != QP_OK ||
        (rc = qp__mparam_cursor(&cursor, params, err)) != QP_OK)
        goto cleanup;
    if (json_object_get(params, "note") && !json_is_null(json_object_get(params, "note"))) {
        if ((rc = qp__mparam_note(&n, st, params, err)) != QP_OK)
            goto cleanup;
        c.only = n.id;
    }
    if ((rc = collect(&c, err)) != QP_OK)
        goto cleanup;

    /* Order by path: rank every file that has a problem. */
    rc = qp__mprepare(&s, st, "SELECT id FROM files ORDER BY path", err);
    if (rc != QP_OK)
        goto cleanup;
    int src;
    size_t capr = 0;
    int64_t rank = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (nranks == capr) {
            capr = capr ? capr * 2 : 1024;
            id_rank *nv = realloc(ranks, capr * sizeof *nv);
            if (!nv)
                goto oom;
            ranks = nv;
        }
        ranks[nranks++] = (id_rank){sqlite3_column_int64(s, 0), rank++};
    }
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(st, src, "files", err);
        goto cleanup;
    }
    qp__msort(ranks, nranks, sizeof *ranks, id_rank_cmp);
    order = calloc(c.n + 1, sizeof *order);
    if (!order)
        goto oom;
    for (size_t i = 0; i < c.n; i++)
        order[i] = (sort_rec){rank_of(ranks, nranks, c.v[i].file), &c.v[i]};
    qp__msort(order, c.n, sizeof *order, sort_rec_cmp);

    arr = json_array();
    if (!arr)
        goto oom;
    size_t end = cursor + limit < c.n ? cursor + limit : c.n;
    for (size_t i = cursor; i < end; i++) {
        qp__mnote f;
        if ((rc = qp__mnote_get(&f, st, order[i].r->file, err)) != QP_OK)
            goto cleanup;
        json_t *o = rec_json(&c, order[i].r, f.path);
        qp__mnote_free(&f);
        if (!o || json_array_append_new(arr, o) != 0)
            goto oom;
    }
    size_t shown = end > cursor ? end - cursor : 0;
    json_t *counts = counts_json(&c);
    *out = counts ? json_pack("{sI so so}", "total", (json_int_t)c.n, "counts", counts, "problems",
                              arr)
                  : NULL;
    arr = NULL;
    if (!*out || !qp__mset_next_cursor(*out, cursor, shown, c.n))
        goto oom;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    sqlite3_finalize(s);
    json_decref(arr);
    free(order);
    free(ranks);
    qp__mnote_free(&n);
    ctx_free(&c);
    return rc;
}

/* ---- unresolved ---- */

typedef struct uref {
    char *key;
    int64_t rank; /* the source's path order */
    char *path;
    uint32_t line, col;
} uref;

static int uref_cmp(const void *a, const void *b)
{
    const uref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->col < y->col ? -1 : x->col > y->col;
}

typedef struct ugroup {
    size_t first, n;
    const char *key; /* borrowed from the first uref */
} ugroup;

static int ugroup_cmp(const void *a, const void *b)
{
    const ugroup *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->key, y->key);
}

qp_rc qp__m_unresolved(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                       qp_error *err)
{
    (void)vault;
    size_t limit = 0, cursor = 0, nu = 0, capu = 0, ng = 0;
    uref *u = NULL;
    ugroup *g = NULL;
    sqlite3_stmt *s = NULL;
    json_t *targets = NULL;
    qp_rc rc = qp__mparam_size(&limit, params, "limit", 100, 1, 100000, err);
    if (rc == QP_OK)
        rc = qp__mparam_cursor(&cursor, params, err);
    if (rc != QP_OK)
        return rc;
    rc = qp__mprepare(&s, st,
                      "SELECT l.target, f.path, l.line, l.col FROM links l"
                      " JOIN files f ON f.id = l.src WHERE l.dst IS NULL AND l.target <> ''"
                      " ORDER BY f.path, l.line, l.col",
                      err);
    if (rc != QP_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (nu == capu) {
            capu = capu ? capu * 2 : 256;
            uref *nv = realloc(u, capu * sizeof *nv);
            if (!nv)
                goto oom;
            u = nv;
        }
        char *key = qp__unresolved_key((const char *)sqlite3_column_text(s, 0));
        char *path = strdup((const char *)sqlite3_column_text(s, 1));
        u[nu] = (uref){key, (int64_t)nu, path, (uint32_t)sqlite3_column_int64(s, 2),
                       (uint32_t)sqlite3_column_int64(s, 3)};
        nu++;
        if (!key || !path)
            goto oom;
    }
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(st, src, "links", err);
        goto cleanup;
    }
    qp__msort(u, nu, sizeof *u, uref_cmp);
    g = calloc(nu + 1, sizeof *g);
    if (!g)
        goto oom;
    for (size_t i = 0; i < nu;) {
        size_t j = i + 1;
        while (j < nu && strcmp(u[j].key, u[i].key) == 0)
            j++;
        g[ng++] = (ugroup){i, j - i, u[i].key};
        i = j;
    }
    qp__msort(g, ng, sizeof *g, ugroup_cmp);
    targets = json_array();
    if (!targets)
        goto oom;
    size_t end = cursor + limit < ng ? cursor + limit : ng;
    for (size_t i = cursor; i < end; i++) {
        json_t *sources = json_array();
        for (size_t k = g[i].first; sources && k < g[i].first + g[i].n; k++)
            json_array_append_new(sources,
                                  json_pack("{ss sI sI}", "path", u[k].path, "line",
                                            (json_int_t)u[k].line, "column", (json_int_t)u[k].col));
        json_t *o = sources ? json_pack("{ss sI so}", "target", u[g[i].first].key, "count",
                                        (json_int_t)g[i].n, "sources", sources)
                            : NULL;
        if (!o || json_array_append_new(targets, o) != 0)
            goto oom;
    }
    *out = json_pack("{sI so}", "total", (json_int_t)ng, "targets", targets);
    targets = NULL;
    if (!*out || !qp__mset_next_cursor(*out, cursor, end > cursor ? end - cursor : 0, ng))
        goto oom;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    sqlite3_finalize(s);
    json_decref(targets);
    for (size_t i = 0; i < nu; i++) {
        free(u[i].key);
        free(u[i].path);
    }
    free(u);
    free(g);
    return rc;
}
