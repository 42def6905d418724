/* test_symcat — the symbol catalogue: symbols.search answers from it as it
 * answers from a scan of the index, on the vault of qp_methods_vault.h,
 * and follows the index as notes are added, changed and removed, and when
 * the index is another one (rebuilt). */
#include "qp_methods_vault.h"
#include "qp_test.h"
#include "quipu/symcat.h"

static qp_symcat *cat;

static int setup(void **state)
{
    (void)state;
    qp_error err = QP_ERROR_INIT;
    if (mv_open() != 0 || qp_symcat_new(&cat, &err) != QP_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qp_symcat_use(st, NULL);
    qp_symcat_free(cat);
    mv_close();
    return 0;
}

static char *search(const char *params)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, vault, "symbols.search", params, &err);
    if (rc != QP_OK)
        fail_msg("symbols.search %s: %s", params, err.msg);
    return out;
}

/* symbols.search gives the same text from the catalogue as from a scan. */
static void same_answer(const char *params)
{
    qp_symcat_use(st, NULL);
    char *scan = search(params);
    qp_symcat_use(st, cat);
    char *fromcat = search(params);
    if (strcmp(scan, fromcat) != 0)
        fail_msg("%s:\n scan    %s\n catalog %s", params, scan, fromcat);
    free(scan);
    free(fromcat);
}

static void test_same_answers(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "{\"query\":\"details\"}",       "{\"query\":\"\xc3\xa4rne\"}", "{\"query\":\"ARNE\"}",
        "{\"query\":\"infra\"}",         "{\"query\":\"r\"}",           "{\"query\":\"pl\"}",
        "{\"query\":\"key f\"}",         "{\"query\":\"lnok\"}",        "{\"query\":\"#\"}",
        "{\"query\":\"e\",\"limit\":2}", "{\"query\":\"zzz\"}",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        same_answer(qs[i]);
    assert_true(qp_symcat_bytes(cat) > 0);
}

static void write_note(const char *rel, const char *text)
{
    mv_file f = {rel, text, 0};
    assert_int_equal(mv_write(mv_root, &f, MV_BASE + 3600), 0);
}

static void sync_vault(void)
{
    qp_error err = QP_ERROR_INIT;
    if (qp_store_sync(st, vault, NULL, NULL, &err) != QP_OK)
        fail_msg("sync: %s", err.msg);
}

/* The answer holds an item named `name` of `type`. */
static bool has_item(const char *answer, const char *type, const char *name)
{
    json_t *j = json_loads(answer, 0, NULL), *it;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(j, "items"), i, it)
    {
        found |= strcmp(json_string_value(json_object_get(it, "type")), type) == 0 &&
                 strcmp(json_string_value(json_object_get(it, "name")), name) == 0;
    }
    json_decref(j);
    return found;
}

static void expect(const char *query, const char *type, const char *name, bool want)
{
    char params[256];
    snprintf(params, sizeof params, "{\"query\":\"%s\"}", query);
    char *a = search(params);
    if (has_item(a, type, name) != want)
        fail_msg("%s: %s %s %s: %s", query, type, name, want ? "missing" : "still there", a);
    free(a);
}

static void test_follows_changes(void **state)
{
    (void)state;
    char path[1100];
    qp_symcat_use(st, cat);
    expect("zebra", "note", "Zebra Plan", false);
    /* Two aliases that fold alike: each keeps its own spelling. */
    write_note("Notes/Zebra Plan.md",
               "---\naliases: [Zed, ZED]\n---\n# Zebra Plan\n\n## Zebra crossing\n");
    sync_vault();
    expect("zebra", "note", "Zebra Plan", true);
    expect("zebra", "heading", "Zebra crossing", true);
    expect("zed", "alias", "Zed", true);
    expect("zed", "alias", "ZED", true);
    same_answer("{\"query\":\"zed\"}");
    /* Changed: the old heading and alias go, the new ones come. */
    write_note("Notes/Zebra Plan.md", "---\naliases: [Zelda]\n---\n# Zebra Plan\n\n## Stripes\n");
    sync_vault();
    expect("zebra", "heading", "Zebra crossing", false);
    expect("stripes", "heading", "Stripes", true);
    expect("zed", "alias", "Zed", false);
    expect("zelda", "alias", "Zelda", true);
    /* A heading every other note has stays for them when one goes. */
    expect("key facts", "heading", "Key Facts", true);
    /* Removed. */
    snprintf(path, sizeof path, "%s/Notes/Zebra Plan.md", mv_root);
    assert_int_equal(unlink(path), 0);
    sync_vault();
    expect("zebra", "note", "Zebra Plan", false);
    expect("stripes", "heading", "Stripes", false);
    expect("zelda", "alias", "Zelda", false);
    /* And the answers are still those of a scan. */
    test_same_answers(state);
}

static void test_rebuilt_index(void **state)
{
    (void)state;
    char root[] = "/tmp/qp-symcat-XXXXXX", db[1100], p[1100];
    qp_error err = QP_ERROR_INIT;
    qp_store *other = NULL;
    qp_vault *v2 = NULL;
    assert_non_null(mkdtemp(root));
    snprintf(p, sizeof p, "%s/Only One.md", root);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("# Only One\n\n## Details\n", f);
    fclose(f);
    snprintf(db, sizeof db, "%s.db", root);
    /* The catalogue has read the fixture's index; this is another. */
    qp_symcat_use(st, cat);
    expect("plan", "note", "Plan", true);
    if (qp_vault_open(&v2, root, &err) != QP_OK ||
        qp_store_open(&other, db, QP_STORE_WRITE, &err) != QP_OK ||
        qp_store_sync(other, v2, NULL, NULL, &err) != QP_OK)
        fail_msg("setup: %s", err.msg);
    qp_symcat_use(other, cat);
    char *out = NULL;
    assert_int_equal(
        qp_query_run(&out, other, v2, "symbols.search", "{\"query\":\"details\"}", &err), QP_OK);
    assert_string_equal(out, "{\"items\":[{\"name\":\"Details\",\"type\":\"heading\",\"path\":"
                             "\"Only One.md\",\"line\":3,\"container\":\"Only One\","
                             "\"match\":\"exact\"}],\"incomplete\":false}");
    free(out);
    qp_store_close(other);
    qp_vault_close(v2);
    unlink(p);
    rmdir(root);
    for (size_t i = 0; i < 3; i++) {
        char name[1200];
        if (qp_store_index_file(db, i, name, sizeof name))
            unlink(name);
    }
    /* Back on the fixture's index, read whole again. */
    expect("plan", "note", "Plan", true);
    expect("only", "note", "Only One", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers),
        cmocka_unit_test(test_follows_changes),
        cmocka_unit_test(test_rebuilt_index),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
