#ifndef QUIPU_VAULTCONF_H
#define QUIPU_VAULTCONF_H

/*
 * vaultconf — the vault's own Obsidian settings, read in one place.
 *
 * Obsidian keeps a vault's "Files and links" options in .obsidian/app.json.
 * A qp_vaultconf is one immutable snapshot of the options quipu acts on:
 *
 *   key                   type      default       used for
 *   userIgnoreFilters     [string]  []            excluded files (below)
 *   newLinkFormat         string    "shortest"    how a new link names its target
 *   useMarkdownLinks      bool      false         [x](dest) instead of [[x]]
 *   newFileLocation       string    "root"        where a new note goes
 *   newFileFolderPath     string    ""            the folder for "folder"
 *   attachmentFolderPath  string    "/"           where a new attachment goes
 *   alwaysUpdateLinks     bool      true          rewrite links on rename
 *
 * A key that is missing or of the wrong type keeps its default; an unknown
 * enum value ("newLinkFormat": "weird") too. A missing app.json is the
 * defaults; an unreadable or malformed one is the defaults plus a warning
 * (qp_vaultconf_warning), never a failed call, so a half-written file saved
 * by Obsidian never stops the daemon.
 *
 * Excluded files ("Files and links > Excluded files", userIgnoreFilters):
 * each string is either
 *  - "/regex/" (starts and ends with '/', at least one character between):
 *    a regular expression searched anywhere in the vault-relative path.
 *    quipu compiles it as a POSIX extended regex (best effort: JavaScript-
 *    only syntax such as \d or lookahead may not mean the same; a pattern
 *    regcomp rejects is skipped and named in the warning); or
 *  - anything else: a plain, case-sensitive path prefix. "Archive/" excludes
 *    the folder Archive; "Templates" excludes Templates.md, Templates/... and
 *    TemplatesOld/... alike (a string prefix, not a path segment).
 * Empty strings and non-strings are ignored. Obsidian still indexes excluded
 * files (their links count in backlinks and the graph); it hides them from
 * search, unlinked mentions and link suggestions, and so does quipu.
 *
 * Paths handed in are vault-relative, '/'-separated, NFC. Strings handed out
 * are borrowed and valid until the last reference is dropped.
 *
 * Thread-safety: a qp_vaultconf never changes after it is made, so it may be
 * read from any number of threads; references are counted atomically
 * (qp_vaultconf_ref / qp_vaultconf_free), so a snapshot can be replaced
 * while queries still hold the old one.
 */

#include <stdbool.h>
#include <stddef.h>

#include "quipu/error.h"

typedef struct qp_vaultconf qp_vaultconf;           /* opaque, immutable, reference-counted */
typedef struct qp_tasks_settings qp_tasks_settings; /* from quipu/tasks.h */

/* Where the path of a new link comes from (app.json "newLinkFormat"). */
typedef enum qp_link_format {
    QP_LINK_FORMAT_SHORTEST = 0, /* "shortest": the name alone when it is unambiguous */
    QP_LINK_FORMAT_RELATIVE = 1, /* "relative": relative to the linking note's folder */
    QP_LINK_FORMAT_ABSOLUTE = 2, /* "absolute": the full vault path */
} qp_link_format;

/* Where a new note is created (app.json "newFileLocation"). */
typedef enum qp_new_file_location {
    QP_NEW_FILE_ROOT = 0,    /* "root": the vault root */
    QP_NEW_FILE_CURRENT = 1, /* "current": the active note's folder */
    QP_NEW_FILE_FOLDER = 2,  /* "folder": newFileFolderPath */
} qp_new_file_location;

/* The vault-relative path of the Tasks plugin's saved settings. */
#define QP_VAULTCONF_APP_JSON   ".obsidian/app.json"
#define QP_VAULTCONF_TASKS_JSON ".obsidian/plugins/obsidian-tasks-plugin/data.json"

/* Reads <root>/.obsidian/app.json and the Tasks plugin's data.json (see
 * qp_vaultconf_tasks). On success *out is a new snapshot with one reference
 * (drop it with qp_vaultconf_free). Missing files are defaults, bad files
 * defaults plus a warning. Errors: QP_ENOMEM only. */
qp_rc qp_vaultconf_load(qp_vaultconf **out, const char *root, qp_error *err);

/* Builds a snapshot from the text of an app.json (`app`, `app_len` bytes)
 * and of a Tasks data.json (`tasks`, `tasks_len`); either may be NULL
 * (missing file). Errors: QP_ENOMEM only. */
qp_rc qp_vaultconf_parse(qp_vaultconf **out, const char *app, size_t app_len, const char *tasks,
                         size_t tasks_len, qp_error *err);

/* Adds a reference and returns c (NULL gives NULL). */
qp_vaultconf *qp_vaultconf_ref(qp_vaultconf *c);

/* Drops a reference; the last one frees the snapshot. NULL is a no-op. */
void qp_vaultconf_free(qp_vaultconf *c);

/* True when both snapshots hold the same settings (NULL = defaults), so a
 * watcher can tell a re-save from a change. */
bool qp_vaultconf_equal(const qp_vaultconf *a, const qp_vaultconf *b);

/* A one-line description of what was wrong with the files ("app.json:3:5:
 * ..."), or NULL when nothing was. Borrowed. */
const char *qp_vaultconf_warning(const qp_vaultconf *c);

/* True when `relpath` is an excluded file (a userIgnoreFilters match).
 * NULL c means no filters. */
bool qp_vaultconf_excluded(const qp_vaultconf *c, const char *relpath);

/* The userIgnoreFilters strings that are in effect, in file order (empty and
 * unusable ones dropped). */
size_t qp_vaultconf_filter_count(const qp_vaultconf *c);
const char *qp_vaultconf_filter(const qp_vaultconf *c, size_t i);

/* The "Files and links" options; NULL c gives the defaults. */
qp_link_format qp_vaultconf_link_format(const qp_vaultconf *c);
bool qp_vaultconf_markdown_links(const qp_vaultconf *c);
qp_new_file_location qp_vaultconf_new_file_location(const qp_vaultconf *c);
const char *qp_vaultconf_new_file_folder(const qp_vaultconf *c);   /* as written, "" default */
const char *qp_vaultconf_attachment_folder(const qp_vaultconf *c); /* as written, "/" default */
bool qp_vaultconf_always_update_links(const qp_vaultconf *c);

/* The folder (vault-relative, no leading or trailing '/', "" = the root) a
 * new note goes to when it is made from the note `active` (vault path, may
 * be NULL: no active note, so "current" means the root). On success *out is
 * new (free with free()). Errors: QP_ENOMEM. */
qp_rc qp_vaultconf_new_note_folder(char **out, const qp_vaultconf *c, const char *active,
                                   qp_error *err);

/* The folder a new attachment of the note `note` goes to, as Obsidian reads
 * attachmentFolderPath: "/" (or "") the root; "./" the note's folder;
 * "./sub" the folder sub below the note's folder; anything else that folder
 * of the vault. *out as for qp_vaultconf_new_note_folder. */
qp_rc qp_vaultconf_attachment_folder_for(char **out, const qp_vaultconf *c, const char *note,
                                         qp_error *err);

/* The Tasks plugin settings read from its data.json (mapping in
 * docs/query-language.md), or NULL when the vault has none (the plugin's
 * defaults). Borrowed, valid while c is. */
const qp_tasks_settings *qp_vaultconf_tasks(const qp_vaultconf *c);

#endif /* QUIPU_VAULTCONF_H */
