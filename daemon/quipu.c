/*
 * quipu — the command-line client of quipud.
 *
 * main() only parses the global options and hands the rest of argv to one
 * subcommand; the subcommands live in daemon/cli/.
 */
#include <stdio.h>
#include <string.h>

#include "cli/eval_tasks.h"
#include "quipu/version.h"

static void usage(FILE *f)
{
    fputs("usage: quipu [--socket PATH] [--json] [--vault DIR] COMMAND ...\n"
          "       quipu eval-tasks ...\n"
          "       quipu help | --version\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("quipu %s\n", QP_VERSION_STRING);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "eval-tasks") == 0)
        return qp_cli_eval_tasks(argc - 1, argv + 1);
    fprintf(stderr, "quipu: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
