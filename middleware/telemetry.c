/* The telemetry middleware (see irpc/telemetry.h). */
#include <string.h>

#include "ic_internal.h"
#include "irpc/telemetry.h"
#include "base/struct_size.h"

typedef struct tmw {
  irpc_telemetry_hooks hooks;
  uint64_t rng;
} tmw;

typedef struct tmw_state {
  irpc_trace_context parent; /* decoded: views into the request's field */
  irpc_trace_context ctx;    /* the server span's own context */
  void *span;
  int has_feature;
} tmw_state;

static int tmw_init(irpc_dispatcher *self, const void *config) {
  tmw *t = irpc_dispatcher_data(self);
  if (config)
    t->hooks = *(const irpc_telemetry_hooks *)config;
  t->rng = irpc__ic_rand_seed();
  return 0;
}

static void tmw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  tmw *t = irpc_dispatcher_data(self);
  tmw_state *s = irpc_dispatch_state(d);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_bytes v;
  const irpc_trace_context *parent = NULL;
  if (irpc_fields_get(irpc_incoming_request_fields(req),
                      IRPC_REQUEST_FIELD_TRACE_CONTEXT, &v) == 0 &&
      irpc_trace_context_decode(v, &s->parent) == 0)
    parent = &s->parent;
  if (t->hooks.start) {
    irpc__span_defaults(&t->rng, parent, &s->ctx);
    s->span = t->hooks.start(
        t->hooks.user_data, IRPC_SPAN_SERVER, irpc_incoming_request_path(req),
        irpc_incoming_request_operation(req), parent, &s->ctx);
    /* Nested calls are children of the server span. */
    s->has_feature =
        irpc_features_set(irpc_incoming_request_features(req),
                          &irpc_trace_context_feature, &s->ctx) == 0;
  } else if (parent) {
    s->has_feature =
        irpc_features_set(irpc_incoming_request_features(req),
                          &irpc_trace_context_feature, &s->parent) == 0;
  }
  irpc_dispatch_next(d);
}

static int tmw_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  tmw *t = irpc_dispatcher_data(self);
  tmw_state *s = irpc_dispatch_state(d);
  if (s->has_feature)
    irpc_features_set(irpc_incoming_request_features(irpc_dispatch_request(d)),
                      &irpc_trace_context_feature, NULL);
  s->has_feature = 0;
  if (t->hooks.end) {
    irpc_outgoing_response *r = irpc_dispatch_response(d);
    t->hooks.end(t->hooks.user_data, s->span, 0,
                 r ? irpc_outgoing_response_status(r) : 0);
  }
  return 0;
}

static const irpc_dispatcher_ops tmw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "telemetry",
    .data_size = sizeof(tmw),
    .dispatch_state_size = sizeof(tmw_state),
    .init = tmw_init,
    .dispatch = tmw_dispatch,
    .on_complete = tmw_on_complete,
};

int irpc_telemetry_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                  const irpc_telemetry_hooks *hooks) {
  irpc_telemetry_hooks c;
  if (hooks && IRPC__IMPORT(&c, hooks, irpc_telemetry_hooks) < 0)
    return IRPC_EINVAL;
  return irpc_dispatcher_new(out, loop, &tmw_ops, hooks ? &c : NULL);
}
