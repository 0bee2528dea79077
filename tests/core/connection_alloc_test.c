/* Every allocation of a call over a connection failing in turn, on both
 * sides (client and server run in this process): each call completes once,
 * with a result or an error, and nothing leaks or is used after it is
 * freed (ASan); over icerpc and ice. */
#include "kit/net.h"

#define BURST_MAX 64

/* `k` calls at once with the Nth allocation from now failing; returns 1
 * when no allocation failed (the sweep is over). Over ice, the requests
 * carry a context of `ctx` bytes (0: none). */
static int calls_failing_at(net_rig *r, long n, size_t size, int k,
                            size_t ctx) {
  irpc_invoker *inv = net_client(r);
  int up = 0;
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &up));
  kit_run_until(&r->loop, &up);
  assert_int_equal(up, 1);
  static uint8_t data[256 << 10];
  irpc_outgoing_request *req = kit_request("/echo", data, size);
  if (ctx) {
    /* {"k": ctx - 5 bytes}, as a minimal Slice2 dictionary */
    static uint8_t f[1024];
    size_t v = ctx - 5;
    assert_true(v >= 64 && v < sizeof f - 5);
    memcpy(f, "\x04\x04k", 3);
    f[3] = (uint8_t)(v << 2 | 1);
    f[4] = (uint8_t)(v >> 6);
    memset(f + 5, 'v', v);
    assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                   IRPC_REQUEST_FIELD_CONTEXT, f, ctx));
  }
  net_result o[BURST_MAX] = {{0}};
  int rc[BURST_MAX], left = k, all = 0;
  test_alloc.fail_at = n;
  for (int i = 0; i < k; i++) {
    rc[i] = irpc_invoke(inv, req, net_on_result, &o[i], NULL);
    if (rc[i])
      left--;
  }
  for (int i = 0; i < k; i++)
    if (rc[i] == 0) {
      kit_run_until(&r->loop, &o[i].done);
      all++;
    }
  int untouched = test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  assert_int_equal(all, left);
  for (int i = 0; i < k; i++) {
    if (rc[i] == 0) {
      assert_int_equal(o[i].done, 1);
      assert_true(o[i].err <= 0);
      if (untouched) {
        assert_irpc_ok(o[i].err);
        assert_int_equal(o[i].status, IRPC_STATUS_OK);
      }
    } else {
      assert_int_equal(rc[i], IRPC_ENOMEM);
    }
  }
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  return untouched;
}

static void rig_open(net_rig *r, int ice) {
  net_rig_init(r, NET_MEMORY);
  if (ice)
    snprintf(r->listen, sizeof r->listen, "ice://mem%d?transport=memory",
             rand());
  net_map(r, "/echo", &kit_echo_oom_ops, NULL);
  net_rig_start(r);
}

/* The sweep on one rig, or (`cold`) on a new rig each time: a new loop,
 * whose pools are empty, so that what they would give comes from the
 * allocator and fails in turn too. */
static void sweep_on(int ice, int cold, size_t size, int k, size_t ctx) {
  net_rig r;
  rig_open(&r, ice);
  long n = 1;
  while (!calls_failing_at(&r, n, size, k, ctx)) {
    assert_true(++n < 20000);
    if (cold) {
      net_rig_fini(&r);
      rig_open(&r, ice);
    }
  }
  print_message("%ld allocations of %d %zu-byte echo(es) over %s%s failed "
                "in turn\n",
                n - 1, k, size, ice ? "ice" : "icerpc",
                cold ? ", pools empty," : "");
  net_rig_fini(&r);
}

static void sweep(size_t size) {
  sweep_on(0, 0, size, 1, 0);
}

static void small_call(void **state) {
  (void)state;
  sweep(16);
}

static void large_call(void **state) {
  (void)state;
  sweep(200 << 10); /* through flow control, several frames each way */
}

#ifdef IRPC_WITH_ICE
/* Over ice: a call with a context re-encoded in a pooled object and a
 * burst of small calls whose messages share blocks and move between them
 * on both sides (both with empty pools), and a large call. */
static void ice_small_call(void **state) {
  (void)state;
  sweep_on(1, 1, 16, 1, 300);
}

static void ice_large_call(void **state) {
  (void)state;
  sweep_on(1, 0, 200 << 10, 1, 0);
}

static void ice_burst(void **state) {
  (void)state;
  sweep_on(1, 1, 40, BURST_MAX, 0);
}
#endif

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(small_call),     cmocka_unit_test(large_call),
#ifdef IRPC_WITH_ICE
      cmocka_unit_test(ice_small_call), cmocka_unit_test(ice_large_call),
      cmocka_unit_test(ice_burst),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
