/* Connect hooks: a client connection and a connection cache tell the
 * application each time they connect to a server, first time or again
 * after the server restarted, over TCP and Unix domain sockets with a
 * real server that is stopped and started again on the same address. */
#include "kit/net.h"

/* ---- A server that records the operations it dispatches, in order ---- */

typedef struct oplog {
  int n;
  char ops[16][16];
} oplog;

static void rec_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  oplog *l = *(oplog **)irpc_dispatcher_data(self);
  if (l->n < 16)
    snprintf(l->ops[l->n++], sizeof l->ops[0], "%s",
             irpc_incoming_request_operation(irpc_dispatch_request(d)));
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static int rec_init(irpc_dispatcher *self, const void *config) {
  *(oplog **)irpc_dispatcher_data(self) = (oplog *)config;
  return 0;
}

static const irpc_dispatcher_ops rec_ops = {.struct_size =
                                                sizeof(irpc_dispatcher_ops),
                                            .name = "rec",
                                            .data_size = sizeof(oplog *),
                                            .init = rec_init,
                                            .dispatch = rec_dispatch};

/* Stops the rig's server: gracefully (GoAway, the client closes its side)
 * or abortively. */
static void on_server_down(irpc_server *s, int status, void *ud) {
  (void)s, (void)status;
  *(int *)ud = 1;
}

static void server_stop(net_rig *r, int graceful) {
  if (graceful) {
    int down = 0;
    assert_irpc_ok(irpc_server_shutdown(r->server, on_server_down, &down));
    kit_run_until(&r->loop, &down);
  }
  irpc_server_free(r->server);
  r->server = NULL;
}

/* Starts a new server on the address the first one was bound to. */
static void server_restart(net_rig *r) {
  assert_irpc_ok(irpc_server_new(&r->server, &r->loop,
                                 irpc_router_dispatcher(r->router), &r->sopts));
  assert_irpc_ok(irpc_server_listen(r->server, r->bound, NULL, 0));
}

/* ---- What the hook saw ---- */

typedef struct seen_event {
  uint64_t count;
  int reconnected;
  int previous_error;
  uint64_t conn_id;
  int addr_ok;    /* ev->server_address is the server's */
  int conn_ok;    /* ev->connection is the invoker's, and active */
  int ops_before; /* dispatches the server had run when it fired */
} seen_event;

typedef struct hooklog {
  net_rig *r;
  oplog *server;
  irpc_server_address *addr; /* the server's */
  int is_cache;
  int n;
  seen_event ev[8];
  int closed; /* the latest connection closed */
  int close_err;
  int resubscribe;    /* send "subscribe" from the hook */
  int no_close_watch; /* do not watch the connection from the hook */
  net_result sub[8];
  irpc_outgoing_request *subreq[8];
} hooklog;

static void on_conn_closed(irpc_connection *c, int err, void *ud) {
  (void)c;
  hooklog *h = ud;
  h->closed = 1;
  h->close_err = err;
}

static void on_conn_closed_flag(irpc_connection *c, int err, void *ud) {
  (void)c, (void)err;
  *(int *)ud = 1;
}

static void hook(irpc_invoker *inv, const irpc_connect_event *ev, void *ud) {
  hooklog *h = ud;
  assert_true(h->n < 8);
  seen_event *s = &h->ev[h->n];
  s->count = ev->count;
  s->reconnected = ev->reconnected;
  s->previous_error = ev->previous_error;
  s->conn_id = irpc_connection_id(ev->connection);
  s->addr_ok = irpc_server_address_equal(ev->server_address, h->addr);
  s->conn_ok =
      irpc_connection_is_active(ev->connection) &&
      (h->is_cache ? irpc_connection_cache_connections(inv, NULL, 0) >= 1
                   : irpc_client_connection_connection(inv) == ev->connection);
  s->ops_before = h->server->n;
  h->closed = 0;
  if (!h->no_close_watch)
    assert_true(irpc_connection_on_close(ev->connection, on_conn_closed, h) >
                0);
  if (h->resubscribe) {
    irpc_outgoing_request *req;
    assert_irpc_ok(irpc_outgoing_request_new(&req, "/rec", "subscribe"));
    h->subreq[h->n] = req;
    assert_irpc_ok(irpc_invoke(inv, req, net_on_result, &h->sub[h->n], NULL));
  }
  h->n++;
}

static int never_calls;
static void never(irpc_invoker *inv, const irpc_connect_event *ev, void *ud) {
  (void)inv, (void)ev, (void)ud;
  never_calls++;
}

static void hooklog_fini(hooklog *h) {
  for (int i = 0; i < 8; i++)
    irpc_outgoing_request_free(h->subreq[i]);
  irpc_server_address_free(h->addr);
}

static void work(net_rig *r, irpc_invoker *inv, const char *op) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/rec", op));
  net_result res = {0};
  net_call_sync(&r->loop, inv, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  irpc_outgoing_request_free(req);
}

/* ---- Client connection ---- */

static void check_client_connection(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  net_rig_start(&r);
  hooklog h = {.r = &r, .server = &server, .resubscribe = 1};
  assert_irpc_ok(irpc_server_address_parse(&h.addr, r.bound));
  irpc_invoker *c = net_client(&r);
  assert_irpc_err((int)irpc_client_connection_on_connect(c, NULL, NULL),
                  IRPC_EINVAL);
  assert_irpc_err((int)irpc_client_connection_on_connect(NULL, hook, &h),
                  IRPC_EINVAL);
  long t1 = irpc_client_connection_on_connect(c, hook, &h);
  long t2 = irpc_client_connection_on_connect(c, never, NULL);
  assert_true(t1 > 0 && t2 > t1);
  irpc_client_connection_off_connect(c, t2);
  irpc_client_connection_off_connect(c, 12345); /* unknown: ignored */

  /* First connection: count 1; the hook's call goes before the call that
   * made the connection. */
  work(&r, c, "work");
  assert_int_equal(h.n, 1);
  assert_int_equal(h.ev[0].count, 1);
  assert_int_equal(h.ev[0].reconnected, 0);
  assert_int_equal(h.ev[0].previous_error, 0);
  assert_true(h.ev[0].addr_ok);
  assert_true(h.ev[0].conn_ok);
  assert_int_equal(h.ev[0].ops_before, 0);
  assert_int_equal(server.n, 2);
  assert_string_equal(server.ops[0], "subscribe");
  assert_string_equal(server.ops[1], "work");
  assert_int_equal(h.sub[0].done, 1);
  assert_irpc_ok(h.sub[0].err);
  /* More calls on the same connection: no hook. */
  work(&r, c, "work");
  assert_int_equal(h.n, 1);

  /* The server restarts (graceful: GoAway); its state is gone. The next
   * call connects again: count 2, reconnected, with how the last one
   * ended; the hook subscribes again before that call. */
  server_stop(&r, 1);
  kit_run_until(&r.loop, &h.closed);
  int first_close = h.close_err;
  assert_int_not_equal(first_close, 0);
  /* While it is down, connecting fails: no hook. */
  for (int i = 0; i < 2; i++) {
    irpc_outgoing_request *req = kit_request("/rec", NULL, 0);
    net_result res = {0};
    net_call_sync(&r.loop, c, req, &res);
    assert_true(res.err == UV_ECONNREFUSED || res.err == UV_ENOENT);
    irpc_outgoing_request_free(req);
  }
  assert_int_equal(h.n, 1);
  server_restart(&r);
  server.n = 0;
  work(&r, c, "work");
  assert_int_equal(h.n, 2);
  assert_int_equal(h.ev[1].count, 2);
  assert_int_equal(h.ev[1].reconnected, 1);
  assert_int_equal(h.ev[1].previous_error, first_close);
  assert_true(h.ev[1].addr_ok);
  assert_true(h.ev[1].conn_ok);
  assert_int_not_equal(h.ev[1].conn_id, h.ev[0].conn_id);
  assert_int_equal(server.n, 2);
  assert_string_equal(server.ops[0], "subscribe");
  assert_string_equal(server.ops[1], "work");

  /* It crashes (abortive close) and comes back; the application
   * reconnects at once with irpc_client_connection_connect, no call. */
  server_stop(&r, 0);
  kit_run_until(&r.loop, &h.closed);
  int second_close = h.close_err;
  assert_int_not_equal(second_close, 0);
  server_restart(&r);
  server.n = 0;
  int connected = 0;
  assert_irpc_ok(irpc_client_connection_connect(c, kit_status_cb, &connected));
  kit_run_until(&r.loop, &connected);
  assert_int_equal(connected, 1);
  assert_int_equal(h.n, 3);
  assert_int_equal(h.ev[2].count, 3);
  assert_int_equal(h.ev[2].reconnected, 1);
  assert_int_equal(h.ev[2].previous_error, second_close);
  kit_run_until(&r.loop, &h.sub[2].done);
  assert_int_equal(server.n, 1);
  assert_string_equal(server.ops[0], "subscribe");

  /* The server goes once more; the client is freed while it connects to
   * the new one: the hook never runs again. */
  server_stop(&r, 0);
  kit_run_until(&r.loop, &h.closed);
  server_restart(&r);
  assert_irpc_ok(irpc_client_connection_connect(c, NULL, NULL));
  irpc_invoker_free(c);
  server_stop(&r, 0);
  uv_run(&r.loop, UV_RUN_DEFAULT); /* everything closes */
  assert_int_equal(h.n, 3);
  assert_int_equal(never_calls, 0);
  hooklog_fini(&h);
  net_rig_fini(&r);
}

static void test_client_connection_tcp(void **state) {
  (void)state;
  check_client_connection(NET_TCP);
}

static void test_client_connection_uds(void **state) {
  (void)state;
  check_client_connection(NET_UDS);
}

/* A client freed (or shut down) after its transport connected, while the
 * handshake is under way (the server holds the client's first bytes until
 * then): no hook. */
static void during_handshake(int free_it) {
  net_rig r;
  net_rig_init(&r, NET_TCP);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  irpc_transport *fault;
  assert_irpc_ok(irpc_transport_fault_new(&fault, irpc_transport_tcp()));
  r.sopts.connection.transport = fault;
  /* The server reads nothing: the client's handshake cannot finish. */
  assert_irpc_ok(irpc_fault_set(irpc_transport_fault(fault), IRPC_FAULT_READ,
                                IRPC_FAULT_HOLD, 0));
  net_rig_start(&r);
  hooklog h = {.r = &r, .server = &server};
  assert_irpc_ok(irpc_server_address_parse(&h.addr, r.bound));
  irpc_invoker *c = net_client(&r);
  assert_true(irpc_client_connection_on_connect(c, hook, &h) > 0);
  assert_irpc_ok(irpc_client_connection_connect(c, NULL, NULL));
  /* Until the server holds the client's first bytes. */
  while (irpc_fault_held(irpc_transport_fault(fault), IRPC_FAULT_READ) == 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  int down = 0;
  if (free_it)
    irpc_invoker_free(c);
  else
    assert_irpc_ok(irpc_client_connection_shutdown(c, kit_status_cb, &down));
  assert_irpc_ok(
      irpc_fault_clear(irpc_transport_fault(fault), IRPC_FAULT_READ));
  if (!free_it) {
    kit_run_until(&r.loop, &down);
    irpc_invoker_free(c);
  }
  server_stop(&r, 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(h.n, 0);
  hooklog_fini(&h);
  net_rig_fini(&r);
  irpc_transport_free(fault);
}

static void test_freed_during_handshake(void **state) {
  (void)state;
  during_handshake(1);
}

static void test_shut_down_during_handshake(void **state) {
  (void)state;
  during_handshake(0);
}

/* Hooks that remove themselves, or add another, while they run. */
static int self_removing_calls, added_calls;
static long self_token;
static void added(irpc_invoker *inv, const irpc_connect_event *ev, void *ud) {
  (void)inv, (void)ev, (void)ud;
  added_calls++;
}
static void self_removing(irpc_invoker *inv, const irpc_connect_event *ev,
                          void *ud) {
  (void)ev, (void)ud;
  self_removing_calls++;
  irpc_client_connection_off_connect(inv, self_token);
  assert_true(irpc_client_connection_on_connect(inv, added, NULL) > 0);
}

static void test_hooks_changed_by_hooks(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_UDS);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  net_rig_start(&r);
  irpc_invoker *c = net_client(&r);
  self_token = irpc_client_connection_on_connect(c, self_removing, NULL);
  assert_true(self_token > 0);
  work(&r, c, "work");
  assert_int_equal(self_removing_calls, 1);
  assert_int_equal(added_calls, 0); /* added during the event: next time */
  hooklog h = {.r = &r, .server = &server};
  assert_irpc_ok(irpc_server_address_parse(&h.addr, r.bound));
  assert_true(irpc_client_connection_on_connect(c, hook, &h) > 0);
  assert_true(irpc_connection_on_close(irpc_client_connection_connection(c),
                                       on_conn_closed, &h) > 0);
  server_stop(&r, 0);
  kit_run_until(&r.loop, &h.closed);
  server_restart(&r);
  work(&r, c, "work");
  assert_int_equal(self_removing_calls, 1);
  assert_int_equal(added_calls, 1);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.ev[0].count, 2);
  net_client_close(&r, c);
  hooklog_fini(&h);
  net_rig_fini(&r);
}

/* ---- Connection cache ---- */

/* "icerpc://host:port/rec" or the uds form, for the rig's server. */
static void service_of(const net_rig *r, char *out, size_t len) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, r->bound));
  const char *path = irpc_server_address_param(a, "path");
  const char *tr = irpc_server_address_transport(a);
  if (tr && strcmp(tr, "memory") == 0)
    snprintf(out, len, "icerpc://%s/rec?transport=memory",
             irpc_server_address_host(a));
  else if (path)
    snprintf(out, len, "icerpc://localhost/rec?transport=uds&path=%s", path);
  else
    snprintf(out, len, "icerpc://127.0.0.1:%u/rec",
             (unsigned)irpc_server_address_port(a));
  irpc_server_address_free(a);
}

static void check_cache(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  net_rig_start(&r);
  char target[256];
  service_of(&r, target, sizeof target);
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection = r.copts;
  o.default_service_address = target;
  irpc_invoker *cache;
  assert_irpc_ok(irpc_connection_cache_new(&cache, &r.loop, &o));
  hooklog h = {.r = &r, .server = &server, .is_cache = 1, .resubscribe = 1};
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(&sa, target));
  assert_irpc_ok(
      irpc_server_address_clone(&h.addr, irpc_service_address_server(sa, 0)));
  irpc_service_address_free(sa);
  assert_irpc_err((int)irpc_connection_cache_on_connect(cache, NULL, NULL),
                  IRPC_EINVAL);
  irpc_invoker *cc = net_client(&r); /* not a cache */
  assert_irpc_err((int)irpc_connection_cache_on_connect(cc, hook, &h),
                  IRPC_EINVAL);
  irpc_invoker_free(cc);
  long t = irpc_connection_cache_on_connect(cache, never, NULL);
  assert_true(t > 0);
  assert_true(irpc_connection_cache_on_connect(cache, hook, &h) > t);
  irpc_connection_cache_off_connect(cache, t);

  work(&r, cache, "work");
  assert_int_equal(h.n, 1);
  assert_int_equal(h.ev[0].count, 1);
  assert_int_equal(h.ev[0].reconnected, 0);
  assert_int_equal(h.ev[0].previous_error, 0);
  assert_true(h.ev[0].addr_ok);
  assert_true(h.ev[0].conn_ok);
  assert_string_equal(server.ops[0], "subscribe");
  assert_string_equal(server.ops[1], "work");

  for (int round = 1; round <= 2; round++) {
    server_stop(&r, round == 1);
    kit_run_until(&r.loop, &h.closed);
    int close_err = h.close_err;
    /* While it is down, connecting fails: no hook. */
    irpc_outgoing_request *down = kit_request("/rec", NULL, 0);
    net_result res = {0};
    net_call_sync(&r.loop, cache, down, &res);
    assert_true(res.err == UV_ECONNREFUSED || res.err == UV_ENOENT);
    irpc_outgoing_request_free(down);
    assert_int_equal(h.n, round);
    server_restart(&r);
    server.n = 0;
    work(&r, cache, "work");
    assert_int_equal(h.n, round + 1);
    assert_int_equal(h.ev[round].count, (uint64_t)round + 1);
    assert_int_equal(h.ev[round].reconnected, 1);
    assert_int_equal(h.ev[round].previous_error, close_err);
    assert_true(h.ev[round].addr_ok);
    assert_int_equal(server.n, 2);
    assert_string_equal(server.ops[0], "subscribe");
    assert_string_equal(server.ops[1], "work");
  }
  /* Freed while connecting: no hook after that. */
  server_stop(&r, 0);
  kit_run_until(&r.loop, &h.closed);
  server_restart(&r);
  irpc_outgoing_request *req = kit_request("/rec", NULL, 0);
  net_result res = {0};
  assert_irpc_ok(irpc_invoke(cache, req, net_on_result, &res, NULL));
  irpc_invoker_free(cache);
  assert_int_equal(res.done, 1);
  assert_irpc_err(res.err, IRPC_EABORTED);
  server_stop(&r, 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(h.n, 3);
  assert_int_equal(never_calls, 0);
  irpc_outgoing_request_free(req);
  hooklog_fini(&h);
  net_rig_fini(&r);
}

static void test_cache_tcp(void **state) {
  (void)state;
  check_cache(NET_TCP);
}

static void test_cache_uds(void **state) {
  (void)state;
  check_cache(NET_UDS);
}

/* Registering a hook fails cleanly when memory runs out; the cache keeps
 * calling its hooks when it cannot remember an address (count 1). Over the
 * memory transport: libuv aborts when its own allocations fail. */
static void test_out_of_memory(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  net_rig_start(&r);
  irpc_invoker *c = net_client(&r);
  test_alloc.fail_at = 1;
  assert_irpc_err((int)irpc_client_connection_on_connect(c, never, NULL),
                  IRPC_ENOMEM);
  test_alloc.fail_at = 0;
  irpc_invoker_free(c);
  char target[256];
  service_of(&r, target, sizeof target);
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection = r.copts;
  o.default_service_address = target;
  irpc_invoker *cache;
  assert_irpc_ok(irpc_connection_cache_new(&cache, &r.loop, &o));
  test_alloc.fail_at = 1;
  assert_irpc_err((int)irpc_connection_cache_on_connect(cache, never, NULL),
                  IRPC_ENOMEM);
  test_alloc.fail_at = 0;
  hooklog h = {.r = &r, .server = &server, .is_cache = 1, .no_close_watch = 1};
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(&sa, target));
  assert_irpc_ok(
      irpc_server_address_clone(&h.addr, irpc_service_address_server(sa, 0)));
  irpc_service_address_free(sa);
  assert_true(irpc_connection_cache_on_connect(cache, hook, &h) > 0);
  /* Every allocation from the first of the call on fails in turn, until
   * the call succeeds; the hook runs once per established connection and
   * never for a connect that failed. */
  int ok = 0;
  for (long n = 1; !ok && n < 200; n++) {
    irpc_outgoing_request *req = kit_request("/rec", NULL, 0);
    net_result res = {0};
    int established = h.n;
    test_alloc.fail_at = n;
    int rc = irpc_invoke(cache, req, net_on_result, &res, NULL);
    if (rc == 0)
      kit_run_until(&r.loop, &res.done);
    test_alloc.fail_at = 0;
    ok = rc == 0 && res.err == 0;
    /* Once per established connection, never for a failed connect. */
    irpc_connection *conns[1];
    size_t nconn = irpc_connection_cache_connections(cache, conns, 1);
    assert_int_equal(h.n - established, (int)nconn);
    if (ok)
      assert_int_equal(nconn, 1);
    irpc_outgoing_request_free(req);
    /* Start each round without a connection. */
    if (nconn == 1) {
      h.closed = 0;
      assert_true(irpc_connection_on_close(conns[0], on_conn_closed, &h) > 0);
      irpc_connection_abort(conns[0], 0);
      kit_run_until(&r.loop, &h.closed);
    }
    h.n = h.n > 6 ? 6 : h.n;
  }
  assert_true(ok);
  irpc_invoker_free(cache);
  uv_run(&r.loop, UV_RUN_NOWAIT);
  hooklog_fini(&h);
  net_rig_fini(&r);
}

/* A hook that shuts the client connection down: the call that was waiting
 * for the connection fails with IRPC_ECLOSED and the shutdown completes. */
static int shut_down_done;
static void shut_down_cb(irpc_invoker *inv, int status, void *ud) {
  (void)inv, (void)ud;
  shut_down_done = status == 0 ? 1 : status;
}
static void shutting_hook(irpc_invoker *inv, const irpc_connect_event *ev,
                          void *ud) {
  (void)ev;
  (*(int *)ud)++;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, shut_down_cb, NULL));
}

static void test_hook_shuts_down(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  net_rig_start(&r);
  irpc_invoker *c = net_client(&r);
  int calls = 0;
  assert_true(irpc_client_connection_on_connect(c, shutting_hook, &calls) > 0);
  irpc_outgoing_request *req = kit_request("/rec", NULL, 0);
  net_result res = {0};
  net_call_sync(&r.loop, c, req, &res);
  assert_int_equal(calls, 1);
  assert_irpc_err(res.err, IRPC_ECLOSED);
  assert_int_equal(server.n, 0);
  kit_run_until(&r.loop, &shut_down_done);
  assert_int_equal(shut_down_done, 1);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(c);
  net_rig_fini(&r);
}

/* The cache remembers the last IRPC_CONNECTION_CACHE_HISTORY_MAX server
 * addresses it connected to: one more makes it forget the oldest, whose
 * next connection counts from 1 again. In memory, one server listening
 * on that many names. */
static uint64_t last_count;
static void count_hook(irpc_invoker *inv, const irpc_connect_event *ev,
                       void *ud) {
  (void)inv, (void)ud;
  last_count = ev->count;
}

static void call_name(net_rig *r, irpc_invoker *cache, int i) {
  char uri[96];
  snprintf(uri, sizeof uri, "icerpc://hist%d/rec?transport=memory", i);
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(&sa, uri));
  irpc_outgoing_request *req = kit_request("/rec", NULL, 0);
  assert_irpc_ok(irpc_outgoing_request_set_service_address(req, sa));
  net_result res = {0};
  net_call_sync(&r->loop, cache, req, &res);
  assert_irpc_ok(res.err);
  irpc_outgoing_request_free(req);
  irpc_service_address_free(sa);
}

static void close_all(net_rig *r, irpc_invoker *cache) {
  irpc_connection *c;
  while (irpc_connection_cache_connections(cache, &c, 1) > 0) {
    int closed = 0;
    assert_true(irpc_connection_on_close(c, on_conn_closed_flag, &closed) > 0);
    irpc_connection_abort(c, 0);
    kit_run_until(&r->loop, &closed);
  }
}

static void test_cache_history_limit(void **state) {
  (void)state;
  enum { N = IRPC_CONNECTION_CACHE_HISTORY_MAX + 1 };
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  oplog server = {0};
  net_map(&r, "/rec", &rec_ops, &server);
  net_rig_start(&r);
  for (int i = 0; i < N; i++) {
    char uri[64];
    snprintf(uri, sizeof uri, "icerpc://hist%d?transport=memory", i);
    assert_irpc_ok(irpc_server_listen(r.server, uri, NULL, 0));
  }
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection = r.copts;
  o.max_connections = 0;
  irpc_invoker *cache;
  assert_irpc_ok(irpc_connection_cache_new(&cache, &r.loop, &o));
  assert_true(irpc_connection_cache_on_connect(cache, count_hook, NULL) > 0);
  for (int i = 0; i < N; i++) {
    last_count = 0;
    call_name(&r, cache, i);
    assert_int_equal(last_count, 1);
    if (i % 64 == 63)
      close_all(&r, cache);
  }
  close_all(&r, cache);
  call_name(&r, cache, 1); /* remembered, now the most recent */
  assert_int_equal(last_count, 2);
  call_name(&r, cache, 0); /* forgotten when the N-th was connected */
  assert_int_equal(last_count, 1);
  call_name(&r, cache, N - 1); /* remembered */
  assert_int_equal(last_count, 2);
  call_name(&r, cache, 2); /* the oldest when 0 came back: forgotten */
  assert_int_equal(last_count, 1);
  last_count = 0;
  call_name(&r, cache, 1); /* still connected: no new connection */
  assert_int_equal(last_count, 0);
  close_all(&r, cache);
  call_name(&r, cache, 1);
  assert_int_equal(last_count, 3);
  close_all(&r, cache);
  irpc_invoker_free(cache);
  net_rig_fini(&r);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_connection_tcp),
      cmocka_unit_test(test_client_connection_uds),
      cmocka_unit_test(test_freed_during_handshake),
      cmocka_unit_test(test_shut_down_during_handshake),
      cmocka_unit_test(test_hooks_changed_by_hooks),
      cmocka_unit_test(test_hook_shuts_down),
      cmocka_unit_test(test_cache_tcp),
      cmocka_unit_test(test_cache_uds),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_cache_history_limit),
  };
  return cmocka_run_group_tests_name("reconnect", tests, NULL, NULL);
}
