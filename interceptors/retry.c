/* The retry interceptor (see irpc/retry.h). */
#include <string.h>

#include "ic_internal.h"
#include "irpc/error.h"
#include "irpc/retry.h"
#include "irpc/stream.h"
#include "irpc/status.h"
#include "base/struct_size.h"

void irpc_retry_options_init_sized(irpc_retry_options *o, size_t size) {
  irpc_retry_options d;
  memset(&d, 0, sizeof(d));
  d.max_attempts = 2;
  d.max_payload_size = 1 << 20;
  d.initial_backoff_ms = 10;
  d.max_backoff_ms = 1000;
  d.multiplier = 2;
  d.jitter = 1;
  d.budget_max_tokens = 10;
  d.budget_token_ratio = 0.1;
  irpc__struct_export(o, size, &d, sizeof(d));
}

typedef struct ric {
  irpc_retry_options o;
  irpc_clock *clock;
  uint64_t rng;
  double tokens;
  irpc_retry_stats stats;
} ric;

typedef struct ric_state {
  irpc_clock_timer timer;
  irpc_call *call;
  unsigned attempt;
  irpc_incoming_response *last; /* the last non-Ok response kept */
} ric_state;

static const irpc_invoker_ops ric_ops;

static int ric_init(irpc_invoker *self, const void *config) {
  ric *r = irpc_invoker_data(self);
  if (config)
    r->o = *(const irpc_retry_options *)config;
  else
    irpc_retry_options_init(&r->o);
  const irpc_retry_options *o = &r->o;
  if (o->max_attempts < 1 || o->max_payload_size < 1 || o->multiplier < 1 ||
      !(o->jitter >= 0 && o->jitter <= 1) || o->budget_max_tokens < 0 ||
      o->budget_token_ratio < 0)
    return IRPC_EINVAL;
  r->rng = o->seed ? o->seed : irpc__ic_rand_seed();
  r->tokens = o->budget_max_tokens;
  return irpc_clock_take(&r->clock, o->clock, irpc_invoker_loop(self));
}

static void ric_destroy(irpc_invoker *self) {
  ric *r = irpc_invoker_data(self);
  irpc_clock_unref(r->clock);
}

static void ric_invoke(irpc_invoker *self, irpc_call *call) {
  ric *r = irpc_invoker_data(self);
  ric_state *s = irpc_call_state(call);
  s->attempt = 1;
  s->call = call;
  r->stats.calls++;
  r->stats.attempts++;
  irpc_call_next(call);
}

/* Whether the result of the attempt may be retried, ignoring limits. */
static int retryable(irpc_call *call, int err, irpc_incoming_response *resp) {
  irpc_outgoing_request *req = irpc_call_request(call);
  irpc_stream_writer *cont = irpc_outgoing_request_continuation(req);
  if (cont && !irpc_stream_writer_replayable(cont))
    return 0; /* its continuation went out once: it cannot be sent again */
  if (err == 0) {
    if (irpc_incoming_response_status(resp) != IRPC_STATUS_UNAVAILABLE)
      return 0;
    irpc_server_addresses *sa = irpc_features_get(
        irpc_outgoing_request_features(req), &irpc_server_addresses_feature);
    return sa && sa->remove_current && sa->remove_current(sa);
  }
  switch (err) {
  case IRPC_EINVCANCELED: /* the peer's GoAway: it never saw the request */
  case IRPC_EREFUSED:     /* a closing connection did not send it */
    return 1;
  case UV_ECONNABORTED: /* the connection died: the request may have run */
  case UV_ECONNRESET:
  case UV_EPIPE:
  case IRPC_ECLOSEDBYPEER:
  case IRPC_ETRUNCATED:
    return irpc_fields_has(irpc_outgoing_request_fields(req),
                           IRPC_REQUEST_FIELD_IDEMPOTENT);
  default:
    return 0;
  }
}

static uint64_t backoff_ns(ric *r, unsigned retry) {
  double ms = (double)r->o.initial_backoff_ms;
  for (unsigned i = 1; i < retry && ms < (double)r->o.max_backoff_ms; i++)
    ms *= r->o.multiplier;
  if (ms > (double)r->o.max_backoff_ms)
    ms = (double)r->o.max_backoff_ms;
  double frac = (double)(irpc__ic_rand_next(&r->rng) >> 11) * 0x1.0p-53;
  ms *= 1.0 - r->o.jitter * frac;
  return (uint64_t)(ms * IRPC__NS_PER_MS);
}

static void ric_cancel(irpc_call *call, int err, void *ud) {
  ric_state *s = ud;
  irpc_clock_timer_stop(&s->timer);
  irpc_incoming_response_free(s->last);
  s->last = NULL;
  irpc_call_complete(call, err, NULL);
}

static void ric_again(irpc_clock_timer *t, void *ud) {
  (void)t;
  ric_state *s = ud;
  irpc_call_next(s->call);
}

static int ric_on_complete(irpc_invoker *self, irpc_call *call) {
  ric *r = irpc_invoker_data(self);
  ric_state *s = irpc_call_state(call);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  int ok = err == 0 && irpc_incoming_response_status(resp) == IRPC_STATUS_OK;
  if (ok) {
    r->tokens += r->o.budget_token_ratio;
    if (r->tokens > r->o.budget_max_tokens)
      r->tokens = r->o.budget_max_tokens;
  }
  int again = !ok && !irpc_call_canceled(call) && retryable(call, err, resp);
  /* A request the server never dispatched (refused by its GoAway, or never
   * sent) put no load on it: retrying it is not what the budget guards
   * against (gRPC's transparent retries are not throttled either). */
  int never_dispatched = err == IRPC_EINVCANCELED || err == IRPC_EREFUSED;
  if (again && !never_dispatched && r->o.budget_max_tokens > 0) {
    r->tokens = r->tokens >= 1 ? r->tokens - 1 : 0;
    if (r->tokens <= r->o.budget_max_tokens / 2) {
      again = 0;
      r->stats.budget_refusals++;
    }
  }
  irpc_outgoing_request *req = irpc_call_request(call);
  if (again && (s->attempt >= r->o.max_attempts ||
                irpc_buf_len(irpc_outgoing_request_payload(req)) >
                    r->o.max_payload_size))
    again = 0;
  uint64_t delay = 0;
  if (again) {
    delay = backoff_ns(r, s->attempt);
    int64_t deadline;
    if (irpc__request_deadline(req, &deadline) &&
        irpc_clock_now_unix_ns(r->clock) + (int64_t)delay >= deadline)
      again = 0;
  }
  if (!again) {
    if (err == IRPC_ENOCONN && s->last) {
      irpc_call_set_result(call, 0, s->last);
      s->last = NULL;
    }
    irpc_incoming_response_free(s->last);
    s->last = NULL;
    return 0;
  }
  if (resp) {
    irpc_incoming_response_free(s->last);
    s->last = irpc_call_take_response(call);
  }
  s->attempt++;
  r->stats.attempts++;
  if (delay == 0) {
    irpc_call_next(call);
    return IRPC_CALL_HOLD;
  }
  irpc_clock_timer_init(&s->timer, ric_again, s);
  if (irpc_clock_timer_start(r->clock, &s->timer, delay) != 0) {
    irpc_call_next(call); /* no memory for the timer: retry at once */
    return IRPC_CALL_HOLD;
  }
  irpc_call_on_cancel(call, ric_cancel, s);
  return IRPC_CALL_HOLD;
}

static const irpc_invoker_ops ric_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "retry",
    .data_size = sizeof(ric),
    .call_state_size = sizeof(ric_state),
    .init = ric_init,
    .invoke = ric_invoke,
    .on_complete = ric_on_complete,
    .destroy = ric_destroy,
};

int irpc_retry_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                               const irpc_retry_options *o) {
  irpc_retry_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_retry_options) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &ric_ops, o ? &c : NULL);
}

int irpc_retry_stats_get(irpc_invoker *inv, irpc_retry_stats *out) {
  if (!inv || !out || irpc_invoker_get_ops(inv) != &ric_ops)
    return IRPC_EINVAL;
  ric *r = irpc_invoker_data(inv);
  *out = r->stats;
  out->tokens = r->tokens;
  return 0;
}
