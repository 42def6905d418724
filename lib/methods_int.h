#ifndef QUIPU_METHODS_INT_H
#define QUIPU_METHODS_INT_H

/*
 * methods_int — the editor and agent read methods of docs/protocol.md
 * ("Completion, symbols, problems, lists") and what their modules share.
 *
 * Each qp__m_* function is one protocol method, registered in
 * qp_query_run()'s table (lib/query.c) and called inside its read
 * transaction: params borrowed, *out a new jansson value on success.
 * Modules: complete.c (complete.*), symbols.c (symbols, symbols.search),
 * refs.c (backlinks.subpath, backlinks.locations), problems.c (problems,
 * unresolved, the status counts), listing.c (list); methods_util.c holds
 * the shared parts below.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "query_param_int.h"
#include "quipu/error.h"
#include "quipu/store.h"
#include "quipu/vault.h"
#include "resolve_int.h"
#include "store_int.h"

struct json_t;

/* ---- the methods ---- */

qp_rc qp__m_complete_notes(struct json_t **out, qp_store *st, const qp_vault *vault,
                           struct json_t *params, qp_error *err);
qp_rc qp__m_complete_headings(struct json_t **out, qp_store *st, const qp_vault *vault,
                              struct json_t *params, qp_error *err);
qp_rc qp__m_complete_blocks(struct json_t **out, qp_store *st, const qp_vault *vault,
                            struct json_t *params, qp_error *err);
qp_rc qp__m_complete_tags(struct json_t **out, qp_store *st, const qp_vault *vault,
                          struct json_t *params, qp_error *err);
qp_rc qp__m_complete_values(struct json_t **out, qp_store *st, const qp_vault *vault,
                            struct json_t *params, qp_error *err);
qp_rc qp__m_symbols(struct json_t **out, qp_store *st, const qp_vault *vault, struct json_t *params,
                    qp_error *err);
qp_rc qp__m_symbols_search(struct json_t **out, qp_store *st, const qp_vault *vault,
                           struct json_t *params, qp_error *err);
/* Written as text (*out new), like the big answers of lib/query.c. */
qp_rc qp__m_backlinks_locations(char **out, qp_store *st, const qp_vault *vault,
                                struct json_t *params, qp_error *err);
qp_rc qp__m_backlinks_subpath(struct json_t **out, qp_store *st, const qp_vault *vault,
                              struct json_t *params, qp_error *err);
qp_rc qp__m_problems(struct json_t **out, qp_store *st, const qp_vault *vault,
                     struct json_t *params, qp_error *err);
qp_rc qp__m_unresolved(struct json_t **out, qp_store *st, const qp_vault *vault,
                       struct json_t *params, qp_error *err);
qp_rc qp__m_list(struct json_t **out, qp_store *st, const qp_vault *vault, struct json_t *params,
                 qp_error *err);

/* The vault-wide problem counts for `status`: *out is a new object with
 * every kind of docs/protocol.md's problems table as a key but the two
 * "Mentioned in" drift kinds (their cost grows with every person's
 * meetings; `problems` counts them). */
qp_rc qp__problems_counts(struct json_t **out, qp_store *st, const qp_vault *vault, qp_error *err);

/* ---- shared by the modules (methods_util.c) ---- */

/* How a candidate name matches what was typed, best first. */
typedef enum qp__match {
    QP__MATCH_NONE = 0,
    QP__MATCH_EXACT,
    QP__MATCH_PREFIX,
    QP__MATCH_WORD,
    QP__MATCH_FUZZY,
} qp__match;

/* Classifies folded candidate `cand[0..clen)` against folded query
 * `q[0..qlen)`: exact, prefix, a word of cand starting with q, or q's code
 * points in order (fuzzy). An empty q is a prefix of everything. */
qp__match qp__match_of(const char *cand, size_t clen, const char *q, size_t qlen);
/* Whether a word starts at byte i of c (a code point boundary): i is 0 or
 * the code point before it is not a word character, as qp__match_of
 * decides it. */
bool qp__word_start(const char *c, size_t i);

/* "exact", "prefix", "word", "fuzzy". */
const char *qp__match_name(qp__match m);

/* A note as the methods report it. Strings new, freed by qp__mnote_free. */
typedef struct qp__mnote {
    int64_t id;
    char *path;
    bool is_note;
    int kind;
    char *title;
    char *date;
} qp__mnote;

void qp__mnote_free(qp__mnote *n);
/* "person", "meeting", "note", or "attachment". */
const char *qp__mnote_kind(const qp__mnote *n);
/* Fills *out for file `id`; QP_ENOTFOUND when it is not indexed. */
qp_rc qp__mnote_get(qp__mnote *out, qp_store *st, int64_t id, qp_error *err);
/* Fills *out for file `id` from the current row of s, whose columns c..c+4
 * are path, is_note, kind, title, date (as QP__S_FILE_INFO's); false,
 * with *out emptied, when out of memory. */
bool qp__mnote_from_row(qp__mnote *out, int64_t id, sqlite3_stmt *s, int c);
/* The `note` param (required): a vault path, else link text resolved from
 * the vault root as `[[...]]`; QP_ENOTFOUND when it names nothing. */
qp_rc qp__mparam_note(qp__mnote *out, qp_store *st, struct json_t *params, qp_error *err);

/* An optional non-negative integer param: `def` when absent, QP_EINVAL
 * when not an integer in [min, max]. */
qp_rc qp__mparam_size(size_t *out, struct json_t *params, const char *name, size_t def, size_t min,
                      size_t max, qp_error *err);
/* The `cursor` param of a paginated method (a string from a previous
 * page): *out the offset to start at, 0 when absent. */
qp_rc qp__mparam_cursor(size_t *out, struct json_t *params, qp_error *err);
/* Sets `next_cursor` of a result (the string the next page's `cursor`
 * param takes, as in docs/protocol.md "Pages") unless offset + returned
 * reached total: the last page has none. False on OOM. */
bool qp__mset_next_cursor(struct json_t *res, size_t offset, size_t returned, size_t total);

/* A statement prepared for one call (free with sqlite3_finalize). */
qp_rc qp__mprepare(sqlite3_stmt **out, qp_store *st, const char *sql, qp_error *err);

/* "YYYY-MM-DDTHH:MM:SSZ" of a nanosecond mtime, into buf (at least 24). */
const char *qp__mtime_iso(char *buf, size_t size, int64_t mtime_ns);

/* The number of resolved links from other files that point at file `id`. *stmt caches the
 * statement across calls: NULL at first, sqlite3_finalize() it after. */
qp_rc qp__links_to_count(int64_t *out, sqlite3_stmt **stmt, qp_store *st, int64_t id,
                         qp_error *err);

/* A file's headings and block ids, as qp__subpath_find() takes them. */
typedef struct qp__mrefs {
    qp__heading_ref *h;
    size_t nh;
    qp__block_ref *b;
    size_t nb;
    char **strs; /* the texts, one allocation each */
    size_t nstrs;
} qp__mrefs;

qp_rc qp__mrefs_load(qp__mrefs *out, qp_store *st, int64_t id, qp_error *err);
void qp__mrefs_free(qp__mrefs *r);

/* The shortest link subpath that reaches heading i of r ("#H", or
 * "#Parent#H" when an earlier heading has the same name): a link to a
 * repeated heading lands on its first occurrence otherwise. New (free());
 * NULL on OOM. */
char *qp__heading_subpath(const qp__mrefs *r, size_t i);

/* Folds a param string (NFC + lower-case) with a leading `strip` character
 * removed when present ('\0': none). New (free()); NULL on OOM. */
char *qp__mfold_param(const char *s, char strip, size_t *outlen);

/* qp__subpath_find() over r that tells a miss from a failed allocation
 * (QP_ENOMEM). */
qp_rc qp__msubpath_find(bool *found, uint32_t *line, const char *subpath, const qp__mrefs *r,
                        qp_error *err);

/* qsort() that accepts an empty (possibly NULL) array. */
void qp__msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

#endif
