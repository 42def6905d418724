/*
 * value — lookups in frontmatter value trees. The trees themselves are built
 * by frontmatter.c in a note's arena.
 */
#include "quipu/value.h"

#include <string.h>
#include <strings.h>

const qp_value *qp_value_get(const qp_value *v, const char *key)
{
    if (v == NULL || v->type != QP_VALUE_MAP)
        return NULL;
    for (size_t i = 0; i < v->u.map.n; i++)
        if (strcmp(v->u.map.keys[i], key) == 0)
            return &v->u.map.vals[i];
    return NULL;
}

const qp_value *qp_value_get_ci(const qp_value *v, const char *key)
{
    if (v == NULL || v->type != QP_VALUE_MAP)
        return NULL;
    for (size_t i = 0; i < v->u.map.n; i++)
        if (strcasecmp(v->u.map.keys[i], key) == 0)
            return &v->u.map.vals[i];
    return NULL;
}
