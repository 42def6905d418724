/* test_listing — list: filters by kind, folder, tag (nested, folded) and
 * property (key, value folded), the sorts and the pages, on the vault of
 * qp_methods_vault.h, against hand-written JSON. */
#include "qp_methods_vault.h"
#include "qp_test.h"

#define ARNE               \
    "\xc3\x84rne \xc3\x96" \
    "berg"
#define ARNE_PATH "People/" ARNE ".md"

#define N_ARNE                                                                              \
    "{\"path\":\"" ARNE_PATH "\",\"kind\":\"person\",\"title\":\"" ARNE "\",\"date\":null," \
    "\"modified\":\"2025-01-01T00:00:00Z\"}"
#define N_LENA                                                                           \
    "{\"path\":\"People/Lena Okafor.md\",\"kind\":\"person\",\"title\":\"Lena Okafor\"," \
    "\"date\":null,\"modified\":\"2025-01-01T00:01:00Z\"}"
#define N_NOTE(name, min)                                                                     \
    "{\"path\":\"Notes/" name ".md\",\"kind\":\"note\",\"title\":\"" name "\",\"date\":null," \
    "\"modified\":\"2025-01-01T00:0" #min ":00Z\"}"
#define N_KICKOFF                                                                              \
    "{\"path\":\"Meetings/2025-01-10 Kickoff.md\",\"kind\":\"meeting\",\"title\":\"Kickoff\"," \
    "\"date\":\"2025-01-10\",\"modified\":\"2025-01-01T00:02:00Z\"}"
#define N_REVIEW                                                                               \
    "{\"path\":\"Meetings/2025-02-01 Review.md\",\"kind\":\"meeting\",\"title\":\"2025-02-01 " \
    "Review\",\"date\":\"2025-02-01\",\"modified\":\"2025-01-01T00:03:00Z\"}"

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

static void test_by_kind(void **state)
{
    (void)state;
    mv_check("list", "{\"kind\":\"person\"}", "{\"total\":2,\"notes\":[" N_LENA "," N_ARNE "]}");
    mv_check("list", "{\"kind\":\"meeting\",\"sort\":\"date\"}",
             "{\"total\":2,\"notes\":[" N_REVIEW "," N_KICKOFF "]}");
    mv_fails("list", "{\"kind\":\"people\"}", QP_EINVAL);
}

static void test_by_folder_paged(void **state)
{
    (void)state;
    /* Notes/Binary.md is an attachment, not listed */
    mv_check("list", "{\"folder\":\"notes/\",\"sort\":\"modified\",\"limit\":2}",
             "{\"total\":3,\"notes\":[" N_NOTE("Latin", 7) "," N_NOTE("Bad",
                                                                      5) "],"
                                                                         "\"next_cursor\":\"2\"}");
    mv_check("list", "{\"folder\":\"Notes\",\"sort\":\"modified\",\"limit\":2,\"cursor\":\"2\"}",
             "{\"total\":3,\"notes\":[" N_NOTE("Plan", 4) "]}");
    /* a folder is a whole path segment */
    mv_check("list", "{\"folder\":\"Note\"}", "{\"total\":0,\"notes\":[]}");
}

static void test_by_tag(void **state)
{
    (void)state;
    /* #project and the nested #project/alpha; folded */
    mv_check("list", "{\"tag\":\"#PROJECT\"}",
             "{\"total\":2,\"notes\":[" N_NOTE("Bad", 5) "," N_NOTE("Plan", 4) "]}");
    mv_check("list", "{\"tag\":\"proj\"}", "{\"total\":0,\"notes\":[]}");
    mv_check("list", "{\"tag\":\"type\",\"kind\":\"person\"}",
             "{\"total\":1,\"notes\":[" N_ARNE "]}");
}

static void test_by_property(void **state)
{
    (void)state;
    mv_check("list", "{\"property\":\"Company\"}",
             "{\"total\":2,\"notes\":[" N_LENA "," N_ARNE "]}");
    mv_check("list", "{\"property\":\"company\",\"value\":\"NORTHWIND\"}",
             "{\"total\":1,\"notes\":[" N_ARNE "]}");
    /* a list element; a link value as written */
    mv_check("list", "{\"property\":\"attendees\",\"value\":\"[[lena okafor]]\"}",
             "{\"total\":1,\"notes\":[" N_KICKOFF "]}");
    mv_fails("list", "{\"value\":\"x\"}", QP_EINVAL);
}

static void test_sort_title(void **state)
{
    (void)state;
    mv_check("list", "{\"sort\":\"title\",\"limit\":3}",
             "{\"total\":7,\"notes\":[" N_REVIEW "," N_NOTE("Bad", 5) "," N_KICKOFF "],"
                                                                      "\"next_cursor\":\"3\"}");
    mv_fails("list", "{\"sort\":\"size\"}", QP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_kind),    cmocka_unit_test(test_by_folder_paged),
        cmocka_unit_test(test_by_tag),     cmocka_unit_test(test_by_property),
        cmocka_unit_test(test_sort_title),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
