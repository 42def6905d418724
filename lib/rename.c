/*
 * rename — plans a rename so that every link keeps its target: the
 * `rename.plan` method (docs/protocol.md).
 *
 * A plan is computed, never applied: quipud does not write into the vault.
 * Four kinds of rename:
 *  - a file or a folder to a new path: links that pointed into it are
 *    rewritten to the new place, links that would be stolen by the new name
 *    (an ambiguity the move creates) are made explicit, the moved notes' own
 *    links are fixed when their new folder changes what they resolve to, and
 *    "Mentioned in: TITLE" lines follow a meeting whose title is its name;
 *  - a heading of a note, a block id of a note: the heading line or the ^id
 *    and every subpath that reaches it;
 *  - a tag with its nested tags, in the body and in frontmatter `tags`.
 *
 * The model. Files keep their index id through a move, so "the target of a
 * link" is an id before and after. The vault's file table is loaded once
 * into two in-memory name maps (before and after the move) over which links
 * are resolved with the index's own resolver (qp__resolve, links.md §2.1).
 * Only links whose answer can change are examined: links whose file name
 * (§2.1 step 2) is the old or new name of a moved file, links that the index
 * says point into the move, and every link of a moved note (its folder
 * changed). Any other link has the same candidates and the same source
 * folder before and after, so the same answer.
 *
 * The files are read through the vault (the index keeps no bodies), so each
 * edit is computed against the bytes on disk and carries their XXH3 hash.
 * The post-condition is checked, not assumed: each edited file is edited in
 * memory and parsed again, and every one of its links must resolve to the
 * intended target (the moved file's id for links that pointed to it, the
 * old target for every other); a link that would change its target makes
 * the whole plan fail, naming the link. A link that was unresolved and
 * resolves after the move (the move creates the note it names) is allowed
 * and listed in `resolved`.
 *
 * Link text is rewritten as Obsidian's "Automatically update internal
 * links" does: display text, subpath and embed size are kept; only the link
 * path changes. A relative path stays relative, a root path stays rooted;
 * anything else follows `newLinkFormat` (quipu/vaultconf.h): shortest
 * (the bare name when no other file has it, else the shortest path suffix
 * that only this file has, else the full path), relative, or absolute. A
 * `.md` written in the link is kept. Markdown links keep `<...>` and their
 * percent-encoding style (spaces as %20; non-ASCII raw or encoded as the
 * link had it). Existing links keep their syntax: `useMarkdownLinks` only
 * decides what a new link looks like, and a rename writes none.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "query_param_int.h"
#include "quipu/arena.h"
#include "quipu/links.h"
#include "quipu/note.h"
#include "quipu/text.h"
#include "rename_int.h"
#include "resolve_int.h"
#include "store_int.h"

/* ------------------------------------------------------------------ */
/* The file table                                                      */

typedef struct fent {
    int64_t id;
    const char *path, *folded, *name;    /* before: path, its fold, folded file name */
    const char *npath, *nfolded, *nname; /* after the move (the same when not moved) */
    int kind;
    bool is_note, moved;
} fent;

/* Files by folded name, for qp__resolve's candidate callback. */
typedef struct fmap {
    fent **v;
    size_t n;
    bool after;
    qp__cand *buf;
    size_t cap;
} fmap;

typedef enum mode {
    M_PATH = 0,
    M_HEADING,
    M_BLOCK,
    M_TAG
} mode;
typedef enum lformat {
    F_SHORTEST = 0,
    F_RELATIVE,
    F_ABSOLUTE
} lformat;

/* One edit: replace buf[off, off + len) with text. */
typedef struct edit {
    size_t off, len;
    char *text;
} edit;

typedef struct plan {
    qp_store *st;
    const qp_vault *vault;
    qp_error *err;
    qp_arena *a;
    mode mode;
    lformat format;
    bool markdown_links;

    fent *files; /* sorted by id */
    size_t nfiles;
    fmap before, after;
    const char **names; /* affected folded file names, sorted */
    size_t nnames;

    /* M_PATH */
    const char *from, *to; /* vault paths as resolved */
    bool folder;
    /* a meeting renamed whose title is its file name: "Mentioned in" lines */
    const char *old_title_folded, *new_title, *meeting_date;
    bool title_shared; /* another meeting has the old title: match by date too */
    /* M_HEADING, M_BLOCK */
    const fent *note;
    const char *old_text, *new_text; /* heading text or block id as given */
    char *old_key;                   /* qp__heading_key / folded block id */
    uint32_t target_line;            /* the heading's or block's line */
    qp__heading_ref *h_before, *h_after;
    size_t nh;
    qp__block_ref *b_before, *b_after;
    size_t nb;
    /* M_TAG: folded, without '#' */
    char *tag_old, *tag_new;

    json_t *out_files, *out_resolved;
    size_t nlinks, nedits;
} plan;

static qp_rc oom(plan *p)
{
    return qp_error_set(p->err, QP_ENOMEM, "out of memory planning a rename");
}

static const char *key_name(const fent *f, bool after)
{
    return after ? f->nname : f->name;
}

static int fmap_cmp_before(const void *x, const void *y)
{
    const fent *a = *(fent *const *)x, *b = *(fent *const *)y;
    int c = strcmp(a->name, b->name);
    return c != 0 ? c : strcmp(a->path, b->path);
}

static int fmap_cmp_after(const void *x, const void *y)
{
    const fent *a = *(fent *const *)x, *b = *(fent *const *)y;
    int c = strcmp(a->nname, b->nname);
    return c != 0 ? c : strcmp(a->npath, b->npath);
}

static qp_rc fmap_build(plan *p, fmap *m, bool after)
{
    m->after = after;
    m->n = p->nfiles;
    m->v = malloc((p->nfiles ? p->nfiles : 1) * sizeof *m->v);
    if (m->v == NULL)
        return oom(p);
    for (size_t i = 0; i < p->nfiles; i++)
        m->v[i] = &p->files[i];
    qsort(m->v, m->n, sizeof *m->v, after ? fmap_cmp_after : fmap_cmp_before);
    return QP_OK;
}

static void fmap_free(fmap *m)
{
    free(m->v);
    free(m->buf);
}

/* First index whose name is >= name. */
static size_t fmap_lower(const fmap *m, const char *name)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(key_name(m->v[mid], m->after), name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t fmap_count(const fmap *m, const char *name)
{
    size_t i = fmap_lower(m, name), n = 0;
    while (i + n < m->n && strcmp(key_name(m->v[i + n], m->after), name) == 0)
        n++;
    return n;
}

static qp_rc fmap_cands(const qp__cand **out, size_t *n, const char *name_folded, void *payload,
                        qp_error *err)
{
    fmap *m = payload;
    size_t i = fmap_lower(m, name_folded), k = fmap_count(m, name_folded);

    *out = NULL;
    *n = 0;
    if (k > m->cap) {
        qp__cand *b = realloc(m->buf, k * sizeof *b);
        if (b == NULL)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        m->buf = b;
        m->cap = k;
    }
    for (size_t j = 0; j < k; j++) {
        const fent *f = m->v[i + j];
        m->buf[j].id = f->id;
        m->buf[j].path = m->after ? f->npath : f->path;
        m->buf[j].path_folded = m->after ? f->nfolded : f->folded;
    }
    *out = m->buf;
    *n = k;
    return QP_OK;
}

static int fent_id_cmp(const void *key, const void *elem)
{
    int64_t id = *(const int64_t *)key, e = ((const fent *)elem)->id;
    return id < e ? -1 : id > e;
}

static fent *find_id(const plan *p, int64_t id)
{
    return id == 0 ? NULL : bsearch(&id, p->files, p->nfiles, sizeof *p->files, fent_id_cmp);
}

static const fent *find_path(const plan *p, const char *path)
{
    for (size_t i = 0; i < p->nfiles; i++)
        if (strcmp(p->files[i].path, path) == 0)
            return &p->files[i];
    return NULL;
}

static qp_rc resolve_in(plan *p, bool after, const char *linkpath, const char *src, int64_t src_id,
                        int64_t *out)
{
    fmap *m = after ? &p->after : &p->before;
    return qp__resolve(out, linkpath, src, src_id, fmap_cands, m, p->err);
}

static qp_rc load_files(plan *p)
{
    sqlite3 *db = qp__store_db(p->st);
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    qp_rc rc = QP_OK;
    int src = sqlite3_prepare_v2(
        db, "SELECT id, path, path_folded, name_folded, is_note, kind FROM files ORDER BY id", -1,
        &s, NULL);

    if (src != SQLITE_OK)
        return qp__store_sqlite_error(p->st, src, "files", p->err);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (p->nfiles == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            fent *g = realloc(p->files, nc * sizeof *g);
            if (g == NULL) {
                rc = oom(p);
                goto cleanup;
            }
            p->files = g;
            cap = nc;
        }
        fent *f = &p->files[p->nfiles];
        memset(f, 0, sizeof *f);
        f->id = sqlite3_column_int64(s, 0);
        f->path = qp_arena_strdup(p->a, (const char *)sqlite3_column_text(s, 1));
        f->folded = qp_arena_strdup(p->a, (const char *)sqlite3_column_text(s, 2));
        f->name = qp_arena_strdup(p->a, (const char *)sqlite3_column_text(s, 3));
        f->is_note = sqlite3_column_int(s, 4) != 0;
        f->kind = sqlite3_column_int(s, 5);
        if (f->path == NULL || f->folded == NULL || f->name == NULL) {
            rc = oom(p);
            goto cleanup;
        }
        f->npath = f->path;
        f->nfolded = f->folded;
        f->nname = f->name;
        p->nfiles++;
    }
    if (src != SQLITE_DONE)
        rc = qp__store_sqlite_error(p->st, src, "files", p->err);
cleanup:
    sqlite3_finalize(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Small string helpers                                                */

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool ends_md(const char *s, size_t n)
{
    return n >= 3 && s[n - 3] == '.' && (s[n - 2] | 0x20) == 'm' && (s[n - 1] | 0x20) == 'd';
}

/* path without a trailing ".md" (when strip), in the arena. */
static char *strip_md(plan *p, const char *path, bool strip)
{
    size_t n = strlen(path);
    if (strip && ends_md(path, n))
        n -= 3;
    return qp_arena_strndup(p->a, path, n);
}

static char *folder_of(plan *p, const char *path)
{
    const char *s = strrchr(path, '/');
    return qp_arena_strndup(p->a, path, s ? (size_t)(s - path) : 0);
}

static char *cat(plan *p, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = qp_arena_alloc(p->a, la + lb + 1);
    if (r) {
        memcpy(r, a, la);
        memcpy(r + la, b, lb + 1);
    }
    return r;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The relative path from folder `from` ("" = the root) to the vault path
 * `to`: "../x/y", whole segments only. In the arena. */
static char *relative_path(plan *p, const char *from, const char *to)
{
    size_t common = 0, i = 0;
    /* the longest prefix of whole folder segments both share */
    for (;;) {
        if (from[i] == '\0') {
            if (i > 0 && to[i] == '/')
                common = i + 1;
            break;
        }
        if (from[i] != to[i])
            break;
        if (from[i] == '/')
            common = i + 1;
        i++;
    }
    size_t ups = 0;
    if (from[0] != '\0') {
        size_t fl = strlen(from);
        if (common <= fl) { /* `from` is not wholly shared */
            ups = 1;
            for (size_t k = common; k < fl; k++)
                ups += from[k] == '/';
        }
    }
    size_t rest = strlen(to + common);
    char *r = qp_arena_alloc(p->a, ups * 3 + rest + 1);
    if (r == NULL)
        return NULL;
    for (size_t k = 0; k < ups; k++)
        memcpy(r + 3 * k, "../", 3);
    memcpy(r + 3 * ups, to + common, rest + 1);
    return r;
}

/* ------------------------------------------------------------------ */
/* Edits                                                               */

typedef struct evec {
    edit *v;
    size_t n, cap;
} evec;

static qp_rc add_edit(plan *p, evec *e, size_t off, size_t len, const char *text, size_t tlen)
{
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 8;
        edit *g = realloc(e->v, nc * sizeof *g);
        if (g == NULL)
            return oom(p);
        e->v = g;
        e->cap = nc;
    }
    char *t = qp_arena_strndup(p->a, text, tlen);
    if (t == NULL)
        return oom(p);
    e->v[e->n++] = (edit){off, len, t};
    return QP_OK;
}

static int edit_cmp(const void *x, const void *y)
{
    const edit *a = x, *b = y;
    return a->off < b->off ? -1 : a->off > b->off;
}

/* Applies sorted, non-overlapping edits; new buffer (free()). */
static char *apply_edits(const char *buf, size_t len, const evec *e, size_t *outlen)
{
    size_t n = len;
    for (size_t i = 0; i < e->n; i++)
        n = n - e->v[i].len + strlen(e->v[i].text);
    char *r = malloc(n + 1);
    if (r == NULL)
        return NULL;
    size_t at = 0, o = 0;
    for (size_t i = 0; i < e->n; i++) {
        memcpy(r + o, buf + at, e->v[i].off - at);
        o += e->v[i].off - at;
        size_t tl = strlen(e->v[i].text);
        memcpy(r + o, e->v[i].text, tl);
        o += tl;
        at = e->v[i].off + e->v[i].len;
    }
    memcpy(r + o, buf + at, len - at);
    o += len - at;
    r[o] = '\0';
    *outlen = o;
    return r;
}

/* 1-based line and byte column of offset `off`. */
static void line_col(const char *buf, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t l = 1;
    size_t ls = 0;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            ls = i + 1;
        }
    }
    *line = l;
    *col = (uint32_t)(off - ls + 1);
}

/* ------------------------------------------------------------------ */
/* Link anatomy in the source bytes                                    */

/* The raw spans inside a wikilink's bytes (or a frontmatter "[[...]]"):
 * [lp0, lp1) is the link path as written, [sp0, sp1) the subpath from its
 * '#' (empty when none). Offsets are into the file. */
typedef struct wspan {
    size_t lp0, lp1, sp0, sp1;
} wspan;

static bool wiki_span(const char *buf, size_t off, size_t len, wspan *w)
{
    const char *s = buf + off;
    size_t i = 0, end;
    /* find "[[" ... the last "]]" of the span */
    while (i + 1 < len && !(s[i] == '[' && s[i + 1] == '['))
        i++;
    if (i + 1 >= len)
        return false;
    size_t c0 = i + 2;
    end = len;
    while (end >= c0 + 2 && !(s[end - 2] == ']' && s[end - 1] == ']'))
        end--;
    if (end < c0 + 2)
        return false;
    size_t c1 = end - 2;
    /* trim as qp_link_split does (ASCII white space; NBSP is rare in paths) */
    while (c0 < c1 && is_ws(s[c0]))
        c0++;
    while (c1 > c0 && is_ws(s[c1 - 1]))
        c1--;
    if (c0 >= c1)
        return false;
    size_t t1 = c1;
    const char *bar = memchr(s + c0 + 1, '|', c1 - c0 - 1);
    if (bar != NULL)
        t1 = (size_t)(bar - s);
    if (t1 > c0 && s[t1 - 1] == '\\')
        t1--;
    const char *hash = memchr(s + c0, '#', t1 - c0);
    size_t l1 = hash ? (size_t)(hash - s) : t1;
    w->sp0 = off + l1;
    w->sp1 = hash ? off + t1 : off + l1;
    while (l1 > c0 && is_ws(s[l1 - 1]))
        l1--;
    w->lp0 = off + c0;
    w->lp1 = off + l1;
    return true;
}

/* A Markdown link's destination inside [off, off+len): [d0, d1) without
 * the angle brackets; *angle when written <...>. */
typedef struct mspan {
    size_t d0, d1;
    bool angle;
} mspan;

static bool md_dest_at(const char *s, size_t len, size_t i, mspan *m)
{
    /* s[i] == '(' */
    size_t j = i + 1;
    while (j < len && is_ws(s[j]))
        j++;
    if (j < len && s[j] == '<') {
        size_t k = j + 1;
        while (k < len && s[k] != '>' && s[k] != '\n')
            k += s[k] == '\\' && k + 1 < len ? 2 : 1;
        if (k >= len || s[k] != '>')
            return false;
        m->d0 = j + 1;
        m->d1 = k;
        m->angle = true;
        j = k + 1;
    } else {
        size_t k = j;
        int depth = 0;
        while (k < len && !is_ws(s[k])) {
            if (s[k] == '\\' && k + 1 < len) {
                k += 2;
                continue;
            }
            if (s[k] == '(')
                depth++;
            else if (s[k] == ')') {
                if (depth == 0)
                    break;
                depth--;
            }
            k++;
        }
        m->d0 = j;
        m->d1 = k;
        m->angle = false;
        j = k;
    }
    while (j < len && is_ws(s[j]))
        j++;
    if (j < len && (s[j] == '"' || s[j] == '\'' || s[j] == '(')) {
        char close = s[j] == '(' ? ')' : s[j];
        size_t k = j + 1;
        while (k < len && s[k] != close)
            k += s[k] == '\\' && k + 1 < len ? 2 : 1;
        if (k >= len)
            return false;
        j = k + 1;
        while (j < len && is_ws(s[j]))
            j++;
    }
    return j == len - 1 && s[j] == ')';
}

static bool md_span(const char *buf, size_t off, size_t len, mspan *m)
{
    const char *s = buf + off;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == ']' && s[i + 1] == '(' && md_dest_at(s, len, i + 1, m)) {
            m->d0 += off;
            m->d1 += off;
            return true;
        }
    }
    return false;
}

/* Percent-encodes `path` for a Markdown destination in the style of the
 * destination it replaces (`old`, raw). */
static char *md_encode(plan *p, const char *path, const char *old, size_t oldlen, bool angle)
{
    bool enc_nonascii = false;
    int depth = 0;
    bool balanced = true;
    for (size_t i = 0; i + 2 < oldlen; i++) {
        if (old[i] == '%' && strchr("89abcdefABCDEF", old[i + 1]) != NULL)
            enc_nonascii = true;
    }
    for (const char *c = path; *c; c++) {
        if (*c == '(')
            depth++;
        else if (*c == ')' && --depth < 0)
            balanced = false;
    }
    balanced = balanced && depth == 0;
    size_t n = strlen(path);
    char *r = qp_arena_alloc(p->a, n * 3 + 1);
    if (r == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        bool enc = c == '%' || c == '#' || c < 0x20 || c == 0x7f || c == '<' || c == '>' ||
                   (c == ' ' && !angle) || ((c == '(' || c == ')') && !balanced && !angle) ||
                   (c >= 0x80 && enc_nonascii);
        if (enc) {
            o += (size_t)snprintf(r + o, 4, "%%%02X", c);
        } else {
            r[o++] = (char)c;
        }
    }
    r[o] = '\0';
    return r;
}

/* ------------------------------------------------------------------ */
/* Choosing the new link path                                          */

/* The link path to write for target `f` (after the move) in a link of
 * source `src` (its path after the move), given the path as written.
 * Candidates in order of preference; the first that resolves to f wins.
 * NULL with *err unset when nothing does. */
static qp_rc choose_linkpath(plan *p, const fent *f, const fent *src, const char *written,
                             const char **out)
{
    qp_rc rc = QP_OK;
    const char *cands[64];
    size_t nc = 0;
    size_t wl = strlen(written);
    /* keep ".md" when it was written (or the target is no note) */
    bool strip = f->is_note && !ends_md(written, wl);
    char *full = strip_md(p, f->npath, strip);
    char *bare = strip_md(p, base_of(f->npath), strip);
    char *srcdir = folder_of(p, src->npath);
    char *rel = full && srcdir ? relative_path(p, srcdir, full) : NULL;

    *out = NULL;
    if (full == NULL || bare == NULL || srcdir == NULL || rel == NULL)
        return oom(p);
    bool relative = strncmp(written, "./", 2) == 0 || strncmp(written, "../", 3) == 0;
    bool rooted = written[0] == '/';
    lformat fmt = relative ? F_RELATIVE : rooted ? F_ABSOLUTE : p->format;

    if (rooted) {
        cands[nc++] = cat(p, "/", full);
    } else if (fmt == F_RELATIVE) {
        cands[nc++] = rel;
        if (rel[0] != '.')
            cands[nc++] = cat(p, "./", rel);
    } else if (fmt == F_SHORTEST) {
        if (fmap_count(&p->after, f->nname) == 1)
            cands[nc++] = bare;
        /* path suffixes, shortest first, that no other file ends with */
        size_t fl = strlen(full);
        for (size_t i = fl; i > 0 && nc < 60; i--) {
            if (full[i - 1] != '/')
                continue;
            const char *suf = full + i;
            char *sf = qp_text_fold(suf, strlen(suf), NULL);
            if (sf == NULL)
                return oom(p);
            size_t sl = strlen(sf), hits = 0;
            size_t lo = fmap_lower(&p->after, f->nname), k = fmap_count(&p->after, f->nname);
            char *want = strip ? cat(p, sf, ".md") : qp_arena_strdup(p->a, sf);
            free(sf);
            if (want == NULL)
                return oom(p);
            sl = strlen(want);
            for (size_t j = 0; j < k; j++) {
                const char *pf = p->after.v[lo + j]->nfolded;
                size_t pl = strlen(pf);
                hits += pl >= sl && strcmp(pf + pl - sl, want) == 0;
            }
            if (hits == 1)
                cands[nc++] = suf;
        }
    }
    cands[nc++] = full;
    if (!rooted)
        cands[nc++] = cat(p, "/", full);

    for (size_t i = 0; i < nc; i++) {
        int64_t got = 0;
        if (cands[i] == NULL)
            return oom(p);
        if ((rc = resolve_in(p, true, cands[i], src->npath, src->id, &got)) != QP_OK)
            return rc;
        if (got == f->id) {
            *out = cands[i];
            return QP_OK;
        }
    }
    return QP_OK;
}

/* ------------------------------------------------------------------ */
/* Per-source work                                                     */

/* The file's content hash as the protocol writes it. */
static json_t *hash_json(uint64_t h)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    return json_string(hex);
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static bool name_affected(const plan *p, const char *name)
{
    size_t lo = 0, hi = p->nnames;
    if (name == NULL)
        return false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->names[mid], name);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static qp_rc link_affected(plan *p, const fent *src, const qp_link *l, bool *out)
{
    char *n1 = NULL, *n2 = NULL;
    *out = false;
    if (l->target[0] == '\0')
        return QP_OK; /* the note itself: moves with it */
    if (src->moved) {
        *out = true;
        return QP_OK;
    }
    if (qp__link_names(&n1, &n2, l->target) != QP_OK)
        return oom(p);
    *out = name_affected(p, n1) || name_affected(p, n2);
    free(n1);
    free(n2);
    return QP_OK;
}

/* "path:line:col: [[text]]" for messages. */
static void describe(char *buf, size_t cap, const char *path, const char *src, const qp_link *l)
{
    int n = (int)(l->len < 120 ? l->len : 120);
    snprintf(buf, cap, "%s:%u:%u: %.*s", path, l->line, l->col, n, src + l->offset);
}

static const char *path_of(const plan *p, int64_t id)
{
    const fent *f = find_id(p, id);
    return f == NULL ? "nothing" : f->npath;
}

/* Link edits of a file/folder move for one link. */
static qp_rc plan_link(plan *p, const fent *src, const char *buf, const qp_link *l,
                       int64_t intended, evec *ev)
{
    qp_rc rc;
    int64_t after = 0;
    const fent *f = find_id(p, intended);

    if ((rc = resolve_in(p, true, l->target, src->npath, src->id, &after)) != QP_OK)
        return rc;
    if (intended == 0) {
        if (after != 0) {
            const char *to = path_of(p, after);
            json_t *o = json_pack("{s:s, s:i, s:i, s:s}", "path", src->path, "line", l->line,
                                  "column", l->col, "to", to);
            if (o == NULL || json_array_append_new(p->out_resolved, o) != 0)
                return oom(p);
        }
        return QP_OK;
    }
    bool need = after != intended;
    if (!need && f != NULL && f->moved && strcmp(base_of(f->path), base_of(f->npath)) != 0)
        need = true; /* the name changed: links spell the new one */
    if (!need)
        return QP_OK;

    const char *lp = NULL;
    if ((rc = choose_linkpath(p, f, src, l->target, &lp)) != QP_OK)
        return rc;
    if (lp == NULL) {
        char where[256];
        describe(where, sizeof where, src->path, buf, l);
        return qp_error_set(p->err, QP_EINVAL, "refused: %s: no link text would still point to %s",
                            where, f->npath);
    }
    if (l->syntax == QP_LINK_MARKDOWN) {
        mspan m;
        if (!md_span(buf, l->offset, l->len, &m))
            goto unreadable;
        const char *d = buf + m.d0;
        size_t dl = m.d1 - m.d0;
        const char *hash = memchr(d, '#', dl);
        size_t pl = hash ? (size_t)(hash - d) : dl;
        char *enc = md_encode(p, lp, d, dl, m.angle);
        if (enc == NULL)
            return oom(p);
        if (strncmp(d, enc, pl) == 0 && strlen(enc) == pl)
            return QP_OK;
        return add_edit(p, ev, m.d0, pl, enc, strlen(enc));
    }
    wspan w;
    if (!wiki_span(buf, l->offset, l->len, &w))
        goto unreadable;
    size_t ol = w.lp1 - w.lp0, nl = strlen(lp);
    if (ol == nl && memcmp(buf + w.lp0, lp, nl) == 0)
        return QP_OK;
    if (l->syntax == QP_LINK_FRONTMATTER && buf[l->offset] != '[') {
        /* a quoted YAML scalar: escape what its quotes need */
        char q = buf[l->offset];
        char *esc = qp_arena_alloc(p->a, nl * 2 + 1);
        size_t o = 0;
        if (esc == NULL)
            return oom(p);
        for (size_t i = 0; i < nl; i++) {
            if (q == '\'' && lp[i] == '\'')
                esc[o++] = '\'';
            else if (q == '"' && (lp[i] == '"' || lp[i] == '\\'))
                esc[o++] = '\\';
            esc[o++] = lp[i];
        }
        return add_edit(p, ev, w.lp0, ol, esc, o);
    }
    return add_edit(p, ev, w.lp0, ol, lp, nl);

unreadable : {
    char where[256];
    describe(where, sizeof where, src->path, buf, l);
    return qp_error_set(p->err, QP_EINVAL, "refused: %s: cannot find the link's path in the text",
                        where);
}
}

/* Edits of subpaths (#Heading or #^block) in one link to p->note. */
static qp_rc plan_subpath(plan *p, const char *buf, const qp_link *l, evec *ev)
{
    qp_rc rc = QP_OK;
    size_t s0, s1;
    bool md = l->syntax == QP_LINK_MARKDOWN;
    bool angle = false;

    if (md) {
        mspan m;
        if (!md_span(buf, l->offset, l->len, &m))
            return QP_OK;
        const char *hash = memchr(buf + m.d0, '#', m.d1 - m.d0);
        if (hash == NULL)
            return QP_OK;
        s0 = (size_t)(hash - buf);
        s1 = m.d1;
        angle = m.angle;
    } else {
        wspan w;
        if (!wiki_span(buf, l->offset, l->len, &w) || w.sp0 == w.sp1)
            return QP_OK;
        s0 = w.sp0;
        s1 = w.sp1;
    }
    /* walk the '#'-separated parts of the raw subpath */
    size_t i = s0;
    while (i < s1) {
        size_t j = i + 1;
        while (j < s1 && buf[j] != '#')
            j++;
        size_t a0 = i + 1, a1 = j;
        const char *raw = buf + a0;
        size_t rl = a1 - a0;
        qp_arena *tmp = qp_arena_new();
        char *dec = NULL;
        bool oomf = false;
        if (tmp == NULL)
            return oom(p);
        dec = md ? qp_link_url_decode(tmp, raw, rl, &oomf) : qp_arena_strndup(tmp, raw, rl);
        if (dec != NULL) {
            if (p->mode == M_BLOCK && dec[0] == '^') {
                char *k = qp_text_fold(dec + 1, strlen(dec + 1), NULL);
                if (k == NULL)
                    rc = oom(p);
                else if (strcmp(k, p->old_key) == 0)
                    rc = add_edit(p, ev, a0 + 1, rl - 1, p->new_text, strlen(p->new_text));
                free(k);
            } else if (p->mode == M_HEADING && dec[0] != '^') {
                char *k = qp__heading_key(dec);
                if (k == NULL) {
                    rc = oom(p);
                } else if (strcmp(k, p->old_key) == 0) {
                    const char *t = md ? md_encode(p, p->new_text, raw, rl, angle) : p->new_text;
                    rc = t ? add_edit(p, ev, a0, rl, t, strlen(t)) : oom(p);
                }
                free(k);
            }
        }
        qp_arena_free(tmp);
        if (rc != QP_OK)
            return rc;
        if (p->mode == M_BLOCK)
            break; /* "#^id" has one part */
        i = j;
    }
    return QP_OK;
}

/* "- DATE: Mentioned in: TITLE" lines that name the renamed meeting. */
static qp_rc plan_mentions(plan *p, const qp_note *note, const char *buf, size_t len, evec *ev)
{
    size_t n = 0;
    const qp_mention_line *ml = qp_note_mention_lines(note, &n);
    for (size_t i = 0; i < n; i++) {
        char *k = qp_text_fold(ml[i].title, strlen(ml[i].title), NULL);
        if (k == NULL)
            return oom(p);
        bool match = strcmp(k, p->old_title_folded) == 0;
        free(k);
        if (!match)
            continue;
        if (p->title_shared &&
            (ml[i].date == NULL || p->meeting_date == NULL || strcmp(ml[i].date, p->meeting_date)))
            continue;
        /* the line's bytes */
        size_t ls = 0;
        uint32_t line = 1;
        for (size_t j = 0; j < len && line < ml[i].line; j++) {
            if (buf[j] == '\n') {
                line++;
                ls = j + 1;
            }
        }
        const char *le = memchr(buf + ls, '\n', len - ls);
        size_t ll = le ? (size_t)(le - (buf + ls)) : len - ls;
        const char *key = "Mentioned in:";
        const char *at = NULL;
        for (size_t j = 0; j + strlen(key) <= ll; j++)
            if (memcmp(buf + ls + j, key, strlen(key)) == 0) {
                at = buf + ls + j + strlen(key);
                break;
            }
        if (at == NULL)
            continue;
        const char *t = NULL;
        size_t tl = strlen(ml[i].title);
        for (const char *c = at; c + tl <= buf + ls + ll; c++)
            if (memcmp(c, ml[i].title, tl) == 0) {
                t = c;
                break;
            }
        if (t == NULL)
            continue;
        qp_rc rc = add_edit(p, ev, (size_t)(t - buf), tl, p->new_title, strlen(p->new_title));
        if (rc != QP_OK)
            return rc;
    }
    return QP_OK;
}

static bool tag_char(char c)
{
    return !(is_ws(c) || c == ',' || c == '[' || c == ']' || c == '"' || c == '\'' || c == '#' ||
             c == '\0');
}

/* Does the tag text t[0..n) (no '#') match p->tag_old or a nested tag of
 * it? *plen is the byte length of the matched prefix in t. */
static qp_rc tag_match(plan *p, const char *t, size_t n, bool *out, size_t *plen)
{
    size_t slashes = 0, k = 0;
    *out = false;
    for (const char *c = p->tag_old; *c; c++)
        slashes += *c == '/';
    /* the prefix of t that has as many '/' as the old tag */
    for (size_t seen = 0; k < n; k++) {
        if (t[k] == '/' && seen++ == slashes)
            break;
    }
    char *f = qp_text_fold(t, k, NULL);
    if (f == NULL)
        return oom(p);
    *out = strcmp(f, p->tag_old) == 0;
    *plen = k;
    free(f);
    return QP_OK;
}

static qp_rc plan_tags(plan *p, const qp_note *note, const char *buf, size_t len, evec *ev)
{
    size_t n = 0;
    const qp_tag *tags = qp_note_tags(note, &n);
    bool fm = false;
    qp_rc rc;

    for (size_t i = 0; i < n; i++) {
        if (tags[i].frontmatter) {
            fm = true;
            continue;
        }
        /* the tag's bytes at its line and column */
        size_t ls = 0;
        uint32_t line = 1;
        for (size_t j = 0; j < len && line < tags[i].line; j++) {
            if (buf[j] == '\n') {
                line++;
                ls = j + 1;
            }
        }
        size_t at = ls + tags[i].col - 1, tl = strlen(tags[i].tag);
        if (at + tl > len || memcmp(buf + at, tags[i].tag, tl) != 0)
            continue;
        bool m;
        size_t pl;
        if ((rc = tag_match(p, tags[i].tag + 1, tl - 1, &m, &pl)) != QP_OK)
            return rc;
        if (m && (rc = add_edit(p, ev, at + 1, pl, p->new_text, strlen(p->new_text))) != QP_OK)
            return rc;
    }
    if (!fm || len < 4 || memcmp(buf, "---", 3) != 0)
        return QP_OK;
    /* frontmatter `tags:` / `tag:`: its line and the indented or "- " lines after */
    size_t i = 0;
    bool in = false;
    while (i < len) {
        const char *le = memchr(buf + i, '\n', len - i);
        size_t ll = le ? (size_t)(le - (buf + i)) : len - i;
        const char *s = buf + i;
        if (i > 0 && ll >= 3 && memcmp(s, "---", 3) == 0 && (ll == 3 || is_ws(s[3])))
            break; /* the closing fence */
        size_t from = 0;
        if (i > 0 && ll > 0 && !is_ws(s[0]) && s[0] != '-') {
            in = false;
            size_t kl = 0;
            while (kl < ll && s[kl] != ':')
                kl++;
            size_t ke = kl;
            while (ke > 0 && is_ws(s[ke - 1]))
                ke--;
            if (kl < ll && ((ke == 4 && strncasecmp(s, "tags", 4) == 0) ||
                            (ke == 3 && strncasecmp(s, "tag", 3) == 0))) {
                in = true;
                from = kl + 1;
            }
        }
        if (in && i > 0) {
            size_t k = from;
            while (k < ll) {
                if (!tag_char(s[k]) || (s[k] == '-' && (k + 1 >= ll || is_ws(s[k + 1])))) {
                    k++;
                    continue;
                }
                size_t e = k;
                while (e < ll && tag_char(s[e]))
                    e++;
                bool m;
                size_t pl;
                if ((rc = tag_match(p, s + k, e - k, &m, &pl)) != QP_OK)
                    return rc;
                if (m &&
                    (rc = add_edit(p, ev, i + k, pl, p->new_text, strlen(p->new_text))) != QP_OK)
                    return rc;
                k = e;
            }
        }
        if (le == NULL)
            break;
        i += ll + 1;
    }
    return QP_OK;
}

/* The heading or block line a subpath reaches (0: none). */
static uint32_t subpath_line(const plan *p, const char *subpath, bool after)
{
    uint32_t line = 0;
    if (!qp__subpath_find(subpath, after ? p->h_after : p->h_before, p->nh,
                          after ? p->b_after : p->b_before, p->nb, &line))
        return 0;
    return line;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Compares the links and tags of a file before and after its edits: the
 * post-condition for one edited file. */
static qp_rc check_file(plan *p, const fent *src, const char *buf, const qp_note *old,
                        const int64_t *intended, const qp_note *neu)
{
    size_t n0 = 0, n1 = 0;
    const qp_link *l0 = qp_note_links(old, &n0), *l1 = qp_note_links(neu, &n1);
    char where[256];
    qp_rc rc;

    if (n0 != n1)
        return qp_error_set(p->err, QP_EINVAL,
                            "refused: %s: the edits would change its number of links (%zu, not "
                            "%zu); nothing planned",
                            src->path, n1, n0);
    for (size_t i = 0; i < n0; i++) {
        describe(where, sizeof where, src->path, buf, &l0[i]);
        if (l0[i].embed != l1[i].embed || !same_str(l0[i].display, l1[i].display) ||
            (p->mode != M_HEADING && p->mode != M_BLOCK && !same_str(l0[i].subpath, l1[i].subpath)))
            return qp_error_set(p->err, QP_EINVAL,
                                "refused: %s: the edit would change its display text or subpath",
                                where);
        if (p->mode == M_TAG) {
            if (strcmp(l0[i].target, l1[i].target) != 0)
                return qp_error_set(p->err, QP_EINVAL, "refused: %s: the edit would change it",
                                    where);
            continue;
        }
        if (intended[i] < 0)
            continue; /* not affected, text unchanged (checked below) */
        if (intended[i] == 0) {
            if (strcmp(l0[i].target, l1[i].target) != 0)
                return qp_error_set(p->err, QP_EINVAL, "refused: %s: the edit would change it",
                                    where);
            continue;
        }
        int64_t got = 0;
        if ((rc = resolve_in(p, true, l1[i].target, src->npath, src->id, &got)) != QP_OK)
            return rc;
        if (got != intended[i]) {
            const char *want = path_of(p, intended[i]), *now = path_of(p, got);
            return qp_error_set(p->err, QP_EINVAL, "refused: %s would point to %s instead of %s",
                                where, now, want);
        }
        if ((p->mode == M_HEADING || p->mode == M_BLOCK) && intended[i] == p->note->id &&
            l0[i].subpath != NULL) {
            uint32_t b = subpath_line(p, l0[i].subpath, false);
            uint32_t a = subpath_line(p, l1[i].subpath, true);
            if (a != b && b != 0)
                return qp_error_set(p->err, QP_EINVAL,
                                    "refused: %s would reach line %u of %s instead of line %u",
                                    where, a, p->note->path, b);
        }
    }
    for (size_t i = 0; i < n0; i++) {
        if (intended[i] < 0 && strcmp(l0[i].target, l1[i].target) != 0) {
            describe(where, sizeof where, src->path, buf, &l0[i]);
            return qp_error_set(p->err, QP_EINVAL, "refused: %s: the edit would change it", where);
        }
    }
    if (p->mode == M_TAG) {
        size_t t0 = 0, t1 = 0;
        const qp_tag *a = qp_note_tags(old, &t0), *b = qp_note_tags(neu, &t1);
        if (t0 != t1)
            return qp_error_set(p->err, QP_EINVAL,
                                "refused: %s: the edits would change its number of tags",
                                src->path);
        for (size_t i = 0; i < t0; i++) {
            bool m;
            size_t pl;
            const char *ta = a[i].tag + (a[i].tag[0] == '#'), *tb = b[i].tag + (b[i].tag[0] == '#');
            if ((rc = tag_match(p, ta, strlen(ta), &m, &pl)) != QP_OK)
                return rc;
            char *want = m ? cat(p, p->new_text, ta + pl) : qp_arena_strdup(p->a, ta);
            if (want == NULL)
                return oom(p);
            if (strcmp(want, tb) != 0)
                return qp_error_set(p->err, QP_EINVAL,
                                    "refused: %s: tag #%s would become #%s, not #%s", src->path, ta,
                                    tb, want);
        }
    }
    if (p->mode == M_PATH && p->old_title_folded != NULL) {
        size_t m0 = 0, m1 = 0;
        qp_note_mention_lines(old, &m0);
        qp_note_mention_lines(neu, &m1);
        if (m0 != m1)
            return qp_error_set(p->err, QP_EINVAL,
                                "refused: %s: the edits would change its Mentioned in lines",
                                src->path);
    }
    return QP_OK;
}

static qp_rc edits_json(plan *p, const fent *src, const char *buf, uint64_t hash, evec *ev)
{
    json_t *arr = json_array(), *o;
    if (arr == NULL)
        return oom(p);
    for (size_t i = 0; i < ev->n; i++) {
        uint32_t l0, c0, l1, c1;
        const edit *e = &ev->v[i];
        line_col(buf, e->off, &l0, &c0);
        line_col(buf, e->off + e->len, &l1, &c1);
        o = json_pack("{s:i, s:i, s:i, s:i, s:I, s:I, s:s%, s:s}", "line", l0, "column", c0,
                      "end_line", l1, "end_column", c1, "offset", (json_int_t)e->off, "length",
                      (json_int_t)e->len, "old", buf + e->off, e->len, "new", e->text);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return oom(p);
        }
    }
    o = json_pack("{s:s, s:o, s:o}", "path", src->path, "hash", hash_json(hash), "edits", arr);
    if (o == NULL || json_array_append_new(p->out_files, o) != 0)
        return oom(p);
    return QP_OK;
}

/* Reads, plans, checks and reports one source file. */
static qp_rc do_source(plan *p, const fent *src, unsigned flags)
{
    char *buf = NULL, *nbuf = NULL;
    size_t len = 0, nlen = 0;
    qp_file_stat fst;
    qp_note *note = NULL, *neu = NULL;
    int64_t *intended = NULL;
    evec ev = {0};
    qp_rc rc = qp_vault_read(p->vault, src->path, QP_NOTE_MAX_SIZE, &buf, &len, &fst, p->err);

    if (rc == QP_ENOTFOUND)
        return qp_error_set(p->err, QP_ENOTFOUND,
                            "%s is indexed but not on disk: try again once the index has caught "
                            "up",
                            src->path);
    if (rc != QP_OK)
        return rc;
    if ((rc = qp_note_parse(&note, src->path, buf, len, NULL, p->err)) != QP_OK)
        goto cleanup;
    size_t nl = 0;
    const qp_link *links = qp_note_links(note, &nl);
    intended = malloc((nl ? nl : 1) * sizeof *intended);
    if (intended == NULL) {
        rc = oom(p);
        goto cleanup;
    }
    for (size_t i = 0; i < nl; i++) {
        const qp_link *l = &links[i];
        bool aff = false;
        intended[i] = -1;
        if (p->mode == M_TAG)
            continue;
        if (p->mode == M_PATH) {
            if ((rc = link_affected(p, src, l, &aff)) != QP_OK)
                goto cleanup;
        } else {
            aff = true;
        }
        if (!aff)
            continue;
        if ((rc = resolve_in(p, false, l->target, src->path, src->id, &intended[i])) != QP_OK)
            goto cleanup;
        if (p->mode == M_PATH) {
            if ((rc = plan_link(p, src, buf, l, intended[i], &ev)) != QP_OK)
                goto cleanup;
            if (intended[i] == 0) {
                /* unresolved before: whatever it resolves to after is accepted */
                int64_t a = 0;
                if ((rc = resolve_in(p, true, l->target, src->npath, src->id, &a)) != QP_OK)
                    goto cleanup;
                intended[i] = a;
                if (a == 0)
                    intended[i] = 0;
            }
        } else if (intended[i] == p->note->id && l->subpath != NULL) {
            if ((rc = plan_subpath(p, buf, l, &ev)) != QP_OK)
                goto cleanup;
        }
    }
    if ((flags & 2) && (rc = plan_mentions(p, note, buf, len, &ev)) != QP_OK)
        goto cleanup;
    if (p->mode == M_TAG && (rc = plan_tags(p, note, buf, len, &ev)) != QP_OK)
        goto cleanup;
    if ((p->mode == M_HEADING || p->mode == M_BLOCK) && src == p->note) {
        /* the heading line or the ^id itself */
        size_t ls = 0;
        uint32_t line = 1;
        for (size_t j = 0; j < len && line < p->target_line; j++) {
            if (buf[j] == '\n') {
                line++;
                ls = j + 1;
            }
        }
        const char *le = memchr(buf + ls, '\n', len - ls);
        size_t ll = le ? (size_t)(le - (buf + ls)) : len - ls;
        const char *want = p->old_text;
        size_t wl = strlen(want), at = SIZE_MAX;
        /* the last occurrence on the line (a block id ends it; a heading's
         * text follows its #s) */
        for (size_t j = 0; j + wl <= ll; j++)
            if (memcmp(buf + ls + j, want, wl) == 0 &&
                (p->mode != M_BLOCK || (j > 0 && buf[ls + j - 1] == '^')))
                at = j;
        if (at == SIZE_MAX) {
            rc = qp_error_set(p->err, QP_EINVAL, "refused: %s:%u: cannot find '%s' on the line",
                              src->path, p->target_line, want);
            goto cleanup;
        }
        if ((rc = add_edit(p, &ev, ls + at, wl, p->new_text, strlen(p->new_text))) != QP_OK)
            goto cleanup;
    }
    if (ev.n == 0) {
        /* nothing to edit: links to the note must still reach the same line */
        for (size_t i = 0; i < nl && (p->mode == M_HEADING || p->mode == M_BLOCK); i++) {
            if (intended[i] != p->note->id || links[i].subpath == NULL)
                continue;
            uint32_t b = subpath_line(p, links[i].subpath, false);
            uint32_t a = subpath_line(p, links[i].subpath, true);
            if (a != b && b != 0) {
                char where[256];
                describe(where, sizeof where, src->path, buf, &links[i]);
                rc = qp_error_set(p->err, QP_EINVAL,
                                  "refused: %s would reach line %u of %s instead of line %u", where,
                                  a, p->note->path, b);
            }
        }
        goto cleanup;
    }
    qsort(ev.v, ev.n, sizeof *ev.v, edit_cmp);
    for (size_t i = 1; i < ev.n; i++) {
        if (ev.v[i].off < ev.v[i - 1].off + ev.v[i - 1].len) {
            rc = qp_error_set(p->err, QP_EINVAL, "refused: %s: overlapping edits", src->path);
            goto cleanup;
        }
    }
    if ((nbuf = apply_edits(buf, len, &ev, &nlen)) == NULL) {
        rc = oom(p);
        goto cleanup;
    }
    if ((rc = qp_note_parse(&neu, src->npath, nbuf, nlen, NULL, p->err)) != QP_OK)
        goto cleanup;
    if ((rc = check_file(p, src, buf, note, intended, neu)) != QP_OK)
        goto cleanup;
    for (size_t i = 0; i < ev.n; i++) {
        bool is_link = false;
        for (size_t k = 0; k < nl && !is_link; k++)
            is_link = ev.v[i].off >= links[k].offset &&
                      ev.v[i].off < (size_t)links[k].offset + links[k].len;
        p->nlinks += is_link;
    }
    p->nedits += ev.n;
    rc = edits_json(p, src, buf, fst.hash, &ev);

cleanup:
    free(ev.v);
    free(intended);
    qp_note_free(neu);
    qp_note_free(note);
    free(nbuf);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Sources                                                             */

typedef struct srcent {
    int64_t id;
    unsigned flags; /* 1: links, 2: Mentioned in lines */
} srcent;

typedef struct srcvec {
    srcent *v;
    size_t n, cap;
} srcvec;

static qp_rc src_add(plan *p, srcvec *s, int64_t id, unsigned flags)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        srcent *a = realloc(s->v, nc * sizeof *a);
        if (a == NULL)
            return oom(p);
        s->v = a;
        s->cap = nc;
    }
    s->v[s->n++] = (srcent){id, flags};
    return QP_OK;
}

static qp_rc src_query(plan *p, srcvec *s, const char *sql, const char *text, int64_t num,
                       unsigned flags)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(qp__store_db(p->st), sql, -1, &q, NULL);
    qp_rc rc = QP_OK;
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(p->st, src, "rename sources", p->err);
    if (text != NULL)
        sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(q, 1, num);
    while (rc == QP_OK && (src = sqlite3_step(q)) == SQLITE_ROW)
        rc = src_add(p, s, sqlite3_column_int64(q, 0), flags);
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(p->st, src, "rename sources", p->err);
    sqlite3_finalize(q);
    return rc;
}

static int srcent_cmp(const void *x, const void *y)
{
    const srcent *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* One pass per file, in id order, flags merged. */
static qp_rc run_sources(plan *p, srcvec *s)
{
    qp_rc rc = QP_OK;
    if (s->n > 0)
        qsort(s->v, s->n, sizeof *s->v, srcent_cmp);
    for (size_t i = 0; i < s->n && rc == QP_OK;) {
        int64_t id = s->v[i].id;
        unsigned fl = 0;
        while (i < s->n && s->v[i].id == id)
            fl |= s->v[i++].flags;
        const fent *f = find_id(p, id);
        if (f != NULL && f->is_note)
            rc = do_source(p, f, fl);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Setup per mode                                                      */

/* newLinkFormat and useMarkdownLinks, from the vault's settings snapshot. */
static qp_rc read_link_settings(plan *p)
{
    qp_vaultconf *c = qp_vault_conf(p->vault);
    switch (qp_vaultconf_link_format(c)) {
    case QP_LINK_FORMAT_RELATIVE:
        p->format = F_RELATIVE;
        break;
    case QP_LINK_FORMAT_ABSOLUTE:
        p->format = F_ABSOLUTE;
        break;
    default:
        p->format = F_SHORTEST;
        break;
    }
    p->markdown_links = qp_vaultconf_markdown_links(c);
    qp_vaultconf_free(c);
    return QP_OK;
}

/* A vault path the user may give as a destination: relative, no "..",
 * no empty or dot segments, no characters a link cannot carry. */
static qp_rc check_dest(plan *p, const char *to)
{
    if (to[0] == '\0' || to[0] == '/')
        return qp_error_set(p->err, QP_EINVAL, "invalid destination '%s': a vault-relative path",
                            to);
    const char *s = to;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || s[0] == '.')
            return qp_error_set(p->err, QP_EINVAL,
                                "invalid destination '%s': empty, '..' or hidden segment", to);
        s += n + (e != NULL);
        if (e != NULL && *s == '\0')
            break;
    }
    if (strpbrk(to, "#|^[]\\\n\r") != NULL)
        return qp_error_set(p->err, QP_EINVAL,
                            "invalid destination '%s': links cannot name a file with # | ^ [ ] "
                            "or \\",
                            to);
    if (qp_vault_ignored(p->vault, to))
        return qp_error_set(p->err, QP_EINVAL, "invalid destination '%s': the vault ignores it",
                            to);
    return QP_OK;
}

static bool disk_stat(plan *p, const char *rel, struct stat *sb)
{
    const char *root = qp_vault_root(p->vault);
    size_t n = strlen(root) + strlen(rel) + 2;
    char *full = malloc(n);
    if (full == NULL)
        return false;
    snprintf(full, n, "%s/%s", root, rel);
    bool e = stat(full, sb) == 0;
    free(full);
    return e;
}

static bool disk_is_dir(plan *p, const char *rel)
{
    struct stat sb;
    return disk_stat(p, rel, &sb) && S_ISDIR(sb.st_mode);
}

static bool disk_exists(plan *p, const char *rel)
{
    const char *root = qp_vault_root(p->vault);
    size_t n = strlen(root) + strlen(rel) + 2;
    char *full = malloc(n);
    struct stat sb;
    if (full == NULL)
        return false;
    snprintf(full, n, "%s/%s", root, rel);
    bool e = lstat(full, &sb) == 0;
    free(full);
    return e;
}

static qp_rc note_param(plan *p, json_t *params, const fent **out)
{
    const char *note = NULL;
    qp_rc rc = qp__query_param_string(&note, params, "note", true, p->err);
    *out = NULL;
    if (rc != QP_OK)
        return rc;
    const fent *f = find_path(p, note);
    if (f == NULL) {
        qp_arena *tmp = qp_arena_new();
        qp_link l;
        bool oomf = false;
        int64_t id = 0;
        if (tmp == NULL)
            return oom(p);
        if (qp_link_split(&l, tmp, note, strlen(note), &oomf) && l.target[0] != '\0')
            rc = resolve_in(p, false, l.target, "", 0, &id);
        qp_arena_free(tmp);
        if (rc != QP_OK)
            return rc;
        f = find_id(p, id);
    }
    if (f == NULL)
        return qp_error_set(p->err, QP_ENOTFOUND, "note not found: %s", note);
    *out = f;
    return QP_OK;
}

static qp_rc setup_path(plan *p, json_t *params, srcvec *s)
{
    const char *from = NULL, *to = NULL, *name = NULL;
    qp_rc rc;
    if ((rc = qp__query_param_string(&from, params, "path", true, p->err)) != QP_OK ||
        (rc = qp__query_param_string(&name, params, "name", false, p->err)) != QP_OK ||
        (rc = qp__query_param_string(&to, params, "to", name == NULL, p->err)) != QP_OK)
        return rc;
    if (name != NULL && to != NULL)
        return qp_error_set(p->err, QP_EINVAL, "give either to or name, not both");
    if (name != NULL && (name[0] == '\0' || strchr(name, '/') != NULL))
        return qp_error_set(p->err, QP_EINVAL, "param name: a file name without '/'");
    if (name != NULL)
        to = name; /* made a path in the folder of `path` below */
    char *nfrom = qp_text_nfc_arena(p->a, from, strlen(from));
    char *nto = qp_text_nfc_arena(p->a, to, strlen(to));
    if (nfrom == NULL || nto == NULL)
        return oom(p);
    size_t fl = strlen(nfrom), tl = strlen(nto);
    while (fl > 1 && nfrom[fl - 1] == '/')
        nfrom[--fl] = '\0';
    bool into = tl > 0 && nto[tl - 1] == '/';
    while (tl > 1 && nto[tl - 1] == '/')
        nto[--tl] = '\0';

    const fent *src = find_path(p, nfrom);
    size_t under = 0;
    if (src == NULL) {
        for (size_t i = 0; i < p->nfiles; i++)
            under += strncmp(p->files[i].path, nfrom, fl) == 0 && p->files[i].path[fl] == '/';
    }
    if (src == NULL && under == 0) {
        /* link text: "Mara Lindqvist" */
        json_t *np = json_pack("{s:s}", "note", from);
        if (np == NULL)
            return oom(p);
        rc = note_param(p, np, &src);
        json_decref(np);
        if (rc == QP_ENOTFOUND)
            return qp_error_set(p->err, QP_ENOTFOUND, "no file or folder %s in the index", from);
        if (rc != QP_OK)
            return rc;
        nfrom = qp_arena_strdup(p->a, src->path);
        if (nfrom == NULL)
            return oom(p);
        fl = strlen(nfrom);
    }
    p->folder = src == NULL;
    if (name != NULL) {
        const char *slash = strrchr(nfrom, '/');
        if (slash != NULL) {
            nto = cat(p, qp_arena_strndup(p->a, nfrom, (size_t)(slash - nfrom + 1)), nto);
            if (nto == NULL)
                return oom(p);
            tl = strlen(nto);
        }
    }
    /* into an existing folder: keep the name */
    if (into || (strcmp(nto, nfrom) != 0 && disk_is_dir(p, nto))) {
        nto = cat(p, cat(p, nto, "/"), base_of(nfrom));
        if (nto == NULL)
            return oom(p);
        tl = strlen(nto);
    }
    /* a note keeps its extension: "mv A.md B" means B.md */
    if (!p->folder && src->is_note && !ends_md(nto, tl)) {
        nto = cat(p, nto, ".md");
        if (nto == NULL)
            return oom(p);
        tl += 3;
    }
    if ((rc = check_dest(p, nto)) != QP_OK)
        return rc;
    if (strcmp(nfrom, nto) == 0)
        return qp_error_set(p->err, QP_EINVAL, "%s is already there", nfrom);
    if (p->folder && strncmp(nto, nfrom, fl) == 0 && nto[fl] == '/')
        return qp_error_set(p->err, QP_EINVAL, "cannot move folder %s into itself", nfrom);
    char *ffrom = qp_text_fold(nfrom, fl, NULL), *fto = qp_text_fold(nto, tl, NULL);
    bool case_only = ffrom && fto && strcmp(ffrom, fto) == 0;
    free(ffrom);
    free(fto);
    if (!case_only && disk_exists(p, nto))
        return qp_error_set(p->err, QP_EINVAL, "%s already exists", nto);
    p->from = nfrom;
    p->to = nto;

    /* the mapping */
    size_t nmoved = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        fent *f = &p->files[i];
        const char *np = NULL;
        if (!p->folder && strcmp(f->path, nfrom) == 0)
            np = nto;
        else if (p->folder && strncmp(f->path, nfrom, fl) == 0 && f->path[fl] == '/')
            np = cat(p, nto, f->path + fl);
        if (np == NULL)
            continue;
        f->moved = true;
        f->npath = np;
        f->nfolded = qp_text_fold_arena(p->a, np, strlen(np));
        const char *b = base_of(np);
        f->nname = qp_text_fold_arena(p->a, b, strlen(b));
        if (f->nfolded == NULL || f->nname == NULL)
            return oom(p);
        nmoved++;
    }
    /* affected names: old and new */
    p->names = calloc(nmoved * 2 + 1, sizeof *p->names);
    if (p->names == NULL)
        return oom(p);
    for (size_t i = 0; i < p->nfiles; i++) {
        const fent *f = &p->files[i];
        if (!f->moved)
            continue;
        p->names[p->nnames++] = f->name;
        if (strcmp(f->name, f->nname) != 0)
            p->names[p->nnames++] = f->nname;
    }
    qsort(p->names, p->nnames, sizeof *p->names, str_cmp);
    if ((rc = fmap_build(p, &p->after, true)) != QP_OK)
        return rc;

    /* sources: links by name, links into the move, the moved notes */
    for (size_t i = 0; i < p->nnames; i++) {
        if ((rc = src_query(p, s,
                            "SELECT src FROM links WHERE name1 = ?1 UNION SELECT src FROM "
                            "links WHERE name2 = ?1",
                            p->names[i], 0, 1)) != QP_OK)
            return rc;
    }
    for (size_t i = 0; i < p->nfiles; i++) {
        const fent *f = &p->files[i];
        if (!f->moved)
            continue;
        if ((rc = src_query(p, s, "SELECT DISTINCT src FROM links WHERE dst = ?1", NULL, f->id,
                            1)) != QP_OK ||
            (rc = src_add(p, s, f->id, 1)) != QP_OK)
            return rc;
    }

    /* a meeting whose title is its file name: Mentioned in lines follow */
    if (!p->folder && src->is_note && src->kind == QP_KIND_MEETING &&
        strcmp(base_of(nfrom), base_of(nto)) != 0) {
        char *buf = NULL;
        size_t len = 0;
        qp_file_stat fst;
        qp_note *n0 = NULL, *n1 = NULL;
        rc = qp_vault_read(p->vault, nfrom, QP_NOTE_MAX_SIZE, &buf, &len, &fst, p->err);
        if (rc == QP_OK && (rc = qp_note_parse(&n0, nfrom, buf, len, NULL, p->err)) == QP_OK)
            rc = qp_note_parse(&n1, nto, buf, len, NULL, p->err);
        if (rc == QP_OK && strcmp(qp_note_title(n0), qp_note_title(n1)) != 0) {
            const char *t0 = qp_note_title(n0);
            p->old_title_folded = qp_text_fold_arena(p->a, t0, strlen(t0));
            p->new_title = qp_arena_strdup(p->a, qp_note_title(n1));
            p->meeting_date = qp_note_date(n0) ? qp_arena_strdup(p->a, qp_note_date(n0)) : NULL;
            if (p->old_title_folded == NULL || p->new_title == NULL)
                rc = oom(p);
        }
        qp_note_free(n0);
        qp_note_free(n1);
        free(buf);
        if (rc == QP_ENOTFOUND)
            rc = qp_error_set(p->err, QP_ENOTFOUND, "%s is indexed but not on disk", nfrom);
        if (rc != QP_OK)
            return rc;
        if (p->old_title_folded != NULL) {
            sqlite3_stmt *q = NULL;
            int src2 = sqlite3_prepare_v2(qp__store_db(p->st),
                                          "SELECT count(*) FROM files WHERE title_folded = ?1 AND "
                                          "kind = 2 AND id <> ?2",
                                          -1, &q, NULL);
            if (src2 != SQLITE_OK)
                return qp__store_sqlite_error(p->st, src2, "meetings", p->err);
            sqlite3_bind_text(q, 1, p->old_title_folded, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, src->id);
            if (sqlite3_step(q) == SQLITE_ROW)
                p->title_shared = sqlite3_column_int64(q, 0) > 0;
            sqlite3_finalize(q);
            if ((rc = src_query(p, s,
                                "SELECT DISTINCT file FROM mention_lines WHERE title_folded = ?1",
                                p->old_title_folded, 0, 2)) != QP_OK)
                return rc;
        }
    }
    return QP_OK;
}

static qp_rc setup_note_part(plan *p, json_t *params, srcvec *s)
{
    const char *old = NULL, *to = NULL;
    qp_rc rc;
    const char *key = p->mode == M_HEADING ? "heading" : "block";
    if ((rc = note_param(p, params, &p->note)) != QP_OK ||
        (rc = qp__query_param_string(&old, params, key, true, p->err)) != QP_OK ||
        (rc = qp__query_param_string(&to, params, "to", true, p->err)) != QP_OK)
        return rc;
    if (!p->note->is_note)
        return qp_error_set(p->err, QP_EINVAL, "%s is not a note", p->note->path);
    if (p->mode == M_BLOCK) {
        if (old[0] == '^')
            old++;
        if (to[0] == '^')
            to++;
        if (to[0] == '\0' || strspn(to, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-") != strlen(to))
            return qp_error_set(p->err, QP_EINVAL,
                                "invalid block id '%s': Latin letters, digits and dashes only", to);
    } else {
        while (*to == ' ')
            to++;
        if (to[0] == '\0' || strpbrk(to, "#|^[]\n\r") != NULL)
            return qp_error_set(p->err, QP_EINVAL,
                                "invalid heading '%s': empty, or has # | ^ [ ] (links cannot "
                                "reach it)",
                                to);
    }
    p->new_text = qp_arena_strdup(p->a, to);

    /* the note's headings and blocks as the index has them, then as after */
    char *buf = NULL;
    size_t len = 0;
    qp_file_stat fst;
    qp_note *n = NULL;
    rc = qp_vault_read(p->vault, p->note->path, QP_NOTE_MAX_SIZE, &buf, &len, &fst, p->err);
    if (rc == QP_OK)
        rc = qp_note_parse(&n, p->note->path, buf, len, NULL, p->err);
    free(buf);
    if (rc != QP_OK)
        return rc;
    size_t nh = 0, nb = 0;
    const qp_heading *h = qp_note_headings(n, &nh);
    const qp_block_id *b = qp_note_blocks(n, &nb);
    p->h_before = qp_arena_alloc(p->a, (nh + 1) * sizeof *p->h_before);
    p->h_after = qp_arena_alloc(p->a, (nh + 1) * sizeof *p->h_after);
    p->b_before = qp_arena_alloc(p->a, (nb + 1) * sizeof *p->b_before);
    p->b_after = qp_arena_alloc(p->a, (nb + 1) * sizeof *p->b_after);
    if (!p->h_before || !p->h_after || !p->b_before || !p->b_after || !p->new_text) {
        qp_note_free(n);
        return oom(p);
    }
    p->nh = nh;
    p->nb = nb;
    if (p->mode == M_HEADING)
        p->old_key = qp__heading_key(old);
    else
        p->old_key = qp_text_fold(old, strlen(old), NULL);
    if (p->old_key == NULL) {
        qp_note_free(n);
        return oom(p);
    }
    int found = -1;
    for (size_t i = 0; i < nh; i++) {
        p->h_before[i] = (qp__heading_ref){h[i].level, qp_arena_strdup(p->a, h[i].text), h[i].line};
        p->h_after[i] = p->h_before[i];
        char *k = qp__heading_key(h[i].text);
        if (p->mode == M_HEADING && found < 0 && k && strcmp(k, p->old_key) == 0)
            found = (int)i;
        free(k);
    }
    for (size_t i = 0; i < nb; i++) {
        p->b_before[i] = (qp__block_ref){qp_arena_strdup(p->a, b[i].id), b[i].line};
        p->b_after[i] = p->b_before[i];
        char *k = qp_text_fold(b[i].id, strlen(b[i].id), NULL);
        if (p->mode == M_BLOCK && found < 0 && k && strcmp(k, p->old_key) == 0)
            found = (int)i;
        free(k);
    }
    qp_note_free(n);
    if (found < 0)
        return qp_error_set(p->err, QP_ENOTFOUND, "%s has no %s '%s'", p->note->path, key, old);
    if (p->mode == M_HEADING) {
        p->old_text = p->h_before[found].text;
        p->target_line = p->h_before[found].line;
        p->h_after[found].text = p->new_text;
    } else {
        p->old_text = p->b_before[found].id;
        p->target_line = p->b_before[found].line;
        p->b_after[found].id = p->new_text;
        for (size_t i = 0; i < nb; i++)
            if ((int)i != found && strcasecmp(p->b_before[i].id, p->new_text) == 0)
                return qp_error_set(p->err, QP_EINVAL, "refused: %s already has a block ^%s",
                                    p->note->path, p->new_text);
    }
    p->names = NULL;
    if ((rc = fmap_build(p, &p->after, true)) != QP_OK)
        return rc;
    if ((rc = src_add(p, s, p->note->id, 1)) != QP_OK)
        return rc;
    return src_query(p, s, "SELECT DISTINCT src FROM links WHERE dst = ?1", NULL, p->note->id, 1);
}

static qp_rc setup_tag(plan *p, json_t *params, srcvec *s)
{
    const char *old = NULL, *to = NULL;
    qp_rc rc;
    if ((rc = qp__query_param_string(&old, params, "tag", true, p->err)) != QP_OK ||
        (rc = qp__query_param_string(&to, params, "to", true, p->err)) != QP_OK)
        return rc;
    if (old[0] == '#')
        old++;
    if (to[0] == '#')
        to++;
    size_t tl = strlen(to);
    bool digits = true;
    for (size_t i = 0; i < tl; i++) {
        if (!tag_char(to[i]) || strchr("!$%&()*+.:;<=>?@^`{|}~", to[i]) != NULL)
            return qp_error_set(p->err, QP_EINVAL, "invalid tag '#%s'", to);
        digits = digits && isdigit((unsigned char)to[i]);
    }
    if (tl == 0 || digits || old[0] == '\0' || to[tl - 1] == '/')
        return qp_error_set(p->err, QP_EINVAL, "invalid tag '#%s'", to);
    p->tag_old = qp_text_fold(old, strlen(old), NULL);
    p->new_text = qp_arena_strdup(p->a, to);
    if (p->tag_old == NULL || p->new_text == NULL)
        return oom(p);
    if ((rc = fmap_build(p, &p->after, true)) != QP_OK)
        return rc;
    char *k1 = malloc(strlen(p->tag_old) + 2), *k2 = malloc(strlen(p->tag_old) + 3);
    if (k1 == NULL || k2 == NULL) {
        free(k1);
        free(k2);
        return oom(p);
    }
    sprintf(k1, "#%s", p->tag_old);
    sprintf(k2, "#%s/", p->tag_old);
    rc = src_query(p, s, "SELECT DISTINCT file FROM tags WHERE tag_folded = ?1", k1, 0, 1);
    if (rc == QP_OK)
        rc = src_query(
            p, s, "SELECT DISTINCT file FROM tags WHERE substr(tag_folded, 1, length(?1)) = ?1", k2,
            0, 1);
    free(k1);
    free(k2);
    return rc;
}

static int file_json_cmp(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    return strcmp(json_string_value(json_object_get(a, "path")),
                  json_string_value(json_object_get(b, "path")));
}

/* The files of the answer in path order (they were planned in index order). */
static qp_rc sort_files(plan *p)
{
    size_t n = json_array_size(p->out_files);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        return oom(p);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(p->out_files, i));
    qsort(v, n, sizeof *v, file_json_cmp);
    json_array_clear(p->out_files);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(p->out_files, v[i]) != 0)
            rc = oom(p);
    free(v);
    return rc;
}

qp_rc qp__rename_plan(json_t **out, qp_store *st, const qp_vault *vault, json_t *params,
                      qp_error *err)
{
    plan p;
    srcvec s = {0};
    qp_rc rc;
    const char *kind;

    *out = NULL;
    memset(&p, 0, sizeof p);
    p.st = st;
    p.vault = vault;
    p.err = err;
    if (vault == NULL)
        return qp_error_set(err, QP_EINVAL, "rename.plan needs the vault");
    if (json_object_get(params, "path") != NULL) {
        p.mode = M_PATH;
    } else if (json_object_get(params, "heading") != NULL) {
        p.mode = M_HEADING;
    } else if (json_object_get(params, "block") != NULL) {
        p.mode = M_BLOCK;
    } else if (json_object_get(params, "tag") != NULL) {
        p.mode = M_TAG;
    } else {
        return qp_error_set(err, QP_EINVAL, "rename.plan needs one of path, heading, block, tag");
    }
    p.a = qp_arena_new();
    p.out_files = json_array();
    p.out_resolved = json_array();
    if (p.a == NULL || p.out_files == NULL || p.out_resolved == NULL) {
        rc = oom(&p);
        goto cleanup;
    }
    if ((rc = read_link_settings(&p)) != QP_OK || (rc = load_files(&p)) != QP_OK ||
        (rc = fmap_build(&p, &p.before, false)) != QP_OK)
        goto cleanup;
    switch (p.mode) {
    case M_PATH:
        rc = setup_path(&p, params, &s);
        kind = p.folder ? "folder" : "file";
        break;
    case M_HEADING:
        rc = setup_note_part(&p, params, &s);
        kind = "heading";
        break;
    case M_BLOCK:
        rc = setup_note_part(&p, params, &s);
        kind = "block";
        break;
    default:
        rc = setup_tag(&p, params, &s);
        kind = "tag";
        break;
    }
    if (rc == QP_OK)
        rc = run_sources(&p, &s);
    if (rc == QP_OK)
        rc = sort_files(&p);
    if (rc != QP_OK)
        goto cleanup;

    json_t *renames = json_array();
    if (renames == NULL) {
        rc = oom(&p);
        goto cleanup;
    }
    if (p.mode == M_PATH) {
        json_t *r = json_pack("{s:s, s:s, s:b}", "from", p.from, "to", p.to, "folder", p.folder);
        if (r == NULL || json_array_append_new(renames, r) != 0) {
            json_decref(renames);
            rc = oom(&p);
            goto cleanup;
        }
    }
    const char *fmt = p.format == F_RELATIVE   ? "relative"
                      : p.format == F_ABSOLUTE ? "absolute"
                                               : "shortest";
    *out = json_pack("{s:s, s:o, s:O, s:I, s:I, s:O, s:s, s:b}", "kind", kind, "renames", renames,
                     "files", p.out_files, "links", (json_int_t)p.nlinks, "edits",
                     (json_int_t)p.nedits, "resolved", p.out_resolved, "link_format", fmt,
                     "markdown_links", p.markdown_links);
    if (*out == NULL)
        rc = oom(&p);

cleanup:
    free(s.v);
    json_decref(p.out_files);
    json_decref(p.out_resolved);
    free(p.names);
    free(p.old_key);
    free(p.tag_old);
    fmap_free(&p.before);
    fmap_free(&p.after);
    free(p.files);
    qp_arena_free(p.a);
    return rc;
}
