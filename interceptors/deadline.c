/* The deadline interceptor, the deadline feature and field, and the
 * deadline of a request (shared with the middleware and the retry
 * interceptor). */
#include <string.h>

#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/deadline.h"
#include "irpc/error.h"
#include "base/struct_size.h"

/* ---- The feature and the field ---- */

static void deadline_value_destroy(void *p) {
  irpc__deadline_value *v = p;
  if (v && v->heap)
    irpc_free(v);
}

const irpc_feature_key irpc_deadline_feature = {
    .name = "deadline", .destroy = deadline_value_destroy};

int irpc_features_set_deadline(irpc_features *f, int64_t deadline_unix_ns) {
  if (!f)
    return IRPC_EINVAL;
  irpc__deadline_value *v = irpc_features_get(f, &irpc_deadline_feature);
  if (v && v->heap) {
    v->unix_ns = deadline_unix_ns;
    return 0;
  }
  v = irpc_malloc(sizeof(*v));
  if (!v)
    return IRPC_ENOMEM;
  v->unix_ns = deadline_unix_ns;
  v->heap = 1;
  int rc = irpc_features_set(f, &irpc_deadline_feature, v);
  if (rc)
    irpc_free(v);
  return rc;
}

int irpc_features_deadline(const irpc_features *f, int64_t *deadline_unix_ns) {
  if (!f || !deadline_unix_ns)
    return IRPC_EINVAL;
  const irpc__deadline_value *v = irpc_features_get(f, &irpc_deadline_feature);
  if (!v)
    return IRPC_ENOTFOUND;
  *deadline_unix_ns = v->unix_ns;
  return 0;
}

/* The field value: an int64, the deadline in .NET ticks. */
#define DEADLINE_FIELD_SIZE sizeof(int64_t)

static void deadline_encode(irpc_slice_encoder *e, const void *unix_ns) {
  irpc_slice_encode_int64(e, irpc_unix_ns_to_ticks(*(const int64_t *)unix_ns));
}

void irpc_deadline_encode(int64_t deadline_unix_ns, uint8_t out[8]) {
  irpc_slice_encoder e;
  irpc_slice_encoder_init_span(&e, out, DEADLINE_FIELD_SIZE,
                               IRPC_SLICE_ENCODING_2);
  deadline_encode(&e, &deadline_unix_ns);
}

int irpc_deadline_decode(irpc_bytes value, int64_t *deadline_unix_ns) {
  if (!deadline_unix_ns || (!value.base && value.len))
    return IRPC_EINVAL;
  if (value.len != DEADLINE_FIELD_SIZE)
    return IRPC_EDATA;
  irpc_slice_decoder d;
  irpc__ic_decoder_init(&d, value);
  int64_t ticks;
  int rc = irpc_slice_decode_int64(&d, &ticks);
  irpc_slice_decoder_fini(&d);
  if (rc)
    return IRPC_EDATA;
  *deadline_unix_ns = irpc_ticks_to_unix_ns(ticks);
  return 0;
}

int irpc__request_deadline(irpc_outgoing_request *r, int64_t *unix_ns) {
  irpc_bytes v;
  if (irpc_fields_get(irpc_outgoing_request_fields(r),
                      IRPC_REQUEST_FIELD_DEADLINE, &v) == 0 &&
      irpc_deadline_decode(v, unix_ns) == 0)
    return 1;
  return irpc_features_deadline(irpc_outgoing_request_features(r), unix_ns) ==
         0;
}

void irpc_deadline_options_init_sized(irpc_deadline_options *o, size_t size) {
  irpc_deadline_options d;
  memset(&d, 0, sizeof(d));
  d.enforce_feature_deadlines = 1;
  irpc__struct_export(o, size, &d, sizeof(d));
}

/* ---- The interceptor ---- */

typedef struct dic {
  irpc_deadline_options o;
  irpc_clock *clock;
} dic;

typedef struct dic_state {
  irpc_clock_timer timer;
} dic_state;

static int dic_init(irpc_invoker *self, const void *config) {
  dic *d = irpc_invoker_data(self);
  if (config)
    d->o = *(const irpc_deadline_options *)config;
  else
    irpc_deadline_options_init(&d->o);
  if (d->o.default_timeout_ms > IRPC_DEADLINE_MAX_TIMEOUT_MS)
    return IRPC_EINVAL;
  return irpc_clock_take(&d->clock, d->o.clock, irpc_invoker_loop(self));
}

static void dic_destroy(irpc_invoker *self) {
  dic *d = irpc_invoker_data(self);
  irpc_clock_unref(d->clock);
}

static void dic_expired(irpc_clock_timer *t, void *call) {
  (void)t;
  irpc_call_cancel(call, IRPC_EDEADLINE);
}

static void dic_invoke(irpc_invoker *self, irpc_call *call) {
  dic *d = irpc_invoker_data(self);
  irpc_outgoing_request *req = irpc_call_request(call);
  int64_t now = irpc_clock_now_unix_ns(d->clock);
  int64_t deadline;
  int arm = 1;
  if (irpc_features_deadline(irpc_outgoing_request_features(req), &deadline) ==
      0) {
    arm = d->o.enforce_feature_deadlines;
  } else if (d->o.default_timeout_ms) {
    deadline = now + (int64_t)d->o.default_timeout_ms * IRPC__NS_PER_MS;
  } else {
    irpc_call_next(call);
    return;
  }
  if (deadline <= now) {
    irpc_call_complete(call, IRPC_EDEADLINE, NULL);
    return;
  }
  uint64_t timeout_ns = (uint64_t)(deadline - now);
  if (timeout_ns > IRPC_DEADLINE_MAX_TIMEOUT_MS * IRPC__NS_PER_MS) {
    irpc_call_complete(call, IRPC_ENOTSUP, NULL);
    return;
  }
  int rc = irpc__ic_field_set(irpc_outgoing_request_fields(req),
                              IRPC_REQUEST_FIELD_DEADLINE, deadline_encode,
                              &deadline);
  if (rc == 0 && arm) {
    dic_state *s = irpc_call_state(call);
    irpc_clock_timer_init(&s->timer, dic_expired, call);
    rc = irpc_clock_timer_start(d->clock, &s->timer, timeout_ns);
  }
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  irpc_call_next(call);
}

static int dic_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  dic_state *s = irpc_call_state(call);
  irpc_clock_timer_stop(&s->timer);
  return 0;
}

static const irpc_invoker_ops dic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "deadline",
    .data_size = sizeof(dic),
    .call_state_size = sizeof(dic_state),
    .init = dic_init,
    .invoke = dic_invoke,
    .on_complete = dic_on_complete,
    .destroy = dic_destroy,
};

int irpc_deadline_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                  const irpc_deadline_options *o) {
  irpc_deadline_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_deadline_options) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &dic_ops, o ? &c : NULL);
}
