/* irpc: a server on several loops, one thread each (one per core by
 * default).
 *
 * Every irpc object belongs to one loop (docs/internals/THREADING.md); a
 * multi-loop server runs N of them. It starts N threads, each running a
 * loop of its own with an irpc_server (irpc/server.h) on it, and spreads
 * the connections it accepts over them: one loop (loop 0) listens and hands
 * each accepted socket to the loop with the fewest connections (ties go
 * round-robin), where the connection lives until it closes. Everything a
 * connection does (its dispatches, calls back to its client through
 * irpc_incoming_request_invoker or irpc_incoming_request_connection) runs
 * on that loop's thread.
 *
 * Each loop dispatches to its own dispatcher chain, built on that loop's
 * thread by the application's factory: routers, middleware and their state
 * stay single-loop, as everywhere in irpc. What several loops share must be
 * documented as thread-safe (an irpc_offload_pool, irpc/offload.h; the
 * memory of a parsed address; the allocator).
 *
 * Transports: TCP and Unix domain sockets (the built-in ones), and TLS
 * over them when the server options carry a `tls_server` context
 * (irpc/tls.h). A socket is moved to its loop as a file descriptor: an
 * application transport (the connection options' `transport`) or the
 * memory transport cannot be moved, and irpc_multi_server_listen refuses
 * them. Over TLS loop 0 accepts the TCP (or UDS) socket and hands it over
 * as any other; the loop that gets it runs the TLS handshake (bounded by
 * connect_timeout_ms) and serves the connection once it completes. The
 * context is shared by every loop (its certificate is locked, so
 * irpc_tls_server_set_certificate from any thread applies to the
 * handshakes that start afterwards on every loop); its on_handshake_error
 * runs on the loop of the failed handshake.
 *
 * Threading: irpc_multi_server_new, _listen, _visit, _shutdown and _free
 * are called by one controlling thread at a time, never from a thread of
 * the server's loops (they wait for the loops, which would then wait for
 * themselves); irpc_multi_server_read_stats, _loops and _loop from any
 * thread. The factory, the release function, the connection callbacks and
 * the functions given to irpc_multi_server_visit run on a loop's thread.
 * Each loop's irpc_server (irpc_multi_server_server) is used on that
 * loop's thread only, like any server; its irpc_server_on_connection is
 * the multi-loop server's (use the options' on_open and on_close). */
#ifndef IRPC_MULTI_SERVER_H
#define IRPC_MULTI_SERVER_H

#include <uv.h>

#include "irpc/common.h"
#include "irpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_multi_server irpc_multi_server;

/* Loops a multi-loop server runs at most. */
#define IRPC_MULTI_SERVER_MAX_LOOPS 256

/* Builds the dispatcher chain of loop `index` (0..loops-1) on that loop's
 * thread, on `loop`, into *out. A negative return fails
 * irpc_multi_server_new with it: the factory then frees what it built and
 * leaves *out NULL (the release function runs for a loop only when *out
 * was set). */
typedef int (*irpc_multi_server_factory)(uv_loop_t *loop, unsigned index,
                                         irpc_dispatcher **out,
                                         void *user_data);
/* Frees what the factory built, on the same thread, once no dispatch of
 * that loop is in flight and its server is gone. */
typedef void (*irpc_multi_server_release)(uv_loop_t *loop, unsigned index,
                                          irpc_dispatcher *d, void *user_data);

typedef struct irpc_multi_server_options {
  size_t struct_size; /* set by irpc_multi_server_options_init */
  /* Loops (and threads): 0 = one per core the process may use
   * (uv_available_parallelism). At most IRPC_MULTI_SERVER_MAX_LOOPS. */
  unsigned loops;
  /* Required: builds each loop's dispatcher chain. */
  irpc_multi_server_factory factory;
  /* Optional: frees it (NULL: the chain is left alone). */
  irpc_multi_server_release release;
  /* Given to the factory, the release function and on_open/on_close. */
  void *user_data;
  /* Called on a connection's loop when it is established and when it
   * closes (irpc_server_on_connection's rules; the server is that loop's).
   * Either may be NULL. */
  irpc_server_connection_cb on_open;
  irpc_server_connection_cb on_close;
  /* The options of every loop's server: max_connections counts per loop;
   * connection.transport must be NULL (the built-in transports). Last, so
   * it grows with this struct. */
  irpc_server_options server;
} irpc_multi_server_options;

/* Sets `o` to the defaults (one loop per core, no factory) and
 * o->struct_size. Call irpc_multi_server_options_init, which passes this
 * header's sizeof (irpc/version.h). */
IRPC_API void irpc_multi_server_options_init_sized(irpc_multi_server_options *o,
                                                   size_t size);
static inline void
irpc_multi_server_options_init(irpc_multi_server_options *o) {
  irpc_multi_server_options_init_sized(o, sizeof(*o));
}

/* Starts the loops and their threads, builds each loop's chain (factory)
 * and server, and returns once all are ready. On error nothing is left
 * running: the chains already built are released, the threads joined.
 * Errors: IRPC_EINVAL (NULL out or opts, opts->struct_size 0, smaller than
 * the first irpc_multi_server_options or larger with non-zero unknown
 * members, no factory, loops over IRPC_MULTI_SERVER_MAX_LOOPS, a
 * connection.transport, server options out of range as for
 * irpc_server_new, a factory that returned 0 without a dispatcher of its
 * loop), IRPC_ENOMEM, libuv's errors starting a loop or a thread, or what
 * a factory returned. */
IRPC_API int irpc_multi_server_new(irpc_multi_server **out,
                                   const irpc_multi_server_options *opts);

/* Listens on `address` (irpc_server_listen's forms, TCP or Unix domain
 * socket) from loop 0, and returns once it listens; `bound` as for
 * irpc_server_listen.
 * Errors: IRPC_EINVAL (NULL argument, a bad address, a transport name
 * other than "tcp" and "uds", called from a thread of the server),
 * IRPC_ENOTSUP (a transport whose connections cannot move between loops:
 * one set in the server options; nothing is bound), IRPC_EPROTONOSUPPORT,
 * IRPC_ECLOSED (shut down),
 * UV_ENOBUFS
 * (`bound` too small), the transport's errors (UV_EADDRINUSE, ...),
 * IRPC_ENOMEM. */
IRPC_API int irpc_multi_server_listen(irpc_multi_server *ms,
                                      const char *address, char *bound,
                                      size_t bound_len);

/* Listens on the TCP `address` from every loop, each on a socket of its
 * own with SO_REUSEPORT set before it is bound (port 0: loop 0's port is
 * bound by the others), and returns once all listen: the kernel spreads
 * the connections among the loops (by a hash of their addresses, not by
 * load), and each loop serves what it accepts, with no hand-over. `bound`
 * as for irpc_server_listen. irpc_multi_server_listen (one acceptor that
 * hands each connection to the least loaded loop) stays the default: it
 * balances by load, also Unix domain sockets, and its hand-over costs one
 * message per connection, not per call. On error no loop listens on
 * `address`.
 * Errors: those of irpc_multi_server_listen, and IRPC_ENOTSUP (a Unix
 * domain socket address, or a system without SO_REUSEPORT). */
IRPC_API int irpc_multi_server_listen_reuseport(irpc_multi_server *ms,
                                                const char *address,
                                                char *bound, size_t bound_len);

/* Its number of loops, and loop `index` (NULL past the last). The loop
 * belongs to its thread: it may be compared with irpc_dispatch_loop, not
 * run. */
IRPC_API unsigned irpc_multi_server_loops(const irpc_multi_server *ms);
IRPC_API uv_loop_t *irpc_multi_server_loop(const irpc_multi_server *ms,
                                           unsigned index);
/* The server of loop `index` (NULL past the last), for that loop's thread
 * only: from a dispatch of that loop, or irpc_multi_server_visit. */
IRPC_API irpc_server *irpc_multi_server_server(const irpc_multi_server *ms,
                                               unsigned index);

/* Runs fn(ms, index, loop, user_data) on each loop's thread, loop 0 first,
 * one after the other, and returns once the last has returned: the way to
 * read state kept per loop (an irpc_metrics object of each loop's chain,
 * the connections of each loop's server) on the thread it belongs to.
 * Errors: IRPC_EINVAL (NULL ms or fn, called from a thread of the server).
 */
typedef void (*irpc_multi_server_visit_fn)(irpc_multi_server *ms,
                                           unsigned index, uv_loop_t *loop,
                                           void *user_data);
IRPC_API int irpc_multi_server_visit(irpc_multi_server *ms,
                                     irpc_multi_server_visit_fn fn,
                                     void *user_data);

/* Counters of one loop, or their sum over the loops. */
typedef struct irpc_multi_server_stats {
  uint64_t connections_accepted; /* handed to the loop */
  uint64_t connections_current;  /* handed to it and not closed yet */
  uint64_t dispatches_total;     /* started */
  uint64_t dispatches_current;   /* started and not completed yet */
  uint64_t dispatches_failed;    /* completed with a status other than Ok */
} irpc_multi_server_stats;

/* From any thread, without stopping the loops: the sum over every loop in
 * *total (may be NULL), and loop i's counters in per_loop[i] for the first
 * `cap` loops. Each counter is read atomically; the set is not a snapshot
 * of one instant. Returns the number of loops.
 * Errors: none (ms NULL returns 0). */
IRPC_API unsigned
irpc_multi_server_read_stats(irpc_multi_server *ms,
                             irpc_multi_server_stats *total,
                             irpc_multi_server_stats *per_loop, unsigned cap);

/* Graceful, for every loop at once: stops listening, then each loop shuts
 * its server down (irpc_server_shutdown: dispatches under way complete,
 * connections close); returns once every loop has finished. The loops keep
 * running, idle, until irpc_multi_server_free (irpc_multi_server_visit and
 * the stats still work).
 * Returns 0, or IRPC_ETIMEDOUT when some connection had to be aborted.
 * Errors: IRPC_EINVAL (NULL ms, called from a thread of the server),
 * IRPC_ECLOSED (already shut down). */
IRPC_API int irpc_multi_server_shutdown(irpc_multi_server *ms);

/* Aborts what is left (irpc_server_free on each loop), releases each
 * loop's chain once its dispatches are done, stops the loops and joins
 * their threads. NULL is a no-op. Not from a thread of the server. */
IRPC_API void irpc_multi_server_free(irpc_multi_server *ms);

#ifdef __cplusplus
}
#endif
#endif
