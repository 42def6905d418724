#ifndef QPD_METHODS_H
#define QPD_METHODS_H

/*
 * methods — the daemon's JSON-RPC method table: the one place that says
 * which methods exist and how each is served (docs/protocol.md describes
 * them). The server reads every behaviour from these flags; it names no
 * method itself.
 *
 * To add a query method: implement it in lib/ (qp_query_run dispatches by
 * name) and add one line to the table in methods.c.
 */

#include <stddef.h>

enum {
    QPD_ON_LOOP = 1,      /* answered on the loop thread by the server itself (see loop) */
    QPD_ON_WORKER = 2,    /* a query: qp_query_run on the pool, with a reader */
    QPD_SUBSCRIBABLE = 4, /* may be the method of a subscription */
    QPD_CACHEABLE = 8,    /* a pure function of the index: answers kept for one generation */
    QPD_STATE = 16,       /* the answer carries the daemon's state (ready, progress, pending):
                           * re-run for subscribers when the state changes, answered on the
                           * loop from the generation's counts when they are known */
    QPD_DATED = 32,       /* with QPD_CACHEABLE: the answer also depends on the local date
                           * (a task query's default `today`): kept for one generation and
                           * one day */
};

/* What a QPD_ON_LOOP method does. */
typedef enum qpd_loop_op {
    QPD_LOOP_NONE,
    QPD_LOOP_SUBSCRIBE,
    QPD_LOOP_UNSUBSCRIBE,
} qpd_loop_op;

typedef struct qpd_method {
    const char *name;
    unsigned flags;
    qpd_loop_op loop; /* QPD_ON_LOOP methods only */
} qpd_method;

/* The method called `name`, or NULL. */
const qpd_method *qpd_method_find(const char *name);

/* The i-th method of the table (in table order), or NULL past its end. */
const qpd_method *qpd_method_at(size_t i);

#endif
