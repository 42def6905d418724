#ifndef QUIPU_LINKS_H
#define QUIPU_LINKS_H

/*
 * links — the parts of a link, as Obsidian splits them (spec/links.md §1).
 *
 * These are the building blocks the note parser and the frontmatter parser
 * share: split the inside of a `[[...]]`, decode a Markdown destination.
 * Resolution (link path → file) is the store's business (quipu/store.h).
 * All functions are pure and thread-safe; strings are allocated in the
 * caller's arena.
 */

#include <stdbool.h>
#include <stddef.h>

#include "quipu/arena.h"
#include "quipu/error.h"
#include "quipu/note.h"

/* Splits wikilink content (the bytes between `[[` and `]]`) into
 * out->target, out->subpath and out->display, per links.md §1.1: trim,
 * split at the first '|' unless it is the first character, drop a trailing
 * backslash from the target (table escape), NBSP → space, trim, NFC, split
 * the target at the first '#'. Only those three fields are written.
 * Returns false when the content is not a link (empty after trimming).
 * QP_ENOMEM is reported by returning false with *oom set (oom may be NULL). */
bool qp_link_split(qp_link *out, qp_arena *arena, const char *content, size_t len, bool *oom);

/* Percent-decodes a Markdown link destination into the arena. Returns NULL
 * when a '%' is not followed by two hex digits (Obsidian drops such links)
 * or when out of memory (then *oom is set; oom may be NULL). */
char *qp_link_url_decode(qp_arena *arena, const char *s, size_t len, bool *oom);

/* True when a Markdown destination is an external URL (has a scheme such as
 * http:, https:, mailto:, obsidian:, file:) and so not a vault link. */
bool qp_link_is_external(const char *dest, size_t len);

#endif
