/*
 * fuzz_vaultconf — qp_vaultconf_parse on arbitrary bytes, read both as an
 * app.json and as a Tasks data.json: it must never crash or fail with
 * anything but QP_ENOMEM, and the snapshot must answer every accessor (bad
 * files are defaults plus a warning). The input is split at its first NUL
 * byte: before it the app.json, after it the data.json.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/arena.h"
#include "quipu/tasks.h"
#include "quipu/vaultconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    const char *nul;
    size_t app_len;
    qp_vaultconf *c = NULL;
    qp_rc rc;

    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    nul = memchr(copy, '\0', size);
    app_len = nul != NULL ? (size_t)(nul - copy) : size;
    rc = qp_vaultconf_parse(&c, copy, app_len, nul != NULL ? nul + 1 : NULL,
                            nul != NULL ? size - app_len - 1 : 0, NULL);
    if (rc != QP_OK && rc != QP_ENOMEM)
        abort();
    if (rc == QP_OK) {
        char *f = NULL;
        qp_arena *a = qp_arena_new();
        qp_task t;
        bool is_task;

        for (size_t i = 0; i < qp_vaultconf_filter_count(c); i++)
            if (qp_vaultconf_filter(c, i) == NULL)
                abort();
        (void)qp_vaultconf_excluded(c, "Archive/a b.md");
        if (qp_vaultconf_new_note_folder(&f, c, "a/b/n.md", NULL) == QP_OK)
            free(f);
        if (qp_vaultconf_attachment_folder_for(&f, c, "a/b/n.md", NULL) == QP_OK)
            free(f);
        if (!qp_vaultconf_equal(c, c))
            abort();
        if (a != NULL) {
            static const char line[] = "- [x] #task done \xE2\x9C\x85 2024-01-02";
            (void)qp_task_parse_line(&t, &is_task, line, sizeof line - 1, "n.md", NULL,
                                     qp_vaultconf_tasks(c), a, NULL);
            qp_arena_free(a);
        }
    }
    qp_vaultconf_free(c);
    free(copy);
    return 0;
}
