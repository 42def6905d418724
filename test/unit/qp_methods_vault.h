#ifndef QP_METHODS_VAULT_H
#define QP_METHODS_VAULT_H

/* A small vault written into a temporary directory for the completion,
 * symbol, problem and list tests: a person with a non-ASCII name, an alias
 * and a block id, a person with no Recent Context lines, two meetings (one
 * links, one names a person by alias only), a note with repeated headings,
 * a self link and a broken ```tasks block, invalid frontmatter, a binary
 * file and a Latin-1 file. Every file gets a fixed mtime (BASE + 60 s per
 * file, in the order below) so rankings and `modified` are exact.
 *
 * Line numbers the tests rely on are in the comments. Uses `st` and
 * `vault` as qp_fixture.h does. */

#include "qp_test.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quipu/init.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"

#define MV_BASE 1735689600 /* 2025-01-01T00:00:00Z */

static qp_store *st;
static qp_vault *vault;
static char mv_root[] = "/tmp/qp-methods-XXXXXX";
static char mv_db[] = "/tmp/qp-methods-db-XXXXXX";

typedef struct mv_file {
    const char *path;
    const char *text;
    size_t len; /* 0: strlen(text) */
} mv_file;

static const mv_file mv_files[] = {
    {"People/\xc3\x84rne \xc3\x96"
     "berg.md",
     "---\n"                             /* 1 */
     "type: person\n"                    /* 2 */
     "aliases: [Arne]\n"                 /* 3 */
     "company: Northwind\n"              /* 4 */
     "tags: [type/person, team/infra]\n" /* 5 */
     "---\n"                             /* 6 */
     "# \xc3\x84rne \xc3\x96"
     "berg\n"                                     /* 7 */
     "\n"                                         /* 8 */
     "## Key Facts\n"                             /* 9 */
     "\n"                                         /* 10 */
     "- Runs infra. ^fact1\n"                     /* 11 */
     "\n"                                         /* 12 */
     "## Recent Context\n"                        /* 13 */
     "\n"                                         /* 14 */
     "- 2025-01-10: Mentioned in: Kickoff\n"      /* 15 */
     "- 2024-12-01: Mentioned in: Old offsite\n", /* 16 */
     0},
    {"People/Lena Okafor.md",
     "---\n"
     "type: person\n"
     "company: Fernhill\n"
     "---\n"
     "# Lena Okafor\n"      /* 5 */
     "\n"                   /* 6 */
     "## Recent Context\n", /* 7 */
     0},
    {"Meetings/2025-01-10 Kickoff.md",
     "---\n"
     "type: meeting\n"
     "title: Kickoff\n"
     "date: '2025-01-10'\n"
     "attendees:\n"
     "- \"[[\xc3\x84rne \xc3\x96"
     "berg]]\"\n"              /* 6 */
     "- \"[[Lena Okafor]]\"\n" /* 7 */
     "---\n"
     "# Kickoff\n" /* 9 */
     "\n"
     /* 11: links at columns 5 and 36 */
     "See [[\xc3\x84rne \xc3\x96"
     "berg#Key Facts]] and [[\xc3\x84rne \xc3\x96"
     "berg#^fact1]].\n"
     /* 12: links at columns 6, 32 and 53 */
     "Also [[\xc3\x84rne \xc3\x96"
     "berg#Nope]] and [[Missing Note]] and ![[missing.png]].\n",
     0},
    {"Meetings/2025-02-01 Review.md",
     "---\n"
     "type: meeting\n"
     "date: '2025-02-01'\n"
     "---\n"
     "# Review\n"
     "\n"
     "Arne presented. [[Lena Okafor]] asked.\n", /* 7 */
     0},
    {"Notes/Plan.md",
     "# Plan\n"                                                        /* 1 */
     "\n"                                                              /* 2 */
     "## Goals\n"                                                      /* 3 */
     "\n"                                                              /* 4 */
     "### Details\n"                                                   /* 5 */
     "\n"                                                              /* 6 */
     "## Risks\n"                                                      /* 7 */
     "\n"                                                              /* 8 */
     "### Details\n"                                                   /* 9 */
     "\n"                                                              /* 10 */
     "Link to [[#Risks#Details]] and [[Plan#Goals]]. #project/alpha\n" /* 11 */
     "\n"                                                              /* 12 */
     "```tasks\n"                                                      /* 13 */
     "not done\n"                                                      /* 14 */
     "frobnicate\n"                                                    /* 15 */
     "```\n",                                                          /* 16 */
     0},
    {"Notes/Bad.md",
     "---\n"
     "title: [unclosed\n" /* 2 */
     "---\n"
     "Body #project\n",
     0},
    {"Notes/Binary.md", "abc\0def\n", 8},
    {"Notes/Latin.md", "caf\xe9\n", 0},
};

static int mv_write(const char *root, const mv_file *f, time_t mtime)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, f->path);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t len = f->len ? f->len : strlen(f->text);
    if (fwrite(f->text, 1, len, fp) != len) {
        fclose(fp);
        return -1;
    }
    fclose(fp);
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    return utimensat(AT_FDCWD, path, ts, 0);
}

static inline int mv_open(void)
{
    qp_error err = QP_ERROR_INIT;
    char db[1100];
    qp_init();
    if (!mkdtemp(mv_root) || !mkdtemp(mv_db))
        return -1;
    for (size_t i = 0; i < sizeof mv_files / sizeof mv_files[0]; i++)
        if (mv_write(mv_root, &mv_files[i], MV_BASE + 60 * (time_t)i) != 0)
            return -1;
    snprintf(db, sizeof db, "%s/index.db", mv_db);
    if (qp_vault_open(&vault, mv_root, &err) != QP_OK ||
        qp_store_open(&st, db, QP_STORE_WRITE, &err) != QP_OK ||
        qp_store_sync(st, vault, NULL, NULL, &err) != QP_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static inline void mv_close(void)
{
    static const char *const dirs[] = {"People", "Meetings", "Notes"};
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[1200];
    qp_store_close(st);
    qp_vault_close(vault);
    for (size_t i = 0; i < sizeof mv_files / sizeof mv_files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", mv_root, mv_files[i].path);
        unlink(p);
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", mv_root, dirs[i]);
        rmdir(p);
        snprintf(p, sizeof p, "%s/index.db%s", mv_db, sfx[i]);
        unlink(p);
    }
    rmdir(mv_root);
    rmdir(mv_db);
}

/* Runs a query and compares its result with `want` as JSON values. */
static inline void mv_check(const char *method, const char *params, const char *want)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, vault, method, params, &err);
    json_error_t je;
    json_t *g, *w;

    if (rc != QP_OK)
        fail_msg("%s %s: %s: %s", method, params, qp_rc_name(rc), err.msg);
    g = json_loads(out, 0, &je);
    w = json_loads(want, 0, &je);
    if (!w)
        fail_msg("bad expected JSON: %s (%s)", je.text, want);
    if (!json_equal(g, w))
        fail_msg("%s %s:\n got  %s\n want %s", method, params, out, want);
    json_decref(g);
    json_decref(w);
    free(out);
}

/* Expects `method` to fail with `code`. */
static inline void mv_fails(const char *method, const char *params, qp_rc code)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, vault, method, params, &err);
    if (rc != code)
        fail_msg("%s %s: got %s (%s), want %s", method, params, qp_rc_name(rc), out ? out : err.msg,
                 qp_rc_name(code));
    free(out);
}

#endif
