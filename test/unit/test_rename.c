/* test_rename — rename.plan: every link form rewritten as Obsidian does
 * (expected texts written by hand), the post-condition refusing a rename
 * that would re-target a link, and a property test: random renames on a
 * generated vault, each applied and compared with a cold index of the
 * result. QP_RENAME_ITERS sets the number of random renames (default 300;
 * the long mode: QP_RENAME_ITERS=3000 build-test/test/test_rename). */
#define _XOPEN_SOURCE 700
#include "qp_test.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmark-gfm-core-extensions.h>
#include <jansson.h>

#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"
#include "store_int.h"

typedef struct tvault {
    char root[256];
    char dbdir[256];
    char db[300];
    qp_vault *v;
    qp_store *st;
} tvault;

static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
}

static void tv_write(const tvault *t, const char *rel, const char *content)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", t->root, rel);
    mkdirs(full);
    FILE *f = fopen(full, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static char *tv_read(const tvault *t, const char *rel)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", t->root, rel);
    FILE *f = fopen(full, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void tv_index(tvault *t)
{
    qp_error err = QP_ERROR_INIT;
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[400];

    qp_store_close(t->st);
    qp_vault_close(t->v);
    t->st = NULL;
    t->v = NULL;
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", t->db, sfx[i]);
        unlink(p);
    }
    if (qp_vault_open(&t->v, t->root, &err) != QP_OK ||
        qp_store_open(&t->st, t->db, QP_STORE_WRITE, &err) != QP_OK ||
        sqlite3_exec(qp__store_db(t->st), "PRAGMA synchronous = OFF", NULL, NULL, NULL) !=
            SQLITE_OK ||
        qp_store_sync(t->st, t->v, NULL, NULL, &err) != QP_OK)
        fail_msg("index: %s", err.msg);
}

/* files: path, content, path, content, ..., NULL */
static void tv_open(tvault *t, const char *const *files)
{
    memset(t, 0, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/qp-rename-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    snprintf(t->dbdir, sizeof t->dbdir, "/tmp/qp-rename-db-XXXXXX");
    assert_non_null(mkdtemp(t->dbdir));
    snprintf(t->db, sizeof t->db, "%s/index.db", t->dbdir);
    mkdir(t->root, 0755);
    char obs[300];
    snprintf(obs, sizeof obs, "%s/.obsidian", t->root);
    mkdir(obs, 0755);
    for (size_t i = 0; files[i] != NULL; i += 2)
        tv_write(t, files[i], files[i + 1]);
    if (files[0] != NULL) /* an empty vault is indexed by the caller, once it has files */
        tv_index(t);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tv_close(tvault *t)
{
    qp_store_close(t->st);
    qp_vault_close(t->v);
    nftw(t->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    nftw(t->dbdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs rename.plan; returns the result, or NULL with the message in msg. */
static json_t *tv_plan(tvault *t, const char *params, char *msg, size_t cap)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, t->st, t->v, "rename.plan", params, &err);
    if (rc != QP_OK) {
        if (msg)
            snprintf(msg, cap, "%s", err.msg);
        return NULL;
    }
    json_t *r = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(r);
    return r;
}

static json_t *plan_ok(tvault *t, const char *params)
{
    char msg[512];
    json_t *r = tv_plan(t, params, msg, sizeof msg);
    if (r == NULL)
        fail_msg("rename.plan %s: %s", params, msg);
    return r;
}

/* Applies a plan the simple way (tests only; the CLI's apply is safe). */
static void tv_apply(tvault *t, const json_t *plan)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(plan, "files"), i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        char *buf = tv_read(t, path);
        assert_non_null(buf);
        size_t len = strlen(buf);
        json_t *edits = json_object_get(f, "edits");
        /* back to front: offsets stay valid */
        for (size_t k = json_array_size(edits); k-- > 0;) {
            json_t *e = json_array_get(edits, k);
            size_t off = (size_t)json_integer_value(json_object_get(e, "offset"));
            size_t el = (size_t)json_integer_value(json_object_get(e, "length"));
            const char *old = json_string_value(json_object_get(e, "old"));
            const char *nw = json_string_value(json_object_get(e, "new"));
            assert_true(off + el <= len);
            assert_memory_equal(buf + off, old, el);
            size_t nl = strlen(nw);
            char *nb = malloc(len - el + nl + 1);
            memcpy(nb, buf, off);
            memcpy(nb + off, nw, nl);
            memcpy(nb + off + nl, buf + off + el, len - off - el + 1);
            free(buf);
            buf = nb;
            len = len - el + nl;
        }
        tv_write(t, path, buf);
        free(buf);
    }
    json_array_foreach(json_object_get(plan, "renames"), i, f)
    {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", t->root, json_string_value(json_object_get(f, "from")));
        snprintf(b, sizeof b, "%s/%s", t->root, json_string_value(json_object_get(f, "to")));
        mkdirs(b);
        if (rename(a, b) != 0)
            fail_msg("rename %s %s: %s", a, b, strerror(errno));
    }
}

static void expect_file(const tvault *t, const char *path, const char *want)
{
    char *got = tv_read(t, path);
    if (got == NULL)
        fail_msg("%s: missing", path);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n--- got\n%s\n--- want\n%s", path, got, want);
    free(got);
}

/* Plans, applies, and checks the summary counts. */
static void run(tvault *t, const char *params, json_int_t links, json_int_t files)
{
    json_t *r = plan_ok(t, params);
    if (links >= 0 && json_integer_value(json_object_get(r, "links")) != links) {
        char *s = json_dumps(r, JSON_INDENT(1));
        fail_msg("%s: links %lld, want %lld\n%s", params,
                 (long long)json_integer_value(json_object_get(r, "links")), (long long)links, s);
    }
    if (files >= 0)
        assert_int_equal(json_array_size(json_object_get(r, "files")), (size_t)files);
    tv_apply(t, r);
    json_decref(r);
}

/* ---- link forms ---------------------------------------------------------- */

static void test_wikilink_forms(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {
        "People/Mara.md",
        "# Mara\n\n## Key Facts\n\nfacts ^kf\n",
        "a.md",
        "[[Mara]] and [[Mara|M]] and ![[Mara#Key Facts|x]] and [[People/Mara]]\n"
        "[[Mara#^kf]] [[ Mara ]] [[mara.md]] and a table:\n\n| a | b |\n|---|---|\n"
        "| [[Mara\\|shown]] | x |\n",
        "code.md",
        "`[[Mara]]`\n\n```\n[[Mara]]\n```\n\n    [[Mara]]\n\n<!-- [[Mara]] -->\n",
        NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"People/Mara.md\",\"to\":\"People/Mara Lind.md\"}", 8, 1);
    expect_file(&t, "a.md",
                "[[Mara Lind]] and [[Mara Lind|M]] and ![[Mara Lind#Key Facts|x]] and [[Mara "
                "Lind]]\n"
                "[[Mara Lind#^kf]] [[ Mara Lind ]] [[Mara Lind.md]] and a table:\n\n| a | b "
                "|\n|---|---|\n"
                "| [[Mara Lind\\|shown]] | x |\n");
    expect_file(&t, "code.md",
                "`[[Mara]]`\n\n```\n[[Mara]]\n```\n\n    [[Mara]]\n\n<!-- [[Mara]] -->\n");
    expect_file(&t, "People/Mara Lind.md", "# Mara\n\n## Key Facts\n\nfacts ^kf\n");
    tv_close(&t);
}

static void test_markdown_and_frontmatter(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {
        "People/Mara X.md",
        "# Mara\n",
        "m.md",
        "---\nattendees: [\"[[Mara X]]\", '[[Mara X|MX]]']\nlead:\n  - \"[[People/Mara X]]\"\n"
        "summary: \"met [[Mara X]]\"\n---\n"
        "[a](People/Mara%20X.md) [b](<People/Mara X.md>) [c](Mara%20X.md#Top \"t\") "
        "![d](Mara%20X)\n",
        "sub/deep/r.md",
        "[up](../../People/Mara%20X.md) [[../../People/Mara X]]\n",
        NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"People/Mara X.md\",\"to\":\"People/Café Y.md\"}", 9, 2);
    expect_file(&t, "m.md",
                "---\nattendees: [\"[[Café Y]]\", '[[Café Y|MX]]']\nlead:\n  - \"[[Café Y]]\"\n"
                "summary: \"met [[Mara X]]\"\n---\n"
                "[a](Café%20Y.md) [b](<Café Y.md>) [c](Café%20Y.md#Top \"t\") ![d](Café%20Y)\n");
    expect_file(&t, "sub/deep/r.md", "[up](../../People/Café%20Y.md) [[../../People/Café Y]]\n");
    tv_close(&t);
}

static void test_percent_encoded_nonascii(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"Caf\xc3\xa9.md", "x\n", "s.md", "[a](Caf%C3%A9.md)\n", NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"Café.md\",\"to\":\"Crème brûlée.md\"}", 1, 1);
    expect_file(&t, "s.md", "[a](Cr%C3%A8me%20br%C3%BBl%C3%A9e.md)\n");
    tv_close(&t);
}

/* The file name on disk is decomposed (NFD), the link in the text too. */
static void test_nfd_names(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"Cafe\xcc\x81.md", "x\n", "s.md", "[[Cafe\xcc\x81]] [[Caf\xc3\xa9]]\n",
                           NULL};
    tv_open(&t, files);
    json_t *r = plan_ok(&t, "{\"path\":\"Café\",\"to\":\"Bar\"}");
    assert_int_equal(json_integer_value(json_object_get(r, "links")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(r, "renames"), 0), "to")),
        "Bar.md");
    json_decref(r);
    tv_close(&t);
}

static void test_case_only(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"Mara.md", "x\n", "s.md", "[[Mara]] [[MARA|m]] [x](Mara.md)\n", NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"Mara.md\",\"to\":\"mara.md\"}", 3, 1);
    expect_file(&t, "s.md", "[[mara]] [[mara|m]] [x](mara.md)\n");
    expect_file(&t, "mara.md", "x\n");
    tv_close(&t);
}

static void test_across_folders(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"People/Mara.md", "x\n", "s.md",
                           "[[Mara]] [[People/Mara|M]] [[/People/Mara]]\n", NULL};
    tv_open(&t, files);
    /* a bare name still resolves: untouched; paths follow the move */
    run(&t, "{\"path\":\"People/Mara.md\",\"to\":\"Archive/2024/\"}", 2, 1);
    expect_file(&t, "s.md", "[[Mara]] [[Mara|M]] [[/Archive/2024/Mara]]\n");
    expect_file(&t, "Archive/2024/Mara.md", "x\n");
    tv_close(&t);
}

static void test_ambiguity_created(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"a/Note.md", "a\n",      "b/Other.md",
                           "b\n",       "c/src.md", "[[Note]] [[Other]] [[Other|o]]\n",
                           NULL};
    tv_open(&t, files);
    /* a root Note.md would take [[Note]] (exact path beats suffix) */
    run(&t, "{\"path\":\"b/Other.md\",\"to\":\"Note.md\"}", 3, 1);
    expect_file(&t, "c/src.md", "[[a/Note]] [[Note]] [[Note|o]]\n");
    tv_close(&t);
}

static void test_ambiguity_removed(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {
        "a/Note.md", "a\n", "b/Note.md", "b\n", "s.md", "[[a/Note]] [[b/Note]]\n", NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"a/Note.md\",\"to\":\"a/Fresh.md\"}", 1, 1);
    expect_file(&t, "s.md", "[[Fresh]] [[b/Note]]\n");
    tv_close(&t);
}

static void test_ambiguous_new_name(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"x/Note.md", "x\n", "y/Old.md", "y\n", "y/s.md", "[[Old]]\n", NULL};
    tv_open(&t, files);
    /* two Note.md after the move: the shortest path only y/Note.md has */
    run(&t, "{\"path\":\"y/Old.md\",\"to\":\"y/Note.md\"}", 1, 1);
    expect_file(&t, "y/s.md", "[[y/Note]]\n");
    tv_close(&t);
}

static void test_folder_move(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"People/Mara.md",
                           "[n](../Notes/n.md) [[../Notes/n]] [[Ann]]\n",
                           "People/Ann.md",
                           "x\n",
                           "Notes/n.md",
                           "[[People/Mara]] [[People/Ann|A]] [[Mara]]\n",
                           NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"People\",\"to\":\"Team/Sub\"}", 4, 2);
    expect_file(&t, "Notes/n.md", "[[Mara]] [[Ann|A]] [[Mara]]\n");
    expect_file(&t, "Team/Sub/Mara.md", "[n](../../Notes/n.md) [[../../Notes/n]] [[Ann]]\n");
    expect_file(&t, "Team/Sub/Ann.md", "x\n");
    tv_close(&t);
}

static void test_attachment(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"img/chart.png", "", "a.md",
                           "![[chart.png|300]] [[img/chart.png]] ![c](img/chart.png) [[chart]]\n",
                           NULL};
    tv_open(&t, files);
    /* an attachment keeps the extension it has; [[chart]] never meant it */
    run(&t, "{\"path\":\"img/chart.png\",\"to\":\"media/q3 chart.png\"}", 3, 1);
    expect_file(&t, "a.md",
                "![[q3 chart.png|300]] [[q3 chart.png]] ![c](q3%20chart.png) [[chart]]\n");
    expect_file(&t, "media/q3 chart.png", "");
    tv_close(&t);
}

static void test_link_format_absolute(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {".obsidian/app.json",
                           "{\"newLinkFormat\":\"absolute\"}",
                           "People/Mara.md",
                           "x\n",
                           "s.md",
                           "[[Mara]] [a](Mara.md)\n",
                           NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"People/Mara.md\",\"to\":\"People/Mara L.md\"}", 2, 1);
    expect_file(&t, "s.md", "[[People/Mara L]] [a](People/Mara%20L.md)\n");
    tv_close(&t);
}

static void test_link_format_relative(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {".obsidian/app.json",
                           "{\"newLinkFormat\":\"relative\"}",
                           "People/Mara.md",
                           "x\n",
                           "Notes/s.md",
                           "[[Mara]]\n",
                           NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"People/Mara.md\",\"to\":\"People/Mara L.md\"}", 1, 1);
    expect_file(&t, "Notes/s.md", "[[../People/Mara L]]\n");
    tv_close(&t);
}

static void test_mentioned_in(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {
        "Meetings/2025-01-02 Sync.md",
        "---\ntype: meeting\n---\n# Sync\n[[Mara]]\n",
        "Meetings/Titled.md",
        "---\ntype: meeting\ntitle: Kept title\n---\n",
        "People/Mara.md",
        "---\ntype: person\n---\n## Recent Context\n\n"
        "- 2025-01-02: Mentioned in: 2025-01-02 Sync\n- 2025-01-03: Mentioned in: Kept title\n",
        NULL};
    tv_open(&t, files);
    run(&t, "{\"path\":\"Meetings/2025-01-02 Sync.md\",\"to\":\"Meetings/2025-01-02 Weekly.md\"}",
        0, 1);
    expect_file(&t, "People/Mara.md",
                "---\ntype: person\n---\n## Recent Context\n\n"
                "- 2025-01-02: Mentioned in: 2025-01-02 Weekly\n"
                "- 2025-01-03: Mentioned in: Kept title\n");
    /* a title from frontmatter does not follow the file name */
    json_t *r = plan_ok(&t, "{\"path\":\"Meetings/Titled.md\",\"to\":\"Meetings/Other.md\"}");
    assert_int_equal(json_array_size(json_object_get(r, "files")), 0);
    json_decref(r);
    tv_close(&t);
}

static void test_newly_resolved(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"Draft.md", "x\n", "s.md", "[[Idea]]\n", NULL};
    tv_open(&t, files);
    json_t *r = plan_ok(&t, "{\"path\":\"Draft.md\",\"to\":\"Idea.md\"}");
    json_t *res = json_object_get(r, "resolved");
    assert_int_equal(json_array_size(res), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "to")),
                        "Idea.md");
    json_decref(r);
    tv_close(&t);
}

static void test_bad_destinations(void **state)
{
    (void)state;
    tvault t;
    char msg[512];
    const char *files[] = {"A.md", "x\n", "B.md", "y\n", "F/c.md", "z\n", NULL};
    tv_open(&t, files);
    assert_null(tv_plan(&t, "{\"path\":\"A.md\",\"to\":\"B.md\"}", msg, sizeof msg));
    assert_non_null(strstr(msg, "already exists"));
    assert_null(tv_plan(&t, "{\"path\":\"A.md\",\"to\":\"x#y.md\"}", msg, sizeof msg));
    assert_non_null(strstr(msg, "invalid destination"));
    assert_null(tv_plan(&t, "{\"path\":\"A.md\",\"to\":\"../A.md\"}", msg, sizeof msg));
    assert_null(tv_plan(&t, "{\"path\":\"F\",\"to\":\"F/G\"}", msg, sizeof msg));
    assert_non_null(strstr(msg, "into itself"));
    assert_null(tv_plan(&t, "{\"path\":\"Nope\",\"to\":\"X\"}", msg, sizeof msg));
    assert_non_null(strstr(msg, "no file or folder"));
    tv_close(&t);
}

/* ---- headings, blocks, tags ------------------------------------------------ */

static void test_heading(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"N.md", "# N\n\n## Old Heading\n\ntext [[#Old Heading]]\n\n## Other\n",
                           "s.md",
                           "[[N#Old Heading]] [[N#old heading|x]] [a](N.md#Old%20Heading) "
                           "[[N#Other]] [[N]]\n",
                           NULL};
    tv_open(&t, files);
    run(&t, "{\"note\":\"N\",\"heading\":\"Old Heading\",\"to\":\"New: part 2\"}", 4, 2);
    expect_file(&t, "N.md", "# N\n\n## New: part 2\n\ntext [[#New: part 2]]\n\n## Other\n");
    expect_file(&t, "s.md",
                "[[N#New: part 2]] [[N#New: part 2|x]] [a](N.md#New:%20part%202) [[N#Other]] "
                "[[N]]\n");
    tv_close(&t);
}

static void test_heading_refused(void **state)
{
    (void)state;
    tvault t;
    char msg[512];
    const char *files[] = {"N.md", "## A\n\n## B\n", "s.md", "[[N#A]] [[N#B]]\n", NULL};
    tv_open(&t, files);
    /* A renamed to B: the old [[N#B]] would reach the first B, line 1 */
    assert_null(tv_plan(&t, "{\"note\":\"N.md\",\"heading\":\"A\",\"to\":\"B\"}", msg, sizeof msg));
    assert_non_null(strstr(msg, "s.md:1:9: [[N#B]] would reach line 1 of N.md instead of line 3"));
    tv_close(&t);
}

static void test_block(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"N.md", "para one ^abc\n\nmore ^keep\n", "s.md",
                           "[[N#^abc]] ![[N#^ABC|x]] [[N#^keep]]\n", NULL};
    tv_open(&t, files);
    run(&t, "{\"note\":\"N\",\"block\":\"^abc\",\"to\":\"new-id\"}", 2, 2);
    expect_file(&t, "N.md", "para one ^new-id\n\nmore ^keep\n");
    expect_file(&t, "s.md", "[[N#^new-id]] ![[N#^new-id|x]] [[N#^keep]]\n");
    tv_close(&t);
}

static void test_tag(void **state)
{
    (void)state;
    tvault t;
    const char *files[] = {"a.md",
                           "---\ntags: [proj, other, proj/x]\n---\n#proj and #proj/sub/deep, "
                           "#project, #Proj\n`#proj` in code\n",
                           "b.md",
                           "---\ntags:\n  - proj/y\n  - \"proj\"\nother: proj\n---\nx\n",
                           "c.md",
                           "nothing #projx\n",
                           NULL};
    tv_open(&t, files);
    run(&t, "{\"tag\":\"#proj\",\"to\":\"work/proj\"}", 0, 2);
    expect_file(&t, "a.md",
                "---\ntags: [work/proj, other, work/proj/x]\n---\n#work/proj and "
                "#work/proj/sub/deep, #project, #work/proj\n`#proj` in code\n");
    expect_file(&t, "b.md",
                "---\ntags:\n  - work/proj/y\n  - \"work/proj\"\nother: proj\n---\nx\n");
    tv_close(&t);
}

/* ---- property test ----------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const folders[] = {"",       "People/",    "Meetings/2025/",
                                      "Notes/", "Notes/Sub/", "Arch/"};
static const char *const stems[] = {"Mara",        "Omar", "Note",    "Plan", "Café",
                                    "Q&A (draft)", "Idea", "Ann Lee", "x",    "Road map"};
#define NF (sizeof folders / sizeof folders[0])
#define NS (sizeof stems / sizeof stems[0])

typedef struct lrow {
    char src[256], dst[256], sub[256], disp[256];
} lrow;

typedef struct ltab {
    lrow *v;
    size_t n;
} ltab;

static void link_table(tvault *t, ltab *out)
{
    sqlite3 *db = qp__store_db(t->st);
    sqlite3_stmt *s;
    out->v = NULL;
    out->n = 0;
    size_t cap = 0;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT f.path, d.path, l.subpath, l.display FROM links l "
                                        "JOIN files f ON f.id = l.src LEFT JOIN files d ON d.id = "
                                        "l.dst ORDER BY f.path, l.id",
                                        -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            out->v = realloc(out->v, cap * sizeof *out->v);
        }
        lrow *r = &out->v[out->n++];
        const char *c[4];
        for (int i = 0; i < 4; i++)
            c[i] = (const char *)sqlite3_column_text(s, i);
        snprintf(r->src, sizeof r->src, "%s", c[0]);
        snprintf(r->dst, sizeof r->dst, "%s", c[1] ? c[1] : "");
        snprintf(r->sub, sizeof r->sub, "%s", c[2] ? c[2] : "");
        snprintf(r->disp, sizeof r->disp, "%s", c[3] ? c[3] : "");
    }
    sqlite3_finalize(s);
}

/* Where a path is after the plan's renames. */
static void map_path(const json_t *plan, const char *path, char *out, size_t cap)
{
    json_t *r = json_array_get(json_object_get(plan, "renames"), 0);
    const char *from = json_string_value(json_object_get(r, "from"));
    const char *to = json_string_value(json_object_get(r, "to"));
    size_t fl = strlen(from);
    if (path[0] != '\0' && strcmp(path, from) == 0)
        snprintf(out, cap, "%s", to);
    else if (json_is_true(json_object_get(r, "folder")) && strncmp(path, from, fl) == 0 &&
             path[fl] == '/')
        snprintf(out, cap, "%s%s", to, path + fl);
    else
        snprintf(out, cap, "%s", path);
}

static void gen_vault(tvault *t, size_t nnotes)
{
    const char *none[] = {NULL};
    tv_open(t, none);
    char path[256], body[4096];
    char names[64][256];
    size_t nn = 0;
    for (size_t i = 0; i < nnotes && nn < 64; i++) {
        snprintf(path, sizeof path, "%s%s%s.md", folders[rnd(NF)], stems[rnd(NS)],
                 rnd(3) == 0 ? " 2" : "");
        char *old = tv_read(t, path);
        if (old != NULL) {
            free(old);
            continue;
        }
        snprintf(names[nn++], sizeof names[0], "%s", path);
        tv_write(t, path, "x\n");
    }
    for (size_t i = 0; i < nn; i++) {
        size_t o = 0;
        o += (size_t)snprintf(body + o, sizeof body - o, "---\nattendees: [\"[[%s]]\"]\n---\n",
                              stems[rnd(NS)]);
        for (int k = 0; k < 6; k++) {
            const char *tgt = names[rnd((uint32_t)nn)];
            char stem[256];
            snprintf(stem, sizeof stem, "%s", strrchr(tgt, '/') ? strrchr(tgt, '/') + 1 : tgt);
            stem[strlen(stem) - 3] = '\0';
            char noext[256];
            snprintf(noext, sizeof noext, "%s", tgt);
            noext[strlen(noext) - 3] = '\0';
            switch (rnd(7)) {
            case 0:
                o += (size_t)snprintf(body + o, sizeof body - o, "[[%s]] ", stem);
                break;
            case 1:
                o += (size_t)snprintf(body + o, sizeof body - o, "[[%s#H|shown]] ", noext);
                break;
            case 2:
                o += (size_t)snprintf(body + o, sizeof body - o, "![[%s|300]] ", stem);
                break;
            case 3: {
                char enc[512];
                size_t e = 0;
                for (const char *c = tgt; *c; c++)
                    e += (size_t)(*c == ' ' ? snprintf(enc + e, sizeof enc - e, "%%20")
                                            : snprintf(enc + e, sizeof enc - e, "%c", *c));
                o += (size_t)snprintf(body + o, sizeof body - o, "[m](%s) ", enc);
                break;
            }
            case 4:
                o += (size_t)snprintf(body + o, sizeof body - o, "[m](<%s>) ", tgt);
                break;
            case 5:
                o += (size_t)snprintf(body + o, sizeof body - o, "`[[%s]]` ", stem);
                break;
            default:
                o += (size_t)snprintf(body + o, sizeof body - o, "[[%s]] ", stems[rnd(NS)]);
                break;
            }
        }
        snprintf(body + o, sizeof body - o, "\n\n## H\n");
        tv_write(t, names[i], body);
    }
    tv_index(t);
}

static void random_rename(tvault *t, char *params, size_t cap)
{
    ltab lt;
    link_table(t, &lt);
    /* a random file, from the link table's targets or sources */
    const char *from = lt.n ? lt.v[rnd((uint32_t)lt.n)].src : "x.md";
    char to[256];
    switch (rnd(5)) {
    case 0: /* case only */
        snprintf(to, sizeof to, "%s", from);
        for (char *c = strrchr(to, '/') ? strrchr(to, '/') + 1 : to; *c; c++)
            if (*c >= 'a' && *c <= 'z' && c[1] != '.' && c[1] != 'd') {
                *c = (char)(*c - 32);
                break;
            } else if (*c >= 'A' && *c <= 'Z') {
                *c = (char)(*c + 32);
                break;
            }
        break;
    case 1: /* a folder */
        if (strchr(from, '/')) {
            char f[256];
            snprintf(f, sizeof f, "%s", from);
            *strchr(f, '/') = '\0';
            snprintf(params, cap, "{\"path\":\"%s\",\"to\":\"Moved%u/%s\"}", f, rnd(100), f);
            free(lt.v);
            return;
        }
        /* fall through */
    default:
        snprintf(to, sizeof to, "%s%s%s.md", folders[rnd(NF)], stems[rnd(NS)], rnd(2) ? " 3" : "");
        break;
    }
    snprintf(params, cap, "{\"path\":\"%s\",\"to\":\"%s\"}", from, to);
    free(lt.v);
}

/* The first heading of `path` in the index, in buf; false when it has none. */
static bool first_heading(tvault *t, const char *path, char *buf, size_t cap)
{
    sqlite3_stmt *s;
    bool found = false;
    assert_int_equal(
        sqlite3_prepare_v2(qp__store_db(t->st),
                           "SELECT h.text FROM headings h JOIN files f ON f.id = h.file"
                           " WHERE f.path = ?1 ORDER BY h.line LIMIT 1",
                           -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(s, 0));
        found = true;
    }
    sqlite3_finalize(s);
    return found;
}

/* One random heading rename, applied and checked against a cold index of
 * the result: every link to that heading of that note now names the new
 * text, and no link changed its target, subpath or display text
 * otherwise. Returns 1 when applied, 0 when refused or not a rename. */
static int heading_round(tvault *t, long *refused)
{
    static const char *const texts[] = {"H", "Next step", "Café ü", "A: b", "Road map", "h"};
    ltab before, after;
    char note[256], old[256], params[1024], msg[512], want[300];
    link_table(t, &before);
    if (before.n == 0) {
        free(before.v);
        return 0;
    }
    snprintf(note, sizeof note, "%s", before.v[rnd((uint32_t)before.n)].dst);
    if (note[0] == '\0' || !first_heading(t, note, old, sizeof old)) {
        free(before.v);
        return 0;
    }
    const char *to = texts[rnd(sizeof texts / sizeof texts[0])];
    json_t *jp = json_pack("{s:s, s:s, s:s}", "note", note, "heading", old, "to", to);
    char *ps = json_dumps(jp, JSON_COMPACT);
    snprintf(params, sizeof params, "%s", ps);
    free(ps);
    json_decref(jp);
    json_t *plan = tv_plan(t, params, msg, sizeof msg);
    if (plan == NULL) {
        if (strncmp(msg, "refused", 7) == 0)
            (*refused)++;
        free(before.v);
        return 0;
    }
    tv_apply(t, plan);
    tv_index(t);
    link_table(t, &after);
    if (before.n != after.n)
        fail_msg("%s: %zu links before, %zu after", params, before.n, after.n);
    snprintf(want, sizeof want, "#%s", to);
    for (size_t i = 0; i < before.n; i++) {
        const lrow *b = &before.v[i], *a = &after.v[i]; /* no file moved: same order */
        bool renamed =
            strcmp(b->dst, note) == 0 && b->sub[0] == '#' && strcmp(b->sub + 1, old) == 0;
        if (strcmp(a->src, b->src) != 0 || strcmp(a->dst, b->dst) != 0 ||
            strcmp(a->disp, b->disp) != 0 || strcmp(a->sub, renamed ? want : b->sub) != 0)
            fail_msg("%s: link %zu of %s: '%s%s' became '%s%s'", params, i, b->src, b->dst, b->sub,
                     a->dst, a->sub);
    }
    char now[256];
    if (!first_heading(t, note, now, sizeof now) || strcmp(now, to) != 0)
        fail_msg("%s: the heading of %s is '%s'", params, note, now);
    free(before.v);
    free(after.v);
    json_decref(plan);
    return 1;
}

static void test_property(void **state)
{
    (void)state;
    tvault t;
    const char *env = getenv("QP_RENAME_ITERS");
    long iters = env ? atol(env) : 300;
    long done = 0, refused = 0, invalid = 0, headings = 0;
    char params[1024], msg[512];

    gen_vault(&t, 60);
    for (long it = 0; it < iters; it++) {
        if (rnd(4) == 0) { /* a heading of a note, instead of a file */
            int ok = heading_round(&t, &refused);
            done += ok;
            headings += ok;
            invalid += !ok;
            continue;
        }
        random_rename(&t, params, sizeof params);
        json_t *plan = tv_plan(&t, params, msg, sizeof msg);
        if (plan == NULL) {
            if (strncmp(msg, "refused", 7) == 0) {
                refused++;
                fprintf(stderr, "refused: %s: %s\n", params, msg);
            } else {
                invalid++; /* a name taken, a folder into itself: not a rename */
            }
            continue;
        }
        ltab before, after;
        link_table(&t, &before);
        tv_apply(&t, plan);
        tv_index(&t); /* a cold index of the result */
        link_table(&t, &after);
        if (before.n != after.n)
            fail_msg("%s: %zu links before, %zu after", params, before.n, after.n);
        size_t newly = json_array_size(json_object_get(plan, "resolved"));
        size_t got_newly = 0;
        /* rows are sorted by source path; compare per mapped source */
        for (size_t i = 0; i < before.n; i++) {
            char src[256], dst[256];
            map_path(plan, before.v[i].src, src, sizeof src);
            map_path(plan, before.v[i].dst, dst, sizeof dst);
            /* the k-th link of src before is the k-th link of src after */
            size_t k = 0, j;
            for (j = 0; j < i; j++)
                k += strcmp(before.v[j].src, before.v[i].src) == 0;
            const lrow *a = NULL;
            for (j = 0; j < after.n && a == NULL; j++)
                if (strcmp(after.v[j].src, src) == 0 && k-- == 0)
                    a = &after.v[j];
            if (a == NULL)
                fail_msg("%s: link %zu of %s is gone", params, i, src);
            if (before.v[i].dst[0] == '\0' && a->dst[0] != '\0') {
                got_newly++;
                continue;
            }
            if (strcmp(a->dst, dst) != 0 || strcmp(a->sub, before.v[i].sub) != 0 ||
                strcmp(a->disp, before.v[i].disp) != 0)
                fail_msg("%s: a link of %s went to '%s' (want '%s'), subpath '%s' display '%s'",
                         params, src, a->dst, dst, a->sub, a->disp);
        }
        if (got_newly != newly)
            fail_msg("%s: %zu links resolved anew, the plan said %zu", params, got_newly, newly);
        free(before.v);
        free(after.v);
        json_decref(plan);
        done++;
    }
    fprintf(stderr,
            "property: %ld renames applied and checked (%ld of them headings), %ld refused, %ld"
            " not renames\n",
            done, headings, refused, invalid);
    assert_true(headings > 0);
    assert_true(done > iters / 2);
    tv_close(&t);
}

int main(void)
{
    cmark_gfm_core_extensions_ensure_registered();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wikilink_forms),
        cmocka_unit_test(test_markdown_and_frontmatter),
        cmocka_unit_test(test_percent_encoded_nonascii),
        cmocka_unit_test(test_nfd_names),
        cmocka_unit_test(test_case_only),
        cmocka_unit_test(test_across_folders),
        cmocka_unit_test(test_ambiguity_created),
        cmocka_unit_test(test_ambiguity_removed),
        cmocka_unit_test(test_ambiguous_new_name),
        cmocka_unit_test(test_folder_move),
        cmocka_unit_test(test_attachment),
        cmocka_unit_test(test_link_format_absolute),
        cmocka_unit_test(test_link_format_relative),
        cmocka_unit_test(test_mentioned_in),
        cmocka_unit_test(test_newly_resolved),
        cmocka_unit_test(test_bad_destinations),
        cmocka_unit_test(test_heading),
        cmocka_unit_test(test_heading_refused),
        cmocka_unit_test(test_block),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
