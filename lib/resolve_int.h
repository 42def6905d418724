#ifndef QUIPU_RESOLVE_INT_H
#define QUIPU_RESOLVE_INT_H

/*
 * resolve_int — link resolution inside libquipu (resolve.c), spec/links.md
 * §2.1, and subpath matching (§7). Pure: candidates come from a callback,
 * so the §2.2 table is testable without SQLite; the store supplies them
 * from the index (qp__store_cands).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"

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

#endif
