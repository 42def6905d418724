/*
 * refs — backlinks.subpath: the links to one heading or block of a note
 * (docs/protocol.md), for LSP references on a heading or a `^id`; and
 * backlinks.locations: where each link to a note (or to one of its
 * headings or blocks) sits, as editor ranges, for LSP references.
 *
 * A link counts when its own subpath, matched against the target's
 * headings and block ids as every link is (qp__subpath_find, links.md §7),
 * lands on the same line as the asked subpath: `[[N#A#B]]` and `[[N#B]]`
 * both reach B when B is the first heading of that name under A. Links
 * from the note to itself (`[[#B]]`) are included: they are references
 * too.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jtext_int.h"
#include "methods_int.h"
#include "quipu/note.h"
#include "quipu/text.h"

static json_t *text_or_empty(const unsigned char *t)
{
    json_t *j = json_string(t ? (const char *)t : "");
    return j ? j : json_string(""); /* invalid UTF-8 in the line */
}

/* Whether the link of row s, whose subpath is in column `col`, lands on
 * line `want` of the target whose headings and blocks are r. */
static qp_rc subpath_lands(bool *lands, sqlite3_stmt *s, int col, const qp__mrefs *r, uint32_t want,
                           qp_error *err)
{
    uint32_t line = 0;
    bool hit = false;
    qp_rc rc = qp__msubpath_find(&hit, &line, (const char *)sqlite3_column_text(s, col), r, err);
    *lands = rc == QP_OK && hit && line == want;
    return rc;
}

qp_rc qp__m_backlinks_subpath(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                              qp_error *err)
{
    (void)vault;
    const char *subpath = NULL;
    qp__mnote n;
    qp__mrefs r;
    sqlite3_stmt *s = NULL;
    json_t *linked = NULL, *occ = NULL;
    memset(&r, 0, sizeof r);
    qp_rc rc = qp__query_param_string(&subpath, params, "subpath", true, err);
    if (rc != QP_OK)
        return rc;
    if (subpath[0] != '#' || subpath[1] == '\0')
        return qp_error_set(err, QP_EINVAL,
                            "param subpath: expected #Heading, #A#B or #^blockid, got \"%s\"",
                            subpath);
    if ((rc = qp__mparam_note(&n, st, params, err)) != QP_OK)
        return rc;
    if ((rc = qp__mrefs_load(&r, st, n.id, err)) != QP_OK)
        goto cleanup;
    uint32_t want = 0;
    bool found = false;
    if ((rc = qp__msubpath_find(&found, &want, subpath, &r, err)) != QP_OK)
        goto cleanup;
    linked = json_array();
    if (!linked)
        goto oom;
    if (found) {
        rc = qp__mprepare(&s, st,
                          "SELECT l.src, l.line, l.col, f.path, f.kind, f.title, f.date, f.is_note,"
                          " l.context, l.subpath FROM links l JOIN files f ON f.id = l.src"
                          " WHERE l.dst = ?1 AND l.subpath IS NOT NULL"
                          " ORDER BY f.path, l.line, l.col",
                          err);
        if (rc != QP_OK)
            goto cleanup;
        sqlite3_bind_int64(s, 1, n.id);
        int src;
        int64_t cur = 0;
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            bool lands = false;
            if ((rc = subpath_lands(&lands, s, 9, &r, want, err)) != QP_OK)
                goto cleanup;
            if (!lands)
                continue;
            int64_t id = sqlite3_column_int64(s, 0);
            if (id != cur) {
                qp__mnote f = {.id = id,
                               .is_note = sqlite3_column_int(s, 7) != 0,
                               .kind = sqlite3_column_int(s, 4)};
                const unsigned char *title = sqlite3_column_text(s, 5);
                const unsigned char *date = sqlite3_column_text(s, 6);
                occ = json_array();
                json_t *so =
                    occ ? json_pack("{ss ss so so sO}", "path",
                                    (const char *)sqlite3_column_text(s, 3), "kind",
                                    qp__mnote_kind(&f), "title",
                                    title ? json_string((const char *)title) : json_null(), "date",
                                    date ? json_string((const char *)date) : json_null(),
                                    "occurrences", occ)
                        : NULL;
                json_decref(occ); /* the source holds it now ("O" took a reference) */
                if (!so || json_array_append_new(linked, so) != 0)
                    goto oom;
                cur = id;
            }
            json_t *o = json_pack("{sI sI so}", "line", (json_int_t)sqlite3_column_int64(s, 1),
                                  "column", (json_int_t)sqlite3_column_int64(s, 2), "context",
                                  text_or_empty(sqlite3_column_text(s, 8)));
            if (!o || json_array_append_new(occ, o) != 0)
                goto oom;
        }
        if (src != SQLITE_DONE) {
            rc = qp__store_sqlite_error(st, src, "links", err);
            goto cleanup;
        }
    }
    *out = json_pack("{ss ss sb sI so}", "path", n.path, "subpath", subpath, "found", found, "line",
                     (json_int_t)want, "linked", linked);
    linked = NULL;
    if (!*out)
        goto oom;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    sqlite3_finalize(s);
    json_decref(linked);
    qp__mrefs_free(&r);
    qp__mnote_free(&n);
    return rc;
}

/* ---- backlinks.locations ---- */

/* backlinks.locations is LSP references' question: every place a link to
 * the note (or to one heading or block of it) is written, nothing else.
 * backlinks answers it too, but as Sources with each link's line text, so
 * the busiest person at 100k notes was a 1.5 MB answer for the editor's
 * client to parse before it could make one range. Here each link is three
 * numbers, computed from the row the link table already holds (its line's
 * text, column and length): one index range scan of links_dst and one
 * path lookup per source file. A file's ranges are one flat array
 * (line, start, end, line, ...): an array per link was a quarter of the
 * values the client's parser allocates. */

typedef enum {
    ENC_UTF16,
    ENC_UTF8,
    ENC_UTF32
} loc_enc;

typedef struct loc_file {
    int64_t id;
    char *path;
    size_t first, n; /* its ranges: loc_vec.r[3 * first ...] */
} loc_file;

typedef struct loc_vec {
    loc_file *f;
    size_t nf, capf;
    uint32_t *r; /* line, start, end per link */
    size_t nr, capr;
} loc_vec;

/* Adds one range of file `src`, whose path (read with its first range)
 * is `path`. */
static bool loc_add(loc_vec *v, int64_t src, const unsigned char *path, uint32_t line, uint32_t a,
                    uint32_t b)
{
    if (v->nf == 0 || v->f[v->nf - 1].id != src) {
        if (v->nf == v->capf) {
            size_t nc = v->capf ? v->capf * 2 : 64;
            loc_file *nf = realloc(v->f, nc * sizeof *nf);
            if (!nf)
                return false;
            v->f = nf;
            v->capf = nc;
        }
        char *copy = strdup(path ? (const char *)path : "");
        if (!copy)
            return false;
        v->f[v->nf++] = (loc_file){.id = src, .path = copy, .first = v->nr};
    }
    if (v->nr == v->capr) {
        size_t nc = v->capr ? v->capr * 2 : 256;
        uint32_t *nr = realloc(v->r, nc * 3 * sizeof *nr);
        if (!nr)
            return false;
        v->r = nr;
        v->capr = nc;
    }
    v->r[3 * v->nr] = line;
    v->r[3 * v->nr + 1] = a;
    v->r[3 * v->nr + 2] = b;
    v->nr++;
    v->f[v->nf - 1].n++;
    return true;
}

static int loc_file_cmp(const void *a, const void *b)
{
    return strcmp(((const loc_file *)a)->path, ((const loc_file *)b)->path);
}

/* The range of one link row: columns 0 src, 1 line, 2 the source's path,
 * then in UTF-8 and UTF-16 the stored range (3 start, 4 end: links.ra/rb
 * or ua/ub), in UTF-32 3 col (1-based bytes), 4 len and 5 the line's text,
 * counted here (qp__link_span, as the writer does for the stored ones). */
static bool loc_row(loc_vec *v, sqlite3_stmt *s, loc_enc enc)
{
    int64_t line = sqlite3_column_int64(s, 1);
    uint32_t a, b;
    if (enc == ENC_UTF32) {
        const char *ctx = (const char *)sqlite3_column_text(s, 5);
        size_t cn = ctx ? (size_t)sqlite3_column_bytes(s, 5) : 0, ba, bb;
        if (!ctx)
            ctx = "";
        qp__link_span(ctx, cn, sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4), &ba, &bb);
        a = (uint32_t)qp_text_units(ctx, ba, 32);
        b = a + (uint32_t)qp_text_units(ctx + ba, bb - ba, 32);
    } else {
        a = (uint32_t)sqlite3_column_int64(s, 3);
        b = (uint32_t)sqlite3_column_int64(s, 4);
    }
    return loc_add(v, sqlite3_column_int64(s, 0), sqlite3_column_text(s, 2),
                   line > 0 ? (uint32_t)line - 1 : 0, a, b);
}

/* Appends to b the JSON string of uri_root followed by rel, encoded as
 * `quipu lsp` encodes a path (qp_text_uri_encode). */
static void uri_string(qp__jtext *b, const char *uri_root, const char *rel)
{
    size_t rl = strlen(uri_root);
    char *u = malloc(rl + 3 * strlen(rel) + 1);
    if (!u) {
        b->oom = true;
        return;
    }
    memcpy(u, uri_root, rl);
    size_t n = rl + qp_text_uri_encode(u + rl, rel);
    if (!qp__jt_string(b, u, n))
        b->oom = true; /* uri_root was checked to be UTF-8; the rest is ASCII */
    free(u);
}

/* The answer as LSP Location[] (`uri_root` given): one Location a link,
 * files in path order, each file's links in line and column order, each
 * written as `quipu lsp` writes one. */
static void locations_lsp(qp__jtext *b, const loc_vec *v, const char *uri_root)
{
    qp__jtext uri = {0};
    bool first = true;
    qp__jt_str(b, "[");
    for (size_t i = 0; i < v->nf && !b->oom; i++) {
        uri.len = 0;
        uri_string(&uri, uri_root, v->f[i].path);
        if (uri.oom) {
            b->oom = true;
            break;
        }
        for (size_t k = 0; k < v->f[i].n; k++) {
            const uint32_t *t = v->r + 3 * (v->f[i].first + k);
            char num[160];
            int w = snprintf(num, sizeof num,
                             ",\"range\":{\"start\":{\"line\":%u,\"character\":%u},"
                             "\"end\":{\"line\":%u,\"character\":%u}}}",
                             t[0], t[1], t[0], t[2]);
            qp__jt_str(b, first ? "{\"uri\":" : ",{\"uri\":");
            first = false;
            qp__jt_add(b, uri.p, uri.len);
            qp__jt_add(b, num, (size_t)w);
        }
    }
    qp__jt_free(&uri);
    qp__jt_str(b, "]");
}

qp_rc qp__m_backlinks_locations(char **out, qp_store *st, const qp_vault *vault, json_t *params,
                                qp_error *err)
{
    (void)vault;
    const char *subpath = NULL, *encoding = NULL, *uri_root = NULL;
    loc_enc enc = ENC_UTF16;
    qp__mnote n;
    qp__mrefs r;
    sqlite3_stmt *s = NULL;
    loc_vec v = {0};
    qp__jtext b = {0};
    uint32_t want = 0;
    bool found = false;
    memset(&r, 0, sizeof r);
    *out = NULL;
    qp_rc rc = qp__query_param_string(&subpath, params, "subpath", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&encoding, params, "encoding", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&uri_root, params, "uri_root", false, err);
    if (rc != QP_OK)
        return rc;
    if (uri_root && json_string_length(json_object_get(params, "uri_root")) != strlen(uri_root))
        return qp_error_set(err, QP_EINVAL, "param uri_root: holds a NUL");
    if (subpath && (subpath[0] != '#' || subpath[1] == '\0'))
        return qp_error_set(err, QP_EINVAL,
                            "param subpath: expected #Heading, #A#B or #^blockid, got \"%s\"",
                            subpath);
    if (encoding && strcmp(encoding, "utf-16") != 0) {
        if (strcmp(encoding, "utf-8") == 0)
            enc = ENC_UTF8;
        else if (strcmp(encoding, "utf-32") == 0)
            enc = ENC_UTF32;
        else
            return qp_error_set(err, QP_EINVAL,
                                "param encoding: expected \"utf-16\", \"utf-8\" or \"utf-32\","
                                " got \"%s\"",
                                encoding);
    }
    if ((rc = qp__mparam_note(&n, st, params, err)) != QP_OK)
        return rc;
    if (subpath) {
        if ((rc = qp__mrefs_load(&r, st, n.id, err)) != QP_OK ||
            (rc = qp__msubpath_find(&found, &want, subpath, &r, err)) != QP_OK)
            goto cleanup;
    }
    /* A note's own links to itself are not its backlinks; a heading's
     * links from its own note are references to it (backlinks.subpath).
     * Without a subpath the rows come from links_dst and files_path_of
     * alone, the ranges stored (qp__link_span): for the busiest person,
     * 6,403 links in 4,950 files, the table rows were most of the pages
     * read, and a reader reads them again after every commit. */
    if (!subpath || found) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT l.src, l.line, f.path, %s%s FROM links l%s"
                 " JOIN files f INDEXED BY files_path_of ON f.id = l.src"
                 " WHERE l.dst = ?1 AND %s ORDER BY l.src, l.line, l.col",
                 enc == ENC_UTF32  ? "l.col, l.len, l.context"
                 : enc == ENC_UTF8 ? "l.ra, l.rb"
                                   : "l.ua, l.ub",
                 subpath ? ", l.subpath" : "", subpath ? "" : " INDEXED BY links_dst",
                 subpath ? "l.subpath IS NOT NULL" : "l.src <> ?1");
        rc = qp__mprepare(&s, st, sql, err);
        if (rc != QP_OK)
            goto cleanup;
        sqlite3_bind_int64(s, 1, n.id);
        int src;
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if (subpath) {
                bool lands = false;
                /* the subpath is the last column */
                if ((rc = subpath_lands(&lands, s, sqlite3_column_count(s) - 1, &r, want, err)) !=
                    QP_OK)
                    goto cleanup;
                if (!lands)
                    continue;
            }
            if (!loc_row(&v, s, enc))
                goto oom;
        }
        if (src != SQLITE_DONE) {
            rc = qp__store_sqlite_error(st, src, "links", err);
            goto cleanup;
        }
    }
    qp__msort(v.f, v.nf, sizeof *v.f, loc_file_cmp);
    if (uri_root) {
        locations_lsp(&b, &v, uri_root);
        goto done;
    }
    qp__jt_str(&b, "{\"path\":");
    qp__jt_json(&b, json_string(n.path));
    if (subpath) {
        qp__jt_str(&b, ",\"subpath\":");
        qp__jt_json(&b, json_string(subpath));
        qp__jt_str(&b, found ? ",\"found\":true" : ",\"found\":false");
    }
    qp__jt_str(&b, ",\"total\":");
    qp__jt_json(&b, json_integer((json_int_t)v.nr));
    qp__jt_str(&b, ",\"files\":[");
    for (size_t i = 0; i < v.nf && !b.oom; i++) {
        char num[3 * 12 + 8];
        qp__jt_str(&b, i ? ",{\"path\":" : "{\"path\":");
        qp__jt_json(&b, json_string(v.f[i].path));
        qp__jt_str(&b, ",\"ranges\":[");
        for (size_t k = 0; k < v.f[i].n; k++) {
            const uint32_t *t = v.r + 3 * (v.f[i].first + k);
            int w = snprintf(num, sizeof num, "%s%u,%u,%u", k ? "," : "", t[0], t[1], t[2]);
            qp__jt_add(&b, num, (size_t)w);
        }
        qp__jt_str(&b, "]}");
    }
    qp__jt_str(&b, "]}");
done:
    *out = qp__jt_finish(&b);
    b.p = NULL; /* released or handed out either way */
    if (!*out)
        goto oom;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    qp__jt_free(&b);
    sqlite3_finalize(s);
    for (size_t i = 0; i < v.nf; i++)
        free(v.f[i].path);
    free(v.f);
    free(v.r);
    qp__mrefs_free(&r);
    qp__mnote_free(&n);
    return rc;
}
