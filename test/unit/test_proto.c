/* test_proto — NDJSON framing and the JSON-RPC envelope (daemon/proto.c),
 * without a socket. */

#include "qp_test.h"

#include <stdlib.h>

#include "proto.h"

/* Feeds `in` and collects every complete line as "a|b|c". */
static void lines_of(qpd_framer *f, const char *in, char *out, size_t cap)
{
    const char *line;
    size_t len;

    out[0] = '\0';
    assert_int_equal(qpd_framer_feed(f, in, strlen(in)), 0);
    while (qpd_framer_next(f, &line, &len) == 1) {
        if (out[0] != '\0')
            strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, line, len < cap - strlen(out) - 1 ? len : cap - strlen(out) - 1);
    }
}

static void test_partial_lines(void **state)
{
    qpd_framer f;
    char got[256];

    (void)state;
    qpd_framer_init(&f, 100);
    lines_of(&f, "{\"a\":", got, sizeof got);
    assert_string_equal(got, "");
    lines_of(&f, "1}", got, sizeof got);
    assert_string_equal(got, "");
    lines_of(&f, "\n{\"b\"", got, sizeof got);
    assert_string_equal(got, "{\"a\":1}");
    lines_of(&f, ":2}\n", got, sizeof got);
    assert_string_equal(got, "{\"b\":2}");
    qpd_framer_free(&f);
}

static void test_several_per_read_and_crlf(void **state)
{
    qpd_framer f;
    char got[256];

    (void)state;
    qpd_framer_init(&f, 100);
    lines_of(&f, "one\ntwo\r\n\nthree\nfour", got, sizeof got);
    /* an empty line is still a line (the dispatcher answers it -32700) */
    assert_string_equal(got, "one|two||three");
    lines_of(&f, "\n", got, sizeof got);
    assert_string_equal(got, "four");
    qpd_framer_free(&f);
}

static void test_many_small_lines_compact(void **state)
{
    qpd_framer f;
    const char *line;
    size_t len;
    int seen = 0;

    (void)state;
    qpd_framer_init(&f, 64);
    for (int i = 0; i < 10000; i++) {
        char msg[32];

        snprintf(msg, sizeof msg, "line %d\n", i);
        assert_int_equal(qpd_framer_feed(&f, msg, strlen(msg)), 0);
        while (qpd_framer_next(&f, &line, &len) == 1) {
            char want[32];

            snprintf(want, sizeof want, "line %d", seen++);
            assert_int_equal(len, strlen(want));
            assert_memory_equal(line, want, len);
        }
    }
    assert_int_equal(seen, 10000);
    /* compaction keeps the buffer small */
    assert_true(f.cap <= 4096);
    qpd_framer_free(&f);
}

static void test_size_limit_while_buffering(void **state)
{
    qpd_framer f;
    char chunk[16];
    const char *line;
    size_t len;

    (void)state;
    memset(chunk, 'x', sizeof chunk);
    qpd_framer_init(&f, 40);
    /* exactly 40 bytes plus newline is allowed */
    assert_int_equal(qpd_framer_feed(&f, chunk, 16), 0);
    assert_int_equal(qpd_framer_feed(&f, chunk, 16), 0);
    assert_int_equal(qpd_framer_feed(&f, chunk, 8), 0);
    assert_int_equal(qpd_framer_feed(&f, "\n", 1), 0);
    assert_int_equal(qpd_framer_next(&f, &line, &len), 1);
    assert_int_equal(len, 40);
    /* 48 bytes without a newline are refused before the line ends */
    assert_int_equal(qpd_framer_feed(&f, chunk, 16), 0);
    assert_int_equal(qpd_framer_feed(&f, chunk, 16), 0);
    assert_int_equal(qpd_framer_feed(&f, chunk, 16), -1);
    assert_int_equal(qpd_framer_next(&f, &line, &len), -1);
    /* sticky */
    assert_int_equal(qpd_framer_feed(&f, "\n", 1), -1);
    qpd_framer_free(&f);
}

static void test_size_limit_second_line_in_one_read(void **state)
{
    qpd_framer f;
    const char *line;
    size_t len;
    char in[128];

    (void)state;
    qpd_framer_init(&f, 10);
    snprintf(in, sizeof in, "short\n%s\n", "abcdefghijklmnopqrstuvwxyz");
    assert_int_equal(qpd_framer_feed(&f, in, strlen(in)), 0);
    assert_int_equal(qpd_framer_next(&f, &line, &len), 1);
    assert_int_equal(len, 5);
    assert_int_equal(qpd_framer_next(&f, &line, &len), -1);
    qpd_framer_free(&f);
}

/* Parses `line` expecting failure with `code`; returns the error reply. */
static json_t *parse_fail(const char *line, int code)
{
    qpd_request req;
    json_t *reply = NULL;

    assert_int_equal(qpd_proto_parse(line, strlen(line), &req, &reply), code);
    assert_non_null(reply);
    assert_null(req.root);
    return reply;
}

static void assert_error_shape(json_t *reply, int code, const char *kind)
{
    json_t *err = json_object_get(reply, "error");

    assert_string_equal(json_string_value(json_object_get(reply, "jsonrpc")), "2.0");
    assert_non_null(json_object_get(reply, "id"));
    assert_true(json_is_object(err));
    assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
    assert_true(json_is_string(json_object_get(err, "message")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "data"), "kind")),
                        kind);
}

static void test_valid_request(void **state)
{
    const char *line = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"backlinks\","
                       "\"params\":{\"note\":\"Ann\"}}";
    qpd_request req;
    json_t *reply = NULL;

    (void)state;
    assert_int_equal(qpd_proto_parse(line, strlen(line), &req, &reply), 0);
    assert_null(reply);
    assert_string_equal(req.method, "backlinks");
    assert_int_equal(json_integer_value(req.id), 7);
    assert_string_equal(json_string_value(json_object_get(req.params, "note")), "Ann");
    qpd_request_free(&req);

    /* no params → {}; string id; no id → notification */
    line = "{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"status\"}";
    assert_int_equal(qpd_proto_parse(line, strlen(line), &req, &reply), 0);
    assert_true(json_is_object(req.params));
    assert_int_equal(json_object_size(req.params), 0);
    assert_string_equal(json_string_value(req.id), "x-1");
    qpd_request_free(&req);
    line = "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}";
    assert_int_equal(qpd_proto_parse(line, strlen(line), &req, &reply), 0);
    assert_null(req.id);
    qpd_request_free(&req);
}

static void test_parse_errors(void **state)
{
    json_t *r;

    (void)state;
    r = parse_fail("{\"jsonrpc\":\"2.0\",", QPD_RPC_PARSE_ERROR);
    assert_error_shape(r, QPD_RPC_PARSE_ERROR, "parse_error");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    /* invalid UTF-8 is invalid JSON */
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"st\xff\"}", QPD_RPC_PARSE_ERROR);
    json_decref(r);
    r = parse_fail("", QPD_RPC_PARSE_ERROR);
    json_decref(r);
}

/* "\u0000" is valid JSON: a request carrying it keeps its id and gets a
 * precise error instead of a parse error with id null. */
static void test_nul_in_strings(void **state)
{
    const char *line;
    qpd_request req;
    json_t *r, *id;

    (void)state;
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"note\","
                   "\"params\":{\"note\":\"People/Ann.md\\u0000../../etc/passwd\"}}",
                   QPD_RPC_INVALID_PARAMS);
    assert_error_shape(r, QPD_RPC_INVALID_PARAMS, "invalid_params");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
    json_decref(r);
    /* nested, as subscribe's params are; and in an array */
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"subscribe\",\"params\":"
                   "{\"method\":\"note\",\"params\":{\"note\":\"\\u0000\"}}}",
                   QPD_RPC_INVALID_PARAMS);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "s");
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"x\",\"params\":"
                   "{\"a\":[1,\"ok\",\"b\\u0000\"]}}",
                   QPD_RPC_INVALID_PARAMS);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 4);
    json_decref(r);
    /* in the method: "status\0x" must not run status */
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"status\\u0000x\"}",
                   QPD_RPC_INVALID_REQUEST);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\\u0000\",\"id\":6,\"method\":\"status\"}",
                   QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    /* a string id with U+0000 is echoed exactly */
    line = "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"status\"}";
    r = NULL;
    assert_int_equal(qpd_proto_parse(line, strlen(line), &req, &r), 0);
    assert_null(r);
    id = req.id;
    assert_int_equal(json_string_length(id), 3);
    assert_memory_equal(json_string_value(id), "a\0b", 3);
    qpd_request_free(&req);
    /* NUL-free strings next to it are unaffected */
    line = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"note\",\"params\":{\"note\":\"u\\u0001\"}}";
    assert_int_equal(qpd_proto_parse(line, strlen(line), &req, &r), 0);
    qpd_request_free(&req);
}

static void test_envelope_errors(void **state)
{
    json_t *r;

    (void)state;
    /* missing jsonrpc: the id is still echoed */
    r = parse_fail("{\"id\":3,\"method\":\"status\"}", QPD_RPC_INVALID_REQUEST);
    assert_error_shape(r, QPD_RPC_INVALID_REQUEST, "invalid_request");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"status\"}", QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    /* bad id types answer with id null */
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"status\"}",
                   QPD_RPC_INVALID_REQUEST);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"status\"}",
                   QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"status\"}",
                   QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"status\"}",
                   QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    /* method missing or not a string */
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":1}", QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    /* params: array → invalid params; scalar → invalid request */
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"note\",\"params\":[\"A\"]}",
                   QPD_RPC_INVALID_PARAMS);
    assert_error_shape(r, QPD_RPC_INVALID_PARAMS, "invalid_params");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    r = parse_fail("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"note\",\"params\":\"A\"}",
                   QPD_RPC_INVALID_REQUEST);
    json_decref(r);
    /* batches and non-objects */
    r = parse_fail("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}]",
                   QPD_RPC_INVALID_REQUEST);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    r = parse_fail("42", QPD_RPC_INVALID_REQUEST);
    json_decref(r);
}

static void test_error_kinds_and_data(void **state)
{
    json_t *id = json_integer(9);
    json_t *r;

    (void)state;
    assert_string_equal(qpd_proto_error_kind(QPD_RPC_METHOD_NOT_FOUND), "method_not_found");
    assert_string_equal(qpd_proto_error_kind(QPD_RPC_NOT_FOUND), "not_found");
    assert_string_equal(qpd_proto_error_kind(QPD_RPC_QUERY_ERROR), "query_error");
    assert_string_equal(qpd_proto_error_kind(QPD_RPC_OVERLOADED), "overloaded");
    r = qpd_proto_error(id, QPD_RPC_QUERY_ERROR, "bad query",
                        json_pack("{s:i, s:s}", "line", 2, "message", "do not understand"));
    assert_error_shape(r, QPD_RPC_QUERY_ERROR, "query_error");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(r, "error"), "data"), "line")),
                     2);
    json_decref(r);
    json_decref(id);
}

static void test_result_and_update_text(void **state)
{
    json_t *id = json_string("a\"b");
    size_t len;
    char *s;
    json_t *back;

    (void)state;
    s = qpd_proto_result(id, "{\"path\":null}", 13, &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":{\"path\":null}}\n");
    assert_int_equal(len, strlen(s));
    back = json_loads(s, 0, NULL);
    assert_non_null(back);
    json_decref(back);
    free(s);
    json_decref(id);

    s = qpd_proto_update(3, 41, "[1]", 3, false, &len);
    assert_string_equal(s,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":{\"subscription\":3,"
                        "\"generation\":41,\"result\":[1]}}\n");
    free(s);
}

/* The _take forms build the line in the answer's own memory: the same
 * text as the copying forms, for a short answer and for one that must
 * move (bigger than any slack malloc left after it). */
static void test_lines_around_taken_answers(void **state)
{
    json_t *id = json_integer(7);
    size_t len, big = 1u << 20;
    char *s, *body;

    (void)state;
    s = qpd_proto_result_take(id, strdup("{\"total\":0}"), 11, &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"total\":0}}\n");
    assert_int_equal(len, strlen(s));
    free(s);

    s = qpd_proto_subscribed_take(id, 12, strdup("[]"), 2, &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"subscription\":12,"
                           "\"result\":[]}}\n");
    assert_int_equal(len, strlen(s));
    free(s);

    s = qpd_proto_update_take(3, 41, strdup("[1]"), 3, &len);
    assert_string_equal(s,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":{\"subscription\":3,"
                        "\"generation\":41,\"result\":[1]}}\n");
    free(s);

    body = malloc(big + 1);
    assert_non_null(body);
    body[0] = '"';
    for (size_t i = 1; i + 1 < big; i++)
        body[i] = (char)('a' + i % 26);
    body[big - 1] = '"';
    body[big] = '\0';
    char *want = qpd_proto_result(id, body, big, &len);
    size_t tlen;
    s = qpd_proto_result_take(id, body, big, &tlen);
    assert_int_equal(tlen, len);
    assert_memory_equal(s, want, len + 1);
    free(s);
    free(want);
    json_decref(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_lines),
        cmocka_unit_test(test_several_per_read_and_crlf),
        cmocka_unit_test(test_many_small_lines_compact),
        cmocka_unit_test(test_size_limit_while_buffering),
        cmocka_unit_test(test_size_limit_second_line_in_one_read),
        cmocka_unit_test(test_valid_request),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_error_kinds_and_data),
        cmocka_unit_test(test_result_and_update_text),
        cmocka_unit_test(test_lines_around_taken_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
