/*
 * listen — the daemon's socket; see listen.h.
 */

/* flock() is BSD. */
#define _GNU_SOURCE

#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

/* True when a server answers on `path`. */
static bool socket_alive(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t n = strlen(path);
    bool alive;

    if (fd < 0 || n >= sizeof sa.sun_path) {
        if (fd >= 0)
            close(fd);
        return true; /* cannot tell: do not remove someone else's socket */
    }
    memcpy(sa.sun_path, path, n + 1);
    alive = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
            (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return alive;
}

static int bind_socket(uv_pipe_t *pipe, const char *path)
{
    mode_t old = umask(0177); /* the socket is born 0600 (tmux) */
    int r = uv_pipe_bind(pipe, path);

    umask(old);
    return r;
}

/* Opens and locks <socket>.lock. The lock serialises the check for a stale
 * socket and the bind between daemons starting at once; a lock file that a
 * stopping daemon unlinked meanwhile is not the one the others lock, so it
 * is opened again. -1 with errno on failure. */
static int lock_socket(const char *lock_path)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        struct stat a, b;

        if (fd < 0)
            return -1;
        while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
            ;
        if (fstat(fd, &a) == 0 && stat(lock_path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return fd;
        close(fd);
    }
    errno = EAGAIN;
    return -1;
}

/* Binds under the lock; a socket nobody answers on is stale and replaced. */
static qp_rc bind_locked(uv_pipe_t *pipe, const char *path, const char *vault_root,
                         uv_connection_cb cb, qp_error *err)
{
    int r = bind_socket(pipe, path);

    if (r == UV_EADDRINUSE) {
        if (socket_alive(path))
            return qp_error_set(err, QP_EBUSY, "another quipud is serving %s on %s", vault_root,
                                path);
        qpd_log(QPD_LOG_INFO, "removing stale socket %s", path);
        unlink(path);
        r = bind_socket(pipe, path);
    }
    if (r != 0)
        return qp_error_set(err, QP_EIO, "bind %s: %s", path, uv_strerror(r));
    chmod(path, 0600);
    r = uv_listen((uv_stream_t *)pipe, 511, cb);
    if (r != 0)
        return qp_error_set(err, QP_EIO, "listen %s: %s", path, uv_strerror(r));
    return QP_OK;
}

qp_rc qpd_listen(uv_pipe_t *pipe, const char *path, const char *vault_root, uv_connection_cb cb,
                 char *lock_path, size_t lock_size, qp_error *err)
{
    char dir[PATH_MAX];
    char *slash;
    int lock_fd, r;
    qp_rc rc;

    lock_path[0] = '\0';
    if (strlen(path) >= sizeof((struct sockaddr_un *)0)->sun_path)
        return qp_error_set(err, QP_EINVAL, "socket path too long (%zu bytes): %s", strlen(path),
                            path);
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        r = qpd_paths_mkdir_p(dir, 0700);
        if (r != 0)
            return qp_error_set(err, QP_EIO, "%s: %s", dir, strerror(-r));
    }
    snprintf(lock_path, lock_size, "%s.lock", path);
    lock_fd = lock_socket(lock_path);
    if (lock_fd < 0)
        return qp_error_set(err, QP_EIO, "%s: %s", lock_path, strerror(errno));
    /* Two daemons starting at once must not both decide the socket is stale. */
    rc = bind_locked(pipe, path, vault_root, cb, err);
    if (rc == QP_OK)
        qpd_log(QPD_LOG_INFO, "listening on %s", path);
    flock(lock_fd, LOCK_UN);
    close(lock_fd);
    if (rc == QP_EBUSY)
        lock_path[0] = '\0'; /* the other daemon's: leave it */
    return rc;
}

void qpd_listen_remove_lock(const char *lock_path)
{
    int fd;

    if (lock_path[0] == '\0')
        return;
    fd = open(lock_path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
        ;
    unlink(lock_path);
    close(fd);
}
