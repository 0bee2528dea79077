/* Every check of the interop suite between two ZeroC Ice 3.7 peers: the
 * Ice client of peer.py against the Ice server of peer.py. This proves the
 * peers and the checks right, so that the same checks failing against an
 * irpc peer point at irpc. The server runs for the whole suite and stops
 * on SIGTERM with status 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interop.h"

static struct {
  uv_loop_t loop;
  kit_peer server, client;
  int port;
  char proxy[256];
  int client_status;
} s;

static int suite_setup(void **state) {
  (void)state;
  uv_loop_init(&s.loop);
  interop_ice_server_start(&s.server, &s.loop, NULL, &s.port, s.proxy,
                           sizeof s.proxy);
  char target[128];
  snprintf(target, sizeof target, "test:tcp -h 127.0.0.1 -p %d", s.port);
  const char *args[] = {"--proxy", target, NULL};
  s.client_status = interop_ice_run(&s.client, &s.loop, "client", args);
  return 0;
}

static int suite_teardown(void **state) {
  (void)state;
  kit_peer_stop(&s.client, SIGKILL, 5000);
  kit_peer_stop(&s.server, SIGKILL, 5000);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  uv_loop_close(&s.loop);
  return 0;
}

/* Each check passed; the client saw them all pass and exited 0. */
INTEROP_CLIENT_TESTS(s.client, s.client_status)

/* The server's proxy names the identity and the port it listens on. */
static void test_server_proxy(void **state) {
  (void)state;
  char want[64];
  snprintf(want, sizeof want, "-p %d", s.port);
  assert_non_null(strstr(s.proxy, "test "));
  assert_non_null(strstr(s.proxy, want));
}

/* SIGTERM: the server shuts down gracefully and exits 0. */
static void test_server_stops(void **state) {
  (void)state;
  assert_int_equal(kit_peer_stop(&s.server, SIGTERM, 10000), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_proxy),
      INTEROP_CLIENT_TEST_ENTRIES,
      cmocka_unit_test(test_server_stops),
  };
  return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
