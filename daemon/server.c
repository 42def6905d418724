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

/* struct ucred and SO_PEERCRED (peer uid check) are Linux/GNU extensions. */
#define _GNU_SOURCE

#include "server.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "cache.h"
#include "changes.h"
#include "listen.h"
#include "log.h"
#include "mem.h"
#include "methods.h"
#include "proto.h"
#include "quipu/query.h"
#include "quipu/version.h"
#include "readers.h"

#define CLIENT_MAX_INFLIGHT 4096 /* requests of one client on the pool */
#define READ_BUF            65536
#define PROGRESS_MS         100 /* status subscribers: at most ~10 progress updates/s */

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
    const qpd_method *method; /* static (method table) */
    char *params;             /* JSON text */
    uint64_t hash;
    int64_t generation; /* of the last update pushed */
    uint64_t state_seq; /* QPD_STATE: the daemon's state the last result showed */
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
    /* Bumped by every change of the daemon's state (qpd_server_on_state),
     * with or without subscribers. */
    uint64_t state_seq;
    /* "version":…,"protocol":…,"vault":…, of status answers: made once. */
    char *state_static;
    qpd_cache *cache; /* answers of QPD_CACHEABLE methods, this generation's */
    /* The index's status counts (JSON text) at generation status_gen: they
     * change only with a commit, and clients poll status while waiting for
     * one, so status is answered on the loop from these between commits. */
    char *status_counts;
    int64_t status_gen;
    char lock_path[PATH_MAX + 8];
    int handles_open;
};

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
    size_t queued; /* bytes of earlier messages the client has not read */

    if (c->closing) {
        free(buf);
        return;
    }
    if (buf == NULL) {
        qpd_log(QPD_LOG_ERROR, "client %llu: out of memory for a reply", c->id);
        client_close(c);
        return;
    }
    /* The limit is on what a client leaves unread, not on one answer: a
     * client that reads gets a reply of any size (a vault-wide task list
     * can pass 64 MiB), and one that does not is cut off at its next
     * message, holding at most the limit plus one message. */
    queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
    if (queued > c->srv->d->max_output) {
        qpd_log(QPD_LOG_WARN, "client %llu: %zu bytes unread, disconnecting it", c->id, queued);
        free(buf);
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

/* The daemon's state for QPD_STATE methods, taken on the loop. */
typedef struct status_state {
    bool ready;
    size_t done, total, pending;
} status_state;

typedef struct rpc_job {
    uv_work_t req;        /* first */
    struct rpc_job *next; /* in the client's waitq */
    job_kind kind;
    qpd_server *srv;
    client *c; /* one reference held */
    sub *s;    /* JOB_SUBSCRIBE, JOB_RERUN */
    const qpd_method *method;
    char *params;
    json_t *id; /* a deep copy: only this job touches it */
    /* the daemon's state when the job started (snapshot_state) */
    status_state state;
    uint64_t state_seq;
    char *counts; /* QPD_STATE: the index's counts, kept for the loop when stable */
    /* results, built on the worker */
    char *out; /* the whole line to send */
    size_t out_len;
    bool failed;
    uint64_t hash;
    int64_t generation;
    char *result; /* the bare result, kept for the cache (NULL: not cacheable) */
    size_t result_len;
    char day[16];      /* QPD_DATED: the local date when the job was made (cache key) */
    uint64_t t_submit; /* uv_hrtime(), for the debug log */
} rpc_job;

/* For a QPD_DATED method, the local date as "YYYY-MM-DD" in buf (the day
 * a task query without `today` counts from); "" otherwise. */
static void local_day(const qpd_method *m, char *buf, size_t size)
{
    time_t now;
    struct tm tm;

    buf[0] = '\0';
    if ((m->flags & QPD_DATED) && (now = time(NULL), localtime_r(&now, &tm) != NULL))
        strftime(buf, size, "%Y-%m-%d", &tm);
}

/* The day part of `m`'s cache key (local_day's buf): NULL for a method
 * whose answer does not depend on the date. */
static const char *day_key(const qpd_method *m, const char *day)
{
    return (m->flags & QPD_DATED) ? day : NULL;
}

static status_state state_now(qpd_daemon *d)
{
    return (status_state){d->ready, d->scan_done, d->scan_total, qpd_changes_pending(d)};
}

/* Takes the state a QPD_STATE job reports, when it starts. */
static void snapshot_state(qpd_server *srv, rpc_job *job)
{
    job->state = state_now(srv->d);
    job->state_seq = srv->state_seq;
}

/* The status result: the index's counts (JSON text of an object) with the
 * daemon's state appended as text, so nothing is parsed again. New memory,
 * or NULL when out of memory. Any thread: srv->state_static is immutable. */
static char *status_result(const qpd_server *srv, const char *counts, const status_state *ss)
{
    size_t n = strlen(counts), ns = strlen(srv->state_static), nt;
    char tail[160];
    char *s, *p;
    int k;

    if (n < 2 || counts[0] != '{' || counts[n - 1] != '}')
        return NULL;
    k = snprintf(tail, sizeof tail,
                 "\"state\":\"%s\",\"progress\":{\"done\":%zu,\"total\":%zu},\"pending\":%zu}",
                 ss->ready ? "ready" : "scanning", ss->done, ss->total, ss->pending);
    if (k < 0 || (size_t)k >= sizeof tail)
        return NULL;
    nt = (size_t)k;
    s = malloc(n + 1 + ns + nt + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, counts, n - 1); /* without its '}' */
    p = s + n - 1;
    if (n > 2)
        *p++ = ',';
    memcpy(p, srv->state_static, ns);
    memcpy(p + ns, tail, nt + 1);
    return s;
}

/* The library's status counts with the generation clients see: `base` is
 * what earlier, rebuilt indexes counted (see qpd_readers_generation). The
 * one parse and the one serialisation of a status answer. */
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

/* Worker, QPD_STATE: the library's counts plus the job's state. The counts
 * are kept for the loop when the snapshot was stable (they are then
 * job->generation's). */
static qp_rc add_state(rpc_job *job, char **result, int64_t base, bool stable, qp_error *err)
{
    char *counts = status_counts(*result, base);

    free(*result);
    *result = counts ? status_result(job->srv, counts, &job->state) : NULL;
    if (*result == NULL) {
        free(counts);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if (stable)
        job->counts = counts;
    else
        free(counts);
    return QP_OK;
}

/* Worker: runs the job's query on a reader. *stable says whether nothing
 * was committed meanwhile: the query's snapshot is then job->generation. */
static qp_rc run_query(rpc_job *job, char **result, bool *stable, qp_error *err)
{
    qpd_daemon *d = job->srv->d;
    qp_store *st = qpd_readers_acquire(d->readers, err);
    int64_t before, lib_gen;
    qp_rc rc;

    *result = NULL;
    *stable = false;
    if (st == NULL)
        return err->code ? err->code : QP_EIO;
    before = qpd_readers_generation(d->readers, st);
    lib_gen = qp_store_generation(st);
    rc = qp_query_run(result, st, d->vault, job->method->name, job->params, err);
    job->generation = qpd_readers_generation(d->readers, st);
    *stable = before == job->generation;
    if (rc == QP_ECORRUPT)
        qpd_readers_corrupt(d->readers, st, err->msg); /* the loop rebuilds the index */
    if (rc == QP_OK && (job->method->flags & QPD_STATE))
        rc = add_state(job, result, before - lib_gen, *stable, err);
    qpd_readers_release(d->readers, st);
    return rc;
}

/* Worker: the line for a failed query: an error response, or for a re-run
 * an update carrying the error (docs/protocol.md, "Push updates"). */
static void build_error(rpc_job *job, qp_rc rc, const qp_error *err)
{
    int code;
    json_t *eo = query_error(rc, err, &code);

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
        json_t *msg = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", job->id, "error", eo);

        job->out = msg ? qpd_proto_dump(msg, &job->out_len) : NULL;
        json_decref(msg);
    }
}

/* Worker: the line for a result (taken), by job kind. The line is built
 * in the result's own memory unless the cache keeps the result: a task
 * answer can be tens of megabytes, and a copy beside it doubled the peak. */
static void build_result(rpc_job *job, char *result, bool stable)
{
    size_t n = strlen(result);
    bool keep =
        stable && (job->method->flags & QPD_CACHEABLE) && qpd_cache_fits(job->srv->cache, n);
    char *body = result;

    job->hash = XXH3_64bits(result, n);
    if (keep) {
        job->result = result;
        job->result_len = n;
        body = malloc(n + 1);
        if (body == NULL)
            return; /* no line: answered as out of memory */
        memcpy(body, result, n + 1);
    }
    switch (job->kind) {
    case JOB_REQUEST:
        job->out = qpd_proto_result_take(job->id, body, n, &job->out_len);
        break;
    case JOB_SUBSCRIBE:
        job->out = qpd_proto_subscribed_take(job->id, job->s->id, body, n, &job->out_len);
        break;
    case JOB_RERUN:
        job->out = qpd_proto_update_take(job->s->id, job->generation, body, n, &job->out_len);
        break;
    }
}

/* A job that ran this long built and freed enough to be worth giving the
 * heap's free pages back (qpd_mem_release; the trim itself costs ~1 ms). */
#define RELEASE_AFTER_NS (50u * 1000 * 1000)

static void rpc_work(uv_work_t *req)
{
    rpc_job *job = (rpc_job *)req;
    qp_error err = QP_ERROR_INIT;
    char *result = NULL;
    bool stable;
    uint64_t t0 = uv_hrtime();
    qp_rc rc = run_query(job, &result, &stable, &err);

    if (rc != QP_OK) {
        free(result);
        build_error(job, rc, &err);
    } else {
        build_result(job, result, stable);
    }
    if (uv_hrtime() - t0 > RELEASE_AFTER_NS)
        qpd_mem_release();
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

/* Queues a re-run of `s`; false when out of memory (the next commit tries
 * again). */
static bool submit_rerun(qpd_server *srv, sub *s)
{
    rpc_job *job = calloc(1, sizeof *job);

    if (job == NULL)
        return false;
    job->kind = JOB_RERUN;
    job->s = s;
    job->c = s->c;
    job->method = s->method;
    local_day(job->method, job->day, sizeof job->day);
    job->params = strdup(s->params);
    if (job->params == NULL) {
        free(job);
        return false;
    }
    submit(srv, job);
    return true;
}

/* Loop: what a finished job leaves besides its line: an answer for the
 * cache, the status counts of a generation. */
static void keep_for_loop(qpd_server *srv, rpc_job *job, int status)
{
    if (job->result != NULL && status == 0) {
        qpd_cache_put(srv->cache, job->method->name, job->params, day_key(job->method, job->day),
                      job->generation, srv->d->generation, job->result, job->result_len);
        job->result = NULL;
    }
    free(job->result);
    job->result = NULL;
    if (job->counts != NULL && status == 0 && job->generation == srv->d->generation &&
        srv->status_gen != job->generation) {
        free(srv->status_counts);
        srv->status_counts = job->counts;
        srv->status_gen = job->generation;
        job->counts = NULL;
    }
    free(job->counts);
    job->counts = NULL;
}

/* Loop: the subscription's result is older than what the daemon knows now
 * (a commit, or for QPD_STATE a state change, landed while it ran): it runs
 * once more. Whatever order the events came in, the last update a
 * subscriber gets reflects the last commit and the last state. */
static void mark_if_stale(qpd_server *srv, sub *s, const rpc_job *job)
{
    if (srv->d->generation > job->generation)
        s->dirty = true;
    if ((s->method->flags & QPD_STATE) && srv->state_seq != job->state_seq)
        s->dirty = true;
}

/* Loop, JOB_SUBSCRIBE: registered only now, so a subscription whose first
 * run failed never existed. */
static void register_sub(qpd_server *srv, rpc_job *job, bool have_out)
{
    sub *s = job->s;
    client *c = job->c;

    if (!have_out || job->failed || s->dead || c->closing) {
        s->dead = true;
        return;
    }
    s->hash = job->hash;
    s->generation = job->generation;
    s->state_seq = job->state_seq;
    s->next = srv->subs;
    if (srv->subs)
        srv->subs->prev = s;
    srv->subs = s;
    qpd_log(QPD_LOG_DEBUG, "client %llu: subscription %lld to %s", c->id, s->id, s->method->name);
    mark_if_stale(srv, s, job);
}

/* Loop, JOB_RERUN: true when the update is to be pushed (its bytes differ
 * from the last ones pushed, and it is not older than them). */
static bool rerun_changed(qpd_server *srv, rpc_job *job, bool have_out)
{
    sub *s = job->s;

    qpd_log(QPD_LOG_DEBUG, "subscription %lld: generation %lld in %.2f ms, %s", s->id,
            (long long)job->generation, (double)(uv_hrtime() - job->t_submit) / 1e6,
            job->hash != s->hash ? "changed" : "unchanged");
    if (s->dead)
        return false;
    mark_if_stale(srv, s, job);
    if (!have_out || job->hash == s->hash || job->generation < s->generation)
        return false;
    s->hash = job->hash;
    s->generation = job->generation;
    s->state_seq = job->state_seq;
    return true;
}

/* Loop, after the work ran or was cancelled (status UV_ECANCELED). */
static void rpc_done(uv_work_t *req, int status)
{
    rpc_job *job = (rpc_job *)req;
    client *c = job->c;
    sub *s = job->s;
    qpd_server *srv = job->srv;
    char *out;
    size_t out_len = job->out_len;
    bool send = false;

    c->inflight--;
    c->running--;
    keep_for_loop(srv, job, status);
    if (status != 0 || c->closing) {
        free(job->out); /* cancelled, or the client hung up */
        job->out = NULL;
    }
    out = job->out;
    /* s->running stays true until the end: sending can exceed --max-output
     * and close the client, which ends its subscriptions; a subscription
     * whose run is in flight is then only marked dead, and freed below. */
    switch (job->kind) {
    case JOB_REQUEST:
        send = !c->closing; /* NULL out: out of memory, client_send drops it */
        break;
    case JOB_SUBSCRIBE:
        register_sub(srv, job, out != NULL);
        send = !c->closing;
        break;
    case JOB_RERUN:
        send = rerun_changed(srv, job, out != NULL);
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
        if (s->dead)
            sub_free(s); /* unlinked by sub_end, or never linked */
        else if (s->dirty && !c->closing && !srv->d->stopping && submit_rerun(srv, s))
            s->dirty = false;
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

/* Queues a job; takes the state snapshot and a client reference. */
static void submit(qpd_server *srv, rpc_job *job)
{
    client *c = job->c;

    job->srv = srv;
    job->t_submit = uv_hrtime();
    snapshot_state(srv, job);
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

static const char *cached(qpd_server *srv, const qpd_method *m, const char *params, const char *day,
                          size_t *len);

/* Answers a waiting request from the cache when its answer was put there
 * while it waited; true when it did (the job is freed). A client that
 * pipelines thousands of copies of a few requests gets each computed once,
 * not once per copy: 20,000 backlinks of a target with 200k links, 40
 * distinct params, took 144 s when every copy ran on the pool. */
static bool pump_cached(client *c, rpc_job *job)
{
    const char *answer;
    size_t n = 0, len = 0;
    char *out;

    if (job->kind != JOB_REQUEST || (answer = cached(c->srv, job->method, job->params,
                                                     day_key(job->method, job->day), &n)) == NULL)
        return false;
    out = qpd_proto_result(job->id, answer, n, &len);
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
        snapshot_state(c->srv, job);
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
    return status_result(srv, srv->status_counts, &ss);
}

/* An update built while walking the subscriptions, sent after the walk:
 * a send can close its client, which ends (frees) its subscriptions. */
typedef struct later_send {
    struct later_send *next;
    client *c; /* one reference held */
    char *out;
    size_t len;
} later_send;

/* A QPD_STATE subscription re-run on the loop; false when the counts of
 * this generation are not known yet (the pool computes them). */
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
    s->state_seq = srv->state_seq;
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

/* Re-runs every subscription (state_only: those of QPD_STATE methods); one
 * whose run is in flight is marked dirty and runs again when it returns. */
static void rerun(qpd_server *srv, bool state_only)
{
    later_send *later = NULL;

    for (sub *s = srv->subs; s != NULL; s = s->next) {
        bool state = (s->method->flags & QPD_STATE) != 0;

        if (state_only && !state)
            continue;
        if (s->running)
            s->dirty = true;
        else if (!(state && rerun_status_on_loop(srv, s, &later)))
            submit_rerun(srv, s);
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
    qpd_cache_clear(d->server->cache); /* every entry is of an older generation now */
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

    if (srv == NULL)
        return;
    /* Counted also when nobody is subscribed yet: a subscription whose
     * first run is in flight compares with it when it registers. */
    srv->state_seq++;
    if (d->stopping || srv->subs == NULL)
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

/* ---- replies ------------------------------------------------------------ */

/* A handler's answer. Only the reply helpers below make one (`proof` points
 * at reply_proof), and the compiler insists it is used, so a handler
 * answers each request exactly once, now or from a job; handle_line checks
 * that it got one. */
typedef struct qpd_reply {
    const char *proof;
    bool later; /* the answer comes from a job on the pool */
} qpd_reply;

static const char reply_proof[] = "replied";

#define QPD_MUST __attribute__((warn_unused_result))

static QPD_MUST qpd_reply replied(bool later)
{
    return (qpd_reply){reply_proof, later};
}

/* Answers with `result` (JSON text, borrowed). */
static QPD_MUST qpd_reply reply_result(client *c, const json_t *id, const char *result, size_t n)
{
    size_t len = 0;
    char *out = qpd_proto_result(id, result, n, &len);

    client_send(c, out, len); /* NULL: out of memory, the client is dropped */
    return replied(false);
}

static QPD_MUST qpd_reply reply_error(client *c, json_t *id, int code, const char *message,
                                      json_t *data)
{
    client_error(c, id, code, message, data);
    return replied(false);
}

/* Answers `true`; a notification (no id) gets nothing. */
static QPD_MUST qpd_reply reply_true(client *c, json_t *id)
{
    if (id != NULL)
        client_send_json(c, json_pack("{s:s, s:O, s:b}", "jsonrpc", "2.0", "id", id, "result", 1));
    return replied(false);
}

/* The answer will come from `job` (taken) when it is done. */
static QPD_MUST qpd_reply reply_from_job(qpd_server *srv, rpc_job *job)
{
    submit(srv, job);
    return replied(true);
}

/* ---- methods ------------------------------------------------------------ */

static char *params_text(const json_t *params)
{
    return json_dumps(params, JSON_COMPACT);
}

/* The cached answer to `m` with `params` (asked on `day`), or NULL. */
static const char *cached(qpd_server *srv, const qpd_method *m, const char *params, const char *day,
                          size_t *len)
{
    if (!(m->flags & QPD_CACHEABLE) || qpd_cache_empty(srv->cache))
        return NULL;
    return qpd_cache_get(srv->cache, m->name, params, day, srv->d->generation, len);
}

/* A QPD_ON_WORKER method: answered on the loop when the answer is known
 * (QPD_STATE counts of this generation, or the cache), else on the pool. */
static qpd_reply m_query(client *c, const qpd_method *m, qpd_request *req)
{
    char *params, day[16];
    const char *answer;
    size_t n = 0;
    rpc_job *job;

    if (m->flags & QPD_STATE) {
        char *result = status_on_loop(c->srv);

        if (result != NULL) {
            qpd_reply r = reply_result(c, req->id, result, strlen(result));

            free(result);
            return r;
        }
    }
    local_day(m, day, sizeof day);
    params = params_text(req->params);
    if (params != NULL && (answer = cached(c->srv, m, params, day_key(m, day), &n)) != NULL) {
        free(params);
        return reply_result(c, req->id, answer, n);
    }
    job = params ? calloc(1, sizeof *job) : NULL;
    if (job == NULL || (job->id = json_deep_copy(req->id)) == NULL) {
        free(params);
        free(job);
        return reply_error(c, req->id, QPD_RPC_INTERNAL, "out of memory", NULL);
    }
    memcpy(job->day, day, sizeof job->day);
    job->params = params;
    job->kind = JOB_REQUEST;
    job->c = c;
    job->method = m;
    return reply_from_job(c->srv, job);
}

/* "subscribe: method must be one of A, B, ...", from the table. */
static qpd_reply reply_not_subscribable(client *c, json_t *id)
{
    char msg[512] = "subscribe: method must be one of ";
    const qpd_method *m;
    const char *sep = "";

    for (size_t i = 0; (m = qpd_method_at(i)) != NULL; i++) {
        if (!(m->flags & QPD_SUBSCRIBABLE))
            continue;
        strncat(msg, sep, sizeof msg - strlen(msg) - 1);
        strncat(msg, m->name, sizeof msg - strlen(msg) - 1);
        sep = ", ";
    }
    return reply_error(c, id, QPD_RPC_INVALID_PARAMS, msg, NULL);
}

static qpd_reply m_subscribe(client *c, qpd_request *req)
{
    json_t *jm = json_object_get(req->params, "method");
    json_t *jp = json_object_get(req->params, "params");
    const qpd_method *target;
    rpc_job *job;
    sub *s;

    if (!json_is_string(jm))
        return reply_error(c, req->id, QPD_RPC_INVALID_PARAMS, "subscribe: method must be a string",
                           NULL);
    target = qpd_method_find(json_string_value(jm));
    if (target == NULL || !(target->flags & QPD_SUBSCRIBABLE))
        return reply_not_subscribable(c, req->id);
    if (jp != NULL && !json_is_object(jp))
        return reply_error(c, req->id, QPD_RPC_INVALID_PARAMS,
                           "subscribe: params must be an object", NULL);
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
        return reply_error(c, req->id, QPD_RPC_INTERNAL, "out of memory", NULL);
    }
    s->id = ++c->srv->next_sub;
    s->c = c;
    s->method = target;
    job->kind = JOB_SUBSCRIBE;
    job->c = c;
    job->s = s;
    job->method = target;
    local_day(target, job->day, sizeof job->day);
    return reply_from_job(c->srv, job);
}

static qpd_reply m_unsubscribe(client *c, qpd_request *req)
{
    json_t *js = json_object_get(req->params, "subscription");

    if (!json_is_integer(js))
        return reply_error(c, req->id, QPD_RPC_INVALID_PARAMS,
                           "unsubscribe: subscription must be an integer", NULL);
    for (sub *s = c->srv->subs; s != NULL; s = s->next) {
        if (s->id == json_integer_value(js) && s->c == c) {
            sub_end(c->srv, s);
            return reply_true(c, req->id);
        }
    }
    return reply_error(c, req->id, QPD_RPC_INVALID_PARAMS, "unsubscribe: no such subscription",
                       NULL);
}

/* Serves `m` as its table entry says. */
static qpd_reply dispatch(client *c, const qpd_method *m, qpd_request *req)
{
    if (m->flags & QPD_ON_WORKER)
        return m_query(c, m, req);
    switch (m->loop) {
    case QPD_LOOP_SUBSCRIBE:
        return m_subscribe(c, req);
    case QPD_LOOP_UNSUBSCRIBE:
        return m_unsubscribe(c, req);
    case QPD_LOOP_NONE:
        break;
    }
    return reply_error(c, req->id, QPD_RPC_INTERNAL, "method has no handler", NULL);
}

/* ---- clients ------------------------------------------------------------ */

static void handle_line(client *c, const char *line, size_t len)
{
    qpd_request req;
    json_t *reply = NULL;
    const qpd_method *m;

    if (qpd_proto_parse(line, len, &req, &reply) != 0) {
        client_send_json(c, reply);
        return;
    }
    m = qpd_method_find(req.method);
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
        qpd_reply r = dispatch(c, m, &req);

        if (r.proof != reply_proof) {
            qpd_log(QPD_LOG_ERROR, "%s: the handler did not answer", m->name);
            abort(); /* a bug: the client would wait forever */
        }
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

/* ,"version":"…","protocol":N,"vault":"…", as JSON text (without the leading
 * comma): what every status answer says about the daemon itself. NULL when
 * out of memory. */
static char *make_state_static(const char *vault_root)
{
    json_t *o =
        json_pack("{s:s, s:i}", "version", QP_VERSION_STRING, "protocol", QP_PROTOCOL_VERSION);
    char *text, *s = NULL;
    size_t n;

    /* A root that is not UTF-8 has no JSON string: the member is left out,
     * as json_object_set_new(NULL) always did. */
    if (o != NULL)
        json_object_set_new(o, "vault", json_string(vault_root));
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return NULL;
    n = strlen(text);
    if (n >= 2) { /* {a,b,c} → a,b,c, */
        memmove(text, text + 1, n - 2);
        text[n - 2] = ',';
        text[n - 1] = '\0';
        s = text;
    } else {
        free(text);
    }
    return s;
}

qp_rc qpd_server_start(qpd_daemon *d, qp_error *err)
{
    qpd_server *srv = calloc(1, sizeof *srv);

    if (srv == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    srv->d = d;
    d->server = srv;
    uv_pipe_init(d->loop, &srv->pipe, 0);
    uv_timer_init(d->loop, &srv->progress);
    srv->progress.data = srv;
    srv->handles_open = 2;
    srv->cache = qpd_cache_new(d->query_cache);
    srv->state_static = make_state_static(d->vault_root);
    if (srv->state_static == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return qpd_listen(&srv->pipe, d->socket_path, d->vault_root, connection_cb, srv->lock_path,
                      sizeof srv->lock_path, err);
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
    /* The socket itself is not unlinked here: libuv did when the handle
     * closed (qpd_server_stop), and by now a successor daemon may have bound
     * a new one at the same path. */
    qpd_listen_remove_lock(srv->lock_path);
    qpd_cache_free(srv->cache);
    free(srv->state_static);
    free(srv->status_counts);
    free(srv);
    d->server = NULL;
}
