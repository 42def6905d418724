/*
 * jtext — JSON text written while an answer is built; see jtext_int.h.
 *
 * Why: held as jansson values, the vault-wide `not done / group by
 * filename` answer at 100k notes (155k tasks, 75 MB of text) peaked at
 * 1.3 GB, every task an object of 16 members, each a separate allocation;
 * and building, dumping and freeing the tree of an uncached backlinks
 * answer was a third of its time.
 */

#include "jtext_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#define JT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

bool qp__jt_reserve(qp__jtext *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap > b->len && b->cap - b->len > n)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void qp__jt_add(qp__jtext *b, const char *s, size_t n)
{
    if (qp__jt_reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

void qp__jt_str(qp__jtext *b, const char *s)
{
    qp__jt_add(b, s, strlen(s));
}

/* Appends jansson's encoding of j. The first try writes into the room
 * left; only a value bigger than that room is encoded twice. */
static void dump_leaf(qp__jtext *b, const json_t *j)
{
    if (b->oom)
        return;
    size_t room = b->cap - b->len;
    size_t n = json_dumpb(j, room ? b->p + b->len : NULL, room, JT_FLAGS);
    if (n >= room && n != 0 && qp__jt_reserve(b, n))
        n = json_dumpb(j, b->p + b->len, b->cap - b->len, JT_FLAGS);
    if (n == 0)
        b->oom = true;
    else if (!b->oom)
        b->len += n;
}

void qp__jt_value(qp__jtext *b, const json_t *j)
{
    json_t *m = (json_t *)(uintptr_t)j; /* jansson's iterators take no const */
    const char *key;
    json_t *v;
    size_t i;
    bool first = true;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        qp__jt_add(b, "{", 1);
        json_object_foreach(m, key, v)
        {
            if (!first)
                qp__jt_add(b, ",", 1);
            first = false;
            if (!qp__jt_string(b, key, strlen(key))) {
                json_t *k = json_string(key);
                if (!k)
                    b->oom = true;
                else
                    dump_leaf(b, k);
                json_decref(k);
            }
            qp__jt_add(b, ":", 1);
            qp__jt_value(b, v);
        }
        qp__jt_add(b, "}", 1);
        return;
    case JSON_ARRAY:
        qp__jt_add(b, "[", 1);
        json_array_foreach(m, i, v)
        {
            if (i)
                qp__jt_add(b, ",", 1);
            qp__jt_value(b, v);
        }
        qp__jt_add(b, "]", 1);
        return;
    case JSON_STRING:
        if (!qp__jt_string(b, json_string_value(j), json_string_length(j)))
            dump_leaf(b, j);
        return;
    case JSON_INTEGER:
        qp__jt_int(b, (long long)json_integer_value(j));
        return;
    case JSON_TRUE:
        qp__jt_add(b, "true", 4);
        return;
    case JSON_FALSE:
        qp__jt_add(b, "false", 5);
        return;
    case JSON_NULL:
        qp__jt_add(b, "null", 4);
        return;
    default: /* a real: jansson's own digits */
        dump_leaf(b, j);
        return;
    }
}

/* Appends the encoding of j and releases j (NULL: out of memory). */
void qp__jt_json(qp__jtext *b, json_t *j)
{
    if (!j)
        b->oom = true;
    else
        qp__jt_value(b, j);
    json_decref(j);
}

void qp__jt_int(qp__jtext *b, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", v); /* JSON_INTEGER_FORMAT */
    qp__jt_add(b, num, (size_t)n);
}

/* jansson's dump_string() without flags: '"' and '\\' escaped, the
 * control characters below 0x20 as \b \f \n \r \t or \u00XX (upper-case
 * hex), every other byte as it is. */
bool qp__jt_string(qp__jtext *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (memchr(s, '\0', n) || u8_check((const uint8_t *)s, n) != NULL)
        return false;
    if (!qp__jt_reserve(b, 6 * n + 2))
        return true; /* out of memory: b->oom says so */
    char *w = b->p + b->len;
    *w++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *w++ = (char)c;
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default:
            memcpy(w, "u00", 3);
            w[3] = hex[c >> 4];
            w[4] = hex[c & 15];
            w += 5;
            break;
        }
    }
    *w++ = '"';
    b->len = (size_t)(w - b->p);
    return true;
}

void qp__jt_string_or_null(qp__jtext *b, const char *s, json_t *(*fix)(const char *s))
{
    if (!s)
        qp__jt_add(b, "null", 4);
    else if (!qp__jt_string(b, s, strlen(s)))
        qp__jt_json(b, fix(s));
}

/* The text, NUL-terminated and cut to its length (new); NULL when out of
 * memory (the buffer is freed either way). */
char *qp__jt_finish(qp__jtext *b)
{
    if (!qp__jt_reserve(b, 0)) {
        free(b->p);
        return NULL;
    }
    b->p[b->len] = '\0';
    char *p = realloc(b->p, b->len + 1); /* a 75 MB answer may hold 128 MB */
    return p ? p : b->p;
}

void qp__jt_free(qp__jtext *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
