/* test_alloc — every allocation of libquipu's own code fails in turn
 * (qp__alloc_fail_after, a QP_ALLOC_HOOK build): one walk per module, over
 * the entry points that module serves. Each failing call must come back
 * as QP_ENOMEM (or NULL for the functions that return a pointer), and
 * AddressSanitizer's leak check at exit must find nothing. Without the
 * hook the test is skipped. */
#define _GNU_SOURCE /* nftw, asprintf */
#include "qp_test.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define QP_ALLOC_NO_RENAME /* the test's own allocations are not counted */
#include "alloc_int.h"
#include "mentions_int.h"
#include "quipu/arena.h"
#include "quipu/frontmatter.h"
#include "quipu/ingest.h"
#include "quipu/init.h"
#include "quipu/note.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/taskquery.h"
#include "quipu/tasks.h"
#include "quipu/text.h"
#include "quipu/vault.h"
#include "resolve_int.h"

#ifdef QP_ALLOC_HOOK

/* One call of an entry point: QP_OK, or the code it failed with. A call
 * whose module may get around a failed allocation (a fast path with a
 * slower fallback) puts a summary of its result in *digest (new, or left
 * NULL): a success must then give the same result as without the hook. */
typedef qp_rc (*call_fn)(void *ctx, char **digest);

/* Says where allocation n of fn is made (ASan prints the stack). */
static void trace_point(call_fn fn, void *ctx, long n)
{
    char *d = NULL;
    qp__alloc_trace(true);
    qp__alloc_fail_after(n);
    fn(ctx, &d);
    qp__alloc_fail_after(-1);
    qp__alloc_trace(false);
    free(d);
}

/* Fails allocation 0, 1, 2, ... of `fn` until a run makes no failing
 * allocation; that run must succeed, the others must say QP_ENOMEM or
 * give the unhooked result. */
static void walk(const char *what, call_fn fn, void *ctx)
{
    char *ref = NULL;
    long n;
    assert_rc(fn(ctx, &ref), QP_OK);
    for (n = 0;; n++) {
        char *d = NULL;
        qp__alloc_fail_after(n);
        qp_rc rc = fn(ctx, &d);
        bool hit = qp__alloc_failed();
        qp__alloc_fail_after(-1);
        bool same = rc == QP_OK && ref && d && strcmp(ref, d) == 0;
        free(d);
        if (!hit) {
            if (rc != QP_OK)
                fail_msg("%s: %s without a failed allocation", what, qp_rc_name(rc));
            break;
        }
        if (rc != QP_ENOMEM && !same) {
            trace_point(fn, ctx, n);
            free(ref);
            fail_msg("%s: allocation %ld failed, got %s%s", what, n, qp_rc_name(rc),
                     rc == QP_OK ? " with another result" : "");
        }
    }
    free(ref);
    print_message("%s: %ld allocation points\n", what, n);
}

static const char note_text[] = "---\n"
                                "type: person\n"
                                "aliases: [Mara L, ML]\n"
                                "tags: [team/core]\n"
                                "rank: 3\n"
                                "---\n"
                                "# Mara Lopez ^top\n"
                                "Met [[Ann Lee|Ann]] and [[Projects/Alpha#Plan]] #tag/x\n"
                                "See [the doc](Docs/A%20B.md) and ![[pic.png]]\n"
                                "- [ ] call Mara 📅 2025-01-03 ⏫ #todo\n"
                                "  - [x] sub ✅ 2025-01-02\n"
                                "## Mentioned in\n"
                                "- [[2025-01-02 Sync]]\n"
                                "```tasks\nnot done\ngroup by tags\n```\n"
                                "Text $x$ `code [[not]]` end. ^blk\n";

/* ---- arena, text ---- */

static qp_rc call_arena(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    qp_arena *a = qp_arena_new();
    if (!a)
        return QP_ENOMEM;
    qp_rc rc = QP_OK;
    for (int i = 0; i < 8 && rc == QP_OK; i++)
        if (!qp_arena_alloc(a, (size_t)(i % 2 ? 20000 : 100)) || !qp_arena_strdup(a, "x"))
            rc = QP_ENOMEM;
    qp_arena_free(a);
    return rc;
}

static qp_rc call_text(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    char *f = qp_text_fold("Ma\xcc\x81ra \xc3\x9f", 9, NULL);
    char *n = qp_text_nfc("Ma\xcc\x81ra", 6, NULL);
    qp_rc rc = f && n ? QP_OK : QP_ENOMEM;
    free(f);
    free(n);
    return rc;
}

static void test_arena_text(void **state)
{
    (void)state;
    walk("arena", call_arena, NULL);
    walk("text", call_text, NULL);
}

/* ---- frontmatter, note (markdown, links, tags, tasks lines) ---- */

static qp_rc call_frontmatter(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    qp_arena *a = qp_arena_new();
    if (!a)
        return QP_ENOMEM;
    qp_frontmatter fm;
    qp_rc rc = qp_frontmatter_parse(&fm, a, note_text, sizeof note_text - 1, 0, NULL);
    qp_arena_free(a);
    return rc;
}

static qp_rc call_note(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    qp_note *note = NULL;
    qp_rc rc = qp_note_parse(&note, "People/Mara.md", note_text, sizeof note_text - 1, NULL, NULL);
    qp_note_free(note);
    return rc;
}

static void test_frontmatter_note(void **state)
{
    (void)state;
    walk("frontmatter", call_frontmatter, NULL);
    walk("note", call_note, NULL);
}

/* ---- tasks, taskquery ---- */

static qp_rc call_task_line(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    qp_arena *a = qp_arena_new();
    if (!a)
        return QP_ENOMEM;
    qp_task t;
    bool is_task;
    const char *line = "- [ ] call Mara 📅 2025-01-03 ⏳ 2025-01-02 🔁 every week ⏫ #todo";
    qp_rc rc = qp_task_parse_line(&t, &is_task, line, strlen(line), "a.md", "H", NULL, a, NULL);
    qp_arena_free(a);
    return rc;
}

static qp_rc call_taskquery(void *ctx, char **digest)
{
    (void)ctx;
    const char *lines[] = {"- [ ] a 📅 2025-01-03 #x", "- [x] b ✅ 2025-01-01", "- [/] c #y #x"};
    const char *paths[] = {"a.md", "a.md", "b/c.md"};
    qp_taskquery_result *r = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_tasks_eval(&r,
                             "not done\n(due before 2025-02-01) OR (tags include y)\n"
                             "sort by due\ngroup by tags\nlimit 5",
                             lines, paths, NULL, 3, NULL, &err);
    if (rc == QP_OK && asprintf(digest, "%zu %zu %zu", r->total, r->shown, r->n_groups) < 0)
        rc = QP_ENOMEM;
    qp_taskquery_result_free(r);
    return rc;
}

static void test_tasks_taskquery(void **state)
{
    (void)state;
    walk("tasks", call_task_line, NULL);
    walk("taskquery", call_taskquery, NULL);
}

/* ---- resolve, mentions ---- */

static qp_rc cands(const qp__cand **out, size_t *n, const char *name_folded, void *payload,
                   qp_error *err)
{
    static const qp__cand c[] = {{1, "People/Mara.md", "people/mara.md"},
                                 {2, "Old/Mara.md", "old/mara.md"}};
    (void)payload;
    (void)err;
    *out = c;
    *n = strcmp(name_folded, "mara.md") == 0 ? 2 : 0;
    return QP_OK;
}

static qp_rc call_resolve(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    int64_t id = 0;
    return qp__resolve(&id, "Mara", "People/Ann.md", 3, cands, NULL, NULL);
}

static qp_rc call_mentions(void *ctx, char **digest)
{
    (void)digest;
    (void)ctx;
    const char *names[] = {"mara", "mara lopez"};
    qp__mention_hit *hits = NULL;
    size_t n = 0;
    const char *text = "Mara Lopez met MARA; maraschino is not her.";
    qp_rc rc = qp__mentions_find(&hits, &n, text, strlen(text), names, 2, NULL);
    free(hits);
    return rc;
}

static void test_resolve_mentions(void **state)
{
    (void)state;
    walk("resolve", call_resolve, NULL);
    walk("mentions", call_mentions, NULL);
}

/* ---- vault (and its settings), ingest, store, query: on a small vault
 * on disk ---- */

typedef struct fx {
    char root[64];
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

static void put_file(const fx *f, const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    for (char *p = path + strlen(f->root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int vault_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->root, "/tmp/qp-alloc-XXXXXX");
    if (!f || !mkdtemp(f->root))
        return -1;
    put_file(f, "People/Mara.md", note_text);
    put_file(f, "People/Ann Lee.md", "---\ntype: person\n---\nAnn works with Mara Lopez.\n");
    put_file(f, "Meetings/2025-01-02 Sync.md",
             "---\ntype: meeting\n---\n# Sync\nMara Lopez and [[Ann Lee]].\n- [ ] follow up\n");
    put_file(f, "Projects/Alpha.md", "# Plan\n[[Mara]] leads.\n");
    put_file(f, "pic.png", "PNG");
    put_file(f, ".obsidian/app.json",
             "{\"userIgnoreFilters\":[\"Archive/\"],\"newLinkFormat\":\"shortest\"}");
    put_file(f, "Archive/Old.md", "Mara Lopez, long ago.\n");
    snprintf(f->db, sizeof f->db, "%s/.index.sqlite3", f->root);
    *state = f;
    return 0;
}

static int vault_teardown(void **state)
{
    fx *f = *state;
    qp_store_close(f->st);
    qp_vault_close(f->v);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int count_file(const char *relpath, const qp_file_stat *st, void *payload)
{
    (void)relpath;
    (void)st;
    (*(int *)payload)++;
    return 0;
}

static qp_rc call_vault(void *ctx, char **digest)
{
    fx *f = ctx;
    qp_vault *v = NULL;
    qp_rc rc = qp_vault_open(&v, f->root, NULL);
    int n = 0;
    if (rc == QP_OK)
        rc = qp_vault_walk(v, count_file, &n, NULL);
    char *buf = NULL;
    size_t len;
    qp_file_stat fs;
    if (rc == QP_OK)
        rc = qp_vault_read(v, "People/Ann Lee.md", 0, &buf, &len, &fs, NULL);
    if (rc == QP_OK && asprintf(digest, "%d files, %zu bytes %s", n, len, buf) < 0)
        rc = QP_ENOMEM;
    free(buf);
    qp_vault_close(v);
    return rc;
}

static qp_rc call_ingest(void *ctx, char **digest)
{
    fx *f = ctx;
    qp_ingest_op op = QP_INGEST_OP_INIT;
    qp_rc rc = qp_ingest_path(&op, f->v, "People/Mara.md", NULL, NULL);
    size_t nl = 0;
    if (op.note)
        qp_note_links(op.note, &nl);
    if (rc == QP_OK &&
        asprintf(digest, "%d %llx %zu", (int)op.kind, (unsigned long long)op.fs.hash, nl) < 0)
        rc = QP_ENOMEM;
    qp_ingest_op_clear(&op);
    return rc;
}

/* A whole sync into a fresh index: open, walk, ingest, write, resolve. */
static qp_rc call_store(void *ctx, char **digest)
{
    fx *f = ctx;
    qp_store *st = NULL;
    char p[160];
    for (size_t i = 0; qp_store_index_file(f->db, i, p, sizeof p); i++)
        unlink(p); /* a fresh index each time (no allocation: not counted) */
    qp_rc rc = qp_store_open(&st, f->db, QP_STORE_WRITE, NULL);
    if (rc == QP_OK)
        rc = qp_store_sync(st, f->v, NULL, NULL, NULL);
    qp_store_stats s;
    if (rc == QP_OK) {
        qp_store_get_stats(st, &s);
        if (asprintf(digest, "%zu %zu %zu %lld", s.parsed, s.attachments, s.resolved,
                     (long long)qp_store_generation(st)) < 0)
            rc = QP_ENOMEM;
    }
    qp_store_close(st);
    return rc;
}

typedef struct query_ctx {
    fx *f;
    const char *method, *params;
} query_ctx;

static qp_rc call_query(void *ctx, char **digest)
{
    query_ctx *q = ctx;
    qp_error err = QP_ERROR_INIT;
    return qp_query_run(digest, q->f->st, q->f->v, q->method, q->params, &err);
}

static void test_vault_ingest_store(void **state)
{
    fx *f = *state;
    walk("vault", call_vault, f);
    assert_rc(qp_vault_open(&f->v, f->root, NULL), QP_OK);
    walk("ingest", call_ingest, f);
    walk("store", call_store, f);
}

static void test_query(void **state)
{
    fx *f = *state;
    static const char *const calls[][2] = {
        {"status", "{}"},
        {"note", "{\"note\":\"People/Mara.md\"}"},
        {"resolve", "{\"link\":\"Mara\",\"from\":\"Projects/Alpha.md\"}"},
        {"backlinks", "{\"note\":\"People/Mara.md\",\"unlinked\":true}"},
        {"mentions", "{\"note\":\"People/Ann Lee.md\"}"},
        {"tasks.query", "{\"query\":\"not done\\ngroup by path\"}"},
        {"tasks.blocks", "{\"note\":\"People/Mara.md\"}"},
    };
    assert_rc(qp_vault_open(&f->v, f->root, NULL), QP_OK);
    assert_rc(qp_store_open(&f->st, f->db, QP_STORE_WRITE, NULL), QP_OK);
    assert_rc(qp_store_sync(f->st, f->v, NULL, NULL, NULL), QP_OK);
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        query_ctx q = {f, calls[i][0], calls[i][1]};
        char what[64];
        snprintf(what, sizeof what, "query %s", calls[i][0]);
        walk(what, call_query, &q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_text),
        cmocka_unit_test(test_frontmatter_note),
        cmocka_unit_test(test_tasks_taskquery),
        cmocka_unit_test(test_resolve_mentions),
        cmocka_unit_test_setup_teardown(test_vault_ingest_store, vault_setup, vault_teardown),
        cmocka_unit_test_setup_teardown(test_query, vault_setup, vault_teardown),
    };

    qp_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* no hook in this build */

static void test_skipped(void **state)
{
    (void)state;
    skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_skipped)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
