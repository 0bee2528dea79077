/* The request context middleware (see irpc/request_context.h). */
#include "chain/chain.h"
#include "irpc/error.h"
#include "irpc/request_context.h"
#include "irpc/status.h"

static void rcmw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_bytes v;
  if (irpc_fields_get(irpc_incoming_request_fields(req),
                      IRPC_REQUEST_FIELD_CONTEXT, &v) != 0) {
    irpc_dispatch_next(d);
    return;
  }
  irpc_context *c;
  int rc = irpc_context_decode(v, &c);
  if (rc) {
    irpc__dispatch_reply_or_abort(d,
                                  rc == IRPC_ENOMEM ? IRPC_STATUS_INTERNAL_ERROR
                                                    : IRPC_STATUS_INVALID_DATA,
                                  "Cannot decode the request context field.");
    return;
  }
  if (irpc_context_count(c) == 0) {
    irpc_context_free(c);
  } else if ((rc = irpc_features_set(irpc_incoming_request_features(req),
                                     &irpc_request_context_feature, c))) {
    irpc_context_free(c);
    irpc__dispatch_reply_or_abort(d, IRPC_STATUS_INTERNAL_ERROR,
                                  irpc_strerror(rc));
    return;
  }
  irpc_dispatch_next(d);
}

static const irpc_dispatcher_ops rcmw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "request_context",
    .dispatch = rcmw_dispatch,
};

int irpc_request_context_middleware_new(irpc_dispatcher **out,
                                        uv_loop_t *loop) {
  return irpc_dispatcher_new(out, loop, &rcmw_ops, NULL);
}
