/* The compress codec, payload writer, interceptor and middleware. */
#include "kit/rig.h"
#include "kit/payload.h"

static const int formats[] = {IRPC_COMPRESSION_ZSTD, IRPC_COMPRESSION_BROTLI,
                              IRPC_COMPRESSION_DEFLATE};
static const int min_level[] = {1, 0, 1};
static const int max_level[] = {19, 11, 9};
static const int default_level[] = {3, 1, 1};

/* Text-like data: compressible but not trivially. */
static void fill_text(irpc_buf *b, size_t n) {
  static const char *words[] = {
      "request ", "response ", "payload ", "interceptor ",
      "zstd ",    "brotli ",   "\n"};
  uint64_t s = 42;
  char chunk[4096];
  while (n > 0) {
    size_t k = 0;
    while (k < sizeof(chunk) - 16) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const char *w = words[(s >> 33) % 7];
      size_t l = strlen(w);
      memcpy(chunk + k, w, l);
      k += l;
    }
    if (k > n)
      k = n;
    assert_irpc_ok(irpc_buf_append(b, chunk, k));
    n -= k;
  }
}

static int bufs_equal(const irpc_buf *a, const irpc_buf *b) {
  size_t n = irpc_buf_len(a);
  if (n != irpc_buf_len(b))
    return 0;
  uint8_t x[4096], y[4096];
  for (size_t off = 0; off < n; off += sizeof(x)) {
    size_t k = n - off < sizeof(x) ? n - off : sizeof(x);
    irpc_buf_copyout(a, off, x, k);
    irpc_buf_copyout(b, off, y, k);
    if (memcmp(x, y, k))
      return 0;
  }
  return 1;
}

/* The rig with the compress interceptor into the coloc invoker and the
 * compress middleware (after the spy when `with_spy`); `o` NULL = the
 * defaults. */
static void compress_rig_init(rig *r, const irpc_compress_options *o,
                              int with_spy) {
  rig_init(r);
  irpc_invoker *ic;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_compress_interceptor_new(&ic, &r->loop, o));
  assert_irpc_ok(irpc_pipeline_use(r->pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r->pipeline, r->coloc));
  if (with_spy)
    rig_spy(r); /* sees the request as it came over the wire */
  assert_irpc_ok(irpc_compress_middleware_new(&mw, &r->loop, o));
  assert_irpc_ok(irpc_router_use(r->router, mw));
}

static void round_trip(int format, int level, irpc_buf *in) {
  irpc_buf *z, *back;
  assert_irpc_ok(irpc_buf_new(&z));
  assert_irpc_ok(irpc_buf_new(&back));
  assert_irpc_ok(irpc_compress(format, level, in, z));
  assert_true(irpc_buf_len(z) > 0);
  assert_irpc_ok(irpc_decompress(
      format, z, 1, irpc_buf_len(in) ? irpc_buf_len(in) : 1, back));
  assert_int_equal(irpc_buf_len(z), 0); /* consumed as it was read */
  assert_true(bufs_equal(in, back));
  irpc_buf_free(z);
  irpc_buf_free(back);
}

static void test_round_trip_every_level(void **state) {
  (void)state;
  irpc_buf *empty, *tiny, *random, *text;
  assert_irpc_ok(irpc_buf_new(&empty));
  assert_irpc_ok(irpc_buf_new(&tiny));
  assert_irpc_ok(irpc_buf_new(&random));
  assert_irpc_ok(irpc_buf_new(&text));
  assert_irpc_ok(irpc_buf_append(tiny, "x", 1));
  static uint8_t rnd[100000];
  fill_random(rnd, sizeof(rnd), 7);
  /* Several segments, so chains are walked segment by segment. */
  for (size_t off = 0; off < sizeof(rnd); off += 30000)
    assert_irpc_ok(irpc_buf_append_external(
        random, rnd + off,
        sizeof(rnd) - off < 30000 ? sizeof(rnd) - off : 30000, NULL, NULL));
  fill_text(text, 200000);
  for (int f = 0; f < 3; f++)
    for (int level = min_level[f]; level <= max_level[f]; level++) {
      round_trip(formats[f], level, empty);
      round_trip(formats[f], level, tiny);
      round_trip(formats[f], level, random);
      round_trip(formats[f], level, text);
    }
  irpc_buf_free(empty);
  irpc_buf_free(tiny);
  irpc_buf_free(random);
  irpc_buf_free(text);
}

static void test_round_trip_64mib(void **state) {
  (void)state;
  irpc_buf *big;
  assert_irpc_ok(irpc_buf_new(&big));
  fill_text(big, (size_t)64 << 20);
  for (int f = 0; f < 3; f++) {
    round_trip(formats[f], min_level[f], big);
    if (default_level[f] != min_level[f])
      round_trip(formats[f], default_level[f], big);
  }
  irpc_buf_free(big);
}

/* ---- Streaming: peak memory of a 64 MiB round trip ---- */

#define BIG ((size_t)64 << 20)

/* The peak is measured from `base` (the bytes held before the payload was
 * made); the whole payload plus its whole compressed form would be
 * BIG + wire, which the streaming path stays well below. */
static void assert_streamed(long long base, size_t wire, const char *what) {
  long long peak = test_alloc.bytes_peak - base;
  printf("# %s: 64 MiB payload, %zu bytes compressed, peak %lld bytes held "
         "(%.1f MiB over the payload)\n",
         what, wire, peak, (double)(peak - (long long)BIG) / (1 << 20));
  assert_true(wire > BIG / 4); /* BIG + wire >= 80 MiB */
  assert_true(peak < (long long)(BIG + ((size_t)8 << 20)));
}

/* A response payload goes through the compressing writer (which may
 * consume it, as the server's does) and back through the decompressor:
 * each releases its input as it produces its output. */
static void test_streaming_peak_64mib(void **state) {
  (void)state;
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  for (int f = 0; f < 3; f++) {
    o.formats[0] = (uint8_t)formats[f];
    o.formats[1] = 0;
    long long base = test_alloc.bytes_live;
    test_alloc.bytes_peak = base;
    irpc_outgoing_response *resp;
    irpc_buf *wire, *back;
    assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
    assert_irpc_ok(irpc_buf_new(&wire));
    assert_irpc_ok(irpc_buf_new(&back));
    uint64_t h = fill_noise(irpc_outgoing_response_payload(resp), BIG, 5);
    assert_irpc_ok(irpc_compress_use_on_response(resp, &o));
    assert_irpc_ok(irpc_outgoing_response_write_payload(
        resp, irpc_compress_formats_readable(), wire));
    uint8_t fmt = (uint8_t)formats[f];
    assert_field(irpc_outgoing_response_fields(resp),
                 IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, &fmt, 1);
    size_t wire_len = irpc_buf_len(wire);
    assert_true(wire_len < BIG * 3 / 4);
    irpc_outgoing_response_free(resp);
    assert_irpc_ok(
        irpc_decompress(formats[f], wire, 1, o.max_decompressed_size, back));
    assert_int_equal(irpc_buf_len(back), BIG);
    assert_true(hash_chain(back) == h);
    const char *names[] = {"zstd", "brotli", "deflate"};
    assert_streamed(base, wire_len, names[f]);
    irpc_buf_free(wire);
    irpc_buf_free(back);
  }
}

/* The same through the compress middleware, the coloc invoker and the
 * compress interceptor: a 64 MiB response, compressed by the server as it
 * is consumed, decompressed by the client as it is read. */
static uint64_t noise_hash;
static void noise_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_incoming_request_features(req), 1));
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  noise_hash = fill_noise(irpc_outgoing_response_payload(resp), BIG, 9);
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops noise_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "noise",
                                              .dispatch = noise_dispatch};

static void test_streaming_peak_through_coloc(void **state) {
  (void)state;
  rig r;
  compress_rig_init(&r, NULL, 0);
  irpc_dispatcher *noise = rig_map(&r, "/noise", &noise_ops);
  irpc_outgoing_request *req = kit_request("/noise", NULL, 0);
  outcome o;
  outcome_init(&o);
  long long base = test_alloc.bytes_live;
  test_alloc.bytes_peak = base;
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.done, 1);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_buf_len(o.payload), BIG);
  assert_true(hash_chain(o.payload) == noise_hash);
  long long peak = test_alloc.bytes_peak - base;
  printf("# coloc zstd response: peak %lld bytes held (%.1f MiB over the "
         "payload)\n",
         peak, (double)(peak - (long long)BIG) / (1 << 20));
  assert_true(peak < (long long)(BIG + ((size_t)8 << 20)));
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &noise, 1);
}

/* A payload that does not shrink, consumed by the writer: it falls back to
 * the original bytes, intact and in order. */
static void test_streaming_fallback_keeps_payload(void **state) {
  (void)state;
  static uint8_t rnd[(size_t)3 << 20];
  fill_random(rnd, sizeof(rnd), 11);
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  for (int f = 0; f < 3; f++) {
    o.formats[0] = (uint8_t)formats[f];
    o.formats[1] = 0;
    irpc_outgoing_response *resp;
    irpc_buf *wire;
    assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
    assert_irpc_ok(irpc_buf_new(&wire));
    for (size_t off = 0; off < sizeof(rnd); off += 100000)
      assert_irpc_ok(irpc_buf_append(
          irpc_outgoing_response_payload(resp), rnd + off,
          sizeof(rnd) - off < 100000 ? sizeof(rnd) - off : 100000));
    assert_irpc_ok(irpc_compress_use_on_response(resp, &o));
    assert_irpc_ok(irpc_outgoing_response_write_payload(
        resp, irpc_compress_formats_readable(), wire));
    assert_false(irpc_fields_has(irpc_outgoing_response_fields(resp),
                                 IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT));
    assert_true(irpc_buf_equals(wire, rnd, sizeof(rnd)));
    irpc_outgoing_response_free(resp);
    irpc_buf_free(wire);
  }
}

/* A small input that expands to 256 MiB fails at the cap, having produced
 * no more than the cap. */
static void test_bombs_stop_at_cap(void **state) {
  (void)state;
  irpc_buf *zeros;
  assert_irpc_ok(irpc_buf_new(&zeros));
  static uint8_t block[1 << 20];
  for (int i = 0; i < 256; i++)
    assert_irpc_ok(
        irpc_buf_append_external(zeros, block, sizeof(block), NULL, NULL));
  for (int f = 0; f < 3; f++) {
    irpc_buf *bomb, *out;
    assert_irpc_ok(irpc_buf_new(&bomb));
    assert_irpc_ok(irpc_buf_new(&out));
    assert_irpc_ok(
        irpc_compress(formats[f], max_level[f] > 9 ? 9 : 9, zeros, bomb));
    assert_true(irpc_buf_len(bomb) < ((size_t)1 << 20)); /* small input */
    const uint64_t cap = (uint64_t)4 << 20;
    assert_irpc_err(irpc_decompress(formats[f], bomb, 1, cap, out),
                    IRPC_ELIMIT);
    assert_true(irpc_buf_len(out) <= cap);
    /* At exactly the size it succeeds. */
    irpc_buf_clear(bomb);
    irpc_buf_clear(out);
    assert_irpc_ok(irpc_compress(formats[f], 1, zeros, bomb));
    assert_irpc_ok(
        irpc_decompress(formats[f], bomb, 0, (uint64_t)256 << 20, out));
    assert_int_equal(irpc_buf_len(out), (size_t)256 << 20);
    irpc_buf_free(bomb);
    irpc_buf_free(out);
  }
  irpc_buf_free(zeros);
}

static void test_corrupt_truncated_trailing(void **state) {
  (void)state;
  irpc_buf *in, *z, *out;
  assert_irpc_ok(irpc_buf_new(&in));
  assert_irpc_ok(irpc_buf_new(&z));
  assert_irpc_ok(irpc_buf_new(&out));
  fill_text(in, 10000);
  for (int f = 0; f < 3; f++) {
    irpc_buf_clear(z);
    assert_irpc_ok(irpc_compress(formats[f], default_level[f], in, z));
    size_t n = irpc_buf_len(z);
    /* Truncated. */
    irpc_buf *t;
    assert_irpc_ok(irpc_buf_new(&t));
    assert_irpc_ok(irpc_buf_append_ref(t, z, 0, n - 3));
    irpc_buf_clear(out);
    assert_irpc_err(irpc_decompress(formats[f], t, 0, 1 << 20, out),
                    IRPC_EDATA);
    /* Trailing garbage. */
    irpc_buf_clear(t);
    assert_irpc_ok(irpc_buf_append_ref(t, z, 0, n));
    assert_irpc_ok(irpc_buf_append(t, "\x01\x02\x03", 3));
    irpc_buf_clear(out);
    assert_irpc_err(irpc_decompress(formats[f], t, 0, 1 << 20, out),
                    IRPC_EDATA);
    /* Garbage. */
    irpc_buf_clear(t);
    assert_irpc_ok(irpc_buf_append(t, "this is not compressed at all", 29));
    irpc_buf_clear(out);
    assert_irpc_err(irpc_decompress(formats[f], t, 0, 1 << 20, out),
                    IRPC_EDATA);
    irpc_buf_free(t);
  }
  assert_irpc_err(irpc_decompress(7, in, 0, 10, out), IRPC_ENOTSUP);
  assert_irpc_err(irpc_compress(IRPC_COMPRESSION_ZSTD, 99, in, out),
                  IRPC_EINVAL);
  irpc_buf_free(in);
  irpc_buf_free(z);
  irpc_buf_free(out);
}

/* ---- The writer and negotiation ---- */

static irpc_outgoing_request *compressible_request(size_t n) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/svc", "op"));
  fill_text(irpc_outgoing_request_payload(req), n);
  return req;
}

static uint8_t written_format(irpc_outgoing_request *req, uint64_t mask,
                              size_t *len) {
  irpc_buf *out;
  assert_irpc_ok(irpc_buf_new(&out));
  assert_irpc_ok(irpc_outgoing_request_write_payload(req, mask, out));
  *len = irpc_buf_len(out);
  irpc_bytes v;
  uint8_t f = 0;
  if (irpc_fields_get(irpc_outgoing_request_fields(req),
                      IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v) == 0) {
    assert_int_equal(v.len, 1);
    f = v.base[0];
    irpc_buf *back;
    assert_irpc_ok(irpc_buf_new(&back));
    assert_irpc_ok(irpc_decompress(f, out, 1, 1 << 30, back));
    assert_true(bufs_equal(back, irpc_outgoing_request_payload(req)));
    irpc_buf_free(back);
  } else {
    assert_true(bufs_equal(out, irpc_outgoing_request_payload(req)));
  }
  irpc_buf_free(out);
  return f;
}

static void test_negotiation(void **state) {
  (void)state;
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  irpc_outgoing_request *req = compressible_request(50000);
  assert_irpc_ok(irpc_compress_use_on_request(req, &o));
  size_t len;
  /* A peer that announced zstd gets zstd; the field is the one byte 32. */
  assert_int_equal(written_format(req, irpc_compress_formats_readable(), &len),
                   IRPC_COMPRESSION_ZSTD);
  assert_true(len < 50000);
  assert_field(irpc_outgoing_request_fields(req),
               IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x20", 1);
  /* An IceRPC peer (no announcement), the writer attached as the
   * contract asks: brotli, value 2 -- never zstd. The same request, sent
   * again: the field is redone. */
  const uint64_t icerpc_peer =
      IRPC_COMPRESSION_UNANNOUNCED | IRPC_COMPRESSION_FORMATS_ICERPC;
  assert_int_equal(written_format(req, icerpc_peer, &len),
                   IRPC_COMPRESSION_BROTLI);
  assert_field(irpc_outgoing_request_fields(req),
               IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x02", 1);
  /* A peer that reads only deflate, with zstd and brotli configured: sent
   * uncompressed, no field. */
  assert_int_equal(
      written_format(req, IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_DEFLATE), &len),
      0);
  assert_int_equal(len, 50000);
  /* Deflate configured: value 1. */
  o.formats[0] = IRPC_COMPRESSION_DEFLATE;
  o.formats[1] = 0;
  assert_irpc_ok(irpc_compress_use_on_request(req, &o));
  assert_int_equal(written_format(req, IRPC_COMPRESSION_FORMATS_ICERPC, &len),
                   IRPC_COMPRESSION_DEFLATE);
  assert_field(irpc_outgoing_request_fields(req),
               IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x01", 1);
  /* A peer that reads nothing. */
  assert_int_equal(written_format(req, 0, &len), 0);
  /* The request's own payload never changed. */
  assert_int_equal(irpc_buf_len(irpc_outgoing_request_payload(req)), 50000);
  irpc_outgoing_request_free(req);
}

/* ---- A terminal standing for a peer that announced `mask` ---- */

typedef struct peer_term {
  uint64_t mask;
  uint8_t format; /* of the last request, 0 = none */
  size_t len;
} peer_term;

static int term_init(irpc_invoker *self, const void *config) {
  *(peer_term **)irpc_invoker_data(self) = (peer_term *)config;
  return 0;
}

static void term_invoke(irpc_invoker *self, irpc_call *call) {
  peer_term *p = *(peer_term **)irpc_invoker_data(self);
  irpc_outgoing_request *req = irpc_call_request(call);
  irpc_buf *out;
  assert_irpc_ok(irpc_buf_new(&out));
  assert_irpc_ok(irpc_outgoing_request_write_payload(req, p->mask, out));
  p->len = irpc_buf_len(out);
  irpc_bytes v;
  p->format = irpc_fields_get(irpc_outgoing_request_fields(req),
                              IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v) == 0
                  ? v.base[0]
                  : 0;
  irpc_buf_free(out);
  irpc_incoming_response *ok;
  assert_irpc_ok(irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL));
  irpc_call_complete(call, 0, ok);
}

static const irpc_invoker_ops term_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "peer",
                                          .data_size = sizeof(peer_term *),
                                          .init = term_init,
                                          .invoke = term_invoke};

/* The format a request of 50,000 text bytes went out in, through the
 * use-feature interceptor setting the compress feature to `*front` (none
 * when NULL), the compress interceptor with `always`, into a peer
 * announcing `mask`; `feature` as irpc_features_set_compress. */
static uint8_t sent_format(const int *front, int always, uint64_t mask,
                           int feature) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  peer_term p = {.mask = mask};
  irpc_pipeline *pl;
  irpc_invoker *ic, *term;
  assert_irpc_ok(irpc_pipeline_new(&pl, &loop));
  if (front) {
    irpc_invoker *uf;
    assert_irpc_ok(irpc_use_feature_interceptor_new(
        &uf, &loop, &irpc_compress_feature, (void *)(uintptr_t)front));
    assert_irpc_ok(irpc_pipeline_use(pl, uf));
  }
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  o.always = always;
  assert_irpc_ok(irpc_compress_interceptor_new(&ic, &loop, &o));
  assert_irpc_ok(irpc_pipeline_use(pl, ic));
  assert_irpc_ok(irpc_invoker_new(&term, &loop, &term_ops, &p));
  assert_irpc_ok(irpc_pipeline_into(pl, term));
  irpc_outgoing_request *req = compressible_request(50000);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(req), feature));
  outcome out;
  outcome_init(&out);
  rig_invoke(NULL, irpc_pipeline_invoker(pl), req, &out, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(out.done, 1);
  assert_irpc_ok(out.err);
  if (p.format)
    assert_true(p.len < 50000);
  else
    assert_int_equal(p.len, 50000);
  outcome_fini(&out);
  irpc_outgoing_request_free(req);
  irpc_pipeline_free(pl);
  irpc_invoker_free(term);
  test_loop_finish(&loop);
  return p.format;
}

/* Towards a peer that announced nothing (IceRPC), only the feature -- the
 * contract -- compresses, and only in Deflate or Brotli; the policy alone
 * never does. Towards an irpc peer the policy compresses unless the feature
 * says no. */
static void test_policy_and_feature(void **state) {
  (void)state;
  const uint64_t icerpc_peer =
      IRPC_COMPRESSION_UNANNOUNCED | IRPC_COMPRESSION_FORMATS_ICERPC;
  const uint64_t irpc_peer = irpc_compress_formats_readable();
  const int none = IRPC_COMPRESS_DEFAULT;
  assert_int_equal(sent_format(NULL, 1, icerpc_peer, none), 0);
  assert_int_equal(sent_format(NULL, 1, icerpc_peer, IRPC_COMPRESS_YES),
                   IRPC_COMPRESSION_BROTLI);
  assert_int_equal(sent_format(NULL, 0, icerpc_peer, IRPC_COMPRESS_YES),
                   IRPC_COMPRESSION_BROTLI);
  assert_int_equal(sent_format(NULL, 1, irpc_peer, none),
                   IRPC_COMPRESSION_ZSTD);
  assert_int_equal(sent_format(NULL, 1, irpc_peer, IRPC_COMPRESS_NO), 0);
  assert_int_equal(sent_format(NULL, 0, irpc_peer, none), 0);
  /* An irpc peer that decompresses nothing. */
  assert_int_equal(sent_format(NULL, 1, 0, IRPC_COMPRESS_YES), 0);
}

/* The feature's documented values, set by the use-feature interceptor in
 * front of the compress interceptor. */
static void test_feature_values(void **state) {
  (void)state;
  irpc_features *f;
  irpc_outgoing_request *req = compressible_request(10);
  f = irpc_outgoing_request_features(req);
  assert_int_equal(irpc_features_compress_value(f), IRPC_COMPRESS_DEFAULT);
  assert_int_equal(irpc_features_compress(f), 0);
  assert_irpc_ok(irpc_features_set_compress(f, 7));
  assert_int_equal(irpc_features_compress_value(f), IRPC_COMPRESS_YES);
  assert_ptr_equal(irpc_features_get(f, &irpc_compress_feature),
                   &irpc_compress_yes);
  assert_int_equal(irpc_features_compress(f), 1);
  assert_irpc_ok(irpc_features_set_compress(f, IRPC_COMPRESS_NO));
  assert_int_equal(irpc_features_compress_value(f), IRPC_COMPRESS_NO);
  assert_ptr_equal(irpc_features_get(f, &irpc_compress_feature),
                   &irpc_compress_no);
  assert_int_equal(irpc_features_compress(f), 0);
  assert_irpc_ok(irpc_features_set_compress(f, IRPC_COMPRESS_DEFAULT));
  assert_int_equal(irpc_features_count(f), 0);
  assert_irpc_err(irpc_features_set_compress(NULL, 1), IRPC_EINVAL);
  assert_int_equal(irpc_features_compress_value(NULL), IRPC_COMPRESS_DEFAULT);
  irpc_outgoing_request_free(req);

  /* The two values through the use-feature interceptor, which replaces
   * what the request carried. */
  const uint64_t all = irpc_compress_formats_readable();
  assert_int_equal(sent_format(&irpc_compress_yes, 0, all, IRPC_COMPRESS_NO),
                   IRPC_COMPRESSION_ZSTD);
  assert_int_equal(sent_format(&irpc_compress_no, 1, all, IRPC_COMPRESS_YES),
                   0);
}

static void test_threshold_and_incompressible(void **state) {
  (void)state;
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  size_t len;
  irpc_outgoing_request *small = compressible_request(o.min_size - 1);
  assert_irpc_ok(irpc_compress_use_on_request(small, &o));
  assert_int_equal(
      written_format(small, irpc_compress_formats_readable(), &len), 0);
  irpc_outgoing_request_free(small);
  irpc_outgoing_request *at = compressible_request(o.min_size);
  assert_irpc_ok(irpc_compress_use_on_request(at, &o));
  assert_int_equal(written_format(at, irpc_compress_formats_readable(), &len),
                   IRPC_COMPRESSION_ZSTD);
  irpc_outgoing_request_free(at);
  irpc_outgoing_request *rnd;
  assert_irpc_ok(irpc_outgoing_request_new(&rnd, "/svc", "op"));
  static uint8_t bytes[20000];
  fill_random(bytes, sizeof(bytes), 99);
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(rnd), bytes,
                                 sizeof(bytes)));
  assert_irpc_ok(irpc_compress_use_on_request(rnd, &o));
  for (int f = 0; f < 2; f++) {
    o.formats[0] = (uint8_t)formats[f];
    o.formats[1] = 0;
    assert_irpc_ok(irpc_compress_use_on_request(rnd, &o));
    assert_int_equal(
        written_format(rnd, irpc_compress_formats_readable(), &len), 0);
    assert_int_equal(len, sizeof(bytes));
  }
  irpc_outgoing_request_free(rnd);
  /* Invalid options. */
  o.zstd_level = 0;
  irpc_invoker *inv;
  uv_loop_t loop;
  uv_loop_init(&loop);
  assert_irpc_err(irpc_compress_interceptor_new(&inv, &loop, &o), IRPC_EINVAL);
  irpc_compress_options_init(&o);
  o.formats[0] = 7;
  assert_irpc_err(irpc_compress_interceptor_new(&inv, &loop, &o), IRPC_EINVAL);
  test_loop_finish(&loop);
}

/* ---- Through the coloc invoker ---- */

static int compress_responses;
static void feature_echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  if (compress_responses)
    irpc_features_set_compress(
        irpc_incoming_request_features(irpc_dispatch_request(d)), 1);
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops feature_echo_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "echo",
    .dispatch = feature_echo_dispatch};

static void test_end_to_end(void **state) {
  (void)state;
  rig r;
  compress_rig_init(&r, NULL, 1);
  irpc_dispatcher *echo = rig_map(&r, "/svc", &feature_echo_ops);

  irpc_outgoing_request *req = compressible_request(100000);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(req), 1));
  compress_responses = 1;
  outcome o;
  outcome_init(&o);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.done, 1);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  /* On the wire: zstd (coloc peers read everything), compressed. */
  assert_field(r.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x20", 1);
  assert_true(r.spy.payload_len < 100000 / 4);
  /* Back: decompressed, the field removed. */
  assert_true(bufs_equal(o.payload, irpc_outgoing_request_payload(req)));
  assert_false(
      irpc_fields_has(o.fields, IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT));

  /* Without the feature nothing is compressed either way. */
  irpc_features_set_compress(irpc_outgoing_request_features(req), 0);
  irpc_outgoing_request *plain = compressible_request(100000);
  compress_responses = 0;
  rig_invoke(&r, NULL, plain, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.done, 2);
  assert_false(
      irpc_fields_has(r.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT));
  assert_int_equal(r.spy.payload_len, 100000);
  assert_true(bufs_equal(o.payload, irpc_outgoing_request_payload(plain)));

  irpc_outgoing_request_free(req);
  irpc_outgoing_request_free(plain);
  outcome_fini(&o);
  rig_fini(&r, &echo, 1);
}

/* A server that answers a bomb, and a client that sends one. */
static irpc_buf *bomb_payload;
static void bomb_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_append_ref(irpc_outgoing_response_payload(resp),
                                     bomb_payload, 0,
                                     irpc_buf_len(bomb_payload)));
  uint8_t f = IRPC_COMPRESSION_BROTLI;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_response_fields(resp),
                                 IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, &f,
                                 1));
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops bomb_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "bomb",
                                             .dispatch = bomb_dispatch};

static void test_bombs_through_coloc(void **state) {
  (void)state;
  irpc_buf *zeros;
  assert_irpc_ok(irpc_buf_new(&zeros));
  assert_irpc_ok(irpc_buf_new(&bomb_payload));
  static uint8_t block[1 << 20];
  for (int i = 0; i < 64; i++)
    assert_irpc_ok(
        irpc_buf_append_external(zeros, block, sizeof(block), NULL, NULL));
  assert_irpc_ok(
      irpc_compress(IRPC_COMPRESSION_BROTLI, 5, zeros, bomb_payload));

  irpc_compress_options o;
  irpc_compress_options_init(&o);
  o.max_decompressed_size = 1 << 20;
  rig r;
  compress_rig_init(&r, &o, 0);
  irpc_dispatcher *ds[2] = {rig_map(&r, "/bomb", &bomb_ops),
                            rig_map(&r, "/echo", &test_echo_ops)};
  /* Client side: a clear error, the response dropped. */
  outcome out;
  outcome_init(&out);
  irpc_outgoing_request *req = kit_request("/bomb", NULL, 0);
  rig_invoke(&r, NULL, req, &out, NULL);
  rig_run(&r);
  assert_int_equal(out.done, 1);
  assert_irpc_err(out.err, IRPC_ELIMIT);
  irpc_outgoing_request_free(req);

  /* Server side: a zstd bomb in a request is answered InvalidData. */
  irpc_buf *zbomb;
  assert_irpc_ok(irpc_buf_new(&zbomb));
  assert_irpc_ok(irpc_compress(IRPC_COMPRESSION_ZSTD, 3, zeros, zbomb));
  req = kit_request("/echo", NULL, 0);
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_request_payload(req), zbomb));
  uint8_t f = IRPC_COMPRESSION_ZSTD;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &f, 1));
  rig_invoke(&r, r.coloc, req, &out, NULL);
  rig_run(&r);
  assert_int_equal(out.done, 2);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_INVALID_DATA);
  assert_non_null(strstr(out.message, "exceeds 1048576 bytes"));
  /* A format value this build does not read never reaches the dispatcher
   * (IceRPC would hand it the compressed bytes): NotSupported, named. */
  f = 9;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &f, 1));
  rig_invoke(&r, r.coloc, req, &out, NULL);
  rig_run(&r);
  assert_int_equal(out.status, IRPC_STATUS_NOT_SUPPORTED);
  assert_non_null(strstr(out.message, "compressed with format 9"));
  irpc_outgoing_request_free(req);
  irpc_buf_free(zbomb);
  irpc_buf_free(zeros);
  irpc_buf_free(bomb_payload);
  outcome_fini(&out);
  rig_fini(&r, ds, 2);
}

/* ---- Out of memory while a payload is compressed ---- */

/* A terminal that writes the request's payload for an irpc peer, with the
 * allocation `fail_at` of that write failing (0: none), and completes the
 * call with the write's error, or Ok. */
typedef struct nomem_term {
  long fail_at;
  int hit;         /* the allocation failed */
  int write_err;   /* irpc_outgoing_request_write_payload's */
  size_t len;      /* of what it wrote */
  size_t segments; /* the same, in segments */
} nomem_term;

static void nomem_invoke(irpc_invoker *self, irpc_call *call) {
  nomem_term *p = *(nomem_term **)irpc_invoker_data(self);
  irpc_buf *out;
  assert_irpc_ok(irpc_buf_new(&out));
  test_alloc.fail_at = p->fail_at;
  p->write_err = irpc_outgoing_request_write_payload(
      irpc_call_request(call), irpc_compress_formats_readable(), out);
  p->hit = p->fail_at > 0 && test_alloc.fail_at == 0;
  test_alloc.fail_at = 0;
  p->len = irpc_buf_len(out);
  p->segments = irpc_buf_segment_count(out);
  irpc_buf_free(out);
  if (p->write_err) {
    irpc_call_complete(call, p->write_err, NULL);
    return;
  }
  irpc_incoming_response *ok;
  assert_irpc_ok(irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL));
  irpc_call_complete(call, 0, ok);
}

static const irpc_invoker_ops nomem_term_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "nomem-peer",
    .data_size = sizeof(nomem_term *),
    .init = term_init,
    .invoke = nomem_invoke};

/* One call of a request the compress interceptor compresses, with the
 * allocation `k` of the payload's write failing (0: none), on a loop of
 * its own (its pools start empty, so every object of the write is
 * allocated, and go with it). Returns 1 when the allocation failed. */
static int nomem_round(long k) {
  const size_t n = (size_t)4 << 20;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  nomem_term p = {.fail_at = k};
  irpc_pipeline *pl;
  irpc_invoker *ic, *term;
  assert_irpc_ok(irpc_pipeline_new(&pl, &loop));
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  o.always = 1;
  assert_irpc_ok(irpc_compress_interceptor_new(&ic, &loop, &o));
  assert_irpc_ok(irpc_pipeline_use(pl, ic));
  assert_irpc_ok(irpc_invoker_new(&term, &loop, &nomem_term_ops, &p));
  assert_irpc_ok(irpc_pipeline_into(pl, term));
  irpc_outgoing_request *req = compressible_request(n);
  outcome out;
  outcome_init(&out);
  rig_invoke(NULL, irpc_pipeline_invoker(pl), req, &out, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(out.done, 1);
  if (p.hit) {
    assert_irpc_err(p.write_err, IRPC_ENOMEM);
    assert_int_equal(p.len, 0);
    assert_irpc_err(out.err, IRPC_ENOMEM);
  } else {
    assert_irpc_ok(p.write_err);
    assert_irpc_ok(out.err);
    assert_int_equal(out.status, IRPC_STATUS_OK);
    assert_true(p.len < n);
    assert_true(p.segments > 4);
  }
  outcome_fini(&out);
  irpc_outgoing_request_free(req);
  irpc_pipeline_free(pl);
  irpc_invoker_free(term);
  test_loop_finish(&loop);
  return p.hit;
}

/* A request the compress interceptor compresses, each allocation of the
 * payload's write failing in turn: the write reports IRPC_ENOMEM and
 * leaves nothing, the call completes once with it, and nothing leaks. */
static void test_compress_out_of_memory_call(void **state) {
  (void)state;
  assert_false(nomem_round(0)); /* the codec's per-thread contexts */
  long live = test_alloc.live, k = 1;
  while (nomem_round(k)) {
    assert_int_equal(test_alloc.live, live);
    k++;
  }
  assert_int_equal(test_alloc.live, live);
  assert_true(k > 2);
  print_message("%ld allocations of a compressed payload's write failed in "
                "turn\n",
                k - 1);
}

/* The same write with no loop on the thread (no pool: every object is
 * allocated). The compressed payload takes more segments than a chain
 * holds inline, so the failures include the output chain's segment array,
 * a failing irpc_buf_commit, besides its blocks: each is IRPC_ENOMEM, the
 * output is left empty and nothing leaks. */
static void test_compress_out_of_memory_write(void **state) {
  (void)state;
  const size_t n = (size_t)4 << 20;
  irpc_outgoing_request *req = compressible_request(n);
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  assert_irpc_ok(irpc_compress_use_on_request(req, &o));
  long live = test_alloc.live, k = 1;
  for (;; k++) {
    irpc_buf *out;
    assert_irpc_ok(irpc_buf_new(&out));
    test_alloc.fail_at = k;
    int rc = irpc_outgoing_request_write_payload(
        req, irpc_compress_formats_readable(), out);
    int hit = test_alloc.fail_at == 0;
    test_alloc.fail_at = 0;
    if (hit) {
      assert_irpc_err(rc, IRPC_ENOMEM);
      assert_int_equal(irpc_buf_len(out), 0);
    } else {
      assert_irpc_ok(rc);
      assert_true(irpc_buf_len(out) < n);
      assert_true(irpc_buf_segment_count(out) > 4);
    }
    irpc_buf_free(out);
    assert_int_equal(test_alloc.live, live);
    if (!hit)
      break;
  }
  assert_true(k > 2);
  irpc_outgoing_request_free(req);
}

/* Compression memory goes through irpc's allocator and is all returned. */
static void test_allocator(void **state) {
  (void)state;
  irpc_buf *in, *z, *out;
  /* Warm the per-thread zstd contexts, which stay allocated. */
  assert_irpc_ok(irpc_buf_new(&in));
  assert_irpc_ok(irpc_buf_new(&z));
  assert_irpc_ok(irpc_buf_new(&out));
  fill_text(in, 100000);
  assert_irpc_ok(irpc_compress(IRPC_COMPRESSION_ZSTD, 3, in, z));
  assert_irpc_ok(irpc_decompress(IRPC_COMPRESSION_ZSTD, z, 1, 1 << 20, out));
  irpc_buf_free(in);
  irpc_buf_free(z);
  irpc_buf_free(out);
  long live = test_alloc.live;
  assert_irpc_ok(irpc_buf_new(&in));
  assert_irpc_ok(irpc_buf_new(&z));
  assert_irpc_ok(irpc_buf_new(&out));
  fill_text(in, 100000);
  for (int f = 0; f < 3; f++) {
    long allocs = test_alloc.allocs;
    irpc_buf_clear(z);
    irpc_buf_clear(out);
    assert_irpc_ok(irpc_compress(formats[f], default_level[f], in, z));
    assert_irpc_ok(irpc_decompress(formats[f], z, 0, 1 << 20, out));
    if (formats[f] != IRPC_COMPRESSION_ZSTD)
      assert_true(test_alloc.allocs - allocs > 2); /* the codec's own */
  }
  irpc_buf_free(in);
  irpc_buf_free(z);
  irpc_buf_free(out);
  assert_int_equal(test_alloc.live, live);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allocator),
      cmocka_unit_test(test_round_trip_every_level),
      cmocka_unit_test(test_round_trip_64mib),
      cmocka_unit_test(test_streaming_peak_64mib),
      cmocka_unit_test(test_streaming_peak_through_coloc),
      cmocka_unit_test(test_streaming_fallback_keeps_payload),
      cmocka_unit_test(test_bombs_stop_at_cap),
      cmocka_unit_test(test_corrupt_truncated_trailing),
      cmocka_unit_test(test_negotiation),
      cmocka_unit_test(test_policy_and_feature),
      cmocka_unit_test(test_feature_values),
      cmocka_unit_test(test_threshold_and_incompressible),
      cmocka_unit_test(test_end_to_end),
      cmocka_unit_test(test_bombs_through_coloc),
      cmocka_unit_test(test_compress_out_of_memory_call),
      cmocka_unit_test(test_compress_out_of_memory_write),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
