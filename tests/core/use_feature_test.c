/* The use-feature interceptor and middleware, and the whole catalog
 * together through the coloc invoker. */
#include "kit/rig.h"

static const irpc_feature_key tenant_key = {.name = "tenant", .destroy = NULL};
static const irpc_feature_key owned_key = {.name = "owned", .destroy = free};

static const char *seen_tenant;
static void tenant_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  seen_tenant = irpc_features_get(
      irpc_incoming_request_features(irpc_dispatch_request(d)), &tenant_key);
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops tenant_ops = {.struct_size =
                                                   sizeof(irpc_dispatcher_ops),
                                               .name = "tenant",
                                               .dispatch = tenant_dispatch};

/* Checks on the way out that the client feature was set. */
static const char *client_tenant;
static void peek_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  client_tenant = irpc_features_get(
      irpc_outgoing_request_features(irpc_call_request(call)), &tenant_key);
  irpc_call_next(call);
}

static const irpc_invoker_ops peek_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "peek",
                                          .invoke = peek_invoke};

static void test_sets_feature_both_sides(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  static char client_value[] = "client", server_value[] = "server";
  irpc_invoker *ic, *peek;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_use_feature_interceptor_new(&ic, &r.loop, &tenant_key,
                                                  client_value));
  assert_irpc_ok(irpc_invoker_new(&peek, &r.loop, &peek_ops, NULL));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, peek));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  assert_irpc_ok(
      irpc_use_feature_middleware_new(&mw, &r.loop, &tenant_key, server_value));
  assert_irpc_ok(irpc_router_use(r.router, mw));
  irpc_dispatcher *d = rig_map(&r, "/t", &tenant_ops);
  outcome o;
  outcome_init(&o);
  irpc_outgoing_request *req = kit_request("/t", NULL, 0);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_string_equal(client_tenant, "client");
  assert_string_equal(seen_tenant, "server"); /* features are not sent */
  irpc_invoker *bad;
  assert_irpc_err(
      irpc_use_feature_interceptor_new(&bad, &r.loop, &owned_key, "x"),
      IRPC_EINVAL);
  assert_irpc_err(irpc_use_feature_interceptor_new(&bad, &r.loop, NULL, "x"),
                  IRPC_EINVAL);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &d, 1);
}

/* Every interceptor and middleware in one chain, in the order of the
 * design: the call goes out and back through all of them. */
static void test_whole_catalog(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  irpc_metrics *mi, *md;
  assert_irpc_ok(irpc_metrics_new(&mi, "p"));
  assert_irpc_ok(irpc_metrics_new(&md, "r"));
  irpc_logger_options lo;
  irpc_logger_options_init(&lo);
  irpc_deadline_options dlo;
  irpc_deadline_options_init(&dlo);
  dlo.default_timeout_ms = 1000;
  dlo.clock = r.clock;
  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.clock = r.clock;
  irpc_invoker *ic[8];
  assert_irpc_ok(irpc_logger_interceptor_new(&ic[0], &r.loop, &lo));
  assert_irpc_ok(irpc_metrics_interceptor_new(&ic[1], &r.loop, mi, r.clock));
  assert_irpc_ok(irpc_telemetry_interceptor_new(&ic[2], &r.loop, NULL));
  assert_irpc_ok(irpc_deadline_interceptor_new(&ic[3], &r.loop, &dlo));
  assert_irpc_ok(irpc_retry_interceptor_new(&ic[4], &r.loop, &ro));
  assert_irpc_ok(irpc_request_context_interceptor_new(&ic[5], &r.loop));
  assert_irpc_ok(irpc_compress_interceptor_new(&ic[6], &r.loop, NULL));
  static char v[] = "v";
  assert_irpc_ok(
      irpc_use_feature_interceptor_new(&ic[7], &r.loop, &tenant_key, v));
  for (int i = 0; i < 8; i++)
    assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic[i]));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  rig_spy(&r);
  irpc_dispatcher *mw[7];
  assert_irpc_ok(irpc_logger_middleware_new(&mw[0], &r.loop, &lo));
  assert_irpc_ok(irpc_metrics_middleware_new(&mw[1], &r.loop, md, r.clock));
  assert_irpc_ok(irpc_telemetry_middleware_new(&mw[2], &r.loop, NULL));
  assert_irpc_ok(irpc_deadline_middleware_new(&mw[3], &r.loop, &dlo));
  assert_irpc_ok(irpc_request_context_middleware_new(&mw[4], &r.loop));
  assert_irpc_ok(irpc_compress_middleware_new(&mw[5], &r.loop, NULL));
  assert_irpc_ok(
      irpc_use_feature_middleware_new(&mw[6], &r.loop, &tenant_key, v));
  for (int i = 0; i < 7; i++)
    assert_irpc_ok(irpc_router_use(r.router, mw[i]));
  irpc_dispatcher *d = rig_map(&r, "/echo", &test_echo_ops);

  irpc_outgoing_request *req = kit_request("/echo", NULL, 0);
  char big[8192];
  for (size_t i = 0; i < sizeof(big); i++)
    big[i] = "abcabcabd"[i % 9];
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(req), big, sizeof(big)));
  irpc_features *f = irpc_outgoing_request_features(req);
  assert_irpc_ok(irpc_features_set_compress(f, 1));
  irpc_context *c;
  assert_irpc_ok(irpc_context_new(&c));
  assert_irpc_ok(irpc_context_set(c, "k", "v"));
  assert_irpc_ok(irpc_features_set(f, &irpc_request_context_feature, c));
  outcome o;
  outcome_init(&o);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_true(irpc_buf_equals(o.payload, big, sizeof(big)));
  for (uint64_t k = 0; k <= 3; k++)
    assert_true(irpc_fields_has(r.spy.fields, k));
  assert_true(r.spy.payload_len < sizeof(big));
  irpc_metrics_snapshot s;
  assert_irpc_ok(irpc_metrics_read(md, &s));
  assert_int_equal(s.total, 1);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &d, 1);
  irpc_metrics_free(mi);
  irpc_metrics_free(md);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sets_feature_both_sides),
      cmocka_unit_test(test_whole_catalog),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
