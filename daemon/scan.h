#ifndef QPD_SCAN_H
#define QPD_SCAN_H

/*
 * scan — the full scan of the vault, on the libuv pool, in two phases.
 *
 * Phase 1 lists every directory (root first), so the loop can watch them all
 * before phase 2 walks the files (qp_vault_walk) and compares their size and
 * mtime with the index: a file made during the walk is either seen by it or
 * reported by a watch. Phase 2 also lists what the index holds that the walk
 * did not see (removed). Like a parse job, a scan job touches no loop state.
 */

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "dirlist.h"
#include "mem.h"
#include "qpd.h"
#include "quipu/error.h"
#include "quipu/store.h"

typedef struct qpd_scan_job qpd_scan_job;

/* Loop thread: a phase ran (status 0) or was cancelled. The callback owns
 * the job: it submits the next phase or frees it. */
typedef void (*qpd_scan_done_cb)(qpd_scan_job *job, int status);

struct qpd_scan_job {
    uv_work_t req; /* first */
    const qpd_daemon *d;
    qpd_scan_done_cb done;
    void *payload;
    int phase; /* 1: list directories, 2: walk files */
    /* phase 1 */
    qpd_dirvec dirs; /* every directory, root first */
    /* phase 2 */
    qpd_strvec changed;      /* files whose size or mtime differ from the index's */
    qpd_strvec removed;      /* indexed files the walk did not see */
    struct qpd_known *known; /* what the index holds, by path (qp_store_each_file_stat) */
    size_t nknown, capknown;
    size_t seen;    /* files walked */
    size_t indexed; /* files the index held */
    bool counted;   /* indexed is known (the index could be read) */
    qp_rc rc;
    qp_error err;
    qp_store *rd; /* worker: the reader phase 2 reads the index with */
};

/* A new job at phase 1; aborts when out of memory. */
qpd_scan_job *qpd_scan_new(const qpd_daemon *d, qpd_scan_done_cb done, void *payload);

/* Queues the job's current phase. */
void qpd_scan_submit(qpd_scan_job *job);

void qpd_scan_free(qpd_scan_job *job);

#endif
