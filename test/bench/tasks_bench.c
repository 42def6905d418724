/*
 * tasks_bench — timing of the Tasks query engine (lib/taskquery.c,
 * lib/tq_eval.c) over every task of a vault, without the daemon.
 *
 *     tasks_bench [--scatter] [--runs N] [--today YYYY-MM-DD] [--only NAME] [--check]
 *                 [--keep-memory] VAULT PERSON
 *
 * Reads every .md file under VAULT (dot-folders skipped, files in byte
 * order of their paths, lines in order, as the index hands tasks over),
 * keeps the task lines with the heading above each, then times:
 *
 *   person    `path includes PERSON` + `not done`
 *   not_done  `not done` (the default sort over most of the vault)
 *   grouped   `not done` + `group by filename` + `sort by due`
 *   compile   compiling the grouped query
 *
 * and prints, per query, the median, p99 and maximum wall time of N runs
 * (default 200 for person and compile, N/10 for the two big ones), the
 * median and p99 of the thread's CPU time, and the result size. --scatter shuffles the task array
 * first (a fixed seed), which is the worst case for caches that rely on tasks of one file being
 * adjacent.
 * --only NAME times that query alone (for a profiler). --keep-memory
 * tells malloc to keep freed memory (as a daemon may), which matters where
 * page faults are expensive; the page faults per run are printed. --check prints,
 * instead, a checksum of the full result (groups, names, task order) of a
 * set of sorting and grouping queries, to compare two builds of the
 * engine on a real vault.
 *
 * Not part of the CMake build. Build it against a Release libquipu.a:
 *
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-rel --target quipu
 *   cc -O2 -std=c11 -Iinclude test/bench/tasks_bench.c build-rel/libquipu.a \
 *      $(pkg-config --libs icu-i18n icu-uc jansson yaml-0.1 libcmark-gfm \
 *        sqlite3 libxxhash) -lunistring -lpthread -lm -o tasks_bench
 *   ./tasks_bench test/bench/vaults/100k "Wanda Thorne"
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "quipu/arena.h"
#include "quipu/taskquery.h"
#include "quipu/tasks.h"

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static void strv_push(strv *s, char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL) {
            perror("realloc");
            exit(1);
        }
    }
    s->v[s->n++] = x;
}

static void walk(const char *root, const char *rel, strv *out)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char r[4096], full[8192];
        snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat sb;
        if (stat(full, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            walk(root, r, out);
        } else {
            size_t l = strlen(r);
            if (l > 3 && strcmp(r + l - 3, ".md") == 0)
                strv_push(out, strdup(r));
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this thread: on a busy machine the wall clock also counts
 * the time the thread waited for a core. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct tasks_v {
    qp_task *v;
    size_t n, cap;
} tasks_v;

/* Heading text of an ATX heading line, or NULL. */
static char *heading_of(const char *line, size_t len)
{
    size_t i = 0, h = 0;
    while (i < len && i < 3 && line[i] == ' ')
        i++;
    while (i < len && line[i] == '#' && h < 7)
        i++, h++;
    if (h == 0 || h > 6 || (i < len && line[i] != ' ' && line[i] != '\t'))
        return NULL;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t e = len;
    while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r'))
        e--;
    return strndup(line + i, e - i);
}

static void load_file(const char *root, const char *rel, tasks_v *tv, qp_arena *a)
{
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", root, rel);
    FILE *f = fopen(full, "rb");
    if (f == NULL)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    const char *heading = NULL;
    int lineno = 0;
    bool fence = false, front = false;
    while ((len = getline(&line, &cap, f)) >= 0) {
        size_t l = (size_t)len;
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            l--;
        line[l] = '\0';
        int no = lineno++;
        if (no == 0 && strcmp(line, "---") == 0) {
            front = true;
            continue;
        }
        if (front) {
            front = strcmp(line, "---") != 0;
            continue;
        }
        if (strncmp(line, "```", 3) == 0 || strncmp(line, "~~~", 3) == 0) {
            fence = !fence;
            continue;
        }
        if (fence)
            continue;
        char *h = heading_of(line, l);
        if (h != NULL) {
            heading = h; /* leaked on purpose: tasks borrow it until exit */
            continue;
        }
        if (tv->n == tv->cap) {
            tv->cap = tv->cap ? 2 * tv->cap : 4096;
            tv->v = realloc(tv->v, tv->cap * sizeof *tv->v);
            if (tv->v == NULL) {
                perror("realloc");
                exit(1);
            }
        }
        bool is_task = false;
        qp_error err = {0};
        if (qp_task_parse_line(&tv->v[tv->n], &is_task, line, l, rel, heading, NULL, a, &err) !=
            QP_OK) {
            fprintf(stderr, "parse: %s\n", err.msg);
            exit(1);
        }
        if (is_task) {
            tv->v[tv->n].line = no;
            tv->n++;
        }
    }
    free(line);
    fclose(f);
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

typedef struct stats {
    double med, p99, max, cpu_med, cpu_p99;
    long faults; /* minor page faults per run, median */
    size_t total, groups;
} stats;

static stats time_query(const char *text, const qp_task *tasks, size_t n, int runs, int32_t today)
{
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    o.today = today;
    qp_taskquery *q = NULL;
    qp_error err = {0};
    if (qp_taskquery_compile(&q, text, &o, &err) != QP_OK) {
        fprintf(stderr, "compile: %s\n", err.msg);
        exit(1);
    }
    double *t = calloc((size_t)runs, sizeof *t), *c = calloc((size_t)runs, sizeof *c);
    long *pf = calloc((size_t)runs, sizeof *pf);
    stats s = {0};
    for (int i = 0; i < runs; i++) {
        qp_taskquery_result *r = NULL;
        long f0 = minor_faults();
        double t0 = now_ms(), c0 = cpu_ms();
        if (qp_taskquery_run(&r, q, tasks, n, &err) != QP_OK) {
            fprintf(stderr, "run: %s\n", err.msg);
            exit(1);
        }
        t[i] = now_ms() - t0;
        c[i] = cpu_ms() - c0;
        pf[i] = minor_faults() - f0;
        s.total = r->total;
        s.groups = r->n_groups;
        qp_taskquery_result_free(r);
    }
    size_t p99 = (size_t)runs * 99 / 100;
    qsort(t, (size_t)runs, sizeof *t, cmp_dbl);
    qsort(c, (size_t)runs, sizeof *c, cmp_dbl);
    s.med = t[runs / 2];
    s.p99 = t[p99];
    s.max = t[runs - 1];
    s.cpu_med = c[runs / 2];
    s.cpu_p99 = c[p99];
    long fsum = 0;
    for (int i = 0; i < runs; i++)
        fsum += pf[i];
    s.faults = fsum / runs;
    free(t);
    free(c);
    free(pf);
    qp_taskquery_free(q);
    return s;
}

static const char *const check_queries[] = {
    "not done",
    "not done\ngroup by filename\nsort by due",
    "sort by description\nlimit 5000",
    "sort by path reverse\nsort by urgency reverse",
    "group by tags\nsort by happens",
    "group by urgency\ngroup by priority reverse",
    "group by folder\ngroup by heading reverse\nsort by tag",
    "sort by random\nsort by status.name\nsort by id",
    "sort by start\nsort by scheduled reverse\nsort by created\nsort by done\nsort by "
    "cancelled\nsort by recurring\nsort by heading\nsort by filename\nsort by status",
    "group by due\ngroup by backlink\nlimit groups 2",
    "group by status.type\ngroup by recurrence\ngroup by root\ngroup by path\nlimit 20000",
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211u;
    return h;
}

static void check(const qp_task *tasks, size_t n, int32_t today)
{
    for (size_t c = 0; c < sizeof check_queries / sizeof check_queries[0]; c++) {
        qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
        o.today = today;
        qp_taskquery *q = NULL;
        qp_taskquery_result *r = NULL;
        qp_error err = {0};
        if (qp_taskquery_compile(&q, check_queries[c], &o, &err) != QP_OK ||
            qp_taskquery_run(&r, q, tasks, n, &err) != QP_OK) {
            fprintf(stderr, "check %zu: %s\n", c, err.msg);
            exit(1);
        }
        uint64_t h = 14695981039346656037u;
        for (size_t g = 0; g < r->n_groups; g++) {
            for (size_t l = 0; l < r->groups[g].n_names; l++)
                h = fnv(h, r->groups[g].names[l], strlen(r->groups[g].names[l]) + 1);
            h = fnv(h, r->groups[g].tasks, r->groups[g].n_tasks * sizeof(size_t));
            h = fnv(h, "|", 1);
        }
        printf("check %2zu: %016llx total %zu shown %zu groups %zu\n", c, (unsigned long long)h,
               r->total, r->shown, r->n_groups);
        qp_taskquery_result_free(r);
        qp_taskquery_free(q);
    }
}

static double time_compile(const char *text, int runs, int32_t today)
{
    qp_taskquery_options o = QP_TASKQUERY_OPTIONS_INIT;
    o.today = today;
    double *t = calloc((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        qp_taskquery *q = NULL;
        qp_error err = {0};
        double t0 = now_ms();
        if (qp_taskquery_compile(&q, text, &o, &err) != QP_OK)
            exit(1);
        t[i] = now_ms() - t0;
        qp_taskquery_free(q);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_dbl);
    double med = t[runs / 2];
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    bool scatter = false;
    int runs = 200;
    int32_t today = 20260201;
    const char *only = NULL;
    bool do_check = false;
    int ai = 1;
    for (; ai < argc && argv[ai][0] == '-'; ai++) {
        if (strcmp(argv[ai], "--scatter") == 0) {
            scatter = true;
        } else if (strcmp(argv[ai], "--runs") == 0 && ai + 1 < argc) {
            runs = atoi(argv[++ai]);
        } else if (strcmp(argv[ai], "--keep-memory") == 0) {
            /* as a long-running process may: keep freed memory mapped, so
             * repeated runs do not fault their scratch arrays in again */
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
        } else if (strcmp(argv[ai], "--check") == 0) {
            do_check = true;
        } else if (strcmp(argv[ai], "--only") == 0 && ai + 1 < argc) {
            only = argv[++ai];
        } else if (strcmp(argv[ai], "--today") == 0 && ai + 1 < argc) {
            if (!qp_task_date_parse(argv[++ai], &today))
                return 2;
        } else {
            break;
        }
    }
    if (argc - ai != 2 || runs < 10) {
        fprintf(stderr, "usage: tasks_bench [--scatter] [--runs N>=10] [--today D] [--only NAME] "
                        "[--check] [--keep-memory] VAULT PERSON\n");
        return 2;
    }
    const char *root = argv[ai], *person = argv[ai + 1];

    double t0 = now_ms();
    strv files = {0};
    walk(root, "", &files);
    qsort(files.v, files.n, sizeof *files.v, cmp_str);
    qp_arena *a = qp_arena_new();
    tasks_v tv = {0};
    for (size_t i = 0; i < files.n; i++)
        load_file(root, files.v[i], &tv, a);
    double load = now_ms() - t0;
    if (scatter) {
        uint64_t x = 88172645463325252ull;
        for (size_t i = tv.n; i > 1; i--) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t j = (size_t)(x % i);
            qp_task t = tv.v[i - 1];
            tv.v[i - 1] = tv.v[j];
            tv.v[j] = t;
        }
    }
    printf("vault %s: %zu notes, %zu tasks%s (loaded in %.0f ms)\n", root, files.n, tv.n,
           scatter ? ", scattered" : "", load);

    if (do_check) {
        check(tv.v, tv.n, today);
        return 0;
    }
    char person_q[512];
    snprintf(person_q, sizeof person_q, "path includes %s\nnot done", person);
    const char *grouped = "not done\ngroup by filename\nsort by due";
    struct {
        const char *name, *text;
        int runs;
    } qs[] = {
        {"person", person_q, runs},
        {"not_done", "not done", runs / 10},
        {"grouped", grouped, runs / 10},
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        if (only != NULL && strcmp(only, qs[i].name) != 0)
            continue;
        stats s = time_query(qs[i].text, tv.v, tv.n, qs[i].runs, today);
        printf("%-9s wall median %7.2f p99 %7.2f max %7.2f ms; cpu median %7.2f p99 %7.2f ms"
               " (%d runs, %zu tasks, %zu groups, %ld page faults/run)\n",
               qs[i].name, s.med, s.p99, s.max, s.cpu_med, s.cpu_p99, qs[i].runs, s.total, s.groups,
               s.faults);
    }
    if (only == NULL || strcmp(only, "compile") == 0)
        printf("%-9s median %8.1f us\n", "compile", 1e3 * time_compile(grouped, runs, today));
    qp_arena_free(a);
    return 0;
}
