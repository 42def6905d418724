#ifndef QUIPU_MENTIONS_INT_H
#define QUIPU_MENTIONS_INT_H

/*
 * mentions_int — finding mentions of a name in a note's text inside
 * libquipu (mentions.c), spec/links.md §4.3. Pure: text in, hits out.
 */

#include <stddef.h>

#include "quipu/error.h"

typedef struct qp__mention_hit {
    size_t offset; /* byte offset in the text */
    size_t len;    /* byte length of the match in the text */
} qp__mention_hit;

/* Finds every occurrence of any of `names` (each already qp_text_fold()ed,
 * non-empty) in text[0..len), case-insensitively (full Unicode lower-case),
 * with no word character (qp_text_is_word) directly before or after it.
 * Hits that start at the same offset count once (the longest). *out is new
 * (free()), sorted by offset; may be NULL when *n is 0. */
qp_rc qp__mentions_find(qp__mention_hit **out, size_t *n, const char *text, size_t len,
                        const char *const *names, size_t nnames, qp_error *err);

#endif
