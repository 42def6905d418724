#ifndef QPD_HELPERS_H
#define QPD_HELPERS_H

/*
 * helpers — threads that lend a hand with a request's work that splits
 * into independent tasks (qp_store_set_parallel: reading and searching the
 * candidate files of unlinked mentions).
 *
 * The thread that asks (a pool thread answering a request) posts the work
 * and then does the tasks itself, taking them one at a time from a shared
 * counter; an idle helper takes them from the same counter. So a request
 * never waits for a helper to be free: when both helpers are busy with
 * other requests' work, or the machine is loaded, the asking thread does
 * it all, as it would without helpers. It waits only for the tasks a
 * helper took and has not finished (each is one file), and withdraws its
 * post when no helper came. On an idle machine a person's unlinked
 * mentions are verified on two cores instead of one.
 *
 * qpd_helpers_run is thread-safe; _new and _free are not.
 */

#include <stddef.h>

#include "quipu/store.h"

typedef struct qpd_helpers qpd_helpers;

/* n helper threads (0: none, then qpd_helpers_run does the work on the
 * calling thread). Aborts when out of memory; fewer threads when the
 * system refuses more. */
qpd_helpers *qpd_helpers_new(unsigned n);

/* Stops and joins the threads. No qpd_helpers_run may be running. */
void qpd_helpers_free(qpd_helpers *h);

/* A qp_store_parallel run function: ctx is the qpd_helpers. */
void qpd_helpers_run(void *ctx, qp_store_task_fn fn, void *arg, size_t n);

#endif
