/* Internals shared by the files of the generated-code runtime. */
#ifndef IRPC_SLICE_GEN_INTERNAL_H
#define IRPC_SLICE_GEN_INTERNAL_H

#include "irpc/slice_gen.h"

/* Writes one operation segment to `out`: a 4-byte size placeholder, the
 * members fn writes, the tag end marker, then the size patched. */
int irpc__slice_gen_encode_segment(irpc_buf *out, irpc_slice_encode_fn fn,
                                   const void *values);

/* Reads one operation segment with fn (NULL: no members; an empty input is
 * then accepted), skips unknown tagged members, and checks that nothing is
 * left in the segment or after it. */
int irpc__slice_gen_decode_segment(irpc_slice_in *in, irpc_slice_decode_fn fn,
                                   void *values);

/* The descriptors the generator emits are read in place: 1 when `iface`
 * (its magic and struct_size) or `op` (its struct_size) is one this runtime
 * reads, one comparison for one of this version. A member added after the
 * first version is read only where IRPC__HAS says the descriptor has it. */
int irpc__slice_iface_ok(const irpc_slice_iface *iface);
int irpc__slice_op_ok(const irpc_slice_op *op);

#endif
