/*
 * test_vaultconf — .obsidian/app.json and the Tasks plugin's data.json read
 * into one snapshot: defaults, every app.json key, wrong types and unknown
 * values, excluded-file filters, the new-note and attachment folders, the
 * Tasks settings in the plugin's own saved format, equality, references.
 */
#include "qp_test.h"

#include <stdlib.h>
#include <string.h>

#include "quipu/arena.h"
#include "quipu/tasks.h"
#include "quipu/vaultconf.h"

static qp_vaultconf *parse(const char *app, const char *tasks)
{
    qp_vaultconf *c = NULL;
    assert_rc(
        qp_vaultconf_parse(&c, app, app ? strlen(app) : 0, tasks, tasks ? strlen(tasks) : 0, NULL),
        QP_OK);
    assert_non_null(c);
    return c;
}

static void test_defaults(void **state)
{
    (void)state;
    qp_vaultconf *c = parse(NULL, NULL);

    /* Obsidian's defaults when app.json says nothing */
    assert_int_equal(qp_vaultconf_link_format(c), QP_LINK_FORMAT_SHORTEST);
    assert_false(qp_vaultconf_markdown_links(c));
    assert_int_equal(qp_vaultconf_new_file_location(c), QP_NEW_FILE_ROOT);
    assert_string_equal(qp_vaultconf_new_file_folder(c), "");
    assert_string_equal(qp_vaultconf_attachment_folder(c), "/");
    assert_true(qp_vaultconf_always_update_links(c));
    assert_int_equal(qp_vaultconf_filter_count(c), 0);
    assert_null(qp_vaultconf_tasks(c));
    assert_null(qp_vaultconf_warning(c));
    assert_false(qp_vaultconf_excluded(c, "a.md"));
    /* NULL is the defaults too */
    assert_true(qp_vaultconf_equal(c, NULL));
    assert_string_equal(qp_vaultconf_attachment_folder(NULL), "/");
    assert_true(qp_vaultconf_always_update_links(NULL));
    qp_vaultconf_free(c);

    c = parse("{}", NULL);
    assert_true(qp_vaultconf_equal(c, NULL));
    assert_null(qp_vaultconf_warning(c));
    qp_vaultconf_free(c);
}

static void test_app_keys(void **state)
{
    (void)state;
    /* an app.json as Obsidian 1.x saves it, with keys quipu does not read */
    qp_vaultconf *c = parse("{\n"
                            "  \"alwaysUpdateLinks\": false,\n"
                            "  \"newLinkFormat\": \"relative\",\n"
                            "  \"useMarkdownLinks\": true,\n"
                            "  \"newFileLocation\": \"folder\",\n"
                            "  \"newFileFolderPath\": \"Inbox/\",\n"
                            "  \"attachmentFolderPath\": \"./assets\",\n"
                            "  \"showLineNumber\": true,\n"
                            "  \"userIgnoreFilters\": [\"Archive/\", \"/\\\\.tmp$/\"]\n"
                            "}",
                            NULL);
    assert_int_equal(qp_vaultconf_link_format(c), QP_LINK_FORMAT_RELATIVE);
    assert_true(qp_vaultconf_markdown_links(c));
    assert_int_equal(qp_vaultconf_new_file_location(c), QP_NEW_FILE_FOLDER);
    assert_string_equal(qp_vaultconf_new_file_folder(c), "Inbox/");
    assert_string_equal(qp_vaultconf_attachment_folder(c), "./assets");
    assert_false(qp_vaultconf_always_update_links(c));
    assert_int_equal(qp_vaultconf_filter_count(c), 2);
    assert_string_equal(qp_vaultconf_filter(c, 0), "Archive/");
    assert_string_equal(qp_vaultconf_filter(c, 1), "/\\.tmp$/");
    assert_null(qp_vaultconf_filter(c, 2));
    assert_null(qp_vaultconf_warning(c));
    assert_false(qp_vaultconf_equal(c, NULL));
    qp_vaultconf_free(c);

    c = parse("{\"newLinkFormat\": \"absolute\", \"newFileLocation\": \"current\"}", NULL);
    assert_int_equal(qp_vaultconf_link_format(c), QP_LINK_FORMAT_ABSOLUTE);
    assert_int_equal(qp_vaultconf_new_file_location(c), QP_NEW_FILE_CURRENT);
    qp_vaultconf_free(c);
}

/* A wrong type or an unknown value keeps that key's default, says so, and
 * leaves the other keys alone. */
static void test_app_bad_values(void **state)
{
    (void)state;
    qp_vaultconf *c = parse("{\"newLinkFormat\": \"nearest\", \"useMarkdownLinks\": \"yes\","
                            " \"attachmentFolderPath\": 3, \"alwaysUpdateLinks\": false}",
                            NULL);
    assert_int_equal(qp_vaultconf_link_format(c), QP_LINK_FORMAT_SHORTEST);
    assert_false(qp_vaultconf_markdown_links(c));
    assert_string_equal(qp_vaultconf_attachment_folder(c), "/");
    assert_false(qp_vaultconf_always_update_links(c));
    assert_non_null(qp_vaultconf_warning(c));
    assert_non_null(strstr(qp_vaultconf_warning(c), "newLinkFormat"));
    qp_vaultconf_free(c);

    /* not JSON: defaults, and the warning names the place */
    c = parse("{\"newLinkFormat\": ", NULL);
    assert_true(qp_vaultconf_equal(c, NULL));
    assert_non_null(strstr(qp_vaultconf_warning(c), ".obsidian/app.json:1:"));
    qp_vaultconf_free(c);

    c = parse("[1, 2]", NULL);
    assert_true(qp_vaultconf_equal(c, NULL));
    assert_non_null(strstr(qp_vaultconf_warning(c), "not a JSON object"));
    qp_vaultconf_free(c);

    /* duplicate keys: JSON.parse keeps the last; jansson is told to refuse,
     * so the file is treated as malformed rather than half-read */
    c = parse("{\"useMarkdownLinks\": true, \"useMarkdownLinks\": false}", NULL);
    assert_non_null(qp_vaultconf_warning(c));
    qp_vaultconf_free(c);
}

static void test_filters(void **state)
{
    (void)state;
    qp_vaultconf *c = parse("{\"userIgnoreFilters\": [\"Archive/\", \"Templates\", \"\", 42,"
                            " \"/^Daily/[0-9]{4}-/\", \"/[bad(/\"]}",
                            NULL);
    assert_int_equal(qp_vaultconf_filter_count(c), 3); /* "", 42 and the bad regex dropped */
    assert_true(qp_vaultconf_excluded(c, "Archive/x.md"));
    assert_false(qp_vaultconf_excluded(c, "Archive"));
    assert_false(qp_vaultconf_excluded(c, "archive/x.md"));
    assert_true(qp_vaultconf_excluded(c, "Templates.md"));
    assert_true(qp_vaultconf_excluded(c, "TemplatesOld/t.md"));
    assert_false(qp_vaultconf_excluded(c, "My Templates.md"));
    assert_true(qp_vaultconf_excluded(c, "Daily/2024-01-01.md"));
    assert_false(qp_vaultconf_excluded(c, "Daily/notes.md"));
    assert_false(qp_vaultconf_excluded(c, NULL));
    assert_non_null(strstr(qp_vaultconf_warning(c), "[bad("));
    qp_vaultconf_free(c);

    c = parse("{\"userIgnoreFilters\": \"Archive/\"}", NULL);
    assert_int_equal(qp_vaultconf_filter_count(c), 0);
    assert_non_null(qp_vaultconf_warning(c));
    qp_vaultconf_free(c);
}

static void expect_folder(qp_rc (*fn)(char **, const qp_vaultconf *, const char *, qp_error *),
                          const qp_vaultconf *c, const char *note, const char *want)
{
    char *got = NULL;
    assert_rc(fn(&got, c, note, NULL), QP_OK);
    assert_string_equal(got, want);
    free(got);
}

static void test_folders(void **state)
{
    (void)state;
    qp_vaultconf *c = parse(NULL, NULL);
    expect_folder(qp_vaultconf_new_note_folder, c, "a/b/n.md", "");
    expect_folder(qp_vaultconf_attachment_folder_for, c, "a/b/n.md", "");
    qp_vaultconf_free(c);

    c = parse("{\"newFileLocation\": \"current\", \"attachmentFolderPath\": \"./\"}", NULL);
    expect_folder(qp_vaultconf_new_note_folder, c, "a/b/n.md", "a/b");
    expect_folder(qp_vaultconf_new_note_folder, c, "n.md", "");
    expect_folder(qp_vaultconf_new_note_folder, c, NULL, "");
    expect_folder(qp_vaultconf_attachment_folder_for, c, "a/b/n.md", "a/b");
    expect_folder(qp_vaultconf_attachment_folder_for, c, "n.md", "");
    qp_vaultconf_free(c);

    c = parse("{\"newFileLocation\": \"folder\", \"newFileFolderPath\": \"/Inbox/\","
              " \"attachmentFolderPath\": \"./assets/\"}",
              NULL);
    expect_folder(qp_vaultconf_new_note_folder, c, "a/b/n.md", "Inbox");
    expect_folder(qp_vaultconf_attachment_folder_for, c, "a/b/n.md", "a/b/assets");
    expect_folder(qp_vaultconf_attachment_folder_for, c, "n.md", "assets");
    qp_vaultconf_free(c);

    c = parse("{\"attachmentFolderPath\": \"Files/Attachments\"}", NULL);
    expect_folder(qp_vaultconf_attachment_folder_for, c, "a/b/n.md", "Files/Attachments");
    qp_vaultconf_free(c);
}

/* Status name and type of `line` under the snapshot's Tasks settings. */
static void expect_status(const qp_vaultconf *c, const char *line, bool task, const char *name,
                          qp_status_type type)
{
    qp_arena *a = qp_arena_new();
    qp_task t;
    bool is_task = false;

    assert_rc(qp_task_parse_line(&t, &is_task, line, strlen(line), "n.md", NULL,
                                 qp_vaultconf_tasks(c), a, NULL),
              QP_OK);
    assert_int_equal(is_task, task);
    if (task) {
        assert_string_equal(t.status_name, name);
        assert_int_equal(t.status_type, type);
    }
    qp_arena_free(a);
}

/* A data.json in the shape the plugin (8.3) saves it: statusSettings with
 * coreStatuses and customStatuses of StatusConfiguration objects, presets,
 * and the keys that only change editing or rendering. */
static const char plugin_json[] =
    "{\n"
    "  \"presets\": {\"this_file\": \"path includes {{query.file.path}}\",\n"
    "              \"mine\": \"tags include #me\"},\n"
    "  \"globalQuery\": \"\",\n"
    "  \"globalFilter\": \"#task\",\n"
    "  \"removeGlobalFilter\": true,\n"
    "  \"taskFormat\": \"tasksPluginEmoji\",\n"
    "  \"setCreatedDate\": false,\n"
    "  \"setDoneDate\": true,\n"
    "  \"setCancelledDate\": true,\n"
    "  \"autoSuggestInEditor\": true,\n"
    "  \"autoSuggestMinMatch\": 0,\n"
    "  \"autoSuggestMaxItems\": 20,\n"
    "  \"provideAccessKeys\": true,\n"
    "  \"useFilenameAsScheduledDate\": false,\n"
    "  \"filenameAsScheduledDateFormat\": \"\",\n"
    "  \"filenameAsDateFolders\": [],\n"
    "  \"recurrenceOnNextLine\": false,\n"
    "  \"removeScheduledDateOnRecurrence\": false,\n"
    "  \"searchResults\": {\"taskCountLocation\": \"bottom\"},\n"
    "  \"statusSettings\": {\n"
    "    \"coreStatuses\": [\n"
    "      {\"symbol\": \" \", \"name\": \"Todo\", \"nextStatusSymbol\": \"x\",\n"
    "       \"availableAsCommand\": true, \"type\": \"TODO\"},\n"
    "      {\"symbol\": \"x\", \"name\": \"Done\", \"nextStatusSymbol\": \" \",\n"
    "       \"availableAsCommand\": true, \"type\": \"DONE\"}\n"
    "    ],\n"
    "    \"customStatuses\": [\n"
    "      {\"symbol\": \"-\", \"name\": \"Cancelled\", \"nextStatusSymbol\": \" \",\n"
    "       \"availableAsCommand\": true, \"type\": \"CANCELLED\"},\n"
    "      {\"symbol\": \"X\", \"name\": \"Done too\", \"nextStatusSymbol\": \" \",\n"
    "       \"availableAsCommand\": false, \"type\": \"DONE\"},\n"
    "      {\"symbol\": \"?\", \"name\": \"Question\", \"nextStatusSymbol\": \"x\",\n"
    "       \"availableAsCommand\": false, \"type\": \"WAT\"},\n"
    "      {\"symbol\": \"x\", \"name\": \"Shadowed\", \"nextStatusSymbol\": \" \",\n"
    "       \"availableAsCommand\": false, \"type\": \"CANCELLED\"},\n"
    "      {\"name\": \"No symbol\", \"type\": \"ON_HOLD\"}\n"
    "    ]\n"
    "  },\n"
    "  \"isShownInEditModal\": {\"priority\": true},\n"
    "  \"dismissedNotices\": {\"live-preview-callout-warning\": false},\n"
    "  \"features\": {\"INTERNAL_TESTING_ENABLED_BY_DEFAULT\": true},\n"
    "  \"generalSettings\": {},\n"
    "  \"headingOpened\": {\"Core Statuses\": true},\n"
    "  \"debugSettings\": {\"ignoreSortInstructions\": false, \"showTaskHiddenData\": false,\n"
    "                    \"recordTimings\": false},\n"
    "  \"loggingOptions\": {\"minLevels\": {\"\": \"info\"}}\n"
    "}\n";

static void test_tasks_plugin_format(void **state)
{
    (void)state;
    qp_vaultconf *c = parse(NULL, plugin_json);

    assert_null(qp_vaultconf_warning(c));
    assert_non_null(qp_vaultconf_tasks(c));
    /* the global filter decides which checkbox lines are tasks */
    expect_status(c, "- [ ] buy milk", false, NULL, 0);
    expect_status(c, "- [ ] #task buy milk", true, "Todo", QP_STATUS_TODO);
    /* the registry is core + custom, nothing else: this vault dropped [/] */
    expect_status(c, "- [/] #task half", true, "Unknown", QP_STATUS_TODO);
    expect_status(c, "- [X] #task upper", true, "Done too", QP_STATUS_DONE);
    expect_status(c, "- [-] #task no", true, "Cancelled", QP_STATUS_CANCELLED);
    /* an unknown type string is TODO, as Status.getTypeFromStatusTypeString */
    expect_status(c, "- [?] #task hmm", true, "Question", QP_STATUS_TODO);
    /* the first status of a symbol wins (StatusRegistry.add skips the rest) */
    expect_status(c, "- [x] #task done", true, "Done", QP_STATUS_DONE);
    qp_vaultconf_free(c);
}

/* Keys the plugin saves over the years: no statusSettings (defaults stay),
 * "includes" (the name of presets before 7.20), the Dataview format. */
static void test_tasks_plugin_variants(void **state)
{
    (void)state;
    qp_vaultconf *c =
        parse(NULL, "{\"taskFormat\": \"dataview\", \"includes\": {\"a\": \"done\"}}");
    assert_null(qp_vaultconf_warning(c));
    expect_status(c, "- [/] x", true, "In Progress", QP_STATUS_IN_PROGRESS);
    qp_vaultconf_free(c);

    /* only customStatuses saved: the two core ones still apply */
    c = parse(NULL, "{\"statusSettings\": {\"customStatuses\": [{\"symbol\": \">\", \"name\":"
                    " \"Forwarded\", \"nextStatusSymbol\": \"x\", \"type\": \"ON_HOLD\"}]}}");
    expect_status(c, "- [ ] a", true, "Todo", QP_STATUS_TODO);
    expect_status(c, "- [x] a", true, "Done", QP_STATUS_DONE);
    expect_status(c, "- [>] a", true, "Forwarded", QP_STATUS_ON_HOLD);
    expect_status(c, "- [-] a", true, "Unknown", QP_STATUS_TODO);
    qp_vaultconf_free(c);

    /* a broken file: the plugin's defaults, and a warning naming the file */
    c = parse(NULL, "{\"globalFilter\": 7}");
    assert_null(qp_vaultconf_tasks(c));
    assert_non_null(strstr(qp_vaultconf_warning(c), "data.json: globalFilter"));
    qp_vaultconf_free(c);
    c = parse(NULL, "{");
    assert_null(qp_vaultconf_tasks(c));
    assert_non_null(strstr(qp_vaultconf_warning(c), "obsidian-tasks-plugin/data.json:"));
    qp_vaultconf_free(c);
}

static void test_equal_and_refs(void **state)
{
    (void)state;
    qp_vaultconf *a = parse("{\"userIgnoreFilters\": [\"A/\"]}", "{\"globalFilter\": \"#t\"}");
    qp_vaultconf *b = parse("{ \"userIgnoreFilters\" : [ \"A/\" ] }", "{\"globalFilter\":\"#t\"}");
    qp_vaultconf *d = parse("{\"userIgnoreFilters\": [\"A/\"]}", "{\"globalFilter\": \"#u\"}");

    assert_true(qp_vaultconf_equal(a, b)); /* the same settings written differently */
    assert_false(qp_vaultconf_equal(a, d));
    assert_false(qp_vaultconf_equal(a, NULL));

    assert_ptr_equal(qp_vaultconf_ref(a), a);
    qp_vaultconf_free(a); /* one reference left */
    assert_true(qp_vaultconf_excluded(a, "A/x.md"));
    qp_vaultconf_free(a);
    qp_vaultconf_free(b);
    qp_vaultconf_free(d);
    qp_vaultconf_free(NULL);
    assert_null(qp_vaultconf_ref(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_app_keys),
        cmocka_unit_test(test_app_bad_values),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_tasks_plugin_format),
        cmocka_unit_test(test_tasks_plugin_variants),
        cmocka_unit_test(test_equal_and_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
