#ifndef QUIPU_QUERY_TASKS_INT_H
#define QUIPU_QUERY_TASKS_INT_H

/*
 * query_tasks_int — the task methods (query_tasks.c), called by
 * qp_query_run() inside its read transaction. *out is the answer as JSON
 * text (new, the caller frees it): a task answer can be tens of megabytes,
 * and text is a tenth of the memory of the same answer as jansson values.
 */

#include "query_page.h"
#include "quipu/error.h"
#include "quipu/store.h"
#include "quipu/tasks.h"

struct json_t;

/* `base`: the vault's Tasks settings (NULL = the plugin's defaults); a
 * request's `settings` param is put over them. `pg`: the page asked for
 * (pg->limit 0 = the whole answer); its cursor list is "t". */
qp_rc qp__query_tasks(char **out, qp_store *st, const qp_tasks_settings *base,
                      struct json_t *params, qp__page *pg, qp_error *err);
/* Every ```tasks block of the note at `path` (already resolved). */
qp_rc qp__query_task_blocks(char **out, qp_store *st, const qp_tasks_settings *base,
                            const char *path, struct json_t *params, qp_error *err);

#endif
