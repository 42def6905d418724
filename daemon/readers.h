#ifndef QPD_READERS_H
#define QPD_READERS_H

/*
 * readers — the pool of QP_STORE_READ connections to the index.
 *
 * A job checks one reader out for its duration, so there are never more
 * readers than pool threads, and each is used by one thread at a time
 * (SQLITE_OPEN_NOMUTEX). The pool is guarded by one mutex and has an epoch:
 * a rebuild of the index (qpd_readers_rebuild, on the writer thread) bumps
 * it, closes the idle readers, and readers lent out at the time are closed
 * when they come back; what they report about the old files is ignored.
 *
 * Damage (QP_ECORRUPT) met by a reader is reported once per epoch to the
 * loop thread, through the `damaged` hook given to qpd_readers_new.
 *
 * Every function is thread-safe, except _new, _stop and _free (loop thread).
 */

#include <stdint.h>

#include <uv.h>

#include "quipu/error.h"
#include "quipu/store.h"

typedef struct qpd_readers qpd_readers;

/* Called on the loop thread when a reader of the current index met damage;
 * `why` is borrowed for the call. */
typedef void (*qpd_readers_damaged_cb)(const char *why, void *payload);

/* A pool of readers of the index at `db_path` (borrowed: it must outlive the
 * pool). Aborts when out of memory. */
qpd_readers *qpd_readers_new(uv_loop_t *loop, const char *db_path, qpd_readers_damaged_cb damaged,
                             void *payload);

/* A read connection for one job, or NULL (err says why; a QP_ECORRUPT open
 * has already been reported as by qpd_readers_corrupt). */
qp_store *qpd_readers_acquire(qpd_readers *rp, qp_error *err);

/* Gives a reader back (NULL: no-op). */
void qpd_readers_release(qpd_readers *rp, qp_store *st);

/* The generation of reader `st`'s snapshot as clients see it: the store's
 * commit counter plus what earlier (rebuilt) indexes counted, so it only
 * grows. */
int64_t qpd_readers_generation(qpd_readers *rp, qp_store *st);

/* What earlier (rebuilt) indexes counted: add it to a commit counter of the
 * current index to get the generation clients see. */
int64_t qpd_readers_base(qpd_readers *rp);

/* A call on reader `st` (NULL: opening one) returned QP_ECORRUPT: the loop
 * hears of it through the damaged hook. Reports about a connection to an
 * index that was rebuilt since are ignored. */
void qpd_readers_corrupt(qpd_readers *rp, qp_store *st, const char *why);

/* Writer thread. Under the pool's lock (no reader opens the files halfway):
 * bumps the epoch, closes the idle readers, runs `swap` (which closes,
 * deletes and reopens the index and returns the base generation of the new
 * one) and forgets the damage reported so far. */
void qpd_readers_rebuild(qpd_readers *rp, int64_t (*swap)(void *payload), void *payload);

/* Closes the idle readers (before the writer closes the index: the last
 * connection to close checkpoints and removes the WAL, and only the writer
 * may). */
void qpd_readers_close_idle(qpd_readers *rp);

/* No more damage reports reach the loop (readers still running may report;
 * it is dropped); closes the pool's handle. */
void qpd_readers_stop(qpd_readers *rp);

/* Closes every reader and frees the pool; after the loop ran dry. NULL is a
 * no-op. */
void qpd_readers_free(qpd_readers *rp);

#endif
