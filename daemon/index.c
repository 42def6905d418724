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
#include <unistd.h>

#include <dirent.h>

#include "log.h"
#include "quipu/note.h"
#include "server.h"
#include "watcher.h"

#define BATCH_MAX        1000 /* files per write transaction */
#define CHUNK_MAX        64   /* paths per parse job */
#define MAX_READ         ((size_t)64 * 1024 * 1024)
#define QUIET_MS         1    /* a change set is flushed once no event came for this long, */
#define COALESCE_MS      5    /* or this long after its first event, whichever is first */
#define DEGRADED_MS      2000 /* rescan period while some directory is unwatched */
#define WRITER_BACKLOG   3    /* batches queued for the writer before parsing pauses */
#define BULK_MIN         1000 /* a scan into an empty index of at least this many files bulk-loads */
#define REBUILD_RETRY_MS 1000 /* a rebuild that failed (the disk?) is tried again after this */

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

/* What the writer does with a batch besides its ops. */
typedef enum batch_ctl {
    CTL_NONE,
    CTL_REBUILD,    /* close the index, delete its files, open a new one */
    CTL_BULK_BEGIN, /* qp_store_bulk_begin: an empty index is being filled */
    CTL_BULK_END,   /* qp_store_bulk_end: build indexes, resolve every link */
} batch_ctl;

typedef struct batch {
    struct batch *next;
    batch_ctl ctl;
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
    bool fresh;   /* listing: what the index holds under it is being removed; skip nothing */
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
    bool fresh; /* under a directory whose old contents are being removed */
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
    bool scanning;       /* the cycle is a full scan */
    bool bulk;           /* the scan bulk-loads: CTL_BULK_END is owed to the writer */
    bool rebuild_wanted; /* the index is corrupt: end the cycle, then rebuild */
    bool rebuilding;     /* CTL_REBUILD is with the writer */
    bool rebuild_retry;  /* the last rebuild failed: try again after REBUILD_RETRY_MS */
    size_t parsing;      /* paths in parse jobs on the pool */
    size_t writing;      /* ops in batches queued for or in the writer */
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

    /* reader pool, under rmu (any thread). Readers lent out are listed
     * with the epoch they were opened in: a rebuild bumps the epoch, closes
     * the idle ones, and those lent out are closed when they come back. */
    uv_mutex_t rmu;
    qp_store **idle;
    size_t nidle, idle_cap;
    struct lent {
        qp_store *st;
        unsigned epoch;
        int64_t base;
    } * lent;
    size_t nlent, lent_cap;
    unsigned epoch;
    /* Added to the store's commit counter: a rebuilt index starts counting
     * again, but the generation clients see only grows. Written by the
     * writer under rmu. */
    int64_t gen_base;
    bool corrupt; /* a reader of the current epoch met QP_ECORRUPT */
    char corrupt_why[160];
    bool async_closed; /* no uv_async_send any more */

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
    pv->v[pv->n++] = (pathent){path, tree, false, false};
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
    dv->v[dv->n++] = (dir_info){rel, (uint64_t)sb->st_dev, (uint64_t)sb->st_ino, false};
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

/* Under rmu. */
static struct lent *lent_find(qpd_index *ix, const qp_store *st)
{
    for (size_t i = 0; i < ix->nlent; i++)
        if (ix->lent[i].st == st)
            return &ix->lent[i];
    return NULL;
}

/* Under rmu: a reader of `epoch` met damage; the loop rebuilds, once. */
static void corrupt_locked(qpd_index *ix, unsigned epoch, const char *why)
{
    if (epoch != ix->epoch || ix->corrupt)
        return; /* an old connection to a deleted index, or said already */
    ix->corrupt = true;
    snprintf(ix->corrupt_why, sizeof ix->corrupt_why, "%.150s", why);
    if (!ix->async_closed)
        uv_async_send(&ix->async);
}

qp_store *qpd_readers_acquire(qpd_daemon *d, qp_error *err)
{
    qpd_index *ix = d->index;
    qp_store *st = NULL;
    qp_error e = QP_ERROR_INIT;

    if (err == NULL)
        err = &e;
    /* Opened under the lock: a rebuild (which holds it while the files are
     * deleted and created again) can never be caught halfway. The pool
     * grows to the number of pool threads, so opens are rare. */
    uv_mutex_lock(&ix->rmu);
    if (ix->nidle > 0) {
        st = ix->idle[--ix->nidle];
    } else if (qp_store_open(&st, d->db_path, QP_STORE_READ, err) != QP_OK) {
        if (err->code == QP_ECORRUPT)
            corrupt_locked(ix, ix->epoch, err->msg);
        st = NULL;
    }
    if (st != NULL) {
        ix->lent = grow(ix->lent, &ix->lent_cap, ix->nlent + 1, sizeof *ix->lent);
        ix->lent[ix->nlent++] = (struct lent){st, ix->epoch, ix->gen_base};
    }
    uv_mutex_unlock(&ix->rmu);
    return st;
}

void qpd_readers_release(qpd_daemon *d, qp_store *st)
{
    qpd_index *ix = d->index;
    struct lent *l;
    bool keep;

    if (st == NULL)
        return;
    uv_mutex_lock(&ix->rmu);
    l = lent_find(ix, st);
    keep = l != NULL && l->epoch == ix->epoch;
    if (l != NULL)
        *l = ix->lent[--ix->nlent];
    if (keep) {
        ix->idle = grow(ix->idle, &ix->idle_cap, ix->nidle + 1, sizeof *ix->idle);
        ix->idle[ix->nidle++] = st;
    } else {
        qp_store_close(st); /* opened on an index that was rebuilt since */
    }
    uv_mutex_unlock(&ix->rmu);
}

int64_t qpd_readers_generation(qpd_daemon *d, qp_store *st)
{
    qpd_index *ix = d->index;
    struct lent *l;
    int64_t base;

    uv_mutex_lock(&ix->rmu);
    l = lent_find(ix, st);
    base = l ? l->base : ix->gen_base;
    uv_mutex_unlock(&ix->rmu);
    return qp_store_generation(st) + base;
}

void qpd_readers_corrupt(qpd_daemon *d, qp_store *st, const char *why)
{
    qpd_index *ix = d->index;
    struct lent *l;

    uv_mutex_lock(&ix->rmu);
    l = st ? lent_find(ix, st) : NULL;
    corrupt_locked(ix, l ? l->epoch : ix->epoch, why);
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

/* Writer thread: the generation clients see. */
static int64_t writer_generation(qpd_index *ix)
{
    return ix->wstore ? qp_store_generation(ix->wstore) + ix->gen_base : ix->gen_base;
}

static void remove_index_files(const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[PATH_MAX + 16];

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            qpd_log(QPD_LOG_WARN, "%s: %s", path, strerror(errno));
    }
}

/* Writer thread: the index is damaged. Everything is closed and deleted and
 * a new, empty index opened; readers wait on rmu meanwhile, so none opens
 * the files halfway, and the ones lent out are closed when they return. */
static qp_rc rebuild(qpd_index *ix, qp_error *err)
{
    qpd_daemon *d = ix->d;
    int64_t last = writer_generation(ix);
    qp_rc rc;

    uv_mutex_lock(&ix->rmu);
    ix->epoch++;
    for (size_t i = 0; i < ix->nidle; i++)
        qp_store_close(ix->idle[i]);
    ix->nidle = 0;
    qp_store_close(ix->wstore);
    ix->wstore = NULL;
    remove_index_files(d->db_path);
    rc = qp_store_open(&ix->wstore, d->db_path, QP_STORE_WRITE, err);
    if (rc != QP_OK)
        ix->wstore = NULL;
    ix->gen_base = last + 1 - (ix->wstore ? qp_store_generation(ix->wstore) : 0);
    ix->corrupt = false; /* what readers say from now on is about the new index */
    uv_mutex_unlock(&ix->rmu);
    return rc;
}

static void apply_ctl(qpd_index *ix, batch *b)
{
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = QP_OK;

    if (b->ctl == CTL_REBUILD)
        rc = rebuild(ix, &err);
    else if (ix->wstore == NULL)
        rc = qp_error_set(&err, QP_ECORRUPT, "no index (a rebuild failed)");
    else if (b->ctl == CTL_BULK_BEGIN)
        rc = qp_store_bulk_begin(ix->wstore, &err);
    else if ((rc = qp_store_bulk_end(ix->wstore, &err)) != QP_OK && rc != QP_ECORRUPT)
        rc = qp_store_bulk_end(ix->wstore, &err); /* may be retried, says store.h */
    b->rc = rc;
    b->err = err;
}

static void apply_batch(qpd_index *ix, batch *b)
{
    qp_store *st = ix->wstore;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc;

    b->t_begin = uv_hrtime();
    if (b->ctl != CTL_NONE || st == NULL) {
        if (b->ctl != CTL_NONE)
            apply_ctl(ix, b);
        else
            b->rc = qp_error_set(&b->err, QP_ECORRUPT, "no index (a rebuild failed)");
        for (size_t i = 0; i < b->n; i++) {
            qp_note_free(b->ops[i].note);
            b->ops[i].note = NULL;
        }
        b->generation = writer_generation(ix);
        b->t_end = uv_hrtime();
        return;
    }
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
    b->generation = writer_generation(ix);
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

static void queue_batch(qpd_index *ix, batch *b)
{
    ix->batches++;
    ix->writing += b->n;
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

static void submit_batch(qpd_index *ix)
{
    batch *b = ix->cur;

    ix->cur = NULL;
    if (b == NULL || (b->n == 0 && b->files == 0)) {
        batch_free(b);
        return;
    }
    queue_batch(ix, b);
}

static void submit_ctl(qpd_index *ix, batch_ctl ctl)
{
    batch *b = batch_new();

    b->ctl = ctl;
    queue_batch(ix, b);
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
static void list_dir(qpd_daemon *d, qp_store *rd, const char *rel, bool fresh, parse_job *job)
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
            job->dirs.v[job->dirs.n - 1].fresh = fresh;
        } else if (S_ISREG(sb.st_mode)) {
            qp_file_stat fs;

            /* Fresh: the index's entry for this path is of a file that was
             * elsewhere and is being removed; a match proves nothing. */
            if (!fresh && rd != NULL && qp_store_file_stat(rd, crel, &fs, NULL) == QP_OK &&
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
            list_dir(d, *rd, pe->path, pe->fresh, job);
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
    ix->parsing -= job->n;
    for (size_t i = 0; i < job->gone_dirs.n; i++)
        qpd_watcher_drop_tree(d, job->gone_dirs.v[i]);
    if (!d->stopping && !ix->rebuild_wanted) {
        for (size_t i = 0; i < job->dirs.n; i++) {
            dir_info *di = &job->dirs.v[i];
            bool fresh = di->fresh;

            if (qpd_watcher_replaced(d, di->rel, di->dev, di->ino)) {
                /* Another directory has this name now: the watched one was
                 * moved away (or deleted) and one made in its place before
                 * the change set saying so came, so the path never looked
                 * missing. What the index holds under it is the old one's:
                 * removed first (ops are written in order), then the new
                 * one is listed without trusting the index, and its
                 * subdirectories in turn. */
                qpd_watcher_drop_tree(d, di->rel);
                batch_add(cur_batch(ix), (op){OP_REMOVE_TREE, xstrdup(di->rel), NULL, {0}});
                fresh = true;
            }
            if (qpd_watcher_add(d, di->rel, di->dev, di->ino)) {
                pathvec_push(&ix->todo, di->rel, false);
                ix->todo.v[ix->todo.n - 1].listing = true;
                ix->todo.v[ix->todo.n - 1].fresh = fresh;
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
    ix->parsing += per;
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
    size_t indexed; /* files the index held */
    bool counted;   /* indexed is known (the index could be read) */
    int phase;      /* 1: list directories (to watch them first), 2: walk files */
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

    job->indexed++;
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
        if (job->rc == QP_ECORRUPT)
            qpd_readers_corrupt(d, job->rd, job->err.msg);
        job->counted = job->rc == QP_OK;
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
    if (status == 0 && !d->stopping && !ix->rebuild_wanted) {
        if (job->rc != QP_OK)
            qpd_log(QPD_LOG_ERROR, "scan: %s", job->err.msg);
        qpd_log(QPD_LOG_INFO, "scan: %zu files, %zu changed, %zu removed, %zu directories",
                job->seen, job->changed.n, job->removed.n, job->dirs.n);
        if (job->counted && job->indexed == 0 && job->changed.n >= BULK_MIN) {
            /* An empty index (first start, or rebuilt): load it in bulk,
             * resolving links once at the end instead of per batch. */
            qpd_log(QPD_LOG_INFO, "scan: empty index: bulk load of %zu files", job->changed.n);
            ix->bulk = true;
            submit_ctl(ix, CTL_BULK_BEGIN);
        }
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
        if (!ix->rebuild_wanted) { /* a scan cut short by damage is not done */
            if (!d->ready)
                qpd_log(QPD_LOG_INFO, "ready: %zu files indexed or checked, generation %lld",
                        d->scan_done, (long long)d->generation);
            d->ready = true;
            d->scan_done = d->scan_total = 0;
            qpd_server_on_progress(d);
        }
    }
    if (d->stopping) {
        /* Nothing in flight any more: let the writer finish and exit. */
        tell_writer_to_quit(ix);
        return;
    }
    if (ix->rebuild_wanted)
        arm_flush(ix, ix->rebuild_retry ? REBUILD_RETRY_MS : 0);
    else if (ix->pending.n > 0 || ix->rescan_pending)
        arm_flush(ix, 0);
}

static void cycle_continue(qpd_index *ix)
{
    qpd_daemon *d = ix->d;
    unsigned max_jobs = 2 * (d->threads ? d->threads : 4);
    /* Stopping, or the index is damaged: parse nothing more; what is
     * parsed already is written (stopping) or dropped (damage). */
    bool halt = d->stopping || ix->rebuild_wanted;

    if (!ix->busy)
        return;
    if (!halt) {
        while (ix->todo_next < ix->todo.n && ix->jobs < max_jobs && ix->batches < WRITER_BACKLOG)
            submit_parse_job(ix);
    }
    if ((ix->todo_next < ix->todo.n && !halt) || ix->jobs > 0)
        return;
    /* Everything parsed: write the remainder as the change set's last batch. */
    if (!halt)
        submit_batch(ix);
    else {
        batch_free(ix->cur);
        ix->cur = NULL;
    }
    if (ix->bulk) {
        /* Ends the bulk load, also when stopping: what was committed is
         * then a consistent index the next start's scan completes. A
         * damaged index is thrown away instead. */
        ix->bulk = false;
        if (!ix->rebuild_wanted)
            submit_ctl(ix, CTL_BULK_END);
    }
    if (ix->batches == 0)
        cycle_end(ix);
}

/* The index is damaged (a writer or reader met QP_ECORRUPT): end the cycle
 * in flight, then rebuild and rescan. Queries meanwhile answer from what
 * is readable and status says "scanning". */
static void want_rebuild(qpd_index *ix, const char *why)
{
    qpd_daemon *d = ix->d;

    if (ix->rebuild_wanted || ix->rebuilding || d->stopping)
        return;
    qpd_log(QPD_LOG_ERROR, "index damaged (%s): rebuilding it", why);
    ix->rebuild_wanted = true;
    d->ready = false;
    if (!ix->busy)
        arm_flush(ix, 0);
}

static void start_rebuild(qpd_index *ix)
{
    qpd_daemon *d = ix->d;

    ix->rebuild_wanted = false;
    ix->rebuild_retry = false;
    ix->rebuilding = true;
    ix->busy = true;
    d->ready = false;
    d->scan_done = d->scan_total = 0;
    submit_ctl(ix, CTL_REBUILD);
    qpd_server_on_progress(d);
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
    if (ix->rebuild_wanted) {
        start_rebuild(ix);
        return;
    }
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
        ix->writing -= b->n;
        if (b->ctl == CTL_REBUILD) {
            ix->rebuilding = false;
            if (b->rc == QP_OK) {
                qpd_log(QPD_LOG_INFO, "index rebuilt empty (generation %lld): rescanning",
                        (long long)b->generation);
                qpd_index_rescan(d, "the index was rebuilt");
            } else {
                qpd_log(QPD_LOG_ERROR, "rebuilding the index: %s (trying again)", b->err.msg);
                ix->rebuild_wanted = ix->rebuild_retry = true;
            }
        } else if (b->rc == QP_ECORRUPT) {
            want_rebuild(ix, b->err.msg);
        } else if (b->rc != QP_OK && b->ctl == CTL_BULK_BEGIN) {
            qpd_log(QPD_LOG_WARN, "bulk load: %s; loading batch by batch", b->err.msg);
        } else if (b->rc != QP_OK && b->ctl == CTL_BULK_END && b->rc == QP_EINVAL) {
            qpd_log(QPD_LOG_DEBUG, "bulk load: %s", b->err.msg); /* its begin failed */
        } else if (b->rc != QP_OK && b->ctl == CTL_BULK_END) {
            /* The store is stuck in bulk mode: links would stay unresolved. */
            want_rebuild(ix, b->err.msg);
        } else if (b->rc != QP_OK) {
            qpd_log(QPD_LOG_ERROR, "index write (%zu files): %s", b->n, b->err.msg);
            /* The files are still on disk: a rescan puts them in again. */
            if (!d->stopping)
                qpd_index_rescan(d, "after a failed write");
        }
        if (b->rc == QP_OK || b->ctl == CTL_REBUILD) {
            if (b->ctl == CTL_BULK_END)
                qpd_log(QPD_LOG_INFO, "bulk load: indexes built and links resolved in %.0f ms",
                        (double)(b->t_end - b->t_begin) / 1e6);
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
    uv_mutex_lock(&ix->rmu);
    if (ix->corrupt && !ix->rebuilding && !ix->rebuild_wanted) {
        char why[sizeof ix->corrupt_why];

        memcpy(why, ix->corrupt_why, sizeof why);
        uv_mutex_unlock(&ix->rmu);
        want_rebuild(ix, why);
    } else {
        uv_mutex_unlock(&ix->rmu);
    }
    if (committed && !d->stopping)
        qpd_server_on_commit(d);
    if (ix->scanning && !d->stopping)
        qpd_server_on_progress(d);
    cycle_continue(ix);

    if (exited && ix->thread_started) {
        uv_thread_join(&ix->thread);
        ix->thread_started = false;
        uv_mutex_lock(&ix->rmu);
        ix->async_closed = true; /* readers still running must not send */
        uv_mutex_unlock(&ix->rmu);
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

size_t qpd_index_pending(qpd_daemon *d)
{
    qpd_index *ix = d->index;
    size_t n;

    if (ix == NULL)
        return 0;
    n = ix->pending.n + (ix->todo.n - ix->todo_next) + ix->parsing + ix->writing;
    /* A scan still walking, a rebuild, a control batch: work whose size is
     * not known yet is still work. */
    if (n == 0 && (ix->busy || ix->rescan_pending || ix->rebuild_wanted))
        n = 1;
    return n;
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
    free(ix->lent);
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
