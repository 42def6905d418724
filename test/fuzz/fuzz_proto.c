/*
 * fuzz_proto — the JSON-RPC request path without sockets: the bytes of a
 * stream go through the NDJSON framer (daemon/proto.h) in chunks the input
 * chooses, every complete line through qpd_proto_parse(), and every valid
 * query request through qp_query_run() against a real index of a small
 * vault (the same call the daemon makes on its worker threads). The
 * daemon's own dispatch (daemon/server.c) is bound to libuv clients, so the
 * query layer is the deepest entry point reachable here.
 *
 * Invariants checked (abort on failure): framed lines hold no '\n' and
 * respect the limit; an error reply carries the code returned, its
 * data.kind and the request id; a parsed request has a method, an object
 * for params and an id that is null, a string or an integer; every reply
 * and every query result is one line of valid JSON.
 *
 * Input layout: byte 0 picks the read size (1..256 bytes per feed), byte 1
 * the line limit (64..16384); the rest is the stream.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "proto.h"
#include "quipu/init.h"
#include "quipu/note.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *path, *text;
} vault_notes[] = {
    {"People/Ann Veld.md",
     "---\ntype: person\naliases: [Annie]\ntags:\n- type/person\n---\n\n# Ann Veld\n\n"
     "- 2025-01-02: Mentioned in: Kickoff\n- 2025-01-03: Mentioned in: Gone meeting\n\n"
     "```tasks\npath includes Ann Veld\nnot done\n```\n"},
    {"Meetings/2025-01-02 Kickoff.md",
     "---\ntype: meeting\ntitle: Kickoff\nattendees:\n- \"[[Ann Veld]]\"\n---\n\n"
     "With [[Ann Veld|Ann]] and Bo Stern; ![[plan.pdf]] [x](People/Ann%20Veld.md)\n\n"
     "- [ ] Ann Veld to send the plan 📅 2025-01-10 ⏫\n- [x] done ✅ 2025-01-03\n"},
    {"Notes/Home.md", "# Home\n\nAnn Veld and Annie, #tag/x\n\n```tasks\nnot done\n"
                      "group by path\n```\n\n```tasks\nfrobnicate\n```\n"},
};

static qp_store *store;
static qp_vault *vault;
static char root[] = "/tmp/qp-fuzz-proto-XXXXXX";

static void rm(const char *rel)
{
    char path[4200];

    snprintf(path, sizeof path, "%s/%s", root, rel);
    remove(path);
}

/* The vault and its index go away with the process. */
static void teardown(void)
{
    qp_store_close(store);
    qp_vault_close(vault);
    for (size_t i = 0; i < sizeof vault_notes / sizeof vault_notes[0]; i++)
        rm(vault_notes[i].path);
    rm("plan.pdf");
    rm(".index.sqlite3-wal");
    rm(".index.sqlite3-shm");
    rm(".index.sqlite3");
    rm("People");
    rm("Meetings");
    rm("Notes");
    remove(root);
}

static void die(const char *what, const qp_error *err)
{
    fprintf(stderr, "fuzz_proto setup: %s: %s\n", what, err ? err->msg : "");
    abort();
}

static void write_file(const char *rel, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = strchr(path + strlen(root) + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
    f = fopen(path, "wb");
    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
        die(path, NULL);
}

/* A vault on disk and its index, built once per process. */
static void setup(void)
{
    char db[4200];
    qp_error err = QP_ERROR_INIT;

    qp_init();
    if (mkdtemp(root) == NULL)
        die("mkdtemp", NULL);
    for (size_t i = 0; i < sizeof vault_notes / sizeof vault_notes[0]; i++)
        write_file(vault_notes[i].path, vault_notes[i].text);
    write_file("plan.pdf", "%PDF-1.4\n");
    if (qp_vault_open(&vault, root, &err) != QP_OK)
        die("vault", &err);
    snprintf(db, sizeof db, "%s/.index.sqlite3", root);
    if (qp_store_open(&store, db, QP_STORE_WRITE, &err) != QP_OK)
        die("store", &err);
    if (qp_store_begin(store, &err) != QP_OK)
        die("begin", &err);
    for (size_t i = 0; i < sizeof vault_notes / sizeof vault_notes[0]; i++) {
        qp_note *note = NULL;
        qp_file_stat fs = {(int64_t)strlen(vault_notes[i].text), 1, 0};

        if (qp_note_parse(&note, vault_notes[i].path, vault_notes[i].text,
                          strlen(vault_notes[i].text), NULL, &err) != QP_OK)
            die("parse", &err);
        if (qp_store_put_note(store, vault_notes[i].path, &fs, note, &err) != QP_OK)
            die("put", &err);
        qp_note_free(note);
    }
    {
        qp_file_stat fs = {9, 1, 0};
        if (qp_store_put_file(store, "plan.pdf", &fs, &err) != QP_OK)
            die("put file", &err);
    }
    if (qp_store_commit(store, &err) != QP_OK)
        die("commit", &err);
    atexit(teardown);
}

/* A serialized message is exactly one line of valid JSON. */
static void check_line(const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *back;

    if (buf == NULL || len == 0 || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1) != NULL)
        abort();
    back = json_loadb(buf, len, 0, &jerr);
    if (back == NULL || !json_is_object(back))
        abort();
    json_decref(back);
}

static void check_error_reply(int code, json_t *reply)
{
    json_t *err = json_object_get(reply, "error");
    json_t *dat = json_object_get(err, "data");
    const char *kind = json_string_value(json_object_get(dat, "kind"));
    size_t len;
    char *line;

    if (!json_is_object(err) || json_integer_value(json_object_get(err, "code")) != code)
        abort();
    if (kind == NULL || strcmp(kind, qpd_proto_error_kind(code)) != 0)
        abort();
    if (json_object_get(reply, "id") == NULL)
        abort(); /* present, null when the id could not be read */
    line = qpd_proto_dump(reply, &len);
    check_line(line, len);
    free(line);
}

static void run_query(const qpd_request *req)
{
    qp_error err = QP_ERROR_INIT;
    char *params = NULL, *out = NULL, *line;
    size_t len;
    qp_rc rc;

    if (strcmp(req->method, "subscribe") == 0 || strcmp(req->method, "unsubscribe") == 0)
        return; /* connection state: daemon/server.c only */
    params = json_dumps(req->params, JSON_COMPACT);
    if (params == NULL)
        return;
    rc = qp_query_run(&out, store, vault, req->method, params, &err);
    if (rc == QP_OK) {
        if (out == NULL)
            abort();
        if (req->id != NULL) { /* a notification gets no response */
            line = qpd_proto_result(req->id, out, strlen(out), &len);
            check_line(line, len);
            free(line);
        }
        line = qpd_proto_update(7, 3, out, strlen(out), false, &len);
        check_line(line, len);
        free(line);
    } else if (out != NULL) {
        abort(); /* no result on failure */
    } else {
        json_t *e = qpd_proto_error(req->id,
                                    rc == QP_ENOTFOUND ? QPD_RPC_NOT_FOUND
                                    : rc == QP_EQUERY  ? QPD_RPC_QUERY_ERROR
                                                       : QPD_RPC_INVALID_PARAMS,
                                    err.msg, NULL);
        check_error_reply(rc == QP_ENOTFOUND ? QPD_RPC_NOT_FOUND
                          : rc == QP_EQUERY  ? QPD_RPC_QUERY_ERROR
                                             : QPD_RPC_INVALID_PARAMS,
                          e);
        json_decref(e);
    }
    free(out);
    free(params);
}

static void handle(const char *line, size_t len)
{
    qpd_request req;
    json_t *reply = NULL;
    int code = qpd_proto_parse(line, len, &req, &reply);

    if (code != 0) {
        if (reply == NULL)
            abort();
        check_error_reply(code, reply);
        json_decref(reply);
        return;
    }
    if (reply != NULL || req.method == NULL || !json_is_object(req.params))
        abort();
    if (req.id != NULL && !json_is_string(req.id) && !json_is_integer(req.id))
        abort();
    run_query(&req);
    qpd_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    qpd_framer f;
    size_t chunk, max_line, off;
    const char *stream;

    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 2)
        return 0;
    chunk = (size_t)data[0] + 1;
    max_line = 64 + (size_t)data[1] * 64;
    stream = (const char *)data + 2;
    size -= 2;
    qpd_framer_init(&f, max_line);
    for (off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        const char *line;
        size_t len;
        int r = qpd_framer_feed(&f, stream + off, n);

        off += n;
        if (r == -2)
            break;
        while ((r = qpd_framer_next(&f, &line, &len)) == 1) {
            if (len > max_line || memchr(line, '\n', len) != NULL)
                abort();
            handle(line, len);
        }
        if (r == -1) {
            /* over the limit: the daemon answers -32600 and closes */
            json_t *e = qpd_proto_error(NULL, QPD_RPC_INVALID_REQUEST, "too long", NULL);
            check_error_reply(QPD_RPC_INVALID_REQUEST, e);
            json_decref(e);
            break;
        }
    }
    qpd_framer_free(&f);
    return 0;
}
