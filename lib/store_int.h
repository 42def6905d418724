#ifndef QUIPU_STORE_INT_H
#define QUIPU_STORE_INT_H

/*
 * store_int — what store.c, resolve.c, query.c and mentions.c share inside
 * libquipu: the resolver (pure: candidates come from a callback, so the
 * §2.2 table is testable without SQLite), subpath matching, mention search
 * in a note's text, and the store's prepared statements.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "quipu/error.h"
#include "quipu/store.h"

/* ---- resolution (resolve.c), spec/links.md §2.1 ---- */

typedef struct qp__cand {
    int64_t id;
    const char *path;        /* vault path, case kept */
    const char *path_folded; /* qp_text_fold(path) */
} qp__cand;

/* Fills *out / *n with every indexed file whose folded file name (with
 * extension) equals `name_folded`. The array stays owned by the callee and
 * valid until the next call. */
typedef qp_rc (*qp__cand_fn)(const qp__cand **out, size_t *n, const char *name_folded,
                             void *payload, qp_error *err);

/* Resolves `linkpath` (as written after splitting: NFC, trimmed, no
 * subpath) for a link in `src_path` (file id `src_id`). *out is the target
 * file id, or 0 when unresolved. */
qp_rc qp__resolve(int64_t *out, const char *linkpath, const char *src_path, int64_t src_id,
                  qp__cand_fn cands, void *payload, qp_error *err);

/* The names a link path can be looked up under (§2.1 step 2): *name1 is the
 * folded last segment when it contains a '.', else NULL; *name2 is the
 * folded last segment + ".md". Both new (free()); NULL, NULL for an empty
 * linkpath. QP_ENOMEM only. */
qp_rc qp__link_names(char **name1, char **name2, const char *linkpath);

/* The unresolved-link key (§2.4): linkpath without a trailing ".md" (any
 * case), case kept. New, free(); NULL on OOM. */
char *qp__unresolved_key(const char *linkpath);

typedef struct qp__heading_ref {
    int level;
    const char *text;
    uint32_t line;
} qp__heading_ref;

typedef struct qp__block_ref {
    const char *id;
    uint32_t line;
} qp__block_ref;

/* Checks a subpath ("#A#B" or "#^id") against a file's headings and block
 * ids (§7). Returns true when found, with *line the 1-based line of the
 * match. "#" alone or NULL is trivially found with *line 0. */
bool qp__subpath_find(const char *subpath, const qp__heading_ref *h, size_t nh,
                      const qp__block_ref *b, size_t nb, uint32_t *line);

/* Heading normalisation for matching (§7.1): punctuation → space, collapse,
 * trim, fold. New, free(); NULL on OOM. */
char *qp__heading_key(const char *text);

/* ---- mention search (mentions.c), spec/links.md §4.3 ---- */

typedef struct qp__mention_hit {
    size_t offset; /* byte offset in the text */
    size_t len;    /* byte length of the match in the text */
} qp__mention_hit;

/* Finds every occurrence of any of `names` (each already qp_text_fold()ed,
 * non-empty) in text[0..len), case-insensitively (full Unicode lower-case),
 * with no word character (qp_text_is_word) directly before or after it.
 * Hits that start at the same offset count once (the longest). *out is new
 * (free()), sorted by offset; may be NULL when *n is 0. */
qp_rc qp__mentions_find(qp__mention_hit **out, size_t *n, const char *text, size_t len,
                        const char *const *names, size_t nnames, qp_error *err);

/* ---- store internals ---- */

typedef enum qp__stmt_id {
    QP__S_FILE_BY_PATH = 0,
    QP__S_FILES_BY_NAME,
    QP__S_FILE_INFO,
    QP__S_BODY,
    QP__S_LINKS_TO,
    QP__S_LINKS_FROM,
    QP__S_ALIASES_OF,
    QP__S_TAGS_OF,
    QP__S_HEADINGS_OF,
    QP__S_BLOCKS_OF,
    QP__S_TASKS_OF,
    QP__S_PROPS_OF,
    QP__S_MENTION_LINES_OF,
    QP__S_MEETING_BY_TITLE,
    QP__S_FTS_MATCH,
    QP__S_ALL_NOTES,
    QP__S_COUNT_FILES,
    QP__S_COUNT_KINDS,
    QP__S_COUNT_TASKS,
    QP__S_COUNT_LINKS,
    QP__S_COUNT_UNRESOLVED,
    QP__S_LINKERS_OF,
    QP__S_GENERATION,
    QP__S_READ_COUNT /* not a statement */
} qp__stmt_id;

/* Puts a prepared read statement in *out, reset and with bindings cleared,
 * borrowed from the store. On failure *out is NULL and the SQLite error is
 * returned as a qp_rc (QP_ECORRUPT, QP_ENOMEM, ...) even when err is NULL. */
qp_rc qp__store_stmt(sqlite3_stmt **out, qp_store *st, qp__stmt_id id, qp_error *err);

/* The store's connection, for statements built per call (task queries).
 * Borrowed; valid while the store is open. */
sqlite3 *qp__store_db(qp_store *st);

/* ---- task queries (query_tasks.c), called by qp_query_run() inside its
 * read transaction; *out is a new jansson value ---- */

struct json_t;
/* A string param of a query: *out borrows from params; NULL when absent or null.
 * QP_EINVAL (naming the param) when required and absent, or not a string. */
qp_rc qp__query_param_string(const char **out, struct json_t *params, const char *name,
                             bool required, qp_error *err);

qp_rc qp__query_tasks(struct json_t **out, qp_store *st, struct json_t *params, qp_error *err);
/* Every ```tasks block of the note at `path` (already resolved). */
qp_rc qp__query_task_blocks(struct json_t **out, qp_store *st, const char *path,
                            struct json_t *params, qp_error *err);

/* Opens a read transaction when none is open (returns true when it did);
 * qp__store_read_end() closes it. */
bool qp__store_read_begin(qp_store *st);
void qp__store_read_end(qp_store *st);

/* Maps a SQLite result code to a qp_rc and fills *err with `what`. */
qp_rc qp__store_sqlite_error(qp_store *st, int src, const char *what, qp_error *err);

/* Candidate lookup for qp__resolve() over this store (payload = store). */
qp_rc qp__store_cands(const qp__cand **out, size_t *n, const char *name_folded, void *payload,
                      qp_error *err);

/* Rebuilds a note's mention text from its source and stored mask blob
 * (the runs that qp_note_mention_text() blanked). New (free()); NULL on OOM. */
char *qp__store_apply_mask(const char *src, size_t len, const void *mask, size_t masklen);

#endif
