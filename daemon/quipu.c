/*
 * quipu — the command-line client of quipud.
 *
 * Every command is a row of the table in daemon/cli/table.c; dispatch.c
 * parses argv against it. `eval-tasks` runs without a daemon
 * (daemon/cli/eval_tasks.c); every other command is a JSON-RPC client
 * (daemon/cli/commands.c).
 */
#include <signal.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    qp_cli cli;

    memset(&cli, 0, sizeof cli);
    /* A daemon that goes away mid-request is an error message, not a kill. */
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0);
    return qp_cli_main(&cli, argc, argv);
}
