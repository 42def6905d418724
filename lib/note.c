/*
 * note — qp_note_parse(): frontmatter (lib/frontmatter.c), body structure
 * (lib/markdown.c, cmark-gfm), then Obsidian's own syntax read from the
 * unmasked source: wikilinks and embeds, tags, block ids, task lines,
 * "Mentioned in" lines (spec/links.md, spec/note-format.md).
 *
 * Invariants: a note and everything it points to live in note->arena; the
 * note is never changed after qp_note_parse() returns. Offsets in the body
 * walk are relative to body_start; every position handed out is a file
 * position (line = body_line + body line - 1, col in bytes from the line's
 * start, the BOM not counted).
 */
#include "quipu/note.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markdown_int.h"
#include "note_int.h"
#include "quipu/arena.h"
#include "quipu/frontmatter.h"
#include "quipu/links.h"
#include "quipu/text.h"
#include "resolve_int.h"

enum {
    MASK_LINK = 2, /* a link or embed span: no tags inside, blanked in the mention text */
};

struct qp_note {
    qp_arena *arena;
    const char *path;
    qp_note_kind kind;
    const char *title;
    const char *date;
    const qp_value *properties;
    const char *const *aliases;
    size_t naliases;
    qp_tag *tags;
    size_t ntags, captags;
    qp_link *links;
    size_t nlinks, caplinks;
    qp_heading *headings;
    size_t nheadings, capheadings;
    qp_block_id *blocks;
    size_t nblocks, capblocks;
    qp_task_line *tasks;
    size_t ntasks, captasks;
    qp_mention_line *mentions;
    size_t nmentions, capmentions;
    qp_query_block *queries;
    size_t nqueries, capqueries;
    qp_diag *diags;
    size_t ndiags, capdiags;
    const char *source;
    size_t len;
    char *mention_text;
    const qp__search_doc *search_doc; /* note_int.h */
};

/* Parse state shared by the body passes. */
typedef struct body {
    qp_note *note;
    const char *s;  /* the body: source + start */
    size_t start;   /* offset of the body in the source */
    uint32_t line0; /* file line of body line 1 */
    qp__md_doc md;
    bool *comment; /* md.nlines + 1 entries: body line i is in a %% comment block */
    bool oom;
} body;

static void *push(qp_arena *a, void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        void *grown = qp_arena_grow(a, *arr, *n, ncap, elem);
        if (grown == NULL)
            return NULL;
        *arr = grown;
        *cap = ncap;
    }
    return (char *)*arr + (*n)++ * elem;
}

#define PUSH(note, arr, n, cap) \
    push((note)->arena, (void **)&(note)->arr, &(note)->n, &(note)->cap, sizeof *(note)->arr)

const char *qp_note_kind_name(qp_note_kind kind)
{
    switch (kind) {
    case QP_KIND_PERSON:
        return "person";
    case QP_KIND_MEETING:
        return "meeting";
    case QP_KIND_NOTE:
    default:
        return "note";
    }
}

static bool add_diag(qp_note *note, qp_diag_severity sev, uint32_t line, uint32_t col,
                     const char *msg)
{
    qp_diag *d = PUSH(note, diags, ndiags, capdiags);

    if (d == NULL)
        return false;
    d->severity = sev;
    d->line = line;
    d->col = col;
    d->msg = qp_arena_strdup(note->arena, msg);
    return d->msg != NULL;
}

/* 1-based line of byte `off` of the whole source ("\n" ends a line). */
static uint32_t source_line(const char *s, size_t off)
{
    uint32_t line = 1;

    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n')
            line++;
    return line;
}

/* Reports the first invalid UTF-8 sequence and the first NUL byte. */
static bool check_encoding(qp_note *note)
{
    const char *s = note->source;
    size_t len = note->len;
    const char *nul = memchr(s, '\0', len);
    char msg[96];

    if (nul != NULL) {
        size_t off = (size_t)(nul - s);
        snprintf(msg, sizeof msg, "NUL byte at offset %zu: the file looks binary", off);
        if (!add_diag(note, QP_DIAG_WARNING, source_line(s, off), 0, msg))
            return false;
    }
    if (qp_text_utf8_valid(s, len))
        return true;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = qp_text_decode(s + i, len - i, &cp);
        if (cp == 0xFFFD && n == 1) {
            snprintf(msg, sizeof msg, "invalid UTF-8 at offset %zu", i);
            return add_diag(note, QP_DIAG_WARNING, source_line(s, i), 0, msg);
        }
        i += n;
    }
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* File line of a body line. */
static uint32_t file_line(const body *b, uint32_t body_line)
{
    return b->line0 + body_line - 1;
}

/* File line and column of body offset `off`. */
static void position(const body *b, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t bl = qp__md_line_of(&b->md, off);

    *line = file_line(b, bl);
    *col = (uint32_t)(off - b->md.line_start[bl - 1]) + 1;
}

static bool in_table(const body *b, uint32_t body_line)
{
    for (size_t i = 0; i < b->md.ntables; i++)
        if (body_line >= b->md.tables[i].first && body_line <= b->md.tables[i].last)
            return true;
    return false;
}

/* True when body line `bl` lies in a `%%` comment block. */
static bool in_comment(const body *b, uint32_t bl)
{
    return b->comment != NULL && bl >= 1 && bl <= b->md.nlines && b->comment[bl];
}

/* Obsidian comment blocks: a line whose text (after white space and
 * blockquote markers) starts with `%%`, outside code and HTML, opens a
 * comment that runs to the line holding the next `%%`, or to the end of the
 * note when none follows. Obsidian makes it one "comment" section: the
 * lines inside are no list items (so no tasks), headings or block ids, and
 * a ```tasks fence inside is no query. Links and tags written inside still
 * count (links.md §1.2, §5.1): those passes do not look at this map. */
static bool mark_comments(body *b)
{
    const char *s = b->s;
    size_t len = b->md.len;

    for (uint32_t l = 1; l <= b->md.nlines; l++) {
        size_t ls, le, p, q;
        uint32_t last;

        qp__md_line_span(&b->md, l, &ls, &le);
        p = ls;
        while (p < le && (is_blank(s[p]) || s[p] == '>'))
            p++;
        if (p + 1 >= le || s[p] != '%' || s[p + 1] != '%' || b->md.mask[p] || b->md.mask[p + 1])
            continue;
        q = p + 2;
        while (q + 1 < len && !(s[q] == '%' && s[q + 1] == '%'))
            q++;
        last = q + 1 < len ? qp__md_line_of(&b->md, q) : b->md.nlines;
        if (b->comment == NULL) {
            b->comment = qp_arena_alloc(b->note->arena, (b->md.nlines + 1) * sizeof *b->comment);
            if (b->comment == NULL)
                return false;
            memset(b->comment, 0, (b->md.nlines + 1) * sizeof *b->comment);
        }
        for (uint32_t k = l; k <= last; k++)
            b->comment[k] = true;
        l = last;
    }
    return true;
}

static bool add_body_link(body *b, qp_link *l, size_t start, size_t end)
{
    qp_note *note = b->note;
    qp_link *dst = PUSH(note, links, nlinks, caplinks);

    if (dst == NULL)
        return false;
    *dst = *l;
    dst->key = NULL;
    position(b, start, &dst->line, &dst->col);
    dst->offset = (uint32_t)(b->start + start);
    dst->len = (uint32_t)(end - start);
    for (size_t i = start; i < end; i++)
        b->md.mask[i] |= MASK_LINK;
    return true;
}

/* Wikilinks and embeds (links.md §1.1): the content runs to the first `]]`
 * on the same line; a `[[` inside it means this `[[` is no link (a later
 * one may be); `\[[` is escaped; inside a table an unescaped `|` has split
 * the cell, so the link is broken there. Only the opening `[[` must lie
 * outside code, HTML and math: a code span written inside the link (in its
 * subpath or display text) is part of the link. */
static bool scan_wikilinks(body *b)
{
    const char *s = b->s;
    const unsigned char *m = b->md.mask;
    size_t len = b->md.len;

    for (size_t i = 0; i + 1 < len; i++) {
        size_t j, clen;
        const char *content;
        bool embed, oom = false;
        qp_link l;

        if (m[i] || s[i] != '[' || s[i + 1] != '[' || m[i + 1])
            continue;
        if (i > 0 && s[i - 1] == '\\')
            continue;
        for (j = i + 2; j + 1 < len && s[j] != '\n' && s[j] != '\r'; j++)
            if (s[j] == ']' && s[j + 1] == ']')
                break;
        if (j + 1 >= len || s[j] != ']' || s[j + 1] != ']')
            continue;
        content = s + i + 2;
        clen = j - (i + 2);
        /* Raw spans that open inside the link do not hide it: Obsidian's help
         * vault writes [[Functions#hasTag|`hasTag`]] and [[#`move`|move]] on
         * purpose, and they are links there (the `[[` comes first). */
        bool bad = false;
        for (size_t k = 0; k + 1 < clen && !bad; k++)
            bad = content[k] == '[' && content[k + 1] == '[';
        if (!bad && in_table(b, qp__md_line_of(&b->md, i))) {
            for (size_t k = 0; k < clen && !bad; k++)
                bad = content[k] == '|' && (k == 0 || content[k - 1] != '\\');
        }
        if (bad)
            continue;
        memset(&l, 0, sizeof l);
        if (!qp_link_split(&l, b->note->arena, content, clen, &oom)) {
            if (oom)
                return false;
            continue;
        }
        embed = i > 0 && s[i - 1] == '!' && !m[i - 1];
        l.syntax = QP_LINK_WIKI;
        l.embed = embed;
        if (!add_body_link(b, &l, embed ? i - 1 : i, j + 2))
            return false;
        i = j + 1;
    }
    return true;
}

/* Inline Markdown links and images to vault files (links.md §1.4). */
static bool add_markdown_links(body *b)
{
    qp_arena *a = b->note->arena;

    for (size_t i = 0; i < b->md.nlinks; i++) {
        const qp__md_link *ml = &b->md.links[i];
        const char *url = ml->url, *hash;
        size_t ulen = strlen(url), plen;
        char *path, *sub = NULL;
        bool oom = false;
        qp_link l;

        if (ulen == 0 || qp_link_is_external(url, ulen))
            continue;
        if (b->md.mask[ml->start] & MASK_LINK)
            continue; /* a wikilink already took these bytes */
        hash = memchr(url, '#', ulen);
        plen = hash != NULL ? (size_t)(hash - url) : ulen;
        path = qp_link_url_decode(a, url, plen, &oom);
        if (path != NULL && hash != NULL)
            sub = qp_link_url_decode(a, hash, ulen - plen, &oom);
        if (oom)
            return false;
        if (path == NULL || (hash != NULL && sub == NULL))
            continue; /* a malformed %-escape: Obsidian drops the link */
        memset(&l, 0, sizeof l);
        l.syntax = QP_LINK_MARKDOWN;
        l.embed = ml->image;
        l.target = qp_text_nfc_arena(a, path, strlen(path));
        l.subpath = sub;
        l.display = ml->text != NULL && ml->text[0] != '\0' ? ml->text : NULL;
        if (l.target == NULL)
            return false;
        if (!add_body_link(b, &l, ml->start, ml->end))
            return false;
    }
    return true;
}

static int cmp_link(const void *x, const void *y)
{
    const qp_link *a = x, *b = y;

    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* A character that ends a tag (links.md §5.1). */
static bool tag_stop(uint32_t cp, size_t n)
{
    if (cp == 0xFFFD && n == 1)
        return true; /* invalid UTF-8 */
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'))
            return false;
        return !(cp == '_' || cp == '-' || cp == '/');
    }
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2E00 && cp <= 0x2E7F) || cp == 0x3000)
        return true;
    return qp_text_is_space(cp) || cp < 0xA0;
}

/* True when s[i] follows a backslash escape (`\[`, an odd run of
 * backslashes before ASCII punctuation). The escape ends a text token in
 * Obsidian's parser, so a `#` right after it starts a tag as at the start of
 * a text: `\[\[#Escaped Links\]\]` has the tag #Escaped. */
static bool after_escape(const char *s, size_t i)
{
    size_t k = i - 1, run = 0;
    unsigned char c = (unsigned char)s[k];

    if (i < 2 || c == '\0' || strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) == NULL)
        return false;
    while (k > 0 && s[k - 1] == '\\') {
        k--;
        run++;
    }
    return run % 2 == 1;
}

static bool scan_tags(body *b)
{
    qp_note *note = b->note;
    const char *s = b->s;
    const unsigned char *m = b->md.mask;
    size_t len = b->md.len;

    for (size_t i = 0; i < len; i++) {
        size_t j = i + 1;
        bool digits = true;
        qp_tag *t;

        if (m[i] || s[i] != '#')
            continue;
        if (i > 0) {
            uint32_t cp;
            qp_text_decode_before(s, i, &cp);
            if (!(s[i - 1] == '\n' || s[i - 1] == '\r' || qp_text_is_space(cp) ||
                  after_escape(s, i)))
                continue;
        }
        while (j < len && !m[j]) {
            uint32_t cp;
            size_t n = qp_text_decode(s + j, len - j, &cp);
            if (tag_stop(cp, n))
                break;
            if (!(cp >= '0' && cp <= '9'))
                digits = false;
            j += n;
        }
        if (j == i + 1 || digits)
            continue;
        t = PUSH(note, tags, ntags, captags);
        if (t == NULL)
            return false;
        t->tag = qp_arena_strndup(note->arena, s + i, j - i);
        t->frontmatter = false;
        position(b, i, &t->line, &t->col);
        if (t->tag == NULL)
            return false;
        i = j - 1;
    }
    return true;
}

/* A trimmed copy of s[from..to). */
static char *trimmed(qp_arena *a, const char *s, size_t from, size_t to)
{
    while (from < to && (is_blank(s[from]) || s[from] == '\r' || s[from] == '\n'))
        from++;
    while (to > from && (is_blank(s[to - 1]) || s[to - 1] == '\r' || s[to - 1] == '\n'))
        to--;
    return qp_arena_strndup(a, s + from, to - from);
}

static bool add_headings(body *b)
{
    qp_note *note = b->note;

    for (size_t i = 0; i < b->md.nheadings; i++) {
        const qp__md_heading *mh = &b->md.headings[i];
        qp_heading *h;
        size_t s, e;

        if (in_comment(b, mh->line))
            continue;
        if ((h = PUSH(note, headings, nheadings, capheadings)) == NULL)
            return false;
        h->level = mh->level;
        h->line = file_line(b, mh->line);
        if (mh->last_line > mh->line) {
            /* Setext: the text lines above the underline, joined by spaces. */
            size_t cap = 0, n = 0;
            char *buf;
            for (uint32_t l = mh->line; l < mh->last_line; l++) {
                qp__md_line_span(&b->md, l, &s, &e);
                cap += e - s + 1;
            }
            buf = qp_arena_alloc(note->arena, cap + 1);
            if (buf == NULL)
                return false;
            for (uint32_t l = mh->line; l < mh->last_line; l++) {
                char *part;
                qp__md_line_span(&b->md, l, &s, &e);
                part = trimmed(note->arena, b->s, s, e);
                if (part == NULL)
                    return false;
                if (n > 0 && part[0] != '\0')
                    buf[n++] = ' ';
                memcpy(buf + n, part, strlen(part));
                n += strlen(part);
            }
            buf[n] = '\0';
            h->text = buf;
            continue;
        }
        /* ATX: drop up to three spaces, the opening #s, a closing run of #s
         * preceded by a space, and the white space around the text. */
        qp__md_line_span(&b->md, mh->line, &s, &e);
        while (s < e && is_blank(b->s[s]))
            s++;
        while (s < e && b->s[s] == '#')
            s++;
        while (e > s && is_blank(b->s[e - 1]))
            e--;
        {
            size_t c = e;
            while (c > s && b->s[c - 1] == '#')
                c--;
            if (c == s || is_blank(b->s[c - 1]))
                e = c;
        }
        h->text = trimmed(note->arena, b->s, s, e);
        if (h->text == NULL)
            return false;
    }
    return true;
}

static bool is_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
}

/* Block ids (links.md §7.2): `^id` ending a paragraph's last line (a list
 * item's text is a paragraph too), after white space or alone on the line
 * (container markers `>` aside). */
static bool add_blocks(body *b)
{
    qp_note *note = b->note;

    for (size_t i = 0; i < b->md.nparas; i++) {
        uint32_t last = b->md.paras[i].last_line;
        size_t s, e, c;
        qp_block_id *blk;

        if (in_comment(b, last))
            continue;

        qp__md_line_span(&b->md, last, &s, &e);
        while (e > s && is_blank(b->s[e - 1]))
            e--;
        c = e;
        while (c > s && is_id_char(b->s[c - 1]))
            c--;
        if (c == e || c == s || b->s[c - 1] != '^' || b->md.mask[c - 1])
            continue;
        if (c - 1 > s && !is_blank(b->s[c - 2])) {
            bool only_prefix = true;
            for (size_t k = s; k < c - 1 && only_prefix; k++)
                only_prefix = is_blank(b->s[k]) || b->s[k] == '>';
            if (!only_prefix)
                continue;
        }
        blk = PUSH(note, blocks, nblocks, capblocks);
        if (blk == NULL)
            return false;
        blk->id = qp_arena_strndup(note->arena, b->s + c, e - c);
        blk->line = file_line(b, last);
        if (blk->id == NULL)
            return false;
    }
    return true;
}

/* Skips the indentation of a list line: white space and blockquote `>`. */
static size_t skip_indent(const char *s, size_t p, size_t e)
{
    while (p < e && (is_blank(s[p]) || s[p] == '>'))
        p++;
    return p;
}

/* Skips a list marker (`-`, `*`, `+`, `1.`, `1)`) and the blanks after it;
 * returns 0 when there is none. */
static size_t skip_marker(const char *s, size_t p, size_t e)
{
    size_t q = p;

    if (q < e && (s[q] == '-' || s[q] == '*' || s[q] == '+')) {
        q++;
    } else {
        while (q < e && q - p < 9 && is_digit(s[q]))
            q++;
        if (q == p || q >= e || (s[q] != '.' && s[q] != ')'))
            return 0;
        q++;
    }
    if (q >= e || !is_blank(s[q]))
        return 0;
    while (q < e && is_blank(s[q]))
        q++;
    return q;
}

/* Tries to read line `bl` as a task; fills *t and returns true when it is one. */
static bool read_task(body *b, uint32_t bl, qp_task_line *t, bool *oom)
{
    qp_arena *a = b->note->arena;
    const char *s = b->s;
    size_t ls, le, p, q, n;
    uint32_t cp;

    qp__md_line_span(&b->md, bl, &ls, &le);
    p = skip_indent(s, ls, le);
    q = skip_marker(s, p, le);
    if (q == 0 || q >= le || s[q] != '[' || q + 1 >= le)
        return false;
    n = qp_text_decode(s + q + 1, le - q - 1, &cp);
    /* The status is one character: not a control byte (NUL, newline), not
     * a broken UTF-8 sequence. */
    if ((unsigned char)s[q + 1] < 0x20 || (cp == 0xFFFD && n == 1))
        return false;
    if (q + 1 + n >= le + 1 || q + 1 + n > le || s[q + 1 + n] != ']')
        return false;
    p = q + 2 + n; /* after `]` */
    if (p < le && !is_blank(s[p]))
        return false;
    t->line = file_line(b, bl);
    t->indent = (uint32_t)(skip_indent(s, ls, le) - ls);
    t->symbol = qp_arena_strndup(a, s + q + 1, n);
    t->text = trimmed(a, s, p, le);
    t->raw = qp_arena_strndup(a, s + ls, le - ls);
    if (t->symbol == NULL || t->text == NULL || t->raw == NULL)
        *oom = true;
    return !*oom;
}

/* `- YYYY-MM-DD: Mentioned in: TITLE` (note-format.md). */
static bool read_mention(body *b, uint32_t bl, qp_mention_line *ml, bool *oom)
{
    static const char key[] = "Mentioned in:";
    qp_arena *a = b->note->arena;
    const char *s = b->s;
    size_t ls, le, p;

    qp__md_line_span(&b->md, bl, &ls, &le);
    p = skip_marker(s, skip_indent(s, ls, le), le);
    if (p == 0 || le - p < 11 + sizeof key - 1)
        return false;
    for (int k = 0; k < 10; k++) {
        bool dash = k == 4 || k == 7;
        if (dash ? s[p + (size_t)k] != '-' : !is_digit(s[p + (size_t)k]))
            return false;
    }
    if (s[p + 10] != ':')
        return false;
    ml->date = qp_arena_strndup(a, s + p, 10);
    p += 11;
    while (p < le && is_blank(s[p]))
        p++;
    if (le - p < sizeof key - 1 || memcmp(s + p, key, sizeof key - 1) != 0)
        return false;
    ml->title = trimmed(a, s, p + sizeof key - 1, le);
    ml->line = file_line(b, bl);
    if (ml->date == NULL || ml->title == NULL) {
        *oom = true;
        return false;
    }
    return ml->title[0] != '\0';
}

static bool add_items(body *b)
{
    qp_note *note = b->note;
    int *item_task = NULL;
    uint32_t last_task_line = 0;
    bool ok = false;

    if (b->md.nitems == 0)
        return true;
    item_task = qp_arena_alloc(note->arena, b->md.nitems * sizeof *item_task);
    if (item_task == NULL)
        return false;
    for (size_t i = 0; i < b->md.nitems; i++) {
        const qp__md_item *it = &b->md.items[i];
        qp_task_line t;
        qp_mention_line ml;
        bool oom = false;

        item_task[i] = -1;
        if (in_comment(b, it->line))
            continue; /* inside a %% comment block there are no list items */
        /* `- - [ ] x` opens two items on one line: one task at most. */
        if (it->line != last_task_line && read_task(b, it->line, &t, &oom)) {
            qp_task_line *dst;
            int up = it->parent;
            while (up >= 0 && item_task[up] < 0)
                up = b->md.items[up].parent;
            t.parent = up >= 0 ? item_task[up] : -1;
            t.heading = -1;
            for (size_t h = 0; h < note->nheadings; h++)
                if (note->headings[h].line < t.line)
                    t.heading = (int)h;
            dst = PUSH(note, tasks, ntasks, captasks);
            if (dst == NULL)
                goto done;
            *dst = t;
            item_task[i] = (int)note->ntasks - 1;
            last_task_line = it->line;
            continue;
        }
        if (oom)
            goto done;
        if (read_mention(b, it->line, &ml, &oom)) {
            qp_mention_line *dst = PUSH(note, mentions, nmentions, capmentions);
            if (dst == NULL)
                goto done;
            *dst = ml;
        } else if (oom) {
            goto done;
        }
    }
    ok = true;
done:
    return ok;
}

static bool add_queries(body *b)
{
    qp_note *note = b->note;

    for (size_t i = 0; i < b->md.nfences; i++) {
        const qp__md_fence *f = &b->md.fences[i];
        size_t il = strcspn(f->info, " \t");
        size_t n = 0, ll = strlen(f->literal);
        char *q;
        qp_query_block *qb;

        if (il != 5 || memcmp(f->info, "tasks", 5) != 0 || in_comment(b, f->line))
            continue;
        q = qp_arena_alloc(note->arena, ll + 1);
        if (q == NULL)
            return false;
        for (size_t k = 0; k < ll; k++)
            if (f->literal[k] != '\r')
                q[n++] = f->literal[k];
        if (n > 0 && q[n - 1] == '\n')
            n--;
        q[n] = '\0';
        qb = PUSH(note, queries, nqueries, capqueries);
        if (qb == NULL)
            return false;
        qb->line = file_line(b, f->line);
        qb->query = q;
    }
    return true;
}

static bool mention_text(body *b)
{
    qp_note *note = b->note;
    char *t = qp_arena_alloc(note->arena, note->len + 1);

    if (t == NULL)
        return false;
    memcpy(t, note->source, note->len);
    for (size_t i = 0; i < b->start; i++)
        if (t[i] != '\n' && t[i] != '\r')
            t[i] = ' ';
    for (size_t i = 0; i < b->md.len; i++)
        if (b->md.mask[i] && t[b->start + i] != '\n' && t[b->start + i] != '\r')
            t[b->start + i] = ' ';
    note->mention_text = t;
    return true;
}

/* A string-like property value, or NULL ('' is null, so it never counts). */
static const char *prop_text(const qp_value *props, const char *key)
{
    const qp_value *v = qp_value_get(props, key);

    if (v == NULL)
        return NULL;
    if ((v->type == QP_VALUE_STRING || v->type == QP_VALUE_DATE || v->type == QP_VALUE_DATETIME) &&
        v->u.str.len > 0)
        return v->u.str.s;
    return NULL;
}

static bool starts_with_date(const char *s)
{
    for (int k = 0; k < 10; k++) {
        bool dash = k == 4 || k == 7;
        if (s[k] == '\0' || (dash ? s[k] != '-' : !is_digit(s[k])))
            return false;
    }
    return !is_digit(s[10]);
}

static bool tag_is(const char *tag, const char *want)
{
    size_t n = strlen(want);

    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return false;
    }
    return tag[n] == '\0' || tag[n] == '/';
}

static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* Kind, title and date (note-format.md). */
static bool classify(qp_note *note)
{
    const char *type = prop_text(note->properties, "type");
    const char *base = strrchr(note->path, '/');
    const char *t, *d;
    size_t blen;

    note->kind = QP_KIND_NOTE;
    if (type != NULL && ascii_ieq(type, "person"))
        note->kind = QP_KIND_PERSON;
    else if (type != NULL && ascii_ieq(type, "meeting"))
        note->kind = QP_KIND_MEETING;
    for (size_t i = 0; i < note->ntags && note->kind == QP_KIND_NOTE; i++) {
        if (tag_is(note->tags[i].tag, "#type/person"))
            note->kind = QP_KIND_PERSON;
        else if (tag_is(note->tags[i].tag, "#type/meeting"))
            note->kind = QP_KIND_MEETING;
    }

    base = base != NULL ? base + 1 : note->path;
    blen = strlen(base);
    if (blen > 3 && memcmp(base + blen - 3, ".md", 3) == 0)
        blen -= 3;
    t = prop_text(note->properties, "title");
    if (t == NULL)
        t = prop_text(note->properties, "name");
    note->title = t != NULL ? t : qp_arena_strndup(note->arena, base, blen);
    if (note->title == NULL)
        return false;

    d = prop_text(note->properties, "date");
    note->date = NULL;
    if (d != NULL && starts_with_date(d))
        note->date = qp_arena_strndup(note->arena, d, 10);
    else if (blen >= 10 && starts_with_date(base))
        note->date = qp_arena_strndup(note->arena, base, 10);
    else
        return true;
    return note->date != NULL;
}

/* One piece: the passes over a note in their order (size limit, encoding,
 * frontmatter, Markdown structure, links, tags, headings, blocks, items),
 * each a call, sharing the note's arena and one cleanup. */
qp_rc qp_note_parse(qp_note **out, const char *path, const char *bytes, size_t len,
                    const qp_note_options *opts, qp_error *err)
{
    qp_rc rc = QP_OK;
    qp_arena *arena = NULL;
    qp_note *note = NULL;
    qp_frontmatter fm;
    body b;
    size_t max = opts != NULL && opts->max_size > 0 ? opts->max_size : QP_NOTE_MAX_SIZE;
    size_t depth = opts != NULL ? opts->yaml_max_depth : 0;
    char *src;

    *out = NULL;
    memset(&b, 0, sizeof b);
    /* About what a parse holds per source byte (the source, its mention
     * text, the rows): a meeting of 1 KB no longer keeps a 16 KiB chunk. */
    arena = qp_arena_new_sized(12 * len + 2048);
    if (arena == NULL)
        goto nomem;
    note = qp_arena_alloc(arena, sizeof *note);
    if (note == NULL)
        goto nomem;
    note->arena = arena;
    note->path = qp_arena_strdup(arena, path != NULL ? path : "");
    if (note->path == NULL)
        goto nomem;

    if (len > max) {
        char msg[96];
        snprintf(msg, sizeof msg, "note is %zu bytes; only the first %zu are indexed", len, max);
        len = max;
        if (!add_diag(note, QP_DIAG_WARNING, 0, 0, msg))
            goto nomem;
    }
    src = qp_arena_strndup(arena, bytes != NULL ? bytes : "", bytes != NULL ? len : 0);
    if (src == NULL)
        goto nomem;
    note->source = src;
    note->len = bytes != NULL ? len : 0;
    if (!check_encoding(note))
        goto nomem;

    rc = qp_frontmatter_parse(&fm, arena, note->source, note->len, depth, err);
    if (rc != QP_OK)
        goto cleanup;
    for (size_t i = 0; i < fm.ndiags; i++) {
        qp_diag *d = PUSH(note, diags, ndiags, capdiags);
        if (d == NULL)
            goto nomem;
        *d = fm.diags[i];
    }
    note->properties = fm.valid ? fm.properties : NULL;
    note->aliases = fm.aliases;
    note->naliases = fm.naliases;
    for (size_t i = 0; i < fm.ntags; i++) {
        qp_tag *t = PUSH(note, tags, ntags, captags);
        if (t == NULL)
            goto nomem;
        *t = fm.tags[i];
    }
    for (size_t i = 0; i < fm.nlinks; i++) {
        qp_link *l = PUSH(note, links, nlinks, caplinks);
        if (l == NULL)
            goto nomem;
        *l = fm.links[i];
    }

    b.note = note;
    if (fm.present) {
        b.start = fm.body_offset;
        b.line0 = fm.body_line;
    } else {
        /* A BOM is not text; with frontmatter the frontmatter parser skipped it. */
        b.start = note->len >= 3 && memcmp(note->source, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        b.line0 = 1;
    }
    if (b.start > note->len)
        b.start = note->len;
    b.s = note->source + b.start;
    rc = qp__md_parse(&b.md, arena, b.s, note->len - b.start, err);
    if (rc != QP_OK)
        goto cleanup;

    {
        size_t nfm = note->nlinks;
        if (!scan_wikilinks(&b) || !add_markdown_links(&b))
            goto nomem;
        if (note->nlinks > nfm)
            qsort(note->links + nfm, note->nlinks - nfm, sizeof *note->links, cmp_link);
    }
    if (!mark_comments(&b) || !scan_tags(&b) || !add_headings(&b) || !add_blocks(&b) ||
        !add_items(&b) || !add_queries(&b) || !mention_text(&b) || !classify(note))
        goto nomem;

    *out = note;
    note = NULL;
    arena = NULL;
    goto cleanup;

nomem:
    rc = qp_error_set(err, QP_ENOMEM, "%s: out of memory", path != NULL ? path : "note");
cleanup:
    qp_arena_free(arena);
    return rc;
}

void qp_note_free(qp_note *note)
{
    if (note != NULL)
        qp_arena_free(note->arena);
}

const char *qp_note_path(const qp_note *note)
{
    return note->path;
}

qp_note_kind qp_note_kind_of(const qp_note *note)
{
    return note->kind;
}

const char *qp_note_title(const qp_note *note)
{
    return note->title;
}

const char *qp_note_date(const qp_note *note)
{
    return note->date;
}

const qp_value *qp_note_properties(const qp_note *note)
{
    return note->properties;
}

const char *const *qp_note_aliases(const qp_note *note, size_t *n)
{
    *n = note->naliases;
    return note->aliases;
}

const qp_tag *qp_note_tags(const qp_note *note, size_t *n)
{
    *n = note->ntags;
    return note->tags;
}

const qp_link *qp_note_links(const qp_note *note, size_t *n)
{
    *n = note->nlinks;
    return note->links;
}

const qp_heading *qp_note_headings(const qp_note *note, size_t *n)
{
    *n = note->nheadings;
    return note->headings;
}

const qp_block_id *qp_note_blocks(const qp_note *note, size_t *n)
{
    *n = note->nblocks;
    return note->blocks;
}

qp_rc qp_note_find_subpath(const qp_note *note, const char *subpath, bool *found, uint32_t *line)
{
    size_t nh = 0, nb = 0;
    const qp_heading *h = qp_note_headings(note, &nh);
    const qp_block_id *b = qp_note_blocks(note, &nb);
    qp__heading_ref *hr = malloc((nh ? nh : 1) * sizeof *hr);
    qp__block_ref *br = malloc((nb ? nb : 1) * sizeof *br);
    *found = false;
    *line = 0;
    if (!hr || !br) {
        free(hr);
        free(br);
        return QP_ENOMEM;
    }
    for (size_t i = 0; i < nh; i++)
        hr[i] = (qp__heading_ref){h[i].level, h[i].text, h[i].line};
    for (size_t i = 0; i < nb; i++)
        br[i] = (qp__block_ref){b[i].id, b[i].line};
    *found = qp__subpath_find(subpath, hr, nh, br, nb, line);
    free(hr);
    free(br);
    return QP_OK;
}

const qp_task_line *qp_note_tasks(const qp_note *note, size_t *n)
{
    *n = note->ntasks;
    return note->tasks;
}

const qp_mention_line *qp_note_mention_lines(const qp_note *note, size_t *n)
{
    *n = note->nmentions;
    return note->mentions;
}

const qp_query_block *qp_note_query_blocks(const qp_note *note, size_t *n)
{
    *n = note->nqueries;
    return note->queries;
}

const qp_diag *qp_note_diags(const qp_note *note, size_t *n)
{
    *n = note->ndiags;
    return note->diags;
}

const char *qp_note_mention_text(const qp_note *note, size_t *len)
{
    *len = note->len;
    return note->mention_text;
}

const char *qp_note_source(const qp_note *note, size_t *len)
{
    *len = note->len;
    return note->source;
}

qp_arena *qp__note_arena(qp_note *note)
{
    return note->arena;
}

const qp__search_doc *qp__note_search_doc(const qp_note *note)
{
    return note->search_doc;
}

void qp__note_set_search_doc(qp_note *note, const qp__search_doc *doc)
{
    note->search_doc = doc;
}

size_t qp_note_bytes(const qp_note *note)
{
    return note != NULL ? qp_arena_bytes(note->arena) : 0;
}
