/* Internals shared by the files of the generated-code runtime. */
#ifndef IRPC_SLICE_GEN_INTERNAL_H
#define IRPC_SLICE_GEN_INTERNAL_H

#include "irpc/slice_gen.h"

/* Writes the payload of `op`'s arguments or return value to `out` with fn:
 * in Slice2 one segment (a 4-byte size placeholder, the members, the tag
 * end marker, the size patched); in Slice1 the members alone, encoding
 * 1.1. */
int irpc__slice_gen_encode_payload(irpc_buf *out, int slice1,
                                   irpc_slice_encode_fn fn, const void *values);

/* Reads such a payload with fn (NULL: no members; an empty input is then
 * accepted), skips unknown tagged members, and checks that nothing is left.
 * `in` was set up in the payload's encoding. */
int irpc__slice_gen_decode_payload(irpc_slice_in *in, int slice1,
                                   irpc_slice_decode_fn fn, void *values);

/* The descriptors the generator emits are read in place: 1 when `iface`
 * (its magic and struct_size) or `op` (its struct_size) is one this runtime
 * reads, one comparison for one of this version. A member added after the
 * first version is read only where IRPC__HAS says the descriptor has it. */
int irpc__slice_iface_ok(const irpc_slice_iface *iface);
int irpc__slice_op_ok(const irpc_slice_op *op);

/* 1 when the operation or interface is Slice1 (encoding 1.1). */
int irpc__slice_op_slice1(const irpc_slice_op *op);

/* The element of the stream ending the parameters, or NULL. */
const irpc_slice_stream_elem *
irpc__slice_op_param_stream(const irpc_slice_op *op);

/* An encode function writing no member (an empty struct). */
int irpc__slice_encode_nothing(irpc_slice_encoder *e, const void *values);

/* The element of the stream ending the return value, or NULL. */
const irpc_slice_stream_elem *
irpc__slice_op_return_stream(const irpc_slice_op *op);

/* A consumer that first hands the leading segment (its size and bytes, in
 * a buffer the callee frees with irpc_free) to `fn`, or an error (the
 * stream ended or failed before it: then `seg` is NULL and the consumer is
 * ended), and keeps the elements that follow until a handler is attached.
 * `fn` runs last in the callback that calls it: it may free the consumer. */
typedef void (*irpc__slice_head_fn)(void *ud, int err, uint8_t *seg,
                                    size_t len);
int irpc__slice_stream_reader_head(irpc_slice_stream_reader **out,
                                   irpc_stream_reader *r,
                                   const irpc_slice_stream_elem *elem,
                                   irpc__slice_head_fn fn, void *ud);
/* Attaches the handler: the elements received so far (and the end, when it
 * came) are delivered on a later loop turn, never within this call.
 * Errors: IRPC_EINVAL,
 * IRPC_EBUSY (attached already, or the segment not received yet). */
int irpc__slice_stream_reader_attach(irpc_slice_stream_reader *s,
                                     const irpc_slice_stream_handler *h,
                                     void *ud);
int irpc__slice_iface_slice1(const irpc_slice_iface *iface);

/* The exceptions `op` may throw (*n of them; NULL when none). */
const irpc_slice_exception_desc *const *
irpc__slice_op_exceptions(const irpc_slice_op *op, size_t *n);

/* The operations of ::Ice::Object a Slice1 interface answers: the
 * descriptor named `name`, or NULL. Their `call` reads the interface from
 * the dispatch (irpc__slice_dispatch_iface). */
const irpc_slice_op *irpc__slice_ice_object_op(const char *name);
const irpc_slice_iface *
irpc__slice_dispatch_iface(const irpc_slice_dispatch *sd);

/* Applies the irpc_slice_limits feature of `f` (if any) to in's decoder.
 * Returns 0 or IRPC_EINVAL (a struct_size the library refuses). */
int irpc__slice_in_apply_limits(irpc_slice_in *in, const irpc_features *f);

#endif
