/* The ice protocol, byte for byte against a real ZeroC Ice 3.7 session
 * (ice-vectors: an Ice C++ client calling an Ice C++ server, ::Bench::
 * Service at identity "echo", and the IceGrid Locator exchange).
 *
 *   - server: a scripted client sends the Ice client's requests to an irpc
 *     server; the irpc server answers with exactly the Ice server's bytes
 *     (validation, replies, ObjectNotExist, OperationNotExist, the status
 *     1 echo, the bzip2-compressed reply), dispatches the one-way and the
 *     batched requests, and closes the transport after the client's
 *     CloseConnection; shut down, it sends Ice's CloseConnection.
 *   - client: an irpc client sends exactly the Ice client's bytes to a
 *     scripted server (with compression asked: status 1, and the
 *     compressed request byte for byte), and maps the replies.
 *   - a burst: many requests in one write (and a few bytes at a time),
 *     every reply in order, byte for byte.
 *   - compression asked per request: the compress feature of a request
 *     overrides the connection's option on either side, and a reply is
 *     compressed when its request asked for compression (status 1 or 2),
 *     as Ice does; compressed messages are checked once decompressed.
 * Everything runs over the memory transport, deterministically. */
#include <bzlib.h>
#include <string.h>

#include "ice_raw.h"
#include "irpc/compress.h"

/* ---- The vectors (ice-vectors, client-initiated sequence) ---- */

#define M1 "496365500100010003000e000000"
#define M2                                                                     \
  "496365500100010000002b00000001000000046563686f00000568656c6c6f00000a0000"   \
  "00010103616263"
#define M3                                                                     \
  "496365500100010002002500000001000000001200000001010b48656c6c6f2c2061626"    \
  "321"
#define M4                                                                     \
  "496365500100010000002600000002000000046563686f00000470696e67000006000000"   \
  "0101"
#define M5 "49636550010001000200190000000200000000060000000101"
#define M6                                                                     \
  "496365500100010000002a00000003000000046563686f0000086963655f70696e670100"   \
  "060000000101"
#define M7 "49636550010001000200190000000300000000060000000101"
#define M8                                                                     \
  "496365500100010000003a00000004000000046563686f0000076963655f697341010017"   \
  "0000000101103a3a42656e63683a3a53657276696365"
#define M9 "496365500100010002001a000000040000000007000000010101"
#define M10                                                                    \
  "496365500100010000002a00000005000000046563686f0000046563686f00000a000000"   \
  "010103010203"
#define M11 "496365500100010002001d00000005000000000a000000010103010203"
#define M12                                                                    \
  "496365500100010000002f00000006000000046563686f00000568656c6c6f0001016b01"   \
  "760a000000010103616263"
#define M13                                                                    \
  "496365500100010002002500000006000000001200000001010b48656c6c6f2c2061626"    \
  "321"
#define M14                                                                    \
  "496365500100010000002600000000000000046563686f00000470696e67000006000000"   \
  "0101"
#define M15                                                                    \
  "496365500100010001003e00000002000000046563686f00000470696e67000006000000"   \
  "0101046563686f0000086963655f70696e670100060000000101"
#define M16                                                                    \
  "496365500100010000002800000007000000066e6f626f647900000470696e6700000600"   \
  "00000101"
#define M17 "49636550010001000200210000000700000002066e6f626f647900000470696e67"
#define M18                                                                    \
  "496365500100010000002600000008000000046563686f0000046e6f706500000600000"    \
  "00101"
#define M19 "496365500100010002001f0000000800000004046563686f0000046e6f7065"
#define M20                                                                    \
  "496365500100010000012a00000009000000046563686f0000046563686f00000a000000"   \
  "010103010203"
#define M21 "496365500100010002011d00000009000000000a000000010103010203"
#define M22                                                                    \
  "496365500100010000024e0000002b010000425a6831314159265359e2a6895000000bc1"   \
  "00e4180a408008a0003100d34d034f54f483d20e364030aae9625179458af7f177245385"   \
  "090e2a689500"
#define M23                                                                    \
  "49636550010001000202420000001e010000425a6831314159265359e7dd63ae000009c0"   \
  "00e0180008a00030c008d94688f38929329a43c5dc914e142439f758eb80"
#define M24 "496365500100010004010e000000"

/* The Locator exchange. */
#define L2                                                                     \
  "496365500100010000004200000001000000074c6f6361746f720942656e636847726964"   \
  "000e66696e644f626a6563744279496401000c0000000101046563686f00"
#define L3                                                                     \
  "496365500100010002004200000001000000002f0000000101046563686f000000000100"   \
  "0101010100190000000101093132372e302e302e317db2000060ea000000"
#define L4                                                                     \
  "496365500100010000004a00000002000000074c6f6361746f720942656e636847726964"   \
  "000f66696e64416461707465724279496401001300000001010c42656e63684164617074"   \
  "6572"
#define L5                                                                     \
  "496365500100010002004300000002000000003000000001010564756d6d790000000001"   \
  "000101010100190000000101093132372e302e302e317db2000060ea000000"

/* ---- The Bench service, as the Ice server of the capture ---- */

typedef struct bench {
  int calls;
  int oneways;
  char last_op[32];
  int last_idempotent;
  uint8_t ctx[16];
  size_t ctx_len;
} bench;

static bench B;

static void reply_payload(irpc_dispatch *d, uint64_t status, const void *p,
                          size_t n) {
  irpc_outgoing_response *r;
  assert_irpc_ok(irpc_outgoing_response_new(&r, status, NULL));
  if (n)
    assert_irpc_ok(irpc_buf_append(irpc_outgoing_response_payload(r), p, n));
  assert_irpc_ok(irpc_dispatch_complete(d, r));
}

static void bench_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *op = irpc_incoming_request_operation(req);
  irpc_buf *in = irpc_incoming_request_payload(req);
  B.calls++;
  B.oneways += irpc_incoming_request_oneway(req);
  snprintf(B.last_op, sizeof B.last_op, "%s", op);
  irpc_fields *f = irpc_incoming_request_fields(req);
  B.last_idempotent = irpc_fields_has(f, IRPC_REQUEST_FIELD_IDEMPOTENT);
  irpc_bytes ctx;
  B.ctx_len = 0;
  if (irpc_fields_get(f, IRPC_REQUEST_FIELD_CONTEXT, &ctx) == 0) {
    assert_true(ctx.len <= sizeof B.ctx);
    memcpy(B.ctx, ctx.base, ctx.len);
    B.ctx_len = ctx.len;
  }
  if (strcmp(op, "hello") == 0) {
    uint8_t name[64], out[80];
    size_t n = irpc_buf_len(in);
    assert_true(n >= 1 && n < sizeof name);
    irpc_buf_copyout(in, 0, name, n);
    int len = snprintf((char *)out + 1, sizeof out - 1, "Hello, %.*s!",
                       (int)(n - 1), (const char *)name + 1);
    out[0] = (uint8_t)len;
    reply_payload(d, IRPC_STATUS_OK, out, (size_t)len + 1);
  } else if (strcmp(op, "ice_isA") == 0) {
    reply_payload(d, IRPC_STATUS_OK, "\x01", 1);
  } else if (strcmp(op, "zeros") == 0) {
    uint8_t z[261] = {0xff, 0x00, 0x01};
    reply_payload(d, IRPC_STATUS_OK, z, sizeof z);
  } else if (strcmp(op, "echo") == 0 || strcmp(op, "zecho") == 0 ||
             strcmp(op, "pecho") == 0) {
    /* zecho and pecho: the dispatcher asks for a compressed reply, or for
     * none (IceRPC's [compress(Return)]). */
    if (op[0] != 'e')
      assert_irpc_ok(irpc_features_set_compress(
          irpc_incoming_request_features(req),
          op[0] == 'z' ? IRPC_COMPRESS_YES : IRPC_COMPRESS_NO));
    irpc_outgoing_response *r;
    assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
    assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(r), in));
    assert_irpc_ok(irpc_dispatch_complete(d, r));
  } else if (strcmp(op, "ping") == 0 || strcmp(op, "ice_ping") == 0) {
    reply_payload(d, IRPC_STATUS_OK, NULL, 0);
  } else if (strcmp(op, "fail") == 0) {
    /* A user exception: its encoded form as the payload. */
    reply_payload(d, IRPC_STATUS_APPLICATION_ERROR, "\x01\x02", 2);
  } else {
    reply_payload(d, IRPC_STATUS_NOT_IMPLEMENTED, NULL, 0);
  }
}

static const irpc_dispatcher_ops bench_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "bench",
                                              .dispatch = bench_dispatch};

/* The Locator: findObjectById and findAdapterById answer the captured
 * proxies (the encapsulations' contents of L3 and L5). */
static void locator_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *op = irpc_incoming_request_operation(req);
  uint8_t m[256];
  size_t n = hex(m, sizeof m, strcmp(op, "findObjectById") == 0 ? L3 : L5);
  assert_true(irpc_fields_has(irpc_incoming_request_fields(req),
                              IRPC_REQUEST_FIELD_IDEMPOTENT));
  reply_payload(d, IRPC_STATUS_OK, m + 25, n - 25);
}

static const irpc_dispatcher_ops locator_ops = {.struct_size =
                                                    sizeof(irpc_dispatcher_ops),
                                                .name = "locator",
                                                .dispatch = locator_dispatch};

/* ---- Fixture: an irpc server on ice://vectors?transport=memory ---- */

#define SERVER "ice://vectors?transport=memory"

typedef struct fx {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_router *router;
  irpc_dispatcher *bench, *locator;
  irpc_server *server;
} fx;

static void fx_init(fx *x) {
  memset(x, 0, sizeof(*x));
  memset(&B, 0, sizeof B);
  assert_int_equal(uv_loop_init(&x->loop), 0);
  assert_irpc_ok(irpc_transport_memory_new(&x->memory));
  assert_irpc_ok(irpc_router_new(&x->router, &x->loop));
  assert_irpc_ok(irpc_dispatcher_new(&x->bench, &x->loop, &bench_ops, NULL));
  assert_irpc_ok(
      irpc_dispatcher_new(&x->locator, &x->loop, &locator_ops, NULL));
  assert_irpc_ok(irpc_router_map(x->router, "/echo", x->bench));
  assert_irpc_ok(irpc_router_map(x->router, "/BenchGrid/Locator", x->locator));
}

static void fx_start_server(fx *x) {
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = x->memory;
  assert_irpc_ok(irpc_server_new(&x->server, &x->loop,
                                 irpc_router_dispatcher(x->router), &so));
  assert_irpc_ok(irpc_server_listen(x->server, SERVER, NULL, 0));
}

static void fx_fini(fx *x) {
  irpc_server_free(x->server);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  irpc_router_free(x->router);
  irpc_dispatcher_free(x->bench);
  irpc_dispatcher_free(x->locator);
  irpc_transport_free(x->memory);
  test_loop_finish(&x->loop);
}

/* ---- Server side ---- */

/* The server started and a scripted client connected to it, past the
 * server's ValidateConnection. */
static void fx_open(fx *x, raw *c) {
  fx_init(x);
  fx_start_server(x);
  raw_init(c, &x->loop, x->memory);
  raw_connect(c, SERVER);
  raw_expect_hex(c, M1);
}

static void server_session(void **state) {
  (void)state;
  fx x;
  fx_init(&x);
  fx_start_server(&x);
  raw c;
  raw_init(&c, &x.loop, x.memory);
  raw_connect(&c, SERVER);
  raw_expect_hex(&c, M1); /* the server validates at once */

  raw_send_hex(&c, M2);
  raw_expect_hex(&c, M3);
  raw_send_hex(&c, M4);
  raw_expect_hex(&c, M5);
  raw_send_hex(&c, M6); /* ice_ping, Nonmutating: read as idempotent */
  raw_expect_hex(&c, M7);
  assert_true(B.last_idempotent);
  raw_send_hex(&c, M8);
  raw_expect_hex(&c, M9);
  raw_send_hex(&c, M10);
  raw_expect_hex(&c, M11);
  assert_false(B.last_idempotent);
  /* The context {k:v} reaches the request as irpc's context field. */
  raw_send_hex(&c, M12);
  raw_expect_hex(&c, M13);
  assert_int_equal(B.ctx_len, 5);
  assert_memory_equal(B.ctx, "\x04\x04k\x04v", 5);
  /* One-way, then a batch of two: three one-way dispatches, no reply. */
  int before = B.calls;
  raw_send_hex(&c, M14);
  raw_send_hex(&c, M15);
  /* ObjectNotExist for an identity nobody serves (the router's NotFound),
   * OperationNotExist for an operation the service does not have. */
  raw_send_hex(&c, M16);
  raw_expect_hex(&c, M17);
  assert_int_equal(B.calls, before + 3);
  assert_int_equal(B.oneways, 3);
  raw_send_hex(&c, M18);
  raw_expect_hex(&c, M19);
  /* Compression status 1 asks for it: the small reply says 1 too. */
  raw_send_hex(&c, M20);
  raw_expect_hex(&c, M21);
  /* A compressed request: the reply is compressed the same way, and the
   * bzip2 stream is Ice's, byte for byte. */
  raw_send_hex(&c, M22);
  raw_expect_hex(&c, M23);
  /* CloseConnection: the server closes the transport. */
  raw_send_hex(&c, M24);
  assert_int_equal(raw_wait_end(&c), UV_EOF);
  raw_fini(&c);
  fx_fini(&x);
}

static int shut;
static void on_server_shutdown(irpc_server *s, int status, void *ud) {
  (void)s;
  (void)ud;
  shut = status == 0 ? 1 : status;
}

static void server_close(void **state) {
  (void)state;
  fx x;
  raw c;
  fx_open(&x, &c);
  shut = 0;
  assert_irpc_ok(irpc_server_shutdown(x.server, on_server_shutdown, NULL));
  raw_expect_hex(&c, M24); /* the same bytes, whichever side closes */
  /* The Ice client closes the transport first. */
  raw_close(&c);
  kit_run_until(&x.loop, &shut);
  assert_int_equal(shut, 1);
  raw_fini(&c);
  fx_fini(&x);
}

static void server_locator(void **state) {
  (void)state;
  fx x;
  raw c;
  fx_open(&x, &c);
  raw_send_hex(&c, L2);
  raw_expect_hex(&c, L3);
  raw_send_hex(&c, L4);
  raw_expect_hex(&c, L5);
  raw_send_hex(&c, M24);
  assert_int_equal(raw_wait_end(&c), UV_EOF);
  raw_fini(&c);
  fx_fini(&x);
}

/* A user exception: status 1 and the exception's encapsulation. */
static void server_user_exception(void **state) {
  (void)state;
  fx x;
  raw c;
  fx_open(&x, &c);
  raw_send_hex(&c, "4963655001000100 0000 26000000 01000000"
                   "046563686f0000 046661696c 00 00 060000000101");
  raw_expect_hex(&c, "4963655001000100 0200 1b000000 01000000 01"
                     "0800000001010102");
  raw_fini(&c);
  fx_fini(&x);
}

/* ---- Messages built and read as Ice does (compression per request) ---- */

/* The payload of the compressed vectors: a byte sequence of 256 zeros. */
static size_t zeros_payload(uint8_t *p) {
  memset(p, 0, 261);
  p[0] = 0xff;
  p[2] = 0x01;
  return 261;
}

static size_t put_header(uint8_t *m, int type, int cstat, size_t n) {
  static const uint8_t magic[8] = {0x49, 0x63, 0x65, 0x50, 1, 0, 1, 0};
  memcpy(m, magic, 8);
  m[8] = (uint8_t)type;
  m[9] = (uint8_t)cstat;
  for (int i = 0; i < 4; i++)
    m[10 + i] = (uint8_t)(n >> (8 * i));
  return n;
}

static void put_u32(uint8_t *p, size_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* A request to identity "echo": `op`, mode Normal, no context, `pl` as
 * the encapsulation. */
static size_t echo_request(uint8_t *m, uint32_t id, const char *op,
                           const uint8_t *pl, size_t n, int cstat) {
  size_t at = 14, ol = strlen(op);
  put_u32(m + at, id);
  at += 4;
  memcpy(m + at,
         "\x04"
         "echo"
         "\x00"
         "\x00",
         7);
  at += 7;
  m[at++] = (uint8_t)ol;
  memcpy(m + at, op, ol);
  at += ol;
  m[at++] = 0; /* mode */
  m[at++] = 0; /* context */
  put_u32(m + at, n + 6);
  m[at + 4] = m[at + 5] = 1;
  at += 6;
  if (n)
    memcpy(m + at, pl, n);
  return put_header(m, 0, cstat, at + n);
}

/* A reply Ok carrying `pl`. */
static size_t ok_reply(uint8_t *m, uint32_t id, const uint8_t *pl, size_t n,
                       int cstat) {
  put_u32(m + 14, id);
  m[18] = 0;
  put_u32(m + 19, n + 6);
  m[23] = m[24] = 1;
  memcpy(m + 25, pl, n);
  return put_header(m, 2, cstat, 25 + n);
}

/* `m` compressed as Ice compresses it: status 2, the uncompressed size,
 * then the body in bzip2 with 100k blocks. */
static size_t ice_bz(uint8_t *out, size_t cap, const uint8_t *m, size_t n) {
  unsigned clen = (unsigned)(cap - 18);
  assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out + 18, &clen,
                                            (char *)m + 14, (unsigned)(n - 14),
                                            1, 0, 0),
                   BZ_OK);
  put_header(out, m[8], 2, 18 + clen);
  put_u32(out + 14, n);
  return 18 + clen;
}

/* The next message, decompressed when it came compressed: *cstat is its
 * compression status, the header of what is returned carries the
 * uncompressed size. */
static size_t take_plain(raw *p, uint8_t *out, size_t cap, int *cstat) {
  uint8_t m[4096];
  size_t n = raw_take(p, m, sizeof m);
  *cstat = m[9];
  if (m[9] != 2) {
    assert_true(n <= cap);
    memcpy(out, m, n);
    return n;
  }
  assert_true(n > 18);
  size_t total = (size_t)m[14] | (size_t)m[15] << 8 | (size_t)m[16] << 16 |
                 (size_t)m[17] << 24;
  assert_true(total > 14 && total <= cap);
  unsigned len = (unsigned)(total - 14);
  assert_int_equal(BZ2_bzBuffToBuffDecompress((char *)out + 14, &len,
                                              (char *)m + 18,
                                              (unsigned)(n - 18), 0, 0),
                   BZ_OK);
  assert_int_equal(len, total - 14);
  memcpy(out, m, 14);
  put_u32(out + 10, total);
  return total;
}

static void assert_message(const uint8_t *got, size_t n, const uint8_t *want,
                           size_t wn) {
  assert_int_equal(n, wn);
  /* The compression status aside (checked by the caller). */
  assert_memory_equal(got, want, 9);
  assert_memory_equal(got + 10, want + 10, n - 10);
}

/* A dispatcher asks for a compressed reply or for none, whatever the
 * request said; a small request asking for compression (status 1) gets a
 * compressed reply when the reply is large enough, as Ice's does. */
static void server_compress_per_request(void **state) {
  (void)state;
  fx x;
  raw c;
  fx_open(&x, &c);
  uint8_t pl[261], m[1024], want[1024], z[1024];
  size_t pn = zeros_payload(pl);
  int cstat;

  /* Plain request, the dispatcher asks for compression: status 2. */
  raw_send(&c, m, echo_request(m, 1, "zecho", pl, pn, 0));
  size_t n = take_plain(&c, m, sizeof m, &cstat);
  assert_int_equal(cstat, 2);
  assert_message(m, n, want, ok_reply(want, 1, pl, pn, 0));

  /* Compressed request, the dispatcher says no: status 0, byte for byte. */
  n = echo_request(m, 2, "pecho", pl, pn, 0);
  raw_send(&c, z, ice_bz(z, sizeof z, m, n));
  raw_expect(&c, want, ok_reply(want, 2, pl, pn, 0));

  /* Compressed request, nothing said: compressed reply (M22/M23). */
  n = echo_request(m, 3, "echo", pl, pn, 0);
  raw_send(&c, z, ice_bz(z, sizeof z, m, n));
  n = take_plain(&c, m, sizeof m, &cstat);
  assert_int_equal(cstat, 2);
  assert_message(m, n, want, ok_reply(want, 3, pl, pn, 0));

  /* Status 1 (asked, too small to compress): a large reply is compressed,
   * a small one carries status 1. */
  raw_send(&c, m, echo_request(m, 4, "zeros", NULL, 0, 1));
  n = take_plain(&c, m, sizeof m, &cstat);
  assert_int_equal(cstat, 2);
  assert_message(m, n, want, ok_reply(want, 4, pl, pn, 0));
  raw_send(&c, m, echo_request(m, 5, "echo", pl, 4, 1));
  raw_expect(&c, want, ok_reply(want, 5, pl, 4, 1));

  /* Nothing asked: status 0, even for a large reply. */
  raw_send(&c, m, echo_request(m, 6, "zeros", NULL, 0, 0));
  raw_expect(&c, want, ok_reply(want, 6, pl, pn, 0));
  raw_fini(&c);
  fx_fini(&x);
}

/* Many requests in one write, and again a few bytes at a time: every
 * reply comes, in order, byte for byte, whether its request's payload is
 * empty, small (messages that share the server's blocks and move between
 * them), above the size copied whole, or several blocks long. */
#define BURST 80

static size_t burst_size(int i) {
  return i == 20 ? 700 : i == 40 ? 3000 : (size_t)(i * 37 % 200);
}

static void server_burst(void **state) {
  (void)state;
  fx x;
  raw c;
  fx_open(&x, &c);
  static uint8_t burst[BURST * 256 + 4096], pl[3000], want[4096];
  for (size_t i = 0; i < sizeof pl; i++)
    pl[i] = (uint8_t)(i * 7 + 3);
  for (int round = 0; round < 2; round++) {
    size_t at = 0;
    for (int i = 0; i < BURST; i++)
      at += echo_request(burst + at, (uint32_t)(1 + i + 100 * round), "echo",
                         pl, burst_size(i), 0);
    assert_true(at <= sizeof burst);
    if (round == 0) {
      raw_send(&c, burst, at);
    } else {
      for (size_t off = 0; off < at; off += 7)
        raw_send(&c, burst + off, at - off < 7 ? at - off : 7);
    }
    for (int i = 0; i < BURST; i++)
      raw_expect(&c, want,
                 ok_reply(want, (uint32_t)(1 + i + 100 * round), pl,
                          burst_size(i), 0));
  }
  raw_fini(&c);
  fx_fini(&x);
}

/* ---- Client side ---- */

typedef struct cfx {
  fx x;
  raw s; /* the scripted server */
  irpc_invoker *client;
  irpc_ice_options io;
} cfx;

#define RAW_SERVER "ice://ice-raw?transport=memory"

static void cfx_init(cfx *k, int compress) {
  fx_init(&k->x);
  raw_init(&k->s, &k->x.loop, k->x.memory);
  raw_listen(&k->s, RAW_SERVER);
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.transport = k->x.memory;
  irpc_ice_options_init(&k->io);
  k->io.compress = compress;
  o.ice = &k->io;
  assert_irpc_ok(
      irpc_client_connection_new(&k->client, &k->x.loop, RAW_SERVER, &o));
}

static irpc_outgoing_request *req_of(const char *path, const char *op,
                                     const char *payload_hex) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, path, op));
  uint8_t b[512];
  size_t n = hex(b, sizeof b, payload_hex);
  if (n)
    assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(req), b, n));
  return req;
}

static void start(cfx *k, irpc_outgoing_request *req, ice_res *r) {
  memset(r, 0, sizeof(*r));
  assert_irpc_ok(irpc_invoke_owned(k->client, req, ice_on_res, r, NULL));
}

/* `h` with the compression status of a small message asking for
 * compression (1), and the mode byte at `mode_at` (0: none) set to
 * Idempotent: irpc sends ice_ping and ice_isA as idempotent requests. */
static void expect_as(raw *p, const char *h, size_t mode_at) {
  uint8_t b[512];
  size_t n = hex(b, sizeof b, h);
  b[9] = 1;
  if (mode_at)
    b[mode_at] = 2;
  raw_expect(p, b, n);
}

static void client_session(void **state) {
  (void)state;
  cfx k;
  cfx_init(&k, 1);
  ice_res r;
  /* The client waits for ValidateConnection before anything. */
  start(&k, req_of("/echo", "hello", "03616263"), &r);
  kit_run_until(&k.x.loop, &k.s.ready);
  raw_send_hex(&k.s, M1);
  expect_as(&k.s, M2, 0);
  raw_send_hex(&k.s, M3);
  kit_run_until(&k.x.loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  assert_int_equal(r.len, 12);
  assert_memory_equal(r.payload, "\x0bHello, abc!", 12);

  start(&k, req_of("/echo", "ping", ""), &r);
  expect_as(&k.s, M4, 0);
  raw_send_hex(&k.s, M5);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  assert_int_equal(r.len, 0);

  irpc_outgoing_request *q = req_of("/echo", "ice_ping", "");
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(q, 1));
  start(&k, q, &r);
  expect_as(&k.s, M6, 34);
  raw_send_hex(&k.s, M7);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.status, IRPC_STATUS_OK);

  q = req_of("/echo", "ice_isA", "103a3a42656e63683a3a53657276696365");
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(q, 1));
  start(&k, q, &r);
  expect_as(&k.s, M8, 33);
  raw_send_hex(&k.s, M9);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.len, 1);
  assert_int_equal(r.payload[0], 1);

  start(&k, req_of("/echo", "echo", "03010203"), &r);
  expect_as(&k.s, M10, 0);
  raw_send_hex(&k.s, M11);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.len, 4);

  /* irpc's context field {k:v} goes out as the Ice context. */
  q = req_of("/echo", "hello", "03616263");
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(q),
                                 IRPC_REQUEST_FIELD_CONTEXT, "\x04\x04k\x04v",
                                 5));
  start(&k, q, &r);
  expect_as(&k.s, M12, 0);
  raw_send_hex(&k.s, M13);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.status, IRPC_STATUS_OK);

  /* A one-way request: id 0, completes Ok without a reply. */
  q = req_of("/echo", "ping", "");
  irpc_outgoing_request_set_oneway(q, 1);
  start(&k, q, &r);
  expect_as(&k.s, M14, 0);
  kit_run_until(&k.x.loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);

  /* ObjectNotExist and OperationNotExist, with IceRPC's messages. */
  start(&k, req_of("/nobody", "ping", ""), &r);
  expect_as(&k.s, M16, 0);
  raw_send_hex(&k.s, M17);
  kit_run_until(&k.x.loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_NOT_FOUND);
  assert_string_equal(r.msg, "The dispatch failed with status code NotFound "
                             "while dispatching 'ping' on '/nobody'.");
  start(&k, req_of("/echo", "nope", ""), &r);
  expect_as(&k.s, M18, 0);
  raw_send_hex(&k.s, M19);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.status, IRPC_STATUS_NOT_IMPLEMENTED);
  assert_string_equal(r.msg,
                      "The dispatch failed with status code NotImplemented "
                      "while dispatching 'nope' on '/echo'.");

  start(&k, req_of("/echo", "echo", "03010203"), &r);
  expect_as(&k.s, M20, 0);
  raw_send_hex(&k.s, M21);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.len, 4);

  /* 256 zero bytes: compressed, byte for byte as Ice compresses them; the
   * compressed reply is read. */
  char big[2 * 261 + 1];
  strcpy(big, "ff00010000");
  for (int i = 0; i < 256; i++)
    strcat(big, "00");
  start(&k, req_of("/echo", "echo", big), &r);
  raw_expect_hex(&k.s, M22);
  raw_send_hex(&k.s, M23);
  kit_run_until(&k.x.loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.len, 261);
  assert_int_equal(r.payload[0], 0xff);
  assert_int_equal(r.payload[260], 0);

  /* Shutdown: CloseConnection once nothing is under way, then the server
   * closes the transport. */
  int done = 0;
  assert_irpc_ok(
      irpc_client_connection_shutdown(k.client, kit_status_cb, &done));
  raw_expect_hex(&k.s, M24);
  raw_close(&k.s);
  kit_run_until(&k.x.loop, &done);
  assert_int_equal(done, 1);
  irpc_invoker_free(k.client);
  raw_fini(&k.s);
  fx_fini(&k.x);
}

static void client_locator(void **state) {
  (void)state;
  cfx k;
  cfx_init(&k, 0);
  ice_res r;
  irpc_outgoing_request *q =
      req_of("/BenchGrid/Locator", "findObjectById", "046563686f00");
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(q, 1));
  start(&k, q, &r);
  kit_run_until(&k.x.loop, &k.s.ready);
  raw_send_hex(&k.s, M1);
  uint8_t b[256];
  size_t n = hex(b, sizeof b, L2);
  b[52] = 2; /* Idempotent where Ice says Nonmutating */
  raw_expect(&k.s, b, n);
  raw_send_hex(&k.s, L3);
  kit_run_until(&k.x.loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  n = hex(b, sizeof b, L3);
  assert_int_equal(r.len, n - 25);
  assert_memory_equal(r.payload, b + 25, n - 25);

  q = req_of("/BenchGrid/Locator", "findAdapterById",
             "0c42656e636841646170746572");
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(q, 1));
  start(&k, q, &r);
  n = hex(b, sizeof b, L4);
  b[53] = 2;
  raw_expect(&k.s, b, n);
  raw_send_hex(&k.s, L5);
  kit_run_until(&k.x.loop, &r.done);
  assert_int_equal(r.len, hex(b, sizeof b, L5) - 25);
  irpc_invoker_free(k.client);
  raw_fini(&k.s);
  fx_fini(&k.x);
}

/* A user exception reply: ApplicationError carrying the encoded
 * exception; and the Unknown* replies: InternalError with their reason. */
static void client_user_exception(void **state) {
  (void)state;
  cfx k;
  cfx_init(&k, 0);
  ice_res r;
  start(&k, req_of("/echo", "fail", ""), &r);
  kit_run_until(&k.x.loop, &k.s.ready);
  raw_send_hex(&k.s, M1);
  raw_expect_hex(&k.s, "4963655001000100 0000 26000000 01000000"
                       "046563686f0000 046661696c 00 00 060000000101");
  raw_send_hex(&k.s, "4963655001000100 0200 1b000000 01000000 01"
                     "0800000001010102");
  kit_run_until(&k.x.loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_APPLICATION_ERROR);
  assert_int_equal(r.len, 2);
  assert_memory_equal(r.payload, "\x01\x02", 2);

  static const struct {
    uint8_t status;
    uint64_t code;
  } unknown[] = {
      {5, IRPC_STATUS_INTERNAL_ERROR}, {6, IRPC_STATUS_INTERNAL_ERROR},
      {7, IRPC_STATUS_INTERNAL_ERROR}, {8, IRPC_STATUS_INVALID_DATA},
      {9, IRPC_STATUS_UNAUTHORIZED},   {10, IRPC_STATUS_NOT_SUPPORTED}};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    start(&k, req_of("/echo", "fail", ""), &r);
    uint8_t b[64];
    size_t n = hex(b, sizeof b,
                   "4963655001000100 0000 26000000 02000000"
                   "046563686f0000 046661696c 00 00 060000000101");
    b[14] = (uint8_t)(2 + i);
    raw_expect(&k.s, b, n);
    n = hex(b, sizeof b,
            "4963655001000100 0200 18000000 02000000 05"
            "04 62 6f 6f 6d");
    b[14] = (uint8_t)(2 + i);
    b[18] = unknown[i].status;
    raw_send(&k.s, b, n);
    kit_run_until(&k.x.loop, &r.done);
    assert_irpc_ok(r.err);
    assert_int_equal(r.status, unknown[i].code);
    assert_string_equal(r.msg, "boom");
  }
  irpc_invoker_free(k.client);
  raw_fini(&k.s);
  fx_fini(&k.x);
}

static irpc_outgoing_request *compressed_req(const uint8_t *pl, size_t n,
                                             int compress) {
  irpc_outgoing_request *q;
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/echo", "echo"));
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(q), pl, n));
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(q), compress));
  return q;
}

/* The compress feature of a request asks for compression on a connection
 * without it (status 2, or 1 when too small), or refuses it on a
 * connection with it (status 0); a compressed reply is read. */
static void client_compress_per_request(void **state) {
  (void)state;
  for (int option = 0; option < 2; option++) {
    cfx k;
    cfx_init(&k, option);
    ice_res r;
    uint8_t pl[261], m[1024], want[1024], z[1024];
    size_t pn = zeros_payload(pl);
    int cstat;
    start(&k, compressed_req(pl, pn, IRPC_COMPRESS_YES), &r);
    kit_run_until(&k.x.loop, &k.s.ready);
    raw_send_hex(&k.s, M1);
    size_t n = take_plain(&k.s, m, sizeof m, &cstat);
    assert_int_equal(cstat, 2);
    assert_message(m, n, want, echo_request(want, 1, "echo", pl, pn, 0));
    n = ok_reply(m, 1, pl, pn, 0);
    raw_send(&k.s, z, ice_bz(z, sizeof z, m, n));
    kit_run_until(&k.x.loop, &r.done);
    assert_irpc_ok(r.err);
    assert_int_equal(r.status, IRPC_STATUS_OK);
    assert_int_equal(r.len, pn);
    assert_memory_equal(r.payload, pl, pn);

    /* Too small to compress: status 1. */
    start(&k, compressed_req(pl, 4, IRPC_COMPRESS_YES), &r);
    raw_expect(&k.s, want, echo_request(want, 2, "echo", pl, 4, 1));
    raw_send(&k.s, m, ok_reply(m, 2, pl, 4, 1));
    kit_run_until(&k.x.loop, &r.done);
    assert_int_equal(r.len, 4);

    /* Refused: status 0, byte for byte. */
    start(&k, compressed_req(pl, pn, IRPC_COMPRESS_NO), &r);
    raw_expect(&k.s, want, echo_request(want, 3, "echo", pl, pn, 0));
    raw_send(&k.s, m, ok_reply(m, 3, pl, pn, 0));
    kit_run_until(&k.x.loop, &r.done);
    assert_int_equal(r.len, pn);

    /* No feature: the connection's option. */
    start(&k, compressed_req(pl, pn, IRPC_COMPRESS_DEFAULT), &r);
    n = take_plain(&k.s, m, sizeof m, &cstat);
    assert_int_equal(cstat, option ? 2 : 0);
    assert_message(m, n, want, echo_request(want, 4, "echo", pl, pn, 0));
    raw_send(&k.s, m, ok_reply(m, 4, pl, pn, 0));
    kit_run_until(&k.x.loop, &r.done);
    assert_int_equal(r.len, pn);
    irpc_invoker_free(k.client);
    raw_fini(&k.s);
    fx_fini(&k.x);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(server_compress_per_request),
      cmocka_unit_test(client_compress_per_request),
      cmocka_unit_test(server_session),
      cmocka_unit_test(server_close),
      cmocka_unit_test(server_locator),
      cmocka_unit_test(server_user_exception),
      cmocka_unit_test(server_burst),
      cmocka_unit_test(client_session),
      cmocka_unit_test(client_locator),
      cmocka_unit_test(client_user_exception),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
