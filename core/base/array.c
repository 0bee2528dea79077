/* Growth of arrays by doubling, inline storage first or heap only. */
#include <string.h>

#include "buf_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"

/* The capacity of an array's first heap storage when it had none. */
#define FIRST_CAP 4

int irpc__array_grow(void **items, void *inline_items, size_t *cap,
                     size_t count, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap * 2 : FIRST_CAP;
  while (n < need)
    n *= 2;
  if (n > SIZE_MAX / elem)
    return IRPC_ENOMEM;
  void *a = irpc_malloc(n * elem);
  if (!a)
    return IRPC_ENOMEM;
  if (count)
    memcpy(a, *items, count * elem);
  if (*items != inline_items)
    irpc_free(*items);
  *items = a;
  *cap = n;
  return 0;
}
