/*
 * links — splitting wikilink content and decoding Markdown destinations.
 *
 * The rules are Obsidian's (spec/links.md §1.1, §1.4); each step below
 * names the case it exists for.
 */
#include "quipu/links.h"

#include <string.h>

#include "quipu/text.h"

/* Trims ASCII white space and NBSP (U+00A0, bytes C2 A0) from both ends. */
static void trim(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;

    for (;;) {
        if (n > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\n')) {
            p++, n--;
        } else if (n > 1 && (unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0) {
            p += 2, n -= 2;
        } else {
            break;
        }
    }
    for (;;) {
        if (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
            n--;
        else if (n > 1 && (unsigned char)p[n - 2] == 0xC2 && (unsigned char)p[n - 1] == 0xA0)
            n -= 2;
        else
            break;
    }
    *s = p;
    *len = n;
}

/* NBSP → space, trim, NFC: the cleaning Obsidian applies to link targets. */
static char *clean_target(qp_arena *arena, const char *s, size_t len)
{
    char *tmp = qp_arena_strndup(arena, s, len);
    size_t w = 0;

    if (tmp == NULL)
        return NULL;
    for (size_t r = 0; r < len; r++) {
        if ((unsigned char)tmp[r] == 0xC2 && r + 1 < len && (unsigned char)tmp[r + 1] == 0xA0) {
            tmp[w++] = ' ';
            r++;
        } else {
            tmp[w++] = tmp[r];
        }
    }
    s = tmp;
    len = w;
    trim(&s, &len);
    return qp_text_nfc_arena(arena, s, len);
}

bool qp_link_split(qp_link *out, qp_arena *arena, const char *content, size_t len, bool *oom)
{
    const char *bar, *hash, *target;
    size_t tlen;
    char *clean;

    if (oom != NULL)
        *oom = false;
    trim(&content, &len);
    if (len == 0)
        return false;

    out->display = NULL;
    bar = memchr(content + 1, '|', len - 1); /* a leading '|' does not split */
    tlen = bar != NULL ? (size_t)(bar - content) : len;
    if (bar != NULL) {
        const char *d = bar + 1;
        size_t dlen = len - tlen - 1;
        trim(&d, &dlen);
        out->display = qp_arena_strndup(arena, d, dlen);
        if (out->display == NULL)
            goto nomem;
    }
    target = content;
    if (tlen > 0 && target[tlen - 1] == '\\') /* `[[Note\|Shown]]` in a table cell */
        tlen--;

    clean = clean_target(arena, target, tlen);
    if (clean == NULL)
        goto nomem;
    hash = strchr(clean, '#');
    if (hash != NULL) {
        out->subpath = qp_arena_strdup(arena, hash);
        if (out->subpath == NULL)
            goto nomem;
        /* The linkpath before '#' is trimmed again: `[[Note #H]]` targets `Note`. */
        const char *lp = clean;
        size_t lplen = (size_t)(hash - clean);
        trim(&lp, &lplen);
        out->target = qp_arena_strndup(arena, lp, lplen);
    } else {
        out->subpath = NULL;
        out->target = clean;
    }
    if (out->target == NULL)
        goto nomem;
    return true;

nomem:
    if (oom != NULL)
        *oom = true;
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *qp_link_url_decode(qp_arena *arena, const char *s, size_t len, bool *oom)
{
    char *out = qp_arena_alloc(arena, len + 1);
    size_t w = 0;

    if (oom != NULL)
        *oom = out == NULL;
    if (out == NULL)
        return NULL;
    for (size_t r = 0; r < len; r++) {
        if (s[r] == '%') {
            int hi, lo;
            if (r + 2 >= len)
                return NULL;
            hi = hexval(s[r + 1]);
            lo = hexval(s[r + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            out[w++] = (char)(hi * 16 + lo);
            r += 2;
        } else {
            out[w++] = s[r];
        }
    }
    out[w] = '\0';
    return out;
}

bool qp_link_is_external(const char *dest, size_t len)
{
    /* A scheme is a letter followed by letters, digits, '+', '-', '.', then
     * ':'. Two letters at least, so a Windows drive ("C:") is not one. */
    size_t i = 0;

    if (len == 0 || !((dest[0] >= 'a' && dest[0] <= 'z') || (dest[0] >= 'A' && dest[0] <= 'Z')))
        return false;
    for (i = 1; i < len; i++) {
        char c = dest[i];
        if (c == ':')
            return i >= 2;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return false;
    }
    return false;
}
