# QpCompilerFlags — every target links qp_flags, so one place decides how
# quipu is compiled: C11 without extensions, POSIX 2008 (uv.h needs it),
# warnings as errors, and the sanitizer / fuzzer switches.
option(QP_WERROR "Treat warnings as errors" ON)
option(QP_SANITIZE "AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
option(QP_FUZZ "Build fuzz targets with libFuzzer (clang)" OFF)
option(QP_TSAN "ThreadSanitizer (cannot be combined with QP_SANITIZE)" OFF)
if(QP_TSAN AND QP_SANITIZE)
  message(FATAL_ERROR "QP_TSAN and QP_SANITIZE exclude each other (TSan and ASan cannot share a process)")
endif()

add_library(qp_flags INTERFACE)
target_compile_features(qp_flags INTERFACE c_std_11)
target_compile_definitions(qp_flags INTERFACE _POSIX_C_SOURCE=200809L)
target_compile_options(qp_flags INTERFACE
    -Wall -Wextra -Wpedantic
    -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
    -Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla
    -Wformat=2 -Wundef -Wimplicit-fallthrough
    -Wconversion -Wno-sign-conversion
    $<$<BOOL:${QP_WERROR}>:-Werror>
    -fno-common -fstack-protector-strong
    $<$<CONFIG:Release,RelWithDebInfo>:-D_FORTIFY_SOURCE=2>)
if(QP_SANITIZE)
  target_compile_options(qp_flags INTERFACE
      -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(qp_flags INTERFACE -fsanitize=address,undefined)
endif()
if(QP_TSAN)
  # -O1 keeps TSan's reports readable and its runs fast enough for the
  # integration tests; frame pointers give full stacks.
  target_compile_options(qp_flags INTERFACE -fsanitize=thread -fno-omit-frame-pointer -g -O1)
  target_link_options(qp_flags INTERFACE -fsanitize=thread)
endif()
if(QP_FUZZ) # instrument the library too, or libFuzzer only sees the harness
  target_compile_options(qp_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()
