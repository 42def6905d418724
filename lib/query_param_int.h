#ifndef QUIPU_QUERY_PARAM_INT_H
#define QUIPU_QUERY_PARAM_INT_H

/*
 * query_param_int — reading a query's JSON params (query_param.c): the one
 * reader that every read method uses, below query.c and query_tasks.c,
 * so neither calls into the other for it. Errors name the param.
 */

#include <stdbool.h>

#include "quipu/error.h"

struct json_t;

/* A string param of a query: *out borrows from params; NULL when absent or null.
 * QP_EINVAL (naming the param) when required and absent, or not a string. */
qp_rc qp__query_param_string(const char **out, struct json_t *params, const char *name,
                             bool required, qp_error *err);

#endif
