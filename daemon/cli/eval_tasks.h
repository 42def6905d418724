#ifndef QP_CLI_EVAL_TASKS_H
#define QP_CLI_EVAL_TASKS_H

/* quipu eval-tasks: evaluates task queries without a daemon or a vault.
 * Reads JSON Lines from stdin, each {"query", "tasks": [{"line", "path",
 * "heading"}], "today", "query_path", "settings"}, and writes one line per
 * input: {"groups": [{"names": [...], "tasks": [input indices]}], "total":
 * N} or {"error": "message"}. argv[0] is "eval-tasks". Returns the process
 * exit code: 0 when every line was read (query errors are results), 2 on
 * bad usage or an unreadable input line. */
int qp_cli_eval_tasks(int argc, char **argv);

#endif /* QP_CLI_EVAL_TASKS_H */
