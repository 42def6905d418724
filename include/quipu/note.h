#ifndef QUIPU_NOTE_H
#define QUIPU_NOTE_H

/*
 * note — parse one Markdown note into an immutable qp_note.
 *
 * qp_note_parse() is pure: bytes in, a note out. It does no I/O, keeps no
 * global state of its own and is safe to call from any number of threads at
 * once (cmark-gfm's extension registry is filled once through qp_init(),
 * see quipu/init.h). The note and everything reachable from it live
 * in one arena and are freed with qp_note_free(); every pointer an accessor
 * returns is borrowed and valid until then. A finished note is never
 * modified, so it may be handed to another thread.
 *
 * Positions: `line` and `col` are 1-based; `col` counts UTF-8 bytes from the
 * start of the line (as Neovim does); `offset` is the 0-based byte offset in
 * the input. Lines are counted in the file as given (frontmatter included,
 * a BOM does not count as a column).
 *
 * Bad input never fails the call: invalid YAML, invalid UTF-8 or NUL bytes
 * produce diagnostics and as much of the note as can be read.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"
#include "quipu/value.h"

typedef struct qp_note qp_note; /* opaque */

typedef enum qp_note_kind {
    QP_KIND_NOTE = 0,
    QP_KIND_PERSON,
    QP_KIND_MEETING,
} qp_note_kind;

/* "note", "person", "meeting". */
const char *qp_note_kind_name(qp_note_kind kind);

typedef enum qp_link_syntax {
    QP_LINK_WIKI = 0,    /* [[target#sub|display]], ![[...]] */
    QP_LINK_MARKDOWN,    /* [text](dest), ![alt](dest) to a local file */
    QP_LINK_FRONTMATTER, /* a frontmatter string that is exactly "[[...]]" */
} qp_link_syntax;

typedef struct qp_link {
    qp_link_syntax syntax;
    bool embed;
    const char *target;  /* linkpath: cleaned (NBSP→space, trimmed, NFC, URL-decoded for
                            Markdown); "" means the note itself (`[[#Heading]]`) */
    const char *subpath; /* "#H1#H2" or "#^blockid" as written (decoded), or NULL */
    const char *display; /* display text, or NULL when none was written */
    const char *key;     /* frontmatter links: dotted key path ("attendees.1"); else NULL */
    uint32_t line, col;  /* where the link starts (the `!` of an embed); frontmatter: the
                            value's position in the file */
    uint32_t offset;     /* byte span of the whole link in the input, for masking */
    uint32_t len;
} qp_link;

typedef struct qp_heading {
    int level;        /* 1..6 */
    const char *text; /* the heading's raw inline text, trimmed */
    uint32_t line;
} qp_heading;

typedef struct qp_block_id {
    const char *id; /* without the ^, case kept */
    uint32_t line;
} qp_block_id;

typedef struct qp_tag {
    const char *tag; /* with the leading '#', case kept, e.g. "#type/person" */
    bool frontmatter;
    uint32_t line, col; /* 0, 0 for frontmatter tags */
} qp_tag;

/* A checkbox list item ("- [ ] ...", "* [x] ...", "1. [/] ..."), as a raw line;
 * the Tasks fields are parsed by quipu/tasks.h. */
typedef struct qp_task_line {
    uint32_t line;
    uint32_t indent;    /* bytes of leading whitespace (a tab counts 1) */
    const char *symbol; /* the status symbol, one UTF-8 character ("x", " ", "/") */
    const char *text;   /* what follows "] ", up to the end of the line */
    const char *raw;    /* the whole source line, without its newline */
    int parent;         /* index of the enclosing task in qp_note_tasks(), or -1 */
    int heading;        /* index of the heading above it in qp_note_headings(), or -1 */
} qp_task_line;

/* A "- DATE: Mentioned in: TITLE" line of a person note's Recent Context. */
typedef struct qp_mention_line {
    uint32_t line;
    const char *date;  /* "YYYY-MM-DD" or NULL */
    const char *title; /* the meeting title as written, trimmed */
} qp_mention_line;

/* A fenced ```tasks block (Obsidian Tasks query). */
typedef struct qp_query_block {
    uint32_t line;     /* line of the opening fence */
    const char *query; /* the block's text, lines joined with '\n' */
} qp_query_block;

typedef enum qp_diag_severity {
    QP_DIAG_WARNING = 0,
    QP_DIAG_ERROR,
} qp_diag_severity;

typedef struct qp_diag {
    qp_diag_severity severity;
    uint32_t line, col; /* 0 when not about a place */
    const char *msg;    /* one line, no path: the caller knows which file */
} qp_diag;

typedef struct qp_note_options {
    size_t max_size;       /* inputs longer than this are cut there, with a diagnostic;
                              0 = default (QP_NOTE_MAX_SIZE) */
    size_t yaml_max_depth; /* deeper frontmatter nesting → invalid; 0 = default (64) */
} qp_note_options;

#define QP_NOTE_MAX_SIZE (8u * 1024 * 1024)
#define QP_NOTE_OPTIONS_INIT \
    {                        \
        0, 0                 \
    }

/* Parses `len` bytes of `path`'s content. `path` is vault-relative with '/'
 * separators and the .md extension; it gives the title and date fallbacks.
 * `opts` may be NULL for defaults. On success *out is a new note (free with
 * qp_note_free). Fails only with QP_ENOMEM. */
qp_rc qp_note_parse(qp_note **out, const char *path, const char *bytes, size_t len,
                    const qp_note_options *opts, qp_error *err);

/* Frees a note and everything it owns. Accepts NULL. */
void qp_note_free(qp_note *note);

/* Accessors: borrowed from the note. Array accessors set *n (may be 0 with a
 * non-NULL or NULL pointer) and return the elements in document order. */
const char *qp_note_path(const qp_note *note);
qp_note_kind qp_note_kind_of(const qp_note *note);
const char *qp_note_title(const qp_note *note); /* frontmatter title, else name, else basename */
const char *qp_note_date(const qp_note *note);  /* "YYYY-MM-DD" or NULL (see note-format.md) */
/* The frontmatter mapping; NULL when there is none or it is invalid. */
const qp_value *qp_note_properties(const qp_note *note);
const char *const *qp_note_aliases(const qp_note *note, size_t *n);
const qp_tag *qp_note_tags(const qp_note *note, size_t *n);   /* frontmatter first, then body */
const qp_link *qp_note_links(const qp_note *note, size_t *n); /* frontmatter first */
const qp_heading *qp_note_headings(const qp_note *note, size_t *n);
const qp_block_id *qp_note_blocks(const qp_note *note, size_t *n);

/* Where `subpath` ("#A#B", "#Heading" or "#^id", as a link writes it) lands
 * in this note, matched as links.md §7 matches it against an indexed
 * note: *found, and *line its 1-based line (0 for "#" or NULL, which are
 * found). For an editor's unsaved text, whose headings the index has not
 * seen. QP_ENOMEM only. */
qp_rc qp_note_find_subpath(const qp_note *note, const char *subpath, bool *found, uint32_t *line);
const qp_task_line *qp_note_tasks(const qp_note *note, size_t *n);
const qp_mention_line *qp_note_mention_lines(const qp_note *note, size_t *n);
const qp_query_block *qp_note_query_blocks(const qp_note *note, size_t *n);
const qp_diag *qp_note_diags(const qp_note *note, size_t *n);

/* The text that unlinked mentions are searched in: a copy of the input, of
 * the same length, in which every byte that cannot hold a mention is
 * replaced by a space (newlines are kept, so line and column of a match are
 * those of the source): the frontmatter, code spans and blocks, HTML, HTML
 * comments, math, and the spans of links and embeds. `%%comments%%`,
 * headings, tasks and list items are kept. */
const char *qp_note_mention_text(const qp_note *note, size_t *len);

/* The input as given (after cutting at max_size). */
const char *qp_note_source(const qp_note *note, size_t *len);

/* The memory the parsed note holds (its arena: the source, its parse and
 * what hangs on it), for callers that bound how many they keep. */
size_t qp_note_bytes(const qp_note *note);

#endif
