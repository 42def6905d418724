#ifndef QUIPU_RENAME_INT_H
#define QUIPU_RENAME_INT_H

/*
 * rename_int — the `rename.plan` method (rename.c), for qp_query_run's
 * method table. The method computes every text edit and file rename that a
 * rename of a file, folder, heading, block id or tag needs, checks that no
 * link changes its target, and writes nothing (docs/protocol.md).
 */

#include "quipu/error.h"
#include "quipu/store.h"
#include "quipu/vault.h"

struct json_t;

/* Called inside qp_query_run's read transaction; *out is a new jansson
 * value. Needs `vault` (the files are read to compute the edits): QP_EINVAL
 * without one. */
qp_rc qp__rename_plan(struct json_t **out, qp_store *st, const qp_vault *vault,
                      struct json_t *params, qp_error *err);

#endif
