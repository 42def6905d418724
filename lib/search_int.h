#ifndef QUIPU_SEARCH_INT_H
#define QUIPU_SEARCH_INT_H

/*
 * search_int — full-text search inside libquipu: the search index that the
 * store keeps beside its own tables (store.c calls the hooks below), the
 * query language of docs/search.md (search_query.c) and the `search`
 * method that qp_query_run() answers (search.c).
 *
 * The words of a note are the runs of letters, digits, marks, private-use
 * characters and '_', each code point lower-cased as qp_text_fold() does
 * (case-insensitive, diacritics significant: "é" is not "e"). The index
 * gets those words, already folded, so SQLite's tokenizer and quipu's own
 * matching (hits, line:, section:) cut and compare text the same way.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "note_int.h"
#include "quipu/arena.h"
#include "quipu/error.h"
#include "quipu/note.h"
#include "quipu/store.h"
#include "quipu/vault.h"

/* ---- words (search.c) ---- */

typedef struct qp__search_word {
    size_t off, len;  /* the folded word in the folded text */
    size_t src, nsrc; /* its bytes in the source */
    uint32_t line;    /* 1-based line of the source */
    uint32_t col;     /* 1-based byte column of the source */
} qp__search_word;

typedef struct qp__search_words {
    char *folded; /* NUL-terminated; words are folded[off, off+len) */
    size_t nfolded;
    qp__search_word *v;
    size_t n, cap;
} qp__search_words;

/* Cuts text[0..len) into words (see above). *out is filled (free with
 * qp__search_words_free); QP_ENOMEM only. */
qp_rc qp__search_words_split(qp__search_words *out, const char *text, size_t len, qp_error *err);
void qp__search_words_free(qp__search_words *w);

/* ---- the index (search.c), called by store.c ---- */

typedef struct qp__search_writer qp__search_writer; /* prepared statements of the writer */

/* Creates the search tables inside the schema transaction. */
qp_rc qp__search_schema(sqlite3 *db, qp_error *err);

/* qp__search_doc (typedef in note_int.h, which the parsed note carries it
 * through): what the index gets for a note, its columns' folded words, its
 * distinct words and their counts. Made without the index, so a parse
 * worker makes it beside the parse (qp_ingest_path) and the writer thread,
 * the cold index's bottleneck, only binds it. */

/* *out allocated in `arena`; QP_ENOMEM only. */
qp_rc qp__search_doc_make(qp__search_doc **out, const qp_note *note, qp_arena *arena,
                          qp_error *err);

/* Indexes `note` as file `id` (after qp__search_remove of its old rows),
 * from the note's search doc (qp__note_search_doc) or one made here.
 * *w is created on first use and freed by qp__search_writer_free(). */
qp_rc qp__search_put(sqlite3 *db, qp__search_writer **w, int64_t id, const qp_note *note,
                     qp_error *err);

/* Drops file `id` from the search index (no-op when it has no rows). */
qp_rc qp__search_remove(sqlite3 *db, qp__search_writer **w, int64_t id, qp_error *err);

void qp__search_writer_free(qp__search_writer *w);

/* ---- the query language (search_query.c) ---- */

typedef enum qp__sq_kind {
    QP__SQ_AND = 0,
    QP__SQ_OR,
    QP__SQ_NOT,
    QP__SQ_TERM,    /* words (a phrase when several); the last may be a prefix */
    QP__SQ_PATH,    /* path: substring of the folded path */
    QP__SQ_FILE,    /* file: substring of the folded file name */
    QP__SQ_TAG,     /* tag: #x, also #x/... */
    QP__SQ_PROP,    /* [key] or [key:value] */
    QP__SQ_TASK,    /* task:, task-todo:, task-done: (child: words of the task, or none) */
    QP__SQ_LINE,    /* line:(...) */
    QP__SQ_SECTION, /* section:(...) */
} qp__sq_kind;

typedef enum qp__sq_task {
    QP__SQ_TASK_ANY = 0,
    QP__SQ_TASK_TODO,
    QP__SQ_TASK_DONE,
} qp__sq_task;

typedef struct qp__sq_node qp__sq_node;
struct qp__sq_node {
    qp__sq_kind kind;
    qp__sq_node **kids; /* AND, OR: n kids; NOT, LINE, SECTION: 1; TASK: 0 or 1 */
    size_t nkids;
    /* TERM: folded words; the phrase they form must appear in that order */
    char **words;
    size_t nwords;
    bool prefix; /* TERM: the last word matches any word it begins */
    /* PATH, FILE, TAG: folded text; PROP: key (folded) and value (folded or NULL) */
    char *text;
    char *value;
    qp__sq_task task;
    int leaf; /* index of a PATH..TASK node among the query's SQL leaves */
};

typedef struct qp__sq_query {
    qp__sq_node *root; /* NULL for an empty query */
    size_t nleaves;    /* nodes with leaf >= 0 */
    bool verify;       /* line: or section: appears: hits are checked in the text */
} qp__sq_query;

/* Parses `q` (docs/search.md). With `prefix`, the last plain word of the
 * query is a prefix when the query does not end in white space. On error
 * QP_EQUERY with err->col the 1-based byte column; QP_ENOMEM. *out is
 * filled (free with qp__sq_free) only on success. */
qp_rc qp__sq_parse(qp__sq_query *out, const char *q, bool prefix, qp_error *err);
void qp__sq_free(qp__sq_query *q);

/* The query back as text, for tests and logs: AND(...), OR(...), NOT(...),
 * "w1 w2"*, path:"x", tag:"#x", [k:"v"], task-todo:(...), line:(...). New,
 * free(); NULL on OOM. */
char *qp__sq_dump(const qp__sq_query *q);

/* ---- the method (search.c) ---- */

struct json_t;
/* The `search` method: params {query, limit?, cursor?, prefix?}. */
qp_rc qp__query_search(struct json_t **out, qp_store *st, const qp_vault *vault,
                       struct json_t *params, qp_error *err);

/* The search method ranks the matches outside its first tier (title,
 * aliases, headings) by BM25 when there are at most this many; more stream
 * in index order (see search.c). */
#define QP__SEARCH_RANK_MAX 2000

#endif
