/*
 * text — an open document's text, its line table, and LSP positions.
 *
 * An LSP position is (line, character) where character counts UTF-16 code
 * units by default, or bytes when the client and server agreed on "utf-8".
 * Lines end at "\n"; the "\r" of a CRLF ending belongs to the ending, so a
 * position past the last character of a CRLF line lands before the "\r".
 * Invalid UTF-8 counts one unit per byte in both encodings, which keeps the
 * two conversions inverse to each other on any input.
 */

#include <stdlib.h>
#include <string.h>

#include "lsp.h"
#include "quipu/text.h"

/* Length of the UTF-8 sequence at s[0, n), or 1 when it is not a valid one. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4;
    else
        return 1;
    if (n < k)
        return 1;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    /* Overlong and out-of-range forms are invalid (as jansson says too). */
    if (k == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f)))
        return 1;
    if (k == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)))
        return 1;
    return k;
}

/* libquipu's count (quipu/text.h): there an invalid byte is one U+FFFD,
 * one unit, as seq_len makes it here. */
uint32_t qpl_units(const char *s, size_t n, qpl_encoding enc)
{
    return (uint32_t)qp_text_units(s, n, enc == QPL_UTF8 ? 8 : 16);
}

size_t qpl_bytes_of_units(const char *s, size_t n, uint32_t units, qpl_encoding enc)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t u = 0;
    size_t i = 0;

    if (enc == QPL_UTF8) {
        size_t b = units < n ? units : n;

        /* Round down to the start of a character. */
        while (b > 0 && b < n && (p[b] & 0xc0) == 0x80) {
            size_t st = b;

            while (st > 0 && (p[st] & 0xc0) == 0x80)
                st--;
            if (st + seq_len(p + st, n - st) > b)
                b = st;
            break;
        }
        return b;
    }
    while (i < n) {
        size_t k = seq_len(p + i, n - i);
        uint32_t w = k == 4 ? 2 : 1;

        if (u + w > units)
            break;
        u += w;
        i += k;
    }
    return i;
}

void qpl_text_free(qpl_text *t)
{
    if (t == NULL)
        return;
    free(t->s);
    free(t->line);
    *t = (qpl_text){0};
}

static int index_lines(qpl_text *t)
{
    size_t n = 1, k = 0;
    size_t *line;

    for (size_t i = 0; i < t->len; i++)
        n += t->s[i] == '\n';
    line = malloc(n * sizeof *line);
    if (line == NULL)
        return -1;
    line[k++] = 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->s[i] == '\n')
            line[k++] = i + 1;
    free(t->line);
    t->line = line;
    t->nlines = n;
    return 0;
}

int qpl_text_set(qpl_text *t, const char *s, size_t n)
{
    char *c = malloc(n + 1);
    qpl_text nt;

    if (c == NULL)
        return -1;
    memcpy(c, s, n);
    c[n] = '\0';
    nt = (qpl_text){.s = c, .len = n};
    if (index_lines(&nt) != 0) {
        free(c);
        return -1;
    }
    qpl_text_free(t);
    *t = nt;
    return 0;
}

size_t qpl_text_line_len(const qpl_text *t, size_t ln)
{
    size_t a, b;

    if (ln >= t->nlines)
        return 0;
    a = t->line[ln];
    b = ln + 1 < t->nlines ? t->line[ln + 1] - 1 : t->len; /* at the '\n' or the end */
    if (b > a && t->s[b - 1] == '\r' && ln + 1 < t->nlines)
        b--;
    return b - a;
}

size_t qpl_text_offset(const qpl_text *t, uint32_t line, uint32_t character, qpl_encoding enc)
{
    size_t a;

    if (line >= t->nlines)
        return t->len;
    a = t->line[line];
    return a + qpl_bytes_of_units(t->s + a, qpl_text_line_len(t, line), character, enc);
}

void qpl_text_position(const qpl_text *t, size_t off, qpl_encoding enc, uint32_t *line,
                       uint32_t *character)
{
    size_t lo = 0, hi = t->nlines, ll;

    if (off > t->len)
        off = t->len;
    /* The last line start <= off. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->line[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    ll = qpl_text_line_len(t, lo);
    if (off - t->line[lo] > ll)
        off = t->line[lo] + ll; /* inside the CRLF ending */
    {
        /* An offset inside a character counts as that character's start. */
        const unsigned char *p = (const unsigned char *)t->s + t->line[lo];
        size_t want = off - t->line[lo], i = 0;

        while (i < want) {
            size_t k = seq_len(p + i, ll - i);

            if (i + k > want)
                break;
            i += k;
        }
        off = t->line[lo] + i;
    }
    *line = (uint32_t)lo;
    *character = qpl_units(t->s + t->line[lo], off - t->line[lo], enc);
}

int qpl_text_replace(qpl_text *t, size_t from, size_t to, const char *r, size_t rn)
{
    size_t n;
    char *s;

    if (from > t->len)
        from = t->len;
    if (to > t->len)
        to = t->len;
    if (to < from)
        to = from;
    n = t->len - (to - from) + rn;
    s = malloc(n + 1);
    if (s == NULL)
        return -1;
    memcpy(s, t->s, from);
    memcpy(s + from, r, rn);
    memcpy(s + from + rn, t->s + to, t->len - to);
    s[n] = '\0';
    {
        qpl_text nt = {.s = s, .len = n};

        if (index_lines(&nt) != 0) {
            free(s);
            return -1;
        }
        free(t->s);
        free(t->line);
        *t = nt;
    }
    return 0;
}
