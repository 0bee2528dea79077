/* Reference-counted buffer chains. */
#include <pthread.h>
#include <string.h>

#include "buf_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "pool.h"

/* A first block and its headroom fit in 1 KiB with the block header. */
#define FIRST_BLOCK_SIZE (1024 - sizeof(irpc__blk) - IRPC_BUF_HEADROOM)
/* Blocks of up to 2 KiB with their header come from the loop's pool
 * (pool.h): every message and header starts one. (Full-size blocks are
 * kept by the cache below.) */
#define POOLED(cap) ((cap) <= 2048 - sizeof(irpc__blk))

/* Full-size blocks freed on a thread are kept for that thread's next ones,
 * up to BLOCK_CACHE_MAX of them (2 MiB), while the C library's allocator is
 * in force (an installed allocator sees every block come and go). A bulk
 * transfer frees a message's blocks all at once: handed back to malloc,
 * they would often be the top of its heap, which it then returns to the
 * kernel, so that the next message takes a page fault every 4 KiB. The
 * blocks go back to the allocator when the thread ends; none is taken
 * from the cache once another allocator was installed. */
#define BLOCK_CACHE_MAX 512

typedef struct blk_cache {
  irpc__blk *head; /* linked through user_data */
  unsigned n;
} blk_cache;

static _Thread_local blk_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ok;

static void cache_drop(void *arg) {
  blk_cache *c = arg;
  while (c->head) {
    irpc__blk *k = c->head;
    IRPC__UNPOISON(k->data, IRPC_BUF_BLOCK_SIZE);
    c->head = k->user_data;
    irpc_free(k);
  }
  c->n = 0;
}

static void cache_key_init(void) {
  cache_key_ok = pthread_key_create(&cache_key, cache_drop) == 0;
}

/* Keeps a freed full-size block; 0 when the cache takes no more. */
static int cache_put(irpc__blk *k) {
  if (k->cap != IRPC_BUF_BLOCK_SIZE || cache.n >= BLOCK_CACHE_MAX ||
      !irpc__alloc_is_default())
    return 0;
  if (cache.n == 0) {
    /* registers the thread's cache for its end */
    pthread_once(&cache_once, cache_key_init);
    if (!cache_key_ok || pthread_setspecific(cache_key, &cache) != 0)
      return 0;
  }
  k->user_data = cache.head;
  cache.head = k;
  cache.n++;
  IRPC__POISON(k->data, k->cap); /* the header stays readable: it links */
  return 1;
}

static irpc__blk *cache_get(size_t cap) {
  irpc__blk *k = cache.head;
  if (cap != IRPC_BUF_BLOCK_SIZE || !k || !irpc__alloc_is_default())
    return NULL;
  IRPC__UNPOISON(k->data, cap);
  cache.head = k->user_data;
  cache.n--;
  return k;
}

/* A block of `cap` bytes whose memory `k` was just taken (NULL: none). */
static irpc__blk *blk_init(irpc__blk *k, size_t cap, int big) {
  if (!k)
    return NULL;
  atomic_init(&k->refs, 1);
  k->cap = cap;
  k->data = (uint8_t *)(k + 1);
  k->release = NULL;
  k->user_data = NULL; /* and the mark, 0 */
  k->external = 0;
  k->big = big;
  return k;
}

static irpc__blk *blk_new(size_t cap) {
  irpc__blk *k;
  if (POOLED(cap))
    k = irpc__pool_get(sizeof(*k) + cap);
  else if (!(k = cache_get(cap)))
    k = irpc_malloc(sizeof(*k) + cap);
  return blk_init(k, cap, 0);
}

static void blk_ref(irpc__blk *k) {
  atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

static void blk_unref(irpc__blk *k) {
  if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (k->external && k->release)
    k->release(k->data, k->user_data);
  if (k->big)
    irpc__pool_put(k, IRPC__POOL_BIG);
  else if (!k->external && POOLED(k->cap))
    irpc__pool_put(k, sizeof(*k) + k->cap);
  else if (k->external || !cache_put(k))
    irpc_free(k);
}

static int blk_unique(irpc__blk *k) {
  return !k->external &&
         atomic_load_explicit(&k->refs, memory_order_acquire) == 1;
}

/* A block of the pool's big class (IRPC__POOL_BIG bytes, header
 * included). */
#define BIG_CAP (IRPC__POOL_BIG - sizeof(irpc__blk))

static irpc__blk *big_new(void) {
  return blk_init(irpc__pool_get(IRPC__POOL_BIG), BIG_CAP, 1);
}

/* ---- Read blocks (buf_internal.h) ---- */

/* The block the thread's latest read went into. It is always one a loop
 * holds: a loop that lets go of its block clears it first. */
static _Thread_local irpc__blk *rblk_cur;

static void rblk_drop(irpc__blk *k) {
  if (rblk_cur == k)
    rblk_cur = NULL;
  blk_unref(k);
}

uint8_t *irpc__rblk_region(irpc__blk **slot, size_t *len) {
  irpc__blk *k = *slot;
  size_t at = 0;
  if (k) {
    if (atomic_load_explicit(&k->refs, memory_order_acquire) == 1) {
      k->mark = 0; /* no chain refers to it any more */
    } else {
      at = (k->mark + 63) & ~(size_t)63;
      if (at > k->cap || k->cap - at < IRPC__RBLK_MIN_READ) {
        rblk_drop(k); /* it lives while chains refer to it */
        *slot = k = NULL;
        at = 0;
      }
    }
  }
  if (!k) {
    if (!(k = big_new()))
      return NULL;
    *slot = k;
  }
  rblk_cur = k;
  *len = k->cap - at;
  return k->data + at;
}

void irpc__rblk_release(irpc__blk *k) {
  if (k)
    rblk_drop(k);
}

irpc__blk *irpc__rblk_of(const uint8_t *data, size_t len) {
  irpc__blk *k = rblk_cur;
  if (!k || len < IRPC__RBLK_SHARE_MIN)
    return NULL;
  uintptr_t p = (uintptr_t)data, lo = (uintptr_t)k->data;
  if (p < lo || p - lo > k->cap || len > k->cap - (p - lo))
    return NULL;
  return k;
}

void irpc__buf_init(irpc_buf *b) {
  /* The inline segments are written before they are read. */
  b->segs = b->inline_segs;
  b->nsegs = 0;
  b->cap = IRPC__BUF_INLINE_SEGS;
  b->len = 0;
  b->pending = NULL;
  b->reserved = 0;
}

static void drop_pending(irpc_buf *b) {
  if (b->pending)
    blk_unref(b->pending);
  b->pending = NULL;
  b->reserved = 0;
}

/* A chain of more than IRPC__BUF_INLINE_SEGS segments (the frames of a
 * burst gathered into one write) keeps them in an array from the loop's
 * pool (pool.h) as long as one fits, then on the heap, doubling. */
#define SEGS_POOLED (IRPC__POOL_MAX / sizeof(irpc__seg))

static void segs_free(irpc__seg *segs, size_t cap) {
  irpc__pool_put(segs, cap * sizeof(*segs));
}

void irpc__buf_fini(irpc_buf *b) {
  irpc_buf_clear(b);
  if (b->segs != b->inline_segs)
    segs_free(b->segs, b->cap);
  b->segs = b->inline_segs;
  b->cap = IRPC__BUF_INLINE_SEGS;
}

int irpc_buf_new(irpc_buf **out) {
  if (!out)
    return IRPC_EINVAL;
  irpc_buf *b = irpc_malloc(sizeof(*b));
  if (!b)
    return IRPC_ENOMEM;
  irpc__buf_init(b);
  *out = b;
  return 0;
}

void irpc_buf_free(irpc_buf *b) {
  if (!b)
    return;
  irpc__buf_fini(b);
  irpc_free(b);
}

size_t irpc_buf_len(const irpc_buf *b) {
  return b ? b->len : 0;
}

void irpc_buf_clear(irpc_buf *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->nsegs; i++)
    blk_unref(b->segs[i].blk);
  b->nsegs = 0;
  b->len = 0;
  drop_pending(b);
}

/* Makes room for `extra` more segments. */
static int segs_grow(irpc_buf *b, size_t extra) {
  size_t need = b->nsegs + extra;
  if (need <= b->cap)
    return 0;
  if (need < b->nsegs)
    return IRPC_ENOMEM;
  size_t n;
  irpc__seg *a;
  if (need <= SEGS_POOLED) {
    /* all of the pool's object */
    n = irpc__pool_size(need * sizeof(*a)) / sizeof(*a);
    a = irpc__pool_get(n * sizeof(*a));
  } else {
    n = b->cap * 2;
    while (n < need)
      n *= 2;
    a = n > SIZE_MAX / sizeof(*a) ? NULL : irpc_malloc(n * sizeof(*a));
  }
  if (!a)
    return IRPC_ENOMEM;
  if (b->nsegs)
    memcpy(a, b->segs, b->nsegs * sizeof(*a));
  if (b->segs != b->inline_segs)
    segs_free(b->segs, b->cap);
  b->segs = a;
  b->cap = n;
  return 0;
}

/* Tail room of the last segment's block, when the chain may write there. */
static size_t tail_room(const irpc_buf *b, uint8_t **at) {
  if (b->nsegs == 0)
    return 0;
  const irpc__seg *s = &b->segs[b->nsegs - 1];
  if (!blk_unique(s->blk))
    return 0;
  *at = s->blk->data + s->off + s->len;
  return s->blk->cap - s->off - s->len;
}

size_t irpc__buf_tail_room(const irpc_buf *b) {
  uint8_t *at;
  return tail_room(b, &at);
}

int irpc_buf_reserve(irpc_buf *b, size_t min, uint8_t **out, size_t *avail) {
  if (!b || !out || !avail)
    return IRPC_EINVAL;
  uint8_t *at = NULL;
  size_t room = tail_room(b, &at);
  if (room > 0 && room >= min) {
    drop_pending(b);
    b->reserved = room;
    *out = at;
    *avail = room;
    return 0;
  }
  size_t head = b->nsegs == 0 ? IRPC_BUF_HEADROOM : 0;
  if (b->pending && b->pending->cap - head >= min) {
    b->reserved = b->pending->cap - head;
  } else {
    drop_pending(b);
    /* The first block of a chain is small (most chains hold a header or a
     * short message, and small blocks come from the allocator's fast
     * per-thread cache); the chain's later blocks are full-sized. */
    size_t unit = b->nsegs == 0 ? FIRST_BLOCK_SIZE : IRPC_BUF_BLOCK_SIZE;
    size_t cap = min > unit ? min : unit;
    if (cap > SIZE_MAX - head)
      return IRPC_ENOMEM;
    b->pending = blk_new(cap + head);
    if (!b->pending)
      return IRPC_ENOMEM;
    b->reserved = cap;
  }
  *out = b->pending->data + (b->pending->cap - b->reserved);
  *avail = b->reserved;
  return 0;
}

int irpc_buf_commit(irpc_buf *b, size_t n) {
  if (!b || n > b->reserved)
    return IRPC_EINVAL;
  if (n == 0)
    return 0;
  if (!b->pending) {
    b->segs[b->nsegs - 1].len += n;
  } else {
    int rc = segs_grow(b, 1);
    if (rc)
      return rc;
    irpc__seg *s = &b->segs[b->nsegs++];
    s->blk = b->pending;
    s->off = b->pending->cap - b->reserved;
    s->len = n;
    b->pending = NULL;
  }
  b->reserved = 0;
  b->len += n;
  return 0;
}

/* Appends a copy of a whole big block's worth of bytes in a big block of
 * its own. */
static int append_big(irpc_buf *b, const uint8_t *p) {
  drop_pending(b);
  if (segs_grow(b, 1))
    return IRPC_ENOMEM;
  irpc__blk *k = big_new();
  if (!k)
    return IRPC_ENOMEM;
  memcpy(k->data, p, BIG_CAP);
  b->segs[b->nsegs++] = (irpc__seg){.blk = k, .off = 0, .len = BIG_CAP};
  b->len += BIG_CAP;
  return 0;
}

int irpc_buf_append(irpc_buf *b, const void *data, size_t len) {
  if (!b || (!data && len > 0))
    return IRPC_EINVAL;
  const uint8_t *p = data;
  while (len > 0) {
    uint8_t *at;
    size_t avail;
    int rc;
    /* A large append goes in big blocks from the pool, past the chain's
     * first block (which keeps its headroom) and what is left in the
     * last: a 1 MiB payload is a handful of segments, not 256. */
    if (len >= BIG_CAP && b->nsegs > 0 &&
        tail_room(b, &at) < IRPC_BUF_BLOCK_SIZE) {
      rc = append_big(b, p);
      if (rc)
        return rc;
      p += BIG_CAP;
      len -= BIG_CAP;
      continue;
    }
    rc = irpc_buf_reserve(b, 0, &at, &avail);
    if (rc)
      return rc;
    size_t n = avail < len ? avail : len;
    memcpy(at, p, n);
    rc = irpc_buf_commit(b, n); /* a new segment may need room */
    if (rc)
      return rc;
    p += n;
    len -= n;
  }
  return 0;
}

static int insert_front(irpc_buf *b, irpc__blk *k, size_t off, size_t len) {
  int rc = segs_grow(b, 1);
  if (rc)
    return rc;
  memmove(b->segs + 1, b->segs, b->nsegs * sizeof(*b->segs));
  b->segs[0] = (irpc__seg){.blk = k, .off = off, .len = len};
  b->nsegs++;
  b->len += len;
  return 0;
}

int irpc_buf_prepend(irpc_buf *b, const void *data, size_t len) {
  if (!b || (!data && len > 0))
    return IRPC_EINVAL;
  if (len == 0)
    return 0;
  drop_pending(b);
  if (b->nsegs > 0 && blk_unique(b->segs[0].blk) && b->segs[0].off >= len) {
    irpc__seg *s = &b->segs[0];
    s->off -= len;
    s->len += len;
    b->len += len;
    memcpy(s->blk->data + s->off, data, len);
    return 0;
  }
  if (len > SIZE_MAX - IRPC_BUF_HEADROOM)
    return IRPC_ENOMEM;
  irpc__blk *k = blk_new(len + IRPC_BUF_HEADROOM);
  if (!k)
    return IRPC_ENOMEM;
  memcpy(k->data + IRPC_BUF_HEADROOM, data, len);
  int rc = insert_front(b, k, IRPC_BUF_HEADROOM, len);
  if (rc)
    blk_unref(k);
  return rc;
}

int irpc_buf_append_external(irpc_buf *b, void *data, size_t len,
                             irpc_buf_release_fn release, void *user_data) {
  if (!b || (!data && len > 0))
    return IRPC_EINVAL;
  if (len == 0) {
    if (release)
      release(data, user_data);
    return 0;
  }
  drop_pending(b);
  if (segs_grow(b, 1))
    return IRPC_ENOMEM;
  irpc__blk *k = irpc_malloc(sizeof(*k));
  if (!k)
    return IRPC_ENOMEM;
  atomic_init(&k->refs, 1);
  k->cap = len;
  k->data = data;
  k->release = release;
  k->user_data = user_data;
  k->external = 1;
  k->big = 0;
  b->segs[b->nsegs++] = (irpc__seg){.blk = k, .off = 0, .len = len};
  b->len += len;
  return 0;
}

int irpc__buf_append_rblk(irpc_buf *b, irpc__blk *k, const uint8_t *data,
                          size_t len) {
  size_t off = (size_t)(data - k->data);
  irpc__seg *last = b->nsegs ? &b->segs[b->nsegs - 1] : NULL;
  drop_pending(b);
  if (last && last->blk == k && last->off + last->len == off) {
    last->len += len; /* the rest of a piece read before */
  } else {
    if (segs_grow(b, 1))
      return IRPC_ENOMEM;
    blk_ref(k);
    b->segs[b->nsegs++] = (irpc__seg){.blk = k, .off = off, .len = len};
  }
  b->len += len;
  if (off + len > k->mark)
    k->mark = off + len;
  return 0;
}

int irpc_buf_move(irpc_buf *dst, irpc_buf *src) {
  if (!dst || !src || dst == src)
    return IRPC_EINVAL;
  if (dst->nsegs == 0 && src->segs != src->inline_segs &&
      dst->segs == dst->inline_segs) {
    /* Steal the whole segment array. */
    drop_pending(dst);
    dst->segs = src->segs;
    dst->cap = src->cap;
    dst->nsegs = src->nsegs;
    dst->len = src->len;
    src->segs = src->inline_segs;
    src->cap = IRPC__BUF_INLINE_SEGS;
    src->nsegs = 0;
    src->len = 0;
    drop_pending(src);
    return 0;
  }
  if (segs_grow(dst, src->nsegs))
    return IRPC_ENOMEM;
  drop_pending(dst);
  memcpy(dst->segs + dst->nsegs, src->segs, src->nsegs * sizeof(*src->segs));
  dst->nsegs += src->nsegs;
  dst->len += src->len;
  src->nsegs = 0;
  src->len = 0;
  drop_pending(src);
  return 0;
}

/* Index of the segment holding byte `off`, and the offset inside it. */
static size_t seg_find(const irpc_buf *b, size_t off, size_t *inner) {
  size_t i = 0;
  while (i < b->nsegs && off >= b->segs[i].len) {
    off -= b->segs[i].len;
    i++;
  }
  *inner = off;
  return i;
}

static size_t segs_spanned(const irpc_buf *b, size_t i, size_t inner,
                           size_t len) {
  size_t n = 0;
  while (len > 0) {
    size_t take = b->segs[i].len - inner;
    take = take < len ? take : len;
    len -= take;
    inner = 0;
    i++;
    n++;
  }
  return n;
}

int irpc_buf_append_ref(irpc_buf *dst, const irpc_buf *src, size_t off,
                        size_t len) {
  if (!dst || !src)
    return IRPC_EINVAL;
  if (off > src->len || len > src->len - off)
    return IRPC_ERANGE;
  if (len == 0)
    return 0;
  size_t inner;
  size_t i = seg_find(src, off, &inner);
  if (segs_grow(dst, segs_spanned(src, i, inner, len)))
    return IRPC_ENOMEM;
  drop_pending(dst);
  /* dst may be src: read src's segments through indexes, never pointers
   * held across the appends (segs_grow already ran). */
  while (len > 0) {
    irpc__seg s = src->segs[i++];
    size_t take = s.len - inner;
    take = take < len ? take : len;
    blk_ref(s.blk);
    dst->segs[dst->nsegs++] =
        (irpc__seg){.blk = s.blk, .off = s.off + inner, .len = take};
    dst->len += take;
    len -= take;
    inner = 0;
  }
  return 0;
}

int irpc_buf_consume(irpc_buf *b, size_t n) {
  if (!b)
    return IRPC_EINVAL;
  if (n > b->len)
    return IRPC_ERANGE;
  size_t drop = 0;
  b->len -= n;
  while (n > 0 && n >= b->segs[drop].len) {
    n -= b->segs[drop].len;
    blk_unref(b->segs[drop].blk);
    drop++;
  }
  if (n > 0) {
    b->segs[drop].off += n;
    b->segs[drop].len -= n;
  }
  memmove(b->segs, b->segs + drop, (b->nsegs - drop) * sizeof(*b->segs));
  b->nsegs -= drop;
  return 0;
}

int irpc_buf_truncate(irpc_buf *b, size_t len) {
  if (!b)
    return IRPC_EINVAL;
  if (len > b->len)
    return IRPC_ERANGE;
  drop_pending(b);
  size_t inner;
  size_t i = seg_find(b, len, &inner);
  size_t keep = i;
  if (inner > 0) {
    b->segs[i].len = inner;
    keep = i + 1;
  }
  for (size_t j = keep; j < b->nsegs; j++)
    blk_unref(b->segs[j].blk);
  b->nsegs = keep;
  b->len = len;
  return 0;
}

size_t irpc_buf_segment_count(const irpc_buf *b) {
  return b ? b->nsegs : 0;
}

irpc_bytes irpc_buf_segment(const irpc_buf *b, size_t i) {
  if (!b || i >= b->nsegs)
    return (irpc_bytes){NULL, 0};
  const irpc__seg *s = &b->segs[i];
  return (irpc_bytes){s->blk->data + s->off, s->len};
}

int irpc_buf_copyout(const irpc_buf *b, size_t off, void *dst, size_t len) {
  if (!b || (!dst && len > 0))
    return IRPC_EINVAL;
  if (off > b->len || len > b->len - off)
    return IRPC_ERANGE;
  size_t inner;
  size_t i = seg_find(b, off, &inner);
  uint8_t *p = dst;
  while (len > 0) {
    const irpc__seg *s = &b->segs[i++];
    size_t take = s->len - inner;
    take = take < len ? take : len;
    memcpy(p, s->blk->data + s->off + inner, take);
    p += take;
    len -= take;
    inner = 0;
  }
  return 0;
}

int irpc_buf_pullup(irpc_buf *b, irpc_bytes *out) {
  if (!b || !out)
    return IRPC_EINVAL;
  if (b->nsegs > 1) {
    irpc__blk *k = blk_new(b->len);
    if (!k)
      return IRPC_ENOMEM;
    irpc_buf_copyout(b, 0, k->data, b->len);
    size_t len = b->len;
    irpc_buf_clear(b);
    b->segs[0] = (irpc__seg){.blk = k, .off = 0, .len = len};
    b->nsegs = 1;
    b->len = len;
  }
  *out = irpc_buf_segment(b, 0);
  return 0;
}

int irpc_buf_equals(const irpc_buf *b, const void *data, size_t len) {
  if (!b || b->len != len)
    return 0;
  const uint8_t *p = data;
  for (size_t i = 0; i < b->nsegs; i++) {
    const irpc__seg *s = &b->segs[i];
    if (memcmp(s->blk->data + s->off, p, s->len) != 0)
      return 0;
    p += s->len;
  }
  return 1;
}
