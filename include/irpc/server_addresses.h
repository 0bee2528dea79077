/* irpc: the server addresses a call may still try.
 *
 * A terminal that chooses among several server addresses (the connection
 * cache, irpc/connection_cache.h) sets the feature
 * irpc_server_addresses_feature on each request for the duration of each
 * call. The retry interceptor (irpc/retry.h) calls remove_current when the
 * server at the address the last attempt used answered Unavailable; it
 * returns 1 when another address is left to try, else 0. The value is
 * borrowed (not released by the collection).
 *
 * Threading: the value belongs to the call's loop. */
#ifndef IRPC_SERVER_ADDRESSES_H
#define IRPC_SERVER_ADDRESSES_H

#include "irpc/features.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_server_addresses {
  int (*remove_current)(struct irpc_server_addresses *self);
} irpc_server_addresses;

/* The feature key; its value is an `irpc_server_addresses *`. */
IRPC_API extern const irpc_feature_key irpc_server_addresses_feature;

#ifdef __cplusplus
}
#endif
#endif
