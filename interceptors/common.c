/* Helpers shared by several interceptors and middleware: the small PRNG behind
 * retry jitter and span ids, and field values written and read with the Slice2
 * encoder and decoder. */
#include <stdatomic.h>

#include "ic_internal.h"
#include "irpc/error.h"

/* xorshift64* (Vigna): the shifts of its xorshift step and the odd
 * multiplier of its output. */
#define XS_SHIFT_A 12
#define XS_SHIFT_B 25
#define XS_SHIFT_C 27
#define XS_STAR_MULTIPLIER UINT64_C(0x2545F4914F6CDD1D)

/* 2^64 / phi, odd: successive multiples spread seeds over the whole range,
 * and it replaces a zero state (a fixed point of xorshift). */
#define GOLDEN_GAMMA UINT64_C(0x9E3779B97F4A7C15)

uint64_t irpc__ic_rand_next(uint64_t *s) {
  uint64_t x = *s ? *s : GOLDEN_GAMMA;
  x ^= x >> XS_SHIFT_A;
  x ^= x << XS_SHIFT_B;
  x ^= x >> XS_SHIFT_C;
  *s = x;
  return x * XS_STAR_MULTIPLIER;
}

/* Seeds differ between objects created in the same clock tick, on any
 * thread: the counter is shared by every loop of the process. */
uint64_t irpc__ic_rand_seed(void) {
  static atomic_uint_fast64_t counter;
  uint64_t n =
      (uint64_t)atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) +
      1;
  uint64_t s = uv_hrtime() ^ (uint64_t)(uintptr_t)&counter ^ (n * GOLDEN_GAMMA);
  return s ? s : 1;
}

/* ---- Field values in Slice2 ---- */

int irpc__ic_field_set(irpc_fields *fields, uint64_t key,
                       irpc__ic_encode_fn enc, const void *value) {
  uint8_t small[IRPC__IC_FIELD_INLINE];
  irpc_slice_encoder e;
  irpc_slice_encoder_init_span(&e, small, sizeof(small), IRPC_SLICE_ENCODING_2);
  enc(&e, value);
  int rc = irpc_slice_encoder_flush(&e);
  if (rc == 0)
    return irpc_fields_set(fields, key, small, irpc_slice_encoder_pos(&e));
  if (rc != IRPC_ELIMIT) /* ELIMIT: larger than `small` */
    return rc;
  irpc_buf *b;
  rc = irpc_buf_new(&b);
  if (rc)
    return rc;
  irpc_bytes v;
  rc = irpc__ic_encode(b, enc, value);
  if (rc == 0)
    rc = irpc_buf_pullup(b, &v);
  if (rc == 0)
    rc = irpc_fields_set(fields, key, v.base, v.len);
  irpc_buf_free(b);
  return rc;
}

int irpc__ic_encode(irpc_buf *out, irpc__ic_encode_fn enc, const void *value) {
  size_t before = irpc_buf_len(out);
  irpc_slice_encoder e;
  int rc = irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_2);
  if (rc == 0) {
    enc(&e, value);
    rc = irpc_slice_encoder_flush(&e);
  }
  if (rc)
    irpc_buf_truncate(out, before);
  return rc;
}

void irpc__ic_decoder_init(irpc_slice_decoder *d, irpc_bytes value) {
  irpc_slice_decoder_init_bytes(d, value.base, value.len,
                                IRPC_SLICE_ENCODING_2);
  irpc_slice_decoder_set_limits(d, 0, SIZE_MAX);
}

int irpc__ic_decode_error(int rc) {
  switch (rc) {
  case 0:
  case IRPC_EUTF8:
  case IRPC_ENOMEM:
    return rc;
  default:
    return IRPC_EDATA;
  }
}
