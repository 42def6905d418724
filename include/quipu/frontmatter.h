#ifndef QUIPU_FRONTMATTER_H
#define QUIPU_FRONTMATTER_H

/*
 * frontmatter — find and parse a note's YAML frontmatter (libyaml) into
 * typed properties, aliases, tags and frontmatter links (spec/links.md §1.3,
 * §3, §5.2, §6).
 *
 * Frontmatter exists only at byte 0 (after an optional UTF-8 BOM): a line
 * "---", then YAML, then a line "---". CRLF is tolerated. An invalid block
 * (YAML error, not a mapping, duplicate keys, too deep, an alias expansion
 * bomb) yields no properties, aliases, tags or links — and one diagnostic
 * with the YAML error's line — but is still not body text.
 *
 * Pure and thread-safe; everything is allocated in the caller's arena and
 * valid until that arena is freed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"
#include "quipu/error.h"
#include "quipu/note.h"
#include "quipu/value.h"

typedef struct qp_frontmatter {
    bool present;        /* a fenced block exists at the start */
    bool valid;          /* it parsed to a mapping */
    size_t body_offset;  /* byte offset of the first body byte (0 when not present) */
    uint32_t body_line;  /* 1-based line of the first body line (1 when not present) */
    const qp_value *properties; /* the mapping when valid, else NULL */
    const char *const *aliases; /* `aliases` (key case-insensitive), normalised */
    size_t naliases;
    const qp_tag *tags; /* `tags`, normalised to "#tag", frontmatter = true */
    size_t ntags;
    const qp_link *links; /* every whole-string "[[...]]" value, with key path and position */
    size_t nlinks;
    const qp_diag *diags;
    size_t ndiags;
} qp_frontmatter;

/* Parses the frontmatter of `bytes`. max_depth bounds nesting (0 = 64).
 * Always fills *out (an absent block gives present = false). Fails only
 * with QP_ENOMEM. */
qp_rc qp_frontmatter_parse(qp_frontmatter *out, qp_arena *arena, const char *bytes, size_t len,
                           size_t max_depth, qp_error *err);

#endif
