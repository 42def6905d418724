#ifndef QPD_LOG_H
#define QPD_LOG_H

/*
 * log — quipud's one-line-per-event log on stderr.
 *
 * qpd_log() tests the level before its arguments are evaluated, so a debug
 * line costs one comparison when debug is off. When $JOURNAL_STREAM is set
 * (systemd), each line starts with a "<N>" syslog priority prefix instead of
 * a timestamp. Thread-safe: a line is written with one write(2).
 */

typedef enum qpd_log_level {
    QPD_LOG_ERROR = 0,
    QPD_LOG_WARN,
    QPD_LOG_INFO,
    QPD_LOG_DEBUG,
} qpd_log_level;

/* The current threshold; lines above it are not written. Set once in main. */
extern qpd_log_level qpd_log_threshold;

/* Reads $JOURNAL_STREAM once; call from main before any thread. */
void qpd_log_init(qpd_log_level threshold);

/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int qpd_log_parse_level(const char *name);

void qpd_log_write(qpd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define qpd_log(level, ...)                      \
    do {                                         \
        if ((level) <= qpd_log_threshold)        \
            qpd_log_write((level), __VA_ARGS__); \
    } while (0)

#endif
