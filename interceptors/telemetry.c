/* Trace context encoding and the telemetry interceptor. */
#include <string.h>

#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/telemetry.h"
#include "base/struct_size.h"

const irpc_feature_key irpc_trace_context_feature = {.name = "trace_context",
                                                     .destroy = NULL};

/* The encoding (IceRPC's TraceContext): the W3C trace-context fields in
 * order (the version byte, the trace id, the span id, the flags byte), the
 * trace state string, then the baggage, a sequence of key/value strings. */
#define TC_TRACE_ID_SIZE 16
#define TC_SPAN_ID_SIZE 8

static void enc_str(irpc_slice_encoder *e, irpc_bytes s) {
  irpc_slice_encode_string(e, (const char *)s.base, s.len);
}

static void tc_encode(irpc_slice_encoder *e, const void *value) {
  const irpc_trace_context *c = value;
  size_t n = c->baggage_count < IRPC_TELEMETRY_MAX_BAGGAGE
                 ? c->baggage_count
                 : IRPC_TELEMETRY_MAX_BAGGAGE;
  irpc_slice_encode_uint8(e, c->version);
  irpc_slice_encode_bytes(e, c->trace_id, TC_TRACE_ID_SIZE);
  irpc_slice_encode_bytes(e, c->span_id, TC_SPAN_ID_SIZE);
  irpc_slice_encode_uint8(e, c->trace_flags);
  enc_str(e, c->trace_state);
  irpc_slice_encode_size(e, n);
  if (c->baggage) {
    for (size_t i = 0; i < n; i++) {
      enc_str(e, c->baggage[i].key);
      enc_str(e, c->baggage[i].value);
    }
  } else { /* decoded entries, sent as they came */
    irpc_slice_encode_bytes(e, c->baggage_wire.base, c->baggage_wire.len);
  }
}

int irpc_trace_context_encode(const irpc_trace_context *ctx, irpc_buf *out) {
  if (!ctx || !out)
    return IRPC_EINVAL;
  return irpc__ic_encode(out, tc_encode, ctx);
}

static int dec_entry(irpc_slice_decoder *d, irpc_baggage_entry *e) {
  int rc = irpc_slice_decode_string(d, &e->key);
  return rc ? rc : irpc_slice_decode_string(d, &e->value);
}

int irpc_trace_context_baggage_next(irpc_bytes *cursor, irpc_baggage_entry *e) {
  if (!cursor || !e || cursor->len == 0)
    return 0;
  irpc_slice_decoder d;
  irpc__ic_decoder_init(&d, *cursor);
  int rc = dec_entry(&d, e);
  size_t used = irpc_slice_decoder_pos(&d);
  irpc_slice_decoder_fini(&d);
  if (rc)
    return 0;
  cursor->base += used;
  cursor->len -= used;
  return 1;
}

/* The baggage: its count, then the first IRPC_TELEMETRY_MAX_BAGGAGE
 * entries, kept encoded; those beyond are left unread, as IceRPC does. */
static int tc_decode_baggage(irpc_slice_decoder *d, irpc_bytes v,
                             irpc_trace_context *ctx) {
  uint64_t count;
  int rc = irpc_slice_decode_varuint62(d, &count);
  uint64_t kept =
      count < IRPC_TELEMETRY_MAX_BAGGAGE ? count : IRPC_TELEMETRY_MAX_BAGGAGE;
  size_t start = irpc_slice_decoder_pos(d);
  for (uint64_t i = 0; i < kept && rc == 0; i++) {
    irpc_baggage_entry e;
    rc = dec_entry(d, &e);
  }
  if (rc)
    return rc;
  ctx->baggage_count = (size_t)kept;
  ctx->baggage_wire.base = v.base + start;
  ctx->baggage_wire.len = irpc_slice_decoder_pos(d) - start;
  return 0;
}

static int tc_decode(irpc_slice_decoder *d, irpc_bytes v,
                     irpc_trace_context *ctx) {
  irpc_slice_decode_uint8(d, &ctx->version);
  irpc_slice_decode_bytes(d, ctx->trace_id, TC_TRACE_ID_SIZE);
  irpc_slice_decode_bytes(d, ctx->span_id, TC_SPAN_ID_SIZE);
  irpc_slice_decode_uint8(d, &ctx->trace_flags);
  int rc = irpc_slice_decode_string(d, &ctx->trace_state);
  return rc ? rc : tc_decode_baggage(d, v, ctx);
}

int irpc_trace_context_decode(irpc_bytes v, irpc_trace_context *ctx) {
  if (!ctx || (!v.base && v.len))
    return IRPC_EINVAL;
  memset(ctx, 0, sizeof(*ctx));
  irpc_slice_decoder d;
  irpc__ic_decoder_init(&d, v);
  int rc = tc_decode(&d, v, ctx);
  irpc_slice_decoder_fini(&d);
  return rc ? IRPC_EDATA : 0;
}

/* Fills the default context of a new span. */
void irpc__span_defaults(uint64_t *rng, const irpc_trace_context *parent,
                         irpc_trace_context *ctx);
void irpc__span_defaults(uint64_t *rng, const irpc_trace_context *parent,
                         irpc_trace_context *ctx) {
  memset(ctx, 0, sizeof(*ctx));
  if (parent) {
    memcpy(ctx->trace_id, parent->trace_id, TC_TRACE_ID_SIZE);
    ctx->trace_flags = parent->trace_flags;
    ctx->trace_state = parent->trace_state;
    ctx->baggage = parent->baggage;
    ctx->baggage_count = parent->baggage_count;
    ctx->baggage_wire = parent->baggage_wire;
  } else {
    uint64_t a = irpc__ic_rand_next(rng), b = irpc__ic_rand_next(rng);
    memcpy(ctx->trace_id, &a, sizeof(a));
    memcpy(ctx->trace_id + sizeof(a), &b, sizeof(b));
  }
  uint64_t s = irpc__ic_rand_next(rng);
  memcpy(ctx->span_id, &s, TC_SPAN_ID_SIZE);
}

/* ---- The interceptor ---- */

typedef struct tic {
  irpc_telemetry_hooks hooks;
  uint64_t rng;
} tic;

typedef struct tic_state {
  void *span;
} tic_state;

static int tic_init(irpc_invoker *self, const void *config) {
  tic *t = irpc_invoker_data(self);
  if (config)
    t->hooks = *(const irpc_telemetry_hooks *)config;
  t->rng = irpc__ic_rand_seed();
  return 0;
}

static void tic_invoke(irpc_invoker *self, irpc_call *call) {
  tic *t = irpc_invoker_data(self);
  irpc_outgoing_request *req = irpc_call_request(call);
  const irpc_trace_context *parent = irpc_features_get(
      irpc_outgoing_request_features(req), &irpc_trace_context_feature);
  irpc_trace_context ctx;
  irpc__span_defaults(&t->rng, parent, &ctx);
  tic_state *s = irpc_call_state(call);
  if (t->hooks.start)
    s->span = t->hooks.start(
        t->hooks.user_data, IRPC_SPAN_CLIENT, irpc_outgoing_request_path(req),
        irpc_outgoing_request_operation(req), parent, &ctx);
  int rc =
      irpc__ic_field_set(irpc_outgoing_request_fields(req),
                         IRPC_REQUEST_FIELD_TRACE_CONTEXT, tc_encode, &ctx);
  if (rc)
    irpc_call_complete(call, rc, NULL);
  else
    irpc_call_next(call);
}

static int tic_on_complete(irpc_invoker *self, irpc_call *call) {
  tic *t = irpc_invoker_data(self);
  if (!t->hooks.end)
    return 0;
  tic_state *s = irpc_call_state(call);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  t->hooks.end(t->hooks.user_data, s->span, resp ? 0 : err,
               resp ? irpc_incoming_response_status(resp) : 0);
  return 0;
}

static const irpc_invoker_ops tic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "telemetry",
    .data_size = sizeof(tic),
    .call_state_size = sizeof(tic_state),
    .init = tic_init,
    .invoke = tic_invoke,
    .on_complete = tic_on_complete,
};

int irpc_telemetry_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                   const irpc_telemetry_hooks *hooks) {
  irpc_telemetry_hooks c;
  if (hooks && IRPC__IMPORT(&c, hooks, irpc_telemetry_hooks) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &tic_ops, hooks ? &c : NULL);
}
