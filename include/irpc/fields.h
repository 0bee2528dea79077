/* irpc: field dictionaries (varuint62 key -> encoded bytes).
 *
 * Requests and responses carry fields: small values that interceptors and
 * middleware exchange over the wire (a deadline, a compression format, a
 * trace context). Keys are varuint62 (0 .. IRPC_VARUINT62_MAX); values are
 * opaque bytes, already encoded. A dictionary keeps each key at most once.
 *
 * Views returned by irpc_fields_get and irpc_fields_at stay valid until the
 * dictionary is next modified or its frame is freed. */
#ifndef IRPC_FIELDS_H
#define IRPC_FIELDS_H

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Well-known request field keys (IceRPC's RequestFieldKey). */
enum {
  IRPC_REQUEST_FIELD_CONTEXT = 0,       /* Slice dictionary<string, string> */
  IRPC_REQUEST_FIELD_TRACE_CONTEXT = 1, /* W3C trace context */
  IRPC_REQUEST_FIELD_COMPRESSION_FORMAT = 2, /* one byte */
  IRPC_REQUEST_FIELD_DEADLINE = 3,   /* int64 LE, absolute UTC .NET ticks */
  IRPC_REQUEST_FIELD_IDEMPOTENT = 4, /* empty value; presence is the flag */
};

/* Well-known response field keys (IceRPC's ResponseFieldKey). */
enum {
  IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT = 2, /* one byte */
};

typedef struct irpc_fields irpc_fields;

/* Sets `key` to a copy of `len` bytes, replacing any previous value. A
 * replacement that fits the previous value's space is written in place
 * (setting a field of the same size on every call allocates nothing), and
 * the space of replaced values is reused before the storage grows.
 * `value` may be a view into the same dictionary (from irpc_fields_get).
 * On error the dictionary is unchanged.
 * Errors: IRPC_EINVAL (f NULL, value NULL with len > 0),
 *         IRPC_EOVERFLOW (key > IRPC_VARUINT62_MAX), IRPC_ENOMEM. */
IRPC_API int irpc_fields_set(irpc_fields *f, uint64_t key, const void *value,
                             size_t len);

/* Looks `key` up; on success *value views the bytes.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOTFOUND. */
IRPC_API int irpc_fields_get(const irpc_fields *f, uint64_t key,
                             irpc_bytes *value);

/* 1 if `key` is present, else 0. */
IRPC_API int irpc_fields_has(const irpc_fields *f, uint64_t key);

/* Removes `key`.
 * Errors: IRPC_EINVAL (f NULL), IRPC_ENOTFOUND. */
IRPC_API int irpc_fields_remove(irpc_fields *f, uint64_t key);

/* Number of entries, and entry `i` in insertion order.
 * irpc_fields_at errors: IRPC_EINVAL (NULL argument), IRPC_ERANGE (i out of
 * range). */
IRPC_API size_t irpc_fields_count(const irpc_fields *f);
IRPC_API int irpc_fields_at(const irpc_fields *f, size_t i, uint64_t *key,
                            irpc_bytes *value);

/* Removes every entry. */
IRPC_API void irpc_fields_clear(irpc_fields *f);

/* Replaces the content of `dst` with a copy of `src`.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM (dst unchanged). */
IRPC_API int irpc_fields_copy(irpc_fields *dst, const irpc_fields *src);

#ifdef __cplusplus
}
#endif
#endif
