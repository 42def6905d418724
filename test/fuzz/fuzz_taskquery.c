/*
 * fuzz_taskquery — the task query compiler and evaluator on arbitrary query
 * text. The input is the query; it runs over a fixed set of tasks covering
 * every field, with a global query, presets and a query path, so every
 * statement kind, placeholder and filter path can be reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/taskquery.h"
#include "quipu/tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const lines[] = {
    "- [ ] Call Jeff #work 📅 2023-06-07 ⏫ 🆔 a1",
    "  - [x] done thing ✅ 2023-06-01 ⛔ a1",
    "> - [/] in progress 🛫 2023-06-10 ⏳ 2023-06-08 🔁 every week on Monday",
    "- [-] cancelled ❌ 2023-05-01 #x/y #z",
    "- [X] bad date 📅 2023-02-30 🔽 ^blk",
    "1. [ ] [[Link|Alias]] **bold** text ➕ 2023-01-01",
};
static const char *const paths[] = {"People/Jeff.md", "People/Jeff.md", "a/b.md",
                                    "root.md",        "x/y/z.md",       "x/y/z.md"};
static const char *const headings[] = {"Tasks", "Tasks", NULL, "H", NULL, "(h)"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static qp_tasks_settings *settings;
    char *q = malloc(size + 1);
    qp_taskquery_result *r = NULL;
    qp_error err = QP_ERROR_INIT;

    if (q == NULL)
        return 0;
    if (settings == NULL &&
        qp_tasks_settings_from_json(&settings,
                                    "{\"presets\": {\"p\": \"not done\", \"loop\": \"preset "
                                    "loop\"}, \"globalQuery\": \"limit 50\"}",
                                    NULL) != QP_OK)
        abort();
    memcpy(q, data, size);
    q[size] = '\0';
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    o.today = 20230607;
    o.query_path = size % 2 ? "q/Query note.md" : NULL;
    o.settings = settings;
    /* the query note's properties, for {{query.file.property('...')}} */
    o.query_properties = size % 3 ? "{\"who\": \"Jeff\", \"n\": [1, null, 2.5], \"Flag\": true, "
                                    "\"o\": {\"k\": 1}, \"none\": null}"
                                  : NULL;
    if (qp_tasks_eval(&r, q, lines, paths, headings, sizeof lines / sizeof lines[0], &o, &err) ==
        QP_OK) {
        size_t n = 0;
        for (size_t g = 0; g < r->n_groups; g++)
            for (size_t k = 0; k < r->groups[g].n_tasks; k++)
                if (r->groups[g].tasks[k] >= sizeof lines / sizeof lines[0])
                    abort(); /* an index outside the input */
                else
                    n++;
        if (r->total > sizeof lines / sizeof lines[0])
            abort();
        (void)n;
    } else if (err.code != QP_EQUERY) {
        abort(); /* only query errors are expected */
    }
    qp_taskquery_result_free(r);
    free(q);
    return 0;
}
