/* Slice decoding of hostile input: truncation at every byte, values split
 * across segments of every size, invalid UTF-8, sizes past the end, limits
 * enforced before allocating, bad tags, enums, bit sequences and scopes. */
#include "kit/slice.h"

#define S2 IRPC_SLICE_ENCODING_2
#define S1 IRPC_SLICE_ENCODING_1_1

/* ---- a message exercising most of the decoder ---- */

/* The message, as a segment holding a non-compact struct:
 *   path: string, delta: varint62, ints: Sequence<int32>,
 *   sizes: Sequence<varuint62>, [opt: string?, gone: int64?, flag: bool?],
 *   ctx: Dictionary<string, string>, ratio: float64,
 *   tag(1) note: string?, tag(7) level: uint8? */
static const char path_str[] =
    "/h\xC3\xA9llo/w\xC3\xB6rld/\xE2\x82\xAC\xF0\x9F\x98\x80";
static const char ctx_k2[] = "\xCE\xBA";
static const char ctx_v2[] = "\xCE\xBD";

static void encode_message(irpc_buf *b) {
  irpc_slice_encoder e;
  irpc_slice_mark seg, tag;
  irpc_slice_bit_writer w;
  const int32_t ints[] = {1, -2, 3, 0x7FFFFFFF, -0x7FFFFFFF - 1, 6};
  const uint64_t sizes[] = {0, 63, 64, 16384, IRPC_VARUINT62_MAX};
  const irpc_slice_string_pair ctx[] = {
      {{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}},
      {{(const uint8_t *)ctx_k2, 2}, {(const uint8_t *)ctx_v2, 2}},
  };
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S2));
  assert_irpc_ok(irpc_slice_encode_segment_begin(&e, &seg));
  assert_irpc_ok(irpc_slice_encode_string(&e, path_str, strlen(path_str)));
  assert_irpc_ok(irpc_slice_encode_varint62(&e, -12345));
  assert_irpc_ok(irpc_slice_encode_seq(&e, IRPC_SLICE_INT32, ints, 6));
  assert_irpc_ok(irpc_slice_encode_seq(&e, IRPC_SLICE_VARUINT62, sizes, 5));
  assert_irpc_ok(irpc_slice_encode_bitseq(&e, 3, &w));
  assert_irpc_ok(irpc_slice_bit_writer_put(&e, &w, true));
  assert_irpc_ok(irpc_slice_encode_string(&e, "opt", 3));
  assert_irpc_ok(irpc_slice_bit_writer_put(&e, &w, false));
  assert_irpc_ok(irpc_slice_bit_writer_put(&e, &w, true));
  assert_irpc_ok(irpc_slice_encode_bool(&e, true));
  assert_irpc_ok(irpc_slice_encode_context(&e, ctx, 2));
  assert_irpc_ok(irpc_slice_encode_float64(&e, 3.5));
  assert_irpc_ok(irpc_slice_encode_tag_begin(&e, 1, &tag));
  assert_irpc_ok(irpc_slice_encode_string(&e, "tagged", 6));
  assert_irpc_ok(irpc_slice_encode_tag_end(&e, &tag));
  assert_irpc_ok(irpc_slice_encode_tag_sized(&e, 7, 1));
  assert_irpc_ok(irpc_slice_encode_uint8(&e, 9));
  assert_irpc_ok(irpc_slice_encode_tag_end_marker(&e));
  assert_irpc_ok(irpc_slice_encode_segment_end(&e, &seg));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
}

/* FNV-1a over everything decoded, so two decodings can be compared. */
static void mix(uint64_t *h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    *h = (*h ^ b[i]) * UINT64_C(0x100000001b3);
}

static void mix_view(uint64_t *h, irpc_bytes v) {
  mix(h, &v.len, sizeof(v.len));
  mix(h, v.base, v.len);
}

static int decode_fields(irpc_slice_decoder *d, uint64_t *h) {
  irpc_bytes s;
  int64_t delta;
  void *arr = NULL;
  size_t n;
  irpc_slice_bit_reader r;
  bool present, flag;
  if (irpc_slice_decode_string(d, &s) == 0)
    mix_view(h, s);
  if (irpc_slice_decode_varint62(d, &delta) == 0)
    mix(h, &delta, sizeof(delta));
  if (irpc_slice_decode_seq(d, IRPC_SLICE_INT32, &arr, &n) == 0) {
    mix(h, arr, n * 4);
    irpc_free(arr);
  }
  arr = NULL;
  if (irpc_slice_decode_seq(d, IRPC_SLICE_VARUINT62, &arr, &n) == 0) {
    mix(h, arr, n * 8);
    irpc_free(arr);
  }
  irpc_slice_decode_bitseq(d, 3, &r);
  for (int i = 0; i < 3 && irpc_slice_decoder_error(d) == 0; i++) {
    if (irpc_slice_bit_reader_get(d, &r, &present) || !present)
      continue;
    if (i == 0 && irpc_slice_decode_string(d, &s) == 0)
      mix_view(h, s);
    if (i == 2 && irpc_slice_decode_bool(d, &flag) == 0)
      mix(h, &flag, 1);
  }
  return irpc_slice_decoder_error(d);
}

static int decode_tail(irpc_slice_decoder *d, uint64_t *h) {
  irpc_slice_string_pair *ctx = NULL;
  size_t n = 0;
  double ratio;
  bool found;
  irpc_slice_scope sc;
  irpc_bytes note;
  uint8_t level;
  if (irpc_slice_decode_context(d, &ctx, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      mix_view(h, ctx[i].key);
      mix_view(h, ctx[i].value);
    }
    irpc_free(ctx);
  }
  if (irpc_slice_decode_float64(d, &ratio) == 0)
    mix(h, &ratio, 8);
  if (irpc_slice_decode_tag(d, 1, &found, &sc) == 0 && found &&
      irpc_slice_decode_string(d, &note) == 0) {
    mix_view(h, note);
    irpc_slice_decode_scope_end(d, &sc);
  }
  if (irpc_slice_decode_tag(d, 7, &found, &sc) == 0 && found &&
      irpc_slice_decode_uint8(d, &level) == 0) {
    mix(h, &level, 1);
    irpc_slice_decode_scope_end(d, &sc);
  }
  irpc_slice_decode_tags_end(d);
  return irpc_slice_decoder_error(d);
}

/* Decodes the message; returns the decoder's error and the digest. */
static int decode_message(irpc_slice_decoder *d, int framed, uint64_t *h) {
  irpc_slice_scope seg;
  *h = UINT64_C(0xcbf29ce484222325);
  if (framed && irpc_slice_decode_segment_begin(d, &seg))
    return irpc_slice_decoder_error(d);
  decode_fields(d, h);
  decode_tail(d, h);
  if (framed)
    irpc_slice_decode_scope_end(d, &seg);
  irpc_slice_decoder_end(d);
  return irpc_slice_decoder_error(d);
}

static size_t flatten(const irpc_buf *b, uint8_t **out) {
  size_t n = irpc_buf_len(b);
  *out = malloc(n);
  assert_irpc_ok(irpc_buf_copyout(b, 0, *out, n));
  return n;
}

/* The digest of the contiguous decoding, with the known values. */
static uint64_t reference_digest(const uint8_t *msg, size_t n) {
  irpc_slice_decoder d;
  uint64_t h;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, msg, n, S2));
  assert_irpc_ok(decode_message(&d, 1, &h));
  irpc_slice_decoder_fini(&d);
  return h;
}

/* Every segment size from 1 byte up gives the same values, including the
 * strings split across segments (copied) and the bit sequence read back
 * across a segment boundary. */
static void test_fragmented_equals_contiguous(void **state) {
  (void)state;
  irpc_buf *b;
  uint8_t *msg;
  assert_irpc_ok(irpc_buf_new(&b));
  encode_message(b);
  size_t n = flatten(b, &msg);
  uint64_t want = reference_digest(msg, n);
  for (size_t seg = 1; seg <= n; seg++) {
    irpc_buf *chain = slice_chain(msg, n, seg);
    irpc_slice_decoder d;
    uint64_t h;
    assert_irpc_ok(irpc_slice_decoder_init_buf(&d, chain, S2));
    assert_irpc_ok(decode_message(&d, 1, &h));
    assert_true(h == want);
    irpc_slice_decoder_fini(&d);
    irpc_buf_free(chain);
  }
  free(msg);
  irpc_buf_free(b);
}

/* Every strict prefix of the message body fails with IRPC_ETRUNCATED, in
 * one piece and in 1-byte and 3-byte segments; so does the whole message
 * when its segment size promises more than is there. */
static void test_every_truncation(void **state) {
  (void)state;
  irpc_buf *b;
  uint8_t *msg;
  assert_irpc_ok(irpc_buf_new(&b));
  encode_message(b);
  size_t n = flatten(b, &msg);
  const uint8_t *body = msg + 4; /* after the 4-byte segment size */
  size_t len = n - 4;
  for (size_t cut = 0; cut < len; cut++) {
    irpc_slice_decoder d;
    uint64_t h;
    assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, body, cut, S2));
    assert_irpc_err(decode_message(&d, 0, &h), IRPC_ETRUNCATED);
    irpc_slice_decoder_fini(&d);
    const size_t segs[] = {1, 3};
    for (int k = 0; k < 2; k++) {
      irpc_buf *chain = slice_chain(body, cut, segs[k]);
      assert_irpc_ok(irpc_slice_decoder_init_buf(&d, chain, S2));
      assert_irpc_err(decode_message(&d, 0, &h), IRPC_ETRUNCATED);
      irpc_slice_decoder_fini(&d);
      irpc_buf_free(chain);
    }
    assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, msg, cut + 4, S2));
    assert_irpc_err(decode_message(&d, 1, &h), IRPC_ETRUNCATED);
    irpc_slice_decoder_fini(&d);
  }
  free(msg);
  irpc_buf_free(b);
}

/* ---- strings ---- */

static const char *const utf8_valid[] = {
    "",
    "A",
    "\x7F",
    "\xC2\x80",
    "\xDF\xBF",
    "\xE0\xA0\x80",
    "\xED\x9F\xBF",
    "\xEE\x80\x80",
    "\xEF\xBF\xBF",
    "\xF0\x90\x80\x80",
    "\xF4\x8F\xBF\xBF",
    "0123456\xC3\xA9",
    /* split so that \xAC does not swallow the 8 */
    ("01234567\xE2\x82\xAC"
     "89abcdef"),
};

static const char *const utf8_invalid[] = {
    "\x80",                       /* lone continuation byte */
    "\xBF",                       /* lone continuation byte */
    "\xC0\x80",                   /* overlong NUL */
    "\xC1\xBF",                   /* overlong */
    "\xE0\x80\x80",               /* overlong */
    "\xE0\x9F\xBF",               /* overlong U+07FF */
    "\xED\xA0\x80",               /* surrogate U+D800 */
    "\xED\xBF\xBF",               /* surrogate U+DFFF */
    "\xF0\x80\x80\x80",           /* overlong */
    "\xF0\x8F\xBF\xBF",           /* overlong U+FFFF */
    "\xF4\x90\x80\x80",           /* U+110000 */
    "\xF5\x80\x80\x80",           /* lead byte past U+10FFFF */
    "\xFF",                       /* never valid */
    "\xC2",                       /* truncated */
    "\xE2\x82",                   /* truncated */
    "\xE2\x28\xA1",               /* bad continuation */
    "\xF0\x90\x80\x28",           /* bad last continuation */
    "abcdefg\xC3",                /* truncated after the ASCII fast path */
    "\xC2\x80\x80",               /* stray continuation */
    "01234567012345\xE0\x80\xAF", /* overlong after a long ASCII run */
};

/* Decodes `s` as a Slice2 string from one piece, from 1-byte segments and
 * as a copy; returns the error, which must be the same every way. */
static int decode_utf8(const char *s) {
  size_t n = strlen(s);
  uint8_t wire[64];
  wire[0] = (uint8_t)(n << 2);
  memcpy(wire + 1, s, n);
  irpc_slice_decoder d;
  irpc_bytes v;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, wire, n + 1, S2));
  int rc = irpc_slice_decode_string(&d, &v);
  if (rc == 0 && n > 0)
    assert_memory_equal(v.base, s, n);
  irpc_slice_decoder_fini(&d);

  irpc_buf *chain = slice_chain(wire, n + 1, 1);
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, chain, S2));
  assert_int_equal(irpc_slice_decode_string(&d, &v), rc);
  if (rc == 0 && n > 0)
    assert_memory_equal(v.base, s, n);
  irpc_slice_decoder_fini(&d);

  char *copy = NULL;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, chain, S2));
  assert_int_equal(irpc_slice_decode_string_copy(&d, &copy, NULL), rc);
  if (rc == 0)
    assert_string_equal(copy, s);
  irpc_free(copy);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(chain);
  return rc;
}

static void test_utf8_validation(void **state) {
  (void)state;
  irpc_buf *b;
  irpc_slice_encoder e;
  assert_irpc_ok(irpc_buf_new(&b));
  for (size_t i = 0; i < sizeof(utf8_valid) / sizeof(*utf8_valid); i++) {
    assert_irpc_ok(decode_utf8(utf8_valid[i]));
    assert_irpc_ok(irpc_slice_encoder_init(&e, b, S2));
    assert_irpc_ok(
        irpc_slice_encode_string(&e, utf8_valid[i], strlen(utf8_valid[i])));
  }
  for (size_t i = 0; i < sizeof(utf8_invalid) / sizeof(*utf8_invalid); i++) {
    assert_irpc_err(decode_utf8(utf8_invalid[i]), IRPC_EUTF8);
    assert_irpc_ok(irpc_slice_encoder_init(&e, b, S2));
    assert_irpc_err(
        irpc_slice_encode_string(&e, utf8_invalid[i], strlen(utf8_invalid[i])),
        IRPC_EUTF8);
  }
  irpc_buf_free(b);
}

/* A plain reference: decode each code point, then check its range. */
static int ref_utf8_valid(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t c = p[i], min;
    size_t len;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, c &= 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, c &= 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, c &= 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i < len)
      return 0;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80)
        return 0;
      c = c << 6 | (p[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

/* Checks the decoder against the reference for `seq` placed alone and
 * straddling an 8-byte block after ASCII. */
static void check_against_reference(const uint8_t *seq, size_t n) {
  uint8_t wire[32];
  for (size_t lead = 0; lead <= 6; lead += 6) {
    size_t len = lead + n;
    wire[0] = (uint8_t)(len << 2);
    memset(wire + 1, 'a', lead);
    memcpy(wire + 1 + lead, seq, n);
    irpc_slice_decoder d;
    irpc_bytes v;
    assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, wire, len + 1, S2));
    int rc = irpc_slice_decode_string(&d, &v);
    if (rc != (ref_utf8_valid(wire + 1, len) ? 0 : IRPC_EUTF8))
      fail_msg("UTF-8 verdict differs for %02x %02x %02x %02x (n=%zu)", seq[0],
               n > 1 ? seq[1] : 0, n > 2 ? seq[2] : 0, n > 3 ? seq[3] : 0, n);
  }
}

/* Every 1- and 2-byte input, every 3-byte input led by a non-ASCII byte,
 * and 4-byte inputs over the bytes at each class boundary. */
static void test_utf8_matches_reference(void **state) {
  (void)state;
  uint8_t s[4];
  for (unsigned a = 0; a < 256; a++) {
    s[0] = (uint8_t)a;
    check_against_reference(s, 1);
    for (unsigned b = 0; b < 256; b++) {
      s[1] = (uint8_t)b;
      check_against_reference(s, 2);
      if (a < 0x80)
        continue;
      for (unsigned c = 0; c < 256; c++) {
        s[2] = (uint8_t)c;
        check_against_reference(s, 3);
      }
    }
  }
  static const uint8_t edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                  0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xED,
                                  0xF0, 0xF4, 0xF5, 0xFF};
  for (unsigned a = 0xF0; a <= 0xF7; a++)
    for (size_t i = 0; i < sizeof(edges); i++)
      for (size_t j = 0; j < sizeof(edges); j++)
        for (size_t k = 0; k < sizeof(edges); k++) {
          const uint8_t q[4] = {(uint8_t)a, edges[i], edges[j], edges[k]};
          check_against_reference(q, 4);
        }
}

static void test_string_size_past_end(void **state) {
  (void)state;
  static const uint8_t s[] = {10 << 2, 'a', 'b', 'c'};
  irpc_slice_decoder d;
  irpc_bytes v;
  char *copy = NULL;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, s, sizeof(s), S2));
  assert_irpc_err(irpc_slice_decode_string(&d, &v), IRPC_ETRUNCATED);
  long allocs = test_alloc.allocs;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, s, sizeof(s), S2));
  assert_irpc_err(irpc_slice_decode_string_copy(&d, &copy, NULL),
                  IRPC_ETRUNCATED);
  assert_int_equal(test_alloc.allocs, allocs);
  assert_null(copy);
}

/* ---- counts and limits, checked before allocating ---- */

static void test_huge_counts_rejected_before_allocating(void **state) {
  (void)state;
  /* 2^30 - 1 int32 elements declared, 4 bytes present. */
  static const uint8_t big[] = {0xFE, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
  /* 2^62 - 1: more than any size. */
  static const uint8_t huge[] = {0xFF, 0xFF, 0xFF, 0xFF,
                                 0xFF, 0xFF, 0xFF, 0xFF};
  irpc_slice_decoder d;
  void *arr = NULL;
  size_t n = 99;
  long allocs = test_alloc.allocs;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, big, sizeof(big), S2));
  assert_irpc_err(irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, &arr, &n),
                  IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, big, sizeof(big), S2));
  assert_irpc_err(irpc_slice_decode_count(&d, 1, 64, &n), IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, big, sizeof(big), S2));
  assert_irpc_err(
      irpc_slice_decode_context(&d, (irpc_slice_string_pair **)&arr, &n),
      IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, huge, sizeof(huge), S2));
  assert_irpc_err(irpc_slice_decode_seq(&d, IRPC_SLICE_UINT8, &arr, &n),
                  IRPC_EOVERFLOW);
  assert_int_equal(test_alloc.allocs, allocs);
  assert_null(arr);
  assert_int_equal(n, 99);
}

static void test_collection_allocation_limit(void **state) {
  (void)state;
  uint8_t msg[1 + 30 * 4 + 6] = {30 << 2};
  msg[121] = 5 << 2;
  memcpy(msg + 122, "hello", 5);
  irpc_slice_decoder d;
  void *arr = NULL;
  size_t n;
  irpc_bytes s;
  long allocs = test_alloc.allocs;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, msg, sizeof(msg), S2));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&d, 0, 100));
  assert_irpc_err(irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, &arr, &n),
                  IRPC_ELIMIT);
  assert_int_equal(test_alloc.allocs, allocs);
  /* The limit is cumulative: 120 bytes fit in 124, the string's 5 not. */
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, msg, sizeof(msg), S2));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&d, 0, 124));
  assert_irpc_ok(irpc_slice_decode_seq(&d, IRPC_SLICE_INT32, &arr, &n));
  irpc_free(arr);
  assert_irpc_err(irpc_slice_decode_string(&d, &s), IRPC_ELIMIT);
  /* Caller storage is not charged. */
  int32_t into[30];
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, msg, sizeof(msg), S2));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&d, 0, 1));
  assert_irpc_ok(
      irpc_slice_decode_seq_into(&d, IRPC_SLICE_INT32, into, 30, &n));
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, msg, sizeof(msg), S2));
  assert_irpc_err(
      irpc_slice_decode_seq_into(&d, IRPC_SLICE_INT32, into, 29, &n),
      IRPC_ERANGE);
}

static void test_segment_limits(void **state) {
  (void)state;
  static const uint8_t empty[] = {0x00};
  static const uint8_t seventeen[] = {17 << 2, 0, 0, 0, 0, 0, 0, 0, 0,
                                      0,       0, 0, 0, 0, 0, 0, 0, 0};
  static const uint8_t short5[] = {5 << 2, 1, 2, 3};
  static const uint8_t trailing[] = {2 << 2, 0xFC, 0x00};
  irpc_slice_decoder d;
  irpc_slice_scope sc;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, empty, 1, S2));
  assert_irpc_err(irpc_slice_decode_segment_begin(&d, &sc), IRPC_EDATA);
  assert_irpc_ok(
      irpc_slice_decoder_init_bytes(&d, seventeen, sizeof(seventeen), S2));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&d, 16, 0));
  assert_irpc_err(irpc_slice_decode_segment_begin(&d, &sc), IRPC_ELIMIT);
  assert_irpc_ok(
      irpc_slice_decoder_init_bytes(&d, seventeen, sizeof(seventeen), S2));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&d, 17, 0));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_scope_skip(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, short5, sizeof(short5), S2));
  assert_irpc_err(irpc_slice_decode_segment_begin(&d, &sc), IRPC_ETRUNCATED);
  /* A segment with a byte left over after its struct. */
  assert_irpc_ok(
      irpc_slice_decoder_init_bytes(&d, trailing, sizeof(trailing), S2));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_err(irpc_slice_decode_scope_end(&d, &sc), IRPC_EDATA);
  /* Reads stop at the end of the scope, not at the end of the input. */
  uint8_t b;
  assert_irpc_ok(
      irpc_slice_decoder_init_bytes(&d, trailing, sizeof(trailing), S2));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 2));
  assert_irpc_err(irpc_slice_decode_uint8(&d, &b), IRPC_ETRUNCATED);
  /* Scopes are closed innermost first. */
  static const uint8_t nested[] = {3 << 2, 1 << 2, 0xAA, 0xBB};
  irpc_slice_scope inner;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, nested, 4, S2));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_sized_begin(&d, &inner));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 1));
  assert_irpc_err(irpc_slice_decode_scope_skip(&d, &sc), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, nested, 4, S2));
  assert_irpc_ok(irpc_slice_decode_segment_begin(&d, &sc));
  assert_irpc_ok(irpc_slice_decode_sized_begin(&d, &inner));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 1));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &inner));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 1));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
}

/* ---- numbers, tags, enums, bit sequences ---- */

static void test_truncated_numbers(void **state) {
  (void)state;
  static const uint8_t var8[] = {0x03, 1, 2}; /* claims 8 bytes */
  static const uint8_t i32[] = {1, 2, 3};
  irpc_slice_decoder d;
  uint64_t u;
  int32_t i;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, var8, 3, S2));
  assert_irpc_err(irpc_slice_decode_varuint62(&d, &u), IRPC_ETRUNCATED);
  /* The error is sticky: a shorter read afterwards fails the same way. */
  uint8_t b;
  assert_irpc_err(irpc_slice_decode_uint8(&d, &b), IRPC_ETRUNCATED);
  assert_irpc_err(irpc_slice_decoder_error(&d), IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, i32, 3, S2));
  assert_irpc_err(irpc_slice_decode_int32(&d, &i), IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, NULL, 0, S2));
  assert_irpc_err(irpc_slice_decode_varuint62(&d, &u), IRPC_ETRUNCATED);
  static const uint8_t two = 2;
  bool flag;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, &two, 1, S2));
  assert_irpc_err(irpc_slice_decode_bool(&d, &flag), IRPC_EDATA);
  /* A bool sequence with a 2 in it frees what it allocated. */
  static const uint8_t bools[] = {3 << 2, 1, 0, 2};
  void *arr = NULL;
  size_t n;
  long live = test_alloc.live;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, bools, 4, S2));
  assert_irpc_err(irpc_slice_decode_seq(&d, IRPC_SLICE_BOOL, &arr, &n),
                  IRPC_EDATA);
  assert_int_equal(test_alloc.live, live);
}

static void test_bad_tags(void **state) {
  (void)state;
  static const uint8_t minus2[] = {0xF8};                    /* tag -2 */
  static const uint8_t wide[] = {0x03, 0, 0, 0, 0, 1, 0, 0}; /* tag 2^38 */
  static const uint8_t no_end[] = {0x04, 0x04, 0x2A};        /* tag 1, no FC */
  static const uint8_t past[] = {0x04, 0x10, 0x2A, 0xFC};    /* size 4 */
  static const uint8_t after[] = {0x08, 0x04, 0x2A, 0x04, 0x04, 0x2B, 0xFC};
  irpc_slice_decoder d;
  bool found;
  irpc_slice_scope sc;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, minus2, 1, S2));
  assert_irpc_err(irpc_slice_decode_tag(&d, 1, &found, &sc), IRPC_ETAG);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, minus2, 1, S2));
  assert_irpc_err(irpc_slice_decode_tags_end(&d), IRPC_ETAG);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, wide, 8, S2));
  assert_irpc_err(irpc_slice_decode_tags_end(&d), IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, no_end, 3, S2));
  assert_irpc_err(irpc_slice_decode_tags_end(&d), IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, no_end, 3, S2));
  assert_irpc_err(irpc_slice_decode_tag(&d, 2, &found, &sc), IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, past, 4, S2));
  assert_irpc_err(irpc_slice_decode_tag(&d, 1, &found, &sc), IRPC_ETRUNCATED);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, past, 4, S2));
  assert_irpc_err(irpc_slice_decode_tags_end(&d), IRPC_ETRUNCATED);
  /* Tags out of order on the wire: 2 before 1. A reader asking for 1 sees
   * 2 first and stops, as IceRPC's does; it does not look further. */
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, after, 7, S2));
  assert_irpc_ok(irpc_slice_decode_tag(&d, 1, &found, &sc));
  assert_false(found);
  assert_irpc_ok(irpc_slice_decode_tags_end(&d));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  /* Tag numbers and wrong encodings are caller errors. */
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, after, 7, S2));
  assert_irpc_err(irpc_slice_decode_tag(&d, -1, &found, &sc), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, after, 7, S1));
  assert_irpc_err(irpc_slice_decode_tags_end(&d), IRPC_EINVAL);
}

static void test_bitseq_unused_bits(void **state) {
  (void)state;
  static const uint8_t bad[] = {0x08};
  static const uint8_t good[] = {0x07};
  static const uint8_t two[] = {0xFF, 0x81};
  irpc_slice_decoder d;
  irpc_slice_bit_reader r;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, bad, 1, S2));
  assert_irpc_err(irpc_slice_decode_bitseq(&d, 3, &r), IRPC_EDATA);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, good, 1, S2));
  assert_irpc_ok(irpc_slice_decode_bitseq(&d, 3, &r));
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, two, 2, S2));
  assert_irpc_err(irpc_slice_decode_bitseq(&d, 9, &r), IRPC_EDATA);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, two, 2, S2));
  assert_irpc_ok(irpc_slice_decode_bitseq(&d, 16, &r));
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, two, 1, S2));
  assert_irpc_err(irpc_slice_decode_bitseq(&d, 9, &r), IRPC_ETRUNCATED);
  /* Zero bits take zero bytes. */
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, two, 2, S2));
  assert_irpc_ok(irpc_slice_decode_bitseq(&d, 0, &r));
  assert_int_equal(irpc_slice_decoder_pos(&d), 0);
}

static void test_slice1_sizes(void **state) {
  (void)state;
  static const uint8_t neg[] = {0xFF, 0x00, 0x00, 0x00, 0x80};
  static const uint8_t nonmin[] = {0xFF, 0x05, 0x00, 0x00, 0x00};
  static const uint8_t cut[] = {0xFF, 0x05, 0x00};
  irpc_slice_decoder d;
  size_t n;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, neg, 5, S1));
  assert_irpc_err(irpc_slice_decode_size(&d, &n), IRPC_EDATA);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, nonmin, 5, S1));
  assert_irpc_ok(irpc_slice_decode_size(&d, &n));
  assert_int_equal(n, 5);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, cut, 3, S1));
  assert_irpc_err(irpc_slice_decode_size(&d, &n), IRPC_ETRUNCATED);
  /* Slice2 constructs are refused by a 1.1 decoder, and vice versa. */
  uint64_t u;
  irpc_slice_scope sc;
  uint8_t major, minor;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, nonmin, 5, S1));
  assert_irpc_err(irpc_slice_decode_varuint62(&d, &u), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, nonmin, 5, S1));
  assert_irpc_err(irpc_slice_decode_segment_begin(&d, &sc), IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, nonmin, 5, S2));
  assert_irpc_err(irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc),
                  IRPC_EINVAL);
}

/* decode_buf shares the input chain's blocks instead of copying. */
static void test_decode_buf_zero_copy(void **state) {
  (void)state;
  static const uint8_t msg[] = {3 << 2, 'a', 'b', 'c', 'd'};
  irpc_buf *in = slice_chain(msg, sizeof(msg), 2);
  irpc_buf *out;
  irpc_slice_decoder d;
  size_t n;
  assert_irpc_ok(irpc_buf_new(&out));
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, in, S2));
  assert_irpc_ok(irpc_slice_decode_size(&d, &n));
  assert_irpc_ok(irpc_slice_decode_buf(&d, n, out));
  assert_true(irpc_buf_equals(out, "abc", 3));
  assert_ptr_equal(irpc_buf_segment(out, 0).base, msg + 1);
  assert_ptr_equal(irpc_buf_segment(out, 1).base, msg + 2);
  assert_int_equal(irpc_slice_decoder_remaining(&d), 1);
  assert_irpc_err(irpc_slice_decode_buf(&d, 2, out), IRPC_ETRUNCATED);
  irpc_slice_decoder_fini(&d);
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, in, S2));
  assert_irpc_err(irpc_slice_decode_buf(&d, 1, in), IRPC_EINVAL);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(out);
  irpc_buf_free(in);
}

static int group_setup(void **state) {
  (void)state;
  test_alloc_install();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fragmented_equals_contiguous),
      cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_utf8_validation),
      cmocka_unit_test(test_utf8_matches_reference),
      cmocka_unit_test(test_string_size_past_end),
      cmocka_unit_test(test_huge_counts_rejected_before_allocating),
      cmocka_unit_test(test_collection_allocation_limit),
      cmocka_unit_test(test_segment_limits),
      cmocka_unit_test(test_truncated_numbers),
      cmocka_unit_test(test_bad_tags),
      cmocka_unit_test(test_bitseq_unused_bits),
      cmocka_unit_test(test_slice1_sizes),
      cmocka_unit_test(test_decode_buf_zero_copy),
  };
  return cmocka_run_group_tests(tests, group_setup, NULL);
}
