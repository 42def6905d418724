#ifndef QUIPU_NOTE_INT_H
#define QUIPU_NOTE_INT_H

/*
 * note_int — what libquipu hangs on a parsed note beside the public
 * accessors of quipu/note.h: its arena, for data made from the note that
 * lives as long as it, and the search index's doc of it (search_int.h),
 * made on the parse worker by qp_ingest_path().
 */

#include "quipu/arena.h"
#include "quipu/note.h"

typedef struct qp__search_doc qp__search_doc; /* search_int.h */

/* The note's own arena (borrowed): freed with the note. */
qp_arena *qp__note_arena(qp_note *note);

/* The search doc made for the note (in its arena), or NULL. */
const qp__search_doc *qp__note_search_doc(const qp_note *note);
void qp__note_set_search_doc(qp_note *note, const qp__search_doc *doc);

#endif
