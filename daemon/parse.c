/*
 * parse — parse jobs on the pool; see parse.h.
 */

#include "parse.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quipu/ingest.h"
#include "quipu/note.h"
#include "readers.h"

typedef struct list_ctx {
    qpd_parse_job *job;
    qp_store *rd; /* NULL: the index could not be read, list everything */
    bool fresh;
} list_ctx;

static void list_entry(char *rel, const struct stat *sb, void *payload)
{
    list_ctx *ctx = payload;
    qp_file_stat fs, now;

    if (S_ISDIR(sb->st_mode)) {
        qpd_dirvec_push(&ctx->job->dirs, rel, sb, ctx->fresh);
        return;
    }
    /* Files whose size and mtime match the index are skipped. Fresh: the
     * index's entry for this path is of a file that was elsewhere and is
     * being removed; a match proves nothing. */
    now = (qp_file_stat){(int64_t)sb->st_size,
                         (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec, 0};
    if (S_ISREG(sb->st_mode) &&
        (ctx->fresh || ctx->rd == NULL || qp_store_file_stat(ctx->rd, rel, &fs, NULL) != QP_OK ||
         !qp_ingest_unchanged(&fs, &now))) {
        qpd_strvec_push(&ctx->job->more, rel);
        return;
    }
    free(rel);
}

static void add(qpd_parse_job *job, qpd_op_kind kind, const char *path, qp_note *note,
                const qp_file_stat *fs, qp_ingest_problem problem)
{
    qpd_batch_add(job->out,
                  (qpd_op){kind, qpd_xstrdup(path), note, fs ? *fs : (qp_file_stat){0}, problem});
}

/* A file: what qp_ingest_path() says, the same as qp_store_sync() does (a
 * note read and parsed; a note too big or binary as an attachment with its
 * problem; an attachment; a removal when it went away meanwhile). No
 * comparison with the index here: the listing and the scan skipped what is
 * unchanged, and a batch still queued may hold a newer version. */
static void parse_file(qpd_parse_job *job, const char *path)
{
    qp_error err = QP_ERROR_INIT;
    qp_ingest_op in;
    qp_rc rc = qp_ingest_path(&in, job->d->vault, path, NULL, &err);

    if (rc != QP_OK) {
        qpd_log(QPD_LOG_WARN, "%s: %s", path, err.msg);
        return;
    }
    if (in.problem != QP_INGEST_OK)
        qpd_log(QPD_LOG_INFO, "%s: %s", path, qp_ingest_problem_message(in.problem));
    switch (in.kind) {
    case QP_INGEST_NOTE:
        if (qpd_log_threshold >= QPD_LOG_DEBUG) {
            size_t nd;
            const qp_diag *dg = qp_note_diags(in.note, &nd);

            for (size_t i = 0; i < nd; i++)
                qpd_log(QPD_LOG_DEBUG, "%s:%u:%u: %s", path, dg[i].line, dg[i].col, dg[i].msg);
        }
        add(job, QPD_OP_PUT_NOTE, path, in.note, &in.fs, in.problem);
        break;
    case QP_INGEST_FILE:
        add(job, QPD_OP_PUT_FILE, path, NULL, &in.fs, in.problem);
        break;
    case QP_INGEST_REMOVE:
        add(job, QPD_OP_REMOVE, path, NULL, &in.fs, QP_INGEST_OK);
        break;
    case QP_INGEST_SKIP:
    case QP_INGEST_STAT: /* not without an indexed stat */
        break;
    }
}

/* Produces the op (or the listing) for one path. */
static void parse_one(qpd_parse_job *job, qp_store **rd, const qpd_pathent *pe)
{
    const qpd_daemon *d = job->d;
    char *abs = qpd_join(d->vault_root, pe->path);
    struct stat sb;
    int r = stat(abs, &sb);
    qp_file_stat fs;

    free(abs);
    /* Paths are NFC (the listing normalises names), so a name stored
     * decomposed (NFD) on disk misses plain stat(); the vault finds it. */
    if (r != 0 && !pe->tree && qp_vault_stat(d->vault, pe->path, &fs, NULL) == QP_OK) {
        parse_file(job, pe->path);
    } else if (r != 0) {
        add(job, pe->tree ? QPD_OP_REMOVE_TREE : QPD_OP_REMOVE, pe->path, NULL, NULL, QP_INGEST_OK);
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
    } else if (S_ISREG(sb.st_mode)) {
        parse_file(job, pe->path);
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
