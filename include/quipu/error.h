#ifndef QUIPU_ERROR_H
#define QUIPU_ERROR_H

/*
 * error — return codes and the error record that travels with them.
 *
 * Fallible functions return a qp_rc: 0 on success, a negative QP_E* code on
 * failure. Detail goes into a caller-owned qp_error (no allocation, no
 * thread-local state), so an error can cross threads with the job it
 * belongs to. Every function that takes a `qp_error *err` accepts NULL.
 *
 * Bad input (broken YAML, invalid UTF-8, a malformed query line of a note)
 * is not a failed call: parsers return their result plus diagnostics. Only
 * I/O, out-of-memory, misuse and "not found" fail.
 */

#include <stddef.h>

typedef int qp_rc;

enum {
    QP_OK = 0,
    QP_ENOMEM = -1,    /* out of memory */
    QP_EIO = -2,       /* an operating-system or SQLite I/O error; sys has errno/SQLite code */
    QP_EINVAL = -3,    /* misuse or invalid parameters */
    QP_ENOTFOUND = -4, /* the note, file or link target does not exist */
    QP_ECORRUPT = -5,  /* the index is corrupt or from an unknown schema version */
    QP_EQUERY = -6,    /* a task query has an error; line/col say where */
    QP_EBUSY = -7,     /* the index is locked by another writer */
    QP_ETOOBIG = -8,   /* input over a configured size limit */
    QP_EFULL = -9,     /* the disk is full (SQLITE_FULL, ENOSPC) */
};

#define QP_ERROR_MSG_MAX 256

typedef struct qp_error {
    qp_rc code;
    int sys;  /* errno or SQLite extended result code, 0 when none */
    int line; /* 1-based input line the error is about, 0 when none */
    int col;  /* 1-based byte column, 0 when none */
    char msg[QP_ERROR_MSG_MAX];
} qp_error;

#define QP_ERROR_INIT \
    {                 \
        0, 0, 0, 0,   \
        {             \
            0         \
        }             \
    }

/* The symbolic name of a code ("QP_ENOTFOUND"); "QP_E?" for unknown ones. */
const char *qp_rc_name(qp_rc rc);

/* Fills *err (when non-NULL) with code and a printf-formatted message, clears
 * sys/line/col, and returns code, so `return qp_error_set(err, ...)` reads
 * naturally. The message is truncated to QP_ERROR_MSG_MAX - 1 bytes. */
qp_rc qp_error_set(qp_error *err, qp_rc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets *err (when non-NULL) to "no error". */
void qp_error_clear(qp_error *err);

#endif
