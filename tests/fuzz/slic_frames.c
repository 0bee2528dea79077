/* libFuzzer target for the Slic frame reader.
 *
 * The first byte configures the run:
 *   bit 0     the endpoint under test is the client (else the server);
 *   bits 1-3  the input is fed in pieces of 1, 2, 3, 7, 16, 64, 256 bytes
 *             or all at once;
 *   bit 4     streams are read as soon as they are readable;
 *   bit 5     every new remote stream is answered (and half are aborted);
 *   bit 6     the clock moves 700 ms after each piece (pings, idle);
 *   bit 7     raw: no handshake first, the input starts with it.
 * The rest is what the peer sends. Without bit 7 the endpoint first
 * completes a real handshake with a peer engine in memory.
 *
 * Checks, beyond the sanitizers: no crash, no leak, on_closed at most once
 * and only after every stream was released. */
#include <stdlib.h>
#include <string.h>

#include "base/buf_internal.h"
#include "protocol/icerpc/slic.h"

typedef struct fz {
  irpc__slic *c;
  int cfg;
  int closed;
  long live;
  uint64_t now;
  irpc_buf sink;
} fz;

static void fz_stream(void *ud, irpc__slic_stream *s) {
  fz *f = ud;
  f->live++;
  if (!(f->cfg & 0x20))
    return;
  if (irpc__slic_stream_id(s) & 4) {
    irpc__slic_stream_abort_read(s);
    irpc__slic_stream_abort_write(s);
    return;
  }
  irpc_buf b;
  irpc__buf_init(&b);
  if (irpc_buf_append(&b, "answer", 6) == 0)
    irpc__slic_stream_write(s, &b, 1);
  irpc__buf_fini(&b);
}

static void fz_readable(void *ud, irpc__slic_stream *s) {
  fz *f = ud;
  if (!(f->cfg & 0x10))
    return;
  irpc__slic_stream_read(s, &f->sink, SIZE_MAX);
  irpc_buf_clear(&f->sink);
  (void)irpc__slic_stream_read_done(s);
}

static void fz_released(void *ud, irpc__slic_stream *s) {
  (void)s;
  ((fz *)ud)->live--;
}

static void fz_closed(void *ud, int err) {
  fz *f = ud;
  (void)err;
  if (f->closed++ || f->live != 0)
    abort();
}

static uint64_t fz_now(void *ud) {
  return ((fz *)ud)->now;
}

static const irpc__slic_events fz_events = {
    .on_stream = fz_stream,
    .on_readable = fz_readable,
    .on_stream_released = fz_released,
    .on_closed = fz_closed,
    .now_ms = fz_now,
};

static void small_params(irpc__slic_params *p) {
  irpc__slic_params_default(p);
  p->max_bidi_streams = 4;
  p->max_uni_streams = 4;
  p->idle_timeout_ms = 1000;
  p->initial_window = 1024;
  p->max_frame_size = 1024;
  p->max_pending_output = 2048;
  p->max_outstanding_pongs = 3;
}

/* Bytes in, frame by frame, each frame's events delivered before the
 * next is read. */
static void feed(irpc__slic *c, const uint8_t *p, size_t n) {
  size_t used;
  int rc;
  do {
    rc = irpc__slic_feed(c, p, n, &used);
    p += used;
    n -= used;
    irpc__slic_drain(c);
  } while (rc == 0 && n);
}

static void drain(irpc__slic *c) {
  irpc_buf out;
  irpc__buf_init(&out);
  irpc__slic_drain(c);
  while (irpc__slic_take_output(c, &out)) {
    irpc__slic_drain(c);
    irpc_buf_clear(&out);
  }
  irpc__slic_drain(c);
  irpc__buf_fini(&out);
}

static void move_output(irpc__slic *from, irpc__slic *to) {
  irpc_buf out;
  irpc__buf_init(&out);
  irpc__slic_take_output(from, &out);
  irpc__slic_drain(from);
  for (size_t i = 0; i < irpc_buf_segment_count(&out); i++) {
    irpc_bytes seg = irpc_buf_segment(&out, i);
    feed(to, seg.base, seg.len);
  }
  irpc__buf_fini(&out);
}

/* A real handshake with a peer engine that is then dropped. */
static int handshake(fz *f, int client) {
  irpc__slic_params p;
  small_params(&p);
  irpc__slic *peer;
  if (irpc__slic_new(&peer, !client, &p, NULL, NULL))
    return -1;
  irpc__slic *cl = client ? f->c : peer, *sv = client ? peer : f->c;
  move_output(cl, sv);
  move_output(sv, cl);
  irpc__slic_free(peer);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t pieces[] = {1, 2, 3, 7, 16, 64, 256, SIZE_MAX};
  if (size < 1)
    return 0;
  fz f;
  memset(&f, 0, sizeof(f));
  f.cfg = data[0];
  irpc__buf_init(&f.sink);
  int client = f.cfg & 1;
  irpc__slic_params p;
  small_params(&p);
  if (irpc__slic_new(&f.c, client, &p, &fz_events, &f))
    return 0;
  if (!(f.cfg & 0x80) && handshake(&f, client) == 0)
    drain(f.c);
  size_t piece = pieces[(f.cfg >> 1) & 7];
  data++;
  size--;
  while (size) {
    size_t n = size < piece ? size : piece;
    feed(f.c, data, n);
    data += n;
    size -= n;
    if (f.cfg & 0x40) {
      f.now += 700;
      irpc__slic_tick(f.c);
      irpc__slic_drain(f.c);
    }
    drain(f.c);
  }
  irpc__slic_feed_eof(f.c);
  drain(f.c);
  irpc__slic_close(f.c, 0);
  drain(f.c);
  irpc__slic_free(f.c);
  irpc__buf_fini(&f.sink);
  return 0;
}
