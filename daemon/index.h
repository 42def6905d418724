#ifndef QPD_INDEX_H
#define QPD_INDEX_H

/*
 * index — keeps the SQLite index in line with the vault.
 *
 * Data flow (one change set at a time, so a later save is never overwritten
 * by an earlier one that finished late):
 *   paths from the watcher ─► change set (coalesced ~5 ms on a uv_timer)
 *   ─► parse jobs on the libuv pool (stat, qp_vault_read, qp_note_parse)
 *   ─► writer thread (the only QP_STORE_WRITE connection; one transaction
 *      per batch of up to ~1000 files) ─► uv_async ─► loop: progress,
 *      subscriptions re-run (qpd_server_on_commit).
 * A full rescan (start-up, periodic, or when a change may have been missed)
 * walks the vault on a worker and compares size and mtime with the index.
 *
 * Reader pool: QP_STORE_READ connections, checked out by one job at a time
 * (qpd_readers_acquire/release are thread-safe; the pool grows to the number
 * of pool threads and stays there).
 *
 * All functions but the readers' are loop-thread only.
 */

#include <stdbool.h>

#include "qpd.h"
#include "quipu/error.h"

/* Starts the writer thread on `wstore` (taken: closed by the writer when it
 * exits) and arms the periodic rescan. Does not scan: call
 * qpd_index_rescan(). */
qp_rc qpd_index_start(qpd_daemon *d, qp_store *wstore, qp_error *err);

/* A path changed (was written, created, deleted, renamed). Vault-relative. */
void qpd_index_changed(qpd_daemon *d, const char *relpath);

/* Schedules a full rescan; `why` is logged. */
void qpd_index_rescan(qpd_daemon *d, const char *why);

/* Stops: queued parse jobs are dropped, the batch in the writer is
 * committed, the writer closes the index and exits; `done` runs on the loop
 * once everything is closed. */
void qpd_index_stop(qpd_daemon *d, void (*done)(qpd_daemon *d));

/* Frees what is left after the loop ran dry. */
void qpd_index_free(qpd_daemon *d);

/* Files seen changing but not committed yet: events waiting for their
 * change set, paths queued or being parsed, ops not yet written; at least 1
 * while a scan or a rebuild runs. 0 means the index is quiet. */
size_t qpd_index_pending(qpd_daemon *d);

/* Thread-safe. A read connection for one job, or NULL (err says why; a
 * QP_ECORRUPT open has already been reported as by qpd_readers_corrupt). */
qp_store *qpd_readers_acquire(qpd_daemon *d, qp_error *err);
void qpd_readers_release(qpd_daemon *d, qp_store *st);

/* Thread-safe. The generation of a reader's snapshot as clients see it:
 * the store's commit counter plus what earlier (rebuilt) indexes counted,
 * so it only grows. */
int64_t qpd_readers_generation(qpd_daemon *d, qp_store *st);

/* Thread-safe. A call on reader `st` (NULL: opening one) returned
 * QP_ECORRUPT: the loop rebuilds the index and rescans. Reports about a
 * connection to an index that was rebuilt since are ignored. */
void qpd_readers_corrupt(qpd_daemon *d, qp_store *st, const char *why);

#endif
