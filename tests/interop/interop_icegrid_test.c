/* IceGrid with ZeroC Ice 3.7 on both sides: a real icegridregistry (the
 * test kit's), an Ice server that registers its adapter (dynamic
 * registration) and a well-known object (through an admin session), and an
 * Ice client that finds it by adapter id and by name through the locator.
 * The registry and the server are stopped by PID and exit 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interop.h"

static struct {
  uv_loop_t loop;
  kit_icegrid grid;
  int have_grid;
  kit_peer server, client; /* stopped by the teardown if a test fails */
} s;

static int suite_setup(void **state) {
  (void)state;
  uv_loop_init(&s.loop);
  int rc = kit_icegrid_start(&s.grid, &s.loop, "InteropGrid");
  if (rc)
    fprintf(stderr, "icegridregistry: %s\n", uv_strerror(rc));
  s.have_grid = rc == 0;
  return rc;
}

static int suite_teardown(void **state) {
  (void)state;
  kit_peer_stop(&s.client, SIGKILL, 5000);
  kit_peer_stop(&s.server, SIGKILL, 5000);
  if (s.have_grid)
    kit_icegrid_stop(&s.grid);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  uv_loop_close(&s.loop);
  return 0;
}

/* The registry answers on the locator port the kit chose. */
static void test_registry_answers(void **state) {
  (void)state;
  assert_true(s.grid.port > 0);
  char want[64];
  snprintf(want, sizeof want, "InteropGrid/Locator:tcp -h 127.0.0.1 -p %d",
           s.grid.port);
  assert_string_equal(s.grid.locator, want);
}

static void test_ice_server_found_by_ice_client(void **state) {
  (void)state;
  int port;
  char proxy[256];
  const char *sargs[] = {s.grid.locator_arg,  "--adapter-id", "InteropAdapter",
                         "--register-object", "interop",      NULL};
  interop_ice_server_start(&s.server, &s.loop, sargs, &port, proxy,
                           sizeof proxy);
  const char *cargs[] = {s.grid.locator_arg, "--proxy", "test@InteropAdapter",
                         "--proxy",          "interop", NULL};
  int status = interop_ice_run(&s.client, &s.loop, "grid", cargs);
  interop_expect_pass(&s.client, "grid test@InteropAdapter");
  interop_expect_pass(&s.client, "grid interop");
  assert_int_equal(status, 0);
  kit_peer_stop(&s.client, SIGKILL, 5000);
  assert_int_equal(kit_peer_stop(&s.server, SIGTERM, 10000), 0);
}

/* Once the server is gone, its adapter no longer resolves to a live
 * server: the client's call fails (the check can fail). */
static void test_gone_server_not_reached(void **state) {
  (void)state;
  const char *cargs[] = {s.grid.locator_arg, "--proxy", "test@NoSuchAdapter",
                         NULL};
  int status = interop_ice_run(&s.client, &s.loop, "grid", cargs);
  char why[512];
  assert_non_null(kit_peer_find_line(
      &s.client, "FAIL grid test@NoSuchAdapter: ", why, sizeof why));
  assert_non_null(strstr(why, "NotRegistered"));
  assert_int_equal(status, 1);
  kit_peer_stop(&s.client, SIGKILL, 5000);
}

/* SIGTERM: the registry exits 0; the kit removes its directory. */
static void test_registry_stops(void **state) {
  (void)state;
  char dir[64];
  snprintf(dir, sizeof dir, "%s", s.grid.dir);
  s.have_grid = 0;
  assert_int_equal(kit_icegrid_stop(&s.grid), 0);
  FILE *f = fopen(dir, "r");
  assert_null(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_answers),
      cmocka_unit_test(test_ice_server_found_by_ice_client),
      cmocka_unit_test(test_gone_server_not_reached),
      cmocka_unit_test(test_registry_stops),
  };
  return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
