/*
 * readers — the pool of read connections; see readers.h.
 *
 * Invariants (all under mu):
 * - A reader is either idle (in `idle`) or lent (in `lent`, with the epoch
 *   it was opened in and the base generation of that index).
 * - A reader whose epoch is older than `epoch` is never lent again.
 * - `corrupt` is set at most once per epoch and cleared by a rebuild; the
 *   first setting wakes the loop (unless the pool was stopped).
 *
 * Every reader answers symbols.search from the pool's one symbol catalogue
 * (quipu/symcat.h), and vault-wide tasks.query from its one task catalogue
 * (quipu/taskcat.h): each is built at its first use, follows the index by
 * itself, a rebuilt one included, and frees with the pool. Every reader
 * also shares the pool's helper threads (helpers.h) for the work a query
 * splits.
 */

#include "readers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "mem.h"
#include "quipu/symcat.h"
#include "quipu/taskcat.h"

typedef struct lent {
    qp_store *st;
    unsigned epoch;
    int64_t base;
} lent;

struct qpd_readers {
    uv_async_t async; /* first; wakes the loop to report damage */
    const char *db_path;
    qpd_readers_damaged_cb damaged;
    void *payload;

    uv_mutex_t mu;
    qp_store **idle;
    size_t nidle, idle_cap;
    lent *lent;
    size_t nlent, lent_cap;
    unsigned epoch;
    /* Added to the store's commit counter: a rebuilt index starts counting
     * again, but the generation clients see only grows. */
    int64_t gen_base;
    bool corrupt; /* a reader of the current epoch met QP_ECORRUPT */
    char corrupt_why[160];
    bool stopped;          /* the async is closed: no uv_async_send any more */
    qp_symcat *symcat;     /* thread-safe; NULL when it could not be made */
    qp_taskcat *taskcat;   /* the same */
    qpd_helpers *helpers;  /* lend a hand to each reader's split work */
    qp_store_parallel par; /* {qpd_helpers_run, helpers} */
};

/* Under mu. */
static lent *lent_find(qpd_readers *rp, const qp_store *st)
{
    for (size_t i = 0; i < rp->nlent; i++)
        if (rp->lent[i].st == st)
            return &rp->lent[i];
    return NULL;
}

/* Under mu: a reader of `epoch` met damage; the loop hears of it once. */
static void corrupt_locked(qpd_readers *rp, unsigned epoch, const char *why)
{
    if (epoch != rp->epoch || rp->corrupt)
        return; /* an old connection to a deleted index, or said already */
    rp->corrupt = true;
    snprintf(rp->corrupt_why, sizeof rp->corrupt_why, "%.150s", why);
    if (!rp->stopped)
        uv_async_send(&rp->async);
}

/* Loop thread. */
static void async_cb(uv_async_t *a)
{
    qpd_readers *rp = (qpd_readers *)a;
    char why[sizeof rp->corrupt_why];
    bool corrupt;

    uv_mutex_lock(&rp->mu);
    corrupt = rp->corrupt;
    memcpy(why, rp->corrupt_why, sizeof why);
    uv_mutex_unlock(&rp->mu);
    if (corrupt)
        rp->damaged(why, rp->payload);
}

qpd_readers *qpd_readers_new(uv_loop_t *loop, const char *db_path, qpd_readers_damaged_cb damaged,
                             void *payload)
{
    qpd_readers *rp = qpd_xcalloc(1, sizeof *rp);

    rp->db_path = db_path;
    rp->damaged = damaged;
    rp->payload = payload;
    if (qp_symcat_new(&rp->symcat, NULL) != QP_OK)
        rp->symcat = NULL; /* symbols.search scans the index instead */
    if (qp_taskcat_new(&rp->taskcat, NULL) != QP_OK)
        rp->taskcat = NULL; /* tasks.query reads every line instead */
    /* One helper per core beside the one the request runs on (at most 3):
     * an idle machine verifies a person's unlinked mentions on them all. */
    unsigned cores = uv_available_parallelism();
    rp->helpers = qpd_helpers_new(cores > 4 ? 3 : cores > 1 ? cores - 1 : 0);
    rp->par = (qp_store_parallel){qpd_helpers_run, rp->helpers};
    uv_mutex_init(&rp->mu);
    uv_async_init(loop, &rp->async, async_cb);
    return rp;
}

qp_store *qpd_readers_acquire(qpd_readers *rp, qp_error *err)
{
    qp_store *st = NULL;
    qp_error e = QP_ERROR_INIT;

    if (err == NULL)
        err = &e;
    /* Opened under the lock: a rebuild (which holds it while the files are
     * deleted and created again) can never be caught halfway. The pool
     * grows to the number of pool threads, so opens are rare. */
    uv_mutex_lock(&rp->mu);
    if (rp->nidle > 0) {
        st = rp->idle[--rp->nidle];
    } else if (qp_store_open(&st, rp->db_path, QP_STORE_READ, err) != QP_OK) {
        if (err->code == QP_ECORRUPT)
            corrupt_locked(rp, rp->epoch, err->msg);
        st = NULL;
    }
    if (st != NULL) {
        qp_symcat_use(st, rp->symcat);
        qp_taskcat_use(st, rp->taskcat);
        qp_store_set_parallel(st, &rp->par);
        rp->lent = qpd_grow(rp->lent, &rp->lent_cap, rp->nlent + 1, sizeof *rp->lent);
        rp->lent[rp->nlent++] = (lent){st, rp->epoch, rp->gen_base};
    }
    uv_mutex_unlock(&rp->mu);
    return st;
}

void qpd_readers_release(qpd_readers *rp, qp_store *st)
{
    lent *l;
    bool keep;

    if (st == NULL)
        return;
    uv_mutex_lock(&rp->mu);
    l = lent_find(rp, st);
    keep = l != NULL && l->epoch == rp->epoch;
    if (l != NULL)
        *l = rp->lent[--rp->nlent];
    if (keep) {
        rp->idle = qpd_grow(rp->idle, &rp->idle_cap, rp->nidle + 1, sizeof *rp->idle);
        rp->idle[rp->nidle++] = st;
    } else {
        qp_store_close(st); /* opened on an index that was rebuilt since */
    }
    uv_mutex_unlock(&rp->mu);
}

int64_t qpd_readers_generation(qpd_readers *rp, qp_store *st)
{
    lent *l;
    int64_t base;

    uv_mutex_lock(&rp->mu);
    l = lent_find(rp, st);
    base = l ? l->base : rp->gen_base;
    uv_mutex_unlock(&rp->mu);
    return qp_store_generation(st) + base;
}

int64_t qpd_readers_base(qpd_readers *rp)
{
    int64_t base;

    uv_mutex_lock(&rp->mu);
    base = rp->gen_base;
    uv_mutex_unlock(&rp->mu);
    return base;
}

void qpd_readers_corrupt(qpd_readers *rp, qp_store *st, const char *why)
{
    lent *l;

    uv_mutex_lock(&rp->mu);
    l = st ? lent_find(rp, st) : NULL;
    corrupt_locked(rp, l ? l->epoch : rp->epoch, why);
    uv_mutex_unlock(&rp->mu);
}

static void close_idle_locked(qpd_readers *rp)
{
    for (size_t i = 0; i < rp->nidle; i++)
        qp_store_close(rp->idle[i]);
    rp->nidle = 0;
}

void qpd_readers_rebuild(qpd_readers *rp, int64_t (*swap)(void *payload), void *payload)
{
    uv_mutex_lock(&rp->mu);
    rp->epoch++;
    close_idle_locked(rp);
    rp->gen_base = swap(payload);
    rp->corrupt = false; /* what readers say from now on is about the new index */
    uv_mutex_unlock(&rp->mu);
}

void qpd_readers_close_idle(qpd_readers *rp)
{
    uv_mutex_lock(&rp->mu);
    close_idle_locked(rp);
    uv_mutex_unlock(&rp->mu);
}

void qpd_readers_stop(qpd_readers *rp)
{
    uv_mutex_lock(&rp->mu);
    rp->stopped = true; /* readers still running must not send */
    uv_mutex_unlock(&rp->mu);
    if (!uv_is_closing((uv_handle_t *)&rp->async))
        uv_close((uv_handle_t *)&rp->async, NULL);
}

void qpd_readers_free(qpd_readers *rp)
{
    if (rp == NULL)
        return;
    close_idle_locked(rp);
    qpd_helpers_free(rp->helpers);
    qp_symcat_free(rp->symcat);
    qp_taskcat_free(rp->taskcat);
    free(rp->idle);
    free(rp->lent);
    uv_mutex_destroy(&rp->mu);
    free(rp);
}
