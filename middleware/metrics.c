/* The metrics middleware (see irpc/metrics.h). */
#include "ic_internal.h"
#include "irpc/error.h"
#include "irpc/metrics.h"
#include "irpc/status.h"

typedef struct mmw {
  irpc_metrics *m;
  irpc_clock *clock;
} mmw;

typedef struct mmw_state {
  uint64_t start;
} mmw_state;

static int mmw_init(irpc_dispatcher *self, const void *config) {
  const mmw *c = config;
  mmw *d = irpc_dispatcher_data(self);
  d->m = c->m;
  int rc = irpc_clock_take(&d->clock, c->clock, irpc_dispatcher_loop(self));
  if (rc == 0 && (rc = irpc__metrics_attach(d->m, IRPC__SERVER)) != 0)
    irpc_clock_unref(d->clock);
  return rc;
}

static void mmw_destroy(irpc_dispatcher *self) {
  mmw *d = irpc_dispatcher_data(self);
  irpc_clock_unref(d->clock);
}

static void mmw_dispatch(irpc_dispatcher *self, irpc_dispatch *dp) {
  mmw *d = irpc_dispatcher_data(self);
  mmw_state *s = irpc_dispatch_state(dp);
  s->start = irpc_clock_mono_ns(d->clock);
  irpc__metrics_start(d->m);
  irpc_dispatch_next(dp);
}

static int mmw_on_complete(irpc_dispatcher *self, irpc_dispatch *dp) {
  mmw *d = irpc_dispatcher_data(self);
  mmw_state *s = irpc_dispatch_state(dp);
  irpc_outgoing_response *r = irpc_dispatch_response(dp);
  int failed = !r || irpc_outgoing_response_status(r) != IRPC_STATUS_OK;
  irpc__metrics_end(d->m, irpc_clock_mono_ns(d->clock) - s->start, failed,
                    irpc_dispatch_canceled(dp) != 0);
  return 0;
}

static const irpc_dispatcher_ops mmw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "metrics",
    .data_size = sizeof(mmw),
    .dispatch_state_size = sizeof(mmw_state),
    .init = mmw_init,
    .dispatch = mmw_dispatch,
    .on_complete = mmw_on_complete,
    .destroy = mmw_destroy,
};

int irpc_metrics_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                irpc_metrics *m, irpc_clock *clock) {
  if (!m)
    return IRPC_EINVAL;
  mmw c = {.m = m, .clock = clock};
  return irpc_dispatcher_new(out, loop, &mmw_ops, &c);
}
