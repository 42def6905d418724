/*
 * lsp_cmd — `quipu lsp`: the command-line end of the language server
 * (daemon/lsp/). The global --socket applies to every vault it serves.
 */
#include "cli.h"
#include "lsp/lsp.h"

int qp_cli_cmd_lsp(qp_cli *cli, const qp_cli_args *a)
{
    return qpl_main(qp_cli_opt_value(a, "--quipud"), cli->socket_opt);
}
