/*
 * query_page — pages of long answers; see query_page.h for the why and
 * the cursor's form. The cursor is built and read with jansson, so a
 * client's cursor is only ever data: anything not an object of strings,
 * offsets and `true` is refused as a bad param, never trusted.
 */

#include "query_page.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static qp_rc size_param(size_t *out, json_t *params, const char *name, json_int_t min,
                        qp_error *err)
{
    json_t *v = json_object_get(params, name);
    if (!v || json_is_null(v))
        return QP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return qp_error_set(err, QP_EINVAL, "params.%s: expected an integer >= %lld", name,
                            (long long)min);
    *out = (size_t)json_integer_value(v);
    return QP_OK;
}

qp_rc qp__page_params(qp__page *pg, json_t *params, qp_error *err)
{
    memset(pg, 0, sizeof *pg);
    pg->max_occ = QP__PAGE_MAX_OCC_DEFAULT;
    qp_rc rc = size_param(&pg->limit, params, "limit", 1, err);
    if (rc == QP_OK)
        rc = size_param(&pg->max_occ, params, "max_occurrences", 0, err);
    if (rc != QP_OK)
        return rc;
    json_t *o = json_object_get(params, "occurrences");
    if (o && !json_is_boolean(o))
        return qp_error_set(err, QP_EINVAL, "params.occurrences: expected a boolean");
    pg->no_occ = o && json_is_false(o);
    json_t *c = json_object_get(params, "cursor");
    if (!c || json_is_null(c))
        return QP_OK;
    if (!json_is_string(c))
        return qp_error_set(err, QP_EINVAL, "params.cursor: expected a string");
    pg->cursor = json_loads(json_string_value(c), 0, NULL);
    if (!json_is_object(pg->cursor)) {
        qp__page_free(pg);
        return qp_error_set(err, QP_EINVAL, "params.cursor: not a cursor this method returned");
    }
    const char *key;
    json_t *v;
    json_object_foreach(pg->cursor, key, v)
    {
        if (!json_is_string(v) && !json_is_true(v) &&
            !(json_is_integer(v) && json_integer_value(v) >= 0)) {
            qp__page_free(pg);
            return qp_error_set(err, QP_EINVAL, "params.cursor: not a cursor this method returned");
        }
    }
    return QP_OK;
}

void qp__page_free(qp__page *pg)
{
    json_decref(pg->cursor);
    json_decref(pg->next);
    pg->cursor = pg->next = NULL;
}

const char *qp__page_after(const qp__page *pg, const char *key, bool *done)
{
    json_t *v = pg->cursor ? json_object_get(pg->cursor, key) : NULL;
    *done = json_is_true(v);
    return json_string_value(v);
}

size_t qp__page_offset(const qp__page *pg, const char *key)
{
    json_t *v = pg->cursor ? json_object_get(pg->cursor, key) : NULL;
    if (json_is_true(v))
        return SIZE_MAX;
    return json_is_integer(v) ? (size_t)json_integer_value(v) : 0;
}

static bool mark(qp__page *pg, const char *key, json_t *v)
{
    if (!v)
        return false;
    if (!pg->next && !(pg->next = json_object())) {
        json_decref(v);
        return false;
    }
    return json_object_set_new(pg->next, key, v) == 0;
}

bool qp__page_mark_path(qp__page *pg, const char *key, const char *path)
{
    pg->more = true;
    return mark(pg, key, json_string(path));
}

bool qp__page_mark_offset(qp__page *pg, const char *key, size_t offset)
{
    pg->more = true;
    return mark(pg, key, json_integer((json_int_t)offset));
}

bool qp__page_mark_done(qp__page *pg, const char *key)
{
    return mark(pg, key, json_true());
}

void qp__page_cap_occurrences(const qp__page *pg, json_t *sources)
{
    if (pg->max_occ == 0)
        return;
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s)
    {
        json_t *occ = json_object_get(s, "occurrences");
        size_t n = json_array_size(occ);
        if (n <= pg->max_occ)
            continue;
        /* From the end: each removal then moves nothing. */
        for (size_t k = n; k > pg->max_occ; k--)
            json_array_remove(occ, k - 1);
        json_object_set_new(s, "more_occurrences", json_integer((json_int_t)(n - pg->max_occ)));
    }
}

void qp__page_strip_occurrences(const qp__page *pg, json_t *sources)
{
    if (!pg->no_occ)
        return;
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s)
    {
        json_object_del(s, "occurrences");
        json_object_del(s, "more_occurrences");
    }
}

static const char *source_path(json_t *s)
{
    const char *p = json_string_value(json_object_get(s, "path"));
    return p ? p : "";
}

qp_rc qp__page_slice_sorted(json_t **out, size_t *total, qp__page *pg, const char *key, json_t *arr,
                            qp_error *err)
{
    *out = NULL;
    *total = json_array_size(arr);
    bool done = false;
    const char *after = qp__page_after(pg, key, &done);
    json_t *page = json_array();
    if (!page)
        goto oom;
    size_t i = 0, n = *total;
    if (!done && after) /* the first Source whose path sorts after the cursor's */
        while (i < n && strcmp(source_path(json_array_get(arr, i)), after) <= 0)
            i++;
    if (done)
        i = n;
    for (; i < n && (pg->limit == 0 || json_array_size(page) < pg->limit); i++)
        if (json_array_append(page, json_array_get(arr, i)) != 0)
            goto oom;
    bool ok = true;
    if (pg->limit != 0) { /* a paged request always says where each list stands */
        if (i < n)
            ok = qp__page_mark_path(pg, key, source_path(json_array_get(arr, i - 1)));
        else
            ok = qp__page_mark_done(pg, key);
    }
    if (!ok)
        goto oom;
    qp__page_cap_occurrences(pg, page);
    json_decref(arr);
    *out = page;
    return QP_OK;
oom:
    json_decref(page);
    json_decref(arr);
    return qp_error_set(err, QP_ENOMEM, "out of memory");
}

qp_rc qp__page_slice_offset(json_t **out, size_t *total, qp__page *pg, const char *key, json_t *arr,
                            qp_error *err)
{
    *out = NULL;
    *total = json_array_size(arr);
    size_t i = qp__page_offset(pg, key), n = *total;
    if (i > n)
        i = n;
    json_t *page = json_array();
    if (!page)
        goto oom;
    for (; i < n && (pg->limit == 0 || json_array_size(page) < pg->limit); i++)
        if (json_array_append(page, json_array_get(arr, i)) != 0)
            goto oom;
    bool ok = true;
    if (pg->limit != 0)
        ok = i < n ? qp__page_mark_offset(pg, key, i) : qp__page_mark_done(pg, key);
    if (!ok)
        goto oom;
    json_decref(arr);
    *out = page;
    return QP_OK;
oom:
    json_decref(page);
    json_decref(arr);
    return qp_error_set(err, QP_ENOMEM, "out of memory");
}

char *qp__page_cursor_text(const qp__page *pg, bool *oom)
{
    *oom = false;
    if (!pg->more || !pg->next)
        return NULL;
    char *text = json_dumps(pg->next, JSON_COMPACT | JSON_SORT_KEYS);
    *oom = text == NULL;
    return text;
}

bool qp__page_finish(qp__page *pg, json_t *result)
{
    bool oom;
    char *text = qp__page_cursor_text(pg, &oom);
    if (!text)
        return !oom;
    int rc = json_object_set_new(result, "next_cursor", json_string(text));
    free(text);
    return rc == 0;
}
