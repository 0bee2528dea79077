/* The retry interceptor against a scripted terminal. */
#include "kit/rig.h"

/* A terminal that fails the first `fail` attempts of each call with `err`
 * (or, when err is 0, a response of status `status`), then answers Ok. */
typedef struct script {
  int fail;
  int err;
  uint64_t status;
  long attempts;
  int per_call; /* count failures per request (1) or globally (0) */
} script;

static script sc;

static void scripted_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  sc.attempts++;
  if (sc.attempts <= sc.fail || sc.fail < 0) {
    if (sc.err) {
      irpc_call_complete(call, sc.err, NULL);
      return;
    }
    irpc_incoming_response *r;
    assert_irpc_ok(irpc_incoming_response_new(&r, sc.status, NULL));
    irpc_call_complete(call, 0, r);
    return;
  }
  irpc_incoming_response *ok;
  assert_irpc_ok(irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL));
  irpc_call_complete(call, 0, ok);
}

static const irpc_invoker_ops scripted_ops = {.struct_size =
                                                  sizeof(irpc_invoker_ops),
                                              .name = "scripted",
                                              .invoke = scripted_invoke};

typedef struct rt {
  uv_loop_t loop;
  irpc_clock *clock;
  irpc_pipeline *p;
  irpc_invoker *terminal;
  irpc_invoker *retry;
} rt;

static void rt_init(rt *t, const irpc_retry_options *base) {
  memset(&sc, 0, sizeof(sc));
  assert_int_equal(uv_loop_init(&t->loop), 0);
  assert_irpc_ok(irpc_clock_manual_new(&t->clock, &t->loop, RIG_T0));
  irpc_retry_options o;
  if (base)
    o = *base;
  else
    irpc_retry_options_init(&o);
  o.clock = t->clock;
  o.seed = 1;
  assert_irpc_ok(irpc_retry_interceptor_new(&t->retry, &t->loop, &o));
  assert_irpc_ok(irpc_invoker_new(&t->terminal, &t->loop, &scripted_ops, NULL));
  assert_irpc_ok(irpc_pipeline_new(&t->p, &t->loop));
  assert_irpc_ok(irpc_pipeline_use(t->p, t->retry));
  assert_irpc_ok(irpc_pipeline_into(t->p, t->terminal));
}

static void rt_fini(rt *t) {
  irpc_pipeline_free(t->p);
  irpc_invoker_free(t->terminal);
  irpc_clock_unref(t->clock);
  test_loop_finish(&t->loop);
}

static void rt_call(rt *t, irpc_outgoing_request *req, outcome *o,
                    irpc_call **call) {
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(t->p), req, rig_on_done, o, call));
  uv_run(&t->loop, UV_RUN_DEFAULT);
}

static irpc_retry_options opts(unsigned attempts, uint64_t backoff_ms) {
  irpc_retry_options o;
  irpc_retry_options_init(&o);
  o.max_attempts = attempts;
  o.initial_backoff_ms = backoff_ms;
  o.jitter = 0;
  o.budget_max_tokens = 0; /* the budget has tests of its own */
  return o;
}

/* A server that fails N times then succeeds. */
static void test_fails_n_times_then_succeeds(void **state) {
  (void)state;
  irpc_retry_options o = opts(4, 0);
  rt t;
  rt_init(&t, &o);
  sc.fail = 3;
  sc.err = IRPC_EINVCANCELED;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  outcome out;
  outcome_init(&out);
  rt_call(&t, req, &out, NULL);
  assert_int_equal(out.done, 1);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  assert_int_equal(sc.attempts, 4);
  /* One more failure than attempts: the last error comes back. */
  sc.attempts = 0;
  sc.fail = 4;
  rt_call(&t, req, &out, NULL);
  assert_irpc_err(out.err, IRPC_EINVCANCELED);
  assert_int_equal(sc.attempts, 4);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

/* After the payload may have been sent, only idempotent requests are
 * retried. The field is the empty value under key 4. */
static void test_idempotent_only_after_send(void **state) {
  (void)state;
  irpc_retry_options o = opts(3, 0);
  rt t;
  rt_init(&t, &o);
  sc.fail = 1;
  sc.err = UV_ECONNABORTED;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  outcome out;
  outcome_init(&out);
  rt_call(&t, req, &out, NULL);
  assert_irpc_err(out.err, UV_ECONNABORTED);
  assert_int_equal(sc.attempts, 1);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  assert_field(irpc_outgoing_request_fields(req), IRPC_REQUEST_FIELD_IDEMPOTENT,
               NULL, 0);
  sc.attempts = 0;
  rt_call(&t, req, &out, NULL);
  assert_irpc_ok(out.err);
  assert_int_equal(sc.attempts, 2);
  /* Errors that are never retried. */
  sc.attempts = 0;
  sc.err = UV_ECONNREFUSED;
  rt_call(&t, req, &out, NULL);
  assert_irpc_err(out.err, UV_ECONNREFUSED);
  assert_int_equal(sc.attempts, 1);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 0));
  assert_false(irpc_fields_has(irpc_outgoing_request_fields(req),
                               IRPC_REQUEST_FIELD_IDEMPOTENT));
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

/* What each connection error means for a retry: never sent (always
 * retried), maybe run (idempotent only), or connection establishment
 * (never: the connection cache tries the other addresses itself). */
static void test_error_classes(void **state) {
  (void)state;
  static const struct {
    int err;
    int plain, idempotent; /* attempts made */
  } cases[] = {
      {IRPC_EINVCANCELED, 2, 2}, {IRPC_EREFUSED, 2, 2},
      {UV_ECONNABORTED, 1, 2},   {UV_ECONNRESET, 1, 2},
      {UV_EPIPE, 1, 2},          {IRPC_ECLOSEDBYPEER, 1, 2},
      {IRPC_ETRUNCATED, 1, 2},   {UV_ECONNREFUSED, 1, 1},
      {IRPC_ETIMEDOUT, 1, 1},    {IRPC_ESERVERBUSY, 1, 1},
      {IRPC_EIDLE, 1, 1},        {IRPC_EPROTO, 1, 1},
      {IRPC_ECLOSED, 1, 1},
  };
  irpc_retry_options o = opts(3, 0);
  rt t;
  rt_init(&t, &o);
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  outcome out;
  outcome_init(&out);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int idem = 0; idem < 2; idem++) {
      assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, idem));
      sc.attempts = 0;
      sc.fail = 1;
      sc.err = cases[i].err;
      rt_call(&t, req, &out, NULL);
      int want = idem ? cases[i].idempotent : cases[i].plain;
      if (sc.attempts != want)
        fail_msg("%s (idempotent %d): %ld attempts, expected %d",
                 irpc_err_name(cases[i].err), idem, sc.attempts, want);
      if (want == 2)
        assert_irpc_ok(out.err);
      else
        assert_irpc_err(out.err, cases[i].err);
    }
  }
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

/* Unavailable is retried only on another server. */
static int addresses_left;
static int remove_current(irpc_server_addresses *self) {
  (void)self;
  return --addresses_left > 0;
}

static void test_unavailable_other_server(void **state) {
  (void)state;
  irpc_retry_options o = opts(5, 0);
  rt t;
  rt_init(&t, &o);
  sc.fail = 2;
  sc.status = IRPC_STATUS_UNAVAILABLE;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  outcome out;
  outcome_init(&out);
  rt_call(&t, req, &out, NULL); /* no server address feature */
  assert_int_equal(out.status, IRPC_STATUS_UNAVAILABLE);
  assert_int_equal(sc.attempts, 1);
  irpc_server_addresses sa = {.remove_current = remove_current};
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &irpc_server_addresses_feature, &sa));
  addresses_left = 3;
  sc.attempts = 0;
  rt_call(&t, req, &out, NULL);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  assert_int_equal(sc.attempts, 3);
  /* Two servers, both unavailable: the last response comes back. */
  addresses_left = 2;
  sc.attempts = 0;
  sc.fail = 10;
  rt_call(&t, req, &out, NULL);
  assert_int_equal(out.status, IRPC_STATUS_UNAVAILABLE);
  assert_int_equal(sc.attempts, 2);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

/* Exponential backoff on the injected clock; the deadline stops it. */
static void test_backoff_and_deadline(void **state) {
  (void)state;
  irpc_retry_options o = opts(4, 100);
  o.budget_max_tokens = 0;
  rt t;
  rt_init(&t, &o);
  sc.fail = 3;
  sc.err = IRPC_EINVCANCELED;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  outcome out;
  outcome_init(&out);
  rt_call(&t, req, &out, NULL);
  assert_int_equal(sc.attempts, 1);
  assert_irpc_ok(irpc_clock_advance(t.clock, 99 * MS));
  uv_run(&t.loop, UV_RUN_DEFAULT);
  assert_int_equal(sc.attempts, 1);
  assert_irpc_ok(irpc_clock_advance(t.clock, 1 * MS));
  assert_int_equal(sc.attempts, 2);
  assert_irpc_ok(irpc_clock_advance(t.clock, 199 * MS));
  assert_int_equal(sc.attempts, 2);
  assert_irpc_ok(irpc_clock_advance(t.clock, 1 * MS)); /* 200 ms */
  assert_int_equal(sc.attempts, 3);
  assert_irpc_ok(irpc_clock_advance(t.clock, 400 * MS));
  uv_run(&t.loop, UV_RUN_DEFAULT);
  assert_int_equal(sc.attempts, 4);
  assert_int_equal(out.done, 1);
  assert_irpc_ok(out.err);
  /* A deadline 150 ms away: the first retry (100 ms) is made, the second
   * (200 ms more) would end past it and is not. */
  sc.attempts = 0;
  sc.fail = 3;
  assert_irpc_ok(
      irpc_features_set_deadline(irpc_outgoing_request_features(req),
                                 irpc_clock_now_unix_ns(t.clock) + 150 * MS));
  rt_call(&t, req, &out, NULL);
  assert_irpc_ok(irpc_clock_advance(t.clock, 100 * MS));
  uv_run(&t.loop, UV_RUN_DEFAULT);
  assert_int_equal(sc.attempts, 2);
  assert_int_equal(out.done, 2);
  assert_irpc_err(out.err, IRPC_EINVCANCELED);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

/* Canceling a call waiting for its backoff completes it at once. */
static void test_cancel_during_backoff(void **state) {
  (void)state;
  irpc_retry_options o = opts(3, 100);
  rt t;
  rt_init(&t, &o);
  sc.fail = -1;
  sc.status = IRPC_STATUS_UNAVAILABLE;
  irpc_server_addresses sa = {.remove_current = remove_current};
  addresses_left = 100;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &irpc_server_addresses_feature, &sa));
  outcome out;
  outcome_init(&out);
  irpc_call *call;
  rt_call(&t, req, &out, &call);
  assert_int_equal(out.done, 0);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  uv_run(&t.loop, UV_RUN_DEFAULT);
  assert_int_equal(out.done, 1);
  assert_irpc_err(out.err, IRPC_ECANCELED);
  assert_irpc_ok(irpc_clock_advance(t.clock, 1000 * MS));
  assert_int_equal(sc.attempts, 1);
  /* IRPC_ENOCONN after an Unavailable: the response comes back instead. */
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

static void test_payload_too_big(void **state) {
  (void)state;
  irpc_retry_options o = opts(3, 0);
  o.max_payload_size = 4;
  rt t;
  rt_init(&t, &o);
  sc.fail = 1;
  sc.err = IRPC_EINVCANCELED;
  irpc_outgoing_request *req = kit_request("/svc", "12345", 5);
  outcome out;
  outcome_init(&out);
  rt_call(&t, req, &out, NULL);
  assert_irpc_err(out.err, IRPC_EINVCANCELED);
  assert_int_equal(sc.attempts, 1);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

/* 100 calls against a server that always fails retryably, 5 attempts
 * each: without a budget 500 attempts, with the default budget the
 * retries stop after a handful. */
static long storm_of(int err, double max_tokens, irpc_retry_stats *stats) {
  irpc_retry_options o = opts(5, 0);
  o.budget_max_tokens = max_tokens;
  rt t;
  rt_init(&t, &o);
  sc.fail = -1;
  sc.err = err;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  outcome out;
  outcome_init(&out);
  for (int i = 0; i < 100; i++)
    rt_call(&t, req, &out, NULL);
  assert_int_equal(out.done, 100);
  assert_irpc_ok(irpc_retry_stats_get(t.retry, stats));
  long attempts = sc.attempts;
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
  return attempts;
}

/* A storm of failures after the request may have run (the connection was
 * lost under an idempotent request). */
static long storm(double max_tokens, irpc_retry_stats *stats) {
  return storm_of(UV_ECONNRESET, max_tokens, stats);
}

static void test_budget_stops_storm(void **state) {
  (void)state;
  irpc_retry_stats s;
  assert_int_equal(storm(0, &s), 500);
  long with_budget = storm(10, &s);
  assert_true(with_budget >= 100 && with_budget <= 106);
  assert_int_equal(s.attempts, (uint64_t)with_budget);
  assert_true(s.budget_refusals >= 94);
  assert_true(s.tokens <= 5.0);
}

/* Requests the server never dispatched (refused by its GoAway, never
 * sent) are retried whatever the budget: every attempt is made. */
static void test_budget_spares_undispatched(void **state) {
  (void)state;
  irpc_retry_stats s;
  assert_int_equal(storm_of(IRPC_EINVCANCELED, 10, &s), 500);
  assert_int_equal(s.budget_refusals, 0);
  assert_int_equal(storm_of(IRPC_EREFUSED, 10, &s), 500);
  assert_int_equal(s.budget_refusals, 0);
}

/* Successes refill the budget. */
static void test_budget_refills(void **state) {
  (void)state;
  irpc_retry_options o = opts(2, 0);
  o.budget_max_tokens = 10;
  rt t;
  rt_init(&t, &o);
  sc.fail = -1;
  sc.err = UV_ECONNRESET;
  irpc_outgoing_request *req = kit_request("/svc", "x", 1);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  outcome out;
  outcome_init(&out);
  for (int i = 0; i < 20; i++)
    rt_call(&t, req, &out, NULL);
  irpc_retry_stats s;
  assert_irpc_ok(irpc_retry_stats_get(t.retry, &s));
  assert_true(s.tokens <= 5.0);
  sc.fail = 0;
  for (int i = 0; i < 80; i++)
    rt_call(&t, req, &out, NULL);
  assert_irpc_ok(irpc_retry_stats_get(t.retry, &s));
  assert_true(s.tokens > 6.5);
  sc.fail = (int)sc.attempts + 1; /* fail once more: retried again */
  long before = sc.attempts;
  rt_call(&t, req, &out, NULL);
  assert_int_equal(sc.attempts - before, 2);
  assert_irpc_ok(out.err);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  rt_fini(&t);
}

static void test_invalid_options(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *inv;
  irpc_retry_options o;
  irpc_retry_options_init(&o);
  o.max_attempts = 0;
  assert_irpc_err(irpc_retry_interceptor_new(&inv, &loop, &o), IRPC_EINVAL);
  irpc_retry_options_init(&o);
  o.jitter = 2;
  assert_irpc_err(irpc_retry_interceptor_new(&inv, &loop, &o), IRPC_EINVAL);
  irpc_retry_stats s;
  assert_irpc_err(irpc_retry_stats_get(NULL, &s), IRPC_EINVAL);
  test_loop_finish(&loop);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fails_n_times_then_succeeds),
      cmocka_unit_test(test_idempotent_only_after_send),
      cmocka_unit_test(test_error_classes),
      cmocka_unit_test(test_unavailable_other_server),
      cmocka_unit_test(test_backoff_and_deadline),
      cmocka_unit_test(test_cancel_during_backoff),
      cmocka_unit_test(test_payload_too_big),
      cmocka_unit_test(test_budget_stops_storm),
      cmocka_unit_test(test_budget_spares_undispatched),
      cmocka_unit_test(test_budget_refills),
      cmocka_unit_test(test_invalid_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
