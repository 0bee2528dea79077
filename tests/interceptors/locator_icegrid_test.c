/* The locator interceptor and the registration against a real IceGrid
 * registry (the test kit's icegridregistry) over the ice protocol: an irpc
 * client resolves an adapter id and a well-known object registered by a
 * ZeroC Ice server (peer.py) and calls it; an unknown adapter is NotFound;
 * an irpc server registers its adapter, and both a ZeroC Ice client
 * (checkedCast + pings) and an irpc client find it by name; after it
 * unregisters, the locator finds it no more. Every test is skipped, saying
 * so, when this build does not speak the ice protocol. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interop.h"
#include "kit/icegrid.h"

static struct {
  uv_loop_t loop;
  kit_icegrid grid;
  int have_grid;
  int no_ice; /* the build does not speak ice */
  kit_peer server, client;
  kit_icegrid_client gc;
} s;

static int suite_setup(void **state) {
  (void)state;
  uv_loop_init(&s.loop);
  irpc_server *probe;
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_dispatcher *echo;
  assert_irpc_ok(irpc_dispatcher_new(&echo, &s.loop, &test_echo_ops, NULL));
  assert_irpc_ok(irpc_server_new(&probe, &s.loop, echo, &so));
  int rc = irpc_server_listen(probe, "ice://127.0.0.1:0", NULL, 0);
  irpc_server_free(probe);
  irpc_dispatcher_free(echo);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  if (rc == IRPC_EPROTONOSUPPORT) {
    s.no_ice = 1;
    return 0;
  }
  assert_irpc_ok(rc);
  rc = kit_icegrid_start(&s.grid, &s.loop, "LocGrid");
  if (rc)
    fprintf(stderr, "icegridregistry: %s\n", uv_strerror(rc));
  s.have_grid = rc == 0;
  if (rc)
    return rc;
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
  uv_run(&s.loop, UV_RUN_DEFAULT);
  uv_loop_close(&s.loop);
  return 0;
}

#define NEED_ICE()                                                             \
  do {                                                                         \
    if (s.no_ice) {                                                            \
      fprintf(stderr, "skipped: this build does not speak the ice "            \
                      "protocol\n");                                           \
      skip();                                                                  \
    }                                                                          \
  } while (0)

typedef struct result {
  int done;
  int err;
  uint64_t status;
  char message[256];
} result;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  result *r = ud;
  r->done = 1;
  r->err = err;
  if (resp) {
    r->status = irpc_incoming_response_status(resp);
    const char *m = irpc_incoming_response_error_message(resp);
    snprintf(r->message, sizeof(r->message), "%s", m ? m : "");
    irpc_incoming_response_free(resp);
  }
}

/* ice_ping on `target` (a URI) through the locator. */
static result ping(const char *target) {
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(&sa, target));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, irpc_service_address_path(sa),
                                           "ice_ping"));
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  assert_irpc_ok(irpc_outgoing_request_set_service_address(req, sa));
  result r = {0};
  assert_irpc_ok(irpc_invoke(irpc_pipeline_invoker(s.gc.pipeline), req, on_done,
                             &r, NULL));
  kit_run_until(&s.loop, &r.done);
  irpc_outgoing_request_free(req);
  irpc_service_address_free(sa);
  return r;
}

static void test_resolves_ice_server(void **state) {
  (void)state;
  NEED_ICE();
  int port;
  char proxy[256];
  const char *sargs[] = {s.grid.locator_arg,  "--adapter-id", "PyAdapter",
                         "--register-object", "pyobj",        NULL};
  interop_ice_server_start(&s.server, &s.loop, sargs, &port, proxy,
                           sizeof proxy);
  result r = ping("ice:/test?adapter-id=PyAdapter");
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  r = ping("ice:/pyobj");
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  irpc_locator_stats st;
  assert_irpc_ok(irpc_locator_get_stats(s.gc.locator, &st));
  assert_true(st.lookups >= 2);
  assert_int_equal(st.failures, 0);
  /* Cached: no new lookup. */
  uint64_t before = st.lookups;
  assert_int_equal(ping("ice:/test?adapter-id=PyAdapter").status,
                   IRPC_STATUS_OK);
  assert_irpc_ok(irpc_locator_get_stats(s.gc.locator, &st));
  assert_int_equal(st.lookups, before);
  assert_int_equal(kit_peer_stop(&s.server, SIGTERM, 10000), 0);
}

static void test_unknown_adapter(void **state) {
  (void)state;
  NEED_ICE();
  result r = ping("ice:/test?adapter-id=NoSuchAdapter");
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_NOT_FOUND);
  assert_non_null(strstr(r.message, "NoSuchAdapter"));
  r = ping("ice:/no-such-object");
  assert_int_equal(r.status, IRPC_STATUS_NOT_FOUND);
}

/* An irpc service Ice's checkedCast and Interop's pings accept. */
static int pings_count;

static void interop_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const char *op = irpc_incoming_request_operation(irpc_dispatch_request(d));
  irpc_outgoing_response *o;
  assert_irpc_ok(irpc_outgoing_response_new(&o, IRPC_STATUS_OK, NULL));
  irpc_buf *p = irpc_outgoing_response_payload(o);
  if (strcmp(op, "ice_isA") == 0) {
    uint8_t yes = 1;
    irpc_buf_append(p, &yes, 1);
  } else if (strcmp(op, "pings") == 0) {
    pings_count++;
    uint8_t v[4] = {(uint8_t)pings_count, (uint8_t)(pings_count >> 8),
                    (uint8_t)(pings_count >> 16), (uint8_t)(pings_count >> 24)};
    irpc_buf_append(p, v, 4);
  } else if (strcmp(op, "ice_ping") != 0) {
    irpc_outgoing_response_free(o);
    irpc_dispatch_reply(d, IRPC_STATUS_NOT_IMPLEMENTED, NULL);
    return;
  }
  irpc_dispatch_complete(d, o);
}

static const irpc_dispatcher_ops interop_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "interop-test",
    .dispatch = interop_dispatch,
};

static void on_registered(int err, void *ud) {
  int *r = ud;
  *r = err ? err : 1;
}

static int reg(const char *adapter, const irpc_service_address *eps) {
  irpc_locator_registration g;
  irpc_locator_registration_init(&g);
  g.invoker = s.gc.cache;
  g.locator_address = s.gc.locator_address;
  g.adapter_id = adapter;
  g.endpoints = eps;
  int done = 0;
  assert_irpc_ok(irpc_locator_register(&s.loop, &g, on_registered, &done));
  kit_run_until(&s.loop, &done);
  return done == 1 ? 0 : done;
}

static void on_server_down(irpc_server *srv, int status, void *ud) {
  (void)srv, (void)status;
  *(int *)ud = 1;
}

static void test_registers_irpc_server(void **state) {
  (void)state;
  NEED_ICE();
  irpc_dispatcher *disp;
  assert_irpc_ok(irpc_dispatcher_new(&disp, &s.loop, &interop_ops, NULL));
  irpc_server *srv;
  irpc_server_options so;
  irpc_server_options_init(&so);
  assert_irpc_ok(irpc_server_new(&srv, &s.loop, disp, &so));
  char bound[128];
  assert_irpc_ok(
      irpc_server_listen(srv, "ice://127.0.0.1:0", bound, sizeof bound));
  char uri[160];
  snprintf(uri, sizeof uri, "%s/", bound);
  irpc_service_address *eps;
  assert_irpc_ok(irpc_service_address_parse(&eps, uri));
  assert_irpc_ok(reg("IrpcAdapter", eps));

  /* A ZeroC Ice client finds it by name. */
  const char *cargs[] = {s.grid.locator_arg, "--proxy", "test@IrpcAdapter",
                         NULL};
  int status = interop_ice_run(&s.client, &s.loop, "grid", cargs);
  interop_expect_pass(&s.client, "grid test@IrpcAdapter");
  assert_int_equal(status, 0);
  kit_peer_stop(&s.client, SIGKILL, 5000);
  assert_true(pings_count >= 2);

  /* So does an irpc client. */
  assert_int_equal(ping("ice:/test?adapter-id=IrpcAdapter").status,
                   IRPC_STATUS_OK);

  /* Unregistered: the registry no longer knows where it is. */
  assert_irpc_ok(reg("IrpcAdapter", NULL));
  assert_irpc_ok(irpc_locator_clear(s.gc.locator));
  assert_int_equal(ping("ice:/test?adapter-id=IrpcAdapter").status,
                   IRPC_STATUS_NOT_FOUND);
  irpc_service_address_free(eps);
  int down = 0;
  assert_irpc_ok(irpc_server_shutdown(srv, on_server_down, &down));
  kit_run_until(&s.loop, &down);
  irpc_server_free(srv);
  uv_run(&s.loop, UV_RUN_NOWAIT);
  irpc_dispatcher_free(disp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolves_ice_server),
      cmocka_unit_test(test_unknown_adapter),
      cmocka_unit_test(test_registers_irpc_server),
  };
  return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
