#ifndef QUIPU_ARENA_H
#define QUIPU_ARENA_H

/*
 * arena — a chunked bump allocator, freed once.
 *
 * A parsed note and everything it points to live in one arena, so a note is
 * built without a free() per string and released with one call. An arena is
 * not thread-safe; once its owner stops allocating, the memory may be read
 * from any thread. Built with -DQP_ARENA_DEBUG, every allocation is its own
 * malloc so AddressSanitizer sees overruns between objects.
 */

#include <stddef.h>

typedef struct qp_arena qp_arena; /* opaque */

/* Returns a new empty arena (free with qp_arena_free), or NULL when out of memory. */
qp_arena *qp_arena_new(void);

/* The same, for an owner that knows about how much it will hold: chunks
 * start at `first` bytes and double up to the usual 16 KiB, so a small
 * object does not keep a whole default chunk (a 1 KB note's parse held
 * 16 KB, and thousands of parsed notes wait for the writer in a scan). */
qp_arena *qp_arena_new_sized(size_t first);

/* Frees the arena and every allocation made from it. Accepts NULL. */
void qp_arena_free(qp_arena *a);

/* Returns `size` bytes aligned for any type, zero-filled, valid until
 * qp_arena_free(a); NULL when out of memory. size 0 returns a valid pointer. */
void *qp_arena_alloc(qp_arena *a, size_t size);

/* Copies s[0..len) into the arena and adds a NUL; NULL when out of memory. */
char *qp_arena_strndup(qp_arena *a, const char *s, size_t len);

/* Copies the NUL-terminated s; NULL when out of memory. */
char *qp_arena_strdup(qp_arena *a, const char *s);

/* Grows an arena array: returns a copy of `old` (n elements of `elem`) with
 * room for `newcap` elements, the tail zero-filled. The old block is not
 * reused (arenas do not free), so grow geometrically. NULL when out of memory. */
void *qp_arena_grow(qp_arena *a, const void *old, size_t n, size_t newcap, size_t elem);

/* The bytes the arena holds from malloc (its chunks, used or not). */
size_t qp_arena_bytes(const qp_arena *a);

#endif
