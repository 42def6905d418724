/* test_query — the query methods on test/fixtures/people (persons, meetings
 * with and without dates, aliases, duplicate basenames, a renamed person,
 * "Mentioned in" lines listed / missing / stale), against hand-written JSON. */
#include "qp_fixture.h"
#include "qp_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "quipu/init.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"

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

#define PRICING  "Meetings/2025/2025-11-14 Pricing sync.md"
#define SUPPORT  "Meetings/2025/2025-10-30 Support model.md"
#define PLANNING "Meetings/2025/2025-12-01 Planning.md"
#define STANDUP  "Meetings/Undated standup.md"

#define SRC_PRICING                                                              \
    "{\"path\":\"" PRICING "\",\"kind\":\"meeting\",\"title\":\"Pricing sync\"," \
    "\"date\":\"2025-11-14\",\"occurrences\":[{\"line\":6,\"column\":3,"         \
    "\"context\":\"- \\\"[[Mara Lindqvist]]\\\"\"}]}"
#define SRC_PLANNING                                                                     \
    "{\"path\":\"" PLANNING "\",\"kind\":\"meeting\",\"title\":\"2025-12-01 Planning\"," \
    "\"date\":\"2025-12-01\",\"occurrences\":[{\"line\":5,\"column\":15,"                \
    "\"context\":\"Planning with [[mara lindqvist|Mara]] and [[Omar Castell]].\"}]}"
#define SRC_SUPPORT                                                              \
    "{\"path\":\"" SUPPORT "\",\"kind\":\"meeting\","                            \
    "\"title\":\"1:1 with Rob Kestrel, support model\",\"date\":\"2025-10-30\"," \
    "\"occurrences\":[{\"line\":9,\"column\":1,"                                 \
    "\"context\":\"Mara Lindqvist wants a monthly review.\"}]}"
#define SRC_STANDUP                                                                 \
    "{\"path\":\"" STANDUP "\",\"kind\":\"meeting\",\"title\":\"Undated standup\"," \
    "\"date\":null,\"occurrences\":[{\"line\":5,\"column\":1,"                      \
    "\"context\":\"Mara L said hi; [[Robert Kestrel]] was there too.\"}]}"

static void test_backlinks_linked_only(void **state)
{
    (void)state;
    check("backlinks", "{\"note\":\"Mara Lindqvist\"}",
          "{\"path\":\"People/Mara Lindqvist.md\",\"linked\":[" SRC_PRICING "," SRC_PLANNING "]}");
}

static void test_backlinks_with_unlinked(void **state)
{
    (void)state;
    check("backlinks", "{\"note\":\"People/Mara Lindqvist.md\",\"unlinked\":true}",
          "{\"path\":\"People/Mara Lindqvist.md\","
          "\"linked\":[" SRC_PRICING "," SRC_PLANNING "],"
          "\"unlinked\":[" SRC_SUPPORT "," SRC_STANDUP ","
          "{\"path\":\"Notes/Random.md\",\"kind\":\"note\",\"title\":\"Random\",\"date\":null,"
          "\"occurrences\":[{\"line\":3,\"column\":14,\"context\":\"A note about MARA "
          "LINDQVIST.\"}]},"
          "{\"path\":\"People/Omar Castell.md\",\"kind\":\"person\",\"title\":\"Omar Castell\","
          "\"date\":null,\"occurrences\":[{\"line\":7,\"column\":27,\"context\":\"- Omar "
          "Castell reports to Mara Lindqvist at Northwind.\"}]}]}");
}

static void test_renamed_person(void **state)
{
    (void)state;
    /* [[Robert Kestrel]] (the old name, now an alias) stays unresolved and
     * its text is a link span, so it is no unlinked mention either. */
    check("backlinks", "{\"note\":\"[[Rob Kestrel]]\",\"unlinked\":true}",
          "{\"path\":\"People/Rob Kestrel.md\","
          "\"linked\":[{\"path\":\"" SUPPORT "\",\"kind\":\"meeting\","
          "\"title\":\"1:1 with Rob Kestrel, support model\",\"date\":\"2025-10-30\","
          "\"occurrences\":[{\"line\":7,\"column\":12,\"context\":\"# 1:1 with [[Rob "
          "Kestrel]]\"}]}],"
          "\"unlinked\":[{\"path\":\"People/Mara Lindqvist.md\",\"kind\":\"person\","
          "\"title\":\"Mara Lindqvist\",\"date\":null,\"occurrences\":[{\"line\":15,"
          "\"column\":38,\"context\":\"- 2025-10-30: Mentioned in: 1:1 with ROB KESTREL, "
          "support model\"}]}]}");
    check("resolve", "{\"link\":\"Robert Kestrel\"}", "{\"path\":null}");
}

static void test_mentions(void **state)
{
    (void)state;
    check("mentions", "{\"note\":\"Mara Lindqvist\"}",
          "{\"path\":\"People/Mara Lindqvist.md\","
          "\"mentioned_in\":[" SRC_PLANNING "," SRC_PRICING "," SRC_SUPPORT "," SRC_STANDUP "],"
          "\"listed\":[{\"line\":14,\"title\":\"Pricing sync\",\"path\":\"" PRICING "\"},"
          "{\"line\":15,\"title\":\"1:1 with ROB KESTREL, support model\",\"path\":\"" SUPPORT
          "\"},"
          "{\"line\":16,\"title\":\"Old offsite\",\"path\":null}],"
          "\"missing\":[\"" PLANNING "\",\"" STANDUP "\"],"
          "\"stale\":[{\"line\":16,\"title\":\"Old offsite\"}]}");
}

static void test_duplicate_basenames(void **state)
{
    (void)state;
    check("resolve", "{\"link\":\"Alex Kim\",\"from\":\"" PRICING "\"}",
          "{\"path\":\"People/Alex Kim.md\"}");
    check("resolve", "{\"link\":\"[[Alex Kim#Nope|x]]\",\"from\":\"Contractors/Alex Kim.md\"}",
          "{\"path\":\"Contractors/Alex Kim.md\",\"subpath\":\"#Nope\",\"subpath_found\":false,"
          "\"subpath_line\":0}");
    check("backlinks", "{\"note\":\"Contractors/Alex Kim.md\"}",
          "{\"path\":\"Contractors/Alex Kim.md\",\"linked\":[]}");
    check("resolve", "{\"link\":\"Mara Lindqvist#Recent Context\"}",
          "{\"path\":\"People/Mara Lindqvist.md\",\"subpath\":\"#Recent Context\","
          "\"subpath_found\":true,\"subpath_line\":12}");
}

/* A parallel run that splits the tasks over a second thread (odd ones
 * there, even ones here), each side in reverse order: the answers must not
 * depend on which thread verifies a candidate, nor in what order. */
typedef struct split {
    qp_store_task_fn fn;
    void *arg;
    size_t n;
} split;

static void *odd_tasks(void *p)
{
    split *s = p;
    for (size_t i = s->n; i-- > 0;)
        if (i % 2)
            s->fn(s->arg, i);
    return NULL;
}

static void split_run(void *ctx, qp_store_task_fn fn, void *arg, size_t n)
{
    split s = {fn, arg, n};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, odd_tasks, &s), 0);
    for (size_t i = n; i-- > 0;)
        if (i % 2 == 0)
            fn(arg, i);
    assert_int_equal(pthread_join(t, NULL), 0);
    (*(int *)ctx)++;
}

static void test_unlinked_in_parallel(void **state)
{
    int runs = 0;
    qp_store_parallel p = {split_run, &runs};
    qp_store_set_parallel(st, &p);
    test_backlinks_with_unlinked(state);
    test_renamed_person(state);
    test_mentions(state);
    qp_store_set_parallel(st, NULL);
    assert_true(runs >= 3); /* the hook was used */
}

static void test_status(void **state)
{
    (void)state;
    check("status", "{}",
          "{\"generation\":1,\"files\":10,\"notes\":{\"person\":5,\"meeting\":4,\"other\":1},"
          "\"tasks\":1,\"links\":6,\"unresolved_links\":1,\"problems\":{"
          "\"unresolved_link\":1,\"unresolved_subpath\":0,\"frontmatter\":0,\"size\":0,"
          "\"binary\":0,\"encoding\":0,\"tasks_query\":0}}");
}

static void test_note(void **state)
{
    (void)state;
    check("note", "{\"note\":\"Rob Kestrel\"}",
          "{\"path\":\"People/Rob Kestrel.md\",\"kind\":\"person\",\"title\":\"Rob Kestrel\","
          "\"date\":null,\"aliases\":[\"Robert Kestrel\"],\"tags\":[],"
          "\"properties\":{\"type\":\"person\",\"aliases\":[\"Robert Kestrel\"]},"
          "\"headings\":[{\"level\":1,\"text\":\"Rob Kestrel\",\"line\":6}],"
          "\"links\":[],\"tasks\":[]}");
    check("note", "{\"note\":\"" PLANNING "\"}",
          "{\"path\":\"" PLANNING "\",\"kind\":\"meeting\",\"title\":\"2025-12-01 Planning\","
          "\"date\":\"2025-12-01\",\"aliases\":[],\"tags\":[\"#type/meeting\"],"
          "\"properties\":{\"tags\":[\"type/meeting\"]},\"headings\":[],"
          "\"links\":[{\"line\":5,\"column\":15,\"target\":\"mara lindqvist\",\"subpath\":null,"
          "\"display\":\"Mara\",\"embed\":false,\"key\":null,"
          "\"path\":\"People/Mara Lindqvist.md\"},"
          "{\"line\":5,\"column\":43,\"target\":\"Omar Castell\",\"subpath\":null,"
          "\"display\":null,\"embed\":false,\"key\":null,\"path\":\"People/Omar Castell.md\"}],"
          "\"tasks\":[{\"line\":6,\"status\":{\"symbol\":\" \"},"
          "\"text\":\"Mara Lindqvist to send the plan \xf0\x9f\x93\x85 2025-12-05\"}]}");
}

static void expect_error(const char *method, const char *params, qp_rc want, const char *needle)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, st, vault, method, params, &err), want);
    assert_null(out);
    if (!strstr(err.msg, needle))
        fail_msg("%s %s: message \"%s\" lacks \"%s\"", method, params, err.msg, needle);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("backlinks", "{}", QP_EINVAL, "note");
    expect_error("backlinks", "{\"note\":3}", QP_EINVAL, "note");
    expect_error("backlinks", "{\"note\":\"X\",\"unlinked\":\"yes\"}", QP_EINVAL, "unlinked");
    expect_error("note", "{\"note\":\"Nobody Here\"}", QP_ENOTFOUND, "Nobody Here");
    expect_error("mentions", "{\"note\":\"Robert Kestrel\"}", QP_ENOTFOUND, "Robert Kestrel");
    expect_error("resolve", "{}", QP_EINVAL, "link");
    expect_error("nope", "{}", QP_EINVAL, "nope");
    expect_error("status", "[1]", QP_EINVAL, "object");
    expect_error("status", "{bad", QP_EINVAL, "JSON");
    expect_error("tasks.query", "{\"query\":\"not done\\nbogus line\"}", QP_EQUERY, "bogus line");
}

static void test_reader_sees_committed_snapshot(void **state)
{
    (void)state;
    qp_store *r = NULL;
    assert_rc(qp_store_open(&r, fixture_db, QP_STORE_READ, NULL), QP_OK);
    char *out = NULL;
    assert_rc(qp_query_run(&out, r, NULL, "backlinks", "{\"note\":\"Omar Castell\"}", NULL), QP_OK);
    assert_non_null(strstr(out, PLANNING));
    free(out);
    qp_store_close(r);
}

int main(void)
{
    qp_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backlinks_linked_only),
        cmocka_unit_test(test_backlinks_with_unlinked),
        cmocka_unit_test(test_renamed_person),
        cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_unlinked_in_parallel),
        cmocka_unit_test(test_duplicate_basenames),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_note),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_reader_sees_committed_snapshot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
