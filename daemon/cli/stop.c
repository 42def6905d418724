/*
 * stop — `quipu stop`: ends the quipud that serves the vault (or the socket
 * given), as the Neovim plugin's :QuipuStop does for a daemon it started.
 *
 * The daemon's pid comes from the socket itself (SO_PEERCRED names the
 * process that created the listening socket), so no pid file can go stale;
 * quipu checks that the process is a quipud before it sends SIGTERM, then
 * waits for it to exit (quipud removes its socket on the way out).
 */
/* struct ucred and SO_PEERCRED are Linux (glibc shows them under _GNU_SOURCE). */
#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Is `pid` a quipud (its command line names it, directly or after a
 * wrapper such as valgrind)? */
static bool is_quipud(pid_t pid)
{
    char path[64], buf[4096];
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "rb");
    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        const char *base = strrchr(buf + i, '/');

        if (strcmp(base != NULL ? base + 1 : buf + i, "quipud") == 0)
            return true;
    }
    return false;
}

/* Has `pid` exited? Gone, or a zombie that its parent has not reaped yet. */
static bool exited(pid_t pid)
{
    char path[64], buf[512];
    const char *close_paren;
    size_t n;
    FILE *f;

    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')'. */
    close_paren = strrchr(buf, ')');
    return close_paren != NULL && close_paren[1] == ' ' &&
           (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

int qp_cli_cmd_stop(qp_cli *cli, const qp_cli_args *a)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    struct timespec pause = {0, 20 * 1000 * 1000};
    int rc;

    rc = qp_cli_apply_timeout(cli, a);
    if (rc == 0)
        rc = qp_cli_connect(cli);
    if (rc != 0)
        return rc;
    if (getsockopt(qp_cli_conn_fd(cli), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        qp_cli_error(NULL, "%s: cannot tell which process serves it: %s", cli->socket,
                     strerror(errno));
        return QP_CLI_EXIT_FAIL;
    }
    qp_cli_disconnect(cli);
    if (!is_quipud(cred.pid)) {
        qp_cli_error(NULL, "%s is served by pid %d, which is not quipud: not stopped", cli->socket,
                     (int)cred.pid);
        return QP_CLI_EXIT_FAIL;
    }
    if (kill(cred.pid, SIGTERM) != 0) {
        qp_cli_error(NULL, "kill %d: %s", (int)cred.pid, strerror(errno));
        return QP_CLI_EXIT_FAIL;
    }
    if (qp_cli_opt_value(a, "--timeout") == NULL)
        qp_cli_set_timeout(cli, 30);
    /* quipud finishes the batch it is writing, then exits. */
    while (!exited(cred.pid)) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)now.tv_sec + (double)now.tv_nsec / 1e9 >= cli->deadline) {
            qp_cli_error("timeout", "quipud (pid %d) did not exit after SIGTERM", (int)cred.pid);
            return QP_CLI_EXIT_FAIL;
        }
        nanosleep(&pause, NULL);
    }
    if (cli->json)
        printf("{\"stopped\": %d}\n", (int)cred.pid);
    else
        printf("stopped quipud (pid %d) on %s\n", (int)cred.pid, cli->socket);
    return QP_CLI_EXIT_OK;
}
