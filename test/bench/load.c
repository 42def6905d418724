/*
 * load — a closed-loop load client for quipud's socket.
 *
 *   load --socket PATH [--clients N] [--window W] [--seconds S]
 *        [--method M] [--params JSON] [--vary KEY=V1,V2,...] [--check]
 *
 * Opens N connections and keeps W requests in flight on each: every reply
 * line received sends the next request on that connection. It prints one
 * line of JSON: requests completed per second, replies that were errors,
 * and the latency percentiles (send to reply, per connection in order).
 *
 * Why a C client: the Python clients of bench.py spent more CPU framing
 * and parsing than quipud spent answering, so they measured themselves.
 * This one never parses a reply unless --check asks (then each reply is
 * loaded with jansson and its "error" member counted); without it, a
 * reply is a line and only its first bytes are looked at for "error".
 *
 * Latency pairs a connection's replies FIFO with its sends. That is exact
 * when quipud answers a connection in request order, and otherwise still
 * bounds the spread: the p99 of a run is the time a request waited behind
 * the window's others, which is what a client sees.
 *
 * --vary KEY=V1,V2 rotates params[KEY] through the values, so a cached
 * daemon sees different keys (one way to measure uncached answers
 * besides --query-cache 0 on quipud).
 *
 * One thread, epoll: 32 connections x 16 requests in flight keep quipud's
 * two pool threads busy while this process uses well under a core.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RBUF_MIN (64 * 1024)

typedef struct conn {
    int fd;
    char *rbuf; /* unconsumed reply bytes */
    size_t rlen, rcap;
    uint64_t *sent_ns; /* FIFO of send times, `window` slots */
    size_t head, count;
    uint64_t next_id;
} conn;

typedef struct opts {
    const char *socket;
    int clients, window;
    double seconds;
    const char *method;
    const char *params;
    const char *vary_key;
    char **vary;
    size_t nvary;
    bool check;
} opts;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "load: out of memory\n");
        exit(1);
    }
    return p;
}

/* The request lines, built once with jansson: one per --vary value. */
static char **build_requests(const opts *o, size_t *n_out)
{
    size_t n = o->nvary ? o->nvary : 1;
    char **lines = xmalloc(n * sizeof *lines);
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *params = json_loads(o->params, 0, &jerr);
        if (!params || !json_is_object(params)) {
            fprintf(stderr, "load: --params is not a JSON object: %s\n", jerr.text);
            exit(2);
        }
        if (o->nvary)
            json_object_set_new(params, o->vary_key, json_string(o->vary[i]));
        json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 0, "method",
                                o->method, "params", params);
        char *text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        size_t len = strlen(text);
        lines[i] = xmalloc(len + 2);
        memcpy(lines[i], text, len);
        lines[i][len] = '\n';
        lines[i][len + 1] = '\0';
        free(text);
    }
    *n_out = n;
    return lines;
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        buf += w;
        len -= (size_t)w;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool reply_is_error(const char *line, size_t len, bool check)
{
    if (check) {
        json_error_t jerr;
        json_t *v = json_loadb(line, len, 0, &jerr);
        bool err = !v || json_object_get(v, "error") != NULL;
        json_decref(v);
        return err;
    }
    /* quipud writes "error" before any result member; a result never
     * starts within the envelope's first bytes. */
    size_t scan = len < 64 ? len : 64;
    return memmem(line, scan, "\"error\"", 7) != NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: load --socket PATH [--clients N] [--window W] [--seconds S]\n"
                    "            [--method M] [--params JSON] [--vary KEY=V1,V2,...] [--check]\n");
    exit(2);
}

static void parse_vary(opts *o, char *spec)
{
    char *eq = strchr(spec, '=');
    if (!eq)
        usage();
    *eq = '\0';
    o->vary_key = spec;
    size_t cap = 8;
    o->vary = xmalloc(cap * sizeof *o->vary);
    for (char *tok = strtok(eq + 1, ","); tok; tok = strtok(NULL, ",")) {
        if (o->nvary == cap) {
            cap *= 2;
            o->vary = realloc(o->vary, cap * sizeof *o->vary);
            if (!o->vary)
                die("realloc");
        }
        o->vary[o->nvary++] = tok;
    }
    if (o->nvary == 0)
        usage();
}

int main(int argc, char **argv)
{
    opts o = {.clients = 32, .window = 16, .seconds = 3.0, .method = "status", .params = "{}"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--check") == 0) {
            o.check = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--socket") == 0)
            o.socket = v;
        else if (strcmp(a, "--clients") == 0)
            o.clients = atoi(v);
        else if (strcmp(a, "--window") == 0)
            o.window = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            o.seconds = atof(v);
        else if (strcmp(a, "--method") == 0)
            o.method = v;
        else if (strcmp(a, "--params") == 0)
            o.params = v;
        else if (strcmp(a, "--vary") == 0)
            parse_vary(&o, v);
        else
            usage();
    }
    if (!o.socket || o.clients < 1 || o.window < 1 || o.seconds <= 0)
        usage();

    size_t nreq;
    char **reqs = build_requests(&o, &nreq);
    size_t rot = 0;

    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    conn *cs = calloc((size_t)o.clients, sizeof *cs);
    if (!cs)
        die("calloc");
    for (int i = 0; i < o.clients; i++) {
        conn *c = &cs[i];
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(o.socket) >= sizeof sa.sun_path) {
            fprintf(stderr, "load: socket path too long\n");
            return 2;
        }
        strcpy(sa.sun_path, o.socket);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            die("connect");
        c->rcap = RBUF_MIN;
        c->rbuf = xmalloc(c->rcap);
        c->sent_ns = xmalloc((size_t)o.window * sizeof *c->sent_ns);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }

    /* Latencies of every reply in the measured interval. */
    size_t lat_cap = 1 << 20, nlat = 0;
    uint64_t *lat = xmalloc(lat_cap * sizeof *lat);
    uint64_t done = 0, errors = 0;

    uint64_t t0 = now_ns();
    uint64_t t_end = t0 + (uint64_t)(o.seconds * 1e9);
    for (int i = 0; i < o.clients; i++) {
        for (int w = 0; w < o.window; w++) {
            const char *r = reqs[rot++ % nreq];
            conn *c = &cs[i];
            c->sent_ns[(c->head + c->count++) % (size_t)o.window] = now_ns();
            send_all(c->fd, r, strlen(r));
        }
    }

    struct epoll_event evs[64];
    bool stopping = false;
    size_t outstanding = (size_t)o.clients * (size_t)o.window;
    while (outstanding > 0) {
        int n = epoll_wait(ep, evs, 64, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        uint64_t t = now_ns();
        if (t >= t_end)
            stopping = true;
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            if (c->rcap - c->rlen < RBUF_MIN / 2) {
                c->rcap *= 2;
                c->rbuf = realloc(c->rbuf, c->rcap);
                if (!c->rbuf)
                    die("realloc");
            }
            ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
            if (r == 0) {
                fprintf(stderr, "load: quipud closed a connection\n");
                return 1;
            }
            if (r < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    continue;
                die("read");
            }
            c->rlen += (size_t)r;
            size_t off = 0;
            char *nl;
            while ((nl = memchr(c->rbuf + off, '\n', c->rlen - off)) != NULL) {
                size_t len = (size_t)(nl - (c->rbuf + off));
                if (reply_is_error(c->rbuf + off, len, o.check))
                    errors++;
                off += len + 1;
                uint64_t sent = c->sent_ns[c->head];
                c->head = (c->head + 1) % (size_t)o.window;
                c->count--;
                outstanding--;
                if (!stopping) {
                    done++;
                    if (nlat == lat_cap) {
                        lat_cap *= 2;
                        lat = realloc(lat, lat_cap * sizeof *lat);
                        if (!lat)
                            die("realloc");
                    }
                    lat[nlat++] = t - sent;
                    const char *rq = reqs[rot++ % nreq];
                    c->sent_ns[(c->head + c->count++) % (size_t)o.window] = now_ns();
                    outstanding++;
                    send_all(c->fd, rq, strlen(rq));
                }
            }
            memmove(c->rbuf, c->rbuf + off, c->rlen - off);
            c->rlen -= off;
        }
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    if (elapsed > o.seconds)
        elapsed = o.seconds; /* replies after the end were drained, not counted */

    qsort(lat, nlat, sizeof *lat, cmp_u64);
#define PCT(p) (nlat ? (double)lat[(size_t)((double)(nlat - 1) * (p))] / 1e6 : 0.0)
    printf("{\"clients\":%d,\"window\":%d,\"seconds\":%.3f,\"requests\":%llu,"
           "\"rps\":%.1f,\"errors\":%llu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           o.clients, o.window, elapsed, (unsigned long long)done, (double)done / elapsed,
           (unsigned long long)errors, PCT(0.50), PCT(0.99), PCT(1.0));
#undef PCT

    for (int i = 0; i < o.clients; i++) {
        close(cs[i].fd);
        free(cs[i].rbuf);
        free(cs[i].sent_ns);
    }
    free(cs);
    for (size_t i = 0; i < nreq; i++)
        free(reqs[i]);
    free(reqs);
    free(lat);
    free(o.vary);
    close(ep);
    return errors ? 3 : 0;
}
