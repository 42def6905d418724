/*
 * query — the protocol's query methods over a store, answered as JSON.
 *
 * Result shapes are spec/protocol.md's. Where the protocol leaves an
 * element open, quipu answers (to be copied into docs/protocol.md):
 *   note.headings  [{level, text, line}]
 *   note.links     [{line, column, target, subpath, display, embed, key, path}]
 *                  (path: resolved vault path or null; key: frontmatter key
 *                  path or null; target: the linkpath as written)
 *   note.tasks     [{line, status: {symbol}, text}]
 *   note.tags      ["#tag", ...] every occurrence, frontmatter first
 *   note.kind      "person" | "meeting" | "note" ("attachment" for non-notes)
 *   resolve        {path, subpath?, subpath_found?, subpath_line?} — the
 *                  subpath fields are present when the link has a subpath and
 *                  the path resolved; subpath_line is 1-based (0 = not found).
 *                  params: link (with or without [[ ]], may carry #sub and
 *                  |display), from? (source path; default: vault root),
 *                  syntax? ("wiki" | "markdown": a Markdown destination,
 *                  percent-encoded, optionally in <>).
 *   tasks.query / tasks.blocks: see lib/query_tasks.c (quipu adds an
 *                  optional `settings` param: the Tasks settings object;
 *                  `today` defaults to the local date; group names drop the
 *                  engine's "%%n%%" ordering prefix).
 * Occurrence context is the source line (without its line ending): for
 * links, as stored with the link in the index; for unlinked mentions, read
 * from the file through the vault (the index keeps no note bodies), so
 * backlinks with unlinked and mentions need qp_query_run's `vault`.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jtext_int.h"
#include "mentions_int.h"
#include "methods_int.h"
#include "query_page.h"
#include "query_param_int.h"
#include "query_tasks_int.h"
#include "quipu/arena.h"
#include "quipu/links.h"
#include "quipu/note.h"
#include "quipu/query.h"
#include "quipu/text.h"
#include "rename_int.h"
#include "resolve_int.h"
#include "search_int.h"
#include "store_int.h"

/* A file's row as the answers show it: the methods' note row
 * (methods_int.h), read by qp__mnote_get(). */
typedef qp__mnote file_info;

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ---- params ---- */

static qp_rc param_bool(bool *out, json_t *params, const char *name, qp_error *err)
{
    json_t *v = json_object_get(params, name);
    *out = false;
    if (!v || json_is_null(v))
        return QP_OK;
    if (!json_is_boolean(v))
        return qp_error_set(err, QP_EINVAL, "param %s: expected a boolean", name);
    *out = json_is_true(v);
    return QP_OK;
}

/* ---- link text ---- */

typedef struct parsed_link {
    qp_arena *arena;
    const char *target; /* linkpath */
    const char *subpath;
} parsed_link;

/* Splits link text as written in `[[...]]` (brackets optional) or, with
 * markdown, a Markdown destination. */
static qp_rc parse_link_text(parsed_link *pl, const char *text, bool markdown, qp_error *err)
{
    memset(pl, 0, sizeof *pl);
    pl->arena = qp_arena_new();
    if (!pl->arena)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    size_t len = strlen(text);
    if (markdown) {
        while (len > 0 && (text[0] == ' ' || text[0] == '\t'))
            text++, len--;
        while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
            len--;
        if (len >= 2 && text[0] == '<' && text[len - 1] == '>')
            text++, len -= 2;
        bool oom = false;
        char *dec = qp_link_url_decode(pl->arena, text, len, &oom);
        if (!dec)
            return oom ? qp_error_set(err, QP_ENOMEM, "out of memory")
                       : qp_error_set(err, QP_EINVAL, "param link: malformed %% escape");
        char *nfc = qp_text_nfc_arena(pl->arena, dec, strlen(dec));
        if (!nfc)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        char *hash = strchr(nfc, '#');
        if (hash) {
            pl->subpath = qp_arena_strdup(pl->arena, hash);
            *hash = '\0';
        }
        pl->target = nfc;
        return QP_OK;
    }
    const char *p = text;
    size_t n = len;
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n >= 4 && strncmp(p, "[[", 2) == 0 && strncmp(p + n - 2, "]]", 2) == 0) {
        p += 2;
        n -= 4;
    }
    qp_link l;
    memset(&l, 0, sizeof l);
    bool oom = false;
    if (!qp_link_split(&l, pl->arena, p, n, &oom)) {
        if (oom)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        return qp_error_set(err, QP_EINVAL, "param link: empty link");
    }
    pl->target = l.target ? l.target : "";
    pl->subpath = l.subpath;
    return QP_OK;
}

static qp_rc file_id_by_path(qp_store *st, const char *path, int64_t *id, qp_error *err)
{
    *id = 0;
    sqlite3_stmt *s;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_FILE_BY_PATH, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "files", err);
    return QP_OK;
}

/* The `note` param: a vault path, else link text resolved from the root. */
static qp_rc resolve_note_param(qp_store *st, json_t *params, file_info *out, qp_error *err)
{
    const char *note = NULL;
    memset(out, 0, sizeof *out);
    qp_rc rc = qp__query_param_string(&note, params, "note", true, err);
    if (rc != QP_OK)
        return rc;
    int64_t id = 0;
    if ((rc = file_id_by_path(st, note, &id, err)) != QP_OK)
        return rc;
    if (id == 0) {
        parsed_link pl;
        rc = parse_link_text(&pl, note, false, err);
        if (rc == QP_OK && pl.target[0] != '\0')
            rc = qp__resolve(&id, pl.target, "", 0, qp__store_cands, st, err);
        qp_arena_free(pl.arena);
        if (rc == QP_EINVAL)
            rc = QP_OK; /* unparseable link text is simply not found */
        if (rc != QP_OK)
            return rc;
    }
    if (id == 0)
        return qp_error_set(err, QP_ENOTFOUND, "note not found: %s", note);
    return qp__mnote_get(out, st, id, err);
}

/* ---- sources and occurrences ---- */

typedef struct body {
    char *src;
    size_t len;
    void *mask;
    size_t masklen;
} body;

static void body_free(body *b)
{
    free(b->src);
    free(b->mask);
    memset(b, 0, sizeof *b);
}

/* What an unlinked candidate needs of the index, in one lookup: its file
 * row as qp__mnote_get() gives it (*f), its mention mask (b->mask) and
 * content hash. *found is false when `id` is not indexed as a note (no
 * mention text); then nothing is held. */
static qp_rc mention_source(qp_store *st, int64_t id, file_info *f, body *b, uint64_t *hash,
                            bool *found, qp_error *err)
{
    sqlite3_stmt *s;
    memset(f, 0, sizeof *f);
    memset(b, 0, sizeof *b);
    *found = false;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_BODY, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    int src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        sqlite3_reset(s);
        return src == SQLITE_DONE ? QP_OK : qp__store_sqlite_error(st, src, "mention doc", err);
    }
    b->masklen = (size_t)sqlite3_column_bytes(s, 0);
    b->mask = malloc(b->masklen + 1);
    if (b->mask && b->masklen)
        memcpy(b->mask, sqlite3_column_blob(s, 0), b->masklen);
    *hash = (uint64_t)sqlite3_column_int64(s, 1);
    bool oom = !qp__mnote_from_row(f, id, s, 2) || !b->mask;
    sqlite3_reset(s);
    if (oom) {
        body_free(b);
        qp__mnote_free(f);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    *found = true;
    return QP_OK;
}

/* The current source of the note at `path` read through the vault into b
 * (whose mask mention_source() filled), and its mention text: the mask
 * applied when the file is still what was indexed (its hash is `hash`),
 * else the file parsed again (it changed and its update is on the way).
 * *found is false when the note cannot be read; b is emptied then. */
static qp_rc load_text(const qp_vault *vault, const char *path, uint64_t hash, body *b,
                       char **mtext, bool *found, qp_error *err)
{
    qp_rc rc = QP_OK;
    *mtext = NULL;
    *found = false;
    qp_file_stat fs;
    qp_error rerr = QP_ERROR_INIT;
    rc = qp_vault_read(vault, path, QP_NOTE_MAX_SIZE, &b->src, &b->len, &fs, &rerr);
    if (rc == QP_ENOMEM) {
        body_free(b);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if (rc != QP_OK) { /* gone, unreadable or grown too big since indexed */
        body_free(b);
        return QP_OK;
    }
    if (hash != 0 && fs.hash == hash) {
        *mtext = qp__store_apply_mask(b->src, b->len, b->mask, b->masklen);
        if (!*mtext) {
            body_free(b);
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        }
        *found = true;
        return QP_OK;
    }
    qp_note *note = NULL;
    rc = qp_note_parse(&note, path, b->src, b->len, NULL, err);
    if (rc != QP_OK) {
        body_free(b);
        return rc;
    }
    size_t mlen = 0;
    const char *m = qp_note_mention_text(note, &mlen);
    *mtext = malloc(b->len + 1);
    if (*mtext) {
        if (m && mlen == b->len)
            memcpy(*mtext, m, b->len);
        else
            memset(*mtext, ' ', b->len); /* no usable mention text: nothing to find */
        (*mtext)[b->len] = '\0';
        *found = true;
    }
    qp_note_free(note);
    if (!*mtext) {
        body_free(b);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    return QP_OK;
}

/* The text of the line that starts at byte `start` of b, without its
 * line ending. */
static json_t *line_context(const body *b, size_t start)
{
    const char *p = b->src + start, *end = b->src + b->len;
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e)
        e = end;
    if (e > p && e[-1] == '\r')
        e--;
    json_t *j = json_stringn(p, (size_t)(e - p));
    if (!j) { /* invalid UTF-8 in the line: hand back what decodes */
        char *fixed = malloc((size_t)(e - p) + 1);
        if (!fixed)
            return json_string("");
        size_t w = 0;
        for (const char *q = p; q < e;) {
            uint32_t cp;
            size_t l = qp_text_decode(q, (size_t)(e - q), &cp);
            if (cp == 0xFFFD && l == 1)
                fixed[w++] = '?';
            else {
                memcpy(fixed + w, q, l);
                w += l;
            }
            q += l;
        }
        j = json_stringn(fixed, w);
        free(fixed);
        if (!j)
            j = json_string("");
    }
    return j;
}

static json_t *occurrence(const body *b, uint32_t line, size_t line_start, uint32_t col)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "line", json_integer(line));
    json_object_set_new(o, "column", json_integer(col));
    json_object_set_new(o, "context", line_context(b, line_start));
    return o;
}

static json_t *source_obj(const file_info *f, json_t *occurrences)
{
    json_t *o = json_object();
    if (!o) {
        json_decref(occurrences);
        return NULL;
    }
    json_object_set_new(o, "path", json_string(f->path));
    json_object_set_new(o, "kind", json_string(qp__mnote_kind(f)));
    json_object_set_new(o, "title", str_or_null(f->title));
    json_object_set_new(o, "date", str_or_null(f->date));
    json_object_set_new(o, "occurrences", occurrences);
    return o;
}

/* A growable set of file ids. */
typedef struct idset {
    int64_t *v;
    size_t n, cap;
} idset;

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and drops duplicates. */
static void idset_unique(idset *s)
{
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof *s->v, id_cmp);
    size_t w = 1;
    for (size_t r = 1; r < s->n; r++)
        if (s->v[r] != s->v[w - 1])
            s->v[w++] = s->v[r];
    s->n = w;
}

/* Membership in a set sorted with id_cmp. */
static bool idset_has_sorted(const idset *s, int64_t id)
{
    return s->n && bsearch(&id, s->v, s->n, sizeof *s->v, id_cmp) != NULL;
}

/* Appends; duplicates are allowed (idset_unique() drops them): a busy
 * person has thousands of sources, and a check per add was quadratic. */
static bool idset_add(idset *s, int64_t id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;
    return true;
}

/* Statement `id` on the links from `src` to `dst` (?1, ?2), and with
 * `max` its LIMIT (?3; 0 = none) when it has one. */
static qp_rc link_pair_stmt(sqlite3_stmt **s, qp_store *st, qp__stmt_id id, int64_t dst,
                            int64_t src, size_t max, qp_error *err)
{
    qp_rc rc = qp__store_stmt(s, st, id, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(*s, 1, dst);
    sqlite3_bind_int64(*s, 2, src);
    if (id == QP__S_LINK_OCC)
        sqlite3_bind_int64(*s, 3, max ? (sqlite3_int64)max : -1);
    return QP_OK;
}

/* The occurrences of `src`'s links to `dst`, in line order, at most
 * `max` (0 = all). */
static qp_rc link_occurrences(qp_store *st, int64_t dst, int64_t src, size_t max, json_t **out,
                              qp_error *err)
{
    *out = NULL;
    sqlite3_stmt *s;
    qp_rc qrc = link_pair_stmt(&s, st, QP__S_LINK_OCC, dst, src, max, err);
    if (qrc != QP_OK)
        return qrc;
    json_t *occ = json_array();
    if (!occ) {
        sqlite3_reset(s);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *ctx = (const char *)sqlite3_column_text(s, 2);
        body b = {(char *)(uintptr_t)(ctx ? ctx : ""), ctx ? strlen(ctx) : 0, NULL, 0};
        json_t *o = json_object();
        if (!o || json_array_append_new(occ, o) != 0) {
            sqlite3_reset(s);
            json_decref(occ);
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        }
        json_object_set_new(o, "line", json_integer(sqlite3_column_int64(s, 0)));
        json_object_set_new(o, "column", json_integer(sqlite3_column_int64(s, 1)));
        json_object_set_new(o, "context", line_context(&b, 0));
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(occ);
        return qp__store_sqlite_error(st, rc, "backlinks", err);
    }
    *out = occ;
    return QP_OK;
}

/* link_occurrences() written as text into b: the same array, value for
 * value; *n how many. */
static qp_rc link_occurrences_text(qp__jtext *b, qp_store *st, int64_t dst, int64_t src, size_t max,
                                   size_t *n, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc qrc = link_pair_stmt(&s, st, QP__S_LINK_OCC, dst, src, max, err);
    if (qrc != QP_OK)
        return qrc;
    int rc;
    *n = 0;
    qp__jt_str(b, "[");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *ctx = (const char *)sqlite3_column_text(s, 2);
        body bd = {(char *)(uintptr_t)(ctx ? ctx : ""), ctx ? strlen(ctx) : 0, NULL, 0};
        qp__jt_str(b, (*n)++ ? ",{\"line\":" : "{\"line\":");
        qp__jt_int(b, sqlite3_column_int64(s, 0));
        qp__jt_str(b, ",\"column\":");
        qp__jt_int(b, sqlite3_column_int64(s, 1));
        qp__jt_str(b, ",\"context\":");
        /* line_context()'s line, written directly when it is UTF-8 */
        const char *e = memchr(bd.src, '\n', bd.len);
        size_t cl = e ? (size_t)(e - bd.src) : bd.len;
        if (cl && bd.src[cl - 1] == '\r')
            cl--;
        if (!qp__jt_string(b, bd.src, cl))
            qp__jt_json(b, line_context(&bd, 0));
        qp__jt_str(b, "}");
    }
    sqlite3_reset(s);
    qp__jt_str(b, "]");
    if (rc != SQLITE_DONE)
        return qp__store_sqlite_error(st, rc, "backlinks", err);
    return b->oom ? qp_error_set(err, QP_ENOMEM, "out of memory") : QP_OK;
}

/* The distinct files whose links point at `dst` (itself excluded), in id
 * order, from the links_dst index (dst, src, line, col). Most sources link
 * a note a few times, so the index is read in one pass; a source with a
 * long run of links (one note with 200k lines linking the target) is
 * stepped over with a seek to the next src instead of read entry by entry,
 * which made such a target cost its link count (30 ms at 200k) rather than
 * its source count. */
#define SOURCE_RUN_SEEK 32

static qp_rc link_source_ids(qp_store *st, int64_t dst, idset *out, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc qrc = qp__store_stmt(&s, st, QP__S_LINK_SRC_AFTER, err);
    if (qrc != QP_OK)
        return qrc;
    int64_t after = INT64_MIN;
    for (;;) {
        sqlite3_bind_int64(s, 1, dst);
        sqlite3_bind_int64(s, 2, after);
        int rc, run = 0;
        bool seek = false;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(s, 0);
            if (out->n && out->v[out->n - 1] == id) {
                if (++run == SOURCE_RUN_SEEK) {
                    seek = true;
                    after = id;
                    break;
                }
                continue;
            }
            run = 0;
            if (!idset_add(out, id)) {
                sqlite3_reset(s);
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            }
        }
        sqlite3_reset(s);
        if (seek)
            continue;
        if (rc != SQLITE_DONE)
            return qp__store_sqlite_error(st, rc, "backlinks", err);
        return QP_OK;
    }
}

static int file_info_path_cmp(const void *a, const void *b)
{
    return strcmp(((const file_info *)a)->path, ((const file_info *)b)->path);
}

static qp_rc link_count(qp_store *st, int64_t dst, int64_t src, size_t *out, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc qrc = link_pair_stmt(&s, st, QP__S_LINK_COUNT, dst, src, 0, err);
    if (qrc != QP_OK)
        return qrc;
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? QP_OK : qp__store_sqlite_error(st, rc, "backlinks", err);
}

/* A Source of linked_sources() written as text into b, member for member
 * as source_obj() and the occurrences loop build it (`occurrences` gone
 * with pg->no_occ, as qp__page_strip_occurrences() leaves it). */
static qp_rc source_text(qp__jtext *b, qp_store *st, int64_t dst, const file_info *f,
                         const qp__page *pg, bool first, qp_error *err)
{
    qp__jt_str(b, first ? "{\"path\":" : ",{\"path\":");
    qp__jt_string_or_null(b, f->path, json_string);
    qp__jt_str(b, ",\"kind\":");
    qp__jt_string_or_null(b, qp__mnote_kind(f), json_string);
    qp__jt_str(b, ",\"title\":");
    qp__jt_string_or_null(b, f->title, json_string);
    qp__jt_str(b, ",\"date\":");
    qp__jt_string_or_null(b, f->date, json_string);
    if (!pg->no_occ) {
        size_t got = 0, all;
        qp__jt_str(b, ",\"occurrences\":");
        qp_rc rc = link_occurrences_text(b, st, dst, f->id, pg->max_occ, &got, err);
        if (rc != QP_OK)
            return rc;
        all = got;
        if (pg->max_occ && got == pg->max_occ &&
            (rc = link_count(st, dst, f->id, &all, err)) != QP_OK)
            return rc;
        if (all > got) {
            qp__jt_str(b, ",\"more_occurrences\":");
            qp__jt_int(b, (long long)(all - got));
        }
    }
    qp__jt_str(b, "}");
    return b->oom ? qp_error_set(err, QP_ENOMEM, "out of memory") : QP_OK;
}

/* Linked sources of `target`: the page `pg` asks for of an array of
 * Source sorted by path, and in *total how many there are. Every file
 * whose links point at it is added to *linkers (self included), on a
 * page or not: unlinked mentions exclude them all. With `txt`, the array
 * is written there as text and `out` is not used (backlinks: building,
 * dumping and freeing the values was a third of an uncached answer).
 *
 * The answer costs its page, not the target's link count: the sources
 * are enumerated (link_source_ids) and sorted by path, and only those on
 * the page read their occurrences, at most pg->max_occ each, with the
 * rest counted. Each link row carries its line's text, so no note body is
 * read. */
static qp_rc linked_sources(qp_store *st, const file_info *target, qp__page *pg, qp__jtext *txt,
                            json_t **out, size_t *total, idset *linkers, qp_error *err)
{
    qp_rc rc = QP_OK;
    json_t *arr = txt ? NULL : json_array();
    idset ids = {0};
    file_info *fs = NULL;
    size_t nfs = 0;
    bool done = false;
    const char *after = qp__page_after(pg, "l", &done);
    *total = 0;
    if (!txt) {
        *out = NULL;
        if (!arr)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if (!idset_add(linkers, target->id))
        goto oom;
    rc = link_source_ids(st, target->id, &ids, err);
    if (rc != QP_OK)
        goto cleanup;
    fs = calloc(ids.n + 1, sizeof *fs);
    if (!fs)
        goto oom;
    for (; nfs < ids.n; nfs++) {
        if (!idset_add(linkers, ids.v[nfs]))
            goto oom;
        rc = qp__mnote_get(&fs[nfs], st, ids.v[nfs], err);
        if (rc != QP_OK)
            goto cleanup;
    }
    *total = nfs;
    qsort(fs, nfs, sizeof *fs, file_info_path_cmp);
    size_t i = 0;
    if (done)
        i = nfs;
    else if (after)
        while (i < nfs && strcmp(fs[i].path, after) <= 0)
            i++;
    if (txt)
        qp__jt_str(txt, "[");
    for (size_t shown = 0; i < nfs && (pg->limit == 0 || shown < pg->limit); i++, shown++) {
        json_t *occ = NULL;
        if (txt) {
            if ((rc = source_text(txt, st, target->id, &fs[i], pg, shown == 0, err)) != QP_OK)
                goto cleanup;
            continue;
        }
        if (pg->no_occ) { /* the caller strips them: read none */
            json_t *so = source_obj(&fs[i], json_array());
            if (!so || json_array_append_new(arr, so) != 0)
                goto oom;
            continue;
        }
        rc = link_occurrences(st, target->id, fs[i].id, pg->max_occ, &occ, err);
        if (rc != QP_OK)
            goto cleanup;
        size_t got = json_array_size(occ), all = got;
        json_t *so = source_obj(&fs[i], occ);
        if (!so || json_array_append_new(arr, so) != 0)
            goto oom;
        if (pg->max_occ && got == pg->max_occ &&
            (rc = link_count(st, target->id, fs[i].id, &all, err)) != QP_OK)
            goto cleanup;
        if (all > got)
            json_object_set_new(so, "more_occurrences", json_integer((json_int_t)(all - got)));
    }
    if (txt)
        qp__jt_str(txt, "]");
    if (pg->limit &&
        !(i < nfs ? qp__page_mark_path(pg, "l", fs[i - 1].path) : qp__page_mark_done(pg, "l")))
        goto oom;
    if (!txt) {
        *out = arr;
        arr = NULL;
    }
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    for (size_t k = 0; k < nfs; k++)
        qp__mnote_free(&fs[k]);
    free(fs);
    free(ids.v);
    json_decref(arr);
    return rc;
}

/* The names unlinked mentions look for: basename and aliases, folded. */
static qp_rc mention_names(qp_store *st, const file_info *f, char ***out, size_t *n, qp_error *err)
{
    char **names = NULL;
    size_t nn = 0, cap = 4;
    *out = NULL;
    *n = 0;
    names = calloc(cap, sizeof *names);
    if (!names)
        goto oom;
    const char *base = strrchr(f->path, '/');
    base = base ? base + 1 : f->path;
    const char *dot = strrchr(base, '.');
    size_t blen = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    names[nn] = qp_text_fold(base, blen, NULL);
    if (!names[nn])
        goto oom;
    nn++;
    sqlite3_stmt *s;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_ALIASES_OF, err);
    if (rc != QP_OK) {
        for (size_t i = 0; i < nn; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    sqlite3_bind_int64(s, 1, f->id);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(s, 1);
        if (!a || !a[0])
            continue;
        bool dup = false;
        for (size_t i = 0; i < nn && !dup; i++)
            dup = strcmp(names[i], a) == 0;
        if (dup)
            continue;
        if (nn == cap) {
            cap *= 2;
            char **nv = realloc(names, cap * sizeof *nv);
            if (!nv) {
                sqlite3_reset(s);
                goto oom;
            }
            names = nv;
        }
        names[nn] = strdup(a);
        if (!names[nn]) {
            sqlite3_reset(s);
            goto oom;
        }
        nn++;
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE) {
        for (size_t i = 0; i < nn; i++)
            free(names[i]);
        free(names);
        return qp__store_sqlite_error(st, src, "aliases", err);
    }
    /* An empty basename (".md") cannot be mentioned. */
    if (names[0][0] == '\0') {
        free(names[0]);
        memmove(names, names + 1, (nn - 1) * sizeof *names);
        nn--;
    }
    *out = names;
    *n = nn;
    return QP_OK;
oom:
    if (names)
        for (size_t i = 0; i < nn; i++)
            free(names[i]);
    free(names);
    return qp_error_set(err, QP_ENOMEM, "out of memory");
}

static bool has_word_char(const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += qp_text_decode(s + i, len - i, &cp);
        if (qp_text_is_word(cp))
            return true;
    }
    return false;
}

/* The search index's query for a name: the whole name as one phrase
 * (quotes doubled) in the body column, the words of the whole file. The
 * tokenizer splits it into words as it split the texts, so the notes that
 * hold the words in a row are a superset of the exact, word-bounded
 * matches in the mention text (the body without link spans, code, ...),
 * which the caller verifies. New (free()); NULL on OOM. */
static char *fts_phrase(const char *name)
{
    static const char col[] = "body : ";
    size_t len = strlen(name), w = 0;
    char *q = malloc(sizeof col + 2 * len + 3);
    if (!q)
        return NULL;
    memcpy(q, col, sizeof col - 1);
    w = sizeof col - 1;
    q[w++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '"')
            q[w++] = '"';
        q[w++] = name[i];
    }
    q[w++] = '"';
    q[w] = '\0';
    return q;
}

/* Candidate files for a name: notes whose mention text holds its words in
 * a row, or every note when the name has no word character for the
 * tokenizer to index (or the index refuses the query). */
static qp_rc candidates_for(qp_store *st, const char *name, idset *out, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    char *words = NULL;
    int src = SQLITE_DONE;
    qp_rc rc = QP_OK;
    if (has_word_char(name)) {
        words = fts_phrase(name);
        if (!words)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        if ((rc = qp__store_stmt(&s, st, QP__S_FTS_MATCH, err)) != QP_OK) {
            free(words);
            return rc;
        }
        sqlite3_bind_text(s, 1, words, -1, SQLITE_STATIC);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if (!idset_add(out, sqlite3_column_int64(s, 0))) {
                sqlite3_reset(s);
                free(words);
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            }
        }
        sqlite3_reset(s);
        free(words);
        if (src == SQLITE_DONE)
            return QP_OK;
        if ((src & 0xff) != SQLITE_ERROR) /* SQLITE_ERROR: a query FTS5 refuses */
            return qp__store_sqlite_error(st, src, "mention search", err);
    }
    if ((rc = qp__store_stmt(&s, st, QP__S_ALL_NOTES, err)) != QP_OK)
        return rc;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (!idset_add(out, sqlite3_column_int64(s, 0))) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
    }
    sqlite3_reset(s);
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "mention search", err);
    return rc;
}

static int source_path_cmp(const void *a, const void *b)
{
    json_t *const *x = a, *const *y = b;
    return strcmp(json_string_value(json_object_get(*x, "path")),
                  json_string_value(json_object_get(*y, "path")));
}

/* One candidate of unlinked_sources(). The index's part (file row, mask,
 * hash) is read on the store's thread; the rest, verify_candidate(), reads
 * and searches the file, and may run on another thread: it touches only
 * this struct, the vault's files and the shared, read-only names. */
typedef struct ucand {
    file_info f;
    body b;        /* mask from the index; the source while verified */
    uint64_t hash; /* the content hash the mask is for */
    bool wanted;   /* indexed as a note, not excluded: to be verified */
    /* verify_candidate()'s answer */
    qp_rc rc;
    qp_error err;
    uint32_t *occ; /* nocc x {line, column, offset of its line in ctx} */
    size_t nocc;
    char *ctx; /* the lines of the occurrences, each ended by '\n' */
    size_t ctxlen;
} ucand;

typedef struct ucheck {
    ucand *c;
    const qp_vault *vault;
    char **names;
    size_t nn;
} ucheck;

static void ucand_free(ucand *c)
{
    qp__mnote_free(&c->f);
    body_free(&c->b);
    free(c->occ);
    free(c->ctx);
}

/* The occurrences of `hits` in b, kept in c as line, column and a copy of
 * their line (so the source can go). Lines are counted once, forward
 * through b, and each line is cut from its start found on the way (a note
 * with many mentions is not walked again from its top for each). False
 * when out of memory. */
static bool keep_occurrences(ucand *c, const body *b, const qp__mention_hit *hits, size_t nh)
{
    uint32_t line = 1;
    size_t line_start = 0, pos = 0, kept_line = SIZE_MAX, cap = 0;
    c->occ = malloc(3 * nh * sizeof *c->occ);
    if (!c->occ)
        return false;
    for (size_t h = 0; h < nh; h++) {
        const char *nl;
        while (pos < hits[h].offset &&
               (nl = memchr(b->src + pos, '\n', hits[h].offset - pos)) != NULL) {
            line++;
            pos = (size_t)(nl - b->src) + 1;
            line_start = pos;
        }
        pos = hits[h].offset;
        if (kept_line != line_start) { /* a line's first occurrence: copy it */
            const char *e = memchr(b->src + line_start, '\n', b->len - line_start);
            size_t l = (e ? (size_t)(e - b->src) : b->len) - line_start;
            if (c->ctxlen + l + 1 > cap) {
                size_t ncap = cap ? cap : 256;
                while (ncap < c->ctxlen + l + 1)
                    ncap *= 2;
                char *nc = realloc(c->ctx, ncap);
                if (!nc)
                    return false;
                c->ctx = nc;
                cap = ncap;
            }
            memcpy(c->ctx + c->ctxlen, b->src + line_start, l);
            c->ctx[c->ctxlen + l] = '\n';
            kept_line = line_start;
            c->occ[3 * c->nocc + 2] = (uint32_t)c->ctxlen;
            c->ctxlen += l + 1;
        } else {
            c->occ[3 * c->nocc + 2] = c->occ[3 * (c->nocc - 1) + 2];
        }
        c->occ[3 * c->nocc] = line;
        c->occ[3 * c->nocc + 1] = (uint32_t)(hits[h].offset - line_start + 1);
        c->nocc++;
    }
    return true;
}

/* Candidate i of the check: its file read (as indexed: the stored mask,
 * else parsed again) and searched for the names; its occurrences kept,
 * the text let go. Errors go to c->rc. */
static void verify_candidate(void *arg, size_t i)
{
    const ucheck *k = arg;
    ucand *c = &k->c[i];
    char *text = NULL;
    bool readable = false;
    qp__mention_hit *hits = NULL;
    size_t nh = 0;
    if (!c->wanted)
        return;
    c->err = (qp_error)QP_ERROR_INIT;
    c->rc = load_text(k->vault, c->f.path, c->hash, &c->b, &text, &readable, &c->err);
    if (c->rc != QP_OK || !readable)
        return;
    c->rc = qp__mentions_find(&hits, &nh, text, c->b.len, (const char *const *)k->names, k->nn,
                              &c->err);
    free(text);
    if (c->rc == QP_OK && nh > 0 && !keep_occurrences(c, &c->b, hits, nh))
        c->rc = qp_error_set(&c->err, QP_ENOMEM, "out of memory");
    free(hits);
    body_free(&c->b);
}

/* c as a Source object with its occurrences (new; NULL on OOM). */
static json_t *ucand_source(ucand *c)
{
    body ctx = {c->ctx, c->ctxlen, NULL, 0};
    json_t *occ = json_array();
    for (size_t j = 0; occ && j < c->nocc; j++)
        json_array_append_new(
            occ, occurrence(&ctx, c->occ[3 * j], c->occ[3 * j + 2], c->occ[3 * j + 1]));
    return occ ? source_obj(&c->f, occ) : NULL;
}

/* Unlinked sources of `target` (links.md §4.3), sorted by path. */
static qp_rc unlinked_sources(qp_store *st, const qp_vault *vault, const file_info *target,
                              idset *linkers, json_t **out, qp_error *err)
{
    qp_rc rc = QP_OK;
    char **names = NULL;
    size_t nn = 0;
    idset cands = {0};
    json_t **found = NULL;
    size_t nfound = 0, nuc = 0;
    ucand *uc = NULL;
    json_t *arr = NULL;
    *out = NULL;

    if (!vault) /* the texts are read from the files */
        return qp_error_set(err, QP_EINVAL, "unlinked mentions need the vault");
    qsort(linkers->v, linkers->n, sizeof *linkers->v, id_cmp);
    rc = mention_names(st, target, &names, &nn, err);
    if (rc != QP_OK)
        goto cleanup;
    for (size_t i = 0; i < nn && rc == QP_OK; i++)
        rc = candidates_for(st, names[i], &cands, err);
    if (rc != QP_OK)
        goto cleanup;
    idset_unique(&cands);
    found = calloc(cands.n + 1, sizeof *found);
    uc = calloc(cands.n + 1, sizeof *uc);
    if (!found || !uc)
        goto oom;
    /* The index's part of every candidate, on this thread... */
    for (size_t c = 0; c < cands.n && rc == QP_OK; c++) {
        if (idset_has_sorted(linkers, cands.v[c]))
            continue;
        rc = mention_source(st, cands.v[c], &uc[nuc].f, &uc[nuc].b, &uc[nuc].hash, &uc[nuc].wanted,
                            err);
        /* Obsidian hides excluded files here */
        if (rc == QP_OK && uc[nuc].wanted && qp_vault_excluded(vault, uc[nuc].f.path))
            uc[nuc].wanted = false;
        nuc++;
    }
    if (rc != QP_OK)
        goto cleanup;
    /* ...the files, on as many threads as the store was given (a busy
     * person's candidates are thousands of files to read and search)... */
    ucheck check = {uc, vault, names, nn};
    qp__store_parallel(st, verify_candidate, &check, nuc);
    /* ...and the answer, in candidate order, the first error first. */
    for (size_t c = 0; c < nuc; c++) {
        if (uc[c].rc != QP_OK) {
            rc = uc[c].rc;
            if (err)
                *err = uc[c].err;
            goto cleanup;
        }
        if (uc[c].nocc > 0 && !(found[nfound++] = ucand_source(&uc[c])))
            goto oom;
    }
    qsort(found, nfound, sizeof *found, source_path_cmp);
    arr = json_array();
    if (!arr)
        goto oom;
    for (size_t i = 0; i < nfound; i++) {
        json_array_append_new(arr, found[i]);
        found[i] = NULL;
    }
    *out = arr;
    arr = NULL;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    if (found)
        for (size_t i = 0; i < nfound; i++)
            json_decref(found[i]);
    free(found);
    for (size_t c = 0; c < nuc; c++)
        ucand_free(&uc[c]);
    free(uc);
    json_decref(arr);
    free(cands.v);
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- methods ---- */

static qp_rc count_one(qp_store *st, qp__stmt_id id, json_int_t *out, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = qp__store_stmt(&s, st, id, err);
    if (rc != QP_OK)
        return rc;
    int src = sqlite3_step(s);
    *out = src == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "counts", err);
    return QP_OK;
}

static qp_rc m_status(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                      qp_error *err)
{
    (void)params;
    json_int_t files = 0, tasks = 0, links = 0, unresolved = 0;
    json_int_t kinds[3] = {0, 0, 0};
    qp_rc rc = count_one(st, QP__S_COUNT_FILES, &files, err);
    if (rc == QP_OK)
        rc = count_one(st, QP__S_COUNT_TASKS, &tasks, err);
    if (rc == QP_OK)
        rc = count_one(st, QP__S_COUNT_LINKS, &links, err);
    if (rc == QP_OK)
        rc = count_one(st, QP__S_COUNT_UNRESOLVED, &unresolved, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_stmt *s;
    if ((rc = qp__store_stmt(&s, st, QP__S_COUNT_KINDS, err)) != QP_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int k = sqlite3_column_int(s, 0);
        if (k >= 0 && k < 3)
            kinds[k] = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "counts", err);
    *out = json_pack(
        "{sI sI s{sI sI sI} sI sI sI}", "generation", (json_int_t)qp_store_generation(st), "files",
        files, "notes", "person", kinds[QP_KIND_PERSON], "meeting", kinds[QP_KIND_MEETING], "other",
        kinds[QP_KIND_NOTE], "tasks", tasks, "links", links, "unresolved_links", unresolved);
    if (!*out)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    json_t *problems = NULL; /* per kind: lib/problems.c */
    if ((rc = qp__problems_counts(&problems, st, vault, err)) == QP_OK)
        json_object_set_new(*out, "problems", problems);
    return rc;
}

/* Runs a per-file statement and appends one JSON value per row. */
typedef json_t *(*row_fn)(sqlite3_stmt *s);

static qp_rc rows_to_array(qp_store *st, qp__stmt_id id, int64_t file, row_fn fn, json_t **out,
                           qp_error *err)
{
    *out = NULL;
    sqlite3_stmt *s;
    qp_rc rc = qp__store_stmt(&s, st, id, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, file);
    json_t *arr = json_array();
    if (!arr) {
        sqlite3_reset(s);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(arr, fn(s));
    sqlite3_reset(s);
    if (src != SQLITE_DONE) {
        json_decref(arr);
        return qp__store_sqlite_error(st, src, "note", err);
    }
    *out = arr;
    return QP_OK;
}

static json_t *col_json_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *row_alias(sqlite3_stmt *s)
{
    return col_json_text(s, 0);
}

static json_t *row_tag(sqlite3_stmt *s)
{
    return col_json_text(s, 0);
}

static json_t *row_heading(sqlite3_stmt *s)
{
    return json_pack("{sI so sI}", "level", (json_int_t)sqlite3_column_int64(s, 0), "text",
                     col_json_text(s, 1), "line", (json_int_t)sqlite3_column_int64(s, 2));
}

static json_t *row_link(sqlite3_stmt *s)
{
    return json_pack("{sI sI so so so sb so so}", "line", (json_int_t)sqlite3_column_int64(s, 0),
                     "column", (json_int_t)sqlite3_column_int64(s, 1), "target",
                     col_json_text(s, 2), "subpath", col_json_text(s, 3), "display",
                     col_json_text(s, 4), "embed", sqlite3_column_int(s, 5) != 0, "key",
                     col_json_text(s, 6), "path", col_json_text(s, 8));
}

static json_t *row_task(sqlite3_stmt *s)
{
    return json_pack("{sI s{so} so}", "line", (json_int_t)sqlite3_column_int64(s, 0), "status",
                     "symbol", col_json_text(s, 2), "text", col_json_text(s, 3));
}

static qp_rc m_note(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                    qp_error *err)
{
    (void)vault;
    file_info f;
    qp_rc rc = resolve_note_param(st, params, &f, err);
    if (rc != QP_OK)
        return rc;
    json_t *aliases = NULL, *tags = NULL, *headings = NULL, *links = NULL, *tasks = NULL,
           *props = NULL;
    rc = rows_to_array(st, QP__S_ALIASES_OF, f.id, row_alias, &aliases, err);
    if (rc == QP_OK)
        rc = rows_to_array(st, QP__S_TAGS_OF, f.id, row_tag, &tags, err);
    if (rc == QP_OK)
        rc = rows_to_array(st, QP__S_HEADINGS_OF, f.id, row_heading, &headings, err);
    if (rc == QP_OK)
        rc = rows_to_array(st, QP__S_LINKS_FROM, f.id, row_link, &links, err);
    if (rc == QP_OK)
        rc = rows_to_array(st, QP__S_TASKS_OF, f.id, row_task, &tasks, err);
    if (rc == QP_OK) {
        sqlite3_stmt *s;
        if ((rc = qp__store_stmt(&s, st, QP__S_PROPS_OF, err)) == QP_OK) {
            sqlite3_bind_int64(s, 1, f.id);
            int src = sqlite3_step(s);
            if (src == SQLITE_ROW) {
                const char *j = (const char *)sqlite3_column_text(s, 0);
                props = j ? json_loads(j, JSON_DECODE_ANY, NULL) : NULL;
            } else if (src != SQLITE_DONE) {
                rc = qp__store_sqlite_error(st, src, "properties", err);
            }
            sqlite3_reset(s);
            if (!props)
                props = json_null();
        }
    }
    if (rc == QP_OK) {
        *out = json_pack("{ss ss so so so so so so so so}", "path", f.path, "kind",
                         qp__mnote_kind(&f), "title", str_or_null(f.title), "date",
                         str_or_null(f.date), "aliases", aliases, "tags", tags, "properties", props,
                         "headings", headings, "links", links, "tasks", tasks);
        aliases = tags = headings = links = tasks = props = NULL; /* "o" stole them */
        if (!*out)
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    json_decref(aliases);
    json_decref(tags);
    json_decref(headings);
    json_decref(links);
    json_decref(tasks);
    json_decref(props);
    qp__mnote_free(&f);
    return rc;
}

static qp_rc load_refs(qp_store *st, int64_t id, qp__heading_ref **h, size_t *nh, qp__block_ref **b,
                       size_t *nb, char **strs, qp_error *err);

static qp_rc m_resolve(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                       qp_error *err)
{
    (void)vault;
    const char *link = NULL, *from = NULL, *syntax = NULL;
    qp_rc rc = qp__query_param_string(&link, params, "link", true, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&from, params, "from", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&syntax, params, "syntax", false, err);
    if (rc != QP_OK)
        return rc;
    bool markdown = syntax && strcmp(syntax, "markdown") == 0;
    if (syntax && !markdown && strcmp(syntax, "wiki") != 0)
        return qp_error_set(err, QP_EINVAL, "param syntax: expected \"wiki\" or \"markdown\"");

    parsed_link pl;
    rc = parse_link_text(&pl, link, markdown, err);
    if (rc != QP_OK) {
        qp_arena_free(pl.arena);
        return rc;
    }
    int64_t src_id = 0, dst = 0;
    if (from && (rc = file_id_by_path(st, from, &src_id, err)) != QP_OK)
        goto cleanup;
    rc = qp__resolve(&dst, pl.target, from ? from : "", src_id, qp__store_cands, st, err);
    if (rc != QP_OK)
        goto cleanup;
    json_t *res = json_object();
    if (!res)
        goto oom;
    file_info f;
    memset(&f, 0, sizeof f);
    if (dst) {
        if ((rc = qp__mnote_get(&f, st, dst, err)) != QP_OK) {
            json_decref(res);
            goto cleanup;
        }
        json_object_set_new(res, "path", json_string(f.path));
    } else {
        json_object_set_new(res, "path", json_null());
    }
    if (dst && pl.subpath) {
        qp__heading_ref *h = NULL;
        qp__block_ref *b = NULL;
        size_t nh = 0, nb = 0;
        char *strs = NULL;
        rc = load_refs(st, dst, &h, &nh, &b, &nb, &strs, err);
        if (rc == QP_OK) {
            uint32_t line = 0;
            bool found = qp__subpath_find(pl.subpath, h, nh, b, nb, &line);
            json_object_set_new(res, "subpath", json_string(pl.subpath));
            json_object_set_new(res, "subpath_found", json_boolean(found));
            json_object_set_new(res, "subpath_line", json_integer(line));
        }
        free(h);
        free(b);
        free(strs);
    }
    qp__mnote_free(&f);
    if (rc != QP_OK) {
        json_decref(res);
        goto cleanup;
    }
    *out = res;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    qp_arena_free(pl.arena);
    return rc;
}

/* Headings and block ids of a file; the strings live in *strs (one buffer). */
static qp_rc load_refs(qp_store *st, int64_t id, qp__heading_ref **h, size_t *nh, qp__block_ref **b,
                       size_t *nb, char **strs, qp_error *err)
{
    /* Two passes over small per-file tables: gather strings as JSON first
     * (jansson owns them), then lay them out. */
    json_t *hs = NULL, *bs = NULL;
    qp_rc rc = rows_to_array(st, QP__S_HEADINGS_OF, id, row_heading, &hs, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_stmt *s;
    if ((rc = qp__store_stmt(&s, st, QP__S_BLOCKS_OF, err)) != QP_OK) {
        json_decref(hs);
        return rc;
    }
    bs = json_array();
    sqlite3_bind_int64(s, 1, id);
    int src = SQLITE_DONE;
    while (bs && (src = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(bs, json_pack("{so sI}", "id", col_json_text(s, 0), "line",
                                            (json_int_t)sqlite3_column_int64(s, 1)));
    sqlite3_reset(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW) {
        json_decref(hs);
        json_decref(bs);
        return qp__store_sqlite_error(st, src, "blocks", err);
    }
    size_t total = 1;
    size_t i;
    json_t *v;
    json_array_foreach(hs, i, v) total += strlen(json_string_value(json_object_get(v, "text"))) + 1;
    json_array_foreach(bs, i, v) total += strlen(json_string_value(json_object_get(v, "id"))) + 1;
    *nh = json_array_size(hs);
    *nb = json_array_size(bs);
    *h = calloc(*nh + 1, sizeof **h);
    *b = calloc(*nb + 1, sizeof **b);
    *strs = malloc(total);
    if (!bs || !*h || !*b || !*strs) {
        json_decref(hs);
        json_decref(bs);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    size_t used = 0;
    json_array_foreach(hs, i, v)
    {
        const char *t = json_string_value(json_object_get(v, "text"));
        size_t l = strlen(t) + 1;
        memcpy(*strs + used, t, l);
        (*h)[i].text = *strs + used;
        used += l;
        (*h)[i].level = (int)json_integer_value(json_object_get(v, "level"));
        (*h)[i].line = (uint32_t)json_integer_value(json_object_get(v, "line"));
    }
    json_array_foreach(bs, i, v)
    {
        const char *t = json_string_value(json_object_get(v, "id"));
        size_t l = strlen(t) + 1;
        memcpy(*strs + used, t, l);
        (*b)[i].id = *strs + used;
        used += l;
        (*b)[i].line = (uint32_t)json_integer_value(json_object_get(v, "line"));
    }
    json_decref(hs);
    json_decref(bs);
    return QP_OK;
}

/* backlinks: both lists paged alike (query_page.h); the linked list
 * costs its page, the unlinked one is found whole (each candidate note
 * is read to find its mentions) and then cut. Written as text
 * (jtext_int.h), member for member what the object would dump as. */
static qp_rc m_backlinks(char **out, qp_store *st, const qp_vault *vault, json_t *params,
                         qp_error *err)
{
    file_info f;
    qp__page pg;
    bool want_unlinked = false;
    *out = NULL;
    qp_rc rc = param_bool(&want_unlinked, params, "unlinked", err);
    if (rc == QP_OK)
        rc = qp__page_params(&pg, params, err);
    if (rc != QP_OK)
        return rc;
    rc = resolve_note_param(st, params, &f, err);
    if (rc != QP_OK) {
        qp__page_free(&pg);
        return rc;
    }
    idset linkers = {0};
    json_t *unlinked = NULL;
    size_t nlinked = 0, nunlinked = 0;
    qp__jtext b = {0};
    qp__jt_str(&b, "{\"path\":");
    qp__jt_json(&b, json_string(f.path));
    qp__jt_str(&b, ",\"linked\":");
    rc = linked_sources(st, &f, &pg, &b, NULL, &nlinked, &linkers, err);
    if (rc == QP_OK && want_unlinked) {
        json_t *all = NULL;
        rc = unlinked_sources(st, vault, &f, &linkers, &all, err);
        if (rc == QP_OK)
            rc = qp__page_slice_sorted(&unlinked, &nunlinked, &pg, "u", all, err);
    }
    if (rc == QP_OK) {
        if (unlinked) {
            qp__page_strip_occurrences(&pg, unlinked);
            qp__jt_str(&b, ",\"unlinked\":");
            qp__jt_json(&b, unlinked); /* released there */
            unlinked = NULL;
        }
        /* Totals are part of a page; an answer without `limit` is whole. */
        if (pg.limit) {
            qp__jt_str(&b, ",\"linked_total\":");
            qp__jt_json(&b, json_integer((json_int_t)nlinked));
            if (want_unlinked) {
                qp__jt_str(&b, ",\"unlinked_total\":");
                qp__jt_json(&b, json_integer((json_int_t)nunlinked));
            }
        }
        bool oom = false;
        char *cursor = qp__page_cursor_text(&pg, &oom);
        if (cursor) {
            qp__jt_str(&b, ",\"next_cursor\":");
            qp__jt_json(&b, json_string(cursor));
            free(cursor);
        }
        qp__jt_str(&b, "}");
        if (oom)
            b.oom = true;
        if (!(*out = qp__jt_finish(&b)))
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    } else {
        qp__jt_free(&b);
    }
    json_decref(unlinked);
    free(linkers.v);
    qp__mnote_free(&f);
    qp__page_free(&pg);
    return rc;
}

static int meeting_cmp(const void *a, const void *b)
{
    json_t *const *x = a, *const *y = b;
    const char *dx = json_string_value(json_object_get(*x, "date"));
    const char *dy = json_string_value(json_object_get(*y, "date"));
    if (dx && !dy)
        return -1;
    if (!dx && dy)
        return 1;
    if (dx && dy) {
        int c = strcmp(dy, dx); /* newest first */
        if (c != 0)
            return c;
    }
    return source_path_cmp(a, b);
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The paths of an array of Source objects or path strings, sorted for
 * path_set_has(): a busy person is in thousands of meetings, and a linear
 * search per "Mentioned in" line made mentions quadratic. Borrowed strings;
 * NULL on OOM (n 0 gives a valid empty set). */
static const char **path_set(json_t *arr, size_t *n)
{
    size_t i, k = 0;
    json_t *v;
    const char **set = malloc((json_array_size(arr) + 1) * sizeof *set);
    if (!set)
        return NULL;
    json_array_foreach(arr, i, v)
    {
        const char *p = json_is_string(v) ? json_string_value(v)
                                          : json_string_value(json_object_get(v, "path"));
        if (p)
            set[k++] = p;
    }
    qsort(set, k, sizeof *set, str_ptr_cmp);
    *n = k;
    return set;
}

static bool path_set_has(const char **set, size_t n, const char *path)
{
    return path && n && bsearch(&path, set, n, sizeof *set, str_ptr_cmp) != NULL;
}

/* The meetings among a note's linked and unlinked sources, newest first:
 * what its "Mentioned in" list should hold. *out is a new array. */
static qp_rc meetings_of(json_t **out, json_t *linked, json_t *unlinked, qp_error *err)
{
    size_t cap = json_array_size(linked) + json_array_size(unlinked), n = 0, i;
    json_t **tmp = calloc(cap + 1, sizeof *tmp), *v;
    json_t *arr = json_array();
    if (!tmp || !arr) {
        free(tmp);
        json_decref(arr);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    json_t *const from[2] = {linked, unlinked};
    for (int k = 0; k < 2; k++)
        json_array_foreach(from[k], i, v)
        {
            if (strcmp(json_string_value(json_object_get(v, "kind")), "meeting") == 0)
                tmp[n++] = v;
        }
    qsort(tmp, n, sizeof *tmp, meeting_cmp);
    for (i = 0; i < n; i++)
        json_array_append(arr, tmp[i]);
    free(tmp);
    *out = arr;
    return QP_OK;
}

/* One "Mentioned in" line of a note, as stored. */
typedef struct mention_line {
    uint32_t line;
    char *title, *folded;
} mention_line;

static void mention_lines_free(mention_line *v, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(v[k].title);
        free(v[k].folded);
    }
    free(v);
}

/* The stored "Mentioned in" lines of file `id`; *out new (free with
 * mention_lines_free), NULL when *n is 0. */
static qp_rc mention_lines_load(mention_line **out, size_t *n, qp_store *st, int64_t id,
                                qp_error *err)
{
    mention_line *v = NULL;
    size_t nl = 0, cap = 0;
    sqlite3_stmt *s;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_MENTION_LINES_OF, err);
    *out = NULL;
    *n = 0;
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (nl == cap) {
            cap = cap ? cap * 2 : 16;
            mention_line *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
        v[nl].line = (uint32_t)sqlite3_column_int64(s, 0);
        v[nl].title = col_dup(s, 2);
        v[nl].folded = col_dup(s, 3);
        nl++;
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = qp__store_sqlite_error(st, src, "mention lines", err);
    else if (src == SQLITE_ROW)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    if (rc != QP_OK) {
        mention_lines_free(v, nl);
        return rc;
    }
    *out = v;
    *n = nl;
    return QP_OK;
}

/* Each "Mentioned in" line with the meeting its title names (the first by
 * path, or null) into `listed`; the lines whose meeting does not mention
 * the note (or does not exist) into `stale`. */
static qp_rc check_listed(qp_store *st, const mention_line *lines, size_t nl, json_t *mentioned,
                          json_t *listed, json_t *stale, qp_error *err)
{
    size_t nmset = 0;
    const char **mset = path_set(mentioned, &nmset);
    qp_rc rc = QP_OK;
    if (!mset)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    for (size_t k = 0; k < nl && rc == QP_OK; k++) {
        const char *title = lines[k].title ? lines[k].title : "";
        json_t *path = json_null();
        sqlite3_stmt *m;
        if ((rc = qp__store_stmt(&m, st, QP__S_MEETING_BY_TITLE, err)) != QP_OK)
            break;
        sqlite3_bind_text(m, 1, lines[k].folded ? lines[k].folded : "", -1, SQLITE_STATIC);
        int msrc = sqlite3_step(m);
        if (msrc == SQLITE_ROW)
            path = col_json_text(m, 1);
        sqlite3_reset(m);
        if (msrc != SQLITE_ROW && msrc != SQLITE_DONE) {
            rc = qp__store_sqlite_error(st, msrc, "meetings", err);
            break;
        }
        const char *ps = json_string_value(path);
        json_array_append_new(listed, json_pack("{sI ss sO}", "line", (json_int_t)lines[k].line,
                                                "title", title, "path", path));
        if (!ps || !path_set_has(mset, nmset, ps))
            json_array_append_new(
                stale, json_pack("{sI ss}", "line", (json_int_t)lines[k].line, "title", title));
        json_decref(path);
    }
    free(mset);
    return rc;
}

/* The meetings in `mentioned` that no line of `listed` names, into `missing`. */
static qp_rc check_missing(json_t *mentioned, json_t *listed, json_t *missing, qp_error *err)
{
    size_t nlset = 0, i;
    json_t *v;
    const char **lset = path_set(listed, &nlset);
    if (!lset)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    json_array_foreach(mentioned, i, v)
    {
        const char *p = json_string_value(json_object_get(v, "path"));
        if (!path_set_has(lset, nlset, p))
            json_array_append_new(missing, json_string(p));
    }
    free(lset);
    return QP_OK;
}

/* mentions: the meetings that mention a note (linked or not) against its
 * "Mentioned in" list: what is listed, what is missing, what is stale. */
static qp_rc m_mentions(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                        qp_error *err)
{
    file_info f;
    qp__page pg;
    qp_rc rc = qp__page_params(&pg, params, err);
    if (rc != QP_OK)
        return rc;
    rc = resolve_note_param(st, params, &f, err);
    if (rc != QP_OK) {
        qp__page_free(&pg);
        return rc;
    }
    /* Every source is needed (missing and stale compare against them all);
     * occurrences are cut as the page asks, and mentioned_in is paged. */
    qp__page all = {.max_occ = pg.max_occ, .no_occ = pg.no_occ};
    idset linkers = {0};
    json_t *linked = NULL, *unlinked = NULL, *mentioned = NULL, *page = NULL;
    json_t *listed = json_array(), *missing = json_array(), *stale = json_array();
    mention_line *lines = NULL;
    size_t nl = 0, nlinked = 0, nmentioned = 0;
    if (!listed || !missing || !stale) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = linked_sources(st, &f, &all, NULL, &linked, &nlinked, &linkers, err);
    if (rc == QP_OK)
        rc = unlinked_sources(st, vault, &f, &linkers, &unlinked, err);
    if (rc == QP_OK) {
        qp__page_cap_occurrences(&all, unlinked);
        rc = meetings_of(&mentioned, linked, unlinked, err);
    }
    if (rc == QP_OK)
        rc = mention_lines_load(&lines, &nl, st, f.id, err);
    if (rc == QP_OK)
        rc = check_listed(st, lines, nl, mentioned, listed, stale, err);
    if (rc == QP_OK)
        rc = check_missing(mentioned, listed, missing, err);
    if (rc == QP_OK) {
        rc = qp__page_slice_offset(&page, &nmentioned, &pg, "m", mentioned, err);
        mentioned = NULL; /* consumed */
    }
    if (rc != QP_OK)
        goto cleanup;
    qp__page_strip_occurrences(&pg, page);
    *out = json_pack("{ss so so so so}", "path", f.path, "mentioned_in", page, "listed", listed,
                     "missing", missing, "stale", stale);
    listed = missing = stale = NULL; /* "so" took them, even on failure */
    if (*out && pg.limit)
        json_object_set_new(*out, "mentioned_total", json_integer((json_int_t)nmentioned));
    if (!*out || !qp__page_finish(&pg, *out))
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    mention_lines_free(lines, nl);
    json_decref(linked);
    json_decref(unlinked);
    json_decref(mentioned);
    json_decref(listed);
    json_decref(missing);
    json_decref(stale);
    free(linkers.v);
    qp__mnote_free(&f);
    qp__page_free(&pg);
    return rc;
}

static qp_rc m_tasks_query(char **out, qp_store *st, const qp_vault *vault, json_t *params,
                           qp_error *err)
{
    qp__page pg;
    qp_rc rc = qp__page_params(&pg, params, err);
    if (rc != QP_OK)
        return rc;
    qp_vaultconf *conf = vault ? qp_vault_conf(vault) : NULL; /* the vault's Tasks settings */
    rc = qp__query_tasks(out, st, qp_vaultconf_tasks(conf), params, &pg, err);
    qp_vaultconf_free(conf);
    qp__page_free(&pg);
    return rc;
}

static qp_rc m_tasks_blocks(char **out, qp_store *st, const qp_vault *vault, json_t *params,
                            qp_error *err)
{
    file_info f;
    qp_rc rc = resolve_note_param(st, params, &f, err);
    if (rc != QP_OK)
        return rc;
    qp_vaultconf *conf = vault ? qp_vault_conf(vault) : NULL;
    rc = qp__query_task_blocks(out, st, qp_vaultconf_tasks(conf), f.path, params, err);
    qp_vaultconf_free(conf);
    qp__mnote_free(&f);
    return rc;
}

typedef qp_rc (*method_fn)(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                           qp_error *err);
/* A method that writes its answer as JSON text itself (jtext_int.h: the
 * task answers, too big to hold as jansson values; backlinks, too hot). */
typedef qp_rc (*text_fn)(char **out, qp_store *st, const qp_vault *vault, json_t *params,
                         qp_error *err);

static const struct {
    const char *name;
    method_fn fn;
    text_fn text;
} methods[] = {
    {"backlinks", NULL, m_backlinks},
    {"mentions", m_mentions, NULL},
    {"note", m_note, NULL},
    {"resolve", m_resolve, NULL},
    {"search", qp__query_search, NULL},
    {"status", m_status, NULL},
    {"tasks.blocks", NULL, m_tasks_blocks},
    {"tasks.query", NULL, m_tasks_query},
    {"backlinks.locations", NULL, qp__m_backlinks_locations},
    {"backlinks.subpath", qp__m_backlinks_subpath, NULL},
    {"complete.blocks", qp__m_complete_blocks, NULL},
    {"complete.headings", qp__m_complete_headings, NULL},
    {"complete.notes", qp__m_complete_notes, NULL},
    {"complete.tags", qp__m_complete_tags, NULL},
    {"complete.values", qp__m_complete_values, NULL},
    {"list", qp__m_list, NULL},
    {"problems", qp__m_problems, NULL},
    {"symbols", qp__m_symbols, NULL},
    {"symbols.search", qp__m_symbols_search, NULL},
    {"unresolved", qp__m_unresolved, NULL},
    {"rename.plan", qp__rename_plan, NULL},
};

qp_rc qp_query_run(char **out, qp_store *st, const qp_vault *vault, const char *method,
                   const char *params_json, qp_error *err)
{
    *out = NULL;
    if (!method)
        return qp_error_set(err, QP_EINVAL, "missing method");
    method_fn fn = NULL;
    text_fn tfn = NULL;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, method) == 0) {
            fn = methods[i].fn;
            tfn = methods[i].text;
        }
    if (!fn && !tfn)
        return qp_error_set(err, QP_EINVAL, "unknown method: %s", method);

    json_t *params;
    if (params_json) {
        json_error_t je;
        params = json_loads(params_json, JSON_DECODE_ANY, &je);
        if (!params)
            return qp_error_set(err, QP_EINVAL, "params: invalid JSON: %s", je.text);
        if (json_is_null(params)) {
            json_decref(params);
            params = json_object();
        }
    } else {
        params = json_object();
    }
    if (!params)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    if (!json_is_object(params)) {
        json_decref(params);
        return qp_error_set(err, QP_EINVAL, "params: expected an object");
    }
    /* One read transaction: every statement of the answer sees the same
     * snapshot, and SQLite takes its locks once instead of per statement. */
    bool txn = qp__store_read_begin(st);
    json_t *res = NULL;
    qp_rc rc = tfn ? tfn(out, st, vault, params, err) : fn(&res, st, vault, params, err);
    if (txn)
        qp__store_read_end(st);
    json_decref(params);
    if (tfn)
        return rc;
    if (rc != QP_OK) {
        json_decref(res);
        return rc;
    }
    qp__jtext t = {0};
    qp__jt_value(&t, res); /* json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY), faster */
    json_decref(res);
    char *text = qp__jt_finish(&t);
    if (!text)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    *out = text;
    return QP_OK;
}
