/* Slice2 encoding: golden bytes from the IceRPC reference, round trips of
 * every type at its edges, placeholders, tagged fields, bit sequences,
 * segments, and encoder error handling. */
#include <float.h>
#include <math.h>

#include "kit/slice.h"

#define S2 IRPC_SLICE_ENCODING_2

typedef struct fixture {
  irpc_buf *buf;
  irpc_slice_encoder enc;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_irpc_ok(irpc_buf_new(&f->buf));
  assert_irpc_ok(irpc_slice_encoder_init(&f->enc, f->buf, S2));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  irpc_buf_free(f->buf);
  free(f);
  return 0;
}

/* Flushes, and opens a decoder over the whole chain. */
static void reopen(fixture *f, irpc_slice_decoder *d) {
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_irpc_ok(irpc_slice_decoder_init_buf(d, f->buf, S2));
}

/* ---- varuint62 / varint62 ---- */

static void check_varuint(uint64_t v, const char *hex) {
  irpc_buf *b;
  irpc_slice_encoder e;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S2));
  assert_irpc_ok(irpc_slice_encode_varuint62(&e, v));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  assert_hex(b, hex);
  assert_int_equal(irpc_slice_varuint62_len(v), irpc_buf_len(b));
  irpc_slice_decoder d;
  uint64_t got = ~v;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S2));
  assert_irpc_ok(irpc_slice_decode_varuint62(&d, &got));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  assert_true(got == v);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

static void test_varuint62_vectors(void **state) {
  (void)state;
  /* The examples of the reference, then every length boundary. */
  check_varuint(0, "00");
  check_varuint(1, "04");
  check_varuint(63, "FC");
  check_varuint(64, "01 01");
  check_varuint(16383, "FD FF");
  check_varuint(16384, "02 00 01 00");
  check_varuint((UINT64_C(1) << 30) - 1, "FE FF FF FF");
  check_varuint(UINT64_C(1) << 30, "03 00 00 00 01 00 00 00");
  check_varuint(IRPC_VARUINT62_MAX, "FF FF FF FF FF FF FF FF");
}

static void check_varint(int64_t v, const char *hex) {
  irpc_buf *b;
  irpc_slice_encoder e;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S2));
  assert_irpc_ok(irpc_slice_encode_varint62(&e, v));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  assert_hex(b, hex);
  irpc_slice_decoder d;
  int64_t got = ~v;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S2));
  assert_irpc_ok(irpc_slice_decode_varint62(&d, &got));
  assert_true(got == v);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

static void test_varint62_vectors(void **state) {
  (void)state;
  check_varint(0, "00");
  check_varint(-1, "FC");
  check_varint(31, "7C");
  check_varint(-32, "80");
  check_varint(32, "81 00");
  check_varint(-33, "7D FF");
  check_varint(8191, "FD 7F");
  check_varint(-8192, "01 80");
  check_varint(8192, "02 80 00 00");
  check_varint((INT64_C(1) << 29) - 1, "FE FF FF 7F");
  check_varint(-(INT64_C(1) << 29), "02 00 00 80");
  check_varint(INT64_C(1) << 29, "03 00 00 80 00 00 00 00");
  check_varint((INT64_C(1) << 61) - 1, "FF FF FF FF FF FF FF 7F");
  check_varint(-(INT64_C(1) << 61), "03 00 00 00 00 00 00 80");
}

static void test_var_overflow_is_sticky(void **state) {
  fixture *f = *state;
  assert_irpc_err(irpc_slice_encode_varuint62(&f->enc, IRPC_VARUINT62_MAX + 1),
                  IRPC_EOVERFLOW);
  /* Nothing more is written, and the error is reported again. */
  assert_irpc_err(irpc_slice_encode_uint8(&f->enc, 1), IRPC_EOVERFLOW);
  assert_irpc_err(irpc_slice_encoder_flush(&f->enc), IRPC_EOVERFLOW);
  assert_int_equal(irpc_buf_len(f->buf), 0);

  irpc_slice_encoder e;
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_varint62(&e, INT64_C(1) << 61),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_varint62(&e, -(INT64_C(1) << 61) - 1),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_varint62(&e, INT64_MIN), IRPC_EOVERFLOW);
}

static void test_var32_ranges(void **state) {
  fixture *f = *state;
  assert_irpc_ok(irpc_slice_encode_varint32(&f->enc, INT32_MIN));
  assert_irpc_ok(irpc_slice_encode_varint32(&f->enc, INT32_MAX));
  assert_irpc_ok(irpc_slice_encode_varuint32(&f->enc, UINT32_MAX));
  assert_irpc_ok(irpc_slice_encode_varuint32(&f->enc, 0));
  /* Values a 32-bit decoder must refuse. */
  assert_irpc_ok(irpc_slice_encode_varint62(&f->enc, (int64_t)INT32_MAX + 1));
  assert_irpc_ok(irpc_slice_encode_varint62(&f->enc, (int64_t)INT32_MIN - 1));
  assert_irpc_ok(
      irpc_slice_encode_varuint62(&f->enc, (uint64_t)UINT32_MAX + 1));
  irpc_slice_decoder d;
  reopen(f, &d);
  int32_t i;
  uint32_t u;
  assert_irpc_ok(irpc_slice_decode_varint32(&d, &i));
  assert_int_equal(i, INT32_MIN);
  assert_irpc_ok(irpc_slice_decode_varint32(&d, &i));
  assert_int_equal(i, INT32_MAX);
  assert_irpc_ok(irpc_slice_decode_varuint32(&d, &u));
  assert_true(u == UINT32_MAX);
  assert_irpc_ok(irpc_slice_decode_varuint32(&d, &u));
  assert_int_equal(u, 0);
  assert_irpc_err(irpc_slice_decode_varint32(&d, &i), IRPC_EOVERFLOW);
  irpc_slice_decoder_fini(&d);

  /* Each on its own decoder, since errors are sticky. */
  static const uint8_t below[] = {0xFF, 0xFF, 0xFF, 0xFF,
                                  0xFD, 0xFF, 0xFF, 0xFF}; /* INT32_MIN - 1 */
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, below, 8, S2));
  assert_irpc_err(irpc_slice_decode_varint32(&d, &i), IRPC_EOVERFLOW);
  static const uint8_t big[] = {0x03, 0, 0, 0, 4, 0, 0, 0}; /* 2^32 */
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, big, 8, S2));
  assert_irpc_err(irpc_slice_decode_varuint32(&d, &u), IRPC_EOVERFLOW);
}

/* ---- fixed placeholders ---- */

static void test_fixed_width_varuint(void **state) {
  fixture *f = *state;
  assert_irpc_ok(irpc_slice_encode_varuint62_fixed(&f->enc, 9, 2));
  assert_irpc_ok(irpc_slice_encode_varuint62_fixed(&f->enc, 1, 4));
  assert_irpc_ok(irpc_slice_encode_varuint62_fixed(&f->enc, 0, 8));
  assert_irpc_ok(irpc_slice_encode_varuint62_fixed(&f->enc, 63, 1));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "25 00 | 06 00 00 00 | 03 00 00 00 00 00 00 00 | FC");
  /* Non-minimal encodings decode to the same values. */
  irpc_slice_decoder d;
  reopen(f, &d);
  uint64_t v[4];
  for (int i = 0; i < 4; i++)
    assert_irpc_ok(irpc_slice_decode_varuint62(&d, &v[i]));
  assert_true(v[0] == 9 && v[1] == 1 && v[2] == 0 && v[3] == 63);
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);

  irpc_slice_encoder e;
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_varuint62_fixed(&e, 16384, 2),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_varuint62_fixed(&e, 64, 1), IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_varuint62_fixed(&e, 1, 3), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_ok(irpc_slice_encode_varuint62_fixed(&e, (1u << 30) - 1, 4));
  assert_irpc_err(irpc_slice_encode_varuint62_fixed(&e, 1u << 30, 4),
                  IRPC_EOVERFLOW);
}

/* ---- fixed-size primitives ---- */

static void test_fixed_round_trip(void **state) {
  fixture *f = *state;
  irpc_slice_encoder *e = &f->enc;
  assert_irpc_ok(irpc_slice_encode_bool(e, true));
  assert_irpc_ok(irpc_slice_encode_bool(e, false));
  assert_irpc_ok(irpc_slice_encode_int8(e, INT8_MIN));
  assert_irpc_ok(irpc_slice_encode_uint8(e, UINT8_MAX));
  assert_irpc_ok(irpc_slice_encode_int16(e, INT16_MIN));
  assert_irpc_ok(irpc_slice_encode_uint16(e, UINT16_MAX));
  assert_irpc_ok(irpc_slice_encode_int32(e, INT32_MIN));
  assert_irpc_ok(irpc_slice_encode_uint32(e, UINT32_MAX));
  assert_irpc_ok(irpc_slice_encode_int64(e, INT64_MIN));
  assert_irpc_ok(irpc_slice_encode_uint64(e, UINT64_MAX));
  assert_irpc_ok(irpc_slice_encode_float32(e, -0.0f));
  assert_irpc_ok(irpc_slice_encode_float64(e, DBL_MAX));
  assert_irpc_ok(irpc_slice_encode_float32(e, INFINITY));
  assert_irpc_ok(irpc_slice_encode_float64(e, NAN));
  assert_irpc_ok(irpc_slice_encode_int32(e, 0x01020304));
  assert_irpc_ok(irpc_slice_encoder_flush(e));
  assert_hex(f->buf, "01 00 80 FF 00 80 FF FF 00 00 00 80 FF FF FF FF"
                     "00 00 00 00 00 00 00 80 FF FF FF FF FF FF FF FF"
                     "00 00 00 80 FF FF FF FF FF FF EF 7F 00 00 80 7F"
                     "00 00 00 00 00 00 F8 7F 04 03 02 01");

  irpc_slice_decoder d;
  reopen(f, &d);
  bool b;
  int8_t i8;
  uint8_t u8;
  int16_t i16;
  uint16_t u16;
  int32_t i32;
  uint32_t u32;
  int64_t i64;
  uint64_t u64;
  float f32;
  double f64;
  assert_irpc_ok(irpc_slice_decode_bool(&d, &b));
  assert_true(b);
  assert_irpc_ok(irpc_slice_decode_bool(&d, &b));
  assert_false(b);
  assert_irpc_ok(irpc_slice_decode_int8(&d, &i8));
  assert_int_equal(i8, INT8_MIN);
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &u8));
  assert_int_equal(u8, UINT8_MAX);
  assert_irpc_ok(irpc_slice_decode_int16(&d, &i16));
  assert_int_equal(i16, INT16_MIN);
  assert_irpc_ok(irpc_slice_decode_uint16(&d, &u16));
  assert_int_equal(u16, UINT16_MAX);
  assert_irpc_ok(irpc_slice_decode_int32(&d, &i32));
  assert_int_equal(i32, INT32_MIN);
  assert_irpc_ok(irpc_slice_decode_uint32(&d, &u32));
  assert_true(u32 == UINT32_MAX);
  assert_irpc_ok(irpc_slice_decode_int64(&d, &i64));
  assert_true(i64 == INT64_MIN);
  assert_irpc_ok(irpc_slice_decode_uint64(&d, &u64));
  assert_true(u64 == UINT64_MAX);
  assert_irpc_ok(irpc_slice_decode_float32(&d, &f32));
  assert_true(f32 == 0.0f && signbit(f32));
  assert_irpc_ok(irpc_slice_decode_float64(&d, &f64));
  assert_true(f64 == DBL_MAX);
  assert_irpc_ok(irpc_slice_decode_float32(&d, &f32));
  assert_true(isinf(f32) && f32 > 0);
  assert_irpc_ok(irpc_slice_decode_float64(&d, &f64));
  assert_true(isnan(f64));
  assert_irpc_ok(irpc_slice_decode_int32(&d, &i32));
  assert_int_equal(i32, 0x01020304);
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  assert_irpc_err(irpc_slice_decode_uint8(&d, &u8), IRPC_ETRUNCATED);
  irpc_slice_decoder_fini(&d);
}

/* ---- strings ---- */

static void test_string_vectors(void **state) {
  fixture *f = *state;
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "1 \xCE\xBCs", 5));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, NULL, 0));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "14 31 20 CE BC 73 | 00");
  irpc_slice_decoder d;
  reopen(f, &d);
  irpc_bytes s;
  assert_irpc_ok(irpc_slice_decode_string(&d, &s));
  assert_true(slice_view_is(s, "1 \xCE\xBCs"));
  /* A contiguous string is a view into the input, not a copy. */
  assert_ptr_equal(s.base, irpc_buf_segment(f->buf, 0).base + 1);
  assert_irpc_ok(irpc_slice_decode_string(&d, &s));
  assert_int_equal(s.len, 0);
  assert_non_null(s.base);
  irpc_slice_decoder_fini(&d);
}

static void test_string_large_and_copy(void **state) {
  fixture *f = *state;
  size_t n = 3 * IRPC_BUF_BLOCK_SIZE + 123;
  char *big = malloc(n);
  for (size_t i = 0; i < n; i++)
    big[i] = (char)('a' + i % 26);
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "x", 1));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, big, n));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "tail", 4));
  irpc_slice_decoder d;
  reopen(f, &d);
  assert_true(irpc_buf_segment_count(f->buf) > 1);
  irpc_bytes s;
  char *copy;
  size_t len;
  assert_irpc_ok(irpc_slice_decode_string(&d, &s));
  assert_true(slice_view_is(s, "x"));
  assert_irpc_ok(irpc_slice_decode_string_copy(&d, &copy, &len));
  assert_int_equal(len, n);
  assert_memory_equal(copy, big, n);
  assert_int_equal(copy[n], '\0');
  irpc_free(copy);
  assert_irpc_ok(irpc_slice_decode_string(&d, &s));
  assert_true(slice_view_is(s, "tail"));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
  free(big);
}

static void test_encode_rejects_bad_utf8(void **state) {
  fixture *f = *state;
  assert_irpc_err(irpc_slice_encode_string(&f->enc, "\xC0\x80", 2), IRPC_EUTF8);
  assert_irpc_err(irpc_slice_encoder_flush(&f->enc), IRPC_EUTF8);
  assert_int_equal(irpc_buf_len(f->buf), 0);
}

/* ---- sequences and dictionaries ---- */

static void test_sequence_vector(void **state) {
  fixture *f = *state;
  const int32_t v[] = {5, 32, 9};
  assert_irpc_ok(irpc_slice_encode_seq(&f->enc, IRPC_SLICE_INT32, v, 3));
  assert_irpc_ok(irpc_slice_encode_seq(&f->enc, IRPC_SLICE_UINT8, NULL, 0));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "0C 05000000 20000000 09000000 | 00");
  irpc_slice_decoder d;
  reopen(f, &d);
  int32_t *got;
  size_t n;
  assert_irpc_ok(
      irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, (void **)&got, &n));
  assert_int_equal(n, 3);
  assert_memory_equal(got, v, sizeof(v));
  irpc_free(got);
  void *none = &n;
  assert_irpc_ok(irpc_slice_decode_seq(&d, IRPC_SLICE_UINT8, &none, &n));
  assert_int_equal(n, 0);
  assert_null(none);
  irpc_slice_decoder_fini(&d);
}

/* One sequence per element type, at the type's edges, through both the
 * allocating and the caller-storage decoders. */
static void test_sequence_every_type(void **state) {
  fixture *f = *state;
  const bool b[] = {true, false, true};
  const int8_t i8[] = {INT8_MIN, 0, INT8_MAX};
  const uint16_t u16[] = {0, 1, UINT16_MAX};
  const int16_t i16[] = {INT16_MIN, -1, INT16_MAX};
  const uint32_t u32[] = {0, 0x80000000u, UINT32_MAX};
  const int64_t i64[] = {INT64_MIN, -1, INT64_MAX};
  const uint64_t u64[] = {0, 1, UINT64_MAX};
  const float f32[] = {-FLT_MAX, FLT_MIN, 1.5f};
  const double f64[] = {-DBL_MAX, DBL_MIN, -2.25};
  const int32_t vi32[] = {INT32_MIN, -1, 0, 64, INT32_MAX};
  const uint32_t vu32[] = {0, 63, 64, 16384, UINT32_MAX};
  const int64_t vi62[] = {-(INT64_C(1) << 61), -33, 0, (INT64_C(1) << 61) - 1};
  const uint64_t vu62[] = {0, 63, 16383, IRPC_VARUINT62_MAX};
  struct {
    irpc_slice_type type;
    const void *v;
    size_t n, size;
  } cases[] = {
      {IRPC_SLICE_BOOL, b, 3, sizeof(b)},
      {IRPC_SLICE_INT8, i8, 3, sizeof(i8)},
      {IRPC_SLICE_UINT16, u16, 3, sizeof(u16)},
      {IRPC_SLICE_INT16, i16, 3, sizeof(i16)},
      {IRPC_SLICE_UINT32, u32, 3, sizeof(u32)},
      {IRPC_SLICE_INT64, i64, 3, sizeof(i64)},
      {IRPC_SLICE_UINT64, u64, 3, sizeof(u64)},
      {IRPC_SLICE_FLOAT32, f32, 3, sizeof(f32)},
      {IRPC_SLICE_FLOAT64, f64, 3, sizeof(f64)},
      {IRPC_SLICE_VARINT32, vi32, 5, sizeof(vi32)},
      {IRPC_SLICE_VARUINT32, vu32, 5, sizeof(vu32)},
      {IRPC_SLICE_VARINT62, vi62, 4, sizeof(vi62)},
      {IRPC_SLICE_VARUINT62, vu62, 4, sizeof(vu62)},
  };
  size_t ncases = sizeof(cases) / sizeof(cases[0]);
  for (size_t i = 0; i < ncases; i++) {
    assert_irpc_ok(
        irpc_slice_encode_seq(&f->enc, cases[i].type, cases[i].v, cases[i].n));
    assert_irpc_ok(
        irpc_slice_encode_seq(&f->enc, cases[i].type, cases[i].v, cases[i].n));
  }
  irpc_slice_decoder d;
  reopen(f, &d);
  for (size_t i = 0; i < ncases; i++) {
    void *got;
    size_t n;
    uint8_t into[64];
    assert_irpc_ok(irpc_slice_decode_seq(&d, cases[i].type, &got, &n));
    assert_int_equal(n, cases[i].n);
    assert_memory_equal(got, cases[i].v, cases[i].size);
    irpc_free(got);
    assert_int_equal(irpc_slice_type_size(cases[i].type) * n, cases[i].size);
    assert_irpc_ok(
        irpc_slice_decode_seq_into(&d, cases[i].type, into, cases[i].n, &n));
    assert_memory_equal(into, cases[i].v, cases[i].size);
  }
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

static void test_sequence_large_bulk(void **state) {
  fixture *f = *state;
  size_t n = 1 << 20; /* 4 MB of int32 */
  int32_t *v = malloc(n * sizeof(*v));
  for (size_t i = 0; i < n; i++)
    v[i] = (int32_t)(i * 2654435761u);
  assert_irpc_ok(irpc_slice_encode_seq(&f->enc, IRPC_SLICE_INT32, v, n));
  irpc_slice_decoder d;
  reopen(f, &d);
  assert_int_equal(irpc_buf_len(f->buf), 4 + n * 4);
  int32_t *got;
  size_t count;
  assert_irpc_ok(
      irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, (void **)&got, &count));
  assert_int_equal(count, n);
  assert_memory_equal(got, v, n * sizeof(*v));
  irpc_free(got);
  irpc_slice_decoder_fini(&d);

  /* Over the 8 MB default, the same data is refused before allocating. */
  irpc_buf_clear(f->buf);
  assert_irpc_ok(irpc_slice_encoder_init(&f->enc, f->buf, S2));
  assert_irpc_ok(irpc_slice_encode_seq(&f->enc, IRPC_SLICE_INT32, v, n));
  assert_irpc_ok(irpc_slice_encode_seq(&f->enc, IRPC_SLICE_INT32, v, n));
  assert_irpc_ok(irpc_slice_encode_seq(&f->enc, IRPC_SLICE_INT32, v, n));
  reopen(f, &d);
  for (int i = 0; i < 2; i++) {
    assert_irpc_ok(
        irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, (void **)&got, &count));
    irpc_free(got);
  }
  assert_irpc_err(
      irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, (void **)&got, &count),
      IRPC_ELIMIT);
  irpc_slice_decoder_fini(&d);
  free(v);
}

/* Sequence<int32?> [5, null, 9, null] -> 10 05 05000000 09000000. */
static void test_optional_sequence_bitseq(void **state) {
  fixture *f = *state;
  const int32_t vals[] = {5, 0, 9, 0};
  const bool set[] = {true, false, true, false};
  irpc_slice_bit_writer w;
  assert_irpc_ok(irpc_slice_encode_size(&f->enc, 4));
  assert_irpc_ok(irpc_slice_encode_bitseq(&f->enc, 4, &w));
  for (int i = 0; i < 4; i++) {
    assert_irpc_ok(irpc_slice_bit_writer_put(&f->enc, &w, set[i]));
    if (set[i])
      assert_irpc_ok(irpc_slice_encode_int32(&f->enc, vals[i]));
  }
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "10 05 05000000 09000000");
  /* A fifth bit was never declared. */
  assert_irpc_err(irpc_slice_bit_writer_put(&f->enc, &w, true), IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encoder_flush(&f->enc), IRPC_EINVAL);

  irpc_slice_decoder d;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  size_t n;
  irpc_slice_bit_reader r;
  assert_irpc_ok(irpc_slice_decode_count(&d, 1, sizeof(int32_t), &n));
  assert_int_equal(n, 4);
  assert_irpc_ok(irpc_slice_decode_bitseq(&d, n, &r));
  for (size_t i = 0; i < n; i++) {
    bool present;
    assert_irpc_ok(irpc_slice_bit_reader_get(&d, &r, &present));
    assert_int_equal(present, set[i]);
    if (present) {
      int32_t v;
      assert_irpc_ok(irpc_slice_decode_int32(&d, &v));
      assert_int_equal(v, vals[i]);
    }
  }
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* A bit sequence longer than a block: its bytes end up flushed before the
 * last bits are set, so those are back-patched into committed memory. */
static void test_bitseq_spanning_blocks(void **state) {
  fixture *f = *state;
  size_t nbits = 8 * IRPC_BUF_BLOCK_SIZE + 5;
  irpc_slice_bit_writer w;
  uint8_t lead[100] = {0};
  assert_irpc_ok(irpc_slice_encode_bytes(&f->enc, lead, sizeof(lead)));
  assert_irpc_ok(irpc_slice_encode_bitseq(&f->enc, nbits, &w));
  for (size_t i = 0; i < nbits; i++)
    assert_irpc_ok(irpc_slice_bit_writer_put(&f->enc, &w, i % 3 == 0));
  irpc_slice_decoder d;
  reopen(f, &d);
  assert_true(irpc_buf_segment_count(f->buf) > 1);
  irpc_slice_bit_reader r;
  assert_irpc_ok(irpc_slice_decoder_skip(&d, sizeof(lead)));
  assert_irpc_ok(irpc_slice_decode_bitseq(&d, nbits, &r));
  for (size_t i = 0; i < nbits; i++) {
    bool present;
    assert_irpc_ok(irpc_slice_bit_reader_get(&d, &r, &present));
    assert_int_equal(present, i % 3 == 0);
  }
  assert_irpc_err(irpc_slice_bit_reader_get(&d, &r, &(bool){0}), IRPC_EINVAL);
  irpc_slice_decoder_fini(&d);
}

/* Dictionary<varuint62, Sequence<uint8>> as in the icerpc fields, and
 * Dictionary<string, int32?> whose pairs each start with a one-bit bit
 * sequence. */
static void test_dictionaries(void **state) {
  fixture *f = *state;
  irpc_slice_encoder *e = &f->enc;
  assert_irpc_ok(irpc_slice_encode_size(e, 2));
  assert_irpc_ok(irpc_slice_encode_varuint62(e, 4)); /* Idempotent */
  assert_irpc_ok(irpc_slice_encode_seq(e, IRPC_SLICE_UINT8, NULL, 0));
  assert_irpc_ok(irpc_slice_encode_varuint62(e, 2)); /* CompressionFormat */
  assert_irpc_ok(irpc_slice_encode_seq(e, IRPC_SLICE_UINT8, "\x01", 1));
  assert_irpc_ok(irpc_slice_encode_size(e, 2));
  irpc_slice_bit_writer w;
  assert_irpc_ok(irpc_slice_encode_bitseq(e, 1, &w));
  assert_irpc_ok(irpc_slice_bit_writer_put(e, &w, true));
  assert_irpc_ok(irpc_slice_encode_string(e, "a", 1));
  assert_irpc_ok(irpc_slice_encode_int32(e, 7));
  assert_irpc_ok(irpc_slice_encode_bitseq(e, 1, &w));
  assert_irpc_ok(irpc_slice_bit_writer_put(e, &w, false));
  assert_irpc_ok(irpc_slice_encode_string(e, "b", 1));
  assert_irpc_ok(irpc_slice_encoder_flush(e));
  assert_hex(f->buf,
             "08 | 10 00 | 08 04 01 | 08 | 01 04 61 07000000 | 00 04 62");

  irpc_slice_decoder d;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  size_t n;
  uint64_t key;
  uint8_t val[4];
  size_t vn;
  assert_irpc_ok(irpc_slice_decode_count(&d, 2, 0, &n));
  assert_int_equal(n, 2);
  assert_irpc_ok(irpc_slice_decode_varuint62(&d, &key));
  assert_int_equal(key, 4);
  assert_irpc_ok(irpc_slice_decode_seq_into(&d, IRPC_SLICE_UINT8, val, 4, &vn));
  assert_int_equal(vn, 0);
  assert_irpc_ok(irpc_slice_decode_varuint62(&d, &key));
  assert_int_equal(key, 2);
  assert_irpc_ok(irpc_slice_decode_seq_into(&d, IRPC_SLICE_UINT8, val, 4, &vn));
  assert_int_equal(vn, 1);
  assert_int_equal(val[0], 1);
  assert_irpc_ok(irpc_slice_decode_count(&d, 2, 0, &n));
  for (size_t i = 0; i < n; i++) {
    irpc_slice_bit_reader r;
    bool present;
    irpc_bytes k;
    assert_irpc_ok(irpc_slice_decode_bitseq(&d, 1, &r));
    assert_irpc_ok(irpc_slice_bit_reader_get(&d, &r, &present));
    assert_irpc_ok(irpc_slice_decode_string(&d, &k));
    assert_true(slice_view_is(k, i == 0 ? "a" : "b"));
    assert_int_equal(present, i == 0);
    if (present) {
      int32_t v;
      assert_irpc_ok(irpc_slice_decode_int32(&d, &v));
      assert_int_equal(v, 7);
    }
  }
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* ---- structs, tagged fields, enums ---- */

static void test_structs(void **state) {
  fixture *f = *state;
  /* compact struct Point{x, y} (5, 32), then the same non-compact, then an
   * empty non-compact struct. */
  for (int i = 0; i < 2; i++) {
    assert_irpc_ok(irpc_slice_encode_int32(&f->enc, 5));
    assert_irpc_ok(irpc_slice_encode_int32(&f->enc, 32));
  }
  assert_irpc_ok(irpc_slice_encode_tag_end_marker(&f->enc));
  assert_irpc_ok(irpc_slice_encode_tag_end_marker(&f->enc));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "05000000 20000000 | 05000000 20000000 FC | FC");
  irpc_slice_decoder d;
  reopen(f, &d);
  int32_t x;
  for (int i = 0; i < 4; i++)
    assert_irpc_ok(irpc_slice_decode_int32(&d, &x));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* struct Contact{id: int32, tag(1) name: string?, tag(2) age: uint8?} with
 * (5, unset, 42) is 05000000 08 04 2A FC. */
static void test_tagged_contact_vector(void **state) {
  fixture *f = *state;
  assert_irpc_ok(irpc_slice_encode_int32(&f->enc, 5));
  assert_irpc_ok(irpc_slice_encode_tag_sized(&f->enc, 2, 1));
  assert_irpc_ok(irpc_slice_encode_uint8(&f->enc, 42));
  assert_irpc_ok(irpc_slice_encode_tag_end_marker(&f->enc));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "05000000 08 04 2A FC");

  irpc_slice_decoder d;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  int32_t id;
  bool found;
  irpc_slice_scope sc;
  uint8_t age;
  assert_irpc_ok(irpc_slice_decode_int32(&d, &id));
  assert_irpc_ok(irpc_slice_decode_tag(&d, 1, &found, &sc));
  assert_false(found);
  size_t at = irpc_slice_decoder_pos(&d);
  assert_int_equal(at, 4); /* the larger tag was given back */
  assert_irpc_ok(irpc_slice_decode_tag(&d, 2, &found, &sc));
  assert_true(found);
  assert_int_equal(irpc_slice_decoder_remaining(&d), 1);
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &age));
  assert_int_equal(age, 42);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_tag(&d, 3, &found, &sc));
  assert_false(found);
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* Tagged fields written with 4-byte placeholders; an older reader that
 * knows only tag 5 skips tags 1 and 3 and the end marker; a reader that
 * knows none skips them all. */
static void test_tagged_placeholders_and_unknown(void **state) {
  fixture *f = *state;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_tag_begin(&f->enc, 1, &m));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "name", 4));
  assert_irpc_ok(irpc_slice_encode_tag_end(&f->enc, &m));
  assert_irpc_ok(irpc_slice_encode_tag_begin(&f->enc, 3, &m));
  assert_irpc_ok(
      irpc_slice_encode_seq(&f->enc, IRPC_SLICE_INT16, "\1\0\2\0", 2));
  assert_irpc_ok(irpc_slice_encode_tag_end(&f->enc, &m));
  assert_irpc_ok(irpc_slice_encode_tag_begin(&f->enc, 5, &m));
  assert_irpc_ok(irpc_slice_encode_bool(&f->enc, true));
  assert_irpc_ok(irpc_slice_encode_tag_end(&f->enc, &m));
  assert_irpc_ok(irpc_slice_encode_tag_end_marker(&f->enc));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "04 16000000 10 6E616D65 | 0C 16000000 08 0100 0200"
                     "| 14 06000000 01 | FC");

  irpc_slice_decoder d;
  bool found, flag;
  irpc_slice_scope sc;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decode_tag(&d, 5, &found, &sc));
  assert_true(found);
  assert_irpc_ok(irpc_slice_decode_bool(&d, &flag));
  assert_true(flag);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);

  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);

  /* A value read only partly: _end refuses, _skip moves on. */
  irpc_slice_decoder d2;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d2, f->buf, S2));
  assert_irpc_ok(irpc_slice_decode_tag(&d, 1, &found, &sc));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 1));
  assert_irpc_ok(irpc_slice_decode_scope_skip(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_tag(&d, 3, &found, &sc));
  assert_true(found);
  assert_irpc_ok(irpc_slice_decode_tag(&d2, 1, &found, &sc));
  assert_irpc_ok(irpc_slice_decoder_skip(&d2, 1));
  assert_irpc_err(irpc_slice_decode_scope_end(&d2, &sc), IRPC_EDATA);
  irpc_slice_decoder_fini(&d);
  irpc_slice_decoder_fini(&d2);
}

static int is_odd(int64_t v, void *user_data) {
  (void)user_data;
  return v % 2 != 0;
}

static void test_enums(void **state) {
  fixture *f = *state;
  irpc_slice_encoder *e = &f->enc;
  assert_irpc_ok(irpc_slice_encode_enum(e, IRPC_SLICE_UINT8, 3));
  assert_irpc_ok(irpc_slice_encode_enum(e, IRPC_SLICE_INT16, -2));
  assert_irpc_ok(irpc_slice_encode_enum(e, IRPC_SLICE_VARINT32, -1));
  assert_irpc_ok(irpc_slice_encode_enum(e, IRPC_SLICE_VARUINT62, 10));
  assert_irpc_ok(irpc_slice_encode_enum(e, IRPC_SLICE_INT64, INT64_MIN));
  assert_irpc_ok(irpc_slice_encode_enum(e, IRPC_SLICE_UINT8, 9));
  assert_irpc_ok(irpc_slice_encoder_flush(e));
  assert_hex(f->buf, "03 | FE FF | FC | 28 | 00 00 00 00 00 00 00 80 | 09");
  irpc_slice_decoder d;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  int64_t v;
  assert_irpc_ok(irpc_slice_decode_enum_range(&d, IRPC_SLICE_UINT8, 0, 3, &v));
  assert_int_equal(v, 3);
  assert_irpc_ok(irpc_slice_decode_enum_range(&d, IRPC_SLICE_INT16, -2, 0, &v));
  assert_int_equal(v, -2);
  assert_irpc_ok(
      irpc_slice_decode_enum_fn(&d, IRPC_SLICE_VARINT32, is_odd, NULL, &v));
  assert_int_equal(v, -1);
  assert_irpc_ok(
      irpc_slice_decode_enum_range(&d, IRPC_SLICE_VARUINT62, 0, 10, &v));
  assert_int_equal(v, 10);
  assert_irpc_ok(irpc_slice_decode_enum_range(&d, IRPC_SLICE_INT64, INT64_MIN,
                                              INT64_MAX, &v));
  assert_true(v == INT64_MIN);
  /* A checked enum without enumerator 9. */
  assert_irpc_err(irpc_slice_decode_enum_range(&d, IRPC_SLICE_UINT8, 0, 3, &v),
                  IRPC_EENUM);
  irpc_slice_decoder_fini(&d);

  irpc_slice_encoder e2;
  assert_irpc_ok(irpc_slice_encoder_init(&e2, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_enum(&e2, IRPC_SLICE_UINT8, 256),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_encoder_init(&e2, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_enum(&e2, IRPC_SLICE_UINT16, -1),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_encoder_init(&e2, f->buf, S2));
  assert_irpc_err(irpc_slice_encode_enum(&e2, IRPC_SLICE_FLOAT32, 1),
                  IRPC_EINVAL);
  static const uint8_t two[] = {2,    0xFF, 0xFF, 0xFF, 0xFF,
                                0xFF, 0xFF, 0xFF, 0xFF};
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, two, 1, S2));
  assert_irpc_err(
      irpc_slice_decode_enum_fn(&d, IRPC_SLICE_UINT8, is_odd, NULL, &v),
      IRPC_EENUM);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, two + 1, 8, S2));
  assert_irpc_err(
      irpc_slice_decode_enum_range(&d, IRPC_SLICE_UINT64, 0, INT64_MAX, &v),
      IRPC_EENUM);
}

/* ---- protocol vectors ---- */

/* icerpc request header: path "/foo", operation "op", no fields, in a
 * 2-byte size placeholder: 25 00 10 2F 66 6F 6F 08 6F 70 00. */
static void test_icerpc_request_header(void **state) {
  fixture *f = *state;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_size_begin(&f->enc, 2, &m));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "/foo", 4));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "op", 2));
  assert_irpc_ok(irpc_slice_encode_size(&f->enc, 0));
  assert_irpc_ok(irpc_slice_encode_size_end(&f->enc, &m));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "25 00 10 2F 66 6F 6F 08 6F 70 00");

  /* The receiver reads the header as a segment. */
  irpc_slice_decoder d;
  irpc_slice_scope sc;
  irpc_bytes path, op;
  size_t nfields;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&d, 16383, 0));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_string(&d, &path));
  assert_irpc_ok(irpc_slice_decode_string(&d, &op));
  assert_irpc_ok(irpc_slice_decode_count(&d, 2, 0, &nfields));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  assert_true(slice_view_is(path, "/foo"));
  assert_true(slice_view_is(op, "op"));
  assert_int_equal(nfields, 0);
  irpc_slice_decoder_fini(&d);
}

/* icerpc response header, Ok, no fields: 09 00 00 00. Settings frame with
 * no key: 00 05 00 00. GoAway (1, 7): 01 09 00 04 1C. */
static void test_icerpc_response_and_control(void **state) {
  fixture *f = *state;
  irpc_slice_encoder *e = &f->enc;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_size_begin(e, 2, &m));
  assert_irpc_ok(irpc_slice_encode_varuint62(e, IRPC_STATUS_OK));
  assert_irpc_ok(irpc_slice_encode_size(e, 0));
  assert_irpc_ok(irpc_slice_encode_size_end(e, &m));
  assert_irpc_ok(irpc_slice_encode_uint8(e, 0));
  assert_irpc_ok(irpc_slice_encode_size_begin(e, 2, &m));
  assert_irpc_ok(irpc_slice_encode_size(e, 0));
  assert_irpc_ok(irpc_slice_encode_size_end(e, &m));
  assert_irpc_ok(irpc_slice_encode_uint8(e, 1));
  assert_irpc_ok(irpc_slice_encode_size_begin(e, 2, &m));
  assert_irpc_ok(irpc_slice_encode_varuint62(e, 1));
  assert_irpc_ok(irpc_slice_encode_varuint62(e, 7));
  assert_irpc_ok(irpc_slice_encode_size_end(e, &m));
  assert_irpc_ok(irpc_slice_encoder_flush(e));
  assert_hex(f->buf, "09 00 00 00 | 00 05 00 00 | 01 09 00 04 1C");
}

/* Slic Initialize of a client with default options:
 * 01 5D00 04 10 | 10 10 02000200 | 0C 10 02000400 | 08 10 C2D40100 |
 * 04 04 04. Each parameter value is a varuint62 inside a byte sequence. */
static void test_slic_initialize(void **state) {
  fixture *f = *state;
  irpc_slice_encoder *e = &f->enc;
  static const uint64_t params[][2] = {
      {4, 32768}, /* MaxStreamFrameSize */
      {3, 65536}, /* InitialStreamWindowSize */
      {2, 30000}, /* IdleTimeout, ms */
      {1, 1},     /* MaxUnidirectionalStreams */
  };
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_uint8(e, 1));
  assert_irpc_ok(irpc_slice_encode_size_begin(e, 2, &m));
  assert_irpc_ok(irpc_slice_encode_varuint62(e, 1));
  assert_irpc_ok(irpc_slice_encode_size(e, 4));
  for (int i = 0; i < 4; i++) {
    assert_irpc_ok(irpc_slice_encode_varuint62(e, params[i][0]));
    assert_irpc_ok(
        irpc_slice_encode_size(e, irpc_slice_varuint62_len(params[i][1])));
    assert_irpc_ok(irpc_slice_encode_varuint62(e, params[i][1]));
  }
  assert_irpc_ok(irpc_slice_encode_size_end(e, &m));
  assert_irpc_ok(irpc_slice_encoder_flush(e));
  static const char *want = "01 5D 00 04 10 10 10 02 00 02 00 0C 10 02 00 04 "
                            "00 08 10 C2 D4 01 00 04 04 04";
  assert_hex(f->buf, want);

  /* Decode it back, the way a Slic reader does: frame type, frame size as
   * a segment, version, then the parameter dictionary. */
  irpc_slice_decoder d;
  irpc_slice_scope frame, value;
  uint8_t type;
  uint64_t version, key, v;
  size_t n;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &type));
  assert_int_equal(type, 1);
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &frame));
  assert_int_equal(irpc_slice_decoder_remaining(&d), 23);
  assert_irpc_ok(irpc_slice_decode_varuint62(&d, &version));
  assert_int_equal(version, 1);
  assert_irpc_ok(irpc_slice_decode_count(&d, 2, 0, &n));
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++) {
    /* Each value is a varuint62 inside a Sequence<uint8>. */
    assert_irpc_ok(irpc_slice_decode_varuint62(&d, &key));
    assert_irpc_ok(irpc_slice_decode_sized_begin(&d, &value));
    assert_irpc_ok(irpc_slice_decode_varuint62(&d, &v));
    assert_irpc_ok(irpc_slice_decode_scope_end(&d, &value));
    assert_int_equal(key, params[i][0]);
    assert_int_equal(v, params[i][1]);
  }
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &frame));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* An operation's arguments as a segment: greet(name: string) with a 4-byte
 * size; and the "empty payload followed by a stream" form 04 FC. */
static void test_operation_segments(void **state) {
  fixture *f = *state;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_segment_begin(&f->enc, &m));
  assert_irpc_ok(irpc_slice_encode_string(&f->enc, "Bob", 3));
  assert_irpc_ok(irpc_slice_encode_tag_end_marker(&f->enc));
  assert_irpc_ok(irpc_slice_encode_segment_end(&f->enc, &m));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_hex(f->buf, "16 00 00 00 | 0C 42 6F 62 | FC");

  irpc_slice_decoder d;
  irpc_slice_scope sc;
  irpc_bytes name;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_string(&d, &name));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  assert_true(slice_view_is(name, "Bob"));
  irpc_slice_decoder_fini(&d);

  static const uint8_t empty[] = {0x04, 0xFC};
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, empty, 2, S2));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* ---- placeholders in flushed and shared memory ---- */

static void test_patch_after_flush_and_across_blocks(void **state) {
  fixture *f = *state;
  size_t pos;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_placeholder(&f->enc, 4, &pos));
  assert_int_equal(pos, 0);
  assert_irpc_ok(irpc_slice_encode_size_begin(&f->enc, 4, &m));
  size_t n = 2 * IRPC_BUF_BLOCK_SIZE + 7;
  uint8_t *blob = calloc(1, n);
  assert_irpc_ok(irpc_slice_encode_bytes(&f->enc, blob, n));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_irpc_ok(irpc_slice_encode_size_end(&f->enc, &m));
  assert_irpc_ok(irpc_slice_patch_int32(&f->enc, pos, 0x11223344));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  assert_true(irpc_buf_segment_count(f->buf) > 1);
  irpc_slice_decoder d;
  int32_t first;
  uint64_t size;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, f->buf, S2));
  assert_irpc_ok(irpc_slice_decode_int32(&d, &first));
  assert_int_equal(first, 0x11223344);
  assert_irpc_ok(irpc_slice_decode_varuint62(&d, &size));
  assert_int_equal(size, n);
  irpc_slice_decoder_fini(&d);
  free(blob);

  /* Past the end, and into a block another chain now shares. */
  assert_irpc_err(irpc_slice_patch_int32(&f->enc, irpc_buf_len(f->buf) - 3, 0),
                  IRPC_ERANGE);
  irpc_slice_encoder e;
  irpc_buf *other;
  assert_irpc_ok(irpc_buf_new(&other));
  assert_irpc_ok(irpc_buf_append_ref(other, f->buf, 0, 4));
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, S2));
  assert_irpc_err(irpc_slice_patch_int32(&e, 0, 1), IRPC_EBUSY);
  irpc_buf_free(other);
}

static void test_size_end_overflow(void **state) {
  fixture *f = *state;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_size_begin(&f->enc, 1, &m));
  uint8_t blob[64] = {0};
  assert_irpc_ok(irpc_slice_encode_bytes(&f->enc, blob, 64));
  assert_irpc_err(irpc_slice_encode_size_end(&f->enc, &m), IRPC_EOVERFLOW);
}

/* ---- zero-copy append, existing content, wrong encoding ---- */

static void test_encode_buf_shares_blocks(void **state) {
  fixture *f = *state;
  irpc_buf *payload;
  assert_irpc_ok(irpc_buf_new(&payload));
  assert_irpc_ok(irpc_buf_append(payload, "payload", 7));
  assert_irpc_ok(irpc_buf_prepend(f->buf, "PRE", 3));
  assert_irpc_ok(irpc_slice_encoder_init(&f->enc, f->buf, S2));
  assert_int_equal(irpc_slice_encoder_pos(&f->enc), 3);
  assert_irpc_ok(irpc_slice_encode_size(&f->enc, 7));
  assert_irpc_ok(irpc_slice_encode_buf(&f->enc, payload));
  assert_irpc_ok(irpc_slice_encode_uint8(&f->enc, 0xAB));
  assert_irpc_ok(irpc_slice_encoder_flush(&f->enc));
  /* The payload's bytes were not copied: the chain points at its block. */
  irpc_bytes shared = irpc_buf_segment(payload, 0);
  int found = 0;
  for (size_t i = 0; i < irpc_buf_segment_count(f->buf); i++)
    found |= irpc_buf_segment(f->buf, i).base == shared.base;
  assert_true(found);
  irpc_buf_free(payload); /* the chain keeps its own reference */
  assert_hex(f->buf, "50 52 45 1C 70 61 79 6C 6F 61 64 AB");
  assert_irpc_err(irpc_slice_encode_buf(&f->enc, f->buf), IRPC_EINVAL);
}

static void test_wrong_encoding_functions(void **state) {
  fixture *f = *state;
  irpc_slice_encoder e;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, IRPC_SLICE_ENCODING_2));
  assert_irpc_err(irpc_slice_encode_encaps_begin(&e, 1, 1, &m), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, IRPC_SLICE_ENCODING_1_1));
  assert_irpc_err(irpc_slice_encode_varuint62(&e, 1), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, IRPC_SLICE_ENCODING_1_1));
  assert_irpc_err(irpc_slice_encode_tag_end_marker(&e), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_encoder_init(&e, f->buf, IRPC_SLICE_ENCODING_1_1));
  assert_irpc_err(irpc_slice_encode_seq(&e, IRPC_SLICE_VARINT32, "", 0),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encoder_init(&e, f->buf, 3), IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encoder_init(&e, NULL, S2), IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encode_uint8(NULL, 1), IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encoder_flush(NULL), IRPC_EINVAL);
  assert_int_equal(irpc_buf_len(f->buf), 0);
}

/* ---- allocation failures ---- */

/* Encodes and decodes a message that allocates blocks, segment arrays,
 * scratch copies and sequences, with the i-th allocation failing for each
 * i: every call must fail with IRPC_ENOMEM or succeed, and nothing leaks. */
static int encode_decode_once(void) {
  irpc_buf *b;
  int rc = irpc_buf_new(&b);
  if (rc)
    return rc;
  irpc_slice_encoder e;
  irpc_slice_encoder_init(&e, b, S2);
  static char big[3 * IRPC_BUF_BLOCK_SIZE];
  memset(big, 'z', sizeof(big));
  irpc_slice_mark m;
  irpc_slice_encode_segment_begin(&e, &m);
  irpc_slice_encode_string(&e, big, sizeof(big));
  irpc_slice_encode_seq(&e, IRPC_SLICE_UINT64, big, sizeof(big) / 8);
  irpc_slice_encode_tag_end_marker(&e);
  irpc_slice_encode_segment_end(&e, &m);
  rc = irpc_slice_encoder_flush(&e);
  if (rc == 0) {
    irpc_slice_decoder d;
    irpc_slice_scope sc;
    irpc_bytes s;
    void *seq = NULL;
    size_t n;
    irpc_slice_decoder_init_buf(&d, b, S2);
    irpc_slice_decode_segment_begin(&d, &sc);
    irpc_slice_decode_string(&d, &s);
    irpc_slice_decode_seq(&d, IRPC_SLICE_UINT64, &seq, &n);
    irpc_slice_decode_tags_end(&d);
    irpc_slice_decode_scope_end(&d, &sc);
    rc = irpc_slice_decoder_error(&d);
    if (rc == 0 && (s.len != sizeof(big) || n != sizeof(big) / 8))
      rc = IRPC_EDATA;
    irpc_free(seq);
    irpc_slice_decoder_fini(&d);
  }
  irpc_buf_free(b);
  return rc;
}

static void test_failing_allocations(void **state) {
  (void)state;
  test_alloc_install();
  long base = test_alloc.live;
  test_alloc.fail_at = 0;
  assert_irpc_ok(encode_decode_once());
  assert_int_equal(test_alloc.live, base);
  long ok = 0;
  long i;
  for (i = 1; i < 1000; i++) {
    test_alloc.fail_at = i;
    int rc = encode_decode_once();
    if (rc != 0)
      assert_int_equal(rc, IRPC_ENOMEM);
    else
      ok++;
    assert_int_equal(test_alloc.live, base);
    if (test_alloc.fail_at > 0) { /* fewer than i allocations: all tried */
      test_alloc.fail_at = 0;
      break;
    }
  }
  /* Every allocation was made to fail once, then a run needed fewer. */
  assert_true(i > 5 && i < 1000);
  assert_int_equal(ok, 1);
}

/* An encoder over a fixed span: the same bytes as over a chain, its
 * position is the length written, a value that does not fit fails with
 * IRPC_ELIMIT (sticky), placeholders patch in place, a chain is copied. */
static void test_span_encoder(void **state) {
  (void)state;
  uint8_t mem[16];
  irpc_slice_encoder e;
  assert_irpc_ok(irpc_slice_encoder_init_span(&e, mem, sizeof(mem), S2));
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encode_size_begin(&e, 2, &m));
  assert_irpc_ok(irpc_slice_encode_varuint62(&e, 300));
  assert_irpc_ok(irpc_slice_encode_string(&e, "hi", 2));
  assert_irpc_ok(irpc_slice_encode_size_end(&e, &m));
  /* 300 is 0xB1 0x04; "hi" is 0x08 'h' 'i'; the size of those 5 bytes in
   * a 2-byte varuint62 placeholder is 0x15 0x00. */
  static const uint8_t want[] = {0x15, 0x00, 0xB1, 0x04, 0x08, 'h', 'i'};
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  assert_int_equal(irpc_slice_encoder_pos(&e), sizeof(want));
  assert_memory_equal(mem, want, sizeof(want));
  /* The same values over a chain give the same bytes. */
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  irpc_slice_encoder c;
  assert_irpc_ok(irpc_slice_encoder_init(&c, b, S2));
  assert_irpc_ok(irpc_slice_encode_size_begin(&c, 2, &m));
  assert_irpc_ok(irpc_slice_encode_varuint62(&c, 300));
  assert_irpc_ok(irpc_slice_encode_string(&c, "hi", 2));
  assert_irpc_ok(irpc_slice_encode_size_end(&c, &m));
  assert_irpc_ok(irpc_slice_encoder_flush(&c));
  assert_true(irpc_buf_equals(b, want, sizeof(want)));
  /* encode_buf copies the chain's bytes into the span. */
  assert_irpc_ok(irpc_slice_encode_buf(&e, b));
  assert_int_equal(irpc_slice_encoder_pos(&e), 2 * sizeof(want));
  assert_memory_equal(mem + sizeof(want), want, sizeof(want));
  /* 2 bytes left: a uint32 does not fit, and the error sticks. */
  assert_irpc_err(irpc_slice_encode_uint32(&e, 1), IRPC_ELIMIT);
  assert_irpc_err(irpc_slice_encode_uint8(&e, 1), IRPC_ELIMIT);
  assert_irpc_err(irpc_slice_encoder_flush(&e), IRPC_ELIMIT);
  assert_int_equal(irpc_slice_encoder_pos(&e), 2 * sizeof(want));
  /* Bad arguments. */
  assert_irpc_err(irpc_slice_encoder_init_span(&e, NULL, 4, S2), IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encode_uint8(&e, 1), IRPC_EINVAL);
  assert_irpc_err(irpc_slice_encoder_init_span(NULL, mem, 4, S2), IRPC_EINVAL);
  irpc_buf_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varuint62_vectors),
      cmocka_unit_test(test_span_encoder),
      cmocka_unit_test(test_varint62_vectors),
      cmocka_unit_test_setup_teardown(test_var_overflow_is_sticky, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_var32_ranges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixed_width_varuint, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fixed_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_string_vectors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_string_large_and_copy, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_encode_rejects_bad_utf8, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sequence_vector, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sequence_every_type, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sequence_large_bulk, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_optional_sequence_bitseq, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bitseq_spanning_blocks, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dictionaries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_structs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tagged_contact_vector, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tagged_placeholders_and_unknown,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_enums, setup, teardown),
      cmocka_unit_test_setup_teardown(test_icerpc_request_header, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_icerpc_response_and_control, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_slic_initialize, setup, teardown),
      cmocka_unit_test_setup_teardown(test_operation_segments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_patch_after_flush_and_across_blocks,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_size_end_overflow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_buf_shares_blocks, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wrong_encoding_functions, setup,
                                      teardown),
      cmocka_unit_test(test_failing_allocations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
