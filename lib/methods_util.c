/*
 * methods_util — what the completion, symbol, problem and list methods
 * share (see methods_int.h): name matching, the `note` / limit / cursor
 * params, per-call statements and a file's headings and block ids.
 *
 * Matching works on folded text (qp_text_fold: NFC + full Unicode
 * lower-case), the key quipu compares names with everywhere, so a name
 * that resolves as a link also completes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "methods_int.h"
#include "quipu/arena.h"
#include "quipu/links.h"
#include "quipu/note.h"
#include "quipu/text.h"

/* ---- matching ---- */

/* Candidates are folded, valid UTF-8 and mostly ASCII: the scans below
 * look for the query's first byte with memchr() and decode only around a
 * hit. An ASCII byte never occurs inside a multi-byte sequence, so a byte
 * hit is a code point hit. */

static bool ascii_word(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_';
}

/* Whether the code point that ends just before c + i (i > 0) is a word
 * character: back over the continuation bytes to its first byte. */
static bool word_before(const char *c, size_t i)
{
    unsigned char b = (unsigned char)c[i - 1];
    if (b < 0x80)
        return ascii_word(b);
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)c[k] & 0xC0) == 0x80)
        k--;
    uint32_t cp;
    qp_text_decode(c + k, i - k, &cp);
    return qp_text_is_word(cp);
}

bool qp__word_start(const char *c, size_t i)
{
    return i == 0 || !word_before(c, i);
}

/* A word starts at the beginning or after a code point that is not a
 * word character (space, punctuation, '/'). The beginning is the prefix
 * test of qp__match_of. */
static bool word_match(const char *c, size_t clen, const char *q, size_t qlen)
{
    for (const char *p = c + 1; p + qlen <= c + clen;) {
        p = memchr(p, q[0], (size_t)(c + clen - p) - qlen + 1);
        if (p == NULL)
            return false;
        if (!word_before(c, (size_t)(p - c)) && memcmp(p, q, qlen) == 0)
            return true;
        p++;
    }
    return false;
}

/* q's code points appear in c in order. */
static bool subsequence(const char *c, size_t clen, const char *q, size_t qlen)
{
    size_t i = 0;
    for (size_t k = 0; k < qlen;) {
        if ((unsigned char)q[k] < 0x80) {
            const char *p = i < clen ? memchr(c + i, q[k], clen - i) : NULL;
            if (p == NULL)
                return false;
            i = (size_t)(p - c) + 1;
            k++;
            continue;
        }
        uint32_t want;
        size_t qn = qp_text_decode(q + k, qlen - k, &want);
        bool found = false;
        while (i < clen && !found) {
            uint32_t have;
            size_t n = qp_text_decode(c + i, clen - i, &have);
            found = n == qn && memcmp(c + i, q + k, n) == 0;
            i += n;
        }
        if (!found)
            return false;
        k += qn;
    }
    return true;
}

/* q's code points appear in c in order, the first at the start of a
 * word ("lnok" finds "Lena Okafor"; "le" does not find "Priya Valdane"). */
static bool fuzzy_match(const char *c, size_t clen, const char *q, size_t qlen)
{
    uint32_t first;
    size_t fn = qp_text_decode(q, qlen, &first);
    for (const char *p = c; p + fn <= c + clen;) {
        p = memchr(p, q[0], (size_t)(c + clen - p) - fn + 1);
        if (p == NULL)
            return false;
        size_t i = (size_t)(p - c);
        if (memcmp(p, q, fn) == 0 && (i == 0 || !word_before(c, i)) &&
            subsequence(p + fn, clen - i - fn, q + fn, qlen - fn))
            return true;
        p++;
    }
    return false;
}

qp__match qp__match_of(const char *cand, size_t clen, const char *q, size_t qlen)
{
    if (qlen == 0)
        return QP__MATCH_PREFIX;
    if (qlen > clen)
        return QP__MATCH_NONE;
    if (memcmp(cand, q, qlen) == 0)
        return qlen == clen ? QP__MATCH_EXACT : QP__MATCH_PREFIX;
    if (word_match(cand, clen, q, qlen))
        return QP__MATCH_WORD;
    if (fuzzy_match(cand, clen, q, qlen))
        return QP__MATCH_FUZZY;
    return QP__MATCH_NONE;
}

const char *qp__match_name(qp__match m)
{
    switch (m) {
    case QP__MATCH_EXACT:
        return "exact";
    case QP__MATCH_PREFIX:
        return "prefix";
    case QP__MATCH_WORD:
        return "word";
    case QP__MATCH_FUZZY:
        return "fuzzy";
    case QP__MATCH_NONE:
        break;
    }
    return "none";
}

char *qp__mfold_param(const char *s, char strip, size_t *outlen)
{
    if (!s)
        s = "";
    if (strip && s[0] == strip)
        s++;
    size_t len = 0;
    char *f = qp_text_fold(s, strlen(s), &len);
    if (f && outlen)
        *outlen = len;
    return f;
}

/* ---- notes ---- */

void qp__mnote_free(qp__mnote *n)
{
    if (!n)
        return;
    free(n->path);
    free(n->title);
    free(n->date);
    memset(n, 0, sizeof *n);
}

const char *qp__mnote_kind(const qp__mnote *n)
{
    return n->is_note ? qp_note_kind_name((qp_note_kind)n->kind) : "attachment";
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

qp_rc qp__mnote_get(qp__mnote *out, qp_store *st, int64_t id, qp_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = NULL;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_FILE_INFO, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    int src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        sqlite3_reset(s);
        if (src == SQLITE_DONE)
            return qp_error_set(err, QP_ENOTFOUND, "file %lld is not indexed", (long long)id);
        return qp__store_sqlite_error(st, src, "files", err);
    }
    bool ok = qp__mnote_from_row(out, id, s, 0);
    sqlite3_reset(s);
    return ok ? QP_OK : qp_error_set(err, QP_ENOMEM, "out of memory");
}

bool qp__mnote_from_row(qp__mnote *out, int64_t id, sqlite3_stmt *s, int c)
{
    out->id = id;
    out->path = col_dup(s, c);
    out->is_note = sqlite3_column_int(s, c + 1) != 0;
    out->kind = sqlite3_column_int(s, c + 2);
    out->title = col_dup(s, c + 3);
    out->date = col_dup(s, c + 4);
    if (!out->path || (!out->title && sqlite3_column_type(s, c + 3) != SQLITE_NULL) ||
        (!out->date && sqlite3_column_type(s, c + 4) != SQLITE_NULL)) {
        qp__mnote_free(out);
        return false;
    }
    return true;
}

qp_rc qp__mparam_note(qp__mnote *out, qp_store *st, json_t *params, qp_error *err)
{
    const char *note = NULL;
    memset(out, 0, sizeof *out);
    qp_rc rc = qp__query_param_string(&note, params, "note", true, err);
    if (rc != QP_OK)
        return rc;
    int64_t id = 0;
    sqlite3_stmt *s = NULL;
    if ((rc = qp__store_stmt(&s, st, QP__S_FILE_BY_PATH, err)) != QP_OK)
        return rc;
    sqlite3_bind_text(s, 1, note, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "files", err);
    if (id == 0) {
        /* Link text, with or without [[ ]]; a subpath or display is ignored. */
        const char *p = note;
        size_t n = strlen(p);
        if (n >= 4 && strncmp(p, "[[", 2) == 0 && strncmp(p + n - 2, "]]", 2) == 0) {
            p += 2;
            n -= 4;
        }
        qp_arena *a = qp_arena_new();
        if (!a)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        qp_link l;
        memset(&l, 0, sizeof l);
        bool oom = false;
        if (qp_link_split(&l, a, p, n, &oom) && l.target && l.target[0])
            rc = qp__resolve(&id, l.target, "", 0, qp__store_cands, st, err);
        else if (oom)
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        qp_arena_free(a);
        if (rc != QP_OK)
            return rc;
    }
    if (id == 0)
        return qp_error_set(err, QP_ENOTFOUND, "note not found: %s", note);
    return qp__mnote_get(out, st, id, err);
}

/* ---- params ---- */

qp_rc qp__mparam_size(size_t *out, json_t *params, const char *name, size_t def, size_t min,
                      size_t max, qp_error *err)
{
    json_t *v = json_object_get(params, name);
    *out = def;
    if (!v || json_is_null(v))
        return QP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
        json_integer_value(v) > (json_int_t)max)
        return qp_error_set(err, QP_EINVAL, "param %s: expected an integer from %zu to %zu", name,
                            min, max);
    *out = (size_t)json_integer_value(v);
    return QP_OK;
}

qp_rc qp__mparam_cursor(size_t *out, json_t *params, qp_error *err)
{
    json_t *v = json_object_get(params, "cursor");
    *out = 0;
    if (!v || json_is_null(v))
        return QP_OK;
    const char *s = json_string_value(v);
    char *end = NULL;
    unsigned long long n = s ? strtoull(s, &end, 10) : 0;
    if (!s || !s[0] || *end != '\0' || s[0] == '-' || n > SIZE_MAX / 2)
        return qp_error_set(err, QP_EINVAL, "param cursor: expected a cursor from a previous page");
    *out = (size_t)n;
    return QP_OK;
}

bool qp__mset_next_cursor(json_t *res, size_t offset, size_t returned, size_t total)
{
    if (offset + returned >= total)
        return true;
    char buf[32];
    snprintf(buf, sizeof buf, "%zu", offset + returned);
    return json_object_set_new(res, "next_cursor", json_string(buf)) == 0;
}

/* ---- statements and rows ---- */

qp_rc qp__mprepare(sqlite3_stmt **out, qp_store *st, const char *sql, qp_error *err)
{
    *out = NULL;
    int src = sqlite3_prepare_v2(qp__store_db(st), sql, -1, out, NULL);
    if (src != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return qp__store_sqlite_error(st, src, "prepare", err);
    }
    return QP_OK;
}

const char *qp__mtime_iso(char *buf, size_t size, int64_t mtime_ns)
{
    time_t t = (time_t)(mtime_ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
    return buf;
}

qp_rc qp__links_to_count(int64_t *out, sqlite3_stmt **stmt, qp_store *st, int64_t id, qp_error *err)
{
    *out = 0;
    if (!*stmt) {
        qp_rc rc = qp__mprepare(stmt, st,
                                "SELECT (SELECT count(*) FROM links WHERE dst = ?1) -"
                                " (SELECT count(*) FROM links WHERE src = ?1 AND dst = ?1)",
                                err);
        if (rc != QP_OK)
            return rc;
    }
    sqlite3_reset(*stmt);
    sqlite3_bind_int64(*stmt, 1, id);
    int src = sqlite3_step(*stmt);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(*stmt, 0);
    sqlite3_reset(*stmt);
    return src == SQLITE_ROW ? QP_OK : qp__store_sqlite_error(st, src, "links", err);
}

void qp__mrefs_free(qp__mrefs *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nstrs; i++)
        free(r->strs[i]);
    free(r->strs);
    free(r->h);
    free(r->b);
    memset(r, 0, sizeof *r);
}

static bool keep_str(qp__mrefs *r, char *s, size_t *cap)
{
    if (!s)
        return false;
    if (r->nstrs == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **nv = realloc(r->strs, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return false;
        }
        r->strs = nv;
        *cap = nc;
    }
    r->strs[r->nstrs++] = s;
    return true;
}

qp_rc qp__mrefs_load(qp__mrefs *out, qp_store *st, int64_t id, qp_error *err)
{
    qp__mrefs r;
    size_t scap = 0, hcap = 0, bcap = 0;
    int src;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);

    sqlite3_stmt *s = NULL;
    qp_rc rc = qp__store_stmt(&s, st, QP__S_HEADINGS_OF, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (r.nh == hcap) {
            hcap = hcap ? hcap * 2 : 16;
            qp__heading_ref *nv = realloc(r.h, hcap * sizeof *nv);
            if (!nv)
                break;
            r.h = nv;
        }
        const unsigned char *txt = sqlite3_column_text(s, 1);
        if (!keep_str(&r, strdup(txt ? (const char *)txt : ""), &scap))
            break;
        r.h[r.nh++] = (qp__heading_ref){sqlite3_column_int(s, 0), r.strs[r.nstrs - 1],
                                        (uint32_t)sqlite3_column_int64(s, 2)};
    }
    sqlite3_reset(s);
    if (src == SQLITE_ROW)
        goto oom;
    if (src != SQLITE_DONE) {
        qp__mrefs_free(&r);
        return qp__store_sqlite_error(st, src, "headings", err);
    }

    if ((rc = qp__store_stmt(&s, st, QP__S_BLOCKS_OF, err)) != QP_OK) {
        qp__mrefs_free(&r);
        return rc;
    }
    sqlite3_bind_int64(s, 1, id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (r.nb == bcap) {
            bcap = bcap ? bcap * 2 : 16;
            qp__block_ref *nv = realloc(r.b, bcap * sizeof *nv);
            if (!nv)
                break;
            r.b = nv;
        }
        const unsigned char *txt = sqlite3_column_text(s, 0);
        if (!keep_str(&r, strdup(txt ? (const char *)txt : ""), &scap))
            break;
        r.b[r.nb++] = (qp__block_ref){r.strs[r.nstrs - 1], (uint32_t)sqlite3_column_int64(s, 1)};
    }
    sqlite3_reset(s);
    if (src == SQLITE_ROW)
        goto oom;
    if (src != SQLITE_DONE) {
        qp__mrefs_free(&r);
        return qp__store_sqlite_error(st, src, "blocks", err);
    }
    *out = r;
    return QP_OK;
oom:
    qp__mrefs_free(&r);
    return qp_error_set(err, QP_ENOMEM, "out of memory");
}

/* Tries "#H", then "#Parent#H" with the nearest ancestor, then the whole
 * ancestor chain. */
char *qp__heading_subpath(const qp__mrefs *r, size_t i)
{
    size_t cap = 1, nanc = 0;
    size_t *anc = calloc(r->nh + 1, sizeof *anc);
    if (!anc)
        return NULL;
    int level = r->h[i].level;
    for (size_t k = i; k-- > 0;)
        if (r->h[k].level < level) {
            anc[nanc++] = k;
            level = r->h[k].level;
        }
    for (size_t k = 0; k <= r->nh; k++)
        cap += (k < r->nh ? strlen(r->h[k].text) : 0) + 1;
    char *buf = malloc(cap);
    if (!buf) {
        free(anc);
        return NULL;
    }
    /* Try with 0 ancestors, then 1, then all. */
    size_t tries[3] = {0, nanc > 0 ? 1 : 0, nanc};
    for (int t = 0; t < 3; t++) {
        size_t w = 0;
        for (size_t k = tries[t]; k-- > 0;) {
            size_t l = strlen(r->h[anc[k]].text);
            buf[w++] = '#';
            memcpy(buf + w, r->h[anc[k]].text, l);
            w += l;
        }
        size_t l = strlen(r->h[i].text);
        buf[w++] = '#';
        memcpy(buf + w, r->h[i].text, l);
        w += l;
        buf[w] = '\0';
        uint32_t line = 0;
        if (qp__subpath_find(buf, r->h, r->nh, r->b, r->nb, &line) && line == r->h[i].line)
            break;
        if (t == 2) { /* unreachable exactly: the plain form is the best link */
            snprintf(buf, cap, "#%s", r->h[i].text);
        }
    }
    free(anc);
    return buf;
}

void qp__msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) /* an empty array may be NULL, which qsort() must not get */
        qsort(base, n, size, cmp);
}

qp_rc qp__msubpath_find(bool *found, uint32_t *line, const char *subpath, const qp__mrefs *r,
                        qp_error *err)
{
    *found = qp__subpath_find(subpath, r->h, r->nh, r->b, r->nb, line);
    if (*found)
        return QP_OK;
    /* qp__subpath_find() answers false when an allocation fails too: a
     * miss is asked again, and an answer that changes was that failure. */
    uint32_t again = 0;
    if (qp__subpath_find(subpath, r->h, r->nh, r->b, r->nb, &again))
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    return QP_OK;
}
