/* Placeholder until the task-query engine's eval-tasks command lands. */
#include "eval_tasks.h"

#include <stdio.h>

int qp_cli_eval_tasks(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("quipu eval-tasks: not built yet\n", stderr);
    return 2;
}
