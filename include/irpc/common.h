/* irpc: export macro and small shared value types. */
#ifndef IRPC_COMMON_H
#define IRPC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(IRPC_BUILDING_SHARED)
#define IRPC_API __declspec(dllexport)
#elif defined(IRPC_USING_SHARED)
#define IRPC_API __declspec(dllimport)
#else
#define IRPC_API
#endif
#elif defined(__GNUC__)
#define IRPC_API __attribute__((visibility("default")))
#else
#define IRPC_API
#endif

#if defined(__GNUC__)
#define IRPC_DEPRECATED(msg) __attribute__((deprecated(msg)))
#define IRPC_NODISCARD __attribute__((warn_unused_result))
#else
#define IRPC_DEPRECATED(msg)
#define IRPC_NODISCARD
#endif

/* A borrowed, read-only view of contiguous bytes. Who owns the memory and
 * how long it stays valid is stated by the function that hands it out. */
typedef struct irpc_bytes {
  const uint8_t *base;
  size_t len;
} irpc_bytes;

/* The largest value a varuint62 can hold: field keys and status codes are
 * varuint62 on the wire. */
#define IRPC_VARUINT62_MAX ((UINT64_C(1) << 62) - 1)

#endif
