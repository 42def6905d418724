#ifndef QUIPU_VAULT_H
#define QUIPU_VAULT_H

/*
 * vault — the files of one vault: walking, ignore rules, safe reads.
 *
 * A qp_vault knows its root (a real path) and its ignore rules: dot-folders
 * and dot-files (.obsidian, .git, .trash, ...) and Obsidian's
 * `userIgnoreFilters` from .obsidian/app.json when present. Paths in and out
 * are vault-relative, '/'-separated, NFC. Nothing outside the root is ever
 * read: symlinks that leave the vault are skipped, loops are survived.
 *
 * userIgnoreFilters, as Obsidian reads them: each string is either
 *  - "/regex/" (starts and ends with '/', at least one character between):
 *    a regular expression searched anywhere in the vault-relative path of a
 *    file. quipu compiles it as a POSIX extended regex (best effort:
 *    JavaScript-only syntax such as \d or lookahead may not mean the same;
 *    a pattern regcomp rejects is skipped, not an error); or
 *  - anything else: a plain, case-sensitive path prefix. "Archive/" excludes
 *    the folder Archive; "Templates" excludes Templates.md, Templates/... and
 *    TemplatesOld/... alike (it is a string prefix, not a path segment).
 * Empty strings and non-strings are ignored; a missing or malformed app.json
 * means no filters. app.json is read once, at qp_vault_open().
 *
 * A qp_vault is immutable after qp_vault_open() and safe to share between
 * threads.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/error.h"

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

/* True when the vault-relative path is ignored (any dot component, or a
 * userIgnoreFilters match). */
bool qp_vault_ignored(const qp_vault *v, const char *relpath);

/* True when the folder `relpath` and everything below it is ignored: a dot
 * component, or a plain-prefix filter matching "relpath/" (the walk prunes
 * such folders; watchers need not watch them). Regex filters are tested on
 * files only, so a folder they might partly exclude is not reported here. */
bool qp_vault_ignored_dir(const qp_vault *v, const char *relpath);

/* True when relpath names a Markdown note (".md", case-insensitive). */
bool qp_vault_is_note(const char *relpath);

/* Called once per file (never a directory) that is not ignored; `st.hash`
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
