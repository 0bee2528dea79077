/* irpc: running blocking handlers off the loop.
 *
 * A dispatcher runs on its loop's thread and must not block it: one slow
 * handler (a disk read, a database query, a long computation) would stall
 * every connection of the loop. The offload dispatcher hands each request
 * to a blocking handler on a thread of a bounded pool and completes the
 * dispatch back on its loop, with the response the handler built.
 *
 * The pool is bounded twice: `threads` handlers run at once, and at most
 * `max_queued` requests wait for a thread. A request that finds the queue
 * full is not queued: it is answered at once, on the loop, with
 *     status IRPC_STATUS_UNAVAILABLE (IceRPC's Unavailable),
 *     message "Server busy: the offload queue is full."
 * so the caller may retry later (elsewhere); nothing grows without bound.
 * A request canceled (irpc_dispatch_cancel, the peer's cancel, its
 * connection gone) while it waits leaves the queue at once; one whose
 * handler runs completes when the handler returns (its response is then
 * discarded).
 *
 * What a handler may touch: the request it is given, read-only (path,
 * operation, fields, features, payload: the loop does not touch them while
 * the handler runs), and a response it builds with
 * irpc_outgoing_response_new (and its fields and payload). Nothing that
 * belongs to a loop: no invoker, dispatch, connection or server.
 *
 * Threading: a pool is shared by any number of offload dispatchers, on any
 * loops (its functions are thread-safe, except irpc_offload_pool_free);
 * an offload dispatcher belongs to its loop, like any dispatcher. */
#ifndef IRPC_OFFLOAD_H
#define IRPC_OFFLOAD_H

#include <uv.h>

#include "irpc/common.h"
#include "irpc/dispatcher.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_offload_pool irpc_offload_pool;

typedef struct irpc_offload_pool_options {
  size_t struct_size; /* set by irpc_offload_pool_options_init */
  /* Threads, started at creation: 0 = one per core
   * (uv_available_parallelism); at most 1,024. */
  unsigned threads;
  /* Requests waiting for a thread at most, over every dispatcher of the
   * pool: 64 by default; 0 means none waits (a request is taken only when
   * a thread is idle). */
  size_t max_queued;
} irpc_offload_pool_options;

/* Sets `o` to the defaults and o->struct_size. Call
 * irpc_offload_pool_options_init, which passes this header's sizeof
 * (irpc/version.h). */
IRPC_API void irpc_offload_pool_options_init_sized(irpc_offload_pool_options *o,
                                                   size_t size);
static inline void
irpc_offload_pool_options_init(irpc_offload_pool_options *o) {
  irpc_offload_pool_options_init_sized(o, sizeof(*o));
}

/* Starts the pool's threads. `opts` NULL means the defaults.
 * Errors: IRPC_EINVAL (NULL out, opts->struct_size 0, smaller than the
 * first irpc_offload_pool_options or larger with non-zero unknown members,
 * threads over 1,024), IRPC_ENOMEM, libuv's starting a thread. */
IRPC_API int irpc_offload_pool_new(irpc_offload_pool **out,
                                   const irpc_offload_pool_options *opts);

/* What the pool did so far (each count read under its lock). */
typedef struct irpc_offload_pool_stats {
  uint64_t running;  /* handlers running now */
  uint64_t queued;   /* requests waiting for a thread now */
  uint64_t done;     /* handlers that returned */
  uint64_t rejected; /* requests answered "server busy" */
  uint64_t canceled; /* requests that left the queue, canceled */
} irpc_offload_pool_stats;

/* From any thread. Errors: IRPC_EINVAL (NULL argument). */
IRPC_API int irpc_offload_pool_read(irpc_offload_pool *p,
                                    irpc_offload_pool_stats *out);

/* Stops the threads and joins them. No offload dispatcher may use the pool
 * any more (free them first). NULL is a no-op. */
IRPC_API void irpc_offload_pool_free(irpc_offload_pool *p);

/* The blocking handler, on a thread of the pool: returns the response
 * (ownership passes), or NULL, which answers InternalError. */
typedef irpc_outgoing_response *(*irpc_offload_fn)(
    irpc_incoming_request *request, void *user_data);

/* A dispatcher on `loop` that runs `fn` on `pool` for each request it
 * receives (a route's target, or the last of a chain: it has no next).
 * `pool` is borrowed: it must outlive the dispatcher.
 * Errors: IRPC_EINVAL (NULL out, loop, pool or fn), IRPC_ENOMEM,
 * libuv's. */
IRPC_API int irpc_offload_new(irpc_dispatcher **out, uv_loop_t *loop,
                              irpc_offload_pool *pool, irpc_offload_fn fn,
                              void *user_data);

#ifdef __cplusplus
}
#endif
#endif
