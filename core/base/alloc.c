/* The library-wide allocator and the libuv trampolines that route libuv's
 * allocations through it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf_internal.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"
#include "irpc/error.h"

static void *std_alloc(void *opaque, size_t size) {
  (void)opaque;
  return malloc(size);
}

static void *std_realloc(void *opaque, void *ptr, size_t size) {
  (void)opaque;
  return realloc(ptr, size);
}

static void std_free(void *opaque, void *ptr) {
  (void)opaque;
  free(ptr);
}

static const irpc_allocator std_allocator = {
    .struct_size = sizeof(irpc_allocator),
    .opaque = NULL,
    .alloc = std_alloc,
    .realloc = std_realloc,
    .free = std_free,
};

static irpc_allocator current = {
    .struct_size = sizeof(irpc_allocator),
    .opaque = NULL,
    .alloc = std_alloc,
    .realloc = std_realloc,
    .free = std_free,
};

static void *uv_tramp_malloc(size_t size) {
  return current.alloc(current.opaque, size);
}

static void *uv_tramp_realloc(void *ptr, size_t size) {
  return current.realloc(current.opaque, ptr, size);
}

static void *uv_tramp_calloc(size_t n, size_t size) {
  return irpc_calloc(n, size);
}

static void uv_tramp_free(void *ptr) {
  irpc_free(ptr);
}

int irpc_set_allocator(const irpc_allocator *a) {
  irpc_allocator next;
  if (IRPC__IMPORT(&next, a ? a : &std_allocator, irpc_allocator) < 0 ||
      !next.alloc || !next.realloc || !next.free)
    return IRPC_EINVAL;
  if (uv_replace_allocator(uv_tramp_malloc, uv_tramp_realloc, uv_tramp_calloc,
                           uv_tramp_free) != 0)
    return IRPC_EBUSY;
  current = next;
  return 0;
}

const irpc_allocator *irpc_get_allocator(void) {
  return &current;
}

int irpc__alloc_is_default(void) {
  return current.alloc == std_alloc;
}

void *irpc_malloc(size_t size) {
  return current.alloc(current.opaque, size);
}

void *irpc_calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size)
    return NULL;
  void *p = current.alloc(current.opaque, n * size);
  if (p)
    memset(p, 0, n * size);
  return p;
}

void *irpc_realloc(void *ptr, size_t size) {
  return current.realloc(current.opaque, ptr, size);
}

void irpc_free(void *ptr) {
  if (!ptr)
    return;
  int saved = errno;
  current.free(current.opaque, ptr);
  errno = saved;
}
