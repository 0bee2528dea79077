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
  union {
    void *user_data; /* external blocks; links a cached block */
    size_t mark;     /* read blocks: end of the bytes chains may refer to */
  };
  int external;
  int big; /* a block of the pool's big class: read blocks (below), and
              the full blocks of a large irpc_buf_append */
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

/* The bytes an append writes after the chain's last byte, in the block
 * that holds it, before it needs a new block (0: none, or the block is
 * shared). */
size_t irpc__buf_tail_room(const irpc_buf *b);

/* Grows an array that starts in inline storage to hold `need` items
 * (doubling; the first growth moves it to the heap). A heap-only array
 * passes inline_items NULL and starts empty (NULL, cap 0).
 * Errors: IRPC_ENOMEM (array unchanged). */
int irpc__array_grow(void **items, void *inline_items, size_t *cap,
                     size_t count, size_t need, size_t elem);

void irpc__buf_init(irpc_buf *b);
void irpc__buf_fini(irpc_buf *b);

/* Read blocks: a loop reads from its sockets straight into one, and the
 * bytes of a read that a chain keeps are referenced there rather than
 * copied (irpc__buf_append_rblk).
 *
 * The loop holds one reference to its block. Before each read it asks
 * irpc__rblk_region for where to read: the whole block when nothing else
 * refers to it, else the part after the last byte a chain refers to (the
 * mark), while at least IRPC__RBLK_MIN_READ bytes are left there, else a
 * fresh block (the old one lives while chains refer to it). Bytes a chain
 * refers to are therefore never read over. Blocks come from the thread's
 * pool (pool.h), so a bulk transfer that frees each message's blocks
 * takes them back without the allocator. */
#define IRPC__RBLK_MIN_READ (64u * 1024u)
/* A piece of a read shorter than this is copied: the block it would pin
 * is large, and a copy of it is cheap. */
#define IRPC__RBLK_SHARE_MIN (8u * 1024u)

/* Where the next read into *slot goes (at least IRPC__RBLK_MIN_READ
 * bytes, *len of them): *slot is the loop's block (NULL at first), which
 * this may replace. The block becomes the thread's current read block,
 * the one irpc__rblk_of looks in. NULL when out of memory. */
uint8_t *irpc__rblk_region(irpc__blk **slot, size_t *len);
/* Drops the loop's reference (NULL: nothing). */
void irpc__rblk_release(irpc__blk *k);

/* The thread's current read block when the `len` bytes at `data` lie in
 * it and are at least IRPC__RBLK_SHARE_MIN long (worth referring to),
 * else NULL. */
irpc__blk *irpc__rblk_of(const uint8_t *data, size_t len);
/* Appends the `len` bytes at `data`, which lie in read block `k`
 * (irpc__rblk_of), as a reference to them: no copy. The block's mark
 * moves past them.
 * Errors: IRPC_ENOMEM (chain unchanged). */
int irpc__buf_append_rblk(irpc_buf *b, irpc__blk *k, const uint8_t *data,
                          size_t len);

#endif
