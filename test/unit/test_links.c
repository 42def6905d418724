/* Unit tests for lib/links.c: the parts of a link (spec/links.md §1.1, §1.4). */
#include "qp_test.h"

#include "quipu/arena.h"
#include "quipu/links.h"

typedef struct split_case {
    const char *content; /* between [[ and ]] */
    bool ok;
    const char *target, *subpath, *display;
} split_case;

static void test_split_table(void **state)
{
    /* links.md §1.1, the examples table and the rules above it. */
    static const split_case cases[] = {
        {"Mara Lindqvist", true, "Mara Lindqvist", NULL, NULL},
        {"Mara Lindqvist|Mara", true, "Mara Lindqvist", NULL, "Mara"},
        {"Mara Lindqvist#Key Facts", true, "Mara Lindqvist", "#Key Facts", NULL},
        {"Help#Questions#Report bugs", true, "Help", "#Questions#Report bugs", NULL},
        {"2023-01-01#^37066d", true, "2023-01-01", "#^37066d", NULL},
        {"#Preview", true, "", "#Preview", NULL},
        {"Engelbart.jpg|100", true, "Engelbart.jpg", NULL, "100"},
        {" Note ", true, "Note", NULL, NULL},
        {"Target|a|b", true, "Target", NULL, "a|b"},
        {"Target\\|Shown", true, "Target", NULL, "Shown"},
        {"Note | shown ", true, "Note", NULL, "shown"},
        {"|x", true, "|x", NULL, NULL}, /* a leading '|' does not split */
        {"Note\xC2\xA0Two", true, "Note Two", NULL, NULL},
        {"\xC2\xA0Note\xC2\xA0", true, "Note", NULL, NULL},
        {"Cafe\xCC\x81", true, "Caf\xC3\xA9", NULL, NULL}, /* NFC */
        {"Note #H", true, "Note", "#H", NULL},
        {"", false, NULL, NULL, NULL},
        {"   ", false, NULL, NULL, NULL},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const split_case *c = &cases[i];
        qp_arena *a = qp_arena_new();
        qp_link l;
        bool oom = true;
        bool ok;

        assert_non_null(a);
        memset(&l, 0, sizeof l);
        ok = qp_link_split(&l, a, c->content, strlen(c->content), &oom);
        assert_false(oom);
        if (ok != c->ok)
            fail_msg("case %zu [[%s]]: ok=%d", i, c->content, ok);
        if (ok) {
            assert_string_equal(l.target, c->target);
            if (c->subpath == NULL)
                assert_null(l.subpath);
            else
                assert_string_equal(l.subpath, c->subpath);
            if (c->display == NULL)
                assert_null(l.display);
            else
                assert_string_equal(l.display, c->display);
        }
        qp_arena_free(a);
    }
}

static void test_url_decode(void **state)
{
    qp_arena *a = qp_arena_new();
    bool oom = true;
    char *s;
    (void)state;

    assert_non_null(a);
    s = qp_link_url_decode(a, "My%20Note.md", 12, &oom);
    assert_false(oom);
    assert_string_equal(s, "My Note.md");
    s = qp_link_url_decode(a, "%C3%A9t%c3%a9", 13, &oom);
    assert_string_equal(s, "\xC3\xA9t\xC3\xA9");
    s = qp_link_url_decode(a, "plain", 5, &oom);
    assert_string_equal(s, "plain");
    s = qp_link_url_decode(a, "#Some%20Heading", 15, &oom);
    assert_string_equal(s, "#Some Heading");
    /* Malformed escapes: Obsidian drops the link. */
    assert_null(qp_link_url_decode(a, "100%", 4, &oom));
    assert_false(oom);
    assert_null(qp_link_url_decode(a, "a%2", 3, &oom));
    assert_null(qp_link_url_decode(a, "a%zz", 4, &oom));
    /* Only `len` bytes are read. */
    s = qp_link_url_decode(a, "ab%20cd", 2, &oom);
    assert_string_equal(s, "ab");
    qp_arena_free(a);
}

static void test_is_external(void **state)
{
    (void)state;
    assert_true(qp_link_is_external("https://example.com/My%20Note.md", 32));
    assert_true(qp_link_is_external("http://x", 8));
    assert_true(qp_link_is_external("mailto:someone@example.com", 26));
    assert_true(qp_link_is_external("obsidian://open?vault=x", 23));
    assert_true(qp_link_is_external("file:///tmp/x", 13));
    assert_false(qp_link_is_external("My%20Note.md", 12));
    assert_false(qp_link_is_external("Note.md#Some%20Heading", 22));
    assert_false(qp_link_is_external("#Heading", 8));
    assert_false(qp_link_is_external("../People/Mara.md", 17));
    assert_false(qp_link_is_external("C:/notes/x.md", 13)); /* a drive letter is no scheme */
    assert_false(qp_link_is_external("", 0));
    assert_false(qp_link_is_external("Meeting 10:30.md", 16)); /* space before ':' */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_table),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_is_external),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
