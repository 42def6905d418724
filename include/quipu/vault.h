#ifndef QUIPU_VAULT_H
#define QUIPU_VAULT_H

/*
 * vault — the files of one vault: walking, ignore rules, safe reads.
 *
 * A qp_vault knows its root (a real path), its ignore rule and the vault's
 * own settings. Ignored: any path with a dot component (.obsidian, .git,
 * .trash, ...): never walked, read by the index or watched. Excluded files
 * (userIgnoreFilters, see quipu/vaultconf.h) are NOT ignored: Obsidian still
 * indexes them as link sources, so quipu walks, indexes and watches them,
 * and the read side hides them where Obsidian does (search, unlinked
 * mentions, link suggestions) through qp_vault_excluded(). Paths in and out
 * are vault-relative, '/'-separated, NFC. Nothing outside the root is ever
 * read: symlinks that leave the vault are skipped, loops are survived.
 *
 * The settings (.obsidian/app.json, the Tasks plugin's data.json) are read
 * at qp_vault_open() and again by qp_vault_reload_conf() when the daemon
 * sees either file change. A qp_vault may be shared between threads: the
 * root never changes, and the settings are an immutable snapshot swapped
 * under a lock, so a query holding the old one finishes with it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"
#include "quipu/vaultconf.h"

typedef struct qp_vault qp_vault; /* opaque */

typedef struct qp_file_stat {
    int64_t size;
    int64_t mtime_ns;
    uint64_t hash; /* XXH3-64 of the content; 0 when not computed */
} qp_file_stat;

/* Opens the vault at `root` (any path to a directory; resolved with
 * realpath). On success *out is new (free with qp_vault_close). Fails with
 * QP_ENOTFOUND (no such directory), QP_EIO, QP_ENOMEM. */
qp_rc qp_vault_open(qp_vault **out, const char *root, qp_error *err);

void qp_vault_close(qp_vault *v);

/* The vault's real absolute path. Borrowed, valid until qp_vault_close. */
const char *qp_vault_root(const qp_vault *v);

/* True when the vault-relative path is ignored: it has a dot component.
 * Folders and files alike; `v` may be NULL. */
bool qp_vault_ignored(const qp_vault *v, const char *relpath);

/* True when the vault-relative path is an excluded file (userIgnoreFilters
 * of the current settings). `v` may be NULL (nothing is excluded). */
bool qp_vault_excluded(const qp_vault *v, const char *relpath);

/* The current settings snapshot, with a new reference (drop it with
 * qp_vaultconf_free). Never NULL. Thread-safe. */
qp_vaultconf *qp_vault_conf(const qp_vault *v);

/* Reads the settings files again. When they say something else than the
 * current snapshot, it is replaced and *changed is true. Thread-safe.
 * Errors: QP_ENOMEM only (bad files are defaults plus a warning). */
qp_rc qp_vault_reload_conf(qp_vault *v, bool *changed, qp_error *err);

/* True when relpath names a Markdown note (".md", case-insensitive). */
bool qp_vault_is_note(const char *relpath);

/* Called once per file (never a directory) that is not ignored (excluded
 * files are reported); `st.hash`
 * is 0. A non-zero return stops the walk and becomes qp_vault_walk's result. */
typedef int (*qp_vault_walk_cb)(const char *relpath, const qp_file_stat *st, void *payload);

/* Walks the whole vault depth-first in byte order of names. Regular files
 * only; a symlink is followed only when its real path is inside the root,
 * and each directory (dev, inode) is entered once, so loops end and a
 * folder linked twice is reported under the first name met. relpath is
 * NFC (borrowed, valid during the call). Unreadable directories are
 * skipped. Fails with QP_EIO only when the root is unreadable, QP_ENOMEM,
 * or with the callback's non-zero result. */
qp_rc qp_vault_walk(const qp_vault *v, qp_vault_walk_cb cb, void *payload, qp_error *err);

/* Reads a vault-relative file. Refuses paths that are absolute, contain
 * "..", NUL, or resolve outside the vault (QP_EINVAL); QP_ENOTFOUND when it
 * does not exist; QP_ETOOBIG when larger than max_size (then *out is NULL
 * but *st is filled). On success *out is new (free with free()), NUL-
 * terminated, *len its length, *st its size, mtime and XXH3 hash.
 * max_size 0 means no limit. A path whose components are NFC while the
 * names on disk are decomposed (NFD) is found all the same. */
qp_rc qp_vault_read(const qp_vault *v, const char *relpath, size_t max_size, char **out,
                    size_t *len, qp_file_stat *st, qp_error *err);

/* Stats a vault-relative file without reading it (hash = 0). */
qp_rc qp_vault_stat(const qp_vault *v, const char *relpath, qp_file_stat *st, qp_error *err);

#endif
