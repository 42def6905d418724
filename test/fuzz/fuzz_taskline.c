/*
 * fuzz_taskline — the task-line reader on arbitrary bytes, in the emoji and
 * the Dataview format, with a global filter and custom statuses; checks the
 * invariants every parsed task must keep.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const qp_task *t)
{
    if (t->description == NULL || t->status_name == NULL || t->indent == NULL)
        abort();
    if ((unsigned)t->priority > QP_PRIORITY_LOWEST)
        abort();
    for (size_t i = 0; i < t->n_tags; i++)
        if (t->tags[i][0] != '#')
            abort();
    for (int f = 0; f < QP_TASK_NDATES; f++) {
        char buf[11];
        if (t->dates[f] == 0 && (t->invalid_dates & (1u << f)))
            abort();
        qp_task_date_format(t->dates[f], buf);
    }
    (void)qp_task_urgency(t, 20230607);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static qp_tasks_settings *set[3];
    static const char *const json[3] = {
        NULL,
        "{\"taskFormat\": \"dataview\", \"statuses\": [[\"!\", \"Bang\", \"x\", \"ON_HOLD\"]]}",
        "{\"globalFilter\": \"#task\"}",
    };
    for (int i = 0; i < 3; i++)
        if (set[i] == NULL && qp_tasks_settings_from_json(&set[i], json[i], NULL) != QP_OK)
            abort();
    for (int i = 0; i < 3; i++) {
        qp_arena *a = qp_arena_new();
        qp_task t;
        bool is_task = false;
        if (a == NULL)
            return 0;
        if (qp_task_parse_line(&t, &is_task, (const char *)data, size, "p.md", NULL, set[i], a,
                               NULL) == QP_OK &&
            is_task)
            check(&t);
        qp_arena_free(a);
    }
    return 0;
}
