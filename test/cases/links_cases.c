/*
 * links_cases — replays spec/links-cases.jsonl against the real engine.
 *
 * For every case of kind resolve, backlinks, unlinked, outgoing, tags and
 * properties: write the vault to a temporary directory, sync a fresh
 * index, apply the case's events incrementally (files changed on disk,
 * then put/remove + commit — never a rebuild), run the query through
 * qp_query_run() and compare with `expect_quipu`, else `expect` (or any of
 * `expect_any`). Prints PASS/FAIL per case and totals; exits non-zero when
 * a case fails that is neither uncertain nor listed in known_differences.
 *
 * usage: links_cases FILE.jsonl [CASE-ID...]
 */

#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "quipu/error.h"
#include "quipu/init.h"
#include "quipu/note.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/text.h"
#include "quipu/vault.h"

/* Cases quipu answers differently on purpose or for a documented reason;
 * none today (the list ends with a NULL id). */
static const struct {
    const char *id;
    const char *why;
} known_differences[] = {
    {NULL, NULL},
};

static bool is_known(const char *id)
{
    for (size_t i = 0; known_differences[i].id != NULL; i++)
        if (strcmp(known_differences[i].id, id) == 0)
            return true;
    return false;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int mkdirs_for(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return 0;
}

static int write_file(const char *root, const char *rel, const char *content)
{
    if (mkdirs_for(root, rel) != 0)
        return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(content);
    int rc = fwrite(content, 1, n, f) == n ? 0 : -1;
    fclose(f);
    return rc;
}

/* Indexes one path as it is now on disk (the incremental path). */
static qp_rc put_path(qp_store *st, const qp_vault *v, const char *rel, qp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    qp_file_stat fs;
    if (!qp_vault_is_note(rel)) {
        qp_rc rc = qp_vault_stat(v, rel, &fs, err);
        return rc ? rc : qp_store_put_file(st, rel, &fs, err);
    }
    qp_rc rc = qp_vault_read(v, rel, QP_NOTE_MAX_SIZE, &buf, &len, &fs, err);
    if (rc != QP_OK)
        return rc;
    qp_note *note = NULL;
    rc = qp_note_parse(&note, rel, buf, len, NULL, err);
    free(buf);
    if (rc == QP_OK)
        rc = qp_store_put_note(st, rel, &fs, note, err);
    qp_note_free(note);
    return rc;
}

static qp_rc apply_event(qp_store *st, const qp_vault *v, const char *root, json_t *ev,
                         qp_error *err)
{
    const char *op = json_string_value(json_object_get(ev, "op"));
    qp_rc rc = qp_store_begin(st, err);
    if (rc != QP_OK)
        return rc;
    if (strcmp(op, "create") == 0 || strcmp(op, "modify") == 0) {
        const char *p = json_string_value(json_object_get(ev, "path"));
        if (write_file(root, p, json_string_value(json_object_get(ev, "content"))) != 0)
            rc = qp_error_set(err, QP_EIO, "write %s", p);
        else
            rc = put_path(st, v, p, err);
    } else if (strcmp(op, "delete") == 0) {
        const char *p = json_string_value(json_object_get(ev, "path"));
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", root, p);
        unlink(full);
        rc = qp_store_remove(st, p, err);
    } else if (strcmp(op, "rename") == 0) {
        const char *from = json_string_value(json_object_get(ev, "from"));
        const char *to = json_string_value(json_object_get(ev, "to"));
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s", root, from);
        snprintf(b, sizeof b, "%s/%s", root, to);
        if (mkdirs_for(root, to) != 0 || rename(a, b) != 0)
            rc = qp_error_set(err, QP_EIO, "rename %s", from);
        else
            rc = qp_store_remove(st, from, err);
        if (rc == QP_OK)
            rc = put_path(st, v, to, err);
    } else {
        rc = qp_error_set(err, QP_EINVAL, "unknown event %s", op);
    }
    if (rc != QP_OK) {
        qp_store_rollback(st);
        return rc;
    }
    return qp_store_commit(st, err);
}

static json_t *run(qp_store *st, const qp_vault *v, const char *method, json_t *params,
                   qp_error *err)
{
    char *p = json_dumps(params, JSON_COMPACT);
    char *out = NULL;
    qp_rc rc = qp_query_run(&out, st, v, method, p, err);
    free(p);
    if (rc != QP_OK)
        return NULL;
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    return j;
}

static json_t *paths_of(json_t *sources)
{
    json_t *a = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s) json_array_append(a, json_object_get(s, "path"));
    return a;
}

/* Every key of `want` (an object) has an equal value in `got`. */
static bool subset_equal(json_t *want, json_t *got)
{
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        if (!json_equal(v, json_object_get(got, k)))
            return false;
    }
    return true;
}

static char *unresolved_key(const char *target)
{
    size_t n = strlen(target);
    char *k = strdup(target);
    if (k && n >= 3 && strcasecmp(target + n - 3, ".md") == 0)
        k[n - 3] = '\0';
    return k;
}

/* The Outgoing links panel from the `note` result (links.md §4.4). */
static json_t *outgoing_of(json_t *note)
{
    json_t *out = json_array();
    json_t *seen = json_object();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(note, "links"), i, l)
    {
        const char *target = json_string_value(json_object_get(l, "target"));
        const char *sub = json_string_value(json_object_get(l, "subpath"));
        json_t *path = json_object_get(l, "path");
        char *key = json_is_string(path) ? strdup(target) : unresolved_key(target);
        char dedupe[2048];
        snprintf(dedupe, sizeof dedupe, "%s|%s",
                 json_is_string(path) ? json_string_value(path) : key, sub ? sub : "");
        if (json_object_get(seen, dedupe)) {
            free(key);
            continue;
        }
        json_object_set_new(seen, dedupe, json_true());
        char link[2048];
        snprintf(link, sizeof link, "%s%s", key, sub ? sub : "");
        json_t *o = json_pack("{ss sO}", "link", link, "path", path);
        if (json_is_string(json_object_get(l, "display")))
            json_object_set(o, "display", json_object_get(l, "display"));
        if (sub)
            json_object_set_new(o, "subpath", json_string(sub));
        if (json_is_string(json_object_get(l, "key")))
            json_object_set(o, "key", json_object_get(l, "key"));
        json_array_append_new(out, o);
        free(key);
    }
    json_decref(seen);
    return out;
}

static bool outgoing_equal(json_t *want, json_t *got)
{
    if (json_array_size(want) != json_array_size(got))
        return false;
    for (size_t i = 0; i < json_array_size(want); i++)
        if (!subset_equal(json_array_get(want, i), json_array_get(got, i)))
            return false;
    return true;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tag search (links.md §5.3) over every note of the vault, via `note`. */
static json_t *tag_search(qp_store *st, const qp_vault *v, json_t *vault, const char *q,
                          qp_error *err)
{
    if (q[0] == '#')
        q++;
    char *qf = qp_text_fold(q, strlen(q), NULL);
    const char **hits = calloc(json_object_size(vault) + 1, sizeof *hits);
    size_t nh = 0;
    const char *path;
    json_t *content;
    json_object_foreach(vault, path, content)
    {
        (void)content;
        if (!qp_vault_is_note(path))
            continue;
        json_t *params = json_pack("{ss}", "note", path);
        json_t *note = run(st, v, "note", params, err);
        json_decref(params);
        size_t i;
        json_t *t;
        bool match = false;
        json_array_foreach(json_object_get(note, "tags"), i, t)
        {
            const char *tag = json_string_value(t);
            char *tf = qp_text_fold(tag + 1, strlen(tag + 1), NULL);
            size_t ql = strlen(qf);
            if (strcmp(tf, qf) == 0 || (strncmp(tf, qf, ql) == 0 && tf[ql] == '/'))
                match = true;
            free(tf);
        }
        json_decref(note);
        if (match)
            hits[nh++] = path;
    }
    qsort(hits, nh, sizeof *hits, path_cmp);
    json_t *out = json_array();
    for (size_t i = 0; i < nh; i++)
        json_array_append_new(out, json_string(hits[i]));
    free(hits);
    free(qf);
    return out;
}

typedef enum {
    R_PASS,
    R_FAIL,
    R_SKIP
} result;

static result run_case(json_t *c, char *why, size_t whylen)
{
    json_t *q = json_object_get(c, "query");
    const char *kind = json_string_value(json_object_get(q, "kind"));
    if (strcmp(kind, "resolve") && strcmp(kind, "backlinks") && strcmp(kind, "unlinked") &&
        strcmp(kind, "outgoing") && strcmp(kind, "tags") && strcmp(kind, "properties"))
        return R_SKIP;

    result res = R_FAIL;
    char root[] = "/tmp/qp-links-vault-XXXXXX";
    char dbdir[] = "/tmp/qp-links-db-XXXXXX";
    qp_vault *v = NULL;
    qp_store *st = NULL;
    json_t *got = NULL;
    qp_error err = QP_ERROR_INIT;
    if (!mkdtemp(root) || !mkdtemp(dbdir)) {
        snprintf(why, whylen, "mkdtemp failed");
        return R_FAIL;
    }
    const char *path;
    json_t *content;
    json_object_foreach(json_object_get(c, "vault"), path, content)
    {
        if (write_file(root, path, json_string_value(content)) != 0) {
            snprintf(why, whylen, "cannot write %s", path);
            goto cleanup;
        }
    }
    json_t *cfg = json_object_get(q, "config");
    if (cfg) {
        char *app = json_dumps(cfg, JSON_COMPACT);
        write_file(root, ".obsidian/app.json", app);
        free(app);
    }
    char db[512];
    snprintf(db, sizeof db, "%s/index.db", dbdir);
    if (qp_vault_open(&v, root, &err) != QP_OK || qp_store_open(&st, db, QP_STORE_WRITE, &err) ||
        qp_store_sync(st, v, NULL, NULL, &err) != QP_OK) {
        snprintf(why, whylen, "setup: %s", err.msg);
        goto cleanup;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(q, "events"), i, ev)
    {
        if (apply_event(st, v, root, ev, &err) != QP_OK) {
            snprintf(why, whylen, "event %zu: %s", i, err.msg);
            goto cleanup;
        }
    }

    json_t *want = json_object_get(c, "expect_quipu");
    if (!want)
        want = json_object_get(c, "expect");
    json_t *any = json_object_get(c, "expect_any");
    bool ok = false;

    if (strcmp(kind, "resolve") == 0) {
        json_t *params = json_pack("{sO}", "link", json_object_get(q, "link"));
        if (json_object_get(q, "from"))
            json_object_set(params, "from", json_object_get(q, "from"));
        if (json_object_get(q, "syntax"))
            json_object_set(params, "syntax", json_object_get(q, "syntax"));
        got = run(st, v, "resolve", params, &err);
        json_decref(params);
        if (!got) {
            snprintf(why, whylen, "resolve: %s", err.msg);
            goto cleanup;
        }
        json_t *gp = json_object_get(got, "path");
        ok = json_equal(gp, json_object_get(want, "path"));
        if (!ok && any) {
            json_t *a;
            json_array_foreach(any, i, a) ok = ok || json_equal(a, gp);
        }
        if (ok && json_object_get(want, "subpath"))
            ok = json_equal(json_object_get(want, "subpath"), json_object_get(got, "subpath"));
        if (ok && json_object_get(want, "subpath_found"))
            ok = json_equal(json_object_get(want, "subpath_found"),
                            json_object_get(got, "subpath_found"));
        if (ok && json_object_get(want, "heading_line"))
            ok = json_integer_value(json_object_get(want, "heading_line")) + 1 ==
                 json_integer_value(json_object_get(got, "subpath_line"));
    } else if (strcmp(kind, "backlinks") == 0 || strcmp(kind, "unlinked") == 0) {
        bool unl = strcmp(kind, "unlinked") == 0;
        json_t *params = json_pack("{sO sb}", "note", json_object_get(q, "note"), "unlinked", unl);
        json_t *r = run(st, v, "backlinks", params, &err);
        json_decref(params);
        if (!r) {
            snprintf(why, whylen, "backlinks: %s", err.msg);
            goto cleanup;
        }
        json_t *sources = json_object_get(r, unl ? "unlinked" : "linked");
        got = paths_of(sources);
        json_t *w = unl ? want : json_object_get(want, "linked");
        ok = json_equal(got, w);
        if (ok && !unl && json_object_get(want, "count")) {
            json_int_t n = 0;
            json_t *s;
            json_array_foreach(sources, i, s) n +=
                (json_int_t)json_array_size(json_object_get(s, "occurrences"));
            ok = n == json_integer_value(json_object_get(want, "count"));
            if (!ok)
                got = json_pack("{so sI}", "linked", got, "count", n);
        }
        json_decref(r);
    } else if (strcmp(kind, "outgoing") == 0) {
        json_t *params = json_pack("{sO}", "note", json_object_get(q, "note"));
        json_t *r = run(st, v, "note", params, &err);
        json_decref(params);
        if (!r) {
            snprintf(why, whylen, "note: %s", err.msg);
            goto cleanup;
        }
        got = outgoing_of(r);
        json_decref(r);
        ok = outgoing_equal(want, got);
    } else if (strcmp(kind, "tags") == 0) {
        if (json_object_get(q, "search")) {
            got = tag_search(st, v, json_object_get(c, "vault"),
                             json_string_value(json_object_get(q, "search")), &err);
        } else {
            json_t *params = json_pack("{sO}", "note", json_object_get(q, "path"));
            json_t *r = run(st, v, "note", params, &err);
            json_decref(params);
            if (!r) {
                snprintf(why, whylen, "note: %s", err.msg);
                goto cleanup;
            }
            got = json_incref(json_object_get(r, "tags"));
            json_decref(r);
        }
        ok = json_equal(got, want);
    } else if (strcmp(kind, "properties") == 0) {
        json_t *params = json_pack("{sO}", "note", json_object_get(q, "path"));
        json_t *r = run(st, v, "note", params, &err);
        json_decref(params);
        if (!r) {
            snprintf(why, whylen, "note: %s", err.msg);
            goto cleanup;
        }
        got = json_incref(json_object_get(r, "properties"));
        json_decref(r);
        ok = json_equal(got, want);
    }
    if (ok) {
        res = R_PASS;
    } else {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(why, whylen, "got %s, want %s", g ? g : "(nothing)", w ? w : "?");
        free(g);
        free(w);
    }
cleanup:
    json_decref(got);
    qp_store_close(st);
    qp_vault_close(v);
    rm_rf(root);
    rm_rf(dbdir);
    return res;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: links_cases FILE.jsonl [CASE-ID...]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    qp_init();
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    int pass = 0, fail = 0, fail_uncertain = 0, fail_known = 0, skip = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        if (!c) {
            fprintf(stderr, "bad case line: %s\n", je.text);
            fail++;
            continue;
        }
        const char *id = json_string_value(json_object_get(c, "id"));
        bool selected = argc == 2;
        for (int i = 2; i < argc; i++)
            selected = selected || strcmp(argv[i], id) == 0;
        if (!selected) {
            json_decref(c);
            continue;
        }
        char why[4096] = "";
        result r = run_case(c, why, sizeof why);
        bool uncertain = json_is_true(json_object_get(c, "uncertain"));
        const char *kind = json_string_value(json_object_get(json_object_get(c, "query"), "kind"));
        if (r == R_SKIP) {
            skip++;
        } else if (r == R_PASS) {
            pass++;
            printf("PASS %s %s\n", id, kind);
        } else if (is_known(id)) {
            fail_known++;
            printf("KNOWN %s %s: %s\n", id, kind, why);
        } else if (uncertain) {
            fail_uncertain++;
            printf("FAIL-UNCERTAIN %s %s: %s\n", id, kind, why);
        } else {
            fail++;
            printf("FAIL %s %s: %s\n", id, kind, why);
        }
        json_decref(c);
    }
    free(line);
    fclose(f);
    printf("links cases: %d passed, %d failed, %d failed (uncertain), %d known differences, "
           "%d skipped (other kinds)\n",
           pass, fail, fail_uncertain, fail_known, skip);
    for (size_t i = 0; known_differences[i].id != NULL; i++)
        printf("  known difference %s: %s\n", known_differences[i].id, known_differences[i].why);
    return fail == 0 ? 0 : 1;
}
