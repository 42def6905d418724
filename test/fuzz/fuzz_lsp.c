/*
 * fuzz_lsp — the language server's message path without a daemon: the
 * input is the byte stream an editor would write to `quipu lsp`'s stdin. It
 * goes through the whole server (framing, JSON, lifecycle, open documents
 * and their incremental edits, the handlers that answer from a document's
 * own text) with the server offline, so no vault is looked up and no
 * daemon started; the answers go to /dev/null. Then the same bytes, read
 * as a document, check the position conversions' invariants.
 *
 * Invariants (abort on failure): the server returns; for every byte offset
 * o, offset(position(o)) <= o maps to the same position, in both encodings.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmark-gfm-core-extensions.h>

#include "lsp/lsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_positions(const uint8_t *data, size_t size)
{
    qpl_text t = {0};

    if (qpl_text_set(&t, (const char *)data, size) != 0)
        return;
    for (int e = 0; e < 2; e++) {
        for (size_t o = 0; o <= size && o < 4096; o++) {
            uint32_t l, c, l2, c2;
            size_t back;

            qpl_text_position(&t, o, (qpl_encoding)e, &l, &c);
            back = qpl_text_offset(&t, l, c, (qpl_encoding)e);
            qpl_text_position(&t, back, (qpl_encoding)e, &l2, &c2);
            if (back > o || l2 != l || c2 != c)
                abort();
        }
    }
    qpl_text_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    FILE *in = tmpfile();
    int out = open("/dev/null", O_WRONLY);

    if (!init) {
        cmark_gfm_core_extensions_ensure_registered();
        init = true;
    }
    if (in == NULL || out < 0)
        abort();
    if (size > 0 && fwrite(data, 1, size, in) != size)
        abort();
    fflush(in);
    rewind(in);
    qpl_serve(fileno(in), out, NULL, NULL, true);
    fclose(in);
    close(out);
    check_positions(data, size);
    return 0;
}
