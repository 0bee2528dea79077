/* The multi-loop server: connections land on every loop, a dispatch calls
 * its client back on its own loop, shutdown drains every loop, each loop
 * builds and releases its own chain. The clients run on the test's loop,
 * on the main thread; the server's loops on their own threads. */
#include <stdatomic.h>
#include <string.h>

#include <sys/socket.h>

#include "kit/kit.h"
#include "kit/net.h"
#include "tkit.h"

#define LOOPS 2

/* What a loop's chain records, read by the test once the loop is done
 * with it (after irpc_multi_server_visit, shutdown or free). */
typedef struct per_loop {
  irpc_multi_server *ms;
  unsigned index;
  uv_loop_t *loop;
  uv_thread_t thread; /* the loop's, seen by the factory */
  irpc_router *router;
  irpc_dispatcher *where, *callback, *drain;
  int wrong_thread; /* a dispatch or completion off the loop's thread */
  int callbacks_done;
  /* Dispatches of "/drain" held until their connection shuts down. */
  irpc_dispatch *held[8];
  irpc_connection *held_conn[8];
  int nheld;
  int drained;
  uv_check_t check;
  int check_live;
} per_loop;

typedef struct fixture {
  per_loop loops[LOOPS];
  _Atomic int built, released;
  _Atomic int opened, closed;
  irpc_multi_server *ms;
  int shutdown_rc; /* written by the shutting thread, read after its join */
} fixture;

static int on_loop_thread(per_loop *pl) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &pl->thread);
}

/* "/where": answers the index of its loop. */
static void where_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  per_loop *pl = *(per_loop **)irpc_dispatcher_data(self);
  if (!on_loop_thread(pl) || irpc_dispatch_loop(d) != pl->loop)
    pl->wrong_thread++;
  irpc_outgoing_response *r;
  irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL);
  uint8_t b = (uint8_t)pl->index;
  irpc_buf_append(irpc_outgoing_response_payload(r), &b, 1);
  irpc_dispatch_complete(d, r);
}

/* "/callback": calls "/cb" back on the client's connection, then answers
 * with what the client answered. */
typedef struct cb_state {
  irpc_dispatch *d;
  per_loop *pl;
} cb_state;

static void callback_done(irpc_call *call, int err,
                          irpc_incoming_response *resp, void *ud) {
  cb_state *st = ud;
  per_loop *pl = st->pl;
  (void)call;
  if (!on_loop_thread(pl))
    pl->wrong_thread++;
  irpc_outgoing_response *r;
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK) {
    irpc_outgoing_response_new(&r, IRPC_STATUS_INTERNAL_ERROR, "no callback");
  } else {
    irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL);
    irpc_buf_move(irpc_outgoing_response_payload(r),
                  irpc_incoming_response_payload(resp));
    pl->callbacks_done++;
  }
  irpc_incoming_response_free(resp);
  irpc_dispatch_complete(st->d, r);
  irpc_free(st);
}

static void callback_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  per_loop *pl = *(per_loop **)irpc_dispatcher_data(self);
  irpc_invoker *back = irpc_incoming_request_invoker(irpc_dispatch_request(d));
  if (!on_loop_thread(pl) || irpc_invoker_loop(back) != pl->loop)
    pl->wrong_thread++;
  cb_state *st = irpc_malloc(sizeof(*st));
  st->d = d;
  st->pl = pl;
  irpc_outgoing_request *req;
  irpc_outgoing_request_new(&req, "/cb", "op");
  irpc_buf_append(irpc_outgoing_request_payload(req), "hello", 5);
  if (irpc_invoke_owned(back, req, callback_done, st, NULL) != 0) {
    irpc_free(st);
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, "invoke failed");
  }
}

/* "/drain": held until its connection is no longer active (its server
 * shuts down), then answered Ok. A check handle looks after each turn of
 * the loop: the shutdown's own mail wakes the loop. */
static void drain_check(uv_check_t *h) {
  per_loop *pl = h->data;
  int kept = 0;
  for (int i = 0; i < pl->nheld; i++) {
    if (irpc_connection_is_active(pl->held_conn[i])) {
      pl->held[kept] = pl->held[i];
      pl->held_conn[kept++] = pl->held_conn[i];
      continue;
    }
    irpc_connection_unref(pl->held_conn[i]);
    irpc_dispatch_reply(pl->held[i], IRPC_STATUS_OK, NULL);
    pl->drained++;
  }
  pl->nheld = kept;
  if (!kept)
    uv_check_stop(h);
}

static void drain_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  per_loop *pl = *(per_loop **)irpc_dispatcher_data(self);
  if (pl->nheld == 8) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, "too many");
    return;
  }
  pl->held[pl->nheld] = d;
  pl->held_conn[pl->nheld++] = irpc_connection_ref(
      irpc_incoming_request_connection(irpc_dispatch_request(d)));
  uv_check_start(&pl->check, drain_check);
}

static int cfg_init(irpc_dispatcher *self, const void *config) {
  *(const void **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops where_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "where",
    .data_size = sizeof(void *),
    .init = cfg_init,
    .dispatch = where_dispatch,
};
static const irpc_dispatcher_ops callback_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "callback",
    .data_size = sizeof(void *),
    .init = cfg_init,
    .dispatch = callback_dispatch,
};
static const irpc_dispatcher_ops drain_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "drain",
    .data_size = sizeof(void *),
    .init = cfg_init,
    .dispatch = drain_dispatch,
};

static int factory(uv_loop_t *loop, unsigned index, irpc_dispatcher **out,
                   void *ud) {
  fixture *f = ud;
  if (index >= LOOPS)
    return IRPC_EINVAL;
  per_loop *pl = &f->loops[index];
  pl->index = index;
  pl->loop = loop;
  pl->thread = uv_thread_self();
  int rc = irpc_router_new(&pl->router, loop);
  if (!rc)
    rc = irpc_dispatcher_new(&pl->where, loop, &where_ops, pl);
  if (!rc)
    rc = irpc_dispatcher_new(&pl->callback, loop, &callback_ops, pl);
  if (!rc)
    rc = irpc_dispatcher_new(&pl->drain, loop, &drain_ops, pl);
  if (!rc)
    rc = irpc_router_map(pl->router, "/where", pl->where);
  if (!rc)
    rc = irpc_router_map(pl->router, "/callback", pl->callback);
  if (!rc)
    rc = irpc_router_map(pl->router, "/drain", pl->drain);
  if (!rc)
    rc = uv_check_init(loop, &pl->check);
  if (rc)
    return rc;
  pl->check.data = pl;
  pl->check_live = 1;
  *out = irpc_router_dispatcher(pl->router);
  atomic_fetch_add(&f->built, 1);
  return 0;
}

static void release(uv_loop_t *loop, unsigned index, irpc_dispatcher *d,
                    void *ud) {
  fixture *f = ud;
  per_loop *pl = &f->loops[index];
  if (!on_loop_thread(pl) || loop != pl->loop ||
      d != irpc_router_dispatcher(pl->router))
    pl->wrong_thread++;
  irpc_router_free(pl->router);
  irpc_dispatcher_free(pl->where);
  irpc_dispatcher_free(pl->callback);
  irpc_dispatcher_free(pl->drain);
  if (pl->check_live)
    uv_close((uv_handle_t *)&pl->check, NULL);
  atomic_fetch_add(&f->released, 1);
}

static void on_open(irpc_server *s, irpc_connection *c, int err, void *ud) {
  fixture *f = ud;
  (void)s;
  (void)c;
  (void)err;
  atomic_fetch_add(&f->opened, 1);
}

static void on_close(irpc_server *s, irpc_connection *c, int err, void *ud) {
  fixture *f = ud;
  (void)s;
  (void)c;
  (void)err;
  atomic_fetch_add(&f->closed, 1);
}

static void start_mode(fixture *f, char *bound, size_t len, const char *listen,
                       uint64_t max_connections, int reuseport) {
  memset(f, 0, sizeof(*f));
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  o.server.max_connections = max_connections;
  o.loops = LOOPS;
  o.factory = factory;
  o.release = release;
  o.user_data = f;
  o.on_open = on_open;
  o.on_close = on_close;
  assert_irpc_ok(irpc_multi_server_new(&f->ms, &o));
  assert_int_equal(atomic_load(&f->built), LOOPS);
  assert_int_equal(irpc_multi_server_loops(f->ms), LOOPS);
  for (unsigned i = 0; i < LOOPS; i++)
    assert_ptr_equal(irpc_multi_server_loop(f->ms, i), f->loops[i].loop);
  if (reuseport)
    assert_irpc_ok(
        irpc_multi_server_listen_reuseport(f->ms, listen, bound, len));
  else
    assert_irpc_ok(irpc_multi_server_listen(f->ms, listen, bound, len));
}

static void start_max(fixture *f, char *bound, size_t len, const char *listen,
                      uint64_t max_connections) {
  start_mode(f, bound, len, listen, max_connections, 0);
}

static void start(fixture *f, char *bound, size_t len, const char *listen) {
  start_max(f, bound, len, listen, 0);
}

/* The client side's dispatcher for "/cb": echoes, on the test's loop. */
static irpc_invoker *client(uv_loop_t *loop, const char *bound,
                            irpc_dispatcher *disp) {
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.dispatcher = disp;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, loop, bound, &co));
  return inv;
}

static void shutdown_fn(void *arg) {
  fixture *f = arg;
  f->shutdown_rc = irpc_multi_server_shutdown(f->ms);
}

/* Shuts the server down from another thread while the clients' loop
 * runs (the graceful shutdown needs the clients to answer). */
static void shutdown_while_running(fixture *f, uv_loop_t *loop) {
  tkit_bg bg;
  tkit_bg_start(&bg, loop, shutdown_fn, f);
  tkit_bg_finish(&bg, loop);
}

/* Invokes (the call owns the request) and runs the loop until the call
 * completed. */
static void call_sync(uv_loop_t *loop, irpc_invoker *inv,
                      irpc_outgoing_request *req, net_result *o) {
  assert_irpc_ok(irpc_invoke_owned(inv, req, net_on_result, o, NULL));
  kit_run_until(loop, &o->done);
}

static void close_clients(uv_loop_t *loop, irpc_invoker **c, int n) {
  for (int i = 0; i < n; i++) {
    int done = 0;
    if (irpc_client_connection_shutdown(c[i], kit_status_cb, &done) == 0)
      kit_run_until(loop, &done);
    irpc_invoker_free(c[i]);
  }
}

/* A new client connection's call to "/where": the index of the loop that
 * serves it. */
static int where(uv_loop_t *loop, irpc_invoker *c) {
  irpc_buf *p;
  assert_irpc_ok(irpc_buf_new(&p));
  net_result r = {.payload = p};
  call_sync(loop, c, kit_request("/where", NULL, 0), &r);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  uint8_t idx = 0xff;
  assert_irpc_ok(irpc_buf_copyout(p, 0, &idx, 1));
  assert_true(idx < LOOPS);
  irpc_buf_free(p);
  return idx;
}

/* The hand-off over TCP and a Unix socket, then SO_REUSEPORT over TCP. */
static void connections_land_on_every_loop(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    int reuseport = kind == 2;
#ifndef SO_REUSEPORT
    if (reuseport)
      break;
#endif
    fixture f;
    char bound[256];
    char listen[128];
    if (kind == 1)
      snprintf(listen, sizeof(listen),
               "icerpc://localhost?transport=uds&path=/tmp/irpc-ms-%d.sock",
               (int)uv_os_getpid());
    else
      snprintf(listen, sizeof(listen), "icerpc://127.0.0.1:0");
    start_mode(&f, bound, sizeof(bound), listen, 0, reuseport);
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* The hand-off gives each new connection to the least loaded loop;
     * the kernel spreads by a hash of the addresses: connections are made
     * until every loop has one (all of 64 on one loop of two: 2^-63). */
    enum { N = 2 * LOOPS, MAX = 64 };
    irpc_invoker *c[MAX];
    int per[LOOPS] = {0};
    int n = 0, reached = 0;
    while (n < (reuseport ? MAX : N) && (!reuseport || reached < LOOPS)) {
      c[n] = client(&loop, bound, NULL);
      int idx = where(&loop, c[n++]);
      if (per[idx]++ == 0)
        reached++;
    }
    assert_int_equal(reached, LOOPS);
    if (!reuseport) /* the least loaded loop takes each new connection */
      for (int i = 0; i < LOOPS; i++)
        assert_int_equal(per[i], N / LOOPS);
    irpc_multi_server_stats total, each[LOOPS];
    assert_int_equal(irpc_multi_server_read_stats(f.ms, &total, each, LOOPS),
                     LOOPS);
    assert_int_equal(total.connections_accepted, n);
    assert_int_equal(total.connections_current, n);
    assert_int_equal(total.dispatches_total, n);
    for (int i = 0; i < LOOPS; i++) {
      assert_int_equal(each[i].connections_accepted, per[i]);
      assert_int_equal(each[i].dispatches_total, per[i]);
    }
    shutdown_while_running(&f, &loop);
    assert_irpc_ok(f.shutdown_rc);
    close_clients(&loop, c, n);
    irpc_multi_server_read_stats(f.ms, &total, NULL, 0);
    assert_int_equal(total.connections_current, 0);
    assert_int_equal(total.dispatches_current, 0);
    irpc_multi_server_free(f.ms);
    assert_int_equal(atomic_load(&f.released), LOOPS);
    assert_int_equal(atomic_load(&f.opened), n);
    assert_int_equal(atomic_load(&f.closed), n);
    for (int i = 0; i < LOOPS; i++)
      assert_int_equal(f.loops[i].wrong_thread, 0);
    test_loop_finish(&loop);
  }
}

/* SO_REUSEPORT: a Unix socket is refused; the port is taken by every loop,
 * so a second listen on it fails and leaves no loop listening; the next
 * listen works. */
static void reuseport_errors(void **state) {
  (void)state;
#ifdef SO_REUSEPORT
  fixture f;
  char bound[256];
  start_mode(&f, bound, sizeof(bound), "icerpc://127.0.0.1:0", 0, 1);
  char uds[128];
  snprintf(uds, sizeof(uds),
           "icerpc://localhost?transport=uds&path=/tmp/irpc-msr-%d.sock",
           (int)uv_os_getpid());
  assert_irpc_err(irpc_multi_server_listen_reuseport(f.ms, uds, NULL, 0),
                  IRPC_ENOTSUP);
  /* The hand-off's listener on the same port: the port is taken. */
  int rc = irpc_multi_server_listen(f.ms, bound, NULL, 0);
  assert_irpc_err(rc, UV_EADDRINUSE);
  char bound2[256];
  assert_irpc_ok(irpc_multi_server_listen_reuseport(
      f.ms, "icerpc://127.0.0.1:0", bound2, sizeof(bound2)));
  assert_string_not_equal(bound, bound2);
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *c = client(&loop, bound2, NULL);
  where(&loop, c);
  shutdown_while_running(&f, &loop);
  assert_irpc_ok(f.shutdown_rc);
  assert_irpc_err(
      irpc_multi_server_listen_reuseport(f.ms, "icerpc://127.0.0.1:0", NULL, 0),
      IRPC_ECLOSED);
  close_clients(&loop, &c, 1);
  irpc_multi_server_free(f.ms);
  test_loop_finish(&loop);
#endif
}

static void a_dispatch_calls_its_client_back(void **state) {
  (void)state;
  fixture f;
  char bound[256];
  start(&f, bound, sizeof(bound), "icerpc://127.0.0.1:0");
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *echo;
  assert_irpc_ok(irpc_dispatcher_new(&echo, &loop, &test_echo_ops, NULL));
  enum { N = 2 * LOOPS };
  irpc_invoker *c[N];
  for (int i = 0; i < N; i++) {
    c[i] = client(&loop, bound, echo);
    irpc_buf *p;
    assert_irpc_ok(irpc_buf_new(&p));
    net_result r = {.payload = p};
    call_sync(&loop, c[i], kit_request("/callback", NULL, 0), &r);
    assert_irpc_ok(r.err);
    assert_int_equal(r.status, IRPC_STATUS_OK);
    assert_true(irpc_buf_equals(p, "hello", 5));
    irpc_buf_free(p);
  }
  shutdown_while_running(&f, &loop);
  close_clients(&loop, c, N);
  irpc_multi_server_free(f.ms);
  for (int i = 0; i < LOOPS; i++) {
    assert_int_equal(f.loops[i].wrong_thread, 0);
    assert_int_equal(f.loops[i].callbacks_done, N / LOOPS);
  }
  irpc_dispatcher_free(echo);
  test_loop_finish(&loop);
}

static void shutdown_drains_every_loop(void **state) {
  (void)state;
  fixture f;
  char bound[256];
  start(&f, bound, sizeof(bound), "icerpc://127.0.0.1:0");
  uv_loop_t loop;
  uv_loop_init(&loop);
  enum { N = 2 * LOOPS };
  irpc_invoker *c[N];
  net_result r[N];
  memset(r, 0, sizeof(r));
  for (int i = 0; i < N; i++) {
    c[i] = client(&loop, bound, NULL);
    /* Established one by one, so that they spread evenly. */
    net_result w = {0};
    call_sync(&loop, c[i], kit_request("/where", NULL, 0), &w);
    assert_irpc_ok(w.err);
  }
  for (int i = 0; i < N; i++)
    assert_irpc_ok(irpc_invoke_owned(c[i], kit_request("/drain", NULL, 0),
                                     net_on_result, &r[i], NULL));
  /* Every "/drain" dispatch is in flight before the shutdown starts. */
  irpc_multi_server_stats total;
  int turns = 0;
  do {
    uv_run(&loop, UV_RUN_ONCE);
    irpc_multi_server_read_stats(f.ms, &total, NULL, 0);
    assert_true(++turns < 100000);
  } while (total.dispatches_current < N);
  shutdown_while_running(&f, &loop);
  assert_irpc_ok(f.shutdown_rc);
  /* Shutdown returned after the dispatches under way completed, Ok. */
  for (int i = 0; i < N; i++) {
    kit_run_until(&loop, &r[i].done);
    assert_int_equal(r[i].done, 1);
    assert_irpc_ok(r[i].err);
    assert_int_equal(r[i].status, IRPC_STATUS_OK);
  }
  irpc_multi_server_read_stats(f.ms, &total, NULL, 0);
  assert_int_equal(total.dispatches_current, 0);
  assert_int_equal(total.connections_current, 0);
  assert_int_equal(total.dispatches_failed, 0);
  assert_irpc_err(irpc_multi_server_shutdown(f.ms), IRPC_ECLOSED);
  assert_irpc_err(
      irpc_multi_server_listen(f.ms, "icerpc://127.0.0.1:0", NULL, 0),
      IRPC_ECLOSED);
  close_clients(&loop, c, N);
  irpc_multi_server_free(f.ms);
  for (int i = 0; i < LOOPS; i++) {
    assert_int_equal(f.loops[i].drained, N / LOOPS);
    assert_int_equal(f.loops[i].wrong_thread, 0);
  }
  assert_int_equal(atomic_load(&f.closed), N);
  test_loop_finish(&loop);
}

/* Runs on each loop's thread, in order. */
static void visit_fn(irpc_multi_server *ms, unsigned index, uv_loop_t *loop,
                     void *ud) {
  fixture *f = ud;
  per_loop *pl = &f->loops[index];
  if (!on_loop_thread(pl) || loop != pl->loop ||
      irpc_multi_server_server(ms, index) == NULL ||
      irpc_server_connections(irpc_multi_server_server(ms, index), NULL, 0))
    pl->wrong_thread++;
  pl->drained = (int)index + 1; /* visited, in order */
}

static void visit_and_errors(void **state) {
  (void)state;
  fixture f;
  char bound[256];
  start(&f, bound, sizeof(bound), "icerpc://127.0.0.1:0");
  assert_irpc_ok(irpc_multi_server_visit(f.ms, visit_fn, &f));
  for (int i = 0; i < LOOPS; i++) {
    assert_int_equal(f.loops[i].drained, i + 1);
    assert_int_equal(f.loops[i].wrong_thread, 0);
  }
  assert_irpc_err(irpc_multi_server_visit(f.ms, NULL, NULL), IRPC_EINVAL);
  /* Only the built-in transports, named by the address. */
  assert_irpc_err(
      irpc_multi_server_listen(f.ms, "icerpc://x?transport=memory", NULL, 0),
      IRPC_EINVAL);
  assert_irpc_err(irpc_multi_server_listen(f.ms, "not an address", NULL, 0),
                  IRPC_EINVAL);
  /* No connection: the shutdown completes at once. */
  assert_irpc_ok(irpc_multi_server_shutdown(f.ms));
  irpc_multi_server_free(f.ms);
  assert_int_equal(atomic_load(&f.released), LOOPS);

  /* Options refused. */
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  irpc_multi_server *ms;
  assert_irpc_err(irpc_multi_server_new(&ms, &o), IRPC_EINVAL); /* factory */
  o.factory = factory;
  o.loops = IRPC_MULTI_SERVER_MAX_LOOPS + 1;
  assert_irpc_err(irpc_multi_server_new(&ms, &o), IRPC_EINVAL);
  o.struct_size = 0;
  o.loops = 1;
  assert_irpc_err(irpc_multi_server_new(&ms, &o), IRPC_EINVAL);
  /* A factory failing on one loop: the others are released. */
  memset(&f, 0, sizeof(f));
  irpc_multi_server_options_init(&o);
  o.loops = LOOPS + 1; /* the factory refuses index LOOPS */
  o.factory = factory;
  o.release = release;
  o.user_data = &f;
  assert_irpc_err(irpc_multi_server_new(&ms, &o), IRPC_EINVAL);
  assert_int_equal(atomic_load(&f.built), LOOPS);
  assert_int_equal(atomic_load(&f.released), LOOPS);
}

/* max_connections counts per loop: once every loop is full, a connection
 * is refused (server busy) and leaves no count behind. */
static void max_connections_per_loop(void **state) {
  (void)state;
  fixture f;
  char bound[256];
  start_max(&f, bound, sizeof(bound), "icerpc://127.0.0.1:0", 1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *c[LOOPS + 1];
  for (int i = 0; i <= LOOPS; i++) {
    c[i] = client(&loop, bound, NULL);
    net_result r = {0};
    call_sync(&loop, c[i], kit_request("/where", NULL, 0), &r);
    if (i < LOOPS) {
      assert_irpc_ok(r.err);
    } else {
      assert_irpc_err(r.err, IRPC_ESERVERBUSY);
    }
  }
  irpc_multi_server_stats total, each[LOOPS];
  irpc_multi_server_read_stats(f.ms, &total, each, LOOPS);
  assert_int_equal(total.connections_accepted, LOOPS + 1);
  assert_int_equal(total.connections_current, LOOPS);
  for (int i = 0; i < LOOPS; i++)
    assert_true(each[i].connections_current == 1);
  shutdown_while_running(&f, &loop);
  assert_irpc_ok(f.shutdown_rc);
  close_clients(&loop, c, LOOPS + 1);
  irpc_multi_server_free(f.ms);
  assert_int_equal(atomic_load(&f.opened), LOOPS);
  assert_int_equal(atomic_load(&f.closed), LOOPS);
  test_loop_finish(&loop);
}

/* ---- Metrics of every loop, merged into one ---- */

typedef struct metered {
  irpc_router *router[LOOPS];
  irpc_dispatcher *mw[LOOPS], *echo[LOOPS];
  irpc_metrics *m[LOOPS];
  irpc_metrics *all; /* the merged one, the controller's */
  irpc_metrics_snapshot each[LOOPS];
  int merge_rc;
} metered;

static int metered_factory(uv_loop_t *loop, unsigned index,
                           irpc_dispatcher **out, void *ud) {
  metered *mt = ud;
  int rc = irpc_metrics_new(&mt->m[index], "echo");
  if (!rc)
    rc = irpc_router_new(&mt->router[index], loop);
  if (!rc)
    rc = irpc_metrics_middleware_new(&mt->mw[index], loop, mt->m[index], NULL);
  if (!rc)
    rc = irpc_router_use(mt->router[index], mt->mw[index]);
  if (!rc)
    rc = irpc_dispatcher_new(&mt->echo[index], loop, &test_echo_ops, NULL);
  if (!rc)
    rc = irpc_router_map(mt->router[index], "/echo", mt->echo[index]);
  if (!rc)
    *out = irpc_router_dispatcher(mt->router[index]);
  return rc;
}

static void metered_release(uv_loop_t *loop, unsigned index, irpc_dispatcher *d,
                            void *ud) {
  metered *mt = ud;
  (void)loop, (void)d;
  irpc_router_free(mt->router[index]); /* and its middleware */
  irpc_dispatcher_free(mt->echo[index]);
  irpc_metrics_free(mt->m[index]);
}

/* On each loop's thread: its metrics read and merged into the one. */
static void merge_fn(irpc_multi_server *ms, unsigned index, uv_loop_t *loop,
                     void *ud) {
  metered *mt = ud;
  (void)ms, (void)loop;
  irpc_metrics_read(mt->m[index], &mt->each[index]);
  int rc = irpc_metrics_merge(mt->all, mt->m[index]);
  if (rc)
    mt->merge_rc = rc;
}

static void metrics_merged_across_loops(void **state) {
  (void)state;
  static metered mt;
  memset(&mt, 0, sizeof(mt));
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  o.loops = LOOPS;
  o.factory = metered_factory;
  o.release = metered_release;
  o.user_data = &mt;
  irpc_multi_server *ms;
  assert_irpc_ok(irpc_multi_server_new(&ms, &o));
  char bound[256];
  assert_irpc_ok(
      irpc_multi_server_listen(ms, "icerpc://127.0.0.1:0", bound, 256));
  uv_loop_t loop;
  uv_loop_init(&loop);
  /* Loop 0 gets 2 connections of 3 calls, loop 1 one of 3 calls and one
   * of 1. */
  enum { N = 2 * LOOPS };
  static const int calls[N] = {3, 3, 3, 1};
  irpc_invoker *c[N];
  for (int i = 0; i < N; i++) {
    c[i] = client(&loop, bound, NULL);
    for (int k = 0; k < calls[i]; k++) {
      net_result r = {0};
      call_sync(&loop, c[i], kit_request("/echo", "x", 1), &r);
      assert_irpc_ok(r.err);
      assert_int_equal(r.status, IRPC_STATUS_OK);
    }
  }
  assert_irpc_ok(irpc_metrics_new(&mt.all, "echo"));
  assert_irpc_ok(irpc_multi_server_visit(ms, merge_fn, &mt));
  assert_irpc_ok(mt.merge_rc);
  assert_int_equal(mt.each[0].total, 6);
  assert_int_equal(mt.each[1].total, 4);
  irpc_metrics_snapshot all;
  assert_irpc_ok(irpc_metrics_read(mt.all, &all));
  assert_int_equal(all.total, 10);
  assert_int_equal(all.current, 0);
  assert_int_equal(all.failed, 0);
  assert_int_equal(all.canceled, 0);
  /* The merged latencies are those of the ten dispatches together. */
  uint64_t lo = mt.each[0].p50_ns, hi = mt.each[1].p50_ns;
  if (lo > hi) {
    uint64_t t = lo;
    lo = hi;
    hi = t;
  }
  assert_true(all.p50_ns >= lo && all.p50_ns <= hi);
  assert_int_equal(all.max_ns, mt.each[0].max_ns > mt.each[1].max_ns
                                   ? mt.each[0].max_ns
                                   : mt.each[1].max_ns);
  double sum = mt.each[0].sum_seconds + mt.each[1].sum_seconds;
  assert_true(all.sum_seconds > sum * 0.999999 &&
              all.sum_seconds < sum * 1.000001);
  /* One series in the export, with every dispatch. */
  irpc_buf *text;
  assert_irpc_ok(irpc_buf_new(&text));
  assert_irpc_ok(irpc_metrics_write_prometheus(&mt.all, 1, text));
  char out[8192] = {0};
  size_t len = irpc_buf_len(text);
  assert_true(len < sizeof(out));
  assert_irpc_ok(irpc_buf_copyout(text, 0, out, len));
  assert_non_null(strstr(out, "irpc_dispatch_requests_total{router=\"echo\"} "
                              "10\n"));
  assert_non_null(strstr(out, "irpc_dispatch_duration_seconds_count{router="
                              "\"echo\"} 10\n"));
  irpc_buf_free(text);
  /* An object does not merge into itself; calls and dispatches do not
   * mix. */
  assert_irpc_err(irpc_metrics_merge(mt.all, mt.all), IRPC_EINVAL);
  assert_irpc_err(irpc_metrics_merge(NULL, mt.all), IRPC_EINVAL);
  irpc_metrics *calls_side;
  irpc_invoker *ic;
  assert_irpc_ok(irpc_metrics_new(&calls_side, "client"));
  assert_irpc_ok(irpc_metrics_interceptor_new(&ic, &loop, calls_side, NULL));
  assert_irpc_err(irpc_metrics_merge(mt.all, calls_side), IRPC_EINVAL);
  irpc_invoker_free(ic);
  irpc_metrics_free(calls_side);
  irpc_metrics_free(mt.all);
  close_clients(&loop, c, N);
  irpc_multi_server_free(ms);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(connections_land_on_every_loop),
      cmocka_unit_test(a_dispatch_calls_its_client_back),
      cmocka_unit_test(shutdown_drains_every_loop),
      cmocka_unit_test(visit_and_errors),
      cmocka_unit_test(max_connections_per_loop),
      cmocka_unit_test(reuseport_errors),
      cmocka_unit_test(metrics_merged_across_loops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
