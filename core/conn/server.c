/* The server: listeners in, connections out to one dispatcher. */
#include <string.h>

#include "connector.h"
#include "chain/chain.h"
#include "base/list.h"
#include "irpc/address.h"
#include "irpc/alloc.h"
#include "irpc/server.h"
#include "server_internal.h"
#include "base/struct_size.h"

typedef struct lnode {
  irpc__link link; /* in its server's listeners */
  irpc_listener *l;
  irpc_server *s;
  irpc__route route; /* of the listened-to address */
} lnode;

typedef struct cnode {
  irpc__link link; /* in conns */
  irpc_connection *c;
} cnode;

static cnode *cnode_of(irpc__link *l) {
  return l ? IRPC__CONTAINER_OF(l, cnode, link) : NULL;
}

struct irpc_server {
  uv_loop_t *loop;
  irpc__sched *sched;
  irpc_dispatcher *dispatcher;
  irpc_server_options opts;
  irpc__proto_options popts; /* opts.connection.icerpc and .ice point here */
  irpc__list listeners;      /* lnode, the latest first */
  size_t nlisteners;         /* still open, including closing ones */
  irpc__list conns;          /* cnode, oldest first */
  int shutting_down;
  int freed;
  int status;
  irpc_server_shutdown_cb shutdown_cb;
  void *shutdown_ud;
  irpc_server_connection_cb on_open, on_close;
  void *cb_ud;
  irpc__task done_task;
};

void irpc_server_options_init_sized(irpc_server_options *o, size_t size) {
  irpc_server_options d;
  memset(&d, 0, sizeof(d));
  irpc_connection_options_init(&d.connection);
  irpc__struct_export(o, size, &d, sizeof(d));
}

static void maybe_destroy(irpc_server *s) {
  if (!s->freed || s->nlisteners || s->conns.len || s->done_task.queued)
    return;
  irpc__sched_release(s->sched);
  irpc_free(s);
}

static void done_task(irpc__task *t) {
  irpc_server *s = IRPC__CONTAINER_OF(t, irpc_server, done_task);
  irpc_server_shutdown_cb cb = s->shutdown_cb;
  s->shutdown_cb = NULL;
  if (cb && !s->freed)
    cb(s, s->status, s->shutdown_ud);
  maybe_destroy(s);
}

static void maybe_shutdown_done(irpc_server *s) {
  if (s->shutting_down && !s->listeners.head && !s->conns.len && s->shutdown_cb)
    irpc__sched_post(s->sched, &s->done_task);
}

static cnode *find_node(irpc_server *s, irpc_connection *c) {
  for (cnode *n = cnode_of(s->conns.head); n; n = cnode_of(n->link.next))
    if (n->c == c)
      return n;
  return NULL;
}

static void conn_connected(irpc_connection *c, int err, void *ud) {
  irpc_server *s = ud;
  if (err == 0 && s->on_open && !s->freed)
    s->on_open(s, c, 0, s->cb_ud);
}

static void conn_shutdown_requested(irpc_connection *c, void *ud) {
  (void)ud;
  irpc_connection_shutdown(c, NULL, NULL);
}

static void conn_closed(irpc_connection *c, int err, void *ud) {
  irpc_server *s = ud;
  cnode *n = find_node(s, c);
  if (n) {
    irpc__list_remove(&s->conns, &n->link);
    irpc_free(n);
  }
  if (s->on_close && !s->freed)
    s->on_close(s, c, err, s->cb_ud);
  if (s->shutting_down && irpc__connection_shutdown_status(c) == IRPC_ETIMEDOUT)
    s->status = IRPC_ETIMEDOUT;
  irpc_connection_unref(c);
  maybe_shutdown_done(s);
  maybe_destroy(s);
}

static const irpc__conn_owner server_owner = {
    .on_connected = conn_connected,
    .on_shutdown_requested = conn_shutdown_requested,
    .on_closed = conn_closed,
};

int irpc__server_adopt(irpc_server *s, const irpc__route *route,
                       irpc_duplex *d) {
  cnode *n = irpc_calloc(1, sizeof(*n));
  if (!n) {
    irpc_duplex_close(d, NULL, NULL);
    return IRPC_ENOMEM;
  }
  irpc_connection_options o = s->opts.connection;
  o.dispatcher = s->dispatcher;
  int refuse = s->shutting_down || (s->opts.max_connections &&
                                    s->conns.len >= s->opts.max_connections);
  int rc = irpc__route_open(route, &n->c, d, 0, &o,
                            refuse ? NULL : &server_owner, s);
  if (rc != 0) {
    irpc_free(n);
    return rc;
  }
  if (refuse) {
    irpc__connection_refuse(n->c, s->shutting_down ? IRPC__REFUSE_CLOSING
                                                   : IRPC__REFUSE_SERVER_BUSY);
    irpc_connection_unref(n->c); /* it closes itself */
    irpc_free(n);
    return IRPC_ESERVERBUSY;
  }
  irpc__list_push_back(&s->conns, &n->link);
  return 0;
}

static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  lnode *ln = ud;
  (void)l;
  irpc__server_adopt(ln->s, &ln->route, d);
}

int irpc_server_new(irpc_server **out, uv_loop_t *loop,
                    irpc_dispatcher *dispatcher,
                    const irpc_server_options *opts) {
  if (!out || !loop || !dispatcher || dispatcher->node.loop != loop)
    return IRPC_EINVAL;
  irpc_server_options o;
  if (opts) {
    if (IRPC__IMPORT(&o, opts, irpc_server_options) < 0)
      return IRPC_EINVAL;
  } else {
    irpc_server_options_init(&o);
  }
  irpc__proto_options po;
  if (irpc__connection_options_import(&o.connection, &po, &o.connection, 1))
    return IRPC_EINVAL;
  irpc_server *s = irpc_calloc(1, sizeof(*s));
  if (!s)
    return IRPC_ENOMEM;
  s->sched = irpc__sched_acquire(loop);
  if (!s->sched) {
    irpc_free(s);
    return IRPC_ENOMEM;
  }
  s->loop = loop;
  s->dispatcher = dispatcher;
  s->opts = o;
  s->popts = po;
  irpc__proto_options_point(&s->opts.connection, &s->popts);
  s->done_task.fn = done_task;
  *out = s;
  return 0;
}

int irpc_server_listen(irpc_server *s, const char *address, char *bound,
                       size_t bound_len) {
  if (!s || !address)
    return IRPC_EINVAL;
  if (s->shutting_down)
    return IRPC_ECLOSED;
  irpc_server_address *a;
  int rc = irpc_server_address_parse(&a, address);
  if (rc)
    return rc;
  irpc__route route;
  lnode *ln = NULL;
  rc = irpc__route_pick(a, &s->opts.connection, 0, &route);
  if (rc == 0) {
    ln = irpc_calloc(1, sizeof(*ln));
    rc = ln ? 0 : IRPC_ENOMEM;
  }
  if (rc == 0) {
    ln->s = s;
    ln->route = route;
    rc = irpc_transport_listen(route.transport, s->loop, a, on_accept, ln,
                               &ln->l);
  }
  irpc_server_address_free(a);
  if (rc) {
    irpc_free(ln);
    return rc;
  }
  irpc__list_push_front(&s->listeners, &ln->link);
  s->nlisteners++;
  if (bound)
    rc = irpc_server_address_format(irpc_listener_address(ln->l), bound,
                                    bound_len);
  return rc;
}

size_t irpc_server_connections(irpc_server *s, irpc_connection **out,
                               size_t cap) {
  if (!s)
    return 0;
  size_t i = 0;
  for (cnode *n = cnode_of(s->conns.head); n && out && i < cap;
       n = cnode_of(n->link.next))
    out[i++] = n->c;
  return s->conns.len;
}

irpc_connection *irpc_server_find_connection(irpc_server *s, uint64_t id) {
  for (cnode *n = s ? cnode_of(s->conns.head) : NULL; n;
       n = cnode_of(n->link.next))
    if (irpc_connection_id(n->c) == id)
      return n->c;
  return NULL;
}

void irpc_server_on_connection(irpc_server *s,
                               irpc_server_connection_cb on_open,
                               irpc_server_connection_cb on_close,
                               void *user_data) {
  if (!s)
    return;
  s->on_open = on_open;
  s->on_close = on_close;
  s->cb_ud = user_data;
}

static void listener_closed(irpc_listener *l, void *ud) {
  irpc_server *s = ud;
  (void)l;
  s->nlisteners--;
  maybe_destroy(s);
}

static void close_listeners(irpc_server *s) {
  irpc__link *l;
  while ((l = irpc__list_pop_front(&s->listeners))) {
    lnode *ln = IRPC__CONTAINER_OF(l, lnode, link);
    irpc_listener_close(ln->l, listener_closed, s);
    irpc_free(ln);
  }
}

int irpc_server_shutdown(irpc_server *s, irpc_server_shutdown_cb cb,
                         void *user_data) {
  if (!s)
    return IRPC_EINVAL;
  if (s->shutting_down)
    return IRPC_ECLOSED;
  s->shutting_down = 1;
  s->shutdown_cb = cb;
  s->shutdown_ud = user_data;
  close_listeners(s);
  for (cnode *n = cnode_of(s->conns.head); n; n = cnode_of(n->link.next))
    irpc_connection_shutdown(n->c, NULL, NULL);
  if (!s->conns.len)
    irpc__sched_post(s->sched, &s->done_task);
  return 0;
}

void irpc_server_free(irpc_server *s) {
  if (!s)
    return;
  s->freed = 1;
  s->shutting_down = 1;
  s->shutdown_cb = NULL;
  close_listeners(s);
  for (cnode *n = cnode_of(s->conns.head); n; n = cnode_of(n->link.next))
    irpc_connection_abort(n->c, UV_ECONNABORTED);
  maybe_destroy(s);
}
