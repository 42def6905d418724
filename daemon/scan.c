/*
 * scan — the full scan; see scan.h.
 */

#include "scan.h"

#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "readers.h"

#define MAX_DEPTH 64 /* directories deeper than this are not listed */

typedef struct dirs_ctx {
    qpd_scan_job *job;
    int depth;
} dirs_ctx;

static void list_dirs(qpd_scan_job *job, const char *rel, int depth);

static void dir_entry(char *rel, const struct stat *sb, void *payload)
{
    dirs_ctx *ctx = payload;
    qpd_dirvec *dv = &ctx->job->dirs;

    if (!S_ISDIR(sb->st_mode)) {
        free(rel);
        return;
    }
    qpd_dirvec_push(dv, rel, sb, false);
    list_dirs(ctx->job, dv->v[dv->n - 1].rel, ctx->depth + 1);
}

/* Lists every directory under `rel`, depth first. */
static void list_dirs(qpd_scan_job *job, const char *rel, int depth)
{
    dirs_ctx ctx = {job, depth};

    if (depth <= MAX_DEPTH)
        qpd_dirlist(job->d, rel, dir_entry, &ctx);
}

static int scan_file_cb(const char *relpath, const qp_file_stat *st, void *payload)
{
    qpd_scan_job *job = payload;
    qp_file_stat old;

    if (qpd_paths_is_index(job->d->db_rel, relpath))
        return 0;
    job->seen++;
    qpd_strvec_push(&job->walked, qpd_xstrdup(relpath));
    if (job->rd != NULL && qp_store_file_stat(job->rd, relpath, &old, NULL) == QP_OK &&
        old.size == st->size && old.mtime_ns == st->mtime_ns)
        return 0;
    qpd_strvec_push(&job->changed, qpd_xstrdup(relpath));
    return 0;
}

static int scan_indexed_cb(const char *path, void *payload)
{
    qpd_scan_job *job = payload;

    job->indexed++;
    if (bsearch(&path, job->walked.v, job->walked.n, sizeof *job->walked.v, qpd_cmp_str) == NULL)
        qpd_strvec_push(&job->removed, qpd_xstrdup(path));
    return 0;
}

static void scan_work(uv_work_t *req)
{
    qpd_scan_job *job = (qpd_scan_job *)req;
    const qpd_daemon *d = job->d;
    struct stat sb;

    if (job->phase == 1) {
        if (stat(d->vault_root, &sb) == 0)
            qpd_dirvec_push(&job->dirs, qpd_xstrdup(""), &sb, false);
        list_dirs(job, "", 0);
        return;
    }
    job->rd = qpd_readers_acquire(d->readers, &job->err);
    job->rc = qp_vault_walk(d->vault, scan_file_cb, job, &job->err);
    if (job->rc == QP_OK && job->rd != NULL) {
        if (job->walked.n > 1)
            qsort(job->walked.v, job->walked.n, sizeof *job->walked.v, qpd_cmp_str);
        job->rc = qp_store_each_file(job->rd, scan_indexed_cb, job, &job->err);
        if (job->rc == QP_ECORRUPT)
            qpd_readers_corrupt(d->readers, job->rd, job->err.msg);
        job->counted = job->rc == QP_OK;
    }
    qpd_readers_release(d->readers, job->rd);
    job->rd = NULL;
}

static void scan_done(uv_work_t *req, int status)
{
    qpd_scan_job *job = (qpd_scan_job *)req;

    job->done(job, status);
}

qpd_scan_job *qpd_scan_new(const qpd_daemon *d, qpd_scan_done_cb done, void *payload)
{
    qpd_scan_job *job = qpd_xcalloc(1, sizeof *job);

    job->d = d;
    job->done = done;
    job->payload = payload;
    job->phase = 1;
    job->err = (qp_error)QP_ERROR_INIT;
    return job;
}

void qpd_scan_submit(qpd_scan_job *job)
{
    uv_queue_work(job->d->loop, &job->req, scan_work, scan_done);
}

void qpd_scan_free(qpd_scan_job *job)
{
    if (job == NULL)
        return;
    qpd_strvec_free(&job->changed);
    qpd_strvec_free(&job->removed);
    qpd_strvec_free(&job->walked);
    qpd_dirvec_free(&job->dirs);
    free(job);
}
