/*
 * dconn — the language server's connection to one vault's quipud.
 *
 * The protocol is docs/protocol.md's: one JSON text per line over a Unix
 * socket. The server is single-threaded and answers one LSP request at a
 * time, so calls block, but never longer than their timeout: a daemon that
 * stops answering is treated as gone (closed, then reconnected by the
 * server) rather than freezing the editor.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lsp.h"

/* Replies bigger than this are not replies quipud would send. */
#define REPLY_MAX ((size_t)1 << 30)

void qpl_dconn_init(qpl_dconn *c)
{
    *c = (qpl_dconn){.fd = -1, .next_id = 1};
}

void qpl_dconn_close(qpl_dconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    json_decref(c->stash);
    json_decref(c->updates);
    free(c->raw);
    *c = (qpl_dconn){.fd = -1, .next_id = c->next_id};
}

int qpl_dconn_connect(qpl_dconn *c, const char *socket_path)
{
    struct sockaddr_un sa;
    int fd, rc;

    qpl_dconn_close(c);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(socket_path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    c->stash = json_object();
    c->updates = json_array();
    if (c->stash == NULL || c->updates == NULL) {
        close(fd);
        qpl_dconn_close(c);
        return -ENOMEM;
    }
    c->fd = fd;
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long qpl_dconn_send(qpl_dconn *c, const char *method, json_t *params)
{
    long long id;
    json_t *req;
    char *line;
    size_t n, off = 0;

    if (c->fd < 0) {
        json_decref(params);
        return -1;
    }
    id = c->next_id++;
    req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
    if (req == NULL) {
        json_decref(params);
        return -1;
    }
    if (params != NULL)
        json_object_set_new(req, "params", params);
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (line == NULL)
        return -1;
    n = strlen(line);
    line[n++] = '\n'; /* over the NUL: json_dumps allocated strlen + 1 */
    while (off < n) {
        /* MSG_NOSIGNAL: a daemon that went away is an error, not SIGPIPE. */
        ssize_t w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            free(line);
            qpl_dconn_close(c);
            return -1;
        }
        off += (size_t)w;
    }
    free(line);
    return id;
}

/* Files one complete message: a response into the stash, an update into the
 * queue; anything else is dropped. */
static void file_message(qpl_dconn *c, const char *p, size_t n)
{
    json_t *msg, *id;

    if (c->raw_id > 0 && c->raw == NULL) {
        /* The raw call's result, cut from the line as quipud frames it. */
        char head[64];
        int hl =
            snprintf(head, sizeof head, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":", c->raw_id);

        if (n > (size_t)hl + 1 && memcmp(p, head, (size_t)hl) == 0 && p[n - 1] == '}') {
            c->raw = malloc(n - (size_t)hl);
            if (c->raw != NULL) {
                memcpy(c->raw, p + hl, n - (size_t)hl - 1);
                c->raw[n - (size_t)hl - 1] = '\0';
                return;
            }
        }
    }
    msg = json_loadb(p, n, 0, NULL);

    if (!json_is_object(msg)) {
        json_decref(msg);
        return;
    }
    id = json_object_get(msg, "id");
    if (json_is_integer(id)) {
        char key[32];

        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        json_object_set(c->stash, key, msg);
    } else if (id == NULL) {
        const char *m = json_string_value(json_object_get(msg, "method"));
        json_t *params = json_object_get(msg, "params");

        if (m != NULL && strcmp(m, "update") == 0 && params != NULL)
            json_array_append(c->updates, params);
    }
    json_decref(msg);
}

/* Reads once (the socket must be readable or the read may block), filing
 * every complete line. 0, or -1 when the connection ended. */
static int read_once(qpl_dconn *c)
{
    ssize_t r;

    if (c->start > 0 && c->start == c->len)
        c->start = c->len = 0;
    if (c->cap - c->len < 65536) {
        size_t live = c->len - c->start;

        if (live > 0)
            memmove(c->buf, c->buf + c->start, live);
        c->start = 0;
        c->len = live;
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 131072;
            char *b;

            if (cap > REPLY_MAX || (b = realloc(c->buf, cap)) == NULL)
                return -1;
            c->buf = b;
            c->cap = cap;
        }
    }
    do
        r = read(c->fd, c->buf + c->len, c->cap - c->len);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    for (;;) {
        char *p = c->buf + c->start;
        char *nl = memchr(p, '\n', c->len - c->start);

        if (nl == NULL)
            break;
        file_message(c, p, (size_t)(nl - p));
        c->start += (size_t)(nl - p) + 1;
    }
    return 0;
}

int qpl_dconn_wait(qpl_dconn *c, long long id, int timeout_ms, json_t **result, json_t **error)
{
    long long deadline = now_ms() + timeout_ms;
    char key[32];

    *result = NULL;
    *error = NULL;
    snprintf(key, sizeof key, "%lld", id);
    while (c->fd >= 0) {
        json_t *msg = json_object_get(c->stash, key);
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        long long left;
        int pr;

        if (c->raw_id == id && c->raw != NULL)
            return 0; /* qpl_dconn_call_raw's answer, kept as text */
        if (msg != NULL) {
            json_t *e = json_object_get(msg, "error");

            if (e != NULL) {
                *error = json_incref(e);
            } else {
                json_t *r = json_object_get(msg, "result");

                *result = json_incref(r != NULL ? r : json_null());
            }
            json_object_del(c->stash, key);
            return 0;
        }
        left = deadline - now_ms();
        if (left <= 0)
            break;
        pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        if (read_once(c) != 0)
            break;
    }
    qpl_dconn_close(c);
    return -1;
}

int qpl_dconn_call(qpl_dconn *c, const char *method, json_t *params, int timeout_ms,
                   json_t **result, json_t **error)
{
    long long id = qpl_dconn_send(c, method, params);

    *result = NULL;
    *error = NULL;
    if (id < 0)
        return -1;
    return qpl_dconn_wait(c, id, timeout_ms, result, error);
}

int qpl_dconn_call_raw(qpl_dconn *c, const char *method, json_t *params, int timeout_ms, char **raw,
                       json_t **error)
{
    long long id = qpl_dconn_send(c, method, params);
    json_t *result = NULL;
    int rc;

    *raw = NULL;
    *error = NULL;
    if (id < 0)
        return -1;
    free(c->raw);
    c->raw = NULL;
    c->raw_id = id;
    /* Filed as text by file_message; any other reply to it (an error, or
     * a result framed otherwise) is decoded into the stash as usual. */
    rc = qpl_dconn_wait(c, id, timeout_ms, &result, error);
    if (c->raw_id == id && c->raw != NULL) {
        *raw = c->raw;
        c->raw = NULL;
        c->raw_id = 0;
        return 0;
    }
    c->raw_id = 0;
    if (rc == 0 && result != NULL && *error == NULL)
        *raw = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(result);
    return rc == 0 && (*raw != NULL || *error != NULL) ? 0 : -1;
}

int qpl_dconn_pump(qpl_dconn *c)
{
    while (c->fd >= 0) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 0);

        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return 0;
        if (read_once(c) != 0) {
            qpl_dconn_close(c);
            return -1;
        }
    }
    return -1;
}

json_t *qpl_dconn_next_update(qpl_dconn *c)
{
    json_t *u;

    if (c->fd < 0 || json_array_size(c->updates) == 0)
        return NULL;
    u = json_incref(json_array_get(c->updates, 0));
    json_array_remove(c->updates, 0);
    return u;
}
