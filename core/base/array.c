/* Growth of arrays that start in inline storage and move to the heap. */
#include <string.h>

#include "buf_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"

int irpc__array_grow(void **items, void *inline_items, size_t *cap,
                     size_t count, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap * 2;
  while (n < need)
    n *= 2;
  if (n > SIZE_MAX / elem)
    return IRPC_ENOMEM;
  void *a = irpc_malloc(n * elem);
  if (!a)
    return IRPC_ENOMEM;
  memcpy(a, *items, count * elem);
  if (*items != inline_items)
    irpc_free(*items);
  *items = a;
  *cap = n;
  return 0;
}
