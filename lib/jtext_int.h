#ifndef QUIPU_JTEXT_INT_H
#define QUIPU_JTEXT_INT_H

/*
 * jtext — an answer written as JSON text while it is built, for the
 * answers too big or too hot to hold as jansson values first (the task
 * answers, backlinks), and for the other answers, built as jansson values,
 * a faster dump of them. Strings, integers and the frame of objects and
 * arrays are written byte for byte as jansson's compact dump writes them
 * (test_jtext compares them with it); reals are left to jansson. Writing a
 * string or an integer needs no jansson value made and freed for it. The frame of the answer, its
 * member names and punctuation, is written by the caller, in the order jansson's compact dump of
 * the same object would give.
 *
 * A failed allocation sets `oom` and makes every later call a no-op, so a
 * writer checks once, at qp__jt_finish(). Internal to libquipu.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct qp__jtext {
    char *p;
    size_t len, cap; /* cap > len once p is set: room for the final NUL */
    bool oom;
} qp__jtext;

/* Makes room for n more bytes (and the NUL); false when out of memory. */
bool qp__jt_reserve(qp__jtext *b, size_t n);

/* Appends s[0..n) / the NUL-terminated s as they are. */
void qp__jt_add(qp__jtext *b, const char *s, size_t n);
void qp__jt_str(qp__jtext *b, const char *s);

/* Appends j as json_dumpb(j, JSON_COMPACT | JSON_ENCODE_ANY) encodes it:
 * objects (in their order), arrays, strings, integers and literals are
 * written here, reals and the strings qp__jt_string() leaves by jansson. */
void qp__jt_value(qp__jtext *b, const json_t *j);

/* Appends the compact encoding of j and releases j (NULL: out of memory). */
void qp__jt_json(qp__jtext *b, json_t *j);

/* Appends v as json_integer(v) encodes. */
void qp__jt_int(qp__jtext *b, long long v);

/* Appends s[0..n) as json_stringn(s, n) encodes in compact form, and
 * true; false, with nothing written, when s is not valid UTF-8 (which
 * json_stringn() refuses) or holds a NUL (left to jansson). */
bool qp__jt_string(qp__jtext *b, const char *s, size_t n);

/* The NUL-terminated s as qp__jt_string(), or null for NULL; a string
 * that is not UTF-8 goes through `fix` (a jansson string made of it, e.g.
 * with U+FFFD for the bad bytes; NULL: out of memory). */
void qp__jt_string_or_null(qp__jtext *b, const char *s, json_t *(*fix)(const char *s));

/* The text, NUL-terminated and cut to its length (new); NULL when out of
 * memory (the buffer is freed either way). */
char *qp__jt_finish(qp__jtext *b);

/* Frees what was written (an answer given up). */
void qp__jt_free(qp__jtext *b);

#endif
