#ifndef QPD_CONF_H
#define QPD_CONF_H

/*
 * conf — keeps the vault's own settings current while quipud runs.
 *
 * .obsidian/app.json (excluded files, link format, ...) and the Tasks
 * plugin's data.json (global filter, statuses, presets, ...) live in a dot
 * folder the watcher never watches, and the plugin's folder may appear only
 * when the plugin is installed. So each file gets a uv_fs_poll (a stat every
 * QPD_CONF_POLL_MS on the pool, which also notices a file that is created
 * later). On a change, a pool job re-reads both (qp_vault_reload_conf);
 * when the settings differ, `changed` is called: main drops the result
 * cache and re-runs every subscription (qpd_server_on_commit), so
 * `backlinks`, `mentions`, `tasks.query` and `tasks.blocks` subscribers get
 * the new answers. The index itself does not change: excluded files are
 * indexed either way. Loop thread only.
 */

#include "qpd.h"

#define QPD_CONF_POLL_MS 250

/* Starts polling; `changed` runs on the loop after the settings changed.
 * Errors: QP_ENOMEM. */
qp_rc qpd_conf_start(qpd_daemon *d, void (*changed)(qpd_daemon *d), qp_error *err);

/* Stops polling and closes the handles; the state is freed once they are
 * closed and no reload is in flight. NULL-safe, idempotent. */
void qpd_conf_stop(qpd_daemon *d);

#endif
