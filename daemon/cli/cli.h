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
    bool json;              /* --json: print raw results */
    bool color;             /* colour escapes on stdout */
    bool err_color;         /* colour escapes on stderr (progress bar) */
    int width;              /* terminal columns when stdout is a tty, else 0 (no truncation) */
    char vault[PATH_MAX];   /* the vault's real path once known, else "" */
    char socket[PATH_MAX];  /* the socket path once resolved, else "" */
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

/* Prints a JSON-RPC error object as "quipu: <message>" (with the query line
 * for query errors) and returns QP_CLI_EXIT_FAIL. Borrows `error`. */
int qp_cli_report_error(const qp_cli *cli, const json_t *error);

/* ---- render.c: human-readable output ------------------------------------ */

/* Prints `result` of `method` for people (or as JSON with --json). `method`
 * is a protocol method name ("backlinks", "tasks.query", ...). Borrows
 * result. Returns an exit code: a `resolve` that found nothing is 1. */
int qp_cli_render(const qp_cli *cli, const char *method, const json_t *result, FILE *out);

/* Prints `v` as JSON (indented) followed by a newline. Borrows v. */
void qp_cli_print_json(const json_t *v, FILE *out, bool compact);

/* ---- commands.c: the subcommands ------------------------------------------ */

/* Runs the subcommand argv[0] (argv[0] is its name). Returns the exit code. */
int qp_cli_run(qp_cli *cli, int argc, char **argv);

/* True when `name` is a subcommand qp_cli_run() knows. */
bool qp_cli_is_command(const char *name);

/* The usage text (help). */
void qp_cli_usage(FILE *f);

#endif /* QP_CLI_H */
