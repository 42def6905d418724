/*
 * test_value — lookups in value trees, on hand-built trees and on trees
 * the frontmatter parser builds.
 */
#include "qp_test.h"

#include "quipu/arena.h"
#include "quipu/frontmatter.h"
#include "quipu/value.h"

static const char *const keys[] = {"Title", "tags", "TAGS", "n"};
static const qp_value vals[] = {
    {.type = QP_VALUE_STRING, .u.str = {"A", 1}},
    {.type = QP_VALUE_STRING, .u.str = {"lower", 5}},
    {.type = QP_VALUE_STRING, .u.str = {"upper", 5}},
    {.type = QP_VALUE_INT, .u.i = 3},
};
static const qp_value map = {.type = QP_VALUE_MAP, .u.map = {keys, vals, 4}};

static void test_get(void **state)
{
    (void)state;
    assert_ptr_equal(qp_value_get(&map, "Title"), &vals[0]);
    assert_ptr_equal(qp_value_get(&map, "tags"), &vals[1]);
    assert_ptr_equal(qp_value_get(&map, "TAGS"), &vals[2]);
    assert_int_equal(qp_value_get(&map, "n")->u.i, 3);
    assert_null(qp_value_get(&map, "title")); /* case-sensitive */
    assert_null(qp_value_get(&map, "Titl"));
    assert_null(qp_value_get(&map, ""));
    assert_null(qp_value_get(&vals[0], "Title")); /* not a map */
    assert_null(qp_value_get(NULL, "Title"));
}

static void test_get_ci(void **state)
{
    (void)state;
    assert_ptr_equal(qp_value_get_ci(&map, "title"), &vals[0]);
    assert_ptr_equal(qp_value_get_ci(&map, "TITLE"), &vals[0]);
    /* the first key that matches, in document order */
    assert_ptr_equal(qp_value_get_ci(&map, "Tags"), &vals[1]);
    assert_ptr_equal(qp_value_get_ci(&map, "TAGS"), &vals[1]);
    assert_null(qp_value_get_ci(&map, "tag"));
    assert_null(qp_value_get_ci(&vals[3], "n"));
    assert_null(qp_value_get_ci(NULL, "n"));
}

static void test_empty_map(void **state)
{
    static const qp_value empty = {.type = QP_VALUE_MAP, .u.map = {NULL, NULL, 0}};
    (void)state;
    assert_null(qp_value_get(&empty, "x"));
    assert_null(qp_value_get_ci(&empty, "x"));
}

static void test_parsed_tree(void **state)
{
    qp_arena *a = qp_arena_new();
    qp_frontmatter fm;
    const qp_value *project, *lead, *list;
    static const char src[] = "---\n"
                              "Aliases: [AI]\n"
                              "project:\n"
                              "  lead: Mara\n"
                              "  members: [1, 2]\n"
                              "---\n";
    (void)state;

    assert_non_null(a);
    assert_rc(qp_frontmatter_parse(&fm, a, src, sizeof src - 1, 0, NULL), QP_OK);
    assert_true(fm.valid);
    assert_null(qp_value_get(fm.properties, "aliases"));
    assert_int_equal(qp_value_get_ci(fm.properties, "aliases")->type, QP_VALUE_LIST);
    project = qp_value_get(fm.properties, "project");
    assert_non_null(project);
    assert_int_equal(project->type, QP_VALUE_MAP);
    lead = qp_value_get(project, "lead");
    assert_non_null(lead);
    assert_string_equal(lead->u.str.s, "Mara");
    list = qp_value_get_ci(project, "MEMBERS");
    assert_non_null(list);
    assert_int_equal(list->type, QP_VALUE_LIST);
    assert_int_equal(list->u.list.n, 2);
    assert_int_equal(list->u.list.items[1].u.i, 2);
    assert_null(qp_value_get(list, "0")); /* lists are not maps */
    qp_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_ci),
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_parsed_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
