/*
 * store — the SQLite index of one vault.
 *
 * Invariants:
 * - files.id is stable while a path stays indexed (put_note on an indexed
 *   path updates the row), so links.dst of other files stays valid.
 * - links.dst is the resolved target, NULL when unresolved; after every
 *   commit it is what spec/links.md §2.1 gives for the current file set.
 *   A commit re-resolves (a) every link of a source put in the batch and
 *   (b) every link whose candidate names (§2.1 step 2: links.name1 /
 *   links.name2) include a file name created or removed in the batch. Only
 *   those can change: resolution depends on the source's path, the link
 *   text and the set of files with the candidate name, nothing else.
 * - Note bodies are not stored (they were 40% of the index): answers that
 *   need text read the file through the vault. mention_doc keeps, per
 *   note, the runs its mention text blanks (mask). The notes an unlinked
 *   mention may be in come from the search index (search.c): its body
 *   column holds every word of the file, folded as names are, with
 *   positions, so a phrase query on a name finds a superset of the notes
 *   whose mention text holds it, which the caller verifies in the text.
 *   (A second FTS table of the mention texts was 8% of the index, a
 *   tokenization per note on the writer thread, and kept the postings of
 *   every old version of a note: a contentless row cannot be deleted
 *   without its old text.)
 * - meta.generation grows by one per committed batch that changed anything.
 */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "quipu/arena.h"
#include "quipu/ingest.h"
#include "quipu/note.h"
#include "quipu/store.h"
#include "quipu/symcat.h"
#include "quipu/taskcat.h"
#include "quipu/tasks.h"
#include "quipu/text.h"
#include "quipu/vault.h"
#include "resolve_int.h"
#include "search_int.h"
#include "store_int.h"

#define QP_STORE_APP_ID 0x71697075 /* "qipu" */
/* 5: links_dst covers (dst, src, line, col); 6: search; 7: links_subpath, files_kind;
 * 9: touched, meta.epoch (symcat.c); 10: links' editor ranges (ra, rb, ua, ub) in
 * links_dst, files_path_of; 11: tasks.invalid, tasks_file covers (file, line) (taskcat.c) */
#define QP_STORE_SCHEMA 11
#define RESOLVE_CHUNK   4096
/* Indexes up to this size (database + WAL) are checked page by page on
 * every write open (see damage_check). */
#define QP_STORE_CHECK_BYTES ((int64_t)16 * 1024 * 1024)

static const char *const schema_v1[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO meta VALUES('generation', 0)",
    "CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
    " path_folded TEXT NOT NULL, name_folded TEXT NOT NULL, is_note INTEGER NOT NULL,"
    " kind INTEGER NOT NULL DEFAULT 0, title TEXT, title_folded TEXT, date TEXT,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash INTEGER NOT NULL)",
    "CREATE INDEX files_name ON files(name_folded)",
    /* Meeting titles repeat (a weekly meeting keeps its title): the index
     * covers kind and path so that "the first meeting titled X" is one seek. */
    "CREATE INDEX files_title ON files(title_folded, kind, path)",
    /* Notes by kind: status's counts and the person scans, without
     * reading every files row (wide: paths, titles, dates). */
    "CREATE INDEX files_kind ON files(kind) WHERE is_note = 1",
    /* A file's path by id from a narrow index: the sources of a busy
     * note's links are thousands of files rows, each on its own page of
     * the wide table (and a reader's page cache starts empty after every
     * commit). */
    "CREATE INDEX files_path_of ON files(id, path)",
    "CREATE TABLE properties(file INTEGER PRIMARY KEY, json TEXT NOT NULL)",
    "CREATE TABLE aliases(file INTEGER NOT NULL, alias TEXT NOT NULL, alias_folded TEXT NOT NULL)",
    "CREATE INDEX aliases_file ON aliases(file)",
    "CREATE INDEX aliases_folded ON aliases(alias_folded)",
    "CREATE TABLE tags(file INTEGER NOT NULL, tag TEXT NOT NULL, tag_folded TEXT NOT NULL,"
    " frontmatter INTEGER NOT NULL, line INTEGER, col INTEGER)",
    "CREATE INDEX tags_file ON tags(file)",
    "CREATE INDEX tags_folded ON tags(tag_folded)",
    "CREATE TABLE links(id INTEGER PRIMARY KEY, src INTEGER NOT NULL, line INTEGER NOT NULL,"
    " col INTEGER NOT NULL, offset INTEGER NOT NULL, len INTEGER NOT NULL, target TEXT NOT NULL,"
    " subpath TEXT, display TEXT, key TEXT, embed INTEGER NOT NULL, syntax INTEGER NOT NULL,"
    " name1 TEXT, name2 TEXT, dst INTEGER, context TEXT NOT NULL DEFAULT '',"
    " ra INTEGER NOT NULL DEFAULT 0, rb INTEGER NOT NULL DEFAULT 0,"
    " ua INTEGER NOT NULL DEFAULT 0, ub INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX links_src ON links(src)",
    /* ra..ub: the link's range in its line as an editor shows it (bytes,
     * UTF-16 units; qp__link_span), so that where the links to a note are
     * (backlinks.locations) is read from this index alone. */
    "CREATE INDEX links_dst ON links(dst, src, line, col, ra, rb, ua, ub)",
    "CREATE INDEX links_name1 ON links(name1)",
    "CREATE INDEX links_name2 ON links(name2)",
    /* The links with a heading or block part, by target: what status
     * checks after every commit (lib/problems.c), a few percent of the
     * links, read without a scan of all of them. */
    "CREATE INDEX links_subpath ON links(dst) WHERE subpath IS NOT NULL AND subpath <> '#'",
    "CREATE TABLE headings(file INTEGER NOT NULL, level INTEGER NOT NULL, text TEXT NOT NULL,"
    " line INTEGER NOT NULL)",
    "CREATE INDEX headings_file ON headings(file)",
    "CREATE TABLE blocks(file INTEGER NOT NULL, id TEXT NOT NULL, line INTEGER NOT NULL)",
    "CREATE INDEX blocks_file ON blocks(file)",
    /* The parsed columns (status_type .. invalid) hold what the task line
     * parser gives with the plugin's default settings; NULL when the line is
     * not a task then, or the date is absent or not a calendar day; invalid
     * has a bit (1 << field) per date written that is not a calendar day
     * (NULL when none). They prefilter queries, and the task catalogue
     * (taskcat.c) orders and groups by them; what an answer shows is
     * always the raw line re-parsed. */
    "CREATE TABLE tasks(file INTEGER NOT NULL, line INTEGER NOT NULL, indent INTEGER NOT NULL,"
    " symbol TEXT NOT NULL, text TEXT NOT NULL, raw TEXT NOT NULL, heading TEXT,"
    " parent_line INTEGER NOT NULL, status_type INTEGER, due INTEGER, scheduled INTEGER,"
    " start INTEGER, created INTEGER, done INTEGER, cancelled INTEGER, priority INTEGER,"
    " invalid INTEGER)",
    /* (file, line): a task found by its line (an answer from the catalogue
     * reads only the lines it shows) without a walk of its note's tasks. */
    "CREATE INDEX tasks_file ON tasks(file, line)",
    "CREATE INDEX tasks_due ON tasks(due) WHERE due IS NOT NULL",
    /* Folded paths of the notes that have tasks, for `path includes`. */
    "CREATE VIRTUAL TABLE task_paths USING fts5(path, tokenize='trigram case_sensitive 1')",
    "CREATE TABLE mention_lines(file INTEGER NOT NULL, line INTEGER NOT NULL, date TEXT,"
    " title TEXT NOT NULL, title_folded TEXT NOT NULL)",
    "CREATE INDEX mention_lines_file ON mention_lines(file)",
    "CREATE TABLE query_blocks(file INTEGER NOT NULL, line INTEGER NOT NULL, query TEXT NOT NULL)",
    "CREATE INDEX query_blocks_file ON query_blocks(file)",
    "CREATE TABLE diags(file INTEGER NOT NULL, severity INTEGER NOT NULL, line INTEGER NOT NULL,"
    " col INTEGER NOT NULL, msg TEXT NOT NULL)",
    "CREATE INDEX diags_file ON diags(file)",
    "CREATE TABLE mention_doc(file INTEGER PRIMARY KEY, mask BLOB)",
    /* The generation of each file's last put or removal (a removed file's
     * row stays): what changed since a generation, for the symbol
     * catalogue (symcat.c) to read only that again. */
    "CREATE TABLE touched(file INTEGER PRIMARY KEY, gen INTEGER NOT NULL)",
    "CREATE INDEX touched_gen ON touched(gen)",
};

/* Write statements follow the read ones of store_int.h in one array. */
enum {
    W_INSERT_FILE = QP__S_READ_COUNT,
    W_UPDATE_FILE,
    W_UPDATE_STAT,
    W_DELETE_FILE,
    W_DEL_PROPS,
    W_DEL_ALIASES,
    W_DEL_TAGS,
    W_DEL_LINKS,
    W_DEL_HEADINGS,
    W_DEL_BLOCKS,
    W_DEL_TASKS,
    W_DEL_MLINES,
    W_DEL_QBLOCKS,
    W_DEL_DIAGS,
    W_DEL_BODY,
    W_DEL_TPATH,
    W_UNLINK_DST,
    W_INS_PROPS,
    W_INS_ALIAS,
    W_INS_TAG,
    W_INS_LINK,
    W_INS_HEADING,
    W_INS_BLOCK,
    W_INS_TASK,
    W_INS_MLINE,
    W_INS_QBLOCK,
    W_INS_DIAG,
    W_INS_BODY,
    W_INS_TPATH,
    W_TOUCH,
    W_DIRTY_SRC,
    W_AFF_NAME,
    W_TODO_PAGE,
    W_SET_DST,
    W_BUMP_GEN,
    W_ALL_PATHS,
    W_ALL_STATS,
    STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
    [QP__S_FILE_BY_PATH] = "SELECT id, size, mtime_ns, hash, is_note FROM files WHERE path = ?1",
    [QP__S_FILES_BY_NAME] = "SELECT id, path, path_folded FROM files WHERE name_folded = ?1",
    [QP__S_FILE_INFO] = "SELECT path, is_note, kind, title, date FROM files WHERE id = ?1",
    [QP__S_BODY] = "SELECT d.mask, f.hash, f.path, f.is_note, f.kind, f.title, f.date"
                   " FROM mention_doc d JOIN files f ON f.id = d.file WHERE d.file = ?1",
    [QP__S_LINK_SRC_AFTER] =
        "SELECT src FROM links WHERE dst = ?1 AND src > ?2 AND src <> ?1 ORDER BY src",
    [QP__S_LINK_COUNT] = "SELECT count(*) FROM links WHERE dst = ?1 AND src = ?2",
    [QP__S_LINK_OCC] = "SELECT line, col, context FROM links WHERE dst = ?1 AND src = ?2"
                       " ORDER BY line, col LIMIT ?3",
    [QP__S_LINKS_FROM] =
        "SELECT l.line, l.col, l.target, l.subpath, l.display, l.embed, l.key, l.syntax, f.path"
        " FROM links l LEFT JOIN files f ON f.id = l.dst WHERE l.src = ?1 ORDER BY l.id",
    [QP__S_ALIASES_OF] = "SELECT alias, alias_folded FROM aliases WHERE file = ?1 ORDER BY rowid",
    [QP__S_TAGS_OF] = "SELECT tag, frontmatter, line, col FROM tags WHERE file = ?1 ORDER BY rowid",
    [QP__S_HEADINGS_OF] = "SELECT level, text, line FROM headings WHERE file = ?1 ORDER BY rowid",
    [QP__S_BLOCKS_OF] = "SELECT id, line FROM blocks WHERE file = ?1 ORDER BY rowid",
    [QP__S_TASKS_OF] =
        "SELECT line, indent, symbol, text, raw, heading, parent_line FROM tasks WHERE file = ?1"
        " ORDER BY rowid",
    [QP__S_PROPS_OF] = "SELECT json FROM properties WHERE file = ?1",
    [QP__S_MENTION_LINES_OF] =
        "SELECT line, date, title, title_folded FROM mention_lines WHERE file = ?1 ORDER BY rowid",
    [QP__S_MEETING_BY_TITLE] =
        "SELECT id, path FROM files WHERE title_folded = ?1 AND kind = 2 ORDER BY path LIMIT 1",
    [QP__S_FTS_MATCH] = "SELECT rowid FROM search_fts WHERE search_fts MATCH ?1",
    [QP__S_ALL_NOTES] = "SELECT id FROM files WHERE is_note = 1",
    [QP__S_COUNT_FILES] = "SELECT count(*) FROM files",
    [QP__S_COUNT_KINDS] = "SELECT kind, count(*) FROM files WHERE is_note = 1 GROUP BY kind",
    [QP__S_COUNT_TASKS] = "SELECT count(*) FROM tasks",
    [QP__S_COUNT_LINKS] = "SELECT count(*) FROM links",
    [QP__S_COUNT_UNRESOLVED] = "SELECT count(*) FROM links WHERE dst IS NULL",
    [QP__S_LINKERS_OF] = "SELECT DISTINCT src FROM links WHERE dst = ?1",
    [QP__S_GENERATION] = "SELECT value FROM meta WHERE key = 'generation'",
    [QP__S_BEGIN] = "BEGIN",
    [QP__S_COMMIT] = "COMMIT",
    [W_INSERT_FILE] =
        "INSERT INTO files(path, path_folded, name_folded, is_note, kind, title, title_folded,"
        " date, size, mtime_ns, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [W_UPDATE_FILE] =
        "UPDATE files SET is_note = ?2, kind = ?3, title = ?4, title_folded = ?5, date = ?6,"
        " size = ?7, mtime_ns = ?8, hash = ?9 WHERE id = ?1",
    [W_UPDATE_STAT] = "UPDATE files SET size = ?2, mtime_ns = ?3, hash = ?4 WHERE id = ?1",
    [W_DELETE_FILE] = "DELETE FROM files WHERE id = ?1",
    [W_DEL_PROPS] = "DELETE FROM properties WHERE file = ?1",
    [W_DEL_ALIASES] = "DELETE FROM aliases WHERE file = ?1",
    [W_DEL_TAGS] = "DELETE FROM tags WHERE file = ?1",
    [W_DEL_LINKS] = "DELETE FROM links WHERE src = ?1",
    [W_DEL_HEADINGS] = "DELETE FROM headings WHERE file = ?1",
    [W_DEL_BLOCKS] = "DELETE FROM blocks WHERE file = ?1",
    [W_DEL_TASKS] = "DELETE FROM tasks WHERE file = ?1",
    [W_DEL_MLINES] = "DELETE FROM mention_lines WHERE file = ?1",
    [W_DEL_QBLOCKS] = "DELETE FROM query_blocks WHERE file = ?1",
    [W_DEL_DIAGS] = "DELETE FROM diags WHERE file = ?1",
    [W_DEL_BODY] = "DELETE FROM mention_doc WHERE file = ?1",
    [W_DEL_TPATH] = "DELETE FROM task_paths WHERE rowid = ?1",
    [W_UNLINK_DST] = "UPDATE links SET dst = NULL WHERE dst = ?1",
    [W_INS_PROPS] = "INSERT INTO properties(file, json) VALUES(?1, ?2)",
    [W_INS_ALIAS] = "INSERT INTO aliases(file, alias, alias_folded) VALUES(?1, ?2, ?3)",
    [W_INS_TAG] = "INSERT INTO tags(file, tag, tag_folded, frontmatter, line, col)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [W_INS_LINK] =
        "INSERT INTO links(src, line, col, offset, len, target, subpath, display, key, embed,"
        " syntax, name1, name2, dst, context, ra, rb, ua, ub) VALUES(?1, ?2, ?3, ?4, ?5, ?6,"
        " ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, ?14, ?15, ?16, ?17, ?18)",
    [W_INS_HEADING] = "INSERT INTO headings(file, level, text, line) VALUES(?1, ?2, ?3, ?4)",
    [W_INS_BLOCK] = "INSERT INTO blocks(file, id, line) VALUES(?1, ?2, ?3)",
    [W_INS_TASK] = "INSERT INTO tasks(file, line, indent, symbol, text, raw, heading, parent_line,"
                   " status_type, due, scheduled, start, created, done, cancelled, priority,"
                   " invalid) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                   " ?15, ?16, ?17)",
    [W_INS_MLINE] = "INSERT INTO mention_lines(file, line, date, title, title_folded)"
                    " VALUES(?1, ?2, ?3, ?4, ?5)",
    [W_INS_QBLOCK] = "INSERT INTO query_blocks(file, line, query) VALUES(?1, ?2, ?3)",
    [W_INS_DIAG] = "INSERT INTO diags(file, severity, line, col, msg) VALUES(?1, ?2, ?3, ?4, ?5)",
    [W_INS_BODY] = "INSERT INTO mention_doc(file, mask) VALUES(?1, ?2)",
    [W_INS_TPATH] = "INSERT INTO task_paths(rowid, path) VALUES(?1, ?2)",
    /* An upsert, not INSERT OR REPLACE: with touched_gen beside the key,
     * REPLACE made the 10k cold index 1.40 -> 2.05 s. */
    [W_TOUCH] = "INSERT INTO touched(file, gen) VALUES(?1, ?2)"
                " ON CONFLICT(file) DO UPDATE SET gen = excluded.gen",
    [W_DIRTY_SRC] = "INSERT OR IGNORE INTO temp.dirty_src(id) VALUES(?1)",
    [W_AFF_NAME] = "INSERT OR IGNORE INTO temp.aff_name(name) VALUES(?1)",
    [W_TODO_PAGE] = "SELECT t.id, l.target, l.dst, s.id, s.path FROM temp.todo t"
                    " JOIN links l ON l.id = t.id JOIN files s ON s.id = l.src"
                    " WHERE t.id > ?1 ORDER BY t.id LIMIT ?2",
    [W_SET_DST] = "UPDATE links SET dst = ?2 WHERE id = ?1",
    [W_BUMP_GEN] = "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
    [W_ALL_PATHS] = "SELECT id, path FROM files ORDER BY path",
    [W_ALL_STATS] = "SELECT path, size, mtime_ns, hash FROM files ORDER BY path",
};

struct qp_store {
    sqlite3 *db;
    qp_store_mode mode;
    bool rebuilt;
    bool in_batch;
    bool changed; /* the open batch wrote something */
    bool bulk;    /* between qp_store_bulk_begin() and qp_store_bulk_end() */
    sqlite3_stmt *stmt[STMT_COUNT];
    /* candidate buffer of qp__store_cands() */
    qp__cand *cands;
    size_t ncands, capcands;
    char *candstr;
    size_t candstr_cap;
    qp_store_stats stats;
    bool defer_ckpt;           /* checkpoints are the owner's (qp_store_defer_checkpoints) */
    int wal_frames;            /* frames in the WAL after the last commit, when deferred */
    qp__search_writer *search; /* search.c's statements (writer only) */
    void *memo;                /* qp__store_memo() */
    void (*memo_free)(void *);
    qp_symcat *symcat;     /* qp_symcat_use(), borrowed */
    qp_taskcat *taskcat;   /* qp_taskcat_use(), borrowed */
    qp_store_parallel par; /* qp_store_set_parallel(); run NULL: in order */
    int64_t batch_gen;     /* the generation the open batch commits as */
};

/* ---- errors and statements ---- */

qp_rc qp__store_sqlite_error(qp_store *st, int src, const char *what, qp_error *err)
{
    qp_rc code;
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        code = QP_ENOMEM;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = QP_EBUSY;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = QP_ECORRUPT;
        break;
    case SQLITE_FULL:
        code = QP_EFULL;
        break;
    default:
        code = QP_EIO;
        break;
    }
    const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src);
    qp_error_set(err, code, "index: %s: %s", what, msg);
    if (err)
        err->sys = src;
    return code;
}

/* Puts statement `id` in *out, prepared once and then reused: reset, with
 * its bindings cleared, borrowed from the store. On failure *out is NULL
 * and the result is SQLite's code mapped to a qp_rc, whether err is NULL
 * or not, so that a QP_ECORRUPT reaches the caller that rebuilds. */
static qp_rc stmt_get(sqlite3_stmt **out, qp_store *st, int id, qp_error *err)
{
    sqlite3_stmt *s = st->stmt[id];
    *out = NULL;
    if (!s) {
        int src = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (src != SQLITE_OK)
            return qp__store_sqlite_error(st, src, "prepare", err);
        st->stmt[id] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    *out = s;
    return QP_OK;
}

qp_rc qp__store_stmt(sqlite3_stmt **out, qp_store *st, qp__stmt_id id, qp_error *err)
{
    return stmt_get(out, st, (int)id, err);
}

sqlite3 *qp__store_db(qp_store *st)
{
    return st->db;
}

void qp_symcat_use(qp_store *st, qp_symcat *c)
{
    st->symcat = c;
}

qp_symcat *qp__store_symcat(qp_store *st)
{
    return st->symcat;
}

void qp_taskcat_use(qp_store *st, qp_taskcat *c)
{
    st->taskcat = c;
}

qp_taskcat *qp__store_taskcat(qp_store *st)
{
    return st->taskcat;
}

void **qp__store_memo(qp_store *st, void (*free_fn)(void *))
{
    st->memo_free = free_fn;
    return &st->memo;
}

/* Runs a statement that returns no rows; resets it. */
static qp_rc step_done(qp_store *st, sqlite3_stmt *s, const char *what, qp_error *err)
{
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return qp__store_sqlite_error(st, src, what, err);
    return QP_OK;
}

static qp_rc bump_generation(qp_store *st, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_BUMP_GEN, err);
    return rc == QP_OK ? step_done(st, s, "generation", err) : rc;
}

static qp_rc exec_sql(qp_store *st, const char *sql, qp_error *err)
{
    int src = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, sql, err);
    return QP_OK;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* BEGIN and COMMIT are prepared statements of the table: run through
 * sqlite3_exec, each was parsed again per request (5% of an uncached
 * backlinks answer). */
bool qp__store_read_begin(qp_store *st)
{
    sqlite3_stmt *s;
    if (!sqlite3_get_autocommit(st->db) || qp__store_stmt(&s, st, QP__S_BEGIN, NULL) != QP_OK)
        return false;
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    return src == SQLITE_DONE;
}

void qp__store_read_end(qp_store *st)
{
    sqlite3_stmt *s;
    for (int i = 0; i < STMT_COUNT; i++)
        if (st->stmt[i])
            sqlite3_reset(st->stmt[i]);
    if (qp__store_stmt(&s, st, QP__S_COMMIT, NULL) == QP_OK) {
        sqlite3_step(s);
        sqlite3_reset(s);
    } else {
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    }
}

/* ---- open / schema ---- */

static qp_rc pragma_int(qp_store *st, const char *sql, int64_t *out, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            src = SQLITE_OK;
        } else if (src == SQLITE_DONE) {
            *out = 0;
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, sql, err);
    return QP_OK;
}

static qp_rc create_schema(qp_store *st, qp_error *err)
{
    qp_rc rc = exec_sql(st, "BEGIN IMMEDIATE", err);
    if (rc != QP_OK)
        return rc;
    for (size_t i = 0; i < sizeof schema_v1 / sizeof schema_v1[0]; i++) {
        rc = exec_sql(st, schema_v1[i], err);
        if (rc != QP_OK)
            goto fail;
    }
    if ((rc = qp__search_schema(st->db, err)) != QP_OK) /* search.c's tables */
        goto fail;
    char sql[96];
    /* Which index this is: a rebuilt one has another epoch (symcat.c). */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(sql, sizeof sql, "INSERT INTO meta VALUES('epoch', %lld)",
             (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if ((rc = exec_sql(st, sql, err)) != QP_OK)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d", QP_STORE_APP_ID);
    if ((rc = exec_sql(st, sql, err)) != QP_OK)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", QP_STORE_SCHEMA);
    if ((rc = exec_sql(st, sql, err)) != QP_OK)
        goto fail;
    return exec_sql(st, "COMMIT", err);
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Schema check for the writer: QP_OK when ready (created or current),
 * QP_ECORRUPT when the file must be rebuilt, other codes for real errors. */
static qp_rc check_or_create(qp_store *st, qp_error *err)
{
    int64_t app = 0, ver = 0, ntables = 0;
    qp_rc rc = pragma_int(st, "PRAGMA application_id", &app, err);
    if (rc == QP_OK)
        rc = pragma_int(st, "PRAGMA user_version", &ver, err);
    if (rc == QP_OK)
        rc = pragma_int(st, "SELECT count(*) FROM sqlite_master", &ntables, err);
    if (rc != QP_OK)
        return rc;
    if (ntables == 0 && app == 0 && ver == 0)
        return create_schema(st, err);
    if (app != QP_STORE_APP_ID || ver != QP_STORE_SCHEMA) {
        /* An older schema is not migrated: the index is a cache, so
         * anything but the current version is rebuilt empty and rescanned. */
        return qp_error_set(err, QP_ECORRUPT,
                            "index: unknown schema (application_id %lld,"
                            " version %lld)",
                            (long long)app, (long long)ver);
    }
    int64_t gen = 0;
    return pragma_int(st, "SELECT value FROM meta WHERE key = 'generation'", &gen, err);
}

/* ---- the index's files ---- */

/* Every file SQLite may keep for a database: the database itself, the WAL
 * and its shared-memory index (journal_mode = WAL), and the rollback
 * journal (a database last written before WAL was set, or by a tool). The
 * only list of them: deletion, size and the daemon's ignore rules use it. */
static const char *const index_suffixes[] = {"", "-wal", "-shm", "-journal"};
#define N_INDEX_SUFFIXES (sizeof index_suffixes / sizeof index_suffixes[0])
#define MAX_SUFFIX_LEN   8 /* strlen("-journal") */

const char *qp_store_index_file(const char *db_path, size_t i, char *buf, size_t bufsize)
{
    if (i >= N_INDEX_SUFFIXES)
        return NULL;
    int n = snprintf(buf, bufsize, "%s%s", db_path, index_suffixes[i]);
    return n >= 0 && (size_t)n < bufsize ? buf : NULL;
}

bool qp_store_is_index_file(const char *db_path, const char *path)
{
    size_t n = strlen(db_path);
    if (n == 0 || strncmp(path, db_path, n) != 0)
        return false;
    for (size_t i = 0; i < N_INDEX_SUFFIXES; i++)
        if (strcmp(path + n, index_suffixes[i]) == 0)
            return true;
    return false;
}

qp_rc qp_store_remove_files(const char *db_path, qp_error *err)
{
    qp_rc rc = QP_OK;
    size_t cap = strlen(db_path) + MAX_SUFFIX_LEN + 1;
    char *p = malloc(cap);
    if (!p)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    for (size_t i = 0; i < N_INDEX_SUFFIXES; i++) {
        qp_store_index_file(db_path, i, p, cap);
        if (unlink(p) != 0 && errno != ENOENT && rc == QP_OK) {
            int e = errno;
            rc = qp_error_set(err, QP_EIO, "%s: %s", p, strerror(e));
            if (err)
                err->sys = e;
        }
    }
    free(p);
    return rc;
}

/* SQLite's memory statistics (on unless a build turns them off) take one
 * process-wide mutex around every allocation SQLite makes; quipu never
 * reads them, and with two readers answering at once that mutex was
 * contended on every row (a tenth of an uncached backlinks request at 100k
 * notes, futex wake-ups included). It must be set before SQLite
 * initializes; when the program has already initialized SQLite itself,
 * the call fails and changes nothing, which is harmless. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static qp_rc open_db(qp_store *st, const char *db_path, int flags, qp_error *err)
{
    pthread_once(&sqlite_once, sqlite_config);
    int src = sqlite3_open_v2(db_path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        qp_rc rc = qp__store_sqlite_error(st, src, db_path, err);
        sqlite3_close(st->db);
        st->db = NULL;
        return rc;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, 5000);
    return QP_OK;
}

/* Size of the index's files in bytes (0 when absent). */
static int64_t db_bytes(const char *db_path)
{
    struct stat sb;
    int64_t n = 0;
    char p[PATH_MAX + MAX_SUFFIX_LEN + 1]; /* no allocation: the result decides the check */
    for (size_t i = 0; qp_store_index_file(db_path, i, p, sizeof p); i++)
        if (stat(p, &sb) == 0)
            n += (int64_t)sb.st_size;
    return n;
}

/* The damage check of a write open. A header can be intact while b-tree
 * pages are junk (a bad disk, a copy cut short, a stray write): SQLite only
 * notices when a statement touches such a page, and then every query that
 * does fails forever. PRAGMA quick_check reads every page (O(size), about
 * a second per few hundred MB warm), so it runs when it is cheap (the files
 * are at most QP_STORE_CHECK_BYTES) or when the last writer did not close
 * cleanly (meta.clean is 0 or missing: a crash, or power lost during a
 * bulk load with synchronous = OFF). A big index closed cleanly is trusted;
 * damage found later still surfaces as QP_ECORRUPT from any call, and the
 * caller rebuilds. QP_ECORRUPT when damaged. */
static qp_rc damage_check(qp_store *st, int64_t bytes, qp_error *err)
{
    int64_t clean = 0;
    qp_rc rc = pragma_int(st, "SELECT value FROM meta WHERE key = 'clean'", &clean, err);
    if (rc != QP_OK)
        return rc;
    if (clean == 1 && bytes > QP_STORE_CHECK_BYTES)
        return QP_OK;
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(s);
        if (src == SQLITE_ROW) {
            const char *r = (const char *)sqlite3_column_text(s, 0);
            if (!r || strcmp(r, "ok") != 0) {
                rc = qp_error_set(err, QP_ECORRUPT, "index: damaged: %s", r ? r : "?");
                sqlite3_finalize(s);
                return rc;
            }
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    if (src != SQLITE_OK && src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "quick_check", err);
    /* The check filled the page cache with every page it read (tens of
     * megabytes at 100k notes) that the writer rarely needs again. */
    sqlite3_db_release_memory(st->db);
    return QP_OK;
}

/* Marks the index as open by a writer (meta.clean = 0) until
 * qp_store_close() sets it back to 1. */
static qp_rc set_clean(qp_store *st, int value, qp_error *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(key, value) VALUES('clean', %d)", value);
    return exec_sql(st, sql, err);
}

static qp_rc writer_setup(qp_store *st, int64_t bytes, qp_error *err)
{
    qp_rc rc = exec_sql(st, "PRAGMA journal_mode = WAL", err);
    if (rc == QP_OK)
        rc = exec_sql(st, "PRAGMA synchronous = NORMAL", err);
    if (rc == QP_OK)
        rc = exec_sql(st, "PRAGMA temp_store = MEMORY", err);
    if (rc == QP_OK)
        rc = exec_sql(st, "PRAGMA cache_size = -32768", err);
    /* A WAL never shrinks by itself: after a checkpoint, cut it back. */
    if (rc == QP_OK)
        rc = exec_sql(st, "PRAGMA journal_size_limit = 16777216", err);
    if (rc == QP_OK)
        rc = check_or_create(st, err);
    if (rc == QP_OK) {
        /* A bulk load that never ended left links unresolved and indexes
         * dropped: start over. */
        int64_t bulk = 0;
        rc = pragma_int(st, "SELECT value FROM meta WHERE key = 'bulk'", &bulk, err);
        if (rc == QP_OK && bulk)
            rc = qp_error_set(err, QP_ECORRUPT, "index: a bulk load was interrupted");
    }
    if (rc == QP_OK)
        rc = damage_check(st, bytes, err);
    if (rc == QP_OK)
        rc = set_clean(st, 0, err);
    return rc;
}

static qp_rc writer_temp_tables(qp_store *st, qp_error *err)
{
    return exec_sql(st,
                    "CREATE TEMP TABLE IF NOT EXISTS dirty_src(id INTEGER PRIMARY KEY);"
                    "CREATE TEMP TABLE IF NOT EXISTS aff_name(name TEXT PRIMARY KEY) WITHOUT ROWID;"
                    "CREATE TEMP TABLE IF NOT EXISTS todo(id INTEGER PRIMARY KEY);",
                    err);
}

qp_rc qp_store_open(qp_store **out, const char *db_path, qp_store_mode mode, qp_error *err)
{
    qp_rc rc = QP_OK;
    *out = NULL;
    qp_store *st = calloc(1, sizeof *st);
    if (!st)
        return qp_error_set(err, QP_ENOMEM, "out of memory opening the index");
    st->mode = mode;

    if (mode == QP_STORE_READ) {
        if (access(db_path, F_OK) != 0) {
            rc = qp_error_set(err, QP_ECORRUPT, "index: %s: no index", db_path);
            goto fail;
        }
        rc = open_db(st, db_path, SQLITE_OPEN_READONLY, err);
        if (rc != QP_OK)
            goto fail;
        /* The doclists of a common name and the files rows of its sources
         * are re-read by every mentions query: keep them (8 MiB per reader,
         * against SQLite's 2 MiB default). */
        sqlite3_exec(st->db, "PRAGMA cache_size = -8192", NULL, NULL, NULL);
        int64_t app = 0, ver = 0;
        rc = pragma_int(st, "PRAGMA application_id", &app, err);
        if (rc == QP_OK)
            rc = pragma_int(st, "PRAGMA user_version", &ver, err);
        if (rc == QP_OK && (app != QP_STORE_APP_ID || ver != QP_STORE_SCHEMA))
            rc = qp_error_set(err, QP_ECORRUPT, "index: %s: not a quipu index of version %d",
                              db_path, QP_STORE_SCHEMA);
        if (rc != QP_OK)
            goto fail;
        *out = st;
        return QP_OK;
    }

    int64_t bytes = db_bytes(db_path);
    rc = open_db(st, db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
    if (rc != QP_OK)
        goto fail;
    rc = writer_setup(st, bytes, err);
    if (rc == QP_ECORRUPT) {
        /* The index is a cache: throw a corrupt, foreign or newer one away. */
        sqlite3_close(st->db);
        st->db = NULL;
        qp_store_remove_files(db_path, NULL); /* what is left makes the open fail */
        rc = open_db(st, db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
        if (rc == QP_OK)
            rc = writer_setup(st, 0, err);
        st->rebuilt = true;
    }
    if (rc == QP_OK)
        rc = writer_temp_tables(st, err);
    if (rc != QP_OK)
        goto fail;
    qp_error_clear(err);
    *out = st;
    return QP_OK;
fail:
    qp_store_close(st);
    return rc;
}

void qp_store_close(qp_store *st)
{
    if (!st)
        return;
    if (st->in_batch)
        qp_store_rollback(st);
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    qp__search_writer_free(st->search);
    if (st->memo && st->memo_free)
        st->memo_free(st->memo);
    if (st->mode == QP_STORE_WRITE && st->db && sqlite3_get_autocommit(st->db)) {
        /* A clean close: the next write open may skip the damage check, and
         * the WAL goes back into the database so the index is one file. */
        if (set_clean(st, 1, NULL) == QP_OK)
            sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    }
    sqlite3_close(st->db);
    free(st->cands);
    free(st->candstr);
    free(st);
}

bool qp_store_rebuilt(const qp_store *st)
{
    return st->rebuilt;
}

int64_t qp_store_generation(qp_store *st)
{
    sqlite3_stmt *s;
    if (stmt_get(&s, st, QP__S_GENERATION, NULL) != QP_OK)
        return 0;
    int64_t g = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return g;
}

qp_rc qp__store_epoch(qp_store *st, int64_t *out, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    *out = 0;
    int src =
        sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = 'epoch'", -1, &s, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return src == SQLITE_ROW || src == SQLITE_DONE ? QP_OK
                                                   : qp__store_sqlite_error(st, src, "index", err);
}

qp_rc qp__store_touched_since(qp_store *st, int64_t gen, int64_t **ids, size_t *n, qp_error *err)
{
    sqlite3_stmt *s = NULL;
    int64_t *v = NULL;
    size_t k = 0, cap = 0;
    qp_rc rc = QP_OK;
    *ids = NULL;
    *n = 0;
    int src = sqlite3_prepare_v2(st->db, "SELECT file FROM touched WHERE gen > ?1", -1, &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, gen);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            if (k == cap) {
                cap = cap ? cap * 2 : 64;
                int64_t *nv = realloc(v, cap * sizeof *nv);
                if (nv == NULL) {
                    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                    break;
                }
                v = nv;
            }
            v[k++] = sqlite3_column_int64(s, 0);
        }
    }
    sqlite3_finalize(s);
    if (rc == QP_OK && src != SQLITE_DONE)
        rc = qp__store_sqlite_error(st, src, "index", err);
    if (rc != QP_OK) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = k;
    return QP_OK;
}

void qp_store_set_parallel(qp_store *st, const qp_store_parallel *p)
{
    if (p)
        st->par = *p;
    else
        memset(&st->par, 0, sizeof st->par);
}

void qp__store_parallel(qp_store *st, qp_store_task_fn fn, void *arg, size_t n)
{
    if (st->par.run && n > 1) {
        st->par.run(st->par.ctx, fn, arg, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        fn(arg, i);
}

void qp_store_get_stats(const qp_store *st, qp_store_stats *out)
{
    *out = st->stats;
}

/* ---- candidates for the resolver ---- */

qp_rc qp__store_cands(const qp__cand **out, size_t *n, const char *name_folded, void *payload,
                      qp_error *err)
{
    qp_store *st = payload;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, QP__S_FILES_BY_NAME, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_text(s, 1, name_folded, -1, SQLITE_STATIC);
    size_t nc = 0, used = 0;
    int src;
    /* Strings go to one buffer; offsets are turned into pointers at the end
     * because the buffer may move while growing. */
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 1);
        const char *pf = (const char *)sqlite3_column_text(s, 2);
        size_t pl = strlen(p ? p : "") + 1, pfl = strlen(pf ? pf : "") + 1;
        if (nc == st->capcands) {
            size_t cap = st->capcands ? st->capcands * 2 : 8;
            qp__cand *c = realloc(st->cands, cap * sizeof *c);
            if (!c)
                goto oom;
            st->cands = c;
            st->capcands = cap;
        }
        if (used + pl + pfl > st->candstr_cap) {
            size_t cap = st->candstr_cap ? st->candstr_cap : 256;
            while (cap < used + pl + pfl)
                cap *= 2;
            char *b = realloc(st->candstr, cap);
            if (!b)
                goto oom;
            st->candstr = b;
            st->candstr_cap = cap;
        }
        st->cands[nc].id = sqlite3_column_int64(s, 0);
        memcpy(st->candstr + used, p ? p : "", pl);
        st->cands[nc].path = (const char *)(uintptr_t)used;
        used += pl;
        memcpy(st->candstr + used, pf ? pf : "", pfl);
        st->cands[nc].path_folded = (const char *)(uintptr_t)used;
        used += pfl;
        nc++;
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "file names", err);
    for (size_t i = 0; i < nc; i++) {
        st->cands[i].path = st->candstr + (uintptr_t)st->cands[i].path;
        st->cands[i].path_folded = st->candstr + (uintptr_t)st->cands[i].path_folded;
    }
    *out = st->cands;
    *n = nc;
    return QP_OK;
oom:
    sqlite3_reset(s);
    return qp_error_set(err, QP_ENOMEM, "out of memory resolving links");
}

/* ---- the mention mask ---- */

static bool build_mask(const char *src, const char *mention, size_t len, uint32_t **out,
                       size_t *nbytes)
{
    uint32_t *runs = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *nbytes = 0;
    for (size_t i = 0; i < len;) {
        if (mention[i] == src[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && mention[j] != src[j])
            j++;
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *r = realloc(runs, cap * sizeof *r);
            if (!r) {
                free(runs);
                return false;
            }
            runs = r;
        }
        runs[n++] = (uint32_t)i;
        runs[n++] = (uint32_t)(j - i);
        i = j;
    }
    *out = runs;
    *nbytes = n * sizeof *runs;
    return true;
}

char *qp__store_apply_mask(const char *src, size_t len, const void *mask, size_t masklen)
{
    char *t = malloc(len + 1);
    if (!t)
        return NULL;
    if (len)
        memcpy(t, src, len);
    t[len] = '\0';
    size_t nruns = masklen / (2 * sizeof(uint32_t));
    const unsigned char *m = mask;
    for (size_t r = 0; r < nruns; r++) {
        uint32_t at, n;
        memcpy(&at, m + r * 8, 4);
        memcpy(&n, m + r * 8 + 4, 4);
        if ((size_t)at + n <= len)
            memset(t + at, ' ', n);
    }
    return t;
}

/* ---- batches ---- */

qp_rc qp_store_begin(qp_store *st, qp_error *err)
{
    if (st->mode != QP_STORE_WRITE)
        return qp_error_set(err, QP_EINVAL, "index: opened read-only");
    if (st->in_batch)
        return qp_error_set(err, QP_EINVAL, "index: a batch is already open");
    qp_rc rc = exec_sql(st, "BEGIN IMMEDIATE", err);
    if (rc != QP_OK)
        return rc;
    st->in_batch = true;
    st->changed = false;
    st->batch_gen = qp_store_generation(st) + 1; /* what a commit makes */
    return QP_OK;
}

static qp_rc need_batch(qp_store *st, qp_error *err)
{
    if (!st->in_batch)
        return qp_error_set(err, QP_EINVAL, "index: write outside a batch");
    return QP_OK;
}

static qp_rc run_id(qp_store *st, int id, int64_t file, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, id, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, file);
    return step_done(st, s, stmt_sql[id], err);
}

/* Records that file `id` changes in the open batch (symcat.c reads it).
 * Not during a bulk load: its end gives the index a new epoch, which makes
 * a catalogue read everything again. */
static qp_rc touch(qp_store *st, int64_t id, qp_error *err)
{
    if (st->bulk)
        return QP_OK;
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_TOUCH, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, st->batch_gen);
    return step_done(st, s, "touched", err);
}

static qp_rc mark_name(qp_store *st, const char *name_folded, qp_error *err)
{
    if (st->bulk) /* qp_store_bulk_end() resolves every link */
        return QP_OK;
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_AFF_NAME, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_text(s, 1, name_folded, -1, SQLITE_STATIC);
    return step_done(st, s, "affected names", err);
}

/* Drops every row a file owns (its mention postings stay, unreachable). */
static qp_rc clear_children(qp_store *st, int64_t id, qp_error *err)
{
    qp_rc rc = QP_OK;
    static const int dels[] = {W_DEL_PROPS,    W_DEL_ALIASES, W_DEL_TAGS,  W_DEL_LINKS,
                               W_DEL_HEADINGS, W_DEL_BLOCKS,  W_DEL_TASKS, W_DEL_MLINES,
                               W_DEL_QBLOCKS,  W_DEL_DIAGS,   W_DEL_BODY,  W_DEL_TPATH};
    for (size_t i = 0; i < sizeof dels / sizeof dels[0] && rc == QP_OK; i++)
        rc = run_id(st, dels[i], id, err);
    if (rc == QP_OK) /* the note's words in the search index */
        rc = qp__search_remove(st->db, &st->search, id, err);
    return rc;
}

typedef struct file_row {
    int64_t id;
    qp_file_stat fs;
    bool is_note;
} file_row;

/* Looks a path up: QP_OK with row filled, QP_ENOTFOUND, or an error. */
static qp_rc find_file(qp_store *st, const char *path, file_row *row, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, QP__S_FILE_BY_PATH, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        row->id = sqlite3_column_int64(s, 0);
        row->fs.size = sqlite3_column_int64(s, 1);
        row->fs.mtime_ns = sqlite3_column_int64(s, 2);
        row->fs.hash = (uint64_t)sqlite3_column_int64(s, 3);
        row->is_note = sqlite3_column_int(s, 4) != 0;
        sqlite3_reset(s);
        return QP_OK;
    }
    sqlite3_reset(s);
    if (src == SQLITE_DONE)
        return QP_ENOTFOUND;
    return qp__store_sqlite_error(st, src, "files", err);
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Inserts or updates the files row; *id receives its id; new names are
 * marked as affected. `note` may be NULL (attachment). */
static qp_rc upsert_file(qp_store *st, const char *path, const qp_file_stat *fs,
                         const qp_note *note, int64_t *id, qp_error *err)
{
    qp_rc rc = QP_OK;
    char *title_folded = NULL, *path_folded = NULL, *name_folded = NULL;
    file_row row;
    const char *title = note ? qp_note_title(note) : NULL;
    if (title) {
        title_folded = qp_text_fold(title, strlen(title), NULL);
        if (!title_folded)
            goto oom;
    }
    int kind = note ? (int)qp_note_kind_of(note) : 0;
    const char *date = note ? qp_note_date(note) : NULL;

    rc = find_file(st, path, &row, err);
    if (rc == QP_OK) {
        rc = clear_children(st, row.id, err);
        if (rc != QP_OK)
            goto cleanup;
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_UPDATE_FILE, err)) != QP_OK)
            goto cleanup;
        sqlite3_bind_int64(s, 1, row.id);
        sqlite3_bind_int(s, 2, note != NULL);
        sqlite3_bind_int(s, 3, kind);
        bind_text_or_null(s, 4, title);
        bind_text_or_null(s, 5, title_folded);
        bind_text_or_null(s, 6, date);
        sqlite3_bind_int64(s, 7, fs->size);
        sqlite3_bind_int64(s, 8, fs->mtime_ns);
        sqlite3_bind_int64(s, 9, (sqlite3_int64)fs->hash);
        rc = step_done(st, s, "update file", err);
        *id = row.id;
        if (rc == QP_OK)
            rc = touch(st, row.id, err);
        goto cleanup;
    }
    if (rc != QP_ENOTFOUND)
        goto cleanup;
    rc = QP_OK;
    path_folded = qp_text_fold(path, strlen(path), NULL);
    const char *base = basename_of(path);
    name_folded = qp_text_fold(base, strlen(base), NULL);
    if (!path_folded || !name_folded)
        goto oom;
    sqlite3_stmt *s;
    if ((rc = stmt_get(&s, st, W_INSERT_FILE, err)) != QP_OK)
        goto cleanup;
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path_folded, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name_folded, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, note != NULL);
    sqlite3_bind_int(s, 5, kind);
    bind_text_or_null(s, 6, title);
    bind_text_or_null(s, 7, title_folded);
    bind_text_or_null(s, 8, date);
    sqlite3_bind_int64(s, 9, fs->size);
    sqlite3_bind_int64(s, 10, fs->mtime_ns);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)fs->hash);
    rc = step_done(st, s, "insert file", err);
    if (rc != QP_OK)
        goto cleanup;
    *id = sqlite3_last_insert_rowid(st->db);
    rc = touch(st, *id, err);
    if (rc == QP_OK)
        rc = mark_name(st, name_folded, err);
    goto cleanup;

oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory indexing %s", path);
cleanup:
    free(title_folded);
    free(path_folded);
    free(name_folded);
    return rc;
}

static json_t *value_to_json(const qp_value *v)
{
    if (!v)
        return json_null();
    switch (v->type) {
    case QP_VALUE_NULL:
        return json_null();
    case QP_VALUE_BOOL:
        return json_boolean(v->u.b);
    case QP_VALUE_INT:
        return json_integer(v->u.i);
    case QP_VALUE_REAL: {
        json_t *r = json_real(v->u.r); /* NULL for NaN and infinities */
        return r ? r : json_null();
    }
    case QP_VALUE_STRING:
    case QP_VALUE_DATE:
    case QP_VALUE_DATETIME:
        return json_stringn(v->u.str.s, v->u.str.len);
    case QP_VALUE_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->u.list.n; i++)
            json_array_append_new(a, value_to_json(&v->u.list.items[i]));
        return a;
    }
    case QP_VALUE_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; o && i < v->u.map.n; i++)
            json_object_set_new(o, v->u.map.keys[i], value_to_json(&v->u.map.vals[i]));
        return o;
    }
    }
    return json_null();
}

/* The span of 1-based `line` in src (without its line ending). */
static void line_span(const char *src, size_t len, const size_t *starts, size_t nlines,
                      uint32_t line, size_t *off, size_t *n)
{
    *off = 0;
    *n = 0;
    if (line == 0 || line > nlines)
        return;
    size_t a = starts[line - 1];
    size_t b = a;
    while (b < len && src[b] != '\n')
        b++;
    if (b > a && src[b - 1] == '\r')
        b--;
    *off = a;
    *n = b - a;
}

/* Byte offsets where each line starts; *n lines. New, free(). */
static size_t *line_starts(const char *src, size_t len, size_t *n)
{
    size_t count = 1;
    for (size_t i = 0; i < len; i++)
        count += src[i] == '\n';
    size_t *v = malloc(count * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    v[k++] = 0;
    for (size_t i = 0; i < len; i++)
        if (src[i] == '\n')
            v[k++] = i + 1;
    *n = k;
    return v;
}

/* Binds the parsed columns of a tasks row (status_type, the six dates,
 * priority, invalid) from `i` on: the line parsed with the default
 * settings. A line that is then no task gets NULLs. Allocations go to `arena` (one per note;
 * the strings are not kept). */
static qp_rc bind_task_fields(sqlite3_stmt *s, int i, const char *raw, qp_arena *arena,
                              qp_error *err)
{
    qp_task t;
    bool is_task = false;
    qp_rc rc = qp_task_parse_line(&t, &is_task, raw, strlen(raw), "", NULL, NULL, arena, err);
    if (rc != QP_OK)
        return rc;
    if (!is_task) {
        for (int k = 0; k < 3 + QP_TASK_NDATES; k++)
            sqlite3_bind_null(s, i + k);
        return QP_OK;
    }
    sqlite3_bind_int(s, i, (int)t.status_type);
    for (int f = 0; f < QP_TASK_NDATES; f++) {
        if (t.dates[f] != 0 && !(t.invalid_dates & (1u << f)))
            sqlite3_bind_int(s, i + 1 + f, t.dates[f]);
        else
            sqlite3_bind_null(s, i + 1 + f);
    }
    sqlite3_bind_int(s, i + 1 + QP_TASK_NDATES, (int)t.priority);
    if (t.invalid_dates)
        sqlite3_bind_int(s, i + 2 + QP_TASK_NDATES, (int)t.invalid_dates);
    else
        sqlite3_bind_null(s, i + 2 + QP_TASK_NDATES);
    return QP_OK;
}

/* One diags row of file `id`. */
static qp_rc insert_diag(qp_store *st, int64_t id, const qp_diag *d, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_INS_DIAG, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, (int)d->severity);
    sqlite3_bind_int64(s, 3, d->line);
    sqlite3_bind_int64(s, 4, d->col);
    sqlite3_bind_text(s, 5, d->msg ? d->msg : "", -1, SQLITE_STATIC);
    return step_done(st, s, "diagnostics", err);
}

/* The rows of one note, one function per table. Each binds and steps its
 * inserts and frees what it allocated, whatever happens; `id` is the
 * note's files.id. */
typedef qp_rc (*rows_fn)(qp_store *st, int64_t id, const qp_note *note, qp_error *err);

static qp_rc oom_for(const qp_note *note, qp_error *err)
{
    return qp_error_set(err, QP_ENOMEM, "out of memory indexing %s", qp_note_path(note));
}

static qp_rc put_props(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    const qp_value *props = qp_note_properties(note);
    if (!props)
        return QP_OK;
    json_t *j = value_to_json(props);
    char *json = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!json)
        return oom_for(note, err);
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_INS_PROPS, err);
    if (rc == QP_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, json, -1, SQLITE_STATIC);
        rc = step_done(st, s, "properties", err);
    }
    free(json);
    return rc;
}

/* One row of (file, text, fold(text)) through statement `sid`. */
static qp_rc put_folded(qp_store *st, int sid, int64_t id, const char *text, const char *what,
                        const qp_note *note, qp_error *err)
{
    char *folded = qp_text_fold(text, strlen(text), NULL);
    if (!folded)
        return oom_for(note, err);
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, sid, err);
    if (rc == QP_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, folded, -1, SQLITE_STATIC);
        rc = step_done(st, s, what, err);
    }
    free(folded);
    return rc;
}

static qp_rc put_aliases(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const char *const *aliases = qp_note_aliases(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++)
        rc = put_folded(st, W_INS_ALIAS, id, aliases[i], "aliases", note, err);
    return rc;
}

static qp_rc put_tags(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const qp_tag *tags = qp_note_tags(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        char *folded = qp_text_fold(tags[i].tag, strlen(tags[i].tag), NULL);
        if (!folded)
            return oom_for(note, err);
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_INS_TAG, err)) == QP_OK) {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_text(s, 2, tags[i].tag, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, folded, -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 4, tags[i].frontmatter);
            sqlite3_bind_int64(s, 5, tags[i].line);
            sqlite3_bind_int64(s, 6, tags[i].col);
            rc = step_done(st, s, "tags", err);
        }
        free(folded);
    }
    return rc;
}

void qp__link_span(const char *line, size_t n, int64_t col, int64_t len, size_t *a, size_t *b)
{
    size_t s = col > 0 ? (size_t)col - 1 : 0, e;
    if (s > n)
        s = n;
    e = len > 0 && (size_t)len <= n - s ? s + (size_t)len : n;
    if (e - s >= 2 && (line[s] == '"' || line[s] == '\'') && line[e - 1] == line[s]) {
        s++;
        e--;
    }
    *a = s;
    *b = e;
}

/* One link row; its context is the link's source line. */
static qp_rc put_link(qp_store *st, int64_t id, const qp_link *l, const char *line, size_t linelen,
                      const qp_note *note, qp_error *err)
{
    const char *target = l->target ? l->target : "";
    char *name1 = NULL, *name2 = NULL;
    if (qp__link_names(&name1, &name2, target) != QP_OK)
        return oom_for(note, err);
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_INS_LINK, err);
    if (rc == QP_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, l->line);
        sqlite3_bind_int64(s, 3, l->col);
        sqlite3_bind_int64(s, 4, l->offset);
        sqlite3_bind_int64(s, 5, l->len);
        sqlite3_bind_text(s, 6, target, -1, SQLITE_STATIC);
        bind_text_or_null(s, 7, l->subpath);
        bind_text_or_null(s, 8, l->display);
        bind_text_or_null(s, 9, l->key);
        sqlite3_bind_int(s, 10, l->embed);
        sqlite3_bind_int(s, 11, (int)l->syntax);
        bind_text_or_null(s, 12, name1);
        bind_text_or_null(s, 13, name2);
        sqlite3_bind_text(s, 14, line, (int)linelen, SQLITE_STATIC);
        size_t a, b;
        qp__link_span(line, linelen, l->col, l->len, &a, &b);
        sqlite3_bind_int64(s, 15, (sqlite3_int64)a);
        sqlite3_bind_int64(s, 16, (sqlite3_int64)b);
        size_t ua = qp_text_units(line, a, 16);
        sqlite3_bind_int64(s, 17, (sqlite3_int64)ua);
        sqlite3_bind_int64(s, 18, (sqlite3_int64)(ua + qp_text_units(line + a, b - a, 16)));
        rc = step_done(st, s, "links", err);
    }
    free(name1);
    free(name2);
    return rc;
}

static qp_rc put_links(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n, slen = 0, nlines = 0;
    const qp_link *links = qp_note_links(note, &n);
    if (n == 0)
        return QP_OK;
    const char *source = qp_note_source(note, &slen);
    if (!source) {
        source = "";
        slen = 0;
    }
    size_t *starts = line_starts(source, slen, &nlines);
    if (!starts)
        return oom_for(note, err);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        size_t coff, clen;
        line_span(source, slen, starts, nlines, links[i].line, &coff, &clen);
        rc = put_link(st, id, &links[i], source + coff, clen, note, err);
    }
    free(starts);
    return rc;
}

static qp_rc put_headings(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const qp_heading *hs = qp_note_headings(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_INS_HEADING, err)) != QP_OK)
            break;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int(s, 2, hs[i].level);
        sqlite3_bind_text(s, 3, hs[i].text ? hs[i].text : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, hs[i].line);
        rc = step_done(st, s, "headings", err);
    }
    return rc;
}

static qp_rc put_blocks(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const qp_block_id *bs = qp_note_blocks(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_INS_BLOCK, err)) != QP_OK)
            break;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, bs[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, bs[i].line);
        rc = step_done(st, s, "blocks", err);
    }
    return rc;
}

/* One tasks row: the line as stored, plus its parsed prefilter columns
 * (strings of the parse go to `arena`). */
static qp_rc put_task(qp_store *st, int64_t id, const qp_note *note, size_t i, qp_arena *arena,
                      qp_error *err)
{
    size_t ntasks, nheadings;
    const qp_task_line *ts = qp_note_tasks(note, &ntasks);
    const qp_heading *hs = qp_note_headings(note, &nheadings);
    const qp_task_line *t = &ts[i];
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_INS_TASK, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, t->line);
    sqlite3_bind_int64(s, 3, t->indent);
    sqlite3_bind_text(s, 4, t->symbol ? t->symbol : " ", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, t->text ? t->text : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, t->raw ? t->raw : "", -1, SQLITE_STATIC);
    if (t->heading >= 0 && (size_t)t->heading < nheadings)
        sqlite3_bind_text(s, 7, hs[t->heading].text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 7);
    uint32_t parent_line = t->parent >= 0 && (size_t)t->parent < ntasks ? ts[t->parent].line : 0;
    sqlite3_bind_int64(s, 8, parent_line);
    rc = bind_task_fields(s, 9, t->raw ? t->raw : "", arena, err);
    if (rc != QP_OK) {
        sqlite3_reset(s);
        return rc;
    }
    return step_done(st, s, "tasks", err);
}

/* The note's tasks, and its folded path in task_paths when it has any. */
static qp_rc put_tasks(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t ntasks;
    qp_note_tasks(note, &ntasks);
    if (ntasks == 0)
        return QP_OK;
    qp_arena *arena = qp_arena_new();
    if (!arena)
        return oom_for(note, err);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < ntasks && rc == QP_OK; i++)
        rc = put_task(st, id, note, i, arena, err);
    qp_arena_free(arena);
    if (rc != QP_OK)
        return rc;
    const char *path = qp_note_path(note);
    char *folded = qp_text_fold(path, strlen(path), NULL);
    if (!folded)
        return oom_for(note, err);
    sqlite3_stmt *s;
    if ((rc = stmt_get(&s, st, W_INS_TPATH, err)) == QP_OK) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, folded, -1, SQLITE_STATIC);
        rc = step_done(st, s, "task paths", err);
    }
    free(folded);
    return rc;
}

static qp_rc put_mention_lines(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const qp_mention_line *ml = qp_note_mention_lines(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        const char *title = ml[i].title ? ml[i].title : "";
        char *folded = qp_text_fold(title, strlen(title), NULL);
        if (!folded)
            return oom_for(note, err);
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_INS_MLINE, err)) == QP_OK) {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_int64(s, 2, ml[i].line);
            bind_text_or_null(s, 3, ml[i].date);
            sqlite3_bind_text(s, 4, title, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 5, folded, -1, SQLITE_STATIC);
            rc = step_done(st, s, "mention lines", err);
        }
        free(folded);
    }
    return rc;
}

static qp_rc put_query_blocks(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const qp_query_block *qb = qp_note_query_blocks(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++) {
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_INS_QBLOCK, err)) != QP_OK)
            break;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, qb[i].line);
        sqlite3_bind_text(s, 3, qb[i].query ? qb[i].query : "", -1, SQLITE_STATIC);
        rc = step_done(st, s, "query blocks", err);
    }
    return rc;
}

static qp_rc put_diags(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t n;
    const qp_diag *ds = qp_note_diags(note, &n);
    qp_rc rc = QP_OK;
    for (size_t i = 0; i < n && rc == QP_OK; i++)
        rc = insert_diag(st, id, &ds[i], err);
    return rc;
}

/* The note's mention document: a mention_doc row with the mask of the runs
 * its mention text blanks (the words themselves are in the search index). */
static qp_rc put_mention_doc(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    size_t slen = 0, mlen = 0, masklen = 0;
    const char *source = qp_note_source(note, &slen);
    if (!source) {
        source = "";
        slen = 0;
    }
    const char *mention = qp_note_mention_text(note, &mlen);
    char *blank = NULL;
    uint32_t *mask = NULL;
    qp_rc rc = QP_OK;
    if (!mention || mlen != slen) {
        /* No usable mention text: nothing of it can be a mention. */
        if (!(blank = malloc(slen + 1)))
            goto oom;
        memset(blank, ' ', slen);
        blank[slen] = '\0';
        mention = blank;
    }
    if (!build_mask(source, mention, slen, &mask, &masklen))
        goto oom;
    sqlite3_stmt *s;
    if ((rc = stmt_get(&s, st, W_INS_BODY, err)) != QP_OK)
        goto cleanup;
    sqlite3_bind_int64(s, 1, id);
    if (mask)
        sqlite3_bind_blob(s, 2, mask, (int)masklen, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 2);
    rc = step_done(st, s, "mention doc", err);
    goto cleanup;
oom:
    rc = oom_for(note, err);
cleanup:
    free(blank);
    free(mask);
    return rc;
}

/* Every row a note owns besides its files row, table by table; the note
 * is then a dirty source whose links the commit resolves. */
static qp_rc insert_note_rows(qp_store *st, int64_t id, const qp_note *note, qp_error *err)
{
    static const rows_fn parts[] = {
        put_props, put_aliases,       put_tags,         put_links, put_headings,   put_blocks,
        put_tasks, put_mention_lines, put_query_blocks, put_diags, put_mention_doc};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        qp_rc rc = parts[i](st, id, note, err);
        if (rc != QP_OK)
            return rc;
    }
    if (st->bulk) /* qp_store_bulk_end() resolves every link */
        return QP_OK;
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_DIRTY_SRC, err);
    if (rc != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    return step_done(st, s, "dirty sources", err);
}

qp_rc qp_store_put_note(qp_store *st, const char *path, const qp_file_stat *fs, const qp_note *note,
                        qp_error *err)
{
    qp_rc rc = need_batch(st, err);
    if (rc != QP_OK)
        return rc;
    int64_t id = 0;
    rc = upsert_file(st, path, fs, note, &id, err);
    if (rc == QP_OK)
        rc = insert_note_rows(st, id, note, err);
    if (rc == QP_OK) /* the note's words in the search index */
        rc = qp__search_put(st->db, &st->search, id, note, err);
    if (rc == QP_OK)
        st->changed = true;
    return rc;
}

qp_rc qp_store_put_file(qp_store *st, const char *path, const qp_file_stat *fs, qp_error *err)
{
    qp_rc rc = need_batch(st, err);
    if (rc != QP_OK)
        return rc;
    int64_t id = 0;
    rc = upsert_file(st, path, fs, NULL, &id, err);
    if (rc == QP_OK)
        st->changed = true;
    return rc;
}

/* Adds a diagnostic to an indexed file, beside the parser's: a problem met
 * while reading it (quipu/ingest.h). The next put or remove drops it with
 * the file's other rows. */
static qp_rc put_diag(qp_store *st, const char *path, qp_diag_severity severity, uint32_t line,
                      uint32_t col, const char *msg, qp_error *err)
{
    file_row row;
    qp_rc rc = find_file(st, path, &row, err);
    if (rc == QP_ENOTFOUND)
        return qp_error_set(err, QP_ENOTFOUND, "%s: not indexed", path);
    if (rc != QP_OK)
        return rc;
    qp_diag d = {severity, line, col, msg};
    if ((rc = insert_diag(st, row.id, &d, err)) == QP_OK)
        st->changed = true;
    return rc;
}

/* Updates only the stat of a file whose content is as indexed: no new
 * generation, as readers see nothing different. */
static qp_rc put_stat(qp_store *st, const char *path, const qp_file_stat *fs, qp_error *err)
{
    qp_rc rc = need_batch(st, err);
    if (rc != QP_OK)
        return rc;
    file_row row;
    if ((rc = find_file(st, path, &row, err)) == QP_ENOTFOUND)
        return qp_error_set(err, QP_ENOTFOUND, "%s: not indexed", path);
    sqlite3_stmt *s;
    if (rc != QP_OK || (rc = stmt_get(&s, st, W_UPDATE_STAT, err)) != QP_OK)
        return rc;
    sqlite3_bind_int64(s, 1, row.id);
    sqlite3_bind_int64(s, 2, fs->size);
    sqlite3_bind_int64(s, 3, fs->mtime_ns);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)fs->hash);
    return step_done(st, s, "update stat", err);
}

qp_rc qp_store_apply(qp_store *st, const char *relpath, const qp_ingest_op *op, qp_error *err)
{
    qp_rc rc = QP_OK;

    switch (op->kind) {
    case QP_INGEST_SKIP:
        return QP_OK;
    case QP_INGEST_NOTE:
        rc = qp_store_put_note(st, relpath, &op->fs, op->note, err);
        break;
    case QP_INGEST_FILE:
        rc = qp_store_put_file(st, relpath, &op->fs, err);
        break;
    case QP_INGEST_STAT:
        return put_stat(st, relpath, &op->fs, err);
    case QP_INGEST_REMOVE:
        rc = qp_store_remove(st, relpath, err);
        if (rc == QP_ENOTFOUND) {
            qp_error_clear(err);
            rc = QP_OK; /* never indexed (a temporary file): nothing to do */
        }
        return rc;
    }
    if (rc == QP_OK && op->problem != QP_INGEST_OK)
        rc = put_diag(st, relpath, QP_DIAG_WARNING, 0, 0, qp_ingest_problem_message(op->problem),
                      err);
    return rc;
}

qp_rc qp_store_remove(qp_store *st, const char *path, qp_error *err)
{
    qp_rc rc = need_batch(st, err);
    if (rc != QP_OK)
        return rc;
    file_row row;
    rc = find_file(st, path, &row, err);
    if (rc == QP_ENOTFOUND)
        return qp_error_set(err, QP_ENOTFOUND, "%s: not indexed", path);
    if (rc != QP_OK)
        return rc;
    const char *base = basename_of(path);
    char *name_folded = qp_text_fold(base, strlen(base), NULL);
    if (!name_folded)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    rc = clear_children(st, row.id, err);
    if (rc == QP_OK)
        rc = run_id(st, W_UNLINK_DST, row.id, err);
    if (rc == QP_OK)
        rc = run_id(st, W_DELETE_FILE, row.id, err);
    if (rc == QP_OK)
        rc = touch(st, row.id, err);
    if (rc == QP_OK)
        rc = mark_name(st, name_folded, err);
    free(name_folded);
    if (rc == QP_OK)
        st->changed = true;
    return rc;
}

typedef struct todo_row {
    int64_t link, dst, src;
    char *target, *src_path;
} todo_row;

/* Set-based resolution of the links that need no ranking (spec/links.md
 * §2.1): an empty linkpath is the source itself (step 1), and a bare name
 * without '.' and without '/' has exactly one lookup name (links.name2);
 * with zero candidates it is unresolved, with one it is that file (step 3).
 * One UPDATE does them all; only rows whose target changes are written.
 * What is left (a '.' in the name, a '/', or several candidates) goes
 * through qp__resolve() in resolve_todo(). With `all` every link is in
 * scope (bulk load), else the links in temp.todo. */
#define FAST_NAME_SQL                                                \
    "(SELECT CASE WHEN count(*) = 1 THEN min(f.id) END FROM files f" \
    " WHERE f.name_folded = links.name2)"
#define FAST_WHERE "name1 IS NULL AND target <> '' AND instr(target, '/') = 0"
static qp_rc resolve_fast(qp_store *st, bool all, qp_error *err)
{
    if (all) {
        /* Every link: count each file name once, then one lookup per link
         * in a small temporary table instead of two subqueries on files. */
        return exec_sql(
            st,
            "DROP TABLE IF EXISTS temp.uniq;"
            "CREATE TEMP TABLE uniq(name TEXT PRIMARY KEY, n INTEGER, id INTEGER) WITHOUT ROWID;"
            "INSERT INTO temp.uniq SELECT name_folded, count(*), min(id) FROM files"
            " GROUP BY name_folded;"
            "UPDATE links SET dst = src WHERE target = '';"
            "UPDATE links SET dst = (SELECT u.id FROM temp.uniq u WHERE u.name = links.name2"
            " AND u.n = 1) WHERE " FAST_WHERE ";"
            "DELETE FROM temp.todo;"
            "INSERT INTO temp.todo SELECT id FROM links WHERE target <> ''"
            " AND (name1 IS NOT NULL OR instr(target, '/') > 0"
            " OR (SELECT u.n FROM temp.uniq u WHERE u.name = links.name2) > 1);"
            "DROP TABLE temp.uniq;",
            err);
    }
#define IN_TODO " AND id IN (SELECT id FROM temp.todo)"
    qp_rc rc =
        exec_sql(st,
                 "UPDATE links SET dst = src WHERE target = '' AND dst IS NOT src" IN_TODO ";"
                 "UPDATE links SET dst = " FAST_NAME_SQL " WHERE " FAST_WHERE
                 " AND (SELECT count(*) FROM files f WHERE f.name_folded = links.name2) <= 1"
                 " AND dst IS NOT " FAST_NAME_SQL IN_TODO ";",
                 err);
#undef IN_TODO
    if (rc != QP_OK)
        return rc;
    /* What remains for the full resolver. */
    return exec_sql(st,
                    "DELETE FROM temp.todo WHERE EXISTS (SELECT 1 FROM links"
                    " WHERE links.id = todo.id AND (target = '' OR (" FAST_WHERE
                    " AND (SELECT count(*) FROM files f"
                    " WHERE f.name_folded = links.name2) <= 1)))",
                    err);
}

/* Re-resolves every link in temp.todo, a page at a time so that memory
 * stays bounded on a cold index of a big vault. */
static qp_rc resolve_todo(qp_store *st, qp_error *err)
{
    qp_rc rc = QP_OK;
    todo_row *rows = calloc(RESOLVE_CHUNK, sizeof *rows);
    size_t n = 0;
    int64_t last = 0;
    if (!rows)
        return qp_error_set(err, QP_ENOMEM, "out of memory resolving links");
    for (;;) {
        sqlite3_stmt *s;
        if ((rc = stmt_get(&s, st, W_TODO_PAGE, err)) != QP_OK)
            goto cleanup;
        sqlite3_bind_int64(s, 1, last);
        sqlite3_bind_int(s, 2, RESOLVE_CHUNK);
        int src;
        n = 0;
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            todo_row *r = &rows[n];
            r->link = sqlite3_column_int64(s, 0);
            const char *t = (const char *)sqlite3_column_text(s, 1);
            r->dst = sqlite3_column_type(s, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 2);
            r->src = sqlite3_column_int64(s, 3);
            const char *p = (const char *)sqlite3_column_text(s, 4);
            r->target = strdup(t ? t : "");
            r->src_path = strdup(p ? p : "");
            n++;
            if (!r->target || !r->src_path) {
                sqlite3_reset(s);
                rc = qp_error_set(err, QP_ENOMEM, "out of memory resolving links");
                goto cleanup;
            }
        }
        sqlite3_reset(s);
        if (src != SQLITE_DONE) {
            rc = qp__store_sqlite_error(st, src, "links to resolve", err);
            goto cleanup;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            todo_row *r = &rows[i];
            int64_t dst = 0;
            rc = qp__resolve(&dst, r->target, r->src_path, r->src, qp__store_cands, st, err);
            if (rc != QP_OK)
                goto cleanup;
            st->stats.resolved++;
            if (dst == r->dst)
                continue;
            sqlite3_stmt *u;
            if ((rc = stmt_get(&u, st, W_SET_DST, err)) != QP_OK)
                goto cleanup;
            sqlite3_bind_int64(u, 1, r->link);
            if (dst)
                sqlite3_bind_int64(u, 2, dst);
            else
                sqlite3_bind_null(u, 2);
            if ((rc = step_done(st, u, "set link target", err)) != QP_OK)
                goto cleanup;
        }
        last = rows[n - 1].link;
        for (size_t i = 0; i < n; i++) {
            free(rows[i].target);
            free(rows[i].src_path);
            rows[i].target = rows[i].src_path = NULL;
        }
        n = 0;
    }
cleanup:
    for (size_t i = 0; i < n; i++) {
        free(rows[i].target);
        free(rows[i].src_path);
    }
    free(rows);
    return rc;
}

static void clear_temp(qp_store *st)
{
    sqlite3_exec(st->db,
                 "DELETE FROM temp.dirty_src; DELETE FROM temp.aff_name;"
                 " DELETE FROM temp.todo;",
                 NULL, NULL, NULL);
}

qp_rc qp_store_commit(qp_store *st, qp_error *err)
{
    qp_rc rc = need_batch(st, err);
    if (rc != QP_OK)
        return rc;
    if (st->changed && st->bulk) {
        /* Links wait for qp_store_bulk_end(); readers see them unresolved. */
        rc = bump_generation(st, err);
        if (rc != QP_OK) {
            qp_store_rollback(st);
            return rc;
        }
    } else if (st->changed) {
        rc = exec_sql(st,
                      "INSERT OR IGNORE INTO temp.todo SELECT id FROM links"
                      "  WHERE src IN (SELECT id FROM temp.dirty_src);"
                      "INSERT OR IGNORE INTO temp.todo SELECT id FROM links"
                      "  WHERE name1 IN (SELECT name FROM temp.aff_name);"
                      "INSERT OR IGNORE INTO temp.todo SELECT id FROM links"
                      "  WHERE name2 IN (SELECT name FROM temp.aff_name);",
                      err);
        if (rc == QP_OK && !st->bulk)
            rc = resolve_fast(st, false, err);
        if (rc == QP_OK)
            rc = resolve_todo(st, err);
        if (rc == QP_OK) {
            rc = bump_generation(st, err);
        }
        if (rc != QP_OK) {
            qp_store_rollback(st);
            return rc;
        }
    }
    rc = exec_sql(st, "COMMIT", err);
    if (rc != QP_OK) {
        qp_store_rollback(st);
        return rc;
    }
    clear_temp(st);
    st->in_batch = false;
    st->changed = false;
    return QP_OK;
}

/* Secondary indexes nothing needs while a bulk load runs: they are
 * dropped by qp_store_bulk_begin() and built in one sort each at the end,
 * which beats inserting a million random keys one by one. The per-file
 * indexes stay: a path put twice during the load deletes its old rows. */
static const char *const bulk_indexes[][2] = {
    {"links_dst",
     "CREATE INDEX IF NOT EXISTS links_dst ON links(dst, src, line, col, ra, rb, ua, ub)"},
    {"links_name1", "CREATE INDEX IF NOT EXISTS links_name1 ON links(name1)"},
    {"links_name2", "CREATE INDEX IF NOT EXISTS links_name2 ON links(name2)"},
    {"links_subpath", "CREATE INDEX IF NOT EXISTS links_subpath ON links(dst)"
                      " WHERE subpath IS NOT NULL AND subpath <> '#'"},
    {"tags_folded", "CREATE INDEX IF NOT EXISTS tags_folded ON tags(tag_folded)"},
    {"aliases_folded", "CREATE INDEX IF NOT EXISTS aliases_folded ON aliases(alias_folded)"},
    {"tasks_due", "CREATE INDEX IF NOT EXISTS tasks_due ON tasks(due) WHERE due IS NOT NULL"},
};

qp_rc qp_store_bulk_begin(qp_store *st, qp_error *err)
{
    if (st->mode != QP_STORE_WRITE)
        return qp_error_set(err, QP_EINVAL, "index: opened read-only");
    if (st->in_batch || st->bulk)
        return qp_error_set(err, QP_EINVAL, "index: a batch or bulk load is already open");
    /* Durability is not needed for a cache being filled: a crash leaves
     * meta.clean = 0, and the next open checks every page. The WAL is
     * still copied back every 64 MiB, by this connection between two
     * batches, the only place where it can then start over: a load that
     * never pauses cannot reset it from another connection. Without that
     * the WAL of a 1M-note load passed 19 GB (every batch appends the
     * index pages it touched again), and each page read searched its
     * thousands of hash segments. */
    qp_rc rc = exec_sql(st,
                        "PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 16384;"
                        " PRAGMA cache_size = -65536",
                        err);
    if (rc != QP_OK)
        return rc;
    rc = exec_sql(st, "BEGIN IMMEDIATE", err);
    if (rc == QP_OK)
        rc = exec_sql(st, "INSERT OR REPLACE INTO meta(key, value) VALUES('bulk', 1)", err);
    for (size_t i = 0; rc == QP_OK && i < sizeof bulk_indexes / sizeof bulk_indexes[0]; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s", bulk_indexes[i][0]);
        rc = exec_sql(st, sql, err);
    }
    if (rc == QP_OK)
        rc = exec_sql(st, "COMMIT", err);
    if (rc != QP_OK) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    st->bulk = true;
    return QP_OK;
}

static bool bulk_index_on_dst(size_t i)
{
    return strncmp(bulk_indexes[i][0], "links_dst", 9) == 0 ||
           strncmp(bulk_indexes[i][0], "links_subpath", 13) == 0;
}

/* Commits one step of the bulk load's end and opens the next. */
static qp_rc bulk_step(qp_store *st, qp_error *err)
{
    qp_rc rc = exec_sql(st, "COMMIT", err);
    return rc == QP_OK ? exec_sql(st, "BEGIN IMMEDIATE", err) : rc;
}

qp_rc qp_store_bulk_end(qp_store *st, qp_error *err)
{
    if (!st->bulk)
        return qp_error_set(err, QP_EINVAL, "index: no bulk load is open");
    if (st->in_batch)
        return qp_error_set(err, QP_EINVAL, "index: a batch is still open");
    qp_rc rc = exec_sql(st, "BEGIN IMMEDIATE", err);
    if (rc != QP_OK)
        return rc;
    st->in_batch = true;
    /* The indexes on links.dst come after the resolution, which writes dst
     * on every link: built before, each of those writes moved an entry of
     * both (a random insert into a big b-tree per link) where building
     * them after is one sort each. The parse workers are done by now, so
     * the sorts may use the other cores. */
    sqlite3_exec(st->db, "PRAGMA threads = 4", NULL, NULL, NULL);
    /* Each step is committed on its own, so that the WAL is copied back
     * between them (qp_store_bulk_begin): as one transaction the end of a
     * 1M-note load left 7 GB in the WAL. meta.bulk stays set until the
     * last step, so a crash between two still rebuilds. */
    for (size_t i = 0; rc == QP_OK && i < sizeof bulk_indexes / sizeof bulk_indexes[0]; i++)
        if (!bulk_index_on_dst(i) && (rc = exec_sql(st, bulk_indexes[i][1], err)) == QP_OK)
            rc = bulk_step(st, err);
    if (rc == QP_OK && (rc = resolve_fast(st, true, err)) == QP_OK)
        rc = bulk_step(st, err);
    if (rc == QP_OK && (rc = resolve_todo(st, err)) == QP_OK)
        rc = bulk_step(st, err);
    for (size_t i = 0; rc == QP_OK && i < sizeof bulk_indexes / sizeof bulk_indexes[0]; i++)
        if (bulk_index_on_dst(i) && (rc = exec_sql(st, bulk_indexes[i][1], err)) == QP_OK)
            rc = bulk_step(st, err);
    sqlite3_exec(st->db, "PRAGMA threads = 0", NULL, NULL, NULL);
    if (rc == QP_OK) {
        rc = bump_generation(st, err);
    }
    if (rc == QP_OK)
        rc = exec_sql(st, "DELETE FROM meta WHERE key = 'bulk'", err);
    if (rc == QP_OK) /* the bulk load touched nothing: read everything again */
        rc = exec_sql(st, "UPDATE meta SET value = value + 1 WHERE key = 'epoch'", err);
    if (rc == QP_OK)
        rc = exec_sql(st, "COMMIT", err);
    if (rc != QP_OK) {
        qp_store_rollback(st); /* stays in bulk mode: the caller may retry */
        return rc;
    }
    clear_temp(st);
    st->in_batch = false;
    st->bulk = false;
    /* The WAL holds the whole index now: copy it back, synced. The bulk
     * load's unsynced writes are still in the page cache, hundreds of MB
     * at 100k notes, and the first synced checkpoint after would flush them
     * at once: the file system stalls its other writers meanwhile (a note
     * saved right after ready waited 200 ms in its own write(2)). Here the
     * flush is part of the load. A crash before the next clean close still
     * rebuilds (the index is marked unclean). Busy readers only make the
     * checkpoint partial. */
    rc = exec_sql(st, "PRAGMA synchronous = NORMAL", err);
    if (rc != QP_OK)
        return rc;
    sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    rc = exec_sql(st,
                  st->defer_ckpt ? "PRAGMA cache_size = -32768"
                                 : "PRAGMA wal_autocheckpoint = 1000; PRAGMA cache_size = -32768",
                  err);
    if (rc == QP_OK && st->defer_ckpt)
        rc = qp_store_defer_checkpoints(st, err); /* the pragma above replaced the hook */
    return rc;
}

/* ---- checkpoints ---- */

/* The WAL hook of a deferring store: it only counts. SQLite's own
 * autocheckpoint is this same hook, so installing it turns that off. */
static int wal_count(void *payload, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((qp_store *)payload)->wal_frames = frames;
    return SQLITE_OK;
}

qp_rc qp_store_defer_checkpoints(qp_store *st, qp_error *err)
{
    if (st->mode != QP_STORE_WRITE)
        return qp_error_set(err, QP_EINVAL, "index: opened read-only");
    st->defer_ckpt = true;
    sqlite3_wal_hook(st->db, wal_count, st);
    return QP_OK;
}

int qp_store_wal_frames(const qp_store *st)
{
    return st->wal_frames;
}

qp_rc qp_store_checkpoint(qp_store *st, qp_error *err)
{
    if (st->mode != QP_STORE_WRITE)
        return qp_error_set(err, QP_EINVAL, "index: opened read-only");
    int log = 0, done = 0;
    int src = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (src != SQLITE_OK && src != SQLITE_BUSY)
        return qp__store_sqlite_error(st, src, "checkpoint", err);
    /* What readers still need stays; the next commit reports the rest. */
    st->wal_frames = log > done ? log - done : 0;
    return QP_OK;
}

qp_rc qp_store_checkpoint_path(const char *db_path, bool synced, int *left, qp_error *err)
{
    qp_store tmp = {.mode = QP_STORE_WRITE};
    int log = 0, done = 0, src;
    /* No create: a missing index is an error here, never a new empty one. */
    qp_rc rc = open_db(&tmp, db_path, SQLITE_OPEN_READWRITE, err);
    if (rc != QP_OK)
        return rc;
    src = sqlite3_exec(tmp.db, synced ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = OFF",
                       NULL, NULL, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_wal_checkpoint_v2(tmp.db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (src != SQLITE_OK && src != SQLITE_BUSY)
        rc = qp__store_sqlite_error(&tmp, src, "checkpoint", err);
    else if (left)
        *left = log > done ? log - done : 0;
    sqlite3_close(tmp.db);
    return rc;
}

void qp_store_rollback(qp_store *st)
{
    if (!st || !st->in_batch)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        if (st->stmt[i])
            sqlite3_reset(st->stmt[i]);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    clear_temp(st);
    st->in_batch = false;
    st->changed = false;
}

qp_rc qp_store_file_stat(qp_store *st, const char *path, qp_file_stat *out, qp_error *err)
{
    file_row row;
    qp_rc rc = find_file(st, path, &row, err);
    if (rc == QP_ENOTFOUND)
        return qp_error_set(err, QP_ENOTFOUND, "%s: not indexed", path);
    if (rc == QP_OK)
        *out = row.fs;
    return rc;
}

qp_rc qp_store_each_file(qp_store *st, int (*cb)(const char *path, void *payload), void *payload,
                         qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_ALL_PATHS, err);
    if (rc != QP_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 1);
        int r = cb(p ? p : "", payload);
        if (r != 0) {
            sqlite3_reset(s);
            return r;
        }
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "files", err);
    return QP_OK;
}

qp_rc qp_store_each_file_stat(qp_store *st,
                              int (*cb)(const char *path, const qp_file_stat *fs, void *payload),
                              void *payload, qp_error *err)
{
    sqlite3_stmt *s;
    qp_rc rc = stmt_get(&s, st, W_ALL_STATS, err);
    if (rc != QP_OK)
        return rc;
    int src; /* one statement: one snapshot, one lock */
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 0);
        qp_file_stat fs = {.size = sqlite3_column_int64(s, 1),
                           .mtime_ns = sqlite3_column_int64(s, 2),
                           .hash = (uint64_t)sqlite3_column_int64(s, 3)};
        int r = cb(p ? p : "", &fs, payload);
        if (r != 0) {
            sqlite3_reset(s);
            return r;
        }
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "files", err);
    return QP_OK;
}

qp_rc qp_store_note_query_blocks(qp_store *st, const char *path,
                                 int (*cb)(uint32_t line, const char *query, void *payload),
                                 void *payload, qp_error *err)
{
    file_row row;
    qp_rc rc = find_file(st, path, &row, err);
    if (rc == QP_ENOTFOUND)
        return qp_error_set(err, QP_ENOTFOUND, "%s: not indexed", path);
    if (rc != QP_OK)
        return rc;
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(st->db,
                                 "SELECT line, query FROM query_blocks WHERE file = ?1"
                                 " ORDER BY line",
                                 -1, &s, NULL);
    if (src != SQLITE_OK)
        return qp__store_sqlite_error(st, src, "query blocks", err);
    sqlite3_bind_int64(s, 1, row.id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *q = (const char *)sqlite3_column_text(s, 1);
        int r = cb((uint32_t)sqlite3_column_int64(s, 0), q ? q : "", payload);
        if (r != 0) {
            sqlite3_finalize(s);
            return r;
        }
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE)
        return qp__store_sqlite_error(st, src, "query blocks", err);
    return QP_OK;
}

/* ---- sync ---- */

typedef struct walk_entry {
    char *path;
} walk_entry;

typedef struct walk_list {
    walk_entry *v;
    size_t n, cap;
    bool oom;
} walk_list;

static int walk_collect(const char *relpath, const qp_file_stat *fs, void *payload)
{
    walk_list *w = payload;
    (void)fs; /* qp_ingest_path() stats the file when it gets to it */
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        walk_entry *v = realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->oom = true;
            return 1;
        }
        w->v = v;
        w->cap = cap;
    }
    char *p = strdup(relpath);
    if (!p) {
        w->oom = true;
        return 1;
    }
    w->v[w->n].path = p;
    w->n++;
    return 0;
}

static int walk_cmp(const void *a, const void *b)
{
    return strcmp(((const walk_entry *)a)->path, ((const walk_entry *)b)->path);
}

/* Brings one walked file into the index (batch open), the way the daemon
 * does: qp_ingest_path() decides, qp_store_apply() writes. */
static qp_rc sync_one(qp_store *st, const qp_vault *v, const walk_entry *e, qp_error *err)
{
    file_row row;
    qp_rc rc = find_file(st, e->path, &row, err);
    if (rc != QP_OK && rc != QP_ENOTFOUND)
        return rc;
    qp_ingest_op op;
    rc = qp_ingest_path(&op, v, e->path, rc == QP_OK ? &row.fs : NULL, err);
    if (rc != QP_OK)
        return rc;
    switch (op.kind) {
    case QP_INGEST_SKIP:
        st->stats.skipped++;
        break;
    case QP_INGEST_NOTE:
        st->stats.parsed++;
        break;
    case QP_INGEST_FILE:
        st->stats.attachments++;
        break;
    case QP_INGEST_STAT:
        st->stats.rehashed++;
        break;
    case QP_INGEST_REMOVE: /* vanished since the walk */
        break;
    }
    rc = qp_store_apply(st, e->path, &op, err);
    qp_ingest_op_clear(&op);
    return rc;
}

qp_rc qp_store_sync(qp_store *st, const qp_vault *v,
                    void (*progress)(size_t done, size_t total, void *payload), void *payload,
                    qp_error *err)
{
    qp_rc rc = QP_OK;
    walk_list w = {0};
    char **gone = NULL;
    size_t ngone = 0, capgone = 0;

    rc = qp_vault_walk(v, walk_collect, &w, err);
    if (w.oom) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory walking the vault");
        goto cleanup;
    }
    if (rc != QP_OK)
        goto cleanup;
    if (w.n > 1) /* an empty vault leaves w.v NULL, which qsort may not take */
        qsort(w.v, w.n, sizeof *w.v, walk_cmp);

    rc = qp_store_begin(st, err);
    if (rc != QP_OK)
        goto cleanup;
    for (size_t i = 0; i < w.n; i++) {
        rc = sync_one(st, v, &w.v[i], err);
        if (rc != QP_OK)
            goto fail;
        if (progress)
            progress(i + 1, w.n, payload);
    }

    /* What the index knows and the vault no longer has. */
    sqlite3_stmt *s;
    if ((rc = stmt_get(&s, st, W_ALL_PATHS, err)) != QP_OK)
        goto fail;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        walk_entry key = {(char *)(uintptr_t)sqlite3_column_text(s, 1)};
        if (key.path && w.n && bsearch(&key, w.v, w.n, sizeof *w.v, walk_cmp))
            continue;
        if (ngone == capgone) {
            capgone = capgone ? capgone * 2 : 16;
            char **g = realloc(gone, capgone * sizeof *g);
            if (!g) {
                sqlite3_reset(s);
                rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                goto fail;
            }
            gone = g;
        }
        gone[ngone] = strdup(key.path ? key.path : "");
        if (!gone[ngone]) {
            sqlite3_reset(s);
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            goto fail;
        }
        ngone++;
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE) {
        rc = qp__store_sqlite_error(st, src, "files", err);
        goto fail;
    }
    for (size_t i = 0; i < ngone; i++) {
        rc = qp_store_remove(st, gone[i], err);
        if (rc != QP_OK)
            goto fail;
        st->stats.removed++;
    }
    rc = qp_store_commit(st, err);
    goto cleanup;

fail:
    qp_store_rollback(st);
cleanup:
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].path);
    free(w.v);
    for (size_t i = 0; i < ngone; i++)
        free(gone[i]);
    free(gone);
    return rc;
}
