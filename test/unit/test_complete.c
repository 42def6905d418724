/* test_complete — complete.notes, complete.headings, complete.blocks,
 * complete.tags and complete.values on the vault of qp_methods_vault.h,
 * against hand-written JSON: match classes with Unicode folding, ranking
 * by links then mtime, caps and `incomplete`, repeated headings. */
#include "qp_methods_vault.h"
#include "qp_test.h"

#define ARNE               \
    "\xc3\x84rne \xc3\x96" \
    "berg"
#define ARNE_PATH "People/" ARNE ".md"
/* mtimes: BASE + 60 s per file in qp_methods_vault.h's order */
#define T0 "2025-01-01T00:00:00Z"
#define T1 "2025-01-01T00:01:00Z"
#define T4 "2025-01-01T00:04:00Z"
#define T5 "2025-01-01T00:05:00Z"
#define T7 "2025-01-01T00:07:00Z"

#define ARNE_NOTE(match)                                                                     \
    "{\"label\":\"" ARNE "\",\"type\":\"note\",\"path\":\"" ARNE_PATH "\",\"title\":\"" ARNE \
    "\",\"kind\":\"person\",\"link\":\"" ARNE "\",\"links\":4,\"modified\":\"" T0            \
    "\",\"match\":\"" match "\"}"
#define ARNE_ALIAS(match)                                                                       \
    "{\"label\":\"Arne\",\"type\":\"alias\",\"path\":\"" ARNE_PATH "\",\"title\":\"" ARNE "\"," \
    "\"kind\":\"person\",\"link\":\"" ARNE "\",\"links\":4,\"modified\":\"" T0                  \
    "\",\"match\":\"" match "\"}"
#define LENA(match)                                                                       \
    "{\"label\":\"Lena Okafor\",\"type\":\"note\",\"path\":\"People/Lena Okafor.md\","    \
    "\"title\":\"Lena Okafor\",\"kind\":\"person\",\"link\":\"Lena Okafor\",\"links\":2," \
    "\"modified\":\"" T1 "\",\"match\":\"" match "\"}"

static int setup(void **state)
{
    (void)state;
    return mv_open();
}

static int teardown(void **state)
{
    (void)state;
    mv_close();
    return 0;
}

static void test_notes_unicode_prefix(void **state)
{
    (void)state;
    /* "ÄR" folds to "är": the note's name; no accent stripping, so the
     * alias "Arne" does not match it. */
    mv_check("complete.notes", "{\"prefix\":\"\xc3\x84R\"}",
             "{\"items\":[" ARNE_NOTE("prefix") "],\"incomplete\":false}");
    mv_check("complete.notes", "{\"prefix\":\"ar\"}",
             "{\"items\":[" ARNE_ALIAS("prefix") "],\"incomplete\":false}");
}

static void test_notes_word_and_fuzzy(void **state)
{
    (void)state;
    mv_check("complete.notes", "{\"prefix\":\"oka\"}",
             "{\"items\":[" LENA("word") "],\"incomplete\":false}");
    mv_check("complete.notes", "{\"prefix\":\"lnok\"}",
             "{\"items\":[" LENA("fuzzy") "],\"incomplete\":false}");
    mv_check("complete.notes", "{\"prefix\":\"lena okafor\"}",
             "{\"items\":[" LENA("exact") "],\"incomplete\":false}");
    mv_check("complete.notes", "{\"prefix\":\"zzz\"}", "{\"items\":[],\"incomplete\":false}");
    /* Word starts next to non-ASCII text: "öb" starts a word after a
     * space; "rne" follows "ä", a word character, so it starts none and
     * is no fuzzy match either; "äö" is a fuzzy match from the start. */
    mv_check("complete.notes",
             "{\"prefix\":\"\xc3\xb6"
             "b\"}",
             "{\"items\":[" ARNE_NOTE("word") "],\"incomplete\":false}");
    mv_check("complete.notes", "{\"prefix\":\"rne\"}", "{\"items\":[],\"incomplete\":false}");
    mv_check("complete.notes", "{\"prefix\":\"\xc3\xa4\xc3\xb6\"}",
             "{\"items\":[" ARNE_NOTE("fuzzy") "],\"incomplete\":false}");
}

static void test_notes_ranked_and_capped(void **state)
{
    (void)state;
    /* Everything matches an empty prefix: most linked first (Ärne 4 links,
     * by name then by alias, then Lena 2); the cap says there is more. */
    mv_check("complete.notes", "{\"prefix\":\"\",\"limit\":3}",
             "{\"items\":[" ARNE_NOTE("prefix") "," ARNE_ALIAS("prefix") "," LENA(
                 "prefix") "],\"incomplete\":true}");
}

static void test_notes_prefix_fills_limit(void **state)
{
    (void)state;
    /* Two names start with "l" (Lena Okafor, Latin): more than the limit,
     * so the word and fuzzy matches are not looked for; the answer says
     * there is more. */
    mv_check("complete.notes", "{\"prefix\":\"l\",\"limit\":1}",
             "{\"items\":[" LENA("prefix") "],\"incomplete\":true}");
}

static void test_notes_by_path(void **state)
{
    (void)state;
    /* A '/' matches vault paths (Notes/Binary.md is an attachment). Plan's
     * links to itself do not count: all three are unlinked, so the newest
     * comes first. */
    mv_check("complete.notes", "{\"prefix\":\"notes/\"}",
             "{\"items\":["
             "{\"label\":\"Notes/Latin\",\"type\":\"note\",\"path\":\"Notes/Latin.md\",\"title\":"
             "\"Latin\",\"kind\":\"note\",\"link\":\"Latin\",\"links\":0,\"modified\":\"" T7
             "\",\"match\":\"prefix\"},"
             "{\"label\":\"Notes/Bad\",\"type\":\"note\",\"path\":\"Notes/Bad.md\",\"title\":"
             "\"Bad\",\"kind\":\"note\",\"link\":\"Bad\",\"links\":0,\"modified\":\"" T5
             "\",\"match\":\"prefix\"},"
             "{\"label\":\"Notes/Plan\",\"type\":\"note\",\"path\":\"Notes/Plan.md\",\"title\":"
             "\"Plan\",\"kind\":\"note\",\"link\":\"Plan\",\"links\":0,\"modified\":\"" T4
             "\",\"match\":\"prefix\"}],\"incomplete\":false}");
}

static void test_notes_bad_params(void **state)
{
    (void)state;
    mv_fails("complete.notes", "{\"prefix\":3}", QP_EINVAL);
    mv_fails("complete.notes", "{\"limit\":0}", QP_EINVAL);
    mv_fails("complete.notes", "{\"limit\":1001}", QP_EINVAL);
}

static void test_headings_repeated(void **state)
{
    (void)state;
    /* The second "Details" is reached only through its parent. */
    mv_check("complete.headings", "{\"note\":\"Plan\",\"prefix\":\"DET\"}",
             "{\"path\":\"Notes/Plan.md\",\"items\":["
             "{\"text\":\"Details\",\"level\":3,\"line\":5,\"subpath\":\"#Details\","
             "\"match\":\"prefix\"},"
             "{\"text\":\"Details\",\"level\":3,\"line\":9,\"subpath\":\"#Risks#Details\","
             "\"match\":\"prefix\"}],\"incomplete\":false}");
    /* fuzzy: "rs" in order from a word start; "s" alone starts no word */
    mv_check("complete.headings", "{\"note\":\"Plan\",\"prefix\":\"s\"}",
             "{\"path\":\"Notes/Plan.md\",\"items\":[],\"incomplete\":false}");
    mv_check("complete.headings", "{\"note\":\"Plan\",\"prefix\":\"rs\",\"limit\":1}",
             "{\"path\":\"Notes/Plan.md\",\"items\":["
             "{\"text\":\"Risks\",\"level\":2,\"line\":7,\"subpath\":\"#Risks\","
             "\"match\":\"fuzzy\"}],\"incomplete\":false}");
    mv_fails("complete.headings", "{\"note\":\"Nobody\"}", QP_ENOTFOUND);
}

static void test_blocks(void **state)
{
    (void)state;
    mv_check("complete.blocks", "{\"note\":\"" ARNE "\",\"prefix\":\"^F\"}",
             "{\"path\":\"" ARNE_PATH "\",\"items\":[{\"id\":\"fact1\",\"line\":11,"
             "\"match\":\"prefix\"}],\"incomplete\":false}");
    mv_check("complete.blocks", "{\"note\":\"Plan\"}",
             "{\"path\":\"Notes/Plan.md\",\"items\":[],\"incomplete\":false}");
}

static void test_tags(void **state)
{
    (void)state;
    mv_check("complete.tags", "{\"prefix\":\"#PROJ\"}",
             "{\"items\":[{\"tag\":\"#project\",\"count\":1,\"match\":\"prefix\"},"
             "{\"tag\":\"#project/alpha\",\"count\":1,\"match\":\"prefix\"}],"
             "\"incomplete\":false}");
    mv_check("complete.tags", "{\"prefix\":\"project\"}",
             "{\"items\":[{\"tag\":\"#project\",\"count\":1,\"match\":\"exact\"},"
             "{\"tag\":\"#project/alpha\",\"count\":1,\"match\":\"prefix\"}],"
             "\"incomplete\":false}");
    /* a nested tag's last part is a word of it */
    mv_check("complete.tags", "{\"prefix\":\"infra\"}",
             "{\"items\":[{\"tag\":\"#team/infra\",\"count\":1,\"match\":\"word\"}],"
             "\"incomplete\":false}");
    mv_check("complete.tags", "{\"limit\":2}",
             "{\"items\":[{\"tag\":\"#project\",\"count\":1,\"match\":\"prefix\"},"
             "{\"tag\":\"#project/alpha\",\"count\":1,\"match\":\"prefix\"}],"
             "\"incomplete\":true}");
}

static void test_values(void **state)
{
    (void)state;
    mv_check("complete.values", "{\"key\":\"COMPANY\"}",
             "{\"key\":\"COMPANY\",\"items\":[{\"value\":\"Fernhill\",\"count\":1,"
             "\"match\":\"prefix\"},{\"value\":\"Northwind\",\"count\":1,\"match\":\"prefix\"}],"
             "\"incomplete\":false}");
    mv_check("complete.values", "{\"key\":\"company\",\"prefix\":\"north\"}",
             "{\"key\":\"company\",\"items\":[{\"value\":\"Northwind\",\"count\":1,"
             "\"match\":\"prefix\"}],\"incomplete\":false}");
    /* list elements one by one, links as written */
    mv_check("complete.values", "{\"key\":\"attendees\"}",
             "{\"key\":\"attendees\",\"items\":[{\"value\":\"[[Lena Okafor]]\",\"count\":1,"
             "\"match\":\"prefix\"},{\"value\":\"[[" ARNE "]]\",\"count\":1,"
             "\"match\":\"prefix\"}],\"incomplete\":false}");
    mv_fails("complete.values", "{}", QP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notes_unicode_prefix),
        cmocka_unit_test(test_notes_word_and_fuzzy),
        cmocka_unit_test(test_notes_ranked_and_capped),
        cmocka_unit_test(test_notes_prefix_fills_limit),
        cmocka_unit_test(test_notes_by_path),
        cmocka_unit_test(test_notes_bad_params),
        cmocka_unit_test(test_headings_repeated),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
