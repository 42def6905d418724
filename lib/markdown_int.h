#ifndef QP_MARKDOWN_INT_H
#define QP_MARKDOWN_INT_H

/*
 * markdown (internal) — one cmark-gfm pass over a note's body.
 *
 * cmark-gfm knows none of Obsidian's syntax (wikilinks, tags, block ids,
 * math), so this module only reports structure: which bytes are raw
 * (code, HTML, math: nothing there is a link or a tag), where the list
 * items, root headings, paragraphs, tables, fenced blocks and inline
 * Markdown links are. lib/note.c scans the unmasked text for the rest.
 *
 * Lines are 1-based and relative to the body (line 1 = the byte at offset
 * 0); offsets are 0-based into the body. Line ends are "\n", "\r\n" or a
 * lone "\r", as cmark counts them. cmark's inline end positions are wrong
 * on continuation lines of a container, so only start positions of inlines
 * are trusted; ends are recomputed from the source.
 *
 * Everything is allocated in the caller's arena. cmark's extensions are
 * registered through qp_init() (once per process, thread-safe).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"
#include "quipu/error.h"

enum {
    QP__MD_MASK_RAW = 1, /* code span/block, HTML block/inline/comment, math */
};

typedef struct qp__md_item {
    uint32_t line; /* line of the item's marker */
    int parent;    /* index of the nearest enclosing item, or -1 */
} qp__md_item;

typedef struct qp__md_heading {
    int level;
    uint32_t line, last_line; /* last_line > line for a setext heading (its underline) */
} qp__md_heading;

typedef struct qp__md_para {
    uint32_t line, last_line;
} qp__md_para;

typedef struct qp__md_lines {
    uint32_t first, last;
} qp__md_lines;

typedef struct qp__md_fence {
    uint32_t line;       /* the opening fence */
    const char *info;    /* the info string ("" when none) */
    const char *literal; /* the content, container indentation removed */
} qp__md_fence;

typedef struct qp__md_link {
    bool image;
    uint32_t start, end; /* byte span [start, end) of the whole link, `!` included */
    const char *url;     /* cmark's destination (entity and backslash unescaped) */
    const char *text;    /* the plain text of the link's label ("" when empty) */
} qp__md_link;

typedef struct qp__md_doc {
    const char *src; /* the body (borrowed from the caller) */
    size_t len;
    unsigned char *mask;  /* len bytes, QP__MD_MASK_* bits */
    uint32_t *line_start; /* nlines + 1 entries; line_start[nlines] == len */
    uint32_t nlines;
    qp__md_item *items;
    size_t nitems;
    qp__md_heading *headings; /* at the document root only */
    size_t nheadings;
    qp__md_para *paras; /* every paragraph, any depth, in document order */
    size_t nparas;
    qp__md_lines *tables;
    size_t ntables;
    qp__md_fence *fences;
    size_t nfences;
    qp__md_link *links; /* inline links and images only: `[x](dest)`, never `[x][ref]` */
    size_t nlinks;
} qp__md_doc;

/* Parses body[0..len). Fills *out; fails only with QP_ENOMEM. */
qp_rc qp__md_parse(qp__md_doc *out, qp_arena *arena, const char *body, size_t len, qp_error *err);

/* The 1-based line holding byte `off` (off <= len). */
uint32_t qp__md_line_of(const qp__md_doc *doc, size_t off);

/* The byte span of line `line` without its line ending. */
void qp__md_line_span(const qp__md_doc *doc, uint32_t line, size_t *start, size_t *end);

#endif
