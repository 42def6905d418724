/*
 * complete — name completion: complete.notes, complete.headings,
 * complete.blocks, complete.tags, complete.values (docs/protocol.md).
 *
 * Every method ranks by match class first (exact, prefix, word, fuzzy; see
 * qp__match_of), then by its own weight, and caps the answer at `limit`
 * with `incomplete` saying that more matched.
 *
 * complete.notes must stay fast on 100k notes while a user types, so it
 * reads the narrowest rows it can (the index of folded names: id and name;
 * no strings kept), classifies them all, and only then does per-note work
 * (is it a note, its mtime and link count, later its path) for the
 * candidates that can still reach the answer: classes are filled best
 * first until `limit` items are certain, and of a class bigger than
 * RANK_CAP only the RANK_CAP most recently indexed notes (the highest ids)
 * are ranked. Link counts read only the links indexes.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "methods_int.h"
#include "quipu/text.h"

#define RANK_CAP 500

/* ---- complete.notes ---- */

typedef struct note_cand {
    int64_t id;
    int64_t mtime;
    int64_t links;
    int64_t alias_row; /* 0: matched by name or path */
    int cls;
    bool by_path;
    bool known;  /* is a note and mtime read */
    char *label; /* while it is being shown */
} note_cand;

/* Class, then the most recently indexed first (the highest id). */
static int by_class_id(const void *a, const void *b)
{
    const note_cand *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls - y->cls;
    if (x->id != y->id)
        return x->id > y->id ? -1 : 1;
    return x->alias_row < y->alias_row ? -1 : x->alias_row > y->alias_row;
}

static int by_rank(const void *a, const void *b)
{
    const note_cand *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls - y->cls;
    if (x->links != y->links)
        return x->links > y->links ? -1 : 1;
    if (x->mtime != y->mtime)
        return x->mtime > y->mtime ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->alias_row < y->alias_row ? -1 : x->alias_row > y->alias_row;
}

typedef struct cand_vec {
    note_cand *v;
    size_t n, cap;
} cand_vec;

static note_cand *cand_push(cand_vec *cv)
{
    if (cv->n == cv->cap) {
        size_t nc = cv->cap ? cv->cap * 2 : 256;
        note_cand *nv = realloc(cv->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        cv->v = nv;
        cv->cap = nc;
    }
    note_cand *c = &cv->v[cv->n++];
    memset(c, 0, sizeof *c);
    return c;
}

/* Strips ".md" (the index keeps names and paths with their extension). */
static size_t md_stem(const char *s, size_t len)
{
    if (len >= 3 && memcmp(s + len - 3, ".md", 3) == 0)
        return len - 3;
    return len;
}

/* Adds the rows of `s` (id, folded name, mtime, mtime known) that match;
 * with `loose_only`, only word and fuzzy matches (the exact and prefix
 * ones were read from an index range). *n_tight counts exact and prefix
 * matches added. */
static qp_rc add_rows(cand_vec *cv, sqlite3_stmt *s, qp_store *st, const char *q, size_t qlen,
                      bool by_path, bool loose_only, size_t *n_tight, qp_error *err)
{
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 1);
        size_t nlen = md_stem(name ? name : "", (size_t)sqlite3_column_bytes(s, 1));
        qp__match m = qp__match_of(name ? name : "", nlen, q, qlen);
        bool tight = m == QP__MATCH_EXACT || m == QP__MATCH_PREFIX;
        if (m == QP__MATCH_NONE || (loose_only && tight))
            continue;
        note_cand *c = cand_push(cv);
        if (!c)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        c->id = sqlite3_column_int64(s, 0);
        c->mtime = sqlite3_column_int64(s, 2);
        c->known = sqlite3_column_int(s, 3) != 0;
        c->cls = (int)m;
        c->by_path = by_path;
        *n_tight += tight;
    }
    return src == SQLITE_DONE ? QP_OK : qp__store_sqlite_error(st, src, "files", err);
}

/* Pass 1: the notes by file name (or by path when the prefix holds a
 * '/') and the aliases, classified. By name, the names that start with
 * the prefix come from a range of the folded-name index; only when they
 * and the aliases hold no more than `limit` matches (so word and fuzzy
 * matches can reach the answer) is the whole index read, a tenth of the
 * table's bytes. Is-a-note and mtime are looked up later for the
 * candidates that are ranked (known false until then). *partial is set
 * when the whole index was not read. */
static qp_rc scan_notes(cand_vec *cv, qp_store *st, const char *q, size_t qlen, size_t limit,
                        bool *partial, qp_error *err)
{
    bool by_path = memchr(q, '/', qlen) != NULL;
    sqlite3_stmt *s = NULL;
    size_t tight = 0;
    char *hi = NULL;
    qp_rc rc = QP_OK;
    *partial = false;
    if (by_path) { /* no index on folded paths; aliases have no folder */
        rc = qp__mprepare(&s, st,
                          "SELECT id, path_folded, mtime_ns, 1 FROM files WHERE is_note = 1", err);
        if (rc == QP_OK)
            rc = add_rows(cv, s, st, q, qlen, true, false, &tight, err);
        sqlite3_finalize(s);
        return rc;
    }
    if (qlen > 0) {
        /* [q, q + 0xFF): 0xFF is no UTF-8 byte, so every name starting with
         * q sorts inside (the index compares bytes). */
        hi = malloc(qlen + 2);
        if (!hi)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        memcpy(hi, q, qlen);
        hi[qlen] = (char)0xFF;
        hi[qlen + 1] = '\0';
        rc = qp__mprepare(&s, st,
                          "SELECT id, name_folded, 0, 0 FROM files"
                          " WHERE name_folded >= ?1 AND name_folded < ?2",
                          err);
        if (rc == QP_OK) {
            sqlite3_bind_text(s, 1, q, (int)qlen, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, hi, (int)qlen + 1, SQLITE_STATIC);
            rc = add_rows(cv, s, st, q, qlen, false, false, &tight, err);
        }
        sqlite3_finalize(s);
        s = NULL;
        free(hi);
        if (rc != QP_OK)
            return rc;
    }

    /* CROSS JOIN keeps aliases (a few thousand rows) the outer loop: the
     * planner, drawn by the partial index of notes, scanned every note and
     * probed aliases for each (100k probes, 10 ms of each keystroke). */
    rc = qp__mprepare(&s, st,
                      "SELECT a.rowid, a.file, a.alias_folded, f.mtime_ns FROM aliases a"
                      " CROSS JOIN files f ON f.id = a.file WHERE f.is_note = 1",
                      err);
    if (rc != QP_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 2);
        qp__match m = qp__match_of(name ? name : "", (size_t)sqlite3_column_bytes(s, 2), q, qlen);
        if (m == QP__MATCH_NONE || !name || !name[0])
            continue;
        note_cand *c = cand_push(cv);
        if (!c) {
            sqlite3_finalize(s);
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        }
        c->alias_row = sqlite3_column_int64(s, 0);
        c->id = sqlite3_column_int64(s, 1);
        c->mtime = sqlite3_column_int64(s, 3);
        c->known = true;
        c->cls = (int)m;
        tight += m == QP__MATCH_EXACT || m == QP__MATCH_PREFIX;
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "aliases", err);

    if (qlen > 0 && tight > limit) {
        *partial = true; /* word and fuzzy matches rank below `limit` better ones */
        return QP_OK;
    }
    rc = qp__mprepare(&s, st, "SELECT id, name_folded, 0, 0 FROM files INDEXED BY files_name", err);
    if (rc == QP_OK)
        rc = add_rows(cv, s, st, q, qlen, false, qlen > 0, &tight, err);
    sqlite3_finalize(s);
    return rc;
}

/* The shortest link text for a note: its file name when no other file
 * has that name (Obsidian's "shortest path when possible"), else the path;
 * without ".md" either way. New (free()). */
static char *shortest_link(qp_store *st, const char *path, qp_error *err, qp_rc *rc)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    char *name_folded = qp_text_fold(base, blen, NULL);
    *rc = QP_OK;
    if (!name_folded) {
        *rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        return NULL;
    }
    const qp__cand *cands = NULL;
    size_t n = 0;
    *rc = qp__store_cands(&cands, &n, name_folded, st, err);
    free(name_folded);
    if (*rc != QP_OK)
        return NULL;
    const char *from = n <= 1 ? base : path;
    size_t len = md_stem(from, strlen(from));
    char *out = strndup(from, len);
    if (!out)
        *rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    return out;
}

/* Fills the label of a candidate that is shown. */
static qp_rc cand_label(note_cand *c, const char *path, qp_store *st, sqlite3_stmt *alias_stmt,
                        qp_error *err)
{
    if (c->alias_row) {
        sqlite3_reset(alias_stmt);
        sqlite3_bind_int64(alias_stmt, 1, c->alias_row);
        int src = sqlite3_step(alias_stmt);
        const char *a = src == SQLITE_ROW ? (const char *)sqlite3_column_text(alias_stmt, 0) : NULL;
        c->label = strdup(a ? a : "");
        sqlite3_reset(alias_stmt);
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            return qp__store_sqlite_error(st, src, "aliases", err);
    } else if (c->by_path) {
        c->label = strndup(path, md_stem(path, strlen(path)));
    } else {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        c->label = strndup(base, md_stem(base, strlen(base)));
    }
    return c->label ? QP_OK : qp_error_set(err, QP_ENOMEM, "out of memory");
}

static json_t *note_item(qp_store *st, note_cand *c, sqlite3_stmt *alias_stmt, qp_error *err,
                         qp_rc *rc)
{
    qp__mnote n;
    char when[32];
    json_t *o = NULL;
    char *link = NULL;
    *rc = qp__mnote_get(&n, st, c->id, err);
    if (*rc != QP_OK)
        return NULL;
    if ((*rc = cand_label(c, n.path, st, alias_stmt, err)) == QP_OK)
        link = shortest_link(st, n.path, err, rc);
    if (*rc == QP_OK) {
        o = json_pack("{ss ss ss so ss ss sI ss ss}", "label", c->label, "type",
                      c->alias_row ? "alias" : "note", "path", n.path, "title",
                      n.title ? json_string(n.title) : json_null(), "kind", qp__mnote_kind(&n),
                      "link", link, "links", (json_int_t)c->links, "modified",
                      qp__mtime_iso(when, sizeof when, c->mtime), "match",
                      qp__match_name((qp__match)c->cls));
        if (!o)
            *rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    free(link);
    free(c->label);
    c->label = NULL;
    qp__mnote_free(&n);
    return o;
}

qp_rc qp__m_complete_notes(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                           qp_error *err)
{
    const char *prefix = NULL;
    size_t limit = 0, qlen = 0;
    cand_vec cv = {0};
    char *q = NULL;
    sqlite3_stmt *alias_stmt = NULL, *links_stmt = NULL, *file_stmt = NULL;
    json_t *items = NULL;
    qp_rc rc = qp__query_param_string(&prefix, params, "prefix", false, err);
    if (rc == QP_OK)
        rc = qp__mparam_size(&limit, params, "limit", 50, 1, 1000, err);
    if (rc != QP_OK)
        return rc;
    q = qp__mfold_param(prefix, '\0', &qlen);
    if (!q)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    bool partial = false;
    if ((rc = scan_notes(&cv, st, q, qlen, limit, &partial, err)) != QP_OK)
        goto cleanup;
    qp__msort(cv.v, cv.n, sizeof *cv.v, by_class_id);

    /* Pass 2: classes best first; of each, at most RANK_CAP notes (the
     * most recently indexed) are ranked, and once `limit` are ranked no
     * later class can reach the answer. Attachments met by name drop out. */
    rc = qp__mprepare(&file_stmt, st, "SELECT is_note, mtime_ns, path FROM files WHERE id = ?1",
                      err);
    if (rc != QP_OK)
        goto cleanup;
    size_t ranked = 0, dropped = 0; /* ranked: moved to the front */
    for (size_t i = 0; i < cv.n && ranked < limit;) {
        size_t j = i, kept = 0;
        while (j < cv.n && cv.v[j].cls == cv.v[i].cls)
            j++;
        for (size_t k = i; k < j && kept < RANK_CAP; k++) {
            note_cand c = cv.v[k];
            /* Excluded files (userIgnoreFilters) are no link suggestions in
             * Obsidian: their path is looked up for every candidate then. */
            if (!c.known || vault != NULL) {
                sqlite3_reset(file_stmt);
                sqlite3_bind_int64(file_stmt, 1, c.id);
                int src = sqlite3_step(file_stmt);
                bool note = src == SQLITE_ROW && sqlite3_column_int(file_stmt, 0) != 0;
                const char *path =
                    src == SQLITE_ROW ? (const char *)sqlite3_column_text(file_stmt, 2) : NULL;
                bool excluded = vault != NULL && path != NULL && qp_vault_excluded(vault, path);
                if (!c.known)
                    c.mtime = src == SQLITE_ROW ? sqlite3_column_int64(file_stmt, 1) : 0;
                sqlite3_reset(file_stmt);
                if (src != SQLITE_ROW && src != SQLITE_DONE) {
                    rc = qp__store_sqlite_error(st, src, "files", err);
                    goto cleanup;
                }
                if ((!c.known && !note) || excluded) {
                    dropped++;
                    continue;
                }
            }
            rc = qp__links_to_count(&c.links, &links_stmt, st, c.id, err);
            if (rc != QP_OK)
                goto cleanup;
            cv.v[ranked + kept++] = c; /* ranked + kept <= k: nothing unread is overwritten */
        }
        qp__msort(cv.v + ranked, kept, sizeof *cv.v, by_rank);
        ranked += kept;
        i = j;
    }

    rc = qp__mprepare(&alias_stmt, st, "SELECT alias FROM aliases WHERE rowid = ?1", err);
    if (rc != QP_OK)
        goto cleanup;
    items = json_array();
    if (!items) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    size_t shown = ranked < limit ? ranked : limit;
    for (size_t k = 0; k < shown; k++) {
        json_t *o = note_item(st, &cv.v[k], alias_stmt, err, &rc);
        if (!o)
            goto cleanup;
        json_array_append_new(items, o);
    }
    *out = json_pack("{so sb}", "items", items, "incomplete", partial || cv.n - dropped > shown);
    items = NULL;
    if (!*out)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    json_decref(items);
    sqlite3_finalize(alias_stmt);
    sqlite3_finalize(links_stmt);
    sqlite3_finalize(file_stmt);
    free(cv.v);
    free(q);
    return rc;
}

/* ---- complete.headings / complete.blocks ---- */

typedef struct ranked_json {
    int cls;
    int64_t weight; /* higher first */
    size_t order;   /* then document or table order */
    json_t *v;
} ranked_json;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked_json *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls - y->cls;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts, keeps `limit`, frees the rest; *out = {items, incomplete} plus
 * the caller's fields added after. */
static qp_rc ranked_finish(json_t **out, ranked_json *r, size_t n, size_t limit, qp_error *err)
{
    qp__msort(r, n, sizeof *r, ranked_cmp);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *v = r[i].v;
        r[i].v = NULL;
        json_object_set_new(v, "match", json_string(qp__match_name((qp__match)r[i].cls)));
        if (i < limit && items)
            json_array_append_new(items, v);
        else
            json_decref(v);
    }
    *out = items ? json_pack("{so sb}", "items", items, "incomplete", n > limit) : NULL;
    return *out ? QP_OK : qp_error_set(err, QP_ENOMEM, "out of memory");
}

static qp_rc complete_refs(json_t **out, qp_store *st, json_t *params, bool blocks, qp_error *err)
{
    const char *prefix = NULL;
    size_t limit = 0, qlen = 0;
    qp__mnote n;
    qp__mrefs r;
    ranked_json *rj = NULL;
    size_t nr = 0;
    char *q = NULL;
    memset(&r, 0, sizeof r);
    qp_rc rc = qp__query_param_string(&prefix, params, "prefix", false, err);
    if (rc == QP_OK)
        rc = qp__mparam_size(&limit, params, "limit", 50, 1, 1000, err);
    if (rc != QP_OK)
        return rc;
    if ((rc = qp__mparam_note(&n, st, params, err)) != QP_OK)
        return rc;
    if ((rc = qp__mrefs_load(&r, st, n.id, err)) != QP_OK)
        goto cleanup;
    q = qp__mfold_param(prefix, blocks ? '^' : '\0', &qlen);
    rj = calloc((blocks ? r.nb : r.nh) + 1, sizeof *rj);
    if (!q || !rj)
        goto oom;
    size_t count = blocks ? r.nb : r.nh;
    for (size_t i = 0; i < count; i++) {
        const char *text = blocks ? r.b[i].id : r.h[i].text;
        size_t flen = 0;
        char *f = qp_text_fold(text, strlen(text), &flen);
        if (!f)
            goto oom;
        qp__match m = qp__match_of(f, flen, q, qlen);
        free(f);
        if (m == QP__MATCH_NONE)
            continue;
        json_t *v;
        if (blocks) {
            v = json_pack("{ss sI}", "id", text, "line", (json_int_t)r.b[i].line);
        } else {
            char *sub = qp__heading_subpath(&r, i);
            v = sub ? json_pack("{ss si sI ss}", "text", text, "level", r.h[i].level, "line",
                                (json_int_t)r.h[i].line, "subpath", sub)
                    : NULL;
            free(sub);
        }
        if (!v)
            goto oom;
        rj[nr++] = (ranked_json){(int)m, 0, i, v};
    }
    rc = ranked_finish(out, rj, nr, limit, err);
    nr = 0;
    if (rc == QP_OK)
        json_object_set_new(*out, "path", json_string(n.path));
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    for (size_t i = 0; i < nr; i++)
        json_decref(rj[i].v);
    free(rj);
    free(q);
    qp__mrefs_free(&r);
    qp__mnote_free(&n);
    return rc;
}

qp_rc qp__m_complete_headings(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                              qp_error *err)
{
    (void)vault;
    return complete_refs(out, st, params, false, err);
}

qp_rc qp__m_complete_blocks(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                            qp_error *err)
{
    (void)vault;
    return complete_refs(out, st, params, true, err);
}

/* ---- complete.tags / complete.values ---- */

typedef struct rvec {
    ranked_json *v;
    size_t n, cap;
} rvec;

static bool rvec_push(rvec *r, ranked_json x)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        ranked_json *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv)
            return false;
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n++] = x;
    return true;
}

static void rvec_free(rvec *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->v[i].v);
    free(r->v);
    memset(r, 0, sizeof *r);
}

qp_rc qp__m_complete_tags(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                          qp_error *err)
{
    (void)vault;
    const char *prefix = NULL;
    size_t limit = 0, qlen = 0;
    sqlite3_stmt *s = NULL, *first = NULL;
    rvec r = {0};
    char *q = NULL;
    qp_rc rc = qp__query_param_string(&prefix, params, "prefix", false, err);
    if (rc == QP_OK)
        rc = qp__mparam_size(&limit, params, "limit", 50, 1, 1000, err);
    if (rc != QP_OK)
        return rc;
    q = qp__mfold_param(prefix, '#', &qlen);
    if (!q)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    /* Counted as Obsidian's tag pane counts: occurrences. The grouping
     * reads only the tags_folded index; the tag as first written is
     * looked up for the matches alone. */
    rc = qp__mprepare(&s, st, "SELECT tag_folded, count(*) FROM tags GROUP BY tag_folded", err);
    if (rc == QP_OK)
        rc = qp__mprepare(&first, st,
                          "SELECT tag FROM tags WHERE tag_folded = ?1 ORDER BY rowid LIMIT 1", err);
    if (rc != QP_OK)
        goto cleanup;
    int src;
    size_t order = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(s, 0);
        size_t flen = (size_t)sqlite3_column_bytes(s, 0);
        if (!f)
            continue;
        qp__match m = qp__match_of(f[0] == '#' ? f + 1 : f, f[0] == '#' ? flen - 1 : flen, q, qlen);
        if (m == QP__MATCH_NONE)
            continue;
        int64_t count = sqlite3_column_int64(s, 1);
        sqlite3_reset(first);
        sqlite3_bind_text(first, 1, f, -1, SQLITE_TRANSIENT);
        int fsrc = sqlite3_step(first);
        const char *tag = fsrc == SQLITE_ROW ? (const char *)sqlite3_column_text(first, 0) : f;
        json_t *v = json_pack("{ss sI}", "tag", tag ? tag : f, "count", (json_int_t)count);
        sqlite3_reset(first);
        if (fsrc != SQLITE_ROW && fsrc != SQLITE_DONE) {
            json_decref(v);
            rc = qp__store_sqlite_error(st, fsrc, "tags", err);
            goto cleanup;
        }
        if (!v || !rvec_push(&r, (ranked_json){(int)m, count, order++, v})) {
            json_decref(v);
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(st, src, "tags", err);
        goto cleanup;
    }
    rc = ranked_finish(out, r.v, r.n, limit, err);
    r.n = 0;
cleanup:
    sqlite3_finalize(s);
    sqlite3_finalize(first);
    rvec_free(&r);
    free(q);
    return rc;
}

/* A property value as completion text: strings as they are, numbers and
 * booleans as JSON writes them; NULL for null, objects and arrays. New. */
static char *value_text(sqlite3_stmt *s, int col, int type_col)
{
    const char *type = (const char *)sqlite3_column_text(s, type_col);
    if (!type || strcmp(type, "null") == 0 || strcmp(type, "object") == 0 ||
        strcmp(type, "array") == 0)
        return NULL;
    if (strcmp(type, "true") == 0)
        return strdup("true");
    if (strcmp(type, "false") == 0)
        return strdup("false");
    const unsigned char *t = sqlite3_column_text(s, col);
    return strdup(t ? (const char *)t : "");
}

typedef struct value_count {
    char *folded;
    char *text;
    int64_t count;
    int64_t last_file; /* the note holding it */
} value_count;

static int vc_cmp(const void *a, const void *b)
{
    const value_count *x = a, *y = b;
    int c = strcmp(x->folded, y->folded);
    if (c)
        return c;
    return x->last_file < y->last_file ? -1 : x->last_file > y->last_file;
}

qp_rc qp__m_complete_values(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                            qp_error *err)
{
    (void)vault;
    const char *prefix = NULL, *key = NULL;
    size_t limit = 0, qlen = 0, nv = 0, capv = 0;
    sqlite3_stmt *s = NULL;
    value_count *vals = NULL;
    rvec r = {0};
    char *q = NULL;
    qp_rc rc = qp__query_param_string(&key, params, "key", true, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&prefix, params, "prefix", false, err);
    if (rc == QP_OK)
        rc = qp__mparam_size(&limit, params, "limit", 50, 1, 1000, err);
    if (rc != QP_OK)
        return rc;
    q = qp__mfold_param(prefix, '\0', &qlen);
    if (!q)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    /* A list's elements one by one; the LIKE skips notes that cannot have
     * the key (ASCII case-insensitive, as the key compare below). */
    rc = qp__mprepare(&s, st,
                      "SELECT p.file, coalesce(e.value, v.value), coalesce(e.type, v.type)"
                      " FROM properties p JOIN json_each(p.json) v"
                      " LEFT JOIN json_each(CASE WHEN v.type = 'array' THEN v.value"
                      " ELSE '[]' END) e"
                      " WHERE p.json LIKE '%\"' || ?1 || '\":%'"
                      " AND v.key = ?1 COLLATE NOCASE ORDER BY p.file",
                      err);
    if (rc != QP_OK)
        goto cleanup;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        char *text = value_text(s, 1, 2);
        if (!text)
            continue;
        size_t flen = 0;
        char *f = qp_text_fold(text, strlen(text), &flen);
        if (!f || nv == capv) {
            size_t nc = capv ? capv * 2 : 64;
            value_count *nvv = f ? realloc(vals, nc * sizeof *nvv) : NULL;
            if (!nvv) {
                free(f);
                free(text);
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                goto cleanup;
            }
            vals = nvv;
            capv = nc;
        }
        vals[nv++] = (value_count){f, text, 1, sqlite3_column_int64(s, 0)};
    }
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(st, src, "properties", err);
        goto cleanup;
    }
    /* Group by folded value; count notes, not occurrences. */
    qp__msort(vals, nv, sizeof *vals, vc_cmp);
    size_t order = 0;
    for (size_t i = 0; i < nv;) {
        size_t j = i + 1;
        int64_t count = 1;
        for (; j < nv && strcmp(vals[j].folded, vals[i].folded) == 0; j++)
            if (vals[j].last_file != vals[j - 1].last_file)
                count++; /* sorted by file within the value: a new note */
        qp__match m = qp__match_of(vals[i].folded, strlen(vals[i].folded), q, qlen);
        if (m != QP__MATCH_NONE) {
            json_t *v = json_pack("{ss sI}", "value", vals[i].text, "count", (json_int_t)count);
            if (!v || !rvec_push(&r, (ranked_json){(int)m, count, order++, v})) {
                json_decref(v);
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                goto cleanup;
            }
        }
        i = j;
    }
    rc = ranked_finish(out, r.v, r.n, limit, err);
    r.n = 0;
    if (rc == QP_OK)
        json_object_set_new(*out, "key", json_string(key));
cleanup:
    sqlite3_finalize(s);
    for (size_t i = 0; i < nv; i++) {
        free(vals[i].folded);
        free(vals[i].text);
    }
    free(vals);
    rvec_free(&r);
    free(q);
    return rc;
}
