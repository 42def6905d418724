/*
 * render — quipu's human-readable output.
 *
 * Every place is printed as `path:line:`, grep -n's form: Vim's default
 * 'errorformat' reads it (`nvim -q`, `:cexpr`) even when a name holds "1:1",
 * and terminals and editors (gF, VS Code, kitty/wezterm hyperlink hints)
 * open it when the name has no spaces. --vimgrep prints only places, one
 * `path:line:column:text` row each, as `rg --vimgrep` does. Places are
 * padded to one column so that the text after them lines up; on a terminal
 * the text is cut at the window's width (by display columns, not bytes, so
 * CJK and emoji do not overflow) and coloured unless NO_COLOR is set.
 *
 * The renderers trust nothing about the result's shape beyond protocol.md:
 * a missing or mistyped field prints as absent instead of crashing, since
 * an older or newer quipud may send more or less.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>
#include <uniwidth.h>

#include "cli.h"

#define ESC_PATH "\033[35m"
#define ESC_LINE "\033[32m"
#define ESC_BOLD "\033[1m"
#define ESC_DIM  "\033[2m"
#define ESC_RED  "\033[31m"
#define ESC_YEL  "\033[33m"
#define ESC_GRN  "\033[32m"
#define ESC_OFF  "\033[0m"

/* Places longer than this do not push every other row to the right. */
#define LOC_PAD_MAX 56

static const char *esc(const qp_cli *cli, const char *code)
{
    return cli->color ? code : "";
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static long long num(const json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

/* Display columns of a UTF-8 string; invalid bytes count one column each. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    size_t n = strlen(s);
    const uint8_t *p = (const uint8_t *)s;

    while (n > 0) {
        ucs4_t uc;
        int len = u8_mbtouc(&uc, p, n);
        int cw = uc_width(uc, "UTF-8");

        w += cw > 0 ? (size_t)cw : 0;
        p += len;
        n -= (size_t)len;
    }
    return w;
}

static size_t digits(long long v)
{
    size_t d = 1;

    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static size_t loc_width(const char *path, long long line)
{
    return text_width(path) + (line > 0 ? 2 + digits(line) : 0);
}

static void pad(FILE *out, size_t n)
{
    while (n-- > 0)
        fputc(' ', out);
}

/* Prints `path:line:` (or just `path` when line is 0) padded to `width`
 * columns plus two spaces of gutter. */
static void print_loc(const qp_cli *cli, FILE *out, const char *path, long long line, size_t width)
{
    size_t w = loc_width(path, line);

    fprintf(out, "%s%s%s", esc(cli, ESC_PATH), path, esc(cli, ESC_OFF));
    if (line > 0)
        fprintf(out, ":%s%lld%s:", esc(cli, ESC_LINE), line, esc(cli, ESC_OFF));
    pad(out, (w < width ? width - w : 0) + 2);
}

/* Prints one line of note text after `used` columns: leading blanks dropped,
 * tabs as spaces, control characters skipped, cut with "…" at the terminal's
 * edge. Ends the output line. */
static void print_text_end(const qp_cli *cli, FILE *out, const char *text, size_t used,
                           const char *end)
{
    const uint8_t *p = (const uint8_t *)text;
    size_t n, w = 0, total = 0, avail = SIZE_MAX;
    bool cut = false;

    while (*p == ' ' || *p == '\t')
        p++;
    n = strcspn((const char *)p, "\r\n");
    if (cli->width > 0) {
        size_t cols = (size_t)cli->width;

        /* A very narrow window gets the text anyway, wrapped by the terminal. */
        avail = cols > used + 12 ? cols - used : 12;
    }
    /* First pass: does it fit? */
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int len = u8_mbtouc(&uc, p + i, n - i);
        int cw = uc == '\t' ? 1 : uc_width(uc, "UTF-8");

        total += cw > 0 ? (size_t)cw : 0;
        i += (size_t)len;
    }
    if (total > avail) {
        cut = true;
        avail--; /* room for the ellipsis */
    }
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int len = u8_mbtouc(&uc, p + i, n - i);
        int cw = uc == '\t' ? 1 : uc_width(uc, "UTF-8");

        if (cw < 0) { /* a control character: would move the cursor */
            i += (size_t)len;
            continue;
        }
        if (cut && w + (size_t)cw > avail)
            break;
        if (uc == '\t')
            fputc(' ', out);
        else
            fwrite(p + i, 1, (size_t)len, out);
        w += (size_t)cw;
        i += (size_t)len;
    }
    fprintf(out, "%s%s\n", cut ? "…" : "", end);
}

static void print_text(const qp_cli *cli, FILE *out, const char *text, size_t used)
{
    print_text_end(cli, out, text, used, "");
}

/* Prints a message that may span lines: the first as it is, the others
 * after `indent`. Ends the output line. */
static void print_lines(FILE *out, const char *msg, const char *indent)
{
    for (const char *p = msg;;) {
        size_t n = strcspn(p, "\n");

        fprintf(out, "%s%.*s\n", p == msg ? "" : indent, (int)n, p);
        if (p[n] == '\0' || p[n + 1] == '\0')
            break;
        p += n + 1;
    }
}

static void heading(const qp_cli *cli, FILE *out, const char *indent, const char *title, size_t n)
{
    fprintf(out, "%s%s%s (%zu)%s\n", indent, esc(cli, ESC_BOLD), title, n, esc(cli, ESC_OFF));
}

void qp_cli_print_json(const json_t *v, FILE *out, bool compact)
{
    json_dumpf(v, out, JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT(2)));
    fputc('\n', out);
}

/* ---- status ------------------------------------------------------------- */

static void render_status(const qp_cli *cli, const json_t *r, FILE *out)
{
    const char *state = str(r, "state");
    const json_t *notes = json_object_get(r, "notes");
    const json_t *prog = json_object_get(r, "progress");
    const char *b = esc(cli, ESC_BOLD), *o = esc(cli, ESC_OFF);

    fprintf(out, "%sstate%s       %s", b, o, state != NULL ? state : "unknown");
    if (state != NULL && strcmp(state, "scanning") == 0 && json_is_object(prog)) {
        long long done = num(prog, "done"), total = num(prog, "total");

        fprintf(out, " %lld/%lld", done, total);
        if (total > 0)
            fprintf(out, " (%lld%%)", done * 100 / total);
    }
    fputc('\n', out);
    fprintf(out, "%svault%s       %s\n", b, o, str(r, "vault") != NULL ? str(r, "vault") : "");
    fprintf(out, "%sversion%s     %s (protocol %lld)\n", b, o,
            str(r, "version") != NULL ? str(r, "version") : "?", num(r, "protocol"));
    fprintf(out, "%sgeneration%s  %lld\n", b, o, num(r, "generation"));
    fprintf(out, "%sfiles%s       %lld\n", b, o, num(r, "files"));
    fprintf(out, "%snotes%s       %lld person, %lld meeting, %lld other\n", b, o,
            num(notes, "person"), num(notes, "meeting"), num(notes, "other"));
    fprintf(out, "%stasks%s       %lld\n", b, o, num(r, "tasks"));
    fprintf(out, "%slinks%s       %lld (%lld unresolved)\n", b, o, num(r, "links"),
            num(r, "unresolved_links"));
    const json_t *problems = json_object_get(r, "problems"); /* per kind; see `quipu problems` */
    if (json_is_object(problems)) {
        const char *k, *sep = "";
        const json_t *v;

        fprintf(out, "%sproblems%s    ", b, o);
        json_object_foreach((json_t *)(uintptr_t)problems, k, v) if (json_integer_value(v) > 0)
        {
            fprintf(out, "%s%lld %s", sep, (long long)json_integer_value(v), k);
            sep = ", ";
        }
        fprintf(out, "%s (quipu problems lists them, with Mentioned-in drift)\n",
                *sep ? "" : "none");
    }
}

/* ---- sources: backlinks and mentions -------------------------------------- */

/* The widest `path:line` among a Source list's occurrences. */
static size_t sources_width(const json_t *sources)
{
    size_t i, j, max = 0;
    const json_t *src, *occ;

    json_array_foreach(sources, i, src)
    {
        const char *path = str(src, "path");
        const json_t *occs = json_object_get(src, "occurrences");

        if (path == NULL)
            continue;
        if (json_array_size(occs) == 0 && text_width(path) > max)
            max = text_width(path);
        json_array_foreach(occs, j, occ)
        {
            size_t w = loc_width(path, num(occ, "line"));

            if (w > max)
                max = w;
        }
    }
    return max < LOC_PAD_MAX ? max : LOC_PAD_MAX;
}

/* One row per occurrence: [date  ]path:line  context. The date column (for
 * "Mentioned in") is shown on a source's first row only. */
/* A Source list; `total` is the list's length in the whole answer (a
 * page's `*_total`), or NULL when the answer is whole. A page heading
 * says "(20 of 331)". */
static void render_sources(const qp_cli *cli, FILE *out, const char *title, const json_t *sources,
                           const json_t *total, bool dates)
{
    size_t width = sources_width(sources);
    size_t i, j;
    const json_t *src, *occ;

    if (json_is_integer(total) && (size_t)json_integer_value(total) != json_array_size(sources))
        fprintf(out, "%s%s (%zu of %lld)%s\n", esc(cli, ESC_BOLD), title, json_array_size(sources),
                (long long)json_integer_value(total), esc(cli, ESC_OFF));
    else
        heading(cli, out, "", title, json_array_size(sources));
    json_array_foreach(sources, i, src)
    {
        const char *path = str(src, "path");
        const char *date = str(src, "date");
        const json_t *occs = json_object_get(src, "occurrences");
        size_t lead = dates ? 12 : 0;

        if (path == NULL)
            continue;
        if (json_array_size(occs) == 0) {
            if (dates)
                fprintf(out, "%s%-10s%s  ", esc(cli, ESC_DIM), date != NULL ? date : "-",
                        esc(cli, ESC_OFF));
            print_loc(cli, out, path, 0, 0);
            print_text(cli, out, str(src, "title") != NULL ? str(src, "title") : "",
                       lead + width + 2);
            continue;
        }
        json_array_foreach(occs, j, occ)
        {
            const char *ctx = str(occ, "context");

            if (dates) {
                if (j == 0)
                    fprintf(out, "%s%-10s%s  ", esc(cli, ESC_DIM), date != NULL ? date : "-",
                            esc(cli, ESC_OFF));
                else
                    pad(out, 12);
            }
            print_loc(cli, out, path, num(occ, "line"), width);
            print_text(cli, out, ctx != NULL ? ctx : "", lead + width + 2);
        }
        if (num(src, "more_occurrences") > 0) { /* cut by the daemon: say so */
            pad(out, lead + width + 2);
            fprintf(out, "%s… %lld more in this file (--all-occurrences)%s\n", esc(cli, ESC_DIM),
                    num(src, "more_occurrences"), esc(cli, ESC_OFF));
        }
    }
}

/* A page that is not the last: how to ask for the next one, on stderr so
 * that stdout stays `path:line` lines. The cursor is quoted for a POSIX
 * shell. */
static void render_next_page(const json_t *r)
{
    const char *cursor = str(r, "next_cursor");

    if (cursor == NULL)
        return;
    fputs("quipu: more on the next page: --cursor '", stderr);
    for (const char *p = cursor; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", stderr);
        else
            fputc(*p, stderr);
    }
    fputs("'\n", stderr);
}

static void render_backlinks(const qp_cli *cli, const json_t *r, FILE *out)
{
    const json_t *unlinked = json_object_get(r, "unlinked");

    render_sources(cli, out, "Linked mentions", json_object_get(r, "linked"),
                   json_object_get(r, "linked_total"), false);
    if (unlinked != NULL) {
        fputc('\n', out);
        render_sources(cli, out, "Unlinked mentions", unlinked,
                       json_object_get(r, "unlinked_total"), false);
    }
    render_next_page(r);
}

static void render_mentions(const qp_cli *cli, const json_t *r, FILE *out)
{
    const json_t *missing = json_object_get(r, "missing");
    const json_t *stale = json_object_get(r, "stale");
    const char *path = str(r, "path");
    size_t i, width = 0;
    const json_t *v;

    render_sources(cli, out, "Mentioned in", json_object_get(r, "mentioned_in"),
                   json_object_get(r, "mentioned_total"), true);
    render_next_page(r);
    if (json_array_size(missing) > 0) {
        fputc('\n', out);
        heading(cli, out, "", "Missing", json_array_size(missing));
        fprintf(out, "%s  meetings that mention the note but none of its lines list%s\n",
                esc(cli, ESC_DIM), esc(cli, ESC_OFF));
        json_array_foreach(missing, i, v)
        {
            if (json_is_string(v))
                fprintf(out, "%s%s%s\n", esc(cli, ESC_RED), json_string_value(v),
                        esc(cli, ESC_OFF));
        }
    }
    if (json_array_size(stale) > 0 && path != NULL) {
        fputc('\n', out);
        heading(cli, out, "", "Stale", json_array_size(stale));
        fprintf(out, "%s  lines that list a meeting which does not mention the note%s\n",
                esc(cli, ESC_DIM), esc(cli, ESC_OFF));
        json_array_foreach(stale, i, v)
        {
            size_t w = loc_width(path, num(v, "line"));

            width = w > width ? w : width;
        }
        json_array_foreach(stale, i, v)
        {
            const char *t = str(v, "title");

            print_loc(cli, out, path, num(v, "line"), width);
            fprintf(out, "%s", esc(cli, ESC_YEL));
            print_text(cli, out, t != NULL ? t : "", width + 2);
            fprintf(out, "%s", esc(cli, ESC_OFF));
        }
    }
}

/* ---- tasks ----------------------------------------------------------------- */

/* Is `text` a whole task line as the file has it ("- [ ] ...", "1. [x] ...")? */
static bool is_task_line(const char *text)
{
    const char *p = text;

    while (*p == ' ' || *p == '\t' || *p == '>')
        p++;
    if (*p == '-' || *p == '*' || *p == '+') {
        p++;
    } else {
        const char *d = p;

        while (*p >= '0' && *p <= '9')
            p++;
        if (p == d || (*p != '.' && *p != ')'))
            return false;
        p++;
    }
    return p[0] == ' ' && p[1] == '[' && p[2] != '\0' && p[3] == ']';
}

/* One task row. `path` names the file when the task does not (the tasks
 * of a `note` result). The line is printed as the file has it when the
 * result carries it (`text`); else rebuilt from the parsed fields. */
static void print_task(const qp_cli *cli, FILE *out, const json_t *t, const char *path,
                       size_t width, const char *indent)
{
    const json_t *status = json_object_get(t, "status");
    const char *sym = str(status, "symbol");
    const char *type = str(status, "type");
    const char *desc = str(t, "description") != NULL ? str(t, "description") : str(t, "text");
    const char *prio = str(t, "priority");
    const char *colour = "";
    static const struct {
        const char *key, *mark;
    } dates[] = {
        {"start", "🛫"}, {"scheduled", "⏳"}, {"due", "📅"}, {"done", "✅"}, {"cancelled", "❌"},
    };
    static const struct {
        const char *name, *mark;
    } prios[] = {
        {"highest", "🔺"}, {"high", "⏫"}, {"medium", "🔼"}, {"low", "🔽"}, {"lowest", "⏬"},
    };

    if (type != NULL && strcmp(type, "DONE") == 0)
        colour = esc(cli, ESC_GRN);
    else if (type != NULL && strcmp(type, "CANCELLED") == 0)
        colour = esc(cli, ESC_DIM);
    else if (type != NULL && strcmp(type, "IN_PROGRESS") == 0)
        colour = esc(cli, ESC_YEL);

    fputs(indent, out);
    print_loc(cli, out, str(t, "path") != NULL ? str(t, "path") : path, num(t, "line"), width);
    if (str(t, "text") != NULL && is_task_line(str(t, "text"))) {
        fputs(colour, out);
        print_text_end(cli, out, str(t, "text"), strlen(indent) + width + 2,
                       colour[0] != '\0' ? esc(cli, ESC_OFF) : "");
        return;
    }
    fprintf(out, "%s- [%s]%s %s", colour, sym != NULL ? sym : " ", esc(cli, ESC_OFF),
            desc != NULL ? desc : "");
    /* The fields the description no longer carries, in the plugin's own
     * notation, so the line reads as the user wrote it. */
    fputs(esc(cli, ESC_DIM), out);
    for (size_t i = 0; prio != NULL && i < sizeof prios / sizeof prios[0]; i++) {
        if (strcmp(prio, prios[i].name) == 0)
            fprintf(out, " %s", prios[i].mark);
    }
    if (str(t, "recurrence") != NULL)
        fprintf(out, " 🔁 %s", str(t, "recurrence"));
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        if (str(t, dates[i].key) != NULL)
            fprintf(out, " %s %s", dates[i].mark, str(t, dates[i].key));
    }
    fprintf(out, "%s\n", esc(cli, ESC_OFF));
}

/* Renders a tasks.query result, every line prefixed by `indent`. Group
 * headings are printed only where they change, one level per indent step
 * (as the Tasks plugin nests its h4/h5/h6 headings). */
static void render_tasks(const qp_cli *cli, const json_t *r, FILE *out, const char *indent)
{
    const json_t *groups = json_object_get(r, "groups");
    const json_t *prev = NULL;
    const json_t *g, *t;
    size_t i, j, width = 0, shown = 0;
    long long total;
    const char *explain = str(r, "explain");

    /* The query's `explain` instruction: the explanation above the tasks,
     * as the plugin shows it; one line per line, each indented. */
    for (const char *p = explain; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(out, "%s%s%.*s%s\n", indent, esc(cli, ESC_DIM), n, p, esc(cli, ESC_OFF));
        p = nl ? nl + 1 : p + n;
    }
    json_array_foreach(groups, i, g)
    {
        json_array_foreach(json_object_get(g, "tasks"), j, t)
        {
            size_t w = loc_width(str(t, "path") != NULL ? str(t, "path") : "?", num(t, "line"));

            width = w > width ? w : width;
        }
    }
    width = width < LOC_PAD_MAX ? width : LOC_PAD_MAX;

    json_array_foreach(groups, i, g)
    {
        const json_t *names = json_object_get(g, "names");
        size_t level, depth = json_array_size(names), first = 0;

        /* The first level whose name differs from the previous group's. */
        while (first < depth && first < json_array_size(prev) &&
               json_equal(json_array_get(names, first), json_array_get(prev, first)))
            first++;
        for (level = first; level < depth; level++) {
            const char *name = json_string_value(json_array_get(names, level));

            if (level == first && i > 0)
                fputc('\n', out);
            fputs(indent, out);
            pad(out, 2 * level);
            fprintf(out, "%s%s%s\n", esc(cli, ESC_BOLD), name != NULL ? name : "",
                    esc(cli, ESC_OFF));
        }
        prev = names;
        json_array_foreach(json_object_get(g, "tasks"), j, t)
        {
            print_task(cli, out, t, "?", width, indent);
            shown++;
        }
    }
    total = json_is_integer(json_object_get(r, "total")) ? num(r, "total") : (long long)shown;
    if (shown > 0 && json_array_size(json_object_get(json_array_get(groups, 0), "names")) > 0)
        fputc('\n', out);
    fprintf(out, "%s%s%zu task%s", indent, esc(cli, ESC_DIM), shown, shown == 1 ? "" : "s");
    if (total != (long long)shown)
        fprintf(out, " of %lld", total);
    fprintf(out, "%s\n", esc(cli, ESC_OFF));
}

static void render_blocks(const qp_cli *cli, const json_t *r, FILE *out)
{
    const char *path = cli->subject != NULL ? cli->subject : "";
    const json_t *b;
    size_t i;

    if (json_array_size(r) == 0) {
        fprintf(out, "no ```tasks blocks in %s\n", path);
        return;
    }
    json_array_foreach(r, i, b)
    {
        const char *query = str(b, "query");
        const json_t *err = json_object_get(b, "error");

        if (i > 0)
            fputc('\n', out);
        print_loc(cli, out, path, num(b, "line"), 0);
        fprintf(out, "%s```tasks%s\n", esc(cli, ESC_BOLD), esc(cli, ESC_OFF));
        /* The query itself, dimmed, one line each. */
        for (const char *p = query != NULL ? query : ""; *p != '\0';) {
            size_t n = strcspn(p, "\n");

            if (n > 0)
                fprintf(out, "%s    %.*s%s\n", esc(cli, ESC_DIM), (int)n, p, esc(cli, ESC_OFF));
            p += n + (p[n] == '\n');
        }
        if (err != NULL) {
            const char *msg = json_is_string(err) ? json_string_value(err) : str(err, "message");
            long long line = json_is_object(err) ? num(err, "line") : 0;

            /* The error's line counts from the block's first query line,
             * the one after the fence: shown as the file's line. */
            fputs("  ", out);
            print_loc(cli, out, path, num(b, "line") + (line > 0 ? line : 0), 0);
            fprintf(out, "%serror%s: ", esc(cli, ESC_RED), esc(cli, ESC_OFF));
            print_lines(out, msg != NULL ? msg : "(no message)", "    ");
        } else {
            render_tasks(cli, json_object_get(b, "result"), out, "  ");
        }
    }
}

/* ---- note ------------------------------------------------------------------ */

/* A string, or a list of strings joined by ", ", or "-". */
static void print_list(FILE *out, const json_t *v)
{
    size_t i;
    const json_t *e;

    if (json_is_string(v)) {
        fputs(json_string_value(v), out);
    } else if (json_array_size(v) == 0) {
        fputs("-", out);
    } else {
        json_array_foreach(v, i, e)
        {
            const char *s = json_is_string(e) ? json_string_value(e) : str(e, "tag");

            if (s == NULL)
                continue;
            fprintf(out, "%s%s", i > 0 ? ", " : "", s);
        }
    }
    fputc('\n', out);
}

/* The text of a heading or link entry of `note`, whatever fields it has. */
static void print_entry(const qp_cli *cli, FILE *out, const json_t *e, bool is_link, size_t used)
{
    char buf[1024];

    if (json_is_string(e)) {
        print_text(cli, out, json_string_value(e), used);
        return;
    }
    if (!is_link) {
        long long level = num(e, "level");
        const char *text = str(e, "text") != NULL ? str(e, "text") : str(e, "heading");

        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(level > 0 && level <= 6 ? level : 0), "######",
                 level > 0 ? " " : "", text != NULL ? text : "");
        print_text(cli, out, buf, used);
        return;
    }
    {
        const char *raw = str(e, "raw");
        const char *target = str(e, "target");
        const char *sub = str(e, "subpath");
        const char *display = str(e, "display");
        const json_t *dst = json_object_get(e, "resolved");

        /* protocol.md leaves the link shape to docs/protocol.md; quipud
         * names the target note "path" (null when unresolved). */
        if (dst == NULL)
            dst = json_object_get(e, "path");
        if (raw != NULL)
            snprintf(buf, sizeof buf, "%s", raw);
        else
            snprintf(buf, sizeof buf, "%s[[%s%s%s%s]]",
                     json_is_true(json_object_get(e, "embed")) ? "!" : "",
                     target != NULL ? target : "", sub != NULL ? sub : "",
                     display != NULL ? "|" : "", display != NULL ? display : "");
        fputs(buf, out);
        if (json_is_string(dst))
            fprintf(out, "  → %s%s%s", esc(cli, ESC_PATH), json_string_value(dst),
                    esc(cli, ESC_OFF));
        else if (dst != NULL)
            fprintf(out, "  %sunresolved%s", esc(cli, ESC_RED), esc(cli, ESC_OFF));
        fputc('\n', out);
    }
}

static void render_note(const qp_cli *cli, const json_t *r, FILE *out)
{
    const char *path = str(r, "path") != NULL ? str(r, "path") : "";
    const json_t *props = json_object_get(r, "properties");
    const char *b = esc(cli, ESC_BOLD), *o = esc(cli, ESC_OFF);
    static const char *const lists[] = {"headings", "links"};
    const char *key;
    const json_t *v;
    size_t i;

    fprintf(out, "%spath%s        %s%s%s\n", b, o, esc(cli, ESC_PATH), path, o);
    fprintf(out, "%skind%s        %s\n", b, o, str(r, "kind") != NULL ? str(r, "kind") : "-");
    fprintf(out, "%stitle%s       %s\n", b, o, str(r, "title") != NULL ? str(r, "title") : "-");
    fprintf(out, "%sdate%s        %s\n", b, o, str(r, "date") != NULL ? str(r, "date") : "-");
    fprintf(out, "%saliases%s     ", b, o);
    print_list(out, json_object_get(r, "aliases"));
    fprintf(out, "%stags%s        ", b, o);
    print_list(out, json_object_get(r, "tags"));
    if (json_object_size(props) > 0) {
        fprintf(out, "%sproperties%s\n", b, o);
        json_object_foreach((json_t *)(uintptr_t)props, key, v)
        {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

            fprintf(out, "  %s: %s\n", key, s != NULL ? s : "?");
            free(s);
        }
    }
    for (size_t k = 0; k < 2; k++) {
        const json_t *arr = json_object_get(r, lists[k]);
        size_t width = 0;
        char title[16];

        if (json_array_size(arr) == 0)
            continue;
        json_array_foreach(arr, i, v)
        {
            size_t w = loc_width(path, num(v, "line"));

            width = w > width ? w : width;
        }
        width = width < LOC_PAD_MAX ? width : LOC_PAD_MAX;
        snprintf(title, sizeof title, "%c%s", lists[k][0] - 'a' + 'A', lists[k] + 1);
        fputc('\n', out);
        heading(cli, out, "", title, json_array_size(arr));
        json_array_foreach(arr, i, v)
        {
            print_loc(cli, out, path, num(v, "line"), width);
            print_entry(cli, out, v, k == 1, width + 2);
        }
    }
    if (json_array_size(json_object_get(r, "tasks")) > 0) {
        const json_t *tasks = json_object_get(r, "tasks");
        size_t width = 0;

        json_array_foreach(tasks, i, v)
        {
            size_t w = loc_width(str(v, "path") != NULL ? str(v, "path") : path, num(v, "line"));

            width = w > width ? w : width;
        }
        fputc('\n', out);
        heading(cli, out, "", "Tasks", json_array_size(tasks));
        json_array_foreach(tasks, i, v)
        {
            print_task(cli, out, v, path, width < LOC_PAD_MAX ? width : LOC_PAD_MAX, "");
        }
    }
    /* Its own problems, when the command asked (`quipu note` as text). */
    const json_t *own = json_object_get(r, "own_problems");
    if (json_integer_value(json_object_get(own, "total")) > 0) {
        const json_t *probs = json_object_get(own, "problems");
        fputc('\n', out);
        heading(cli, out, "", "Problems",
                (size_t)json_integer_value(json_object_get(own, "total")));
        json_array_foreach(probs, i, v)
        {
            fprintf(
                out, "%s%s:%lld:%lld:%s %s: %s [%s]\n", esc(cli, ESC_PATH), path, num(v, "line"),
                num(v, "column"), o, str(v, "severity") ? str(v, "severity") : "problem",
                str(v, "message") ? str(v, "message") : "", str(v, "kind") ? str(v, "kind") : "");
        }
        if (json_array_size(probs) < (size_t)json_integer_value(json_object_get(own, "total")))
            fprintf(out, "(quipu problems \"%s\" lists them all)\n", path);
    }
}

/* ---- --vimgrep --------------------------------------------------------------- */

/* One `path:line:column:text` row: the text's first line, control
 * characters dropped, nothing cut, no colour. */
static void vim_row(FILE *out, const char *path, long long line, long long col, const char *text)
{
    if (path == NULL || line <= 0)
        return;
    fprintf(out, "%s:%lld:%lld:", path, line, col > 0 ? col : 1);
    for (const unsigned char *p = (const unsigned char *)(text != NULL ? text : "");
         *p != '\0' && *p != '\n' && *p != '\r'; p++) {
        if (*p >= 0x20 || *p == '\t')
            fputc(*p, out);
    }
    fputc('\n', out);
}

static void vim_sources(FILE *out, const json_t *sources)
{
    size_t i, j;
    const json_t *src, *occ;

    json_array_foreach(sources, i, src)
    {
        json_array_foreach(json_object_get(src, "occurrences"), j, occ)
        {
            vim_row(out, str(src, "path"), num(occ, "line"), num(occ, "column"),
                    str(occ, "context"));
        }
    }
}

static void vim_tasks(FILE *out, const json_t *r, const char *path)
{
    size_t i, j;
    const json_t *g, *t;

    json_array_foreach(json_object_get(r, "groups"), i, g)
    {
        json_array_foreach(json_object_get(g, "tasks"), j, t)
        {
            const char *text = str(t, "text") != NULL ? str(t, "text") : str(t, "description");

            while (text != NULL && (*text == ' ' || *text == '\t'))
                text++;
            vim_row(out, str(t, "path") != NULL ? str(t, "path") : path, num(t, "line"), 1, text);
        }
    }
}

/* The places of a result, for the quickfix list. False when `method` has
 * none (status, resolve): those print as usual. */
static bool render_vimgrep(const qp_cli *cli, const char *method, const json_t *r, FILE *out)
{
    const char *path = str(r, "path");
    size_t i;
    const json_t *v;

    if (strcmp(method, "backlinks") == 0) {
        vim_sources(out, json_object_get(r, "linked"));
        vim_sources(out, json_object_get(r, "unlinked"));
    } else if (strcmp(method, "mentions") == 0) {
        vim_sources(out, json_object_get(r, "mentioned_in"));
        json_array_foreach(json_object_get(r, "stale"), i, v)
        {
            char buf[1024];

            snprintf(buf, sizeof buf, "stale: %s", str(v, "title") != NULL ? str(v, "title") : "");
            vim_row(out, path, num(v, "line"), 1, buf);
        }
    } else if (strcmp(method, "tasks.query") == 0) {
        vim_tasks(out, r, NULL);
    } else if (strcmp(method, "tasks.blocks") == 0) {
        const char *note = cli->subject;

        json_array_foreach(r, i, v)
        {
            const json_t *err = json_object_get(v, "error");

            if (err != NULL) {
                char buf[1024];
                const char *msg =
                    json_is_string(err) ? json_string_value(err) : str(err, "message");

                snprintf(buf, sizeof buf, "error: %s", msg != NULL ? msg : "");
                vim_row(out, note, num(v, "line") + (json_is_object(err) ? num(err, "line") : 0), 1,
                        buf);
            } else {
                vim_tasks(out, json_object_get(v, "result"), note);
            }
        }
    } else if (strcmp(method, "note") == 0) {
        json_array_foreach(json_object_get(r, "headings"), i, v)
        {
            vim_row(out, path, num(v, "line"), 1, str(v, "text"));
        }
        json_array_foreach(json_object_get(r, "links"), i, v)
        {
            vim_row(out, path, num(v, "line"), num(v, "column"),
                    str(v, "raw") != NULL ? str(v, "raw") : str(v, "target"));
        }
        json_array_foreach(json_object_get(r, "tasks"), i, v)
        {
            vim_row(out, str(v, "path") != NULL ? str(v, "path") : path, num(v, "line"), 1,
                    str(v, "text"));
        }
    } else {
        return false;
    }
    return true;
}

int qp_cli_render(const qp_cli *cli, const char *method, const json_t *result, FILE *out)
{
    bool unresolved =
        strcmp(method, "resolve") == 0 && !json_is_string(json_object_get(result, "path"));

    if (cli->json) {
        qp_cli_print_json(result, out, false);
        return unresolved ? QP_CLI_EXIT_FAIL : QP_CLI_EXIT_OK;
    }
    if (cli->vimgrep && render_vimgrep(cli, method, result, out))
        return QP_CLI_EXIT_OK;
    if (strcmp(method, "status") == 0) {
        render_status(cli, result, out);
    } else if (strcmp(method, "backlinks") == 0) {
        render_backlinks(cli, result, out);
    } else if (strcmp(method, "mentions") == 0) {
        render_mentions(cli, result, out);
    } else if (strcmp(method, "tasks.query") == 0) {
        render_tasks(cli, result, out, "");
    } else if (strcmp(method, "tasks.blocks") == 0) {
        render_blocks(cli, result, out);
    } else if (strcmp(method, "note") == 0) {
        render_note(cli, result, out);
    } else if (strcmp(method, "resolve") == 0) {
        if (unresolved) {
            qp_cli_error(NULL, "[[%s]] resolves to no note",
                         cli->subject != NULL ? cli->subject : "");
            return QP_CLI_EXIT_FAIL;
        }
        fprintf(out, "%s\n", str(result, "path"));
    } else {
        qp_cli_print_json(result, out, false);
    }
    return QP_CLI_EXIT_OK;
}
