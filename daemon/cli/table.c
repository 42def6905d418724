/*
 * table — every quipu command, one row each: its synopsis, its help, its
 * options and its handler. dispatch.c reads nothing else to parse a command
 * line, answer `--help` or list the commands, so a new command is a handler
 * and a row here (rows are listed by `quipu help` in this order).
 */
#include <string.h>

#include "cli.h"

const qp_cli_command qp_cli_commands[] = {
    {
        .name = "status",
        .synopsis = "[--wait] [--timeout SECONDS]",
        .summary = "index state; --wait blocks until the first scan ends",
        .help = "Prints the daemon's state (scanning or ready), the vault, the notes by kind and\n"
                "the number of tasks. With --wait, waits for a daemon that is still starting,\n"
                "then until its first scan has ended, showing the progress on standard error.",
        .max_pos = 0,
        .run = qp_cli_cmd_status,
        .opts = {{"--wait", NULL, "wait for the daemon and its first scan"},
                 {"--timeout", "SECONDS",
                  "give up (exit 1) after SECONDS; 0, the default: no limit"}},
    },
    {
        .name = "backlinks",
        .synopsis = "NOTE [--unlinked] [--limit N] [--cursor CURSOR] [--all-occurrences]",
        .summary = "notes that link to NOTE (and plain-text mentions)",
        .help = "Every note that links to NOTE, with each link's place and line. NOTE is a\n"
                "vault-relative path or link text (\"Mara Lindqvist\").",
        .pos_name = "NOTE",
        .min_pos = 1,
        .max_pos = 1,
        .run = qp_cli_cmd_note,
        .opts = {{"--unlinked", NULL, "also plain-text mentions of the note's name and aliases"},
                 {"--limit", "N", "at most N sources per list (a page; the total is shown)"},
                 {"--cursor", "CURSOR", "the page after the one that printed this CURSOR"},
                 {"--all-occurrences", NULL,
                  "every occurrence of each source (default: the first 100, the rest counted)"}},
    },
    {
        .name = "mentions",
        .synopsis = "NOTE [--limit N] [--cursor CURSOR] [--all-occurrences]",
        .summary = "the meetings that mention a person, newest first",
        .help = "For a person note: the meetings that mention the person, newest first, then\n"
                "those missing from the note's Recent Context and the stale entries there.",
        .pos_name = "NOTE",
        .min_pos = 1,
        .max_pos = 1,
        .run = qp_cli_cmd_note,
        .opts = {{"--limit", "N", "at most N meetings (a page; the total is shown)"},
                 {"--cursor", "CURSOR", "the page after the one that printed this CURSOR"},
                 {"--all-occurrences", NULL,
                  "every occurrence of each meeting (default: the first 100, the rest counted)"}},
    },
    {
        .name = "tasks",
        .synopsis = "QUERY... [--today DATE] [--from PATH]",
        .summary = "run an Obsidian Tasks query (one line per argument)",
        .help = "Runs an Obsidian Tasks query over the vault's tasks. Each QUERY argument is one\n"
                "line of the query; '-' reads lines from standard input.",
        .pos_name = "QUERY",
        .min_pos = 1,
        .max_pos = QP_CLI_ANY,
        .run = qp_cli_cmd_tasks,
        .opts = {{"--today", "DATE", "the date that 'today' means (YYYY-MM-DD)"},
                 {"--from", "PATH", "the note the query sits in (for 'this file' filters)"}},
    },
    {
        .name = "blocks",
        .synopsis = "NOTE [--today DATE]",
        .summary = "run every ```tasks block of NOTE",
        .help = "Runs every ```tasks block of NOTE and prints each block's results under the\n"
                "block's place.",
        .pos_name = "NOTE",
        .min_pos = 1,
        .max_pos = 1,
        .run = qp_cli_cmd_blocks,
        .opts = {{"--today", "DATE", "the date that 'today' means (YYYY-MM-DD)"}},
    },
    {
        .name = "note",
        .synopsis = "NOTE",
        .summary = "a note's metadata, headings, links, tasks and problems",
        .pos_name = "NOTE",
        .min_pos = 1,
        .max_pos = 1,
        .run = qp_cli_cmd_note,
    },
    {
        .name = "resolve",
        .synopsis = "LINK [--from PATH]",
        .summary = "the note a [[LINK]] points to",
        .help = "Prints the path of the note that [[LINK]] points to; exits 1 when none does.",
        .pos_name = "LINK",
        .min_pos = 1,
        .max_pos = 1,
        .run = qp_cli_cmd_resolve,
        .opts = {{"--from", "PATH", "the note the link sits in (relative links)"}},
    },
    {
        .name = "search",
        .synopsis = "QUERY... [--limit N] [--all]",
        .summary = "full-text search: matching lines as path:line:column: text",
        .help = "Searches note text, titles, aliases, headings and properties (docs/search.md):\n"
                "words, \"phrases\", -word, OR, ( ), path:, file:, tag:#x, [property:value],\n"
                "line:( ), section:( ), task:, task-todo:, task-done:. Best matches first.",
        .pos_name = "QUERY",
        .min_pos = 1,
        .max_pos = QP_CLI_ANY,
        .run = qp_cli_cmd_search,
        .opts = {{"--limit", "N", "at most N notes (default 20)"},
                 {"--all", NULL, "every matching note"}},
    },
    {
        .name = "mcp",
        .synopsis = "[--allow-write] [--quipud PATH]",
        .summary = "a Model Context Protocol server on stdin/stdout for AI clients",
        .help = "Serves the vault's index to an MCP client (Claude Desktop, Claude Code, Cursor,\n"
                "VS Code...) over standard input and output: tools (search, read_note,\n"
                "backlinks, mentions, tasks, list_notes, unresolved_links, status) and every\n"
                "note as a file:// resource. Starts quipud when none runs. Read-only unless\n"
                "--allow-write (create_note, append_to_note, add_mentions, rename_note; logged\n"
                "on stderr).",
        .max_pos = 0,
        .run = qp_cli_cmd_mcp,
        .opts = {{"--allow-write", NULL, "offer the tools that write notes"},
                 {"--quipud", "PATH", "the quipud to start (default: next to quipu, or $PATH)"}},
    },
    {
        .name = "problems",
        .synopsis = "[NOTE] [--kind KIND[,KIND...]] [--limit N]",
        .summary = "everything the index knows is wrong, as path:line:column: lines",
        .help = "Unresolved links and headings, invalid frontmatter, files too big or binary,\n"
                "invalid UTF-8, Tasks query errors and \"Mentioned in\" drift of person notes,\n"
                "for the vault or one NOTE, one per line as path:line:column: severity: message\n"
                "[kind] (what editors' quickfix lists read). Kinds: unresolved_link,\n"
                "unresolved_subpath, frontmatter, size, binary, encoding, tasks_query,\n"
                "mentions_missing, mentions_stale.",
        .pos_name = "NOTE",
        .max_pos = 1,
        .run = qp_cli_cmd_problems,
        .opts = {{"--kind", "KIND", "only these kinds (comma-separated)"},
                 {"--limit", "N", "at most N problems"}},
    },
    {
        .name = "list",
        .synopsis = "[--kind KIND] [--folder DIR] [--tag TAG] [--property KEY[=VALUE]] [--sort S]",
        .summary = "notes by kind, folder, tag or property, one path per line",
        .help = "Lists the notes that pass every filter given: --kind person|meeting|note,\n"
                "--folder (recursive), --tag (nested tags too), --property KEY (has it) or\n"
                "KEY=VALUE (it, or one of its list elements, equals VALUE; case-insensitive).\n"
                "--sort path (default), modified, date (newest first) or title.",
        .max_pos = 0,
        .run = qp_cli_cmd_list,
        .opts = {{"--kind", "KIND", "person, meeting or note"},
                 {"--folder", "DIR", "under this vault folder"},
                 {"--tag", "TAG", "with this tag or one nested under it"},
                 {"--property", "KEY[=VALUE]", "with this property (and value)"},
                 {"--sort", "S", "path, modified, date or title"},
                 {"--limit", "N", "at most N notes"}},
    },
    {
        .name = "mv",
        .synopsis = "OLD NEW [--dry-run]",
        .summary = "move or rename a note, attachment or folder, rewriting every link to it",
        .help = "Moves OLD (a note, an attachment or a folder) to NEW and rewrites every link\n"
                "that pointed to it, as Obsidian does. A NEW without '/' is a new name in the\n"
                "same folder; a NEW ending in '/' is a folder to move into. quipud plans the\n"
                "edits and checks that no other link changes its target; quipu applies them:\n"
                "a file changed since the plan refuses the whole rename, and a failure part\n"
                "way puts everything back. --dry-run prints the edits as a unified diff.",
        .pos_name = "OLD NEW",
        .min_pos = 2,
        .max_pos = 2,
        .run = qp_cli_cmd_mv,
        .opts = {{"--dry-run", NULL, "print the edits as a unified diff, write nothing"}},
    },
    {
        .name = "rename-heading",
        .synopsis = "NOTE OLD NEW [--dry-run]",
        .summary = "rename a heading of NOTE and every link to it",
        .pos_name = "NOTE OLD NEW",
        .min_pos = 3,
        .max_pos = 3,
        .run = qp_cli_cmd_rename_part,
        .opts = {{"--dry-run", NULL, "print the edits as a unified diff, write nothing"}},
    },
    {
        .name = "rename-block",
        .synopsis = "NOTE OLD NEW [--dry-run]",
        .summary = "rename a block id (^id) of NOTE and every link to it",
        .pos_name = "NOTE OLD NEW",
        .min_pos = 3,
        .max_pos = 3,
        .run = qp_cli_cmd_rename_part,
        .opts = {{"--dry-run", NULL, "print the edits as a unified diff, write nothing"}},
    },
    {
        .name = "rename-tag",
        .synopsis = "OLD NEW [--dry-run]",
        .summary = "rename a tag and its nested tags everywhere",
        .help = "Renames #OLD to #NEW, and #OLD/x to #NEW/x, in note bodies and frontmatter\n"
                "tags; tags in code are left alone.",
        .pos_name = "OLD NEW",
        .min_pos = 2,
        .max_pos = 2,
        .run = qp_cli_cmd_rename_tag,
        .opts = {{"--dry-run", NULL, "print the edits as a unified diff, write nothing"}},
    },
    {
        .name = "watch",
        .synopsis = "METHOD [JSON | key=value | key:=JSON ...]",
        .summary = "subscribe and print every update until Ctrl-C",
        .help = "Subscribes to a protocol method (\"tasks\" is short for tasks.query, \"blocks\"\n"
                "for tasks.blocks) and prints its result each time it changes. Parameters are\n"
                "one JSON object, or key=value words (a string; true and false are booleans)\n"
                "and key:=JSON words. With --json, one compact line per update.",
        .pos_name = "METHOD",
        .min_pos = 1,
        .max_pos = QP_CLI_ANY,
        .run = qp_cli_cmd_watch,
    },
    {
        .name = "stop",
        .synopsis = "[--timeout SECONDS]",
        .summary = "stop the quipud of this vault",
        .help = "Sends SIGTERM to the quipud that serves the vault (or --socket), after checking\n"
                "that the process on the socket is a quipud, and waits until it has exited.",
        .max_pos = 0,
        .run = qp_cli_cmd_stop,
        .opts = {{"--timeout", "SECONDS", "give up (exit 1) after SECONDS; default 30"}},
    },
    {
        .name = "eval-tasks",
        .synopsis = "< cases.jsonl",
        .summary = "evaluate task queries without a daemon",
        .help = "Reads one JSON object per line ({query, tasks, today, query_path, settings,\n"
                "query_properties}) and prints one result per line. Needs no daemon.",
        .max_pos = 0,
        .run = qp_cli_cmd_eval_tasks,
    },
    {
        .name = "lsp",
        .synopsis = "[--stdio] [--quipud PATH]",
        .summary = "a Language Server (LSP) on stdin/stdout for editors",
        .help = "Speaks the Language Server Protocol on standard input and output for the vaults\n"
                "of the editor's workspace folders, answering from each vault's quipud and\n"
                "starting it when none runs. See docs/editors.md.",
        .max_pos = 0,
        .run = qp_cli_cmd_lsp,
        .opts = {{"--stdio", NULL, "accepted for editors that pass it (stdio is the transport)"},
                 {"--quipud", "PATH", "the quipud to start (default: next to quipu, else $PATH)"}},
    },
    {
        .name = "help",
        .synopsis = "[COMMAND]",
        .summary = "this text, or a command's",
        .pos_name = "COMMAND",
        .max_pos = 1,
        .run = qp_cli_cmd_help,
    },
    {.name = NULL},
};

const qp_cli_command *qp_cli_find_command(const char *name)
{
    for (const qp_cli_command *c = qp_cli_commands; c->name != NULL; c++) {
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}
