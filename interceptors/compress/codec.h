/* One codec stream, either direction, behind one ops table per format:
 * zstd.c, brotli.c and deflate.c each define one; codec.c picks it by
 * format and holds what they share (irpc's allocator). Used by stream.c
 * (compression and bounded decompression over buffer chains). Never
 * installed. */
#ifndef IRPC_COMPRESS_CODEC_H
#define IRPC_COMPRESS_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "irpc/buf.h"

/* What a step returns when it did not fail: it wants more input, it has
 * more output than fitted, or the stream (or the flush) is done. */
enum { IRPC__STEP_NEED_IN = 0, IRPC__STEP_MORE_OUT = 1, IRPC__STEP_END = 2 };
/* What a compression step does once its input is taken: nothing more, make
 * every byte read so far decodable (a flush), or end the stream. */
enum { IRPC__OP_RUN = 0, IRPC__OP_FLUSH = 1, IRPC__OP_END = 2 };

/* Input handed to a codec per step: zlib counts in uInt. */
#define IRPC__CODEC_STEP_MAX ((size_t)1 << 20)

typedef struct irpc__codec irpc__codec;

typedef struct irpc__codec_ops {
  int format; /* IRPC_COMPRESSION_* */
  /* 1 when `level` is a compression level of this codec. */
  int (*level_ok)(int level);
  /* Prepares c (zeroed, c->decompress set) to compress at `level` a
   * payload of about `size_hint` bytes, or to decompress.
   * Errors: IRPC_ENOMEM, IRPC_EINVAL. */
  int (*init)(irpc__codec *c, int level, size_t size_hint);
  /* Runs the codec once over *in (advanced) into *out (advanced), giving
   * it at most IRPC__CODEC_STEP_MAX input bytes. `op` (compression only)
   * flushes or ends the stream; IRPC__STEP_END then means done. Returns
   * IRPC__STEP_* or a negative error (IRPC_EDATA, IRPC_ENOMEM). */
  int (*step)(irpc__codec *c, const uint8_t **in, size_t *in_len, uint8_t **out,
              size_t *out_len, int op);
  /* Releases what init took. */
  void (*end)(irpc__codec *c);
  /* Compression: the most the codec can still write for `remaining` more
   * input bytes after a flush, end of stream included, or 0 when it
   * cannot tell. */
  size_t (*bound)(irpc__codec *c, size_t remaining);
  /* Optional, compression: the whole of contiguous `src` in one call into
   * `cap` bytes at `dst`; returns 0 and *written, 1 (did not fit) or a
   * negative error. Used for a payload in one segment. */
  int (*one_shot)(irpc__codec *c, const uint8_t *src, size_t len, uint8_t *dst,
                  size_t cap, size_t *written);
  /* Compression: a payload in many segments compresses much faster given
   * in one piece (brotli's fast levels end a block at every step). */
  int gather;
  /* Decompression: frames may follow the end of the first (zstd). */
  int multi_frame;
} irpc__codec_ops;

struct irpc__codec {
  const irpc__codec_ops *ops;
  int decompress;
  union {
    void *ctx; /* zstd and brotli: their context */
    z_stream z;
  } u;
};

extern const irpc__codec_ops irpc__codec_zstd;
extern const irpc__codec_ops irpc__codec_brotli;
extern const irpc__codec_ops irpc__codec_deflate;

/* The codec of `format`, or NULL when this build has none. */
const irpc__codec_ops *irpc__codec_find(int format);

/* 1 when `level` is a level of `format`'s codec. */
int irpc__codec_level_ok(int format, int level);

/* Initialises c for `format`. Errors: IRPC_ENOTSUP (no codec),
 * IRPC_ENOMEM, IRPC_EINVAL. */
int irpc__codec_init(irpc__codec *c, int format, int decompress, int level,
                     size_t size_hint);

static inline int irpc__codec_step(irpc__codec *c, const uint8_t **in,
                                   size_t *in_len, uint8_t **out,
                                   size_t *out_len, int op) {
  return c->ops->step(c, in, in_len, out, out_len, op);
}

static inline void irpc__codec_end(irpc__codec *c) {
  c->ops->end(c);
}

/* The codec's bound, generous (an error here only delays releasing the
 * input): never 0, at most SIZE_MAX / 2. */
size_t irpc__codec_bound(irpc__codec *c, size_t remaining);

/* irpc's allocator for the codec libraries. */
void *irpc__codec_alloc(void *opaque, size_t n);
void irpc__codec_free(void *opaque, void *p);

#endif
