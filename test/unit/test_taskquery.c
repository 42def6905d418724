/* Unit tests for the task query language (lib/taskquery.c, lib/tq_eval.c,
 * lib/tq_dates.c): one or more per filter, sorter and grouper, plus the
 * statement rules and errors. Expected results are worked out by hand from
 * shared/spec/tasks-query.md. Results are rendered as text:
 * "0,2" for an ungrouped result, "name/name:0,1|name:2" for groups. */
#include "qp_test.h"

#include <stdlib.h>

#include "quipu/taskquery.h"
#include "quipu/tasks.h"
#include "taskquery_int.h"

#define TODAY 20230607 /* a Wednesday */

static char result_text[4096];
static qp_error last_err;

/* Evaluates query over the NULL-terminated lines (all in a/b/c.md unless
 * a line starts with "<path>.md|"); returns the rendered result or "ERROR". */
static const char *evalq_s(const char *query, const char *const *lines, const qp_tasks_settings *s)
{
    const char *ls[64], *ps[64], *hs[64];
    size_t n = 0;
    qp_taskquery_result *r = NULL;
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    char paths[64][128];

    for (; lines[n] != NULL; n++) {
        const char *bar = strstr(lines[n], ".md|");
        if (bar != NULL) {
            snprintf(paths[n], sizeof paths[n], "%.*s", (int)(bar + 3 - lines[n]), lines[n]);
            ps[n] = paths[n];
            ls[n] = bar + 4;
        } else {
            ps[n] = "a/b/c.md";
            ls[n] = lines[n];
        }
        hs[n] = NULL;
    }
    o.today = TODAY;
    o.query_path = "q/query.md";
    o.settings = s;
    qp_error_clear(&last_err);
    if (qp_tasks_eval(&r, query, ls, ps, hs, n, &o, &last_err) != QP_OK)
        return "ERROR";
    size_t k = 0;
    result_text[0] = '\0';
    for (size_t g = 0; g < r->n_groups; g++) {
        if (g > 0)
            k += (size_t)snprintf(result_text + k, sizeof result_text - k, "|");
        for (size_t l = 0; l < r->groups[g].n_names; l++)
            k += (size_t)snprintf(result_text + k, sizeof result_text - k, "%s%s",
                                  r->groups[g].names[l], l + 1 < r->groups[g].n_names ? "/" : ":");
        for (size_t t = 0; t < r->groups[g].n_tasks; t++)
            k += (size_t)snprintf(result_text + k, sizeof result_text - k, "%s%zu", t ? "," : "",
                                  r->groups[g].tasks[t]);
    }
    qp_taskquery_result_free(r);
    return result_text;
}

static const char *evalq(const char *query, const char *const *lines)
{
    return evalq_s(query, lines, NULL);
}

static void test_status_filters(void **state)
{
    const char *lines[] = {"- [ ] a", "- [x] b", "- [X] c", "- [/] d", "- [-] e", NULL};
    (void)state;
    assert_string_equal(evalq("not done", lines), "3,0,2");
    assert_string_equal(evalq("NOT DONE", lines), "3,0,2");
    assert_string_equal(evalq("done", lines), "1,4");
    assert_string_equal(evalq("status.type is IN_PROGRESS", lines), "3");
    assert_string_equal(evalq("status.type is not todo", lines), "3,1,4");
    assert_string_equal(evalq("status.name includes unknown", lines), "2");
    assert_string_equal(evalq("status.type is on hold", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "Invalid status.type instruction"));
}

static void test_date_filters(void **state)
{
    const char *lines[] = {"- [ ] a 📅 2023-06-05", "- [ ] b 📅 2023-06-07",
                           "- [ ] c 📅 2023-06-12", "- [ ] d",
                           "- [ ] e 📅 2023-02-30", NULL};
    (void)state;
    /* the default sort puts nearer due dates first (urgency), then the rest */
    assert_string_equal(evalq("due today", lines), "1");
    assert_string_equal(evalq("due before today", lines), "0");
    assert_string_equal(evalq("due after 2023-06-06", lines), "1,2");
    assert_string_equal(evalq("due on or before 2023-06-07", lines), "0,1");
    assert_string_equal(evalq("due this week", lines), "0,1");
    assert_string_equal(evalq("due next week", lines), "2");
    assert_string_equal(evalq("due 2023-06-01 2023-06-07", lines), "0,1");
    assert_string_equal(evalq("due in 2023-W24", lines), "2");
    assert_string_equal(evalq("due in 2023-06", lines), "0,1,2");
    assert_string_equal(evalq("due next monday", lines), "2");
    assert_string_equal(evalq("has due date", lines), "0,1,2,4");
    assert_string_equal(evalq("no due date", lines), "3");
    assert_string_equal(evalq("due date is invalid", lines), "4");
    assert_string_equal(evalq("due 2023-02-30", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "do not understand due date"));
    assert_string_equal(evalq("due", lines), "ERROR");
}

static void test_start_and_happens(void **state)
{
    const char *lines[] = {"- [ ] a 🛫 2023-06-01", "- [ ] b 🛫 2023-06-20", "- [ ] c",
                           "- [ ] d ⏳ 2023-06-02", NULL};
    (void)state;
    /* a task without a start date has already started */
    assert_string_equal(evalq("starts before today", lines), "3,0,2");
    assert_string_equal(evalq("(starts before today) AND (has start date)", lines), "0");
    assert_string_equal(evalq("happens before today", lines), "3,0");
    assert_string_equal(evalq("no happens date", lines), "2");
    assert_string_equal(evalq("happens date is invalid", lines), "ERROR");
}

static void test_natural_language_dates(void **state)
{
    static const struct {
        const char *text;
        int32_t want;
    } cases[] = {
        {"today", 20230607},          {"tomorrow", 20230608},
        {"yesterday", 20230606},      {"in 2 days", 20230609},
        {"in two weeks", 20230621},   {"3 days ago", 20230604},
        {"sunday", 20230604},         {"saturday", 20230610},
        {"this friday", 20230609},    {"next monday", 20230612},
        {"next friday", 20230616},    {"last friday", 20230602},
        {"last wednesday", 20230531}, {"14 October", 20231014},
        {"june 10", 20230610},        {"May", 20230501},
        {"2023/06/10", 20230610},     {"2023-6-7", 20230607},
        {"06/10/2023", 20230610},     {"Next Week", 20230614},
        {"This Week", 20230604},
    };
    (void)state;
    int32_t today = qp__days_from_ymd(TODAY);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t out[2] = {0, 0};
        if (qp__chrono_parse(cases[i].text, today, out) < 1 || out[0] != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].text, out[0], cases[i].want);
    }
    int32_t out[2];
    assert_int_equal(qp__chrono_parse("2023-01-01 2023-01-31", today, out), 2);
    assert_int_equal(out[1], 20230131);
    /* "X to Y" is one result: its end is dropped */
    assert_int_equal(qp__chrono_parse("2023-01-01 to 2023-01-31", today, out), 1);
    assert_int_equal(qp__chrono_parse("nonsense", today, out), 0);
    assert_int_equal(qp__chrono_parse("2023-02-30", today, out), 0);
}

static void test_text_filters(void **state)
{
    const char *lines[] = {"people/Jeff Denworth.md|- [ ] Call Jeff #work/Urgent",
                           "notes/x.md|- [ ] buy milk #home", "- [ ] (maybe) later", NULL};
    (void)state;
    assert_string_equal(evalq("path includes jeff", lines), "0");
    assert_string_equal(evalq("path does not include jeff", lines), "2,1");
    assert_string_equal(evalq("description includes MILK", lines), "1");
    assert_string_equal(evalq("description regex matches /^Call/", lines), "0");
    assert_string_equal(evalq("description regex matches /^call/", lines), "");
    assert_string_equal(evalq("description regex matches /^call/i", lines), "0");
    assert_string_equal(evalq("tags include urgent", lines), "0");
    assert_string_equal(evalq("tag includes #home", lines), "1");
    assert_string_equal(evalq("tags do not include home", lines), "2,0");
    assert_string_equal(evalq("filename includes x.md", lines), "1");
    assert_string_equal(evalq("folder includes people/", lines), "0");
    assert_string_equal(evalq("root includes a/", lines), "2");
    /* the default sort ends with the path: a/ < notes/ < people/ */
    assert_string_equal(evalq("heading does not include x", lines), "2,1,0");
    assert_string_equal(evalq("heading includes", lines), "ERROR");
    assert_string_equal(evalq("description regex matches apple", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "Invalid instruction"));
    assert_string_equal(evalq("description regex matches /(/", lines), "ERROR");
    assert_string_equal(evalq("description  includes x", lines), "ERROR");
    assert_string_equal(evalq("no tags", lines), "2");
}

static void test_priority_filters(void **state)
{
    const char *lines[] = {"- [ ] a 🔺", "- [ ] b ⏫", "- [ ] c 🔼", "- [ ] d",
                           "- [ ] e 🔽", "- [ ] f ⏬", NULL};
    (void)state;
    assert_string_equal(evalq("priority is high", lines), "1");
    assert_string_equal(evalq("priority above none", lines), "0,1,2");
    assert_string_equal(evalq("priority is below none", lines), "4,5");
    assert_string_equal(evalq("priority is not none", lines), "0,1,2,4,5");
    assert_string_equal(evalq("priority   medium", lines), "2");
    assert_string_equal(evalq("priority is urgent", lines), "ERROR");
}

static void test_other_filters(void **state)
{
    const char *lines[] = {"- [ ] a 🆔 t1",          "- [ ] b ⛔ t1", "- [x] c 🆔 t2", "- [ ] d ⛔ t2",
                           "  - [ ] e 🔁 every day", "> - [ ] f",    ">  - [ ] g",   NULL};
    (void)state;
    assert_string_equal(evalq("is blocking", lines), "0");
    assert_string_equal(evalq("is blocked", lines), "1");
    assert_string_equal(evalq("has depends on", lines), "1,3");
    assert_string_equal(evalq("id includes t", lines), "0,2");
    assert_string_equal(evalq("is recurring", lines), "4");
    assert_string_equal(evalq("recurrence includes DAY", lines), "4");
    assert_string_equal(evalq("exclude sub-items", lines), "0,1,3,5,2");
}

static void test_boolean(void **state)
{
    const char *lines[] = {"- [ ] d1", "- [ ] d2", "- [ ] d1 d2", "- [ ] none", NULL};
    (void)state;
    assert_string_equal(evalq("(description includes d1) AND (description includes d2)", lines),
                        "2");
    assert_string_equal(evalq("(description includes d1) OR (description includes d2)", lines),
                        "0,1,2");
    assert_string_equal(evalq("(description includes d1) XOR (description includes d2)", lines),
                        "0,1");
    assert_string_equal(evalq("(description includes d1) AND NOT (description includes d2)", lines),
                        "0");
    assert_string_equal(evalq("NOT (description includes d)", lines), "3");
    assert_string_equal(evalq("[description includes d1]AND[description includes d2]", lines), "2");
    assert_string_equal(evalq("\"description includes d1\" OR \"description includes d2\"", lines),
                        "0,1,2");
    assert_string_equal(evalq("((description includes d1))", lines), "0,2");
    /* XOR of three is true for an odd number of trues */
    assert_string_equal(evalq("(description includes d1) XOR (description includes d2) XOR "
                              "(description includes d1 d2)",
                              lines),
                        "0,1,2");
    assert_string_equal(evalq("(done) and (description includes d1)", lines), "ERROR");
    assert_string_equal(evalq("(not done) AND {description includes d1}", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "Boolean combination"));
    assert_string_equal(evalq("(description includes (maybe)) OR (done)", lines), "ERROR");
}

static void test_sorting(void **state)
{
    const char *lines[] = {"- [ ] Apple 10", "- [ ] apple 9", "- [ ] banana", "- [x] aardvark",
                           NULL};
    (void)state;
    /* numeric, case-insensitive collation; ties keep input order */
    assert_string_equal(evalq("sort by description", lines), "3,1,0,2");
    assert_string_equal(evalq("sort by description reverse", lines), "2,0,1,3");
    /* the default tail puts not-done first */
    assert_string_equal(evalq("", lines), "0,1,2,3");
    assert_string_equal(evalq("sort by status reverse", lines), "3,0,1,2");
    /* trailing text after a sort key is ignored */
    assert_string_equal(evalq("sort by description foo", lines), "3,1,0,2");
    assert_string_equal(evalq("sort by nothing", lines), "ERROR");

    const char *dates[] = {"- [ ] a 📅 2023-06-10", "- [ ] b", "- [ ] c 📅 2023-02-30",
                           "- [ ] d 📅 2023-06-01", NULL};
    /* invalid first, then earliest, then none */
    assert_string_equal(evalq("sort by due", dates), "2,3,0,1");
    assert_string_equal(evalq("sort by due reverse", dates), "1,0,3,2");

    const char *tags[] = {"- [ ] a #b #z", "- [ ] b", "- [ ] c #a", "- [ ] d #c #a", NULL};
    assert_string_equal(evalq("sort by tag", tags), "2,0,3,1");
    assert_string_equal(evalq("sort by tag 2", tags), "3,0,2,1");

    const char *links[] = {"- [ ] [[zeta|Alpha]] x", "- [ ] **beta**", "- [ ] gamma", NULL};
    assert_string_equal(evalq("sort by description", links), "0,1,2");
}

static void test_grouping(void **state)
{
    const char *lines[] = {"x/one.md|- [ ] a ⏫ #t1 #t2", "x/two.md|- [ ] b 📅 2023-06-07",
                           "three.md|- [x] c #t1", NULL};
    (void)state;
    assert_string_equal(evalq("group by priority", lines),
                        "%%1%%High priority:0|%%3%%Normal priority:1,2");
    assert_string_equal(evalq("group by tags", lines), "(No tags):1|#t1:0,2|#t2:0");
    assert_string_equal(evalq("group by status", lines), "Done:2|Todo:1,0");
    assert_string_equal(evalq("group by status reverse", lines), "Todo:1,0|Done:2");
    assert_string_equal(evalq("group by due", lines), "2023-06-07 Wednesday:1|No due date:0,2");
    assert_string_equal(evalq("group by folder", lines), "/:2|x/:1,0");
    assert_string_equal(evalq("group by filename", lines), "[[one]]:0|[[three]]:2|[[two]]:1");
    assert_string_equal(evalq("group by urgency", lines), "10.75:1|6.00:0|1.95:2");
    assert_string_equal(evalq("group by status\ngroup by root", lines), "Done//:2|Todo/x/:1,0");
    assert_string_equal(evalq("group by due foo", lines), "ERROR");
    assert_string_equal(evalq("group by description", lines), "ERROR");
}

static void test_limits(void **state)
{
    const char *lines[] = {"- [ ] a #x", "- [ ] b #x", "- [ ] c #y", NULL};
    qp_taskquery *q = NULL;
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    assert_string_equal(evalq("limit 2", lines), "0,1");
    assert_string_equal(evalq("limit to 1 task", lines), "0");
    assert_string_equal(evalq("limit 0", lines), "");
    assert_string_equal(evalq("limit two", lines), "ERROR");
    assert_string_equal(evalq("group by tags\nlimit groups 1", lines), "#x:0|#y:2");

    o.today = TODAY;
    assert_rc(qp_taskquery_compile(&q,
                                   "limit 5\nlimit groups to 2 tasks\nshort mode\nexplain\n"
                                   "hide edit button",
                                   &o, &err),
              QP_OK);
    const qp_taskquery_layout *lay = qp_taskquery_get_layout(q);
    assert_int_equal(lay->limit, 5);
    assert_int_equal(lay->group_limit, 2);
    assert_true(lay->short_mode);
    assert_true(lay->explain);
    char *ex = qp_taskquery_explain(q);
    assert_non_null(strstr(ex, "At most 5 tasks."));
    free(ex);
    qp_taskquery_free(q);

    /* A plain filter is its own explanation; "=>" leads only into a
     * Boolean tree, as in the plugin's explain output. */
    assert_rc(
        qp_taskquery_compile(&q, "not done\n(due before 2025-12-01) OR (done)\nexplain", &o, &err),
        QP_OK);
    ex = qp_taskquery_explain(q);
    assert_string_equal(ex, "not done\n"
                            "(due before 2025-12-01) OR (done) =>\n"
                            "  OR (At least one of):\n"
                            "    due before 2025-12-01\n"
                            "    done\n");
    free(ex);
    qp_taskquery_free(q);
}

static void test_statements(void **state)
{
    const char *lines[] = {"q/query.md|- [ ] here", "other.md|- [ ] there", NULL};
    (void)state;
    /* comments, blank lines, continuation, placeholders, presets */
    assert_string_equal(evalq("# a comment\n\nnot done", lines), "1,0");
    assert_string_equal(evalq("not done # note", lines), "ERROR");
    assert_string_equal(evalq("(path includes other) OR \\\n   (path includes nothing)", lines),
                        "1");
    assert_string_equal(evalq("path includes {{query.file.path}}", lines), "0");
    assert_string_equal(evalq("preset this_file", lines), "0");
    assert_string_equal(evalq("folder includes {{query.file.folder}}", lines), "0");
    assert_string_equal(evalq("path includes {{query.file.nope}}", lines), "ERROR");
    assert_string_equal(evalq("preset nope", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "Cannot find preset"));
    assert_string_equal(evalq("shortcuts", lines), "1,0"); /* "short..." is short mode */
    assert_string_equal(evalq("hide fish", lines), "ERROR");
    assert_string_equal(evalq("view kanban", lines), "ERROR");
    assert_string_equal(evalq("view columns by status", lines), "Todo:1,0");
    /* errors name the line */
    assert_string_equal(evalq("not done\n\nstuff", lines), "ERROR");
    assert_int_equal(last_err.line, 3);
    assert_non_null(strstr(last_err.msg, "do not understand query"));
    assert_non_null(strstr(last_err.msg, "Problem line: \"stuff\""));
    /* JavaScript is not supported */
    assert_string_equal(evalq("filter by function task.due", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "JavaScript"));
    assert_string_equal(evalq("sort by function task.urgency", lines), "ERROR");
    assert_string_equal(evalq("group by function 'x'", lines), "ERROR");
}

static void test_settings_presets_and_global_query(void **state)
{
    const char *lines[] = {"- [ ] a", "- [x] b", "- [ ] c #task", NULL};
    qp_tasks_settings *s = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;
    assert_rc(
        qp_tasks_settings_from_json(
            &s, "{\"presets\": {\"open\": \"not done\"}, \"globalQuery\": \"limit 1\"}", &err),
        QP_OK);
    assert_string_equal(evalq_s("preset open", lines, s), "0");
    assert_string_equal(evalq_s("preset open\nlimit 5", lines, s), "0,2");
    assert_string_equal(evalq_s("ignore global query", lines, s), "0,2,1");
    qp_tasks_settings_free(s);

    assert_rc(qp_tasks_settings_from_json(&s, "{\"globalFilter\": \"#task\"}", &err), QP_OK);
    assert_string_equal(evalq_s("description includes task", lines, s), "");
    assert_string_equal(evalq_s("", lines, s), "2");
    qp_tasks_settings_free(s);
}

/* issue 16: what the plugin's data.json adds to the settings. */
static void test_settings_from_the_vault(void **state)
{
    const char *lines[] = {"- [x] b", "- [ ] c 🔺", "- [ ] a", NULL};
    qp_tasks_settings *s = NULL, *o = NULL;
    qp_error err = QP_ERROR_INIT;
    (void)state;

    /* default order: status type, urgency (the highest priority first), ... */
    assert_string_equal(evalq("", lines), "1,2,0");
    /* debugSettings.ignoreSortInstructions: file order, even with a sort by */
    const char *pj = "{\"debugSettings\": {\"ignoreSortInstructions\": true}}";
    assert_rc(qp__tasks_settings_from_plugin(&s, pj, strlen(pj), &err), QP_OK);
    assert_string_equal(evalq_s("sort by description", lines, s), "0,1,2");
    qp_tasks_settings_free(s);

    /* saved presets replace the built-in ones */
    pj = "{\"presets\": {\"open\": \"not done\"}}";
    assert_rc(qp__tasks_settings_from_plugin(&s, pj, strlen(pj), &err), QP_OK);
    assert_string_equal(evalq_s("preset open", lines, s), "1,2");
    assert_string_equal(evalq_s("preset this_file", lines, s), "ERROR");
    assert_non_null(strstr(last_err.msg, "Cannot find preset \"this_file\""));
    /* the pre-7.20 name of the member */
    qp_tasks_settings_free(s);
    pj = "{\"includes\": {\"open\": \"done\"}}";
    assert_rc(qp__tasks_settings_from_plugin(&s, pj, strlen(pj), &err), QP_OK);
    assert_string_equal(evalq_s("preset open", lines, s), "0");

    /* a client's settings over the vault's: member by member; its own
     * presets are read the client's way (added to the built-ins) */
    assert_rc(qp__tasks_settings_over(&o, s, "{\"presets\": {\"mine\": \"done\"}}", &err), QP_OK);
    assert_string_equal(evalq_s("preset mine", lines, o), "0");
    assert_string_equal(evalq_s("preset this_file", lines, o), "");
    assert_string_equal(evalq_s("preset open", lines, o), "ERROR");
    qp_tasks_settings_free(o);
    assert_rc(qp__tasks_settings_over(&o, s, "{\"globalQuery\": \"limit 1\"}", &err), QP_OK);
    assert_string_equal(evalq_s("preset open", lines, o), "0"); /* the vault's preset stays */
    assert_string_equal(evalq_s("", lines, o), "1");
    qp_tasks_settings_free(o);
    /* no vault settings: the client's alone */
    assert_rc(qp__tasks_settings_over(&o, NULL, "{\"globalQuery\": \"done\"}", &err), QP_OK);
    assert_string_equal(evalq_s("", lines, o), "0");
    qp_tasks_settings_free(o);
    assert_rc(qp__tasks_settings_over(&o, s, "[1]", &err), QP_EINVAL);
    assert_null(o);
    qp_tasks_settings_free(s);
}

/* The ASCII fast path of the text order must agree with ICU everywhere. */
static void test_collation_fast_path(void **state)
{
    static const char alphabet[] = " !\"#$%&'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~bB0019";
    qp__coll c;
    UErrorCode st = U_ZERO_ERROR;
    UCollator *icu = ucol_open("", &st);
    unsigned seed = 12345;
    (void)state;
    ucol_setAttribute(icu, UCOL_NUMERIC_COLLATION, UCOL_ON, &st);
    assert_true(U_SUCCESS(st));
    assert_true(qp__coll_open(&c));
    assert_true(qp__coll_cmp(&c, "apple 9", "Apple 10") < 0);
    assert_true(qp__coll_cmp(&c, "#foo", "#Foo") < 0);
    assert_true(qp__coll_cmp(&c, "(No tags)", "#t1") < 0);
    assert_true(qp__coll_cmp(&c, "-1.80", "-1.05") > 0);
    for (int i = 0; i < 20000; i++) {
        char a[8], b[8];
        int la = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 6;
        int lb = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 6;
        for (int k = 0; k < la; k++)
            a[k] = alphabet[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof alphabet - 1)];
        for (int k = 0; k < lb; k++)
            b[k] = alphabet[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof alphabet - 1)];
        a[la] = b[lb] = '\0';
        UCollationResult want = ucol_strcollUTF8(icu, a, -1, b, -1, &st);
        int w = want == UCOL_LESS ? -1 : want == UCOL_GREATER ? 1 : 0;
        int got = qp__coll_cmp(&c, a, b);
        got = (got > 0) - (got < 0);
        if (got != w)
            fail_msg("\"%s\" vs \"%s\": got %d, ICU says %d", a, b, got, w);
    }
    qp__coll_close(&c);
    ucol_close(icu);
}

/* {{query.file.property()}} and hasProperty() read the query note's
 * properties given as JSON in the compile options. */
static const char *eval_props(const char *query, const char *props)
{
    const char *lines[] = {"- [ ] call Mara", "- [ ] mara again", "- [ ] other 1,2", NULL};
    const char *paths[] = {"a.md", "a.md", "a.md"};
    qp_taskquery_result *r = NULL;
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    o.today = TODAY;
    o.query_path = "People/Mara.md";
    o.query_properties = props;
    qp_error_clear(&last_err);
    if (qp_tasks_eval(&r, query, lines, paths, NULL, 3, &o, &last_err) != QP_OK)
        return "ERROR";
    size_t k = 0;
    result_text[0] = '\0';
    for (size_t t = 0; t < r->groups[0].n_tasks; t++)
        k += (size_t)snprintf(result_text + k, sizeof result_text - k, "%s%zu", t ? "," : "",
                              r->groups[0].tasks[t]);
    qp_taskquery_result_free(r);
    return result_text;
}

static void test_query_properties(void **state)
{
    const char *props = "{\"who\": \"mara\", \"Limit\": 1, \"list\": [1, 2], \"flag\": true, "
                        "\"empty\": null, \"two words\": \"again\"}";
    (void)state;
    assert_string_equal(eval_props("description includes {{query.file.property('who')}}", props),
                        "0,1");
    /* names match ignoring case; numbers read as JavaScript shows them */
    assert_string_equal(
        eval_props("description includes mara\nlimit {{query.file.property(\"limit\")}}", props),
        "0");
    /* a list is its items joined by commas */
    assert_string_equal(eval_props("description includes {{query.file.property('list')}}", props),
                        "2");
    assert_string_equal(
        eval_props("description includes {{query.file.property('two words')}}", props), "1");
    assert_string_equal(
        eval_props("description includes {{query.file.hasProperty('flag')}}", props), "");
    assert_string_equal(eval_props("{{query.file.hasProperty('who')}} OR (done)", props), "ERROR");
    /* hasProperty is "true"/"false"; a null value does not count */
    assert_string_equal(eval_props("description regex matches /^(?!x)/\n"
                                   "description includes {{query.file.hasProperty('empty')}}",
                                   "{\"empty\": null}"),
                        "");
    assert_string_equal(
        eval_props("description includes {{query.file.property('missing')}}", props), "ERROR");
    assert_non_null(strstr(last_err.msg, "Invalid placeholder result 'null'"));
    assert_string_equal(eval_props("description includes {{query.file.property('empty')}}", props),
                        "ERROR");
    /* without properties every property is missing */
    assert_string_equal(eval_props("description includes {{query.file.property('who')}}", NULL),
                        "ERROR");
    assert_string_equal(eval_props("not done", "[1]"), "ERROR");
    assert_int_equal(last_err.code, QP_EINVAL);
}

/* Patterns with nested quantifiers (or more than 25) are refused. */
static void test_unsafe_regex(void **state)
{
    const char *lines[] = {"- [ ] aaa", "- [ ] abab", NULL};
    (void)state;
    assert_string_equal(evalq("description regex matches /(a+)+/", lines), "ERROR");
    assert_non_null(strstr(last_err.msg, "Error: Parsing regular expression."));
    assert_string_equal(evalq("description regex matches /((ab)*c?)*/", lines), "ERROR");
    assert_string_equal(evalq("description regex matches /(?:x|(b+))+/", lines), "1");
    assert_string_equal(evalq("description regex matches /(ab)+/", lines), "1");
    assert_string_equal(evalq("description regex matches /a+?b*/", lines), "0,1");
    assert_string_equal(evalq("description regex matches /^a{3}$/", lines), "0");
    assert_string_equal(evalq("description regex matches /(a{2,})+/", lines), "ERROR");
    assert_string_equal(evalq("description regex matches /(a{2})+/", lines), "ERROR");
    assert_string_equal(evalq("description regex matches /(a)+b{1}/", lines), "1");
    char many[128] = "description regex matches /";
    for (int i = 0; i < 26; i++)
        strcat(many, "a?");
    strcat(many, "/");
    assert_string_equal(evalq(many, lines), "ERROR");
    many[strlen(many) - 3] = '/';
    many[strlen(many) - 2] = '\0';
    assert_string_equal(evalq(many, lines), "0,1"); /* 25 are allowed */
}

/* The eight-bytes-at-a-time search against a plain one. */
static void test_includes_matches_plain_search(void **state)
{
    static const char alphabet[] = "aAbB/- .Wwz1";
    unsigned seed = 777;
    (void)state;
    for (int i = 0; i < 20000; i++) {
        char hay[48], needle[6], lower[48];
        int hl = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        int nl = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
        for (int k = 0; k < hl; k++)
            hay[k] = alphabet[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof alphabet - 1)];
        for (int k = 0; k < nl; k++) {
            char c = alphabet[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof alphabet - 1)];
            needle[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; /* needles come folded */
        }
        hay[hl] = needle[nl] = '\0';
        for (int k = 0; k <= hl; k++)
            lower[k] = hay[k] >= 'A' && hay[k] <= 'Z' ? (char)(hay[k] + 32) : hay[k];
        bool want = strstr(lower, needle) != NULL;
        if (qp__text_includes_ci(hay, needle, (size_t)nl) != want)
            fail_msg("\"%s\" includes \"%s\": want %d", hay, needle, want);
    }
    /* non-ASCII text is folded first; a match before it is found in place */
    assert_true(qp__text_includes_ci("People/\xc3\x89mile Zola.md", "\xc3\xa9mile", 6));
    assert_true(qp__text_includes_ci("Mara Lindqvist/\xc3\x89", "lindqvist", 9));
    assert_false(qp__text_includes_ci("People/\xc3\x89mile.md", "zola", 4));
}

/* Sorting and grouping by text follow ICU's order exactly, with ties in
 * input order: checked pairwise against ICU over random descriptions and
 * headings (which take the precomputed-key path and the ICU path). */
static void test_text_order_matches_icu(void **state)
{
    static const char *const words[] = {
        "apple",   "Apple", "apple 9",           "apple 10", "b-2", "b.1", "#tag", "(x)", "Zed",
        "zed 007", "zed 7", "\xc3\xa9t\xc3\xa9", "ete",      "Ete", "a_b", "a b",  "1",   "01"};
    enum {
        N = 60
    };
    char bufs[N][64];
    const char *ls[N], *ps[N], *hs[N];
    unsigned seed = 99;
    UErrorCode st = U_ZERO_ERROR;
    UCollator *icu = ucol_open("", &st);
    (void)state;
    ucol_setAttribute(icu, UCOL_NUMERIC_COLLATION, UCOL_ON, &st);
    for (int i = 0; i < N; i++) {
        const char *w1 = words[((seed = seed * 1103515245u + 12345u) >> 16) % 18];
        const char *w2 = words[((seed = seed * 1103515245u + 12345u) >> 16) % 18];
        snprintf(bufs[i], sizeof bufs[i], "- [ ] %s %s", w1, w2);
        ls[i] = bufs[i];
        ps[i] = "a.md";
        hs[i] = words[((seed = seed * 1103515245u + 12345u) >> 16) % 18];
    }
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    o.today = TODAY;
    qp_taskquery_result *r = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_tasks_eval(&r, "sort by description", ls, ps, hs, N, &o, &err), QP_OK);
    assert_int_equal(r->groups[0].n_tasks, N);
    for (size_t k = 1; k < N; k++) {
        size_t a = r->groups[0].tasks[k - 1], b = r->groups[0].tasks[k];
        UCollationResult c = ucol_strcollUTF8(icu, ls[a] + 6, -1, ls[b] + 6, -1, &st);
        if (c == UCOL_GREATER || (c == UCOL_EQUAL && a > b))
            fail_msg("\"%s\" (%zu) before \"%s\" (%zu)", ls[a] + 6, a, ls[b] + 6, b);
    }
    qp_taskquery_result_free(r);
    /* groups: ICU order, then bytes; "reverse" flips the ICU order only */
    for (int rev = 0; rev < 2; rev++) {
        assert_rc(qp_tasks_eval(&r, rev ? "group by heading reverse" : "group by heading", ls, ps,
                                hs, N, &o, &err),
                  QP_OK);
        for (size_t g = 1; g < r->n_groups; g++) {
            const char *a = r->groups[g - 1].names[0], *b = r->groups[g].names[0];
            UCollationResult c = ucol_strcollUTF8(icu, a, -1, b, -1, &st);
            int ci = c == UCOL_LESS ? -1 : c == UCOL_GREATER ? 1 : 0;
            if (rev)
                ci = -ci;
            if (ci > 0 || (ci == 0 && strcmp(a, b) >= 0))
                fail_msg("group \"%s\" before \"%s\"", a, b);
        }
        for (size_t g = 0; g < r->n_groups; g++)
            for (size_t k = 1; k < r->groups[g].n_tasks; k++)
                assert_true(r->groups[g].tasks[k - 1] < r->groups[g].tasks[k]);
        qp_taskquery_result_free(r);
    }
    ucol_close(icu);
}

/* A count that takes a date out of the calendar is no date. */
static void test_date_counts_out_of_range(void **state)
{
    const char *lines[] = {"- [ ] a 📅 2023-06-01", NULL};
    (void)state;
    assert_string_equal(evalq("due before 999999 years ago", lines), "ERROR");
    assert_string_equal(evalq("due after 999999 months ago", lines), "ERROR");
    assert_string_equal(evalq("due before 9000 years ago", lines), "ERROR");
    assert_string_equal(evalq("due after 2000 years ago", lines), "0");
    assert_string_equal(evalq("due before 6 days ago", lines), "");
    assert_string_equal(evalq("due on or before 6 days ago", lines), "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_filters),
        cmocka_unit_test(test_date_filters),
        cmocka_unit_test(test_start_and_happens),
        cmocka_unit_test(test_natural_language_dates),
        cmocka_unit_test(test_text_filters),
        cmocka_unit_test(test_priority_filters),
        cmocka_unit_test(test_other_filters),
        cmocka_unit_test(test_boolean),
        cmocka_unit_test(test_sorting),
        cmocka_unit_test(test_grouping),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_settings_presets_and_global_query),
        cmocka_unit_test(test_settings_from_the_vault),
        cmocka_unit_test(test_collation_fast_path),
        cmocka_unit_test(test_query_properties),
        cmocka_unit_test(test_unsafe_regex),
        cmocka_unit_test(test_includes_matches_plain_search),
        cmocka_unit_test(test_text_order_matches_icu),
        cmocka_unit_test(test_date_counts_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
