/*
 * fuzz_note — qp_note_parse() on arbitrary bytes must not crash, leak or
 * read out of bounds, and every position it reports must lie in the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/init.h"
#include "quipu/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qp_note *note = NULL;
    qp_error err = QP_ERROR_INIT;
    size_t n, len;
    const char *text;

    qp_init(); /* once per process; later calls return at once */
    if (qp_note_parse(&note, "Meetings/2025/2025-01-02 Fuzz.md", (const char *)data, size, NULL,
                      &err) != QP_OK)
        return 0;
    text = qp_note_mention_text(note, &len);
    if (len != size || (size > 0 && text == NULL))
        abort();
    const qp_link *l = qp_note_links(note, &n);
    for (size_t i = 0; i < n; i++) {
        if (l[i].target == NULL)
            abort();
        if (l[i].syntax != QP_LINK_FRONTMATTER && (size_t)l[i].offset + l[i].len > size)
            abort();
    }
    const qp_task_line *t = qp_note_tasks(note, &n);
    for (size_t i = 0; i < n; i++)
        if (t[i].parent >= (int)i || strlen(t[i].symbol) == 0)
            abort();
    qp_note_tags(note, &n);
    qp_note_headings(note, &n);
    qp_note_blocks(note, &n);
    qp_note_mention_lines(note, &n);
    qp_note_query_blocks(note, &n);
    qp_note_diags(note, &n);
    if (qp_note_title(note) == NULL)
        abort();
    qp_note_free(note);
    return 0;
}
