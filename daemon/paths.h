#ifndef QPD_PATHS_H
#define QPD_PATHS_H

/*
 * paths — where quipud puts its socket and index, and how quipu finds them.
 *
 * Both programs derive the same names from a vault's real path, so a client
 * started anywhere inside the vault reaches the daemon without configuration:
 *
 *   socket  $XDG_RUNTIME_DIR/quipu/<base>-<hash>.sock   (else /tmp/quipu-<uid>/)
 *   index   $XDG_CACHE_HOME/quipu/<base>-<hash>.sqlite3 (else $HOME/.cache/quipu/)
 *
 * <base> is the vault directory's last component (cut to 32 bytes on a UTF-8
 * boundary, so that the socket path stays under sun_path's 108 bytes);
 * <hash> is the first 8 lowercase hex digits of XXH3_64bits(realpath), which
 * keeps two vaults with the same name apart.
 *
 * These functions read the environment: they belong to the programs, never to
 * libquipu. Every one writes a NUL-terminated path into the caller's buffer
 * `buf` of `n` bytes and returns 0, or a negative errno (-ENAMETOOLONG when
 * the path does not fit, -ENOENT when nothing is found); on failure buf holds
 * an empty string. Thread-safe as long as nobody changes the environment.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The default socket path of the vault whose real (absolute, symlink-free)
 * path is `vault_realpath`. Does not create the directory. */
int qpd_paths_default_socket(char *buf, size_t n, const char *vault_realpath);

/* The default index path of that vault. Does not create the directory. */
int qpd_paths_default_db(char *buf, size_t n, const char *vault_realpath);

/* Walks up from `start_dir` (made real first) to the first directory that
 * contains a `.obsidian/` directory and writes that directory's real path.
 * -ENOENT when no ancestor has one. */
int qpd_paths_find_vault(char *buf, size_t n, const char *start_dir);

/* Creates `dir` and any missing parents with `mode` (as mkdir -p does; the
 * umask applies). An existing directory is success; an existing
 * non-directory is -ENOTDIR. */
int qpd_paths_mkdir_p(const char *dir, mode_t mode);

/* True when the vault-relative path `rel` is one of the index's own files
 * (the database, its -wal, -shm and -journal), given `db_rel`, the index's
 * vault-relative path (NULL when the index is outside the vault: always
 * false). The daemon never indexes its own index. */
bool qpd_paths_is_index(const char *db_rel, const char *rel);

#endif /* QPD_PATHS_H */
