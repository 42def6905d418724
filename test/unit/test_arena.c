/* test_arena — the bump allocator (lib/arena.c): zero-filled, aligned
 * blocks, copies, growth, and the bytes it holds (which the daemon counts
 * to bound the parsed notes waiting for the writer). The same assertions
 * hold in the QP_ARENA_DEBUG build, where every block is its own malloc. */
#include "qp_test.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/arena.h"
#include "quipu/init.h"
#include "quipu/note.h"

static void test_blocks_zeroed_and_aligned(void **state)
{
    (void)state;
    qp_arena *a = qp_arena_new();
    assert_non_null(a);
    for (size_t size = 0; size < 300; size += 7) {
        unsigned char *p = qp_arena_alloc(a, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        for (size_t i = 0; i < size; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xAB, size); /* the next block must not overlap */
    }
    char *s = qp_arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    int *v = qp_arena_alloc(a, 4 * sizeof *v);
    for (int i = 0; i < 4; i++)
        v[i] = i + 1;
    int *w = qp_arena_grow(a, v, 4, 100, sizeof *v);
    assert_non_null(w);
    assert_int_equal(w[3], 4);
    assert_int_equal(w[99], 0);
    qp_arena_free(a);
    qp_arena_free(NULL);
}

/* What an arena holds from malloc: at least what was asked, growing with
 * every block; a sized arena does not keep a default chunk for a few small
 * blocks. */
static void test_bytes_held(void **state)
{
    (void)state;
    qp_arena *a = qp_arena_new_sized(2048);
    assert_int_equal(qp_arena_bytes(a), 0);
    size_t last = 0, asked = 0;
    for (int i = 0; i < 10; i++) {
        assert_non_null(qp_arena_alloc(a, 100));
        asked += 100;
        assert_true(qp_arena_bytes(a) >= last);
        last = qp_arena_bytes(a);
    }
    assert_true(last >= asked);
    assert_true(last < 8192);
    /* A block bigger than a chunk gets one of its own, counted whole. */
    assert_non_null(qp_arena_alloc(a, 100000));
    assert_true(qp_arena_bytes(a) >= last + 100000);
    qp_arena_free(a);
    assert_int_equal(qp_arena_bytes(NULL), 0);
}

/* A parsed note holds at least its source and its mention text. */
static void test_note_bytes(void **state)
{
    (void)state;
    static const char text[] = "# Note\n\nSee [[Other]] and #tag.\n- [ ] a task 📅 2025-01-02\n";
    qp_note *n = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_note_parse(&n, "Note.md", text, sizeof text - 1, NULL, &err), QP_OK);
    assert_true(qp_note_bytes(n) >= 2 * (sizeof text - 1));
    qp_note_free(n);
    assert_int_equal(qp_note_bytes(NULL), 0);
}

int main(void)
{
    qp_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_zeroed_and_aligned),
        cmocka_unit_test(test_bytes_held),
        cmocka_unit_test(test_note_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
