/*
 * eval_tasks — `quipu eval-tasks`: the query playground and the harness of
 * test/cases/tasks-cases.jsonl. One JSON object per input line, one JSON
 * object per output line, in order; a query error is an output line, not a
 * failure of the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "quipu/taskquery.h"
#include "quipu/tasks.h"

static int32_t local_today(void)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static json_t *error_line(const char *msg)
{
    return json_pack("{s:s}", "error", msg);
}

/* Evaluates one case object; returns the output object (new). */
static json_t *eval_case(json_t *in)
{
    json_t *res = NULL, *tasks = json_object_get(in, "tasks");
    const char *query = json_string_value(json_object_get(in, "query"));
    const char *today_s = json_string_value(json_object_get(in, "today"));
    const char *qpath = json_string_value(json_object_get(in, "query_path"));
    json_t *settings = json_object_get(in, "settings");
    json_t *props = json_object_get(in, "query_properties");
    qp_tasks_settings *st = NULL;
    qp_taskquery_result *r = NULL;
    qp_error err = QP_ERROR_INIT;
    size_t n = json_array_size(tasks);
    const char **lines = calloc(n ? n : 1, sizeof *lines);
    const char **paths = calloc(n ? n : 1, sizeof *paths);
    const char **heads = calloc(n ? n : 1, sizeof *heads);
    char *sjson = NULL, *pjson = NULL;

    if (lines == NULL || paths == NULL || heads == NULL) {
        res = error_line("out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tasks, i);
        lines[i] = json_string_value(json_object_get(t, "line"));
        paths[i] = json_string_value(json_object_get(t, "path"));
        heads[i] = json_string_value(json_object_get(t, "heading"));
        if (paths[i] == NULL)
            paths[i] = "";
    }
    if (json_is_object(settings)) {
        sjson = json_dumps(settings, JSON_COMPACT);
        if (sjson == NULL) {
            res = error_line("out of memory");
            goto cleanup;
        }
    }
    if (qp_tasks_settings_from_json(&st, sjson, &err) != QP_OK) {
        res = error_line(err.msg);
        goto cleanup;
    }
    qp_taskquery_options opts = QP_TASKQUERY_OPTIONS_INIT;
    opts.today = local_today();
    if (today_s != NULL && !qp_task_date_parse(today_s, &opts.today)) {
        res = error_line("today must be YYYY-MM-DD");
        goto cleanup;
    }
    opts.query_path = qpath;
    opts.settings = st;
    if (json_is_object(props)) {
        pjson = json_dumps(props, JSON_COMPACT);
        if (pjson == NULL) {
            res = error_line("out of memory");
            goto cleanup;
        }
        opts.query_properties = pjson;
    }
    if (qp_tasks_eval(&r, query ? query : "", lines, paths, heads, n, &opts, &err) != QP_OK) {
        res = error_line(err.msg[0] ? err.msg : "error");
        goto cleanup;
    }
    json_t *groups = json_array();
    res = json_pack("{s:o,s:I}", "groups", groups, "total", (json_int_t)r->total);
    if (res == NULL)
        goto cleanup;
    for (size_t g = 0; g < r->n_groups; g++) {
        json_t *names = json_array(), *ids = json_array();
        for (size_t k = 0; k < r->groups[g].n_names; k++)
            json_array_append_new(names, json_string(r->groups[g].names[k]));
        for (size_t k = 0; k < r->groups[g].n_tasks; k++)
            json_array_append_new(ids, json_integer((json_int_t)r->groups[g].tasks[k]));
        json_array_append_new(groups, json_pack("{s:o,s:o}", "names", names, "tasks", ids));
    }

cleanup:
    qp_taskquery_result_free(r);
    qp_tasks_settings_free(st);
    free(sjson);
    free(pjson);
    free(lines);
    free(paths);
    free(heads);
    return res;
}

/* Reads JSON Lines from stdin, each {"query", "tasks": [{"line", "path",
 * "heading"}], "today", "query_path", "settings"}, and writes one line per
 * input: {"groups": [{"names": [...], "tasks": [input indices]}], "total":
 * N} or {"error": "message"}. Exits 0 when every line was read (query errors
 * are results), 2 on an unreadable input line. */
int qp_cli_cmd_eval_tasks(qp_cli *cli, const qp_cli_args *a)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    (void)cli;
    (void)a;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        json_error_t jerr;
        json_t *in, *outj;
        if (len == 0 || (len == 1 && line[0] == '\n'))
            continue;
        in = json_loadb(line, (size_t)len, 0, &jerr);
        if (!json_is_object(in)) {
            outj = error_line("input line is not a JSON object");
            rc = 2;
        } else {
            outj = eval_case(in);
        }
        if (outj == NULL)
            outj = error_line("out of memory");
        char *s = json_dumps(outj, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (s != NULL) {
            fputs(s, stdout);
            fputc('\n', stdout);
            free(s);
        }
        fflush(stdout);
        json_decref(outj);
        json_decref(in);
    }
    free(line);
    return rc;
}
