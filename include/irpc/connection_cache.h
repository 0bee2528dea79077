/* irpc: the connection cache, an invoker that keeps one client connection
 * per server address and sends each request to a server of its target
 * (IceRPC's ConnectionCache).
 *
 * The target of a request is a service address (irpc/address.h) with one
 * or more server addresses: the main one and its alt-servers, e.g.
 *
 *   icerpc://host1:4062/hello?alt-server=host2:4062,host3:4062
 *   icerpc://localhost/hello?transport=uds&path=/run/a.sock
 *       &alt-server=localhost?transport=uds$path=/run/b.sock
 *
 * A request names it with irpc_outgoing_request_set_service_address; a
 * request without one goes to the cache's default target
 * (default_service_address in the options). Only the server addresses are
 * used: the request's own path is what the server dispatches.
 *
 * Choosing a connection, for every attempt of a call:
 *   1. With prefer_existing_connection (the default), the first server
 *      address of the target, in order, that has an active connection in
 *      the cache gets the request; that address becomes the first.
 *   2. Otherwise the cache uses, or connects to, the first server address;
 *      when connecting fails it moves that address to the end of the list
 *      and tries the next one, until each address was tried once. Calls to
 *      an address that is connecting wait for that connection: there is
 *      at most one connection per server address (addresses are compared
 *      with irpc_server_address_equal). Every failure to get a connection
 *      to an address moves on to the next one (refused, unreachable,
 *      unknown host, connect timeout, server busy, a failed handshake, a
 *      transport name irpc does not know, max_connections reached), except
 *      IRPC_ENOMEM; when every address failed, the call fails with the
 *      error of the last one tried.
 *   3. A request the chosen connection did not send (it was shutting
 *      down: IRPC_EREFUSED, or it had just closed: IRPC_ECLOSED) goes
 *      through 1-2 again, at most 3 times. A connection a call failed on
 *      because the connection was lost (UV_ECONNABORTED, UV_ECONNRESET,
 *      UV_EPIPE, UV_ETIMEDOUT, IRPC_ECLOSEDBYPEER, IRPC_EIDLE) leaves the
 *      cache at once, so a retry connects again.
 *
 * Retry (irpc/retry.h): the cache gives every call an
 * irpc_server_addresses_feature value (owned by the call, removed when it
 * completes; a value the application set is put aside and restored then).
 * Its remove_current drops the first server address, the one the last
 * attempt went to, so when that server answers Unavailable the retry
 * interceptor's next attempt goes to the next address; once none is left
 * the call fails with IRPC_ENOCONN (and the retry interceptor returns the
 * last Unavailable response instead). Put the retry interceptor in front
 * of the cache:
 *
 *   irpc_pipeline_use(p, retry);
 *   irpc_pipeline_into(p, cache);
 *
 * Connections: each has the options given (connection); connect_timeout_ms
 * bounds the transport connect and the handshake together. A connection
 * that closes, or that its peer or its inactivity timeout asks to shut
 * down, leaves the cache at once (it finishes its calls meanwhile); the
 * next call to its address connects again. The transport is
 * connection.transport when set (for every address), else the one the
 * address names ("tcp" when it names none, "uds").
 *
 * Limits: at most max_connections connections (connecting or active) at
 * once (default 100); connecting to one more fails that address with
 * IRPC_ELIMIT. A target may have at most IRPC_CONNECTION_CACHE_MAX_SERVERS
 * server addresses.
 *
 * Errors of its calls: IRPC_EINVAL (no target: the request has no service
 * address and the cache no default), IRPC_EPROTONOSUPPORT (a target whose
 * protocol this build does not speak: "ice://..." without the ice protocol; no
 * connect is made), IRPC_ELIMIT (a target with too many server addresses, or
 * max_connections reached), IRPC_EBUSY (the request is already in another call
 * through a connection cache: a request may be in one such call at a time),
 * IRPC_ENOCONN (every server address was removed), connection-establishment
 * errors (UV_ECONNREFUSED, UV_ENOENT for a Unix socket path nobody listens on,
 * IRPC_ETIMEDOUT, IRPC_ESERVERBUSY, a getaddrinfo error, ...), what the
 * connection fails the call with, IRPC_ECLOSED after
 * irpc_connection_cache_shutdown (also for calls the shutting-down connections
 * refused), IRPC_EABORTED for calls still waiting for a connection when the
 * cache is freed, IRPC_ENOMEM.
 *
 * Threading: the cache and its connections belong to its loop. */
#ifndef IRPC_CONNECTION_CACHE_H
#define IRPC_CONNECTION_CACHE_H

#include <uv.h>

#include "irpc/address.h"
#include "irpc/connection.h"
#include "irpc/features.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most server addresses (main + alt-servers) a target may have. */
#define IRPC_CONNECTION_CACHE_MAX_SERVERS 32
/* The most server addresses whose connection count the cache remembers
 * for its connect hooks (see irpc_connection_cache_on_connect). */
#define IRPC_CONNECTION_CACHE_HISTORY_MAX 1024

/* ---- The target of a request ---- */

/* The feature holding a request's target: a const irpc_service_address *,
 * borrowed (the collection does not free it). */
IRPC_API extern const irpc_feature_key irpc_service_address_feature;

/* Sets the target of `r` (NULL removes it). Borrowed: `sa` must stay valid
 * until every call of `r` has completed. An ice address without a server
 * address ("ice:/hello?adapter-id=A", "ice:/hello") is accepted for a
 * locator interceptor (irpc/locator.h) to resolve; a cache given such a
 * target fails the call with IRPC_EINVAL.
 * Errors: IRPC_EINVAL (r NULL, or sa without a server address and not
 * ice),
 * IRPC_ELIMIT (more than IRPC_CONNECTION_CACHE_MAX_SERVERS server
 * addresses), IRPC_ENOMEM. */
IRPC_API int
irpc_outgoing_request_set_service_address(irpc_outgoing_request *r,
                                          const irpc_service_address *sa);

/* The target of `r`, or NULL when it has none (or r is NULL). */
IRPC_API const irpc_service_address *
irpc_outgoing_request_service_address(const irpc_outgoing_request *r);

/* ---- The cache ---- */

typedef struct irpc_connection_cache_options {
  size_t struct_size; /* set by irpc_connection_cache_options_init */
  /* Prefer an active connection to any server address of the target over
   * connecting to the first one: 1 (default) or 0. */
  int prefer_existing_connection;
  /* Connections at once, connecting or active: 100; 0 = unlimited. */
  uint64_t max_connections;
  /* The target of requests that have none: a service address URI with at
   * least one server address, or NULL (default) for none. Copied. */
  const char *default_service_address;
  /* Options of every connection: connect_timeout_ms (10 s),
   * shutdown_timeout_ms (10 s), transport, dispatcher (answers the
   * servers' calls back), limits, `icerpc` (copied by
   * irpc_connection_cache_new). Last, so it grows with this struct (its own
   * struct_size is not read). */
  irpc_connection_options connection;
} irpc_connection_cache_options;

/* Sets `o` to the defaults (above) and o->struct_size. Call
 * irpc_connection_cache_options_init, which passes this header's sizeof
 * (irpc/version.h). */
IRPC_API void
irpc_connection_cache_options_init_sized(irpc_connection_cache_options *o,
                                         size_t size);
static inline void
irpc_connection_cache_options_init(irpc_connection_cache_options *o) {
  irpc_connection_cache_options_init_sized(o, sizeof(*o));
}

/* Creates a connection cache on `loop`; `o` NULL means the defaults. No
 * connection is made before the first call. Free it with irpc_invoker_free
 * (or the pipeline that owns it): that aborts its connections, fails the
 * calls waiting for one with IRPC_EABORTED and the calls under way with
 * UV_ECONNABORTED.
 * Errors: IRPC_EINVAL (out or loop NULL, o->struct_size 0, smaller than the
 * first irpc_connection_cache_options or larger with non-zero unknown
 * members, o->connection.icerpc->struct_size likewise, connection or icerpc
 * options out of range,
 * a default_service_address that does not parse or has no server
 * address), IRPC_EPROTONOSUPPORT (a default target whose protocol this
 * build does not speak: "ice://..." without the ice protocol),
 * IRPC_ELIMIT (a default target with too many server addresses),
 * IRPC_EPATH, IRPC_ENOMEM. */
IRPC_API int irpc_connection_cache_new(irpc_invoker **out, uv_loop_t *loop,
                                       const irpc_connection_cache_options *o);

/* The active connections of the cache (borrowed; valid until the loop
 * runs again), oldest first: up to `cap` of them in `out` (which may be
 * NULL when cap is 0). Returns how many there are; 0 for anything that is
 * not a connection cache. */
IRPC_API size_t irpc_connection_cache_connections(irpc_invoker *cache,
                                                  irpc_connection **out,
                                                  size_t cap);

/* Graceful shutdown: new calls fail with IRPC_ECLOSED, calls waiting for a
 * connection fail with IRPC_ECLOSED, connects under way are abandoned, and
 * every connection shuts down (its calls under way complete). `cb` (may be
 * NULL) runs once, on a later loop turn, when every connection has closed:
 * with 0 when all of them closed gracefully, else with the close error of
 * the first that did not (UV_ECONNABORTED when shutdown_timeout_ms passed
 * and it was aborted). irpc_invoker_free may follow at any time (then `cb`
 * never runs).
 * Errors: IRPC_EINVAL (not a connection cache), IRPC_ECLOSED (already shut
 * down). */
typedef void (*irpc_connection_cache_cb)(irpc_invoker *cache, int status,
                                         void *user_data);
IRPC_API int irpc_connection_cache_shutdown(irpc_invoker *cache,
                                            irpc_connection_cache_cb cb,
                                            void *user_data);

/* Registers a connect hook (irpc/connection.h: irpc_connect_hook) that
 * runs each time the cache establishes a connection to a server address,
 * before the calls that waited for it are sent; `inv` is the cache and
 * ev->server_address the address connected to. ev->count counts the
 * connections the cache established to that address (equal addresses in
 * the sense of irpc_server_address_equal), so after a server restart the
 * next connection to it arrives with reconnected = 1 and the error the
 * previous one closed with. The cache remembers the counts of the last
 * IRPC_CONNECTION_CACHE_HISTORY_MAX addresses it connected to; an address
 * forgotten since (or whose count could not be kept, out of memory)
 * counts from 1 again. Hooks never run once the cache is freed; the rules
 * of irpc_client_connection_on_connect apply (no irpc_invoker_free of the
 * cache inside a hook).
 * Returns a token (> 0) for irpc_connection_cache_off_connect.
 * Errors (negative): IRPC_EINVAL (not a connection cache, cb NULL),
 * IRPC_ENOMEM. */
IRPC_API long irpc_connection_cache_on_connect(irpc_invoker *cache,
                                               irpc_connect_hook cb,
                                               void *user_data);
/* Removes a hook; an unknown token is ignored. */
IRPC_API void irpc_connection_cache_off_connect(irpc_invoker *cache,
                                                long token);

#ifdef __cplusplus
}
#endif
#endif
