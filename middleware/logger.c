/* The logger middleware (see irpc/logger.h). */
#include "ic_internal.h"
#include "irpc/connection_info.h"
#include "irpc/logger.h"
#include "base/struct_size.h"

typedef struct lmw {
  irpc_logger_options o;
  irpc_clock *clock; /* NULL when silent */
} lmw;

typedef struct lmw_state {
  uint64_t start;
} lmw_state;

static int lmw_init(irpc_dispatcher *self, const void *config) {
  lmw *l = irpc_dispatcher_data(self);
  return irpc__logger_init(&l->o, &l->clock, config,
                           irpc_dispatcher_loop(self));
}

static void lmw_destroy(irpc_dispatcher *self) {
  lmw *l = irpc_dispatcher_data(self);
  irpc_clock_unref(l->clock);
}

static void lmw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  lmw *l = irpc_dispatcher_data(self);
  if (l->clock) {
    lmw_state *s = irpc_dispatch_state(d);
    s->start = irpc_clock_mono_ns(l->clock);
  }
  irpc_dispatch_next(d);
}

static int lmw_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  lmw *l = irpc_dispatcher_data(self);
  if (!l->clock)
    return 0;
  lmw_state *s = irpc_dispatch_state(d);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  /* A dispatch its caller gave up on ends with a response nobody reads:
   * the cancel error is its outcome. */
  int canceled = irpc_dispatch_canceled(d);
  irpc_outgoing_response *resp = canceled ? NULL : irpc_dispatch_response(d);
  const irpc_connection_info *ci = irpc_incoming_request_connection_info(req);
  irpc_log_record r = {
      .side = IRPC_LOG_DISPATCH,
      .path = irpc_incoming_request_path(req),
      .operation = irpc_incoming_request_operation(req),
      .err = canceled,
      .status = resp ? irpc_outgoing_response_status(resp) : 5,
      .error_message = resp ? irpc_outgoing_response_error_message(resp) : NULL,
      .duration_ns = irpc_clock_mono_ns(l->clock) - s->start,
      .local_address = ci ? ci->local_address : "",
      .remote_address = ci ? ci->remote_address : "",
  };
  irpc__log_emit(&l->o, &r);
  return 0;
}

static const irpc_dispatcher_ops lmw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "logger",
    .data_size = sizeof(lmw),
    .dispatch_state_size = sizeof(lmw_state),
    .init = lmw_init,
    .dispatch = lmw_dispatch,
    .on_complete = lmw_on_complete,
    .destroy = lmw_destroy,
};

int irpc_logger_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                               const irpc_logger_options *o) {
  irpc_logger_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_logger_options) < 0)
    return IRPC_EINVAL;
  return irpc_dispatcher_new(out, loop, &lmw_ops, o ? &c : NULL);
}
