/* test_ingest — one path into one index operation: the kinds, the size
 * limit, binary content, the unchanged test, and what the store keeps of
 * a problem (issue 17, bugs 4 and 5). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "qp_test.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quipu/ingest.h"
#include "quipu/init.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"

typedef struct fx {
    char root[64];
    char db[128];
    qp_vault *v;
} fx;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void write_bytes(const fx *f, const char *rel, const char *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    fclose(fp);
}

static void write_text(const fx *f, const char *rel, const char *text)
{
    write_bytes(f, rel, text, strlen(text));
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->root, "/tmp/qp-ingest-XXXXXX");
    if (!f || !mkdtemp(f->root))
        return -1;
    char dot[96];
    snprintf(dot, sizeof dot, "%s/.quipu", f->root); /* the index lives in a dot-folder */
    mkdir(dot, 0755);
    snprintf(f->db, sizeof f->db, "%s/index.sqlite3", dot);
    if (qp_vault_open(&f->v, f->root, NULL) != QP_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    qp_vault_close(f->v);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static qp_ingest_op ingest(const fx *f, const char *rel, const qp_file_stat *indexed)
{
    qp_ingest_op op = QP_INGEST_OP_INIT;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_ingest_path(&op, f->v, rel, indexed, &err);
    if (rc != QP_OK)
        fail_msg("%s: %s", rel, err.msg);
    return op;
}

static void test_note_and_attachment(void **state)
{
    fx *f = *state;
    write_text(f, "a.md", "# A\n[[b]] #tag\n");
    write_bytes(f, "pic.png", "\x89PNG\r\n\x1a\n\0\0", 10);

    qp_ingest_op op = ingest(f, "a.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_NOTE);
    assert_int_equal(op.problem, QP_INGEST_OK);
    assert_non_null(op.note);
    assert_int_equal(op.fs.size, 15);
    assert_true(op.fs.hash != 0);
    size_t n;
    qp_note_tags(op.note, &n);
    assert_int_equal(n, 1);
    qp_ingest_op_clear(&op);
    assert_int_equal(op.kind, QP_INGEST_SKIP);
    assert_null(op.note);

    /* Not a note: stat'ed only (hash 0), whatever the bytes. */
    op = ingest(f, "pic.png", NULL);
    assert_int_equal(op.kind, QP_INGEST_FILE);
    assert_int_equal(op.problem, QP_INGEST_OK);
    assert_int_equal(op.fs.size, 10);
    assert_true(op.fs.hash == 0);
    assert_null(op.note);

    op = ingest(f, "gone.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_REMOVE);
    op = ingest(f, "gone.png", NULL);
    assert_int_equal(op.kind, QP_INGEST_REMOVE);
    qp_ingest_op_clear(NULL);
}

/* Bug 4: one limit, and over it the file is never read: an attachment. */
static void test_size_limit(void **state)
{
    fx *f = *state;
    size_t max = QP_NOTE_MAX_SIZE;
    char *text = malloc(max + 2);
    assert_non_null(text);
    memset(text, 'a', max + 1);
    memcpy(text, "[[x]]\n", 6);
    text[max - 1] = '\n';

    write_bytes(f, "limit.md", text, max); /* exactly the limit: a note, whole */
    qp_ingest_op op = ingest(f, "limit.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_NOTE);
    assert_int_equal(op.problem, QP_INGEST_OK);
    assert_int_equal(op.fs.size, (int64_t)max);
    size_t n;
    qp_note_links(op.note, &n);
    assert_int_equal(n, 1);
    qp_ingest_op_clear(&op);

    write_bytes(f, "over.md", text, max + 1);
    free(text);
    op = ingest(f, "over.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_FILE);
    assert_int_equal(op.problem, QP_INGEST_TOO_BIG);
    assert_int_equal(op.fs.size, (int64_t)max + 1);
    assert_true(op.fs.hash == 0);
    assert_null(op.note);
}

/* Bug 5: binary content in a .md is not a note. */
static void test_binary_content(void **state)
{
    fx *f = *state;
    write_bytes(f, "nul.md", "text\0more text #E\n", 18);
    qp_ingest_op op = ingest(f, "nul.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_FILE);
    assert_int_equal(op.problem, QP_INGEST_BINARY);
    assert_null(op.note);

    /* Random bytes without a NUL: about half of them are invalid UTF-8. */
    char junk[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof junk; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (char)((x & 0xff) ? (x & 0xff) : 0x23);
    }
    write_bytes(f, "random.md", junk, sizeof junk);
    op = ingest(f, "random.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_FILE);
    assert_int_equal(op.problem, QP_INGEST_BINARY);

    /* Latin-1 prose: a few invalid bytes, still a note, with a warning. */
    write_text(f, "latin1.md", "# Caf\xe9\nLe th\xe9 est servi dans la salle [[Mara]].\n");
    op = ingest(f, "latin1.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_NOTE);
    assert_int_equal(op.problem, QP_INGEST_NOT_UTF8);
    qp_ingest_op_clear(&op);

    /* Valid UTF-8 with many non-ASCII letters: no problem. */
    write_text(f, "utf8.md",
               "\xc3\xa9\xc3\xa9\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n");
    op = ingest(f, "utf8.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_NOTE);
    assert_int_equal(op.problem, QP_INGEST_OK);
    qp_ingest_op_clear(&op);
}

/* The unchanged test: same size and mtime is not even read; a new mtime
 * over the same bytes is a stat update, not a parse. */
static void test_unchanged(void **state)
{
    fx *f = *state;
    write_text(f, "a.md", "# A\n");
    qp_ingest_op op = ingest(f, "a.md", NULL);
    assert_int_equal(op.kind, QP_INGEST_NOTE);
    qp_file_stat indexed = op.fs;
    qp_ingest_op_clear(&op);
    assert_true(qp_ingest_unchanged(&indexed, &indexed));

    char path[512];
    snprintf(path, sizeof path, "%s/a.md", f->root);
    if (geteuid() != 0) { /* root reads a mode-000 file all the same */
        assert_int_equal(chmod(path, 0), 0);
        op = ingest(f, "a.md", &indexed);
        assert_int_equal(op.kind, QP_INGEST_SKIP);
        assert_int_equal(chmod(path, 0644), 0);
    }
    op = ingest(f, "a.md", &indexed);
    assert_int_equal(op.kind, QP_INGEST_SKIP);

    struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    op = ingest(f, "a.md", &indexed);
    assert_int_equal(op.kind, QP_INGEST_STAT);
    assert_null(op.note);
    assert_true(op.fs.mtime_ns == (int64_t)1000000 * 1000000000);
    assert_false(qp_ingest_unchanged(&indexed, &op.fs));

    write_text(f, "a.md", "# B\n"); /* same size, new bytes */
    op = ingest(f, "a.md", &indexed);
    assert_int_equal(op.kind, QP_INGEST_NOTE);
    qp_ingest_op_clear(&op);
}

static void test_problem_messages(void **state)
{
    (void)state;
    for (int p = QP_INGEST_TOO_BIG; p <= QP_INGEST_NOT_UTF8; p++) {
        const char *m = qp_ingest_problem_message((qp_ingest_problem)p);
        assert_true(m[0] != '\0');
        assert_null(strchr(m, '\n'));
        assert_int_equal(qp_ingest_problem_of(m), p);
    }
    assert_string_equal(qp_ingest_problem_message(QP_INGEST_OK), "");
    assert_int_equal(qp_ingest_problem_of("invalid frontmatter"), QP_INGEST_OK);
    assert_int_equal(qp_ingest_problem_of(NULL), QP_INGEST_OK);
}

/* The problems the index keeps for `rel`: "severity:line:message;" each. */
static void stored_diags(const fx *f, const char *rel, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT d.severity, d.line, d.msg FROM diags d"
                                        " JOIN files f ON f.id = d.file WHERE f.path = ?1"
                                        " ORDER BY d.rowid",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, rel, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%d:%d:%s;", sqlite3_column_int(s, 0), sqlite3_column_int(s, 1),
                 (const char *)sqlite3_column_text(s, 2));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void sync_all(const fx *f, qp_store *st)
{
    qp_error err = QP_ERROR_INIT;
    if (qp_store_sync(st, f->v, NULL, NULL, &err) != QP_OK)
        fail_msg("sync: %s", err.msg);
}

/* Through the store: a binary or huge .md is an attachment (still a link
 * target) whose problem the index keeps, and it goes when the file is
 * fixed. */
static void test_store_keeps_problems(void **state)
{
    fx *f = *state;
    size_t big = QP_NOTE_MAX_SIZE + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, 'a', big);
    write_bytes(f, "huge.md", text, big);
    free(text);
    write_bytes(f, "bin.md", "#E\0\x01\x02\xff\xfe #tag\n", 12);
    write_text(f, "s.md", "[[huge]] [[bin]]\n");

    qp_store *st = NULL;
    assert_rc(qp_store_open(&st, f->db, QP_STORE_WRITE, NULL), QP_OK);
    sync_all(f, st);
    char d[512];
    char want[512];
    stored_diags(f, "huge.md", d, sizeof d);
    snprintf(want, sizeof want, "0:0:%s;", qp_ingest_problem_message(QP_INGEST_TOO_BIG));
    assert_string_equal(d, want);
    stored_diags(f, "bin.md", d, sizeof d);
    snprintf(want, sizeof want, "0:0:%s;", qp_ingest_problem_message(QP_INGEST_BINARY));
    assert_string_equal(d, want);

    char *out = NULL;
    assert_rc(qp_query_run(&out, st, NULL, "note", "{\"note\":\"bin.md\"}", NULL), QP_OK);
    assert_non_null(strstr(out, "\"kind\":\"attachment\""));
    assert_non_null(strstr(out, "\"tags\":[]")); /* no "#E" */
    free(out);
    assert_rc(qp_query_run(&out, st, NULL, "resolve", "{\"from\":\"s.md\",\"link\":\"bin\"}", NULL),
              QP_OK);
    assert_non_null(strstr(out, "\"path\":\"bin.md\""));
    free(out);

    /* Unchanged on the next sync: skipped, the problem stays. */
    sync_all(f, st);
    qp_store_stats stats;
    qp_store_get_stats(st, &stats);
    assert_int_equal(stats.skipped, 3);
    stored_diags(f, "bin.md", d, sizeof d);
    assert_string_equal(d, want);

    /* Fixed: a note again, the problem gone. */
    write_text(f, "bin.md", "now text #tag\n");
    sync_all(f, st);
    stored_diags(f, "bin.md", d, sizeof d);
    assert_string_equal(d, "");
    assert_rc(qp_query_run(&out, st, NULL, "note", "{\"note\":\"bin.md\"}", NULL), QP_OK);
    assert_null(strstr(out, "\"kind\":\"attachment\""));
    free(out);
    qp_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_note_and_attachment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged, setup, teardown),
        cmocka_unit_test(test_problem_messages),
        cmocka_unit_test_setup_teardown(test_store_keeps_problems, setup, teardown),
    };

    qp_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
