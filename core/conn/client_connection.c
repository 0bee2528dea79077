/* The client connection: an invoker bound to one server address that
 * connects lazily, reconnects, and retries calls a closing connection
 * refused. */
#include <string.h>

#include "connect_hooks.h"
#include "connector.h"
#include "chain/chain.h"
#include "base/list.h"
#include "irpc/address.h"
#include "irpc/alloc.h"

#define MAX_REFUSED_RETRIES 3

typedef struct cc_call {
  irpc__link link; /* in pending */
  irpc_call *call;
  struct cc *owner;
  int retries;
  int waiting;
} cc_call;

typedef struct cc_waiter {
  irpc__link link; /* in its client connection's waiters */
  irpc_client_connection_cb cb;
  void *ud;
} cc_waiter;

typedef struct cc {
  irpc_invoker *self;
  irpc_server_address *addr;
  irpc__route route;
  irpc_connection_options opts;
  irpc__proto_options popts; /* opts.icerpc and opts.ice point here */
  irpc__connector connector;
  irpc_connection *conn;     /* established or handshaking; owner ref */
  irpc_connection *draining; /* shutting down, owner ref */
  irpc__connect *connecting; /* transport connect under way */
  irpc__list pending;        /* cc_call: waiting calls, oldest first */
  irpc__list waiters;        /* cc_waiter, the latest first */
  int shut;
  int destroyed;
  irpc_client_connection_cb shutdown_cb;
  void *shutdown_ud;
  irpc__task shutdown_task;
  irpc__task notify_task;       /* connect() on an active connection */
  irpc__hooks hooks;            /* irpc_client_connection_on_connect */
  uint64_t connects;            /* connections established */
  irpc_connection *established; /* the last one, until it closes */
  int last_close_err;           /* how the last established one ended */
} cc;

static const irpc_invoker_ops cc_ops;
static void start_connect(cc *k);

static void pending_unlink(cc *k, cc_call *p) {
  irpc__list_remove(&k->pending, &p->link);
  p->waiting = 0;
}

static void notify_waiters(cc *k, int status) {
  irpc__link *l;
  while ((l = irpc__list_pop_front(&k->waiters))) {
    cc_waiter *w = IRPC__CONTAINER_OF(l, cc_waiter, link);
    w->cb(k->self, status, w->ud);
    irpc_free(w);
  }
}

/* Hands every waiting call to the connection, or fails them with err. */
static void release_pending(cc *k, int err) {
  while (k->pending.head) {
    cc_call *p = IRPC__CONTAINER_OF(k->pending.head, cc_call, link);
    pending_unlink(k, p);
    irpc_call_on_cancel(p->call, NULL, NULL);
    if (err)
      irpc_call_complete(p->call, err, NULL);
    else
      irpc_call_forward(p->call, irpc_connection_invoker(k->conn));
  }
  notify_waiters(k, err);
}

static void on_connected(irpc_connection *c, int err, void *ud) {
  cc *k = ud;
  if (c != k->conn)
    return;
  if (err) {
    /* on_closed follows and drops the connection */
    release_pending(k, err);
    return;
  }
  k->established = c;
  irpc_connect_event ev = {.connection = c,
                           .server_address = k->addr,
                           .count = ++k->connects,
                           .reconnected = k->connects > 1,
                           .previous_error = k->last_close_err};
  /* Before the waiting calls: what the hooks send goes first. Not once
   * the application shut the client connection down. */
  if (!k->shut)
    irpc__hooks_fire(&k->hooks, k->self, &ev);
  release_pending(k, k->conn == c ? 0 : IRPC_ECLOSED);
}

static void on_shutdown_requested(irpc_connection *c, void *ud) {
  cc *k = ud;
  if (c == k->conn) {
    k->conn = NULL;
    if (k->draining) {
      irpc__connection_disown(k->draining);
      irpc_connection_unref(k->draining);
    }
    k->draining = c;
  }
  irpc_connection_shutdown(c, NULL, NULL);
}

/* The callbacks of connect() calls made while connected, on a later turn
 * (a callback never runs inside the call that registered it). */
static void notify_task(irpc__task *t) {
  cc *k = IRPC__CONTAINER_OF(t, cc, notify_task);
  if (k->conn && irpc_connection_is_active(k->conn))
    notify_waiters(k, 0);
}

static void shutdown_task(irpc__task *t) {
  cc *k = IRPC__CONTAINER_OF(t, cc, shutdown_task);
  irpc_client_connection_cb cb = k->shutdown_cb;
  k->shutdown_cb = NULL;
  if (cb)
    cb(k->self, 0, k->shutdown_ud);
}

static void on_closed(irpc_connection *c, int err, void *ud) {
  cc *k = ud;
  if (c == k->established) {
    k->established = NULL;
    k->last_close_err = err;
  }
  if (c == k->conn) {
    k->conn = NULL;
    if (k->pending.head && !k->shut)
      start_connect(k); /* calls arrived while it was closing */
  } else if (c == k->draining) {
    k->draining = NULL;
  }
  irpc_connection_unref(c);
  if (k->shut && !k->conn && !k->draining && !k->connecting && k->shutdown_cb)
    irpc__sched_post(k->self->node.sched, &k->shutdown_task);
}

static const irpc__conn_owner cc_owner = {
    .on_connected = on_connected,
    .on_shutdown_requested = on_shutdown_requested,
    .on_closed = on_closed,
};

/* The connector's answer: the connection (handshaking) or the connect
 * error. */
static void on_connect(irpc_connection *c, int err, void *ud) {
  cc *k = ud;
  k->connecting = NULL;
  k->conn = c;
  if (err) {
    release_pending(k, err);
    if (k->shut && k->shutdown_cb)
      irpc__sched_post(k->self->node.sched, &k->shutdown_task);
  }
}

static void start_connect(cc *k) {
  if (k->conn || k->connecting)
    return;
  int rc =
      irpc__connect_start(&k->connector, k->addr, &k->route, k, &k->connecting);
  if (rc)
    release_pending(k, rc);
}

static void pending_cancel(irpc_call *call, int err, void *ud) {
  cc_call *p = ud;
  pending_unlink(p->owner, p);
  irpc_call_complete(call, err, NULL);
}

static void cc_send(cc *k, cc_call *p) {
  if (k->conn && irpc_connection_is_active(k->conn)) {
    irpc_call_forward(p->call, irpc_connection_invoker(k->conn));
    return;
  }
  p->waiting = 1;
  /* calls go out in the order they came */
  irpc__list_push_back(&k->pending, &p->link);
  irpc_call_on_cancel(p->call, pending_cancel, p);
  start_connect(k);
}

static void cc_invoke(irpc_invoker *self, irpc_call *call) {
  cc *k = irpc_invoker_data(self);
  cc_call *p = irpc_call_state(call);
  p->call = call;
  p->owner = k;
  if (k->shut) {
    irpc_call_complete(call, IRPC_ECLOSED, NULL);
    return;
  }
  cc_send(k, p);
}

/* A call the connection refused before sending it goes again, on the next
 * connection. */
static int cc_on_complete(irpc_invoker *self, irpc_call *call) {
  cc *k = irpc_invoker_data(self);
  cc_call *p = irpc_call_state(call);
  int err;
  irpc_call_result(call, &err, NULL);
  if (err != IRPC_EREFUSED || k->shut || k->destroyed ||
      p->retries >= MAX_REFUSED_RETRIES)
    return 0;
  p->retries++;
  cc_send(k, p);
  return IRPC_CALL_HOLD;
}

static int cc_init(irpc_invoker *self, const void *config) {
  cc *k = irpc_invoker_data(self);
  k->self = self;
  (void)config;
  k->connector.loop = self->node.loop;
  k->connector.sched = self->node.sched;
  k->connector.options = &k->opts;
  k->connector.owner = &cc_owner;
  k->connector.done = on_connect;
  k->shutdown_task.fn = shutdown_task;
  k->notify_task.fn = notify_task;
  return 0;
}

static void drop_conn(irpc_connection *c) {
  if (!c)
    return;
  irpc__connection_disown(c);
  irpc_connection_abort(c, UV_ECONNABORTED);
  irpc_connection_unref(c);
}

static void cc_destroy(irpc_invoker *self) {
  cc *k = irpc_invoker_data(self);
  k->destroyed = 1;
  k->shut = 1;
  irpc__sched_cancel(self->node.sched, &k->notify_task);
  irpc__sched_cancel(self->node.sched, &k->shutdown_task);
  release_pending(k, IRPC_EABORTED);
  if (k->connecting) {
    irpc__connect_cancel(k->connecting);
    k->connecting = NULL;
  }
  irpc_connection *c = k->conn, *dr = k->draining;
  k->conn = k->draining = NULL;
  drop_conn(c);
  drop_conn(dr);
  irpc__hooks_fini(&k->hooks);
  irpc_server_address_free(k->addr);
}

static const irpc_invoker_ops cc_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "client-connection",
    .data_size = sizeof(cc),
    .call_state_size = sizeof(cc_call),
    .init = cc_init,
    .invoke = cc_invoke,
    .on_complete = cc_on_complete,
    .destroy = cc_destroy,
};

int irpc_client_connection_new(irpc_invoker **out, uv_loop_t *loop,
                               const char *server_address,
                               const irpc_connection_options *opts) {
  if (!out || !loop || !server_address)
    return IRPC_EINVAL;
  irpc_connection_options o;
  irpc__proto_options po;
  if (irpc__connection_options_import(&o, &po, opts, 0))
    return IRPC_EINVAL;
  irpc_server_address *a;
  int rc = irpc_server_address_parse(&a, server_address);
  if (rc)
    return rc;
  irpc__route route;
  rc = irpc__route_pick(a, &o, 1, &route);
  if (rc == 0)
    rc = irpc_invoker_new(out, loop, &cc_ops, NULL);
  if (rc) {
    irpc_server_address_free(a);
    return rc;
  }
  cc *k = irpc_invoker_data(*out);
  k->addr = a;
  k->route = route;
  k->opts = o;
  k->popts = po;
  irpc__proto_options_point(&k->opts, &k->popts);
  return 0;
}

static cc *cc_of(irpc_invoker *inv) {
  return inv && inv->node.ops == &cc_ops ? irpc_invoker_data(inv) : NULL;
}

int irpc_client_connection_connect(irpc_invoker *inv,
                                   irpc_client_connection_cb cb,
                                   void *user_data) {
  cc *k = cc_of(inv);
  if (!k)
    return IRPC_EINVAL;
  if (k->shut)
    return IRPC_ECLOSED;
  if (cb) {
    cc_waiter *w = irpc_malloc(sizeof(*w));
    if (!w)
      return IRPC_ENOMEM;
    w->cb = cb;
    w->ud = user_data;
    irpc__list_push_front(&k->waiters, &w->link);
  }
  if (k->conn && irpc_connection_is_active(k->conn)) {
    irpc__sched_post(inv->node.sched, &k->notify_task);
    return 0;
  }
  start_connect(k);
  return 0;
}

irpc_connection *irpc_client_connection_connection(irpc_invoker *inv) {
  cc *k = cc_of(inv);
  return k ? k->conn : NULL;
}

int irpc_client_connection_shutdown(irpc_invoker *inv,
                                    irpc_client_connection_cb cb,
                                    void *user_data) {
  cc *k = cc_of(inv);
  if (!k)
    return IRPC_EINVAL;
  if (k->shut)
    return IRPC_ECLOSED;
  k->shut = 1;
  k->shutdown_cb = cb;
  k->shutdown_ud = user_data;
  release_pending(k, IRPC_ECLOSED);
  if (k->connecting)
    irpc__connect_stop(k->connecting);
  if (k->conn)
    irpc_connection_shutdown(k->conn, NULL, NULL);
  if (!k->conn && !k->draining && !k->connecting && cb)
    irpc__sched_post(inv->node.sched, &k->shutdown_task);
  return 0;
}

long irpc_client_connection_on_connect(irpc_invoker *inv, irpc_connect_hook cb,
                                       void *user_data) {
  cc *k = cc_of(inv);
  return k ? irpc__hooks_add(&k->hooks, cb, user_data) : IRPC_EINVAL;
}

void irpc_client_connection_off_connect(irpc_invoker *inv, long token) {
  cc *k = cc_of(inv);
  if (k)
    irpc__hooks_remove(&k->hooks, token);
}
