/* bzip2 for the ice protocol's compressed messages (compression status
 * 2), over irpc's allocator. */
#include <bzlib.h>
#include <limits.h>
#include <string.h>

#include "ice_internal.h"
#include "irpc/alloc.h"

static void *bz_alloc(void *opaque, int n, int m) {
  (void)opaque;
  if (n <= 0 || m <= 0)
    return NULL;
  return irpc_malloc((size_t)n * (size_t)m);
}

static void bz_free(void *opaque, void *p) {
  (void)opaque;
  irpc_free(p);
}

static void bz_init(bz_stream *s) {
  memset(s, 0, sizeof(*s));
  s->bzalloc = bz_alloc;
  s->bzfree = bz_free;
}

/* bzip2 takes at most UINT_MAX bytes a call; segments are smaller. */
static unsigned int clamp_uint(size_t n) {
  return n > UINT_MAX ? UINT_MAX : (unsigned int)n;
}

int irpc__ice_bz_compress(const irpc_buf *in, uint8_t *out, size_t cap,
                          size_t *out_len) {
  bz_stream s;
  bz_init(&s);
  /* Ice's default: 100k blocks (Ice.Compression.Level 1). */
  int rc = BZ2_bzCompressInit(&s, 1, 0, 0);
  if (rc == BZ_MEM_ERROR)
    return IRPC_ENOMEM;
  if (rc != BZ_OK)
    return IRPC_EINVAL;
  s.next_out = (char *)out;
  s.avail_out = clamp_uint(cap);
  size_t nseg = irpc_buf_segment_count(in);
  int err = 0;
  for (size_t i = 0; i < nseg && !err; i++) {
    irpc_bytes seg = irpc_buf_segment(in, i);
    s.next_in = (char *)seg.base;
    s.avail_in = clamp_uint(seg.len);
    while (s.avail_in > 0) {
      rc = BZ2_bzCompress(&s, BZ_RUN);
      if (rc != BZ_RUN_OK) {
        err = rc == BZ_MEM_ERROR ? IRPC_ENOMEM : IRPC_EDATA;
        break;
      }
      if (s.avail_out == 0) {
        err = IRPC_ELIMIT; /* it does not shrink */
        break;
      }
    }
  }
  while (!err) {
    rc = BZ2_bzCompress(&s, BZ_FINISH);
    if (rc == BZ_STREAM_END)
      break;
    if (rc != BZ_FINISH_OK)
      err = rc == BZ_MEM_ERROR ? IRPC_ENOMEM : IRPC_EDATA;
    else if (s.avail_out == 0)
      err = IRPC_ELIMIT;
  }
  if (!err)
    *out_len = cap - s.avail_out;
  BZ2_bzCompressEnd(&s);
  return err;
}

int irpc__ice_bz_decompress(const irpc_buf *in, size_t off, size_t len,
                            uint8_t *out, size_t out_len) {
  bz_stream s;
  bz_init(&s);
  int rc = BZ2_bzDecompressInit(&s, 0, 0);
  if (rc == BZ_MEM_ERROR)
    return IRPC_ENOMEM;
  if (rc != BZ_OK)
    return IRPC_EDATA;
  /* One byte more than announced: a stream that fills it says more than
   * its uncompressed size (a bomb), and decompression stops there. */
  uint8_t spare;
  s.next_out = (char *)out;
  s.avail_out = clamp_uint(out_len);
  int err = 0, ended = 0;
  size_t nseg = irpc_buf_segment_count(in), pos = 0;
  for (size_t i = 0; i < nseg && len > 0 && !err && !ended; i++) {
    irpc_bytes seg = irpc_buf_segment(in, i);
    if (pos + seg.len <= off) {
      pos += seg.len;
      continue;
    }
    size_t skip = off > pos ? off - pos : 0;
    size_t take = seg.len - skip < len ? seg.len - skip : len;
    pos += seg.len;
    off += take;
    len -= take;
    s.next_in = (char *)seg.base + skip;
    s.avail_in = clamp_uint(take);
    for (;;) {
      if (s.avail_out == 0) {
        s.next_out = (char *)&spare;
        s.avail_out = 1;
      }
      rc = BZ2_bzDecompress(&s);
      if (s.next_out == (char *)&spare + 1) {
        err = IRPC_ELIMIT;
        break;
      }
      if (rc == BZ_STREAM_END) {
        ended = 1;
        break;
      }
      if (rc != BZ_OK) {
        err = rc == BZ_MEM_ERROR ? IRPC_ENOMEM : IRPC_EDATA;
        break;
      }
      if (s.avail_out == 0)
        continue; /* more output may come */
      if (s.avail_in == 0)
        break; /* the next segment */
    }
  }
  if (!err && (!ended || len > 0 || s.avail_in > 0))
    err = IRPC_EDATA; /* truncated, or bytes after the stream */
  if (!err && ((uint64_t)s.total_out_hi32 << 32 | s.total_out_lo32) != out_len)
    err = IRPC_EDATA; /* shorter than announced */
  BZ2_bzDecompressEnd(&s);
  return err;
}
