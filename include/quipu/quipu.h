#ifndef QUIPU_QUIPU_H
#define QUIPU_QUIPU_H

/* libquipu — the umbrella header: every public module. */

#include "quipu/arena.h"
#include "quipu/error.h"
#include "quipu/frontmatter.h"
#include "quipu/ingest.h"
#include "quipu/init.h"
#include "quipu/links.h"
#include "quipu/note.h"
#include "quipu/query.h"
#include "quipu/store.h"
#include "quipu/symcat.h"
#include "quipu/taskcat.h"
#include "quipu/taskquery.h"
#include "quipu/tasks.h"
#include "quipu/text.h"
#include "quipu/value.h"
#include "quipu/vault.h"
#include "quipu/vaultconf.h"
#include "quipu/version.h"

#endif
