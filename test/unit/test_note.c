/* Unit tests for lib/note.c: qp_note_parse() on hand-written notes, with
 * expected positions counted by hand (spec/links.md, spec/note-format.md). */
#include "qp_test.h"

#include "quipu/init.h"
#include "quipu/note.h"

static qp_note *parse_opts(const char *path, const char *text, size_t len,
                           const qp_note_options *opts)
{
    qp_note *n = NULL;
    qp_error e = QP_ERROR_INIT;

    assert_rc(qp_note_parse(&n, path, text, len, opts, &e), QP_OK);
    assert_non_null(n);
    return n;
}

static qp_note *parse(const char *text)
{
    return parse_opts("S.md", text, strlen(text), NULL);
}

static void str_eq(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void check_link(const qp_link *l, qp_link_syntax syntax, bool embed, const char *target,
                       const char *subpath, const char *display, uint32_t line, uint32_t col)
{
    assert_int_equal(l->syntax, syntax);
    assert_int_equal(l->embed, embed);
    str_eq(l->target, target);
    str_eq(l->subpath, subpath);
    str_eq(l->display, display);
    assert_int_equal(l->line, line);
    assert_int_equal(l->col, col);
}

static void test_wikilinks(void **state)
{
    const char *src = "See [[Target|the target]].\n"
                      "![[img.png|100]] and [[Note#H1#H2]]\n"
                      "\\[[Escaped]] [[]] [[a\n"
                      "b]]\n"
                      "[[a [[Target]] b]]\n"
                      "[[#Intro]] [[ Spaced ]]\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 6);
    check_link(&l[0], QP_LINK_WIKI, false, "Target", NULL, "the target", 1, 5);
    assert_int_equal(l[0].offset, 4);
    assert_int_equal(l[0].len, 21);
    check_link(&l[1], QP_LINK_WIKI, true, "img.png", NULL, "100", 2, 1);
    assert_int_equal(l[1].offset, 27);
    assert_int_equal(l[1].len, 16);
    check_link(&l[2], QP_LINK_WIKI, false, "Note", "#H1#H2", NULL, 2, 22);
    assert_int_equal(l[2].offset, 48);
    assert_int_equal(l[2].len, 14);
    check_link(&l[3], QP_LINK_WIKI, false, "Target", NULL, NULL, 5, 5);
    check_link(&l[4], QP_LINK_WIKI, false, "", "#Intro", NULL, 6, 1);
    check_link(&l[5], QP_LINK_WIKI, false, "Spaced", NULL, NULL, 6, 12);
    for (size_t i = 0; i < k; i++)
        assert_null(l[i].key);
    qp_note_free(n);
}

static void test_masking(void **state)
{
    const char *src = "`[[Code]]` [[A]] ``x [[Code2]] ` y``\n"             /* 1 */
                      "\n"                                                 /* 2 */
                      "```\n"                                              /* 3 */
                      "[[Fenced]] #fenced\n"                               /* 4 */
                      "```\n"                                              /* 5 */
                      "\n"                                                 /* 6 */
                      "    [[Indented]]\n"                                 /* 7 */
                      "\n"                                                 /* 8 */
                      "<div>\n"                                            /* 9 */
                      "[[Html]]\n"                                         /* 10 */
                      "</div>\n"                                           /* 11 */
                      "\n"                                                 /* 12 */
                      "x <!-- [[Comment]] --> $[[Math]]$ %%[[Hidden]]%%\n" /* 13 */
                      "\n"                                                 /* 14 */
                      "$$\n"                                               /* 15 */
                      "[[Display]] #math\n"                                /* 16 */
                      "$$\n"                                               /* 17 */
                      "\n"                                                 /* 18 */
                      "~~~ js\n"                                           /* 19 */
                      "[[Tilde]]\n"                                        /* 20 */
                      "~~~\n"                                              /* 21 */
                      "costs $5 and $6 [[After]]\n";                       /* 22 */
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 3);
    check_link(&l[0], QP_LINK_WIKI, false, "A", NULL, NULL, 1, 12);
    check_link(&l[1], QP_LINK_WIKI, false, "Hidden", NULL, NULL, 13, 37);
    check_link(&l[2], QP_LINK_WIKI, false, "After", NULL, NULL, 22, 17);
    qp_note_tags(n, &k);
    assert_int_equal(k, 0);
    qp_note_free(n);
}

static void test_multiline_inline_masks(void **state)
{
    /* Code spans and HTML that continue on the next line of a quote or list. */
    const char *src = "> q `multi\n"
                      "> [[InCode]]` z <span\n"
                      "> title=\"[[InTag]]\">w [[Out]]\n"
                      "\n"
                      "- it `m\n"
                      "  [[InCode2]]` o <!-- c\n"
                      "  [[InComment]] --> [[Out2]]\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 2);
    check_link(&l[0], QP_LINK_WIKI, false, "Out", NULL, NULL, 3, 23);
    check_link(&l[1], QP_LINK_WIKI, false, "Out2", NULL, NULL, 7, 21);
    qp_note_free(n);
}

static void test_html_block_interrupts_paragraph(void **state)
{
    /* cmark reports this HTML block's end before its start; still masked. */
    qp_note *n = parse("Para [[A]]\n<!-- [[Hidden]]\n[[Still]] -->\n\n[[B]]\n");
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 2);
    check_link(&l[0], QP_LINK_WIKI, false, "A", NULL, NULL, 1, 6);
    check_link(&l[1], QP_LINK_WIKI, false, "B", NULL, NULL, 5, 1);
    qp_note_free(n);
}

/* issue 16: a code span in a wikilink's subpath or display text is part of
 * the link (Obsidian's help vault writes them on purpose); a code span
 * around the whole link still hides it. */
static void test_code_in_wikilinks(void **state)
{
    const char *src = "Use [[Functions#hasTag|`hasTag`]] here.\n"
                      "See [[#`move`|move]] and ![[Pic.png|`x`]]\n"
                      "`[[Hidden]]` and `x [[Hidden2]] y`\n"
                      "[[A|`b`]] #after\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 4);
    check_link(&l[0], QP_LINK_WIKI, false, "Functions", "#hasTag", "`hasTag`", 1, 5);
    assert_int_equal(l[0].len, 29);
    check_link(&l[1], QP_LINK_WIKI, false, "", "#`move`", "move", 2, 5);
    check_link(&l[2], QP_LINK_WIKI, true, "Pic.png", NULL, "`x`", 2, 26);
    check_link(&l[3], QP_LINK_WIKI, false, "A", NULL, "`b`", 4, 1);
    size_t nt;
    const qp_tag *t = qp_note_tags(n, &nt);
    assert_int_equal(nt, 1);
    assert_string_equal(t[0].tag, "#after");
    qp_note_free(n);
}

static void test_markdown_links(void **state)
{
    const char *src = "[a](My%20Note.md) [b](<Other Note.md#Some%20Heading>) ![i](pic.png)\n"
                      "[ext](https://example.com/x.md) [bad](100%.md) [r][ref] [x](#Local)\n"
                      "[x](My Note.md) [`c`](Code.md)\n"
                      "\n"
                      "[ref]: Ref.md\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 5);
    check_link(&l[0], QP_LINK_MARKDOWN, false, "My Note.md", NULL, "a", 1, 1);
    assert_int_equal(l[0].offset, 0);
    assert_int_equal(l[0].len, 17);
    check_link(&l[1], QP_LINK_MARKDOWN, false, "Other Note.md", "#Some Heading", "b", 1, 19);
    assert_int_equal(l[1].len, 35);
    check_link(&l[2], QP_LINK_MARKDOWN, true, "pic.png", NULL, "i", 1, 55);
    check_link(&l[3], QP_LINK_MARKDOWN, false, "", "#Local", "x", 2, 57);
    check_link(&l[4], QP_LINK_MARKDOWN, false, "Code.md", NULL, "c", 3, 17);
    qp_note_free(n);
}

static void test_links_in_order(void **state)
{
    /* Wikilinks and Markdown links come back in document order. */
    const char *src = "[m](B.md) [[A]]\n[[C]] [n](D.md)\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 4);
    str_eq(l[0].target, "B.md");
    str_eq(l[1].target, "A");
    str_eq(l[2].target, "C");
    str_eq(l[3].target, "D.md");
    qp_note_free(n);
}

static void test_tables(void **state)
{
    qp_note *n = parse("| a | b |\n|---|---|\n| [[Target\\|Shown]] | x |\n");
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 1);
    check_link(&l[0], QP_LINK_WIKI, false, "Target", NULL, "Shown", 3, 3);
    qp_note_free(n);

    /* Without the backslash the table splits the cell: no link (c017). */
    n = parse("| a | b |\n|---|---|\n| [[Target|Shown]] | x |\n");
    qp_note_links(n, &k);
    assert_int_equal(k, 0);
    qp_note_free(n);

    /* Outside a table the bar is the display separator. */
    n = parse("[[Target|Shown]] | x |\n");
    l = qp_note_links(n, &k);
    assert_int_equal(k, 1);
    str_eq(l[0].display, "Shown");
    qp_note_free(n);
}

typedef struct tag_case {
    const char *text;
    size_t n;
    const char *tags[4];
} tag_case;

static void test_tags(void **state)
{
    /* links-cases.jsonl c124–c141 and links.md §5.1. */
    static const tag_case cases[] = {
        {"Notes #meeting\n", 1, {"#meeting"}},
        {"#1984 and #y1984\n", 1, {"#y1984"}},
        {"Plan #2024-review\n", 1, {"#2024-review"}},
        {"x#y (#z) a/#b\n", 0, {NULL}},
        {"Done #tag. Next #other,\n", 2, {"#tag", "#other"}},
        {"#don't\n", 1, {"#don"}},
        {"#foo\xE2\x80\x94"
         "bar\n",
         1,
         {"#foo"}},
        {"#a#b\n", 1, {"#a"}},
        {"Read #inbox/to-read\n", 1, {"#inbox/to-read"}},
        {"#caf\xC3\xA9 #\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E #\xF0\x9F\x9A\x80launch\n",
         3,
         {"#caf\xC3\xA9", "#\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "#\xF0\x9F\x9A\x80launch"}},
        {"`#code`\n\n```\n#fenced\n```\n", 0, {NULL}},
        {"%% #hidden %%\n", 1, {"#hidden"}},
        {"# Title\n\n#Title\n", 1, {"#Title"}},
        {"## Plan #project\n", 1, {"#project"}},
        {"See https://example.com/page#section\n", 0, {NULL}},
        {"- [ ] Jason Vallery to connect with Morty on second-tier clouds #cloud\n", 1, {"#cloud"}},
        {"Value #123/456\n", 1, {"#123/456"}},
        {"$#x$ <!-- #y -->\n", 0, {NULL}},
        {"[[Note#heading]] [[x #y]] #real\n", 1, {"#real"}},
        {"tab\t#t1 nbsp\xC2\xA0#t2 \\#esc #_under\n", 3, {"#t1", "#t2", "#_under"}},
        {"#\n# \n##\n", 0, {NULL}},
        /* issue 16, Obsidian's help vault: the escape ends a text token */
        {"\\[\\[#Escaped Links\\]\\]\n", 1, {"#Escaped"}},
        {"a\\(#paren) b\\##twice\n", 2, {"#paren", "#twice"}},
        {"\\\\[#no: the backslash is escaped, the [ is plain\n", 0, {NULL}},
        {"x\\y#z\n", 0, {NULL}},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qp_note *n = parse(cases[i].text);
        size_t k;
        const qp_tag *t = qp_note_tags(n, &k);
        if (k != cases[i].n)
            fail_msg("case %zu %s: %zu tags, want %zu", i, cases[i].text, k, cases[i].n);
        for (size_t j = 0; j < k; j++) {
            assert_string_equal(t[j].tag, cases[i].tags[j]);
            assert_false(t[j].frontmatter);
        }
        qp_note_free(n);
    }
}

static void test_tag_positions(void **state)
{
    qp_note *n = parse("Notes #meeting\n- [ ] x #b\n");
    size_t k;
    const qp_tag *t = qp_note_tags(n, &k);
    (void)state;

    assert_int_equal(k, 2);
    assert_int_equal(t[0].line, 1);
    assert_int_equal(t[0].col, 7);
    assert_int_equal(t[1].line, 2);
    assert_int_equal(t[1].col, 9);
    qp_note_free(n);
}

static void test_headings(void **state)
{
    const char *src = "# Title #\n"             /* 1 */
                      "\n"                      /* 2 */
                      "Setext\n"                /* 3 */
                      "===\n"                   /* 4 */
                      "\n"                      /* 5 */
                      "## Q&A: Pricing? ##\n"   /* 6 */
                      "\n"                      /* 7 */
                      "> ## In callout\n"       /* 8 */
                      "\n"                      /* 9 */
                      "- ## In list\n"          /* 10 */
                      "\n"                      /* 11 */
                      "###### Six\n"            /* 12 */
                      "#NotHeading\n"           /* 13 */
                      "\n"                      /* 14 */
                      "  ### C# and F# ###  \n" /* 15 */
                      "Second\n"                /* 16 */
                      "---\n";                  /* 17 */
    qp_note *n = parse(src);
    size_t k;
    const qp_heading *h = qp_note_headings(n, &k);
    (void)state;

    assert_int_equal(k, 6);
    assert_int_equal(h[0].level, 1);
    assert_string_equal(h[0].text, "Title");
    assert_int_equal(h[0].line, 1);
    assert_int_equal(h[1].level, 1);
    assert_string_equal(h[1].text, "Setext");
    assert_int_equal(h[1].line, 3);
    assert_int_equal(h[2].level, 2);
    assert_string_equal(h[2].text, "Q&A: Pricing?");
    assert_int_equal(h[2].line, 6);
    assert_int_equal(h[3].level, 6);
    assert_string_equal(h[3].text, "Six");
    assert_int_equal(h[3].line, 12);
    assert_int_equal(h[4].level, 3);
    assert_string_equal(h[4].text, "C# and F#");
    assert_int_equal(h[4].line, 15);
    assert_int_equal(h[5].level, 2);
    assert_string_equal(h[5].text, "Second");
    assert_int_equal(h[5].line, 16);
    qp_note_free(n);
}

static void test_block_ids(void **state)
{
    const char *src = "Para one ^abc-1\n" /* 1 */
                      "\n"                /* 2 */
                      "Line a\n"          /* 3 */
                      "line b ^Last\n"    /* 4 */
                      "\n"                /* 5 */
                      "- item ^item1\n"   /* 6 */
                      "- other\n"         /* 7 */
                      "\n"                /* 8 */
                      "> quote\n"         /* 9 */
                      "\n"                /* 10 */
                      "^block\n"          /* 11 */
                      "\n"                /* 12 */
                      "not^inline\n"      /* 13 */
                      "\n"                /* 14 */
                      "bad ^my_id\n"      /* 15 */
                      "\n"                /* 16 */
                      "`code ^x`\n";      /* 17 */
    qp_note *n = parse(src);
    size_t k;
    const qp_block_id *b = qp_note_blocks(n, &k);
    (void)state;

    assert_int_equal(k, 4);
    assert_string_equal(b[0].id, "abc-1");
    assert_int_equal(b[0].line, 1);
    assert_string_equal(b[1].id, "Last");
    assert_int_equal(b[1].line, 4);
    assert_string_equal(b[2].id, "item1");
    assert_int_equal(b[2].line, 6);
    assert_string_equal(b[3].id, "block");
    assert_int_equal(b[3].line, 11);
    qp_note_free(n);
}

typedef struct task_want {
    uint32_t line, indent;
    const char *symbol, *text;
    int parent, heading;
} task_want;

static void test_tasks(void **state)
{
    const char *src = "# Plan\n"                                 /* 1 */
                      "\n"                                       /* 2 */
                      "- [ ] open \xF0\x9F\x93\x85 2025-11-10\n" /* 3 */
                      "- [x] done\n"                             /* 4 */
                      "\t- [/] half\n"                           /* 5 */
                      "\t\t- [-] cancelled\n"                    /* 6 */
                      "- plain item\n"                           /* 7 */
                      "\t- [>] forwarded\n"                      /* 8 */
                      "\n"                                       /* 9 */
                      "## Later\n"                               /* 10 */
                      "\n"                                       /* 11 */
                      "* [?] question\n"                         /* 12 */
                      "1. [ ] numbered\n"                        /* 13 */
                      "> - [ ] quoted\n"                         /* 14 */
                      "\n"                                       /* 15 */
                      "```\n"                                    /* 16 */
                      "- [ ] in code\n"                          /* 17 */
                      "```\n"                                    /* 18 */
                      "- [] not\n"                               /* 19 */
                      "- [xx] not\n"                             /* 20 */
                      "- [ ]tight\n"                             /* 21 */
                      "+ [\xC3\xA9] accent\n";                   /* 22 */
    static const task_want want[] = {
        {3, 0, " ", "open \xF0\x9F\x93\x85 2025-11-10", -1, 0},
        {4, 0, "x", "done", -1, 0},
        {5, 1, "/", "half", 1, 0},
        {6, 2, "-", "cancelled", 2, 0},
        {8, 1, ">", "forwarded", -1, 0},
        {12, 0, "?", "question", -1, 1},
        {13, 0, " ", "numbered", -1, 1},
        {14, 2, " ", "quoted", -1, 1},
        {22, 0, "\xC3\xA9", "accent", -1, 1},
    };
    qp_note *n = parse(src);
    size_t k;
    const qp_task_line *t = qp_note_tasks(n, &k);
    (void)state;

    assert_int_equal(k, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(t[i].line, want[i].line);
        assert_int_equal(t[i].indent, want[i].indent);
        assert_string_equal(t[i].symbol, want[i].symbol);
        assert_string_equal(t[i].text, want[i].text);
        assert_int_equal(t[i].parent, want[i].parent);
        assert_int_equal(t[i].heading, want[i].heading);
    }
    assert_string_equal(t[2].raw, "\t- [/] half");
    assert_string_equal(t[7].raw, "> - [ ] quoted");
    qp_note_free(n);
}

/* issue 16: a multi-line `%% ... %%` comment is one comment section in
 * Obsidian: its list items are no list items (the Tasks plugin never sees
 * them), its headings and block ids are not recorded, a ```tasks fence in
 * it is no query; links and tags written inside still count. */
static void test_comment_blocks(void **state)
{
    const char *src = "# Real\n"                                       /* 1 */
                      "%%\n"                                           /* 2 */
                      "- [ ] I look like a task but am in a comment\n" /* 3 */
                      "## Hidden heading\n"                            /* 4 */
                      "hidden para ^hidden-id\n"                       /* 5 */
                      "#commented-tag [[Commented Link]]\n"            /* 6 */
                      "```tasks\n"                                     /* 7 */
                      "not done\n"                                     /* 8 */
                      "```\n"                                          /* 9 */
                      "%%\n"                                           /* 10 */
                      "- [ ] after the comment\n"                      /* 11 */
                      "`%%` is code, not a comment\n"                  /* 12 */
                      "- [ ] still a task ^real-id\n"                  /* 13 */
                      "```\n"                                          /* 14 */
                      "%%\n"                                           /* 15 */
                      "```\n"                                          /* 16 */
                      "- [ ] after a fence holding %%\n"               /* 17 */
                      "%% one line %%\n"                               /* 18 */
                      "- [x] after a one-line comment\n"               /* 19 */
                      "> %%\n"                                         /* 20 */
                      "> - [ ] quoted, in a comment\n"                 /* 21 */
                      "> %%\n"                                         /* 22 */
                      "## Visible\n"                                   /* 23 */
                      "  %% never closed\n"                            /* 24 */
                      "- [ ] in the rest of the note\n"                /* 25 */
                      "## Gone too\n";                                 /* 26 */
    qp_note *n = parse(src);
    size_t k;
    (void)state;

    const qp_task_line *t = qp_note_tasks(n, &k);
    assert_int_equal(k, 4);
    assert_int_equal(t[0].line, 11);
    assert_int_equal(t[1].line, 13);
    assert_int_equal(t[2].line, 17);
    assert_int_equal(t[3].line, 19);

    const qp_heading *h = qp_note_headings(n, &k);
    assert_int_equal(k, 2);
    assert_string_equal(h[0].text, "Real");
    assert_string_equal(h[1].text, "Visible");

    const qp_block_id *bl = qp_note_blocks(n, &k);
    assert_int_equal(k, 1);
    assert_string_equal(bl[0].id, "real-id");

    qp_note_query_blocks(n, &k);
    assert_int_equal(k, 0);

    /* Obsidian still reports what is written inside the comment */
    const qp_tag *tg = qp_note_tags(n, &k);
    assert_int_equal(k, 1);
    assert_string_equal(tg[0].tag, "#commented-tag");
    const qp_link *l = qp_note_links(n, &k);
    assert_int_equal(k, 1);
    check_link(&l[0], QP_LINK_WIKI, false, "Commented Link", NULL, NULL, 6, 16);
    qp_note_free(n);
}

static void test_query_blocks(void **state)
{
    const char *src = "```tasks\n"
                      "not done\n"
                      "path includes Mara\n"
                      "```\n"
                      "\n"
                      "```python\n"
                      "x\n"
                      "```\n"
                      "- item\n"
                      "  ```tasks\n"
                      "  due today\n"
                      "  ```\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_query_block *q = qp_note_query_blocks(n, &k);
    (void)state;

    assert_int_equal(k, 2);
    assert_int_equal(q[0].line, 1);
    assert_string_equal(q[0].query, "not done\npath includes Mara");
    assert_int_equal(q[1].line, 10);
    assert_string_equal(q[1].query, "due today");
    qp_note_free(n);
}

static void test_mention_lines(void **state)
{
    const char *src =
        "## Recent Context\n"
        "\n"
        "- 2025-11-14: Mentioned in: Distributed cloud RFP debrief (air-gapped focus)\n"
        "\n"
        "- 2025-11-07: Omar and Mara reviewed the org landscape\n"
        "- 2025-10-30: Mentioned in:   1:1 with Rob Kestrel, support model  \n"
        "2025-10-01: Mentioned in: not a list item\n"
        "\n"
        "```\n"
        "- 2025-10-02: Mentioned in: in code\n"
        "```\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_mention_line *m = qp_note_mention_lines(n, &k);
    (void)state;

    assert_int_equal(k, 2);
    assert_int_equal(m[0].line, 3);
    assert_string_equal(m[0].date, "2025-11-14");
    assert_string_equal(m[0].title, "Distributed cloud RFP debrief (air-gapped focus)");
    assert_int_equal(m[1].line, 6);
    assert_string_equal(m[1].date, "2025-10-30");
    assert_string_equal(m[1].title, "1:1 with Rob Kestrel, support model");
    qp_note_free(n);
}

static void test_crlf(void **state)
{
    const char *src = "---\r\ntitle: X\r\n---\r\n# Head\r\n\r\n- [ ] task [[Link]] #tag\r\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    const qp_task_line *t;
    const qp_tag *tg;
    const qp_heading *h;
    (void)state;

    assert_int_equal(k, 1);
    check_link(&l[0], QP_LINK_WIKI, false, "Link", NULL, NULL, 6, 12);
    t = qp_note_tasks(n, &k);
    assert_int_equal(k, 1);
    assert_int_equal(t[0].line, 6);
    assert_string_equal(t[0].raw, "- [ ] task [[Link]] #tag");
    assert_string_equal(t[0].text, "task [[Link]] #tag");
    assert_int_equal(t[0].heading, 0);
    tg = qp_note_tags(n, &k);
    assert_int_equal(k, 1);
    assert_string_equal(tg[0].tag, "#tag");
    assert_int_equal(tg[0].line, 6);
    assert_int_equal(tg[0].col, 21);
    h = qp_note_headings(n, &k);
    assert_int_equal(k, 1);
    assert_string_equal(h[0].text, "Head");
    assert_int_equal(h[0].line, 4);
    qp_note_free(n);
}

static void test_bom(void **state)
{
    qp_note *n = parse("\xEF\xBB\xBF[[A]] #t\n# H\n");
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    const qp_tag *t;
    (void)state;

    assert_int_equal(k, 1);
    check_link(&l[0], QP_LINK_WIKI, false, "A", NULL, NULL, 1, 1);
    assert_int_equal(l[0].offset, 3);
    t = qp_note_tags(n, &k);
    assert_int_equal(k, 1);
    assert_int_equal(t[0].col, 7);
    qp_note_headings(n, &k);
    assert_int_equal(k, 1);
    qp_note_free(n);

    n = parse("\xEF\xBB\xBF---\na: 1\n---\n[[B]]\n");
    l = qp_note_links(n, &k);
    assert_int_equal(k, 1);
    check_link(&l[0], QP_LINK_WIKI, false, "B", NULL, NULL, 4, 1);
    qp_note_free(n);
}

static void test_frontmatter_not_body(void **state)
{
    /* Even invalid YAML is not body text: no links or tags from it. */
    const char *src = "---\nsummary: [[X]] #nope\nbad: [unclosed\n---\nBody [[Y]]\n";
    qp_note *n = parse(src);
    size_t k;
    const qp_link *l = qp_note_links(n, &k);
    (void)state;

    assert_int_equal(k, 1);
    check_link(&l[0], QP_LINK_WIKI, false, "Y", NULL, NULL, 5, 6);
    qp_note_tags(n, &k);
    assert_int_equal(k, 0);
    assert_null(qp_note_properties(n));
    qp_note_diags(n, &k);
    assert_true(k >= 1);
    qp_note_free(n);
}

static void test_mention_text(void **state)
{
    const char *src = "---\na: 1\n---\nMara `code` [[Mara]] <!-- x --> $m$ %%Mara%%\n\n"
                      "```\nMara\n```\n";
    const char *want = "   \n    \n   \nMara                                %%Mara%%\n\n"
                       "   \n    \n   \n";
    qp_note *n = parse(src);
    size_t len;
    const char *t = qp_note_mention_text(n, &len);
    const char *s;
    size_t slen;
    (void)state;

    assert_int_equal(len, strlen(src));
    assert_int_equal(strlen(want), len);
    assert_memory_equal(t, want, len);
    s = qp_note_source(n, &slen);
    assert_int_equal(slen, strlen(src));
    assert_memory_equal(s, src, slen);
    qp_note_free(n);
}

static void test_diagnostics(void **state)
{
    static const char bad[] = "ok\nbad \xFF here [[L]]\n";
    static const char nul[] = "a\nb\0c [[M]]\n";
    qp_note_options opts = QP_NOTE_OPTIONS_INIT;
    qp_note *n = parse_opts("S.md", bad, sizeof bad - 1, NULL);
    size_t k;
    const qp_diag *d = qp_note_diags(n, &k);
    const char *s;
    (void)state;

    assert_int_equal(k, 1);
    assert_int_equal(d[0].line, 2);
    qp_note_links(n, &k);
    assert_int_equal(k, 1); /* the rest of the note is still read */
    qp_note_free(n);

    n = parse_opts("S.md", nul, sizeof nul - 1, NULL);
    d = qp_note_diags(n, &k);
    assert_int_equal(k, 1);
    assert_int_equal(d[0].line, 2);
    qp_note_links(n, &k);
    assert_int_equal(k, 1);
    qp_note_free(n);

    opts.max_size = 10;
    n = parse_opts("S.md", "0123456789[[Cut]]\n", 18, &opts);
    qp_note_diags(n, &k);
    assert_int_equal(k, 1);
    s = qp_note_source(n, &k);
    assert_int_equal(k, 10);
    assert_memory_equal(s, "0123456789", 10);
    qp_note_links(n, &k);
    assert_int_equal(k, 0);
    qp_note_free(n);

    n = parse_opts("Empty.md", "", 0, NULL);
    qp_note_links(n, &k);
    assert_int_equal(k, 0);
    qp_note_diags(n, &k);
    assert_int_equal(k, 0);
    assert_string_equal(qp_note_title(n), "Empty");
    qp_note_free(n);
}

static void test_kind_from_path_and_tag(void **state)
{
    qp_note *n = parse_opts("Meetings/2025/2025-10-16 Weekly staff sync.md",
                            "Sync notes #type/meeting\n", 24, NULL);
    (void)state;

    assert_int_equal(qp_note_kind_of(n), QP_KIND_MEETING);
    assert_string_equal(qp_note_kind_name(qp_note_kind_of(n)), "meeting");
    assert_string_equal(qp_note_title(n), "2025-10-16 Weekly staff sync");
    assert_string_equal(qp_note_date(n), "2025-10-16");
    assert_string_equal(qp_note_path(n), "Meetings/2025/2025-10-16 Weekly staff sync.md");
    qp_note_free(n);

    n = parse_opts("People/Lena.md", "#Type/Person\n", 13, NULL);
    assert_int_equal(qp_note_kind_of(n), QP_KIND_PERSON);
    assert_string_equal(qp_note_title(n), "Lena");
    assert_null(qp_note_date(n));
    qp_note_free(n);

    n = parse_opts("Notes/x.md", "#type/personal and 2025-01-01\n", 30, NULL);
    assert_int_equal(qp_note_kind_of(n), QP_KIND_NOTE);
    assert_string_equal(qp_note_kind_name(QP_KIND_NOTE), "note");
    assert_null(qp_note_date(n));
    qp_note_free(n);

    n = parse_opts("2025-13-xx.md", "x\n", 2, NULL);
    assert_null(qp_note_date(n));
    qp_note_free(n);
}

/* The person note of spec/note-format.md. */
static const char person_note[] =
    "---\n"
    "type: person\n"
    "name: Mara Lindqvist\n"
    "email: ''\n"
    "company: ''\n"
    "title: ''\n"
    "last_contact: '2025-11-03'\n"
    "created: '2026-01-05'\n"
    "tags:\n"
    "- type/person\n"
    "- needs-review\n"
    "---\n"
    "\n"
    "# Mara Lindqvist\n"
    "\n"
    "## Key Facts\n"
    "\n"
    "- Omar Castell reports to Mara Lindqvist at Northwind.\n"
    "\n"
    "- Mara Lindqvist shared a storage cost calculator to tune the pricing narrative.\n"
    "\n"
    "## Recent Context\n"
    "\n"
    "- 2025-11-14: Mentioned in: Distributed cloud RFP debrief and federal coordination "
    "(air-gapped focus)\n"
    "\n"
    "- 2025-11-07: Omar Castell and Mara Lindqvist reviewed the org landscape, clarified key "
    "role owners, and alig...\n"
    "\n"
    "- 2025-10-30: Mentioned in: 1:1 with Rob Kestrel, support operating model for SaaS\n"
    "\n"
    "## Tasks\n"
    "\n"
    "```tasks\n"
    "path includes Mara Lindqvist\n"
    "not done\n"
    "```\n"
    "\n"
    "## Topics\n"
    "\n"
    "- Cloud North Star and scope boundaries for FY26\n"
    "\n"
    "## Key Decisions\n"
    "\n"
    "- Approve the staged crawl-walk-run plan and enforce SLO gates before GA.\n";

static void test_person_note(void **state)
{
    qp_note *n = parse_opts("People/Mara Lindqvist.md", person_note, sizeof person_note - 1, NULL);
    size_t k;
    const qp_heading *h;
    const qp_mention_line *m;
    const qp_query_block *q;
    const qp_tag *t;
    static const char *const htext[] = {"Mara Lindqvist", "Key Facts", "Recent Context",
                                        "Tasks",          "Topics",    "Key Decisions"};
    static const uint32_t hline[] = {14, 16, 22, 30, 37, 41};
    (void)state;

    assert_int_equal(qp_note_kind_of(n), QP_KIND_PERSON);
    assert_string_equal(qp_note_title(n), "Mara Lindqvist");
    assert_null(qp_note_date(n));
    assert_non_null(qp_note_properties(n));
    h = qp_note_headings(n, &k);
    assert_int_equal(k, 6);
    for (size_t i = 0; i < k; i++) {
        assert_string_equal(h[i].text, htext[i]);
        assert_int_equal(h[i].line, hline[i]);
        assert_int_equal(h[i].level, i == 0 ? 1 : 2);
    }
    m = qp_note_mention_lines(n, &k);
    assert_int_equal(k, 2);
    assert_int_equal(m[0].line, 24);
    assert_string_equal(m[0].date, "2025-11-14");
    assert_string_equal(
        m[0].title, "Distributed cloud RFP debrief and federal coordination (air-gapped focus)");
    assert_int_equal(m[1].line, 28);
    assert_string_equal(m[1].date, "2025-10-30");
    assert_string_equal(m[1].title, "1:1 with Rob Kestrel, support operating model for SaaS");
    q = qp_note_query_blocks(n, &k);
    assert_int_equal(k, 1);
    assert_int_equal(q[0].line, 32);
    assert_string_equal(q[0].query, "path includes Mara Lindqvist\nnot done");
    t = qp_note_tags(n, &k);
    assert_int_equal(k, 2);
    assert_string_equal(t[0].tag, "#type/person");
    assert_true(t[0].frontmatter);
    assert_string_equal(t[1].tag, "#needs-review");
    qp_note_tasks(n, &k);
    assert_int_equal(k, 0);
    qp_note_links(n, &k);
    assert_int_equal(k, 0);
    qp_note_free(n);
}

/* The meeting note of spec/note-format.md. */
static const char meeting_note[] =
    "---\n"
    "type: meeting\n"
    "title: \"1:1 with Rob Kestrel, support operating model for SaaS\"\n"
    "date: '2025-10-30'\n"
    "attendees:\n"
    "- \"[[Omar Castell]]\"\n"
    "- \"[[Rob Kestrel]]\"\n"
    "tags:\n"
    "- type/meeting\n"
    "---\n"
    "\n"
    "# 1:1 with Rob Kestrel, support operating model for SaaS\n"
    "\n"
    "## Summary\n"
    "Omar and [[Rob Kestrel]] discussed the support model; Mara Lindqvist wants a\n"
    "monthly review.\n"
    "\n"
    "## Action Items\n"
    "- [ ] Omar Castell to draft the runbook \xF0\x9F\x93\x85 2025-11-10 \xE2\x8F\xAB\n"
    "- [x] Rob Kestrel to share the escalation matrix \xE2\x9C\x85 2025-11-03\n"
    "- [/] [[Mara Lindqvist]] to confirm headcount \xF0\x9F\x94\xBC\n";

static void test_meeting_note(void **state)
{
    qp_note *n =
        parse_opts("Meetings/2025/2025-10-30 1on1.md", meeting_note, sizeof meeting_note - 1, NULL);
    size_t k;
    const qp_link *l;
    const qp_task_line *t;
    (void)state;

    assert_int_equal(qp_note_kind_of(n), QP_KIND_MEETING);
    assert_string_equal(qp_note_title(n), "1:1 with Rob Kestrel, support operating model for SaaS");
    assert_string_equal(qp_note_date(n), "2025-10-30");
    l = qp_note_links(n, &k);
    assert_int_equal(k, 4);
    assert_int_equal(l[0].syntax, QP_LINK_FRONTMATTER);
    assert_string_equal(l[0].target, "Omar Castell");
    assert_non_null(l[0].key);
    assert_memory_equal(l[0].key, "attendees.", 10);
    assert_int_equal(l[1].syntax, QP_LINK_FRONTMATTER);
    assert_string_equal(l[1].target, "Rob Kestrel");
    check_link(&l[2], QP_LINK_WIKI, false, "Rob Kestrel", NULL, NULL, 15, 10);
    check_link(&l[3], QP_LINK_WIKI, false, "Mara Lindqvist", NULL, NULL, 21, 7);
    t = qp_note_tasks(n, &k);
    assert_int_equal(k, 3);
    assert_string_equal(t[0].symbol, " ");
    assert_string_equal(t[1].symbol, "x");
    assert_string_equal(t[2].symbol, "/");
    assert_int_equal(t[0].line, 19);
    assert_int_equal(t[2].line, 21);
    assert_int_equal(t[0].heading, 2);
    assert_string_equal(t[2].text, "[[Mara Lindqvist]] to confirm headcount \xF0\x9F\x94\xBC");
    qp_note_free(n);
}

static void test_title_and_date_rules(void **state)
{
    static const char a[] = "---\ntitle: T\nname: N\ndate: 2025-10-30\n---\n";
    static const char b[] = "---\ntitle: ''\nname: N\ndate: '2025-11-07T10:30'\n---\n";
    static const char c[] = "---\ndate: soon\n---\n";
    qp_note *n = parse_opts("2024-01-02 x.md", a, sizeof a - 1, NULL);
    (void)state;

    assert_string_equal(qp_note_title(n), "T");
    assert_string_equal(qp_note_date(n), "2025-10-30");
    qp_note_free(n);
    n = parse_opts("x.md", b, sizeof b - 1, NULL);
    assert_string_equal(qp_note_title(n), "N");
    assert_string_equal(qp_note_date(n), "2025-11-07");
    qp_note_free(n);
    n = parse_opts("dir/2024-01-02 x.md", c, sizeof c - 1, NULL);
    assert_string_equal(qp_note_title(n), "2024-01-02 x");
    assert_string_equal(qp_note_date(n), "2024-01-02");
    qp_note_free(n);
}

static void test_frontmatter_tags_first(void **state)
{
    static const char src[] = "---\ntags:\n- type/person\n- needs-review\n---\nBody #inline\n";
    qp_note *n = parse_opts("S.md", src, sizeof src - 1, NULL);
    size_t k;
    const qp_tag *t = qp_note_tags(n, &k);
    (void)state;

    assert_int_equal(k, 3);
    assert_string_equal(t[0].tag, "#type/person");
    assert_string_equal(t[1].tag, "#needs-review");
    assert_string_equal(t[2].tag, "#inline");
    assert_false(t[2].frontmatter);
    assert_int_equal(t[2].line, 6);
    assert_int_equal(t[2].col, 6);
    assert_int_equal(qp_note_kind_of(n), QP_KIND_PERSON);
    qp_note_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wikilinks),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_multiline_inline_masks),
        cmocka_unit_test(test_html_block_interrupts_paragraph),
        cmocka_unit_test(test_code_in_wikilinks),
        cmocka_unit_test(test_markdown_links),
        cmocka_unit_test(test_links_in_order),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_tag_positions),
        cmocka_unit_test(test_headings),
        cmocka_unit_test(test_block_ids),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_comment_blocks),
        cmocka_unit_test(test_query_blocks),
        cmocka_unit_test(test_mention_lines),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_frontmatter_not_body),
        cmocka_unit_test(test_mention_text),
        cmocka_unit_test(test_diagnostics),
        cmocka_unit_test(test_kind_from_path_and_tag),
        cmocka_unit_test(test_person_note),
        cmocka_unit_test(test_meeting_note),
        cmocka_unit_test(test_title_and_date_rules),
        cmocka_unit_test(test_frontmatter_tags_first),
    };

    qp_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
