/* The Ice encoding 1.1, checked against messages captured from a real ZeroC
 * Ice 3.7.8 peer (reference/ice-vectors.md): sizes, strings, identities,
 * the request context, encapsulations, proxies in a reply, and the framing
 * of user exceptions. */
#include "kit/slice.h"

#define S1 IRPC_SLICE_ENCODING_1_1

/* M2: client -> server, Request hello("abc"), request id 1. */
static const char *const m2_hello =
    "496365500100010000002b00000001000000046563686f00000568656c6c6f00000a"
    "000000010103616263";
/* M3: Reply to hello, Ok, "Hello, abc!". */
static const char *const m3_reply =
    "496365500100010002002500000001000000001200000001010b48656c6c6f2c2061"
    "626321";
/* M8: Request ice_isA("::Bench::Service"), mode Nonmutating. */
static const char *const m8_is_a =
    "496365500100010000003a00000004000000046563686f0000076963655f69734101"
    "00170000000101103a3a42656e63683a3a53657276696365";
/* M12: Request hello("abc") with context {k: v}. */
static const char *const m12_ctx =
    "496365500100010000002f00000006000000046563686f00000568656c6c6f000101"
    "6b01760a000000010103616263";
/* M17: Reply ObjectNotExist for identity "nobody", operation "ping". */
static const char *const m17_one =
    "49636550010001000200210000000700000002066e6f626f647900000470696e67";
/* Locator M3: findObjectById reply, a proxy with one TCP endpoint. */
static const char *const loc_m3 =
    "496365500100010002004200000001000000002f0000000101046563686f00000000"
    "01000101010100190000000101093132372e302e302e317db2000060ea000000";

static irpc_bytes view(const char *s) {
  return (irpc_bytes){.base = (const uint8_t *)s, .len = strlen(s)};
}

/* Writes the 14-byte ice header with a size placeholder at *size_pos. */
static void encode_ice_header(irpc_slice_encoder *e, uint8_t type,
                              size_t *size_pos) {
  assert_irpc_ok(irpc_slice_encode_bytes(e, "IceP\x01\x00\x01\x00", 8));
  assert_irpc_ok(irpc_slice_encode_uint8(e, type));
  assert_irpc_ok(irpc_slice_encode_uint8(e, 0));
  assert_irpc_ok(irpc_slice_encode_placeholder(e, 4, size_pos));
}

/* A request to "echo" with one string argument. */
static void encode_request(irpc_buf *b, int32_t id, const char *op,
                           uint8_t mode, const irpc_slice_string_pair *ctx,
                           size_t nctx, const char *arg) {
  irpc_slice_encoder e;
  irpc_slice_mark encaps;
  size_t size_pos;
  const irpc_slice_identity ident = {.name = view("echo"),
                                     .category = view("")};
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S1));
  encode_ice_header(&e, 0, &size_pos);
  assert_irpc_ok(irpc_slice_encode_int32(&e, id));
  assert_irpc_ok(irpc_slice_encode_identity(&e, &ident));
  assert_irpc_ok(irpc_slice_encode_size(&e, 0)); /* facet: no element */
  assert_irpc_ok(irpc_slice_encode_string(&e, op, strlen(op)));
  assert_irpc_ok(irpc_slice_encode_uint8(&e, mode));
  assert_irpc_ok(irpc_slice_encode_context(&e, ctx, nctx));
  assert_irpc_ok(irpc_slice_encode_encaps_begin(&e, 1, 1, &encaps));
  assert_irpc_ok(irpc_slice_encode_string(&e, arg, strlen(arg)));
  assert_irpc_ok(irpc_slice_encode_encaps_end(&e, &encaps));
  assert_irpc_ok(irpc_slice_patch_int32(&e, size_pos,
                                        (int32_t)irpc_slice_encoder_pos(&e)));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
}

static void test_hello_request_bytes(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  encode_request(b, 1, "hello", 0, NULL, 0, "abc");
  assert_hex(b, m2_hello);
  irpc_buf_clear(b);
  encode_request(b, 4, "ice_isA", 1, NULL, 0, "::Bench::Service");
  assert_hex(b, m8_is_a);
  irpc_buf_clear(b);
  const irpc_slice_string_pair ctx[] = {{view("k"), view("v")}};
  encode_request(b, 6, "hello", 0, ctx, 1, "abc");
  assert_hex(b, m12_ctx);
  irpc_buf_free(b);
}

/* Decodes a request the way the ice protocol does, from one piece or from
 * 1-byte segments. */
static void decode_request(const irpc_buf *in, const char *op, size_t want_ctx,
                           const char *arg) {
  irpc_slice_decoder d;
  uint8_t hdr[10], major, minor, mode;
  int32_t size, id;
  irpc_slice_identity ident;
  size_t nfacet, nctx;
  irpc_bytes opv, argv;
  irpc_slice_string_pair *ctx;
  irpc_slice_scope sc;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, in, S1));
  assert_irpc_ok(irpc_slice_decode_bytes(&d, hdr, 10));
  assert_memory_equal(hdr, "IceP\x01\x00\x01\x00\x00\x00", 10);
  assert_irpc_ok(irpc_slice_decode_int32(&d, &size));
  assert_int_equal(size, irpc_buf_len(in));
  assert_irpc_ok(irpc_slice_decode_int32(&d, &id));
  assert_irpc_ok(irpc_slice_decode_identity(&d, &ident));
  assert_true(slice_view_is(ident.name, "echo"));
  assert_true(slice_view_is(ident.category, ""));
  assert_irpc_ok(irpc_slice_decode_count(&d, 1, 0, &nfacet));
  assert_int_equal(nfacet, 0);
  assert_irpc_ok(irpc_slice_decode_string(&d, &opv));
  assert_true(slice_view_is(opv, op));
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &mode));
  assert_irpc_ok(irpc_slice_decode_context(&d, &ctx, &nctx));
  assert_int_equal(nctx, want_ctx);
  if (nctx) {
    assert_true(slice_view_is(ctx[0].key, "k"));
    assert_true(slice_view_is(ctx[0].value, "v"));
  }
  irpc_free(ctx);
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc));
  assert_int_equal(major, 1);
  assert_int_equal(minor, 1);
  assert_irpc_ok(irpc_slice_decode_string(&d, &argv));
  assert_true(slice_view_is(argv, arg));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

static void test_decode_captured_requests(void **state) {
  (void)state;
  uint8_t raw[128];
  const char *const hex[] = {m2_hello, m8_is_a, m12_ctx};
  const char *const ops[] = {"hello", "ice_isA", "hello"};
  const char *const args[] = {"abc", "::Bench::Service", "abc"};
  const size_t nctx[] = {0, 0, 1};
  for (int i = 0; i < 3; i++) {
    size_t n = slice_unhex(hex[i], raw, sizeof(raw));
    for (size_t seg = 1; seg <= n; seg += n - 1) {
      irpc_buf *in = slice_chain(raw, n, seg);
      decode_request(in, ops[i], nctx[i], args[i]);
      irpc_buf_free(in);
    }
  }
}

static void test_decode_replies(void **state) {
  (void)state;
  uint8_t raw[128];
  size_t n = slice_unhex(m3_reply, raw, sizeof(raw));
  irpc_slice_decoder d;
  int32_t id;
  uint8_t status, major, minor;
  irpc_slice_scope sc;
  irpc_bytes s;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, raw, n, S1));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 14));
  assert_irpc_ok(irpc_slice_decode_int32(&d, &id));
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &status));
  assert_int_equal(id, 1);
  assert_int_equal(status, 0);
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc));
  assert_irpc_ok(irpc_slice_decode_string(&d, &s));
  assert_true(slice_view_is(s, "Hello, abc!"));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);

  /* ObjectNotExist: identity, facet and operation, no encapsulation. */
  irpc_slice_identity ident;
  size_t nfacet;
  n = slice_unhex(m17_one, raw, sizeof(raw));
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, raw, n, S1));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 14));
  assert_irpc_ok(irpc_slice_decode_int32(&d, &id));
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &status));
  assert_int_equal(status, 2);
  assert_irpc_ok(irpc_slice_decode_identity(&d, &ident));
  assert_true(slice_view_is(ident.name, "nobody"));
  assert_irpc_ok(irpc_slice_decode_count(&d, 1, 0, &nfacet));
  assert_irpc_ok(irpc_slice_decode_string(&d, &s));
  assert_true(slice_view_is(s, "ping"));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

/* The Locator's reply: a proxy (identity, facet, mode, secure, protocol
 * and encoding versions, endpoints), its TCP endpoint in a nested
 * encapsulation. */
static void test_decode_locator_proxy(void **state) {
  (void)state;
  uint8_t raw[128];
  size_t n = slice_unhex(loc_m3, raw, sizeof(raw));
  irpc_slice_decoder d;
  irpc_slice_scope outer, inner;
  irpc_slice_identity ident;
  uint8_t major, minor, mode, versions[4];
  bool secure, compress;
  size_t nfacet, nendpoints;
  int16_t type;
  int32_t port, timeout;
  irpc_bytes host;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, raw, n, S1));
  assert_irpc_ok(irpc_slice_decoder_skip(&d, 14 + 4 + 1));
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &outer));
  assert_irpc_ok(irpc_slice_decode_identity(&d, &ident));
  assert_true(slice_view_is(ident.name, "echo"));
  assert_irpc_ok(irpc_slice_decode_count(&d, 1, 0, &nfacet));
  assert_irpc_ok(irpc_slice_decode_uint8(&d, &mode));
  assert_irpc_ok(irpc_slice_decode_bool(&d, &secure));
  assert_irpc_ok(irpc_slice_decode_bytes(&d, versions, 4));
  assert_memory_equal(versions, "\x01\x00\x01\x01", 4);
  assert_irpc_ok(irpc_slice_decode_count(&d, 3, 0, &nendpoints));
  assert_int_equal(nendpoints, 1);
  assert_irpc_ok(irpc_slice_decode_int16(&d, &type));
  assert_int_equal(type, 1);
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &inner));
  assert_irpc_ok(irpc_slice_decode_string(&d, &host));
  assert_true(slice_view_is(host, "127.0.0.1"));
  assert_irpc_ok(irpc_slice_decode_int32(&d, &port));
  assert_int_equal(port, 45693);
  assert_irpc_ok(irpc_slice_decode_int32(&d, &timeout));
  assert_int_equal(timeout, 60000);
  assert_irpc_ok(irpc_slice_decode_bool(&d, &compress));
  assert_false(compress);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &inner));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &outer));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
}

static void test_sizes_and_long_sequences(void **state) {
  (void)state;
  irpc_buf *b;
  irpc_slice_encoder e;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S1));
  const size_t sizes[] = {0, 254, 255, 256, (size_t)INT32_MAX};
  for (int i = 0; i < 5; i++)
    assert_irpc_ok(irpc_slice_encode_size(&e, sizes[i]));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  assert_hex(b, "00 | FE | FF FF 00 00 00 | FF 00 01 00 00 | FF FF FF FF 7F");
  irpc_slice_decoder d;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  for (int i = 0; i < 5; i++) {
    size_t n;
    assert_irpc_ok(irpc_slice_decode_size(&d, &n));
    assert_int_equal(n, sizes[i]);
  }
  irpc_slice_decoder_fini(&d);
  assert_irpc_err(irpc_slice_encode_size(&e, (size_t)INT32_MAX + 1),
                  IRPC_EOVERFLOW);

  /* echo(256 x 00) from M22, before compression: the ByteSeq inside an
   * encapsulation of 267 bytes. */
  irpc_buf_clear(b);
  uint8_t zeros[256] = {0};
  irpc_slice_mark m;
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S1));
  assert_irpc_ok(irpc_slice_encode_encaps_begin(&e, 1, 1, &m));
  assert_irpc_ok(irpc_slice_encode_seq(&e, IRPC_SLICE_UINT8, zeros, 256));
  assert_irpc_ok(irpc_slice_encode_encaps_end(&e, &m));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  uint8_t want[11 + 256] = {0x0b, 0x01, 0, 0, 1, 1, 0xff, 0, 1, 0, 0};
  assert_bytes(b, want, sizeof(want));
  irpc_slice_scope sc;
  uint8_t major, minor;
  void *seq;
  size_t n;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc));
  assert_irpc_ok(irpc_slice_decode_seq(&d, IRPC_SLICE_UINT8, &seq, &n));
  assert_int_equal(n, 256);
  assert_memory_equal(seq, zeros, 256);
  irpc_free(seq);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

static void test_bad_encapsulations(void **state) {
  (void)state;
  const char *const cases[] = {
      "05 00 00 00 01 01",       /* size below its own header */
      "FF FF FF FF 01 01",       /* negative size */
      "06 00 00 00 02 00",       /* encoding 2.0 */
      "06 00 00 00 01 02",       /* encoding 1.2 */
      "0A 00 00 00 01 01 03 61", /* size past the end */
      "07 00 00 00 01 01 00 00", /* content not read to its end */
  };
  const int want[] = {IRPC_EDATA, IRPC_EDATA,      IRPC_EDATA,
                      IRPC_EDATA, IRPC_ETRUNCATED, IRPC_EDATA};
  for (int i = 0; i < 6; i++) {
    uint8_t raw[16];
    size_t n = slice_unhex(cases[i], raw, sizeof(raw));
    irpc_slice_decoder d;
    irpc_slice_scope sc;
    uint8_t major, minor;
    assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, raw, n, S1));
    int rc = irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc);
    if (rc == 0)
      rc = irpc_slice_decode_scope_end(&d, &sc);
    assert_irpc_err(rc, want[i]);
    irpc_slice_decoder_fini(&d);
  }
  /* The empty encapsulation. */
  uint8_t empty[] = {6, 0, 0, 0, 1, 1};
  irpc_slice_decoder d;
  irpc_slice_scope sc;
  uint8_t major, minor;
  assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, empty, 6, S1));
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc));
  assert_int_equal(irpc_slice_decoder_remaining(&d), 0);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
}

/* A user exception in the sliced format: DerivedError{reason: string,
 * code: int} deriving from BaseError{value: int}. */
static void test_exception_slices(void **state) {
  (void)state;
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_mark encaps, slice;
  static const char derived[] = "::Demo::DerivedError";
  static const char base[] = "::Demo::BaseError";
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S1));
  assert_irpc_ok(irpc_slice_encode_encaps_begin(&e, 1, 1, &encaps));
  assert_irpc_ok(irpc_slice_encode_exception_slice_begin(
      &e, derived, strlen(derived), false, &slice));
  assert_irpc_ok(irpc_slice_encode_string(&e, "reason", 6));
  assert_irpc_ok(irpc_slice_encode_int32(&e, 7));
  assert_irpc_ok(irpc_slice_encode_exception_slice_end(&e, &slice));
  assert_irpc_ok(irpc_slice_encode_exception_slice_begin(&e, base, strlen(base),
                                                         true, &slice));
  assert_irpc_ok(irpc_slice_encode_int32(&e, 42));
  assert_irpc_ok(irpc_slice_encode_exception_slice_end(&e, &slice));
  assert_irpc_ok(irpc_slice_encode_encaps_end(&e, &encaps));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  assert_hex(b, "46 00 00 00 01 01"
                "| 10 14 3a3a44656d6f3a3a446572697665644572726f72 0f000000"
                "  06 726561736f6e 07000000"
                "| 30 11 3a3a44656d6f3a3a426173654572726f72 08000000"
                "  2a000000");

  /* Report the most derived type, skip it, decode the base. */
  irpc_slice_decoder d;
  irpc_slice_scope sc;
  irpc_slice_exception_slice s;
  uint8_t major, minor;
  int32_t value;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  assert_irpc_ok(irpc_slice_decode_encaps_begin(&d, &major, &minor, &sc));
  assert_irpc_ok(irpc_slice_decode_exception_slice(&d, &s));
  assert_true(slice_view_is(s.type_id, derived));
  assert_int_equal(s.flags, IRPC_SLICE_EXC_HAS_SLICE_SIZE);
  assert_int_equal(s.size, 11);
  assert_irpc_ok(irpc_slice_skip_exception_slice(&d, &s));
  assert_irpc_ok(irpc_slice_decode_exception_slice(&d, &s));
  assert_true(slice_view_is(s.type_id, base));
  assert_true(s.flags & IRPC_SLICE_EXC_IS_LAST_SLICE);
  assert_irpc_ok(irpc_slice_decode_int32(&d, &value));
  assert_int_equal(value, 42);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

/* Tagged values of the 1.1 encoding: every format written and found,
 * unknown ones of every format skipped, the extended tag, the end marker
 * of exception slices, a format mismatch. */
static void test_tagged_values(void **state) {
  (void)state;
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S1));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 0, IRPC_SLICE_TAG_F1));
  assert_irpc_ok(irpc_slice_encode_uint8(&e, 1));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 1, IRPC_SLICE_TAG_F2));
  assert_irpc_ok(irpc_slice_encode_int16(&e, 2));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 2, IRPC_SLICE_TAG_F4));
  assert_irpc_ok(irpc_slice_encode_int32(&e, 3));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 3, IRPC_SLICE_TAG_F8));
  assert_irpc_ok(irpc_slice_encode_int64(&e, 4));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 4, IRPC_SLICE_TAG_SIZE));
  assert_irpc_ok(irpc_slice_encode_size(&e, 300));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 5, IRPC_SLICE_TAG_VSIZE));
  assert_irpc_ok(irpc_slice_encode_size(&e, 2));
  assert_irpc_ok(irpc_slice_encode_int16(&e, 6));
  assert_irpc_ok(irpc_slice_encode_tag11(&e, 29, IRPC_SLICE_TAG_OVSIZE));
  assert_irpc_ok(irpc_slice_encode_string(&e, "ab", 2));
  assert_irpc_ok(irpc_slice_encode_tag11_fsize_begin(&e, 300, &m));
  assert_irpc_ok(irpc_slice_encode_string(&e, "xyz", 3));
  assert_irpc_ok(irpc_slice_encode_tag11_fsize_end(&e, &m));
  assert_irpc_ok(irpc_slice_encode_uint8(&e, IRPC_SLICE1_TAG_END_MARKER));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  assert_hex(b, "00 01 | 09 0200 | 12 03000000 | 1b 0400000000000000"
                "| 24 ff2c010000 | 2d 02 0600 | ed 026162"
                "| f6 ff2c010000 04000000 0378797a | ff");

  /* Each one found; then each one skipped while looking for a later one. */
  irpc_slice_decoder d;
  irpc_slice_scope sc;
  bool found;
  int16_t s16;
  int64_t s64;
  size_t n;
  irpc_bytes str;
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 1, IRPC_SLICE_TAG_F2, &found, &sc));
  assert_true(found); /* tag 0 skipped */
  assert_irpc_ok(irpc_slice_decode_int16(&d, &s16));
  assert_int_equal(s16, 2);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 3, IRPC_SLICE_TAG_F8, &found, &sc));
  assert_irpc_ok(irpc_slice_decode_int64(&d, &s64));
  assert_int_equal(s64, 4);
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 4, IRPC_SLICE_TAG_SIZE, &found, &sc));
  assert_irpc_ok(irpc_slice_decode_size(&d, &n));
  assert_int_equal(n, 300);
  /* Tag 20 is not there: 29 comes next and stays. */
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 20, IRPC_SLICE_TAG_F4, &found, &sc));
  assert_false(found);
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 29, IRPC_SLICE_TAG_OVSIZE, &found, &sc));
  assert_true(found);
  assert_irpc_ok(irpc_slice_decode_string(&d, &str));
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 300, IRPC_SLICE_TAG_FSIZE, &found, &sc));
  assert_true(found);
  assert_int_equal(irpc_slice_decoder_remaining(&d), 4);
  assert_irpc_ok(irpc_slice_decode_string(&d, &str));
  assert_true(slice_view_is(str, "xyz"));
  assert_irpc_ok(irpc_slice_decode_scope_end(&d, &sc));
  /* The end marker stops the search and ends the tagged values. */
  assert_irpc_ok(
      irpc_slice_decode_tag11(&d, 400, IRPC_SLICE_TAG_F1, &found, &sc));
  assert_false(found);
  assert_irpc_ok(irpc_slice_decode_tags11_end(&d, true));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);

  /* Everything skipped at once, up to the marker. */
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  assert_irpc_ok(irpc_slice_decode_tags11_end(&d, true));
  assert_irpc_ok(irpc_slice_decoder_end(&d));
  irpc_slice_decoder_fini(&d);
  /* Without a marker expected, one is invalid data. */
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  assert_irpc_err(irpc_slice_decode_tags11_end(&d, false), IRPC_EDATA);
  irpc_slice_decoder_fini(&d);
  /* A known tag in another format. */
  assert_irpc_ok(irpc_slice_decoder_init_buf(&d, b, S1));
  assert_irpc_err(
      irpc_slice_decode_tag11(&d, 2, IRPC_SLICE_TAG_F8, &found, &sc),
      IRPC_EDATA);
  irpc_slice_decoder_fini(&d);
  /* Every truncation: never past the end. */
  size_t len = irpc_buf_len(b);
  uint8_t all[64];
  assert_true(len <= sizeof all);
  assert_irpc_ok(irpc_buf_copyout(b, 0, all, len));
  for (size_t cut = 0; cut + 1 < len; cut++) {
    assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, all, cut, S1));
    assert_true(irpc_slice_decode_tags11_end(&d, true) < 0);
    irpc_slice_decoder_fini(&d);
  }
  /* Wrong uses. */
  irpc_slice_encoder e2;
  assert_irpc_ok(irpc_slice_encoder_init(&e2, b, IRPC_SLICE_ENCODING_2));
  assert_irpc_err(irpc_slice_encode_tag11(&e2, 1, IRPC_SLICE_TAG_F1),
                  IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_encoder_init(&e2, b, S1));
  assert_irpc_err(irpc_slice_encode_tag11(&e2, -1, IRPC_SLICE_TAG_F1),
                  IRPC_EINVAL);
  assert_irpc_ok(irpc_slice_encoder_init(&e2, b, S1));
  assert_irpc_err(irpc_slice_encode_tag11(&e2, 1, IRPC_SLICE_TAG_CLASS),
                  IRPC_EINVAL);
  irpc_buf_free(b);
}

static void test_bad_exception_slices(void **state) {
  (void)state;
  const char *const cases[] = {
      "20 11 3a3a44656d6f3a3a426173654572726f72 2a000000", /* compact */
      "30 04 44656d6f 04000000",                           /* no "::" */
      "30 06 3a3a44656d6f 03000000",                       /* size < 4 */
      "34 06 3a3a44656d6f 04000000",    /* tagged fields need 5 */
      "30 06 3a3a44656d6f 09000000 00", /* size past the end */
      "38 06 3a3a44656d6f 04000000 00", /* indirection table */
  };
  const int want[] = {IRPC_ENOTSUP, IRPC_EDATA,      IRPC_EDATA,
                      IRPC_EDATA,   IRPC_ETRUNCATED, IRPC_ENOTSUP};
  for (int i = 0; i < 6; i++) {
    uint8_t raw[64];
    size_t n = slice_unhex(cases[i], raw, sizeof(raw));
    irpc_slice_decoder d;
    irpc_slice_exception_slice s;
    assert_irpc_ok(irpc_slice_decoder_init_bytes(&d, raw, n, S1));
    int rc = irpc_slice_decode_exception_slice(&d, &s);
    if (rc == 0)
      rc = irpc_slice_skip_exception_slice(&d, &s);
    assert_irpc_err(rc, want[i]);
    irpc_slice_decoder_fini(&d);
  }
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_mark m;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, S1));
  assert_irpc_err(
      irpc_slice_encode_exception_slice_begin(&e, "Demo", 4, true, &m),
      IRPC_EINVAL);
  irpc_buf_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_request_bytes),
      cmocka_unit_test(test_decode_captured_requests),
      cmocka_unit_test(test_decode_replies),
      cmocka_unit_test(test_decode_locator_proxy),
      cmocka_unit_test(test_sizes_and_long_sequences),
      cmocka_unit_test(test_bad_encapsulations),
      cmocka_unit_test(test_exception_slices),
      cmocka_unit_test(test_bad_exception_slices),
      cmocka_unit_test(test_tagged_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
