/*
 * mcp_tools — the tools of `quipu mcp`: each a JSON Schema for its
 * arguments, an outputSchema, a handler that asks quipud and answers with
 * structuredContent plus a short text rendering.
 *
 * Errors a model can act on are results with isError (unknown note with
 * the nearest names, a bad argument naming the argument, a query error
 * with its line); only an unknown tool is a protocol error (mcp.c). Lists
 * are paginated with `limit` and an opaque `cursor` (the offset of the next
 * item, as text): nothing is cut without saying where the rest is.
 *
 * Writes (only with --allow-write) are atomic: the new text goes to a
 * temporary file in the note's folder, is synced, and is renamed over the
 * note (or linked to its new name, which fails if the name was taken), after
 * checking that the file is still the one that was read (its XXH3 `version`,
 * which read_note reports). rename_note writes quipud's rename plan with
 * apply.c, as `quipu mv` does: every file checked against the hash it was
 * planned from, all or nothing. Each write is logged on stderr.
 */
/* realpath(), mkstemp() are XSI. */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "mcp.h"
#include "quipu/text.h"

#define MAX_TEXT ((size_t)8 << 20) /* note text a write tool accepts (QP_NOTE_MAX_SIZE) */

/* ---- results ------------------------------------------------------------ */

__attribute__((format(printf, 1, 2))) static json_t *tool_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg, "isError", 1);
}

/* Takes structured and text (a growable string, see sb_*). */
static json_t *tool_ok(json_t *structured, char *text)
{
    json_t *r = json_pack("{s:[{s:s, s:s}], s:o}", "content", "type", "text", "text",
                          text ? text : "", "structuredContent", structured);
    free(text);
    return r ? r : tool_error("out of memory");
}

typedef struct sb {
    char *s;
    size_t n, cap;
} sb;

__attribute__((format(printf, 2, 3))) static void sb_printf(sb *b, const char *fmt, ...)
{
    va_list ap;
    int need;

    va_start(ap, fmt);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + (size_t)need + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (s == NULL)
            return;
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---- arguments ---------------------------------------------------------- */

/* Every key of args must be a property of the tool's input schema. */
static json_t *check_keys(json_t *args, json_t *schema)
{
    json_t *props = json_object_get(schema, "properties");
    const char *k;
    json_t *v;

    json_object_foreach(args, k, v)
    {
        if (json_object_get(props, k) == NULL) {
            sb b = {0};
            const char *pk;
            json_t *pv;
            json_object_foreach(props, pk, pv) sb_printf(&b, "%s%s", b.n ? ", " : "", pk);
            json_t *e = tool_error("unknown argument \"%s\"; this tool takes: %s", k,
                                   b.s ? b.s : "no arguments");
            free(b.s);
            return e;
        }
    }
    json_t *req = json_object_get(schema, "required");
    size_t i;
    json_array_foreach(req, i, v)
    {
        if (json_object_get(args, json_string_value(v)) == NULL)
            return tool_error("missing argument \"%s\"", json_string_value(v));
    }
    return NULL;
}

static json_t *arg_string(json_t *args, const char *name, size_t max, const char **out)
{
    json_t *v = json_object_get(args, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v))
        return tool_error("argument \"%s\" must be a string", name);
    if (json_string_length(v) > max)
        return tool_error("argument \"%s\" is too long (%zu bytes; at most %zu)", name,
                          json_string_length(v), max);
    *out = json_string_value(v);
    return NULL;
}

/* A string argument that must be one of `allowed` (a NULL-terminated list). */
static json_t *arg_enum(json_t *args, const char *name, const char *const *allowed,
                        const char **out)
{
    json_t *e = arg_string(args, name, 64, out);

    if (e != NULL || *out == NULL)
        return e;
    for (size_t i = 0; allowed[i] != NULL; i++)
        if (strcmp(*out, allowed[i]) == 0)
            return NULL;
    sb b = {0};
    for (size_t i = 0; allowed[i] != NULL; i++)
        sb_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
    e = tool_error("argument \"%s\" must be one of: %s (not \"%s\")", name, b.s ? b.s : "", *out);
    free(b.s);
    *out = NULL;
    return e;
}

/* read_note's version: checked for its form here, so that a mistyped one
 * is not reported as a note changed since it was read. */
static json_t *arg_version(json_t *args, const char **out)
{
    json_t *e = arg_string(args, "version", 64, out);

    if (e != NULL || *out == NULL)
        return e;
    if (strlen(*out) != 16 || strspn(*out, "0123456789abcdefABCDEF") != 16) {
        e = tool_error("argument \"version\" must be the version read_note gave (16 hex "
                       "digits), not \"%s\"",
                       *out);
        *out = NULL;
    }
    return e;
}

static json_t *arg_int(json_t *args, const char *name, long lo, long hi, long *out)
{
    json_t *v = json_object_get(args, name);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return tool_error("argument \"%s\" must be an integer from %ld to %ld", name, lo, hi);
    *out = (long)json_integer_value(v);
    return NULL;
}

static json_t *arg_bool(json_t *args, const char *name, bool *out)
{
    json_t *v = json_object_get(args, name);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_boolean(v))
        return tool_error("argument \"%s\" must be true or false", name);
    *out = json_is_true(v);
    return NULL;
}

/* ---- calling quipud ----------------------------------------------------- */

/* Runs a method; on failure *fail is a tool error (new) and NULL returned. */
static json_t *ask(qp_mcp *m, const char *method, json_t *params, json_t **fail)
{
    json_t *result = NULL, *error = NULL;
    const char *why = NULL;

    *fail = NULL;
    if (qp_mcp_call(m, method, params, &result, &error, &why) != 0) {
        *fail = tool_error("%s", why);
        return NULL;
    }
    if (error != NULL) {
        json_t *data = json_object_get(error, "data");
        const char *kind = str(data, "kind");

        if (strcmp(kind, "query_error") == 0 && json_integer_value(json_object_get(data, "line")))
            *fail = tool_error("query error on line %lld: %s",
                               (long long)json_integer_value(json_object_get(data, "line")),
                               str(data, "message"));
        else
            *fail = tool_error("%s", str(error, "message"));
        json_decref(error);
        return NULL;
    }
    return result;
}

static bool fold_eq(const char *a, const char *b)
{
    char *fa = qp_text_fold(a, strlen(a), NULL), *fb = qp_text_fold(b, strlen(b), NULL);
    bool eq = fa && fb && strcmp(fa, fb) == 0;

    free(fa);
    free(fb);
    return eq;
}

/* A note by path, link text or alias. Returns its path (new) or NULL with
 * *fail: "no note named X; did you mean Y?". */
static char *resolve_note(qp_mcp *m, const char *name, json_t **fail)
{
    json_t *r = ask(m, "resolve", json_pack("{s:s}", "link", name), fail);
    char *path = NULL;

    if (r == NULL) {
        /* Text that is no link at all ("[[") is simply no note. */
        json_decref(*fail);
        *fail = NULL;
    } else if (json_is_string(json_object_get(r, "path"))) {
        path = strdup(str(r, "path"));
    }
    json_decref(r);
    if (path != NULL && qp_vault_is_note(path))
        return path;
    free(path);
    path = NULL;

    /* Aliases: the notes that hold the words, checked by their aliases. */
    json_t *e = NULL;
    json_t *s =
        ask(m, "search", json_pack("{s:s, s:b, s:i}", "query", name, "prefix", 0, "limit", 10), &e);
    size_t i;
    json_t *res;
    json_array_foreach(json_object_get(s, "results"), i, res)
    {
        json_t *ne = NULL, *n = ask(m, "note", json_pack("{s:s}", "note", str(res, "path")), &ne);
        size_t k;
        json_t *al;
        json_decref(ne);
        json_array_foreach(json_object_get(n, "aliases"), k, al)
        {
            if (path == NULL && json_is_string(al) && fold_eq(json_string_value(al), name))
                path = strdup(str(res, "path"));
        }
        json_decref(n);
        if (path != NULL)
            break;
    }
    json_decref(s);
    json_decref(e);
    if (path != NULL)
        return path;

    /* Nearest names: the notes best ranked for any word typed, as a
     * prefix (the title weighs most): "Ann Leee" finds "Ann Lee". */
    sb b = {0}, q = {0};
    for (const char *w = name; *w;) {
        while (*w && (unsigned char)*w < 0x80 && !isalnum((unsigned char)*w))
            w++;
        size_t l = 0;
        while (w[l] && ((unsigned char)w[l] >= 0x80 || isalnum((unsigned char)w[l])))
            l++;
        if (l > 0 && !(l == 2 && strncmp(w, "OR", 2) == 0))
            sb_printf(&q, "%s%.*s*", q.n ? " OR " : "", (int)l, w);
        w += l;
    }
    s = q.s ? ask(m, "search", json_pack("{s:s, s:b, s:i}", "query", q.s, "prefix", 0, "limit", 3),
                  &e)
            : NULL;
    free(q.s);
    json_array_foreach(json_object_get(s, "results"), i, res)
        sb_printf(&b, "%s\"%s\"", i == 0 ? "" : " or ", str(res, "path"));
    json_decref(s);
    json_decref(e);
    if (b.s != NULL)
        *fail = tool_error("no note named \"%s\"; did you mean %s?", name, b.s);
    else
        *fail = tool_error("no note named \"%s\" (nothing similar either); find notes with the "
                           "search or list_notes tools",
                           name);
    free(b.s);
    return NULL;
}

/* ---- the read tools ------------------------------------------------------ */

static json_t *t_search(qp_mcp *m, json_t *args)
{
    const char *q = NULL, *cursor = NULL;
    long limit = 10;
    json_t *e;

    if ((e = arg_string(args, "query", 4096, &q)) || (e = arg_int(args, "limit", 1, 100, &limit)) ||
        (e = arg_string(args, "cursor", 32, &cursor)))
        return e;
    json_t *p = json_pack("{s:s, s:i, s:b}", "query", q, "limit", (int)limit, "prefix", 0);
    if (cursor)
        json_object_set_new(p, "cursor", json_string(cursor));
    json_t *r = ask(m, "search", p, &e);
    if (r == NULL)
        return e;
    sb b = {0};
    size_t n = json_array_size(json_object_get(r, "results")), i;
    json_t *res;
    sb_printf(&b, "%lld notes match; showing %zu%s.\n",
              (long long)json_integer_value(json_object_get(r, "total")), n,
              json_is_string(json_object_get(r, "next_cursor")) ? " (more: pass next_cursor)" : "");
    json_array_foreach(json_object_get(r, "results"), i, res)
    {
        json_t *m0 = json_array_get(json_object_get(res, "matches"), 0);
        sb_printf(&b, "- %s", str(res, "path"));
        if (m0)
            sb_printf(&b, ":%lld: %s", (long long)json_integer_value(json_object_get(m0, "line")),
                      str(m0, "text"));
        sb_printf(&b, "\n");
    }
    return tool_ok(r, b.s);
}

static json_t *t_read_note(qp_mcp *m, json_t *args)
{
    const char *name = NULL;
    long off = 0, max = 65536;
    json_t *e;

    if ((e = arg_string(args, "note", 4096, &name)) ||
        (e = arg_int(args, "offset", 0, 1L << 30, &off)) ||
        (e = arg_int(args, "max_bytes", 1, 1L << 20, &max)))
        return e;
    char *path = resolve_note(m, name, &e);
    if (path == NULL)
        return e;
    json_t *n = ask(m, "note", json_pack("{s:s}", "note", path), &e);
    char *text = NULL;
    size_t len = 0;
    qp_file_stat fs;
    qp_error err = QP_ERROR_INIT;
    if (n == NULL) {
        free(path);
        return e;
    }
    if (qp_vault_read(m->vault, path, 0, &text, &len, &fs, &err) != 0) {
        json_decref(n);
        e = tool_error("%s: cannot be read: %s", path, err.msg);
        free(path);
        return e;
    }
    size_t a = (size_t)off < len ? (size_t)off : len,
           b = a + (size_t)max < len ? a + (size_t)max : len;
    while (a < len && a > 0 && ((unsigned char)text[a] & 0xC0) == 0x80)
        a++;
    while (b < len && b > a && ((unsigned char)text[b] & 0xC0) == 0x80)
        b--;
    json_t *jt = qp_mcp_text(text + a, b - a);
    char version[32], *uri = qp_mcp_uri(m, path);
    snprintf(version, sizeof version, "%016llx", (unsigned long long)fs.hash);
    json_t *links = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(n, "links"), i, l) json_array_append_new(
        links, json_pack("{s:O, s:O, s:O}", "target", json_object_get(l, "target"), "path",
                         json_object_get(l, "path"), "line", json_object_get(l, "line")));
    json_t *out = json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:o, s:I, s:I, s:I, s:o, s:s}", "path",
        path, "uri", uri ? uri : "", "kind", json_object_get(n, "kind"), "title",
        json_object_get(n, "title"), "date", json_object_get(n, "date"), "aliases",
        json_object_get(n, "aliases"), "tags", json_object_get(n, "tags"), "properties",
        json_object_get(n, "properties"), "headings", json_object_get(n, "headings"), "links",
        links, "text", jt, "offset", (json_int_t)a, "bytes", (json_int_t)(b - a), "size",
        (json_int_t)len, "next_offset", b < len ? json_integer((json_int_t)b) : json_null(),
        "version", version);
    sb s = {0};
    sb_printf(&s, "%s (%s, %zu bytes, version %s)%s\n\n%.*s", path, str(n, "kind"), len, version,
              a > 0 || b < len ? " — part of the text" : "", (int)(b - a), text + a);
    if (b < len)
        sb_printf(&s, "\n\n[%zu more bytes: call read_note with offset %zu]", len - b, b);
    free(text);
    free(uri);
    free(path);
    json_decref(n);
    return out ? tool_ok(out, s.s) : (free(s.s), tool_error("out of memory"));
}

/* The occurrences kept per source (the daemon's max_occurrences): 20 by
 * default, a few lines of context each that a model reads at a glance;
 * more_occurrences says how many a larger max_occurrences would show. The
 * cap of 1000 keeps one source's page within a model's reach; 0 (the
 * daemon's "all") is not offered, as nothing would bound it. */
#define OCC_DEFAULT 20
#define OCC_MAX     1000

/* The daemon's paging params: limit, cursor (opaque: passed as it came)
 * and, for methods whose items are sources, max_occ (else 0). */
static json_t *page_params(json_t *p, json_t *args, long limit, long max_occ)
{
    const char *cursor = json_string_value(json_object_get(args, "cursor"));

    json_object_set_new(p, "limit", json_integer(limit));
    if (max_occ > 0)
        json_object_set_new(p, "max_occurrences", json_integer(max_occ));
    if (cursor)
        json_object_set_new(p, "cursor", json_string(cursor));
    return p;
}

static json_t *t_backlinks(qp_mcp *m, json_t *args)
{
    const char *name = NULL, *cursor = NULL;
    bool unlinked = false;
    long limit = 50, max_occ = OCC_DEFAULT;
    json_t *e;

    if ((e = arg_string(args, "note", 4096, &name)) ||
        (e = arg_bool(args, "unlinked", &unlinked)) ||
        (e = arg_int(args, "limit", 1, 500, &limit)) ||
        (e = arg_int(args, "max_occurrences", 1, OCC_MAX, &max_occ)) ||
        (e = arg_string(args, "cursor", 4096, &cursor)))
        return e;
    char *path = resolve_note(m, name, &e);
    if (path == NULL)
        return e;
    json_t *p = json_pack("{s:s, s:b}", "note", path, "unlinked", unlinked);
    json_t *r = ask(m, "backlinks", page_params(p, args, limit, max_occ), &e);
    free(path);
    if (r == NULL)
        return e;
    json_t *nc = json_object_get(r, "next_cursor");
    json_t *out = json_pack("{s:O, s:O, s:O, s:O}", "path", json_object_get(r, "path"),
                            "total_linked", json_object_get(r, "linked_total"), "linked",
                            json_object_get(r, "linked"), "next_cursor", nc ? nc : json_null());
    if (unlinked) {
        json_object_set(out, "total_unlinked", json_object_get(r, "unlinked_total"));
        json_object_set(out, "unlinked", json_object_get(r, "unlinked"));
    }
    sb b = {0};
    sb_printf(&b, "%lld notes link to %s",
              (long long)json_integer_value(json_object_get(r, "linked_total")), str(r, "path"));
    if (unlinked)
        sb_printf(&b, "; %lld more mention it without a link",
                  (long long)json_integer_value(json_object_get(r, "unlinked_total")));
    sb_printf(&b, ".\n");
    json_t *arrs[2] = {json_object_get(out, "linked"), json_object_get(out, "unlinked")};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *src;
        json_array_foreach(arrs[k], i, src)
        {
            json_t *o = json_array_get(json_object_get(src, "occurrences"), 0);
            sb_printf(&b, "- %s%s:%lld: %s\n", k ? "(unlinked) " : "", str(src, "path"),
                      (long long)json_integer_value(json_object_get(o, "line")), str(o, "context"));
        }
    }
    if (nc)
        sb_printf(&b, "(more: pass next_cursor)\n");
    json_decref(r);
    return tool_ok(out, b.s);
}

static json_t *t_mentions(qp_mcp *m, json_t *args)
{
    const char *name = NULL, *cursor = NULL;
    long limit = 50, max_occ = OCC_DEFAULT;
    json_t *e;

    if ((e = arg_string(args, "note", 4096, &name)) ||
        (e = arg_int(args, "limit", 1, 500, &limit)) ||
        (e = arg_int(args, "max_occurrences", 1, OCC_MAX, &max_occ)) ||
        (e = arg_string(args, "cursor", 4096, &cursor)))
        return e;
    char *path = resolve_note(m, name, &e);
    if (path == NULL)
        return e;
    json_t *p = json_pack("{s:s}", "note", path);
    json_t *r = ask(m, "mentions", page_params(p, args, limit, max_occ), &e);
    free(path);
    if (r == NULL)
        return e;
    json_t *nc = json_object_get(r, "next_cursor");
    json_t *out = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "path", json_object_get(r, "path"), "total",
        json_object_get(r, "mentioned_total"), "mentioned_in", json_object_get(r, "mentioned_in"),
        "listed", json_object_get(r, "listed"), "missing", json_object_get(r, "missing"), "stale",
        json_object_get(r, "stale"), "next_cursor", nc ? nc : json_null());
    sb b = {0};
    size_t i;
    json_t *v;
    sb_printf(&b, "%s is mentioned in %lld meetings (newest first):\n", str(r, "path"),
              (long long)json_integer_value(json_object_get(r, "mentioned_total")));
    json_array_foreach(json_object_get(out, "mentioned_in"), i, v)
        sb_printf(&b, "- %s %s (%s)\n",
                  json_is_string(json_object_get(v, "date")) ? str(v, "date") : "undated",
                  str(v, "title"), str(v, "path"));
    if (nc)
        sb_printf(&b, "(more: pass next_cursor)\n");
    sb_printf(&b, "Missing from its Recent Context: %zu; stale lines there: %zu.\n",
              json_array_size(json_object_get(r, "missing")),
              json_array_size(json_object_get(r, "stale")));
    json_decref(r);
    return tool_ok(out, b.s);
}

static json_t *t_tasks(qp_mcp *m, json_t *args)
{
    const char *q = NULL, *today = NULL, *cursor = NULL;
    long limit = 100;
    json_t *e;

    if ((e = arg_string(args, "query", 65536, &q)) || (e = arg_string(args, "today", 10, &today)) ||
        (e = arg_int(args, "limit", 1, 1000, &limit)) ||
        (e = arg_string(args, "cursor", 4096, &cursor)))
        return e;
    if (today && !(strlen(today) == 10 && today[4] == '-' && today[7] == '-'))
        return tool_error("argument \"today\" must be a date YYYY-MM-DD");
    json_t *p = page_params(json_pack("{s:s}", "query", q), args, limit, 0);
    if (today)
        json_object_set_new(p, "today", json_string(today));
    json_t *r = ask(m, "tasks.query", p, &e);
    if (r == NULL)
        return e;
    json_t *nc = json_object_get(r, "next_cursor");
    json_t *groups = json_object_get(r, "groups");
    size_t gi, returned = 0;
    json_t *g;
    json_array_foreach(groups, gi, g) returned += json_array_size(json_object_get(g, "tasks"));
    json_t *out =
        json_pack("{s:O, s:I, s:O, s:O}", "total", json_object_get(r, "total"), "returned",
                  (json_int_t)returned, "groups", groups, "next_cursor", nc ? nc : json_null());
    sb b = {0};
    sb_printf(&b, "%lld tasks%s.\n", (long long)json_integer_value(json_object_get(r, "total")),
              nc ? " (this page shows part: pass next_cursor)" : "");
    json_array_foreach(groups, gi, g)
    {
        size_t k;
        json_t *t, *nm;
        if (json_array_size(json_object_get(g, "names")) > 0) {
            sb_printf(&b, "##");
            json_array_foreach(json_object_get(g, "names"), k, nm)
                sb_printf(&b, " %s", json_string_value(nm) ? json_string_value(nm) : "");
            sb_printf(&b, "\n");
        }
        json_array_foreach(json_object_get(g, "tasks"), k, t)
            sb_printf(&b, "- [%s] %s (%s:%lld)\n", str(json_object_get(t, "status"), "symbol"),
                      str(t, "description"), str(t, "path"),
                      (long long)json_integer_value(json_object_get(t, "line")));
    }
    json_decref(r);
    return tool_ok(out, b.s);
}

static json_t *t_list_notes(qp_mcp *m, json_t *args)
{
    static const char *const keys[] = {"folder", "tag", "property", "value"};
    static const char *const kinds[] = {"person", "meeting", "note", NULL};
    static const char *const sorts[] = {"path", "modified", "date", "title", NULL};
    const char *cursor = NULL, *v = NULL, *kind = NULL, *sort = NULL;
    long limit = 100, total = 0;
    int code = 0;
    char why[300], *next = NULL;
    json_t *e, *filters = json_object();

    /* The enums are checked here, in the tool's words: quipud's messages
     * say "param", and an older quipud would not check kind at all. */
    if ((e = arg_int(args, "limit", 1, 1000, &limit)) ||
        (e = arg_string(args, "cursor", 64, &cursor)) ||
        (e = arg_enum(args, "kind", kinds, &kind)) || (e = arg_enum(args, "sort", sorts, &sort))) {
        json_decref(filters);
        return e;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if ((e = arg_string(args, keys[i], 1024, &v)) != NULL) {
            json_decref(filters);
            return e;
        }
        if (v)
            json_object_set_new(filters, keys[i], json_string(v));
    }
    if (json_object_get(filters, "value") && !json_object_get(filters, "property")) {
        json_decref(filters);
        return tool_error("argument \"value\" needs argument \"property\", the frontmatter key "
                          "whose value must equal it");
    }
    if (kind)
        json_object_set_new(filters, "kind", json_string(kind));
    if (sort)
        json_object_set_new(filters, "sort", json_string(sort));
    json_t *notes = qp_mcp_list(m, filters, limit, cursor, &next, &total, &code, why, sizeof why);
    if (notes != NULL && !m->has_list &&
        (json_object_get(filters, "kind") || json_object_get(filters, "property") ||
         json_object_get(filters, "sort"))) {
        json_decref(notes);
        notes = NULL;
        snprintf(why, sizeof why,
                 "this quipud cannot filter by kind or property, nor sort: "
                 "update quipu, or use folder and tag");
    }
    json_decref(filters);
    if (notes == NULL)
        return tool_error("%s", why);
    json_t *out = json_pack("{s:I, s:o, s:o}", "total", (json_int_t)total, "notes", notes,
                            "next_cursor", next ? json_string(next) : json_null());
    sb b = {0};
    size_t i;
    json_t *n;
    sb_printf(&b, "%ld notes; showing %zu%s.\n", total, json_array_size(notes),
              next ? " (more: pass next_cursor)" : "");
    json_array_foreach(notes, i, n) sb_printf(&b, "- %s (%s)\n", str(n, "path"), str(n, "kind"));
    free(next);
    return tool_ok(out, b.s);
}

static json_t *t_unresolved(qp_mcp *m, json_t *args)
{
    const char *cursor = NULL;
    long limit = 100;
    json_t *e;

    if ((e = arg_int(args, "limit", 1, 1000, &limit)) ||
        (e = arg_string(args, "cursor", 64, &cursor)))
        return e;
    json_t *p = json_pack("{s:i}", "limit", (int)limit);
    if (cursor)
        json_object_set_new(p, "cursor", json_string(cursor));
    json_t *result = NULL, *error = NULL;
    const char *why = NULL;
    if (qp_mcp_call(m, "unresolved", p, &result, &error, &why) != 0)
        return tool_error("%s", why);
    if (error != NULL) {
        bool missing = json_integer_value(json_object_get(error, "code")) == -32601;
        e = missing ? tool_error("this quipud does not list unresolved links yet (update quipu); "
                                 "the status tool gives their number")
                    : tool_error("%s", str(error, "message"));
        json_decref(error);
        return e;
    }
    json_t *nc = json_object_get(result, "next_cursor"); /* absent on the last page */
    json_t *out =
        json_pack("{s:O, s:O, s:O}", "total", json_object_get(result, "total"), "targets",
                  json_object_get(result, "targets"), "next_cursor", nc != NULL ? nc : json_null());
    sb b = {0};
    size_t i;
    json_t *t;
    sb_printf(&b, "%lld link targets resolve to no note.\n",
              (long long)json_integer_value(json_object_get(result, "total")));
    json_array_foreach(json_object_get(result, "targets"), i, t)
        sb_printf(&b, "- [[%s]] x%lld\n", str(t, "target"),
                  (long long)json_integer_value(json_object_get(t, "count")));
    json_decref(result);
    return tool_ok(out, b.s);
}

static json_t *t_status(qp_mcp *m, json_t *args)
{
    json_t *e;
    (void)args;
    json_t *r = ask(m, "status", NULL, &e);
    if (r == NULL)
        return e;
    json_t *n = json_object_get(r, "notes");
    sb b = {0};
    sb_printf(&b,
              "%s: %lld files (%lld people, %lld meetings, %lld other notes), %lld tasks, "
              "%lld links (%lld unresolved), vault %s",
              str(r, "state"), (long long)json_integer_value(json_object_get(r, "files")),
              (long long)json_integer_value(json_object_get(n, "person")),
              (long long)json_integer_value(json_object_get(n, "meeting")),
              (long long)json_integer_value(json_object_get(n, "other")),
              (long long)json_integer_value(json_object_get(r, "tasks")),
              (long long)json_integer_value(json_object_get(r, "links")),
              (long long)json_integer_value(json_object_get(r, "unresolved_links")),
              str(r, "vault"));
    json_object_set_new(r, "writable", json_boolean(m->allow_write));
    return tool_ok(r, b.s);
}

/* ---- writing ------------------------------------------------------------ */

/* A vault-relative path inside the vault and not hidden; `arg` names the
 * argument it came from in the message. */
static bool vault_path_ok(const char *arg, const char *rel, char *why, size_t wl)
{
    size_t n = strlen(rel);

    if (n == 0 || n > 1024 || rel[0] == '/' || strchr(rel, '\\') || !qp_text_utf8_valid(rel, n)) {
        snprintf(why, wl, "%s \"%s\" must be vault-relative, '/'-separated UTF-8", arg, rel);
        return false;
    }
    for (const char *p = rel; *p; p++)
        if ((unsigned char)*p < 0x20) {
            snprintf(why, wl, "%s \"%s\" holds a control character", arg, rel);
            return false;
        }
    for (const char *seg = rel; *seg;) {
        const char *end = strchr(seg, '/');
        size_t l = end ? (size_t)(end - seg) : strlen(seg);
        if (l == 0 || seg[0] == '.') {
            snprintf(why, wl,
                     "%s \"%s\" is outside the vault or hidden: no empty, '.' or '..' parts and "
                     "no dot-folders",
                     arg, rel);
            return false;
        }
        seg += l + (end ? 1 : 0);
    }
    return true;
}

/* A vault-relative path a new note may have. */
static bool new_path_ok(const char *rel, char *why, size_t wl)
{
    if (!vault_path_ok("path", rel, why, wl))
        return false;
    if (!qp_vault_is_note(rel)) {
        snprintf(why, wl, "path \"%s\" must end in .md", rel);
        return false;
    }
    return true;
}

/* The entry of folder `dir` whose name folds as `name` does (qp_text_fold,
 * as links compare names), new, or NULL. */
static char *folded_entry(const char *dir, const char *name, size_t len)
{
    char *want = qp_text_fold(name, len, NULL), *found = NULL;
    DIR *d = want ? opendir(dir) : NULL;
    struct dirent *e;

    while (d != NULL && found == NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *f = qp_text_fold(e->d_name, strlen(e->d_name), NULL);
        if (f != NULL && strcmp(f, want) == 0)
            found = strdup(e->d_name);
        free(f);
    }
    if (d != NULL)
        closedir(d);
    free(want);
    return found;
}

/* Links resolve case-insensitively (and a case-insensitive disk holds one
 * file for both names), so a new note whose path differs from an existing
 * file or folder only in case would take another's links, or be it. True
 * after writing that file's path, or the first such folder's with a '/'
 * after it, to `existing`. rel passed vault_path_ok: no "." or ".." parts. */
static bool case_clash(const qp_mcp *m, const char *rel, char *existing, size_t el)
{
    char have[PATH_MAX], path[PATH_MAX * 2]; /* have: the part of rel found, as spelled on disk */
    size_t hl = 0, folder_end = 0; /* have[0..folder_end): the first folder that differs */
    bool differs = false, whole = false;
    struct stat st;

    have[0] = '\0';
    for (const char *c = rel;;) {
        const char *slash = strchr(c, '/');
        size_t l = slash ? (size_t)(slash - c) : strlen(c);
        char *name = NULL;

        if (snprintf(path, sizeof path, "%s/%s%s%.*s", m->root, have, hl > 0 ? "/" : "", (int)l,
                     c) >= (int)sizeof path)
            return false; /* longer than any path the vault can hold */
        if (lstat(path, &st) != 0) {
            snprintf(path, sizeof path, "%s/%s", m->root, have);
            if ((name = folded_entry(path, c, l)) == NULL)
                break; /* no such name in any case: nothing below it either */
            differs = true;
        }
        int n = snprintf(have + hl, sizeof have - hl, "%s%.*s", hl > 0 ? "/" : "",
                         (int)(name ? strlen(name) : l), name ? name : c);
        free(name);
        if (n < 0 || (size_t)n >= sizeof have - hl)
            return false;
        hl += (size_t)n;
        if (slash == NULL) {
            whole = true; /* the whole path exists, spelled otherwise */
            break;
        }
        if (differs && folder_end == 0)
            folder_end = hl;
        c = slash + 1;
    }
    if (differs && whole)
        snprintf(existing, el, "%s", have);
    else if (differs)
        snprintf(existing, el, "%.*s/", (int)folder_end, have);
    return differs;
}

/* Makes the folders of rel inside the root; false when one is (or links)
 * outside it. */
static bool make_folders(const qp_mcp *m, const char *rel, char *why, size_t wl)
{
    char p[PATH_MAX * 2], real[PATH_MAX];
    size_t rl = strlen(m->root);

    for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
        snprintf(p, sizeof p, "%s/%.*s", m->root, (int)(s - rel), rel);
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            snprintf(why, wl, "cannot make folder %.*s: %s", (int)(s - rel), rel, strerror(errno));
            return false;
        }
        if (realpath(p, real) == NULL || strncmp(real, m->root, rl) != 0 || real[rl] != '/') {
            snprintf(why, wl, "folder %.*s leads outside the vault", (int)(s - rel), rel);
            return false;
        }
    }
    return true;
}

static int fsync_dir(const char *file)
{
    char d[PATH_MAX * 2];
    snprintf(d, sizeof d, "%s", file);
    char *slash = strrchr(d, '/');
    if (slash)
        *slash = '\0';
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes data as `rel`: a new note when expect is NULL (fails if the name is
 * taken), else over the note whose content hash must still be *expect. The
 * new content's hash goes to *version. */
static bool write_note(qp_mcp *m, const char *rel, const char *data, size_t len,
                       const uint64_t *expect, mode_t mode, char *why, size_t wl)
{
    char full[PATH_MAX * 2], tmp[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s/%s", m->root, rel);
    snprintf(tmp, sizeof tmp, "%s", full);
    char *slash = strrchr(tmp, '/');
    snprintf(slash + 1, sizeof tmp - (size_t)(slash + 1 - tmp), ".quipu-write-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(why, wl, "%s: cannot write in its folder: %s", rel, strerror(errno));
        return false;
    }
    bool ok = fchmod(fd, mode) == 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        done += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        snprintf(why, wl, "%s: writing failed: %s", rel, strerror(errno));
        unlink(tmp);
        return false;
    }
    if (expect != NULL) {
        /* Still what was read? (the editor may have saved meanwhile) */
        char *cur = NULL;
        size_t cl = 0;
        qp_file_stat fs;
        qp_error err = QP_ERROR_INIT;
        bool same =
            qp_vault_read(m->vault, rel, 0, &cur, &cl, &fs, &err) == 0 && fs.hash == *expect;
        free(cur);
        if (!same) {
            unlink(tmp);
            snprintf(why, wl,
                     "%s changed on disk while it was being written: nothing written; "
                     "read it again",
                     rel);
            return false;
        }
        if (rename(tmp, full) != 0) {
            snprintf(why, wl, "%s: rename failed: %s", rel, strerror(errno));
            unlink(tmp);
            return false;
        }
    } else {
        int lr = link(tmp, full);
        int le = errno;
        unlink(tmp);
        if (lr != 0) {
            snprintf(why, wl, le == EEXIST ? "%s already exists: nothing written" : "%s: %s", rel,
                     strerror(le));
            return false;
        }
    }
    fsync_dir(full);
    return true;
}

static long long generation(qp_mcp *m, long long *pending)
{
    json_t *e = NULL, *r = ask(m, "status", NULL, &e);
    long long g = r ? (long long)json_integer_value(json_object_get(r, "generation")) : -1;

    *pending = r ? (long long)json_integer_value(json_object_get(r, "pending")) : 0;
    json_decref(r);
    json_decref(e);
    return g;
}

/* Waits (up to 3 s) until quipud has committed what was written after
 * generation `before` and is quiet, so the next tool call sees the write. */
static void wait_indexed(qp_mcp *m, long long before)
{
    for (int i = 0; i < 150; i++) {
        long long pending = 0, g = generation(m, &pending);
        if (g < 0 || (g > before && pending == 0))
            return;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static json_t *written(qp_mcp *m, const char *tool, const char *rel, const char *data, size_t len,
                       json_t *extra, const char *what)
{
    char version[32], *uri = qp_mcp_uri(m, rel);
    uint64_t h = 0;
    char *cur = NULL;
    size_t cl = 0;
    qp_file_stat fs;
    if (qp_vault_read(m->vault, rel, 0, &cur, &cl, &fs, NULL) == 0)
        h = fs.hash;
    free(cur);
    (void)data;
    snprintf(version, sizeof version, "%016llx", (unsigned long long)h);
    fprintf(stderr, "quipu mcp: %s %s: %s (%zu bytes)\n", tool, rel, what, len);
    json_t *out = json_pack("{s:s, s:s, s:s, s:I}", "path", rel, "uri", uri ? uri : "", "version",
                            version, "bytes", (json_int_t)len);
    if (extra)
        json_object_update(out, extra);
    json_decref(extra);
    free(uri);
    sb b = {0};
    sb_printf(&b, "%s %s (now %zu bytes, version %s).", what, rel, len, version);
    return tool_ok(out, b.s);
}

static json_t *t_create_note(qp_mcp *m, json_t *args)
{
    const char *rel = NULL, *text = NULL;
    char why[512];
    json_t *e;

    if ((e = arg_string(args, "path", 1024, &rel)) ||
        (e = arg_string(args, "text", MAX_TEXT, &text)))
        return e;
    if (!new_path_ok(rel, why, sizeof why))
        return tool_error("%s", why);
    if (case_clash(m, rel, why, sizeof why))
        return tool_error("%s already exists (names differ only in case): nothing written", why);
    if (!make_folders(m, rel, why, sizeof why))
        return tool_error("%s", why);
    mode_t um = umask(0);
    umask(um);
    size_t len = strlen(text);
    long long pending, before = generation(m, &pending);
    if (!write_note(m, rel, text, len, NULL, 0666 & ~um, why, sizeof why))
        return tool_error("%s", why);
    wait_indexed(m, before);
    return written(m, "create_note", rel, text, len, NULL, "created");
}

/* Reads a note for a change: its text, hash and mode; checks `version`. */
static json_t *read_for_write(qp_mcp *m, const char *rel, const char *version, char **text,
                              size_t *len, uint64_t *hash, mode_t *mode)
{
    qp_file_stat fs;
    qp_error err = QP_ERROR_INIT;
    char full[PATH_MAX * 2], cur[32];
    struct stat st;

    if (qp_vault_read(m->vault, rel, QP_NOTE_MAX_SIZE, text, len, &fs, &err) != 0)
        return tool_error("%s: cannot be read: %s", rel, err.msg);
    snprintf(cur, sizeof cur, "%016llx", (unsigned long long)fs.hash);
    if (version && strcasecmp(version, cur) != 0) {
        free(*text);
        *text = NULL;
        return tool_error("%s changed since you read it (version %s, now %s): nothing written; "
                          "read it again and retry",
                          rel, version, cur);
    }
    snprintf(full, sizeof full, "%s/%s", m->root, rel);
    *mode = stat(full, &st) == 0 ? (st.st_mode & 07777) : 0644;
    *hash = fs.hash;
    return NULL;
}

static json_t *t_append_to_note(qp_mcp *m, json_t *args)
{
    const char *name = NULL, *add = NULL, *version = NULL;
    char why[512], *text = NULL, *path;
    size_t len = 0;
    uint64_t hash;
    mode_t mode;
    json_t *e;

    if ((e = arg_string(args, "note", 4096, &name)) ||
        (e = arg_string(args, "text", MAX_TEXT, &add)) || (e = arg_version(args, &version)))
        return e;
    if ((path = resolve_note(m, name, &e)) == NULL)
        return e;
    if ((e = read_for_write(m, path, version, &text, &len, &hash, &mode)) != NULL) {
        free(path);
        return e;
    }
    size_t al = strlen(add);
    char *out = malloc(len + al + 3);
    if (out == NULL) {
        free(text);
        free(path);
        return tool_error("out of memory");
    }
    size_t n = len;
    memcpy(out, text, len);
    if (n > 0 && out[n - 1] != '\n')
        out[n++] = '\n';
    memcpy(out + n, add, al);
    n += al;
    if (al > 0 && out[n - 1] != '\n')
        out[n++] = '\n';
    long long pending, before = generation(m, &pending);
    if (n > QP_NOTE_MAX_SIZE)
        e = tool_error("%s would grow past 8 MiB: nothing written", path);
    else if (!write_note(m, path, out, n, &hash, mode, why, sizeof why))
        e = tool_error("%s", why);
    else {
        wait_indexed(m, before);
        e = written(m, "append_to_note", path, out, n, NULL, "appended to");
    }
    free(out);
    free(text);
    free(path);
    return e;
}

/* ---- add_mentions: "- DATE: Mentioned in: TITLE" lines ------------------ */

typedef struct line_ref {
    const char *s;
    size_t n;
} line_ref;

static bool is_heading(const char *s, size_t n, int *level)
{
    int l = 0;
    while ((size_t)l < n && s[l] == '#')
        l++;
    *level = l;
    return l >= 1 && l <= 6 && ((size_t)l == n || s[l] == ' ' || s[l] == '\t');
}

/* A list item whose text starts with a date: "- 2025-11-14: ...". Sets the
 * bullet's length and the date. */
static bool dated_item(const char *s, size_t n, size_t *bullet, char date[11])
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i + 2 > n || (s[i] != '-' && s[i] != '*' && s[i] != '+') || s[i + 1] != ' ')
        return false;
    i += 2;
    *bullet = i;
    if (i + 10 > n)
        return false;
    for (int k = 0; k < 10; k++)
        if (k == 4 || k == 7 ? s[i + k] != '-' : !isdigit((unsigned char)s[i + k]))
            return false;
    memcpy(date, s + i, 10);
    date[10] = '\0';
    return true;
}

/* Writes the new items that go at line `at` (-1: after the section's last
 * dated line), in the section's order; `before` an existing line each is
 * followed by `sep` (a blank line when the section has them), else
 * preceded by it. */
static void emit_items(sb *out, json_t *items, const long *pos, size_t ni, long at, bool before,
                       bool newest_first, const char *bullet, const char *sep)
{
    for (size_t q = 0; q < ni; q++) {
        size_t x = newest_first ? q : ni - 1 - q;
        if (pos[x] != at)
            continue;
        json_t *src = json_array_get(items, x);
        const char *d = json_is_string(json_object_get(src, "date")) ? str(src, "date") : NULL;
        sb_printf(out, "%s%s%s%sMentioned in: %s\n%s", before ? "" : sep, bullet, d ? d : "",
                  d ? ": " : "", str(src, "title"), before ? sep : "");
    }
}

static json_t *t_add_mentions(qp_mcp *m, json_t *args)
{
    const char *name = NULL, *version = NULL;
    char why[512], *text = NULL, *path;
    size_t len = 0;
    uint64_t hash;
    mode_t mode;
    json_t *e;

    if ((e = arg_string(args, "note", 4096, &name)) || (e = arg_version(args, &version)))
        return e;
    if ((path = resolve_note(m, name, &e)) == NULL)
        return e;
    json_t *r = ask(m, "mentions", json_pack("{s:s}", "note", path), &e);
    if (r == NULL) {
        free(path);
        return e;
    }
    json_t *missing = json_object_get(r, "missing"), *added = json_array();
    if (json_array_size(missing) == 0) {
        json_decref(r);
        json_t *out = json_pack("{s:s, s:o}", "path", path, "added", added);
        sb b = {0};
        sb_printf(&b, "%s already lists every meeting that mentions it: nothing written.", path);
        free(path);
        return tool_ok(out, b.s);
    }
    if ((e = read_for_write(m, path, version, &text, &len, &hash, &mode)) != NULL) {
        json_decref(r);
        json_decref(added);
        free(path);
        return e;
    }
    /* The note's lines, and its Recent Context section. */
    line_ref *lines = calloc(len + 2, sizeof *lines);
    size_t nl = 0;
    for (size_t a = 0; a <= len && lines;) {
        const char *nlp = memchr(text + a, '\n', len - a);
        size_t b = nlp ? (size_t)(nlp - text) : len;
        if (a == len && !nlp)
            break;
        lines[nl++] = (line_ref){text + a, b - a};
        a = b + 1;
    }
    long head = -1, end = (long)nl, last_item = -1;
    int hlevel = 0, lv;
    size_t bullet_len = 2;
    char bullet[16] = "- ", date[11];
    bool blank_between = false, newest_first = true, in_code = false;
    char first_date[11] = "", last_date[11] = "";
    for (size_t i = 0; i < nl; i++) {
        const char *s = lines[i].s;
        size_t n = lines[i].n;
        while (n > 0 && s[n - 1] == '\r')
            n--;
        if (n >= 3 && (strncmp(s, "```", 3) == 0 || strncmp(s, "~~~", 3) == 0))
            in_code = !in_code;
        if (in_code)
            continue;
        if (is_heading(s, n, &lv)) {
            if (head >= 0 && lv <= hlevel) {
                end = (long)i;
                break;
            }
            const char *t = s + lv;
            size_t tn = n - (size_t)lv;
            while (tn > 0 && (*t == ' ' || *t == '\t'))
                t++, tn--;
            while (tn > 0 && (t[tn - 1] == ' ' || t[tn - 1] == '\t'))
                tn--;
            if (head < 0 && tn == 14 && strncasecmp(t, "recent context", 14) == 0) {
                head = (long)i;
                hlevel = lv;
            }
            continue;
        }
        if (head >= 0 && dated_item(s, n, &bullet_len, date)) {
            if (last_item >= 0 && i > 0 && lines[i - 1].n == 0)
                blank_between = true; /* items apart by blank lines, as in the spec's notes */
            snprintf(bullet, sizeof bullet, "%.*s", (int)bullet_len, s);
            if (!first_date[0])
                memcpy(first_date, date, 11);
            memcpy(last_date, date, 11);
            last_item = (long)i;
        }
    }
    if (first_date[0] && strcmp(first_date, last_date) < 0)
        newest_first = false;

    /* The meetings to add, newest first (as mentioned_in is). */
    json_t *mi = json_object_get(r, "mentioned_in"), *items = json_array();
    size_t k;
    json_t *p;
    json_array_foreach(mi, k, p)
    {
        size_t j;
        json_t *mp;
        json_array_foreach(missing, j, mp)
        {
            if (strcmp(str(p, "path"), json_string_value(mp)) == 0) {
                json_array_append(items, p);
                break;
            }
        }
    }
    /* Each goes before the first dated line of the section that it should
     * precede in the section's order, else after the section's last dated
     * line (or under the heading when there is none). */
    size_t ni = json_array_size(items);
    long *pos = calloc(ni + 1, sizeof *pos);
    for (size_t x = 0; pos && x < ni; x++) {
        json_t *src = json_array_get(items, x);
        const char *d = json_is_string(json_object_get(src, "date")) ? str(src, "date") : NULL;
        pos[x] = -1; /* after the last dated line */
        for (long i = head + 1; d && head >= 0 && i < end; i++) {
            size_t bl;
            char dd[11];
            if (dated_item(lines[i].s, lines[i].n, &bl, dd) &&
                (newest_first ? strcmp(dd, d) < 0 : strcmp(dd, d) > 0)) {
                pos[x] = i;
                break;
            }
        }
        json_array_append_new(
            added, json_pack("{s:O, s:O, s:O}", "path", json_object_get(src, "path"), "title",
                             json_object_get(src, "title"), "date", json_object_get(src, "date")));
    }
    sb out = {0};
    const char *sep = blank_between ? "\n" : "";
    if (pos == NULL) {
        /* out of memory: reported below */
    } else if (head < 0) {
        sb_printf(&out, "%.*s", (int)len, text);
        if (len > 0 && text[len - 1] != '\n')
            sb_printf(&out, "\n");
        sb_printf(&out, "\n## Recent Context\n\n");
        sep = "";
        emit_items(&out, items, pos, ni, -1, false, newest_first, bullet, sep);
    } else {
        long after = last_item >= 0 ? last_item : head;
        for (size_t i = 0; i < nl; i++) {
            emit_items(&out, items, pos, ni, (long)i, true, newest_first, bullet, sep);
            size_t a0 = (size_t)(lines[i].s - text),
                   a1 = i + 1 < nl ? (size_t)(lines[i + 1].s - text) : len;
            sb_printf(&out, "%.*s", (int)(a1 - a0), text + a0);
            if (a1 == len && len > 0 && text[len - 1] != '\n' && (long)i == after)
                sb_printf(&out, "\n");
            if ((long)i == after) {
                if (last_item < 0) {
                    sb_printf(&out, "\n");
                    const char *keep = sep;
                    sep = "";
                    emit_items(&out, items, pos, ni, -1, false, newest_first, bullet, sep);
                    sep = keep;
                } else {
                    emit_items(&out, items, pos, ni, -1, false, newest_first, bullet, sep);
                }
            }
        }
    }
    free(pos);
    json_decref(items);
    free(lines);
    json_decref(r);
    long long pending, before = generation(m, &pending);
    if (out.s == NULL || out.n > QP_NOTE_MAX_SIZE)
        e = tool_error("%s: the new text is too large or memory ran out: nothing written", path);
    else if (!write_note(m, path, out.s, out.n, &hash, mode, why, sizeof why))
        e = tool_error("%s", why);
    else {
        wait_indexed(m, before);
        e = written(m, "add_mentions", path, out.s, out.n, json_pack("{s:O}", "added", added),
                    "added Mentioned in lines to");
    }
    json_decref(added);
    free(out.s);
    free(text);
    free(path);
    return e;
}

/* ---- rename_note: quipud's rename.plan, applied here (apply.c) ---------- */

/* The folders on the way to rel that exist must lie inside the vault (a
 * symlinked folder could lead out of it); apply makes the missing ones, and
 * makes them under these. */
static bool folders_inside(const qp_mcp *m, const char *rel, char *why, size_t wl)
{
    char p[PATH_MAX * 2], real[PATH_MAX];
    size_t rl = strlen(m->root);
    struct stat st;

    for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
        snprintf(p, sizeof p, "%s/%.*s", m->root, (int)(s - rel), rel);
        if (lstat(p, &st) != 0)
            return true;
        if (realpath(p, real) == NULL || strncmp(real, m->root, rl) != 0 || real[rl] != '/') {
            snprintf(why, wl, "folder %.*s leads outside the vault: nothing written",
                     (int)(s - rel), rel);
            return false;
        }
    }
    return true;
}

/* Where a file of the plan ends up: its rename's `to`, else where it is. */
static const char *after_rename(const json_t *plan, const char *path)
{
    size_t i;
    const json_t *r;

    json_array_foreach(json_object_get(plan, "renames"), i, r)
    {
        if (strcmp(str(r, "from"), path) == 0)
            return str(r, "to");
    }
    return path;
}

/* Waits (up to 3 s) until quipud knows the note at `rel`: the rename's
 * own events may land in a later commit than the edits of the linking
 * files, and the next tool call must find the note by its new name. */
static void wait_note(qp_mcp *m, const char *rel)
{
    for (int i = 0; i < 150; i++) {
        json_t *e = NULL, *n = ask(m, "note", json_pack("{s:s}", "note", rel), &e);
        bool found = n != NULL;
        json_decref(n);
        json_decref(e);
        if (found)
            return;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static json_t *t_rename_note(qp_mcp *m, json_t *args)
{
    const char *from = NULL, *to = NULL;
    bool dry = false, wrote = false;
    char why[4096], dest[1100], *path = NULL, *uri = NULL;
    json_t *e = NULL, *params = NULL, *plan = NULL, *error = NULL;
    json_t *renames = NULL, *files = NULL, *changes = NULL, *resolved = NULL, *out = NULL;
    const char *cwhy = NULL, *new_path;
    sb b = {0};
    size_t i, k, tl;
    json_t *f, *x;

    if ((e = arg_string(args, "from", 4096, &from)) || (e = arg_string(args, "to", 1024, &to)) ||
        (e = arg_bool(args, "dry_run", &dry)))
        return e;
    /* "Archive/" moves into Archive: check the path without its last '/' */
    tl = strlen(to);
    snprintf(dest, sizeof dest, "%.*s", (int)(tl > 0 && to[tl - 1] == '/' ? tl - 1 : tl), to);
    if (!vault_path_ok("to", dest, why, sizeof why))
        return tool_error("%s", why);
    if ((path = resolve_note(m, from, &e)) == NULL)
        return e;

    /* As `quipu mv`: a `to` without '/' is a new name in the note's folder. */
    if (strchr(to, '/') == NULL)
        params = json_pack("{s:s, s:s}", "path", path, "name", to);
    else
        params = json_pack("{s:s, s:s}", "path", path, "to", to);
    if (params == NULL) {
        e = tool_error("out of memory");
        goto cleanup;
    }
    if (qp_mcp_call(m, "rename.plan", params, &plan, &error, &cwhy) != 0) {
        e = tool_error("%s", cwhy);
        goto cleanup;
    }
    if (error != NULL) {
        /* "People/X.md already exists", "refused: a.md:3:5: [[X#H]] would
         * reach ...": the daemon's sentence names what is in the way. */
        e = tool_error("cannot rename %s: %s; nothing written", path, str(error, "message"));
        goto cleanup;
    }

    /* The plan is what gets written: every destination inside the vault. */
    renames = json_array();
    json_array_foreach(json_object_get(plan, "renames"), i, x)
    {
        if (!vault_path_ok("to", str(x, "to"), why, sizeof why) ||
            !folders_inside(m, str(x, "to"), why, sizeof why)) {
            e = tool_error("%s", why);
            goto cleanup;
        }
        /* As create_note: not beside a file or folder named the same but
         * for case (the note itself excepted: a rename may fix its case). */
        if (case_clash(m, str(x, "to"), why, sizeof why) && strcmp(why, str(x, "from")) != 0) {
            e = tool_error("cannot rename %s: %s already exists (names differ only in case); "
                           "nothing written",
                           path, why);
            goto cleanup;
        }
        json_array_append_new(renames,
                              json_pack("{s:s, s:s}", "from", str(x, "from"), "to", str(x, "to")));
    }
    new_path = json_array_size(renames) > 0 ? str(json_array_get(renames, 0), "to") : path;
    files = json_array();
    changes = json_array();
    json_array_foreach(json_object_get(plan, "files"), i, f)
    {
        json_t *edits = json_array();
        json_array_append_new(files, json_string(after_rename(plan, str(f, "path"))));
        json_array_foreach(json_object_get(f, "edits"), k, x) json_array_append_new(
            edits, json_pack("{s:O, s:O, s:O, s:O}", "line", json_object_get(x, "line"), "column",
                             json_object_get(x, "column"), "old", json_object_get(x, "old"), "new",
                             json_object_get(x, "new")));
        json_array_append_new(changes,
                              json_pack("{s:s, s:o}", "path", str(f, "path"), "edits", edits));
    }
    resolved = json_array();
    json_array_foreach(json_object_get(plan, "resolved"), i, x) json_array_append_new(
        resolved, json_pack("{s:O, s:O, s:O}", "path", json_object_get(x, "path"), "line",
                            json_object_get(x, "line"), "to", json_object_get(x, "to")));
    if (renames == NULL || files == NULL || changes == NULL || resolved == NULL) {
        e = tool_error("out of memory");
        goto cleanup;
    }
    json_int_t links = json_integer_value(json_object_get(plan, "links"));
    size_t nfiles = json_array_size(files);

    if (!dry) {
        long long pending, before = generation(m, &pending);
        if (qp_cli_apply_err(m->root, plan, &wrote, why, sizeof why) != 0) {
            /* A rollback that could not put everything back is a write too. */
            if (wrote)
                fprintf(stderr, "quipu mcp: rename_note %s: left partly done: %s\n", path, why);
            e = tool_error("%s", why);
            goto cleanup;
        }
        fprintf(stderr, "quipu mcp: rename_note %s: renamed to %s (%lld links in %zu files)\n",
                path, new_path, (long long)links, nfiles);
        wait_indexed(m, before);
        wait_note(m, new_path);
    }

    uri = qp_mcp_uri(m, dry ? path : new_path);
    out = json_pack("{s:s, s:s, s:s, s:b, s:O, s:I, s:I, s:I, s:O, s:O}", "path", path, "new_path",
                    new_path, "uri", uri ? uri : "", "dry_run", dry, "renames", renames, "links",
                    links, "edits", json_integer_value(json_object_get(plan, "edits")),
                    "files_changed", (json_int_t)nfiles, "files", files, "resolved", resolved);
    if (out != NULL && dry)
        json_object_set(out, "changes", changes);
    if (out == NULL) {
        e = tool_error("out of memory");
        goto cleanup;
    }
    if (dry)
        sb_printf(&b,
                  "Dry run, nothing written: renaming %s to %s would update %lld link%s in %zu "
                  "file%s:\n",
                  path, new_path, (long long)links, links == 1 ? "" : "s", nfiles,
                  nfiles == 1 ? "" : "s");
    else if (nfiles == 0)
        sb_printf(&b, "Renamed %s to %s; no other note needed a change.\n", path, new_path);
    else
        sb_printf(&b, "Renamed %s to %s; %lld link%s in %zu file%s updated:\n", path, new_path,
                  (long long)links, links == 1 ? "" : "s", nfiles, nfiles == 1 ? "" : "s");
    json_array_foreach(changes, i, f)
    {
        json_array_foreach(json_object_get(f, "edits"), k, x)
        {
            if (dry)
                sb_printf(&b, "- %s:%lld:%lld: %s -> %s\n", str(f, "path"),
                          (long long)json_integer_value(json_object_get(x, "line")),
                          (long long)json_integer_value(json_object_get(x, "column")),
                          str(x, "old"), str(x, "new"));
        }
        if (!dry)
            sb_printf(&b, "- %s\n", json_string_value(json_array_get(files, i)));
    }
    json_array_foreach(resolved, i, x)
        sb_printf(&b, "Note: %s:%lld: a link that pointed nowhere %s to %s.\n", str(x, "path"),
                  (long long)json_integer_value(json_object_get(x, "line")),
                  dry ? "would point" : "now points", str(x, "to"));
    e = tool_ok(out, b.s);
    out = NULL;
    b.s = NULL;

cleanup:
    json_decref(out);
    free(b.s);
    free(uri);
    json_decref(resolved);
    json_decref(changes);
    json_decref(files);
    json_decref(renames);
    json_decref(error);
    json_decref(plan);
    free(path);
    return e;
}

/* ---- the table ---------------------------------------------------------- */

#define NOTE_RULE                                                                                \
    "Name the note by its vault path with extension (\"People/Lena Okafor.md\"), its file name " \
    "without .md (\"Lena Okafor\"), an alias, or link text as inside [[ ]]; names match as "     \
    "Obsidian links do (case-insensitive, the closest path wins)."
#define PAGING                                                                                 \
    "Paginated: pass the next_cursor of a result as cursor to get the next page (null on the " \
    "last page)."

#define S_PATH_OBJ "{\"type\":\"string\"}"
#define S_NSTR     "{\"type\":[\"string\",\"null\"]}"
#define S_CURSOR   "\"next_cursor\":{\"type\":[\"string\",\"null\"]}"
#define S_SOURCE                                                                                 \
    "{\"type\":\"object\",\"required\":[\"path\",\"occurrences\"],\"properties\":{\"path\":"     \
    "{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},\"title\":" S_NSTR ",\"date\":" S_NSTR \
    ",\"occurrences\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"        \
    "{\"line\":{\"type\":\"integer\"},\"column\":{\"type\":\"integer\"},\"context\":"            \
    "{\"type\":\"string\"}}}},\"more_occurrences\":{\"type\":\"integer\"}}}"
#define I_NOTE \
    "\"note\":{\"type\":\"string\",\"description\":\"the note (path, name, alias or link text)\"}"
#define I_LIMIT(d, mx) \
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":" #mx ",\"default\":" #d "}"
#define I_CURSOR \
    "\"cursor\":{\"type\":\"string\",\"description\":\"next_cursor of the previous page\"}"
#define I_VERSION                                                                         \
    "\"version\":{\"type\":\"string\",\"pattern\":\"^[0-9a-fA-F]{16}$\",\"description\":" \
    "\"read_note's version\"}"
#define STR_(x)       #x
#define STR(x)        STR_(x)
#define S_OCC_MAX     STR(OCC_MAX)
#define S_OCC_DEFAULT STR(OCC_DEFAULT)
#define I_MAX_OCC                                                                    \
    "\"max_occurrences\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":" S_OCC_MAX \
    ",\"default\":" S_OCC_DEFAULT "}"
#define OCCURRENCES                                                                        \
    "Each source lists at most max_occurrences of its occurrences (default " S_OCC_DEFAULT \
    "); more_occurrences > 0 counts the rest: call again with a larger max_occurrences "   \
    "(up to " S_OCC_MAX ") to see them."

typedef json_t *(*tool_fn)(qp_mcp *m, json_t *args);

/* What a tool does to the vault; CHANGES: it rewrites text it did not
 * add (MCP's destructiveHint), ADDS: it only adds text or notes. */
typedef enum tool_access {
    T_READS,
    T_ADDS,
    T_CHANGES
} tool_access;

typedef struct tool {
    const char *name, *title, *description, *input, *output;
    tool_access access;
    tool_fn fn;
} tool;

static const tool tools[] = {
    {"search", "Search notes",
     "Full-text search over the vault's notes (titles, aliases, headings, properties and text), "
     "best matches first, with the matching lines. Use it to find notes about something when you "
     "do not know their names. Query syntax (example → the notes it matches): "
     "lena roadmap → every word, whole words (word* is a prefix); \"storage roadmap\" → the "
     "words in this order; -draft, -\"air gapped\", -tag:#x → not what follows the -; a OR b → "
     "either side (OR in capitals); (a OR b) c → parentheses group; path:Meetings/2025, "
     "path:\"Q4 plans\" → a path containing the text; file:roadmap → a file name containing the "
     "text; tag:#partner, tag:partner → the tag or one below it (#partner/eu); [status] → the "
     "property with a value; [status:draft] → the property, its value containing the text; "
     "line:(lena roadmap) → one line matching the query inside; section:(lena roadmap) → one "
     "section (the text between two headings) matching it; task:deck → a task whose text "
     "matches; task-todo:deck, task-todo: → a task not checked ([ ]) matching (or any); "
     "task-done:deck, task-done: → a task checked with any other character. line:, section: and "
     "task: take words, phrases, OR, - and parentheses: task-todo:(deck OR slides) -done. An "
     "unknown operator is text. Case-insensitive; accents matter. " PAGING,
     "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":"
     "\"the search query\"}," I_LIMIT(10, 100) "," I_CURSOR "},\"required\":[\"query\"]}",
     "{\"type\":\"object\",\"required\":[\"total\",\"results\",\"next_cursor\"],\"properties\":{"
     "\"total\":{\"type\":\"integer\"}," S_CURSOR ",\"results\":{\"type\":\"array\",\"items\":{"
     "\"type\":\"object\",\"required\":[\"path\",\"matches\"],\"properties\":{\"path\":"
     "{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},\"title\":" S_NSTR ",\"date\":" S_NSTR
     ",\"score\":{\"type\":\"number\"},\"more_matches\":{\"type\":\"integer\"},\"matches\":{"
     "\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"line\":{\"type\":"
     "\"integer\"},\"column\":{\"type\":\"integer\"},\"text\":{\"type\":\"string\"}}}}}}}}}",
     T_READS, t_search},
    {"read_note", "Read a note",
     "The text of one note with its properties (frontmatter), tags, headings and outgoing links "
     "(each with the path it resolves to, or null), and its version (pass it to the write tools "
     "so they refuse a note changed since you read it). " NOTE_RULE " Long notes come in parts of "
     "max_bytes: next_offset says where the next part starts.",
     "{\"type\":\"object\",\"properties\":{" I_NOTE ",\"offset\":{\"type\":\"integer\","
     "\"minimum\":0,\"default\":0},\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":"
     "1048576,\"default\":65536}},\"required\":[\"note\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"text\",\"version\"],\"properties\":{\"path\":"
     "{\"type\":\"string\"},\"uri\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
     "\"title\":" S_NSTR ",\"date\":" S_NSTR ",\"aliases\":{\"type\":\"array\"},\"tags\":{\"type\":"
     "\"array\"},\"properties\":{\"type\":[\"object\",\"null\"]},\"headings\":{\"type\":\"array\"},"
     "\"links\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"target\":"
     "{\"type\":\"string\"},\"path\":" S_NSTR ",\"line\":{\"type\":\"integer\"}}}},\"text\":{"
     "\"type\":\"string\"},\"offset\":{\"type\":\"integer\"},\"bytes\":{\"type\":\"integer\"},"
     "\"size\":{\"type\":\"integer\"},\"next_offset\":{\"type\":[\"integer\",\"null\"]},"
     "\"version\":{\"type\":\"string\"}}}",
     T_READS, t_read_note},
    {"backlinks", "Backlinks of a note",
     "The notes that link to a note, each with the line of every link; with unlinked: true also "
     "the notes that name it (its file name or an alias) in plain text without linking it. Use it "
     "to see what refers to a person, project or topic. " NOTE_RULE " " OCCURRENCES " " PAGING,
     "{\"type\":\"object\",\"properties\":{" I_NOTE ",\"unlinked\":{\"type\":\"boolean\","
     "\"default\":false}," I_LIMIT(50, 500) "," I_MAX_OCC "," I_CURSOR "},\"required\":[\"note\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"linked\",\"total_linked\",\"next_cursor\"],"
     "\"properties\":{\"path\":{\"type\":\"string\"},\"total_linked\":{\"type\":\"integer\"},"
     "\"total_unlinked\":{\"type\":\"integer\"},\"linked\":{\"type\":\"array\",\"items\":" S_SOURCE
     "},\"unlinked\":{\"type\":\"array\",\"items\":" S_SOURCE "}," S_CURSOR "}}",
     T_READS, t_backlinks},
    {"mentions", "A person's meetings",
     "For a person note: the meeting notes that link to or name the person, newest first; the "
     "\"Mentioned in\" lines of the person's Recent Context (listed), the meetings missing from "
     "them (missing: paths) and lines that name no such meeting (stale). Use it before updating "
     "a person's note; add_mentions writes the missing lines. " NOTE_RULE " " OCCURRENCES
     " " PAGING,
     "{\"type\":\"object\",\"properties\":{" I_NOTE
     "," I_LIMIT(50, 500) "," I_MAX_OCC "," I_CURSOR "},\"required\":[\"note\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"total\",\"mentioned_in\",\"missing\","
     "\"stale\",\"next_cursor\"],\"properties\":{\"path\":{\"type\":\"string\"},\"total\":{"
     "\"type\":\"integer\"},\"mentioned_in\":{\"type\":\"array\",\"items\":" S_SOURCE "},"
     "\"listed\":{\"type\":\"array\"},\"missing\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"string\"}},\"stale\":{\"type\":\"array\"}," S_CURSOR "}}",
     T_READS, t_mentions},
    {"tasks", "Query tasks",
     "Runs an Obsidian Tasks query (the Tasks plugin's language, one instruction per line: "
     "\"not done\", \"due before tomorrow\", \"path includes Projects\", \"tags include #x\", "
     "\"group by filename\", \"sort by due\", \"limit 20\", ...) over every task of the vault and "
     "returns the tasks grouped as the query says, with their dates, priority, path and line. "
     "today (YYYY-MM-DD) fixes what relative dates mean. A query error says its line. " PAGING,
     "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":"
     "\"the Tasks query, lines separated by newlines\"},\"today\":{\"type\":\"string\","
     "\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"}," I_LIMIT(
         100, 1000) "," I_CURSOR "},\"required\":[\"query\"]}",
     "{\"type\":\"object\",\"required\":[\"total\",\"groups\",\"next_cursor\"],\"properties\":{"
     "\"total\":{\"type\":\"integer\"},\"returned\":{\"type\":"
     "\"integer\"},\"groups\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
     "\"names\":{\"type\":\"array\"},\"tasks\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
     "\"properties\":{\"path\":{\"type\":\"string\"},\"line\":{\"type\":\"integer\"},"
     "\"description\":{\"type\":\"string\"}}}}}}}," S_CURSOR "}}",
     T_READS, t_tasks},
    {"list_notes", "List notes",
     "Lists notes (not attachments) by path, filtered by any of: folder (vault path prefix, "
     "recursive), tag (with or without #, includes nested tags), property (notes that have this "
     "frontmatter key) and value (its value equals this, case-insensitive), kind (person, meeting "
     "or note); sort by path (default), modified, date or title. " PAGING,
     "{\"type\":\"object\",\"properties\":{\"folder\":{\"type\":\"string\"},\"tag\":{\"type\":"
     "\"string\"},\"property\":{\"type\":\"string\"},\"value\":{\"type\":\"string\"},\"kind\":{"
     "\"type\":\"string\",\"enum\":[\"person\",\"meeting\",\"note\"]},\"sort\":{\"type\":"
     "\"string\",\"enum\":[\"path\",\"modified\",\"date\",\"title\"]}," I_LIMIT(
         100, 1000) "," I_CURSOR "}}",
     "{\"type\":\"object\",\"required\":[\"total\",\"notes\",\"next_cursor\"],\"properties\":{"
     "\"total\":{\"type\":\"integer\"},\"notes\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"object\",\"required\":[\"path\"],\"properties\":{\"path\":{\"type\":\"string\"},\"kind\":"
     "{\"type\":\"string\"},\"title\":" S_NSTR ",\"date\":" S_NSTR "}}}," S_CURSOR "}}",
     T_READS, t_list_notes},
    {"unresolved_links", "Unresolved links",
     "Link targets that resolve to no note ([[Missing Page]]), most linked first, each with the "
     "notes and lines that link to it. Use it to find notes that should exist. " PAGING,
     "{\"type\":\"object\",\"properties\":{" I_LIMIT(100, 1000) "," I_CURSOR "}}",
     "{\"type\":\"object\",\"required\":[\"total\",\"targets\"],\"properties\":{\"total\":{"
     "\"type\":\"integer\"},\"targets\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
     "\"properties\":{\"target\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\"},"
     "\"sources\":{\"type\":\"array\"}}}}," S_CURSOR "}}",
     T_READS, t_unresolved},
    {"status", "Index status",
     "The state of the vault's index (ready, or scanning with progress), the vault's path and "
     "counts of files, notes by kind, tasks and links, and whether the write tools are enabled.",
     "{\"type\":\"object\",\"properties\":{}}",
     "{\"type\":\"object\",\"required\":[\"state\",\"vault\"],\"properties\":{\"state\":{\"type\":"
     "\"string\"},\"vault\":{\"type\":\"string\"},\"files\":{\"type\":\"integer\"},\"notes\":{"
     "\"type\":\"object\"},\"tasks\":{\"type\":\"integer\"},\"links\":{\"type\":\"integer\"},"
     "\"unresolved_links\":{\"type\":\"integer\"},\"generation\":{\"type\":\"integer\"},"
     "\"writable\":{\"type\":\"boolean\"}}}",
     T_READS, t_status},
    {"create_note", "Create a note",
     "Creates a new note at path (vault-relative, ending in .md; folders are made as needed) with "
     "the given Markdown text. Refuses an existing path, one that differs from an existing note or "
     "folder only in case (links resolve case-insensitively), paths outside the vault, hidden "
     "folders. Returns the new note's version.",
     "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":"
     "\"e.g. People/Ann Lee.md\"},\"text\":{\"type\":\"string\"}},\"required\":[\"path\","
     "\"text\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"version\"],\"properties\":{\"path\":{\"type\":"
     "\"string\"},\"uri\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},\"bytes\":{"
     "\"type\":\"integer\"}}}",
     T_ADDS, t_create_note},
    {"append_to_note", "Append to a note",
     "Appends text at the end of a note (on a new line). Pass the version read_note gave you: a "
     "note changed since then is refused, and nothing is written. " NOTE_RULE,
     "{\"type\":\"object\",\"properties\":{" I_NOTE ",\"text\":{\"type\":\"string\"}," I_VERSION
     "},\"required\":[\"note\",\"text\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"version\"],\"properties\":{\"path\":{\"type\":"
     "\"string\"},\"uri\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},\"bytes\":{"
     "\"type\":\"integer\"}}}",
     T_ADDS, t_append_to_note},
    {"add_mentions", "Add missing Mentioned in lines",
     "For a person note: writes a \"- DATE: Mentioned in: TITLE\" line into its Recent Context "
     "section for every meeting that mentions the person and is not listed yet (the mentions "
     "tool's missing), in the note's own format (bullet, blank lines, order); makes the section "
     "when there is none. Pass read_note's version to refuse a note changed since. " NOTE_RULE,
     "{\"type\":\"object\",\"properties\":{" I_NOTE "," I_VERSION "},\"required\":[\"note\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"added\"],\"properties\":{\"path\":{\"type\":"
     "\"string\"},\"uri\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},\"bytes\":{"
     "\"type\":\"integer\"},\"added\":{\"type\":\"array\"}}}",
     T_ADDS, t_add_mentions},
    {"rename_note", "Rename or move a note",
     "Renames or moves a note and rewrites every link to it in the other notes (wikilinks and "
     "Markdown links; display text, #heading and #^block parts are kept), as Obsidian does. "
     "from: the note. " NOTE_RULE " to: without '/', a new file name in the note's own folder "
     "(\"Ann Smith\" renames People/Ann Lee.md to People/Ann Smith.md); with '/', the new path "
     "from the top of the vault (\"Archive/People/Ann Lee.md\"); ending in '/', a folder to move "
     "it into (made when missing). .md is added when missing. dry_run: true writes nothing and "
     "lists every link edit it would make. Refuses a destination that exists or is outside the "
     "vault, and a rename after which some link would reach a different note, heading or block; "
     "a file edited since the rename was planned is not overwritten (nothing is written: call "
     "it again). Returns the renames, the number of links and the files it changed.",
     "{\"type\":\"object\",\"properties\":{\"from\":{\"type\":\"string\",\"description\":"
     "\"the note (path, name, alias or link text)\"},\"to\":{\"type\":\"string\","
     "\"description\":\"a new name (same folder), a vault path, or a folder ending in /\"},"
     "\"dry_run\":{\"type\":\"boolean\",\"default\":false}},\"required\":[\"from\",\"to\"]}",
     "{\"type\":\"object\",\"required\":[\"path\",\"new_path\",\"dry_run\",\"renames\","
     "\"links\",\"files_changed\",\"files\"],\"properties\":{\"path\":{\"type\":\"string\"},"
     "\"new_path\":{\"type\":\"string\"},\"uri\":{\"type\":\"string\"},\"dry_run\":{\"type\":"
     "\"boolean\"},\"renames\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
     "\"properties\":{\"from\":{\"type\":\"string\"},\"to\":{\"type\":\"string\"}}}},\"links\":"
     "{\"type\":\"integer\"},\"edits\":{\"type\":\"integer\"},\"files_changed\":{\"type\":"
     "\"integer\"},\"files\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
     "\"resolved\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"path\":"
     "{\"type\":\"string\"},\"line\":{\"type\":\"integer\"},\"to\":{\"type\":\"string\"}}}},"
     "\"changes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"path\":"
     "{\"type\":\"string\"},\"edits\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
     "\"properties\":{\"line\":{\"type\":\"integer\"},\"column\":{\"type\":\"integer\"},"
     "\"old\":{\"type\":\"string\"},\"new\":{\"type\":\"string\"}}}}}}}}}",
     T_CHANGES, t_rename_note},
};

static json_t *schema_of(const char *text)
{
    json_error_t je;
    json_t *s = json_loads(text, 0, &je);

    if (s == NULL) /* a typo in the table above: fail loudly in tests */
        fprintf(stderr, "quipu mcp: bad schema: %s: %s\n", je.text, text);
    return s ? s : json_object();
}

json_t *qp_mcp_tools(const qp_mcp *m)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        const tool *t = &tools[i];
        bool write = t->access != T_READS;
        if (write && !m->allow_write)
            continue;
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:s, s:b, s:b, s:b, s:b}}", "name",
                           t->name, "title", t->title, "description", t->description, "inputSchema",
                           schema_of(t->input), "outputSchema", schema_of(t->output), "annotations",
                           "title", t->title, "readOnlyHint", !write, "destructiveHint",
                           t->access == T_CHANGES, "idempotentHint", !write, "openWorldHint", 0));
    }
    return arr;
}

json_t *qp_mcp_tool_call(qp_mcp *m, const char *name, json_t *args, bool *unknown)
{
    *unknown = false;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        const tool *t = &tools[i];
        if (strcmp(t->name, name) != 0)
            continue;
        if (t->access != T_READS && !m->allow_write)
            return tool_error("%s writes to the vault, and this server is read-only: start it "
                              "with quipu mcp --allow-write",
                              name);
        json_t *own = args ? json_incref(args) : json_object();
        json_t *schema = schema_of(t->input);
        json_t *r = check_keys(own, schema);
        json_decref(schema);
        if (r == NULL)
            r = t->fn(m, own);
        json_decref(own);
        return r ? r : tool_error("out of memory");
    }
    *unknown = true;
    return NULL;
}
