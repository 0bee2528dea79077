/* What the transports need of addresses beyond the public API. Never
 * installed. */
#ifndef IRPC_CORE_ADDRESS_INTERNAL_H
#define IRPC_CORE_ADDRESS_INTERNAL_H

#include <stdint.h>

#include "irpc/address.h"

/* Sets the port of an address (the listener's resolved port). */
void irpc__server_address_set_port(irpc_server_address *a, uint16_t port);

#endif
