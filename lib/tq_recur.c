/*
 * tq_recur — recurrence rules ("every 2 weeks on Monday when done").
 *
 * The plugin reads the rule with the rrule library's English parser and
 * shows (and searches, and groups by) rrule's own rendering of the parsed
 * rule. This file reproduces both for the rules rrule's English grammar
 * accepts: a tokenizer that takes the longest matching token at each step
 * (ties go to the earlier token kind), a recursive reader of
 * "every [N] <unit> [on ...]", and the text rendering. The parser is
 * lenient like rrule's: an unknown word after a complete rule ends it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskquery_int.h"

enum tok {
    T_NONE,
    T_NUMBER,
    T_NUMTEXT,
    T_EVERY,
    T_DAY,
    T_WEEKDAY,
    T_WEEK,
    T_HOUR,
    T_MINUTE,
    T_MONTH,
    T_YEAR,
    T_ON,
    T_AT,
    T_THE,
    T_FIRST,
    T_SECOND,
    T_THIRD,
    T_NTH,
    T_LAST,
    T_FOR,
    T_TIMES,
    T_UNTIL,
    T_MO, /* T_MO..T_SU in Monday-first order */
    T_TU,
    T_WE,
    T_TH,
    T_FR,
    T_SA,
    T_SU,
    T_JAN, /* ..T_DEC */
    T_COMMA = T_JAN + 12,
};

typedef struct lexer {
    const char *s;
    size_t len, pos;
    bool done;
    enum tok sym;
    long value; /* number or nth */
} lexer;

/* Length of the case-insensitive match of "word" at p where the first
 * `min` characters are required and each further character is optional in
 * sequence (rrule's /^mo(n(day)?)?/ shape is "monday" with min 2, but the
 * optional parts come in groups; see prefix_groups). */
static size_t ci_prefix(const char *p, size_t n, const char *word)
{
    size_t i = 0;
    while (word[i] && i < n && tolower((unsigned char)p[i]) == word[i])
        i++;
    return word[i] == '\0' ? i : 0;
}

/* Longest of the alternatives in `alts` (NULL-terminated) matching at p. */
static size_t ci_alts(const char *p, size_t n, const char *const *alts)
{
    size_t best = 0;
    for (size_t i = 0; alts[i]; i++) {
        size_t m = ci_prefix(p, n, alts[i]);
        if (m > best)
            best = m;
    }
    return best;
}

/* Reads the next symbol of a rule. One piece: most of it is the keyword
 * table (data), then one scan over it. */
static bool next_symbol(lexer *lx)
{
    static const char *const a_every
        [] = {"every", NULL},
 *const a_day[] = {"day", "days", NULL}, *const a_weekday[] = {"weekday", "weekdays", NULL},
 *const a_week[] = {"week", "weeks", NULL}, *const a_hour[] = {"hour", "hours", NULL},
 *const a_minute[] = {"minute", "minutes", NULL}, *const a_month[] = {"month", "months", NULL},
 *const a_year[] = {"year", "years", NULL}, *const a_on[] = {"on", "in", NULL},
 *const a_at[] = {"at", NULL}, *const a_the[] = {"the", NULL}, *const a_first[] = {"first", NULL},
 *const a_second[] = {"second", NULL}, *const a_third[] = {"third", NULL},
 *const a_last[] = {"last", NULL}, *const a_for[] = {"for", NULL},
 *const a_times[] = {"time", "times", NULL}, *const a_until[] = {"til", "until", NULL},
 *const a_numtext[] = {"one", "two", "three", NULL}, *const a_mo[] = {"mo", "mon", "monday", NULL},
 *const a_tu[] = {"tu", "tue", "tues", "tuesday", NULL},
 *const a_we[] = {"we", "wed", "wedn", "wednesday", NULL},
 *const a_th[] = {"th", "thu", "thur", "thursday", NULL},
 *const a_fr[] = {"fr", "fri", "friday", NULL}, *const a_sa[] = {"sa", "sat", "saturday", NULL},
 *const a_su[] = {"su", "sun", "sunday", NULL}, *const a_jan[] = {"jan", "january", NULL},
 *const a_feb[] = {"feb", "february", NULL}, *const a_mar[] = {"mar", "march", NULL},
 *const a_apr[] = {"apr", "april", NULL}, *const a_may[] = {"may", NULL},
 *const a_jun[] = {"jun", "june", NULL}, *const a_jul[] = {"jul", "july", NULL},
 *const a_aug[] = {"aug", "august", NULL}, *const a_sep[] = {"sep", "sept", "september", NULL},
 *const a_oct[] = {"oct", "october", NULL}, *const a_nov[] = {"nov", "november", NULL},
 *const a_dec[] = {"dec", "december", NULL};
    static const struct {
        enum tok t;
        const char *const *alts;
    } words[] = {
        {T_NUMTEXT, a_numtext}, {T_EVERY, a_every},   {T_DAY, a_day},       {T_WEEKDAY, a_weekday},
        {T_WEEK, a_week},       {T_HOUR, a_hour},     {T_MINUTE, a_minute}, {T_MONTH, a_month},
        {T_YEAR, a_year},       {T_ON, a_on},         {T_AT, a_at},         {T_THE, a_the},
        {T_FIRST, a_first},     {T_SECOND, a_second}, {T_THIRD, a_third},   {T_NTH, NULL},
        {T_LAST, a_last},       {T_FOR, a_for},       {T_TIMES, a_times},   {T_UNTIL, a_until},
        {T_MO, a_mo},           {T_TU, a_tu},         {T_WE, a_we},         {T_TH, a_th},
        {T_FR, a_fr},           {T_SA, a_sa},         {T_SU, a_su},         {T_JAN, a_jan},
        {T_JAN + 1, a_feb},     {T_JAN + 2, a_mar},   {T_JAN + 3, a_apr},   {T_JAN + 4, a_may},
        {T_JAN + 5, a_jun},     {T_JAN + 6, a_jul},   {T_JAN + 7, a_aug},   {T_JAN + 8, a_sep},
        {T_JAN + 9, a_oct},     {T_JAN + 10, a_nov},  {T_JAN + 11, a_dec},
    };

    for (;;) {
        if (lx->done)
            return false;
        const char *p = lx->s + lx->pos;
        size_t n = lx->len - lx->pos, best = 0;
        enum tok bt = T_NONE;
        bool skip = false;

        /* SKIP: white space, or a lone final '.' */
        size_t w = 0;
        while (w < n && (p[w] == ' ' || p[w] == '\t' || p[w] == '\r' || p[w] == '\n'))
            w++;
        if (w == 0 && n == 1 && p[0] == '.')
            w = 1;
        if (w > 0) {
            best = w;
            skip = true;
        }
        /* number: [1-9][0-9]* */
        size_t d = 0;
        if (n > 0 && p[0] >= '1' && p[0] <= '9') {
            d = 1;
            while (d < n && isdigit((unsigned char)p[d]))
                d++;
            if (d > best) {
                best = d;
                bt = T_NUMBER;
                skip = false;
            }
        }
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            size_t m;
            if (words[i].t == T_NTH) {
                /* ([1-9][0-9]*)(\.|th|nd|rd|st) */
                m = 0;
                if (d > 0 && d < n) {
                    if (p[d] == '.')
                        m = d + 1;
                    else if (d + 1 < n) {
                        char a = (char)tolower((unsigned char)p[d]);
                        char b = (char)tolower((unsigned char)p[d + 1]);
                        if ((a == 't' && b == 'h') || (a == 'n' && b == 'd') ||
                            (a == 'r' && b == 'd') || (a == 's' && b == 't'))
                            m = d + 2;
                    }
                }
            } else {
                m = ci_alts(p, n, words[i].alts);
            }
            if (m > best) {
                best = m;
                bt = words[i].t;
                skip = false;
            }
        }
        /* comma: (,\s* | (and|or)\s*)+ */
        {
            size_t q = 0;
            for (;;) {
                size_t k = 0;
                if (q < n && p[q] == ',')
                    k = 1;
                else if (ci_prefix(p + q, n - q, "and"))
                    k = 3;
                else if (ci_prefix(p + q, n - q, "or"))
                    k = 2;
                if (k == 0)
                    break;
                q += k;
                while (q < n && isspace((unsigned char)p[q]))
                    q++;
            }
            if (q > best) {
                best = q;
                bt = T_COMMA;
                skip = false;
            }
        }
        if (best == 0) {
            lx->done = true;
            lx->sym = T_NONE;
            return false;
        }
        if (bt == T_NUMBER || bt == T_NTH)
            lx->value = strtol(p, NULL, 10);
        lx->pos += best;
        if (lx->pos >= lx->len)
            lx->done = true;
        if (!skip) {
            lx->sym = bt;
            return true;
        }
        if (lx->done) {
            lx->sym = T_NONE;
            return false;
        }
    }
}

static bool accept(lexer *lx, enum tok t)
{
    if (lx->sym == t) {
        next_symbol(lx);
        return true;
    }
    return false;
}

enum freq {
    F_YEARLY,
    F_MONTHLY,
    F_WEEKLY,
    F_DAILY,
    F_HOURLY,
    F_MINUTELY
};

typedef struct rule {
    enum freq freq;
    long interval;
    int wd[16], wdn[16]; /* weekday 0=Mon..6=Sun with nth (0 = every week) */
    int nwd;
    long md[16];
    int nmd;
    int months[12];
    int nmonths;
    bool bymonth;
} rule;

static int decode_nth(lexer *lx, bool *ok)
{
    *ok = true;
    switch (lx->sym) {
    case T_LAST:
        next_symbol(lx);
        return -1;
    case T_FIRST:
        next_symbol(lx);
        return 1;
    case T_SECOND:
        next_symbol(lx);
        return accept(lx, T_LAST) ? -2 : 2;
    case T_THIRD:
        next_symbol(lx);
        return accept(lx, T_LAST) ? -3 : 3;
    case T_NTH: {
        long v = lx->value;
        if (v > 366) {
            *ok = false;
            return 0;
        }
        next_symbol(lx);
        return accept(lx, T_LAST) ? (int)-v : (int)v;
    }
    default:
        return 0;
    }
}

static int decode_wkd(const lexer *lx)
{
    return lx->sym >= T_MO && lx->sym <= T_SU ? (int)(lx->sym - T_MO) : -1;
}

static int decode_month(const lexer *lx)
{
    return lx->sym >= T_JAN && lx->sym < T_JAN + 12 ? (int)(lx->sym - T_JAN) + 1 : 0;
}

static void add_wd(rule *r, int wd, int n)
{
    if (r->nwd < 16) {
        r->wd[r->nwd] = wd;
        r->wdn[r->nwd++] = n;
    }
}

static bool parse_on(lexer *lx, rule *r)
{
    bool on = accept(lx, T_ON);
    bool the = accept(lx, T_THE);
    if (!(on || the))
        return true;
    do {
        bool ok;
        int nth = decode_nth(lx, &ok);
        if (!ok)
            return false;
        int wkd = decode_wkd(lx);
        int m = decode_month(lx);
        if (nth) {
            if (wkd >= 0) {
                next_symbol(lx);
                add_wd(r, wkd, nth);
            } else {
                if (r->nmd < 16)
                    r->md[r->nmd++] = nth;
                accept(lx, T_DAY);
            }
        } else if (wkd >= 0) {
            next_symbol(lx);
            add_wd(r, wkd, 0);
        } else if (lx->sym == T_WEEKDAY) {
            next_symbol(lx);
            if (r->nwd == 0)
                for (int i = 0; i < 5; i++)
                    add_wd(r, i, 0);
        } else if (lx->sym == T_WEEK) {
            /* "on week 5": rrule's byweekno, which we cannot render */
            return false;
        } else if (m) {
            next_symbol(lx);
            if (r->nmonths < 12)
                r->months[r->nmonths++] = m;
            r->bymonth = true;
        } else {
            return true;
        }
    } while (accept(lx, T_COMMA) || accept(lx, T_THE) || accept(lx, T_ON));
    return true;
}

/* A recurrence rule. One piece: a recursive-descent parser whose branches
 * are the productions of the grammar, in order. */
static bool parse_rule(lexer *lx, rule *r)
{
    memset(r, 0, sizeof *r);
    r->interval = 1;
    next_symbol(lx);
    if (!accept(lx, T_EVERY))
        return false;
    if (lx->sym == T_NUMBER) {
        r->interval = lx->value;
        next_symbol(lx);
    }
    if (lx->sym == T_NONE)
        return false;
    switch (lx->sym) {
    case T_DAY:
        r->freq = F_DAILY;
        next_symbol(lx);
        return true;
    case T_WEEKDAY:
        r->freq = F_WEEKLY;
        for (int i = 0; i < 5; i++)
            add_wd(r, i, 0);
        next_symbol(lx);
        return true;
    case T_WEEK:
        r->freq = F_WEEKLY;
        if (next_symbol(lx))
            return parse_on(lx, r);
        return true;
    case T_HOUR:
        r->freq = F_HOURLY;
        next_symbol(lx);
        return true;
    case T_MINUTE:
        r->freq = F_MINUTELY;
        next_symbol(lx);
        return true;
    case T_MONTH:
        r->freq = F_MONTHLY;
        if (next_symbol(lx))
            return parse_on(lx, r);
        return true;
    case T_YEAR:
        r->freq = F_YEARLY;
        if (next_symbol(lx))
            return parse_on(lx, r);
        return true;
    case T_MO:
    case T_TU:
    case T_WE:
    case T_TH:
    case T_FR:
    case T_SA:
    case T_SU:
        r->freq = F_WEEKLY;
        add_wd(r, decode_wkd(lx), 0);
        if (!next_symbol(lx))
            return true;
        while (accept(lx, T_COMMA)) {
            if (lx->sym == T_NONE)
                return false;
            int w = decode_wkd(lx);
            if (w < 0)
                return false;
            add_wd(r, w, 0);
            next_symbol(lx);
        }
        return true;
    default:
        if (decode_month(lx)) {
            r->freq = F_YEARLY;
            r->bymonth = true;
            r->months[r->nmonths++] = decode_month(lx);
            if (!next_symbol(lx))
                return true;
            while (accept(lx, T_COMMA)) {
                int m = decode_month(lx);
                if (!m)
                    return false;
                if (r->nmonths < 12)
                    r->months[r->nmonths++] = m;
                next_symbol(lx);
            }
            return parse_on(lx, r);
        }
        return false;
    }
}

/* ---- rendering ------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void add(out *o, const char *s)
{
    int n = snprintf(o->buf + o->len, o->len < o->cap ? o->cap - o->len : 0, "%s%s",
                     o->len ? " " : "", s);
    if (n > 0)
        o->len += (size_t)n;
    if (o->len >= o->cap)
        o->len = o->cap ? o->cap - 1 : 0;
}

static void nth_text(long n, char *b, size_t cap)
{
    long a = n < 0 ? -n : n;
    const char *suf = "th";
    if (n == -1) {
        snprintf(b, cap, "last");
        return;
    }
    if (a == 1 || a == 21 || a == 31)
        suf = "st";
    else if (a == 2 || a == 22)
        suf = "nd";
    else if (a == 3 || a == 23)
        suf = "rd";
    snprintf(b, cap, "%ld%s%s", a, suf, n < 0 ? " last" : "");
}

static const char *const day_names[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

/* rrule's list(): "a, b and c" with a final delimiter, else "a, b, c". */
static void add_list(out *o, char items[][48], int n, const char *final)
{
    char s[512] = "";
    size_t l = 0;
    for (int i = 0; i < n; i++) {
        const char *sep = "";
        if (i != 0)
            sep = (final != NULL && i == n - 1) ? " " : ", ";
        int k = snprintf(s + l, sizeof s - l, "%s%s%s%s", sep,
                         (final != NULL && i != 0 && i == n - 1) ? final : "",
                         (final != NULL && i != 0 && i == n - 1) ? " " : "", items[i]);
        if (k > 0 && (size_t)k < sizeof s - l)
            l += (size_t)k;
    }
    add(o, s);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void render_byweekday(out *o, const rule *r, bool weekdays)
{
    char all[16][48], some[16][48];
    int na = 0, ns = 0;
    int order[16];
    for (int i = 0; i < r->nwd; i++)
        order[i] = r->wd[i] * 1000 + (r->wdn[i] + 500); /* sort by weekday, stable-ish */
    /* weekdays sort by their day (Monday first) within each list */
    for (int day = 0; day < 7; day++) {
        for (int i = 0; i < r->nwd; i++) {
            if (r->wd[i] != day)
                continue;
            if (r->wdn[i] == 0) {
                snprintf(all[na++], 48, "%s", day_names[day]);
            } else {
                char nb[24];
                nth_text(r->wdn[i], nb, sizeof nb);
                snprintf(some[ns++], 48, "%s %s", nb, day_names[day]);
            }
        }
    }
    (void)order;
    if (na > 0 && !weekdays) {
        add(o, "on");
        add_list(o, all, na, NULL);
    }
    if (ns > 0) {
        if (na > 0)
            add(o, "and");
        add(o, "on the");
        add_list(o, some, ns, "and");
    }
}

static void render_bymonthday(out *o, const rule *r)
{
    int pos[16], neg[16], np = 0, nn = 0;
    char items[16][48];
    for (int i = 0; i < r->nmd; i++) {
        if (r->md[i] > 0)
            pos[np++] = (int)r->md[i];
        else
            neg[nn++] = (int)r->md[i];
    }
    /* JavaScript's default sort is textual; for day numbers that differs
     * only across digit counts, which rules rarely mix. */
    qsort(pos, (size_t)np, sizeof(int), cmp_int);
    qsort(neg, (size_t)nn, sizeof(int), cmp_int);
    int k = 0;
    for (int i = 0; i < np; i++)
        nth_text(pos[i], items[k++], 48);
    for (int i = nn; i-- > 0;)
        nth_text(neg[i], items[k++], 48);
    bool all_weeks = false;
    for (int i = 0; i < r->nwd; i++)
        all_weeks |= r->wdn[i] == 0;
    if (all_weeks) {
        char days[16][48];
        int nd = 0;
        for (int day = 0; day < 7; day++)
            for (int i = 0; i < r->nwd; i++)
                if (r->wd[i] == day && r->wdn[i] == 0)
                    snprintf(days[nd++], 48, "%s", day_names[day]);
        add(o, "on");
        add_list(o, days, nd, "or");
        add(o, "the");
        add_list(o, items, k, "or");
    } else {
        add(o, "on the");
        add_list(o, items, k, "and");
    }
}

static void render_bymonth(out *o, const rule *r)
{
    char items[12][48];
    for (int i = 0; i < r->nmonths; i++)
        snprintf(items[i], 48, "%s", month_names[r->months[i] - 1]);
    add_list(o, items, r->nmonths, "and");
}

/* The plugin's text of a rule. One piece: its clauses in the order the text
 * reads (interval, weekdays, month days, months, "when done"). */
static void render(out *o, const rule *r)
{
    char num[32];
    bool has[7] = {false};
    for (int i = 0; i < r->nwd; i++)
        has[r->wd[i]] = true;
    bool weekdays =
        r->nwd > 0 && has[0] && has[1] && has[2] && has[3] && has[4] && !has[5] && !has[6];
    bool everyday =
        r->nwd > 0 && has[0] && has[1] && has[2] && has[3] && has[4] && has[5] && has[6];
    bool plural = r->interval != 1;

    snprintf(num, sizeof num, "%ld", r->interval);
    add(o, "every");
    switch (r->freq) {
    case F_DAILY:
        if (plural)
            add(o, num);
        add(o, plural ? "days" : "day");
        break;
    case F_HOURLY:
        if (plural)
            add(o, num);
        add(o, plural ? "hours" : "hour");
        break;
    case F_MINUTELY:
        if (plural)
            add(o, num);
        add(o, plural ? "minutes" : "minute");
        break;
    case F_WEEKLY:
        if (plural) {
            add(o, num);
            add(o, "weeks");
        }
        if (weekdays) {
            if (!plural)
                add(o, "weekday");
            else {
                add(o, "on");
                add(o, "weekdays");
            }
        } else if (everyday) {
            add(o, plural ? "days" : "day");
        } else {
            if (!plural)
                add(o, "week");
            if (r->bymonth) {
                add(o, "in");
                render_bymonth(o, r);
            }
            if (r->nmd)
                render_bymonthday(o, r);
            else if (r->nwd)
                render_byweekday(o, r, weekdays);
        }
        break;
    case F_MONTHLY:
        if (r->bymonth) {
            if (plural) {
                add(o, num);
                add(o, "months");
                add(o, "in");
            }
            render_bymonth(o, r);
        } else {
            if (plural)
                add(o, num);
            add(o, plural ? "months" : "month");
        }
        if (r->nmd)
            render_bymonthday(o, r);
        else if (weekdays) {
            add(o, "on");
            add(o, "weekdays");
        } else if (r->nwd)
            render_byweekday(o, r, weekdays);
        break;
    case F_YEARLY:
        if (r->bymonth) {
            if (plural) {
                add(o, num);
                add(o, "years");
            }
            render_bymonth(o, r);
        } else {
            if (plural)
                add(o, num);
            add(o, plural ? "years" : "year");
        }
        if (r->nmd)
            render_bymonthday(o, r);
        else if (r->nwd)
            render_byweekday(o, r, weekdays);
        break;
    }
}

bool qp__recurrence_normalise(const char *text, size_t len, char *buf, size_t cap)
{
    static const char when_done[] = " when done";
    const size_t wl = sizeof when_done - 1;
    bool based_on_done = false;
    lexer lx;
    rule r;
    out o = {buf, cap, 0};

    if (cap == 0)
        return false;
    buf[0] = '\0';
    while (len > 0 && text[len - 1] == ' ')
        len--;
    if (len > wl) {
        size_t i = 0;
        while (i < wl && tolower((unsigned char)text[len - wl + i]) == when_done[i])
            i++;
        if (i == wl) {
            based_on_done = true;
            len -= wl;
        }
    }
    memset(&lx, 0, sizeof lx);
    lx.s = text;
    lx.len = len;
    lx.done = len == 0;
    if (!parse_rule(&lx, &r))
        return false;
    render(&o, &r);
    if (based_on_done)
        add(&o, "when done");
    return true;
}
