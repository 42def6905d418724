/* test_taskcat — the task catalogue: tasks.query answers from it byte for
 * byte as it answers from a read of every task line, on a vault made for
 * it (statuses of every type, every date field, a date that is no calendar
 * day, headings and none, a quoted task, file names whose byte order is
 * not their collation order, non-ASCII paths and headings), for queries on
 * the catalogue's fields and for queries that are not (answered from the
 * lines, as before), whole and page by page; it follows the index as notes
 * are added, changed, moved and removed, and a reader whose snapshot is
 * older than the catalogue gets its own snapshot's answer. */
#include "qp_test.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quipu/init.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/taskcat.h"
#include "quipu/vault.h"
#include "store_int.h"

static qp_store *st;
static qp_vault *vault;
static qp_taskcat *cat;
static char root[] = "/tmp/qp-taskcat-XXXXXX";
static char dbdir[] = "/tmp/qp-taskcat-db-XXXXXX";
static char db[1100];

#define ALPHA "Meetings/2025-01-10 Alpha.md"

static const char *const files[][2] = {
    {ALPHA, "# Alpha\n"                                                                  /* 1 */
            "\n"                                                                         /* 2 */
            "## Action Items\n"                                                          /* 3 */
            "\n"                                                                         /* 4 */
            "- [ ] Send notes \xf0\x9f\x93\x85 2025-01-12 \xe2\x8f\xab\n"                /* 5 */
            "- [x] Booked \xe2\x9c\x85 2025-01-09\n"                                     /* 6 */
            "- [/] Draft plan \xf0\x9f\x9b\xab 2025-01-11 \xf0\x9f\x94\x81 every week\n" /* 7 */
            "    - [ ] Sub step \xe2\x8f\xb3 2025-01-15\n"                               /* 8 */
            "- [ ] Bad date \xf0\x9f\x93\x85 2025-02-30\n"                               /* 9 */
            "- [-] Dropped \xe2\x9d\x8c 2025-01-10\n"                                    /* 10 */
            "\n"                                                                         /* 11 */
            "## Later\n"                                                                 /* 12 */
            "\n"                                                                         /* 13 */
            "- [ ] Review #review \xf0\x9f\x93\x85 2025-01-12 \xf0\x9f\x94\xbd\n"        /* 14 */
            "- [?] Odd status \xe2\x9e\x95 2024-12-30\n"                                 /* 15 */
            "- [ ] Tie \xf0\x9f\x93\x85 2025-01-25\n"},                                  /* 16 */
    /* "b01" and "b1" compare equal to the plugin (digits as numbers): their
     * tasks, which tie on every key, keep the index's order, the bytes' */
    {"Projects/b1.md", "- [ ] Tie \xf0\x9f\x93\x85 2025-01-25\n"},
    {"Projects/b01.md", "- [ ] Tie \xf0\x9f\x93\x85 2025-01-25\n"},
    {"Meetings/2025-01-10 alpha.md", "- [ ] lower case note \xf0\x9f\x93\x85 2025-01-12\n"
                                     "- [ ] Tie \xf0\x9f\x93\x85 2025-01-25\n"},
    {"Projects/\xc3\x9cn\xc3\xaf"
     "code Plan.md",
     "# \xc3\x9cn\xc3\xaf"
     "code Plan\n"
     "## \xc3\x89tapes\n"
     "- [ ] \xc3\x89tape un \xe2\x8f\xb3 2025-01-05 \xf0\x9f\x94\xba\n"
     "- [ ] \xc3\x89tape deux \xe2\x8f\xac \xf0\x9f\x9b\xab 2025-03-01\n"},
    {"Projects/a10.md", "- [ ] ten \xf0\x9f\x93\x85 2025-01-20\n"},
    {"Projects/a9.md", "- [ ] nine \xf0\x9f\x93\x85 2025-01-20\n"},
    {"Inbox.md", "- [ ] Buy milk\n"
                 "- [x] Pay rent \xe2\x9c\x85 2025-01-02\n"
                 "> - [ ] quoted task \xf0\x9f\x93\x85 2025-01-12\n"
                 "- [ ] first \xf0\x9f\x86\x94 abc\n"
                 "- [ ] second \xe2\x9b\x94 abc\n"},
    {"Notes/No Tasks.md", "# Nothing to do\n"},
};

static void write_file(const char *rel, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static void remove_file(const char *rel)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    assert_int_equal(unlink(path), 0);
}

static void sync_vault(void)
{
    qp_error err = QP_ERROR_INIT;
    if (qp_store_sync(st, vault, NULL, NULL, &err) != QP_OK)
        fail_msg("sync: %s", err.msg);
}

static int setup(void **state)
{
    (void)state;
    qp_error err = QP_ERROR_INIT;
    qp_init();
    if (!mkdtemp(root) || !mkdtemp(dbdir))
        return -1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_file(files[i][0], files[i][1]);
    snprintf(db, sizeof db, "%s/index.db", dbdir);
    if (qp_vault_open(&vault, root, &err) != QP_OK ||
        qp_store_open(&st, db, QP_STORE_WRITE, &err) != QP_OK ||
        qp_store_sync(st, vault, NULL, NULL, &err) != QP_OK || qp_taskcat_new(&cat, &err) != QP_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1300];
    qp_taskcat_use(st, NULL);
    qp_taskcat_free(cat);
    qp_store_close(st);
    qp_vault_close(vault);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, dbdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *ask(qp_store *s, const char *params)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    if (qp_query_run(&out, s, vault, "tasks.query", params, &err) != QP_OK)
        fail_msg("tasks.query %s: %s", params, err.msg);
    return out;
}

/* The answer of store s to `params` read from every line and from the
 * catalogue: the same bytes. Returns the catalogue's (the caller frees). */
static char *same_on(qp_store *s, const char *params)
{
    qp_taskcat_use(s, NULL);
    char *lines = ask(s, params);
    qp_taskcat_use(s, cat);
    char *fromcat = ask(s, params);
    qp_taskcat_use(s, NULL);
    if (strcmp(lines, fromcat) != 0)
        fail_msg("%s:\n lines     %s\n catalogue %s", params, lines, fromcat);
    free(lines);
    return fromcat;
}

static const char *const queries[] = {
    "not done\\ngroup by filename\\nsort by due",
    "done",
    "",
    "due before 2025-01-13\\ngroup by folder",
    "due after 2025-01-01\\nsort by path reverse",
    "due on 2025-01-12\\ngroup by root",
    "has due date\\ngroup by due",
    "due date is invalid",
    "no due date\\nsort by happens",
    "(priority is high) OR (priority is highest)\\ngroup by priority",
    "priority is not none\\nsort by priority reverse",
    "not done\\nsort by urgency\\ngroup by heading",
    "happens before 2025-02-01\\ngroup by happens\\nsort by status",
    "status.type is IN_PROGRESS",
    "not done\\ngroup by backlink\\nsort by filename",
    "filename includes alpha\\ngroup by status.type",
    "heading includes Action\\nsort by scheduled reverse",
    "not done\\ngroup by status.type\\nsort by start\\nlimit 4",
    "not done\\nlimit groups 1\\ngroup by filename",
    "starts after 2025-02-01",
    "NOT (done)\\nsort by created",
    "created before 2025-01-01",
    "scheduled on or before 2025-01-05\\ngroup by scheduled",
    "not done\\ngroup by path\\ngroup by heading\\nsort by path",
    "folder includes Projects\\ngroup by root",
    "explain\\nnot done\\nsort by due\\nlimit 2",
    /* not on the catalogue's fields: read from the lines either way */
    "description includes step",
    "path includes Alpha\\nnot done",
    "is blocked",
    "sort by description",
    "group by tags",
    "is recurring",
    "status.name includes to",
    "show tree\\nnot done",
};

static void test_same_answers(void **state)
{
    (void)state;
    char params[512];
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        snprintf(params, sizeof params, "{\"query\":\"%s\",\"today\":\"2025-01-11\"}", queries[i]);
        free(same_on(st, params));
    }
    assert_true(qp_taskcat_bytes(cat) > 0);
}

/* Page by page, with the cursor each page hands on, the same pages. */
static void test_same_pages(void **state)
{
    (void)state;
    static const char *const q[] = {"not done\\ngroup by filename\\nsort by due", "",
                                    "has due date\\ngroup by due"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char params[512], *cursor = NULL;
        size_t pages = 0, tasks = 0;
        do {
            snprintf(params, sizeof params,
                     "{\"query\":\"%s\",\"today\":\"2025-01-11\",\"limit\":2}", q[i]);
            if (cursor) { /* the cursor is a string: let jansson quote it */
                json_t *p = json_loads(params, 0, NULL);
                json_object_set_new(p, "cursor", json_string(cursor));
                char *text = json_dumps(p, JSON_COMPACT);
                snprintf(params, sizeof params, "%s", text);
                free(text);
                json_decref(p);
            }
            free(cursor);
            cursor = NULL;
            char *a = same_on(st, params);
            json_t *j = json_loads(a, 0, NULL), *g;
            size_t k;
            json_array_foreach(json_object_get(j, "groups"), k, g)
            {
                tasks += json_array_size(json_object_get(g, "tasks"));
            }
            const char *next = json_string_value(json_object_get(j, "next_cursor"));
            if (next)
                cursor = strdup(next);
            if (!cursor) /* the last page: every task was on one */
                assert_int_equal(tasks, json_integer_value(json_object_get(j, "total")));
            json_decref(j);
            free(a);
            pages++;
        } while (cursor && pages < 50);
        assert_true(pages > 1);
    }
}

/* What the catalogue keeps of a task is what orders, filters and names it
 * (written by hand from the vault above). */
static void test_fields(void **state)
{
    (void)state;
    qp_taskcat_use(st, cat);
    /* the date that is no calendar day is invalid, not absent */
    char *a = ask(st, "{\"query\":\"due date is invalid\",\"today\":\"2025-01-11\"}");
    json_t *j = json_loads(a, 0, NULL);
    json_t *t = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "groups"), 0), "tasks"), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    assert_string_equal(json_string_value(json_object_get(t, "path")), ALPHA);
    assert_int_equal(json_integer_value(json_object_get(t, "line")), 9);
    json_decref(j);
    free(a);
    /* equal due dates: a9 before a10 (the plugin's numeric collation),
     * though "a10" < "a9" in bytes */
    a = ask(st, "{\"query\":\"due on 2025-01-20\",\"today\":\"2025-01-11\"}");
    j = json_loads(a, 0, NULL);
    json_t *ts = json_object_get(json_array_get(json_object_get(j, "groups"), 0), "tasks");
    assert_int_equal(json_array_size(ts), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 0), "path")),
                        "Projects/a9.md");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 1), "path")),
                        "Projects/a10.md");
    json_decref(j);
    free(a);
    /* alpha before Alpha (lower case first, as the plugin's collation
     * has it), then b01 and b1, a tie on every key, in byte order */
    a = ask(st, "{\"query\":\"due on 2025-01-25\",\"today\":\"2025-01-11\"}");
    j = json_loads(a, 0, NULL);
    ts = json_object_get(json_array_get(json_object_get(j, "groups"), 0), "tasks");
    static const char *const order[] = {"Meetings/2025-01-10 alpha.md", ALPHA, "Projects/b01.md",
                                        "Projects/b1.md"};
    assert_int_equal(json_array_size(ts), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(ts, i), "path")),
                            order[i]);
    json_decref(j);
    free(a);
    /* grouped by heading: the non-ASCII heading and "(No heading)" */
    a = ask(st, "{\"query\":\"not done\\ngroup by heading\",\"today\":\"2025-01-11\"}");
    assert_non_null(strstr(a, "\"names\":[\"\xc3\x89tapes\"]"));
    assert_non_null(strstr(a, "\"names\":[\"(No heading)\"]"));
    free(a);
    qp_taskcat_use(st, NULL);
}

static void test_follows_changes(void **state)
{
    (void)state;
    const char *q = "{\"query\":\"not done\\ngroup by filename\\nsort by due\","
                    "\"today\":\"2025-01-11\"}";
    qp_taskcat_use(st, cat);
    free(ask(st, q)); /* the catalogue is current */
    /* changed: a task goes, two come, one moves to another heading */
    write_file(ALPHA, "# Alpha\n\n## Action Items\n\n- [ ] Send notes \xf0\x9f\x93\x85 2025-01-12\n"
                      "- [ ] New one \xf0\x9f\x93\x85 2025-01-01\n\n## Later\n\n"
                      "- [ ] Review #review\n- [ ] Another \xe2\x8f\xb3 2025-01-03\n");
    /* added, with a path that sorts between two others */
    write_file("Projects/a95.md", "- [ ] ninety-five \xf0\x9f\x93\x85 2025-01-20\n");
    sync_vault();
    char *a = same_on(st, q);
    json_t *j = json_loads(a, 0, NULL);
    /* by hand: Alpha 4, alpha 2, Unicode 2, a10, a9, a95, b01 and b1 1, Inbox 4 */
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 17);
    json_decref(j);
    free(a);
    free(same_on(st, "{\"query\":\"due on 2025-01-20\",\"today\":\"2025-01-11\"}"));
    /* moved (removed and added in one sync) and removed */
    remove_file("Projects/a95.md");
    write_file("Archive/a95.md", "- [ ] ninety-five \xf0\x9f\x93\x85 2025-01-20\n");
    remove_file("Meetings/2025-01-10 alpha.md");
    sync_vault();
    a = same_on(st, q);
    j = json_loads(a, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 15);
    json_decref(j);
    assert_non_null(strstr(a, "\"path\":\"Archive/a95.md\""));
    assert_null(strstr(a, "\"path\":\"Projects/a95.md\""));
    assert_null(strstr(a, "lower case note"));
    free(a);
    test_same_answers(state);
}

/* A reader whose snapshot predates the catalogue's answers as of its
 * snapshot (it reads the lines), and catches up after. */
static void test_older_snapshot(void **state)
{
    (void)state;
    qp_error err = QP_ERROR_INIT;
    qp_store *reader = NULL;
    const char *q = "{\"query\":\"not done\\nsort by due\",\"today\":\"2025-01-11\"}";
    assert_int_equal(qp_store_open(&reader, db, QP_STORE_READ, &err), QP_OK);
    char *before = same_on(reader, q);
    assert_true(qp__store_read_begin(reader));
    (void)qp_store_generation(reader); /* the snapshot starts here */
    write_file("Inbox.md", "- [ ] Buy milk\n- [ ] Buy bread \xf0\x9f\x93\x85 2025-01-04\n");
    sync_vault();
    qp_taskcat_use(st, cat);
    char *after = ask(st, q); /* the catalogue is now ahead of the reader */
    qp_taskcat_use(st, NULL);
    assert_non_null(strstr(after, "Buy bread"));
    qp_taskcat_use(reader, cat);
    char *old = ask(reader, q);
    qp_taskcat_use(reader, NULL);
    assert_string_equal(old, before);
    qp__store_read_end(reader);
    char *now = same_on(reader, q);
    assert_string_equal(now, after);
    free(before);
    free(after);
    free(old);
    free(now);
    qp_store_close(reader);
}

/* An answer that writes more tasks than SLIM_FROM (query_tasks.c) cuts
 * the task set down before writing: the same bytes still. */
static void test_many_tasks(void **state)
{
    (void)state;
    size_t cap = 6000 * 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "# Big\n\n## Many\n\n");
    for (int i = 0; i < 6000; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "- [%c] task %d \xf0\x9f\x93\x85 2025-%02d-%02d\n",
                                i % 7 == 0 ? 'x' : ' ', i, 1 + i % 12, 1 + i % 28);
    write_file("Big.md", text);
    free(text);
    sync_vault();
    char *a = same_on(st, "{\"query\":\"not done\\nsort by due\",\"today\":\"2025-01-11\"}");
    json_t *j = json_loads(a, 0, NULL);
    /* 6000 tasks, every 7th done: 5142 not done, and the vault's others */
    assert_true(json_integer_value(json_object_get(j, "total")) > 5142);
    json_decref(j);
    free(a);
    free(same_on(st, "{\"query\":\"group by due\",\"today\":\"2025-01-11\"}"));
    remove_file("Big.md");
    sync_vault();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers),   cmocka_unit_test(test_same_pages),
        cmocka_unit_test(test_fields),         cmocka_unit_test(test_follows_changes),
        cmocka_unit_test(test_older_snapshot), cmocka_unit_test(test_many_tasks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
