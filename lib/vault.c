/*
 * vault — the files of one vault: walk, ignore rules, safe reads.
 *
 * Invariants: v->root is a realpath without a trailing '/' (except "/"
 * itself); every path handed out is vault-relative, '/'-separated and NFC;
 * nothing is read unless its realpath is the root or below it.
 *
 * Names on disk may be NFD (files copied from macOS) while links and the
 * index use NFC. The walk reports NFC; read and stat first try the path as
 * given and, when a component does not exist, look for a directory entry
 * whose NFC form equals it, so an NFC path reported by the walk can always
 * be read back.
 */
/* realpath() is an X/Open extension in glibc's headers; X/Open 7 is POSIX 2008.
 * syscall() (for openat2, which glibc 2.36 does not wrap) needs _DEFAULT_SOURCE. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE

#include "quipu/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__linux__) && defined(SYS_openat2)
#include <linux/openat2.h>
#define QP_HAVE_OPENAT2 1
#endif

#include <xxhash.h>

#include "quipu/text.h"
#include "quipu/vaultconf.h"

struct qp_vault {
    char *root;
    size_t rootlen;
    pthread_mutex_t lock; /* guards conf: the pointer, not the snapshot, changes */
    qp_vaultconf *conf;   /* one reference, never NULL after open */
};

static qp_rc sys_error(qp_error *err, int e, qp_rc code, const char *what, const char *path)
{
    qp_error_set(err, code, "%s: %s: %s", path, what, strerror(e));
    if (err != NULL)
        err->sys = e;
    return code;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + 1 + lb + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

/* True when the real path `real` is the root or inside it. */
static bool inside(const qp_vault *v, const char *real)
{
    if (strncmp(real, v->root, v->rootlen) != 0)
        return false;
    if (real[v->rootlen] == '\0')
        return true;
    return real[v->rootlen] == '/' || (v->rootlen == 1 && v->root[0] == '/');
}

/* ------------------------------------------------------------------ */
/* Ignored and excluded paths                                          */

bool qp_vault_ignored(const qp_vault *v, const char *relpath)
{
    const char *p = relpath;

    (void)v;
    if (relpath == NULL)
        return true;
    for (;;) {
        if (*p == '.')
            return true;
        p = strchr(p, '/');
        if (p == NULL)
            break;
        p++;
    }
    return false;
}

qp_vaultconf *qp_vault_conf(const qp_vault *v)
{
    qp_vaultconf *c;
    qp_vault *mv = (qp_vault *)(uintptr_t)v; /* the lock is not part of the value */

    pthread_mutex_lock(&mv->lock);
    c = qp_vaultconf_ref(mv->conf);
    pthread_mutex_unlock(&mv->lock);
    return c;
}

bool qp_vault_excluded(const qp_vault *v, const char *relpath)
{
    qp_vaultconf *c;
    bool ex;

    if (v == NULL)
        return false;
    c = qp_vault_conf(v);
    ex = qp_vaultconf_excluded(c, relpath);
    qp_vaultconf_free(c);
    return ex;
}

qp_rc qp_vault_reload_conf(qp_vault *v, bool *changed, qp_error *err)
{
    qp_vaultconf *c = NULL, *old;
    qp_rc rc;

    *changed = false;
    if ((rc = qp_vaultconf_load(&c, v->root, err)) != QP_OK)
        return rc;
    pthread_mutex_lock(&v->lock);
    old = v->conf;
    if (!qp_vaultconf_equal(old, c)) {
        v->conf = c;
        c = old;
        *changed = true;
    }
    pthread_mutex_unlock(&v->lock);
    qp_vaultconf_free(c); /* the unchanged new one, or the replaced old one */
    return QP_OK;
}

bool qp_vault_is_note(const char *relpath)
{
    size_t n = relpath != NULL ? strlen(relpath) : 0;
    return n > 3 && strcasecmp(relpath + n - 3, ".md") == 0;
}

/* ------------------------------------------------------------------ */
/* Open / close                                                        */

qp_rc qp_vault_open(qp_vault **out, const char *root, qp_error *err)
{
    qp_vault *v = NULL;
    struct stat st;
    qp_rc rc;

    *out = NULL;
    if (root == NULL || root[0] == '\0')
        return qp_error_set(err, QP_EINVAL, "no vault path given");
    if ((v = calloc(1, sizeof *v)) == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        free(v);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    if ((v->root = realpath(root, NULL)) == NULL) {
        int e = errno;
        rc = sys_error(err, e, e == ENOENT || e == ENOTDIR ? QP_ENOTFOUND : QP_EIO, "vault", root);
        goto fail;
    }
    if (stat(v->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = qp_error_set(err, QP_ENOTFOUND, "%s: vault: not a directory", root);
        goto fail;
    }
    v->rootlen = strlen(v->root);
    if ((rc = qp_vaultconf_load(&v->conf, v->root, err)) != QP_OK)
        goto fail;
    *out = v;
    return QP_OK;
fail:
    qp_vault_close(v);
    return rc;
}

void qp_vault_close(qp_vault *v)
{
    if (v == NULL)
        return;
    qp_vaultconf_free(v->conf);
    pthread_mutex_destroy(&v->lock);
    free(v->root);
    free(v);
}

const char *qp_vault_root(const qp_vault *v)
{
    return v->root;
}

/* ------------------------------------------------------------------ */
/* Walk                                                                */

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

typedef struct walker {
    const qp_vault *v;
    qp_vault_walk_cb cb;
    void *payload;
    dir_id *seen; /* directories entered: a symlink loop ends at the second visit */
    size_t nseen, capseen;
    int stop; /* the callback's non-zero result, or QP_ENOMEM */
} walker;

static size_t dir_hash(dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t)dev * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ino;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 32));
}

/* Adds a directory to the visited set (open addressing, capacity a power
 * of two, ino 0 marking a free slot is avoided by storing ino + 1).
 * False when it was there already, or when out of memory (w->stop set). */
static bool seen_add(walker *w, const struct stat *st)
{
    size_t mask, i;

    if ((w->nseen + 1) * 2 > w->capseen) {
        size_t cap = w->capseen ? w->capseen * 2 : 64;
        dir_id *tab = calloc(cap, sizeof *tab);
        if (tab == NULL) {
            w->stop = QP_ENOMEM;
            return false;
        }
        for (size_t k = 0; k < w->capseen; k++) {
            if (w->seen[k].ino == 0)
                continue;
            i = dir_hash(w->seen[k].dev, w->seen[k].ino) & (cap - 1);
            while (tab[i].ino != 0)
                i = (i + 1) & (cap - 1);
            tab[i] = w->seen[k];
        }
        free(w->seen);
        w->seen = tab;
        w->capseen = cap;
    }
    mask = w->capseen - 1;
    i = dir_hash(st->st_dev, st->st_ino + 1) & mask;
    while (w->seen[i].ino != 0) {
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino + 1)
            return false;
        i = (i + 1) & mask;
    }
    w->seen[i].dev = st->st_dev;
    w->seen[i].ino = st->st_ino + 1;
    w->nseen++;
    return true;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a directory's names (no dot entries), sorted in byte order. The
 * directory stays open in *dirp (the caller closes it) so that its
 * entries are stat'ed relative to it: fstatat() on a name skips the walk
 * down the whole path that lstat() on an absolute path does per file,
 * which was most of a warm start's time in the kernel. */
static char **list_dir(const char *path, DIR **dirp, size_t *n, bool *oom)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    *oom = false;
    *dirp = NULL;
    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ".", ".." and every dot-file or dot-folder */
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **g = realloc(names, ncap * sizeof *g);
            if (g == NULL)
                goto oom;
            names = g;
            cap = ncap;
        }
        if ((names[*n] = strdup(e->d_name)) == NULL)
            goto oom;
        (*n)++;
    }
    if (*n > 1)
        qsort(names, *n, sizeof *names, name_cmp);
    *dirp = d;
    return names;
oom:
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        free(names[i]);
    free(names);
    *n = 0;
    *oom = true;
    return NULL;
}

static void walk_dir(walker *w, const char *abs, const char *rel);

static void walk_entry(walker *w, int dfd, const char *abs_dir, const char *rel_dir,
                       const char *name)
{
    char *abs = NULL;
    char *rel = rel_dir[0] != '\0' ? join(rel_dir, name) : strdup(name);
    char *real = NULL, *nfc = NULL;
    struct stat st;

    if (rel == NULL)
        goto oom;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        goto cleanup;
    /* The absolute path only where it is used: following a link, and
     * descending into a folder. */
    if ((S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)) && (abs = join(abs_dir, name)) == NULL)
        goto oom;
    if (S_ISLNK(st.st_mode)) {
        /* follow only while the target stays in the vault */
        if ((real = realpath(abs, NULL)) == NULL) {
            if (errno == ENOMEM)
                goto oom;
            goto cleanup;
        }
        if (!inside(w->v, real) || stat(real, &st) != 0)
            goto cleanup;
    }
    if (S_ISDIR(st.st_mode)) {
        if (qp_vault_ignored(w->v, rel))
            goto cleanup;
        if (!seen_add(w, &st))
            goto cleanup;
        walk_dir(w, real != NULL ? real : abs, rel);
    } else if (S_ISREG(st.st_mode)) {
        qp_file_stat fst;
        size_t nlen;
        if ((nfc = qp_text_nfc(rel, strlen(rel), &nlen)) == NULL)
            goto oom;
        if (qp_vault_ignored(w->v, nfc) || qp_vault_ignored(w->v, rel))
            goto cleanup;
        fst.size = (int64_t)st.st_size;
        fst.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        fst.hash = 0;
        w->stop = w->cb(nfc, &fst, w->payload);
    }
    goto cleanup;
oom:
    w->stop = QP_ENOMEM;
cleanup:
    free(nfc);
    free(real);
    free(rel);
    free(abs);
}

static void walk_dir(walker *w, const char *abs, const char *rel)
{
    bool oom;
    size_t n;
    DIR *d;
    char **names = list_dir(abs, &d, &n, &oom);

    if (oom)
        w->stop = QP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (w->stop == 0)
            walk_entry(w, dirfd(d), abs, rel, names[i]);
        free(names[i]);
    }
    free(names);
    if (d != NULL)
        closedir(d);
}

qp_rc qp_vault_walk(const qp_vault *v, qp_vault_walk_cb cb, void *payload, qp_error *err)
{
    walker w;
    struct stat st;
    DIR *d;

    memset(&w, 0, sizeof w);
    w.v = v;
    w.cb = cb;
    w.payload = payload;
    if ((d = opendir(v->root)) == NULL || stat(v->root, &st) != 0) {
        int e = errno;
        if (d != NULL)
            closedir(d);
        return sys_error(err, e, QP_EIO, "vault", v->root);
    }
    closedir(d);
    seen_add(&w, &st);
    if (w.stop == 0)
        walk_dir(&w, v->root, "");
    free(w.seen);
    if (w.stop == QP_ENOMEM)
        return qp_error_set(err, QP_ENOMEM, "out of memory walking the vault");
    return w.stop;
}

/* ------------------------------------------------------------------ */
/* Read / stat                                                         */

static bool valid_relpath(const char *relpath)
{
    const char *p = relpath;

    if (relpath == NULL || relpath[0] == '\0' || relpath[0] == '/')
        return false;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (e == NULL)
            return true;
        p = e + 1;
    }
}

/* Finds, in directory `dir`, the entry whose NFC form equals `want` (an
 * NFC name), for names stored decomposed on disk. Returns new or NULL. */
static char *find_nfc_entry(const char *dir, const char *want)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *found = NULL;

    if (d == NULL)
        return NULL;
    while (found == NULL && (e = readdir(d)) != NULL) {
        char *n = qp_text_nfc(e->d_name, strlen(e->d_name), NULL);
        if (n != NULL && strcmp(n, want) == 0)
            found = strdup(e->d_name);
        free(n);
    }
    closedir(d);
    return found;
}

/* The absolute path of relpath: as given when it exists, else with each
 * missing component replaced by its on-disk (e.g. NFD) spelling. Returns
 * new, or NULL when out of memory. */
static char *locate(const qp_vault *v, const char *relpath)
{
    char *abs = join(v->root, relpath), *cur = NULL, *rest = NULL, *tok, *save = NULL;
    struct stat st;

    if (abs == NULL || lstat(abs, &st) == 0 || errno != ENOENT)
        return abs;
    if ((cur = strdup(v->root)) == NULL || (rest = strdup(relpath)) == NULL)
        goto fail;
    for (tok = strtok_r(rest, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
        char *next = join(cur, tok), *alt;
        if (next == NULL)
            goto fail;
        if (lstat(next, &st) != 0 && (alt = find_nfc_entry(cur, tok)) != NULL) {
            free(next);
            next = join(cur, alt);
            free(alt);
            if (next == NULL)
                goto fail;
        }
        free(cur);
        cur = next;
    }
    free(rest);
    free(abs);
    return cur;
fail:
    free(rest);
    free(cur);
    return abs; /* the plain path: the caller then reports "not found" */
}

/* Resolves relpath to a real path inside the vault (new, free()). */
static qp_rc resolve(const qp_vault *v, const char *relpath, char **out, qp_error *err)
{
    char *abs, *real;

    *out = NULL;
    if (!valid_relpath(relpath))
        return qp_error_set(err, QP_EINVAL, "%s: not a vault-relative path",
                            relpath != NULL ? relpath : "(null)");
    if ((abs = locate(v, relpath)) == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    real = realpath(abs, NULL);
    free(abs);
    if (real == NULL) {
        int e = errno;
        if (e == ENOMEM)
            return qp_error_set(err, QP_ENOMEM, "out of memory");
        return sys_error(err, e, e == ENOENT || e == ENOTDIR ? QP_ENOTFOUND : QP_EIO, "read",
                         relpath);
    }
    if (!inside(v, real)) {
        free(real);
        return qp_error_set(err, QP_EINVAL, "%s: outside the vault", relpath);
    }
    *out = real;
    return QP_OK;
}

static void fill_stat(qp_file_stat *st, const struct stat *s)
{
    st->size = (int64_t)s->st_size;
    st->mtime_ns = (int64_t)s->st_mtim.tv_sec * 1000000000 + s->st_mtim.tv_nsec;
    st->hash = 0;
}

qp_rc qp_vault_stat(const qp_vault *v, const char *relpath, qp_file_stat *st, qp_error *err)
{
    char *real = NULL;
    struct stat s;
    qp_rc rc;

    memset(st, 0, sizeof *st);
    if ((rc = resolve(v, relpath, &real, err)) != QP_OK)
        return rc;
    if (stat(real, &s) != 0) {
        int e = errno;
        rc = sys_error(err, e, e == ENOENT ? QP_ENOTFOUND : QP_EIO, "stat", relpath);
    } else if (!S_ISREG(s.st_mode)) {
        rc = qp_error_set(err, QP_EINVAL, "%s: not a regular file", relpath);
    } else {
        fill_stat(st, &s);
    }
    free(real);
    return rc;
}

/* The fast way to open a vault file for reading: one openat2() that
 * refuses every symlink on the way (RESOLVE_NO_SYMLINKS). The root is a
 * real path and relpath has no ".." (checked by the caller), so a path
 * opened this way is inside the vault, without realpath()'s readlink per
 * component. -1 when it cannot be used (a symlink on the way, a name
 * stored as NFD, no openat2 in the kernel or sandbox, any error): the
 * caller then takes the careful way, which also reports the error. */
static int open_fast(const qp_vault *v, const char *relpath)
{
#ifdef QP_HAVE_OPENAT2
    char *abs = join(v->root, relpath);
    if (abs == NULL)
        return -1;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, AT_FDCWD, abs, &how, sizeof how);
    free(abs);
    return fd >= 0 ? (int)fd : -1;
#else
    (void)v;
    (void)relpath;
    return -1;
#endif
}

/* One piece: open (fast, else careful), check, read to EOF, with one
 * cleanup for the descriptor and the buffer (see vault.h for the contract). */
qp_rc qp_vault_read(const qp_vault *v, const char *relpath, size_t max_size, char **out,
                    size_t *len, qp_file_stat *st, qp_error *err)
{
    char *real = NULL, *buf = NULL;
    size_t n = 0, cap;
    struct stat s;
    int fd = -1;
    qp_rc rc;

    *out = NULL;
    *len = 0;
    memset(st, 0, sizeof *st);
    if (!valid_relpath(relpath))
        return qp_error_set(err, QP_EINVAL, "%s: not a vault-relative path",
                            relpath != NULL ? relpath : "(null)");
    rc = QP_OK;
    fd = open_fast(v, relpath);
    if (fd < 0) {
        if ((rc = resolve(v, relpath, &real, err)) != QP_OK)
            return rc;
        /* realpath resolved every link; O_NOFOLLOW refuses a link swapped in since */
        fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    }
    if (fd < 0) {
        int e = errno;
        rc = sys_error(err, e,
                       e == ENOENT  ? QP_ENOTFOUND
                       : e == ELOOP ? QP_EINVAL
                                    : QP_EIO,
                       "open", relpath);
        goto cleanup;
    }
    if (fstat(fd, &s) != 0) {
        rc = sys_error(err, errno, QP_EIO, "stat", relpath);
        goto cleanup;
    }
    if (!S_ISREG(s.st_mode)) {
        rc = qp_error_set(err, QP_EINVAL, "%s: not a regular file", relpath);
        goto cleanup;
    }
    fill_stat(st, &s);
    if (max_size > 0 && (uint64_t)s.st_size > max_size) {
        rc = qp_error_set(err, QP_ETOOBIG, "%s: %lld bytes, over the limit of %zu", relpath,
                          (long long)s.st_size, max_size);
        goto cleanup;
    }
    /* Read to EOF: the file may have grown since fstat. */
    cap = (size_t)s.st_size + 1;
    if ((buf = malloc(cap + 1)) == NULL)
        goto oom;
    for (;;) {
        ssize_t r;
        if (n == cap) {
            char *g;
            if (max_size > 0 && n > max_size) {
                rc = qp_error_set(err, QP_ETOOBIG, "%s: over the limit of %zu bytes", relpath,
                                  max_size);
                st->size = (int64_t)n;
                goto cleanup;
            }
            if ((g = realloc(buf, cap * 2 + 1)) == NULL)
                goto oom;
            buf = g;
            cap *= 2;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = sys_error(err, errno, QP_EIO, "read", relpath);
            goto cleanup;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (max_size > 0 && n > max_size) {
        rc = qp_error_set(err, QP_ETOOBIG, "%s: over the limit of %zu bytes", relpath, max_size);
        st->size = (int64_t)n;
        goto cleanup;
    }
    buf[n] = '\0';
    st->size = (int64_t)n;
    st->hash = XXH3_64bits(buf, n);
    *out = buf;
    *len = n;
    buf = NULL;
    goto cleanup;
oom:
    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
cleanup:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(real);
    return rc;
}
