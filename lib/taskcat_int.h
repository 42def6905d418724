#ifndef QUIPU_TASKCAT_INT_H
#define QUIPU_TASKCAT_INT_H

/*
 * taskcat_int — tasks.query's use of the task catalogue (taskcat.c).
 * Internal to libquipu.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"
#include "quipu/error.h"
#include "quipu/store.h"
#include "quipu/taskcat.h"
#include "quipu/tasks.h"

/* Says whether the caller wants task t (its catalogue fields filled in). */
typedef bool (*qp__taskcat_keep_fn)(const qp_task *t, const void *payload);

/* The tasks of the catalogue, in the order of the index's task read (path
 * bytes, then line), that `keep` (NULL: all) wants, as of st's snapshot
 * (inside its read transaction).
 *
 * Each task has path, heading, line (0-based), symbol, status_type, the
 * six dates (a date that is not a calendar day is a placeholder with its
 * bit in invalid_dates) and priority: what the index parsed with the
 * default settings. Its other members are empty (description and
 * status_name ""), so only a query that reads no more may run on them.
 * Paths and headings are copied into `arena`.
 *
 * On success *v (malloc'd, room for *vcap tasks, n of them filled) and
 * *file (the file id of each task, malloc'd) are the caller's; *v goes
 * back with qp__taskcat_give_back() (or free()). *stale is set,
 * and nothing returned, when the catalogue is newer than st's snapshot
 * (another reader brought it on): the caller reads the index instead.
 * Errors: QP_ENOMEM, SQLite's. */
qp_rc qp__taskcat_collect(qp_taskcat *c, qp_store *st, qp_arena *arena, qp__taskcat_keep_fn keep,
                          const void *payload, qp_task **v, size_t *vcap, int64_t **file, size_t *n,
                          bool *stale, qp_error *err);

/* Takes back the task array v (room for cap tasks) of a collect: kept for
 * the next query when none is kept and it is at most 64 MB (its pages stay
 * mapped: a vault-wide query at 100k notes faults 27 MB in less), else
 * freed. */
void qp__taskcat_give_back(qp_taskcat *c, qp_task *v, size_t cap);

#endif
