/*
 * rename — `quipu mv`, `rename-heading`, `rename-block`, `rename-tag`: ask
 * quipud for a rename plan (rename.plan), show it, and apply it here
 * (apply.c): quipud never writes into the vault.
 *
 * Names on the command line: OLD (and NOTE) is a file or folder as the
 * shell sees it (completed from inside a subfolder), else a vault path or
 * link text. A NEW without '/' is a new name in OLD's folder (`quipu mv
 * "Mara" "Mara Lind"`); a NEW ending in '/' is a folder to move into; any
 * other NEW is a path from the current folder when its folder exists there,
 * else a vault path.
 */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "cli.h"

/* The vault's real path, from quipud (it is what the plan's paths are
 * relative to). 0, or prints why not. */
static int vault_root(qp_cli *cli, char *out, size_t cap)
{
    json_t *st = NULL, *err = NULL;
    int rc = qp_cli_call(cli, "status", json_object(), &st, &err);
    const char *v;
    char real[PATH_MAX];

    if (rc != 0)
        return rc;
    if (err != NULL) {
        rc = qp_cli_report_error(cli, err);
        json_decref(err);
        return rc;
    }
    v = json_string_value(json_object_get(st, "vault"));
    if (v == NULL || realpath(v, real) == NULL || strlen(real) >= cap) {
        fputs("quipu: quipud did not say where its vault is\n", stderr);
        json_decref(st);
        return QP_CLI_EXIT_FAIL;
    }
    strcpy(out, real);
    json_decref(st);
    if (strlen(real) < sizeof cli->vault)
        strcpy(cli->vault, real);
    return 0;
}

/* `real` inside `root`: its vault path (borrowed from real), else NULL. */
static const char *inside(const char *root, const char *real)
{
    size_t n = strlen(root);
    if (strncmp(real, root, n) == 0 && real[n] == '/')
        return real + n + 1;
    return NULL;
}

/* OLD as a vault path when it exists on disk under the vault, else as typed. */
static json_t *old_param(const char *root, const char *arg)
{
    char real[PATH_MAX];
    struct stat sb;
    const char *rel;

    if (stat(arg, &sb) == 0 && realpath(arg, real) != NULL && (rel = inside(root, real)) != NULL)
        return json_string(rel);
    return json_string(arg);
}

/* Sets "to" or "name" in params from NEW. */
static int new_param(const char *root, const char *arg, json_t *params)
{
    size_t n = strlen(arg);
    bool into = n > 0 && arg[n - 1] == '/';
    char *copy = strdup(arg), *dir, *base;
    char real[PATH_MAX];
    const char *rel;
    int rc = 0;

    if (copy == NULL)
        return -1;
    while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
        copy[strlen(copy) - 1] = '\0';
    if (strchr(copy, '/') == NULL && !into) {
        rc = json_object_set_new(params, "name", json_string(copy));
        free(copy);
        return rc;
    }
    /* dirname/basename may modify their argument: work on copies */
    char *c1 = strdup(copy), *c2 = strdup(copy);
    dir = c1 ? dirname(c1) : NULL;
    base = c2 ? basename(c2) : NULL;
    if (dir != NULL && base != NULL && realpath(dir, real) != NULL &&
        (rel = inside(root, real)) != NULL) {
        size_t m = strlen(rel) + strlen(base) + 3;
        char *p = malloc(m);
        if (p != NULL) {
            snprintf(p, m, "%s/%s%s", rel, base, into ? "/" : "");
            rc = json_object_set_new(params, "to", json_string(p));
            free(p);
        } else {
            rc = -1;
        }
    } else if (dir != NULL && base != NULL && realpath(dir, real) != NULL &&
               strcmp(real, root) == 0) {
        size_t m = strlen(base) + 2;
        char *p = malloc(m);
        if (p != NULL) {
            snprintf(p, m, "%s%s", base, into ? "/" : "");
            rc = json_object_set_new(params, "to", json_string(p));
            free(p);
        } else {
            rc = -1;
        }
    } else {
        rc = json_object_set_new(params, "to", json_string(arg[0] == '/' ? arg + 1 : arg));
    }
    free(c1);
    free(c2);
    free(copy);
    return rc;
}

static void summary(const json_t *plan, FILE *out)
{
    const char *kind = json_string_value(json_object_get(plan, "kind"));
    size_t nfiles = json_array_size(json_object_get(plan, "files"));
    json_int_t links = json_integer_value(json_object_get(plan, "links"));
    json_int_t edits = json_integer_value(json_object_get(plan, "edits"));
    size_t i;
    const json_t *r;

    json_array_foreach(json_object_get(plan, "renames"), i, r)
    {
        fprintf(out, "%s -> %s%s\n", json_string_value(json_object_get(r, "from")),
                json_string_value(json_object_get(r, "to")),
                json_is_true(json_object_get(r, "folder")) ? " (folder)" : "");
    }
    if (kind != NULL && strcmp(kind, "tag") == 0)
        fprintf(out, "%lld tag%s in %zu file%s\n", (long long)edits, edits == 1 ? "" : "s", nfiles,
                nfiles == 1 ? "" : "s");
    else
        fprintf(out, "%lld link%s in %zu file%s\n", (long long)links, links == 1 ? "" : "s", nfiles,
                nfiles == 1 ? "" : "s");
    json_array_foreach(json_object_get(plan, "resolved"), i, r)
    {
        fprintf(out, "note: %s:%lld: a link that pointed nowhere now points to %s\n",
                json_string_value(json_object_get(r, "path")),
                (long long)json_integer_value(json_object_get(r, "line")),
                json_string_value(json_object_get(r, "to")));
    }
}

/* Plans with `params` (taken), then prints and applies. */
static int plan_and_apply(qp_cli *cli, const qp_cli_args *a, const char *root, json_t *params)
{
    json_t *plan = NULL, *error = NULL;
    bool dry = qp_cli_opt_value(a, "--dry-run") != NULL;
    int rc;

    if (params == NULL) {
        fputs("quipu: out of memory\n", stderr);
        return QP_CLI_EXIT_FAIL;
    }
    rc = qp_cli_call(cli, "rename.plan", params, &plan, &error);
    if (rc != 0)
        return rc;
    if (error != NULL) {
        rc = qp_cli_report_error(cli, error);
        json_decref(error);
        return rc;
    }
    if (cli->json) {
        qp_cli_print_json(plan, stdout, false);
    } else if (dry) {
        rc = qp_cli_plan_diff(root, plan, stdout, cli->color);
    }
    if (rc == 0 && !dry) {
        bool written = false;
        rc = qp_cli_apply(root, plan, &written);
    }
    if (rc == 0 && !cli->json)
        summary(plan, dry ? stdout : stdout);
    if (rc == 0 && dry && !cli->json)
        fputs("(dry run: nothing written)\n", stdout);
    json_decref(plan);
    return rc;
}

int qp_cli_cmd_mv(qp_cli *cli, const qp_cli_args *a)
{
    char root[PATH_MAX];
    int rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    if ((rc = vault_root(cli, root, sizeof root)) != 0)
        return rc;
    json_t *params = json_pack("{s:o}", "path", old_param(root, a->pos[0]));
    if (params != NULL && new_param(root, a->pos[1], params) != 0) {
        json_decref(params);
        params = NULL;
    }
    return plan_and_apply(cli, a, root, params);
}

int qp_cli_cmd_rename_part(qp_cli *cli, const qp_cli_args *a)
{
    char root[PATH_MAX];
    const char *key = strcmp(a->cmd->name, "rename-block") == 0 ? "block" : "heading";
    int rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    if ((rc = vault_root(cli, root, sizeof root)) != 0)
        return rc;
    json_t *params = json_pack("{s:o, s:s, s:s}", "note", old_param(root, a->pos[0]), key,
                               a->pos[1], "to", a->pos[2]);
    return plan_and_apply(cli, a, root, params);
}

int qp_cli_cmd_rename_tag(qp_cli *cli, const qp_cli_args *a)
{
    char root[PATH_MAX];
    int rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    if ((rc = vault_root(cli, root, sizeof root)) != 0)
        return rc;
    return plan_and_apply(cli, a, root, json_pack("{s:s, s:s}", "tag", a->pos[0], "to", a->pos[1]));
}
