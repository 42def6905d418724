/*
 * watcher — one uv_fs_event per directory; see watcher.h.
 *
 * Watches live in an array sorted by relative path, so the watches of a
 * directory and everything under it are one contiguous run (every string
 * with the prefix "a/" sorts together), found with a binary search. A watch
 * is freed in its close callback, never earlier: libuv may still hold it.
 *
 * libuv on Linux reports IN_Q_OVERFLOW nowhere (the event has no watch
 * descriptor and is dropped), so a lost event cannot be detected here; the
 * periodic rescan is what bounds the damage (see docs/architecture.md).
 */

#include "watcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "paths.h"

typedef struct watch {
    uv_fs_event_t h; /* first: the handle is the watch */
    qpd_watcher *w;
    char *rel; /* "" for the root */
    uint64_t dev, ino;
    bool settings; /* a folder of settings files: only those are reported */
} watch;

#define SETTINGS_MAX 8 /* folders of settings files watched */

struct qpd_watcher {
    qpd_daemon *d;
    qpd_watcher_hooks hooks;
    watch **v; /* sorted by rel */
    size_t n, cap;
    size_t failed; /* directories we could not watch since the last full scan */
    bool warned;
    watch *settings[SETTINGS_MAX]; /* not in v: no scan keeps or drops them */
    size_t nsettings;
};

static void watch_close_cb(uv_handle_t *h)
{
    watch *wt = (watch *)h;

    free(wt->rel);
    free(wt);
}

/* Index of the first watch whose rel is >= key. */
static size_t lower_bound(qpd_watcher *w, const char *key)
{
    size_t lo = 0, hi = w->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(w->v[mid]->rel, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool is_settings_file(const qpd_watcher *w, const char *rel)
{
    for (const char *const *p = w->hooks.settings; p != NULL && *p != NULL; p++)
        if (strcmp(*p, rel) == 0)
            return true;
    return false;
}

static void event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    watch *wt = (watch *)h;
    qpd_daemon *d = wt->w->d;
    char *rel;
    (void)events;

    if (status < 0) {
        qpd_log(QPD_LOG_WARN, "watch %s: %s", wt->rel[0] ? wt->rel : ".", uv_strerror(status));
        wt->w->hooks.rescan(d, "a directory watch failed");
        return;
    }
    if (filename == NULL) {
        /* The kernel could not say what changed: look at everything. */
        wt->w->hooks.rescan(d, "an event without a file name");
        return;
    }
    rel = qpd_join(wt->rel, filename);
    if (wt->settings) {
        if (is_settings_file(wt->w, rel))
            wt->w->hooks.settings_changed(d, rel);
        free(rel);
        return;
    }
    if (qp_vault_ignored(d->vault, rel) || qpd_paths_is_index(d->db_rel, rel)) {
        free(rel);
        return;
    }
    qpd_log(QPD_LOG_DEBUG, "event %s%s%s", rel, (events & UV_RENAME) ? " rename" : "",
            (events & UV_CHANGE) ? " change" : "");
    wt->w->hooks.changed(d, rel);
    free(rel);
}

static void remove_at(qpd_watcher *w, size_t i, size_t count)
{
    for (size_t k = i; k < i + count; k++) {
        uv_fs_event_stop(&w->v[k]->h);
        uv_close((uv_handle_t *)&w->v[k]->h, watch_close_cb);
    }
    memmove(w->v + i, w->v + i + count, (w->n - i - count) * sizeof *w->v);
    w->n -= count;
}

bool qpd_watcher_add(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino)
{
    qpd_watcher *w = d->watcher;
    size_t i;
    watch *wt;
    char *abs;
    int r;

    if (w == NULL || d->stopping)
        return false;
    i = lower_bound(w, rel);
    if (i < w->n && strcmp(w->v[i]->rel, rel) == 0) {
        if (w->v[i]->dev == dev && w->v[i]->ino == ino)
            return false;
        /* Another directory now has this name (deleted and made again, or
         * moved over): the old watch follows the old inode. */
        remove_at(w, i, 1);
    }
    if (d->watch_limit >= 0 && (long)w->n >= d->watch_limit) {
        r = UV_ENOSPC;
        goto failed;
    }
    wt = qpd_xcalloc(1, sizeof *wt);
    wt->rel = qpd_xstrdup(rel);
    abs = qpd_join(d->vault_root, rel);
    wt->w = w;
    wt->dev = dev;
    wt->ino = ino;
    uv_fs_event_init(d->loop, &wt->h);
    r = uv_fs_event_start(&wt->h, event_cb, abs, 0);
    free(abs);
    if (r != 0) {
        uv_close((uv_handle_t *)&wt->h, watch_close_cb);
        if (r == UV_ENOENT || r == UV_ENOTDIR)
            return false; /* gone already: its parent's event says so */
        goto failed;
    }
    w->v = qpd_grow(w->v, &w->cap, w->n + 1, sizeof *w->v);
    memmove(w->v + i + 1, w->v + i, (w->n - i) * sizeof *w->v);
    w->v[i] = wt;
    w->n++;
    return true;

failed:
    w->failed++;
    if (!w->warned) {
        w->warned = true;
        qpd_log(QPD_LOG_WARN,
                "cannot watch %s: %s (%zu directories watched); falling back to rescans%s",
                rel[0] ? rel : ".", uv_strerror(r), w->n,
                r == UV_ENOSPC ? "; raise fs.inotify.max_user_watches" : "");
        /* Once: from now on the degraded-mode timer rescans periodically. */
        w->hooks.rescan(d, "a directory could not be watched");
    }
    return true; /* not watched: list it anyway, the rescans do the rest */
}

bool qpd_watcher_is_dir(qpd_daemon *d, const char *rel)
{
    qpd_watcher *w = d->watcher;
    size_t i = lower_bound(w, rel);

    return i < w->n && strcmp(w->v[i]->rel, rel) == 0;
}

bool qpd_watcher_replaced(qpd_daemon *d, const char *rel, uint64_t dev, uint64_t ino)
{
    qpd_watcher *w = d->watcher;
    size_t i;

    if (w == NULL)
        return false;
    i = lower_bound(w, rel);
    return i < w->n && strcmp(w->v[i]->rel, rel) == 0 &&
           (w->v[i]->dev != dev || w->v[i]->ino != ino);
}

void qpd_watcher_drop_tree(qpd_daemon *d, const char *rel)
{
    qpd_watcher *w = d->watcher;
    size_t n = strlen(rel), i, j;
    char *slash;

    if (w == NULL || n == 0)
        return;
    i = lower_bound(w, rel);
    if (i < w->n && strcmp(w->v[i]->rel, rel) == 0)
        remove_at(w, i, 1);
    /* "a" < "a-b" < "a/x": the subdirectories are the run starting "a/". */
    slash = qpd_join(rel, "");
    i = lower_bound(w, slash);
    for (j = i; j < w->n && strncmp(w->v[j]->rel, slash, n + 1) == 0; j++)
        ;
    free(slash);
    if (j > i)
        remove_at(w, i, j - i);
}

static bool settings_watched(const qpd_watcher *w, const char *dir)
{
    for (size_t i = 0; i < w->nsettings; i++)
        if (strcmp(w->settings[i]->rel, dir) == 0)
            return true;
    return false;
}

/* Watches the folders of the settings files that exist and are not watched
 * yet (the vault ignores dot-folders, so the scans never do). Tried again
 * after every full scan: a folder made later is watched from the next. */
static void watch_settings(qpd_watcher *w)
{
    qpd_daemon *d = w->d;

    for (const char *const *p = w->hooks.settings; p != NULL && *p != NULL; p++) {
        char *dir = qpd_xstrdup(*p), *slash = strrchr(dir, '/');
        char *abs;
        watch *wt;

        *(slash ? slash : dir) = '\0'; /* the file's folder */
        if (settings_watched(w, dir) || w->nsettings == SETTINGS_MAX) {
            free(dir);
            continue;
        }
        wt = qpd_xcalloc(1, sizeof *wt);
        wt->w = w;
        wt->rel = dir;
        wt->settings = true;
        abs = qpd_join(d->vault_root, dir);
        uv_fs_event_init(d->loop, &wt->h);
        if (uv_fs_event_start(&wt->h, event_cb, abs, 0) == 0)
            w->settings[w->nsettings++] = wt;
        else
            uv_close((uv_handle_t *)&wt->h, watch_close_cb); /* not there (yet) */
        free(abs);
    }
}

void qpd_watcher_keep_only(qpd_daemon *d, char *const *dirs, size_t n)
{
    qpd_watcher *w = d->watcher;
    size_t k = 0;

    for (size_t i = 0; i < w->n;) {
        int c = 1;

        while (k < n && (c = strcmp(dirs[k], w->v[i]->rel)) < 0)
            k++;
        if (k < n && c == 0) {
            i++;
            continue;
        }
        remove_at(w, i, 1);
    }
    watch_settings(w);
    /* The scan saw every directory: what failed before failed again now or
     * is watched now. */
    w->failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!qpd_watcher_is_dir(d, dirs[i]))
            w->failed++;
    if (w->failed == 0)
        w->warned = false;
}

bool qpd_watcher_degraded(qpd_daemon *d)
{
    return d->watcher != NULL && d->watcher->failed > 0;
}

size_t qpd_watcher_count(qpd_daemon *d)
{
    return d->watcher ? d->watcher->n : 0;
}

qp_rc qpd_watcher_start(qpd_daemon *d, const qpd_watcher_hooks *hooks, qp_error *err)
{
    qpd_watcher *w = calloc(1, sizeof *w);

    if (w == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    w->d = d;
    w->hooks = *hooks;
    if (w->hooks.settings_changed == NULL)
        w->hooks.settings = NULL;
    d->watcher = w;
    return QP_OK;
}

void qpd_watcher_stop(qpd_daemon *d)
{
    qpd_watcher *w = d->watcher;

    if (w != NULL && w->n > 0)
        remove_at(w, 0, w->n);
    for (size_t i = 0; w != NULL && i < w->nsettings; i++) {
        uv_fs_event_stop(&w->settings[i]->h);
        uv_close((uv_handle_t *)&w->settings[i]->h, watch_close_cb);
    }
    if (w != NULL)
        w->nsettings = 0;
}

void qpd_watcher_free(qpd_daemon *d)
{
    qpd_watcher *w = d->watcher;

    if (w == NULL)
        return;
    free(w->v);
    free(w);
    d->watcher = NULL;
}
