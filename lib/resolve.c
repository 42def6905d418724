/*
 * resolve — Obsidian's link resolution (spec/links.md §2.1) and subpath
 * matching (§7), as pure functions over a candidate lookup.
 *
 * Everything compares folded strings (qp_text_fold: NFC + full Unicode
 * lower-case). Ties between equally long suffix candidates are broken by
 * the byte order of the path: Obsidian keeps vault-load order there, which
 * is not reproducible, and quipu prefers a deterministic answer.
 */

#include <stdlib.h>
#include <string.h>

#include "quipu/text.h"
#include "resolve_int.h"

static bool ends_with(const char *s, size_t slen, const char *suffix, size_t n)
{
    return slen >= n && memcmp(s + slen - n, suffix, n) == 0;
}

/* JavaScript compares String.length: UTF-16 code units. */
static size_t utf16_len(const char *s)
{
    return qp_text_units(s, strlen(s), 16);
}

static const char *last_segment(const char *s)
{
    const char *slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

qp_rc qp__link_names(char **name1, char **name2, const char *linkpath)
{
    *name1 = NULL;
    *name2 = NULL;
    if (linkpath[0] == '\0')
        return QP_OK;
    const char *seg = last_segment(linkpath);
    size_t flen = 0;
    char *folded = qp_text_fold(seg, strlen(seg), &flen);
    if (!folded)
        return QP_ENOMEM;
    char *with_md = malloc(flen + 4);
    if (!with_md) {
        free(folded);
        return QP_ENOMEM;
    }
    memcpy(with_md, folded, flen);
    memcpy(with_md + flen, ".md", 4);
    if (strchr(folded, '.'))
        *name1 = folded;
    else
        free(folded);
    *name2 = with_md;
    return QP_OK;
}

char *qp__unresolved_key(const char *linkpath)
{
    size_t n = strlen(linkpath);
    if (n >= 3 && linkpath[n - 3] == '.' && (linkpath[n - 2] | 0x20) == 'm' &&
        (linkpath[n - 1] | 0x20) == 'd')
        n -= 3;
    char *k = malloc(n + 1);
    if (!k)
        return NULL;
    memcpy(k, linkpath, n);
    k[n] = '\0';
    return k;
}

/* Rebuilds a "./x" or "../x" link against the source folder (folded). */
static char *rebuild_relative(const char *folder, const char *lp)
{
    size_t fl = strlen(folder), ll = strlen(lp);
    char *buf = malloc(fl + ll + 2);
    if (!buf)
        return NULL;
    memcpy(buf, folder, fl);
    size_t n = fl;
    const char *p = lp;
    for (;;) {
        if (strncmp(p, "./", 2) == 0) {
            p += 2;
        } else if (strncmp(p, "../", 3) == 0) {
            p += 3;
            while (n > 0 && buf[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' itself */
        } else {
            break;
        }
    }
    if (n > 0)
        buf[n++] = '/';
    size_t rest = strlen(p);
    memcpy(buf + n, p, rest);
    buf[n + rest] = '\0';
    return buf;
}

typedef struct ranked {
    const qp__cand *c;
    bool group_a;
    size_t len;
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->group_a != b->group_a)
        return a->group_a ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return strcmp(a->c->path, b->c->path);
}

/* One piece: the steps of spec/links.md §2.1 in their order, sharing the
 * folded link path, its folder and the ranked candidates; split, every step
 * would take all of them as parameters. */
qp_rc qp__resolve(int64_t *out, const char *linkpath, const char *src_path, int64_t src_id,
                  qp__cand_fn cands, void *payload, qp_error *err)
{
    qp_rc rc = QP_OK;
    char *lp = NULL, *folder = NULL, *full = NULL, *rebuilt = NULL;
    ranked *rk = NULL;
    *out = 0;

    if (linkpath[0] == '\0') {
        *out = src_id;
        return QP_OK;
    }
    size_t lplen = 0;
    lp = qp_text_fold(linkpath, strlen(linkpath), &lplen);
    if (!lp)
        goto oom;

    /* Step 2: candidates by file name. */
    const char *seg = last_segment(lp);
    bool added_md = false;
    const qp__cand *cv = NULL;
    size_t cn = 0;
    if (strchr(seg, '.')) {
        rc = cands(&cv, &cn, seg, payload, err);
        if (rc != QP_OK)
            goto cleanup;
    }
    if (cn == 0) {
        size_t sl = strlen(seg);
        char *name = malloc(sl + 4);
        if (!name)
            goto oom;
        memcpy(name, seg, sl);
        memcpy(name + sl, ".md", 4);
        rc = cands(&cv, &cn, name, payload, err);
        free(name);
        if (rc != QP_OK)
            goto cleanup;
        added_md = true;
    }
    if (cn == 0)
        goto cleanup;

    /* Step 3: a bare name with a single candidate. */
    if (!strchr(lp, '/') && cn == 1) {
        *out = cv[0].id;
        goto cleanup;
    }

    size_t folder_len = 0;
    {
        const char *slash = strrchr(src_path, '/');
        size_t fl = slash ? (size_t)(slash - src_path) : 0;
        folder = qp_text_fold(src_path, fl, &folder_len);
        if (!folder)
            goto oom;
    }

    /* Step 4: relative links are rebuilt against the source folder. */
    const char *path = lp;
    if (strncmp(lp, "./", 2) == 0 || strncmp(lp, "../", 3) == 0) {
        rebuilt = rebuild_relative(folder, lp);
        if (!rebuilt)
            goto oom;
        path = rebuilt;
    }

    /* Step 5: exact vault path (one leading '/' stripped). */
    bool rooted = path[0] == '/';
    const char *exact = rooted ? path + 1 : path;
    size_t el = strlen(exact);
    full = malloc(el + 4);
    if (!full)
        goto oom;
    memcpy(full, exact, el);
    memcpy(full + el, added_md ? ".md" : "", added_md ? 4 : 1);
    size_t full_len = strlen(full);
    for (size_t i = 0; i < cn; i++) {
        if (strcmp(cv[i].path_folded, full) == 0) {
            *out = cv[i].id;
            goto cleanup;
        }
    }

    /* Step 6: root-absolute links never fall back to fuzzy matching. */
    if (rooted)
        goto cleanup;

    /* Step 7: suffix match; group A = under the source folder string. */
    rk = calloc(cn, sizeof *rk);
    if (!rk)
        goto oom;
    size_t nr = 0;
    for (size_t i = 0; i < cn; i++) {
        const char *pf = cv[i].path_folded;
        size_t pl = strlen(pf);
        if (!ends_with(pf, pl, full, full_len))
            continue;
        rk[nr].c = &cv[i];
        rk[nr].group_a = strncmp(pf, folder, folder_len) == 0;
        rk[nr].len = utf16_len(cv[i].path);
        nr++;
    }
    if (nr > 0) {
        qsort(rk, nr, sizeof *rk, ranked_cmp);
        *out = rk[0].c->id;
    }
    goto cleanup;

oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory resolving a link");
cleanup:
    free(rk);
    free(full);
    free(rebuilt);
    free(folder);
    free(lp);
    return rc;
}

/* ---- subpaths (§7) ---- */

static bool heading_punct(unsigned char c)
{
    return c != '\0' && strchr("!\"#$%&()*+,.:;<=>?@^`{|}~/[]\\\r\n", c) != NULL;
}

char *qp__heading_key(const char *text)
{
    size_t n = strlen(text);
    char *tmp = malloc(n + 1);
    if (!tmp)
        return NULL;
    size_t o = 0;
    bool pending_space = false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = qp_text_decode(text + i, n - i, &cp);
        if ((l == 1 && heading_punct((unsigned char)text[i])) || qp_text_is_space(cp)) {
            pending_space = o > 0;
        } else {
            if (pending_space)
                tmp[o++] = ' ';
            pending_space = false;
            memcpy(tmp + o, text + i, l);
            o += l;
        }
        i += l;
    }
    char *key = qp_text_fold(tmp, o, NULL);
    free(tmp);
    return key;
}

static bool block_find(const char *id, const qp__block_ref *b, size_t nb, uint32_t *line)
{
    char *want = qp_text_fold(id, strlen(id), NULL);
    if (!want)
        return false;
    bool found = false;
    for (size_t i = 0; i < nb && !found; i++) {
        char *have = qp_text_fold(b[i].id, strlen(b[i].id), NULL);
        if (have && strcmp(have, want) == 0) {
            *line = b[i].line;
            found = true;
        }
        free(have);
    }
    free(want);
    return found;
}

bool qp__subpath_find(const char *subpath, const qp__heading_ref *h, size_t nh,
                      const qp__block_ref *b, size_t nb, uint32_t *line)
{
    *line = 0;
    if (!subpath || subpath[0] == '\0' || strcmp(subpath, "#") == 0)
        return true;
    const char *p = subpath[0] == '#' ? subpath + 1 : subpath;
    if (p[0] == '^')
        return block_find(p + 1, b, nb, line);

    /* "#A#B": A anywhere, then the next heading deeper than the last match. */
    size_t pos = 0;
    int level = 0;
    bool any = false;
    while (*p) {
        const char *hash = strchr(p, '#');
        size_t plen = hash ? (size_t)(hash - p) : strlen(p);
        char *part = malloc(plen + 1);
        if (!part)
            return false;
        memcpy(part, p, plen);
        part[plen] = '\0';
        char *want = qp__heading_key(part);
        free(part);
        if (!want)
            return false;
        p += plen;
        if (*p == '#')
            p++;
        if (want[0] == '\0') { /* "#A##B": an empty part matches nothing */
            free(want);
            continue;
        }
        bool found = false;
        for (size_t i = pos; i < nh && !found; i++) {
            if (any && h[i].level <= level)
                continue;
            char *have = qp__heading_key(h[i].text);
            if (have && strcmp(have, want) == 0) {
                found = true;
                pos = i + 1;
                level = h[i].level;
                *line = h[i].line;
            }
            free(have);
        }
        free(want);
        if (!found) {
            *line = 0;
            return false;
        }
        any = true;
    }
    return any;
}
