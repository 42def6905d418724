#ifndef QP_QUERY_PAGE_H
#define QP_QUERY_PAGE_H

/*
 * query_page — pages of the answers that can grow without bound
 * (backlinks, mentions, tasks.query; docs/protocol.md "Pages").
 *
 * Why: one note whose 200k lines each link the same target made every
 * backlinks answer tens of megabytes, rebuilt per request; 64 clients
 * asking for it could not finish. A page is what an editor shows first:
 * `limit` items, each Source with at most `max_occurrences` occurrences
 * and a count of the rest, the list's total, and a cursor for the next.
 *
 * A cursor is opaque to clients: compact JSON text of an object with one
 * member per list of the answer. A list sorted by path continues after
 * the path of the last item sent ("l", "u": a path stays a valid place to
 * continue whatever changed in the index since); a list in another order
 * continues at an offset ("m", "t"). `true` marks a list already sent to
 * its end.
 *
 * Internal to libquipu; values are jansson's, owned as each function says.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "quipu/error.h"

/* Occurrences kept per Source when the client does not say. */
#define QP__PAGE_MAX_OCC_DEFAULT 100

typedef struct qp__page {
    size_t limit;   /* items per list; 0 = all */
    size_t max_occ; /* occurrences per Source; 0 = all */
    bool no_occ;    /* `occurrences: false`: Sources go without them */
    json_t *cursor; /* the decoded cursor (owned), NULL on a first page */
    json_t *next;   /* the next cursor being built (owned), NULL while empty */
    bool more;      /* some list of this answer goes on past this page */
} qp__page;

/* Reads `limit` (integer >= 1), `cursor` (a string a previous answer's
 * `next_cursor` gave), `max_occurrences` (integer >= 0; 0 = all) and
 * `occurrences` (boolean, default true) from params. QP_EINVAL names the
 * bad param. Free with qp__page_free(). */
qp_rc qp__page_params(qp__page *pg, json_t *params, qp_error *err);
void qp__page_free(qp__page *pg);

/* Where list `key` of a path-sorted answer continues: the path to start
 * after (borrowed from the cursor; NULL = from the first), and *done when
 * the list was already sent to its end. */
const char *qp__page_after(const qp__page *pg, const char *key, bool *done);

/* Where list `key` of an offset-paged answer continues, or SIZE_MAX when
 * the list was already sent to its end. */
size_t qp__page_offset(const qp__page *pg, const char *key);

/* Records in the next cursor where list `key` goes on: after `path`
 * (copied), at `offset`, or nothing more (qp__page_mark_done). */
bool qp__page_mark_path(qp__page *pg, const char *key, const char *path);
bool qp__page_mark_offset(qp__page *pg, const char *key, size_t offset);
bool qp__page_mark_done(qp__page *pg, const char *key);

/* Cuts every Source of `sources` (an array of {..., occurrences}) to
 * max_occ occurrences; a Source cut gets `more_occurrences`: the count
 * of the rest. */
void qp__page_cap_occurrences(const qp__page *pg, json_t *sources);

/* With `occurrences: false`, takes `occurrences` and `more_occurrences`
 * out of every Source of `sources`: a client that lists or counts sources
 * (titles, dates) is not sent every line of context. */
void qp__page_strip_occurrences(const qp__page *pg, json_t *sources);

/* Cuts `arr` (a path-sorted array of Sources, consumed) to list `key`'s
 * page; *out is the page (new), *total the full length. */
qp_rc qp__page_slice_sorted(json_t **out, size_t *total, qp__page *pg, const char *key, json_t *arr,
                            qp_error *err);

/* Cuts `arr` (any order, consumed) to list `key`'s page by offset. */
qp_rc qp__page_slice_offset(json_t **out, size_t *total, qp__page *pg, const char *key, json_t *arr,
                            qp_error *err);

/* The text of the next cursor (new, the caller frees it), or NULL when no
 * list has more, or with *oom set when out of memory. */
char *qp__page_cursor_text(const qp__page *pg, bool *oom);

/* Adds `next_cursor` to `result` when some list has more; false when out
 * of memory. */
bool qp__page_finish(qp__page *pg, json_t *result);

#endif
