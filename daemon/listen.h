#ifndef QPD_LISTEN_H
#define QPD_LISTEN_H

/*
 * listen — binds the daemon's Unix socket, with tmux's hygiene: the
 * directory made 0700, the socket born 0600 (under umask 0177), and on
 * EADDRINUSE a connect() probe, under flock(<socket>.lock), that tells a
 * live daemon (refused: QP_EBUSY) from a stale socket (unlinked, bound
 * again). The lock serialises that check and the bind between daemons
 * starting at once. Loop thread.
 */

#include <stddef.h>

#include <uv.h>

#include "quipu/error.h"

/* Binds `pipe` (initialised, not bound) at `path` and listens with `cb`;
 * writes "<path>.lock" into lock_path (lock_size bytes). QP_EBUSY when a
 * live daemon serves `path` (the message names vault_root; lock_path is
 * then emptied: the lock is that daemon's), QP_EINVAL for a path too long
 * for sun_path, QP_EIO otherwise. */
qp_rc qpd_listen(uv_pipe_t *pipe, const char *path, const char *vault_root, uv_connection_cb cb,
                 char *lock_path, size_t lock_size, qp_error *err);

/* Removes the lock file under its lock, so never while another daemon is
 * between its check and its bind. "" is a no-op. The socket itself is
 * unlinked by libuv when the listening handle closes. */
void qpd_listen_remove_lock(const char *lock_path);

#endif
