#ifndef QP_CLI_H
#define QP_CLI_H

/*
 * cli — the pieces of the `quipu` command-line client.
 *
 * quipu is a blocking JSON-RPC client: one connection, one request at a time
 * (plus the `update` notifications of a subscription), plain sockets and
 * jansson. It is single-threaded and exits when done, so it keeps no state
 * beyond one qp_cli per process.
 *
 * Exit codes: 0 success, 1 a runtime error (no daemon, an error from the
 * server, an unresolved link), 2 a usage error. Every message on stderr
 * starts with "quipu: ".
 */

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#define QP_CLI_EXIT_OK    0
#define QP_CLI_EXIT_FAIL  1
#define QP_CLI_EXIT_USAGE 2

typedef struct qp_cli_conn qp_cli_conn; /* opaque: conn.c */

/* The process-wide settings from the global options, and the connection. */
typedef struct qp_cli {
    const char *socket_opt; /* --socket, borrowed from argv; NULL when absent */
    const char *vault_opt;  /* --vault, borrowed from argv; NULL when absent */
    const char *color_opt;  /* --color WHEN ("never" for --no-color), borrowed; NULL when absent */
    bool json;              /* --json: print raw results */
    bool vimgrep;           /* --vimgrep: places only, as path:line:column:text */
    bool color;             /* colour escapes on stdout */
    bool err_color;         /* colour escapes on stderr (progress bar) */
    int width;              /* terminal columns when stdout is a tty, else 0 (no truncation) */
    char vault[PATH_MAX];   /* the vault's real path once known, else "" */
    char socket[PATH_MAX];  /* the socket path once resolved, else "" */
    double deadline;        /* CLOCK_MONOTONIC time when waits give up (--timeout), or 0 */
    const char *subject;    /* the note a result is about, for headings (blocks); or NULL */
    qp_cli_conn *conn;      /* open connection, or NULL */
} qp_cli;

/* ---- conn.c: the socket and the JSON-RPC envelope ---------------------- */

/* Fills cli->socket (and cli->vault when it comes from a vault) from
 * --socket, $QUIPU_SOCKET, --vault, or the vault around the current
 * directory. Prints a message and returns an exit code on failure, else 0. */
int qp_cli_find_socket(qp_cli *cli);

/* Resolves the socket and connects. Prints "no quipud is running ..." and
 * returns QP_CLI_EXIT_FAIL when nobody listens; 0 on success. */
int qp_cli_connect(qp_cli *cli);

/* As qp_cli_connect(), but while nobody listens on the socket (a daemon
 * that is starting), tries again every 100 ms until cli->deadline; says
 * once on stderr that it waits. */
int qp_cli_connect_wait(qp_cli *cli);

/* Sets cli->deadline `seconds` from now (0: no limit). Every later wait for
 * the daemon (connecting, a reply, an update) fails with a "timeout" error
 * after it. */
void qp_cli_set_timeout(qp_cli *cli, double seconds);

/* The connected socket's descriptor, or -1. */
int qp_cli_conn_fd(const qp_cli *cli);

/* Closes the connection (NULL-tolerant). */
void qp_cli_disconnect(qp_cli *cli);

/* Sends one request and waits for its response. Takes `params` (may be
 * NULL for none). On a result, *result is a new reference and *error NULL;
 * on an error response, *error is the new error object and *result NULL.
 * Notifications that arrive meanwhile are kept for qp_cli_next_update().
 * Returns 0, or QP_CLI_EXIT_FAIL after printing a message when the
 * connection broke or the reply was not JSON. */
int qp_cli_call(qp_cli *cli, const char *method, json_t *params, json_t **result, json_t **error);

/* Waits for the next `update` notification and returns its params (new
 * reference: {subscription, generation, result}) in *out. Returns 0, or
 * QP_CLI_EXIT_FAIL after printing a message when the connection closed. */
int qp_cli_next_update(qp_cli *cli, json_t **out);

/* Reports an error of quipu itself: "quipu: <message>" on stderr, or with
 * --json {"error": {"message", "data": {"kind"}}} on stdout, so that a script
 * reads every outcome from one place. `kind` names the failure for scripts
 * ("usage", "no_daemon", "no_vault", "connection", "timeout"); NULL is
 * "error". The caller returns the exit code, which --json does not change. */
__attribute__((format(printf, 2, 3))) void qp_cli_error(const char *kind, const char *fmt, ...);

/* Writes into `buf` how to run quipud: "quipud" when it is on $PATH, else
 * the quipud beside the running quipu when there is one (an uninstalled
 * build, a prefix not on $PATH), else "quipud". */
void qp_cli_quipud_path(char *buf, size_t size);

/* Prints a JSON-RPC error object as "quipu: <message>" (with the query line
 * for query errors), or with --json as {"error": <the object>} on stdout, and
 * returns QP_CLI_EXIT_FAIL. Borrows `error`. */
int qp_cli_report_error(const qp_cli *cli, const json_t *error);

/* ---- render.c: human-readable output ------------------------------------ */

/* Prints `result` of `method` for people (or as JSON with --json). `method`
 * is a protocol method name ("backlinks", "tasks.query", ...). Borrows
 * result. Returns an exit code: a `resolve` that found nothing is 1. */
int qp_cli_render(const qp_cli *cli, const char *method, const json_t *result, FILE *out);

/* Prints `v` as JSON (indented) followed by a newline. Borrows v. */
void qp_cli_print_json(const json_t *v, FILE *out, bool compact);

/* ---- table.c, dispatch.c: the command table ----------------------------- */

/* As tmux's cmd_entry: a command is one row of qp_cli_commands[] (table.c),
 * naming its synopsis, help, options and handler. dispatch.c parses argv
 * against the row (the command's own options plus the global ones), checks
 * the number of positional arguments, answers --help, and calls the
 * handler. A new command is one handler (in its own file under daemon/cli/,
 * its prototype below) and one row. */

#define QP_CLI_OPTS_MAX 8 /* options per command, beside the global ones */
#define QP_CLI_POS_MAX  64
#define QP_CLI_ANY      (-1) /* max_pos: no upper limit */

/* One option of a command: a flag when `arg` is NULL, else it takes a value
 * (`--name VALUE` or `--name=VALUE`). */
typedef struct qp_cli_opt {
    const char *name; /* "--today" */
    const char *arg;  /* "DATE" for a value option, NULL for a flag */
    const char *help; /* one line for `quipu CMD --help` */
} qp_cli_opt;

typedef struct qp_cli_command qp_cli_command;

/* A command's parsed arguments; everything is borrowed from argv. */
typedef struct qp_cli_args {
    const qp_cli_command *cmd;
    const char *pos[QP_CLI_POS_MAX]; /* positional arguments */
    int npos;
    /* per cmd->opts[i]: its value, "" for a flag given, NULL when absent */
    const char *val[QP_CLI_OPTS_MAX];
} qp_cli_args;

/* The handler of a command. Usage is checked before the handler connects
 * (qp_cli_connect): a typo is a usage error, not "no daemon". The
 * dispatcher disconnects afterwards. Returns the exit code. */
typedef int qp_cli_handler(qp_cli *cli, const qp_cli_args *a);

struct qp_cli_command {
    const char *name;     /* "backlinks" */
    const char *synopsis; /* what follows the name in a usage line: "NOTE [--unlinked]" */
    const char *summary;  /* one line for `quipu help` */
    const char *help;     /* paragraphs for `quipu NAME --help`, or NULL */
    const char *pos_name; /* the positional argument in messages: "NOTE", or NULL for none */
    int min_pos, max_pos; /* how many positional arguments; max_pos may be QP_CLI_ANY */
    qp_cli_handler *run;
    qp_cli_opt opts[QP_CLI_OPTS_MAX]; /* own options, up to the first without a name */
};

/* The table, in the order `quipu help` lists it, ended by a row without a
 * name. */
extern const qp_cli_command qp_cli_commands[];

/* The row named `name`, or NULL. */
const qp_cli_command *qp_cli_find_command(const char *name);

/* The value of option `name` of a->cmd ("" for a flag that was given), or
 * NULL when it was not given. `name` must be one of the command's options. */
const char *qp_cli_opt_value(const qp_cli_args *a, const char *name);

/* Prints "quipu: <message>" and the command's usage line on stderr and
 * returns QP_CLI_EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int qp_cli_usage_error(const qp_cli_args *a, const char *fmt,
                                                             ...);

/* The whole program: global options, then the command. Returns the exit
 * code. argv is reordered in place. */
int qp_cli_main(qp_cli *cli, int argc, char **argv);

/* Applies the command's --timeout SECONDS option, if given, with
 * qp_cli_set_timeout(). Returns 0 or a usage error's exit code. */
int qp_cli_apply_timeout(qp_cli *cli, const qp_cli_args *a);

/* The usage text (`quipu help`). */
void qp_cli_usage(FILE *f);

/* ---- the handlers: one per row of qp_cli_commands[] ----------------------- */

int qp_cli_cmd_help(qp_cli *cli, const qp_cli_args *a);       /* dispatch.c */
int qp_cli_cmd_status(qp_cli *cli, const qp_cli_args *a);     /* commands.c */
int qp_cli_cmd_note(qp_cli *cli, const qp_cli_args *a);       /* backlinks, mentions, note */
int qp_cli_cmd_tasks(qp_cli *cli, const qp_cli_args *a);      /* commands.c */
int qp_cli_cmd_blocks(qp_cli *cli, const qp_cli_args *a);     /* commands.c */
int qp_cli_cmd_resolve(qp_cli *cli, const qp_cli_args *a);    /* commands.c */
int qp_cli_cmd_watch(qp_cli *cli, const qp_cli_args *a);      /* commands.c */
int qp_cli_cmd_eval_tasks(qp_cli *cli, const qp_cli_args *a); /* eval_tasks.c */
int qp_cli_cmd_lsp(qp_cli *cli, const qp_cli_args *a);        /* lsp_cmd.c */
int qp_cli_cmd_stop(qp_cli *cli, const qp_cli_args *a);       /* stop.c */
int qp_cli_cmd_search(qp_cli *cli, const qp_cli_args *a);     /* search.c */
int qp_cli_cmd_mcp(qp_cli *cli, const qp_cli_args *a);        /* mcp.c */

int qp_cli_cmd_problems(qp_cli *cli, const qp_cli_args *a); /* problems.c */
int qp_cli_cmd_list(qp_cli *cli, const qp_cli_args *a);     /* problems.c */

/* rename.c */
int qp_cli_cmd_mv(qp_cli *cli, const qp_cli_args *a);
int qp_cli_cmd_rename_part(qp_cli *cli, const qp_cli_args *a); /* rename-heading, -block */
int qp_cli_cmd_rename_tag(qp_cli *cli, const qp_cli_args *a);

#endif /* QP_CLI_H */
