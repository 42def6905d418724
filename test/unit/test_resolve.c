/* test_resolve — the resolver against spec/links.md §2.2, by hand, over an
 * in-memory file list; subpath matching (§7); names and unresolved keys. */
#include "qp_test.h"

#include <stdlib.h>

#include "quipu/text.h"
#include "resolve_int.h"

typedef struct vault {
    const char *const *paths;
    qp__cand cands[16];
    char *folded[16];
} vault;

static qp_rc cands_fn(const qp__cand **out, size_t *n, const char *name_folded, void *payload,
                      qp_error *err)
{
    (void)err;
    vault *v = payload;
    size_t k = 0;
    for (size_t i = 0; v->paths[i]; i++) {
        free(v->folded[i]);
        v->folded[i] = qp_text_fold(v->paths[i], strlen(v->paths[i]), NULL);
        const char *slash = strrchr(v->folded[i], '/');
        const char *name = slash ? slash + 1 : v->folded[i];
        if (strcmp(name, name_folded) == 0) {
            v->cands[k].id = (int64_t)i + 1;
            v->cands[k].path = v->paths[i];
            v->cands[k].path_folded = v->folded[i];
            k++;
        }
    }
    *out = v->cands;
    *n = k;
    return QP_OK;
}

/* Resolves `link` from `from` in a vault of `paths`; returns the path or NULL. */
static const char *resolve(const char *const *paths, const char *from, const char *link)
{
    vault v = {paths, {{0}}, {0}};
    int64_t src = 0, out = -1;
    for (size_t i = 0; paths[i]; i++)
        if (strcmp(paths[i], from) == 0)
            src = (int64_t)i + 1;
    assert_rc(qp__resolve(&out, link, from, src, cands_fn, &v, NULL), QP_OK);
    for (size_t i = 0; i < 16; i++)
        free(v.folded[i]);
    return out > 0 ? paths[out - 1] : NULL;
}

#define assert_resolves(paths, from, link, want)                                                \
    do {                                                                                        \
        const char *got_ = resolve(paths, from, link);                                          \
        const char *want_ = (want);                                                             \
        if (want_ == NULL && got_ != NULL)                                                      \
            fail_msg("[[%s]] from %s: got %s, want unresolved", link, from, got_);              \
        if (want_ != NULL && (got_ == NULL || strcmp(got_, want_) != 0))                        \
            fail_msg("[[%s]] from %s: got %s, want %s", link, from, got_ ? got_ : "unresolved", \
                     want_);                                                                    \
    } while (0)

static void test_bare_name_anywhere(void **state)
{
    (void)state;
    const char *const p[] = {"People/Mara Lindqvist.md", "Meetings/m.md", "s.md", NULL};
    assert_resolves(p, "Meetings/m.md", "Mara Lindqvist", "People/Mara Lindqvist.md");
    assert_resolves(p, "s.md", "Mara Lindqvist", "People/Mara Lindqvist.md");
}

static void test_case_insensitive(void **state)
{
    (void)state;
    const char *const p[] = {"People/Mara Lindqvist.md", "s.md", NULL};
    assert_resolves(p, "s.md", "mara lindqvist", "People/Mara Lindqvist.md");
    assert_resolves(p, "s.md", "People/mara LINDQVIST.md", "People/Mara Lindqvist.md");
    assert_resolves(p, "s.md", "MARA LINDQVIST.MD", "People/Mara Lindqvist.md");
}

static void test_root_absolute(void **state)
{
    (void)state;
    const char *const p[] = {"People/Mara Lindqvist.md", "s.md", NULL};
    assert_resolves(p, "s.md", "/People/Mara Lindqvist", "People/Mara Lindqvist.md");
    assert_resolves(p, "s.md", "/Mara Lindqvist", NULL);
}

static void test_exact_beats_near(void **state)
{
    (void)state;
    const char *const p[] = {"Note.md", "a/Note.md", "a/x.md", NULL};
    assert_resolves(p, "a/x.md", "Note", "Note.md");
    assert_resolves(p, "a/x.md", "./Note", "a/Note.md");
    assert_resolves(p, "a/x.md", "../Note", "Note.md");
}

static void test_same_folder_and_group_a(void **state)
{
    (void)state;
    const char *const p[] = {"a/Note.md", "b/Note.md", "a/x.md", "b/x.md", NULL};
    assert_resolves(p, "a/x.md", "Note", "a/Note.md");
    assert_resolves(p, "b/x.md", "Note", "b/Note.md");
    assert_resolves(p, "a/x.md", "b/Note", "b/Note.md");
    assert_resolves(p, "a/x.md", "../b/Note", "b/Note.md");
    const char *const deep[] = {"a/deep/er/Note.md", "b/Note.md", "a/x.md", NULL};
    assert_resolves(deep, "a/x.md", "Note", "a/deep/er/Note.md");
    /* The folder test is a plain string prefix: "Meet" takes "Meetings/". */
    const char *const quirk[] = {"Meetings/Note.md", "Zz/Note.md", "Meet/src.md", NULL};
    assert_resolves(quirk, "Meet/src.md", "Note", "Meetings/Note.md");
}

static void test_shortest_then_path_order(void **state)
{
    (void)state;
    const char *const p[] = {"y/Note.md", "x/Note.md", "z/s.md", NULL};
    assert_resolves(p, "z/s.md", "Note", "x/Note.md"); /* tie: byte order of path */
    const char *const q[] = {"x/y/z/Note.md", "q/Note.md", "s/src.md", NULL};
    assert_resolves(q, "s/src.md", "Note", "q/Note.md");
}

static void test_partial_paths(void **state)
{
    (void)state;
    const char *const p[] = {"Meetings/2025/N.md", "Meetings/2024/N.md", "S.md", NULL};
    assert_resolves(p, "S.md", "2025/N", "Meetings/2025/N.md");
    assert_resolves(p, "S.md", "25/N", "Meetings/2025/N.md"); /* not segment-aligned */
    assert_resolves(p, "S.md", "2026/N", NULL);
}

static void test_extensions_and_folders(void **state)
{
    (void)state;
    const char *const p[] = {"Report.pdf", "Projects/Alpha.md", "v1.2 notes.md", "s.md", NULL};
    assert_resolves(p, "s.md", "Report", NULL);
    assert_resolves(p, "s.md", "Report.pdf", "Report.pdf");
    assert_resolves(p, "s.md", "report.PDF", "Report.pdf");
    assert_resolves(p, "s.md", "Projects", NULL);
    assert_resolves(p, "s.md", "v1.2 notes", "v1.2 notes.md");
}

static void test_aliases_do_not_resolve_and_empty_is_self(void **state)
{
    (void)state;
    const char *const p[] = {"Artificial Intelligence.md", "s.md", NULL};
    assert_resolves(p, "s.md", "AI", NULL);
    assert_resolves(p, "s.md", "", "s.md");
}

static void test_unicode_fold(void **state)
{
    (void)state;
    const char *const p[] = {"École.md", "ΣΟΦΙΑ.md", "s.md", NULL};
    assert_resolves(p, "s.md", "école", "École.md");
    assert_resolves(p, "s.md", "σοφια", "ΣΟΦΙΑ.md");
    /* NFD input folds to the same key as the NFC file name. */
    assert_resolves(p, "s.md",
                    "E\xcc\x81"
                    "cole",
                    "École.md");
}

static void test_link_names_and_keys(void **state)
{
    (void)state;
    char *a = NULL, *b = NULL;
    assert_rc(qp__link_names(&a, &b, "People/Mara"), QP_OK);
    assert_null(a);
    assert_string_equal(b, "mara.md");
    free(b);
    assert_rc(qp__link_names(&a, &b, "v1.2 Notes"), QP_OK);
    assert_string_equal(a, "v1.2 notes");
    assert_string_equal(b, "v1.2 notes.md");
    free(a);
    free(b);
    assert_rc(qp__link_names(&a, &b, ""), QP_OK);
    assert_null(a);
    assert_null(b);
    char *k = qp__unresolved_key("New Idea.MD");
    assert_string_equal(k, "New Idea");
    free(k);
    k = qp__unresolved_key("new idea");
    assert_string_equal(k, "new idea");
    free(k);
}

static void test_subpaths(void **state)
{
    (void)state;
    const qp__heading_ref h[] = {
        {1, "Notes", 1}, {2, "Key Facts", 3}, {2, "Q&A: Pricing?", 7},
        {2, "Log", 11},  {2, "Log", 14},      {1, "A", 20},
        {1, "C", 22},    {2, "B", 24},        {2, "About [[X]]", 26},
    };
    const qp__block_ref b[] = {{"item-2", 30}, {"blk", 33}};
    uint32_t line = 0;
    assert_true(qp__subpath_find("#key facts", h, 9, b, 2, &line));
    assert_int_equal(line, 3);
    assert_false(qp__subpath_find("#key-facts", h, 9, b, 2, &line));
    assert_true(qp__subpath_find("#Q&A Pricing", h, 9, b, 2, &line));
    assert_int_equal(line, 7);
    assert_true(qp__subpath_find("#q a pricing", h, 9, b, 2, &line));
    assert_true(qp__subpath_find("#Q&A: Pricing?", h, 9, b, 2, &line));
    assert_true(qp__subpath_find("#Log", h, 9, b, 2, &line));
    assert_int_equal(line, 11); /* the first of duplicates */
    assert_true(qp__subpath_find("#A#B", h, 9, b, 2, &line));
    assert_int_equal(line, 24); /* deeper than A, not inside A's section */
    assert_false(qp__subpath_find("#B#A", h, 9, b, 2, &line));
    assert_true(qp__subpath_find("#About X", h, 9, b, 2, &line));
    assert_true(qp__subpath_find("#^ITEM-2", h, 9, b, 2, &line));
    assert_int_equal(line, 30);
    assert_false(qp__subpath_find("#^nope", h, 9, b, 2, &line));
    assert_true(qp__subpath_find("#", h, 9, b, 2, &line));
    assert_true(qp__subpath_find(NULL, h, 9, b, 2, &line));
}

static void test_heading_key(void **state)
{
    (void)state;
    char *k = qp__heading_key("  Q&A:  Pricing? ");
    assert_string_equal(k, "q a pricing");
    free(k);
    k = qp__heading_key("Ünïcode — Title");
    assert_string_equal(k, "ünïcode — title");
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_name_anywhere),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_root_absolute),
        cmocka_unit_test(test_exact_beats_near),
        cmocka_unit_test(test_same_folder_and_group_a),
        cmocka_unit_test(test_shortest_then_path_order),
        cmocka_unit_test(test_partial_paths),
        cmocka_unit_test(test_extensions_and_folders),
        cmocka_unit_test(test_aliases_do_not_resolve_and_empty_is_self),
        cmocka_unit_test(test_unicode_fold),
        cmocka_unit_test(test_link_names_and_keys),
        cmocka_unit_test(test_subpaths),
        cmocka_unit_test(test_heading_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
