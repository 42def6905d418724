/*
 * ingest — one path of the vault into one index operation (see
 * quipu/ingest.h for the policy).
 *
 * Invariants: a note is read only when it is at most QP_NOTE_MAX_SIZE, so
 * the bytes held per path are bounded by the limit (qp_vault_read refuses a
 * bigger file before allocating, and stops a file that grows while being
 * read soon after the limit). An op returned with QP_OK owns its note and
 * nothing else; every failure leaves *out a QP_INGEST_SKIP owning nothing.
 */
#include "quipu/ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "note_int.h"
#include "search_int.h"

static const char *const problem_msgs[] = {
    [QP_INGEST_OK] = "",
    [QP_INGEST_TOO_BIG] = "larger than 8 MiB: indexed as an attachment, not as a note",
    [QP_INGEST_BINARY] = "binary content (NUL bytes or mostly invalid UTF-8): indexed as an "
                         "attachment, not as a note",
    [QP_INGEST_NOT_UTF8] = "not valid UTF-8 throughout: some characters may show wrongly",
};
#define N_PROBLEMS (sizeof problem_msgs / sizeof problem_msgs[0])

const char *qp_ingest_problem_message(qp_ingest_problem p)
{
    return (unsigned)p < N_PROBLEMS ? problem_msgs[p] : "";
}

qp_ingest_problem qp_ingest_problem_of(const char *msg)
{
    for (size_t i = 1; msg && i < N_PROBLEMS; i++)
        if (strcmp(msg, problem_msgs[i]) == 0)
            return (qp_ingest_problem)i;
    return QP_INGEST_OK;
}

bool qp_ingest_unchanged(const qp_file_stat *indexed, const qp_file_stat *now)
{
    return indexed->size == now->size && indexed->mtime_ns == now->mtime_ns;
}

/* How text-like `b` is: QP_INGEST_BINARY for a NUL byte or more than one
 * byte in four inside invalid UTF-8 sequences (random bytes are about 45%
 * invalid; a note in Latin-1 has one invalid byte per accented letter, a
 * few per cent of a European text), QP_INGEST_NOT_UTF8 for fewer invalid
 * bytes, else QP_INGEST_OK. */
static qp_ingest_problem content_problem(const char *b, size_t len)
{
    const uint8_t *p = (const uint8_t *)b, *end = p + len;
    size_t invalid = 0;

    if (memchr(b, '\0', len) != NULL)
        return QP_INGEST_BINARY;
    while (p < end) {
        if (*p < 0x80) { /* ASCII: most of any note */
            p++;
            continue;
        }
        ucs4_t uc;
        int n = u8_mbtoucr(&uc, p, (size_t)(end - p));
        if (n > 0) {
            p += n;
        } else {
            invalid++;
            p++;
        }
    }
    if (invalid > len / 4)
        return QP_INGEST_BINARY;
    return invalid > 0 ? QP_INGEST_NOT_UTF8 : QP_INGEST_OK;
}

/* A .md file: read (up to the limit), compare, check, parse. */
static qp_rc ingest_note(qp_ingest_op *out, const qp_vault *v, const char *relpath,
                         const qp_file_stat *indexed, qp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    qp_rc rc = qp_vault_read(v, relpath, QP_NOTE_MAX_SIZE, &buf, &len, &out->fs, err);

    if (rc == QP_ETOOBIG) {
        out->kind = QP_INGEST_FILE;
        out->problem = QP_INGEST_TOO_BIG;
        out->fs.hash = 0; /* not read: nothing to compare with next time */
        qp_error_clear(err);
        return QP_OK;
    }
    if (rc == QP_ENOTFOUND || rc == QP_EINVAL) { /* gone since, or no regular file now */
        out->kind = QP_INGEST_REMOVE;
        qp_error_clear(err);
        return QP_OK;
    }
    if (rc != QP_OK)
        return rc;
    if (indexed != NULL && indexed->hash != 0 && indexed->hash == out->fs.hash) {
        out->kind = QP_INGEST_STAT;
        free(buf);
        return QP_OK;
    }
    out->problem = content_problem(buf, len);
    if (out->problem == QP_INGEST_BINARY) {
        out->kind = QP_INGEST_FILE;
        free(buf);
        return QP_OK;
    }
    rc = qp_note_parse(&out->note, relpath, buf, len, NULL, err);
    free(buf);
    if (rc != QP_OK)
        return rc;
    /* The search index's words, made here on the caller's thread (a parse
     * worker) rather than by the single writer. */
    qp__search_doc *doc = NULL;
    rc = qp__search_doc_make(&doc, out->note, qp__note_arena(out->note), err);
    if (rc != QP_OK) {
        qp_note_free(out->note);
        out->note = NULL;
        return rc;
    }
    qp__note_set_search_doc(out->note, doc);
    out->kind = QP_INGEST_NOTE;
    return QP_OK;
}

qp_rc qp_ingest_path(qp_ingest_op *out, const qp_vault *v, const char *relpath,
                     const qp_file_stat *indexed, qp_error *err)
{
    qp_ingest_op none = QP_INGEST_OP_INIT;
    bool is_note = qp_vault_is_note(relpath);
    qp_rc rc;

    *out = none;
    /* A note with nothing to compare is read at once: the read stats it
     * (a separate stat would resolve the path a second time). */
    if (!is_note || indexed != NULL) {
        rc = qp_vault_stat(v, relpath, &out->fs, err);
        if (rc == QP_ENOTFOUND || rc == QP_EINVAL) {
            out->kind = QP_INGEST_REMOVE;
            qp_error_clear(err);
            return QP_OK;
        }
        if (rc != QP_OK)
            return rc;
        if (indexed != NULL && qp_ingest_unchanged(indexed, &out->fs))
            return QP_OK; /* QP_INGEST_SKIP */
        if (!is_note) {
            out->kind = QP_INGEST_FILE;
            return QP_OK;
        }
    }
    rc = ingest_note(out, v, relpath, indexed, err);
    if (rc != QP_OK)
        *out = none;
    return rc;
}

void qp_ingest_op_clear(qp_ingest_op *op)
{
    qp_ingest_op none = QP_INGEST_OP_INIT;

    if (op == NULL)
        return;
    qp_note_free(op->note);
    *op = none;
}
