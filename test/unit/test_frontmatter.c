/*
 * test_frontmatter — detection, typing, aliases, tags and frontmatter links
 * (spec/links.md §1.3, §3, §5.2, §6; note-format.md). Expected values are
 * written out by hand from the spec and links-cases.jsonl.
 */
#include "qp_test.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "quipu/arena.h"
#include "quipu/frontmatter.h"

typedef struct fx {
    qp_arena *arena;
    qp_frontmatter fm;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->arena = qp_arena_new();
    *state = f;
    return f->arena == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    qp_arena_free(f->arena);
    free(f);
    return 0;
}

static const qp_frontmatter *parse_n(void **state, const char *s, size_t len, size_t depth)
{
    fx *f = *state;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_frontmatter_parse(&f->fm, f->arena, s, len, depth, &err), QP_OK);
    return &f->fm;
}

static const qp_frontmatter *parse(void **state, const char *s)
{
    return parse_n(state, s, strlen(s), 0);
}

static const qp_value *prop(const qp_frontmatter *fm, const char *key)
{
    const qp_value *v = qp_value_get(fm->properties, key);
    if (v == NULL)
        fail_msg("no property %s", key);
    return v;
}

static void assert_str(const qp_value *v, qp_value_type type, const char *want)
{
    assert_int_equal(v->type, type);
    assert_string_equal(v->u.str.s, want);
    assert_int_equal(v->u.str.len, strlen(want));
}

static void assert_invalid(const qp_frontmatter *fm)
{
    assert_true(fm->present);
    assert_false(fm->valid);
    assert_null(fm->properties);
    assert_int_equal(fm->naliases, 0);
    assert_int_equal(fm->ntags, 0);
    assert_int_equal(fm->nlinks, 0);
}

/* ---- detection (links.md §6.1) ---- */

static void test_absent(void **state)
{
    const qp_frontmatter *fm = parse(state, "# Title\n\ntitle: x\n");
    assert_false(fm->present);
    assert_false(fm->valid);
    assert_null(fm->properties);
    assert_int_equal(fm->body_offset, 0);
    assert_int_equal(fm->body_line, 1);
    assert_int_equal(fm->ndiags, 0);

    fm = parse_n(state, "", 0, 0);
    assert_false(fm->present);
    fm = parse_n(state, NULL, 0, 0);
    assert_false(fm->present);
    fm = parse(state, "---");
    assert_false(fm->present);
    fm = parse(state, "---\n");
    assert_false(fm->present);
}

static void test_basic(void **state)
{
    const qp_frontmatter *fm = parse(state, "---\ntitle: x\n---\nBody\n");
    assert_true(fm->present);
    assert_true(fm->valid);
    assert_int_equal(fm->body_offset, 17);
    assert_int_equal(fm->body_line, 4);
    assert_int_equal(fm->properties->type, QP_VALUE_MAP);
    assert_int_equal(fm->properties->u.map.n, 1);
    assert_string_equal(fm->properties->u.map.keys[0], "title");
    assert_str(prop(fm, "title"), QP_VALUE_STRING, "x");
    assert_int_equal(fm->ndiags, 0);
}

static void test_bom(void **state)
{
    const qp_frontmatter *fm = parse(state, "\xEF\xBB\xBF---\ntitle: x\n---\nBody\n");
    assert_true(fm->valid);
    assert_int_equal(fm->body_offset, 20);
    assert_int_equal(fm->body_line, 4);
    assert_str(prop(fm, "title"), QP_VALUE_STRING, "x");
}

static void test_crlf(void **state)
{
    /* links-cases c164 */
    const qp_frontmatter *fm = parse(state, "---\r\ntitle: x\r\n---\r\nBody\r\n");
    assert_true(fm->valid);
    assert_str(prop(fm, "title"), QP_VALUE_STRING, "x");
    assert_int_equal(fm->body_offset, 20);
    assert_int_equal(fm->body_line, 4);

    /* a CR before the closing fence's LF in an otherwise LF file */
    fm = parse(state, "---\na: 1\n---\r\nB");
    assert_true(fm->valid);
    assert_int_equal(fm->body_offset, 14);
}

static void test_not_frontmatter(void **state)
{
    /* c159: "..." does not close; no closing fence at all → whole file is body */
    const qp_frontmatter *fm = parse(state, "---\ntitle: x\n...\nBody\n");
    assert_false(fm->present);
    assert_int_equal(fm->body_offset, 0);
    /* c160: "--- " with a trailing space */
    fm = parse(state, "--- \ntitle: x\n---\n");
    assert_false(fm->present);
    /* c158: leading blank line */
    fm = parse(state, "\n---\ntitle: x\n---\n");
    assert_false(fm->present);
    /* leading space */
    fm = parse(state, " ---\ntitle: x\n---\n");
    assert_false(fm->present);
    /* "----" is not a fence, neither as opener nor as closer */
    fm = parse(state, "----\ntitle: x\n----\n");
    assert_false(fm->present);
    fm = parse(state, "---\ntitle: x\n----\n--- x\n");
    assert_false(fm->present);
    /* a lone CR is not a line end */
    fm = parse(state, "---\rtitle: x\r---\r");
    assert_false(fm->present);
}

static void test_closing_fence_at_eof(void **state)
{
    const qp_frontmatter *fm = parse(state, "---\na: 1\n---");
    assert_true(fm->valid);
    assert_int_equal(fm->body_offset, 12);
    assert_int_equal(fm->body_line, 4);
    assert_int_equal(prop(fm, "a")->u.i, 1);
}

static void test_empty_block(void **state)
{
    /* c163 */
    const qp_frontmatter *fm = parse(state, "---\n---\nBody\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 0);
    assert_int_equal(fm->body_offset, 8);
    assert_int_equal(fm->body_line, 3);

    fm = parse(state, "---\n# only a comment\n\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 0);
    assert_int_equal(fm->body_line, 5);
}

/* ---- invalid blocks (links.md §6.2) ---- */

static void test_invalid_yaml_line(void **state)
{
    /* "b: c: d" is on file line 3; the offending ':' is byte column 5 */
    const qp_frontmatter *fm = parse(state, "---\na: 1\nb: c: d\ne: 2\n---\nBody [[X]]\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].severity, QP_DIAG_ERROR);
    assert_int_equal(fm->diags[0].line, 3);
    assert_int_equal(fm->diags[0].col, 5);
    assert_non_null(strstr(fm->diags[0].msg, "mapping values are not allowed"));
    /* still not body text */
    assert_int_equal(fm->body_offset, 26);
    assert_int_equal(fm->body_line, 6);

    /* the same with a BOM and CRLF: lines do not move */
    fm = parse(state, "\xEF\xBB\xBF---\r\na: 1\r\nb: c: d\r\n---\r\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 3);
    assert_int_equal(fm->diags[0].col, 5);
}

static void test_invalid_unclosed(void **state)
{
    /* c161 */
    const qp_frontmatter *fm = parse(state, "---\ntitle: [unclosed\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_true(fm->diags[0].line >= 2 && fm->diags[0].line <= 3);
}

static void test_tabs(void **state)
{
    const qp_frontmatter *fm = parse(state, "---\na:\n\tb: 1\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 3);
}

static void test_duplicate_keys(void **state)
{
    /* c167 */
    const qp_frontmatter *fm = parse(state, "---\ntitle: a\ntitle: b\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 3);
    assert_int_equal(fm->diags[0].col, 1);
    assert_non_null(strstr(fm->diags[0].msg, "duplicate key"));

    /* nested, and keys that differ only in case are not duplicates */
    fm = parse(state, "---\nTitle: a\ntitle: b\np:\n  x: 1\n  x: 2\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->diags[0].line, 6);
    assert_int_equal(fm->diags[0].col, 3);
}

static void test_duplicate_keys_large_map(void **state)
{
    /* a map large enough for the sorted check; the duplicate is k7 again */
    char buf[4096];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "---\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "k%d: %d\n", i, i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "k7: again\n---\n");
    const qp_frontmatter *fm = parse(state, buf);
    assert_invalid(fm);
    assert_int_equal(fm->diags[0].line, 42);

    n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "---\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "k%d: %d\n", i, i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "---\n");
    fm = parse(state, buf);
    assert_true(fm->valid);
    assert_int_equal(fm->properties->u.map.n, 40);
    assert_int_equal(prop(fm, "k39")->u.i, 39);
}

static void test_not_a_mapping(void **state)
{
    /* c162 */
    const qp_frontmatter *fm = parse(state, "---\n- a\n- b\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 2);

    fm = parse(state, "---\njust text\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);

    fm = parse(state, "---\na: 1\n--- \nb: 2\n---\n");
    assert_invalid(fm); /* a second YAML document */
    assert_int_equal(fm->ndiags, 1);
}

static void nested(char *buf, size_t cap, int levels)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "---\nk: ");
    for (int i = 0; i < levels; i++)
        buf[n++] = '[';
    buf[n++] = '1';
    for (int i = 0; i < levels; i++)
        buf[n++] = ']';
    snprintf(buf + n, cap - n, "\n---\n");
}

static void test_deep_nesting(void **state)
{
    static char buf[300000];
    const qp_frontmatter *fm;

    /* the top mapping is level 1, so 9 lists make 10 levels */
    nested(buf, sizeof buf, 9);
    fm = parse_n(state, buf, strlen(buf), 10);
    assert_true(fm->valid);
    nested(buf, sizeof buf, 10);
    fm = parse_n(state, buf, strlen(buf), 10);
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 2);
    assert_non_null(strstr(fm->diags[0].msg, "deep"));

    /* default 64; a hundred thousand levels stop early */
    nested(buf, sizeof buf, 63);
    fm = parse_n(state, buf, strlen(buf), 0);
    assert_true(fm->valid);
    nested(buf, sizeof buf, 100000);
    fm = parse_n(state, buf, strlen(buf), 0);
    assert_invalid(fm);
}

static void test_alias_bomb(void **state)
{
    static const char bomb[] = "---\n"
                               "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
                               "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                               "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                               "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                               "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                               "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                               "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                               "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                               "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
                               "---\n";
    clock_t t0 = clock();
    const qp_frontmatter *fm = parse(state, bomb);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    /* 1+9 nodes per *a; level f (line 7) is the first to pass 100000 */
    assert_int_equal(fm->diags[0].line, 7);
    assert_true(secs < 1.0);
}

static void test_aliases_shared(void **state)
{
    const qp_frontmatter *fm =
        parse(state, "---\nbase: &b\n  x: 1\n  who: \"[[Mara]]\"\ncopy: *b\nn: &n 5\nm: *n\n---\n");
    const qp_value *copy;

    assert_true(fm->valid);
    copy = prop(fm, "copy");
    assert_int_equal(copy->type, QP_VALUE_MAP);
    assert_int_equal(qp_value_get(copy, "x")->u.i, 1);
    assert_int_equal(prop(fm, "m")->type, QP_VALUE_INT);
    assert_int_equal(prop(fm, "m")->u.i, 5);
    /* the link appears under both keys, at the anchored scalar's place */
    assert_int_equal(fm->nlinks, 2);
    assert_string_equal(fm->links[0].key, "base.who");
    assert_string_equal(fm->links[1].key, "copy.who");
    assert_int_equal(fm->links[0].line, 4);
    assert_int_equal(fm->links[1].line, 4);
    assert_int_equal(fm->links[1].col, 8);

    fm = parse(state, "---\na: *nope\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 2);
}

static void test_bad_bytes(void **state)
{
    /* invalid UTF-8 and NUL inside the block make it invalid; never a crash */
    static const char bad_utf8[] = "---\nt: a\xff\xfe z\n---\nBody\n";
    static const char nul[] = "---\nt: a\0b\n---\nBody\n";
    const qp_frontmatter *fm = parse_n(state, bad_utf8, sizeof bad_utf8 - 1, 0);
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 2);
    assert_int_equal(fm->body_offset, 17);

    fm = parse_n(state, nul, sizeof nul - 1, 0);
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
    assert_int_equal(fm->diags[0].line, 2);

    /* NUL and bad bytes in the body do not matter */
    static const char body[] = "---\nt: a\n---\n\0\xff";
    fm = parse_n(state, body, sizeof body - 1, 0);
    assert_true(fm->valid);
    assert_int_equal(fm->body_offset, 13);

    /* a "\0" escape is a string holding a NUL */
    fm = parse(state, "---\nt: \"a\\0b\"\n---\n");
    assert_true(fm->valid);
    assert_int_equal(prop(fm, "t")->type, QP_VALUE_STRING);
    assert_int_equal(prop(fm, "t")->u.str.len, 3);
}

/* ---- types (links.md §6.3, note-format.md) ---- */

static void test_scalar_types(void **state)
{
    const qp_frontmatter *fm = parse(state, "---\n"
                                            "n1: \n"
                                            "n2: ~\n"
                                            "n3: null\n"
                                            "n4: NULL\n"
                                            "n5: ''\n"
                                            "n6: \"\"\n"
                                            "b1: true\n"
                                            "b2: False\n"
                                            "b3: TRUE\n"
                                            "s1: yes\n"
                                            "s2: \"true\"\n"
                                            "s3: '12'\n"
                                            "s4: tRue\n"
                                            "i1: 42\n"
                                            "i2: -7\n"
                                            "i3: 0x1F\n"
                                            "i4: 0o17\n"
                                            "i5: +3\n"
                                            "r1: 3.14\n"
                                            "r2: 1e3\n"
                                            "r3: .5\n"
                                            "r4: -.inf\n"
                                            "r5: .NaN\n"
                                            "r6: 99999999999999999999\n"
                                            "s5: 1.2.3\n"
                                            "s6: 0x\n"
                                            "s7: A New Hope\n"
                                            "s8: |\n  two\n  lines\n"
                                            "---\n");
    assert_true(fm->valid);
    for (int i = 1; i <= 6; i++) {
        char k[4];
        snprintf(k, sizeof k, "n%d", i);
        assert_int_equal(prop(fm, k)->type, QP_VALUE_NULL);
    }
    assert_int_equal(prop(fm, "b1")->type, QP_VALUE_BOOL);
    assert_true(prop(fm, "b1")->u.b);
    assert_int_equal(prop(fm, "b2")->type, QP_VALUE_BOOL);
    assert_false(prop(fm, "b2")->u.b);
    assert_true(prop(fm, "b3")->u.b);
    assert_str(prop(fm, "s1"), QP_VALUE_STRING, "yes"); /* YAML 1.2: not a bool */
    assert_str(prop(fm, "s2"), QP_VALUE_STRING, "true");
    assert_str(prop(fm, "s3"), QP_VALUE_STRING, "12");
    assert_str(prop(fm, "s4"), QP_VALUE_STRING, "tRue");
    assert_int_equal(prop(fm, "i1")->type, QP_VALUE_INT);
    assert_int_equal(prop(fm, "i1")->u.i, 42);
    assert_int_equal(prop(fm, "i2")->u.i, -7);
    assert_int_equal(prop(fm, "i3")->type, QP_VALUE_INT);
    assert_int_equal(prop(fm, "i3")->u.i, 31);
    assert_int_equal(prop(fm, "i4")->u.i, 15);
    assert_int_equal(prop(fm, "i5")->u.i, 3);
    assert_int_equal(prop(fm, "r1")->type, QP_VALUE_REAL);
    assert_float_equal(prop(fm, "r1")->u.r, 3.14, 1e-12);
    assert_int_equal(prop(fm, "r2")->type, QP_VALUE_REAL);
    assert_float_equal(prop(fm, "r2")->u.r, 1000.0, 1e-12);
    assert_float_equal(prop(fm, "r3")->u.r, 0.5, 1e-12);
    assert_true(isinf(prop(fm, "r4")->u.r) && prop(fm, "r4")->u.r < 0);
    assert_true(isnan(prop(fm, "r5")->u.r));
    assert_int_equal(prop(fm, "r6")->type, QP_VALUE_REAL);
    assert_float_equal(prop(fm, "r6")->u.r, 1e20, 1e6);
    assert_str(prop(fm, "s5"), QP_VALUE_STRING, "1.2.3");
    assert_str(prop(fm, "s6"), QP_VALUE_STRING, "0x");
    assert_str(prop(fm, "s7"), QP_VALUE_STRING, "A New Hope");
    assert_str(prop(fm, "s8"), QP_VALUE_STRING, "two\nlines\n");
}

static void test_dates(void **state)
{
    /* c166 */
    const qp_frontmatter *fm = parse(state, "---\n"
                                            "date: 2025-10-30\n"
                                            "quoted: '2025-11-07'\n"
                                            "time: 2020-08-21T10:30:00\n"
                                            "short: \"2020-08-21T10:30\"\n"
                                            "month13: 2025-13-01\n"
                                            "spaced: 2020-08-21 10:30\n"
                                            "zoned: 2020-08-21T10:30:00Z\n"
                                            "---\n");
    assert_true(fm->valid);
    assert_str(prop(fm, "date"), QP_VALUE_DATE, "2025-10-30");
    assert_str(prop(fm, "quoted"), QP_VALUE_DATE, "2025-11-07");
    assert_str(prop(fm, "time"), QP_VALUE_DATETIME, "2020-08-21T10:30:00");
    assert_str(prop(fm, "short"), QP_VALUE_DATETIME, "2020-08-21T10:30");
    assert_str(prop(fm, "month13"), QP_VALUE_STRING, "2025-13-01");
    assert_str(prop(fm, "spaced"), QP_VALUE_STRING, "2020-08-21 10:30");
    assert_str(prop(fm, "zoned"), QP_VALUE_STRING, "2020-08-21T10:30:00Z");
}

static void test_person_note(void **state)
{
    /* note-format.md, the person note */
    const qp_frontmatter *fm = parse(state, "---\n"
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
                                            "# Mara Lindqvist\n");
    const qp_value *tags;

    assert_true(fm->valid);
    assert_int_equal(fm->body_line, 13);
    assert_int_equal(fm->properties->u.map.n, 8);
    assert_string_equal(fm->properties->u.map.keys[7], "tags");
    assert_str(prop(fm, "type"), QP_VALUE_STRING, "person");
    assert_str(prop(fm, "name"), QP_VALUE_STRING, "Mara Lindqvist");
    assert_int_equal(prop(fm, "email")->type, QP_VALUE_NULL);
    assert_int_equal(prop(fm, "company")->type, QP_VALUE_NULL);
    assert_int_equal(prop(fm, "title")->type, QP_VALUE_NULL);
    assert_str(prop(fm, "last_contact"), QP_VALUE_DATE, "2025-11-03");
    assert_str(prop(fm, "created"), QP_VALUE_DATE, "2026-01-05");
    tags = prop(fm, "tags");
    assert_int_equal(tags->type, QP_VALUE_LIST);
    assert_int_equal(tags->u.list.n, 2);
    assert_str(&tags->u.list.items[1], QP_VALUE_STRING, "needs-review");
    assert_int_equal(fm->ntags, 2);
    assert_string_equal(fm->tags[0].tag, "#type/person");
    assert_string_equal(fm->tags[1].tag, "#needs-review");
    assert_true(fm->tags[0].frontmatter);
    assert_int_equal(fm->tags[0].line, 0);
    assert_int_equal(fm->tags[0].col, 0);
    assert_int_equal(fm->nlinks, 0);
}

static void test_json_frontmatter(void **state)
{
    /* c165 */
    const qp_frontmatter *fm =
        parse(state, "---\n{\n  \"tags\": [\"journal\"],\n  \"publish\": false\n}\n---\n");
    assert_true(fm->valid);
    assert_int_equal(prop(fm, "publish")->type, QP_VALUE_BOOL);
    assert_false(prop(fm, "publish")->u.b);
    assert_int_equal(fm->ntags, 1);
    assert_string_equal(fm->tags[0].tag, "#journal");
}

/* ---- tags (links.md §5.2) ---- */

static void assert_tags(void **state, const char *src, int n, const char *const *want)
{
    const qp_frontmatter *fm = parse(state, src);
    if ((int)fm->ntags != n)
        fail_msg("%s: %zu tags, want %d", src, fm->ntags, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(fm->tags[i].tag, want[i]);
        assert_true(fm->tags[i].frontmatter);
    }
}

static void test_tags(void **state)
{
    static const char *const c143[] = {"#already", "#plain"};
    static const char *const c145[] = {"#type/person"};
    static const char *const c148[] = {"#ok"};
    static const char *const c150[] = {"#2024"};
    static const char *const odd[] = {"#a,b"};
    static const char *const ci[] = {"#x", "#y"};

    assert_tags(state, "---\ntags: [\"#already\", plain]\n---\n", 2, c143);
    assert_tags(state, "---\ntags: recipe, cooking\n---\n", 0, NULL); /* c144 */
    assert_tags(state, "---\ntags: type/person\n---\n", 1, c145);
    assert_tags(state, "---\ntags:\n  - #tag\n---\n", 0, NULL); /* c146: a comment */
    assert_tags(state, "---\ntag: single\n---\n", 0, NULL);     /* c147 */
    assert_tags(state, "---\ntags:\n  - two words\n  - ok\n---\n", 1, c148);
    assert_tags(state, "---\nsummary: '#notatag'\n---\n", 0, NULL); /* c149 */
    assert_tags(state, "---\ntags: [2024, '2024']\n---\n", 1, c150);
    assert_tags(state, "---\ntags: a,b\n---\n", 1, odd);
    assert_tags(state, "---\nTAGS: [x, y, null, true, 1.5, '', '#', [z]]\n---\n", 2, ci);
    assert_tags(state, "---\ntags: ['  spaced  ', 2024-01-01-x, \"date-like\"]\n---\n", 3,
                (const char *const[]){"#spaced", "#2024-01-01-x", "#date-like"});
    assert_tags(state, "---\ntags: 2024\n---\n", 0, NULL);
    assert_tags(state, "---\ntags:\n---\n", 0, NULL);
}

/* ---- aliases (links.md §3) ---- */

static void test_aliases(void **state)
{
    const qp_frontmatter *fm = parse(state, "---\naliases: AI, ML\n---\n"); /* c168 */
    assert_true(fm->valid);
    assert_int_equal(fm->naliases, 1);
    assert_string_equal(fm->aliases[0], "AI, ML");
    assert_str(prop(fm, "aliases"), QP_VALUE_STRING, "AI, ML");

    fm = parse(state, "---\nAliases:\n  - ' Mara '\n  - ''\n  - 2024\n  - Mara L.\n  - {a: b}\n"
                      "  - '   '\n---\n");
    assert_int_equal(fm->naliases, 2);
    assert_string_equal(fm->aliases[0], "Mara");
    assert_string_equal(fm->aliases[1], "Mara L.");

    fm = parse(state, "---\nalias: Old\n---\n");
    assert_int_equal(fm->naliases, 0);

    fm = parse(state, "---\naliases: [2024]\n---\n");
    assert_int_equal(fm->naliases, 0);
}

/* ---- frontmatter links (links.md §1.3) ---- */

static void test_links_quoted_vs_plain(void **state)
{
    const qp_frontmatter *fm = parse(state, "---\n"
                                            "link: \"[[Mara Lindqvist]]\"\n"
                                            "plain: [[X]]\n"
                                            "summary: \"met [[Mara]] today\"\n"
                                            "md: \"[Mara](Mara.md)\"\n"
                                            "empty: \"[[ ]]\"\n"
                                            "---\n");
    const qp_value *plain;

    assert_true(fm->valid);
    assert_int_equal(fm->nlinks, 1);
    assert_int_equal(fm->links[0].syntax, QP_LINK_FRONTMATTER);
    assert_false(fm->links[0].embed);
    assert_string_equal(fm->links[0].target, "Mara Lindqvist");
    assert_null(fm->links[0].subpath);
    assert_null(fm->links[0].display);
    assert_string_equal(fm->links[0].key, "link");
    assert_int_equal(fm->links[0].line, 2);
    assert_int_equal(fm->links[0].col, 7);
    assert_int_equal(fm->links[0].offset, 10);
    assert_int_equal(fm->links[0].len, 20);

    /* unquoted [[X]] is a list holding a list holding "X" */
    plain = prop(fm, "plain");
    assert_int_equal(plain->type, QP_VALUE_LIST);
    assert_int_equal(plain->u.list.n, 1);
    assert_int_equal(plain->u.list.items[0].type, QP_VALUE_LIST);
    assert_str(&plain->u.list.items[0].u.list.items[0], QP_VALUE_STRING, "X");
}

static void test_links_nested(void **state)
{
    static const char src[] = "---\n"
                              "type: meeting\n"
                              "attendees:\n"
                              "- \"[[Omar Castell]]\"\n"
                              "- \"[[Rob Kestrel]]\"\n"
                              "project:\n"
                              "  lead: '[[Mara Lindqvist#Key Facts|Mara]]'\n"
                              "  team: [\"[[A]]\", x, '[[People/B.md]]']\n"
                              "---\n";
    const qp_frontmatter *fm = parse(state, src);

    assert_true(fm->valid);
    assert_int_equal(fm->nlinks, 5);
    assert_string_equal(fm->links[0].key, "attendees.0");
    assert_string_equal(fm->links[0].target, "Omar Castell");
    assert_int_equal(fm->links[0].line, 4);
    assert_int_equal(fm->links[0].col, 3);
    assert_int_equal(fm->links[0].offset, 31);
    assert_int_equal(fm->links[0].len, 18);
    assert_memory_equal(src + fm->links[0].offset, "\"[[Omar Castell]]\"", 18);
    assert_string_equal(fm->links[1].key, "attendees.1");
    assert_string_equal(fm->links[1].target, "Rob Kestrel");
    assert_int_equal(fm->links[1].line, 5);
    assert_string_equal(fm->links[2].key, "project.lead");
    assert_string_equal(fm->links[2].target, "Mara Lindqvist");
    assert_string_equal(fm->links[2].subpath, "#Key Facts");
    assert_string_equal(fm->links[2].display, "Mara");
    assert_int_equal(fm->links[2].line, 7);
    assert_int_equal(fm->links[2].col, 9);
    assert_memory_equal(src + fm->links[2].offset, "'[[Mara Lindqvist#Key Facts|Mara]]'",
                        fm->links[2].len);
    assert_string_equal(fm->links[3].key, "project.team.0");
    assert_string_equal(fm->links[3].target, "A");
    assert_int_equal(fm->links[3].line, 8);
    assert_int_equal(fm->links[3].col, 10);
    assert_string_equal(fm->links[4].key, "project.team.2");
    assert_string_equal(fm->links[4].target, "People/B.md");
    assert_int_equal(fm->links[4].col, 22);
}

static void test_link_positions_bytes(void **state)
{
    /* columns and offsets are bytes: "ë" and "é" are two bytes each */
    static const char src[] = "\xEF\xBB\xBF---\r\n"
                              "name: Zo\xC3\xAB\r\n"
                              "\"\xC3\xA9\": \"[[A]]\"\r\n"
                              "---\r\n";
    const qp_frontmatter *fm = parse(state, src);

    assert_true(fm->valid);
    assert_str(prop(fm, "name"), QP_VALUE_STRING, "Zo\xC3\xAB");
    assert_int_equal(fm->nlinks, 1);
    assert_string_equal(fm->links[0].key, "\xC3\xA9");
    assert_int_equal(fm->links[0].line, 3);
    assert_int_equal(fm->links[0].col, 7);
    assert_int_equal(fm->links[0].offset, 3 + 5 + 12 + 6);
    assert_int_equal(fm->links[0].len, 7);
    assert_memory_equal(src + fm->links[0].offset, "\"[[A]]\"", 7);
}

static void test_links_invalid_block(void **state)
{
    /* invalid YAML: no links even where a part looks fine */
    const qp_frontmatter *fm = parse(state, "---\nlink: \"[[A]]\"\nbad: [\n---\n");
    assert_invalid(fm);
    assert_int_equal(fm->ndiags, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_frontmatter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_fence_at_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_yaml_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_unclosed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tabs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys_large_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalar_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_frontmatter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_quoted_vs_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_positions_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_invalid_block, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
