/* irpc-slicec: the C code generator.
 *
 * Writes `X.slice.h` and `X.slice.c` for every source file of a model that
 * slicec_compile accepted (reference files generate nothing), in the shape
 * docs/internals/SLICE_GEN.md specifies and tests/slice_gen/ shows.
 *
 * An operation with a `stream` parameter or return member is left out, and
 * reported as an error naming it ("streams are not supported yet"); the
 * rest of the file is still generated. Other problems the generator finds
 * (two Slice names with one C name, a custom type without
 * [c::type("...")], a Slice1 file) are errors too. */
#ifndef IRPC_SLICEC_GEN_C_H
#define IRPC_SLICEC_GEN_C_H

#include "slicec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Generates C for every non-reference file of `ast` into `output_dir`
 * (which must exist). Diagnostics go to `fn` (NULL: stderr, as
 * slicec_format_diag). Returns the number of errors reported: 0 means
 * every file was written completely; a file that cannot be written is one
 * error (code "E200"). */
size_t slicec_gen_c(const slicec_ast *ast, const char *output_dir,
                    slicec_diag_fn fn, void *user_data);

#ifdef __cplusplus
}
#endif

#endif
