/* Every allocation failing in turn, end to end: a client pipeline with every
 * built-in interceptor (logger, deadline, retry, compress, metrics, request
 * context, telemetry, use-feature) into a client connection over TCP, and a
 * server router with every middleware in front of an echo service. Client
 * and server run in this process, so the sweep fails each allocation of
 * both sides in turn. Each call completes exactly once, with the echoed
 * payload or an error; nothing leaks or is used after it is freed (ASan);
 * and the next call through the same pipeline succeeds, so no failure
 * leaves the stack unusable. */
#include "kit/net.h"

/* ---- Observers: a log sink and span hooks that count ---- */

static long log_records;
static void count_sink(irpc_log_level level, const irpc_log_record *rec,
                       const char *line, void *ud) {
  (void)level, (void)rec, (void)line, (void)ud;
  log_records++;
}

static long spans_open;
static int span_token;
static void *span_start(void *ud, int kind, const char *path, const char *op,
                        const irpc_trace_context *parent,
                        irpc_trace_context *ctx) {
  (void)ud, (void)kind, (void)path, (void)op, (void)parent, (void)ctx;
  spans_open++;
  return &span_token;
}
static void span_end(void *ud, void *span, int err, uint64_t status) {
  (void)ud, (void)err, (void)status;
  assert_ptr_equal(span, &span_token);
  spans_open--;
}

static const irpc_feature_key tag_key = {.name = "e2e-tag"};
static int tag_value;

/* ---- The echo service: compresses its response, InternalError on OOM ---- */

static void echo(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  if (irpc_features_set_compress(
          irpc_incoming_request_features(irpc_dispatch_request(d)), 1)) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  kit_echo_reply(d);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo};

/* ---- The stack ---- */

/* Each constructor's result and object are passed separately: the object
 * is read after the constructor ran. */

typedef struct e2e {
  net_rig n;
  irpc_pipeline *pipeline;
  irpc_invoker *conn;
  irpc_metrics *client_metrics, *server_metrics;
} e2e;

static void e2e_use(e2e *t, int rc, irpc_invoker **ic) {
  assert_irpc_ok(rc);
  assert_irpc_ok(irpc_pipeline_use(t->pipeline, *ic));
}

static void e2e_mw(e2e *t, int rc, irpc_dispatcher **mw) {
  assert_irpc_ok(rc);
  assert_irpc_ok(irpc_router_use(t->n.router, *mw));
}

static irpc_logger_options logger_options(void) {
  irpc_logger_options lo;
  irpc_logger_options_init(&lo);
  lo.sink = count_sink;
  lo.min_level = IRPC_LOG_DEBUG;
  return lo;
}

static const irpc_telemetry_hooks hooks = {.struct_size =
                                               sizeof(irpc_telemetry_hooks),
                                           .start = span_start,
                                           .end = span_end};

/* The client side: every interceptor in a pipeline into a new client
 * connection (not connected yet). */
static void e2e_client_new(e2e *t) {
  uv_loop_t *loop = &t->n.loop;
  irpc_logger_options lo = logger_options();
  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.initial_backoff_ms = 0; /* retries on the next turn */
  ro.seed = 1;
  irpc_invoker *ic;
  assert_irpc_ok(irpc_pipeline_new(&t->pipeline, loop));
  e2e_use(t, irpc_logger_interceptor_new(&ic, loop, &lo), &ic);
  e2e_use(t, irpc_deadline_interceptor_new(&ic, loop, NULL), &ic);
  e2e_use(t, irpc_retry_interceptor_new(&ic, loop, &ro), &ic);
  e2e_use(t, irpc_compress_interceptor_new(&ic, loop, NULL), &ic);
  e2e_use(t, irpc_metrics_interceptor_new(&ic, loop, t->client_metrics, NULL),
          &ic);
  e2e_use(t, irpc_request_context_interceptor_new(&ic, loop), &ic);
  e2e_use(t, irpc_telemetry_interceptor_new(&ic, loop, &hooks), &ic);
  e2e_use(t, irpc_use_feature_interceptor_new(&ic, loop, &tag_key, &tag_value),
          &ic);
  t->conn = net_client(&t->n);
  assert_irpc_ok(irpc_pipeline_into(t->pipeline, t->conn));
}

static void e2e_client_free(e2e *t) {
  irpc_pipeline_free(t->pipeline);
  net_client_close(&t->n, t->conn);
  t->pipeline = NULL;
  t->conn = NULL;
}

/* The server side: every middleware in front of the echo service. */
static void e2e_init(e2e *t) {
  memset(t, 0, sizeof(*t));
  net_rig_init(&t->n, NET_TCP);
  uv_loop_t *loop = &t->n.loop;
  irpc_logger_options lo = logger_options();
  assert_irpc_ok(irpc_metrics_new(&t->client_metrics, "client"));
  assert_irpc_ok(irpc_metrics_new(&t->server_metrics, "server"));
  irpc_dispatcher *mw;
  e2e_mw(t, irpc_logger_middleware_new(&mw, loop, &lo), &mw);
  e2e_mw(t, irpc_deadline_middleware_new(&mw, loop, NULL), &mw);
  e2e_mw(t, irpc_compress_middleware_new(&mw, loop, NULL), &mw);
  e2e_mw(t, irpc_metrics_middleware_new(&mw, loop, t->server_metrics, NULL),
         &mw);
  e2e_mw(t, irpc_request_context_middleware_new(&mw, loop), &mw);
  e2e_mw(t, irpc_telemetry_middleware_new(&mw, loop, &hooks), &mw);
  e2e_mw(t, irpc_use_feature_middleware_new(&mw, loop, &tag_key, &tag_value),
         &mw);
  net_map(&t->n, "/echo", &echo_ops, NULL);
  net_rig_start(&t->n);
}

static void e2e_fini(e2e *t) {
  net_rig_fini(&t->n);
  irpc_metrics_free(t->client_metrics);
  irpc_metrics_free(t->server_metrics);
  assert_int_equal(spans_open, 0);
}

/* A compressible payload of `size` bytes. */
static const uint8_t *payload(size_t size) {
  static uint8_t data[64 << 10];
  assert_true(size <= sizeof data);
  for (size_t i = 0; i < size; i++)
    data[i] = (uint8_t)("the quick brown fox "[i % 20] + (i / 4096));
  return data;
}

/* A request to the echo service with a `size`-byte payload, asking for
 * compression, carrying a request context and marked idempotent. */
static irpc_outgoing_request *e2e_request(size_t size) {
  irpc_outgoing_request *req = kit_request("/echo", payload(size), size);
  irpc_features *f = irpc_outgoing_request_features(req);
  irpc_context *ctx;
  assert_irpc_ok(irpc_context_new(&ctx));
  assert_irpc_ok(irpc_context_set(ctx, "tenant", "blue"));
  assert_irpc_ok(irpc_features_set(f, &irpc_request_context_feature, ctx));
  assert_irpc_ok(irpc_features_set_compress(f, 1));
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  return req;
}

/* Sends `req` through the whole stack and waits for its end. Returns what
 * irpc_invoke returned; o->payload, when set, receives the response's
 * payload. */
static int e2e_call(e2e *t, irpc_outgoing_request *req, net_result *o) {
  int rc = irpc_invoke(irpc_pipeline_invoker(t->pipeline), req, net_on_result,
                       o, NULL);
  if (rc == 0)
    kit_run_until(&t->n.loop, &o->done);
  return rc;
}

/* A call that must succeed and echo its payload. */
static void e2e_call_ok(e2e *t, size_t size) {
  net_result o = {0};
  assert_irpc_ok(irpc_buf_new(&o.payload));
  irpc_outgoing_request *req = e2e_request(size);
  assert_irpc_ok(e2e_call(t, req, &o));
  irpc_outgoing_request_free(req);
  assert_int_equal(o.done, 1);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_buf_len(o.payload), size);
  assert_true(irpc_buf_equals(o.payload, payload(size), size));
  irpc_buf_free(o.payload);
}

/* The call with the Nth allocation from now failing; returns 1 when no
 * allocation failed (the sweep is over). */
static int call_failing_at(e2e *t, long n, size_t size) {
  net_result o = {0};
  long before = log_records;
  irpc_outgoing_request *req = e2e_request(size);
  test_alloc.fail_at = n;
  int rc = e2e_call(t, req, &o);
  int untouched = test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  irpc_outgoing_request_free(req);
  if (rc != 0) {
    assert_int_equal(rc, IRPC_ENOMEM); /* refused before the call started */
    assert_int_equal(o.done, 0);
  } else {
    assert_int_equal(o.done, 1);
    assert_true(o.err <= 0);
    assert_true(log_records > before);
    if (untouched) {
      assert_irpc_ok(o.err);
      assert_int_equal(o.status, IRPC_STATUS_OK);
    }
  }
  e2e_call_ok(t, size); /* the stack is still usable */
  return untouched;
}

/* On one connection, established and warm: the steady state of a call. */
static void sweep(size_t size) {
  e2e t;
  e2e_init(&t);
  e2e_client_new(&t);
  e2e_call_ok(&t, size); /* connected, caches warm */
  long n = 1;
  while (!call_failing_at(&t, n, size))
    assert_true(++n < 20000);
  print_message("%ld allocations of a %zu-byte call through every "
                "interceptor and middleware failed in turn\n",
                n - 1, size);
  e2e_client_free(&t);
  e2e_fini(&t);
}

/* On a new client each time: the call also connects, does the Slic and
 * icerpc handshakes and warms every cache on both sides. */
static void sweep_connecting(size_t size) {
  e2e t;
  e2e_init(&t);
  long n = 1;
  for (;;) {
    e2e_client_new(&t);
    int over = call_failing_at(&t, n, size);
    e2e_client_free(&t);
    if (over)
      break;
    assert_true(++n < 20000);
  }
  print_message("%ld allocations of a first %zu-byte call (connecting) "
                "through every interceptor and middleware failed in turn\n",
                n - 1, size);
  e2e_fini(&t);
}

static void small_call(void **state) {
  (void)state;
  sweep(16); /* below min_size: sent uncompressed */
}

static void compressed_call(void **state) {
  (void)state;
  sweep(48 << 10); /* compressed both ways, several Slic frames */
}

static void first_call(void **state) {
  (void)state;
  sweep_connecting(48 << 10);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(small_call),
      cmocka_unit_test(compressed_call),
      cmocka_unit_test(first_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
