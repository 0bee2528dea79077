/* A producer and a consumer of payload continuations (stream_kit.h). */
#include "stream_kit.h"

#include <string.h>

#include "kit/kit.h"

uint8_t stream_pattern(uint64_t off) {
  return (uint8_t)(off % 251u);
}

/* A new buffer of `n` pattern bytes from offset `at`. */
static irpc_buf *pattern_buf(uint64_t at, size_t n) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  size_t done = 0;
  while (done < n) {
    uint8_t *dst;
    size_t avail;
    assert_irpc_ok(irpc_buf_reserve(b, 0, &dst, &avail));
    if (avail > n - done)
      avail = n - done;
    for (size_t i = 0; i < avail; i++)
      dst[i] = stream_pattern(at + done + i);
    assert_irpc_ok(irpc_buf_commit(b, avail));
    done += avail;
  }
  return b;
}

void produce(producer *p) {
  while (!p->hold && p->w && p->sent < p->total) {
    if (p->hold_at && p->sent >= p->hold_at)
      return;
    if (p->abort_at && p->sent >= p->abort_at) {
      irpc_stream_writer_abort(p->w);
      return;
    }
    size_t n = p->chunk;
    if (n > p->total - p->sent)
      n = (size_t)(p->total - p->sent);
    irpc_buf *b = pattern_buf(p->base + p->sent, n);
    int rc = irpc_stream_writer_write(p->w, b);
    irpc_buf_free(b);
    if (rc == IRPC_EAGAIN) {
      p->eagain++;
      return; /* on_writable comes */
    }
    if (rc == IRPC_ECLOSED)
      return; /* on_end comes */
    assert_irpc_ok(rc);
    p->sent += n;
  }
  if (!p->hold && p->w && p->sent == p->total && !p->end_called) {
    p->end_called = 1;
    p->end_rc = irpc_stream_writer_end(p->w);
    if (p->end_rc != IRPC_ECLOSED)
      assert_irpc_ok(p->end_rc);
  }
}

static void prod_writable(irpc_stream_writer *w, void *ud) {
  (void)w;
  produce(ud);
}

static void prod_end(irpc_stream_writer *w, int err, void *ud) {
  producer *p = ud;
  assert_ptr_equal(w, p->w);
  assert_int_equal(p->ended, 0); /* exactly once */
  p->ended = 1;
  p->end_err = err;
  if (p->free_on_end) {
    irpc_stream_writer_free(w);
    p->w = NULL;
  }
}

static const irpc_stream_writer_ops prod_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = prod_writable,
    .on_end = prod_end,
};

void producer_init(producer *p, uv_loop_t *loop, uint64_t total) {
  memset(p, 0, sizeof(*p));
  p->total = total;
  p->chunk = 64 << 10;
  assert_irpc_ok(irpc_stream_writer_new(&p->w, loop, NULL, &prod_ops, p));
}

void producer_fini(producer *p) {
  irpc_stream_writer_free(p->w);
  p->w = NULL;
}

void consumer_on_data(irpc_stream_reader *r, irpc_buf *data, void *ud) {
  consumer *c = ud;
  size_t skip = c->prefix ? strlen(c->prefix) : 0;
  size_t nseg = irpc_buf_segment_count(data);
  for (size_t i = 0; i < nseg; i++) {
    irpc_bytes seg = irpc_buf_segment(data, i);
    for (size_t j = 0; j < seg.len; j++) {
      uint64_t pos = c->got + j;
      uint8_t want =
          pos < skip ? (uint8_t)c->prefix[pos] : stream_pattern(pos - skip);
      if (seg.base[j] != want)
        c->bad = 1;
    }
    c->got += seg.len;
  }
  if (c->kept && irpc_buf_len(c->kept) < c->keep)
    assert_irpc_ok(irpc_buf_move(c->kept, data));
  if (c->stop_at && c->got >= c->stop_at) {
    irpc_stream_reader_free(r);
    c->r = NULL;
    c->stopped = 1;
    return;
  }
  if (c->slow) {
    irpc_stream_reader_pause(r);
    c->paused = 1;
  }
}

void consumer_on_end(irpc_stream_reader *r, int err, void *ud) {
  consumer *c = ud;
  if (c->r)
    assert_ptr_equal(r, c->r);
  assert_int_equal(c->ended, 0); /* exactly once */
  c->ended = 1;
  c->end_err = err;
}

static const irpc_stream_reader_ops cons_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = consumer_on_data,
    .on_end = consumer_on_end,
};

void consumer_start(consumer *c, irpc_stream_reader *r) {
  assert_non_null(r);
  c->r = r;
  assert_irpc_ok(irpc_stream_reader_start(r, &cons_ops, c));
}

void consumer_fini(consumer *c) {
  irpc_stream_reader_free(c->r);
  c->r = NULL;
  irpc_buf_free(c->kept);
  c->kept = NULL;
}
