/* What the connector and the multi-loop server need of the TLS layer.
 * Never installed. Without TLS (none.c) the functions answer as for a
 * transport that is not TLS. */
#ifndef IRPC_CORE_TLS_INTERNAL_H
#define IRPC_CORE_TLS_INTERNAL_H

#include "irpc/address.h"
#include "irpc/transport.h"

/* 1 when `d` is a TLS duplex whose inner duplex is connected and whose
 * handshake has not ended: a connect that times out now timed out in the
 * TLS handshake. */
int irpc__tls_handshaking(const irpc_duplex *d);

/* When `t` is a TLS transport with a server context: *inner is the
 * transport under it for the address `a`, and *inner_addr the address to
 * give that transport (NULL: `a` itself; "ssl" becomes "tcp"), owned by
 * the caller. *inner NULL: `t` is not TLS. Errors: IRPC_EINVAL (a TLS
 * transport without a server context, or no transport for the address),
 * IRPC_ENOMEM. */
int irpc__tls_server_unwrap(irpc_transport *t, const irpc_server_address *a,
                            irpc_transport **inner,
                            irpc_server_address **inner_addr);

/* The address to show for a TLS listener of address `a` whose inner
 * listener is bound at `inner_bound`: *out NULL when it is `inner_bound`
 * itself, else a new address (an "ssl" address stays "ssl"). */
int irpc__tls_outer_address(const irpc_server_address *a,
                            const irpc_server_address *inner_bound,
                            irpc_server_address **out);

/* Server handshakes on one loop for sockets accepted elsewhere (the
 * multi-loop server's loops). `done(d, 0, ud)` hands over a TLS duplex
 * whose handshake completed (the callee owns it); `done(NULL, err, ud)`
 * reports a handshake that failed (the context's on_handshake_error has
 * seen it; the socket is closed) or was closed by
 * irpc__tls_handshaker_free (IRPC_ECLOSED). Each duplex given to
 * irpc__tls_handshaker_start ends in exactly one `done`. */
typedef struct irpc__tls_handshaker irpc__tls_handshaker;
typedef void (*irpc__tls_done_cb)(irpc_duplex *d, int err, void *ud);

/* A handshaker on `loop` with the server context of the TLS transport
 * `tls` (irpc__tls_server_unwrap said it is one), its handshake timeout,
 * and `protocol` ("icerpc", "ice") as the ALPN it accepts.
 * Errors: IRPC_EINVAL (not a TLS server transport), IRPC_ENOMEM. */
int irpc__tls_handshaker_new(irpc__tls_handshaker **out, uv_loop_t *loop,
                             irpc_transport *tls, const char *protocol,
                             irpc__tls_done_cb done, void *ud);
/* Runs the server handshake over `inner` (a connected duplex of the
 * handshaker's loop, owned from now on). */
void irpc__tls_handshaker_start(irpc__tls_handshaker *h, irpc_duplex *inner);
/* Closes the handshakes under way (each done with IRPC_ECLOSED, from
 * here) and frees the handshaker. */
void irpc__tls_handshaker_free(irpc__tls_handshaker *h);

#endif
