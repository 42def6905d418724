/* test_symbols — symbols (the nested heading outline) and symbols.search
 * (notes, aliases, headings, tags) on the vault of qp_methods_vault.h,
 * against hand-written JSON. */
#include "qp_methods_vault.h"
#include "qp_test.h"

#define ARNE               \
    "\xc3\x84rne \xc3\x96" \
    "berg"
#define ARNE_PATH "People/" ARNE ".md"

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

static void test_outline_nested(void **state)
{
    (void)state;
    mv_check("symbols", "{\"note\":\"Notes/Plan.md\"}",
             "{\"path\":\"Notes/Plan.md\",\"symbols\":[{\"name\":\"Plan\",\"level\":1,\"line\":1,"
             "\"end_line\":null,\"subpath\":\"#Plan\",\"children\":["
             "{\"name\":\"Goals\",\"level\":2,\"line\":3,\"end_line\":6,\"subpath\":\"#Goals\","
             "\"children\":[{\"name\":\"Details\",\"level\":3,\"line\":5,\"end_line\":6,"
             "\"subpath\":\"#Details\",\"children\":[]}]},"
             "{\"name\":\"Risks\",\"level\":2,\"line\":7,\"end_line\":null,\"subpath\":\"#Risks\","
             "\"children\":[{\"name\":\"Details\",\"level\":3,\"line\":9,\"end_line\":null,"
             "\"subpath\":\"#Risks#Details\",\"children\":[]}]}]}]}");
}

static void test_outline_empty_and_missing(void **state)
{
    (void)state;
    mv_check("symbols", "{\"note\":\"Notes/Latin.md\"}",
             "{\"path\":\"Notes/Latin.md\",\"symbols\":[]}");
    mv_fails("symbols", "{\"note\":\"Nobody\"}", QP_ENOTFOUND);
    mv_fails("symbols", "{}", QP_EINVAL);
}

static void test_search_headings(void **state)
{
    (void)state;
    mv_check("symbols.search", "{\"query\":\"details\"}",
             "{\"items\":[{\"name\":\"Details\",\"type\":\"heading\",\"path\":\"Notes/Plan.md\","
             "\"line\":5,\"container\":\"Plan\",\"match\":\"exact\"},"
             "{\"name\":\"Details\",\"type\":\"heading\",\"path\":\"Notes/Plan.md\",\"line\":9,"
             "\"container\":\"Plan\",\"match\":\"exact\"}],\"incomplete\":false}");
}

static void test_search_kinds_ranked(void **state)
{
    (void)state;
    /* The note before its own heading (same class); the alias is exact. */
    mv_check("symbols.search", "{\"query\":\"\xc3\xa4rne\"}",
             "{\"items\":[{\"name\":\"" ARNE "\",\"type\":\"note\",\"path\":\"" ARNE_PATH "\","
             "\"line\":1,\"container\":null,\"match\":\"prefix\"},"
             "{\"name\":\"" ARNE "\",\"type\":\"heading\",\"path\":\"" ARNE_PATH "\","
             "\"line\":7,\"container\":\"" ARNE "\",\"match\":\"prefix\"}],\"incomplete\":false}");
    mv_check("symbols.search", "{\"query\":\"ARNE\"}",
             "{\"items\":[{\"name\":\"Arne\",\"type\":\"alias\",\"path\":\"" ARNE_PATH "\","
             "\"line\":1,\"container\":\"" ARNE "\",\"match\":\"exact\"}],\"incomplete\":false}");
    mv_check("symbols.search", "{\"query\":\"infra\"}",
             "{\"items\":[{\"name\":\"#team/infra\",\"type\":\"tag\",\"path\":\"" ARNE_PATH "\","
             "\"line\":1,\"container\":\"" ARNE "\",\"match\":\"word\"}],\"incomplete\":false}");
}

static void test_search_limit_and_empty(void **state)
{
    (void)state;
    mv_check("symbols.search", "{\"query\":\"\"}", "{\"items\":[],\"incomplete\":false}");
    mv_check("symbols.search", "{\"query\":\"details\",\"limit\":1}",
             "{\"items\":[{\"name\":\"Details\",\"type\":\"heading\",\"path\":\"Notes/Plan.md\","
             "\"line\":5,\"container\":\"Plan\",\"match\":\"exact\"}],\"incomplete\":true}");
    mv_fails("symbols.search", "{}", QP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outline_nested),
        cmocka_unit_test(test_outline_empty_and_missing),
        cmocka_unit_test(test_search_headings),
        cmocka_unit_test(test_search_kinds_ranked),
        cmocka_unit_test(test_search_limit_and_empty),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
