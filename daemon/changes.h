#ifndef QPD_CHANGES_H
#define QPD_CHANGES_H

/*
 * changes — change sets and the cycle scheduler: keeps the index in line
 * with the vault.
 *
 * Data flow (one cycle at a time, so a later save is never overwritten by an
 * earlier one that finished late):
 *   paths (qpd_changes_path) ─► pending set, flushed on a uv_timer ~1-5 ms
 *   after its first event ─► change set: parse jobs (parse.c) ─► batches of
 *   up to ~1000 ops ─► writer thread (writer.c) ─► loop: generation, the
 *   `committed` and `state_changed` hooks.
 * A full rescan (start-up, periodic, after a failed write, or when a change
 * may have been missed) is a scan job (scan.c); a damaged index is rebuilt
 * by the writer and rescanned.
 *
 * The scheduler calls the watcher and the server only through the hooks
 * main registers; it sees the reader pool (d->readers) directly. Loop
 * thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qpd.h"
#include "quipu/error.h"
#include "quipu/store.h"

typedef struct qpd_changes_hooks {
    /* The watcher (see watcher.h for what each means). */
    bool (*watch)(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino);
    bool (*watched)(qpd_daemon *d, const char *rel);
    bool (*replaced)(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino);
    void (*unwatch_tree)(qpd_daemon *d, const char *rel);
    void (*keep_only)(qpd_daemon *d, char *const *dirs, size_t n);
    bool (*degraded)(qpd_daemon *d);
    /* A commit made a new generation (d->generation): answers may differ. */
    void (*committed)(qpd_daemon *d);
    /* d->ready or the scan's progress changed, without a commit maybe. */
    void (*state_changed)(qpd_daemon *d);
} qpd_changes_hooks;

/* Starts the writer thread on `wstore` (taken: closed by the writer when it
 * exits, also on failure) and arms the periodic rescan; d->readers must be
 * open. Does not scan: call qpd_changes_rescan(). */
qp_rc qpd_changes_start(qpd_daemon *d, qp_store *wstore, const qpd_changes_hooks *hooks,
                        qp_error *err);

/* A path changed (was written, created, deleted, renamed). Vault-relative. */
void qpd_changes_path(qpd_daemon *d, const char *relpath);

/* Schedules a full rescan; `why` is logged. */
void qpd_changes_rescan(qpd_daemon *d, const char *why);

/* The index is damaged (a reader met QP_ECORRUPT): end the cycle in flight,
 * rebuild the index and rescan. `why` is logged. */
void qpd_changes_damaged(qpd_daemon *d, const char *why);

/* Files seen changing but not committed yet: events waiting for their
 * change set, paths queued or being parsed, ops not yet written; at least 1
 * while a scan or a rebuild runs. 0 means the index is quiet. */
size_t qpd_changes_pending(qpd_daemon *d);

/* Stops: queued parse jobs are dropped, the batches with the writer are
 * committed, the writer closes the index and exits; `done` (may be NULL)
 * runs on the loop once every handle of the scheduler is closed. */
void qpd_changes_stop(qpd_daemon *d, void (*done)(qpd_daemon *d));

/* Frees what is left after the loop ran dry. */
void qpd_changes_free(qpd_daemon *d);

#endif
