#ifndef QUIPU_INGEST_H
#define QUIPU_INGEST_H

/*
 * ingest — one path of the vault into one index operation.
 *
 * The one place that decides what a file is to the index. qp_store_sync()
 * and the daemon's parse workers both call qp_ingest_path(), and the store
 * writes what it returns (qp_store_apply()), so there is one size limit,
 * one policy for a note that cannot be indexed as a note, and one
 * "unchanged" test. ingest reads and parses; it never touches the index.
 *
 * The policy, for a regular file at `relpath`:
 * - not ".md": an attachment (a link target only); it is stat'ed, never read;
 * - ".md" over QP_NOTE_MAX_SIZE (8 MiB): an attachment with the problem
 *   QP_INGEST_TOO_BIG. Its bytes are never read, so a huge file costs no
 *   memory whatever its size (a note cut at the limit would silently lose
 *   every link past it);
 * - ".md" with binary content (a NUL byte, or more than one byte in four
 *   inside invalid UTF-8 sequences): an attachment with QP_INGEST_BINARY;
 * - any other ".md": parsed into a note; when some bytes are not UTF-8 the
 *   note gets the problem QP_INGEST_NOT_UTF8 beside the parser's diagnostics;
 * - a path that is gone, is no regular file, or leads outside the vault:
 *   removed from the index.
 * A problem is stored as a warning in the diagnostics the index keeps for
 * the file (line 0, the message of qp_ingest_problem_message()), replaced
 * with the file's other rows at its next put; qp_ingest_problem_of() tells
 * which problem a stored message is.
 *
 * Unchanged: a file whose size and mtime equal the index's is not read
 * (qp_ingest_unchanged()); a file whose stat changed but whose content hash
 * equals the index's is not parsed again, only its stat is updated.
 *
 * Threads: qp_ingest_path() does blocking file I/O and no SQLite, so it
 * runs on any worker; qp_store_apply() runs on the store's thread. An op
 * owns its note; it may cross threads (the note is immutable).
 */

#include <stdbool.h>

#include "quipu/error.h"
#include "quipu/note.h"
#include "quipu/vault.h"

typedef enum qp_ingest_kind {
    QP_INGEST_SKIP = 0, /* nothing to write: unchanged, or not a file (a directory) */
    QP_INGEST_NOTE,     /* put `note` */
    QP_INGEST_FILE,     /* put an attachment; `problem` says why when it is a .md */
    QP_INGEST_STAT,     /* content as indexed: only size and mtime are updated */
    QP_INGEST_REMOVE,   /* gone: drop it (a path never indexed is no error) */
} qp_ingest_kind;

typedef enum qp_ingest_problem {
    QP_INGEST_OK = 0,
    QP_INGEST_TOO_BIG,  /* .md over QP_NOTE_MAX_SIZE: an attachment */
    QP_INGEST_BINARY,   /* .md with binary content: an attachment */
    QP_INGEST_NOT_UTF8, /* a note with some invalid UTF-8 (indexed all the same) */
} qp_ingest_problem;

typedef struct qp_ingest_op {
    qp_ingest_kind kind;
    qp_ingest_problem problem;
    qp_file_stat fs; /* the file as read or stat'ed (hash 0 when not read) */
    qp_note *note;   /* QP_INGEST_NOTE: owned by the op */
} qp_ingest_op;

#define QP_INGEST_OP_INIT                       \
    {                                           \
        QP_INGEST_SKIP, QP_INGEST_OK, {0}, NULL \
    }

/* The unchanged test: true when `now` has the size and mtime the index
 * holds in `indexed` (then the file is not read again). */
bool qp_ingest_unchanged(const qp_file_stat *indexed, const qp_file_stat *now);

/* Decides what the index must do about `relpath` (vault-relative) and does
 * the reading and parsing that takes. `indexed` is what the index holds for
 * the path, or NULL when it holds nothing or the caller cannot say (then
 * nothing is skipped as unchanged); it must be the state qp_store_apply()
 * will meet, so a reader's snapshot only serves when no batch touching the
 * path is pending. On QP_OK *out is filled (free with qp_ingest_op_clear()).
 * Fails, with *out a QP_INGEST_SKIP, only with QP_ENOMEM or QP_EIO (a read
 * error: the file is left as indexed and may be tried again). */
qp_rc qp_ingest_path(qp_ingest_op *out, const qp_vault *v, const char *relpath,
                     const qp_file_stat *indexed, qp_error *err);

/* Frees what the op owns and makes it a QP_INGEST_SKIP. Accepts NULL. */
void qp_ingest_op_clear(qp_ingest_op *op);

/* The stored message of a problem, one line ("" for QP_INGEST_OK). Static. */
const char *qp_ingest_problem_message(qp_ingest_problem p);

/* Which problem a stored diagnostic message is; QP_INGEST_OK for any
 * other message (the parser's). */
qp_ingest_problem qp_ingest_problem_of(const char *msg);

#endif /* QUIPU_INGEST_H */
