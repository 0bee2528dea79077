/* Shared by the transport files. Never installed. */
#ifndef IRPC_CORE_TRANSPORT_INTERNAL_H
#define IRPC_CORE_TRANSPORT_INTERNAL_H

#include "irpc/transport.h"
#include "base/scheduler.h"
#include "model/address_internal.h"

/* Copies `s` into buf[len] with a NUL. Errors: UV_ENOBUFS. */
int irpc__copy_str(char *buf, size_t len, const char *s);

/* The scheduler of the duplex's loop (the duplex holds a reference). */
irpc__sched *irpc__duplex_sched(const irpc_duplex *d);
/* 1 while a write the implementation has not completed is queued (the
 * socket did not take it all at once). */
int irpc__duplex_writing(const irpc_duplex *d);

/* The built-in stream transports. */
extern const irpc_transport_ops irpc__tcp_transport_ops;
extern const irpc_transport_ops irpc__uds_transport_ops;

/* Moves the socket of a connected TCP or Unix-socket duplex out, to serve
 * it on another loop: *fd receives a duplicate of it (close-on-exec) and
 * `d` is closed, without a shutdown or a reset.
 * Errors: IRPC_ENOTSUP (not a built-in stream duplex; `d` untouched),
 * the system's (UV_EMFILE, ...; `d` untouched). */
int irpc__stream_duplex_detach(irpc_duplex *d, uv_os_sock_t *fd, int *is_pipe);

/* A TCP listener on `loop` over a socket of its own with SO_REUSEPORT set
 * before it is bound: several listeners (one per loop) may bind the same
 * address and port, and the kernel spreads the connections among them.
 * Errors: IRPC_ENOTSUP (the system has no SO_REUSEPORT), IRPC_EINVAL (not
 * a TCP address), IRPC_ENOMEM, the system's (UV_EADDRINUSE, ...). */
int irpc__tcp_listen_reuseport(irpc_listener **out, uv_loop_t *loop,
                               const irpc_server_address *addr,
                               irpc_accept_cb cb, void *ud);

/* A connected duplex on `loop` over the socket `fd`, which it owns from now
 * on (closed on error too). Errors: IRPC_ENOMEM, libuv's. */
int irpc__stream_duplex_adopt(irpc_duplex **out, uv_loop_t *loop,
                              uv_os_sock_t fd, int is_pipe);

#endif
