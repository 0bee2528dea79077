/* A compressed payload reaches only what decompresses it: every
 * combination of the compress interceptor present or absent on the client
 * and the compress middleware present or absent on the server, requests
 * and responses, over a real TCP connection and over the coloc invoker.
 * The dispatchers and the completion callbacks check every byte they get
 * against the plain text; a payload compressed where nothing decompresses
 * it (sent by hand, as a peer that ignores the announcement would) is
 * answered NotSupported, never delivered. */
#include "kit/rig.h"
#include "kit/net.h"

#define TEXT_LEN 20000

static irpc_buf *plain;  /* the text every payload must equal */
static irpc_buf *zplain; /* the same, compressed with zstd */
static int dispatched;   /* dispatches that reached a checking dispatcher */
static size_t expect_len = TEXT_LEN; /* payloads are this prefix of it */

static void make_text(void) {
  static const char *words[] = {"request ", "response ", "payload ",
                                "dispatcher ", "\n"};
  assert_irpc_ok(irpc_buf_new(&plain));
  assert_irpc_ok(irpc_buf_new(&zplain));
  uint64_t s = 11;
  while (irpc_buf_len(plain) < TEXT_LEN) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const char *w = words[(s >> 33) % 5];
    size_t k = strlen(w), room = TEXT_LEN - irpc_buf_len(plain);
    assert_irpc_ok(irpc_buf_append(plain, w, k < room ? k : room));
  }
  assert_irpc_ok(irpc_compress(IRPC_COMPRESSION_ZSTD, 3, plain, zplain));
}

static void free_text(void) {
  irpc_buf_free(plain);
  irpc_buf_free(zplain);
}

static int equals_plain(irpc_buf *b) {
  if (irpc_buf_len(b) != expect_len)
    return 0;
  irpc_bytes x, y;
  assert_irpc_ok(irpc_buf_pullup(b, &x));
  assert_irpc_ok(irpc_buf_pullup(plain, &y));
  return x.len == 0 || memcmp(x.base, y.base, x.len) == 0;
}

static void append_copy(irpc_buf *to, irpc_buf *from) {
  irpc_bytes v;
  assert_irpc_ok(irpc_buf_pullup(from, &v));
  assert_irpc_ok(irpc_buf_append(to, v.base, v.len));
}

/* ---- Dispatchers that check what they receive ---- */

static void check_request(irpc_incoming_request *req) {
  dispatched++;
  assert_false(irpc_fields_has(irpc_incoming_request_fields(req),
                               IRPC_REQUEST_FIELD_COMPRESSION_FORMAT));
  assert_true(equals_plain(irpc_incoming_request_payload(req)));
}

/* Checks the request, asks for the response to be compressed, echoes. */
static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  irpc_incoming_request *req = irpc_dispatch_request(d);
  check_request(req);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_incoming_request_features(req), 1));
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "checked-echo",
                                             .dispatch = echo_dispatch};

/* Checks the request and echoes it, saying nothing about compression. */
static void plain_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  check_request(irpc_dispatch_request(d));
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops plain_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "plain-echo",
                                              .dispatch = plain_dispatch};

/* The same, asking for the response not to be compressed. */
static void never_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  irpc_incoming_request *req = irpc_dispatch_request(d);
  check_request(req);
  assert_irpc_ok(irpc_features_set_compress(irpc_incoming_request_features(req),
                                            IRPC_COMPRESS_NO));
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops never_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "never-echo",
                                              .dispatch = never_dispatch};

/* Answers the text compressed with zstd by hand, whoever asked: a server
 * that compresses whatever the caller reads. */
static void forced_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  check_request(irpc_dispatch_request(d));
  irpc_outgoing_response *r;
  assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
  append_copy(irpc_outgoing_response_payload(r), zplain);
  uint8_t f = IRPC_COMPRESSION_ZSTD;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_response_fields(r),
                                 IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, &f,
                                 1));
  assert_irpc_ok(irpc_dispatch_complete(d, r));
}

static const irpc_dispatcher_ops forced_ops = {.struct_size =
                                                   sizeof(irpc_dispatcher_ops),
                                               .name = "forced",
                                               .dispatch = forced_dispatch};

/* ---- The response as it arrived, before any interceptor ---- */

typedef struct wire {
  uint8_t format;
  size_t len;
} wire;

static int wire_init(irpc_invoker *self, const void *config) {
  *(wire **)irpc_invoker_data(self) = (wire *)config;
  return 0;
}

static int wire_on_complete(irpc_invoker *self, irpc_call *call) {
  wire *w = *(wire **)irpc_invoker_data(self);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  w->format = 0;
  w->len = 0;
  if (err)
    return 0;
  irpc_bytes v;
  if (irpc_fields_get(irpc_incoming_response_fields(resp),
                      IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, &v) == 0)
    w->format = v.base[0];
  w->len = irpc_buf_len(irpc_incoming_response_payload(resp));
  return 0;
}

static const irpc_invoker_ops wire_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "wire",
                                          .data_size = sizeof(wire *),
                                          .init = wire_init,
                                          .on_complete = wire_on_complete};

/* ---- The rig: a pipeline into TCP or coloc ---- */

typedef struct reach {
  net_rig n;
  int tcp;
  irpc_invoker *terminal; /* client connection or coloc invoker */
  irpc_pipeline *pipeline;
  irpc_outgoing_request *holder; /* owns spy.fields */
  spy spy;                       /* the request as it arrived */
  wire wire;
} reach;

/* `ico`, `mwo`: the options of the interceptor and the middleware
 * (NULL: the defaults). */
static void reach_init_with(reach *t, int tcp, int with_ic,
                            const irpc_compress_options *ico, int with_mw,
                            const irpc_compress_options *mwo) {
  memset(t, 0, sizeof(*t));
  t->tcp = tcp;
  net_rig_init(&t->n, NET_TCP);
  uv_loop_t *loop = &t->n.loop;
  assert_irpc_ok(irpc_pipeline_new(&t->pipeline, loop));
  irpc_invoker *ic;
  if (with_ic) {
    assert_irpc_ok(irpc_compress_interceptor_new(&ic, loop, ico));
    assert_irpc_ok(irpc_pipeline_use(t->pipeline, ic));
  }
  assert_irpc_ok(irpc_invoker_new(&ic, loop, &wire_ops, &t->wire));
  assert_irpc_ok(irpc_pipeline_use(t->pipeline, ic));
  assert_irpc_ok(irpc_outgoing_request_new(&t->holder, "/spy", "fields"));
  t->spy.fields = irpc_outgoing_request_fields(t->holder);
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, loop, &spy_ops, &t->spy));
  assert_irpc_ok(irpc_router_use(t->n.router, d));
  if (with_mw) {
    assert_irpc_ok(irpc_compress_middleware_new(&d, loop, mwo));
    assert_irpc_ok(irpc_router_use(t->n.router, d));
  }
  net_map(&t->n, "/echo", &echo_ops, NULL);
  net_map(&t->n, "/forced", &forced_ops, NULL);
  net_map(&t->n, "/plain", &plain_ops, NULL);
  net_map(&t->n, "/never", &never_ops, NULL);
  if (tcp) {
    net_rig_start(&t->n);
    t->terminal = net_client(&t->n);
  } else {
    assert_irpc_ok(irpc_coloc_new(&t->terminal, loop,
                                  irpc_router_dispatcher(t->n.router)));
  }
  assert_irpc_ok(irpc_pipeline_into(t->pipeline, t->terminal));
}

static void reach_init(reach *t, int tcp, int with_ic, int with_mw) {
  reach_init_with(t, tcp, with_ic, NULL, with_mw, NULL);
}

static void reach_fini(reach *t) {
  irpc_pipeline_free(t->pipeline);
  if (t->tcp)
    net_client_close(&t->n, t->terminal);
  else
    irpc_invoker_free(t->terminal);
  irpc_outgoing_request_free(t->holder);
  net_rig_fini(&t->n);
}

/* One call; returns once its completion ran, which checked the result:
 * Ok with the plain text and no compression field, or NotSupported. */
static void reach_call(reach *t, irpc_outgoing_request *req, outcome *o) {
  o->done = 0;
  o->message[0] = 0;
  rig_invoke(NULL, irpc_pipeline_invoker(t->pipeline), req, o, NULL);
  kit_run_until(&t->n.loop, &o->done);
  assert_int_equal(o->done, 1);
  assert_irpc_ok(o->err);
  if (o->status == IRPC_STATUS_OK) {
    assert_true(equals_plain(o->payload));
    assert_false(
        irpc_fields_has(o->fields, IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT));
  } else {
    assert_int_equal(o->status, IRPC_STATUS_NOT_SUPPORTED);
    assert_int_equal(irpc_buf_len(o->payload), 0);
  }
}

/* The request format as the server received it, 0 without. */
static uint8_t request_format(reach *t) {
  irpc_bytes v;
  if (irpc_fields_get(t->spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v))
    return 0;
  return v.base[0];
}

/* A request of the first expect_len bytes of the text; `feature`: the
 * compress feature's setting (IRPC_COMPRESS_DEFAULT: none). */
static irpc_outgoing_request *text_request(const char *path, int feature) {
  irpc_outgoing_request *req = kit_request(path, NULL, 0);
  irpc_bytes v;
  assert_irpc_ok(irpc_buf_pullup(plain, &v));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(req), v.base, expect_len));
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(req), feature));
  return req;
}

static void one_combination(int tcp, int with_ic, int with_mw) {
  reach t;
  reach_init(&t, tcp, with_ic, with_mw);
  outcome o;
  outcome_init(&o);
  int both = with_ic && with_mw;
  dispatched = 0;

  /* Asked for both ways: compressed on the wire only where both sides
   * have the stage that decompresses, and always delivered in clear. */
  irpc_outgoing_request *req = text_request("/echo", IRPC_COMPRESS_YES);
  reach_call(&t, req, &o);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(dispatched, 1);
  assert_int_equal(request_format(&t), both ? IRPC_COMPRESSION_ZSTD : 0);
  if (both)
    assert_true(t.spy.payload_len < TEXT_LEN / 2);
  else
    assert_int_equal(t.spy.payload_len, TEXT_LEN);
  assert_int_equal(t.wire.format, both ? IRPC_COMPRESSION_ZSTD : 0);
  if (!both)
    assert_int_equal(t.wire.len, TEXT_LEN);
  /* The caller said what it reads, only when it reads something. */
  assert_int_equal(
      irpc_fields_has(t.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT),
      with_ic);
  irpc_outgoing_request_free(req);

  /* A request compressed by hand, whatever the server announced. */
  req = kit_request("/echo", NULL, 0);
  append_copy(irpc_outgoing_request_payload(req), zplain);
  uint8_t f = IRPC_COMPRESSION_ZSTD;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &f, 1));
  int before = t.spy.requests;
  reach_call(&t, req, &o);
  if (with_mw) {
    assert_int_equal(o.status, IRPC_STATUS_OK);
    assert_int_equal(dispatched, 2);
  } else {
    assert_int_equal(o.status, IRPC_STATUS_NOT_SUPPORTED);
    assert_string_equal(o.message,
                        "The request payload is compressed with zstd, but no "
                        "compress middleware of this dispatcher chain "
                        "decompresses it.");
    assert_int_equal(dispatched, 1);          /* never dispatched */
    assert_int_equal(t.spy.requests, before); /* not even to middleware */
  }
  irpc_outgoing_request_free(req);

  /* A response compressed by hand, whatever the caller listed. */
  req = text_request("/forced", IRPC_COMPRESS_DEFAULT);
  reach_call(&t, req, &o);
  if (with_ic) {
    /* It came compressed and the interceptor read it. */
    assert_int_equal(t.wire.format, IRPC_COMPRESSION_ZSTD);
    assert_int_equal(o.status, IRPC_STATUS_OK);
  } else {
    /* The terminal replaced it before any interceptor saw it. */
    assert_int_equal(t.wire.format, 0);
    assert_int_equal(o.status, IRPC_STATUS_NOT_SUPPORTED);
    assert_string_equal(o.message,
                        "The response payload is compressed with zstd, but "
                        "this call has no compress interceptor that "
                        "decompresses it.");
  }
  assert_int_equal(dispatched, with_mw ? 3 : 2);
  irpc_outgoing_request_free(req);

  outcome_fini(&o);
  reach_fini(&t);
}

static void every_combination(int tcp) {
  make_text();
  for (int ic = 0; ic < 2; ic++)
    for (int mw = 0; mw < 2; mw++)
      one_combination(tcp, ic, mw);
  free_text();
}

static void test_every_combination_tcp(void **state) {
  (void)state;
  every_combination(1);
}

static void test_every_combination_coloc(void **state) {
  (void)state;
  every_combination(0);
}

/* A caller that lists only brotli in the accept field (set by the
 * application, kept by the interceptor) gets brotli, though the middleware
 * prefers zstd. */
static void test_accept_list_is_kept(void **state) {
  (void)state;
  make_text();
  reach t;
  reach_init(&t, 0, 1, 1);
  outcome o;
  outcome_init(&o);
  irpc_outgoing_request *req = text_request("/echo", IRPC_COMPRESS_YES);
  uint8_t brotli = IRPC_COMPRESSION_BROTLI;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT, &brotli,
                                 1));
  reach_call(&t, req, &o);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(t.wire.format, IRPC_COMPRESSION_BROTLI);
  assert_true(t.wire.len < TEXT_LEN / 2);
  /* An empty list: nothing compressed. */
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT, NULL,
                                 0));
  reach_call(&t, req, &o);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(t.wire.format, 0);
  assert_int_equal(t.wire.len, TEXT_LEN);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  reach_fini(&t);
  free_text();
}

/* One call of `len` bytes of text to `path` with the compress feature set
 * to `feature`; returns the request's format as the server received it,
 * and the response's as the client did in *resp_format. */
static uint8_t policy_call(reach *t, const char *path, size_t len, int feature,
                           uint8_t *resp_format) {
  expect_len = len;
  outcome o;
  outcome_init(&o);
  irpc_outgoing_request *req = text_request(path, feature);
  reach_call(t, req, &o);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  uint8_t f = request_format(t);
  if (f)
    assert_true(t->spy.payload_len < len);
  else
    assert_int_equal(t->spy.payload_len, len);
  *resp_format = t->wire.format;
  if (!*resp_format)
    assert_int_equal(t->wire.len, len);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  expect_len = TEXT_LEN;
  return f;
}

/* The interceptor's `always`: every request of at least min_size bytes is
 * compressed without the feature; below it, or with the feature set to
 * "no", nothing is. The middleware's default does not compress responses
 * unless asked. */
static void client_policy(int tcp) {
  make_text();
  irpc_compress_options ico;
  irpc_compress_options_init(&ico);
  ico.always = 1;
  ico.min_size = 1024;
  reach t;
  reach_init_with(&t, tcp, 1, &ico, 1, NULL);
  const int none = IRPC_COMPRESS_DEFAULT;
  uint8_t resp;
  assert_int_equal(policy_call(&t, "/plain", TEXT_LEN, none, &resp),
                   IRPC_COMPRESSION_ZSTD);
  assert_int_equal(resp, 0);
  /* Just below min_size, then exactly at it. */
  assert_int_equal(policy_call(&t, "/plain", 1023, none, &resp), 0);
  assert_int_equal(policy_call(&t, "/plain", 1024, none, &resp),
                   IRPC_COMPRESSION_ZSTD);
  /* The feature turns it off for one request, and on as before. */
  assert_int_equal(policy_call(&t, "/plain", TEXT_LEN, IRPC_COMPRESS_NO, &resp),
                   0);
  assert_int_equal(
      policy_call(&t, "/plain", TEXT_LEN, IRPC_COMPRESS_YES, &resp),
      IRPC_COMPRESSION_ZSTD);
  /* The dispatcher asks for its response compressed: it is. */
  assert_int_equal(policy_call(&t, "/echo", TEXT_LEN, none, &resp),
                   IRPC_COMPRESSION_ZSTD);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  reach_fini(&t);
  free_text();
}

static void test_client_policy_tcp(void **state) {
  (void)state;
  client_policy(1);
}

static void test_client_policy_coloc(void **state) {
  (void)state;
  client_policy(0);
}

/* The middleware's `always`: every Ok response of at least min_size bytes
 * for a caller that lists a format; not below min_size, not when the
 * dispatcher says "no", not for a caller without the interceptor. */
static void server_policy(int tcp) {
  make_text();
  irpc_compress_options mwo;
  irpc_compress_options_init(&mwo);
  mwo.always = 1;
  mwo.min_size = 4096;
  reach t;
  reach_init_with(&t, tcp, 1, NULL, 1, &mwo);
  const int none = IRPC_COMPRESS_DEFAULT;
  uint8_t resp;
  /* Requests follow the interceptor's own default: only when asked. */
  assert_int_equal(policy_call(&t, "/plain", TEXT_LEN, none, &resp), 0);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  assert_int_equal(policy_call(&t, "/plain", 4095, none, &resp), 0);
  assert_int_equal(resp, 0);
  assert_int_equal(policy_call(&t, "/plain", 4096, none, &resp), 0);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  assert_int_equal(policy_call(&t, "/never", TEXT_LEN, none, &resp), 0);
  assert_int_equal(resp, 0);
  reach_fini(&t);
  /* No interceptor: the caller lists nothing, nothing is compressed. */
  reach_init_with(&t, tcp, 0, NULL, 1, &mwo);
  assert_int_equal(policy_call(&t, "/plain", TEXT_LEN, none, &resp), 0);
  assert_int_equal(resp, 0);
  reach_fini(&t);
  free_text();
}

static void test_server_policy_tcp(void **state) {
  (void)state;
  server_policy(1);
}

static void test_server_policy_coloc(void **state) {
  (void)state;
  server_policy(0);
}

/* ---- Every allocation failing in turn ---- */

static uint8_t zbytes[TEXT_LEN];
static size_t zlen;

/* Answers the compressed text by hand; InternalError when memory fails. */
static void zforced_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *r;
  uint8_t f = IRPC_COMPRESSION_ZSTD;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  if (irpc_buf_append(irpc_outgoing_response_payload(r), zbytes, zlen) ||
      irpc_fields_set(irpc_outgoing_response_fields(r),
                      IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, &f, 1)) {
    irpc_outgoing_response_free(r);
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_dispatch_complete(d, r);
}

static const irpc_dispatcher_ops zforced_ops = {.struct_size =
                                                    sizeof(irpc_dispatcher_ops),
                                                .name = "zforced",
                                                .dispatch = zforced_dispatch};

/* Must never run: the request it would get is compressed. */
static void unreachable_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  (void)d;
  fail_msg("a compressed request reached a dispatcher without middleware");
}

static const irpc_dispatcher_ops unreachable_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "unreachable",
    .dispatch = unreachable_dispatch};

/* One call with the Nth allocation from now failing, over the memory
 * transport, no interceptor, no middleware: a request compressed by hand
 * (to /never-reached), or a plain one answered compressed (/zforced).
 * Returns 1 when no allocation failed. */
static int reject_failing_at(net_rig *r, long n, int response) {
  irpc_invoker *inv = net_client(r);
  irpc_outgoing_request *req =
      kit_request(response ? "/zforced" : "/never-reached", NULL, 0);
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(req), zbytes, zlen));
  if (!response) {
    uint8_t f = IRPC_COMPRESSION_ZSTD;
    assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                   IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &f,
                                   1));
  }
  outcome o;
  outcome_init(&o);
  test_alloc.fail_at = n;
  int rc = irpc_invoke(inv, req, rig_on_done, &o, NULL);
  if (rc == 0)
    kit_run_until(&r->loop, &o.done);
  int untouched = test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  if (rc == 0) {
    /* Once, and never Ok: nothing decompresses that payload. */
    assert_int_equal(o.done, 1);
    assert_true(o.err <= 0);
    if (o.err == 0)
      assert_int_not_equal(o.status, IRPC_STATUS_OK);
    if (untouched) {
      assert_irpc_ok(o.err);
      assert_int_equal(o.status, IRPC_STATUS_NOT_SUPPORTED);
    }
  } else {
    assert_int_equal(rc, IRPC_ENOMEM);
  }
  outcome_fini(&o);
  irpc_outgoing_request_free(req);
  net_client_close(r, inv);
  return untouched;
}

static void reject_sweep(int response) {
  make_text();
  zlen = irpc_buf_len(zplain);
  assert_true(zlen <= sizeof(zbytes));
  irpc_buf_copyout(zplain, 0, zbytes, zlen);
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  net_map(&r, "/zforced", &zforced_ops, NULL);
  net_map(&r, "/never-reached", &unreachable_ops, NULL);
  net_rig_start(&r);
  long n = 1;
  while (!reject_failing_at(&r, n, response))
    assert_true(++n < 5000);
  print_message("%ld allocations of a rejected %s failed in turn\n", n - 1,
                response ? "response" : "request");
  net_rig_fini(&r);
  free_text();
}

static void test_rejected_request_every_allocation(void **state) {
  (void)state;
  reject_sweep(0);
}

static void test_rejected_response_every_allocation(void **state) {
  (void)state;
  reject_sweep(1);
}

static void on_dispatched(irpc_dispatch *d, irpc_outgoing_response *r,
                          void *ud) {
  (void)d;
  assert_int_equal(irpc_outgoing_response_status(r), IRPC_STATUS_NOT_FOUND);
  irpc_outgoing_response_free(r);
  (*(int *)ud)++;
}

/* What a dispatcher chain decompresses: a compress middleware in front,
 * or on the router, before routing; not one under a path. */
static void test_formats_decompressed_by(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  const uint64_t all = irpc_compress_formats_readable();
  irpc_router *r, *sub;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  irpc_dispatcher *rd = irpc_router_dispatcher(r);
  assert_true(irpc_compress_formats_decompressed_by(NULL) == 0);
  assert_true(irpc_compress_formats_decompressed_by(rd) == 0);
  /* Under a path, on a sub-router: not every request passes it. */
  irpc_dispatcher *mw, *mounted, *front;
  assert_irpc_ok(irpc_compress_middleware_new(&mounted, &loop, NULL));
  assert_irpc_ok(irpc_router_mount(r, "/zipped", mounted));
  assert_irpc_ok(irpc_router_route(r, "/v2", &sub));
  assert_irpc_ok(irpc_compress_middleware_new(&mw, &loop, NULL));
  assert_irpc_ok(irpc_router_use(sub, mw));
  assert_true(irpc_compress_formats_decompressed_by(rd) == 0);
  /* In front of the router, linked with next. */
  assert_irpc_ok(irpc_compress_middleware_new(&front, &loop, NULL));
  assert_irpc_ok(irpc_dispatcher_set_next(front, rd));
  assert_true(irpc_compress_formats_decompressed_by(front) == all);
  /* On the router: before and after its first dispatch (which links its
   * middleware). */
  assert_irpc_ok(irpc_compress_middleware_new(&mw, &loop, NULL));
  assert_irpc_ok(irpc_router_use(r, mw));
  assert_true(irpc_compress_formats_decompressed_by(rd) == all);
  irpc_incoming_request *req;
  assert_irpc_ok(irpc_incoming_request_new(&req, "/nowhere", "op", 0));
  int done = 0;
  assert_irpc_ok(irpc_dispatcher_dispatch(rd, req, on_dispatched, &done, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(done, 1);
  assert_true(irpc_compress_formats_decompressed_by(rd) == all);
  irpc_dispatcher_free(front);
  irpc_router_free(r);
  irpc_dispatcher_free(mounted);
  test_loop_finish(&loop);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_combination_tcp),
      cmocka_unit_test(test_every_combination_coloc),
      cmocka_unit_test(test_accept_list_is_kept),
      cmocka_unit_test(test_client_policy_tcp),
      cmocka_unit_test(test_client_policy_coloc),
      cmocka_unit_test(test_server_policy_tcp),
      cmocka_unit_test(test_server_policy_coloc),
      cmocka_unit_test(test_formats_decompressed_by),
      cmocka_unit_test(test_rejected_request_every_allocation),
      cmocka_unit_test(test_rejected_response_every_allocation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
