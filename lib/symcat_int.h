#ifndef QUIPU_SYMCAT_INT_H
#define QUIPU_SYMCAT_INT_H

/*
 * symcat_int — symbols.search's use of the symbol catalogue (symcat.c).
 * Internal to libquipu.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"
#include "quipu/store.h"
#include "quipu/symcat.h"

enum {
    QP__SYM_NOTE = 0,
    QP__SYM_ALIAS,
    QP__SYM_HEADING
};

/* One match: `cls` a qp__match, `type` a QP__SYM_*, `at` a heading's line,
 * an alias's place among its note's aliases (0 first, in the index's
 * order), 0 for a note. False stops the collection (out of memory). */
typedef bool (*qp__symcat_hit_fn)(void *payload, int cls, int type, int64_t file, int64_t mtime,
                                  uint32_t at);

/* Brings c up to date with st's snapshot (inside its read transaction)
 * and calls `hit` for each note, alias and heading that matches the
 * folded query q (qp__match_of), in no particular order. */
qp_rc qp__symcat_collect(qp_symcat *c, qp_store *st, const char *q, size_t qlen,
                         qp__symcat_hit_fn hit, void *payload, qp_error *err);

#endif
