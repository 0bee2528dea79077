/* A call or dispatch that cannot be passed on (too deep, no memory for the
 * next frame) still ends exactly once, with the reason, through the normal
 * unwinding; every built-in interceptor and middleware, and every place of
 * the library that passes a chain on, survives it. */
#include <stdio.h>
#include <string.h>

#include "kit/net.h"

/* 2024-01-01T00:00:00Z */
#define RIG_T0_NS INT64_C(1704067200000000000)

/* ---- An allocator that refuses blocks of refuse_from bytes or more ---- */

static size_t refuse_from; /* 0: refuse nothing */

static void *lim_alloc(void *o, size_t n) {
  (void)o;
  return refuse_from && n >= refuse_from ? NULL : malloc(n ? n : 1);
}

static void *lim_realloc(void *o, void *p, size_t n) {
  (void)o;
  return refuse_from && n >= refuse_from ? NULL : realloc(p, n ? n : 1);
}

static void lim_free(void *o, void *p) {
  (void)o;
  free(p);
}

static const irpc_allocator lim_allocator = {.struct_size =
                                                 sizeof(irpc_allocator),

                                             .alloc = lim_alloc,
                                             .realloc = lim_realloc,
                                             .free = lim_free};

/* ---- Invokers ---- */

/* NULL invoke and on_complete: the engine passes the call on. */
static const irpc_invoker_ops pass_ops = {
    .struct_size = sizeof(irpc_invoker_ops), .name = "pass"};

/* 600 bytes of per-call state each: two do not fit the inline arena. */
static const irpc_invoker_ops big_ops = {.struct_size =
                                             sizeof(irpc_invoker_ops),
                                         .name = "big",
                                         .call_state_size = 600};

/* Per-call state no arena can hold: every push into it fails (ENOMEM). */
static const irpc_invoker_ops huge_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "huge",
                                          .call_state_size = (size_t)1 << 31};

/* Records what its on_complete saw; passes the call on and ignores what
 * irpc_call_next returns, as a careless third-party interceptor would. */
typedef struct seen {
  int calls;
  int err;
} seen;

static void seen_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_call_next(call);
}

static int seen_on_complete(irpc_invoker *self, irpc_call *call) {
  seen *s = *(seen **)irpc_invoker_data(self);
  s->calls++;
  irpc_call_result(call, &s->err, NULL);
  return 0;
}

static int seen_init(irpc_invoker *self, const void *config) {
  *(const seen **)irpc_invoker_data(self) = config;
  return 0;
}

static const irpc_invoker_ops seen_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "seen",
                                          .data_size = sizeof(seen *),
                                          .init = seen_init,
                                          .invoke = seen_invoke,
                                          .on_complete = seen_on_complete};

/* Checks what irpc_call_next returns and, on failure, tries to complete
 * the call itself: that must change nothing (the call already ended). */
static int careful_next_rc, careful_complete_rc;

static void careful_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  careful_next_rc = irpc_call_next(call);
  if (careful_next_rc)
    careful_complete_rc = irpc_call_complete(call, careful_next_rc, NULL);
}

static const irpc_invoker_ops careful_ops = {.struct_size =
                                                 sizeof(irpc_invoker_ops),
                                             .name = "careful",
                                             .invoke = careful_invoke};

/* Forwards to NULL. */
static void to_null_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_call_forward(call, NULL);
}

static const irpc_invoker_ops to_null_ops = {.struct_size =
                                                 sizeof(irpc_invoker_ops),
                                             .name = "to_null",
                                             .invoke = to_null_invoke};

/* ---- The rig: a coloc invoker into a router that echoes ---- */

typedef struct limits_rig {
  uv_loop_t loop;
  irpc_router *router;
  irpc_dispatcher *echo;
  irpc_invoker *coloc;
} limits_rig;

static void limits_rig_init(limits_rig *r) {
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_irpc_ok(irpc_router_new(&r->router, &r->loop));
  assert_irpc_ok(irpc_dispatcher_new(&r->echo, &r->loop, &test_echo_ops, NULL));
  assert_irpc_ok(irpc_router_map(r->router, "/echo", r->echo));
  assert_irpc_ok(
      irpc_coloc_new(&r->coloc, &r->loop, irpc_router_dispatcher(r->router)));
}

static void limits_rig_fini(limits_rig *r) {
  irpc_invoker_free(r->coloc);
  irpc_router_free(r->router);
  irpc_dispatcher_free(r->echo);
  test_loop_finish(&r->loop);
}

typedef struct limits_outcome {
  int calls;
  int err;
  uint64_t status;
  int returned; /* irpc_invoke had returned when the callback ran */
} limits_outcome;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  limits_outcome *o = ud;
  o->calls++;
  assert_true(o->returned);
  o->err = err;
  if (resp)
    o->status = irpc_incoming_response_status(resp);
  irpc_incoming_response_free(resp);
}

/* One call of "/echo" through `inv`, run to the end. */
static limits_outcome call_once(uv_loop_t *loop, irpc_invoker *inv) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/echo", "op"));
  limits_outcome o = {0};
  assert_irpc_ok(irpc_invoke(inv, req, on_done, &o, NULL));
  o.returned = 1;
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  irpc_outgoing_request_free(req);
  return o;
}

static irpc_invoker *new_invoker(uv_loop_t *loop, const irpc_invoker_ops *ops,
                                 const void *config) {
  irpc_invoker *inv;
  assert_irpc_ok(irpc_invoker_new(&inv, loop, ops, config));
  return inv;
}

static irpc_pipeline *pipeline_of(uv_loop_t *loop, size_t passes,
                                  irpc_invoker *terminal) {
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, loop));
  for (size_t i = 0; i < passes; i++)
    assert_irpc_ok(irpc_pipeline_use(p, new_invoker(loop, &pass_ops, NULL)));
  assert_irpc_ok(irpc_pipeline_into(p, terminal));
  return p;
}

/* ---- Calls ---- */

/* The pipeline takes at most IRPC_PIPELINE_MAX_INTERCEPTORS, and a full one
 * into a terminal that answers completes. */
static void test_pipeline_use_limit(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  irpc_pipeline *p =
      pipeline_of(&r.loop, IRPC_PIPELINE_MAX_INTERCEPTORS, r.coloc);
  irpc_invoker *extra = new_invoker(&r.loop, &pass_ops, NULL);
  assert_irpc_err(irpc_pipeline_use(p, extra), IRPC_ELIMIT);
  assert_int_equal(irpc_pipeline_count(p), IRPC_PIPELINE_MAX_INTERCEPTORS);
  irpc_invoker_free(extra); /* still the caller's */
  limits_outcome o = call_once(&r.loop, irpc_pipeline_invoker(p));
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  irpc_pipeline_free(p);
  limits_rig_fini(&r);
}

/* A chain one frame deeper than IRPC_CALL_MAX_DEPTH (a full pipeline into
 * a pipeline) completes with IRPC_ELIMIT, seen by the interceptors on the
 * way back; exactly IRPC_CALL_MAX_DEPTH frames complete. */
static void test_call_too_deep(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  for (size_t inner = 1; inner <= 2; inner++) {
    /* outer (1) + seen (1) + passes + inner pipeline (1) + inner passes +
     * coloc (1) */
    irpc_pipeline *in = pipeline_of(&r.loop, inner, r.coloc);
    seen s = {0};
    irpc_pipeline *out;
    assert_irpc_ok(irpc_pipeline_new(&out, &r.loop));
    assert_irpc_ok(irpc_pipeline_use(out, new_invoker(&r.loop, &seen_ops, &s)));
    for (size_t i = 1; i < IRPC_PIPELINE_MAX_INTERCEPTORS; i++)
      assert_irpc_ok(
          irpc_pipeline_use(out, new_invoker(&r.loop, &pass_ops, NULL)));
    assert_irpc_ok(irpc_pipeline_into(out, irpc_pipeline_invoker(in)));
    size_t depth = 1 + IRPC_PIPELINE_MAX_INTERCEPTORS + 1 + inner + 1;
    limits_outcome o = call_once(&r.loop, irpc_pipeline_invoker(out));
    assert_int_equal(s.calls, 1);
    if (depth <= IRPC_CALL_MAX_DEPTH) {
      assert_irpc_ok(o.err);
      assert_int_equal(o.status, IRPC_STATUS_OK);
    } else {
      assert_irpc_err(o.err, IRPC_ELIMIT);
      assert_irpc_err(s.err, IRPC_ELIMIT);
    }
    irpc_pipeline_free(out);
    irpc_pipeline_free(in);
  }
  limits_rig_fini(&r);
}

/* Two interceptors with 600 bytes of per-call state and no memory for an
 * arena chunk: the call completes with IRPC_ENOMEM; with memory it
 * completes normally through the same pipeline. */
static void test_call_state_no_memory(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  seen s = {0};
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
  assert_irpc_ok(irpc_pipeline_use(p, new_invoker(&r.loop, &seen_ops, &s)));
  assert_irpc_ok(irpc_pipeline_use(p, new_invoker(&r.loop, &big_ops, NULL)));
  assert_irpc_ok(irpc_pipeline_use(p, new_invoker(&r.loop, &big_ops, NULL)));
  assert_irpc_ok(irpc_pipeline_into(p, r.coloc));
  refuse_from = 2048;
  limits_outcome o = call_once(&r.loop, irpc_pipeline_invoker(p));
  refuse_from = 0;
  assert_irpc_err(o.err, IRPC_ENOMEM);
  assert_int_equal(s.calls, 1);
  assert_irpc_err(s.err, IRPC_ENOMEM);
  o = call_once(&r.loop, irpc_pipeline_invoker(p));
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  irpc_pipeline_free(p);
  limits_rig_fini(&r);
}

/* An interceptor that checks the return value: irpc_call_next reports the
 * error, and completing the call again is refused (it already ended). */
static void test_careful_interceptor(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  irpc_invoker *huge = new_invoker(&r.loop, &huge_ops, NULL);
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
  assert_irpc_ok(
      irpc_pipeline_use(p, new_invoker(&r.loop, &careful_ops, NULL)));
  assert_irpc_ok(irpc_pipeline_into(p, huge));
  limits_outcome o = call_once(&r.loop, irpc_pipeline_invoker(p));
  assert_irpc_err(o.err, IRPC_ENOMEM);
  assert_irpc_err(careful_next_rc, IRPC_ENOMEM);
  assert_irpc_err(careful_complete_rc, IRPC_EDONE);
  irpc_pipeline_free(p);
  irpc_invoker_free(huge);
  limits_rig_fini(&r);
}

/* Forwarding to NULL ends the call with IRPC_EINVAL. */
static void test_forward_to_null(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  irpc_invoker *inv = new_invoker(&r.loop, &to_null_ops, NULL);
  limits_outcome o = call_once(&r.loop, inv);
  assert_irpc_err(o.err, IRPC_EINVAL);
  irpc_invoker_free(inv);
  limits_rig_fini(&r);
}

/* ---- Every built-in interceptor in front of a push that fails ---- */

static int log_lines;
static char last_line[512];

static void count_sink(irpc_log_level level, const irpc_log_record *rec,
                       const char *line, void *ud) {
  (void)level, (void)rec, (void)ud;
  log_lines++;
  snprintf(last_line, sizeof last_line, "%s", line);
}

static const irpc_feature_key plain_key = {.name = "plain"};

static void test_builtin_interceptors(void **state) {
  (void)state;
  enum {
    LOGGER,
    COMPRESS,
    RETRY,
    DEADLINE,
    METRICS,
    CONTEXT,
    TELEMETRY,
    FEATURE,
    COUNT
  };
  for (int k = 0; k < COUNT; k++) {
    limits_rig r;
    limits_rig_init(&r);
    irpc_clock *clock;
    assert_irpc_ok(irpc_clock_manual_new(&clock, &r.loop, RIG_T0_NS));
    irpc_metrics *m = NULL;
    irpc_invoker *ic = NULL;
    switch (k) {
    case LOGGER: {
      irpc_logger_options lo;
      irpc_logger_options_init(&lo);
      lo.sink = count_sink;
      lo.clock = clock;
      log_lines = 0;
      assert_irpc_ok(irpc_logger_interceptor_new(&ic, &r.loop, &lo));
      break;
    }
    case COMPRESS: {
      irpc_compress_options co;
      irpc_compress_options_init(&co);
      assert_irpc_ok(irpc_compress_interceptor_new(&ic, &r.loop, &co));
      break;
    }
    case RETRY: {
      irpc_retry_options ro;
      irpc_retry_options_init(&ro);
      ro.clock = clock;
      assert_irpc_ok(irpc_retry_interceptor_new(&ic, &r.loop, &ro));
      break;
    }
    case DEADLINE: {
      irpc_deadline_options dl;
      irpc_deadline_options_init(&dl);
      dl.default_timeout_ms = 10000;
      dl.clock = clock;
      assert_irpc_ok(irpc_deadline_interceptor_new(&ic, &r.loop, &dl));
      break;
    }
    case METRICS:
      assert_irpc_ok(irpc_metrics_new(&m, "calls"));
      assert_irpc_ok(irpc_metrics_interceptor_new(&ic, &r.loop, m, clock));
      break;
    case CONTEXT:
      assert_irpc_ok(irpc_request_context_interceptor_new(&ic, &r.loop));
      break;
    case TELEMETRY:
      assert_irpc_ok(irpc_telemetry_interceptor_new(&ic, &r.loop, NULL));
      break;
    case FEATURE:
      assert_irpc_ok(
          irpc_use_feature_interceptor_new(&ic, &r.loop, &plain_key, &r));
      break;
    }
    irpc_invoker *huge = new_invoker(&r.loop, &huge_ops, NULL);
    irpc_pipeline *p;
    assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
    assert_irpc_ok(irpc_pipeline_use(p, ic));
    assert_irpc_ok(irpc_pipeline_into(p, huge));
    limits_outcome o = call_once(&r.loop, irpc_pipeline_invoker(p));
    assert_irpc_err(o.err, IRPC_ENOMEM);
    if (k == LOGGER) {
      assert_int_equal(log_lines, 1);
      assert_non_null(strstr(last_line, "error=ENOMEM"));
    }
    if (k == METRICS) {
      irpc_metrics_snapshot snap;
      assert_irpc_ok(irpc_metrics_read(m, &snap));
      assert_int_equal(snap.total, 1);
      assert_int_equal(snap.current, 0);
      assert_int_equal(snap.failed, 1);
    }
    irpc_pipeline_free(p);
    irpc_invoker_free(huge);
    irpc_metrics_free(m);
    irpc_clock_unref(clock);
    limits_rig_fini(&r);
  }
}

/* The retry interceptor's second attempt cannot be pushed: the call ends
 * with that error after two attempts. */
static irpc_invoker *retry_ic, *retry_huge;

static void refuse_once_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_invoker_set_next(retry_ic, retry_huge);
  irpc_call_complete(call, IRPC_EREFUSED, NULL);
}

static const irpc_invoker_ops refuse_once_ops = {.struct_size =
                                                     sizeof(irpc_invoker_ops),
                                                 .name = "refuse_once",
                                                 .invoke = refuse_once_invoke};

static void test_retry_push_fails(void **state) {
  (void)state;
  for (uint64_t backoff = 0; backoff <= 10; backoff += 10) {
    limits_rig r;
    limits_rig_init(&r);
    irpc_clock *clock;
    assert_irpc_ok(irpc_clock_manual_new(&clock, &r.loop, RIG_T0_NS));
    irpc_retry_options ro;
    irpc_retry_options_init(&ro);
    ro.initial_backoff_ms = backoff;
    ro.clock = clock;
    assert_irpc_ok(irpc_retry_interceptor_new(&retry_ic, &r.loop, &ro));
    retry_huge = new_invoker(&r.loop, &huge_ops, NULL);
    irpc_invoker *once = new_invoker(&r.loop, &refuse_once_ops, NULL);
    assert_irpc_ok(irpc_invoker_set_next(retry_ic, once));
    irpc_outgoing_request *req;
    assert_irpc_ok(irpc_outgoing_request_new(&req, "/echo", "op"));
    limits_outcome o = {.returned = 1};
    assert_irpc_ok(irpc_invoke(retry_ic, req, on_done, &o, NULL));
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (backoff) {
      assert_int_equal(o.calls, 0); /* waiting for the backoff */
      irpc_clock_advance(clock, 10 * 1000000);
      uv_run(&r.loop, UV_RUN_DEFAULT);
    }
    assert_int_equal(o.calls, 1);
    assert_irpc_err(o.err, IRPC_ENOMEM);
    irpc_retry_stats st;
    assert_irpc_ok(irpc_retry_stats_get(retry_ic, &st));
    assert_int_equal(st.attempts, 2);
    irpc_outgoing_request_free(req);
    irpc_invoker_free(retry_ic);
    irpc_invoker_free(retry_huge);
    irpc_invoker_free(once);
    irpc_clock_unref(clock);
    limits_rig_fini(&r);
  }
}

/* ---- Dispatches ---- */

static const irpc_dispatcher_ops mw_pass_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops), .name = "pass"};
static const irpc_dispatcher_ops mw_big_ops = {.struct_size =
                                                   sizeof(irpc_dispatcher_ops),
                                               .name = "big",
                                               .dispatch_state_size = 600};
static const irpc_dispatcher_ops huge_disp_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "huge",
    .dispatch_state_size = (size_t)1 << 31};

typedef struct dseen {
  int calls;
  uint64_t status;
} dseen;

static int dseen_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  dseen *s = *(dseen **)irpc_dispatcher_data(self);
  s->calls++;
  s->status = irpc_outgoing_response_status(irpc_dispatch_response(d));
  return 0;
}

static int dseen_init(irpc_dispatcher *self, const void *config) {
  *(const dseen **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops dseen_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "seen",
                                              .data_size = sizeof(dseen *),
                                              .init = dseen_init,
                                              .on_complete = dseen_on_complete};

typedef struct doutcome {
  int calls;
  uint64_t status;
  char message[128];
} doutcome;

static void on_dispatched(irpc_dispatch *d, irpc_outgoing_response *resp,
                          void *ud) {
  (void)d;
  doutcome *o = ud;
  o->calls++;
  assert_non_null(resp);
  o->status = irpc_outgoing_response_status(resp);
  const char *m = irpc_outgoing_response_error_message(resp);
  snprintf(o->message, sizeof o->message, "%s", m ? m : "");
  irpc_outgoing_response_free(resp);
}

static doutcome dispatch_once(uv_loop_t *loop, irpc_dispatcher *disp,
                              const char *path) {
  irpc_incoming_request *req;
  assert_irpc_ok(irpc_incoming_request_new(&req, path, "op", 0));
  doutcome o = {0};
  assert_irpc_ok(irpc_dispatcher_dispatch(disp, req, on_dispatched, &o, NULL));
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  return o;
}

static irpc_dispatcher *new_dispatcher(uv_loop_t *loop,
                                       const irpc_dispatcher_ops *ops,
                                       const void *config) {
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, loop, ops, config));
  return d;
}

static void test_router_use_limit(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  for (int i = 0; i < IRPC_ROUTER_MAX_MIDDLEWARE; i++)
    assert_irpc_ok(
        irpc_router_use(r.router, new_dispatcher(&r.loop, &mw_pass_ops, NULL)));
  irpc_dispatcher *extra = new_dispatcher(&r.loop, &mw_pass_ops, NULL);
  assert_irpc_err(irpc_router_use(r.router, extra), IRPC_ELIMIT);
  irpc_dispatcher_free(extra);
  doutcome o =
      dispatch_once(&r.loop, irpc_router_dispatcher(r.router), "/echo");
  assert_int_equal(o.status, IRPC_STATUS_OK);
  limits_rig_fini(&r);
}

/* A full router in front of a sub-router with middleware of its own: one
 * frame too many is answered InternalError, seen by the middleware. */
static void test_dispatch_too_deep(void **state) {
  (void)state;
  for (int inner = 0; inner <= 1; inner++) {
    limits_rig r;
    limits_rig_init(&r);
    dseen s = {0};
    assert_irpc_ok(
        irpc_router_use(r.router, new_dispatcher(&r.loop, &dseen_ops, &s)));
    for (int i = 1; i < IRPC_ROUTER_MAX_MIDDLEWARE; i++)
      assert_irpc_ok(irpc_router_use(
          r.router, new_dispatcher(&r.loop, &mw_pass_ops, NULL)));
    irpc_router *sub;
    assert_irpc_ok(irpc_router_route(r.router, "/sub", &sub));
    assert_irpc_ok(irpc_router_map(sub, "/echo", r.echo));
    for (int i = 0; i < inner; i++)
      assert_irpc_ok(
          irpc_router_use(sub, new_dispatcher(&r.loop, &mw_pass_ops, NULL)));
    /* router, middleware, route, sub-router, its middleware, its route,
     * echo */
    int depth = 1 + IRPC_ROUTER_MAX_MIDDLEWARE + 1 + 1 + inner + 1 + 1;
    doutcome o =
        dispatch_once(&r.loop, irpc_router_dispatcher(r.router), "/sub/echo");
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, o.status);
    if (depth <= IRPC_DISPATCH_MAX_DEPTH) {
      assert_int_equal(o.status, IRPC_STATUS_OK);
    } else {
      assert_int_equal(o.status, IRPC_STATUS_INTERNAL_ERROR);
      assert_string_equal(o.message,
                          "The dispatch would pass more than 64 dispatchers.");
    }
    limits_rig_fini(&r);
  }
}

static void test_dispatch_state_no_memory(void **state) {
  (void)state;
  limits_rig r;
  limits_rig_init(&r);
  dseen s = {0};
  assert_irpc_ok(
      irpc_router_use(r.router, new_dispatcher(&r.loop, &dseen_ops, &s)));
  assert_irpc_ok(
      irpc_router_use(r.router, new_dispatcher(&r.loop, &mw_big_ops, NULL)));
  assert_irpc_ok(
      irpc_router_use(r.router, new_dispatcher(&r.loop, &mw_big_ops, NULL)));
  refuse_from = 2048;
  doutcome o =
      dispatch_once(&r.loop, irpc_router_dispatcher(r.router), "/echo");
  refuse_from = 0;
  assert_int_equal(o.status, IRPC_STATUS_INTERNAL_ERROR);
  assert_string_equal(o.message, irpc_strerror(IRPC_ENOMEM));
  assert_int_equal(s.calls, 1);
  o = dispatch_once(&r.loop, irpc_router_dispatcher(r.router), "/echo");
  assert_int_equal(o.status, IRPC_STATUS_OK);
  limits_rig_fini(&r);
}

/* Every built-in middleware in front of a target that cannot be pushed
 * (the router's route forwards to it): InternalError, and the middleware
 * sees it on the way back. */
static void test_builtin_middleware(void **state) {
  (void)state;
  enum {
    LOGGER,
    COMPRESS,
    DEADLINE,
    METRICS,
    CONTEXT,
    TELEMETRY,
    FEATURE,
    COUNT
  };
  for (int k = 0; k < COUNT; k++) {
    limits_rig r;
    limits_rig_init(&r);
    irpc_clock *clock;
    assert_irpc_ok(irpc_clock_manual_new(&clock, &r.loop, RIG_T0_NS));
    irpc_metrics *m = NULL;
    irpc_dispatcher *mw = NULL;
    switch (k) {
    case LOGGER: {
      irpc_logger_options lo;
      irpc_logger_options_init(&lo);
      lo.sink = count_sink;
      lo.clock = clock;
      log_lines = 0;
      assert_irpc_ok(irpc_logger_middleware_new(&mw, &r.loop, &lo));
      break;
    }
    case COMPRESS: {
      irpc_compress_options co;
      irpc_compress_options_init(&co);
      assert_irpc_ok(irpc_compress_middleware_new(&mw, &r.loop, &co));
      break;
    }
    case DEADLINE: {
      irpc_deadline_options dl;
      irpc_deadline_options_init(&dl);
      dl.clock = clock;
      assert_irpc_ok(irpc_deadline_middleware_new(&mw, &r.loop, &dl));
      break;
    }
    case METRICS:
      assert_irpc_ok(irpc_metrics_new(&m, "dispatches"));
      assert_irpc_ok(irpc_metrics_middleware_new(&mw, &r.loop, m, clock));
      break;
    case CONTEXT:
      assert_irpc_ok(irpc_request_context_middleware_new(&mw, &r.loop));
      break;
    case TELEMETRY:
      assert_irpc_ok(irpc_telemetry_middleware_new(&mw, &r.loop, NULL));
      break;
    case FEATURE:
      assert_irpc_ok(
          irpc_use_feature_middleware_new(&mw, &r.loop, &plain_key, &r));
      break;
    }
    assert_irpc_ok(irpc_router_use(r.router, mw));
    irpc_dispatcher *huge = new_dispatcher(&r.loop, &huge_disp_ops, NULL);
    assert_irpc_ok(irpc_router_map(r.router, "/huge", huge));
    doutcome o =
        dispatch_once(&r.loop, irpc_router_dispatcher(r.router), "/huge");
    assert_int_equal(o.status, IRPC_STATUS_INTERNAL_ERROR);
    if (k == LOGGER) {
      assert_int_equal(log_lines, 1);
      assert_non_null(strstr(last_line, "InternalError"));
    }
    if (k == METRICS) {
      irpc_metrics_snapshot snap;
      assert_irpc_ok(irpc_metrics_read(m, &snap));
      assert_int_equal(snap.total, 1);
      assert_int_equal(snap.current, 0);
      assert_int_equal(snap.failed, 1);
    }
    irpc_clock_unref(clock);
    irpc_router_free(r.router);
    r.router = NULL;
    irpc_dispatcher_free(huge);
    irpc_metrics_free(m);
    limits_rig_fini(&r);
  }
}

/* ---- Over a real connection: the forward of a client connection or a
 * connection cache to its connection is one frame too deep, for a call
 * that waited for the connection and for one sent on an active one ---- */

static void run_terminal_too_deep(int cache) {
  net_rig nr;
  net_rig_init(&nr, NET_MEMORY);
  net_map(&nr, "/echo", &test_echo_ops, NULL);
  net_rig_start(&nr);
  irpc_invoker *terminal;
  if (cache) {
    irpc_connection_cache_options o;
    irpc_connection_cache_options_init(&o);
    o.connection = nr.copts;
    o.default_service_address = nr.bound;
    assert_irpc_ok(irpc_connection_cache_new(&terminal, &nr.loop, &o));
  } else {
    terminal = net_client(&nr);
  }
  /* Too deep while connecting, then fitting, then too deep once active. */
  const size_t inners[] = {1, 0, 1};
  for (size_t i = 0; i < 3; i++) {
    /* outer pipeline (1) + 60 + inner pipeline (1) + inner + terminal (1)
     * + connection (1) */
    size_t inner = inners[i];
    irpc_pipeline *in = pipeline_of(&nr.loop, inner, terminal);
    irpc_pipeline *out = pipeline_of(&nr.loop, IRPC_PIPELINE_MAX_INTERCEPTORS,
                                     irpc_pipeline_invoker(in));
    size_t depth = 1 + IRPC_PIPELINE_MAX_INTERCEPTORS + 1 + inner + 2;
    net_result res = {0};
    irpc_outgoing_request *req = kit_request("/echo", "x", 1);
    net_call_sync(&nr.loop, irpc_pipeline_invoker(out), req, &res);
    irpc_outgoing_request_free(req);
    assert_int_equal(res.done, 1);
    if (depth <= IRPC_CALL_MAX_DEPTH) {
      assert_irpc_ok(res.err);
      assert_int_equal(res.status, IRPC_STATUS_OK);
    } else {
      assert_irpc_err(res.err, IRPC_ELIMIT);
    }
    irpc_pipeline_free(out);
    irpc_pipeline_free(in);
  }
  if (cache) {
    int down = 0;
    assert_irpc_ok(
        irpc_connection_cache_shutdown(terminal, kit_status_cb, &down));
    kit_run_until(&nr.loop, &down);
    assert_int_equal(down, 1);
    irpc_invoker_free(terminal);
  } else {
    net_client_close(&nr, terminal);
  }
  net_rig_fini(&nr);
}

static void test_client_connection_too_deep(void **state) {
  (void)state;
  run_terminal_too_deep(0);
}

static void test_connection_cache_too_deep(void **state) {
  (void)state;
  run_terminal_too_deep(1);
}

int main(void) {
  if (irpc_set_allocator(&lim_allocator) != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pipeline_use_limit),
      cmocka_unit_test(test_call_too_deep),
      cmocka_unit_test(test_call_state_no_memory),
      cmocka_unit_test(test_careful_interceptor),
      cmocka_unit_test(test_forward_to_null),
      cmocka_unit_test(test_builtin_interceptors),
      cmocka_unit_test(test_retry_push_fails),
      cmocka_unit_test(test_router_use_limit),
      cmocka_unit_test(test_dispatch_too_deep),
      cmocka_unit_test(test_dispatch_state_no_memory),
      cmocka_unit_test(test_builtin_middleware),
      cmocka_unit_test(test_client_connection_too_deep),
      cmocka_unit_test(test_connection_cache_too_deep),
  };
  return cmocka_run_group_tests_name("chain_limits", tests, NULL, NULL);
}
