/*
 * error — qp_rc names and the qp_error record. Nothing here allocates: an
 * error must be reportable when memory has run out.
 */
#include "quipu/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *qp_rc_name(qp_rc rc)
{
    switch (rc) {
    case QP_OK:
        return "QP_OK";
    case QP_ENOMEM:
        return "QP_ENOMEM";
    case QP_EIO:
        return "QP_EIO";
    case QP_EINVAL:
        return "QP_EINVAL";
    case QP_ENOTFOUND:
        return "QP_ENOTFOUND";
    case QP_ECORRUPT:
        return "QP_ECORRUPT";
    case QP_EQUERY:
        return "QP_EQUERY";
    case QP_EBUSY:
        return "QP_EBUSY";
    case QP_ETOOBIG:
        return "QP_ETOOBIG";
    case QP_EFULL:
        return "QP_EFULL";
    default:
        return "QP_E?";
    }
}

qp_rc qp_error_set(qp_error *err, qp_rc code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    memset(err, 0, sizeof *err);
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void qp_error_clear(qp_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof *err);
}
