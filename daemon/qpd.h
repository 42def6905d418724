#ifndef QPD_H
#define QPD_H

/*
 * qpd — the state of one quipud process, shared by its modules.
 *
 * quipud serves one vault. Its modules (changes: change sets and the cycle
 * scheduler, with the writer thread, parse and scan jobs below it; readers:
 * the pool of read connections; watcher: one uv_fs_event per directory;
 * server: the socket, clients, dispatch and subscriptions) hang off one
 * qpd_daemon that main() owns, and call each other only downwards or
 * through hooks main registers (docs/architecture.md has the graph). Every
 * field is touched by the loop thread only, except where a comment says
 * otherwise.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "quipu/store.h"
#include "quipu/vault.h"

typedef struct qpd_changes qpd_changes;
typedef struct qpd_readers qpd_readers;
typedef struct qpd_watcher qpd_watcher;
typedef struct qpd_server qpd_server;
typedef struct qpd_conf qpd_conf;

typedef struct qpd_daemon {
    uv_loop_t *loop;
    qp_vault *vault;        /* immutable, shared with every thread */
    const char *vault_root; /* borrowed from vault */
    char socket_path[PATH_MAX];
    char db_path[PATH_MAX];
    char *db_rel; /* the index's vault-relative path when someone put it inside the vault */

    /* options */
    size_t max_message;       /* longest request line */
    size_t max_output;        /* unsent bytes a client may accumulate before it is cut off */
    unsigned rescan_interval; /* seconds between periodic rescans; 0 = off */
    long watch_limit;         /* test hook: at most this many watches (-1 = no limit) */
    size_t query_cache;       /* bytes of cached query answers; 0 = no cache */
    unsigned threads;         /* libuv pool size, at least 1 */

    /* state */
    bool ready;         /* the first scan finished */
    size_t scan_done;   /* files handled by the running scan */
    size_t scan_total;  /* files the running scan has to handle (0 while walking) */
    int64_t generation; /* last committed generation seen by the loop */
    bool stopping;

    qpd_readers *readers; /* thread-safe */
    qpd_changes *changes;
    qpd_watcher *watcher;
    qpd_server *server;
    qpd_conf *conf; /* daemon/conf.c: the vault's settings files, polled */
} qpd_daemon;

#endif
