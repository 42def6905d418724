/*
 * frame — LSP base-protocol framing; see lsp.h.
 *
 * A message is a header block (fields "Name: value" each ending in "\r\n",
 * the block ending in an empty line) and a body of exactly Content-Length
 * bytes. Invariants: buf[start, len) holds bytes not yet consumed; `header`
 * is non-zero exactly when the header of the next message has been parsed
 * and `body` is its length; `skip` > 0 means bytes are being dropped (the
 * body of a message over the limit), so at most max_body bytes plus one read
 * are ever buffered. A bare "\n" is accepted where "\r\n" is expected, so a
 * hand-typed session works too.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lsp.h"

void qpl_reader_init(qpl_reader *r, size_t max_body)
{
    *r = (qpl_reader){.max_body = max_body ? max_body : QPL_MAX_BODY};
}

void qpl_reader_free(qpl_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    r->buf = NULL;
    r->start = r->len = r->cap = 0;
}

int qpl_reader_feed(qpl_reader *r, const char *data, size_t n)
{
    /* Drop what an oversized body still owes before buffering anything. */
    if (r->skip > 0) {
        size_t k = n < r->skip ? n : r->skip;

        r->skip -= k;
        data += k;
        n -= k;
    }
    if (n == 0)
        return 0;
    if (r->start == r->len)
        r->start = r->len = 0;
    if (r->len + n > r->cap) {
        size_t live = r->len - r->start;

        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, live);
            r->start = 0;
            r->len = live;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            char *nb;

            while (cap < r->len + n)
                cap *= 2;
            nb = realloc(r->buf, cap);
            if (nb == NULL)
                return QPL_FRAME_NOMEM;
            r->buf = nb;
            r->cap = cap;
        }
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

/* Finds the end of the header block in p[0, n): returns the length of the
 * block including its terminating empty line, or 0 when it is incomplete. */
static size_t header_end(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        /* An empty line: "\n" right after the previous line's "\n" (or at
         * the very start), with an optional "\r" before it. */
        if (i == 0 || p[i - 1] == '\n')
            return i + 1;
        if (p[i - 1] == '\r' && (i == 1 || p[i - 2] == '\n'))
            return i + 1;
    }
    return 0;
}

/* Parses the header block p[0, n): -1 when no valid Content-Length. */
static long long parse_header(const char *p, size_t n)
{
    long long length = -1;
    size_t i = 0;

    while (i < n) {
        const char *line = p + i;
        const char *nl = memchr(line, '\n', n - i);
        size_t ll = nl ? (size_t)(nl - line) : n - i;
        size_t next = i + ll + 1;

        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            break; /* the empty line that ends the block */
        if (ll > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
            char num[32];
            size_t k = 15, m = 0;

            while (k < ll && (line[k] == ' ' || line[k] == '\t'))
                k++;
            while (k < ll && m < sizeof num - 1 && line[k] >= '0' && line[k] <= '9')
                num[m++] = line[k++];
            while (k < ll && (line[k] == ' ' || line[k] == '\t'))
                k++;
            num[m] = '\0';
            /* Digits only, at most 18 of them (no overflow), and a second
             * Content-Length that disagrees makes the header invalid. */
            if (m == 0 || m > 18 || k != ll)
                return -1;
            {
                long long v = strtoll(num, NULL, 10);

                if (length >= 0 && v != length)
                    return -1;
                length = v;
            }
        } else if (memchr(line, ':', ll) == NULL) {
            return -1; /* not a header field at all */
        }
        i = next;
    }
    return length;
}

int qpl_reader_next(qpl_reader *r, const char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (r->skip > 0)
        return QPL_FRAME_NONE;
    if (r->header == 0) {
        const char *p = r->buf + r->start;
        size_t avail = r->len - r->start;
        size_t h, scan = avail < QPL_MAX_HEADER ? avail : QPL_MAX_HEADER;
        long long n;

        /* Blank lines between messages are noise, not an empty header. */
        while (avail > 0 && (p[0] == '\r' || p[0] == '\n')) {
            r->start++;
            p++;
            avail--;
        }
        scan = avail < QPL_MAX_HEADER ? avail : QPL_MAX_HEADER;
        h = header_end(p, scan);
        if (h == 0) {
            if (avail < QPL_MAX_HEADER)
                return QPL_FRAME_NONE;
            /* A header this long is garbage: drop it through its last line
             * break so that the next message can still be found. */
            {
                const char *nl = NULL;

                for (size_t i = scan; i > 0; i--) {
                    if (p[i - 1] == '\n') {
                        nl = p + i - 1;
                        break;
                    }
                }
                r->start += nl ? (size_t)(nl - p) + 1 : scan;
            }
            return QPL_FRAME_BAD_HEADER;
        }
        n = parse_header(p, h);
        if (n < 0) {
            r->start += h;
            return QPL_FRAME_BAD_HEADER;
        }
        if ((unsigned long long)n > r->max_body) {
            size_t have = avail - h;

            r->start += h;
            if (have >= (size_t)n) {
                r->start += (size_t)n;
            } else {
                r->start = r->len;
                r->skip = (size_t)n - have;
            }
            return QPL_FRAME_TOO_BIG;
        }
        r->header = h;
        r->body = (size_t)n;
    }
    if (r->len - r->start - r->header < r->body)
        return QPL_FRAME_NONE;
    *body = r->buf + r->start + r->header;
    *len = r->body;
    r->start += r->header + r->body;
    r->header = 0;
    r->body = 0;
    return QPL_FRAME_MESSAGE;
}

char *qpl_frame(const json_t *msg, size_t *len)
{
    char *json = json_dumps(msg, JSON_COMPACT);
    char head[64];
    size_t jn, hn;
    char *out;

    *len = 0;
    if (json == NULL)
        return NULL;
    jn = strlen(json);
    hn = (size_t)snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", jn);
    out = malloc(hn + jn + 1);
    if (out != NULL) {
        memcpy(out, head, hn);
        memcpy(out + hn, json, jn + 1);
        *len = hn + jn;
    }
    free(json);
    return out;
}
