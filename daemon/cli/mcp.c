/*
 * mcp — `quipu mcp [--vault DIR] [--allow-write]`: a Model Context Protocol
 * server on standard input and output for the vault's quipud.
 *
 * Transport (MCP stdio): one JSON-RPC 2.0 message per line, UTF-8, no
 * batches. Protocol revision 2025-11-25; a client that offers an older
 * revision this server also speaks (2025-06-18, 2025-03-26, 2024-11-05) gets
 * that one, any other gets the newest. Before `initialize` only `ping` is
 * answered; every other request gets -32600. Lines over MAX_LINE are refused
 * with -32600 and skipped; invalid JSON gets -32700, a string holding
 * U+0000 -32602; a message that is no request -32600 (id null when it has
 * no valid one); unknown methods -32601; the server keeps serving after
 * each. Notifications are never answered. Nothing but protocol messages
 * goes to standard output: logs (one line per write a tool makes) go to
 * stderr.
 *
 * The daemon: quipud of the vault (found as every quipu command finds it;
 * started, detached, when none answers). A second connection subscribes to
 * `status` once a client subscribes to a resource: every commit pushes an
 * update there, and each subscribed note whose file changed (stat) is
 * reported as notifications/resources/updated.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcp.h"
#include "quipu/text.h"
#include "quipu/version.h"

#define MAX_LINE       ((size_t)16 << 20) /* a request line; bigger ones are refused */
#define START_WAIT_MS  10000              /* for a started quipud's socket */
#define PAGE_RESOURCES 500

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

static const char instructions[] =
    "quipu answers from a live index of an Obsidian vault: full-text search, notes with their "
    "properties and links, backlinks, a person's meetings, Obsidian Tasks queries, unresolved "
    "links. Name notes by vault path (\"People/Lena Okafor.md\"), file name (\"Lena Okafor\") "
    "or alias. Every note is also a file:// resource you can read and subscribe to.";

/* ---- output ------------------------------------------------------------ */

static void emit(json_t *msg)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

    json_decref(msg);
    if (s == NULL) {
        fputs("quipu mcp: out of memory writing a message\n", stderr);
        return;
    }
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(s);
}

static void reply(json_t *id, json_t *result)
{
    emit(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result",
                   result ? result : json_object()));
}

/* Takes data (may be NULL): what a client can act on beside the message. */
static void reply_error_data(json_t *id, int code, const char *message, json_t *data)
{
    json_t *msg = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                            id ? id : json_null(), "error", "code", code, "message", message);

    if (msg != NULL && data != NULL)
        json_object_set(json_object_get(msg, "error"), "data", data);
    json_decref(data);
    emit(msg);
}

static void reply_error(json_t *id, int code, const char *message)
{
    reply_error_data(id, code, message, NULL);
}

/* ---- quipud ------------------------------------------------------------- */

static int probe(const char *path)
{
    struct sockaddr_un sa;
    int fd, rc;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
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
    return fd;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts `quipud VAULT [--socket PATH]` in a session of its own, detached
 * (double fork: it is never our zombie), and waits for its socket. */
static int start_daemon(qp_mcp *m)
{
    qp_cli *cli = m->cli;
    bool own_socket = cli->socket_opt != NULL || getenv("QUIPU_SOCKET") != NULL;
    pid_t pid;
    int status;

    if (cli->vault[0] == '\0')
        return -1;
    fprintf(stderr, "quipu mcp: starting %s %s\n", m->quipud, cli->vault);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        setsid();
        if (fork() != 0)
            _exit(0);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        if (own_socket)
            execlp(m->quipud, m->quipud, cli->vault, "--socket", cli->socket, (char *)NULL);
        else
            execlp(m->quipud, m->quipud, cli->vault, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (long long end = now_ms() + START_WAIT_MS; now_ms() < end;) {
        int fd = probe(cli->socket);

        if (fd >= 0) {
            close(fd);
            return 0;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "quipu mcp: %s did not open %s within %d s\n", m->quipud, cli->socket,
            START_WAIT_MS / 1000);
    return -1;
}

/* Connects m->cli, starting quipud first when nobody listens. */
static int connect_daemon(qp_mcp *m)
{
    int fd;

    if (m->cli->conn != NULL)
        return 0;
    if (qp_cli_find_socket(m->cli) != 0)
        return -1;
    fd = probe(m->cli->socket);
    if (fd >= 0)
        close(fd);
    else if ((fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR) && start_daemon(m) != 0)
        return -1;
    return qp_cli_connect(m->cli) == 0 ? 0 : -1;
}

int qp_mcp_call(qp_mcp *m, const char *method, json_t *params, json_t **result, json_t **error,
                const char **why)
{
    *result = *error = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (connect_daemon(m) != 0)
            break;
        json_incref(params);
        if (qp_cli_call(m->cli, method, params, result, error) == 0) {
            json_decref(params);
            return 0;
        }
        /* The connection broke (quipud restarted or died): once more. */
        qp_cli_disconnect(m->cli);
    }
    json_decref(params);
    *why = "quipud for this vault is not running and could not be started (see quipu mcp's "
           "standard error)";
    return -1;
}

/* ---- URIs --------------------------------------------------------------- */

char *qp_mcp_uri(const qp_mcp *m, const char *rel)
{
    size_t n = strlen(m->root) + 1 + strlen(rel);
    char *full = malloc(n + 1), *out = malloc(3 * n + 8), *w = out;

    if (full == NULL || out == NULL) {
        free(full);
        free(out);
        return NULL;
    }
    snprintf(full, n + 1, "%s/%s", m->root, rel);
    w += sprintf(w, "file://");
    qp_text_uri_encode(w, full);
    free(full);
    return out;
}

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

/* Drops the empty and "." segments of an absolute path, in place, so that
 * every spelling of a file's URI comes to one path. False when a segment
 * is "..": where it leads is not text's to say (a folder may be a
 * symlink), and qp_vault_read refuses it anyway. */
static bool drop_dot_segments(char *path)
{
    char *r = path, *w = path;

    while (*r != '\0') {
        while (*r == '/')
            r++;
        char *seg = r;
        while (*r != '\0' && *r != '/')
            r++;
        size_t l = (size_t)(r - seg);
        if (l == 0 || (l == 1 && seg[0] == '.'))
            continue;
        if (l == 2 && seg[0] == '.' && seg[1] == '.')
            return false;
        *w++ = '/';
        memmove(w, seg, l);
        w += l;
    }
    *w = '\0';
    return true;
}

char *qp_mcp_uri_path(const qp_mcp *m, const char *uri)
{
    size_t rl = strlen(m->root);
    char *dec, *w;

    if (uri == NULL || strncmp(uri, "file://", 7) != 0)
        return NULL;
    uri += 7;
    if (strncmp(uri, "localhost/", 10) == 0)
        uri += 9;
    dec = malloc(strlen(uri) + 1);
    if (dec == NULL)
        return NULL;
    w = dec;
    for (const char *p = uri; *p; p++) {
        if (*p == '%') {
            int a = hexval(p[1]), b = a < 0 ? -1 : hexval(p[2]);

            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                free(dec);
                return NULL;
            }
            *w++ = (char)(a * 16 + b);
            p += 2;
        } else if (*p == '?' || *p == '#') {
            break;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    /* Inside the root (a real path: no dot segments), and a note;
     * qp_vault_read refuses symlinks that lead out. */
    if (dec[0] != '/' || !drop_dot_segments(dec) || strncmp(dec, m->root, rl) != 0 ||
        dec[rl] != '/' || !qp_vault_is_note(dec + rl + 1)) {
        free(dec);
        return NULL;
    }
    memmove(dec, dec + rl + 1, strlen(dec + rl + 1) + 1);
    return dec;
}

/* ---- notes, for resources/list and list_notes --------------------------- */

json_t *qp_mcp_list(qp_mcp *m, json_t *filters, long limit, const char *cursor, char **next,
                    long *total, int *code, char *why, size_t whylen)
{
    json_t *result = NULL, *error = NULL, *notes = NULL;
    const char *cwhy = NULL;

    *next = NULL;
    *total = 0;
    *code = 0;
    if (m->has_list) {
        json_t *p = filters ? json_deep_copy(filters) : json_object();

        json_object_set_new(p, "limit", json_integer(limit));
        if (cursor != NULL)
            json_object_set_new(p, "cursor", json_string(cursor));
        if (qp_mcp_call(m, "list", p, &result, &error, &cwhy) != 0) {
            snprintf(why, whylen, "%s", cwhy);
            return NULL;
        }
        if (error != NULL) {
            int ecode = (int)json_integer_value(json_object_get(error, "code"));

            if (ecode != -32601) {
                snprintf(why, whylen, "%s", json_string_value(json_object_get(error, "message")));
                *code = ecode;
                json_decref(error);
                return NULL;
            }
            m->has_list = false; /* an older quipud: fall back to search */
            json_decref(error);
            error = NULL;
        } else {
            notes = json_incref(json_object_get(result, "notes"));
            *total = (long)json_integer_value(json_object_get(result, "total"));
            if (json_is_string(json_object_get(result, "next_cursor")))
                *next = strdup(json_string_value(json_object_get(result, "next_cursor")));
            json_decref(result);
            return notes;
        }
    }
    /* Without `list`: a search of filters only lists notes by path. */
    {
        json_t *p = json_pack("{s:s, s:I}", "query", "path:\"\"", "limit", (json_int_t)limit);
        const char *folder = json_string_value(json_object_get(filters, "folder"));
        const char *tag = json_string_value(json_object_get(filters, "tag"));
        char q[1024];

        if (folder != NULL || tag != NULL) {
            snprintf(q, sizeof q, "path:\"%s\" %s%s", folder ? folder : "", tag ? "tag:" : "",
                     tag ? tag : "");
            json_object_set_new(p, "query", json_string(q));
        }
        if (cursor != NULL)
            json_object_set_new(p, "cursor", json_string(cursor));
        if (qp_mcp_call(m, "search", p, &result, &error, &cwhy) != 0) {
            snprintf(why, whylen, "%s", cwhy);
            return NULL;
        }
        if (error != NULL) {
            snprintf(why, whylen, "%s", json_string_value(json_object_get(error, "message")));
            *code = (int)json_integer_value(json_object_get(error, "code"));
            json_decref(error);
            return NULL;
        }
        notes = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(result, "results"), i, r) json_array_append_new(
            notes, json_pack("{s:O, s:O, s:O, s:O}", "path", json_object_get(r, "path"), "kind",
                             json_object_get(r, "kind"), "title", json_object_get(r, "title"),
                             "date", json_object_get(r, "date")));
        *total = (long)json_integer_value(json_object_get(result, "total"));
        if (json_is_string(json_object_get(result, "next_cursor")))
            *next = strdup(json_string_value(json_object_get(result, "next_cursor")));
        json_decref(result);
        return notes;
    }
}

/* ---- resources ---------------------------------------------------------- */

json_t *qp_mcp_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char *fixed;
    size_t w = 0;

    if (j != NULL)
        return j;
    fixed = malloc(3 * n + 1);
    if (fixed == NULL)
        return json_string("");
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = qp_text_decode(s + i, n - i, &cp);

        if ((cp == 0xFFFD && l == 1) || cp == 0) {
            memcpy(fixed + w, "\xEF\xBF\xBD", 3); /* U+FFFD for what is not UTF-8 */
            w += 3;
        } else {
            memcpy(fixed + w, s + i, l);
            w += l;
        }
        i += l;
    }
    j = json_stringn(fixed, w);
    free(fixed);
    return j ? j : json_string("");
}

static json_t *resources_list(qp_mcp *m, json_t *params, int *code, const char **msg)
{
    json_t *jc = json_object_get(params, "cursor");
    const char *cursor = json_string_value(jc);
    char why[256], *next = NULL;
    long total = 0;
    int qcode = 0;
    json_t *notes, *res, *arr;
    size_t i;
    json_t *n;
    static char buf[300];

    /* null is no cursor, as for the tools' optional arguments. */
    if (jc != NULL && !json_is_null(jc) && cursor == NULL) {
        *code = -32602;
        *msg = "resources/list: cursor must be a string, the nextCursor of the previous page";
        return NULL;
    }
    notes = qp_mcp_list(m, NULL, PAGE_RESOURCES, cursor, &next, &total, &qcode, why, sizeof why);
    if (notes == NULL) {
        /* The cursor is all the client sends: quipud's -32602 is about it. */
        if (qcode == -32602)
            snprintf(buf, sizeof buf,
                     "resources/list: cursor \"%.64s\" is not a nextCursor this server gave: "
                     "pass one back as it came, or none for the first page",
                     cursor ? cursor : "");
        else
            snprintf(buf, sizeof buf, "%s", why);
        *code = qcode == -32602 ? -32602 : -32603;
        *msg = buf;
        return NULL;
    }
    arr = json_array();
    json_array_foreach(notes, i, n)
    {
        const char *path = json_string_value(json_object_get(n, "path"));
        char *uri = path ? qp_mcp_uri(m, path) : NULL;
        json_t *title = json_object_get(n, "title");

        if (uri == NULL)
            continue;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:O, s:s}", "uri", uri, "name", path,
                                             "title", json_is_string(title) ? title : json_null(),
                                             "mimeType", "text/markdown"));
        if (!json_is_string(title))
            json_object_del(json_array_get(arr, json_array_size(arr) - 1), "title");
        free(uri);
    }
    json_decref(notes);
    res = json_pack("{s:o}", "resources", arr);
    if (next != NULL)
        json_object_set_new(res, "nextCursor", json_string(next));
    free(next);
    return res;
}

/* Sets *data (new) on some errors. */
static json_t *resources_read(qp_mcp *m, json_t *params, int *code, const char **msg, json_t **data)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    char *rel = qp_mcp_uri_path(m, uri), *text = NULL;
    size_t len = 0;
    qp_file_stat fs;
    qp_error err = QP_ERROR_INIT;
    json_t *res = NULL;
    qp_rc rc;

    if (uri == NULL) {
        *code = -32602;
        *msg = "resources/read: uri must be a string";
        return NULL;
    }
    rc = rel ? qp_vault_read(m->vault, rel, QP_NOTE_MAX_SIZE, &text, &len, &fs, &err) : QP_EINVAL;
    if (rc == QP_ETOOBIG) {
        /* The index's one size limit: past it the file is an attachment,
         * which resources/list does not list either. Saying so beats "not
         * found" for a file the client can see; read_note reads it in parts. */
        static char buf[PATH_MAX + 256];

        snprintf(buf, sizeof buf,
                 "resources/read: %s is %llu bytes, over the %u-byte limit of a note (the index "
                 "keeps it as an attachment, and resources/list does not list it): read it in "
                 "parts with the read_note tool (offset, max_bytes)",
                 rel, (unsigned long long)fs.size, QP_NOTE_MAX_SIZE);
        *code = -32602;
        *msg = buf;
        *data = json_pack("{s:s, s:I, s:I}", "path", rel, "size", (json_int_t)fs.size, "limit",
                          (json_int_t)QP_NOTE_MAX_SIZE);
        free(rel);
        return NULL;
    }
    if (rc != 0) {
        *code = -32002;
        *msg = "resource not found: not a note of this vault";
        free(rel);
        return NULL;
    }
    res = json_pack("{s:[{s:s, s:s, s:o}]}", "contents", "uri", uri, "mimeType", "text/markdown",
                    "text", qp_mcp_text(text, len));
    free(rel);
    free(text);
    return res;
}

static bool stat_note(const qp_mcp *m, const char *rel, struct stat *st)
{
    char p[PATH_MAX * 2];

    snprintf(p, sizeof p, "%s/%s", m->root, rel);
    return stat(p, st) == 0;
}

/* Subscribes the second connection to status: every commit pushes there. */
static void watch_start(qp_mcp *m)
{
    static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{"
                              "\"method\":\"status\"}}\n";
    int fd;

    if (m->watch_fd >= 0 || m->cli->socket[0] == '\0')
        return;
    fd = probe(m->cli->socket);
    if (fd < 0)
        return;
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return;
    }
    m->watch_fd = fd;
}

/* After a commit: every subscribed note whose file changed. */
static void check_subs(qp_mcp *m)
{
    for (size_t i = 0; i < m->nsubs; i++) {
        qp_mcp_sub *s = &m->subs[i];
        struct stat st;
        bool exists = stat_note(m, s->path, &st);

        if (exists == s->exists &&
            (!exists || (st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
                         st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec &&
                         st.st_size == s->st.st_size && st.st_ino == s->st.st_ino)))
            continue;
        s->exists = exists;
        if (exists)
            s->st = st;
        emit(json_pack("{s:s, s:s, s:{s:s}}", "jsonrpc", "2.0", "method",
                       "notifications/resources/updated", "params", "uri", s->uri));
    }
}

static json_t *resources_subscribe(qp_mcp *m, json_t *params, bool on, int *code, const char **msg)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    char *rel = qp_mcp_uri_path(m, uri);
    struct stat st;

    if (uri == NULL || rel == NULL) {
        free(rel);
        *code = uri == NULL ? -32602 : -32002;
        *msg =
            uri == NULL ? "uri must be a string" : "resource not found: not a note of this vault";
        return NULL;
    }
    /* By note, not by URI text: two spellings of one file's URI are one
     * subscription (its notifications name the URI first subscribed). */
    for (size_t i = 0; i < m->nsubs; i++) {
        if (strcmp(m->subs[i].path, rel) == 0) {
            if (!on) {
                free(m->subs[i].uri);
                free(m->subs[i].path);
                m->subs[i] = m->subs[--m->nsubs];
            }
            free(rel);
            return json_object();
        }
    }
    if (!on) {
        free(rel);
        return json_object();
    }
    if (!stat_note(m, rel, &st)) {
        free(rel);
        *code = -32002;
        *msg = "resource not found: no such note";
        return NULL;
    }
    qp_mcp_sub *v = realloc(m->subs, (m->nsubs + 1) * sizeof *v);
    char *u = strdup(uri);

    if (v == NULL || u == NULL) {
        free(u);
        free(rel);
        if (v != NULL)
            m->subs = v;
        *code = -32603;
        *msg = "out of memory";
        return NULL;
    }
    m->subs = v;
    m->subs[m->nsubs++] = (qp_mcp_sub){u, rel, true, st};
    watch_start(m);
    return json_object();
}

/* ---- dispatch ----------------------------------------------------------- */

static json_t *initialize(qp_mcp *m, json_t *params)
{
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    const char *v = versions[0];

    for (size_t i = 0; want != NULL && i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(want, versions[i]) == 0)
            v = versions[i];
    m->initialized = true;
    return json_pack("{s:s, s:{s:{s:b}, s:{s:b, s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion",
                     v, "capabilities", "tools", "listChanged", 0, "resources", "subscribe", 1,
                     "listChanged", 0, "serverInfo", "name", "quipu", "title",
                     "quipu (Obsidian vault index)", "version", QP_VERSION_STRING, "instructions",
                     instructions);
}

/* A string with U+0000 is valid JSON, but every name and text quipu takes
 * is a C string: "Ideas.md\0../x" would be read as "Ideas.md". */
static const char nul_refused[] = "strings holding U+0000 are not accepted";

/* One message; `nul`: it holds a string with U+0000, to be refused once
 * its id is known. */
static void handle(qp_mcp *m, json_t *msg, bool nul)
{
    json_t *id = json_object_get(msg, "id");
    json_t *jm = json_object_get(msg, "method");
    json_t *params = json_object_get(msg, "params");
    const char *method = json_string_value(jm);
    const char *emsg = NULL;
    int code = 0;
    json_t *res = NULL, *edata = NULL;

    if (!json_is_object(msg)) {
        reply_error(NULL, -32600,
                    json_is_array(msg) ? "batches are not supported"
                                       : "a message must be a JSON object");
        return;
    }
    if (jm == NULL && (json_object_get(msg, "result") || json_object_get(msg, "error")))
        return; /* a response: this server sends no requests */
    if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
        reply_error(NULL, -32600, "id must be a string or an integer");
        return;
    }
    /* What is no request is answered even without an id (JSON-RPC 2.0: an
     * Invalid Request gets id null): a client that sent `{}` or a method
     * that is no string learns why nothing happened. */
    if (!json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0 || method == NULL) {
        reply_error(id, -32600, "not a JSON-RPC 2.0 request (jsonrpc \"2.0\" and a method)");
        return;
    }
    if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
        reply_error(id, -32600, "params must be an object");
        return;
    }
    if (id == NULL) /* notifications: initialized, cancelled, ... need nothing */
        return;
    if (nul) {
        reply_error(id, -32602, nul_refused);
        return;
    }
    if (params != NULL && !json_is_object(params)) {
        /* An array is valid JSON-RPC, but every MCP method takes an object. */
        reply_error(id, -32602, "params must be an object");
        return;
    }
    if (strcmp(method, "ping") == 0) {
        reply(id, json_object());
        return;
    }
    if (strcmp(method, "initialize") == 0) {
        if (m->initialized) {
            reply_error(id, -32600, "already initialized");
            return;
        }
        reply(id, initialize(m, params));
        return;
    }
    if (!m->initialized) {
        reply_error(id, -32600, "not initialized: send initialize first");
        return;
    }
    if (strcmp(method, "tools/list") == 0) {
        res = json_pack("{s:o}", "tools", qp_mcp_tools(m));
    } else if (strcmp(method, "tools/call") == 0) {
        const char *name = json_string_value(json_object_get(params, "name"));
        json_t *args = json_object_get(params, "arguments");
        bool unknown = false;

        if (name == NULL) {
            code = -32602;
            emsg = "tools/call: name must be a string";
        } else if (args != NULL && !json_is_object(args)) {
            code = -32602;
            emsg = "tools/call: arguments must be an object";
        } else {
            res = qp_mcp_tool_call(m, name, args, &unknown);
            if (unknown) {
                static char buf[160];

                snprintf(buf, sizeof buf, "unknown tool: %.100s (see tools/list)", name);
                code = -32602;
                emsg = buf;
            }
        }
    } else if (strcmp(method, "resources/list") == 0) {
        res = resources_list(m, params, &code, &emsg);
    } else if (strcmp(method, "resources/templates/list") == 0) {
        res = json_pack("{s:[]}", "resourceTemplates");
    } else if (strcmp(method, "resources/read") == 0) {
        res = resources_read(m, params, &code, &emsg, &edata);
    } else if (strcmp(method, "resources/subscribe") == 0) {
        res = resources_subscribe(m, params, true, &code, &emsg);
    } else if (strcmp(method, "resources/unsubscribe") == 0) {
        res = resources_subscribe(m, params, false, &code, &emsg);
    } else {
        code = -32601;
        emsg = "method not found";
    }
    if (res != NULL)
        reply(id, res);
    else
        reply_error_data(id, code ? code : -32603, emsg ? emsg : "out of memory", edata);
}

static void handle_line(qp_mcp *m, const char *line, size_t n)
{
    json_error_t jerr;
    json_t *msg;
    bool nul = false;

    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    if (n == 0)
        return;
    msg = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
    if (msg == NULL && json_error_code(&jerr) == json_error_null_character) {
        /* Valid JSON all the same: parsed again only to answer its id. */
        msg = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        nul = true;
    }
    if (msg == NULL && json_error_code(&jerr) == json_error_null_byte_in_key) {
        reply_error(NULL, -32602, nul_refused); /* jansson holds no such key: the id is lost */
        return;
    }
    if (msg == NULL) {
        char buf[200];

        snprintf(buf, sizeof buf, "parse error: %s", jerr.text);
        reply_error(NULL, -32700, buf);
        return;
    }
    handle(m, msg, nul);
    json_decref(msg);
}

/* Reads what the status connection has; true when an update arrived. */
static bool watch_read(qp_mcp *m)
{
    char buf[65536];
    ssize_t r = read(m->watch_fd, buf, sizeof buf);

    if (r <= 0) {
        if (r < 0 && errno == EINTR)
            return false;
        close(m->watch_fd); /* quipud went away; the next subscribe reconnects */
        m->watch_fd = -1;
        return true;
    }
    return memchr(buf, '\n', (size_t)r) != NULL;
}

static int serve(qp_mcp *m)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    bool skipping = false; /* inside a line over MAX_LINE */

    if (buf == NULL)
        return QP_CLI_EXIT_FAIL;
    for (;;) {
        struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = m->watch_fd, .events = POLLIN}};
        int n = poll(fds, m->watch_fd >= 0 ? 2 : 1, m->nsubs > 0 && m->watch_fd < 0 ? 1000 : -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (m->nsubs > 0 && m->watch_fd < 0) {
            watch_start(m); /* quipud came back */
            check_subs(m);
        }
        if (m->watch_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && watch_read(m))
            check_subs(m);
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (cap - len < 65536) {
            char *b = realloc(buf, cap * 2);

            if (b == NULL)
                break;
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(0, buf + len, cap - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* the client closed standard input: done */
        len += (size_t)r;
        size_t start = 0;

        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);

            if (nl == NULL)
                break;
            if (!skipping)
                handle_line(m, buf + start, (size_t)(nl - (buf + start)));
            skipping = false;
            start = (size_t)(nl - buf) + 1;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len > MAX_LINE) {
            if (!skipping)
                reply_error(NULL, -32600, "message too long (over 16 MiB); skipped");
            skipping = true;
            len = 0;
        }
        if (!skipping && cap > (4u << 20) && len < cap / 4) {
            char *b = realloc(buf, cap / 2); /* give a huge line's memory back */

            if (b != NULL) {
                buf = b;
                cap /= 2;
            }
        }
    }
    free(buf);
    return QP_CLI_EXIT_OK;
}

/* The quipud next to this program (the build tree, or the same bin/). */
static char *sibling_quipud(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 8);
    char *slash;

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    strcpy(slash + 1, "quipud");
    return access(self, X_OK) == 0 ? strdup(self) : NULL;
}

int qp_cli_cmd_mcp(qp_cli *cli, const qp_cli_args *a)
{
    qp_mcp m;
    const char *opt = qp_cli_opt_value(a, "--quipud"), *env = getenv("QUIPUD"), *why = NULL;
    char *found = NULL;
    json_t *st = NULL, *err = NULL;
    qp_error verr = QP_ERROR_INIT;
    int rc = QP_CLI_EXIT_FAIL;

    memset(&m, 0, sizeof m);
    m.cli = cli;
    m.allow_write = qp_cli_opt_value(a, "--allow-write") != NULL;
    m.watch_fd = -1;
    m.has_list = m.has_unresolved = m.has_complete = true;
    m.quipud = opt ? opt : env && env[0] ? env : (found = sibling_quipud()) ? found : "quipud";
    signal(SIGPIPE, SIG_IGN);

    /* The vault's root comes from its daemon: --socket may name any one. */
    if (qp_mcp_call(&m, "status", NULL, &st, &err, &why) != 0 || err != NULL) {
        fprintf(stderr, "quipu mcp: %s\n",
                err ? json_string_value(json_object_get(err, "message")) : why);
        goto cleanup;
    }
    const char *root = json_string_value(json_object_get(st, "vault"));
    if (root == NULL || realpath(root, m.root) == NULL ||
        qp_vault_open(&m.vault, m.root, &verr) != 0) {
        fprintf(stderr, "quipu mcp: the daemon's vault %s: %s\n", root ? root : "?",
                verr.msg[0] ? verr.msg : strerror(errno));
        goto cleanup;
    }
    fprintf(stderr, "quipu mcp: serving %s (%s)\n", m.root,
            m.allow_write ? "read and write" : "read-only");
    rc = serve(&m);
cleanup:
    for (size_t i = 0; i < m.nsubs; i++) {
        free(m.subs[i].uri);
        free(m.subs[i].path);
    }
    free(m.subs);
    if (m.watch_fd >= 0)
        close(m.watch_fd);
    qp_vault_close(m.vault);
    json_decref(st);
    json_decref(err);
    qp_cli_disconnect(cli);
    free(found);
    return rc;
}
