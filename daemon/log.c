/*
 * log — see log.h. Lines are assembled in a stack buffer and written with a
 * single write(2) so that lines from the loop, the writer and pool threads
 * never interleave.
 */

#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

qpd_log_level qpd_log_threshold = QPD_LOG_INFO;
static bool journal;

void qpd_log_init(qpd_log_level threshold)
{
    const char *js = getenv("JOURNAL_STREAM");

    qpd_log_threshold = threshold;
    journal = js != NULL && js[0] != '\0';
}

int qpd_log_parse_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void qpd_log_write(qpd_log_level level, const char *fmt, ...)
{
    /* syslog priorities: err 3, warning 4, info 6, debug 7 */
    static const int prio[] = {3, 4, 6, 7};
    static const char *const tag[] = {"error", "warn", "info", "debug"};
    char line[2048];
    size_t n = 0;
    va_list ap;
    int k;

    if (journal) {
        k = snprintf(line, sizeof line, "<%d>", prio[level]);
    } else {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        k = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld quipud %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tag[level]);
    }
    n = k > 0 ? (size_t)k : 0;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
    line[n++] = '\n';
    /* Nothing useful can be done when stderr is gone. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
