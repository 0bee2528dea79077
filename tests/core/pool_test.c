/* The per-loop pools (core/base/pool.h): a call in steady state allocates
 * nothing on either side, over the memory transport, TCP and Unix sockets,
 * with and without the built-in interceptors and middleware, over icerpc
 * and ice; what a pool holds goes back to the allocator when the loop's
 * last irpc object goes, and a burst leaves at most the pools' bounds
 * behind; a call on a loop whose pools are empty fails cleanly when an
 * allocation fails; a freed object kept by a pool is poisoned under
 * AddressSanitizer. */
#include "kit/net.h"

#if defined(__SANITIZE_ADDRESS__)
#define POOL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_TEST_ASAN 1
#endif
#endif
#ifdef POOL_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- A rig: a server (echo, optionally behind every middleware that
 * does not log or trace) and a client (optionally through a pipeline of
 * the matching interceptors) ---- */

typedef struct rig {
  net_rig n;
  irpc_router *front; /* the middleware, in front of the rig's router */
  irpc_invoker *conn;
  irpc_pipeline *pipeline;
  irpc_metrics *cm, *sm;
  irpc_outgoing_request *req;
} rig;

static void use_mw(rig *r, int rc, irpc_dispatcher **mw) {
  assert_irpc_ok(rc);
  assert_irpc_ok(irpc_router_use(r->front, *mw));
}

static void use_ic(rig *r, int rc, irpc_invoker **ic) {
  assert_irpc_ok(rc);
  assert_irpc_ok(irpc_pipeline_use(r->pipeline, *ic));
}

/* The rig's server over the ice protocol instead of icerpc. */
static void rig_use_ice(net_rig *n) {
  if (n->kind == NET_TCP)
    snprintf(n->listen, sizeof n->listen, "ice://127.0.0.1:0");
  else if (n->kind == NET_UDS)
    snprintf(n->listen, sizeof n->listen,
             "ice://localhost?transport=uds&path=%s/s.sock", n->dir);
  else
    snprintf(n->listen, sizeof n->listen, "ice://mem%d?transport=memory",
             rand());
}

static void rig_init(rig *r, int kind, int interceptors, int ice) {
  memset(r, 0, sizeof(*r));
  net_rig_init(&r->n, kind);
  if (ice)
    rig_use_ice(&r->n);
  uv_loop_t *l = &r->n.loop;
  net_map(&r->n, "/echo", &kit_echo_oom_ops, NULL);
  if (interceptors) {
    irpc_dispatcher *mw;
    assert_irpc_ok(irpc_router_new(&r->front, l));
    use_mw(r, irpc_logger_middleware_new(&mw, l, NULL), &mw);
    use_mw(r, irpc_deadline_middleware_new(&mw, l, NULL), &mw);
    use_mw(r, irpc_compress_middleware_new(&mw, l, NULL), &mw);
    assert_irpc_ok(irpc_metrics_new(&r->sm, "server"));
    use_mw(r, irpc_metrics_middleware_new(&mw, l, r->sm, NULL), &mw);
    use_mw(r, irpc_request_context_middleware_new(&mw, l), &mw);
    assert_irpc_ok(
        irpc_router_mount(r->front, "/", irpc_router_dispatcher(r->n.router)));
    /* The server serves the front router; the rig frees its own. */
    assert_irpc_ok(irpc_server_new(
        &r->n.server, l, irpc_router_dispatcher(r->front), &r->n.sopts));
    assert_irpc_ok(irpc_server_listen(r->n.server, r->n.listen, r->n.bound,
                                      sizeof r->n.bound));
  } else {
    net_rig_start(&r->n);
  }
  r->conn = net_client(&r->n);
  r->req = kit_request("/echo", "0123456789abcdef0123456789abcdef", 32);
  if (!interceptors)
    return;
  irpc_invoker *ic;
  irpc_deadline_options d;
  irpc_deadline_options_init(&d);
  d.default_timeout_ms = 10000;
  assert_irpc_ok(irpc_pipeline_new(&r->pipeline, l));
  use_ic(r, irpc_logger_interceptor_new(&ic, l, NULL), &ic);
  use_ic(r, irpc_retry_interceptor_new(&ic, l, NULL), &ic);
  use_ic(r, irpc_deadline_interceptor_new(&ic, l, &d), &ic);
  assert_irpc_ok(irpc_metrics_new(&r->cm, "client"));
  use_ic(r, irpc_metrics_interceptor_new(&ic, l, r->cm, NULL), &ic);
  use_ic(r, irpc_request_context_interceptor_new(&ic, l), &ic);
  use_ic(r, irpc_compress_interceptor_new(&ic, l, NULL), &ic);
  assert_irpc_ok(irpc_pipeline_into(r->pipeline, r->conn));
  /* Compression asked for, but 32 bytes are below the minimum size. */
  irpc_features *f = irpc_outgoing_request_features(r->req);
  irpc_context *ctx;
  assert_irpc_ok(irpc_context_new(&ctx));
  assert_irpc_ok(irpc_context_set(ctx, "tenant", "42"));
  assert_irpc_ok(irpc_features_set(f, &irpc_request_context_feature, ctx));
  assert_irpc_ok(irpc_features_set_compress(f, 1));
}

static irpc_invoker *rig_invoker(rig *r) {
  return r->pipeline ? irpc_pipeline_invoker(r->pipeline) : r->conn;
}

static void rig_fini(rig *r) {
  irpc_outgoing_request_free(r->req);
  irpc_pipeline_free(r->pipeline);
  net_client_close(&r->n, r->conn);
  irpc_server_free(r->n.server);
  r->n.server = NULL;
  uv_run(&r->n.loop, UV_RUN_DEFAULT);
  irpc_router_free(r->front);
  net_rig_fini(&r->n);
  irpc_metrics_free(r->cm);
  irpc_metrics_free(r->sm);
}

/* ---- Closed-loop calls: `inflight` at once until `n` completed ---- */

typedef struct calls {
  rig *r;
  long started, done, failed, target;
} calls;

static void call_start(calls *k);

static void call_done(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  (void)call;
  calls *k = ud;
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK ||
      irpc_buf_len(irpc_incoming_response_payload(resp)) != 32)
    k->failed++;
  irpc_incoming_response_free(resp);
  k->done++;
  if (k->started < k->target)
    call_start(k);
}

static void call_start(calls *k) {
  k->started++;
  assert_irpc_ok(irpc_invoke(rig_invoker(k->r), k->r->req, call_done, k, NULL));
}

static void calls_run(rig *r, long inflight, long n) {
  calls k = {.r = r, .target = n};
  for (long i = 0; i < inflight && i < n; i++)
    call_start(&k);
  while (k.done < n)
    uv_run(&r->n.loop, UV_RUN_ONCE);
  assert_int_equal(k.failed, 0);
}

/* The allocations of `n` calls after twice as many to warm up (each run
 * starts `inflight` calls at once, then one as each completes). */
static long steady_allocs(rig *r, long inflight, long n) {
  calls_run(r, inflight, n);
  calls_run(r, inflight, n);
  long before = test_alloc.allocs;
  calls_run(r, inflight, n);
  return test_alloc.allocs - before;
}

static void steady_state(int kind, int ice) {
  for (int ic = 0; ic < 2; ic++) {
    long live = test_alloc.live;
    rig r;
    rig_init(&r, kind, ic, ice);
    long n1 = steady_allocs(&r, 1, 300);
    print_message("%s, one call at a time: %ld allocations in 300 calls\n",
                  ic ? "interceptors" : "no interceptors", n1);
    assert_int_equal(n1, 0);
    if (kind == NET_MEMORY) {
      long n64 = steady_allocs(&r, 64, 64 * 20);
      print_message("%s, 64 in flight: %ld allocations in 1280 calls\n",
                    ic ? "interceptors" : "no interceptors", n64);
      assert_int_equal(n64, 0);
    }
    rig_fini(&r);
    assert_int_equal(test_alloc.live, live); /* the pools went with the loop */
  }
}

static void steady_memory(void **state) {
  (void)state;
  steady_state(NET_MEMORY, 0);
}

static void steady_tcp(void **state) {
  (void)state;
  steady_state(NET_TCP, 0);
}

static void steady_uds(void **state) {
  (void)state;
  steady_state(NET_UDS, 0);
}

#ifdef IRPC_WITH_ICE
/* The same over the ice protocol, whose requests carry the request
 * context as an Ice context. */
static void steady_ice_memory(void **state) {
  (void)state;
  steady_state(NET_MEMORY, 1);
}

static void steady_ice_tcp(void **state) {
  (void)state;
  steady_state(NET_TCP, 1);
}

static void steady_ice_uds(void **state) {
  (void)state;
  steady_state(NET_UDS, 1);
}
#endif

/* ---- Bounds: a burst leaves at most the pools' bounds behind ---- */

static void burst_bounded(void **state) {
  (void)state;
  rig r;
  rig_init(&r, NET_MEMORY, 0, 0);
  calls_run(&r, 1, 10);
  long long before = test_alloc.bytes_live;
  test_alloc.bytes_peak = before;
  calls_run(&r, 1024, 4096);
  long long peak = test_alloc.bytes_peak - before;
  long long kept = test_alloc.bytes_live - before;
  print_message("1,024 calls in flight: %lld KiB at the peak, %lld KiB kept "
                "afterwards\n",
                peak / 1024, kept / 1024);
  /* The pools keep at most 768 KiB, the loop's call objects 256 chains of
   * 1.3 KiB; the peak is several times that. */
  assert_true(kept < 1200 * 1024);
  assert_true(kept < peak / 2);
  rig_fini(&r);
}

/* ---- Pools and loops ---- */

static void pool_lifetime(void **state) {
  (void)state;
  long live = test_alloc.live;
  irpc_outgoing_response *resp;
  /* No loop on this thread: straight back to the allocator. */
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  irpc_outgoing_response_free(resp);
  assert_int_equal(test_alloc.live, live);
  /* With a loop in use, the loop's pool keeps it, and gives it again. */
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_router *router;
  assert_irpc_ok(irpc_router_new(&router, &loop));
  long with_loop = test_alloc.live;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  irpc_outgoing_response_free(resp);
  assert_int_equal(test_alloc.live, with_loop + 1);
  long allocs = test_alloc.allocs;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_int_equal(test_alloc.allocs, allocs);
#ifdef POOL_TEST_ASAN
  assert_false(__asan_address_is_poisoned((char *)resp + 64));
#endif
  irpc_outgoing_response_free(resp);
#ifdef POOL_TEST_ASAN
  /* Kept but poisoned: a use after the free is reported. */
  assert_true(__asan_address_is_poisoned((char *)resp + 64));
#endif
  /* A message too long for a pooled frame is allocated on its own. */
  char msg[600];
  memset(msg, 'm', sizeof msg - 1);
  msg[sizeof msg - 1] = '\0';
  assert_irpc_ok(
      irpc_outgoing_response_new(&resp, IRPC_STATUS_INTERNAL_ERROR, msg));
  assert_int_equal(test_alloc.allocs, allocs + 1);
  assert_string_equal(irpc_outgoing_response_error_message(resp), msg);
  irpc_outgoing_response_free(resp);
  assert_int_equal(test_alloc.live, with_loop + 1);
  /* The loop's last irpc object goes: so does the pool. */
  irpc_router_free(router);
  test_loop_finish(&loop);
  assert_int_equal(test_alloc.live, live);
}

/* ---- Allocation failures while the pools are empty ---- */

typedef struct outcome {
  int done;
  int err;
  uint64_t status;
} outcome;

static void on_outcome(irpc_call *call, int err, irpc_incoming_response *resp,
                       void *ud) {
  (void)call;
  outcome *o = ud;
  o->done++;
  o->err = err;
  if (resp)
    o->status = irpc_incoming_response_status(resp);
  irpc_incoming_response_free(resp);
}

/* A first call on a new loop (its pools empty, the connection not yet
 * established) with the Nth allocation from the invoke failing; returns 1
 * when none failed. */
static int cold_call_failing_at(long nth, int ic) {
  long live = test_alloc.live;
  rig r;
  rig_init(&r, NET_MEMORY, ic, 0);
  outcome o = {0};
  test_alloc.fail_at = nth;
  int rc = irpc_invoke(rig_invoker(&r), r.req, on_outcome, &o, NULL);
  if (rc == 0)
    kit_run_until(&r.n.loop, &o.done);
  int untouched = test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  if (rc) {
    assert_int_equal(rc, IRPC_ENOMEM);
    assert_int_equal(o.done, 0);
  } else {
    assert_int_equal(o.done, 1);
    assert_true(o.err <= 0);
    if (untouched) {
      assert_irpc_ok(o.err);
      assert_int_equal(o.status, IRPC_STATUS_OK);
    }
  }
  /* The next call succeeds, and nothing leaked. */
  calls_run(&r, 1, 1);
  rig_fini(&r);
  assert_int_equal(test_alloc.live, live);
  return untouched;
}

static void cold_failures(void **state) {
  (void)state;
  for (int ic = 0; ic < 2; ic++) {
    long n = 1;
    while (!cold_call_failing_at(n, ic))
      assert_true(++n < 5000);
    print_message("%s: %ld allocations of a first call on a new loop failed "
                  "in turn\n",
                  ic ? "interceptors" : "no interceptors", n - 1);
  }
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(steady_memory),     cmocka_unit_test(steady_tcp),
      cmocka_unit_test(steady_uds),
#ifdef IRPC_WITH_ICE
      cmocka_unit_test(steady_ice_memory), cmocka_unit_test(steady_ice_tcp),
      cmocka_unit_test(steady_ice_uds),
#endif
      cmocka_unit_test(burst_bounded),     cmocka_unit_test(pool_lifetime),
      cmocka_unit_test(cold_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
