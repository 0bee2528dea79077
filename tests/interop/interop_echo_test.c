/* The ice protocol alone against ZeroC Ice 3.7: the Ice client of peer.py
 * (Ice for Python) runs the echo checks against an echo server that
 * answers any operation with the request's encapsulation (no generated
 * code on the server side):
 *   - irpc-bench-ice-server, the Ice C++ server of the benchmark: proves
 *     the checks (and the benchmark's Ice peers: its client measures a
 *     short run against it); the large payload is 10 MiB;
 *   - irpc-bench serve ice://..., when irpc has the ice protocol; the
 *     large payload is 10 MiB too.
 * Each server runs as a child process, stopped by SIGTERM: it must exit
 * 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interop.h"

typedef struct echo_suite {
  const char *const *argv;
  const char *large_size; /* bytes of echo_large's payload */
  uv_loop_t loop;
  kit_peer server, client;
  int port;
  int status;
} echo_suite;

static int suite_setup(echo_suite *e) {
  uv_loop_init(&e->loop);
  e->port = interop_echo_server_start(&e->server, &e->loop, e->argv);
  char proxy[64];
  snprintf(proxy, sizeof proxy, "echo:tcp -h 127.0.0.1 -p %d", e->port);
  const char *args[] = {"--proxy", proxy, "--large-size", e->large_size, NULL};
  e->status = interop_ice_run(&e->client, &e->loop, "echo", args);
  return 0;
}

static int suite_teardown(echo_suite *e) {
  kit_peer_stop(&e->client, SIGKILL, 5000);
  kit_peer_stop(&e->server, SIGKILL, 5000);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  uv_loop_close(&e->loop);
  return 0;
}

static void expect_all_passed(echo_suite *e) {
  assert_true(kit_peer_has_line(&e->client, "done 10 passed 0 failed"));
  assert_int_equal(e->status, 0);
}

static void expect_stops(echo_suite *e) {
  assert_int_equal(kit_peer_stop(&e->server, SIGTERM, 10000), 0);
}

#define CHECK_TEST(prefix, suite, name)                                        \
  static void test_##prefix##_##name(void **state) {                           \
    (void)state;                                                               \
    interop_expect_pass(&suite.client, #name);                                 \
  }

/* ---- The Ice C++ echo server ---- */

static const char *const ice_server_argv[] = {IRPC_BENCH_ICE_SERVER, NULL};
static echo_suite ice = {.argv = ice_server_argv, .large_size = "10485760"};

static int ice_setup(void **state) {
  (void)state;
  return suite_setup(&ice);
}
static int ice_teardown(void **state) {
  (void)state;
  return suite_teardown(&ice);
}
#define ICE_TEST(name) CHECK_TEST(ice, ice, name)
INTEROP_ECHO_CHECKS(ICE_TEST)

static void test_ice_all_passed(void **state) {
  (void)state;
  expect_all_passed(&ice);
}

/* The benchmark's Ice client, a short run: every call answered. */
static void test_ice_bench_client(void **state) {
  (void)state;
  char address[64];
  snprintf(address, sizeof address, "ice://127.0.0.1:%d", ice.port);
  const char *argv[] = {IRPC_BENCH_ICE_CLIENT, "--seconds", "0.01", address,
                        NULL};
  kit_peer client;
  assert_int_equal(kit_peer_start(&client, &ice.loop, argv, NULL), 0);
  assert_int_equal(kit_peer_wait_exit(&client, 120000), 0);
  assert_non_null(
      kit_peer_find_line(&client, "tcp  latency ", address, sizeof address));
  assert_non_null(kit_peer_find_line(&client, "tcp  inflight_64 ", address,
                                     sizeof address));
  assert_non_null(
      kit_peer_find_line(&client, "tcp  echo_1MiB ", address, sizeof address));
  assert_int_equal(kit_peer_stop(&client, SIGKILL, 5000), 0);
}

static void test_ice_server_stops(void **state) {
  (void)state;
  expect_stops(&ice);
}

#define ICE_ENTRY(name) cmocka_unit_test(test_ice_##name),

#ifdef IRPC_BENCH_PROGRAM
/* ---- irpc-bench serve ice://127.0.0.1:0 ---- */

static const char *const irpc_server_argv[] = {IRPC_BENCH_PROGRAM, "serve",
                                               "ice://127.0.0.1:0", NULL};
/* irpc-bench serve takes ice messages up to 64 MiB (BENCH_ICE_MAX_MESSAGE). */
static echo_suite irpc = {.argv = irpc_server_argv, .large_size = "10485760"};

static int irpc_setup(void **state) {
  (void)state;
  return suite_setup(&irpc);
}
static int irpc_teardown(void **state) {
  (void)state;
  return suite_teardown(&irpc);
}
#define IRPC_TEST(name) CHECK_TEST(irpc, irpc, name)
INTEROP_ECHO_CHECKS(IRPC_TEST)

static void test_irpc_all_passed(void **state) {
  (void)state;
  expect_all_passed(&irpc);
}

static void test_irpc_server_stops(void **state) {
  (void)state;
  expect_stops(&irpc);
}

#define IRPC_ENTRY(name) cmocka_unit_test(test_irpc_##name),
#endif

int main(void) {
  const struct CMUnitTest ice_tests[] = {
      INTEROP_ECHO_CHECKS(ICE_ENTRY) cmocka_unit_test(test_ice_all_passed),
      cmocka_unit_test(test_ice_bench_client),
      cmocka_unit_test(test_ice_server_stops),
  };
  int failed = cmocka_run_group_tests_name("ice_server", ice_tests, ice_setup,
                                           ice_teardown);
#ifdef IRPC_BENCH_PROGRAM
  const struct CMUnitTest irpc_tests[] = {
      INTEROP_ECHO_CHECKS(IRPC_ENTRY) cmocka_unit_test(test_irpc_all_passed),
      cmocka_unit_test(test_irpc_server_stops),
  };
  failed += cmocka_run_group_tests_name("irpc_server", irpc_tests, irpc_setup,
                                        irpc_teardown);
#endif
  return failed;
}
