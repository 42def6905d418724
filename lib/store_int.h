#ifndef QUIPU_STORE_INT_H
#define QUIPU_STORE_INT_H

/*
 * store_int — the store's interface to the read methods inside libquipu:
 * its prepared read statements, its connection and read transactions, its
 * SQLite error mapping, the resolver's candidates from the index, and the
 * mention text rebuilt from a stored mask.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "quipu/error.h"
#include "quipu/store.h"
#include "resolve_int.h" /* qp__cand: qp__store_cands is a qp__cand_fn */

typedef enum qp__stmt_id {
    QP__S_FILE_BY_PATH = 0,
    QP__S_FILES_BY_NAME,
    QP__S_FILE_INFO,
    QP__S_BODY,
    QP__S_LINK_SRC_AFTER,
    QP__S_LINK_COUNT,
    QP__S_LINK_OCC,
    QP__S_LINKS_FROM,
    QP__S_ALIASES_OF,
    QP__S_TAGS_OF,
    QP__S_HEADINGS_OF,
    QP__S_BLOCKS_OF,
    QP__S_TASKS_OF,
    QP__S_PROPS_OF,
    QP__S_MENTION_LINES_OF,
    QP__S_MEETING_BY_TITLE,
    QP__S_FTS_MATCH,
    QP__S_ALL_NOTES,
    QP__S_COUNT_FILES,
    QP__S_COUNT_KINDS,
    QP__S_COUNT_TASKS,
    QP__S_COUNT_LINKS,
    QP__S_COUNT_UNRESOLVED,
    QP__S_LINKERS_OF,
    QP__S_GENERATION,
    QP__S_BEGIN, /* qp__store_read_begin/_end: parsed once, not per request */
    QP__S_COMMIT,
    QP__S_READ_COUNT /* not a statement */
} qp__stmt_id;

/* Puts a prepared read statement in *out, reset and with bindings cleared,
 * borrowed from the store. On failure *out is NULL and the SQLite error is
 * returned as a qp_rc (QP_ECORRUPT, QP_ENOMEM, ...) even when err is NULL. */
qp_rc qp__store_stmt(sqlite3_stmt **out, qp_store *st, qp__stmt_id id, qp_error *err);

/* Runs fn(arg, i) for i in [0, n) as qp_store_set_parallel() says (in
 * order on this thread without a helper); returns when all have run. */
void qp__store_parallel(qp_store *st, qp_store_task_fn fn, void *arg, size_t n);

/* The store's connection, for statements built per call (task queries).
 * Borrowed; valid while the store is open. */
sqlite3 *qp__store_db(qp_store *st);

/* The range [*a, *b) of bytes of `line` (n bytes) that an editor shows as
 * the link at 1-based byte column `col`, `len` bytes long: a frontmatter
 * string's quotes are not part of the link, and a link longer than its
 * line (never written by the parser, but a row is data) ends with it.
 * links.ra/rb hold it; links.ua/ub the same in UTF-16 units. */
void qp__link_span(const char *line, size_t n, int64_t col, int64_t len, size_t *a, size_t *b);

/* One slot for a module above the store to keep what it derived from the
 * index on this connection (problems.c: the compile results of ```tasks
 * blocks). The store owns the slot's value once set, and frees it with
 * `free_fn` when it closes; the module frees and replaces it as it likes.
 * A store is used by one thread at a time, so the slot needs no lock. */
void **qp__store_memo(qp_store *st, void (*free_fn)(void *));

/* The symbol catalogue qp_symcat_use() gave the store, or NULL. */
struct qp_symcat *qp__store_symcat(qp_store *st);

/* The index's epoch (meta; new with every index file): the catalogues
 * (symcat.c, taskcat.c) tell a rebuilt index by it. */
qp_rc qp__store_epoch(qp_store *st, int64_t *out, qp_error *err);

/* The files put or removed by the commits after generation `gen` (the
 * `touched` table), in *ids (malloc'd, NULL when none; the caller frees). */
qp_rc qp__store_touched_since(qp_store *st, int64_t gen, int64_t **ids, size_t *n, qp_error *err);

/* The task catalogue qp_taskcat_use() gave the store, or NULL. */
struct qp_taskcat *qp__store_taskcat(qp_store *st);

/* Opens a read transaction when none is open (returns true when it did);
 * qp__store_read_end() closes it. */
bool qp__store_read_begin(qp_store *st);
void qp__store_read_end(qp_store *st);

/* Maps a SQLite result code to a qp_rc and fills *err with `what`. */
qp_rc qp__store_sqlite_error(qp_store *st, int src, const char *what, qp_error *err);

/* Candidate lookup for qp__resolve() over this store (payload = store). */
qp_rc qp__store_cands(const qp__cand **out, size_t *n, const char *name_folded, void *payload,
                      qp_error *err);

/* Rebuilds a note's mention text from its source and stored mask blob
 * (the runs that qp_note_mention_text() blanked). New (free()); NULL on OOM. */
char *qp__store_apply_mask(const char *src, size_t len, const void *mask, size_t masklen);

#endif
