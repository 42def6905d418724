#ifndef QP_FIXTURE_H
#define QP_FIXTURE_H

/* A fixture vault (test/fixtures/<name>) indexed into a fresh store in a
 * temporary directory, and a helper that compares a query's JSON result
 * with a hand-written expectation. Shared by the query tests, which use
 * `st` and `vault` directly. */

#include "qp_test.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/vault.h"

static qp_store *st;
static qp_vault *vault;
static char fixture_dbdir[] = "/tmp/qp-fixture-db-XXXXXX";
static char fixture_db[128];

/* Opens test/fixtures/<name> and syncs it into a new index; 0 or -1. */
static inline int fixture_open(const char *name)
{
    const char *src = getenv("QP_SOURCE_DIR");
    char root[1024];
    qp_error err = QP_ERROR_INIT;

    snprintf(root, sizeof root, "%s/test/fixtures/%s", src ? src : ".", name);
    if (!mkdtemp(fixture_dbdir))
        return -1;
    snprintf(fixture_db, sizeof fixture_db, "%s/index.db", fixture_dbdir);
    if (qp_vault_open(&vault, root, &err) != QP_OK ||
        qp_store_open(&st, fixture_db, QP_STORE_WRITE, &err) != QP_OK ||
        qp_store_sync(st, vault, NULL, NULL, &err) != QP_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static inline void fixture_close(void)
{
    qp_store_close(st);
    qp_vault_close(vault);
    qp_store_remove_files(fixture_db, NULL);
    rmdir(fixture_dbdir);
}

/* Runs a query and compares the result with `want` as JSON values. */
static inline void check(const char *method, const char *params, const char *want)
{
    char *out = NULL;
    qp_error err = QP_ERROR_INIT;
    qp_rc rc = qp_query_run(&out, st, vault, method, params, &err);
    json_error_t je;
    json_t *g, *w;

    if (rc != QP_OK)
        fail_msg("%s %s: %s: %s", method, params, qp_rc_name(rc), err.msg);
    g = json_loads(out, 0, &je);
    w = json_loads(want, 0, &je);
    if (!w)
        fail_msg("bad expected JSON: %s (%s)", je.text, want);
    if (!json_equal(g, w))
        fail_msg("%s %s:\n got  %s\n want %s", method, params, out, want);
    json_decref(g);
    json_decref(w);
    free(out);
}

#endif
