/* Unit tests for daemon/cache.c: answers keyed by method, params and (for
 * dated methods) the day, for one generation, within the byte limit. */
#include "qp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static char *dup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static void put(qpd_cache *c, const char *m, const char *p, const char *day, int64_t gen,
                const char *answer)
{
    qpd_cache_put(c, m, p, day, gen, gen, dup(answer), strlen(answer));
}

static void test_key_and_generation(void **state)
{
    qpd_cache *c = qpd_cache_new(1 << 20);
    size_t n = 0;
    (void)state;

    assert_true(qpd_cache_empty(c));
    put(c, "backlinks", "{\"note\":\"A\"}", NULL, 3, "{\"linked\":[]}");
    assert_string_equal(qpd_cache_get(c, "backlinks", "{\"note\":\"A\"}", NULL, 3, &n),
                        "{\"linked\":[]}");
    assert_int_equal(n, 13);
    /* another note, another method, another generation: no answer */
    assert_null(qpd_cache_get(c, "backlinks", "{\"note\":\"B\"}", NULL, 3, &n));
    assert_null(qpd_cache_get(c, "mentions", "{\"note\":\"A\"}", NULL, 3, &n));
    assert_null(qpd_cache_get(c, "backlinks", "{\"note\":\"A\"}", NULL, 4, &n));
    /* an answer of an older generation than the loop's is never kept */
    qpd_cache_put(c, "backlinks", "{\"note\":\"B\"}", NULL, 2, 3, dup("x"), 1);
    assert_null(qpd_cache_get(c, "backlinks", "{\"note\":\"B\"}", NULL, 3, &n));
    /* a put at a newer generation empties the older one's answers */
    put(c, "backlinks", "{\"note\":\"B\"}", NULL, 4, "{}");
    assert_null(qpd_cache_get(c, "backlinks", "{\"note\":\"A\"}", NULL, 3, &n));
    assert_non_null(qpd_cache_get(c, "backlinks", "{\"note\":\"B\"}", NULL, 4, &n));
    qpd_cache_free(c);
}

/* A task query without `today` counts from the local date: its answer of
 * one day is not the next day's, and the day is part of the key, never
 * confused with the params. */
static void test_day(void **state)
{
    qpd_cache *c = qpd_cache_new(1 << 20);
    size_t n = 0;
    (void)state;

    put(c, "tasks.query", "{\"query\":\"due today\"}", "2026-12-04", 7, "{\"total\":1}");
    assert_string_equal(
        qpd_cache_get(c, "tasks.query", "{\"query\":\"due today\"}", "2026-12-04", 7, &n),
        "{\"total\":1}");
    assert_null(qpd_cache_get(c, "tasks.query", "{\"query\":\"due today\"}", "2026-12-05", 7, &n));
    assert_null(qpd_cache_get(c, "tasks.query", "{\"query\":\"due today\"}", NULL, 7, &n));
    put(c, "tasks.query", "{\"query\":\"due today\"}", "2026-12-05", 7, "{\"total\":2}");
    assert_string_equal(
        qpd_cache_get(c, "tasks.query", "{\"query\":\"due today\"}", "2026-12-05", 7, &n),
        "{\"total\":2}");
    assert_string_equal(
        qpd_cache_get(c, "tasks.query", "{\"query\":\"due today\"}", "2026-12-04", 7, &n),
        "{\"total\":1}");
    qpd_cache_free(c);
}

static void test_limit(void **state)
{
    qpd_cache *c = qpd_cache_new(400);
    char big[120];
    size_t n = 0;
    (void)state;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(qpd_cache_fits(c, 101)); /* over a quarter of the limit */
    assert_true(qpd_cache_fits(c, 100));
    put(c, "note", "{\"note\":\"A\"}", NULL, 1, big);
    assert_null(qpd_cache_get(c, "note", "{\"note\":\"A\"}", NULL, 1, &n));
    assert_true(qpd_cache_empty(c));
    big[90] = '\0';
    for (int i = 0; i < 5; i++) { /* 5 x ~105 bytes: full after 3, emptied, kept again */
        char p[32];
        snprintf(p, sizeof p, "{\"i\":%d}", i);
        put(c, "note", p, NULL, 1, big);
        assert_non_null(qpd_cache_get(c, "note", p, NULL, 1, &n));
    }
    assert_null(qpd_cache_get(c, "note", "{\"i\":0}", NULL, 1, &n));
    qpd_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_and_generation),
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
