#ifndef QUIPU_TASKS_H
#define QUIPU_TASKS_H

/*
 * tasks — Obsidian Tasks task lines: which lines are tasks, their status,
 * and the fields read from the end of the line (emoji or Dataview format).
 *
 * A qp_task is a transparent, read-only record. Its strings live in the
 * arena passed to qp_task_parse_line() (valid until that arena is freed),
 * except `path` and `heading`, which are borrowed from the caller and must
 * outlive the task. Parsing never fails on bad input: a line that is not a
 * task is reported as such, a malformed field stays in the description.
 *
 * Settings (statuses, global filter, format, presets, global query) live in
 * an opaque qp_tasks_settings; NULL everywhere means the plugin's defaults.
 * A settings object is immutable after creation and may be shared by
 * threads. All functions are thread-safe; nothing here does I/O.
 *
 * Dates are stored as yyyymmdd integers (20230607): ordering them as
 * integers orders the days. 0 means "no date". A date that has the right
 * shape but is not a calendar day (2023-02-30) is kept with its bit set in
 * `invalid_dates`: the task has the date, but no comparison matches it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"
#include "quipu/error.h"

/* Status types; the values are the plugin's sort ranks (status.type order). */
typedef enum qp_status_type {
    QP_STATUS_IN_PROGRESS = 1,
    QP_STATUS_TODO = 2,
    QP_STATUS_ON_HOLD = 3,
    QP_STATUS_DONE = 4,
    QP_STATUS_CANCELLED = 5,
    QP_STATUS_NON_TASK = 6,
    QP_STATUS_EMPTY = 7,
} qp_status_type;

/* Date fields, in the index order of qp_task.dates. */
typedef enum qp_task_date_field {
    QP_TASK_DUE = 0,
    QP_TASK_SCHEDULED,
    QP_TASK_START,
    QP_TASK_CREATED,
    QP_TASK_DONE,
    QP_TASK_CANCELLED,
    QP_TASK_NDATES
} qp_task_date_field;

/* Priority codes as the plugin numbers them (lower = more important). */
typedef enum qp_task_priority {
    QP_PRIORITY_HIGHEST = 0,
    QP_PRIORITY_HIGH = 1,
    QP_PRIORITY_MEDIUM = 2,
    QP_PRIORITY_NONE = 3,
    QP_PRIORITY_LOW = 4,
    QP_PRIORITY_LOWEST = 5,
} qp_task_priority;

typedef struct qp_tasks_settings qp_tasks_settings; /* opaque */

typedef struct qp_task {
    const char *path;    /* borrowed from the caller: vault path with ".md" */
    const char *heading; /* borrowed from the caller: preceding heading, or NULL */
    int line;            /* 0-based line number, as given by the caller */

    const char *indent;      /* leading whitespace and '>' characters */
    char symbol[8];          /* the checkbox character, UTF-8, NUL-terminated */
    const char *status_name; /* "Todo", "Done", "In Progress", "Cancelled", "Unknown", custom */
    qp_status_type status_type;

    const char *description;       /* fields removed, trailing tags put back, trimmed */
    const char *block_link;        /* "^abc" without the leading space, or NULL */
    int32_t dates[QP_TASK_NDATES]; /* yyyymmdd, 0 = none */
    uint8_t invalid_dates;         /* bit (1 << field): present but not a calendar day */
    qp_task_priority priority;

    const char *recurrence;      /* normalised rule ("every week on Sunday"), NULL when none */
    const char *recurrence_text; /* the rule text as written, NULL when none */
    const char *on_completion;   /* "keep", "delete", other word, or NULL */
    const char *id;              /* NULL when none */
    const char **depends_on;     /* n_depends_on ids */
    size_t n_depends_on;
    const char **tags; /* with '#', in order, duplicates kept, global filter dropped */
    size_t n_tags;
} qp_task;

/* Parses one line. On success *is_task says whether the line is a task
 * (settings' global filter and statuses apply); when it is, *out is filled
 * and its strings are allocated in `arena`. `path` and `heading` are
 * borrowed (stored as is). settings may be NULL (defaults). Errors:
 * QP_ENOMEM only. */
qp_rc qp_task_parse_line(qp_task *out, bool *is_task, const char *line, size_t len,
                         const char *path, const char *heading, const qp_tasks_settings *settings,
                         qp_arena *arena, qp_error *err);

/* The plugin's urgency score for `task` on day `today` (yyyymmdd). */
double qp_task_urgency(const qp_task *task, int32_t today);

/* True when the status type counts as done (DONE, CANCELLED, NON_TASK). */
bool qp_task_is_done(const qp_task *task);

/* "TODO", "DONE", "IN_PROGRESS", "ON_HOLD", "CANCELLED", "NON_TASK", "EMPTY". */
const char *qp_status_type_name(qp_status_type t);

/* "Highest", "High", "Medium", "None", "Low", "Lowest". */
const char *qp_task_priority_name(qp_task_priority p);

/* Writes the date as "YYYY-MM-DD" into buf (at least 11 bytes); "" when 0. */
void qp_task_date_format(int32_t ymd, char buf[11]);

/* Parses "YYYY-MM-DD" into *out (yyyymmdd). Returns false unless the text is
 * exactly that shape and a real calendar day. */
bool qp_task_date_parse(const char *s, int32_t *out);

/* Builds settings from the JSON object used by tasks-cases.jsonl and the
 * daemon: {"globalFilter": "#task", "taskFormat": "tasksPluginEmoji" |
 * "dataview", "statuses": [[symbol, name, next, type], ...], "presets":
 * {name: text}, "globalQuery": "text", "js": bool}. Unknown keys are
 * ignored. json may be NULL or "" (defaults). On success *out is new (free
 * with qp_tasks_settings_free). Errors: QP_EINVAL (not a JSON object, or a
 * member of the wrong type; err->msg says which), QP_ENOMEM. */
qp_rc qp_tasks_settings_from_json(qp_tasks_settings **out, const char *json, qp_error *err);

/* Frees settings. NULL is a no-op. */
void qp_tasks_settings_free(qp_tasks_settings *s);

#endif /* QUIPU_TASKS_H */
