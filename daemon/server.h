#ifndef QPD_SERVER_H
#define QPD_SERVER_H

/*
 * server — the Unix socket, its clients, JSON-RPC dispatch and
 * subscriptions (spec/protocol.md).
 *
 * Requests are decoded on the loop thread; query methods run on the libuv
 * pool with a reader from the index's pool and the reply is serialized
 * there, so only bytes cross back. Replies go out as they finish (each
 * carries its id), so a pipelining client is never stuck behind a slow
 * query. Loop thread only.
 */

#include "qpd.h"
#include "quipu/error.h"

/* Binds and listens on d->socket_path (directory 0700, socket 0600). When
 * the path is taken by a live quipud, fails with QP_EBUSY and a message;
 * a stale socket is removed. */
qp_rc qpd_server_start(qpd_daemon *d, qp_error *err);

/* The index committed a batch (d->generation is the new generation):
 * re-run subscriptions and push what changed. */
void qpd_server_on_commit(qpd_daemon *d);

/* The daemon's state (ready, scan progress) moved, with or without a
 * commit: status subscribers get (throttled) updates. */
void qpd_server_on_state(qpd_daemon *d);

/* Stops accepting and closes every client. */
void qpd_server_stop(qpd_daemon *d);

/* Removes the socket and its lock file; frees the server. */
void qpd_server_free(qpd_daemon *d);

#endif
