/*
 * rename — textDocument/prepareRename, textDocument/rename and
 * workspace/willRenameFiles, answered from the daemon's rename.plan.
 *
 * What is renamed depends on the cursor: on a link, its target note (or, on
 * the link's #heading or #^block part, that heading or block of the
 * target); on a heading line, the heading (a level-1 heading that reads as
 * the note's title renames the note, and the heading with it); on a ^block
 * id, the block; on a #tag, the tag and its nested tags; anywhere else
 * nothing. The plan's edits become a WorkspaceEdit (text edits first, then
 * the file renames) that the editor applies; positions are converted from
 * the plan's byte offsets with the file's text: the open document's when it
 * is open, the file on disk otherwise. A file whose text is not what the
 * plan was computed for (an unsaved edit in the editor) fails the request
 * with a message: save it, then rename.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "lsp_int.h"

typedef enum what {
    W_NONE = 0,
    W_FILE,    /* the target of a link, or the note (title heading) */
    W_HEADING, /* note + heading text */
    W_BLOCK,   /* note + block id */
    W_TAG,
} what;

typedef struct target {
    what w;
    char note[PATH_MAX]; /* vault path of the note or file */
    char old[512];       /* heading text, block id or tag (without '#') */
    size_t a, b;         /* the span in the document that is renamed */
    bool title;          /* a title heading: the heading's own text follows */
} target;

static json_t *pos_json(uint32_t line, uint32_t ch)
{
    return json_pack("{s:i, s:i}", "line", line, "character", ch);
}

static json_t *range_of(const qpl_server *s, const qpl_text *t, size_t a, size_t b)
{
    uint32_t l1, c1, l2, c2;
    qpl_text_position(t, a, s->enc, &l1, &c1);
    qpl_text_position(t, b, s->enc, &l2, &c2);
    return json_pack("{s:o, s:o}", "start", pos_json(l1, c1), "end", pos_json(l2, c2));
}

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The note a link of d points to (vault path into out); false when none. */
static bool link_target(qpl_server *s, const qpl_doc *d, const qp_link *l, char *out, size_t cap)
{
    const char *t = l->target[0] ? l->target : (d->rel ? d->rel : "");
    char *esc = malloc(3 * strlen(t) + 1), *o = esc;
    if (esc == NULL)
        return false;
    for (const char *p = t; *p; p++) {
        if (*p == '%') {
            memcpy(o, "%25", 3);
            o += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    json_t *params = json_pack("{s:s, s:s}", "link", esc, "syntax", "markdown");
    free(esc);
    if (params != NULL && d->rel != NULL)
        json_object_set_new(params, "from", json_string(d->rel));
    json_t *r = qpl_call(s, d->v, "resolve", params, NULL);
    const char *path = json_string_value(json_object_get(r, "path"));
    bool ok = path != NULL;
    if (ok)
        copy(out, cap, path, strlen(path));
    json_decref(r);
    return ok;
}

static bool tag_char(char c)
{
    return (unsigned char)c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '/';
}

/* What the cursor at byte `off` of d is on. */
static void find_target(qpl_server *s, qpl_doc *d, size_t off, uint32_t line0, target *t)
{
    size_t n;
    const char *txt = d->text.s;
    memset(t, 0, sizeof *t);

    const qp_link *l = qp_note_links(d->note, &n);
    for (size_t i = 0; i < n; i++) {
        if (!(off >= l[i].offset && off < (size_t)l[i].offset + l[i].len))
            continue;
        if (!link_target(s, d, &l[i], t->note, sizeof t->note))
            return;
        /* the link's bytes: [[path#sub|display]] or [x](path#sub) */
        size_t a = l[i].offset, b = a + l[i].len, hash = 0, bar = b;
        for (size_t k = a; k < b; k++) {
            if (txt[k] == '#' && hash == 0)
                hash = k;
            if (txt[k] == '|' && bar == b && l[i].syntax != QP_LINK_MARKDOWN)
                bar = k;
        }
        if (l[i].subpath != NULL && hash != 0 && off > hash && off < bar) {
            const char *sp = strrchr(l[i].subpath, '#');
            sp = sp ? sp + 1 : l[i].subpath;
            t->w = sp[0] == '^' ? W_BLOCK : W_HEADING;
            copy(t->old, sizeof t->old, sp + (sp[0] == '^'), strlen(sp + (sp[0] == '^')));
            t->a = hash + 1 + (sp[0] == '^');
            t->b = bar < b ? bar : b;
            while (t->b > t->a && (txt[t->b - 1] == ']' || txt[t->b - 1] == ')'))
                t->b--;
        } else {
            t->w = W_FILE;
            const char *base = strrchr(t->note, '/');
            base = base ? base + 1 : t->note;
            size_t bl = strlen(base);
            if (bl > 3 && strcmp(base + bl - 3, ".md") == 0)
                bl -= 3;
            copy(t->old, sizeof t->old, base, bl);
            t->a = a;
            t->b = b;
        }
        return;
    }
    const qp_block_id *bk = qp_note_blocks(d->note, &n);
    for (size_t i = 0; i < n && d->rel; i++) {
        if (bk[i].line != line0 + 1)
            continue;
        size_t ls = d->text.line[line0], ll = qpl_text_line_len(&d->text, line0);
        const char *at = NULL;
        for (const char *p = txt + ls; p + strlen(bk[i].id) < txt + ls + ll + 1; p++)
            if (*p == '^' && strncmp(p + 1, bk[i].id, strlen(bk[i].id)) == 0)
                at = p;
        if (at != NULL && off >= (size_t)(at - txt)) {
            t->w = W_BLOCK;
            copy(t->note, sizeof t->note, d->rel, strlen(d->rel));
            copy(t->old, sizeof t->old, bk[i].id, strlen(bk[i].id));
            t->a = (size_t)(at - txt) + 1;
            t->b = t->a + strlen(bk[i].id);
            return;
        }
    }
    const qp_heading *h = qp_note_headings(d->note, &n);
    for (size_t i = 0; i < n && d->rel; i++) {
        if (h[i].line != line0 + 1)
            continue;
        size_t ls = d->text.line[line0], ll = qpl_text_line_len(&d->text, line0);
        const char *at = NULL, *ht = h[i].text;
        for (const char *p = txt + ls; p + strlen(ht) <= txt + ls + ll; p++)
            if (strncmp(p, ht, strlen(ht)) == 0)
                at = p;
        if (at == NULL)
            break;
        copy(t->note, sizeof t->note, d->rel, strlen(d->rel));
        copy(t->old, sizeof t->old, ht, strlen(ht));
        t->a = (size_t)(at - txt);
        t->b = t->a + strlen(ht);
        const char *base = strrchr(d->rel, '/');
        base = base ? base + 1 : d->rel;
        size_t bl = strlen(base);
        t->title =
            h[i].level == 1 && bl > 3 && strlen(ht) == bl - 3 && strncmp(base, ht, bl - 3) == 0;
        t->w = t->title ? W_FILE : W_HEADING;
        return;
    }
    /* a #tag under the cursor */
    size_t a = off, b = off;
    while (a > 0 && tag_char(txt[a - 1]))
        a--;
    while (b < d->text.len && tag_char(txt[b]))
        b++;
    if (off < d->text.len && txt[off] == '#')
        a = off + 1, b = off + 1;
    if (a > 0 && txt[a - 1] == '#' && b > a &&
        (a < 2 || txt[a - 2] == ' ' || txt[a - 2] == '\t' || txt[a - 2] == '\n')) {
        while (b < d->text.len && tag_char(txt[b]))
            b++;
        const qp_tag *tg = qp_note_tags(d->note, &n);
        for (size_t i = 0; i < n; i++) {
            if (tg[i].frontmatter || strlen(tg[i].tag) != b - a + 1 ||
                strncmp(tg[i].tag + 1, txt + a, b - a) != 0)
                continue;
            t->w = W_TAG;
            copy(t->old, sizeof t->old, txt + a, b - a);
            t->a = a;
            t->b = b;
            return;
        }
    }
}

static json_t *h_prepare(qpl_server *s, json_t *params, int *code, const char **msg, qpl_doc **dout,
                         target *t)
{
    json_t *td = json_object_get(params, "textDocument");
    json_t *pos = json_object_get(params, "position");
    qpl_doc *d = qpl_doc_find(s, json_string_value(json_object_get(td, "uri")));
    uint32_t line = (uint32_t)json_integer_value(json_object_get(pos, "line"));
    uint32_t ch = (uint32_t)json_integer_value(json_object_get(pos, "character"));

    *dout = d;
    if (d == NULL || d->note == NULL || d->v == NULL) {
        *code = QPL_REQUEST_FAILED;
        *msg = "quipu: this document is not in a vault";
        return NULL;
    }
    find_target(s, d, qpl_text_offset(&d->text, line, ch, s->enc), line, t);
    if (t->w == W_NONE) {
        *code = QPL_REQUEST_FAILED;
        *msg = "quipu: nothing to rename here (a link, heading, block id or tag)";
        return NULL;
    }
    return json_pack("{s:o, s:s}", "range", range_of(s, &d->text, t->a, t->b), "placeholder",
                     t->old);
}

json_t *qpl_h_prepare_rename(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d;
    target t;
    return h_prepare(s, params, code, msg, &d, &t);
}

/* The text of vault file `rel` for converting the plan's offsets: the open
 * document's, else the file's. NULL (with *msg) when it is not the text
 * the plan was made for. `t` is filled (free with qpl_text_free) when the
 * file was read; *doc set when it is an open document. */
static const qpl_text *text_for(qpl_server *s, qpl_vault *v, const char *rel, const char *hash,
                                qpl_text *t, const char **msg)
{
    char *uri = qpl_uri_of(v, rel);
    qpl_doc *d = uri ? qpl_doc_find(s, uri) : NULL;
    const qpl_text *r = NULL;
    char hex[17];
    free(uri);
    if (d != NULL) {
        r = &d->text;
    } else {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", v->root, rel);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat sb;
        char *buf = NULL;
        size_t n = 0;
        if (fd >= 0 && fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)) != NULL) {
            ssize_t k;
            while (n < (size_t)sb.st_size && (k = read(fd, buf + n, (size_t)sb.st_size - n)) > 0)
                n += (size_t)k;
        }
        if (fd >= 0)
            close(fd);
        if (buf == NULL || qpl_text_set(t, buf, n) != 0) {
            free(buf);
            *msg = "quipu: a file of the rename cannot be read";
            return NULL;
        }
        free(buf);
        r = t;
    }
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(r->s, r->len));
    if (hash == NULL || strcmp(hex, hash) != 0) {
        *msg = "quipu: a file of the rename has unsaved changes or changed meanwhile: save, then "
               "rename again";
        return NULL;
    }
    return r;
}

/* One more edit than the plan has: the title heading of a renamed note. */
typedef struct extra_edit {
    const char *rel; /* NULL: none */
    size_t a, b;
    const char *text;
} extra_edit;

static int edit_cmp(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    json_int_t oa = json_integer_value(json_object_get(a, "offset"));
    json_int_t ob = json_integer_value(json_object_get(b, "offset"));
    return oa < ob ? -1 : oa > ob;
}

/* The plan as a WorkspaceEdit (text edits, then the renames when asked).
 * NULL with *msg on failure. */
static json_t *workspace_edit(qpl_server *s, qpl_vault *v, const json_t *plan, const extra_edit *x,
                              bool renames, const char **msg)
{
    json_t *changes = json_array(), *files = json_deep_copy(json_object_get(plan, "files"));
    size_t i, k;
    const json_t *f, *e;
    bool placed = x == NULL || x->rel == NULL;

    if (!placed) {
        json_t *ne = json_pack("{s:I, s:I, s:s}", "offset", (json_int_t)x->a, "length",
                               (json_int_t)(x->b - x->a), "new", x->text);
        json_array_foreach(files, i, f)
        {
            if (strcmp(json_string_value(json_object_get(f, "path")), x->rel) != 0)
                continue;
            json_t *ed = json_object_get(f, "edits");
            json_array_append(ed, ne);
            /* keep them in order of offset */
            size_t n = json_array_size(ed);
            json_t **tmp = malloc(n * sizeof *tmp);
            for (size_t j = 0; tmp && j < n; j++)
                tmp[j] = json_incref(json_array_get(ed, j));
            if (tmp) {
                qsort(tmp, n, sizeof *tmp, edit_cmp);
                json_array_clear(ed);
                for (size_t j = 0; j < n; j++)
                    json_array_append_new(ed, tmp[j]);
                free(tmp);
            }
            placed = true;
        }
        if (!placed) {
            /* the open document's own text: its hash is the plan's hash of it */
            char *uri = qpl_uri_of(v, x->rel);
            qpl_doc *d = uri ? qpl_doc_find(s, uri) : NULL;
            char hex[17] = "";
            free(uri);
            if (d != NULL)
                snprintf(hex, sizeof hex, "%016llx",
                         (unsigned long long)XXH3_64bits(d->text.s, d->text.len));
            json_array_append_new(
                files, json_pack("{s:s, s:s, s:[O]}", "path", x->rel, "hash", hex, "edits", ne));
        }
        json_decref(ne);
    }
    json_array_foreach(files, i, f)
    {
        const char *rel = json_string_value(json_object_get(f, "path"));
        qpl_text tmp = {0};
        const qpl_text *t =
            text_for(s, v, rel, json_string_value(json_object_get(f, "hash")), &tmp, msg);
        if (t == NULL) {
            qpl_text_free(&tmp);
            json_decref(changes);
            json_decref(files);
            return NULL;
        }
        json_t *edits = json_array();
        json_array_foreach(json_object_get(f, "edits"), k, e)
        {
            size_t off = (size_t)json_integer_value(json_object_get(e, "offset"));
            size_t len = (size_t)json_integer_value(json_object_get(e, "length"));
            json_array_append_new(edits, json_pack("{s:o, s:s}", "range",
                                                   range_of(s, t, off, off + len), "newText",
                                                   json_string_value(json_object_get(e, "new"))));
        }
        qpl_text_free(&tmp);
        char *uri = qpl_uri_of(v, rel);
        json_array_append_new(changes, json_pack("{s:{s:s, s:n}, s:o}", "textDocument", "uri", uri,
                                                 "version", "edits", edits));
        free(uri);
    }
    json_array_foreach(json_object_get(plan, "renames"), i, f)
    {
        if (!renames)
            break;
        char *a = qpl_uri_of(v, json_string_value(json_object_get(f, "from")));
        char *b = qpl_uri_of(v, json_string_value(json_object_get(f, "to")));
        json_array_append_new(
            changes, json_pack("{s:s, s:s, s:s}", "kind", "rename", "oldUri", a, "newUri", b));
        free(a);
        free(b);
    }
    json_decref(files);
    return json_pack("{s:o}", "documentChanges", changes);
}

static json_t *plan_call(qpl_server *s, qpl_vault *v, json_t *params, const char **msg)
{
    json_t *error = NULL;
    json_t *plan = qpl_call(s, v, "rename.plan", params, &error);
    static char buf[512];
    if (plan == NULL) {
        const char *m = json_string_value(json_object_get(error, "message"));
        snprintf(buf, sizeof buf, "quipu: %s", m ? m : "quipud is not reachable");
        *msg = buf;
    }
    json_decref(error);
    return plan;
}

json_t *qpl_h_rename(qpl_server *s, json_t *params, int *code, const char **msg)
{
    qpl_doc *d;
    target t;
    const char *name = json_string_value(json_object_get(params, "newName"));
    json_t *r = h_prepare(s, params, code, msg, &d, &t), *p = NULL;
    extra_edit x = {NULL, 0, 0, NULL};

    if (r == NULL)
        return NULL;
    json_decref(r);
    *code = QPL_REQUEST_FAILED;
    if (name == NULL || name[0] == '\0') {
        *msg = "quipu: the new name is empty";
        return NULL;
    }
    switch (t.w) {
    case W_FILE:
        p = json_pack("{s:s, s:s}", "path", t.note, strchr(name, '/') ? "to" : "name", name);
        if (t.title) /* the title heading reads as the new name too */
            x = (extra_edit){d->rel, t.a, t.b, strrchr(name, '/') ? strrchr(name, '/') + 1 : name};
        break;
    case W_HEADING:
        p = json_pack("{s:s, s:s, s:s}", "note", t.note, "heading", t.old, "to", name);
        break;
    case W_BLOCK:
        p = json_pack("{s:s, s:s, s:s}", "note", t.note, "block", t.old, "to", name);
        break;
    default:
        p = json_pack("{s:s, s:s}", "tag", t.old, "to", name);
        break;
    }
    json_t *plan = plan_call(s, d->v, p, msg);
    if (plan == NULL)
        return NULL;
    r = workspace_edit(s, d->v, plan, &x, true, msg);
    json_decref(plan);
    return r;
}

json_t *qpl_h_will_rename_files(qpl_server *s, json_t *params, int *code, const char **msg)
{
    size_t i;
    json_t *f, *all = json_array();

    *code = QPL_REQUEST_FAILED;
    json_array_foreach(json_object_get(params, "files"), i, f)
    {
        char *a = qpl_path_from_uri(json_string_value(json_object_get(f, "oldUri")));
        char *b = qpl_path_from_uri(json_string_value(json_object_get(f, "newUri")));
        qpl_vault *v = a ? qpl_vault_for(s, a) : NULL;
        size_t rl = v ? strlen(v->root) : 0;
        if (v == NULL || b == NULL || strncmp(a, v->root, rl) != 0 || a[rl] != '/' ||
            strncmp(b, v->root, rl) != 0 || b[rl] != '/') {
            free(a);
            free(b);
            continue; /* not a vault file: nothing to rewrite */
        }
        json_t *plan =
            plan_call(s, v, json_pack("{s:s, s:s}", "path", a + rl + 1, "to", b + rl + 1), msg);
        free(a);
        free(b);
        if (plan == NULL) {
            json_decref(all);
            return NULL;
        }
        /* the editor renames the files itself: text edits only */
        json_t *we = workspace_edit(s, v, plan, NULL, false, msg);
        json_decref(plan);
        if (we == NULL) {
            json_decref(all);
            return NULL;
        }
        json_array_extend(all, json_object_get(we, "documentChanges"));
        json_decref(we);
    }
    return json_pack("{s:o}", "documentChanges", all);
}

void qpl_rename_capabilities(json_t *caps)
{
    json_object_set_new(caps, "renameProvider", json_pack("{s:b}", "prepareProvider", 1));
    json_t *ws = json_object_get(caps, "workspace");
    if (ws != NULL)
        json_object_set_new(
            ws, "fileOperations",
            json_pack("{s:{s:[{s:{s:s}}]}}", "willRename", "filters", "pattern", "glob", "**"));
}
