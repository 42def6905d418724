/*
 * commands — quipu's subcommands: argument parsing, one request each (two
 * for `status --wait` and `watch`, which subscribe), then render.
 *
 * Global options (--socket, --vault, --json, --color) are accepted after the
 * subcommand too, so `quipu backlinks X --json` works as people type it.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* One option a subcommand accepts: a flag (sets *flag) or one that takes a
 * value (sets *value, borrowed from argv). */
typedef struct opt {
    const char *name; /* "--today" */
    bool *flag;
    const char **value;
} opt;

typedef struct cmd_args {
    const char *pos[64]; /* positional arguments, borrowed from argv */
    int npos;
    const char *color; /* --color WHEN, or NULL */
    bool help;
} cmd_args;

void qp_cli_usage(FILE *f)
{
    fputs("usage: quipu [--socket PATH] [--vault DIR] [--json] [--color WHEN] COMMAND ...\n"
          "\n"
          "Commands (NOTE is a vault-relative path or link text, e.g. \"Jeff Denworth\"):\n"
          "  status [--wait]              index state; --wait blocks until the first scan ends\n"
          "  backlinks NOTE [--unlinked]  notes that link to NOTE (and plain-text mentions)\n"
          "  mentions NOTE                the meetings that mention a person, newest first\n"
          "  tasks QUERY... [--today DATE] [--from PATH]\n"
          "                               run an Obsidian Tasks query (one line per argument;\n"
          "                               QUERY '-' reads it from standard input)\n"
          "  blocks NOTE [--today DATE]   run every ```tasks block of NOTE\n"
          "  note NOTE                    a note's metadata, headings, links and tasks\n"
          "  resolve LINK [--from PATH]   the note a [[LINK]] points to\n"
          "  watch METHOD [JSON | key=value | key:=JSON ...]\n"
          "                               subscribe and print every update until Ctrl-C\n"
          "  eval-tasks ...               evaluate task queries without a daemon\n"
          "  help                         this text\n"
          "\n"
          "Options:\n"
          "  --socket PATH   the daemon's socket (default: $QUIPU_SOCKET, else the one of the\n"
          "                  vault around the current directory)\n"
          "  --vault DIR     the vault, instead of the one around the current directory\n"
          "  --json          print the raw JSON result\n"
          "  --color WHEN    auto (default), always or never; NO_COLOR turns auto off\n"
          "  --version       print the version\n"
          "\n"
          "Exit status: 0 success, 1 error (no daemon, not found, query error), 2 usage.\n",
          f);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("quipu: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see 'quipu help')\n", stderr);
    return QP_CLI_EXIT_USAGE;
}

/* Parses argv[1..] against `opts` plus the global options. Returns 0 or a
 * usage-error exit code after printing why. */
static int parse_args(qp_cli *cli, int argc, char **argv, const opt *opts, cmd_args *a)
{
    bool only_pos = false;

    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq;
        size_t nlen;
        const char *value = NULL;
        bool matched = false;

        if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0 || arg[1] == '\0') {
            if (a->npos == (int)(sizeof a->pos / sizeof a->pos[0]))
                return usage_error("too many arguments");
            a->pos[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = true;
            continue;
        }
        eq = strchr(arg, '=');
        nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

        /* Value options: --name VALUE or --name=VALUE. */
        {
            static const char *const globals[] = {"--socket", "--vault", "--color"};
            const char **slots[3] = {&cli->socket_opt, &cli->vault_opt, &a->color};
            const char **slot = NULL;

            for (size_t k = 0; k < 3 && slot == NULL; k++) {
                if (strlen(globals[k]) == nlen && strncmp(arg, globals[k], nlen) == 0)
                    slot = slots[k];
            }
            for (const opt *o = opts; slot == NULL && o != NULL && o->name != NULL; o++) {
                if (o->value != NULL && strlen(o->name) == nlen && strncmp(arg, o->name, nlen) == 0)
                    slot = o->value;
            }
            if (slot != NULL) {
                if (eq != NULL) {
                    value = eq + 1;
                } else if (i + 1 < argc) {
                    value = argv[++i];
                } else {
                    return usage_error("option %s needs a value", arg);
                }
                *slot = value;
                continue;
            }
        }
        if (eq == NULL && strcmp(arg, "--json") == 0) {
            cli->json = true;
            continue;
        }
        if (eq == NULL && strcmp(arg, "--no-color") == 0) {
            a->color = "never";
            continue;
        }
        for (const opt *o = opts; o != NULL && o->name != NULL; o++) {
            if (o->flag != NULL && eq == NULL && strcmp(arg, o->name) == 0) {
                *o->flag = true;
                matched = true;
            }
        }
        if (!matched)
            return usage_error("unknown option %s", arg);
    }
    return 0;
}

/* Decides colour and width once all options are known. */
static int setup_terminal(qp_cli *cli, const char *when)
{
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    bool dumb = term != NULL && strcmp(term, "dumb") == 0;
    struct winsize ws;

    if (when == NULL || strcmp(when, "auto") == 0) {
        bool allowed = (no_color == NULL || no_color[0] == '\0') && !dumb;

        cli->color = allowed && isatty(STDOUT_FILENO);
        cli->err_color = allowed && isatty(STDERR_FILENO);
    } else if (strcmp(when, "always") == 0) {
        cli->color = cli->err_color = true;
    } else if (strcmp(when, "never") == 0) {
        cli->color = cli->err_color = false;
    } else {
        return usage_error("--color must be auto, always or never, not '%s'", when);
    }
    cli->width = 0;
    if (isatty(STDOUT_FILENO)) {
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
            cli->width = ws.ws_col;
        else if (getenv("COLUMNS") != NULL)
            cli->width = atoi(getenv("COLUMNS"));
    }
    return 0;
}

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
                fprintf(stderr, "quipu: reading standard input: %s\n", strerror(errno));
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
    fputs("quipu: out of memory\n", stderr);
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
        fputs("quipu: out of memory\n", stderr);
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

static int cmd_status(qp_cli *cli, bool wait)
{
    json_t *result = NULL, *error = NULL;
    int rc;

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
            fprintf(stderr, "quipu: watch: params are not a JSON object: %s\n", jerr.text);
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
            fprintf(stderr, "quipu: watch: expected key=value, got '%s'\n", words[i]);
            json_decref(params);
            return NULL;
        }
        raw = eq[-1] == ':';
        snprintf(key, sizeof key, "%.*s", (int)(eq - words[i] - raw), words[i]);
        if (raw) {
            json_error_t jerr;

            v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
            if (v == NULL) {
                fprintf(stderr, "quipu: watch: %s: not JSON: %s\n", key, jerr.text);
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
 * line each, so that a script reads one update per line. */
static void render_update(const qp_cli *cli, const char *method, const json_t *result)
{
    if (cli->json)
        qp_cli_print_json(result, stdout, true);
    else
        qp_cli_render(cli, method, result, stdout);
    fflush(stdout);
}

/* Subscribes to `method` with `params` (taken) and prints until the
 * connection ends. */
static int cmd_watch(qp_cli *cli, const char *method, json_t *params)
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
    render_update(cli, method, json_object_get(result, "result"));
    for (;;) {
        json_t *upd = NULL;

        rc = qp_cli_next_update(cli, &upd);
        if (rc != 0)
            break;
        if (!cli->json)
            watch_header(cli, method, json_object_get(upd, "generation"));
        render_update(cli, method, json_object_get(upd, "result"));
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

/* ---- dispatch ---------------------------------------------------------------- */

static const char *const commands[] = {"backlinks", "blocks", "help",  "mentions", "note",
                                       "resolve",   "status", "tasks", "watch"};

bool qp_cli_is_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i], name) == 0)
            return true;
    }
    return false;
}

/* Checks that a NOTE-taking command got exactly one NOTE. */
static int one_arg(const cmd_args *a, const char *cmd, const char *what)
{
    if (a->npos == 1)
        return 0;
    return usage_error("%s needs exactly one %s%s", cmd, what,
                       a->npos == 0 ? "" : " (quote names with spaces)");
}

int qp_cli_run(qp_cli *cli, int argc, char **argv)
{
    const char *cmd = argv[0];
    bool wait = false, unlinked = false;
    const char *today = NULL, *from = NULL;
    char *query = NULL;
    json_t *params = NULL;
    cmd_args a;
    int rc;
    const opt status_opts[] = {{"--wait", &wait, NULL}, {NULL, NULL, NULL}};
    const opt backlinks_opts[] = {{"--unlinked", &unlinked, NULL}, {NULL, NULL, NULL}};
    const opt tasks_opts[] = {
        {"--today", NULL, &today}, {"--from", NULL, &from}, {NULL, NULL, NULL}};
    const opt blocks_opts[] = {{"--today", NULL, &today}, {NULL, NULL, NULL}};
    const opt resolve_opts[] = {{"--from", NULL, &from}, {NULL, NULL, NULL}};
    const opt *opts = NULL;

    if (!qp_cli_is_command(cmd))
        return usage_error("unknown command '%s'", cmd);
    if (strcmp(cmd, "status") == 0)
        opts = status_opts;
    else if (strcmp(cmd, "backlinks") == 0)
        opts = backlinks_opts;
    else if (strcmp(cmd, "tasks") == 0)
        opts = tasks_opts;
    else if (strcmp(cmd, "blocks") == 0)
        opts = blocks_opts;
    else if (strcmp(cmd, "resolve") == 0)
        opts = resolve_opts;

    rc = parse_args(cli, argc, argv, opts, &a);
    if (rc != 0)
        return rc;
    if (a.help || strcmp(cmd, "help") == 0) {
        qp_cli_usage(stdout);
        return QP_CLI_EXIT_OK;
    }
    rc = setup_terminal(cli, a.color);
    if (rc != 0)
        return rc;
    if (today != NULL && !is_date(today))
        return usage_error("--today wants a date YYYY-MM-DD, not '%s'", today);

    /* Usage is checked before connecting: a typo is not "no daemon". */
    if (strcmp(cmd, "status") == 0) {
        if (a.npos != 0)
            return usage_error("status takes no arguments, got '%s'", a.pos[0]);
    } else if (strcmp(cmd, "backlinks") == 0 || strcmp(cmd, "mentions") == 0 ||
               strcmp(cmd, "note") == 0 || strcmp(cmd, "blocks") == 0) {
        if ((rc = one_arg(&a, cmd, "NOTE")) != 0)
            return rc;
    } else if (strcmp(cmd, "resolve") == 0) {
        if ((rc = one_arg(&a, cmd, "LINK")) != 0)
            return rc;
    } else if (strcmp(cmd, "tasks") == 0) {
        if (a.npos == 0)
            return usage_error("tasks needs a QUERY ('-' reads it from standard input)");
    } else if (strcmp(cmd, "watch") == 0) {
        if (a.npos == 0)
            return usage_error("watch needs a METHOD");
        params = watch_params(a.npos - 1, a.pos + 1);
        if (params == NULL)
            return QP_CLI_EXIT_USAGE;
    }

    rc = qp_cli_connect(cli);
    if (rc != 0) {
        json_decref(params);
        return rc;
    }

    if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(cli, wait);
    } else if (strcmp(cmd, "watch") == 0) {
        rc = cmd_watch(cli, watch_method(a.pos[0]), params);
        params = NULL;
    } else if (strcmp(cmd, "resolve") == 0) {
        cli->subject = a.pos[0];
        params = json_pack("{s:s}", "link", a.pos[0]);
        if (params != NULL && from != NULL)
            json_object_set_new(params, "from", json_string(from));
        rc = call_and_render(cli, "resolve", params);
    } else if (strcmp(cmd, "tasks") == 0) {
        /* Each argument is one line of the query; "-" is standard input. */
        size_t len = 0;

        for (int i = 0; i < a.npos; i++) {
            char *part = strcmp(a.pos[i], "-") == 0 ? read_stdin() : strdup(a.pos[i]);
            char *q;

            if (part == NULL) {
                rc = QP_CLI_EXIT_FAIL;
                goto cleanup;
            }
            /* A file's final newline does not make an empty query line. */
            for (size_t n = strlen(part); n > 0 && (part[n - 1] == '\n' || part[n - 1] == '\r');)
                part[--n] = '\0';
            q = realloc(query, len + strlen(part) + 2);
            if (q == NULL) {
                free(part);
                fputs("quipu: out of memory\n", stderr);
                rc = QP_CLI_EXIT_FAIL;
                goto cleanup;
            }
            query = q;
            if (len > 0)
                query[len++] = '\n';
            strcpy(query + len, part);
            len += strlen(part);
            free(part);
        }
        params = json_pack("{s:s}", "query", query);
        if (params != NULL && today != NULL)
            json_object_set_new(params, "today", json_string(today));
        if (params != NULL && from != NULL)
            json_object_set_new(params, "from", json_string(from));
        rc = call_and_render(cli, "tasks.query", params);
    } else {
        json_t *note = note_param(cli, a.pos[0]);
        const char *method = strcmp(cmd, "blocks") == 0 ? "tasks.blocks" : cmd;

        if (note == NULL) {
            rc = QP_CLI_EXIT_FAIL;
            goto cleanup;
        }
        /* Block headings name the note; a path sent as is names itself,
         * link text is resolved by quipud and its result says the path. */
        params = json_pack("{s:o}", "note", note);
        if (params != NULL && unlinked)
            json_object_set_new(params, "unlinked", json_true());
        if (params != NULL && today != NULL)
            json_object_set_new(params, "today", json_string(today));
        if (strcmp(method, "tasks.blocks") == 0 && params != NULL) {
            json_t *r = NULL, *e = NULL;

            /* The blocks result does not carry the note's path: ask for it
             * so headings are clickable `path:line`. */
            rc = qp_cli_call(cli, "resolve",
                             json_pack("{s:O}", "link", json_object_get(params, "note")), &r, &e);
            if (rc != 0) {
                json_decref(params);
                goto cleanup;
            }
            if (json_is_string(json_object_get(r, "path")))
                query = strdup(json_string_value(json_object_get(r, "path")));
            cli->subject = query != NULL ? query : a.pos[0];
            json_decref(r);
            json_decref(e);
        }
        rc = call_and_render(cli, method, params);
    }

cleanup:
    cli->subject = NULL;
    free(query);
    qp_cli_disconnect(cli);
    return rc;
}
