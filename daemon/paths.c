/*
 * paths — default socket and index locations, vault discovery, mkdir -p.
 * See paths.h for the naming scheme both quipud and quipu rely on.
 */
/* realpath() is XSI, not in plain POSIX.1-2008. */
#define _XOPEN_SOURCE 700

#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "quipu/store.h"

/* Long vault names are cut so that "<runtime>/quipu/<base>-<hash>.sock"
 * fits in sun_path on ordinary systems. */
#define BASE_MAX 32

/* snprintf into buf, mapping truncation to -ENAMETOOLONG and leaving an
 * empty string behind on failure. */
__attribute__((format(printf, 3, 4))) static int put(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (n == 0)
        return -ENAMETOOLONG;
    va_start(ap, fmt);
    len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= n) {
        buf[0] = '\0';
        return len < 0 ? -EINVAL : -ENAMETOOLONG;
    }
    return 0;
}

/* Writes "<base>-<hash>" for a vault into name[BASE_MAX + 10]. */
static void vault_name(char *name, const char *vault_realpath)
{
    size_t len = strlen(vault_realpath);
    const char *base;
    size_t blen;
    uint32_t hash = (uint32_t)(XXH3_64bits(vault_realpath, len) >> 32);

    /* Ignore trailing slashes so "/a/vault/" and "/a/vault" share a base name
     * (the hash still differs; callers pass realpath() output, which has none). */
    while (len > 1 && vault_realpath[len - 1] == '/')
        len--;
    base = vault_realpath + len;
    while (base > vault_realpath && base[-1] != '/')
        base--;
    blen = (size_t)(vault_realpath + len - base);
    if (blen == 0 || (blen == 1 && base[0] == '/')) {
        base = "root";
        blen = 4;
    }
    if (blen > BASE_MAX) {
        blen = BASE_MAX;
        /* Never cut a UTF-8 sequence in half: back up over continuation bytes. */
        while (blen > 0 && ((unsigned char)base[blen] & 0xC0) == 0x80)
            blen--;
    }
    memcpy(name, base, blen);
    snprintf(name + blen, 10, "-%08x", (unsigned)hash);
}

/* An environment directory is usable only when set, non-empty and absolute
 * (the XDG base directory spec says to ignore relative ones). */
static const char *env_dir(const char *var)
{
    const char *v = getenv(var);

    return v != NULL && v[0] == '/' ? v : NULL;
}

int qpd_paths_default_socket(char *buf, size_t n, const char *vault_realpath)
{
    char name[BASE_MAX + 10];
    const char *run = env_dir("XDG_RUNTIME_DIR");

    vault_name(name, vault_realpath);
    if (run != NULL)
        return put(buf, n, "%s/quipu/%s.sock", run, name);
    return put(buf, n, "/tmp/quipu-%lu/%s.sock", (unsigned long)getuid(), name);
}

int qpd_paths_default_db(char *buf, size_t n, const char *vault_realpath)
{
    char name[BASE_MAX + 10];
    const char *cache = env_dir("XDG_CACHE_HOME");
    const char *home;

    vault_name(name, vault_realpath);
    if (cache != NULL)
        return put(buf, n, "%s/quipu/%s.sqlite3", cache, name);
    home = env_dir("HOME");
    if (home == NULL) {
        if (n > 0)
            buf[0] = '\0';
        return -ENOENT;
    }
    return put(buf, n, "%s/.cache/quipu/%s.sqlite3", home, name);
}

int qpd_paths_find_vault(char *buf, size_t n, const char *start_dir)
{
    char *dir = realpath(start_dir, NULL);
    char probe[PATH_MAX + 16];
    struct stat sb;
    int rc = -ENOENT;

    if (n > 0)
        buf[0] = '\0';
    if (dir == NULL)
        return -errno;
    for (;;) {
        char *slash;

        snprintf(probe, sizeof probe, "%s/.obsidian", strcmp(dir, "/") == 0 ? "" : dir);
        if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            rc = put(buf, n, "%s", dir);
            break;
        }
        if (strcmp(dir, "/") == 0)
            break;
        slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0'; /* the parent of "/x" is "/" */
        else
            *slash = '\0';
    }
    free(dir);
    return rc;
}

int qpd_paths_mkdir_p(const char *dir, mode_t mode)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    struct stat sb;

    if (len == 0)
        return -ENOENT;
    if (len >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);

    /* Create each prefix in turn; EEXIST on a prefix is fine as long as it is
     * a directory, which the final stat (or the next mkdir's ENOTDIR) checks. */
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST) {
            int e = errno;
            return -e;
        }
        *p = '/';
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return -errno;
    if (stat(path, &sb) != 0)
        return -errno;
    return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

bool qpd_paths_is_index(const char *db_rel, const char *rel)
{
    /* The store knows which files SQLite keeps beside the database. */
    return db_rel != NULL && qp_store_is_index_file(db_rel, rel);
}
