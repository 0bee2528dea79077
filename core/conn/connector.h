/* The connector: from a server address to a connection. It is the one
 * place that picks the transport (by the address's transport name) and the
 * protocol (by the address's protocol), connects the transport under the
 * connect timeout and creates the connection. The client connection, the
 * connection cache and the server use it. See docs/internals/TRANSPORTS.md.
 */
#ifndef IRPC_CORE_CONNECTOR_H
#define IRPC_CORE_CONNECTOR_H

#include "connection_internal.h"
#include "base/scheduler.h"
#include "irpc/address.h"

/* The protocol named `name` (an address's protocol): *out is its
 * operations (irpc__protocol_find, core/conn/protocol.h). Every choice of a
 * protocol by name goes through here (the connector's routes, the connection
 * cache's targets). Errors: IRPC_EPROTONOSUPPORT (a protocol this build does
 * not speak: "ice", NULL), *out untouched. */
int irpc__protocol_pick(const char *name, const irpc__protocol_ops **out);

/* How to reach a server address. */
typedef struct irpc__route {
  irpc_transport *transport;
  const irpc__protocol_ops *protocol;
} irpc__route;

/* The route to `a`: the protocol it names, and o->transport when not NULL
 * (the application's choice, for every address), else the transport the
 * address names ("tcp" when it names none or names "ssl"); over TLS when
 * the options carry a TLS context for this side (o->tls_client for a
 * client, o->tls_server for a server): the context's TLS transport over
 * that one, with connect_timeout_ms as its handshake timeout.
 * Errors: IRPC_EPROTONOSUPPORT (see irpc__protocol_pick), IRPC_EINVAL (a
 * transport name no built-in transport has, "ssl" without a TLS context),
 * IRPC_ENOMEM; *out untouched. */
int irpc__route_pick(const irpc_server_address *a,
                     const irpc_connection_options *o, int is_client,
                     irpc__route *out);

/* Creates the connection of route `r` over the connected duplex `d` (owned
 * from now on): irpc__connection_new with the route's protocol. */
int irpc__route_open(const irpc__route *r, irpc_connection **out,
                     irpc_duplex *d, int is_client,
                     const irpc_connection_options *opts,
                     const irpc__conn_owner *owner, void *owner_ud);

/* The end of a connect: `c` is the new connection, handshaking (the owner
 * holds its reference, its owner callbacks follow), err 0; or `c` is NULL
 * and err is IRPC_ETIMEDOUT (the transport did not connect within the
 * connect timeout), IRPC_ETLSTIMEDOUT (over TLS: the transport connected
 * but the TLS handshake did not finish within it), the transport's error
 * (UV_ECONNREFUSED, UV_ECANCELED after irpc__connect_stop, ...) or
 * irpc__connection_new's. */
typedef void (*irpc__connect_cb)(irpc_connection *c, int err, void *ud);

/* What the connects of one owner share; the owner keeps it, unchanged,
 * while it has connects under way (irpc__connect_cancel ends that). */
typedef struct irpc__connector {
  uv_loop_t *loop;
  irpc__sched *sched;
  /* The options of the connections (borrowed). connect_timeout_ms bounds
   * the whole establishment: the transport connect and then the handshake
   * share it. */
  const irpc_connection_options *options;
  const irpc__conn_owner *owner; /* of the connections */
  irpc__connect_cb done;
} irpc__connector;

/* One connect under way. */
typedef struct irpc__connect irpc__connect;

/* Connects to `a` over route `r`; the connection's owner callbacks and
 * `cn->done` get `ud`. `done` runs exactly once, never inside this call,
 * unless the connect is canceled first.
 * Errors (nothing started, `done` will not run): IRPC_ENOMEM, the
 * transport's errors (IRPC_EINVAL for an address it cannot use). */
int irpc__connect_start(const irpc__connector *cn, const irpc_server_address *a,
                        const irpc__route *r, void *ud, irpc__connect **out);

/* Ends the connect early: `done` runs later with the transport's error
 * (UV_ECANCELED). */
void irpc__connect_stop(irpc__connect *k);

/* Abandons the connect (its owner is going away): `done` never runs, the
 * connector is not used again, the duplex is closed and everything is
 * released later, on the loop. */
void irpc__connect_cancel(irpc__connect *k);

#endif
