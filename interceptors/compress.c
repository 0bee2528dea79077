/* Compression: the codec (zstd, brotli, raw deflate over buffer chains,
 * bounded), the payload writer and the compress interceptor. The
 * middleware is in middleware/compress.c. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: irpc's allocator */
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "model/compression.h"
#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "base/struct_size.h"

/* ---- Allocator trampolines ---- */

static void *mem_alloc(void *opaque, size_t n) {
  (void)opaque;
  return irpc_malloc(n);
}

static void mem_free(void *opaque, void *p) {
  (void)opaque;
  irpc_free(p);
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  (void)opaque;
  /* zlib does not need zeroed memory: clearing its 256 KiB of state on
   * every call would cost more than compressing a small payload. */
  if (size != 0 && items > SIZE_MAX / size)
    return NULL;
  return irpc_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p) {
  (void)opaque;
  irpc_free(p);
}

static const ZSTD_customMem zstd_mem = {mem_alloc, mem_free, NULL};

/* One zstd context of each kind is kept per thread and reused: creating
 * one costs far more than compressing a small payload. They stay allocated
 * for the life of the thread (a bounded cache, not a leak per call). */
static _Thread_local ZSTD_CCtx *cached_cctx;
static _Thread_local ZSTD_DCtx *cached_dctx;

/* ---- One codec stream, either direction ---- */

enum { STEP_NEED_IN = 0, STEP_MORE_OUT = 1, STEP_END = 2 };
/* What a compression step does once its input is taken: nothing more, make
 * every byte read so far decodable (a flush), or end the stream. */
enum { OP_RUN = 0, OP_FLUSH = 1, OP_END = 2 };

/* Input handed to a codec per step: zlib counts in uInt. */
#define STEP_IN_MAX ((size_t)1 << 20)
#define OUT_BLOCK ((size_t)64 << 10)
/* Output goes on into the room left in the last block while there is at
 * least this much, so that blocks are filled rather than left part empty
 * each time a codec stops to take more input. */
#define OUT_MIN_ROOM ((size_t)1024)
/* zlib: negative window bits select raw deflate (no zlib header), 15 the
 * largest window; 8 is zlib's default memory level. */
#define RAW_DEFLATE_WINDOW_BITS (-15)
#define DEFLATE_MEM_LEVEL 8

/* Writable space at the end of `out`: the `*left` bytes remaining in its
 * last block (as the previous write left them), or a fresh block of
 * `block` bytes. */
static int out_reserve(irpc_buf *out, size_t block, size_t left, uint8_t **o,
                       size_t *avail) {
  return irpc_buf_reserve(out, left >= OUT_MIN_ROOM ? left : block, o, avail);
}

typedef struct codec {
  int format;
  int decompress;
  union {
    ZSTD_CCtx *zc;
    ZSTD_DCtx *zd;
    BrotliEncoderState *bc;
    BrotliDecoderState *bd;
    z_stream z;
  } u;
} codec;

static int level_ok(int format, int level) {
  switch (format) {
  case IRPC_COMPRESSION_ZSTD:
    return level >= 1 && level <= ZSTD_maxCLevel();
  case IRPC_COMPRESSION_BROTLI:
    return level >= BROTLI_MIN_QUALITY && level <= BROTLI_MAX_QUALITY;
  case IRPC_COMPRESSION_DEFLATE:
    return level >= 1 && level <= 9;
  default:
    return 0;
  }
}

static int codec_init(codec *c, int format, int decompress, int level,
                      size_t size_hint) {
  memset(c, 0, sizeof(*c));
  c->format = format;
  c->decompress = decompress;
  switch (format) {
  case IRPC_COMPRESSION_ZSTD:
    if (decompress) {
      c->u.zd = cached_dctx ? cached_dctx : ZSTD_createDCtx_advanced(zstd_mem);
      cached_dctx = NULL;
      return c->u.zd ? 0 : IRPC_ENOMEM;
    }
    c->u.zc = cached_cctx ? cached_cctx : ZSTD_createCCtx_advanced(zstd_mem);
    cached_cctx = NULL;
    if (!c->u.zc)
      return IRPC_ENOMEM;
    ZSTD_CCtx_setParameter(c->u.zc, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setPledgedSrcSize(c->u.zc, size_hint);
    return 0;
  case IRPC_COMPRESSION_BROTLI:
    if (decompress) {
      c->u.bd = BrotliDecoderCreateInstance(mem_alloc, mem_free, NULL);
      return c->u.bd ? 0 : IRPC_ENOMEM;
    }
    c->u.bc = BrotliEncoderCreateInstance(mem_alloc, mem_free, NULL);
    if (!c->u.bc)
      return IRPC_ENOMEM;
    BrotliEncoderSetParameter(c->u.bc, BROTLI_PARAM_QUALITY, (uint32_t)level);
    BrotliEncoderSetParameter(c->u.bc, BROTLI_PARAM_SIZE_HINT,
                              size_hint > (1u << 30) ? (1u << 30)
                                                     : (uint32_t)size_hint);
    return 0;
  case IRPC_COMPRESSION_DEFLATE: {
    c->u.z.zalloc = z_alloc;
    c->u.z.zfree = z_free;
    int zr = decompress ? inflateInit2(&c->u.z, RAW_DEFLATE_WINDOW_BITS)
                        : deflateInit2(&c->u.z, level, Z_DEFLATED,
                                       RAW_DEFLATE_WINDOW_BITS,
                                       DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY);
    return zr == Z_OK ? 0 : (zr == Z_MEM_ERROR ? IRPC_ENOMEM : IRPC_EINVAL);
  }
  default:
    return IRPC_ENOTSUP;
  }
}

static void codec_fini(codec *c) {
  switch (c->format) {
  case IRPC_COMPRESSION_ZSTD:
    if (c->decompress) {
      ZSTD_DCtx_reset(c->u.zd, ZSTD_reset_session_and_parameters);
      if (!cached_dctx)
        cached_dctx = c->u.zd;
      else
        ZSTD_freeDCtx(c->u.zd);
    } else {
      ZSTD_CCtx_reset(c->u.zc, ZSTD_reset_session_and_parameters);
      if (!cached_cctx)
        cached_cctx = c->u.zc;
      else
        ZSTD_freeCCtx(c->u.zc);
    }
    break;
  case IRPC_COMPRESSION_BROTLI:
    if (c->decompress)
      BrotliDecoderDestroyInstance(c->u.bd);
    else
      BrotliEncoderDestroyInstance(c->u.bc);
    break;
  case IRPC_COMPRESSION_DEFLATE:
    if (c->decompress)
      inflateEnd(&c->u.z);
    else
      deflateEnd(&c->u.z);
    break;
  default:
    break;
  }
}

static int zstd_error(size_t r) {
  return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? IRPC_ENOMEM
                                                              : IRPC_EDATA;
}

/* Runs the codec once over *in (advanced) into *out (advanced). `op`
 * (compression only) flushes or ends the stream; STEP_END then means done.
 * Returns STEP_* or a negative error. */
static int codec_step(codec *c, const uint8_t **in, size_t *in_len,
                      uint8_t **out, size_t *out_len, int op) {
  size_t feed = *in_len < STEP_IN_MAX ? *in_len : STEP_IN_MAX;
  switch (c->format) {
  case IRPC_COMPRESSION_ZSTD: {
    ZSTD_inBuffer ib = {*in, feed, 0};
    ZSTD_outBuffer ob = {*out, *out_len, 0};
    size_t r = c->decompress
                   ? ZSTD_decompressStream(c->u.zd, &ob, &ib)
                   : ZSTD_compressStream2(c->u.zc, &ob, &ib,
                                          op == OP_END     ? ZSTD_e_end
                                          : op == OP_FLUSH ? ZSTD_e_flush
                                                           : ZSTD_e_continue);
    *in += ib.pos;
    *in_len -= ib.pos;
    *out += ob.pos;
    *out_len -= ob.pos;
    if (ZSTD_isError(r))
      return zstd_error(r);
    if (c->decompress)
      return r == 0 ? STEP_END
                    : (ob.pos == ob.size ? STEP_MORE_OUT : STEP_NEED_IN);
    if (op != OP_RUN)
      return r == 0 && ib.pos == ib.size ? STEP_END : STEP_MORE_OUT;
    return ob.pos == ob.size ? STEP_MORE_OUT : STEP_NEED_IN;
  }
  case IRPC_COMPRESSION_BROTLI: {
    size_t ai = feed, ao = *out_len;
    const uint8_t *ni = *in;
    uint8_t *no = *out;
    int res;
    if (c->decompress) {
      BrotliDecoderResult r =
          BrotliDecoderDecompressStream(c->u.bd, &ai, &ni, &ao, &no, NULL);
      res = r == BROTLI_DECODER_RESULT_SUCCESS             ? STEP_END
            : r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT ? STEP_MORE_OUT
            : r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT  ? STEP_NEED_IN
                                                           : IRPC_EDATA;
    } else {
      if (!BrotliEncoderCompressStream(c->u.bc,
                                       op == OP_END ? BROTLI_OPERATION_FINISH
                                       : op == OP_FLUSH
                                           ? BROTLI_OPERATION_FLUSH
                                           : BROTLI_OPERATION_PROCESS,
                                       &ai, &ni, &ao, &no, NULL))
        res = IRPC_ENOMEM;
      else if (op == OP_END && BrotliEncoderIsFinished(c->u.bc))
        res = STEP_END;
      else if (op == OP_FLUSH && ai == 0 &&
               !BrotliEncoderHasMoreOutput(c->u.bc))
        res = STEP_END;
      else
        res = ao == 0 || BrotliEncoderHasMoreOutput(c->u.bc) ? STEP_MORE_OUT
                                                             : STEP_NEED_IN;
    }
    *in_len -= (size_t)(ni - *in);
    *in = ni;
    *out_len = ao;
    *out = no;
    return res;
  }
  default: { /* deflate */
    z_stream *z = &c->u.z;
    z->next_in = (Bytef *)(uintptr_t)*in;
    z->avail_in = (uInt)feed;
    size_t ofeed = *out_len < STEP_IN_MAX ? *out_len : STEP_IN_MAX;
    z->next_out = *out;
    z->avail_out = (uInt)ofeed;
    int r = c->decompress ? inflate(z, Z_NO_FLUSH)
                          : deflate(z, op == OP_END     ? Z_FINISH
                                       : op == OP_FLUSH ? Z_SYNC_FLUSH
                                                        : Z_NO_FLUSH);
    size_t used = feed - z->avail_in, wrote = ofeed - z->avail_out;
    *in += used;
    *in_len -= used;
    *out += wrote;
    *out_len -= wrote;
    if (r == Z_STREAM_END)
      return STEP_END;
    if (r == Z_MEM_ERROR)
      return IRPC_ENOMEM;
    if (r != Z_OK && r != Z_BUF_ERROR)
      return IRPC_EDATA;
    if (op == OP_FLUSH && z->avail_out != 0 && *in_len == 0)
      return STEP_END;
    return z->avail_out == 0 ? STEP_MORE_OUT : STEP_NEED_IN;
  }
  }
}

/* ---- Compression over chains ---- */

/* A consuming compression of a payload bigger than this releases its input
 * as it goes (smaller ones are held to the end: nothing to gain). It is
 * also the first point (in input bytes) where it checks whether the result
 * is sure to shrink; the next checks are at twice, four times, ... */
#define RELEASE_CHECK ((size_t)256 << 10)
/* Payloads up to this size are compressed in one piece when that is much
 * faster (zstd on contiguous input, brotli on many small segments): the
 * extra memory is bounded by about twice this. */
#define ONE_PIECE_MAX ((size_t)4 << 20)

typedef struct cstream {
  codec c;
  irpc_buf *out;
  size_t left;          /* room left in the last output block */
  size_t start;         /* len(out) on entry */
  size_t hint;          /* output block size */
  size_t give_up_above; /* output bytes; SIZE_MAX = never give up */
} cstream;

static size_t cstream_produced(const cstream *cs) {
  return irpc_buf_len(cs->out) - cs->start;
}

/* Feeds [p, p + len) to the codec with `op`, writing the output into
 * blocks of the output chain. Returns 0, 1 (the output passed
 * give_up_above: stop) or a negative error. */
static int cstream_feed(cstream *cs, const uint8_t *p, size_t len, int op) {
  int st = STEP_MORE_OUT;
  while (len > 0 || (op != OP_RUN && st != STEP_END)) {
    uint8_t *o;
    size_t avail;
    int rc = out_reserve(cs->out, cs->hint, cs->left, &o, &avail);
    if (rc)
      return rc;
    size_t before = avail;
    st = codec_step(&cs->c, &p, &len, &o, &avail, op);
    if (st < 0)
      return st;
    irpc_buf_commit(cs->out, before - avail);
    cs->left = avail;
    if (cstream_produced(cs) > cs->give_up_above)
      return 1;
  }
  return 0;
}

static int cstream_init(cstream *cs, int format, int level, size_t total,
                        irpc_buf *out, size_t give_up_above) {
  size_t hint = total / 4;
  cs->hint = hint < 512 ? 512 : hint > OUT_BLOCK ? OUT_BLOCK : hint;
  cs->out = out;
  cs->left = 0;
  cs->start = irpc_buf_len(out);
  cs->give_up_above = give_up_above;
  return codec_init(&cs->c, format, 0, level, total);
}

/* zstd on contiguous input: one call into one output block, without the
 * streaming mode's copy of the input into the context's own buffer.
 * Returns 0, 1 (the output would pass give_up_above) or an error. */
static int zstd_one_shot(cstream *cs, irpc_bytes src) {
  size_t cap = ZSTD_compressBound(src.len);
  if (cap > cs->give_up_above)
    cap = cs->give_up_above + 1; /* room to tell "too big" apart */
  uint8_t *o;
  size_t avail;
  int rc = irpc_buf_reserve(cs->out, cap, &o, &avail);
  if (rc)
    return rc;
  size_t r = ZSTD_compress2(cs->c.u.zc, o, cap, src.base, src.len);
  if (ZSTD_isError(r)) {
    if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
      return 1;
    return zstd_error(r);
  }
  irpc_buf_commit(cs->out, r);
  return r > cs->give_up_above ? 1 : 0;
}

/* Compresses `in` (left unchanged) into `out`. Gives up with 1 (nothing
 * useful) as soon as the output exceeds `give_up_above` bytes. */
static int compress_chain(int format, int level, const irpc_buf *in,
                          irpc_buf *out, size_t give_up_above) {
  cstream cs;
  int rc =
      cstream_init(&cs, format, level, irpc_buf_len(in), out, give_up_above);
  if (rc)
    return rc;
  size_t nseg = irpc_buf_segment_count(in);
  if (format == IRPC_COMPRESSION_ZSTD && nseg == 1) {
    rc = zstd_one_shot(&cs, irpc_buf_segment(in, 0));
    codec_fini(&cs.c);
    return rc;
  }
  size_t total = irpc_buf_len(in);
  if (format == IRPC_COMPRESSION_BROTLI && nseg > 1 && total <= ONE_PIECE_MAX) {
    /* brotli's fast levels end a metablock at every step: a payload that
     * arrived in many small segments goes in as one piece. */
    uint8_t *tmp = irpc_malloc(total);
    if (tmp) {
      irpc_buf_copyout(in, 0, tmp, total);
      rc = cstream_feed(&cs, tmp, total, OP_RUN);
      if (rc == 0)
        rc = cstream_feed(&cs, NULL, 0, OP_END);
      irpc_free(tmp);
      codec_fini(&cs.c);
      return rc;
    }
  }
  for (size_t i = 0; i < nseg && rc == 0; i++) {
    irpc_bytes seg = irpc_buf_segment(in, i);
    rc = cstream_feed(&cs, seg.base, seg.len, OP_RUN);
  }
  if (rc == 0)
    rc = cstream_feed(&cs, NULL, 0, OP_END);
  codec_fini(&cs.c);
  return rc;
}

/* The most the codec can still write for `remaining` more input bytes,
 * after a flush (every byte read so far is in the output), end of stream
 * included; generous, as an error here only delays releasing the input. */
static size_t codec_bound(codec *c, size_t remaining) {
  size_t b;
  switch (c->format) {
  case IRPC_COMPRESSION_ZSTD:
    b = ZSTD_compressBound(remaining);
    break;
  case IRPC_COMPRESSION_BROTLI:
    b = BrotliEncoderMaxCompressedSize(remaining);
    break;
  default:
    b = remaining > UINT32_MAX ? 0 : deflateBound(&c->u.z, (uLong)remaining);
    break;
  }
  if (b == 0 || b > SIZE_MAX / 2)
    return SIZE_MAX / 2;
  return b + (remaining >> 7) + 1024;
}

/* A checkpoint of a compression that may still fall back to the payload as
 * it is: flushes the codec (every byte read so far is in the output) and
 * sets *sure when the output so far plus the most the `remaining` input
 * bytes can add stays below `total`. Returns cstream_feed's result. */
static int cstream_checkpoint(cstream *cs, size_t total, size_t remaining,
                              int *sure) {
  int rc = cstream_feed(cs, NULL, 0, OP_FLUSH);
  *sure =
      rc == 0 && cstream_produced(cs) + codec_bound(&cs->c, remaining) < total;
  return rc;
}

/* Compresses `in` into `out` consuming `in` as it goes, so that the whole
 * payload and its whole compressed form are never held together.
 *
 * The catch is the fallback: a payload that does not shrink is sent as it
 * is, so its bytes must still exist. Consumed segments are therefore held
 * (shared, not copied) until the result is sure to shrink: at checkpoints
 * the codec is flushed, and once the output plus the most the rest of the
 * input can add is below the input size, the held bytes are released and
 * the compression can no longer give up. A compressible payload passes the
 * check after a few hundred KiB to a few MiB; a payload that does not
 * compress is held to the end and restored into `in` (returns 1). */
static int compress_chain_consume(int format, int level, irpc_buf *in,
                                  irpc_buf *out, size_t give_up_above) {
  size_t total = irpc_buf_len(in);
  if (total <= RELEASE_CHECK ||
      (total <= ONE_PIECE_MAX &&
       (format == IRPC_COMPRESSION_BROTLI ||
        (format == IRPC_COMPRESSION_ZSTD && irpc_buf_segment_count(in) == 1))))
    return compress_chain(format, level, in, out, give_up_above);
  irpc_buf *held;
  int rc = irpc_buf_new(&held);
  if (rc)
    return rc;
  cstream cs;
  rc = cstream_init(&cs, format, level, total, out, give_up_above);
  if (rc) {
    irpc_buf_free(held);
    return rc;
  }
  size_t consumed = 0, check = RELEASE_CHECK;
  int holding = 1;
  while (rc == 0 && irpc_buf_segment_count(in) > 0) {
    irpc_bytes seg = irpc_buf_segment(in, 0);
    rc = cstream_feed(&cs, seg.base, seg.len, OP_RUN);
    if (rc == 0 && holding)
      rc = irpc_buf_append_ref(held, in, 0, seg.len);
    if (rc)
      break;
    irpc_buf_consume(in, seg.len); /* releases the block once unshared */
    consumed += seg.len;
    if (holding && consumed >= check && consumed < total) {
      check *= 2;
      int sure;
      rc = cstream_checkpoint(&cs, total, total - consumed, &sure);
      if (sure) {
        irpc_buf_clear(held);
        holding = 0;
        cs.give_up_above = SIZE_MAX; /* there is nothing to fall back to */
      }
    }
  }
  if (rc == 0)
    rc = cstream_feed(&cs, NULL, 0, OP_END);
  codec_fini(&cs.c);
  if (rc != 0 && holding) {
    /* Put the payload back together: held bytes, then what is left. */
    int mrc = irpc_buf_move(held, in);
    if (mrc == 0)
      mrc = irpc_buf_move(in, held);
    if (mrc)
      rc = mrc;
  }
  irpc_buf_free(held);
  return rc;
}

int irpc_compress(int format, int level, const irpc_buf *in, irpc_buf *out) {
  if (!in || !out)
    return IRPC_EINVAL;
  if (format != IRPC_COMPRESSION_ZSTD && format != IRPC_COMPRESSION_BROTLI &&
      format != IRPC_COMPRESSION_DEFLATE)
    return IRPC_ENOTSUP;
  if (!level_ok(format, level))
    return IRPC_EINVAL;
  return compress_chain(format, level, in, out, SIZE_MAX);
}

/* ---- Bounded decompression over chains ---- */

int irpc_decompress(int format, irpc_buf *in, int consume, uint64_t max_size,
                    irpc_buf *out) {
  if (!in || !out)
    return IRPC_EINVAL;
  codec c;
  int rc = codec_init(&c, format, 1, 0, 0);
  if (rc)
    return rc;
  uint64_t produced = 0;
  int st = STEP_NEED_IN;
  size_t i = 0;
  uint8_t scratch[1];
  size_t left = 0; /* room left in the last output block */
  for (;;) {
    size_t nseg = irpc_buf_segment_count(in);
    int last = consume ? nseg == 0 : i >= nseg;
    irpc_bytes seg =
        last ? (irpc_bytes){NULL, 0} : irpc_buf_segment(in, consume ? 0 : i);
    const uint8_t *p = seg.base;
    size_t len = seg.len;
    while (len > 0 || st == STEP_MORE_OUT) {
      if (st == STEP_END && c.format != IRPC_COMPRESSION_ZSTD) {
        rc = IRPC_EDATA; /* bytes after the end of the stream */
        goto out;
      }
      uint64_t room = max_size - produced;
      uint8_t *o;
      size_t avail, got = 0;
      int spare = room == 0;
      if (spare) {
        /* At the cap: any further byte is one too many. */
        o = scratch;
        avail = sizeof(scratch);
      } else {
        if ((rc = out_reserve(out, OUT_BLOCK, left, &o, &got)) != 0)
          goto out;
        avail = got > room ? (size_t)room : got;
      }
      size_t before_out = avail, before_in = len;
      st = codec_step(&c, &p, &len, &o, &avail, 0);
      if (st < 0) {
        rc = st;
        goto out;
      }
      size_t wrote = before_out - avail;
      if (spare && wrote > 0) {
        rc = IRPC_ELIMIT;
        goto out;
      }
      if (!spare) {
        irpc_buf_commit(out, wrote);
        left = got - wrote;
      }
      produced += wrote;
      if (wrote == 0 && before_in == len && st != STEP_END) {
        if (len > 0) {
          /* Stuck with input left: at the cap it wants to write more. */
          rc = spare ? IRPC_ELIMIT : IRPC_EDATA;
          goto out;
        }
        break;
      }
    }
    if (last)
      break;
    if (consume)
      irpc_buf_consume(in, seg.len);
    else
      i++;
  }
  if (st != STEP_END)
    rc = IRPC_EDATA; /* truncated */
out:
  codec_fini(&c);
  return rc;
}

/* ---- The compress feature ---- */

const int irpc_compress_yes = 1;
const int irpc_compress_no = 0;
const irpc_feature_key irpc_compress_feature = {.name = "compress",
                                                .destroy = NULL};

int irpc_features_set_compress(irpc_features *f, int compress) {
  if (!f)
    return IRPC_EINVAL;
  const int *v = compress == IRPC_COMPRESS_DEFAULT ? NULL
                 : compress                        ? &irpc_compress_yes
                                                   : &irpc_compress_no;
  /* The values are never written through: the key owns nothing. */
  return irpc_features_set(f, &irpc_compress_feature, (void *)(uintptr_t)v);
}

int irpc_features_compress_value(const irpc_features *f) {
  const int *v = f ? irpc_features_get(f, &irpc_compress_feature) : NULL;
  if (!v)
    return IRPC_COMPRESS_DEFAULT;
  return *v ? IRPC_COMPRESS_YES : IRPC_COMPRESS_NO;
}

int irpc_features_compress(const irpc_features *f) {
  return irpc_features_compress_value(f) == IRPC_COMPRESS_YES;
}

int irpc__compress_wanted(const irpc_features *f, int always) {
  int v = irpc_features_compress_value(f);
  if (v == IRPC_COMPRESS_YES)
    return 2;
  return v == IRPC_COMPRESS_DEFAULT && always ? 1 : 0;
}

/* ---- Options ---- */

void irpc_compress_options_init_sized(irpc_compress_options *o, size_t size) {
  irpc_compress_options d;
  memset(&d, 0, sizeof(d));
  d.formats[0] = IRPC_COMPRESSION_ZSTD;
  d.formats[1] = IRPC_COMPRESSION_BROTLI;
  d.zstd_level = 3;
  d.brotli_level = 1;
  d.deflate_level = 1;
  d.min_size = 1024;
  d.max_decompressed_size = (uint64_t)256 << 20;
  irpc__struct_export(o, size, &d, sizeof(d));
}

int irpc__compress_options_check(const irpc_compress_options *o) {
  if (!level_ok(IRPC_COMPRESSION_ZSTD, o->zstd_level) ||
      !level_ok(IRPC_COMPRESSION_BROTLI, o->brotli_level) ||
      !level_ok(IRPC_COMPRESSION_DEFLATE, o->deflate_level) ||
      o->max_decompressed_size == 0)
    return IRPC_EINVAL;
  for (int i = 0; i < IRPC_COMPRESS_MAX_PREFERENCES && o->formats[i]; i++)
    if (!(irpc_compress_formats_readable() &
          IRPC_COMPRESSION_BIT(o->formats[i])))
      return IRPC_EINVAL;
  return 0;
}

/* ---- The payload writer ---- */

typedef struct wcfg {
  uint8_t formats[IRPC_COMPRESS_MAX_PREFERENCES];
  int8_t levels[3]; /* zstd, brotli, deflate */
  /* The compress feature asked for it: an IceRPC peer, which announces
   * nothing, is then assumed to read IRPC_COMPRESSION_FORMATS_ICERPC. */
  uint8_t contract;
  /* A response for a caller that listed `accept` (the middleware's): that
   * list, not the connection's announcement, says what it reads. */
  uint8_t has_accept;
  uint64_t accept;
  uint64_t min_size;
} wcfg;

static int wcfg_level(const wcfg *w, int format) {
  return format == IRPC_COMPRESSION_ZSTD     ? w->levels[0]
         : format == IRPC_COMPRESSION_BROTLI ? w->levels[1]
                                             : w->levels[2];
}

/* The format to compress a payload of `len` bytes with for this peer, or
 * 0 to send it as is. Undoes first what an earlier attempt (to another
 * peer) decided. */
static int writer_format(const wcfg *w, irpc_fields *fields,
                         uint64_t peer_formats, size_t len) {
  irpc_fields_remove(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  if (len == 0 || len < w->min_size)
    return 0;
  uint64_t reads;
  if (peer_formats & IRPC_COMPRESSION_UNANNOUNCED)
    reads = w->contract ? peer_formats & IRPC_COMPRESSION_FORMATS_ICERPC : 0;
  else
    reads = w->has_accept ? w->accept : peer_formats;
  for (int i = 0; i < IRPC_COMPRESS_MAX_PREFERENCES && w->formats[i]; i++)
    if (reads & IRPC_COMPRESSION_BIT(w->formats[i]))
      return w->formats[i];
  return 0; /* nothing the receiver reads */
}

static int writer_mark(irpc_fields *fields, int format) {
  uint8_t v = (uint8_t)format;
  return irpc_fields_set(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v, 1);
}

static int writer_write(const void *config, irpc_fields *fields,
                        uint64_t peer_formats, irpc_buf *in, int may_consume,
                        irpc_buf *out) {
  const wcfg *w = config;
  size_t len = irpc_buf_len(in);
  int format = writer_format(w, fields, peer_formats, len);
  if (!format)
    return IRPC_PAYLOAD_UNCHANGED;
  int level = wcfg_level(w, format);
  int rc = may_consume ? compress_chain_consume(format, level, in, out, len - 1)
                       : compress_chain(format, level, in, out, len - 1);
  if (rc != 0) {
    irpc_buf_clear(out);
    return rc > 0 ? IRPC_PAYLOAD_UNCHANGED : rc; /* did not shrink */
  }
  rc = writer_mark(fields, format);
  if (rc)
    irpc_buf_clear(out);
  return rc;
}

/* ---- The streaming writer: a request compressed as it is sent ----
 *
 * The application's payload is read, never consumed, from a position that
 * moves on with each pull; the output goes out piece by piece. The choice
 * between compressing and sending the payload as it is must be made before
 * anything is sent (the field is in the header), so `begin` compresses a
 * prefix until the output is sure to shrink (the checkpoints of
 * compress_chain_consume) and keeps that output for the first pull. */

/* Input read per codec call while pulling: bounds how far a pull goes past
 * what was asked for. */
#define PULL_SLICE ((size_t)64 << 10)
/* A payload not proved to shrink after max(this, 1/8 of it) of input is
 * sent as it is: this bounds the output held before the first pull. */
#define PREFIX_MAX ((size_t)8 << 20)

typedef struct wstream {
  cstream cs;      /* writes into `ahead` */
  irpc_buf *ahead; /* output not pulled yet */
  const irpc_buf *in;
  size_t seg, off; /* read position in `in` */
  size_t consumed, total;
  int ended; /* the end of the compressed stream is in `ahead` */
} wstream;

/* Feeds the input up to `upto` bytes read in all. */
static int wstream_feed(wstream *st, size_t upto) {
  int rc = 0;
  while (rc == 0 && st->consumed < upto) {
    irpc_bytes seg = irpc_buf_segment(st->in, st->seg);
    size_t n = seg.len - st->off;
    if (n > upto - st->consumed)
      n = upto - st->consumed;
    rc = cstream_feed(&st->cs, seg.base + st->off, n, OP_RUN);
    st->off += n;
    st->consumed += n;
    if (st->off == seg.len) {
      st->seg++;
      st->off = 0;
    }
  }
  return rc;
}

/* Compresses a prefix until the output is sure to shrink. Returns 0, 1
 * (send the payload as it is: not sure by the end of the prefix, or it
 * did not shrink) or a negative error. */
static int wstream_decide(wstream *st) {
  size_t limit = st->total / 8 > PREFIX_MAX ? st->total / 8 : PREFIX_MAX;
  for (size_t check = RELEASE_CHECK;; check *= 2) {
    int rc = wstream_feed(st, check < st->total ? check : st->total);
    if (rc)
      return rc;
    if (st->consumed == st->total) {
      rc = cstream_feed(&st->cs, NULL, 0, OP_END);
      st->ended = 1;
      return rc ? rc : cstream_produced(&st->cs) < st->total ? 0 : 1;
    }
    int sure;
    rc =
        cstream_checkpoint(&st->cs, st->total, st->total - st->consumed, &sure);
    if (rc || sure)
      return rc;
    if (check >= limit)
      return 1;
  }
}

static void writer_end(void *state) {
  wstream *st = state;
  codec_fini(&st->cs.c);
  irpc_buf_free(st->ahead);
  irpc_free(st);
}

static int writer_begin(const void *config, irpc_fields *fields,
                        uint64_t peer_formats, const irpc_buf *in,
                        void **state) {
  const wcfg *w = config;
  size_t total = irpc_buf_len(in);
  int format = writer_format(w, fields, peer_formats, total);
  if (!format)
    return IRPC_PAYLOAD_UNCHANGED;
  wstream *st = irpc_calloc(1, sizeof(*st));
  if (!st)
    return IRPC_ENOMEM;
  int rc = irpc_buf_new(&st->ahead);
  if (rc == 0)
    rc = cstream_init(&st->cs, format, wcfg_level(w, format), total, st->ahead,
                      SIZE_MAX);
  if (rc) {
    irpc_buf_free(st->ahead);
    irpc_free(st);
    return rc;
  }
  st->in = in;
  st->total = total;
  rc = wstream_decide(st);
  if (rc == 0)
    rc = writer_mark(fields, format);
  if (rc) {
    writer_end(st);
    return rc > 0 ? IRPC_PAYLOAD_UNCHANGED : rc;
  }
  *state = st;
  return 0;
}

static int writer_next(void *state, irpc_buf *out, size_t want, int *done) {
  wstream *st = state;
  int rc = 0;
  while (rc == 0 && !st->ended && irpc_buf_len(st->ahead) < want) {
    if (st->consumed < st->total) {
      size_t room = st->total - st->consumed;
      rc = wstream_feed(st,
                        st->consumed + (room < PULL_SLICE ? room : PULL_SLICE));
    } else {
      rc = cstream_feed(&st->cs, NULL, 0, OP_END);
      st->ended = 1;
    }
  }
  if (rc == 0)
    rc = irpc_buf_move(out, st->ahead);
  if (rc)
    return rc;
  st->cs.left = 0; /* its last block went with the rest */
  *done = st->ended;
  return 0;
}

static const irpc_payload_writer_ops compress_writer = {
    .struct_size = sizeof(irpc_payload_writer_ops),
    .name = "compress",
    .write = writer_write,
    .begin = writer_begin,
    .next = writer_next,
    .end = writer_end,
};

static void wcfg_from(wcfg *w, const irpc_compress_options *o, int contract) {
  memset(w, 0, sizeof(*w));
  memcpy(w->formats, o->formats, sizeof(w->formats));
  w->levels[0] = (int8_t)o->zstd_level;
  w->levels[1] = (int8_t)o->brotli_level;
  w->levels[2] = (int8_t)o->deflate_level;
  w->contract = (uint8_t)(contract != 0);
  w->min_size = o->min_size;
}

int irpc__compress_use_on_request(irpc_outgoing_request *r,
                                  const irpc_compress_options *o,
                                  int contract) {
  if (!r || !o || irpc__compress_options_check(o))
    return IRPC_EINVAL;
  wcfg w;
  wcfg_from(&w, o, contract);
  return irpc_outgoing_request_use_writer(r, &compress_writer, &w, sizeof(w));
}

int irpc_compress_use_on_request(irpc_outgoing_request *r,
                                 const irpc_compress_options *o) {
  irpc_compress_options c;
  int err;
  if (o && !(o = IRPC__VIEW(o, &c, irpc_compress_options, &err)))
    return err;
  return irpc__compress_use_on_request(r, o, 1);
}

int irpc__compress_use_on_response_for(irpc_outgoing_response *r,
                                       const irpc_compress_options *o,
                                       int contract, uint64_t accept) {
  if (!r || !o || irpc__compress_options_check(o))
    return IRPC_EINVAL;
  wcfg w;
  wcfg_from(&w, o, contract);
  w.has_accept = 1;
  w.accept = accept;
  return irpc_outgoing_response_use_writer(r, &compress_writer, &w, sizeof(w));
}

int irpc_compress_use_on_response(irpc_outgoing_response *r,
                                  const irpc_compress_options *o) {
  irpc_compress_options c;
  int err;
  if (o && !(o = IRPC__VIEW(o, &c, irpc_compress_options, &err)))
    return err;
  if (!r || !o || irpc__compress_options_check(o))
    return IRPC_EINVAL;
  wcfg w;
  wcfg_from(&w, o, 1);
  return irpc_outgoing_response_use_writer(r, &compress_writer, &w, sizeof(w));
}

/* Decompresses a payload whose compression field is `field` in place.
 * Returns 0 (also when the format is unknown: left alone, IceRPC's rule),
 * or IRPC_EDATA, IRPC_ELIMIT, IRPC_ENOMEM. */
int irpc__decompress_payload(irpc_fields *fields, irpc_buf *payload,
                             uint64_t max_size) {
  irpc_bytes v;
  if (irpc_fields_get(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v))
    return 0;
  if (v.len != 1)
    return IRPC_EDATA;
  if (v.base[0] == IRPC_COMPRESSION_NONE)
    return 0; /* IceRPC's NotCompressed: nothing to do */
  if (!(irpc_compress_formats_readable() &
        irpc__compress_format_bit(v.base[0])))
    return IRPC_ENOTSUP;
  irpc_buf *tmp;
  int rc = irpc_buf_new(&tmp);
  if (rc)
    return rc;
  rc = irpc_decompress(v.base[0], payload, 1, max_size, tmp);
  if (rc == 0) {
    irpc_buf_clear(payload);
    rc = irpc_buf_move(payload, tmp);
    irpc_fields_remove(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  }
  irpc_buf_free(tmp);
  return rc;
}

/* ---- The interceptor ---- */

typedef struct cic {
  irpc_compress_options o;
} cic;

static int cic_init(irpc_invoker *self, const void *config) {
  cic *c = irpc_invoker_data(self);
  if (config)
    c->o = *(const irpc_compress_options *)config;
  else
    irpc_compress_options_init(&c->o);
  return irpc__compress_options_check(&c->o);
}

/* The accept field's value: the formats this build decompresses. */
static const uint8_t accept_list[] = {
    IRPC_COMPRESSION_ZSTD, IRPC_COMPRESSION_BROTLI, IRPC_COMPRESSION_DEFLATE};

static void cic_invoke(irpc_invoker *self, irpc_call *call) {
  cic *c = irpc_invoker_data(self);
  irpc_outgoing_request *req = irpc_call_request(call);
  irpc_fields *fields = irpc_outgoing_request_fields(req);
  int rc = 0;
  /* This call decompresses its response: say so (a value already there,
   * set by the application, is kept). */
  if (!irpc_fields_has(fields, IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT))
    rc = irpc_fields_set(fields, IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT,
                         accept_list, sizeof(accept_list));
  int want =
      irpc__compress_wanted(irpc_outgoing_request_features(req), c->o.always);
  if (rc == 0 && want &&
      (irpc_outgoing_request_has_writer(req, &compress_writer) ||
       !irpc_fields_has(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT)))
    rc = irpc__compress_use_on_request(req, &c->o, want == 2);
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  irpc_call_next(call);
}

static int cic_on_complete(irpc_invoker *self, irpc_call *call) {
  cic *c = irpc_invoker_data(self);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK)
    return 0;
  int rc = irpc__decompress_payload(irpc_incoming_response_fields(resp),
                                    irpc_incoming_response_payload(resp),
                                    c->o.max_decompressed_size);
  if (rc)
    irpc_call_set_result(call, rc, NULL);
  return 0;
}

static const irpc_invoker_ops cic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "compress",
    .data_size = sizeof(cic),
    .init = cic_init,
    .invoke = cic_invoke,
    .on_complete = cic_on_complete,
};

int irpc_compress_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                  const irpc_compress_options *o) {
  irpc_compress_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_compress_options) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &cic_ops, o ? &c : NULL);
}
