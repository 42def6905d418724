#ifndef QUIPU_ALLOC_INT_H
#define QUIPU_ALLOC_INT_H

/*
 * alloc_int — the allocation-failure hook of test builds (SQLite's
 * FAULT_INSTALL, libuv's loop_init_oom).
 *
 * Built with -DQP_ALLOC_HOOK (CMake option QP_ALLOC_HOOK, on in make
 * test), every lib/ source but alloc.c is compiled with this header included
 * first (-include), so
 * its malloc, calloc, realloc, strdup and strndup calls go through
 * counters: qp__alloc_fail_after(n) makes the n-th allocation from then on
 * (0-based) fail, once. The unit test test_alloc walks each module's
 * entry points with n = 0, 1, 2, ... until a call makes no failing
 * allocation, and checks every failure comes back as QP_ENOMEM (or NULL)
 * with nothing leaked (ASan). Allocations inside SQLite, cmark-gfm,
 * libyaml, jansson and ICU are their own and not counted. Without
 * QP_ALLOC_HOOK this header declares nothing and changes nothing.
 *
 * The counters are atomics: the daemon's threads may allocate while a
 * test runs, but only single-threaded tests arm the hook.
 */

#ifdef QP_ALLOC_HOOK

/* Only <stddef.h>: this header comes before every other, so including
 * <stdlib.h> here would fix glibc's feature macros before a file sets its
 * own. The system headers then declare the renamed names themselves. */
#include <stddef.h>

/* Arms the hook: the n-th allocation from now fails (n >= 0), or none
 * (n < 0). Resets the count and the failed flag. */
void qp__alloc_fail_after(long n);
/* With on, the failing allocation prints its stack (ASan builds): for a
 * test that reports an allocation point handled wrongly. */
void qp__alloc_trace(_Bool on);
/* Allocations made since the hook was last armed. */
long qp__alloc_count(void);
/* True (1) when the armed failure happened. */
_Bool qp__alloc_failed(void);

void *qp__alloc_malloc(size_t n);
void *qp__alloc_calloc(size_t n, size_t size);
void *qp__alloc_realloc(void *p, size_t n);
char *qp__alloc_strdup(const char *s);
char *qp__alloc_strndup(const char *s, size_t n);

#ifndef QP_ALLOC_NO_RENAME /* a test that only calls the hook */
#define malloc(n)       qp__alloc_malloc(n)
#define calloc(n, size) qp__alloc_calloc(n, size)
#define realloc(p, n)   qp__alloc_realloc(p, n)
#define strdup(s)       qp__alloc_strdup(s)
#define strndup(s, n)   qp__alloc_strndup(s, n)
#endif

#endif /* QP_ALLOC_HOOK */

#endif
