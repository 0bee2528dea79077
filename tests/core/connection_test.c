/* Client connections, servers and calls in both directions over TCP, Unix
 * domain sockets and the in-memory transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit/net.h"

/* ---- Dispatchers ---- */

static int oneway_seen;

static void count_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  assert_true(irpc_incoming_request_oneway(irpc_dispatch_request(d)));
  oneway_seen++;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops count_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "count",
                                              .dispatch = count_dispatch};

/* ---- Tests ---- */

static void two_way(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  for (int i = 0; i < 3; i++) {
    irpc_buf *got;
    assert_irpc_ok(irpc_buf_new(&got));
    net_result o = {.payload = got};
    irpc_outgoing_request *req = kit_request("/echo", "hello", 5);
    net_call_sync(&r.loop, inv, req, &o);
    assert_irpc_ok(o.err);
    assert_int_equal(o.status, IRPC_STATUS_OK);
    assert_true(irpc_buf_equals(got, "hello", 5));
    irpc_buf_free(got);
    irpc_outgoing_request_free(req);
  }
  /* NotFound travels back as a status */
  net_result nf = {0};
  irpc_outgoing_request *req = kit_request("/nowhere", NULL, 0);
  net_call_sync(&r.loop, inv, req, &nf);
  assert_irpc_ok(nf.err);
  assert_int_equal(nf.status, IRPC_STATUS_NOT_FOUND);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void two_way_tcp(void **s) {
  (void)s, two_way(NET_TCP);
}
static void two_way_uds(void **s) {
  (void)s, two_way(NET_UDS);
}
static void two_way_memory(void **s) {
  (void)s, two_way(NET_MEMORY);
}

/* Calls made before the client connection connected are dispatched in
 * the order they were made. */
static char order_seen[8];
static size_t order_len;

static void order_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_buf *in = irpc_incoming_request_payload(irpc_dispatch_request(d));
  assert_int_equal(irpc_buf_len(in), 1);
  assert_true(order_len < sizeof order_seen);
  assert_irpc_ok(irpc_buf_copyout(in, 0, &order_seen[order_len++], 1));
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops order_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "order",
                                              .dispatch = order_dispatch};

static void calls_before_connect_keep_order(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  net_map(&r, "/order", &order_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  order_len = 0;
  net_result o[4] = {{0}};
  irpc_outgoing_request *reqs[4];
  for (int i = 0; i < 4; i++) {
    reqs[i] = kit_request("/order", &"abcd"[i], 1);
    assert_irpc_ok(irpc_invoke(inv, reqs[i], net_on_result, &o[i], NULL));
  }
  kit_run_until(&r.loop, &o[3].done);
  for (int i = 0; i < 4; i++) {
    kit_run_until(&r.loop, &o[i].done);
    assert_irpc_ok(o[i].err);
    irpc_outgoing_request_free(reqs[i]);
  }
  assert_int_equal(order_len, 4);
  assert_memory_equal(order_seen, "abcd", 4);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void one_way(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  net_map(&r, "/count", &count_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  oneway_seen = 0;
  net_result o[10] = {0};
  irpc_outgoing_request *reqs[10];
  int all = 0;
  for (int i = 0; i < 10; i++) {
    reqs[i] = kit_request("/count", "x", 1);
    irpc_outgoing_request_set_oneway(reqs[i], 1);
    assert_irpc_ok(irpc_invoke(inv, reqs[i], net_on_result, &o[i], NULL));
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
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void large(int kind, size_t size) {
  net_rig r;
  net_rig_init(&r, kind);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  uint8_t *data = malloc(size);
  assert_non_null(data);
  for (size_t i = 0; i < size; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  irpc_buf *got;
  assert_irpc_ok(irpc_buf_new(&got));
  net_result o = {.payload = got};
  irpc_outgoing_request *req = kit_request("/echo", data, size);
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_buf_len(got), size);
  assert_true(irpc_buf_equals(got, data, size));
  free(data);
  irpc_buf_free(got);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void large_tcp(void **s) {
  (void)s, large(NET_TCP, 64u << 20);
}
static void large_uds(void **s) {
  (void)s, large(NET_UDS, 64u << 20);
}

static void many_in_flight(int kind) {
  enum { N = 1000 };
  net_rig r;
  net_rig_init(&r, kind);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  static net_result o[N];
  static irpc_outgoing_request *reqs[N];
  memset(o, 0, sizeof o);
  for (int i = 0; i < N; i++) {
    char text[16];
    int n = snprintf(text, sizeof text, "%d", i);
    reqs[i] = kit_request("/echo", text, (size_t)n);
    assert_irpc_ok(irpc_buf_new(&o[i].payload));
    assert_irpc_ok(irpc_invoke(inv, reqs[i], net_on_result, &o[i], NULL));
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
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void many_tcp(void **s) {
  (void)s, many_in_flight(NET_TCP);
}
static void many_uds(void **s) {
  (void)s, many_in_flight(NET_UDS);
}

/* ---- Callbacks: the server calls the net_client on its own connection ---- */

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
    nested_req = kit_request("/echo", "x", 1);
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

static const irpc_dispatcher_ops client_side_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "client-side",
    .dispatch = client_side};

/* Server side: /subscribe calls the net_client back ("again" when the payload
 * says so) and replies with what the net_client answered. */
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

static const irpc_dispatcher_ops subscribe_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "subscribe",
    .dispatch = subscribe};

static void callbacks(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  memset(&cbs, 0, sizeof cbs);
  net_map(&r, "/subscribe", &subscribe_ops, NULL);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_router *croute;
  assert_irpc_ok(irpc_router_new(&croute, &r.loop));
  irpc_dispatcher *cside;
  assert_irpc_ok(irpc_dispatcher_new(&cside, &r.loop, &client_side_ops, NULL));
  assert_irpc_ok(irpc_router_map(croute, "/callback", cside));
  r.copts.dispatcher = irpc_router_dispatcher(croute);
  irpc_invoker *inv = net_client(&r);

  /* The server calls back before replying. */
  irpc_buf *got;
  assert_irpc_ok(irpc_buf_new(&got));
  net_result o = {.payload = got};
  irpc_outgoing_request *req = kit_request("/subscribe", "plain", 5);
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_true(irpc_buf_equals(got, "pong", 4));
  irpc_buf_free(got);
  irpc_outgoing_request_free(req);

  /* Re-entrant: the net_client's callback calls the server again first. */
  net_result o2 = {0};
  req = kit_request("/subscribe", "again", 5);
  net_call_sync(&r.loop, inv, req, &o2);
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
  if (kind == NET_TCP)
    assert_true(irpc_connection_remote_address(cbs.stored)[0] != 0);
  net_result later = {0};
  req = kit_request("/callback", NULL, 0);
  net_call_sync(&r.loop, irpc_connection_invoker(cbs.stored), req, &later);
  assert_irpc_ok(later.err);
  assert_int_equal(cbs.client_dispatches, 3);

  /* Once the net_client is gone, the stored invoker fails at once. */
  net_client_close(&r, inv);
  while (irpc_connection_close_error(cbs.stored) == 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  net_result gone = {0};
  net_call_sync(&r.loop, irpc_connection_invoker(cbs.stored), req, &gone);
  assert_true(gone.err < 0);
  irpc_outgoing_request_free(req);
  irpc_connection_unref(cbs.stored);
  irpc_router_free(croute);
  irpc_dispatcher_free(cside);
  net_rig_fini(&r);
}

static void callbacks_tcp(void **s) {
  (void)s, callbacks(NET_TCP);
}
static void callbacks_uds(void **s) {
  (void)s, callbacks(NET_UDS);
}
static void callbacks_memory(void **s) {
  (void)s, callbacks(NET_MEMORY);
}

/* ---- Graceful shutdown with calls in flight ---- */

static void server_down(irpc_server *s, int status, void *ud) {
  (void)s;
  *(int *)ud = status == 0 ? 1 : status;
}

static void graceful_shutdown(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  kit_nheld = 0;
  net_map(&r, "/hold", &kit_hold_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o[2] = {0};
  irpc_outgoing_request *reqs[2] = {kit_request("/hold", "a", 1),
                                    kit_request("/hold", "b", 1)};
  for (int i = 0; i < 2; i++)
    assert_irpc_ok(irpc_invoke(inv, reqs[i], net_on_result, &o[i], NULL));
  while (kit_nheld < 2)
    uv_run(&r.loop, UV_RUN_ONCE);
  int down = 0;
  assert_irpc_ok(irpc_server_shutdown(r.server, server_down, &down));
  /* Let the GoAway cross; the accepted calls are still running. */
  for (int i = 0; i < 20; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(o[0].done + o[1].done, 0);
  for (int i = 0; i < 2; i++)
    assert_irpc_ok(irpc_dispatch_reply(kit_held[i], IRPC_STATUS_OK, NULL));
  kit_run_until(&r.loop, &down);
  assert_int_equal(down, 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(o[i].done, 1);
    assert_irpc_ok(o[i].err);
    assert_int_equal(o[i].status, IRPC_STATUS_OK);
    irpc_outgoing_request_free(reqs[i]);
  }
  irpc_invoker_free(inv);
  net_rig_fini(&r);
}

/* Beyond max_dispatches, the peer's requests wait for a dispatch slot, in
 * order, one-way requests too (their stream is gone by then): none is run
 * early and none is lost. */
static void dispatch_slots(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  r.sopts.connection.max_dispatches = 1;
  kit_nheld = 0;
  oneway_seen = 0;
  net_map(&r, "/hold", &kit_hold_ops, NULL);
  net_map(&r, "/count", &count_ops, NULL);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o[3] = {0};
  irpc_outgoing_request *reqs[3] = {kit_request("/hold", "a", 1),
                                    kit_request("/count", "b", 1),
                                    kit_request("/echo", "c", 1)};
  irpc_outgoing_request_set_oneway(reqs[1], 1);
  assert_irpc_ok(irpc_invoke(inv, reqs[0], net_on_result, &o[0], NULL));
  while (kit_nheld < 1)
    uv_run(&r.loop, UV_RUN_ONCE);
  for (int i = 1; i < 3; i++)
    assert_irpc_ok(irpc_invoke(inv, reqs[i], net_on_result, &o[i], NULL));
  /* The one-way call completes once sent; its dispatch waits. */
  kit_run_until(&r.loop, &o[1].done);
  for (int i = 0; i < 20; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(oneway_seen, 0);
  assert_int_equal(o[0].done + o[2].done, 0);
  assert_irpc_ok(irpc_dispatch_reply(kit_held[0], IRPC_STATUS_OK, NULL));
  kit_run_until(&r.loop, &o[2].done);
  assert_int_equal(oneway_seen, 1);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(o[i].done, 1);
    assert_irpc_ok(o[i].err);
    assert_int_equal(o[i].status, IRPC_STATUS_OK);
    irpc_outgoing_request_free(reqs[i]);
  }
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

/* A one-way request read whole, its dispatch held, then the client's
 * connection goes away: the server's connection ends and cancels the
 * dispatch, whose stream the protocol had already let go of. */
static int oneway_cancel_err;

static void oneway_on_cancel(irpc_dispatch *d, int err, void *ud) {
  (void)ud;
  oneway_cancel_err = err;
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static void hold_oneway(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  kit_held[kit_nheld++] = d;
  irpc_dispatch_on_cancel(d, oneway_on_cancel, NULL);
}

static const irpc_dispatcher_ops hold_oneway_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "hold-oneway",
    .dispatch = hold_oneway};

static void oneway_canceled_when_connection_ends(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  kit_nheld = 0;
  oneway_cancel_err = 0;
  net_map(&r, "/hold", &hold_oneway_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/hold", "a", 1);
  irpc_outgoing_request_set_oneway(req, 1);
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &o, NULL));
  kit_run_until(&r.loop, &o.done);
  while (kit_nheld < 1)
    uv_run(&r.loop, UV_RUN_ONCE);
  for (int i = 0; i < 20; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(oneway_cancel_err, 0);
  irpc_connection_abort(irpc_client_connection_connection(inv),
                        UV_ECONNABORTED);
  while (oneway_cancel_err == 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  assert_true(oneway_cancel_err < 0);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

/* A dispatch that never answers makes the server's graceful shutdown time
 * out: the shutdown reports IRPC_ETIMEDOUT, the dispatch is canceled and
 * the client's call fails instead of hanging. */
static int hang_canceled;

static void hang_cancel(irpc_dispatch *d, int err, void *ud) {
  (void)ud;
  hang_canceled = err ? err : -1;
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static void hang_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  kit_nheld++;
  irpc_dispatch_on_cancel(d, hang_cancel, NULL);
}

static const irpc_dispatcher_ops hang_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hang",
                                             .dispatch = hang_dispatch};

static void shutdown_times_out(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  kit_nheld = 0;
  hang_canceled = 0;
  r.sopts.connection.shutdown_timeout_ms = 50;
  net_map(&r, "/hang", &hang_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/hang", "a", 1);
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &o, NULL));
  while (kit_nheld < 1)
    uv_run(&r.loop, UV_RUN_ONCE);
  int down = 0;
  assert_irpc_ok(irpc_server_shutdown(r.server, server_down, &down));
  kit_run_until(&r.loop, &down);
  assert_int_equal(down, IRPC_ETIMEDOUT);
  kit_run_until(&r.loop, &o.done);
  assert_int_not_equal(o.err, 0);
  assert_int_not_equal(hang_canceled, 0);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  net_rig_fini(&r);
}

/* Canceling an invocation resets its stream: the call completes with the
 * cancel error and the dispatch on the other side is canceled. */
static void cancel_invocation(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  kit_nheld = 0;
  hang_canceled = 0;
  net_map(&r, "/hang", &hang_ops, NULL);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o = {0};
  irpc_call *call;
  irpc_outgoing_request *req = kit_request("/hang", "a", 1);
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &o, &call));
  while (kit_nheld < 1)
    uv_run(&r.loop, UV_RUN_ONCE);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&r.loop, &o.done);
  assert_int_equal(o.err, IRPC_ECANCELED);
  kit_run_until(&r.loop, &hang_canceled);
  assert_int_equal(hang_canceled, IRPC_ECANCELED);
  /* The connection carries on. */
  net_result ok = {0};
  irpc_outgoing_request *echo = kit_request("/echo", "b", 1);
  net_call_sync(&r.loop, inv, echo, &ok);
  assert_irpc_ok(ok.err);
  assert_int_equal(ok.status, IRPC_STATUS_OK);
  irpc_outgoing_request_free(echo);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void cancel_tcp(void **s) {
  (void)s, cancel_invocation(NET_TCP);
}
static void cancel_memory(void **s) {
  (void)s, cancel_invocation(NET_MEMORY);
}

/* A request that crosses the server's GoAway is not accepted: it fails with
 * IRPC_EINVCANCELED (safe to retry), and the call the server had accepted
 * before completes. */
static void goaway_not_accepted(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  kit_nheld = 0;
  net_map(&r, "/hold", &kit_hold_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result first = {0};
  irpc_outgoing_request *a = kit_request("/hold", "a", 1);
  assert_irpc_ok(irpc_invoke(inv, a, net_on_result, &first, NULL));
  while (kit_nheld < 1)
    uv_run(&r.loop, UV_RUN_ONCE);
  irpc_connection *conn = irpc_client_connection_connection(inv);
  assert_non_null(conn);
  irpc_connection_ref(conn);
  /* Same turn: the server's GoAway and the client's second request cross.
   * The request goes straight to the connection, not through the client
   * connection (which would retry it), so the error shows. */
  net_result second = {0};
  irpc_outgoing_request *b = kit_request("/hold", "b", 1);
  assert_irpc_ok(irpc_invoke(irpc_connection_invoker(conn), b, net_on_result,
                             &second, NULL));
  int down = 0;
  assert_irpc_ok(irpc_server_shutdown(r.server, server_down, &down));
  kit_run_until(&r.loop, &second.done);
  assert_int_equal(second.err, IRPC_EINVCANCELED);
  assert_int_equal(kit_nheld, 1);
  assert_irpc_ok(irpc_dispatch_reply(kit_held[0], IRPC_STATUS_OK, NULL));
  kit_run_until(&r.loop, &first.done);
  assert_irpc_ok(first.err);
  assert_int_equal(first.status, IRPC_STATUS_OK);
  kit_run_until(&r.loop, &down);
  assert_int_equal(down, 1);
  irpc_connection_unref(conn);
  irpc_outgoing_request_free(a);
  irpc_outgoing_request_free(b);
  irpc_invoker_free(inv);
  net_rig_fini(&r);
}

/* Freed while its transport connect is held: the waiting call fails with
 * IRPC_EABORTED at once and the connect's late completion touches nothing
 * (ASan checks it while the loop runs on). */
static void free_while_connecting(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_transport *fault;
  assert_irpc_ok(irpc_transport_fault_new(&fault, r.memory));
  assert_irpc_ok(irpc_fault_set(irpc_transport_fault(fault), IRPC_FAULT_CONNECT,
                                IRPC_FAULT_HOLD, 0));
  irpc_connection_options co = r.copts;
  co.transport = fault;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &r.loop, r.bound, &co));
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/echo", "a", 1);
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &o, NULL));
  for (int i = 0; i < 5; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(o.done, 0);
  irpc_invoker_free(inv);
  kit_run_until(&r.loop, &o.done);
  assert_int_equal(o.err, IRPC_EABORTED);
  irpc_outgoing_request_free(req);
  net_rig_fini(&r); /* runs the loop out: the fault's duplexes are gone */
  irpc_transport_free(fault);
}

/* The server aborts the connection an idempotent call is on; the retry
 * interceptor retries at once, from inside the failed call's completion:
 * the dead connection is no longer active then, so the attempt goes to a
 * new connection and succeeds. */
static int abort_first_seen;

static void abort_first(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  if (abort_first_seen++ == 0) {
    irpc_dispatch_on_cancel(d, hang_cancel, NULL);
    irpc_connection_abort(
        irpc_incoming_request_connection(irpc_dispatch_request(d)),
        UV_ECONNABORTED);
    return;
  }
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops abort_first_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "abort-first",
    .dispatch = abort_first};

static void retry_after_abort(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  abort_first_seen = 0;
  net_map(&r, "/flaky", &abort_first_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *conn = net_client(&r);
  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.initial_backoff_ms = 0;
  irpc_invoker *retry;
  assert_irpc_ok(irpc_retry_interceptor_new(&retry, &r.loop, &ro));
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
  assert_irpc_ok(irpc_pipeline_use(p, retry));
  assert_irpc_ok(irpc_pipeline_into(p, conn));
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/flaky", "a", 1);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  net_call_sync(&r.loop, irpc_pipeline_invoker(p), req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(abort_first_seen, 2);
  irpc_outgoing_request_free(req);
  irpc_pipeline_free(p); /* and the retry interceptor it owns */
  net_client_close(&r, conn);
  net_rig_fini(&r);
}

static void retry_after_abort_tcp(void **s) {
  (void)s, retry_after_abort(NET_TCP);
}
static void retry_after_abort_memory(void **s) {
  (void)s, retry_after_abort(NET_MEMORY);
}

/* connect() on a connection that is already up answers on a later turn,
 * never inside the call. */
static void connect_when_connected(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_UDS);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  int first = 0, second = 0;
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &first));
  assert_int_equal(first, 0);
  kit_run_until(&r.loop, &first);
  assert_int_equal(first, 1);
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &second));
  assert_int_equal(second, 0);
  kit_run_until(&r.loop, &second);
  assert_int_equal(second, 1);
  /* Freed before the answer: it gets IRPC_EABORTED and nothing runs later
   * (ASan checks the latter while the loop runs on). */
  int third = 0;
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &third));
  irpc_invoker_free(inv);
  assert_int_equal(third, IRPC_EABORTED);
  net_rig_fini(&r);
}

/* ---- Reconnect after the server closed the connection ---- */

static void reconnect(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/echo", "1", 1);
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  irpc_connection *first = irpc_client_connection_connection(inv);
  uint64_t first_id = irpc_connection_id(first);
  irpc_connection *list[2];
  assert_int_equal(irpc_server_connections(r.server, list, 2), 1);
  irpc_connection_abort(list[0], 0);
  while (irpc_client_connection_connection(inv) != NULL)
    uv_run(&r.loop, UV_RUN_ONCE);
  net_result o2 = {0};
  net_call_sync(&r.loop, inv, req, &o2);
  assert_irpc_ok(o2.err);
  assert_int_equal(o2.status, IRPC_STATUS_OK);
  assert_true(irpc_connection_id(irpc_client_connection_connection(inv)) !=
              first_id);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

/* ---- Inactivity: an unused connection shuts itself down ---- */

static void inactivity(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  r.sopts.connection.inactivity_timeout_ms = 50;
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/echo", "1", 1);
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  while (irpc_client_connection_connection(inv) != NULL ||
         irpc_server_connections(r.server, NULL, 0) != 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void on_pause(uv_timer_t *t) {
  *(int *)t->data = 1;
}

/* A call made while the inactivity timer runs puts the shutdown off: the
 * connection is shut down a whole timeout after its last call, never
 * sooner, although the timer armed before that call came due first. */
static void inactivity_counts_from_last_call(void **state) {
  (void)state;
  const uint64_t timeout_ms = 1000, pause_ms = 300;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  r.sopts.connection.inactivity_timeout_ms = timeout_ms;
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  irpc_outgoing_request *req = kit_request("/echo", "1", 1);
  net_result o = {0};
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  /* setup: a second call, well inside the first timeout */
  uv_timer_t pause;
  int paused = 0;
  assert_int_equal(uv_timer_init(&r.loop, &pause), 0);
  pause.data = &paused;
  assert_int_equal(uv_timer_start(&pause, on_pause, pause_ms, 0), 0);
  kit_run_until(&r.loop, &paused);
  uv_close((uv_handle_t *)&pause, NULL);
  assert_int_equal(irpc_server_connections(r.server, NULL, 0), 1);
  net_result o2 = {0};
  net_call_sync(&r.loop, inv, req, &o2);
  assert_irpc_ok(o2.err);
  uint64_t last = uv_hrtime();
  while (irpc_server_connections(r.server, NULL, 0) != 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  uint64_t idle_ms = (uv_hrtime() - last) / 1000000;
  /* shut down at the earliest a timeout after the last call (less the
   * loop turns between the server's end of the call and the client's):
   * the first timer's due would leave about timeout - pause */
  assert_true(idle_ms >= timeout_ms - 100);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

/* ---- A peer that accepts no requests, or no more for now ---- */

/* Server side: calls the client back, two-way and one-way, and answers
 * once both callbacks ended, with their errors in the payload. */
typedef struct back_call {
  irpc_dispatch *d;
  irpc_outgoing_request *req[2];
  int err[2];
  int done;
} back_call;

static void back_done(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  back_call *b = ud;
  int i = irpc_call_request(call) == b->req[1];
  irpc_incoming_response_free(resp);
  b->err[i] = err;
  if (++b->done < 2)
    return;
  irpc_outgoing_response *out;
  assert_irpc_ok(irpc_outgoing_response_new(&out, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_response_payload(out), b->err,
                                 sizeof b->err));
  irpc_outgoing_request_free(b->req[0]);
  irpc_outgoing_request_free(b->req[1]);
  irpc_dispatch *d = b->d;
  free(b);
  assert_irpc_ok(irpc_dispatch_complete(d, out));
}

static void call_back(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_invoker *peer = irpc_incoming_request_invoker(irpc_dispatch_request(d));
  back_call *b = calloc(1, sizeof(*b));
  assert_non_null(b);
  b->d = d;
  for (int i = 0; i < 2; i++) {
    b->req[i] = kit_request("/callback", "x", 1);
    irpc_outgoing_request_set_oneway(b->req[i], i == 1);
  }
  for (int i = 0; i < 2; i++)
    assert_irpc_ok(irpc_invoke(peer, b->req[i], back_done, b, NULL));
}

static const irpc_dispatcher_ops call_back_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "call-back",
    .dispatch = call_back};

/* A client connection without a dispatcher announces no request streams:
 * the server's callbacks to it, two-way and one-way, fail at once with
 * IRPC_ENOREQUESTS instead of waiting for a stream forever. */
static void callback_to_client_without_dispatcher(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  net_map(&r, "/call-back", &call_back_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  irpc_buf *got;
  assert_irpc_ok(irpc_buf_new(&got));
  net_result o = {.payload = got};
  irpc_outgoing_request *req = kit_request("/call-back", NULL, 0);
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  int errs[2];
  assert_int_equal(irpc_buf_len(got), sizeof errs);
  assert_irpc_ok(irpc_buf_copyout(got, 0, errs, sizeof errs));
  assert_irpc_err(errs[0], IRPC_ENOREQUESTS);
  assert_irpc_err(errs[1], IRPC_ENOREQUESTS);
  assert_string_equal(irpc_strerror(IRPC_ENOREQUESTS),
                      "the peer accepts no requests");
  /* The connection is unharmed. */
  assert_int_equal(irpc_server_connections(r.server, NULL, 0), 1);
  irpc_buf_free(got);
  irpc_outgoing_request_free(req);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void no_dispatcher_tcp(void **s) {
  (void)s, callback_to_client_without_dispatcher(NET_TCP);
}
static void no_dispatcher_memory(void **s) {
  (void)s, callback_to_client_without_dispatcher(NET_MEMORY);
}

/* The server allows one request stream at a time: a second call waits for
 * the first one's stream, and that wait ends with the call's cancellation
 * or its deadline (a manual clock); once the first call completes, the
 * next one goes through. */
static void wait_for_stream(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  kit_nheld = 0;
  r.sicerpc.max_bidirectional_streams = 1;
  r.sicerpc.max_unidirectional_streams = 1;
  net_map(&r, "/hold", &kit_hold_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &r.loop, 0));
  irpc_deadline_options dopts;
  irpc_deadline_options_init(&dopts);
  dopts.default_timeout_ms = 1000;
  dopts.clock = clock;
  irpc_invoker *deadline;
  assert_irpc_ok(irpc_deadline_interceptor_new(&deadline, &r.loop, &dopts));
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, &r.loop));
  assert_irpc_ok(irpc_pipeline_use(p, deadline));
  assert_irpc_ok(irpc_pipeline_into(p, inv));
  irpc_outgoing_request *req = kit_request("/hold", "a", 1);
  net_result first = {0};
  irpc_outgoing_request *hold = kit_request("/hold", "h", 1);
  assert_irpc_ok(irpc_invoke(inv, hold, net_on_result, &first, NULL));
  while (kit_nheld < 1)
    uv_run(&r.loop, UV_RUN_ONCE);

  net_result canceled = {0}, late = {0};
  irpc_call *call;
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &canceled, &call));
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(p), req, net_on_result, &late, NULL));
  for (int i = 0; i < 20; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(canceled.done + late.done, 0);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&r.loop, &canceled.done);
  assert_irpc_err(canceled.err, IRPC_ECANCELED);
  assert_int_equal(late.done, 0);
  assert_irpc_ok(irpc_clock_advance(clock, UINT64_C(1000) * 1000000));
  kit_run_until(&r.loop, &late.done);
  assert_irpc_err(late.err, IRPC_EDEADLINE);
  assert_int_equal(kit_nheld, 1);

  /* The slot frees: the next call goes through. */
  assert_irpc_ok(irpc_dispatch_reply(kit_held[0], IRPC_STATUS_OK, NULL));
  kit_run_until(&r.loop, &first.done);
  assert_irpc_ok(first.err);
  net_result next = {0};
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &next, NULL));
  while (kit_nheld < 2)
    uv_run(&r.loop, UV_RUN_ONCE);
  assert_irpc_ok(irpc_dispatch_reply(kit_held[1], IRPC_STATUS_OK, NULL));
  kit_run_until(&r.loop, &next.done);
  assert_irpc_ok(next.err);
  assert_int_equal(canceled.done + late.done, 2);

  irpc_outgoing_request_free(hold);
  irpc_outgoing_request_free(req);
  irpc_pipeline_free(p);
  irpc_clock_unref(clock);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

/* ---- Graceful shutdown under load ---- */

enum { LOAD_MAX = 4096, LOAD_IN_FLIGHT = 64 };

typedef struct load {
  uv_loop_t *loop;
  irpc_invoker *inv;
  int stopping;
  int issued, finished;
  irpc_outgoing_request *req[LOAD_MAX];
  int done[LOAD_MAX];
  int err[LOAD_MAX];
  uint64_t status[LOAD_MAX];
  uint8_t dispatched[LOAD_MAX];
  int ndispatched;
} load;

static load *the_load;

/* Echoes, and notes which calls it dispatched (the first 4 bytes). */
static void load_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  uint32_t i;
  irpc_buf *p = irpc_incoming_request_payload(irpc_dispatch_request(d));
  assert_irpc_ok(irpc_buf_copyout(p, 0, &i, sizeof i));
  assert_true(i < LOAD_MAX);
  the_load->dispatched[i]++;
  the_load->ndispatched++;
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops load_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "load",
                                             .dispatch = load_dispatch};

static void load_issue(load *l);

static void load_done(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  load *l = ud;
  uint32_t i;
  irpc_buf *p = irpc_outgoing_request_payload(irpc_call_request(call));
  assert_irpc_ok(irpc_buf_copyout(p, 0, &i, sizeof i));
  l->done[i]++;
  l->err[i] = err;
  if (resp)
    l->status[i] = irpc_incoming_response_status(resp);
  irpc_incoming_response_free(resp);
  l->finished++;
  if (!l->stopping)
    load_issue(l);
}

/* A call of 16 to 64 KiB whose payload starts with its index. */
static void load_issue(load *l) {
  assert_true(l->issued < LOAD_MAX);
  uint32_t i = (uint32_t)l->issued++;
  size_t size = (16u << 10) + (i * 7919u) % (48u << 10);
  uint8_t *data = calloc(1, size);
  assert_non_null(data);
  memcpy(data, &i, sizeof i);
  l->req[i] = kit_request("/load", data, size);
  free(data);
  assert_irpc_ok(irpc_invoke(l->inv, l->req[i], load_done, l, NULL));
}

/* The server shuts down gracefully while the client keeps 64 calls of 16
 * to 64 KiB in flight over TCP, several times: every call completes
 * exactly once; the calls the server dispatched succeed, and the others
 * fail with IRPC_EINVCANCELED (safe to retry), never with anything else. */
static void shutdown_under_load(void **state) {
  (void)state;
  static load l;
  int canceled = 0;
  for (int round = 0; round < 8; round++) {
    memset(&l, 0, sizeof l);
    the_load = &l;
    net_rig r;
    net_rig_init(&r, NET_TCP);
    net_map(&r, "/load", &load_ops, NULL);
    net_rig_start(&r);
    l.loop = &r.loop;
    l.inv = net_client(&r);
    for (int i = 0; i < LOAD_IN_FLIGHT; i++)
      load_issue(&l);
    /* Shut down at a different point of the traffic each round. */
    while (l.ndispatched < LOAD_IN_FLIGHT + round * 37)
      uv_run(&r.loop, UV_RUN_ONCE);
    int down = 0;
    l.stopping = 1;
    assert_irpc_ok(irpc_server_shutdown(r.server, server_down, &down));
    while (!down || l.finished < l.issued)
      uv_run(&r.loop, UV_RUN_ONCE);
    assert_int_equal(down, 1);
    for (int i = 0; i < l.issued; i++) {
      assert_int_equal(l.done[i], 1);
      assert_true(l.dispatched[i] <= 1);
      if (l.dispatched[i]) {
        assert_irpc_ok(l.err[i]);
        assert_int_equal(l.status[i], IRPC_STATUS_OK);
      } else {
        assert_irpc_err(l.err[i], IRPC_EINVCANCELED);
        canceled++;
      }
      irpc_outgoing_request_free(l.req[i]);
    }
    irpc_invoker_free(l.inv);
    net_rig_fini(&r);
  }
  (void)canceled; /* how many crossed the GoAway depends on timing */
}

/* ---- How a connection ends, on both sides ---- */

static void on_close_err(irpc_connection *c, int err, void *ud) {
  (void)c;
  *(int *)ud = err;
}

typedef struct ends {
  net_rig r;
  irpc_invoker *inv;
  irpc_connection *client, *server; /* references */
  int client_closed, server_closed;
  irpc_outgoing_request *req;
  net_result held_call;
} ends;

/* A client and its server connection, both watched, with one call held
 * by the server's dispatch (hang_dispatch: it records its cancel). */
static void ends_open(ends *e, int kind) {
  memset(e, 0, sizeof(*e));
  net_rig_init(&e->r, kind);
  kit_nheld = 0;
  hang_canceled = 0;
  net_map(&e->r, "/hold", &kit_hold_ops, NULL);
  net_map(&e->r, "/hang", &hang_ops, NULL);
  e->r.sicerpc.max_bidirectional_streams = 1;
  net_rig_start(&e->r);
  e->inv = net_client(&e->r);
  e->req = kit_request("/hold", "a", 1);
}

static void ends_watch(ends *e) {
  e->client = irpc_connection_ref(irpc_client_connection_connection(e->inv));
  irpc_connection *list[2];
  assert_int_equal(irpc_server_connections(e->r.server, list, 2), 1);
  e->server = irpc_connection_ref(list[0]);
  assert_true(
      irpc_connection_on_close(e->client, on_close_err, &e->client_closed) > 0);
  assert_true(
      irpc_connection_on_close(e->server, on_close_err, &e->server_closed) > 0);
}

/* Both closed: the close callbacks and irpc_connection_close_error give
 * the documented codes, and so does a call on either closed connection. */
static void ends_expect(ends *e, int client_err, int server_err) {
  kit_run_until(&e->r.loop, &e->client_closed);
  kit_run_until(&e->r.loop, &e->server_closed);
  assert_irpc_err(e->client_closed, client_err);
  assert_irpc_err(e->server_closed, server_err);
  assert_irpc_err(irpc_connection_close_error(e->client), client_err);
  assert_irpc_err(irpc_connection_close_error(e->server), server_err);
  net_result a = {0}, b = {0};
  net_call_sync(&e->r.loop, irpc_connection_invoker(e->client), e->req, &a);
  assert_irpc_err(a.err, client_err);
  net_call_sync(&e->r.loop, irpc_connection_invoker(e->server), e->req, &b);
  assert_irpc_err(b.err, server_err);
}

static void ends_close(ends *e) {
  irpc_connection_unref(e->client);
  irpc_connection_unref(e->server);
  irpc_outgoing_request_free(e->req);
  irpc_invoker_free(e->inv);
  net_rig_fini(&e->r);
}

/* A graceful shutdown, by the client or by the server: the side that
 * started it closes with IRPC_ECLOSED, the other with IRPC_ECLOSEDBYPEER;
 * the call under way completes. */
static void graceful_ends(int kind, int by_server) {
  ends e;
  ends_open(&e, kind);
  assert_irpc_ok(irpc_invoke(e.inv, e.req, net_on_result, &e.held_call, NULL));
  while (kit_nheld < 1)
    uv_run(&e.r.loop, UV_RUN_ONCE);
  ends_watch(&e);
  if (by_server)
    assert_irpc_ok(irpc_server_shutdown(e.r.server, NULL, NULL));
  else
    assert_irpc_ok(irpc_client_connection_shutdown(e.inv, NULL, NULL));
  for (int i = 0; i < 20; i++)
    uv_run(&e.r.loop, UV_RUN_NOWAIT);
  assert_int_equal(e.held_call.done + e.client_closed + e.server_closed, 0);
  assert_irpc_ok(irpc_dispatch_reply(kit_held[0], IRPC_STATUS_OK, NULL));
  kit_run_until(&e.r.loop, &e.held_call.done);
  assert_irpc_ok(e.held_call.err);
  if (by_server)
    ends_expect(&e, IRPC_ECLOSEDBYPEER, IRPC_ECLOSED);
  else
    ends_expect(&e, IRPC_ECLOSED, IRPC_ECLOSEDBYPEER);
  ends_close(&e);
}

static void graceful_by_client_tcp(void **s) {
  (void)s, graceful_ends(NET_TCP, 0);
}
static void graceful_by_server_tcp(void **s) {
  (void)s, graceful_ends(NET_TCP, 1);
}
static void graceful_by_client_memory(void **s) {
  (void)s, graceful_ends(NET_MEMORY, 0);
}
static void graceful_by_server_memory(void **s) {
  (void)s, graceful_ends(NET_MEMORY, 1);
}

/* One side vanishes (its connection is aborted: the transport closes
 * without a Slic Close). It closes with UV_ECONNABORTED; the other side
 * sees the peer vanish: UV_ECONNRESET. The call under way and the
 * dispatch running get the error of their side's connection; a call that
 * waited for a stream was never sent: IRPC_EREFUSED. */
static void vanishing_ends(int kind, int server_vanishes) {
  ends e;
  ends_open(&e, kind);
  irpc_outgoing_request *hang = kit_request("/hang", "h", 1);
  assert_irpc_ok(irpc_invoke(e.inv, hang, net_on_result, &e.held_call, NULL));
  while (kit_nheld < 1)
    uv_run(&e.r.loop, UV_RUN_ONCE);
  ends_watch(&e);
  net_result waiting = {0};
  assert_irpc_ok(irpc_invoke(irpc_connection_invoker(e.client), e.req,
                             net_on_result, &waiting, NULL));
  for (int i = 0; i < 20; i++)
    uv_run(&e.r.loop, UV_RUN_NOWAIT);
  assert_int_equal(waiting.done, 0);
  irpc_connection_abort(server_vanishes ? e.server : e.client, 0);
  kit_run_until(&e.r.loop, &e.held_call.done);
  kit_run_until(&e.r.loop, &waiting.done);
  kit_run_until(&e.r.loop, &hang_canceled);
  int client_err = server_vanishes ? UV_ECONNRESET : UV_ECONNABORTED;
  int server_err = server_vanishes ? UV_ECONNABORTED : UV_ECONNRESET;
  assert_irpc_err(e.held_call.err, client_err);
  assert_irpc_err(waiting.err, IRPC_EREFUSED);
  assert_irpc_err(hang_canceled, server_err);
  ends_expect(&e, client_err, server_err);
  irpc_outgoing_request_free(hang);
  ends_close(&e);
}

static void server_vanishes_tcp(void **s) {
  (void)s, vanishing_ends(NET_TCP, 1);
}
static void client_vanishes_tcp(void **s) {
  (void)s, vanishing_ends(NET_TCP, 0);
}
static void server_vanishes_memory(void **s) {
  (void)s, vanishing_ends(NET_MEMORY, 1);
}
static void client_vanishes_memory(void **s) {
  (void)s, vanishing_ends(NET_MEMORY, 0);
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
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/echo", NULL, 0);
  net_call_sync(&loop, inv, req, &o);
  assert_int_equal(o.err, UV_ECONNREFUSED);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(two_way_tcp),
      cmocka_unit_test(two_way_uds),
      cmocka_unit_test(two_way_memory),
      cmocka_unit_test(calls_before_connect_keep_order),
      cmocka_unit_test(one_way),
      cmocka_unit_test(many_tcp),
      cmocka_unit_test(many_uds),
      cmocka_unit_test(callbacks_tcp),
      cmocka_unit_test(callbacks_uds),
      cmocka_unit_test(callbacks_memory),
      cmocka_unit_test(graceful_shutdown),
      cmocka_unit_test(dispatch_slots),
      cmocka_unit_test(oneway_canceled_when_connection_ends),
      cmocka_unit_test(reconnect),
      cmocka_unit_test(inactivity),
      cmocka_unit_test(inactivity_counts_from_last_call),
      cmocka_unit_test(refused),
      cmocka_unit_test(large_tcp),
      cmocka_unit_test(large_uds),
      cmocka_unit_test(shutdown_times_out),
      cmocka_unit_test(connect_when_connected),
      cmocka_unit_test(cancel_tcp),
      cmocka_unit_test(cancel_memory),
      cmocka_unit_test(goaway_not_accepted),
      cmocka_unit_test(free_while_connecting),
      cmocka_unit_test(retry_after_abort_tcp),
      cmocka_unit_test(retry_after_abort_memory),
      cmocka_unit_test(no_dispatcher_tcp),
      cmocka_unit_test(no_dispatcher_memory),
      cmocka_unit_test(wait_for_stream),
      cmocka_unit_test(shutdown_under_load),
      cmocka_unit_test(graceful_by_client_tcp),
      cmocka_unit_test(graceful_by_server_tcp),
      cmocka_unit_test(graceful_by_client_memory),
      cmocka_unit_test(graceful_by_server_memory),
      cmocka_unit_test(server_vanishes_tcp),
      cmocka_unit_test(client_vanishes_tcp),
      cmocka_unit_test(server_vanishes_memory),
      cmocka_unit_test(client_vanishes_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
