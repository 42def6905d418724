#ifndef QPD_CACHE_H
#define QPD_CACHE_H

/*
 * cache — the result cache of the server: answers of the QPD_CACHEABLE
 * methods (pure functions of the index), by method and params text, valid
 * for exactly one generation. The server empties it on every commit; a
 * request whose answer is cached at the current generation is answered on
 * the loop without a trip to the pool. Bounded: when full it is emptied,
 * and an answer over a quarter of the limit is never kept. Loop thread
 * only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct qpd_cache qpd_cache;

/* An empty cache of at most `limit` bytes (0: keeps nothing). Aborts when
 * out of memory. */
qpd_cache *qpd_cache_new(size_t limit);

/* NULL is a no-op. */
void qpd_cache_free(qpd_cache *c);

void qpd_cache_clear(qpd_cache *c);

bool qpd_cache_empty(const qpd_cache *c);

/* The answer to `method` with `params` cached at `generation`, or NULL;
 * `day` (NULL: none) is a further part of the key, the local date for
 * answers that depend on it. Borrowed until the next put or clear. */
const char *qpd_cache_get(qpd_cache *c, const char *method, const char *params, const char *day,
                          int64_t generation, size_t *len);

/* Whether an answer of `len` bytes would be kept. Any thread: it reads
 * only the limit, fixed at qpd_cache_new(). */
bool qpd_cache_fits(const qpd_cache *c, size_t len);

/* Keeps `result` (taken) of `method` with `params` (and `day`, as for
 * qpd_cache_get), computed at `generation`, when that is `current` (the
 * loop's: an older answer could never be served) and it fits. */
void qpd_cache_put(qpd_cache *c, const char *method, const char *params, const char *day,
                   int64_t generation, int64_t current, char *result, size_t len);

#endif
