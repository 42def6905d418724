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
 * The fences: the first line (after a BOM) is exactly "---" followed by LF
 * or CRLF; the block ends at the next line that is exactly "---" (a trailing
 * CR allowed). "...", "--- " or a missing closing fence mean no frontmatter:
 * the whole file is body. An empty block ("---\n---", or only comments) is
 * present, not valid, and has no diagnostic.
 *
 * Types (libyaml does not resolve them): a string shaped YYYY-MM-DD is a
 * DATE and YYYY-MM-DDTHH:MM[:SS] a DATETIME, quoted or not; an empty string
 * ('' or "") is NULL; other quoted and block scalars are STRING; plain
 * scalars follow the YAML 1.2 core schema (null ~ "" → NULL; true/false in
 * three casings → BOOL; decimal, 0x, 0o → INT, a decimal beyond int64 →
 * REAL; floats, .inf, .nan → REAL; else STRING, so `yes` is a string).
 * Invalid also covers: more than one YAML document, a non-scalar mapping
 * key, an unknown alias, and more than 100000 values once aliases are
 * expanded (alias nodes share the anchored subtree; they are not copied).
 *
 * aliases: the `aliases` value (key case-insensitive): each string of a
 * list, or the single string, trimmed; empty and non-string items dropped.
 * tags: the `tags` value likewise, trimmed, dropped when empty or holding
 * white space, "#" prepended when missing (no comma split).
 * links: document order; key is the dotted path ("attendees.1",
 * "project.lead"); line/col are the scalar's file position (col in bytes),
 * offset/len its byte span including quotes. A value reached through an
 * alias yields a link under its own key with the anchored scalar's place.
 *
 * Diagnostics: line/col are file positions (the opening fence is line 1).
 *
 * Pure and thread-safe; everything is allocated in the caller's arena and
 * valid until that arena is freed. Never reads outside bytes[0, len).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"
#include "quipu/error.h"
#include "quipu/note.h"
#include "quipu/value.h"

typedef struct qp_frontmatter {
    bool present;               /* a fenced block exists at the start */
    bool valid;                 /* it parsed to a mapping */
    size_t body_offset;         /* byte offset of the first body byte (0 when not present) */
    uint32_t body_line;         /* 1-based line of the first body line (1 when not present) */
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
