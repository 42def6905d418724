/* Checkpoints deferred to the store's owner (qp_store_defer_checkpoints,
 * qp_store_checkpoint): commits stop copying the WAL back, the frames are
 * counted, a checkpoint empties what no reader needs. */
#include "qp_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "quipu/init.h"
#include "quipu/store.h"

static char dir[] = "/tmp/qp-ckpt-XXXXXX";
static char db[128];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof db, "%s/index.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[200];
    for (size_t i = 0; qp_store_index_file(db, i, p, sizeof p) != NULL; i++)
        unlink(p);
    rmdir(dir);
    return 0;
}

/* One batch of n attachments named <prefix><k>. */
static void put_files(qp_store *st, const char *prefix, int n)
{
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_store_begin(st, &err), QP_OK);
    for (int k = 0; k < n; k++) {
        char path[64];
        qp_file_stat fs = {.size = k, .mtime_ns = k, .hash = (uint64_t)k + 1};
        snprintf(path, sizeof path, "%s%05d.bin", prefix, k);
        assert_rc(qp_store_put_file(st, path, &fs, &err), QP_OK);
    }
    assert_rc(qp_store_commit(st, &err), QP_OK);
}

static void test_deferred_checkpoints(void **state)
{
    (void)state;
    qp_store *w = NULL, *r = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_store_open(&w, db, QP_STORE_WRITE, &err), QP_OK);
    assert_rc(qp_store_defer_checkpoints(w, &err), QP_OK);

    /* Well past the 1000 pages at which SQLite would checkpoint inside a
     * commit: the WAL keeps every frame until the owner says. */
    for (int b = 0; b < 8; b++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "b%d/", b);
        put_files(w, prefix, 4000);
    }
    int frames = qp_store_wal_frames(w);
    assert_true(frames > 1000);

    assert_rc(qp_store_checkpoint(w, &err), QP_OK);
    assert_int_equal(qp_store_wal_frames(w), 0);

    /* A reader holding a snapshot keeps its frames from being copied back;
     * the checkpoint neither fails nor waits. */
    assert_rc(qp_store_open(&r, db, QP_STORE_READ, &err), QP_OK);
    put_files(w, "c/", 100);
    qp_file_stat fs;
    assert_rc(qp_store_file_stat(r, "c/00001.bin", &fs, &err), QP_OK);
    assert_int_equal(fs.size, 1);
    assert_true(qp_store_wal_frames(w) > 0);

    /* Read stores have no checkpoints of their own. */
    assert_rc(qp_store_checkpoint(r, &err), QP_EINVAL);
    assert_rc(qp_store_defer_checkpoints(r, &err), QP_EINVAL);
    qp_store_close(r);
    assert_rc(qp_store_checkpoint(w, &err), QP_OK);
    assert_int_equal(qp_store_wal_frames(w), 0);
    qp_store_close(w);

    /* What was written is all there after a reopen. */
    assert_rc(qp_store_open(&r, db, QP_STORE_READ, &err), QP_OK);
    assert_rc(qp_store_file_stat(r, "b7/03999.bin", &fs, &err), QP_OK);
    assert_int_equal(fs.size, 3999);
    qp_store_close(r);
}

typedef struct ckpt_loop {
    volatile int stop;
    int runs, failures;
} ckpt_loop;

static void *checkpoints(void *arg)
{
    ckpt_loop *c = arg;
    while (!c->stop) {
        qp_error err = QP_ERROR_INIT;
        if (qp_store_checkpoint_path(db, true, NULL, &err) != QP_OK)
            c->failures++;
        c->runs++;
    }
    return NULL;
}

/* qp_store_checkpoint_path: a connection of its own copies the WAL back
 * (the writer's next commit starts the WAL over), and commits go on while
 * another thread checkpoints. */
static void test_checkpoint_from_another_connection(void **state)
{
    (void)state;
    qp_store *w = NULL, *r = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_store_open(&w, db, QP_STORE_WRITE, &err), QP_OK);
    assert_rc(qp_store_defer_checkpoints(w, &err), QP_OK);
    for (int b = 0; b < 4; b++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "p%d/", b);
        put_files(w, prefix, 4000);
    }
    int frames = qp_store_wal_frames(w);
    assert_true(frames > 1000);
    int left = -1;
    assert_rc(qp_store_checkpoint_path(db, true, &left, &err), QP_OK);
    assert_int_equal(left, 0);
    put_files(w, "q/", 10);
    assert_true(qp_store_wal_frames(w) < frames / 10); /* started over */

    ckpt_loop c = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, checkpoints, &c), 0);
    for (int b = 0; b < 40; b++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "s%d/", b);
        put_files(w, prefix, 200); /* asserts each commit succeeds */
    }
    c.stop = 1;
    pthread_join(t, NULL);
    assert_true(c.runs > 0);
    assert_int_equal(c.failures, 0);
    qp_store_close(w);

    qp_file_stat fs;
    assert_rc(qp_store_open(&r, db, QP_STORE_READ, &err), QP_OK);
    assert_rc(qp_store_file_stat(r, "s39/00199.bin", &fs, &err), QP_OK);
    assert_int_equal(fs.size, 199);
    qp_store_close(r);

    /* Never a new, empty index where there is none. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none/index.db", dir);
    assert_true(qp_store_checkpoint_path(missing, true, NULL, &err) != QP_OK);
}

int main(void)
{
    qp_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_checkpoints),
        cmocka_unit_test(test_checkpoint_from_another_connection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
