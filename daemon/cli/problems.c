/*
 * problems — `quipu problems` and `quipu list`: the daemon's `problems`
 * and `list` methods, every page fetched (or one page with --limit).
 *
 * problems prints one line per problem, `path:line:column: severity: text
 * [kind]`, the form compilers use, so `nvim -q` and editors' quickfix
 * lists read it (a problem about a whole file has line 1, column 1 there).
 * list prints one vault path per line. With --json both print the method's
 * result, all pages merged into one.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Fetches every page of `method` (or only the first `limit` rows when
 * limit > 0) and merges the arrays under `key`. Takes params. *out is the
 * merged result (new) or NULL after an error was printed. */
static int fetch_pages(qp_cli *cli, const char *method, json_t *params, const char *key, long limit,
                       json_t **out)
{
    json_t *merged = NULL;
    int rc = QP_CLI_EXIT_OK;

    *out = NULL;
    if (params == NULL) {
        fputs("quipu: out of memory\n", stderr);
        return QP_CLI_EXIT_FAIL;
    }
    json_object_set_new(params, "limit", json_integer(limit > 0 ? limit : 1000));
    for (;;) {
        json_t *result = NULL, *error = NULL, *cursor;

        rc = qp_cli_call(cli, method, json_incref(params), &result, &error);
        if (rc != 0)
            break;
        if (error != NULL) {
            rc = qp_cli_report_error(cli, error);
            json_decref(error);
            break;
        }
        cursor = json_incref(json_object_get(result, "next_cursor"));
        if (merged == NULL) {
            merged = result;
        } else {
            json_array_extend(json_object_get(merged, key), json_object_get(result, key));
            json_object_del(merged, "next_cursor");
            if (cursor != NULL)
                json_object_set(merged, "next_cursor", cursor);
            json_decref(result);
        }
        if (limit > 0 || !json_is_string(cursor)) { /* one page asked for, or the last */
            json_decref(cursor);
            break;
        }
        json_object_set_new(params, "cursor", cursor); /* the next page */
    }
    json_decref(params);
    if (rc == 0)
        *out = merged;
    else
        json_decref(merged);
    return rc;
}

static long limit_opt(const qp_cli_args *a, int *rc)
{
    const char *s = qp_cli_opt_value(a, "--limit");
    char *end = NULL;
    long n;

    *rc = 0;
    if (s == NULL)
        return 0;
    n = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || n < 1 || n > 100000)
        *rc = qp_cli_usage_error(a, "--limit: expected a number from 1 to 100000, got '%s'", s);
    return n;
}

/* A message on one line: a Tasks error spans two ("do not understand
 * query" / "Problem line: ..."). */
static void print_one_line(const char *msg, FILE *out)
{
    for (const char *p = msg; *p; p++)
        if (*p == '\n')
            fputs(" - ", out);
        else
            fputc(*p, out);
}

int qp_cli_cmd_problems(qp_cli *cli, const qp_cli_args *a)
{
    const char *kind = qp_cli_opt_value(a, "--kind");
    json_t *params = json_object(), *result = NULL;
    int rc;
    long limit = limit_opt(a, &rc);

    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    rc = qp_cli_connect(cli);
    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    if (params != NULL && a->npos == 1)
        json_object_set_new(params, "note", json_string(a->pos[0]));
    if (params != NULL && kind != NULL) {
        json_t *kinds = json_array();
        char *copy = strdup(kind), *save = NULL;

        for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; k; k = strtok_r(NULL, ",", &save))
            json_array_append_new(kinds, json_string(k));
        free(copy);
        json_object_set_new(params, "kinds", kinds);
    }
    rc = fetch_pages(cli, "problems", params, "problems", limit, &result);
    if (rc != 0)
        return rc;
    if (cli->json) {
        qp_cli_print_json(result, stdout, false);
    } else {
        size_t i;
        json_t *p;

        json_array_foreach(json_object_get(result, "problems"), i, p)
        {
            long long line = json_integer_value(json_object_get(p, "line"));
            long long col = json_integer_value(json_object_get(p, "column"));

            printf("%s:%lld:%lld: %s: ", json_string_value(json_object_get(p, "path")),
                   line > 0 ? line : 1, col > 0 ? col : 1,
                   json_string_value(json_object_get(p, "severity")));
            print_one_line(json_string_value(json_object_get(p, "message")), stdout);
            printf(" [%s]\n", json_string_value(json_object_get(p, "kind")));
        }
        if (json_integer_value(json_object_get(result, "total")) >
            (json_int_t)json_array_size(json_object_get(result, "problems")))
            fprintf(stderr, "quipu: %lld problems, %zu shown\n",
                    (long long)json_integer_value(json_object_get(result, "total")),
                    json_array_size(json_object_get(result, "problems")));
    }
    json_decref(result);
    return QP_CLI_EXIT_OK;
}

int qp_cli_cmd_list(qp_cli *cli, const qp_cli_args *a)
{
    static const char *const passed[][2] = {
        {"--kind", "kind"}, {"--folder", "folder"}, {"--tag", "tag"}, {"--sort", "sort"}};
    const char *prop = qp_cli_opt_value(a, "--property");
    json_t *params = json_object(), *result = NULL;
    int rc;
    long limit = limit_opt(a, &rc);

    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    for (size_t i = 0; params != NULL && i < sizeof passed / sizeof passed[0]; i++) {
        const char *v = qp_cli_opt_value(a, passed[i][0]);
        if (v != NULL)
            json_object_set_new(params, passed[i][1], json_string(v));
    }
    if (params != NULL && prop != NULL) { /* KEY or KEY=VALUE */
        const char *eq = strchr(prop, '=');
        json_object_set_new(params, "property",
                            eq ? json_stringn(prop, (size_t)(eq - prop)) : json_string(prop));
        if (eq)
            json_object_set_new(params, "value", json_string(eq + 1));
    }
    rc = qp_cli_connect(cli);
    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    rc = fetch_pages(cli, "list", params, "notes", limit, &result);
    if (rc != 0)
        return rc;
    if (cli->json) {
        qp_cli_print_json(result, stdout, false);
    } else {
        size_t i;
        json_t *n;

        json_array_foreach(json_object_get(result, "notes"), i, n)
            puts(json_string_value(json_object_get(n, "path")));
    }
    json_decref(result);
    return QP_CLI_EXIT_OK;
}
