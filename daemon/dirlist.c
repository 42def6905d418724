/*
 * dirlist — one directory of the vault; see dirlist.h.
 */

#include "dirlist.h"

#include <dirent.h>
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

/* False when the entry is to be skipped: gone, or a link to a directory. */
static bool stat_entry(const char *abs, struct stat *sb)
{
    if (lstat(abs, sb) != 0)
        return false;
    if (!S_ISLNK(sb->st_mode))
        return true;
    return stat(abs, sb) == 0 && !S_ISDIR(sb->st_mode);
}

void qpd_dirlist(const qpd_daemon *d, const char *rel, qpd_dirlist_cb cb, void *payload)
{
    char *abs = qpd_join(d->vault_root, rel);
    DIR *dir = opendir(abs);
    struct dirent *de;

    free(abs);
    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        char *crel, *cabs;
        struct stat sb;
        bool ok;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        crel = qpd_join(rel, de->d_name);
        if (qp_vault_ignored(d->vault, crel) || qpd_paths_is_index(d->db_rel, crel)) {
            free(crel);
            continue;
        }
        cabs = qpd_join(d->vault_root, crel);
        ok = stat_entry(cabs, &sb);
        free(cabs);
        if (ok)
            cb(crel, &sb, payload);
        else
            free(crel);
    }
    closedir(dir);
}
