/* irpc_strerror and irpc_err_name, generated from IRPC_ERRNO_MAP. */
#include "irpc/error.h"

/* libuv allocates (and leaks) a string for codes it does not know, so only
 * the codes of its own map are handed to it. */
static int is_uv_code(int err) {
  switch (err) {
#define IRPC__UV_CASE(name, msg) case UV_##name:
    UV_ERRNO_MAP(IRPC__UV_CASE)
#undef IRPC__UV_CASE
    return 1;
  default:
    return 0;
  }
}

const char *irpc_strerror(int err) {
  switch (err) {
#define IRPC__ERR_MSG(name, off, msg)                                          \
  case IRPC_##name:                                                            \
    return msg;
    IRPC_ERRNO_MAP(IRPC__ERR_MSG)
#undef IRPC__ERR_MSG
  case 0:
    return "success";
  default:
    break;
  }
  if (is_uv_code(err))
    return uv_strerror(err);
  return "unknown error";
}

const char *irpc_err_name(int err) {
  switch (err) {
#define IRPC__ERR_NAME(name, off, msg)                                         \
  case IRPC_##name:                                                            \
    return "IRPC_" #name;
    IRPC_ERRNO_MAP(IRPC__ERR_NAME)
#undef IRPC__ERR_NAME
  case 0:
    return "OK";
  default:
    break;
  }
  if (is_uv_code(err))
    return uv_err_name(err);
  return "UNKNOWN";
}
