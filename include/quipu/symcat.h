#ifndef QUIPU_SYMCAT_H
#define QUIPU_SYMCAT_H

/*
 * symcat — the symbol catalogue: the folded file names, aliases and
 * headings of every note of an index, in memory, for symbols.search (LSP
 * workspace/symbol). One catalogue serves every read store of the index.
 *
 * Without it symbols.search scans those rows in SQLite, some 420k at 100k
 * notes, for every keystroke of a symbol picker. The catalogue is built
 * from the snapshot of the first store that searches, then brought up to
 * date by each later search from the index's record of what changed since
 * (only those notes are read again), so its answers are those of the
 * store's snapshot, or of a newer one. A rebuilt index is noticed and read
 * again whole.
 *
 * Thread-safe: one lock, held by a search while it brings the catalogue
 * up to date and collects its matches.
 */

#include "quipu/error.h"
#include "quipu/store.h"

typedef struct qp_symcat qp_symcat; /* opaque */

/* An empty catalogue (*out new; free with qp_symcat_free). QP_ENOMEM. */
qp_rc qp_symcat_new(qp_symcat **out, qp_error *err);

/* Frees the catalogue. No store may use it any more. Accepts NULL. */
void qp_symcat_free(qp_symcat *c);

/* Makes symbols.search on `st` answer from `c` (borrowed: it must outlive
 * st's use of it); NULL goes back to scanning the index. */
void qp_symcat_use(qp_store *st, qp_symcat *c);

/* Memory the catalogue holds, in bytes (0 before its first search). */
size_t qp_symcat_bytes(qp_symcat *c);

#endif
