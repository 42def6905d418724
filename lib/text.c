/*
 * text — NFC and lower-casing via libunistring; UTF-8 decoding helpers.
 *
 * libunistring refuses invalid UTF-8 with EILSEQ. Notes and file names may
 * hold anything, so on EILSEQ we fall back to the bytes as they are: a key
 * that is not normalised is still a deterministic key.
 */
#include "quipu/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

static char *copy_bytes(const char *s, size_t len, size_t *outlen)
{
    char *p = malloc(len + 1);

    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    if (outlen != NULL)
        *outlen = len;
    return p;
}

/* Hands libunistring's (not NUL-terminated) result back NUL-terminated. */
static char *terminate(uint8_t *r, size_t rlen, size_t *outlen)
{
    char *p = realloc(r, rlen + 1);

    if (p == NULL) {
        free(r);
        return NULL;
    }
    p[rlen] = '\0';
    if (outlen != NULL)
        *outlen = rlen;
    return p;
}

static bool is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

/* Applies fn to each maximal valid UTF-8 run of s and copies the invalid
 * bytes between runs as they are, so "Note\xff.md" folds to "note\xff.md". */
static char *by_runs(const char *s, size_t len, size_t *outlen,
                     char *(*fn)(const char *, size_t, size_t *))
{
    char *out = NULL;
    size_t n = 0, cap = len + 16, i = 0;

    out = malloc(cap);
    if (out == NULL)
        return NULL;
    while (i < len) {
        const uint8_t *bad = u8_check((const uint8_t *)s + i, len - i);
        size_t run = bad == NULL ? len - i : (size_t)(bad - (const uint8_t *)s) - i;
        size_t piece_len = 1;
        char *piece = run > 0 ? fn(s + i, run, &piece_len) : NULL;

        if (run > 0 && piece == NULL)
            goto fail;
        if (run == 0)
            piece_len = 1; /* one invalid byte, copied below */
        if (n + piece_len + 1 > cap) {
            char *grown;
            cap = (n + piece_len + 1) * 2;
            grown = realloc(out, cap);
            if (grown == NULL) {
                free(piece);
                goto fail;
            }
            out = grown;
        }
        if (run > 0) {
            memcpy(out + n, piece, piece_len);
            free(piece);
            i += run;
        } else {
            out[n] = s[i];
            i++;
        }
        n += piece_len;
    }
    out[n] = '\0';
    if (outlen != NULL)
        *outlen = n;
    return out;

fail:
    free(out);
    return NULL;
}

char *qp_text_nfc(const char *s, size_t len, size_t *outlen)
{
    size_t rlen = 0;
    uint8_t *r;

    /* ASCII is its own NFC: the common case skips libunistring entirely. */
    if (is_ascii(s, len))
        return copy_bytes(s, len, outlen);
    if (!qp_text_utf8_valid(s, len))
        return by_runs(s, len, outlen, qp_text_nfc);
    r = u8_normalize(UNINORM_NFC, (const uint8_t *)s, len, NULL, &rlen);
    if (r == NULL)
        return errno == ENOMEM ? NULL : copy_bytes(s, len, outlen);
    return terminate(r, rlen, outlen);
}

char *qp_text_fold(const char *s, size_t len, size_t *outlen)
{
    size_t rlen = 0;
    uint8_t *r;

    if (is_ascii(s, len)) {
        char *p = copy_bytes(s, len, outlen);
        if (p != NULL)
            for (size_t i = 0; i < len; i++)
                if (p[i] >= 'A' && p[i] <= 'Z')
                    p[i] = (char)(p[i] - 'A' + 'a');
        return p;
    }
    if (!qp_text_utf8_valid(s, len))
        return by_runs(s, len, outlen, qp_text_fold);
    r = u8_tolower((const uint8_t *)s, len, NULL, UNINORM_NFC, NULL, &rlen);
    if (r == NULL)
        return errno == ENOMEM ? NULL : copy_bytes(s, len, outlen);
    return terminate(r, rlen, outlen);
}

static char *to_arena(qp_arena *arena, char *p, size_t len)
{
    char *q;

    if (p == NULL)
        return NULL;
    q = qp_arena_strndup(arena, p, len);
    free(p);
    return q;
}

char *qp_text_nfc_arena(qp_arena *arena, const char *s, size_t len)
{
    size_t n = 0;
    char *p = qp_text_nfc(s, len, &n);

    return to_arena(arena, p, n);
}

char *qp_text_fold_arena(qp_arena *arena, const char *s, size_t len)
{
    size_t n = 0;
    char *p = qp_text_fold(s, len, &n);

    return to_arena(arena, p, n);
}

bool qp_text_utf8_valid(const char *s, size_t len)
{
    return u8_check((const uint8_t *)s, len) == NULL;
}

size_t qp_text_decode(const char *s, size_t n, uint32_t *cp)
{
    ucs4_t uc = 0;
    int k;

    if ((unsigned char)s[0] < 0x80) {
        *cp = (unsigned char)s[0];
        return 1;
    }
    k = u8_mbtoucr(&uc, (const uint8_t *)s, n);
    if (k <= 0) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = uc;
    return (size_t)k;
}

size_t qp_text_units(const char *s, size_t n, int bits)
{
    size_t u = 0;
    if (bits == 8)
        return n;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if ((unsigned char)s[i] < 0x80) {
            u++;
            i++;
            continue;
        }
        i += qp_text_decode(s + i, n - i, &cp);
        u += bits == 16 && cp >= 0x10000 ? 2 : 1;
    }
    return u;
}

size_t qp_text_decode_before(const char *s, size_t pos, uint32_t *cp)
{
    size_t start = pos;

    /* Step back over at most three continuation bytes to the lead byte. */
    while (start > 0 && pos - start < 4) {
        start--;
        if (((unsigned char)s[start] & 0xC0) != 0x80)
            break;
    }
    if (qp_text_decode(s + start, pos - start, cp) == pos - start)
        return pos - start;
    *cp = 0xFFFD;
    return 1;
}

bool qp_text_is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    return uc_is_alnum(cp) || uc_is_general_category(cp, UC_CATEGORY_M);
}

bool qp_text_is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v';
    return cp == 0xA0 || uc_is_property_white_space(cp);
}

size_t qp_text_uri_encode(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}
