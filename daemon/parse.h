#ifndef QPD_PARSE_H
#define QPD_PARSE_H

/*
 * parse — parse jobs: turn the paths of a change set into index operations
 * on the libuv pool.
 *
 * For each path: missing → a removal (of everything under it when it was a
 * watched directory); a directory → reported, to be watched by the loop (or,
 * once watched, listed: its files to parse next, its subdirectories to
 * watch); a file → what qp_ingest_path() makes of it, as qp_store_sync()
 * does (quipu/ingest.h: a note parsed, a note too big or binary an
 * attachment with its problem, another file stat'ed). The job touches no loop state: it reads the
 * immutable parts of qpd_daemon (vault, root, db_rel) and borrows a reader to compare listed files
 * with the index.
 */

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "dirlist.h"
#include "mem.h"
#include "qpd.h"
#include "writer.h"

/* One path of a change set. */
typedef struct qpd_pathent {
    char *path;   /* owned */
    bool tree;    /* was a watched directory when the event came */
    bool listing; /* a directory whose watch was just added: list its entries */
    bool fresh;   /* listing: what the index holds under it is being removed; skip nothing */
} qpd_pathent;

typedef struct qpd_parse_job qpd_parse_job;

/* Loop thread: the job ran (status 0) or was cancelled (UV_ECANCELED: it
 * produced nothing). The callback owns the job. */
typedef void (*qpd_parse_done_cb)(qpd_parse_job *job, int status);

struct qpd_parse_job {
    uv_work_t req; /* first */
    const qpd_daemon *d;
    qpd_pathent *paths; /* owned */
    size_t n;
    qpd_parse_done_cb done;
    void *payload;
    /* results, built on the worker */
    qpd_batch *out;       /* ops produced, in the order of paths */
    qpd_strvec more;      /* files found under listed directories, to parse next */
    qpd_dirvec dirs;      /* directories found, to watch */
    qpd_strvec gone_dirs; /* tree paths that no longer exist: drop their watches */
};

/* Queues a job for `n` paths (the entries are moved into the job, which
 * owns their strings from now on). */
void qpd_parse_submit(const qpd_daemon *d, const qpd_pathent *paths, size_t n,
                      qpd_parse_done_cb done, void *payload);

/* Frees a job and whatever results are left in it. */
void qpd_parse_job_free(qpd_parse_job *job);

#endif
