/*
 * floor — the single-thread "cold index floor" for quipu benchmarks.
 *
 *     floor [--ext] VAULT
 *
 * Does the least work any indexer of VAULT must do, on one thread: walk the
 * tree (skipping dot-folders, as quipu does), read every .md file, parse its
 * YAML frontmatter with libyaml into a document, parse the body with
 * cmark-gfm and walk the resulting tree once.  Nothing is stored.  With
 * --ext the GFM table, strikethrough, autolink and tasklist extensions are
 * attached to the parser, as quipu does (lib/markdown.c); source positions
 * are always on, as quipu needs them.
 *
 * Prints one line: "<seconds> files=<n> bytes=<n> nodes=<n> yaml_errors=<n>".
 * The node count is printed so the compiler cannot drop the walk.
 *
 * Built by test/bench/bench.py with cc -O2 and pkg-config flags for yaml-0.1
 * and libcmark-gfm; it is not part of the CMake build.
 */
#define _POSIX_C_SOURCE 200809L

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

typedef struct {
    char *buf;
    size_t cap;
    unsigned long files, bytes, nodes, yaml_errors;
    int ext;
} floor_state;

static const char *const ext_names[] = {"table", "strikethrough", "autolink", "tasklist"};

static int read_all(const char *path, floor_state *st, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return -1;
    }
    size_t want = (size_t)sb.st_size + 1;
    if (want > st->cap) {
        char *nb = realloc(st->buf, want);
        if (nb == NULL) {
            close(fd);
            return -1;
        }
        st->buf = nb;
        st->cap = want;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, st->buf + got, st->cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == st->cap - 1)
            break;
    }
    close(fd);
    st->buf[got] = '\0';
    *len = got;
    return 0;
}

/* Length of the frontmatter block ("---\n" ... "\n---\n") at the start of
 * text, 0 when there is none; yaml_off and yaml_len select the YAML inside. */
static size_t frontmatter(const char *text, size_t len, size_t *yaml_off, size_t *yaml_len)
{
    if (len < 4 || memcmp(text, "---", 3) != 0 || (text[3] != '\n' && text[3] != '\r'))
        return 0;
    size_t start = text[3] == '\r' ? 5 : 4;
    const char *p = text + start - 1; /* the newline before the first YAML line */
    const char *end = text + len;
    while (p < end) {
        const char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        const char *line = p + 1;
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (ll >= 3 && memcmp(line, "---", 3) == 0 && (ll == 3 || (ll == 4 && line[3] == '\r'))) {
            *yaml_off = start;
            *yaml_len = (size_t)(line - text) - start;
            return nl ? (size_t)(nl + 1 - text) : len;
        }
        if (nl == NULL)
            break;
        p = nl;
    }
    return 0;
}

static void parse_yaml(const char *s, size_t n, floor_state *st)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        st->yaml_errors++;
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)s, n);
    if (yaml_parser_load(&parser, &doc)) {
        st->nodes += (unsigned long)(doc.nodes.top - doc.nodes.start);
        yaml_document_delete(&doc);
    } else {
        st->yaml_errors++;
    }
    yaml_parser_delete(&parser);
}

static void parse_markdown(const char *s, size_t n, floor_state *st)
{
    cmark_parser *p = cmark_parser_new(CMARK_OPT_SOURCEPOS);
    if (st->ext) {
        for (size_t i = 0; i < sizeof ext_names / sizeof ext_names[0]; i++) {
            cmark_syntax_extension *e = cmark_find_syntax_extension(ext_names[i]);
            if (e != NULL)
                cmark_parser_attach_syntax_extension(p, e);
        }
    }
    cmark_parser_feed(p, s, n);
    cmark_node *doc = cmark_parser_finish(p);
    cmark_iter *it = cmark_iter_new(doc);
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        if (ev == CMARK_EVENT_ENTER)
            st->nodes++;
    }
    cmark_iter_free(it);
    cmark_node_free(doc);
    cmark_parser_free(p);
}

static void index_file(const char *path, floor_state *st)
{
    size_t len;
    if (read_all(path, st, &len) != 0) {
        fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
        return;
    }
    st->files++;
    st->bytes += len;
    size_t yoff = 0, ylen = 0;
    size_t body = frontmatter(st->buf, len, &yoff, &ylen);
    if (body > 0)
        parse_yaml(st->buf + yoff, ylen, st);
    parse_markdown(st->buf + body, len - body, st);
}

static void walk(const char *dir, floor_state *st)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "floor: %s: %s\n", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    size_t dl = strlen(dir);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* ., .., .obsidian, .git, .trash, other dot entries */
        size_t nl = strlen(de->d_name);
        char *path = malloc(dl + nl + 2);
        if (path == NULL)
            break;
        memcpy(path, dir, dl);
        path[dl] = '/';
        memcpy(path + dl + 1, de->d_name, nl + 1);
        struct stat sb;
        if (stat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                walk(path, st);
            else if (S_ISREG(sb.st_mode) && nl > 3 && strcmp(de->d_name + nl - 3, ".md") == 0)
                index_file(path, st);
        }
        free(path);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    floor_state st = {0};
    const char *vault = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ext") == 0)
            st.ext = 1;
        else
            vault = argv[i];
    }
    if (vault == NULL) {
        fprintf(stderr, "usage: floor [--ext] VAULT\n");
        return 2;
    }
    if (st.ext)
        cmark_gfm_core_extensions_ensure_registered();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    walk(vault, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.6f files=%lu bytes=%lu nodes=%lu yaml_errors=%lu\n", secs, st.files, st.bytes,
           st.nodes, st.yaml_errors);
    free(st.buf);
    return st.files > 0 ? 0 : 1;
}
