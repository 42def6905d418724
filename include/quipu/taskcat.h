#ifndef QUIPU_TASKCAT_H
#define QUIPU_TASKCAT_H

/*
 * taskcat — the task catalogue: what tasks.query orders, groups and
 * filters by (status, dates, priority, heading, path) for every task of an
 * index, in memory, ~44 bytes a task. One catalogue serves every read
 * store of the index.
 *
 * Without it a vault-wide query such as `not done` + `group by filename`
 * reads and re-parses every task line from SQLite, sorted by path (155k
 * lines at 100k notes, half a second) to show the first 100. With it the
 * query runs over the catalogue's fields, and only the lines the answer
 * shows are read from the index and parsed. The catalogue is built from
 * the snapshot of the first store that asks, then brought up to date by
 * each later query from the index's record of what changed since (only
 * those notes are read again). A rebuilt index is noticed and read again
 * whole.
 *
 * Thread-safe: one lock, held by a query while it brings the catalogue up
 * to date and copies out the tasks it may match.
 */

#include <stddef.h>

#include "quipu/error.h"
#include "quipu/store.h"

typedef struct qp_taskcat qp_taskcat; /* opaque */

/* An empty catalogue (*out new; free with qp_taskcat_free). QP_ENOMEM. */
qp_rc qp_taskcat_new(qp_taskcat **out, qp_error *err);

/* Frees the catalogue. No store may use it any more. Accepts NULL. */
void qp_taskcat_free(qp_taskcat *c);

/* Makes tasks.query on `st` answer from `c` where it can (borrowed: it
 * must outlive st's use of it); NULL goes back to reading every line. */
void qp_taskcat_use(qp_store *st, qp_taskcat *c);

/* Memory the catalogue holds, in bytes (0 before its first query). */
size_t qp_taskcat_bytes(qp_taskcat *c);

#endif
