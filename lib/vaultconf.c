/*
 * vaultconf — the vault's own Obsidian settings (.obsidian/app.json and the
 * Tasks plugin's data.json), read in one place.
 *
 * Invariants: a snapshot is complete when qp_vaultconf_parse returns and
 * never written again; every string member is non-NULL (defaults are
 * literals copied like any other value), so accessors need no NULL checks
 * beyond the snapshot itself. `refs` is the only mutable field.
 */
#define _POSIX_C_SOURCE 200809L

#include "quipu/vaultconf.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quipu/tasks.h"
#include "taskquery_int.h"

typedef struct ignore_filter {
    char *text; /* as written in app.json */
    regex_t re; /* a "/regex/" filter */
    bool is_regex;
} ignore_filter;

struct qp_vaultconf {
    atomic_int refs;
    ignore_filter *filters;
    size_t nfilters;
    qp_link_format link_format;
    bool markdown_links;
    qp_new_file_location new_file_location;
    char *new_file_folder;
    char *attachment_folder;
    bool always_update_links;
    qp_tasks_settings *tasks; /* NULL: no data.json */
    char warning[QP_ERROR_MSG_MAX];
};

static void warn(qp_vaultconf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first problem only: one line, the one the user fixes first. */
static void warn(qp_vaultconf *c, const char *fmt, ...)
{
    va_list ap;

    if (c->warning[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(c->warning, sizeof c->warning, fmt, ap);
    va_end(ap);
}

static qp_rc add_filter(qp_vaultconf *c, const char *f)
{
    size_t n = strlen(f);
    ignore_filter *flt = &c->filters[c->nfilters];

    if (n == 0)
        return QP_OK;
    memset(flt, 0, sizeof *flt);
    if (n >= 3 && f[0] == '/' && f[n - 1] == '/') {
        char *pat = strndup(f + 1, n - 2);
        int rc;
        if (pat == NULL)
            return QP_ENOMEM;
        rc = regcomp(&flt->re, pat, REG_EXTENDED | REG_NOSUB);
        free(pat);
        if (rc == REG_ESPACE)
            return QP_ENOMEM;
        if (rc != 0) { /* a JavaScript regex POSIX cannot read: skipped */
            warn(c, "%s: userIgnoreFilters: %s is not a regex quipu can read; skipped",
                 QP_VAULTCONF_APP_JSON, f);
            return QP_OK;
        }
        flt->is_regex = true;
    }
    if ((flt->text = strdup(f)) == NULL) {
        if (flt->is_regex)
            regfree(&flt->re);
        return QP_ENOMEM;
    }
    c->nfilters++;
    return QP_OK;
}

/* Copies the string member `key` into *dst when it is a string. */
static qp_rc take_string(qp_vaultconf *c, json_t *doc, const char *key, char **dst)
{
    json_t *v = json_object_get(doc, key);
    char *s;

    if (v == NULL || json_is_null(v))
        return QP_OK;
    if (!json_is_string(v)) {
        warn(c, "%s: %s: expected a string", QP_VAULTCONF_APP_JSON, key);
        return QP_OK;
    }
    if ((s = strdup(json_string_value(v))) == NULL)
        return QP_ENOMEM;
    free(*dst);
    *dst = s;
    return QP_OK;
}

static void take_bool(qp_vaultconf *c, json_t *doc, const char *key, bool *dst)
{
    json_t *v = json_object_get(doc, key);

    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_boolean(v)) {
        warn(c, "%s: %s: expected true or false", QP_VAULTCONF_APP_JSON, key);
        return;
    }
    *dst = json_is_true(v);
}

/* The index of the string member `key` in `names`, or -1 (missing, or not
 * one of them: the default stays). */
static int take_enum(qp_vaultconf *c, json_t *doc, const char *key, const char *const *names, int n)
{
    json_t *v = json_object_get(doc, key);

    if (v == NULL || json_is_null(v))
        return -1;
    for (int i = 0; json_is_string(v) && i < n; i++)
        if (strcmp(json_string_value(v), names[i]) == 0)
            return i;
    warn(c, "%s: %s: not one of the values Obsidian writes; the default applies",
         QP_VAULTCONF_APP_JSON, key);
    return -1;
}

static qp_rc read_app(qp_vaultconf *c, const char *text, size_t len)
{
    static const char *const formats[] = {"shortest", "relative", "absolute"};
    static const char *const locations[] = {"root", "current", "folder"};
    json_error_t jerr;
    json_t *doc, *list;
    qp_rc rc = QP_OK;
    int e;

    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        if (doc == NULL)
            warn(c, "%s:%d:%d: %s", QP_VAULTCONF_APP_JSON, jerr.line, jerr.column, jerr.text);
        else
            warn(c, "%s: not a JSON object", QP_VAULTCONF_APP_JSON);
        json_decref(doc);
        return QP_OK;
    }
    list = json_object_get(doc, "userIgnoreFilters");
    if (json_is_array(list) && json_array_size(list) > 0) {
        size_t i;
        json_t *item;
        c->filters = calloc(json_array_size(list), sizeof *c->filters);
        if (c->filters == NULL) {
            rc = QP_ENOMEM;
            goto cleanup;
        }
        json_array_foreach(list, i, item)
        {
            if (json_is_string(item) && (rc = add_filter(c, json_string_value(item))) != QP_OK)
                goto cleanup;
        }
    } else if (list != NULL && !json_is_array(list) && !json_is_null(list)) {
        warn(c, "%s: userIgnoreFilters: expected a list of strings", QP_VAULTCONF_APP_JSON);
    }
    if ((e = take_enum(c, doc, "newLinkFormat", formats, 3)) >= 0)
        c->link_format = (qp_link_format)e;
    if ((e = take_enum(c, doc, "newFileLocation", locations, 3)) >= 0)
        c->new_file_location = (qp_new_file_location)e;
    take_bool(c, doc, "useMarkdownLinks", &c->markdown_links);
    take_bool(c, doc, "alwaysUpdateLinks", &c->always_update_links);
    if ((rc = take_string(c, doc, "newFileFolderPath", &c->new_file_folder)) != QP_OK ||
        (rc = take_string(c, doc, "attachmentFolderPath", &c->attachment_folder)) != QP_OK)
        goto cleanup;
cleanup:
    json_decref(doc);
    return rc;
}

static qp_rc read_tasks(qp_vaultconf *c, const char *text, size_t len)
{
    qp_error e = QP_ERROR_INIT;
    qp_rc rc = qp__tasks_settings_from_plugin(&c->tasks, text, len, &e);

    if (rc == QP_EINVAL) { /* the file is bad, not the call: defaults, and say so */
        warn(c, "%s", e.msg);
        return QP_OK;
    }
    return rc;
}

qp_rc qp_vaultconf_parse(qp_vaultconf **out, const char *app, size_t app_len, const char *tasks,
                         size_t tasks_len, qp_error *err)
{
    qp_vaultconf *c;
    qp_rc rc = QP_OK;

    *out = NULL;
    if ((c = calloc(1, sizeof *c)) == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    c->always_update_links = true; /* help "Internal links": on unless the user turns it off */
    c->new_file_folder = strdup("");
    c->attachment_folder = strdup("/");
    if (c->new_file_folder == NULL || c->attachment_folder == NULL) {
        rc = QP_ENOMEM;
        goto cleanup;
    }
    if (app != NULL && (rc = read_app(c, app, app_len)) != QP_OK)
        goto cleanup;
    if (tasks != NULL && (rc = read_tasks(c, tasks, tasks_len)) != QP_OK)
        goto cleanup;
    *out = c;
    c = NULL;
cleanup:
    qp_vaultconf_free(c);
    if (rc == QP_ENOMEM)
        qp_error_set(err, QP_ENOMEM, "out of memory");
    return rc;
}

/* Reads a whole small file. *out NULL (and QP_OK) when it does not exist;
 * *why is set when it exists but cannot be read. */
static qp_rc slurp(char **out, size_t *len, const char *root, const char *rel, int *why)
{
    char *path = malloc(strlen(root) + 1 + strlen(rel) + 1);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    FILE *f;

    *out = NULL;
    *len = 0;
    *why = 0;
    if (path == NULL)
        return QP_ENOMEM;
    sprintf(path, "%s/%s", root, rel);
    f = fopen(path, "rb");
    free(path);
    if (f == NULL) {
        if (errno != ENOENT && errno != ENOTDIR)
            *why = errno;
        return errno == ENOMEM ? QP_ENOMEM : QP_OK;
    }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return QP_ENOMEM;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        *why = errno != 0 ? errno : EIO;
        free(buf);
        buf = NULL;
        n = 0;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return QP_OK;
}

qp_rc qp_vaultconf_load(qp_vaultconf **out, const char *root, qp_error *err)
{
    char *app = NULL, *tasks = NULL;
    size_t app_len, tasks_len;
    int app_why, tasks_why;
    qp_rc rc;

    *out = NULL;
    if ((rc = slurp(&app, &app_len, root, QP_VAULTCONF_APP_JSON, &app_why)) != QP_OK ||
        (rc = slurp(&tasks, &tasks_len, root, QP_VAULTCONF_TASKS_JSON, &tasks_why)) != QP_OK) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = qp_vaultconf_parse(out, app, app_len, tasks, tasks_len, err)) != QP_OK)
        goto cleanup;
    if (app_why != 0)
        warn(*out, "%s: %s", QP_VAULTCONF_APP_JSON, strerror(app_why));
    if (tasks_why != 0)
        warn(*out, "%s: %s", QP_VAULTCONF_TASKS_JSON, strerror(tasks_why));
cleanup:
    free(app);
    free(tasks);
    return rc;
}

qp_vaultconf *qp_vaultconf_ref(qp_vaultconf *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void qp_vaultconf_free(qp_vaultconf *c)
{
    if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < c->nfilters; i++) {
        if (c->filters[i].is_regex)
            regfree(&c->filters[i].re);
        free(c->filters[i].text);
    }
    free(c->filters);
    free(c->new_file_folder);
    free(c->attachment_folder);
    qp_tasks_settings_free(c->tasks);
    free(c);
}

/* The Tasks settings as canonical JSON text; "" when there are none. */
static const char *tasks_json(const qp_vaultconf *c)
{
    return c != NULL && c->tasks != NULL && c->tasks->json != NULL ? c->tasks->json : "";
}

bool qp_vaultconf_equal(const qp_vaultconf *a, const qp_vaultconf *b)
{
    if (qp_vaultconf_filter_count(a) != qp_vaultconf_filter_count(b))
        return false;
    for (size_t i = 0; i < qp_vaultconf_filter_count(a); i++)
        if (strcmp(qp_vaultconf_filter(a, i), qp_vaultconf_filter(b, i)) != 0)
            return false;
    return qp_vaultconf_link_format(a) == qp_vaultconf_link_format(b) &&
           qp_vaultconf_markdown_links(a) == qp_vaultconf_markdown_links(b) &&
           qp_vaultconf_new_file_location(a) == qp_vaultconf_new_file_location(b) &&
           strcmp(qp_vaultconf_new_file_folder(a), qp_vaultconf_new_file_folder(b)) == 0 &&
           strcmp(qp_vaultconf_attachment_folder(a), qp_vaultconf_attachment_folder(b)) == 0 &&
           qp_vaultconf_always_update_links(a) == qp_vaultconf_always_update_links(b) &&
           strcmp(tasks_json(a), tasks_json(b)) == 0;
}

const char *qp_vaultconf_warning(const qp_vaultconf *c)
{
    return c != NULL && c->warning[0] != '\0' ? c->warning : NULL;
}

bool qp_vaultconf_excluded(const qp_vaultconf *c, const char *relpath)
{
    if (c == NULL || relpath == NULL)
        return false;
    for (size_t i = 0; i < c->nfilters; i++) {
        const ignore_filter *f = &c->filters[i];
        if (f->is_regex ? regexec(&f->re, relpath, 0, NULL, 0) == 0
                        : strncmp(relpath, f->text, strlen(f->text)) == 0)
            return true;
    }
    return false;
}

size_t qp_vaultconf_filter_count(const qp_vaultconf *c)
{
    return c != NULL ? c->nfilters : 0;
}

const char *qp_vaultconf_filter(const qp_vaultconf *c, size_t i)
{
    return c != NULL && i < c->nfilters ? c->filters[i].text : NULL;
}

qp_link_format qp_vaultconf_link_format(const qp_vaultconf *c)
{
    return c != NULL ? c->link_format : QP_LINK_FORMAT_SHORTEST;
}

bool qp_vaultconf_markdown_links(const qp_vaultconf *c)
{
    return c != NULL && c->markdown_links;
}

qp_new_file_location qp_vaultconf_new_file_location(const qp_vaultconf *c)
{
    return c != NULL ? c->new_file_location : QP_NEW_FILE_ROOT;
}

const char *qp_vaultconf_new_file_folder(const qp_vaultconf *c)
{
    return c != NULL ? c->new_file_folder : "";
}

const char *qp_vaultconf_attachment_folder(const qp_vaultconf *c)
{
    return c != NULL ? c->attachment_folder : "/";
}

bool qp_vaultconf_always_update_links(const qp_vaultconf *c)
{
    return c == NULL || c->always_update_links;
}

const qp_tasks_settings *qp_vaultconf_tasks(const qp_vaultconf *c)
{
    return c != NULL ? c->tasks : NULL;
}

/* A new copy of the folder of vault path p ("" at the root). */
static char *folder_of(const char *p)
{
    const char *slash = p != NULL ? strrchr(p, '/') : NULL;
    return slash != NULL ? strndup(p, (size_t)(slash - p)) : strdup("");
}

/* A new copy of s[0..n) without leading and trailing '/'. */
static char *trim_slashes(const char *s, size_t n)
{
    while (n > 0 && *s == '/') {
        s++;
        n--;
    }
    while (n > 0 && s[n - 1] == '/')
        n--;
    return strndup(s, n);
}

qp_rc qp_vaultconf_new_note_folder(char **out, const qp_vaultconf *c, const char *active,
                                   qp_error *err)
{
    const char *f;

    switch (qp_vaultconf_new_file_location(c)) {
    case QP_NEW_FILE_CURRENT:
        *out = folder_of(active);
        break;
    case QP_NEW_FILE_FOLDER:
        f = qp_vaultconf_new_file_folder(c);
        *out = trim_slashes(f, strlen(f));
        break;
    default:
        *out = strdup("");
        break;
    }
    return *out != NULL ? QP_OK : qp_error_set(err, QP_ENOMEM, "out of memory");
}

qp_rc qp_vaultconf_attachment_folder_for(char **out, const qp_vaultconf *c, const char *note,
                                         qp_error *err)
{
    const char *a = qp_vaultconf_attachment_folder(c);

    *out = NULL;
    if (strcmp(a, ".") == 0 || strncmp(a, "./", 2) == 0) {
        char *dir = folder_of(note);
        char *sub = trim_slashes(a + (a[1] == '/' ? 2 : 1), strlen(a) - (a[1] == '/' ? 2 : 1));
        if (dir != NULL && sub != NULL) {
            size_t n = strlen(dir) + 1 + strlen(sub) + 1;
            if ((*out = malloc(n)) != NULL)
                snprintf(*out, n, "%s%s%s", dir, dir[0] != '\0' && sub[0] != '\0' ? "/" : "", sub);
        }
        free(dir);
        free(sub);
    } else {
        *out = trim_slashes(a, strlen(a));
    }
    return *out != NULL ? QP_OK : qp_error_set(err, QP_ENOMEM, "out of memory");
}
