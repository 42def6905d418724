/*
 * cache — the result cache; see cache.h.
 *
 * A hash table of CACHE_BUCKETS chains keyed by XXH3 of "method\nparams".
 * Every entry belongs to `generation`; a put at another generation empties
 * the table first.
 */

#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "mem.h"

#define CACHE_BUCKETS 1024 /* power of two */

typedef struct centry {
    struct centry *next; /* in its bucket */
    uint64_t khash;
    char *key; /* method "\n" params */
    size_t klen;
    char *result;
    size_t len;
} centry;

struct qpd_cache {
    size_t limit;
    size_t bytes;
    int64_t generation; /* the generation every entry belongs to */
    centry *bucket[CACHE_BUCKETS];
};

qpd_cache *qpd_cache_new(size_t limit)
{
    qpd_cache *c = qpd_xcalloc(1, sizeof *c);

    c->limit = limit;
    return c;
}

void qpd_cache_clear(qpd_cache *c)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        for (centry *e = c->bucket[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e->key);
            free(e->result);
            free(e);
        }
        c->bucket[i] = NULL;
    }
    c->bytes = 0;
}

void qpd_cache_free(qpd_cache *c)
{
    if (c == NULL)
        return;
    qpd_cache_clear(c);
    free(c);
}

bool qpd_cache_empty(const qpd_cache *c)
{
    return c->bytes == 0;
}

/* "method\nparams": new memory, or NULL when out of memory. */
static char *make_key(const char *method, const char *params, const char *day, size_t *klen)
{
    size_t nm = strlen(method), np = strlen(params), nd = day != NULL ? strlen(day) : 0;
    char *k = malloc(nm + np + nd + 3);

    if (k == NULL)
        return NULL;
    memcpy(k, method, nm);
    k[nm] = '\n';
    memcpy(k + nm + 1, params, np);
    *klen = nm + 1 + np;
    if (day != NULL) { /* a newline cannot be in compact JSON: no collision */
        k[(*klen)++] = '\n';
        memcpy(k + *klen, day, nd);
        *klen += nd;
    }
    k[*klen] = '\0';
    return k;
}

static centry *find(qpd_cache *c, const char *key, size_t klen, uint64_t h)
{
    for (centry *e = c->bucket[h & (CACHE_BUCKETS - 1)]; e != NULL; e = e->next)
        if (e->khash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

const char *qpd_cache_get(qpd_cache *c, const char *method, const char *params, const char *day,
                          int64_t generation, size_t *len)
{
    size_t klen;
    char *key;
    const centry *e;

    if (c->generation != generation || c->bytes == 0)
        return NULL;
    key = make_key(method, params, day, &klen);
    e = key ? find(c, key, klen, XXH3_64bits(key, klen)) : NULL;
    free(key);
    if (e == NULL)
        return NULL;
    *len = e->len;
    return e->result;
}

bool qpd_cache_fits(const qpd_cache *c, size_t len)
{
    return c->limit != 0 && len <= c->limit / 4;
}

void qpd_cache_put(qpd_cache *c, const char *method, const char *params, const char *day,
                   int64_t generation, int64_t current, char *result, size_t len)
{
    size_t klen;
    char *key;
    centry *e;
    uint64_t h;

    if (generation != current || !qpd_cache_fits(c, len)) {
        free(result);
        return;
    }
    if (c->generation != generation) {
        qpd_cache_clear(c);
        c->generation = generation;
    }
    key = make_key(method, params, day, &klen);
    h = key ? XXH3_64bits(key, klen) : 0;
    if (key == NULL || find(c, key, klen, h) != NULL || (e = malloc(sizeof *e)) == NULL) {
        free(key);
        free(result);
        return;
    }
    if (c->bytes + len + klen > c->limit)
        qpd_cache_clear(c); /* crude, but bounded; a generation rarely fills it */
    *e = (centry){c->bucket[h & (CACHE_BUCKETS - 1)], h, key, klen, result, len};
    c->bucket[h & (CACHE_BUCKETS - 1)] = e;
    c->bytes += len + klen;
}
