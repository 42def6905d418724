/* test_changes — the change-set scheduler (daemon/changes.c) in process,
 * against a fake watcher and fake server hooks: a real writer thread, real
 * parse and scan jobs on libuv's pool, a real index in a temp directory.
 * Every test ends with the scheduler stopped and uv_loop_close() == 0. */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include "qp_test.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "changes.h"
#include "log.h"
#include "qpd.h"
#include "quipu/init.h"
#include "quipu/store.h"
#include "quipu/vault.h"
#include "readers.h"

#define MAX_WATCHES 64

typedef struct fx {
    qpd_daemon d; /* first: the hooks get &fx->d */
    uv_loop_t loop;
    uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) so a wait can time out */
    char root[64], dbdir[64], db[128];
    /* the fake watcher */
    char *watched[MAX_WATCHES];
    size_t nwatched;
    char unwatched[256]; /* the last unwatch_tree */
    unsigned keep_only_calls;
    /* the fake server */
    unsigned commits, state_changes;
    int64_t last_commit_generation;
    bool stopped;
} fx;

static fx *F(qpd_daemon *d)
{
    return (fx *)d;
}

static int find_watch(fx *f, const char *rel)
{
    for (size_t i = 0; i < f->nwatched; i++)
        if (strcmp(f->watched[i], rel) == 0)
            return (int)i;
    return -1;
}

static bool fake_watch(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino)
{
    fx *f = F(d);
    (void)dev;
    (void)ino;

    if (find_watch(f, rel) >= 0)
        return false;
    assert_true(f->nwatched < MAX_WATCHES);
    f->watched[f->nwatched++] = strdup(rel);
    return true;
}

static bool fake_watched(qpd_daemon *d, const char *rel)
{
    return find_watch(F(d), rel) >= 0;
}

static bool fake_replaced(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino)
{
    (void)d, (void)rel, (void)dev, (void)ino;
    return false;
}

static void fake_unwatch_tree(qpd_daemon *d, const char *rel)
{
    fx *f = F(d);
    size_t n = strlen(rel), k = 0;

    snprintf(f->unwatched, sizeof f->unwatched, "%s", rel);
    for (size_t i = 0; i < f->nwatched; i++) {
        if (strcmp(f->watched[i], rel) == 0 ||
            (strncmp(f->watched[i], rel, n) == 0 && f->watched[i][n] == '/'))
            free(f->watched[i]);
        else
            f->watched[k++] = f->watched[i];
    }
    f->nwatched = k;
}

static void fake_keep_only(qpd_daemon *d, char *const *dirs, size_t n)
{
    fx *f = F(d);

    f->keep_only_calls++;
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(dirs[i - 1], dirs[i]) < 0); /* sorted, as watcher.h asks */
}

static bool fake_degraded(qpd_daemon *d)
{
    (void)d;
    return false;
}

static void fake_committed(qpd_daemon *d)
{
    fx *f = F(d);

    assert_true(d->generation > f->last_commit_generation); /* generations only grow */
    f->last_commit_generation = d->generation;
    f->commits++;
}

static void fake_state_changed(qpd_daemon *d)
{
    F(d)->state_changes++;
}

static const qpd_changes_hooks hooks = {
    .watch = fake_watch,
    .watched = fake_watched,
    .replaced = fake_replaced,
    .unwatch_tree = fake_unwatch_tree,
    .keep_only = fake_keep_only,
    .degraded = fake_degraded,
    .committed = fake_committed,
    .state_changed = fake_state_changed,
};

static void readers_damaged(const char *why, void *payload)
{
    qpd_changes_damaged(payload, why);
}

/* ---- fixture ------------------------------------------------------------ */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void write_file(fx *f, const char *rel, const char *content)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    for (char *p = path + strlen(f->root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void remove_path(fx *f, const char *rel)
{
    char path[512];

    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until `pred` holds; fails after 20 s. */
static void run_until(fx *f, bool (*pred)(fx *f))
{
    uint64_t deadline = uv_hrtime() + 20ull * 1000000000;

    while (!pred(f)) {
        if (uv_hrtime() > deadline)
            fail_msg("timed out waiting for the scheduler");
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static bool is_ready(fx *f)
{
    return f->d.ready && qpd_changes_pending(&f->d) == 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    qp_error err = QP_ERROR_INIT;

    if (f == NULL)
        return -1;
    strcpy(f->root, "/tmp/qp-changes-vault-XXXXXX");
    strcpy(f->dbdir, "/tmp/qp-changes-db-XXXXXX");
    if (!mkdtemp(f->root) || !mkdtemp(f->dbdir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/index.sqlite3", f->dbdir);
    write_file(f, "People/Ann Lee.md", "# Ann Lee\n");
    write_file(f, "People/Bo.md", "# Bo\n[[Ann Lee]]\n");
    write_file(f, "Meeting.md", "[[Ann Lee]] and [[Bo]]\n");
    write_file(f, "pic.png", "not really a picture");
    if (uv_loop_init(&f->loop) != 0 || qp_vault_open(&f->d.vault, f->root, &err) != QP_OK)
        return -1;
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, tick_cb, 20, 20);
    f->d.loop = &f->loop;
    f->d.vault_root = qp_vault_root(f->d.vault);
    snprintf(f->d.db_path, sizeof f->d.db_path, "%s", f->db);
    f->d.threads = 4;
    f->d.watch_limit = -1;
    *state = f;
    return 0;
}

static void start(fx *f)
{
    qp_error err = QP_ERROR_INIT;
    qp_store *wstore = NULL;

    assert_rc(qp_store_open(&wstore, f->db, QP_STORE_WRITE, &err), QP_OK);
    f->d.readers = qpd_readers_new(&f->loop, f->d.db_path, readers_damaged, &f->d);
    assert_rc(qpd_changes_start(&f->d, wstore, &hooks, &err), QP_OK);
}

static void stopped_cb(qpd_daemon *d)
{
    F(d)->stopped = true;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    fx *f = *state;

    /* Shutdown in the daemon's order (quipud.c stop_all). */
    f->d.stopping = true;
    qpd_changes_stop(&f->d, stopped_cb);
    qpd_readers_stop(f->d.readers);
    uv_timer_stop(&f->tick);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->stopped); /* every handle of the scheduler closed */
    qpd_changes_free(&f->d);
    uv_walk(&f->loop, close_walk, NULL); /* nothing should be left: checked next */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    qpd_readers_free(f->d.readers);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    qp_vault_close(f->d.vault);
    for (size_t i = 0; i < f->nwatched; i++)
        free(f->watched[i]);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    nftw(f->dbdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- reading the index back --------------------------------------------- */

static int count_cb(const char *path, void *payload)
{
    (void)path;
    ++*(size_t *)payload;
    return 0;
}

static size_t indexed_files(fx *f)
{
    qp_error err = QP_ERROR_INIT;
    qp_store *st = qpd_readers_acquire(f->d.readers, &err);
    size_t n = 0;

    assert_non_null(st);
    assert_rc(qp_store_each_file(st, count_cb, &n, &err), QP_OK);
    qpd_readers_release(f->d.readers, st);
    return n;
}

static bool indexed(fx *f, const char *rel)
{
    qp_store *st = qpd_readers_acquire(f->d.readers, NULL);
    qp_file_stat fs;
    bool found;

    assert_non_null(st);
    found = qp_store_file_stat(st, rel, &fs, NULL) == QP_OK;
    qpd_readers_release(f->d.readers, st);
    return found;
}

static void start_ready(fx *f)
{
    start(f);
    qpd_changes_rescan(&f->d, "test");
    assert_int_equal(qpd_changes_pending(&f->d), 1); /* a scan is owed */
    run_until(f, is_ready);
}

/* ---- tests -------------------------------------------------------------- */

/* The first scan watches every directory before it walks the files,
 * indexes them in a commit, and ends ready. */
static void test_scan_watches_then_indexes(void **state)
{
    fx *f = *state;

    start_ready(f);
    assert_int_equal(f->nwatched, 2);
    assert_true(find_watch(f, "") >= 0);
    assert_true(find_watch(f, "People") >= 0);
    assert_int_equal(f->keep_only_calls, 1);
    assert_int_equal(indexed_files(f), 4);
    assert_true(indexed(f, "People/Ann Lee.md"));
    assert_true(indexed(f, "pic.png"));
    assert_true(f->commits >= 1);
    assert_true(f->state_changes >= 2); /* the walk's total, then ready */
    assert_int_equal(f->d.scan_total, 0);
}

/* A second scan of an unchanged vault commits nothing new but still
 * reports the state change (how a status subscriber learns of "ready"). */
static void test_rescan_unchanged_reports_state(void **state)
{
    fx *f = *state;
    unsigned commits, changes;

    start_ready(f);
    commits = f->commits;
    changes = f->state_changes;
    f->d.ready = false;
    qpd_changes_rescan(&f->d, "again");
    run_until(f, is_ready);
    assert_int_equal(f->commits, commits);
    assert_true(f->state_changes > changes);
}

static int64_t gen_before;

static bool generation_moved(fx *f)
{
    return f->d.generation > gen_before && qpd_changes_pending(&f->d) == 0;
}

/* Paths reported by the watcher become one change set: a new note is put,
 * a deleted one removed, each in a commit the commit hook hears of. */
static void test_change_sets(void **state)
{
    fx *f = *state;

    start_ready(f);
    write_file(f, "New.md", "[[Bo]]\n");
    gen_before = f->d.generation;
    qpd_changes_path(&f->d, "New.md");
    qpd_changes_path(&f->d, "New.md"); /* a burst: one path in the set */
    assert_true(qpd_changes_pending(&f->d) >= 1);
    run_until(f, generation_moved);
    assert_true(indexed(f, "New.md"));
    assert_int_equal(f->last_commit_generation, f->d.generation);

    remove_path(f, "Meeting.md");
    gen_before = f->d.generation;
    qpd_changes_path(&f->d, "Meeting.md");
    run_until(f, generation_moved);
    assert_false(indexed(f, "Meeting.md"));
    assert_int_equal(indexed_files(f), 4);
}

/* A watched directory that is gone: everything under it is removed and its
 * watches are dropped. */
static void test_folder_gone(void **state)
{
    fx *f = *state;

    start_ready(f);
    remove_path(f, "People");
    gen_before = f->d.generation;
    qpd_changes_path(&f->d, "People");
    run_until(f, generation_moved);
    assert_string_equal(f->unwatched, "People");
    assert_int_equal(find_watch(f, "People"), -1);
    assert_false(indexed(f, "People/Bo.md"));
    assert_int_equal(indexed_files(f), 2);
}

/* A new directory is watched first, then listed, then its files parsed. */
static void test_folder_made(void **state)
{
    fx *f = *state;

    start_ready(f);
    write_file(f, "Projects/Q3/plan.md", "# Plan\n");
    gen_before = f->d.generation;
    qpd_changes_path(&f->d, "Projects");
    run_until(f, generation_moved);
    assert_true(find_watch(f, "Projects") >= 0);
    assert_true(find_watch(f, "Projects/Q3") >= 0);
    assert_true(indexed(f, "Projects/Q3/plan.md"));
}

static bool not_ready(fx *f)
{
    return !f->d.ready;
}

/* Damage: the index is rebuilt and rescanned; generations keep growing. */
static void test_damage_rebuilds(void **state)
{
    fx *f = *state;
    int64_t before;

    start_ready(f);
    before = f->d.generation;
    qpd_changes_damaged(&f->d, "test damage");
    assert_true(not_ready(f));
    qpd_changes_damaged(&f->d, "said twice"); /* one rebuild */
    run_until(f, is_ready);
    assert_true(f->d.generation > before);
    assert_int_equal(indexed_files(f), 4);
}

/* Stopping in the middle of the first scan still closes everything. */
static void test_stop_mid_scan(void **state)
{
    fx *f = *state;

    start(f);
    qpd_changes_rescan(&f->d, "test");
    uv_run(&f->loop, UV_RUN_NOWAIT);
    /* teardown stops it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scan_watches_then_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rescan_unchanged_reports_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_made, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_rebuilds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_mid_scan, setup, teardown),
    };

    qpd_log_init(QPD_LOG_WARN);
    qp_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
