/* test_query_tasks — tasks.query and tasks.blocks on test/fixtures/tasks
 * (a person note with two ```tasks blocks, one of them bad; two meetings;
 * an inbox), against hand-written JSON: exact Task objects, ungrouped and
 * grouped results, the `path includes` and status prefilters, query errors
 * with their line, settings, and `from` placeholders. */
#include "qp_fixture.h"
#include "qp_test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/taskquery.h"
#include "quipu/vault.h"

static int setup(void **state)
{
    (void)state;
    return fixture_open("tasks");
}

static int teardown(void **state)
{
    (void)state;
    fixture_close();
    return 0;
}

#define PRICING  "Meetings/2025-11-14 Pricing sync with Mara Lindqvist.md"
#define PLANNING "Meetings/2025-12-01 Planning.md"
#define MARA     "People/Mara Lindqvist.md"
#define INBOX    "Notes/Inbox.md"

/* A Task object; dates and other optional fields as JSON literals. */
#define TASK(path, line, sym, type, desc, due, sched, start, created, done, cancelled, prio,      \
             recur, tags, heading, text)                                                          \
    "{\"path\":\"" path "\",\"line\":" #line ",\"status\":{\"symbol\":\"" sym                     \
    "\",\"type\":\"" type "\"},\"description\":\"" desc "\",\"due\":" due ",\"scheduled\":" sched \
    ",\"start\":" start ",\"created\":" created ",\"done\":" done ",\"cancelled\":" cancelled     \
    ",\"priority\":\"" prio "\",\"recurrence\":" recur ",\"tags\":" tags ",\"heading\":" heading  \
    ",\"text\":\"" text "\"}"

#define N "null"
#define T_ASK                                                                                   \
    TASK(MARA, 6, " ", "TODO", "Ask Mara about the offsite", N, N, N, N, N, N, "none", N, "[]", \
         "\"Mara Lindqvist\"", "- [ ] Ask Mara about the offsite")
#define T_SEND                                                                                     \
    TASK(PRICING, 8, " ", "TODO", "Mara Lindqvist to send the price list", "\"2025-11-20\"", N, N, \
         N, N, N, "high", N, "[]", "\"Action Items\"",                                             \
         "- [ ] Mara Lindqvist to send the price list 📅 2025-11-20 ⏫")
#define T_ROOM                                                                              \
    TASK(PRICING, 9, "x", "DONE", "Omar to book the room", N, N, N, N, "\"2025-11-15\"", N, \
         "none", N, "[]", "\"Action Items\"", "- [x] Omar to book the room ✅ 2025-11-15")
#define T_DRAFT                                                                                   \
    TASK(PRICING, 10, "/", "IN_PROGRESS", "Draft the proposal #sales", N, N, "\"2025-11-16\"", N, \
         N, N, "none", "\"every week\"", "[\"#sales\"]", "\"Action Items\"",                      \
         "- [/] Draft the proposal #sales 🛫 2025-11-16 🔁 every week")
#define T_OLD                                                                                   \
    TASK(PRICING, 11, "-", "CANCELLED", "Old idea", N, N, N, N, N, "\"2025-11-14\"", "none", N, \
         "[]", "\"Action Items\"", "- [-] Old idea ❌ 2025-11-14")
#define T_PLAN                                                                                     \
    TASK(PLANNING, 8, " ", "TODO", "Plan Q1 #planning", "\"2025-12-10\"", N, N, N, N, N, "low", N, \
         "[\"#planning\"]", "\"Next\"", "- [ ] Plan Q1 📅 2025-12-10 🔽 #planning")
#define T_VENUE                                                                                    \
    TASK(PLANNING, 9, " ", "TODO", "Book venue", N, "\"2025-12-05\"", N, N, N, N, "none", N, "[]", \
         "\"Next\"", "    - [ ] Book venue ⏳ 2025-12-05")
#define T_MILK                                                                              \
    TASK(INBOX, 3, " ", "TODO", "Buy milk", N, N, N, N, N, N, "none", N, "[]", "\"Inbox\"", \
         "- [ ] Buy milk")
#define T_RENT                                                                                \
    TASK(INBOX, 4, "x", "DONE", "Pay rent", N, N, N, N, "\"2025-01-02\"", N, "none", N, "[]", \
         "\"Inbox\"", "- [x] Pay rent ✅ 2025-01-02")

#define PERSON_QUERY "path includes Mara Lindqvist\\nnot done\\nsort by description"
#define PERSON_RESULT \
    "{\"total\":3,\"groups\":[{\"names\":[],\"tasks\":[" T_ASK "," T_DRAFT "," T_SEND "]}]}"

static void test_path_includes_not_done(void **state)
{
    (void)state;
    check("tasks.query", "{\"query\":\"" PERSON_QUERY "\",\"today\":\"2025-11-18\"}",
          PERSON_RESULT);
}

/* The prefilter folds case the way the engine does. */
static void test_path_includes_any_case(void **state)
{
    (void)state;
    check("tasks.query",
          "{\"query\":\"path includes mARA lINDQVIST\\nnot done\\nsort by description\","
          "\"today\":\"2025-11-18\"}",
          PERSON_RESULT);
    /* under three characters: no trigram, a scan */
    check("tasks.query", "{\"query\":\"path includes ox\\nsort by description\"}",
          "{\"total\":2,\"groups\":[{\"names\":[],\"tasks\":[" T_MILK "," T_RENT "]}]}");
}

static void test_done_and_cancelled(void **state)
{
    (void)state;
    check("tasks.query", "{\"query\":\"done\\nsort by path\\nsort by description\"}",
          "{\"total\":3,\"groups\":[{\"names\":[],\"tasks\":[" T_OLD "," T_ROOM "," T_RENT "]}]}");
    check("tasks.query", "{\"query\":\"status.type is CANCELLED\"}",
          "{\"total\":1,\"groups\":[{\"names\":[],\"tasks\":[" T_OLD "]}]}");
}

static void test_grouped(void **state)
{
    (void)state;
    check("tasks.query",
          "{\"query\":\"not done\\ngroup by filename\\nsort by description\","
          "\"today\":\"2025-11-18\"}",
          "{\"total\":6,\"groups\":["
          "{\"names\":[\"[[2025-11-14 Pricing sync with Mara Lindqvist]]\"],\"tasks\":[" T_DRAFT
          "," T_SEND "]},"
          "{\"names\":[\"[[2025-12-01 Planning]]\"],\"tasks\":[" T_VENUE "," T_PLAN "]},"
          "{\"names\":[\"[[Inbox]]\"],\"tasks\":[" T_MILK "]},"
          "{\"names\":[\"[[Mara Lindqvist]]\"],\"tasks\":[" T_ASK "]}]}");
}

/* Group names drop the engine's "%%n%%" ordering prefix. */
static void test_grouped_priority_names(void **state)
{
    (void)state;
    check("tasks.query",
          "{\"query\":\"not done\\ngroup by priority\\nsort by description\","
          "\"today\":\"2025-11-18\"}",
          "{\"total\":6,\"groups\":["
          "{\"names\":[\"High priority\"],\"tasks\":[" T_SEND "]},"
          "{\"names\":[\"Normal priority\"],\"tasks\":[" T_ASK "," T_VENUE "," T_MILK "," T_DRAFT
          "]},"
          "{\"names\":[\"Low priority\"],\"tasks\":[" T_PLAN "]}]}");
}

static void test_due_before_and_limit(void **state)
{
    (void)state;
    check("tasks.query", "{\"query\":\"due before 2025-12-01\"}",
          "{\"total\":1,\"groups\":[{\"names\":[],\"tasks\":[" T_SEND "]}]}");
    /* total counts before the limit */
    check("tasks.query", "{\"query\":\"not done\\nsort by description\\nlimit 2\"}",
          "{\"total\":6,\"groups\":[{\"names\":[],\"tasks\":[" T_ASK "," T_VENUE "]}]}");
}

/* `explain`: the result carries the engine's explanation of the query
 * (the text qp_taskquery_explain gives for it); without it, no key. */
static void test_explain(void **state)
{
    (void)state;
    const char *query = "due before 2025-12-01\nexplain";
    qp_taskquery *q = NULL;
    qp_taskquery_options opts = QP_TASKQUERY_OPTIONS_INIT;
    opts.today = 20251118;
    assert_rc(qp_taskquery_compile(&q, query, &opts, NULL), QP_OK);
    char *want = qp_taskquery_explain(q);
    qp_taskquery_free(q);
    assert_non_null(want);
    assert_non_null(strstr(want, "due before 2025-12-01"));

    char *out = NULL;
    assert_rc(qp_query_run(
                  &out, st, vault, "tasks.query",
                  "{\"query\":\"due before 2025-12-01\\nexplain\",\"today\":\"2025-11-18\"}", NULL),
              QP_OK);
    json_t *r = json_loads(out, 0, NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "explain")), want);
    assert_int_equal(json_integer_value(json_object_get(r, "total")), 1);
    json_decref(r);
    free(out);
    free(want);
    assert_rc(
        qp_query_run(&out, st, vault, "tasks.query", "{\"query\":\"due before 2025-12-01\"}", NULL),
        QP_OK);
    assert_null(strstr(out, "\"explain\""));
    free(out);
}

static void test_from_placeholder(void **state)
{
    (void)state;
    check("tasks.query",
          "{\"query\":\"path includes {{query.file.filenameWithoutExtension}}\\nnot done\\n"
          "sort by description\",\"from\":\"" MARA "\",\"today\":\"2025-11-18\"}",
          PERSON_RESULT);
    check("tasks.query",
          "{\"query\":\"folder includes {{query.file.folder}}\\nsort by description\","
          "\"from\":\"Notes/Query.md\"}",
          "{\"total\":2,\"groups\":[{\"names\":[],\"tasks\":[" T_MILK "," T_RENT "]}]}");
}

/* A global filter from the settings param makes only tagged lines tasks;
 * the description keeps it (the plugin removes it only when searching and
 * sorting, spec A.6), the tags drop it. */
static void test_settings_global_filter(void **state)
{
    (void)state;
    check("tasks.query", "{\"query\":\"not done\",\"settings\":{\"globalFilter\":\"#planning\"}}",
          "{\"total\":1,\"groups\":[{\"names\":[],\"tasks\":[" TASK(
              PLANNING, 8, " ", "TODO", "Plan Q1 #planning", "\"2025-12-10\"", N, N, N, N, N, "low",
              N, "[]", "\"Next\"", "- [ ] Plan Q1 📅 2025-12-10 🔽 #planning") "]}]}");
}

static void test_query_error(void **state)
{
    (void)state;
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, vault, "tasks.query",
                            "{\"query\":\"not done\\nfrobnicate the widgets\"}", &err);
    assert_rc(rc, QP_EQUERY);
    assert_null(out);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "frobnicate the widgets"));
}

static void test_bad_params(void **state)
{
    (void)state;
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, st, vault, "tasks.query", "{}", &err), QP_EINVAL);
    assert_string_equal(err.msg, "missing param: query");
    assert_rc(qp_query_run(&out, st, vault, "tasks.query",
                           "{\"query\":\"done\",\"today\":\"18.11.2025\"}", &err),
              QP_EINVAL);
    assert_rc(
        qp_query_run(&out, st, vault, "tasks.query", "{\"query\":\"done\",\"settings\":[]}", &err),
        QP_EINVAL);
    assert_rc(qp_query_run(&out, st, vault, "tasks.blocks", "{\"note\":\"Nobody\"}", &err),
              QP_ENOTFOUND);
    assert_null(out);
}

static void test_blocks(void **state)
{
    (void)state;
    char want[16384];
    snprintf(want, sizeof want,
             "[{\"line\":10,\"query\":\"path includes Mara Lindqvist\\nnot done\\nsort by "
             "description\",\"result\":%s},"
             "{\"line\":16,\"query\":\"not done\\nfrobnicate the widgets\",\"error\":{\"line\":2,"
             "\"message\":\"%s\"}}]",
             PERSON_RESULT,
             "do not understand query\\nProblem line: \\\"frobnicate the widgets\\\"");
    check("tasks.blocks", "{\"note\":\"Mara Lindqvist\",\"today\":\"2025-11-18\"}", want);
}

static void test_blocks_of_note_without_blocks(void **state)
{
    (void)state;
    check("tasks.blocks", "{\"note\":\"" INBOX "\"}", "[]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_includes_not_done),
        cmocka_unit_test(test_path_includes_any_case),
        cmocka_unit_test(test_done_and_cancelled),
        cmocka_unit_test(test_grouped),
        cmocka_unit_test(test_grouped_priority_names),
        cmocka_unit_test(test_due_before_and_limit),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_from_placeholder),
        cmocka_unit_test(test_settings_global_filter),
        cmocka_unit_test(test_query_error),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_blocks_of_note_without_blocks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
