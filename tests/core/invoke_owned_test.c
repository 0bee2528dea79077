/* irpc_invoke_owned: the call owns its request and frees it when it ends,
 * on every path (success, error, cancel, a push that fails, an allocation
 * that fails, bad arguments); the callback can still read it. The
 * counting allocator checks that nothing leaks, ASan that nothing is freed
 * twice. */
#include "kit/net.h"

/* ---- Invokers ---- */

/* Per-call state no arena can hold: every push into it fails. */
static const irpc_invoker_ops huge_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "huge",
                                          .call_state_size = (size_t)1 << 31};

/* Holds every call until it is canceled. */
static void hang_cancel(irpc_call *call, int err, void *ud) {
  (void)ud;
  irpc_call_complete(call, err, NULL);
}

static void hang_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_call_on_cancel(call, hang_cancel, NULL);
}

static const irpc_invoker_ops hang_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "hang",
                                          .invoke = hang_invoke};

/* Answers Ok; when memory is short, leaves the answer to the engine (no
 * next: NotFound, or no response at all). */
static void ok_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  if (irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL) != 0)
    irpc_dispatch_next(d);
}

static const irpc_dispatcher_ops ok_ops = {.struct_size =
                                               sizeof(irpc_dispatcher_ops),
                                           .name = "ok",
                                           .dispatch = ok_dispatch};

/* ---- The callback reads the request it no longer owns ---- */

typedef struct owned_outcome {
  int calls;
  int err;
  uint64_t status;
  char path[32];
  size_t payload_len;
} owned_outcome;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  owned_outcome *o = ud;
  o->calls++;
  o->err = err;
  irpc_outgoing_request *req = irpc_call_request(call);
  assert_non_null(req);
  snprintf(o->path, sizeof o->path, "%s", irpc_outgoing_request_path(req));
  o->payload_len = irpc_buf_len(irpc_outgoing_request_payload(req));
  if (resp)
    o->status = irpc_incoming_response_status(resp);
  irpc_incoming_response_free(resp);
}

/* ---- The rig: a pipeline into the coloc invoker and a router ---- */

typedef struct owned_rig {
  uv_loop_t loop;
  long live; /* allocations before the owned_rig */
  irpc_router *router;
  irpc_dispatcher *ok;
  irpc_invoker *coloc;
} owned_rig;

static void owned_rig_init(owned_rig *r) {
  r->live = test_alloc.live;
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_irpc_ok(irpc_router_new(&r->router, &r->loop));
  assert_irpc_ok(irpc_dispatcher_new(&r->ok, &r->loop, &ok_ops, NULL));
  assert_irpc_ok(irpc_router_map(r->router, "/echo", r->ok));
  assert_irpc_ok(
      irpc_coloc_new(&r->coloc, &r->loop, irpc_router_dispatcher(r->router)));
}

static void owned_rig_fini(owned_rig *r) {
  irpc_invoker_free(r->coloc);
  irpc_router_free(r->router);
  irpc_dispatcher_free(r->ok);
  test_loop_finish(&r->loop);
  assert_int_equal(test_alloc.live, r->live);
}

/* Starts an owned call of `path` through `inv` and runs it to the end. */
static owned_outcome call_owned(owned_rig *r, irpc_invoker *inv,
                                const char *path) {
  owned_outcome o = {0};
  assert_irpc_ok(
      irpc_invoke_owned(inv, kit_request(path, "abc", 3), on_done, &o, NULL));
  assert_int_equal(o.calls, 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_string_equal(o.path, path);
  assert_int_equal(o.payload_len, 3);
  return o;
}

static void test_success_and_status_error(void **state) {
  (void)state;
  owned_rig r;
  owned_rig_init(&r);
  owned_outcome o = call_owned(&r, r.coloc, "/echo");
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  o = call_owned(&r, r.coloc, "/missing");
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_NOT_FOUND);
  owned_rig_fini(&r);
}

/* A library error: a pipeline without a terminal. */
static void test_library_error(void **state) {
  (void)state;
  owned_rig r;
  owned_rig_init(&r);
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
  owned_outcome o = call_owned(&r, irpc_pipeline_invoker(p), "/echo");
  assert_irpc_err(o.err, IRPC_ENOINVOKER);
  irpc_pipeline_free(p);
  owned_rig_fini(&r);
}

static void test_cancel(void **state) {
  (void)state;
  owned_rig r;
  owned_rig_init(&r);
  irpc_invoker *hang;
  assert_irpc_ok(irpc_invoker_new(&hang, &r.loop, &hang_ops, NULL));
  owned_outcome o = {0};
  irpc_call *call;
  assert_irpc_ok(irpc_invoke_owned(hang, kit_request("/echo", "abc", 3),
                                   on_done, &o, &call));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 0);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_irpc_err(o.err, IRPC_ECANCELED);
  assert_string_equal(o.path, "/echo");
  /* Canceled before it reached anything: the same. */
  o = (owned_outcome){0};
  assert_irpc_ok(irpc_invoke_owned(r.coloc, kit_request("/echo", "abc", 3),
                                   on_done, &o, &call));
  assert_irpc_ok(irpc_call_cancel(call, IRPC_EDEADLINE));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_irpc_err(o.err, IRPC_EDEADLINE);
  irpc_invoker_free(hang);
  owned_rig_fini(&r);
}

/* The push into the terminal fails: the call ends with the error and the
 * request is freed with it. */
static void test_failing_push(void **state) {
  (void)state;
  owned_rig r;
  owned_rig_init(&r);
  irpc_invoker *huge;
  assert_irpc_ok(irpc_invoker_new(&huge, &r.loop, &huge_ops, NULL));
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
  assert_irpc_ok(irpc_pipeline_into(p, huge));
  owned_outcome o = call_owned(&r, irpc_pipeline_invoker(p), "/echo");
  assert_irpc_err(o.err, IRPC_ENOMEM);
  irpc_pipeline_free(p);
  /* The first invoker itself cannot be entered: irpc_invoke_owned fails
   * and the request is gone (the live count says so). */
  o = (owned_outcome){0};
  assert_irpc_err(irpc_invoke_owned(huge, kit_request("/echo", "abc", 3),
                                    on_done, &o, NULL),
                  IRPC_ENOMEM);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 0);
  irpc_invoker_free(huge);
  owned_rig_fini(&r);
}

/* Bad arguments: the request is freed and nothing runs. */
static void test_bad_arguments(void **state) {
  (void)state;
  owned_rig r;
  owned_rig_init(&r);
  assert_irpc_err(irpc_invoke_owned(NULL, kit_request("/echo", "abc", 3),
                                    on_done, NULL, NULL),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_invoke_owned(r.coloc, kit_request("/echo", "abc", 3),
                                    NULL, NULL, NULL),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_invoke_owned(r.coloc, NULL, on_done, NULL, NULL),
                  IRPC_EINVAL);
  owned_rig_fini(&r);
}

/* The Nth allocation fails, for every N a call makes: either
 * irpc_invoke_owned fails or the callback runs once; the request is freed
 * either way. */
static void test_failing_allocations(void **state) {
  (void)state;
  for (long k = 1; k < 16; k++) {
    owned_rig r;
    owned_rig_init(&r);
    irpc_outgoing_request *req = kit_request("/echo", "abc", 3);
    owned_outcome o = {0};
    test_alloc.fail_at = k;
    int rc = irpc_invoke_owned(r.coloc, req, on_done, &o, NULL);
    if (rc == 0)
      uv_run(&r.loop, UV_RUN_DEFAULT);
    test_alloc.fail_at = 0;
    if (rc) {
      assert_irpc_err(rc, IRPC_ENOMEM);
      assert_int_equal(o.calls, 0);
    } else {
      assert_int_equal(o.calls, 1);
      assert_true(o.err == 0 || o.err == IRPC_ENOMEM);
      if (o.err == 0)
        assert_true(o.status == IRPC_STATUS_OK ||
                    o.status == IRPC_STATUS_NOT_FOUND ||
                    o.status == IRPC_STATUS_INTERNAL_ERROR);
    }
    owned_rig_fini(&r);
  }
}

/* irpc_invoke still borrows: the callback may free the request itself. */
static void free_in_callback(irpc_call *call, int err,
                             irpc_incoming_response *resp, void *ud) {
  (void)err;
  *(int *)ud = 1;
  irpc_incoming_response_free(resp);
  irpc_outgoing_request_free(irpc_call_request(call));
}

static void test_borrowed_freed_in_callback(void **state) {
  (void)state;
  owned_rig r;
  owned_rig_init(&r);
  int done = 0;
  assert_irpc_ok(irpc_invoke(r.coloc, kit_request("/echo", "abc", 3),
                             free_in_callback, &done, NULL));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(done, 1);
  owned_rig_fini(&r);
}

/* ---- Over a real connection ---- */

static void test_connection(void **state) {
  (void)state;
  long live = test_alloc.live;
  net_rig nr;
  net_rig_init(&nr, NET_MEMORY);
  net_map(&nr, "/echo", &test_echo_ops, NULL);
  net_rig_start(&nr);
  irpc_invoker *client = net_client(&nr);
  owned_outcome o = {0};
  assert_irpc_ok(irpc_invoke_owned(client, kit_request("/echo", "abc", 3),
                                   on_done, &o, NULL));
  kit_run_until(&nr.loop, &o.calls);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_string_equal(o.path, "/echo");
  /* Canceled before the connection sent it. */
  o = (owned_outcome){0};
  irpc_call *call;
  assert_irpc_ok(irpc_invoke_owned(client, kit_request("/echo", "abc", 3),
                                   on_done, &o, &call));
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&nr.loop, &o.calls);
  assert_irpc_err(o.err, IRPC_ECANCELED);
  net_client_close(&nr, client);
  net_rig_fini(&nr);
  assert_int_equal(test_alloc.live, live);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_success_and_status_error),
      cmocka_unit_test(test_library_error),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_failing_push),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_failing_allocations),
      cmocka_unit_test(test_borrowed_freed_in_callback),
      cmocka_unit_test(test_connection),
  };
  return cmocka_run_group_tests_name("invoke_owned", tests, NULL, NULL);
}
