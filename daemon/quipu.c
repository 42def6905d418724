/*
 * quipu — the command-line client of quipud.
 *
 * main() reads the global options that come before the subcommand, then
 * hands the rest of argv to it: `eval-tasks` runs without a daemon
 * (daemon/cli/eval_tasks.c); every other subcommand is a JSON-RPC client
 * (daemon/cli/commands.c).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/eval_tasks.h"
#include "quipu/version.h"

int main(int argc, char **argv)
{
    qp_cli cli;
    int i = 1;

    memset(&cli, 0, sizeof cli);
    /* A daemon that goes away mid-request is an error message, not a kill. */
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0);

    /* Global options before the subcommand; the subcommand's own parser
     * accepts them after it too. Only the ones that take a separate value
     * need care here, so that `--socket status` is not read as a command. */
    while (i < argc && argv[i][0] == '-') {
        const char *o = argv[i];

        if (strcmp(o, "--version") == 0 || strcmp(o, "-V") == 0) {
            printf("quipu %s (protocol %d)\n", QP_VERSION_STRING, QP_PROTOCOL_VERSION);
            return QP_CLI_EXIT_OK;
        }
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            qp_cli_usage(stdout);
            return QP_CLI_EXIT_OK;
        }
        if (strcmp(o, "--socket") == 0 || strcmp(o, "--vault") == 0 || strcmp(o, "--color") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "quipu: option %s needs a value\n", o);
                return QP_CLI_EXIT_USAGE;
            }
            i += 2;
            continue;
        }
        if (strcmp(o, "--json") == 0 || strcmp(o, "--no-color") == 0 ||
            strncmp(o, "--socket=", 9) == 0 || strncmp(o, "--vault=", 8) == 0 ||
            strncmp(o, "--color=", 8) == 0) {
            i++;
            continue;
        }
        fprintf(stderr, "quipu: unknown option %s\n", o);
        qp_cli_usage(stderr);
        return QP_CLI_EXIT_USAGE;
    }
    if (i >= argc) {
        qp_cli_usage(stderr);
        return QP_CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "eval-tasks") == 0)
        return qp_cli_eval_tasks(argc - i, argv + i);
    {
        /* Move the subcommand's name in front of the global options, where
         * its parser reads them with the rest: [cmd, globals..., args...]. */
        char *cmd = argv[i];

        memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
        argv[1] = cmd;
    }
    return qp_cli_run(&cli, argc - 1, argv + 1);
}
