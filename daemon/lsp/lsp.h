#ifndef QPL_LSP_H
#define QPL_LSP_H

/*
 * lsp — `quipu lsp`, a Language Server Protocol 3.17 server over stdio.
 *
 * The server keeps no index of its own: vault-wide answers come from the
 * vault's quipud over its socket (daemon/lsp/daemon.c); only the text of
 * the documents the editor has open is held and parsed here, with
 * qp_note_parse(), so that definition, symbols and a buffer's own
 * diagnostics follow unsaved edits.
 *
 * The pieces below the server are sans-I/O and unit-tested alone:
 *  - qpl_reader: LSP base-protocol framing (`Content-Length: N\r\n\r\n`
 *    then N bytes of JSON), bytes in, message bodies or framing errors out;
 *  - qpl_text: a document's text with its line table, and conversion between
 *    LSP positions (UTF-16 code units by default, UTF-8 bytes when
 *    negotiated) and byte offsets.
 *
 * Everything is single-threaded: one poll() loop over stdin and the daemon
 * sockets (daemon/lsp/server.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- frame.c: base-protocol framing ------------------------------------- */

/* LSP / JSON-RPC error codes. */
enum {
    QPL_PARSE_ERROR = -32700,
    QPL_INVALID_REQUEST = -32600,
    QPL_METHOD_NOT_FOUND = -32601,
    QPL_INVALID_PARAMS = -32602,
    QPL_INTERNAL_ERROR = -32603,
    QPL_SERVER_NOT_INITIALIZED = -32002,
    QPL_REQUEST_FAILED = -32803,
};

#define QPL_MAX_HEADER    8192                       /* one header block, bytes */
#define QPL_MAX_BODY      ((size_t)64 * 1024 * 1024) /* default body limit */
#define QPL_FRAME_MESSAGE 1
#define QPL_FRAME_NONE    0

/* Framing errors qpl_reader_next() reports. After each the reader has
 * resynchronised (skipped the bad header, or is discarding the oversized
 * body as it arrives), so the caller answers -32700/-32600 and carries on. */
typedef enum qpl_frame_error {
    QPL_FRAME_BAD_HEADER = -1, /* no valid Content-Length, or a header too long */
    QPL_FRAME_TOO_BIG = -2,    /* Content-Length over the limit: body skipped */
    QPL_FRAME_NOMEM = -3,
} qpl_frame_error;

typedef struct qpl_reader {
    char *buf; /* unread bytes are buf[start, len) */
    size_t start, len, cap;
    size_t max_body;
    size_t skip;   /* bytes of an oversized body still to discard */
    size_t header; /* length of the parsed header block, 0 while not parsed */
    size_t body;   /* Content-Length of the message whose header is parsed */
} qpl_reader;

/* max_body 0 = QPL_MAX_BODY. */
void qpl_reader_init(qpl_reader *r, size_t max_body);
void qpl_reader_free(qpl_reader *r);

/* Appends bytes read from the stream. 0, or QPL_FRAME_NOMEM. */
int qpl_reader_feed(qpl_reader *r, const char *data, size_t n);

/* Takes the next message body. Returns QPL_FRAME_MESSAGE with *body borrowed
 * until the next feed/next call, QPL_FRAME_NONE when none is complete, or a
 * negative qpl_frame_error (call again: the reader has moved past it). */
int qpl_reader_next(qpl_reader *r, const char **body, size_t *len);

/* Frames a message: "Content-Length: N\r\n\r\n" + compact JSON. New memory
 * (free()), NULL when out of memory. Borrows msg. */
char *qpl_frame(const json_t *msg, size_t *len);

/* ---- text.c: documents and positions ------------------------------------ */

typedef enum qpl_encoding {
    QPL_UTF16 = 0, /* LSP's default */
    QPL_UTF8,
} qpl_encoding;

/* A document's text and where its lines start. Lines end at "\n"; a "\r"
 * right before it is part of the line ending, not of the line (CRLF
 * files), which is also how libquipu and quipud count lines and columns. */
typedef struct qpl_text {
    char *s;      /* NUL-terminated; owned */
    size_t len;   /* bytes */
    size_t *line; /* line[i] = offset of line i's first byte; owned */
    size_t nlines;
} qpl_text;

/* Sets the text to a copy of s[0, n). 0 or -1 (out of memory; t unchanged). */
int qpl_text_set(qpl_text *t, const char *s, size_t n);
void qpl_text_free(qpl_text *t);

/* Bytes of line `ln` (0-based) without its line ending; 0 past the end. */
size_t qpl_text_line_len(const qpl_text *t, size_t ln);

/* Byte offset of an LSP position. A character past the end of its line is
 * the end of the line; a line past the end is the end of the text. A
 * position inside a UTF-16 surrogate pair or a UTF-8 sequence is rounded to
 * the start of that character. */
size_t qpl_text_offset(const qpl_text *t, uint32_t line, uint32_t character, qpl_encoding enc);

/* The LSP position of byte offset `off` (clamped to the text; an offset
 * inside a character is that character's start). */
void qpl_text_position(const qpl_text *t, size_t off, qpl_encoding enc, uint32_t *line,
                       uint32_t *character);

/* Units of `enc` in the bytes s[0, n) (invalid UTF-8: one unit per byte). */
uint32_t qpl_units(const char *s, size_t n, qpl_encoding enc);

/* Byte count of the first `units` units of s[0, n) (clamped to n). */
size_t qpl_bytes_of_units(const char *s, size_t n, uint32_t units, qpl_encoding enc);

/* Replaces bytes [from, to) with r[0, rn). 0 or -1 (out of memory). */
int qpl_text_replace(qpl_text *t, size_t from, size_t to, const char *r, size_t rn);

/* ---- dconn.c: one connection to a vault's quipud ------------------------- */

/* A blocking JSON-RPC client of quipud (NDJSON), with a timeout per wait.
 * Requests may be pipelined (qpl_dconn_send, then qpl_dconn_wait per id);
 * responses that arrive for another id are kept until asked for, and
 * `update` notifications are queued for qpl_dconn_next_update(). */
typedef struct qpl_dconn {
    int fd; /* -1 when not connected */
    char *buf;
    size_t start, len, cap;
    long long next_id;
    json_t *stash;    /* object: id (decimal text) -> response message */
    json_t *updates;  /* array of update params, oldest first */
    long long raw_id; /* qpl_dconn_call_raw's request, 0: none */
    char *raw;        /* its result's text, once it came */
} qpl_dconn;

void qpl_dconn_init(qpl_dconn *c);
/* Connects to the socket. 0, or a negative errno (-ECONNREFUSED, -ENOENT
 * when nobody listens). */
int qpl_dconn_connect(qpl_dconn *c, const char *socket);
/* Closes the connection and forgets stashed responses (keeps nothing). */
void qpl_dconn_close(qpl_dconn *c);
/* Sends a request; takes params (NULL: none). Returns its id (> 0), or -1
 * when the connection broke (it is then closed). */
long long qpl_dconn_send(qpl_dconn *c, const char *method, json_t *params);
/* Waits up to timeout_ms for the response to `id`: 0 with *result (new
 * reference) or *error (new reference) set, -1 when the connection broke or
 * the time ran out (the connection is then closed: its replies would be out
 * of step). */
int qpl_dconn_wait(qpl_dconn *c, long long id, int timeout_ms, json_t **result, json_t **error);
/* send + wait. */
int qpl_dconn_call(qpl_dconn *c, const char *method, json_t *params, int timeout_ms,
                   json_t **result, json_t **error);
/* As qpl_dconn_call, but the result comes as its JSON text (*raw, new),
 * cut from the reply line without decoding it: quipud writes a result as
 * {"jsonrpc":"2.0","id":ID,"result":RESULT} exactly (docs/protocol.md),
 * so an answer of megabytes (references) is handed on as it is. An error
 * comes decoded in *error, as from qpl_dconn_call. */
int qpl_dconn_call_raw(qpl_dconn *c, const char *method, json_t *params, int timeout_ms, char **raw,
                       json_t **error);
/* Reads whatever is available without blocking, queueing updates. 0, or -1
 * when the daemon closed the connection (it is then closed). */
int qpl_dconn_pump(qpl_dconn *c);
/* The oldest queued update's params (new reference), or NULL. */
json_t *qpl_dconn_next_update(qpl_dconn *c);

/* ---- server.c ------------------------------------------------------------ */

/* Runs the server on in_fd/out_fd until `exit` or the end of the input.
 * `quipud` is the daemon binary to start when a vault has none (NULL: the
 * one on $PATH). `offline` serves without any vault or daemon (only what
 * the open documents' own text answers: the fuzz target runs so). Returns
 * the process exit code (0 after shutdown and exit, else 1). */
int qpl_serve(int in_fd, int out_fd, const char *quipud, const char *socket, bool offline);

/* `quipu lsp`: serves stdin/stdout. `quipud` is the daemon to start (NULL:
 * $QUIPUD, else the quipud next to this program, else $PATH's); `socket`
 * (NULL: $QUIPU_SOCKET) names one daemon socket for every vault instead of
 * each vault's default. Returns the exit code. */
int qpl_main(const char *quipud, const char *socket);

#endif /* QPL_LSP_H */
