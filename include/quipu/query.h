#ifndef QUIPU_QUERY_H
#define QUIPU_QUERY_H

/*
 * query — the read side: every query method of spec/protocol.md, answered
 * from a store as JSON text, so the daemon, the CLI and the tests share one
 * implementation of the result shapes.
 *
 * Methods: "status" (the index's counts: generation, files, notes, tasks,
 * links, unresolved_links; the daemon adds version, vault, state and
 * progress), "note", "resolve", "backlinks", "mentions", "tasks.query",
 * "tasks.blocks". Params and result are exactly those of the protocol.
 *
 * Thread-safety: as the store passed in (one thread per store at a time).
 */

#include "quipu/error.h"
#include "quipu/store.h"
#include "quipu/vault.h"

/* Runs `method` with `params_json` (a JSON object; NULL means {}) against a
 * store. On success *out is the result as compact JSON text, new (free with
 * free()). Errors: QP_EINVAL (unknown method or invalid params; err->msg
 * says which), QP_ENOTFOUND (the note does not exist / the link resolves to
 * nothing), QP_EQUERY (task query error; err->line is the query line),
 * QP_EIO, QP_ENOMEM, QP_ECORRUPT (the index is damaged: rebuild it).
 * `vault` is borrowed; it may be NULL when no file needs reading: unlinked
 * mentions ("backlinks" with unlinked, "mentions") read the candidate
 * notes through it (the index keeps no note bodies) and fail with
 * QP_EINVAL without it. */
qp_rc qp_query_run(char **out, qp_store *st, const qp_vault *vault, const char *method,
                   const char *params_json, qp_error *err);

#endif
