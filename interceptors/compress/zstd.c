/* The zstd codec (IceRPC's format 3 in irpc; see irpc/compress.h). */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: irpc's allocator */
#include <zstd.h>
#include <zstd_errors.h>

#include "codec.h"
#include "irpc/compress.h"
#include "irpc/error.h"

static const ZSTD_customMem zstd_mem = {irpc__codec_alloc, irpc__codec_free,
                                        NULL};

/* One zstd context of each kind is kept per thread and reused: creating
 * one costs far more than compressing a small payload. They stay allocated
 * for the life of the thread (a bounded cache, not a leak per call). */
static _Thread_local ZSTD_CCtx *cached_cctx;
static _Thread_local ZSTD_DCtx *cached_dctx;

static int zstd_error(size_t r) {
  return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? IRPC_ENOMEM
                                                              : IRPC_EDATA;
}

static int zstd_level_ok(int level) {
  return level >= 1 && level <= ZSTD_maxCLevel();
}

static int zstd_init(irpc__codec *c, int level, size_t size_hint) {
  if (c->decompress) {
    ZSTD_DCtx *d =
        cached_dctx ? cached_dctx : ZSTD_createDCtx_advanced(zstd_mem);
    cached_dctx = NULL;
    c->u.ctx = d;
    return d ? 0 : IRPC_ENOMEM;
  }
  ZSTD_CCtx *z = cached_cctx ? cached_cctx : ZSTD_createCCtx_advanced(zstd_mem);
  cached_cctx = NULL;
  if (!z)
    return IRPC_ENOMEM;
  c->u.ctx = z;
  ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setPledgedSrcSize(z, size_hint);
  return 0;
}

static void zstd_end(irpc__codec *c) {
  if (c->decompress) {
    ZSTD_DCtx *d = c->u.ctx;
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    if (!cached_dctx)
      cached_dctx = d;
    else
      ZSTD_freeDCtx(d);
    return;
  }
  ZSTD_CCtx *z = c->u.ctx;
  ZSTD_CCtx_reset(z, ZSTD_reset_session_and_parameters);
  if (!cached_cctx)
    cached_cctx = z;
  else
    ZSTD_freeCCtx(z);
}

static ZSTD_EndDirective zstd_directive(int op) {
  return op == IRPC__OP_END     ? ZSTD_e_end
         : op == IRPC__OP_FLUSH ? ZSTD_e_flush
                                : ZSTD_e_continue;
}

static int zstd_step(irpc__codec *c, const uint8_t **in, size_t *in_len,
                     uint8_t **out, size_t *out_len, int op) {
  size_t feed = *in_len < IRPC__CODEC_STEP_MAX ? *in_len : IRPC__CODEC_STEP_MAX;
  ZSTD_inBuffer ib = {*in, feed, 0};
  ZSTD_outBuffer ob = {*out, *out_len, 0};
  size_t r = c->decompress
                 ? ZSTD_decompressStream(c->u.ctx, &ob, &ib)
                 : ZSTD_compressStream2(c->u.ctx, &ob, &ib, zstd_directive(op));
  *in += ib.pos;
  *in_len -= ib.pos;
  *out += ob.pos;
  *out_len -= ob.pos;
  if (ZSTD_isError(r))
    return zstd_error(r);
  int full = ob.pos == ob.size;
  if (c->decompress)
    return r == 0 ? IRPC__STEP_END
                  : (full ? IRPC__STEP_MORE_OUT : IRPC__STEP_NEED_IN);
  if (op != IRPC__OP_RUN)
    return r == 0 && ib.pos == ib.size ? IRPC__STEP_END : IRPC__STEP_MORE_OUT;
  return full ? IRPC__STEP_MORE_OUT : IRPC__STEP_NEED_IN;
}

static size_t zstd_bound(irpc__codec *c, size_t remaining) {
  (void)c;
  return ZSTD_compressBound(remaining);
}

/* Contiguous input in one call, without the streaming mode's copy of the
 * input into the context's own buffer. */
static int zstd_one_shot(irpc__codec *c, const uint8_t *src, size_t len,
                         uint8_t *dst, size_t cap, size_t *written) {
  size_t r = ZSTD_compress2(c->u.ctx, dst, cap, src, len);
  if (ZSTD_isError(r))
    return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? 1
                                                               : zstd_error(r);
  *written = r;
  return 0;
}

const irpc__codec_ops irpc__codec_zstd = {
    .format = IRPC_COMPRESSION_ZSTD,
    .level_ok = zstd_level_ok,
    .init = zstd_init,
    .step = zstd_step,
    .end = zstd_end,
    .bound = zstd_bound,
    .one_shot = zstd_one_shot,
    .multi_frame = 1,
};
