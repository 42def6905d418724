/* Pages of long answers (lib/query_page.c): backlinks, mentions and
 * tasks.query with limit, cursor and max_occurrences, against the people
 * and tasks fixtures and a vault written here with one note that links
 * its target on many lines. */
#include "qp_fixture.h"

#include "quipu/init.h"
#include <sys/stat.h>

static int setup(void **state)
{
    (void)state;
    return fixture_open("people");
}

static int teardown(void **state)
{
    (void)state;
    fixture_close();
    return 0;
}

/* The result of a query as a JSON value (new), failing the test on error. */
static json_t *run(qp_store *s, qp_vault *v, const char *method, const char *params)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, s, v, method, params, &err);
    if (rc != QP_OK)
        fail_msg("%s %s: %s: %s", method, params, qp_rc_name(rc), err.msg);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    return j;
}

static void expect_einval(const char *method, const char *params, const char *words)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, st, vault, method, params, &err), QP_EINVAL);
    assert_null(out);
    if (!strstr(err.msg, words))
        fail_msg("%s %s: message \"%s\" does not say \"%s\"", method, params, err.msg, words);
}

static void test_backlinks_first_and_second_page(void **state)
{
    (void)state;
    check("backlinks", "{\"note\":\"Mara Lindqvist\",\"limit\":1}",
          "{\"path\":\"People/Mara Lindqvist.md\",\"linked\":[{\"path\":\"Meetings/2025/"
          "2025-11-14 Pricing sync.md\",\"kind\":\"meeting\",\"title\":\"Pricing sync\","
          "\"date\":\"2025-11-14\",\"occurrences\":[{\"line\":6,\"column\":3,\"context\":\"- "
          "\\\"[[Mara Lindqvist]]\\\"\"}]}],\"linked_total\":2,"
          "\"next_cursor\":\"{\\\"l\\\":\\\"Meetings/2025/2025-11-14 Pricing sync.md\\\"}\"}");
    check("backlinks",
          "{\"note\":\"Mara Lindqvist\",\"limit\":1,"
          "\"cursor\":\"{\\\"l\\\":\\\"Meetings/2025/2025-11-14 Pricing sync.md\\\"}\"}",
          "{\"path\":\"People/Mara Lindqvist.md\",\"linked\":[{\"path\":\"Meetings/2025/"
          "2025-12-01 Planning.md\",\"kind\":\"meeting\",\"title\":\"2025-12-01 Planning\","
          "\"date\":\"2025-12-01\",\"occurrences\":[{\"line\":5,\"column\":15,\"context\":"
          "\"Planning with [[mara lindqvist|Mara]] and [[Omar Castell]].\"}]}],"
          "\"linked_total\":2}");
}

/* Following next_cursor with limit 1 visits every Source of the whole
 * answer once, in order, in both lists. */
static void test_backlinks_pages_add_up_to_the_whole(void **state)
{
    (void)state;
    json_t *whole = run(st, vault, "backlinks", "{\"note\":\"Mara Lindqvist\",\"unlinked\":true}");
    json_t *linked = json_array(), *unlinked = json_array();
    char *cursor = NULL;
    int pages = 0;
    do {
        json_t *p = json_pack("{ss sb si}", "note", "Mara Lindqvist", "unlinked", 1, "limit", 1);
        if (cursor)
            json_object_set_new(p, "cursor", json_string(cursor));
        char *ptext = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        json_t *r = run(st, vault, "backlinks", ptext);
        free(ptext);
        assert_true(json_array_size(json_object_get(r, "linked")) <= 1);
        assert_true(json_array_size(json_object_get(r, "unlinked")) <= 1);
        assert_int_equal(json_integer_value(json_object_get(r, "linked_total")),
                         json_array_size(json_object_get(whole, "linked")));
        assert_int_equal(json_integer_value(json_object_get(r, "unlinked_total")),
                         json_array_size(json_object_get(whole, "unlinked")));
        json_array_extend(linked, json_object_get(r, "linked"));
        json_array_extend(unlinked, json_object_get(r, "unlinked"));
        free(cursor);
        const char *c = json_string_value(json_object_get(r, "next_cursor"));
        cursor = c ? strdup(c) : NULL;
        json_decref(r);
        assert_true(++pages < 20);
    } while (cursor);
    /* One page per Source of the longer list, the last without a cursor. */
    size_t nl = json_array_size(json_object_get(whole, "linked"));
    size_t nu = json_array_size(json_object_get(whole, "unlinked"));
    assert_int_equal(nl, 2);
    assert_true(nu >= 3);
    assert_int_equal(pages, nu > nl ? nu : nl);
    assert_true(json_equal(linked, json_object_get(whole, "linked")));
    assert_true(json_equal(unlinked, json_object_get(whole, "unlinked")));
    json_decref(linked);
    json_decref(unlinked);
    json_decref(whole);
}

static void test_mentions_page(void **state)
{
    (void)state;
    json_t *whole = run(st, vault, "mentions", "{\"note\":\"Mara Lindqvist\"}");
    json_t *p1 = run(st, vault, "mentions", "{\"note\":\"Mara Lindqvist\",\"limit\":3}");
    json_t *m = json_object_get(p1, "mentioned_in");
    assert_int_equal(json_array_size(m), 3);
    assert_int_equal(json_integer_value(json_object_get(p1, "mentioned_total")), 4);
    assert_string_equal(json_string_value(json_object_get(p1, "next_cursor")), "{\"m\":3}");
    /* Newest first, as the whole answer; missing and stale stay whole. */
    for (size_t i = 0; i < 3; i++)
        assert_true(json_equal(json_array_get(m, i),
                               json_array_get(json_object_get(whole, "mentioned_in"), i)));
    assert_true(json_equal(json_object_get(p1, "missing"), json_object_get(whole, "missing")));
    assert_true(json_equal(json_object_get(p1, "stale"), json_object_get(whole, "stale")));
    json_t *p2 = run(st, vault, "mentions",
                     "{\"note\":\"Mara Lindqvist\",\"limit\":3,\"cursor\":\"{\\\"m\\\":3}\"}");
    assert_int_equal(json_array_size(json_object_get(p2, "mentioned_in")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(p2, "mentioned_in"), 0), "path")),
                        "Meetings/Undated standup.md");
    assert_null(json_object_get(p2, "next_cursor"));
    json_decref(p2);
    json_decref(p1);

    /* occurrences: false: the same meetings, in order, without their
     * lines; missing and stale as ever. */
    json_t *bare =
        run(st, vault, "mentions", "{\"note\":\"Mara Lindqvist\",\"occurrences\":false}");
    json_t *bm = json_object_get(bare, "mentioned_in");
    assert_int_equal(json_array_size(bm), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *w = json_array_get(json_object_get(whole, "mentioned_in"), i);
        json_t *b = json_array_get(bm, i);
        assert_null(json_object_get(b, "occurrences"));
        assert_string_equal(json_string_value(json_object_get(b, "path")),
                            json_string_value(json_object_get(w, "path")));
        assert_true(json_equal(json_object_get(b, "title"), json_object_get(w, "title")));
    }
    assert_true(json_equal(json_object_get(bare, "missing"), json_object_get(whole, "missing")));
    assert_true(json_equal(json_object_get(bare, "stale"), json_object_get(whole, "stale")));
    json_decref(bare);
    json_decref(whole);
}

static void test_bad_page_params(void **state)
{
    (void)state;
    expect_einval("backlinks", "{\"note\":\"Mara Lindqvist\",\"limit\":0}", "limit");
    expect_einval("backlinks", "{\"note\":\"Mara Lindqvist\",\"limit\":\"2\"}", "limit");
    expect_einval("backlinks", "{\"note\":\"Mara Lindqvist\",\"max_occurrences\":-1}",
                  "max_occurrences");
    expect_einval("backlinks", "{\"note\":\"Mara Lindqvist\",\"cursor\":7}", "cursor");
    expect_einval("mentions", "{\"note\":\"Mara Lindqvist\",\"occurrences\":0}", "occurrences");
    expect_einval("backlinks", "{\"note\":\"Mara Lindqvist\",\"cursor\":\"not json\"}", "cursor");
    expect_einval("mentions", "{\"note\":\"Mara Lindqvist\",\"cursor\":\"[1]\"}", "cursor");
    expect_einval("tasks.query", "{\"query\":\"not done\",\"cursor\":\"{\\\"t\\\":{}}\"}",
                  "cursor");
}

/* Vaults of their own, written here: a folder, its index, and cleanup. */
typedef struct tvault {
    char dir[64];
    qp_vault *v;
    qp_store *s;
} tvault;

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void tvault_index(tvault *t)
{
    char db[600];
    qp_error err = QP_ERROR_INIT;
    snprintf(db, sizeof db, "%s/index.db", t->dir);
    assert_rc(qp_vault_open(&t->v, t->dir, &err), QP_OK);
    /* The index lives in the vault here; the sync skips its own files. */
    assert_rc(qp_store_open(&t->s, db, QP_STORE_WRITE, &err), QP_OK);
    assert_rc(qp_store_sync(t->s, t->v, NULL, NULL, &err), QP_OK);
}

static void tvault_remove(tvault *t, const char *const *files, size_t n)
{
    static const char *const idx[] = {"index.db", "index.db-wal", "index.db-shm"};
    char p[700];
    qp_store_close(t->s);
    qp_vault_close(t->v);
    for (size_t i = 0; i < n + 3; i++) {
        snprintf(p, sizeof p, "%s/%s", t->dir, i < n ? files[i] : idx[i - n]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* One note linking "Target" on 250 lines. */
static void test_occurrences_capped_with_a_count(void **state)
{
    (void)state;
    tvault t = {.dir = "/tmp/qp-page-vault-XXXXXX"};
    assert_non_null(mkdtemp(t.dir));
    write_file(t.dir, "Target.md", "# Target\n");
    char *big = malloc(250 * 32);
    assert_non_null(big);
    big[0] = '\0';
    for (int i = 0; i < 250; i++)
        strcat(big, "- see [[Target]]\n");
    write_file(t.dir, "Big.md", big);
    write_file(t.dir, "Small.md", "[[Target]] once\n");
    free(big);
    tvault_index(&t);
    qp_store *s = t.s;
    qp_vault *v = t.v;

    /* Default: 100 occurrences, the rest counted. */
    json_t *r = run(s, v, "backlinks", "{\"note\":\"Target\"}");
    json_t *big_src = json_array_get(json_object_get(r, "linked"), 0);
    assert_string_equal(json_string_value(json_object_get(big_src, "path")), "Big.md");
    assert_int_equal(json_array_size(json_object_get(big_src, "occurrences")), 100);
    assert_int_equal(json_integer_value(json_object_get(big_src, "more_occurrences")), 150);
    json_t *last = json_array_get(json_object_get(big_src, "occurrences"), 99);
    assert_int_equal(json_integer_value(json_object_get(last, "line")), 100);
    json_t *small = json_array_get(json_object_get(r, "linked"), 1);
    assert_null(json_object_get(small, "more_occurrences"));
    json_decref(r);

    r = run(s, v, "backlinks", "{\"note\":\"Target\",\"max_occurrences\":2,\"limit\":1}");
    big_src = json_array_get(json_object_get(r, "linked"), 0);
    assert_int_equal(json_array_size(json_object_get(big_src, "occurrences")), 2);
    assert_int_equal(json_integer_value(json_object_get(big_src, "more_occurrences")), 248);
    assert_int_equal(json_integer_value(json_object_get(r, "linked_total")), 2);
    assert_string_equal(json_string_value(json_object_get(r, "next_cursor")), "{\"l\":\"Big.md\"}");
    json_decref(r);

    /* occurrences: false: the Sources alone, the page and totals as ever. */
    r = run(s, v, "backlinks", "{\"note\":\"Target\",\"occurrences\":false,\"limit\":1}");
    big_src = json_array_get(json_object_get(r, "linked"), 0);
    assert_string_equal(json_string_value(json_object_get(big_src, "path")), "Big.md");
    assert_null(json_object_get(big_src, "occurrences"));
    assert_null(json_object_get(big_src, "more_occurrences"));
    assert_int_equal(json_integer_value(json_object_get(r, "linked_total")), 2);
    json_decref(r);

    /* 0 = every occurrence. */
    r = run(s, v, "backlinks", "{\"note\":\"Target\",\"max_occurrences\":0}");
    big_src = json_array_get(json_object_get(r, "linked"), 0);
    assert_int_equal(json_array_size(json_object_get(big_src, "occurrences")), 250);
    assert_null(json_object_get(big_src, "more_occurrences"));
    json_decref(r);

    const char *const files[] = {"Target.md", "Big.md", "Small.md"};
    tvault_remove(&t, files, 3);
}

/* tasks.query pages run through the groups in the result's order. */
static void test_tasks_pages(void **state)
{
    (void)state;
    tvault t = {.dir = "/tmp/qp-page-tasks-XXXXXX"};
    assert_non_null(mkdtemp(t.dir));
    write_file(t.dir, "A.md", "- [ ] a1\n- [ ] a2 📅 2025-12-03\n- [x] a3\n");
    write_file(t.dir, "B.md", "# B\n- [ ] b1 📅 2025-12-02\n");
    write_file(t.dir, "C.md", "- [ ] c1\n- [ ] c2\n");
    tvault_index(&t);
    json_t *whole = run(t.s, t.v, "tasks.query",
                        "{\"query\":\"not done\\ngroup by filename\",\"today\":\"2025-12-01\"}");
    json_t *flat = json_array();
    size_t gi;
    json_t *g;
    json_array_foreach(json_object_get(whole, "groups"), gi, g)
        json_array_extend(flat, json_object_get(g, "tasks"));
    size_t n = json_array_size(flat);
    assert_int_equal(json_array_size(json_object_get(whole, "groups")), 3);
    assert_int_equal(n, 5); /* a1 a2 b1 c1 c2 */

    json_t *got = json_array();
    char *cursor = NULL;
    int pages = 0;
    do {
        json_t *p = json_pack("{ss ss si}", "query", "not done\ngroup by filename", "today",
                              "2025-12-01", "limit", 1);
        if (cursor)
            json_object_set_new(p, "cursor", json_string(cursor));
        char *ptext = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        json_t *r = run(t.s, t.v, "tasks.query", ptext);
        free(ptext);
        json_t *groups = json_object_get(r, "groups");
        assert_int_equal(json_array_size(groups), 1);
        assert_int_equal(json_array_size(json_object_get(json_array_get(groups, 0), "tasks")), 1);
        json_array_extend(got, json_object_get(json_array_get(groups, 0), "tasks"));
        free(cursor);
        const char *c = json_string_value(json_object_get(r, "next_cursor"));
        cursor = c ? strdup(c) : NULL;
        json_decref(r);
        assert_true(++pages <= (int)n);
    } while (cursor);
    assert_int_equal(pages, (int)n);
    assert_true(json_equal(got, flat));
    json_decref(got);
    json_decref(flat);
    json_decref(whole);
    const char *const files[] = {"A.md", "B.md", "C.md"};
    tvault_remove(&t, files, 3);
}

/* The task answers are written as text (lib/query_tasks.c): it must be
 * the compact encoding of its own value, a task in two groups written the
 * same in both, and a page of 2 cut across the groups' boundary. */
static void test_tasks_text_across_groups(void **state)
{
    (void)state;
    tvault t = {.dir = "/tmp/qp-page-text-XXXXXX"};
    assert_non_null(mkdtemp(t.dir));
    write_file(t.dir, "T.md", "- [ ] both #x #y\n- [ ] only \"quoted\" #y\n");
    tvault_index(&t);
    static const char q[] = "{\"query\":\"group by tags\\nsort by description\"";
    char *out = NULL;
    assert_rc(qp_query_run(&out, t.s, t.v, "tasks.query", "{\"query\":\"group by tags\"}", NULL),
              QP_OK);
    json_t *whole = json_loads(out, 0, NULL);
    assert_non_null(whole);
    char *again = json_dumps(whole, JSON_COMPACT);
    assert_string_equal(out, again);
    free(again);
    free(out);
    json_t *groups = json_object_get(whole, "groups");
    assert_int_equal(json_integer_value(json_object_get(whole, "total")), 2);
    assert_int_equal(json_array_size(groups), 2);
    json_t *gx = json_array_get(groups, 0), *gy = json_array_get(groups, 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(gx, "names"), 0)), "#x");
    assert_string_equal(json_string_value(json_array_get(json_object_get(gy, "names"), 0)), "#y");
    json_t *both = json_array_get(json_object_get(gx, "tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(both, "text")), "- [ ] both #x #y");
    assert_true(json_equal(both, json_array_get(json_object_get(gy, "tasks"), 0)));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(gy, "tasks"), 1), "text")),
        "- [ ] only \"quoted\" #y");

    char params[160];
    snprintf(params, sizeof params, "%s,\"limit\":2}", q);
    json_t *p1 = run(t.s, t.v, "tasks.query", params);
    json_t *g1 = json_object_get(p1, "groups");
    assert_int_equal(json_array_size(g1), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(g1, 0), "tasks")), 1);
    assert_int_equal(json_array_size(json_object_get(json_array_get(g1, 1), "tasks")), 1);
    assert_string_equal(json_string_value(json_object_get(p1, "next_cursor")), "{\"t\":2}");
    snprintf(params, sizeof params, "%s,\"limit\":2,\"cursor\":\"{\\\"t\\\":2}\"}", q);
    json_t *p2 = run(t.s, t.v, "tasks.query", params);
    json_t *g2 = json_object_get(p2, "groups");
    assert_int_equal(json_array_size(g2), 1);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_array_get(g2, 0), "names"), 0)),
        "#y");
    json_t *t2 = json_object_get(json_array_get(g2, 0), "tasks");
    assert_int_equal(json_array_size(t2), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(t2, 0), "text")),
                        "- [ ] only \"quoted\" #y");
    assert_null(json_object_get(p2, "next_cursor"));
    json_decref(p1);
    json_decref(p2);
    json_decref(whole);
    const char *const files[] = {"T.md"};
    tvault_remove(&t, files, 1);
}

int main(void)
{
    qp_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backlinks_first_and_second_page),
        cmocka_unit_test(test_backlinks_pages_add_up_to_the_whole),
        cmocka_unit_test(test_mentions_page),
        cmocka_unit_test(test_bad_page_params),
        cmocka_unit_test(test_occurrences_capped_with_a_count),
        cmocka_unit_test(test_tasks_pages),
        cmocka_unit_test(test_tasks_text_across_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
