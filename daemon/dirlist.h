#ifndef QPD_DIRLIST_H
#define QPD_DIRLIST_H

/*
 * dirlist — lists one directory of the vault, the way the watcher sees it.
 *
 * The one directory walker of the daemon (parse jobs list a new directory,
 * the full scan lists every directory to watch it; lib's qp_vault_walk
 * reports files only). Entries the vault ignores (dot-folders,
 * userIgnoreFilters) and the index's own files are left out. Symbolic links
 * to directories are not followed (a link to an ancestor would make the
 * watches endless); links to files are, as qp_vault_walk does. Any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "qpd.h"

/* A directory found, to watch. */
typedef struct qpd_dir {
    char *rel; /* owned; "" is the root */
    uint64_t dev, ino;
    bool fresh; /* under a directory whose old contents are being removed */
} qpd_dir;

typedef struct qpd_dirvec {
    qpd_dir *v;
    size_t n, cap;
} qpd_dirvec;

/* Appends `rel` (taken) with the identity in `sb`. */
void qpd_dirvec_push(qpd_dirvec *dv, char *rel, const struct stat *sb, bool fresh);
void qpd_dirvec_free(qpd_dirvec *dv);

/* Sorts by rel. */
void qpd_dirvec_sort(qpd_dirvec *dv);

/* Called for each entry of the directory: `rel` (vault-relative, taken) and
 * its stat (lstat, or stat through a link to a file). */
typedef void (*qpd_dirlist_cb)(char *rel, const struct stat *sb, void *payload);

/* Lists the entries of the vault directory `rel` ("" is the root); nothing
 * when it cannot be opened. With `dirs_only`, entries the directory itself
 * says are not directories (d_type) are skipped without a stat: the full
 * scan's first phase wants only the folders, and a stat per file there
 * doubled the work of a warm start. */
void qpd_dirlist(const qpd_daemon *d, const char *rel, bool dirs_only, qpd_dirlist_cb cb,
                 void *payload);

#endif
