#ifndef QUIPU_VALUE_H
#define QUIPU_VALUE_H

/*
 * value — a typed frontmatter value (the YAML 1.2 core schema applied to
 * libyaml's untyped scalars; see docs/architecture.md).
 *
 * Values are transparent, immutable trees allocated in their note's arena:
 * they are valid as long as the note that returned them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qp_value_type {
    QP_VALUE_NULL = 0, /* also '' and empty values: "unknown" */
    QP_VALUE_BOOL,
    QP_VALUE_INT,
    QP_VALUE_REAL,
    QP_VALUE_STRING,
    QP_VALUE_DATE,     /* "YYYY-MM-DD", quoted or not; str holds the text */
    QP_VALUE_DATETIME, /* "YYYY-MM-DDTHH:MM[:SS]"; str holds the text */
    QP_VALUE_LIST,
    QP_VALUE_MAP,
} qp_value_type;

typedef struct qp_value qp_value;

struct qp_value {
    qp_value_type type;
    union {
        bool b;
        int64_t i;
        double r;
        struct {
            const char *s; /* NUL-terminated UTF-8 */
            size_t len;
        } str;
        struct {
            const qp_value *items;
            size_t n;
        } list;
        struct {
            const char *const *keys; /* in document order */
            const qp_value *vals;
            size_t n;
        } map;
    } u;
};

/* Returns the value of `key` in a map (exact, case-sensitive), or NULL when
 * v is not a map or has no such key. Borrowed from v. */
const qp_value *qp_value_get(const qp_value *v, const char *key);

/* Case-insensitive (ASCII) lookup, as Obsidian matches `tags`, `aliases`. */
const qp_value *qp_value_get_ci(const qp_value *v, const char *key);

#endif
