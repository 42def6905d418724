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
#include <stdlib.h>
#include <string.h>

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

/* Appends the encoding of j and releases j (NULL: out of memory). The
 * first try writes into the room left; only a value bigger than that room
 * is encoded twice. */
void qp__jt_json(qp__jtext *b, json_t *j)
{
    if (!j)
        b->oom = true;
    if (!b->oom) {
        size_t room = b->cap - b->len;
        size_t n = json_dumpb(j, room ? b->p + b->len : NULL, room, JT_FLAGS);
        if (n >= room && n != 0 && qp__jt_reserve(b, n))
            n = json_dumpb(j, b->p + b->len, b->cap - b->len, JT_FLAGS);
        if (n == 0)
            b->oom = true;
        else if (!b->oom)
            b->len += n;
    }
    json_decref(j);
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
