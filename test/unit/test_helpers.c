/* Unit tests for daemon/helpers.c: every task of a run runs exactly once,
 * with no helper, one, or three, with runs posted from several threads at
 * once, and a run returns only when its tasks are done. */
#include "qp_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define TASKS 2000

typedef struct counts {
    atomic_int ran[TASKS];
} counts;

static void count_task(void *arg, size_t i)
{
    counts *c = arg;
    atomic_fetch_add(&c->ran[i], 1);
}

static void run_and_check(qpd_helpers *h, size_t n)
{
    counts *c = calloc(1, sizeof *c);
    assert_non_null(c);
    qpd_helpers_run(h, count_task, c, n);
    /* Returned: every task ran, once, and nothing past n. */
    for (size_t i = 0; i < TASKS; i++)
        assert_int_equal(atomic_load(&c->ran[i]), i < n ? 1 : 0);
    free(c);
}

static void test_each_task_once(void **state)
{
    (void)state;
    for (unsigned nh = 0; nh <= 3; nh += 1) {
        qpd_helpers *h = qpd_helpers_new(nh);
        static const size_t sizes[] = {0, 1, 2, 3, 17, TASKS};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            for (int round = 0; round < 20; round++)
                run_and_check(h, sizes[k]);
        qpd_helpers_free(h);
    }
}

typedef struct poster {
    qpd_helpers *h;
    int rounds;
} poster;

static void *post_many(void *p)
{
    poster *ps = p;
    for (int r = 0; r < ps->rounds; r++)
        run_and_check(ps->h, (size_t)(r % 7 == 0 ? TASKS : 1 + r % 50));
    return NULL;
}

/* Four threads post at once (more runs than helpers): each run still
 * gets all its tasks done, by itself when no helper is free. */
static void test_concurrent_runs(void **state)
{
    (void)state;
    qpd_helpers *h = qpd_helpers_new(1);
    pthread_t t[4];
    poster ps = {h, 200};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, post_many, &ps), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    qpd_helpers_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_task_once),
        cmocka_unit_test(test_concurrent_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
