/*
 * markdown — the cmark-gfm walk behind qp_note_parse() (see markdown_int.h).
 *
 * One parser per call, with the GFM table, strikethrough, autolink and
 * tasklist extensions attached (tables change where cells and so links
 * end; tasklist turns `- [x]` items into "tasklist" nodes, which we treat
 * as plain items and re-read from the source). cmark allocates with its
 * default allocator, never its global arena, so calls may run in parallel.
 */
#include "markdown_int.h"

#include "quipu/init.h"

#include <string.h>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

typedef struct walk {
    qp__md_doc *doc;
    qp_arena *arena;
    const char *src;
    size_t capitems, capheadings, capparas, captables, capfences, caplinks;
    int *item_stack; /* indices of the items we are inside, by depth */
    size_t nstack, capstack;
    bool oom;
} walk;

/* Appends one element to an arena array, growing it geometrically. */
static void *push(walk *w, void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        void *grown = qp_arena_grow(w->arena, *arr, *n, ncap, elem);
        if (grown == NULL) {
            w->oom = true;
            return NULL;
        }
        *arr = grown;
        *cap = ncap;
    }
    return (char *)*arr + (*n)++ * elem;
}

#define PUSH(w, arr, n, cap) push((w), (void **)&(arr), &(n), &(cap), sizeof *(arr))

uint32_t qp__md_line_of(const qp__md_doc *doc, size_t off)
{
    uint32_t lo = 1, hi = doc->nlines;

    /* The last line whose start is <= off. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (doc->line_start[mid - 1] <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void qp__md_line_span(const qp__md_doc *doc, uint32_t line, size_t *start, size_t *end)
{
    size_t s, e;

    if (line < 1 || line > doc->nlines) {
        *start = *end = doc->len;
        return;
    }
    s = doc->line_start[line - 1];
    e = doc->line_start[line];
    while (e > s && (doc->src[e - 1] == '\n' || doc->src[e - 1] == '\r'))
        e--;
    *start = s;
    *end = e;
}

/* The last line of a block: cmark reports an end column of 0 when the
 * block ends with the previous line's ending (a setext underline followed
 * by a blank line, an indented code block). */
static uint32_t last_line(cmark_node *node)
{
    int first = cmark_node_get_start_line(node);
    int last = cmark_node_get_end_line(node);

    if (cmark_node_get_end_column(node) == 0 && last > first)
        last--;
    return last > 0 ? (uint32_t)last : 0;
}

/* Byte offset of (line, col) as cmark reports it, clamped into the line. */
static size_t pos_offset(const walk *w, int line, int col)
{
    const qp__md_doc *d = w->doc;
    size_t s, e;

    if (line < 1)
        return d->len;
    if ((uint32_t)line > d->nlines)
        return d->len;
    s = d->line_start[line - 1];
    e = d->line_start[line];
    while (e > s && (w->src[e - 1] == '\n' || w->src[e - 1] == '\r'))
        e--;
    if (col < 1)
        return s;
    if (s + (size_t)(col - 1) > e)
        return e;
    return s + (size_t)(col - 1);
}

static void mask_range(walk *w, size_t from, size_t to)
{
    if (to > w->doc->len)
        to = w->doc->len;
    for (size_t i = from; i < to; i++)
        w->doc->mask[i] |= QP__MD_MASK_RAW;
}

/* Masks whole lines [first, last]; a block whose end column is 0 ends on
 * the line before (cmark's way of saying "up to the previous line end"). */
static void mask_block(walk *w, cmark_node *node)
{
    int first = cmark_node_get_start_line(node);
    int last = (int)last_line(node);

    if (cmark_node_get_type(node) == CMARK_NODE_HTML_BLOCK) {
        /* cmark-gfm 0.29 gives a wrong end (even one before the start) for
         * an HTML block that interrupts a paragraph; its literal still holds
         * every line, one per source line. */
        const char *lit = cmark_node_get_literal(node);
        int n = first;
        for (const char *p = lit; p != NULL && *p != '\0'; p++)
            if (*p == '\n' && p[1] != '\0')
                n++;
        if (n > last)
            last = n;
    }
    if (first < 1)
        return;
    if ((uint32_t)last > w->doc->nlines)
        last = (int)w->doc->nlines;
    mask_range(w, w->doc->line_start[first - 1], w->doc->line_start[last]);
}

static bool is_type(cmark_node *node, const char *name)
{
    const char *t = cmark_node_get_type_string(node);
    return t != NULL && strcmp(t, name) == 0;
}

/* The end (exclusive) of an inline node. cmark's start of an inline is
 * right, but its end is not once the inline spans lines (both the end line
 * and column can be off). So the reported end is kept only when it ends in
 * `want` (')' for an inline link; 0 = any) and the node is on one line;
 * otherwise the node ends where the next sibling starts (or, across a soft
 * break, at the end of the line before it), or with its block. */
static size_t inline_end(const walk *w, cmark_node *node, char want)
{
    int sl = cmark_node_get_start_line(node), el = cmark_node_get_end_line(node);
    size_t e = w->doc->len;

    if (sl == el && sl > 0) {
        e = pos_offset(w, el, cmark_node_get_end_column(node)) + 1;
        if (e <= w->doc->len && (want == 0 || w->src[e - 1] == want))
            return e;
    }
    for (cmark_node *n = node; n != NULL; n = cmark_node_parent(n)) {
        cmark_node *next = cmark_node_next(n), *parent = cmark_node_parent(n);
        if (next != NULL) {
            cmark_node_type nt = cmark_node_get_type(next);
            if (nt == CMARK_NODE_SOFTBREAK || nt == CMARK_NODE_LINEBREAK) {
                cmark_node *after = cmark_node_next(next);
                int line = after != NULL ? cmark_node_get_start_line(after) - 1 : 0;
                if (line < 1)
                    line = el;
                e = pos_offset(w, line, 1 << 30);
                break;
            }
            if (cmark_node_get_start_line(next) > 0) {
                e = pos_offset(w, cmark_node_get_start_line(next),
                               cmark_node_get_start_column(next));
                break;
            }
        }
        if (parent != NULL &&
            (cmark_node_get_type(parent) == CMARK_NODE_PARAGRAPH ||
             cmark_node_get_type(parent) == CMARK_NODE_HEADING || is_type(parent, "table_cell"))) {
            e = pos_offset(w, cmark_node_get_end_line(parent), cmark_node_get_end_column(parent)) +
                1;
            if (e > w->doc->len)
                e = w->doc->len;
            break;
        }
    }
    while (e > 0 && (w->src[e - 1] == ' ' || w->src[e - 1] == '\t' || w->src[e - 1] == '\n' ||
                     w->src[e - 1] == '\r'))
        e--;
    return e;
}

/* A code span: cmark points at its content; widen to the backtick runs. */
static void mask_code_span(walk *w, cmark_node *node)
{
    const char *s = w->src;
    size_t len = w->doc->len;
    size_t p = pos_offset(w, cmark_node_get_start_line(node), cmark_node_get_start_column(node));
    size_t open_end, open_start, run, q;

    /* Content may start after one stripped space. */
    open_end = p;
    if (open_end > 0 && s[open_end - 1] != '`' &&
        (s[open_end - 1] == ' ' || s[open_end - 1] == '\n'))
        open_end--;
    if (open_end == 0 || s[open_end - 1] != '`') {
        mask_range(w, p, inline_end(w, node, 0));
        return;
    }
    open_start = open_end;
    while (open_start > 0 && s[open_start - 1] == '`')
        open_start--;
    run = open_end - open_start;
    for (q = open_end; q < len; q++) {
        if (s[q] != '`')
            continue;
        size_t r = q;
        while (r < len && s[r] == '`')
            r++;
        if (r - q == run) {
            mask_range(w, open_start, r);
            return;
        }
        q = r - 1;
    }
    mask_range(w, open_start, len);
}

/* The plain text of a link's label: its text and code descendants. */
static const char *label_text(walk *w, cmark_node *link)
{
    size_t cap = 64, n = 0;
    char *buf = qp_arena_alloc(w->arena, cap);
    cmark_iter *it;
    cmark_event_type ev;

    if (buf == NULL)
        goto nomem;
    it = cmark_iter_new(link);
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *c = cmark_iter_get_node(it);
        const char *lit;
        size_t l;
        cmark_node_type t = cmark_node_get_type(c);
        if (ev != CMARK_EVENT_ENTER)
            continue;
        if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE)
            lit = cmark_node_get_literal(c);
        else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK)
            lit = " ";
        else
            continue;
        l = lit != NULL ? strlen(lit) : 0;
        if (n + l + 1 > cap) {
            size_t ncap = (n + l + 1) * 2;
            char *g = qp_arena_grow(w->arena, buf, n, ncap, 1);
            if (g == NULL) {
                cmark_iter_free(it);
                goto nomem;
            }
            buf = g;
            cap = ncap;
        }
        memcpy(buf + n, lit, l);
        n += l;
    }
    cmark_iter_free(it);
    buf[n] = '\0';
    return buf;
nomem:
    w->oom = true;
    return NULL;
}

static void add_link(walk *w, cmark_node *node, bool image)
{
    size_t start =
        pos_offset(w, cmark_node_get_start_line(node), cmark_node_get_start_column(node));
    size_t end = inline_end(w, node, ')');
    const char *url = cmark_node_get_url(node);
    qp__md_link *l;

    /* Only the inline form `[x](dest)` ends in ')': reference links
     * (`[x][ref]`, `[x][]`, `[x]`) are not links to Obsidian, and autolinks
     * are external anyway. */
    if (end <= start || end > w->doc->len || w->src[end - 1] != ')' || url == NULL)
        return;
    l = PUSH(w, w->doc->links, w->doc->nlinks, w->caplinks);
    if (l == NULL)
        return;
    l->image = image;
    l->start = (uint32_t)start;
    l->end = (uint32_t)end;
    l->url = qp_arena_strdup(w->arena, url);
    l->text = label_text(w, node);
    if (l->url == NULL)
        w->oom = true;
}

/* Entering a node of the walk. One piece: a switch with a case per cmark
 * node type that matters. */
static void enter(walk *w, cmark_node *node)
{
    cmark_node_type t = cmark_node_get_type(node);
    qp__md_doc *d = w->doc;
    cmark_node *parent = cmark_node_parent(node);

    switch (t) {
    case CMARK_NODE_CODE_BLOCK: {
        int flen = 0, foff = 0;
        char fchar = 0;
        /* cmark-gfm writes through every out-pointer: none may be NULL. */
        int fenced = cmark_node_get_fenced(node, &flen, &foff, &fchar);
        mask_block(w, node);
        if (fenced) {
            qp__md_fence *f = PUSH(w, d->fences, d->nfences, w->capfences);
            const char *info = cmark_node_get_fence_info(node);
            const char *lit = cmark_node_get_literal(node);
            if (f == NULL)
                return;
            f->line = (uint32_t)cmark_node_get_start_line(node);
            f->info = qp_arena_strdup(w->arena, info != NULL ? info : "");
            f->literal = qp_arena_strdup(w->arena, lit != NULL ? lit : "");
            if (f->info == NULL || f->literal == NULL)
                w->oom = true;
        }
        return;
    }
    case CMARK_NODE_HTML_BLOCK:
        mask_block(w, node);
        return;
    case CMARK_NODE_CODE:
        mask_code_span(w, node);
        return;
    case CMARK_NODE_HTML_INLINE:
        mask_range(
            w, pos_offset(w, cmark_node_get_start_line(node), cmark_node_get_start_column(node)),
            inline_end(w, node, 0));
        return;
    case CMARK_NODE_LINK:
        add_link(w, node, false);
        return;
    case CMARK_NODE_IMAGE:
        add_link(w, node, true);
        return;
    case CMARK_NODE_PARAGRAPH: {
        qp__md_para *p = PUSH(w, d->paras, d->nparas, w->capparas);
        if (p != NULL) {
            p->line = (uint32_t)cmark_node_get_start_line(node);
            p->last_line = last_line(node);
        }
        return;
    }
    case CMARK_NODE_HEADING:
        if (parent != NULL && cmark_node_get_type(parent) == CMARK_NODE_DOCUMENT) {
            qp__md_heading *h = PUSH(w, d->headings, d->nheadings, w->capheadings);
            if (h != NULL) {
                h->level = cmark_node_get_heading_level(node);
                h->line = (uint32_t)cmark_node_get_start_line(node);
                h->last_line = last_line(node);
            }
        }
        return;
    default:
        break;
    }
    if (is_type(node, "table")) {
        qp__md_lines *tl = PUSH(w, d->tables, d->ntables, w->captables);
        if (tl != NULL) {
            tl->first = (uint32_t)cmark_node_get_start_line(node);
            tl->last = last_line(node);
        }
    } else if (t == CMARK_NODE_ITEM || is_type(node, "tasklist")) {
        qp__md_item *it = PUSH(w, d->items, d->nitems, w->capitems);
        int *slot;
        if (it == NULL)
            return;
        it->line = (uint32_t)cmark_node_get_start_line(node);
        it->parent = w->nstack > 0 ? w->item_stack[w->nstack - 1] : -1;
        slot = PUSH(w, w->item_stack, w->nstack, w->capstack);
        if (slot != NULL)
            *slot = (int)(d->nitems - 1);
    }
}

static void leave(walk *w, cmark_node *node)
{
    if ((cmark_node_get_type(node) == CMARK_NODE_ITEM || is_type(node, "tasklist")) &&
        w->nstack > 0)
        w->nstack--;
}

/* Masks `$$…$$` and `$…$` outside code and HTML. Obsidian's inline math
 * needs a non-space after the opening `$` and before the closing one, and
 * stays on one line; `\$` is a literal dollar. */
static void mask_math(walk *w)
{
    const char *s = w->src;
    unsigned char *m = w->doc->mask;
    size_t len = w->doc->len;

    for (size_t i = 0; i < len; i++) {
        if (m[i])
            continue;
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] != '$')
            continue;
        if (i + 1 < len && s[i + 1] == '$') {
            size_t j;
            for (j = i + 2; j + 1 < len; j++) {
                if (!m[j] && s[j] == '$' && s[j + 1] == '$')
                    break;
            }
            if (j + 1 < len) {
                mask_range(w, i, j + 2);
                i = j + 1;
            } else {
                i++; /* an unclosed `$$` is text */
            }
            continue;
        }
        if (i + 1 >= len || s[i + 1] == ' ' || s[i + 1] == '\t' || s[i + 1] == '\n' ||
            s[i + 1] == '\r')
            continue;
        for (size_t j = i + 1; j < len && s[j] != '\n' && s[j] != '\r'; j++) {
            if (m[j])
                break;
            if (s[j] == '\\') {
                j++;
                continue;
            }
            if (s[j] == '$') {
                if (s[j - 1] == ' ' || s[j - 1] == '\t' ||
                    (j + 1 < len && s[j + 1] >= '0' && s[j + 1] <= '9'))
                    break;
                mask_range(w, i, j + 1);
                i = j;
                break;
            }
        }
    }
}

static qp_rc split_lines(qp__md_doc *d, qp_arena *arena, const char *s, size_t len)
{
    size_t n = 1;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= len || s[i + 1] != '\n')))
            if (i + 1 < len)
                n++;
    }
    d->line_start = qp_arena_alloc(arena, (n + 1) * sizeof *d->line_start);
    if (d->line_start == NULL)
        return QP_ENOMEM;
    d->nlines = 0;
    d->line_start[d->nlines++] = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= len || s[i + 1] != '\n')))
            if (i + 1 < len)
                d->line_start[d->nlines++] = (uint32_t)(i + 1);
    }
    d->line_start[d->nlines] = (uint32_t)len;
    return QP_OK;
}

static const char *const extensions[] = {"table", "strikethrough", "autolink", "tasklist"};

qp_rc qp__md_parse(qp__md_doc *out, qp_arena *arena, const char *body, size_t len, qp_error *err)
{
    qp_rc rc = QP_OK;
    cmark_parser *parser = NULL;
    cmark_node *root = NULL;
    cmark_iter *it = NULL;
    cmark_event_type ev;
    walk w;

    memset(out, 0, sizeof *out);
    memset(&w, 0, sizeof w);
    w.doc = out;
    w.arena = arena;
    w.src = body;
    out->src = body;
    out->len = len;
    out->mask = qp_arena_alloc(arena, len + 1);
    if (out->mask == NULL || split_lines(out, arena, body, len) != QP_OK)
        goto nomem;

    qp_init(); /* cmark's extension registry, filled once per process */
    parser = cmark_parser_new(CMARK_OPT_SOURCEPOS);
    if (parser == NULL)
        goto nomem;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        cmark_syntax_extension *ext = cmark_find_syntax_extension(extensions[i]);
        if (ext != NULL)
            cmark_parser_attach_syntax_extension(parser, ext);
    }
    cmark_parser_feed(parser, body, len);
    root = cmark_parser_finish(parser);
    if (root == NULL)
        goto nomem;

    it = cmark_iter_new(root);
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE && !w.oom) {
        cmark_node *node = cmark_iter_get_node(it);
        if (ev == CMARK_EVENT_ENTER)
            enter(&w, node);
        else if (ev == CMARK_EVENT_EXIT)
            leave(&w, node);
    }
    if (w.oom)
        goto nomem;
    mask_math(&w);
    goto cleanup;

nomem:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    if (it != NULL)
        cmark_iter_free(it);
    if (root != NULL)
        cmark_node_free(root);
    if (parser != NULL)
        cmark_parser_free(parser);
    return rc;
}
