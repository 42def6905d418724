/*
 * test_vault — walk order, ignore rules (dot folders; userIgnoreFilters only
 * exclude), settings reload,
 * symlinks (loops, links out of the vault), safe reads, size limit, hash.
 * Each test builds its vault in a fresh temporary directory.
 */
#define _XOPEN_SOURCE 700 /* realpath, mkdtemp, symlink */

#include "qp_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "quipu/vault.h"

typedef struct fx {
    char root[64];  /* the vault */
    char outer[64]; /* a directory outside it */
    qp_vault *v;
} fx;

static void put(const char *dir, const char *rel, const char *content)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* create parent folders */
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void link_to(const char *dir, const char *rel, const char *target)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal(symlink(target, path), 0);
}

static void rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", path, path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char target[256];

    if (f == NULL)
        return -1;
    strcpy(f->root, "/tmp/qp_vault_XXXXXX");
    strcpy(f->outer, "/tmp/qp_outer_XXXXXX");
    if (mkdtemp(f->root) == NULL || mkdtemp(f->outer) == NULL)
        return -1;

    put(f->root, ".obsidian/app.json",
        "{\"userIgnoreFilters\": [\"Archive/\", \"Templates\", \"/\\\\.tmp$/\", \"/[bad(/\", "
        "42, \"\"]}");
    put(f->root, ".obsidian/workspace.md", "x");
    put(f->root, ".git/HEAD.md", "x");
    put(f->root, ".trash/old.md", "x");
    put(f->root, "A.md", "# A\nhello\n");
    put(f->root, "B.MD", "b");
    put(f->root, "Cafe\xCC\x81.md", "nfd name");
    put(f->root, "People/Mara Lindqvist.md", "---\ntype: person\n---\n");
    put(f->root, "People/.hidden.md", "x");
    put(f->root, "Archive/old.md", "x");
    put(f->root, "ArchiveOld.md", "kept: the filter is Archive/");
    put(f->root, "Templates.md", "x");
    put(f->root, "Templates/t.md", "x");
    put(f->root, "TemplatesX/y.md", "x");
    put(f->root, "notes/draft.tmp", "x");
    put(f->root, "notes/n.md", "n");
    put(f->root, "attachments/img.png", "\x89PNG");
    put(f->outer, "secret.md", "secret");
    link_to(f->root, "People/loop", "..");
    link_to(f->root, "People/self", ".");
    link_to(f->root, "alias.md", "A.md");
    snprintf(target, sizeof target, "%s/secret.md", f->outer);
    link_to(f->root, "secret.md", target);
    link_to(f->root, "outdir", f->outer);
    link_to(f->root, "dangling.md", "nowhere.md");

    qp_error err = QP_ERROR_INIT;
    if (qp_vault_open(&f->v, f->root, &err) != QP_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    qp_vault_close(f->v);
    rm_rf(f->root);
    rm_rf(f->outer);
    free(f);
    return 0;
}

typedef struct seen_files {
    char paths[32][128];
    qp_file_stat st[32];
    int n;
    int stop_at; /* return 7 after this many files; 0 = never */
} seen_files;

static int collect(const char *relpath, const qp_file_stat *st, void *payload)
{
    seen_files *s = payload;
    if (s->n < 32) {
        snprintf(s->paths[s->n], sizeof s->paths[0], "%s", relpath);
        s->st[s->n] = *st;
    }
    s->n++;
    return s->stop_at > 0 && s->n == s->stop_at ? 7 : 0;
}

static void test_walk(void **state)
{
    fx *f = *state;
    /* excluded files (userIgnoreFilters) are walked: Obsidian indexes them */
    static const char *const want[] = {
        "A.md",           "Archive/old.md",      "ArchiveOld.md",
        "B.MD",           "Caf\xC3\xA9.md",      "People/Mara Lindqvist.md",
        "Templates/t.md", "Templates.md",        "TemplatesX/y.md",
        "alias.md",       "attachments/img.png", "notes/draft.tmp",
        "notes/n.md",
    };
    seen_files s;
    qp_error err = QP_ERROR_INIT;

    memset(&s, 0, sizeof s);
    assert_rc(qp_vault_walk(f->v, collect, &s, &err), QP_OK);
    if (s.n != 13)
        for (int i = 0; i < s.n && i < 32; i++)
            printf("# walk: %s\n", s.paths[i]);
    assert_int_equal(s.n, 13);
    for (int i = 0; i < 13; i++)
        assert_string_equal(s.paths[i], want[i]);
    assert_int_equal(s.st[0].size, 10);
    assert_true(s.st[0].mtime_ns > 0);
    assert_int_equal(s.st[0].hash, 0);
    /* a symlinked file reports its target's size */
    assert_int_equal(s.st[9].size, 10);
}

static void test_walk_stop(void **state)
{
    fx *f = *state;
    seen_files s;

    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    assert_int_equal(qp_vault_walk(f->v, collect, &s, NULL), 7);
    assert_int_equal(s.n, 2);
}

static void test_walk_unreadable_dir(void **state)
{
    fx *f = *state;
    char path[256];
    seen_files s;

    if (geteuid() == 0)
        skip(); /* root reads through mode 000 */
    put(f->root, "locked/x.md", "x");
    snprintf(path, sizeof path, "%s/locked", f->root);
    assert_int_equal(chmod(path, 0), 0);
    memset(&s, 0, sizeof s);
    assert_rc(qp_vault_walk(f->v, collect, &s, NULL), QP_OK);
    assert_int_equal(s.n, 13);
    chmod(path, 0755);
}

static void test_ignored(void **state)
{
    fx *f = *state;

    /* ignored: a dot component, nothing else */
    assert_true(qp_vault_ignored(f->v, ".obsidian/app.json"));
    assert_true(qp_vault_ignored(f->v, ".obsidian"));
    assert_true(qp_vault_ignored(f->v, ".trash/x.md"));
    assert_true(qp_vault_ignored(f->v, "People/.hidden.md"));
    assert_true(qp_vault_ignored(f->v, "People/.cache"));
    assert_true(qp_vault_ignored(f->v, "a/.git/b/c.md"));
    assert_true(qp_vault_ignored(NULL, ".x"));
    assert_false(qp_vault_ignored(f->v, "Archive/old.md"));
    assert_false(qp_vault_ignored(f->v, "Archive"));
    assert_false(qp_vault_ignored(f->v, "notes/a.b.md"));

    /* excluded: userIgnoreFilters */
    assert_true(qp_vault_excluded(f->v, "Archive/old.md"));
    assert_false(qp_vault_excluded(f->v, "Archive")); /* a file named Archive is not in Archive/ */
    assert_false(qp_vault_excluded(f->v, "ArchiveOld.md"));
    assert_false(qp_vault_excluded(f->v, "archive/x.md")); /* case-sensitive */
    assert_true(qp_vault_excluded(f->v, "Templates.md"));
    assert_true(qp_vault_excluded(f->v, "TemplatesX/y.md"));
    assert_false(qp_vault_excluded(f->v, "My Templates.md"));
    assert_true(qp_vault_excluded(f->v, "notes/draft.tmp"));
    assert_false(qp_vault_excluded(f->v, "notes/draft.tmp.md"));
    assert_false(qp_vault_excluded(f->v, "People/Mara Lindqvist.md"));
    assert_false(qp_vault_excluded(NULL, "Templates.md"));
}

static void test_no_app_json(void **state)
{
    fx *f = *state;
    char dir[256];
    qp_vault *v = NULL;

    snprintf(dir, sizeof dir, "%s/notes", f->root);
    assert_rc(qp_vault_open(&v, dir, NULL), QP_OK);
    assert_false(qp_vault_excluded(v, "Archive/old.md"));
    assert_true(qp_vault_ignored(v, ".x/y.md"));
    qp_vault_close(v);

    /* malformed app.json: no filters, the vault still opens, the warning says why */
    put(f->root, "notes/.obsidian/app.json", "{not json");
    assert_rc(qp_vault_open(&v, dir, NULL), QP_OK);
    assert_false(qp_vault_excluded(v, "Templates.md"));
    qp_vaultconf *c = qp_vault_conf(v);
    assert_non_null(qp_vaultconf_warning(c));
    assert_non_null(strstr(qp_vaultconf_warning(c), ".obsidian/app.json:1:"));
    qp_vaultconf_free(c);
    qp_vault_close(v);
}

/* A changed app.json replaces the snapshot; a re-save of the same settings
 * does not; a query holding the old snapshot keeps it. */
static void test_reload_conf(void **state)
{
    fx *f = *state;
    bool changed = true;
    qp_vaultconf *old = qp_vault_conf(f->v);

    assert_rc(qp_vault_reload_conf(f->v, &changed, NULL), QP_OK);
    assert_false(changed);

    put(f->root, ".obsidian/app.json", "{\"userIgnoreFilters\": [\"notes/\"]}");
    assert_rc(qp_vault_reload_conf(f->v, &changed, NULL), QP_OK);
    assert_true(changed);
    assert_false(qp_vault_excluded(f->v, "Archive/old.md"));
    assert_true(qp_vault_excluded(f->v, "notes/n.md"));
    assert_true(qp_vaultconf_excluded(old, "Archive/old.md")); /* the old one is intact */
    qp_vaultconf_free(old);

    /* the Tasks plugin's data.json is part of the snapshot */
    put(f->root, ".obsidian/plugins/obsidian-tasks-plugin/data.json", "{\"globalFilter\": \"#t\"}");
    assert_rc(qp_vault_reload_conf(f->v, &changed, NULL), QP_OK);
    assert_true(changed);
    qp_vaultconf *c = qp_vault_conf(f->v);
    assert_non_null(qp_vaultconf_tasks(c));
    qp_vaultconf_free(c);
    assert_rc(qp_vault_reload_conf(f->v, &changed, NULL), QP_OK);
    assert_false(changed);
}

static void test_open(void **state)
{
    fx *f = *state;
    char real[4096], path[256];
    qp_vault *v = (qp_vault *)f; /* must be reset to NULL on failure */
    qp_error err = QP_ERROR_INIT;

    assert_non_null(realpath(f->root, real));
    assert_string_equal(qp_vault_root(f->v), real);

    /* a relative spelling with a trailing slash resolves to the same root */
    snprintf(path, sizeof path, "%s/People/../", f->root);
    assert_rc(qp_vault_open(&v, path, NULL), QP_OK);
    assert_string_equal(qp_vault_root(v), real);
    qp_vault_close(v);

    snprintf(path, sizeof path, "%s/nope", f->root);
    assert_rc(qp_vault_open(&v, path, &err), QP_ENOTFOUND);
    assert_null(v);
    assert_int_equal(err.code, QP_ENOTFOUND);
    assert_int_equal(err.sys, ENOENT);

    snprintf(path, sizeof path, "%s/A.md", f->root);
    assert_rc(qp_vault_open(&v, path, NULL), QP_ENOTFOUND);
    assert_null(v);
}

static void test_is_note(void **state)
{
    (void)state;
    assert_true(qp_vault_is_note("a.md"));
    assert_true(qp_vault_is_note("dir/A.MD"));
    assert_true(qp_vault_is_note("x.Md"));
    assert_false(qp_vault_is_note("a.md.png"));
    assert_false(qp_vault_is_note("a.markdown"));
    assert_false(qp_vault_is_note("md"));
    assert_false(qp_vault_is_note("amd"));
    assert_false(qp_vault_is_note(".md"));
}

static void test_read(void **state)
{
    fx *f = *state;
    char *buf = NULL;
    size_t len = 0;
    qp_file_stat st;
    struct stat s;
    char path[256];
    qp_error err = QP_ERROR_INIT;

    assert_rc(qp_vault_read(f->v, "A.md", 0, &buf, &len, &st, &err), QP_OK);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "# A\nhello\n");
    assert_int_equal(st.size, 10);
    assert_int_equal(st.hash, XXH3_64bits("# A\nhello\n", 10));
    snprintf(path, sizeof path, "%s/A.md", f->root);
    assert_int_equal(stat(path, &s), 0);
    assert_int_equal(st.mtime_ns, (int64_t)s.st_mtim.tv_sec * 1000000000 + s.st_mtim.tv_nsec);
    free(buf);

    /* a symlink inside the vault reads its target */
    assert_rc(qp_vault_read(f->v, "alias.md", 0, &buf, &len, &st, NULL), QP_OK);
    assert_string_equal(buf, "# A\nhello\n");
    free(buf);

    /* the NFC name the walk reported reads the NFD file */
    assert_rc(qp_vault_read(f->v, "Caf\xC3\xA9.md", 0, &buf, &len, &st, NULL), QP_OK);
    assert_string_equal(buf, "nfd name");
    free(buf);

    /* an empty file */
    put(f->root, "empty.md", "");
    assert_rc(qp_vault_read(f->v, "empty.md", 0, &buf, &len, &st, NULL), QP_OK);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    assert_int_equal(st.hash, XXH3_64bits("", 0));
    free(buf);
}

static void test_read_refused(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {
        "../x.md",
        "/etc/passwd",
        "",
        "a/../A.md",
        "People/..",
        "..",
        "secret.md",        /* symlink out of the vault */
        "outdir/secret.md", /* through a linked folder outside */
        "People/loop/../../etc/passwd",
    };
    char *buf = (char *)f;
    size_t len = 99;
    qp_file_stat st;
    qp_error err = QP_ERROR_INIT;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        qp_rc rc = qp_vault_read(f->v, bad[i], 0, &buf, &len, &st, &err);
        if (rc != QP_EINVAL)
            fail_msg("%s: got %s", bad[i], qp_rc_name(rc));
        assert_null(buf);
        assert_int_equal(len, 0);
        assert_rc(qp_vault_stat(f->v, bad[i], &st, NULL), QP_EINVAL);
    }
    assert_rc(qp_vault_read(f->v, NULL, 0, &buf, &len, &st, NULL), QP_EINVAL);
    assert_rc(qp_vault_read(f->v, "People", 0, &buf, &len, &st, NULL), QP_EINVAL);
    assert_rc(qp_vault_read(f->v, "missing.md", 0, &buf, &len, &st, &err), QP_ENOTFOUND);
    assert_int_equal(err.sys, ENOENT);
    assert_rc(qp_vault_read(f->v, "dangling.md", 0, &buf, &len, &st, NULL), QP_ENOTFOUND);
    assert_rc(qp_vault_read(f->v, "A.md/x", 0, &buf, &len, &st, NULL), QP_ENOTFOUND);
    assert_null(buf);
}

static void test_size_limit(void **state)
{
    fx *f = *state;
    char *buf = (char *)f;
    size_t len = 99;
    qp_file_stat st;

    assert_rc(qp_vault_read(f->v, "A.md", 9, &buf, &len, &st, NULL), QP_ETOOBIG);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(st.size, 10);
    assert_true(st.mtime_ns > 0);
    assert_int_equal(st.hash, 0);
    /* exactly at the limit is fine */
    assert_rc(qp_vault_read(f->v, "A.md", 10, &buf, &len, &st, NULL), QP_OK);
    assert_int_equal(len, 10);
    free(buf);
}

static void test_hash_stable(void **state)
{
    fx *f = *state;
    char *buf;
    size_t len;
    qp_file_stat a, b, c;

    assert_rc(qp_vault_read(f->v, "notes/n.md", 0, &buf, &len, &a, NULL), QP_OK);
    free(buf);
    assert_rc(qp_vault_read(f->v, "notes/n.md", 0, &buf, &len, &b, NULL), QP_OK);
    free(buf);
    assert_true(a.hash != 0);
    assert_int_equal(a.hash, b.hash);
    put(f->root, "notes/n.md", "m");
    assert_rc(qp_vault_read(f->v, "notes/n.md", 0, &buf, &len, &c, NULL), QP_OK);
    free(buf);
    assert_true(c.hash != a.hash);
    assert_int_equal(c.hash, XXH3_64bits("m", 1));
}

static void test_stat(void **state)
{
    fx *f = *state;
    qp_file_stat st;
    qp_error err = QP_ERROR_INIT;

    assert_rc(qp_vault_stat(f->v, "People/Mara Lindqvist.md", &st, &err), QP_OK);
    assert_int_equal(st.size, 21);
    assert_true(st.mtime_ns > 0);
    assert_int_equal(st.hash, 0);
    assert_rc(qp_vault_stat(f->v, "nope.md", &st, NULL), QP_ENOTFOUND);
    assert_rc(qp_vault_stat(f->v, "People", &st, NULL), QP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walk_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walk_unreadable_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_app_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_conf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test(test_is_note),
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
