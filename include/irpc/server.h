/* irpc: the server. It listens on one or more addresses (TCP, Unix domain
 * sockets, in memory), accepts connections and dispatches their requests to
 * one dispatcher (a router, usually). Every accepted connection can also
 * call its client back: list them, find one by id, keep a reference.
 *
 * Threading: a server belongs to its loop. */
#ifndef IRPC_SERVER_H
#define IRPC_SERVER_H

#include <uv.h>

#include "irpc/common.h"
#include "irpc/connection.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_server irpc_server;

typedef struct irpc_server_options {
  size_t struct_size; /* set by irpc_server_options_init */
  /* Connections at once: 0 = unlimited. Over the limit, a connection is
   * refused with Slic's ServerBusy close code. */
  uint64_t max_connections;
  /* Options of every accepted connection; its `dispatcher` is ignored (the
   * server's is used), its `icerpc` is copied by irpc_server_new. Last, so
   * it grows with this struct (its own struct_size is not read). */
  irpc_connection_options connection;
} irpc_server_options;

/* Sets `o` to the defaults and o->struct_size. Call
 * irpc_server_options_init, which passes this header's sizeof (irpc/version.h).
 */
IRPC_API void irpc_server_options_init_sized(irpc_server_options *o,
                                             size_t size);
static inline void irpc_server_options_init(irpc_server_options *o) {
  irpc_server_options_init_sized(o, sizeof(*o));
}

/* Creates a server dispatching to `dispatcher` (borrowed; it must outlive
 * the server). `opts` NULL means the defaults.
 * Errors: IRPC_EINVAL (NULL argument, opts->struct_size 0, smaller than the
 * first irpc_server_options or larger with non-zero unknown members,
 * opts->connection.icerpc->struct_size likewise, options or icerpc options
 * out of range, a dispatcher of another loop), IRPC_ENOMEM. */
IRPC_API int irpc_server_new(irpc_server **out, uv_loop_t *loop,
                             irpc_dispatcher *dispatcher,
                             const irpc_server_options *opts);

/* Listens on `address` (an icerpc server address, see irpc/address.h:
 * "icerpc://127.0.0.1:0", "icerpc://[::1]:4062",
 * "icerpc://localhost?transport=uds&path=/run/app.sock", "unix:/run/x.sock").
 * Port 0 picks a free port. When `bound` is not NULL it receives the bound
 * address (port resolved) as a URI.
 * Errors: IRPC_EINVAL (bad address or unknown transport),
 * IRPC_EPROTONOSUPPORT (a protocol this build does not speak: "ice://..."
 * without the ice protocol; nothing is bound), IRPC_ECLOSED (shutting down),
 * UV_ENOBUFS (`bound` too small), the transport's errors (UV_EADDRINUSE,
 * UV_EACCES, ...), IRPC_ENOMEM.
 */
IRPC_API int irpc_server_listen(irpc_server *s, const char *address,
                                char *bound, size_t bound_len);

/* The connections: their number, and up to `cap` of them (borrowed) in
 * `out`, oldest first. Returns how many there are. Who is at the other end:
 * irpc_connection_remote_address for a TCP client ("127.0.0.1:50312"),
 * irpc_connection_peer_credentials for a Unix-socket client (its pid, uid
 * and gid). */
IRPC_API size_t irpc_server_connections(irpc_server *s, irpc_connection **out,
                                        size_t cap);
/* The connection with this id, or NULL (borrowed). */
IRPC_API irpc_connection *irpc_server_find_connection(irpc_server *s,
                                                      uint64_t id);

/* Called when a connection is established and when it closes (either may
 * be NULL). The connection is borrowed during the call. */
typedef void (*irpc_server_connection_cb)(irpc_server *s, irpc_connection *c,
                                          int err, void *user_data);
IRPC_API void irpc_server_on_connection(irpc_server *s,
                                        irpc_server_connection_cb on_open,
                                        irpc_server_connection_cb on_close,
                                        void *user_data);

/* Graceful: stops listening, shuts every connection down (their calls and
 * dispatches under way complete), then `cb` (may be NULL) runs once with 0
 * or IRPC_ETIMEDOUT when some connection had to be aborted.
 * Errors: IRPC_EINVAL, IRPC_ECLOSED (already shutting down). */
typedef void (*irpc_server_shutdown_cb)(irpc_server *s, int status,
                                        void *user_data);
IRPC_API int irpc_server_shutdown(irpc_server *s, irpc_server_shutdown_cb cb,
                                  void *user_data);

/* Aborts what is left and frees the server; its handles close on the next
 * loop turns. NULL is a no-op. */
IRPC_API void irpc_server_free(irpc_server *s);

#ifdef __cplusplus
}
#endif
#endif
