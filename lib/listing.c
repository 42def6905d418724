/*
 * listing — `list`: notes filtered by kind, folder, tag and property,
 * sorted and paginated (docs/protocol.md).
 *
 * The filters that the index answers directly (kind, folder by folded
 * path prefix, tag by folded name with its nested tags, the property key)
 * go into one SQL statement; a property `value` is compared in C with
 * qp_text_fold, as every name in quipu, because SQLite's lower() folds
 * ASCII only.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "methods_int.h"
#include "quipu/note.h"
#include "quipu/text.h"

typedef struct listed {
    int64_t id;
    int64_t mtime;
} listed;

/* Does note `id` hold `want` (folded) as its `key` value or one of its
 * list elements, compared as text? */
static qp_rc value_matches(bool *out, sqlite3_stmt *vs, int64_t id, const char *want, qp_error *err)
{
    *out = false;
    sqlite3_reset(vs);
    sqlite3_bind_int64(vs, 1, id);
    int src;
    while (!*out && (src = sqlite3_step(vs)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(vs, 1);
        const char *t = (const char *)sqlite3_column_text(vs, 0);
        if (!type || strcmp(type, "null") == 0 || strcmp(type, "object") == 0 ||
            strcmp(type, "array") == 0)
            continue;
        if (strcmp(type, "true") == 0 || strcmp(type, "false") == 0)
            t = type;
        size_t flen = 0;
        char *f = qp_text_fold(t ? t : "", strlen(t ? t : ""), &flen);
        if (!f) {
            sqlite3_reset(vs);
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        }
        *out = strcmp(f, want) == 0;
        free(f);
    }
    if (!*out && src != SQLITE_DONE) {
        sqlite3_reset(vs);
        return qp__store_sqlite_error(NULL, src, "properties", err);
    }
    sqlite3_reset(vs);
    return QP_OK;
}

static int kind_of(const char *k)
{
    if (strcmp(k, "note") == 0)
        return QP_KIND_NOTE;
    if (strcmp(k, "person") == 0)
        return QP_KIND_PERSON;
    if (strcmp(k, "meeting") == 0)
        return QP_KIND_MEETING;
    return -1;
}

qp_rc qp__m_list(json_t **out, qp_store *st, const qp_vault *vault, json_t *params, qp_error *err)
{
    (void)vault;
    const char *kind = NULL, *folder = NULL, *tag = NULL, *prop = NULL, *value = NULL, *sort = NULL;
    size_t limit = 0, cursor = 0, n = 0, cap = 0;
    char *folder_f = NULL, *tag_f = NULL, *value_f = NULL;
    char sql[1024];
    sqlite3_stmt *s = NULL, *vs = NULL;
    listed *v = NULL;
    json_t *notes = NULL;
    qp_rc rc = qp__query_param_string(&kind, params, "kind", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&folder, params, "folder", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&tag, params, "tag", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&prop, params, "property", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&value, params, "value", false, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&sort, params, "sort", false, err);
    if (rc == QP_OK)
        rc = qp__mparam_size(&limit, params, "limit", 100, 1, 10000, err);
    if (rc == QP_OK)
        rc = qp__mparam_cursor(&cursor, params, err);
    if (rc != QP_OK)
        return rc;
    int k = kind ? kind_of(kind) : -1;
    if (kind && k < 0)
        return qp_error_set(err, QP_EINVAL,
                            "param kind: expected \"person\", \"meeting\" or \"note\", got \"%s\"",
                            kind);
    if (value && !prop)
        return qp_error_set(err, QP_EINVAL, "param value: needs param property");
    const char *order = "f.path";
    if (!sort || strcmp(sort, "path") == 0)
        order = "f.path";
    else if (strcmp(sort, "modified") == 0)
        order = "f.mtime_ns DESC, f.path";
    else if (strcmp(sort, "date") == 0)
        order = "f.date IS NULL, f.date DESC, f.path";
    else if (strcmp(sort, "title") == 0)
        order = "f.title_folded, f.path";
    else
        return qp_error_set(err, QP_EINVAL,
                            "param sort: expected \"path\", \"modified\", \"date\" or \"title\"");

    if (folder) { /* "People" and "People/" alike; "" is the root */
        size_t fl = strlen(folder);
        while (fl > 0 && folder[fl - 1] == '/')
            fl--;
        folder_f = fl ? qp_text_fold(folder, fl, NULL) : strdup("");
        if (folder_f && fl) {
            char *withslash = malloc(strlen(folder_f) + 2);
            if (withslash)
                sprintf(withslash, "%s/", folder_f);
            free(folder_f);
            folder_f = withslash;
        }
        if (!folder_f)
            goto oom;
    }
    if (tag) {
        char *f = qp__mfold_param(tag, '#', NULL);
        tag_f = f ? malloc(strlen(f) + 2) : NULL;
        if (tag_f)
            sprintf(tag_f, "#%s", f);
        free(f);
        if (!tag_f)
            goto oom;
    }
    if (value && !(value_f = qp__mfold_param(value, '\0', NULL)))
        goto oom;

    snprintf(sql, sizeof sql,
             "SELECT f.id, f.mtime_ns FROM files f WHERE f.is_note = 1"
             " AND (?1 < 0 OR f.kind = ?1)"
             " AND (?2 IS NULL OR substr(f.path_folded, 1, length(?2)) = ?2)"
             " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM tags t WHERE t.file = f.id"
             " AND (t.tag_folded = ?3 OR substr(t.tag_folded, 1, length(?3) + 1) = ?3 || '/')))"
             " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM properties p, json_each(p.json) j"
             " WHERE p.file = f.id AND j.key = ?4 COLLATE NOCASE))"
             " ORDER BY %s",
             order);
    if ((rc = qp__mprepare(&s, st, sql, err)) != QP_OK)
        goto cleanup;
    sqlite3_bind_int(s, 1, k);
    if (folder_f && folder_f[0])
        sqlite3_bind_text(s, 2, folder_f, -1, SQLITE_STATIC);
    if (tag_f)
        sqlite3_bind_text(s, 3, tag_f, -1, SQLITE_STATIC);
    if (prop)
        sqlite3_bind_text(s, 4, prop, -1, SQLITE_STATIC);
    if (value_f) {
        rc = qp__mprepare(&vs, st,
                          "SELECT coalesce(e.value, v.value), coalesce(e.type, v.type)"
                          " FROM properties p JOIN json_each(p.json) v"
                          " LEFT JOIN json_each(CASE WHEN v.type = 'array' THEN v.value"
                          " ELSE '[]' END) e WHERE p.file = ?1 AND v.key = ?2 COLLATE NOCASE",
                          err);
        if (rc != QP_OK)
            goto cleanup;
        sqlite3_bind_text(vs, 2, prop, -1, SQLITE_STATIC);
    }
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (value_f) {
            bool ok = false;
            if ((rc = value_matches(&ok, vs, id, value_f, err)) != QP_OK)
                goto cleanup;
            sqlite3_bind_text(vs, 2, prop, -1, SQLITE_STATIC);
            if (!ok)
                continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            listed *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
        }
        v[n++] = (listed){id, sqlite3_column_int64(s, 1)};
    }
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(st, src, "files", err);
        goto cleanup;
    }
    notes = json_array();
    if (!notes)
        goto oom;
    size_t end = cursor + limit < n ? cursor + limit : n;
    for (size_t i = cursor; i < end; i++) {
        qp__mnote f;
        char when[32];
        if ((rc = qp__mnote_get(&f, st, v[i].id, err)) != QP_OK)
            goto cleanup;
        json_t *o = json_pack("{ss ss so so ss}", "path", f.path, "kind", qp__mnote_kind(&f),
                              "title", f.title ? json_string(f.title) : json_null(), "date",
                              f.date ? json_string(f.date) : json_null(), "modified",
                              qp__mtime_iso(when, sizeof when, v[i].mtime));
        qp__mnote_free(&f);
        if (!o || json_array_append_new(notes, o) != 0)
            goto oom;
    }
    *out = json_pack("{sI so}", "total", (json_int_t)n, "notes", notes);
    notes = NULL;
    if (!*out || !qp__mset_next_cursor(*out, cursor, end > cursor ? end - cursor : 0, n))
        goto oom;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    sqlite3_finalize(s);
    sqlite3_finalize(vs);
    json_decref(notes);
    free(v);
    free(folder_f);
    free(tag_f);
    free(value_f);
    return rc;
}
