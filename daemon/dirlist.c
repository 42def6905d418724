/*
 * dirlist — one directory of the vault; see dirlist.h.
 */

/* d_type (DT_DIR) is a BSD/glibc extension of struct dirent. */
#define _DEFAULT_SOURCE

#include "dirlist.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "paths.h"

void qpd_dirvec_push(qpd_dirvec *dv, char *rel, const struct stat *sb, bool fresh)
{
    dv->v = qpd_grow(dv->v, &dv->cap, dv->n + 1, sizeof *dv->v);
    dv->v[dv->n++] = (qpd_dir){rel, (uint64_t)sb->st_dev, (uint64_t)sb->st_ino, fresh};
}

void qpd_dirvec_free(qpd_dirvec *dv)
{
    for (size_t i = 0; i < dv->n; i++)
        free(dv->v[i].rel);
    free(dv->v);
    *dv = (qpd_dirvec){0};
}

static int cmp_dir(const void *a, const void *b)
{
    return strcmp(((const qpd_dir *)a)->rel, ((const qpd_dir *)b)->rel);
}

void qpd_dirvec_sort(qpd_dirvec *dv)
{
    if (dv->n > 1)
        qsort(dv->v, dv->n, sizeof *dv->v, cmp_dir);
}

/* False when the entry is to be skipped: gone, or a link to a directory.
 * Relative to the open directory: no walk down the whole path per entry. */
static bool stat_entry(int dfd, const char *name, struct stat *sb)
{
    if (fstatat(dfd, name, sb, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
    if (!S_ISLNK(sb->st_mode))
        return true;
    return fstatat(dfd, name, sb, 0) == 0 && !S_ISDIR(sb->st_mode);
}

void qpd_dirlist(const qpd_daemon *d, const char *rel, bool dirs_only, qpd_dirlist_cb cb,
                 void *payload)
{
    char *abs = qpd_join(d->vault_root, rel);
    DIR *dir = opendir(abs);
    struct dirent *de;

    free(abs);
    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        char *crel;
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        /* A link is never a directory here (links to folders are skipped). */
        if (dirs_only && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        crel = qpd_join(rel, de->d_name);
        if (qp_vault_ignored(d->vault, crel) || qpd_paths_is_index(d->db_rel, crel)) {
            free(crel);
            continue;
        }
        if (stat_entry(dirfd(dir), de->d_name, &sb))
            cb(crel, &sb, payload);
        else
            free(crel);
    }
    closedir(dir);
}
