/* irpc: version macros and runtime version query.
 *
 * ABI policy: within one major version, functions are only added and opaque
 * types only grow. The public structs a caller fills and hands to the
 * library -- every options struct (irpc_retry_options, irpc_server_options,
 * ...) and every ops table (irpc_invoker_ops, irpc_dispatcher_ops,
 * irpc_payload_writer_ops, irpc_duplex_ops, irpc_listener_ops,
 * irpc_transport_ops, irpc_allocator, irpc_telemetry_hooks, and the
 * descriptors irpc-slicec emits) -- gain members only at their end, and
 * start with
 *
 *   size_t struct_size;
 *
 * the size of the struct in the header the caller was compiled with. Set it
 * this way:
 *
 *   - options structs: with the struct's irpc_X_options_init(&o), an inline
 *     function that passes the caller's sizeof to the library, which fills
 *     as many bytes as the caller has (a newer library never writes past an
 *     older caller's struct);
 *   - ops tables and hook structs: in the designated initializer,
 *       static const irpc_invoker_ops my_ops = {
 *           .struct_size = sizeof(irpc_invoker_ops),
 *           .name = "mine",
 *           ...
 *       };
 *     (irpc-slicec writes it in the descriptors it emits).
 *
 * The library then reads the caller's struct whatever the two versions:
 * a smaller struct (built against an older header) reads as if the members
 * it lacks were 0, their default; a larger one (a newer header) is accepted
 * when the members this library does not know are all 0. Every function
 * taking such a struct fails with IRPC_EINVAL, using nothing of it, when
 * struct_size is 0 (forgotten), smaller than the struct's first version,
 * or larger with a non-zero member this library does not know. Ops tables
 * are checked once, when the object using them is created (or a payload
 * writer attached); nothing is checked per call. Structs the library fills
 * for the caller (statistics, snapshots, decoded values) and values such as
 * irpc_bytes are not covered: they keep their layout within a major
 * version; so does irpc_feature_key, whose address is its identity. */
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
