/* The protocol conformance suite: what a connection promises whatever the
 * protocol it speaks (irpc/connection.h, irpc/server.h), checked through
 * the public API only, run unchanged over every protocol of the table at
 * the end of this file, each over the memory transport, TCP and Unix
 * domain sockets. A protocol joins the suite with one line in that table
 * (and the descriptor the line names); each line is one ctest test per
 * transport,
 * conformance_protocol_<name>_<transport>.
 *
 * Usage: protocol_suite [protocol [memory|tcp|uds|tls]] (all without
 * arguments; tls is TCP with TLS contexts in the options)
 *
 * The loop drives everything: a test runs the loop until the state it
 * waits for is reached; a watchdog only fails a test that would hang. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kit/net.h"
#include "kit/payload.h"
#ifdef IRPC_WITH_TLS
#include "kit/tls.h"
#endif

/* ---- Protocol descriptors ---- */

typedef struct suite_protocol {
  /* The address scheme: "icerpc", "ice". */
  const char *name;
  /* Makes the peer take one request at a time: a second call waits on the
   * caller's side until the first one is answered. NULL when the protocol
   * has no such limit (ice: every request is read, and every request read
   * is dispatched before CloseConnection): the cases that need it skip. */
  void (*one_request_at_a_time)(net_rig *r);
  /* What a client refused by a busy server (max_connections) gets:
   * IRPC_ESERVERBUSY, or UV_ECONNREFUSED where the protocol cannot say
   * why (ice: the server closes the transport before validating). */
  int busy_err;
  /* What a client facing a server that sends `garbage` gets. */
  int bad_peer_err;
  /* Bytes no peer of this protocol sends: the first bytes of a bad
   * peer. */
  const uint8_t *garbage;
  size_t garbage_len;
} suite_protocol;

static const suite_protocol *proto;
static int transport_kind; /* NET_MEMORY or NET_TCP */
static int over_tls;       /* the tls variant */

/* A rig speaking the protocol under test over the transport under test:
 * the router has /echo (test_echo_ops), /hold (held until canceled or
 * answered by the test), /back (calls the caller back) and /sink (one-way
 * requests). The client side has the same router. */
typedef struct held_log {
  irpc_dispatch *d[32];
  int n;       /* dispatches held so far */
  int running; /* held and not completed */
  int max_running;
  int canceled; /* canceled by the connection */
  int cancel_err;
} held_log;

typedef struct oneway_log {
  int n;
  uint64_t hash;
  size_t len;
} oneway_log;

typedef struct px {
  net_rig r;
  irpc_router *client_router;
  irpc_dispatcher *client_disps[4];
  held_log held;
  oneway_log server_sink;
  oneway_log client_sink;
  int opened, closed;
  int server_close_err;
  /* The tls variant: TCP with TLS contexts in the options. */
  irpc_tls_client *tls_client;
  irpc_tls_server *tls_server;
  irpc_transport *tls; /* both, for the raw peers */
} px;

/* ---- Dispatchers ---- */

static void hold_canceled(irpc_dispatch *d, int err, void *ud) {
  held_log *h = ud;
  h->canceled++;
  h->cancel_err = err;
  h->running--;
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  held_log *h = *(held_log **)irpc_dispatcher_data(self);
  assert_true(h->n < 32);
  h->d[h->n++] = d;
  h->running++;
  if (h->running > h->max_running)
    h->max_running = h->running;
  irpc_dispatch_on_cancel(d, hold_canceled, h);
}

static int ptr_init(irpc_dispatcher *self, const void *config) {
  *(const void **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops hold_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hold",
                                             .data_size = sizeof(void *),
                                             .init = ptr_init,
                                             .dispatch = hold_dispatch};

/* Answers held dispatch `i` with Ok. */
static void release(px *p, int i) {
  p->held.running--; /* the answer may start the next dispatch */
  assert_irpc_ok(irpc_dispatch_reply(p->held.d[i], IRPC_STATUS_OK, NULL));
}

static void sink_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  oneway_log *s = *(oneway_log **)irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  assert_true(irpc_incoming_request_oneway(req));
  s->n++;
  s->len = irpc_buf_len(irpc_incoming_request_payload(req));
  s->hash = hash_chain(irpc_incoming_request_payload(req));
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops sink_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "sink",
                                             .data_size = sizeof(void *),
                                             .init = ptr_init,
                                             .dispatch = sink_dispatch};

/* /back: calls the caller back on the connection the request came on, at
 * /echo (two-way request) or /sink (one-way request) with the request's
 * payload, and answers with what the callback returned. */
static void back_done(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  (void)call;
  irpc_dispatch *d = ud;
  assert_irpc_ok(err);
  assert_int_equal(irpc_incoming_response_status(resp), IRPC_STATUS_OK);
  irpc_outgoing_response *out;
  assert_irpc_ok(irpc_outgoing_response_new(&out, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(out),
                               irpc_incoming_response_payload(resp)));
  irpc_incoming_response_free(resp);
  assert_irpc_ok(irpc_dispatch_complete(d, out));
}

static void back_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_connection *c = irpc_incoming_request_connection(req);
  assert_non_null(c);
  const char *op = irpc_incoming_request_operation(req);
  int oneway = strcmp(op, "oneway") == 0;
  irpc_outgoing_request *back;
  assert_irpc_ok(
      irpc_outgoing_request_new(&back, oneway ? "/sink" : "/echo", "op"));
  irpc_outgoing_request_set_oneway(back, oneway);
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_request_payload(back),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(
      irpc_invoke_owned(irpc_connection_invoker(c), back, back_done, d, NULL));
}

static const irpc_dispatcher_ops back_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "back",
                                             .dispatch = back_dispatch};

/* ---- The rig ---- */

static void on_open(irpc_server *s, irpc_connection *c, int err, void *ud) {
  (void)s;
  (void)c;
  (void)err;
  ((px *)ud)->opened++;
}

static void on_closed(irpc_server *s, irpc_connection *c, int err, void *ud) {
  (void)s;
  (void)c;
  px *p = ud;
  p->closed++;
  p->server_close_err = err;
}

static void px_init(px *p) {
  memset(p, 0, sizeof(*p));
  net_rig_init(&p->r, transport_kind);
  /* The same address forms, in the protocol's scheme. */
  if (transport_kind == NET_TCP)
    snprintf(p->r.listen, sizeof p->r.listen, "%s://127.0.0.1:0", proto->name);
  else if (transport_kind == NET_UDS)
    snprintf(p->r.listen, sizeof p->r.listen,
             "%s://localhost?transport=uds&path=%s/s.sock", proto->name,
             p->r.dir);
  else
    snprintf(p->r.listen, sizeof p->r.listen, "%s://mem%d?transport=memory",
             proto->name, rand());
  net_map(&p->r, "/echo", &test_echo_ops, NULL);
  net_map(&p->r, "/hold", &hold_ops, &p->held);
  net_map(&p->r, "/back", &back_ops, NULL);
  net_map(&p->r, "/sink", &sink_ops, &p->server_sink);
  assert_irpc_ok(irpc_router_new(&p->client_router, &p->r.loop));
  const struct {
    const char *path;
    const irpc_dispatcher_ops *ops;
    void *cfg;
  } client_map[] = {{"/echo", &test_echo_ops, NULL},
                    {"/sink", &sink_ops, &p->client_sink}};
  for (int i = 0; i < 2; i++) {
    assert_irpc_ok(irpc_dispatcher_new(&p->client_disps[i], &p->r.loop,
                                       client_map[i].ops, client_map[i].cfg));
    assert_irpc_ok(irpc_router_map(p->client_router, client_map[i].path,
                                   p->client_disps[i]));
  }
  p->r.copts.dispatcher = irpc_router_dispatcher(p->client_router);
#ifdef IRPC_WITH_TLS
  if (over_tls) {
    static kit_ca *ca;
    static kit_cert cert;
    if (!ca) { /* one CA for the whole run: freed at exit */
      ca = kit_ca_new("protocol conformance CA");
      cert = kit_ca_server(ca, "server");
    }
    irpc_tls_options o;
    kit_tls_options(&o, &cert, ca);
    assert_irpc_ok(irpc_tls_server_new(&p->tls_server, &o));
    assert_irpc_ok(irpc_tls_client_new(&p->tls_client, &o));
    p->r.sopts.connection.tls_server = p->tls_server;
    p->r.copts.tls_client = p->tls_client;
    assert_irpc_ok(irpc_transport_tls_new(&p->tls, irpc_transport_tcp(),
                                          p->tls_client, p->tls_server));
  }
#endif
}

static void px_start(px *p) {
  net_rig_start(&p->r);
  irpc_server_on_connection(p->r.server, on_open, on_closed, p);
}

static void px_fini(px *p) {
  irpc_server_free(p->r.server);
  p->r.server = NULL;
  uv_run(&p->r.loop, UV_RUN_DEFAULT);
  irpc_router_free(p->client_router);
  for (int i = 0; i < 2; i++)
    irpc_dispatcher_free(p->client_disps[i]);
  net_rig_fini(&p->r);
  irpc_transport_free(p->tls);
  irpc_tls_client_free(p->tls_client);
  irpc_tls_server_free(p->tls_server);
}

/* The connection a client connection holds, connected. */
static irpc_connection *px_connect(px *p, irpc_invoker *inv) {
  int up = 0;
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &up));
  kit_run_until(&p->r.loop, &up);
  assert_int_equal(up, 1);
  irpc_connection *c = irpc_client_connection_connection(inv);
  assert_non_null(c);
  assert_true(irpc_connection_is_active(c));
  return c;
}

/* The server's only connection. */
static irpc_connection *px_server_connection(px *p) {
  irpc_connection *c = NULL;
  assert_int_equal(irpc_server_connections(p->r.server, &c, 1), 1);
  return c;
}

/* ---- Calls ---- */

typedef struct pcall {
  irpc_call *call;
  int done; /* completions: exactly 1 once over */
  int err;
  uint64_t status;
  size_t len;
  uint64_t hash;
} pcall;

static void pcall_done(irpc_call *call, int err, irpc_incoming_response *resp,
                       void *ud) {
  (void)call;
  pcall *c = ud;
  c->done++;
  c->err = err;
  if (resp) {
    c->status = irpc_incoming_response_status(resp);
    c->len = irpc_buf_len(irpc_incoming_response_payload(resp));
    c->hash = hash_chain(irpc_incoming_response_payload(resp));
    irpc_incoming_response_free(resp);
  }
}

/* Starts a call of `len` noise bytes (seed `seed`); returns their hash. */
static uint64_t pcall_start(irpc_invoker *inv, const char *path, const char *op,
                            size_t len, uint64_t seed, int oneway, pcall *c) {
  memset(c, 0, sizeof(*c));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, path, op));
  irpc_outgoing_request_set_oneway(req, oneway);
  uint64_t h = fill_noise(irpc_outgoing_request_payload(req), len, seed);
  assert_irpc_ok(irpc_invoke_owned(inv, req, pcall_done, c, &c->call));
  assert_int_equal(c->done, 0); /* never inside irpc_invoke */
  return h;
}

/* Runs the loop until each of the `n` calls completed. */
static void run_until_done(px *p, pcall *c, int n) {
  for (int i = 0; i < n; i++)
    kit_run_until(&p->r.loop, &c[i].done);
}

/* The sizes every payload test uses: empty, small, and larger than the
 * flow-control window (64 KiB by default) several times over. */
static const size_t sizes[] = {0, 100, 300000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- The suite ---- */

/* Two-way calls, client to server and server to client (a dispatch
 * calling its caller back on the same connection), of every size: the
 * response carries the request's bytes. */
static void test_two_way_both_directions(void **state) {
  (void)state;
  px p;
  px_init(&p);
  px_start(&p);
  irpc_invoker *inv = net_client(&p.r);
  for (size_t i = 0; i < NSIZES; i++) {
    pcall c[2];
    uint64_t h0 = pcall_start(inv, "/echo", "op", sizes[i], i, 0, &c[0]);
    uint64_t h1 = pcall_start(inv, "/back", "op", sizes[i], i + 7, 0, &c[1]);
    run_until_done(&p, c, 2);
    for (int k = 0; k < 2; k++) {
      assert_irpc_ok(c[k].err);
      assert_int_equal(c[k].status, IRPC_STATUS_OK);
      assert_int_equal(c[k].len, sizes[i]);
    }
    assert_true(c[0].hash == h0);
    assert_true(c[1].hash == h1);
  }
  assert_int_equal(p.opened, 1);
  net_client_close(&p.r, inv);
  px_fini(&p);
}

/* One-way calls both ways: each completes once, Ok, as soon as it is
 * handed over, and the other side dispatches it with its bytes. */
static void test_one_way_both_directions(void **state) {
  (void)state;
  px p;
  px_init(&p);
  px_start(&p);
  irpc_invoker *inv = net_client(&p.r);
  for (size_t i = 0; i < NSIZES; i++) {
    pcall c;
    uint64_t h = pcall_start(inv, "/sink", "op", sizes[i], i, 1, &c);
    run_until_done(&p, &c, 1);
    assert_irpc_ok(c.err);
    assert_int_equal(c.status, IRPC_STATUS_OK);
    assert_int_equal(c.len, 0);
    while (p.server_sink.n < (int)i + 1)
      uv_run(&p.r.loop, UV_RUN_ONCE);
    assert_int_equal(p.server_sink.len, sizes[i]);
    assert_true(p.server_sink.hash == h);
    /* The server sends a one-way request back from /back. */
    h = pcall_start(inv, "/back", "oneway", sizes[i], i + 3, 0, &c);
    run_until_done(&p, &c, 1);
    assert_irpc_ok(c.err);
    while (p.client_sink.n < (int)i + 1)
      uv_run(&p.r.loop, UV_RUN_ONCE);
    assert_int_equal(p.client_sink.len, sizes[i]);
    assert_true(p.client_sink.hash == h);
  }
  assert_int_equal(p.server_sink.n, (int)NSIZES);
  assert_int_equal(p.client_sink.n, (int)NSIZES);
  net_client_close(&p.r, inv);
  px_fini(&p);
}

/* max_dispatches = 2: never more than two dispatches run at once on a
 * connection, even while another connection's calls go through; the
 * requests over the limit wait and all complete. */
static void test_max_dispatches(void **state) {
  (void)state;
  px p;
  px_init(&p);
  p.r.sopts.connection.max_dispatches = 2;
  px_start(&p);
  irpc_invoker *inv = net_client(&p.r);
  enum { N = 6 };
  pcall c[N];
  for (int i = 0; i < N; i++)
    pcall_start(inv, "/hold", "op", 10, (uint64_t)i, 0, &c[i]);
  while (p.held.n < 2)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  /* A whole call on a second connection: the server loop went round many
   * times, and the first connection's waiting requests stayed waiting. */
  irpc_invoker *other = net_client(&p.r);
  pcall e;
  pcall_start(other, "/echo", "op", 100, 1, 0, &e);
  run_until_done(&p, &e, 1);
  assert_irpc_ok(e.err);
  assert_int_equal(p.held.n, 2);
  for (int i = 0; i < N; i++)
    assert_int_equal(c[i].done, 0);
  /* Each answer lets one more in. */
  for (int i = 0; i < N; i++) {
    release(&p, i);
    kit_run_until(&p.r.loop, &c[i].done);
    int want = i + 3 < N ? i + 3 : N;
    while (p.held.n < want)
      uv_run(&p.r.loop, UV_RUN_ONCE);
    assert_true(p.held.running <= 2);
  }
  for (int i = 0; i < N; i++) {
    assert_int_equal(c[i].done, 1);
    assert_irpc_ok(c[i].err);
  }
  assert_int_equal(p.held.n, N);
  assert_int_equal(p.held.max_running, 2);
  net_client_close(&p.r, other);
  net_client_close(&p.r, inv);
  px_fini(&p);
}

/* A graceful shutdown, by the client and then by the server, with calls in
 * flight: they finish normally, then the shutdown completes with 0. */
static void server_down(irpc_server *s, int status, void *ud) {
  (void)s;
  *(int *)ud = status == 0 ? 1 : status;
}

static void test_graceful_shutdown_in_flight(void **state) {
  (void)state;
  px p;
  px_init(&p);
  px_start(&p);
  /* By the client. */
  irpc_invoker *inv = net_client(&p.r);
  pcall c[2];
  for (int i = 0; i < 2; i++)
    pcall_start(inv, "/hold", "op", 300000, (uint64_t)i, 0, &c[i]);
  while (p.held.n < 2)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  int down = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, kit_status_cb, &down));
  pcall late;
  pcall_start(inv, "/echo", "op", 1, 1, 0, &late);
  run_until_done(&p, &late, 1);
  assert_irpc_err(late.err, IRPC_ECLOSED); /* no new call */
  release(&p, 0);
  release(&p, 1);
  run_until_done(&p, c, 2);
  kit_run_until(&p.r.loop, &down);
  assert_int_equal(down, 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(c[i].done, 1);
    assert_irpc_ok(c[i].err);
    assert_int_equal(c[i].status, IRPC_STATUS_OK);
  }
  irpc_invoker_free(inv);
  while (p.closed < 1)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  assert_int_equal(p.server_close_err, IRPC_ECLOSEDBYPEER);
  assert_int_equal(p.held.canceled, 0);
  /* By the server. */
  inv = net_client(&p.r);
  for (int i = 0; i < 2; i++)
    pcall_start(inv, "/hold", "op", 300000, (uint64_t)i, 0, &c[i]);
  while (p.held.n < 4)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  irpc_connection *cc = irpc_client_connection_connection(inv);
  irpc_connection_ref(cc);
  down = 0;
  assert_irpc_ok(irpc_server_shutdown(p.r.server, server_down, &down));
  release(&p, 2);
  release(&p, 3);
  run_until_done(&p, c, 2);
  kit_run_until(&p.r.loop, &down);
  assert_int_equal(down, 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(c[i].done, 1);
    assert_irpc_ok(c[i].err);
  }
  while (irpc_connection_close_error(cc) == 0)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  assert_int_equal(irpc_connection_close_error(cc), IRPC_ECLOSEDBYPEER);
  assert_int_equal(p.server_close_err, IRPC_ECLOSED);
  assert_int_equal(p.held.canceled, 0);
  irpc_connection_unref(cc);
  irpc_invoker_free(inv);
  px_fini(&p);
}

/* The server shuts one connection down while the client has a call under
 * way and a call the server has not taken (it takes one request at a
 * time): the first finishes normally, the second ends once with the
 * documented "not dispatched" error (IRPC_EINVCANCELED or IRPC_EREFUSED)
 * and is never dispatched; the client's connection ends with
 * IRPC_ECLOSEDBYPEER, the server's with IRPC_ECLOSED. */
static void conn_closed(irpc_connection *c, int err, void *ud) {
  (void)c;
  *(int *)ud = err;
}

static void test_shutdown_by_peer(void **state) {
  (void)state;
  if (!proto->one_request_at_a_time)
    skip(); /* ice: no limit of requests at once, see suite_protocol */
  px p;
  px_init(&p);
  proto->one_request_at_a_time(&p.r);
  px_start(&p);
  irpc_invoker *inv = net_client(&p.r);
  irpc_connection *cc = px_connect(&p, inv);
  int client_err = 0;
  assert_true(irpc_connection_on_close(cc, conn_closed, &client_err) > 0);
  irpc_invoker *direct = irpc_connection_invoker(cc);
  pcall c[2];
  pcall_start(direct, "/hold", "op", 100, 1, 0, &c[0]);
  while (p.held.n < 1)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  pcall_start(direct, "/hold", "op", 100, 2, 0, &c[1]);
  irpc_connection *sc = px_server_connection(&p);
  int server_err = 0;
  assert_true(irpc_connection_on_close(sc, conn_closed, &server_err) > 0);
  assert_irpc_ok(irpc_connection_shutdown(sc, NULL, NULL));
  assert_irpc_err(irpc_connection_shutdown(sc, NULL, NULL), IRPC_ECLOSED);
  kit_run_until(&p.r.loop, &c[1].done);
  assert_int_equal(c[0].done, 0);
  assert_true(c[1].err == IRPC_EINVCANCELED || c[1].err == IRPC_EREFUSED);
  release(&p, 0);
  run_until_done(&p, c, 1);
  assert_irpc_ok(c[0].err);
  assert_int_equal(c[0].status, IRPC_STATUS_OK);
  while (client_err == 0 || server_err == 0)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  assert_int_equal(client_err, IRPC_ECLOSEDBYPEER);
  assert_int_equal(server_err, IRPC_ECLOSED);
  assert_int_equal(p.held.n, 1); /* the second was never dispatched */
  assert_int_equal(c[0].done, 1);
  assert_int_equal(c[1].done, 1);
  /* The client connection connects again for the next call. */
  pcall again;
  pcall_start(inv, "/echo", "op", 10, 3, 0, &again);
  run_until_done(&p, &again, 1);
  assert_irpc_ok(again.err);
  net_client_close(&p.r, inv);
  px_fini(&p);
}

/* Over max_connections the server refuses the connection: the client's
 * connect and its calls fail with IRPC_ESERVERBUSY, and the connection
 * already open keeps working. */
static void test_server_busy(void **state) {
  (void)state;
  px p;
  px_init(&p);
  p.r.sopts.max_connections = 1;
  px_start(&p);
  irpc_invoker *first = net_client(&p.r);
  px_connect(&p, first);
  irpc_invoker *second = net_client(&p.r);
  int up = 0;
  assert_irpc_ok(irpc_client_connection_connect(second, kit_status_cb, &up));
  kit_run_until(&p.r.loop, &up);
  assert_int_equal(up, proto->busy_err);
  pcall c;
  pcall_start(second, "/echo", "op", 10, 1, 0, &c);
  run_until_done(&p, &c, 1);
  assert_int_equal(c.err, proto->busy_err);
  pcall_start(first, "/echo", "op", 10, 1, 0, &c);
  run_until_done(&p, &c, 1);
  assert_irpc_ok(c.err);
  assert_int_equal(p.opened, 1);
  irpc_invoker_free(second);
  net_client_close(&p.r, first);
  px_fini(&p);
}

/* A connection aborted by one side with calls in flight: every call ends
 * exactly once, the caller's with the aborting side's error
 * (UV_ECONNABORTED) or the peer-vanished error (UV_ECONNRESET) on the
 * other side, and every dispatch under way is canceled once with the
 * same. Both directions: the server aborts, then the client. */
static void test_abort_ends_every_call_once(void **state) {
  (void)state;
  for (int server_aborts = 1; server_aborts >= 0; server_aborts--) {
    px p;
    px_init(&p);
    px_start(&p);
    irpc_invoker *inv = net_client(&p.r);
    irpc_connection *cc = px_connect(&p, inv);
    int client_err = 0, server_err = 0;
    irpc_connection_on_close(cc, conn_closed, &client_err);
    irpc_connection *sc = px_server_connection(&p);
    irpc_connection_on_close(sc, conn_closed, &server_err);
    irpc_invoker *direct = irpc_connection_invoker(cc);
    enum { N = 4 };
    pcall c[N + 1];
    for (int i = 0; i < N; i++)
      pcall_start(direct, "/hold", "op", i == 0 ? 300000 : 10, (uint64_t)i, 0,
                  &c[i]);
    while (p.held.n < N)
      uv_run(&p.r.loop, UV_RUN_ONCE);
    /* And one still being sent (larger than the window). */
    pcall_start(direct, "/echo", "op", 1u << 20, 9, 0, &c[N]);
    irpc_connection_abort(server_aborts ? sc : cc, 0);
    int gone_caller = server_aborts ? UV_ECONNRESET : UV_ECONNABORTED;
    int gone_server = server_aborts ? UV_ECONNABORTED : UV_ECONNRESET;
    run_until_done(&p, c, N + 1);
    while (client_err == 0 || server_err == 0 || p.held.canceled < N)
      uv_run(&p.r.loop, UV_RUN_ONCE);
    for (int i = 0; i < N; i++)
      assert_int_equal(c[i].err, gone_caller);
    /* The call being sent may have been refused before it went out. */
    assert_true(c[N].err == gone_caller || c[N].err == IRPC_EREFUSED);
    assert_int_equal(client_err, gone_caller);
    assert_int_equal(server_err, gone_server);
    assert_int_equal(p.held.cancel_err, gone_server);
    uv_run(&p.r.loop, UV_RUN_NOWAIT);
    for (int i = 0; i <= N; i++)
      assert_int_equal(c[i].done, 1);
    assert_int_equal(p.held.canceled, N);
    assert_int_equal(p.held.running, 0);
    irpc_invoker_free(inv);
    px_fini(&p);
  }
}

/* Inactivity: a connection with no call or dispatch for
 * inactivity_timeout_ms shuts itself down (IRPC_ECLOSED here,
 * IRPC_ECLOSEDBYPEER at the peer); a call held longer than that keeps it
 * up. */
static void on_tick(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static void test_inactivity_timeout(void **state) {
  (void)state;
  px p;
  px_init(&p);
  p.r.copts.inactivity_timeout_ms = 100;
  px_start(&p);
  irpc_invoker *inv = net_client(&p.r);
  irpc_connection *cc = px_connect(&p, inv);
  int client_err = 0;
  irpc_connection_on_close(cc, conn_closed, &client_err);
  pcall c;
  pcall_start(inv, "/hold", "op", 10, 1, 0, &c);
  while (p.held.n < 1)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  /* Five timeouts pass with the call held: the connection stays. */
  uv_timer_t t;
  int ticked = 0;
  uv_timer_init(&p.r.loop, &t);
  t.data = &ticked;
  uv_timer_start(&t, on_tick, 500, 0);
  kit_run_until(&p.r.loop, &ticked);
  uv_close((uv_handle_t *)&t, NULL);
  assert_int_equal(client_err, 0);
  assert_true(irpc_connection_is_active(cc));
  release(&p, 0);
  run_until_done(&p, &c, 1);
  assert_irpc_ok(c.err);
  /* Then nothing happens: it closes. */
  while (client_err == 0 || p.closed == 0)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  assert_int_equal(client_err, IRPC_ECLOSED);
  assert_int_equal(p.server_close_err, IRPC_ECLOSEDBYPEER);
  irpc_invoker_free(inv);
  px_fini(&p);
}

/* A bad peer: bytes no peer of the protocol sends. A client facing a
 * server that answers them fails its call with the protocol's error for
 * them (IRPC_EPROTO, ice's IRPC_EBADMAGIC) and closes the
 * transport connection; a server facing a client that sends them closes
 * it, and keeps serving other clients. */
typedef struct raw {
  irpc_duplex *d;
  int accepted;
  int connected;
  int end;
  size_t got;
} raw;

static void raw_read(irpc_duplex *d, int status, const uint8_t *data,
                     size_t len, void *ud) {
  (void)d;
  (void)data;
  raw *r = ud;
  if (status < 0)
    r->end = status;
  else
    r->got += len;
}

static void raw_send_garbage(irpc_duplex *d) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, proto->garbage, proto->garbage_len));
  assert_irpc_ok(irpc_duplex_write(d, b, NULL, NULL));
  irpc_buf_free(b);
}

static void raw_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  raw *r = ud;
  r->d = d;
  r->accepted++;
  assert_irpc_ok(irpc_duplex_read_start(d, raw_read, r));
  raw_send_garbage(d);
}

static void raw_connected(irpc_duplex *d, int status, void *ud) {
  raw *r = ud;
  r->connected = status == 0 ? 1 : status;
  if (status == 0) {
    assert_irpc_ok(irpc_duplex_read_start(d, raw_read, r));
    raw_send_garbage(d);
  } else {
    r->d = NULL;
  }
}

static irpc_transport *px_transport(px *p) {
  if (transport_kind == NET_MEMORY)
    return p->r.memory;
  if (p->tls)
    return p->tls;
  return transport_kind == NET_UDS ? irpc_transport_uds()
                                   : irpc_transport_tcp();
}

static void test_bad_peer_bytes(void **state) {
  (void)state;
  px p;
  px_init(&p);
  px_start(&p);
  /* A bad server. */
  char uri[256];
  if (transport_kind == NET_TCP)
    snprintf(uri, sizeof uri, "%s://127.0.0.1:0", proto->name);
  else if (transport_kind == NET_UDS)
    snprintf(uri, sizeof uri, "%s://localhost?transport=uds&path=%s/bad.sock",
             proto->name, p.r.dir);
  else
    snprintf(uri, sizeof uri, "%s://bad%d?transport=memory", proto->name,
             rand());
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  raw bad_server = {0};
  irpc_listener *l;
  assert_irpc_ok(irpc_transport_listen(px_transport(&p), &p.r.loop, a,
                                       raw_accept, &bad_server, &l));
  irpc_server_address_free(a);
  char bound[256];
  assert_irpc_ok(irpc_server_address_format(irpc_listener_address(l), bound,
                                            sizeof bound));
  irpc_invoker *inv;
  assert_irpc_ok(
      irpc_client_connection_new(&inv, &p.r.loop, bound, &p.r.copts));
  pcall c;
  pcall_start(inv, "/echo", "op", 10, 1, 0, &c);
  run_until_done(&p, &c, 1);
  assert_int_equal(c.err, proto->bad_peer_err);
  while (bad_server.end == 0)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  assert_true(bad_server.end < 0);
  assert_int_equal(bad_server.accepted, 1);
  irpc_duplex_close(bad_server.d, NULL, NULL);
  irpc_listener_close(l, NULL, NULL);
  irpc_invoker_free(inv);
  /* A bad client. */
  raw bad_client = {0};
  assert_irpc_ok(irpc_server_address_parse(&a, p.r.bound));
  assert_irpc_ok(irpc_transport_connect(px_transport(&p), &p.r.loop, a,
                                        &bad_client.d, raw_connected,
                                        &bad_client));
  irpc_server_address_free(a);
  kit_run_until(&p.r.loop, &bad_client.connected);
  assert_int_equal(bad_client.connected, 1);
  while (bad_client.end == 0)
    uv_run(&p.r.loop, UV_RUN_ONCE);
  assert_true(bad_client.end < 0);
  irpc_duplex_close(bad_client.d, NULL, NULL);
  /* The server still serves. */
  inv = net_client(&p.r);
  pcall_start(inv, "/echo", "op", 10, 1, 0, &c);
  run_until_done(&p, &c, 1);
  assert_irpc_ok(c.err);
  net_client_close(&p.r, inv);
  px_fini(&p);
}

/* ---- The protocols ---- */

static void icerpc_one_request_at_a_time(net_rig *r) {
  r->sicerpc.max_bidirectional_streams = 1;
}

/* A Slic frame of an unknown type (0xff) with a 4-byte body. */
static const uint8_t icerpc_garbage[] = {0xff, 0x10, 0xde, 0xad, 0xbe, 0xef};

static const suite_protocol icerpc = {
    .name = "icerpc",
    .one_request_at_a_time = icerpc_one_request_at_a_time,
    .garbage = icerpc_garbage,
    .garbage_len = sizeof icerpc_garbage,
    .busy_err = IRPC_ESERVERBUSY,
    .bad_peer_err = IRPC_EPROTO,
};

/* Not "IceP": no ice peer sends these first. */
static const uint8_t ice_garbage[] = {'I', 'c', 'e', 'Q', 1, 0, 1,
                                      0,   3,   0,   14,  0, 0, 0};

static const suite_protocol ice = {
    .name = "ice",
    .one_request_at_a_time = NULL,
    .garbage = ice_garbage,
    .garbage_len = sizeof ice_garbage,
    .busy_err = UV_ECONNREFUSED,
    .bad_peer_err = IRPC_EBADMAGIC,
};

/* The protocols under test, one line each (tests/conformance/
 * CMakeLists.txt makes a ctest test of each line and transport). */
static const suite_protocol *const protocols[] = {
    &icerpc, /* conformance: icerpc */
#ifdef IRPC_WITH_ICE
    &ice, /* conformance: ice */
#endif
};

static const struct {
  const char *name;
  int kind;
  int tls;
} transports[] = {{"memory", NET_MEMORY, 0},
                  {"tcp", NET_TCP, 0},
                  {"uds", NET_UDS, 0},
#ifdef IRPC_WITH_TLS
                  {"tls", NET_TCP, 1}
#endif
};

int main(int argc, char **argv) {
  /* A write to a socket the peer closed raises SIGPIPE unless ignored, as
   * a server process does. */
  signal(SIGPIPE, SIG_IGN);
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_way_both_directions),
      cmocka_unit_test(test_one_way_both_directions),
      cmocka_unit_test(test_max_dispatches),
      cmocka_unit_test(test_graceful_shutdown_in_flight),
      cmocka_unit_test(test_shutdown_by_peer),
      cmocka_unit_test(test_server_busy),
      cmocka_unit_test(test_abort_ends_every_call_once),
      cmocka_unit_test(test_inactivity_timeout),
      cmocka_unit_test(test_bad_peer_bytes),
  };
  int failed = 0, ran = 0;
  for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
    if (argc > 1 && strcmp(argv[1], protocols[i]->name) != 0)
      continue;
    for (size_t k = 0; k < sizeof transports / sizeof transports[0]; k++) {
      if (argc > 2 && strcmp(argv[2], transports[k].name) != 0)
        continue;
      proto = protocols[i];
      transport_kind = transports[k].kind;
      over_tls = transports[k].tls;
      char group[64];
      snprintf(group, sizeof group, "protocol conformance: %s over %s",
               proto->name, transports[k].name);
      failed += _cmocka_run_group_tests(
          group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
      ran++;
    }
  }
  if (ran == 0) {
    fprintf(stderr, "no such protocol or transport\n");
    return 1;
  }
  return failed;
}
