/*
 * tasks — the Obsidian Tasks task-line reader.
 *
 * A line is a task when it has indentation (whitespace and '>'), a list
 * marker, spaces, and a one-character checkbox. Fields are read from the
 * END of the body only, right to left, in passes: each pass tries every
 * field in the plugin's fixed order and strips what matches, until a pass
 * strips nothing. Text after a field therefore hides every field before it,
 * and a field written twice keeps its left-most value (it is read last).
 */
#include "quipu/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quipu/text.h"
#include "taskquery_int.h"

/* ---- days ---------------------------------------------------------------- */

int32_t qp__days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's algorithm: exact for the whole proleptic calendar. */
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

int32_t qp__ymd_from_days(int32_t z)
{
    z += 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    int32_t doe = z - era * 146097;
    int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t y = yoe + era * 400;
    int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int32_t mp = (5 * doy + 2) / 153;
    int32_t d = doy - (153 * mp + 2) / 5 + 1;
    int32_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    return y * 10000 + m * 100 + d;
}

int32_t qp__days_from_ymd(int32_t ymd)
{
    return qp__days_from_civil(ymd / 10000, ymd / 100 % 100, ymd % 100);
}

int qp__weekday(int32_t days)
{
    int w = (int)((days + 4) % 7); /* 1970-01-01 was a Thursday */
    return w < 0 ? w + 7 : w;
}

int qp__days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[(m - 1) % 12];
}

bool qp__valid_civil(int y, int m, int d)
{
    return m >= 1 && m <= 12 && d >= 1 && d <= qp__days_in_month(y, m);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The field-value shape \d{4}-\d{2}-\d{2} at s[0..10). */
static bool date_shape(const char *s)
{
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return false;
        } else if (!is_digit(s[i])) {
            return false;
        }
    }
    return true;
}

static int32_t shape_ymd(const char *s)
{
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    return y * 10000 + m * 100 + d;
}

bool qp_task_date_parse(const char *s, int32_t *out)
{
    if (strlen(s) != 10 || !date_shape(s))
        return false;
    int32_t v = shape_ymd(s);
    if (!qp__valid_civil(v / 10000, v / 100 % 100, v % 100))
        return false;
    *out = v;
    return true;
}

void qp_task_date_format(int32_t ymd, char buf[11])
{
    if (ymd == 0) {
        buf[0] = '\0';
        return;
    }
    int y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
    buf[0] = (char)('0' + y / 1000 % 10);
    buf[1] = (char)('0' + y / 100 % 10);
    buf[2] = (char)('0' + y / 10 % 10);
    buf[3] = (char)('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
}

/* ---- names ---------------------------------------------------------------- */

const char *qp_status_type_name(qp_status_type t)
{
    switch (t) {
    case QP_STATUS_IN_PROGRESS:
        return "IN_PROGRESS";
    case QP_STATUS_TODO:
        return "TODO";
    case QP_STATUS_ON_HOLD:
        return "ON_HOLD";
    case QP_STATUS_DONE:
        return "DONE";
    case QP_STATUS_CANCELLED:
        return "CANCELLED";
    case QP_STATUS_NON_TASK:
        return "NON_TASK";
    case QP_STATUS_EMPTY:
        return "EMPTY";
    }
    return "TODO";
}

const char *qp_task_priority_name(qp_task_priority p)
{
    static const char *const names[] = {"Highest", "High", "Medium", "None", "Low", "Lowest"};
    return (unsigned)p < 6 ? names[p] : "None";
}

bool qp_task_is_done(const qp_task *task)
{
    return task->status_type == QP_STATUS_DONE || task->status_type == QP_STATUS_CANCELLED ||
           task->status_type == QP_STATUS_NON_TASK;
}

/* ---- urgency -------------------------------------------------------------- */

double qp_task_urgency(const qp_task *t, int32_t today)
{
    static const double prio[] = {9.0, 6.0, 3.9, 1.95, 0.0, -1.8};
    double u = 0.0;
    int32_t tdays = qp__days_from_ymd(today);
    uint8_t inv = t->invalid_dates;

    if (t->dates[QP_TASK_DUE] && !(inv & (1u << QP_TASK_DUE))) {
        int32_t overdue = tdays - qp__days_from_ymd(t->dates[QP_TASK_DUE]);
        double mult;
        if (overdue >= 7)
            mult = 1.0;
        else if (overdue >= -14)
            mult = ((overdue + 14) * 0.8) / 21.0 + 0.2;
        else
            mult = 0.2;
        u += mult * 12.0;
    }
    /* "now" is some time during today: a scheduled day up to today has
     * started, a start day after today has not. */
    if (t->dates[QP_TASK_SCHEDULED] && !(inv & (1u << QP_TASK_SCHEDULED)) &&
        t->dates[QP_TASK_SCHEDULED] <= today)
        u += 5.0;
    if (t->dates[QP_TASK_START] && !(inv & (1u << QP_TASK_START)) &&
        t->dates[QP_TASK_START] > today)
        u -= 3.0;
    u += prio[(unsigned)t->priority < 6 ? t->priority : QP_PRIORITY_NONE];
    return u;
}

/* ---- statuses and settings ------------------------------------------------ */

typedef struct core_status {
    const char *symbol, *name;
    qp_status_type type;
} core_status;

/* The only four symbols the plugin knows without configuration; any other
 * symbol (uppercase X included) is an "Unknown" TODO. */
static const core_status core_statuses[] = {
    {" ", "Todo", QP_STATUS_TODO},
    {"x", "Done", QP_STATUS_DONE},
    {"/", "In Progress", QP_STATUS_IN_PROGRESS},
    {"-", "Cancelled", QP_STATUS_CANCELLED},
};

static void status_lookup(const qp_tasks_settings *s, const char *sym, const char **name,
                          qp_status_type *type)
{
    if (s != NULL) {
        for (size_t i = 0; i < s->n_statuses; i++) {
            if (strcmp(s->statuses[i].symbol, sym) == 0) {
                *name = s->statuses[i].name;
                *type = s->statuses[i].type;
                return;
            }
        }
    }
    for (size_t i = 0;
         (s == NULL || !s->statuses_only) && i < sizeof core_statuses / sizeof core_statuses[0];
         i++) {
        if (strcmp(core_statuses[i].symbol, sym) == 0) {
            *name = core_statuses[i].name;
            *type = core_statuses[i].type;
            return;
        }
    }
    *name = "Unknown";
    *type = QP_STATUS_TODO;
}

static bool type_from_name(const char *n, qp_status_type *out)
{
    static const struct {
        const char *name;
        qp_status_type t;
    } map[] = {{"TODO", QP_STATUS_TODO},
               {"DONE", QP_STATUS_DONE},
               {"IN_PROGRESS", QP_STATUS_IN_PROGRESS},
               {"ON_HOLD", QP_STATUS_ON_HOLD},
               {"CANCELLED", QP_STATUS_CANCELLED},
               {"NON_TASK", QP_STATUS_NON_TASK},
               {"EMPTY", QP_STATUS_EMPTY}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].name, n) == 0) {
            *out = map[i].t;
            return true;
        }
    }
    return false;
}

void qp_tasks_settings_free(qp_tasks_settings *s)
{
    if (s == NULL)
        return;
    free(s->global_filter);
    free(s->global_query);
    for (size_t i = 0; i < s->n_statuses; i++)
        free(s->statuses[i].name);
    free(s->statuses);
    for (size_t i = 0; i < s->n_presets; i++) {
        free(s->preset_names[i]);
        free(s->preset_texts[i]);
    }
    free(s->preset_names);
    free(s->preset_texts);
    free(s->filename_date_format);
    for (size_t i = 0; i < s->n_filename_date_folders; i++)
        free(s->filename_date_folders[i]);
    free(s->filename_date_folders);
    free(s->json);
    free(s);
}

/* The settings from the plugin's data.json. One piece: one short block per
 * key, in the file's order, each checking its type. */
static qp_rc settings_fill(qp_tasks_settings *s, json_t *root, qp_error *err)
{
    json_t *v;

    v = json_object_get(root, "globalFilter");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return qp_error_set(err, QP_EINVAL, "settings: globalFilter must be a string");
        if (json_string_length(v) > 0 && (s->global_filter = strdup(json_string_value(v))) == NULL)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    v = json_object_get(root, "globalQuery");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return qp_error_set(err, QP_EINVAL, "settings: globalQuery must be a string");
        if ((s->global_query = strdup(json_string_value(v))) == NULL)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    v = json_object_get(root, "useFilenameAsScheduledDate");
    s->filename_date = json_is_true(v);
    v = json_object_get(root, "filenameAsScheduledDateFormat");
    if (json_is_string(v) && json_string_length(v) > 0 &&
        (s->filename_date_format = strdup(json_string_value(v))) == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    v = json_object_get(root, "filenameAsDateFolders");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v))
            return qp_error_set(err, QP_EINVAL,
                                "settings: filenameAsDateFolders must be an array of strings");
        s->filename_date_folders = calloc(json_array_size(v) + 1, sizeof(char *));
        if (s->filename_date_folders == NULL)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *f = json_string_value(json_array_get(v, i));
            if (f == NULL)
                return qp_error_set(err, QP_EINVAL,
                                    "settings: filenameAsDateFolders must be an array of strings");
            size_t fl = strlen(f);
            while (fl > 0 && f[fl - 1] == '/')
                fl--;
            if (fl == 0)
                continue; /* the whole vault: same as no restriction by this entry */
            char *c = strndup(f, fl);
            if (c == NULL)
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            s->filename_date_folders[s->n_filename_date_folders++] = c;
        }
    }
    v = json_object_get(root, "taskFormat");
    if (json_is_string(v))
        s->dataview = strcmp(json_string_value(v), "dataview") == 0;
    v = json_object_get(root, "js");
    s->js = json_is_true(v);
    s->statuses_only = json_is_true(json_object_get(root, "statusesOnly"));
    s->presets_only = json_is_true(json_object_get(root, "presetsOnly"));
    s->ignore_sort = json_is_true(json_object_get(root, "ignoreSortInstructions"));
    s->remove_global_filter = json_is_true(json_object_get(root, "removeGlobalFilter"));

    v = json_object_get(root, "statuses");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v))
            return qp_error_set(err, QP_EINVAL, "settings: statuses must be an array");
        size_t n = json_array_size(v);
        s->statuses = calloc(n ? n : 1, sizeof *s->statuses);
        if (s->statuses == NULL)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            const char *sym = json_string_value(json_array_get(e, 0));
            const char *name = json_string_value(json_array_get(e, 1));
            const char *next = json_string_value(json_array_get(e, 2));
            const char *type = json_string_value(json_array_get(e, 3));
            qp__status_def *d = &s->statuses[s->n_statuses];
            if (sym == NULL || name == NULL || type == NULL || strlen(sym) >= sizeof d->symbol ||
                !type_from_name(type, &d->type))
                return qp_error_set(err, QP_EINVAL,
                                    "settings: statuses[%zu] must be [symbol, name, next, type]",
                                    i);
            strcpy(d->symbol, sym);
            if (next != NULL && strlen(next) < sizeof d->next)
                strcpy(d->next, next);
            if ((d->name = strdup(name)) == NULL)
                return qp_error_set(err, QP_ENOMEM, "out of memory");
            s->n_statuses++;
        }
    }

    v = json_object_get(root, "presets");
    if (v != NULL && !json_is_null(v)) {
        const char *key;
        json_t *val;
        size_t n = json_object_size(v);
        if (!json_is_object(v))
            return qp_error_set(err, QP_EINVAL, "settings: presets must be an object");
        s->preset_names = calloc(n ? n : 1, sizeof(char *));
        s->preset_texts = calloc(n ? n : 1, sizeof(char *));
        if (s->preset_names == NULL || s->preset_texts == NULL)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        json_object_foreach(v, key, val)
        {
            if (!json_is_string(val))
                return qp_error_set(err, QP_EINVAL, "settings: preset \"%s\" must be a string",
                                    key);
            s->preset_names[s->n_presets] = strdup(key);
            s->preset_texts[s->n_presets] = strdup(json_string_value(val));
            s->n_presets++;
            if (s->preset_names[s->n_presets - 1] == NULL ||
                s->preset_texts[s->n_presets - 1] == NULL)
                return qp_error_set(err, QP_ENOMEM, "out of memory");
        }
    }
    return QP_OK;
}

qp_rc qp_tasks_settings_from_json(qp_tasks_settings **out, const char *json, qp_error *err)
{
    qp_rc rc = QP_OK;
    qp_tasks_settings *s = NULL;
    json_t *root = NULL;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    if (json != NULL && json[0] != '\0') {
        json_error_t jerr;
        root = json_loads(json, JSON_DECODE_ANY, &jerr);
        if (root == NULL || (!json_is_object(root) && !json_is_null(root))) {
            rc = qp_error_set(err, QP_EINVAL, "settings: not a JSON object");
            goto cleanup;
        }
        if (json_is_object(root) && (rc = settings_fill(s, root, err)) != QP_OK)
            goto cleanup;
        if (json_is_object(root) &&
            (s->json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    *out = s;
    s = NULL;

cleanup:
    json_decref(root);
    qp_tasks_settings_free(s);
    return rc;
}

/* ---- the plugin's data.json ---------------------------------------------- */

#define TASKS_JSON ".obsidian/plugins/obsidian-tasks-plugin/data.json"

/* Copies member `key` of `from` to `to` when it has the JSON type `type`;
 * a member of another type is an error (the plugin would misbehave too). */
static qp_rc copy_member(json_t *to, json_t *from, const char *key, json_type type,
                         const char *what, qp_error *err)
{
    json_t *v = json_object_get(from, key);

    if (v == NULL || json_is_null(v))
        return QP_OK;
    if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)))
        return qp_error_set(err, QP_EINVAL, "%s: %s must be %s", TASKS_JSON, key, what);
    if (json_object_set(to, key, v) != 0)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return QP_OK;
}

/* Appends the StatusConfiguration objects of `list` as [symbol, name, next,
 * type] rows. `custom` applies the plugin's load-time repair of custom
 * statuses: a missing symbol is " ", a missing next symbol "x". A type the
 * plugin does not know is TODO (Status.getTypeFromStatusTypeString). */
static qp_rc add_statuses(json_t *rows, json_t *list, bool custom, const char *key, qp_error *err)
{
    size_t i;
    json_t *st;

    if (!json_is_array(list))
        return qp_error_set(err, QP_EINVAL, "%s: statusSettings.%s must be a list", TASKS_JSON,
                            key);
    json_array_foreach(list, i, st)
    {
        const char *sym = json_string_value(json_object_get(st, "symbol"));
        const char *name = json_string_value(json_object_get(st, "name"));
        const char *next = json_string_value(json_object_get(st, "nextStatusSymbol"));
        const char *type = json_string_value(json_object_get(st, "type"));
        qp_status_type t;

        if (!json_is_object(st))
            return qp_error_set(err, QP_EINVAL, "%s: statusSettings.%s[%zu] must be an object",
                                TASKS_JSON, key, i);
        if (sym == NULL && custom)
            sym = " ";
        if (next == NULL)
            next = custom ? "x" : "";
        if (type == NULL || !type_from_name(type, &t))
            type = "TODO";
        /* The checkbox holds one character: a longer symbol never matches,
         * so it is left out rather than truncated into a wrong one. */
        if (sym == NULL || strlen(sym) >= sizeof((qp__status_def *)0)->symbol)
            continue;
        if (json_array_append_new(rows, json_pack("[ssss]", sym, name ? name : "", next, type)) !=
            0)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    return QP_OK;
}

/* Translates data.json into the settings object of qp_tasks_settings_from_json. */
static qp_rc plugin_to_settings(json_t *out, json_t *doc, qp_error *err)
{
    static const struct {
        const char *key;
        json_type type;
        const char *what;
    } same[] = {
        {"globalFilter", JSON_STRING, "a string"},
        {"globalQuery", JSON_STRING, "a string"},
        {"taskFormat", JSON_STRING, "a string"},
        {"useFilenameAsScheduledDate", JSON_TRUE, "true or false"},
        {"filenameAsScheduledDateFormat", JSON_STRING, "a string"},
        {"filenameAsDateFolders", JSON_ARRAY, "a list of folders"},
        {"removeGlobalFilter", JSON_TRUE, "true or false"},
    };
    json_t *v, *presets;
    qp_rc rc;

    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if ((rc = copy_member(out, doc, same[i].key, same[i].type, same[i].what, err)) != QP_OK)
            return rc;

    /* The registry is exactly coreStatuses then customStatuses, the first
     * of a symbol winning (StatusSettings.applyToStatusRegistry clears the
     * defaults first): a vault that deleted "In Progress" has no [/]. */
    v = json_object_get(doc, "statusSettings");
    if (v != NULL && !json_is_null(v)) {
        json_t *rows = json_array();
        json_t *core = json_object_get(v, "coreStatuses");
        json_t *custom = json_object_get(v, "customStatuses");
        if (rows == NULL || json_object_set_new(out, "statuses", rows) != 0)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        if (!json_is_object(v))
            return qp_error_set(err, QP_EINVAL, "%s: statusSettings must be an object", TASKS_JSON);
        if (core == NULL) { /* absent: the plugin's two core statuses */
            if (json_array_append_new(rows, json_pack("[ssss]", " ", "Todo", "x", "TODO")) ||
                json_array_append_new(rows, json_pack("[ssss]", "x", "Done", " ", "DONE")))
                return qp_error_set(err, QP_ENOMEM, "out of memory");
        } else if ((rc = add_statuses(rows, core, false, "coreStatuses", err)) != QP_OK) {
            return rc;
        }
        if (custom != NULL && (rc = add_statuses(rows, custom, true, "customStatuses", err)))
            return rc;
        if (json_object_set_new(out, "statusesOnly", json_true()) != 0)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }

    /* Saved presets replace the built-in ones (the defaults are saved with
     * the file, and a preset the user deleted is gone). "includes" is the
     * name before 7.20's rename, migrated the way the plugin does. */
    presets = json_object_get(doc, "presets");
    if (presets == NULL)
        presets = json_object_get(doc, "includes");
    if (presets != NULL && !json_is_null(presets)) {
        const char *name;
        json_t *text;
        if (!json_is_object(presets))
            return qp_error_set(err, QP_EINVAL, "%s: presets must be an object", TASKS_JSON);
        json_object_foreach(presets, name, text)
        {
            if (!json_is_string(text))
                return qp_error_set(err, QP_EINVAL, "%s: preset \"%s\" must be a string",
                                    TASKS_JSON, name);
        }
        if (json_object_set(out, "presets", presets) != 0 ||
            json_object_set_new(out, "presetsOnly", json_true()) != 0)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
    }

    v = json_object_get(doc, "debugSettings");
    if (json_is_object(v) && json_is_true(json_object_get(v, "ignoreSortInstructions")) &&
        json_object_set_new(out, "ignoreSortInstructions", json_true()) != 0)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return QP_OK;
}

static qp_rc settings_from_object(qp_tasks_settings **out, json_t *obj, qp_error *err)
{
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    qp_rc rc;

    if (text == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    rc = qp_tasks_settings_from_json(out, text, err);
    free(text);
    return rc;
}

qp_rc qp__tasks_settings_from_plugin(qp_tasks_settings **out, const char *text, size_t len,
                                     qp_error *err)
{
    json_error_t jerr;
    json_t *doc, *obj = NULL;
    qp_rc rc;

    *out = NULL;
    doc = json_loadb(text, len, 0, &jerr);
    if (doc == NULL)
        return qp_error_set(err, QP_EINVAL, "%s:%d:%d: %s", TASKS_JSON, jerr.line, jerr.column,
                            jerr.text);
    if (!json_is_object(doc)) {
        rc = qp_error_set(err, QP_EINVAL, "%s: not a JSON object", TASKS_JSON);
        goto cleanup;
    }
    if ((obj = json_object()) == NULL) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = plugin_to_settings(obj, doc, err)) == QP_OK)
        rc = settings_from_object(out, obj, err);
    if (rc == QP_EINVAL && err != NULL && strncmp(err->msg, "settings: ", 10) == 0) {
        char detail[QP_ERROR_MSG_MAX];
        snprintf(detail, sizeof detail, "%s", err->msg + 10);
        qp_error_set(err, QP_EINVAL, "%s: %s", TASKS_JSON, detail);
    }
cleanup:
    json_decref(obj);
    json_decref(doc);
    return rc;
}

bool qp__tasks_settings_default_fields(const qp_tasks_settings *s)
{
    return s == NULL ||
           (s->n_statuses == 0 && !s->statuses_only && !s->dataview && !s->filename_date);
}

static bool is_js_space_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *qp__tasks_shown_description(const qp_tasks_settings *s, const char *desc)
{
    const char *gf = s != NULL && s->remove_global_filter ? s->global_filter : NULL;
    size_t gl = gf != NULL ? strlen(gf) : 0, n = strlen(desc), o = 0;
    char *out;
    bool hit = false;

    if (gl == 0 || strstr(desc, gf) == NULL || (out = malloc(n + 1)) == NULL)
        return NULL;
    /* RegExp('(^|\\s)' + gf + '($|\\s)', 'g') replaced by '$1$2': each match
     * keeps the white space around it; matches do not overlap, so the space
     * after one is not the space before the next. */
    bool trailing = false; /* desc[i - 1] was the white space ending a match */
    for (size_t i = 0; i < n;) {
        bool before = i == 0 || (!trailing && is_js_space_byte(desc[i - 1]));
        if (before && strncmp(desc + i, gf, gl) == 0 &&
            (desc[i + gl] == '\0' || is_js_space_byte(desc[i + gl]))) {
            hit = true;
            i += gl;
            trailing = desc[i] != '\0';
            if (trailing)
                out[o++] = desc[i++]; /* kept ($2), but no longer free to start a match */
            continue;
        }
        trailing = false;
        out[o++] = desc[i++];
    }
    out[o] = '\0';
    if (!hit) {
        free(out);
        return NULL;
    }
    /* .replace('  ', ' ') (the first double space only), then .trim() */
    char *dbl = strstr(out, "  ");
    if (dbl != NULL)
        memmove(dbl, dbl + 1, strlen(dbl + 1) + 1);
    size_t b = 0, e = strlen(out);
    while (b < e && is_js_space_byte(out[b]))
        b++;
    while (e > b && is_js_space_byte(out[e - 1]))
        e--;
    memmove(out, out + b, e - b);
    out[e - b] = '\0';
    return out;
}

qp_rc qp__tasks_settings_over(qp_tasks_settings **out, const qp_tasks_settings *base,
                              const char *client_json, qp_error *err)
{
    json_error_t jerr;
    json_t *merged = NULL, *client = NULL;
    qp_rc rc;

    *out = NULL;
    if (base == NULL || base->json == NULL)
        return qp_tasks_settings_from_json(out, client_json, err);
    client = json_loads(client_json, JSON_DECODE_ANY, &jerr);
    if (client == NULL || !json_is_object(client)) {
        json_decref(client);
        return qp_error_set(err, QP_EINVAL, "settings: not a JSON object");
    }
    if ((merged = json_loads(base->json, 0, &jerr)) == NULL) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    /* a client's own list of statuses or presets is read the client's way */
    if (json_object_get(client, "statuses") != NULL)
        json_object_del(merged, "statusesOnly");
    if (json_object_get(client, "presets") != NULL)
        json_object_del(merged, "presetsOnly");
    if (json_object_update(merged, client) != 0) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = settings_from_object(out, merged, err);
cleanup:
    json_decref(merged);
    json_decref(client);
    return rc;
}

/* ---- the line reader ------------------------------------------------------ */

static bool is_js_space(uint32_t cp)
{
    return cp == 0xFEFF || qp_text_is_space(cp);
}

/* Trims JavaScript white space from both ends of s[*b..*e). */
static void trim(const char *s, size_t *b, size_t *e)
{
    uint32_t cp;
    while (*b < *e) {
        size_t n = qp_text_decode(s + *b, *e - *b, &cp);
        if (!is_js_space(cp))
            break;
        *b += n;
    }
    while (*e > *b) {
        size_t n = qp_text_decode_before(s, *e, &cp);
        if (!is_js_space(cp))
            break;
        *e -= n;
    }
}

/* The code point ending at s[pos] (pos > b), or 0 when pos == b. */
static uint32_t cp_before(const char *s, size_t b, size_t pos, size_t *n)
{
    uint32_t cp;
    if (pos <= b) {
        *n = 0;
        return 0;
    }
    *n = qp_text_decode_before(s, pos, &cp);
    if (pos - *n < b) {
        *n = 0;
        return 0;
    }
    return cp;
}

/* At `pos` (where a field value, after optional spaces, begins), steps back
 * over ASCII spaces, an optional U+FE0F and one of the signifiers `sigs`.
 * On success returns the signifier and sets *start to where it begins. */
static uint32_t signifier_before(const char *s, size_t b, size_t pos, bool spaces,
                                 const uint32_t *sigs, size_t nsigs, size_t *start)
{
    size_t n;
    uint32_t cp;

    if (spaces) {
        while (pos > b && s[pos - 1] == ' ')
            pos--;
    }
    cp = cp_before(s, b, pos, &n);
    if (cp == 0xFE0F) {
        pos -= n;
        cp = cp_before(s, b, pos, &n);
    }
    for (size_t i = 0; i < nsigs; i++) {
        if (cp == sigs[i] && n > 0) {
            *start = pos - n;
            return cp;
        }
    }
    return 0;
}

typedef struct span {
    size_t b, e;
} span;

/* Working state of one line's field reader. */
typedef struct reader {
    const char *s;
    size_t b, e; /* the remaining body, trimmed */
    bool dataview;
} reader;

static bool strip_to(reader *r, size_t start)
{
    r->e = start;
    trim(r->s, &r->b, &r->e);
    return true;
}

/* emoji: SIG FE0F? ' '* YYYY-MM-DD $ */
static bool emoji_date(reader *r, const uint32_t *sigs, size_t nsigs, span *val)
{
    size_t start;
    if (r->e - r->b < 10 || !date_shape(r->s + r->e - 10))
        return false;
    if (!signifier_before(r->s, r->b, r->e - 10, true, sigs, nsigs, &start))
        return false;
    val->b = r->e - 10;
    val->e = r->e;
    return strip_to(r, start);
}

typedef bool (*char_class)(char c);

static bool cls_recur(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == ',' ||
           c == ' ' || c == '!';
}

static bool cls_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool cls_id(char c)
{
    return cls_alpha(c) || is_digit(c) || c == '-' || c == '_';
}

static bool cls_dep(char c)
{
    return cls_id(c) || c == ',' || c == ' ';
}

/* Index where the run of `cls` characters ending at r->e begins. */
static size_t run_back(const reader *r, char_class cls)
{
    size_t p = r->e;
    while (p > r->b && cls(r->s[p - 1]))
        p--;
    return p;
}

/* id( *, *id *)* over s[b..e) */
static bool dep_list_ok(const char *s, size_t b, size_t e)
{
    size_t p = b;
    for (;;) {
        size_t q = p;
        while (q < e && cls_id(s[q]))
            q++;
        if (q == p)
            return false;
        p = q;
        while (p < e && s[p] == ' ')
            p++;
        if (p == e)
            return true;
        if (s[p] != ',')
            return false;
        p++;
        while (p < e && s[p] == ' ')
            p++;
    }
}

static bool emoji_word(reader *r, uint32_t sig, char_class cls, span *val)
{
    size_t start, p = run_back(r, cls);
    if (p == r->e)
        return false;
    if (cls == cls_recur || cls == cls_dep) {
        /* the leading ' *' of the pattern takes the run's leading spaces */
        size_t q = p;
        while (q < r->e && r->s[q] == ' ')
            q++;
        if (q == r->e)
            q = r->e - 1;
        if (cls == cls_dep && !dep_list_ok(r->s, q, r->e))
            return false;
        if (!signifier_before(r->s, r->b, p, false, &sig, 1, &start))
            return false;
        val->b = q;
    } else {
        if (!signifier_before(r->s, r->b, p, true, &sig, 1, &start))
            return false;
        val->b = p;
    }
    val->e = r->e;
    return strip_to(r, start);
}

static bool emoji_priority(reader *r, qp_task_priority *out)
{
    static const uint32_t sigs[] = {0x1F53A, 0x23EB, 0x1F53C, 0x1F53D, 0x23EC};
    static const qp_task_priority prios[] = {QP_PRIORITY_HIGHEST, QP_PRIORITY_HIGH,
                                             QP_PRIORITY_MEDIUM, QP_PRIORITY_LOW,
                                             QP_PRIORITY_LOWEST};
    size_t start;
    uint32_t cp = signifier_before(r->s, r->b, r->e, false, sigs, 5, &start);
    if (cp == 0)
        return false;
    for (size_t i = 0; i < 5; i++)
        if (sigs[i] == cp)
            *out = prios[i];
    return strip_to(r, start);
}

static bool tag_char(uint32_t cp)
{
    return cp != 0 && strchr(" !@#$%^&*(),.?\":{}|<>", (int)cp) == NULL;
}

/* (^|\s)#[^ !@#$%^&*(),.?":{}|<>]+$ */
static bool trailing_tag(reader *r, span *val)
{
    size_t p = r->e, n;
    uint32_t cp;
    for (;;) {
        cp = cp_before(r->s, r->b, p, &n);
        if (n == 0 || (cp < 0x80 && !tag_char(cp)))
            break;
        p -= n;
    }
    if (p == r->e || n == 0 || cp != '#')
        return false;
    val->b = p - 1;
    val->e = r->e;
    cp = cp_before(r->s, r->b, p - 1, &n);
    if (n == 0)
        return strip_to(r, p - 1);
    if (!is_js_space(cp))
        return false;
    return strip_to(r, p - 1 - n);
}

/* Dataview: ('[' | '(') ' '* key '::' ' '* value ' '* (']' | ')') (' '* ',')? $
 * The opening bracket counts only when a matching closer follows it. */
static bool dv_field(reader *r, const char *key, char_class cls, bool date, span *val)
{
    const char *s = r->s;
    size_t e = r->e, klen = strlen(key);

    if (e > r->b && s[e - 1] == ',') {
        e--;
        while (e > r->b && s[e - 1] == ' ')
            e--;
    }
    if (e == r->b || (s[e - 1] != ']' && s[e - 1] != ')'))
        return false;
    size_t ve = e - 1;
    while (ve > r->b && s[ve - 1] == ' ')
        ve--;
    size_t vb;
    if (date) {
        if (ve - r->b < 10 || !date_shape(s + ve - 10))
            return false;
        vb = ve - 10;
    } else {
        vb = ve;
        while (vb > r->b && cls(s[vb - 1]))
            vb--;
        if (cls == cls_recur || cls == cls_dep) {
            while (vb < ve && s[vb] == ' ')
                vb++;
        }
        if (vb == ve)
            return false;
        if (cls == cls_dep && !dep_list_ok(s, vb, ve))
            return false;
    }
    size_t p = vb;
    while (p > r->b && s[p - 1] == ' ')
        p--;
    if (p - r->b < klen + 2 || memcmp(s + p - 2, "::", 2) != 0 ||
        memcmp(s + p - 2 - klen, key, klen) != 0)
        return false;
    p -= 2 + klen;
    while (p > r->b && s[p - 1] == ' ')
        p--;
    if (p == r->b || (s[p - 1] != '[' && s[p - 1] != '('))
        return false;
    val->b = vb;
    val->e = ve;
    return strip_to(r, p - 1);
}

static bool dv_priority(reader *r, qp_task_priority *out)
{
    static const char *const words[] = {"highest", "high", "medium", "low", "lowest"};
    static const qp_task_priority prios[] = {QP_PRIORITY_HIGHEST, QP_PRIORITY_HIGH,
                                             QP_PRIORITY_MEDIUM, QP_PRIORITY_LOW,
                                             QP_PRIORITY_LOWEST};
    span v;
    reader save = *r;
    if (!dv_field(r, "priority", cls_alpha, false, &v))
        return false;
    for (size_t i = 0; i < 5; i++) {
        if (v.e - v.b == strlen(words[i]) && memcmp(r->s + v.b, words[i], v.e - v.b) == 0) {
            *out = prios[i];
            return true;
        }
    }
    *r = save;
    return false;
}

static char *dup_span(qp_arena *a, const char *s, span v)
{
    return qp_arena_strndup(a, s + v.b, v.e - v.b);
}

static const uint32_t sig_done[] = {0x2705}, sig_cancelled[] = {0x274C},
                      sig_due[] = {0x1F4C5, 0x1F4C6, 0x1F5D3}, sig_sched[] = {0x23F3, 0x231B},
                      sig_start[] = {0x1F6EB}, sig_created[] = {0x2795};

static bool read_date(reader *r, qp_task_date_field f, span *v)
{
    static const char *const dv_keys[] = {"due",     "scheduled",  "start",
                                          "created", "completion", "cancelled"};
    if (r->dataview)
        return dv_field(r, dv_keys[f], NULL, true, v);
    switch (f) {
    case QP_TASK_DUE:
        return emoji_date(r, sig_due, 3, v);
    case QP_TASK_SCHEDULED:
        return emoji_date(r, sig_sched, 2, v);
    case QP_TASK_START:
        return emoji_date(r, sig_start, 1, v);
    case QP_TASK_CREATED:
        return emoji_date(r, sig_created, 1, v);
    case QP_TASK_DONE:
        return emoji_date(r, sig_done, 1, v);
    case QP_TASK_CANCELLED:
        return emoji_date(r, sig_cancelled, 1, v);
    case QP_TASK_NDATES:
        break;
    }
    return false;
}

static void set_date(qp_task *t, qp_task_date_field f, const char *s)
{
    int32_t v = shape_ymd(s);
    t->dates[f] = v;
    if (qp__valid_civil(v / 10000, v / 100 % 100, v % 100))
        t->invalid_dates &= (uint8_t) ~(1u << f);
    else
        t->invalid_dates |= (uint8_t)(1u << f);
}

/* Splits "a, b ,c" into the task's depends_on array. */
static qp_rc split_deps(qp_task *t, const char *s, span v, qp_arena *a)
{
    size_t n = 1;
    for (size_t i = v.b; i < v.e; i++)
        n += s[i] == ',';
    const char **ids = qp_arena_alloc(a, n * sizeof *ids);
    if (ids == NULL)
        return QP_ENOMEM;
    size_t k = 0, p = v.b;
    while (p < v.e) {
        while (p < v.e && (s[p] == ' ' || s[p] == ','))
            p++;
        size_t q = p;
        while (q < v.e && cls_id(s[q]))
            q++;
        if (q > p) {
            if ((ids[k] = qp_arena_strndup(a, s + p, q - p)) == NULL)
                return QP_ENOMEM;
            k++;
        }
        p = q;
    }
    t->depends_on = ids;
    t->n_depends_on = k;
    return QP_OK;
}

/* Finds the tags of a description: (^|\s)#[^ !@#$%^&*(),.?":{}|<>]+, scanned
 * left to right with each match consuming its leading white space. */
static qp_rc find_tags(qp_task *t, const char *desc, const char *gf, qp_arena *a)
{
    size_t len = strlen(desc), cap = 0, n = 0, p = 0;
    const char **tags = NULL;
    bool at_start = true; /* the previous character was consumed or is white space */

    while (p < len) {
        uint32_t cp;
        size_t cl = qp_text_decode(desc + p, len - p, &cp);
        if (cp == '#' && at_start) {
            size_t q = p + 1;
            while (q < len) {
                uint32_t c2;
                size_t l2 = qp_text_decode(desc + q, len - q, &c2);
                if (c2 < 0x80 && !tag_char(c2))
                    break;
                q += l2;
            }
            if (q > p + 1) {
                /* the match is trimmed: a tag ending in tabs loses them */
                size_t tb = p, te = q;
                trim(desc, &tb, &te);
                if (gf == NULL || strlen(gf) != te - tb || memcmp(gf, desc + tb, te - tb) != 0) {
                    if (n == cap) {
                        size_t nc = cap ? cap * 2 : 4;
                        tags = qp_arena_grow(a, tags, n, nc, sizeof *tags);
                        if (tags == NULL)
                            return QP_ENOMEM;
                        cap = nc;
                    }
                    if ((tags[n++] = qp_arena_strndup(a, desc + tb, te - tb)) == NULL)
                        return QP_ENOMEM;
                }
                p = q;
                at_start = false;
                continue;
            }
        }
        at_start = is_js_space(cp);
        p += cl;
    }
    t->tags = tags;
    t->n_tags = n;
    return QP_OK;
}

/* indentation ([\s>]*), marker ([-*+] | \d+[.)]), ' '+, '[' one UTF-16 unit ']', ' '* */
static bool match_task_prefix(const char *s, size_t len, size_t *indent_end, size_t *sym_b,
                              size_t *sym_e, size_t *body_b)
{
    size_t p = 0;
    uint32_t cp;

    while (p < len) {
        size_t n = qp_text_decode(s + p, len - p, &cp);
        if (cp != '>' && !is_js_space(cp))
            break;
        p += n;
    }
    *indent_end = p;
    if (p < len && (s[p] == '-' || s[p] == '*' || s[p] == '+')) {
        p++;
    } else {
        size_t q = p;
        while (q < len && is_digit(s[q]))
            q++;
        if (q == p || q >= len || (s[q] != '.' && s[q] != ')'))
            return false;
        p = q + 1;
    }
    if (p >= len || s[p] != ' ')
        return false;
    while (p < len && s[p] == ' ')
        p++;
    if (p >= len || s[p] != '[')
        return false;
    p++;
    if (p >= len)
        return false;
    size_t n = qp_text_decode(s + p, len - p, &cp);
    /* JavaScript's '.' is one UTF-16 unit and never a line terminator */
    if (cp >= 0x10000 || cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029)
        return false;
    *sym_b = p;
    *sym_e = p + n;
    p += n;
    if (p >= len || s[p] != ']')
        return false;
    p++;
    while (p < len && s[p] == ' ')
        p++;
    *body_b = p;
    return true;
}

/* Reads the date of a file name with a moment-style format, strictly (the
 * whole name must match): YYYY, MM, M, DD, D and [literal] are understood,
 * other letters make the format unusable here; other characters match
 * themselves. 0 when it does not match or is no calendar day. */
static int32_t date_by_format(const char *fmt, const char *s, size_t n)
{
    int y = -1, m = -1, d = -1;
    size_t i = 0;
    for (const char *f = fmt; *f;) {
        int *slot = NULL;
        size_t min = 0, max = 0, tl = 0;
        if (strncmp(f, "YYYY", 4) == 0)
            slot = &y, min = max = 4, tl = 4;
        else if (strncmp(f, "MM", 2) == 0)
            slot = &m, min = max = 2, tl = 2;
        else if (f[0] == 'M')
            slot = &m, min = 1, max = 2, tl = 1;
        else if (strncmp(f, "DD", 2) == 0)
            slot = &d, min = max = 2, tl = 2;
        else if (f[0] == 'D')
            slot = &d, min = 1, max = 2, tl = 1;
        if (slot != NULL) {
            size_t k = 0;
            int v = 0;
            while (k < max && i + k < n && s[i + k] >= '0' && s[i + k] <= '9')
                v = v * 10 + (s[i + k++] - '0');
            if (k < min)
                return 0;
            *slot = v;
            i += k;
            f += tl;
        } else if (f[0] == '[') {
            const char *e = strchr(f, ']');
            if (e == NULL)
                return 0;
            size_t ll = (size_t)(e - f) - 1;
            if (i + ll > n || memcmp(s + i, f + 1, ll) != 0)
                return 0;
            i += ll;
            f = e + 1;
        } else if ((f[0] >= 'a' && f[0] <= 'z') || (f[0] >= 'A' && f[0] <= 'Z')) {
            return 0; /* a token quipu does not read */
        } else {
            if (i >= n || s[i] != f[0])
                return 0;
            i++;
            f++;
        }
    }
    if (i != n || y < 0 || m < 0 || d < 0 || !qp__valid_civil(y, m, d))
        return 0;
    return y * 10000 + m * 100 + d;
}

/* The first YYYY-MM-DD (with dashes) or, failing that, YYYYMMDD in s, as
 * a date; 0 when there is none or the first one is no calendar day. */
static int32_t first_date_in(const char *s, size_t n, bool dashes)
{
    size_t w = dashes ? 10 : 8;
    for (size_t i = 0; i + w <= n; i++) {
        bool ok = true;
        for (size_t k = 0; k < w && ok; k++) {
            bool dash = dashes && (k == 4 || k == 7);
            ok = dash ? s[i + k] == '-' : is_digit(s[i + k]);
        }
        if (!ok)
            continue;
        const char *p = s + i;
        int y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
        const char *q = p + (dashes ? 5 : 4);
        int m = (q[0] - '0') * 10 + (q[1] - '0');
        const char *r = q + (dashes ? 3 : 2);
        int d = (r[0] - '0') * 10 + (r[1] - '0');
        return qp__valid_civil(y, m, d) ? y * 10000 + m * 100 + d : -1;
    }
    return 0;
}

/* A.8: the date a file's name gives its undated tasks, or 0. */
static int32_t filename_date(const qp_tasks_settings *s, const char *path)
{
    if (path == NULL)
        return 0;
    if (s->n_filename_date_folders > 0) {
        bool inside = false;
        for (size_t i = 0; i < s->n_filename_date_folders && !inside; i++) {
            size_t fl = strlen(s->filename_date_folders[i]);
            inside = strncmp(path, s->filename_date_folders[i], fl) == 0 && path[fl] == '/';
        }
        if (!inside)
            return 0;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot ? (size_t)(dot - base) : strlen(base);
    if (s->filename_date_format != NULL) {
        int32_t d = date_by_format(s->filename_date_format, base, n);
        if (d != 0)
            return d;
    }
    int32_t d = first_date_in(base, n, true);
    if (d == 0)
        d = first_date_in(base, n, false);
    return d > 0 ? d : 0;
}

qp_rc qp_task_parse_line(qp_task *out, bool *is_task, const char *line, size_t len,
                         const char *path, const char *heading, const qp_tasks_settings *settings,
                         qp_arena *arena, qp_error *err)
{
    size_t ind_e, sym_b, sym_e, body_b;
    char *buf = NULL;
    qp_task t;
    reader r;
    span v, rec = {0, 0}, tagspan;
    bool have_rec = false;
    const char *gf = settings != NULL ? settings->global_filter : NULL;
    /* trailing tags, collected right to left */
    span tagstack[64];
    size_t ntags = 0;

    *is_task = false;
    memset(&t, 0, sizeof t);
    if (!match_task_prefix(line, len, &ind_e, &sym_b, &sym_e, &body_b))
        return QP_OK;
    size_t be = len;
    trim(line, &body_b, &be);
    if (gf != NULL) {
        char *body = qp_arena_strndup(arena, line + body_b, be - body_b);
        if (body == NULL)
            goto oom;
        if (strstr(body, gf) == NULL)
            return QP_OK;
    }

    t.path = path;
    t.heading = heading;
    t.priority = QP_PRIORITY_NONE;
    /* Most tasks have no indent: the one empty string, not an arena block
     * each (16 bytes of 155k tasks in a vault-wide answer at 100k notes). */
    t.indent = ind_e == 0 ? "" : qp_arena_strndup(arena, line, ind_e);
    if (t.indent == NULL)
        goto oom;
    if (sym_e - sym_b < sizeof t.symbol)
        memcpy(t.symbol, line + sym_b, sym_e - sym_b);
    status_lookup(settings, t.symbol, &t.status_name, &t.status_type);

    buf = qp_arena_strndup(arena, line + body_b, be - body_b);
    if (buf == NULL)
        goto oom;
    r.s = buf;
    r.b = 0;
    r.e = be - body_b;
    r.dataview = settings != NULL && settings->dataview;

    /* a trailing " ^block-id" is the block link, never part of the fields */
    {
        size_t p = r.e;
        while (p > r.b && (cls_alpha(buf[p - 1]) || is_digit(buf[p - 1]) || buf[p - 1] == '-'))
            p--;
        if (p < r.e && p >= r.b + 2 && buf[p - 1] == '^' && buf[p - 2] == ' ') {
            if ((t.block_link = qp_arena_strndup(arena, buf + p - 1, r.e - p + 1)) == NULL)
                goto oom;
            r.e = p - 2;
            trim(buf, &r.b, &r.e);
        }
    }

    for (int pass = 0; pass < 21; pass++) {
        bool matched = false;
        qp_task_priority prio;

        if (r.dataview ? dv_priority(&r, &prio) : emoji_priority(&r, &prio)) {
            t.priority = prio;
            matched = true;
        }
        static const qp_task_date_field order[] = {QP_TASK_DONE,  QP_TASK_CANCELLED,
                                                   QP_TASK_DUE,   QP_TASK_SCHEDULED,
                                                   QP_TASK_START, QP_TASK_CREATED};
        for (size_t i = 0; i < 6; i++) {
            if (read_date(&r, order[i], &v)) {
                set_date(&t, order[i], buf + v.b);
                matched = true;
            }
        }
        if (r.dataview ? dv_field(&r, "repeat", cls_recur, false, &v)
                       : emoji_word(&r, 0x1F501, cls_recur, &v)) {
            rec = v;
            have_rec = true;
            matched = true;
        }
        if (r.dataview ? dv_field(&r, "onCompletion", cls_alpha, false, &v)
                       : emoji_word(&r, 0x1F3C1, cls_alpha, &v)) {
            if ((t.on_completion = dup_span(arena, buf, v)) == NULL)
                goto oom;
            matched = true;
        }
        if (trailing_tag(&r, &tagspan)) {
            size_t tb = tagspan.b, te = tagspan.e;
            trim(buf, &tb, &te);
            if (ntags < sizeof tagstack / sizeof tagstack[0])
                tagstack[ntags++] = (span){tb, te};
            matched = true;
        }
        if (r.dataview ? dv_field(&r, "id", cls_id, false, &v)
                       : emoji_word(&r, 0x1F194, cls_id, &v)) {
            if ((t.id = dup_span(arena, buf, v)) == NULL)
                goto oom;
            matched = true;
        }
        if (r.dataview ? dv_field(&r, "dependsOn", cls_dep, false, &v)
                       : emoji_word(&r, 0x26D4, cls_dep, &v)) {
            if (split_deps(&t, buf, v, arena) != QP_OK)
                goto oom;
            matched = true;
        }
        if (!matched)
            break;
    }

    if (have_rec) {
        char norm[256];
        size_t e = rec.e;
        while (e > rec.b && buf[e - 1] == ' ')
            e--;
        if ((t.recurrence_text = qp_arena_strndup(arena, buf + rec.b, e - rec.b)) == NULL)
            goto oom;
        if (qp__recurrence_normalise(buf + rec.b, e - rec.b, norm, sizeof norm) &&
            (t.recurrence = qp_arena_strdup(arena, norm)) == NULL)
            goto oom;
    }

    /* description = the rest, plus the peeled tags in their original order */
    {
        size_t dl = r.e - r.b, total = dl;
        for (size_t i = 0; i < ntags; i++)
            total += 1 + tagstack[i].e - tagstack[i].b;
        char *d = qp_arena_alloc(arena, total + 1);
        if (d == NULL)
            goto oom;
        memcpy(d, buf + r.b, dl);
        size_t k = dl;
        for (size_t i = ntags; i-- > 0;) {
            d[k++] = ' ';
            memcpy(d + k, buf + tagstack[i].b, tagstack[i].e - tagstack[i].b);
            k += tagstack[i].e - tagstack[i].b;
        }
        d[k] = '\0';
        size_t db = 0, de = k;
        trim(d, &db, &de);
        d[de] = '\0';
        t.description = d + db;
    }
    if (find_tags(&t, t.description, gf, arena) != QP_OK)
        goto oom;
    if (settings != NULL && settings->filename_date && t.dates[QP_TASK_START] == 0 &&
        t.dates[QP_TASK_SCHEDULED] == 0 && t.dates[QP_TASK_DUE] == 0)
        t.dates[QP_TASK_SCHEDULED] = filename_date(settings, path);

    *out = t;
    *is_task = true;
    return QP_OK;

oom:
    return qp_error_set(err, QP_ENOMEM, "out of memory");
}
