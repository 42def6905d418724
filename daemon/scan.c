/*
 * scan — the full scan; see scan.h.
 */

#include "scan.h"

#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "quipu/ingest.h"
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
        qpd_dirlist(job->d, rel, true, dir_entry, &ctx);
}

/* An indexed file, as the index holds it. Phase 2 reads them all in one
 * pass (path order) before the walk and looks each walked file up here,
 * instead of one SQLite lookup per file: at 10k notes those lookups and
 * their locking were most of a warm start's user time. */
typedef struct qpd_known {
    char *path;
    int64_t size, mtime_ns;
    bool seen; /* the walk found it */
} qpd_known;

static int known_cb(const char *path, const qp_file_stat *fs, void *payload)
{
    qpd_scan_job *job = payload;

    job->known = qpd_grow(job->known, &job->capknown, job->nknown + 1, sizeof *job->known);
    job->known[job->nknown++] = (qpd_known){qpd_xstrdup(path), fs->size, fs->mtime_ns, false};
    return 0;
}

static void known_free(qpd_scan_job *job)
{
    for (size_t i = 0; i < job->nknown; i++)
        free(job->known[i].path);
    free(job->known);
    job->known = NULL;
    job->nknown = job->capknown = 0;
}

static int known_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const qpd_known *)elem)->path);
}

static int scan_file_cb(const char *relpath, const qp_file_stat *st, void *payload)
{
    qpd_scan_job *job = payload;
    qpd_known *k;

    if (qpd_paths_is_index(job->d->db_rel, relpath))
        return 0;
    job->seen++;
    k = job->nknown == 0 ? NULL
                         : bsearch(relpath, job->known, job->nknown, sizeof *job->known, known_cmp);
    if (k != NULL) {
        k->seen = true;
        if (qp_ingest_unchanged(&(qp_file_stat){k->size, k->mtime_ns, 0}, st))
            return 0;
    }
    qpd_strvec_push(&job->changed, qpd_xstrdup(relpath));
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
    /* Without a readable index every file counts as changed, and nothing
     * as removed (the rebuild that follows starts from an empty index). */
    qp_rc irc = QP_OK;
    job->rd = qpd_readers_acquire(d->readers, &job->err);
    if (job->rd != NULL) {
        irc = qp_store_each_file_stat(job->rd, known_cb, job, &job->err);
        if (irc == QP_ECORRUPT)
            qpd_readers_corrupt(d->readers, job->rd, job->err.msg);
        job->counted = irc == QP_OK;
        if (!job->counted) {
            known_free(job);
        }
        job->indexed = job->nknown;
    }
    qpd_readers_release(d->readers, job->rd);
    job->rd = NULL;
    job->rc = qp_vault_walk(d->vault, scan_file_cb, job, &job->err);
    if (job->rc == QP_OK)
        job->rc = irc;
    for (size_t i = 0; job->rc == QP_OK && job->counted && i < job->nknown; i++)
        if (!job->known[i].seen)
            qpd_strvec_push(&job->removed, qpd_xstrdup(job->known[i].path));
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
    known_free(job);
    qpd_dirvec_free(&job->dirs);
    free(job);
}
