/* irpc: RPC status codes, as carried in responses (IceRPC's StatusCode).
 *
 * A status code is the outcome of a dispatch, sent by the server; it is not a
 * library error (see error.h). The enum is unchecked on the wire: a response
 * may carry any varuint62 value, which irpc keeps as is. */
#ifndef IRPC_STATUS_H
#define IRPC_STATUS_H

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum irpc_status {
  IRPC_STATUS_OK = 0,
  IRPC_STATUS_APPLICATION_ERROR = 1,
  IRPC_STATUS_NOT_FOUND = 2,
  IRPC_STATUS_NOT_IMPLEMENTED = 3,
  IRPC_STATUS_UNAVAILABLE = 4,
  IRPC_STATUS_INTERNAL_ERROR = 5,
  IRPC_STATUS_INVALID_DATA = 6,
  IRPC_STATUS_TRUNCATED_PAYLOAD = 7,
  IRPC_STATUS_DEADLINE_EXCEEDED = 8,
  IRPC_STATUS_UNAUTHORIZED = 9,
  IRPC_STATUS_NOT_SUPPORTED = 10
} irpc_status;

/* The IceRPC name of a status code ("Ok", "NotFound", ...), or "Unknown"
 * for a value outside 0..10. A static string. */
IRPC_API const char *irpc_status_name(uint64_t status);

#ifdef __cplusplus
}
#endif
#endif
