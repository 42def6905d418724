/* test_mentions — word-bounded, case-insensitive (Unicode) name search in
 * a note's mention text (spec/links.md §4.3). */
#include "qp_test.h"

#include <stdlib.h>
#include <string.h>

#include "mentions_int.h"

/* Runs the search and renders the hits as "offset+len,..." for comparison. */
static void find(const char *text, const char *const *names, size_t n, const char *want)
{
    qp__mention_hit *hits = NULL;
    size_t nh = 0;
    assert_rc(qp__mentions_find(&hits, &nh, text, strlen(text), names, n, NULL), QP_OK);
    char got[512] = "";
    for (size_t i = 0; i < nh; i++) {
        char one[32];
        snprintf(one, sizeof one, "%s%zu+%zu", i ? "," : "", hits[i].offset, hits[i].len);
        strncat(got, one, sizeof got - strlen(got) - 1);
    }
    free(hits);
    assert_string_equal(got, want);
}

static void test_word_boundaries(void **state)
{
    (void)state;
    const char *ai[] = {"ai"};
    find("AI is here.", ai, 1, "0+2");
    find("We said no.", ai, 1, "");
    find("(AI), ai; AI_x xAI A.I.", ai, 1, "1+2,6+2");
    find("AI2 and 2AI", ai, 1, "");
}

static void test_names_and_aliases(void **state)
{
    (void)state;
    const char *names[] = {"mara lindqvist", "mara"};
    /* "Mara Lindqvist" and "Mara" start at the same place: one hit, the longer. */
    find("Met Mara Lindqvist and mara.", names, 2, "4+14,23+4");
    find("Mara Lindqvistson", names, 2, "0+4");
    find("Mara  Lindqvist", names, 2, "0+4"); /* inner spaces are significant */
}

static void test_unicode(void **state)
{
    (void)state;
    const char *names[] = {"élodie müller"};
    find("Talked to ÉLODIE MÜLLER today", names, 1, "10+15");
    find("ÉlodieX Müller", names, 1, "");
    const char *sigma[] = {"σοφία"};
    find("ΣΟΦΊΑ and σοφία", sigma, 1, "0+10,15+10");
    /* A letter of another script directly after is a word character. */
    const char *jp[] = {"ai"};
    find("AI日本", jp, 1, "");
}

static void test_blanked_text_and_lines(void **state)
{
    (void)state;
    /* Link spans arrive as spaces: what remains around them still counts. */
    const char *names[] = {"target"};
    find("see            and Target\nTarget!", names, 1, "19+6,26+6");
}

/* ASCII text is lower-cased eight bytes at a time: every letter and the
 * bytes next to the A-Z range ('@' 0x40, '[' 0x5B, '`' 0x60, '{' 0x7B)
 * at each position of a word, and a tail shorter than a word. */
static void test_ascii_words(void **state)
{
    (void)state;
    const char *edges[] = {"@az[`{"};
    find("0123 @AZ[`{ @az[`{ @Az[`{", edges, 1, "5+6,12+6,19+6");
    find("@`Z[{ @az{`[", edges, 1, ""); /* '@' is not '`', '[' is not '{' */
    const char *abc[] = {"abcdefghijklmnopqrstuvwxyz"};
    for (size_t shift = 0; shift < 9; shift++) {
        char text[64] = "xxxxxxxx";
        text[shift] = ' ';
        snprintf(text + shift + 1, sizeof text - shift - 1, "%s.", "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        char want[16];
        snprintf(want, sizeof want, "%zu+26", shift + 1);
        find(text, abc, 1, want);
    }
    const char *tail[] = {"ok"};
    find("12345678 OK", tail, 1, "9+2");
}

/* Names that share their start are found in one pass: the hits of the
 * set are those of each name on its own, merged (the longest at a place),
 * on random texts of the names' pieces, word characters and others. */
static void test_shared_start(void **state)
{
    (void)state;
    static const char *const sets[][3] = {
        {"ann lee", "ann l.", "ann"}, {"ann lee", "ann lees", NULL}, {"über a", "über", NULL}};
    static const char *const pieces[] = {"Ann", "ann", " ", "Lee",  "lee",  "L.", "l.", "s",
                                         "x",   "_",   "-", "Über", "über", "A",  "\n", "é"};
    char text[512];
    srand(4242);
    for (size_t set = 0; set < sizeof sets / sizeof sets[0]; set++) {
        size_t nn = sets[set][2] ? 3 : 2;
        for (int round = 0; round < 3000; round++) {
            size_t len = 0;
            for (int i = rand() % 40; i > 0 && len + 8 < sizeof text; i--) {
                const char *p = pieces[(size_t)rand() % (sizeof pieces / sizeof pieces[0])];
                memcpy(text + len, p, strlen(p));
                len += strlen(p);
            }
            qp__mention_hit *all = NULL, *one = NULL;
            size_t nall = 0, none = 0;
            qp_error err = QP_ERROR_INIT;
            assert_int_equal(qp__mentions_find(&all, &nall, text, len, sets[set], nn, &err), QP_OK);
            /* The merge of the single-name answers. */
            qp__mention_hit want[128];
            size_t nw = 0;
            for (size_t k = 0; k < nn; k++) {
                assert_int_equal(qp__mentions_find(&one, &none, text, len, &sets[set][k], 1, &err),
                                 QP_OK);
                for (size_t i = 0; i < none; i++) {
                    size_t j = 0;
                    while (j < nw && want[j].offset != one[i].offset)
                        j++;
                    if (j == nw) {
                        assert_true(nw < 128);
                        want[nw++] = one[i];
                    } else if (one[i].len > want[j].len) {
                        want[j] = one[i];
                    }
                }
                free(one);
            }
            assert_int_equal(nall, nw);
            for (size_t i = 0; i < nall; i++) {
                size_t j = 0;
                while (j < nw && want[j].offset != all[i].offset)
                    j++;
                assert_true(j < nw);
                assert_int_equal(all[i].len, want[j].len);
            }
            free(all);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_boundaries), cmocka_unit_test(test_names_and_aliases),
        cmocka_unit_test(test_unicode),         cmocka_unit_test(test_blanked_text_and_lines),
        cmocka_unit_test(test_ascii_words),     cmocka_unit_test(test_shared_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
