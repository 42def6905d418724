#ifndef QPD_WRITER_H
#define QPD_WRITER_H

/*
 * writer — the thread that owns the only QP_STORE_WRITE connection.
 *
 * The loop hands it batches of operations through a mutex/condition queue;
 * it applies each in one BEGIN IMMEDIATE transaction (or runs the batch's
 * control action: rebuild the index, begin or end a bulk load) and hands the
 * batch back through a uv_async. Sends coalesce, so the async callback takes
 * every finished batch at once and gives the list to the `done` hook.
 * A second thread checkpoints the WAL, on connections of its own that only
 * copy frames back (qp_store_checkpoint_path): idle or when the WAL is big,
 * never in a commit's way.
 *
 * Ownership: a batch and its ops belong to the loop until qpd_writer_queue,
 * then to the writer (which frees the parsed notes once written: nobody needs
 * them after), then to the `done` hook. Loop thread only, but for what the
 * writer thread itself runs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "quipu/error.h"
#include "quipu/ingest.h"
#include "quipu/note.h"
#include "quipu/store.h"
#include "readers.h"

typedef enum qpd_op_kind {
    QPD_OP_PUT_NOTE,
    QPD_OP_PUT_FILE,
    QPD_OP_REMOVE,
    QPD_OP_REMOVE_TREE, /* a directory that is gone: remove everything under it */
} qpd_op_kind;

typedef struct qpd_op {
    qpd_op_kind kind;
    char *path;    /* owned */
    qp_note *note; /* owned; QPD_OP_PUT_NOTE only */
    qp_file_stat st;
    qp_ingest_problem problem; /* puts: what the index keeps as the file's problem */
} qpd_op;

/* What the writer does with a batch besides its ops. */
typedef enum qpd_batch_ctl {
    QPD_CTL_NONE,
    QPD_CTL_REBUILD,    /* close the index, delete its files, open a new one */
    QPD_CTL_BULK_BEGIN, /* qp_store_bulk_begin: an empty index is being filled */
    QPD_CTL_BULK_END,   /* qp_store_bulk_end: build indexes, resolve every link */
} qpd_batch_ctl;

typedef struct qpd_batch {
    struct qpd_batch *next;
    qpd_batch_ctl ctl;
    qpd_op *ops;
    size_t n, cap;
    size_t files; /* how many scan files this batch accounts for (progress) */
    size_t bytes; /* memory its parsed notes hold (qp_note_bytes): a parsed
                   * note is held until written, at 5-15 times its size */
    /* filled by the writer */
    qp_rc rc;
    qp_error err;
    int64_t generation;                /* as clients see it, after the batch */
    uint64_t t_queued, t_begin, t_end; /* uv_hrtime(), for the debug log */
} qpd_batch;

/* A new empty batch; aborts when out of memory. */
qpd_batch *qpd_batch_new(qpd_batch_ctl ctl);

/* Appends `o` (taken). */
void qpd_batch_add(qpd_batch *b, qpd_op o);

/* Frees the batch, its paths and notes. NULL is a no-op. */
void qpd_batch_free(qpd_batch *b);

typedef struct qpd_writer qpd_writer;

typedef struct qpd_writer_hooks {
    /* Loop thread: batches the writer finished, in order, linked by next;
     * the hook owns them. */
    void (*done)(qpd_batch *list, void *payload);
    /* Loop thread: the thread exited and was joined, and its handle is
     * closed. */
    void (*closed)(void *payload);
    void *payload;
} qpd_writer_hooks;

/* Starts the writer thread on `wstore` (taken: the writer closes it when it
 * exits, also on failure). `db_path` is borrowed and must outlive the
 * writer; `readers` is the pool whose epoch a rebuild bumps. */
qp_rc qpd_writer_start(qpd_writer **out, uv_loop_t *loop, qp_store *wstore, const char *db_path,
                       qpd_readers *readers, const qpd_writer_hooks *hooks, qp_error *err);

/* Hands `b` (taken) to the writer; stamps b->t_queued. */
void qpd_writer_queue(qpd_writer *w, qpd_batch *b);

/* The writer finishes what is queued, closes the idle readers and its index
 * and exits; the `closed` hook says when. */
void qpd_writer_quit(qpd_writer *w);

/* Frees the writer after the loop ran dry (joins the thread if the loop
 * never ran its last callback). NULL is a no-op. */
void qpd_writer_free(qpd_writer *w);

#endif
