#ifndef QUIPU_STORE_H
#define QUIPU_STORE_H

/*
 * store — the SQLite index of one vault.
 *
 * A qp_store is one connection plus its prepared statements. It is not
 * thread-safe: use each store from one thread at a time. Open exactly one
 * store with QP_STORE_WRITE per index; open as many QP_STORE_READ stores as
 * there are threads that query. Readers see the last committed snapshot
 * (WAL) and never wait for the writer.
 *
 * The index is a cache of the vault: a file that is corrupt or carries an
 * unknown schema version is deleted and rebuilt empty when opened for
 * writing (qp_store_rebuilt() says so), and the caller rescans. A write
 * open checks every page (PRAGMA quick_check) when the index is at most
 * 16 MiB or its last writer did not close cleanly (a crash); a bigger index
 * closed cleanly is trusted. Damage met later makes any call fail with
 * QP_ECORRUPT: the caller then closes its stores, deletes the index files
 * and opens a writer again (or a fresh one), and rescans.
 *
 * Writes happen in batches: qp_store_begin(), any number of put/remove
 * calls, qp_store_commit(). The commit re-resolves every link whose target
 * can have changed (spec/links.md §2.5) and bumps the generation counter.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"
#include "quipu/ingest.h"
#include "quipu/note.h"
#include "quipu/vault.h"

typedef struct qp_store qp_store; /* opaque */

typedef enum qp_store_mode {
    QP_STORE_READ = 0,
    QP_STORE_WRITE = 1, /* creates the schema; rebuilds an index of another version */
} qp_store_mode;

/* Opens the index at `db_path`. On success *out is a new store (free with
 * qp_store_close). Fails with QP_EIO, QP_EBUSY, QP_ENOMEM; a reader on a
 * missing or foreign file fails with QP_ECORRUPT. */
qp_rc qp_store_open(qp_store **out, const char *db_path, qp_store_mode mode, qp_error *err);

/* The index's files: the database at db_path and what SQLite keeps beside
 * it ("-wal", "-shm", "-journal"). qp_store_index_file() writes the i-th
 * name (i = 0 is db_path itself) into buf and returns buf; NULL when i is
 * past the last or buf is too small (bufsize = strlen(db_path) + 9 always
 * suffices). qp_store_is_index_file() says whether `path` is one of them,
 * compared as spelled (both relative or both absolute). Pure. */
const char *qp_store_index_file(const char *db_path, size_t i, char *buf, size_t bufsize);
bool qp_store_is_index_file(const char *db_path, const char *path);

/* Deletes the index's files (no store may have them open); missing ones
 * are fine. QP_EIO naming the first that could not be removed (the others
 * are still tried), QP_ENOMEM. */
qp_rc qp_store_remove_files(const char *db_path, qp_error *err);

/* Closes the connection; rolls back an open batch. A writer records a
 * clean close and checkpoints the WAL into the database. Accepts NULL. */
void qp_store_close(qp_store *st);

/* True when qp_store_open() found a corrupt or foreign index and rebuilt it. */
bool qp_store_rebuilt(const qp_store *st);

/* The commit counter: grows by one per committed batch that changed anything. */
int64_t qp_store_generation(qp_store *st);

/* Batch writes (QP_STORE_WRITE only). */
qp_rc qp_store_begin(qp_store *st, qp_error *err);
/* Inserts or replaces a note. `note` is borrowed. */
qp_rc qp_store_put_note(qp_store *st, const char *path, const qp_file_stat *fs, const qp_note *note,
                        qp_error *err);
/* Inserts or replaces an attachment (a non-Markdown file: a link target only). */
qp_rc qp_store_put_file(qp_store *st, const char *path, const qp_file_stat *fs, qp_error *err);
/* Writes what qp_ingest_path() decided for `path` (quipu/ingest.h): a note,
 * an attachment (with its problem as a warning diagnostic, line 0, that the
 * next put or remove of the path drops), a new stat for unchanged content
 * (no new generation: readers see nothing different), or a removal (of a
 * path never indexed too). Borrows op. */
qp_rc qp_store_apply(qp_store *st, const char *path, const qp_ingest_op *op, qp_error *err);
/* Removes a file and what it owns; QP_ENOTFOUND when it was not indexed. */
qp_rc qp_store_remove(qp_store *st, const char *path, qp_error *err);
/* Re-resolves affected links, commits, bumps the generation. On failure the
 * batch is rolled back and the index is as before qp_store_begin(). */
qp_rc qp_store_commit(qp_store *st, qp_error *err);
void qp_store_rollback(qp_store *st);

/* Bulk load, for the first load into an empty index (QP_STORE_WRITE):
 * between qp_store_bulk_begin() and qp_store_bulk_end(), batches work as
 * usual (begin, put/remove, commit; commits bump the generation) but
 * commits resolve no link, writes are not synced (synchronous = OFF, no
 * WAL checkpoints) and the secondary indexes are dropped. Readers see the
 * files, but links are unresolved until the end. qp_store_bulk_end()
 * rebuilds the indexes, resolves every link in one set-based pass, bumps
 * the generation and returns to normal mode. A bulk load cut short (crash,
 * or a close without qp_store_bulk_end) makes the next write open rebuild
 * the index empty (qp_store_rebuilt()). QP_EINVAL when misused (a batch is
 * open, or not in / already in bulk mode). On failure of bulk_end the store
 * stays in bulk mode and bulk_end may be retried. */
qp_rc qp_store_bulk_begin(qp_store *st, qp_error *err);
qp_rc qp_store_bulk_end(qp_store *st, qp_error *err);

/* The stored stat of a file; QP_ENOTFOUND when not indexed. */
qp_rc qp_store_file_stat(qp_store *st, const char *path, qp_file_stat *out, qp_error *err);

/* Calls cb for every indexed path (notes and attachments); a non-zero return stops. */
qp_rc qp_store_each_file(qp_store *st, int (*cb)(const char *path, void *payload), void *payload,
                         qp_error *err);

/* Every indexed file with its stat as stored (size, mtime_ns, hash), in
 * path order (byte order), from one snapshot: what a scan compares the
 * vault with in one pass instead of one lookup per file. `cb` returns
 * non-zero to stop (that value is returned). */
qp_rc qp_store_each_file_stat(qp_store *st,
                              int (*cb)(const char *path, const qp_file_stat *fs, void *payload),
                              void *payload, qp_error *err);

/* Convenience for tools and tests: bring the index in line with the vault on
 * the calling thread, in one batch: walk, then each file through
 * qp_ingest_path() and qp_store_apply() as the daemon does (the policy of
 * quipu/ingest.h: unchanged files skipped, big or binary notes recorded as
 * attachments with a problem), then drop what is gone. `progress` may be NULL. */
qp_rc qp_store_sync(qp_store *st, const qp_vault *v,
                    void (*progress)(size_t done, size_t total, void *payload), void *payload,
                    qp_error *err);

/* Checkpoints when the owner says, not inside commits: a write store
 * normally copies its WAL back into the database within the commit that
 * crosses 1000 pages, which made that commit (and the push of that save)
 * tens of milliseconds late. After this call the store only counts the WAL's
 * frames (qp_store_wal_frames(), after each commit) and the owner runs
 * qp_store_checkpoint() when it is idle, or when the WAL grows too big.
 * QP_EINVAL on a read store. */
qp_rc qp_store_defer_checkpoints(qp_store *st, qp_error *err);
int qp_store_wal_frames(const qp_store *st);

/* A passive checkpoint: copies back what no reader still needs; never
 * waits for readers. QP_EINVAL on a read store. */
qp_rc qp_store_checkpoint(qp_store *st, qp_error *err);

/* The same checkpoint from a connection of its own, opened and closed by
 * this call, so that a thread other than the writer's runs it: SQLite lets
 * the writer go on committing (the WAL grows at its end) while frames are
 * copied back, where qp_store_checkpoint() makes the next commit wait.
 * `synced`: the database file is synced after the copy (false only while a
 * bulk load runs unsynced anyway). *left (may be NULL): the frames a reader
 * still needed. The index must exist and its writer must keep it open (the
 * last connection to close a WAL index removes the WAL). */
qp_rc qp_store_checkpoint_path(const char *db_path, bool synced, int *left, qp_error *err);

/* Work a query may spread over threads. run(ctx, fn, arg, n) must call
 * fn(arg, i) exactly once for every i in [0, n), on whatever threads it
 * likes (the calling one included), and return when all of them have
 * returned. The store hands it only work that touches neither SQLite nor
 * the store (reading and searching note files: the candidates of unlinked
 * mentions), so the store's connection stays on its own thread. */
typedef void (*qp_store_task_fn)(void *arg, size_t i);
typedef struct qp_store_parallel {
    void (*run)(void *ctx, qp_store_task_fn fn, void *arg, size_t n);
    void *ctx;
} qp_store_parallel;

/* Gives st a way to run work in parallel (*p is copied; its ctx must
 * outlive st's use of it); NULL, the default, runs it in order on the
 * calling thread. */
void qp_store_set_parallel(qp_store *st, const qp_store_parallel *p);

/* Counters since qp_store_open(), for tests and logs. */
typedef struct qp_store_stats {
    size_t parsed;      /* notes read and parsed by qp_store_sync */
    size_t skipped;     /* files whose size and mtime matched the index */
    size_t rehashed;    /* stat differed, content hash equal: only the stat was updated */
    size_t attachments; /* attachments (re)recorded by qp_store_sync */
    size_t removed;     /* files dropped by qp_store_sync because they are gone */
    size_t resolved;    /* links resolved by commits */
} qp_store_stats;

void qp_store_get_stats(const qp_store *st, qp_store_stats *out);

/* Calls cb for every ```tasks block of the note at `path` (line of the
 * opening fence, the block's text), in order; QP_ENOTFOUND when the path
 * is not indexed. A non-zero return stops and is returned. */
qp_rc qp_store_note_query_blocks(qp_store *st, const char *path,
                                 int (*cb)(uint32_t line, const char *query, void *payload),
                                 void *payload, qp_error *err);

#endif
