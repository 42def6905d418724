/*
 * parse_bench — qp_note_parse() against a bare cmark-gfm parse of the same
 * notes, in one run (issue 2's parse-throughput figure).
 *
 * Every .md file under VAULT is read into memory first, so neither side
 * pays for I/O. Then, ROUNDS times each, alternating so both see the same
 * machine load: (a) cmark-gfm with the extensions quipu attaches and
 * CMARK_OPT_SOURCEPOS, parse + free; (b) qp_note_parse() + qp_note_free().
 * Prints the best round of each and the ratio.
 *
 * Build (not part of CMake; the library from any build dir):
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Ibuild-rel/include \
 *      test/bench/parse_bench.c build-rel/libquipu.a \
 *      $(pkg-config --libs libcmark-gfm yaml-0.1 sqlite3 jansson libxxhash icu-i18n icu-uc) \
 *      -lunistring -lpthread -lm -o parse_bench
 * Usage: parse_bench VAULT [ROUNDS]
 */
#define _DEFAULT_SOURCE
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "quipu/init.h"
#include "quipu/note.h"

typedef struct doc {
    char *path, *bytes;
    size_t len;
} doc;

static doc *docs;
static size_t ndocs, capdocs;

static void load(const char *root, const char *rel)
{
    char full[4096];
    DIR *d;
    struct dirent *e;

    snprintf(full, sizeof full, "%s/%s", root, rel);
    d = opendir(full);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char sub[4096], path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(path, sizeof path, "%s/%s", root, sub);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            load(root, sub);
        } else if (strlen(sub) > 3 && strcmp(sub + strlen(sub) - 3, ".md") == 0) {
            FILE *f = fopen(path, "rb");
            if (f == NULL)
                continue;
            if (ndocs == capdocs) {
                capdocs = capdocs ? capdocs * 2 : 1024;
                docs = realloc(docs, capdocs * sizeof *docs);
            }
            docs[ndocs].bytes = malloc((size_t)st.st_size + 1);
            docs[ndocs].len = fread(docs[ndocs].bytes, 1, (size_t)st.st_size, f);
            docs[ndocs].path = strdup(sub);
            ndocs++;
            fclose(f);
        }
    }
    closedir(d);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_cmark(void)
{
    static const char *exts[] = {"table", "strikethrough", "autolink", "tasklist"};
    double t0 = now();

    for (size_t i = 0; i < ndocs; i++) {
        cmark_parser *p = cmark_parser_new(CMARK_OPT_SOURCEPOS);
        for (size_t k = 0; k < sizeof exts / sizeof *exts; k++)
            cmark_parser_attach_syntax_extension(p, cmark_find_syntax_extension(exts[k]));
        cmark_parser_feed(p, docs[i].bytes, docs[i].len);
        cmark_node *doc = cmark_parser_finish(p);
        cmark_node_free(doc);
        cmark_parser_free(p);
    }
    return now() - t0;
}

static double run_quipu(void)
{
    double t0 = now();

    for (size_t i = 0; i < ndocs; i++) {
        qp_note *n = NULL;
        if (qp_note_parse(&n, docs[i].path, docs[i].bytes, docs[i].len, NULL, NULL) != 0) {
            fprintf(stderr, "%s: parse failed\n", docs[i].path);
            exit(1);
        }
        qp_note_free(n);
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    double best_c = 1e9, best_q = 1e9;
    size_t bytes = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: parse_bench VAULT [ROUNDS]\n");
        return 2;
    }
    qp_init();
    load(argv[1], "");
    for (size_t i = 0; i < ndocs; i++)
        bytes += docs[i].len;
    for (int r = 0; r < rounds; r++) {
        double c = run_cmark(), q = run_quipu();
        if (c < best_c)
            best_c = c;
        if (q < best_q)
            best_q = q;
    }
    printf("notes %zu, %.1f MB; bare cmark-gfm %.3f s (%.1f MB/s); qp_note_parse %.3f s "
           "(%.1f MB/s); ratio %.2fx\n",
           ndocs, (double)bytes / 1e6, best_c, (double)bytes / 1e6 / best_c, best_q,
           (double)bytes / 1e6 / best_q, best_q / best_c);
    return 0;
}
