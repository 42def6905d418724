/*
 * query_param — reading a query's JSON params (see query_param_int.h).
 */
#include "query_param_int.h"

#include <jansson.h>

qp_rc qp__query_param_string(const char **out, json_t *params, const char *name, bool required,
                             qp_error *err)
{
    *out = NULL;
    json_t *v = json_object_get(params, name);
    if (!v || json_is_null(v)) {
        if (required)
            return qp_error_set(err, QP_EINVAL, "missing param: %s", name);
        return QP_OK;
    }
    if (!json_is_string(v))
        return qp_error_set(err, QP_EINVAL, "param %s: expected a string", name);
    *out = json_string_value(v);
    return QP_OK;
}
