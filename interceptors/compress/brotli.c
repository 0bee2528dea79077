/* The brotli codec (see irpc/compress.h). */
#include <brotli/decode.h>
#include <brotli/encode.h>

#include "codec.h"
#include "irpc/compress.h"
#include "irpc/error.h"

/* brotli takes a size hint up to this (a larger payload: same window). */
#define BROTLI_SIZE_HINT_MAX ((size_t)1 << 30)

static int brotli_level_ok(int level) {
  return level >= BROTLI_MIN_QUALITY && level <= BROTLI_MAX_QUALITY;
}

static int brotli_init(irpc__codec *c, int level, size_t size_hint) {
  if (c->decompress) {
    c->u.ctx =
        BrotliDecoderCreateInstance(irpc__codec_alloc, irpc__codec_free, NULL);
    return c->u.ctx ? 0 : IRPC_ENOMEM;
  }
  BrotliEncoderState *b =
      BrotliEncoderCreateInstance(irpc__codec_alloc, irpc__codec_free, NULL);
  if (!b)
    return IRPC_ENOMEM;
  c->u.ctx = b;
  BrotliEncoderSetParameter(b, BROTLI_PARAM_QUALITY, (uint32_t)level);
  BrotliEncoderSetParameter(b, BROTLI_PARAM_SIZE_HINT,
                            (uint32_t)(size_hint > BROTLI_SIZE_HINT_MAX
                                           ? BROTLI_SIZE_HINT_MAX
                                           : size_hint));
  return 0;
}

static void brotli_end(irpc__codec *c) {
  if (c->decompress)
    BrotliDecoderDestroyInstance(c->u.ctx);
  else
    BrotliEncoderDestroyInstance(c->u.ctx);
}

static int brotli_decode(irpc__codec *c, size_t *ai, const uint8_t **ni,
                         size_t *ao, uint8_t **no) {
  switch (BrotliDecoderDecompressStream(c->u.ctx, ai, ni, ao, no, NULL)) {
  case BROTLI_DECODER_RESULT_SUCCESS:
    return IRPC__STEP_END;
  case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
    return IRPC__STEP_MORE_OUT;
  case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
    return IRPC__STEP_NEED_IN;
  default:
    return IRPC_EDATA;
  }
}

static BrotliEncoderOperation brotli_operation(int op) {
  return op == IRPC__OP_END     ? BROTLI_OPERATION_FINISH
         : op == IRPC__OP_FLUSH ? BROTLI_OPERATION_FLUSH
                                : BROTLI_OPERATION_PROCESS;
}

static int brotli_encode(irpc__codec *c, size_t *ai, const uint8_t **ni,
                         size_t *ao, uint8_t **no, int op) {
  BrotliEncoderState *b = c->u.ctx;
  if (!BrotliEncoderCompressStream(b, brotli_operation(op), ai, ni, ao, no,
                                   NULL))
    return IRPC_ENOMEM;
  if (op == IRPC__OP_END && BrotliEncoderIsFinished(b))
    return IRPC__STEP_END;
  if (op == IRPC__OP_FLUSH && *ai == 0 && !BrotliEncoderHasMoreOutput(b))
    return IRPC__STEP_END;
  return *ao == 0 || BrotliEncoderHasMoreOutput(b) ? IRPC__STEP_MORE_OUT
                                                   : IRPC__STEP_NEED_IN;
}

static int brotli_step(irpc__codec *c, const uint8_t **in, size_t *in_len,
                       uint8_t **out, size_t *out_len, int op) {
  size_t ai = *in_len < IRPC__CODEC_STEP_MAX ? *in_len : IRPC__CODEC_STEP_MAX;
  size_t ao = *out_len;
  const uint8_t *ni = *in;
  uint8_t *no = *out;
  int res = c->decompress ? brotli_decode(c, &ai, &ni, &ao, &no)
                          : brotli_encode(c, &ai, &ni, &ao, &no, op);
  *in_len -= (size_t)(ni - *in);
  *in = ni;
  *out_len = ao;
  *out = no;
  return res;
}

static size_t brotli_bound(irpc__codec *c, size_t remaining) {
  (void)c;
  return BrotliEncoderMaxCompressedSize(remaining);
}

const irpc__codec_ops irpc__codec_brotli = {
    .format = IRPC_COMPRESSION_BROTLI,
    .level_ok = brotli_level_ok,
    .init = brotli_init,
    .step = brotli_step,
    .end = brotli_end,
    .bound = brotli_bound,
    .gather = 1,
};
