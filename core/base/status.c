#include "irpc/status.h"

const char *irpc_status_name(uint64_t status) {
  static const char *const names[] = {
      "Ok",
      "ApplicationError",
      "NotFound",
      "NotImplemented",
      "Unavailable",
      "InternalError",
      "InvalidData",
      "TruncatedPayload",
      "DeadlineExceeded",
      "Unauthorized",
      "NotSupported",
  };
  if (status < sizeof(names) / sizeof(names[0]))
    return names[status];
  return "Unknown";
}
