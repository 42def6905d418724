/*
 * mentions — find a note's names in another note's text (spec/links.md
 * §4.3): case-insensitive with full Unicode lower-casing, and no word
 * character (letter, mark, digit, '_') directly before or after a match.
 *
 * The text is folded one code point at a time into a buffer that remembers,
 * for each folded byte, the original offset of the code point it came from;
 * matches are found in the folded buffer and mapped back, so line and
 * column are those of the source. ASCII bytes fold without a call.
 */

/* memmem(): glibc's finds a name in a few passes of its length where a
 * byte-at-a-time Horspool stopped every few bytes on common letters. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mentions_int.h"
#include "quipu/text.h"

typedef struct folded {
    char *buf;
    size_t *orig; /* orig[k]: source offset of the code point folded byte k came from */
    bool *start;  /* start[k]: folded byte k begins a source code point's folding */
    size_t len, cap;
} folded;

static bool grow(folded *f, size_t need)
{
    if (f->len + need + 1 <= f->cap)
        return true;
    size_t cap = f->cap ? f->cap : 256;
    while (cap < f->len + need + 1)
        cap *= 2;
    char *b = realloc(f->buf, cap);
    if (!b)
        return false;
    f->buf = b;
    size_t *o = realloc(f->orig, cap * sizeof *o);
    if (!o)
        return false;
    f->orig = o;
    bool *s = realloc(f->start, cap * sizeof *s);
    if (!s)
        return false;
    f->start = s;
    f->cap = cap;
    return true;
}

static bool fold_text(folded *f, const char *text, size_t len)
{
    if (!grow(f, len))
        return false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            f->buf[f->len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            f->orig[f->len] = i;
            f->start[f->len] = true;
            f->len++;
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = qp_text_decode(text + i, len - i, &cp);
        size_t fl = 0;
        char *fc = qp_text_fold(text + i, l, &fl);
        if (!fc)
            return false;
        if (!grow(f, fl)) {
            free(fc);
            return false;
        }
        for (size_t k = 0; k < fl; k++) {
            f->buf[f->len] = fc[k];
            f->orig[f->len] = i;
            f->start[f->len] = k == 0;
            f->len++;
        }
        free(fc);
        i += l;
    }
    f->buf[f->len] = '\0';
    return true;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const qp__mention_hit *a = pa, *b = pb;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return a->len > b->len ? -1 : a->len < b->len ? 1 : 0;
}

/* ASCII text folds byte for byte (A-Z to a-z), so offsets need no map:
 * the common case (most notes) skips the per-byte bookkeeping. Eight
 * bytes at a time: a byte's high bit after adding 0x3f says it is >= 'A',
 * after adding 0x25 that it is > 'Z' (no carry crosses a byte, all are
 * below 0x80), and the difference moved to bit 5 is the case bit.
 * *ascii false, with nothing kept, when the text is not all ASCII; false
 * only when out of memory. */
static bool fold_ascii(folded *f, const char *text, size_t len, bool *ascii)
{
    const uint64_t hi = 0x8080808080808080u, ge_a = 0x3f3f3f3f3f3f3f3fu, gt_z = 0x2525252525252525u;
    char *buf = malloc(len + 1);
    size_t i = 0;
    *ascii = false;
    if (!buf)
        return false;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, text + i, 8);
        if (x & hi)
            goto not_ascii;
        x |= (((x + ge_a) & ~(x + gt_z)) & hi) >> 2;
        memcpy(buf + i, &x, 8);
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80)
            goto not_ascii;
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    buf[len] = '\0';
    f->buf = buf;
    f->len = len;
    *ascii = true;
    return true;
not_ascii:
    free(buf);
    return true;
}

/* The hits found so far. */
typedef struct hitlist {
    qp__mention_hit *v;
    size_t n, cap;
} hitlist;

/* A match of a name of nl folded bytes at folded offset k of f: kept
 * when it covers whole code points and no word character touches it.
 * False only when out of memory. */
static bool consider(hitlist *h, const folded *f, bool ascii, const char *text, size_t len,
                     size_t k, size_t nl)
{
    size_t ke = k + nl;
    if (!ascii && (!f->start[k] || (ke < f->len && !f->start[ke])))
        return true; /* inside one code point's folding */
    size_t so = ascii ? k : f->orig[k];
    size_t se = ke < f->len ? (ascii ? ke : f->orig[ke]) : len;
    uint32_t cp;
    if (so > 0) {
        qp_text_decode_before(text, so, &cp);
        if (qp_text_is_word(cp))
            return true;
    }
    if (se < len) {
        qp_text_decode(text + se, len - se, &cp);
        if (qp_text_is_word(cp))
            return true;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        qp__mention_hit *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return false;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n].offset = so;
    h->v[h->n].len = se - so;
    h->n++;
    return true;
}

/* The bytes every name starts with (a note's aliases usually repeat the
 * start of its name: "wanda thorne", "wanda t."). */
static size_t common_prefix(const char *const *names, size_t nnames)
{
    size_t l = strlen(names[0]);
    for (size_t i = 1; i < nnames && l; i++) {
        size_t k = 0;
        while (k < l && names[i][k] == names[0][k])
            k++;
        l = k;
    }
    return l;
}

qp_rc qp__mentions_find(qp__mention_hit **out, size_t *n, const char *text, size_t len,
                        const char *const *names, size_t nnames, qp_error *err)
{
    qp_rc rc = QP_OK;
    folded f = {0};
    hitlist h = {0};
    *out = NULL;
    *n = 0;

    bool ascii;
    if (!fold_ascii(&f, text, len, &ascii) || (!ascii && !fold_text(&f, text, len)))
        goto oom;
    const char *end = f.buf + f.len;
    size_t pl = nnames > 1 ? common_prefix(names, nnames) : 0;
    if (pl >= 2) {
        /* One pass for all the names: each occurrence of a name is one of
         * their common start, so the text is searched once, not per name. */
        for (const char *p = f.buf; p < end;) {
            const char *m = memmem(p, (size_t)(end - p), names[0], pl);
            if (!m)
                break;
            size_t k = (size_t)(m - f.buf);
            p = m + 1;
            for (size_t ni = 0; ni < nnames; ni++) {
                size_t nl = strlen(names[ni]);
                if (nl <= f.len - k && memcmp(m + pl, names[ni] + pl, nl - pl) == 0 &&
                    !consider(&h, &f, ascii, text, len, k, nl))
                    goto oom;
            }
        }
    } else {
        for (size_t ni = 0; ni < nnames; ni++) {
            const char *name = names[ni];
            size_t nl = strlen(name);
            if (nl == 0)
                continue;
            for (const char *p = f.buf; p < end;) {
                const char *m = memmem(p, (size_t)(end - p), name, nl);
                if (!m)
                    break;
                p = m + 1;
                if (!consider(&h, &f, ascii, text, len, (size_t)(m - f.buf), nl))
                    goto oom;
            }
        }
    }
    if (h.n > 1) {
        qsort(h.v, h.n, sizeof *h.v, hit_cmp);
        size_t w = 1;
        for (size_t r = 1; r < h.n; r++)
            if (h.v[r].offset != h.v[w - 1].offset)
                h.v[w++] = h.v[r];
        h.n = w;
    }
    *out = h.v;
    *n = h.n;
    h.v = NULL;
    goto cleanup;

oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory searching mentions");
cleanup:
    free(h.v);
    free(f.buf);
    free(f.orig);
    free(f.start);
    return rc;
}
