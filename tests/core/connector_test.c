/* Connecting by address: the transport and the protocol an address names,
 * through the client connection, the connection cache and the server.
 *   - An ice:// address goes to the ice protocol through the same
 *     transport (a build without it refuses the address with
 *     IRPC_EPROTONOSUPPORT in all three, before any connect or listen
 *     reaches the transport).
 *   - The connect timeout bounds the whole establishment: a transport
 *     connect that took most of it leaves the handshake only the rest.
 *   - A connect that times out, or is shut down under way, ends its calls
 *     once; the next call connects again. */
#include <string.h>

#include "kit/kit.h"

/* ---- Fixture: a memory transport seen through a fault transport ---- */

typedef struct connector_fx {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_transport *fault; /* over memory: counts connects and listens */
  irpc_dispatcher *echo;
  irpc_server *server; /* echo server on "icerpc://echo?transport=memory" */
  irpc_listener *mute; /* "mute": accepts and never answers */
  irpc_duplex *muted[4];
  int nmuted;
} connector_fx;

static irpc_fault *connector_fx_fault(connector_fx *x) {
  return irpc_transport_fault(x->fault);
}

static void on_mute_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  connector_fx *x = ud;
  (void)l;
  assert_true(x->nmuted < 4);
  x->muted[x->nmuted++] = d;
}

static void connector_fx_init(connector_fx *x) {
  memset(x, 0, sizeof(*x));
  assert_int_equal(uv_loop_init(&x->loop), 0);
  assert_irpc_ok(irpc_transport_memory_new(&x->memory));
  assert_irpc_ok(irpc_transport_fault_new(&x->fault, x->memory));
  assert_irpc_ok(irpc_dispatcher_new(&x->echo, &x->loop, &test_echo_ops, NULL));
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = x->memory;
  assert_irpc_ok(irpc_server_new(&x->server, &x->loop, x->echo, &so));
  assert_irpc_ok(
      irpc_server_listen(x->server, "icerpc://echo?transport=memory", NULL, 0));
  irpc_server_address *a;
  assert_irpc_ok(
      irpc_server_address_parse(&a, "icerpc://mute?transport=memory"));
  assert_irpc_ok(irpc_transport_listen(x->memory, &x->loop, a, on_mute_accept,
                                       x, &x->mute));
  irpc_server_address_free(a);
}

static void connector_fx_fini(connector_fx *x) {
  for (int i = 0; i < x->nmuted; i++)
    irpc_duplex_close(x->muted[i], NULL, NULL);
  irpc_listener_close(x->mute, NULL, NULL);
  irpc_server_free(x->server);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  irpc_dispatcher_free(x->echo);
  irpc_transport_free(x->fault);
  irpc_transport_free(x->memory);
  test_loop_finish(&x->loop);
}

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  fail_msg("the loop did not reach the expected state in time");
}

/* Runs the loop until *flag is non-zero (a watchdog fails the test after
 * 30 s instead of hanging). */
static void run_until(uv_loop_t *loop, const int *flag) {
  uv_timer_t wd;
  uv_timer_init(loop, &wd);
  uv_timer_start(&wd, on_watchdog, 30000, 0);
  while (!*flag)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

typedef struct result {
  uv_loop_t *loop;
  int done; /* times the callback ran */
  int err;
  uint64_t status;
  uint64_t at; /* loop time of the callback */
} result;

static void on_result(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  result *o = ud;
  o->done++;
  o->err = err;
  o->at = uv_now(o->loop);
  if (resp) {
    o->status = irpc_incoming_response_status(resp);
    irpc_incoming_response_free(resp);
  }
}

static void on_status(irpc_invoker *inv, int status, void *ud) {
  result *o = ud;
  (void)inv;
  o->done++;
  o->err = status;
  o->at = uv_now(o->loop);
}

/* Calls `inv` with a request to `path` (and `target` when not NULL);
 * returns the result once the call completed. */
static result call(connector_fx *x, irpc_invoker *inv, const char *target) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/hello", "op"));
  irpc_service_address *sa = NULL;
  if (target) {
    assert_irpc_ok(irpc_service_address_parse(&sa, target));
    assert_irpc_ok(irpc_outgoing_request_set_service_address(req, sa));
  }
  result o = {.loop = &x->loop};
  assert_irpc_ok(irpc_invoke(inv, req, on_result, &o, NULL));
  run_until(&x->loop, &o.done);
  for (int i = 0; i < 3; i++) /* a second completion would show now */
    uv_run(&x->loop, UV_RUN_NOWAIT);
  assert_int_equal(o.done, 1);
  irpc_outgoing_request_free(req);
  irpc_service_address_free(sa);
  return o;
}

static irpc_connection_options client_options(connector_fx *x) {
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.transport = x->fault;
  return o;
}

static void error_code(void **state) {
  (void)state;
  assert_true(IRPC_EPROTONOSUPPORT < IRPC_ERRNO_BASE);
  assert_true((int)IRPC_EPROTONOSUPPORT != (int)UV_EPROTONOSUPPORT);
  assert_string_equal(irpc_strerror(IRPC_EPROTONOSUPPORT),
                      "protocol not supported by this build");
  assert_string_equal(irpc_err_name(IRPC_EPROTONOSUPPORT),
                      "IRPC_EPROTONOSUPPORT");
}

#ifndef IRPC_WITH_ICE
/* ---- ice:// is refused ---- */

static void ice_client_connection(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_connection_options o = client_options(&x);
  irpc_invoker *inv = (irpc_invoker *)&x; /* must stay untouched */
  assert_irpc_err(irpc_client_connection_new(&inv, &x.loop,
                                             "ice://echo?transport=memory", &o),
                  IRPC_EPROTONOSUPPORT);
  assert_ptr_equal(inv, &x);
  /* The scheme is matched without regard to case, the refusal too. */
  assert_irpc_err(irpc_client_connection_new(&inv, &x.loop,
                                             "ICE://echo?transport=memory", &o),
                  IRPC_EPROTONOSUPPORT);
  /* With the default transport (tcp), and with no transport named that
   * exists: the protocol is refused first. */
  assert_irpc_err(
      irpc_client_connection_new(&inv, &x.loop, "ice://127.0.0.1:4061", NULL),
      IRPC_EPROTONOSUPPORT);
  assert_irpc_err(
      irpc_client_connection_new(&inv, &x.loop, "ice://h?transport=quic", NULL),
      IRPC_EPROTONOSUPPORT);
  assert_ptr_equal(inv, &x);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   0);

  /* The same address in icerpc connects through the same transport. */
  assert_irpc_ok(irpc_client_connection_new(
      &inv, &x.loop, "icerpc://echo?transport=memory", &o));
  result r = call(&x, inv, NULL);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   1);
  irpc_invoker_free(inv);
  connector_fx_fini(&x);
}

static irpc_invoker *new_cache(connector_fx *x, const char *def) {
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection.transport = x->fault;
  o.default_service_address = def;
  irpc_invoker *inv = NULL;
  assert_irpc_ok(irpc_connection_cache_new(&inv, &x->loop, &o));
  return inv;
}

static void ice_connection_cache(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_invoker *cache = new_cache(&x, NULL);
  /* A call to an ice service address: refused, once, without a connect. */
  result r = call(&x, cache, "ice://echo/hello?transport=memory");
  assert_irpc_err(r.err, IRPC_EPROTONOSUPPORT);
  r = call(&x, cache, "ice://echo/hello?transport=memory&alt-server=mute");
  assert_irpc_err(r.err, IRPC_EPROTONOSUPPORT);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   0);
  assert_int_equal(irpc_connection_cache_connections(cache, NULL, 0), 0);
  /* The cache still serves icerpc targets. */
  r = call(&x, cache, "icerpc://echo/hello?transport=memory");
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   1);
  irpc_invoker_free(cache);

  /* An ice default target: no cache. */
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection.transport = x.fault;
  o.default_service_address = "ice://echo/hello?transport=memory";
  irpc_invoker *inv = (irpc_invoker *)&x;
  assert_irpc_err(irpc_connection_cache_new(&inv, &x.loop, &o),
                  IRPC_EPROTONOSUPPORT);
  assert_ptr_equal(inv, &x);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   1);
  connector_fx_fini(&x);
}

static void ice_server_listen(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = x.fault;
  irpc_server *s;
  assert_irpc_ok(irpc_server_new(&s, &x.loop, x.echo, &so));
  char bound[128] = "untouched";
  assert_irpc_err(
      irpc_server_listen(s, "ice://ice?transport=memory", bound, sizeof bound),
      IRPC_EPROTONOSUPPORT);
  assert_string_equal(bound, "untouched");
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_LISTEN),
                   0);
  /* Nothing was bound: an icerpc client finds nobody under that name, and
   * an icerpc listener can take it. */
  irpc_connection_options o = client_options(&x);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(
      &inv, &x.loop, "icerpc://ice?transport=memory", &o));
  result r = call(&x, inv, NULL);
  assert_irpc_err(r.err, UV_ECONNREFUSED);
  assert_irpc_ok(irpc_server_listen(s, "icerpc://ice?transport=memory", bound,
                                    sizeof bound));
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_LISTEN),
                   1);
  r = call(&x, inv, NULL);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  /* The default transport (tcp) binds nothing either. */
  irpc_server *t;
  assert_irpc_ok(irpc_server_new(&t, &x.loop, x.echo, NULL));
  assert_irpc_err(
      irpc_server_listen(t, "ice://127.0.0.1:0", bound, sizeof bound),
      IRPC_EPROTONOSUPPORT);
  assert_irpc_err(irpc_server_listen(t, "ICE://127.0.0.1:0", NULL, 0),
                  IRPC_EPROTONOSUPPORT);
  size_t n = irpc_server_connections(t, NULL, 0);
  assert_int_equal(n, 0);
  irpc_server_free(t);
  irpc_invoker_free(inv);
  irpc_server_free(s);
  connector_fx_fini(&x);
}

#else
/* ---- ice:// goes to the ice protocol ---- */

/* An ice echo server under the name "iceecho" of the memory transport. */
static irpc_server *ice_server(connector_fx *x) {
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = x->fault;
  irpc_server *s;
  assert_irpc_ok(irpc_server_new(&s, &x->loop, x->echo, &so));
  assert_irpc_ok(
      irpc_server_listen(s, "ice://iceecho?transport=memory", NULL, 0));
  assert_int_equal(irpc_fault_count(connector_fx_fault(x), IRPC_FAULT_LISTEN),
                   1);
  return s;
}

static void ice_client_connection(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_server *s = ice_server(&x);
  irpc_connection_options o = client_options(&x);
  irpc_invoker *inv;
  /* The scheme is matched without regard to case. */
  assert_irpc_ok(irpc_client_connection_new(
      &inv, &x.loop, "ICE://iceecho?transport=memory", &o));
  result r = call(&x, inv, NULL);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   1);
  irpc_invoker_free(inv);
  /* A transport nobody knows is still refused at creation. */
  assert_irpc_err(
      irpc_client_connection_new(&inv, &x.loop, "ice://h?transport=quic", NULL),
      IRPC_EINVAL);
  irpc_server_free(s);
  connector_fx_fini(&x);
}

static irpc_invoker *new_cache(connector_fx *x, const char *def) {
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection.transport = x->fault;
  o.default_service_address = def;
  irpc_invoker *inv = NULL;
  assert_irpc_ok(irpc_connection_cache_new(&inv, &x->loop, &o));
  return inv;
}

static void ice_connection_cache(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_server *s = ice_server(&x);
  irpc_invoker *cache = new_cache(&x, "ice://iceecho/hello?transport=memory");
  /* The ice default target, then an icerpc target: one connection each. */
  result r = call(&x, cache, NULL);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  r = call(&x, cache, "icerpc://echo/hello?transport=memory");
  assert_irpc_ok(r.err);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   2);
  assert_int_equal(irpc_connection_cache_connections(cache, NULL, 0), 2);
  irpc_invoker_free(cache);
  irpc_server_free(s);
  connector_fx_fini(&x);
}

static void ice_server_listen(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_server *s = ice_server(&x);
  /* An icerpc client at the ice server's name reads its
   * ValidateConnection as a bad Slic frame. */
  irpc_connection_options o = client_options(&x);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(
      &inv, &x.loop, "icerpc://iceecho?transport=memory", &o));
  result r = call(&x, inv, NULL);
  assert_irpc_err(r.err, IRPC_EPROTO);
  irpc_invoker_free(inv);
  irpc_server_free(s);
  connector_fx_fini(&x);
}
#endif

/* ---- The connect timeout ---- */

/* The transport connect never completes: the connect and the waiting call
 * end with IRPC_ETIMEDOUT, once each; the next call connects. */
static void client_connect_timeout(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_connection_options o = client_options(&x);
  o.connect_timeout_ms = 50;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(
      &inv, &x.loop, "icerpc://echo?transport=memory", &o));
  assert_irpc_ok(irpc_fault_set_nth(connector_fx_fault(&x), IRPC_FAULT_CONNECT,
                                    IRPC_FAULT_HOLD, 0, 0, 1));
  result c = {.loop = &x.loop};
  assert_irpc_ok(irpc_client_connection_connect(inv, on_status, &c));
  result r = call(&x, inv, NULL);
  assert_irpc_err(r.err, IRPC_ETIMEDOUT);
  assert_int_equal(c.done, 1);
  assert_irpc_err(c.err, IRPC_ETIMEDOUT);
  assert_null(irpc_client_connection_connection(inv));
  r = call(&x, inv, NULL);
  assert_irpc_ok(r.err);
  assert_int_equal(irpc_fault_count(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   2);
  irpc_invoker_free(inv);
  connector_fx_fini(&x);
}

static void release_connect(uv_timer_t *t) {
  connector_fx *x = t->data;
  assert_irpc_ok(irpc_fault_clear(connector_fx_fault(x), IRPC_FAULT_CONNECT));
}

/* The transport connect takes 3/4 of the connect timeout, then the server
 * never answers the handshake: the establishment fails when the connect
 * timeout is over, counted from the start, not a whole timeout after the
 * transport connected. `cache` picks the invoker. */
static void establishment_budget(int cache) {
  enum { TIMEOUT = 400, HELD = 300 };
  connector_fx x;
  connector_fx_init(&x);
  irpc_invoker *inv;
  if (cache) {
    irpc_connection_cache_options o;
    irpc_connection_cache_options_init(&o);
    o.connection.transport = x.fault;
    o.connection.connect_timeout_ms = TIMEOUT;
    assert_irpc_ok(irpc_connection_cache_new(&inv, &x.loop, &o));
  } else {
    irpc_connection_options o = client_options(&x);
    o.connect_timeout_ms = TIMEOUT;
    assert_irpc_ok(irpc_client_connection_new(
        &inv, &x.loop, "icerpc://mute?transport=memory", &o));
  }
  assert_irpc_ok(irpc_fault_set(connector_fx_fault(&x), IRPC_FAULT_CONNECT,
                                IRPC_FAULT_HOLD, 0));
  uv_timer_t release;
  uv_timer_init(&x.loop, &release);
  release.data = &x;
  uv_update_time(&x.loop);
  uint64_t start = uv_now(&x.loop);
  uv_timer_start(&release, release_connect, HELD, 0);
  result r =
      call(&x, inv, cache ? "icerpc://mute/hello?transport=memory" : NULL);
  assert_irpc_err(r.err, IRPC_ETIMEDOUT);
  assert_int_equal(x.nmuted, 1); /* the transport did connect */
  assert_true(r.at - start >= TIMEOUT);
  /* A whole timeout after the transport connected would be HELD + TIMEOUT
   * at the earliest. */
  assert_true(r.at - start < HELD + TIMEOUT);
  uv_close((uv_handle_t *)&release, NULL);
  irpc_invoker_free(inv);
  connector_fx_fini(&x);
}

static void client_establishment_budget(void **state) {
  (void)state;
  establishment_budget(0);
}

static void cache_establishment_budget(void **state) {
  (void)state;
  establishment_budget(1);
}

/* ---- Ending a connect under way ---- */

static void client_shutdown_while_connecting(void **state) {
  (void)state;
  connector_fx x;
  connector_fx_init(&x);
  irpc_connection_options o = client_options(&x);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(
      &inv, &x.loop, "icerpc://echo?transport=memory", &o));
  assert_irpc_ok(irpc_fault_set(connector_fx_fault(&x), IRPC_FAULT_CONNECT,
                                IRPC_FAULT_HOLD, 0));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/hello", "op"));
  result r = {.loop = &x.loop}, c = r, down = r;
  assert_irpc_ok(irpc_invoke(inv, req, on_result, &r, NULL));
  assert_irpc_ok(irpc_client_connection_connect(inv, on_status, &c));
  for (int i = 0; i < 3; i++)
    uv_run(&x.loop, UV_RUN_NOWAIT);
  assert_int_equal(irpc_fault_held(connector_fx_fault(&x), IRPC_FAULT_CONNECT),
                   1);
  assert_int_equal(r.done, 0);
  assert_irpc_ok(irpc_client_connection_shutdown(inv, on_status, &down));
  run_until(&x.loop, &down.done);
  for (int i = 0; i < 3; i++)
    uv_run(&x.loop, UV_RUN_NOWAIT);
  assert_int_equal(down.done, 1);
  assert_irpc_ok(down.err);
  assert_int_equal(r.done, 1);
  assert_irpc_err(r.err, IRPC_ECLOSED);
  assert_int_equal(c.done, 1);
  assert_irpc_err(c.err, IRPC_ECLOSED);
  assert_null(irpc_client_connection_connection(inv));
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  connector_fx_fini(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(error_code),
      cmocka_unit_test(ice_client_connection),
      cmocka_unit_test(ice_connection_cache),
      cmocka_unit_test(ice_server_listen),
      cmocka_unit_test(client_connect_timeout),
      cmocka_unit_test(client_establishment_budget),
      cmocka_unit_test(cache_establishment_budget),
      cmocka_unit_test(client_shutdown_while_connecting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
