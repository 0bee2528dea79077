/* Payload continuations: the writer and reader objects (irpc/stream.h) and
 * their binding to a connection's stream (stream_internal.h). Each object
 * has its own task on the loop's scheduler, which runs the application's
 * callbacks, so no callback runs inside an irpc function. */
#include <string.h>

#include "stream_internal.h"
#include "base/buf_internal.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "model.h"

#define DEFAULT_MAX_QUEUED ((size_t)256 << 10)
/* The most a reader hands over in one on_data. */
#define READ_CHUNK ((size_t)256 << 10)

/* ---- Writer ---- */

struct irpc_stream_writer {
  long refs;
  irpc__sched *sched;
  irpc_stream_writer_ops ops;
  void *ud;
  size_t max_queued;
  irpc_buf pending; /* written before a sink took the writer */
  const irpc__stream_sink *sink;
  void *ctx;
  irpc__task task;
  unsigned in_frame : 1; /* a frame holds it */
  unsigned started : 1;  /* a sink took it once */
  unsigned ended : 1;    /* irpc_stream_writer_end */
  unsigned done : 1;     /* on_end is due (or delivered) */
  unsigned end_delivered : 1;
  unsigned want_cb : 1; /* IRPC_EAGAIN was returned: on_writable owed */
  unsigned writable_due : 1;
  unsigned app_gone : 1;
  int end_err;
  const irpc_stream_transform_ops *xf; /* &xf_ops when installed */
  irpc_stream_transform_ops xf_ops;
  void *xf_state;
  irpc__timer deadline; /* irpc_stream_writer_set_deadline */
};

static int transform_check(const irpc_stream_transform_ops *ops,
                           irpc_stream_transform_ops *copy) {
  if (!ops || IRPC__IMPORT(copy, ops, irpc_stream_transform_ops) != 0 ||
      !copy->feed || !copy->free)
    return IRPC_EINVAL;
  return 0;
}

/* Runs a transform over `in` (consumed) into `out`. */
static int transform_run(const irpc_stream_transform_ops *xf, void *state,
                         irpc_buf *in, int last, irpc_buf *out) {
  int rc = xf->feed(state, in, last, out);
  irpc_buf_clear(in);
  return rc;
}

void irpc_stream_writer_options_init_sized(irpc_stream_writer_options *o,
                                           size_t size) {
  irpc_stream_writer_options d;
  memset(&d, 0, sizeof(d));
  d.max_queued = DEFAULT_MAX_QUEUED;
  irpc__struct_export(o, size, &d, sizeof(d));
}

static void writer_unref(irpc_stream_writer *w) {
  if (--w->refs > 0)
    return;
  irpc__timer_stop(w->sched, &w->deadline);
  irpc__sched_cancel(w->sched, &w->task);
  irpc__sched_release(w->sched);
  irpc__buf_fini(&w->pending);
  if (w->xf)
    w->xf->free(w->xf_state);
  irpc_free(w);
}

static void writer_fail(irpc_stream_writer *w, int err);

/* The writer's deadline passed before its end: it is aborted. */
static void writer_deadline(irpc__timer *t) {
  writer_fail(IRPC__CONTAINER_OF(t, irpc_stream_writer, deadline),
              IRPC_EDEADLINE);
}

/* Hands `data` (and the end) to the sink, through the transform. The
 * transform's state took the input once it ran: when either step fails,
 * the output is lost and the stream cannot go on, so the writer fails. */
static int writer_put(irpc_stream_writer *w, irpc_buf *data, int last) {
  if (!w->xf)
    return w->sink->write(w->ctx, data, last);
  irpc_buf out;
  irpc__buf_init(&out);
  int rc = transform_run(w->xf, w->xf_state, data, last, &out);
  if (rc == 0)
    rc = w->sink->write(w->ctx, &out, last);
  if (rc)
    writer_fail(w, rc);
  irpc__buf_fini(&out);
  return rc;
}

static void writer_task(irpc__task *t) {
  irpc_stream_writer *w = IRPC__CONTAINER_OF(t, irpc_stream_writer, task);
  w->refs++;
  if (!w->app_gone && w->writable_due && !w->done && w->want_cb &&
      irpc_stream_writer_room(w) > 0) {
    w->writable_due = 0;
    w->want_cb = 0;
    if (w->ops.on_writable)
      w->ops.on_writable(w, w->ud);
  }
  if (!w->app_gone && w->done && !w->end_delivered) {
    w->end_delivered = 1;
    w->ops.on_end(w, w->end_err, w->ud);
  }
  writer_unref(w);
}

static void writer_post(irpc_stream_writer *w) {
  if (!w->app_gone)
    irpc__sched_post(w->sched, &w->task);
}

int irpc_stream_writer_new(irpc_stream_writer **out, uv_loop_t *loop,
                           const irpc_stream_writer_options *o,
                           const irpc_stream_writer_ops *ops, void *ud) {
  if (!out || !loop || !ops)
    return IRPC_EINVAL;
  irpc_stream_writer_options opts;
  if (o) {
    if (IRPC__IMPORT(&opts, o, irpc_stream_writer_options) != 0)
      return IRPC_EINVAL;
  } else {
    irpc_stream_writer_options_init(&opts);
  }
  irpc_stream_writer_ops ops_copy;
  if (IRPC__IMPORT(&ops_copy, ops, irpc_stream_writer_ops) != 0 ||
      !ops_copy.on_end || opts.max_queued == 0)
    return IRPC_EINVAL;
  irpc_stream_writer *w = irpc_calloc(1, sizeof(*w));
  if (!w)
    return IRPC_ENOMEM;
  w->sched = irpc__sched_acquire(loop);
  if (!w->sched) {
    irpc_free(w);
    return IRPC_ENOMEM;
  }
  w->refs = 1;
  w->ops = ops_copy;
  w->ud = ud;
  w->max_queued = opts.max_queued;
  irpc__buf_init(&w->pending);
  w->task.fn = writer_task;
  irpc__timer_init(&w->deadline, writer_deadline);
  *out = w;
  return 0;
}

static size_t writer_queued(const irpc_stream_writer *w) {
  return w->sink ? w->sink->queued(w->ctx) : irpc_buf_len(&w->pending);
}

size_t irpc_stream_writer_room(const irpc_stream_writer *w) {
  if (!w || w->done || w->ended)
    return 0;
  size_t q = writer_queued(w);
  return q < w->max_queued ? w->max_queued - q : 0;
}

int irpc_stream_writer_write(irpc_stream_writer *w, irpc_buf *data) {
  if (!w || !data)
    return IRPC_EINVAL;
  if (w->done || w->ended)
    return IRPC_ECLOSED;
  if (irpc_buf_len(data) == 0)
    return 0;
  if (irpc_stream_writer_room(w) == 0) {
    w->want_cb = 1;
    if (w->sink)
      w->sink->want_writable(w->ctx, w->max_queued);
    return IRPC_EAGAIN;
  }
  if (w->sink)
    return writer_put(w, data, 0);
  return irpc_buf_move(&w->pending, data);
}

int irpc_stream_writer_wait(irpc_stream_writer *w) {
  if (!w)
    return IRPC_EINVAL;
  if (w->done || w->ended)
    return IRPC_ECLOSED;
  w->want_cb = 1;
  if (irpc_stream_writer_room(w) > 0) {
    w->writable_due = 1;
    writer_post(w);
  } else if (w->sink) {
    w->sink->want_writable(w->ctx, w->max_queued);
  }
  return 0;
}

int irpc_stream_writer_end(irpc_stream_writer *w) {
  if (!w)
    return IRPC_EINVAL;
  if (w->done || w->ended)
    return IRPC_ECLOSED;
  w->ended = 1;
  w->want_cb = 0;
  if (w->sink) {
    irpc_buf empty;
    irpc__buf_init(&empty);
    int rc = writer_put(w, &empty, 1);
    irpc__buf_fini(&empty);
    if (rc && !w->done) {
      /* the sink could not take the end: the writer fails, and the sink
       * lets go of it (it keeps no pointer to a writer that may be freed) */
      writer_fail(w, rc);
    }
  }
  return 0;
}

/* Marks the end due and lets go of the sink. */
static void writer_done(irpc_stream_writer *w, int err) {
  irpc__timer_stop(w->sched, &w->deadline);
  w->done = 1;
  w->end_err = err;
  irpc_buf_clear(&w->pending);
  writer_post(w);
}

void irpc_stream_writer_abort(irpc_stream_writer *w) {
  if (w)
    writer_fail(w, IRPC_ECANCELED);
}

static void writer_fail(irpc_stream_writer *w, int err) {
  if (w->done)
    return;
  const irpc__stream_sink *sink = w->sink;
  void *ctx = w->ctx;
  w->sink = NULL;
  w->ctx = NULL;
  w->refs++;
  writer_done(w, err);
  if (sink) {
    sink->abort(ctx);
    w->refs--; /* the sink's */
  }
  writer_unref(w);
}

int irpc_stream_writer_set_deadline(irpc_stream_writer *w,
                                    uint64_t timeout_ms) {
  if (!w)
    return IRPC_EINVAL;
  if (w->done)
    return IRPC_ECLOSED;
  if (timeout_ms == 0) {
    irpc__timer_stop(w->sched, &w->deadline);
    return 0;
  }
  return irpc__timer_start(w->sched, &w->deadline, timeout_ms);
}

int irpc_stream_writer_replayable(const irpc_stream_writer *w) {
  return w && !w->started && !w->done;
}

void irpc_stream_writer_free(irpc_stream_writer *w) {
  if (!w)
    return;
  if (!w->ended)
    irpc_stream_writer_abort(w);
  w->app_gone = 1;
  irpc__sched_cancel(w->sched, &w->task);
  writer_unref(w);
}

int irpc__stream_writer_attach(irpc_stream_writer *w,
                               const irpc__stream_sink *sink, void *ctx) {
  if (w->started || w->done)
    return IRPC_EBUSY;
  w->started = 1;
  w->sink = sink;
  w->ctx = ctx;
  w->refs++;
  int rc = 0;
  if (irpc_buf_len(&w->pending) || w->ended)
    rc = writer_put(w, &w->pending, w->ended);
  /* the sink may have let go of the writer while it took the bytes (its
   * stream failed: the writer is done) */
  if (rc == 0 && w->sink == sink && w->want_cb && !w->ended)
    sink->want_writable(ctx, w->max_queued);
  return rc;
}

void irpc__stream_writer_writable(irpc_stream_writer *w) {
  if (w->done || !w->want_cb)
    return;
  w->writable_due = 1;
  writer_post(w);
}

void irpc__stream_writer_finish(irpc_stream_writer *w, int err) {
  if (!w->sink)
    return;
  w->sink = NULL;
  w->ctx = NULL;
  if (!w->done)
    writer_done(w, err);
  writer_unref(w); /* the sink's */
}

void irpc__stream_writer_refuse(irpc_stream_writer *w, int err) {
  if (!w->done && !w->sink)
    writer_done(w, err);
}

void irpc__stream_writer_frame_release(irpc_stream_writer *w) {
  w->in_frame = 0;
  if (!w->started && !w->done)
    writer_done(w, IRPC_ECANCELED);
  writer_unref(w);
}

int irpc__stream_writer_ended(const irpc_stream_writer *w) {
  return w->ended;
}

int irpc__stream_writer_end_error(const irpc_stream_writer *w) {
  if (!w->done)
    return 0;
  return w->end_err ? w->end_err : IRPC_ECLOSED;
}

int irpc_stream_writer_set_transform(irpc_stream_writer *w,
                                     const irpc_stream_transform_ops *ops,
                                     void *state) {
  irpc_stream_transform_ops copy;
  if (!w || transform_check(ops, &copy) != 0)
    return IRPC_EINVAL;
  if (w->started || w->done)
    return IRPC_EBUSY;
  if (w->xf)
    w->xf->free(w->xf_state);
  w->xf_ops = copy;
  w->xf = &w->xf_ops;
  w->xf_state = state;
  return 0;
}

static int writer_take(irpc_stream_writer **slot, irpc_stream_writer *w) {
  if (w && (w->in_frame || w->started || w->done))
    return IRPC_EBUSY;
  if (*slot)
    irpc__stream_writer_frame_release(*slot);
  *slot = w;
  if (w) {
    w->in_frame = 1;
    w->refs++;
  }
  return 0;
}

int irpc_outgoing_request_set_continuation(irpc_outgoing_request *r,
                                           irpc_stream_writer *w) {
  if (!r)
    return IRPC_EINVAL;
  if (w && w == r->cont)
    return 0;
  return writer_take(&r->cont, w);
}

irpc_stream_writer *
irpc_outgoing_request_continuation(const irpc_outgoing_request *r) {
  return r ? r->cont : NULL;
}

int irpc_outgoing_response_set_continuation(irpc_outgoing_response *r,
                                            irpc_stream_writer *w) {
  if (!r)
    return IRPC_EINVAL;
  if (w && w == r->r.wcont)
    return 0;
  return writer_take(&r->r.wcont, w);
}

int irpc_outgoing_request_set_stream_response(irpc_outgoing_request *r,
                                              int stream) {
  if (!r)
    return IRPC_EINVAL;
  r->stream_response = stream != 0;
  return 0;
}

int irpc_outgoing_request_stream_response(const irpc_outgoing_request *r) {
  return r && r->stream_response;
}

/* ---- Reader ---- */

struct irpc_stream_reader {
  long refs;
  irpc__sched *sched;
  irpc_stream_reader_ops ops;
  void *ud;
  irpc_buf buf; /* received, not delivered */
  const irpc__stream_source *src;
  void *ctx;
  irpc__task task;
  unsigned started : 1;
  unsigned paused : 1;
  unsigned src_end : 1; /* the source gave its end (0) or failed (err) */
  unsigned done : 1;    /* on_end delivered */
  unsigned app_gone : 1;
  unsigned in_task : 1;
  unsigned delivered : 1; /* on_data ran once */
  unsigned xf_last : 1;   /* the transform's final call was made */
  int err;
  const irpc_stream_transform_ops *xf;
  irpc_stream_transform_ops xf_ops;
  void *xf_state;
  irpc_buf xout;        /* the transform's output */
  irpc__timer deadline; /* irpc_stream_reader_set_deadline */
};

static void reader_unref(irpc_stream_reader *r) {
  if (--r->refs > 0)
    return;
  irpc__timer_stop(r->sched, &r->deadline);
  irpc__sched_cancel(r->sched, &r->task);
  irpc__sched_release(r->sched);
  irpc__buf_fini(&r->buf);
  irpc__buf_fini(&r->xout);
  if (r->xf)
    r->xf->free(r->xf_state);
  irpc_free(r);
}

/* The reader ends with `err` before its source did: the peer is stopped. */
static void reader_fail(irpc_stream_reader *r, int err) {
  irpc__timer_stop(r->sched, &r->deadline);
  if (r->src) {
    const irpc__stream_source *src = r->src;
    void *ctx = r->ctx;
    r->src = NULL;
    r->ctx = NULL;
    src->stop(ctx);
    r->refs--; /* the source's; the task holds one */
  }
  irpc_buf_clear(&r->buf);
  r->src_end = 1;
  r->err = err;
}

static void reader_deliver(irpc_stream_reader *r, irpc_buf *b) {
  r->delivered = 1;
  r->ops.on_data(r, b, r->ud);
  irpc_buf_clear(b);
}

static void reader_post(irpc_stream_reader *r) {
  if (r->started && !r->paused && !r->done && !r->app_gone)
    irpc__sched_post(r->sched, &r->task);
}

/* Takes the source's next bytes into r->buf. */
static void reader_pull(irpc_stream_reader *r) {
  if (!r->src || irpc_buf_len(&r->buf))
    return;
  int end = 0;
  size_t n = r->src->read(r->ctx, &r->buf, READ_CHUNK, &end);
  if (end && r->src) {
    irpc__timer_stop(r->sched, &r->deadline);
    r->src = NULL;
    r->ctx = NULL;
    r->src_end = 1;
    r->err = 0;
    r->refs--; /* the source's (the caller holds one) */
  } else if (n == 0 && r->src && r->src->readable(r->ctx) > 0) {
    /* bytes waiting and none taken: the source could not allocate; no
     * event would come for them, so the stream ends here (and stops the
     * peer) */
    reader_fail(r, IRPC_ENOMEM);
  }
}

static void reader_task(irpc__task *t) {
  irpc_stream_reader *r = IRPC__CONTAINER_OF(t, irpc_stream_reader, task);
  r->refs++;
  r->in_task = 1;
  while (!r->app_gone && r->started && !r->paused && !r->done) {
    reader_pull(r);
    if (irpc_buf_len(&r->buf)) {
      if (!r->xf) {
        reader_deliver(r, &r->buf);
        continue;
      }
      int rc = transform_run(r->xf, r->xf_state, &r->buf, 0, &r->xout);
      if (rc)
        reader_fail(r, rc);
      else if (irpc_buf_len(&r->xout))
        reader_deliver(r, &r->xout);
      continue;
    }
    if (r->src_end && r->xf && !r->err && !r->xf_last) {
      r->xf_last = 1;
      irpc_buf empty;
      irpc__buf_init(&empty);
      int rc = transform_run(r->xf, r->xf_state, &empty, 1, &r->xout);
      irpc__buf_fini(&empty);
      if (rc)
        r->err = rc;
      else if (irpc_buf_len(&r->xout))
        reader_deliver(r, &r->xout);
      continue;
    }
    if (r->src_end) {
      r->done = 1;
      r->ops.on_end(r, r->err, r->ud);
    }
    break;
  }
  r->in_task = 0;
  reader_unref(r);
}

/* The reader's deadline passed before the writer's end arrived: it ends
 * with IRPC_EDEADLINE and stops the peer. */
static void reader_deadline(irpc__timer *t) {
  irpc_stream_reader *r = IRPC__CONTAINER_OF(t, irpc_stream_reader, deadline);
  r->refs++;
  reader_fail(r, IRPC_EDEADLINE);
  reader_post(r);
  reader_unref(r);
}

int irpc__stream_reader_new(irpc_stream_reader **out, uv_loop_t *loop,
                            const irpc__stream_source *source, void *ctx,
                            irpc_buf *first) {
  irpc_stream_reader *r = irpc_calloc(1, sizeof(*r));
  if (!r)
    return IRPC_ENOMEM;
  r->sched = irpc__sched_acquire(loop);
  if (!r->sched) {
    irpc_free(r);
    return IRPC_ENOMEM;
  }
  irpc__buf_init(&r->buf);
  irpc__buf_init(&r->xout);
  if (first && irpc_buf_move(&r->buf, first) != 0) {
    irpc__sched_release(r->sched);
    irpc__buf_fini(&r->buf);
    irpc_free(r);
    return IRPC_ENOMEM;
  }
  r->refs = 2;
  r->src = source;
  r->ctx = ctx;
  r->task.fn = reader_task;
  irpc__timer_init(&r->deadline, reader_deadline);
  *out = r;
  return 0;
}

irpc__sched *irpc__stream_reader_sched(const irpc_stream_reader *r) {
  return r->sched;
}

void irpc__stream_reader_readable(irpc_stream_reader *r) {
  reader_post(r);
}

void irpc__stream_reader_finish(irpc_stream_reader *r, int err) {
  if (!r->src)
    return;
  irpc__timer_stop(r->sched, &r->deadline);
  r->src = NULL;
  r->ctx = NULL;
  r->src_end = 1;
  r->err = err;
  reader_post(r);
  reader_unref(r); /* the source's */
}

int irpc_stream_reader_start(irpc_stream_reader *r,
                             const irpc_stream_reader_ops *ops, void *ud) {
  if (!r || !ops)
    return IRPC_EINVAL;
  if (r->started)
    return IRPC_EBUSY;
  irpc_stream_reader_ops copy;
  if (IRPC__IMPORT(&copy, ops, irpc_stream_reader_ops) != 0 || !copy.on_data ||
      !copy.on_end)
    return IRPC_EINVAL;
  r->ops = copy;
  r->ud = ud;
  r->started = 1;
  reader_post(r);
  return 0;
}

void irpc_stream_reader_pause(irpc_stream_reader *r) {
  if (r)
    r->paused = 1;
}

void irpc_stream_reader_resume(irpc_stream_reader *r) {
  if (!r || !r->paused)
    return;
  r->paused = 0;
  reader_post(r);
}

size_t irpc_stream_reader_buffered(const irpc_stream_reader *r) {
  if (!r)
    return 0;
  return irpc_buf_len(&r->buf) + (r->src ? r->src->readable(r->ctx) : 0);
}

void irpc_stream_reader_free(irpc_stream_reader *r) {
  if (!r)
    return;
  r->app_gone = 1;
  irpc__timer_stop(r->sched, &r->deadline);
  irpc__sched_cancel(r->sched, &r->task);
  irpc_buf_clear(&r->buf);
  if (r->src) {
    const irpc__stream_source *src = r->src;
    void *ctx = r->ctx;
    r->src = NULL;
    r->ctx = NULL;
    src->stop(ctx);
    r->refs--; /* the source's; the holder's below */
  }
  reader_unref(r);
}

int irpc_stream_reader_set_deadline(irpc_stream_reader *r,
                                    uint64_t timeout_ms) {
  if (!r)
    return IRPC_EINVAL;
  if (r->src_end || r->app_gone)
    return IRPC_ECLOSED;
  if (timeout_ms == 0) {
    irpc__timer_stop(r->sched, &r->deadline);
    return 0;
  }
  return irpc__timer_start(r->sched, &r->deadline, timeout_ms);
}

int irpc_stream_reader_set_transform(irpc_stream_reader *r,
                                     const irpc_stream_transform_ops *ops,
                                     void *state) {
  irpc_stream_transform_ops copy;
  if (!r || transform_check(ops, &copy) != 0)
    return IRPC_EINVAL;
  if (r->delivered)
    return IRPC_EBUSY;
  if (r->xf)
    r->xf->free(r->xf_state);
  r->xf_ops = copy;
  r->xf = &r->xf_ops;
  r->xf_state = state;
  return 0;
}

irpc_stream_reader *
irpc_incoming_request_continuation(const irpc_incoming_request *r) {
  return r ? r->cont : NULL;
}

irpc_stream_reader *
irpc_incoming_response_continuation(const irpc_incoming_response *r) {
  return r ? r->r.rcont : NULL;
}

irpc_stream_reader *
irpc_incoming_response_take_continuation(irpc_incoming_response *r) {
  if (!r)
    return NULL;
  irpc_stream_reader *s = r->r.rcont;
  r->r.rcont = NULL;
  return s;
}

irpc_stream_reader *
irpc_incoming_request_take_continuation(irpc_incoming_request *r) {
  if (!r)
    return NULL;
  irpc_stream_reader *s = r->cont;
  r->cont = NULL;
  return s;
}
