/*
 * server — socket, clients, dispatch, subscriptions; see server.h.
 *
 * Client lifetime: a client holds one reference while its handle is open
 * plus one per job in flight; it is freed when the count reaches zero,
 * which only happens after its close callback. A closing client gets no
 * more output: finished jobs drop their bytes.
 *
 * Subscriptions: each belongs to one client and is re-run after every
 * commit on the pool. At most one run per subscription is in flight; a
 * commit during a run marks it dirty and it runs again when done, so the
 * last update always reflects the last commit. An update is pushed only when
 * the XXH3 of the result bytes differs from the last one pushed.
 */

/* struct ucred and SO_PEERCRED (peer uid check) are Linux/GNU extensions;
 * flock() is BSD. */
#define _GNU_SOURCE

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "changes.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "quipu/query.h"
#include "quipu/version.h"
#include "readers.h"

#define CLIENT_MAX_INFLIGHT 4096 /* requests of one client on the pool */
#define READ_BUF            65536
#define PROGRESS_MS         100  /* status subscribers: at most ~10 progress updates/s */
#define CACHE_BUCKETS       1024 /* power of two */

/* The result cache: answers of the methods that are pure functions of the
 * index (backlinks, mentions, note, resolve), by method and params text,
 * valid for exactly one generation. Every commit empties it; a request whose
 * answer is cached at the current generation is answered on the loop
 * without a trip to the pool. Task queries are not cached: their answers
 * depend on today's date. */
typedef struct centry {
    struct centry *next; /* in its bucket */
    uint64_t khash;
    char *key; /* method "\n" params */
    size_t klen;
    char *result;
    size_t len;
} centry;

typedef struct client client;
typedef struct sub sub;

struct client {
    uv_pipe_t pipe; /* first: the handle is the client */
    qpd_server *srv;
    qpd_framer fr;
    client *prev, *next;
    unsigned refs;
    unsigned inflight;                  /* jobs accepted: running on the pool or waiting in waitq */
    unsigned running;                   /* jobs on the pool */
    struct rpc_job *waitq, *waitq_tail; /* over the per-client share of the pool */
    bool closing;
    unsigned long long id; /* for the log */
    char rbuf[READ_BUF];
};

struct sub {
    sub *prev, *next;
    long long id;
    client *c;
    const char *method; /* static (method table) */
    char *params;       /* JSON text */
    uint64_t hash;
    int64_t generation; /* of the last update pushed */
    bool running, dirty, dead;
};

struct qpd_server {
    uv_pipe_t pipe; /* first */
    qpd_daemon *d;
    client *clients;
    size_t nclients;
    sub *subs;
    long long next_sub;
    unsigned long long next_client;
    uv_timer_t progress;
    uint64_t progress_last;
    centry *cache[CACHE_BUCKETS];
    /* The index's status counts (JSON text) at generation status_gen: they
     * change only with a commit, and clients poll status while waiting for
     * one, so status is answered on the loop from these between commits. */
    char *status_counts;
    int64_t status_gen;
    int64_t cache_generation; /* the generation every entry belongs to */
    size_t cache_bytes;
    char lock_path[PATH_MAX + 8];
    bool bound;
    int handles_open;
};

/* A handler's answer: only reply_sent()/reply_later() make one, and the
 * compiler insists it is used, so each request is answered exactly once. */
typedef struct qpd_reply {
    int later;
} qpd_reply;

#define QPD_MUST __attribute__((warn_unused_result))

static QPD_MUST qpd_reply reply_sent(void)
{
    return (qpd_reply){0};
}

static QPD_MUST qpd_reply reply_later(void)
{
    return (qpd_reply){1};
}

enum {
    QPD_ON_LOOP = 1,
    QPD_ON_WORKER = 2,
    QPD_SUBSCRIBABLE = 4,
};

typedef struct qpd_method {
    const char *name;
    qpd_reply (*handler)(client *c, const struct qpd_method *m, qpd_request *req);
    unsigned flags;
} qpd_method;

/* ---- output ------------------------------------------------------------- */

typedef struct write_req {
    uv_write_t req; /* first */
    char *buf;
} write_req;

static void client_close(client *c);

static void write_cb(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    (void)status; /* errors surface as a read error/EOF, which closes */

    free(w->buf);
    free(w);
}

/* Sends one message; takes `buf` (NULL means out of memory: the client is
 * dropped, since it would otherwise wait for a reply forever). */
static void client_send(client *c, char *buf, size_t len)
{
    write_req *w;
    uv_buf_t b;
    size_t queued;

    if (c->closing) {
        free(buf);
        return;
    }
    if (buf == NULL) {
        qpd_log(QPD_LOG_ERROR, "client %llu: out of memory for a reply", c->id);
        client_close(c);
        return;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(buf);
        client_close(c);
        return;
    }
    w->buf = buf;
    b = uv_buf_init(buf, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_cb) != 0) {
        free(buf);
        free(w);
        client_close(c);
        return;
    }
    queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
    if (queued > c->srv->d->max_output) {
        qpd_log(QPD_LOG_WARN, "client %llu: %zu bytes unread, disconnecting it", c->id, queued);
        client_close(c);
    }
}

static void client_send_json(client *c, json_t *msg)
{
    size_t len = 0;
    char *s = msg ? qpd_proto_dump(msg, &len) : NULL;

    json_decref(msg);
    client_send(c, s, len);
}

static void client_error(client *c, json_t *id, int code, const char *message, json_t *data)
{
    client_send_json(c, qpd_proto_error(id, code, message, data));
}

/* ---- result cache ------------------------------------------------------- */

static bool cacheable(const char *method)
{
    return strcmp(method, "backlinks") == 0 || strcmp(method, "mentions") == 0 ||
           strcmp(method, "note") == 0 || strcmp(method, "resolve") == 0 ||
           strcmp(method, "search") == 0;
}

/* "method\nparams": new memory, or NULL when out of memory. */
static char *cache_key(const char *method, const char *params, size_t *klen)
{
    size_t nm = strlen(method), np = strlen(params);
    char *k = malloc(nm + np + 2);

    if (k == NULL)
        return NULL;
    memcpy(k, method, nm);
    k[nm] = '\n';
    memcpy(k + nm + 1, params, np + 1);
    *klen = nm + np + 1;
    return k;
}

static void cache_clear(qpd_server *srv)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        for (centry *e = srv->cache[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e->key);
            free(e->result);
            free(e);
        }
        srv->cache[i] = NULL;
    }
    srv->cache_bytes = 0;
}

/* The cached answer at the current generation, or NULL. */
static const centry *cache_get(qpd_server *srv, const char *key, size_t klen)
{
    uint64_t h;

    if (srv->cache_generation != srv->d->generation || srv->cache_bytes == 0)
        return NULL;
    h = XXH3_64bits(key, klen);
    for (const centry *e = srv->cache[h & (CACHE_BUCKETS - 1)]; e != NULL; e = e->next)
        if (e->khash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* Stores an answer computed at `generation`; takes `result`. Answers of an
 * older generation than the loop's are dropped: they can never be served. */
static void cache_put(qpd_server *srv, const char *method, const char *params, int64_t generation,
                      char *result, size_t len)
{
    qpd_daemon *d = srv->d;
    size_t klen;
    char *key;
    centry *e;
    uint64_t h;

    if (d->query_cache == 0 || generation != d->generation || len > d->query_cache / 4) {
        free(result);
        return;
    }
    if (srv->cache_generation != generation) {
        cache_clear(srv);
        srv->cache_generation = generation;
    }
    key = cache_key(method, params, &klen);
    if (key == NULL || cache_get(srv, key, klen) != NULL || (e = malloc(sizeof *e)) == NULL) {
        free(key);
        free(result);
        return;
    }
    if (srv->cache_bytes + len + klen > d->query_cache)
        cache_clear(srv); /* crude, but bounded; a generation rarely fills it */
    h = XXH3_64bits(key, klen);
    *e = (centry){srv->cache[h & (CACHE_BUCKETS - 1)], h, key, klen, result, len};
    srv->cache[h & (CACHE_BUCKETS - 1)] = e;
    srv->cache_bytes += len + klen;
}

/* ---- subscriptions ------------------------------------------------------ */

static void sub_unlink(qpd_server *srv, sub *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void sub_free(sub *s)
{
    free(s->params);
    free(s);
}

/* Ends a subscription; a run in flight frees it when it returns. */
static void sub_end(qpd_server *srv, sub *s)
{
    sub_unlink(srv, s);
    s->dead = true;
    if (!s->running)
        sub_free(s);
}

/* ---- jobs on the pool --------------------------------------------------- */

typedef enum job_kind {
    JOB_REQUEST,
    JOB_SUBSCRIBE,
    JOB_RERUN,
} job_kind;

typedef struct rpc_job {
    uv_work_t req;        /* first */
    struct rpc_job *next; /* in the client's waitq */
    job_kind kind;
    qpd_server *srv;
    client *c; /* one reference held */
    sub *s;    /* JOB_SUBSCRIBE, JOB_RERUN */
    const char *method;
    char *params;
    json_t *id; /* a deep copy: only this job touches it */
    /* the daemon's state when the request arrived, for status */
    bool ready;
    size_t done, total, pending;
    char *counts; /* status: the index's counts, kept for the loop when stable */
    /* results, built on the worker */
    char *out; /* the whole line to send */
    size_t out_len;
    bool failed;
    uint64_t hash;
    int64_t generation;
    char *result; /* the bare result, kept for the cache (NULL: not cacheable) */
    size_t result_len;
    uint64_t t_submit; /* uv_hrtime(), for the debug log */
} rpc_job;

/* The daemon's state for status, taken on the loop. */
typedef struct status_state {
    bool ready;
    size_t done, total, pending;
} status_state;

static status_state state_now(qpd_daemon *d)
{
    return (status_state){d->ready, d->scan_done, d->scan_total, qpd_changes_pending(d)};
}

/* The status result: the index's counts plus the daemon's state. New
 * memory, or NULL when out of memory. Any thread: no shared JSON values. */
static char *status_result(qpd_daemon *d, const char *counts, const status_state *ss)
{
    json_t *o = json_loads(counts, 0, NULL);
    char *s;

    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "version", json_string(QP_VERSION_STRING));
    json_object_set_new(o, "protocol", json_integer(QP_PROTOCOL_VERSION));
    json_object_set_new(o, "vault", json_string(d->vault_root));
    json_object_set_new(o, "state", json_string(ss->ready ? "ready" : "scanning"));
    json_object_set_new(
        o, "progress",
        json_pack("{s:I, s:I}", "done", (json_int_t)ss->done, "total", (json_int_t)ss->total));
    json_object_set_new(o, "pending", json_integer((json_int_t)ss->pending));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The library's status counts with the generation clients see: `base` is
 * what earlier, rebuilt indexes counted (see qpd_readers_generation). */
static char *status_counts(const char *lib_json, int64_t base)
{
    json_t *o = json_loads(lib_json, 0, NULL);
    char *s = NULL;
    json_int_t g;

    if (o != NULL && json_is_object(o) &&
        (g = json_integer_value(json_object_get(o, "generation")), true) &&
        json_object_set_new(o, "generation", json_integer(g + (json_int_t)base)) == 0)
        s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The error object (not the envelope) for a failed query. */
static json_t *query_error(qp_rc rc, const qp_error *err, int *code_out)
{
    int code;
    json_t *data = json_object();

    switch (rc) {
    case QP_EINVAL:
        code = QPD_RPC_INVALID_PARAMS;
        break;
    case QP_ENOTFOUND:
        code = QPD_RPC_NOT_FOUND;
        break;
    case QP_EQUERY:
        code = QPD_RPC_QUERY_ERROR;
        json_object_set_new(data, "line", json_integer(err->line));
        if (err->col > 0)
            json_object_set_new(data, "column", json_integer(err->col));
        json_object_set_new(data, "message", json_string(err->msg));
        break;
    default:
        code = QPD_RPC_INTERNAL;
        break;
    }
    json_object_set_new(data, "kind", json_string(qpd_proto_error_kind(code)));
    *code_out = code;
    return json_pack("{s:i, s:s, s:o}", "code", code, "message",
                     err->msg[0] ? err->msg : qp_rc_name(rc), "data", data);
}

static void rpc_work(uv_work_t *req)
{
    rpc_job *job = (rpc_job *)req;
    qpd_daemon *d = job->srv->d;
    qp_error err = QP_ERROR_INIT;
    qp_store *st = qpd_readers_acquire(d->readers, &err);
    char *result = NULL;
    qp_rc rc;

    bool stable = false;

    if (st == NULL) {
        rc = err.code ? err.code : QP_EIO;
    } else {
        /* The query reads one snapshot; the generation around it tells which
         * one only when nothing was committed meanwhile. */
        int64_t before = qpd_readers_generation(d->readers, st);
        int64_t lib_gen = qp_store_generation(st);

        rc = qp_query_run(&result, st, d->vault, job->method, job->params, &err);
        job->generation = qpd_readers_generation(d->readers, st);
        stable = before == job->generation;
        if (rc == QP_ECORRUPT)
            qpd_readers_corrupt(d->readers, st, err.msg); /* the loop rebuilds the index */
        if (rc == QP_OK && strcmp(job->method, "status") == 0) {
            /* The counts were read in one snapshot; when stable, it is
             * job->generation's and may be kept for the loop. */
            char *counts = status_counts(result, before - lib_gen);
            status_state ss = {job->ready, job->done, job->total, job->pending};

            free(result);
            result = counts ? status_result(d, counts, &ss) : NULL;
            if (result == NULL)
                rc = qp_error_set(&err, QP_ENOMEM, "out of memory");
            if (stable && result != NULL)
                job->counts = counts;
            else
                free(counts);
        }
        qpd_readers_release(d->readers, st);
    }

    if (rc != QP_OK) {
        int code;
        json_t *eo = query_error(rc, &err, &code);

        job->failed = true;
        if (job->kind == JOB_RERUN) {
            char *text = json_dumps(eo, JSON_COMPACT);

            if (text != NULL) {
                job->hash = XXH3_64bits(text, strlen(text));
                job->out = qpd_proto_update(job->s->id, job->generation, text, strlen(text), true,
                                            &job->out_len);
            }
            free(text);
            json_decref(eo);
        } else {
            json_t *msg =
                json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", job->id, "error", eo);

            job->out = msg ? qpd_proto_dump(msg, &job->out_len) : NULL;
            json_decref(msg);
        }
        return;
    }

    job->hash = XXH3_64bits(result, strlen(result));
    switch (job->kind) {
    case JOB_REQUEST:
        job->out = qpd_proto_result(job->id, result, strlen(result), &job->out_len);
        break;
    case JOB_SUBSCRIBE: {
        size_t n = strlen(result) + 64;
        char *wrapped = malloc(n);

        if (wrapped != NULL) {
            int k =
                snprintf(wrapped, n, "{\"subscription\":%lld,\"result\":%s}", job->s->id, result);
            job->out = qpd_proto_result(job->id, wrapped, (size_t)k, &job->out_len);
        }
        free(wrapped);
        break;
    }
    case JOB_RERUN:
        job->out = qpd_proto_update(job->s->id, job->generation, result, strlen(result), false,
                                    &job->out_len);
        break;
    }
    if (stable && d->query_cache > 0 && cacheable(job->method)) {
        job->result = result;
        job->result_len = strlen(result);
        return;
    }
    free(result);
}

static void client_unref(client *c)
{
    if (--c->refs == 0) {
        qpd_framer_free(&c->fr);
        free(c);
    }
}

static void submit(qpd_server *srv, rpc_job *job);
static void client_pump(client *c);

static void rpc_done(uv_work_t *req, int status)
{
    rpc_job *job = (rpc_job *)req;
    client *c = job->c;
    sub *s = job->s;
    qpd_server *srv = job->srv;
    char *out = NULL;
    size_t out_len = job->out_len;
    bool send = false;

    c->inflight--;
    c->running--;
    if (job->result != NULL && status == 0) {
        cache_put(srv, job->method, job->params, job->generation, job->result, job->result_len);
        job->result = NULL;
    }
    free(job->result);
    if (job->counts != NULL && status == 0 && job->generation == srv->d->generation &&
        srv->status_gen != job->generation) {
        free(srv->status_counts);
        srv->status_counts = job->counts;
        srv->status_gen = job->generation;
        job->counts = NULL;
    }
    free(job->counts);
    if (status != 0 || c->closing) {
        free(job->out); /* cancelled, or the client hung up */
        job->out = NULL;
    }
    out = job->out;
    job->out = NULL;
    /* s->running stays true until the end: sending can exceed --max-output
     * and close the client, which ends its subscriptions; a subscription
     * whose run is in flight is then only marked dead, and freed below. */
    switch (job->kind) {
    case JOB_REQUEST:
        send = !c->closing; /* NULL out: out of memory, client_send drops it */
        break;
    case JOB_SUBSCRIBE:
        if (out != NULL && !job->failed && !s->dead && !c->closing) {
            /* Registered only now: a subscription whose first run failed
             * never existed. */
            s->hash = job->hash;
            s->generation = job->generation;
            s->next = srv->subs;
            if (srv->subs)
                srv->subs->prev = s;
            srv->subs = s;
            qpd_log(QPD_LOG_DEBUG, "client %llu: subscription %lld to %s", c->id, s->id, s->method);
            if (srv->d->generation > s->generation)
                s->dirty = true; /* a commit landed while it ran */
        } else {
            s->dead = true;
        }
        send = !c->closing;
        break;
    case JOB_RERUN:
        qpd_log(QPD_LOG_DEBUG, "subscription %lld: generation %lld in %.2f ms, %s", s->id,
                (long long)job->generation, (double)(uv_hrtime() - job->t_submit) / 1e6,
                job->hash != s->hash ? "changed" : "unchanged");
        if (!s->dead && out != NULL && job->hash != s->hash && job->generation >= s->generation) {
            s->hash = job->hash;
            s->generation = job->generation;
            send = true;
        }
        break;
    }
    json_decref(job->id);
    free(job->params);
    free(job);
    if (send)
        client_send(c, out, out_len); /* may close c (c itself lives: our reference) */
    else
        free(out);
    if (s != NULL) {
        s->running = false;
        if (s->dead) {
            sub_free(s); /* unlinked by sub_end, or never linked */
            s = NULL;
        }
    }
    if (s != NULL && s->dirty && !c->closing && !srv->d->stopping) {
        rpc_job *again = calloc(1, sizeof *again);

        s->dirty = false;
        if (again != NULL) {
            again->kind = JOB_RERUN;
            again->s = s;
            again->c = c;
            again->method = s->method;
            again->params = strdup(s->params);
            if (again->params != NULL)
                submit(srv, again);
            else
                free(again); /* the next commit tries again */
        }
    }
    if (!c->closing)
        client_pump(c);
    client_unref(c);
}

static void start_job(qpd_server *srv, rpc_job *job)
{
    job->c->running++;
    if (uv_queue_work(srv->d->loop, &job->req, rpc_work, rpc_done) != 0)
        abort(); /* only fails for a NULL work callback: a bug */
}

/* One client gets at most as many pool threads as there are: its other
 * requests wait in its own queue, so a client that pipelines thousands of
 * requests cannot starve the others (the pool itself is FIFO). */
static unsigned client_share(qpd_server *srv)
{
    return srv->d->threads > 1 ? srv->d->threads - 1 : 1;
}

/* Queues a job; fills in the state snapshot and takes a client reference. */
static void submit(qpd_server *srv, rpc_job *job)
{
    qpd_daemon *d = srv->d;
    client *c = job->c;

    job->srv = srv;
    job->t_submit = uv_hrtime();
    job->ready = d->ready;
    job->done = d->scan_done;
    job->total = d->scan_total;
    job->pending = qpd_changes_pending(d);
    if (job->s)
        job->s->running = true;
    c->refs++;
    c->inflight++;
    if (c->running < client_share(srv)) {
        start_job(srv, job);
        return;
    }
    job->next = NULL;
    if (c->waitq_tail)
        c->waitq_tail->next = job;
    else
        c->waitq = job;
    c->waitq_tail = job;
}

static char *cached_reply(qpd_server *srv, const char *method, const char *params, json_t *id,
                          size_t *len);

/* Answers a waiting request from the cache when its answer was put there
 * while it waited; true when it did (the job is freed). A client that
 * pipelines thousands of copies of a few requests gets each computed once,
 * not once per copy: 20,000 backlinks of a target with 200k links, 40
 * distinct params, took 144 s when every copy ran on the pool. */
static bool pump_cached(client *c, rpc_job *job)
{
    size_t len = 0;
    char *out;

    if (job->kind != JOB_REQUEST)
        return false;
    out = cached_reply(c->srv, job->method, job->params, job->id, &len);
    if (out == NULL)
        return false;
    c->inflight--;
    c->refs--; /* the job's reference; the caller of client_pump holds one */
    json_decref(job->id);
    free(job->params);
    free(job);
    client_send(c, out, len); /* may close c */
    return true;
}

/* Starts waiting jobs while the client has a share of the pool free. */
static void client_pump(client *c)
{
    /* Cached answers are sent on the loop: at most this many per call, so
     * one client's queue cannot hold the loop (the next job then goes to
     * the pool, and its completion pumps again). */
    unsigned cached_budget = 64;

    while (c->waitq != NULL && c->running < client_share(c->srv) && !c->closing) {
        rpc_job *job = c->waitq;

        c->waitq = job->next;
        if (c->waitq == NULL)
            c->waitq_tail = NULL;
        if (cached_budget > 0 && pump_cached(c, job)) {
            cached_budget--;
            continue;
        }
        /* The state snapshot is taken now: a status that waited reports
         * the state it runs in. */
        job->ready = c->srv->d->ready;
        job->done = c->srv->d->scan_done;
        job->total = c->srv->d->scan_total;
        job->pending = qpd_changes_pending(c->srv->d);
        start_job(c->srv, job);
    }
}

/* The status result built on the loop from the counts of the current
 * generation, or NULL when they are not known (or out of memory). */
static char *status_on_loop(qpd_server *srv)
{
    status_state ss;

    if (srv->status_counts == NULL || srv->status_gen != srv->d->generation)
        return NULL;
    ss = state_now(srv->d);
    return status_result(srv->d, srv->status_counts, &ss);
}

/* An update built while walking the subscriptions, sent after the walk:
 * a send can close its client, which ends (frees) its subscriptions. */
typedef struct later_send {
    struct later_send *next;
    client *c; /* one reference held */
    char *out;
    size_t len;
} later_send;

/* A status subscription re-run on the loop; false when the counts of this
 * generation are not known yet (the pool computes them). */
static bool rerun_status_on_loop(qpd_server *srv, sub *s, later_send **later)
{
    char *result = status_on_loop(srv);
    size_t n;
    uint64_t h;
    later_send *ls;

    if (result == NULL)
        return false;
    n = strlen(result);
    h = XXH3_64bits(result, n);
    if (h != s->hash && srv->d->generation >= s->generation &&
        (ls = calloc(1, sizeof *ls)) != NULL) {
        ls->out = qpd_proto_update(s->id, srv->d->generation, result, n, false, &ls->len);
        ls->c = s->c;
        ls->c->refs++;
        ls->next = *later;
        *later = ls;
        s->hash = h;
        s->generation = srv->d->generation;
    }
    free(result);
    return true;
}

static void rerun(qpd_server *srv, bool status_only)
{
    later_send *later = NULL;

    for (sub *s = srv->subs; s != NULL; s = s->next) {
        rpc_job *job;

        if (status_only && strcmp(s->method, "status") != 0)
            continue;
        if (s->running) {
            s->dirty = true;
            continue;
        }
        if (strcmp(s->method, "status") == 0 && rerun_status_on_loop(srv, s, &later))
            continue;
        job = calloc(1, sizeof *job);
        if (job == NULL)
            continue; /* the next commit tries again */
        job->kind = JOB_RERUN;
        job->s = s;
        job->c = s->c;
        job->method = s->method;
        job->params = strdup(s->params);
        if (job->params == NULL) {
            free(job);
            continue;
        }
        submit(srv, job);
    }
    while (later != NULL) {
        later_send *ls = later;

        later = ls->next;
        client_send(ls->c, ls->out, ls->len); /* a closed client drops it */
        client_unref(ls->c);
        free(ls);
    }
}

void qpd_server_on_commit(qpd_daemon *d)
{
    if (d->server == NULL)
        return;
    cache_clear(d->server); /* every entry is of an older generation now */
    rerun(d->server, false);
}

static void progress_cb(uv_timer_t *t)
{
    qpd_server *srv = t->data;

    srv->progress_last = uv_now(srv->d->loop);
    rerun(srv, true);
}

void qpd_server_on_state(qpd_daemon *d)
{
    qpd_server *srv = d->server;
    uint64_t now, since;

    if (srv == NULL || d->stopping || srv->subs == NULL)
        return;
    now = uv_now(d->loop);
    since = now - srv->progress_last;
    if (d->ready && !d->scan_total) {
        progress_cb(&srv->progress); /* the final "ready" must not wait */
        return;
    }
    if (since >= PROGRESS_MS)
        progress_cb(&srv->progress);
    else if (!uv_is_active((uv_handle_t *)&srv->progress))
        uv_timer_start(&srv->progress, progress_cb, PROGRESS_MS - since, 0);
}

/* ---- methods ------------------------------------------------------------ */

static char *params_text(const json_t *params)
{
    return json_dumps(params, JSON_COMPACT);
}

/* The reply line for `id` from the cache (new, *len its length), or NULL
 * when the answer is not cached. */
static char *cached_reply(qpd_server *srv, const char *method, const char *params, json_t *id,
                          size_t *len)
{
    size_t klen;
    char *key;
    const centry *e;

    *len = 0;
    if (!cacheable(method) || srv->cache_bytes == 0)
        return NULL;
    key = cache_key(method, params, &klen);
    e = key ? cache_get(srv, key, klen) : NULL;
    free(key);
    if (e == NULL)
        return NULL;
    return qpd_proto_result(id, e->result, e->len, len);
}

/* Answers from the cache when it can; true when it did. */
static bool answer_cached(client *c, const qpd_method *m, qpd_request *req, const char *params)
{
    size_t len = 0;
    char *out = cached_reply(c->srv, m->name, params, req->id, &len);

    if (out == NULL)
        return false;
    client_send(c, out, len);
    return true;
}

static qpd_reply m_query(client *c, const qpd_method *m, qpd_request *req)
{
    rpc_job *job;

    if (strcmp(m->name, "status") == 0) {
        char *result = status_on_loop(c->srv);

        if (result != NULL) {
            size_t len = 0;
            char *out = qpd_proto_result(req->id, result, strlen(result), &len);

            free(result);
            client_send(c, out, len);
            return reply_sent();
        }
    }
    job = calloc(1, sizeof *job);

    if (job != NULL && (job->params = params_text(req->params)) != NULL &&
        answer_cached(c, m, req, job->params)) {
        free(job->params);
        free(job);
        return reply_sent();
    }
    if (job == NULL || job->params == NULL || (job->id = json_deep_copy(req->id)) == NULL) {
        if (job)
            free(job->params);
        free(job);
        client_error(c, req->id, QPD_RPC_INTERNAL, "out of memory", NULL);
        return reply_sent();
    }
    job->kind = JOB_REQUEST;
    job->c = c;
    job->method = m->name;
    submit(c->srv, job);
    return reply_later();
}

static const qpd_method *find_method(const char *name);

static qpd_reply m_subscribe(client *c, const qpd_method *m, qpd_request *req)
{
    json_t *jm = json_object_get(req->params, "method");
    json_t *jp = json_object_get(req->params, "params");
    const qpd_method *target;
    rpc_job *job;
    sub *s;
    (void)m;

    if (!json_is_string(jm)) {
        client_error(c, req->id, QPD_RPC_INVALID_PARAMS, "subscribe: method must be a string",
                     NULL);
        return reply_sent();
    }
    target = find_method(json_string_value(jm));
    if (target == NULL || !(target->flags & QPD_SUBSCRIBABLE)) {
        client_error(c, req->id, QPD_RPC_INVALID_PARAMS,
                     "subscribe: method must be one of status, note, resolve, backlinks, "
                     "mentions, search, tasks.query, tasks.blocks",
                     NULL);
        return reply_sent();
    }
    if (jp != NULL && !json_is_object(jp)) {
        client_error(c, req->id, QPD_RPC_INVALID_PARAMS, "subscribe: params must be an object",
                     NULL);
        return reply_sent();
    }
    job = calloc(1, sizeof *job);
    s = calloc(1, sizeof *s);
    if (job == NULL || s == NULL || (s->params = jp ? params_text(jp) : strdup("{}")) == NULL ||
        (job->params = strdup(s->params)) == NULL || (job->id = json_deep_copy(req->id)) == NULL) {
        if (s)
            free(s->params);
        if (job)
            free(job->params);
        free(s);
        free(job);
        client_error(c, req->id, QPD_RPC_INTERNAL, "out of memory", NULL);
        return reply_sent();
    }
    s->id = ++c->srv->next_sub;
    s->c = c;
    s->method = target->name;
    job->kind = JOB_SUBSCRIBE;
    job->c = c;
    job->s = s;
    job->method = target->name;
    submit(c->srv, job);
    return reply_later();
}

static qpd_reply m_unsubscribe(client *c, const qpd_method *m, qpd_request *req)
{
    json_t *js = json_object_get(req->params, "subscription");
    (void)m;

    if (!json_is_integer(js)) {
        client_error(c, req->id, QPD_RPC_INVALID_PARAMS,
                     "unsubscribe: subscription must be an integer", NULL);
        return reply_sent();
    }
    for (sub *s = c->srv->subs; s != NULL; s = s->next) {
        if (s->id == json_integer_value(js) && s->c == c) {
            sub_end(c->srv, s);
            if (req->id != NULL)
                client_send_json(
                    c, json_pack("{s:s, s:O, s:b}", "jsonrpc", "2.0", "id", req->id, "result", 1));
            return reply_sent();
        }
    }
    client_error(c, req->id, QPD_RPC_INVALID_PARAMS, "unsubscribe: no such subscription", NULL);
    return reply_sent();
}

/* Sorted by name: found with bsearch. */
static const qpd_method methods[] = {
    {"backlinks", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"backlinks.subpath", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"complete.blocks", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"complete.headings", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"complete.notes", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"complete.tags", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"complete.values", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"list", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"mentions", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"note", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"problems", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"rename.plan", m_query, QPD_ON_WORKER},
    {"resolve", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"search", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"status", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"subscribe", m_subscribe, QPD_ON_LOOP},
    {"symbols", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"symbols.search", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"tasks.blocks", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"tasks.query", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"unresolved", m_query, QPD_ON_WORKER | QPD_SUBSCRIBABLE},
    {"unsubscribe", m_unsubscribe, QPD_ON_LOOP},
};

static int cmp_method(const void *key, const void *elem)
{
    return strcmp(key, ((const qpd_method *)elem)->name);
}

static const qpd_method *find_method(const char *name)
{
    return bsearch(name, methods, sizeof methods / sizeof methods[0], sizeof methods[0],
                   cmp_method);
}

/* ---- clients ------------------------------------------------------------ */

static void handle_line(client *c, const char *line, size_t len)
{
    qpd_request req;
    json_t *reply = NULL;
    const qpd_method *m;
    qpd_reply r;

    if (qpd_proto_parse(line, len, &req, &reply) != 0) {
        client_send_json(c, reply);
        return;
    }
    m = find_method(req.method);
    if (req.id == NULL && (m == NULL || !(m->flags & QPD_ON_LOOP))) {
        /* A notification: nobody waits for the answer, and queries change
         * nothing, so only loop methods (unsubscribe) have an effect. */
        qpd_request_free(&req);
        return;
    }
    if (m == NULL) {
        client_error(c, req.id, QPD_RPC_METHOD_NOT_FOUND, "method not found",
                     json_pack("{s:s}", "method", req.method));
    } else if (c->srv->d->stopping || c->inflight >= CLIENT_MAX_INFLIGHT) {
        client_error(c, req.id, QPD_RPC_OVERLOADED,
                     c->srv->d->stopping ? "shutting down" : "too many requests in flight", NULL);
    } else {
        r = m->handler(c, m, &req);
        (void)r;
    }
    qpd_request_free(&req);
}

static void client_close_cb(uv_handle_t *h)
{
    client *c = (client *)h;

    client_unref(c);
}

static void client_close(client *c)
{
    qpd_server *srv = c->srv;

    if (c->closing)
        return;
    c->closing = true;
    /* Jobs not started yet are dropped; running ones finish and see closing. */
    while (c->waitq != NULL) {
        rpc_job *job = c->waitq;

        c->waitq = job->next;
        if (job->s != NULL) {
            job->s->running = false;
            if (job->kind == JOB_SUBSCRIBE || job->s->dead)
                sub_free(job->s); /* never linked, or already ended */
            else
                job->s->dead = true; /* linked: sub_end below frees it */
        }
        c->inflight--;
        json_decref(job->id);
        free(job->params);
        free(job);
        c->refs--; /* the handle's reference keeps c alive until close_cb */
    }
    c->waitq_tail = NULL;
    for (sub *s = srv->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (s->c == c)
            sub_end(srv, s);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nclients--;
    qpd_log(QPD_LOG_DEBUG, "client %llu: closed", c->id);
    uv_close((uv_handle_t *)&c->pipe, client_close_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    client *c = req->data;
    (void)status;

    free(req);
    client_close(c);
    client_unref(c);
}

/* Sends what is queued, then closes (for -32600 over the size limit). */
static void client_close_after_write(client *c)
{
    uv_shutdown_t *req = malloc(sizeof *req);

    uv_read_stop((uv_stream_t *)&c->pipe);
    if (req == NULL ||
        (req->data = c, c->refs++, uv_shutdown(req, (uv_stream_t *)&c->pipe, shutdown_cb) != 0)) {
        if (req != NULL)
            c->refs--;
        free(req);
        client_close(c);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    client *c = (client *)h;
    (void)suggested;

    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    client *c = (client *)stream;
    const char *line;
    size_t len;
    int r;

    (void)buf;
    if (nread < 0) {
        client_close(c);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    r = qpd_framer_feed(&c->fr, c->rbuf, (size_t)nread);
    if (r == -2) {
        qpd_log(QPD_LOG_ERROR, "client %llu: out of memory", c->id);
        client_close(c);
        return;
    }
    while (r == 0 && !c->closing && (r = qpd_framer_next(&c->fr, &line, &len)) == 1) {
        handle_line(c, line, len);
        r = 0;
    }
    if (r == -1 && !c->closing) {
        char msg[96];

        snprintf(msg, sizeof msg, "message over the size limit of %zu bytes",
                 c->srv->d->max_message);
        qpd_log(QPD_LOG_WARN, "client %llu: %s; closing", c->id, msg);
        client_error(c, NULL, QPD_RPC_INVALID_REQUEST, msg,
                     json_pack("{s:I}", "limit", (json_int_t)c->srv->d->max_message));
        client_close_after_write(c);
    }
}

/* Only the daemon's own user may talk to it. */
static bool peer_allowed(client *c)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof cred;

    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    return cred.uid == geteuid();
}

static void connection_cb(uv_stream_t *server, int status)
{
    qpd_server *srv = (qpd_server *)server;
    client *c;

    if (status < 0) {
        qpd_log(QPD_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    c = malloc(sizeof *c);
    if (c == NULL) {
        qpd_log(QPD_LOG_ERROR, "out of memory");
        abort();
    }
    memset(c, 0, offsetof(client, rbuf));
    c->srv = srv;
    c->refs = 1;
    c->id = ++srv->next_client;
    qpd_framer_init(&c->fr, srv->d->max_message);
    uv_pipe_init(srv->d->loop, &c->pipe, 0);
    c->next = srv->clients;
    if (srv->clients)
        srv->clients->prev = c;
    srv->clients = c;
    srv->nclients++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        client_close(c);
        return;
    }
    if (!peer_allowed(c)) {
        qpd_log(QPD_LOG_WARN, "client %llu: another user; refused", c->id);
        client_close(c);
        return;
    }
    qpd_log(QPD_LOG_DEBUG, "client %llu: connected (%zu clients)", c->id, srv->nclients);
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

/* ---- the socket --------------------------------------------------------- */

/* True when a server answers on `path`. */
static bool socket_alive(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t n = strlen(path);
    bool alive;

    if (fd < 0 || n >= sizeof sa.sun_path) {
        if (fd >= 0)
            close(fd);
        return true; /* cannot tell: do not remove someone else's socket */
    }
    memcpy(sa.sun_path, path, n + 1);
    alive = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
            (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return alive;
}

static int bind_socket(qpd_server *srv, const char *path)
{
    mode_t old = umask(0177); /* the socket is born 0600 (tmux) */
    int r = uv_pipe_bind(&srv->pipe, path);

    umask(old);
    return r;
}

qp_rc qpd_server_start(qpd_daemon *d, qp_error *err)
{
    qpd_server *srv = calloc(1, sizeof *srv);
    const char *path = d->socket_path;
    char dir[PATH_MAX];
    char *slash;
    int lock_fd = -1, r;
    qp_rc rc = QP_OK;

    if (srv == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    srv->d = d;
    d->server = srv;
    uv_pipe_init(d->loop, &srv->pipe, 0);
    uv_timer_init(d->loop, &srv->progress);
    srv->progress.data = srv;
    srv->handles_open = 2;
    if (strlen(path) >= sizeof((struct sockaddr_un *)0)->sun_path)
        return qp_error_set(err, QP_EINVAL, "socket path too long (%zu bytes): %s", strlen(path),
                            path);
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        r = qpd_paths_mkdir_p(dir, 0700);
        if (r != 0)
            return qp_error_set(err, QP_EIO, "%s: %s", dir, strerror(-r));
    }
    snprintf(srv->lock_path, sizeof srv->lock_path, "%s.lock", path);
    lock_fd = open(srv->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0)
        return qp_error_set(err, QP_EIO, "%s: %s", srv->lock_path, strerror(errno));
    /* Two daemons starting at once must not both decide the socket is stale. */
    while (flock(lock_fd, LOCK_EX) != 0 && errno == EINTR)
        ;
    r = bind_socket(srv, path);
    if (r == UV_EADDRINUSE) {
        if (socket_alive(path)) {
            rc = qp_error_set(err, QP_EBUSY, "another quipud is serving %s on %s", d->vault_root,
                              path);
            goto cleanup;
        }
        qpd_log(QPD_LOG_INFO, "removing stale socket %s", path);
        unlink(path);
        r = bind_socket(srv, path);
    }
    if (r != 0) {
        rc = qp_error_set(err, QP_EIO, "bind %s: %s", path, uv_strerror(r));
        goto cleanup;
    }
    srv->bound = true;
    chmod(path, 0600);
    r = uv_listen((uv_stream_t *)&srv->pipe, 511, connection_cb);
    if (r != 0) {
        rc = qp_error_set(err, QP_EIO, "listen %s: %s", path, uv_strerror(r));
        goto cleanup;
    }
    qpd_log(QPD_LOG_INFO, "listening on %s", path);

cleanup:
    flock(lock_fd, LOCK_UN);
    close(lock_fd);
    if (rc == QP_EBUSY)
        srv->lock_path[0] = '\0'; /* the other daemon's: leave it */
    return rc;
}

static void server_handle_closed(uv_handle_t *h)
{
    qpd_server *srv = h->data;

    srv->handles_open--;
}

void qpd_server_stop(qpd_daemon *d)
{
    qpd_server *srv = d->server;

    if (srv == NULL)
        return;
    srv->pipe.data = srv;
    if (!uv_is_closing((uv_handle_t *)&srv->pipe))
        uv_close((uv_handle_t *)&srv->pipe, server_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&srv->progress))
        uv_close((uv_handle_t *)&srv->progress, server_handle_closed);
    while (srv->clients != NULL)
        client_close(srv->clients);
}

void qpd_server_free(qpd_daemon *d)
{
    qpd_server *srv = d->server;

    if (srv == NULL)
        return;
    if (srv->bound)
        unlink(d->socket_path);
    if (srv->lock_path[0] != '\0')
        unlink(srv->lock_path);
    cache_clear(srv);
    free(srv->status_counts);
    free(srv);
    d->server = NULL;
}
