/* The metrics interceptor and middleware, and the Prometheus export. */
#include "kit/rig.h"

static void test_counts_and_latency(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  irpc_metrics *mi, *md;
  assert_irpc_ok(irpc_metrics_new(&mi, "client \"a\""));
  assert_irpc_ok(irpc_metrics_new(&md, "server"));
  irpc_invoker *ic;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_metrics_interceptor_new(&ic, &r.loop, mi, r.clock));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  assert_irpc_ok(irpc_metrics_middleware_new(&mw, &r.loop, md, r.clock));
  assert_irpc_ok(irpc_router_use(r.router, mw));
  irpc_dispatcher *d = rig_map(&r, "/hold", &kit_hold_ops);
  /* The same object cannot serve the other side. */
  irpc_invoker *bad;
  assert_irpc_err(irpc_metrics_interceptor_new(&bad, &r.loop, md, NULL),
                  IRPC_EINVAL);

  /* 10 calls: latencies 1..10 ms; call 9 fails, call 10 is canceled. */
  irpc_outgoing_request *reqs[10];
  outcome o[10];
  irpc_call *calls[10];
  kit_nheld = 0;
  for (int i = 0; i < 10; i++) {
    reqs[i] = kit_request("/hold", NULL, 0);
    outcome_init(&o[i]);
    rig_invoke(&r, NULL, reqs[i], &o[i], &calls[i]);
  }
  rig_run(&r);
  assert_int_equal(kit_nheld, 10);
  irpc_metrics_snapshot s;
  assert_irpc_ok(irpc_metrics_read(mi, &s));
  assert_int_equal(s.total, 10);
  assert_int_equal(s.current, 10);
  for (int i = 0; i < 10; i++) {
    assert_irpc_ok(irpc_clock_advance(r.clock, 1 * MS));
    if (i == 9)
      assert_irpc_ok(irpc_call_cancel(calls[i], IRPC_ECANCELED));
    else
      irpc_dispatch_reply(
          kit_held[i], i == 8 ? IRPC_STATUS_APPLICATION_ERROR : IRPC_STATUS_OK,
          NULL);
    rig_run(&r);
  }
  irpc_dispatch_reply(kit_held[9], IRPC_STATUS_OK, NULL);
  rig_run(&r);
  assert_irpc_ok(irpc_metrics_read(mi, &s));
  assert_int_equal(s.total, 10);
  assert_int_equal(s.current, 0);
  assert_int_equal(s.failed, 1);
  assert_int_equal(s.canceled, 1);
  /* p50 is about 5 ms, p90 about 9 ms, p99 about 10 ms (bucket accuracy). */
  assert_true(s.p50_ns >= 4 * MS && s.p50_ns <= 6 * MS);
  assert_true(s.p90_ns >= 8 * MS && s.p90_ns <= 10 * MS);
  assert_true(s.p99_ns >= 9 * MS && s.p99_ns <= 10 * MS);
  assert_true(s.max_ns == (uint64_t)(10 * MS));
  assert_irpc_ok(irpc_metrics_read(md, &s));
  assert_int_equal(s.total, 10);
  assert_int_equal(s.failed, 1);
  assert_int_equal(s.canceled, 1);

  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  irpc_metrics *list[2] = {mi, md};
  assert_irpc_ok(irpc_metrics_write_prometheus(list, 2, b));
  irpc_bytes text;
  assert_irpc_ok(irpc_buf_append(b, "", 1));
  assert_irpc_ok(irpc_buf_pullup(b, &text));
  const char *t = (const char *)text.base;
  if (getenv("SHOW"))
    printf("%s", t);
  assert_non_null(strstr(t, "# TYPE irpc_invocation_requests_total counter\n"
                            "irpc_invocation_requests_total{pipeline="
                            "\"client \\\"a\\\"\"} 10\n"));
  assert_non_null(strstr(t, "irpc_dispatch_requests_total{router=\"server\"}"
                            " 10\n"));
  assert_non_null(strstr(t, "# TYPE irpc_dispatch_current_requests gauge\n"));
  assert_non_null(strstr(t, "irpc_dispatch_failed_requests_total{router="
                            "\"server\"} 1\n"));
  assert_non_null(strstr(t, "# TYPE irpc_invocation_duration_seconds "
                            "histogram\n"));
  assert_non_null(strstr(t, "irpc_dispatch_duration_seconds_bucket{router="
                            "\"server\",le=\"+Inf\"} 10\n"));
  assert_non_null(strstr(t, "irpc_dispatch_duration_seconds_count{router="
                            "\"server\"} 10\n"));
  /* Cumulative: at 2^20 ns (1.048576 ms) the 1 ms call, at 2^24 ns
   * (16.8 ms) all ten. */
  assert_non_null(strstr(t, "irpc_invocation_duration_seconds_bucket{"
                            "pipeline=\"client \\\"a\\\"\",le=\"0.001048576\"}"
                            " 1\n"));
  assert_non_null(strstr(t, "irpc_invocation_duration_seconds_bucket{"
                            "pipeline=\"client \\\"a\\\"\",le=\"0.016777216\"}"
                            " 10\n"));
  irpc_buf_free(b);
  for (int i = 0; i < 10; i++) {
    irpc_outgoing_request_free(reqs[i]);
    outcome_fini(&o[i]);
  }
  rig_fini(&r, &d, 1);
  irpc_metrics_free(mi);
  irpc_metrics_free(md);
}

static void test_empty(void **state) {
  (void)state;
  irpc_metrics *m;
  assert_irpc_ok(irpc_metrics_new(&m, "x"));
  irpc_metrics_snapshot s;
  assert_irpc_ok(irpc_metrics_read(m, &s));
  assert_int_equal(s.p99_ns, 0);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_metrics_write_prometheus(&m, 1, b));
  assert_int_equal(irpc_buf_len(b), 0); /* not attached: nothing */
  irpc_buf_free(b);
  irpc_metrics_free(m);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts_and_latency),
      cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
