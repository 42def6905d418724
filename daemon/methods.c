/*
 * methods — the method table; see methods.h.
 *
 * One line per method, in any order (looked up by a linear search: the
 * table is short, and a sorted order would be one more thing to get wrong
 * when adding a line).
 */

#include "methods.h"

#include <string.h>

static const qpd_method methods[] = {
    {"backlinks", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE, QPD_LOOP_NONE},
    {"mentions", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE, QPD_LOOP_NONE},
    {"note", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE, QPD_LOOP_NONE},
    {"resolve", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE, QPD_LOOP_NONE},
    {"search", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE, QPD_LOOP_NONE},
    {"status", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_STATE, QPD_LOOP_NONE},
    /* Task queries count relative dates from the local date when the
     * params give no `today`: their answers are cached per day too. */
    {"tasks.blocks", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE | QPD_DATED, QPD_LOOP_NONE},
    {"tasks.query", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE | QPD_DATED, QPD_LOOP_NONE},
    {"backlinks.locations", QPD_ON_WORKER | QPD_SUBSCRIBABLE | QPD_CACHEABLE, QPD_LOOP_NONE},
    {"backlinks.subpath", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"complete.blocks", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"complete.headings", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"complete.notes", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"complete.tags", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"complete.values", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"list", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"problems", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"symbols", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"symbols.search", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    {"unresolved", QPD_ON_WORKER | QPD_SUBSCRIBABLE, QPD_LOOP_NONE},
    /* A plan is computed against the files as they are: never from a cache. */
    {"rename.plan", QPD_ON_WORKER, QPD_LOOP_NONE},
    {"subscribe", QPD_ON_LOOP, QPD_LOOP_SUBSCRIBE},
    {"unsubscribe", QPD_ON_LOOP, QPD_LOOP_UNSUBSCRIBE},
};

const qpd_method *qpd_method_find(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

const qpd_method *qpd_method_at(size_t i)
{
    return i < sizeof methods / sizeof methods[0] ? &methods[i] : NULL;
}
