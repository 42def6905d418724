#ifndef QP_CLI_EVAL_TASKS_H
#define QP_CLI_EVAL_TASKS_H

/* quipu eval-tasks: evaluates task queries without a daemon. argv[0] is
 * "eval-tasks". Returns the process exit code. */
int qp_cli_eval_tasks(int argc, char **argv);

#endif /* QP_CLI_EVAL_TASKS_H */
