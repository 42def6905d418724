/*
 * fuzz_frontmatter — qp_frontmatter_parse on arbitrary bytes: it must never
 * crash, read outside the input, or fail with anything but QP_ENOMEM, and
 * what it returns must hold together (spans inside the input, one
 * diagnostic at most, nothing but a diagnostic when invalid).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/arena.h"
#include "quipu/frontmatter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qp_arena *arena = qp_arena_new();
    char *copy;
    qp_frontmatter fm;
    qp_rc rc;

    if (arena == NULL)
        return 0;
    /* An exact-size heap copy, so ASan sees any read past the end. */
    copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) {
        qp_arena_free(arena);
        return 0;
    }
    if (size > 0)
        memcpy(copy, data, size);
    rc = qp_frontmatter_parse(&fm, arena, copy, size, 0, NULL);
    if (rc != QP_OK && rc != QP_ENOMEM)
        abort();
    if (rc == QP_OK) {
        if (fm.body_offset > size || fm.ndiags > 1 || (!fm.present && fm.body_offset != 0))
            abort();
        if (!fm.valid && (fm.properties != NULL || fm.nlinks || fm.ntags || fm.naliases))
            abort();
        for (size_t i = 0; i < fm.nlinks; i++)
            if ((size_t)fm.links[i].offset + fm.links[i].len > fm.body_offset ||
                fm.links[i].target == NULL || fm.links[i].key == NULL)
                abort();
        for (size_t i = 0; i < fm.ntags; i++)
            if (fm.tags[i].tag[0] != '#' || fm.tags[i].tag[1] == '\0')
                abort();
    }
    free(copy);
    qp_arena_free(arena);
    return 0;
}
