/* Reading the public structs a caller fills (options structs, ops tables)
 * whatever the version of the header it was compiled with. Each such struct
 * starts with `size_t struct_size`, the sizeof the caller's header gave it.
 * The library reads the struct through these helpers: a shorter struct (an
 * older caller) reads as if its missing trailing members were zero (their
 * default), a longer one (a newer caller) is accepted when the members the
 * library does not know are all zero. See docs/internals/ABI.md. */
#ifndef IRPC_CORE_BASE_STRUCT_SIZE_H
#define IRPC_CORE_BASE_STRUCT_SIZE_H

#include <stddef.h>
#include <string.h>

#include "irpc/error.h"

/* The size of the first version of struct `type`: up to the end of its
 * member `last` (the last member that version had). */
#define IRPC__V1_SIZE(type, last)                                              \
  (offsetof(type, last) + sizeof(((type *)0)->last))

/* The first version of each public struct a caller fills, as the member it
 * ended with. A version that adds members leaves these as they are: a
 * caller's struct_size may not be smaller. */
#define IRPC__V1_irpc_invoker_ops IRPC__V1_SIZE(irpc_invoker_ops, destroy)
#define IRPC__V1_irpc_dispatcher_ops IRPC__V1_SIZE(irpc_dispatcher_ops, destroy)
#define IRPC__V1_irpc_payload_writer_ops                                       \
  IRPC__V1_SIZE(irpc_payload_writer_ops, end)
#define IRPC__V1_irpc_duplex_ops                                               \
  IRPC__V1_SIZE(irpc_duplex_ops, peer_credentials)
#define IRPC__V1_irpc_listener_ops IRPC__V1_SIZE(irpc_listener_ops, destroy)
#define IRPC__V1_irpc_transport_ops IRPC__V1_SIZE(irpc_transport_ops, destroy)
#define IRPC__V1_irpc_allocator IRPC__V1_SIZE(irpc_allocator, free)
#define IRPC__V1_irpc_telemetry_hooks                                          \
  IRPC__V1_SIZE(irpc_telemetry_hooks, user_data)
#define IRPC__V1_irpc_compress_options                                         \
  IRPC__V1_SIZE(irpc_compress_options, max_decompressed_size)
#define IRPC__V1_irpc_deadline_options                                         \
  IRPC__V1_SIZE(irpc_deadline_options, clock)
#define IRPC__V1_irpc_logger_options IRPC__V1_SIZE(irpc_logger_options, clock)
#define IRPC__V1_irpc_retry_options IRPC__V1_SIZE(irpc_retry_options, seed)
#define IRPC__V1_irpc_connection_options                                       \
  IRPC__V1_SIZE(irpc_connection_options, icerpc)
#define IRPC__V1_irpc_icerpc_options                                           \
  IRPC__V1_SIZE(irpc_icerpc_options, compression_formats)
#define IRPC__V1_irpc_ice_options IRPC__V1_SIZE(irpc_ice_options, compress)
#define IRPC__V1_irpc_stream_writer_options                                    \
  IRPC__V1_SIZE(irpc_stream_writer_options, max_queued)
#define IRPC__V1_irpc_stream_writer_ops                                        \
  IRPC__V1_SIZE(irpc_stream_writer_ops, on_end)
#define IRPC__V1_irpc_stream_reader_ops                                        \
  IRPC__V1_SIZE(irpc_stream_reader_ops, on_end)
#define IRPC__V1_irpc_stream_transform_ops                                     \
  IRPC__V1_SIZE(irpc_stream_transform_ops, free)
#define IRPC__V1_irpc_tls_options IRPC__V1_SIZE(irpc_tls_options, user_data)
/* These two end with an irpc_connection_options, whole: it grows with
 * them. */
#define IRPC__V1_irpc_server_options                                           \
  IRPC__V1_SIZE(irpc_server_options, connection)
#define IRPC__V1_irpc_connection_cache_options                                 \
  IRPC__V1_SIZE(irpc_connection_cache_options, connection)
#define IRPC__V1_irpc_multi_server_options                                     \
  IRPC__V1_SIZE(irpc_multi_server_options, server)
#define IRPC__V1_irpc_offload_pool_options                                     \
  IRPC__V1_SIZE(irpc_offload_pool_options, max_queued)
#define IRPC__V1_irpc_slice_op IRPC__V1_SIZE(irpc_slice_op, call)
#define IRPC__V1_irpc_slice_iface IRPC__V1_SIZE(irpc_slice_iface, nbases)
#define IRPC__V1_irpc_slice_call_opts                                          \
  IRPC__V1_SIZE(irpc_slice_call_opts, prepare_data)
#define IRPC__V1_irpc_slice_stream_elem                                        \
  IRPC__V1_SIZE(irpc_slice_stream_elem, decode)

/* irpc__struct_import of a `type` (the library's) from the caller's `src`. */
#define IRPC__IMPORT(dst, src, type)                                           \
  irpc__struct_import((dst), sizeof(type), (src), IRPC__V1_##type)
/* irpc__struct_check of the caller's `src` against `type`. */
#define IRPC__CHECK(src, type)                                                 \
  irpc__struct_check((src), sizeof(type), IRPC__V1_##type)

/* The struct_size a caller's struct announces. */
#define IRPC__STRUCT_SIZE(p) (*(const size_t *)(const void *)(p))

/* 1 when the caller's struct `p` (which was checked) has member `m`. For
 * members added after the first version, read in place (ops tables). */
#define IRPC__HAS(p, type, m)                                                  \
  (IRPC__STRUCT_SIZE(p) >= offsetof(type, m) + sizeof(((type *)0)->m))

/* Checks the struct_size of `src` against a library struct of `size` bytes
 * whose first version had `min_size`: 0 when `src` can be read in place
 * (struct_size >= size, every byte past `size` zero), 1 when it is an older,
 * shorter one (min_size <= struct_size < size), IRPC_EINVAL otherwise
 * (struct_size 0, or below min_size, or non-zero bytes past `size`). */
int irpc__struct_check(const void *src, size_t size, size_t min_size);

/* Copies the caller's struct `src` into `dst` (dst_size bytes, the library's
 * sizeof): min(struct_size, dst_size) bytes, the rest zeroed, and sets
 * dst's struct_size to dst_size. Returns 0 or IRPC_EINVAL (see
 * irpc__struct_check; dst is then zeroed). */
int irpc__struct_import(void *dst, size_t dst_size, const void *src,
                        size_t min_size);

/* The reverse, for the _init functions: writes the library's `src`
 * (src_size bytes) into the caller's `dst` of dst_size bytes (its header's
 * sizeof): min of both, zeros past src_size, struct_size = dst_size. A
 * dst_size below sizeof(size_t) writes nothing. */
void irpc__struct_export(void *dst, size_t dst_size, const void *src,
                         size_t src_size);

/* The struct to read: `src` itself when it can be read in place (the usual
 * case, one comparison), else `buf` (size bytes) holding its import; NULL
 * with *err set to IRPC_EINVAL when it is refused. */
static inline const void *irpc__struct_view(const void *src, void *buf,
                                            size_t size, size_t min_size,
                                            int *err) {
  *err = 0;
  if (IRPC__STRUCT_SIZE(src) == size)
    return src;
  if ((*err = irpc__struct_import(buf, size, src, min_size)) < 0)
    return NULL;
  return buf;
}

/* irpc__struct_view of the caller's `src` as a `type`, `buf` a `type`. */
#define IRPC__VIEW(src, buf, type, err)                                        \
  ((const type *)irpc__struct_view((src), (buf), sizeof(type),                 \
                                   IRPC__V1_##type, (err)))

#endif
