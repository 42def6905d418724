/*
 * query_tasks — the protocol's tasks.query and tasks.blocks over a store.
 *
 * A query is compiled by the Tasks engine (quipu/taskquery.h), then run over
 * the stored task lines, re-parsed with the request's settings so that the
 * answer is exactly the engine's. The index only narrows which lines are
 * read: every top-level filter of a compiled query must hold for a task to
 * match, so a filter the index can evaluate may drop rows before parsing.
 * Pushed down:
 *   - `path includes X` (plain, not negated): the notes whose folded path
 *     contains X, from the trigram table task_paths (or a scan of
 *     files.path_folded when X is shorter than a trigram). The engine
 *     compares with the same fold (qp_text_fold), so no match is lost.
 *   - `done` / `not done` / `status.type is T` and date filters on due,
 *     scheduled, created, done, cancelled: from the columns the store parsed
 *     with the default settings, so only when the request's settings keep
 *     the default statuses and the emoji format.
 * A query that uses `is blocked` / `is blocking` reads every task: the
 * whole vault is what those filters look at.
 *
 * With a task catalogue (quipu/taskcat.h) a query that reads only what the
 * index parsed (status, dates, priority, heading and the path; see
 * catalogue_ok) and that no path prefilter narrows runs on the
 * catalogue's fields instead, prefiltered in memory as above, and only
 * the tasks the answer writes are read from the index (by file and line)
 * and parsed with the request's settings: the first page of `not done` +
 * `group by filename` over 155k tasks parses 100 lines, not 155k. Those
 * fields are what the request's parser would give only with the default
 * statuses and format and no global filter, so the query must have those
 * settings too. The same task is thereby the same in both ways: the
 * engine orders, groups and filters by fields that the re-parse gives
 * again, and the index's order of tasks (path bytes, line), which breaks
 * the engine's ties, is the catalogue's.
 *
 * Params (quipu additions to the protocol marked +):
 *   tasks.query  {query, from?, today?, settings?+}
 *   tasks.blocks {note, today?, settings?+}   (the note is passed resolved)
 * `today` is "YYYY-MM-DD", default the local date; `settings` is the Tasks
 * settings object of qp_tasks_settings_from_json() (globalFilter, statuses,
 * taskFormat, presets, globalQuery). The vault's own Tasks settings (its
 * data.json, through quipu/vaultconf.h) apply to every query; the request's
 * settings are put over them member by member.
 *
 * Result: {total, groups: [{names, tasks: [Task]}]}; group names are shown
 * without the engine's "%%n%%" ordering prefix (the group order already says
 * it). Task: {path, line (1-based), status: {symbol, type}, description,
 * due, scheduled, start, created, done, cancelled (YYYY-MM-DD or null),
 * priority (highest|high|medium|none|low|lowest), recurrence (the rule as
 * the plugin shows it, or null), tags, heading, text (the raw line)}.
 * `type` is the engine's status type name: TODO, DONE, IN_PROGRESS,
 * CANCELLED, NON_TASK, and with custom statuses also ON_HOLD or EMPTY.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jtext_int.h"
#include "methods_int.h"
#include "query_page.h"
#include "query_param_int.h"
#include "query_tasks_int.h"
#include "quipu/arena.h"
#include "quipu/taskquery.h"
#include "quipu/tasks.h"
#include "quipu/text.h"
#include "store_int.h"
#include "taskcat_int.h"
#include "taskquery_int.h"

/* ---- params ---- */

/* The day the query's relative dates count from: the `today` param, else
 * the local date of the machine (a clock reading, not configuration). */
static qp_rc param_today(int32_t *out, json_t *params, qp_error *err)
{
    const char *s = NULL;
    qp_rc rc = qp__query_param_string(&s, params, "today", false, err);
    if (rc != QP_OK)
        return rc;
    if (s) {
        if (!qp_task_date_parse(s, out))
            return qp_error_set(err, QP_EINVAL, "param today: expected YYYY-MM-DD, got \"%s\"", s);
        return QP_OK;
    }
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm))
        return qp_error_set(err, QP_EIO, "local date unavailable");
    *out = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    return QP_OK;
}

/* The request's settings put over the vault's (`base`, may be NULL); *out
 * stays NULL when the request has none (then `base` applies as it is). */
static qp_rc param_settings(qp_tasks_settings **out, json_t *params, const qp_tasks_settings *base,
                            qp_error *err)
{
    *out = NULL;
    json_t *v = json_object_get(params, "settings");
    if (!v || json_is_null(v))
        return QP_OK;
    if (!json_is_object(v))
        return qp_error_set(err, QP_EINVAL, "param settings: expected an object");
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    qp_rc rc = qp__tasks_settings_over(out, base, text, err);
    free(text);
    if (rc == QP_EINVAL && err) { /* name the param, keep the engine's detail */
        char detail[QP_ERROR_MSG_MAX];
        snprintf(detail, sizeof detail, "%s", err->msg);
        return qp_error_set(err, QP_EINVAL, "param settings: %s", detail);
    }
    return rc;
}

/* ---- loading candidate tasks ---- */

typedef struct task_set {
    qp_arena *arena;
    qp_task *v;
    const char **raw; /* the source line of v[i]; NULL from the catalogue */
    size_t n, cap;
    /* From the catalogue: v[i] has its catalogue fields only, file[i] is its
     * file id; a task written is read by `line` (file, line -> raw) and
     * parsed into `scratch`, emptied after each. */
    int64_t *file;
    sqlite3_stmt *line;
    qp_arena *scratch;
    qp_store *st;
    struct slim_task *slim; /* v[] cut to what writing needs (slim_tasks) */
    qp_taskcat *cat;        /* v[] goes back to it */
} task_set;

/* What writing a catalogue task needs of it. */
typedef struct slim_task {
    const char *path, *heading;
    int line;
} slim_task;

static void task_set_free(task_set *ts)
{
    qp_arena_free(ts->arena);
    qp_arena_free(ts->scratch);
    sqlite3_finalize(ts->line);
    if (ts->cat)
        qp__taskcat_give_back(ts->cat, ts->v, ts->cap);
    else
        free(ts->v);
    free(ts->raw);
    free(ts->file);
    free(ts->slim);
    memset(ts, 0, sizeof *ts);
}

/* SQL text and bindings of the prefilter, built per query. */
typedef struct where {
    char sql[2048];
    size_t len;
    bool overflow;
    const char *texts[16]; /* text bindings, in order ?1.. */
    size_t ntexts;
} where;

static void where_add(where *w, const char *clause)
{
    size_t l = strlen(clause);
    const char *glue = w->len ? " AND " : " WHERE ";
    size_t g = strlen(glue);
    if (w->len + g + l + 1 > sizeof w->sql) {
        w->overflow = true;
        return;
    }
    memcpy(w->sql + w->len, glue, g);
    memcpy(w->sql + w->len + g, clause, l + 1);
    w->len += g + l;
}

/* SQL for "status_type is (not) one that qp_task_is_done() counts as
 * done": the prefilter of `done` and `not done`. */
static void where_done(where *w, bool done)
{
    char clause[64];
    snprintf(clause, sizeof clause, "t.status_type %s (%d, %d, %d)", done ? "IN" : "NOT IN",
             (int)QP_STATUS_DONE, (int)QP_STATUS_CANCELLED, (int)QP_STATUS_NON_TASK);
    where_add(w, clause);
}

static const char *const date_cols[QP_TASK_NDATES] = {"due",     "scheduled", "start",
                                                      "created", "done",      "cancelled"};

/* Adds the clauses that top-level filter f allows (see the file comment).
 * `fields_ok`: the stored parsed columns mean what this request's parser
 * would say. Text needles are borrowed from the compiled query. */
static void push_down(where *w, const tq_filter *f, bool fields_ok, char **phrases,
                      size_t *nphrases)
{
    char clause[160];
    if (f->negate)
        return;
    switch (f->kind) {
    case FK_TEXT:
        if (f->field != TF_PATH || f->regex || !f->needle || f->needle_len == 0 ||
            w->ntexts >= sizeof w->texts / sizeof w->texts[0])
            return;
        size_t chars = 0;
        for (size_t i = 0; i < f->needle_len; i++)
            chars += ((unsigned char)f->needle[i] & 0xC0) != 0x80;
        if (chars >= 3) {
            /* An FTS5 string: the needle in double quotes, quotes doubled. */
            char *p = malloc(2 * f->needle_len + 3);
            if (!p)
                return; /* no prefilter: slower, still right */
            size_t k = 0;
            p[k++] = '"';
            for (size_t i = 0; i < f->needle_len; i++) {
                if (f->needle[i] == '"')
                    p[k++] = '"';
                p[k++] = f->needle[i];
            }
            p[k++] = '"';
            p[k] = '\0';
            phrases[(*nphrases)++] = p;
            w->texts[w->ntexts++] = p;
            snprintf(clause, sizeof clause,
                     "t.file IN (SELECT rowid FROM task_paths WHERE task_paths MATCH ?%zu)",
                     w->ntexts);
        } else {
            w->texts[w->ntexts++] = f->needle;
            snprintf(clause, sizeof clause, "instr(f.path_folded, ?%zu) > 0", w->ntexts);
        }
        where_add(w, clause);
        return;
    case FK_DONE:
        if (fields_ok)
            where_done(w, true);
        return;
    case FK_STATUS_TYPE:
        if (fields_ok) {
            snprintf(clause, sizeof clause, "t.status_type = %d", f->value);
            where_add(w, clause);
        }
        return;
    case FK_DATE: {
        /* A task without a start date counts as started: not prefiltered. */
        if (!fields_ok || f->field < 0 || f->field >= QP_TASK_NDATES || f->field == QP_TASK_START)
            return;
        const char *c = date_cols[f->field];
        switch (f->op) {
        case DOP_BEFORE:
            snprintf(clause, sizeof clause, "t.%s < %d", c, (int)f->lo);
            break;
        case DOP_AFTER:
            snprintf(clause, sizeof clause, "t.%s > %d", c, (int)f->hi);
            break;
        case DOP_ON_OR_BEFORE:
            snprintf(clause, sizeof clause, "t.%s <= %d", c, (int)f->hi);
            break;
        case DOP_ON_OR_AFTER:
            snprintf(clause, sizeof clause, "t.%s >= %d", c, (int)f->lo);
            break;
        default:
            snprintf(clause, sizeof clause, "t.%s BETWEEN %d AND %d", c, (int)f->lo, (int)f->hi);
            break;
        }
        where_add(w, clause);
        return;
    }
    default:
        return;
    }
}

/* `not done` is FK_DONE negated: the one negation worth pushing down. */
static void push_not_done(where *w, const tq_filter *f, bool fields_ok)
{
    if (f->kind == FK_DONE && f->negate && fields_ok)
        where_done(w, false);
}

static bool grow(task_set *ts)
{
    size_t cap = ts->cap ? ts->cap * 2 : 256;
    qp_task *v = realloc(ts->v, cap * sizeof *v);
    if (!v)
        return false;
    ts->v = v;
    const char **r = realloc(ts->raw, cap * sizeof *r);
    if (!r)
        return false;
    ts->raw = r;
    ts->cap = cap;
    return true;
}

/* Prepares the task read for `q` in *out: the filters that can be pushed
 * down become its WHERE clause (phrases[] receives the strings it binds,
 * owned by the caller, who frees them after the statement). */
static qp_rc prepare_task_read(sqlite3_stmt **out, qp_store *st, const qp_taskquery *q,
                               const qp_tasks_settings *settings, char **phrases, size_t *nphrases,
                               qp_error *err)
{
    static const char head[] = "SELECT f.path, t.line, t.raw, t.heading FROM tasks t"
                               " JOIN files f ON f.id = t.file";
    static const char tail[] = " ORDER BY f.path, t.line";
    where w;
    memset(&w, 0, sizeof w);
    *out = NULL;
    if (!q->uses_blocking) {
        bool fields_ok = qp__tasks_settings_default_fields(settings);
        for (size_t i = 0; i < q->n_filters; i++) {
            push_down(&w, q->filters[i], fields_ok, phrases, nphrases);
            push_not_done(&w, q->filters[i], fields_ok);
        }
    }
    if (w.overflow) { /* too many clauses to hold: read everything */
        w.len = 0;
        w.ntexts = 0;
    }
    size_t n = sizeof head + w.len + sizeof tail;
    char *sql = malloc(n);
    if (!sql)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    snprintf(sql, n, "%s%s%s", head, w.len ? w.sql : "", tail);
    int src = sqlite3_prepare_v2(qp__store_db(st), sql, -1, out, NULL);
    free(sql);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, "tasks", err);
    for (size_t i = 0; i < w.ntexts; i++)
        sqlite3_bind_text(*out, (int)i + 1, w.texts[i], -1, SQLITE_STATIC);
    return QP_OK;
}

/* Adds the task of the current row of s to ts (when its line is a task
 * with `settings`); *path and *heading are the arena copies of the
 * current file's path and of the last heading, shared by the rows that
 * repeat them (the tasks of a meeting sit under one "Action Items": a
 * copy per task was 5 MB of a vault-wide answer at 100k notes). */
static qp_rc add_task_row(task_set *ts, sqlite3_stmt *s, const char **path, const char **heading,
                          const qp_tasks_settings *settings, qp_error *err)
{
    const char *p = (const char *)sqlite3_column_text(s, 0);
    const char *raw = (const char *)sqlite3_column_text(s, 2);
    const char *hd = (const char *)sqlite3_column_text(s, 3);
    int raw_len = sqlite3_column_bytes(s, 2);
    if (!p || !raw)
        return QP_OK;
    if (!*path || strcmp(*path, p) != 0) {
        if (!(*path = qp_arena_strdup(ts->arena, p)))
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if (hd && (!*heading || strcmp(*heading, hd) != 0) &&
        !(*heading = qp_arena_strdup(ts->arena, hd)))
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    if (ts->n == ts->cap && !grow(ts))
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    const char *raw_copy = qp_arena_strndup(ts->arena, raw, (size_t)raw_len);
    const char *h = hd ? *heading : NULL;
    if (!raw_copy)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    bool is_task = false;
    qp_task *t = &ts->v[ts->n];
    qp_rc rc = qp_task_parse_line(t, &is_task, raw_copy, (size_t)raw_len, *path, h, settings,
                                  ts->arena, err);
    if (rc != QP_OK || !is_task)
        return rc;
    t->line = sqlite3_column_int(s, 1) - 1; /* the engine counts from 0 */
    ts->raw[ts->n++] = raw_copy;
    return QP_OK;
}

/* Reads the tasks that can match `q`, file by file in line order, parsed
 * with `settings`. */
static qp_rc load_tasks(task_set *ts, qp_store *st, const qp_taskquery *q,
                        const qp_tasks_settings *settings, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    char *phrases[16] = {0};
    size_t nphrases = 0;
    memset(ts, 0, sizeof *ts);
    ts->arena = qp_arena_new();
    if (!ts->arena)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    qp_rc rc = prepare_task_read(&s, st, q, settings, phrases, &nphrases, err);
    if (rc == QP_OK) {
        const char *path = NULL, *heading = NULL;
        int src = SQLITE_DONE;
        while (rc == QP_OK && (src = sqlite3_step(s)) == SQLITE_ROW)
            rc = add_task_row(ts, s, &path, &heading, settings, err);
        if (rc == QP_OK && src != SQLITE_DONE)
            rc = qp__store_sqlite_error(st, src, "tasks", err);
    }
    sqlite3_finalize(s);
    for (size_t i = 0; i < nphrases; i++)
        free(phrases[i]);
    if (rc != QP_OK)
        task_set_free(ts);
    return rc;
}

/* ---- loading from the task catalogue ---- */

/* The filter reads only the catalogue's fields (qp__taskcat_collect). */
static bool filter_on_catalogue(const tq_filter *f)
{
    switch (f->kind) {
    case FK_DONE:
    case FK_STATUS_TYPE:
    case FK_DATE:
    case FK_HAS_DATE:
    case FK_DATE_INVALID:
    case FK_PRIORITY:
        return true;
    case FK_TEXT:
        return f->field == TF_PATH || f->field == TF_FILENAME || f->field == TF_FOLDER ||
               f->field == TF_ROOT || f->field == TF_HEADING;
    case FK_AND:
    case FK_OR:
    case FK_XOR:
        return filter_on_catalogue(f->a) && filter_on_catalogue(f->b);
    case FK_NOT:
        return filter_on_catalogue(f->a);
    default:
        return false;
    }
}

/* The sort or group key reads only the catalogue's fields. */
static bool key_on_catalogue(tq_key k)
{
    switch (k) {
    case K_STATUS:
    case K_STATUS_TYPE:
    case K_URGENCY:
    case K_DUE:
    case K_SCHEDULED:
    case K_START:
    case K_CREATED:
    case K_DONE:
    case K_CANCELLED:
    case K_HAPPENS:
    case K_PRIORITY:
    case K_PATH:
    case K_FILENAME:
    case K_HEADING:
    case K_FOLDER:
    case K_ROOT:
    case K_BACKLINK:
        return true;
    default:
        return false;
    }
}

/* Whether q may run on the catalogue's fields with `settings` (see the
 * file comment), and is worth it: a query that a path prefilter narrows
 * to a few notes reads them from the index at once. */
static bool catalogue_ok(const qp_taskquery *q, const qp_tasks_settings *settings)
{
    if (q->uses_blocking || !qp__tasks_settings_default_fields(settings) ||
        (settings && settings->global_filter && settings->global_filter[0]))
        return false;
    for (size_t i = 0; i < q->n_filters; i++) {
        const tq_filter *f = q->filters[i];
        if (!filter_on_catalogue(f))
            return false;
        if (f->kind == FK_TEXT && !f->negate && f->field == TF_PATH && !f->regex && f->needle &&
            f->needle_len > 0)
            return false; /* push_down() narrows it by task_paths */
    }
    for (size_t i = 0; i < q->n_sorters; i++)
        if (!key_on_catalogue(q->sorters[i].key))
            return false;
    for (size_t i = 0; i < q->n_groupers; i++)
        if (!key_on_catalogue(q->groupers[i].key))
            return false;
    return !q->has_column || key_on_catalogue(q->column.key);
}

/* The prefilter of push_down() and push_not_done(), on catalogue fields:
 * status and date filters at the top level (a date that is not a
 * calendar day is no date to them, as a NULL column to SQL). */
static bool catalogue_keep(const qp_task *t, const void *payload)
{
    const qp_taskquery *q = payload;
    for (size_t i = 0; i < q->n_filters; i++) {
        const tq_filter *f = q->filters[i];
        if (f->kind == FK_DONE && qp_task_is_done(t) == f->negate)
            return false;
        if (f->negate)
            continue;
        if (f->kind == FK_STATUS_TYPE && (int)t->status_type != f->value)
            return false;
        if (f->kind == FK_DATE && f->field >= 0 && f->field < QP_TASK_NDATES &&
            f->field != QP_TASK_START && !qp__tq_date_holds(f, t, f->field))
            return false;
    }
    return true;
}

/* Loads the tasks of q from the catalogue `cat`. *stale: the catalogue
 * is ahead of st's snapshot; nothing is loaded and the index is read. */
static qp_rc load_catalogue(task_set *ts, qp_taskcat *cat, qp_store *st, const qp_taskquery *q,
                            bool *stale, qp_error *err)
{
    memset(ts, 0, sizeof *ts);
    ts->arena = qp_arena_new();
    ts->scratch = qp_arena_new();
    ts->st = st;
    if (!ts->arena || !ts->scratch) {
        task_set_free(ts);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    qp_rc rc = qp__taskcat_collect(cat, st, ts->arena, catalogue_keep, q, &ts->v, &ts->cap,
                                   &ts->file, &ts->n, stale, err);
    if (rc == QP_OK && !*stale)
        rc =
            qp__mprepare(&ts->line, st, "SELECT raw FROM tasks WHERE file = ?1 AND line = ?2", err);
    if (rc == QP_OK && !*stale)
        ts->cat = cat;
    if (rc != QP_OK || *stale)
        task_set_free(ts);
    return rc;
}

/* Task k of a catalogue task set, read from the index and parsed with
 * `settings` into ts->scratch: *t and *raw. */
static qp_rc catalogue_task(qp_task *t, const char **raw, task_set *ts, size_t k,
                            const qp_tasks_settings *settings, qp_error *err)
{
    slim_task c =
        ts->slim ? ts->slim[k] : (slim_task){ts->v[k].path, ts->v[k].heading, ts->v[k].line};
    sqlite3_reset(ts->line);
    sqlite3_bind_int64(ts->line, 1, ts->file[k]);
    sqlite3_bind_int64(ts->line, 2, (sqlite3_int64)c.line + 1);
    int src = sqlite3_step(ts->line);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return qp__store_sqlite_error(ts->st, src, "tasks", err);
    const char *text = src == SQLITE_ROW ? (const char *)sqlite3_column_text(ts->line, 0) : NULL;
    bool is_task = false;
    if (text) {
        int len = sqlite3_column_bytes(ts->line, 0);
        if (!(*raw = qp_arena_strndup(ts->scratch, text, (size_t)len)))
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        qp_rc rc = qp_task_parse_line(t, &is_task, *raw, (size_t)len, c.path, c.heading, settings,
                                      ts->scratch, err);
        if (rc != QP_OK)
            return rc;
    }
    /* The catalogue came from this snapshot (qp__taskcat_collect), so the
     * line is there and is a task: anything else is a damaged index. */
    if (!is_task)
        return qp_error_set(err, QP_ECORRUPT, "index: task %s:%d is not in the index",
                            c.path ? c.path : "", c.line + 1);
    t->line = c.line;
    return QP_OK;
}

/* Once the engine has run, a catalogue task set that writes many tasks
 * keeps of each task only what writing reads (32 bytes of its 176): a
 * vault-wide answer then builds its 75 MB of text beside 5 MB of tasks,
 * not 27. Nothing is lost when out of memory: v stays. */
static void slim_tasks(task_set *ts)
{
    slim_task *sl = malloc((ts->n ? ts->n : 1) * sizeof *sl);
    if (sl == NULL)
        return;
    for (size_t i = 0; i < ts->n; i++)
        sl[i] = (slim_task){ts->v[i].path, ts->v[i].heading, ts->v[i].line};
    free(ts->v); /* not kept as the catalogue's spare: lower, not later */
    ts->v = NULL;
    ts->slim = sl;
}

/* ---- JSON ---- */

/* A JSON string of s; bytes that are not UTF-8 (a note may hold them)
 * become U+FFFD, so a task line never drops out of the answer. */
static json_t *safe_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s), w = 0;
    char *fixed = malloc(3 * len + 1);
    if (!fixed)
        return NULL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = qp_text_decode(s + i, len - i, &cp);
        if (l == 0)
            l = 1;
        if (cp == 0xFFFD && l == 1) {
            memcpy(fixed + w, "\xEF\xBF\xBD", 3);
            w += 3;
        } else {
            memcpy(fixed + w, s + i, l);
            w += l;
        }
        i += l;
    }
    j = json_stringn(fixed, w);
    free(fixed);
    return j;
}

/* s as a JSON string, as safe_string() would give it. */
static void jt_safe(qp__jtext *b, const char *s)
{
    qp__jt_string_or_null(b, s ? s : "", safe_string);
}

static void jt_date(qp__jtext *b, const qp_task *t, int f)
{
    char buf[11];
    if (t->dates[f] == 0) {
        qp__jt_str(b, "null");
        return;
    }
    qp_task_date_format(t->dates[f], buf);
    qp__jt_string(b, buf, strlen(buf));
}

/* A Task (see the top of the file), written as text: the members in the
 * order and the bytes of the compact dump of the jansson object it was
 * built as before (a vault-wide answer writes 155k of them, and an object
 * of 16 members made, dumped and freed per task was a third of its time). A status symbol that is
 * not UTF-8, which left the object without its status member, is shown as U+FFFD. */
static void task_text(qp__jtext *b, const qp_task *t, const char *raw,
                      const qp_tasks_settings *settings)
{
    static const char *const prio[] = {"highest", "high", "medium", "none", "low", "lowest"};
    static const char *const date_names[] = {",\"due\":",     ",\"scheduled\":", ",\"start\":",
                                             ",\"created\":", ",\"done\":",      ",\"cancelled\":"};
    static const int date_fields[] = {QP_TASK_DUE,     QP_TASK_SCHEDULED, QP_TASK_START,
                                      QP_TASK_CREATED, QP_TASK_DONE,      QP_TASK_CANCELLED};
    qp__jt_str(b, "{\"path\":");
    jt_safe(b, t->path);
    qp__jt_str(b, ",\"line\":");
    qp__jt_int(b, (long long)t->line + 1);
    qp__jt_str(b, ",\"status\":{\"symbol\":");
    jt_safe(b, t->symbol);
    qp__jt_str(b, ",\"type\":");
    jt_safe(b, qp_status_type_name(t->status_type));
    qp__jt_str(b, "},\"description\":");
    char *shown = qp__tasks_shown_description(settings, t->description ? t->description : "");
    jt_safe(b, shown ? shown : t->description ? t->description : "");
    free(shown);
    for (size_t i = 0; i < sizeof date_fields / sizeof date_fields[0]; i++) {
        qp__jt_str(b, date_names[i]);
        jt_date(b, t, date_fields[i]);
    }
    int p = (int)t->priority;
    qp__jt_str(b, ",\"priority\":");
    jt_safe(b, p >= 0 && p <= 5 ? prio[p] : "none");
    qp__jt_str(b, ",\"recurrence\":");
    qp__jt_string_or_null(b, t->recurrence, safe_string);
    qp__jt_str(b, ",\"tags\":[");
    for (size_t i = 0; i < t->n_tags; i++) {
        if (i)
            qp__jt_str(b, ",");
        jt_safe(b, t->tags[i]);
    }
    qp__jt_str(b, "],\"heading\":");
    qp__jt_string_or_null(b, t->heading, safe_string);
    qp__jt_str(b, ",\"text\":");
    jt_safe(b, raw);
    qp__jt_str(b, "}");
}

/* A group name as shown: without the "%%n%%" prefix that orders groups. */
static json_t *group_name(const char *name)
{
    if (name[0] == '%' && name[1] == '%') {
        const char *p = name + 2;
        while (isdigit((unsigned char)*p))
            p++;
        if (p > name + 2 && p[0] == '%' && p[1] == '%')
            name = p + 2;
    }
    return safe_string(name);
}

/* ---- the answer, written as text ---- */

/* Writes task k of ts; a task already written (a task can be in several
 * groups) is copied from where it was. span[k] = {offset, length}. A task
 * of the catalogue is read and parsed first (catalogue_task). */
static qp_rc write_task(qp__jtext *b, size_t (*span)[2], task_set *ts, size_t k,
                        const qp_tasks_settings *settings, qp_error *err)
{
    if (span[k][1]) {
        if (qp__jt_reserve(b, span[k][1])) {
            memcpy(b->p + b->len, b->p + span[k][0], span[k][1]);
            b->len += span[k][1];
        }
        return QP_OK;
    }
    size_t at = b->len;
    if (ts->file) {
        qp_task t;
        const char *raw = NULL;
        qp_rc rc = catalogue_task(&t, &raw, ts, k, settings, err);
        if (rc != QP_OK)
            return rc;
        task_text(b, &t, raw, settings);
        qp_arena_free(ts->scratch); /* one task's strings at a time */
        if (!(ts->scratch = qp_arena_new()))
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    } else {
        task_text(b, &ts->v[k], ts->raw[k], settings);
    }
    span[k][0] = at;
    span[k][1] = b->oom ? 0 : b->len - at;
    return QP_OK;
}

/* Writes {total, groups, explain?, next_cursor?} for r. With a page
 * (pg->limit > 0) only `limit` tasks from the cursor's offset "t" in the
 * result's order are written, each group that has tasks on the page with
 * its names (docs/protocol.md "Pages"); only those tasks are encoded. */
static qp_rc result_text(qp__jtext *b, const qp_taskquery *q, const qp_taskquery_result *r,
                         task_set *ts, const qp_tasks_settings *settings, qp__page *pg,
                         qp_error *err)
{
    qp_rc rc = QP_OK;
    size_t limit = pg ? pg->limit : 0;
    size_t from = limit ? qp__page_offset(pg, "t") : 0, seen = 0, kept = 0;
    size_t(*span)[2] = calloc(ts->n + 1, sizeof *span);
    char *cursor = NULL;
    bool oom = span == NULL;
    if (oom)
        goto cleanup;
    qp__jt_str(b, "{\"total\":");
    qp__jt_json(b, json_integer((json_int_t)r->total));
    qp__jt_str(b, ",\"groups\":[");
    bool first = true;
    for (size_t g = 0; g < r->n_groups && !b->oom; g++) {
        const qp_taskquery_group *gr = &r->groups[g];
        size_t n = gr->n_tasks, start = 0, end = n;
        if (limit) {
            if (seen + n <= from || kept == limit) {
                seen += n;
                continue;
            }
            start = from > seen ? from - seen : 0;
            end = n - start > limit - kept ? start + (limit - kept) : n;
            kept += end - start;
        }
        seen += n;
        qp__jt_str(b, first ? "{\"names\":[" : ",{\"names\":[");
        first = false;
        for (size_t i = 0; i < gr->n_names; i++) {
            if (i)
                qp__jt_str(b, ",");
            qp__jt_json(b, group_name(gr->names[i] ? gr->names[i] : ""));
        }
        qp__jt_str(b, "],\"tasks\":[");
        bool first_task = true;
        for (size_t i = start; i < end; i++) {
            size_t k = gr->tasks[i];
            if (k >= ts->n)
                continue;
            if (!first_task)
                qp__jt_str(b, ",");
            first_task = false;
            if ((rc = write_task(b, span, ts, k, settings, err)) != QP_OK)
                goto cleanup;
        }
        qp__jt_str(b, "]}");
    }
    qp__jt_str(b, "]");
    if (qp_taskquery_get_layout(q)->explain) { /* the `explain` instruction */
        char *text = qp_taskquery_explain(q);
        qp__jt_str(b, ",\"explain\":");
        qp__jt_json(b, text ? json_string(text) : NULL);
        free(text);
    }
    if (limit) {
        size_t next = (from > seen ? seen : from) + kept;
        oom = !(next < seen ? qp__page_mark_offset(pg, "t", next) : qp__page_mark_done(pg, "t"));
        if (!oom && (cursor = qp__page_cursor_text(pg, &oom)) != NULL) {
            qp__jt_str(b, ",\"next_cursor\":");
            qp__jt_json(b, json_string(cursor));
        }
    }
    qp__jt_str(b, "}");
cleanup:
    free(cursor);
    free(span);
    if (rc != QP_OK)
        return rc;
    if (oom || b->oom)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return QP_OK;
}

/* Tasks written from which a catalogue task set is cut down first. */
#define SLIM_FROM 4096

/* Compiles and runs one query text for the note at `from` (may be NULL)
 * and writes its result to b; pg (may be NULL: all) is the page. Nothing
 * is written when the query does not compile. */
static qp_rc run_one(qp__jtext *b, qp_store *st, const char *text, const char *from, int32_t today,
                     const qp_tasks_settings *settings, qp__page *pg, qp_error *err)
{
    qp_taskquery *q = NULL;
    qp_taskquery_result *r = NULL;
    task_set ts;
    memset(&ts, 0, sizeof ts);
    qp_taskquery_options opts = QP_TASKQUERY_OPTIONS_INIT;
    opts.today = today;
    opts.query_path = from;
    opts.settings = settings;
    qp_rc rc = qp_taskquery_compile(&q, text, &opts, err);
    qp_taskcat *cat = qp__store_taskcat(st);
    bool stale = true;
    if (rc == QP_OK && cat && catalogue_ok(q, settings))
        rc = load_catalogue(&ts, cat, st, q, &stale, err);
    if (rc == QP_OK && stale)
        rc = load_tasks(&ts, st, q, settings, err);
    if (rc == QP_OK)
        rc = qp_taskquery_run(&r, q, ts.v, ts.n, err);
    size_t limit = pg ? pg->limit : 0;
    if (rc == QP_OK && ts.file && (limit ? limit : r->shown) > SLIM_FROM)
        slim_tasks(&ts);
    if (rc == QP_OK)
        rc = result_text(b, q, r, &ts, settings, pg, err);
    qp_taskquery_result_free(r);
    task_set_free(&ts);
    qp_taskquery_free(q);
    return rc;
}

qp_rc qp__query_tasks(char **out, qp_store *st, const qp_tasks_settings *base, json_t *params,
                      qp__page *pg, qp_error *err)
{
    const char *query = NULL, *from = NULL;
    int32_t today = 0;
    qp_tasks_settings *settings = NULL;
    qp__jtext b = {0};
    *out = NULL;
    qp_rc rc = qp__query_param_string(&query, params, "query", true, err);
    if (rc == QP_OK)
        rc = qp__query_param_string(&from, params, "from", false, err);
    if (rc == QP_OK)
        rc = param_today(&today, params, err);
    if (rc == QP_OK)
        rc = param_settings(&settings, params, base, err);
    if (rc == QP_OK)
        rc = run_one(&b, st, query, from, today, settings ? settings : base, pg, err);
    qp_tasks_settings_free(settings);
    if (rc != QP_OK) {
        free(b.p);
        return rc;
    }
    if (!(*out = qp__jt_finish(&b)))
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return QP_OK;
}

typedef struct qblock {
    uint32_t line;
    char *query;
} qblock;

typedef struct qblocks {
    qblock *v;
    size_t n, cap;
    bool oom;
} qblocks;

static int collect_block(uint32_t line, const char *query, void *payload)
{
    qblocks *b = payload;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        qblock *v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->oom = true;
            return 1;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n].line = line;
    b->v[b->n].query = strdup(query);
    if (!b->v[b->n].query) {
        b->oom = true;
        return 1;
    }
    b->n++;
    return 0;
}

qp_rc qp__query_task_blocks(char **out, qp_store *st, const qp_tasks_settings *base,
                            const char *path, json_t *params, qp_error *err)
{
    int32_t today = 0;
    qp_tasks_settings *settings = NULL;
    qblocks bl = {0};
    qp__jtext b = {0};
    *out = NULL;
    qp_rc rc = param_today(&today, params, err);
    if (rc == QP_OK)
        rc = param_settings(&settings, params, base, err);
    if (rc != QP_OK)
        return rc;
    const qp_tasks_settings *use = settings ? settings : base;
    rc = qp_store_note_query_blocks(st, path, collect_block, &bl, err);
    if (bl.oom)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    if (rc != QP_OK)
        goto cleanup;
    qp__jt_str(&b, "[");
    for (size_t i = 0; i < bl.n && !b.oom; i++) {
        qp__jt_str(&b, i ? ",{\"line\":" : "{\"line\":");
        qp__jt_json(&b, json_integer((json_int_t)bl.v[i].line));
        qp__jt_str(&b, ",\"query\":");
        qp__jt_json(&b, safe_string(bl.v[i].query));
        size_t mark = b.len;
        qp__jt_str(&b, ",\"result\":");
        qp_error qerr = QP_ERROR_INIT;
        rc = run_one(&b, st, bl.v[i].query, path, today, use, NULL, &qerr);
        if (rc == QP_EQUERY) { /* a bad block is part of the answer, not a failure */
            b.len = mark;
            qp__jt_str(&b, ",\"error\":{\"line\":");
            qp__jt_json(&b, json_integer((json_int_t)qerr.line));
            qp__jt_str(&b, ",\"message\":");
            qp__jt_json(&b, safe_string(qerr.msg));
            qp__jt_str(&b, "}");
        } else if (rc != QP_OK) {
            if (err)
                *err = qerr;
            goto cleanup;
        }
        rc = QP_OK;
        qp__jt_str(&b, "}");
    }
    qp__jt_str(&b, "]");
    *out = qp__jt_finish(&b); /* frees the buffer when out of memory */
    b.p = NULL;
    if (!*out)
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    free(b.p);
    for (size_t i = 0; i < bl.n; i++)
        free(bl.v[i].query);
    free(bl.v);
    qp_tasks_settings_free(settings);
    return rc;
}
