/*
 * conf — polls the vault's settings files and applies changes (conf.h).
 *
 * Invariants: at most one reload job runs at a time; a change seen while one
 * runs sets `again`, and the job is repeated when it ends, so the last write
 * always gets read. The struct is freed by whichever of the last close
 * callback and the last job end comes second.
 */
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct qpd_conf {
    qpd_daemon *d;
    void (*changed_cb)(qpd_daemon *d);
    uv_fs_poll_t poll[2]; /* app.json, the Tasks plugin's data.json */
    uv_work_t work;
    int open_handles;
    bool running, again, stopping;
    bool changed; /* set by the job */
    qp_rc rc;     /* the job's result */
    char warning[QP_ERROR_MSG_MAX];
};

static void reload_start(qpd_conf *c);

static void maybe_free(qpd_conf *c)
{
    if (c->stopping && c->open_handles == 0 && !c->running)
        free(c);
}

/* Pool thread: reads both files; the vault swaps its snapshot under a lock. */
static void reload_work(uv_work_t *req)
{
    qpd_conf *c = req->data;
    qp_error err = QP_ERROR_INIT;
    qp_vaultconf *now;
    const char *w;

    c->rc = qp_vault_reload_conf(c->d->vault, &c->changed, &err);
    c->warning[0] = '\0';
    if (c->rc == QP_OK && c->changed && (now = qp_vault_conf(c->d->vault)) != NULL) {
        if ((w = qp_vaultconf_warning(now)) != NULL)
            snprintf(c->warning, sizeof c->warning, "%s", w);
        qp_vaultconf_free(now);
    }
}

static void reload_done(uv_work_t *req, int status)
{
    qpd_conf *c = req->data;

    c->running = false;
    if (c->stopping || status != 0) {
        maybe_free(c);
        return;
    }
    if (c->rc != QP_OK) {
        qpd_log(QPD_LOG_ERROR, "vault settings: out of memory; keeping the old ones");
    } else if (c->changed) {
        qpd_log(QPD_LOG_INFO, "vault settings changed: re-running subscriptions");
        if (c->warning[0] != '\0')
            qpd_log(QPD_LOG_WARN, "%s", c->warning);
        c->changed_cb(c->d);
    }
    if (c->again) {
        c->again = false;
        reload_start(c);
    }
}

static void reload_start(qpd_conf *c)
{
    if (c->running) {
        c->again = true;
        return;
    }
    c->running = true;
    c->work.data = c;
    if (uv_queue_work(c->d->loop, &c->work, reload_work, reload_done) != 0)
        c->running = false; /* only for a NULL work_cb */
}

static void poll_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    qpd_conf *c = h->data;

    (void)status; /* created, changed or deleted: read again in every case */
    (void)prev;
    (void)curr;
    if (!c->stopping)
        reload_start(c);
}

static void close_cb(uv_handle_t *h)
{
    qpd_conf *c = h->data;

    c->open_handles--;
    maybe_free(c);
}

qp_rc qpd_conf_start(qpd_daemon *d, void (*changed)(qpd_daemon *d), qp_error *err)
{
    static const char *const files[2] = {QP_VAULTCONF_APP_JSON, QP_VAULTCONF_TASKS_JSON};
    qpd_conf *c = calloc(1, sizeof *c);

    if (c == NULL)
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    c->d = d;
    c->changed_cb = changed;
    d->conf = c;
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", d->vault_root, files[i]);
        uv_fs_poll_init(d->loop, &c->poll[i]);
        c->poll[i].data = c;
        c->open_handles++;
        if (uv_fs_poll_start(&c->poll[i], poll_cb, path, QPD_CONF_POLL_MS) != 0)
            qpd_log(QPD_LOG_WARN, "%s: cannot watch for changes", files[i]);
    }
    return QP_OK;
}

void qpd_conf_stop(qpd_daemon *d)
{
    qpd_conf *c = d != NULL ? d->conf : NULL;

    if (c == NULL)
        return;
    d->conf = NULL;
    c->stopping = true;
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&c->poll[i], close_cb);
    if (c->running)
        uv_cancel((uv_req_t *)&c->work); /* if it has not started; done runs either way */
}
