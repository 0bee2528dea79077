/* The deadline interceptor and middleware, with a manual clock. */
#include "kit/rig.h"

/* A zeroed timer, as in fresh per-call state, is not armed, and stopping
 * it does nothing; once started and after it fires or is stopped, the
 * answer follows. */
static int fired;
static void on_fire(irpc_clock_timer *t, void *ud) {
  (void)t, (void)ud;
  fired++;
}

static void test_timer_armed(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &loop, RIG_T0));
  irpc_clock_timer t;
  memset(&t, 0, sizeof t);
  assert_int_equal(irpc_clock_timer_armed(&t), 0);
  irpc_clock_timer_stop(&t);
  irpc_clock_timer_init(&t, on_fire, NULL);
  assert_int_equal(irpc_clock_timer_armed(&t), 0);
  assert_irpc_ok(irpc_clock_timer_start(clock, &t, 1000));
  assert_int_equal(irpc_clock_timer_armed(&t), 1);
  irpc_clock_timer_stop(&t);
  assert_int_equal(irpc_clock_timer_armed(&t), 0);
  assert_int_equal(fired, 0);
  irpc_clock_unref(clock);
  test_loop_finish(&loop);
}

static void test_encoding_bytes(void **state) {
  (void)state;
  uint8_t v[8];
  /* The Unix epoch is 621355968000000000 ticks: 0x089F7FF5F7B58000. */
  irpc_deadline_encode(0, v);
  assert_memory_equal(v, "\x00\x80\xB5\xF7\xF5\x7F\x9F\x08", 8);
  /* 2024-01-01T00:00:00Z = 638396640000000000 ticks = 0x08DC0A5C9900C000,
   * plus 100 ns = one tick. */
  irpc_deadline_encode(RIG_T0 + 100, v);
  assert_memory_equal(v, "\x01\xC0\x00\x99\x5C\x0A\xDC\x08", 8);
  int64_t back;
  assert_irpc_ok(irpc_deadline_decode((irpc_bytes){v, 8}, &back));
  assert_true(back == RIG_T0 + 100);
  assert_irpc_err(irpc_deadline_decode((irpc_bytes){v, 7}, &back), IRPC_EDATA);
  assert_true(irpc_unix_ns_to_ticks(-50) == IRPC_TICKS_AT_UNIX_EPOCH - 1);
  /* Any 8 bytes may arrive: far times saturate, nothing overflows. */
  assert_true(irpc_ticks_to_unix_ns(INT64_MIN) == INT64_MIN);
  assert_true(irpc_ticks_to_unix_ns(INT64_MAX) == INT64_MAX);
  assert_true(irpc_ticks_to_unix_ns(INT64_MIN + IRPC_TICKS_AT_UNIX_EPOCH) ==
              INT64_MIN);
  memcpy(v, "\x00\x00\x00\x00\x00\x00\x00\x80", 8);
  assert_irpc_ok(irpc_deadline_decode((irpc_bytes){v, 8}, &back));
  assert_true(back == INT64_MIN);
}

typedef struct dl_rig {
  rig r;
  irpc_dispatcher *mapped[2];
} dl_rig;

static void dl_init(dl_rig *d, uint64_t default_ms, int client, int server) {
  rig_init(&d->r);
  irpc_deadline_options o;
  irpc_deadline_options_init(&o);
  o.default_timeout_ms = default_ms;
  o.clock = d->r.clock;
  if (client) {
    irpc_invoker *ic;
    assert_irpc_ok(irpc_deadline_interceptor_new(&ic, &d->r.loop, &o));
    assert_irpc_ok(irpc_pipeline_use(d->r.pipeline, ic));
  }
  assert_irpc_ok(irpc_pipeline_into(d->r.pipeline, d->r.coloc));
  rig_spy(&d->r);
  if (server) {
    irpc_dispatcher *mw;
    assert_irpc_ok(irpc_deadline_middleware_new(&mw, &d->r.loop, &o));
    assert_irpc_ok(irpc_router_use(d->r.router, mw));
  }
  d->mapped[0] = rig_map(&d->r, "/hang", &rig_hang_ops);
  d->mapped[1] = rig_map(&d->r, "/echo", &test_echo_ops);
}

static void dl_fini(dl_rig *d) {
  rig_fini(&d->r, d->mapped, 2);
}

/* The default timeout: the field carries now + timeout; the call that
 * outlives it fails with IRPC_EDEADLINE within one timer tick, and the
 * server, whose own timer fires at the same time, answers DeadlineExceeded
 * after canceling the dispatch. */
static void test_expired_both_sides(void **state) {
  (void)state;
  dl_rig d;
  dl_init(&d, 100, 1, 1);
  irpc_outgoing_request *req = kit_request("/hang", NULL, 0);
  outcome o;
  outcome_init(&o);
  rig_hang_canceled = 0;
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  uint8_t v[8];
  irpc_deadline_encode(RIG_T0 + 100 * MS, v);
  assert_field(d.r.spy.fields, IRPC_REQUEST_FIELD_DEADLINE, v, 8);
  assert_irpc_ok(irpc_clock_advance(d.r.clock, 99 * MS));
  rig_run(&d.r);
  assert_int_equal(o.done, 0);
  assert_irpc_ok(irpc_clock_advance(d.r.clock, 1 * MS));
  rig_run(&d.r);
  assert_int_equal(o.done, 1);
  assert_irpc_err(o.err, IRPC_EDEADLINE);
  assert_irpc_err(rig_hang_canceled, IRPC_EDEADLINE);
  assert_int_equal(d.r.spy.status, IRPC_STATUS_DEADLINE_EXCEEDED);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  dl_fini(&d);
}

/* Server only: the middleware's timer cancels the dispatch, and the client
 * (without a deadline interceptor) receives DeadlineExceeded. */
static void test_server_timer(void **state) {
  (void)state;
  dl_rig d;
  dl_init(&d, 0, 0, 1);
  irpc_outgoing_request *req = kit_request("/hang", NULL, 0);
  uint8_t v[8];
  irpc_deadline_encode(RIG_T0 + 50 * MS, v);
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_DEADLINE, v, 8));
  outcome o;
  outcome_init(&o);
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_irpc_ok(irpc_clock_advance(d.r.clock, 50 * MS));
  rig_run(&d.r);
  assert_int_equal(o.done, 1);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_DEADLINE_EXCEEDED);
  assert_string_equal(o.message, "The request deadline has expired.");
  /* Already expired on arrival: answered without dispatching. */
  int before = d.r.spy.requests;
  rig_hang_canceled = 0;
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_int_equal(o.done, 2);
  assert_int_equal(o.status, IRPC_STATUS_DEADLINE_EXCEEDED);
  assert_int_equal(d.r.spy.requests, before + 1);
  assert_int_equal(rig_hang_canceled, 0); /* the dispatcher never ran */
  /* A malformed field. */
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_DEADLINE, v, 3));
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_int_equal(o.status, IRPC_STATUS_INVALID_DATA);
  /* Too far away: NotSupported. */
  irpc_deadline_encode(RIG_T0 + 50 * MS + (int64_t)30 * 24 * 3600 * 1000 * MS,
                       v);
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_DEADLINE, v, 8));
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_int_equal(o.status, IRPC_STATUS_NOT_SUPPORTED);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  dl_fini(&d);
}

/* The deadline feature wins over the default; a past one fails at once
 * without sending; one too far away is refused. */
static void test_feature_deadline(void **state) {
  (void)state;
  dl_rig d;
  dl_init(&d, 1000, 1, 1);
  irpc_outgoing_request *req = kit_request("/echo", "hi", 2);
  irpc_features *f = irpc_outgoing_request_features(req);
  assert_irpc_ok(irpc_features_set_deadline(f, RIG_T0 + 20 * MS));
  outcome o;
  outcome_init(&o);
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_int_equal(o.done, 1);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  uint8_t v[8];
  irpc_deadline_encode(RIG_T0 + 20 * MS, v);
  assert_field(d.r.spy.fields, IRPC_REQUEST_FIELD_DEADLINE, v, 8);
  assert_irpc_ok(irpc_features_set_deadline(f, RIG_T0 - 1));
  int before = d.r.spy.requests;
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_int_equal(o.done, 2);
  assert_irpc_err(o.err, IRPC_EDEADLINE);
  assert_int_equal(d.r.spy.requests, before); /* never sent */
  assert_irpc_ok(irpc_features_set_deadline(f, RIG_T0 + (int64_t)30 * 24 *
                                                            3600 * 1000 * MS));
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_irpc_err(o.err, IRPC_ENOTSUP);
  int64_t got;
  assert_irpc_ok(irpc_features_deadline(f, &got));
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  dl_fini(&d);
}

/* The middleware gives the dispatcher the deadline as a feature, for
 * propagation, and only for the duration of the dispatch. */
static int64_t seen_deadline;
static void peek_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_features *f = irpc_incoming_request_features(irpc_dispatch_request(d));
  seen_deadline = 0;
  irpc_features_deadline(f, &seen_deadline);
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops peek_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "peek",
                                             .dispatch = peek_dispatch};

static void test_propagation_feature(void **state) {
  (void)state;
  dl_rig d;
  dl_init(&d, 250, 1, 1);
  irpc_dispatcher *peek = rig_map(&d.r, "/peek", &peek_ops);
  irpc_outgoing_request *req = kit_request("/peek", NULL, 0);
  outcome o;
  outcome_init(&o);
  rig_invoke(&d.r, NULL, req, &o, NULL);
  rig_run(&d.r);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_true(seen_deadline == RIG_T0 + 250 * MS);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  irpc_dispatcher_free(peek);
  dl_fini(&d);
}

/* Canceling the call first stops the timer: nothing fires later. */
static void test_cancel_before_deadline(void **state) {
  (void)state;
  dl_rig d;
  dl_init(&d, 100, 1, 1);
  irpc_outgoing_request *req = kit_request("/hang", NULL, 0);
  outcome o;
  outcome_init(&o);
  irpc_call *call;
  rig_invoke(&d.r, NULL, req, &o, &call);
  rig_run(&d.r);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  rig_run(&d.r);
  assert_int_equal(o.done, 1);
  assert_irpc_err(o.err, IRPC_ECANCELED);
  assert_irpc_ok(irpc_clock_advance(d.r.clock, 200 * MS));
  rig_run(&d.r);
  assert_int_equal(o.done, 1);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  dl_fini(&d);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timer_armed),
      cmocka_unit_test(test_encoding_bytes),
      cmocka_unit_test(test_expired_both_sides),
      cmocka_unit_test(test_server_timer),
      cmocka_unit_test(test_feature_deadline),
      cmocka_unit_test(test_propagation_feature),
      cmocka_unit_test(test_cancel_before_deadline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
