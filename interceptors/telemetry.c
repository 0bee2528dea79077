/* Trace context encoding and the telemetry interceptor. */
#include <string.h>

#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/telemetry.h"
#include "base/struct_size.h"

const irpc_feature_key irpc_trace_context_feature = {.name = "trace_context",
                                                     .destroy = NULL};

/* The fixed head of the encoding, W3C trace-context fields in order: the
 * version byte, the trace id, the span id, the flags byte. */
#define TC_TRACE_ID_SIZE 16
#define TC_SPAN_ID_SIZE 8
#define TC_VERSION_AT 0
#define TC_TRACE_ID_AT (TC_VERSION_AT + 1)
#define TC_SPAN_ID_AT (TC_TRACE_ID_AT + TC_TRACE_ID_SIZE)
#define TC_FLAGS_AT (TC_SPAN_ID_AT + TC_SPAN_ID_SIZE)
#define TC_HEAD_SIZE (TC_FLAGS_AT + 1)

static size_t str_size(irpc_bytes s) {
  return irpc__varuint62_size(s.len) + s.len;
}

static uint8_t *put_str(uint8_t *p, irpc_bytes s) {
  p += irpc__varuint62_put_min(p, s.len);
  if (s.len)
    memcpy(p, s.base, s.len);
  return p + s.len;
}

/* Size of the flat encoding, and the encoding itself. */
static size_t tc_size(const irpc_trace_context *c, size_t *nbag) {
  size_t n = TC_HEAD_SIZE + str_size(c->trace_state);
  size_t count = c->baggage_count;
  if (count > IRPC_TELEMETRY_MAX_BAGGAGE)
    count = IRPC_TELEMETRY_MAX_BAGGAGE;
  *nbag = count;
  n += irpc__varuint62_size(count);
  if (c->baggage) {
    for (size_t i = 0; i < count; i++)
      n += str_size(c->baggage[i].key) + str_size(c->baggage[i].value);
  } else {
    n += c->baggage_wire.len;
  }
  return n;
}

static void tc_write(const irpc_trace_context *c, size_t nbag, uint8_t *p) {
  p[TC_VERSION_AT] = c->version;
  memcpy(p + TC_TRACE_ID_AT, c->trace_id, TC_TRACE_ID_SIZE);
  memcpy(p + TC_SPAN_ID_AT, c->span_id, TC_SPAN_ID_SIZE);
  p[TC_FLAGS_AT] = c->trace_flags;
  p = put_str(p + TC_HEAD_SIZE, c->trace_state);
  p += irpc__varuint62_put_min(p, nbag);
  if (c->baggage) {
    for (size_t i = 0; i < nbag; i++) {
      p = put_str(p, c->baggage[i].key);
      p = put_str(p, c->baggage[i].value);
    }
  } else if (c->baggage_wire.len) {
    memcpy(p, c->baggage_wire.base, c->baggage_wire.len);
  }
}

int irpc_trace_context_encode(const irpc_trace_context *ctx, irpc_buf *out) {
  if (!ctx || !out)
    return IRPC_EINVAL;
  size_t nbag, n = tc_size(ctx, &nbag);
  uint8_t *p;
  size_t avail;
  int rc = irpc_buf_reserve(out, n, &p, &avail);
  if (rc)
    return rc;
  tc_write(ctx, nbag, p);
  return irpc_buf_commit(out, n);
}

static int get_str(irpc_bytes *in, irpc_bytes *s) {
  irpc__vu_reader r = {in->base, in->len, 0};
  size_t len = 0;
  const uint8_t *b = irpc__vu_read_bytes(&r, &len);
  if (r.bad)
    return IRPC_EDATA;
  s->base = b;
  s->len = len;
  in->base = r.p;
  in->len = r.left;
  return 0;
}

int irpc_trace_context_baggage_next(irpc_bytes *cursor, irpc_baggage_entry *e) {
  if (!cursor || !e || cursor->len == 0)
    return 0;
  irpc_bytes c = *cursor;
  if (get_str(&c, &e->key) || get_str(&c, &e->value))
    return 0;
  *cursor = c;
  return 1;
}

int irpc_trace_context_decode(irpc_bytes v, irpc_trace_context *ctx) {
  if (!ctx || (!v.base && v.len))
    return IRPC_EINVAL;
  memset(ctx, 0, sizeof(*ctx));
  if (v.len < TC_HEAD_SIZE)
    return IRPC_EDATA;
  ctx->version = v.base[TC_VERSION_AT];
  memcpy(ctx->trace_id, v.base + TC_TRACE_ID_AT, TC_TRACE_ID_SIZE);
  memcpy(ctx->span_id, v.base + TC_SPAN_ID_AT, TC_SPAN_ID_SIZE);
  ctx->trace_flags = v.base[TC_FLAGS_AT];
  irpc_bytes in = {v.base + TC_HEAD_SIZE, v.len - TC_HEAD_SIZE};
  if (get_str(&in, &ctx->trace_state))
    return IRPC_EDATA;
  uint64_t count;
  size_t k = irpc__varuint62_get(in.base, in.len, &count);
  if (!k)
    return IRPC_EDATA;
  in.base += k;
  in.len -= k;
  uint64_t kept =
      count < IRPC_TELEMETRY_MAX_BAGGAGE ? count : IRPC_TELEMETRY_MAX_BAGGAGE;
  const uint8_t *start = in.base;
  for (uint64_t i = 0; i < kept; i++) {
    irpc_bytes key, value;
    if (get_str(&in, &key) || get_str(&in, &value))
      return IRPC_EDATA;
  }
  ctx->baggage_count = (size_t)kept;
  ctx->baggage_wire.base = start;
  ctx->baggage_wire.len = (size_t)(in.base - start);
  return 0; /* entries beyond 64 are left unread, as IceRPC does */
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
    memcpy(ctx->trace_id, &a, 8);
    memcpy(ctx->trace_id + 8, &b, 8);
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
  size_t nbag, n = tc_size(&ctx, &nbag);
  uint8_t small[256];
  uint8_t *buf = n <= sizeof(small) ? small : irpc_malloc(n);
  int rc = IRPC_ENOMEM;
  if (buf) {
    tc_write(&ctx, nbag, buf);
    rc = irpc_fields_set(irpc_outgoing_request_fields(req),
                         IRPC_REQUEST_FIELD_TRACE_CONTEXT, buf, n);
    if (buf != small)
      irpc_free(buf);
  }
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
