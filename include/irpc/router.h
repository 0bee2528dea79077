/* irpc: the router, a dispatcher that routes by path.
 *
 *     irpc_router_new(&r, loop);
 *     irpc_router_use(r, logger_mw);            -- runs before routing
 *     irpc_router_map(r, "/hello", hello);      -- exact path
 *     irpc_router_mount(r, "/admin", admin);    -- path prefix
 *     irpc_router_route(r, "/v2", &v2);         -- sub-router at /v2
 *
 * Middleware run before routing, in the order added, so they also see
 * requests that end NotFound. Routing (as IceRPC's Router):
 *   1. a sub-router strips its absolute prefix (a path outside it is an
 *      InternalError);
 *   2. an exact `map` match wins;
 *   3. otherwise the longest `mount` prefix, trying the path and then its
 *      parents segment by segment up to "/" (a prefix matches whole
 *      segments only: "/a" matches "/a/b", not "/ab");
 *   4. nothing matched: NotFound. More than 10 segments tried: InvalidData
 *      "Too many segments in path.".
 *
 * The router owns its middleware and sub-routers, not the dispatchers given
 * to map and mount (they must outlive it). map, mount, use and route fail
 * with IRPC_EFROZEN after the first dispatch. */
#ifndef IRPC_ROUTER_H
#define IRPC_ROUTER_H

#include "irpc/dispatcher.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_router irpc_router;

#define IRPC_ROUTER_MAX_SEGMENTS 10

/* The most middleware a router takes. A dispatch enters the router, each
 * middleware, the route step and the target: 60 leaves room within
 * IRPC_DISPATCH_MAX_DEPTH. Sub-routers add their own frames; a dispatch
 * that goes deeper is answered InternalError (see dispatcher.h). */
#define IRPC_ROUTER_MAX_MIDDLEWARE 60

/* Errors: IRPC_EINVAL, IRPC_ENOMEM. */
IRPC_API int irpc_router_new(irpc_router **out, uv_loop_t *loop);

/* Destroys the router, its middleware and sub-routers; no dispatch may be
 * in flight. NULL is a no-op. */
IRPC_API void irpc_router_free(irpc_router *r);

/* Routes `path` exactly to `d`, replacing an earlier route of that path.
 * Errors: IRPC_EINVAL (NULL), IRPC_EPATH, IRPC_EFROZEN, IRPC_ENOMEM. */
IRPC_API int irpc_router_map(irpc_router *r, const char *path,
                             irpc_dispatcher *d);

/* Routes every path under `prefix` to `d` (a trailing '/' is ignored, "/"
 * catches everything), replacing an earlier mount of that prefix.
 * Errors: as irpc_router_map. */
IRPC_API int irpc_router_mount(irpc_router *r, const char *prefix,
                               irpc_dispatcher *d);

/* Adds a middleware (ownership passes to the router on success).
 * Errors: IRPC_EINVAL (NULL, another loop, already added), IRPC_EFROZEN,
 * IRPC_ELIMIT (the router already has IRPC_ROUTER_MAX_MIDDLEWARE),
 * IRPC_ENOMEM. */
IRPC_API int irpc_router_use(irpc_router *r, irpc_dispatcher *middleware);

/* Creates a sub-router mounted at `prefix`, whose maps and mounts are
 * relative to it; it is owned by `r`.
 * Errors: as irpc_router_map. */
IRPC_API int irpc_router_route(irpc_router *r, const char *prefix,
                               irpc_router **sub);

/* The router as a dispatcher. */
IRPC_API irpc_dispatcher *irpc_router_dispatcher(irpc_router *r);

#ifdef __cplusplus
}
#endif
#endif
