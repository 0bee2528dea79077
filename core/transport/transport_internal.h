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

/* The built-in stream transports. */
extern const irpc_transport_ops irpc__tcp_transport_ops;
extern const irpc_transport_ops irpc__uds_transport_ops;

#endif
