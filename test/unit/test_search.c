/* test_search — full-text search: words (folding, lines and columns), the
 * query language (parsed trees written out by hand), the `search` method on
 * test/fixtures/search (ranking order where the weights decide it, hits at
 * columns counted by hand, line:/section: checked in the text, tag:,
 * [property], task-todo:, excluded files, paging, errors), and the index's
 * deletes: a vault edited, renamed and pruned incrementally leaves exactly
 * the postings and BM25 totals that indexing its final state afresh gives. */
#include "qp_fixture.h"
#include "qp_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmark-gfm-core-extensions.h>
#include <jansson.h>
#include <sqlite3.h>

#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"
#include "search_int.h"

/* ---- words ---- */

static void test_words_split(void **state)
{
    (void)state;
    qp__search_words w;
    const char *text = "Hello, Wörld_x 2025-09\nnaïve ΣΊΣΥΦΟΣ";
    assert_rc(qp__search_words_split(&w, text, strlen(text), NULL), QP_OK);
    assert_string_equal(w.folded, "hello wörld_x 2025 09 naïve σίσυφοσ");
    assert_int_equal(w.n, 6);
    static const struct {
        uint32_t line, col;
        size_t nsrc;
    } want[] = {{1, 1, 5}, {1, 8, 8}, {1, 17, 4}, {1, 22, 2}, {2, 1, 6}, {2, 8, 14}};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(w.v[i].line, want[i].line);
        assert_int_equal(w.v[i].col, want[i].col);
        assert_int_equal(w.v[i].nsrc, want[i].nsrc);
    }
    qp__search_words_free(&w);

    assert_rc(qp__search_words_split(&w, "-- ++ ", 6, NULL), QP_OK);
    assert_int_equal(w.n, 0);
    assert_string_equal(w.folded, "");
    qp__search_words_free(&w);
}

/* ---- the query language ---- */

static void parses(const char *q, bool prefix, const char *want)
{
    qp__sq_query sq;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp__sq_parse(&sq, q, prefix, &err);
    if (rc != QP_OK)
        fail_msg("%s: %s", q, err.msg);
    char *got = qp__sq_dump(&sq);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n got  %s\n want %s", q, got, want);
    free(got);
    qp__sq_free(&sq);
}

static void refuses(const char *q, int col, const char *msg)
{
    qp__sq_query sq;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp__sq_parse(&sq, q, true, &err), QP_EQUERY);
    assert_int_equal(err.col, col);
    if (!strstr(err.msg, msg))
        fail_msg("%s: message %s lacks %s", q, err.msg, msg);
}

static void test_parse(void **state)
{
    (void)state;
    parses("a b", false, "(and \"a\" \"b\")");
    parses("a b", true, "(and \"a\" \"b\"*)");
    parses("a b ", true, "(and \"a\" \"b\")");
    parses("\"full text\" -draft OR x", false, "(or (and \"full text\" (not \"draft\")) \"x\")");
    parses("a (b OR c) d", true, "(and \"a\" (or \"b\" \"c\") \"d\"*)");
    parses("a or b", false, "(and \"a\" \"or\" \"b\")");
    parses("e-mail", false, "\"e mail\"");
    parses("Café", false, "\"café\"");
    parses("foo* bar", false, "(and \"foo\"* \"bar\")");
    parses("-- ++", true, "");
    parses("note:x", false, "\"note x\"");
    parses(
        "path:Notes tag:writing [status:Draft] [ owner ]", false,
        "(and (path \"notes\") (tag \"#writing\") (prop \"status\" \"draft\") (prop \"owner\"))");
    parses("path:\"Meetings/2025\" file:Roadmap", false,
           "(and (path \"meetings/2025\") (file \"roadmap\"))");
    parses("line:(text search) section:(\"opening hours\" OR midnight)", true,
           "(and (line (and \"text\" \"search\")) (section (or \"opening hours\" \"midnight\")))");
    parses("task-todo:ranking task-done: task:(a OR b)", false,
           "(and (task-todo \"ranking\") (task-done) (task (or \"a\" \"b\")))");
    parses("-(a b) [x:\"y z\"]", false, "(and (not (and \"a\" \"b\")) (prop \"x\" \"y z\"))");
    /* A run of dashes negates once per dash. */
    parses("b --a", false, "(and \"b\" \"a\")");
    parses("b ---a", false, "(and \"b\" (not \"a\"))");

    refuses("(a", 1, "( without )");
    refuses("a)", 2, ") without (");
    refuses("\"abc", 1, "unterminated");
    refuses("[x", 1, "[ without ]");
    refuses("[]", 1, "property name");
    refuses("line:(path:x)", 1, "line takes words");
    refuses("tag:#", 1, "tag name");
    refuses("a path:", 8, "needs a value");
}

/* ---- the method on test/fixtures/search ---- */

#define CAFE    "Notes/Café culture.md"
#define ENGINES "Notes/Search engines.md"
#define STRASSE "Notes/Straße.md"
#define ROADMAP "Projects/Roadmap.md"

static int setup(void **state)
{
    (void)state;
    return fixture_open("search");
}

static int teardown(void **state)
{
    (void)state;
    fixture_close();
    return 0;
}

/* Runs a search (prefix off unless the params say so) and returns the
 * result; fails the test on an error. */
static json_t *search(const char *params)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, vault, "search", params, &err);
    if (rc != QP_OK)
        fail_msg("search %s: %s: %s", params, qp_rc_name(rc), err.msg);
    json_t *r = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(r);
    return r;
}

/* The paths of the results, joined by '|'. */
static void paths_are(const char *params, const char *want, long total)
{
    json_t *r = search(params);
    char got[1024] = "";
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "results"), i, v)
    {
        if (i)
            strcat(got, "|");
        strcat(got, json_string_value(json_object_get(v, "path")));
    }
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n got  %s\n want %s", params, got, want);
    assert_int_equal(json_integer_value(json_object_get(r, "total")), total);
    json_decref(r);
}

/* The matches of result `k` as "line:column:length..." per line, ';' between. */
static void hits_are(const char *params, size_t k, const char *want)
{
    json_t *r = search(params);
    json_t *res = json_array_get(json_object_get(r, "results"), k);
    char got[1024] = "";
    size_t i, j;
    json_t *m, *h;
    assert_non_null(res);
    json_array_foreach(json_object_get(res, "matches"), i, m)
    {
        char part[64];
        if (i)
            strcat(got, ";");
        snprintf(part, sizeof part, "%lld",
                 (long long)json_integer_value(json_object_get(m, "line")));
        strcat(got, part);
        json_array_foreach(json_object_get(m, "hits"), j, h)
        {
            snprintf(part, sizeof part, ":%lld+%lld",
                     (long long)json_integer_value(json_object_get(h, "column")),
                     (long long)json_integer_value(json_object_get(h, "length")));
            strcat(got, part);
        }
    }
    if (strcmp(got, want) != 0)
        fail_msg("%s result %zu:\n got  %s\n want %s", params, k, got, want);
    json_decref(r);
}

static void test_words_and_ranking(void **state)
{
    (void)state;
    /* The title weighs more: the note named Café comes first. */
    paths_are("{\"query\":\"café\",\"prefix\":false}", CAFE "|" STRASSE, 2);
    hits_are("{\"query\":\"café\",\"prefix\":false}", 0, "2:8+5;8:3+5;10:40+5");
    hits_are("{\"query\":\"café\",\"prefix\":false}", 1, "3:41+5");
    /* Diacritics count; whole words unless the last is being typed. */
    paths_are("{\"query\":\"cafe\",\"prefix\":false}", "", 0);
    paths_are("{\"query\":\"caf\",\"prefix\":false}", "", 0);
    paths_are("{\"query\":\"caf\"}", CAFE "|" STRASSE, 2);
    hits_are("{\"query\":\"caf\"}", 0, "2:8+5;8:3+5;10:40+5;14:6+6");
    /* Capitals and final sigma fold. */
    paths_are("{\"query\":\"σίσυφος ærø\",\"prefix\":false}", STRASSE, 1);
    hits_are("{\"query\":\"σίσυφος\",\"prefix\":false}", 0, "3:1+14");
    paths_are("{\"query\":\"STRASSE\",\"prefix\":false}", "", 0);
    /* Aliases; the excluded Archive/ never shows. */
    paths_are("{\"query\":\"coffee houses\",\"prefix\":false}", CAFE, 1);
    paths_are("{\"query\":\"search\",\"prefix\":false}", ENGINES "|" ROADMAP, 2);
    /* Only a negation: every other note, by path. */
    paths_are("{\"query\":\"-search\",\"prefix\":false}", CAFE "|" STRASSE, 2);
    paths_are("{\"query\":\"\\\"full text search\\\"\",\"prefix\":false}", ENGINES, 1);
    hits_are("{\"query\":\"\\\"full text search\\\"\",\"prefix\":false}", 0, "4:13+16:45+16");
    /* A phrase runs across a line break (words, not bytes). */
    paths_are("{\"query\":\"\\\"full text\\\" -phrase\",\"prefix\":false}", ROADMAP, 1);
    paths_are("{\"query\":\"  \"}", "", 0);
}

static void test_line_and_section(void **state)
{
    (void)state;
    /* Roadmap's "Full\ntext" is the phrase in the note, but not in a line. */
    paths_are("{\"query\":\"line:(\\\"full text\\\")\",\"prefix\":false}", ENGINES, 1);
    paths_are("{\"query\":\"line:(full text)\",\"prefix\":false}", ROADMAP "|" ENGINES, 2);
    paths_are("{\"query\":\"line:(text search) -ranking\",\"prefix\":false}", ROADMAP, 1);
    paths_are("{\"query\":\"line:(text -full)\",\"prefix\":false}", ROADMAP, 1);
    paths_are("{\"query\":\"section:(opening midnight)\",\"prefix\":false}", CAFE, 1);
    paths_are("{\"query\":\"section:(vienna midnight)\",\"prefix\":false}", "", 0);
    paths_are("{\"query\":\"section:(vienna coffee)\",\"prefix\":false}", CAFE, 1);

    /* The lines shown are those where the line: holds: Roadmap has "text"
     * on lines 7 and 8 and "search" on 7 and 10, both only on line 7. */
    json_t *r = search("{\"query\":\"line:(text search) -ranking\",\"prefix\":false}");
    json_t *m = json_object_get(json_array_get(json_object_get(r, "results"), 0), "matches");
    assert_int_equal(json_array_size(m), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 0), "line")), 7);
    assert_int_equal(json_array_size(json_object_get(json_array_get(m, 0), "hits")), 2);
    json_decref(r);
    /* Outside the line:( ), the same word is shown wherever it is. */
    r = search("{\"query\":\"text line:(text search) -ranking\",\"prefix\":false}");
    m = json_object_get(json_array_get(json_object_get(r, "results"), 0), "matches");
    assert_int_equal(json_array_size(m), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 1), "line")), 8);
    json_decref(r);
}

static void test_filters(void **state)
{
    (void)state;
    paths_are("{\"query\":\"path:projects\"}", ROADMAP, 1);
    paths_are("{\"query\":\"file:engines\"}", ENGINES, 1);
    paths_are("{\"query\":\"tag:#project\"}", ROADMAP, 1);
    hits_are("{\"query\":\"tag:#project\"}", 0, "10:1+15");
    paths_are("{\"query\":\"tag:proj\"}", "", 0);
    paths_are("{\"query\":\"tag:travel OR tag:writing\"}", CAFE "|" ENGINES, 2);
    paths_are("{\"query\":\"[status:draft]\"}", CAFE, 1);
    paths_are("{\"query\":\"[status]\"}", CAFE "|" ROADMAP, 2);
    paths_are("{\"query\":\"[owner:ann] text\",\"prefix\":false}", ROADMAP, 1);
    paths_are("{\"query\":\"task-todo:ranking\"}", ENGINES, 1);
    hits_are("{\"query\":\"task-todo:ranking\"}", 0, "8:1+40");
    paths_are("{\"query\":\"task-done:ranking\"}", "", 0);
    paths_are("{\"query\":\"task-done:\"}", ENGINES, 1);
    hits_are("{\"query\":\"task-done:\"}", 0, "9:1+26");
}

static void test_paging_and_errors(void **state)
{
    (void)state;
    const char *q = "{\"query\":\"café OR search\",\"prefix\":false,\"limit\":1";
    char p[256];
    json_t *r = search("{\"query\":\"café OR search\",\"prefix\":false,\"limit\":1}");
    assert_int_equal(json_integer_value(json_object_get(r, "total")), 4);
    assert_int_equal(json_array_size(json_object_get(r, "results")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "next_cursor")), "1");
    json_decref(r);
    snprintf(p, sizeof p, "%s,\"cursor\":\"3\"}", q);
    r = search(p);
    assert_int_equal(json_array_size(json_object_get(r, "results")), 1);
    assert_true(json_is_null(json_object_get(r, "next_cursor")));
    json_decref(r);

    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, st, vault, "search", "{\"query\":5}", &err), QP_EINVAL);
    assert_rc(qp_query_run(&out, st, vault, "search", "{\"query\":\"a\",\"cursor\":\"x\"}", &err),
              QP_EINVAL);
    assert_rc(qp_query_run(&out, st, vault, "search", "{\"query\":\"a\",\"limit\":0}", &err),
              QP_EINVAL);
    assert_rc(qp_query_run(&out, st, vault, "search", "{\"query\":\"(a\"}", &err), QP_EQUERY);
    assert_int_equal(err.col, 1);
    assert_rc(qp_query_run(&out, st, NULL, "search", "{\"query\":\"a\"}", &err), QP_EINVAL);
    assert_null(out);

    /* 100,001 dashes before a word: one negation, parsed without a frame
     * per dash (this overflowed the stack), and the search runs. */
    size_t nd = 100001;
    char *deep = malloc(nd + 64);
    assert_non_null(deep);
    int k = snprintf(deep, nd + 64, "{\"query\":\"search ");
    memset(deep + k, '-', nd);
    snprintf(deep + k + nd, 64, "caf\"}");
    qp_error derr = QP_ERROR_INIT;
    assert_rc(qp_query_run(&out, st, vault, "search", deep, &derr), QP_OK);
    r = json_loads(out, 0, NULL);
    free(out);
    json_t *plain = search("{\"query\":\"search -caf\"}");
    assert_int_equal(json_integer_value(json_object_get(r, "total")),
                     json_integer_value(json_object_get(plain, "total")));
    json_decref(plain);
    json_decref(r);
    /* Negated parentheses as deep as the parser takes run; deeper is a
     * query error at its column, never an internal one. */
    for (int levels = 30; levels <= 40; levels += 10) {
        k = snprintf(deep, nd + 64, "{\"query\":\"search ");
        for (int i = 0; i < levels; i++)
            k += snprintf(deep + k, nd + 64 - (size_t)k, "-(");
        k += snprintf(deep + k, nd + 64 - (size_t)k, "x");
        for (int i = 0; i < levels; i++)
            k += snprintf(deep + k, nd + 64 - (size_t)k, ")");
        snprintf(deep + k, nd + 64 - (size_t)k, "\"}");
        out = NULL;
        qp_rc drc = qp_query_run(&out, st, vault, "search", deep, &derr);
        free(out);
        assert_rc(drc, levels == 30 ? QP_OK : QP_EQUERY);
    }
    free(deep);
}

/* ---- deletes are exact ---- */

static void write_file(const char *dir, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Every posting as "term path column offset" lines, sorted, plus the
 * averages record (row count and column totals). New, free(). */
static char *postings(const char *db_path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, search_fts,"
                                  " 'instance')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT v.term || ' ' || f.path || ' ' || v.col || ' ' ||"
                                        " v.offset FROM temp.v v JOIN files f ON f.id = v.doc"
                                        " UNION ALL SELECT 'avg ' || hex(block) FROM"
                                        " search_fts_data WHERE id = 1"
                                        " UNION ALL SELECT 'doc ' || f.path || ' ' || d.words"
                                        " FROM search_doc d JOIN files f ON f.id = d.file"
                                        " ORDER BY 1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        size_t l = strlen(t);
        while (n + l + 2 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + n, t, l);
        n += l;
        out[n++] = '\n';
    }
    out[n] = '\0';
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

static void sync_into(const char *vdir, const char *db_path)
{
    qp_vault *v = NULL;
    qp_store *s = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_vault_open(&v, vdir, &err), QP_OK);
    assert_rc(qp_store_open(&s, db_path, QP_STORE_WRITE, &err), QP_OK);
    assert_rc(qp_store_sync(s, v, NULL, NULL, &err), QP_OK);
    qp_store_close(s);
    qp_vault_close(v);
}

static void test_deletes_are_exact(void **state)
{
    (void)state;
    char dir[] = "/tmp/qp-search-del-XXXXXX";
    char vdir[600], db1[600], db2[600], cmd[700];
    assert_non_null(mkdtemp(dir));
    snprintf(vdir, sizeof vdir, "%s/v", dir);
    snprintf(db1, sizeof db1, "%s/inc.db", dir);
    snprintf(db2, sizeof db2, "%s/fresh.db", dir);
    assert_int_equal(mkdir(vdir, 0700), 0);
    write_file(vdir, "a.md",
               "---\ntitle: Alpha beta\naliases: [Al]\n---\n# Alpha\n\nalpha alpha "
               "gamma delta\n");
    write_file(vdir, "b.md", "# Bee\n\nbeta beta beta gamma\n- [ ] task one\n");
    write_file(vdir, "c.md", "Gone soon: epsilon zeta.\n");
    sync_into(vdir, db1);
    /* Edit (fewer and other words, same size would be fine too), remove,
     * rename, add. */
    write_file(vdir, "a.md", "# Alpha\n\nomega omega alpha\n");
    snprintf(cmd, sizeof cmd, "%s/c.md", vdir);
    assert_int_equal(unlink(cmd), 0);
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/b.md", vdir);
    snprintf(to, sizeof to, "%s/bee.md", vdir);
    assert_int_equal(rename(from, to), 0);
    write_file(vdir, "d.md", "delta delta\n");
    sync_into(vdir, db1);
    sync_into(vdir, db2);
    char *inc = postings(db1), *fresh = postings(db2);
    assert_string_equal(inc, fresh);
    assert_non_null(strstr(inc, "omega a.md body 1\n")); /* "# Alpha\n\nomega": the second word */
    assert_null(strstr(inc, "epsilon"));
    free(inc);
    free(fresh);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The search doc of a note is made on the parse worker (qp_ingest_path,
 * which qp_store_sync uses) or, for a note handed to qp_store_put_note
 * straight from qp_note_parse, by the writer: the index is the same. */
static void test_doc_made_by_ingest_or_writer(void **state)
{
    (void)state;
    char dir[] = "/tmp/qp-search-doc-XXXXXX";
    char vdir[600], db1[600], db2[600], cmd[700];
    static const char text[] = "---\ntitle: Doc Twice\naliases: [Twin]\ntags: [x]\n---\n"
                               "# Heading one\n\nWords and more words, twice twice.\n";
    assert_non_null(mkdtemp(dir));
    snprintf(vdir, sizeof vdir, "%s/v", dir);
    snprintf(db1, sizeof db1, "%s/ingest.db", dir);
    snprintf(db2, sizeof db2, "%s/writer.db", dir);
    assert_int_equal(mkdir(vdir, 0700), 0);
    write_file(vdir, "a.md", text);
    sync_into(vdir, db1);

    qp_store *st2 = NULL;
    qp_note *note = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_file_stat fs = {.size = sizeof text - 1, .mtime_ns = 1, .hash = 7};
    assert_rc(qp_note_parse(&note, "a.md", text, sizeof text - 1, NULL, &err), QP_OK);
    assert_rc(qp_store_open(&st2, db2, QP_STORE_WRITE, &err), QP_OK);
    assert_rc(qp_store_begin(st2, &err), QP_OK);
    assert_rc(qp_store_put_note(st2, "a.md", &fs, note, &err), QP_OK);
    assert_rc(qp_store_commit(st2, &err), QP_OK);
    qp_store_close(st2);
    qp_note_free(note);

    char *a = postings(db1), *b = postings(db2);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "twin a.md aliases 0\n"));
    assert_non_null(strstr(a, "doc a.md "));
    free(a);
    free(b);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The order of the tiers: a note the query names (file name, title or
 * alias) first, then the notes whose title, aliases or headings hold the
 * words, then the rest: by BM25 when they are few, in index order beyond
 * QP__SEARCH_RANK_MAX, where every page still holds each match once and the
 * total stays exact. */
static void test_tiers(void **state)
{
    (void)state;
    char dir[] = "/tmp/qp-search-tiers-XXXXXX";
    char vdir[600], dbp[600], cmd[700], rel[64];
    assert_non_null(mkdtemp(dir));
    snprintf(vdir, sizeof vdir, "%s/v", dir);
    snprintf(dbp, sizeof dbp, "%s/i.db", dir);
    assert_int_equal(mkdir(vdir, 0700), 0);
    write_file(vdir, "Ann Lee.md",
               "# Background\n\nAnn Lee runs storage; she also writes about sailing, "
               "gardens, tea, old maps, trains, harbours and long winter walks.\n");
    write_file(vdir, "1-1 with Ann Lee.md", "Agenda.\n");
    write_file(vdir, "Known as.md", "---\naliases: [Lee Ann]\n---\nann lee, lee ann.\n");
    write_file(vdir, "body.md", "ann lee ann lee ann lee\n");
    write_file(vdir, "once.md", "ann met lee, and then many other words followed here.\n");
    /* Many matches of "common", one of them holding it most often. */
    for (int i = 0; i < QP__SEARCH_RANK_MAX + 5; i++) {
        snprintf(rel, sizeof rel, "n%04d.md", i);
        write_file(vdir, rel,
                   i == 7 ? "common common common common\n"
                          : "a common word in a longer line of other words\n");
    }
    /* A title hit among them: tier 1, counted once in the total. */
    write_file(vdir, "Common ground.md", "Notes.\n");
    /* Three tier-1 notes of the same score: in path order, on every page. */
    write_file(vdir, "z3.md", "# Zebra plan\n\nText.\n");
    write_file(vdir, "z1.md", "# Zebra plan\n\nText.\n");
    write_file(vdir, "z2.md", "# Zebra plan\n\nText.\n");
    write_file(vdir, "zoo.md", "a zebra in the body, and other words\n");
    write_file(vdir, "rare1.md", "rare once among many other words in this line\n");
    write_file(vdir, "rare2.md", "rare rare rare\n");
    sync_into(vdir, dbp);

    qp_vault *v = NULL;
    qp_store *s = NULL;
    qp_error err = QP_ERROR_INIT;
    assert_rc(qp_vault_open(&v, vdir, &err), QP_OK);
    assert_rc(qp_store_open(&s, dbp, QP_STORE_READ, &err), QP_OK);
    char *out = NULL;

    /* The named note, the title hit, then the body hits by BM25. */
    assert_rc(qp_query_run(&out, s, v, "search", "{\"query\":\"Ann Lee\",\"prefix\":false}", &err),
              QP_OK);
    json_t *r = json_loads(out, 0, NULL);
    free(out);
    json_t *res = json_object_get(r, "results");
    assert_int_equal(json_integer_value(json_object_get(r, "total")), 5);
    /* Known as.md holds both words in an alias (tier 1, below the title's
     * weight); body.md holds them more often than once.md. */
    static const char *want[] = {"Ann Lee.md", "1-1 with Ann Lee.md", "Known as.md", "body.md",
                                 "once.md"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(res, i), "path")),
                            want[i]);
    json_decref(r);
    /* An alias named exactly comes first too. */
    assert_rc(qp_query_run(&out, s, v, "search", "{\"query\":\"lee ann\",\"prefix\":false}", &err),
              QP_OK);
    r = json_loads(out, 0, NULL);
    free(out);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r, "results"), 0), "path")),
                        "Known as.md");
    json_decref(r);

    /* Few body matches: ranked. */
    assert_rc(qp_query_run(&out, s, v, "search", "{\"query\":\"rare\",\"prefix\":false}", &err),
              QP_OK);
    r = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_integer_value(json_object_get(r, "total")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r, "results"), 0), "path")),
                        "rare2.md");
    json_decref(r);

    /* Equal scores in path order, across pages of one. */
    static const char *zebra[] = {"z1.md", "z2.md", "z3.md", "zoo.md"};
    for (int i = 0; i < 4; i++) {
        char zp[96];
        snprintf(zp, sizeof zp,
                 "{\"query\":\"zebra\",\"prefix\":false,\"limit\":1,\"cursor\":\"%d\"}", i);
        assert_rc(qp_query_run(&out, s, v, "search", zp, &err), QP_OK);
        r = json_loads(out, 0, NULL);
        free(out);
        assert_int_equal(json_integer_value(json_object_get(r, "total")), 4);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(r, "results"), 0), "path")),
                            zebra[i]);
        json_decref(r);
    }

    /* Many: every page in index order, each match once, the total exact;
     * the title hit first. */
    int n = QP__SEARCH_RANK_MAX + 5;
    bool titled = false;
    char *seen = calloc((size_t)n, 1);
    int got = 0;
    const char *cursor = NULL;
    char params[128], cur[32] = "";
    do {
        if (cursor)
            snprintf(params, sizeof params,
                     "{\"query\":\"common\",\"prefix\":false,\"limit\":700,\"cursor\":\"%s\"}",
                     cur);
        else
            snprintf(params, sizeof params,
                     "{\"query\":\"common\",\"prefix\":false,\"limit\":700}");
        assert_rc(qp_query_run(&out, s, v, "search", params, &err), QP_OK);
        r = json_loads(out, 0, NULL);
        free(out);
        assert_int_equal(json_integer_value(json_object_get(r, "total")), n + 1);
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(r, "results"), i, o)
        {
            int k = -1;
            if (strcmp(json_string_value(json_object_get(o, "path")), "Common ground.md") == 0) {
                assert_true(!cursor && i == 0);
                titled = true;
                continue;
            }
            assert_int_equal(sscanf(json_string_value(json_object_get(o, "path")), "n%d.md", &k),
                             1);
            assert_true(k >= 0 && k < n);
            assert_false(seen[k]);
            seen[k] = 1;
            got++;
        }
        json_t *next = json_object_get(r, "next_cursor");
        cursor = json_is_string(next) ? cur : NULL;
        if (cursor)
            snprintf(cur, sizeof cur, "%s", json_string_value(next));
        json_decref(r);
    } while (cursor);
    assert_int_equal(got, n);
    assert_true(titled);
    free(seen);

    qp_store_close(s);
    qp_vault_close(v);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    cmark_gfm_core_extensions_ensure_registered();
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_words_split),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_deletes_are_exact),
        cmocka_unit_test(test_doc_made_by_ingest_or_writer),
        cmocka_unit_test(test_tiers),
    };
    const struct CMUnitTest fixture[] = {
        cmocka_unit_test(test_words_and_ranking),
        cmocka_unit_test(test_line_and_section),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_paging_and_errors),
    };
    int failed = cmocka_run_group_tests_name("search", pure, NULL, NULL);
    return failed + cmocka_run_group_tests_name("search on the fixture", fixture, setup, teardown);
}
