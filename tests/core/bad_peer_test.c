/* Bad peers: an irpc connection facing a peer scripted byte by byte over
 * the memory transport. The peer does the Slic handshake and the icerpc
 * Settings by hand, then misbehaves. Each test asserts what IceRPC does
 * about it: a bad request or response header ends that stream
 * (StreamReadsClosed, StreamWritesClosed) and leaves the connection up; a
 * bad frame, a broken limit or an idle peer aborts the connection (no
 * Close frame: the peer reads a reset) with the error the irpc side
 * reports. Nothing crashes or hangs, and a healthy connection to the same
 * server, opened before the misbehaviour, still works after it. */
#include <string.h>

#include "base/buf_internal.h"
#include "protocol/icerpc/icerpc.h"
#include "kit/net.h"
#include "protocol/icerpc/slic.h"

#define NOID UINT64_MAX
#define BIG_RESPONSE (1u << 20)
#define RAW_SERVER "icerpc://bad-server?transport=memory"

/* The default Settings frame: type 0, size 1 on 2 bytes, no entry. */
static const uint8_t default_settings[] = {0x00, 0x05, 0x00, 0x00};

/* ---- Encoding by hand ---- */

static size_t put_var(uint8_t *p, uint64_t v) {
  size_t w = irpc__varuint62_size(v);
  irpc__varuint62_put(p, v, w);
  return w;
}

static size_t put_str(uint8_t *p, const char *s) {
  size_t n = strlen(s), w = put_var(p, n);
  memcpy(p + w, s, n);
  return w + n;
}

/* Slic parameters, each value a varuint62 prefixed by its size. */
static size_t put_params(uint8_t *p, uint64_t bidi, uint64_t uni,
                         uint64_t window, uint64_t frame) {
  const uint64_t kv[4][2] = {{IRPC__SLIC_P_MAX_FRAME, frame},
                             {IRPC__SLIC_P_INITIAL_WINDOW, window},
                             {IRPC__SLIC_P_MAX_BIDI, bidi},
                             {IRPC__SLIC_P_MAX_UNI, uni}};
  size_t n = put_var(p, 4);
  for (int i = 0; i < 4; i++) {
    n += put_var(p + n, kv[i][0]);
    n += put_var(p + n, irpc__varuint62_size(kv[i][1]));
    n += put_var(p + n, kv[i][1]);
  }
  return n;
}

/* A request header with its 2-byte size: path, operation, then `fields`
 * (an encoded dictionary). */
static size_t request_header(uint8_t *p, const char *path, const char *op,
                             const void *fields, size_t flen) {
  size_t n = 2;
  n += put_str(p + n, path);
  n += put_str(p + n, op);
  memcpy(p + n, fields, flen);
  n += flen;
  irpc__varuint62_put(p, n - 2, 2);
  return n;
}

/* ---- The scripted peer ---- */

typedef struct raw {
  uv_loop_t *loop;
  irpc_duplex *d;
  irpc_listener *l;
  int ready;  /* connected, or accepted */
  int status; /* of the connect */
  int wake;   /* set by every read callback */
  int end;    /* the status reading ended with */
  irpc_buf in;
  int batching; /* raw_frame appends to `batch` (raw_flush writes) */
  irpc_buf batch;
  struct raw *other; /* takes the next connection the listener accepts */
} raw;

typedef struct rframe {
  int type;
  uint64_t id; /* NOID for a connection frame */
  size_t len;  /* body bytes (after the stream id) */
  uint8_t body[64];
} rframe;

static void raw_on_read(irpc_duplex *d, int status, const uint8_t *data,
                        size_t len, void *ud) {
  raw *p = ud;
  (void)d;
  p->wake = 1;
  if (status)
    p->end = status;
  else
    assert_irpc_ok(irpc_buf_append(&p->in, data, len));
}

static void raw_init(raw *p, uv_loop_t *loop) {
  memset(p, 0, sizeof(*p));
  p->loop = loop;
  irpc__buf_init(&p->in);
  irpc__buf_init(&p->batch);
}

static void raw_fini(raw *p) {
  irpc_duplex_close(p->d, NULL, NULL);
  irpc_listener_close(p->l, NULL, NULL);
  irpc__buf_fini(&p->in);
  irpc__buf_fini(&p->batch);
}

static void raw_read(raw *p) {
  assert_irpc_ok(irpc_duplex_read_start(p->d, raw_on_read, p));
}

static void raw_on_connect(irpc_duplex *d, int status, void *ud) {
  raw *p = ud;
  (void)d;
  p->status = status;
  p->ready = 1;
}

/* A client duplex to the server under test. */
static void raw_connect(raw *p, net_rig *r) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, r->bound));
  assert_irpc_ok(
      irpc_transport_connect(r->memory, p->loop, a, &p->d, raw_on_connect, p));
  irpc_server_address_free(a);
  kit_run_until(p->loop, &p->ready);
  assert_irpc_ok(p->status);
  raw_read(p);
}

static void raw_on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  raw *p = ud;
  (void)l;
  if (p->d && p->other)
    p = p->other;
  assert_null(p->d);
  p->d = d;
  p->ready = 1;
  raw_read(p);
}

/* A listener at RAW_SERVER for the client under test. */
static void raw_listen(raw *p, net_rig *r) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, RAW_SERVER));
  assert_irpc_ok(
      irpc_transport_listen(r->memory, p->loop, a, raw_on_accept, p, &p->l));
  irpc_server_address_free(a);
}

static void raw_send(raw *p, const void *data, size_t len) {
  irpc_buf b;
  irpc__buf_init(&b);
  assert_irpc_ok(irpc_buf_append(&b, data, len));
  assert_irpc_ok(irpc_duplex_write(p->d, &b, NULL, NULL));
  irpc__buf_fini(&b);
}

/* A Slic frame as IceRPC writes it: a 2-byte size (4 for stream data),
 * wider when the size needs it. */
static void raw_frame(raw *p, int type, uint64_t id, const void *body,
                      size_t len) {
  uint8_t h[24];
  int data = type == IRPC__SLIC_STREAM || type == IRPC__SLIC_STREAM_LAST;
  size_t idw = id == NOID ? 0 : irpc__varuint62_size(id);
  size_t w = irpc__varuint62_size(idw + len), n = 1;
  if (w < (data ? 4u : 2u))
    w = data ? 4 : 2;
  h[0] = (uint8_t)type;
  irpc__varuint62_put(h + n, idw + len, w);
  n += w;
  if (idw)
    n += put_var(h + n, id);
  irpc_buf b;
  irpc__buf_init(&b);
  assert_irpc_ok(irpc_buf_append(&b, h, n));
  if (len)
    assert_irpc_ok(irpc_buf_append(&b, body, len));
  if (p->batching)
    assert_irpc_ok(irpc_buf_move(&p->batch, &b));
  else
    assert_irpc_ok(irpc_duplex_write(p->d, &b, NULL, NULL));
  irpc__buf_fini(&b);
}

/* The frames since p->batching was set go in one write. */
static void raw_flush(raw *p) {
  p->batching = 0;
  assert_irpc_ok(irpc_duplex_write(p->d, &p->batch, NULL, NULL));
}

/* icerpc's GoAway on the server's control stream (3). */
static void raw_goaway(raw *p, uint64_t bidi, uint64_t uni) {
  uint8_t b[24];
  size_t n = 3;
  n += put_var(b + n, bidi);
  n += put_var(b + n, uni);
  b[0] = IRPC__ICERPC_GOAWAY;
  irpc__varuint62_put(b + 1, n - 3, 2);
  raw_frame(p, IRPC__SLIC_STREAM, 3, b, n);
}

/* The next whole frame received, if there is one. */
static int raw_next(raw *p, rframe *f) {
  uint8_t h[24];
  size_t avail = irpc_buf_len(&p->in);
  size_t n = avail < sizeof h ? avail : sizeof h;
  if (n < 2)
    return 0;
  assert_irpc_ok(irpc_buf_copyout(&p->in, 0, h, n));
  uint64_t size, id = NOID;
  size_t used = irpc__varuint62_get(h + 1, n - 1, &size);
  if (!used)
    return 0;
  size_t hl = 1 + used;
  if (h[0] >= IRPC__SLIC_STREAM) {
    size_t idw = irpc__varuint62_get(h + hl, n - hl, &id);
    if (!idw)
      return 0;
    assert_true(idw <= size);
    hl += idw;
    size -= idw;
  }
  if (avail < hl + size)
    return 0;
  f->type = h[0];
  f->id = id;
  f->len = (size_t)size;
  assert_irpc_ok(irpc_buf_consume(&p->in, hl));
  size_t keep = f->len < sizeof f->body ? f->len : sizeof f->body;
  memset(f->body, 0, sizeof f->body);
  assert_irpc_ok(irpc_buf_copyout(&p->in, 0, f->body, keep));
  assert_irpc_ok(irpc_buf_consume(&p->in, f->len));
  return 1;
}

/* The next frame, waiting for it; 0 once reading ended instead. */
static int raw_wait(raw *p, rframe *f) {
  while (!raw_next(p, f)) {
    if (p->end)
      return 0;
    p->wake = 0;
    kit_run_until(p->loop, &p->wake);
  }
  return 1;
}

static int ignorable(int type) {
  return type == IRPC__SLIC_PING || type == IRPC__SLIC_PONG ||
         type == IRPC__SLIC_STREAM_WINDOW_UPDATE;
}

/* Waits for a frame of `type` on `id`, skipping pings, pongs and window
 * updates; anything else fails the test. */
static void raw_expect(raw *p, rframe *f, int type, uint64_t id) {
  for (;;) {
    if (!raw_wait(p, f))
      fail_msg("the connection ended (%d) before frame %d on %lld", p->end,
               type, (long long)id);
    if (f->type == type && f->id == id)
      return;
    if (!ignorable(f->type))
      fail_msg("frame %d on %lld instead of %d on %lld", f->type,
               (long long)f->id, type, (long long)id);
  }
}

/* Reads to the end: the connection was aborted, so no Close frame came,
 * and the reader sees the reset of the closed memory duplex. Returns the
 * stream data received on `id`. */
static size_t raw_expect_abort(raw *p, uint64_t id) {
  rframe f;
  size_t data = 0;
  while (raw_wait(p, &f)) {
    assert_int_not_equal(f.type, IRPC__SLIC_CLOSE);
    if (f.id == id &&
        (f.type == IRPC__SLIC_STREAM || f.type == IRPC__SLIC_STREAM_LAST))
      data += f.len;
  }
  assert_int_equal(p->end, UV_ECONNRESET);
  return data;
}

/* Client role: Initialize, version 1 and IceRPC's default limits. */
static void raw_initialize(raw *p) {
  uint8_t b[64];
  size_t n = put_var(b, IRPC__SLIC_VERSION);
  n += put_params(b + n, 100, 101, 65536, 32768);
  raw_frame(p, IRPC__SLIC_INITIALIZE, NOID, b, n);
}

/* Client role: Initialize, InitializeAck, then Settings both ways on the
 * control streams 2 and 3. */
static void raw_client_handshake(raw *p) {
  raw_initialize(p);
  rframe f;
  raw_expect(p, &f, IRPC__SLIC_INITIALIZE_ACK, NOID);
  raw_frame(p, IRPC__SLIC_STREAM, 2, default_settings, sizeof default_settings);
  raw_expect(p, &f, IRPC__SLIC_STREAM, 3);
  assert_int_equal(f.body[0], IRPC__ICERPC_SETTINGS);
}

/* Server role: the client's Initialize, our InitializeAck (allowing the
 * client `bidi` request streams and `uni` - 1 one-way request streams at
 * once, besides its control stream), Settings both ways. */
static void raw_server_handshake_limits(raw *p, uint64_t bidi, uint64_t uni) {
  kit_run_until(p->loop, &p->ready);
  rframe f;
  raw_expect(p, &f, IRPC__SLIC_INITIALIZE, NOID);
  assert_int_equal(f.body[0], IRPC__SLIC_VERSION << 2);
  uint8_t b[64];
  raw_frame(p, IRPC__SLIC_INITIALIZE_ACK, NOID, b,
            put_params(b, bidi, uni, 65536, 32768));
  raw_frame(p, IRPC__SLIC_STREAM, 3, default_settings, sizeof default_settings);
  raw_expect(p, &f, IRPC__SLIC_STREAM, 2);
  assert_int_equal(f.body[0], IRPC__ICERPC_SETTINGS);
}

static void raw_server_handshake(raw *p, uint64_t bidi) {
  raw_server_handshake_limits(p, bidi, 101);
}

/* A Ping answered: every frame sent before it was processed. */
static void raw_barrier(raw *p) {
  static const uint8_t payload[8] = {7};
  raw_frame(p, IRPC__SLIC_PING, NOID, payload, sizeof payload);
  rframe f;
  raw_expect(p, &f, IRPC__SLIC_PONG, NOID);
  assert_memory_equal(f.body, payload, sizeof payload);
}

/* A whole request (StreamLast) on `id`, and its Ok answer. */
static void raw_good_request(raw *p, uint64_t id) {
  uint8_t b[64];
  size_t n = request_header(b, "/echo", "op", "\0", 1);
  memcpy(b + n, "ok", 2);
  raw_frame(p, IRPC__SLIC_STREAM_LAST, id, b, n + 2);
  rframe f;
  raw_expect(p, &f, IRPC__SLIC_STREAM_LAST, id);
  /* size 2 on 2 bytes, Ok, no field, the payload */
  static const uint8_t ok[] = {0x09, 0x00, 0x00, 0x00, 'o', 'k'};
  assert_int_equal(f.len, sizeof ok);
  assert_memory_equal(f.body, ok, sizeof ok);
}

/* The irpc side ended stream `id` both ways, as IceRPC does after a bad
 * header: StreamWritesClosed and StreamReadsClosed, in either order
 * (StreamReadsClosed is held back until the writes end once every byte up
 * to StreamLast was read). */
static void raw_expect_stream_aborted(raw *p, uint64_t id) {
  int seen = 0;
  while (seen != 3) {
    rframe f;
    if (!raw_wait(p, &f))
      fail_msg("the connection ended (%d) before stream %lld ended", p->end,
               (long long)id);
    if (ignorable(f.type))
      continue;
    assert_int_equal(f.id, id);
    assert_int_equal(f.len, 0);
    if (f.type == IRPC__SLIC_STREAM_READS_CLOSED)
      seen |= 1;
    else if (f.type == IRPC__SLIC_STREAM_WRITES_CLOSED)
      seen |= 2;
    else
      fail_msg("frame %d on stream %lld", f.type, (long long)id);
  }
}

/* ---- The server under test, and a healthy client of it ---- */

static void big_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  uint8_t *block = calloc(1, BIG_RESPONSE);
  assert_non_null(block);
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_response_payload(resp), block,
                                 BIG_RESPONSE));
  free(block);
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops big_ops = {.struct_size =
                                                sizeof(irpc_dispatcher_ops),
                                            .name = "big",
                                            .dispatch = big_dispatch};

typedef struct peer_fx {
  net_rig r;
  raw peer;
  irpc_invoker *healthy;
  uint64_t healthy_id;
  int closes;    /* server connections closed */
  int close_err; /* the error of the first */
} peer_fx;

static void peer_fx_on_close(irpc_server *s, irpc_connection *c, int err,
                             void *ud) {
  peer_fx *f = ud;
  (void)s;
  (void)c;
  if (f->closes++ == 0)
    f->close_err = err;
}

static void healthy_call(peer_fx *f) {
  irpc_buf got;
  irpc__buf_init(&got);
  net_result o = {.payload = &got};
  irpc_outgoing_request *req = kit_request("/echo", "still here", 10);
  net_call_sync(&f->r.loop, f->healthy, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_buf_len(&got), 10);
  irpc_outgoing_request_free(req);
  irpc__buf_fini(&got);
}

/* Options are set between peer_fx_init and peer_fx_start. */
static void peer_fx_init(peer_fx *f) {
  memset(f, 0, sizeof(*f));
  net_rig_init(&f->r, NET_MEMORY);
  net_map(&f->r, "/echo", &test_echo_ops, NULL);
  net_map(&f->r, "/big", &big_ops, NULL);
  raw_init(&f->peer, &f->r.loop);
}

static void peer_fx_start(peer_fx *f) {
  net_rig_start(&f->r);
  irpc_server_on_connection(f->r.server, NULL, peer_fx_on_close, f);
  f->healthy = net_client(&f->r);
  healthy_call(f);
  f->healthy_id =
      irpc_connection_id(irpc_client_connection_connection(f->healthy));
}

/* The healthy connection is still the same one, and works. */
static void peer_fx_fini(peer_fx *f) {
  healthy_call(f);
  assert_int_equal(
      irpc_connection_id(irpc_client_connection_connection(f->healthy)),
      f->healthy_id);
  raw_fini(&f->peer);
  net_client_close(&f->r, f->healthy);
  net_rig_fini(&f->r);
}

/* Starts, and connects the scripted peer through the handshake. */
static void peer_fx_open(peer_fx *f) {
  peer_fx_start(f);
  raw_connect(&f->peer, &f->r);
  raw_client_handshake(&f->peer);
}

/* The server closed the scripted peer's connection with `err`, without a
 * Close frame. */
static void expect_server_abort(peer_fx *f, int err) {
  kit_run_until(&f->r.loop, &f->closes);
  assert_int_equal(f->closes, 1);
  assert_irpc_err(f->close_err, err);
  raw_expect_abort(&f->peer, NOID);
}

/* ---- Server side ---- */

static void server_garbage_instead_of_initialize(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  peer_fx_start(&f);
  raw_connect(&f.peer, &f.r);
  static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  raw_send(&f.peer, http, sizeof http - 1);
  expect_server_abort(&f, IRPC_EPROTO);
  peer_fx_fini(&f);
}

static void server_unknown_frame_type(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  peer_fx_open(&f);
  raw_frame(&f.peer, IRPC__SLIC_STREAM_WRITES_CLOSED + 1, NOID, "\0", 1);
  expect_server_abort(&f, IRPC_EPROTO);
  peer_fx_fini(&f);
}

/* Bad icerpc Settings (a max header size under 63) end the connection. */
static void server_bad_settings(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  peer_fx_start(&f);
  raw_connect(&f.peer, &f.r);
  raw_initialize(&f.peer);
  /* Settings { MaxHeaderSize: 62 } */
  static const uint8_t bad[] = {0x00, 0x0d, 0x00, 0x04, 0x00, 62 << 2};
  raw_frame(&f.peer, IRPC__SLIC_STREAM, 2, bad, sizeof bad);
  expect_server_abort(&f, IRPC_EPROTO);
  peer_fx_fini(&f);
}

/* A stream frame over our max_stream_frame_size, and a control frame over
 * Slic's 16,383 bytes. */
static void server_frame_over_max_size(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  f.r.sicerpc.max_stream_frame_size = 4096;
  peer_fx_open(&f);
  uint8_t *big = calloc(1, 16384);
  assert_non_null(big);
  raw_frame(&f.peer, IRPC__SLIC_STREAM, 0, big, 4097);
  expect_server_abort(&f, IRPC_ELIMIT);

  raw_fini(&f.peer);
  raw_init(&f.peer, &f.r.loop);
  f.closes = 0;
  raw_connect(&f.peer, &f.r);
  raw_client_handshake(&f.peer);
  raw_frame(&f.peer, IRPC__SLIC_PING, NOID, big, 16384);
  expect_server_abort(&f, IRPC_ELIMIT);
  free(big);
  peer_fx_fini(&f);
}

/* A bad request header (`bytes`, sent with StreamLast when `last`) ends
 * its stream; the connection carries the next request. */
static void server_bad_request(const void *bytes, size_t len, int last) {
  peer_fx f;
  peer_fx_init(&f);
  peer_fx_open(&f);
  raw_frame(&f.peer, last ? IRPC__SLIC_STREAM_LAST : IRPC__SLIC_STREAM, 0,
            bytes, len);
  raw_expect_stream_aborted(&f.peer, 0);
  raw_good_request(&f.peer, 4);
  assert_int_equal(f.closes, 0);
  peer_fx_fini(&f);
}

/* Its size prefix alone is over max_header_size. */
static void server_header_over_max(void **state) {
  (void)state;
  uint8_t b[4];
  irpc__varuint62_put(b, IRPC__ICERPC_DEFAULT_MAX_HEADER + 1, 4);
  server_bad_request(b, sizeof b, 0);
}

static void server_duplicate_field_key(void **state) {
  (void)state;
  /* two fields, both with key 1 (TraceContext) and an empty value */
  static const uint8_t fields[] = {2 << 2, 1 << 2, 0, 1 << 2, 0};
  uint8_t b[64];
  size_t n = request_header(b, "/echo", "op", fields, sizeof fields);
  server_bad_request(b, n, 1);
}

/* Opens as many streams of a kind as the server allows (2), each with one
 * byte of a header so that they stay open, then one more. */
static void too_many_streams(int bidi) {
  peer_fx f;
  peer_fx_init(&f);
  f.r.sicerpc.max_bidirectional_streams = 2;
  f.r.sicerpc.max_unidirectional_streams = 2;
  peer_fx_open(&f);
  /* the first bidirectional id is 0; 2 is our control stream */
  uint64_t id = bidi ? 0 : 6;
  for (int i = 0; i < 2; i++, id += 4)
    raw_frame(&f.peer, IRPC__SLIC_STREAM, id, "\x25", 1);
  raw_barrier(&f.peer);
  assert_int_equal(f.closes, 0);
  raw_frame(&f.peer, IRPC__SLIC_STREAM, id, "\x25", 1);
  expect_server_abort(&f, IRPC_EPROTO);
  peer_fx_fini(&f);
}

static void server_too_many_bidi_streams(void **state) {
  (void)state;
  too_many_streams(1);
}

static void server_too_many_uni_streams(void **state) {
  (void)state;
  too_many_streams(0);
}

/* More stream data than the window the server announced. */
static void server_window_overflow(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  f.r.sicerpc.initial_stream_window_size = 1024;
  peer_fx_open(&f);
  uint8_t b[2048] = {0};
  size_t n = request_header(b, "/echo", "op", "\0", 1);
  raw_frame(&f.peer, IRPC__SLIC_STREAM, 0, b, 600);
  /* More than half the window was read: the server gives it back. */
  rframe fr;
  raw_expect(&f.peer, &fr, IRPC__SLIC_STREAM_WINDOW_UPDATE, 0);
  uint64_t inc;
  assert_true(irpc__varuint62_get(fr.body, fr.len, &inc) > 0);
  assert_int_equal(inc, 600);
  /* Exactly the window is fine; one byte more is not. */
  raw_frame(&f.peer, IRPC__SLIC_STREAM, 0, b + n, 1024);
  raw_expect(&f.peer, &fr, IRPC__SLIC_STREAM_WINDOW_UPDATE, 0);
  raw_frame(&f.peer, IRPC__SLIC_STREAM, 0, b, 1025);
  expect_server_abort(&f, IRPC_EPROTO);
  peer_fx_fini(&f);
}

/* The peer asks for a large response and stops reading: the response is
 * held by flow control (no more than the peer's window reaches the
 * transport) until the idle timeout ends the connection. */
static void server_peer_stops_reading(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  f.r.sicerpc.idle_timeout_ms = 500;
  peer_fx_open(&f);
  assert_irpc_ok(irpc_duplex_read_stop(f.peer.d));
  uint8_t b[64];
  size_t n = request_header(b, "/big", "op", "\0", 1);
  raw_frame(&f.peer, IRPC__SLIC_STREAM_LAST, 0, b, n);
  kit_run_until(&f.r.loop, &f.closes);
  assert_irpc_err(f.close_err, IRPC_EIDLE);
  raw_read(&f.peer);
  size_t data = raw_expect_abort(&f.peer, 0);
  assert_int_equal(data, 65536); /* the window, not a byte more */
  peer_fx_fini(&f);
}

/* ---- Client side ---- */

typedef struct cfx {
  peer_fx f;
  irpc_connection_options opts;
  irpc_invoker *inv;
  irpc_outgoing_request *req;
  net_result res;
} cfx;

/* The client under test (options set between cfx_init and cfx_call) calls
 * the scripted server. */
static void cfx_init(cfx *c) {
  memset(c, 0, sizeof(*c));
  peer_fx_init(&c->f);
  peer_fx_start(&c->f);
  raw_listen(&c->f.peer, &c->f.r);
  c->opts = c->f.r.copts;
}

static void cfx_call(cfx *c, size_t payload) {
  assert_irpc_ok(
      irpc_client_connection_new(&c->inv, &c->f.r.loop, RAW_SERVER, &c->opts));
  void *data = calloc(1, payload + 1);
  assert_non_null(data);
  c->req = kit_request("/svc", data, payload);
  free(data);
  assert_irpc_ok(irpc_invoke(c->inv, c->req, net_on_result, &c->res, NULL));
}

/* Handshake, then the request arrives on stream 0. */
static void cfx_call_received(cfx *c) {
  cfx_call(c, 3);
  raw_server_handshake(&c->f.peer, 100);
  rframe fr;
  raw_expect(&c->f.peer, &fr, IRPC__SLIC_STREAM_LAST, 0);
}

/* The call failed with `err` (its stream was ended, or the connection). */
static void cfx_expect_fail(cfx *c, int err) {
  kit_run_until(&c->f.r.loop, &c->res.done);
  assert_int_equal(c->res.done, 1);
  assert_irpc_err(c->res.err, err);
}

static void cfx_fini(cfx *c) {
  irpc_outgoing_request_free(c->req);
  irpc_invoker_free(c->inv);
  peer_fx_fini(&c->f);
}

/* The connection's close callback: the error it got. */
static void on_conn_close(irpc_connection *c, int err, void *ud) {
  (void)c;
  *(int *)ud = err;
}

static void watch_close(cfx *c, int *err) {
  irpc_connection *conn = irpc_client_connection_connection(c->inv);
  assert_non_null(conn);
  assert_true(irpc_connection_on_close(conn, on_conn_close, err) > 0);
}

static void client_garbage_instead_of_initialize_ack(void **state) {
  (void)state;
  cfx c;
  cfx_init(&c);
  cfx_call(&c, 3);
  kit_run_until(&c.f.r.loop, &c.f.peer.ready);
  rframe fr;
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_INITIALIZE, NOID);
  static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
  raw_send(&c.f.peer, http, sizeof http - 1);
  cfx_expect_fail(&c, IRPC_EPROTO);
  raw_expect_abort(&c.f.peer, NOID);
  cfx_fini(&c);
}

/* The scripted server sends one bad frame while the call waits (the client
 * under test has `window` and `max_frame`, 0 for the default): the client
 * aborts the connection and the call fails with `err`. */
static void client_bad_frame(uint64_t window, uint64_t max_frame, int type,
                             uint64_t id, const void *body, size_t len,
                             int err) {
  cfx c;
  cfx_init(&c);
  if (window)
    c.f.r.cicerpc.initial_stream_window_size = window;
  if (max_frame)
    c.f.r.cicerpc.max_stream_frame_size = max_frame;
  cfx_call_received(&c);
  raw_frame(&c.f.peer, type, id, body, len);
  cfx_expect_fail(&c, err);
  raw_expect_abort(&c.f.peer, NOID);
  cfx_fini(&c);
}

static void client_unknown_frame_type(void **state) {
  (void)state;
  client_bad_frame(0, 0, 0x40, NOID, NULL, 0, IRPC_EPROTO);
}

/* An Ok response, then zeros. */
static const uint8_t response_1025[1025] = {0x09, 0x00, 0x00, 0x00};

static void client_frame_over_max_size(void **state) {
  (void)state;
  client_bad_frame(0, 1024, IRPC__SLIC_STREAM_LAST, 0, response_1025,
                   sizeof response_1025, IRPC_ELIMIT);
}

/* A bad response header fails the call (a protocol error, as IceRPC) and
 * ends the stream's reads; the connection carries the next call. */
static void client_bad_response_header(const uint8_t *hdr, size_t len) {
  cfx c;
  cfx_init(&c);
  cfx_call_received(&c);
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM, 0, hdr, len);
  cfx_expect_fail(&c, IRPC_EPROTO);
  rframe fr;
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_READS_CLOSED, 0);
  /* the same connection, a new stream */
  net_result again = {0};
  assert_irpc_ok(irpc_invoke(c.inv, c.req, net_on_result, &again, NULL));
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 4);
  static const uint8_t ok[] = {0x09, 0x00, 0x00, 0x00};
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_LAST, 4, ok, sizeof ok);
  kit_run_until(&c.f.r.loop, &again.done);
  assert_irpc_ok(again.err);
  assert_int_equal(again.status, IRPC_STATUS_OK);
  assert_int_equal(c.f.closes, 0);
  cfx_fini(&c);
}

static void client_header_over_max(void **state) {
  (void)state;
  uint8_t b[4];
  irpc__varuint62_put(b, IRPC__ICERPC_DEFAULT_MAX_HEADER + 1, 4);
  client_bad_response_header(b, sizeof b);
}

static void client_duplicate_field_key(void **state) {
  (void)state;
  /* Ok, two fields with key 2 (CompressionFormat) */
  static const uint8_t b[] = {0x21,   0x00, 0x00,   2 << 2, 2 << 2,
                              1 << 2, 1,    2 << 2, 1 << 2, 1};
  client_bad_response_header(b, sizeof b);
}

/* A client without a dispatcher allows the server no stream of its own but
 * the control stream. */
static void client_too_many_streams(void **state) {
  (void)state;
  client_bad_frame(0, 0, IRPC__SLIC_STREAM, 1, "\x25", 1, IRPC_EPROTO);
  client_bad_frame(0, 0, IRPC__SLIC_STREAM, 7, "\x25", 1, IRPC_EPROTO);
}

static void client_window_overflow(void **state) {
  (void)state;
  client_bad_frame(1024, 0, IRPC__SLIC_STREAM, 0, response_1025,
                   sizeof response_1025, IRPC_EPROTO);
}

/* The server stops reading: the request is held by flow control (no more
 * than the window it announced reaches the transport) until the client's
 * idle timeout fails the call. */
static void client_peer_stops_reading(void **state) {
  (void)state;
  cfx c;
  cfx_init(&c);
  c.f.r.cicerpc.idle_timeout_ms = 200;
  cfx_call(&c, BIG_RESPONSE);
  raw_server_handshake(&c.f.peer, 100);
  int closed = 0;
  watch_close(&c, &closed);
  assert_irpc_ok(irpc_duplex_read_stop(c.f.peer.d));
  cfx_expect_fail(&c, IRPC_EIDLE);
  kit_run_until(&c.f.r.loop, &closed);
  assert_irpc_err(closed, IRPC_EIDLE);
  raw_read(&c.f.peer);
  size_t data = raw_expect_abort(&c.f.peer, 0);
  assert_int_equal(data, 65536); /* the window, not a byte more */
  cfx_fini(&c);
}

/* The server closes the connection with a call under way and another
 * waiting for a stream (the server allows one): the call fails with the
 * error of the Close code, as IceRPC maps it, and so does the connection
 * (its close callback); the waiting call was never sent: IRPC_EREFUSED
 * (the client connection would send it again on a new connection; it is
 * made on the connection itself here so that the error shows). */
static void client_peer_close(void **state) {
  (void)state;
  static const int want[] = {IRPC_ECLOSEDBYPEER, UV_ECONNABORTED,
                             UV_ECONNREFUSED, IRPC_ESERVERBUSY,
                             UV_ECONNABORTED};
  for (uint64_t code = 0; code < 5; code++) {
    cfx c;
    cfx_init(&c);
    cfx_call(&c, 3);
    raw_server_handshake(&c.f.peer, 1);
    rframe fr;
    raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 0);
    int closed = 0;
    watch_close(&c, &closed);
    net_result waiting = {0};
    assert_irpc_ok(irpc_invoke(
        irpc_connection_invoker(irpc_client_connection_connection(c.inv)),
        c.req, net_on_result, &waiting, NULL));
    raw_barrier(&c.f.peer);
    assert_int_equal(waiting.done, 0);
    uint8_t b[8];
    raw_frame(&c.f.peer, IRPC__SLIC_CLOSE, NOID, b, put_var(b, code));
    cfx_expect_fail(&c, want[code]);
    kit_run_until(&c.f.r.loop, &waiting.done);
    assert_irpc_err(waiting.err, IRPC_EREFUSED);
    /* the client closes its side first (FIN); the connection is closed
     * once the server's FIN came back */
    assert_false(raw_wait(&c.f.peer, &fr));
    assert_int_equal(c.f.peer.end, UV_EOF);
    assert_int_equal(closed, 0);
    assert_irpc_ok(irpc_duplex_shutdown(c.f.peer.d, NULL, NULL));
    kit_run_until(&c.f.r.loop, &closed);
    assert_irpc_err(closed, want[code]);
    cfx_fini(&c);
  }
}

/* The server closes the connection (Slic Close), the client sends its FIN
 * and waits for the server's; then, instead of its FIN, the server's
 * transport is reset (`how` 0), the client's user aborts the connection
 * (`how` 1), or nothing comes (`how` 2: the shutdown timeout ends the
 * wait): the connection closes with the error of the Close, and the call
 * that was under way fails with it. */
static void client_peer_close_then_gone(void **state) {
  (void)state;
  for (int how = 0; how < 3; how++) {
    cfx c;
    cfx_init(&c);
    c.opts.shutdown_timeout_ms = 20;
    cfx_call_received(&c);
    irpc_connection *conn =
        irpc_connection_ref(irpc_client_connection_connection(c.inv));
    int closed = 0;
    watch_close(&c, &closed);
    uint8_t b[8];
    raw_frame(&c.f.peer, IRPC__SLIC_CLOSE, NOID, b, put_var(b, 0));
    cfx_expect_fail(&c, IRPC_ECLOSEDBYPEER);
    rframe fr;
    assert_false(raw_wait(&c.f.peer, &fr));
    assert_int_equal(c.f.peer.end, UV_EOF);
    assert_int_equal(closed, 0);
    assert_irpc_err(irpc_connection_close_error(conn), IRPC_ECLOSEDBYPEER);
    if (how == 0) {
      irpc_duplex_abort(c.f.peer.d, NULL, NULL);
      c.f.peer.d = NULL;
    } else if (how == 1) {
      irpc_connection_abort(conn, 0);
    }
    kit_run_until(&c.f.r.loop, &closed);
    assert_irpc_err(closed, IRPC_ECLOSEDBYPEER);
    irpc_connection_unref(conn);
    cfx_fini(&c);
  }
}

/* The server's transport goes away under a call, without a Slic Close: a
 * FIN or a reset, the peer vanished. The call and the connection's close
 * callback get UV_ECONNRESET. */
static void client_peer_gone(void **state) {
  (void)state;
  for (int reset = 0; reset < 2; reset++) {
    cfx c;
    cfx_init(&c);
    cfx_call_received(&c);
    int closed = 0;
    watch_close(&c, &closed);
    if (reset) {
      irpc_duplex_abort(c.f.peer.d, NULL, NULL);
      c.f.peer.d = NULL;
    } else {
      assert_irpc_ok(irpc_duplex_shutdown(c.f.peer.d, NULL, NULL));
    }
    cfx_expect_fail(&c, UV_ECONNRESET);
    kit_run_until(&c.f.r.loop, &closed);
    assert_irpc_err(closed, UV_ECONNRESET);
    cfx_fini(&c);
  }
}

/* The server stops reading the request (StreamReadsClosed) before it
 * answers, once the request was sent and once in the middle of it: the
 * call still gets the response, as with IceRPC. */
static void client_reads_closed_before_response(void **state) {
  (void)state;
  for (int big = 0; big < 2; big++) {
    cfx c;
    cfx_init(&c);
    cfx_call(&c, big ? BIG_RESPONSE : 3);
    raw_server_handshake(&c.f.peer, 100);
    rframe fr;
    raw_expect(&c.f.peer, &fr, big ? IRPC__SLIC_STREAM : IRPC__SLIC_STREAM_LAST,
               0);
    raw_frame(&c.f.peer, IRPC__SLIC_STREAM_READS_CLOSED, 0, NULL, 0);
    static const uint8_t ok[] = {0x09, 0x00, 0x00, 0x00, 'h', 'i'};
    raw_frame(&c.f.peer, IRPC__SLIC_STREAM_LAST, 0, ok, sizeof ok);
    kit_run_until(&c.f.r.loop, &c.res.done);
    assert_irpc_ok(c.res.err);
    assert_int_equal(c.res.status, IRPC_STATUS_OK);
    cfx_fini(&c);
  }
}

/* The server allows one one-way request stream at a time (its limit of
 * unidirectional streams is 2, one of them our control stream): a second
 * one-way call waits until the first stream is released, and its
 * cancellation ends the wait at once. */
static void client_waits_for_unidirectional_stream(void **state) {
  (void)state;
  cfx c;
  cfx_init(&c);
  assert_irpc_ok(
      irpc_client_connection_new(&c.inv, &c.f.r.loop, RAW_SERVER, &c.opts));
  c.req = kit_request("/svc", "x", 1);
  irpc_outgoing_request_set_oneway(c.req, 1);
  assert_irpc_ok(irpc_invoke(c.inv, c.req, net_on_result, &c.res, NULL));
  raw_server_handshake_limits(&c.f.peer, 100, 2);
  rframe fr;
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 6);
  net_result waiting = {0};
  irpc_call *call;
  assert_irpc_ok(irpc_invoke(c.inv, c.req, net_on_result, &waiting, &call));
  raw_barrier(&c.f.peer);
  assert_int_equal(c.res.done + waiting.done, 0);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&c.f.r.loop, &waiting.done);
  assert_irpc_err(waiting.err, IRPC_ECANCELED);
  /* The server read the first one: it completes, the slot is free. */
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_READS_CLOSED, 6, NULL, 0);
  kit_run_until(&c.f.r.loop, &c.res.done);
  assert_irpc_ok(c.res.err);
  net_result next = {0};
  assert_irpc_ok(irpc_invoke(c.inv, c.req, net_on_result, &next, NULL));
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 10);
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_READS_CLOSED, 10, NULL, 0);
  kit_run_until(&c.f.r.loop, &next.done);
  assert_irpc_ok(next.err);
  cfx_fini(&c);
}

/* ---- GoAway from the server ---- */

static const uint8_t ok_response[] = {0x09, 0x00, 0x00, 0x00};

/* Reads up to the answer of a Ping: no request stream frame but those
 * of `allowed` (or below) came, only control stream data and resets. */
static void raw_expect_no_request_after(raw *p, uint64_t allowed) {
  static const uint8_t payload[8] = {9};
  raw_frame(p, IRPC__SLIC_PING, NOID, payload, sizeof payload);
  for (;;) {
    rframe f;
    if (!raw_wait(p, &f))
      fail_msg("the connection ended (%d) before the Pong", p->end);
    if (f.type == IRPC__SLIC_PONG && f.body[0] == 9)
      return;
    if ((f.type == IRPC__SLIC_STREAM || f.type == IRPC__SLIC_STREAM_LAST) &&
        f.id != 2 && f.id > allowed)
      fail_msg("a request frame on stream %lld after GoAway", (long long)f.id);
  }
}

/* Completions of the calls of the GoAway tests: the first one starts
 * `next` from inside its completion. */
typedef struct chained {
  net_result first, second;
  irpc_invoker *inv;
  irpc_outgoing_request *req;
} chained;

static void chained_second(irpc_call *call, int err,
                           irpc_incoming_response *resp, void *ud) {
  net_on_result(call, err, resp, &((chained *)ud)->second);
}

static void chained_first(irpc_call *call, int err,
                          irpc_incoming_response *resp, void *ud) {
  chained *ch = ud;
  net_on_result(call, err, resp, &ch->first);
  assert_irpc_ok(irpc_invoke(ch->inv, ch->req, chained_second, ch, NULL));
}

/* (i) The server answers a call and sends GoAway in the same write; the
 * call's completion makes the next call. That call starts only once the
 * whole input was read, so the GoAway refuses it before it is sent: it
 * fails with IRPC_EINVCANCELED (safe to retry), never goes out on a new
 * stream of this connection, and the retry interceptor sends it again on
 * a new connection. */
static void client_goaway_with_response(void **state) {
  (void)state;
  for (int retry = 0; retry < 2; retry++) {
    cfx c;
    cfx_init(&c);
    raw second;
    raw_init(&second, &c.f.r.loop);
    c.f.peer.other = &second;
    assert_irpc_ok(
        irpc_client_connection_new(&c.inv, &c.f.r.loop, RAW_SERVER, &c.opts));
    irpc_pipeline *pl = NULL;
    chained ch = {.inv = c.inv};
    if (retry) {
      irpc_retry_options ro;
      irpc_retry_options_init(&ro);
      ro.initial_backoff_ms = 0;
      irpc_invoker *ri;
      assert_irpc_ok(irpc_retry_interceptor_new(&ri, &c.f.r.loop, &ro));
      assert_irpc_ok(irpc_pipeline_new(&pl, &c.f.r.loop));
      assert_irpc_ok(irpc_pipeline_use(pl, ri));
      assert_irpc_ok(irpc_pipeline_into(pl, c.inv));
      ch.inv = irpc_pipeline_invoker(pl);
    }
    c.req = kit_request("/svc", "a", 1);
    ch.req = c.req;
    assert_irpc_ok(irpc_invoke(ch.inv, c.req, chained_first, &ch, NULL));
    raw_server_handshake(&c.f.peer, 100);
    rframe fr;
    raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 0);
    c.f.peer.batching = 1;
    raw_frame(&c.f.peer, IRPC__SLIC_STREAM_LAST, 0, ok_response,
              sizeof ok_response);
    raw_goaway(&c.f.peer, 4, 6);
    raw_flush(&c.f.peer);
    kit_run_until(&c.f.r.loop, &ch.first.done);
    assert_irpc_ok(ch.first.err);
    if (retry) {
      /* the second attempt, on a new connection */
      raw_server_handshake(&second, 100);
      raw_expect(&second, &fr, IRPC__SLIC_STREAM_LAST, 0);
      raw_frame(&second, IRPC__SLIC_STREAM_LAST, 0, ok_response,
                sizeof ok_response);
      kit_run_until(&c.f.r.loop, &ch.second.done);
      assert_irpc_ok(ch.second.err);
      assert_int_equal(ch.second.status, IRPC_STATUS_OK);
    } else {
      kit_run_until(&c.f.r.loop, &ch.second.done);
      assert_irpc_err(ch.second.err, IRPC_EINVCANCELED);
    }
    raw_expect_no_request_after(&c.f.peer, 0);
    assert_int_equal(ch.first.done + ch.second.done, 2);
    irpc_pipeline_free(pl);
    raw_fini(&second);
    cfx_fini(&c);
  }
}

/* (ii) The server resets a request stream before it sends the GoAway that
 * refuses it (in the same write): the call still ends as refused
 * (IRPC_EINVCANCELED), and the call the GoAway accepted completes. */
static void client_resets_before_goaway(void **state) {
  (void)state;
  cfx c;
  cfx_init(&c);
  cfx_call_received(&c);
  net_result refused = {0};
  assert_irpc_ok(irpc_invoke(c.inv, c.req, net_on_result, &refused, NULL));
  rframe fr;
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 4);
  c.f.peer.batching = 1;
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_READS_CLOSED, 4, NULL, 0);
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_WRITES_CLOSED, 4, NULL, 0);
  raw_goaway(&c.f.peer, 4, 6);
  raw_flush(&c.f.peer);
  kit_run_until(&c.f.r.loop, &refused.done);
  assert_irpc_err(refused.err, IRPC_EINVCANCELED);
  assert_int_equal(c.res.done, 0);
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_LAST, 0, ok_response,
            sizeof ok_response);
  kit_run_until(&c.f.r.loop, &c.res.done);
  assert_irpc_ok(c.res.err);
  raw_expect_no_request_after(&c.f.peer, 4);
  cfx_fini(&c);
}

/* (iii) GoAway alone, while requests are still being written: every call
 * the server did not accept fails with IRPC_EINVCANCELED, those whose
 * stream had no frame written yet too (they never go out), and the
 * connection starts no call any more (IRPC_EREFUSED at once). */
static void client_goaway_alone(void **state) {
  (void)state;
  enum { BIG = 5 };
  cfx c;
  cfx_init(&c);
  cfx_call(&c, 3);
  raw_server_handshake(&c.f.peer, 100);
  rframe fr;
  raw_expect(&c.f.peer, &fr, IRPC__SLIC_STREAM_LAST, 0);
  irpc_connection *conn = irpc_client_connection_connection(c.inv);
  irpc_connection_ref(conn);
  /* The peer stops reading: the transport queue fills (256 KiB), then the
   * engine's output (64 KiB); the last call gets a stream but no frame
   * of it is written. */
  assert_irpc_ok(irpc_duplex_read_stop(c.f.peer.d));
  net_result big[BIG] = {{0}}, unframed = {0};
  uint8_t *data = calloc(1, 200000);
  assert_non_null(data);
  irpc_outgoing_request *bigreq = kit_request("/svc", data, 200000);
  free(data);
  for (int i = 0; i < BIG; i++) {
    assert_irpc_ok(irpc_invoke(c.inv, bigreq, net_on_result, &big[i], NULL));
    for (int t = 0; t < 10; t++)
      uv_run(&c.f.r.loop, UV_RUN_NOWAIT);
  }
  assert_irpc_ok(irpc_invoke(c.inv, c.req, net_on_result, &unframed, NULL));
  for (int t = 0; t < 10; t++)
    uv_run(&c.f.r.loop, UV_RUN_NOWAIT);
  raw_goaway(&c.f.peer, 4, 6);
  kit_run_until(&c.f.r.loop, &unframed.done);
  assert_irpc_err(unframed.err, IRPC_EINVCANCELED);
  for (int i = 0; i < BIG; i++) {
    assert_int_equal(big[i].done, 1);
    assert_irpc_err(big[i].err, IRPC_EINVCANCELED);
  }
  net_result late = {0};
  assert_irpc_ok(irpc_invoke(irpc_connection_invoker(conn), c.req,
                             net_on_result, &late, NULL));
  kit_run_until(&c.f.r.loop, &late.done);
  assert_irpc_err(late.err, IRPC_EREFUSED);
  /* The accepted call completes; nothing went out on stream 4 * (BIG + 1). */
  raw_read(&c.f.peer);
  raw_frame(&c.f.peer, IRPC__SLIC_STREAM_LAST, 0, ok_response,
            sizeof ok_response);
  kit_run_until(&c.f.r.loop, &c.res.done);
  assert_irpc_ok(c.res.err);
  raw_expect_no_request_after(&c.f.peer, 4 * BIG);
  irpc_outgoing_request_free(bigreq);
  irpc_connection_unref(conn);
  cfx_fini(&c);
}

/* The server's GoAway: what it accepted (IceRPC's rule: the ids after the
 * last bidirectional and the last unidirectional request streams it
 * accepted), framed before the resets of the streams it refuses even when
 * much of a response waits to be framed. */
static irpc_server *goaway_server;

static void big_then_shutdown(irpc_dispatcher *self, irpc_dispatch *d) {
  big_dispatch(self, d);
  assert_irpc_ok(irpc_server_shutdown(goaway_server, NULL, NULL));
}

static const irpc_dispatcher_ops big_then_shutdown_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "big-then-shutdown",
    .dispatch = big_then_shutdown};

static void server_goaway_before_resets(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  net_map(&f.r, "/big-then-shutdown", &big_then_shutdown_ops, NULL);
  peer_fx_start(&f);
  goaway_server = f.r.server;
  raw_connect(&f.peer, &f.r);
  raw_client_handshake(&f.peer);
  uint8_t b[64];
  f.peer.batching = 1;
  /* a one-way request on the first one-way stream (6) is accepted */
  raw_frame(&f.peer, IRPC__SLIC_STREAM_LAST, 6, b,
            request_header(b, "/echo", "op", "\0", 1));
  raw_frame(&f.peer, IRPC__SLIC_STREAM_LAST, 0, b,
            request_header(b, "/big-then-shutdown", "op", "\0", 1));
  raw_frame(&f.peer, IRPC__SLIC_STREAM_LAST, 4, b,
            request_header(b, "/echo", "op", "\0", 1));
  raw_flush(&f.peer);
  int goaway = 0;
  for (;;) {
    rframe fr;
    if (!raw_wait(&f.peer, &fr))
      fail_msg("the connection ended (%d)", f.peer.end);
    if (fr.id == 3 && fr.type == IRPC__SLIC_STREAM &&
        fr.body[0] == IRPC__ICERPC_GOAWAY) {
      /* type, size on 2 bytes, bidi 4, uni 10 */
      static const uint8_t want[] = {1, 2 << 2 | 1, 0, 4 << 2, 10 << 2};
      assert_int_equal(fr.len, sizeof want);
      assert_memory_equal(fr.body, want, sizeof want);
      goaway = 1;
    }
    if (fr.id == 4) {
      assert_true(goaway); /* the refusal comes after the GoAway */
      break;
    }
  }
  /* The client's side of the shutdown ends it. */
  raw_fini(&f.peer);
  kit_run_until(&f.r.loop, &f.closes);
  raw_init(&f.peer, &f.r.loop);
  f.healthy_id = 0;
  irpc_outgoing_request *req = kit_request("/echo", "x", 1);
  net_result o = {0};
  net_call_sync(&f.r.loop, f.healthy, req, &o);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(f.healthy);
  net_rig_fini(&f.r);
}

/* A GoAway when nothing was accepted: the first bidirectional id (0) and
 * the id after the client's control stream (2 + 4), as IceRPC. */
static void server_goaway_nothing_accepted(void **state) {
  (void)state;
  peer_fx f;
  peer_fx_init(&f);
  peer_fx_open(&f);
  raw_barrier(&f.peer); /* the server read our Settings */
  irpc_connection *list[2];
  assert_int_equal(irpc_server_connections(f.r.server, list, 2), 2);
  /* the server lists its connections oldest first: the peer's is last */
  assert_irpc_ok(irpc_connection_shutdown(list[1], NULL, NULL));
  rframe fr;
  raw_expect(&f.peer, &fr, IRPC__SLIC_STREAM, 3);
  static const uint8_t want[] = {1, 2 << 2 | 1, 0, 0, 6 << 2};
  assert_int_equal(fr.len, sizeof want);
  assert_memory_equal(fr.body, want, sizeof want);
  peer_fx_fini(&f);
}

/* ---- A server behind a shaped link on a manual clock ---- */

#define SHAPED_SERVER "icerpc://shaped-server?transport=memory"
#define STEPS_MAX 1000

typedef struct shaped_fx {
  uv_loop_t loop;
  irpc_clock *clock;
  irpc_transport *memory, *shaped;
  irpc_dispatcher *echo;
  irpc_server *server;
  raw peer;
  int closes, close_err;
} shaped_fx;

static void shaped_fx_on_close(irpc_server *s, irpc_connection *c, int err,
                               void *ud) {
  shaped_fx *f = ud;
  (void)s;
  (void)c;
  if (f->closes++ == 0)
    f->close_err = err;
}

/* One millisecond of link time, with loop turns on both sides of it. */
static void shaped_step(shaped_fx *f) {
  for (int i = 0; i < 8; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_irpc_ok(irpc_clock_advance(f->clock, 1000000));
  for (int i = 0; i < 8; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* raw_expect, with the clock moving while the peer waits. */
static void shaped_expect(shaped_fx *f, rframe *fr, int type, uint64_t id) {
  for (int i = 0; i < STEPS_MAX; i++) {
    while (raw_next(&f->peer, fr)) {
      if (fr->type == type && fr->id == id)
        return;
      if (!ignorable(fr->type))
        fail_msg("frame %d on %lld instead of %d on %lld", fr->type,
                 (long long)fr->id, type, (long long)id);
    }
    assert_int_equal(f->peer.end, 0);
    shaped_step(f);
  }
  fail_msg("no frame %d on %lld", type, (long long)id);
}

/* A server whose link has 1.5 ms of latency at 1 Mbit/s, and the scripted
 * client through the handshake. */
static void shaped_fx_open(shaped_fx *f) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_irpc_ok(irpc_clock_manual_new(&f->clock, &f->loop, 0));
  assert_irpc_ok(irpc_transport_memory_new(&f->memory));
  irpc_link link = {1000000, 1500000, f->clock};
  assert_irpc_ok(irpc_transport_shaped_new(&f->shaped, f->memory, &link));
  assert_irpc_ok(irpc_dispatcher_new(&f->echo, &f->loop, &test_echo_ops, NULL));
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = f->shaped;
  assert_irpc_ok(irpc_server_new(&f->server, &f->loop, f->echo, &so));
  assert_irpc_ok(irpc_server_listen(f->server, SHAPED_SERVER, NULL, 0));
  irpc_server_on_connection(f->server, NULL, shaped_fx_on_close, f);
  raw_init(&f->peer, &f->loop);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, SHAPED_SERVER));
  assert_irpc_ok(irpc_transport_connect(f->memory, &f->loop, a, &f->peer.d,
                                        raw_on_connect, &f->peer));
  irpc_server_address_free(a);
  for (int i = 0; i < STEPS_MAX && !f->peer.ready; i++)
    shaped_step(f);
  assert_true(f->peer.ready);
  assert_irpc_ok(f->peer.status);
  raw_read(&f->peer);
  raw_initialize(&f->peer);
  rframe fr;
  shaped_expect(f, &fr, IRPC__SLIC_INITIALIZE_ACK, NOID);
  raw_frame(&f->peer, IRPC__SLIC_STREAM, 2, default_settings,
            sizeof default_settings);
  shaped_expect(f, &fr, IRPC__SLIC_STREAM, 3);
  assert_int_equal(fr.body[0], IRPC__ICERPC_SETTINGS);
}

static void shaped_fx_fini(shaped_fx *f) {
  raw_fini(&f->peer);
  irpc_server_free(f->server);
  for (int i = 0; i < 100; i++)
    shaped_step(f);
  irpc_dispatcher_free(f->echo);
  irpc_transport_free(f->shaped);
  irpc_transport_free(f->memory);
  irpc_clock_unref(f->clock);
  test_loop_finish(&f->loop);
}

/* The client pings, closes the connection (Slic Close, code 1), sends its
 * FIN and is gone, all before the server read any of it. The server reads
 * the Ping, the Close and the EOF together, writes its Pong, and once that
 * write left (it is still on the link) sends its FIN behind it; the Pong
 * then reaches the closed peer and fails. The server's FIN fails with it,
 * and the connection closes with the error of the Close, without waiting
 * for its shutdown timeout (10 s of loop time, which never passes here). */
static void server_peer_close_and_gone_over_shaped_link(void **state) {
  (void)state;
  shaped_fx f;
  shaped_fx_open(&f);
  static const uint8_t ping[8] = {5};
  f.peer.batching = 1;
  raw_frame(&f.peer, IRPC__SLIC_PING, NOID, ping, sizeof ping);
  uint8_t b[8];
  raw_frame(&f.peer, IRPC__SLIC_CLOSE, NOID, b, put_var(b, 1));
  raw_flush(&f.peer);
  assert_irpc_ok(irpc_duplex_shutdown(f.peer.d, NULL, NULL));
  irpc_duplex_close(f.peer.d, NULL, NULL);
  f.peer.d = NULL;
  for (int i = 0; i < 100 && !f.closes; i++)
    shaped_step(&f);
  assert_int_equal(f.closes, 1);
  assert_irpc_err(f.close_err, UV_ECONNABORTED);
  shaped_fx_fini(&f);
}

/* The header builder matches the worked example of the icerpc docs. */
static void request_header_example(void **state) {
  (void)state;
  static const uint8_t doc[] = {0x25, 0x00, 0x10, 0x2F, 0x66, 0x6F,
                                0x6F, 0x08, 0x6F, 0x70, 0x00};
  uint8_t b[32];
  assert_int_equal(request_header(b, "/foo", "op", "\0", 1), sizeof doc);
  assert_memory_equal(b, doc, sizeof doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(request_header_example),
      cmocka_unit_test(server_garbage_instead_of_initialize),
      cmocka_unit_test(server_unknown_frame_type),
      cmocka_unit_test(server_bad_settings),
      cmocka_unit_test(server_frame_over_max_size),
      cmocka_unit_test(server_header_over_max),
      cmocka_unit_test(server_duplicate_field_key),
      cmocka_unit_test(server_too_many_bidi_streams),
      cmocka_unit_test(server_too_many_uni_streams),
      cmocka_unit_test(server_window_overflow),
      cmocka_unit_test(server_peer_stops_reading),
      cmocka_unit_test(client_garbage_instead_of_initialize_ack),
      cmocka_unit_test(client_unknown_frame_type),
      cmocka_unit_test(client_frame_over_max_size),
      cmocka_unit_test(client_header_over_max),
      cmocka_unit_test(client_duplicate_field_key),
      cmocka_unit_test(client_too_many_streams),
      cmocka_unit_test(client_window_overflow),
      cmocka_unit_test(client_peer_stops_reading),
      cmocka_unit_test(client_peer_close),
      cmocka_unit_test(client_peer_close_then_gone),
      cmocka_unit_test(client_peer_gone),
      cmocka_unit_test(client_reads_closed_before_response),
      cmocka_unit_test(client_waits_for_unidirectional_stream),
      cmocka_unit_test(client_goaway_with_response),
      cmocka_unit_test(client_resets_before_goaway),
      cmocka_unit_test(client_goaway_alone),
      cmocka_unit_test(server_goaway_before_resets),
      cmocka_unit_test(server_goaway_nothing_accepted),
      cmocka_unit_test(server_peer_close_and_gone_over_shaped_link),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
