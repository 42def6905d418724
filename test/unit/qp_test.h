#ifndef QP_TEST_H
#define QP_TEST_H

/* Shared helpers for the cmocka unit tests. cmocka needs these four headers
 * first, in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "quipu/error.h"

/* cmocka 1.1.5 prints negative ints in hex; name the code instead. */
#define assert_rc(got, want)                                                        \
    do {                                                                            \
        qp_rc got_ = (got), want_ = (want);                                         \
        if (got_ != want_)                                                          \
            fail_msg("%s: got %s (%d), want %s (%d)", #got, qp_rc_name(got_), got_, \
                     qp_rc_name(want_), want_);                                     \
    } while (0)

#endif
