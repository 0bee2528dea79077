/* irpc: trace context propagation (interceptor and middleware), as
 * IceRPC's Telemetry, with span hooks to bridge to any tracer.
 *
 * Wire: the request field IRPC_REQUEST_FIELD_TRACE_CONTEXT (1), exactly as
 * IceRPC writes it (a Slice compact struct):
 *   uint8 version (0), 16-byte trace-id, 8-byte span-id, uint8 trace-flags
 *   (the W3C traceparent in binary), then the tracestate as a Slice string,
 *   then the baggage as Sequence<{string key, string value}> (a varuint62
 *   count, then key and value strings), at most 64 entries.
 *
 * Interceptor: for each call it starts a client span, writes the span's
 * context into the field, and ends the span when the call completes. The
 * parent is the request's trace context feature, if any (set it from the
 * incoming request's feature to propagate a trace through a server). With
 * hooks, `start` decides the span's ids; without, the trace id comes from
 * the parent (or is random) and the span id is random.
 *
 * Middleware: decodes the field (a malformed one is ignored, as a tracing
 * failure must not fail the call), starts a server span whose parent is
 * the decoded context, sets the trace context feature on the incoming
 * request for the duration of the dispatch, and ends the span with the
 * response's status. Baggage beyond 64 entries is dropped silently.
 *
 * The span hooks are how a tracer (OpenTelemetry, ...) is plugged in. */
#ifndef IRPC_TELEMETRY_H
#define IRPC_TELEMETRY_H

#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IRPC_TELEMETRY_MAX_BAGGAGE 64

typedef struct irpc_baggage_entry {
  irpc_bytes key; /* UTF-8, not NUL-terminated */
  irpc_bytes value;
} irpc_baggage_entry;

typedef struct irpc_trace_context {
  uint8_t version; /* 0 */
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t trace_flags;    /* W3C: bit 0 = sampled */
  irpc_bytes trace_state; /* W3C tracestate, UTF-8; may be empty */
  /* Baggage to send: `baggage` entries (clipped to 64)... */
  const irpc_baggage_entry *baggage;
  size_t baggage_count;
  /* ...or, in a decoded context (baggage NULL), the encoded entries
   * (baggage_count of them, already clipped), read with
   * irpc_trace_context_baggage_next. Sent as they are when propagated. */
  irpc_bytes baggage_wire;
} irpc_trace_context;

/* The trace context feature: a `const irpc_trace_context *`, borrowed (the
 * collection never releases it). The middleware sets it on incoming
 * requests for the duration of the dispatch; the interceptor reads it from
 * outgoing requests as the parent. */
IRPC_API extern const irpc_feature_key irpc_trace_context_feature;

/* Encodes `ctx` as the field value (appended to `out`; unchanged on
 * error).
 * Errors: IRPC_EINVAL, IRPC_EUTF8 (a trace state or baggage string that is
 * not UTF-8), IRPC_ENOMEM. */
IRPC_API int irpc_trace_context_encode(const irpc_trace_context *ctx,
                                       irpc_buf *out);

/* Decodes a field value; the views in *ctx point into `value`.
 * Errors: IRPC_EINVAL, IRPC_EDATA (truncated or malformed). */
IRPC_API int irpc_trace_context_decode(irpc_bytes value,
                                       irpc_trace_context *ctx);

/* Reads the next baggage entry of a decoded context: *cursor starts as
 * ctx->baggage_wire and advances. Returns 1 with an entry, 0 at the end. */
IRPC_API int irpc_trace_context_baggage_next(irpc_bytes *cursor,
                                             irpc_baggage_entry *entry);

enum { IRPC_SPAN_CLIENT = 1, IRPC_SPAN_SERVER = 2 };

/* Write `.struct_size = sizeof(irpc_telemetry_hooks)` in the initializer
 * (irpc/version.h). */
typedef struct irpc_telemetry_hooks {
  size_t struct_size; /* sizeof(irpc_telemetry_hooks) */
  /* A span starts. `parent` is the parent context or NULL. `ctx` comes
   * filled with defaults (the parent's trace id and flags or a random trace
   * id, a random span id, no tracestate or baggage); the hook may change
   * it: for a client span it is what is sent. Pointers the hook stores in
   * ctx must stay valid until `end`. Returns the span handle given to end
   * (may be NULL). */
  void *(*start)(void *user_data, int kind, const char *path,
                 const char *operation, const irpc_trace_context *parent,
                 irpc_trace_context *ctx);
  /* The span ends: `err` is 0 or the call's library error (client spans),
   * `status` the response's status when err is 0. */
  void (*end)(void *user_data, void *span, int err, uint64_t status);
  void *user_data;
} irpc_telemetry_hooks;

/* `hooks` (copied) may be NULL: then only the context is propagated.
 * Errors: IRPC_EINVAL (out or loop NULL; hooks->struct_size 0, smaller than
 * the first irpc_telemetry_hooks, or larger with non-zero unknown members),
 * IRPC_ENOMEM. */
IRPC_API int irpc_telemetry_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                            const irpc_telemetry_hooks *hooks);
IRPC_API int irpc_telemetry_middleware_new(irpc_dispatcher **out,
                                           uv_loop_t *loop,
                                           const irpc_telemetry_hooks *hooks);

#ifdef __cplusplus
}
#endif
#endif
