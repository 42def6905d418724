/*
 * mem — allocation that aborts when out of memory; see mem.h.
 */

#include "mem.h"

#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"

void qpd_oom(void)
{
    qpd_log(QPD_LOG_ERROR, "out of memory");
    abort(); /* outside a request: STYLE.md says log and abort */
}

void qpd_mem_release(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void qpd_mem_release_over(size_t slack)
{
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();

    if (mi.fordblks > slack)
        malloc_trim(0);
#else
    (void)slack;
#endif
}

void *qpd_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        qpd_oom();
    return p;
}

void *qpd_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        qpd_oom();
    return p;
}

char *qpd_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(qpd_xmalloc(n), s, n);
}

void *qpd_grow(void *v, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 16;
    void *nv;

    if (need <= *cap)
        return v;
    while (c < need)
        c *= 2;
    nv = realloc(v, c * elem);
    if (nv == NULL)
        qpd_oom();
    *cap = c;
    return nv;
}

char *qpd_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = qpd_xmalloc(na + nb + 2);

    if (na == 0) {
        memcpy(p, b, nb + 1);
    } else {
        memcpy(p, a, na);
        p[na] = '/';
        memcpy(p + na + 1, b, nb + 1);
    }
    return p;
}

void qpd_strvec_push(qpd_strvec *sv, char *s)
{
    sv->v = qpd_grow(sv->v, &sv->cap, sv->n + 1, sizeof *sv->v);
    sv->v[sv->n++] = s;
}

void qpd_strvec_free(qpd_strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    *sv = (qpd_strvec){0};
}

int qpd_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
