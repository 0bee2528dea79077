/* The Slic engine: two endpoints wired back to back in memory, and one
 * endpoint against hand-written frames. Time comes from a test clock. */
#include <stdio.h>
#include <string.h>

#include "base/buf_internal.h"
#include "protocol/icerpc/slic.h"
#include "kit/kit.h"

static uint64_t clock_ms;

/* ---- One endpoint and what its callbacks saw ---- */

typedef struct ep {
  irpc__slic *c;
  int connected;
  int closed_count;
  int closed_err;
  int outputs;
  int released;
  int slots[2];
  int errors;
  int last_error;
  int live_at_close; /* streams not yet released when on_closed came */
  int live;          /* streams opened or accepted, not released */
  int auto_read;     /* read everything in on_readable */
  irpc__slic_stream *accepted;
  irpc__slic_stream *mine;
  int writable;                          /* on_stream_writable calls */
  int in_writable;                       /* inside on_stream_writable */
  void (*produce)(irpc__slic_stream *s); /* run from on_stream_writable */
  irpc_buf sink;
  char trace[256];
} ep;

static void tr(ep *e, char ch) {
  size_t n = strlen(e->trace);
  if (n + 1 < sizeof(e->trace)) {
    e->trace[n] = ch;
    e->trace[n + 1] = 0;
  }
}

static void on_connected(void *ud) {
  ((ep *)ud)->connected++;
}

static void on_stream(void *ud, irpc__slic_stream *s) {
  ep *e = ud;
  e->accepted = s;
  e->live++;
  tr(e, 'S');
}

static void on_readable(void *ud, irpc__slic_stream *s) {
  ep *e = ud;
  tr(e, 'R');
  if (e->auto_read)
    irpc__slic_stream_read(s, &e->sink, SIZE_MAX);
}

static void on_stream_error(void *ud, irpc__slic_stream *s, int err) {
  ep *e = ud;
  (void)s;
  e->errors++;
  e->last_error = err;
  tr(e, 'E');
}

static void on_stream_released(void *ud, irpc__slic_stream *s) {
  ep *e = ud;
  e->released++;
  e->live--;
  if (e->accepted == s)
    e->accepted = NULL;
  if (e->mine == s)
    e->mine = NULL;
  tr(e, 'X');
}

static void on_stream_slot(void *ud, int bidi) {
  ((ep *)ud)->slots[bidi ? 1 : 0]++;
}

static size_t writable_low; /* the watermark the test asked for */

static void on_stream_writable(void *ud, irpc__slic_stream *s) {
  ep *e = ud;
  assert_int_equal(e->in_writable, 0); /* never nested */
  assert_true(irpc__slic_stream_queued(s) < writable_low);
  e->in_writable++;
  e->writable++;
  tr(e, 'W');
  if (e->produce)
    e->produce(s);
  e->in_writable--;
}

static void on_closed(void *ud, int err) {
  ep *e = ud;
  e->closed_count++;
  e->closed_err = err;
  e->live_at_close = e->live;
  tr(e, 'C');
}

static void on_output(void *ud) {
  ((ep *)ud)->outputs++;
}

static uint64_t now(void *ud) {
  (void)ud;
  return clock_ms;
}

static const irpc__slic_events events = {
    .on_connected = on_connected,
    .on_stream = on_stream,
    .on_readable = on_readable,
    .on_stream_error = on_stream_error,
    .on_stream_released = on_stream_released,
    .on_stream_slot = on_stream_slot,
    .on_stream_writable = on_stream_writable,
    .on_closed = on_closed,
    .on_output = on_output,
    .now_ms = now,
};

/* The live endpoints: every call below is followed by a drain of each,
 * as an owner drains after each call into its engine. */
static ep *eps[4];

static int ep_new(ep *e, int client, const irpc__slic_params *p) {
  memset(e, 0, sizeof(*e));
  irpc__buf_init(&e->sink);
  int rc = irpc__slic_new(&e->c, client, p, &events, e);
  for (size_t i = 0; rc == 0 && i < 4; i++)
    if (!eps[i]) {
      eps[i] = e;
      break;
    }
  return rc;
}

static void ep_free(ep *e) {
  for (size_t i = 0; i < 4; i++)
    if (eps[i] == e)
      eps[i] = NULL;
  irpc__slic_free(e->c);
  irpc__buf_fini(&e->sink);
  e->c = NULL;
}

static void settle(void) {
  for (size_t i = 0; i < 4; i++)
    if (eps[i] && eps[i]->c)
      irpc__slic_drain(eps[i]->c);
}

/* The engine's functions that may raise events, each followed by the
 * drains. */
static void d_feed_eof(irpc__slic *c) {
  irpc__slic_feed_eof(c);
  settle();
}

static size_t d_take_output(irpc__slic *c, irpc_buf *out) {
  size_t n = irpc__slic_take_output(c, out);
  settle();
  return n;
}

static void d_tick(irpc__slic *c) {
  irpc__slic_tick(c);
  settle();
}

static void d_close(irpc__slic *c, uint64_t code) {
  irpc__slic_close(c, code);
  settle();
}

static void d_abort(irpc__slic *c, int err) {
  irpc__slic_abort(c, err);
  settle();
}

static int d_stream_write(irpc__slic_stream *s, irpc_buf *data, int last) {
  int rc = irpc__slic_stream_write(s, data, last);
  settle();
  return rc;
}

static size_t d_stream_read(irpc__slic_stream *s, irpc_buf *out, size_t max) {
  size_t n = irpc__slic_stream_read(s, out, max);
  settle();
  return n;
}

static void d_stream_abort_read(irpc__slic_stream *s) {
  irpc__slic_stream_abort_read(s);
  settle();
}

static void d_stream_abort_write(irpc__slic_stream *s) {
  irpc__slic_stream_abort_write(s);
  settle();
}

/* Bytes in, frame by frame: the engine stops reading once a frame raised
 * events, which are drained before the rest is fed. */
static int d_feed(irpc__slic *c, const uint8_t *p, size_t n) {
  size_t used;
  int rc;
  do {
    rc = irpc__slic_feed(c, p, n, &used);
    p += used;
    n -= used;
    settle();
  } while (rc == 0 && n);
  return rc;
}

/* ---- A frame sniffer for one direction ---- */

typedef struct sniff {
  uint8_t *buf;
  size_t len;
  uint64_t max_data;   /* largest data frame payload */
  uint64_t data_bytes; /* per direction, all streams */
  uint64_t updates;    /* sum of StreamWindowUpdate increments */
  char types[64];      /* the first frame types, as letters 'a'+type */
} sniff;

static uint64_t vu(const uint8_t *p, size_t *used) {
  size_t n = (size_t)1 << (p[0] & 3);
  uint64_t e = 0;
  for (size_t i = 0; i < n; i++)
    e |= (uint64_t)p[i] << (8 * i);
  *used = n;
  return e >> 2;
}

static void sniff_bytes(sniff *s, const uint8_t *p, size_t n) {
  s->buf = realloc(s->buf, s->len + n + 1);
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  for (;;) {
    if (s->len < 2 || s->len < 1 + ((size_t)1 << (s->buf[1] & 3)))
      return;
    size_t u, iu = 0;
    uint64_t size = vu(s->buf + 1, &u);
    if (s->len < 1 + u + size)
      return;
    int t = s->buf[0];
    const uint8_t *body = s->buf + 1 + u;
    if (t >= 7)
      vu(body, &iu);
    size_t tl = strlen(s->types);
    if (tl + 1 < sizeof(s->types)) {
      s->types[tl] = (char)('a' + t);
      s->types[tl + 1] = 0;
    }
    if (t == 7 || t == 8) {
      uint64_t d = size - iu;
      if (d > s->max_data)
        s->max_data = d;
      s->data_bytes += d;
    } else if (t == 10) {
      size_t x;
      s->updates += vu(body + iu, &x);
    }
    memmove(s->buf, s->buf + 1 + u + size, s->len - 1 - u - size);
    s->len -= 1 + u + size;
  }
}

/* ---- Wiring ---- */

static size_t fragment; /* feed at most this many bytes at a time; 0: all */

static void feed_all(ep *to, const uint8_t *p, size_t n) {
  while (n) {
    size_t k = fragment && fragment < n ? fragment : n;
    d_feed(to->c, p, k);
    p += k;
    n -= k;
  }
}

/* Moves one batch of output from `from` to `to`. */
static size_t xfer(ep *from, ep *to, sniff *sn) {
  irpc_buf b;
  irpc__buf_init(&b);
  size_t n = d_take_output(from->c, &b);
  for (size_t i = 0; i < irpc_buf_segment_count(&b); i++) {
    irpc_bytes seg = irpc_buf_segment(&b, i);
    if (sn)
      sniff_bytes(sn, seg.base, seg.len);
    feed_all(to, seg.base, seg.len);
  }
  irpc__buf_fini(&b);
  return n;
}

static void run(ep *a, ep *b) {
  while (xfer(a, b, NULL) + xfer(b, a, NULL))
    ;
}

static void pair(ep *cl, ep *sv, const irpc__slic_params *cp,
                 const irpc__slic_params *sp) {
  assert_irpc_ok(ep_new(cl, 1, cp));
  assert_irpc_ok(ep_new(sv, 0, sp));
  run(cl, sv);
  assert_int_equal(cl->connected, 1);
  assert_int_equal(sv->connected, 1);
}

static void unpair(ep *a, ep *b) {
  ep_free(a);
  ep_free(b);
}

static void write_str(irpc__slic_stream *s, const char *str, int last) {
  irpc_buf b;
  irpc__buf_init(&b);
  assert_irpc_ok(irpc_buf_append(&b, str, strlen(str)));
  assert_irpc_ok(d_stream_write(s, &b, last));
  irpc__buf_fini(&b);
}

static void expect_sink(ep *e, const char *str) {
  assert_true(irpc_buf_equals(&e->sink, str, strlen(str)));
  irpc_buf_clear(&e->sink);
}

static size_t take(ep *e, uint8_t *out, size_t cap) {
  irpc_buf b;
  irpc__buf_init(&b);
  size_t n = d_take_output(e->c, &b);
  assert_true(n <= cap);
  irpc_buf_copyout(&b, 0, out, n);
  irpc__buf_fini(&b);
  return n;
}

/* ---- Hand-written frames ---- */

static size_t put_vu(uint8_t *p, uint64_t v, size_t w) {
  if (!w)
    w = v < 64 ? 1 : v < 16384 ? 2 : v < (1u << 30) ? 4 : 8;
  uint64_t e = v << 2 | (w == 1 ? 0 : w == 2 ? 1 : w == 4 ? 2 : 3);
  for (size_t i = 0; i < w; i++)
    p[i] = (uint8_t)(e >> (8 * i));
  return w;
}

/* A frame: type, 2-byte size (4 when the body is larger), [id], body. */
static size_t frame(uint8_t *p, int type, int64_t id, const uint8_t *body,
                    size_t len) {
  uint8_t idb[8];
  size_t il = id >= 0 ? put_vu(idb, (uint64_t)id, 0) : 0;
  size_t sw = il + len < 16384 ? 2 : 4;
  p[0] = (uint8_t)type;
  put_vu(p + 1, il + len, sw);
  memcpy(p + 1 + sw, idb, il);
  if (len)
    memcpy(p + 1 + sw + il, body, len);
  return 1 + sw + il + len;
}

static int feed_bytes(ep *e, const uint8_t *p, size_t n) {
  return d_feed(e->c, p, n);
}

static int feed_frame(ep *e, int type, int64_t id, const uint8_t *body,
                      size_t len) {
  uint8_t *f = malloc(len + 16);
  size_t n = frame(f, type, id, body, len);
  int rc = feed_bytes(e, f, n);
  free(f);
  return rc;
}

static int feed_data(ep *e, int type, uint64_t id, size_t len) {
  uint8_t *z = calloc(1, len + 1);
  int rc = feed_frame(e, type, (int64_t)id, z, len);
  free(z);
  return rc;
}

static int feed_vu(ep *e, int type, int64_t id, uint64_t v) {
  uint8_t b[8];
  return feed_frame(e, type, id, b, put_vu(b, v, 0));
}

/* The reference client's Initialize (max_uni 1, idle 30 s, window 65536,
 * frame 32768). */
static const uint8_t ref_init[] = {0x01, 0x5D, 0x00, 0x04, 0x10, 0x10, 0x10,
                                   0x02, 0x00, 0x02, 0x00, 0x0C, 0x10, 0x02,
                                   0x00, 0x04, 0x00, 0x08, 0x10, 0xC2, 0xD4,
                                   0x01, 0x00, 0x04, 0x04, 0x04};

static void ref_params(irpc__slic_params *p) {
  irpc__slic_params_default(p);
  p->max_bidi_streams = 0;
  p->max_uni_streams = 1;
}

/* A server connected to the reference client through hand-written bytes. */
static void server_up(ep *sv, const irpc__slic_params *p) {
  assert_irpc_ok(ep_new(sv, 0, p));
  assert_irpc_ok(feed_bytes(sv, ref_init, sizeof(ref_init)));
  assert_int_equal(sv->connected, 1);
  uint8_t out[128];
  assert_true(take(sv, out, sizeof(out)) > 0);
  assert_int_equal(out[0], IRPC__SLIC_INITIALIZE_ACK);
}

/* ---- Handshake ---- */

static void test_initialize_bytes(void **state) {
  (void)state;
  irpc__slic_params p;
  ref_params(&p);
  ep cl;
  assert_irpc_ok(ep_new(&cl, 1, &p));
  uint8_t out[64];
  size_t n = take(&cl, out, sizeof(out));
  assert_int_equal(n, sizeof(ref_init));
  assert_memory_equal(out, ref_init, n);
  assert_int_equal(cl.outputs, 0); /* not from irpc__slic_new */
  ep_free(&cl);
}

static void test_handshake(void **state) {
  (void)state;
  irpc__slic_params cp, sp;
  ref_params(&cp);
  irpc__slic_params_default(&sp);
  sp.idle_timeout_ms = 0;
  sp.initial_window = 4096;
  sp.max_frame_size = 2048;
  ep cl, sv;
  pair(&cl, &sv, &cp, &sp);
  const irpc__slic_params *pp = irpc__slic_peer_params(cl.c);
  assert_int_equal(pp->max_bidi_streams, 100);
  assert_int_equal(pp->max_uni_streams, 101);
  assert_int_equal(pp->idle_timeout_ms, 0);
  assert_int_equal(pp->initial_window, 4096);
  assert_int_equal(pp->max_frame_size, 2048);
  pp = irpc__slic_peer_params(sv.c);
  assert_int_equal(pp->max_bidi_streams, 0);
  assert_int_equal(pp->max_uni_streams, 1);
  assert_int_equal(pp->idle_timeout_ms, 30000);
  /* The server may not open bidirectional streams: the client has none. */
  irpc__slic_stream *s;
  assert_irpc_err(irpc__slic_stream_open(sv.c, 1, &s), IRPC_EBUSY);
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  unpair(&cl, &sv);
}

static void test_new_invalid(void **state) {
  (void)state;
  irpc__slic *c;
  irpc__slic_params p;
  irpc__slic_params_default(&p);
  p.initial_window = 1000;
  assert_irpc_err(irpc__slic_new(&c, 1, &p, &events, NULL), IRPC_EINVAL);
  irpc__slic_params_default(&p);
  p.max_frame_size = 16777216;
  assert_irpc_err(irpc__slic_new(&c, 1, &p, &events, NULL), IRPC_EINVAL);
  irpc__slic_params_default(&p);
  p.max_pending_output = 0;
  assert_irpc_err(irpc__slic_new(&c, 0, &p, &events, NULL), IRPC_EINVAL);
  irpc__slic_params_default(&p);
  p.idle_timeout_ms = UINT64_C(1) << 31;
  assert_irpc_err(irpc__slic_new(&c, 0, &p, &events, NULL), IRPC_EINVAL);
  assert_irpc_ok(irpc__slic_new(&c, 0, NULL, NULL, NULL));
  irpc__slic_free(c);
  irpc__slic_free(NULL);
}

static void test_version_negotiation(void **state) {
  (void)state;
  ep sv;
  assert_irpc_ok(ep_new(&sv, 0, NULL));
  /* Version 2 with a body the server skips. */
  const uint8_t v2[] = {0x01, 0x09, 0x00, 0x08, 0xAA};
  assert_irpc_ok(feed_bytes(&sv, v2, sizeof(v2)));
  uint8_t out[128];
  size_t n = take(&sv, out, sizeof(out));
  const uint8_t version[] = {0x03, 0x09, 0x00, 0x04, 0x04};
  assert_int_equal(n, sizeof(version));
  assert_memory_equal(out, version, n);
  assert_int_equal(sv.connected, 0);
  assert_int_equal(sv.outputs, 1);
  /* The client tries again with version 1. */
  assert_irpc_ok(feed_bytes(&sv, ref_init, sizeof(ref_init)));
  assert_int_equal(sv.connected, 1);
  assert_int_equal(take(&sv, out, sizeof(out)) > 0, 1);
  assert_int_equal(out[0], IRPC__SLIC_INITIALIZE_ACK);
  ep_free(&sv);

  /* An unknown version twice is a protocol error. */
  assert_irpc_ok(ep_new(&sv, 0, NULL));
  assert_irpc_ok(feed_bytes(&sv, v2, sizeof(v2)));
  assert_irpc_err(feed_bytes(&sv, v2, sizeof(v2)), IRPC_EPROTO);
  assert_int_equal(sv.closed_err, IRPC_EPROTO);
  ep_free(&sv);

  /* The client leaves instead: refused. */
  assert_irpc_ok(ep_new(&sv, 0, NULL));
  assert_irpc_ok(feed_bytes(&sv, v2, sizeof(v2)));
  d_feed_eof(sv.c);
  assert_int_equal(sv.closed_count, 1);
  assert_int_equal(sv.closed_err, UV_ECONNREFUSED);
  assert_true(irpc__slic_finished(sv.c));
  ep_free(&sv);

  /* Client side: Version [2] refuses; Version [1] is a protocol error. */
  ep cl;
  assert_irpc_ok(ep_new(&cl, 1, NULL));
  const uint8_t only2[] = {0x03, 0x09, 0x00, 0x04, 0x08};
  assert_irpc_err(feed_bytes(&cl, only2, sizeof(only2)), UV_ECONNREFUSED);
  assert_int_equal(cl.closed_count, 1);
  assert_int_equal(cl.closed_err, UV_ECONNREFUSED);
  assert_irpc_err(feed_bytes(&cl, only2, sizeof(only2)), IRPC_ECLOSED);
  ep_free(&cl);
  assert_irpc_ok(ep_new(&cl, 1, NULL));
  assert_irpc_err(feed_bytes(&cl, version, sizeof(version)), IRPC_EPROTO);
  ep_free(&cl);
  /* Anything but InitializeAck or Version during the handshake. */
  assert_irpc_ok(ep_new(&cl, 1, NULL));
  assert_irpc_err(feed_vu(&cl, IRPC__SLIC_CLOSE, -1, 0), IRPC_EPROTO);
  ep_free(&cl);
  assert_irpc_ok(ep_new(&sv, 0, NULL));
  assert_irpc_err(feed_data(&sv, IRPC__SLIC_STREAM, 0, 1), IRPC_EPROTO);
  ep_free(&sv);
}

/* Initialize with the given parameter bytes. */
static int init_with(ep *sv, const uint8_t *params, size_t len) {
  uint8_t body[128];
  body[0] = 0x04;
  memcpy(body + 1, params, len);
  assert_irpc_ok(ep_new(sv, 0, NULL));
  return feed_frame(sv, IRPC__SLIC_INITIALIZE, -1, body, len + 1);
}

static size_t param(uint8_t *p, uint64_t key, uint64_t v, size_t w) {
  size_t n = put_vu(p, key, 1);
  uint8_t val[8];
  size_t vl = put_vu(val, v, w);
  n += put_vu(p + n, vl, 1);
  memcpy(p + n, val, vl);
  return n + vl;
}

static void check_params(uint64_t frame_size, uint64_t window, int idle,
                         uint64_t idle_v, int extra, int want) {
  uint8_t p[128];
  size_t n = 1;
  int count = 0;
  if (frame_size) {
    n += param(p + n, IRPC__SLIC_P_MAX_FRAME, frame_size, 0);
    count++;
  }
  if (window) {
    n += param(p + n, IRPC__SLIC_P_INITIAL_WINDOW, window, 8);
    count++;
  }
  if (idle) {
    n += param(p + n, IRPC__SLIC_P_IDLE_TIMEOUT, idle_v, 0);
    count++;
  }
  if (extra == 1) { /* unknown key: ignored */
    n += param(p + n, 9, 1234, 0);
    count++;
  } else if (extra == 2) { /* duplicate */
    n += param(p + n, IRPC__SLIC_P_MAX_FRAME, 4096, 0);
    count++;
  }
  p[0] = (uint8_t)(count << 2);
  if (extra == 3) /* trailing byte */
    p[n++] = 0;
  ep sv;
  int rc = init_with(&sv, p, n);
  assert_irpc_err(rc, want);
  assert_int_equal(sv.connected, want == 0);
  assert_int_equal(sv.closed_count, want != 0);
  ep_free(&sv);
}

static void test_parameters(void **state) {
  (void)state;
  check_params(32768, 65536, 1, 1000, 0, 0);
  check_params(32768, 65536, 0, 0, 1, 0);
  check_params(0, 65536, 0, 0, 0, IRPC_EPROTO);
  check_params(32768, 0, 0, 0, 0, IRPC_EPROTO);
  check_params(1023, 65536, 0, 0, 0, IRPC_EPROTO);
  check_params(32768, 1023, 0, 0, 0, IRPC_EPROTO);
  check_params(16777216, 65536, 0, 0, 0, IRPC_ELIMIT);
  check_params(32768, UINT64_C(1) << 31, 0, 0, 0, IRPC_ELIMIT);
  check_params(32768, 65536, 1, 0, 0, IRPC_EPROTO);
  check_params(32768, 65536, 0, 0, 2, IRPC_EPROTO);
  check_params(32768, 65536, 0, 0, 3, IRPC_EPROTO);
}

/* ---- Streams ---- */

static void test_stream_ids(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  irpc__slic_stream *b1, *b2, *u1, *u2;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &b1));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &b2));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &u1));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &u2));
  assert_true(irpc__slic_stream_id(b1) == UINT64_MAX);
  assert_false(irpc__slic_stream_remote(b1));
  write_str(b2, "b2", 0);
  write_str(b1, "b1", 0);
  write_str(u2, "u2", 0);
  write_str(u1, "u1", 0);
  assert_int_equal(irpc__slic_stream_id(b2), 0);
  assert_int_equal(irpc__slic_stream_id(b1), 4);
  assert_int_equal(irpc__slic_stream_id(u2), 2);
  assert_int_equal(irpc__slic_stream_id(u1), 6);
  run(&cl, &sv);
  assert_string_equal(sv.trace, "SRSRSRSR");
  irpc__slic_stream *s1, *s2, *s3, *s4;
  assert_irpc_ok(irpc__slic_stream_open(sv.c, 1, &s1));
  assert_irpc_ok(irpc__slic_stream_open(sv.c, 0, &s2));
  assert_irpc_ok(irpc__slic_stream_open(sv.c, 1, &s3));
  assert_irpc_ok(irpc__slic_stream_open(sv.c, 0, &s4));
  write_str(s1, "x", 0);
  write_str(s2, "x", 0);
  write_str(s3, "x", 0);
  write_str(s4, "x", 0);
  assert_int_equal(irpc__slic_stream_id(s1), 1);
  assert_int_equal(irpc__slic_stream_id(s2), 3);
  assert_int_equal(irpc__slic_stream_id(s3), 5);
  assert_int_equal(irpc__slic_stream_id(s4), 7);
  run(&cl, &sv);
  assert_non_null(cl.accepted);
  assert_int_equal(irpc__slic_stream_id(cl.accepted), 7);
  assert_true(irpc__slic_stream_remote(cl.accepted));
  assert_false(irpc__slic_stream_bidi(cl.accepted));
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  unpair(&cl, &sv);
}

/* A request and a response: the server's StreamReadsClosed goes right
 * after its StreamLast, and both streams are released. */
static void test_request_response(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  sv.auto_read = cl.auto_read = 1;
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  cl.mine = s;
  cl.live++;
  write_str(s, "hello", 1);
  sniff up = {0}, down = {0};
  while (xfer(&cl, &sv, &up))
    ;
  expect_sink(&sv, "hello");
  irpc__slic_stream *r = sv.accepted;
  assert_non_null(r);
  assert_true(irpc__slic_stream_read_done(r));
  assert_int_equal(sv.released, 0); /* its writes are still open */
  write_str(r, "world", 1);
  assert_int_equal(sv.released, 1); /* the remote stream's writes closed */
  assert_null(sv.accepted);
  while (xfer(&sv, &cl, &down))
    ;
  expect_sink(&cl, "world");
  /* StreamLast ('i') then the deferred StreamReadsClosed ('j'). */
  assert_string_equal(down.types, "ij");
  assert_string_equal(up.types, "i");
  assert_int_equal(cl.released, 1);
  assert_int_equal(cl.slots[1], 1);
  assert_null(cl.mine);
  run(&cl, &sv);
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  free(up.buf);
  free(down.buf);
  unpair(&cl, &sv);
}

/* 8 MiB one way through a small window: frames never exceed the peer's
 * max frame size, and unacknowledged data never exceeds the window. */
static void test_flow_control(void **state) {
  (void)state;
  irpc__slic_params cp, sp;
  irpc__slic_params_default(&cp);
  irpc__slic_params_default(&sp);
  sp.initial_window = 40000;
  sp.max_frame_size = 5000;
  ep cl, sv;
  pair(&cl, &sv, &cp, &sp);
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &s));
  size_t total = 8u << 20;
  uint8_t *data = malloc(total);
  for (size_t i = 0; i < total; i++)
    data[i] = (uint8_t)(i * 7 + (i >> 13));
  irpc_buf b;
  irpc__buf_init(&b);
  assert_irpc_ok(irpc_buf_append(&b, data, total));
  assert_irpc_ok(d_stream_write(s, &b, 1));
  irpc__buf_fini(&b);
  sniff up = {0}, down = {0};
  size_t got = 0;
  int rounds = 0;
  while (got < total) {
    xfer(&cl, &sv, &up);
    assert_true(up.max_data <= 5000);
    assert_true(up.data_bytes <= 40000 + down.updates);
    irpc__slic_stream *r = sv.accepted;
    assert_non_null(r);
    irpc_buf in;
    irpc__buf_init(&in);
    size_t n = d_stream_read(r, &in, 7000);
    uint8_t *tmp = malloc(n + 1);
    irpc_buf_copyout(&in, 0, tmp, n);
    assert_memory_equal(tmp, data + got, n);
    free(tmp);
    irpc__buf_fini(&in);
    got += n;
    xfer(&sv, &cl, &down);
    assert_true(++rounds < 100000);
  }
  run(&cl, &sv);
  assert_int_equal(up.data_bytes, total);
  assert_true(down.updates >= total - 40000);
  assert_int_equal(sv.released, 1);
  assert_int_equal(cl.slots[0], 1); /* the peer's StreamReadsClosed */
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  free(data);
  free(up.buf);
  free(down.buf);
  unpair(&cl, &sv);
}

/* Whether the first n bytes of b hold the string s. */
static int buf_contains(const irpc_buf *b, size_t n, const char *s) {
  size_t len = strlen(s);
  uint8_t *all = malloc(n);
  irpc_buf_copyout(b, 0, all, n);
  int found = 0;
  for (size_t i = 0; i + len <= n; i++)
    found |= memcmp(all + i, s, len) == 0;
  free(all);
  return found;
}

/* A big stream does not hold back a small one written after it. */
static void test_round_robin(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  irpc__slic_stream *big, *small;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &big));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &small));
  irpc_buf b;
  irpc__buf_init(&b);
  uint8_t *z = calloc(1, 1 << 20);
  assert_irpc_ok(irpc_buf_append(&b, z, 1 << 20));
  free(z);
  cl.outputs = 0;
  assert_irpc_ok(d_stream_write(big, &b, 1));
  assert_int_equal(cl.outputs, 1);
  write_str(small, "tiny", 1);
  assert_int_equal(cl.outputs, 1); /* once per empty to non-empty */
  irpc__buf_fini(&b);
  irpc_buf out;
  irpc__buf_init(&out);
  size_t n = d_take_output(cl.c, &out);
  /* Framed while less than 64 KiB was pending: two frames of the big
   * stream (32 KiB each); the small one's turn comes in the next take. */
  assert_true(n <= 65536 + 32768 + 16);
  irpc_buf_clear(&out);
  n = d_take_output(cl.c, &out);
  assert_true(buf_contains(&out, n, "tiny"));
  irpc__buf_fini(&out);
  unpair(&cl, &sv);
}

/* A connected pair whose windows (8 MiB) and frames (1 MiB) are larger
 * than the output's bound; `p` gets their parameters. */
static void pair_large(ep *cl, ep *sv, irpc__slic_params *p) {
  irpc__slic_params_default(p);
  p->initial_window = 8u << 20;
  p->max_frame_size = 1u << 20;
  pair(cl, sv, p, p);
}

/* Writes `n` zero bytes to `s`, ending it when `last`. */
static void write_zeros(irpc__slic_stream *s, size_t n, int last) {
  irpc_buf b;
  irpc__buf_init(&b);
  uint8_t *z = calloc(1, n);
  assert_irpc_ok(irpc_buf_append(&b, z, n));
  free(z);
  assert_irpc_ok(d_stream_write(s, &b, last));
  irpc__buf_fini(&b);
}

/* Takes output until there is none; returns how much. */
static size_t take_all(irpc__slic *c, irpc_buf *out) {
  size_t n, total = 0;
  while ((n = d_take_output(c, out)) > 0)
    total += n;
  return total;
}

/* With frames and windows larger than the output's bound, a stream's turn
 * is still one quantum (max_pending_output): a small stream written after
 * a big one waits behind at most that much of it. */
static void test_quantum(void **state) {
  (void)state;
  irpc__slic_params p;
  ep cl, sv;
  pair_large(&cl, &sv, &p);
  irpc__slic_stream *big, *small;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &big));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &small));
  write_zeros(big, 4 << 20, 1);
  write_str(small, "tiny", 1);
  irpc_buf out;
  irpc__buf_init(&out);
  size_t n = d_take_output(cl.c, &out);
  assert_true(n <= p.max_pending_output + 16); /* one frame of the big one */
  irpc_buf_clear(&out);
  n = d_take_output(cl.c, &out);
  assert_true(n <= 2 * p.max_pending_output + 32);
  assert_true(buf_contains(&out, n, "tiny"));
  irpc__buf_fini(&out);
  unpair(&cl, &sv);
}

/* Once turns are counted, a stream frames one quantum a turn while another
 * stream has output: the rest waits for the next turn, a stream written
 * meanwhile goes out in the same turn, and an aborted stream leaves the
 * paced ring. */
static void test_turn_pacing(void **state) {
  (void)state;
  irpc__slic_params p;
  ep cl, sv;
  pair_large(&cl, &sv, &p);
  irpc__slic_stream *big, *small, *other;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &big));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &small));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &other));
  irpc__slic_set_turn(cl.c, 1);
  write_zeros(big, 1 << 20, 1);
  write_zeros(other, 1 << 20, 0);
  irpc_buf out;
  irpc__buf_init(&out);
  size_t share = p.max_pending_output;
  size_t turn1 = take_all(cl.c, &out);
  /* two streams, a quantum each, and their frame headers */
  assert_true(turn1 >= 2 * share && turn1 <= 2 * share + 64);
  assert_true(irpc__slic_paced(cl.c));
  write_str(small, "tiny", 1);
  irpc_buf_clear(&out);
  size_t n = d_take_output(cl.c, &out);
  assert_true(n > 0 && n < 64);
  assert_true(buf_contains(&out, n, "tiny"));
  assert_int_equal(d_take_output(cl.c, &out), 0);
  irpc__slic_stream_abort_write(other);
  irpc__slic_set_turn(cl.c, 2);
  irpc_buf_clear(&out);
  size_t turn2 = take_all(cl.c, &out);
  assert_true(turn2 >= share && turn2 <= share + 64); /* big alone */
  /* the rest of big goes out turn after turn, and nothing is left paced */
  for (uint64_t t = 3; t < 64 && irpc__slic_paced(cl.c); t++) {
    irpc__slic_set_turn(cl.c, t);
    irpc_buf_clear(&out);
    take_all(cl.c, &out);
  }
  assert_false(irpc__slic_paced(cl.c));
  irpc__buf_fini(&out);
  unpair(&cl, &sv);
}

/* A stream alone on its connection frames 16 quanta (1 MiB) a turn. */
static void test_turn_pacing_alone(void **state) {
  (void)state;
  irpc__slic_params p;
  ep cl, sv;
  pair_large(&cl, &sv, &p);
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &s));
  irpc__slic_set_turn(cl.c, 1);
  write_zeros(s, 3 << 20, 1);
  irpc_buf out;
  irpc__buf_init(&out);
  size_t share = 16 * p.max_pending_output;
  for (uint64_t t = 1; t <= 3; t++) {
    irpc__slic_set_turn(cl.c, t);
    size_t sent = take_all(cl.c, &out);
    assert_true(sent >= share && sent <= share + 16 * 16);
    assert_int_equal(irpc__slic_paced(cl.c), t < 3);
    irpc_buf_clear(&out);
  }
  irpc__buf_fini(&out);
  unpair(&cl, &sv);
}

/* ---- Writable notification ---- */

/* A producer that writes a long stream piece by piece, each time the
 * stream drains below the watermark: bytes i*31+(i>>16). */
static size_t prod_total, prod_piece, prod_written, prod_max_queued;

static void produce_piece(irpc__slic_stream *s) {
  size_t n = prod_total - prod_written < prod_piece ? prod_total - prod_written
                                                    : prod_piece;
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) {
    size_t at = prod_written + i;
    p[i] = (uint8_t)(at * 31 + (at >> 16));
  }
  irpc_buf b;
  irpc__buf_init(&b);
  assert_irpc_ok(irpc_buf_append(&b, p, n));
  free(p);
  prod_written += n;
  int last = prod_written == prod_total;
  assert_irpc_ok(d_stream_write(s, &b, last));
  irpc__buf_fini(&b);
  if (irpc__slic_stream_queued(s) > prod_max_queued)
    prod_max_queued = irpc__slic_stream_queued(s);
}

/* Writes pieces up to the watermark, then asks to be told. */
static void produce(irpc__slic_stream *s) {
  while (prod_written < prod_total &&
         irpc__slic_stream_queued(s) < writable_low)
    produce_piece(s);
  if (prod_written < prod_total)
    irpc__slic_stream_notify_writable(s, writable_low);
}

/* 4 MiB written only as the stream drains: never more than the watermark
 * plus one piece queued, every byte through in order, and the calls come
 * one at a time from the end of the engine's calls. */
static void test_writable_producer(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  sv.auto_read = 1;
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  writable_low = 256 << 10;
  prod_total = 4u << 20;
  prod_piece = 100000;
  prod_written = prod_max_queued = 0;
  cl.produce = produce;
  produce(s);
  assert_int_equal(cl.writable, 0);
  int rounds = 0;
  while (!sv.accepted || !irpc__slic_stream_read_done(sv.accepted)) {
    assert_true(xfer(&cl, &sv, NULL) + xfer(&sv, &cl, NULL) > 0);
    assert_true(++rounds < 10000);
  }
  assert_int_equal(prod_written, prod_total);
  assert_true(prod_max_queued < writable_low + prod_piece);
  /* About one call per 64 KiB framed (the output taken at a time). */
  assert_true(cl.writable >= (int)(prod_total / (2 * prod_piece)));
  assert_int_equal(irpc_buf_len(&sv.sink), prod_total);
  uint8_t *got = malloc(prod_total);
  irpc_buf_copyout(&sv.sink, 0, got, prod_total);
  for (size_t i = 0; i < prod_total; i++)
    if (got[i] != (uint8_t)(i * 31 + (i >> 16)))
      fail_msg("byte %zu differs", i);
  free(got);
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  unpair(&cl, &sv);
}

/* When the call comes, and when it does not. */
static void test_writable_rules(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  writable_low = 1u << 20;
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  write_zeros(s, 200000, 0); /* 64 KiB framed at once, the rest queued */
  size_t queued = irpc__slic_stream_queued(s);
  assert_true(queued > 0 && queued < writable_low);
  /* Already below: not from inside the request, but when the next
   * outermost call returns; once per request. */
  irpc__slic_stream_notify_writable(s, writable_low);
  assert_int_equal(cl.writable, 0);
  assert_int_equal(irpc__slic_stream_queued(s), queued);
  irpc_buf out;
  irpc__buf_init(&out);
  d_take_output(cl.c, &out);
  assert_int_equal(cl.writable, 1);
  d_take_output(cl.c, &out);
  assert_int_equal(cl.writable, 1);
  /* Withdrawn: no call. */
  irpc__slic_stream_notify_writable(s, writable_low);
  irpc__slic_stream_notify_writable(s, 0);
  d_take_output(cl.c, &out);
  assert_int_equal(cl.writable, 1);
  /* Asked, then the writes end (StreamLast queued): no call. */
  irpc__slic_stream_notify_writable(s, writable_low);
  write_zeros(s, 10, 1);
  d_take_output(cl.c, &out);
  assert_int_equal(cl.writable, 1);
  /* A stream released while its call is due: no call, nothing left
   * pointing at it (ASan). */
  irpc__slic_stream *t;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &t));
  write_zeros(t, 1000, 0);
  irpc__slic_stream_notify_writable(t, writable_low);
  d_abort(cl.c, 0);
  assert_int_equal(cl.writable, 1);
  assert_int_equal(cl.closed_count, 1);
  irpc__buf_fini(&out);
  unpair(&cl, &sv);
}

static void test_stream_limits(void **state) {
  (void)state;
  irpc__slic_params sp;
  irpc__slic_params_default(&sp);
  sp.max_bidi_streams = 2;
  sp.max_uni_streams = 1;
  ep cl, sv;
  pair(&cl, &sv, NULL, &sp);
  sv.auto_read = cl.auto_read = 1;
  irpc__slic_stream *a, *b, *c, *u, *u2;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &a));
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &b));
  assert_irpc_err(irpc__slic_stream_open(cl.c, 1, &c), IRPC_EBUSY);
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &u));
  assert_irpc_err(irpc__slic_stream_open(cl.c, 0, &u2), IRPC_EBUSY);
  /* An unused stream frees its slot once both sides are aborted. */
  d_stream_abort_write(b);
  assert_int_equal(cl.slots[1], 0);
  d_stream_abort_read(b);
  assert_int_equal(cl.slots[1], 1);
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &c));
  assert_irpc_err(irpc__slic_stream_open(cl.c, 1, &b), IRPC_EBUSY);
  /* A one-way stream frees its slot on the peer's StreamReadsClosed. */
  write_str(u, "oneway", 1);
  assert_int_equal(cl.slots[0], 0);
  run(&cl, &sv);
  expect_sink(&sv, "oneway");
  assert_int_equal(cl.slots[0], 1);
  assert_int_equal(sv.released, 1);
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 0, &u2));
  /* The request/response on a frees the bidirectional slot. */
  write_str(a, "q", 1);
  run(&cl, &sv);
  write_str(sv.accepted, "r", 1);
  run(&cl, &sv);
  assert_int_equal(cl.slots[1], 2);
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  unpair(&cl, &sv);
}

static void test_stream_aborts(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  write_str(s, "partial", 0);
  run(&cl, &sv);
  irpc__slic_stream *r = sv.accepted;
  assert_int_equal(irpc__slic_stream_readable(r), 7);
  /* The client aborts its writes: the server's reads are truncated. */
  d_stream_abort_write(s);
  assert_irpc_err(d_stream_write(s, NULL, 1), IRPC_ECLOSED);
  run(&cl, &sv);
  assert_int_equal(sv.errors, 1);
  assert_int_equal(sv.last_error, IRPC_ETRUNCATED);
  assert_int_equal(irpc__slic_stream_readable(r), 0);
  assert_false(irpc__slic_stream_read_done(r));
  /* The server stops reading a stream the client still writes to. */
  irpc__slic_stream *t;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &t));
  write_str(t, "more", 0);
  run(&cl, &sv);
  irpc__slic_stream *r2 = sv.accepted;
  assert_ptr_not_equal(r2, r);
  d_stream_abort_read(r2);
  run(&cl, &sv);
  assert_int_equal(cl.errors, 1);
  assert_int_equal(cl.last_error, UV_EPIPE);
  assert_irpc_err(d_stream_write(t, NULL, 1), IRPC_ECLOSED);
  /* Reads aborted before the first write: StreamReadsClosed follows the
   * first frame, which closes the peer's writes; once the peer read the
   * request, its StreamReadsClosed releases the stream. */
  irpc__slic_stream *w;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &w));
  d_stream_abort_read(w);
  cl.released = 0;
  write_str(w, "no reply wanted", 1);
  sniff up = {0};
  xfer(&cl, &sv, &up);
  assert_string_equal(up.types, "ij");
  irpc__slic_stream *r3 = sv.accepted;
  assert_irpc_err(d_stream_write(r3, NULL, 1), IRPC_ECLOSED);
  irpc_buf in;
  irpc__buf_init(&in);
  assert_int_equal(d_stream_read(r3, &in, SIZE_MAX), 15);
  irpc__buf_fini(&in);
  assert_null(sv.accepted); /* released */
  assert_int_equal(cl.released, 0);
  run(&cl, &sv);
  assert_int_equal(cl.released, 1);
  free(up.buf);
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  unpair(&cl, &sv);
}

/* Frames for released streams are stale and ignored. */
static void test_stale_frames(void **state) {
  (void)state;
  ep sv;
  server_up(&sv, NULL);
  sv.auto_read = 1;
  assert_irpc_ok(feed_data(&sv, IRPC__SLIC_STREAM_LAST, 2, 3));
  assert_int_equal(sv.released, 1);
  assert_irpc_ok(feed_data(&sv, IRPC__SLIC_STREAM, 2, 3));
  assert_irpc_ok(feed_data(&sv, IRPC__SLIC_STREAM_LAST, 2, 0));
  assert_irpc_ok(feed_frame(&sv, IRPC__SLIC_STREAM_WRITES_CLOSED, 2, NULL, 0));
  assert_irpc_ok(feed_frame(&sv, IRPC__SLIC_STREAM_READS_CLOSED, 2, NULL, 0));
  assert_irpc_ok(feed_vu(&sv, IRPC__SLIC_STREAM_WINDOW_UPDATE, 2, 100));
  assert_int_equal(sv.closed_count, 0);
  assert_string_equal(sv.trace, "SRX");
  ep_free(&sv);
}

/* ---- Protocol errors ---- */

typedef int (*attack_fn)(ep *sv);

static void expect_failure(attack_fn fn, const irpc__slic_params *p, int want) {
  ep sv;
  server_up(&sv, p);
  sv.auto_read = 1;
  int rc = fn(&sv);
  assert_irpc_err(rc, want);
  assert_int_equal(sv.closed_count, 1);
  assert_int_equal(sv.closed_err, want);
  assert_int_equal(sv.live_at_close, 0);
  assert_true(irpc__slic_closed(sv.c));
  assert_true(irpc__slic_finished(sv.c));
  assert_false(irpc__slic_want_shutdown(sv.c));
  uint8_t b[8];
  assert_int_equal(take(&sv, b, 0), 0);
  assert_irpc_err(feed_bytes(&sv, b, 1), IRPC_ECLOSED);
  irpc__slic_stream *s;
  assert_irpc_err(irpc__slic_stream_open(sv.c, 0, &s), IRPC_ECLOSED);
  d_tick(sv.c);
  d_close(sv.c, 0);
  d_feed_eof(sv.c);
  assert_int_equal(sv.closed_count, 1);
  ep_free(&sv);
}

static int a_type12(ep *e) {
  const uint8_t f[] = {12};
  return feed_bytes(e, f, 1);
}
static int a_type0(ep *e) {
  const uint8_t f[] = {0, 0};
  return feed_bytes(e, f, 2);
}
static int a_big_control(ep *e) {
  const uint8_t f[] = {IRPC__SLIC_PING, 0x02, 0x00, 0x01, 0x00};
  return feed_bytes(e, f, sizeof(f));
}
static int a_huge_frame(ep *e) {
  const uint8_t f[] = {7, 0x03, 0, 0, 0, 2, 0, 0, 0};
  return feed_bytes(e, f, sizeof(f));
}
static int a_size0(ep *e) {
  const uint8_t f[] = {IRPC__SLIC_STREAM, 0x00, 0x00};
  return feed_bytes(e, f, 2);
}
static int a_empty_stream(ep *e) {
  return feed_data(e, IRPC__SLIC_STREAM, 2, 0);
}
static int a_id_longer_than_frame(ep *e) {
  const uint8_t f[] = {IRPC__SLIC_STREAM, 0x04, 0x01, 0x00};
  return feed_bytes(e, f, sizeof(f));
}
static int a_over_frame(ep *e) {
  return feed_data(e, IRPC__SLIC_STREAM, 2, 2049);
}
static int a_over_window_new(ep *e) {
  return feed_data(e, IRPC__SLIC_STREAM, 2, 1025);
}
static int a_over_window(ep *e) {
  e->auto_read = 0; /* reading would credit the window back */
  int rc = feed_data(e, IRPC__SLIC_STREAM, 0, 1000);
  return rc ? rc : feed_data(e, IRPC__SLIC_STREAM, 0, 100);
}
static int a_wrong_first_id(ep *e) {
  return feed_data(e, IRPC__SLIC_STREAM, 4, 1);
}
static int a_skipped_id(ep *e) {
  int rc = feed_data(e, IRPC__SLIC_STREAM, 2, 1);
  return rc ? rc : feed_data(e, IRPC__SLIC_STREAM, 10, 1);
}
static int a_too_many(ep *e) {
  int rc = feed_data(e, IRPC__SLIC_STREAM, 0, 1);
  return rc ? rc : feed_data(e, IRPC__SLIC_STREAM, 4, 1);
}
static int a_local_uni(ep *e) {
  return feed_data(e, IRPC__SLIC_STREAM, 3, 1);
}
static int a_unknown_local(ep *e) {
  return feed_data(e, IRPC__SLIC_STREAM, 1, 1);
}
static int a_update_overflow(ep *e) {
  int rc = feed_data(e, IRPC__SLIC_STREAM, 0, 1);
  return rc ? rc : feed_vu(e, IRPC__SLIC_STREAM_WINDOW_UPDATE, 0, 2147483647u);
}
static int a_update_unknown(ep *e) {
  return feed_vu(e, IRPC__SLIC_STREAM_WINDOW_UPDATE, 8, 1);
}
static int a_update_uni(ep *e) {
  int rc = feed_data(e, IRPC__SLIC_STREAM, 2, 1);
  return rc ? rc : feed_vu(e, IRPC__SLIC_STREAM_WINDOW_UPDATE, 2, 1);
}
static int a_update_empty(ep *e) {
  int rc = feed_data(e, IRPC__SLIC_STREAM, 0, 1);
  return rc ? rc : feed_frame(e, IRPC__SLIC_STREAM_WINDOW_UPDATE, 0, NULL, 0);
}
static int a_reads_closed_body(ep *e) {
  const uint8_t x = 0;
  int rc = feed_data(e, IRPC__SLIC_STREAM, 0, 1);
  return rc ? rc : feed_frame(e, IRPC__SLIC_STREAM_READS_CLOSED, 0, &x, 1);
}
static int a_reads_closed_unknown(ep *e) {
  return feed_frame(e, IRPC__SLIC_STREAM_WRITES_CLOSED, 0, NULL, 0);
}
static int a_ping_short(ep *e) {
  const uint8_t p[7] = {0};
  return feed_frame(e, IRPC__SLIC_PING, -1, p, 7);
}
static int a_pong(ep *e) {
  const uint8_t p[8] = {0};
  return feed_frame(e, IRPC__SLIC_PONG, -1, p, 8);
}
static int a_pings(ep *e) {
  const uint8_t p[8] = {0};
  int rc = 0;
  for (int i = 0; i < 3 && !rc; i++)
    rc = feed_frame(e, IRPC__SLIC_PING, -1, p, 8);
  return rc;
}
static int a_initialize_again(ep *e) {
  return feed_bytes(e, ref_init, sizeof(ref_init));
}
static int a_ack(ep *e) {
  return feed_frame(e, IRPC__SLIC_INITIALIZE_ACK, -1, ref_init + 4, 22);
}
static int a_close_trailing(ep *e) {
  const uint8_t b[] = {0, 0};
  return feed_frame(e, IRPC__SLIC_CLOSE, -1, b, 2);
}

static void test_protocol_errors(void **state) {
  (void)state;
  irpc__slic_params p;
  irpc__slic_params_default(&p);
  p.max_bidi_streams = 1;
  p.max_uni_streams = 2;
  p.initial_window = 1024;
  p.max_frame_size = 2048;
  p.max_outstanding_pongs = 2;
  expect_failure(a_type12, &p, IRPC_EPROTO);
  expect_failure(a_type0, &p, IRPC_EPROTO);
  expect_failure(a_big_control, &p, IRPC_ELIMIT);
  expect_failure(a_huge_frame, &p, IRPC_ELIMIT);
  expect_failure(a_size0, &p, IRPC_EPROTO);
  expect_failure(a_empty_stream, &p, IRPC_EPROTO);
  expect_failure(a_id_longer_than_frame, &p, IRPC_EPROTO);
  expect_failure(a_over_frame, &p, IRPC_ELIMIT);
  expect_failure(a_over_window_new, &p, IRPC_EPROTO);
  expect_failure(a_over_window, &p, IRPC_EPROTO);
  expect_failure(a_wrong_first_id, &p, IRPC_EPROTO);
  expect_failure(a_skipped_id, &p, IRPC_EPROTO);
  expect_failure(a_too_many, &p, IRPC_EPROTO);
  expect_failure(a_local_uni, &p, IRPC_EPROTO);
  expect_failure(a_unknown_local, &p, IRPC_EPROTO);
  expect_failure(a_update_overflow, &p, IRPC_EPROTO);
  expect_failure(a_update_unknown, &p, IRPC_EPROTO);
  expect_failure(a_update_uni, &p, IRPC_EPROTO);
  expect_failure(a_update_empty, &p, IRPC_EPROTO);
  expect_failure(a_reads_closed_body, &p, IRPC_EPROTO);
  expect_failure(a_reads_closed_unknown, &p, IRPC_EPROTO);
  expect_failure(a_ping_short, &p, IRPC_EPROTO);
  expect_failure(a_pong, &p, IRPC_EPROTO);
  expect_failure(a_pings, &p, IRPC_ELIMIT);
  expect_failure(a_initialize_again, &p, IRPC_EPROTO);
  expect_failure(a_ack, &p, IRPC_EPROTO);
  expect_failure(a_close_trailing, &p, IRPC_EPROTO);
}

/* ---- Idle timeout, Ping and Pong ---- */

static void test_ping_pong(void **state) {
  (void)state;
  irpc__slic_params p;
  irpc__slic_params_default(&p);
  p.idle_timeout_ms = 1000;
  clock_ms = 10000;
  ep cl, sv;
  pair(&cl, &sv, &p, &p);
  /* Connected at 10000: read ping at +500, write ping at +600. */
  assert_int_equal(irpc__slic_next_deadline(cl.c), 10500);
  assert_int_equal(irpc__slic_next_deadline(sv.c), 11000);
  clock_ms = 10499;
  d_tick(cl.c);
  uint8_t out[64];
  assert_int_equal(take(&cl, out, sizeof(out)), 0);
  clock_ms = 10500;
  d_tick(cl.c);
  sniff up = {0}, down = {0};
  xfer(&cl, &sv, &up); /* Ping(1); counts as a write at 10500 */
  assert_string_equal(up.types, "f");
  /* A pong is pending: no read ping, the write ping at 10500 + 600. */
  assert_int_equal(irpc__slic_next_deadline(cl.c), 11000);
  xfer(&sv, &cl, &down);
  assert_string_equal(down.types, "g");
  /* The Pong was a read at 10500: read ping at 11000, write at 11100. */
  assert_int_equal(irpc__slic_next_deadline(cl.c), 11000);
  clock_ms = 11000;
  d_tick(cl.c);
  run(&cl, &sv);
  clock_ms = 11600;
  d_tick(cl.c); /* write ping (payload 0) */
  xfer(&cl, &sv, &up);
  xfer(&sv, &cl, &down);
  assert_string_equal(up.types, "fff");
  assert_string_equal(down.types, "ggg");
  assert_int_equal(cl.closed_count + sv.closed_count, 0);
  /* A Pong with a payload we never send. */
  clock_ms = 12100;
  d_tick(cl.c);
  assert_true(take(&cl, out, sizeof(out)) > 0);
  uint8_t bad[8] = {2};
  assert_irpc_err(feed_frame(&cl, IRPC__SLIC_PONG, -1, bad, 8), IRPC_EPROTO);
  assert_int_equal(cl.closed_err, IRPC_EPROTO);
  free(up.buf);
  free(down.buf);
  unpair(&cl, &sv);

  /* The server never pings, and a client Pong nobody asked for fails. */
  pair(&cl, &sv, &p, &p);
  clock_ms += 700;
  d_tick(sv.c);
  assert_int_equal(take(&sv, out, sizeof(out)), 0);
  uint8_t zero[8] = {0};
  assert_irpc_err(feed_frame(&cl, IRPC__SLIC_PONG, -1, zero, 8), IRPC_EPROTO);
  unpair(&cl, &sv);
  clock_ms = 0;
}

static void test_idle_timeout(void **state) {
  (void)state;
  irpc__slic_params p, inf;
  irpc__slic_params_default(&p);
  irpc__slic_params_default(&inf);
  p.idle_timeout_ms = 1000;
  inf.idle_timeout_ms = 0;
  clock_ms = 0;
  ep cl, sv;
  pair(&cl, &sv, &inf, &p); /* min(infinite, 1000) = 1000 on both */
  assert_int_equal(irpc__slic_next_deadline(sv.c), 1000);
  assert_int_equal(irpc__slic_next_deadline(cl.c), 500);
  clock_ms = 999;
  d_tick(sv.c);
  assert_int_equal(sv.closed_count, 0);
  uint8_t b[8] = {0};
  assert_irpc_ok(feed_frame(&sv, IRPC__SLIC_PING, -1, b, 8)); /* a read */
  assert_int_equal(irpc__slic_next_deadline(sv.c), 1999);
  clock_ms = 1999;
  d_tick(sv.c);
  assert_int_equal(sv.closed_count, 1);
  assert_int_equal(sv.closed_err, IRPC_EIDLE);
  assert_true(irpc__slic_finished(sv.c));
  assert_int_equal(irpc__slic_next_deadline(sv.c), UINT64_MAX);
  unpair(&cl, &sv);

  pair(&cl, &sv, &inf, &inf);
  assert_int_equal(irpc__slic_next_deadline(sv.c), UINT64_MAX);
  assert_int_equal(irpc__slic_next_deadline(cl.c), UINT64_MAX);
  unpair(&cl, &sv);
  p.idle_timeout_ms = 3000;
  inf.idle_timeout_ms = 500;
  pair(&cl, &sv, &p, &inf);
  assert_int_equal(irpc__slic_next_deadline(sv.c), 1999 + 500);
  unpair(&cl, &sv);
  clock_ms = 0;
}

/* ---- Close ---- */

static void test_close_client_first(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  cl.live++;
  write_str(s, "pending", 0);
  run(&cl, &sv);
  assert_non_null(sv.accepted);
  cl.trace[0] = sv.trace[0] = 0;
  d_close(cl.c, IRPC__SLIC_CLOSE_NO_ERROR);
  d_close(cl.c, IRPC__SLIC_CLOSE_ABORTED); /* idempotent */
  assert_string_equal(cl.trace, "EXC");
  assert_int_equal(cl.closed_err, IRPC_ECLOSED);
  assert_int_equal(cl.live_at_close, 0);
  assert_int_equal(cl.slots[1], 0);
  assert_true(irpc__slic_want_shutdown(cl.c));
  assert_false(irpc__slic_closed(cl.c)); /* Close not taken yet */
  assert_irpc_err(d_stream_write(s, NULL, 1), IRPC_ECLOSED);
  sniff up = {0};
  xfer(&cl, &sv, &up);
  assert_string_equal(up.types, "e");
  assert_true(irpc__slic_closed(cl.c));
  assert_false(irpc__slic_finished(cl.c));
  assert_string_equal(sv.trace, "EXC");
  assert_int_equal(sv.closed_err, IRPC_ECLOSEDBYPEER);
  assert_false(irpc__slic_want_shutdown(sv.c));
  assert_true(irpc__slic_closed(sv.c));
  assert_false(irpc__slic_finished(sv.c));
  /* Bytes after Close are ignored; the client's FIN ends it. */
  assert_irpc_ok(feed_data(&sv, IRPC__SLIC_STREAM, 4, 1));
  d_feed_eof(sv.c);
  assert_true(irpc__slic_want_shutdown(sv.c));
  assert_true(irpc__slic_finished(sv.c));
  d_feed_eof(cl.c);
  assert_true(irpc__slic_finished(cl.c));
  assert_int_equal(cl.closed_count, 1);
  assert_int_equal(sv.closed_count, 1);
  free(up.buf);
  unpair(&cl, &sv);
}

static void check_server_close(uint64_t code, int want) {
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  d_close(sv.c, code);
  assert_int_equal(sv.closed_err, IRPC_ECLOSED);
  assert_false(irpc__slic_want_shutdown(sv.c)); /* waits for the client */
  run(&cl, &sv);
  assert_int_equal(cl.closed_count, 1);
  assert_int_equal(cl.closed_err, want);
  assert_true(irpc__slic_want_shutdown(cl.c));
  d_feed_eof(sv.c);
  assert_true(irpc__slic_want_shutdown(sv.c));
  assert_true(irpc__slic_finished(sv.c));
  unpair(&cl, &sv);
}

static void test_close_codes(void **state) {
  (void)state;
  check_server_close(IRPC__SLIC_CLOSE_NO_ERROR, IRPC_ECLOSEDBYPEER);
  check_server_close(IRPC__SLIC_CLOSE_ABORTED, UV_ECONNABORTED);
  check_server_close(IRPC__SLIC_CLOSE_REFUSED, UV_ECONNREFUSED);
  check_server_close(IRPC__SLIC_CLOSE_SERVER_BUSY, IRPC_ESERVERBUSY);
  check_server_close(77, UV_ECONNABORTED);
}

static void test_eof_and_abort(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  d_feed_eof(sv.c);
  assert_int_equal(sv.closed_err, UV_ECONNRESET);
  assert_false(irpc__slic_want_shutdown(sv.c));
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  cl.live++;
  write_str(s, "dropped", 1);
  d_abort(cl.c, UV_ECONNRESET);
  d_abort(cl.c, UV_EPIPE);
  assert_int_equal(cl.closed_count, 1);
  assert_int_equal(cl.closed_err, UV_ECONNRESET);
  assert_int_equal(cl.live_at_close, 0);
  assert_true(irpc__slic_finished(cl.c));
  uint8_t b[8];
  assert_int_equal(take(&cl, b, 0), 0);
  unpair(&cl, &sv);
  /* Close before the handshake ended. */
  assert_irpc_ok(ep_new(&cl, 1, NULL));
  d_close(cl.c, 0);
  assert_int_equal(cl.closed_err, IRPC_ECLOSED);
  assert_true(irpc__slic_finished(cl.c));
  ep_free(&cl);
}

/* ---- Input in 1-byte pieces ---- */

static void test_fragments(void **state) {
  (void)state;
  fragment = 1;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  cl.auto_read = sv.auto_read = 1;
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  write_str(s, "split into single bytes", 1);
  run(&cl, &sv);
  expect_sink(&sv, "split into single bytes");
  write_str(sv.accepted, "and back", 1);
  run(&cl, &sv);
  expect_sink(&cl, "and back");
  assert_int_equal(cl.released, 1);
  assert_int_equal(sv.released, 1);
  fragment = 0;
  unpair(&cl, &sv);
}

/* ---- Allocation failures ---- */

/* Handshake and one request/response; 1 if it went all the way. */
static int scenario(void) {
  ep cl, sv;
  int done = 0;
  memset(&sv, 0, sizeof(sv));
  if (ep_new(&cl, 1, NULL))
    return 0;
  if (ep_new(&sv, 0, NULL))
    goto out;
  cl.auto_read = sv.auto_read = 1;
  run(&cl, &sv);
  if (!cl.connected || !sv.connected)
    goto out;
  irpc__slic_stream *s;
  if (irpc__slic_stream_open(cl.c, 1, &s))
    goto out;
  cl.mine = s;
  irpc_buf b;
  irpc__buf_init(&b);
  int rc = irpc_buf_append(&b, "request", 7);
  if (rc == 0)
    rc = d_stream_write(s, &b, 1);
  irpc__buf_fini(&b);
  if (rc)
    goto out;
  run(&cl, &sv);
  if (!sv.accepted)
    goto out;
  irpc__buf_init(&b);
  rc = irpc_buf_append(&b, "response", 8);
  if (rc == 0)
    rc = d_stream_write(sv.accepted, &b, 1);
  irpc__buf_fini(&b);
  if (rc)
    goto out;
  run(&cl, &sv);
  done = irpc_buf_equals(&cl.sink, "response", 8) && cl.released == 1 &&
         cl.closed_count == 0 && sv.closed_count == 0;
out:
  d_close(cl.c, 0);
  ep_free(&cl);
  if (sv.c)
    ep_free(&sv);
  return done;
}

/* A failure inside a stream function (here: no block for the frame header
 * in irpc__slic_stream_write) ends no stream under the caller: the engine
 * is failed at once, and the errors, the release and on_closed come, once
 * each, from the owner's drain after the call returned. */
static void test_failure_in_stream_call(void **state) {
  (void)state;
  ep cl, sv;
  pair(&cl, &sv, NULL, NULL);
  irpc__slic_stream *s;
  assert_irpc_ok(irpc__slic_stream_open(cl.c, 1, &s));
  cl.mine = s;
  cl.live++;
  irpc_buf b;
  irpc__buf_init(&b);
  static char x[] = "x"; /* no headroom: the frame header needs a block */
  assert_irpc_ok(irpc_buf_append_external(&b, x, 1, NULL, NULL));
  int outputs = cl.outputs;
  test_alloc.fail_at = 1; /* that block */
  int rc = irpc__slic_stream_write(s, &b, 1);
  int injected = test_alloc.fail_at == 0;
  test_alloc.fail_at = 0;
  irpc__buf_fini(&b);
  assert_true(injected);
  assert_irpc_ok(rc); /* the data was taken; the engine failed after */
  assert_int_equal(cl.errors, 0);
  assert_int_equal(cl.released, 0);
  assert_int_equal(cl.closed_count, 0);
  assert_true(irpc__slic_ended(cl.c)); /* the drain has it to deliver */
  assert_int_equal(cl.outputs, outputs);
  /* The stream is still valid for its caller until the drain. */
  assert_int_equal(irpc__slic_stream_write(s, NULL, 1), IRPC_ECLOSED);
  assert_true(irpc__slic_stream_released(s));
  irpc_buf out;
  irpc__buf_init(&out);
  assert_int_equal(irpc__slic_take_output(cl.c, &out), 0);
  irpc__buf_fini(&out);
  assert_int_equal(cl.closed_count, 0);
  irpc__slic_drain(cl.c);
  assert_int_equal(cl.errors, 1);
  assert_int_equal(cl.last_error, IRPC_ENOMEM);
  assert_int_equal(cl.released, 1);
  assert_int_equal(cl.closed_count, 1);
  assert_int_equal(cl.closed_err, IRPC_ENOMEM);
  assert_int_equal(cl.live_at_close, 0);
  assert_null(cl.mine);
  assert_int_equal(cl.outputs, outputs); /* nothing to send any more */
  /* Exactly once. */
  irpc__slic_drain(cl.c);
  assert_int_equal(cl.errors, 1);
  assert_int_equal(cl.released, 1);
  assert_int_equal(cl.closed_count, 1);
  unpair(&cl, &sv);
}

static void test_alloc_failures(void **state) {
  (void)state;
  long base = test_alloc.live;
  assert_true(scenario());
  assert_int_equal(test_alloc.live, base);
  int i;
  for (i = 1; i < 1000; i++) {
    test_alloc.fail_at = i;
    int done = scenario();
    int injected = test_alloc.fail_at == 0;
    test_alloc.fail_at = 0;
    assert_int_equal(test_alloc.live, base);
    if (!injected) {
      assert_true(done);
      break;
    }
  }
  assert_true(i > 5 && i < 1000);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_initialize_bytes),
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_new_invalid),
      cmocka_unit_test(test_version_negotiation),
      cmocka_unit_test(test_parameters),
      cmocka_unit_test(test_stream_ids),
      cmocka_unit_test(test_request_response),
      cmocka_unit_test(test_flow_control),
      cmocka_unit_test(test_round_robin),
      cmocka_unit_test(test_quantum),
      cmocka_unit_test(test_turn_pacing),
      cmocka_unit_test(test_turn_pacing_alone),
      cmocka_unit_test(test_writable_producer),
      cmocka_unit_test(test_writable_rules),
      cmocka_unit_test(test_stream_limits),
      cmocka_unit_test(test_stream_aborts),
      cmocka_unit_test(test_stale_frames),
      cmocka_unit_test(test_protocol_errors),
      cmocka_unit_test(test_ping_pong),
      cmocka_unit_test(test_idle_timeout),
      cmocka_unit_test(test_close_client_first),
      cmocka_unit_test(test_close_codes),
      cmocka_unit_test(test_eof_and_abort),
      cmocka_unit_test(test_fragments),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_failure_in_stream_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
