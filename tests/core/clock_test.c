/* irpc_clock_take, and a time-based interceptor written outside the
 * library with the public API only (the "timeout" of
 * docs/internals/INTERCEPTORS.md), run on a manual clock. */
#include "kit/kit.h"

/* ---- irpc_clock_take ---- */

static void take_given_shares_it(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_clock *c, *t;
  assert_irpc_ok(irpc_clock_manual_new(&c, &loop, 5000));
  assert_irpc_ok(irpc_clock_take(&t, c, &loop));
  assert_ptr_equal(t, c);
  irpc_clock_unref(c); /* the taken reference keeps it */
  assert_irpc_ok(irpc_clock_advance(t, 10));
  assert_int_equal(irpc_clock_now_unix_ns(t), 5010);
  irpc_clock_unref(t);
  test_loop_finish(&loop);
}

static void take_null_makes_system_clock(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_clock *t = NULL;
  assert_irpc_ok(irpc_clock_take(&t, NULL, &loop));
  assert_non_null(t);
  assert_ptr_equal(irpc_clock_loop(t), &loop);
  /* A system clock: not a manual one. */
  assert_irpc_err(irpc_clock_advance(t, 1), IRPC_EINVAL);
  irpc_clock_unref(t);
  test_loop_finish(&loop);
}

static void take_refuses_another_loop(void **state) {
  (void)state;
  uv_loop_t a, b;
  uv_loop_init(&a);
  uv_loop_init(&b);
  irpc_clock *c, *t = (irpc_clock *)&t;
  assert_irpc_ok(irpc_clock_manual_new(&c, &a, 0));
  assert_irpc_err(irpc_clock_take(&t, c, &b), IRPC_EINVAL);
  assert_ptr_equal(t, (irpc_clock *)&t); /* untouched */
  assert_irpc_err(irpc_clock_take(NULL, c, &a), IRPC_EINVAL);
  assert_irpc_err(irpc_clock_take(&t, c, NULL), IRPC_EINVAL);
  irpc_clock_unref(c);
  test_loop_finish(&a);
  test_loop_finish(&b);
}

static void take_reports_no_memory(void **state) {
  (void)state;
  test_alloc_install();
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_clock *t = NULL;
  test_alloc.fail_at = 1;
  assert_irpc_err(irpc_clock_take(&t, NULL, &loop), IRPC_ENOMEM);
  test_alloc.fail_at = 0;
  assert_null(t);
  test_loop_finish(&loop);
}

/* ---- A timeout interceptor, public API only ---- */

typedef struct timeout_options {
  irpc_clock *clock; /* NULL: the system clock */
  uint64_t timeout_ms;
} timeout_options;

typedef struct timeout {
  irpc_clock *clock;
  uint64_t timeout_ns;
} timeout;

typedef struct timeout_state {
  irpc_clock_timer timer; /* in per-call state: it never moves */
  irpc_call *call;
} timeout_state;

static int timeout_init(irpc_invoker *self, const void *config) {
  const timeout_options *o = config;
  timeout *t = irpc_invoker_data(self);
  if (!o || o->timeout_ms == 0)
    return IRPC_EINVAL;
  t->timeout_ns = o->timeout_ms * 1000000;
  return irpc_clock_take(&t->clock, o->clock, irpc_invoker_loop(self));
}

static void timeout_destroy(irpc_invoker *self) {
  timeout *t = irpc_invoker_data(self);
  irpc_clock_unref(t->clock);
}

static void timeout_fire(irpc_clock_timer *timer, void *user_data) {
  (void)timer;
  timeout_state *s = user_data;
  /* The holder's cancel handler completes the call; our on_complete runs
   * on its way back. */
  irpc_call_cancel(s->call, IRPC_ETIMEDOUT);
}

static void timeout_invoke(irpc_invoker *self, irpc_call *call) {
  timeout *t = irpc_invoker_data(self);
  timeout_state *s = irpc_call_state(call);
  s->call = call;
  irpc_clock_timer_init(&s->timer, timeout_fire, s);
  int rc = irpc_clock_timer_start(t->clock, &s->timer, t->timeout_ns);
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  irpc_call_next(call);
}

static int timeout_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  timeout_state *s = irpc_call_state(call);
  irpc_clock_timer_stop(&s->timer); /* the state goes once we return */
  return 0;
}

static const irpc_invoker_ops timeout_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "timeout",
    .data_size = sizeof(timeout),
    .call_state_size = sizeof(timeout_state),
    .init = timeout_init,
    .invoke = timeout_invoke,
    .on_complete = timeout_on_complete,
    .destroy = timeout_destroy,
};

/* A terminal that answers Ok at once, or holds the call until it is
 * canceled (config non-NULL). */
static void term_cancel(irpc_call *call, int err, void *user_data) {
  (void)user_data;
  irpc_call_complete(call, err, NULL);
}

static void term_invoke(irpc_invoker *self, irpc_call *call) {
  if (*(const int *)irpc_invoker_data(self)) {
    irpc_call_on_cancel(call, term_cancel, NULL);
    return;
  }
  irpc_incoming_response *r;
  int rc = irpc_incoming_response_new(&r, IRPC_STATUS_OK, NULL);
  irpc_call_complete(call, rc, rc ? NULL : r);
}

static int term_init(irpc_invoker *self, const void *config) {
  *(int *)irpc_invoker_data(self) = config != NULL;
  return 0;
}

static const irpc_invoker_ops term_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "term",
    .data_size = sizeof(int),
    .init = term_init,
    .invoke = term_invoke,
};

typedef struct clock_outcome {
  int calls, err;
} clock_outcome;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *user_data) {
  (void)call;
  clock_outcome *o = user_data;
  o->calls++;
  o->err = err;
  irpc_incoming_response_free(resp);
}

/* Runs one call through timeout -> term on a manual clock. */
static void run_timeout(int hold, uint64_t advance_ms, clock_outcome *out) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &loop, 0));
  timeout_options o = {.clock = clock, .timeout_ms = 100};
  irpc_invoker *to, *term;
  assert_irpc_ok(irpc_invoker_new(&to, &loop, &timeout_ops, &o));
  irpc_clock_unref(clock); /* the interceptor holds its own reference */
  assert_irpc_ok(irpc_invoker_new(&term, &loop, &term_ops, hold ? &o : NULL));
  assert_irpc_ok(irpc_invoker_set_next(to, term));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  assert_irpc_ok(irpc_invoke(to, req, on_done, out, NULL));
  uv_run(&loop, UV_RUN_NOWAIT);
  timeout *t = irpc_invoker_data(to);
  assert_irpc_ok(irpc_clock_advance(t->clock, advance_ms * 1000000 - 1));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(out->calls, hold ? 0 : 1);
  assert_irpc_ok(irpc_clock_advance(t->clock, 1));
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(to);
  irpc_invoker_free(term);
  test_loop_finish(&loop);
}

static void timeout_cancels_a_held_call(void **state) {
  (void)state;
  clock_outcome out = {0, 0};
  run_timeout(1, 100, &out);
  assert_int_equal(out.calls, 1);
  assert_int_equal(out.err, IRPC_ETIMEDOUT);
}

static void timeout_lets_a_quick_call_pass(void **state) {
  (void)state;
  clock_outcome out = {0, 0};
  run_timeout(0, 200, &out); /* the timer was stopped: nothing more */
  assert_int_equal(out.calls, 1);
  assert_int_equal(out.err, 0);
}

static void timeout_refuses_clock_of_another_loop(void **state) {
  (void)state;
  uv_loop_t a, b;
  uv_loop_init(&a);
  uv_loop_init(&b);
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &a, 0));
  timeout_options o = {.clock = clock, .timeout_ms = 100};
  irpc_invoker *to = NULL;
  assert_irpc_err(irpc_invoker_new(&to, &b, &timeout_ops, &o), IRPC_EINVAL);
  assert_null(to);
  irpc_clock_unref(clock);
  test_loop_finish(&a);
  test_loop_finish(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(take_given_shares_it),
      cmocka_unit_test(take_null_makes_system_clock),
      cmocka_unit_test(take_refuses_another_loop),
      cmocka_unit_test(take_reports_no_memory),
      cmocka_unit_test(timeout_cancels_a_held_call),
      cmocka_unit_test(timeout_lets_a_quick_call_pass),
      cmocka_unit_test(timeout_refuses_clock_of_another_loop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
