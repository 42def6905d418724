/* Unit tests for the task-line reader (lib/tasks.c) and the recurrence
 * rule reader (lib/tq_recur.c). Expected values are written by hand from
 * the spec (shared/spec/tasks-query.md, Part A). */
#include "qp_test.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "quipu/tasks.h"
#include "taskquery_int.h"

typedef struct fixture {
    qp_arena *arena;
    qp_task t;
    bool is_task;
} fixture;

static fixture fx;

static bool parse_with(const char *line, const qp_tasks_settings *s)
{
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_task_parse_line(&fx.t, &fx.is_task, line, strlen(line), "a/b/c.md", "H", s,
                                 fx.arena, &err),
              QP_OK);
    return fx.is_task;
}

static bool parse(const char *line)
{
    return parse_with(line, NULL);
}

static int setup(void **state)
{
    (void)state;
    fx.arena = qp_arena_new();
    return fx.arena == NULL;
}

static int teardown(void **state)
{
    (void)state;
    qp_arena_free(fx.arena);
    fx.arena = NULL;
    return 0;
}

static void test_which_lines_are_tasks(void **state)
{
    (void)state;
    assert_true(parse("- [ ] a"));
    assert_true(parse("* [x] a"));
    assert_true(parse("+ [/] a"));
    assert_true(parse("12. [ ] a"));
    assert_true(parse("3) [ ] a"));
    assert_true(parse("> - [ ] in a callout"));
    assert_true(parse("\t> >  - [ ] nested callout"));
    assert_true(parse("- [ ]"));   /* empty body */
    assert_true(parse("- [é] x")); /* one BMP character */
    assert_false(parse("- [] a"));
    assert_false(parse("- [xx] a"));
    assert_false(parse("-[ ] a"));
    assert_false(parse("a - [ ] b"));
    assert_false(parse("- [🔥] two UTF-16 units"));
    assert_false(parse("1 [ ] no marker dot"));
    assert_false(parse("plain text"));
}

static void test_statuses(void **state)
{
    (void)state;
    assert_true(parse("- [ ] a"));
    assert_string_equal(fx.t.status_name, "Todo");
    assert_int_equal(fx.t.status_type, QP_STATUS_TODO);
    assert_true(parse("- [x] a"));
    assert_int_equal(fx.t.status_type, QP_STATUS_DONE);
    assert_true(qp_task_is_done(&fx.t));
    assert_true(parse("- [/] a"));
    assert_string_equal(fx.t.status_name, "In Progress");
    assert_int_equal(fx.t.status_type, QP_STATUS_IN_PROGRESS);
    assert_true(parse("- [-] a"));
    assert_int_equal(fx.t.status_type, QP_STATUS_CANCELLED);
    assert_true(qp_task_is_done(&fx.t));
    /* uppercase X is an unknown TODO with the default registry */
    assert_true(parse("- [X] a"));
    assert_string_equal(fx.t.symbol, "X");
    assert_string_equal(fx.t.status_name, "Unknown");
    assert_int_equal(fx.t.status_type, QP_STATUS_TODO);
    assert_false(qp_task_is_done(&fx.t));
}

static void test_custom_statuses(void **state)
{
    qp_tasks_settings *s = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    assert_rc(
        qp_tasks_settings_from_json(&s,
                                    "{\"statuses\": [[\"X\", \"Really Done\", \"x\", \"DONE\"],"
                                    " [\"h\", \"On Hold\", \" \", \"ON_HOLD\"]]}",
                                    &err),
        QP_OK);
    assert_true(parse_with("- [X] a", s));
    assert_string_equal(fx.t.status_name, "Really Done");
    assert_true(qp_task_is_done(&fx.t));
    assert_true(parse_with("- [h] a", s));
    assert_int_equal(fx.t.status_type, QP_STATUS_ON_HOLD);
    assert_false(qp_task_is_done(&fx.t));
    qp_tasks_settings_free(s);

    assert_rc(
        qp_tasks_settings_from_json(&s, "{\"statuses\": [[\"X\", \"a\", \"b\", \"BOGUS\"]]}", &err),
        QP_EINVAL);
    assert_null(s);
    assert_rc(qp_tasks_settings_from_json(&s, "[1]", &err), QP_EINVAL);
    assert_rc(qp_tasks_settings_from_json(&s, NULL, &err), QP_OK);
    qp_tasks_settings_free(s);
}

static void test_all_emoji_fields(void **state)
{
    (void)state;
    assert_true(
        parse("  - [ ] Do exercises #todo #health 🆔 abcdef ⛔ 123456,abc123 🔼 "
              "🔁 every day when done 🏁 delete ➕ 2023-07-01 🛫 2023-07-02 ⏳ 2023-07-03 "
              "📅 2023-07-04 ❌ 2023-07-06 ✅ 2023-07-05 ^dcf64c"));
    assert_string_equal(fx.t.description, "Do exercises #todo #health");
    assert_string_equal(fx.t.indent, "  ");
    assert_string_equal(fx.t.id, "abcdef");
    assert_int_equal(fx.t.n_depends_on, 2);
    assert_string_equal(fx.t.depends_on[0], "123456");
    assert_string_equal(fx.t.depends_on[1], "abc123");
    assert_int_equal(fx.t.priority, QP_PRIORITY_MEDIUM);
    assert_string_equal(fx.t.recurrence, "every day when done");
    assert_string_equal(fx.t.on_completion, "delete");
    assert_int_equal(fx.t.dates[QP_TASK_CREATED], 20230701);
    assert_int_equal(fx.t.dates[QP_TASK_START], 20230702);
    assert_int_equal(fx.t.dates[QP_TASK_SCHEDULED], 20230703);
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230704);
    assert_int_equal(fx.t.dates[QP_TASK_CANCELLED], 20230706);
    assert_int_equal(fx.t.dates[QP_TASK_DONE], 20230705);
    assert_int_equal(fx.t.invalid_dates, 0);
    assert_string_equal(fx.t.block_link, "^dcf64c");
    assert_int_equal(fx.t.n_tags, 2);
    assert_string_equal(fx.t.tags[0], "#todo");
    assert_string_equal(fx.t.tags[1], "#health");
}

static void test_fields_only_at_the_end(void **state)
{
    (void)state;
    /* text after a field hides every field before it */
    assert_true(parse("- [ ] a 📅 2023-01-01 more text"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 0);
    assert_string_equal(fx.t.description, "a 📅 2023-01-01 more text");
    /* no space needed before the signifier, any number after it */
    assert_true(parse("- [ ] buy milk📅2023-01-01"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230101);
    assert_string_equal(fx.t.description, "buy milk");
    /* alternative signifiers and the variation selector */
    assert_true(parse("- [ ] a 🗓️ 2023-03-04 ⌛ 2023-03-01 ⏫️"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230304);
    assert_int_equal(fx.t.dates[QP_TASK_SCHEDULED], 20230301);
    assert_int_equal(fx.t.priority, QP_PRIORITY_HIGH);
    /* a value that is not a date stays in the description */
    assert_true(parse("- [ ] a 📅 23-02-28"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 0);
    assert_string_equal(fx.t.description, "a 📅 23-02-28");
}

static void test_interleaved_tags_and_duplicates(void **state)
{
    (void)state;
    assert_true(parse("- [ ] Do it #t1 📅 2023-01-01 #t2 ⏫"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230101);
    assert_int_equal(fx.t.priority, QP_PRIORITY_HIGH);
    assert_string_equal(fx.t.description, "Do it #t1 #t2");
    assert_int_equal(fx.t.n_tags, 2);
    /* the left-most of a repeated field wins */
    assert_true(parse("- [ ] x 📅 2023-02-02 📅 2023-01-01"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230202);
    assert_string_equal(fx.t.description, "x");
}

static void test_invalid_dates(void **state)
{
    (void)state;
    assert_true(parse("- [ ] x 📅 2023-02-30"));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230230);
    assert_true(fx.t.invalid_dates & (1u << QP_TASK_DUE));
    assert_string_equal(fx.t.description, "x");
    int32_t d;
    assert_true(qp_task_date_parse("2024-02-29", &d));
    assert_int_equal(d, 20240229);
    assert_false(qp_task_date_parse("2023-02-29", &d));
    assert_false(qp_task_date_parse("2023-1-01", &d));
    char buf[11];
    qp_task_date_format(20230607, buf);
    assert_string_equal(buf, "2023-06-07");
}

static void test_priorities(void **state)
{
    static const struct {
        const char *line;
        qp_task_priority p;
    } cases[] = {{"- [ ] a 🔺", QP_PRIORITY_HIGHEST}, {"- [ ] a ⏫", QP_PRIORITY_HIGH},
                 {"- [ ] a 🔼", QP_PRIORITY_MEDIUM},  {"- [ ] a", QP_PRIORITY_NONE},
                 {"- [ ] a 🔽", QP_PRIORITY_LOW},     {"- [ ] a ⏬", QP_PRIORITY_LOWEST}};
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(parse(cases[i].line));
        assert_int_equal(fx.t.priority, cases[i].p);
        assert_string_equal(fx.t.description, "a");
    }
    assert_string_equal(qp_task_priority_name(QP_PRIORITY_NONE), "None");
}

static void test_recurrence(void **state)
{
    (void)state;
    assert_true(parse("- [ ] a 🔁 every Sunday when done"));
    assert_string_equal(fx.t.recurrence, "every week on Sunday when done");
    assert_string_equal(fx.t.recurrence_text, "every Sunday when done");
    /* the rule swallows plain words after it; rrule ignores them */
    assert_true(parse("- [ ] x 🔁 every day some text"));
    assert_string_equal(fx.t.recurrence, "every day");
    assert_string_equal(fx.t.description, "x");
    /* an unreadable rule: not recurring, but removed from the description */
    assert_true(parse("- [ ] x 🔁 invalid rule"));
    assert_null(fx.t.recurrence);
    assert_string_equal(fx.t.description, "x");

    static const struct {
        const char *in, *out;
    } rules[] = {
        {"every day", "every day"},
        {"every 6 days", "every 6 days"},
        {"every week", "every week"},
        {"every 3 weeks on Thursday", "every 3 weeks on Thursday"},
        {"every week on Tuesday when done", "every week on Tuesday when done"},
        {"every month on the 2nd", "every month on the 2nd"},
        {"every 4 months on the 3rd Wednesday", "every 4 months on the 3rd Wednesday"},
        {"every month on the last", "every month on the last"},
        {"every month on the 31st", "every month on the 31st"},
        {"every weekday", "every weekday"},
        {"every Monday, Wednesday", "every week on Monday, Wednesday"},
        {"every year", "every year"},
        {"every January on the 5th", "every January on the 5th"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        char buf[128];
        assert_true(qp__recurrence_normalise(rules[i].in, strlen(rules[i].in), buf, sizeof buf));
        assert_string_equal(buf, rules[i].out);
    }
    char buf[64];
    assert_false(qp__recurrence_normalise("every", 5, buf, sizeof buf));
    assert_false(qp__recurrence_normalise("each day", 8, buf, sizeof buf));
}

static void test_ids_and_dependencies(void **state)
{
    (void)state;
    assert_true(parse("- [ ] a ⛔ abc , def_1 🆔 x-1"));
    assert_string_equal(fx.t.id, "x-1");
    assert_int_equal(fx.t.n_depends_on, 2);
    assert_string_equal(fx.t.depends_on[1], "def_1");
    assert_true(parse("- [ ] a 🆔 bad!id"));
    assert_null(fx.t.id);
    assert_string_equal(fx.t.description, "a 🆔 bad!id");
}

static void test_tags(void **state)
{
    (void)state;
    assert_true(parse("- [ ] #1234 #12.34 #a!b x#y (#y) #context/home #x,y"));
    assert_int_equal(fx.t.n_tags, 5);
    assert_string_equal(fx.t.tags[0], "#1234");
    assert_string_equal(fx.t.tags[1], "#12");
    assert_string_equal(fx.t.tags[2], "#a");
    assert_string_equal(fx.t.tags[3], "#context/home");
    assert_string_equal(fx.t.tags[4], "#x");
}

static void test_global_filter(void **state)
{
    qp_tasks_settings *s = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    assert_rc(qp_tasks_settings_from_json(&s, "{\"globalFilter\": \"#task\"}", &err), QP_OK);
    assert_false(parse_with("- [ ] no filter here", s));
    assert_true(parse_with("- [ ] #task do it #home", s));
    assert_string_equal(fx.t.description, "#task do it #home");
    assert_int_equal(fx.t.n_tags, 1);
    assert_string_equal(fx.t.tags[0], "#home");
    qp_tasks_settings_free(s);
}

static void test_dataview_format(void **state)
{
    qp_tasks_settings *s = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    assert_rc(qp_tasks_settings_from_json(&s, "{\"taskFormat\": \"dataview\"}", &err), QP_OK);
    assert_true(parse_with("- [x] a #t [due:: 2023-01-02] (priority:: high)  [completion:: "
                           "2023-01-03] [repeat:: every week]",
                           s));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 20230102);
    assert_int_equal(fx.t.dates[QP_TASK_DONE], 20230103);
    assert_int_equal(fx.t.priority, QP_PRIORITY_HIGH);
    assert_string_equal(fx.t.recurrence, "every week");
    assert_string_equal(fx.t.description, "a #t");
    /* emoji fields are not read in Dataview format, and done:: is not the done date */
    assert_true(parse_with("- [ ] b 📅 2023-01-01", s));
    assert_int_equal(fx.t.dates[QP_TASK_DUE], 0);
    assert_true(parse_with("- [ ] c [done:: 2023-01-01]", s));
    assert_int_equal(fx.t.dates[QP_TASK_DONE], 0);
    assert_true(parse_with("- [ ] d [id:: abc], (dependsOn:: x, y)", s));
    assert_string_equal(fx.t.id, "abc");
    assert_int_equal(fx.t.n_depends_on, 2);
    qp_tasks_settings_free(s);
}

static void test_urgency(void **state)
{
    (void)state;
    assert_true(parse("- [ ] a"));
    assert_true(fabs(qp_task_urgency(&fx.t, 20230607) - 1.95) < 1e-9);
    assert_true(parse("- [ ] a 📅 2023-06-07"));
    assert_true(fabs(qp_task_urgency(&fx.t, 20230607) - 10.75) < 1e-9);
    assert_true(parse("- [ ] a ⏬"));
    assert_true(fabs(qp_task_urgency(&fx.t, 20230607) + 1.8) < 1e-9);
    /* overdue a week or more: full 12; scheduled today +5; start tomorrow -3 */
    assert_true(parse("- [ ] a ⏳ 2023-06-07 🛫 2023-06-08 📅 2023-05-01"));
    assert_true(fabs(qp_task_urgency(&fx.t, 20230607) - (12 + 5 - 3 + 1.95)) < 1e-9);
}

/* Scheduled date of the first task line, parsed in `path` with settings. */
static int32_t scheduled_in(const char *path, const char *line, const qp_tasks_settings *s)
{
    qp_error err = QP_ERROR_INIT;
    assert_rc(
        qp_task_parse_line(&fx.t, &fx.is_task, line, strlen(line), path, NULL, s, fx.arena, &err),
        QP_OK);
    assert_true(fx.is_task);
    return fx.t.dates[QP_TASK_SCHEDULED];
}

/* Spec A.8: a date in the file name schedules the file's undated tasks. */
static void test_scheduled_from_filename(void **state)
{
    qp_tasks_settings *on = NULL, *fmt = NULL, *bad = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    assert_rc(qp_tasks_settings_from_json(&on, "{\"useFilenameAsScheduledDate\": true}", &err),
              QP_OK);
    assert_rc(qp_tasks_settings_from_json(&fmt,
                                          "{\"useFilenameAsScheduledDate\": true, "
                                          "\"filenameAsScheduledDateFormat\": \"[day] D.M.YYYY\", "
                                          "\"filenameAsDateFolders\": [\"Journal/\", \"Log\"]}",
                                          &err),
              QP_OK);
    /* off by default */
    assert_int_equal(scheduled_in("Daily/2023-06-01.md", "- [ ] a", NULL), 0);
    /* the first YYYY-MM-DD, else the first YYYYMMDD, of the base name */
    assert_int_equal(scheduled_in("Daily/2023-06-01.md", "- [ ] a", on), 20230601);
    assert_int_equal(scheduled_in("2022-01-01/notes 2023-06-01 x.md", "- [ ] a", on), 20230601);
    assert_int_equal(scheduled_in("Daily/log 20230601.md", "- [ ] a", on), 20230601);
    assert_int_equal(scheduled_in("Daily/12023-06-015.md", "- [ ] a", on), 20230601);
    /* a dashed date that is no calendar day does not fall back */
    assert_int_equal(scheduled_in("Daily/2023-02-30 20230601.md", "- [ ] a", on), 0);
    assert_int_equal(scheduled_in("Daily/notes.md", "- [ ] a", on), 0);
    /* only tasks without start, scheduled and due dates */
    assert_int_equal(scheduled_in("Daily/2023-06-01.md", "- [ ] a 📅 2023-07-01", on), 0);
    assert_int_equal(scheduled_in("Daily/2023-06-01.md", "- [ ] a 🛫 2023-07-01", on), 0);
    assert_int_equal(scheduled_in("Daily/2023-06-01.md", "- [ ] a ⏳ 2023-07-02", on), 20230702);
    assert_int_equal(scheduled_in("Daily/2023-06-01.md", "- [ ] a ➕ 2023-05-01", on), 20230601);
    /* the user's format first (whole name, strictly), then the fallbacks;
     * only under the listed folders */
    assert_int_equal(scheduled_in("Journal/day 1.6.2023.md", "- [ ] a", fmt), 20230601);
    assert_int_equal(scheduled_in("Log/sub/day 31.12.2022.md", "- [ ] a", fmt), 20221231);
    assert_int_equal(scheduled_in("Journal/day 1.6.2023 more.md", "- [ ] a", fmt), 0);
    assert_int_equal(scheduled_in("Journal/2023-06-02.md", "- [ ] a", fmt), 20230602);
    assert_int_equal(scheduled_in("Daily/2023-06-02.md", "- [ ] a", fmt), 0);
    assert_int_equal(scheduled_in("Journalism/2023-06-02.md", "- [ ] a", fmt), 0);
    assert_int_equal(scheduled_in("Journal/day 31.2.2023.md", "- [ ] a", fmt), 0);
    /* the inferred date behaves like a written one */
    assert_true(qp_task_urgency(&fx.t, 20230607) < 2.0); /* no date inferred for the last one */
    scheduled_in("Daily/2023-06-01.md", "- [ ] a", on);
    assert_true(fabs(qp_task_urgency(&fx.t, 20230607) - (1.95 + 5.0)) < 1e-9);
    assert_rc(qp_tasks_settings_from_json(&bad, "{\"filenameAsDateFolders\": \"Daily\"}", &err),
              QP_EINVAL);
    qp_tasks_settings_free(on);
    qp_tasks_settings_free(fmt);
}

/* removeGlobalFilter: the description as the plugin shows it (the
 * GlobalFilter.removeAsWordFrom regex, worked by hand). */
static void test_shown_description(void **state)
{
    qp_tasks_settings *s = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: unchanged */
    } cases[] = {
        {"#task buy milk", "buy milk"},
        {"buy #task milk", "buy milk"},
        {"buy milk #task", "buy milk"},
        {"#task #task twice", "#task twice"}, /* the space between is used by the first */
        {"#task/sub stays", NULL},            /* not a word of its own */
        {"x#task stays", NULL},
        {"no filter", NULL},
        {"#task", ""},
    };

    assert_null(qp__tasks_shown_description(NULL, "#task x"));
    assert_rc(qp_tasks_settings_from_json(&s, "{\"globalFilter\": \"#task\"}", &err), QP_OK);
    assert_null(qp__tasks_shown_description(s, "#task x")); /* removeGlobalFilter off */
    qp_tasks_settings_free(s);
    assert_rc(qp_tasks_settings_from_json(
                  &s, "{\"globalFilter\": \"#task\", \"removeGlobalFilter\": true}", &err),
              QP_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = qp__tasks_shown_description(s, cases[i].in);
        if (cases[i].out == NULL) {
            assert_null(got);
        } else {
            assert_non_null(got);
            assert_string_equal(got, cases[i].out);
        }
        free(got);
    }
    qp_tasks_settings_free(s);
}

/* Which settings leave the stored (default-parsed) columns valid. */
static void test_default_fields(void **state)
{
    static const struct {
        const char *json;
        bool same;
    } cases[] = {
        {"{}", true},
        {"{\"globalFilter\": \"#t\", \"globalQuery\": \"done\"}", true},
        {"{\"statuses\": [[\"w\", \"Wait\", \"x\", \"TODO\"]]}", false},
        {"{\"statuses\": [], \"statusesOnly\": true}", false},
        {"{\"taskFormat\": \"dataview\"}", false},
        {"{\"useFilenameAsScheduledDate\": true}", false},
    };
    (void)state;
    assert_true(qp__tasks_settings_default_fields(NULL));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qp_tasks_settings *s = NULL;
        assert_rc(qp_tasks_settings_from_json(&s, cases[i].json, NULL), QP_OK);
        assert_int_equal(qp__tasks_settings_default_fields(s), cases[i].same);
        qp_tasks_settings_free(s);
    }
}

/* statusesOnly: the four default statuses are not searched. */
static void test_statuses_only(void **state)
{
    qp_tasks_settings *s = NULL;
    (void)state;
    assert_rc(qp_tasks_settings_from_json(
                  &s,
                  "{\"statuses\": [[\" \", \"Open\", \"x\", \"TODO\"]], \"statusesOnly\": true}",
                  NULL),
              QP_OK);
    assert_true(parse_with("- [ ] a", s));
    assert_string_equal(fx.t.status_name, "Open");
    assert_true(parse_with("- [x] a", s));
    assert_string_equal(fx.t.status_name, "Unknown");
    assert_int_equal(fx.t.status_type, QP_STATUS_TODO);
    qp_tasks_settings_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_which_lines_are_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses_only, setup, teardown),
        cmocka_unit_test(test_shown_description),
        cmocka_unit_test(test_default_fields),
        cmocka_unit_test_setup_teardown(test_all_emoji_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_only_at_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interleaved_tags_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_dates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priorities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recurrence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_and_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_global_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataview_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urgency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduled_from_filename, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
