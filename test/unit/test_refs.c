/* test_refs — backlinks.subpath: the links that reach one heading or block
 * of a note, matched as links are (a chain or the plain heading name),
 * self links included; and backlinks.locations, the same links (and a
 * note's backlinks) as editor ranges. On the vault of qp_methods_vault.h. */
#include "qp_methods_vault.h"
#include "qp_test.h"

#define ARNE               \
    "\xc3\x84rne \xc3\x96" \
    "berg"
#define ARNE_PATH "People/" ARNE ".md"
#define KICKOFF   "Meetings/2025-01-10 Kickoff.md"
#define LINE11    "See [[" ARNE "#Key Facts]] and [[" ARNE "#^fact1]]."

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

static void test_heading(void **state)
{
    (void)state;
    mv_check("backlinks.subpath", "{\"note\":\"" ARNE "\",\"subpath\":\"#key facts\"}",
             "{\"path\":\"" ARNE_PATH "\",\"subpath\":\"#key facts\",\"found\":true,\"line\":9,"
             "\"linked\":[{\"path\":\"" KICKOFF "\",\"kind\":\"meeting\",\"title\":\"Kickoff\","
             "\"date\":\"2025-01-10\",\"occurrences\":[{\"line\":11,\"column\":5,"
             "\"context\":\"" LINE11 "\"}]}]}");
}

static void test_block(void **state)
{
    (void)state;
    mv_check("backlinks.subpath", "{\"note\":\"" ARNE_PATH "\",\"subpath\":\"#^fact1\"}",
             "{\"path\":\"" ARNE_PATH "\",\"subpath\":\"#^fact1\",\"found\":true,\"line\":11,"
             "\"linked\":[{\"path\":\"" KICKOFF "\",\"kind\":\"meeting\",\"title\":\"Kickoff\","
             "\"date\":\"2025-01-10\",\"occurrences\":[{\"line\":11,\"column\":36,"
             "\"context\":\"" LINE11 "\"}]}]}");
}

static void test_chain_and_self_link(void **state)
{
    (void)state;
    /* [[#Risks#Details]] in Plan reaches the second Details (line 9) ... */
    mv_check("backlinks.subpath", "{\"note\":\"Plan\",\"subpath\":\"#Risks#Details\"}",
             "{\"path\":\"Notes/Plan.md\",\"subpath\":\"#Risks#Details\",\"found\":true,"
             "\"line\":9,\"linked\":[{\"path\":\"Notes/Plan.md\",\"kind\":\"note\","
             "\"title\":\"Plan\",\"date\":null,\"occurrences\":[{\"line\":11,\"column\":9,"
             "\"context\":\"Link to [[#Risks#Details]] and [[Plan#Goals]]. #project/alpha\"}]}]}");
    /* ... not the first one, which "#Details" names. */
    mv_check("backlinks.subpath", "{\"note\":\"Plan\",\"subpath\":\"#Details\"}",
             "{\"path\":\"Notes/Plan.md\",\"subpath\":\"#Details\",\"found\":true,\"line\":5,"
             "\"linked\":[]}");
}

static void test_not_found(void **state)
{
    (void)state;
    /* [[Ärne Öberg#Nope]] exists but the heading does not: nothing reaches it. */
    mv_check("backlinks.subpath", "{\"note\":\"" ARNE "\",\"subpath\":\"#Nope\"}",
             "{\"path\":\"" ARNE_PATH "\",\"subpath\":\"#Nope\",\"found\":false,\"line\":0,"
             "\"linked\":[]}");
    mv_fails("backlinks.subpath", "{\"note\":\"" ARNE "\",\"subpath\":\"Key Facts\"}", QP_EINVAL);
    mv_fails("backlinks.subpath", "{\"note\":\"" ARNE "\"}", QP_EINVAL);
    mv_fails("backlinks.subpath", "{\"note\":\"Nobody\",\"subpath\":\"#A\"}", QP_ENOTFOUND);
}

/* The ranges are counted by hand from the Kickoff note: "Ärne Öberg" is
 * 10 characters, 12 bytes. Line 6 is `- "[[Ärne Öberg]]"` (the range is
 * inside the quotes); line 11 has a link at byte 5 and one at byte 36,
 * after the 2 two-byte letters of the first (UTF-16 33); line 12 one at
 * byte 6. Lines are 0-based, ends exclusive. */
#define KICKOFF_RANGES16 "[5,3,17,10,4,28,10,33,54,11,5,24]"
#define KICKOFF_RANGES8  "[5,3,19,10,4,30,10,35,58,11,5,26]"

static void test_locations(void **state)
{
    (void)state;
    mv_check("backlinks.locations", "{\"note\":\"" ARNE "\"}",
             "{\"path\":\"" ARNE_PATH "\",\"total\":4,\"files\":[{\"path\":\"" KICKOFF
             "\",\"ranges\":" KICKOFF_RANGES16 "}]}");
    mv_check("backlinks.locations", "{\"note\":\"" ARNE "\",\"encoding\":\"utf-8\"}",
             "{\"path\":\"" ARNE_PATH "\",\"total\":4,\"files\":[{\"path\":\"" KICKOFF
             "\",\"ranges\":" KICKOFF_RANGES8 "}]}");
    mv_check("backlinks.locations", "{\"note\":\"" ARNE "\",\"encoding\":\"utf-32\"}",
             "{\"path\":\"" ARNE_PATH "\",\"total\":4,\"files\":[{\"path\":\"" KICKOFF
             "\",\"ranges\":" KICKOFF_RANGES16 "}]}");
    /* Two files, sorted by path; the frontmatter link of Kickoff first. */
    mv_check("backlinks.locations", "{\"note\":\"Lena Okafor\"}",
             "{\"path\":\"People/Lena Okafor.md\",\"total\":2,\"files\":["
             "{\"path\":\"" KICKOFF "\",\"ranges\":[6,3,18]},"
             "{\"path\":\"Meetings/2025-02-01 Review.md\",\"ranges\":[6,16,31]}]}");
    /* A heading and a block: only the links landing there. */
    mv_check("backlinks.locations", "{\"note\":\"" ARNE "\",\"subpath\":\"#key facts\"}",
             "{\"path\":\"" ARNE_PATH "\",\"subpath\":\"#key facts\",\"found\":true,"
             "\"total\":1,\"files\":[{\"path\":\"" KICKOFF "\",\"ranges\":[10,4,28]}]}");
    mv_check("backlinks.locations", "{\"note\":\"" ARNE "\",\"subpath\":\"#^fact1\"}",
             "{\"path\":\"" ARNE_PATH "\",\"subpath\":\"#^fact1\",\"found\":true,"
             "\"total\":1,\"files\":[{\"path\":\"" KICKOFF "\",\"ranges\":[10,33,54]}]}");
    /* A self link is a reference to a heading, not a backlink of the note. */
    mv_check("backlinks.locations", "{\"note\":\"Plan\",\"subpath\":\"#Risks#Details\"}",
             "{\"path\":\"Notes/Plan.md\",\"subpath\":\"#Risks#Details\",\"found\":true,"
             "\"total\":1,\"files\":[{\"path\":\"Notes/Plan.md\",\"ranges\":[10,8,26]}]}");
    mv_check("backlinks.locations", "{\"note\":\"Plan\"}",
             "{\"path\":\"Notes/Plan.md\",\"total\":0,\"files\":[]}");
    mv_check("backlinks.locations", "{\"note\":\"" ARNE "\",\"subpath\":\"#Nope\"}",
             "{\"path\":\"" ARNE_PATH "\",\"subpath\":\"#Nope\",\"found\":false,"
             "\"total\":0,\"files\":[]}");
    /* With uri_root: LSP Locations, the path percent-encoded after it
     * (space as %20, unreserved characters and '/' as they are). */
    mv_check("backlinks.locations", "{\"note\":\"Lena Okafor\",\"uri_root\":\"file:///v%20x/\"}",
             "[{\"uri\":\"file:///v%20x/Meetings/2025-01-10%20Kickoff.md\",\"range\":{\"start\":"
             "{\"line\":6,\"character\":3},\"end\":{\"line\":6,\"character\":18}}},"
             "{\"uri\":\"file:///v%20x/Meetings/2025-02-01%20Review.md\",\"range\":{\"start\":"
             "{\"line\":6,\"character\":16},\"end\":{\"line\":6,\"character\":31}}}]");
    mv_check("backlinks.locations", "{\"note\":\"Plan\",\"uri_root\":\"file:///v/\"}", "[]");
    mv_fails("backlinks.locations", "{\"note\":\"" ARNE "\",\"uri_root\":5}", QP_EINVAL);
    mv_fails("backlinks.locations", "{\"note\":\"" ARNE "\",\"encoding\":\"latin-1\"}", QP_EINVAL);
    mv_fails("backlinks.locations", "{\"note\":\"" ARNE "\",\"subpath\":\"Key Facts\"}", QP_EINVAL);
    mv_fails("backlinks.locations", "{}", QP_EINVAL);
    mv_fails("backlinks.locations", "{\"note\":\"Nobody\"}", QP_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heading),
        cmocka_unit_test(test_block),
        cmocka_unit_test(test_chain_and_self_link),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_locations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
