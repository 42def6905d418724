#ifndef QP_CLI_APPLY_H
#define QP_CLI_APPLY_H

/*
 * apply — writes a `rename.plan` result into the vault, safely; prints one
 * as a unified diff.
 *
 * quipud plans and never writes; the client that asked applies. Applying
 * is all or nothing as far as a crash allows:
 *  1. every file is read and its XXH3 hash compared with the hash the
 *     plan's edits were computed against: one file changed since (an editor
 *     saved it meanwhile) refuses the whole plan, nothing is written;
 *  2. each file's new content goes to a temporary file in its own folder;
 *     then all are made durable (one syncfs of the vault's file system, or
 *     an fsync per file where syncfs fails);
 *  3. the hashes are checked once more, then each file is replaced by
 *     rename() (atomic: a reader, or a kill -9, sees the old or the new
 *     file, never a part), its old content kept under a hard link; synced
 *     again;
 *  4. the file renames run last (never over an existing file); the folders
 *     are fsynced;
 *  5. a failure in 3 or 4 puts back what was done, in reverse order.
 * A kill between two files leaves some files new and some old (each one
 * whole), and hidden `.quipu-*` temporary files beside them.
 *
 * Paths in the plan are vault-relative and NFC; a file whose name is
 * decomposed (NFD) on disk is found all the same.
 *
 * For tests, $QUIPU_APPLY_DELAY_MS makes apply pause that long before step
 * 1 and before each file of step 3, so that an edit can land between plan
 * and apply, and a kill in the middle.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Applies `plan` (borrowed) to the vault at the absolute path `root`.
 * Returns 0, or QP_CLI_EXIT_FAIL with one line in why[0..wl) (caller's
 * buffer, may be NULL; cut to fit) that says why and what became of the
 * vault: "People/X.md changed since the rename was planned (saved
 * meanwhile?); nothing written: ...". Prints nothing. *written (may be
 * NULL) says whether anything was left changed (false after a refusal or a
 * complete rollback). */
int qp_cli_apply_err(const char *root, const json_t *plan, bool *written, char *why, size_t wl);

/* qp_cli_apply_err() that prints why as "quipu: ..." on stderr. */
int qp_cli_apply(const char *root, const json_t *plan, bool *written);

/* Prints the plan as a unified diff of the files as they are now (git's
 * rename headers for the renames). Returns 0, or prints why not and returns
 * QP_CLI_EXIT_FAIL. */
int qp_cli_plan_diff(const char *root, const json_t *plan, FILE *out, bool color);

#endif
