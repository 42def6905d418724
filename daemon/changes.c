/*
 * changes — change sets and the cycle scheduler; see changes.h.
 *
 * State is two cycle kinds: `running`, the cycle in flight, and `wanted`,
 * the most important full cycle owed (a rebuild outranks a scan, which sees
 * every pending path too). Paths that change meanwhile wait in `pending`.
 *
 * Invariants:
 * - At most one cycle is in flight, so two versions of one file are never
 *   parsed concurrently and written out of order.
 * - A parsed note belongs to exactly one op; ops belong to one batch; a batch
 *   belongs to the loop until it is queued for the writer, then to the
 *   writer, then to the loop again (writer_done), which frees it.
 * - A cycle ends (cycle_end) only when nothing of it is on the pool or with
 *   the writer: jobs == 0 and batches == 0.
 */

#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "parse.h"
#include "readers.h"
#include "scan.h"
#include "writer.h"

#define BATCH_MAX        1000 /* files per write transaction */
#define CHUNK_MAX        64   /* paths per parse job */
#define QUIET_MS         1    /* a change set is flushed once no event came for this long, */
#define COALESCE_MS      5    /* or this long after its first event, whichever is first */
#define DEGRADED_MS      2000 /* rescan period while some directory is unwatched */
#define WRITER_BACKLOG   3    /* batches queued for the writer before parsing pauses */
#define BULK_MIN         1000 /* a scan into an empty index of at least this many files bulk-loads */
#define REBUILD_RETRY_MS 1000 /* a rebuild that failed (the disk?) is tried again after this */

/* BATCH_MAX and WRITER_BACKLOG again, in the memory parsed notes hold
 * until written (qp_note_bytes: the source, its mention text, the parse,
 * the search doc; 5-15 times the source). Counted in notes alone, ~4,000
 * person notes of 15 KB waiting made the 100k cold index peak at 334 MB;
 * meetings (~13 KB held each) reach the counts first. */
#define BATCH_BYTES   (16u << 20)
#define BACKLOG_BYTES (32u << 20)

/* Ordered: a wanted kind is only ever raised (want()). */
typedef enum cycle_kind {
    CYCLE_NONE,      /* running: idle; wanted: only the pending paths are owed */
    CYCLE_CHANGES,   /* the pending paths, sorted and deduplicated */
    CYCLE_SCAN,      /* a full scan */
    CYCLE_BULK_SCAN, /* a full scan into an empty index: QPD_CTL_BULK_END is owed */
    CYCLE_REBUILD,   /* the writer deletes the index and opens a new one */
} cycle_kind;

typedef struct pathvec {
    qpd_pathent *v;
    size_t n, cap;
} pathvec;

struct qpd_changes {
    qpd_daemon *d;
    qpd_changes_hooks hooks;
    qpd_writer *writer;

    /* what is owed */
    pathvec pending;
    uint64_t set_first; /* loop time of the pending set's first event */
    cycle_kind wanted;  /* CYCLE_NONE, CYCLE_SCAN or CYCLE_REBUILD */
    char rescan_why[96];
    unsigned rebuild_delay_ms; /* a rebuild that failed waits before it is tried again */
    uv_timer_t coalesce;
    uv_timer_t periodic;

    /* the cycle in flight */
    cycle_kind running;
    pathvec todo;
    size_t todo_next;
    size_t parsing;   /* paths in parse jobs on the pool */
    size_t writing;   /* ops in batches queued for or in the writer */
    size_t wbytes;    /* their bytes (qpd_batch.bytes) */
    unsigned jobs;    /* parse or scan jobs on the pool */
    unsigned batches; /* batches queued for or in the writer */
    qpd_batch *cur;   /* ops collected for the next batch */

    void (*stop_done)(qpd_daemon *d);
    int handles_open;
};

static void cycle_continue(qpd_changes *ch);

/* ---- small helpers ------------------------------------------------------ */

static void pathvec_push(pathvec *pv, qpd_pathent pe)
{
    pv->v = qpd_grow(pv->v, &pv->cap, pv->n + 1, sizeof *pv->v);
    pv->v[pv->n++] = pe;
}

static void pathvec_clear(pathvec *pv)
{
    for (size_t i = 0; i < pv->n; i++)
        free(pv->v[i].path);
    pv->n = 0;
}

static int cmp_pathent(const void *a, const void *b)
{
    return strcmp(((const qpd_pathent *)a)->path, ((const qpd_pathent *)b)->path);
}

static bool scanning(const qpd_changes *ch)
{
    return ch->running == CYCLE_SCAN || ch->running == CYCLE_BULK_SCAN;
}

static void want(qpd_changes *ch, cycle_kind k)
{
    if (k > ch->wanted)
        ch->wanted = k;
}

/* ---- batches for the writer --------------------------------------------- */

static void queue_batch(qpd_changes *ch, qpd_batch *b)
{
    ch->batches++;
    ch->writing += b->n;
    ch->wbytes += b->bytes;
    qpd_writer_queue(ch->writer, b);
}

static void submit_batch(qpd_changes *ch)
{
    qpd_batch *b = ch->cur;

    ch->cur = NULL;
    if (b == NULL || (b->n == 0 && b->files == 0)) {
        qpd_batch_free(b);
        return;
    }
    queue_batch(ch, b);
}

static void submit_ctl(qpd_changes *ch, qpd_batch_ctl ctl)
{
    queue_batch(ch, qpd_batch_new(ctl));
}

static qpd_batch *cur_batch(qpd_changes *ch)
{
    if (ch->cur == NULL)
        ch->cur = qpd_batch_new(QPD_CTL_NONE);
    return ch->cur;
}

/* ---- parse jobs --------------------------------------------------------- */

/* Directories a parse job found: each is watched, and once watched, listed
 * by a later job (watch first, list after). */
static void take_dirs(qpd_changes *ch, qpd_parse_job *job)
{
    qpd_daemon *d = ch->d;

    for (size_t i = 0; i < job->dirs.n; i++) {
        qpd_dir *di = &job->dirs.v[i];
        bool fresh = di->fresh;

        if (ch->hooks.replaced(d, di->rel, di->dev, di->ino)) {
            /* Another directory has this name now: the watched one was moved
             * away (or deleted) and one made in its place before the change
             * set saying so came, so the path never looked missing. What the
             * index holds under it is the old one's: removed first (ops are
             * written in order), then the new one is listed without trusting
             * the index, and its subdirectories in turn. */
            ch->hooks.unwatch_tree(d, di->rel);
            qpd_batch_add(cur_batch(ch),
                          (qpd_op){.kind = QPD_OP_REMOVE_TREE, .path = qpd_xstrdup(di->rel)});
            fresh = true;
        }
        if (ch->hooks.watch(d, di->rel, di->dev, di->ino)) {
            pathvec_push(&ch->todo, (qpd_pathent){di->rel, false, true, fresh});
            di->rel = NULL;
        }
    }
}

static void parse_done(qpd_parse_job *job, int status)
{
    qpd_changes *ch = job->payload;
    qpd_daemon *d = ch->d;
    qpd_batch *out = job->out;
    (void)status; /* a cancelled job produced nothing; the rest is the same */

    ch->jobs--;
    ch->parsing -= job->n;
    for (size_t i = 0; i < job->gone_dirs.n; i++)
        ch->hooks.unwatch_tree(d, job->gone_dirs.v[i]);
    if (!d->stopping && ch->wanted != CYCLE_REBUILD) {
        take_dirs(ch, job);
        for (size_t i = 0; i < job->more.n; i++) {
            pathvec_push(&ch->todo, (qpd_pathent){job->more.v[i], false, false, false});
            job->more.v[i] = NULL;
        }
        if (scanning(ch))
            d->scan_total += job->more.n;
        for (size_t i = 0; i < out->n; i++) {
            qpd_batch_add(cur_batch(ch), out->ops[i]);
            out->ops[i] = (qpd_op){0};
        }
        out->n = 0;
        if (scanning(ch))
            cur_batch(ch)->files += job->n;
        if (ch->cur && (ch->cur->n >= BATCH_MAX || ch->cur->bytes >= BATCH_BYTES))
            submit_batch(ch);
    }
    qpd_parse_job_free(job);
    cycle_continue(ch);
}

static void submit_parse_job(qpd_changes *ch)
{
    size_t left = ch->todo.n - ch->todo_next;
    size_t per = left / (2 * ch->d->threads) + 1;

    if (per > CHUNK_MAX)
        per = CHUNK_MAX;
    ch->jobs++;
    ch->parsing += per;
    qpd_parse_submit(ch->d, ch->todo.v + ch->todo_next, per, parse_done, ch);
    ch->todo_next += per;
}

/* ---- full scans --------------------------------------------------------- */

/* Watches every directory the scan listed and drops watches of directories
 * that are gone. Done before the files are walked, so a file created during
 * the walk is either seen by it or reported by a watch. */
static void scan_watch_dirs(qpd_changes *ch, qpd_scan_job *job)
{
    qpd_daemon *d = ch->d;
    char **names;

    qpd_dirvec_sort(&job->dirs);
    for (size_t i = 0; i < job->dirs.n; i++)
        ch->hooks.watch(d, job->dirs.v[i].rel, job->dirs.v[i].dev, job->dirs.v[i].ino);
    names = qpd_xmalloc((job->dirs.n + 1) * sizeof *names);
    for (size_t i = 0; i < job->dirs.n; i++)
        names[i] = job->dirs.v[i].rel;
    ch->hooks.keep_only(d, names, job->dirs.n);
    free(names);
}

/* The walk's findings become the cycle's work: removals into the batch,
 * changed files into todo. */
static void scan_results(qpd_changes *ch, qpd_scan_job *job)
{
    qpd_daemon *d = ch->d;

    if (job->rc != QP_OK)
        qpd_log(QPD_LOG_ERROR, "scan: %s", job->err.msg);
    qpd_log(QPD_LOG_INFO, "scan: %zu files, %zu changed, %zu removed, %zu directories", job->seen,
            job->changed.n, job->removed.n, job->dirs.n);
    if (job->counted && job->indexed == 0 && job->changed.n >= BULK_MIN) {
        /* An empty index (first start, or rebuilt): load it in bulk,
         * resolving links once at the end instead of per batch. */
        qpd_log(QPD_LOG_INFO, "scan: empty index: bulk load of %zu files", job->changed.n);
        ch->running = CYCLE_BULK_SCAN;
        submit_ctl(ch, QPD_CTL_BULK_BEGIN);
    }
    for (size_t i = 0; i < job->removed.n; i++) {
        qpd_batch_add(cur_batch(ch), (qpd_op){.kind = QPD_OP_REMOVE, .path = job->removed.v[i]});
        job->removed.v[i] = NULL;
    }
    cur_batch(ch)->files += job->removed.n;
    for (size_t i = 0; i < job->changed.n; i++) {
        pathvec_push(&ch->todo, (qpd_pathent){job->changed.v[i], false, false, false});
        job->changed.v[i] = NULL;
    }
    d->scan_total = job->changed.n + job->removed.n;
    d->scan_done = 0;
    ch->hooks.state_changed(d);
}

static void scan_done(qpd_scan_job *job, int status)
{
    qpd_changes *ch = job->payload;
    qpd_daemon *d = ch->d;

    if (status == 0 && !d->stopping && job->phase == 1) {
        scan_watch_dirs(ch, job);
        job->phase = 2;
        qpd_scan_submit(job);
        return;
    }
    ch->jobs--;
    if (status == 0 && !d->stopping && ch->wanted != CYCLE_REBUILD)
        scan_results(ch, job);
    qpd_scan_free(job);
    cycle_continue(ch);
}

/* ---- cycles ------------------------------------------------------------- */

static void flush_cb(uv_timer_t *t);

static void arm_flush(qpd_changes *ch, uint64_t ms)
{
    if (ch->d->stopping || ch->running != CYCLE_NONE)
        return; /* cycle_end() flushes when the cycle ends */
    if (!uv_is_active((uv_handle_t *)&ch->coalesce))
        uv_timer_start(&ch->coalesce, flush_cb, ms, 0);
}

static void cycle_end(qpd_changes *ch)
{
    qpd_daemon *d = ch->d;
    bool was_scan = scanning(ch);

    ch->running = CYCLE_NONE;
    /* Entries before todo_next went to parse jobs, which freed them. */
    for (size_t i = ch->todo_next; i < ch->todo.n; i++)
        free(ch->todo.v[i].path);
    ch->todo.n = 0;
    ch->todo_next = 0;
    if (was_scan && ch->wanted != CYCLE_REBUILD) { /* a scan cut short by damage is not done */
        if (!d->ready)
            qpd_log(QPD_LOG_INFO, "ready: %zu files indexed or checked, generation %lld",
                    d->scan_done, (long long)d->generation);
        d->ready = true;
        d->scan_done = d->scan_total = 0;
        ch->hooks.state_changed(d);
    }
    if (d->stopping) {
        /* Nothing in flight any more: let the writer finish and exit. */
        qpd_writer_quit(ch->writer);
        return;
    }
    if (ch->wanted == CYCLE_REBUILD)
        arm_flush(ch, ch->rebuild_delay_ms);
    else if (ch->pending.n > 0 || ch->wanted == CYCLE_SCAN)
        arm_flush(ch, 0);
}

static void cycle_continue(qpd_changes *ch)
{
    qpd_daemon *d = ch->d;
    unsigned max_jobs = 2 * d->threads;
    /* Stopping, or the index is damaged: parse nothing more; what is
     * parsed already is written (stopping) or dropped (damage). */
    bool halt = d->stopping || ch->wanted == CYCLE_REBUILD;

    if (ch->running == CYCLE_NONE)
        return;
    if (!halt) {
        /* A paused parse resumes from writer_done: while wbytes is over
         * its bound, some batch is with the writer. */
        while (ch->todo_next < ch->todo.n && ch->jobs < max_jobs && ch->batches < WRITER_BACKLOG &&
               ch->wbytes < BACKLOG_BYTES)
            submit_parse_job(ch);
    }
    if ((ch->todo_next < ch->todo.n && !halt) || ch->jobs > 0)
        return;
    /* Everything parsed: write the remainder as the cycle's last batch. */
    if (!halt) {
        submit_batch(ch);
    } else {
        qpd_batch_free(ch->cur);
        ch->cur = NULL;
    }
    if (ch->running == CYCLE_BULK_SCAN) {
        /* Ends the bulk load, also when stopping: what was committed is
         * then a consistent index the next start's scan completes. A
         * damaged index is thrown away instead. */
        ch->running = CYCLE_SCAN;
        if (ch->wanted != CYCLE_REBUILD)
            submit_ctl(ch, QPD_CTL_BULK_END);
    }
    if (ch->batches == 0)
        cycle_end(ch);
}

static void start_rebuild(qpd_changes *ch)
{
    qpd_daemon *d = ch->d;

    ch->wanted = CYCLE_NONE; /* the rebuild asks for the scan that follows it */
    ch->rebuild_delay_ms = 0;
    ch->running = CYCLE_REBUILD;
    d->ready = false;
    d->scan_done = d->scan_total = 0;
    submit_ctl(ch, QPD_CTL_REBUILD);
    ch->hooks.state_changed(d);
}

static void start_scan(qpd_changes *ch)
{
    qpd_daemon *d = ch->d;

    ch->wanted = CYCLE_NONE;
    pathvec_clear(&ch->pending); /* the scan sees every pending path too */
    ch->running = CYCLE_SCAN;
    d->scan_done = d->scan_total = 0;
    ch->jobs++;
    qpd_log(QPD_LOG_INFO, "scan: %s", ch->rescan_why);
    qpd_scan_submit(qpd_scan_new(d, scan_done, ch));
}

/* Swaps pending into todo, sorted and without duplicates, and starts it. */
static void start_changes(qpd_changes *ch)
{
    pathvec tmp = ch->todo;
    size_t k = 0;

    ch->todo = ch->pending;
    ch->pending = tmp;
    ch->pending.n = 0;
    qsort(ch->todo.v, ch->todo.n, sizeof *ch->todo.v, cmp_pathent);
    for (size_t i = 0; i < ch->todo.n; i++) {
        if (k > 0 && strcmp(ch->todo.v[k - 1].path, ch->todo.v[i].path) == 0) {
            ch->todo.v[k - 1].tree |= ch->todo.v[i].tree;
            free(ch->todo.v[i].path);
            continue;
        }
        ch->todo.v[k++] = ch->todo.v[i];
    }
    ch->todo.n = k;
    for (size_t i = 0; i < ch->todo.n; i++)
        ch->todo.v[i].tree = ch->todo.v[i].tree || ch->hooks.watched(ch->d, ch->todo.v[i].path);
    qpd_log(QPD_LOG_DEBUG, "change set: %zu paths, first %s", ch->todo.n, ch->todo.v[0].path);
    ch->running = CYCLE_CHANGES;
    ch->todo_next = 0;
    cycle_continue(ch);
}

/* The coalescing timer: starts the most important cycle owed. */
static void flush_cb(uv_timer_t *t)
{
    qpd_changes *ch = t->data;

    if (ch->running != CYCLE_NONE || ch->d->stopping)
        return;
    if (ch->wanted == CYCLE_REBUILD)
        start_rebuild(ch);
    else if (ch->wanted == CYCLE_SCAN)
        start_scan(ch);
    else if (ch->pending.n > 0)
        start_changes(ch);
}

/* ---- the writer's results on the loop ----------------------------------- */

static void handle_closed(qpd_changes *ch)
{
    if (--ch->handles_open == 0 && ch->stop_done)
        ch->stop_done(ch->d);
}

static void timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void writer_closed(void *payload)
{
    handle_closed(payload);
}

static void log_commit(const qpd_batch *b)
{
    if (b->ctl == QPD_CTL_BULK_END)
        qpd_log(QPD_LOG_INFO, "bulk load: indexes built and links resolved in %.0f ms",
                (double)(b->t_end - b->t_begin) / 1e6);
    qpd_log(QPD_LOG_DEBUG,
            "committed %zu changes, generation %lld (queued %.2f ms, written in %.2f ms, "
            "reported after %.2f ms)",
            b->n, (long long)b->generation, (double)(b->t_begin - b->t_queued) / 1e6,
            (double)(b->t_end - b->t_begin) / 1e6, (double)(uv_hrtime() - b->t_end) / 1e6);
}

/* What a failed batch means, by what it was. */
static void batch_failed(qpd_changes *ch, const qpd_batch *b)
{
    qpd_daemon *d = ch->d;

    if (b->rc == QP_ECORRUPT) {
        qpd_changes_damaged(d, b->err.msg);
    } else if (b->ctl == QPD_CTL_BULK_BEGIN) {
        qpd_log(QPD_LOG_WARN, "bulk load: %s; loading batch by batch", b->err.msg);
    } else if (b->ctl == QPD_CTL_BULK_END && b->rc == QP_EINVAL) {
        qpd_log(QPD_LOG_DEBUG, "bulk load: %s", b->err.msg); /* its begin failed */
    } else if (b->ctl == QPD_CTL_BULK_END) {
        /* The store is stuck in bulk mode: links would stay unresolved. */
        qpd_changes_damaged(d, b->err.msg);
    } else {
        qpd_log(QPD_LOG_ERROR, "index write (%zu files): %s", b->n, b->err.msg);
        /* The files are still on disk: a rescan puts them in again. */
        if (!d->stopping)
            qpd_changes_rescan(d, "after a failed write");
    }
}

/* One batch back from the writer; true when it made a new generation. */
static bool batch_done(qpd_changes *ch, qpd_batch *b)
{
    qpd_daemon *d = ch->d;
    bool committed = false;

    ch->batches--;
    ch->writing -= b->n;
    ch->wbytes -= b->bytes;
    if (b->ctl == QPD_CTL_REBUILD && b->rc == QP_OK) {
        qpd_log(QPD_LOG_INFO, "index rebuilt empty (generation %lld): rescanning",
                (long long)b->generation);
        qpd_changes_rescan(d, "the index was rebuilt");
    } else if (b->ctl == QPD_CTL_REBUILD) {
        qpd_log(QPD_LOG_ERROR, "rebuilding the index: %s (trying again)", b->err.msg);
        want(ch, CYCLE_REBUILD);
        ch->rebuild_delay_ms = REBUILD_RETRY_MS;
    } else if (b->rc != QP_OK) {
        batch_failed(ch, b);
    }
    if (b->rc == QP_OK || b->ctl == QPD_CTL_REBUILD) {
        log_commit(b);
        committed = b->generation != d->generation;
        if (b->generation > d->generation)
            d->generation = b->generation;
    }
    if (scanning(ch))
        d->scan_done += b->files;
    qpd_batch_free(b);
    return committed;
}

static void writer_done(qpd_batch *list, void *payload)
{
    qpd_changes *ch = payload;
    qpd_daemon *d = ch->d;
    bool committed = false;

    while (list != NULL) {
        qpd_batch *b = list;

        list = b->next;
        committed |= batch_done(ch, b);
    }
    if (committed && !d->stopping)
        ch->hooks.committed(d);
    if (scanning(ch) && !d->stopping)
        ch->hooks.state_changed(d);
    cycle_continue(ch);
}

/* ---- public ------------------------------------------------------------- */

static void periodic_cb(uv_timer_t *t)
{
    qpd_changes *ch = t->data;

    if (ch->hooks.degraded(ch->d))
        qpd_changes_rescan(ch->d, "some directories are not watched");
    else
        qpd_changes_rescan(ch->d, "periodic");
}

qp_rc qpd_changes_start(qpd_daemon *d, qp_store *wstore, const qpd_changes_hooks *hooks,
                        qp_error *err)
{
    qpd_changes *ch = calloc(1, sizeof *ch);
    qpd_writer_hooks wh;
    uint64_t period;
    qp_rc rc;

    if (ch == NULL) {
        qp_store_close(wstore);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    d->changes = ch;
    ch->d = d;
    ch->hooks = *hooks;
    d->generation = qp_store_generation(wstore) + qpd_readers_base(d->readers);
    uv_timer_init(d->loop, &ch->coalesce);
    uv_timer_init(d->loop, &ch->periodic);
    ch->coalesce.data = ch->periodic.data = ch;
    ch->handles_open = 3; /* the two timers and the writer's async */
    wh = (qpd_writer_hooks){writer_done, writer_closed, ch};
    rc = qpd_writer_start(&ch->writer, d->loop, wstore, d->db_path, d->readers, &wh, err);
    if (rc != QP_OK)
        return rc;
    period = (uint64_t)d->rescan_interval * 1000;
    if (period > 0)
        uv_timer_start(&ch->periodic, periodic_cb, period, period);
    return QP_OK;
}

void qpd_changes_path(qpd_daemon *d, const char *relpath)
{
    qpd_changes *ch = d->changes;
    uint64_t now, due;

    if (d->stopping)
        return;
    now = uv_now(d->loop);
    if (ch->pending.n == 0)
        ch->set_first = now;
    pathvec_push(&ch->pending, (qpd_pathent){qpd_xstrdup(relpath), false, false, false});
    if (ch->running != CYCLE_NONE)
        return; /* cycle_end() flushes what waited */
    /* A save is one event (rename) or a burst of them microseconds apart
     * (truncate, write): wait until the burst is quiet, but never more than
     * COALESCE_MS after its first event, so a steady stream of events cannot
     * hold a change set back. */
    due = now + QUIET_MS;
    if (due > ch->set_first + COALESCE_MS)
        due = ch->set_first + COALESCE_MS;
    uv_timer_start(&ch->coalesce, flush_cb, due > now ? due - now : 0, 0);
}

size_t qpd_changes_pending(qpd_daemon *d)
{
    qpd_changes *ch = d->changes;
    size_t n;

    if (ch == NULL)
        return 0;
    n = ch->pending.n + (ch->todo.n - ch->todo_next) + ch->parsing + ch->writing;
    /* A scan still walking, a rebuild, a control batch: work whose size is
     * not known yet is still work. */
    if (n == 0 && (ch->running != CYCLE_NONE || ch->wanted != CYCLE_NONE))
        n = 1;
    return n;
}

void qpd_changes_rescan(qpd_daemon *d, const char *why)
{
    qpd_changes *ch = d->changes;

    if (d->stopping)
        return;
    if (ch->wanted < CYCLE_SCAN)
        snprintf(ch->rescan_why, sizeof ch->rescan_why, "%s", why);
    want(ch, CYCLE_SCAN);
    if (ch->hooks.degraded(d)) {
        /* Changes in unwatched directories are seen only by scans. */
        uint64_t rep = uv_timer_get_repeat(&ch->periodic);

        if (rep == 0 || rep > DEGRADED_MS)
            uv_timer_start(&ch->periodic, periodic_cb, DEGRADED_MS, DEGRADED_MS);
    }
    arm_flush(ch, 0);
}

void qpd_changes_damaged(qpd_daemon *d, const char *why)
{
    qpd_changes *ch = d->changes;

    /* Queries meanwhile answer from what is readable and status says
     * "scanning". */
    if (ch->wanted == CYCLE_REBUILD || ch->running == CYCLE_REBUILD || d->stopping)
        return;
    qpd_log(QPD_LOG_ERROR, "index damaged (%s): rebuilding it", why);
    want(ch, CYCLE_REBUILD);
    d->ready = false;
    if (ch->running == CYCLE_NONE)
        arm_flush(ch, 0);
}

void qpd_changes_stop(qpd_daemon *d, void (*done)(qpd_daemon *d))
{
    qpd_changes *ch = d->changes;

    ch->stop_done = done;
    uv_timer_stop(&ch->coalesce);
    uv_timer_stop(&ch->periodic);
    uv_close((uv_handle_t *)&ch->coalesce, timer_closed);
    uv_close((uv_handle_t *)&ch->periodic, timer_closed);
    pathvec_clear(&ch->pending);
    if (ch->running == CYCLE_NONE)
        qpd_writer_quit(ch->writer);
    /* else: cycle_continue() stops parsing, lets the writer finish what it
     * has and then makes it quit (cycle_end). */
}

void qpd_changes_free(qpd_daemon *d)
{
    qpd_changes *ch = d->changes;

    if (ch == NULL)
        return;
    qpd_writer_free(ch->writer);
    pathvec_clear(&ch->pending);
    free(ch->pending.v);
    for (size_t i = ch->todo_next; i < ch->todo.n; i++)
        free(ch->todo.v[i].path);
    free(ch->todo.v);
    qpd_batch_free(ch->cur);
    free(ch);
    d->changes = NULL;
}
