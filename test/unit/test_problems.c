/* test_problems — problems (every kind, one note or the vault, kinds
 * filter, pages), unresolved (grouped by target) and the status counts,
 * on the vault of qp_methods_vault.h, against hand-written JSON. */
#include "qp_methods_vault.h"
#include "qp_test.h"

#define ARNE               \
    "\xc3\x84rne \xc3\x96" \
    "berg"
#define ARNE_PATH "People/" ARNE ".md"
#define KICKOFF   "Meetings/2025-01-10 Kickoff.md"
#define REVIEW    "Meetings/2025-02-01 Review.md"

#define NO_COUNTS                                                                               \
    "\"unresolved_link\":0,\"unresolved_subpath\":0,\"frontmatter\":0,\"size\":0,\"binary\":0," \
    "\"encoding\":0,\"tasks_query\":0"

#define P_SUBPATH                                                                         \
    "{\"path\":\"" KICKOFF "\",\"line\":12,\"column\":6,\"kind\":\"unresolved_subpath\"," \
    "\"severity\":\"warning\",\"message\":\"heading not found in " ARNE_PATH ": #Nope\"," \
    "\"target\":\"" ARNE "\",\"subpath\":\"#Nope\",\"resolved\":\"" ARNE_PATH "\"}"
#define P_LINK                                                                          \
    "{\"path\":\"" KICKOFF "\",\"line\":12,\"column\":32,\"kind\":\"unresolved_link\"," \
    "\"severity\":\"warning\",\"message\":\"unresolved link: Missing Note\","           \
    "\"target\":\"Missing Note\",\"subpath\":null,\"embed\":false}"
#define P_EMBED                                                                         \
    "{\"path\":\"" KICKOFF "\",\"line\":12,\"column\":53,\"kind\":\"unresolved_link\"," \
    "\"severity\":\"warning\",\"message\":\"unresolved embed: missing.png\","           \
    "\"target\":\"missing.png\",\"subpath\":null,\"embed\":true}"
#define P_STALE                                                                            \
    "{\"path\":\"" ARNE_PATH "\",\"line\":16,\"column\":1,\"kind\":\"mentions_stale\","    \
    "\"severity\":\"warning\",\"message\":\"stale Recent Context line: no meeting titled " \
    "\\\"Old offsite\\\" mentions this note\",\"title\":\"Old offsite\"}"
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

static void test_links_of_one_note(void **state)
{
    (void)state;
    /* Sorted by line and column; the embed of a missing attachment too. */
    mv_check("problems", "{\"note\":\"" KICKOFF "\"}",
             "{\"total\":3,\"counts\":{\"unresolved_link\":2,\"unresolved_subpath\":1,"
             "\"frontmatter\":0,\"size\":0,\"binary\":0,\"encoding\":0,\"tasks_query\":0,"
             "\"mentions_missing\":0,\"mentions_stale\":0},"
             "\"problems\":[" P_SUBPATH "," P_LINK "," P_EMBED "]}");
}

static void test_file_problems(void **state)
{
    (void)state;
    mv_check("problems", "{\"note\":\"Notes/Bad.md\",\"kinds\":[\"frontmatter\"]}",
             "{\"total\":1,\"counts\":{\"frontmatter\":1},\"problems\":[{\"path\":\"Notes/Bad.md\","
             "\"line\":3,\"column\":1,\"kind\":\"frontmatter\",\"severity\":\"error\","
             "\"message\":\"invalid frontmatter: did not find expected ',' or ']' (while parsing "
             "a flow sequence)\"}]}");
    mv_check("problems", "{\"kinds\":[\"binary\",\"encoding\",\"size\"]}",
             "{\"total\":2,\"counts\":{\"size\":0,\"binary\":1,\"encoding\":1},\"problems\":["
             "{\"path\":\"Notes/Binary.md\",\"line\":0,\"column\":0,\"kind\":\"binary\","
             "\"severity\":\"warning\",\"message\":\"binary content (NUL bytes or mostly "
             "invalid UTF-8): indexed as an attachment, not as a note\"},"
             "{\"path\":\"Notes/Latin.md\",\"line\":1,\"column\":1,\"kind\":\"encoding\","
             "\"severity\":\"warning\",\"message\":\"invalid UTF-8 at offset 3\"}]"
             "}");
}

static void test_tasks_query_line(void **state)
{
    (void)state;
    /* The fence is line 13; "frobnicate" is the query's line 2: file line 15.
     * The second time the block's compile result comes from the store's
     * memo: the same line, column and message. */
    for (int i = 0; i < 2; i++)
        mv_check("problems", "{\"note\":\"Plan\",\"kinds\":[\"tasks_query\"]}",
                 "{\"total\":1,\"counts\":{\"tasks_query\":1},\"problems\":[{\"path\":"
                 "\"Notes/Plan.md\",\"line\":15,\"column\":1,\"kind\":\"tasks_query\",\"severity\":"
                 "\"error\",\"message\":\"do not understand query\\nProblem line: "
                 "\\\"frobnicate\\\"\",\"block_line\":13}]}");
}

static void test_drift_of_one_person(void **state)
{
    (void)state;
    /* The Review names Ärne by alias in plain text: missing, at the
     * Recent Context heading; "Old offsite" names no meeting: stale. */
    mv_check("problems", "{\"note\":\"" ARNE "\"}",
             "{\"total\":2,\"counts\":{" NO_COUNTS ",\"mentions_missing\":1,"
             "\"mentions_stale\":1},\"problems\":["
             "{\"path\":\"" ARNE_PATH "\",\"line\":13,\"column\":1,\"kind\":\"mentions_missing\","
             "\"severity\":\"information\",\"message\":\"missing from Recent Context: 2025-02-01 "
             "Review\",\"meeting\":\"" REVIEW "\",\"title\":\"2025-02-01 Review\","
             "\"date\":\"2025-02-01\"}," P_STALE "]}");
}

static void test_drift_vault_wide(void **state)
{
    (void)state;
    /* Vault-wide only linking meetings count: Lena misses both (newest
     * first), Ärne's plain-text mention is not reported; paths sort
     * bytewise ("L" before "Ä"). */
    mv_check("problems", "{\"kinds\":[\"mentions_missing\",\"mentions_stale\"]}",
             "{\"total\":3,\"counts\":{\"mentions_missing\":2,\"mentions_stale\":1},\"problems\":["
             "{\"path\":\"People/Lena Okafor.md\",\"line\":7,\"column\":1,\"kind\":"
             "\"mentions_missing\",\"severity\":\"information\",\"message\":\"missing from Recent "
             "Context: 2025-02-01 Review\",\"meeting\":\"" REVIEW "\",\"title\":\"2025-02-01 "
             "Review\",\"date\":\"2025-02-01\"},"
             "{\"path\":\"People/Lena Okafor.md\",\"line\":7,\"column\":1,\"kind\":"
             "\"mentions_missing\",\"severity\":\"information\",\"message\":\"missing from Recent "
             "Context: 2025-01-10 Kickoff\",\"meeting\":\"" KICKOFF "\",\"title\":\"Kickoff\","
             "\"date\":\"2025-01-10\"}," P_STALE "]}");
}

static void test_pages(void **state)
{
    (void)state;
    mv_check("problems", "{\"limit\":4}",
             "{\"total\":10,\"counts\":{\"unresolved_link\":2,\"unresolved_subpath\":1,"
             "\"frontmatter\":1,\"size\":0,\"binary\":1,\"encoding\":1,\"tasks_query\":1,"
             "\"mentions_missing\":2,\"mentions_stale\":1},\"problems\":[" P_SUBPATH "," P_LINK
             "," P_EMBED ",{\"path\":\"Notes/Bad.md\",\"line\":3,\"column\":1,\"kind\":"
             "\"frontmatter\",\"severity\":\"error\",\"message\":\"invalid frontmatter: did not "
             "find expected ',' or ']' (while parsing a flow sequence)\"}],\"next_cursor\":\"4\"}");
    mv_check("problems", "{\"limit\":4,\"cursor\":\"9\",\"kinds\":null}",
             "{\"total\":10,\"counts\":{\"unresolved_link\":2,\"unresolved_subpath\":1,"
             "\"frontmatter\":1,\"size\":0,\"binary\":1,\"encoding\":1,\"tasks_query\":1,"
             "\"mentions_missing\":2,\"mentions_stale\":1},\"problems\":[" P_STALE "]"
             "}");
    mv_fails("problems", "{\"cursor\":\"x\"}", QP_EINVAL);
    mv_fails("problems", "{\"kinds\":[\"nope\"]}", QP_EINVAL);
    mv_fails("problems", "{\"note\":\"Nobody\"}", QP_ENOTFOUND);
}

static void test_status_counts(void **state)
{
    (void)state;
    mv_check("status", "{}",
             "{\"generation\":1,\"files\":8,\"notes\":{\"person\":2,\"meeting\":2,\"other\":3},"
             "\"tasks\":0,\"links\":10,\"unresolved_links\":2,\"problems\":{\"unresolved_link\":2,"
             "\"unresolved_subpath\":1,\"frontmatter\":1,\"size\":0,\"binary\":1,\"encoding\":1,"
             "\"tasks_query\":1}}");
}

static void test_unresolved_grouped(void **state)
{
    (void)state;
    mv_check("unresolved", "{}",
             "{\"total\":2,\"targets\":[{\"target\":\"Missing Note\",\"count\":1,\"sources\":[{"
             "\"path\":\"" KICKOFF "\",\"line\":12,\"column\":32}]},{\"target\":\"missing.png\","
             "\"count\":1,\"sources\":[{\"path\":\"" KICKOFF "\",\"line\":12,\"column\":53}]}]"
             "}");
    mv_check("unresolved", "{\"limit\":1}",
             "{\"total\":2,\"targets\":[{\"target\":\"Missing Note\",\"count\":1,\"sources\":[{"
             "\"path\":\"" KICKOFF "\",\"line\":12,\"column\":32}]}],\"next_cursor\":\"1\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_of_one_note), cmocka_unit_test(test_file_problems),
        cmocka_unit_test(test_tasks_query_line),  cmocka_unit_test(test_drift_of_one_person),
        cmocka_unit_test(test_drift_vault_wide),  cmocka_unit_test(test_pages),
        cmocka_unit_test(test_status_counts),     cmocka_unit_test(test_unresolved_grouped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
