/* The invoker contract and the pipeline, through the coloc invoker. */
#include <string.h>

#include "kit/kit.h"

/* ---- A recording interceptor: appends ">name" on the way out and
 * "<name" on the way back to a shared trace. ---- */

typedef struct trace {
  char text[512];
} trace;

typedef struct rec_config {
  const char *name;
  trace *trace;
} rec_config;

static void trace_add(trace *t, const char *s) {
  strncat(t->text, s, sizeof(t->text) - strlen(t->text) - 1);
}

typedef struct rec_state {
  int entered;
} rec_state;

static int rec_init(irpc_invoker *self, const void *config) {
  memcpy(irpc_invoker_data(self), config, sizeof(rec_config));
  return 0;
}

static void rec_invoke(irpc_invoker *self, irpc_call *call) {
  rec_config *c = irpc_invoker_data(self);
  rec_state *s = irpc_call_state(call);
  assert_int_equal(s->entered, 0); /* state starts zeroed */
  s->entered = 1;
  trace_add(c->trace, ">");
  trace_add(c->trace, c->name);
  irpc_call_next(call);
}

static int rec_on_complete(irpc_invoker *self, irpc_call *call) {
  rec_config *c = irpc_invoker_data(self);
  rec_state *s = irpc_call_state(call);
  assert_int_equal(s->entered, 1); /* the same per-call state came back */
  trace_add(c->trace, "<");
  trace_add(c->trace, c->name);
  return 0;
}

static const irpc_invoker_ops rec_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "rec",
    .data_size = sizeof(rec_config),
    .call_state_size = sizeof(rec_state),
    .init = rec_init,
    .invoke = rec_invoke,
    .on_complete = rec_on_complete,
};

/* ---- A dispatcher that echoes the payload and records the call ---- */

static trace *server_trace;

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  if (server_trace)
    trace_add(server_trace, "|dispatch");
  irpc_outgoing_response *resp = NULL;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0 ||
      irpc_buf_move(irpc_outgoing_response_payload(resp),
                    irpc_incoming_request_payload(req)) != 0) {
    /* Out of memory (the allocation-failure test): answer the error. */
    irpc_outgoing_response_free(resp);
    assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL));
    return;
  }
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo_dispatch};

typedef struct pipe_outcome {
  int calls;
  int err;
  uint64_t status;
  char payload[64];
  int returned; /* irpc_invoke has returned */
} pipe_outcome;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  pipe_outcome *o = ud;
  assert_true(o->returned); /* never from inside irpc_invoke */
  o->calls++;
  o->err = err;
  if (resp) {
    assert_int_equal(err, 0);
    o->status = irpc_incoming_response_status(resp);
    irpc_buf *p = irpc_incoming_response_payload(resp);
    size_t n = irpc_buf_len(p) < 63 ? irpc_buf_len(p) : 63;
    irpc_buf_copyout(p, 0, o->payload, n);
    irpc_incoming_response_free(resp);
  }
}

typedef struct pipe_rig {
  uv_loop_t loop;
  irpc_dispatcher *echo;
  irpc_invoker *coloc;
  irpc_pipeline *pipeline;
  trace trace;
} pipe_rig;

static void pipe_rig_init(pipe_rig *r) {
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_irpc_ok(irpc_dispatcher_new(&r->echo, &r->loop, &echo_ops, NULL));
  assert_irpc_ok(irpc_coloc_new(&r->coloc, &r->loop, r->echo));
  assert_irpc_ok(irpc_pipeline_new(&r->pipeline, &r->loop));
  server_trace = &r->trace;
}

static void pipe_rig_use(pipe_rig *r, const char *name) {
  irpc_invoker *ic;
  rec_config c = {.name = name, .trace = &r->trace};
  assert_irpc_ok(irpc_invoker_new(&ic, &r->loop, &rec_ops, &c));
  assert_irpc_ok(irpc_pipeline_use(r->pipeline, ic));
}

static void pipe_rig_fini(pipe_rig *r) {
  irpc_pipeline_free(r->pipeline);
  irpc_invoker_free(r->coloc);
  irpc_dispatcher_free(r->echo);
  server_trace = NULL;
  test_loop_finish(&r->loop);
}

static void invoke(pipe_rig *r, irpc_invoker *inv, irpc_outgoing_request *req,
                   pipe_outcome *o) {
  o->returned = 0;
  assert_irpc_ok(irpc_invoke(inv, req, on_done, o, NULL));
  o->returned = 1;
}

static void test_order_out_and_back(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  pipe_rig_use(&r, "a");
  pipe_rig_use(&r, "b");
  pipe_rig_use(&r, "c");
  assert_int_equal(irpc_pipeline_count(r.pipeline), 3);
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(req), "ping", 4));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  assert_int_equal(o.calls, 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_string_equal(o.payload, "ping");
  assert_string_equal(r.trace.text, ">a>b>c|dispatch<c<b<a");
  /* The request payload was shared, not consumed: it can be sent again. */
  assert_int_equal(irpc_buf_len(irpc_outgoing_request_payload(req)), 4);
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

static void test_frozen_after_first_invoke(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  pipe_rig_use(&r, "a");
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  irpc_invoker *late;
  rec_config c = {.name = "late", .trace = &r.trace};
  assert_irpc_ok(irpc_invoker_new(&late, &r.loop, &rec_ops, &c));
  assert_irpc_err(irpc_pipeline_use(r.pipeline, late), IRPC_EFROZEN);
  assert_irpc_err(irpc_pipeline_into(r.pipeline, r.coloc), IRPC_EFROZEN);
  irpc_invoker_free(late);
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

static void test_no_terminal(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  pipe_rig_use(&r, "a");
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_irpc_err(o.err, IRPC_ENOINVOKER);
  assert_string_equal(r.trace.text, ">a<a");
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

/* ---- A failing interceptor: answers with an error itself ---- */

static void fail_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  assert_irpc_ok(irpc_call_complete(call, IRPC_EREFUSED, NULL));
  /* Completing twice is an error, not a second completion. */
  assert_irpc_err(irpc_call_complete(call, IRPC_EREFUSED, NULL), IRPC_EDONE);
}

static const irpc_invoker_ops fail_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "fail",
                                          .invoke = fail_invoke};

static void test_failing_interceptor(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  pipe_rig_use(&r, "a");
  irpc_invoker *fail;
  assert_irpc_ok(irpc_invoker_new(&fail, &r.loop, &fail_ops, NULL));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, fail));
  pipe_rig_use(&r, "b");
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_irpc_err(o.err, IRPC_EREFUSED);
  assert_string_equal(r.trace.text, ">a<a"); /* b and the server unseen */
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

/* ---- An interceptor that changes the response on the way back ---- */

static int rewrite_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  assert_int_equal(err, 0);
  irpc_incoming_response *other;
  assert_irpc_ok(
      irpc_incoming_response_new(&other, IRPC_STATUS_UNAVAILABLE, "rewritten"));
  assert_irpc_ok(irpc_call_set_result(call, 0, other));
  return 0;
}

static const irpc_invoker_ops rewrite_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "rewrite",
    .on_complete = rewrite_on_complete};

static void test_interceptor_replaces_response(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  irpc_invoker *rw;
  assert_irpc_ok(irpc_invoker_new(&rw, &r.loop, &rewrite_ops, NULL));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, rw));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.status, IRPC_STATUS_UNAVAILABLE);
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

/* ---- An interceptor that sends the call again (retry shape) ---- */

typedef struct again_state {
  int attempts;
} again_state;

static void again_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  again_state *s = irpc_call_state(call);
  s->attempts++;
  irpc_call_next(call);
}

static int again_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  again_state *s = irpc_call_state(call);
  if (s->attempts < 3) {
    s->attempts++;
    assert_irpc_ok(irpc_call_next(call));
    return IRPC_CALL_HOLD;
  }
  return 0;
}

static const irpc_invoker_ops again_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "again",
    .call_state_size = sizeof(again_state),
    .invoke = again_invoke,
    .on_complete = again_on_complete,
};

static void test_resend_from_on_complete(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  irpc_invoker *again;
  assert_irpc_ok(irpc_invoker_new(&again, &r.loop, &again_ops, NULL));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, again));
  pipe_rig_use(&r, "x");
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(req), "p", 1));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_string_equal(o.payload, "p");
  assert_string_equal(r.trace.text, ">x|dispatch<x>x|dispatch<x>x|dispatch<x");
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

/* ---- Cancellation ---- */

static void cancel_cb(uv_timer_t *t);
static int server_canceled;
static irpc_dispatch *held_dispatch;

static void on_server_cancel(irpc_dispatch *d, int err, void *ud) {
  (void)ud;
  assert_ptr_equal(d, held_dispatch);
  server_canceled = err;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static uv_timer_t cancel_timer;

static void hold_then_cancel_call(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  held_dispatch = d;
  irpc_dispatch_on_cancel(d, on_server_cancel, NULL);
  /* The dispatch is under way: cancel the call from a loop callback. */
  uv_timer_start(&cancel_timer, cancel_cb, 0, 0);
}

static const irpc_dispatcher_ops hold_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hold",
                                             .dispatch = hold_then_cancel_call};

static void cancel_cb(uv_timer_t *t) {
  irpc_call *call = t->data;
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  /* The call completed: its callback runs later, and a second cancel
   * finds it done. */
  assert_irpc_err(irpc_call_cancel(call, IRPC_ECANCELED), IRPC_EDONE);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel_in_flight(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *hold;
  irpc_invoker *coloc;
  assert_irpc_ok(irpc_dispatcher_new(&hold, &loop, &hold_ops, NULL));
  assert_irpc_ok(irpc_coloc_new(&coloc, &loop, hold));
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &loop));
  trace t = {{0}};
  rec_config c = {.name = "a", .trace = &t};
  irpc_invoker *ic;
  assert_irpc_ok(irpc_invoker_new(&ic, &loop, &rec_ops, &c));
  assert_irpc_ok(irpc_pipeline_use(p, ic));
  assert_irpc_ok(irpc_pipeline_into(p, coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  pipe_outcome o = {0};
  irpc_call *call;
  server_canceled = 0;
  o.returned = 1;
  uv_timer_init(&loop, &cancel_timer);
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(p), req, on_done, &o, &call));
  cancel_timer.data = call;
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_irpc_err(o.err, IRPC_ECANCELED);
  assert_irpc_err(server_canceled, IRPC_ECANCELED);
  assert_string_equal(t.text, ">a<a");
  assert_int_equal(irpc_coloc_in_flight(coloc), 0);
  irpc_outgoing_request_free(req);
  irpc_pipeline_free(p);
  irpc_invoker_free(coloc);
  irpc_dispatcher_free(hold);
  test_loop_finish(&loop);
}

static void test_cancel_before_dispatch(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  pipe_outcome o = {.returned = 1};
  irpc_call *call;
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(r.pipeline), req, on_done, &o, &call));
  assert_irpc_err(irpc_call_cancel(call, 5), IRPC_EINVAL);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_EDEADLINE));
  assert_int_equal(o.calls, 0); /* the callback never runs inside cancel */
  assert_irpc_err(irpc_call_cancel(call, IRPC_ECANCELED), IRPC_EDONE);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_irpc_err(o.err, IRPC_EDEADLINE);
  assert_string_equal(r.trace.text, ""); /* never dispatched */
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

static void test_oneway(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  irpc_outgoing_request_set_oneway(req, 1);
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(req), "x", 1));
  pipe_outcome o = {0};
  invoke(&r, irpc_pipeline_invoker(r.pipeline), req, &o);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_string_equal(o.payload, ""); /* the echo is discarded */
  assert_string_equal(r.trace.text, "|dispatch");
  irpc_outgoing_request_free(req);
  pipe_rig_fini(&r);
}

static void test_many_in_flight(void **state) {
  (void)state;
  pipe_rig r;
  pipe_rig_init(&r);
  server_trace = NULL;
  for (int i = 0; i < 20; i++)
    pipe_rig_use(&r, "");
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  enum { N = 1000 };
  static irpc_outgoing_request *reqs[N];
  static pipe_outcome out[N];
  for (int i = 0; i < N; i++) {
    char path[32];
    snprintf(path, sizeof(path), "/svc/%d", i);
    assert_irpc_ok(irpc_outgoing_request_new(&reqs[i], path, "op"));
    assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(reqs[i]), path,
                                   strlen(path)));
    memset(&out[i], 0, sizeof(out[i]));
    invoke(&r, irpc_pipeline_invoker(r.pipeline), reqs[i], &out[i]);
  }
  assert_int_equal(irpc_coloc_in_flight(r.coloc), N);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < N; i++) {
    char path[32];
    snprintf(path, sizeof(path), "/svc/%d", i);
    assert_int_equal(out[i].calls, 1);
    assert_string_equal(out[i].payload, path);
    irpc_outgoing_request_free(reqs[i]);
  }
  pipe_rig_fini(&r);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_pipeline *p;
  irpc_invoker *inv;
  assert_irpc_err(irpc_pipeline_new(NULL, &loop), IRPC_EINVAL);
  assert_irpc_err(irpc_pipeline_new(&p, NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_invoker_new(&inv, &loop, NULL, NULL), IRPC_EINVAL);
  assert_irpc_ok(irpc_pipeline_new(&p, &loop));
  assert_irpc_err(irpc_pipeline_use(p, NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_pipeline_use(p, irpc_pipeline_invoker(p)), IRPC_EINVAL);
  assert_irpc_err(irpc_pipeline_into(p, irpc_pipeline_invoker(p)), IRPC_EINVAL);
  assert_irpc_ok(irpc_invoker_new(&inv, &loop, &again_ops, NULL));
  assert_irpc_ok(irpc_pipeline_use(p, inv));
  assert_irpc_err(irpc_pipeline_use(p, inv), IRPC_EINVAL);  /* twice */
  assert_irpc_err(irpc_pipeline_into(p, inv), IRPC_EINVAL); /* owned */
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/a", "op"));
  assert_irpc_err(irpc_invoke(NULL, req, on_done, NULL, NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_invoke(irpc_pipeline_invoker(p), req, NULL, NULL, NULL),
                  IRPC_EINVAL);
  /* A second loop's invoker cannot join this loop's pipeline. */
  uv_loop_t other;
  uv_loop_init(&other);
  irpc_invoker *foreign;
  assert_irpc_ok(irpc_invoker_new(&foreign, &other, &again_ops, NULL));
  assert_irpc_err(irpc_pipeline_use(p, foreign), IRPC_EINVAL);
  assert_irpc_err(irpc_pipeline_into(p, foreign), IRPC_EINVAL);
  irpc_invoker_free(foreign);
  test_loop_finish(&other);
  irpc_outgoing_request_free(req);
  irpc_pipeline_free(p);
  test_loop_finish(&loop);
}

/* Allocation failures anywhere in a call: the call fails cleanly with
 * IRPC_ENOMEM (or succeeds), and nothing leaks. */
static void test_allocation_failures(void **state) {
  (void)state;
  for (long k = 1; k < 60; k++) {
    long live = test_alloc.live;
    uv_loop_t loop;
    uv_loop_init(&loop);
    irpc_dispatcher *echo = NULL;
    irpc_invoker *coloc = NULL, *ic = NULL;
    irpc_pipeline *p = NULL;
    irpc_outgoing_request *req = NULL;
    test_alloc.fail_at = k;
    int ok = irpc_dispatcher_new(&echo, &loop, &echo_ops, NULL) == 0 &&
             irpc_coloc_new(&coloc, &loop, echo) == 0 &&
             irpc_pipeline_new(&p, &loop) == 0 &&
             irpc_invoker_new(&ic, &loop, &again_ops, NULL) == 0;
    if (ok && irpc_pipeline_use(p, ic) != 0) {
      irpc_invoker_free(ic);
      ok = 0;
    }
    ok = ok && irpc_pipeline_into(p, coloc) == 0 &&
         irpc_outgoing_request_new(&req, "/a", "op") == 0;
    pipe_outcome o = {.returned = 1};
    if (ok &&
        irpc_invoke(irpc_pipeline_invoker(p), req, on_done, &o, NULL) == 0) {
      uv_run(&loop, UV_RUN_DEFAULT);
      assert_int_equal(o.calls, 1);
      assert_true(o.err == 0 || o.err == IRPC_ENOMEM);
      if (o.err == 0)
        assert_true(o.status == IRPC_STATUS_OK ||
                    o.status == IRPC_STATUS_INTERNAL_ERROR);
    }
    test_alloc.fail_at = 0;
    irpc_outgoing_request_free(req);
    irpc_pipeline_free(p);
    irpc_invoker_free(coloc);
    irpc_dispatcher_free(echo);
    test_loop_finish(&loop);
    assert_int_equal(test_alloc.live, live);
  }
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_out_and_back),
      cmocka_unit_test(test_frozen_after_first_invoke),
      cmocka_unit_test(test_no_terminal),
      cmocka_unit_test(test_failing_interceptor),
      cmocka_unit_test(test_interceptor_replaces_response),
      cmocka_unit_test(test_resend_from_on_complete),
      cmocka_unit_test(test_cancel_in_flight),
      cmocka_unit_test(test_cancel_before_dispatch),
      cmocka_unit_test(test_oneway),
      cmocka_unit_test(test_many_in_flight),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
