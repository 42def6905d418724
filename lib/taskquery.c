/*
 * taskquery — the Obsidian Tasks query language: from a ```tasks block's
 * text to a compiled qp_taskquery.
 *
 * Text processing follows the plugin: the global query goes in front
 * (unless the block ignores it), lines ending in a single backslash are
 * joined, placeholders ({{query.file.path}}, {{preset.x}}) are expanded,
 * statements are trimmed, and each statement is classified by the first
 * rule that claims it (preset, short, full, explain, ignore global query,
 * limit, sort by, group by, view, hide/show, comment, filter). Filters are
 * tried field by field in the plugin's order; the first field that claims a
 * line parses it or reports that field's error. The first error ends
 * compilation: a query either compiles completely or not at all.
 *
 * Everything a compiled query holds lives in its arena.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uregex.h>
#include <unicode/ustring.h>

#include "quipu/text.h"
#include "taskquery_int.h"

#define MAX_PRESET_DEPTH 20

typedef struct ctx {
    qp_taskquery *q;
    const qp_taskquery_options *opts;
    const qp_tasks_settings *s;
    qp_error *err;
    int line;        /* 1-based block line of the statement being parsed, 0 = not in the block */
    int block_first; /* index of the first block line in the combined text */
    json_t *props;   /* the query note's properties (opts->query_properties), or NULL */
} ctx;

/* ---- small string helpers ------------------------------------------------- */

static bool ci_prefix(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (tolower((unsigned char)*s) != tolower((unsigned char)*p))
            return false;
    return true;
}

static bool ci_eq(const char *s, const char *w)
{
    return strlen(s) == strlen(w) && ci_prefix(s, w);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* A trimmed copy of s[0..len) in the arena. */
static char *trimmed(qp_arena *a, const char *s, size_t len)
{
    size_t b = 0, e = len;
    while (b < e && is_ws(s[b]))
        b++;
    while (e > b && is_ws(s[e - 1]))
        e--;
    return qp_arena_strndup(a, s + b, e - b);
}

static char *afmt(qp_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *afmt(qp_arena *a, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n < sizeof small)
        return qp_arena_strndup(a, small, (size_t)n);
    char *p = qp_arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Records a query error for the current statement; returns QP_EQUERY. */
static qp_rc qerr(ctx *c, const char *stmt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static qp_rc qerr(ctx *c, const char *stmt, const char *fmt, ...)
{
    char msg[QP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err != NULL) {
        qp_error_set(c->err, QP_EQUERY, "%s\nProblem line: \"%s\"", msg, stmt);
        c->err->line = c->line;
    }
    return QP_EQUERY;
}

static qp_rc oom(ctx *c)
{
    return qp_error_set(c->err, QP_ENOMEM, "out of memory");
}

static qp_rc js_error(ctx *c, const char *stmt)
{
    return qerr(c, stmt, "JavaScript is not supported in quipu task queries");
}

/* ---- filters --------------------------------------------------------------- */

URegularExpression *qp__regex_open(const char *pattern, uint32_t flags, UErrorCode *st)
{
    int32_t n = 0;
    UParseError pe;
    u_strFromUTF8(NULL, 0, &n, pattern, -1, st);
    if (*st == U_BUFFER_OVERFLOW_ERROR)
        *st = U_ZERO_ERROR;
    if (U_FAILURE(*st))
        return NULL;
    UChar *u = malloc(((size_t)n + 1) * sizeof *u);
    if (u == NULL) {
        *st = U_MEMORY_ALLOCATION_ERROR;
        return NULL;
    }
    u_strFromUTF8(u, n + 1, NULL, pattern, -1, st);
    URegularExpression *re = U_SUCCESS(*st) ? uregex_open(u, n, flags, &pe, st) : NULL;
    free(u);
    if (U_FAILURE(*st)) {
        uregex_close(re);
        return NULL;
    }
    return re;
}

static tq_filter *new_filter(ctx *c, tq_filter_kind kind, const char *src)
{
    tq_filter *f = qp_arena_alloc(c->q->arena, sizeof *f);
    if (f != NULL) {
        f->kind = kind;
        f->source = src;
        f->regex_slot = -1;
    }
    return f;
}

typedef enum claim {
    NOT_MINE,
    PARSED,
    FAILED
} claim;

/* The fields' names as filter keywords, date order as qp_task_date_field. */
static const char *const date_keywords[] = {"due",  "scheduled", "starts", "created",
                                            "done", "cancelled", "happens"};
static const char *const date_names[] = {"due",  "scheduled", "start",  "created",
                                         "done", "cancelled", "happens"};

/* Resolves the date-spec part of a date filter to [lo, hi] (yyyymmdd). */
static bool relative_range(const char *text, int32_t today, int32_t *lo, int32_t *hi)
{
    static const char *const which[] = {"last", "this", "next"};
    static const char *const units[] = {"week", "month", "quarter", "year"};
    for (const char *p = text; *p; p++) {
        for (int w = 0; w < 3; w++) {
            size_t wl = strlen(which[w]);
            if (strncmp(p, which[w], wl) != 0 || p[wl] != ' ')
                continue;
            for (int u = 0; u < 4; u++) {
                if (strncmp(p + wl + 1, units[u], strlen(units[u])) != 0)
                    continue;
                int32_t td = qp__days_from_ymd(today);
                int32_t ty = today / 10000, tm = today / 100 % 100;
                int shift = w - 1; /* -1, 0, +1 */
                if (u == 0) {
                    int32_t mon = td - (qp__weekday(td) + 6) % 7 + shift * 7;
                    *lo = qp__ymd_from_days(mon);
                    *hi = qp__ymd_from_days(mon + 6);
                } else {
                    int months = u == 1 ? 1 : u == 2 ? 3 : 12;
                    int32_t first = u == 1 ? tm : u == 2 ? (tm - 1) / 3 * 3 + 1 : 1;
                    long t = (long)ty * 12 + (first - 1) + (long)shift * months;
                    int y = (int)(t / 12), m = (int)(t % 12) + 1;
                    long te = t + months - 1;
                    int ey = (int)(te / 12), em = (int)(te % 12) + 1;
                    *lo = y * 10000 + m * 100 + 1;
                    *hi = ey * 10000 + em * 100 + qp__days_in_month(ey, em);
                }
                return true;
            }
        }
    }
    return false;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool numbered_range(const char *text, int32_t *lo, int32_t *hi)
{
    size_t b = 0, e = strlen(text);
    while (b < e && is_ws(text[b]))
        b++;
    while (e > b && is_ws(text[e - 1]))
        e--;
    const char *s = text + b;
    size_t n = e - b;
    if (n < 4 || !all_digits(s, 4))
        return false;
    int y = atoi(s);
    if (n == 4) {
        *lo = y * 10000 + 101;
        *hi = y * 10000 + 1231;
        return true;
    }
    if (s[4] != '-')
        return false;
    if (n == 7 && (s[5] == 'Q' || s[5] == 'q') && s[6] >= '1' && s[6] <= '4' && s[5] == 'Q') {
        int qn = s[6] - '0', m = (qn - 1) * 3 + 1;
        *lo = y * 10000 + m * 100 + 1;
        *hi = y * 10000 + (m + 2) * 100 + qp__days_in_month(y, m + 2);
        return true;
    }
    if (n == 7 && all_digits(s + 5, 2)) {
        int m = atoi(s + 5);
        if (m < 1 || m > 12)
            return false;
        *lo = y * 10000 + m * 100 + 1;
        *hi = y * 10000 + m * 100 + qp__days_in_month(y, m);
        return true;
    }
    if (n == 8 && s[5] == 'W' && all_digits(s + 6, 2)) {
        int w = atoi(s + 6);
        if (w < 1 || w > 53)
            return false;
        /* ISO week 1 holds January 4th; weeks start on Monday */
        int32_t jan4 = qp__days_from_civil(y, 1, 4);
        int32_t mon = jan4 - (qp__weekday(jan4) + 6) % 7 + (w - 1) * 7;
        *lo = qp__ymd_from_days(mon);
        *hi = qp__ymd_from_days(mon + 6);
        return true;
    }
    return false;
}

/* A date filter ("due before tomorrow"...). One piece: the plugin's forms
 * of a date tried in its order (relative, numbered, chrono), on one parsed
 * field and operator. */
static claim parse_date_filter(ctx *c, const char *line, tq_filter **out)
{
    char buf[64];
    for (int f = 0; f <= TQ_HAPPENS; f++) {
        const char *name = date_names[f];
        /* has/no <f> date, <f> date is invalid */
        snprintf(buf, sizeof buf, "has %s date", name);
        if (ci_eq(line, buf)) {
            *out = new_filter(c, FK_HAS_DATE, line);
            (*out)->field = f;
            return PARSED;
        }
        snprintf(buf, sizeof buf, "no %s date", name);
        if (ci_eq(line, buf)) {
            *out = new_filter(c, FK_HAS_DATE, line);
            (*out)->field = f;
            (*out)->negate = true;
            return PARSED;
        }
        if (f != TQ_HAPPENS) {
            snprintf(buf, sizeof buf, "%s date is invalid", name);
            if (ci_eq(line, buf)) {
                *out = new_filter(c, FK_DATE_INVALID, line);
                (*out)->field = f;
                return PARSED;
            }
        }
        /* <keyword> [op] <date-spec> */
        const char *kw = date_keywords[f];
        size_t kl = strlen(kw);
        if (!ci_prefix(line, kw) || line[kl] != ' ')
            continue;
        const char *rest = line + kl + 1; /* the keyword and date text */
        static const struct {
            const char *w;
            int op;
        } ops[] = {{"on or before", DOP_ON_OR_BEFORE},
                   {"in or before", DOP_ON_OR_BEFORE},
                   {"before", DOP_BEFORE},
                   {"on or after", DOP_ON_OR_AFTER},
                   {"in or after", DOP_ON_OR_AFTER},
                   {"after", DOP_AFTER},
                   {"on", DOP_IN},
                   {"in", DOP_IN}};
        int op = DOP_IN;
        const char *spec = rest;
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            if (ci_prefix(rest, ops[i].w)) {
                op = ops[i].op;
                spec = rest + strlen(ops[i].w);
                if (*spec == ' ')
                    spec++;
                break;
            }
        }
        if (strstr(line, "<%") != NULL || strstr(line, "YYYY-MM-DD") != NULL) {
            qerr(c, line,
                 "Instruction contains unexpanded template text: \"%s\" - and cannot be "
                 "interpreted.",
                 line);
            return FAILED;
        }
        int32_t lo = 0, hi = 0, d[2];
        int32_t today_days = qp__days_from_ymd(c->q->today);
        bool ok = relative_range(spec, c->q->today, &lo, &hi) || numbered_range(spec, &lo, &hi);
        if (!ok) {
            int n = qp__chrono_parse(spec, today_days, d);
            if (n < 0) {
                oom(c);
                return FAILED;
            }
            if (n > 0) {
                lo = d[0];
                hi = n > 1 ? d[1] : d[0];
                if (hi < lo) {
                    int32_t t = lo;
                    lo = hi;
                    hi = t;
                }
                ok = true;
            }
        }
        if (!ok) {
            int n = qp__chrono_parse(rest, today_days, d);
            if (n < 0) {
                oom(c);
                return FAILED;
            }
            if (n > 0) {
                lo = hi = d[0];
                ok = true;
            }
        }
        if (!ok) {
            qerr(c, line, "do not understand %s date", name);
            return FAILED;
        }
        *out = new_filter(c, FK_DATE, line);
        if (*out == NULL)
            return FAILED;
        (*out)->field = f;
        (*out)->op = op;
        (*out)->lo = lo;
        (*out)->hi = hi;
        return PARSED;
    }
    return NOT_MINE;
}

/* ---- the plugin's check for regexes that backtrack catastrophically ----
 *
 * The plugin refuses a pattern whose "star height" is above one (a
 * quantified group holding a quantifier, as in (a+)+) or that holds more
 * than 25 quantifiers, in the manner of the safe-regex package: a
 * quantifier counts, and raises the height of what it quantifies, only
 * where that is a group without alternatives; quantifiers inside a
 * quantified group with alternatives, and a quantifier on a quantifier
 * (a lazy a*?), are not looked into. This is a scan for that count, not a
 * regex engine: ICU compiles and runs the pattern. */

typedef struct rx_scan {
    const char *p;
    size_t i, n;
    bool bad; /* a quantifier with nothing to quantify */
} rx_scan;

typedef struct rx_atom {
    int height, reps; /* as counted when the atom is looked into */
    bool plain_group; /* a group without alternatives: a quantifier looks in */
} rx_atom;

/* A {n}, {n,} or {n,m} quantifier at x->i: its length, else 0. */
static size_t rx_brace(const rx_scan *x)
{
    size_t j = x->i + 1, d = 0;
    while (j < x->n && isdigit((unsigned char)x->p[j]))
        j++, d++;
    if (d == 0)
        return 0;
    if (j < x->n && x->p[j] == ',') {
        j++;
        while (j < x->n && isdigit((unsigned char)x->p[j]))
            j++;
    }
    return j < x->n && x->p[j] == '}' ? j + 1 - x->i : 0;
}

/* Scans a sequence with its alternatives up to ')' or the end. */
static rx_atom rx_seq(rx_scan *x, int depth)
{
    rx_atom all = {0, 0, true}, last = {0, 0, false};
    bool have = false;
    while (x->i < x->n && x->p[x->i] != ')' && !x->bad) {
        char ch = x->p[x->i];
        size_t bl = ch == '{' ? rx_brace(x) : 0;
        if (ch == '*' || ch == '+' || ch == '?' || bl > 0) {
            if (!have) {
                x->bad = true;
                break;
            }
            x->i += bl > 0 ? bl : 1;
            rx_atom q = {1, 1, false};
            if (last.plain_group) {
                q.height += last.height;
                q.reps += last.reps;
            }
            last = q;
            continue;
        }
        if (have) {
            all.height = last.height > all.height ? last.height : all.height;
            all.reps += last.reps;
        }
        have = true;
        last = (rx_atom){0, 0, false};
        if (ch == '|') {
            all.plain_group = false;
            have = false;
            x->i++;
        } else if (ch == '\\') {
            x->i += x->i + 1 < x->n ? 2 : 1;
        } else if (ch == '[') {
            size_t j = x->i + 1;
            if (j < x->n && x->p[j] == '^')
                j++;
            while (j < x->n && x->p[j] != ']')
                j += x->p[j] == '\\' && j + 1 < x->n ? 2 : 1;
            x->i = j < x->n ? j + 1 : j;
        } else if (ch == '(') {
            x->i++;
            if (x->i < x->n && x->p[x->i] == '?') /* (?: (?= (?! (?<= (?<! (?<name> */
                x->i += 2;
            if (depth > 200) { /* nesting this deep: refuse rather than recurse */
                x->bad = true;
                break;
            }
            last = rx_seq(x, depth + 1);
            if (x->i < x->n)
                x->i++; /* ')' */
        } else {
            x->i++;
        }
    }
    if (have) {
        all.height = last.height > all.height ? last.height : all.height;
        all.reps += last.reps;
    }
    return all;
}

/* True when the plugin would refuse `pattern` as liable to catastrophic
 * backtracking. */
static bool regex_unsafe(const char *pattern)
{
    rx_scan x = {pattern, 0, strlen(pattern), false};
    rx_atom a = {0, 0, true};
    while (x.i < x.n && !x.bad) {
        rx_atom b = rx_seq(&x, 0);
        a.height = b.height > a.height ? b.height : a.height;
        a.reps += b.reps;
        if (x.i < x.n)
            x.i++; /* a stray ')': ICU reports it */
    }
    return x.bad || a.height > 1 || a.reps > 25;
}

/* Validates a /pattern/flags value and fills the filter's regex fields. */
static claim set_regex(ctx *c, const char *line, const char *value, tq_filter *f)
{
    size_t n = strlen(value);
    const char *last = strrchr(value, '/');
    if (n < 3 || value[0] != '/' || last == value || last == value + 1) {
        qerr(c, line,
             "Invalid instruction: '%s'\n\nThe value must be a regular expression in the form "
             "/pattern/flags, for example: /waiting|waits/i",
             line);
        return FAILED;
    }
    uint32_t flags = 0;
    for (const char *p = last + 1; *p; p++) {
        switch (*p) {
        case 'i':
            flags |= UREGEX_CASE_INSENSITIVE;
            break;
        case 'm':
            flags |= UREGEX_MULTILINE;
            break;
        case 's':
            flags |= UREGEX_DOTALL;
            break;
        case 'g':
        case 'u':
        case 'v':
        case 'y':
        case 'd':
            break;
        default:
            qerr(c, line,
                 "Error: Parsing regular expression. Invalid flags supplied to RegExp "
                 "constructor '%s'",
                 last + 1);
            return FAILED;
        }
    }
    size_t plen = (size_t)(last - value) - 1;
    if (plen > 500) {
        qerr(c, line,
             "Error: Parsing regular expression. The pattern is longer than 500 "
             "characters.");
        return FAILED;
    }
    f->pattern = qp_arena_strndup(c->q->arena, value + 1, plen);
    if (f->pattern == NULL)
        return FAILED;
    if (regex_unsafe(f->pattern)) {
        qerr(c, line,
             "Error: Parsing regular expression. The pattern could take an extremely long time "
             "to run (a quantified group holding a quantifier, as in (a+)+, or more than 25 "
             "quantifiers), so it is not used.");
        return FAILED;
    }
    f->rflags = flags;
    /* compile once here so a bad pattern is a query error, not a run-time surprise */
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    URegularExpression *re = qp__regex_open(f->pattern, flags, &st);
    (void)pe;
    if (U_FAILURE(st)) {
        qerr(c, line, "Error: Parsing regular expression. The error message was: \"%s\"",
             u_errorName(st));
        return FAILED;
    }
    uregex_close(re);
    f->regex = true;
    f->regex_slot = c->q->n_regex++;
    return PARSED;
}

static claim parse_text_filter(ctx *c, const char *line, tq_filter **out)
{
    static const struct {
        const char *name;
        tq_text_field f;
    } fields[] = {{"status.name", TF_STATUS_NAME},
                  {"path", TF_PATH},
                  {"folder", TF_FOLDER},
                  {"root", TF_ROOT},
                  {"description", TF_DESCRIPTION},
                  {"tags", TF_TAGS},
                  {"tag", TF_TAGS},
                  {"heading", TF_HEADING},
                  {"filename", TF_FILENAME},
                  {"recurrence", TF_RECURRENCE},
                  {"id", TF_ID}};
    static const struct {
        const char *w;
        bool negate, regex, tags_only;
    } ops[] = {{"includes ", false, false, false},     {"does not include ", true, false, false},
               {"regex matches ", false, true, false}, {"regex does not match ", true, true, false},
               {"include ", false, false, true},       {"do not include ", true, false, true}};

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t nl = strlen(fields[i].name);
        if (!ci_prefix(line, fields[i].name) || line[nl] != ' ')
            continue;
        const char *rest = line + nl + 1;
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            if (ops[k].tags_only && fields[i].f != TF_TAGS)
                continue;
            if (!ci_prefix(rest, ops[k].w))
                continue;
            const char *value = rest + strlen(ops[k].w);
            if (*value == '\0')
                continue;
            tq_filter *f = new_filter(c, FK_TEXT, line);
            if (f == NULL)
                return FAILED;
            f->field = fields[i].f;
            f->negate = ops[k].negate;
            f->value = -1;
            if (f->field == TF_PATH || f->field == TF_FILENAME || f->field == TF_FOLDER ||
                f->field == TF_ROOT)
                f->value = c->q->n_path_cache++;
            if (ops[k].regex) {
                claim r = set_regex(c, line, value, f);
                if (r != PARSED)
                    return r;
            } else {
                size_t fl;
                char *folded = qp_text_fold(value, strlen(value), &fl);
                if (folded == NULL)
                    return FAILED;
                f->needle = qp_arena_strndup(c->q->arena, folded, fl);
                f->needle_len = fl;
                free(folded);
                if (f->needle == NULL)
                    return FAILED;
            }
            *out = f;
            return PARSED;
        }
    }
    return NOT_MINE;
}

static claim parse_priority(ctx *c, const char *line, tq_filter **out)
{
    static const char *const words[] = {"highest", "high", "medium", "none", "low", "lowest"};
    if (!ci_prefix(line, "priority"))
        return NOT_MINE;
    const char *p = line + 8;
    int op = POP_IS;
    /* priority(\s+is)?(\s+(above|below|not))?(\s+<word>)$ */
    const char *save = p;
    if (is_ws(*p)) {
        while (is_ws(*p))
            p++;
        if (ci_prefix(p, "is") && (p[2] == '\0' || is_ws(p[2])))
            p += 2;
        else
            p = save;
    }
    save = p;
    if (is_ws(*p)) {
        while (is_ws(*p))
            p++;
        if (ci_prefix(p, "above") && is_ws(p[5])) {
            op = POP_ABOVE;
            p += 5;
        } else if (ci_prefix(p, "below") && is_ws(p[5])) {
            op = POP_BELOW;
            p += 5;
        } else if (ci_prefix(p, "not") && is_ws(p[3])) {
            op = POP_NOT;
            p += 3;
        } else {
            p = save;
        }
    }
    if (!is_ws(*p))
        return NOT_MINE;
    while (is_ws(*p))
        p++;
    for (int i = 0; i < 6; i++) {
        if (ci_eq(p, words[i])) {
            static const int code[] = {QP_PRIORITY_HIGHEST, QP_PRIORITY_HIGH, QP_PRIORITY_MEDIUM,
                                       QP_PRIORITY_NONE,    QP_PRIORITY_LOW,  QP_PRIORITY_LOWEST};
            tq_filter *f = new_filter(c, FK_PRIORITY, line);
            if (f == NULL)
                return FAILED;
            f->op = op;
            f->value = code[i];
            *out = f;
            return PARSED;
        }
    }
    return NOT_MINE;
}

static claim parse_status_type(ctx *c, const char *line, tq_filter **out)
{
    static const struct {
        const char *name;
        qp_status_type t;
    } types[] = {{"TODO", QP_STATUS_TODO},
                 {"DONE", QP_STATUS_DONE},
                 {"IN_PROGRESS", QP_STATUS_IN_PROGRESS},
                 {"ON_HOLD", QP_STATUS_ON_HOLD},
                 {"CANCELLED", QP_STATUS_CANCELLED},
                 {"NON_TASK", QP_STATUS_NON_TASK}};
    if (!ci_prefix(line, "status.type"))
        return NOT_MINE;
    const char *p = line + 11;
    bool negate = false;
    if (ci_prefix(p, " is not "))
        negate = true, p += 8;
    else if (ci_prefix(p, " is "))
        p += 4;
    else
        goto bad;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (ci_eq(p, types[i].name)) {
            tq_filter *f = new_filter(c, FK_STATUS_TYPE, line);
            if (f == NULL)
                return FAILED;
            f->value = (int)types[i].t;
            f->negate = negate;
            *out = f;
            return PARSED;
        }
    }
bad:
    qerr(c, line,
         "Invalid status.type instruction: '%s'.\n    Allowed options: 'is' and 'is not' "
         "(without quotes).\n    Allowed values:  TODO DONE IN_PROGRESS ON_HOLD CANCELLED "
         "NON_TASK",
         line);
    return FAILED;
}

static claim parse_boolean(ctx *c, const char *line, tq_filter **out);

static const struct {
    const char *phrase;
    tq_filter_kind kind;
    bool negate;
} phrases[] = {
    {"is recurring", FK_RECURRING, false},
    {"is not recurring", FK_RECURRING, true},
    {"exclude sub-items", FK_SUBITEMS, false},
    {"has id", FK_HAS_ID, false},
    {"no id", FK_HAS_ID, true},
    {"has depends on", FK_HAS_DEPS, false},
    {"no depends on", FK_HAS_DEPS, true},
    {"is blocking", FK_BLOCKING, false},
    {"is not blocking", FK_BLOCKING, true},
    {"is blocked", FK_BLOCKED, false},
    {"is not blocked", FK_BLOCKED, true},
    {"has tags", FK_HAS_TAGS, false},
    {"has tag", FK_HAS_TAGS, false},
    {"no tags", FK_HAS_TAGS, true},
    {"no tag", FK_HAS_TAGS, true},
};

/* The filter parser: every field kind in the plugin's order. */
static claim parse_filter(ctx *c, const char *line, tq_filter **out)
{
    claim r;
    *out = NULL;

    if (ci_prefix(line, "status.name ") && (r = parse_text_filter(c, line, out)) != NOT_MINE)
        return r;
    if ((r = parse_status_type(c, line, out)) != NOT_MINE)
        return r;
    if (ci_eq(line, "done") || ci_eq(line, "not done")) {
        *out = new_filter(c, FK_DONE, line);
        if (*out == NULL)
            return FAILED;
        (*out)->negate = ci_eq(line, "not done");
        return PARSED;
    }
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++) {
        if (ci_eq(line, phrases[i].phrase)) {
            *out = new_filter(c, phrases[i].kind, line);
            if (*out == NULL)
                return FAILED;
            (*out)->negate = phrases[i].negate;
            if (phrases[i].kind == FK_BLOCKING || phrases[i].kind == FK_BLOCKED)
                c->q->uses_blocking = true;
            return PARSED;
        }
    }
    if ((r = parse_priority(c, line, out)) != NOT_MINE)
        return r;
    if ((r = parse_date_filter(c, line, out)) != NOT_MINE)
        return r;
    if ((r = parse_text_filter(c, line, out)) != NOT_MINE)
        return r;
    if (ci_prefix(line, "filter by function")) {
        js_error(c, line);
        return FAILED;
    }
    return parse_boolean(c, line, out);
}

/* ---- Boolean combinations ----------------------------------------------- */

typedef struct btok {
    enum {
        B_OPEN,
        B_CLOSE,
        B_AND,
        B_OR,
        B_XOR,
        B_NOT,
        B_FILTER,
        B_END
    } t;
    tq_filter *f;
} btok;

typedef struct bparser {
    btok *toks;
    size_t n, pos;
    bool bad; /* a syntax error */
    bool oom; /* out of memory: not the line's fault */
} bparser;

static tq_filter *b_or(ctx *c, bparser *bp);

static tq_filter *b_primary(ctx *c, bparser *bp)
{
    btok *t = &bp->toks[bp->pos];
    if (t->t == B_NOT) {
        bp->pos++;
        tq_filter *x = b_primary(c, bp);
        if (x == NULL)
            return NULL;
        tq_filter *f = new_filter(c, FK_NOT, NULL);
        if (f != NULL)
            f->a = x;
        else
            bp->oom = true;
        return f;
    }
    if (t->t == B_FILTER) {
        bp->pos++;
        return t->f;
    }
    if (t->t == B_OPEN) {
        bp->pos++;
        tq_filter *x = b_or(c, bp);
        if (x == NULL || bp->toks[bp->pos].t != B_CLOSE) {
            bp->bad = true;
            return NULL;
        }
        bp->pos++;
        return x;
    }
    bp->bad = true;
    return NULL;
}

static tq_filter *b_binary(ctx *c, bparser *bp, int level)
{
    static const int tok_of_level[] = {B_OR, B_AND, B_XOR};
    static const tq_filter_kind kind_of_level[] = {FK_OR, FK_AND, FK_XOR};
    tq_filter *x = level == 2 ? b_primary(c, bp) : b_binary(c, bp, level + 1);
    while (x != NULL && (int)bp->toks[bp->pos].t == tok_of_level[level]) {
        bp->pos++;
        /* "AND NOT" / "OR NOT": the NOT binds to the right operand */
        tq_filter *y = level == 2 ? b_primary(c, bp) : b_binary(c, bp, level + 1);
        if (y == NULL)
            return NULL;
        tq_filter *f = new_filter(c, kind_of_level[level], NULL);
        if (f == NULL) {
            bp->oom = true;
            return NULL;
        }
        f->a = x;
        f->b = y;
        x = f;
    }
    return x;
}

static tq_filter *b_or(ctx *c, bparser *bp)
{
    return b_binary(c, bp, 0);
}

static bool is_open(char ch)
{
    return ch == '(' || ch == '[' || ch == '{' || ch == '"';
}

static char closer_of(char ch)
{
    return ch == '(' ? ')' : ch == '[' ? ']' : ch == '{' ? '}' : '"';
}

static bool is_close(char ch)
{
    return ch == ')' || ch == ']' || ch == '}' || ch == '"';
}

/* Operator words at p (AND, OR, XOR, with an optional following NOT);
 * returns the end or NULL. */
static const char *binary_op(const char *p, int *tok, bool *then_not)
{
    const char *e = NULL;
    if (strncmp(p, "AND", 3) == 0)
        *tok = B_AND, e = p + 3;
    else if (strncmp(p, "XOR", 3) == 0)
        *tok = B_XOR, e = p + 3;
    else if (strncmp(p, "OR", 2) == 0)
        *tok = B_OR, e = p + 2;
    if (e == NULL)
        return NULL;
    *then_not = false;
    const char *q = e;
    while (is_ws(*q))
        q++;
    if (q > e && strncmp(q, "NOT", 3) == 0) {
        *then_not = true;
        e = q + 3;
    }
    return e;
}

static bool looks_boolean(const char *line)
{
    size_t n = strlen(line);
    if (n >= 2 && is_open(line[0]) && is_close(line[n - 1]))
        return true;
    static const char *const ops[] = {"AND", "OR", "XOR", "NOT"};
    for (const char *p = line; *p; p++) {
        for (int i = 0; i < 4; i++) {
            size_t l = strlen(ops[i]);
            if (strncmp(p, ops[i], l) == 0) {
                const char *q = p + l;
                while (is_ws(*q))
                    q++;
                if (is_open(*q))
                    return true;
            }
        }
    }
    return false;
}

static claim bool_error(ctx *c, const char *line, const char *why)
{
    qerr(c, line,
         "Could not interpret the following instruction as a Boolean combination:\n    %s\n\n"
         "The error message is:\n    %s",
         line, why);
    return FAILED;
}

/* The separator that ends the piece of a Boolean line starting at `q`
 * (delimiters o and cl): "close ws* OP ws* open" (a binary operator, maybe
 * followed by NOT) or "NOT ws* open" (unary). */
typedef struct bsep {
    const char *b, *e; /* the separator: [b, e); b NULL when none is left */
    int tok;           /* binary: B_AND, B_OR or B_XOR */
    bool negated;      /* binary: "AND NOT" and the like */
    bool unary;        /* "NOT (" */
} bsep;

static bsep next_separator(const char *line, const char *q, char o, char cl)
{
    bsep sep = {NULL, NULL, 0, false, false};
    for (const char *r = q; *r; r++) {
        if (*r == cl) {
            const char *s = r + 1;
            while (is_ws(*s))
                s++;
            int tok;
            bool tn;
            const char *e = binary_op(s, &tok, &tn);
            if (e != NULL) {
                while (is_ws(*e))
                    e++;
                if (*e == o)
                    return (bsep){r, e + 1, tok, tn, false};
            }
        }
        if (strncmp(r, "NOT", 3) == 0 && (r == line || is_ws(r[-1]) || r[-1] == o)) {
            const char *e = r + 3;
            while (is_ws(*e))
                e++;
            if (*e == o)
                return (bsep){r, e + 1, 0, false, true};
        }
    }
    return sep;
}

/* Tokens of one piece [b, e) of a Boolean line: its leading opens, the
 * filter between them (parsed), its trailing closes. */
static claim piece_tokens(ctx *c, const char *line, const char *b, const char *e, char o, char cl,
                          btok *toks, size_t *nt)
{
    while (b < e && (*b == o || is_ws(*b))) {
        if (*b == o)
            toks[(*nt)++].t = B_OPEN;
        b++;
    }
    size_t closes = 0;
    while (e > b && (e[-1] == cl || is_ws(e[-1]))) {
        if (e[-1] == cl)
            closes++;
        e--;
    }
    if (e > b) {
        char *text = qp_arena_strndup(c->q->arena, b, (size_t)(e - b));
        tq_filter *f = NULL;
        if (text == NULL)
            return FAILED;
        qp_error save = c->err ? *c->err : (qp_error)QP_ERROR_INIT;
        claim r = parse_filter(c, text, &f);
        if (r == FAILED && c->err && (c->err->code == save.code || c->err->code == QP_ENOMEM))
            return FAILED; /* failed without saying why: out of memory, not the line's fault */
        if (r != PARSED) {
            if (c->err)
                *c->err = save;
            char why[200];
            snprintf(why, sizeof why, "couldn't parse sub-expression '%s'", text);
            return bool_error(c, line, why);
        }
        toks[*nt].t = B_FILTER;
        toks[(*nt)++].f = f;
    }
    for (size_t i = 0; i < closes; i++)
        toks[(*nt)++].t = B_CLOSE;
    return PARSED;
}

/* The opening delimiter of a Boolean line: the first character after any
 * leading operator words (the closing one is the line's last). */
static char bool_opener(const char *line)
{
    const char *p = line;
    for (;;) {
        int tok;
        bool nt;
        const char *e = strncmp(p, "NOT", 3) == 0 ? p + 3 : binary_op(p, &tok, &nt);
        if (e == NULL)
            return *p;
        p = e;
        while (is_ws(*p))
            p++;
    }
}

static claim parse_boolean(ctx *c, const char *line, tq_filter **out)
{
    if (!looks_boolean(line))
        return NOT_MINE;
    size_t n = strlen(line);
    char o = bool_opener(line), cl = closer_of(o);
    if (!is_open(o) || line[n - 1] != cl)
        return bool_error(c, line,
                          "All filters in a Boolean instruction must be inside one of these "
                          "pairs of delimiter characters: (...) or [...] or {...} or \"...\". "
                          "Combinations of those delimiters are no longer supported.");

    btok *toks = qp_arena_alloc(c->q->arena, (n + 2) * sizeof *toks);
    if (toks == NULL)
        return FAILED;
    size_t nt = 0;
    /* Pieces are separated by "close ws* OP ws* open" and "NOT ws* open";
     * each piece's leading opens and trailing closes are grouping. */
    for (const char *piece = line;;) {
        bsep sep = next_separator(line, piece, o, cl);
        claim r = piece_tokens(c, line, piece, sep.b != NULL ? sep.b : line + n, o, cl, toks, &nt);
        if (r != PARSED)
            return r;
        if (sep.b == NULL)
            break;
        if (sep.unary) {
            toks[nt++].t = B_NOT;
        } else {
            toks[nt++].t = B_CLOSE;
            toks[nt++].t = sep.tok;
            if (sep.negated)
                toks[nt++].t = B_NOT;
        }
        toks[nt++].t = B_OPEN;
        piece = sep.e;
    }
    toks[nt].t = B_END;

    bparser bp = {toks, nt, 0, false, false};
    tq_filter *f = b_or(c, &bp);
    if (bp.oom) {
        oom(c);
        return FAILED;
    }
    if (f == NULL || bp.bad || toks[bp.pos].t != B_END)
        return bool_error(c, line, "malformed boolean query -- check the delimiters");
    if (f->kind == FK_AND || f->kind == FK_OR || f->kind == FK_XOR || f->kind == FK_NOT)
        f->source = line;
    *out = f;
    return PARSED;
}

/* ---- sort by / group by ------------------------------------------------- */

static const struct {
    const char *name;
    tq_key key;
} sort_keys[] = {
    {"status.name", K_STATUS_NAME},
    {"status.type", K_STATUS_TYPE},
    {"status", K_STATUS},
    {"recurring", K_RECURRING},
    {"priority", K_PRIORITY},
    {"happens", K_HAPPENS},
    {"cancelled", K_CANCELLED},
    {"created", K_CREATED},
    {"start", K_START},
    {"scheduled", K_SCHEDULED},
    {"due", K_DUE},
    {"done", K_DONE},
    {"path", K_PATH},
    {"description", K_DESCRIPTION},
    {"tag", K_TAG},
    {"heading", K_HEADING},
    {"filename", K_FILENAME},
    {"urgency", K_URGENCY},
    {"id", K_ID},
    {"random", K_RANDOM},
};

static const struct {
    const char *name;
    tq_key key;
} group_keys[] = {
    {"status.name", K_STATUS_NAME},
    {"status.type", K_STATUS_TYPE},
    {"status", K_STATUS},
    {"recurring", K_RECURRING},
    {"recurrence", K_RECURRENCE},
    {"priority", K_PRIORITY},
    {"happens", K_HAPPENS},
    {"cancelled", K_CANCELLED},
    {"created", K_CREATED},
    {"start", K_START},
    {"scheduled", K_SCHEDULED},
    {"due", K_DUE},
    {"done", K_DONE},
    {"path", K_PATH},
    {"folder", K_FOLDER},
    {"root", K_ROOT},
    {"backlink", K_BACKLINK},
    {"heading", K_HEADING},
    {"tags", K_TAGS},
    {"filename", K_FILENAME},
    {"urgency", K_URGENCY},
    {"id", K_ID},
};

static bool parse_sort(const char *rest, tq_order *o)
{
    for (size_t i = 0; i < sizeof sort_keys / sizeof sort_keys[0]; i++) {
        if (!ci_prefix(rest, sort_keys[i].name))
            continue;
        const char *p = rest + strlen(sort_keys[i].name);
        o->key = sort_keys[i].key;
        o->reverse = false;
        o->tag_n = 1;
        if (ci_prefix(p, " reverse")) {
            o->reverse = true;
            p += 8;
        }
        if (o->key == K_TAG) {
            while (is_ws(*p))
                p++;
            if (isdigit((unsigned char)*p))
                o->tag_n = atoi(p);
        }
        return true;
    }
    return false;
}

static bool parse_group(const char *rest, tq_order *o)
{
    for (size_t i = 0; i < sizeof group_keys / sizeof group_keys[0]; i++) {
        size_t l = strlen(group_keys[i].name);
        if (!ci_prefix(rest, group_keys[i].name))
            continue;
        const char *p = rest + l;
        bool rev = false;
        if (ci_eq(p, " reverse"))
            rev = true;
        else if (*p != '\0')
            continue;
        o->key = group_keys[i].key;
        o->reverse = rev;
        o->tag_n = 1;
        return true;
    }
    return false;
}

static qp_rc push(ctx *c, void **arr, size_t *n, size_t *cap, size_t elem, const void *item)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void *g = qp_arena_grow(c->q->arena, *arr, *n, nc, elem);
        if (g == NULL)
            return oom(c);
        *arr = g;
        *cap = nc;
    }
    memcpy((char *)*arr + *n * elem, item, elem);
    (*n)++;
    return QP_OK;
}

/* ---- layout --------------------------------------------------------------- */

static const char *const layout_options[] = {
    "backlink",        "edit button",  "nested backlink",
    "postpone button", "task count",   "group count",
    "toolbar",         "tree",         "urgency",
    "cancelled date",  "created date", "depends on",
    "done date",       "due date",     "id",
    "on completion",   "priority",     "recurrence rule",
    "scheduled date",  "start date",   "tags",
};

/* ---- placeholders --------------------------------------------------------- */

static const struct {
    const char *name, *text;
} builtin_presets[] = {
    {"this_file", "path includes {{query.file.path}}"},
    {"this_folder", "folder includes {{query.file.folder}}"},
    {"this_folder_only", "filter by function task.file.folder === query.file.folder"},
    {"this_root", "root includes {{query.file.root}}"},
    {"hide_date_fields", "# Hide any values for all date fields\nhide due date\nhide scheduled "
                         "date\nhide start date\nhide created date\nhide done date\nhide "
                         "cancelled date"},
    {"hide_non_date_fields", "# Hide all the non-date fields, but not tags\nhide id\nhide "
                             "depends on\nhide recurrence rule\nhide on completion\nhide "
                             "priority"},
    {"hide_query_elements", "# Hide toolbar, postpone, edit, backlinks and task count\nhide "
                            "toolbar\nhide postpone button\nhide edit button\nhide "
                            "backlinks\nhide task count"},
    {"hide_everything", "# Hide everything except description and any tags\npreset "
                        "hide_date_fields\npreset hide_non_date_fields\npreset "
                        "hide_query_elements"},
};

static const char *find_preset(const qp_tasks_settings *s, const char *name, size_t len)
{
    if (s != NULL) {
        for (size_t i = 0; i < s->n_presets; i++)
            if (strlen(s->preset_names[i]) == len && memcmp(s->preset_names[i], name, len) == 0)
                return s->preset_texts[i];
    }
    for (size_t i = 0;
         (s == NULL || !s->presets_only) && i < sizeof builtin_presets / sizeof builtin_presets[0];
         i++)
        if (strlen(builtin_presets[i].name) == len &&
            memcmp(builtin_presets[i].name, name, len) == 0)
            return builtin_presets[i].text;
    return NULL;
}

/* The query note's property `name` (matched exactly, else ignoring case,
 * as the plugin does), borrowed from c->props; NULL when absent. */
static json_t *query_property(ctx *c, const char *name)
{
    const char *key;
    json_t *v;
    if (c->props == NULL)
        return NULL;
    if ((v = json_object_get(c->props, name)) != NULL)
        return v;
    size_t nl = strlen(name);
    char *fn = qp_text_fold(name, nl, NULL);
    if (fn == NULL)
        return NULL;
    json_t *found = NULL;
    json_object_foreach(c->props, key, v)
    {
        char *fk = qp_text_fold(key, strlen(key), NULL);
        bool same = fk != NULL && strcmp(fk, fn) == 0;
        free(fk);
        if (same) {
            found = v;
            break;
        }
    }
    free(fn);
    return found;
}

static bool append_text(qp_arena *a, const char *t, char **buf, size_t *len, size_t *cap)
{
    size_t tl = strlen(t);
    if (*len + tl + 1 > *cap) {
        size_t nc = (*len + tl + 1) * 2;
        char *nb = qp_arena_alloc(a, nc);
        if (nb == NULL)
            return false;
        if (*buf != NULL)
            memcpy(nb, *buf, *len);
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, t, tl + 1);
    *len += tl;
    return true;
}

/* Appends a JSON value as JavaScript's String() shows it (arrays joined
 * by commas, null inside an array as nothing). false when out of memory. */
static bool js_string(qp_arena *a, const json_t *v, char **buf, size_t *len, size_t *cap)
{
    char num[64];
    const char *t = "";
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0 && !append_text(a, ",", buf, len, cap))
                return false;
            const json_t *e = json_array_get(v, i);
            if (!json_is_null(e) && !js_string(a, e, buf, len, cap))
                return false;
        }
        return true;
    }
    if (json_is_string(v)) {
        t = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        t = num;
    } else if (json_is_real(v)) {
        /* the shortest text that reads back as the same number, as JS shows it */
        double d = json_real_value(v);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, d);
            if (strtod(num, NULL) == d)
                break;
        }
        t = num;
    } else if (json_is_true(v)) {
        t = "true";
    } else if (json_is_false(v)) {
        t = "false";
    } else if (json_is_object(v)) {
        t = "[object Object]";
    } else {
        t = "null";
    }
    return append_text(a, t, buf, len, cap);
}

/* The name inside property('name') / hasProperty("name"): a new arena
 * string, or NULL when the argument is not one quoted string. */
static char *property_arg(qp_arena *a, const char *call)
{
    const char *o = strchr(call, '(');
    size_t l = strlen(call);
    if (o == NULL || l < 2 || call[l - 1] != ')')
        return NULL;
    const char *b = o + 1, *e = call + l - 1;
    if (e - b < 2 || (*b != '\'' && *b != '"') || e[-1] != *b)
        return NULL;
    for (const char *p = b + 1; p < e - 1; p++)
        if (*p == *b)
            return NULL;
    return qp_arena_strndup(a, b + 1, (size_t)(e - b) - 2);
}

/* The value of one placeholder expression, or NULL with an error set.
 * One piece: a branch per placeholder namespace (preset, query.file.*). */
static const char *placeholder_value(ctx *c, const char *stmt, const char *expr, size_t len)
{
    qp_arena *a = c->q->arena;
    const char *path = c->opts->query_path;
    char *e = qp_arena_strndup(a, expr, len);
    if (e == NULL)
        return NULL;

    if (strncmp(e, "preset.", 7) == 0) {
        const char *t = find_preset(c->s, e + 7, strlen(e + 7));
        if (t != NULL)
            return t;
        qerr(c, stmt,
             "There was an error expanding one or more placeholders.\n\nThe error message "
             "was:\n    Unknown property: %s",
             e);
        return NULL;
    }
    if (e[0] == '!') {
        if (c->s == NULL || !c->s->js) {
            js_error(c, stmt);
            return NULL;
        }
        return "";
    }
    if (strncmp(e, "query.file.", 11) == 0 && path == NULL) {
        qerr(c, stmt,
             "The query looks like it contains a placeholder, with \"{{\" and \"}}\"\nbut no "
             "file path has been supplied, so cannot expand placeholder values.");
        return NULL;
    }
    if (strncmp(e, "query.file.", 11) == 0) {
        const char *prop = e + 11;
        const char *slash = strrchr(path, '/');
        const char *fname = slash ? slash + 1 : path;
        size_t plen = strlen(path), flen = strlen(fname);
        bool md = plen >= 3 && strcmp(path + plen - 3, ".md") == 0;
        if (strcmp(prop, "path") == 0)
            return path;
        if (strcmp(prop, "pathWithoutExtension") == 0)
            return qp_arena_strndup(a, path, md ? plen - 3 : plen);
        if (strcmp(prop, "filename") == 0)
            return fname;
        if (strcmp(prop, "filenameWithoutExtension") == 0)
            return qp_arena_strndup(a, fname, md ? flen - 3 : flen);
        if (strcmp(prop, "folder") == 0)
            return slash ? qp_arena_strndup(a, path, (size_t)(slash - path) + 1) : "/";
        if (strcmp(prop, "root") == 0) {
            const char *p = path;
            while (*p == '/')
                p++;
            const char *s1 = strchr(p, '/');
            return s1 ? qp_arena_strndup(a, p, (size_t)(s1 - p) + 1) : "/";
        }
        bool has = strncmp(prop, "hasProperty(", 12) == 0;
        char *name = has || strncmp(prop, "property(", 9) == 0 ? property_arg(a, prop) : NULL;
        if (name != NULL && has) {
            json_t *v = query_property(c, name);
            return v != NULL && !json_is_null(v) ? "true" : "false";
        }
        if (name != NULL) {
            json_t *v = query_property(c, name);
            if (v != NULL && !json_is_null(v)) {
                char *buf = NULL;
                size_t blen = 0, bcap = 0;
                if (!js_string(a, v, &buf, &blen, &bcap))
                    return NULL;
                return buf != NULL ? buf : "";
            }
            qerr(c, stmt,
                 "There was an error expanding one or more placeholders.\n\nThe error message "
                 "was:\n    Invalid placeholder result 'null'.\n    Check for missing file "
                 "property in this expression:\n        {{%s}}",
                 e);
            return NULL;
        }
    }
    for (const char *p = e; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == ' ')) {
            js_error(c, stmt);
            return NULL;
        }
    }
    qerr(c, stmt,
         "There was an error expanding one or more placeholders.\n\nThe error message was:\n    "
         "Unknown property: %s",
         e);
    return NULL;
}

/* Expands {{...}} in `text` until nothing changes (at most 10 rounds). */
static char *expand(ctx *c, const char *stmt, const char *text)
{
    qp_arena *a = c->q->arena;
    const char *cur = text;
    for (int round = 0; round < 10; round++) {
        const char *open = strstr(cur, "{{");
        if (open == NULL || strstr(open, "}}") == NULL)
            return (char *)(uintptr_t)cur;
        size_t cap = strlen(cur) + 1, len = 0;
        char *outb = NULL;
        const char *p = cur;
        bool changed = false;
        for (;;) {
            const char *o = strstr(p, "{{");
            const char *cl = o ? strstr(o + 2, "}}") : NULL;
            size_t keep = o && cl ? (size_t)(o - p) : strlen(p);
            const char *val = "";
            size_t vlen = 0;
            if (o && cl) {
                const char *eb = o + 2, *ee = cl;
                bool triple = *eb == '{';
                if (triple)
                    eb++;
                while (eb < ee && is_ws(*eb))
                    eb++;
                while (ee > eb && is_ws(ee[-1]))
                    ee--;
                val = placeholder_value(c, stmt, eb, (size_t)(ee - eb));
                if (val == NULL)
                    return NULL;
                vlen = strlen(val);
                if (triple && cl[2] == '}')
                    cl++;
                changed = true;
            }
            size_t need = len + keep + vlen + 1;
            if (need > cap || outb == NULL) {
                size_t nc = need * 2;
                char *g = qp_arena_grow(a, outb, len, nc, 1);
                if (g == NULL)
                    return NULL;
                outb = g;
                cap = nc;
            }
            memcpy(outb + len, p, keep);
            len += keep;
            memcpy(outb + len, val, vlen);
            len += vlen;
            outb[len] = '\0';
            if (!(o && cl))
                break;
            p = cl + 2;
        }
        if (!changed || strcmp(outb, cur) == 0)
            return outb;
        cur = outb;
    }
    return (char *)(uintptr_t)cur;
}

/* ---- statements ------------------------------------------------------------ */

typedef struct stmt {
    char *text; /* joined, not yet trimmed */
    int line;   /* 0-based index of its first line in the combined text */
} stmt;

/* Splits text into statements, joining continuation lines. */
static qp_rc continue_lines(ctx *c, const char *text, stmt **out, size_t *n_out)
{
    qp_arena *a = c->q->arena;
    size_t cap = 8, n = 0;
    stmt *v = qp_arena_alloc(a, cap * sizeof *v);
    char *cur = NULL;
    size_t cur_len = 0;
    bool continuing = false;
    int lineno = 0, first = 0;

    if (v == NULL)
        return oom(c);
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *b = p;
        if (continuing) {
            while (len > 0 && (*b == ' ' || *b == '\t'))
                b++, len--;
        } else {
            first = lineno;
        }
        bool cont = false;
        size_t keep = len;
        if (len >= 2 && b[len - 1] == '\\' && b[len - 2] == '\\') {
            keep = len - 1; /* "\\" at the end is one literal backslash */
        } else if (len >= 1 && b[len - 1] == '\\') {
            cont = true;
            keep = len - 1;
            while (keep > 0 && (b[keep - 1] == ' ' || b[keep - 1] == '\t'))
                keep--;
        }
        size_t add = keep + (continuing ? 1 : 0);
        char *g = qp_arena_grow(a, cur, cur_len, cur_len + add + 1, 1);
        if (g == NULL)
            return oom(c);
        cur = g;
        if (continuing)
            cur[cur_len++] = ' ';
        memcpy(cur + cur_len, b, keep);
        cur_len += keep;
        cur[cur_len] = '\0';
        continuing = cont && nl != NULL;
        if (!continuing) {
            if (n == cap) {
                stmt *gv = qp_arena_grow(a, v, n, cap * 2, sizeof *v);
                if (gv == NULL)
                    return oom(c);
                v = gv;
                cap *= 2;
            }
            v[n].text = cur;
            v[n].line = first;
            n++;
            cur = NULL;
            cur_len = 0;
        }
        lineno++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    *out = v;
    *n_out = n;
    return QP_OK;
}

static qp_rc parse_statement(ctx *c, const char *t, int depth);

static qp_rc run_preset(ctx *c, const char *t, const char *name, int depth)
{
    const char *text = find_preset(c->s, name, strlen(name));
    if (text == NULL)
        return qerr(c, t, "Cannot find preset \"%s\" in the Tasks settings", name);
    if (depth >= MAX_PRESET_DEPTH)
        return qerr(c, t, "Maximum call stack size exceeded");
    stmt *v;
    size_t n;
    qp_rc rc = continue_lines(c, text, &v, &n);
    if (rc != QP_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char *s = trimmed(c->q->arena, v[i].text, strlen(v[i].text));
        if (s == NULL)
            return oom(c);
        if (s[0] != '#' && strstr(s, "{{") && strstr(s, "}}")) {
            s = expand(c, s, s);
            if (s == NULL)
                return c->err && c->err->code ? c->err->code : oom(c);
            s = trimmed(c->q->arena, s, strlen(s));
            if (s == NULL)
                return oom(c);
        }
        if (s[0] == '\0')
            continue;
        /* a preset's line that expanded to several lines stays one statement */
        if ((rc = parse_statement(c, s, depth + 1)) != QP_OK)
            return rc;
    }
    return QP_OK;
}

static bool parse_limit(const char *t, bool *groups, size_t *n)
{
    if (!ci_prefix(t, "limit "))
        return false;
    const char *p = t + 6;
    *groups = false;
    if (ci_prefix(p, "groups ")) {
        *groups = true;
        p += 7;
    }
    if (ci_prefix(p, "to "))
        p += 3;
    if (!isdigit((unsigned char)*p))
        return false;
    unsigned long long v = 0;
    while (isdigit((unsigned char)*p)) {
        if (v < 1000000000ull)
            v = v * 10 + (unsigned)(*p - '0');
        p++;
    }
    *n = (size_t)v;
    return true;
}

/* One instruction of a query. One piece: a branch per instruction keyword,
 * tried in the order the plugin tries them (the order decides between
 * prefixes such as "short" and "short mode"), so they stay side by side. */
static qp_rc parse_statement(ctx *c, const char *t, int depth)
{
    qp_taskquery *q = c->q;
    qp_rc rc;

    if (ci_prefix(t, "preset ")) {
        const char *name = t + 7;
        while (is_ws(*name))
            name++;
        return run_preset(c, t, name, depth);
    }
    if (ci_prefix(t, "short")) {
        q->layout.short_mode = true;
        return QP_OK;
    }
    if (ci_prefix(t, "full")) {
        q->layout.short_mode = false;
        return QP_OK;
    }
    if (ci_prefix(t, "explain")) {
        q->layout.explain = true;
        return QP_OK;
    }
    if (ci_prefix(t, "ignore global query")) {
        q->layout.ignore_global_query = true;
        return QP_OK;
    }
    {
        bool groups;
        size_t n;
        if (parse_limit(t, &groups, &n)) {
            if (groups)
                q->layout.group_limit = n;
            else
                q->layout.limit = n;
            return QP_OK;
        }
    }
    if (ci_prefix(t, "sort by ")) {
        tq_order o;
        if (ci_prefix(t + 8, "function"))
            return js_error(c, t);
        if (!parse_sort(t + 8, &o))
            return qerr(c, t, "do not understand query");
        o.source = t;
        return push(c, (void **)&q->sorters, &q->n_sorters, &q->cap_sorters, sizeof o, &o);
    }
    if (ci_prefix(t, "group by ")) {
        tq_order o;
        if (ci_prefix(t + 9, "function"))
            return js_error(c, t);
        if (!parse_group(t + 9, &o))
            return qerr(c, t, "do not understand query");
        o.source = t;
        return push(c, (void **)&q->groupers, &q->n_groupers, &q->cap_groupers, sizeof o, &o);
    }
    if (ci_prefix(t, "view ")) {
        const char *m = t + 5;
        while (is_ws(*m))
            m++;
        if (ci_eq(m, "list")) {
            q->has_column = false;
            return QP_OK;
        }
        if (ci_prefix(m, "columns")) {
            const char *r = m + 7;
            while (is_ws(*r))
                r++;
            if (ci_prefix(r, "by ")) {
                tq_order o;
                if (ci_prefix(r + 3, "function"))
                    return js_error(c, t);
                if (!parse_group(r + 3, &o))
                    return qerr(c, t, "do not understand query");
                o.source = t;
                q->column = o;
                q->has_column = true;
                return QP_OK;
            }
            return qerr(c, t, "columns view requires a grouping expression");
        }
        return qerr(c, t, "do not understand view mode \"%s\"", m);
    }
    if (ci_prefix(t, "hide ") || ci_prefix(t, "show ")) {
        bool hide = ci_prefix(t, "hide ");
        const char *opt = t + 5;
        while (is_ws(*opt))
            opt++;
        for (size_t i = 0; i < sizeof layout_options / sizeof layout_options[0]; i++) {
            if (ci_prefix(opt, layout_options[i])) {
                /* "nested backlink" must not be read as "backlink": it is longer and listed later
                 */
                size_t best = i;
                for (size_t k = i + 1; k < sizeof layout_options / sizeof layout_options[0]; k++)
                    if (ci_prefix(opt, layout_options[k]) &&
                        strlen(layout_options[k]) > strlen(layout_options[best]))
                        best = k;
                if (hide)
                    q->layout.hidden |= 1u << best;
                else
                    q->layout.hidden &= ~(1u << best);
                return QP_OK;
            }
        }
        return qerr(c, t, "do not understand hide/show option");
    }
    if (t[0] == '#')
        return QP_OK;

    tq_filter *f = NULL;
    switch (parse_filter(c, t, &f)) {
    case PARSED:
        if (f == NULL)
            return oom(c);
        rc = push(c, (void **)&q->filters, &q->n_filters, &q->cap_filters, sizeof f, &f);
        return rc;
    case FAILED:
        return c->err && c->err->code ? c->err->code : oom(c);
    case NOT_MINE:
        break;
    }
    return qerr(c, t, "do not understand query");
}

/* True when some statement of the block is `ignore global query`. */
static bool block_ignores_global(ctx *c, const char *text)
{
    stmt *v;
    size_t n;
    if (continue_lines(c, text, &v, &n) != QP_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *s = v[i].text;
        while (is_ws(*s))
            s++;
        if (ci_prefix(s, "ignore global query"))
            return true;
    }
    return false;
}

static int count_lines(const char *s)
{
    int n = 1;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* One piece: the compile pipeline in order (global query, block lines,
 * placeholders, continuation lines, statements), sharing one ctx and one
 * cleanup of the half-built query. */
qp_rc qp_taskquery_compile(qp_taskquery **out, const char *text, const qp_taskquery_options *opts,
                           qp_error *err)
{
    qp_rc rc = QP_OK;
    qp_taskquery *q = NULL;
    qp_taskquery_options defaults = QP_TASKQUERY_OPTIONS_INIT;
    ctx c = {0};
    stmt *v;
    size_t n;

    *out = NULL;
    qp_error_clear(err);
    if (opts == NULL)
        opts = &defaults;
    q = calloc(1, sizeof *q);
    if (q == NULL || (q->arena = qp_arena_new()) == NULL) {
        free(q);
        return qp_error_set(err, QP_ENOMEM, "out of memory");
    }
    q->today = opts->today ? opts->today : 19700101;
    q->layout.limit = SIZE_MAX;
    q->layout.group_limit = SIZE_MAX;
    /* hidden by default: tree, urgency, group count */
    q->layout.hidden = (1u << 7) | (1u << 8) | (1u << 5);
    q->global_filter = opts->settings ? opts->settings->global_filter : NULL;
    q->ignore_sort = opts->settings != NULL && opts->settings->ignore_sort;
    if (q->global_filter != NULL &&
        (q->global_filter = qp_arena_strdup(q->arena, q->global_filter)) == NULL) {
        rc = qp_error_set(err, QP_ENOMEM, "out of memory");
        goto cleanup;
    }
    c = (ctx){q, opts, opts->settings, err, 0, 0, NULL};
    if (opts->query_properties != NULL && opts->query_properties[0] != '\0') {
        json_error_t je;
        c.props = json_loads(opts->query_properties, 0, &je);
        if (!json_is_object(c.props)) {
            rc = qp_error_set(err, QP_EINVAL, "query properties: not a JSON object (%s)",
                              c.props == NULL ? je.text : "another JSON value");
            goto cleanup;
        }
    }

    const char *full = text ? text : "";
    const char *gq = c.s ? c.s->global_query : NULL;
    if (gq != NULL && gq[0] != '\0' && !block_ignores_global(&c, full)) {
        char *joined = afmt(q->arena, "%s\n%s", gq, full);
        if (joined == NULL) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            goto cleanup;
        }
        c.block_first = count_lines(gq);
        full = joined;
    }
    if ((rc = continue_lines(&c, full, &v, &n)) != QP_OK)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        c.line = v[i].line >= c.block_first ? v[i].line - c.block_first + 1 : 0;
        char *s = trimmed(q->arena, v[i].text, strlen(v[i].text));
        if (s == NULL) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            goto cleanup;
        }
        if (s[0] == '\0')
            continue;
        if (s[0] != '#' && strstr(s, "{{") && strstr(s, "}}")) {
            char *x = expand(&c, s, s);
            if (x == NULL) {
                rc = err && err->code ? err->code : qp_error_set(err, QP_ENOMEM, "out of memory");
                goto cleanup;
            }
            /* an expansion with several lines becomes several statements */
            stmt *sub;
            size_t nsub;
            if ((rc = continue_lines(&c, x, &sub, &nsub)) != QP_OK)
                goto cleanup;
            for (size_t k = 0; k < nsub; k++) {
                char *t = trimmed(q->arena, sub[k].text, strlen(sub[k].text));
                if (t == NULL) {
                    rc = qp_error_set(err, QP_ENOMEM, "out of memory");
                    goto cleanup;
                }
                if (t[0] == '\0')
                    continue;
                if ((rc = parse_statement(&c, t, 0)) != QP_OK)
                    goto cleanup;
            }
            continue;
        }
        if ((rc = parse_statement(&c, s, 0)) != QP_OK)
            goto cleanup;
    }
    if (q->has_column) {
        /* the columns' key is the outermost grouping */
        tq_order *g = qp_arena_alloc(q->arena, (q->n_groupers + 1) * sizeof *g);
        if (g == NULL) {
            rc = qp_error_set(err, QP_ENOMEM, "out of memory");
            goto cleanup;
        }
        g[0] = q->column;
        if (q->n_groupers)
            memcpy(g + 1, q->groupers, q->n_groupers * sizeof *g);
        q->groupers = g;
        q->n_groupers++;
        q->cap_groupers = q->n_groupers;
    }
    *out = q;
    q = NULL;

cleanup:
    json_decref(c.props);
    qp_taskquery_free(q);
    return rc;
}

void qp_taskquery_free(qp_taskquery *q)
{
    if (q == NULL)
        return;
    qp_arena_free(q->arena);
    free(q);
}

const qp_taskquery_layout *qp_taskquery_get_layout(const qp_taskquery *q)
{
    return &q->layout;
}

static void explain_filter(qp_arena *a, char **buf, const tq_filter *f, int depth)
{
    static const char *const names[] = {
        "AND (All of):", "OR (At least one of):", "XOR (Exactly one of):", "NOT:"};
    const char *label = NULL;
    if (f->kind == FK_AND)
        label = names[0];
    else if (f->kind == FK_OR)
        label = names[1];
    else if (f->kind == FK_XOR)
        label = names[2];
    else if (f->kind == FK_NOT)
        label = names[3];
    const char *text = label ? label : (f->source ? f->source : "");
    *buf = afmt(a, "%s%*s%s\n", *buf ? *buf : "", depth * 2, "", text);
    if (*buf == NULL)
        return;
    if (f->a)
        explain_filter(a, buf, f->a, depth + 1);
    if (f->b)
        explain_filter(a, buf, f->b, depth + 1);
}

char *qp_taskquery_explain(const qp_taskquery *q)
{
    qp_arena *a = qp_arena_new();
    char *buf = NULL, *res = NULL;
    if (a == NULL)
        return NULL;
    buf = afmt(a, "%s", "");
    for (size_t i = 0; buf && i < q->n_filters; i++) {
        const tq_filter *f = q->filters[i];
        /* As the plugin writes it: "=>" only before an expansion (here the
         * Boolean tree); a plain filter is its own explanation. */
        bool tree = f->kind == FK_AND || f->kind == FK_OR || f->kind == FK_XOR || f->kind == FK_NOT;
        buf = afmt(a, "%s%s%s\n", buf, f->source ? f->source : "", tree ? " =>" : "");
        if (buf && tree)
            explain_filter(a, &buf, f, 1);
    }
    for (size_t i = 0; buf && i < q->n_groupers; i++)
        buf = afmt(a, "%s%s\n", buf, q->groupers[i].source);
    for (size_t i = 0; buf && i < q->n_sorters; i++)
        buf = afmt(a, "%s%s\n", buf, q->sorters[i].source);
    if (buf && q->layout.limit != SIZE_MAX)
        buf = afmt(a, "%sAt most %zu task%s.\n", buf, q->layout.limit,
                   q->layout.limit == 1 ? "" : "s");
    if (buf && q->layout.group_limit != SIZE_MAX)
        buf = afmt(a,
                   "%sAt most %zu task%s per group (if any \"group by\" options are "
                   "supplied).\n",
                   buf, q->layout.group_limit, q->layout.group_limit == 1 ? "" : "s");
    if (buf)
        res = strdup(buf);
    qp_arena_free(a);
    return res;
}
