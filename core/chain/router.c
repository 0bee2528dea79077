/* The router: middleware, then exact and prefix routes (IceRPC's rules). */
#include <string.h>

#include "chain.h"
#include "irpc/alloc.h"
#include "irpc/router.h"
#include "irpc/status.h"

/* ---- A small open-addressing table: path -> dispatcher ---- */

typedef struct route {
  char *key; /* NULL: empty slot */
  size_t len;
  uint64_t hash;
  irpc_dispatcher *target;
} route;

typedef struct route_table {
  route *slots;
  size_t cap; /* power of two */
  size_t count;
} route_table;

/* FNV-1a, 64 bits. */
#define FNV_OFFSET_BASIS UINT64_C(1469598103934665603)
#define FNV_PRIME UINT64_C(1099511628211)

/* The route table's first size, and its maximum load (3/4). */
#define TABLE_FIRST_CAP 8
#define TABLE_LOAD_NUM 3
#define TABLE_LOAD_DEN 4

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = FNV_OFFSET_BASIS;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)s[i]) * FNV_PRIME;
  return h;
}

static route *table_find(const route_table *t, const char *k, size_t n,
                         uint64_t h) {
  if (t->cap == 0)
    return NULL;
  for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    route *r = &t->slots[i];
    if (!r->key)
      return NULL;
    if (r->hash == h && r->len == n && memcmp(r->key, k, n) == 0)
      return r;
  }
}

static irpc_dispatcher *table_get(const route_table *t, const char *k,
                                  size_t n) {
  route *r = table_find(t, k, n, hash_bytes(k, n));
  return r ? r->target : NULL;
}

static void table_insert_slot(route_table *t, route r) {
  size_t i = r.hash & (t->cap - 1);
  while (t->slots[i].key)
    i = (i + 1) & (t->cap - 1);
  t->slots[i] = r;
}

static int table_grow(route_table *t) {
  size_t cap = t->cap ? t->cap * 2 : TABLE_FIRST_CAP;
  route *old = t->slots;
  size_t old_cap = t->cap;
  t->slots = irpc_calloc(cap, sizeof(route));
  if (!t->slots) {
    t->slots = old;
    return IRPC_ENOMEM;
  }
  t->cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].key)
      table_insert_slot(t, old[i]);
  irpc_free(old);
  return 0;
}

static int table_put(route_table *t, const char *k, size_t n,
                     irpc_dispatcher *target) {
  uint64_t h = hash_bytes(k, n);
  route *r = table_find(t, k, n, h);
  if (r) {
    r->target = target;
    return 0;
  }
  if ((t->count + 1) * TABLE_LOAD_DEN > t->cap * TABLE_LOAD_NUM &&
      table_grow(t))
    return IRPC_ENOMEM;
  char *key = irpc_malloc(n + 1);
  if (!key)
    return IRPC_ENOMEM;
  memcpy(key, k, n);
  key[n] = '\0';
  table_insert_slot(t,
                    (route){.key = key, .len = n, .hash = h, .target = target});
  t->count++;
  return 0;
}

static void table_free(route_table *t) {
  for (size_t i = 0; i < t->cap; i++)
    irpc_free(t->slots[i].key);
  irpc_free(t->slots);
}

/* ---- The router ---- */

struct irpc_router {
  irpc_dispatcher *self;  /* the router as a dispatcher */
  irpc_dispatcher *route; /* the terminal that routes */
  char *prefix;           /* absolute prefix of a sub-router, or NULL */
  size_t prefix_len;
  route_table exact;
  route_table mounts;
  irpc_dispatcher **middleware;
  size_t nmw;
  irpc_router **subs;
  size_t nsubs;
  int frozen;
};

/* A prefix without its trailing '/', except "/" itself. */
static size_t normalized_len(const char *p, size_t n) {
  while (n > 1 && p[n - 1] == '/')
    n--;
  return n;
}

/* Answers `d`; without memory for the response it still ends, with the
 * engine's answer to the error. */
static void route_reply(irpc_dispatch *d, uint64_t status, const char *msg) {
  irpc__dispatch_reply_or_abort(d, status, msg);
}

static void route_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  irpc_router *r = *(irpc_router **)irpc_dispatcher_data(self);
  const char *path = irpc_incoming_request_path(irpc_dispatch_request(d));
  size_t n = strlen(path);
  if (r->prefix) {
    if (n < r->prefix_len || memcmp(path, r->prefix, r->prefix_len) != 0 ||
        (n > r->prefix_len && path[r->prefix_len] != '/')) {
      route_reply(d, IRPC_STATUS_INTERNAL_ERROR,
                  "The request path does not start with the "
                  "router's prefix.");
      return;
    }
    path += r->prefix_len;
    n -= r->prefix_len;
    if (n == 0) {
      path = "/";
      n = 1;
    }
  }
  irpc_dispatcher *target = table_get(&r->exact, path, n);
  if (target) {
    irpc_dispatch_forward(d, target);
    return;
  }
  n = normalized_len(path, n);
  for (int i = 0; i < IRPC_ROUTER_MAX_SEGMENTS; i++) {
    target = table_get(&r->mounts, path, n);
    if (target) {
      irpc_dispatch_forward(d, target);
      return;
    }
    if (n == 1) {
      route_reply(d, IRPC_STATUS_NOT_FOUND, NULL);
      return;
    }
    while (n > 1 && path[n - 1] != '/')
      n--;
    n = n > 1 ? n - 1 : 1;
  }
  route_reply(d, IRPC_STATUS_INVALID_DATA, "Too many segments in path.");
}

static const irpc_dispatcher_ops route_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "route",
    .data_size = sizeof(irpc_router *),
    .dispatch = route_dispatch,
};

static void freeze(irpc_router *r) {
  irpc_dispatcher *next = r->route;
  for (size_t i = r->nmw; i-- > 0;) {
    irpc_dispatcher_set_next(r->middleware[i], next);
    next = r->middleware[i];
  }
  irpc_dispatcher_set_next(r->self, next);
  r->frozen = 1;
  for (size_t i = 0; i < r->nsubs; i++)
    if (!r->subs[i]->frozen)
      freeze(r->subs[i]);
}

static void router_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  irpc_router *r = irpc_dispatcher_data(self);
  if (!r->frozen)
    freeze(r);
  irpc_dispatch_next(d);
}

static void router_destroy(irpc_dispatcher *self) {
  irpc_router *r = irpc_dispatcher_data(self);
  for (size_t i = 0; i < r->nmw; i++) {
    r->middleware[i]->node.owner = NULL;
    irpc_dispatcher_free(r->middleware[i]);
  }
  for (size_t i = 0; i < r->nsubs; i++)
    irpc_router_free(r->subs[i]);
  irpc_free(r->middleware);
  irpc_free(r->subs);
  irpc_free(r->prefix);
  table_free(&r->exact);
  table_free(&r->mounts);
  irpc_dispatcher_free(r->route);
}

static const irpc_dispatcher_ops router_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "router",
    .data_size = sizeof(irpc_router),
    .dispatch = router_dispatch,
    .destroy = router_destroy,
};

static int router_create(irpc_router **out, uv_loop_t *loop, const char *prefix,
                         size_t prefix_len) {
  irpc_dispatcher *self, *rt;
  int rc = irpc_dispatcher_new(&self, loop, &router_ops, NULL);
  if (rc)
    return rc;
  irpc_router *r = irpc_dispatcher_data(self);
  r->self = self;
  if ((rc = irpc_dispatcher_new(&rt, loop, &route_ops, NULL)) != 0) {
    irpc_dispatcher_free(self);
    return rc;
  }
  r->route = rt;
  *(irpc_router **)irpc_dispatcher_data(rt) = r;
  if (prefix) {
    r->prefix = irpc_malloc(prefix_len + 1);
    if (!r->prefix) {
      irpc_dispatcher_free(self);
      return IRPC_ENOMEM;
    }
    memcpy(r->prefix, prefix, prefix_len);
    r->prefix[prefix_len] = '\0';
    r->prefix_len = prefix_len;
  }
  *out = r;
  return 0;
}

int irpc_router_new(irpc_router **out, uv_loop_t *loop) {
  if (!out || !loop)
    return IRPC_EINVAL;
  return router_create(out, loop, NULL, 0);
}

void irpc_router_free(irpc_router *r) {
  if (r)
    irpc_dispatcher_free(r->self);
}

static int check_route(irpc_router *r, const char *path, irpc_dispatcher *d) {
  if (!r || !path || !d || d->node.loop != r->self->node.loop)
    return IRPC_EINVAL;
  int rc = irpc_path_check(path);
  if (rc)
    return rc;
  return r->frozen ? IRPC_EFROZEN : 0;
}

int irpc_router_map(irpc_router *r, const char *path, irpc_dispatcher *d) {
  int rc = check_route(r, path, d);
  if (rc)
    return rc;
  return table_put(&r->exact, path, strlen(path), d);
}

int irpc_router_mount(irpc_router *r, const char *prefix, irpc_dispatcher *d) {
  int rc = check_route(r, prefix, d);
  if (rc)
    return rc;
  return table_put(&r->mounts, prefix, normalized_len(prefix, strlen(prefix)),
                   d);
}

int irpc_router_use(irpc_router *r, irpc_dispatcher *middleware) {
  if (!r || !middleware || middleware->node.owner || middleware == r->self ||
      middleware->node.loop != r->self->node.loop)
    return IRPC_EINVAL;
  if (r->frozen)
    return IRPC_EFROZEN;
  if (r->nmw == IRPC_ROUTER_MAX_MIDDLEWARE)
    return IRPC_ELIMIT;
  irpc_dispatcher **a = irpc_realloc(r->middleware, (r->nmw + 1) * sizeof(*a));
  if (!a)
    return IRPC_ENOMEM;
  r->middleware = a;
  middleware->node.owner = r;
  r->middleware[r->nmw++] = middleware;
  return 0;
}

int irpc_router_route(irpc_router *r, const char *prefix, irpc_router **sub) {
  if (!sub)
    return IRPC_EINVAL;
  int rc = check_route(r, prefix, r ? r->self : NULL);
  if (rc)
    return rc;
  size_t n = normalized_len(prefix, strlen(prefix));
  size_t abs_len = (r->prefix ? r->prefix_len : 0) + (n == 1 ? 0 : n);
  char *abs = irpc_malloc(abs_len + 1);
  if (!abs)
    return IRPC_ENOMEM;
  if (r->prefix)
    memcpy(abs, r->prefix, r->prefix_len);
  memcpy(abs + (r->prefix ? r->prefix_len : 0), prefix, n == 1 ? 0 : n);
  irpc_router *s = NULL;
  irpc_router **subs = irpc_realloc(r->subs, (r->nsubs + 1) * sizeof(*subs));
  if (subs)
    r->subs = subs;
  rc = subs ? router_create(&s, r->self->node.loop, abs_len ? abs : NULL,
                            abs_len)
            : IRPC_ENOMEM;
  irpc_free(abs);
  if (rc == 0 && (rc = table_put(&r->mounts, prefix, n, s->self)) != 0)
    irpc_router_free(s);
  if (rc)
    return rc;
  s->self->node.owner = r;
  r->subs[r->nsubs++] = s;
  *sub = s;
  return 0;
}

irpc_dispatcher *irpc_router_dispatcher(irpc_router *r) {
  return r ? r->self : NULL;
}

int irpc__router_middleware(const irpc_dispatcher *d,
                            irpc_dispatcher *const **list, size_t *count) {
  if (!d || d->node.ops != &router_ops)
    return 0;
  const irpc_router *r =
      (const irpc_router *)((const uint8_t *)d + IRPC__NODE_HEADER);
  *list = r->middleware;
  *count = r->nmw;
  return 1;
}
