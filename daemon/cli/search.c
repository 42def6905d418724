/*
 * search — `quipu search QUERY...`: full-text search through quipud's
 * `search` method (docs/search.md), printed one matching line per row as
 * `path:line:column: text`, which editors and grep-minded tools read as
 * places. The arguments are joined by spaces into one query. Every word is
 * whole unless it ends in '*' (no search-as-you-type prefix here: the
 * query is complete). --limit N bounds the results (default 20), --all
 * follows the cursor to the end.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define HL_ON  "\033[1;31m"
#define HL_OFF "\033[0m"

/* Prints one matching line with its hits highlighted. */
static void print_match(const qp_cli *cli, const char *path, const json_t *m)
{
    const char *text = json_string_value(json_object_get(m, "text"));
    json_int_t line = json_integer_value(json_object_get(m, "line"));
    json_int_t col = json_integer_value(json_object_get(m, "column"));
    json_int_t tcol = json_integer_value(json_object_get(m, "text_column"));
    size_t tlen = text ? strlen(text) : 0, at = 0, i;
    const json_t *h;

    printf("%s:%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT ": ", path, line, col);
    if (!cli->color || text == NULL) {
        printf("%s\n", text ? text : "");
        return;
    }
    json_array_foreach(json_object_get(m, "hits"), i, h)
    {
        json_int_t hc = json_integer_value(json_object_get(h, "column")) - tcol;
        json_int_t hl = json_integer_value(json_object_get(h, "length"));

        if (hc < (json_int_t)at || hc >= (json_int_t)tlen || hl <= 0)
            continue;
        if ((size_t)(hc + hl) > tlen)
            hl = (json_int_t)tlen - hc;
        printf("%.*s%s%.*s%s", (int)((size_t)hc - at), text + at, HL_ON, (int)hl, text + hc,
               HL_OFF);
        at = (size_t)(hc + hl);
    }
    printf("%s\n", text + at);
}

static void print_results(const qp_cli *cli, const json_t *result)
{
    size_t i, k;
    const json_t *r, *m;

    json_array_foreach(json_object_get(result, "results"), i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        const json_t *ms = json_object_get(r, "matches");
        json_int_t more = json_integer_value(json_object_get(r, "more_matches"));

        if (path == NULL)
            continue;
        if (json_array_size(ms) == 0) /* matched by name, path, tag or property */
            printf("%s\n", path);
        json_array_foreach(ms, k, m) print_match(cli, path, m);
        if (more > 0)
            printf("%s: … %" JSON_INTEGER_FORMAT " more matching line%s\n", path, more,
                   more == 1 ? "" : "s");
    }
}

int qp_cli_cmd_search(qp_cli *cli, const qp_cli_args *a)
{
    const char *limit_opt = qp_cli_opt_value(a, "--limit");
    bool all = qp_cli_opt_value(a, "--all") != NULL;
    char *query = NULL, *end = NULL;
    json_t *cursor = json_null();
    long limit = 20;
    size_t len = 0, shown = 0;
    int rc;

    if (limit_opt != NULL) {
        limit = strtol(limit_opt, &end, 10);
        if (*limit_opt == '\0' || *end != '\0' || limit < 1 || limit > 1000)
            return qp_cli_usage_error(a, "--limit wants a number from 1 to 1000, not '%s'",
                                      limit_opt);
    }
    for (int i = 0; i < a->npos; i++)
        len += strlen(a->pos[i]) + 1;
    query = calloc(len + 1, 1);
    if (query == NULL) {
        fputs("quipu: out of memory\n", stderr);
        return QP_CLI_EXIT_FAIL;
    }
    for (int i = 0; i < a->npos; i++) {
        if (i)
            strcat(query, " ");
        strcat(query, a->pos[i]);
    }
    rc = qp_cli_connect(cli);
    if (rc != 0) {
        free(query);
        return rc;
    }
    for (;;) {
        json_t *params = json_pack("{s:s, s:I, s:b, s:O}", "query", query, "limit",
                                   (json_int_t)limit, "prefix", 0, "cursor", cursor);
        json_t *result = NULL, *error = NULL;

        if (params == NULL) {
            fputs("quipu: out of memory\n", stderr);
            rc = QP_CLI_EXIT_FAIL;
            break;
        }
        rc = qp_cli_call(cli, "search", params, &result, &error);
        if (rc != 0)
            break;
        if (error != NULL) {
            rc = qp_cli_report_error(cli, error);
            json_decref(error);
            break;
        }
        if (cli->json)
            qp_cli_print_json(result, stdout, all);
        else
            print_results(cli, result);
        shown += json_array_size(json_object_get(result, "results"));
        json_decref(cursor);
        cursor = json_incref(json_object_get(result, "next_cursor"));
        if (!cli->json && !all && json_is_string(cursor))
            printf("(%zu of %" JSON_INTEGER_FORMAT " notes; --all or --limit N for more)\n", shown,
                   json_integer_value(json_object_get(result, "total")));
        json_decref(result);
        if (!all || !json_is_string(cursor))
            break;
    }
    json_decref(cursor);
    free(query);
    return rc;
}
