/* Unit tests for lib/markdown.c: the cmark-gfm walk (masks, items, root
 * headings, paragraphs, tables, fences, inline links), positions by hand. */
#include "qp_test.h"

#include "markdown_int.h"
#include "quipu/init.h"

static qp_arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = qp_arena_new();
    return arena == NULL;
}

static int teardown(void **state)
{
    (void)state;
    qp_arena_free(arena);
    arena = NULL;
    return 0;
}

static void md(qp__md_doc *doc, const char *src)
{
    qp_error e = QP_ERROR_INIT;

    assert_rc(qp__md_parse(doc, arena, src, strlen(src), &e), QP_OK);
}

/* The mask as a string: 'x' for masked bytes, '.' otherwise, newlines kept. */
static char *mask_string(const qp__md_doc *doc)
{
    char *s = qp_arena_alloc(arena, doc->len + 1);

    assert_non_null(s);
    for (size_t i = 0; i < doc->len; i++)
        s[i] = doc->src[i] == '\n' ? '\n' : doc->mask[i] ? 'x' : '.';
    s[doc->len] = '\0';
    return s;
}

static void test_mask_inline(void **state)
{
    qp__md_doc d;
    (void)state;

    md(&d, "a `b` c <i>d</i> $e$ ``f`g`` h $ i$ %%j%%\n");
    assert_string_equal(mask_string(&d), "..xxx...xxx.xxxx.xxx.xxxxxxx.............\n");
}

static void test_mask_blocks(void **state)
{
    qp__md_doc d;
    (void)state;

    md(&d, "p\n\n```\ncode\n```\n\n    ind\n\n<div>\nh\n</div>\n\n$$\nm\n$$\nq\n");
    assert_string_equal(mask_string(&d),
                        ".\n\nxxx\nxxxx\nxxx\n\nxxxxxxx\n\nxxxxx\nx\nxxxxxx\n\nxx\nx\nxx\n.\n");
}

static void test_lines(void **state)
{
    qp__md_doc d;
    size_t s, e;
    (void)state;

    md(&d, "ab\r\ncd\ref\ngh");
    assert_int_equal(d.nlines, 4);
    assert_int_equal(qp__md_line_of(&d, 0), 1);
    assert_int_equal(qp__md_line_of(&d, 3), 1); /* the \n of \r\n */
    assert_int_equal(qp__md_line_of(&d, 4), 2);
    assert_int_equal(qp__md_line_of(&d, 7), 3);
    assert_int_equal(qp__md_line_of(&d, 11), 4);
    qp__md_line_span(&d, 1, &s, &e);
    assert_int_equal(s, 0);
    assert_int_equal(e, 2);
    qp__md_line_span(&d, 2, &s, &e);
    assert_int_equal(s, 4);
    assert_int_equal(e, 6);
    qp__md_line_span(&d, 4, &s, &e);
    assert_int_equal(s, 10);
    assert_int_equal(e, 12);
}

static void test_items(void **state)
{
    qp__md_doc d;
    (void)state;

    md(&d, "- a\n  - b\n    - c\n  - d\n- e\n\n> - f\n\n1. g\n");
    assert_int_equal(d.nitems, 7);
    assert_int_equal(d.items[0].line, 1);
    assert_int_equal(d.items[0].parent, -1);
    assert_int_equal(d.items[1].line, 2);
    assert_int_equal(d.items[1].parent, 0);
    assert_int_equal(d.items[2].line, 3);
    assert_int_equal(d.items[2].parent, 1);
    assert_int_equal(d.items[3].line, 4);
    assert_int_equal(d.items[3].parent, 0);
    assert_int_equal(d.items[4].line, 5);
    assert_int_equal(d.items[4].parent, -1);
    assert_int_equal(d.items[5].line, 7);
    assert_int_equal(d.items[5].parent, -1);
    assert_int_equal(d.items[6].line, 9);
}

static void test_headings_root_only(void **state)
{
    qp__md_doc d;
    (void)state;

    md(&d, "# A\n\n> ## B\n\n- ### C\n\nD\n---\n\n#### E\n");
    assert_int_equal(d.nheadings, 3);
    assert_int_equal(d.headings[0].level, 1);
    assert_int_equal(d.headings[0].line, 1);
    assert_int_equal(d.headings[0].last_line, 1);
    assert_int_equal(d.headings[1].level, 2);
    assert_int_equal(d.headings[1].line, 7);
    assert_int_equal(d.headings[1].last_line, 8);
    assert_int_equal(d.headings[2].level, 4);
    assert_int_equal(d.headings[2].line, 10);
}

static void test_paras_tables_fences(void **state)
{
    qp__md_doc d;
    (void)state;

    md(&d, "one\ntwo\n\n| a |\n|---|\n| b |\n\n```tasks extra\nnot done\n```\n\n~~~\nx\n~~~\n");
    assert_int_equal(d.nparas, 1);
    assert_int_equal(d.paras[0].line, 1);
    assert_int_equal(d.paras[0].last_line, 2);
    assert_int_equal(d.ntables, 1);
    assert_int_equal(d.tables[0].first, 4);
    assert_int_equal(d.tables[0].last, 6);
    assert_int_equal(d.nfences, 2);
    assert_int_equal(d.fences[0].line, 8);
    assert_string_equal(d.fences[0].info, "tasks extra");
    assert_string_equal(d.fences[0].literal, "not done\n");
    assert_int_equal(d.fences[1].line, 12);
    assert_string_equal(d.fences[1].info, "");
}

static void test_links(void **state)
{
    qp__md_doc d;
    (void)state;

    md(&d, "[a](x.md) ![b *c*](<y z.png>) [r][ref] [s] <https://e.x> www.e.x\n"
           "> [q](\n> Q.md)\n\n[ref]: R.md\n[s]: S.md\n");
    assert_int_equal(d.nlinks, 3);
    assert_false(d.links[0].image);
    assert_int_equal(d.links[0].start, 0);
    assert_int_equal(d.links[0].end, 9);
    assert_string_equal(d.links[0].url, "x.md");
    assert_string_equal(d.links[0].text, "a");
    assert_true(d.links[1].image);
    assert_int_equal(d.links[1].start, 10);
    assert_int_equal(d.links[1].end, 29);
    assert_string_equal(d.links[1].url, "y z.png");
    assert_string_equal(d.links[1].text, "b c");
    /* A link over two lines of a quote: the end comes from the source. */
    assert_string_equal(d.links[2].url, "Q.md");
    assert_int_equal(d.links[2].start, 67);
    assert_int_equal(d.links[2].end, 79);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mask_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mask_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headings_root_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paras_tables_fences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links, setup, teardown),
    };

    qp_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
