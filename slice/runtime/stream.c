/* Slice `stream T` over payload continuations (irpc/slice_stream.h): the
 * element framing of IceRPC's Slice2 streams on top of irpc_stream_writer
 * and irpc_stream_reader. */
#include <string.h>

#include "base/buf_internal.h"
#include "base/scheduler.h"
#include "base/struct_size.h"
#include "gen_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/slice_stream.h"
#include "model/stream_internal.h"

/* IceRPC's default limit of a segment's size when decoding. */
#define MAX_SEGMENT ((size_t)1 << 20)

const irpc_slice_stream_elem irpc_slice_stream_uint8 = {
    .struct_size = sizeof(irpc_slice_stream_elem),
    .item_size = 1,
    .wire_size = 1,
};

/* Raw bytes: irpc_slice_stream_uint8 or a copy of it. */
static int is_raw(const irpc_slice_stream_elem *e) {
  return e == &irpc_slice_stream_uint8 ||
         (e->item_size == 1 && e->wire_size == 1 && !e->encode && !e->decode);
}

/* The decode_in of `e`, when its struct_size has it. */
static int (*elem_decode_in(const irpc_slice_stream_elem *e))(irpc_slice_in *,
                                                              void *) {
  return IRPC__HAS(e, irpc_slice_stream_elem, decode_in) ? e->decode_in : NULL;
}

static int elem_check(const irpc_slice_stream_elem *e, int decode) {
  if (!e || IRPC__STRUCT_SIZE(e) < IRPC__V1_irpc_slice_stream_elem ||
      e->item_size == 0)
    return IRPC_EINVAL;
  if (!is_raw(e) && (decode ? !e->decode && !elem_decode_in(e) : !e->encode))
    return IRPC_EINVAL;
  return 0;
}

/* ---- Producer ---- */

struct irpc_slice_stream_writer {
  irpc_stream_writer *w;
  const irpc_slice_stream_elem *elem;
};

int irpc_slice_stream_writer_new(irpc_slice_stream_writer **out,
                                 irpc_stream_writer *w,
                                 const irpc_slice_stream_elem *elem) {
  if (!out || !w || elem_check(elem, 0) != 0)
    return IRPC_EINVAL;
  irpc_slice_stream_writer *s = irpc_malloc(sizeof(*s));
  if (!s)
    return IRPC_ENOMEM;
  s->w = w;
  s->elem = elem;
  *out = s;
  return 0;
}

/* Encodes n variable-size items as segments of whole items after what
 * `out` holds: a segment is closed before the item that would take it past
 * MAX_SEGMENT (which readers refuse), and that item, taken back, opens the
 * next one; so each item is encoded once, or twice when it starts a
 * segment. IRPC_ELIMIT when one item alone passes MAX_SEGMENT. */
static int encode_segments(const irpc_slice_stream_elem *el, const uint8_t *p,
                           size_t n, irpc_buf *out) {
  size_t i = 0;
  while (i < n) {
    irpc_slice_encoder e;
    irpc_slice_mark m;
    int rc = irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_2);
    if (rc == 0)
      rc = irpc_slice_encode_segment_begin(&e, &m);
    size_t body = irpc_slice_encoder_pos(&e), first = i, at = body;
    int full = 0;
    for (; rc == 0 && i < n && !full; i++) {
      at = irpc_slice_encoder_pos(&e);
      rc = el->encode(&e, p + i * el->item_size);
      full = rc == 0 && irpc_slice_encoder_pos(&e) - body > MAX_SEGMENT;
    }
    if (full) { /* take the last item back, unless it is alone */
      i--;
      rc = irpc_slice_encoder_flush(&e);
      if (rc == 0 && i == first)
        rc = IRPC_ELIMIT;
      if (rc == 0)
        rc = irpc_buf_truncate(out, at);
      if (rc == 0)
        rc = irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_2);
    }
    if (rc == 0)
      rc = irpc_slice_encode_segment_end(&e, &m);
    int frc = irpc_slice_encoder_flush(&e);
    if (rc || frc)
      return rc ? rc : frc;
  }
  return 0;
}

static int encode_items(const irpc_slice_stream_elem *el, const void *items,
                        size_t n, irpc_buf *out) {
  if (is_raw(el))
    return irpc_buf_append(out, items, n);
  if (el->wire_size == 0)
    return encode_segments(el, items, n, out);
  irpc_slice_encoder e;
  int rc = irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_2);
  const uint8_t *p = items;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = el->encode(&e, p + i * el->item_size);
  int frc = irpc_slice_encoder_flush(&e);
  return rc ? rc : frc;
}

int irpc_slice_stream_write(irpc_slice_stream_writer *s, const void *items,
                            size_t n) {
  if (!s || !items || n == 0)
    return IRPC_EINVAL;
  if (irpc_stream_writer_room(s->w) == 0) {
    int rc = irpc_stream_writer_wait(s->w); /* on_writable once it has room */
    return rc ? rc : IRPC_EAGAIN;
  }
  irpc_buf *b;
  int rc = irpc_buf_new(&b);
  if (rc)
    return rc;
  rc = encode_items(s->elem, items, n, b);
  if (rc == 0)
    rc = irpc_stream_writer_write(s->w, b);
  irpc_buf_free(b);
  return rc;
}

int irpc_slice_stream_end(irpc_slice_stream_writer *s) {
  return s ? irpc_stream_writer_end(s->w) : IRPC_EINVAL;
}

int irpc_slice_stream_wait(irpc_slice_stream_writer *s) {
  return s ? irpc_stream_writer_wait(s->w) : IRPC_EINVAL;
}

void irpc_slice_stream_writer_free(irpc_slice_stream_writer *s) {
  irpc_free(s);
}

/* ---- Consumer ---- */

struct irpc_slice_stream_reader {
  irpc_stream_reader *r;
  const irpc_slice_stream_elem *elem;
  irpc_slice_stream_handler h;
  void *ud;
  irpc_buf pending; /* bytes of elements not complete yet */
  int ended;
  /* Before the elements, a segment to hand to head_fn (a streamed return
   * value); until a handler is attached, the end waits in end_err. */
  irpc__slice_head_fn head_fn;
  void *head_ud;
  int attached;
  int end_due;
  int end_err;
  /* What arrived before the handler was attached is delivered by `task`,
   * on a later loop turn. */
  irpc__sched *sched;
  irpc__task task;
  int in_cb; /* callbacks of the application running */
  int freed; /* freed from one of them: freed once they return */
};

static void reader_release(irpc_slice_stream_reader *s) {
  irpc__sched_cancel(s->sched, &s->task);
  irpc__sched_release(s->sched);
  irpc__buf_fini(&s->pending);
  irpc_free(s);
}

/* Around code that runs the application's callbacks: a free from one of
 * them takes effect at leave(). */
static void enter(irpc_slice_stream_reader *s) {
  s->in_cb++;
}

static void leave(irpc_slice_stream_reader *s) {
  if (--s->in_cb == 0 && s->freed)
    reader_release(s);
}

static void consumer_end(irpc_slice_stream_reader *s, int err) {
  if (s->ended)
    return;
  if (err && s->r) {
    /* stop the peer: the rest would not decode */
    irpc_stream_reader_free(s->r);
    s->r = NULL;
  }
  if (!s->attached) { /* told once a handler is attached */
    s->end_due = 1;
    s->end_err = err;
    return;
  }
  s->ended = 1;
  if (!s->freed)
    s->h.on_end(s->ud, err);
}

/* Decodes `n` items from `bytes` into a new array and hands it over. */
static int deliver(irpc_slice_stream_reader *s, const uint8_t *bytes,
                   size_t len, size_t n) {
  const irpc_slice_stream_elem *el = s->elem;
  int (*decode_in)(irpc_slice_in *, void *) = elem_decode_in(el);
  uint8_t *items = irpc_calloc(n, el->item_size);
  if (!items)
    return IRPC_ENOMEM;
  /* decode_in: the items' memory comes from in's arena, freed below */
  irpc_slice_in in;
  irpc_slice_decoder *dp = &in.dec;
  int rc = decode_in ? irpc_slice_in_init_bytes(&in, bytes, len)
                     : irpc_slice_decoder_init_bytes(dp, bytes, len,
                                                     IRPC_SLICE_ENCODING_2);
  size_t got = 0;
  while (rc == 0 && irpc_slice_decoder_remaining(dp) > 0) {
    if (got == n) {
      uint8_t *more = irpc_realloc(items, 2 * n * el->item_size);
      if (!more) {
        rc = IRPC_ENOMEM;
        break;
      }
      memset(more + n * el->item_size, 0, n * el->item_size);
      items = more;
      n *= 2;
    }
    void *item = items + got * el->item_size;
    rc = decode_in ? decode_in(&in, item) : el->decode(dp, item);
    if (rc == 0)
      rc = irpc_slice_decoder_error(dp);
    got++;
  }
  if (rc == 0)
    s->h.on_items(s->ud, items, got);
  if (decode_in)
    irpc_slice_in_fini(&in);
  else
    irpc_slice_decoder_fini(dp);
  irpc_free(items);
  return rc == IRPC_ETRUNCATED ? IRPC_EDATA : rc;
}

/* The segment at the start of `b`: 0 when it is all there (its size
 * prefix takes *skip bytes, its content *size), 1 when more bytes are
 * needed, or IRPC_ELIMIT (over MAX_SEGMENT) or the decoder's error. */
static int peek_segment(const irpc_buf *b, size_t *skip, size_t *size) {
  irpc_slice_decoder d;
  uint64_t n = 0;
  int rc = irpc_slice_decoder_init_buf(&d, b, IRPC_SLICE_ENCODING_2);
  if (rc == 0)
    rc = irpc_slice_decode_varuint62(&d, &n);
  *skip = irpc_slice_decoder_pos(&d);
  irpc_slice_decoder_fini(&d);
  if (rc == 0 && n > MAX_SEGMENT)
    rc = IRPC_ELIMIT;
  if (rc == 0 && irpc_buf_len(b) - *skip < n)
    rc = 1;
  *size = (size_t)n;
  return rc == IRPC_ETRUNCATED ? 1 : rc;
}

/* Hands over every whole element of s->pending. */
static int drain_pending(irpc_slice_stream_reader *s) {
  const irpc_slice_stream_elem *el = s->elem;
  for (;;) {
    size_t len = irpc_buf_len(&s->pending);
    size_t take = 0, n = 0, skip = 0;
    if (el->wire_size) {
      n = len / el->wire_size;
      take = n * el->wire_size;
    } else {
      int rc = peek_segment(&s->pending, &skip, &take);
      if (rc == 0 && take == 0)
        rc = IRPC_EDATA; /* an empty segment */
      if (rc)
        return rc == 1 ? 0 : rc;
      n = 1; /* at least one: grows as decoded */
    }
    if (take == 0)
      return 0;
    if (is_raw(el)) {
      /* raw bytes: each segment of the chain as it is */
      for (size_t i = 0; i < irpc_buf_segment_count(&s->pending); i++) {
        irpc_bytes seg = irpc_buf_segment(&s->pending, i);
        s->h.on_items(s->ud, seg.base, seg.len);
        if (s->ended) /* freed from on_items */
          break;
      }
      irpc_buf_clear(&s->pending);
      return 0;
    }
    irpc_buf_consume(&s->pending, skip);
    irpc_buf *src = &s->pending;
    uint8_t *tmp = irpc_malloc(take);
    if (!tmp)
      return IRPC_ENOMEM;
    irpc_buf_copyout(src, 0, tmp, take);
    irpc_buf_consume(src, take);
    int rc = deliver(s, tmp, take, n);
    irpc_free(tmp);
    if (rc || s->ended)
      return rc;
  }
}

/* The leading segment, once whole: 1 when it was handed to head_fn (and
 * `s` may be gone), 0 when more bytes are needed, or an error. */
static int take_head(irpc_slice_stream_reader *s) {
  size_t skip, size;
  int rc = peek_segment(&s->pending, &skip, &size);
  if (rc)
    return rc == 1 ? 0 : rc;
  size_t total = skip + size;
  uint8_t *seg = irpc_malloc(total);
  if (!seg)
    return IRPC_ENOMEM;
  irpc_buf_copyout(&s->pending, 0, seg, total);
  irpc_buf_consume(&s->pending, total);
  irpc__slice_head_fn fn = s->head_fn;
  s->head_fn = NULL;
  irpc_stream_reader_pause(s->r); /* until a handler is attached */
  fn(s->head_ud, 0, seg, total);  /* last: it may free `s` */
  return 1;
}

/* The leading segment will not come: head_fn learns it with `err`. */
static void head_fail(irpc_slice_stream_reader *s, int err) {
  irpc__slice_head_fn fn = s->head_fn;
  s->head_fn = NULL;
  s->ended = 1;
  fn(s->head_ud, err, NULL, 0);
}

/* The end's error: the stream's, or IRPC_ETRUNCATED when it ended without
 * one inside an element (or the leading segment). */
static int end_error(const irpc_slice_stream_reader *s, int err) {
  return err == 0 && irpc_buf_len(&s->pending) ? IRPC_ETRUNCATED : err;
}

static void on_data_in(irpc_slice_stream_reader *s, irpc_buf *data) {
  if (s->ended)
    return;
  int rc = irpc_buf_move(&s->pending, data);
  if (rc == 0 && s->head_fn) {
    rc = take_head(s);
    if (rc == 1)
      return;
  }
  if (rc == 0 && s->attached)
    rc = drain_pending(s);
  if (rc && s->head_fn)
    head_fail(s, rc);
  else if (rc)
    consumer_end(s, rc);
}

static void on_end_in(irpc_slice_stream_reader *s, int err) {
  if (!s->head_fn && !s->attached) { /* judged once attached */
    s->end_due = 1;
    s->end_err = err;
    return;
  }
  err = end_error(s, err);
  if (s->head_fn)
    head_fail(s, err ? err : IRPC_ETRUNCATED);
  else
    consumer_end(s, err);
}

static void on_data(irpc_stream_reader *r, irpc_buf *data, void *ud) {
  (void)r;
  irpc_slice_stream_reader *s = ud;
  enter(s);
  on_data_in(s, data);
  leave(s);
}

static void on_end(irpc_stream_reader *r, int err, void *ud) {
  (void)r;
  irpc_slice_stream_reader *s = ud;
  enter(s);
  on_end_in(s, err);
  leave(s);
}

/* Delivers, on a later loop turn, what arrived before the handler was
 * attached, then lets the rest come. */
static void attached_task(irpc__task *t) {
  irpc_slice_stream_reader *s =
      IRPC__CONTAINER_OF(t, irpc_slice_stream_reader, task);
  enter(s);
  int rc = s->ended ? 0 : drain_pending(s);
  if (rc) {
    consumer_end(s, rc);
  } else if (!s->ended && s->end_due) {
    consumer_end(s, end_error(s, s->end_err));
  } else if (!s->ended && s->r) {
    irpc_stream_reader_resume(s->r);
  }
  leave(s);
}

static const irpc_stream_reader_ops consumer_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = on_data,
    .on_end = on_end,
};

/* A consumer of `r`, started: with the handler `h` attached, or else
 * waiting for its leading segment, for `fn`. On error `r` is not taken. */
static int reader_open(irpc_slice_stream_reader **out, irpc_stream_reader *r,
                       const irpc_slice_stream_elem *e,
                       const irpc_slice_stream_handler *h,
                       irpc__slice_head_fn fn, void *ud) {
  irpc_slice_stream_reader *s = irpc_calloc(1, sizeof(*s));
  if (!s)
    return IRPC_ENOMEM;
  s->sched =
      irpc__sched_acquire(irpc__sched_loop(irpc__stream_reader_sched(r)));
  if (!s->sched) {
    irpc_free(s);
    return IRPC_ENOMEM;
  }
  s->r = r;
  s->elem = e;
  s->task.fn = attached_task;
  irpc__buf_init(&s->pending);
  if (h) {
    s->h = *h;
    s->ud = ud;
    s->attached = 1;
  } else {
    s->head_fn = fn;
    s->head_ud = ud;
  }
  int rc = irpc_stream_reader_start(r, &consumer_ops, s);
  if (rc) {
    reader_release(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* A handler the consumer can call: both callbacks, a struct_size that has
 * them. */
static int handler_ok(const irpc_slice_stream_handler *h) {
  return h && IRPC__STRUCT_SIZE(h) >= sizeof(*h) && h->on_items && h->on_end;
}

int irpc_slice_stream_reader_new(irpc_slice_stream_reader **out,
                                 irpc_stream_reader *r,
                                 const irpc_slice_stream_elem *elem,
                                 const irpc_slice_stream_handler *h, void *ud) {
  if (!out || !r || elem_check(elem, 1) != 0 || !handler_ok(h))
    return IRPC_EINVAL;
  return reader_open(out, r, elem, h, NULL, ud);
}

int irpc__slice_stream_reader_head(irpc_slice_stream_reader **out,
                                   irpc_stream_reader *r,
                                   const irpc_slice_stream_elem *elem,
                                   irpc__slice_head_fn fn, void *ud) {
  if (!out || !r || !fn || elem_check(elem, 1) != 0)
    return IRPC_EINVAL;
  return reader_open(out, r, elem, NULL, fn, ud);
}

int irpc__slice_stream_reader_attach(irpc_slice_stream_reader *s,
                                     const irpc_slice_stream_handler *h,
                                     void *ud) {
  if (!s || !handler_ok(h))
    return IRPC_EINVAL;
  if (s->attached || s->head_fn)
    return IRPC_EBUSY;
  s->h = *h;
  s->ud = ud;
  s->attached = 1;
  /* never inside this call (irpc/stream.h): on a later loop turn */
  if (irpc_buf_len(&s->pending) || s->end_due || s->ended)
    irpc__sched_post(s->sched, &s->task);
  else if (s->r)
    irpc_stream_reader_resume(s->r);
  return 0;
}

void irpc_slice_stream_reader_free(irpc_slice_stream_reader *s) {
  if (!s || s->freed)
    return;
  irpc_stream_reader_free(s->r);
  s->r = NULL;
  if (s->in_cb) { /* from a callback: once it returns */
    s->freed = 1;
    s->ended = 1;
    s->head_fn = NULL;
    irpc__sched_cancel(s->sched, &s->task);
    return;
  }
  reader_release(s);
}
