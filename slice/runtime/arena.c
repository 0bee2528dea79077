/* The arena of generated code: a bump allocator whose first block lives
 * inside the arena (so a small reply or dispatch allocates nothing) and
 * whose further blocks come from irpc_malloc, all freed at once. */
#include "irpc/alloc.h"
#include "irpc/slice_gen.h"

#define ARENA_ALIGN(n) (((n) + 15) & ~(size_t)15)
#define ARENA_MIN_BLOCK 2048

/* Header of a heap block; the data follows, 16-byte aligned. */
typedef struct arena_block {
  struct arena_block *next;
  size_t cap;
} arena_block;

#define ARENA_HDR ARENA_ALIGN(sizeof(arena_block))

void irpc_arena_init(irpc_arena *a, size_t max_heap) {
  a->cur = a->first;
  a->end = a->first + IRPC_ARENA_INLINE;
  a->blocks = NULL;
  a->limit = max_heap ? max_heap : IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION;
}

void *irpc_arena_alloc(irpc_arena *a, size_t size) {
  if (size > SIZE_MAX / 2)
    return NULL;
  size = ARENA_ALIGN(size ? size : 1);
  if (size <= (size_t)(a->end - a->cur)) {
    void *p = a->cur;
    a->cur += size;
    return p;
  }
  /* A new block: at least ARENA_MIN_BLOCK, or exactly `size` when that is
   * all the limit allows. What is left of the current block is given up. */
  size_t cap = size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK;
  if (cap > a->limit)
    cap = size;
  if (cap > a->limit)
    return NULL;
  arena_block *b = irpc_malloc(ARENA_HDR + cap);
  if (!b)
    return NULL;
  a->limit -= cap;
  b->cap = cap;
  b->next = a->blocks;
  a->blocks = b;
  uint8_t *data = (uint8_t *)b + ARENA_HDR;
  a->cur = data + size;
  a->end = data + cap;
  return data;
}

void irpc_arena_fini(irpc_arena *a) {
  if (!a)
    return;
  size_t returned = 0;
  arena_block *b = a->blocks;
  while (b) {
    arena_block *next = b->next;
    returned += b->cap;
    irpc_free(b);
    b = next;
  }
  a->blocks = NULL;
  a->cur = a->first;
  a->end = a->first + IRPC_ARENA_INLINE;
  a->limit += returned;
}
