/*
 * apply — a rename plan written into the vault (see apply.h for the
 * steps and what a crash leaves), and the plan as a unified diff.
 */
/* renameat2(RENAME_NOREPLACE) is a GNU extension. */
#define _GNU_SOURCE

#include "apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "cli.h"
#include "quipu/text.h"

typedef struct afile {
    const char *rel;  /* the plan's path, borrowed */
    const json_t *js; /* the plan's entry, borrowed */
    char *disk;       /* the file's path on disk */
    char *old, *neu;
    size_t oldlen, newlen;
    mode_t mode;
    struct stat st; /* as read: a change since shows in size, times or inode */
    char *tmp;      /* written temporary file, until renamed over the file */
    char *bak;      /* hard link to the old content, once the file is replaced */
    bool replaced;  /* the new content is in place */
} afile;

typedef struct arename {
    char *from, *to;
    bool done;
} arename;

typedef struct apply {
    const char *root;
    afile *f;
    size_t nf;
    arename *r;
    size_t nr;
    char **made; /* folders created for renames, in creation order */
    size_t nmade;
    char *why; /* the caller's buffer for what went wrong (may be NULL) */
    size_t wl;
} apply;

/* Records why applying stopped. The first message is the cause; later ones
 * (a file the rollback could not put back) follow it after "; ", so that
 * one line tells the whole story. */
__attribute__((format(printf, 2, 3))) static void say(apply *a, const char *fmt, ...)
{
    size_t n;
    va_list ap;

    if (a->why == NULL || a->wl == 0)
        return;
    n = strlen(a->why);
    if (n > 0 && n + 2 < a->wl) {
        memcpy(a->why + n, "; ", 3);
        n += 2;
    }
    if (n + 1 >= a->wl)
        return;
    va_start(ap, fmt);
    vsnprintf(a->why + n, a->wl - n, fmt, ap);
    va_end(ap);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 2);
    if (r != NULL) {
        memcpy(r, a, la);
        r[la] = '/';
        memcpy(r + la + 1, b, lb + 1);
    }
    return r;
}

/* The path on disk of vault path `rel`: as written when it exists, else
 * each missing component looked up among its folder's entries by NFC (a
 * name stored decomposed). New memory; NULL on OOM. */
static char *disk_path(const char *root, const char *rel)
{
    char *p = join(root, rel);
    struct stat sb;
    if (p == NULL || lstat(p, &sb) == 0)
        return p;
    free(p);
    char *cur = strdup(root);
    const char *s = rel;
    while (cur != NULL && *s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *comp = strndup(s, n);
        char *next = comp ? join(cur, comp) : NULL;
        if (next != NULL && lstat(next, &sb) != 0) {
            DIR *d = opendir(cur);
            struct dirent *de;
            while (d != NULL && (de = readdir(d)) != NULL) {
                char *nfc = qp_text_nfc(de->d_name, strlen(de->d_name), NULL);
                bool same = nfc != NULL && strcmp(nfc, comp) == 0;
                free(nfc);
                if (same) {
                    free(next);
                    next = join(cur, de->d_name);
                    break;
                }
            }
            if (d != NULL)
                closedir(d);
        }
        free(comp);
        free(cur);
        cur = next;
        s += n + (e != NULL);
    }
    return cur;
}

static char *read_all(const char *path, size_t *len, struct stat *out, int *eno)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;

    *eno = 0;
    if (fd < 0) {
        *eno = errno;
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *eno = errno ? errno : EINVAL;
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)sb.st_size + 1);
    while (buf != NULL) {
        ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *eno = errno;
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0 || (n += (size_t)r) == (size_t)sb.st_size)
            break;
    }
    close(fd);
    if (buf == NULL) {
        if (*eno == 0)
            *eno = ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    if (out != NULL)
        *out = sb;
    return buf;
}

static bool hash_is(const char *buf, size_t len, const char *want)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(buf, len));
    return want != NULL && strcmp(hex, want) == 0;
}

/* The new content of one file: the plan's edits applied back to front,
 * each checked against the text it replaces. NULL after saying why. */
static char *edited(apply *a, const afile *f, size_t *outlen)
{
    const json_t *edits = json_object_get(f->js, "edits");
    size_t len = f->oldlen, n = json_array_size(edits);
    char *buf = malloc(len + 1);
    if (buf == NULL) {
        say(a, "out of memory");
        return NULL;
    }
    memcpy(buf, f->old, len + 1);
    size_t prev = SIZE_MAX;
    for (size_t k = n; k-- > 0;) {
        const json_t *e = json_array_get(edits, k);
        json_int_t off = json_integer_value(json_object_get(e, "offset"));
        json_int_t el = json_integer_value(json_object_get(e, "length"));
        const char *old = json_string_value(json_object_get(e, "old"));
        const char *nw = json_string_value(json_object_get(e, "new"));
        if (old == NULL || nw == NULL || off < 0 || el < 0 || (size_t)(off + el) > f->oldlen ||
            (size_t)(off + el) > prev || strlen(old) != (size_t)el ||
            memcmp(f->old + off, old, (size_t)el) != 0) {
            say(a, "%s: the plan's edits do not match the file; nothing written", f->rel);
            free(buf);
            return NULL;
        }
        prev = (size_t)off;
        size_t nl = strlen(nw);
        char *nb = malloc(len - (size_t)el + nl + 1);
        if (nb == NULL) {
            say(a, "out of memory");
            free(buf);
            return NULL;
        }
        memcpy(nb, buf, (size_t)off);
        memcpy(nb + off, nw, nl);
        memcpy(nb + off + nl, buf + off + el, len - (size_t)off - (size_t)el + 1);
        free(buf);
        buf = nb;
        len = len - (size_t)el + nl;
    }
    *outlen = len;
    return buf;
}

static void apply_free(apply *a)
{
    for (size_t i = 0; i < a->nf; i++) {
        free(a->f[i].disk);
        free(a->f[i].old);
        free(a->f[i].neu);
        free(a->f[i].tmp);
        free(a->f[i].bak);
    }
    free(a->f);
    for (size_t i = 0; i < a->nr; i++) {
        free(a->r[i].from);
        free(a->r[i].to);
    }
    free(a->r);
    for (size_t i = 0; i < a->nmade; i++)
        free(a->made[i]);
    free(a->made);
}

/* Reads every file of the plan and checks its hash. */
static int load(apply *a, const json_t *plan)
{
    const json_t *files = json_object_get(plan, "files");
    const json_t *renames = json_object_get(plan, "renames");
    a->nf = json_array_size(files);
    a->nr = json_array_size(renames);
    a->f = calloc(a->nf + 1, sizeof *a->f);
    a->r = calloc(a->nr + 1, sizeof *a->r);
    if (a->f == NULL || a->r == NULL) {
        say(a, "out of memory");
        return QP_CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < a->nf; i++) {
        afile *f = &a->f[i];
        int eno;
        f->js = json_array_get(files, i);
        f->rel = json_string_value(json_object_get(f->js, "path"));
        if (f->rel == NULL || (f->disk = disk_path(a->root, f->rel)) == NULL) {
            say(a, "a plan entry without a path");
            return QP_CLI_EXIT_FAIL;
        }
        f->old = read_all(f->disk, &f->oldlen, &f->st, &eno);
        f->mode = f->st.st_mode & 07777;
        if (f->old == NULL) {
            say(a, "%s: %s; nothing written", f->rel, strerror(eno));
            return QP_CLI_EXIT_FAIL;
        }
        if (!hash_is(f->old, f->oldlen, json_string_value(json_object_get(f->js, "hash")))) {
            say(a,
                "%s changed since the rename was planned (saved meanwhile?); nothing written: "
                "try the rename again",
                f->rel);
            return QP_CLI_EXIT_FAIL;
        }
        if ((f->neu = edited(a, f, &f->newlen)) == NULL)
            return QP_CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < a->nr; i++) {
        const json_t *r = json_array_get(renames, i);
        const char *from = json_string_value(json_object_get(r, "from"));
        const char *to = json_string_value(json_object_get(r, "to"));
        struct stat sf, st;
        if (from == NULL || to == NULL) {
            say(a, "a plan's rename without from or to");
            return QP_CLI_EXIT_FAIL;
        }
        a->r[i].from = disk_path(a->root, from);
        a->r[i].to = join(a->root, to);
        if (a->r[i].from == NULL || a->r[i].to == NULL) {
            say(a, "out of memory");
            return QP_CLI_EXIT_FAIL;
        }
        if (lstat(a->r[i].from, &sf) != 0) {
            say(a, "%s: %s; nothing written", from, strerror(errno));
            return QP_CLI_EXIT_FAIL;
        }
        /* a case-only rename on a case-insensitive disk finds itself */
        if (lstat(a->r[i].to, &st) == 0 && !(st.st_ino == sf.st_ino && st.st_dev == sf.st_dev)) {
            say(a, "%s already exists; nothing written", to);
            return QP_CLI_EXIT_FAIL;
        }
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return strndup(path, s ? (size_t)(s - path) : 0);
}

static void fsync_dir(const char *path)
{
    char *d = dir_of(path);
    int fd = d ? open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(d);
}

/* Step 2: each file's new content in a temporary file beside it. */
static int write_temps(apply *a)
{
    for (size_t i = 0; i < a->nf; i++) {
        afile *f = &a->f[i];
        char *d = dir_of(f->disk);
        const char *base = strrchr(f->disk, '/') + 1;
        size_t n = (d ? strlen(d) : 0) + strlen(base) + 32;
        f->tmp = d ? malloc(n) : NULL;
        if (f->tmp == NULL) {
            free(d);
            say(a, "out of memory");
            return QP_CLI_EXIT_FAIL;
        }
        snprintf(f->tmp, n, "%s/.quipu-%s-XXXXXX", d, base);
        free(d);
        int fd = mkstemp(f->tmp);
        if (fd < 0) {
            say(a, "%s: %s; nothing written", f->tmp, strerror(errno));
            free(f->tmp);
            f->tmp = NULL;
            return QP_CLI_EXIT_FAIL;
        }
        size_t done = 0;
        int e = 0;
        while (done < f->newlen && e == 0) {
            ssize_t w = write(fd, f->neu + done, f->newlen - done);
            if (w < 0 && errno != EINTR)
                e = errno;
            else if (w > 0)
                done += (size_t)w;
        }
        if (e == 0 && fchmod(fd, f->mode) != 0)
            e = errno;
        if (close(fd) != 0 && e == 0)
            e = errno;
        if (e != 0) {
            say(a, "writing %s: %s; nothing written", f->tmp, strerror(e));
            return QP_CLI_EXIT_FAIL;
        }
    }
    return 0;
}

/* Makes what was written so far durable. One syncfs() for the vault's file
 * system instead of an fsync per file and folder: thousands of fsyncs are
 * what made a big rename slow; a file system that refuses syncfs gets the
 * fsyncs. */
static int sync_all(apply *a, bool temps)
{
    int fd = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 ? syncfs(fd) : -1;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        return 0;
    for (size_t i = 0; i < a->nf; i++) {
        const char *p = temps ? a->f[i].tmp : a->f[i].disk;
        int f = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
        if (f < 0 || fsync(f) != 0) {
            int e = errno;
            if (f >= 0)
                close(f);
            say(a, "fsync %s: %s", p ? p : "?", strerror(e));
            return -1;
        }
        close(f);
        if (!temps)
            fsync_dir(p);
    }
    return 0;
}

static void delay(void)
{
    const char *s = getenv("QUIPU_APPLY_DELAY_MS");
    long ms = s ? atol(s) : 0;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Puts back everything done so far, in reverse order. False when some
 * of it could not be put back (said). */
static bool rollback(apply *a)
{
    bool whole = true;

    for (size_t i = a->nr; i-- > 0;) {
        if (a->r[i].done && rename(a->r[i].to, a->r[i].from) != 0) {
            say(a, "could not move %s back to %s: %s", a->r[i].to, a->r[i].from, strerror(errno));
            whole = false;
        }
    }
    for (size_t i = a->nmade; i-- > 0;)
        rmdir(a->made[i]);
    for (size_t i = a->nf; i-- > 0;) {
        afile *f = &a->f[i];
        if (f->replaced && f->bak != NULL) {
            if (rename(f->bak, f->disk) != 0) {
                say(a, "could not restore %s (its old content is in %s): %s", f->rel, f->bak,
                    strerror(errno));
                whole = false;
            } else {
                fsync_dir(f->disk);
            }
        } else if (f->bak != NULL) {
            unlink(f->bak);
        }
        if (f->tmp != NULL)
            unlink(f->tmp);
    }
    return whole;
}

/* True when the existing folder `dir` is, once its symlinks are followed,
 * `root` or inside it. */
static bool inside_root(const char *root, const char *dir)
{
    char rr[PATH_MAX], rd[PATH_MAX];
    if (realpath(root, rr) == NULL || realpath(dir, rd) == NULL)
        return false;
    size_t rl = strlen(rr);
    return strncmp(rd, rr, rl) == 0 && (rd[rl] == '/' || rd[rl] == '\0' || rl == 1);
}

/* mkdir -p for the parent of `path`, recording what it made. The folders
 * on the way were checked to lie in the vault (parents_inside) before
 * anything was written. */
static int make_parents(apply *a, const char *path)
{
    char *d = dir_of(path);
    if (d == NULL)
        return ENOMEM;
    size_t rl = strlen(a->root);
    if (strncmp(d, a->root, rl) != 0 || (d[rl] != '/' && d[rl] != '\0')) {
        free(d);
        return EINVAL; /* never made outside the vault */
    }
    if (d[rl] == '\0') {
        free(d);
        return 0; /* the vault's root: nothing to make */
    }
    for (char *p = d + rl + 1; p != NULL;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (mkdir(d, 0755) == 0) {
            char **g = realloc(a->made, (a->nmade + 1) * sizeof *g);
            if (g == NULL) {
                free(d);
                return ENOMEM;
            }
            a->made = g;
            a->made[a->nmade++] = strdup(d);
        } else if (errno != EEXIST) {
            int e = errno;
            free(d);
            return e;
        }
        if (slash) {
            *slash = '/';
            p = slash + 1;
        } else {
            p = NULL;
        }
    }
    free(d);
    return 0;
}

/* True when every folder on the way to `path` that exists lies in the
 * vault: checked before anything is written, so that a move into a
 * symlinked folder leading out is refused whole. */
static bool parents_inside(const apply *a, const char *path)
{
    char *d = dir_of(path);
    if (d == NULL)
        return false;
    size_t rl = strlen(a->root);
    bool ok = strncmp(d, a->root, rl) == 0 && (d[rl] == '/' || d[rl] == '\0');
    for (char *p = d + rl; ok && p != NULL && *p != '\0';) {
        char *slash = strchr(p + 1, '/');
        if (slash)
            *slash = '\0';
        struct stat sb;
        if (lstat(d, &sb) != 0)
            break; /* made by apply, under the last folder checked */
        ok = inside_root(a->root, d);
        if (slash) {
            *slash = '/';
            p = slash;
        } else {
            p = NULL;
        }
    }
    free(d);
    return ok;
}

static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EEXIST)
        return -1;
    /* a file system without RENAME_NOREPLACE, or a case-only rename on a
     * case-insensitive one (load() checked that `to` is the file itself) */
    struct stat sf, st;
    if (errno == EEXIST &&
        !(lstat(from, &sf) == 0 && lstat(to, &st) == 0 && sf.st_ino == st.st_ino))
        return -1;
    return rename(from, to);
}

int qp_cli_apply_err(const char *root, const json_t *plan, bool *written, char *why, size_t wl)
{
    apply a = {.root = root, .why = why, .wl = wl};
    bool replacing = false; /* from step 3 on, a failure has something to undo */

    if (why != NULL && wl > 0)
        why[0] = '\0';
    if (written)
        *written = false;
    delay(); /* tests: an edit between plan and apply */
    if (load(&a, plan) != 0)
        goto fail;
    for (size_t i = 0; i < a.nr; i++) {
        if (!parents_inside(&a, a.r[i].to)) {
            say(&a, "%s: its folder leads outside the vault (a symlink): nothing written",
                a.r[i].to + strlen(root) + 1);
            goto fail;
        }
    }
    if (write_temps(&a) != 0 || sync_all(&a, true) != 0)
        goto fail;
    /* Step 3: check again (an editor may have saved while we wrote: any
     * write changes the size or the change time, a save by rename the
     * inode), then replace each file. */
    for (size_t i = 0; i < a.nf; i++) {
        afile *f = &a.f[i];
        struct stat sb;
        bool same = lstat(f->disk, &sb) == 0 && sb.st_ino == f->st.st_ino &&
                    sb.st_size == f->st.st_size && sb.st_mtim.tv_sec == f->st.st_mtim.tv_sec &&
                    sb.st_mtim.tv_nsec == f->st.st_mtim.tv_nsec &&
                    sb.st_ctim.tv_sec == f->st.st_ctim.tv_sec &&
                    sb.st_ctim.tv_nsec == f->st.st_ctim.tv_nsec;
        if (!same) {
            say(&a, "%s changed while the rename was applied; nothing written", f->rel);
            goto fail;
        }
    }
    replacing = true;
    for (size_t i = 0; i < a.nf; i++) {
        afile *f = &a.f[i];
        delay();
        size_t n = strlen(f->tmp) + 5;
        f->bak = malloc(n);
        if (f->bak == NULL) {
            say(&a, "out of memory");
            goto fail;
        }
        snprintf(f->bak, n, "%s.old", f->tmp);
        if (link(f->disk, f->bak) != 0) {
            say(&a, "%s: %s", f->bak, strerror(errno));
            free(f->bak);
            f->bak = NULL;
            goto fail;
        }
        if (rename(f->tmp, f->disk) != 0) {
            say(&a, "replacing %s: %s", f->rel, strerror(errno));
            goto fail;
        }
        free(f->tmp);
        f->tmp = NULL;
        f->replaced = true;
    }
    if (sync_all(&a, false) != 0)
        goto fail;
    /* Step 4: the file renames, last. */
    for (size_t i = 0; i < a.nr; i++) {
        int e = make_parents(&a, a.r[i].to);
        if (e != 0) {
            say(&a, "creating the folder of %s: %s", a.r[i].to, strerror(e));
            goto fail;
        }
        if (rename_noreplace(a.r[i].from, a.r[i].to) != 0) {
            say(&a, "moving %s to %s: %s", a.r[i].from, a.r[i].to, strerror(errno));
            goto fail;
        }
        a.r[i].done = true;
        fsync_dir(a.r[i].from);
        fsync_dir(a.r[i].to);
    }
    for (size_t i = 0; i < a.nf; i++) {
        if (a.f[i].bak != NULL)
            unlink(a.f[i].bak);
    }
    if (written)
        *written = true;
    apply_free(&a);
    return 0;

fail:
    if (why != NULL && wl > 0 && why[0] == '\0')
        say(&a, "the rename could not be applied");
    if (!rollback(&a)) {
        say(&a, "the rest of the rename was undone");
        if (written)
            *written = true; /* what could not be put back stays changed */
    } else if (replacing) {
        say(&a, "the rename was undone; the vault is as it was");
    }
    apply_free(&a);
    return QP_CLI_EXIT_FAIL;
}

int qp_cli_apply(const char *root, const json_t *plan, bool *written)
{
    char why[4096];
    int rc = qp_cli_apply_err(root, plan, written, why, sizeof why);

    if (rc != 0)
        fprintf(stderr, "quipu: %s\n", why);
    return rc;
}

/* ---- diff ---------------------------------------------------------------- */

typedef struct lines {
    const char **s; /* line starts */
    size_t *len;    /* line lengths, without the newline */
    size_t n;
} lines;

static int split_lines(const char *buf, size_t len, lines *out)
{
    size_t cap = 16;
    out->n = 0;
    out->s = malloc(cap * sizeof *out->s);
    out->len = malloc(cap * sizeof *out->len);
    for (size_t i = 0; out->s != NULL && out->len != NULL && i < len;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (buf + i)) : len - i;
        if (out->n == cap) {
            cap *= 2;
            const char **s = realloc(out->s, cap * sizeof *s);
            if (s != NULL)
                out->s = s;
            size_t *ln = realloc(out->len, cap * sizeof *ln);
            if (ln != NULL)
                out->len = ln;
            if (s == NULL || ln == NULL)
                return -1;
        }
        out->s[out->n] = buf + i;
        out->len[out->n++] = l;
        i += l + 1;
    }
    return out->s != NULL && out->len != NULL ? 0 : -1;
}

static const char *mapped(const json_t *plan, const char *path, char *buf, size_t cap)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(plan, "renames"), i, r)
    {
        const char *from = json_string_value(json_object_get(r, "from"));
        const char *to = json_string_value(json_object_get(r, "to"));
        size_t fl = from ? strlen(from) : 0;
        if (from == NULL || to == NULL)
            continue;
        if (strcmp(path, from) == 0)
            return to;
        if (json_is_true(json_object_get(r, "folder")) && strncmp(path, from, fl) == 0 &&
            path[fl] == '/') {
            snprintf(buf, cap, "%s%s", to, path + fl);
            return buf;
        }
    }
    return path;
}

#define CONTEXT 3

static void print_hunks(const lines *o, const lines *n, FILE *out, bool color)
{
    const char *red = color ? "\033[31m" : "", *green = color ? "\033[32m" : "",
               *cyan = color ? "\033[36m" : "", *off = color ? "\033[0m" : "";
    if (o->n != n->n) { /* edits that add lines (none do today): one hunk */
        fprintf(out, "%s@@ -1,%zu +1,%zu @@%s\n", cyan, o->n, n->n, off);
        for (size_t i = 0; i < o->n; i++)
            fprintf(out, "%s-%.*s%s\n", red, (int)o->len[i], o->s[i], off);
        for (size_t i = 0; i < n->n; i++)
            fprintf(out, "%s+%.*s%s\n", green, (int)n->len[i], n->s[i], off);
        return;
    }
    size_t i = 0;
    while (i < o->n) {
        if (o->len[i] == n->len[i] && memcmp(o->s[i], n->s[i], o->len[i]) == 0) {
            i++;
            continue;
        }
        /* a hunk: from CONTEXT lines before the change to CONTEXT after the last
         * change that is closer than 2 * CONTEXT to the next */
        size_t start = i > CONTEXT ? i - CONTEXT : 0, last = i, end;
        for (size_t j = i + 1; j < o->n && j <= last + 2 * CONTEXT; j++) {
            if (!(o->len[j] == n->len[j] && memcmp(o->s[j], n->s[j], o->len[j]) == 0))
                last = j;
        }
        end = last + CONTEXT + 1 < o->n ? last + CONTEXT + 1 : o->n;
        fprintf(out, "%s@@ -%zu,%zu +%zu,%zu @@%s\n", cyan, start + 1, end - start, start + 1,
                end - start, off);
        for (size_t j = start; j < end; j++) {
            bool same = o->len[j] == n->len[j] && memcmp(o->s[j], n->s[j], o->len[j]) == 0;
            if (same) {
                fprintf(out, " %.*s\n", (int)o->len[j], o->s[j]);
            } else {
                fprintf(out, "%s-%.*s%s\n", red, (int)o->len[j], o->s[j], off);
                fprintf(out, "%s+%.*s%s\n", green, (int)n->len[j], n->s[j], off);
            }
        }
        i = end;
    }
}

int qp_cli_plan_diff(const char *root, const json_t *plan, FILE *out, bool color)
{
    char why[4096] = "";
    apply a = {.root = root, .why = why, .wl = sizeof why};
    const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
    char buf[4096];
    int rc = load(&a, plan);
    if (rc != 0) {
        fprintf(stderr, "quipu: %s\n", why);
        apply_free(&a);
        return rc;
    }
    for (size_t i = 0; i < a.nr; i++) {
        const json_t *r = json_array_get(json_object_get(plan, "renames"), i);
        const char *from = json_string_value(json_object_get(r, "from"));
        const char *to = json_string_value(json_object_get(r, "to"));
        fprintf(out, "%sdiff --git a/%s b/%s\nrename from %s\nrename to %s%s\n", bold, from, to,
                from, to, off);
    }
    for (size_t i = 0; i < a.nf; i++) {
        const afile *f = &a.f[i];
        const char *to = mapped(plan, f->rel, buf, sizeof buf);
        lines o = {0}, n = {0};
        fprintf(out, "%sdiff --git a/%s b/%s\n--- a/%s\n+++ b/%s%s\n", bold, f->rel, to, f->rel, to,
                off);
        if (split_lines(f->old, f->oldlen, &o) == 0 && split_lines(f->neu, f->newlen, &n) == 0)
            print_hunks(&o, &n, out, color);
        free(o.s);
        free(o.len);
        free(n.s);
        free(n.len);
    }
    apply_free(&a);
    return 0;
}
