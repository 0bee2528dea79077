/* The protocol connection as its owners (client connection, connection
 * cache, server) see it. */
#ifndef IRPC_CORE_CONNECTION_INTERNAL_H
#define IRPC_CORE_CONNECTION_INTERNAL_H

#include "irpc/connection.h"
#include "irpc/ice.h"
#include "irpc/transport.h"
#include "protocol.h"

typedef struct irpc__conn_owner {
  /* The handshake finished (err 0) or failed; on failure on_closed follows
   * later. */
  void (*on_connected)(irpc_connection *c, int err, void *ud);
  /* The peer sent GoAway, or the connection was inactive: the owner should
   * shut it down (irpc_connection_shutdown). */
  void (*on_shutdown_requested)(irpc_connection *c, void *ud);
  /* The connection is closed and its transport released; the owner drops
   * its reference now. */
  void (*on_closed)(irpc_connection *c, int err, void *ud);
} irpc__conn_owner;

/* Starts the handshake of protocol `proto` (irpc__protocol_find) over a
 * connected duplex (owned from now on). The owner holds the returned
 * reference.
 * Errors: IRPC_EINVAL (options out of range, no protocol), IRPC_ENOMEM (the
 * duplex is closed). */
int irpc__connection_new(irpc_connection **out, irpc_duplex *d,
                         const irpc__protocol_ops *proto, int is_client,
                         const irpc_connection_options *opts,
                         const irpc__conn_owner *owner, void *owner_ud);
/* Detaches the owner: no more owner callbacks. */
void irpc__connection_disown(irpc_connection *c);
/* A server refusing a connection (shutting down, over its limit): once the
 * handshake is done the protocol closes it telling the peer why. */
void irpc__connection_refuse(irpc_connection *c, irpc__refuse_reason why);
/* Checks options, the part of every protocol included.
 * Errors: IRPC_EINVAL. */
int irpc__connection_options_check(const irpc_connection_options *o);
/* Storage for the protocol parts of a connection's options, next to the
 * copy of the options that points to them. */
typedef struct irpc__proto_options {
  irpc_icerpc_options icerpc;
  irpc_ice_options ice;
} irpc__proto_options;

/* Reads the caller's connection options `src` (NULL: the defaults) into
 * `dst`, and the protocol options src->icerpc and src->ice point to into
 * `store`: dst->icerpc and dst->ice then point there (still NULL when
 * src's were), so the caller's structs need not outlive the call. `embedded`:
 * src is the member of a server or connection cache options struct, already
 * imported with it (its struct_size is not read). Then checks them. Errors:
 * IRPC_EINVAL (a struct_size refused, options out of range). */
int irpc__connection_options_import(irpc_connection_options *dst,
                                    irpc__proto_options *store,
                                    const irpc_connection_options *src,
                                    int embedded);
/* Points the protocol parts of `o` that are set at `store` (where a copy
 * of them was put). */
void irpc__proto_options_point(irpc_connection_options *o,
                               irpc__proto_options *store);
/* The result of the graceful shutdown: 0, IRPC_ETIMEDOUT, or the error
 * that ended it. */
int irpc__connection_shutdown_status(const irpc_connection *c);

#endif
