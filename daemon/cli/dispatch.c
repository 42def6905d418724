/*
 * dispatch — from argv to one command of the table (table.c).
 *
 * The global options (--socket, --vault, --json, --color) may come before
 * the command or anywhere after it, so `quipu backlinks X --json` works as
 * people type it. Everything a command accepts is in its row, so parsing,
 * `quipu CMD --help`, the usage line of a usage error and the command list
 * of `quipu help` all come from the same place.
 *
 * Usage errors exit 2 with one message and the command's usage line, and
 * are found before anything connects: a typo is not "no daemon".
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "quipu/version.h"

/* --json anywhere on the command line: errors are JSON on stdout. Read
 * before anything is parsed, so that a usage error is JSON too. */
static bool json_errors;

#define GLOBAL_SYNOPSIS "[--socket PATH] [--vault DIR] [--json | --vimgrep] [--color WHEN]"

/* The global options that take a value, and where they go. */
static const char **global_slot(qp_cli *cli, const char *name, size_t nlen)
{
    static const char *const names[] = {"--socket", "--vault", "--color"};
    const char **slots[] = {&cli->socket_opt, &cli->vault_opt, &cli->color_opt};

    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (strlen(names[k]) == nlen && strncmp(name, names[k], nlen) == 0)
            return slots[k];
    }
    return NULL;
}

static void print_synopsis(const qp_cli_command *c, FILE *f)
{
    fprintf(f, "usage: quipu %s%s%s\n", c->name, c->synopsis[0] != '\0' ? " " : "", c->synopsis);
}

void qp_cli_usage(FILE *f)
{
    fputs("usage: quipu " GLOBAL_SYNOPSIS " COMMAND ...\n"
          "\n"
          "Commands (NOTE is a vault-relative path or link text, e.g. \"Mara Lindqvist\"):\n",
          f);
    for (const qp_cli_command *c = qp_cli_commands; c->name != NULL; c++) {
        int w = fprintf(f, "  %s %s", c->name, c->synopsis);

        /* The summaries form one column; a long synopsis gets a line of its own. */
        if (w > 31)
            fprintf(f, "\n%33s%s\n", "", c->summary);
        else
            fprintf(f, "%*s%s\n", 33 - w, "", c->summary);
    }
    fputs("\n"
          "Options:\n"
          "  --socket PATH   the daemon's socket (default: $QUIPU_SOCKET, else the one of the\n"
          "                  vault around the current directory)\n"
          "  --vault DIR     the vault, instead of the one around the current directory\n"
          "  --json          print the raw JSON result (errors too, as {\"error\": ...})\n"
          "  --vimgrep       print only places, one path:line:column:text row each, for\n"
          "                  the quickfix list: nvim -q <(quipu --vimgrep backlinks NOTE)\n"
          "  --color WHEN    auto (default), always or never; NO_COLOR turns auto off\n"
          "  --version       print the version\n"
          "\n"
          "'quipu COMMAND --help' describes one command.\n"
          "Exit status: 0 success, 1 error (no daemon, not found, query error), 2 usage.\n",
          f);
}

/* `quipu CMD --help`. */
static void command_help(const qp_cli_command *c, FILE *f)
{
    print_synopsis(c, f);
    fprintf(f, "\n%s\n", c->help != NULL ? c->help : c->summary);
    if (c->opts[0].name != NULL) {
        fputs("\nOptions:\n", f);
        for (const qp_cli_opt *o = c->opts; o->name != NULL; o++) {
            int w = fprintf(f, "  %s%s%s", o->name, o->arg != NULL ? " " : "",
                            o->arg != NULL ? o->arg : "");

            fprintf(f, "%*s%s\n", w < 20 ? 20 - w : 1, "", o->help);
        }
    }
    fputs("\nGlobal options: " GLOBAL_SYNOPSIS " (see 'quipu help').\n", f);
}

/* The JSON form of an error: {"error": {"message", "data": {"kind", ...}}}
 * on one line of stdout. Takes `data`. */
static void print_json_error(const char *msg, json_t *data)
{
    json_t *e = json_pack("{s:{s:s, s:o}}", "error", "message", msg, "data",
                          data != NULL ? data : json_object());

    if (e != NULL)
        qp_cli_print_json(e, stdout, true);
    else
        fputs("{\"error\": {\"message\": \"out of memory\"}}\n", stdout);
    json_decref(e);
    fflush(stdout);
}

void qp_cli_error(const char *kind, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json_errors)
        print_json_error(msg, json_pack("{s:s}", "kind", kind != NULL ? kind : "error"));
    else
        fprintf(stderr, "quipu: %s\n", msg);
}

int qp_cli_usage_error(const qp_cli_args *a, const char *fmt, ...)
{
    char msg[2048], usage[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (a != NULL && a->cmd != NULL)
        snprintf(usage, sizeof usage, "quipu %s%s%s", a->cmd->name,
                 a->cmd->synopsis[0] != '\0' ? " " : "", a->cmd->synopsis);
    else
        snprintf(usage, sizeof usage, "quipu " GLOBAL_SYNOPSIS " COMMAND ...");
    if (json_errors)
        print_json_error(msg, json_pack("{s:s, s:s}", "kind", "usage", "usage", usage));
    else
        fprintf(stderr, "quipu: %s\nusage: %s%s\n", msg, usage,
                a != NULL && a->cmd != NULL ? "" : " (see 'quipu help')");
    return QP_CLI_EXIT_USAGE;
}

/* Is `name` an executable file in a directory of $PATH? */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");

        if (n > 0 && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

void qp_cli_quipud_path(char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n;

    snprintf(buf, size, "quipud");
    if (on_path("quipud"))
        return;
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    if (strrchr(self, '/') != NULL)
        strrchr(self, '/')[1] = '\0';
    if (strlen(self) + sizeof "quipud" <= sizeof self) {
        strcat(self, "quipud");
        if (access(self, X_OK) == 0)
            snprintf(buf, size, "%s", self);
    }
}

const char *qp_cli_opt_value(const qp_cli_args *a, const char *name)
{
    for (int i = 0; i < QP_CLI_OPTS_MAX && a->cmd->opts[i].name != NULL; i++) {
        if (strcmp(a->cmd->opts[i].name, name) == 0)
            return a->val[i];
    }
    abort(); /* a handler asked for an option its row does not declare */
}

/* Edit distance of two short words (optimal string alignment: a swap of two
 * neighbours counts one), for "did you mean". */
static size_t edit_distance(const char *s, const char *t)
{
    size_t m = strlen(s), n = strlen(t);
    size_t d[24][24];

    if (m >= 24 || n >= 24)
        return 99;
    for (size_t i = 0; i <= m; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= n; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= m; i++) {
        for (size_t j = 1; j <= n; j++) {
            size_t best = d[i - 1][j - 1] + (s[i - 1] != t[j - 1]);

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && s[i - 1] == t[j - 2] && s[i - 2] == t[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[m][n];
}

/* The command `name` was probably meant to be, or NULL: the closest within
 * two edits, or the only one it is a prefix of. */
static const char *did_you_mean(const char *name)
{
    const char *best = NULL, *prefixed = NULL;
    size_t best_d = 3, nlen = strlen(name);
    int nprefixed = 0;

    for (const qp_cli_command *c = qp_cli_commands; c->name != NULL; c++) {
        size_t d = edit_distance(name, c->name);

        if (d < best_d) {
            best_d = d;
            best = c->name;
        }
        if (nlen >= 2 && strncmp(c->name, name, nlen) == 0) {
            prefixed = c->name;
            nprefixed++;
        }
    }
    if (best == NULL && nprefixed == 1)
        best = prefixed;
    return best;
}

static int unknown_command(const char *name)
{
    const char *guess = did_you_mean(name);

    if (guess != NULL)
        return qp_cli_usage_error(NULL, "unknown command '%s'; did you mean %s?", name, guess);
    return qp_cli_usage_error(NULL, "unknown command '%s'", name);
}

/* Parses argv[1..] against a->cmd's options plus the global ones. Returns 0
 * or a usage-error exit code after printing why; `help` is set by --help. */
static int parse_args(qp_cli *cli, int argc, char **argv, qp_cli_args *a, bool *help)
{
    const qp_cli_command *c = a->cmd;
    bool only_pos = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq;
        const char **slot = NULL;
        size_t nlen;
        int k;

        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (a->npos == QP_CLI_POS_MAX)
                return qp_cli_usage_error(a, "too many arguments");
            a->pos[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = true;
            continue;
        }
        eq = strchr(arg, '=');
        nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        for (k = 0; k < QP_CLI_OPTS_MAX && c->opts[k].name != NULL; k++) {
            if (strlen(c->opts[k].name) == nlen && strncmp(arg, c->opts[k].name, nlen) == 0)
                break;
        }
        if (k == QP_CLI_OPTS_MAX || c->opts[k].name == NULL) {
            k = -1;
            slot = global_slot(cli, arg, nlen);
        } else if (c->opts[k].arg != NULL) {
            slot = &a->val[k];
        }
        if (slot != NULL) {
            /* A value option: --name VALUE or --name=VALUE. */
            if (eq != NULL)
                *slot = eq + 1;
            else if (i + 1 < argc)
                *slot = argv[++i];
            else
                return qp_cli_usage_error(a, "option %s needs a value", arg);
            continue;
        }
        if (eq == NULL && k >= 0) {
            a->val[k] = "";
        } else if (eq == NULL && strcmp(arg, "--json") == 0) {
            cli->json = true;
        } else if (eq == NULL && strcmp(arg, "--vimgrep") == 0) {
            cli->vimgrep = true;
        } else if (eq == NULL && strcmp(arg, "--no-color") == 0) {
            cli->color_opt = "never";
        } else if (k >= 0) {
            return qp_cli_usage_error(a, "option %.*s takes no value", (int)nlen, arg);
        } else {
            return qp_cli_usage_error(a, "unknown option %s", arg);
        }
    }
    return 0;
}

/* Checks the number of positional arguments against the row. */
static int check_count(const qp_cli_args *a)
{
    const qp_cli_command *c = a->cmd;

    if (c->max_pos == 0 && a->npos > 0)
        return qp_cli_usage_error(a, "%s takes no arguments, got '%s'", c->name, a->pos[0]);
    if (c->min_pos == 1 && c->max_pos == 1 && a->npos != 1)
        return qp_cli_usage_error(a, "%s needs exactly one %s%s", c->name, c->pos_name,
                                  a->npos == 0 ? "" : " (quote names with spaces)");
    if (a->npos < c->min_pos)
        return qp_cli_usage_error(a, "%s needs a %s", c->name, c->pos_name);
    if (c->max_pos != QP_CLI_ANY && a->npos > c->max_pos)
        return qp_cli_usage_error(a, "%s takes at most %d %s arguments", c->name, c->max_pos,
                                  c->pos_name);
    return 0;
}

/* Decides colour and width once all options are known. */
static int setup_terminal(qp_cli *cli, const qp_cli_args *a)
{
    const char *when = cli->color_opt;
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
        return qp_cli_usage_error(a, "--color must be auto, always or never, not '%s'", when);
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

int qp_cli_cmd_help(qp_cli *cli, const qp_cli_args *a)
{
    const qp_cli_command *c;

    (void)cli;
    if (a->npos == 0) {
        qp_cli_usage(stdout);
        return QP_CLI_EXIT_OK;
    }
    c = qp_cli_find_command(a->pos[0]);
    if (c == NULL)
        return unknown_command(a->pos[0]);
    command_help(c, stdout);
    return QP_CLI_EXIT_OK;
}

/* Runs the command argv[0] with its arguments argv[1..]. */
static int run_command(qp_cli *cli, int argc, char **argv)
{
    qp_cli_args a;
    bool help = false;
    int rc;

    memset(&a, 0, sizeof a);
    a.cmd = qp_cli_find_command(argv[0]);
    if (a.cmd == NULL)
        return unknown_command(argv[0]);
    rc = parse_args(cli, argc, argv, &a, &help);
    if (rc != 0)
        return rc;
    if (help) {
        command_help(a.cmd, stdout);
        return QP_CLI_EXIT_OK;
    }
    rc = check_count(&a);
    if (rc == 0)
        rc = setup_terminal(cli, &a);
    if (rc == 0)
        rc = a.cmd->run(cli, &a);
    qp_cli_disconnect(cli);
    return rc;
}

int qp_cli_main(qp_cli *cli, int argc, char **argv)
{
    int i = 1;

    for (int k = 1; k < argc && strcmp(argv[k], "--") != 0; k++) {
        if (strcmp(argv[k], "--json") == 0)
            json_errors = true;
    }
    /* Global options before the command; run_command() accepts them after
     * it too. Only the ones that take a separate value need care here, so
     * that `--socket status` is not read as a command. */
    while (i < argc && argv[i][0] == '-') {
        const char *o = argv[i];
        const char *eq = strchr(o, '=');

        if (strcmp(o, "--version") == 0 || strcmp(o, "-V") == 0) {
            printf("quipu %s (protocol %d)\n", QP_VERSION_STRING, QP_PROTOCOL_VERSION);
            return QP_CLI_EXIT_OK;
        }
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            qp_cli_usage(stdout);
            return QP_CLI_EXIT_OK;
        }
        if (global_slot(cli, o, eq != NULL ? (size_t)(eq - o) : strlen(o)) != NULL) {
            if (eq == NULL && i + 1 >= argc)
                return qp_cli_usage_error(NULL, "option %s needs a value", o);
            i += eq == NULL ? 2 : 1;
            continue;
        }
        if (strcmp(o, "--json") == 0 || strcmp(o, "--no-color") == 0 ||
            strcmp(o, "--vimgrep") == 0) {
            i++;
            continue;
        }
        return qp_cli_usage_error(NULL, "unknown option %s", o);
    }
    if (i >= argc && json_errors) {
        return qp_cli_usage_error(NULL, "no command");
    } else if (i >= argc) {
        fputs("usage: quipu " GLOBAL_SYNOPSIS " COMMAND ...\ncommands:", stderr);
        for (const qp_cli_command *c = qp_cli_commands; c->name != NULL; c++)
            fprintf(stderr, " %s", c->name);
        fputs("\n(see 'quipu help')\n", stderr);
        return QP_CLI_EXIT_USAGE;
    }
    {
        /* Move the command's name in front of the global options, where its
         * parser reads them with the rest: [cmd, globals..., args...]. */
        char *cmd = argv[i];

        memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
        argv[1] = cmd;
    }
    return run_command(cli, argc - 1, argv + 1);
}
