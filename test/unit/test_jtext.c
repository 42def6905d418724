/* Unit tests for lib/jtext.c: the integers and strings it writes itself
 * are the bytes jansson's compact dump writes for the same values, and a
 * string jansson refuses is refused. */
#include "qp_test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jtext_int.h"

#define FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* What b holds is jansson's compact dump of j (b is finished). */
static void holds_dump_of(qp__jtext *b, const json_t *j)
{
    char *want = json_dumps(j, FLAGS);
    char *got = qp__jt_finish(b);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void same_as_jansson(const char *s, size_t n)
{
    qp__jtext b = {0};
    json_t *j = json_stringn(s, n);
    bool ok = qp__jt_string(&b, s, n);
    if (memchr(s, '\0', n)) {
        assert_false(ok); /* left to jansson */
        json_decref(j);
        qp__jt_free(&b);
        return;
    }
    assert_int_equal(ok, j != NULL);
    if (j) {
        holds_dump_of(&b, j);
        json_decref(j);
    } else {
        assert_int_equal(b.len, 0);
        qp__jt_free(&b);
    }
}

static void test_strings_by_hand(void **state)
{
    (void)state;
    qp__jtext b = {0};
    const char *in = "a\"b\\c\n\t\x01\x1f/\x7f é 😀";
    assert_true(qp__jt_string(&b, in, strlen(in)));
    char *t = qp__jt_finish(&b);
    assert_string_equal(t, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001F/\x7f é 😀\"");
    free(t);
    static const char *const bad[] = {
        "\xff",             /* not a lead byte */
        "\xc3",             /* cut short */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        same_as_jansson(bad[i], strlen(bad[i]));
}

/* Random strings from bytes that matter to an encoder: every control
 * character, quote, backslash, slash, DEL, ASCII, and pieces of valid and
 * broken UTF-8. */
static void test_strings_against_jansson(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "\"",
        "\\",
        "/",
        "\x7f",
        "a",
        "Z",
        " ",
        "é",
        "\xe2\x80\xa8",
        "😀",
        "\xef\xbf\xbd",
        "\xff",
        "\xc3",
        "\xed\xa0\x80",
        "\xe0\x80\x80",
        "\xf4\x8f\xbf\xbf",
        "\xf4\x90\x80\x80",
    };
    char s[256];
    srand(12345);
    for (int round = 0; round < 20000; round++) {
        size_t n = 0, want = (size_t)(rand() % 24);
        while (n < want && n + 8 < sizeof s) {
            int k = rand() % 3;
            if (k == 0) {
                s[n++] = (char)(rand() % 0x20); /* a control character (NUL too) */
            } else {
                const char *p = pieces[(size_t)rand() % (sizeof pieces / sizeof pieces[0])];
                size_t l = strlen(p);
                memcpy(s + n, p, l);
                n += l;
            }
        }
        same_as_jansson(s, n);
    }
}

static void test_integers(void **state)
{
    (void)state;
    static const long long v[] = {0, 1, -1, 42, 1000000007LL, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        qp__jtext b = {0};
        qp__jt_int(&b, v[i]);
        json_t *j = json_integer(v[i]);
        holds_dump_of(&b, j);
        json_decref(j);
    }
}

/* A random value: objects and arrays nested a few deep, strings (keys
 * too) with escapes and non-ASCII, integers, reals and the literals. */
static json_t *random_value(int depth)
{
    static const char *const strs[] = {"",         "a",           "path/to/Note.md",
                                       "q\"uote",  "back\\slash", "tab\tnl\n",
                                       "\x01\x1f", "é😀",          "\xe2\x80\xa8x"};
    int k = rand() % (depth > 3 ? 6 : 8);
    switch (k) {
    case 0:
        return json_string(strs[(size_t)rand() % (sizeof strs / sizeof strs[0])]);
    case 1:
        return json_integer((json_int_t)rand() - RAND_MAX / 2);
    case 2:
        return json_real((double)rand() / 7.0);
    case 3:
        return rand() % 2 ? json_true() : json_false();
    case 4:
        return json_null();
    case 5:
        return json_integer(0);
    case 6: {
        json_t *a = json_array();
        for (int i = rand() % 5; i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand() % 5; i > 0; i--)
            json_object_set_new(o, strs[(size_t)rand() % (sizeof strs / sizeof strs[0])],
                                random_value(depth + 1));
        return o;
    }
    }
}

static void test_values_against_jansson(void **state)
{
    (void)state;
    srand(777);
    for (int round = 0; round < 5000; round++) {
        json_t *v = random_value(0);
        qp__jtext b = {0};
        qp__jt_value(&b, v);
        holds_dump_of(&b, v);
        json_decref(v);
    }
}

static void test_string_or_null(void **state)
{
    (void)state;
    qp__jtext b = {0};
    qp__jt_string_or_null(&b, NULL, json_string);
    qp__jt_add(&b, ",", 1);
    qp__jt_string_or_null(&b, "x", json_string);
    char *t = qp__jt_finish(&b);
    assert_string_equal(t, "null,\"x\"");
    free(t);
    /* Not UTF-8: the fix decides (json_string refuses it: out of memory). */
    qp__jtext c = {0};
    qp__jt_string_or_null(&c, "\xff", json_string);
    assert_true(c.oom);
    assert_null(qp__jt_finish(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_by_hand), cmocka_unit_test(test_strings_against_jansson),
        cmocka_unit_test(test_integers),        cmocka_unit_test(test_values_against_jansson),
        cmocka_unit_test(test_string_or_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
