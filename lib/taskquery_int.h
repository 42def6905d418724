#ifndef QUIPU_TASKQUERY_INT_H
#define QUIPU_TASKQUERY_INT_H

/*
 * Internals shared by tasks.c, taskquery*.c and tq_*.c: the settings
 * layout, day arithmetic, the natural-language date reader and the
 * recurrence-rule reader. Not part of the public API.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"
#include "quipu/tasks.h"

typedef struct qp__status_def {
    char symbol[8];
    char *name;
    char next[8];
    qp_status_type type;
} qp__status_def;

struct qp_tasks_settings {
    char *global_filter; /* NULL when none */
    bool dataview;
    bool js;
    qp__status_def *statuses; /* custom statuses, searched before the defaults */
    size_t n_statuses;
    bool statuses_only;  /* "statusesOnly": the defaults are not searched at all */
    char **preset_names; /* n_presets user presets, searched before the built-ins */
    char **preset_texts;
    size_t n_presets;
    bool presets_only;         /* "presetsOnly": the built-in presets are not searched */
    bool ignore_sort;          /* "ignoreSortInstructions": results keep the input order */
    bool remove_global_filter; /* "removeGlobalFilter": shown descriptions lose it */
    char *global_query;        /* NULL when none */
    /* A.8: a date in the file name is the scheduled date of its tasks that
     * have no start, scheduled or due date */
    bool filename_date;
    char *filename_date_format;   /* moment-style format tried first, or NULL */
    char **filename_date_folders; /* only files under these folders; none = all */
    size_t n_filename_date_folders;
    char *json; /* the settings object these were built from, compact with sorted keys */
};

/* Builds settings from the Tasks plugin's own data.json text (the mapping is
 * documented in docs/query-language.md). On success *out is new. Errors:
 * QP_EINVAL (not JSON, or a member of the wrong type; err->msg names the
 * file and member), QP_ENOMEM. */
qp_rc qp__tasks_settings_from_plugin(qp_tasks_settings **out, const char *text, size_t len,
                                     qp_error *err);

/* Builds settings from `base` (NULL = defaults) with the members of the
 * client's settings object `client_json` (qp_tasks_settings_from_json's
 * format) put over it, member by member; "statuses" also replaces
 * "statusesOnly", "presets" also "presetsOnly". Errors as
 * qp_tasks_settings_from_json. */
/* True when lines parsed with `s` get the statuses and dates the defaults
 * give (what the index stored), so stored columns may prefilter a query. */
bool qp__tasks_settings_default_fields(const qp_tasks_settings *s);

/* The description as the plugin shows it: with "removeGlobalFilter", the
 * global filter removed where it stands as a word (GlobalFilter.
 * removeAsWordFrom). Returns NULL when it is `desc` unchanged, else a new
 * string (free with free()); NULL also on OOM, so the caller shows `desc`. */
char *qp__tasks_shown_description(const qp_tasks_settings *s, const char *desc);

qp_rc qp__tasks_settings_over(qp_tasks_settings **out, const qp_tasks_settings *base,
                              const char *client_json, qp_error *err);

/* Days since 1970-01-01 for a proleptic Gregorian date (no range checks). */
int32_t qp__days_from_civil(int y, int m, int d);
/* The inverse: yyyymmdd for a day number. */
int32_t qp__ymd_from_days(int32_t days);
/* Day number of a yyyymmdd value (which must be a real date). */
int32_t qp__days_from_ymd(int32_t ymd);
/* 0 = Sunday .. 6 = Saturday. */
int qp__weekday(int32_t days);
/* True when y-m-d is a calendar day. */
bool qp__valid_civil(int y, int m, int d);
int qp__days_in_month(int y, int m);

/* Reads `text` the way the chrono library used by the plugin does, for the
 * expressions that plugin queries use. On success returns the number of
 * dates found (1 or 2) with yyyymmdd values in out[0..n); 0 when nothing
 * was recognised; -1 when out of memory. `today` is a day number. */
int qp__chrono_parse(const char *text, int32_t today, int32_t out[2]);

/* Normalises a recurrence rule ("every Sunday when done") to the text the
 * plugin shows ("every week on Sunday when done"); the result is written
 * into buf (NUL-terminated, truncated to cap). Returns false when the rule
 * does not parse (the task is then not recurring). */
bool qp__recurrence_normalise(const char *rule, size_t len, char *buf, size_t cap);

/* Case-insensitive (full lower-case) substring test, as JavaScript's
 * toLowerCase().includes() would do it. */
bool qp__text_includes_ci(const char *hay, const char *needle_folded, size_t needle_len);

/* ---- compiled queries (taskquery.c builds them, tq_eval.c runs them) ---- */

#include <unicode/ucol.h>
#include <unicode/uregex.h>

#include "quipu/taskquery.h"

/* The plugin's text order: ICU root collation with numeric digit runs,
 * with a fast path for printable ASCII. Not shareable between threads. */
typedef struct qp__coll {
    UCollator *coll;
    uint8_t prim[128];  /* primary rank of printable ASCII; 0 = unknown */
    uint8_t digit_mark; /* the rank that stands for a digit run in a sort key */
    bool keys_ok;       /* digits rank together, so digit runs can be keyed */
} qp__coll;
bool qp__coll_open(qp__coll *c);
void qp__coll_close(qp__coll *c);
/* <0, 0, >0 as a sorts before, with, after b. */
int qp__coll_cmp(const qp__coll *c, const char *a, const char *b);

/* Opens an ICU regex from a UTF-8 pattern (JavaScript flags mapped to ICU's). */
URegularExpression *qp__regex_open(const char *pattern, uint32_t flags, UErrorCode *st);

#define TQ_HAPPENS QP_TASK_NDATES /* the date "field" that means any of start/scheduled/due */

typedef enum tq_text_field {
    TF_DESCRIPTION,
    TF_PATH,
    TF_FILENAME,
    TF_FOLDER,
    TF_ROOT,
    TF_HEADING,
    TF_STATUS_NAME,
    TF_RECURRENCE,
    TF_ID,
    TF_TAGS,
} tq_text_field;

typedef enum tq_filter_kind {
    FK_DONE,         /* isDone */
    FK_STATUS_TYPE,  /* value = type */
    FK_TEXT,         /* field, needle or regex */
    FK_DATE,         /* field (or TQ_HAPPENS), op, lo..hi */
    FK_HAS_DATE,     /* field (or TQ_HAPPENS) */
    FK_DATE_INVALID, /* field */
    FK_RECURRING,
    FK_PRIORITY, /* op, value */
    FK_SUBITEMS, /* true for top-level tasks */
    FK_HAS_ID,
    FK_HAS_DEPS,
    FK_BLOCKING,
    FK_BLOCKED,
    FK_HAS_TAGS,
    FK_AND,
    FK_OR,
    FK_XOR,
    FK_NOT,
} tq_filter_kind;

enum {
    DOP_IN,
    DOP_BEFORE,
    DOP_AFTER,
    DOP_ON_OR_BEFORE,
    DOP_ON_OR_AFTER
};
enum {
    POP_IS,
    POP_ABOVE,
    POP_BELOW,
    POP_NOT
};

typedef struct tq_filter {
    tq_filter_kind kind;
    bool negate;
    int field;
    int op;
    int value;      /* status type, priority; for text filters on path-derived
                       fields the slot of the run's per-path cache, else -1 */
    int32_t lo, hi; /* yyyymmdd range */
    char *needle;   /* includes: the folded search text */
    size_t needle_len;
    bool regex;
    char *pattern;   /* regex: the pattern (UTF-8) */
    uint32_t rflags; /* regex: ICU flags */
    int regex_slot;  /* index of this regex in a run's compiled-regex array */
    struct tq_filter *a, *b;
    const char *source; /* the statement, for explain */
} tq_filter;

typedef enum tq_key {
    K_STATUS,
    K_STATUS_TYPE,
    K_STATUS_NAME,
    K_URGENCY,
    K_DUE,
    K_SCHEDULED,
    K_START,
    K_CREATED,
    K_DONE,
    K_CANCELLED,
    K_HAPPENS,
    K_PRIORITY,
    K_PATH,
    K_FILENAME,
    K_HEADING,
    K_DESCRIPTION,
    K_TAG,
    K_RECURRING,
    K_ID,
    K_RANDOM,
    K_FOLDER,
    K_ROOT,
    K_BACKLINK,
    K_TAGS,
    K_RECURRENCE,
} tq_key;

typedef struct tq_order {
    tq_key key;
    bool reverse;
    int tag_n; /* sort by tag N (1-based) */
    const char *source;
} tq_order;

/* True when task t's date `field` is a calendar day that the date filter
 * f's range and operator admit (not negated; tq_eval.c's test of a date). */
bool qp__tq_date_holds(const tq_filter *f, const qp_task *t, int field);

struct qp_taskquery {
    qp_arena *arena;
    tq_filter **filters;
    size_t n_filters, cap_filters;
    tq_order *sorters;
    size_t n_sorters, cap_sorters;
    tq_order *groupers;
    size_t n_groupers, cap_groupers;
    tq_order column; /* view columns by <key>: the outermost grouping */
    bool has_column;
    qp_taskquery_layout layout;
    int32_t today; /* yyyymmdd */
    const char *global_filter;
    bool ignore_sort; /* the settings' debugSettings.ignoreSortInstructions */
    int n_regex;
    int n_path_cache; /* text filters on path, filename, folder or root */
    bool uses_blocking;
};

#endif /* QUIPU_TASKQUERY_INT_H */
