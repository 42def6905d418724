/*
 * alloc — the allocation-failure hook of test builds (see alloc_int.h).
 * In a build without QP_ALLOC_HOOK this file is empty.
 */
#define QP_ALLOC_NO_RENAME /* this file calls the real allocator */
#include "alloc_int.h"

#ifdef QP_ALLOC_HOOK

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h> /* __sanitizer_print_stack_trace */
#define TRACE() __sanitizer_print_stack_trace()
#else
#define TRACE() ((void)0)
#endif

#include <stdatomic.h>

static atomic_long fail_at = -1; /* the count at which to fail; -1: never */
static atomic_long count;
static atomic_bool failed;
static atomic_bool trace;

void qp__alloc_fail_after(long n)
{
    atomic_store(&count, 0);
    atomic_store(&failed, false);
    atomic_store(&fail_at, n < 0 ? -1 : n);
}

void qp__alloc_trace(bool on)
{
    atomic_store(&trace, on);
}

long qp__alloc_count(void)
{
    return atomic_load(&count);
}

bool qp__alloc_failed(void)
{
    return atomic_load(&failed);
}

/* True when this allocation is the one to fail. */
static bool should_fail(void)
{
    long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (at < 0)
        return false;
    if (atomic_fetch_add(&count, 1) != at)
        return false;
    atomic_store(&failed, true);
    if (atomic_load(&trace))
        TRACE();
    return true;
}

void *qp__alloc_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *qp__alloc_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n, size);
}

void *qp__alloc_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *qp__alloc_strdup(const char *s)
{
    return should_fail() ? NULL : strdup(s);
}

char *qp__alloc_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : strndup(s, n);
}

#else
typedef int qp__alloc_unused; /* ISO C wants a declaration in every file */
#endif
