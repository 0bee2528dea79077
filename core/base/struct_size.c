/* The size check of the public structs callers fill. */
#include "base/struct_size.h"

#include <stdint.h>

#include "irpc/error.h"

int irpc__struct_check(const void *src, size_t size, size_t min_size) {
  size_t n = IRPC__STRUCT_SIZE(src);
  if (n < min_size || n < sizeof(size_t))
    return IRPC_EINVAL;
  if (n < size)
    return 1;
  const uint8_t *tail = (const uint8_t *)src + size;
  for (size_t i = 0; i < n - size; i++)
    if (tail[i])
      return IRPC_EINVAL;
  return 0;
}

int irpc__struct_import(void *dst, size_t dst_size, const void *src,
                        size_t min_size) {
  memset(dst, 0, dst_size);
  int rc = irpc__struct_check(src, dst_size, min_size);
  if (rc < 0)
    return rc;
  size_t n = IRPC__STRUCT_SIZE(src);
  memcpy(dst, src, n < dst_size ? n : dst_size);
  *(size_t *)dst = dst_size;
  return 0;
}

void irpc__struct_export(void *dst, size_t dst_size, const void *src,
                         size_t src_size) {
  if (!dst || dst_size < sizeof(size_t))
    return;
  memset(dst, 0, dst_size);
  memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
  *(size_t *)dst = dst_size;
}
