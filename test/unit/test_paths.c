/* Unit tests for daemon/paths.c: default socket and index names, vault
 * discovery, mkdir -p. Each test sets the environment it depends on. */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include "qp_test.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "paths.h"

/* A scratch directory per test run, removed by teardown. */
static char scratch[PATH_MAX];

static int setup(void **state)
{
    char tmpl[] = "/tmp/qp-test-paths-XXXXXX";
    char *real;

    (void)state;
    if (mkdtemp(tmpl) == NULL)
        return -1;
    /* /tmp may itself be a symlink; find_vault reports real paths. */
    real = realpath(tmpl, NULL);
    if (real == NULL)
        return -1;
    snprintf(scratch, sizeof scratch, "%s", real);
    free(real);
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* The hash part computed independently of paths.c: the high 32 bits of
 * XXH3_64bits of the real path, as 8 lowercase hex digits. */
static void expect_hash(char out[9], const char *path)
{
    snprintf(out, 9, "%08x", (unsigned)(XXH3_64bits(path, strlen(path)) >> 32));
}

static void test_socket_under_xdg_runtime_dir(void **state)
{
    char buf[256], want[256], h[9];

    (void)state;
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_int_equal(qpd_paths_default_socket(buf, sizeof buf, "/home/ann/Notes"), 0);
    expect_hash(h, "/home/ann/Notes");
    snprintf(want, sizeof want, "/run/user/1000/quipu/Notes-%s.sock", h);
    assert_string_equal(buf, want);
}

static void test_socket_fallback_to_tmp(void **state)
{
    char buf[256], want[256], h[9];

    (void)state;
    expect_hash(h, "/home/ann/Notes");
    snprintf(want, sizeof want, "/tmp/quipu-%lu/Notes-%s.sock", (unsigned long)getuid(), h);

    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(qpd_paths_default_socket(buf, sizeof buf, "/home/ann/Notes"), 0);
    assert_string_equal(buf, want);

    /* Empty counts as unset. */
    setenv("XDG_RUNTIME_DIR", "", 1);
    assert_int_equal(qpd_paths_default_socket(buf, sizeof buf, "/home/ann/Notes"), 0);
    assert_string_equal(buf, want);
}

static void test_hash_separates_same_named_vaults(void **state)
{
    char a[256], b[256];

    (void)state;
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_int_equal(qpd_paths_default_socket(a, sizeof a, "/home/ann/Notes"), 0);
    assert_int_equal(qpd_paths_default_socket(b, sizeof b, "/home/bob/Notes"), 0);
    assert_string_not_equal(a, b);
    /* Same prefix and name, different hash. */
    assert_int_equal(strncmp(a, "/run/user/1000/quipu/Notes-", 27), 0);
    assert_int_equal(strncmp(b, "/run/user/1000/quipu/Notes-", 27), 0);
    assert_int_equal(strlen(a), strlen("/run/user/1000/quipu/Notes-12345678.sock"));
}

static void test_long_name_is_cut_on_utf8_boundary(void **state)
{
    /* 31 ASCII bytes then "é" (2 bytes): byte 32 is the middle of é. */
    const char *vault = "/v/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaéz";
    char buf[256], want[256], h[9];

    (void)state;
    setenv("XDG_RUNTIME_DIR", "/r", 1);
    expect_hash(h, vault);
    assert_int_equal(qpd_paths_default_socket(buf, sizeof buf, vault), 0);
    snprintf(want, sizeof want, "/r/quipu/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-%s.sock", h);
    assert_string_equal(buf, want);
}

static void test_too_small_buffer(void **state)
{
    char buf[16];

    (void)state;
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_int_equal(qpd_paths_default_socket(buf, sizeof buf, "/home/ann/Notes"), -ENAMETOOLONG);
    assert_string_equal(buf, "");
}

static void test_db_under_xdg_cache_home_then_home(void **state)
{
    char buf[256], want[256], h[9];

    (void)state;
    expect_hash(h, "/srv/vault");

    setenv("XDG_CACHE_HOME", "/c", 1);
    assert_int_equal(qpd_paths_default_db(buf, sizeof buf, "/srv/vault"), 0);
    snprintf(want, sizeof want, "/c/quipu/vault-%s.sqlite3", h);
    assert_string_equal(buf, want);

    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/ann", 1);
    assert_int_equal(qpd_paths_default_db(buf, sizeof buf, "/srv/vault"), 0);
    snprintf(want, sizeof want, "/home/ann/.cache/quipu/vault-%s.sqlite3", h);
    assert_string_equal(buf, want);

    /* A relative XDG_CACHE_HOME is ignored, as the XDG spec says. */
    setenv("XDG_CACHE_HOME", "relative/cache", 1);
    assert_int_equal(qpd_paths_default_db(buf, sizeof buf, "/srv/vault"), 0);
    assert_string_equal(buf, want);
    unsetenv("XDG_CACHE_HOME");
}

static void test_find_vault_walks_up(void **state)
{
    char dir[PATH_MAX + 64], buf[PATH_MAX], want[PATH_MAX + 8];

    (void)state;
    snprintf(dir, sizeof dir, "%s/vault/.obsidian", scratch);
    assert_int_equal(qpd_paths_mkdir_p(dir, 0700), 0);
    snprintf(dir, sizeof dir, "%s/vault/People/Deep/er", scratch);
    assert_int_equal(qpd_paths_mkdir_p(dir, 0700), 0);
    snprintf(want, sizeof want, "%s/vault", scratch);

    assert_int_equal(qpd_paths_find_vault(buf, sizeof buf, dir), 0);
    assert_string_equal(buf, want);
    assert_int_equal(qpd_paths_find_vault(buf, sizeof buf, want), 0);
    assert_string_equal(buf, want);
}

static void test_find_vault_needs_a_directory(void **state)
{
    char dir[PATH_MAX + 64], buf[PATH_MAX];
    FILE *f;

    (void)state;
    /* A plain file called .obsidian is not a vault marker. */
    snprintf(dir, sizeof dir, "%s/notvault/.obsidian", scratch);
    assert_int_equal(qpd_paths_mkdir_p(scratch, 0700), 0);
    snprintf(dir, sizeof dir, "%s/notvault", scratch);
    assert_int_equal(qpd_paths_mkdir_p(dir, 0700), 0);
    snprintf(dir, sizeof dir, "%s/notvault/.obsidian", scratch);
    f = fopen(dir, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/notvault", scratch);
    /* /tmp has no .obsidian above it on a sane test machine. */
    assert_int_equal(qpd_paths_find_vault(buf, sizeof buf, dir), -ENOENT);
    assert_string_equal(buf, "");
}

static void test_find_vault_missing_start(void **state)
{
    char buf[PATH_MAX], dir[PATH_MAX + 16];

    (void)state;
    snprintf(dir, sizeof dir, "%s/nope", scratch);
    assert_int_equal(qpd_paths_find_vault(buf, sizeof buf, dir), -ENOENT);
}

static void test_mkdir_p(void **state)
{
    char dir[PATH_MAX + 64], file[PATH_MAX + 64];
    struct stat sb;
    FILE *f;

    (void)state;
    snprintf(dir, sizeof dir, "%s/a/b/c/", scratch);
    assert_int_equal(qpd_paths_mkdir_p(dir, 0700), 0);
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* Existing: still success. */
    assert_int_equal(qpd_paths_mkdir_p(dir, 0700), 0);

    snprintf(file, sizeof file, "%s/a/file", scratch);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(qpd_paths_mkdir_p(file, 0700), -ENOTDIR);
    snprintf(file, sizeof file, "%s/a/file/below", scratch);
    assert_int_equal(qpd_paths_mkdir_p(file, 0700), -ENOTDIR);
    assert_int_equal(qpd_paths_mkdir_p("", 0700), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_under_xdg_runtime_dir),
        cmocka_unit_test(test_socket_fallback_to_tmp),
        cmocka_unit_test(test_hash_separates_same_named_vaults),
        cmocka_unit_test(test_long_name_is_cut_on_utf8_boundary),
        cmocka_unit_test(test_too_small_buffer),
        cmocka_unit_test(test_db_under_xdg_cache_home_then_home),
        cmocka_unit_test(test_find_vault_walks_up),
        cmocka_unit_test(test_find_vault_needs_a_directory),
        cmocka_unit_test(test_find_vault_missing_start),
        cmocka_unit_test(test_mkdir_p),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
