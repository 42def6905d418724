/*
 * taskcat — the task catalogue (quipu/taskcat.h).
 *
 * Layout, for what a query does with it (copy out, in the index's task
 * order, the tasks a prefilter keeps):
 * - A file is its id, one text block (its path, then the distinct
 *   headings its tasks sit under: a meeting's tasks share "Action Items")
 *   and its tasks, each a fixed record of the parsed columns of the index
 *   (quipu/store.h: status_type .. invalid) with its line and its
 *   heading's offset in the block.
 * - Files are kept sorted by path bytes, the order of the index's own task
 *   read (`ORDER BY f.path, t.line`, BINARY collation), so a query's input
 *   order, which breaks the engine's ties, is the same from both. A save
 *   moves one pointer within the array, not a sort.
 * - Files are found by id through an open-addressing table (linear
 *   probing at load <= 1/2, backward-shift deletion, as symcat.c).
 *
 * Keeping up is symcat.c's: the `touched` table says which files the
 * commits since the catalogue's generation put or removed; those are read
 * again, every one when they are many; a new epoch (meta) is a rebuilt
 * index, read whole. A query whose snapshot is older than the catalogue
 * (another reader brought it further) is told so (*stale) and reads the
 * index instead, because the lines it shows are read from its snapshot
 * and must be the lines its tasks came from.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "methods_int.h"
#include "store_int.h"
#include "taskcat_int.h"

#define NONE UINT32_MAX
/* A date the index holds as not a calendar day: any nonzero value does,
 * as the engine reads such a date only through its invalid bit. */
#define INVALID_DATE 1
/* The largest task array kept for the next query (qp__taskcat_give_back):
 * 100k notes need 27 MB; 1M, 270 MB, which is not kept. */
#define SPARE_MAX ((size_t)64 << 20)

typedef struct taskrec {
    uint32_t line;    /* 1-based, as the index has it */
    uint32_t heading; /* offset of its heading in the file's text; NONE: none */
    int32_t dates[QP_TASK_NDATES];
    uint8_t invalid, status, priority;
    char symbol[8];
} taskrec;

/* One allocation per file: this, its records, its text. */
typedef struct taskfile {
    int64_t id;
    const char *text; /* the path, NUL, then headings, each NUL-terminated */
    uint32_t text_len, n;
    taskrec rec[]; /* n records, then the text */
} taskfile;

struct qp_taskcat {
    pthread_mutex_t mu;
    bool built;
    int64_t epoch, gen;
    taskfile **byp; /* by path bytes */
    size_t nf, capf;
    taskfile **h; /* by id; NULL: empty slot */
    size_t hcap;
    size_t bytes;  /* records and texts */
    size_t ntasks; /* records */
    /* One task array a query gave back (qp__taskcat_give_back), for the
     * next: its pages are mapped already. NULL: none. */
    qp_task *spare;
    size_t spare_cap;
};

/* The columns read per task, after the file id (build) or from 0 (reload). */
#define TASK_COLS                                                                          \
    "t.line, t.heading, t.symbol, t.status_type, t.due, t.scheduled, t.start, t.created, " \
    "t.done, t.cancelled, t.priority, t.invalid"

/* ---- the id table ---- */

static size_t id_home(const qp_taskcat *c, int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 17) & (c->hcap - 1);
}

static size_t id_find(const qp_taskcat *c, int64_t id)
{
    if (c->hcap == 0)
        return SIZE_MAX;
    for (size_t i = id_home(c, id);; i = (i + 1) & (c->hcap - 1)) {
        if (c->h[i] == NULL)
            return SIZE_MAX;
        if (c->h[i]->id == id)
            return i;
    }
}

static void id_place(taskfile **h, size_t cap, const qp_taskcat *c, taskfile *f)
{
    size_t i = id_home(c, f->id);
    while (h[i] != NULL)
        i = (i + 1) & (cap - 1);
    h[i] = f;
}

static bool id_insert(qp_taskcat *c, taskfile *f)
{
    if (2 * (c->nf + 1) > c->hcap) {
        size_t cap = c->hcap ? c->hcap * 2 : 64;
        taskfile **h = calloc(cap, sizeof *h);
        if (h == NULL)
            return false;
        size_t old = c->hcap;
        taskfile **oh = c->h;
        c->h = h;
        c->hcap = cap;
        for (size_t i = 0; i < old; i++)
            if (oh[i] != NULL)
                id_place(h, cap, c, oh[i]);
        free(oh);
    }
    id_place(c->h, c->hcap, c, f);
    return true;
}

/* Backward-shift deletion of slot i (see symcat.c's slot_remove). */
static void id_remove(qp_taskcat *c, size_t i)
{
    size_t mask = c->hcap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (c->h[j] == NULL)
            break;
        size_t k = id_home(c, c->h[j]->id);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        c->h[i] = c->h[j];
        i = j;
    }
    c->h[i] = NULL;
}

/* ---- files ---- */

/* The place of `path` in byp: where it is, or where it would go. */
static size_t path_pos(const qp_taskcat *c, const char *path)
{
    size_t lo = 0, hi = c->nf;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->byp[mid]->text, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t file_bytes(const taskfile *f)
{
    return sizeof *f + f->n * sizeof *f->rec + f->text_len;
}

static void file_free(taskfile *f)
{
    free(f);
}

static void file_remove(qp_taskcat *c, int64_t id)
{
    size_t i = id_find(c, id);
    if (i == SIZE_MAX)
        return;
    taskfile *f = c->h[i];
    id_remove(c, i);
    size_t p = path_pos(c, f->text);
    while (p < c->nf && c->byp[p] != f) /* paths are unique; this is a guard */
        p++;
    if (p < c->nf) {
        memmove(c->byp + p, c->byp + p + 1, (c->nf - p - 1) * sizeof *c->byp);
        c->nf--;
    }
    c->bytes -= file_bytes(f);
    c->ntasks -= f->n;
    file_free(f);
}

/* Takes f into the catalogue (f's id is not in it). False on OOM (f is
 * then the caller's). */
static bool file_insert(qp_taskcat *c, taskfile *f)
{
    if (c->nf == c->capf) {
        size_t cap = c->capf ? c->capf * 2 : 256;
        taskfile **v = realloc(c->byp, cap * sizeof *v);
        if (v == NULL)
            return false;
        c->byp = v;
        c->capf = cap;
    }
    if (!id_insert(c, f))
        return false;
    size_t p = path_pos(c, f->text);
    memmove(c->byp + p + 1, c->byp + p, (c->nf - p) * sizeof *c->byp);
    c->byp[p] = f;
    c->nf++;
    c->bytes += file_bytes(f);
    c->ntasks += f->n;
    return true;
}

static void reset(qp_taskcat *c)
{
    for (size_t k = 0; k < c->nf; k++)
        file_free(c->byp[k]);
    free(c->byp);
    free(c->h);
    c->byp = NULL;
    c->h = NULL;
    c->nf = c->capf = c->hcap = c->bytes = c->ntasks = 0;
    c->built = false;
}

/* ---- reading the index ---- */

/* A file being read: its records and its text as they grow, in buffers
 * that serve one file after another; pending_close() makes the file. */
typedef struct pending {
    bool open;
    int64_t id;
    taskrec *rec;
    size_t n, cap;
    char *text;
    size_t text_len, text_cap;
    uint32_t recent[8]; /* offsets of the last distinct headings, a ring */
    unsigned nrecent, next;
} pending;

static void pending_free(pending *p)
{
    free(p->rec);
    free(p->text);
    memset(p, 0, sizeof *p);
}

static bool text_add(pending *p, const char *s, size_t len, uint32_t *off)
{
    if (p->text_len + len + 1 > NONE)
        return false; /* a note's text is far below 4 GB; a guard */
    if (p->text_len + len + 1 > p->text_cap) {
        size_t cap = p->text_cap ? p->text_cap : 256;
        while (cap < p->text_len + len + 1)
            cap *= 2;
        char *t = realloc(p->text, cap);
        if (t == NULL)
            return false;
        p->text = t;
        p->text_cap = cap;
    }
    *off = (uint32_t)p->text_len;
    memcpy(p->text + p->text_len, s, len);
    p->text[p->text_len + len] = '\0';
    p->text_len += len + 1;
    return true;
}

static bool pending_open(pending *p, int64_t id, const char *path, size_t len)
{
    uint32_t off;
    p->open = true;
    p->id = id;
    p->n = p->text_len = 0;
    p->nrecent = p->next = 0;
    return text_add(p, path, len, &off);
}

/* The offset of heading (s, len) in the text: one of the last distinct
 * ones, else a new copy (a note whose every task has a heading of its own
 * costs a copy each, never a search of them all). */
static bool heading_off(pending *p, const char *s, size_t len, uint32_t *off)
{
    for (unsigned i = 0; i < p->nrecent; i++) {
        const char *h = p->text + p->recent[i];
        if (strlen(h) == len && memcmp(h, s, len) == 0) {
            *off = p->recent[i];
            return true;
        }
    }
    if (!text_add(p, s, len, off))
        return false;
    p->recent[p->next] = *off;
    p->next = (p->next + 1) % 8;
    if (p->nrecent < 8)
        p->nrecent++;
    return true;
}

/* Appends the task of row s, whose columns start at `col` (TASK_COLS). */
static bool pending_row(pending *p, sqlite3_stmt *s, int col)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        taskrec *r = realloc(p->rec, cap * sizeof *r);
        if (r == NULL)
            return false;
        p->rec = r;
        p->cap = cap;
    }
    taskrec *r = &p->rec[p->n];
    memset(r, 0, sizeof *r);
    r->line = (uint32_t)sqlite3_column_int64(s, col);
    r->heading = NONE;
    const char *h = (const char *)sqlite3_column_text(s, col + 1);
    if (h != NULL && !heading_off(p, h, (size_t)sqlite3_column_bytes(s, col + 1), &r->heading))
        return false;
    const char *sym = (const char *)sqlite3_column_text(s, col + 2);
    if (sym != NULL)
        snprintf(r->symbol, sizeof r->symbol, "%s", sym);
    r->status = (uint8_t)sqlite3_column_int(s, col + 3);
    for (int d = 0; d < QP_TASK_NDATES; d++)
        r->dates[d] = sqlite3_column_int(s, col + 4 + d);
    r->priority = (uint8_t)sqlite3_column_int(s, col + 4 + QP_TASK_NDATES);
    r->invalid = (uint8_t)sqlite3_column_int(s, col + 5 + QP_TASK_NDATES);
    for (int d = 0; d < QP_TASK_NDATES; d++)
        if (r->invalid & (1u << d))
            r->dates[d] = INVALID_DATE;
    p->n++;
    return true;
}

/* Makes the pending file, one allocation of its exact size, and hands it
 * to the catalogue (a file without tasks is dropped). False on OOM. */
static bool pending_close(qp_taskcat *c, pending *p)
{
    if (!p->open)
        return true;
    p->open = false;
    if (p->n == 0)
        return true;
    taskfile *f = malloc(sizeof *f + p->n * sizeof *f->rec + p->text_len);
    if (f == NULL)
        return false;
    f->id = p->id;
    f->n = (uint32_t)p->n;
    f->text_len = (uint32_t)p->text_len;
    memcpy(f->rec, p->rec, p->n * sizeof *f->rec);
    char *text = (char *)(f->rec + p->n);
    memcpy(text, p->text, p->text_len);
    f->text = text;
    if (!file_insert(c, f)) {
        file_free(f);
        return false;
    }
    return true;
}

static qp_rc build(qp_taskcat *c, qp_store *st, qp_error *err)
{
    reset(c);
    sqlite3_stmt *t = NULL, *f = NULL;
    pending p = {0};
    /* Two reads in file id order, merged: the tasks by tasks_file, the
     * paths by the files' rowid; no join, no sort. */
    qp_rc rc = qp__mprepare(&t, st,
                            "SELECT t.file, " TASK_COLS " FROM tasks t WHERE t.status_type IS NOT"
                            " NULL ORDER BY t.file, t.line",
                            err);
    if (rc == QP_OK)
        rc = qp__mprepare(&f, st, "SELECT id, path FROM files ORDER BY id", err);
    int src = SQLITE_DONE, fsrc = SQLITE_ROW;
    int64_t fid = INT64_MIN, cur = INT64_MIN;
    while (rc == QP_OK && (src = sqlite3_step(t)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(t, 0);
        if (id != cur) {
            if (!pending_close(c, &p)) {
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                break;
            }
            cur = id;
            while (fsrc == SQLITE_ROW && fid < id && (fsrc = sqlite3_step(f)) == SQLITE_ROW)
                fid = sqlite3_column_int64(f, 0);
            if (fsrc != SQLITE_ROW && fsrc != SQLITE_DONE) {
                src = fsrc;
                break;
            }
            if (fid != id)
                continue; /* a task row of no file: not in any answer */
            const char *path = (const char *)sqlite3_column_text(f, 1);
            if (!pending_open(&p, id, path ? path : "", (size_t)sqlite3_column_bytes(f, 1))) {
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                break;
            }
        }
        if (p.open && !pending_row(&p, t, 1))
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "tasks", err);
    if (rc == QP_OK && !pending_close(c, &p))
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    pending_free(&p);
    sqlite3_finalize(t);
    sqlite3_finalize(f);
    if (rc != QP_OK)
        reset(c);
    return rc;
}

/* Reads file `id` again: dropped, then added back when it has tasks.
 * `path` and `rows` are the prepared per-file reads. */
static qp_rc reload(qp_taskcat *c, qp_store *st, sqlite3_stmt *path, sqlite3_stmt *rows, int64_t id,
                    qp_error *err)
{
    file_remove(c, id);
    sqlite3_reset(path);
    sqlite3_bind_int64(path, 1, id);
    int src = sqlite3_step(path);
    if (src == SQLITE_DONE)
        return QP_OK; /* removed */
    if (src != SQLITE_ROW)
        return qp__store_sqlite_error(st, src, "tasks", err);
    pending p = {0};
    const char *ps = (const char *)sqlite3_column_text(path, 0);
    if (!pending_open(&p, id, ps ? ps : "", (size_t)sqlite3_column_bytes(path, 0))) {
        pending_free(&p);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    qp_rc rc = QP_OK;
    sqlite3_reset(rows);
    sqlite3_bind_int64(rows, 1, id);
    while (rc == QP_OK && (src = sqlite3_step(rows)) == SQLITE_ROW)
        if (!pending_row(&p, rows, 0))
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "tasks", err);
    if (rc == QP_OK && !pending_close(c, &p))
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    pending_free(&p);
    return rc;
}

/* Brings the catalogue to st's snapshot `gen` (see the file comment). */
static qp_rc refresh(qp_taskcat *c, qp_store *st, int64_t gen, qp_error *err)
{
    int64_t epoch = 0;
    qp_rc rc = qp__store_epoch(st, &epoch, err);
    if (rc != QP_OK)
        return rc;
    if (!c->built || c->epoch != epoch) {
        if ((rc = build(c, st, err)) == QP_OK) {
            c->built = true;
            c->epoch = epoch;
            c->gen = gen;
        }
        return rc;
    }
    if (gen <= c->gen)
        return QP_OK;
    sqlite3_stmt *path = NULL, *rows = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    rc = qp__store_touched_since(st, c->gen, &ids, &n, err);
    if (rc != QP_OK)
        return rc;
    if (n > 1000 && n > c->nf / 4) { /* cheaper read whole */
        free(ids);
        c->built = false;
        return refresh(c, st, gen, err);
    }
    rc = qp__mprepare(&path, st, "SELECT path FROM files WHERE id = ?1", err);
    if (rc == QP_OK)
        rc = qp__mprepare(&rows, st,
                          "SELECT " TASK_COLS " FROM tasks t WHERE t.file = ?1 AND"
                          " t.status_type IS NOT NULL ORDER BY t.line",
                          err);
    for (size_t i = 0; i < n && rc == QP_OK; i++)
        rc = reload(c, st, path, rows, ids[i], err);
    if (rc == QP_OK)
        c->gen = gen;
    else
        c->built = false; /* half read: read whole next time */
    sqlite3_finalize(path);
    sqlite3_finalize(rows);
    free(ids);
    return rc;
}

/* ---- public ---- */

qp_rc qp_taskcat_new(qp_taskcat **out, qp_error *err)
{
    qp_taskcat *c = calloc(1, sizeof *c);
    if (c == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    *out = c;
    return QP_OK;
}

void qp_taskcat_free(qp_taskcat *c)
{
    if (c == NULL)
        return;
    reset(c);
    free(c->spare);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void qp__taskcat_give_back(qp_taskcat *c, qp_task *v, size_t cap)
{
    if (v == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->spare == NULL && cap * sizeof *v <= SPARE_MAX) {
        c->spare = v;
        c->spare_cap = cap;
        v = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(v);
}

size_t qp_taskcat_bytes(qp_taskcat *c)
{
    pthread_mutex_lock(&c->mu);
    size_t b = c->bytes + c->capf * sizeof *c->byp + c->hcap * sizeof *c->h +
               (c->spare ? c->spare_cap * sizeof *c->spare : 0);
    pthread_mutex_unlock(&c->mu);
    return b;
}

/* Fills the catalogue fields of *t from record r of file f, whose text
 * block was copied to `text`. */
static void shallow_task(qp_task *t, const taskrec *r, const char *text)
{
    memset(t, 0, sizeof *t);
    t->path = text;
    t->heading = r->heading == NONE ? NULL : text + r->heading;
    t->line = (int)r->line - 1; /* the engine counts from 0 */
    t->indent = "";
    memcpy(t->symbol, r->symbol, sizeof t->symbol);
    t->status_name = "";
    t->status_type = (qp_status_type)r->status;
    t->description = "";
    memcpy(t->dates, r->dates, sizeof t->dates);
    t->invalid_dates = r->invalid;
    t->priority = (qp_task_priority)r->priority;
}

qp_rc qp__taskcat_collect(qp_taskcat *c, qp_store *st, qp_arena *arena, qp__taskcat_keep_fn keep,
                          const void *payload, qp_task **v, size_t *vcap, int64_t **file, size_t *n,
                          bool *stale, qp_error *err)
{
    qp_task *tv = NULL;
    int64_t *fv = NULL;
    size_t m = 0, cap = 0;
    *v = NULL;
    *vcap = 0;
    *file = NULL;
    *n = 0;
    *stale = false;
    int64_t gen = qp_store_generation(st);
    pthread_mutex_lock(&c->mu);
    qp_rc rc = refresh(c, st, gen, err);
    if (rc == QP_OK && c->gen > gen)
        *stale = true;
    if (rc == QP_OK && !*stale) {
        /* Room for every task, filled in place: the pages a selective
         * prefilter never reaches are never touched, so cost nothing. */
        size_t need = c->ntasks ? c->ntasks : 1;
        if (c->spare != NULL && c->spare_cap >= need) {
            tv = c->spare;
            cap = c->spare_cap;
            c->spare = NULL;
        } else {
            tv = malloc(need * sizeof *tv);
            cap = need;
        }
        fv = malloc(need * sizeof *fv);
        if (tv == NULL || fv == NULL)
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    for (size_t k = 0; rc == QP_OK && !*stale && k < c->nf; k++) {
        const taskfile *f = c->byp[k];
        const char *text = NULL;
        for (uint32_t i = 0; i < f->n; i++) {
            /* the fields are read from the catalogue's own block until a
             * task of the file is kept; then the block is copied once */
            qp_task *t = &tv[m];
            shallow_task(t, &f->rec[i], text ? text : f->text);
            if (keep != NULL && !keep(t, payload))
                continue;
            if (text == NULL) {
                char *copy = qp_arena_alloc(arena, f->text_len);
                if (copy == NULL) {
                    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                    break;
                }
                memcpy(copy, f->text, f->text_len);
                text = copy;
                t->path = text; /* the fields that point into the block */
                t->heading = f->rec[i].heading == NONE ? NULL : text + f->rec[i].heading;
            }
            fv[m++] = f->id;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (rc != QP_OK || *stale) {
        free(tv);
        free(fv);
        return rc;
    }
    *v = tv;
    *vcap = cap;
    *file = fv;
    *n = m;
    return QP_OK;
}
