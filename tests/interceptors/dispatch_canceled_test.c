/* A dispatch its client gave up on (cancel, deadline) is logged by the
 * logger middleware and counted by the metrics middleware as canceled,
 * through the coloc invoker and over a real connection. */
#include "kit/net.h"

/* 2024-01-01T00:00:00Z */
#define T0_NS INT64_C(1704067200000000000)

/* ---- The server side: logger and metrics middleware in front of a
 * dispatcher that holds every dispatch and answers Ok once canceled ---- */

typedef struct server {
  irpc_metrics *metrics;
  int held;     /* dispatches received */
  int canceled; /* the cancel error the dispatcher saw */
  int lines;
  char line[512];
  char event[32];
  irpc_log_level level;
  int err;
} server;

static void server_sink(irpc_log_level level, const irpc_log_record *rec,
                        const char *line, void *ud) {
  server *s = ud;
  s->lines++;
  s->level = level;
  s->err = rec->err;
  snprintf(s->line, sizeof s->line, "%s", line);
  snprintf(s->event, sizeof s->event, "%s", rec->event);
}

static void hold_cancel(irpc_dispatch *d, int err, void *ud) {
  server *s = ud;
  s->canceled = err;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static void hold_until_canceled(irpc_dispatcher *self, irpc_dispatch *d) {
  server *s = *(server **)irpc_dispatcher_data(self);
  s->held++;
  irpc_dispatch_on_cancel(d, hold_cancel, s);
}

static int hold_init(irpc_dispatcher *self, const void *config) {
  *(const server **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops hold_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hold",
                                             .data_size = sizeof(server *),
                                             .init = hold_init,
                                             .dispatch = hold_until_canceled};

/* Adds the logger and metrics middleware to `router`. */
static void server_use(server *s, irpc_router *router, uv_loop_t *loop,
                       irpc_clock *clock) {
  memset(s, 0, sizeof(*s));
  irpc_logger_options lo;
  irpc_logger_options_init(&lo);
  lo.sink = server_sink;
  lo.user_data = s;
  lo.clock = clock;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_logger_middleware_new(&mw, loop, &lo));
  assert_irpc_ok(irpc_router_use(router, mw));
  assert_irpc_ok(irpc_metrics_new(&s->metrics, "server"));
  assert_irpc_ok(irpc_metrics_middleware_new(&mw, loop, s->metrics, clock));
  assert_irpc_ok(irpc_router_use(router, mw));
}

/* The dispatch was logged as an exception with the cancel error and
 * counted as canceled, not as completed Ok. */
static void assert_canceled(server *s, int err) {
  assert_int_equal(s->canceled, err);
  assert_int_equal(s->lines, 1);
  assert_string_equal(s->event, "DispatchException");
  assert_int_equal(s->level, IRPC_LOG_ERROR);
  assert_irpc_err(s->err, err);
  char want[64];
  snprintf(want, sizeof want, "path=/hold operation=op error=%s ",
           irpc_err_name(err));
  assert_non_null(strstr(s->line, want));
  assert_null(strstr(s->line, "status="));
  irpc_metrics_snapshot snap;
  assert_irpc_ok(irpc_metrics_read(s->metrics, &snap));
  assert_int_equal(snap.total, 1);
  assert_int_equal(snap.current, 0);
  assert_int_equal(snap.canceled, 1);
  assert_int_equal(snap.failed, 0);
}

/* ---- The client side ---- */

typedef struct result {
  int done;
  int err;
} result;

static void on_result(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  (void)call;
  result *r = ud;
  r->done++;
  r->err = err;
  irpc_incoming_response_free(resp);
}

/* ---- Through the coloc invoker ---- */

typedef struct coloc_rig {
  uv_loop_t loop;
  irpc_clock *clock;
  irpc_router *router;
  irpc_dispatcher *hold;
  irpc_invoker *coloc;
  irpc_pipeline *pipeline;
  server s;
} coloc_rig;

static void coloc_rig_init(coloc_rig *r) {
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_irpc_ok(irpc_clock_manual_new(&r->clock, &r->loop, T0_NS));
  assert_irpc_ok(irpc_router_new(&r->router, &r->loop));
  server_use(&r->s, r->router, &r->loop, r->clock);
  assert_irpc_ok(irpc_dispatcher_new(&r->hold, &r->loop, &hold_ops, &r->s));
  assert_irpc_ok(irpc_router_map(r->router, "/hold", r->hold));
  assert_irpc_ok(
      irpc_coloc_new(&r->coloc, &r->loop, irpc_router_dispatcher(r->router)));
  assert_irpc_ok(irpc_pipeline_new(&r->pipeline, &r->loop));
}

static void coloc_rig_fini(coloc_rig *r) {
  irpc_pipeline_free(r->pipeline);
  irpc_invoker_free(r->coloc);
  irpc_router_free(r->router);
  irpc_dispatcher_free(r->hold);
  irpc_metrics_free(r->s.metrics);
  irpc_clock_unref(r->clock);
  test_loop_finish(&r->loop);
}

static void test_coloc_cancel(void **state) {
  (void)state;
  coloc_rig r;
  coloc_rig_init(&r);
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/hold", "op"));
  result res = {0};
  irpc_call *call;
  assert_irpc_ok(irpc_invoke(irpc_pipeline_invoker(r.pipeline), req, on_result,
                             &res, &call));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(r.s.held, 1);
  assert_irpc_ok(irpc_clock_advance(r.clock, 2000000));
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(res.done, 1);
  assert_irpc_err(res.err, IRPC_ECANCELED);
  assert_canceled(&r.s, IRPC_ECANCELED);
  assert_non_null(strstr(r.s.line, "duration=2.000ms local=coloc"));
  irpc_outgoing_request_free(req);
  coloc_rig_fini(&r);
}

/* The client's deadline interceptor gives up: the dispatch is canceled
 * with IRPC_EDEADLINE. */
static void test_coloc_deadline(void **state) {
  (void)state;
  coloc_rig r;
  coloc_rig_init(&r);
  irpc_deadline_options dl;
  irpc_deadline_options_init(&dl);
  dl.default_timeout_ms = 50;
  dl.clock = r.clock;
  irpc_invoker *ic;
  assert_irpc_ok(irpc_deadline_interceptor_new(&ic, &r.loop, &dl));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/hold", "op"));
  result res = {0};
  assert_irpc_ok(irpc_invoke(irpc_pipeline_invoker(r.pipeline), req, on_result,
                             &res, NULL));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(r.s.held, 1);
  assert_int_equal(res.done, 0);
  assert_irpc_ok(irpc_clock_advance(r.clock, 50000000));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(res.done, 1);
  assert_irpc_err(res.err, IRPC_EDEADLINE);
  assert_canceled(&r.s, IRPC_EDEADLINE);
  irpc_outgoing_request_free(req);
  coloc_rig_fini(&r);
}

/* A dispatch that completes normally is still logged and counted Ok. */
static void test_coloc_not_canceled(void **state) {
  (void)state;
  coloc_rig r;
  coloc_rig_init(&r);
  irpc_dispatcher *echo;
  assert_irpc_ok(irpc_dispatcher_new(&echo, &r.loop, &test_echo_ops, NULL));
  assert_irpc_ok(irpc_router_map(r.router, "/echo", echo));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/echo", "op"));
  result res = {0};
  assert_irpc_ok(irpc_invoke(irpc_pipeline_invoker(r.pipeline), req, on_result,
                             &res, NULL));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(res.done, 1);
  assert_irpc_ok(res.err);
  assert_string_equal(r.s.event, "Dispatch");
  assert_non_null(strstr(r.s.line, "status=Ok"));
  irpc_metrics_snapshot snap;
  assert_irpc_ok(irpc_metrics_read(r.s.metrics, &snap));
  assert_int_equal(snap.canceled, 0);
  assert_int_equal(snap.failed, 0);
  irpc_outgoing_request_free(req);
  irpc_router_free(r.router);
  r.router = NULL;
  irpc_dispatcher_free(echo);
  coloc_rig_fini(&r);
}

/* ---- Over a real connection: the client cancels, the peer's dispatch is
 * canceled when the stream reset arrives ---- */

static void run_net_cancel(int kind) {
  net_rig nr;
  net_rig_init(&nr, kind);
  server s;
  server_use(&s, nr.router, &nr.loop, NULL);
  net_map(&nr, "/hold", &hold_ops, &s);
  net_rig_start(&nr);
  irpc_invoker *client = net_client(&nr);
  irpc_outgoing_request *req = kit_request("/hold", "x", 1);
  result res = {0};
  irpc_call *call;
  assert_irpc_ok(irpc_invoke(client, req, on_result, &res, &call));
  kit_run_until(&nr.loop, &s.held);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&nr.loop, &res.done);
  assert_irpc_err(res.err, IRPC_ECANCELED);
  kit_run_until(&nr.loop, &s.lines);
  assert_canceled(&s, IRPC_ECANCELED);
  irpc_outgoing_request_free(req);
  net_client_close(&nr, client);
  net_rig_fini(&nr);
  irpc_metrics_free(s.metrics);
}

static void test_memory_cancel(void **state) {
  (void)state;
  run_net_cancel(NET_MEMORY);
}

static void test_tcp_cancel(void **state) {
  (void)state;
  run_net_cancel(NET_TCP);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_coloc_cancel),
      cmocka_unit_test(test_coloc_deadline),
      cmocka_unit_test(test_coloc_not_canceled),
      cmocka_unit_test(test_memory_cancel),
      cmocka_unit_test(test_tcp_cancel),
  };
  return cmocka_run_group_tests_name("dispatch_canceled", tests, NULL, NULL);
}
