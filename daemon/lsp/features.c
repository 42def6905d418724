/*
 * features — the LSP methods of `quipu lsp`, one handler each.
 *
 * Positions in the open document come from its local parse (byte offsets,
 * converted with qpl_text); positions in other files come from the daemon
 * as 1-based line and byte column plus the source line itself (`context`),
 * which is what converting a byte column to UTF-16 needs. Vault-wide facts
 * (what a link resolves to, who links here, which meetings mention a
 * person, what a Tasks query returns) are always asked of the daemon.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmark-gfm.h>

#include "lsp_int.h"
#include "mem.h"
#include "quipu/arena.h"
#include "quipu/links.h"
#include "quipu/vaultconf.h"

/* LSP enumerations used below. */
enum {
    SEV_ERROR = 1,
    SEV_WARNING = 2,
    SEV_INFO = 3,
    SYM_FILE = 1,
    SYM_STRING = 15,
    SYM_KEY = 20,
};

/* a, or b when a is NULL. */
static const char *OR(const char *a, const char *b)
{
    return a != NULL ? a : b;
}

/* ---- positions and ranges ------------------------------------------------ */

static json_t *pos_json(uint32_t line, uint32_t ch)
{
    return json_pack("{s:i, s:i}", "line", (int)line, "character", (int)ch);
}

static json_t *range_lc(uint32_t l1, uint32_t c1, uint32_t l2, uint32_t c2)
{
    return json_pack("{s:o, s:o}", "start", pos_json(l1, c1), "end", pos_json(l2, c2));
}

static json_t *range_off(const qpl_server *s, const qpl_doc *d, size_t a, size_t b)
{
    uint32_t l1, c1, l2, c2;

    qpl_text_position(&d->text, a, s->enc, &l1, &c1);
    qpl_text_position(&d->text, b, s->enc, &l2, &c2);
    return range_lc(l1, c1, l2, c2);
}

/* The whole of 0-based line `ln` of d (without its ending). */
static json_t *range_line(const qpl_server *s, const qpl_doc *d, size_t ln)
{
    size_t a = ln < d->text.nlines ? d->text.line[ln] : d->text.len;

    return range_off(s, d, a, a + qpl_text_line_len(&d->text, ln));
}

/* The document and byte offset of params' textDocument + position. */
static qpl_doc *doc_pos(qpl_server *s, json_t *params, size_t *off, uint32_t *line)
{
    json_t *td = json_object_get(params, "textDocument");
    json_t *pos = json_object_get(params, "position");
    qpl_doc *d = qpl_doc_find(s, json_string_value(json_object_get(td, "uri")));
    uint32_t l = (uint32_t)json_integer_value(json_object_get(pos, "line"));
    uint32_t c = (uint32_t)json_integer_value(json_object_get(pos, "character"));

    if (d == NULL || d->note == NULL)
        return NULL;
    if (off != NULL)
        *off = qpl_text_offset(&d->text, l, c, s->enc);
    if (line != NULL)
        *line = l;
    return d;
}

static qpl_doc *doc_of(qpl_server *s, json_t *params)
{
    json_t *td = json_object_get(params, "textDocument");
    qpl_doc *d = qpl_doc_find(s, json_string_value(json_object_get(td, "uri")));

    return d != NULL && d->note != NULL ? d : NULL;
}

/* Where the link that starts at byte col0 of `line` ends (exclusive). */
static size_t link_end(const char *line, size_t col0)
{
    size_t n = strlen(line), i = col0;
    const char *e;

    if (col0 >= n)
        return n;
    if (line[i] == '"' || line[i] == '\'')
        i++;
    if (line[i] == '!')
        i++;
    if (strncmp(line + i, "[[", 2) == 0) {
        e = strstr(line + i + 2, "]]");
        return e ? (size_t)(e - line) + 2 : n;
    }
    if (line[i] == '[') {
        e = strstr(line + i, "](");
        if (e != NULL) {
            const char *c = strchr(e + 2, ')');

            return c ? (size_t)(c - line) + 1 : n;
        }
    }
    while (i < n && line[i] != ' ' && line[i] != '\t')
        i++;
    return i;
}

/* A Location in another file from a daemon occurrence {line, column, context};
 * `name` (may be NULL) is the text an unlinked mention there spells. */
/* The note name of a vault path: its basename without ".md" (static buffer
 * of the caller). */
static const char *note_name(const char *path, char *buf, size_t cap)
{
    const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(b);

    if (n > 3 && strcasecmp(b + n - 3, ".md") == 0)
        n -= 3;
    snprintf(buf, cap, "%.*s", (int)n, b);
    return buf;
}

static json_t *occ_location(const qpl_vault *v, const char *path, const json_t *occ,
                            qpl_encoding enc, const char *name)
{
    const char *ctx = json_string_value(json_object_get(occ, "context"));
    json_int_t line = json_integer_value(json_object_get(occ, "line"));
    json_int_t col = json_integer_value(json_object_get(occ, "column"));
    size_t c0 = col > 0 ? (size_t)col - 1 : 0, cn, e;
    char *uri = qpl_uri_of(v, path);
    json_t *loc;

    if (uri == NULL)
        return NULL;
    if (ctx == NULL)
        ctx = "";
    cn = strlen(ctx);
    if (c0 > cn)
        c0 = cn;
    e = link_end(ctx, c0);
    if (name != NULL && strncasecmp(ctx + c0, name, strlen(name)) == 0)
        e = c0 + strlen(name); /* an unlinked mention spelling the name */
    if (c0 < cn && (ctx[c0] == '"' || ctx[c0] == '\''))
        c0++; /* a frontmatter string: the link starts inside the quotes */
    loc = json_pack("{s:s, s:o}", "uri", uri, "range",
                    range_lc(line > 0 ? (uint32_t)line - 1 : 0, qpl_units(ctx, c0, enc),
                             line > 0 ? (uint32_t)line - 1 : 0, qpl_units(ctx, e, enc)));
    free(uri);
    return loc;
}

/* ---- links ---------------------------------------------------------------- */

/* The bytes of l in d, without the quotes of a frontmatter string. */
static void link_span(const qpl_doc *d, const qp_link *l, size_t *a, size_t *b)
{
    *a = l->offset;
    *b = (size_t)l->offset + l->len;
    if (*b > d->text.len)
        *b = d->text.len;
    if (*b - *a >= 2 && (d->text.s[*a] == '"' || d->text.s[*a] == '\'') &&
        d->text.s[*b - 1] == d->text.s[*a]) {
        (*a)++;
        (*b)--;
    }
}

static json_t *link_range(const qpl_server *s, const qpl_doc *d, const qp_link *l)
{
    size_t a, b;

    link_span(d, l, &a, &b);
    return range_off(s, d, a, b);
}

static const qp_link *link_at(const qpl_doc *d, size_t off)
{
    size_t n;
    const qp_link *l = qp_note_links(d->note, &n);

    for (size_t i = 0; i < n; i++)
        if (off >= l[i].offset && off < (size_t)l[i].offset + l[i].len)
            return &l[i];
    return NULL;
}

/* The `resolve` link text of l: target and subpath as a Markdown
 * destination, in which only '%' needs escaping (the daemon decodes it and
 * splits at the first '#', as for the link it came from). A link to the
 * note itself ([[#Heading]]) is sent as the document's own path. */
static char *resolve_text(const qpl_doc *d, const qp_link *l)
{
    const char *t = l->target[0] ? l->target : (d->rel ? d->rel : "");
    const char *sub = l->subpath ? l->subpath : "";
    size_t n = strlen(t) + strlen(sub);
    char *out = malloc(3 * n + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (const char *p = t; *p; p++) {
        if (*p == '%') {
            memcpy(o, "%25", 3);
            o += 3;
        } else {
            *o++ = *p;
        }
    }
    for (const char *p = sub; *p; p++) {
        if (*p == '%') {
            memcpy(o, "%25", 3);
            o += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static json_t *resolve_params(const qpl_doc *d, const qp_link *l)
{
    char *text = resolve_text(d, l);
    json_t *p;

    if (text == NULL)
        return NULL;
    p = json_pack("{s:s, s:s}", "link", text, "syntax", "markdown");
    if (p != NULL && d->rel != NULL)
        json_object_set_new(p, "from", json_string(d->rel));
    free(text);
    return p;
}

/* A link into the document itself ([[#H]], or a link that resolved to
 * it) is checked against the buffer's own headings and blocks: the index
 * knows only the saved text, and a heading typed but not yet saved is
 * there in the buffer. r (the daemon's resolve answer) is amended in
 * place; a self link of a note not yet in the index resolves to it. */
static void resolve_in_buffer(const qpl_doc *d, const qp_link *l, json_t *r)
{
    const char *path = json_string_value(json_object_get(r, "path"));
    bool found = false;
    uint32_t line = 0;

    if (r == NULL || d->rel == NULL || l->subpath == NULL)
        return;
    if (path == NULL && l->target[0] == '\0')
        json_object_set_new(r, "path", json_string(d->rel));
    else if (path == NULL || strcmp(path, d->rel) != 0)
        return;
    if (qp_note_find_subpath(d->note, l->subpath, &found, &line) != QP_OK)
        return;
    json_object_set_new(r, "subpath_found", json_boolean(found));
    json_object_set_new(r, "subpath_line", json_integer(found ? line : 0));
}

static json_t *resolve_link(qpl_server *s, const qpl_doc *d, const qp_link *l)
{
    json_t *r = qpl_call(s, d->v, "resolve", resolve_params(d, l), NULL);

    resolve_in_buffer(d, l, r);
    return r;
}

/* ---- definition ------------------------------------------------------------- */

static json_t *h_definition(qpl_server *s, json_t *params, int *code, const char **msg)
{
    size_t off;
    qpl_doc *d = doc_pos(s, params, &off, NULL);
    const qp_link *l;
    json_t *r, *loc = json_null();
    const char *path;
    char *uri;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL || (l = link_at(d, off)) == NULL)
        return json_null();
    r = resolve_link(s, d, l);
    path = json_string_value(json_object_get(r, "path"));
    if (path != NULL && (uri = qpl_uri_of(d->v, path)) != NULL) {
        json_int_t line = json_integer_value(json_object_get(r, "subpath_line"));
        uint32_t ln = line > 0 ? (uint32_t)line - 1 : 0;

        loc = json_pack("{s:s, s:o}", "uri", uri, "range", range_lc(ln, 0, ln, 0));
        free(uri);
    }
    json_decref(r);
    return loc;
}

/* ---- references ------------------------------------------------------------ */

/* An array written as JSON text while it is gathered: the Location[] of a
 * references answer, a document's diagnostics. The busiest person at 100k
 * notes has 6,403 references and 6,789 diagnostics; building, dumping and
 * freeing them as jansson values (a dozen allocations each) was most of
 * the server's time for the answer, and the diagnostics' tree was most of
 * its peak memory. */
typedef struct locbuf {
    char *p;
    size_t len, cap, n;
} locbuf;

static void locbuf_add(locbuf *b, const char *s, size_t n)
{
    if (b->len + n + 2 > b->cap) { /* room for the closing "]" and NUL */
        b->cap = b->len + n + 2 > 2 * b->cap ? b->len + n + 2 : 2 * b->cap;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            qpd_oom();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Appends one element given as a value (taken; NULL is skipped). */
static void locbuf_json(locbuf *b, json_t *loc)
{
    char *t = loc != NULL ? json_dumps(loc, JSON_COMPACT) : NULL;

    if (t != NULL) {
        locbuf_add(b, b->n++ ? "," : "[", 1);
        locbuf_add(b, t, strlen(t));
    }
    free(t);
    json_decref(loc);
}

/* Appends a one-line location in the file whose URI is `uri_json` (its
 * JSON string, quotes included). */
static void locbuf_range(locbuf *b, const char *uri_json, uint32_t line, uint32_t c1, uint32_t c2)
{
    char num[160];
    int w = snprintf(num, sizeof num,
                     ",\"range\":{\"start\":{\"line\":%u,\"character\":%u},"
                     "\"end\":{\"line\":%u,\"character\":%u}}}",
                     line, c1, line, c2);

    const char *head = b->n++ ? ",{\"uri\":" : "[{\"uri\":";

    locbuf_add(b, head, strlen(head));
    locbuf_add(b, uri_json, strlen(uri_json));
    locbuf_add(b, num, (size_t)w);
}

/* The array's text (new), "[]" for none. */
static char *locbuf_finish(locbuf *b)
{
    if (b->n == 0)
        locbuf_add(b, "[", 1);
    locbuf_add(b, "]", 1);
    b->p[b->len] = '\0';
    return b->p;
}

/* Appends the locations of the sources' occurrences in `list` of the
 * daemon's answer r (`name`: the text an unlinked mention spells). */
static void add_occurrences(const qpl_server *s, const qpl_vault *v, json_t *r, const char *list,
                            const char *name, locbuf *locs)
{
    json_t *src, *occ;
    size_t i, j;

    json_array_foreach(json_object_get(r, list), i, src)
    {
        const char *path = json_string_value(json_object_get(src, "path"));

        if (path == NULL)
            continue;
        json_array_foreach(json_object_get(src, "occurrences"), j, occ)
            locbuf_json(locs, occ_location(v, path, occ, s->enc, name));
    }
}

/* Appends the elements of a JSON array's text (`[...]`) to b. */
static void locbuf_splice(locbuf *b, const char *arr)
{
    size_t n = strlen(arr);

    if (n < 3 || arr[0] != '[' || arr[n - 1] != ']')
        return; /* "[]": nothing */
    locbuf_add(b, b->n++ ? "," : "[", 1);
    locbuf_add(b, arr + 1, n - 2);
}

/* Appends the daemon's backlinks.locations for `params` (note, and
 * subpath for a heading or block; taken) to locs: ranges already in the
 * client's encoding. Asked with `uri_root`, quipud writes them as LSP
 * Locations itself, and their text is passed on as it came: the busiest
 * person's references are 6,403 Locations, 1 MB, which decoding to values
 * and writing again cost more than quipud's answer. A quipud that does
 * not know `uri_root` answers in files and ranges, turned into Locations
 * here, one URI made per file. False when the daemon did not answer it (a
 * quipud older than the method): nothing was added. */
static bool add_locations(qpl_server *s, qpl_vault *v, json_t *params, locbuf *locs)
{
    json_t *r, *file, *rg;
    size_t i;
    char *root = qpl_uri_of(v, ""), *raw;

    json_object_set_new(params, "encoding", json_string(s->enc == QPL_UTF8 ? "utf-8" : "utf-16"));
    if (root != NULL)
        json_object_set_new(params, "uri_root", json_string(root));
    free(root);
    raw = qpl_call_raw(s, v, "backlinks.locations", params);
    if (raw == NULL)
        return false;
    if (raw[0] == '[') {
        locbuf_splice(locs, raw);
        free(raw);
        return true;
    }
    r = json_loads(raw, 0, NULL);
    free(raw);
    if (r == NULL)
        return false;
    json_array_foreach(json_object_get(r, "files"), i, file)
    {
        const char *path = json_string_value(json_object_get(file, "path"));
        char *uri = path != NULL ? qpl_uri_of(v, path) : NULL;
        char *quoted;

        if (uri == NULL)
            continue;
        /* A URI of qpl_uri_from_path is unreserved characters, '/', ':'
         * and %XX: its JSON string is itself between quotes. */
        quoted = qpd_xmalloc(strlen(uri) + 3);
        sprintf(quoted, "\"%s\"", uri);
        rg = json_object_get(file, "ranges");
        for (size_t k = 0; k + 2 < json_array_size(rg); k += 3) {
            uint32_t line = (uint32_t)json_integer_value(json_array_get(rg, k));

            locbuf_range(locs, quoted, line,
                         (uint32_t)json_integer_value(json_array_get(rg, k + 1)),
                         (uint32_t)json_integer_value(json_array_get(rg, k + 2)));
        }
        free(quoted);
        free(uri);
    }
    json_decref(r);
    return true;
}

/* Appends the backlinks of `note` (a vault path) to locs, and its
 * unlinked mentions when asked. */
static void add_backlinks(qpl_server *s, qpl_vault *v, const char *note, bool unlinked,
                          locbuf *locs)
{
    bool located = add_locations(s, v, json_pack("{s:s}", "note", note), locs);

    if (unlinked || !located) {
        /* max_occurrences 0: every occurrence (the daemon keeps 100 per
         * file). The linked sources are used only when the daemon has no
         * backlinks.locations. */
        json_t *r = qpl_call(
            s, v, "backlinks",
            json_pack("{s:s, s:b, s:i}", "note", note, "unlinked", unlinked, "max_occurrences", 0),
            NULL);
        char nbuf[PATH_MAX];

        if (!located)
            add_occurrences(s, v, r, "linked", NULL, locs);
        if (unlinked)
            add_occurrences(s, v, r, "unlinked", note_name(note, nbuf, sizeof nbuf), locs);
        json_decref(r);
    }
}

/* Appends the links to one heading or block of `note`: the daemon's
 * backlinks.locations with a subpath (else backlinks.subpath), which
 * counts every link whose own subpath lands on the same line ([[N#A#B]]
 * and [[N#B]] alike). `sub` is "#Heading", "#A#B" or "#^id" (a leading '#'
 * is added when missing). */
static void add_subpath_refs(qpl_server *s, qpl_vault *v, const char *note, const char *sub,
                             locbuf *locs)
{
    char buf[1024];
    json_t *r;

    snprintf(buf, sizeof buf, "%s%s", sub[0] == '#' ? "" : "#", sub);
    if (add_locations(s, v, json_pack("{s:s, s:s}", "note", note, "subpath", buf), locs))
        return;
    r = qpl_call(s, v, "backlinks.subpath", json_pack("{s:s, s:s}", "note", note, "subpath", buf),
                 NULL);
    add_occurrences(s, v, r, "linked", NULL, locs);
    json_decref(r);
}

/* The subpath that reaches the heading on line `line1` (1-based) of the
 * indexed note: the daemon's outline knows the ancestors a repeated
 * heading needs ("#A#B"). NULL when the index has no heading there (an
 * unsaved buffer); new otherwise. */
static char *indexed_heading_subpath(json_t *syms, json_int_t line1)
{
    json_t *sym;
    size_t i;

    json_array_foreach(syms, i, sym)
    {
        const char *sub = json_string_value(json_object_get(sym, "subpath"));
        char *found;

        if (json_integer_value(json_object_get(sym, "line")) == line1 && sub != NULL)
            return strdup(sub);
        if ((found = indexed_heading_subpath(json_object_get(sym, "children"), line1)) != NULL)
            return found;
    }
    return NULL;
}

static const qp_heading *heading_on(const qpl_doc *d, uint32_t line0)
{
    size_t n;
    const qp_heading *h = qp_note_headings(d->note, &n);

    for (size_t i = 0; i < n; i++)
        if (h[i].line == line0 + 1)
            return &h[i];
    return NULL;
}

/* The block id written on line0 when the cursor is on its "^id". */
static const qp_block_id *block_on(const qpl_doc *d, uint32_t line0, size_t off)
{
    size_t n;
    const qp_block_id *b = qp_note_blocks(d->note, &n);

    for (size_t i = 0; i < n; i++) {
        if (b[i].line == line0 + 1) {
            size_t a = d->text.line[line0], ll = qpl_text_line_len(&d->text, line0);
            const char *caret = NULL;

            for (const char *p = d->text.s + a; p < d->text.s + a + ll; p++)
                if (*p == '^' && strncmp(p + 1, b[i].id, strlen(b[i].id)) == 0)
                    caret = p;
            if (caret != NULL && off >= (size_t)(caret - d->text.s) &&
                off <= (size_t)(caret - d->text.s) + 1 + strlen(b[i].id))
                return &b[i];
        }
    }
    return NULL;
}

/* The body tag under the cursor (byte offset off), or NULL. */
static const qp_tag *tag_at(const qpl_doc *d, uint32_t line0, size_t off)
{
    size_t n;
    const qp_tag *t = qp_note_tags(d->note, &n);

    for (size_t i = 0; i < n; i++) {
        size_t a;

        if (t[i].frontmatter || t[i].line != line0 + 1 || line0 >= d->text.nlines)
            continue;
        a = d->text.line[line0] + t[i].col - 1;
        if (off >= a && off <= a + strlen(t[i].tag))
            return &t[i];
    }
    return NULL;
}

/* True when `tag` (with '#') is `want` or nested below it, without case. */
static bool tag_is(const char *tag, const char *want)
{
    size_t n = strlen(want);

    return strncasecmp(tag, want, n) == 0 && (tag[n] == '\0' || tag[n] == '/');
}

/* Appends the places of `want` in one note's parse (body tags by position;
 * frontmatter tags at the line of the frontmatter that names them). */
static void add_tag_places(qpl_server *s, const qpl_vault *v, const char *rel, const qp_note *n,
                           const char *want, locbuf *locs)
{
    size_t nt, len;
    const qp_tag *t = qp_note_tags(n, &nt);
    const char *src = qp_note_source(n, &len);
    qpl_text text = {0};
    char *uri = qpl_uri_of(v, rel);

    if (uri == NULL || qpl_text_set(&text, src, len) != 0) {
        free(uri);
        return;
    }
    for (size_t i = 0; i < nt; i++) {
        size_t a, b;
        uint32_t l1, c1, l2, c2;

        if (!tag_is(t[i].tag, want))
            continue;
        if (!t[i].frontmatter && t[i].line > 0 && t[i].line <= text.nlines) {
            a = text.line[t[i].line - 1] + t[i].col - 1;
            b = a + strlen(t[i].tag);
        } else {
            /* "tags: [a, b]" or "- a": the first line of the frontmatter
             * holding the name (without '#'). */
            const char *name = t[i].tag + 1;
            const char *hit = NULL;

            for (size_t ln = 1; ln < text.nlines && hit == NULL; ln++) {
                const char *p = text.s + text.line[ln];
                size_t ll = qpl_text_line_len(&text, ln);

                if (ll == 3 && strncmp(p, "---", 3) == 0)
                    break;
                for (size_t k = 0; k + strlen(name) <= ll; k++)
                    if (strncasecmp(p + k, name, strlen(name)) == 0) {
                        hit = p + k;
                        break;
                    }
            }
            if (hit == NULL)
                continue;
            a = (size_t)(hit - text.s);
            b = a + strlen(name);
        }
        qpl_text_position(&text, a, s->enc, &l1, &c1);
        qpl_text_position(&text, b, s->enc, &l2, &c2);
        locbuf_json(locs, json_pack("{s:s, s:o}", "uri", uri, "range", range_lc(l1, c1, l2, c2)));
    }
    qpl_text_free(&text);
    free(uri);
}

/* Every occurrence of a tag: the daemon lists the notes that carry it; each
 * is read and parsed here for the positions (the index keeps no bodies).
 * The open document's own occurrences come from its unsaved text. */
static void add_tag_refs(qpl_server *s, qpl_doc *d, const char *tag, locbuf *locs)
{
    json_t *r =
        qpl_call(s, d->v, "list", json_pack("{s:s, s:i}", "tag", tag + 1, "limit", 1000), NULL);
    json_t *it;
    size_t i;

    add_tag_places(s, d->v, d->rel, d->note, tag, locs);
    json_array_foreach(json_object_get(r, "notes"), i, it)
    {
        const char *path = json_string_value(json_object_get(it, "path"));
        char full[PATH_MAX * 2];
        FILE *f;
        char *buf;
        long n;
        qp_note *note = NULL;

        if (path == NULL || strcmp(path, d->rel) == 0)
            continue;
        snprintf(full, sizeof full, "%s/%s", d->v->root, path);
        f = fopen(full, "rb");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = n >= 0 && n < (long)QP_NOTE_MAX_SIZE ? malloc((size_t)n + 1) : NULL;
        if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n &&
            qp_note_parse(&note, path, buf, (size_t)n, NULL, NULL) == QP_OK)
            add_tag_places(s, d->v, path, note, tag, locs);
        qp_note_free(note);
        free(buf);
        fclose(f);
    }
    json_decref(r);
}

static json_t *h_references(qpl_server *s, json_t *params, int *code, const char **msg)
{
    size_t off;
    uint32_t line;
    qpl_doc *d = doc_pos(s, params, &off, &line);
    locbuf lb = {0}, *locs = &lb;
    const qp_link *l;
    const qp_heading *h;
    const qp_block_id *b;
    const qp_tag *t;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL)
        return json_array();
    if ((l = link_at(d, off)) != NULL) {
        json_t *r = resolve_link(s, d, l);
        const char *path = json_string_value(json_object_get(r, "path"));

        if (path != NULL) {
            if (l->subpath != NULL && json_integer_value(json_object_get(r, "subpath_line")) > 0)
                add_subpath_refs(s, d->v, path, l->subpath, locs);
            else
                add_backlinks(s, d->v, path, s->unlinked_refs, locs);
        }
        json_decref(r);
    } else if (d->rel != NULL && (t = tag_at(d, line, off)) != NULL) {
        add_tag_refs(s, d, t->tag, locs);
    } else if (d->rel != NULL && (b = block_on(d, line, off)) != NULL) {
        char want[512];

        snprintf(want, sizeof want, "#^%s", b->id);
        add_subpath_refs(s, d->v, d->rel, want, locs);
    } else if (d->rel != NULL && (h = heading_on(d, line)) != NULL && h->level > 0 &&
               !(h->level == 1 && strcmp(h->text, qp_note_title(d->note)) == 0)) {
        json_t *r = qpl_call(s, d->v, "symbols", json_pack("{s:s}", "note", d->rel), NULL);
        char *sub = indexed_heading_subpath(json_object_get(r, "symbols"), (json_int_t)h->line);
        char fallback[1024];

        json_decref(r);
        snprintf(fallback, sizeof fallback, "#%s", h->text);
        add_subpath_refs(s, d->v, d->rel, sub != NULL ? sub : fallback, locs);
        free(sub);
    } else if (d->rel != NULL) {
        add_backlinks(s, d->v, d->rel, s->unlinked_refs, locs);
    }
    s->raw_result = locbuf_finish(locs);
    return json_null();
}

/* ---- hover ------------------------------------------------------------------ */

/* Appends up to `max` non-empty body lines of the file (after its
 * frontmatter and title heading) to buf. */
static void first_lines(const qpl_vault *v, const char *rel, char *buf, size_t cap, int max)
{
    char path[PATH_MAX * 2], line[1024];
    FILE *f;
    int n = 0, ln = 0;
    bool fm = false;

    snprintf(path, sizeof path, "%s/%s", v->root, rel);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        size_t k = strlen(line);

        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r'))
            line[--k] = '\0';
        if (ln++ == 0 && strcmp(line, "---") == 0) {
            fm = true;
            continue;
        }
        if (fm) {
            if (strcmp(line, "---") == 0 || strcmp(line, "...") == 0)
                fm = false;
            continue;
        }
        if (k == 0 || (line[0] == '#' && line[1] == ' ' && n == 0))
            continue;
        strncat(buf, line, cap - strlen(buf) - 2);
        strncat(buf, "\n", cap - strlen(buf) - 1);
        n++;
    }
    fclose(f);
}

static json_t *hover_link(qpl_server *s, const qpl_doc *d, const qp_link *l)
{
    json_t *r = resolve_link(s, d, l);
    const char *path = json_string_value(json_object_get(r, "path"));
    json_t *note = NULL, *bl = NULL, *out;
    char md[8192] = "";
    size_t nl = 0;
    const char *key;
    json_t *val;

    if (path == NULL) {
        snprintf(md, sizeof md, "**%s** — no such note (unresolved link)", l->target);
        json_decref(r);
        return json_pack("{s:{s:s, s:s}}", "contents", "kind", "markdown", "value", md);
    }
    note = qpl_call(s, d->v, "note", json_pack("{s:s}", "note", path), NULL);
    bl = qpl_call(s, d->v, "backlinks", json_pack("{s:s, s:i}", "note", path, "max_occurrences", 0),
                  NULL);
    {
        json_t *src;
        size_t i;

        json_array_foreach(json_object_get(bl, "linked"), i, src)
        {
            nl += json_array_size(json_object_get(src, "occurrences"));
        }
    }
    snprintf(md, sizeof md, "**%s** · %s · `%s`\n\n%zu backlink%s in %zu note%s\n\n",
             OR(json_string_value(json_object_get(note, "title")), path),
             OR(json_string_value(json_object_get(note, "kind")), "note"), path, nl,
             nl == 1 ? "" : "s", json_array_size(json_object_get(bl, "linked")),
             json_array_size(json_object_get(bl, "linked")) == 1 ? "" : "s");
    json_object_foreach(json_object_get(note, "properties"), key, val)
    {
        char one[512];

        if (json_is_string(val))
            snprintf(one, sizeof one, "- %s: %s\n", key, json_string_value(val));
        else if (json_is_number(val) || json_is_boolean(val)) {
            char *t = json_dumps(val, JSON_ENCODE_ANY);

            snprintf(one, sizeof one, "- %s: %s\n", key, t ? t : "");
            free(t);
        } else
            continue;
        strncat(md, one, sizeof md - strlen(md) - 1);
    }
    strncat(md, "\n", sizeof md - strlen(md) - 1);
    first_lines(d->v, path, md, sizeof md, 5);
    out = json_pack("{s:{s:s, s:s}}", "contents", "kind", "markdown", "value", md);
    json_decref(note);
    json_decref(bl);
    json_decref(r);
    return out;
}

/* The ```tasks block whose lines hold line0, or NULL. */
static const qp_query_block *query_block_on(const qpl_doc *d, uint32_t line0)
{
    size_t n;
    const qp_query_block *q = qp_note_query_blocks(d->note, &n);

    for (size_t i = 0; i < n; i++) {
        uint32_t first = q[i].line - 1, lines = 1;

        for (const char *p = q[i].query; *p; p++)
            lines += *p == '\n';
        if (line0 >= first && line0 <= first + lines + 1)
            return &q[i];
    }
    return NULL;
}

/* The daemon's tasks.query for a block of d; `whole` false asks for one
 * task (the answer's total and explain stay whole): hover, code lens and
 * diagnostics need the count or the error, not the tasks of a person's
 * block (343 KB for the busiest person at 100k notes). */
static json_t *tasks_query(qpl_server *s, const qpl_doc *d, const char *query, bool whole,
                           json_t **error)
{
    json_t *p = json_pack("{s:s}", "query", query);

    if (p != NULL && d->rel != NULL)
        json_object_set_new(p, "from", json_string(d->rel));
    if (p != NULL && !whole)
        json_object_set_new(p, "limit", json_integer(1));
    return qpl_call(s, d->v, "tasks.query", p, error);
}

static json_t *h_hover(qpl_server *s, json_t *params, int *code, const char **msg)
{
    size_t off;
    uint32_t line;
    qpl_doc *d = doc_pos(s, params, &off, &line);
    const qp_link *l;
    const qp_query_block *q;
    const qp_tag *t;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL)
        return json_null();
    if ((l = link_at(d, off)) != NULL)
        return hover_link(s, d, l);
    if ((t = tag_at(d, line, off)) != NULL) {
        json_t *r = qpl_call(s, d->v, "complete.tags",
                             json_pack("{s:s, s:i}", "prefix", t->tag + 1, "limit", 50), NULL);
        json_t *it;
        size_t i;
        long long count = 0;
        char md[512];

        json_array_foreach(json_object_get(r, "items"), i, it)
        {
            if (strcasecmp(OR(json_string_value(json_object_get(it, "tag")), ""), t->tag) == 0)
                count = (long long)json_integer_value(json_object_get(it, "count"));
        }
        json_decref(r);
        snprintf(md, sizeof md, "**%s** · %lld note%s", t->tag, count, count == 1 ? "" : "s");
        return json_pack("{s:{s:s, s:s}}", "contents", "kind", "markdown", "value", md);
    }
    if ((q = query_block_on(d, line)) != NULL) {
        json_t *err = NULL, *r, *out;
        char md[8192];
        char *withx = malloc(strlen(q->query) + 10);
        const char *ex;

        /* With `explain` the daemon adds the plugin's explanation text. */
        if (withx != NULL)
            sprintf(withx, "%s\nexplain", q->query);
        r = tasks_query(s, d, withx ? withx : q->query, false, &err);
        free(withx);
        ex = json_string_value(json_object_get(r, "explain"));
        if (r != NULL)
            snprintf(md, sizeof md, "**Tasks query** · %lld task%s\n\n```\n%s\n```%s%s",
                     (long long)json_integer_value(json_object_get(r, "total")),
                     json_integer_value(json_object_get(r, "total")) == 1 ? "" : "s", q->query,
                     ex ? "\n\n" : "", ex ? ex : "");
        else
            snprintf(md, sizeof md, "**Tasks query error**: %s",
                     OR(json_string_value(json_object_get(err, "message")), "no answer"));
        out = json_pack("{s:{s:s, s:s}}", "contents", "kind", "markdown", "value", md);
        json_decref(r);
        json_decref(err);
        return out;
    }
    return json_null();
}

/* ---- documentSymbol, foldingRange, documentLink --------------------------- */

/* The 0-based last line of the section a heading at index i opens. */
static uint32_t section_end(const qpl_doc *d, const qp_heading *h, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++)
        if (h[j].level <= h[i].level)
            return h[j].line >= 2 ? h[j].line - 2 : 0;
    {
        /* The document's end: its last line that is not blank. */
        size_t last = d->text.nlines > 0 ? d->text.nlines - 1 : 0;

        while (last > h[i].line - 1 && qpl_text_line_len(&d->text, last) == 0)
            last--;
        return (uint32_t)last;
    }
}

/* Builds the DocumentSymbol children of headings [*i, n) deeper than `level`. */
static json_t *symbol_tree(const qpl_server *s, const qpl_doc *d, const qp_heading *h, size_t n,
                           size_t *i, int level)
{
    json_t *arr = json_array();

    while (*i < n && h[*i].level > level) {
        size_t me = (*i)++;
        uint32_t end = section_end(d, h, n, me);
        size_t endoff = end < d->text.nlines ? d->text.line[end] + qpl_text_line_len(&d->text, end)
                                             : d->text.len;
        json_t *sym =
            json_pack("{s:s, s:i, s:o, s:o}", "name", h[me].text[0] ? h[me].text : "#", "kind",
                      SYM_STRING, "range", range_off(s, d, d->text.line[h[me].line - 1], endoff),
                      "selectionRange", range_line(s, d, h[me].line - 1));

        json_object_set_new(sym, "children", symbol_tree(s, d, h, n, i, h[me].level));
        json_array_append_new(arr, sym);
    }
    return arr;
}

static json_t *h_document_symbol(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d = doc_of(s, params);
    size_t n, i = 0;
    const qp_heading *h;
    json_t *arr;

    (void)code;
    (void)msg;
    if (d == NULL)
        return json_array();
    h = qp_note_headings(d->note, &n);
    if (s->cap_hierarchical)
        return symbol_tree(s, d, h, n, &i, 0);
    arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:i, s:{s:s, s:o}}", "name", h[i].text, "kind",
                                             SYM_STRING, "location", "uri", d->uri, "range",
                                             range_line(s, d, h[i].line - 1)));
    return arr;
}

/* 0-based line of the frontmatter's closing fence, or -1. */
static long frontmatter_end(const qpl_doc *d)
{
    if (d->text.nlines < 2 || qpl_text_line_len(&d->text, 0) != 3 ||
        strncmp(d->text.s, "---", 3) != 0)
        return -1;
    for (size_t i = 1; i < d->text.nlines; i++) {
        const char *p = d->text.s + d->text.line[i];
        size_t ll = qpl_text_line_len(&d->text, i);

        if (ll == 3 && (strncmp(p, "---", 3) == 0 || strncmp(p, "...", 3) == 0))
            return (long)i;
    }
    return -1;
}

static void add_fold(json_t *arr, uint32_t a, uint32_t b, const char *kind)
{
    if (b <= a)
        return;
    json_t *f = json_pack("{s:i, s:i}", "startLine", (int)a, "endLine", (int)b);

    if (kind != NULL)
        json_object_set_new(f, "kind", json_string(kind));
    json_array_append_new(arr, f);
}

static json_t *h_folding_range(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d = doc_of(s, params);
    json_t *arr = json_array();
    size_t n;
    const qp_heading *h;
    long fm;

    (void)code;
    (void)msg;
    if (d == NULL)
        return arr;
    fm = frontmatter_end(d);
    if (fm > 0)
        add_fold(arr, 0, (uint32_t)fm, "imports");
    h = qp_note_headings(d->note, &n);
    for (size_t i = 0; i < n; i++)
        add_fold(arr, h[i].line - 1, section_end(d, h, n, i), "region");
    {
        /* Code blocks, from cmark-gfm's parse of the body (the frontmatter
         * is blanked line for line so that line numbers stay the file's). */
        size_t body = fm > 0 ? d->text.line[fm] : 0;
        char *copy = malloc(d->text.len + 1);
        cmark_node *doc, *node;
        cmark_iter *it;
        cmark_event_type ev;

        if (copy == NULL)
            return arr;
        memcpy(copy, d->text.s, d->text.len);
        for (size_t i = 0; i < body; i++)
            if (copy[i] != '\n')
                copy[i] = ' ';
        doc = cmark_parse_document(copy, d->text.len, CMARK_OPT_DEFAULT);
        free(copy);
        if (doc == NULL)
            return arr;
        it = cmark_iter_new(doc);
        while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
            node = cmark_iter_get_node(it);
            if (ev == CMARK_EVENT_ENTER && cmark_node_get_type(node) == CMARK_NODE_CODE_BLOCK &&
                cmark_node_get_start_line(node) > 0)
                add_fold(arr, (uint32_t)cmark_node_get_start_line(node) - 1,
                         (uint32_t)cmark_node_get_end_line(node) - 1, NULL);
        }
        cmark_iter_free(it);
        cmark_node_free(doc);
    }
    return arr;
}

static json_t *h_document_link(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d = doc_of(s, params);
    json_t *arr = json_array();
    size_t n;
    const qp_link *l;
    long long *ids;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL)
        return arr;
    l = qp_note_links(d->note, &n);
    ids = calloc(n ? n : 1, sizeof *ids);
    if (ids == NULL)
        return arr;
    /* One resolve per link, pipelined: sent all at once, then collected. */
    for (size_t i = 0; i < n; i++)
        ids[i] = qpl_dconn_send(&d->v->conn, "resolve", resolve_params(d, &l[i]));
    for (size_t i = 0; i < n; i++) {
        json_t *r = NULL, *e = NULL;
        const char *path;
        char *uri;

        if (ids[i] < 0 || qpl_dconn_wait(&d->v->conn, ids[i], QPL_CALL_TIMEOUT_MS, &r, &e) != 0) {
            qpl_vault_lost(s, d->v);
            break;
        }
        resolve_in_buffer(d, &l[i], r);
        path = json_string_value(json_object_get(r, "path"));
        if (path != NULL && (uri = qpl_uri_of(d->v, path)) != NULL) {
            json_int_t sl = json_integer_value(json_object_get(r, "subpath_line"));
            char *full = malloc(strlen(uri) + 32);

            if (full != NULL) {
                /* file:///x.md#L12, the fragment VS Code and others open at. */
                if (sl > 0)
                    sprintf(full, "%s#L%lld", uri, (long long)sl);
                else
                    strcpy(full, uri);
                json_array_append_new(
                    arr, json_pack("{s:o, s:s}", "range", link_range(s, d, &l[i]), "target", full));
                free(full);
            }
            free(uri);
        }
        json_decref(r);
        json_decref(e);
    }
    free(ids);
    return arr;
}

/* ---- diagnostics ----------------------------------------------------------- */

static json_t *diag(json_t *range, int sev, const char *code, const char *msg)
{
    return json_pack("{s:o, s:i, s:s, s:s, s:s}", "range", range, "severity", sev, "source",
                     "quipu", "code", code, "message", msg);
}

/* The "Recent Context" heading's 0-based line, or -1. */
static long recent_context_line(const qpl_doc *d)
{
    size_t n;
    const qp_heading *h = qp_note_headings(d->note, &n);

    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].text, "Recent Context") == 0)
            return (long)h[i].line - 1;
    return -1;
}

/* path -> title of a `mentions` result's meetings (new object): a person
 * may be mentioned in thousands of meetings, so lookups go through it. */
/* The titles of the meetings in the answer's "missing" list, by path: all
 * the diagnostics need of "mentioned_in", so the answer (megabytes for a
 * busy person) can go before they are built. */
static json_t *missing_titles(const json_t *m)
{
    json_t *want = json_object(), *t = json_object(), *src, *e;
    size_t i;

    json_array_foreach(json_object_get(m, "missing"), i, e)
    {
        if (json_is_string(e))
            json_object_set(want, json_string_value(e), json_true());
    }
    json_array_foreach(json_object_get(m, "mentioned_in"), i, src)
    {
        const char *p = json_string_value(json_object_get(src, "path"));
        json_t *title = json_object_get(src, "title");

        if (p != NULL && json_is_string(title) && json_object_get(want, p) != NULL)
            json_object_set(t, p, title);
    }
    json_decref(want);
    return t;
}

/* The diagnostics of d as a JSON array (new text). */
static char *compute_diagnostics(qpl_server *s, qpl_doc *d)
{
    locbuf lb = {0}, *arr = &lb;
    size_t n;
    const qp_diag *dg = qp_note_diags(d->note, &n);

    for (size_t i = 0; i < n; i++) {
        uint32_t ln = dg[i].line > 0 ? dg[i].line - 1 : 0;
        size_t a = ln < d->text.nlines ? d->text.line[ln] : d->text.len;
        size_t c = dg[i].col > 0 ? dg[i].col - 1 : 0;
        size_t ll = qpl_text_line_len(&d->text, ln);

        locbuf_json(arr, diag(range_off(s, d, a + (c < ll ? c : ll), a + ll),
                              dg[i].severity == QP_DIAG_ERROR ? SEV_ERROR : SEV_WARNING, "note",
                              dg[i].msg));
    }
    if (d->v == NULL || d->v->conn.fd < 0)
        return locbuf_finish(arr);
    {
        const qp_link *l = qp_note_links(d->note, &n);
        long long *ids = calloc(n ? n : 1, sizeof *ids);

        for (size_t i = 0; ids != NULL && i < n; i++)
            ids[i] = qpl_dconn_send(&d->v->conn, "resolve", resolve_params(d, &l[i]));
        for (size_t i = 0; ids != NULL && i < n; i++) {
            json_t *r = NULL, *e = NULL;
            char m[1024];

            if (ids[i] < 0 ||
                qpl_dconn_wait(&d->v->conn, ids[i], QPL_CALL_TIMEOUT_MS, &r, &e) != 0) {
                qpl_vault_lost(s, d->v);
                break;
            }
            resolve_in_buffer(d, &l[i], r);
            if (r != NULL && json_is_null(json_object_get(r, "path")) && l[i].target[0]) {
                snprintf(m, sizeof m, "unresolved link: no note named \"%s\"", l[i].target);
                locbuf_json(arr, diag(link_range(s, d, &l[i]), SEV_WARNING, "unresolved-link", m));
            } else if (r != NULL && json_is_false(json_object_get(r, "subpath_found"))) {
                snprintf(m, sizeof m, "unresolved link: %s has no %s \"%s\"",
                         json_string_value(json_object_get(r, "path")),
                         strncmp(l[i].subpath, "#^", 2) == 0 ? "block" : "heading",
                         l[i].subpath + 1);
                locbuf_json(arr,
                            diag(link_range(s, d, &l[i]), SEV_WARNING, "unresolved-subpath", m));
            }
            json_decref(r);
            json_decref(e);
        }
        free(ids);
    }
    {
        const qp_query_block *q = qp_note_query_blocks(d->note, &n);

        for (size_t i = 0; i < n; i++) {
            json_t *err = NULL, *r = tasks_query(s, d, q[i].query, false, &err);

            if (r == NULL && err != NULL) {
                json_t *data = json_object_get(err, "data");
                json_int_t ql = json_integer_value(json_object_get(data, "line"));
                const char *m = json_string_value(json_object_get(data, "message"));
                char text[1024];

                snprintf(text, sizeof text, "Tasks query: %s",
                         m ? m : OR(json_string_value(json_object_get(err, "message")), "error"));
                /* q.line is the fence (1-based): query line k is file line fence + k. */
                locbuf_json(arr, diag(range_line(s, d, q[i].line - 1 + (size_t)(ql > 0 ? ql : 1)),
                                      SEV_ERROR, "tasks-query", text));
            }
            json_decref(r);
            json_decref(err);
        }
    }
    if (qp_note_kind_of(d->note) == QP_KIND_PERSON && d->rel != NULL) {
        /* The meetings' titles matter here, not their lines. */
        json_t *m = qpl_call(s, d->v, "mentions",
                             json_pack("{s:s, s:b}", "note", d->rel, "occurrences", 0), NULL);
        json_t *titles = missing_titles(m);
        json_t *missing = json_incref(json_object_get(m, "missing"));
        json_t *stale = json_incref(json_object_get(m, "stale"));
        long rc = recent_context_line(d);
        size_t nm, i;
        const qp_mention_line *ml = qp_note_mention_lines(d->note, &nm);
        json_t *e;

        json_decref(m);
        json_array_foreach(missing, i, e)
        {
            const char *path = json_string_value(e);
            const char *title =
                path ? OR(json_string_value(json_object_get(titles, path)), path) : NULL;
            char text[1024];

            snprintf(text, sizeof text, "missing from Recent Context: mentioned in \"%s\" (%s)",
                     title ? title : "?", path ? path : "?");
            locbuf_json(arr, diag(range_line(s, d, rc >= 0 ? (size_t)rc : 0), SEV_INFO,
                                  "missing-mention", text));
        }
        json_array_foreach(stale, i, e)
        {
            const char *title = json_string_value(json_object_get(e, "title"));
            char text[1024];

            /* The line as it is in the editor, found by its title. */
            for (size_t k = 0; title != NULL && k < nm; k++) {
                if (strcmp(ml[k].title, title) == 0) {
                    snprintf(text, sizeof text,
                             "stale Recent Context line: no meeting titled \"%s\" mentions this "
                             "note",
                             title);
                    locbuf_json(arr, diag(range_line(s, d, ml[k].line - 1), SEV_INFO,
                                          "stale-mention", text));
                    break;
                }
            }
        }
        json_decref(titles);
        json_decref(missing);
        json_decref(stale);
    }
    return locbuf_finish(arr);
}

void qpl_publish(qpl_server *s, qpl_doc *d)
{
    char *text, *uri, *params;
    json_t *ju;

    d->dirty = false;
    if (d->note == NULL)
        return;
    text = compute_diagnostics(s, d);
    if (d->published != NULL && strcmp(text, d->published) == 0) {
        free(text);
        return;
    }
    free(d->published);
    d->published = text;
    ju = json_string(d->uri);
    uri = ju != NULL ? json_dumps(ju, JSON_ENCODE_ANY) : NULL;
    json_decref(ju);
    if (uri == NULL)
        return;
    params = qpd_xmalloc(strlen(uri) + strlen(text) + 32);
    sprintf(params, "{\"uri\":%s,\"diagnostics\":%s}", uri, text);
    qpl_notify_raw(s, "textDocument/publishDiagnostics", params);
    free(params);
    free(uri);
}

/* ---- codeAction -------------------------------------------------------------- */

/* The folder new notes go to (Obsidian's newFileLocation and
 * newFileFolderPath, read by libquipu's vaultconf), as a vault-relative
 * prefix written into buf ("" or "Inbox/"). Read at each use: the file is
 * small and the user may change it while the editor runs. */
static void new_note_folder(const qpl_doc *d, char *buf, size_t cap)
{
    qp_vaultconf *vc = NULL;
    char *folder = NULL;

    buf[0] = '\0';
    if (qp_vaultconf_load(&vc, d->v->root, NULL) == QP_OK &&
        qp_vaultconf_new_note_folder(&folder, vc, d->rel, NULL) == QP_OK && folder[0] != '\0')
        snprintf(buf, cap, "%s/", folder);
    free(folder);
    qp_vaultconf_free(vc);
}

static json_t *action_create_note(qpl_server *s, const qpl_doc *d, const qp_link *l)
{
    char folder[PATH_MAX], rel[PATH_MAX * 2], title[PATH_MAX];
    const char *t = l->target, *base;
    size_t tn = strlen(t);
    bool has_ext = tn > 3 && strcasecmp(t + tn - 3, ".md") == 0;
    char *uri;
    json_t *a;

    (void)s;
    /* A link with a folder names the path from the vault root; a bare name
     * goes where Obsidian puts new notes. */
    if (strchr(t, '/') != NULL)
        folder[0] = '\0';
    else
        new_note_folder(d, folder, sizeof folder);
    snprintf(rel, sizeof rel, "%s%s%s", folder, t, has_ext ? "" : ".md");
    base = strrchr(t, '/') ? strrchr(t, '/') + 1 : t;
    snprintf(title, sizeof title, "%.*s", (int)(strlen(base) - (has_ext ? 3 : 0)), base);
    uri = qpl_uri_of(d->v, rel);
    if (uri == NULL)
        return NULL;
    {
        char text[PATH_MAX + 8];
        char label[PATH_MAX * 2 + 32];

        snprintf(text, sizeof text, "# %s\n", title);
        snprintf(label, sizeof label, "Create note %s", rel);
        a = json_pack("{s:s, s:s, s:{s:[{s:s, s:s, s:{s:b}}, {s:{s:s, s:n}, s:[{s:o, s:s}]}]}}",
                      "title", label, "kind", "quickfix", "edit", "documentChanges", "kind",
                      "create", "uri", uri, "options", "ignoreIfExists", 1, "textDocument", "uri",
                      uri, "version", "edits", "range", range_lc(0, 0, 0, 0), "newText", text);
    }
    free(uri);
    return a;
}

/* Replaces the first occurrence of `from` in `line` by `to`, into out. */
static void subst(char *out, size_t cap, const char *line, const char *from, const char *to)
{
    const char *p = from && from[0] ? strstr(line, from) : NULL;

    if (p == NULL) {
        snprintf(out, cap, "%s", line);
        return;
    }
    snprintf(out, cap, "%.*s%s%s", (int)(p - line), line, to, p + strlen(from));
}

/* A dated item of the Recent Context section: its 0-based line and date. */
typedef struct dated {
    size_t line;
    char date[11];
} dated;

/* The items of the section under heading line rc (0-based) that start
 * with a date ("- 2025-10-30: ..."; "Mentioned in" lines or not), in
 * order, into v (at most cap); how many. *spaced: consecutive items are
 * one blank line apart, as some notes write their list. */
static size_t section_dates(const qpl_doc *d, long rc, dated *v, size_t cap, bool *spaced)
{
    size_t n = 0, blank_gaps = 0, tight = 0;
    long prev = -1;

    *spaced = false;
    for (size_t ln = rc < 0 ? d->text.nlines : (size_t)rc + 1; ln < d->text.nlines; ln++) {
        const char *p = d->text.s + d->text.line[ln];
        size_t len = qpl_text_line_len(&d->text, ln), k = 0;

        if (len > 0 && p[0] == '#')
            break; /* the next heading ends the section */
        while (k < len && (p[k] == ' ' || p[k] == '\t'))
            k++;
        if (k + 12 > len || (p[k] != '-' && p[k] != '*') || p[k + 1] != ' ')
            continue;
        k += 2;
        bool date = true;
        for (size_t j = 0; j < 10; j++)
            date =
                date && (j == 4 || j == 7 ? p[k + j] == '-' : p[k + j] >= '0' && p[k + j] <= '9');
        if (!date || n == cap)
            continue;
        if (prev >= 0) {
            if ((long)ln == prev + 2 && qpl_text_line_len(&d->text, ln - 1) == 0)
                blank_gaps++;
            else if ((long)ln == prev + 1)
                tight++;
        }
        v[n].line = ln;
        memcpy(v[n].date, p + k, 10);
        v[n].date[10] = '\0';
        n++;
        prev = (long)ln;
    }
    *spaced = blank_gaps > 0 && tight == 0;
    return n;
}

/* "Add the missing Mentioned in lines": one edit per line, merged into the
 * note's list newest first (among every dated item of the section, not
 * only its "Mentioned in" lines), each written like the note's first
 * "Mentioned in" line, with the note's line ending and, when its items
 * are a blank line apart, that spacing. */
static json_t *action_add_mentions(qpl_server *s, qpl_doc *d, json_t *m)
{
    size_t nm, i;
    const qp_mention_line *ml = qp_note_mention_lines(d->note, &nm);
    long rc = recent_context_line(d);
    json_t *edits = json_array(), *src, *a;
    char tmpl[1024] = "- DATE: Mentioned in: TITLE";
    const char *tdate = "DATE", *ttitle = "TITLE";
    size_t count = 0;

    if (nm > 0) {
        size_t ln = ml[0].line - 1;

        snprintf(tmpl, sizeof tmpl, "%.*s", (int)qpl_text_line_len(&d->text, ln),
                 d->text.s + d->text.line[ln]);
        tdate = ml[0].date;
        ttitle = ml[0].title;
    }
    json_t *missing = json_object(), *e;
    dated items[512];
    bool spaced = false;
    size_t nitems = section_dates(d, rc, items, sizeof items / sizeof items[0], &spaced);
    /* The note's line ending: CRLF when its first line ends so. */
    const char *eol =
        d->text.nlines > 1 && d->text.line[1] >= 2 && d->text.s[d->text.line[1] - 2] == '\r'
            ? "\r\n"
            : "\n";

    json_array_foreach(json_object_get(m, "missing"), i, e)
    {
        if (json_is_string(e))
            json_object_set_new(missing, json_string_value(e), json_true());
    }
    /* mentioned_in is newest first; take the missing ones in that order. */
    json_array_foreach(json_object_get(m, "mentioned_in"), i, src)
    {
        const char *path = json_string_value(json_object_get(src, "path"));
        const char *title = OR(json_string_value(json_object_get(src, "title")), path);
        const char *date = json_string_value(json_object_get(src, "date"));
        size_t at;
        char step[1024], line[1100];

        if (path == NULL || json_object_get(missing, path) == NULL)
            continue;
        /* Before the first dated item that is older, else after the last
         * (after the last "Mentioned in" line when no item has a date). */
        bool before = false;
        at = nitems > 0 ? items[nitems - 1].line + 1
             : nm > 0   ? ml[nm - 1].line
                        : (rc >= 0 ? (size_t)rc + 1 : 0);
        for (size_t k = 0; date != NULL && k < nitems; k++) {
            if (strcmp(items[k].date, date) < 0) {
                at = items[k].line;
                before = true;
                break;
            }
        }
        subst(step, sizeof step, tmpl, tdate, date ? date : "");
        {
            /* The title is substituted in what follows the date, so a date
             * that also occurs in the title is not touched twice. */
            const char *after = tdate ? strstr(tmpl, tdate) : NULL;
            size_t keep = after ? (size_t)(after - tmpl) + strlen(date ? date : "") : 0;

            if (keep > strlen(step))
                keep = 0;
            snprintf(line, sizeof line, "%.*s", (int)keep, step);
            subst(line + keep, sizeof line - keep, step + keep, ttitle, title);
        }
        {
            /* "- new\n\n- older" before an item, "\n- new" after the last,
             * when the list is spaced; the tail of a line (its \r) goes. */
            size_t ll = strlen(line);
            char text[sizeof line];
            int w;

            while (ll > 0 && line[ll - 1] == '\r')
                line[--ll] = '\0';
            if (spaced && before)
                w = snprintf(text, sizeof text, "%s%s%s", line, eol, eol);
            else if (spaced && nitems > 0)
                w = snprintf(text, sizeof text, "%s%s%s", eol, line, eol);
            else
                w = snprintf(text, sizeof text, "%s%s", line, eol);
            if (w < 0 || (size_t)w >= sizeof text)
                continue; /* a title longer than any line could hold */
            memcpy(line, text, (size_t)w + 1);
        }
        {
            size_t off = at < d->text.nlines ? d->text.line[at] : d->text.len;
            uint32_t l0, c0;

            qpl_text_position(&d->text, off, s->enc, &l0, &c0);
            json_array_append_new(
                edits, json_pack("{s:o, s:s}", "range", range_lc(l0, c0, l0, c0), "newText", line));
        }
        count++;
    }
    json_decref(missing);
    if (count == 0) {
        json_decref(edits);
        return NULL;
    }
    {
        char label[128];

        snprintf(label, sizeof label, "Add %zu missing \"Mentioned in\" line%s to Recent Context",
                 count, count == 1 ? "" : "s");
        a = json_pack("{s:s, s:s, s:{s:{s:o}}}", "title", label, "kind", "quickfix", "edit",
                      "changes", d->uri, edits);
    }
    return a;
}

/* "Link this mention": the plain-text name of a note under the cursor
 * becomes [[link]] (or [[link|text]] when written otherwise). The daemon
 * offers the notes whose name or alias starts like the word there; the one
 * whose name covers the cursor in this line wins (the longest). */
static json_t *action_link_mention(qpl_server *s, qpl_doc *d, size_t off, uint32_t line)
{
    size_t ls = d->text.line[line], ll = qpl_text_line_len(&d->text, line), ws = off;
    const char *lp = d->text.s + ls;
    char word[256];
    json_t *r, *it, *best = NULL;
    size_t i, ba = 0, bb = 0;

    if (link_at(d, off) != NULL || off > ls + ll)
        return NULL;
    /* The word's start: back over letters (any non-ASCII byte counts). */
    while (ws > ls &&
           (isalnum((unsigned char)d->text.s[ws - 1]) || (unsigned char)d->text.s[ws - 1] >= 0x80))
        ws--;
    if (ws == off &&
        !(isalnum((unsigned char)d->text.s[off]) || (unsigned char)d->text.s[off] >= 0x80))
        return NULL;
    {
        size_t we = off;

        while (we < ls + ll &&
               (isalnum((unsigned char)d->text.s[we]) || (unsigned char)d->text.s[we] >= 0x80))
            we++;
        snprintf(word, sizeof word, "%.*s", (int)(we - ws), d->text.s + ws);
    }
    r = qpl_call(s, d->v, "complete.notes", json_pack("{s:s, s:i}", "prefix", word, "limit", 50),
                 NULL);
    json_array_foreach(json_object_get(r, "items"), i, it)
    {
        const char *label = json_string_value(json_object_get(it, "label"));
        size_t n = label ? strlen(label) : 0;

        if (n == 0 || n > ll || strchr(label, '/') != NULL)
            continue;
        /* Occurrences of the name that cover the cursor, at word bounds. */
        for (size_t k = 0; k + n <= ll; k++) {
            size_t a = ls + k, b = a + n;

            if (a > off || b < off || strncasecmp(lp + k, label, n) != 0)
                continue;
            if ((k > 0 && isalnum((unsigned char)lp[k - 1])) ||
                (k + n < ll && isalnum((unsigned char)lp[k + n])))
                continue;
            if (b - a > bb - ba) {
                best = it;
                ba = a;
                bb = b;
            }
        }
    }
    if (best != NULL) {
        const char *path = json_string_value(json_object_get(best, "path"));
        const char *lk = OR(json_string_value(json_object_get(best, "link")), path);
        char written[512], text[PATH_MAX + 600], label[PATH_MAX + 700];
        json_t *a;

        snprintf(written, sizeof written, "%.*s", (int)(bb - ba), d->text.s + ba);
        if (strcmp(written, lk) == 0)
            snprintf(text, sizeof text, "[[%s]]", lk);
        else
            snprintf(text, sizeof text, "[[%s|%s]]", lk, written);
        snprintf(label, sizeof label, "Link \"%s\" to %s", written, path ? path : lk);
        a = json_pack("{s:s, s:s, s:{s:{s:[{s:o, s:s}]}}}", "title", label, "kind", "quickfix",
                      "edit", "changes", d->uri, "range", range_off(s, d, ba, bb), "newText", text);
        json_decref(r);
        return a;
    }
    json_decref(r);
    return NULL;
}

static json_t *h_code_action(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d = doc_of(s, params);
    json_t *range = json_object_get(params, "range");
    json_t *out = json_array(), *m = NULL;
    uint32_t l1, l2;
    size_t i, a, b, n;
    const qp_link *links;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL)
        return out;
    l1 = (uint32_t)json_integer_value(json_object_get(json_object_get(range, "start"), "line"));
    l2 = (uint32_t)json_integer_value(json_object_get(json_object_get(range, "end"), "line"));
    a = qpl_text_offset(
        &d->text, l1,
        (uint32_t)json_integer_value(json_object_get(json_object_get(range, "start"), "character")),
        s->enc);
    b = qpl_text_offset(
        &d->text, l2,
        (uint32_t)json_integer_value(json_object_get(json_object_get(range, "end"), "character")),
        s->enc);
    /* Unresolved links touching the range: create the note. */
    links = qp_note_links(d->note, &n);
    for (i = 0; i < n; i++) {
        size_t la, lb;
        json_t *r;

        link_span(d, &links[i], &la, &lb);
        if (lb < a || la > b || links[i].target[0] == '\0')
            continue;
        r = resolve_link(s, d, &links[i]);
        if (r != NULL && json_is_null(json_object_get(r, "path"))) {
            json_t *act = action_create_note(s, d, &links[i]);

            if (act != NULL)
                json_array_append_new(out, act);
        }
        json_decref(r);
    }
    {
        json_t *act = action_link_mention(s, d, a, l1);

        if (act != NULL)
            json_array_append_new(out, act);
    }
    if (qp_note_kind_of(d->note) == QP_KIND_PERSON && d->rel != NULL) {
        size_t nm;
        const qp_mention_line *ml = qp_note_mention_lines(d->note, &nm);
        json_t *e, *act;

        m = qpl_call(s, d->v, "mentions", json_pack("{s:s, s:b}", "note", d->rel, "occurrences", 0),
                     NULL);
        if (json_array_size(json_object_get(m, "missing")) > 0 &&
            (act = action_add_mentions(s, d, m)) != NULL)
            json_array_append_new(out, act);
        json_array_foreach(json_object_get(m, "stale"), i, e)
        {
            const char *title = json_string_value(json_object_get(e, "title"));

            for (size_t k = 0; title != NULL && k < nm; k++) {
                uint32_t ln = ml[k].line - 1;
                char label[1100];

                if (strcmp(ml[k].title, title) != 0 || ln < l1 || ln > l2)
                    continue;
                snprintf(label, sizeof label, "Remove the stale line \"%s\"", title);
                json_array_append_new(out, json_pack("{s:s, s:s, s:{s:{s:[{s:o, s:s}]}}}", "title",
                                                     label, "kind", "quickfix", "edit", "changes",
                                                     d->uri, "range", range_lc(ln, 0, ln + 1, 0),
                                                     "newText", ""));
                break;
            }
        }
        json_decref(m);
    }
    /* context.diagnostics is not needed: every action is found again from
     * the text and the index, so stale diagnostics cannot mislead it. */
    return out;
}

/* ---- codeLens and commands ---------------------------------------------------- */

static json_t *lens(uint32_t line, const char *title, const char *cmd, json_t *args)
{
    return json_pack("{s:o, s:{s:s, s:s, s:o}}", "range", range_lc(line, 0, line, 0), "command",
                     "title", title, "command", cmd, "arguments", args);
}

static json_t *h_code_lens(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d = doc_of(s, params);
    json_t *out = json_array(), *bl, *m;
    char title[256];
    size_t n;
    const qp_query_block *q;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL || d->rel == NULL)
        return out;
    /* A page of one: the answer carries the totals, not every source. */
    bl = qpl_call(s, d->v, "backlinks",
                  json_pack("{s:s, s:b, s:i}", "note", d->rel, "unlinked", 1, "limit", 1), NULL);
    if (bl != NULL) {
        size_t nb = (size_t)json_integer_value(json_object_get(bl, "linked_total"));
        size_t nu = (size_t)json_integer_value(json_object_get(bl, "unlinked_total"));

        snprintf(title, sizeof title, "%zu backlink%s · %zu unlinked", nb, nb == 1 ? "" : "s", nu);
        json_array_append_new(out, lens(0, title, "quipu.backlinks", json_pack("[s]", d->uri)));
    }
    json_decref(bl);
    if (qp_note_kind_of(d->note) == QP_KIND_PERSON) {
        m = qpl_call(s, d->v, "mentions", json_pack("{s:s, s:b}", "note", d->rel, "occurrences", 0),
                     NULL);
        if (m != NULL) {
            size_t k = json_array_size(json_object_get(m, "mentioned_in"));
            size_t j = json_array_size(json_object_get(m, "missing"));

            snprintf(title, sizeof title, "%zu meeting%s · %zu missing from Recent Context", k,
                     k == 1 ? "" : "s", j);
            json_array_append_new(out, lens(0, title, "quipu.mentions", json_pack("[s]", d->uri)));
        }
        json_decref(m);
    }
    q = qp_note_query_blocks(d->note, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *err = NULL, *r = tasks_query(s, d, q[i].query, false, &err);

        if (r != NULL) {
            json_int_t t = json_integer_value(json_object_get(r, "total"));

            snprintf(title, sizeof title, "%lld task%s", (long long)t, t == 1 ? "" : "s");
        } else {
            snprintf(title, sizeof title, "Tasks query error");
        }
        json_array_append_new(out, lens(q[i].line - 1, title, "quipu.tasks",
                                        json_pack("[s, i]", d->uri, (int)q[i].line - 1)));
        json_decref(r);
        json_decref(err);
    }
    return out;
}

/* The open document or, for a file not open, a vault path from a URI. */
static bool command_target(qpl_server *s, const char *uri, qpl_vault **v, char **rel)
{
    qpl_doc *d = qpl_doc_find(s, uri);
    char *path;

    *v = NULL;
    *rel = NULL;
    if (d != NULL && d->v != NULL && d->rel != NULL) {
        *v = d->v;
        *rel = strdup(d->rel);
        return *rel != NULL;
    }
    path = qpl_path_from_uri(uri);
    if (path != NULL && (*v = qpl_vault_for(s, path)) != NULL)
        *rel = strdup(path + strlen((*v)->root) + 1);
    free(path);
    return *rel != NULL;
}

static json_t *h_execute_command(qpl_server *s, json_t *params, int *code, const char **msg)
{
    const char *cmd = json_string_value(json_object_get(params, "command"));
    json_t *args = json_object_get(params, "arguments");
    const char *uri = json_string_value(json_array_get(args, 0));
    json_t *locs = json_array(), *r;
    qpl_vault *v;
    char *rel;
    char nbuf[PATH_MAX];

    if (cmd == NULL || (strcmp(cmd, "quipu.backlinks") != 0 && strcmp(cmd, "quipu.unlinked") != 0 &&
                        strcmp(cmd, "quipu.mentions") != 0 && strcmp(cmd, "quipu.tasks") != 0)) {
        json_decref(locs);
        *code = QPL_INVALID_PARAMS;
        *msg = "unknown command: quipu lsp has quipu.backlinks, quipu.unlinked, quipu.mentions "
               "and quipu.tasks";
        return NULL;
    }
    if (uri == NULL || !command_target(s, uri, &v, &rel)) {
        json_decref(locs);
        *code = QPL_INVALID_PARAMS;
        *msg = "expected arguments [uri, ...] of a note in a vault";
        return NULL;
    }
    if (strcmp(cmd, "quipu.backlinks") == 0 || strcmp(cmd, "quipu.unlinked") == 0) {
        bool unl = strcmp(cmd, "quipu.unlinked") == 0;
        json_t *src, *occ;
        size_t i, j;

        r = qpl_call(
            s, v, "backlinks",
            json_pack("{s:s, s:b, s:i}", "note", rel, "unlinked", unl, "max_occurrences", 0), NULL);
        json_array_foreach(json_object_get(r, unl ? "unlinked" : "linked"), i, src)
        {
            json_array_foreach(json_object_get(src, "occurrences"), j, occ)
            {
                json_array_append_new(
                    locs, occ_location(v, json_string_value(json_object_get(src, "path")), occ,
                                       s->enc, note_name(rel, nbuf, sizeof nbuf)));
            }
        }
        json_decref(r);
    } else if (strcmp(cmd, "quipu.mentions") == 0) {
        json_t *src, *occ;
        size_t i, j;

        r = qpl_call(s, v, "mentions", json_pack("{s:s, s:i}", "note", rel, "max_occurrences", 0),
                     NULL);
        json_array_foreach(json_object_get(r, "mentioned_in"), i, src)
        {
            json_array_foreach(json_object_get(src, "occurrences"), j, occ)
            {
                json_array_append_new(
                    locs, occ_location(v, json_string_value(json_object_get(src, "path")), occ,
                                       s->enc, note_name(rel, nbuf, sizeof nbuf)));
            }
        }
        json_decref(r);
    } else if (strcmp(cmd, "quipu.tasks") == 0) {
        qpl_doc *d = qpl_doc_find(s, uri);
        json_int_t line = json_integer_value(json_array_get(args, 1));
        const qp_query_block *q = d != NULL ? query_block_on(d, (uint32_t)line) : NULL;
        json_t *g, *t;
        size_t i, j;

        r = q != NULL ? tasks_query(s, d, q->query, true, NULL) : NULL;
        json_array_foreach(json_object_get(r, "groups"), i, g)
        {
            json_array_foreach(json_object_get(g, "tasks"), j, t)
            {
                const char *p = json_string_value(json_object_get(t, "path"));
                const char *text = OR(json_string_value(json_object_get(t, "text")), "");
                json_int_t ln = json_integer_value(json_object_get(t, "line"));
                char *turi = p ? qpl_uri_of(v, p) : NULL;

                if (turi == NULL)
                    continue;
                json_array_append_new(locs,
                                      json_pack("{s:s, s:o}", "uri", turi, "range",
                                                range_lc((uint32_t)ln - 1, 0, (uint32_t)ln - 1,
                                                         qpl_units(text, strlen(text), s->enc))));
                free(turi);
            }
        }
        json_decref(r);
    } else {
        free(rel);
        json_decref(locs);
        *code = QPL_INVALID_PARAMS;
        *msg = "unknown command";
        return NULL;
    }
    free(rel);
    return locs;
}

/* ---- completion ---------------------------------------------------------------- */

enum {
    CK_TEXT = 1,
    CK_VALUE = 12,
    CK_KEYWORD = 14,
    CK_FILE = 17,
    CK_REFERENCE = 18,
    CK_STRUCT = 22,
};

/* The vault-relative link text of `path` (without ".md") relative to the
 * folder of `from`, as Obsidian writes "relative" links. */
static void relative_link(char *out, size_t cap, const char *from, const char *path)
{
    const char *fs = strrchr(from, '/');
    size_t fl = fs ? (size_t)(fs - from) + 1 : 0; /* folder prefix with '/' */
    size_t common = 0, ups = 0;

    /* The longest common folder prefix, on '/' boundaries. */
    for (size_t i = 0; i < fl && path[i] == from[i]; i++)
        if (from[i] == '/')
            common = i + 1;
    for (size_t i = common; i < fl; i++)
        ups += from[i] == '/';
    out[0] = '\0';
    for (size_t i = 0; i < ups; i++)
        strncat(out, "../", cap - strlen(out) - 1);
    strncat(out, path + common, cap - strlen(out) - 1);
}

/* The text a new link to `path` names it by, in the vault's newLinkFormat:
 * `shortest` is the daemon's `link`; relative and absolute are paths. */
static void link_name(char *out, size_t cap, const qp_vaultconf *vc, const qpl_doc *d,
                      const char *path, const char *shortest)
{
    size_t n;

    switch (qp_vaultconf_link_format(vc)) {
    case QP_LINK_FORMAT_ABSOLUTE:
        snprintf(out, cap, "%s", path);
        break;
    case QP_LINK_FORMAT_RELATIVE:
        relative_link(out, cap, d->rel ? d->rel : "", path);
        break;
    default:
        snprintf(out, cap, "%s", shortest ? shortest : path);
        return; /* already without .md */
    }
    n = strlen(out);
    if (n > 3 && strcasecmp(out + n - 3, ".md") == 0)
        out[n - 3] = '\0';
}

/* Percent-encodes what a Markdown destination cannot hold bare. */
static void md_dest(char *out, size_t cap, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < cap; p++) {
        if (*p == ' ' || *p == '%' || *p == '(' || *p == ')' || *p == '<' || *p == '>' ||
            *p == '#' || *p == '^' || *p == '[' || *p == ']' || *p == '|') {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

static json_t *citem(const char *label, int kind, const char *detail, const char *insert,
                     json_t *range, size_t rank, const char *filter)
{
    char sort[24]; /* "%06zu" of any size_t: up to 20 digits */
    json_t *it;

    snprintf(sort, sizeof sort, "%06zu", rank);
    it = json_pack("{s:s, s:i, s:s, s:{s:o, s:s}, s:s}", "label", label, "kind", kind, "sortText",
                   sort, "textEdit", "range", range, "newText", insert, "filterText",
                   filter ? filter : label);
    if (detail != NULL)
        json_object_set_new(it, "detail", json_string(detail));
    return it;
}

/* True when an item of `items` already inserts `text`. */
static bool has_insert(const json_t *items, const char *text)
{
    const json_t *it;
    size_t i;

    json_array_foreach(items, i, it)
    {
        const char *t =
            json_string_value(json_object_get(json_object_get(it, "textEdit"), "newText"));

        if (t != NULL && strcmp(t, text) == 0)
            return true;
    }
    return false;
}

/* The frontmatter key a line belongs to: "key: ..." on the line, or the
 * last "key:" above a "- item" line. Empty when none. */
static void frontmatter_key(const qpl_doc *d, uint32_t line, char *key, size_t cap)
{
    key[0] = '\0';
    for (long ln = (long)line; ln > 0; ln--) {
        const char *p = d->text.s + d->text.line[ln];
        size_t ll = qpl_text_line_len(&d->text, (size_t)ln), k = 0;
        const char *c;

        while (k < ll && (p[k] == ' ' || p[k] == '\t'))
            k++;
        if (k < ll && p[k] == '-')
            continue; /* a list item: its key is above */
        c = memchr(p, ':', ll);
        if (k == 0 && c != NULL)
            snprintf(key, cap, "%.*s", (int)(c - p), p);
        return;
    }
}

static json_t *h_completion(qpl_server *s, json_t *params, int *code, const char **msg)
{
    size_t off;
    uint32_t line;
    qpl_doc *d = doc_pos(s, params, &off, &line);
    json_t *items = json_array(), *r = NULL;
    bool incomplete = false;
    size_t ls, n;
    const char *lp, *open = NULL;
    char prefix[512];
    qp_vaultconf *vc = NULL;
    long fm;

    (void)code;
    (void)msg;
    if (d == NULL || d->v == NULL)
        goto done;
    ls = d->text.line[line];
    lp = d->text.s + ls;
    n = off - ls; /* bytes of the line before the cursor */
    /* The last "[[" before the cursor that is not closed yet. */
    for (size_t i = n; i >= 2; i--) {
        if (lp[i - 1] == ']' && lp[i - 2] == ']')
            break;
        if (lp[i - 1] == '[' && lp[i - 2] == '[') {
            open = lp + i;
            break;
        }
    }
    qp_vaultconf_load(&vc, d->v->root, NULL);
    fm = frontmatter_end(d);
    if (open != NULL) {
        size_t pl = (size_t)(lp + n - open);
        const char *hash = memchr(open, '#', pl);
        bool closed = off + 2 <= d->text.len && strncmp(d->text.s + off, "]]", 2) == 0;
        json_t *range;
        uint32_t l1, c1, c2;

        if (memchr(open, '|', pl) != NULL || pl >= sizeof prefix)
            goto done; /* the display text: nothing to offer */
        qpl_text_position(&d->text, (size_t)(open - d->text.s), s->enc, &l1, &c1);
        qpl_text_position(&d->text, off, s->enc, &l1, &c2);
        if (hash == NULL) {
            snprintf(prefix, sizeof prefix, "%.*s", (int)pl, open);
            r = qpl_call(s, d->v, "complete.notes",
                         json_pack("{s:s, s:i}", "prefix", prefix, "limit", 50), NULL);
            json_t *it;
            size_t i;
            bool md = qp_vaultconf_markdown_links(vc);

            json_array_foreach(json_object_get(r, "items"), i, it)
            {
                const char *label = OR(json_string_value(json_object_get(it, "label")), "");
                const char *path = OR(json_string_value(json_object_get(it, "path")), "");
                const char *type = OR(json_string_value(json_object_get(it, "type")), "note");
                const char *lk = json_string_value(json_object_get(it, "link"));
                const char *match = OR(json_string_value(json_object_get(it, "match")), "");
                bool alias = strcmp(type, "alias") == 0;
                char name[PATH_MAX], text[PATH_MAX * 3 + 16];

                link_name(name, sizeof name, vc, d, path, lk);
                if (md && (fm < 0 || line > (uint32_t)fm)) {
                    /* useMarkdownLinks: replace the "[[" too with [Title](path). */
                    char dest[PATH_MAX * 3];
                    size_t nl = strlen(name);

                    snprintf(name + nl, sizeof name - nl, ".md");
                    md_dest(dest, sizeof dest, name);
                    snprintf(text, sizeof text, "[%s](%s)", label, dest);
                    range = range_lc(l1, c1 - 2, l1, closed ? c2 + 2 : c2);
                } else {
                    if (alias)
                        snprintf(text, sizeof text, "%s|%s%s", name, label, closed ? "" : "]]");
                    else
                        snprintf(text, sizeof text, "%s%s", name, closed ? "" : "]]");
                    range = range_lc(l1, c1, l1, c2);
                }
                json_array_append_new(
                    items,
                    citem(label, alias ? CK_REFERENCE : CK_FILE, path, text, range, i,
                          strcmp(match, "prefix") == 0 || strcmp(match, "exact") == 0 ? label
                                                                                      : prefix));
            }
        } else {
            char note[PATH_MAX];
            bool block = hash + 1 < lp + n && hash[1] == '^';
            const char *pre = hash + (block ? 2 : 1);
            json_t *it, *p;
            size_t i;
            uint32_t cp;

            snprintf(note, sizeof note, "%.*s", (int)(hash - open), open);
            snprintf(prefix, sizeof prefix, "%.*s", (int)(lp + n - pre), pre);
            qpl_text_position(&d->text, (size_t)(pre - d->text.s), s->enc, &l1, &cp);
            p = json_pack("{s:s, s:s, s:i}", "note", note[0] ? note : OR(d->rel, ""), "prefix",
                          prefix, "limit", 50);
            r = qpl_call(s, d->v, block ? "complete.blocks" : "complete.headings", p, NULL);
            json_array_foreach(json_object_get(r, "items"), i, it)
            {
                const char *label = json_string_value(json_object_get(it, block ? "id" : "text"));
                const char *sub = json_string_value(json_object_get(it, "subpath"));
                char text[1024];

                if (label == NULL)
                    continue;
                /* A repeated heading needs its #Parent#Heading chain. */
                snprintf(text, sizeof text, "%s%s",
                         !block && sub != NULL && sub[0] == '#' ? sub + 1 : label,
                         closed ? "" : "]]");
                json_array_append_new(items, citem(label, block ? CK_REFERENCE : CK_STRUCT, NULL,
                                                   text, range_lc(l1, cp, l1, c2), i, label));
            }
        }
    } else if (fm > 0 && line > 0 && line < (uint32_t)fm) {
        /* Frontmatter: values of the key, and notes as "[[Name]]". */
        char key[128];
        size_t k = 0, st;
        json_t *it;
        size_t i;
        uint32_t l1, c1, c2;

        /* Notes are offered in a list (a "- " item or a [flow, list]) or
         * for a key whose values are links; a scalar like `status: ac`
         * gets its own values only. */
        bool list = false, link_key = false;

        frontmatter_key(d, line, key, sizeof key);
        while (k < n && (lp[k] == ' ' || lp[k] == '\t'))
            k++;
        if (k < n && lp[k] == '-') {
            k++;
            list = true;
        } else if (memchr(lp, ':', n) != NULL) {
            k = (size_t)((const char *)memchr(lp, ':', n) - lp) + 1;
        }
        while (k < n && (lp[k] == ' ' || lp[k] == '"' || lp[k] == '\'' || lp[k] == '[')) {
            list = list || lp[k] == '[';
            k++;
        }
        st = k;
        snprintf(prefix, sizeof prefix, "%.*s", (int)(n - st), lp + st);
        qpl_text_position(&d->text, ls + st, s->enc, &l1, &c1);
        qpl_text_position(&d->text, off, s->enc, &l1, &c2);
        /* Replace from the value's start, quotes and brackets included. */
        {
            size_t q = st;

            while (q > 0 && (lp[q - 1] == '"' || lp[q - 1] == '\'' || lp[q - 1] == '['))
                q--;
            qpl_text_position(&d->text, ls + q, s->enc, &l1, &c1);
        }
        if (key[0]) {
            r = qpl_call(s, d->v, "complete.values",
                         json_pack("{s:s, s:s, s:i}", "key", key, "prefix", prefix, "limit", 50),
                         NULL);
            json_array_foreach(json_object_get(r, "items"), i, it)
            {
                const char *v = json_string_value(json_object_get(it, "value"));
                char text[1024];

                /* The value being typed is in the index already (the saved
                 * line): offering it back is noise. */
                if (v != NULL && strncmp(v, "[[", 2) == 0)
                    link_key = true;
                if (v == NULL || strcmp(v, prefix) == 0)
                    continue;
                snprintf(text, sizeof text, strncmp(v, "[[", 2) == 0 ? "\"%s\"" : "%s", v);
                json_array_append_new(
                    items, citem(v, CK_VALUE, key, text, range_lc(l1, c1, l1, c2), i, prefix));
            }
            incomplete = json_is_true(json_object_get(r, "incomplete"));
            json_decref(r);
        }
        r = list || link_key
                ? qpl_call(s, d->v, "complete.notes",
                           json_pack("{s:s, s:i}", "prefix", prefix, "limit", 50), NULL)
                : NULL;
        json_array_foreach(json_object_get(r, "items"), i, it)
        {
            const char *label = OR(json_string_value(json_object_get(it, "label")), "");
            const char *lk = OR(json_string_value(json_object_get(it, "link")), label);
            char text[PATH_MAX + 16], name[PATH_MAX];

            link_name(name, sizeof name, vc, d,
                      OR(json_string_value(json_object_get(it, "path")), ""), lk);
            snprintf(text, sizeof text, "\"[[%s]]\"", name);
            if (has_insert(items, text))
                continue; /* already offered as a value of the key */
            json_array_append_new(items, citem(label, CK_FILE,
                                               json_string_value(json_object_get(it, "path")), text,
                                               range_lc(l1, c1, l1, c2), 100 + i, prefix));
        }
    } else {
        /* A tag being typed: '#' at the line start or after a space, and
         * not a heading's "# ". */
        size_t i = n;
        json_t *it;
        size_t k;

        while (i > 0 && lp[i - 1] != '#' && lp[i - 1] != ' ' && lp[i - 1] != '\t')
            i--;
        if (i == 0 || lp[i - 1] != '#' || (i >= 2 && lp[i - 2] != ' ' && lp[i - 2] != '\t'))
            goto done;
        {
            uint32_t l1, c1, c2;

            snprintf(prefix, sizeof prefix, "%.*s", (int)(n - i), lp + i);
            qpl_text_position(&d->text, ls + i - 1, s->enc, &l1, &c1);
            qpl_text_position(&d->text, off, s->enc, &l1, &c2);
            r = qpl_call(s, d->v, "complete.tags",
                         json_pack("{s:s, s:i}", "prefix", prefix, "limit", 50), NULL);
            json_array_foreach(json_object_get(r, "items"), k, it)
            {
                const char *tag = json_string_value(json_object_get(it, "tag"));
                char detail[64];

                if (tag == NULL)
                    continue;
                snprintf(detail, sizeof detail, "%lld note%s",
                         (long long)json_integer_value(json_object_get(it, "count")),
                         json_integer_value(json_object_get(it, "count")) == 1 ? "" : "s");
                json_array_append_new(
                    items, citem(tag, CK_KEYWORD, detail, tag, range_lc(l1, c1, l1, c2), k, tag));
            }
        }
    }
    incomplete = incomplete || json_is_true(json_object_get(r, "incomplete"));

done:
    json_decref(r);
    qp_vaultconf_free(vc);
    return json_pack("{s:b, s:o}", "isIncomplete", incomplete, "items", items);
}

/* ---- workspace/symbol ------------------------------------------------------------ */

static json_t *h_workspace_symbol(qpl_server *s, json_t *params, int *code, const char **msg)
{
    const char *q = OR(json_string_value(json_object_get(params, "query")), "");
    json_t *out = json_array();

    (void)code;
    (void)msg;
    for (size_t k = 0; k < s->nvaults; k++) {
        qpl_vault *v = s->vaults[k];
        json_t *r = qpl_call(s, v, "symbols.search",
                             json_pack("{s:s, s:i}", "query", q, "limit", 100), NULL);
        json_t *it;
        size_t i;

        json_array_foreach(json_object_get(r, "items"), i, it)
        {
            const char *type = OR(json_string_value(json_object_get(it, "type")), "note");
            const char *path = json_string_value(json_object_get(it, "path"));
            json_int_t ln = json_integer_value(json_object_get(it, "line"));
            uint32_t l0 = ln > 0 ? (uint32_t)ln - 1 : 0;
            int kind = strcmp(type, "heading") == 0 ? SYM_STRING
                       : strcmp(type, "alias") == 0 ? SYM_KEY
                       : strcmp(type, "tag") == 0   ? 14 /* Constant */
                                                    : SYM_FILE;
            char *uri = path ? qpl_uri_of(v, path) : NULL;
            json_t *sym;

            if (uri == NULL)
                continue;
            sym = json_pack("{s:s, s:i, s:{s:s, s:o}}", "name",
                            OR(json_string_value(json_object_get(it, "name")), path), "kind", kind,
                            "location", "uri", uri, "range", range_lc(l0, 0, l0, 0));
            if (json_is_string(json_object_get(it, "container")))
                json_object_set(sym, "containerName", json_object_get(it, "container"));
            json_array_append_new(out, sym);
            free(uri);
        }
        json_decref(r);
    }
    return out;
}

/* ---- table -------------------------------------------------------------------- */

static const struct {
    const char *name;
    qpl_handler h;
} handlers[] = {
    {"textDocument/codeAction", h_code_action},
    {"textDocument/codeLens", h_code_lens},
    {"textDocument/completion", h_completion},
    {"textDocument/definition", h_definition},
    {"textDocument/documentLink", h_document_link},
    {"textDocument/documentSymbol", h_document_symbol},
    {"textDocument/foldingRange", h_folding_range},
    {"textDocument/hover", h_hover},
    {"textDocument/prepareRename", qpl_h_prepare_rename},
    {"textDocument/references", h_references},
    {"textDocument/rename", qpl_h_rename},
    {"workspace/executeCommand", h_execute_command},
    {"workspace/symbol", h_workspace_symbol},
    {"workspace/willRenameFiles", qpl_h_will_rename_files},
};

qpl_handler qpl_handler_find(const char *method)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(handlers[i].name, method) == 0)
            return handlers[i].h;
    return NULL;
}

json_t *qpl_capabilities(const qpl_server *s)
{
    json_t *c = json_pack(
        "{s:s, s:{s:b, s:i, s:{s:b}}, s:b, s:b, s:b, s:b, s:{s:b}, s:b, s:{s:[s], s:b}, s:{s:b}, "
        "s:{s:[ssss]}, s:{s:{s:b, s:b}}, s:b, s:{s:[ssss], s:b}}",
        "positionEncoding", s->enc == QPL_UTF8 ? "utf-8" : "utf-16", "textDocumentSync",
        "openClose", 1, "change", 2, "save", "includeText", 0, "definitionProvider", 1,
        "referencesProvider", 1, "hoverProvider", 1, "documentSymbolProvider", 1,
        "documentLinkProvider", "resolveProvider", 0, "foldingRangeProvider", 1,
        "codeActionProvider", "codeActionKinds", "quickfix", "resolveProvider", 0,
        "codeLensProvider", "resolveProvider", 0, "executeCommandProvider", "commands",
        "quipu.backlinks", "quipu.unlinked", "quipu.mentions", "quipu.tasks", "workspace",
        "workspaceFolders", "supported", 1, "changeNotifications", 1, "workspaceSymbolProvider", 1,
        "completionProvider", "triggerCharacters", "[", "#", "^", "\"", "resolveProvider", 0);

    if (c != NULL)
        qpl_rename_capabilities(c); /* rename.c */
    return c;
}
