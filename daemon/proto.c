/*
 * proto — framing and JSON-RPC envelope; see proto.h.
 *
 * Invariants of qpd_framer: buf[start, len) holds unreturned bytes; no '\n'
 * occurs in buf[start, start + scan). Compaction moves the unreturned bytes
 * to the front only when they are less than half the buffer, so a stream of
 * small lines costs amortised O(1) per byte.
 */

#include "proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qpd_framer_init(qpd_framer *f, size_t max_line)
{
    *f = (qpd_framer){.max_line = max_line ? max_line : QPD_MAX_MESSAGE_DEFAULT};
}

void qpd_framer_free(qpd_framer *f)
{
    if (f == NULL)
        return;
    free(f->buf);
    f->buf = NULL;
    f->start = f->len = f->cap = f->scan = 0;
}

/* Length of the line that starts at `start`, or of the partial line when no
 * '\n' is buffered yet; *complete says which. Remembers how far it looked. */
static size_t current_line(qpd_framer *f, bool *complete)
{
    const char *p = f->buf + f->start;
    size_t avail = f->len - f->start;
    const char *nl = memchr(p + f->scan, '\n', avail - f->scan);

    if (nl == NULL) {
        f->scan = avail;
        *complete = false;
        return avail;
    }
    f->scan = (size_t)(nl - p);
    *complete = true;
    return f->scan;
}

int qpd_framer_feed(qpd_framer *f, const char *data, size_t n)
{
    bool complete;

    if (f->too_big)
        return -1;
    if (n == 0)
        return 0;
    if (f->start > 0 && f->start == f->len) {
        f->start = f->len = f->scan = 0;
    }
    if (f->len + n > f->cap) {
        size_t live = f->len - f->start;

        if (f->start > 0 && live + n <= f->cap && live < f->cap / 2) {
            memmove(f->buf, f->buf + f->start, live);
            f->start = 0;
            f->len = live;
        } else {
            size_t cap = f->cap ? f->cap : 4096;
            char *nb;

            while (cap < f->len + n)
                cap *= 2;
            nb = realloc(f->buf, cap);
            if (nb == NULL)
                return -2;
            f->buf = nb;
            f->cap = cap;
        }
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    /* Refuse as soon as the pending line is longer than allowed, without
     * waiting for its end: that bounds what one client can make us hold. */
    if (current_line(f, &complete) > f->max_line + (complete ? 0 : 1)) {
        f->too_big = true;
        return -1;
    }
    return 0;
}

int qpd_framer_next(qpd_framer *f, const char **line, size_t *len)
{
    bool complete;
    size_t n;
    char *p;

    *line = NULL;
    *len = 0;
    if (f->too_big)
        return -1;
    if (f->buf == NULL || f->start >= f->len)
        return 0;
    n = current_line(f, &complete);
    if (!complete) {
        if (n > f->max_line) {
            f->too_big = true;
            return -1;
        }
        return 0;
    }
    p = f->buf + f->start;
    f->start += n + 1;
    f->scan = 0;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > f->max_line) {
        f->too_big = true;
        return -1;
    }
    *line = p;
    *len = n;
    return 1;
}

const char *qpd_proto_error_kind(int code)
{
    switch (code) {
    case QPD_RPC_PARSE_ERROR:
        return "parse_error";
    case QPD_RPC_INVALID_REQUEST:
        return "invalid_request";
    case QPD_RPC_METHOD_NOT_FOUND:
        return "method_not_found";
    case QPD_RPC_INVALID_PARAMS:
        return "invalid_params";
    case QPD_RPC_NOT_FOUND:
        return "not_found";
    case QPD_RPC_QUERY_ERROR:
        return "query_error";
    case QPD_RPC_OVERLOADED:
        return "overloaded";
    default:
        return "internal_error";
    }
}

json_t *qpd_proto_error(json_t *id, int code, const char *message, json_t *data)
{
    json_t *msg;

    if (data == NULL || !json_is_object(data)) {
        json_decref(data);
        data = json_object();
    }
    if (data == NULL)
        return NULL;
    json_object_set_new(data, "kind", json_string(qpd_proto_error_kind(code)));
    msg = json_pack("{s:s, s:O?, s:{s:i, s:s, s:o}}", "jsonrpc", "2.0", "id", id, "error", "code",
                    code, "message", message, "data", data);
    if (msg == NULL)
        json_decref(data);
    return msg;
}

void qpd_request_free(qpd_request *req)
{
    if (req == NULL)
        return;
    json_decref(req->root);
    *req = (qpd_request){0};
}

/* An id we can echo: a string or an integral number (JSON-RPC discourages
 * fractions and null; we refuse them so ids always match exactly). A string
 * id may hold U+0000: it is echoed byte for byte. */
static bool valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

/* True when a string is C-string safe: no U+0000 inside. */
static bool str_clean(const json_t *s)
{
    return strlen(json_string_value(s)) == json_string_length(s);
}

/* True when some string under `v` (value or member name) holds U+0000.
 * "\u0000" is valid JSON, so the line parses (JSON_ALLOW_NUL) and the id is
 * known; but no note name, link or query can contain it, and everything
 * past the envelope treats strings as C strings, where it would silently
 * cut "a.md\u0000../x" to "a.md". Depth is bounded by jansson's parser. */
static bool has_nul(json_t *v)
{
    const char *key;
    size_t i;
    json_t *e;

    if (json_is_string(v))
        return !str_clean(v);
    if (json_is_object(v)) {
        json_object_foreach(v, key, e)
        {
            if (has_nul(e))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (has_nul(e))
                return true;
        }
    }
    return false;
}

/* One piece on purpose: the envelope's checks in the order that decides
 * which error a bad request gets (parse, batch, object, id, jsonrpc,
 * method, params), each a goto to the one exit that builds the reply. */
int qpd_proto_parse(const char *line, size_t len, qpd_request *req, json_t **reply)
{
    json_error_t jerr;
    json_t *root, *id = NULL, *jsonrpc, *method, *params;
    int code;
    const char *msg;

    *req = (qpd_request){0};
    *reply = NULL;
    /* JSON_ALLOW_NUL: a "\u0000" in a name is a bad parameter of a request
     * whose id we can still echo, not a parse error. Member names with
     * U+0000 are refused by jansson whatever the flag (parse error). */
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        *reply = qpd_proto_error(
            NULL, QPD_RPC_PARSE_ERROR, "Parse error",
            json_pack("{s:s, s:i}", "detail", jerr.text, "position", jerr.position));
        return QPD_RPC_PARSE_ERROR;
    }
    if (json_is_array(root)) {
        code = QPD_RPC_INVALID_REQUEST;
        msg = "batches (arrays) are not supported";
        goto fail;
    }
    if (!json_is_object(root)) {
        code = QPD_RPC_INVALID_REQUEST;
        msg = "a request must be a JSON object";
        goto fail;
    }
    id = json_object_get(root, "id");
    if (id != NULL && !valid_id(id)) {
        id = NULL; /* cannot be echoed: answer with "id": null */
        code = QPD_RPC_INVALID_REQUEST;
        msg = "id must be a string or an integer";
        goto fail;
    }
    jsonrpc = json_object_get(root, "jsonrpc");
    if (!json_is_string(jsonrpc) || !str_clean(jsonrpc) ||
        strcmp(json_string_value(jsonrpc), "2.0") != 0) {
        code = QPD_RPC_INVALID_REQUEST;
        msg = "jsonrpc must be \"2.0\"";
        goto fail;
    }
    method = json_object_get(root, "method");
    if (!json_is_string(method)) {
        code = QPD_RPC_INVALID_REQUEST;
        msg = "method must be a string";
        goto fail;
    }
    if (!str_clean(method)) {
        code = QPD_RPC_INVALID_REQUEST;
        msg = "method must not contain U+0000";
        goto fail;
    }
    params = json_object_get(root, "params");
    if (params == NULL) {
        params = json_object();
        if (params == NULL || json_object_set_new(root, "params", params) != 0) {
            code = QPD_RPC_INTERNAL;
            msg = "out of memory";
            goto fail;
        }
    } else if (json_is_array(params)) {
        /* Structured, so a valid envelope, but every method takes names. */
        code = QPD_RPC_INVALID_PARAMS;
        msg = "params must be an object";
        goto fail;
    } else if (!json_is_object(params)) {
        code = QPD_RPC_INVALID_REQUEST;
        msg = "params must be an object";
        goto fail;
    } else if (has_nul(params)) {
        code = QPD_RPC_INVALID_PARAMS;
        msg = "params must not contain U+0000 (no name, link or query holds it)";
        goto fail;
    }
    req->root = root;
    req->id = id;
    req->method = json_string_value(method);
    req->params = params;
    return 0;

fail:
    *reply = qpd_proto_error(id, code, msg, NULL);
    json_decref(root);
    return code;
}

char *qpd_proto_dump(const json_t *msg, size_t *len)
{
    char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n;
    char *out;

    *len = 0;
    if (s == NULL)
        return NULL;
    n = strlen(s);
    out = realloc(s, n + 2);
    if (out == NULL) {
        free(s);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}

/* prefix + body + suffix, ending in NUL. `owned`: body is taken and the
 * line is built in its memory, grown in place, so an answer of tens of
 * megabytes is not copied beside itself; body is freed on failure too.
 * Otherwise body is borrowed and the line is new memory. */
static char *wrap(const char *prefix, const char *body, char *owned, size_t body_len,
                  const char *suffix, size_t *len)
{
    size_t a = strlen(prefix), c = strlen(suffix);
    char *out = NULL;

    *len = 0;
    if (body_len <= SIZE_MAX - a - c - 1)
        out = owned ? realloc(owned, a + body_len + c + 1) : malloc(a + body_len + c + 1);
    if (out == NULL) {
        free(owned);
        return NULL;
    }
    if (owned)
        memmove(out + a, out, body_len);
    else
        memcpy(out + a, body, body_len);
    memcpy(out, prefix, a);
    memcpy(out + a + body_len, suffix, c + 1);
    *len = a + body_len + c;
    return out;
}

/* {"jsonrpc":"2.0","id":ID,"result": then `more` (new memory). */
static char *result_prefix(const json_t *id, const char *more)
{
    char *ids = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    char *prefix;
    size_t n;

    if (ids == NULL)
        return NULL;
    n = strlen(ids) + strlen(more) + 40;
    prefix = malloc(n);
    if (prefix != NULL)
        snprintf(prefix, n, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s", ids, more);
    free(ids);
    return prefix;
}

/* The result line around `result` (borrowed) or `owned` (taken); `more`
 * opens members of the result before it, which `suffix` closes. */
static char *result_line(const json_t *id, const char *more, const char *result, char *owned,
                         size_t result_len, const char *suffix, size_t *len)
{
    char *prefix = result_prefix(id, more);
    char *out;

    *len = 0;
    if (prefix == NULL) {
        free(owned);
        return NULL;
    }
    out = wrap(prefix, result, owned, result_len, suffix, len);
    free(prefix);
    return out;
}

char *qpd_proto_result(const json_t *id, const char *result, size_t result_len, size_t *len)
{
    return result_line(id, "", result, NULL, result_len, "}\n", len);
}

char *qpd_proto_result_take(const json_t *id, char *result, size_t result_len, size_t *len)
{
    return result_line(id, "", NULL, result, result_len, "}\n", len);
}

char *qpd_proto_subscribed_take(const json_t *id, long long subscription, char *result,
                                size_t result_len, size_t *len)
{
    char more[64];

    snprintf(more, sizeof more, "{\"subscription\":%lld,\"result\":", subscription);
    return result_line(id, more, NULL, result, result_len, "}}\n", len);
}

static char *update_line(long long subscription, long long generation, const char *result,
                         char *owned, size_t result_len, bool is_error, size_t *len)
{
    char prefix[160];

    snprintf(prefix, sizeof prefix,
             "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":{\"subscription\":%lld,"
             "\"generation\":%lld,\"%s\":",
             subscription, generation, is_error ? "error" : "result");
    return wrap(prefix, result, owned, result_len, "}}\n", len);
}

char *qpd_proto_update(long long subscription, long long generation, const char *result,
                       size_t result_len, bool is_error, size_t *len)
{
    return update_line(subscription, generation, result, NULL, result_len, is_error, len);
}

char *qpd_proto_update_take(long long subscription, long long generation, char *result,
                            size_t result_len, size_t *len)
{
    return update_line(subscription, generation, NULL, result, result_len, false, len);
}
