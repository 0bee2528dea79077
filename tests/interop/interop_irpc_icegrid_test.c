/* irpc and ZeroC Ice 3.7 through a real IceGrid registry (the test kit's
 * icegridregistry):
 *   - an irpc client finds an Ice server by adapter id and by well-known
 *     name: the locator interceptor in front of a connection cache, each
 *     request's target the service address of "test@InteropAdapter" or
 *     "interop" (Ice proxy strings); and a generated proxy whose address
 *     is that of "test@InteropAdapter" or "interop" is resolved without
 *     any code of the caller's (the proxy sets its target);
 *   - an irpc server registers its adapter with the registry
 *     (irpc_locator_register: LocatorRegistry::setAdapterDirectProxy) and
 *     the Ice client of peer.py and an irpc generated proxy find it as
 *     "test@IrpcAdapter"; shut down with irpc_locator_server_shutdown, it
 *     unregisters first: the registry no longer knows the adapter
 *     (NotFound, not a connection refused) and the Ice client fails.
 * The registry and the Ice server stop by PID with status 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <irpc/ice.h>
#include <irpc/locator.h>

#include "Interop.ice.h"
#include "interop.h"

static struct {
  uv_loop_t loop;
  kit_icegrid grid;
  int have_grid;
  kit_peer server, client;
  kit_icegrid_client gc;
} s;

static int suite_setup(void **state) {
  (void)state;
  uv_loop_init(&s.loop);
  int rc = kit_icegrid_start(&s.grid, &s.loop, "InteropGrid");
  if (rc) {
    fprintf(stderr, "icegridregistry: %s\n", uv_strerror(rc));
    return rc;
  }
  s.have_grid = 1;
  kit_icegrid_client_init(&s.gc, &s.loop, &s.grid);
  return 0;
}

static int suite_teardown(void **state) {
  (void)state;
  kit_peer_stop(&s.client, SIGKILL, 5000);
  kit_peer_stop(&s.server, SIGKILL, 5000);
  kit_icegrid_client_fini(&s.gc);
  if (s.have_grid)
    kit_icegrid_stop(&s.grid);
  test_loop_finish(&s.loop);
  return 0;
}

/* ---- An irpc client finds an Ice server ---- */

typedef struct res {
  int done;
  int err;
  uint64_t status;
  int32_t value;
  char message[256];
} res;

static void pings_cb(irpc_slice_reply *reply, int err, const int32_t *ret,
                     void *ud) {
  res *r = ud;
  r->err = err;
  r->status = irpc_slice_reply_status(reply);
  r->value = err ? 0 : *ret;
  snprintf(r->message, sizeof r->message, "%s",
           irpc_slice_reply_message(reply));
  r->done = 1;
}

/* The request's target: a service address without a server address,
 * which the locator interceptor resolves (irpc/locator.h). */
static int set_target(irpc_outgoing_request *req, void *data) {
  return irpc_outgoing_request_set_service_address(req, data);
}

/* Calls pings on the Test that Ice proxy string names (the path of its
 * identity, the target its service address). */
static res call_pings(const char *ice_proxy) {
  irpc_service_address *target;
  assert_irpc_ok(
      irpc_service_address_parse_ice_proxy(&target, ice_proxy, NULL));
  Interop_TestProxy t =
      Interop_TestProxy_from(s.gc.invoker, irpc_service_address_path(target));
  irpc_slice_call_opts opts = {.struct_size = sizeof opts,
                               .prepare = set_target,
                               .prepare_data = target};
  res r = {0};
  assert_irpc_ok(Interop_Test_pings(&t, &opts, pings_cb, &r));
  kit_run_until(&s.loop, &r.done);
  irpc_service_address_free(target);
  return r;
}

/* Calls pings through a generated proxy whose address is that of the Ice
 * proxy string, with no call options: the proxy sets the target. */
static res call_pings_generated(const char *ice_proxy) {
  irpc_service_address *target;
  assert_irpc_ok(
      irpc_service_address_parse_ice_proxy(&target, ice_proxy, NULL));
  char uri[256];
  assert_irpc_ok(irpc_service_address_format(target, uri, sizeof uri));
  irpc_service_address_free(target);
  Interop_TestProxy t = {{.invoker = s.gc.invoker, .address = uri}};
  res r = {0};
  assert_irpc_ok(Interop_Test_pings(&t, NULL, pings_cb, &r));
  kit_run_until(&s.loop, &r.done);
  return r;
}

static void test_irpc_client_finds_ice_server(void **state) {
  (void)state;
  int port;
  char proxy[256];
  const char *sargs[] = {s.grid.locator_arg,  "--adapter-id", "InteropAdapter",
                         "--register-object", "interop",      NULL};
  interop_ice_server_start(&s.server, &s.loop, sargs, &port, proxy,
                           sizeof proxy);

  res r = call_pings("test@InteropAdapter");
  if (r.err)
    fail_msg("by adapter id: %s: %s", irpc_strerror(r.err), r.message);
  assert_true(r.value >= 1);
  r = call_pings("interop");
  if (r.err)
    fail_msg("by well-known name: %s: %s", irpc_strerror(r.err), r.message);
  assert_true(r.value >= 2);
  /* Cached: the same adapter again needs no lookup. */
  irpc_locator_stats before, after;
  assert_irpc_ok(irpc_locator_get_stats(s.gc.locator, &before));
  r = call_pings("test@InteropAdapter");
  assert_irpc_ok(r.err);
  int32_t last = r.value;
  assert_irpc_ok(irpc_locator_get_stats(s.gc.locator, &after));
  assert_int_equal(after.lookups, before.lookups);
  assert_int_equal(after.cache_hits, before.cache_hits + 1);
  /* An adapter the registry does not know: NotFound. */
  r = call_pings("test@NoSuchAdapter");
  assert_int_equal(r.err, IRPC_ESTATUS);
  assert_int_equal(r.status, IRPC_STATUS_NOT_FOUND);

  /* Generated proxies, nothing set by the caller: resolved as above, once
   * the cache is cleared through lookups of their own. */
  assert_irpc_ok(irpc_locator_clear(s.gc.locator));
  assert_irpc_ok(irpc_locator_get_stats(s.gc.locator, &before));
  r = call_pings_generated("test@InteropAdapter");
  if (r.err)
    fail_msg("generated, by adapter id: %s: %s", irpc_strerror(r.err),
             r.message);
  assert_true(r.value > last);
  r = call_pings_generated("interop");
  if (r.err)
    fail_msg("generated, well-known: %s: %s", irpc_strerror(r.err), r.message);
  assert_irpc_ok(irpc_locator_get_stats(s.gc.locator, &after));
  assert_true(after.lookups >= before.lookups + 2);
  r = call_pings_generated("test@NoSuchAdapter");
  assert_int_equal(r.err, IRPC_ESTATUS);
  assert_int_equal(r.status, IRPC_STATUS_NOT_FOUND);

  assert_int_equal(kit_peer_stop(&s.server, SIGTERM, 10000), 0);
}

/* ---- An Ice client finds an irpc server ---- */

static void op_pings(void *impl, irpc_slice_dispatch *sd) {
  int32_t *n = impl;
  assert_irpc_ok(Interop_Pinger_pings_reply(sd, ++*n));
}

static const Interop_Test_ops pings_only = {.Pinger = {.pings = op_pings}};

static void registered(int err, void *ud) {
  *(int *)ud = err ? err : 1;
}

static void registration_of(irpc_locator_registration *reg,
                            irpc_service_address *endpoints) {
  irpc_locator_registration_init(reg);
  reg->invoker = s.gc.cache;
  reg->locator_address = s.gc.locator_address;
  reg->adapter_id = "IrpcAdapter";
  reg->endpoints = endpoints;
}

static void do_register(irpc_service_address *endpoints) {
  irpc_locator_registration reg;
  registration_of(&reg, endpoints);
  int done = 0;
  assert_irpc_ok(irpc_locator_register(&s.loop, &reg, registered, &done));
  kit_run_until(&s.loop, &done);
  if (done != 1)
    fail_msg("registration: %s", irpc_strerror(done));
}

typedef struct down {
  int done, unregister_err, status;
} down;

static void server_down(irpc_server *server, int unregister_err, int status,
                        void *ud) {
  (void)server;
  down *d = ud;
  d->unregister_err = unregister_err;
  d->status = status;
  d->done = 1;
}

static void test_ice_client_finds_irpc_server(void **state) {
  (void)state;
  int32_t npings = 0;
  irpc_router *router;
  irpc_dispatcher *disp;
  irpc_server *server;
  char bound[256];
  assert_irpc_ok(irpc_router_new(&router, &s.loop));
  assert_irpc_ok(
      Interop_Test_map(router, "/test", &pings_only, &npings, &disp));
  assert_irpc_ok(
      irpc_server_new(&server, &s.loop, irpc_router_dispatcher(router), NULL));
  assert_irpc_ok(
      irpc_server_listen(server, "ice://127.0.0.1:0", bound, sizeof bound));
  irpc_service_address *endpoints;
  assert_irpc_ok(irpc_service_address_parse(&endpoints, bound));
  do_register(endpoints);

  const char *args[] = {s.grid.locator_arg, "--proxy", "test@IrpcAdapter",
                        NULL};
  int status = interop_ice_run(&s.client, &s.loop, "grid", args);
  interop_expect_pass(&s.client, "grid test@IrpcAdapter");
  assert_int_equal(status, 0);
  assert_true(npings >= 2);
  kit_peer_stop(&s.client, SIGKILL, 5000);
  int32_t before = npings;
  res r = call_pings_generated("test@IrpcAdapter");
  assert_irpc_ok(r.err);
  assert_int_equal(npings, before + 1);

  /* Shut down: unregistered first, then the server stops. */
  irpc_locator_registration reg;
  registration_of(&reg, endpoints);
  down d = {0};
  assert_irpc_ok(
      irpc_locator_server_shutdown(&s.loop, server, &reg, server_down, &d));
  kit_run_until(&s.loop, &d.done);
  assert_irpc_ok(d.unregister_err);
  assert_irpc_ok(d.status);
  /* The registry no longer knows the adapter: not found, where a server
   * still registered but gone would be a refused connection. */
  assert_irpc_ok(irpc_locator_clear(s.gc.locator));
  r = call_pings_generated("test@IrpcAdapter");
  assert_int_equal(r.err, IRPC_ESTATUS);
  assert_int_equal(r.status, IRPC_STATUS_NOT_FOUND);
  status = interop_ice_run(&s.client, &s.loop, "grid", args);
  char why[512];
  assert_non_null(kit_peer_find_line(&s.client, "FAIL grid test@IrpcAdapter",
                                     why, sizeof why));
  assert_int_equal(status, 1);
  kit_peer_stop(&s.client, SIGKILL, 5000);
  irpc_server_free(server);
  irpc_router_free(router);
  irpc_dispatcher_free(disp);
  irpc_service_address_free(endpoints);
}

static void test_registry_stops(void **state) {
  (void)state;
  s.have_grid = 0;
  assert_int_equal(kit_icegrid_stop(&s.grid), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_irpc_client_finds_ice_server),
      cmocka_unit_test(test_ice_client_finds_irpc_server),
      cmocka_unit_test(test_registry_stops),
  };
  return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
