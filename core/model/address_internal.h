/* What the transports need of addresses beyond the public API. Never
 * installed. */
#ifndef IRPC_CORE_ADDRESS_INTERNAL_H
#define IRPC_CORE_ADDRESS_INTERNAL_H

#include <stdint.h>

#include "irpc/address.h"

/* Sets the port of an address (the listener's resolved port). */
void irpc__server_address_set_port(irpc_server_address *a, uint16_t port);

/* 0 when `host` is a DNS name or IPv4 literal of the characters a URI host
 * may hold, or an IPv6 literal without brackets; else IRPC_EINVAL. */
int irpc__host_check(const char *host);

/* 1 when every '%' of [s, s + n) starts a %XX escape (address_ice.c). */
int irpc__ice_escapes_ok(const char *s, size_t n);

/* Building an ice service address piece by piece (the Ice proxy parser).
 * The path is checked as irpc_service_address_parse checks it; the server
 * address given to _add_server is owned by `s` afterwards, also on error. */
irpc_service_address *irpc__service_address_new_ice(void);
int irpc__service_address_set_parts(irpc_service_address *s, const char *path,
                                    const char *fragment);
int irpc__service_address_add_param(irpc_service_address *s, const char *name,
                                    const char *value);
int irpc__service_address_add_server(irpc_service_address *s,
                                     irpc_server_address *a);

#endif
