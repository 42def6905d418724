/*
 * commands — the handlers of quipu's commands that ask the daemon: one
 * request each (two for `status --wait` and `watch`, which subscribe), then
 * render. Their rows, with synopsis and options, are in table.c; argv is
 * parsed by dispatch.c before a handler runs.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static bool is_date(const char *s)
{
    static const char shape[] = "dddd-dd-dd";

    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
            return false;
    }
    return true;
}

/* Reads all of standard input into a new string (free it). NULL on error,
 * after printing why. */
static char *read_stdin(void)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);

    if (buf == NULL)
        goto oom;
    for (;;) {
        size_t r;

        if (cap - len < 1024) {
            char *b = realloc(buf, cap * 2);

            if (b == NULL)
                goto oom;
            buf = b;
            cap *= 2;
        }
        r = fread(buf + len, 1, cap - len - 1, stdin);
        len += r;
        if (r == 0) {
            if (ferror(stdin)) {
                qp_cli_error(NULL, "reading standard input: %s", strerror(errno));
                free(buf);
                return NULL;
            }
            break;
        }
    }
    buf[len] = '\0';
    return buf;
oom:
    free(buf);
    qp_cli_error(NULL, "out of memory");
    return NULL;
}

/* The `note` parameter for NOTE as the user typed it. A NOTE that names an
 * existing .md file (say, completed by the shell from inside a subfolder)
 * is turned into its vault-relative path; anything else is sent as is, for
 * quipud to resolve as link text. Returns a new string reference, or NULL
 * after printing why. */
static json_t *note_param(qp_cli *cli, const char *arg)
{
    size_t alen = strlen(arg);
    char real[PATH_MAX];
    struct stat sb;
    size_t vlen;

    if (alen < 3 || strcmp(arg + alen - 3, ".md") != 0 || stat(arg, &sb) != 0 ||
        !S_ISREG(sb.st_mode) || realpath(arg, real) == NULL)
        return json_string(arg);
    if (cli->vault[0] == '\0') {
        /* The socket came from --socket or $QUIPU_SOCKET: ask quipud. */
        json_t *st = NULL, *err = NULL;
        const char *v;

        if (qp_cli_call(cli, "status", json_object(), &st, &err) != 0)
            return NULL;
        v = json_string_value(json_object_get(st, "vault"));
        if (v == NULL || realpath(v, cli->vault) == NULL)
            cli->vault[0] = '\0';
        json_decref(st);
        json_decref(err);
    }
    vlen = strlen(cli->vault);
    if (vlen > 0 && strncmp(real, cli->vault, vlen) == 0 && real[vlen] == '/')
        return json_string(real + vlen + 1);
    return json_string(arg);
}

/* Sends one request and renders its result; the common tail of most
 * subcommands. Takes params. */
static int call_and_render(qp_cli *cli, const char *method, json_t *params)
{
    json_t *result = NULL, *error = NULL;
    int rc;

    if (params == NULL) {
        qp_cli_error(NULL, "out of memory");
        return QP_CLI_EXIT_FAIL;
    }
    rc = qp_cli_call(cli, method, params, &result, &error);
    if (rc != 0)
        return rc;
    if (error != NULL)
        rc = qp_cli_report_error(cli, error);
    else
        rc = qp_cli_render(cli, method, result, stdout);
    json_decref(result);
    json_decref(error);
    return rc;
}

/* ---- status --wait ------------------------------------------------------- */

static bool is_ready(const json_t *status)
{
    const char *s = json_string_value(json_object_get(status, "state"));

    return s != NULL && strcmp(s, "ready") == 0;
}

/* Shows scan progress on stderr: a bar redrawn in place on a terminal,
 * otherwise a plain line each time another tenth is done. */
static void show_progress(const qp_cli *cli, const json_t *status, bool tty, int *last_tenth)
{
    const json_t *p = json_object_get(status, "progress");
    long long done = (long long)json_integer_value(json_object_get(p, "done"));
    long long total = (long long)json_integer_value(json_object_get(p, "total"));
    int pct = total > 0 ? (int)(done * 100 / total) : 0;

    if (pct > 100)
        pct = 100;
    if (tty) {
        char bar[31];
        int fill = pct * 30 / 100;

        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '-', (size_t)(30 - fill));
        bar[30] = '\0';
        fprintf(stderr, "\rscanning %s[%s]%s %3d%%  %lld/%lld files\033[K",
                cli->err_color ? "\033[36m" : "", bar, cli->err_color ? "\033[0m" : "", pct, done,
                total);
    } else if (pct / 10 != *last_tenth) {
        *last_tenth = pct / 10;
        fprintf(stderr, "quipu: scanning %lld/%lld files (%d%%)\n", done, total, pct);
    }
    fflush(stderr);
}

static int wait_ready(qp_cli *cli, json_t **status)
{
    json_t *result = NULL, *error = NULL, *sub = NULL;
    bool tty = isatty(STDERR_FILENO);
    bool shown = false;
    int last_tenth = -1;
    int rc;

    rc = qp_cli_call(cli, "subscribe", json_pack("{s:s, s:{}}", "method", "status", "params"),
                     &result, &error);
    if (rc != 0)
        return rc;
    if (error != NULL) {
        rc = qp_cli_report_error(cli, error);
        json_decref(error);
        return rc;
    }
    sub = json_incref(json_object_get(result, "result"));
    json_decref(result);
    while (!is_ready(sub)) {
        json_t *upd = NULL;

        show_progress(cli, sub, tty, &last_tenth);
        shown = true;
        rc = qp_cli_next_update(cli, &upd);
        if (rc != 0) {
            json_decref(sub);
            return rc;
        }
        json_decref(sub);
        sub = json_incref(json_object_get(upd, "result"));
        json_decref(upd);
    }
    if (tty && shown)
        fputs("\r\033[K", stderr);
    *status = sub;
    return 0;
}

int qp_cli_apply_timeout(qp_cli *cli, const qp_cli_args *a)
{
    const char *timeout = qp_cli_opt_value(a, "--timeout");
    char *end;
    double secs;

    if (timeout == NULL)
        return 0;
    secs = strtod(timeout, &end);
    if (end == timeout || *end != '\0' || !(secs >= 0) || secs > 1e9)
        return qp_cli_usage_error(a, "--timeout wants seconds (0: no limit), not '%s'", timeout);
    qp_cli_set_timeout(cli, secs);
    return 0;
}

int qp_cli_cmd_status(qp_cli *cli, const qp_cli_args *a)
{
    bool wait = qp_cli_opt_value(a, "--wait") != NULL;
    json_t *result = NULL, *error = NULL;
    int rc;

    rc = qp_cli_apply_timeout(cli, a);
    if (rc != 0)
        return rc;
    /* --wait also waits for a daemon that is still starting. */
    rc = wait ? qp_cli_connect_wait(cli) : qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    rc = qp_cli_call(cli, "status", json_object(), &result, &error);
    if (rc != 0)
        return rc;
    if (error != NULL) {
        rc = qp_cli_report_error(cli, error);
        json_decref(error);
        return rc;
    }
    if (wait && !is_ready(result)) {
        json_decref(result);
        result = NULL;
        rc = wait_ready(cli, &result);
        if (rc != 0)
            return rc;
    }
    rc = qp_cli_render(cli, "status", result, stdout);
    json_decref(result);
    return rc;
}

/* ---- watch ---------------------------------------------------------------- */

/* The protocol method a watch argument names ("tasks" is short for
 * "tasks.query", "blocks" for "tasks.blocks"). */
static const char *watch_method(const char *m)
{
    if (strcmp(m, "tasks") == 0)
        return "tasks.query";
    if (strcmp(m, "blocks") == 0)
        return "tasks.blocks";
    return m;
}

/* Builds watch params from JSON text or key=value / key:=JSON words. Returns
 * a new object or NULL after printing a usage error. */
static json_t *watch_params(int n, const char *const *words)
{
    json_t *params;

    if (n == 1 && words[0][0] == '{') {
        json_error_t jerr;

        params = json_loads(words[0], 0, &jerr);
        if (!json_is_object(params)) {
            json_decref(params);
            qp_cli_error("usage", "watch: params are not a JSON object: %s", jerr.text);
            return NULL;
        }
        return params;
    }
    params = json_object();
    for (int i = 0; params != NULL && i < n; i++) {
        const char *eq = strchr(words[i], '=');
        json_t *v;
        char key[256];
        bool raw;

        if (eq == NULL || eq == words[i]) {
            qp_cli_error("usage", "watch: expected key=value, got '%s'", words[i]);
            json_decref(params);
            return NULL;
        }
        raw = eq[-1] == ':';
        snprintf(key, sizeof key, "%.*s", (int)(eq - words[i] - raw), words[i]);
        if (raw) {
            json_error_t jerr;

            v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
            if (v == NULL) {
                qp_cli_error("usage", "watch: %s: not JSON: %s", key, jerr.text);
                json_decref(params);
                return NULL;
            }
        } else if (strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "false") == 0) {
            v = json_boolean(eq[1] == 't');
        } else {
            v = json_string(eq + 1);
        }
        json_object_set_new(params, key, v);
    }
    return params;
}

static void watch_header(const qp_cli *cli, const char *method, const json_t *generation)
{
    char when[16] = "";
    time_t now = time(NULL);
    struct tm tm;

    if (localtime_r(&now, &tm) != NULL)
        strftime(when, sizeof when, "%H:%M:%S", &tm);
    if (cli->color) {
        /* A live panel: redraw from the top instead of scrolling. */
        fputs("\033[H\033[2J", stdout);
    } else {
        fputs("\n", stdout);
    }
    fprintf(stdout, "%s── %s", cli->color ? "\033[2m" : "", method);
    if (json_is_integer(generation))
        fprintf(stdout, " · generation %" JSON_INTEGER_FORMAT, json_integer_value(generation));
    fprintf(stdout, " · %s ──%s\n", when, cli->color ? "\033[0m" : "");
}

/* One result of a watch: for people, rendered; with --json, one compact
 * line each, so that a script reads one update per line. An update may
 * carry an `error` instead of a `result` (the note was deleted or renamed
 * away): it is shown, and the watch goes on, since the daemon pushes the
 * result again when the note comes back. */
static void render_update(const qp_cli *cli, const char *method, const json_t *upd)
{
    const json_t *err = json_object_get(upd, "error");

    if (err != NULL && cli->json) {
        json_t *wrap = json_pack("{s:O}", "error", err);

        if (wrap != NULL)
            qp_cli_print_json(wrap, stdout, true);
        json_decref(wrap);
    } else if (err != NULL) {
        const char *msg = json_string_value(json_object_get(err, "message"));

        fprintf(stdout, "%s%s%s\n", cli->color ? "\033[31m" : "",
                msg != NULL ? msg : "error without a message", cli->color ? "\033[0m" : "");
        fputs("(waiting for it to come back)\n", stdout);
    } else if (cli->json) {
        qp_cli_print_json(json_object_get(upd, "result"), stdout, true);
    } else {
        qp_cli_render(cli, method, json_object_get(upd, "result"), stdout);
    }
    fflush(stdout);
}

/* Subscribes to `method` with `params` (taken) and prints until the
 * connection ends. */
static int watch(qp_cli *cli, const char *method, json_t *params)
{
    json_t *result = NULL, *error = NULL;
    int rc;

    if (json_is_string(json_object_get(params, "note")))
        cli->subject = json_string_value(json_object_get(params, "note"));
    rc = qp_cli_call(cli, "subscribe", json_pack("{s:s, s:O}", "method", method, "params", params),
                     &result, &error);
    if (rc != 0)
        goto cleanup;
    if (error != NULL) {
        rc = qp_cli_report_error(cli, error);
        goto cleanup;
    }
    if (!cli->json)
        watch_header(cli, method, NULL);
    render_update(cli, method, result);
    for (;;) {
        json_t *upd = NULL;

        rc = qp_cli_next_update(cli, &upd);
        if (rc != 0)
            break;
        if (!cli->json)
            watch_header(cli, method, json_object_get(upd, "generation"));
        render_update(cli, method, upd);
        json_decref(upd);
    }

cleanup:
    /* params stays alive until here: cli->subject borrows from it. */
    cli->subject = NULL;
    json_decref(params);
    json_decref(result);
    json_decref(error);
    return rc;
}

int qp_cli_cmd_watch(qp_cli *cli, const qp_cli_args *a)
{
    json_t *params = watch_params(a->npos - 1, a->pos + 1);
    int rc;

    if (params == NULL)
        return QP_CLI_EXIT_USAGE;
    rc = qp_cli_connect(cli);
    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    return watch(cli, watch_method(a->pos[0]), params);
}

/* Checks --today, when the command has it. */
static int check_today(const qp_cli_args *a, const char **out)
{
    const char *today = qp_cli_opt_value(a, "--today");

    *out = today;
    if (today != NULL && !is_date(today))
        return qp_cli_usage_error(a, "--today wants a date YYYY-MM-DD, not '%s'", today);
    return 0;
}

int qp_cli_cmd_resolve(qp_cli *cli, const qp_cli_args *a)
{
    const char *from = qp_cli_opt_value(a, "--from");
    json_t *params;
    int rc;

    rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    cli->subject = a->pos[0];
    params = json_pack("{s:s}", "link", a->pos[0]);
    if (params != NULL && from != NULL)
        json_object_set_new(params, "from", json_string(from));
    rc = call_and_render(cli, "resolve", params);
    cli->subject = NULL;
    return rc;
}

/* Joins the query arguments into one query, a line each; "-" is standard
 * input. Returns a new string, or NULL after printing why. */
static char *join_query(const qp_cli_args *a)
{
    char *query = NULL;
    size_t len = 0;

    for (int i = 0; i < a->npos; i++) {
        char *part = strcmp(a->pos[i], "-") == 0 ? read_stdin() : strdup(a->pos[i]);
        char *q;

        if (part == NULL) {
            free(query);
            return NULL;
        }
        /* A file's final newline does not make an empty query line. */
        for (size_t n = strlen(part); n > 0 && (part[n - 1] == '\n' || part[n - 1] == '\r');)
            part[--n] = '\0';
        q = realloc(query, len + strlen(part) + 2);
        if (q == NULL) {
            free(part);
            free(query);
            qp_cli_error(NULL, "out of memory");
            return NULL;
        }
        query = q;
        if (len > 0)
            query[len++] = '\n';
        strcpy(query + len, part);
        len += strlen(part);
        free(part);
    }
    return query;
}

int qp_cli_cmd_tasks(qp_cli *cli, const qp_cli_args *a)
{
    const char *from = qp_cli_opt_value(a, "--from");
    const char *today;
    json_t *params;
    char *query;
    int rc;

    rc = check_today(a, &today);
    if (rc != 0)
        return rc;
    rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    query = join_query(a);
    if (query == NULL)
        return QP_CLI_EXIT_FAIL;
    params = json_pack("{s:s}", "query", query);
    if (params != NULL && today != NULL)
        json_object_set_new(params, "today", json_string(today));
    if (params != NULL && from != NULL)
        json_object_set_new(params, "from", json_string(from));
    rc = call_and_render(cli, "tasks.query", params);
    free(query);
    return rc;
}

/* --limit, --cursor and --all-occurrences (backlinks and mentions), as
 * the protocol's page params; the other commands have none of them. */
static int page_params(const qp_cli_args *a, json_t *params)
{
    const char *limit = qp_cli_opt_value(a, "--limit");
    const char *cursor = qp_cli_opt_value(a, "--cursor");

    if (limit != NULL) {
        char *end;
        long long n = strtoll(limit, &end, 10);
        if (end == limit || *end != '\0' || n < 1)
            return qp_cli_usage_error(a, "--limit wants a count of at least 1, not '%s'", limit);
        json_object_set_new(params, "limit", json_integer(n));
    }
    if (cursor != NULL)
        json_object_set_new(params, "cursor", json_string(cursor));
    if (qp_cli_opt_value(a, "--all-occurrences") != NULL)
        json_object_set_new(params, "max_occurrences", json_integer(0));
    return 0;
}

/* backlinks, mentions and note: one NOTE in, the method of the same name. */
/* `quipu note` as text: the note, then its own problems (the `problems`
 * method for that path), so that what is wrong with a note shows where the
 * note is shown. --json keeps the `note` result as the protocol gives it. */
static int note_with_problems(qp_cli *cli, json_t *params)
{
    json_t *result = NULL, *error = NULL, *pr = NULL, *pe = NULL;
    int rc;

    if (params == NULL) {
        qp_cli_error(NULL, "out of memory");
        return QP_CLI_EXIT_FAIL;
    }
    rc = qp_cli_call(cli, "note", params, &result, &error);
    if (rc != 0)
        return rc;
    if (error != NULL) {
        rc = qp_cli_report_error(cli, error);
        goto cleanup;
    }
    const char *path = json_string_value(json_object_get(result, "path"));
    if (path != NULL) {
        rc = qp_cli_call(cli, "problems", json_pack("{s:s, s:i}", "note", path, "limit", 100), &pr,
                         &pe);
        if (rc != 0)
            goto cleanup;
        if (pe == NULL && json_is_object(pr))
            json_object_set(result, "own_problems", pr);
    }
    rc = qp_cli_render(cli, "note", result, stdout);
cleanup:
    json_decref(result);
    json_decref(error);
    json_decref(pr);
    json_decref(pe);
    return rc;
}

int qp_cli_cmd_note(qp_cli *cli, const qp_cli_args *a)
{
    const char *method = a->cmd->name;
    json_t *note, *params;
    int rc;

    rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    note = note_param(cli, a->pos[0]);
    if (note == NULL)
        return QP_CLI_EXIT_FAIL;
    params = json_pack("{s:o}", "note", note);
    if (params != NULL && strcmp(method, "backlinks") == 0 &&
        qp_cli_opt_value(a, "--unlinked") != NULL)
        json_object_set_new(params, "unlinked", json_true());
    if (params != NULL && strcmp(method, "note") != 0 && (rc = page_params(a, params)) != 0) {
        json_decref(params);
        return rc;
    }
    if (strcmp(method, "note") == 0 && !cli->json && !cli->vimgrep)
        return note_with_problems(cli, params);
    return call_and_render(cli, method, params);
}

int qp_cli_cmd_blocks(qp_cli *cli, const qp_cli_args *a)
{
    json_t *note, *params, *r = NULL, *e = NULL;
    char *path = NULL;
    const char *today;
    int rc;

    rc = check_today(a, &today);
    if (rc != 0)
        return rc;
    rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    note = note_param(cli, a->pos[0]);
    if (note == NULL)
        return QP_CLI_EXIT_FAIL;
    params = json_pack("{s:o}", "note", note);
    if (params == NULL) {
        qp_cli_error(NULL, "out of memory");
        return QP_CLI_EXIT_FAIL;
    }
    if (today != NULL)
        json_object_set_new(params, "today", json_string(today));
    /* The blocks result does not carry the note's path: ask for it so that
     * headings are clickable `path:line`. */
    rc = qp_cli_call(cli, "resolve", json_pack("{s:O}", "link", json_object_get(params, "note")),
                     &r, &e);
    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    if (json_is_string(json_object_get(r, "path")))
        path = strdup(json_string_value(json_object_get(r, "path")));
    json_decref(r);
    json_decref(e);
    cli->subject = path != NULL ? path : a->pos[0];
    rc = call_and_render(cli, "tasks.blocks", params);
    cli->subject = NULL;
    free(path);
    return rc;
}
