#ifndef QUIPU_INIT_H
#define QUIPU_INIT_H

/*
 * init — the library's one piece of process-wide setup.
 *
 * cmark-gfm keeps its syntax extensions (tables, strikethrough, autolinks,
 * task lists) in an unlocked global registry that must be filled once
 * before any parser looks an extension up. qp_init() does that exactly
 * once per process, however many threads call it at the same time
 * (pthread_once). qp_note_parse() calls it itself, so a program that only
 * uses the public API never has to; calling it early in main() costs
 * nothing and keeps the first parse from paying for the registration.
 */

/* Registers cmark-gfm's core extensions once per process. Thread-safe,
 * idempotent, cannot fail. */
void qp_init(void);

#endif
