/* irpc: version macros and runtime version query.
 *
 * ABI policy: within one major version, functions are only added and opaque
 * types only grow; a struct that is public (ops tables, irpc_bytes) gains
 * members only at its end, and the library checks ops tables by the members
 * it knows. */
#ifndef IRPC_VERSION_H
#define IRPC_VERSION_H

#define IRPC_VERSION_MAJOR 0
#define IRPC_VERSION_MINOR 1
#define IRPC_VERSION_PATCH 0
#define IRPC_VERSION_SUFFIX ""
#define IRPC_VERSION_HEX                                                       \
  ((IRPC_VERSION_MAJOR << 16) | (IRPC_VERSION_MINOR << 8) | IRPC_VERSION_PATCH)

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version as IRPC_VERSION_HEX, read at run time (it may differ
 * from the header's when linked against another build of the library). */
IRPC_API unsigned irpc_version(void);

/* The library's version as "MAJOR.MINOR.PATCH[SUFFIX]"; a static string. */
IRPC_API const char *irpc_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
