#ifndef QPD_MEM_H
#define QPD_MEM_H

/*
 * mem — allocation for the daemon's own bookkeeping, outside any request.
 *
 * STYLE.md: out of memory outside a request is logged and aborts; inside a
 * request it is answered -32603 (the server does that with plain malloc).
 * Every "x" function here either returns memory or does not return. Any
 * thread.
 */

#include <stdbool.h>
#include <stddef.h>

/* Logs "out of memory" and aborts. */
_Noreturn void qpd_oom(void);

void *qpd_xmalloc(size_t n);
void *qpd_xcalloc(size_t n, size_t size);
char *qpd_xstrdup(const char *s);

/* Grows array `v` of `elem`-byte elements, whose capacity is *cap, to hold
 * at least `need` (doubling, from 16). Returns the (maybe moved) array. */
void *qpd_grow(void *v, size_t *cap, size_t need, size_t elem);

/* "a/b", or "b" when `a` is "" (the vault root): new memory. */
char *qpd_join(const char *a, const char *b);

/* A growable array of owned strings. */
typedef struct qpd_strvec {
    char **v;
    size_t n, cap;
} qpd_strvec;

/* Appends `s` (taken). */
void qpd_strvec_push(qpd_strvec *sv, char *s);

/* Frees every string and the array; leaves an empty vector. */
void qpd_strvec_free(qpd_strvec *sv);

/* Gives the heap's free pages back to the system (glibc's malloc_trim; a
 * no-op elsewhere). A task answer over a large vault frees hundreds of
 * thousands of small blocks at once; without this the daemon kept the
 * peak's pages resident until the next big answer reused them. */
void qpd_mem_release(void);

/* The same, only when the heap holds more than `slack` free bytes (cheap
 * to ask: after every message of a long-lived client). */
void qpd_mem_release_over(size_t slack);

/* qsort/bsearch comparison of two char * elements. */
int qpd_cmp_str(const void *a, const void *b);

#endif
