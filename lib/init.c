/*
 * init — process-wide setup of libquipu (see quipu/init.h).
 *
 * The only global state libquipu touches is cmark-gfm's extension
 * registry; pthread_once makes its one-time fill safe to trigger from any
 * thread, including the daemon's parse workers.
 */
#include "quipu/init.h"

#include <pthread.h>

#include <cmark-gfm-core-extensions.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_extensions(void)
{
    cmark_gfm_core_extensions_ensure_registered();
}

void qp_init(void)
{
    pthread_once(&once, register_extensions);
}
