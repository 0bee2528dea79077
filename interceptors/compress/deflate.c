/* The deflate codec: raw deflate (RFC 1951, no zlib header), as IceRPC
 * sends it (see irpc/compress.h). */
#include <zlib.h>

#include "codec.h"
#include "irpc/compress.h"
#include "irpc/error.h"

/* Negative window bits select raw deflate (no zlib header or checksum);
 * 15 is the largest window. */
#define RAW_DEFLATE_WINDOW_BITS (-15)
/* zlib's default memory level (1..9): the size of its internal state. */
#define DEFLATE_MEM_LEVEL 8
#define DEFLATE_LEVEL_MIN 1
#define DEFLATE_LEVEL_MAX 9

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  /* zlib does not need zeroed memory: clearing its 256 KiB of state on
   * every call would cost more than compressing a small payload. */
  if (size != 0 && items > SIZE_MAX / size)
    return NULL;
  return irpc__codec_alloc(opaque, (size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p) {
  irpc__codec_free(opaque, p);
}

static int deflate_level_ok(int level) {
  return level >= DEFLATE_LEVEL_MIN && level <= DEFLATE_LEVEL_MAX;
}

static int deflate_init(irpc__codec *c, int level, size_t size_hint) {
  (void)size_hint;
  c->u.z.zalloc = z_alloc;
  c->u.z.zfree = z_free;
  int zr = c->decompress ? inflateInit2(&c->u.z, RAW_DEFLATE_WINDOW_BITS)
                         : deflateInit2(&c->u.z, level, Z_DEFLATED,
                                        RAW_DEFLATE_WINDOW_BITS,
                                        DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY);
  return zr == Z_OK ? 0 : (zr == Z_MEM_ERROR ? IRPC_ENOMEM : IRPC_EINVAL);
}

static void deflate_end(irpc__codec *c) {
  if (c->decompress)
    inflateEnd(&c->u.z);
  else
    deflateEnd(&c->u.z);
}

static int deflate_flush(int op) {
  return op == IRPC__OP_END     ? Z_FINISH
         : op == IRPC__OP_FLUSH ? Z_SYNC_FLUSH
                                : Z_NO_FLUSH;
}

static int deflate_step(irpc__codec *c, const uint8_t **in, size_t *in_len,
                        uint8_t **out, size_t *out_len, int op) {
  z_stream *z = &c->u.z;
  size_t feed = *in_len < IRPC__CODEC_STEP_MAX ? *in_len : IRPC__CODEC_STEP_MAX;
  size_t ofeed =
      *out_len < IRPC__CODEC_STEP_MAX ? *out_len : IRPC__CODEC_STEP_MAX;
  z->next_in = (Bytef *)(uintptr_t)*in;
  z->avail_in = (uInt)feed;
  z->next_out = *out;
  z->avail_out = (uInt)ofeed;
  int r =
      c->decompress ? inflate(z, Z_NO_FLUSH) : deflate(z, deflate_flush(op));
  size_t used = feed - z->avail_in, wrote = ofeed - z->avail_out;
  *in += used;
  *in_len -= used;
  *out += wrote;
  *out_len -= wrote;
  if (r == Z_STREAM_END)
    return IRPC__STEP_END;
  if (r == Z_MEM_ERROR)
    return IRPC_ENOMEM;
  if (r != Z_OK && r != Z_BUF_ERROR)
    return IRPC_EDATA;
  if (op == IRPC__OP_FLUSH && z->avail_out != 0 && *in_len == 0)
    return IRPC__STEP_END;
  return z->avail_out == 0 ? IRPC__STEP_MORE_OUT : IRPC__STEP_NEED_IN;
}

static size_t deflate_bound(irpc__codec *c, size_t remaining) {
  return remaining > UINT32_MAX ? 0 : deflateBound(&c->u.z, (uLong)remaining);
}

const irpc__codec_ops irpc__codec_deflate = {
    .format = IRPC_COMPRESSION_DEFLATE,
    .level_ok = deflate_level_ok,
    .init = deflate_init,
    .step = deflate_step,
    .end = deflate_end,
    .bound = deflate_bound,
};
