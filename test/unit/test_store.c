/* test_store — the index: open, schema check and rebuild, warm sync, the
 * incremental re-resolution of links.md §2.5, crash safety, task walk. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "qp_test.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quipu/init.h"
#include "quipu/note.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"

typedef struct fx {
    char root[64];
    char dbdir[64];
    char db[128];
    qp_vault *v;
    qp_store *st;
} fx;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void write_at(const char *root, const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->root, "/tmp/qp-store-vault-XXXXXX");
    strcpy(f->dbdir, "/tmp/qp-store-db-XXXXXX");
    if (!mkdtemp(f->root) || !mkdtemp(f->dbdir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/index.db", f->dbdir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    qp_store_close(f->st);
    qp_vault_close(f->v);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    nftw(f->dbdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void open_all(fx *f)
{
    qp_error err = QP_ERROR_INIT;
    if (!f->v)
        assert_rc(qp_vault_open(&f->v, f->root, &err), QP_OK);
    assert_rc(qp_store_open(&f->st, f->db, QP_STORE_WRITE, &err), QP_OK);
}

static void sync_vault(fx *f)
{
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_store_sync(f->st, f->v, NULL, NULL, &err);
    if (rc != QP_OK)
        fail_msg("sync: %s", err.msg);
}

/* Puts one path as it is on disk, in its own batch. */
static void put(fx *f, const char *rel)
{
    qp_error err = QP_ERROR_INIT;
    char *buf = NULL;
    size_t len = 0;
    qp_file_stat fs;
    assert_rc(qp_store_begin(f->st, &err), QP_OK);
    assert_rc(qp_vault_read(f->v, rel, QP_NOTE_MAX_SIZE, &buf, &len, &fs, &err), QP_OK);
    qp_note *note = NULL;
    assert_rc(qp_note_parse(&note, rel, buf, len, NULL, &err), QP_OK);
    assert_rc(qp_store_put_note(f->st, rel, &fs, note, &err), QP_OK);
    qp_note_free(note);
    free(buf);
    assert_rc(qp_store_commit(f->st, &err), QP_OK);
}

static void del(fx *f, const char *rel)
{
    qp_error err = QP_ERROR_INIT;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    unlink(path);
    assert_rc(qp_store_begin(f->st, &err), QP_OK);
    assert_rc(qp_store_remove(f->st, rel, &err), QP_OK);
    assert_rc(qp_store_commit(f->st, &err), QP_OK);
}

/* The resolved path of [[link]] from `from`, "null" when unresolved. */
static void assert_link(fx *f, const char *from, const char *link, const char *want)
{
    char params[512], *out = NULL;
    snprintf(params, sizeof params, "{\"link\":\"%s\",\"from\":\"%s\"}", link, from);
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, f->st, f->v, "resolve", params, &err), QP_OK);
    char expect[512];
    if (strcmp(want, "null") == 0)
        snprintf(expect, sizeof expect, "{\"path\":null}");
    else
        snprintf(expect, sizeof expect, "{\"path\":\"%s\"}", want);
    assert_string_equal(out, expect);
    free(out);
}

static int64_t unresolved_count(fx *f)
{
    char *out = NULL;
    assert_rc(qp_query_run(&out, f->st, NULL, "status", NULL, NULL), QP_OK);
    const char *p = strstr(out, "\"unresolved_links\":");
    assert_non_null(p);
    int64_t n = strtoll(p + strlen("\"unresolved_links\":"), NULL, 10);
    free(out);
    return n;
}

static void test_open_new_and_reopen(void **state)
{
    fx *f = *state;
    open_all(f);
    assert_false(qp_store_rebuilt(f->st));
    assert_int_equal(qp_store_generation(f->st), 0);
    qp_store_close(f->st);
    f->st = NULL;
    open_all(f);
    assert_false(qp_store_rebuilt(f->st));
    qp_store *r = NULL;
    assert_rc(qp_store_open(&r, f->db, QP_STORE_READ, NULL), QP_OK);
    assert_int_equal(qp_store_generation(r), 0);
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_store_begin(r, &err), QP_EINVAL); /* readers cannot write */
    qp_store_close(r);
}

static void test_reader_on_missing_or_foreign(void **state)
{
    fx *f = *state;
    qp_store *r = NULL;
    assert_rc(qp_store_open(&r, f->db, QP_STORE_READ, NULL), QP_ECORRUPT);
    assert_null(r);
    write_at(f->dbdir, "index.db", "this is not a database, just some text that is long enough");
    assert_rc(qp_store_open(&r, f->db, QP_STORE_READ, NULL), QP_ECORRUPT);
}

static void test_garbage_file_rebuilt(void **state)
{
    fx *f = *state;
    char junk[8192];
    memset(junk, 'x', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    write_at(f->dbdir, "index.db", junk);
    open_all(f);
    assert_true(qp_store_rebuilt(f->st));
    write_at(f->root, "a.md", "[[b]]\n");
    sync_vault(f);
    assert_int_equal(qp_store_generation(f->st), 1);
}

static void test_foreign_and_newer_rebuilt(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE other(x); INSERT INTO other VALUES(1);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    open_all(f);
    assert_true(qp_store_rebuilt(f->st));
    qp_store_close(f->st);
    f->st = NULL;

    /* A newer schema version is not ours to read: rebuilt too. */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    open_all(f);
    assert_true(qp_store_rebuilt(f->st));
}

/* Junk over the start of every page after the first (the file header left intact):
 * SQLite opens the file, and only reading a damaged page tells. */
static void corrupt_pages(const char *path)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    unsigned char junk[512];
    unsigned x = 12345;
    for (off_t off = 4096; off < sb.st_size; off += 4096) {
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (unsigned char)(x >> 16);
        }
        assert_int_equal(pwrite(fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    }
    close(fd);
}

static void people_vault(fx *f)
{
    char rel[64], body[256];
    for (int i = 0; i < 40; i++) {
        snprintf(rel, sizeof rel, "Meetings/m%02d.md", i);
        snprintf(body, sizeof body,
                 "---\ntype: meeting\n---\n# M%d\n\n- [[Ann Veld]] said hi to"
                 " Bo Ek\n- [ ] task %d\n",
                 i, i);
        write_at(f->root, rel, body);
    }
    write_at(f->root, "People/Ann Veld.md", "# Ann\n");
    write_at(f->root, "People/Bo Ek.md", "# Bo\n");
}

static void test_damaged_pages_rebuilt(void **state)
{
    fx *f = *state;
    people_vault(f);
    open_all(f);
    sync_vault(f);
    assert_false(qp_store_rebuilt(f->st));
    qp_store_close(f->st); /* a clean close: the WAL is checkpointed away */
    f->st = NULL;
    struct stat sb;
    assert_int_equal(stat(f->db, &sb), 0);
    assert_true(sb.st_size > 4 * 4096);
    corrupt_pages(f->db);

    /* A reader sees the damage as QP_ECORRUPT, not as an I/O error. */
    qp_store *r = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_store_open(&r, f->db, QP_STORE_READ, &err);
    if (rc == QP_OK) {
        char *out = NULL;
        rc = qp_query_run(&out, r, f->v, "backlinks", "{\"note\":\"Ann Veld\"}", &err);
        free(out);
        qp_store_close(r);
    }
    assert_rc(rc, QP_ECORRUPT);

    /* The writer checks the pages on open, throws the index away and
     * starts empty; a sync brings every answer back. */
    open_all(f);
    assert_true(qp_store_rebuilt(f->st));
    assert_int_equal(qp_store_generation(f->st), 0);
    sync_vault(f);
    qp_store_stats stats;
    qp_store_get_stats(f->st, &stats);
    assert_int_equal(stats.parsed, 42);
    char *out = NULL;
    assert_rc(qp_query_run(&out, f->st, f->v, "backlinks", "{\"note\":\"Ann Veld\"}", &err), QP_OK);
    assert_non_null(strstr(out, "\"path\":\"Meetings/m39.md\""));
    assert_non_null(strstr(out, "\"path\":\"Meetings/m00.md\""));
    free(out);
    assert_int_equal(unresolved_count(f), 0);
}

/* A clean close leaves meta.clean = 1 and no WAL; an open writer has 0. */
static void test_clean_flag(void **state)
{
    fx *f = *state;
    open_all(f);
    sqlite3 *db = NULL;
    sqlite3_int64 v = -1;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'clean'", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    assert_int_equal(v, 0);
    qp_store_close(f->st);
    f->st = NULL;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    struct stat sb;
    assert_true(stat(wal, &sb) != 0 || sb.st_size == 0);
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'clean'", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    assert_int_equal(v, 1);
}

/* Links of every kind the set-based pass and the full resolver split. */
static void link_vault(fx *f)
{
    people_vault(f);
    write_at(f->root, "A/dup.md", "# dup in A\n[[dup]] [[B/dup]] [[./dup]] [[../People/Bo Ek]]\n");
    write_at(f->root, "B/dup.md", "# dup in B\n[[dup]] [[#dup in B]] [[notes.v2]] [[img.png]]\n");
    write_at(f->root, "notes.v2.md", "[[Ann Veld]] [[Nobody]] [[/People/Ann Veld]] Ann Veld\n");
    write_at(f->root, "img.png", "\x89PNG");
}

static char *answer(qp_store *st, qp_vault *v, const char *method, const char *params)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, v, method, params, &err);
    if (rc != QP_OK)
        fail_msg("%s %s: %s", method, params, err.msg);
    return out;
}

static void test_bulk_load_equals_batches(void **state)
{
    fx *f = *state;
    link_vault(f);
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_vault_open(&f->v, f->root, &err), QP_OK);
    char db2[160];
    snprintf(db2, sizeof db2, "%s/plain.db", f->dbdir);
    qp_store *plain = NULL;
    assert_rc(qp_store_open(&plain, db2, QP_STORE_WRITE, &err), QP_OK);
    assert_rc(qp_store_sync(plain, f->v, NULL, NULL, &err), QP_OK);

    open_all(f);
    assert_rc(qp_store_bulk_end(f->st, &err), QP_EINVAL); /* not in bulk mode */
    assert_rc(qp_store_bulk_begin(f->st, &err), QP_OK);
    assert_rc(qp_store_bulk_begin(f->st, &err), QP_EINVAL);
    sync_vault(f);
    /* Until the end, links wait unresolved. */
    assert_int_equal(unresolved_count(f), 40 * 2 + 4 + 4 + 3 - 40);
    assert_rc(qp_store_begin(f->st, &err), QP_OK);
    assert_rc(qp_store_bulk_end(f->st, &err), QP_EINVAL); /* a batch is open */
    qp_store_rollback(f->st);
    assert_rc(qp_store_bulk_end(f->st, &err), QP_OK);
    assert_int_equal(qp_store_generation(f->st), 2);

    static const char *const q[][2] = {
        {"status", "{}"},
        {"backlinks", "{\"note\":\"Ann Veld\",\"unlinked\":true}"},
        {"backlinks", "{\"note\":\"People/Bo Ek.md\",\"unlinked\":true}"},
        {"backlinks", "{\"note\":\"A/dup.md\"}"},
        {"backlinks", "{\"note\":\"B/dup.md\"}"},
        {"backlinks", "{\"note\":\"notes.v2.md\"}"},
        {"backlinks", "{\"note\":\"img.png\"}"},
        {"note", "{\"note\":\"A/dup.md\"}"},
        {"note", "{\"note\":\"B/dup.md\"}"},
        {"note", "{\"note\":\"notes.v2.md\"}"},
        {"mentions", "{\"note\":\"Ann Veld\"}"},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char *a = answer(f->st, f->v, q[i][0], q[i][1]);
        char *b = answer(plain, f->v, q[i][0], q[i][1]);
        if (strcmp(q[i][0], "status") != 0) /* generations differ */
            assert_string_equal(a, b);
        free(a);
        free(b);
    }
    /* Hand-checked: [[dup]] in A/dup.md is itself, B's [[dup]] too; the
     * unresolved links are [[Nobody]] and the two [[Bo Ek]]-less ones. */
    char *out = answer(f->st, f->v, "note", "{\"note\":\"A/dup.md\"}");
    assert_non_null(strstr(out, "\"target\":\"dup\",\"subpath\":null,\"display\":null,"
                                "\"embed\":false,\"key\":null,\"path\":\"A/dup.md\""));
    assert_non_null(strstr(out, "\"target\":\"B/dup\",\"subpath\":null,\"display\":null,"
                                "\"embed\":false,\"key\":null,\"path\":\"B/dup.md\""));
    assert_non_null(strstr(out, "\"path\":\"People/Bo Ek.md\""));
    free(out);
    assert_int_equal(unresolved_count(f), 1);
    qp_store_close(plain);

    /* Incremental batches after the bulk load re-resolve as usual. */
    write_at(f->root, "Nobody.md", "x\n");
    put(f, "Nobody.md");
    assert_int_equal(unresolved_count(f), 0);
}

static void test_bulk_cut_short_rebuilds(void **state)
{
    fx *f = *state;
    people_vault(f);
    open_all(f);
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_store_bulk_begin(f->st, &err), QP_OK);
    sync_vault(f);
    qp_store_close(f->st); /* never ended */
    f->st = NULL;
    open_all(f);
    assert_true(qp_store_rebuilt(f->st));
    assert_int_equal(qp_store_generation(f->st), 0);
    sync_vault(f);
    assert_int_equal(unresolved_count(f), 0);
}

/* The mention index keeps no positions: candidates are notes holding every
 * word of a name, and only exact, word-bounded matches are listed. */
static void test_unlinked_words_apart_and_odd_names(void **state)
{
    fx *f = *state;
    write_at(f->root, "People/Jo_Ann O'Neil.md", "# Jo\n");
    write_at(f->root, "exact.md", "Met jo_ann o'neil today.\n");
    write_at(f->root, "apart.md", "O'Neil and Jo_Ann, words apart.\n");
    write_at(f->root, "split.md", "Jo Ann O'Neil is someone else.\n");
    write_at(f->root, "People/Ann Veld.md", "# Ann\n");
    write_at(f->root, "veld.md", "veld ann\nAnn Veld\nAnn  Veld\nann veld's\n");
    open_all(f);
    sync_vault(f);
    char *out = answer(f->st, f->v, "backlinks", "{\"note\":\"Jo_Ann O'Neil\",\"unlinked\":true}");
    assert_string_equal(
        out, "{\"path\":\"People/Jo_Ann O'Neil.md\",\"linked\":[],\"unlinked\":["
             "{\"path\":\"exact.md\",\"kind\":\"note\",\"title\":\"exact\",\"date\":null,"
             "\"occurrences\":[{\"line\":1,\"column\":5,"
             "\"context\":\"Met jo_ann o'neil today.\"}]}]}");
    free(out);
    out = answer(f->st, f->v, "backlinks", "{\"note\":\"Ann Veld\",\"unlinked\":true}");
    assert_string_equal(out,
                        "{\"path\":\"People/Ann Veld.md\",\"linked\":[],\"unlinked\":["
                        "{\"path\":\"veld.md\",\"kind\":\"note\",\"title\":\"veld\",\"date\":null,"
                        "\"occurrences\":[{\"line\":2,\"column\":1,\"context\":\"Ann Veld\"},"
                        "{\"line\":4,\"column\":1,\"context\":\"ann veld's\"}]}]}");
    free(out);
}

/* Unlinked mentions read the note from the vault: a file changed since it
 * was indexed is parsed again, so code spans still hide names and lines are
 * those of the file as it is; a re-put leaves no stale match behind. */
static void test_unlinked_reads_current_file(void **state)
{
    fx *f = *state;
    write_at(f->root, "People/Ann Veld.md", "# Ann\n");
    write_at(f->root, "x.md", "Ann Veld here\n");
    open_all(f);
    sync_vault(f);
    char *out = answer(f->st, f->v, "backlinks", "{\"note\":\"Ann Veld\",\"unlinked\":true}");
    assert_non_null(strstr(out, "\"occurrences\":[{\"line\":1,\"column\":1,"
                                "\"context\":\"Ann Veld here\"}]"));
    free(out);
    /* Changed on disk, not yet re-indexed (new size, so a new hash). */
    write_at(f->root, "x.md", "`Ann Veld` in code\nthen Ann Veld.\n");
    out = answer(f->st, f->v, "backlinks", "{\"note\":\"Ann Veld\",\"unlinked\":true}");
    assert_non_null(strstr(out, "\"occurrences\":[{\"line\":2,\"column\":6,"
                                "\"context\":\"then Ann Veld.\"}]"));
    free(out);
    /* Re-indexed without the name: the old postings match nothing. */
    write_at(f->root, "x.md", "nobody here\n");
    put(f, "x.md");
    out = answer(f->st, f->v, "backlinks", "{\"note\":\"Ann Veld\",\"unlinked\":true}");
    assert_string_equal(out, "{\"path\":\"People/Ann Veld.md\",\"linked\":[],\"unlinked\":[]}");
    free(out);
    /* Gone from disk before the index hears of it: skipped. */
    write_at(f->root, "y.md", "Ann Veld\n");
    put(f, "y.md");
    char path[256];
    snprintf(path, sizeof path, "%s/y.md", f->root);
    unlink(path);
    out = answer(f->st, f->v, "backlinks", "{\"note\":\"Ann Veld\",\"unlinked\":true}");
    assert_string_equal(out, "{\"path\":\"People/Ann Veld.md\",\"linked\":[],\"unlinked\":[]}");
    free(out);
    /* Without a vault there is no text to search. */
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, f->st, NULL, "mentions", "{\"note\":\"Ann Veld\"}", &err),
              QP_EINVAL);
}

/* An empty vault (and one emptied again): nothing to sort, nothing
 * parsed, the removed note gone. */
static void test_empty_vault_sync(void **state)
{
    fx *f = *state;
    open_all(f);
    sync_vault(f);
    qp_store_stats s;
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.parsed, 0);
    assert_int_equal(s.removed, 0);

    write_at(f->root, "Only.md", "# Only\n[[Gone]]\n");
    sync_vault(f);
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.parsed, 1);
    assert_int_equal(unresolved_count(f), 1);

    char path[512];
    snprintf(path, sizeof path, "%s/Only.md", f->root);
    assert_int_equal(unlink(path), 0);
    sync_vault(f);
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.removed, 1);
    assert_int_equal(unresolved_count(f), 0);
    qp_file_stat fs;
    assert_rc(qp_store_file_stat(f->st, "Only.md", &fs, NULL), QP_ENOTFOUND);
}

static void test_warm_sync_parses_nothing(void **state)
{
    fx *f = *state;
    write_at(f->root, "People/Mara.md", "---\ntype: person\n---\n# Mara\n");
    write_at(f->root, "Meetings/2025-01-02 Sync.md", "Met [[Mara]].\n- [ ] follow up\n");
    write_at(f->root, "img/pic.png", "PNG");
    open_all(f);
    sync_vault(f);
    qp_store_stats s;
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.parsed, 2);
    assert_int_equal(s.attachments, 1);
    int64_t gen = qp_store_generation(f->st);
    assert_int_equal(gen, 1);

    qp_store_close(f->st);
    f->st = NULL;
    open_all(f);
    sync_vault(f);
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.parsed, 0);
    assert_int_equal(s.skipped, 3);
    assert_int_equal(qp_store_generation(f->st), gen); /* nothing changed, no new generation */

    /* Same bytes, new mtime: re-hashed, not parsed. */
    char path[512];
    snprintf(path, sizeof path, "%s/People/Mara.md", f->root);
    struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    sync_vault(f);
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.parsed, 0);
    assert_int_equal(s.rehashed, 1);

    /* New content: parsed. A removed file is dropped. */
    write_at(f->root, "People/Mara.md", "---\ntype: person\n---\n# Mara L\n");
    snprintf(path, sizeof path, "%s/img/pic.png", f->root);
    unlink(path);
    sync_vault(f);
    qp_store_get_stats(f->st, &s);
    assert_int_equal(s.parsed, 1);
    assert_int_equal(s.removed, 1);
    qp_file_stat fs;
    assert_rc(qp_store_file_stat(f->st, "img/pic.png", &fs, NULL), QP_ENOTFOUND);
    assert_rc(qp_store_file_stat(f->st, "People/Mara.md", &fs, NULL), QP_OK);
    assert_int_equal(fs.size, (int64_t)strlen("---\ntype: person\n---\n# Mara L\n"));
}

static void test_create_steals_link(void **state)
{
    fx *f = *state;
    write_at(f->root, "b/Note.md", "");
    write_at(f->root, "a/src.md", "[[Note]]\n");
    open_all(f);
    sync_vault(f);
    assert_link(f, "a/src.md", "Note", "b/Note.md");
    write_at(f->root, "a/Note.md", "");
    put(f, "a/Note.md");
    assert_link(f, "a/src.md", "Note", "a/Note.md");
    /* And a root file beats both (exact path). */
    write_at(f->root, "Note.md", "");
    put(f, "Note.md");
    assert_link(f, "a/src.md", "Note", "Note.md");
    char *out = NULL;
    assert_rc(qp_query_run(&out, f->st, NULL, "backlinks", "{\"note\":\"Note.md\"}", NULL), QP_OK);
    assert_string_equal(out, "{\"path\":\"Note.md\",\"linked\":[{\"path\":\"a/src.md\",\"kind\":"
                             "\"note\",\"title\":\"src\",\"date\":null,\"occurrences\":[{"
                             "\"line\":1,\"column\":1,\"context\":\"[[Note]]\"}]}]}");
    free(out);
    assert_rc(qp_query_run(&out, f->st, NULL, "backlinks", "{\"note\":\"b/Note.md\"}", NULL),
              QP_OK);
    assert_string_equal(out, "{\"path\":\"b/Note.md\",\"linked\":[]}");
    free(out);
}

static void test_delete_unresolves(void **state)
{
    fx *f = *state;
    write_at(f->root, "a/Note.md", "");
    write_at(f->root, "b/Note.md", "");
    write_at(f->root, "a/src.md", "[[Note]] [[Other]]\n");
    open_all(f);
    sync_vault(f);
    assert_int_equal(unresolved_count(f), 1);
    del(f, "a/Note.md");
    assert_link(f, "a/src.md", "Note", "b/Note.md");
    assert_int_equal(unresolved_count(f), 1);
    del(f, "b/Note.md");
    assert_link(f, "a/src.md", "Note", "null");
    assert_int_equal(unresolved_count(f), 2);
    /* Creating the missing name resolves the link. */
    write_at(f->root, "x/Other.md", "");
    put(f, "x/Other.md");
    assert_int_equal(unresolved_count(f), 1);
}

static void test_rename_rechecks_both_names(void **state)
{
    fx *f = *state;
    write_at(f->root, "People/Old Name.md", "[[./Sib]]\n");
    write_at(f->root, "People/Sib.md", "");
    write_at(f->root, "Other/Sib.md", "");
    write_at(f->root, "m1.md", "[[Old Name]]\n");
    write_at(f->root, "m2.md", "[[New Name]]\n");
    open_all(f);
    sync_vault(f);
    assert_link(f, "m1.md", "Old Name", "People/Old Name.md");
    assert_link(f, "m2.md", "New Name", "null");
    int64_t gen = qp_store_generation(f->st);

    /* Rename (and move) in one batch: remove the old path, put the new one. */
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/People/Old Name.md", f->root);
    mkdir((snprintf(b, sizeof b, "%s/Other", f->root), b), 0755);
    snprintf(b, sizeof b, "%s/Other/New Name.md", f->root);
    assert_int_equal(rename(a, b), 0);
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_store_begin(f->st, &err), QP_OK);
    assert_rc(qp_store_remove(f->st, "People/Old Name.md", &err), QP_OK);
    char *buf = NULL;
    size_t len = 0;
    qp_file_stat fs;
    assert_rc(qp_vault_read(f->v, "Other/New Name.md", QP_NOTE_MAX_SIZE, &buf, &len, &fs, &err),
              QP_OK);
    qp_note *note = NULL;
    assert_rc(qp_note_parse(&note, "Other/New Name.md", buf, len, NULL, &err), QP_OK);
    assert_rc(qp_store_put_note(f->st, "Other/New Name.md", &fs, note, &err), QP_OK);
    qp_note_free(note);
    free(buf);
    assert_rc(qp_store_commit(f->st, &err), QP_OK);
    assert_int_equal(qp_store_generation(f->st), gen + 1);

    assert_link(f, "m1.md", "Old Name", "null");
    assert_link(f, "m2.md", "New Name", "Other/New Name.md");
    /* The moved file's own relative link follows its new folder. */
    char *out = NULL;
    assert_rc(qp_query_run(&out, f->st, NULL, "backlinks", "{\"note\":\"Other/Sib.md\"}", NULL),
              QP_OK);
    assert_non_null(strstr(out, "\"path\":\"Other/New Name.md\""));
    free(out);
}

static void test_rollback_leaves_index_unchanged(void **state)
{
    fx *f = *state;
    write_at(f->root, "a.md", "[[b]]\n");
    open_all(f);
    sync_vault(f);
    int64_t gen = qp_store_generation(f->st);
    assert_rc(qp_store_begin(f->st, NULL), QP_OK);
    assert_rc(qp_store_remove(f->st, "a.md", NULL), QP_OK);
    qp_store_rollback(f->st);
    qp_file_stat fs;
    assert_rc(qp_store_file_stat(f->st, "a.md", &fs, NULL), QP_OK);
    assert_int_equal(qp_store_generation(f->st), gen);
    assert_rc(qp_store_begin(f->st, NULL), QP_OK);
    assert_rc(qp_store_remove(f->st, "nope.md", NULL), QP_ENOTFOUND);
    assert_rc(qp_store_commit(f->st, NULL), QP_OK);
    assert_int_equal(qp_store_generation(f->st), gen); /* nothing changed */
}

static void test_killed_mid_batch_reopens_consistent(void **state)
{
    fx *f = *state;
    write_at(f->root, "a.md", "[[b]]\n");
    write_at(f->root, "b.md", "# B\n");
    open_all(f);
    sync_vault(f);
    int64_t gen = qp_store_generation(f->st);
    qp_store_close(f->st);
    f->st = NULL;

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        qp_store *w = NULL;
        if (qp_store_open(&w, f->db, QP_STORE_WRITE, NULL) != QP_OK)
            _exit(2);
        qp_store_begin(w, NULL);
        qp_store_remove(w, "b.md", NULL);
        qp_store_remove(w, "a.md", NULL);
        raise(SIGKILL); /* dies with the batch open */
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));

    open_all(f);
    assert_false(qp_store_rebuilt(f->st));
    assert_int_equal(qp_store_generation(f->st), gen);
    assert_link(f, "a.md", "b", "b.md");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_oversized_note_is_attachment(void **state)
{
    fx *f = *state;
    size_t big = QP_NOTE_MAX_SIZE + 10;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, 'a', big);
    memcpy(text, "[[x]]\n", 6);
    text[big] = '\0';
    write_at(f->root, "huge.md", text);
    free(text);
    write_at(f->root, "s.md", "[[huge]]\n");
    open_all(f);
    sync_vault(f);
    char *out = NULL;
    assert_rc(qp_query_run(&out, f->st, NULL, "note", "{\"note\":\"huge.md\"}", NULL), QP_OK);
    assert_non_null(strstr(out, "\"kind\":\"attachment\""));
    assert_non_null(strstr(out, "\"links\":[]"));
    free(out);
    /* Still a link target. */
    assert_link(f, "s.md", "huge", "huge.md");
}

/* A statement that cannot be prepared because the schema is damaged says
 * QP_ECORRUPT (which makes the daemon rebuild) even to a caller that passes
 * no qp_error: the code travels in the return value, not only in *err. */
static void test_corrupt_schema_without_err(void **state)
{
    fx *f = *state;
    write_at(f->root, "a.md", "[[b]]\n");
    open_all(f);
    sync_vault(f);
    qp_store *rd = NULL;
    assert_rc(qp_store_open(&rd, f->db, QP_STORE_READ, NULL), QP_OK);

    /* Another connection breaks a table's definition and bumps the schema
     * cookie, so the reader reloads the schema at its next prepare. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA writable_schema = ON;"
                                  "UPDATE sqlite_master SET sql = 'CREATE TABLE files(' WHERE"
                                  " name = 'files';"
                                  "PRAGMA writable_schema = OFF;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    int64_t v = 0;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA writable_schema = ON; PRAGMA schema_version = %lld",
             (long long)v + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    qp_file_stat fs;
    assert_rc(qp_store_file_stat(rd, "a.md", &fs, NULL), QP_ECORRUPT);
    char *out = NULL;
    assert_rc(qp_query_run(&out, rd, NULL, "note", "{\"note\":\"a.md\"}", NULL), QP_ECORRUPT);
    assert_null(out);
    qp_store_close(rd);
}

static void test_index_files(void **state)
{
    fx *f = *state;
    assert_true(qp_store_is_index_file("Meta/i.sqlite3", "Meta/i.sqlite3"));
    assert_true(qp_store_is_index_file("Meta/i.sqlite3", "Meta/i.sqlite3-wal"));
    assert_true(qp_store_is_index_file("Meta/i.sqlite3", "Meta/i.sqlite3-shm"));
    assert_true(qp_store_is_index_file("Meta/i.sqlite3", "Meta/i.sqlite3-journal"));
    assert_false(qp_store_is_index_file("Meta/i.sqlite3", "Meta/i.sqlite3.md"));
    assert_false(qp_store_is_index_file("Meta/i.sqlite3", "Meta/i.sqlite3-wal2"));
    assert_false(qp_store_is_index_file("Meta/i", "Meta/index.md"));
    assert_false(qp_store_is_index_file("", ""));
    char buf[160];
    assert_string_equal(qp_store_index_file("x.db", 3, buf, sizeof buf), "x.db-journal");
    assert_null(qp_store_index_file("x.db", 4, buf, sizeof buf));
    assert_null(qp_store_index_file("x.db", 3, buf, 12)); /* "x.db-journal" needs 13 */

    /* Every file goes, a missing one is no error. */
    for (size_t i = 0; i < 4; i++) {
        FILE *fp = fopen(qp_store_index_file(f->db, i, buf, sizeof buf), "w");
        assert_non_null(fp);
        fclose(fp);
    }
    assert_rc(qp_store_remove_files(f->db, NULL), QP_OK);
    for (size_t i = 0; i < 4; i++)
        assert_int_not_equal(access(qp_store_index_file(f->db, i, buf, sizeof buf), F_OK), 0);
    assert_rc(qp_store_remove_files(f->db, NULL), QP_OK);
}

int main(void)
{
    qp_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_new_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_vault_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_on_missing_or_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_file_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_newer_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_pages_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_load_equals_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_cut_short_rebuilds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlinked_words_apart_and_odd_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlinked_reads_current_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm_sync_parses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_steals_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_unresolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_rechecks_both_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_index_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_mid_batch_reopens_consistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_note_is_attachment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_schema_without_err, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
