/*
 * index — change sets, parse jobs, the writer thread and the reader pool.
 * See index.h for the data flow.
 *
 * Invariants:
 * - At most one cycle (a change set or a full scan) is in flight: `busy`.
 *   Paths that change meanwhile wait in `pending`, so two versions of one
 *   file are never parsed concurrently and written out of order.
 * - A parsed note belongs to exactly one op; ops belong to one batch; a batch
 *   belongs to the loop until it is queued for the writer, then to the
 *   writer (which frees the notes after commit), then to the loop again
 *   (done list) which frees the rest.
 * - The writer thread is the only user of `wstore`; it closes it on exit.
 */

#include "index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dirent.h>

#include "log.h"
#include "quipu/note.h"
#include "server.h"
#include "watcher.h"

#define BATCH_MAX      1000 /* files per write transaction */
#define CHUNK_MAX      64   /* paths per parse job */
#define MAX_READ       ((size_t)64 * 1024 * 1024)
#define QUIET_MS       1    /* a change set is flushed once no event came for this long, */
#define COALESCE_MS    5    /* or this long after its first event, whichever is first */
#define DEGRADED_MS    2000 /* rescan period while some directory is unwatched */
#define WRITER_BACKLOG 3    /* batches queued for the writer before parsing pauses */

typedef enum op_kind {
    OP_PUT_NOTE,
    OP_PUT_FILE,
    OP_REMOVE,
    OP_REMOVE_TREE, /* a directory that is gone: remove everything under it */
} op_kind;

typedef struct op {
    op_kind kind;
    char *path;
    qp_note *note;
    qp_file_stat st;
} op;

typedef struct batch {
    struct batch *next;
    op *ops;
    size_t n, cap;
    size_t files; /* how many scan files this batch accounts for (progress) */
    qp_rc rc;
    qp_error err;
    int64_t generation;
    uint64_t t_queued, t_begin, t_end; /* uv_hrtime(), for the debug log */
} batch;

typedef struct pathent {
    char *path;
    bool tree;    /* was a watched directory when the event came */
    bool listing; /* a directory whose watch was just added: list its entries */
} pathent;

typedef struct pathvec {
    pathent *v;
    size_t n, cap;
} pathvec;

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

typedef struct dirent_info {
    char *rel;
    uint64_t dev, ino;
} dir_info;

typedef struct dirvec {
    dir_info *v;
    size_t n, cap;
} dirvec;

struct qpd_index {
    qpd_daemon *d;

    /* change set being collected */
    pathvec pending;
    bool rescan_pending;
    char rescan_why[96];
    uint64_t set_first; /* loop time of the pending set's first event */
    uv_timer_t coalesce;
    uv_timer_t periodic;

    /* the cycle in flight */
    bool busy;
    bool scanning; /* the cycle is a full scan */
    pathvec todo;
    size_t todo_next;
    unsigned jobs;    /* parse or scan jobs on the pool */
    unsigned batches; /* batches queued for or in the writer */
    batch *cur;

    /* writer thread: q (loop → writer) and done (writer → loop) under mu */
    uv_thread_t thread;
    bool thread_started;
    uv_mutex_t mu;
    uv_cond_t cond;
    batch *q_head, *q_tail;
    batch *done_head, *done_tail;
    bool quit;   /* loop asks the writer to exit once q is empty */
    bool exited; /* writer closed its store and is about to return */
    uv_async_t async;
    qp_store *wstore;

    /* reader pool, under rmu (any thread) */
    uv_mutex_t rmu;
    qp_store **idle;
    size_t nidle, idle_cap;

    void (*stop_done)(qpd_daemon *d);
    int handles_open;
};

/* ---- small vectors ------------------------------------------------------ */

static void *grow(void *v, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 16;
    void *nv;

    if (need <= *cap)
        return v;
    while (c < need)
        c *= 2;
    nv = realloc(v, c * elem);
    if (nv == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort(); /* outside a request: STYLE.md says log and abort */
    }
    *cap = c;
    return nv;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort();
    }
    return memcpy(p, s, n);
}

static void pathvec_push(pathvec *pv, char *path, bool tree)
{
    pv->v = grow(pv->v, &pv->cap, pv->n + 1, sizeof *pv->v);
    pv->v[pv->n++] = (pathent){path, tree, false};
}

static void pathvec_clear(pathvec *pv)
{
    for (size_t i = 0; i < pv->n; i++)
        free(pv->v[i].path);
    pv->n = 0;
}

static void strvec_push(strvec *sv, char *s)
{
    sv->v = grow(sv->v, &sv->cap, sv->n + 1, sizeof *sv->v);
    sv->v[sv->n++] = s;
}

static void strvec_free(strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    *sv = (strvec){0};
}

static void dirvec_push(dirvec *dv, char *rel, const struct stat *sb)
{
    dv->v = grow(dv->v, &dv->cap, dv->n + 1, sizeof *dv->v);
    dv->v[dv->n++] = (dir_info){rel, (uint64_t)sb->st_dev, (uint64_t)sb->st_ino};
}

static void dirvec_free(dirvec *dv)
{
    for (size_t i = 0; i < dv->n; i++)
        free(dv->v[i].rel);
    free(dv->v);
    *dv = (dirvec){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_pathent(const void *a, const void *b)
{
    return strcmp(((const pathent *)a)->path, ((const pathent *)b)->path);
}

static int cmp_dir(const void *a, const void *b)
{
    return strcmp(((const dir_info *)a)->rel, ((const dir_info *)b)->rel);
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);

    if (p == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort();
    }
    if (na == 0) {
        memcpy(p, b, nb + 1);
    } else {
        memcpy(p, a, na);
        p[na] = '/';
        memcpy(p + na + 1, b, nb + 1);
    }
    return p;
}

/* ---- batches ------------------------------------------------------------ */

static batch *batch_new(void)
{
    batch *b = calloc(1, sizeof *b);

    if (b == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort();
    }
    return b;
}

static void batch_add(batch *b, op o)
{
    b->ops = grow(b->ops, &b->cap, b->n + 1, sizeof *b->ops);
    b->ops[b->n++] = o;
}

static void batch_free(batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ops[i].path);
        qp_note_free(b->ops[i].note);
    }
    free(b->ops);
    free(b);
}

/* ---- reader pool -------------------------------------------------------- */

qp_store *qpd_readers_acquire(qpd_daemon *d, qp_error *err)
{
    qpd_index *ix = d->index;
    qp_store *st = NULL;

    uv_mutex_lock(&ix->rmu);
    if (ix->nidle > 0)
        st = ix->idle[--ix->nidle];
    uv_mutex_unlock(&ix->rmu);
    if (st == NULL && qp_store_open(&st, d->db_path, QP_STORE_READ, err) != QP_OK)
        st = NULL;
    return st;
}

void qpd_readers_release(qpd_daemon *d, qp_store *st)
{
    qpd_index *ix = d->index;

    if (st == NULL)
        return;
    uv_mutex_lock(&ix->rmu);
    ix->idle = grow(ix->idle, &ix->idle_cap, ix->nidle + 1, sizeof *ix->idle);
    ix->idle[ix->nidle++] = st;
    uv_mutex_unlock(&ix->rmu);
}

/* ---- writer thread ------------------------------------------------------ */

typedef struct prefix_ctx {
    const char *p;
    size_t n;
    strvec *out;
} prefix_ctx;

/* qp_store_each_file callback: collects the paths under ctx->p + "/". */
static int collect_under(const char *path, void *payload)
{
    prefix_ctx *ctx = payload;

    if (strncmp(path, ctx->p, ctx->n) == 0 && path[ctx->n] == '/')
        strvec_push(ctx->out, xstrdup(path));
    return 0;
}

static void apply_batch(qpd_index *ix, batch *b)
{
    qp_store *st = ix->wstore;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc;

    b->t_begin = uv_hrtime();
    rc = qp_store_begin(st, &err);
    for (size_t i = 0; rc == QP_OK && i < b->n; i++) {
        op *o = &b->ops[i];

        switch (o->kind) {
        case OP_PUT_NOTE:
            rc = qp_store_put_note(st, o->path, &o->st, o->note, &err);
            break;
        case OP_PUT_FILE:
            rc = qp_store_put_file(st, o->path, &o->st, &err);
            break;
        case OP_REMOVE:
            rc = qp_store_remove(st, o->path, &err);
            if (rc == QP_ENOTFOUND)
                rc = QP_OK; /* never indexed (a temp file): nothing to do */
            break;
        case OP_REMOVE_TREE: {
            /* Files under the directory: collected first, because removing
             * rows while the store iterates them is not allowed. */
            strvec under = {0};
            prefix_ctx ctx = {o->path, strlen(o->path), &under};

            rc = qp_store_remove(st, o->path, &err);
            if (rc == QP_ENOTFOUND)
                rc = QP_OK;
            if (rc == QP_OK)
                rc = qp_store_each_file(st, collect_under, &ctx, &err);
            for (size_t k = 0; rc == QP_OK && k < under.n; k++) {
                rc = qp_store_remove(st, under.v[k], &err);
                if (rc == QP_ENOTFOUND)
                    rc = QP_OK;
            }
            strvec_free(&under);
            break;
        }
        }
        /* The note is in the index now (or the batch failed): either way
         * nobody needs it any more, and freeing here keeps the loop light. */
        qp_note_free(o->note);
        o->note = NULL;
    }
    if (rc == QP_OK)
        rc = qp_store_commit(st, &err);
    else
        qp_store_rollback(st);
    b->rc = rc;
    b->err = err;
    b->generation = qp_store_generation(st);
    b->t_end = uv_hrtime();
}

static void writer_main(void *arg)
{
    qpd_index *ix = arg;

    for (;;) {
        batch *b;

        uv_mutex_lock(&ix->mu);
        while (ix->q_head == NULL && !ix->quit)
            uv_cond_wait(&ix->cond, &ix->mu);
        b = ix->q_head;
        if (b != NULL) {
            ix->q_head = b->next;
            if (ix->q_head == NULL)
                ix->q_tail = NULL;
            b->next = NULL;
        }
        uv_mutex_unlock(&ix->mu);
        if (b == NULL)
            break; /* quit and nothing left */

        apply_batch(ix, b);

        uv_mutex_lock(&ix->mu);
        if (ix->done_tail)
            ix->done_tail->next = b;
        else
            ix->done_head = b;
        ix->done_tail = b;
        uv_mutex_unlock(&ix->mu);
        uv_async_send(&ix->async);
    }
    qp_store_close(ix->wstore);
    ix->wstore = NULL;
    uv_mutex_lock(&ix->mu);
    ix->exited = true;
    uv_mutex_unlock(&ix->mu);
    uv_async_send(&ix->async);
}

static void submit_batch(qpd_index *ix)
{
    batch *b = ix->cur;

    ix->cur = NULL;
    if (b == NULL || (b->n == 0 && b->files == 0)) {
        batch_free(b);
        return;
    }
    ix->batches++;
    b->t_queued = uv_hrtime();
    uv_mutex_lock(&ix->mu);
    if (ix->q_tail)
        ix->q_tail->next = b;
    else
        ix->q_head = b;
    ix->q_tail = b;
    uv_cond_signal(&ix->cond);
    uv_mutex_unlock(&ix->mu);
}

static batch *cur_batch(qpd_index *ix)
{
    if (ix->cur == NULL)
        ix->cur = batch_new();
    return ix->cur;
}

/* ---- parse jobs --------------------------------------------------------- */

typedef struct parse_job {
    uv_work_t req;
    qpd_index *ix;
    pathent *paths; /* owned */
    size_t n;
    batch *out;       /* ops produced */
    strvec more;      /* files found under new directories, to parse next */
    dirvec dirs;      /* directories found, to watch */
    strvec gone_dirs; /* tree paths that no longer exist: drop their watches */
} parse_job;

/* Stats a directory entry. Symbolic links to directories are not followed
 * (a link to an ancestor would make the watches endless); links to files
 * are, as the vault walk does. False when the entry is to be skipped. */
static bool stat_entry(const char *abs, struct stat *sb)
{
    if (lstat(abs, sb) != 0)
        return false;
    if (!S_ISLNK(sb->st_mode))
        return true;
    return stat(abs, sb) == 0 && !S_ISDIR(sb->st_mode);
}

/* Lists the entries of `rel`, a directory whose watch exists already: files
 * into more, subdirectories into dirs (the loop watches each and has it
 * listed in turn, so every directory is listed after its watch is in place
 * and nothing created meanwhile is missed). Files whose size and mtime
 * match the index are skipped. */
static void list_dir(qpd_daemon *d, qp_store *rd, const char *rel, parse_job *job)
{
    char *abs = join(d->vault_root, rel);
    DIR *dir = opendir(abs);
    struct dirent *de;

    free(abs);
    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        char *crel, *cabs;
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        crel = join(rel, de->d_name);
        if (qp_vault_ignored(d->vault, crel) ||
            (d->db_rel && strncmp(crel, d->db_rel, strlen(d->db_rel)) == 0)) {
            free(crel);
            continue;
        }
        cabs = join(d->vault_root, crel);
        if (!stat_entry(cabs, &sb)) {
            free(cabs);
            free(crel);
            continue;
        }
        free(cabs);
        if (S_ISDIR(sb.st_mode)) {
            dirvec_push(&job->dirs, crel, &sb);
        } else if (S_ISREG(sb.st_mode)) {
            qp_file_stat fs;

            if (rd != NULL && qp_store_file_stat(rd, crel, &fs, NULL) == QP_OK &&
                fs.size == (int64_t)sb.st_size &&
                fs.mtime_ns == (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec) {
                free(crel);
                continue;
            }
            strvec_push(&job->more, crel);
        } else {
            free(crel);
        }
    }
    closedir(dir);
}

/* Produces the op for one path. */
static void parse_one(qpd_daemon *d, qp_store **rd, pathent *pe, parse_job *job)
{
    char *abs = join(d->vault_root, pe->path);
    struct stat sb;
    qp_error err = QP_ERROR_INIT;
    qp_file_stat fs = {0};
    char *bytes = NULL;
    size_t len = 0;
    qp_note *note = NULL;
    qp_rc rc;

    if (stat(abs, &sb) != 0) {
        free(abs);
        batch_add(job->out,
                  (op){pe->tree ? OP_REMOVE_TREE : OP_REMOVE, xstrdup(pe->path), NULL, fs});
        if (pe->tree)
            strvec_push(&job->gone_dirs, xstrdup(pe->path));
        return;
    }
    free(abs);
    if (S_ISDIR(sb.st_mode)) {
        if (pe->listing) {
            if (*rd == NULL)
                *rd = qpd_readers_acquire(d, NULL);
            list_dir(d, *rd, pe->path, job);
        } else {
            /* Watch first (on the loop), list after: see list_dir. */
            dirvec_push(&job->dirs, xstrdup(pe->path), &sb);
        }
        return;
    }
    if (!S_ISREG(sb.st_mode))
        return;
    if (!qp_vault_is_note(pe->path)) {
        rc = qp_vault_stat(d->vault, pe->path, &fs, &err);
        if (rc == QP_OK)
            batch_add(job->out, (op){OP_PUT_FILE, xstrdup(pe->path), NULL, fs});
        else if (rc == QP_ENOTFOUND || rc == QP_EINVAL)
            batch_add(job->out, (op){OP_REMOVE, xstrdup(pe->path), NULL, fs});
        return;
    }
    rc = qp_vault_read(d->vault, pe->path, MAX_READ, &bytes, &len, &fs, &err);
    if (rc == QP_ETOOBIG) {
        qpd_log(QPD_LOG_WARN, "%s: over %zu bytes, indexed as a plain file", pe->path, MAX_READ);
        batch_add(job->out, (op){OP_PUT_FILE, xstrdup(pe->path), NULL, fs});
        return;
    }
    if (rc == QP_ENOTFOUND || rc == QP_EINVAL) {
        batch_add(job->out, (op){OP_REMOVE, xstrdup(pe->path), NULL, fs});
        return;
    }
    if (rc != QP_OK) {
        qpd_log(QPD_LOG_WARN, "%s: %s", pe->path, err.msg);
        return;
    }
    rc = qp_note_parse(&note, pe->path, bytes, len, NULL, &err);
    free(bytes);
    if (rc != QP_OK) {
        qpd_log(QPD_LOG_ERROR, "%s: %s", pe->path, err.msg);
        return;
    }
    if (qpd_log_threshold >= QPD_LOG_DEBUG) {
        size_t nd;
        const qp_diag *dg = qp_note_diags(note, &nd);

        for (size_t i = 0; i < nd; i++)
            qpd_log(QPD_LOG_DEBUG, "%s:%u:%u: %s", pe->path, dg[i].line, dg[i].col, dg[i].msg);
    }
    batch_add(job->out, (op){OP_PUT_NOTE, xstrdup(pe->path), note, fs});
}

static void parse_work(uv_work_t *req)
{
    parse_job *job = (parse_job *)req;
    qp_store *rd = NULL;

    for (size_t i = 0; i < job->n; i++)
        parse_one(job->ix->d, &rd, &job->paths[i], job);
    qpd_readers_release(job->ix->d, rd);
}

static void cycle_continue(qpd_index *ix);

static void parse_done(uv_work_t *req, int status)
{
    parse_job *job = (parse_job *)req;
    qpd_index *ix = job->ix;
    qpd_daemon *d = ix->d;
    (void)status; /* a cancelled job produced nothing; the rest is the same */

    ix->jobs--;
    for (size_t i = 0; i < job->gone_dirs.n; i++)
        qpd_watcher_drop_tree(d, job->gone_dirs.v[i]);
    if (!d->stopping) {
        for (size_t i = 0; i < job->dirs.n; i++) {
            dir_info *di = &job->dirs.v[i];

            if (qpd_watcher_add(d, di->rel, di->dev, di->ino)) {
                pathvec_push(&ix->todo, di->rel, false);
                ix->todo.v[ix->todo.n - 1].listing = true;
                di->rel = NULL;
            }
        }
        for (size_t i = 0; i < job->more.n; i++) {
            pathvec_push(&ix->todo, job->more.v[i], false);
            job->more.v[i] = NULL;
        }
        if (ix->scanning)
            d->scan_total += job->more.n;
        for (size_t i = 0; i < job->out->n; i++) {
            batch_add(cur_batch(ix), job->out->ops[i]);
            job->out->ops[i] = (op){0};
        }
        job->out->n = 0;
        if (ix->scanning)
            cur_batch(ix)->files += job->n;
        if (ix->cur && ix->cur->n >= BATCH_MAX)
            submit_batch(ix);
    }
    for (size_t i = 0; i < job->n; i++)
        free(job->paths[i].path);
    free(job->paths);
    batch_free(job->out);
    strvec_free(&job->more);
    strvec_free(&job->gone_dirs);
    dirvec_free(&job->dirs);
    free(job);
    cycle_continue(ix);
}

static void submit_parse_job(qpd_index *ix)
{
    size_t left = ix->todo.n - ix->todo_next;
    size_t per = left / (2 * (ix->d->threads ? ix->d->threads : 4)) + 1;
    parse_job *job;

    if (per > CHUNK_MAX)
        per = CHUNK_MAX;
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort();
    }
    job->ix = ix;
    job->out = batch_new();
    job->paths = grow(NULL, &(size_t){0}, per, sizeof *job->paths);
    memcpy(job->paths, ix->todo.v + ix->todo_next, per * sizeof *job->paths);
    job->n = per;
    ix->todo_next += per;
    ix->jobs++;
    uv_queue_work(ix->d->loop, &job->req, parse_work, parse_done);
}

/* ---- full scan ---------------------------------------------------------- */

typedef struct scan_job {
    uv_work_t req;
    qpd_index *ix;
    strvec changed;
    strvec removed;
    dirvec dirs;
    strvec walked; /* every file the walk saw, sorted, to find removed ones */
    qp_store *rd;
    qp_rc rc;
    qp_error err;
    size_t seen;
    int phase; /* 1: list directories (to watch them first), 2: walk files */
} scan_job;

static int scan_file_cb(const char *relpath, const qp_file_stat *st, void *payload)
{
    scan_job *job = payload;
    qpd_daemon *d = job->ix->d;
    qp_file_stat old;

    if (d->db_rel && strncmp(relpath, d->db_rel, strlen(d->db_rel)) == 0)
        return 0;
    job->seen++;
    strvec_push(&job->walked, xstrdup(relpath));
    if (job->rd != NULL && qp_store_file_stat(job->rd, relpath, &old, NULL) == QP_OK &&
        old.size == st->size && old.mtime_ns == st->mtime_ns)
        return 0;
    strvec_push(&job->changed, xstrdup(relpath));
    return 0;
}

static int scan_indexed_cb(const char *path, void *payload)
{
    scan_job *job = payload;

    if (bsearch(&path, job->walked.v, job->walked.n, sizeof *job->walked.v, cmp_str) == NULL)
        strvec_push(&job->removed, xstrdup(path));
    return 0;
}

/* Lists every directory (for the watches), root first. */
static void scan_dirs(qpd_daemon *d, const char *rel, dirvec *out, int depth)
{
    char *abs = join(d->vault_root, rel);
    DIR *dir = depth > 64 ? NULL : opendir(abs);
    struct dirent *de;

    free(abs);
    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        char *crel, *cabs;
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        crel = join(rel, de->d_name);
        if (qp_vault_ignored(d->vault, crel)) {
            free(crel);
            continue;
        }
        cabs = join(d->vault_root, crel);
        if (stat_entry(cabs, &sb) && S_ISDIR(sb.st_mode)) {
            dirvec_push(out, crel, &sb);
            scan_dirs(d, out->v[out->n - 1].rel, out, depth + 1);
        } else {
            free(crel);
        }
        free(cabs);
    }
    closedir(dir);
}

static void scan_work(uv_work_t *req)
{
    scan_job *job = (scan_job *)req;
    qpd_daemon *d = job->ix->d;
    struct stat sb;

    if (job->phase == 1) {
        if (stat(d->vault_root, &sb) == 0)
            dirvec_push(&job->dirs, xstrdup(""), &sb);
        scan_dirs(d, "", &job->dirs, 0);
        return;
    }
    job->rd = qpd_readers_acquire(d, &job->err);
    job->rc = qp_vault_walk(d->vault, scan_file_cb, job, &job->err);
    if (job->rc == QP_OK && job->rd != NULL) {
        qsort(job->walked.v, job->walked.n, sizeof *job->walked.v, cmp_str);
        job->rc = qp_store_each_file(job->rd, scan_indexed_cb, job, &job->err);
    }
    qpd_readers_release(d, job->rd);
    job->rd = NULL;
}

/* Watches every directory the scan listed and drops watches of directories
 * that are gone. Done before the files are walked, so a file created during
 * the walk is either seen by it or reported by a watch. */
static void scan_watch_dirs(qpd_daemon *d, scan_job *job)
{
    char **names;

    qsort(job->dirs.v, job->dirs.n, sizeof *job->dirs.v, cmp_dir);
    for (size_t i = 0; i < job->dirs.n; i++)
        qpd_watcher_add(d, job->dirs.v[i].rel, job->dirs.v[i].dev, job->dirs.v[i].ino);
    names = grow(NULL, &(size_t){0}, job->dirs.n + 1, sizeof *names);
    for (size_t i = 0; i < job->dirs.n; i++)
        names[i] = job->dirs.v[i].rel;
    qpd_watcher_keep_only(d, names, job->dirs.n);
    free(names);
}

static void scan_done(uv_work_t *req, int status)
{
    scan_job *job = (scan_job *)req;
    qpd_index *ix = job->ix;
    qpd_daemon *d = ix->d;

    if (status == 0 && !d->stopping && job->phase == 1) {
        scan_watch_dirs(d, job);
        job->phase = 2;
        uv_queue_work(d->loop, &job->req, scan_work, scan_done);
        return;
    }
    ix->jobs--;
    if (status == 0 && !d->stopping) {
        if (job->rc != QP_OK)
            qpd_log(QPD_LOG_ERROR, "scan: %s", job->err.msg);
        qpd_log(QPD_LOG_INFO, "scan: %zu files, %zu changed, %zu removed, %zu directories",
                job->seen, job->changed.n, job->removed.n, job->dirs.n);
        for (size_t i = 0; i < job->removed.n; i++) {
            batch_add(cur_batch(ix), (op){OP_REMOVE, job->removed.v[i], NULL, {0}});
            job->removed.v[i] = NULL;
        }
        cur_batch(ix)->files += job->removed.n;
        for (size_t i = 0; i < job->changed.n; i++) {
            pathvec_push(&ix->todo, job->changed.v[i], false);
            job->changed.v[i] = NULL;
        }
        d->scan_total = job->changed.n + job->removed.n;
        d->scan_done = 0;
        qpd_server_on_progress(d);
    }
    strvec_free(&job->changed);
    strvec_free(&job->removed);
    strvec_free(&job->walked);
    dirvec_free(&job->dirs);
    free(job);
    cycle_continue(ix);
}

/* ---- cycles ------------------------------------------------------------- */

static void flush_cb(uv_timer_t *t);

static void arm_flush(qpd_index *ix, uint64_t ms)
{
    if (ix->d->stopping || ix->busy)
        return; /* cycle_continue() flushes when the cycle ends */
    if (!uv_is_active((uv_handle_t *)&ix->coalesce))
        uv_timer_start(&ix->coalesce, flush_cb, ms, 0);
}

/* Closes the idle readers before the writer closes: the last connection
 * to close checkpoints and removes the WAL, and only the writer may. */
static void tell_writer_to_quit(qpd_index *ix)
{
    uv_mutex_lock(&ix->rmu);
    for (size_t i = 0; i < ix->nidle; i++)
        qp_store_close(ix->idle[i]);
    ix->nidle = 0;
    uv_mutex_unlock(&ix->rmu);
    uv_mutex_lock(&ix->mu);
    ix->quit = true;
    uv_cond_signal(&ix->cond);
    uv_mutex_unlock(&ix->mu);
}

static void cycle_end(qpd_index *ix)
{
    qpd_daemon *d = ix->d;

    ix->busy = false;
    /* Entries before todo_next went to parse jobs, which freed them. */
    for (size_t i = ix->todo_next; i < ix->todo.n; i++)
        free(ix->todo.v[i].path);
    ix->todo.n = 0;
    ix->todo_next = 0;
    if (ix->scanning) {
        ix->scanning = false;
        if (!d->ready)
            qpd_log(QPD_LOG_INFO, "ready: %zu files indexed or checked, generation %lld",
                    d->scan_done, (long long)d->generation);
        d->ready = true;
        d->scan_done = d->scan_total = 0;
        qpd_server_on_progress(d);
    }
    if (d->stopping) {
        /* Nothing in flight any more: let the writer finish and exit. */
        tell_writer_to_quit(ix);
        return;
    }
    if (ix->pending.n > 0 || ix->rescan_pending)
        arm_flush(ix, 0);
}

static void cycle_continue(qpd_index *ix)
{
    qpd_daemon *d = ix->d;
    unsigned max_jobs = 2 * (d->threads ? d->threads : 4);

    if (!ix->busy)
        return;
    if (!d->stopping) {
        while (ix->todo_next < ix->todo.n && ix->jobs < max_jobs && ix->batches < WRITER_BACKLOG)
            submit_parse_job(ix);
    }
    if ((ix->todo_next < ix->todo.n && !d->stopping) || ix->jobs > 0)
        return;
    /* Everything parsed: write the remainder as the change set's last batch. */
    if (!d->stopping)
        submit_batch(ix);
    else {
        batch_free(ix->cur);
        ix->cur = NULL;
    }
    if (ix->batches == 0)
        cycle_end(ix);
}

static void start_scan(qpd_index *ix)
{
    scan_job *job = calloc(1, sizeof *job);

    if (job == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort();
    }
    job->ix = ix;
    job->phase = 1;
    ix->busy = true;
    ix->scanning = true;
    ix->d->scan_done = ix->d->scan_total = 0;
    ix->jobs++;
    qpd_log(QPD_LOG_INFO, "scan: %s", ix->rescan_why);
    uv_queue_work(ix->d->loop, &job->req, scan_work, scan_done);
}

static void flush_cb(uv_timer_t *t)
{
    qpd_index *ix = t->data;
    qpd_daemon *d = ix->d;

    if (ix->busy || d->stopping)
        return;
    if (ix->rescan_pending) {
        /* The scan sees every pending path too. */
        ix->rescan_pending = false;
        pathvec_clear(&ix->pending);
        start_scan(ix);
        return;
    }
    if (ix->pending.n == 0)
        return;
    /* Swap pending into todo, sorted and without duplicates. */
    {
        pathvec tmp = ix->todo;
        size_t k = 0;

        ix->todo = ix->pending;
        ix->pending = tmp;
        ix->pending.n = 0;
        qsort(ix->todo.v, ix->todo.n, sizeof *ix->todo.v, cmp_pathent);
        for (size_t i = 0; i < ix->todo.n; i++) {
            if (k > 0 && strcmp(ix->todo.v[k - 1].path, ix->todo.v[i].path) == 0) {
                ix->todo.v[k - 1].tree |= ix->todo.v[i].tree;
                free(ix->todo.v[i].path);
                continue;
            }
            ix->todo.v[k++] = ix->todo.v[i];
        }
        ix->todo.n = k;
    }
    for (size_t i = 0; i < ix->todo.n; i++)
        ix->todo.v[i].tree = ix->todo.v[i].tree || qpd_watcher_is_dir(d, ix->todo.v[i].path);
    qpd_log(QPD_LOG_DEBUG, "change set: %zu paths, first %s", ix->todo.n, ix->todo.v[0].path);
    ix->busy = true;
    ix->todo_next = 0;
    cycle_continue(ix);
}

/* ---- the writer's results on the loop ----------------------------------- */

static void close_cb(uv_handle_t *h)
{
    qpd_index *ix = h->data;

    if (--ix->handles_open == 0 && ix->stop_done)
        ix->stop_done(ix->d);
}

static void async_cb(uv_async_t *a)
{
    qpd_index *ix = a->data;
    qpd_daemon *d = ix->d;
    batch *done;
    bool exited, committed = false;

    /* Sends coalesce: take everything that finished. */
    uv_mutex_lock(&ix->mu);
    done = ix->done_head;
    ix->done_head = ix->done_tail = NULL;
    exited = ix->exited;
    uv_mutex_unlock(&ix->mu);

    while (done != NULL) {
        batch *b = done;

        done = b->next;
        ix->batches--;
        if (b->rc != QP_OK) {
            qpd_log(QPD_LOG_ERROR, "index write (%zu files): %s", b->n, b->err.msg);
            /* The files are still on disk: a rescan puts them in again. */
            if (!d->stopping)
                qpd_index_rescan(d, "after a failed write");
        } else {
            qpd_log(QPD_LOG_DEBUG,
                    "committed %zu changes, generation %lld (queued %.2f ms, written in %.2f ms, "
                    "reported after %.2f ms)",
                    b->n, (long long)b->generation, (double)(b->t_begin - b->t_queued) / 1e6,
                    (double)(b->t_end - b->t_begin) / 1e6, (double)(uv_hrtime() - b->t_end) / 1e6);
            if (b->generation != d->generation)
                committed = true;
            if (b->generation > d->generation)
                d->generation = b->generation;
        }
        if (ix->scanning)
            d->scan_done += b->files;
        batch_free(b);
    }
    if (committed && !d->stopping)
        qpd_server_on_commit(d);
    if (ix->scanning && !d->stopping)
        qpd_server_on_progress(d);
    cycle_continue(ix);

    if (exited && ix->thread_started) {
        uv_thread_join(&ix->thread);
        ix->thread_started = false;
        uv_close((uv_handle_t *)&ix->async, close_cb);
    }
}

/* ---- public ------------------------------------------------------------- */

static void periodic_cb(uv_timer_t *t)
{
    qpd_index *ix = t->data;

    if (qpd_watcher_degraded(ix->d))
        qpd_index_rescan(ix->d, "some directories are not watched");
    else
        qpd_index_rescan(ix->d, "periodic");
}

qp_rc qpd_index_start(qpd_daemon *d, qp_store *wstore, qp_error *err)
{
    qpd_index *ix = calloc(1, sizeof *ix);
    uint64_t period;

    if (ix == NULL) {
        qp_store_close(wstore);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    d->index = ix;
    ix->d = d;
    ix->wstore = wstore;
    d->generation = qp_store_generation(wstore);
    uv_mutex_init(&ix->mu);
    uv_mutex_init(&ix->rmu);
    uv_cond_init(&ix->cond);
    uv_async_init(d->loop, &ix->async, async_cb);
    uv_timer_init(d->loop, &ix->coalesce);
    uv_timer_init(d->loop, &ix->periodic);
    ix->async.data = ix->coalesce.data = ix->periodic.data = ix;
    ix->handles_open = 3;
    if (uv_thread_create(&ix->thread, writer_main, ix) != 0) {
        ix->wstore = NULL;
        qp_store_close(wstore);
        return qp_error_set(err, QP_ENOMEM, "cannot start the writer thread");
    }
    ix->thread_started = true;
    period = (uint64_t)d->rescan_interval * 1000;
    if (period > 0)
        uv_timer_start(&ix->periodic, periodic_cb, period, period);
    return QP_OK;
}

void qpd_index_changed(qpd_daemon *d, const char *relpath)
{
    qpd_index *ix = d->index;
    uint64_t now, due;

    if (d->stopping)
        return;
    now = uv_now(d->loop);
    if (ix->pending.n == 0)
        ix->set_first = now;
    pathvec_push(&ix->pending, xstrdup(relpath), false);
    if (ix->busy)
        return; /* cycle_end() flushes what waited */
    /* A save is one event (rename) or a burst of them microseconds apart
     * (truncate, write): wait until the burst is quiet, but never more than
     * COALESCE_MS after its first event, so a steady stream of events cannot
     * hold a change set back. */
    due = now + QUIET_MS;
    if (due > ix->set_first + COALESCE_MS)
        due = ix->set_first + COALESCE_MS;
    uv_timer_start(&ix->coalesce, flush_cb, due > now ? due - now : 0, 0);
}

void qpd_index_rescan(qpd_daemon *d, const char *why)
{
    qpd_index *ix = d->index;

    if (d->stopping)
        return;
    if (!ix->rescan_pending)
        snprintf(ix->rescan_why, sizeof ix->rescan_why, "%s", why);
    ix->rescan_pending = true;
    if (qpd_watcher_degraded(d)) {
        /* Changes in unwatched directories are seen only by scans. */
        uint64_t rep = uv_timer_get_repeat(&ix->periodic);

        if (rep == 0 || rep > DEGRADED_MS)
            uv_timer_start(&ix->periodic, periodic_cb, DEGRADED_MS, DEGRADED_MS);
    }
    arm_flush(ix, 0);
}

void qpd_index_stop(qpd_daemon *d, void (*done)(qpd_daemon *d))
{
    qpd_index *ix = d->index;

    ix->stop_done = done;
    uv_timer_stop(&ix->coalesce);
    uv_timer_stop(&ix->periodic);
    uv_close((uv_handle_t *)&ix->coalesce, close_cb);
    uv_close((uv_handle_t *)&ix->periodic, close_cb);
    pathvec_clear(&ix->pending);
    if (!ix->busy)
        tell_writer_to_quit(ix);
    /* else: cycle_continue() stops parsing, lets the writer finish what it
     * has and then sets quit (cycle_end). */
}

void qpd_index_free(qpd_daemon *d)
{
    qpd_index *ix = d->index;

    if (ix == NULL)
        return;
    if (ix->thread_started) { /* the loop never ran the writer's last async */
        uv_mutex_lock(&ix->mu);
        ix->quit = true;
        uv_cond_signal(&ix->cond);
        uv_mutex_unlock(&ix->mu);
        uv_thread_join(&ix->thread);
    }
    while (ix->done_head) {
        batch *b = ix->done_head;

        ix->done_head = b->next;
        batch_free(b);
    }
    for (size_t i = 0; i < ix->nidle; i++)
        qp_store_close(ix->idle[i]);
    free(ix->idle);
    pathvec_clear(&ix->pending);
    free(ix->pending.v);
    for (size_t i = ix->todo_next; i < ix->todo.n; i++)
        free(ix->todo.v[i].path);
    free(ix->todo.v);
    batch_free(ix->cur);
    uv_mutex_destroy(&ix->mu);
    uv_mutex_destroy(&ix->rmu);
    uv_cond_destroy(&ix->cond);
    free(ix);
    d->index = NULL;
}
