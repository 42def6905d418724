#ifndef QPD_PROTO_H
#define QPD_PROTO_H

/*
 * proto — the wire format, without I/O: NDJSON framing and the JSON-RPC 2.0
 * envelope (spec/protocol.md).
 *
 * A qpd_framer turns the bytes of a stream into complete lines. It enforces
 * the line limit while buffering, so a peer cannot make the daemon hold more
 * than max_line plus one read of input. qpd_proto_parse() validates one line
 * as a request and, when it is not one, builds the error response to send.
 * Nothing here touches a socket or libuv, so it is unit-tested on its own.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* JSON-RPC error codes (spec/protocol.md "Errors"). */
enum {
    QPD_RPC_PARSE_ERROR = -32700,
    QPD_RPC_INVALID_REQUEST = -32600,
    QPD_RPC_METHOD_NOT_FOUND = -32601,
    QPD_RPC_INVALID_PARAMS = -32602,
    QPD_RPC_INTERNAL = -32603,
    QPD_RPC_NOT_FOUND = -32001,
    QPD_RPC_QUERY_ERROR = -32002,
    QPD_RPC_OVERLOADED = -32003,
};

#define QPD_MAX_MESSAGE_DEFAULT ((size_t)16 * 1024 * 1024)

typedef struct qpd_framer {
    char *buf;
    size_t start; /* first byte not yet returned as a line */
    size_t len;   /* bytes used in buf */
    size_t cap;
    size_t scan;     /* bytes from start already searched for '\n' */
    size_t max_line; /* longest line accepted, without its '\n' */
    bool too_big;    /* sticky: the stream exceeded max_line */
} qpd_framer;

void qpd_framer_init(qpd_framer *f, size_t max_line);
void qpd_framer_free(qpd_framer *f);

/* Appends bytes read from the stream. Returns 0, -1 when the line being
 * buffered is already over the limit (the framer is then dead: the caller
 * answers -32600 and closes), or -2 when out of memory. */
int qpd_framer_feed(qpd_framer *f, const char *data, size_t n);

/* Takes the next complete line, without its "\n" (and without a "\r" before
 * it). Returns 1 with *line borrowed until the next feed/next call, 0 when no
 * complete line is buffered, -1 when the next line is over the limit. */
int qpd_framer_next(qpd_framer *f, const char **line, size_t *len);

/* A validated request. `root` owns everything; `id` is NULL for a
 * notification (no "id" member: no response is sent). */
typedef struct qpd_request {
    json_t *root;
    json_t *id;         /* borrowed from root: a string or an integer */
    const char *method; /* borrowed from root */
    json_t *params;     /* borrowed from root: an object ({} when absent) */
} qpd_request;

/* Parses one line. Returns 0 and fills *req (free with qpd_request_free), or
 * the JSON-RPC error code and sets *reply to a new error response (free with
 * json_decref) carrying the request's id when it could be read. "\u0000"
 * is valid JSON: in params it is -32602 (invalid params), in the method
 * -32600, both with the id; a string id holding it is echoed as is. Every
 * string of an accepted request is therefore a proper C string. */
int qpd_proto_parse(const char *line, size_t len, qpd_request *req, json_t **reply);

void qpd_request_free(qpd_request *req);

/* The stable data.kind string for an error code ("parse_error", ...). */
const char *qpd_proto_error_kind(int code);

/* A new error response {"jsonrpc","id","error":{code,message,data}}. `id` is
 * borrowed (NULL → null); `data` is taken (NULL → {}); data.kind is added. */
json_t *qpd_proto_error(json_t *id, int code, const char *message, json_t *data);

/* Serializes a message as one compact line ending in "\n". Returns new
 * memory (free with free()) or NULL when out of memory. */
char *qpd_proto_dump(const json_t *msg, size_t *len);

/* Builds {"jsonrpc":"2.0","id":ID,"result":RESULT}\n around a result that is
 * already JSON text, without re-parsing it. `id` borrowed. New memory. */
char *qpd_proto_result(const json_t *id, const char *result, size_t result_len, size_t *len);

/* The _take forms take `result` (new memory from malloc) and build the line
 * in it, grown in place: no second copy of an answer of tens of megabytes.
 * `result` is freed when they fail (NULL). */
char *qpd_proto_result_take(const json_t *id, char *result, size_t result_len, size_t *len);

/* The answer to subscribe: {"jsonrpc":"2.0","id":ID,"result":
 * {"subscription":S,"result":RESULT}}\n. */
char *qpd_proto_subscribed_take(const json_t *id, long long subscription, char *result,
                                size_t result_len, size_t *len);

/* Builds the update notification for a subscription around JSON text:
 * {"jsonrpc":"2.0","method":"update","params":{"subscription":S,
 * "generation":G,"result":RESULT}}\n (member "error" instead of "result"
 * when is_error). New memory. */
char *qpd_proto_update(long long subscription, long long generation, const char *result,
                       size_t result_len, bool is_error, size_t *len);
char *qpd_proto_update_take(long long subscription, long long generation, char *result,
                            size_t result_len, size_t *len);

#endif
