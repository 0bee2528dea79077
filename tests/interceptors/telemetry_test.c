/* The telemetry interceptor and middleware. */
#include "kit/rig.h"

static void test_encoding_bytes(void **state) {
  (void)state;
  irpc_trace_context c = {0};
  for (int i = 0; i < 16; i++)
    c.trace_id[i] = (uint8_t)(i + 1);
  for (int i = 0; i < 8; i++)
    c.span_id[i] = (uint8_t)(0xA1 + i);
  c.trace_flags = 1;
  c.trace_state = (irpc_bytes){(const uint8_t *)"k=v", 3};
  irpc_baggage_entry bag = {{(const uint8_t *)"u", 1},
                            {(const uint8_t *)"1", 1}};
  c.baggage = &bag;
  c.baggage_count = 1;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_trace_context_encode(&c, b));
  static const uint8_t want[] = {
      0x00,                                           /* version */
      1,    2,    3,    4,    5,    6,    7,    8,    /* trace id */
      9,    10,   11,   12,   13,   14,   15,   16,   /* */
      0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, /* span id */
      0x01,                                           /* flags */
      0x0C, 'k',  '=',  'v',                          /* tracestate */
      0x04,                                           /* one entry */
      0x04, 'u',  0x04, '1'};
  assert_true(irpc_buf_equals(b, want, sizeof(want)));
  irpc_trace_context d;
  assert_irpc_ok(
      irpc_trace_context_decode((irpc_bytes){want, sizeof(want)}, &d));
  assert_memory_equal(d.trace_id, c.trace_id, 16);
  assert_memory_equal(d.span_id, c.span_id, 8);
  assert_int_equal(d.trace_flags, 1);
  assert_int_equal(d.baggage_count, 1);
  irpc_bytes cur = d.baggage_wire;
  irpc_baggage_entry e;
  assert_true(irpc_trace_context_baggage_next(&cur, &e));
  assert_memory_equal(e.key.base, "u", 1);
  assert_false(irpc_trace_context_baggage_next(&cur, &e));
  /* Re-encoding a decoded context gives the same bytes. */
  irpc_buf_clear(b);
  assert_irpc_ok(irpc_trace_context_encode(&d, b));
  assert_true(irpc_buf_equals(b, want, sizeof(want)));
  assert_irpc_err(irpc_trace_context_decode((irpc_bytes){want, 20}, &d),
                  IRPC_EDATA);
  /* More than 64 baggage entries are clipped to 64. */
  irpc_baggage_entry many[70];
  for (int i = 0; i < 70; i++)
    many[i] = bag;
  c.baggage = many;
  c.baggage_count = 70;
  irpc_buf_clear(b);
  assert_irpc_ok(irpc_trace_context_encode(&c, b));
  irpc_bytes flat;
  assert_irpc_ok(irpc_buf_pullup(b, &flat));
  assert_irpc_ok(irpc_trace_context_decode(flat, &d));
  assert_int_equal(d.baggage_count, 64);
  irpc_buf_free(b);
}

typedef struct span_log {
  char text[512];
  irpc_trace_context client_ctx;
  irpc_trace_context server_parent;
  int has_parent;
} span_log;

static span_log slog;

static void *hook_start(void *ud, int kind, const char *path, const char *op,
                        const irpc_trace_context *parent,
                        irpc_trace_context *ctx) {
  (void)ud;
  snprintf(slog.text + strlen(slog.text), sizeof(slog.text) - strlen(slog.text),
           "start:%s:%s/%s;", kind == IRPC_SPAN_CLIENT ? "client" : "server",
           path, op);
  if (kind == IRPC_SPAN_CLIENT) {
    ctx->trace_flags = 1;
    slog.client_ctx = *ctx;
  } else if (parent) {
    slog.server_parent = *parent;
    slog.has_parent = 1;
  }
  return (void *)(uintptr_t)kind;
}

static void hook_end(void *ud, void *span, int err, uint64_t status) {
  (void)ud;
  snprintf(slog.text + strlen(slog.text), sizeof(slog.text) - strlen(slog.text),
           "end:%s:%d:%s;",
           (uintptr_t)span == IRPC_SPAN_CLIENT ? "client" : "server", err,
           irpc_status_name(status));
}

static void test_spans_through_coloc(void **state) {
  (void)state;
  memset(&slog, 0, sizeof(slog));
  rig r;
  rig_init(&r);
  irpc_telemetry_hooks h = {.struct_size = sizeof(irpc_telemetry_hooks),
                            .start = hook_start,
                            .end = hook_end};
  irpc_invoker *ic;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_telemetry_interceptor_new(&ic, &r.loop, &h));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  rig_spy(&r);
  assert_irpc_ok(irpc_telemetry_middleware_new(&mw, &r.loop, &h));
  assert_irpc_ok(irpc_router_use(r.router, mw));
  irpc_dispatcher *d = rig_map(&r, "/echo", &test_echo_ops);
  irpc_outgoing_request *req = kit_request("/echo", "x", 1);
  outcome o;
  outcome_init(&o);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_string_equal(slog.text, "start:client:/echo/op;start:server:/echo/op;"
                                 "end:server:0:Ok;end:client:0:Ok;");
  /* The server's parent is the client span, byte for byte. */
  assert_true(slog.has_parent);
  assert_memory_equal(slog.server_parent.trace_id, slog.client_ctx.trace_id,
                      16);
  assert_memory_equal(slog.server_parent.span_id, slog.client_ctx.span_id, 8);
  assert_int_equal(slog.server_parent.trace_flags, 1);
  irpc_bytes v;
  assert_irpc_ok(
      irpc_fields_get(r.spy.fields, IRPC_REQUEST_FIELD_TRACE_CONTEXT, &v));
  assert_int_equal(v.len, 28); /* 26 + empty tracestate + no baggage */
  /* A call that fails (no route) ends its spans with the status. */
  irpc_outgoing_request *miss = kit_request("/missing", NULL, 0);
  slog.text[0] = '\0';
  rig_invoke(&r, NULL, miss, &o, NULL);
  rig_run(&r);
  assert_non_null(strstr(slog.text, "end:client:0:NotFound;"));
  irpc_outgoing_request_free(miss);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &d, 1);
}

/* Without hooks the context still propagates: a parent feature on the
 * request gives its trace id to the new span. */
static void test_propagation_without_hooks(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  irpc_invoker *ic;
  assert_irpc_ok(irpc_telemetry_interceptor_new(&ic, &r.loop, NULL));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  rig_spy(&r);
  irpc_dispatcher *d = rig_map(&r, "/echo", &test_echo_ops);
  irpc_trace_context parent = {.trace_flags = 1};
  memset(parent.trace_id, 0x5A, 16);
  memset(parent.span_id, 0x11, 8);
  irpc_outgoing_request *req = kit_request("/echo", NULL, 0);
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &irpc_trace_context_feature, &parent));
  outcome o;
  outcome_init(&o);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  irpc_bytes v;
  assert_irpc_ok(
      irpc_fields_get(r.spy.fields, IRPC_REQUEST_FIELD_TRACE_CONTEXT, &v));
  irpc_trace_context got;
  assert_irpc_ok(irpc_trace_context_decode(v, &got));
  assert_memory_equal(got.trace_id, parent.trace_id, 16);
  assert_memory_not_equal(got.span_id, parent.span_id, 8);
  assert_int_equal(got.trace_flags, 1);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &d, 1);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encoding_bytes),
      cmocka_unit_test(test_spans_through_coloc),
      cmocka_unit_test(test_propagation_without_hooks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
