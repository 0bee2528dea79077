/* Shared by the interceptors and middleware: everything a file of
 * middleware/ uses from interceptors/ is declared here, and only here.
 * Interceptors and middleware sit on the chain and model layers of core/
 * (docs/internals/LAYERS.md); nothing in core/ includes this header.
 * Never installed. */
#ifndef IRPC_IC_INTERNAL_H
#define IRPC_IC_INTERNAL_H

#include "base/defaults.h"
#include "chain/chain.h" /* IRPC__CLIENT, IRPC__SERVER */
#include "irpc/clock.h"
#include "irpc/compress.h"
#include "irpc/logger.h"
#include "irpc/metrics.h"
#include "irpc/stream.h"
#include "irpc/telemetry.h"

/* ---- Compression (interceptors/compress/) ---- */

/* The compress payload writer (interceptors/compress/writer.c). */
extern const irpc_payload_writer_ops irpc__compress_writer;

/* IRPC_EINVAL when the options are invalid, else 0. */
int irpc__compress_options_check(const irpc_compress_options *o);

/* Decompresses `payload` in place when `fields` carry a compression format
 * this build reads (the field is then removed); format 0 (NotCompressed)
 * or no field: nothing to do. Errors: IRPC_EDATA (corrupt, or a field
 * that is not one byte), IRPC_ENOTSUP (a format this build does not read),
 * IRPC_ELIMIT, IRPC_ENOMEM. */
int irpc__decompress_payload(irpc_fields *fields, irpc_buf *payload,
                             uint64_t max_size);

/* The same for a payload read as a stream (irpc/stream.h): installs the
 * decompressing transform on `r`, each chunk decompressing to at most
 * `max_chunk` bytes. Errors: as irpc__decompress_payload, IRPC_EBUSY. */
int irpc__decompress_stream(irpc_fields *fields, irpc_stream_reader *r,
                            uint64_t max_chunk);

/* Whether to compress the payload the features `f` belong to: 2 (the
 * compress feature asks for it), 1 (`always`, the feature absent) or 0. */
int irpc__compress_wanted(const irpc_features *f, int always);

/* The compress writer on a request; `contract` = the compress feature
 * asked for it (an IceRPC peer may then be sent Deflate or Brotli). */
int irpc__compress_use_on_request(irpc_outgoing_request *r,
                                  const irpc_compress_options *o, int contract);

/* The compress writer on a response for a caller that decompresses the
 * formats in `accept` (irpc__compress_accepted of its request). */
int irpc__compress_use_on_response_for(irpc_outgoing_response *r,
                                       const irpc_compress_options *o,
                                       int contract, uint64_t accept);

/* ---- Deadlines, PRNG (interceptors/deadline.c) ---- */

/* The deadline feature's value: stored by the collection (heap) or
 * borrowed from a dispatch's state. */
typedef struct irpc__deadline_value {
  int64_t unix_ns;
  int heap;
} irpc__deadline_value;

/* The deadline of a request: its deadline field when present and valid,
 * else its deadline feature. Returns 1 and sets *unix_ns, or 0. */
int irpc__request_deadline(irpc_outgoing_request *r, int64_t *unix_ns);

/* A small PRNG (xorshift64*) for jitter and span ids: the next value of
 * `state`, and a seed that differs between calls on any thread. */
uint64_t irpc__ic_rand_next(uint64_t *state);
uint64_t irpc__ic_rand_seed(void);

#include "irpc/slice.h"

/* Writes a field value with the Slice2 encoder. Its errors stick in the
 * encoder, which the helpers below read when they flush it. */
typedef void (*irpc__ic_encode_fn)(irpc_slice_encoder *e, const void *value);

/* Stack room for a field value: one that fits costs no allocation. */
#define IRPC__IC_FIELD_INLINE 512

/* Encodes `value` with `enc` and sets it as field `key` of `fields`.
 * Errors: those of the encoder (IRPC_EUTF8, IRPC_EOVERFLOW...),
 * IRPC_ENOMEM. */
int irpc__ic_field_set(irpc_fields *fields, uint64_t key,
                       irpc__ic_encode_fn enc, const void *value);

/* Appends the encoding of `value` to `out`; on error `out` is unchanged.
 * Errors: those of the encoder (IRPC_EUTF8, IRPC_EOVERFLOW...),
 * IRPC_ENOMEM. */
int irpc__ic_encode(irpc_buf *out, irpc__ic_encode_fn enc, const void *value);

/* A Slice2 decoder over a field value. Strings are views into it, so the
 * collection allocation is not bounded: the value bounds it. */
void irpc__ic_decoder_init(irpc_slice_decoder *d, irpc_bytes value);

/* A decoding error as a field decoder reports it: IRPC_EUTF8 and
 * IRPC_ENOMEM as they are, any other malformation IRPC_EDATA. */
int irpc__ic_decode_error(int rc);

/* ---- Metrics (interceptors/metrics.c) ---- */

/* Binds `m` to one side: IRPC__CLIENT (the interceptor) or IRPC__SERVER
 * (the middleware). Errors: IRPC_EINVAL (already counting the other). */
int irpc__metrics_attach(irpc_metrics *m, int side);
/* A call or dispatch starts. */
void irpc__metrics_start(irpc_metrics *m);
/* It ended after `ns`, failed (error or non-Ok status) or canceled. */
void irpc__metrics_end(irpc_metrics *m, uint64_t ns, int failed, int canceled);

/* ---- Logging (interceptors/logger.c) ---- */

/* Copies `o` (or the defaults) into *dst and checks it; when it logs,
 * *clock = its clock (irpc_clock_take), else NULL is left there.
 * Errors: IRPC_EINVAL, IRPC_ENOMEM. */
int irpc__logger_init(irpc_logger_options *dst, irpc_clock **clock,
                      const irpc_logger_options *o, uv_loop_t *loop);

/* Fills the level and event of `r` from its error and status, then hands
 * it to the sink of `o`. */
void irpc__log_emit(const irpc_logger_options *o, irpc_log_record *r);

/* ---- Telemetry (interceptors/telemetry.c) ---- */

/* Fills the default context of a new span: the trace of `parent` (or a new
 * one from `rng`) and a new span id. */
void irpc__span_defaults(uint64_t *rng, const irpc_trace_context *parent,
                         irpc_trace_context *ctx);

#endif
