/*
 * test_text — NFC, the fold key (JavaScript toLowerCase parity), UTF-8
 * decoding forwards and backwards, word and space classes. Expected bytes
 * are written out by hand from the Unicode tables.
 */
#include "qp_test.h"

#include <stdlib.h>

#include "quipu/arena.h"
#include "quipu/text.h"

static void check_nfc(const char *in, size_t inlen, const char *want, size_t wantlen)
{
    size_t n = 12345;
    char *got = qp_text_nfc(in, inlen, &n);
    assert_non_null(got);
    assert_int_equal(n, wantlen);
    assert_memory_equal(got, want, wantlen);
    assert_int_equal(got[n], '\0');
    free(got);
}

static void check_fold(const char *in, const char *want)
{
    size_t n = 12345;
    char *got = qp_text_fold(in, strlen(in), &n);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(got);
}

static void test_nfc(void **state)
{
    (void)state;
    check_nfc("e\xCC\x81", 3, "\xC3\xA9", 2);                    /* e + U+0301 → é */
    check_nfc("Cafe\xCC\x81.md", 9, "Caf\xC3\xA9.md", 8);        /* NFD file name */
    check_nfc("\xC3\xA9", 2, "\xC3\xA9", 2);                     /* already NFC */
    check_nfc("\xE1\x84\x80\xE1\x85\xA1", 6, "\xEA\xB0\x80", 3); /* jamo → 가 */
    check_nfc("\xE2\x84\xAB", 3, "\xC3\x85", 2); /* ANGSTROM SIGN → Å (singleton) */
    check_nfc("plain ascii", 11, "plain ascii", 11);
    check_nfc("", 0, "", 0);
    check_nfc("a\0b", 3, "a\0b", 3); /* NUL kept, length counts */
    check_nfc("\xff\xfe\x65\xCC\x81", 5, "\xff\xfe\xC3\xA9",
              4);                      /* invalid bytes kept, valid run NFC */
    check_nfc("x\xC3", 2, "x\xC3", 2); /* truncated sequence */
    /* outlen may be NULL */
    char *p = qp_text_nfc("e\xCC\x81", 3, NULL);
    assert_string_equal(p, "\xC3\xA9");
    free(p);
}

static void test_fold(void **state)
{
    (void)state;
    check_fold("ABC xyz 123", "abc xyz 123");
    check_fold("\xC3\x89", "\xC3\xA9"); /* É → é */
    check_fold("\xCE\xA3", "\xCF\x83"); /* Σ → σ */
    check_fold("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3",
               "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"); /* ΟΔΟΣ → οδος, final ς as in JS */
    check_fold("E\xCC\x81", "\xC3\xA9");            /* folded and NFC */
    check_fold("Mara Lindqvist", "mara lindqvist");
    check_fold("\xC3\x9F", "\xC3\x9F");     /* ß stays */
    check_fold("\xE1\xBA\x9E", "\xC3\x9F"); /* ẞ → ß */
    check_fold("\xC4\xB0", "i\xCC\x87");    /* İ → i + U+0307, as JS */
    check_fold("\xD0\x9C\xD0\x98\xD0\xA0", "\xD0\xBC\xD0\xB8\xD1\x80"); /* МИР → мир */
    check_fold("", "");
    /* invalid UTF-8 is kept byte for byte */
    {
        size_t n = 0;
        char *got = qp_text_fold("\xff\xfe", 2, &n);
        assert_int_equal(n, 2);
        assert_memory_equal(got, "\xff\xfe", 2);
        free(got);
    }
}

static void test_arena_variants(void **state)
{
    qp_arena *a = qp_arena_new();
    (void)state;
    assert_non_null(a);
    assert_string_equal(qp_text_nfc_arena(a, "e\xCC\x81x", 4), "\xC3\xA9x");
    assert_string_equal(qp_text_fold_arena(a, "\xC3\x89T\xC3\x89", 5), "\xC3\xA9t\xC3\xA9");
    /* only len bytes are read */
    assert_string_equal(qp_text_fold_arena(a, "ABCDEF", 3), "abc");
    qp_arena_free(a);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(qp_text_utf8_valid("", 0));
    assert_true(qp_text_utf8_valid("abc", 3));
    assert_true(qp_text_utf8_valid("\xC3\xA9\xF0\x9F\x98\x80", 6));
    assert_false(qp_text_utf8_valid("\xff", 1));
    assert_false(qp_text_utf8_valid("\xC3", 1));             /* truncated */
    assert_false(qp_text_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    assert_false(qp_text_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(qp_text_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void test_decode(void **state)
{
    uint32_t cp = 0;
    (void)state;

    assert_int_equal(qp_text_decode("a", 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(qp_text_decode("\xC3\xA9x", 3, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(qp_text_decode("\xE2\x82\xAC", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(qp_text_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    /* invalid → U+FFFD, one byte, so a scan always advances */
    assert_int_equal(qp_text_decode("\xff"
                                    "a",
                                    2, &cp),
                     1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode("\xE2\x82", 2, &cp), 1); /* cut by n */
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode("\xE2\x82\xAC", 2, &cp), 1); /* n shorter than the char */
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode("\xC0\xAF", 2, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode("\x80", 1, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
}

/* Code units as editors count them (LSP positions): the sample is
 * a é € 😀 z, 1+2+3+4+1 = 11 bytes. */
static void test_units(void **state)
{
    static const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
    (void)state;

    assert_int_equal(qp_text_units(s, 11, 8), 11);
    assert_int_equal(qp_text_units(s, 11, 16), 6); /* 😀 is a surrogate pair */
    assert_int_equal(qp_text_units(s, 11, 32), 5);
    assert_int_equal(qp_text_units(s, 6, 16), 3); /* up to € */
    assert_int_equal(qp_text_units(s, 0, 16), 0);
    /* an invalid byte and a character cut short are one U+FFFD each */
    assert_int_equal(qp_text_units("\xff"
                                   "b",
                                   2, 16),
                     2);
    assert_int_equal(qp_text_units(s + 6, 2, 16), 2); /* 😀's first two bytes */
    assert_int_equal(qp_text_units(s + 6, 2, 32), 2);
}

static void test_uri_encode(void **state)
{
    (void)state;
    char out[64];
    /* Unreserved characters and '/' as they are; a space, parentheses, '%'
     * and each byte of é as %XX, upper case. */
    assert_int_equal(qp_text_uri_encode(out, "/v/A-z_0.9~/(x) 50%\xc3\xa9"), 33);
    assert_string_equal(out, "/v/A-z_0.9~/%28x%29%2050%25%C3%A9");
    assert_int_equal(qp_text_uri_encode(out, ""), 0);
    assert_string_equal(out, "");
}

static void test_decode_before(void **state)
{
    static const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"; /* a é € 😀 z */
    uint32_t cp = 0;
    (void)state;

    assert_int_equal(qp_text_decode_before(s, 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(qp_text_decode_before(s, 3, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(qp_text_decode_before(s, 6, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(qp_text_decode_before(s, 10, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(qp_text_decode_before(s, 11, &cp), 1);
    assert_int_equal(cp, 'z');
    /* in the middle of a character, or stray continuation bytes */
    assert_int_equal(qp_text_decode_before(s, 5, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode_before("\x82\xAC", 2, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode_before("a\x80\x80\x80\x80", 5, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(qp_text_decode_before("x\xff", 2, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
}

static void test_is_word(void **state)
{
    (void)state;
    assert_true(qp_text_is_word('a'));
    assert_true(qp_text_is_word('Z'));
    assert_true(qp_text_is_word('0'));
    assert_true(qp_text_is_word('9'));
    assert_true(qp_text_is_word('_'));
    assert_true(qp_text_is_word(0xE9));   /* é */
    assert_true(qp_text_is_word(0x3A3));  /* Σ */
    assert_true(qp_text_is_word(0x65E5)); /* 日 */
    assert_true(qp_text_is_word(0x663));  /* ARABIC-INDIC DIGIT THREE */
    assert_true(qp_text_is_word(0x301));  /* combining acute: a mark */
    assert_false(qp_text_is_word('-'));
    assert_false(qp_text_is_word(' '));
    assert_false(qp_text_is_word('.'));
    assert_false(qp_text_is_word('\''));
    assert_false(qp_text_is_word('['));
    assert_false(qp_text_is_word(0xA0));   /* NBSP */
    assert_false(qp_text_is_word(0x2014)); /* em dash */
    assert_false(qp_text_is_word(0x201C)); /* left double quote */
    assert_false(qp_text_is_word(0xFFFD));
}

static void test_is_space(void **state)
{
    (void)state;
    assert_true(qp_text_is_space(' '));
    assert_true(qp_text_is_space('\t'));
    assert_true(qp_text_is_space('\n'));
    assert_true(qp_text_is_space('\r'));
    assert_true(qp_text_is_space(0xA0));   /* NBSP */
    assert_true(qp_text_is_space(0x2003)); /* EM SPACE */
    assert_true(qp_text_is_space(0x3000)); /* IDEOGRAPHIC SPACE */
    assert_false(qp_text_is_space('a'));
    assert_false(qp_text_is_space('_'));
    assert_false(qp_text_is_space(0x200B)); /* ZERO WIDTH SPACE is not white space */
    assert_false(qp_text_is_space(0xE9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_arena_variants),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_decode_before),
        cmocka_unit_test(test_is_word),
        cmocka_unit_test(test_is_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
