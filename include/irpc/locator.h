/* irpc: the locator interceptor (ZeroC IceGrid), and registration of a
 * server's adapter with a locator registry.
 *
 * Resolving (IceRPC's Locator interceptor). An Ice deployment names its
 * services instead of addressing them: "hello@HelloAdapter" (an adapter id)
 * or the well-known "hello", which irpc parses into the ice service
 * addresses "ice:/hello?adapter-id=HelloAdapter" and "ice:/hello" (no
 * server address; irpc/address.h, irpc_service_address_parse_ice_proxy).
 * Put the locator interceptor in front of a connection cache, and give each
 * request such a target (irpc_outgoing_request_set_service_address):
 *
 *   irpc_pipeline_use(p, retry);     optional, in front of the locator
 *   irpc_pipeline_use(p, locator);
 *   irpc_pipeline_into(p, cache);
 *
 * The interceptor acts only on requests whose target has protocol ice and
 * no server address; it passes every other request on untouched. It asks
 * the locator, with the ice protocol's encoding 1.1:
 *
 *   - an adapter id: ::Ice::Locator::findAdapterById(string id);
 *   - otherwise the identity of the path: findObjectById(Ice::Identity);
 *     a well-known object whose proxy names an adapter id instead of
 *     endpoints is resolved again with findAdapterById.
 *
 * Both return an Object* proxy. Its TCP and SSL endpoints become the
 * server addresses of the request's target for the call (transport "tcp"
 * or "ssl"; Ice's timeout and compression flag are not kept; other
 * endpoint types are skipped), and the request goes on. A null proxy, a
 * proxy with no usable endpoint, or the user exceptions
 * ::Ice::AdapterNotFoundException / ::Ice::ObjectNotFoundException mean
 * "not found": the call completes with a NotFound response whose message
 * names the adapter or identity. A lookup that fails (the locator invoker
 * fails, answers another status or a reply that does not decode, or does
 * not answer within resolve_timeout_ms) completes every call waiting for
 * it with the error: the locator call's error, IRPC_ESTATUS for another
 * status, IRPC_EDATA for a bad reply, IRPC_ETIMEDOUT for the timeout.
 *
 * Cache: answers are kept per adapter id and per identity, at most
 * max_cache_size of them (least recently used first out), for ttl_ms (0:
 * until evicted). Calls for a name whose lookup is under way wait for it:
 * concurrent lookups of one name are one locator call. As in IceRPC, a
 * request sent again after an attempt that used a cached answer (a retry:
 * irpc/retry.h) resolves the name again instead of using the cache, so a
 * server that moved is found; an attempt that used a fresh answer leaves
 * the next one free to use the cache. A canceled waiting call completes
 * with its cancel error; the lookup goes on and fills the cache.
 *
 * The locator is reached through `locator`, any invoker (a client
 * connection to ice://host:4061, a connection cache, a pipeline, a coloc
 * invoker in tests); the requests to it have the path of
 * locator_address (default "/IceGrid/Locator", IceGrid's instance name
 * "IceGrid"), and locator_address as their target when it has server
 * addresses (for a connection cache).
 *
 * Threading: the interceptor belongs to its loop, as every invoker. */
#ifndef IRPC_LOCATOR_H
#define IRPC_LOCATOR_H

#include <uv.h>

#include "irpc/address.h"
#include "irpc/clock.h"
#include "irpc/invoker.h"
#include "irpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_locator_options {
  size_t struct_size;
  /* Required: the invoker that reaches the locator. Borrowed: it must
   * outlive the interceptor. */
  irpc_invoker *locator;
  /* The Locator object ("ice:/IceGrid/Locator" when NULL), e.g. parsed
   * from "BenchGrid/Locator:tcp -h 127.0.0.1 -p 4061". Copied. */
  const irpc_service_address *locator_address;
  uint64_t ttl_ms;             /* 0 (default): answers do not expire */
  uint64_t resolve_timeout_ms; /* default 10000; 0: no timeout */
  size_t max_cache_size;       /* default 100; 0: no cache (lookups are
                                  still coalesced) */
  irpc_clock *clock;           /* NULL: the system clock */
} irpc_locator_options;

/* Sets `o` to the defaults and o->struct_size. Call
 * irpc_locator_options_init. */
IRPC_API void irpc_locator_options_init_sized(irpc_locator_options *o,
                                              size_t size);
static inline void irpc_locator_options_init(irpc_locator_options *o) {
  irpc_locator_options_init_sized(o, sizeof(*o));
}

/* Creates the interceptor.
 * Errors: IRPC_EINVAL (out, loop or o NULL, o->struct_size 0 or not a
 * version of this struct, no locator invoker, a locator_address that is
 * not ice or whose path is not an identity, a clock of another loop),
 * IRPC_ENOMEM. */
IRPC_API int irpc_locator_new(irpc_invoker **out, uv_loop_t *loop,
                              const irpc_locator_options *o);

typedef struct irpc_locator_stats {
  uint64_t lookups;    /* calls made to the locator (a well-known object
                          resolved through its adapter counts two) */
  uint64_t cache_hits; /* calls that used a cached answer */
  uint64_t coalesced;  /* calls that waited for another call's lookup */
  uint64_t refreshes;  /* lookups made because a retry followed a call
                          that used a cached answer */
  uint64_t not_found;  /* lookups the locator answered "not found" */
  uint64_t failures;   /* lookups that failed (error, timeout, bad reply) */
  size_t cached;       /* answers in the cache now */
} irpc_locator_stats;

/* The counters of a locator interceptor.
 * Errors: IRPC_EINVAL (NULL argument, not a locator interceptor). */
IRPC_API int irpc_locator_get_stats(irpc_invoker *locator,
                                    irpc_locator_stats *out);

/* Forgets every cached answer (lookups under way finish).
 * Errors: IRPC_EINVAL (NULL, not a locator interceptor). */
IRPC_API int irpc_locator_clear(irpc_invoker *locator);

/* ---- Registration (LocatorRegistry) ----
 *
 * Makes a server's adapter known to the locator, so that Ice clients
 * ("hello@MyAdapter") and irpc clients (the interceptor above) find it by
 * name: Locator::getRegistry(), then on the registry it returns
 * LocatorRegistry::setAdapterDirectProxy(adapter_id, proxy), or
 * setReplicatedAdapterDirectProxy(adapter_id, replica_group_id, proxy)
 * with a replica group. The proxy carries the server addresses of
 * `endpoints` (ice, transport tcp or unspecified, or ssl; the t parameter
 * is the Ice timeout, default 60000 ms; z sets the compress flag);
 * `endpoints` NULL unregisters (a null proxy), as a server does at
 * shutdown. IceGrid accepts an adapter it does not know only with
 * IceGrid.Registry.DynamicRegistration=1.
 *
 * `invoker` must reach both the locator and the registry, whose endpoints
 * the locator returns (IceGrid.Registry.Server.Endpoints): a connection
 * cache. Each request has as target the object it calls. */
typedef struct irpc_locator_registration {
  size_t struct_size;
  irpc_invoker *invoker;                       /* required, borrowed */
  const irpc_service_address *locator_address; /* required, with a server
                                                  address; borrowed */
  const char *adapter_id;                      /* required, non-empty */
  const char *replica_group_id;                /* NULL or "": none */
  const irpc_service_address *endpoints;       /* NULL: unregister */
  uint64_t timeout_ms;                         /* default 10000 */
} irpc_locator_registration;

IRPC_API void irpc_locator_registration_init_sized(irpc_locator_registration *r,
                                                   size_t size);
static inline void
irpc_locator_registration_init(irpc_locator_registration *r) {
  irpc_locator_registration_init_sized(r, sizeof(*r));
}

/* `err` 0 when the registry took the proxy, else: IRPC_ENOTFOUND (the
 * registry does not know the adapter and does not register it
 * dynamically: AdapterNotFoundException, or an unknown replica group:
 * InvalidReplicaGroupIdException), IRPC_EBUSY (another server has the
 * adapter: AdapterAlreadyActiveException), IRPC_ENOTSUP (the locator has
 * no registry, or one Ice cannot reach by endpoints), IRPC_ESTATUS (another
 * error status), IRPC_EDATA (a reply that does not decode), IRPC_ETIMEDOUT,
 * or the error of a call. */
typedef void (*irpc_locator_register_cb)(int err, void *user_data);

/* Starts a registration (or an unregistration, endpoints NULL); `cb` runs
 * once, later, on `loop`.
 * Errors (cb will not run): IRPC_EINVAL (NULL loop, r or cb, a struct_size
 * of 0, no invoker, a locator address without a server address or whose
 * path is not an identity, an empty adapter id, endpoints that are not ice
 * or have a server address Ice cannot name: uds, memory), IRPC_ENOMEM. */
IRPC_API int irpc_locator_register(uv_loop_t *loop,
                                   const irpc_locator_registration *r,
                                   irpc_locator_register_cb cb,
                                   void *user_data);

/* ---- Shutting a registered server down ----
 *
 * An Ice object adapter withdraws its endpoints from the registry when it
 * is deactivated, so that no client resolves its adapter id to a server
 * that is gone. irpc_locator_server_shutdown does the same for an irpc
 * server registered with irpc_locator_register: it unregisters the adapter
 * (setAdapterDirectProxy, or setReplicatedAdapterDirectProxy, with the null
 * proxy: `r` as given to register, its `endpoints` ignored), then, whether
 * that succeeded or not, shuts `server` down (irpc_server_shutdown). `cb`
 * runs once, later, on `loop`, with `unregister_err` as
 * irpc_locator_register_cb's `err` (0: unregistered; the registry
 * unreachable within r->timeout_ms: IRPC_ETIMEDOUT...) and `status` as
 * irpc_server_shutdown_cb's (0, IRPC_ETIMEDOUT), or irpc_server_shutdown's
 * error (IRPC_ECLOSED: the server was already shutting down, which it
 * then finishes on its own). */
typedef void (*irpc_locator_shutdown_cb)(irpc_server *server,
                                         int unregister_err, int status,
                                         void *user_data);

/* Errors (cb will not run, the server is not shut down): as
 * irpc_locator_register, and IRPC_EINVAL for a NULL server. */
IRPC_API int irpc_locator_server_shutdown(uv_loop_t *loop, irpc_server *server,
                                          const irpc_locator_registration *r,
                                          irpc_locator_shutdown_cb cb,
                                          void *user_data);

#ifdef __cplusplus
}
#endif
#endif
