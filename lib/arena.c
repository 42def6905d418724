/*
 * arena — chunked bump allocator.
 *
 * Invariants: chunks form a singly linked list, newest first; `used` never
 * exceeds `cap`; every returned pointer is aligned to max_align_t. Chunks
 * for small requests grow from the size the owner gave (qp_arena_new_sized)
 * by doubling up to CHUNK_SIZE. A request larger than a quarter of the next
 * chunk gets a chunk of its own so one big string does not waste the rest
 * of a fresh chunk.
 */
#include "quipu/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE 16384
#define MIN_CHUNK  1024
#define ALIGN      (alignof(max_align_t))

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} chunk;

struct qp_arena {
    chunk *head;
    size_t bytes; /* malloc'd for the chunks */
    size_t next;  /* the size of the next small-object chunk */
};

qp_arena *qp_arena_new(void)
{
    return qp_arena_new_sized(CHUNK_SIZE);
}

qp_arena *qp_arena_new_sized(size_t first)
{
    qp_arena *a = calloc(1, sizeof(qp_arena));

    if (a != NULL)
        a->next = first < MIN_CHUNK ? MIN_CHUNK : first > CHUNK_SIZE ? CHUNK_SIZE : first;
    return a;
}

void qp_arena_free(qp_arena *a)
{
    chunk *c, *next;

    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static chunk *chunk_new(qp_arena *a, size_t cap)
{
    chunk *c = malloc(sizeof(chunk) + cap);

    if (c == NULL)
        return NULL;
    a->bytes += sizeof(chunk) + cap;
    c->next = NULL;
    c->used = 0;
    c->cap = cap;
    return c;
}

void *qp_arena_alloc(qp_arena *a, size_t size)
{
    size_t need = (size + ALIGN - 1) & ~(ALIGN - 1);
    chunk *c;
    void *p;

    if (need < size)
        return NULL; /* overflow */
    if (need == 0)
        need = ALIGN;
#ifdef QP_ARENA_DEBUG
    c = chunk_new(a, need);
    if (c == NULL)
        return NULL;
    c->next = a->head;
    a->head = c;
#else
    c = a->head;
    if (c == NULL || c->cap - c->used < need) {
        if (need > a->next / 4) {
            /* A big block gets its own chunk, linked behind the current one
             * so the current chunk keeps serving small requests. */
            chunk *big = chunk_new(a, need);
            if (big == NULL)
                return NULL;
            big->used = need;
            if (c != NULL) {
                big->next = c->next;
                c->next = big;
            } else {
                a->head = big;
            }
            memset(big->data, 0, need);
            return big->data;
        }
        c = chunk_new(a, a->next);
        if (c == NULL)
            return NULL;
        a->next = a->next * 2 > CHUNK_SIZE ? CHUNK_SIZE : a->next * 2;
        c->next = a->head;
        a->head = c;
    }
#endif
    p = c->data + c->used;
    c->used += need;
    memset(p, 0, need);
    return p;
}

char *qp_arena_strndup(qp_arena *a, const char *s, size_t len)
{
    char *p = qp_arena_alloc(a, len + 1);

    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *qp_arena_strdup(qp_arena *a, const char *s)
{
    return qp_arena_strndup(a, s, strlen(s));
}

void *qp_arena_grow(qp_arena *a, const void *old, size_t n, size_t newcap, size_t elem)
{
    void *p;

    if (newcap != 0 && elem > SIZE_MAX / newcap)
        return NULL;
    p = qp_arena_alloc(a, newcap * elem);
    if (p != NULL && n > 0)
        memcpy(p, old, n * elem);
    return p;
}

size_t qp_arena_bytes(const qp_arena *a)
{
    return a != NULL ? a->bytes : 0;
}
