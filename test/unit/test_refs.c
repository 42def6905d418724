/* test_refs — backlinks.subpath: the links that reach one heading or block
 * of a note, matched as links are (a chain or the plain heading name),
 * self links included, on the vault of qp_methods_vault.h. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heading),
        cmocka_unit_test(test_block),
        cmocka_unit_test(test_chain_and_self_link),
        cmocka_unit_test(test_not_found),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
