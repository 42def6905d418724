/*
 * writer — the writer thread and its queue; see writer.h.
 *
 * Invariants:
 * - The writer thread is the only user of `wstore`; it closes it on exit.
 * - q (loop → writer) and done (writer → loop) are touched under mu only.
 * - The async is sent after every batch and once more when the thread has
 *   closed the index; the loop joins the thread on that last one.
 * - Checkpoints run on a thread of their own (ckpt_main), each on its own
 *   connection, so a save never waits behind one: SQLite lets the writer
 *   append to the WAL while it is copied back. The writer tells it the
 *   WAL's size after each batch, and holds it off (ckpt_hold) while the
 *   index files are replaced and before the writer's close, which must be
 *   the last connection.
 */

#include "writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

struct qpd_writer {
    uv_async_t async; /* first */
    qpd_writer_hooks hooks;
    const char *db_path;
    qpd_readers *readers;
    qp_store *wstore; /* writer thread only */
    uv_thread_t thread;
    bool thread_started; /* loop thread: not joined yet */

    uv_mutex_t mu;
    uv_cond_t cond;
    qpd_batch *q_head, *q_tail;
    qpd_batch *done_head, *done_tail;
    bool quit;   /* the loop asks the writer to exit once q is empty */
    bool exited; /* the writer closed its store and is about to return */

    /* The checkpointer: all under ckpt_mu. */
    uv_thread_t ckpt_thread;
    bool ckpt_started;
    uv_mutex_t ckpt_mu;
    uv_cond_t ckpt_cond;  /* a commit, a hold or quit; a checkpoint's end */
    int wal_frames;       /* the WAL's size after the writer's last commit */
    int wal_seen;         /* wal_frames when the last checkpoint began */
    uint64_t last_commit; /* uv_hrtime() of that commit */
    bool bulk;            /* a bulk load runs: its own connection checkpoints */
    int ckpt_hold;        /* > 0: no checkpoint may start */
    bool ckpt_busy;       /* one runs */
    bool ckpt_quit;
};

/* ---- batches ------------------------------------------------------------ */

qpd_batch *qpd_batch_new(qpd_batch_ctl ctl)
{
    qpd_batch *b = qpd_xcalloc(1, sizeof *b);

    b->ctl = ctl;
    return b;
}

void qpd_batch_add(qpd_batch *b, qpd_op o)
{
    b->ops = qpd_grow(b->ops, &b->cap, b->n + 1, sizeof *b->ops);
    b->ops[b->n++] = o;
    if (o.note != NULL)
        b->bytes += qp_note_bytes(o.note);
}

void qpd_batch_free(qpd_batch *b)
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

/* ---- the writer thread -------------------------------------------------- */

typedef struct prefix_ctx {
    const char *p;
    size_t n;
    qpd_strvec *out;
} prefix_ctx;

/* qp_store_each_file callback: collects the paths under ctx->p + "/". */
static int collect_under(const char *path, void *payload)
{
    prefix_ctx *ctx = payload;

    if (strncmp(path, ctx->p, ctx->n) == 0 && path[ctx->n] == '/')
        qpd_strvec_push(ctx->out, qpd_xstrdup(path));
    return 0;
}

/* The generation clients see. */
static int64_t writer_generation(qpd_writer *w)
{
    int64_t base = qpd_readers_base(w->readers);

    return w->wstore ? qp_store_generation(w->wstore) + base : base;
}

static void remove_index_files(const char *db)
{
    qp_error err = QP_ERROR_INIT;

    if (qp_store_remove_files(db, &err) != QP_OK)
        qpd_log(QPD_LOG_WARN, "%s", err.msg);
}

typedef struct swap_ctx {
    qpd_writer *w;
    int64_t last; /* the generation clients saw last */
    qp_rc rc;
    qp_error *err;
} swap_ctx;

/* Under the reader pool's lock: the old index is closed and deleted and a
 * new, empty one opened. Returns the base that keeps generations growing. */
static int64_t swap_index(void *payload)
{
    swap_ctx *ctx = payload;
    qpd_writer *w = ctx->w;

    qp_store_close(w->wstore);
    w->wstore = NULL;
    remove_index_files(w->db_path);
    ctx->rc = qp_store_open(&w->wstore, w->db_path, QP_STORE_WRITE, ctx->err);
    if (ctx->rc == QP_OK)
        ctx->rc = qp_store_defer_checkpoints(w->wstore, ctx->err);
    if (ctx->rc != QP_OK) {
        qp_store_close(w->wstore);
        w->wstore = NULL;
    }
    return ctx->last + 1 - (w->wstore ? qp_store_generation(w->wstore) : 0);
}

/* ---- the checkpointer ---------------------------------------------------- */

/* A checkpoint starts after CKPT_IDLE_NS without a commit, or at once when
 * the WAL passes CKPT_MAX_FRAMES (a stream of writes that never pauses
 * still has its WAL bounded). */
#define CKPT_IDLE_NS    (250 * 1000 * 1000ull)
#define CKPT_MAX_FRAMES 8192 /* 32 MiB of 4 KiB pages */

/* Holds checkpoints off (waiting for a running one to end), or lets them
 * go again. Writer thread. */
static void ckpt_hold(qpd_writer *w, bool on)
{
    uv_mutex_lock(&w->ckpt_mu);
    if (on) {
        w->ckpt_hold++;
        while (w->ckpt_busy)
            uv_cond_wait(&w->ckpt_cond, &w->ckpt_mu);
    } else {
        w->ckpt_hold--;
        w->wal_frames = w->wal_seen = 0; /* the files may be new ones */
        uv_cond_broadcast(&w->ckpt_cond);
    }
    uv_mutex_unlock(&w->ckpt_mu);
}

static void ckpt_set_bulk(qpd_writer *w, bool bulk)
{
    uv_mutex_lock(&w->ckpt_mu);
    w->bulk = bulk;
    uv_mutex_unlock(&w->ckpt_mu);
}

/* After a batch: the WAL's size for the checkpointer. Writer thread. */
static void ckpt_note_commit(qpd_writer *w)
{
    if (w->wstore == NULL)
        return;
    uv_mutex_lock(&w->ckpt_mu);
    w->wal_frames = qp_store_wal_frames(w->wstore);
    w->last_commit = uv_hrtime();
    uv_cond_broadcast(&w->ckpt_cond);
    uv_mutex_unlock(&w->ckpt_mu);
}

static void checkpoint(qpd_writer *w, int frames)
{
    qp_error err = QP_ERROR_INIT;
    uint64_t t0 = uv_hrtime();
    int left = 0;

    if (qp_store_checkpoint_path(w->db_path, true, &left, &err) != QP_OK)
        qpd_log(QPD_LOG_WARN, "checkpoint: %s", err.msg);
    else
        qpd_log(QPD_LOG_DEBUG, "checkpoint: %d frames in %.1f ms (%d left to readers)", frames,
                (double)(uv_hrtime() - t0) / 1e6, left);
}

/* The checkpointer thread. A WAL whose size has not changed since the last
 * checkpoint began has nothing new to copy (what is left is what readers
 * still hold), so it waits for the next commit instead of spinning. */
static void ckpt_main(void *arg)
{
    qpd_writer *w = arg;

    uv_mutex_lock(&w->ckpt_mu);
    while (!w->ckpt_quit) {
        uint64_t now = uv_hrtime(), due = w->last_commit + CKPT_IDLE_NS;
        int frames = w->wal_frames;

        /* A bulk load's own connection checkpoints (qp_store_bulk_begin). */
        if (w->ckpt_hold > 0 || w->bulk || frames == 0 || frames == w->wal_seen) {
            uv_cond_wait(&w->ckpt_cond, &w->ckpt_mu);
            continue;
        }
        if (frames < CKPT_MAX_FRAMES && now < due) {
            uv_cond_timedwait(&w->ckpt_cond, &w->ckpt_mu, due - now);
            continue;
        }
        w->wal_seen = frames;
        w->ckpt_busy = true;
        uv_mutex_unlock(&w->ckpt_mu);
        checkpoint(w, frames);
        uv_mutex_lock(&w->ckpt_mu);
        w->ckpt_busy = false;
        uv_cond_broadcast(&w->ckpt_cond);
    }
    uv_mutex_unlock(&w->ckpt_mu);
}

/* Ends the checkpointer thread (after a running checkpoint). Writer thread
 * before its close, or qpd_writer_free when the writer never ran. */
static void ckpt_stop(qpd_writer *w)
{
    if (!w->ckpt_started)
        return;
    uv_mutex_lock(&w->ckpt_mu);
    w->ckpt_quit = true;
    uv_cond_broadcast(&w->ckpt_cond);
    uv_mutex_unlock(&w->ckpt_mu);
    uv_thread_join(&w->ckpt_thread);
    w->ckpt_started = false;
}

static void apply_ctl(qpd_writer *w, qpd_batch *b)
{
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = QP_OK;

    if (b->ctl == QPD_CTL_REBUILD) {
        /* Read before the pool's lock is taken: it takes the lock too. */
        swap_ctx ctx = {w, writer_generation(w), QP_OK, &err};

        ckpt_hold(w, true); /* its connection would keep the old files */
        qpd_readers_rebuild(w->readers, swap_index, &ctx);
        ckpt_hold(w, false);
        rc = ctx.rc;
    } else if (w->wstore == NULL) {
        rc = qp_error_set(&err, QP_ECORRUPT, "no index (a rebuild failed)");
    } else if (b->ctl == QPD_CTL_BULK_BEGIN) {
        rc = qp_store_bulk_begin(w->wstore, &err);
        ckpt_set_bulk(w, rc == QP_OK);
    } else {
        if ((rc = qp_store_bulk_end(w->wstore, &err)) != QP_OK && rc != QP_ECORRUPT)
            rc = qp_store_bulk_end(w->wstore, &err); /* may be retried, says store.h */
        ckpt_set_bulk(w, rc != QP_OK);
    }
    b->rc = rc;
    b->err = err;
}

/* A removal of a path that was never indexed (a temp file) is no failure. */
static qp_rc remove_path(qp_store *st, const char *path, qp_error *err)
{
    qp_rc rc = qp_store_remove(st, path, err);

    return rc == QP_ENOTFOUND ? QP_OK : rc;
}

static qp_rc apply_op(qp_store *st, qpd_op *o, qp_error *err)
{
    qpd_strvec under = {0};
    prefix_ctx ctx;
    qp_rc rc;

    switch (o->kind) {
    case QPD_OP_PUT_NOTE:
    case QPD_OP_PUT_FILE: {
        /* What qp_ingest_path() decided on the parse worker. */
        qp_ingest_op in = {o->kind == QPD_OP_PUT_NOTE ? QP_INGEST_NOTE : QP_INGEST_FILE, o->problem,
                           o->st, o->note};

        return qp_store_apply(st, o->path, &in, err);
    }
    case QPD_OP_REMOVE:
        return remove_path(st, o->path, err);
    case QPD_OP_REMOVE_TREE:
        break;
    }
    /* Files under the directory: collected first, because removing rows
     * while the store iterates them is not allowed. */
    ctx = (prefix_ctx){o->path, strlen(o->path), &under};
    rc = remove_path(st, o->path, err);
    if (rc == QP_OK)
        rc = qp_store_each_file(st, collect_under, &ctx, err);
    for (size_t k = 0; rc == QP_OK && k < under.n; k++)
        rc = remove_path(st, under.v[k], err);
    qpd_strvec_free(&under);
    return rc;
}

static void apply_batch(qpd_writer *w, qpd_batch *b)
{
    qp_store *st = w->wstore;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc;

    b->t_begin = uv_hrtime();
    if (b->ctl != QPD_CTL_NONE)
        apply_ctl(w, b);
    else if (st == NULL)
        b->rc = qp_error_set(&b->err, QP_ECORRUPT, "no index (a rebuild failed)");
    if (b->ctl != QPD_CTL_NONE || st == NULL) {
        for (size_t i = 0; i < b->n; i++) {
            qp_note_free(b->ops[i].note);
            b->ops[i].note = NULL;
        }
        b->generation = writer_generation(w);
        b->t_end = uv_hrtime();
        return;
    }
    rc = qp_store_begin(st, &err);
    for (size_t i = 0; rc == QP_OK && i < b->n; i++) {
        rc = apply_op(st, &b->ops[i], &err);
        /* The note is in the index now (or the batch failed): either way
         * nobody needs it any more, and freeing here keeps the loop light. */
        qp_note_free(b->ops[i].note);
        b->ops[i].note = NULL;
    }
    if (rc == QP_OK)
        rc = qp_store_commit(st, &err);
    else
        qp_store_rollback(st);
    b->rc = rc;
    b->err = err;
    b->generation = writer_generation(w);
    b->t_end = uv_hrtime();
}

static void writer_main(void *arg)
{
    qpd_writer *w = arg;

    for (;;) {
        qpd_batch *b;

        uv_mutex_lock(&w->mu);
        while (w->q_head == NULL && !w->quit)
            uv_cond_wait(&w->cond, &w->mu);
        b = w->q_head;
        if (b != NULL) {
            w->q_head = b->next;
            if (w->q_head == NULL)
                w->q_tail = NULL;
            b->next = NULL;
        }
        uv_mutex_unlock(&w->mu);
        if (b == NULL)
            break; /* quit and nothing left */

        apply_batch(w, b);
        ckpt_note_commit(w);

        uv_mutex_lock(&w->mu);
        if (w->done_tail)
            w->done_tail->next = b;
        else
            w->done_head = b;
        w->done_tail = b;
        uv_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
    }
    ckpt_stop(w); /* the close below must be the last connection */
    qp_store_close(w->wstore);
    w->wstore = NULL;
    uv_mutex_lock(&w->mu);
    w->exited = true;
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/* ---- on the loop -------------------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
    qpd_writer *w = (qpd_writer *)h;

    if (w->hooks.closed)
        w->hooks.closed(w->hooks.payload);
}

static void async_cb(uv_async_t *a)
{
    qpd_writer *w = (qpd_writer *)a;
    qpd_batch *done;
    bool exited;

    /* Sends coalesce: take everything that finished. */
    uv_mutex_lock(&w->mu);
    done = w->done_head;
    w->done_head = w->done_tail = NULL;
    exited = w->exited;
    uv_mutex_unlock(&w->mu);
    if (done != NULL)
        w->hooks.done(done, w->hooks.payload);
    if (exited && w->thread_started) {
        uv_thread_join(&w->thread);
        w->thread_started = false;
        uv_close((uv_handle_t *)&w->async, close_cb);
    }
}

qp_rc qpd_writer_start(qpd_writer **out, uv_loop_t *loop, qp_store *wstore, const char *db_path,
                       qpd_readers *readers, const qpd_writer_hooks *hooks, qp_error *err)
{
    qpd_writer *w = calloc(1, sizeof *w);

    *out = NULL;
    if (w == NULL) {
        qp_store_close(wstore);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    qp_rc rc = wstore != NULL ? qp_store_defer_checkpoints(wstore, err) : QP_OK;
    if (rc != QP_OK) {
        qp_store_close(wstore);
        free(w);
        return rc;
    }
    w->hooks = *hooks;
    w->db_path = db_path;
    w->readers = readers;
    w->wstore = wstore;
    uv_mutex_init(&w->mu);
    uv_cond_init(&w->cond);
    uv_mutex_init(&w->ckpt_mu);
    uv_cond_init(&w->ckpt_cond);
    uv_async_init(loop, &w->async, async_cb);
    w->ckpt_started = uv_thread_create(&w->ckpt_thread, ckpt_main, w) == 0;
    if (!w->ckpt_started || uv_thread_create(&w->thread, writer_main, w) != 0) {
        ckpt_stop(w);
        w->wstore = NULL;
        qp_store_close(wstore);
        *out = w; /* the loop's walk closes the async; qpd_writer_free frees w */
        return qp_error_set(err, QP_ENOMEM, "cannot start the writer threads");
    }
    w->thread_started = true;
    *out = w;
    return QP_OK;
}

void qpd_writer_queue(qpd_writer *w, qpd_batch *b)
{
    b->t_queued = uv_hrtime();
    b->next = NULL;
    uv_mutex_lock(&w->mu);
    if (w->q_tail)
        w->q_tail->next = b;
    else
        w->q_head = b;
    w->q_tail = b;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

void qpd_writer_quit(qpd_writer *w)
{
    if (w == NULL)
        return; /* it never started */
    qpd_readers_close_idle(w->readers);
    uv_mutex_lock(&w->mu);
    w->quit = true;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

static void free_list(qpd_batch *b)
{
    while (b != NULL) {
        qpd_batch *next = b->next;

        qpd_batch_free(b);
        b = next;
    }
}

void qpd_writer_free(qpd_writer *w)
{
    if (w == NULL)
        return;
    if (w->thread_started) { /* the loop never ran the writer's last async */
        uv_mutex_lock(&w->mu);
        w->quit = true;
        uv_cond_signal(&w->cond);
        uv_mutex_unlock(&w->mu);
        uv_thread_join(&w->thread);
    }
    ckpt_stop(w); /* started, but the writer thread was not */
    free_list(w->q_head);
    free_list(w->done_head);
    uv_mutex_destroy(&w->mu);
    uv_cond_destroy(&w->cond);
    uv_mutex_destroy(&w->ckpt_mu);
    uv_cond_destroy(&w->ckpt_cond);
    free(w);
}
