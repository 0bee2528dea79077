/* irpc: the one allocator hook used by the whole library.
 *
 * Every allocation irpc makes goes through the allocator installed here, and
 * so do libuv's (through uv_replace_allocator) and, once compression is
 * installed, zstd's and brotli's. Install it once, before any other irpc or
 * libuv call, from one thread. */
#ifndef IRPC_ALLOC_H
#define IRPC_ALLOC_H

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write `.struct_size = sizeof(irpc_allocator)` in the initializer
 * (irpc/version.h). */
typedef struct irpc_allocator {
  size_t struct_size; /* sizeof(irpc_allocator) */
  void *opaque;       /* passed back as the first argument of each function */
  /* Returns NULL on failure. Must accept size 0 (returning NULL or a unique
   * pointer). */
  void *(*alloc)(void *opaque, size_t size);
  /* realloc(opaque, NULL, n) behaves as alloc. */
  void *(*realloc)(void *opaque, void *ptr, size_t size);
  /* free(opaque, NULL) is a no-op. */
  void (*free)(void *opaque, void *ptr);
} irpc_allocator;

/* Installs `a` (copied) as the library-wide allocator; NULL restores the C
 * library's malloc/realloc/free. Also routes libuv's allocations through it.
 *
 * Errors:
 *   IRPC_EINVAL  a member function pointer is NULL; a->struct_size 0,
 *                smaller than the first irpc_allocator, or larger with
 *                non-zero unknown members.
 *   IRPC_EBUSY   libuv refused the replacement (it has already allocated);
 *                irpc's own allocator is then left unchanged. */
IRPC_API int irpc_set_allocator(const irpc_allocator *a);

/* The allocator in force (never NULL). */
IRPC_API const irpc_allocator *irpc_get_allocator(void);

/* Allocate and free through the installed allocator, for interceptors and
 * middleware that want their memory accounted the same way. irpc_free
 * preserves errno and accepts NULL. irpc_calloc returns NULL when n * size
 * overflows. */
IRPC_API void *irpc_malloc(size_t size);
IRPC_API void *irpc_calloc(size_t n, size_t size);
IRPC_API void *irpc_realloc(void *ptr, size_t size);
IRPC_API void irpc_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
