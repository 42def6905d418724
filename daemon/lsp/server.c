/*
 * server — `quipu lsp`: the loop, the lifecycle, open documents and vaults.
 *
 * One poll() over stdin and every vault's daemon socket. A message from the
 * editor is handled to the end before the next is read (the daemon answers
 * in milliseconds; each call has a timeout), so responses leave in request
 * order and there is no locking. Diagnostics are recomputed for documents
 * marked dirty once the input is drained: after an edit, and after each
 * index generation the daemon reports through the vault's `status`
 * subscription (another file created, changed, deleted).
 *
 * A daemon that goes away is announced once with window/showMessage; the
 * loop then retries every RETRY_MS, starting quipud again when nobody
 * listens, and on success re-subscribes and re-publishes every document of
 * that vault.
 */
/* realpath() is XSI; setsid() and friends POSIX. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmark-gfm-core-extensions.h>

#include "lsp_int.h"
#include "mem.h"
#include "paths.h"
#include "quipu/text.h"
#include "quipu/version.h"

#define START_TIMEOUT_MS 10000         /* a started quipud's socket to appear */
#define RETRY_MS         500           /* reconnect attempts after the daemon went away */
#define SPAWN_BACKOFF_MS 30000         /* between two starts of quipud for one vault */
#define HEAP_SLACK       (1024 * 1024) /* free heap bytes kept between messages */

long long qpl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output ---------------------------------------------------------------- */

static void send_all(qpl_server *s, const char *b, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = write(s->out, b + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->exit = true; /* the editor is gone */
            break;
        }
        off += (size_t)w;
    }
}

void qpl_send(qpl_server *s, const json_t *msg)
{
    size_t n;
    char *b = qpl_frame(msg, &n);

    if (b != NULL)
        send_all(s, b, n);
    free(b);
}

void qpl_notify(qpl_server *s, const char *method, json_t *params)
{
    json_t *m = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params",
                          params ? params : json_null());

    if (m != NULL)
        qpl_send(s, m);
    json_decref(m);
}

void qpl_request(qpl_server *s, const char *method, json_t *params)
{
    char id[32];
    json_t *m;

    snprintf(id, sizeof id, "quipu-%lld", ++s->next_id);
    m = json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method, "params",
                  params ? params : json_null());
    if (m != NULL)
        qpl_send(s, m);
    json_decref(m);
}

void qpl_log(qpl_server *s, int type, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    qpl_notify(s, "window/logMessage", json_pack("{s:i, s:s}", "type", type, "message", buf));
}

static void show_message(qpl_server *s, int type, const char *text)
{
    qpl_notify(s, "window/showMessage", json_pack("{s:i, s:s}", "type", type, "message", text));
}

static void reply(qpl_server *s, json_t *id, json_t *result)
{
    json_t *m = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result",
                          result ? result : json_null());

    if (m != NULL)
        qpl_send(s, m);
    json_decref(m);
}

/* Sends the message made of the texts parts[0..n), concatenated, framed
 * (for results written as JSON text: no value tree is built to send them). */
static void send_parts(qpl_server *s, const char *const *parts, size_t n)
{
    size_t body = 0, off;
    char head[64], *m;
    int hn;

    for (size_t i = 0; i < n; i++)
        body += strlen(parts[i]);
    hn = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", body);
    m = qpd_xmalloc((size_t)hn + body);
    memcpy(m, head, (size_t)hn);
    off = (size_t)hn;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(parts[i]);

        memcpy(m + off, parts[i], k);
        off += k;
    }
    send_all(s, m, off);
    free(m);
}

void qpl_notify_raw(qpl_server *s, const char *method, const char *params)
{
    const char *parts[] = {"{\"jsonrpc\":\"2.0\",\"method\":\"", method, "\",\"params\":", params,
                           "}"};

    send_parts(s, parts, sizeof parts / sizeof parts[0]);
}

/* A response whose result is the JSON text `result`. */
static void reply_raw(qpl_server *s, json_t *id, const char *result)
{
    char *idt = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *parts[] = {"{\"jsonrpc\":\"2.0\",\"id\":", idt != NULL ? idt : "null",
                           ",\"result\":", result, "}"};

    send_parts(s, parts, sizeof parts / sizeof parts[0]);
    free(idt);
}

static void reply_error(qpl_server *s, json_t *id, int code, const char *msg)
{
    json_t *m = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                          "error", "code", code, "message", msg);

    if (m != NULL)
        qpl_send(s, m);
    json_decref(m);
}

/* ---- URIs -------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *qpl_path_from_uri(const char *uri)
{
    size_t n;
    char *out, *o;
    const char *p;

    if (uri == NULL || strncmp(uri, "file://", 7) != 0)
        return NULL;
    p = uri + 7;
    if (strncmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/')
        return NULL;
    n = strlen(p);
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    for (o = out; *p && *p != '?' && *p != '#'; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            char c = (char)(hexval(p[1]) * 16 + hexval(p[2]));

            if (c == '\0') {
                free(out);
                return NULL;
            }
            *o++ = c;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

char *qpl_uri_from_path(const char *path)
{
    char *out = malloc(7 + 3 * strlen(path) + 1);

    if (out == NULL)
        return NULL;
    memcpy(out, "file://", 7);
    qp_text_uri_encode(out + 7, path);
    return out;
}

char *qpl_uri_of(const qpl_vault *v, const char *rel)
{
    char path[PATH_MAX * 2];

    snprintf(path, sizeof path, "%s/%s", v->root, rel);
    return qpl_uri_from_path(path);
}

/* ---- vaults and their daemons ------------------------------------------ */

/* Starts `quipud ROOT` in its own session, detached from the editor (it
 * outlives the server and is shared with other editors and the CLI). */
static int spawn_daemon(qpl_server *s, qpl_vault *v)
{
    const char *bin = s->quipud != NULL ? s->quipud : "quipud";
    const char *sock_env = s->socket;
    int pfd[2];
    pid_t pid, daemon_pid = 0;
    int st;

    if (pipe(pfd) != 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -errno;
    }
    if (pid == 0) {
        pid_t g;
        int fd = open("/dev/null", O_RDWR);

        close(pfd[0]);
        setsid();
        /* Double fork: the daemon is reparented to init, never our zombie;
         * the middle process reports its pid for the log. */
        g = fork();
        if (g != 0) {
            ssize_t w = write(pfd[1], &g, sizeof g);

            _exit(g < 0 || w != (ssize_t)sizeof g ? 1 : 0);
        }
        close(pfd[1]);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        if (sock_env != NULL && sock_env[0] != '\0')
            execlp(bin, bin, v->root, "--socket", v->socket, (char *)NULL);
        else
            execlp(bin, bin, v->root, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    if (read(pfd[0], &daemon_pid, sizeof daemon_pid) != (ssize_t)sizeof daemon_pid)
        daemon_pid = 0;
    close(pfd[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    qpl_log(s, 3, "started %s %s (pid %ld)", bin, v->root, (long)daemon_pid);
    return 0;
}

/* Subscribes to the vault's status: its updates carry each new index
 * generation (diagnostics are re-published) and the scan's progress. */
static void subscribe_status(qpl_server *s, qpl_vault *v);

static bool try_connect(qpl_server *s, qpl_vault *v, bool start)
{
    int rc = qpl_dconn_connect(&v->conn, v->socket);

    if (rc == 0) {
        subscribe_status(s, v);
        return v->conn.fd >= 0;
    }
    if (!start || (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ENOTDIR))
        return false;
    /* A daemon that would not start is not started again at every retry:
     * each attempt blocks the editor for up to START_TIMEOUT_MS. */
    if (v->spawned_at != 0 && qpl_now_ms() - v->spawned_at < SPAWN_BACKOFF_MS)
        return false;
    v->spawned_at = qpl_now_ms();
    if (spawn_daemon(s, v) != 0)
        return false;
    for (long long deadline = qpl_now_ms() + START_TIMEOUT_MS; qpl_now_ms() < deadline;) {
        struct timespec ts = {0, 20 * 1000000};

        nanosleep(&ts, NULL);
        if (qpl_dconn_connect(&v->conn, v->socket) == 0) {
            v->spawned_at = 0; /* it started: the next loss may start it again */
            subscribe_status(s, v);
            return v->conn.fd >= 0;
        }
    }
    return false;
}

void qpl_vault_lost(qpl_server *s, qpl_vault *v)
{
    char msg[PATH_MAX + 128];

    qpl_dconn_close(&v->conn);
    v->status_sub = 0;
    v->retry_at = qpl_now_ms() + RETRY_MS;
    if (v->progress) {
        qpl_notify(s, "$/progress",
                   json_pack("{s:s, s:{s:s}}", "token", v->token, "value", "kind", "end"));
        v->progress = false;
    }
    if (!v->lost) {
        v->lost = true;
        snprintf(msg, sizeof msg, "quipu: the index daemon of %s went away; reconnecting", v->root);
        show_message(s, 2, msg);
    }
}

json_t *qpl_call(qpl_server *s, qpl_vault *v, const char *method, json_t *params, json_t **error)
{
    json_t *result = NULL, *err = NULL;

    if (error != NULL)
        *error = NULL;
    if (v == NULL || v->conn.fd < 0) {
        json_decref(params);
        return NULL;
    }
    if (qpl_dconn_call(&v->conn, method, params, QPL_CALL_TIMEOUT_MS, &result, &err) != 0) {
        qpl_vault_lost(s, v);
        return NULL;
    }
    if (err != NULL) {
        if (error != NULL)
            *error = err;
        else
            json_decref(err);
        return NULL;
    }
    return result;
}

char *qpl_call_raw(qpl_server *s, qpl_vault *v, const char *method, json_t *params)
{
    char *raw = NULL;
    json_t *err = NULL;

    if (v == NULL || v->conn.fd < 0) {
        json_decref(params);
        return NULL;
    }
    if (qpl_dconn_call_raw(&v->conn, method, params, QPL_CALL_TIMEOUT_MS, &raw, &err) != 0) {
        qpl_vault_lost(s, v);
        return NULL;
    }
    json_decref(err);
    return raw;
}

static void progress(qpl_server *s, qpl_vault *v, const json_t *status)
{
    const char *state = json_string_value(json_object_get(status, "state"));
    const json_t *pr = json_object_get(status, "progress");
    json_int_t done = json_integer_value(json_object_get(pr, "done"));
    json_int_t total = json_integer_value(json_object_get(pr, "total"));
    char msg[64];

    /* Server-made progress needs a token the client created on request,
     * which only a client with window.workDoneProgress can do (LSP 3.17
     * §workDoneProgress); others get no $/progress at all. */
    if (state == NULL || !s->cap_progress)
        return;
    if (strcmp(state, "scanning") == 0) {
        if (!v->progress) {
            snprintf(v->token, sizeof v->token, "quipu-scan-%lld", ++s->next_id);
            qpl_request(s, "window/workDoneProgress/create", json_pack("{s:s}", "token", v->token));
            qpl_notify(s, "$/progress",
                       json_pack("{s:s, s:{s:s, s:s, s:b}}", "token", v->token, "value", "kind",
                                 "begin", "title", "quipu: indexing the vault", "cancellable", 0));
            v->progress = true;
        }
        snprintf(msg, sizeof msg, "%lld/%lld files", (long long)done, (long long)total);
        qpl_notify(s, "$/progress",
                   json_pack("{s:s, s:{s:s, s:s, s:i}}", "token", v->token, "value", "kind",
                             "report", "message", msg, "percentage",
                             total > 0 ? (int)(done * 100 / total) : 0));
    } else if (v->progress) {
        qpl_notify(s, "$/progress",
                   json_pack("{s:s, s:{s:s, s:s}}", "token", v->token, "value", "kind", "end",
                             "message", "index ready"));
        v->progress = false;
    }
}

static void mark_vault_dirty(qpl_server *s, qpl_vault *v)
{
    for (size_t i = 0; i < s->ndocs; i++)
        if (s->docs[i]->v == v)
            s->docs[i]->dirty = true;
}

static void subscribe_status(qpl_server *s, qpl_vault *v)
{
    json_t *r =
        qpl_call(s, v, "subscribe", json_pack("{s:s, s:{}}", "method", "status", "params"), NULL);
    json_t *st = json_object_get(r, "result");

    v->status_sub = json_integer_value(json_object_get(r, "subscription"));
    v->generation = json_integer_value(json_object_get(st, "generation"));
    if (st != NULL)
        progress(s, v, st);
    if (v->lost) {
        char msg[PATH_MAX + 64];

        snprintf(msg, sizeof msg, "reconnected to the index daemon of %s", v->root);
        qpl_log(s, 3, "%s", msg);
        v->lost = false;
    }
    mark_vault_dirty(s, v);
    json_decref(r);
}

/* Handles what the daemon pushed: new generations and scan progress. */
static void drain_updates(qpl_server *s, qpl_vault *v)
{
    json_t *u;

    if (v->conn.fd >= 0 && qpl_dconn_pump(&v->conn) != 0) {
        qpl_vault_lost(s, v);
        return;
    }
    while ((u = qpl_dconn_next_update(&v->conn)) != NULL) {
        json_int_t sub = json_integer_value(json_object_get(u, "subscription"));
        json_int_t gen = json_integer_value(json_object_get(u, "generation"));
        json_t *res = json_object_get(u, "result");

        if (sub == v->status_sub && res != NULL) {
            progress(s, v, res);
            if (gen > v->generation) {
                v->generation = gen;
                mark_vault_dirty(s, v);
            }
        }
        json_decref(u);
    }
}

static qpl_vault *vault_add(qpl_server *s, const char *root)
{
    qpl_vault *v, **nv;
    const char *env = s->socket;

    if (s->offline)
        return NULL;
    for (size_t i = 0; i < s->nvaults; i++)
        if (strcmp(s->vaults[i]->root, root) == 0)
            return s->vaults[i];
    v = calloc(1, sizeof *v);
    nv = realloc(s->vaults, (s->nvaults + 1) * sizeof *nv);
    if (v == NULL || nv == NULL) {
        free(v);
        if (nv != NULL)
            s->vaults = nv;
        return NULL;
    }
    s->vaults = nv;
    snprintf(v->root, sizeof v->root, "%s", root);
    /* --socket / $QUIPU_SOCKET names one daemon for every vault, as for `quipu`. */
    if (env != NULL && env[0] != '\0')
        snprintf(v->socket, sizeof v->socket, "%s", env);
    else if (qpd_paths_default_socket(v->socket, sizeof v->socket, v->root) != 0) {
        free(v);
        return NULL;
    }
    qpl_dconn_init(&v->conn);
    s->vaults[s->nvaults++] = v;
    if (!try_connect(s, v, true)) {
        char msg[PATH_MAX * 2 + 64];

        snprintf(msg, sizeof msg, "quipu: no index daemon answers for %s (socket %s)", v->root,
                 v->socket);
        show_message(s, 1, msg);
        v->lost = true;
        v->retry_at = qpl_now_ms() + RETRY_MS;
    }
    return v;
}

/* The vault of the workspace folder `uri` into root: the folder holding
 * .obsidian/ at or above it, else the folder itself. False when the URI
 * names no folder of this machine. */
static bool folder_root(const char *uri, char root[PATH_MAX])
{
    char *path = qpl_path_from_uri(uri);
    bool ok = path != NULL &&
              (qpd_paths_find_vault(root, PATH_MAX, path) == 0 || realpath(path, root) != NULL);

    free(path);
    return ok;
}

static void add_folder(qpl_server *s, const char *uri)
{
    char root[PATH_MAX];

    if (folder_root(uri, root))
        vault_add(s, root);
}

qpl_vault *qpl_vault_for(qpl_server *s, const char *path)
{
    qpl_vault *best = NULL;
    size_t bl = 0;
    char dir[PATH_MAX], root[PATH_MAX];
    char *slash;

    for (size_t i = 0; i < s->nvaults; i++) {
        size_t n = strlen(s->vaults[i]->root);

        if (n > bl && strncmp(path, s->vaults[i]->root, n) == 0 && path[n] == '/') {
            best = s->vaults[i];
            bl = n;
        }
    }
    if (best != NULL)
        return best;
    /* A file from outside the workspace folders: its own vault, if any. */
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    if (qpd_paths_find_vault(root, sizeof root, dir[0] ? dir : "/") != 0)
        return NULL;
    return vault_add(s, root);
}

/* ---- documents ------------------------------------------------------------ */

qpl_doc *qpl_doc_find(qpl_server *s, const char *uri)
{
    if (uri == NULL)
        return NULL;
    for (size_t i = 0; i < s->ndocs; i++)
        if (strcmp(s->docs[i]->uri, uri) == 0)
            return s->docs[i];
    return NULL;
}

static void doc_free(qpl_doc *d)
{
    if (d == NULL)
        return;
    free(d->uri);
    free(d->path);
    free(d->rel);
    qpl_text_free(&d->text);
    qp_note_free(d->note);
    free(d->published);
    free(d);
}

static void doc_parse(qpl_doc *d)
{
    qp_note *n = NULL;

    qp_note_free(d->note);
    d->note = NULL;
    if (qp_note_parse(&n, d->rel ? d->rel : d->path, d->text.s, d->text.len, NULL, NULL) == QP_OK)
        d->note = n;
    d->dirty = true;
}

/* The real path of a file that may not exist yet: its folder made real. */
static char *real_file_path(const char *path)
{
    char buf[PATH_MAX], dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    char *out;

    if (realpath(path, buf) != NULL)
        return strdup(buf);
    if (slash == NULL || (size_t)(slash - path) >= sizeof dir)
        return strdup(path);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (realpath(dir[0] ? dir : "/", buf) == NULL)
        return strdup(path);
    out = malloc(strlen(buf) + strlen(slash) + 1);
    if (out != NULL) {
        strcpy(out, buf);
        strcat(out, slash);
    }
    return out;
}

static void did_open(qpl_server *s, json_t *params)
{
    json_t *td = json_object_get(params, "textDocument");
    const char *uri = json_string_value(json_object_get(td, "uri"));
    const char *text = json_string_value(json_object_get(td, "text"));
    qpl_doc *d, **nd;
    char *p;

    if (uri == NULL || text == NULL)
        return;
    d = qpl_doc_find(s, uri);
    if (d != NULL) {
        if (qpl_text_set(&d->text, text, json_string_length(json_object_get(td, "text"))) == 0)
            doc_parse(d);
        return;
    }
    p = qpl_path_from_uri(uri);
    d = calloc(1, sizeof *d);
    nd = realloc(s->docs, (s->ndocs + 1) * sizeof *nd);
    if (nd != NULL)
        s->docs = nd;
    if (d == NULL || nd == NULL || (d->uri = strdup(uri)) == NULL) {
        free(p);
        doc_free(d);
        return;
    }
    if (p != NULL) {
        d->path = real_file_path(p);
        free(p);
        d->v = d->path ? qpl_vault_for(s, d->path) : NULL;
        if (d->v != NULL)
            d->rel = strdup(d->path + strlen(d->v->root) + 1);
    }
    if (qpl_text_set(&d->text, text, json_string_length(json_object_get(td, "text"))) != 0) {
        doc_free(d);
        return;
    }
    s->docs[s->ndocs++] = d;
    doc_parse(d);
}

static void did_change(qpl_server *s, json_t *params)
{
    qpl_doc *d = qpl_doc_find(
        s, json_string_value(json_object_get(json_object_get(params, "textDocument"), "uri")));
    json_t *changes = json_object_get(params, "contentChanges");
    size_t i;
    json_t *c;

    if (d == NULL)
        return;
    json_array_foreach(changes, i, c)
    {
        json_t *text = json_object_get(c, "text");
        json_t *range = json_object_get(c, "range");

        if (!json_is_string(text))
            continue;
        if (range == NULL) {
            qpl_text_set(&d->text, json_string_value(text), json_string_length(text));
        } else {
            json_t *a = json_object_get(range, "start"), *b = json_object_get(range, "end");
            size_t from = qpl_text_offset(
                &d->text, (uint32_t)json_integer_value(json_object_get(a, "line")),
                (uint32_t)json_integer_value(json_object_get(a, "character")), s->enc);
            size_t to = qpl_text_offset(
                &d->text, (uint32_t)json_integer_value(json_object_get(b, "line")),
                (uint32_t)json_integer_value(json_object_get(b, "character")), s->enc);

            qpl_text_replace(&d->text, from, to, json_string_value(text), json_string_length(text));
        }
    }
    doc_parse(d);
}

static void did_close(qpl_server *s, json_t *params)
{
    const char *uri =
        json_string_value(json_object_get(json_object_get(params, "textDocument"), "uri"));

    for (size_t i = 0; i < s->ndocs; i++) {
        if (uri != NULL && strcmp(s->docs[i]->uri, uri) == 0) {
            /* Diagnostics of a closed document are the editor's to drop. */
            qpl_notify(s, "textDocument/publishDiagnostics",
                       json_pack("{s:s, s:[]}", "uri", uri, "diagnostics"));
            doc_free(s->docs[i]);
            s->docs[i] = s->docs[--s->ndocs];
            return;
        }
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

static json_t *initialize(qpl_server *s, json_t *params)
{
    json_t *caps = json_object_get(params, "capabilities");
    json_t *general = json_object_get(caps, "general");
    json_t *encs = json_object_get(general, "positionEncodings");
    json_t *folders = json_object_get(params, "workspaceFolders");
    json_t *opts = json_object_get(params, "initializationOptions");
    json_t *e, *res;
    size_t i;

    s->enc = QPL_UTF16;
    json_array_foreach(encs, i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), "utf-8") == 0)
            s->enc = QPL_UTF8;
    }
    /* clangd's pre-3.17 extension, which Neovim 0.7 reads back. */
    json_array_foreach(json_object_get(caps, "offsetEncoding"), i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), "utf-8") == 0)
            s->enc = QPL_UTF8;
    }
    s->cap_progress =
        json_is_true(json_object_get(json_object_get(caps, "window"), "workDoneProgress"));
    s->cap_hierarchical = json_is_true(
        json_object_get(json_object_get(json_object_get(caps, "textDocument"), "documentSymbol"),
                        "hierarchicalDocumentSymbolSupport"));
    s->unlinked_refs = json_is_true(json_object_get(opts, "unlinkedReferences"));
    if (json_array_size(folders) > 0) {
        json_array_foreach(folders, i, e)
        {
            add_folder(s, json_string_value(json_object_get(e, "uri")));
        }
    } else if (json_is_string(json_object_get(params, "rootUri"))) {
        add_folder(s, json_string_value(json_object_get(params, "rootUri")));
    } else if (json_is_string(json_object_get(params, "rootPath"))) {
        char *uri = qpl_uri_from_path(json_string_value(json_object_get(params, "rootPath")));

        if (uri != NULL)
            add_folder(s, uri);
        free(uri);
    }
    res = json_pack("{s:o, s:s, s:{s:s, s:s}}", "capabilities", qpl_capabilities(s),
                    "offsetEncoding", s->enc == QPL_UTF8 ? "utf-8" : "utf-16", "serverInfo", "name",
                    "quipu", "version", QP_VERSION_STRING);
    return res;
}

/* A workspace folder was removed: its vault's daemon connection goes too,
 * unless a document still open is in that vault (it keeps being served,
 * as a file from outside the workspace would be). */
static void remove_folder(qpl_server *s, const char *uri)
{
    char root[PATH_MAX];

    if (!folder_root(uri, root))
        return;
    for (size_t i = 0; i < s->nvaults; i++) {
        qpl_vault *v = s->vaults[i];

        if (strcmp(v->root, root) != 0)
            continue;
        for (size_t k = 0; k < s->ndocs; k++)
            if (s->docs[k]->v == v)
                return;
        if (v->progress) /* no scan report left hanging in the editor */
            qpl_notify(s, "$/progress",
                       json_pack("{s:s, s:{s:s}}", "token", v->token, "value", "kind", "end"));
        qpl_dconn_close(&v->conn);
        free(v);
        s->vaults[i] = s->vaults[--s->nvaults];
        return;
    }
}

static void folders_changed(qpl_server *s, json_t *params)
{
    json_t *event = json_object_get(params, "event");
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(event, "removed"), i, e)
    {
        remove_folder(s, json_string_value(json_object_get(e, "uri")));
    }
    json_array_foreach(json_object_get(event, "added"), i, e)
    {
        add_folder(s, json_string_value(json_object_get(e, "uri")));
    }
}

/* One message from the client. */
static void handle(qpl_server *s, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(body, len, 0, &jerr);
    json_t *id, *params;
    const char *method;

    if (msg == NULL) {
        reply_error(s, NULL, QPL_PARSE_ERROR, jerr.text);
        return;
    }
    if (!json_is_object(msg)) {
        reply_error(s, NULL, QPL_INVALID_REQUEST, "a message must be a JSON object");
        goto cleanup;
    }
    id = json_object_get(msg, "id");
    method = json_string_value(json_object_get(msg, "method"));
    params = json_object_get(msg, "params");
    if (id != NULL && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
        reply_error(s, NULL, QPL_INVALID_REQUEST, "id must be a string or an integer");
        goto cleanup;
    }
    if (method == NULL) {
        /* A response to one of our requests (progress create): nothing to do. */
        if (id == NULL || json_object_get(msg, "method") != NULL)
            reply_error(s, id, QPL_INVALID_REQUEST, "method must be a string");
        goto cleanup;
    }
    if (json_is_null(params))
        params = NULL; /* "params": null, as some clients send for shutdown */
    if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
        if (id != NULL)
            reply_error(s, id, QPL_INVALID_REQUEST, "params must be an object or an array");
        goto cleanup;
    }
    if (params == NULL || !json_is_object(params))
        params = NULL;
    if (id == NULL) { /* notifications */
        if (strcmp(method, "exit") == 0) {
            s->exit = true;
        } else if (!s->initialized || s->shutdown) {
            /* Dropped, as the specification says for notifications. */
        } else if (strcmp(method, "textDocument/didOpen") == 0) {
            did_open(s, params);
        } else if (strcmp(method, "textDocument/didChange") == 0) {
            did_change(s, params);
        } else if (strcmp(method, "textDocument/didClose") == 0) {
            did_close(s, params);
        } else if (strcmp(method, "workspace/didChangeWorkspaceFolders") == 0) {
            folders_changed(s, params);
        }
        /* didSave, $/cancelRequest, $/setTrace, initialized: nothing to do
         * (the daemon's watcher sees the saved file). */
        goto cleanup;
    }
    if (strcmp(method, "initialize") == 0) {
        if (s->initialized) {
            reply_error(s, id, QPL_INVALID_REQUEST, "initialize was already called");
        } else {
            json_t *empty = json_object();

            reply(s, id, initialize(s, params ? params : empty));
            json_decref(empty);
            s->initialized = true;
        }
    } else if (!s->initialized) {
        reply_error(s, id, QPL_SERVER_NOT_INITIALIZED, "the server is not initialized");
    } else if (s->shutdown) {
        reply_error(s, id, QPL_INVALID_REQUEST, "the server is shutting down");
    } else if (strcmp(method, "shutdown") == 0) {
        s->shutdown = true;
        reply(s, id, json_null());
    } else {
        qpl_handler h = qpl_handler_find(method);
        int code = QPL_INTERNAL_ERROR;
        const char *emsg = "internal error";
        json_t *empty = json_object();
        json_t *r;

        if (h == NULL) {
            reply_error(s, id, QPL_METHOD_NOT_FOUND, "unknown method");
        } else if ((r = h(s, params ? params : empty, &code, &emsg)) != NULL) {
            if (s->raw_result != NULL) {
                reply_raw(s, id, s->raw_result);
                free(s->raw_result);
                s->raw_result = NULL;
                json_decref(r);
            } else {
                reply(s, id, r);
            }
        } else {
            reply_error(s, id, code, emsg);
        }
        json_decref(empty);
    }

cleanup:
    json_decref(msg);
}

static void read_input(qpl_server *s)
{
    char buf[65536];
    ssize_t n;
    const char *body;
    size_t len;
    int r;

    do
        n = read(s->in, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        s->exit = true; /* the editor closed our stdin */
        return;
    }
    if (qpl_reader_feed(&s->rd, buf, (size_t)n) != 0) {
        reply_error(s, NULL, QPL_INTERNAL_ERROR, "out of memory");
        return;
    }
    while (!s->exit && (r = qpl_reader_next(&s->rd, &body, &len)) != QPL_FRAME_NONE) {
        if (r == QPL_FRAME_MESSAGE)
            handle(s, body, len);
        else if (r == QPL_FRAME_BAD_HEADER)
            reply_error(s, NULL, QPL_PARSE_ERROR, "bad header: expected Content-Length: N");
        else if (r == QPL_FRAME_TOO_BIG)
            reply_error(s, NULL, QPL_INVALID_REQUEST, "message over the size limit: skipped");
        else
            reply_error(s, NULL, QPL_INTERNAL_ERROR, "out of memory");
    }
}

int qpl_serve(int in_fd, int out_fd, const char *quipud, const char *socket, bool offline)
{
    qpl_server s = {
        .in = in_fd, .out = out_fd, .quipud = quipud, .socket = socket, .offline = offline};
    int code;

    qpl_reader_init(&s.rd, 0);
    while (!s.exit) {
        struct pollfd pfd[1 + 64];
        size_t np = 1;
        long long now = qpl_now_ms();
        int timeout = -1;

        pfd[0] = (struct pollfd){.fd = s.in, .events = POLLIN};
        for (size_t i = 0; i < s.nvaults && np < 65; i++) {
            qpl_vault *v = s.vaults[i];

            if (v->conn.fd >= 0) {
                pfd[np++] = (struct pollfd){.fd = v->conn.fd, .events = POLLIN};
            } else if (!s.shutdown) {
                if (now >= v->retry_at && try_connect(&s, v, true))
                    continue;
                if (v->conn.fd < 0)
                    v->retry_at = now + RETRY_MS;
                timeout = RETRY_MS;
            }
        }
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
            read_input(&s);
        for (size_t i = 0; i < s.nvaults; i++)
            drain_updates(&s, s.vaults[i]);
        /* Only when the editor has nothing more queued: a burst of edits
         * costs one recomputation. */
        {
            struct pollfd in = {.fd = s.in, .events = POLLIN};

            if (s.exit || (poll(&in, 1, 0) > 0 && s.rd.skip == 0))
                continue;
        }
        for (size_t i = 0; i < s.ndocs; i++)
            if (s.docs[i]->dirty && s.initialized && !s.shutdown)
                qpl_publish(&s, s.docs[i]);
        /* The answers about a busy person (its mentions, its references)
         * are trees of megabytes, freed by now: give those pages back, or
         * the server stays at its largest answer's size. */
        qpd_mem_release_over(HEAP_SLACK);
    }
    code = s.shutdown ? 0 : 1;
    for (size_t i = 0; i < s.ndocs; i++)
        doc_free(s.docs[i]);
    free(s.docs);
    for (size_t i = 0; i < s.nvaults; i++) {
        qpl_dconn_close(&s.vaults[i]->conn);
        free(s.vaults[i]);
    }
    free(s.vaults);
    qpl_reader_free(&s.rd);
    return code;
}

/* The quipud next to this program (the build tree, or the same bin/),
 * else NULL: the one on $PATH. */
static char *sibling_quipud(void)
{
    char self[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    strcpy(slash + 1, "quipud");
    return access(self, X_OK) == 0 ? strdup(self) : NULL;
}

int qpl_main(const char *quipud, const char *socket)
{
    char *found = NULL;
    int rc;

    if (quipud == NULL || quipud[0] == '\0')
        quipud = getenv("QUIPUD");
    if (quipud == NULL || quipud[0] == '\0')
        quipud = found = sibling_quipud();
    if (socket == NULL || socket[0] == '\0')
        socket = getenv("QUIPU_SOCKET");
    if (socket != NULL && socket[0] == '\0')
        socket = NULL;
    signal(SIGPIPE, SIG_IGN);
    cmark_gfm_core_extensions_ensure_registered();
    rc = qpl_serve(0, 1, quipud, socket, false);
    free(found);
    return rc;
}
