/* test_lsp — the language server's sans-I/O parts (daemon/lsp/frame.c and
 * text.c): LSP base-protocol framing and position conversion. Expected
 * values are worked out by hand from the UTF-8 and UTF-16 encodings. */

#include "qp_test.h"

#include <stdlib.h>

#include "lsp/lsp.h"

/* Feeds `in` in pieces of `step` bytes and collects the results of
 * qpl_reader_next as "body|body|E-1|..." (E<code> for framing errors). */
static void frames_of(qpl_reader *r, const char *in, size_t n, size_t step, char *out, size_t cap)
{
    const char *body;
    size_t len;
    int k;

    out[0] = '\0';
    for (size_t i = 0; i < n; i += step) {
        size_t m = n - i < step ? n - i : step;

        assert_int_equal(qpl_reader_feed(r, in + i, m), 0);
        while ((k = qpl_reader_next(r, &body, &len)) != QPL_FRAME_NONE) {
            char one[64];

            if (out[0] != '\0')
                strncat(out, "|", cap - strlen(out) - 1);
            if (k == QPL_FRAME_MESSAGE && len == 0)
                snprintf(one, sizeof one, "(empty)");
            else if (k == QPL_FRAME_MESSAGE)
                snprintf(one, sizeof one, "%.*s", (int)len, body);
            else
                snprintf(one, sizeof one, "E%d", k);
            strncat(out, one, cap - strlen(out) - 1);
        }
    }
}

static void check_frames(const char *in, size_t max, const char *want)
{
    /* Whole, then byte by byte, then in 7-byte pieces: same result. */
    size_t steps[] = {strlen(in) ? strlen(in) : 1, 1, 7};

    for (size_t i = 0; i < 3; i++) {
        qpl_reader r;
        char got[512];

        qpl_reader_init(&r, max);
        frames_of(&r, in, strlen(in), steps[i], got, sizeof got);
        if (strcmp(got, want) != 0)
            fail_msg("step %zu: got \"%s\", want \"%s\"", steps[i], got, want);
        qpl_reader_free(&r);
    }
}

static void test_frames(void **state)
{
    (void)state;
    check_frames("Content-Length: 2\r\n\r\n{}", 0, "{}");
    check_frames("Content-Length: 7\r\n\r\n{\"a\":1}Content-Length: 2\r\n\r\n[]", 0,
                 "{\"a\":1}|[]");
    /* Header names are case-insensitive; other fields are ignored. */
    check_frames("content-length:3\r\nContent-Type: application/vscode-jsonrpc; "
                 "charset=utf-8\r\n\r\nabc",
                 0, "abc");
    check_frames("Content-Type: x\r\nCONTENT-LENGTH:  4 \r\n\r\nabcd", 0, "abcd");
    /* A bare "\n" is accepted for "\r\n". */
    check_frames("Content-Length: 1\n\nx", 0, "x");
    /* Zero-length bodies are messages too (and not valid JSON: the server
     * answers -32700). */
    check_frames("Content-Length: 0\r\n\r\nContent-Length: 1\r\n\r\ny", 0, "(empty)|y");
    /* Incomplete: nothing yet. */
    check_frames("Content-Length: 5\r\n\r\nab", 0, "");
    check_frames("Content-Length: 5\r\n", 0, "");
}

static void test_bad_headers(void **state)
{
    (void)state;
    /* Each bad header is reported once and skipped; the next message is read. */
    check_frames("Content-Length: abc\r\n\r\nContent-Length: 2\r\n\r\nok", 0, "E-1|ok");
    check_frames("Content-Length: -4\r\n\r\nContent-Length: 2\r\n\r\nok", 0, "E-1|ok");
    check_frames("Content-Type: x\r\n\r\nContent-Length: 2\r\n\r\nok", 0, "E-1|ok");
    check_frames("garbage line\r\n\r\nContent-Length: 2\r\n\r\nok", 0, "E-1|ok");
    check_frames("Content-Length: 2\r\nContent-Length: 3\r\n\r\nContent-Length: 2\r\n\r\nok", 0,
                 "E-1|ok");
    check_frames("Content-Length: 99999999999999999999\r\n\r\nContent-Length: 2\r\n\r\nok", 0,
                 "E-1|ok");
}

static void test_too_big(void **state)
{
    (void)state;
    /* A body over the limit is skipped as it arrives, then reading goes on. */
    check_frames("Content-Length: 12\r\n\r\n0123456789abContent-Length: 2\r\n\r\nok", 10, "E-2|ok");
    check_frames("Content-Length: 10\r\n\r\n0123456789Content-Length: 2\r\n\r\nok", 10,
                 "0123456789|ok");
}

static void test_huge_header(void **state)
{
    qpl_reader r;
    char *junk = malloc(QPL_MAX_HEADER * 2);
    char got[512];

    (void)state;
    memset(junk, 'x', QPL_MAX_HEADER * 2);
    qpl_reader_init(&r, 0);
    frames_of(&r, junk, QPL_MAX_HEADER * 2, 4096, got, sizeof got);
    /* Reported, and the buffer does not keep growing. */
    assert_true(strstr(got, "E-1") != NULL);
    assert_true(r.len - r.start < QPL_MAX_HEADER);
    frames_of(&r, "\r\n\r\nContent-Length: 2\r\n\r\nok", 27, 27, got, sizeof got);
    assert_true(strstr(got, "ok") != NULL);
    qpl_reader_free(&r);
    free(junk);
}

static void test_frame_out(void **state)
{
    json_t *m = json_pack("{s:s}", "a", "é");
    size_t n;
    char *b = qpl_frame(m, &n);

    (void)state;
    /* {"a":"é"} is 10 bytes: é is two in UTF-8, sent unescaped. */
    assert_string_equal(b, "Content-Length: 10\r\n\r\n{\"a\":\"\xc3\xa9\"}");
    assert_int_equal(n, strlen(b));
    free(b);
    json_decref(m);
}

/* ---- positions ------------------------------------------------------------ */

static void test_units(void **state)
{
    (void)state;
    assert_int_equal(qpl_units("abc", 3, QPL_UTF16), 3);
    /* é: 2 bytes, 1 UTF-16 unit. 中: 3 bytes, 1 unit. 😀 (U+1F600): 4 bytes,
     * a surrogate pair. */
    assert_int_equal(qpl_units("\xc3\xa9", 2, QPL_UTF16), 1);
    assert_int_equal(qpl_units("\xe4\xb8\xad", 3, QPL_UTF16), 1);
    assert_int_equal(qpl_units("\xf0\x9f\x98\x80", 4, QPL_UTF16), 2);
    assert_int_equal(qpl_units("\xf0\x9f\x98\x80", 4, QPL_UTF8), 4);
    /* Invalid UTF-8: one unit per byte. */
    assert_int_equal(qpl_units("\xff\xfe", 2, QPL_UTF16), 2);
    assert_int_equal(qpl_units("\xe4\xb8", 2, QPL_UTF16), 2);
    /* Overlong and surrogate encodings are invalid. */
    assert_int_equal(qpl_units("\xe0\x80\x80", 3, QPL_UTF16), 3);
    assert_int_equal(qpl_units("\xed\xa0\x80", 3, QPL_UTF16), 3);
}

static void test_bytes_of_units(void **state)
{
    const char *s = "a\xf0\x9f\x98\x80"
                    "b"; /* a😀b */

    (void)state;
    assert_int_equal(qpl_bytes_of_units(s, 6, 0, QPL_UTF16), 0);
    assert_int_equal(qpl_bytes_of_units(s, 6, 1, QPL_UTF16), 1);
    /* Inside the surrogate pair: rounded down to the emoji's start. */
    assert_int_equal(qpl_bytes_of_units(s, 6, 2, QPL_UTF16), 1);
    assert_int_equal(qpl_bytes_of_units(s, 6, 3, QPL_UTF16), 5);
    assert_int_equal(qpl_bytes_of_units(s, 6, 4, QPL_UTF16), 6);
    assert_int_equal(qpl_bytes_of_units(s, 6, 99, QPL_UTF16), 6);
    /* UTF-8: bytes, but never inside a character. */
    assert_int_equal(qpl_bytes_of_units(s, 6, 3, QPL_UTF8), 1);
    assert_int_equal(qpl_bytes_of_units(s, 6, 5, QPL_UTF8), 5);
}

static void test_positions(void **state)
{
    /* Line 0 "# Café 😀" + CRLF, line 1 "[[Ünï]] x" + LF, line 2 "" (end). */
    const char *src = "# Caf\xc3\xa9 \xf0\x9f\x98\x80\r\n[[\xc3\x9cn\xc3\xaf]] x\n";
    qpl_text t = {0};
    uint32_t l, c;

    (void)state;
    assert_int_equal(qpl_text_set(&t, src, strlen(src)), 0);
    assert_int_equal(t.nlines, 3);
    /* The line's length excludes "\r\n". */
    assert_int_equal(qpl_text_line_len(&t, 0), 12);
    assert_int_equal(qpl_text_line_len(&t, 1), 11);
    /* "# Café " is 7 UTF-16 units, 8 bytes; the emoji 2 units, 4 bytes. */
    assert_int_equal(qpl_text_offset(&t, 0, 7, QPL_UTF16), 8);
    assert_int_equal(qpl_text_offset(&t, 0, 9, QPL_UTF16), 12);
    /* Past the end of a CRLF line: before the "\r". */
    assert_int_equal(qpl_text_offset(&t, 0, 50, QPL_UTF16), 12);
    assert_int_equal(qpl_text_offset(&t, 1, 0, QPL_UTF16), 14);
    /* "[[Ünï" = 5 units, 7 bytes. */
    assert_int_equal(qpl_text_offset(&t, 1, 5, QPL_UTF16), 14 + 7);
    assert_int_equal(qpl_text_offset(&t, 1, 7, QPL_UTF8), 14 + 7);
    /* Past the last line: the end of the text. */
    assert_int_equal(qpl_text_offset(&t, 9, 0, QPL_UTF16), strlen(src));

    qpl_text_position(&t, 12, QPL_UTF16, &l, &c);
    assert_int_equal(l, 0);
    assert_int_equal(c, 9);
    /* On the "\r" or "\n" of CRLF: the end of the line. */
    qpl_text_position(&t, 13, QPL_UTF16, &l, &c);
    assert_int_equal(l, 0);
    assert_int_equal(c, 9);
    qpl_text_position(&t, 14 + 7, QPL_UTF16, &l, &c);
    assert_int_equal(l, 1);
    assert_int_equal(c, 5);
    qpl_text_position(&t, 14 + 7, QPL_UTF8, &l, &c);
    assert_int_equal(c, 7);
    qpl_text_position(&t, strlen(src), QPL_UTF16, &l, &c);
    assert_int_equal(l, 2);
    assert_int_equal(c, 0);
    qpl_text_free(&t);
}

static void test_roundtrip(void **state)
{
    /* Every character boundary of a mixed text maps to a position and back. */
    const char *src = "x\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\r\n\xff y\r\n\xf0\x9f\x91\x8d";
    qpl_text t = {0};

    (void)state;
    assert_int_equal(qpl_text_set(&t, src, strlen(src)), 0);
    for (int e = 0; e < 2; e++) {
        const size_t bounds[] = {0, 1, 3, 6, 10, 12, 13, 14, 15, 17, 21};

        for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
            uint32_t l, c;

            qpl_text_position(&t, bounds[i], (qpl_encoding)e, &l, &c);
            assert_int_equal(qpl_text_offset(&t, l, c, (qpl_encoding)e), bounds[i]);
        }
    }
    qpl_text_free(&t);
}

static void test_replace(void **state)
{
    qpl_text t = {0};
    size_t a, b;

    (void)state;
    assert_int_equal(qpl_text_set(&t, "one\r\ntw\xf0\x9f\x98\x80o\nthree", 18), 0);
    /* Replace the emoji (UTF-16 line 1 characters 2..4) with "-\n-". */
    a = qpl_text_offset(&t, 1, 2, QPL_UTF16);
    b = qpl_text_offset(&t, 1, 4, QPL_UTF16);
    assert_int_equal(a, 7);
    assert_int_equal(b, 11);
    assert_int_equal(qpl_text_replace(&t, a, b, "-\n-", 3), 0);
    assert_string_equal(t.s, "one\r\ntw-\n-o\nthree");
    assert_int_equal(t.nlines, 4);
    assert_int_equal(qpl_text_offset(&t, 2, 1, QPL_UTF16), 10);
    /* Insert at the very end; delete everything. */
    assert_int_equal(qpl_text_replace(&t, t.len, t.len, "!", 1), 0);
    assert_string_equal(t.s + t.len - 6, "three!");
    assert_int_equal(qpl_text_replace(&t, 0, t.len, "", 0), 0);
    assert_int_equal(t.len, 0);
    assert_int_equal(t.nlines, 1);
    qpl_text_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),         cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_too_big),        cmocka_unit_test(test_huge_header),
        cmocka_unit_test(test_frame_out),      cmocka_unit_test(test_units),
        cmocka_unit_test(test_bytes_of_units), cmocka_unit_test(test_positions),
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_replace),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
