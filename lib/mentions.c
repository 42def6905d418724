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

qp_rc qp__mentions_find(qp__mention_hit **out, size_t *n, const char *text, size_t len,
                        const char *const *names, size_t nnames, qp_error *err)
{
    qp_rc rc = QP_OK;
    folded f = {0};
    qp__mention_hit *hits = NULL;
    size_t nh = 0, ch = 0;
    *out = NULL;
    *n = 0;

    bool ascii;
    if (!fold_ascii(&f, text, len, &ascii) || (!ascii && !fold_text(&f, text, len)))
        goto oom;
    for (size_t ni = 0; ni < nnames; ni++) {
        const char *name = names[ni];
        size_t nl = strlen(name);
        if (nl == 0)
            continue;
        const char *p = f.buf;
        const char *end = f.buf + f.len;
        while (p < end) {
            const char *m = memmem(p, (size_t)(end - p), name, nl);
            if (!m)
                break;
            size_t k = (size_t)(m - f.buf);
            p = m + 1;
            size_t ke = k + nl;
            if (!ascii && (!f.start[k] || (ke < f.len && !f.start[ke])))
                continue; /* inside one code point's folding */
            size_t so = ascii ? k : f.orig[k];
            size_t se = ke < f.len ? (ascii ? ke : f.orig[ke]) : len;
            uint32_t cp;
            if (so > 0) {
                qp_text_decode_before(text, so, &cp);
                if (qp_text_is_word(cp))
                    continue;
            }
            if (se < len) {
                qp_text_decode(text + se, len - se, &cp);
                if (qp_text_is_word(cp))
                    continue;
            }
            if (nh == ch) {
                ch = ch ? ch * 2 : 8;
                qp__mention_hit *nhits = realloc(hits, ch * sizeof *hits);
                if (!nhits)
                    goto oom;
                hits = nhits;
            }
            hits[nh].offset = so;
            hits[nh].len = se - so;
            nh++;
        }
    }
    if (nh > 1) {
        qsort(hits, nh, sizeof *hits, hit_cmp);
        size_t w = 1;
        for (size_t r = 1; r < nh; r++)
            if (hits[r].offset != hits[w - 1].offset)
                hits[w++] = hits[r];
        nh = w;
    }
    *out = hits;
    *n = nh;
    hits = NULL;
    goto cleanup;

oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory searching mentions");
cleanup:
    free(hits);
    free(f.buf);
    free(f.orig);
    free(f.start);
    return rc;
}
