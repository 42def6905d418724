#ifndef QUIPU_TEXT_H
#define QUIPU_TEXT_H

/*
 * text — the Unicode operations quipu needs, over libunistring.
 *
 * Obsidian compares file names and link targets after NFC normalisation
 * and JavaScript's toLowerCase() (full Unicode lower-casing, not ASCII
 * folding). qp_text_fold() is that key. All functions are thread-safe and
 * accept invalid UTF-8: invalid bytes are kept as they are (fold, nfc) or
 * decoded as U+FFFD (decode), never rejected.
 *
 * Returned strings are new, NUL-terminated, and freed with free(); NULL
 * means out of memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quipu/arena.h"

/* NFC-normalises s[0..len). *outlen (may be NULL) receives the length. */
char *qp_text_nfc(const char *s, size_t len, size_t *outlen);

/* The comparison key: NFC + full Unicode lower-case. */
char *qp_text_fold(const char *s, size_t len, size_t *outlen);

/* As above, allocated in `arena` (valid until the arena is freed). */
char *qp_text_nfc_arena(qp_arena *arena, const char *s, size_t len);
char *qp_text_fold_arena(qp_arena *arena, const char *s, size_t len);

/* True when s[0..len) is valid UTF-8. */
bool qp_text_utf8_valid(const char *s, size_t len);

/* Decodes one code point at s (n > 0 bytes available) into *cp and returns
 * its length in bytes (1..4). Invalid input yields U+FFFD and length 1. */
size_t qp_text_decode(const char *s, size_t n, uint32_t *cp);

/* The length of s[0..n) in code units of UTF-`bits` (8, 16 or 32) as an
 * editor decoding it counts them: bytes for 8, code points for 32, and for
 * 16 two per code point past the BMP. An invalid byte is one U+FFFD. */
size_t qp_text_units(const char *s, size_t n, int bits);

/* Writes s percent-encoded for the path of a file URI into out and returns
 * the length written (out is NUL-terminated; it must hold 3 * strlen(s) + 1
 * bytes): RFC 3986's unreserved characters and '/' as they are, every
 * other byte as %XX in upper case, as VS Code and Neovim write a file URI.
 * The one rule for quipu's URIs: `quipu lsp`, `quipu mcp` and the
 * daemon's backlinks.locations all make theirs with it, so they match. */
size_t qp_text_uri_encode(char *out, const char *s);

/* Decodes the code point that ends at s[pos] (pos > 0), scanning back; sets
 * *cp and returns its length. Invalid input yields U+FFFD and length 1. */
size_t qp_text_decode_before(const char *s, size_t pos, uint32_t *cp);

/* A "word" character for mention boundaries: a Unicode letter, a mark, a
 * digit (any script), or '_'. */
bool qp_text_is_word(uint32_t cp);

/* Unicode white space (including NBSP). */
bool qp_text_is_space(uint32_t cp);

#endif
