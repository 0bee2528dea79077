/* Client connections, servers and calls in both directions over TCP, Unix
 * domain sockets and the in-memory transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- Loop helpers ---- */

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  fail_msg("the loop did not reach the expected state in time");
}

/* Runs the loop until *flag becomes non-zero; a watchdog fails the test
 * after 30 s instead of hanging. */
static void run_until(uv_loop_t *loop, const int *flag) {
  uv_timer_t wd;
  uv_timer_init(loop, &wd);
  uv_timer_start(&wd, on_watchdog, 30000, 0);
  while (!*flag)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT); /* the handle lives on this stack */
}

/* ---- The transports under test ---- */

enum { T_TCP, T_UDS, T_MEMORY };

typedef struct rig {
  uv_loop_t loop;
  int kind;
  char dir[64];
  char listen[160];
  char bound[256];
  irpc_transport *memory;
  irpc_router *router;
  irpc_server *server;
  irpc_server_options sopts;
  irpc_connection_options copts;
  irpc_dispatcher *disps[8];
  int ndisps;
} rig;

static void rig_init(rig *r, int kind) {
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  r->kind = kind;
  irpc_server_options_init(&r->sopts);
  irpc_connection_options_init(&r->copts);
  if (kind == T_TCP) {
    snprintf(r->listen, sizeof r->listen, "icerpc://127.0.0.1:0");
  } else if (kind == T_UDS) {
    strcpy(r->dir, "/tmp/irpc-conn-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->listen, sizeof r->listen, "unix:%s/s.sock", r->dir);
  } else {
    assert_irpc_ok(irpc_transport_memory_new(&r->memory));
    snprintf(r->listen, sizeof r->listen, "icerpc://mem%d?transport=memory",
             rand());
    r->sopts.connection.transport = r->memory;
    r->copts.transport = r->memory;
  }
  assert_irpc_ok(irpc_router_new(&r->router, &r->loop));
}

static void rig_start(rig *r) {
  assert_irpc_ok(irpc_server_new(&r->server, &r->loop,
                                 irpc_router_dispatcher(r->router), &r->sopts));
  assert_irpc_ok(
      irpc_server_listen(r->server, r->listen, r->bound, sizeof r->bound));
}

static void rig_fini(rig *r) {
  irpc_server_free(r->server);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  irpc_router_free(r->router);
  for (int i = 0; i < r->ndisps; i++)
    irpc_dispatcher_free(r->disps[i]);
  irpc_transport_free(r->memory);
  test_loop_finish(&r->loop);
  if (r->dir[0]) {
    char p[128];
    snprintf(p, sizeof p, "%s/s.sock", r->dir);
    unlink(p);
    rmdir(r->dir);
  }
}

/* ---- Dispatchers ---- */

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(resp),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops echo_ops = {.name = "echo",
                                             .dispatch = echo_dispatch};

static int oneway_seen;

static void count_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  assert_true(irpc_incoming_request_oneway(irpc_dispatch_request(d)));
  oneway_seen++;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops count_ops = {.name = "count",
                                              .dispatch = count_dispatch};

static irpc_dispatcher *map(rig *r, const char *path,
                            const irpc_dispatcher_ops *ops, void *cfg) {
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, &r->loop, ops, cfg));
  assert_irpc_ok(irpc_router_map(r->router, path, d));
  r->disps[r->ndisps++] = d;
  return d;
}

/* ---- Calls ---- */

typedef struct result {
  int done;
  int err;
  uint64_t status;
  irpc_buf *payload;
} result;

static void on_result(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  (void)call;
  result *o = ud;
  o->done++;
  o->err = err;
  if (resp) {
    o->status = irpc_incoming_response_status(resp);
    if (o->payload)
      irpc_buf_move(o->payload, irpc_incoming_response_payload(resp));
    irpc_incoming_response_free(resp);
  }
}

static irpc_outgoing_request *request(const char *path, const void *data,
                                      size_t len) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, path, "op"));
  if (len)
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_request_payload(req), data, len));
  return req;
}

static void call_sync(uv_loop_t *loop, irpc_invoker *inv,
                      irpc_outgoing_request *req, result *o) {
  assert_irpc_ok(irpc_invoke(inv, req, on_result, o, NULL));
  run_until(loop, &o->done);
}

static irpc_invoker *client(rig *r) {
  irpc_invoker *inv;
  assert_irpc_ok(
      irpc_client_connection_new(&inv, &r->loop, r->bound, &r->copts));
  return inv;
}

static void shutdown_done(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  *(int *)ud = status == 0 ? 1 : status;
}

static void client_close(rig *r, irpc_invoker *inv) {
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, shutdown_done, &done));
  run_until(&r->loop, &done);
  assert_int_equal(done, 1);
  irpc_invoker_free(inv);
}

/* ---- Tests ---- */

static void two_way(int kind) {
  rig r;
  rig_init(&r, kind);
  map(&r, "/echo", &echo_ops, NULL);
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  for (int i = 0; i < 3; i++) {
    irpc_buf *got;
    assert_irpc_ok(irpc_buf_new(&got));
    result o = {.payload = got};
    irpc_outgoing_request *req = request("/echo", "hello", 5);
    call_sync(&r.loop, inv, req, &o);
    assert_irpc_ok(o.err);
    assert_int_equal(o.status, IRPC_STATUS_OK);
    assert_true(irpc_buf_equals(got, "hello", 5));
    irpc_buf_free(got);
    irpc_outgoing_request_free(req);
  }
  /* NotFound travels back as a status */
  result nf = {0};
  irpc_outgoing_request *req = request("/nowhere", NULL, 0);
  call_sync(&r.loop, inv, req, &nf);
  assert_irpc_ok(nf.err);
  assert_int_equal(nf.status, IRPC_STATUS_NOT_FOUND);
  irpc_outgoing_request_free(req);
  client_close(&r, inv);
  rig_fini(&r);
}

static void two_way_tcp(void **s) {
  (void)s, two_way(T_TCP);
}
static void two_way_uds(void **s) {
  (void)s, two_way(T_UDS);
}
static void two_way_memory(void **s) {
  (void)s, two_way(T_MEMORY);
}

static void one_way(void **state) {
  (void)state;
  rig r;
  rig_init(&r, T_TCP);
  map(&r, "/count", &count_ops, NULL);
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  oneway_seen = 0;
  result o[10] = {0};
  irpc_outgoing_request *reqs[10];
  int all = 0;
  for (int i = 0; i < 10; i++) {
    reqs[i] = request("/count", "x", 1);
    irpc_outgoing_request_set_oneway(reqs[i], 1);
    assert_irpc_ok(irpc_invoke(inv, reqs[i], on_result, &o[i], NULL));
  }
  while (!all) {
    uv_run(&r.loop, UV_RUN_ONCE);
    all = oneway_seen == 10;
    for (int i = 0; i < 10; i++)
      all = all && o[i].done;
  }
  for (int i = 0; i < 10; i++) {
    assert_irpc_ok(o[i].err);
    assert_int_equal(o[i].status, IRPC_STATUS_OK);
    irpc_outgoing_request_free(reqs[i]);
  }
  client_close(&r, inv);
  rig_fini(&r);
}

static void large(int kind, size_t size) {
  rig r;
  rig_init(&r, kind);
  map(&r, "/echo", &echo_ops, NULL);
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  uint8_t *data = malloc(size);
  assert_non_null(data);
  for (size_t i = 0; i < size; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  irpc_buf *got;
  assert_irpc_ok(irpc_buf_new(&got));
  result o = {.payload = got};
  irpc_outgoing_request *req = request("/echo", data, size);
  call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_buf_len(got), size);
  assert_true(irpc_buf_equals(got, data, size));
  free(data);
  irpc_buf_free(got);
  irpc_outgoing_request_free(req);
  client_close(&r, inv);
  rig_fini(&r);
}

static void large_tcp(void **s) {
  (void)s, large(T_TCP, 64u << 20);
}
static void large_uds(void **s) {
  (void)s, large(T_UDS, 64u << 20);
}

static void many_in_flight(int kind) {
  enum { N = 1000 };
  rig r;
  rig_init(&r, kind);
  map(&r, "/echo", &echo_ops, NULL);
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  static result o[N];
  static irpc_outgoing_request *reqs[N];
  memset(o, 0, sizeof o);
  for (int i = 0; i < N; i++) {
    char text[16];
    int n = snprintf(text, sizeof text, "%d", i);
    reqs[i] = request("/echo", text, (size_t)n);
    assert_irpc_ok(irpc_buf_new(&o[i].payload));
    assert_irpc_ok(irpc_invoke(inv, reqs[i], on_result, &o[i], NULL));
  }
  int done = 0;
  while (done < N) {
    uv_run(&r.loop, UV_RUN_ONCE);
    done = 0;
    for (int i = 0; i < N; i++)
      done += o[i].done;
  }
  for (int i = 0; i < N; i++) {
    char text[16];
    int n = snprintf(text, sizeof text, "%d", i);
    assert_irpc_ok(o[i].err);
    assert_true(irpc_buf_equals(o[i].payload, text, (size_t)n));
    irpc_buf_free(o[i].payload);
    irpc_outgoing_request_free(reqs[i]);
  }
  client_close(&r, inv);
  rig_fini(&r);
}

static void many_tcp(void **s) {
  (void)s, many_in_flight(T_TCP);
}
static void many_uds(void **s) {
  (void)s, many_in_flight(T_UDS);
}

/* ---- Callbacks: the server calls the client on its own connection ---- */

typedef struct cb_state {
  irpc_connection *stored; /* kept by the server for later */
  int client_dispatches;
} cb_state;

static cb_state cbs;

/* Client side: answers "ping" with "pong"; when asked "again", calls the
 * server back before replying (re-entrant both ways). */
static void client_dispatch_done(irpc_call *call, int err,
                                 irpc_incoming_response *resp, void *ud) {
  (void)call;
  irpc_dispatch *d = ud;
  assert_irpc_ok(err);
  assert_int_equal(irpc_incoming_response_status(resp), IRPC_STATUS_OK);
  irpc_incoming_response_free(resp);
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static irpc_outgoing_request *nested_req;

static void client_side(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  cbs.client_dispatches++;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  if (strcmp(irpc_incoming_request_operation(req), "again") == 0) {
    nested_req = request("/echo", "x", 1);
    assert_irpc_ok(irpc_invoke(irpc_incoming_request_invoker(req), nested_req,
                               client_dispatch_done, d, NULL));
    return;
  }
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_response_payload(resp), "pong", 4));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops client_side_ops = {.name = "client-side",
                                                    .dispatch = client_side};

/* Server side: /subscribe calls the client back ("again" when the payload
 * says so) and replies with what the client answered. */
typedef struct sub_call {
  irpc_dispatch *d;
  irpc_outgoing_request *req;
} sub_call;

static void sub_done(irpc_call *call, int err, irpc_incoming_response *resp,
                     void *ud) {
  (void)call;
  sub_call *sc = ud;
  assert_irpc_ok(err);
  irpc_outgoing_response *out;
  assert_irpc_ok(irpc_outgoing_response_new(&out, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(out),
                               irpc_incoming_response_payload(resp)));
  irpc_incoming_response_free(resp);
  assert_irpc_ok(irpc_dispatch_complete(sc->d, out));
  irpc_outgoing_request_free(sc->req);
  free(sc);
}

static void subscribe(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_connection *c = irpc_incoming_request_connection(req);
  assert_non_null(c);
  if (!cbs.stored)
    cbs.stored = irpc_connection_ref(c);
  int again = irpc_buf_equals(irpc_incoming_request_payload(req), "again", 5);
  sub_call *sc = calloc(1, sizeof(*sc));
  sc->d = d;
  assert_irpc_ok(irpc_outgoing_request_new(&sc->req, "/callback",
                                           again ? "again" : "ping"));
  assert_irpc_ok(irpc_invoke(irpc_incoming_request_invoker(req), sc->req,
                             sub_done, sc, NULL));
}

static const irpc_dispatcher_ops subscribe_ops = {.name = "subscribe",
                                                  .dispatch = subscribe};

static void callbacks(int kind) {
  rig r;
  rig_init(&r, kind);
  memset(&cbs, 0, sizeof cbs);
  map(&r, "/subscribe", &subscribe_ops, NULL);
  map(&r, "/echo", &echo_ops, NULL);
  rig_start(&r);
  irpc_router *croute;
  assert_irpc_ok(irpc_router_new(&croute, &r.loop));
  irpc_dispatcher *cside;
  assert_irpc_ok(irpc_dispatcher_new(&cside, &r.loop, &client_side_ops, NULL));
  assert_irpc_ok(irpc_router_map(croute, "/callback", cside));
  r.copts.dispatcher = irpc_router_dispatcher(croute);
  irpc_invoker *inv = client(&r);

  /* The server calls back before replying. */
  irpc_buf *got;
  assert_irpc_ok(irpc_buf_new(&got));
  result o = {.payload = got};
  irpc_outgoing_request *req = request("/subscribe", "plain", 5);
  call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_true(irpc_buf_equals(got, "pong", 4));
  irpc_buf_free(got);
  irpc_outgoing_request_free(req);

  /* Re-entrant: the client's callback calls the server again first. */
  result o2 = {0};
  req = request("/subscribe", "again", 5);
  call_sync(&r.loop, inv, req, &o2);
  assert_irpc_ok(o2.err);
  assert_int_equal(o2.status, IRPC_STATUS_OK);
  assert_int_equal(cbs.client_dispatches, 2);
  irpc_outgoing_request_free(req);
  irpc_outgoing_request_free(nested_req);

  /* The server lists its connection and calls it later. */
  irpc_connection *list[4];
  assert_int_equal(irpc_server_connections(r.server, list, 4), 1);
  assert_ptr_equal(list[0], cbs.stored);
  assert_ptr_equal(
      irpc_server_find_connection(r.server, irpc_connection_id(cbs.stored)),
      cbs.stored);
  if (kind == T_TCP)
    assert_true(irpc_connection_remote_address(cbs.stored)[0] != 0);
  result later = {0};
  req = request("/callback", NULL, 0);
  call_sync(&r.loop, irpc_connection_invoker(cbs.stored), req, &later);
  assert_irpc_ok(later.err);
  assert_int_equal(cbs.client_dispatches, 3);

  /* Once the client is gone, the stored invoker fails at once. */
  client_close(&r, inv);
  while (irpc_connection_close_error(cbs.stored) == 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  result gone = {0};
  call_sync(&r.loop, irpc_connection_invoker(cbs.stored), req, &gone);
  assert_true(gone.err < 0);
  irpc_outgoing_request_free(req);
  irpc_connection_unref(cbs.stored);
  irpc_router_free(croute);
  irpc_dispatcher_free(cside);
  rig_fini(&r);
}

static void callbacks_tcp(void **s) {
  (void)s, callbacks(T_TCP);
}
static void callbacks_uds(void **s) {
  (void)s, callbacks(T_UDS);
}
static void callbacks_memory(void **s) {
  (void)s, callbacks(T_MEMORY);
}

/* ---- Graceful shutdown with calls in flight ---- */

static irpc_dispatch *held[4];
static int nheld;

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  held[nheld++] = d;
}

static const irpc_dispatcher_ops hold_ops = {.name = "hold",
                                             .dispatch = hold_dispatch};

static void server_down(irpc_server *s, int status, void *ud) {
  (void)s;
  *(int *)ud = status == 0 ? 1 : status;
}

static void graceful_shutdown(void **state) {
  (void)state;
  rig r;
  rig_init(&r, T_TCP);
  nheld = 0;
  map(&r, "/hold", &hold_ops, NULL);
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  result o[2] = {0};
  irpc_outgoing_request *reqs[2] = {request("/hold", "a", 1),
                                    request("/hold", "b", 1)};
  for (int i = 0; i < 2; i++)
    assert_irpc_ok(irpc_invoke(inv, reqs[i], on_result, &o[i], NULL));
  while (nheld < 2)
    uv_run(&r.loop, UV_RUN_ONCE);
  int down = 0;
  assert_irpc_ok(irpc_server_shutdown(r.server, server_down, &down));
  /* Let the GoAway cross; the accepted calls are still running. */
  for (int i = 0; i < 20; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(o[0].done + o[1].done, 0);
  for (int i = 0; i < 2; i++)
    assert_irpc_ok(irpc_dispatch_reply(held[i], IRPC_STATUS_OK, NULL));
  run_until(&r.loop, &down);
  assert_int_equal(down, 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(o[i].done, 1);
    assert_irpc_ok(o[i].err);
    assert_int_equal(o[i].status, IRPC_STATUS_OK);
    irpc_outgoing_request_free(reqs[i]);
  }
  irpc_invoker_free(inv);
  rig_fini(&r);
}

/* ---- Reconnect after the server closed the connection ---- */

static void reconnect(void **state) {
  (void)state;
  rig r;
  rig_init(&r, T_TCP);
  map(&r, "/echo", &echo_ops, NULL);
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  result o = {0};
  irpc_outgoing_request *req = request("/echo", "1", 1);
  call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  irpc_connection *first = irpc_client_connection_connection(inv);
  uint64_t first_id = irpc_connection_id(first);
  irpc_connection *list[2];
  assert_int_equal(irpc_server_connections(r.server, list, 2), 1);
  irpc_connection_abort(list[0], 0);
  while (irpc_client_connection_connection(inv) != NULL)
    uv_run(&r.loop, UV_RUN_ONCE);
  result o2 = {0};
  call_sync(&r.loop, inv, req, &o2);
  assert_irpc_ok(o2.err);
  assert_int_equal(o2.status, IRPC_STATUS_OK);
  assert_true(irpc_connection_id(irpc_client_connection_connection(inv)) !=
              first_id);
  irpc_outgoing_request_free(req);
  client_close(&r, inv);
  rig_fini(&r);
}

/* ---- Inactivity: an unused connection shuts itself down ---- */

static void inactivity(void **state) {
  (void)state;
  rig r;
  rig_init(&r, T_TCP);
  map(&r, "/echo", &echo_ops, NULL);
  r.sopts.connection.inactivity_timeout_ms = 50;
  rig_start(&r);
  irpc_invoker *inv = client(&r);
  result o = {0};
  irpc_outgoing_request *req = request("/echo", "1", 1);
  call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  while (irpc_client_connection_connection(inv) != NULL ||
         irpc_server_connections(r.server, NULL, 0) != 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  irpc_outgoing_request_free(req);
  client_close(&r, inv);
  rig_fini(&r);
}

/* ---- Connect failures ---- */

static void refused(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *inv;
  /* A port nobody listens on: bind one and close it. */
  assert_irpc_ok(
      irpc_client_connection_new(&inv, &loop, "icerpc://127.0.0.1:1", NULL));
  result o = {0};
  irpc_outgoing_request *req = request("/echo", NULL, 0);
  call_sync(&loop, inv, req, &o);
  assert_int_equal(o.err, UV_ECONNREFUSED);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(two_way_tcp),      cmocka_unit_test(two_way_uds),
      cmocka_unit_test(two_way_memory),   cmocka_unit_test(one_way),
      cmocka_unit_test(many_tcp),         cmocka_unit_test(many_uds),
      cmocka_unit_test(callbacks_tcp),    cmocka_unit_test(callbacks_uds),
      cmocka_unit_test(callbacks_memory), cmocka_unit_test(graceful_shutdown),
      cmocka_unit_test(reconnect),        cmocka_unit_test(inactivity),
      cmocka_unit_test(refused),          cmocka_unit_test(large_tcp),
      cmocka_unit_test(large_uds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
