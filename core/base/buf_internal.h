/* Internal layout of irpc_buf, so frames can embed a chain and avoid an
 * allocation per payload. */
#ifndef IRPC_CORE_BUF_INTERNAL_H
#define IRPC_CORE_BUF_INTERNAL_H

#include <stdatomic.h>

#include "irpc/buf.h"

#define IRPC__BUF_INLINE_SEGS 4

/* 1 while the C library's allocator is in force (alloc.c). */
int irpc__alloc_is_default(void);

typedef struct irpc__blk {
  atomic_size_t refs;
  size_t cap;
  uint8_t *data;
  irpc_buf_release_fn release; /* external blocks only */
  void *user_data;
  int external;
} irpc__blk;

typedef struct irpc__seg {
  irpc__blk *blk;
  size_t off;
  size_t len;
} irpc__seg;

struct irpc_buf {
  irpc__seg *segs;
  size_t nsegs;
  size_t cap;
  size_t len;
  irpc__blk *pending; /* a fresh block reserved but not yet committed */
  size_t reserved;    /* bytes handed out by the last irpc_buf_reserve */
  irpc__seg inline_segs[IRPC__BUF_INLINE_SEGS];
};

/* Grows an array that starts in inline storage to hold `need` items
 * (doubling; the first growth moves it to the heap). A heap-only array
 * passes inline_items NULL and starts empty (NULL, cap 0).
 * Errors: IRPC_ENOMEM (array unchanged). */
int irpc__array_grow(void **items, void *inline_items, size_t *cap,
                     size_t count, size_t need, size_t elem);

void irpc__buf_init(irpc_buf *b);
void irpc__buf_fini(irpc_buf *b);

#endif
