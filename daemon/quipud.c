/*
 * quipud — keeps the index of one vault current and answers JSON-RPC over a
 * Unix socket. main() parses the command line, does everything that must
 * happen before any thread exists, binds the socket (so that a second
 * daemon is refused before it touches the index), opens the index, starts
 * serving and the initial scan, and runs the loop until SIGINT/SIGTERM.
 *
 * This file is the only one that knows every module: it registers the hooks
 * through which the lower layers call up (the watcher reports paths to the
 * scheduler, the scheduler reports commits and state changes to the server
 * and asks the watcher to watch, the reader pool reports damage to the
 * scheduler), so the modules themselves form a DAG (docs/architecture.md).
 */

/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "changes.h"
#include "conf.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "qpd.h"
#include "quipu/init.h"
#include "quipu/vaultconf.h"
#include "quipu/version.h"
#include "readers.h"
#include "server.h"
#include "watcher.h"

static const char usage[] =
    "usage: quipud VAULT [options]\n"
    "       quipud --print-socket VAULT\n"
    "\n"
    "Keeps an index of the Markdown vault VAULT current and answers JSON-RPC\n"
    "requests (one JSON message per line) on a Unix socket. Runs in the\n"
    "foreground and logs to stderr.\n"
    "\n"
    "options:\n"
    "  --socket PATH            socket path (default $XDG_RUNTIME_DIR/quipu/NAME.sock)\n"
    "  --db PATH                index file (default $XDG_CACHE_HOME/quipu/NAME.sqlite3)\n"
    "  --log-level LEVEL        error, warn, info (default) or debug\n"
    "  --rescan-interval SECS   full rescan period, 0 = off (default 600)\n"
    "  --max-message BYTES      longest request line (default 16777216)\n"
    "  --max-output BYTES       unsent bytes per client before it is cut off\n"
    "                           (default 67108864)\n"
    "  --query-cache BYTES      memory for answers cached until the next commit,\n"
    "                           0 = off (default 33554432)\n"
    "  --watch-limit N          watch at most N directories (testing the fallback)\n"
    "  --print-socket VAULT     print VAULT's default socket path and exit\n"
    "  --help                   this text\n"
    "  --version                the version\n";

typedef struct options {
    const char *vault, *socket, *db;
    int level;
    long long rescan, max_message, max_output, watch_limit, query_cache;
} options;

static qpd_daemon daemon_state;
static uv_signal_t sigint_h, sigterm_h;

/* ---- the hooks: how lower layers call up -------------------------------- */

static void watcher_changed(qpd_daemon *d, const char *rel)
{
    qpd_changes_path(d, rel);
}

static void watcher_rescan(qpd_daemon *d, const char *why)
{
    qpd_changes_rescan(d, why);
}

/* The vault's settings changed: answers may differ while the index did not. */
static void conf_changed(qpd_daemon *d)
{
    qpd_server_on_commit(d); /* drops the result cache, re-runs every subscription */
}

static void index_committed(qpd_daemon *d)
{
    qpd_server_on_commit(d);
}

static void index_state_changed(qpd_daemon *d)
{
    qpd_server_on_state(d);
}

static void readers_damaged(const char *why, void *payload)
{
    qpd_changes_damaged(payload, why);
}

static const qpd_watcher_hooks watcher_hooks = {
    .changed = watcher_changed,
    .rescan = watcher_rescan,
};

static const qpd_changes_hooks changes_hooks = {
    .watch = qpd_watcher_add,
    .watched = qpd_watcher_is_dir,
    .replaced = qpd_watcher_replaced,
    .unwatch_tree = qpd_watcher_drop_tree,
    .keep_only = qpd_watcher_keep_only,
    .degraded = qpd_watcher_degraded,
    .committed = index_committed,
    .state_changed = index_state_changed,
};

/* ---- start and stop ----------------------------------------------------- */

static void index_stopped(qpd_daemon *d)
{
    qpd_log(QPD_LOG_INFO, "index closed (generation %lld)", (long long)d->generation);
}

/* Stop order: no new clients or requests, no new events, the scheduler
 * lets the writer commit what it has and exit, no more damage reports. */
static void stop_all(qpd_daemon *d, void (*stopped)(qpd_daemon *d))
{
    d->stopping = true;
    if (uv_is_active((uv_handle_t *)&sigint_h)) {
        uv_close((uv_handle_t *)&sigint_h, NULL);
        uv_close((uv_handle_t *)&sigterm_h, NULL);
    }
    qpd_server_stop(d);
    qpd_watcher_stop(d);
    qpd_conf_stop(d);
    if (d->changes != NULL)
        qpd_changes_stop(d, stopped);
    if (d->readers != NULL)
        qpd_readers_stop(d->readers);
}

static void on_signal(uv_signal_t *h, int signum)
{
    qpd_daemon *d = h->data;

    if (d->stopping)
        return;
    qpd_log(QPD_LOG_INFO, "%s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    stop_all(d, index_stopped);
}

/* Parses a non-negative decimal number; -1 when it is not one. */
static long long parse_num(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return -1;
    return v;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    /* Each client is a descriptor; 256 clients need more than the usual 1024
     * soft limit leaves once watches and SQLite take their share. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int print_socket(const char *vault)
{
    qp_vault *v = NULL;
    qp_error err = QP_ERROR_INIT;
    char buf[PATH_MAX];
    int r;

    if (qp_vault_open(&v, vault, &err) != QP_OK) {
        fprintf(stderr, "quipud: %s\n", err.msg);
        return 1;
    }
    r = qpd_paths_default_socket(buf, sizeof buf, qp_vault_root(v));
    qp_vault_close(v);
    if (r != 0) {
        fprintf(stderr, "quipud: socket path: %s\n", strerror(-r));
        return 1;
    }
    printf("%s\n", buf);
    return 0;
}

/* Fills *o from the command line. Returns -1 to go on, else the exit status
 * (0 after --help or --version, 2 after a usage error). One ladder of
 * options on purpose: each branch is two lines, and splitting it would
 * only move the table elsewhere. */
static int parse_args(options *o, int argc, char **argv)
{
    *o = (options){.level = QPD_LOG_INFO,
                   .rescan = 600,
                   .max_message = (long long)QPD_MAX_MESSAGE_DEFAULT,
                   .max_output = 64LL * 1024 * 1024,
                   .watch_limit = -1,
                   .query_cache = 32LL * 1024 * 1024};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("quipud %s (protocol %d)\n", QP_VERSION_STRING, QP_PROTOCOL_VERSION);
            return 0;
        } else if (strcmp(a, "--print-socket") == 0) {
            if (val == NULL)
                goto usage_error;
            return print_socket(val);
        } else if (strcmp(a, "--socket") == 0 && val) {
            o->socket = val;
        } else if (strcmp(a, "--db") == 0 && val) {
            o->db = val;
        } else if (strcmp(a, "--log-level") == 0 && val) {
            o->level = qpd_log_parse_level(val);
            if (o->level < 0) {
                fprintf(stderr, "quipud: unknown log level '%s'\n", val);
                goto usage_error;
            }
        } else if (strcmp(a, "--rescan-interval") == 0 && val) {
            o->rescan = parse_num(val);
        } else if (strcmp(a, "--max-message") == 0 && val) {
            o->max_message = parse_num(val);
        } else if (strcmp(a, "--max-output") == 0 && val) {
            o->max_output = parse_num(val);
        } else if (strcmp(a, "--query-cache") == 0 && val) {
            o->query_cache = parse_num(val);
        } else if (strcmp(a, "--watch-limit") == 0 && val) {
            o->watch_limit = parse_num(val);
            if (o->watch_limit < 0)
                goto usage_error;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "quipud: unknown option or missing value: %s\n", a);
            goto usage_error;
        } else if (o->vault == NULL) {
            o->vault = a;
            takes = false;
        } else {
            fprintf(stderr, "quipud: one vault only\n");
            goto usage_error;
        }
        if (takes)
            i++;
    }
    if (o->vault == NULL || o->rescan < 0 || o->rescan > 1000000 || o->max_message <= 0 ||
        o->max_output <= 0 || o->query_cache < 0)
        goto usage_error;
    return -1;

usage_error:
    fputs(usage, stderr);
    return 2;
}

/* Everything that must happen before any thread exists. Returns the pool
 * size. */
static unsigned setup_process(int level)
{
    char threads[16];
    unsigned n;

    qpd_log_init((qpd_log_level)level);
    n = uv_available_parallelism() + 2;
    if (n > 128)
        n = 128;
    if (getenv("UV_THREADPOOL_SIZE") == NULL) {
        /* libuv reads it once, when the pool starts: now or never. */
        snprintf(threads, sizeof threads, "%u", n);
        setenv("UV_THREADPOOL_SIZE", threads, 1);
    } else {
        n = (unsigned)atoi(getenv("UV_THREADPOOL_SIZE"));
    }
    /* Fills cmark-gfm's extension registry before any worker parses. */
    qp_init();
    json_object_seed(0);
    raise_fd_limit();
    return n ? n : 4;
}

/* The socket and index paths, and the index's vault-relative path when
 * someone keeps it inside the vault (it is then never indexed). 0 or 1. */
static int resolve_paths(qpd_daemon *d, const options *o)
{
    char real[PATH_MAX], dir[sizeof d->db_path], *slash;
    size_t n = strlen(d->vault_root);
    int r;

    r = o->socket ? (snprintf(d->socket_path, sizeof d->socket_path, "%s", o->socket), 0)
                  : qpd_paths_default_socket(d->socket_path, sizeof d->socket_path, d->vault_root);
    if (r != 0) {
        fprintf(stderr, "quipud: socket path: %s\n", strerror(-r));
        return 1;
    }
    if (o->db) {
        snprintf(d->db_path, sizeof d->db_path, "%s", o->db);
    } else {
        r = qpd_paths_default_db(d->db_path, sizeof d->db_path, d->vault_root);
        if (r != 0) {
            fprintf(stderr, "quipud: index path: %s\n", strerror(-r));
            return 1;
        }
        memcpy(dir, d->db_path, sizeof dir); /* same size, NUL-terminated */
        slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            qpd_paths_mkdir_p(dir, 0700);
        }
    }
    memcpy(dir, d->db_path, sizeof dir); /* same size, NUL-terminated */
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    if (slash != NULL && realpath(dir[0] ? dir : "/", real) != NULL &&
        strncmp(real, d->vault_root, n) == 0 && (real[n] == '/' || real[n] == '\0')) {
        size_t need = strlen(real) + strlen(slash + 1) + 2;

        d->db_rel = malloc(need);
        if (d->db_rel != NULL)
            snprintf(d->db_rel, need, "%s%s%s", real[n] ? real + n + 1 : "", real[n] ? "/" : "",
                     slash + 1);
    }
    return 0;
}

/* Catches SIGINT and SIGTERM, binds the socket (before the index: a second
 * daemon must stop before it opens it), opens the index, starts the reader pool, the watcher and
 * the scheduler and queues the first scan. 0, or 1 with a message printed. */
static int start_daemon(qpd_daemon *d, qp_error *err)
{
    qp_store *wstore = NULL;

    /* Signals first: a SIGTERM that comes as soon as the socket answers
     * must stop the daemon cleanly, not kill it with the socket in place
     * (the handlers run once the loop does). */
    uv_signal_init(d->loop, &sigint_h);
    uv_signal_init(d->loop, &sigterm_h);
    sigint_h.data = sigterm_h.data = d;
    uv_signal_start(&sigint_h, on_signal, SIGINT);
    uv_signal_start(&sigterm_h, on_signal, SIGTERM);
    if (qpd_server_start(d, err) != QP_OK) {
        fprintf(stderr, "quipud: %s\n", err->msg);
        return 1;
    }
    if (qp_store_open(&wstore, d->db_path, QP_STORE_WRITE, err) != QP_OK) {
        fprintf(stderr, "quipud: %s: %s\n", d->db_path, err->msg);
        return 1;
    }
    qpd_log(QPD_LOG_INFO, "quipud %s: vault %s, index %s%s, %u pool threads", QP_VERSION_STRING,
            d->vault_root, d->db_path, qp_store_rebuilt(wstore) ? " (rebuilt)" : "", d->threads);
    d->readers = qpd_readers_new(d->loop, d->db_path, readers_damaged, d);
    if (qpd_watcher_start(d, &watcher_hooks, err) != QP_OK) {
        qp_store_close(wstore);
        fprintf(stderr, "quipud: %s\n", err->msg);
        return 1;
    }
    if (qpd_changes_start(d, wstore, &changes_hooks, err) != QP_OK) { /* takes wstore */
        fprintf(stderr, "quipud: %s\n", err->msg);
        return 1;
    }
    if (qpd_conf_start(d, conf_changed, err) != QP_OK) {
        fprintf(stderr, "quipud: %s\n", err->msg);
        return 1;
    }
    qpd_changes_rescan(d, "start-up");
    return 0;
}

int main(int argc, char **argv)
{
    qpd_daemon *d = &daemon_state;
    qp_error err = QP_ERROR_INIT;
    uv_loop_t loop;
    options o;
    int rc, r;

    /* Before any thread: libuv does not ignore SIGPIPE, and a client that
     * hangs up must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    rc = parse_args(&o, argc, argv);
    if (rc >= 0)
        return rc;
    d->threads = setup_process(o.level);
    d->rescan_interval = (unsigned)o.rescan;
    d->max_message = (size_t)o.max_message;
    d->max_output = (size_t)o.max_output;
    d->watch_limit = (long)o.watch_limit;
    d->query_cache = (size_t)o.query_cache;

    if (qp_vault_open(&d->vault, o.vault, &err) != QP_OK) {
        fprintf(stderr, "quipud: %s\n", err.msg); /* err.msg names the path */
        return 1;
    }
    d->vault_root = qp_vault_root(d->vault);
    rc = resolve_paths(d, &o);
    if (rc != 0)
        goto cleanup;
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "quipud: cannot start the event loop\n");
        rc = 1;
        goto cleanup;
    }
    d->loop = &loop;
    rc = start_daemon(d, &err);
    if (rc == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
    } else {
        stop_all(d, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    qpd_changes_free(d);
    qpd_server_free(d);
    qpd_watcher_free(d);
    uv_walk(&loop, close_any, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    qpd_readers_free(d->readers); /* nothing runs on the pool any more */
    d->readers = NULL;
    r = uv_loop_close(&loop);
    if (r != 0) {
        qpd_log(QPD_LOG_ERROR, "event loop not empty at exit: %s", uv_strerror(r));
        rc = rc ? rc : 1;
    }
    if (rc == 0)
        qpd_log(QPD_LOG_INFO, "stopped");

cleanup:
    free(d->db_rel);
    qp_vault_close(d->vault);
    return rc;
}
