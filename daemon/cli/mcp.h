#ifndef QP_MCP_H
#define QP_MCP_H

/*
 * mcp — `quipu mcp`, a Model Context Protocol server over stdio for the
 * vault's quipud (mcp.c: transport, lifecycle, resources; mcp_tools.c: the
 * tools). It keeps no index: every answer comes from quipud, and note text
 * from the files themselves, read through a qp_vault (which refuses paths
 * outside the vault). Single-threaded: one message at a time, a poll() over
 * standard input and the daemon connection that tells about commits.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "quipu/note.h"
#include "quipu/vault.h"

/* A resource a client subscribed to, and what its file looked like. */
typedef struct qp_mcp_sub {
    char *uri;  /* as first subscribed: what its notifications name */
    char *path; /* vault-relative (qp_mcp_uri_path): what the subscription is */
    bool exists;
    struct stat st;
} qp_mcp_sub;

typedef struct qp_mcp {
    qp_cli *cli;         /* the connection that asks quipud */
    const char *quipud;  /* the program to start when none runs */
    char root[PATH_MAX]; /* the vault's real path */
    qp_vault *vault;     /* for reading notes */
    bool allow_write;    /* --allow-write: create_note, append_to_note, add_mentions,
                            rename_note */
    bool initialized;    /* initialize was answered */
    qp_mcp_sub *subs;
    size_t nsubs;
    int watch_fd; /* a second connection subscribed to status, or -1 */
    bool has_list, has_unresolved, has_complete; /* optional daemon methods seen */
} qp_mcp;

/* ---- mcp.c ------------------------------------------------------------ */

/* Calls a quipud method (takes params). 0 with *result or *error set, or -1
 * when quipud cannot be reached even after one restart (message in *why). */
int qp_mcp_call(qp_mcp *m, const char *method, json_t *params, json_t **result, json_t **error,
                const char **why);

/* s[0..n) as a JSON string; bytes that are not UTF-8 become U+FFFD. New. */
json_t *qp_mcp_text(const char *s, size_t n);

/* The file:// URI of a vault-relative path (new, free()). */
char *qp_mcp_uri(const qp_mcp *m, const char *rel);

/* The vault-relative path a file:// URI names inside the vault (new,
 * free()), or NULL when it is no such URI. Every spelling of one file's
 * URI gives the same path: percent-escapes decoded, "." and empty segments
 * dropped, an empty or "localhost" host, the query and fragment ignored; a
 * ".." segment makes it no such URI. */
char *qp_mcp_uri_path(const qp_mcp *m, const char *uri);

/* One page of notes {path, kind, title, date} from quipud: `list` when it
 * has it, else a filter-only search. Returns the array (new) and sets
 * *next (new string or NULL) and *total; NULL after setting *why and *code
 * (quipud's error code, -32602 for a bad cursor or filter; 0 when quipud
 * could not be asked). */
json_t *qp_mcp_list(qp_mcp *m, json_t *filters, long limit, const char *cursor, char **next,
                    long *total, int *code, char *why, size_t whylen);

/* ---- mcp_tools.c ------------------------------------------------------ */

/* tools/list: every tool (write tools only with allow_write). New. */
json_t *qp_mcp_tools(const qp_mcp *m);

/* tools/call: a CallToolResult (new), or NULL with *unknown set when no
 * tool of that name is offered. Never fails otherwise: errors are results
 * with isError. */
json_t *qp_mcp_tool_call(qp_mcp *m, const char *name, json_t *args, bool *unknown);

#endif
