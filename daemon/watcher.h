#ifndef QPD_WATCHER_H
#define QPD_WATCHER_H

/*
 * watcher — one uv_fs_event per directory of the vault (inotify watches are
 * not recursive). Every event becomes a vault-relative path handed to the
 * `changed` hook main registers; ignored paths (dot-folders, the index
 * itself when it lives in the vault) are dropped here; excluded files
 * (userIgnoreFilters) are not ignored. Directories are added as scans and
 * parse jobs discover them and dropped when they are gone. When a watch
 * cannot be added (ENOSPC: the inotify limit; or the --watch-limit test
 * hook), the watcher says so through the `rescan` hook and the scheduler
 * falls back to rescans. Loop thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qpd.h"

/* How the watcher reports, registered by main (it knows nothing above it). */
typedef struct qpd_watcher_hooks {
    /* `rel` changed (borrowed for the call). */
    void (*changed)(qpd_daemon *d, const char *rel);
    /* Something may have been missed: look at everything. */
    void (*rescan)(qpd_daemon *d, const char *why);
    /* Optional: one of `settings` (vault-relative files in folders the vault
     * otherwise ignores, such as QP_VAULTCONF_APP_JSON) was written, made,
     * deleted or renamed. Their folders are watched when they exist, at the
     * end of every full scan. */
    void (*settings_changed)(qpd_daemon *d, const char *rel);
    const char *const *settings; /* NULL-terminated; NULL: none */
} qpd_watcher_hooks;

qp_rc qpd_watcher_start(qpd_daemon *d, const qpd_watcher_hooks *hooks, qp_error *err);

/* Watches `rel` ("" is the root) if not watched yet, or re-watches it when
 * the directory there is a different one (dev/ino changed). True when a new
 * watch was added: the caller lists the directory now, so that files made
 * before the watch existed are not missed. */
bool qpd_watcher_add(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino);

/* True when `rel` is a watched directory. */
bool qpd_watcher_is_dir(qpd_daemon *d, const char *rel);

/* True when `rel` is watched but the directory there now is another one
 * (dev/ino differ): the watched one was moved away or deleted, and one of
 * the same name made, before the change set that says so was handled. */
bool qpd_watcher_replaced(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino);

/* Drops the watches of `rel` and every directory under it. */
void qpd_watcher_drop_tree(qpd_daemon *d, const char *rel);

/* After a full scan: drops watches of directories not in `dirs` (sorted). */
void qpd_watcher_keep_only(qpd_daemon *d, char *const *dirs, size_t n);

/* True when some directory could not be watched: only rescans see it. */
bool qpd_watcher_degraded(qpd_daemon *d);

size_t qpd_watcher_count(qpd_daemon *d);

void qpd_watcher_stop(qpd_daemon *d);
void qpd_watcher_free(qpd_daemon *d);

#endif
