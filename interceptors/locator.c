/* The locator interceptor and the LocatorRegistry registration (see
 * irpc/locator.h): the Ice Locator's operations encoded with the Slice 1.1
 * runtime, a cache of answers with a TTL, coalesced lookups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irpc/alloc.h"
#include "irpc/connection_cache.h"
#include "irpc/error.h"
#include "irpc/locator.h"
#include "irpc/slice.h"
#include "irpc/status.h"
#include "base/struct_size.h"
#include "model/address_internal.h"

#define IRPC__V1_irpc_locator_options IRPC__V1_SIZE(irpc_locator_options, clock)
#define IRPC__V1_irpc_locator_registration                                     \
  IRPC__V1_SIZE(irpc_locator_registration, timeout_ms)

#define NS_PER_MS UINT64_C(1000000)
#define DEFAULT_LOCATOR_PATH "/IceGrid/Locator"
#define ICE_ENDPOINT_TCP 1
#define ICE_ENDPOINT_SSL 2

/* ---- Shared: service address copies, proxies ---- */

static int sa_clone(irpc_service_address **out, const irpc_service_address *s) {
  char small[256];
  char *buf = small;
  size_t len = sizeof(small);
  int rc = irpc_service_address_format(s, buf, len);
  if (rc == UV_ENOBUFS) {
    len = 65536;
    buf = irpc_malloc(len);
    if (!buf)
      return IRPC_ENOMEM;
    rc = irpc_service_address_format(s, buf, len);
  }
  if (!rc)
    rc = irpc_service_address_parse(out, buf);
  if (buf != small)
    irpc_free(buf);
  return rc;
}

/* A decoded Object* proxy: NULL (is_null), endpoints (as a new ice
 * service address with those server addresses, NULL when none is TCP or
 * SSL), or an adapter id. */
typedef struct proxy {
  int is_null;
  irpc_service_address *resolved;
  char *adapter;
} proxy;

static void proxy_fini(proxy *p) {
  irpc_service_address_free(p->resolved);
  irpc_free(p->adapter);
  memset(p, 0, sizeof(*p));
}

static int bytes_dup(irpc_bytes b, char **out) {
  char *s = irpc_malloc(b.len + 1);
  if (!s)
    return IRPC_ENOMEM;
  if (b.len)
    memcpy(s, b.base, b.len);
  s[b.len] = '\0';
  *out = s;
  return 0;
}

/* Reads one endpoint: TCP and SSL ones are added to `sa`, others skipped. */
static int decode_endpoint(irpc_slice_decoder *d, irpc_service_address *sa) {
  int16_t type;
  uint8_t maj, min;
  irpc_slice_scope scope;
  irpc_slice_decode_int16(d, &type);
  int rc = irpc_slice_decode_encaps_begin(d, &maj, &min, &scope);
  if (rc)
    return rc;
  if (type != ICE_ENDPOINT_TCP && type != ICE_ENDPOINT_SSL)
    return irpc_slice_decode_scope_skip(d, &scope);
  irpc_bytes host;
  int32_t port, timeout;
  bool compress;
  irpc_slice_decode_string(d, &host);
  irpc_slice_decode_int32(d, &port);
  irpc_slice_decode_int32(d, &timeout);
  irpc_slice_decode_bool(d, &compress);
  rc = irpc_slice_decoder_error(d);
  if (!rc)
    rc = irpc_slice_decode_scope_skip(d, &scope);
  if (rc)
    return rc;
  char *h;
  if (port < 0 || port > 65535 || host.len == 0)
    return IRPC_EDATA;
  if ((rc = bytes_dup(host, &h)))
    return rc;
  irpc_server_address *a = NULL;
  rc = irpc__host_check(h) ? IRPC_EDATA : 0;
  if (!rc)
    rc = irpc_server_address_new(&a, "ice", h, port,
                                 type == ICE_ENDPOINT_TCP ? "tcp" : "ssl");
  irpc_free(h);
  if (!rc)
    rc = irpc__service_address_add_server(sa, a);
  return rc;
}

static int decode_proxy(irpc_slice_decoder *d, proxy *p) {
  memset(p, 0, sizeof(*p));
  irpc_slice_identity id;
  int rc = irpc_slice_decode_identity(d, &id);
  if (rc)
    return rc;
  if (id.name.len == 0) {
    if (id.category.len != 0)
      return IRPC_EDATA;
    p->is_null = 1;
    return irpc_slice_decoder_end(d);
  }
  size_t nfacets;
  rc = irpc_slice_decode_count(d, 1, 0, &nfacets);
  if (rc)
    return rc;
  if (nfacets > 1)
    return IRPC_EDATA;
  for (size_t i = 0; i < nfacets; i++) {
    irpc_bytes f;
    irpc_slice_decode_string(d, &f);
  }
  uint8_t mode, pmaj, pmin, emaj, emin;
  bool secure;
  irpc_slice_decode_uint8(d, &mode);
  irpc_slice_decode_bool(d, &secure);
  irpc_slice_decode_uint8(d, &pmaj);
  irpc_slice_decode_uint8(d, &pmin);
  irpc_slice_decode_uint8(d, &emaj);
  irpc_slice_decode_uint8(d, &emin);
  size_t neps;
  rc = irpc_slice_decode_count(d, 8, 0, &neps);
  if (rc)
    return rc;
  if (mode > 4 || pmaj != 1)
    return IRPC_EDATA;
  if (neps == 0) {
    irpc_bytes a;
    rc = irpc_slice_decode_string(d, &a);
    if (!rc)
      rc = irpc_slice_decoder_end(d);
    if (!rc && a.len == 0)
      rc = IRPC_EDATA;
    return rc ? rc : bytes_dup(a, &p->adapter);
  }
  irpc_service_address *sa = irpc__service_address_new_ice();
  if (!sa)
    return IRPC_ENOMEM;
  rc = irpc__service_address_set_parts(sa, "/", NULL);
  for (size_t i = 0; !rc && i < neps; i++)
    rc = decode_endpoint(d, sa);
  if (!rc)
    rc = irpc_slice_decoder_end(d);
  if (rc || irpc_service_address_server_count(sa) == 0) {
    irpc_service_address_free(sa);
    return rc;
  }
  p->resolved = sa;
  return 0;
}

/* The type ID of the user exception an ApplicationError response carries
 * (the first slice, the most derived type), compared with `want`. */
static int exception_is(irpc_incoming_response *r, const char *want) {
  irpc_slice_decoder d;
  irpc_slice_decoder_init_buf(&d, irpc_incoming_response_payload(r),
                              IRPC_SLICE_ENCODING_1_1);
  irpc_slice_exception_slice s;
  int is = irpc_slice_decode_exception_slice(&d, &s) == 0 &&
           s.type_id.len == strlen(want) &&
           memcmp(s.type_id.base, want, s.type_id.len) == 0;
  irpc_slice_decoder_fini(&d);
  return is;
}

/* Encodes an Object* proxy for `endpoints` (NULL: the null proxy). */
static int encode_proxy(irpc_slice_encoder *e,
                        const irpc_service_address *endpoints) {
  if (!endpoints) {
    irpc_slice_identity null_id = {{NULL, 0}, {NULL, 0}};
    return irpc_slice_encode_identity(e, &null_id);
  }
  irpc_slice_identity id = {{(const uint8_t *)"dummy", 5}, {NULL, 0}};
  irpc_slice_encode_identity(e, &id);
  irpc_slice_encode_size(e, 0);  /* facet */
  irpc_slice_encode_uint8(e, 0); /* twoway */
  irpc_slice_encode_bool(e, false);
  irpc_slice_encode_uint8(e, 1); /* protocol 1.0 */
  irpc_slice_encode_uint8(e, 0);
  irpc_slice_encode_uint8(e, 1); /* encoding 1.1 */
  irpc_slice_encode_uint8(e, 1);
  size_t n = irpc_service_address_server_count(endpoints);
  irpc_slice_encode_size(e, n);
  for (size_t i = 0; i < n; i++) {
    const irpc_server_address *a = irpc_service_address_server(endpoints, i);
    const char *t = irpc_server_address_transport(a);
    const char *tv = irpc_server_address_param(a, "t");
    long timeout = 60000;
    if (tv && strcmp(tv, "infinite") == 0)
      timeout = -1;
    else if (tv)
      timeout = strtol(tv, NULL, 10);
    irpc_slice_encode_int16(e, t && strcmp(t, "ssl") == 0 ? ICE_ENDPOINT_SSL
                                                          : ICE_ENDPOINT_TCP);
    irpc_slice_mark m;
    irpc_slice_encode_encaps_begin(e, 1, 1, &m);
    const char *h = irpc_server_address_host(a);
    irpc_slice_encode_string(e, h, strlen(h));
    irpc_slice_encode_int32(e, irpc_server_address_port(a));
    irpc_slice_encode_int32(e, (int32_t)timeout);
    irpc_slice_encode_bool(e, irpc_server_address_param(a, "z") != NULL);
    irpc_slice_encode_encaps_end(e, &m);
  }
  return 0;
}

/* 0 when every server address of `s` can be an Ice TCP or SSL endpoint. */
static int endpoints_check(const irpc_service_address *s) {
  const char *proto = irpc_service_address_protocol(s);
  size_t n = irpc_service_address_server_count(s);
  if (!proto || strcmp(proto, "ice") != 0 || n == 0)
    return IRPC_EINVAL;
  for (size_t i = 0; i < n; i++) {
    const char *t =
        irpc_server_address_transport(irpc_service_address_server(s, i));
    if (t && strcmp(t, "tcp") != 0 && strcmp(t, "ssl") != 0)
      return IRPC_EINVAL;
  }
  return 0;
}

/* A request on `path` for `op` with the locator's conventions: idempotent
 * (Ice's ["nonmutating"] idempotent), `target` set when it has servers. */
static int locator_request(irpc_outgoing_request **out, const char *path,
                           const char *op, const irpc_service_address *target) {
  irpc_outgoing_request *req;
  int rc = irpc_outgoing_request_new(&req, path, op);
  if (rc)
    return rc;
  rc = irpc_outgoing_request_set_idempotent(req, 1);
  if (!rc && target && irpc_service_address_server_count(target) > 0)
    rc = irpc_outgoing_request_set_service_address(req, target);
  if (rc) {
    irpc_outgoing_request_free(req);
    return rc;
  }
  *out = req;
  return 0;
}

/* ---- The interceptor ---- */

enum { KIND_ADAPTER = 0, KIND_OBJECT = 1 };

typedef struct locator locator;
typedef struct lookup lookup;
typedef struct lstate lstate;

typedef struct entry {
  struct entry *prev, *next; /* the cache, most recently used first */
  int in_cache;
  unsigned refs;
  int kind;
  char *name;                     /* adapter id, or ice path */
  irpc_service_address *resolved; /* the answer; NULL until there is one */
  uint64_t resolved_at;           /* mono ns */
  uint64_t gen;                   /* of the answer, for the retry rule */
  lookup *lookup;                 /* while resolving */
  lstate *waiters, *waiters_tail;
} entry;

struct lstate {        /* per call */
  lstate *prev, *next; /* waiters of `e` */
  irpc_call *call;
  locator *l;
  entry *e;
  const irpc_service_address *orig; /* the target the request had */
  int swapped;
  int waiting;
};

struct lookup {
  locator *l; /* NULL once the interceptor is gone */
  entry *e;
  irpc_call *call;
  irpc_outgoing_request *req;
  irpc_clock_timer timer;
  int stage; /* 0: the name, 1: the adapter of a well-known object */
  int timed_out;
  lookup *prev, *next; /* the interceptor's lookups */
};

struct locator {
  irpc_invoker *self;
  irpc_invoker *target;
  irpc_service_address *locator_address;
  char *locator_path;
  uint64_t ttl_ns;
  uint64_t timeout_ns;
  size_t max_cache;
  irpc_clock *clock;
  entry *head, *tail;
  size_t count;
  lookup *lookups;
  uint64_t gen;
  irpc_locator_stats stats;
};

/* The private feature of IceRPC's retry rule: set on a request whose
 * attempt used a cached answer; its value is that answer's generation. */
static const irpc_feature_key cached_answer_feature = {
    .name = "irpc.locator.cached-answer", .destroy = NULL};

static void entry_unref(entry *e) {
  if (--e->refs)
    return;
  irpc_service_address_free(e->resolved);
  irpc_free(e->name);
  irpc_free(e);
}

static void cache_unlink(locator *l, entry *e) {
  if (!e->in_cache)
    return;
  if (e->prev)
    e->prev->next = e->next;
  else
    l->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    l->tail = e->prev;
  e->prev = e->next = NULL;
  e->in_cache = 0;
  l->count--;
  entry_unref(e);
}

static void cache_push_front(locator *l, entry *e) {
  e->prev = NULL;
  e->next = l->head;
  if (l->head)
    l->head->prev = e;
  l->head = e;
  if (!l->tail)
    l->tail = e;
  if (!e->in_cache) {
    e->in_cache = 1;
    e->refs++;
    l->count++;
  }
}

static void cache_touch(locator *l, entry *e) {
  if (!e->in_cache || l->head == e)
    return;
  e->prev->next = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    l->tail = e->prev;
  e->in_cache = 0;
  l->count--;
  e->refs--; /* cache_push_front takes it back */
  cache_push_front(l, e);
}

/* Evicts answers (least recently used first, never one being resolved)
 * until the cache holds at most max_cache entries. */
static void cache_trim(locator *l) {
  entry *e = l->tail;
  while (l->count > l->max_cache && e) {
    entry *prev = e->prev;
    if (!e->lookup)
      cache_unlink(l, e);
    e = prev;
  }
}

static entry *cache_find(locator *l, int kind, const char *name) {
  for (entry *e = l->head; e; e = e->next) {
    if (e->kind == kind && strcmp(e->name, name) == 0)
      return e;
  }
  return NULL;
}

static void waiter_remove(entry *e, lstate *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    e->waiters = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    e->waiters_tail = s->prev;
  s->prev = s->next = NULL;
  s->waiting = 0;
}

/* Sends the call on with `e`'s answer as its target. The call's state
 * keeps a reference on `e` until on_complete (a waiter's is already
 * there). */
static void proceed(lstate *s, entry *e, int cached) {
  irpc_outgoing_request *req = irpc_call_request(s->call);
  irpc_features *f = irpc_outgoing_request_features(req);
  if (s->e != e) {
    e->refs++;
    s->e = e;
  }
  int rc = irpc_features_set(f, &irpc_service_address_feature, e->resolved);
  if (!rc) {
    s->swapped = 1;
    rc = irpc_features_set(f, &cached_answer_feature,
                           cached ? (void *)(uintptr_t)e->gen : NULL);
  }
  if (rc) {
    /* Completing here skips our on_complete: undo what it would. */
    if (s->swapped)
      irpc_features_set(f, &irpc_service_address_feature, (void *)s->orig);
    s->swapped = 0;
    s->e = NULL;
    entry_unref(e);
    irpc_call_complete(s->call, rc, NULL);
    return;
  }
  irpc_call_next(s->call);
}

static void not_found(irpc_call *call, const entry *e) {
  char msg[512];
  snprintf(msg, sizeof(msg), "the locator found no %s '%s'",
           e->kind == KIND_ADAPTER ? "object adapter" : "object", e->name);
  irpc_incoming_response *r;
  int rc = irpc_incoming_response_new(&r, IRPC_STATUS_NOT_FOUND, msg);
  irpc_call_complete(call, rc, rc ? NULL : r);
}

/* Ends a lookup: the waiters go on with the answer, or get `err`
 * (IRPC_ENOTFOUND: a NotFound response). */
static void lookup_finish(lookup *k, int err, irpc_service_address *resolved) {
  entry *e = k->e;
  locator *l = k->l;
  irpc_clock_timer_stop(&k->timer);
  if (k->req)
    irpc_outgoing_request_free(k->req);
  if (l) {
    if (k->prev)
      k->prev->next = k->next;
    else
      l->lookups = k->next;
    if (k->next)
      k->next->prev = k->prev;
  }
  e->lookup = NULL;
  irpc_free(k);
  if (l && !err) {
    irpc_service_address_free(e->resolved);
    e->resolved = resolved;
    e->resolved_at = irpc_clock_mono_ns(l->clock);
    e->gen = ++l->gen;
  } else {
    irpc_service_address_free(resolved);
  }
  if (l) {
    if (err == IRPC_ENOTFOUND)
      l->stats.not_found++;
    else if (err)
      l->stats.failures++;
    if (err || l->max_cache == 0)
      cache_unlink(l, e);
    else
      cache_trim(l);
  }
  e->refs++; /* the waiters below may drop the last other reference */
  while (e->waiters) {
    lstate *s = e->waiters;
    waiter_remove(e, s);
    if (!err && l) {
      proceed(s, e, 0);
      continue;
    }
    /* Completing here skips our on_complete: drop the waiter's
     * reference (ours above keeps `e`). */
    s->e = NULL;
    entry_unref(e);
    if (err == IRPC_ENOTFOUND)
      not_found(s->call, e);
    else
      irpc_call_complete(s->call, err ? err : IRPC_EABORTED, NULL);
  }
  entry_unref(e); /* ours */
  entry_unref(e); /* the lookup's */
}

static void lookup_done(irpc_call *call, int err, irpc_incoming_response *r,
                        void *user_data);

/* Sends the lookup's current request (k->req) to the locator. */
static int lookup_send(lookup *k) {
  locator *l = k->l;
  l->stats.lookups++;
  return irpc_invoke(l->target, k->req, lookup_done, k, &k->call);
}

static int lookup_request(lookup *k, int kind, const char *name) {
  locator *l = k->l;
  irpc_outgoing_request *req;
  int rc = locator_request(&req, l->locator_path,
                           kind == KIND_ADAPTER ? "findAdapterById"
                                                : "findObjectById",
                           l->locator_address);
  if (rc)
    return rc;
  irpc_slice_encoder enc;
  rc = irpc_slice_encoder_init(&enc, irpc_outgoing_request_payload(req),
                               IRPC_SLICE_ENCODING_1_1);
  if (!rc && kind == KIND_ADAPTER) {
    rc = irpc_slice_encode_string(&enc, name, strlen(name));
  } else if (!rc) {
    char *n = NULL, *c = NULL;
    rc = irpc_ice_identity_from_path(name, &n, &c);
    if (!rc) {
      irpc_slice_identity id = {{(const uint8_t *)n, strlen(n)},
                                {(const uint8_t *)c, strlen(c)}};
      rc = irpc_slice_encode_identity(&enc, &id);
    }
    irpc_free(n);
    irpc_free(c);
  }
  int frc = irpc_slice_encoder_flush(&enc);
  if (!rc)
    rc = frc;
  if (rc) {
    irpc_outgoing_request_free(req);
    return rc;
  }
  if (k->req)
    irpc_outgoing_request_free(k->req);
  k->req = req;
  return 0;
}

static void lookup_done(irpc_call *call, int err, irpc_incoming_response *r,
                        void *user_data) {
  (void)call;
  lookup *k = user_data;
  k->call = NULL;
  if (!k->l) { /* the interceptor is gone */
    irpc_incoming_response_free(r);
    lookup_finish(k, IRPC_EABORTED, NULL);
    return;
  }
  if (err) {
    lookup_finish(k, k->timed_out ? IRPC_ETIMEDOUT : err, NULL);
    return;
  }
  uint64_t status = irpc_incoming_response_status(r);
  proxy p = {0};
  int rc = 0;
  if (status == IRPC_STATUS_OK) {
    irpc_slice_decoder d;
    irpc_slice_decoder_init_buf(&d, irpc_incoming_response_payload(r),
                                IRPC_SLICE_ENCODING_1_1);
    rc = decode_proxy(&d, &p);
    irpc_slice_decoder_fini(&d);
    if (rc)
      rc = IRPC_EDATA;
    else if (p.is_null || (!p.resolved && !p.adapter))
      rc = IRPC_ENOTFOUND;
    else if (p.adapter && k->stage == 1)
      rc = IRPC_EDATA; /* an adapter resolved to an adapter */
  } else if (status == IRPC_STATUS_APPLICATION_ERROR &&
             (exception_is(r, "::Ice::AdapterNotFoundException") ||
              exception_is(r, "::Ice::ObjectNotFoundException"))) {
    rc = IRPC_ENOTFOUND;
  } else {
    rc = IRPC_ESTATUS;
  }
  irpc_incoming_response_free(r);
  if (!rc && p.adapter) {
    /* A well-known object of an adapter: resolve the adapter. */
    k->stage = 1;
    rc = lookup_request(k, KIND_ADAPTER, p.adapter);
    proxy_fini(&p);
    if (!rc)
      rc = lookup_send(k);
    if (!rc)
      return;
  }
  irpc_service_address *resolved = p.resolved;
  p.resolved = NULL;
  proxy_fini(&p);
  lookup_finish(k, rc, resolved);
}

static void lookup_timeout(irpc_clock_timer *t, void *user_data) {
  (void)t;
  lookup *k = user_data;
  k->timed_out = 1;
  if (k->call)
    irpc_call_cancel(k->call, IRPC_ETIMEDOUT);
}

/* Starts resolving `e` (which has no lookup). */
static int lookup_start(locator *l, entry *e) {
  lookup *k = irpc_calloc(1, sizeof(*k));
  if (!k)
    return IRPC_ENOMEM;
  k->l = l;
  k->e = e;
  int rc = lookup_request(k, e->kind, e->name);
  if (!rc && l->timeout_ns) {
    irpc_clock_timer_init(&k->timer, lookup_timeout, k);
    rc = irpc_clock_timer_start(l->clock, &k->timer, l->timeout_ns);
  }
  if (rc) {
    irpc_clock_timer_stop(&k->timer);
    irpc_outgoing_request_free(k->req);
    irpc_free(k);
    return rc;
  }
  e->lookup = k;
  e->refs++;
  k->next = l->lookups;
  if (l->lookups)
    l->lookups->prev = k;
  l->lookups = k;
  rc = lookup_send(k);
  if (rc) {
    /* lookup_finish would fail the waiters: there are none yet. */
    lookup_finish(k, rc, NULL);
    return rc;
  }
  return 0;
}

static void waiter_cancel(irpc_call *call, int err, void *user_data) {
  lstate *s = user_data;
  if (s->waiting)
    waiter_remove(s->e, s);
  entry_unref(s->e);
  s->e = NULL;
  irpc_call_complete(call, err, NULL);
}

static entry *lookup_entry(locator *l, lstate *s, int kind, const char *name);
static void wait_for(locator *l, lstate *s, entry *e);

static void loc_invoke(irpc_invoker *self, irpc_call *call) {
  locator *l = irpc_invoker_data(self);
  lstate *s = irpc_call_state(call);
  irpc_outgoing_request *req = irpc_call_request(call);
  const irpc_service_address *sa = irpc_outgoing_request_service_address(req);
  const char *proto = sa ? irpc_service_address_protocol(sa) : NULL;
  if (!proto || strcmp(proto, "ice") != 0 ||
      irpc_service_address_server_count(sa) > 0) {
    irpc_call_next(call);
    return;
  }
  s->call = call;
  s->l = l;
  s->orig = sa;
  char *adapter = NULL;
  if (irpc_service_address_param(sa, "adapter-id")) {
    int arc = irpc_service_address_ice_adapter_id(sa, &adapter);
    if (arc) {
      irpc_call_complete(call, arc, NULL);
      return;
    }
  }
  int kind = adapter ? KIND_ADAPTER : KIND_OBJECT;
  const char *name = adapter ? adapter : irpc_service_address_path(sa);
  entry *e = lookup_entry(l, s, kind, name);
  irpc_free(adapter);
  if (e)
    wait_for(l, s, e);
}

/* The entry of `name`: a cached answer sends the call on at once (NULL is
 * returned); otherwise the entry the call must wait for, its lookup
 * started (NULL, with the call completed, when that fails). */
static entry *lookup_entry(locator *l, lstate *s, int kind, const char *name) {
  irpc_call *call = s->call;
  irpc_outgoing_request *req = irpc_call_request(call);
  uintptr_t marker = (uintptr_t)irpc_features_get(
      irpc_outgoing_request_features(req), &cached_answer_feature);
  entry *e = cache_find(l, kind, name);
  uint64_t now = irpc_clock_mono_ns(l->clock);
  if (e && !e->lookup && e->resolved) {
    int expired = l->ttl_ns && now - e->resolved_at >= l->ttl_ns;
    int refresh = marker && marker == e->gen;
    if (!expired && !refresh) {
      l->stats.cache_hits++;
      cache_touch(l, e);
      proceed(s, e, 1);
      return NULL;
    }
    if (refresh)
      l->stats.refreshes++;
  }
  int rc = 0;
  if (!e) {
    e = irpc_calloc(1, sizeof(*e));
    if (!e || !(e->name = irpc_malloc(strlen(name) + 1))) {
      irpc_free(e);
      irpc_call_complete(call, IRPC_ENOMEM, NULL);
      return NULL;
    }
    strcpy(e->name, name);
    e->kind = kind;
    e->refs = 0;
    cache_push_front(l, e);
  } else if (e->lookup) {
    l->stats.coalesced++;
  }
  e->refs++; /* ours, while we wait */
  if (!e->lookup)
    rc = lookup_start(l, e);
  if (rc) {
    entry_unref(e);
    irpc_call_complete(call, rc, NULL);
    return NULL;
  }
  return e;
}

/* The call waits for `e`'s lookup (it holds a reference on `e`). */
static void wait_for(locator *l, lstate *s, entry *e) {
  (void)l;
  irpc_call *call = s->call;
  s->e = e;
  s->waiting = 1;
  s->prev = e->waiters_tail;
  s->next = NULL;
  if (e->waiters_tail)
    e->waiters_tail->next = s;
  else
    e->waiters = s;
  e->waiters_tail = s;
  irpc_call_on_cancel(call, waiter_cancel, s);
}

static int loc_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  lstate *s = irpc_call_state(call);
  if (s->swapped) {
    irpc_features_set(irpc_outgoing_request_features(irpc_call_request(call)),
                      &irpc_service_address_feature, (void *)s->orig);
    s->swapped = 0;
  }
  if (s->e) {
    entry_unref(s->e);
    s->e = NULL;
  }
  return 0;
}

void irpc_locator_options_init_sized(irpc_locator_options *o, size_t size) {
  irpc_locator_options d;
  memset(&d, 0, sizeof(d));
  d.resolve_timeout_ms = 10000;
  d.max_cache_size = 100;
  irpc__struct_export(o, size, &d, sizeof(d));
}

/* The identity path of a Locator address, checked. */
static int locator_path_of(const irpc_service_address *a, char **out) {
  const char *path = a ? irpc_service_address_path(a) : DEFAULT_LOCATOR_PATH;
  const char *proto = a ? irpc_service_address_protocol(a) : "ice";
  if (!proto || strcmp(proto, "ice") != 0)
    return IRPC_EINVAL;
  char *n, *c;
  int rc = irpc_ice_identity_from_path(path, &n, &c);
  if (rc)
    return rc;
  irpc_free(n);
  irpc_free(c);
  *out = irpc_malloc(strlen(path) + 1);
  if (!*out)
    return IRPC_ENOMEM;
  strcpy(*out, path);
  return 0;
}

static int loc_init(irpc_invoker *self, const void *config) {
  locator *l = irpc_invoker_data(self);
  if (!config)
    return IRPC_EINVAL;
  irpc_locator_options buf;
  int rc;
  const irpc_locator_options *o =
      IRPC__VIEW(config, &buf, irpc_locator_options, &rc);
  if (!o)
    return rc;
  if (!o->locator)
    return IRPC_EINVAL;
  l->self = self;
  l->target = o->locator;
  l->ttl_ns = o->ttl_ms * NS_PER_MS;
  l->timeout_ns = o->resolve_timeout_ms * NS_PER_MS;
  l->max_cache = o->max_cache_size;
  rc = locator_path_of(o->locator_address, &l->locator_path);
  if (!rc && o->locator_address)
    rc = sa_clone(&l->locator_address, o->locator_address);
  if (!rc)
    rc = irpc_clock_take(&l->clock, o->clock, irpc_invoker_loop(self));
  if (rc) {
    irpc_free(l->locator_path);
    irpc_service_address_free(l->locator_address);
    l->locator_path = NULL;
    l->locator_address = NULL;
  }
  return rc;
}

static void loc_destroy(irpc_invoker *self) {
  locator *l = irpc_invoker_data(self);
  /* Lookups under way end when their call completes; they no longer see
   * the interceptor. */
  for (lookup *k = l->lookups, *next; k; k = next) {
    next = k->next;
    k->l = NULL;
    k->prev = k->next = NULL;
    irpc_clock_timer_stop(&k->timer);
    memset(&k->timer, 0, sizeof(k->timer)); /* its clock goes below */
    if (k->call)
      irpc_call_cancel(k->call, IRPC_EABORTED);
  }
  l->lookups = NULL;
  while (l->head)
    cache_unlink(l, l->head);
  irpc_clock_unref(l->clock);
  irpc_free(l->locator_path);
  irpc_service_address_free(l->locator_address);
}

static const irpc_invoker_ops locator_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "locator",
    .data_size = sizeof(locator),
    .call_state_size = sizeof(lstate),
    .init = loc_init,
    .invoke = loc_invoke,
    .on_complete = loc_on_complete,
    .destroy = loc_destroy,
};

int irpc_locator_new(irpc_invoker **out, uv_loop_t *loop,
                     const irpc_locator_options *o) {
  if (!out || !loop || !o)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &locator_ops, o);
}

static locator *as_locator(irpc_invoker *inv) {
  return inv && irpc_invoker_get_ops(inv) == &locator_ops
             ? irpc_invoker_data(inv)
             : NULL;
}

int irpc_locator_get_stats(irpc_invoker *inv, irpc_locator_stats *out) {
  locator *l = as_locator(inv);
  if (!l || !out)
    return IRPC_EINVAL;
  *out = l->stats;
  out->cached = 0;
  for (entry *e = l->head; e; e = e->next)
    out->cached += e->resolved != NULL;
  return 0;
}

int irpc_locator_clear(irpc_invoker *inv) {
  locator *l = as_locator(inv);
  if (!l)
    return IRPC_EINVAL;
  for (entry *e = l->head, *next; e; e = next) {
    next = e->next;
    if (!e->lookup)
      cache_unlink(l, e);
  }
  return 0;
}

/* ---- Registration ---- */

typedef struct reg {
  uv_loop_t *loop;
  irpc_invoker *invoker;
  irpc_service_address *locator_address;
  irpc_service_address *registry; /* from getRegistry */
  char *adapter_id;
  char *replica_group_id;
  irpc_service_address *endpoints;
  irpc_outgoing_request *req;
  irpc_call *call;
  irpc_clock *clock;
  irpc_clock_timer timer;
  int timed_out;
  int stage; /* 0 getRegistry, 1 set...DirectProxy */
  irpc_locator_register_cb cb;
  void *user_data;
} reg;

static void reg_free(reg *g) {
  irpc_clock_timer_stop(&g->timer);
  if (g->clock)
    irpc_clock_unref(g->clock);
  irpc_outgoing_request_free(g->req);
  irpc_service_address_free(g->locator_address);
  irpc_service_address_free(g->registry);
  irpc_service_address_free(g->endpoints);
  irpc_free(g->adapter_id);
  irpc_free(g->replica_group_id);
  irpc_free(g);
}

static void reg_end(reg *g, int err) {
  irpc_locator_register_cb cb = g->cb;
  void *ud = g->user_data;
  reg_free(g);
  cb(err, ud);
}

static void reg_done(irpc_call *call, int err, irpc_incoming_response *r,
                     void *user_data);

static int reg_send(reg *g, const char *path, const char *op,
                    const irpc_service_address *target) {
  irpc_outgoing_request_free(g->req);
  g->req = NULL;
  int rc = locator_request(&g->req, path, op, target);
  if (rc)
    return rc;
  if (g->stage == 1) {
    irpc_slice_encoder enc;
    rc = irpc_slice_encoder_init(&enc, irpc_outgoing_request_payload(g->req),
                                 IRPC_SLICE_ENCODING_1_1);
    if (!rc) {
      irpc_slice_encode_string(&enc, g->adapter_id, strlen(g->adapter_id));
      if (g->replica_group_id)
        irpc_slice_encode_string(&enc, g->replica_group_id,
                                 strlen(g->replica_group_id));
      encode_proxy(&enc, g->endpoints);
      rc = irpc_slice_encoder_flush(&enc);
    }
    if (rc)
      return rc;
  }
  return irpc_invoke(g->invoker, g->req, reg_done, g, &g->call);
}

/* The error a registry's user exception stands for. */
static int reg_exception(irpc_incoming_response *r) {
  if (exception_is(r, "::Ice::AdapterNotFoundException") ||
      exception_is(r, "::Ice::InvalidReplicaGroupIdException"))
    return IRPC_ENOTFOUND;
  if (exception_is(r, "::Ice::AdapterAlreadyActiveException"))
    return IRPC_EBUSY;
  return IRPC_ESTATUS;
}

static void reg_done(irpc_call *call, int err, irpc_incoming_response *r,
                     void *user_data) {
  (void)call;
  reg *g = user_data;
  g->call = NULL;
  if (err) {
    reg_end(g, g->timed_out ? IRPC_ETIMEDOUT : err);
    return;
  }
  uint64_t status = irpc_incoming_response_status(r);
  int rc = 0;
  if (status == IRPC_STATUS_APPLICATION_ERROR)
    rc = reg_exception(r);
  else if (status != IRPC_STATUS_OK)
    rc = IRPC_ESTATUS;
  if (!rc && g->stage == 0) {
    proxy p;
    irpc_slice_decoder d;
    irpc_slice_decoder_init_buf(&d, irpc_incoming_response_payload(r),
                                IRPC_SLICE_ENCODING_1_1);
    rc = decode_proxy(&d, &p);
    irpc_slice_decoder_fini(&d);
    if (rc) {
      rc = IRPC_EDATA;
    } else if (!p.resolved) {
      rc = IRPC_ENOTSUP; /* no registry, or one without endpoints */
      proxy_fini(&p);
    } else {
      /* The registry's own identity: decode it again for the path. */
      irpc_slice_decoder_init_buf(&d, irpc_incoming_response_payload(r),
                                  IRPC_SLICE_ENCODING_1_1);
      irpc_slice_identity id;
      char *n = NULL, *c = NULL;
      rc = irpc_slice_decode_identity(&d, &id);
      if (!rc)
        rc = bytes_dup(id.name, &n);
      if (!rc)
        rc = bytes_dup(id.category, &c);
      irpc_slice_decoder_fini(&d);
      char path[1024];
      if (!rc)
        rc = irpc_ice_identity_to_path(n, c, path, sizeof(path));
      irpc_free(n);
      irpc_free(c);
      g->registry = p.resolved;
      p.resolved = NULL;
      proxy_fini(&p);
      if (!rc) {
        irpc_incoming_response_free(r);
        g->stage = 1;
        rc = reg_send(g, path,
                      g->replica_group_id ? "setReplicatedAdapterDirectProxy"
                                          : "setAdapterDirectProxy",
                      g->registry);
        if (rc)
          reg_end(g, rc);
        return;
      }
    }
  }
  irpc_incoming_response_free(r);
  reg_end(g, rc);
}

static void reg_timeout(irpc_clock_timer *t, void *user_data) {
  (void)t;
  reg *g = user_data;
  g->timed_out = 1;
  if (g->call)
    irpc_call_cancel(g->call, IRPC_ETIMEDOUT);
}

void irpc_locator_registration_init_sized(irpc_locator_registration *r,
                                          size_t size) {
  irpc_locator_registration d;
  memset(&d, 0, sizeof(d));
  d.timeout_ms = 10000;
  irpc__struct_export(r, size, &d, sizeof(d));
}

static int str_copy(const char *s, char **out) {
  *out = NULL;
  if (!s)
    return 0;
  *out = irpc_malloc(strlen(s) + 1);
  if (!*out)
    return IRPC_ENOMEM;
  strcpy(*out, s);
  return 0;
}

int irpc_locator_register(uv_loop_t *loop, const irpc_locator_registration *r,
                          irpc_locator_register_cb cb, void *user_data) {
  if (!loop || !r || !cb)
    return IRPC_EINVAL;
  irpc_locator_registration buf;
  int rc;
  const irpc_locator_registration *o =
      IRPC__VIEW(r, &buf, irpc_locator_registration, &rc);
  if (!o)
    return rc;
  char *path = NULL;
  if (!o->invoker || !o->locator_address || !o->adapter_id || !*o->adapter_id ||
      irpc_service_address_server_count(o->locator_address) == 0 ||
      locator_path_of(o->locator_address, &path) ||
      (o->endpoints && endpoints_check(o->endpoints))) {
    irpc_free(path);
    return IRPC_EINVAL;
  }
  reg *g = irpc_calloc(1, sizeof(*g));
  if (!g) {
    irpc_free(path);
    return IRPC_ENOMEM;
  }
  g->loop = loop;
  g->invoker = o->invoker;
  g->cb = cb;
  g->user_data = user_data;
  rc = sa_clone(&g->locator_address, o->locator_address);
  if (!rc && o->endpoints)
    rc = sa_clone(&g->endpoints, o->endpoints);
  if (!rc)
    rc = str_copy(o->adapter_id, &g->adapter_id);
  if (!rc && o->replica_group_id && *o->replica_group_id)
    rc = str_copy(o->replica_group_id, &g->replica_group_id);
  if (!rc && o->timeout_ms) {
    rc = irpc_clock_system_new(&g->clock, loop);
    if (!rc) {
      irpc_clock_timer_init(&g->timer, reg_timeout, g);
      rc = irpc_clock_timer_start(g->clock, &g->timer,
                                  o->timeout_ms * NS_PER_MS);
    }
  }
  if (!rc)
    rc = reg_send(g, path, "getRegistry", g->locator_address);
  irpc_free(path);
  if (rc) {
    reg_free(g);
    return rc;
  }
  return 0;
}

/* ---- Shutdown of a registered server ---- */

typedef struct unreg {
  irpc_server *server;
  irpc_locator_shutdown_cb cb;
  void *user_data;
  int unregister_err;
} unreg;

static void unreg_server_down(irpc_server *s, int status, void *user_data) {
  unreg *u = user_data;
  irpc_locator_shutdown_cb cb = u->cb;
  void *ud = u->user_data;
  int err = u->unregister_err;
  irpc_free(u);
  cb(s, err, status, ud);
}

/* Unregistered (or not): the server shuts down now, as an Ice object
 * adapter deactivates once its endpoints are withdrawn. */
static void unreg_done(int err, void *user_data) {
  unreg *u = user_data;
  u->unregister_err = err;
  int rc = irpc_server_shutdown(u->server, unreg_server_down, u);
  if (rc) {
    irpc_server *s = u->server;
    irpc_locator_shutdown_cb cb = u->cb;
    void *ud = u->user_data;
    irpc_free(u);
    cb(s, err, rc, ud);
  }
}

int irpc_locator_server_shutdown(uv_loop_t *loop, irpc_server *server,
                                 const irpc_locator_registration *r,
                                 irpc_locator_shutdown_cb cb, void *user_data) {
  if (!loop || !server || !r || !cb)
    return IRPC_EINVAL;
  irpc_locator_registration buf;
  int rc;
  const irpc_locator_registration *o =
      IRPC__VIEW(r, &buf, irpc_locator_registration, &rc);
  if (!o)
    return rc;
  irpc_locator_registration none = *o;
  none.struct_size = sizeof(none);
  none.endpoints = NULL; /* the null proxy: unregistered */
  unreg *u = irpc_calloc(1, sizeof(*u));
  if (!u)
    return IRPC_ENOMEM;
  u->server = server;
  u->cb = cb;
  u->user_data = user_data;
  rc = irpc_locator_register(loop, &none, unreg_done, u);
  if (rc)
    irpc_free(u);
  return rc;
}
