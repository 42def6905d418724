#ifndef QPL_LSP_INT_H
#define QPL_LSP_INT_H

/*
 * lsp_int — the server's state, shared by server.c (the loop, lifecycle,
 * documents, vaults) and features.c (one handler per LSP method).
 *
 * Ownership: the server owns its vaults and documents; a document borrows
 * its vault (vaults live until the server ends). Every json_t a handler
 * returns is new and owned by the caller.
 */

#include <limits.h>

#include "lsp.h"
#include "quipu/note.h"

/* How long one daemon request may take before the daemon counts as gone
 * (a busy machine is not a dead daemon). */
#define QPL_CALL_TIMEOUT_MS 30000

typedef struct qpl_vault {
    char root[PATH_MAX];   /* real path */
    char socket[PATH_MAX]; /* the daemon's socket */
    qpl_dconn conn;
    bool lost;            /* the daemon went away and the user was told */
    long long retry_at;   /* monotonic ms of the next reconnect attempt */
    long long spawned_at; /* monotonic ms we last started quipud, 0 never */
    long long status_sub; /* the `status` subscription, 0 when none */
    long long generation; /* last index generation seen */
    bool progress;        /* a $/progress for the scan is open */
    char token[64];       /* its token */
} qpl_vault;

typedef struct qpl_doc {
    char *uri;       /* as the client sent it */
    char *path;      /* absolute file path */
    char *rel;       /* vault-relative path, or NULL outside any vault */
    qpl_vault *v;    /* borrowed; NULL outside any vault */
    qpl_text text;   /* the editor's text, unsaved edits included */
    qp_note *note;   /* text parsed; NULL only when out of memory */
    bool dirty;      /* diagnostics to recompute */
    char *published; /* last diagnostics sent (JSON text), or NULL */
} qpl_doc;

typedef struct qpl_server {
    int in, out;
    qpl_reader rd;
    const char *quipud; /* daemon binary to start, or NULL */
    const char *socket; /* one socket for every vault, or NULL: each vault's default */
    bool initialized, shutdown, exit;
    bool offline; /* no vaults, no daemons */
    qpl_encoding enc;
    bool cap_progress;     /* client accepts window/workDoneProgress/create */
    bool cap_hierarchical; /* documentSymbol as a tree */
    bool cap_snippets;
    bool unlinked_refs; /* initializationOptions.unlinkedReferences */
    qpl_vault **vaults;
    size_t nvaults;
    qpl_doc **docs;
    size_t ndocs;
    long long next_id; /* ids of the server's own requests to the client */
    /* A handler's result as JSON text (new), sent in place of the value it
     * returns: for answers too big to build as values (references). */
    char *raw_result;
} qpl_server;

/* server.c */
/* Sends a message to the client. Borrows msg. */
void qpl_send(qpl_server *s, const json_t *msg);
void qpl_notify(qpl_server *s, const char *method, json_t *params); /* takes params */
/* qpl_notify() with params given as JSON text (borrowed); `method` is
 * written as it is (a literal of the protocol). */
void qpl_notify_raw(qpl_server *s, const char *method, const char *params);
/* Sends a request to the client, whose answer is ignored. Takes params. */
void qpl_request(qpl_server *s, const char *method, json_t *params);
void qpl_log(qpl_server *s, int type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Calls the daemon of v; takes params. Returns the result (new) or NULL on
 * an error response or when the daemon is not reachable; *error (may be
 * NULL) receives the error object (new) when there was one. */
json_t *qpl_call(qpl_server *s, qpl_vault *v, const char *method, json_t *params, json_t **error);
/* qpl_call with the result as its JSON text, not decoded (new; NULL on
 * an error or a lost daemon, as qpl_call). */
char *qpl_call_raw(qpl_server *s, qpl_vault *v, const char *method, json_t *params);
/* Marks v's daemon as gone after a failed call (tells the user once). */
void qpl_vault_lost(qpl_server *s, qpl_vault *v);
qpl_doc *qpl_doc_find(qpl_server *s, const char *uri);
/* The vault holding the absolute path, connected (started) when needed;
 * NULL when the path is in no vault. */
qpl_vault *qpl_vault_for(qpl_server *s, const char *path);
/* "file://" URI of the vault path `rel` (new memory). */
char *qpl_uri_of(const qpl_vault *v, const char *rel);
char *qpl_uri_from_path(const char *path);
/* Absolute path of a file:// URI (new memory), NULL when not one. */
char *qpl_path_from_uri(const char *uri);
long long qpl_now_ms(void);

/* features.c: handlers. Each returns the result (new; json_null() for
 * "nothing") or NULL with *code and *msg set for an error response. */
typedef json_t *(*qpl_handler)(qpl_server *s, json_t *params, int *code, const char **msg);
qpl_handler qpl_handler_find(const char *method);
/* Recomputes and publishes d's diagnostics when they changed. */
void qpl_publish(qpl_server *s, qpl_doc *d);
/* The capabilities object answered to initialize (new). */
json_t *qpl_capabilities(const qpl_server *s);

/* rename.c: textDocument/prepareRename, textDocument/rename and
 * workspace/willRenameFiles from the daemon's rename.plan; and their
 * capabilities, added to `caps`. */
json_t *qpl_h_prepare_rename(qpl_server *s, json_t *params, int *code, const char **msg);
json_t *qpl_h_rename(qpl_server *s, json_t *params, int *code, const char **msg);
json_t *qpl_h_will_rename_files(qpl_server *s, json_t *params, int *code, const char **msg);
void qpl_rename_capabilities(json_t *caps);

#endif /* QPL_LSP_INT_H */
