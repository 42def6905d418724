/*
 * tq_dates — natural-language dates in task queries ("next friday",
 * "in two weeks", "14 October", "2023-06-10 2023-06-20").
 *
 * The plugin hands these to the chrono library. This reader covers the
 * English forms chrono understands that queries use: casual words, weekdays
 * with this/last/next, "this/last/next <unit>", "<n> <unit> ago", "in <n>
 * <unit>", month-name dates, ISO and year-first dates, and month/day slash
 * dates. Like chrono it scans the text left to right and, at each word
 * start, keeps the longest expression that matches; a calendar-invalid date
 * is no match. "X to Y" joins into one result whose end is dropped, as the
 * plugin ignores chrono's end dates.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "taskquery_int.h"

typedef struct scan {
    const char *s; /* lower-cased text */
    size_t n;
    int32_t today; /* day number */
} scan;

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

/* A word boundary after position p: end of text or a non-word character. */
static bool boundary(const scan *sc, size_t p)
{
    return p >= sc->n || !(is_alnum(sc->s[p]) || sc->s[p] == '_');
}

static size_t spaces(const scan *sc, size_t p)
{
    while (p < sc->n && isspace((unsigned char)sc->s[p]))
        p++;
    return p;
}

/* Matches `w` at p; returns the end or 0. */
static size_t lit(const scan *sc, size_t p, const char *w)
{
    size_t l = strlen(w);
    if (p + l > sc->n || memcmp(sc->s + p, w, l) != 0)
        return 0;
    return p + l;
}

/* Matches one of the '|'-separated words at p followed by a boundary,
 * longest first; sets *idx to its position in the list. Returns the end
 * or 0. */
static size_t word_of(const scan *sc, size_t p, const char *const *words, int *idx)
{
    size_t best = 0;
    for (int i = 0; words[i]; i++) {
        size_t e = lit(sc, p, words[i]);
        if (e && boundary(sc, e) && e > best) {
            best = e;
            *idx = i;
        }
    }
    return best;
}

static size_t digits(const scan *sc, size_t p, size_t min, size_t max, int *val)
{
    size_t q = p;
    int v = 0;
    while (q < sc->n && q - p < max && isdigit((unsigned char)sc->s[q])) {
        v = v * 10 + (sc->s[q] - '0');
        q++;
    }
    if (q - p < min || (q < sc->n && isdigit((unsigned char)sc->s[q])))
        return 0;
    *val = v;
    return q;
}

static int32_t ymd_or_0(int y, int m, int d)
{
    if (!qp__valid_civil(y, m, d))
        return 0;
    return y * 10000 + m * 100 + d;
}

static int32_t add_days(int32_t days, long n)
{
    return qp__ymd_from_days((int32_t)(days + n));
}

/* Adds months the way dayjs does: the day is clamped to the target month.
 * 0 when the result leaves the years 1..9999 (no date a query can use). */
static int32_t add_months(int32_t days, long months)
{
    int32_t ymd = qp__ymd_from_days(days);
    long y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
    if (months < -120000 || months > 120000)
        return 0;
    long t = y * 12 + (m - 1) + months;
    if (t < 12 || t >= 10000 * 12)
        return 0;
    y = t / 12;
    m = t % 12 + 1;
    int dim = qp__days_in_month((int)y, (int)m);
    if (d > dim)
        d = dim;
    return (int32_t)(y * 10000 + m * 100 + d);
}

static const char *const month_words[] = {
    "january", "jan",      "jan.", "february", "feb", "feb.", "march",     "mar",
    "mar.",    "april",    "apr",  "apr.",     "may", "june", "jun",       "jun.",
    "july",    "jul",      "jul.", "august",   "aug", "aug.", "september", "sept",
    "sept.",   "sep",      "sep.", "october",  "oct", "oct.", "november",  "nov",
    "nov.",    "december", "dec",  "dec.",     NULL};
static const int month_of_word[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4,  4,  4,  5,  6,  6,  6,  7,  7,
                                    7, 8, 8, 8, 9, 9, 9, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12};

static size_t month_name(const scan *sc, size_t p, int *month)
{
    int idx = -1;
    size_t e = 0;
    /* words ending in '.' have no boundary check after the dot */
    for (int i = 0; month_words[i]; i++) {
        size_t q = lit(sc, p, month_words[i]);
        if (q == 0)
            continue;
        if (sc->s[q - 1] != '.' && !boundary(sc, q))
            continue;
        if (q > e) {
            e = q;
            idx = i;
        }
    }
    if (idx < 0)
        return 0;
    *month = month_of_word[idx];
    return e;
}

/* The year (last, this or next) that puts month/day closest to today. */
static int closest_year(const scan *sc, int month, int day)
{
    int32_t ty = qp__ymd_from_days(sc->today) / 10000;
    int best = (int)ty;
    long bestd = -1;
    for (int y = (int)ty - 1; y <= (int)ty + 1; y++) {
        int d = day;
        if (!qp__valid_civil(y, month, d))
            continue;
        long diff = labs((long)qp__days_from_civil(y, month, d) - sc->today);
        if (bestd < 0 || diff < bestd) {
            bestd = diff;
            best = y;
        }
    }
    return best;
}

static size_t ordinal_suffix(const scan *sc, size_t p)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th", NULL};
    for (int i = 0; sfx[i]; i++) {
        size_t e = lit(sc, p, sfx[i]);
        if (e)
            return e;
    }
    return p;
}

static size_t year_digits(const scan *sc, size_t p, int *y)
{
    size_t e = digits(sc, p, 4, 4, y);
    if (e)
        return e;
    e = digits(sc, p, 2, 2, y);
    if (e) {
        *y += *y < 50 ? 2000 : 1900;
        return e;
    }
    return 0;
}

/* ---- the individual readers: each returns the end of its match or 0 ---- */

static size_t p_casual(const scan *sc, size_t p, int32_t *out)
{
    static const char *const w[] = {"now",     "today",     "tonight", "tomorrow", "tmr",
                                    "tmrw",    "yesterday", "noon",    "midnight", "midday",
                                    "morning", "afternoon", "evening", NULL};
    static const int off[] = {0, 0, 0, 1, 1, 1, -1, 0, 0, 0, 0, 0, 0};
    int idx = -1;
    size_t b = p, e;
    size_t t = lit(sc, p, "this");
    if (t)
        b = spaces(sc, t);
    e = word_of(sc, b, w, &idx);
    if (e == 0 || (t && idx < 7))
        return 0;
    *out = add_days(sc->today, off[idx]);
    return e;
}

static const char *const weekday_words[] = {
    "sunday",   "sun",   "sun.",  "monday",   "mon",       "mon.",  "tuesday",
    "tues",     "tue",   "tues.", "tue.",     "wednesday", "wed",   "wed.",
    "thursday", "thurs", "thur",  "thu",      "thurs.",    "thur.", "thu.",
    "friday",   "fri",   "fri.",  "saturday", "sat",       "sat.",  NULL};
static const int weekday_of_word[] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3,
                                      4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 6, 6, 6};

static size_t weekday_name(const scan *sc, size_t p, int *wd)
{
    int idx = -1;
    size_t e = 0;
    for (int i = 0; weekday_words[i]; i++) {
        size_t q = lit(sc, p, weekday_words[i]);
        if (q == 0 || (sc->s[q - 1] != '.' && !boundary(sc, q)))
            continue;
        if (q > e) {
            e = q;
            idx = i;
        }
    }
    if (idx < 0)
        return 0;
    *wd = weekday_of_word[idx];
    return e;
}

static size_t p_weekday(const scan *sc, size_t p, int32_t *out)
{
    static const char *const mods[] = {"this", "last", "past", "next", NULL};
    int mod = -1, wd, ref = qp__weekday(sc->today), idx;
    size_t q = p, e;

    size_t on = lit(sc, q, "on");
    if (on && on < sc->n && isspace((unsigned char)sc->s[on]))
        q = spaces(sc, on);
    e = word_of(sc, q, mods, &idx);
    if (e) {
        mod = idx;
        q = spaces(sc, e);
    }
    e = weekday_name(sc, q, &wd);
    if (e == 0)
        return 0;
    /* "friday next week": the postfix modifier */
    {
        size_t r = spaces(sc, e), f;
        int pidx;
        f = word_of(sc, r, mods, &pidx);
        if (f && r > e) {
            size_t g = spaces(sc, f), h = lit(sc, g, "week");
            if (h && boundary(sc, h)) {
                mod = pidx;
                e = h;
            }
        }
    }
    long fwd = wd - ref, back = wd - ref, days;
    if (fwd < 0)
        fwd += 7;
    if (back >= 0)
        back -= 7;
    switch (mod) {
    case 0: /* this */
        days = fwd;
        break;
    case 1:
    case 2: /* last, past */
        days = back;
        break;
    case 3: /* next */
        if (ref == 0)
            days = wd == 0 ? 7 : wd;
        else if (ref == 6)
            days = wd == 6 ? 7 : wd == 0 ? 8 : 1 + wd;
        else if (wd < ref && wd != 0)
            days = fwd;
        else
            days = fwd + 7;
        break;
    default:
        days = fwd < -back ? fwd : back;
        break;
    }
    *out = add_days(sc->today, days);
    return e;
}

/* unit words; the value is the unit: 0 day, 1 week, 2 month, 3 year, 4 quarter, 5 time-of-day */
static size_t unit_word(const scan *sc, size_t p, int *unit)
{
    static const char *const w[] = {
        "day",     "days",    "d",        "week",    "weeks", "wk",    "wks",   "w",
        "month",   "months",  "mo",       "mos",     "year",  "years", "yr",    "yrs",
        "y",       "quarter", "quarters", "qtr",     "qtrs",  "hour",  "hours", "h",
        "hr",      "hrs",     "minute",   "minutes", "min",   "mins",  "m",     "second",
        "seconds", "sec",     "secs",     "s",       NULL};
    static const int u[] = {0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4,
                            4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    int idx = -1;
    size_t e = word_of(sc, p, w, &idx);
    if (e)
        *unit = u[idx];
    return e;
}

static size_t number_word(const scan *sc, size_t p, long *v)
{
    static const char *const w[] = {"one",   "two",   "three", "four",    "five",   "six",
                                    "seven", "eight", "nine",  "ten",     "eleven", "twelve",
                                    "a",     "an",    "few",   "several", "half",   NULL};
    static const long val[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 1, 3, 7, 0};
    int idx = -1, n;
    size_t e = digits(sc, p, 1, 6, &n);
    if (e && (e >= sc->n || !isalpha((unsigned char)sc->s[e]) || true)) {
        *v = n;
        return e;
    }
    e = word_of(sc, p, w, &idx);
    if (e == 0 || idx == 16)
        return 0;
    *v = val[idx];
    return e;
}

/* "<n> <unit>" (several pairs may follow each other) applied to today with sign */
static size_t time_units(const scan *sc, size_t p, int sign, int32_t *out)
{
    int32_t days = sc->today;
    size_t q = p, end = 0;
    bool any = false;
    for (;;) {
        long n;
        int unit;
        size_t e = number_word(sc, q, &n);
        if (e == 0)
            break;
        size_t u = unit_word(sc, spaces(sc, e), &unit);
        if (u == 0)
            break;
        /* a count can take the date out of the calendar (999999 years):
         * then there is no date, as for the plugin's date library */
        int32_t ymd = 1;
        switch (unit) {
        case 0:
        case 1: {
            long nd = (long)days + sign * n * (unit == 1 ? 7 : 1);
            if (nd < qp__days_from_civil(1, 1, 1) || nd > qp__days_from_civil(9999, 12, 31))
                return 0;
            days = (int32_t)nd;
            break;
        }
        case 2:
            ymd = add_months(days, sign * n);
            break;
        case 3:
            ymd = add_months(days, sign * n * 12);
            break;
        case 4:
            ymd = add_months(days, sign * n * 3);
            break;
        default:
            break; /* hours and smaller stay within the day, as queries see it */
        }
        if (ymd == 0)
            return 0;
        if (unit >= 2 && unit <= 4)
            days = qp__days_from_ymd(ymd);
        any = true;
        end = u;
        size_t c = spaces(sc, u);
        size_t a = lit(sc, c, ",");
        if (a)
            c = spaces(sc, a);
        size_t andw = lit(sc, c, "and");
        if (andw && boundary(sc, andw))
            c = spaces(sc, andw);
        q = c;
    }
    if (!any)
        return 0;
    *out = qp__ymd_from_days(days);
    return end;
}

static size_t p_ago(const scan *sc, size_t p, int32_t *out)
{
    static const char *const w[] = {"ago", "before", "earlier", NULL};
    int32_t v;
    int idx;
    size_t q = p, w0 = lit(sc, p, "within");
    if (w0)
        q = spaces(sc, w0);
    size_t e = time_units(sc, q, -1, &v);
    if (e == 0)
        return 0;
    size_t f = word_of(sc, spaces(sc, e), w, &idx);
    if (f == 0)
        return 0;
    *out = v;
    return f;
}

static size_t p_later(const scan *sc, size_t p, int32_t *out)
{
    static const char *const w[] = {"later",   "after", "from now", "henceforth",
                                    "forward", "out",   NULL};
    int32_t v;
    int idx;
    size_t e = time_units(sc, p, 1, &v);
    if (e == 0)
        return 0;
    size_t f = word_of(sc, spaces(sc, e), w, &idx);
    if (f == 0)
        return 0;
    *out = v;
    return f;
}

static size_t p_within(const scan *sc, size_t p, int32_t *out)
{
    static const char *const w[] = {"within", "in", "for", NULL};
    static const char *const approx[] = {"about",         "around", "roughly",
                                         "approximately", "just",   NULL};
    int idx;
    size_t e = word_of(sc, p, w, &idx);
    if (e == 0)
        return 0;
    size_t q = spaces(sc, e);
    size_t a = word_of(sc, q, approx, &idx);
    if (a)
        q = spaces(sc, a);
    return time_units(sc, q, 1, out);
}

/* "this/last/next <unit>", as chrono reads it when the plugin did not
 * (the plugin only takes lowercase ranges itself). */
static size_t p_relative(const scan *sc, size_t p, int32_t *out)
{
    static const char *const mods[] = {"this", "last", "past", "next", NULL};
    int idx, unit;
    size_t e = word_of(sc, p, mods, &idx);
    if (e == 0) {
        size_t a = lit(sc, p, "after");
        if (a == 0)
            return 0;
        e = lit(sc, spaces(sc, a), "this");
        if (e == 0 || !boundary(sc, e))
            return 0;
        idx = 3;
    }
    size_t u = unit_word(sc, spaces(sc, e), &unit);
    if (u == 0 || unit == 5)
        return 0;
    int32_t d = sc->today;
    int32_t ymd = qp__ymd_from_days(d);
    if (idx == 0) {
        if (unit == 1)
            *out = add_days(d, -qp__weekday(d));
        else if (unit == 2)
            *out = ymd / 100 * 100 + 1;
        else if (unit == 3)
            *out = ymd / 10000 * 10000 + 101;
        else
            *out = ymd;
        return u;
    }
    long sign = idx == 3 ? 1 : -1;
    switch (unit) {
    case 0:
        *out = add_days(d, sign);
        break;
    case 1:
        *out = add_days(d, sign * 7);
        break;
    case 2:
        *out = add_months(d, sign);
        break;
    case 3:
        *out = add_months(d, sign * 12);
        break;
    default:
        *out = add_months(d, sign * 3);
        break;
    }
    return *out != 0 ? u : 0;
}

/* "25th May 2023", "1 jan", "14 of October" */
static size_t p_little_endian(const scan *sc, size_t p, int32_t *out)
{
    int day, month, year = 0;
    size_t q = p;
    size_t on = lit(sc, q, "on");
    if (on && on < sc->n && isspace((unsigned char)sc->s[on]))
        q = spaces(sc, on);
    size_t e = digits(sc, q, 1, 2, &day);
    if (e == 0)
        return 0;
    e = ordinal_suffix(sc, e);
    q = spaces(sc, e);
    size_t of = lit(sc, q, "of");
    if (of && of < sc->n && isspace((unsigned char)sc->s[of]))
        q = spaces(sc, of);
    e = month_name(sc, q, &month);
    if (e == 0)
        return 0;
    /* optional year: (-|/|,?\s*) year */
    {
        size_t r = e;
        if (r < sc->n && (sc->s[r] == '-' || sc->s[r] == '/'))
            r++;
        else {
            if (r < sc->n && sc->s[r] == ',')
                r++;
            r = spaces(sc, r);
        }
        size_t y = year_digits(sc, r, &year);
        if (y && boundary(sc, y))
            e = y;
        else
            year = 0;
    }
    if (!boundary(sc, e) && sc->s[e - 1] != '.')
        return 0;
    if (year == 0)
        year = closest_year(sc, month, day);
    *out = ymd_or_0(year, month, day);
    return *out ? e : 0;
}

/* "june 10", "jan 1, 2024", "May" */
static size_t p_month_first(const scan *sc, size_t p, int32_t *out)
{
    int day, month, year = 0;
    size_t q = p;
    size_t in = lit(sc, q, "in");
    if (in && in < sc->n && isspace((unsigned char)sc->s[in]))
        q = spaces(sc, in);
    size_t e = month_name(sc, q, &month);
    if (e == 0)
        return 0;
    size_t r = e;
    if (r < sc->n && (sc->s[r] == '-' || sc->s[r] == '/'))
        r++;
    else {
        r = spaces(sc, r);
        if (r < sc->n && sc->s[r] == ',')
            r = spaces(sc, r + 1);
    }
    size_t d = digits(sc, r, 1, 2, &day);
    if (d) {
        size_t de = ordinal_suffix(sc, d);
        if (boundary(sc, de)) {
            size_t end = de;
            size_t y0 = de;
            if (y0 < sc->n && (sc->s[y0] == '-' || sc->s[y0] == '/'))
                y0++;
            else {
                size_t y1 = spaces(sc, y0);
                if (y1 < sc->n && sc->s[y1] == ',')
                    y1 = spaces(sc, y1 + 1);
                y0 = y1 > y0 ? y1 : 0;
            }
            if (y0) {
                size_t ye = digits(sc, y0, 4, 4, &year);
                if (ye && boundary(sc, ye))
                    end = ye;
                else
                    year = 0;
            }
            if (year == 0)
                year = closest_year(sc, month, day);
            *out = ymd_or_0(year, month, day);
            return *out ? end : 0;
        }
    }
    /* the month alone, optionally with a year: the 1st of that month */
    {
        size_t end = e;
        size_t y0 = spaces(sc, e);
        if (y0 < sc->n && (sc->s[y0] == ',' || sc->s[y0] == '-'))
            y0 = spaces(sc, y0 + 1);
        size_t ye = digits(sc, y0, 4, 4, &year);
        if (ye && boundary(sc, ye))
            end = ye;
        else
            year = (int)(qp__ymd_from_days(sc->today) / 10000);
        *out = ymd_or_0(year, month, 1);
        return *out ? end : 0;
    }
}

/* "2023-06-10", "2023-6-7", "2023/06/10", "2023.01.01", "2023 jan 5" */
static size_t p_year_first(const scan *sc, size_t p, int32_t *out)
{
    int y, m, d;
    size_t e = digits(sc, p, 4, 4, &y);
    if (e == 0 || e >= sc->n)
        return 0;
    char sep = sc->s[e];
    if (sep != '-' && sep != '/' && sep != '.' && sep != ' ')
        return 0;
    size_t q = e + 1, f = digits(sc, q, 1, 2, &m);
    if (f == 0) {
        f = month_name(sc, q, &m);
        if (f == 0)
            return 0;
    }
    if (f >= sc->n || (sc->s[f] != '-' && sc->s[f] != '/' && sc->s[f] != '.' && sc->s[f] != ' '))
        return 0;
    size_t g = digits(sc, f + 1, 1, 2, &d);
    if (g == 0 || !boundary(sc, g))
        return 0;
    *out = ymd_or_0(y, m, d);
    return *out ? g : 0;
}

/* "06/10/2023", "01.02.2023", "6/10": month first, as chrono's en locale. */
static size_t p_slash(const scan *sc, size_t p, int32_t *out)
{
    int a, b, y = 0;
    if (p > 0 && isdigit((unsigned char)sc->s[p - 1]))
        return 0;
    size_t e = digits(sc, p, 1, 2, &a);
    if (e == 0 || e >= sc->n || (sc->s[e] != '/' && sc->s[e] != '.' && sc->s[e] != '-'))
        return 0;
    size_t f = digits(sc, e + 1, 1, 2, &b);
    if (f == 0)
        return 0;
    size_t end = f;
    if (f < sc->n && (sc->s[f] == '/' || sc->s[f] == '.' || sc->s[f] == '-')) {
        size_t g = digits(sc, f + 1, 4, 4, &y);
        if (g == 0) {
            g = digits(sc, f + 1, 2, 2, &y);
            if (g)
                y += y < 50 ? 2000 : 1900;
        }
        if (g)
            end = g;
        else
            y = 0;
    }
    if (end < sc->n && is_alnum(sc->s[end]))
        return 0;
    int month = a, day = b;
    if (month > 12) {
        if (day >= 1 && day <= 12 && month <= 31) {
            int t = month;
            month = day;
            day = t;
        } else {
            return 0;
        }
    }
    if (day < 1 || day > 31)
        return 0;
    if (y == 0)
        y = closest_year(sc, month, day);
    *out = ymd_or_0(y, month, day);
    return *out ? end : 0;
}

typedef size_t (*reader_fn)(const scan *, size_t, int32_t *);

int qp__chrono_parse(const char *text, int32_t today, int32_t out[2])
{
    static const reader_fn readers[] = {p_year_first,  p_casual, p_weekday, p_relative,
                                        p_ago,         p_later,  p_within,  p_little_endian,
                                        p_month_first, p_slash};
    size_t n = strlen(text);
    char *low = malloc(n + 1);
    int found = 0;
    size_t last_end = 0;

    if (low == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)text[i]);
    low[n] = '\0';
    scan sc = {low, n, today};

    for (size_t p = 0; p < n && found < 2;) {
        if (p > 0 && is_alnum(low[p - 1]) && is_alnum(low[p])) {
            p++;
            continue;
        }
        size_t best = 0;
        int32_t bv = 0;
        for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
            int32_t v = 0;
            size_t e = readers[i](&sc, p, &v);
            if (e > best && v != 0) {
                best = e;
                bv = v;
            }
        }
        if (best == 0) {
            p++;
            continue;
        }
        if (found == 1) {
            /* "X to Y" is one result with an end date, which is ignored */
            static const char *const joins[] = {"to", "-", "until", "through", "till", NULL};
            size_t q = spaces(&sc, last_end);
            int idx;
            size_t j = 0;
            for (int k = 0; joins[k]; k++) {
                size_t e = lit(&sc, q, joins[k]);
                if (e && (joins[k][0] == '-' || boundary(&sc, e))) {
                    j = e;
                    idx = k;
                }
            }
            (void)idx;
            if (j && spaces(&sc, j) == p) {
                p = best;
                last_end = best;
                continue;
            }
        }
        out[found++] = bv;
        last_end = best;
        p = best;
    }
    free(low);
    return found;
}
