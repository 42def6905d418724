/*
 * helpers — threads that lend a hand with a request's split work; see
 * helpers.h.
 *
 * A posted job sits in a FIFO until a helper takes it. Its tasks are
 * claimed by an atomic counter, by the poster and any helper that took
 * the job, so each task runs exactly once. The poster, out of tasks,
 * waits (under the lock) until no helper is still inside the job: a job
 * lives on the poster's stack, so it must not return while a helper can
 * touch it. A job no helper took is withdrawn from the FIFO instead.
 */

#include "helpers.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>

#include "mem.h"

typedef struct job {
    qp_store_task_fn fn;
    void *arg;
    size_t n;
    atomic_size_t next; /* the next task to claim */
    unsigned inside;    /* helpers in the job (under the lock) */
    bool queued;        /* in the FIFO (under the lock) */
    struct job *later;  /* FIFO link */
} job;

struct qpd_helpers {
    uv_mutex_t mu;
    uv_cond_t work; /* a job was posted, or stop */
    uv_cond_t left; /* a helper left a job */
    job *head, *tail;
    bool stop;
    uv_thread_t *threads;
    unsigned nthreads;
};

static void run_tasks(job *j)
{
    size_t i;

    while ((i = atomic_fetch_add(&j->next, 1)) < j->n)
        j->fn(j->arg, i);
}

static void helper_main(void *arg)
{
    qpd_helpers *h = arg;

    uv_mutex_lock(&h->mu);
    for (;;) {
        while (!h->stop && h->head == NULL)
            uv_cond_wait(&h->work, &h->mu);
        if (h->stop)
            break;
        job *j = h->head;
        h->head = j->later;
        if (h->head == NULL)
            h->tail = NULL;
        j->queued = false;
        j->inside++;
        uv_mutex_unlock(&h->mu);
        run_tasks(j);
        uv_mutex_lock(&h->mu);
        j->inside--; /* after this the poster may free j: no touching it */
        uv_cond_broadcast(&h->left);
    }
    uv_mutex_unlock(&h->mu);
}

qpd_helpers *qpd_helpers_new(unsigned n)
{
    qpd_helpers *h = qpd_xcalloc(1, sizeof *h);

    uv_mutex_init(&h->mu);
    uv_cond_init(&h->work);
    uv_cond_init(&h->left);
    h->threads = qpd_xcalloc(n ? n : 1, sizeof *h->threads);
    for (unsigned i = 0; i < n; i++) {
        if (uv_thread_create(&h->threads[h->nthreads], helper_main, h) != 0)
            break;
        h->nthreads++;
    }
    return h;
}

void qpd_helpers_free(qpd_helpers *h)
{
    if (h == NULL)
        return;
    uv_mutex_lock(&h->mu);
    h->stop = true;
    uv_cond_broadcast(&h->work);
    uv_mutex_unlock(&h->mu);
    for (unsigned i = 0; i < h->nthreads; i++)
        uv_thread_join(&h->threads[i]);
    uv_cond_destroy(&h->left);
    uv_cond_destroy(&h->work);
    uv_mutex_destroy(&h->mu);
    free(h->threads);
    free(h);
}

void qpd_helpers_run(void *ctx, qp_store_task_fn fn, void *arg, size_t n)
{
    qpd_helpers *h = ctx;
    job j = {.fn = fn, .arg = arg, .n = n};

    atomic_init(&j.next, 0);
    if (h->nthreads > 0 && n > 1) {
        uv_mutex_lock(&h->mu);
        j.queued = true;
        if (h->tail != NULL)
            h->tail->later = &j;
        else
            h->head = &j;
        h->tail = &j;
        uv_cond_signal(&h->work);
        uv_mutex_unlock(&h->mu);
    }
    run_tasks(&j);
    if (h->nthreads == 0 || n <= 1)
        return;
    uv_mutex_lock(&h->mu);
    if (j.queued) { /* no helper came: take the post back */
        job **p = &h->head, *prev = NULL;
        while (*p != &j) {
            prev = *p;
            p = &(*p)->later;
        }
        *p = j.later;
        if (h->tail == &j)
            h->tail = prev;
    }
    while (j.inside > 0)
        uv_cond_wait(&h->left, &h->mu);
    uv_mutex_unlock(&h->mu);
}
