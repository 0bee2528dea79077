/* The connection cache (see irpc/connection_cache.h): one client connection
 * per server address, requests routed to the server addresses of their
 * target, the main one first and the alt-servers when connecting fails.
 *
 * Three kinds of objects:
 *   - an entry (ce) per server address: connecting (transport, then
 *     handshake) or active while it is in the map; once its connection is
 *     asked to shut down, fails or dies it moves to the draining list until
 *     the connection has closed;
 *   - the per-attempt state of a call (cc_call, the invoker's call state):
 *     which entry it waits on, how many addresses it tried;
 *   - the server addresses of a call (target), which must survive from one
 *     attempt to the next (the retry interceptor removes the address that
 *     answered Unavailable between them). The call state is zeroed at each
 *     attempt, so the target lives on the heap, is set as the request's
 *     irpc_server_addresses_feature, and is released when the call
 *     delivers its result: the cache puts itself in front of the call's
 *     completion callback the first time the call reaches it. */
#include <string.h>

#include "connect_hooks.h"
#include "connector.h"
#include "chain/chain.h"
#include "base/list.h"
#include "irpc/alloc.h"
#include "irpc/connection_cache.h"
#include "irpc/server_addresses.h"
#include "base/struct_size.h"

#define MAX_REFUSED_RETRIES 3

const irpc_feature_key irpc_service_address_feature = {
    .name = "service_address", .destroy = NULL};

/* ---- Types ---- */

typedef struct cache cache;
typedef struct ce ce;

/* The server addresses of one call; the value of the request's
 * irpc_server_addresses_feature while the call is under way. addr[0] is
 * the address the last attempt used. */
typedef struct target {
  irpc_server_addresses base; /* first: the feature value */
  irpc_call *call;
  irpc_invoke_cb cb; /* the call's own completion */
  void *ud;
  void *saved; /* a value the application had set, put back at the end */
  size_t n;
  const irpc_server_address *addr[];
} target;

typedef struct cc_call {
  irpc__link link; /* on an entry's waiting list, or a local one */
  irpc__list *on;  /* the list it is on, or NULL */
  irpc_call *call;
  target *t;
  irpc_connection *conn; /* the connection the attempt was sent on */
  size_t tried;          /* addresses tried to connect in this pass */
  int refused;           /* times a connection refused it before sending */
  int err;               /* the last connect error */
} cc_call;

enum { WHERE_NONE, WHERE_MAP, WHERE_DRAINING };

/* What the cache remembers of a server address it was connected to, for
 * the connect hooks: how many connections, how the last one ended.
 * Most recently connected last; at most HISTORY_MAX. */
typedef struct seen_addr {
  irpc__link link;
  irpc_server_address *addr;
  uint64_t count;
  int last_close_err;
} seen_addr;

struct ce {
  irpc__link link;
  int where;
  cache *k;
  irpc_server_address *addr;
  irpc__connect *connecting; /* transport connect under way */
  irpc_connection *conn;     /* handshaking or established; owner ref */
  int active;                /* the handshake succeeded */
  seen_addr *seen;           /* its history, once active */
  irpc__list waiting;        /* cc_call waiting for the connection */
};

/* The pending shutdown callback; outlives the cache when the cache is
 * freed while it is posted. */
typedef struct cc_done {
  irpc__task task;
  irpc__sched *sched; /* own reference */
  cache *k;
  irpc_connection_cache_cb cb;
  void *ud;
} cc_done;

struct cache {
  irpc_invoker *self;
  irpc_connection_options copts;
  irpc__proto_options popts; /* copts.icerpc and copts.ice point here */
  irpc__connector connector;
  int prefer;
  uint64_t max_conns;
  irpc_service_address *def;
  irpc__list map;      /* ce: connecting or active, oldest first */
  irpc__list draining; /* ce: shutting down or closing */
  int shut;
  int destroyed;
  int shut_status;
  cc_done *done;
  irpc__hooks hooks;  /* irpc_connection_cache_on_connect */
  irpc__list history; /* seen_addr */
};

static const irpc_invoker_ops cache_ops;
static void connect_next(cache *k, cc_call *p);
static void maybe_done(cache *k);

/* ---- Targets ---- */

/* IRPC_EINVAL without server address, IRPC_ELIMIT with too many. */
static int target_check(const irpc_service_address *sa) {
  size_t n = irpc_service_address_server_count(sa);
  if (n == 0)
    return IRPC_EINVAL;
  return n > IRPC_CONNECTION_CACHE_MAX_SERVERS ? IRPC_ELIMIT : 0;
}

/* IRPC_EPROTONOSUPPORT for a protocol this build does not speak: the
 * call fails before any connect. */
static int target_protocol(const irpc_service_address *sa) {
  const irpc__protocol_ops *p;
  return irpc__protocol_pick(irpc_service_address_protocol(sa), &p);
}

static int target_remove_current(irpc_server_addresses *self) {
  target *t = (target *)self;
  if (t->n) {
    memmove(t->addr, t->addr + 1, (t->n - 1) * sizeof(t->addr[0]));
    t->n--;
  }
  return t->n > 0;
}

/* addr[i] becomes the first, the others keep their order. */
static void target_move_front(target *t, size_t i) {
  const irpc_server_address *a = t->addr[i];
  memmove(t->addr + 1, t->addr, i * sizeof(t->addr[0]));
  t->addr[0] = a;
}

/* The first address goes last. */
static void target_rotate(target *t) {
  const irpc_server_address *a = t->addr[0];
  memmove(t->addr, t->addr + 1, (t->n - 1) * sizeof(t->addr[0]));
  t->addr[t->n - 1] = a;
}

/* Runs in place of the call's completion callback: releases the target,
 * then calls the real one. */
static void target_done(irpc_call *call, int err, irpc_incoming_response *resp,
                        void *ud) {
  target *t = ud;
  irpc_features *f = irpc_outgoing_request_features(irpc_call_request(call));
  if (irpc_features_get(f, &irpc_server_addresses_feature) == t)
    irpc_features_set(f, &irpc_server_addresses_feature, t->saved);
  irpc_invoke_cb cb = t->cb;
  void *cb_ud = t->ud;
  irpc_free(t);
  cb(call, err, resp, cb_ud);
}

static int target_new(cache *k, irpc_call *call, irpc_features *f, void *saved,
                      target **out) {
  const irpc_service_address *sa =
      irpc_features_get(f, &irpc_service_address_feature);
  if (!sa)
    sa = k->def;
  if (!sa)
    return IRPC_EINVAL;
  int rc = target_check(sa);
  if (rc == 0)
    rc = target_protocol(sa);
  if (rc)
    return rc;
  size_t n = irpc_service_address_server_count(sa);
  target *t = irpc_calloc(1, sizeof(*t) + n * sizeof(t->addr[0]));
  if (!t)
    return IRPC_ENOMEM;
  t->base.remove_current = target_remove_current;
  for (size_t i = 0; i < n; i++) {
    const irpc_server_address *a = irpc_service_address_server(sa, i);
    size_t j = 0;
    while (j < t->n && !irpc_server_address_equal(t->addr[j], a))
      j++;
    if (j == t->n)
      t->addr[t->n++] = a;
  }
  rc = irpc_features_set(f, &irpc_server_addresses_feature, t);
  if (rc) {
    irpc_free(t);
    return rc;
  }
  t->call = call;
  t->saved = saved;
  t->cb = (irpc_invoke_cb)call->c.user_cb;
  t->ud = call->c.user_data;
  call->c.user_cb = (void (*)(void))target_done;
  call->c.user_data = t;
  *out = t;
  return 0;
}

/* The target of the call: made at its first attempt, found at the next. */
static int target_get(cache *k, irpc_call *call, target **out) {
  irpc_features *f = irpc_outgoing_request_features(irpc_call_request(call));
  irpc_server_addresses *cur =
      irpc_features_get(f, &irpc_server_addresses_feature);
  if (cur && cur->remove_current == target_remove_current) {
    target *t = (target *)cur;
    if (t->call != call)
      return IRPC_EBUSY;
    *out = t;
    return 0;
  }
  return target_new(k, call, f, cur, out);
}

/* ---- Entries ---- */

static int ce_active(const ce *e) {
  return e->active && irpc_connection_is_active(e->conn);
}

static void ce_free(ce *e) {
  irpc_server_address_free(e->addr);
  irpc_free(e);
}

static void ce_unlist(ce *e) {
  if (e->where == WHERE_MAP)
    irpc__list_remove(&e->k->map, &e->link);
  else if (e->where == WHERE_DRAINING)
    irpc__list_remove(&e->k->draining, &e->link);
  e->where = WHERE_NONE;
}

/* Out of the map: no new call goes to it. With a connection, it waits in
 * the draining list for on_closed; without, it is freed. */
static void ce_detach(ce *e) {
  cache *k = e->k;
  ce_unlist(e);
  if (e->conn) {
    irpc__list_push_back(&k->draining, &e->link);
    e->where = WHERE_DRAINING;
  } else if (!e->connecting) {
    ce_free(e);
  }
}

/* The map entry for `a`; an entry whose connection stopped being active
 * without telling us yet is detached on the way. */
static ce *ce_find(cache *k, const irpc_server_address *a) {
  for (irpc__link *l = k->map.head; l; l = l->next) {
    ce *e = IRPC__CONTAINER_OF(l, ce, link);
    if (!irpc_server_address_equal(e->addr, a))
      continue;
    if (e->active && !irpc_connection_is_active(e->conn)) {
      ce_detach(e);
      return NULL;
    }
    return e;
  }
  return NULL;
}

/* Detaches the established entries whose connection is no longer active
 * (they still count in the map until their owner callbacks run). */
static void ce_sweep(cache *k) {
  irpc__link *l = k->map.head;
  while (l) {
    ce *e = IRPC__CONTAINER_OF(l, ce, link);
    l = l->next;
    if (e->active && !irpc_connection_is_active(e->conn))
      ce_detach(e);
  }
}

/* ---- Calls waiting for a connection ---- */

static void wait_cancel(irpc_call *call, int err, void *ud) {
  cc_call *p = ud;
  if (p->on)
    irpc__list_remove(p->on, &p->link);
  p->on = NULL;
  irpc_call_complete(call, err, NULL);
}

static void wait_on(ce *e, cc_call *p) {
  irpc__list_push_back(&e->waiting, &p->link);
  p->on = &e->waiting;
  irpc_call_on_cancel(p->call, wait_cancel, p);
}

static void send_on(ce *e, cc_call *p) {
  p->conn = e->conn;
  irpc_call_forward(p->call, irpc_connection_invoker(e->conn));
}

/* Takes the waiting calls of `e` one by one, safe against a call being
 * canceled (or the list changing) while an earlier one is handled. */
static cc_call *take_next(irpc__list *l) {
  if (!l->head)
    return NULL;
  cc_call *p = IRPC__CONTAINER_OF(l->head, cc_call, link);
  irpc__list_remove(l, &p->link);
  p->on = NULL;
  return p;
}

/* The connect to `e` failed with `err`: its calls move on to their next
 * address. */
static void ce_failed(ce *e, int err) {
  cache *k = e->k;
  irpc__list local;
  irpc__list_take(&local, &e->waiting);
  for (irpc__link *l = local.head; l; l = l->next)
    IRPC__CONTAINER_OF(l, cc_call, link)->on = &local;
  ce_detach(e);
  cc_call *p;
  while ((p = take_next(&local))) {
    p->err = err;
    connect_next(k, p);
  }
  maybe_done(k);
}

/* ---- Connect hooks ---- */

static void seen_free(seen_addr *s) {
  irpc_server_address_free(s->addr);
  irpc_free(s);
}

/* The history of `a`, moved to the end (most recent), or a new one (the
 * oldest is forgotten when HISTORY_MAX are kept). NULL when out of
 * memory. */
static seen_addr *seen_get(cache *k, const irpc_server_address *a) {
  for (irpc__link *l = k->history.head; l; l = l->next) {
    seen_addr *s = IRPC__CONTAINER_OF(l, seen_addr, link);
    if (irpc_server_address_equal(s->addr, a)) {
      irpc__list_remove(&k->history, l);
      irpc__list_push_back(&k->history, l);
      return s;
    }
  }
  seen_addr *s = irpc_calloc(1, sizeof(*s));
  if (!s || irpc_server_address_clone(&s->addr, a) != 0) {
    irpc_free(s);
    return NULL;
  }
  if (k->history.len >= IRPC_CONNECTION_CACHE_HISTORY_MAX) {
    seen_addr *old = IRPC__CONTAINER_OF(k->history.head, seen_addr, link);
    irpc__list_remove(&k->history, &old->link);
    for (irpc__link *l = k->map.head; l; l = l->next)
      if (IRPC__CONTAINER_OF(l, ce, link)->seen == old)
        IRPC__CONTAINER_OF(l, ce, link)->seen = NULL;
    for (irpc__link *l = k->draining.head; l; l = l->next)
      if (IRPC__CONTAINER_OF(l, ce, link)->seen == old)
        IRPC__CONTAINER_OF(l, ce, link)->seen = NULL;
    seen_free(old);
  }
  irpc__list_push_back(&k->history, &s->link);
  return s;
}

/* The connection of `e` is established: count it and run the hooks. */
static void fire_hooks(ce *e) {
  cache *k = e->k;
  e->seen = seen_get(k, e->addr);
  uint64_t count = e->seen ? ++e->seen->count : 1;
  irpc_connect_event ev = {
      .connection = e->conn,
      .server_address = e->addr,
      .count = count,
      .reconnected = count > 1,
      .previous_error = e->seen && count > 1 ? e->seen->last_close_err : 0};
  if (!k->shut) /* not once the application shut the cache down */
    irpc__hooks_fire(&k->hooks, k->self, &ev);
}

static void on_connected(irpc_connection *c, int err, void *ud) {
  ce *e = ud;
  (void)c;
  if (err) {
    ce_failed(e, err); /* on_closed follows */
    return;
  }
  e->active = 1;
  fire_hooks(e);
  irpc__list local;
  irpc__list_take(&local, &e->waiting);
  for (irpc__link *l = local.head; l; l = l->next)
    IRPC__CONTAINER_OF(l, cc_call, link)->on = &local;
  cc_call *p;
  while ((p = take_next(&local))) {
    if (ce_active(e))
      send_on(e, p);
    else
      connect_next(e->k, p);
  }
}

static void on_shutdown_requested(irpc_connection *c, void *ud) {
  ce *e = ud;
  if (e->where == WHERE_MAP)
    ce_detach(e);
  irpc_connection_shutdown(c, NULL, NULL);
}

static void on_closed(irpc_connection *c, int err, void *ud) {
  ce *e = ud;
  cache *k = e->k;
  if (k->shut && !k->shut_status && err != IRPC_ECLOSED &&
      err != IRPC_ECLOSEDBYPEER)
    k->shut_status = err;
  if (e->seen)
    e->seen->last_close_err = err;
  ce_unlist(e);
  irpc_connection_unref(c);
  ce_free(e);
  maybe_done(k);
}

static const irpc__conn_owner ce_owner = {
    .on_connected = on_connected,
    .on_shutdown_requested = on_shutdown_requested,
    .on_closed = on_closed,
};

/* The connector's answer: the connection (handshaking) or the connect
 * error. */
static void on_connect(irpc_connection *c, int err, void *ud) {
  ce *e = ud;
  e->connecting = NULL;
  e->conn = c;
  if (err)
    ce_failed(e, err);
}

/* A new entry connecting to `a`, in the map.
 * Errors: IRPC_ELIMIT, IRPC_EINVAL (unknown transport, unusable address),
 * IRPC_EPROTONOSUPPORT, IRPC_ENOMEM, the transport's errors. */
static int ce_new(cache *k, const irpc_server_address *a, ce **out) {
  if (k->max_conns && k->map.len >= k->max_conns)
    ce_sweep(k);
  if (k->max_conns && k->map.len >= k->max_conns)
    return IRPC_ELIMIT;
  irpc__route route;
  int rc = irpc__route_pick(a, &k->copts, 1, &route);
  if (rc)
    return rc;
  ce *e = irpc_calloc(1, sizeof(*e));
  if (!e)
    return IRPC_ENOMEM;
  e->k = k;
  rc = irpc_server_address_clone(&e->addr, a);
  if (rc == 0)
    rc = irpc__connect_start(&k->connector, a, &route, e, &e->connecting);
  if (rc) {
    ce_free(e);
    return rc;
  }
  irpc__list_push_back(&k->map, &e->link);
  e->where = WHERE_MAP;
  *out = e;
  return 0;
}

/* ---- Routing ---- */

/* Connects to (or waits for, or uses) the call's next address; after the
 * first, each address tried goes to the end of the list (IceRPC's
 * rotation). Fails the call with the last error once every address was
 * tried. */
static void connect_next(cache *k, cc_call *p) {
  target *t = p->t;
  while (!k->shut && p->tried < t->n) {
    if (p->tried > 0)
      target_rotate(t);
    p->tried++;
    ce *e = ce_find(k, t->addr[0]);
    if (e && e->active) {
      send_on(e, p);
      return;
    }
    int rc = e ? 0 : ce_new(k, t->addr[0], &e);
    if (rc == 0) {
      wait_on(e, p);
      return;
    }
    p->err = rc;
    if (rc == IRPC_ENOMEM)
      break;
  }
  int err = k->shut ? IRPC_ECLOSED : p->err ? p->err : IRPC_ENOCONN;
  irpc_call_complete(p->call, err, NULL);
}

/* One attempt of a call. */
static void route(cache *k, cc_call *p) {
  target *t = p->t;
  if (t->n == 0) {
    irpc_call_complete(p->call, IRPC_ENOCONN, NULL);
    return;
  }
  if (k->prefer) {
    for (size_t i = 0; i < t->n; i++) {
      ce *e = ce_find(k, t->addr[i]);
      if (e && e->active) {
        target_move_front(t, i);
        send_on(e, p);
        return;
      }
    }
  }
  p->tried = 0;
  p->err = 0;
  connect_next(k, p);
}

static void cache_invoke(irpc_invoker *self, irpc_call *call) {
  cache *k = irpc_invoker_data(self);
  cc_call *p = irpc_call_state(call);
  p->call = call;
  int rc = k->shut ? IRPC_ECLOSED : target_get(k, call, &p->t);
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  route(k, p);
}

/* The errors of a call that say its connection is gone or going. */
static int connection_lost(int err) {
  switch (err) {
  case UV_ECONNABORTED:
  case UV_ECONNRESET:
  case UV_EPIPE:
  case UV_ETIMEDOUT:
  case IRPC_ECLOSEDBYPEER:
  case IRPC_EIDLE:
  case IRPC_ECLOSED:
  case IRPC_EREFUSED:
    return 1;
  default:
    return 0;
  }
}

/* Takes the connection `c` out of the map (by identity only: it may be
 * dying, and it is not called). */
static void ce_forget(cache *k, const irpc_connection *c) {
  for (irpc__link *l = k->map.head; l; l = l->next) {
    ce *e = IRPC__CONTAINER_OF(l, ce, link);
    if (e->conn == c) {
      ce_detach(e);
      return;
    }
  }
}

/* A call that failed because its connection is lost takes that connection
 * out of the map at once: the connection tells its owner only after it
 * has failed its calls, and a retry may come back before. A request the
 * connection did not send (refused while shutting down, or closed) goes
 * again, on another connection, as IceRPC's cache does. */
static int cache_on_complete(irpc_invoker *self, irpc_call *call) {
  cache *k = irpc_invoker_data(self);
  cc_call *p = irpc_call_state(call);
  int err;
  irpc_call_result(call, &err, NULL);
  if (k->destroyed)
    return 0;
  if (p->conn && connection_lost(err))
    ce_forget(k, p->conn);
  p->conn = NULL;
  if (err != IRPC_EREFUSED && err != IRPC_ECLOSED)
    return 0;
  if (k->shut) {
    irpc_call_set_result(call, IRPC_ECLOSED, NULL);
    return 0;
  }
  if (p->refused >= MAX_REFUSED_RETRIES || irpc_call_canceled(call))
    return 0;
  p->refused++;
  route(k, p);
  return IRPC_CALL_HOLD;
}

/* ---- Shutdown and destruction ---- */

static void done_task(irpc__task *task) {
  cc_done *d = IRPC__CONTAINER_OF(task, cc_done, task);
  cache *k = d->k;
  if (k) {
    k->done = NULL;
    if (d->cb)
      d->cb(k->self, k->shut_status, d->ud);
  }
  irpc__sched_release(d->sched);
  irpc_free(d);
}

static void maybe_done(cache *k) {
  if (k->shut && !k->destroyed && k->done && !k->done->task.queued &&
      !k->map.len && !k->draining.len)
    irpc__sched_post(k->done->sched, &k->done->task);
}

/* Fails the calls waiting on `e` with `err`. */
static void ce_fail_waiting(ce *e, int err) {
  cc_call *p;
  while ((p = take_next(&e->waiting)))
    irpc_call_complete(p->call, err, NULL);
}

static void cache_destroy(irpc_invoker *self) {
  cache *k = irpc_invoker_data(self);
  k->destroyed = 1;
  k->shut = 1;
  irpc__list *lists[2] = {&k->map, &k->draining};
  for (int i = 0; i < 2; i++) {
    while (lists[i]->head) {
      ce *e = IRPC__CONTAINER_OF(lists[i]->head, ce, link);
      ce_unlist(e);
      ce_fail_waiting(e, IRPC_EABORTED);
      if (e->connecting)
        irpc__connect_cancel(e->connecting);
      if (e->conn) {
        irpc__connection_disown(e->conn);
        irpc_connection_abort(e->conn, UV_ECONNABORTED);
        irpc_connection_unref(e->conn);
      }
      ce_free(e);
    }
  }
  if (k->done) {
    k->done->k = NULL;
    if (!k->done->task.queued)
      done_task(&k->done->task);
  }
  irpc__hooks_fini(&k->hooks);
  while (k->history.head) {
    seen_addr *s = IRPC__CONTAINER_OF(k->history.head, seen_addr, link);
    irpc__list_remove(&k->history, &s->link);
    seen_free(s);
  }
  irpc_service_address_free(k->def);
}

static int cache_init(irpc_invoker *self, const void *config) {
  cache *k = irpc_invoker_data(self);
  const irpc_connection_cache_options *o = config;
  k->self = self;
  k->connector.loop = self->node.loop;
  k->connector.sched = self->node.sched;
  k->connector.options = &k->copts;
  k->connector.owner = &ce_owner;
  k->connector.done = on_connect;
  k->prefer = o->prefer_existing_connection != 0;
  k->max_conns = o->max_connections;
  if (irpc__connection_options_import(&k->copts, &k->popts, &o->connection, 1))
    return IRPC_EINVAL;
  if (!o->default_service_address)
    return 0;
  int rc = irpc_service_address_parse(&k->def, o->default_service_address);
  if (rc == 0)
    rc = target_check(k->def);
  if (rc == 0)
    rc = target_protocol(k->def);
  if (rc) {
    irpc_service_address_free(k->def);
    k->def = NULL;
  }
  return rc;
}

static const irpc_invoker_ops cache_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "connection-cache",
    .data_size = sizeof(cache),
    .call_state_size = sizeof(cc_call),
    .init = cache_init,
    .invoke = cache_invoke,
    .on_complete = cache_on_complete,
    .destroy = cache_destroy,
};

/* ---- Public API ---- */

int irpc_outgoing_request_set_service_address(irpc_outgoing_request *r,
                                              const irpc_service_address *sa) {
  if (!r)
    return IRPC_EINVAL;
  /* An ice address without server address names an adapter or a
   * well-known object that a locator interceptor resolves. */
  const char *proto = sa ? irpc_service_address_protocol(sa) : NULL;
  int to_resolve = proto && strcmp(proto, "ice") == 0 &&
                   irpc_service_address_server_count(sa) == 0;
  int rc = sa && !to_resolve ? target_check(sa) : 0;
  if (rc)
    return rc;
  return irpc_features_set(&r->features, &irpc_service_address_feature,
                           (void *)sa);
}

const irpc_service_address *
irpc_outgoing_request_service_address(const irpc_outgoing_request *r) {
  return r ? irpc_features_get(&r->features, &irpc_service_address_feature)
           : NULL;
}

void irpc_connection_cache_options_init_sized(irpc_connection_cache_options *o,
                                              size_t size) {
  irpc_connection_cache_options d;
  memset(&d, 0, sizeof(d));
  irpc_connection_options_init(&d.connection);
  d.prefer_existing_connection = 1;
  d.max_connections = 100;
  irpc__struct_export(o, size, &d, sizeof(d));
}

int irpc_connection_cache_new(irpc_invoker **out, uv_loop_t *loop,
                              const irpc_connection_cache_options *o) {
  irpc_connection_cache_options d;
  if (!o)
    irpc_connection_cache_options_init(&d);
  else if (IRPC__IMPORT(&d, o, irpc_connection_cache_options) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &cache_ops, &d);
}

static cache *cache_of(irpc_invoker *inv) {
  return inv && inv->node.ops == &cache_ops ? irpc_invoker_data(inv) : NULL;
}

size_t irpc_connection_cache_connections(irpc_invoker *inv,
                                         irpc_connection **out, size_t cap) {
  cache *k = cache_of(inv);
  if (!k)
    return 0;
  size_t n = 0;
  for (irpc__link *l = k->map.head; l; l = l->next) {
    ce *e = IRPC__CONTAINER_OF(l, ce, link);
    if (!ce_active(e))
      continue;
    if (n < cap && out)
      out[n] = e->conn;
    n++;
  }
  return n;
}

int irpc_connection_cache_shutdown(irpc_invoker *inv,
                                   irpc_connection_cache_cb cb,
                                   void *user_data) {
  cache *k = cache_of(inv);
  if (!k)
    return IRPC_EINVAL;
  if (k->shut)
    return IRPC_ECLOSED;
  cc_done *d = irpc_calloc(1, sizeof(*d));
  if (!d)
    return IRPC_ENOMEM;
  d->sched = irpc__sched_acquire(inv->node.loop);
  if (!d->sched) {
    irpc_free(d);
    return IRPC_ENOMEM;
  }
  d->task.fn = done_task;
  d->k = k;
  d->cb = cb;
  d->ud = user_data;
  k->done = d;
  k->shut = 1;
  while (k->map.head) {
    ce *e = IRPC__CONTAINER_OF(k->map.head, ce, link);
    ce_fail_waiting(e, IRPC_ECLOSED);
    ce_unlist(e);
    irpc__list_push_back(&k->draining, &e->link);
    e->where = WHERE_DRAINING;
    if (e->connecting)
      irpc__connect_stop(e->connecting);
    else if (e->conn)
      irpc_connection_shutdown(e->conn, NULL, NULL);
  }
  maybe_done(k);
  return 0;
}

long irpc_connection_cache_on_connect(irpc_invoker *inv, irpc_connect_hook cb,
                                      void *user_data) {
  cache *k = cache_of(inv);
  return k ? irpc__hooks_add(&k->hooks, cb, user_data) : IRPC_EINVAL;
}

void irpc_connection_cache_off_connect(irpc_invoker *inv, long token) {
  cache *k = cache_of(inv);
  if (k)
    irpc__hooks_remove(&k->hooks, token);
}
