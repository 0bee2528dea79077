/* What the multi-loop server needs of a server. Never installed. */
#ifndef IRPC_CORE_SERVER_INTERNAL_H
#define IRPC_CORE_SERVER_INTERNAL_H

#include "connector.h"
#include "irpc/server.h"

/* Serves the connected duplex `d` (owned from now on) as if `s` had
 * accepted it on a listener of route `route`: on `s`'s loop thread.
 * Returns 0 when the connection joined the server (its on_connection
 * close callback will run), else IRPC_ESERVERBUSY (refused: over
 * max_connections or shutting down; it closes itself) or the error that
 * kept it from being created (the duplex is closed). */
int irpc__server_adopt(irpc_server *s, const irpc__route *route,
                       irpc_duplex *d);

#endif
