#ifndef QUIPU_TASKQUERY_H
#define QUIPU_TASKQUERY_H

/*
 * taskquery — the Obsidian Tasks query language: a ```tasks block's text is
 * compiled once into a qp_taskquery (filters, sort keys, groups, limits,
 * layout), which then runs over any array of parsed tasks (quipu/tasks.h).
 *
 * Compiling resolves every date in the query against `today` and expands
 * placeholders against `query_path`, so a compiled query is tied to both;
 * recompile when either changes. A compiled query is immutable and may be
 * run from several threads at once. Results refer to tasks by their index
 * in the array passed to qp_taskquery_run(), so callers build their own
 * output (protocol Task objects, CLI lines) from their own records.
 *
 * JavaScript (`filter by function`, `sort by function`, `group by
 * function`, `{{! }}` and other expressions in placeholders) is not
 * supported: such a query fails to compile with "JavaScript is not
 * supported".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"
#include "quipu/tasks.h"

typedef struct qp_taskquery qp_taskquery; /* opaque, immutable once compiled */

typedef struct qp_taskquery_options {
    int32_t today;                     /* yyyymmdd: the day "today" means */
    const char *query_path;            /* vault path of the note holding the query, or NULL */
    const qp_tasks_settings *settings; /* borrowed for the call; NULL = plugin defaults */
    /* The query note's frontmatter properties as a JSON object text, for
     * {{query.file.property('x')}} and {{query.file.hasProperty('x')}};
     * NULL or "" = none. Borrowed for the call. */
    const char *query_properties;
} qp_taskquery_options;

#define QP_TASKQUERY_OPTIONS_INIT \
    {                             \
        0, NULL, NULL, NULL       \
    }

/* Layout options a renderer needs; none of them changes which tasks match. */
typedef struct qp_taskquery_layout {
    bool short_mode;
    bool explain;
    bool ignore_global_query;
    size_t limit;       /* SIZE_MAX when none */
    size_t group_limit; /* SIZE_MAX when none */
    uint32_t hidden;    /* bit per option, see qp_taskquery_layout_option() */
} qp_taskquery_layout;

/* One leaf group: its name at each `group by` level (none when the query
 * has no grouping) and its tasks, as indices into the run's task array, in
 * result order. Group names are raw: they may start with a "%%n%%" sort
 * prefix that a renderer hides. */
typedef struct qp_taskquery_group {
    const char **names;
    size_t n_names;
    const size_t *tasks;
    size_t n_tasks;
} qp_taskquery_group;

typedef struct qp_taskquery_result {
    qp_taskquery_group *groups;
    size_t n_groups;
    size_t total;           /* tasks that passed the filters, before any limit */
    size_t shown;           /* distinct tasks in the groups, after limits */
    struct qp_arena *arena; /* owns everything above */
} qp_taskquery_result;

/* Compiles `text` (the body of a ```tasks block). The settings' global
 * query is put in front unless the block says `ignore global query`. On
 * success *out is new (free with qp_taskquery_free). A query error returns
 * QP_EQUERY with err->msg holding the plugin-style message (it ends with
 * `Problem line: "<line>"`) and err->line the 1-based line of the block
 * (0 when the error is in the global query or a preset). QP_EINVAL when
 * opts->query_properties is not a JSON object. QP_ENOMEM on OOM. */
qp_rc qp_taskquery_compile(qp_taskquery **out, const char *text, const qp_taskquery_options *opts,
                           qp_error *err);

/* Frees a compiled query. NULL is a no-op. */
void qp_taskquery_free(qp_taskquery *q);

/* The query's layout options (borrowed view, valid while q lives). */
const qp_taskquery_layout *qp_taskquery_get_layout(const qp_taskquery *q);

/* The explanation text of the query's filters, sorting, grouping and
 * limits, in the plugin's `explain` form. New string: free with free(). */
char *qp_taskquery_explain(const qp_taskquery *q);

/* Runs the query over tasks[0..n). The array is also "the whole vault" for
 * `is blocked` / `is blocking`. Group names may borrow strings from the
 * tasks (tags, headings, status names): the result is valid while both it
 * and the tasks live. Tasks should be given file by file in line
 * order: ties keep that order, as in the plugin. On success *out is new
 * (free with qp_taskquery_result_free). Errors: QP_ENOMEM. Thread-safe. */
qp_rc qp_taskquery_run(qp_taskquery_result **out, const qp_taskquery *q, const qp_task *tasks,
                       size_t n, qp_error *err);

/* Frees a result. NULL is a no-op. */
void qp_taskquery_result_free(qp_taskquery_result *r);

/* One-call evaluation, as `quipu eval-tasks` does it: parses lines[i] (with
 * paths[i], headings[i]; headings[i] may be NULL, and the `headings` array
 * itself may be NULL), compiles `query`, runs it. Result indices are input
 * indices; lines that are not tasks never appear. Errors as compile/run. */
qp_rc qp_tasks_eval(qp_taskquery_result **out, const char *query, const char *const *lines,
                    const char *const *paths, const char *const *headings, size_t n,
                    const qp_taskquery_options *opts, qp_error *err);

#endif /* QUIPU_TASKQUERY_H */
