/*
 * parse — parse jobs on the pool; see parse.h.
 */

#include "parse.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quipu/note.h"
#include "readers.h"

#define MAX_READ ((size_t)64 * 1024 * 1024) /* a bigger note is indexed as a plain file */

typedef struct list_ctx {
    qpd_parse_job *job;
    qp_store *rd; /* NULL: the index could not be read, list everything */
    bool fresh;
} list_ctx;

static void list_entry(char *rel, const struct stat *sb, void *payload)
{
    list_ctx *ctx = payload;
    qp_file_stat fs;

    if (S_ISDIR(sb->st_mode)) {
        qpd_dirvec_push(&ctx->job->dirs, rel, sb, ctx->fresh);
        return;
    }
    /* Files whose size and mtime match the index are skipped. Fresh: the
     * index's entry for this path is of a file that was elsewhere and is
     * being removed; a match proves nothing. */
    if (S_ISREG(sb->st_mode) &&
        (ctx->fresh || ctx->rd == NULL || qp_store_file_stat(ctx->rd, rel, &fs, NULL) != QP_OK ||
         fs.size != (int64_t)sb->st_size ||
         fs.mtime_ns != (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec)) {
        qpd_strvec_push(&ctx->job->more, rel);
        return;
    }
    free(rel);
}

static void add(qpd_parse_job *job, qpd_op_kind kind, const char *path, qp_note *note,
                const qp_file_stat *fs)
{
    qpd_batch_add(job->out, (qpd_op){kind, qpd_xstrdup(path), note, fs ? *fs : (qp_file_stat){0}});
}

/* A note: read, parse, put (or a plain file when too big, or a removal when
 * it went away meanwhile). */
static void parse_note(qpd_parse_job *job, const char *path)
{
    const qpd_daemon *d = job->d;
    qp_error err = QP_ERROR_INIT;
    qp_file_stat fs = {0};
    char *bytes = NULL;
    size_t len = 0;
    qp_note *note = NULL;
    qp_rc rc = qp_vault_read(d->vault, path, MAX_READ, &bytes, &len, &fs, &err);

    if (rc == QP_ETOOBIG) {
        qpd_log(QPD_LOG_WARN, "%s: over %zu bytes, indexed as a plain file", path, MAX_READ);
        add(job, QPD_OP_PUT_FILE, path, NULL, &fs);
        return;
    }
    if (rc == QP_ENOTFOUND || rc == QP_EINVAL) {
        add(job, QPD_OP_REMOVE, path, NULL, &fs);
        return;
    }
    if (rc != QP_OK) {
        qpd_log(QPD_LOG_WARN, "%s: %s", path, err.msg);
        return;
    }
    rc = qp_note_parse(&note, path, bytes, len, NULL, &err);
    free(bytes);
    if (rc != QP_OK) {
        qpd_log(QPD_LOG_ERROR, "%s: %s", path, err.msg);
        return;
    }
    if (qpd_log_threshold >= QPD_LOG_DEBUG) {
        size_t nd;
        const qp_diag *dg = qp_note_diags(note, &nd);

        for (size_t i = 0; i < nd; i++)
            qpd_log(QPD_LOG_DEBUG, "%s:%u:%u: %s", path, dg[i].line, dg[i].col, dg[i].msg);
    }
    add(job, QPD_OP_PUT_NOTE, path, note, &fs);
}

/* Produces the op (or the listing) for one path. */
static void parse_one(qpd_parse_job *job, qp_store **rd, const qpd_pathent *pe)
{
    const qpd_daemon *d = job->d;
    char *abs = qpd_join(d->vault_root, pe->path);
    struct stat sb;
    qp_error err = QP_ERROR_INIT;
    qp_file_stat fs = {0};
    int r = stat(abs, &sb);
    qp_rc rc;

    free(abs);
    if (r != 0) {
        add(job, pe->tree ? QPD_OP_REMOVE_TREE : QPD_OP_REMOVE, pe->path, NULL, NULL);
        if (pe->tree)
            qpd_strvec_push(&job->gone_dirs, qpd_xstrdup(pe->path));
    } else if (S_ISDIR(sb.st_mode) && pe->listing) {
        /* Its watch exists: list it. Subdirectories go to the loop to be
         * watched and then listed in turn, so every directory is listed
         * after its watch is in place and nothing made meanwhile is missed. */
        list_ctx ctx = {job, NULL, pe->fresh};

        if (*rd == NULL)
            *rd = qpd_readers_acquire(d->readers, NULL);
        ctx.rd = *rd;
        qpd_dirlist(d, pe->path, false, list_entry, &ctx);
    } else if (S_ISDIR(sb.st_mode)) {
        qpd_dirvec_push(&job->dirs, qpd_xstrdup(pe->path), &sb, false); /* watch first */
    } else if (!S_ISREG(sb.st_mode)) {
        return;
    } else if (qp_vault_is_note(pe->path)) {
        parse_note(job, pe->path);
    } else if ((rc = qp_vault_stat(d->vault, pe->path, &fs, &err)) == QP_OK) {
        add(job, QPD_OP_PUT_FILE, pe->path, NULL, &fs);
    } else if (rc == QP_ENOTFOUND || rc == QP_EINVAL) {
        add(job, QPD_OP_REMOVE, pe->path, NULL, &fs);
    }
}

static void parse_work(uv_work_t *req)
{
    qpd_parse_job *job = (qpd_parse_job *)req;
    qp_store *rd = NULL;

    for (size_t i = 0; i < job->n; i++)
        parse_one(job, &rd, &job->paths[i]);
    qpd_readers_release(job->d->readers, rd);
}

static void parse_done(uv_work_t *req, int status)
{
    qpd_parse_job *job = (qpd_parse_job *)req;

    job->done(job, status);
}

void qpd_parse_submit(const qpd_daemon *d, const qpd_pathent *paths, size_t n,
                      qpd_parse_done_cb done, void *payload)
{
    qpd_parse_job *job = qpd_xcalloc(1, sizeof *job);

    job->d = d;
    job->done = done;
    job->payload = payload;
    job->out = qpd_batch_new(QPD_CTL_NONE);
    job->paths = qpd_xmalloc(n * sizeof *job->paths);
    memcpy(job->paths, paths, n * sizeof *job->paths);
    job->n = n;
    uv_queue_work(d->loop, &job->req, parse_work, parse_done);
}

void qpd_parse_job_free(qpd_parse_job *job)
{
    for (size_t i = 0; i < job->n; i++)
        free(job->paths[i].path);
    free(job->paths);
    qpd_batch_free(job->out);
    qpd_strvec_free(&job->more);
    qpd_strvec_free(&job->gone_dirs);
    qpd_dirvec_free(&job->dirs);
    free(job);
}
