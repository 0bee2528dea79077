/* Every allocation of a call over a connection failing in turn, on both
 * sides (client and server run in this process): each call completes once,
 * with a result or an error, and nothing leaks or is used after it is
 * freed (ASan). */
#include "kit/net.h"

/* One call with the Nth allocation from now failing; returns 1 when no
 * allocation failed (the sweep is over). */
static int call_failing_at(net_rig *r, long n, size_t size) {
  irpc_invoker *inv = net_client(r);
  int up = 0;
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &up));
  kit_run_until(&r->loop, &up);
  assert_int_equal(up, 1);
  static uint8_t data[256 << 10];
  irpc_outgoing_request *req = kit_request("/echo", data, size);
  net_result o = {0};
  test_alloc.fail_at = n;
  int rc = irpc_invoke(inv, req, net_on_result, &o, NULL);
  if (rc == 0)
    kit_run_until(&r->loop, &o.done);
  int untouched = test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  if (rc == 0) {
    assert_int_equal(o.done, 1);
    assert_true(o.err <= 0);
    if (untouched) {
      assert_irpc_ok(o.err);
      assert_int_equal(o.status, IRPC_STATUS_OK);
    }
  } else {
    assert_int_equal(rc, IRPC_ENOMEM);
  }
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  return untouched;
}

static void sweep(size_t size) {
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  net_map(&r, "/echo", &kit_echo_oom_ops, NULL);
  net_rig_start(&r);
  long n = 1;
  while (!call_failing_at(&r, n, size))
    assert_true(++n < 5000);
  print_message("%ld allocations of a %zu-byte echo failed in turn\n", n - 1,
                size);
  net_rig_fini(&r);
}

static void small_call(void **state) {
  (void)state;
  sweep(16);
}

static void large_call(void **state) {
  (void)state;
  sweep(200 << 10); /* through flow control, several frames each way */
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(small_call),
      cmocka_unit_test(large_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
