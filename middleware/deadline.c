/* The deadline middleware (see irpc/deadline.h). */
#include <string.h>

#include "chain/chain.h"
#include "ic_internal.h"
#include "irpc/deadline.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "base/struct_size.h"

typedef struct dmw {
  irpc_clock *clock;
} dmw;

typedef struct dmw_state {
  irpc_clock_timer timer;
  irpc__deadline_value value; /* the feature, while the dispatch runs */
  int64_t deadline;
  int armed;
  int expired;
} dmw_state;

static const char expired_msg[] = "The request deadline has expired.";

static int dmw_init(irpc_dispatcher *self, const void *config) {
  dmw *m = irpc_dispatcher_data(self);
  const irpc_deadline_options *o = config;
  return irpc_clock_take(&m->clock, o ? o->clock : NULL,
                         irpc_dispatcher_loop(self));
}

static void dmw_destroy(irpc_dispatcher *self) {
  dmw *m = irpc_dispatcher_data(self);
  irpc_clock_unref(m->clock);
}

static void dmw_expired(irpc_clock_timer *t, void *d) {
  dmw_state *s = (dmw_state *)t; /* the timer is the first member */
  s->expired = 1;
  irpc_dispatch_cancel(d, IRPC_EDEADLINE);
}

static void dmw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  dmw *m = irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_bytes v;
  if (irpc_fields_get(irpc_incoming_request_fields(req),
                      IRPC_REQUEST_FIELD_DEADLINE, &v) != 0) {
    irpc_dispatch_next(d);
    return;
  }
  dmw_state *s = irpc_dispatch_state(d);
  if (irpc_deadline_decode(v, &s->deadline) != 0) {
    irpc__dispatch_reply_or_abort(d, IRPC_STATUS_INVALID_DATA,
                                  "The deadline field is not 8 bytes long.");
    return;
  }
  int64_t now = irpc_clock_now_unix_ns(m->clock);
  if (s->deadline <= now) {
    irpc__dispatch_reply_or_abort(d, IRPC_STATUS_DEADLINE_EXCEEDED,
                                  expired_msg);
    return;
  }
  uint64_t timeout_ns = (uint64_t)(s->deadline - now);
  if (timeout_ns > IRPC_DEADLINE_MAX_TIMEOUT_MS * IRPC__NS_PER_MS) {
    irpc__dispatch_reply_or_abort(
        d, IRPC_STATUS_NOT_SUPPORTED,
        "The request deadline exceeds the maximum timeout "
        "supported by this server.");
    return;
  }
  s->value.unix_ns = s->deadline;
  s->value.heap = 0;
  irpc_features *f = irpc_incoming_request_features(req);
  int rc = irpc_features_set(f, &irpc_deadline_feature, &s->value);
  irpc_clock_timer_init(&s->timer, dmw_expired, d);
  if (rc == 0)
    rc = irpc_clock_timer_start(m->clock, &s->timer, timeout_ns);
  if (rc) {
    irpc_features_set(f, &irpc_deadline_feature, NULL);
    irpc__dispatch_reply_or_abort(d, IRPC_STATUS_INTERNAL_ERROR,
                                  irpc_strerror(rc));
    return;
  }
  s->armed = 1;
  irpc_dispatch_next(d);
}

static int dmw_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  dmw *m = irpc_dispatcher_data(self);
  dmw_state *s = irpc_dispatch_state(d);
  if (!s->armed)
    return 0;
  irpc_clock_timer_stop(&s->timer);
  s->armed = 0;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  /* The feature points into this state, which ends here. */
  irpc_features_set(irpc_incoming_request_features(req), &irpc_deadline_feature,
                    NULL);
  if (!s->expired && irpc_clock_now_unix_ns(m->clock) >= s->deadline)
    s->expired = 1;
  if (s->expired) {
    irpc_outgoing_response *r;
    if (irpc_outgoing_response_new(&r, IRPC_STATUS_DEADLINE_EXCEEDED,
                                   expired_msg) == 0)
      irpc_dispatch_set_response(d, r);
  }
  return 0;
}

static const irpc_dispatcher_ops dmw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "deadline",
    .data_size = sizeof(dmw),
    .dispatch_state_size = sizeof(dmw_state),
    .init = dmw_init,
    .dispatch = dmw_dispatch,
    .on_complete = dmw_on_complete,
    .destroy = dmw_destroy,
};

int irpc_deadline_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                 const irpc_deadline_options *o) {
  irpc_deadline_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_deadline_options) < 0)
    return IRPC_EINVAL;
  return irpc_dispatcher_new(out, loop, &dmw_ops, o ? &c : NULL);
}
