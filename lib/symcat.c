/*
 * symcat — the symbol catalogue (quipu/symcat.h).
 *
 * Layout, for what a search does with it (match a query against every
 * text, at every keystroke):
 * - Texts are interned: one folded string per distinct text, with a
 *   reference count. Headings repeat (a template's "Summary" in every
 *   meeting): at 100k generated notes 319k headings are 30.5k texts, so a
 *   search matches ~132k texts, not 420k, and holds 1.4 MB of heading text,
 *   not 6.2.
 * - Each text keeps two masks of the ASCII letters and digits it holds:
 *   anywhere, and where a word starts. Every match class of qp__match_of
 *   needs all of the query's characters in the text, and its first one at
 *   a word start, so a text whose masks lack the query's is skipped without
 *   a compare (most texts, for a short query).
 * - Files are a dense array of notes (id, mtime, records), found by id
 *   through an open-addressing table; a record is (text, type, and a
 *   heading's line or an alias's place among its note's aliases).
 *
 * Keeping up: the store writes, for every file it puts or removes, the
 * generation that commit makes (the `touched` table). A search first reads
 * the snapshot's generation; the notes touched since the catalogue's are
 * read again (a removed one is dropped), every one when they are many. The
 * index's epoch (meta, new with every index file) tells a rebuilt index
 * from the one read before. A search whose snapshot is older than the
 * catalogue (another reader brought it further) uses it as it is: the
 * answer is at worst as new as the newest committed batch.
 *
 * Both tables use linear probing at load <= 1/2, with backward-shift
 * deletion (no tombstones: notes come and go for as long as the daemon
 * runs).
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <xxhash.h>

#include "methods_int.h"
#include "quipu/text.h"
#include "store_int.h"
#include "symcat_int.h"

#define NONE UINT32_MAX

typedef struct symrec {
    uint32_t text, line;
    uint8_t type;
} symrec;

typedef struct symfile {
    int64_t id, mtime;
    symrec *rec;
    uint32_t n, cap;
} symfile;

typedef struct symtext {
    char *s; /* NULL: a free id */
    uint64_t hash;
    uint32_t len, refs, any, start; /* any/start: the masks above */
} symtext;

struct qp_symcat {
    pthread_mutex_t mu;
    bool built;
    int64_t epoch, gen;
    symtext *t;
    size_t nt, capt;
    uint32_t *tfree; /* free text ids */
    size_t ntfree, captfree;
    uint32_t *th; /* text id + 1 per slot, 0 empty */
    size_t thcap;
    symfile *f;
    size_t nf, capf;
    uint32_t *fh; /* file index + 1 per slot, 0 empty */
    size_t fhcap;
    uint8_t *cls; /* a search's class per text */
    size_t capcls;
    size_t text_bytes;
};

/* ---- masks ---- */

static uint32_t char_bit(unsigned char b)
{
    if (b >= 'a' && b <= 'z')
        return 1u << (b - 'a');
    if (b >= '0' && b <= '9')
        return 1u << (26 + (b - '0') % 6);
    return 0; /* the rest narrows nothing */
}

static void text_masks(const char *s, size_t n, uint32_t *any, uint32_t *start)
{
    *any = *start = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = char_bit((unsigned char)s[i]);
        *any |= b;
        if (b && qp__word_start(s, i))
            *start |= b;
    }
}

/* ---- the two tables ---- */

/* Empties slot i of a linear-probing table and pulls later entries of its
 * run back into the hole when their home slot is not between the hole and
 * them (backward-shift deletion). home(c, entry) is the entry's slot. */
static void slot_remove(const qp_symcat *c, uint32_t *tab, size_t cap, size_t i,
                        size_t (*home)(const qp_symcat *, uint32_t))
{
    size_t mask = cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!tab[j])
            break;
        size_t k = home(c, tab[j]);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue; /* its home is after the hole: it stays */
        tab[i] = tab[j];
        i = j;
    }
    tab[i] = 0;
}

/* ---- texts ---- */

static size_t th_home(const qp_symcat *c, uint64_t hash)
{
    return (size_t)hash & (c->thcap - 1);
}

static size_t th_entry_home(const qp_symcat *c, uint32_t entry)
{
    return th_home(c, c->t[entry - 1].hash);
}

static bool th_grow(qp_symcat *c)
{
    size_t cap = c->thcap ? c->thcap * 2 : 1024;
    uint32_t *nt = calloc(cap, sizeof *nt);
    if (!nt)
        return false;
    free(c->th);
    c->th = nt;
    c->thcap = cap;
    for (size_t id = 0; id < c->nt; id++) {
        if (!c->t[id].s)
            continue;
        size_t i = th_home(c, c->t[id].hash);
        while (c->th[i])
            i = (i + 1) & (cap - 1);
        c->th[i] = (uint32_t)id + 1;
    }
    return true;
}

/* The id of the text s[0..n), made (refs 0) when new; NONE on OOM. */
static uint32_t text_intern(qp_symcat *c, const char *s, size_t n)
{
    uint64_t h = XXH3_64bits(s, n);
    if (c->thcap) {
        for (size_t i = th_home(c, h); c->th[i]; i = (i + 1) & (c->thcap - 1)) {
            const symtext *t = &c->t[c->th[i] - 1];
            if (t->hash == h && t->len == n && memcmp(t->s, s, n) == 0)
                return c->th[i] - 1;
        }
    }
    if (2 * (c->nt - c->ntfree + 1) > c->thcap && !th_grow(c))
        return NONE;
    char *copy = malloc(n + 1);
    if (!copy)
        return NONE;
    uint32_t id;
    if (c->ntfree) {
        id = c->tfree[--c->ntfree];
    } else {
        if (c->nt == c->capt) {
            size_t cap = c->capt ? c->capt * 2 : 1024;
            symtext *nt = realloc(c->t, cap * sizeof *nt);
            if (!nt) {
                free(copy);
                return NONE;
            }
            c->t = nt;
            c->capt = cap;
        }
        id = (uint32_t)c->nt++;
    }
    symtext *t = &c->t[id];
    t->s = copy;
    memcpy(t->s, s, n);
    t->s[n] = '\0';
    t->hash = h;
    t->len = (uint32_t)n;
    t->refs = 0;
    text_masks(t->s, n, &t->any, &t->start);
    size_t i = th_home(c, h);
    while (c->th[i])
        i = (i + 1) & (c->thcap - 1);
    c->th[i] = id + 1;
    c->text_bytes += n + 1;
    return id;
}

/* Drops one reference; the last one frees the text and its slot. */
static void text_release(qp_symcat *c, uint32_t id)
{
    symtext *t = &c->t[id];
    if (--t->refs > 0)
        return;
    size_t i = th_home(c, t->hash);
    while (c->th[i] != id + 1)
        i = (i + 1) & (c->thcap - 1);
    slot_remove(c, c->th, c->thcap, i, th_entry_home);
    c->text_bytes -= t->len + 1;
    free(t->s);
    t->s = NULL;
    if (c->ntfree == c->captfree) {
        size_t cap = c->captfree ? c->captfree * 2 : 256;
        uint32_t *nf = realloc(c->tfree, cap * sizeof *nf);
        if (!nf)
            return; /* the id is lost, not reused: harmless */
        c->tfree = nf;
        c->captfree = cap;
    }
    c->tfree[c->ntfree++] = id;
}

/* ---- files ---- */

static size_t fh_home(const qp_symcat *c, int64_t id)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 20) & (c->fhcap - 1);
}

static size_t fh_entry_home(const qp_symcat *c, uint32_t entry)
{
    return fh_home(c, c->f[entry - 1].id);
}

static bool fh_grow(qp_symcat *c)
{
    size_t cap = c->fhcap ? c->fhcap * 2 : 1024;
    uint32_t *nh = calloc(cap, sizeof *nh);
    if (!nh)
        return false;
    free(c->fh);
    c->fh = nh;
    c->fhcap = cap;
    for (size_t k = 0; k < c->nf; k++) {
        size_t i = fh_home(c, c->f[k].id);
        while (c->fh[i])
            i = (i + 1) & (cap - 1);
        c->fh[i] = (uint32_t)k + 1;
    }
    return true;
}

/* The table slot holding file `id`, or the empty slot where it would go. */
static size_t fh_slot(const qp_symcat *c, int64_t id)
{
    size_t i = fh_home(c, id);
    while (c->fh[i] && c->f[c->fh[i] - 1].id != id)
        i = (i + 1) & (c->fhcap - 1);
    return i;
}

static void file_remove(qp_symcat *c, int64_t id)
{
    if (!c->fhcap)
        return;
    size_t i = fh_slot(c, id);
    if (!c->fh[i])
        return;
    size_t k = c->fh[i] - 1;
    for (uint32_t r = 0; r < c->f[k].n; r++)
        text_release(c, c->f[k].rec[r].text);
    free(c->f[k].rec);
    slot_remove(c, c->fh, c->fhcap, i, fh_entry_home);
    /* The last file moves into the hole. */
    if (k != --c->nf) {
        c->f[k] = c->f[c->nf];
        c->fh[fh_slot(c, c->f[k].id)] = (uint32_t)k + 1;
    }
}

/* Adds file `id` (not present) without records; its index, or NONE. */
static uint32_t file_add(qp_symcat *c, int64_t id, int64_t mtime)
{
    if (2 * (c->nf + 1) > c->fhcap && !fh_grow(c))
        return NONE;
    if (c->nf == c->capf) {
        size_t cap = c->capf ? c->capf * 2 : 1024;
        symfile *nf = realloc(c->f, cap * sizeof *nf);
        if (!nf)
            return NONE;
        c->f = nf;
        c->capf = cap;
    }
    size_t k = c->nf++;
    c->f[k] = (symfile){.id = id, .mtime = mtime};
    c->fh[fh_slot(c, id)] = (uint32_t)k + 1;
    return (uint32_t)k;
}

static uint32_t file_find(const qp_symcat *c, int64_t id)
{
    if (!c->fhcap)
        return NONE;
    size_t i = fh_slot(c, id);
    return c->fh[i] ? c->fh[i] - 1 : NONE;
}

static bool file_push(qp_symcat *c, uint32_t k, int type, uint32_t line, const char *s, size_t n)
{
    symfile *f = &c->f[k];
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 4;
        symrec *nr = realloc(f->rec, cap * sizeof *nr);
        if (!nr)
            return false;
        f->rec = nr;
        f->cap = cap;
    }
    uint32_t id = text_intern(c, s, n);
    if (id == NONE)
        return false;
    c->t[id].refs++;
    f->rec[f->n++] = (symrec){.text = id, .line = line, .type = (uint8_t)type};
    return true;
}

static void reset(qp_symcat *c)
{
    for (size_t k = 0; k < c->nf; k++)
        free(c->f[k].rec);
    for (size_t id = 0; id < c->nt; id++)
        free(c->t[id].s);
    free(c->f);
    free(c->fh);
    free(c->t);
    free(c->th);
    free(c->tfree);
    c->f = NULL;
    c->fh = NULL;
    c->t = NULL;
    c->th = NULL;
    c->tfree = NULL;
    c->nf = c->capf = c->fhcap = c->nt = c->capt = c->thcap = c->ntfree = c->captfree = 0;
    c->text_bytes = 0;
    c->built = false;
}

/* ---- reading the index ---- */

static size_t stem_len(const char *s, size_t len)
{
    return len >= 3 && memcmp(s + len - 3, ".md", 3) == 0 ? len - 3 : len;
}

/* A heading folded as symbols.search folds it: ASCII lower-cased in place
 * of qp_text_fold (the same result, without an allocation per heading). */
static bool push_heading(qp_symcat *c, uint32_t k, uint32_t line, const char *t, size_t n)
{
    char buf[256];
    size_t i = 0;
    if (n < sizeof buf) {
        for (; i < n && (unsigned char)t[i] < 0x80; i++)
            buf[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + ('a' - 'A') : t[i]);
        if (i == n)
            return file_push(c, k, QP__SYM_HEADING, line, buf, n);
    }
    size_t fn = 0;
    char *f = qp_text_fold(t, n, &fn);
    bool ok = f && file_push(c, k, QP__SYM_HEADING, line, f, fn);
    free(f);
    return ok;
}

static bool push_name(qp_symcat *c, uint32_t k, sqlite3_stmt *s, int col)
{
    const char *t = (const char *)sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    return !t || file_push(c, k, QP__SYM_NOTE, 0, t, stem_len(t, n));
}

/* How many aliases file f has so far: the next one's place (the rows come
 * in rowid order, as symbols.c finds an alias's text back). */
static uint32_t alias_count(const symfile *f)
{
    uint32_t n = 0;
    for (uint32_t r = 0; r < f->n; r++)
        n += f->rec[r].type == QP__SYM_ALIAS;
    return n;
}

/* Steps `sql` (?1 = `id` when id > 0) and adds an alias (columns: file,
 * alias_folded) or a heading (file, line, text) per row to its file. */
static qp_rc load_rows(qp_symcat *c, qp_store *st, const char *sql, int64_t id, int type,
                       qp_error *err)
{
    sqlite3_stmt *s = NULL;
    qp_rc rc = qp__mprepare(&s, st, sql, err);
    if (rc != QP_OK)
        return rc;
    if (id > 0)
        sqlite3_bind_int64(s, 1, id);
    int src;
    int64_t last = 0;
    uint32_t k = NONE;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t file = sqlite3_column_int64(s, 0);
        if (file != last || k == NONE) {
            k = file_find(c, file);
            last = file;
        }
        if (k == NONE)
            continue; /* not a note */
        int tc = type == QP__SYM_ALIAS ? 1 : 2;
        const char *t = (const char *)sqlite3_column_text(s, tc);
        size_t n = (size_t)sqlite3_column_bytes(s, tc);
        if (!t)
            continue;
        bool ok = type == QP__SYM_ALIAS
                      ? file_push(c, k, QP__SYM_ALIAS, alias_count(&c->f[k]), t, n)
                      : push_heading(c, k, (uint32_t)sqlite3_column_int64(s, 1), t, n);
        if (!ok) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "symbols", err);
    return rc;
}

static qp_rc build(qp_symcat *c, qp_store *st, qp_error *err)
{
    reset(c);
    sqlite3_stmt *s = NULL;
    qp_rc rc =
        qp__mprepare(&s, st, "SELECT id, mtime_ns, name_folded FROM files WHERE is_note = 1", err);
    int src = SQLITE_DONE;
    while (rc == QP_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
        uint32_t k = file_add(c, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1));
        if (k == NONE || !push_name(c, k, s, 2))
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "symbols", err);
    sqlite3_finalize(s);
    if (rc == QP_OK)
        rc = load_rows(c, st, "SELECT file, alias_folded FROM aliases", 0, QP__SYM_ALIAS, err);
    if (rc == QP_OK)
        rc = load_rows(c, st, "SELECT file, line, text FROM headings", 0, QP__SYM_HEADING, err);
    if (rc != QP_OK)
        reset(c);
    return rc;
}

/* Reads file `id` again: dropped, then added back when it is a note. */
static qp_rc reload(qp_symcat *c, qp_store *st, sqlite3_stmt *file, int64_t id, qp_error *err)
{
    file_remove(c, id);
    sqlite3_reset(file);
    sqlite3_bind_int64(file, 1, id);
    int src = sqlite3_step(file);
    if (src == SQLITE_DONE)
        return QP_OK; /* removed, or not a note */
    if (src != SQLITE_ROW)
        return qp__store_sqlite_error(st, src, "symbols", err);
    uint32_t k = file_add(c, id, sqlite3_column_int64(file, 0));
    if (k == NONE || !push_name(c, k, file, 1))
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    qp_rc rc = load_rows(c, st, "SELECT file, alias_folded FROM aliases WHERE file = ?1", id,
                         QP__SYM_ALIAS, err);
    if (rc == QP_OK)
        rc = load_rows(c, st, "SELECT file, line, text FROM headings WHERE file = ?1", id,
                       QP__SYM_HEADING, err);
    return rc;
}

/* Brings the catalogue to st's snapshot (see the file comment). */
static qp_rc refresh(qp_symcat *c, qp_store *st, qp_error *err)
{
    int64_t epoch = 0, gen = qp_store_generation(st);
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
    sqlite3_stmt *file = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    rc = qp__store_touched_since(st, c->gen, &ids, &n, err);
    if (rc != QP_OK)
        return rc;
    if (n > 1000 && n > c->nf / 4) { /* cheaper read whole */
        free(ids);
        c->built = false;
        return refresh(c, st, err);
    }
    rc = qp__mprepare(&file, st,
                      "SELECT mtime_ns, name_folded FROM files WHERE id = ?1 AND is_note = 1", err);
    for (size_t i = 0; i < n && rc == QP_OK; i++)
        rc = reload(c, st, file, ids[i], err);
    if (rc == QP_OK)
        c->gen = gen;
    else
        c->built = false; /* half read: read whole next time */
    sqlite3_finalize(file);
    free(ids);
    return rc;
}

/* ---- public ---- */

qp_rc qp_symcat_new(qp_symcat **out, qp_error *err)
{
    qp_symcat *c = calloc(1, sizeof *c);
    if (!c || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    *out = c;
    return QP_OK;
}

void qp_symcat_free(qp_symcat *c)
{
    if (!c)
        return;
    reset(c);
    free(c->cls);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

size_t qp_symcat_bytes(qp_symcat *c)
{
    pthread_mutex_lock(&c->mu);
    size_t b = c->capt * sizeof *c->t + c->thcap * sizeof *c->th + c->captfree * sizeof *c->tfree +
               c->capf * sizeof *c->f + c->fhcap * sizeof *c->fh + c->capcls + c->text_bytes;
    for (size_t k = 0; k < c->nf; k++)
        b += c->f[k].cap * sizeof *c->f[k].rec;
    pthread_mutex_unlock(&c->mu);
    return b;
}

qp_rc qp__symcat_collect(qp_symcat *c, qp_store *st, const char *q, size_t qlen,
                         qp__symcat_hit_fn hit, void *payload, qp_error *err)
{
    uint32_t any = 0, start = qlen ? char_bit((unsigned char)q[0]) : 0;
    for (size_t i = 0; i < qlen; i++)
        any |= char_bit((unsigned char)q[i]);
    pthread_mutex_lock(&c->mu);
    qp_rc rc = refresh(c, st, err);
    if (rc == QP_OK && c->capcls < c->nt) {
        uint8_t *nc = realloc(c->cls, c->nt);
        if (!nc)
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        else {
            c->cls = nc;
            c->capcls = c->nt;
        }
    }
    if (rc == QP_OK) {
        for (size_t id = 0; id < c->nt; id++) {
            const symtext *t = &c->t[id];
            c->cls[id] = t->s && (t->any & any) == any && (t->start & start) == start
                             ? (uint8_t)qp__match_of(t->s, t->len, q, qlen)
                             : (uint8_t)QP__MATCH_NONE;
        }
        for (size_t k = 0; k < c->nf && rc == QP_OK; k++) {
            const symfile *f = &c->f[k];
            for (uint32_t r = 0; r < f->n; r++) {
                uint8_t cls = c->cls[f->rec[r].text];
                if (cls != QP__MATCH_NONE &&
                    !hit(payload, cls, f->rec[r].type, f->id, f->mtime, f->rec[r].line)) {
                    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
