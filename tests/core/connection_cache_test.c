/* The connection cache over TCP and Unix domain sockets through the real
 * server: one connection per server address, alt-servers when connecting
 * fails, prefer-existing, reconnects, retry across server addresses,
 * shutdown and bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/net.h"

/* ---- Servers with a scripted behaviour ---- */

typedef struct node {
  irpc_server *server;
  char bound[256];
  int unavailable; /* answer Unavailable */
  int abort_next;  /* abort the connection of this many requests */
  int hold_next;   /* keep this many dispatches in held[] */
  int dispatches;
  int opened; /* connections accepted */
  irpc_dispatch *held[8];
  int nheld;
} node;

static void node_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  node *n = *(node **)irpc_dispatcher_data(self);
  n->dispatches++;
  if (n->hold_next > 0) {
    n->hold_next--;
    n->held[n->nheld++] = d;
    return;
  }
  if (n->abort_next > 0) {
    /* The connection dies after the request arrived: the client cannot
     * tell whether it ran. */
    n->abort_next--;
    irpc_connection_abort(
        irpc_incoming_request_connection(irpc_dispatch_request(d)), 0);
    irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
    return;
  }
  if (n->unavailable) {
    assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_UNAVAILABLE, NULL));
    return;
  }
  test_echo_ops.dispatch(self, d);
}

static int node_init(irpc_dispatcher *self, const void *config) {
  *(node **)irpc_dispatcher_data(self) = (node *)config;
  return 0;
}

static const irpc_dispatcher_ops node_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "node",
                                             .data_size = sizeof(node *),
                                             .init = node_init,
                                             .dispatch = node_dispatch};

static void node_opened(irpc_server *s, irpc_connection *c, int err, void *ud) {
  (void)s, (void)c, (void)err;
  ((node *)ud)->opened++;
}

/* A server named `name` on the rig's loop and transport. */
static void node_start(net_rig *r, node *n, const char *name) {
  memset(n, 0, sizeof(*n));
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, &r->loop, &node_ops, n));
  r->disps[r->ndisps++] = d;
  assert_irpc_ok(irpc_server_new(&n->server, &r->loop, d, &r->sopts));
  irpc_server_on_connection(n->server, node_opened, NULL, n);
  char listen[200];
  if (r->kind == NET_TCP)
    snprintf(listen, sizeof listen, "icerpc://127.0.0.1:0");
  else
    snprintf(listen, sizeof listen, "unix:%s/%s.sock", r->dir, name);
  assert_irpc_ok(
      irpc_server_listen(n->server, listen, n->bound, sizeof n->bound));
}

static void node_stop(node *n) {
  irpc_server_free(n->server);
  n->server = NULL;
}

static void node_release(node *n) {
  for (int i = 0; i < n->nheld; i++)
    irpc_dispatch_reply(n->held[i], IRPC_STATUS_OK, NULL);
  n->nheld = 0;
}

/* A server address nobody listens on (`i` makes several). */
static void dead_address(net_rig *r, int i, char *buf, size_t len) {
  if (r->kind == NET_TCP)
    snprintf(buf, len, "icerpc://127.0.0.1:%d", 1 + 2 * i);
  else
    snprintf(buf, len, "icerpc://localhost?transport=uds&path=%s/none%d.sock",
             r->dir, i);
}

/* ---- Targets ---- */

/* Appends server address `uri` to `out`: the main one as
 * icerpc://host:port<path>?params, an alt-server as host:port?p$p. */
static void put_server(char *out, size_t len, const char *uri, int main,
                       const char *path) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  const char *host = irpc_server_address_host(a);
  int v6 = strchr(host, ':') != NULL;
  size_t at = strlen(out);
  at += (size_t)snprintf(out + at, len - at, "%s%s%s%s:%u%s",
                         main ? "icerpc://" : "", v6 ? "[" : "", host,
                         v6 ? "]" : "", irpc_server_address_port(a),
                         main ? path : "");
  char sep = '?';
  const char *tr = irpc_server_address_transport(a);
  if (tr) {
    at += (size_t)snprintf(out + at, len - at, "%ctransport=%s", sep, tr);
    sep = main ? '&' : '$';
  }
  for (size_t i = 0; i < irpc_server_address_param_count(a); i++) {
    at += (size_t)snprintf(out + at, len - at, "%c%s=%s", sep,
                           irpc_server_address_param_name(a, i),
                           irpc_server_address_param_value(a, i));
    sep = main ? '&' : '$';
  }
  assert_true(at < len);
  irpc_server_address_free(a);
}

/* The URI of a service `path` hosted by servers[0], with the others as
 * alt-servers. */
static void target_uri(char *out, size_t len, const char *path, int n,
                       const char *const *servers) {
  out[0] = 0;
  put_server(out, len, servers[0], 1, path);
  for (int i = 1; i < n; i++) {
    size_t at = strlen(out);
    if (i == 1)
      snprintf(out + at, len - at,
               "%calt-server=", strchr(out, '?') ? '&' : '?');
    else
      snprintf(out + at, len - at, ",");
    put_server(out, len, servers[i], 0, path);
  }
}

static irpc_service_address *target(int n, const char *const *servers) {
  char uri[2048];
  target_uri(uri, sizeof uri, "/echo", n, servers);
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(&sa, uri));
  assert_int_equal(irpc_service_address_server_count(sa), n);
  return sa;
}

#define SERVERS(...)                                                           \
  (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)),               \
      (const char *const[]) {                                                  \
    __VA_ARGS__                                                                \
  }

static irpc_outgoing_request *request_to(const irpc_service_address *sa) {
  irpc_outgoing_request *req = kit_request("/echo", "hi", 2);
  if (sa)
    assert_irpc_ok(irpc_outgoing_request_set_service_address(req, sa));
  return req;
}

/* ---- Caches ---- */

static irpc_invoker *cache_new(net_rig *r, int prefer, const char *def) {
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection = r->copts;
  o.prefer_existing_connection = prefer;
  o.default_service_address = def;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_connection_cache_new(&inv, &r->loop, &o));
  return inv;
}

static void cache_close(net_rig *r, irpc_invoker *cache) {
  int down = 0;
  assert_irpc_ok(irpc_connection_cache_shutdown(cache, kit_status_cb, &down));
  kit_run_until(&r->loop, &down);
  assert_int_equal(down, 1);
  irpc_invoker_free(cache);
}

static size_t cache_conns(irpc_invoker *cache) {
  return irpc_connection_cache_connections(cache, NULL, 0);
}

/* Calls `req` through `inv` and checks the echo. */
static void call_ok(net_rig *r, irpc_invoker *inv, irpc_outgoing_request *req) {
  net_result o = {0};
  net_call_sync(&r->loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  /* the call's server addresses are gone with it */
  assert_null(irpc_features_get(irpc_outgoing_request_features(req),
                                &irpc_server_addresses_feature));
}

static int call_err(net_rig *r, irpc_invoker *inv, irpc_outgoing_request *req) {
  net_result o = {0};
  net_call_sync(&r->loop, inv, req, &o);
  return o.err;
}

/* ---- The fixture: servers a, b, c on one rig ---- */

typedef struct cache_fx {
  net_rig r;
  node a, b, c;
  irpc_transport *ft; /* the client side's fault transport, or NULL */
  irpc_service_address *targets[4];
  int ntargets;
} cache_fx;

/* `nodes` servers over `kind`; with `fault`, clients connect through a
 * fault transport (x->ft). */
static void cache_fx_init(cache_fx *x, int kind, int nodes, int fault) {
  memset(&x->a, 0, sizeof(node) * 3);
  x->ft = NULL;
  x->ntargets = 0;
  net_rig_init(&x->r, kind);
  if (fault) {
    assert_irpc_ok(irpc_transport_fault_new(
        &x->ft, kind == NET_TCP ? irpc_transport_tcp() : irpc_transport_uds()));
    x->r.copts.transport = x->ft;
  }
  node *ns[3] = {&x->a, &x->b, &x->c};
  static const char *const names[3] = {"a", "b", "c"};
  for (int i = 0; i < nodes; i++)
    node_start(&x->r, ns[i], names[i]);
}

/* A target freed by cache_fx_fini. */
static irpc_service_address *cache_fx_target(cache_fx *x, int n,
                                             const char *const *servers) {
  assert_true(x->ntargets < 4);
  irpc_service_address *sa = target(n, servers);
  x->targets[x->ntargets++] = sa;
  return sa;
}

static void cache_fx_fini(cache_fx *x) {
  node_stop(&x->a);
  node_stop(&x->b);
  node_stop(&x->c);
  net_rig_fini(&x->r);
  for (int i = 0; i < x->ntargets; i++)
    irpc_service_address_free(x->targets[i]);
  irpc_transport_free(x->ft);
}

#define ON_TCP_AND_UDS(name)                                                   \
  static void name##_tcp(void **s) {                                           \
    (void)s, name(NET_TCP);                                                    \
  }                                                                            \
  static void name##_uds(void **s) {                                           \
    (void)s, name(NET_UDS);                                                    \
  }

/* ---- One connection per server address, reused ---- */

static void reuse(int kind) {
  enum { N = 20 };
  cache_fx x;
  cache_fx_init(&x, kind, 2, 0);
  char def[512];
  target_uri(def, sizeof def, "/echo", SERVERS(x.a.bound));
  irpc_invoker *cache = cache_new(&x.r, 1, def);
  irpc_service_address *tb = cache_fx_target(&x, SERVERS(x.b.bound));
  /* Calls made before any connection exists wait for the same one. */
  net_result o[N];
  irpc_outgoing_request *reqs[N];
  memset(o, 0, sizeof o);
  for (int i = 0; i < N; i++) {
    reqs[i] = request_to(i % 2 ? tb : NULL); /* NULL: the default target */
    assert_irpc_ok(irpc_invoke(cache, reqs[i], net_on_result, &o[i], NULL));
  }
  int done = 0;
  while (done < N) {
    uv_run(&x.r.loop, UV_RUN_ONCE);
    done = 0;
    for (int i = 0; i < N; i++)
      done += o[i].done;
  }
  for (int i = 0; i < N; i++) {
    assert_irpc_ok(o[i].err);
    assert_int_equal(o[i].status, IRPC_STATUS_OK);
  }
  assert_int_equal(x.a.dispatches, N / 2);
  assert_int_equal(x.b.dispatches, N / 2);
  /* Later calls reuse them. */
  for (int i = 0; i < N; i++)
    call_ok(&x.r, cache, reqs[i]);
  assert_int_equal(x.a.opened, 1);
  assert_int_equal(x.b.opened, 1);
  irpc_connection *list[4];
  assert_int_equal(irpc_connection_cache_connections(cache, list, 4), 2);
  assert_true(irpc_connection_is_active(list[0]));
  assert_true(irpc_connection_id(list[0]) != irpc_connection_id(list[1]));
  for (int i = 0; i < N; i++)
    irpc_outgoing_request_free(reqs[i]);
  cache_close(&x.r, cache);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(reuse)

/* ---- The alt-server is used when the main server refuses ---- */

static void alt_server(int kind) {
  cache_fx x;
  cache_fx_init(&x, kind, 1, 1);
  irpc_fault *f = irpc_transport_fault(x.ft);
  char dead[256], dead2[256];
  dead_address(&x.r, 0, dead, sizeof dead);
  dead_address(&x.r, 1, dead2, sizeof dead2);
  irpc_invoker *cache = cache_new(&x.r, 1, NULL);
  irpc_outgoing_request *req =
      request_to(cache_fx_target(&x, SERVERS(dead, x.a.bound)));
  call_ok(&x.r, cache, req);
  assert_int_equal(x.a.dispatches, 1);
  assert_int_equal(irpc_fault_count(f, IRPC_FAULT_CONNECT), 2);
  /* The next call goes straight to the connection that works. */
  call_ok(&x.r, cache, req);
  assert_int_equal(irpc_fault_count(f, IRPC_FAULT_CONNECT), 2);
  assert_int_equal(x.a.opened, 1);
  assert_int_equal(cache_conns(cache), 1);
  /* Nobody listens anywhere: the error of the last address tried. */
  assert_irpc_ok(irpc_outgoing_request_set_service_address(
      req, cache_fx_target(&x, SERVERS(dead, dead2))));
  int err = call_err(&x.r, cache, req);
  assert_irpc_err(err, kind == NET_TCP ? UV_ECONNREFUSED : UV_ENOENT);
  assert_int_equal(irpc_fault_count(f, IRPC_FAULT_CONNECT), 4);
  irpc_outgoing_request_free(req);
  cache_close(&x.r, cache);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(alt_server)

/* ---- Prefer an existing connection (or not) ---- */

static void prefer_existing(int kind) {
  cache_fx x;
  cache_fx_init(&x, kind, 2, 0);
  irpc_outgoing_request *to_a =
      request_to(cache_fx_target(&x, SERVERS(x.a.bound)));
  irpc_outgoing_request *to_ba =
      request_to(cache_fx_target(&x, SERVERS(x.b.bound, x.a.bound)));
  /* On: b is the main server, but a is connected already. */
  irpc_invoker *cache = cache_new(&x.r, 1, NULL);
  call_ok(&x.r, cache, to_a);
  call_ok(&x.r, cache, to_ba);
  assert_int_equal(x.a.dispatches, 2);
  assert_int_equal(x.b.opened + x.b.dispatches, 0);
  cache_close(&x.r, cache);
  /* Off: the main server first. */
  cache = cache_new(&x.r, 0, NULL);
  call_ok(&x.r, cache, to_a);
  call_ok(&x.r, cache, to_ba);
  assert_int_equal(x.a.dispatches, 3);
  assert_int_equal(x.b.dispatches, 1);
  assert_int_equal(cache_conns(cache), 2);
  cache_close(&x.r, cache);
  irpc_outgoing_request_free(to_a);
  irpc_outgoing_request_free(to_ba);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(prefer_existing)

/* ---- A connection that closes leaves the cache; the next call reconnects
 * ---- */

static uint64_t only_connection_id(irpc_invoker *cache) {
  irpc_connection *c;
  assert_int_equal(irpc_connection_cache_connections(cache, &c, 1), 1);
  return irpc_connection_id(c);
}

static void closed_removed(int kind) {
  cache_fx x;
  cache_fx_init(&x, kind, 1, 0);
  char def[512];
  target_uri(def, sizeof def, "/echo", SERVERS(x.a.bound));
  irpc_invoker *cache = cache_new(&x.r, 1, def);
  irpc_outgoing_request *req = request_to(NULL);
  call_ok(&x.r, cache, req);
  uint64_t first = only_connection_id(cache);
  /* The server aborts it. */
  irpc_connection *sc;
  assert_int_equal(irpc_server_connections(x.a.server, &sc, 1), 1);
  irpc_connection_abort(sc, 0);
  while (cache_conns(cache) != 0)
    uv_run(&x.r.loop, UV_RUN_ONCE);
  call_ok(&x.r, cache, req);
  uint64_t second = only_connection_id(cache);
  assert_true(second != first);
  assert_int_equal(x.a.opened, 2);
  /* The server shuts it down gracefully (GoAway). */
  assert_int_equal(irpc_server_connections(x.a.server, &sc, 1), 1);
  assert_irpc_ok(irpc_connection_shutdown(sc, NULL, NULL));
  while (cache_conns(cache) != 0)
    uv_run(&x.r.loop, UV_RUN_ONCE);
  call_ok(&x.r, cache, req);
  assert_true(only_connection_id(cache) != second);
  assert_int_equal(x.a.opened, 3);
  irpc_outgoing_request_free(req);
  cache_close(&x.r, cache);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(closed_removed)

/* ---- Retry and the cache ---- */

typedef struct rc_pipe {
  irpc_pipeline *p;
  irpc_invoker *retry;
  irpc_invoker *cache;
} rc_pipe;

static irpc_invoker *pipe_new(net_rig *r, rc_pipe *x, unsigned attempts) {
  irpc_retry_options o;
  irpc_retry_options_init(&o);
  o.max_attempts = attempts;
  o.initial_backoff_ms = 0;
  o.budget_max_tokens = 0;
  assert_irpc_ok(irpc_retry_interceptor_new(&x->retry, &r->loop, &o));
  x->cache = cache_new(r, 1, NULL);
  assert_irpc_ok(irpc_pipeline_new(&x->p, &r->loop));
  assert_irpc_ok(irpc_pipeline_use(x->p, x->retry));
  assert_irpc_ok(irpc_pipeline_into(x->p, x->cache));
  return irpc_pipeline_invoker(x->p);
}

static uint64_t pipe_attempts(rc_pipe *x) {
  irpc_retry_stats st;
  assert_irpc_ok(irpc_retry_stats_get(x->retry, &st));
  return st.attempts;
}

static void pipe_free(net_rig *r, rc_pipe *x) {
  irpc_pipeline_free(x->p);
  cache_close(r, x->cache);
}

static int foreign_remove(irpc_server_addresses *self) {
  (void)self;
  return 0;
}

/* A server answering Unavailable: the retry goes to the next address. */
static void retry_unavailable(int kind) {
  cache_fx x;
  cache_fx_init(&x, kind, 3, 0);
  x.a.unavailable = x.c.unavailable = 1;
  rc_pipe p;
  irpc_invoker *inv = pipe_new(&x.r, &p, 3);
  irpc_outgoing_request *req =
      request_to(cache_fx_target(&x, SERVERS(x.a.bound, x.b.bound)));
  /* An application's own value is put aside during the call. */
  irpc_server_addresses mine = {.remove_current = foreign_remove};
  irpc_features *f = irpc_outgoing_request_features(req);
  assert_irpc_ok(irpc_features_set(f, &irpc_server_addresses_feature, &mine));
  net_result o = {0};
  net_call_sync(&x.r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_ptr_equal(irpc_features_get(f, &irpc_server_addresses_feature), &mine);
  assert_irpc_ok(irpc_features_set(f, &irpc_server_addresses_feature, NULL));
  assert_int_equal(x.a.dispatches, 1);
  assert_int_equal(x.b.dispatches, 1);
  assert_int_equal(pipe_attempts(&p), 2);
  /* The same request again: a new call starts from all its addresses. */
  call_ok(&x.r, inv, req);
  assert_int_equal(x.a.dispatches, 2);
  assert_int_equal(x.b.dispatches, 2);
  /* Every server unavailable: the last Unavailable response. */
  assert_irpc_ok(irpc_outgoing_request_set_service_address(
      req, cache_fx_target(&x, SERVERS(x.a.bound, x.c.bound))));
  net_result o2 = {0};
  net_call_sync(&x.r.loop, inv, req, &o2);
  assert_irpc_ok(o2.err);
  assert_int_equal(o2.status, IRPC_STATUS_UNAVAILABLE);
  assert_int_equal(x.a.dispatches, 3);
  assert_int_equal(x.c.dispatches, 1);
  /* Without the retry interceptor, the cache returns it as is. */
  net_result o3 = {0};
  net_call_sync(&x.r.loop, p.cache, req, &o3);
  assert_int_equal(o3.status, IRPC_STATUS_UNAVAILABLE);
  assert_int_equal(x.a.dispatches, 4);
  irpc_outgoing_request_free(req);
  pipe_free(&x.r, &p);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(retry_unavailable)

/* The connection dies after the request was sent, N times: an idempotent
 * request is retried on a new connection, another one is not. */
static void retry_after_send(int kind) {
  cache_fx x;
  cache_fx_init(&x, kind, 1, 0);
  rc_pipe p;
  irpc_invoker *inv = pipe_new(&x.r, &p, 3);
  irpc_outgoing_request *req =
      request_to(cache_fx_target(&x, SERVERS(x.a.bound)));
  x.a.abort_next = 2;
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  call_ok(&x.r, inv, req);
  assert_int_equal(x.a.dispatches, 3);
  assert_int_equal(x.a.opened, 3);
  assert_int_equal(pipe_attempts(&p), 3);
  /* Not idempotent: the error comes back after one attempt. */
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 0));
  x.a.abort_next = 1;
  int err = call_err(&x.r, inv, req);
  assert_true(err == UV_ECONNABORTED || err == UV_ECONNRESET);
  assert_int_equal(x.a.dispatches, 4);
  assert_int_equal(pipe_attempts(&p), 4);
  /* Still failing on the last attempt: its error. */
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  x.a.abort_next = 3;
  err = call_err(&x.r, inv, req);
  assert_true(err == UV_ECONNABORTED || err == UV_ECONNRESET);
  assert_int_equal(x.a.dispatches, 7);
  irpc_outgoing_request_free(req);
  pipe_free(&x.r, &p);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(retry_after_send)

/* A call the shutting-down connection refused before sending it
 * (IRPC_EREFUSED) goes on a new connection. */
static void refused_goes_elsewhere(void **state) {
  (void)state;
  cache_fx x;
  cache_fx_init(&x, NET_TCP, 0, 0);
  x.r.sicerpc.max_bidirectional_streams = 1;
  node_start(&x.r, &x.a, "a");
  char def[512];
  target_uri(def, sizeof def, "/echo", SERVERS(x.a.bound));
  irpc_invoker *cache = cache_new(&x.r, 1, def);
  x.a.hold_next = 1;
  irpc_outgoing_request *r1 = request_to(NULL), *r2 = request_to(NULL);
  net_result o1 = {0}, o2 = {0};
  assert_irpc_ok(irpc_invoke(cache, r1, net_on_result, &o1, NULL));
  while (x.a.nheld < 1)
    uv_run(&x.r.loop, UV_RUN_ONCE);
  /* r2 waits for a stream of the same connection. */
  assert_irpc_ok(irpc_invoke(cache, r2, net_on_result, &o2, NULL));
  for (int i = 0; i < 10; i++)
    uv_run(&x.r.loop, UV_RUN_NOWAIT);
  assert_int_equal(o2.done, 0);
  irpc_connection *c;
  assert_int_equal(irpc_connection_cache_connections(cache, &c, 1), 1);
  assert_irpc_ok(irpc_connection_shutdown(c, NULL, NULL));
  kit_run_until(&x.r.loop, &o2.done);
  assert_irpc_ok(o2.err);
  assert_int_equal(x.a.opened, 2);
  node_release(&x.a);
  kit_run_until(&x.r.loop, &o1.done);
  assert_irpc_ok(o1.err);
  irpc_outgoing_request_free(r1);
  irpc_outgoing_request_free(r2);
  cache_close(&x.r, cache);
  cache_fx_fini(&x);
}

/* ---- Connect timeout: the next address ---- */

static void connect_timeout(void **state) {
  (void)state;
  cache_fx x;
  cache_fx_init(&x, NET_TCP, 0, 1);
  x.r.copts.connect_timeout_ms = 50;
  node_start(&x.r, &x.a, "a");
  node_start(&x.r, &x.b, "b");
  irpc_fault *f = irpc_transport_fault(x.ft);
  irpc_invoker *cache = cache_new(&x.r, 1, NULL);
  /* The first connect (to a) never completes. */
  assert_irpc_ok(
      irpc_fault_set_nth(f, IRPC_FAULT_CONNECT, IRPC_FAULT_HOLD, 0, 0, 1));
  irpc_outgoing_request *req =
      request_to(cache_fx_target(&x, SERVERS(x.a.bound, x.b.bound)));
  call_ok(&x.r, cache, req);
  assert_int_equal(x.b.dispatches, 1);
  assert_int_equal(x.a.opened, 0);
  /* Only a, held again: IRPC_ETIMEDOUT. */
  assert_irpc_ok(
      irpc_fault_set_nth(f, IRPC_FAULT_CONNECT, IRPC_FAULT_HOLD, 0, 0, 1));
  assert_irpc_ok(irpc_outgoing_request_set_service_address(
      req, cache_fx_target(&x, SERVERS(x.a.bound))));
  assert_irpc_err(call_err(&x.r, cache, req), IRPC_ETIMEDOUT);
  irpc_outgoing_request_free(req);
  cache_close(&x.r, cache);
  cache_fx_fini(&x);
}

/* ---- Shutdown ---- */

static void shutdown_in_flight(int kind) {
  cache_fx x;
  cache_fx_init(&x, kind, 2, 1);
  x.a.hold_next = 2;
  irpc_invoker *cache = cache_new(&x.r, 1, NULL);
  irpc_service_address *ta = cache_fx_target(&x, SERVERS(x.a.bound));
  irpc_outgoing_request *reqs[3] = {
      request_to(ta), request_to(ta),
      request_to(cache_fx_target(&x, SERVERS(x.b.bound)))};
  net_result o[3];
  memset(o, 0, sizeof o);
  for (int i = 0; i < 2; i++)
    assert_irpc_ok(irpc_invoke(cache, reqs[i], net_on_result, &o[i], NULL));
  while (x.a.nheld < 2)
    uv_run(&x.r.loop, UV_RUN_ONCE);
  /* The third waits for a connect that does not complete. */
  assert_irpc_ok(irpc_fault_set(irpc_transport_fault(x.ft), IRPC_FAULT_CONNECT,
                                IRPC_FAULT_HOLD, 0));
  assert_irpc_ok(irpc_invoke(cache, reqs[2], net_on_result, &o[2], NULL));
  int down = 0;
  assert_irpc_ok(irpc_connection_cache_shutdown(cache, kit_status_cb, &down));
  kit_run_until(&x.r.loop, &o[2].done);
  assert_irpc_err(o[2].err, IRPC_ECLOSED);
  /* Calls after shutdown fail; shutting down again too. */
  assert_irpc_err(call_err(&x.r, cache, reqs[2]), IRPC_ECLOSED);
  assert_irpc_err(irpc_connection_cache_shutdown(cache, NULL, NULL),
                  IRPC_ECLOSED);
  /* The calls under way complete, then the shutdown. */
  assert_int_equal(o[0].done + o[1].done + down, 0);
  node_release(&x.a);
  kit_run_until(&x.r.loop, &down);
  assert_int_equal(down, 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(o[i].done, 1);
    assert_irpc_ok(o[i].err);
  }
  assert_int_equal(cache_conns(cache), 0);
  irpc_invoker_free(cache);
  for (int i = 0; i < 3; i++)
    irpc_outgoing_request_free(reqs[i]);
  cache_fx_fini(&x);
}

ON_TCP_AND_UDS(shutdown_in_flight)

/* Freeing the cache with a call under way, one waiting for a connect and
 * a shutdown pending. */
static void free_busy(void **state) {
  (void)state;
  cache_fx x;
  cache_fx_init(&x, NET_TCP, 2, 1);
  x.a.hold_next = 1;
  irpc_invoker *cache = cache_new(&x.r, 1, NULL);
  irpc_outgoing_request *ra =
      request_to(cache_fx_target(&x, SERVERS(x.a.bound)));
  irpc_outgoing_request *rb =
      request_to(cache_fx_target(&x, SERVERS(x.b.bound)));
  net_result oa = {0}, ob = {0};
  assert_irpc_ok(irpc_invoke(cache, ra, net_on_result, &oa, NULL));
  while (x.a.nheld < 1)
    uv_run(&x.r.loop, UV_RUN_ONCE);
  assert_irpc_ok(irpc_fault_set(irpc_transport_fault(x.ft), IRPC_FAULT_CONNECT,
                                IRPC_FAULT_HOLD, 0));
  assert_irpc_ok(irpc_invoke(cache, rb, net_on_result, &ob, NULL));
  for (int i = 0; i < 5; i++)
    uv_run(&x.r.loop, UV_RUN_NOWAIT);
  irpc_invoker_free(cache);
  kit_run_until(&x.r.loop, &oa.done);
  kit_run_until(&x.r.loop, &ob.done);
  assert_irpc_err(oa.err, UV_ECONNABORTED);
  assert_irpc_err(ob.err, IRPC_EABORTED);
  node_release(&x.a);
  /* Freed right after asking for a shutdown: the callback never runs. */
  cache = cache_new(&x.r, 1, NULL);
  int down = 0;
  assert_irpc_ok(irpc_connection_cache_shutdown(cache, kit_status_cb, &down));
  irpc_invoker_free(cache);
  irpc_outgoing_request_free(ra);
  irpc_outgoing_request_free(rb);
  cache_fx_fini(&x);
  assert_int_equal(down, 0);
}

/* ---- Bad input ---- */

static void bad_input(void **state) {
  (void)state;
  cache_fx x;
  cache_fx_init(&x, NET_TCP, 2, 0);
  irpc_invoker *inv;
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  assert_irpc_err(irpc_connection_cache_new(NULL, &x.r.loop, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_connection_cache_new(&inv, NULL, &o), IRPC_EINVAL);
  o.default_service_address = "icerpc:/hello"; /* no server address */
  assert_irpc_err(irpc_connection_cache_new(&inv, &x.r.loop, &o), IRPC_EINVAL);
  o.default_service_address = "not a uri";
  assert_irpc_err(irpc_connection_cache_new(&inv, &x.r.loop, &o), IRPC_EINVAL);
#ifndef IRPC_WITH_ICE
  o.default_service_address = "ice://host/hello";
  assert_irpc_err(irpc_connection_cache_new(&inv, &x.r.loop, &o),
                  IRPC_EPROTONOSUPPORT);
#endif
  o.default_service_address = NULL;
  o.connection.connect_timeout_ms = 0;
  assert_irpc_err(irpc_connection_cache_new(&inv, &x.r.loop, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_connection_cache_shutdown(NULL, NULL, NULL),
                  IRPC_EINVAL);
  assert_int_equal(irpc_connection_cache_connections(NULL, NULL, 0), 0);
  irpc_invoker *other;
  assert_irpc_ok(
      irpc_client_connection_new(&other, &x.r.loop, x.a.bound, NULL));
  assert_irpc_err(irpc_connection_cache_shutdown(other, NULL, NULL),
                  IRPC_EINVAL);
  irpc_invoker_free(other);

  /* Targets. */
  irpc_outgoing_request *req = request_to(NULL);
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(&sa, "icerpc:/hello"));
  assert_irpc_err(irpc_outgoing_request_set_service_address(NULL, sa),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_outgoing_request_set_service_address(req, sa),
                  IRPC_EINVAL);
  assert_null(irpc_outgoing_request_service_address(req));
  assert_null(irpc_outgoing_request_service_address(NULL));
  irpc_service_address_free(sa);
  char uri[4096] = "icerpc://h0/hello?alt-server=h1";
  for (int i = 2; i <= IRPC_CONNECTION_CACHE_MAX_SERVERS; i++)
    snprintf(uri + strlen(uri), sizeof uri - strlen(uri), ",h%d", i);
  assert_irpc_ok(irpc_service_address_parse(&sa, uri));
  assert_irpc_err(irpc_outgoing_request_set_service_address(req, sa),
                  IRPC_ELIMIT);
  /* The same target through the feature itself: the call fails. */
  irpc_features *f = irpc_outgoing_request_features(req);
  assert_irpc_ok(irpc_features_set(f, &irpc_service_address_feature, sa));
  irpc_invoker *cache = cache_new(&x.r, 1, NULL);
  assert_irpc_err(call_err(&x.r, cache, req), IRPC_ELIMIT);
  irpc_service_address_free(sa);
#ifndef IRPC_WITH_ICE
  assert_irpc_ok(irpc_service_address_parse(&sa, "ice://h/hello"));
  assert_irpc_ok(irpc_outgoing_request_set_service_address(req, sa));
  assert_ptr_equal(irpc_outgoing_request_service_address(req), sa);
  assert_irpc_err(call_err(&x.r, cache, req), IRPC_EPROTONOSUPPORT);
  irpc_service_address_free(sa);
#endif
  /* No target, and no default. */
  assert_irpc_ok(irpc_outgoing_request_set_service_address(req, NULL));
  assert_irpc_err(call_err(&x.r, cache, req), IRPC_EINVAL);
  /* One request in two calls at once. */
  assert_irpc_ok(irpc_outgoing_request_set_service_address(
      req, cache_fx_target(&x, SERVERS(x.a.bound))));
  net_result o1 = {0}, o2 = {0};
  assert_irpc_ok(irpc_invoke(cache, req, net_on_result, &o1, NULL));
  assert_irpc_ok(irpc_invoke(cache, req, net_on_result, &o2, NULL));
  kit_run_until(&x.r.loop, &o1.done);
  kit_run_until(&x.r.loop, &o2.done);
  assert_irpc_ok(o1.err);
  assert_irpc_err(o2.err, IRPC_EBUSY);
  cache_close(&x.r, cache);
  /* max_connections: one. */
  o.connection = x.r.copts;
  o.max_connections = 1;
  assert_irpc_ok(irpc_connection_cache_new(&cache, &x.r.loop, &o));
  call_ok(&x.r, cache, req);
  assert_irpc_ok(irpc_outgoing_request_set_service_address(
      req, cache_fx_target(&x, SERVERS(x.b.bound))));
  assert_irpc_err(call_err(&x.r, cache, req), IRPC_ELIMIT);
  cache_close(&x.r, cache);
  irpc_outgoing_request_free(req);
  cache_fx_fini(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reuse_tcp),
      cmocka_unit_test(reuse_uds),
      cmocka_unit_test(alt_server_tcp),
      cmocka_unit_test(alt_server_uds),
      cmocka_unit_test(prefer_existing_tcp),
      cmocka_unit_test(prefer_existing_uds),
      cmocka_unit_test(closed_removed_tcp),
      cmocka_unit_test(closed_removed_uds),
      cmocka_unit_test(retry_unavailable_tcp),
      cmocka_unit_test(retry_unavailable_uds),
      cmocka_unit_test(retry_after_send_tcp),
      cmocka_unit_test(retry_after_send_uds),
      cmocka_unit_test(refused_goes_elsewhere),
      cmocka_unit_test(connect_timeout),
      cmocka_unit_test(shutdown_in_flight_tcp),
      cmocka_unit_test(shutdown_in_flight_uds),
      cmocka_unit_test(free_busy),
      cmocka_unit_test(bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
