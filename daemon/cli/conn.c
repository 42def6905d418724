/*
 * conn — quipu's side of the socket: finding it, connecting, one JSON-RPC
 * request at a time, and the `update` notifications of a subscription.
 *
 * Framing is the protocol's: one JSON text per line. Replies are read into a
 * growing buffer; a notification that arrives while we wait for a response is
 * queued, so a subscriber never loses an update to a concurrent request.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "paths.h"

/* A reply bigger than this is not a reply quipud would send. */
#define REPLY_MAX ((size_t)1 << 30)

struct qp_cli_conn {
    int fd;
    char *buf; /* unread bytes are buf[start, len) */
    size_t start, len, cap;
    json_int_t next_id;
    json_t *pending; /* array of queued `update` params, oldest first */
};

/* quipud serves any folder it is given, .obsidian/ or not. So a folder
 * without one is still a vault when a quipud listens for it: finds the
 * nearest ancestor of `cwd` (itself included) whose default socket is a
 * socket, and fills cli->vault and cli->socket from it. */
static bool served_folder(qp_cli *cli, const char *cwd)
{
    char dir[PATH_MAX], sock[PATH_MAX];
    struct stat sb;

    if (realpath(cwd, dir) == NULL)
        return false;
    for (;;) {
        char *slash;

        if (qpd_paths_default_socket(sock, sizeof sock, dir) == 0 && stat(sock, &sb) == 0 &&
            S_ISSOCK(sb.st_mode)) {
            strcpy(cli->vault, dir);
            strcpy(cli->socket, sock);
            return true;
        }
        if (strcmp(dir, "/") == 0)
            return false;
        slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
}

int qp_cli_find_socket(qp_cli *cli)
{
    const char *env = getenv("QUIPU_SOCKET");
    char cwd[PATH_MAX];
    int rc;

    if (cli->socket_opt != NULL || (env != NULL && env[0] != '\0')) {
        const char *s = cli->socket_opt != NULL ? cli->socket_opt : env;

        if (strlen(s) >= sizeof cli->socket) {
            qp_cli_error(NULL, "socket path too long: %s", s);
            return QP_CLI_EXIT_FAIL;
        }
        strcpy(cli->socket, s);
        /* An explicit --vault still tells us where relative note paths live. */
        if (cli->vault_opt != NULL && realpath(cli->vault_opt, cli->vault) == NULL)
            cli->vault[0] = '\0';
        return 0;
    }
    if (cli->vault_opt != NULL) {
        if (realpath(cli->vault_opt, cli->vault) == NULL) {
            qp_cli_error(NULL, "%s: %s", cli->vault_opt, strerror(errno));
            cli->vault[0] = '\0';
            return QP_CLI_EXIT_FAIL;
        }
    } else {
        if (getcwd(cwd, sizeof cwd) == NULL) {
            qp_cli_error(NULL, "current directory: %s", strerror(errno));
            return QP_CLI_EXIT_FAIL;
        }
        rc = qpd_paths_find_vault(cli->vault, sizeof cli->vault, cwd);
        if (rc == -ENOENT && served_folder(cli, cwd))
            return 0;
        if (rc == -ENOENT) {
            qp_cli_error("no_vault",
                         "no vault here: neither %s nor a parent has a .obsidian/ folder or a"
                         " running quipud; use --vault DIR or --socket PATH",
                         cwd);
            return QP_CLI_EXIT_FAIL;
        }
        if (rc < 0) {
            qp_cli_error(NULL, "%s: %s", cwd, strerror(-rc));
            return QP_CLI_EXIT_FAIL;
        }
    }
    rc = qpd_paths_default_socket(cli->socket, sizeof cli->socket, cli->vault);
    if (rc < 0) {
        qp_cli_error(NULL, "socket path for %s: %s", cli->vault, strerror(-rc));
        return QP_CLI_EXIT_FAIL;
    }
    return 0;
}

static void no_daemon(const qp_cli *cli)
{
    char quipud[PATH_MAX];

    if (cli->vault[0] != '\0' && cli->socket_opt == NULL) {
        qp_cli_quipud_path(quipud, sizeof quipud);
        qp_cli_error("no_daemon", "no quipud is running for %s (socket %s); start it with: %s %s",
                     cli->vault, cli->socket, quipud, cli->vault);
    } else {
        qp_cli_error("no_daemon", "no quipud is running on socket %s", cli->socket);
    }
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects to cli->socket. Returns 0 with cli->conn set, or -errno (after
 * printing why when `quiet` is false or the failure is not "nobody
 * listens"). */
static int try_connect(qp_cli *cli, bool quiet)
{
    struct sockaddr_un sa;
    qp_cli_conn *c;
    int fd, rc;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(cli->socket) >= sizeof sa.sun_path) {
        qp_cli_error(NULL, "socket path too long for a Unix socket: %s", cli->socket);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, cli->socket);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;

        qp_cli_error(NULL, "socket: %s", strerror(e));
        return -e;
    }
    while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof sa)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        int e = errno;

        close(fd);
        /* No file, or a file nobody listens on (a daemon that crashed or
         * has not bound yet). */
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
            if (!quiet)
                no_daemon(cli);
            return -ECONNREFUSED;
        }
        qp_cli_error(NULL, "%s: %s", cli->socket, strerror(e));
        return -e;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->pending = json_array()) == NULL) {
        free(c);
        close(fd);
        qp_cli_error(NULL, "out of memory");
        return -ENOMEM;
    }
    c->fd = fd;
    c->next_id = 1;
    cli->conn = c;
    return 0;
}

int qp_cli_connect(qp_cli *cli)
{
    int rc = qp_cli_find_socket(cli);

    if (rc != 0)
        return rc;
    return try_connect(cli, false) == 0 ? 0 : QP_CLI_EXIT_FAIL;
}

void qp_cli_set_timeout(qp_cli *cli, double seconds)
{
    cli->deadline = seconds > 0 ? now() + seconds : 0;
}

int qp_cli_connect_wait(qp_cli *cli)
{
    bool said = false;
    int rc = qp_cli_find_socket(cli);

    if (rc != 0)
        return rc;
    for (;;) {
        struct timespec pause = {0, 100 * 1000 * 1000};

        rc = try_connect(cli, true);
        if (rc == 0)
            return 0;
        if (rc != -ECONNREFUSED)
            return QP_CLI_EXIT_FAIL;
        if (cli->deadline > 0 && now() >= cli->deadline) {
            no_daemon(cli);
            return QP_CLI_EXIT_FAIL;
        }
        if (!said && !cli->json) {
            fprintf(stderr, "quipu: waiting for quipud on %s\n", cli->socket);
            said = true;
        }
        nanosleep(&pause, NULL);
    }
}

int qp_cli_conn_fd(const qp_cli *cli)
{
    return cli->conn != NULL ? cli->conn->fd : -1;
}

void qp_cli_disconnect(qp_cli *cli)
{
    qp_cli_conn *c = cli->conn;

    if (c == NULL)
        return;
    close(c->fd);
    free(c->buf);
    json_decref(c->pending);
    free(c);
    cli->conn = NULL;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        /* MSG_NOSIGNAL: a daemon that went away is an error message, not SIGPIPE. */
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads the next message line and parses it. Returns 0 with *out set, or
 * prints why not and returns QP_CLI_EXIT_FAIL. */
static int read_message(const qp_cli *cli, qp_cli_conn *c, json_t **out)
{
    *out = NULL;
    for (;;) {
        char *nl = c->len > c->start ? memchr(c->buf + c->start, '\n', c->len - c->start) : NULL;
        ssize_t r;

        if (nl != NULL) {
            json_error_t jerr;
            size_t n = (size_t)(nl - (c->buf + c->start));
            json_t *msg = json_loadb(c->buf + c->start, n, 0, &jerr);

            c->start += n + 1;
            if (msg == NULL || !json_is_object(msg)) {
                json_decref(msg);
                qp_cli_error(NULL, "quipud sent a reply that is not a JSON object: %s", jerr.text);
                return QP_CLI_EXIT_FAIL;
            }
            *out = msg;
            return 0;
        }
        /* Make room: first drop what was consumed, then grow. */
        if (c->start > 0) {
            memmove(c->buf, c->buf + c->start, c->len - c->start);
            c->len -= c->start;
            c->start = 0;
        }
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap == 0 ? 131072 : c->cap * 2;
            char *b;

            if (cap > REPLY_MAX) {
                qp_cli_error("connection", "reply from quipud too large");
                return QP_CLI_EXIT_FAIL;
            }
            b = realloc(c->buf, cap);
            if (b == NULL) {
                qp_cli_error(NULL, "out of memory");
                return QP_CLI_EXIT_FAIL;
            }
            c->buf = b;
            c->cap = cap;
        }
        if (cli->deadline > 0) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            double left = cli->deadline - now();
            int n = left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;

            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0) {
                qp_cli_error("timeout", "timed out waiting for quipud");
                return QP_CLI_EXIT_FAIL;
            }
        }
        r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            qp_cli_error(NULL, "reading from quipud: %s", strerror(errno));
            return QP_CLI_EXIT_FAIL;
        }
        if (r == 0) {
            qp_cli_error("connection", "quipud closed the connection");
            return QP_CLI_EXIT_FAIL;
        }
        c->len += (size_t)r;
    }
}

static bool is_update(const json_t *msg)
{
    const char *m = json_string_value(json_object_get(msg, "method"));

    return m != NULL && strcmp(m, "update") == 0 && json_object_get(msg, "id") == NULL;
}

int qp_cli_call(qp_cli *cli, const char *method, json_t *params, json_t **result, json_t **error)
{
    qp_cli_conn *c = cli->conn;
    json_int_t id = c->next_id++;
    json_t *req;
    char *line = NULL;
    int rc = QP_CLI_EXIT_FAIL;

    *result = NULL;
    *error = NULL;
    req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (req == NULL) {
        qp_cli_error(NULL, "out of memory");
        goto cleanup;
    }
    if (params != NULL) {
        /* json_object_set_new steals params even when it fails. */
        int e = json_object_set_new(req, "params", params);

        params = NULL;
        if (e != 0) {
            qp_cli_error(NULL, "out of memory");
            goto cleanup;
        }
    }
    line = json_dumps(req, JSON_COMPACT);
    if (line == NULL) {
        qp_cli_error(NULL, "out of memory");
        goto cleanup;
    }
    {
        size_t n = strlen(line);
        int e;

        line[n] = '\n'; /* replaces the NUL: json_dumps allocated n + 1 bytes */
        e = send_all(c->fd, line, n + 1);
        if (e < 0) {
            qp_cli_error(NULL, "sending to quipud: %s", strerror(-e));
            goto cleanup;
        }
    }
    for (;;) {
        json_t *msg, *mid;

        if (read_message(cli, c, &msg) != 0)
            goto cleanup;
        if (is_update(msg)) {
            json_t *p = json_object_get(msg, "params");

            if (p != NULL)
                json_array_append(c->pending, p);
            json_decref(msg);
            continue;
        }
        mid = json_object_get(msg, "id");
        /* A null id answers a request the server could not read: ours. */
        if (json_is_integer(mid) ? json_integer_value(mid) != id : !json_is_null(mid)) {
            json_decref(msg);
            continue;
        }
        if (json_object_get(msg, "error") != NULL) {
            *error = json_incref(json_object_get(msg, "error"));
        } else {
            json_t *r = json_object_get(msg, "result");

            *result = json_incref(r != NULL ? r : json_null());
        }
        json_decref(msg);
        rc = 0;
        break;
    }

cleanup:
    free(line);
    json_decref(req);
    json_decref(params);
    return rc;
}

int qp_cli_next_update(qp_cli *cli, json_t **out)
{
    qp_cli_conn *c = cli->conn;

    *out = NULL;
    if (json_array_size(c->pending) > 0) {
        *out = json_incref(json_array_get(c->pending, 0));
        json_array_remove(c->pending, 0);
        return 0;
    }
    for (;;) {
        json_t *msg;

        if (read_message(cli, c, &msg) != 0)
            return QP_CLI_EXIT_FAIL;
        if (is_update(msg) && json_object_get(msg, "params") != NULL) {
            *out = json_incref(json_object_get(msg, "params"));
            json_decref(msg);
            return 0;
        }
        json_decref(msg);
    }
}

int qp_cli_report_error(const qp_cli *cli, const json_t *error)
{
    const char *msg = json_string_value(json_object_get(error, "message"));
    const json_t *data = json_object_get(error, "data");
    const char *kind = json_string_value(json_object_get(data, "kind"));

    if (cli->json) {
        /* The daemon's error object as it came, for scripts. */
        json_t *wrap = json_pack("{s:O}", "error", error);

        if (wrap != NULL)
            qp_cli_print_json(wrap, stdout, true);
        json_decref(wrap);
        return QP_CLI_EXIT_FAIL;
    }
    if (msg == NULL)
        msg = "quipud reported an error without a message";
    if (kind != NULL && strcmp(kind, "query_error") == 0) {
        const char *dmsg = json_string_value(json_object_get(data, "message"));
        json_int_t line = json_integer_value(json_object_get(data, "line"));

        if (dmsg != NULL)
            msg = dmsg;
        if (line > 0)
            qp_cli_error(NULL, "query line %" JSON_INTEGER_FORMAT ": %s", line, msg);
        else
            qp_cli_error(NULL, "query: %s", msg);
    } else {
        qp_cli_error(NULL, "%s", msg);
    }
    return QP_CLI_EXIT_FAIL;
}
