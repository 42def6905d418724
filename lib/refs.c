/*
 * refs — backlinks.subpath: the links to one heading or block of a note
 * (docs/protocol.md), for LSP references on a heading or a `^id`.
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

#include "methods_int.h"
#include "quipu/note.h"

static json_t *text_or_empty(const unsigned char *t)
{
    json_t *j = json_string(t ? (const char *)t : "");
    return j ? j : json_string(""); /* invalid UTF-8 in the line */
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
            uint32_t line = 0;
            bool hit = false;
            const char *sub = (const char *)sqlite3_column_text(s, 9);
            if ((rc = qp__msubpath_find(&hit, &line, sub, &r, err)) != QP_OK)
                goto cleanup;
            if (!hit || line != want)
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
