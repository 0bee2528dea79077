/* icerpc over Slic, behind the protocol seam (conn/protocol.h).
 *
 * A request is one Slic stream (bidirectional for a two-way call,
 * unidirectional for a one-way one): its header, then its payload, the
 * last frame flagged; the response comes back on the same stream. Each
 * side opens one unidirectional control stream, which carries its
 * Settings and, at shutdown, its GoAway.
 *
 * The Slic engine (slic.c) and the icerpc codec (icerpc_codec.c) do no
 * I/O; the generic connection moves the bytes. Slic queues its events and
 * every op here ends with slic_drain, which has them delivered to the
 * ev_* functions below; those only ever post events to the generic
 * connection, which delivers them once the op returns. */
#include <string.h>

#include "conn/protocol.h"
#include "icerpc.h"
#include "slic.h"
#include "base/defaults.h"
#include "base/list.h"
#include "base/struct_size.h"
#include "model/compression.h"
#include "model/stream_internal.h"
#include "irpc/alloc.h"
#include "irpc/compression.h"
#include "irpc/status.h"

enum { K_CALL = 1, K_DISP, K_CONTROL, K_XSTREAM };

typedef struct stream_tag {
  int kind;
} stream_tag;

/* A stream that carries a continuation (irpc/stream.h): ours (a writer), the
 * peer's (a reader), or both. Allocated only for such a stream, by its call
 * or dispatch, and freed with the stream. While the call or dispatch holds
 * the stream, its events go through them; once a call completed, the
 * stream is the xstream's own (K_XSTREAM) until it is released. */
typedef struct xstream {
  stream_tag tag;
  irpc__pconn *p;
  irpc__slic_stream *s;
  irpc_stream_writer *w; /* our continuation, until it finished */
  irpc_stream_reader *r; /* the peer's bytes, until they ended */
  irpc__link link;       /* in p->xs */
  int ending;            /* w ended: finished once StreamLast is framed */
  int own;               /* its call completed: the stream is the xstream's */
} xstream;

/* The largest control frame: its type, its varuint62 size, the largest
 * body (a Settings frame). */
#define CONTROL_FRAME_MAX                                                      \
  (1 + IRPC__VARUINT62_WIDTH_MAX + IRPC__ICERPC_MAX_SETTINGS_BODY)

/* A call of ours, from send_request until its response is posted or the
 * generic layer abandons it. */
struct irpc__pcall {
  stream_tag tag;
  irpc__pconn *p;
  irpc__slic_stream *stream;
  irpc_outgoing_request *req;
  irpc__link link; /* in p->calls while held */
  int held;
  int oneway;
  int header_done;
  int reset;         /* the peer reset the stream before answering */
  uint64_t reset_id; /* of that stream, for the peer's GoAway */
  irpc_buf in;
  irpc_incoming_response *resp;
  irpc__payload_stream ps; /* a payload sent as the stream drains */
  xstream *x;              /* a continuation either way, or NULL */
  /* One-way with a continuation: its writer (req->cont) waits until the
   * header and payload are framed, when the call completes. */
  int cont_wait;
};

/* A request of the peer's, from its stream's arrival to the dispatch end
 * posted to the generic connection. */
struct irpc__pdisp {
  stream_tag tag;
  irpc__pconn *p;
  irpc__slic_stream *stream;
  irpc_incoming_request *req;
  irpc_buf in;
  int oneway;
  int streamed;  /* its request was posted as a stream (a reader) */
  int posted;    /* its request was posted */
  int ended;     /* its end was posted: nothing more about it */
  int responded; /* its response was sent */
  int mode;      /* how its request is read (M_*), once known */
  xstream *x;    /* a continuation either way, or NULL */
};

struct irpc__pconn {
  irpc_connection *conn;
  const irpc_connection_options *o;
  irpc_icerpc_options io; /* o->icerpc's copy, or the defaults */
  irpc__slic *slic;
  int is_client;
  int connected; /* the handshake is done (posted) */
  int closed;    /* Slic reported its end */
  int shutdown;  /* this side's graceful shutdown started */
  int drained;   /* no call or dispatch left in the shutdown */
  /* control streams */
  stream_tag ctl_tag;
  irpc__slic_stream *ctl_out;
  irpc__slic_stream *ctl_in;
  irpc_buf ctl_buf;
  int settings_in;
  int goaway_sent;
  int goaway_in;
  int ctl_out_done;
  int ctl_in_done;
  uint64_t peer_goaway[2];
  uint64_t peer_max_header;
  size_t size_width;
  uint64_t peer_formats;
  int peer_takes_bidi;   /* the peer accepts requests (bidirectional streams) */
  int peer_takes_uni;    /* and one-way requests (unidirectional streams) */
  uint64_t next_bidi_in; /* lowest remote bidi id not yet accepted */
  uint64_t next_uni_in;
  uint64_t refuse_code;
  int refusing;
  int resets;       /* calls whose stream the peer reset wait in calls */
  irpc__list calls; /* irpc__pcall: held, newest first */
  irpc__list xs;    /* xstream: every one */
  size_t nxs_own;   /* xstreams whose call completed */
  int nending;      /* xstreams ending */
};

_Static_assert(sizeof(irpc__pcall) <= IRPC__PCALL_SIZE_MAX,
               "the icerpc call state fits the generic call record");

static void fail(irpc__pconn *p, int err);
static void check_shutdown(irpc__pconn *p);

static void want_output(irpc__pconn *p) {
  irpc__conn_post_output(p->conn);
}

/* Slic's queued events, delivered to the ev_* functions (what they raise
 * joins the same pass). */
static void slic_drain(irpc__pconn *p) {
  irpc__slic_drain(p->slic);
}

/* ---- Continuations ---- */

static xstream *x_new(irpc__pconn *p, irpc__slic_stream *s) {
  xstream *x = irpc_calloc(1, sizeof(*x));
  if (!x)
    return NULL;
  x->tag.kind = K_XSTREAM;
  x->p = p;
  x->s = s;
  irpc__list_push_front(&p->xs, &x->link);
  return x;
}

static void x_finish_writer(xstream *x, int err) {
  irpc_stream_writer *w = x->w;
  if (!w)
    return;
  x->w = NULL;
  if (x->ending) {
    x->ending = 0;
    x->p->nending--;
  }
  irpc__stream_writer_finish(w, err);
}

static void x_finish_reader(xstream *x, int err) {
  irpc_stream_reader *r = x->r;
  if (!r)
    return;
  x->r = NULL;
  irpc__stream_reader_finish(r, err);
}

/* Ends both sides with `err` (the writer with 0 when its end went out,
 * the reader with 0 when it read the end) and frees the xstream; its
 * stream, if any, is left as it is (the caller aborts or lets it go). */
static void x_free(xstream *x, int err) {
  irpc__pconn *p = x->p;
  if (x->w)
    x_finish_writer(x, x->s && irpc__slic_stream_write_done(x->s) ? 0 : err);
  if (x->r)
    x_finish_reader(x, x->s && irpc__slic_stream_read_done(x->s) ? 0 : err);
  if (x->s && irpc__slic_stream_user(x->s) == &x->tag)
    irpc__slic_stream_set_user(x->s, NULL);
  irpc__list_remove(&p->xs, &x->link);
  if (x->own) {
    p->nxs_own--;
    irpc__conn_streams(p->conn, -1);
    if (!p->closed)
      check_shutdown(p);
  }
  irpc_free(x);
}

/* Its call completed: the stream is the xstream's until released. Freed at
 * once when nothing flows any more. */
static void x_adopt(xstream *x) {
  if (!x->w && !x->r) {
    x_free(x, 0);
    return;
  }
  x->own = 1;
  x->p->nxs_own++;
  irpc__conn_streams(x->p->conn, 1);
  irpc__slic_stream_set_user(x->s, &x->tag);
}

/* After the output was taken: the writers whose StreamLast went out. */
static void x_check_ending(irpc__pconn *p) {
  if (!p->nending)
    return;
  for (irpc__link *l = p->xs.head; l && p->nending; l = l->next) {
    xstream *x = IRPC__CONTAINER_OF(l, xstream, link);
    if (x->ending && irpc__slic_stream_write_done(x->s))
      x_finish_writer(x, 0);
  }
}

/* The sink of a writer: an xstream's stream. These run outside the
 * protocol's ops too (the application's calls, the writer's task): each
 * ends with the engine's events delivered and the flush task posted, which
 * delivers what they posted. The xstream may be gone after slic_drain. */
static int x_write(void *ctx, irpc_buf *data, int last) {
  xstream *x = ctx;
  irpc__pconn *p = x->p;
  int rc = irpc__slic_stream_write(x->s, data, last);
  if (rc == 0 && last && !x->ending) {
    x->ending = 1;
    p->nending++;
  }
  x_check_ending(p);
  slic_drain(p);
  want_output(p);
  return rc;
}

static size_t x_queued(void *ctx) {
  xstream *x = ctx;
  return irpc__slic_stream_queued(x->s);
}

static void x_want_writable(void *ctx, size_t low) {
  xstream *x = ctx;
  irpc__pconn *p = x->p;
  irpc__slic_stream_notify_writable(x->s, low);
  slic_drain(p);
  want_output(p);
}

static void x_abort(void *ctx) {
  xstream *x = ctx;
  irpc__pconn *p = x->p;
  x->w = NULL;
  if (x->ending) {
    x->ending = 0;
    p->nending--;
  }
  irpc__slic_stream_abort_write(x->s);
  slic_drain(p);
  want_output(p);
}

static const irpc__stream_sink x_sink = {
    .write = x_write,
    .queued = x_queued,
    .want_writable = x_want_writable,
    .abort = x_abort,
};

static size_t x_read(void *ctx, irpc_buf *out, size_t max, int *end) {
  xstream *x = ctx;
  irpc__pconn *p = x->p;
  size_t n = irpc__slic_stream_read(x->s, out, max);
  *end = irpc__slic_stream_read_done(x->s);
  if (*end)
    x->r = NULL;
  slic_drain(p);
  want_output(p);
  return n;
}

static size_t x_readable(void *ctx) {
  xstream *x = ctx;
  return irpc__slic_stream_readable(x->s);
}

static void x_stop(void *ctx) {
  xstream *x = ctx;
  irpc__pconn *p = x->p;
  x->r = NULL;
  irpc__slic_stream_abort_read(x->s);
  slic_drain(p);
  want_output(p);
}

static const irpc__stream_source x_source = {
    .read = x_read,
    .readable = x_readable,
    .stop = x_stop,
};

/* A reader over the stream of `x`, starting with the bytes of `first`. */
static int x_reader(xstream *x, irpc_buf *first, irpc_stream_reader **out) {
  int rc = irpc__stream_reader_new(out, irpc__conn_loop(x->p->conn), &x_source,
                                   x, first);
  if (rc == 0)
    x->r = *out;
  return rc;
}

/* The stream of `x` has events for its continuation. */
static void x_readable_ev(xstream *x) {
  if (x->r) {
    irpc__stream_reader_readable(x->r);
  } else {
    /* nobody reads: drop (the reader stopped, so nothing more comes) */
    irpc_buf sink;
    irpc__buf_init(&sink);
    irpc__slic_stream_read(x->s, &sink, SIZE_MAX);
    irpc__buf_fini(&sink);
  }
}

static void x_writable_ev(xstream *x) {
  if (x->w)
    irpc__stream_writer_writable(x->w);
}

/* Slic's stream errors (see irpc__slic_events.on_stream_error). */
static void x_error_ev(xstream *x, int err) {
  if (err == UV_EPIPE) {
    x_finish_writer(x, IRPC_ESTOPPED);
  } else if (err == IRPC_ETRUNCATED) {
    x_finish_reader(x, IRPC_ETRUNCATED);
  } else {
    err = irpc__conn_end_err(x->p->conn, err);
    x_finish_writer(x, err);
    x_finish_reader(x, err);
  }
}

/* ---- Options ---- */

void irpc_icerpc_options_init_sized(irpc_icerpc_options *o, size_t size) {
  irpc_icerpc_options d;
  memset(&d, 0, sizeof(d));
  d.max_header_size = IRPC__DEFAULT_MAX_HEADER_SIZE;
  d.max_bidirectional_streams = IRPC__DEFAULT_MAX_BIDI_STREAMS;
  d.max_unidirectional_streams = IRPC__DEFAULT_MAX_UNI_STREAMS;
  d.idle_timeout_ms = IRPC__DEFAULT_IDLE_TIMEOUT_MS;
  d.initial_stream_window_size = IRPC__DEFAULT_ICERPC_STREAM_WINDOW;
  d.max_stream_frame_size = IRPC__DEFAULT_ICERPC_STREAM_FRAME_SIZE;
  d.compression_formats = irpc_compress_formats_readable();
  irpc__struct_export(o, size, &d, sizeof(d));
}

/* o->icerpc is the library's own copy (irpc__connection_options_import),
 * or NULL for the defaults. */
static int icerpc_options_check(const irpc_connection_options *o) {
  const irpc_icerpc_options *io = o->icerpc;
  if (!io)
    return 0;
  if (io->max_header_size < IRPC__ICERPC_MIN_HEADER ||
      io->max_header_size > IRPC__ICERPC_MAX_HEADER ||
      io->max_bidirectional_streams == 0 ||
      io->max_unidirectional_streams == 0 ||
      io->initial_stream_window_size < IRPC__SLIC_MIN_WINDOW ||
      io->initial_stream_window_size > IRPC__SLIC_MAX_WINDOW ||
      io->max_stream_frame_size < IRPC__SLIC_MIN_FRAME ||
      io->max_stream_frame_size > IRPC__SLIC_MAX_FRAME ||
      (io->compression_formats & ~irpc_compress_formats_readable()))
    return IRPC_EINVAL;
  return 0;
}

/* ---- Calls ---- */

/* A one-way call whose payload did not go out whole: its continuation's
 * writer, never attached, ends with `err`. */
static void pcall_drop_cont(irpc__pcall *k, int err) {
  if (!k->cont_wait)
    return;
  k->cont_wait = 0;
  irpc__stream_writer_refuse(k->req->cont, err);
}

/* Lets go of a call: its stream is detached (the rest of a payload sent in
 * pieces is not sent: the peer's reads end), then `err`/`resp` is posted
 * unless the generic layer abandoned it (`post` 0). */
static void pcall_release(irpc__pcall *k, int post, int err,
                          irpc_incoming_response *resp) {
  irpc__pconn *p = k->p;
  if (!k->held)
    return;
  k->held = 0;
  irpc__list_remove(&p->calls, &k->link);
  pcall_drop_cont(k, err ? err : IRPC_ECLOSED);
  if (k->ps.ops) {
    if (k->stream) {
      irpc__slic_stream_abort_write(k->stream);
      want_output(p);
    }
    irpc__payload_stream_end(&k->ps);
  }
  if (k->x) {
    /* A continuation outlives the call on its stream. */
    xstream *x = k->x;
    k->x = NULL;
    if (k->stream) {
      irpc__slic_stream_set_user(k->stream, NULL);
      x_adopt(x); /* the stream is the xstream's, if it still flows */
    } else
      x_free(x, err ? err : IRPC_ECLOSED);
  } else if (k->stream) {
    irpc__slic_stream_set_user(k->stream, NULL);
  }
  k->stream = NULL;
  irpc__buf_fini(&k->in);
  if (k->resp && k->resp != resp)
    irpc_incoming_response_free(k->resp);
  k->resp = NULL;
  if (post)
    irpc__conn_post_response(p->conn, k, err, resp);
}

/* Abandons the stream of a call both ways: the peer cancels its dispatch.
 * Its continuation, if any, ends with `err`. */
static void pcall_abort_stream(irpc__pcall *k, int err) {
  pcall_drop_cont(k, err);
  if (k->x) {
    xstream *x = k->x;
    k->x = NULL;
    x_free(x, err);
  }
  irpc__slic_stream *s = k->stream;
  if (!s)
    return;
  irpc__slic_stream_set_user(s, NULL);
  k->stream = NULL;
  irpc__slic_stream_abort_write(s);
  if (irpc__slic_stream_bidi(s))
    irpc__slic_stream_abort_read(s);
  want_output(k->p);
}

static void pcall_fail(irpc__pcall *k, int err) {
  pcall_abort_stream(k, err);
  pcall_release(k, 1, err, NULL);
}

/* A streamed payload is written while fewer than this many bytes of it wait
 * in the stream, in pieces of about this size: what the client holds of
 * it besides the connection's output is about twice this. */
#define PULL_LOW_WATER ((size_t)256 << 10)

/* Writes more of a streamed payload, then asks to be told when the stream
 * drains (ev_stream_writable), or ends the payload with its last piece.
 * Returns 0, the writer's error, IRPC_ENOMEM, or 1 when the stream takes
 * no more (the peer stopped reading, or the connection is closing). */
static int pcall_pull(irpc__pcall *k) {
  int done = 0, rc = 0;
  while (rc == 0 && !done && k->stream &&
         irpc__slic_stream_queued(k->stream) < PULL_LOW_WATER) {
    irpc_buf out;
    irpc__buf_init(&out);
    rc = irpc__payload_stream_next(&k->ps, &out, PULL_LOW_WATER, &done);
    if (rc == 0 &&
        (rc = irpc__slic_stream_write(k->stream, &out, done)) == IRPC_ECLOSED)
      rc = 1;
    irpc__buf_fini(&out);
  }
  if (rc == 0 && !k->stream)
    rc = 1;
  if (rc)
    return rc;
  if (done)
    irpc__payload_stream_end(&k->ps);
  else
    irpc__slic_stream_notify_writable(k->stream, PULL_LOW_WATER);
  want_output(k->p);
  return 0;
}

static void icerpc_send_more(irpc__pconn *p, irpc__pcall *k) {
  if (!k->stream || !k->ps.ops)
    return;
  int rc = pcall_pull(k);
  if (rc > 0) {
    /* The peer stopped reading (StreamReadsClosed): its answer may still
     * come, without the rest of the payload. (A closing connection ends
     * the call itself.) */
    irpc__payload_stream_end(&k->ps);
  } else if (rc) {
    pcall_fail(k, rc);
  }
  slic_drain(p);
}

/* Header, then the payload as prepared for this peer: in one write, or for
 * a streamed payload (irpc__request_prepare_stream), the first pieces now
 * and the rest as the stream drains. */
static int pcall_send(irpc__pcall *k) {
  irpc__pconn *p = k->p;
  irpc_outgoing_request *req = k->req;
  irpc_buf out;
  irpc__buf_init(&out);
  irpc_buf payload;
  irpc__buf_init(&payload);
  irpc_stream_writer *w = req->cont;
  /* A two-way request whose continuation ended before it was sent (its
   * writer aborted, its deadline passed, its end reported) cannot go
   * whole: it fails with that error, and nothing is written. */
  int rc = w && !k->oneway ? irpc__stream_writer_end_error(w) : 0;
  if (rc == 0)
    rc = w ? irpc__request_prepare_cont(req, p->peer_formats, &payload)
           : irpc__request_prepare_stream(req, p->peer_formats, &payload,
                                          &k->ps);
  if (rc == 0)
    rc = irpc__icerpc_request_header_encode(&out, p->size_width,
                                            p->peer_max_header, req->path,
                                            req->operation, &req->fields);
  if (rc == 0)
    rc = irpc_buf_move(&out, &payload);
  if (rc == 0)
    rc = irpc__slic_stream_write(k->stream, &out, !k->ps.ops && !w);
  irpc__buf_fini(&payload);
  irpc__buf_fini(&out);
  if (rc == 0 && w) {
    /* The continuation follows the payload on the same stream. */
    k->x = x_new(p, k->stream);
    if (!k->x) {
      rc = IRPC_ENOMEM;
    } else if (k->oneway) {
      /* attached once the payload is framed, when the call completes
       * (pcall_oneway_sent) */
      k->cont_wait = 1;
      irpc__slic_stream_notify_writable(k->stream, 1);
    } else {
      k->x->w = w; /* before: attaching may raise its events */
      if ((rc = irpc__stream_writer_attach(w, &x_sink, k->x)) == IRPC_EBUSY)
        k->x->w = NULL;
    }
  }
  if (rc == 0 && k->ps.ops && (rc = pcall_pull(k)) > 0)
    rc = IRPC_ECLOSED;
  return rc;
}

/* The header and payload of a one-way request with a continuation were
 * framed: the call completes, as IceRPC's one-way invocation returns once
 * its payload is sent, and the continuation goes on in the background on
 * the stream, the xstream's own, with the writer's own end. */
static void pcall_oneway_sent(irpc__pcall *k) {
  irpc_stream_writer *w = k->req->cont;
  xstream *x = k->x;
  irpc_incoming_response *ok;
  int rc = irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL);
  if (rc) {
    pcall_fail(k, rc);
    return;
  }
  k->cont_wait = 0;
  x->w = w; /* before: attaching may raise its events */
  rc = irpc__stream_writer_attach(w, &x_sink, x);
  if (rc) {
    /* aborted before it started (IRPC_EBUSY), or the stream took none of
     * it: the peer's reader sees the stream aborted */
    if (rc == IRPC_EBUSY)
      x->w = NULL;
    else
      x_finish_writer(x, rc);
    irpc__slic_stream_abort_write(k->stream);
    want_output(k->p);
  }
  pcall_release(k, 1, 0, ok);
}

/* Sends a call on its new stream `s`. */
static int send_on(irpc__pconn *p, irpc__pcall *k, irpc_outgoing_request *req,
                   irpc__slic_stream *s, int oneway) {
  int rc;
  k->tag.kind = K_CALL;
  k->p = p;
  k->req = req;
  k->oneway = oneway;
  k->stream = s;
  k->header_done = 0;
  k->reset = 0;
  k->resp = NULL;
  k->ps.ops = NULL;
  k->x = NULL;
  k->cont_wait = 0;
  irpc__buf_init(&k->in);
  irpc__slic_stream_set_user(s, &k->tag);
  k->held = 1;
  irpc__list_push_front(&p->calls, &k->link);
  rc = pcall_send(k);
  if (rc) {
    /* Detached before the aborts: the events they raise must not reach
     * the call, which a retry may send again from its completion. */
    pcall_abort_stream(k, rc);
    pcall_release(k, 0, 0, NULL);
    return rc;
  }
  want_output(p);
  return 0;
}

/* Opens a stream and sends. A peer that allows no stream of this kind (no
 * dispatcher) fails the call at once: no stream would ever be free. */
static int icerpc_send_request(irpc__pconn *p, irpc__pcall *k,
                               irpc_outgoing_request *req) {
  int oneway = irpc_outgoing_request_oneway(req);
  if (!(oneway ? p->peer_takes_uni : p->peer_takes_bidi))
    return IRPC_ENOREQUESTS;
  irpc__slic_stream *s;
  int rc = irpc__slic_stream_open(p->slic, !oneway, &s);
  if (rc == 0) {
    rc = send_on(p, k, req, s, oneway);
    slic_drain(p);
    return rc;
  }
  return rc == IRPC_EBUSY ? IRPC__PROTO_NO_SLOT : rc;
}

static void icerpc_abandon_request(irpc__pconn *p, irpc__pcall *k) {
  pcall_abort_stream(k, irpc__conn_call_err(k));
  pcall_release(k, 0, 0, NULL);
  slic_drain(p);
}

/* Takes the header at the front of `in` once all of it has arrived.
 * Returns 1 with the header bytes in *hdr (`small` when it fits, else a
 * heap copy the caller frees with release_header), 0 when more bytes are
 * needed, or a negative error (IRPC_EPROTO, IRPC_ELIMIT, IRPC_ENOMEM). */
#define SMALL_HEADER 512

static int take_header(irpc_buf *in, uint64_t max, uint8_t *small,
                       uint8_t **hdr, size_t *len) {
  *hdr = NULL;
  *len = 0;
  uint8_t pre[IRPC__VARUINT62_WIDTH_MAX];
  size_t n = irpc_buf_len(in) < sizeof pre ? irpc_buf_len(in) : sizeof pre;
  irpc_buf_copyout(in, 0, pre, n);
  uint64_t size;
  long used = irpc__icerpc_header_size(pre, n, max, &size);
  if (used <= 0)
    return used < 0 ? (int)used : 0;
  if (irpc_buf_len(in) < (size_t)used + size)
    return 0;
  irpc_buf_consume(in, (size_t)used);
  *hdr = size <= SMALL_HEADER ? small : irpc_malloc(size);
  if (!*hdr)
    return IRPC_ENOMEM;
  irpc_buf_copyout(in, 0, *hdr, size);
  irpc_buf_consume(in, size);
  *len = size;
  return 1;
}

static void release_header(uint8_t *hdr, uint8_t *small) {
  if (hdr != small)
    irpc_free(hdr);
}

/* A response whose payload the caller reads as a stream: the call
 * completes now, the bytes come through the response's reader. */
static void pcall_stream_response(irpc__pcall *k) {
  irpc__pconn *p = k->p;
  if (!k->x && !(k->x = x_new(p, k->stream))) {
    pcall_fail(k, IRPC_ENOMEM);
    return;
  }
  irpc_stream_reader *r;
  int rc = x_reader(k->x, &k->in, &r);
  if (rc) {
    pcall_fail(k, rc);
    return;
  }
  irpc_incoming_response *resp = k->resp;
  k->resp = NULL;
  resp->r.rcont = r;
  rc = irpc__compress_screen_response(irpc_outgoing_request_fields(k->req),
                                      &resp);
  pcall_release(k, 1, rc, resp);
}

/* Response bytes: header first, then the payload to the end. */
static void pcall_readable(irpc__pcall *k) {
  irpc__pconn *p = k->p;
  irpc__slic_stream_read(k->stream, &k->in, SIZE_MAX);
  if (!k->header_done) {
    uint8_t small[SMALL_HEADER], *hdr;
    size_t len;
    int rc = take_header(&k->in, p->io.max_header_size, small, &hdr, &len);
    if (rc == 1) {
      rc = irpc__icerpc_response_header_decode(hdr, len, &k->resp);
      release_header(hdr, small);
      if (rc == 0)
        k->header_done = 1;
    }
    if (rc < 0) {
      pcall_fail(k, rc == IRPC_ENOMEM ? rc : IRPC_EPROTO);
      return;
    }
  }
  if (k->header_done && k->req->stream_response && !k->oneway) {
    pcall_stream_response(k);
    return;
  }
  if (k->header_done && p->o->max_payload_size &&
      irpc_buf_len(&k->in) > p->o->max_payload_size) {
    pcall_fail(k, IRPC_ELIMIT);
    return;
  }
  if (irpc__slic_stream_read_done(k->stream)) {
    if (!k->header_done) {
      pcall_fail(k, IRPC_ETRUNCATED);
      return;
    }
    irpc_incoming_response *r = k->resp;
    irpc_buf_move(irpc_incoming_response_payload(r), &k->in);
    k->resp = NULL;
    int rc = irpc__compress_screen_response(
        irpc_outgoing_request_fields(k->req), &r);
    pcall_release(k, 1, rc, r);
  }
}

/* ---- Dispatches ---- */

/* Lets go of a dispatch: nothing more is posted about it. */
static void pdisp_end(irpc__pdisp *d, int cancel_err) {
  if (d->ended)
    return;
  d->ended = 1;
  if (d->x) {
    xstream *x = d->x;
    d->x = NULL;
    x_free(x, irpc__conn_end_err(d->p->conn,
                                 cancel_err ? cancel_err : IRPC_ECLOSED));
  }
  if (d->stream) {
    irpc__slic_stream_set_user(d->stream, NULL);
    d->stream = NULL;
  }
  irpc__buf_fini(&d->in);
  irpc_incoming_request_free(d->req);
  d->req = NULL;
  irpc__conn_post_dispatch_end(d->p->conn, d, cancel_err);
}

static void pdisp_abort(irpc__pdisp *d, int cancel_err) {
  if (d->x) {
    xstream *x = d->x;
    d->x = NULL;
    x_free(x, cancel_err ? cancel_err : IRPC_ECANCELED);
  }
  irpc__slic_stream *s = d->stream;
  if (s) {
    d->stream = NULL;
    irpc__slic_stream_set_user(s, NULL);
    irpc__slic_stream_abort_read(s);
    if (irpc__slic_stream_bidi(s))
      irpc__slic_stream_abort_write(s);
    want_output(d->p);
  }
  pdisp_end(d, cancel_err);
}

static int response_send(irpc__pdisp *d, irpc_outgoing_response *resp) {
  irpc__pconn *p = d->p;
  irpc__response *r = &((irpc_outgoing_response *)resp)->r;
  irpc_stream_writer *w = r->wcont;
  irpc_buf out, payload;
  irpc__buf_init(&out);
  irpc__buf_init(&payload);
  int rc = w ? irpc__response_prepare_cont(resp, p->peer_formats, &payload)
             : irpc__response_prepare(resp, p->peer_formats, &payload);
  if (rc == 0) {
    rc = irpc__icerpc_response_header_encode(&out, p->size_width,
                                             p->peer_max_header, r->status,
                                             r->message, &r->fields);
    if (rc == IRPC_ELIMIT) {
      /* The peer could not read it: tell it so instead. */
      if (w)
        irpc__stream_writer_refuse(w, IRPC_ELIMIT);
      w = NULL;
      irpc_buf_clear(&out);
      irpc_buf_clear(&payload);
      rc = irpc__icerpc_response_header_encode(
          &out, p->size_width, p->peer_max_header, IRPC_STATUS_INTERNAL_ERROR,
          "The response header is larger than the peer's limit.", NULL);
    }
  }
  if (rc == 0)
    rc = irpc_buf_move(&out, &payload);
  if (rc == 0)
    rc = irpc__slic_stream_write(d->stream, &out, !w);
  irpc__buf_fini(&payload);
  irpc__buf_fini(&out);
  if (rc == 0 && w) {
    /* The continuation follows the payload on the same stream. */
    if (!d->x && !(d->x = x_new(p, d->stream))) {
      rc = IRPC_ENOMEM;
    } else {
      d->x->w = w; /* before: attaching may raise its events */
      if ((rc = irpc__stream_writer_attach(w, &x_sink, d->x)) == IRPC_EBUSY)
        d->x->w = NULL;
    }
  }
  return rc;
}

static void icerpc_send_response(irpc__pconn *p, irpc__pdisp *d,
                                 irpc_outgoing_response *resp) {
  if (!d->stream)
    return;
  d->responded = 1;
  if (d->oneway && d->streamed && d->x && d->x->r) {
    /* the request's reader goes on after the dispatch */
  } else if (!resp || d->oneway || response_send(d, resp) != 0) {
    pdisp_abort(d, 0); /* nothing more to read or write */
  }
  want_output(p);
  slic_drain(p);
}

static int pdisp_parse_header(irpc__pdisp *d) {
  uint8_t small[SMALL_HEADER], *hdr;
  size_t len;
  int rc = take_header(&d->in, d->p->io.max_header_size, small, &hdr, &len);
  if (rc != 1)
    return rc;
  rc = irpc__icerpc_request_header_decode(hdr, len, d->oneway, &d->req);
  release_header(hdr, small);
  if (rc == IRPC_EPATH)
    rc = IRPC_EPROTO;
  return rc ? rc : 1;
}

/* Posts a request whose payload the dispatch reads as a stream, now that
 * its header arrived: the bytes read so far start its reader. */
static int pdisp_stream(irpc__pdisp *d) {
  irpc__pconn *p = d->p;
  xstream *x = x_new(p, d->stream);
  if (!x)
    return IRPC_ENOMEM;
  irpc_stream_reader *r;
  int rc = x_reader(x, &d->in, &r);
  if (rc) {
    x_free(x, rc);
    return rc;
  }
  irpc_incoming_request *req = d->req;
  d->req = NULL;
  req->cont = r;
  d->streamed = 1;
  d->posted = 1;
  if (d->stream) {
    d->x = x;
  } else {
    /* the whole request came: the reader has every byte */
    x->s = NULL;
    x_free(x, 0);
  }
  irpc__conn_post_request(p->conn, d, req);
  return 0;
}

/* How a request is read: its stream_request answer, once its header
 * arrived. A compressed payload is read to its end whatever the answer
 * (its segment is inside the compressed bytes). */
enum { M_WHOLE = 1, M_STREAM, M_SEGMENT };

static int request_mode(irpc__pconn *p, irpc_incoming_request *req) {
  if (!p->io.stream_request)
    return M_WHOLE;
  int m = p->io.stream_request(p->io.stream_request_user_data, req->path,
                               req->operation);
  if (m == IRPC_STREAM_REQUEST_SEGMENT)
    return irpc_fields_has(&req->fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT)
               ? M_WHOLE
               : M_SEGMENT;
  return m ? M_STREAM : M_WHOLE;
}

/* The length of the whole Slice segment `in` starts with (a varuint62
 * size, then that many bytes), or 0 while it has not all arrived. */
static size_t segment_len(const irpc_buf *in) {
  uint8_t pre[IRPC__VARUINT62_WIDTH_MAX];
  size_t len = irpc_buf_len(in);
  size_t n = len < sizeof pre ? len : sizeof pre;
  uint64_t size;
  irpc_buf_copyout(in, 0, pre, n);
  size_t used = irpc__varuint62_get(pre, n, &size);
  return used && size <= len - used ? used + (size_t)size : 0;
}

/* The payload (a segment of `seg` bytes) of a request read by segment
 * arrived: it is dispatched alone, and what follows it (a continuation
 * the operation does not take) is dropped; a stream that goes on is not
 * read any more: its reads close, the peer's writer learns it
 * (StreamReadsClosed), and the response goes out on the stream as usual.
 * Returns 1: the payload ended. */
static int pdisp_stop_after_segment(irpc__pdisp *d, size_t seg, int ended) {
  irpc_buf_truncate(&d->in, seg);
  if (!ended && d->stream) {
    irpc__slic_stream_abort_read(d->stream);
    want_output(d->p);
  }
  return 1;
}

/* Request bytes: header first, then the payload to the end, then the
 * request is posted. Reading the last byte may release the stream (a
 * one-way request, or a peer that closed our writes already): the stream
 * is let go of at once, and the end is posted here, after the request. */
static void pdisp_readable(irpc__pdisp *d) {
  irpc__pconn *p = d->p;
  irpc__slic_stream *s = d->stream;
  if (d->streamed) {
    if (d->x)
      x_readable_ev(d->x);
    return;
  }
  irpc__slic_stream_read(s, &d->in, SIZE_MAX);
  int ended = irpc__slic_stream_read_done(s);
  if (irpc__slic_stream_released(s)) {
    irpc__slic_stream_set_user(s, NULL);
    d->stream = NULL;
  }
  if (!d->req) {
    int rc = pdisp_parse_header(d);
    if (rc < 0 || (rc == 0 && ended)) {
      pdisp_abort(d, 0);
      return;
    }
    if (rc == 0)
      return;
  }
  if (!d->posted && !d->mode)
    d->mode = request_mode(p, d->req);
  if (d->mode == M_STREAM) {
    if (pdisp_stream(d) != 0)
      pdisp_abort(d, 0);
    else if (!d->stream)
      pdisp_end(d, 0); /* released by the last read */
    return;
  }
  size_t seg;
  if (d->mode == M_SEGMENT && !d->posted && (seg = segment_len(&d->in)))
    ended = pdisp_stop_after_segment(d, seg, ended);
  if (p->o->max_payload_size && irpc_buf_len(&d->in) > p->o->max_payload_size) {
    pdisp_abort(d, 0);
    return;
  }
  if (ended && !d->posted) {
    irpc_incoming_request *req = d->req;
    d->req = NULL;
    irpc_buf_move(&req->payload, &d->in);
    d->posted = 1;
    irpc__conn_post_request(p->conn, d, req);
  }
  if (!d->stream)
    pdisp_end(d, 0); /* released by the last read */
}

/* ---- The control stream ---- */

static void send_goaway(irpc__pconn *p) {
  if (p->goaway_sent || !p->ctl_out)
    return;
  p->goaway_sent = 1;
  irpc_buf b;
  irpc__buf_init(&b);
  int rc = irpc__icerpc_goaway_encode(&b, p->next_bidi_in, p->next_uni_in);
  if (rc == 0)
    rc = irpc__slic_stream_write(p->ctl_out, &b, 0);
  /* Framed now, so that it precedes the resets of the streams it refuses
   * (ev_stream), however much stream data waits to be framed. */
  if (rc == 0)
    irpc__slic_stream_flush(p->ctl_out);
  irpc__buf_fini(&b);
  if (rc)
    fail(p, rc);
  else
    want_output(p);
}

static void established(irpc__pconn *p) {
  const irpc__slic_params *peer = irpc__slic_peer_params(p->slic);
  p->connected = 1;
  /* IceRPC's rule: a side without a dispatcher allows no bidirectional
   * stream and one unidirectional stream (our control stream). */
  p->peer_takes_bidi = peer->max_bidi_streams > 0;
  p->peer_takes_uni = peer->max_uni_streams > 1;
  irpc__conn_post_connected(p->conn);
}

/* Whether the peer's GoAway refused a call: its stream has no id yet (no
 * frame of it was written: it will never be), or an id the peer did not
 * accept. */
static int goaway_refused(const irpc__pconn *p, const irpc__pcall *k) {
  uint64_t id;
  int bidi;
  if (k->reset) {
    id = k->reset_id;
    bidi = !k->oneway;
  } else if (k->stream) {
    id = irpc__slic_stream_id(k->stream);
    bidi = irpc__slic_stream_bidi(k->stream);
  } else {
    return 0;
  }
  return id == UINT64_MAX || id >= p->peer_goaway[bidi ? 0 : 1];
}

/* The peer's GoAway: our calls on streams it did not accept never ran
 * (IRPC_EINVCANCELED, posted after the shutdown itself), and no call
 * starts on this connection any more. */
static void goaway_received(irpc__pconn *p, const uint64_t ids[2]) {
  p->goaway_in = 1;
  p->peer_goaway[0] = ids[0];
  p->peer_goaway[1] = ids[1];
  irpc__conn_post_peer_shutdown(p->conn);
  for (irpc__link *l = p->calls.head, *next; l; l = next) {
    next = l->next;
    irpc__pcall *k = IRPC__CONTAINER_OF(l, irpc__pcall, link);
    if (goaway_refused(p, k))
      pcall_fail(k, IRPC_EINVCANCELED);
  }
  check_shutdown(p);
}

static void control_readable(irpc__pconn *p, irpc__slic_stream *in) {
  irpc__slic_stream_read(in, &p->ctl_buf, SIZE_MAX);
  int ended = irpc__slic_stream_read_done(in);
  for (;;) {
    size_t len = irpc_buf_len(&p->ctl_buf);
    if (len == 0)
      break;
    uint8_t tmp[CONTROL_FRAME_MAX];
    size_t n = len < sizeof tmp ? len : sizeof tmp;
    irpc_buf_copyout(&p->ctl_buf, 0, tmp, n);
    int type = -1;
    irpc__icerpc_settings s;
    uint64_t ids[2];
    long used = irpc__icerpc_control_decode(tmp, n, &type, &s, ids);
    if (used < 0) {
      fail(p, IRPC_EPROTO);
      return;
    }
    if (used == 0)
      break;
    irpc_buf_consume(&p->ctl_buf, (size_t)used);
    if (!p->settings_in) {
      if (type != IRPC__ICERPC_SETTINGS) {
        fail(p, IRPC_EPROTO);
        return;
      }
      p->settings_in = 1;
      p->peer_max_header = s.max_header_size;
      p->size_width = irpc__varuint62_size(s.max_header_size);
      p->peer_formats = irpc__compress_peer_formats(s.has_compression_formats,
                                                    s.compression_formats);
      if (!p->connected && p->ctl_out)
        established(p);
    } else if (type != IRPC__ICERPC_GOAWAY || p->goaway_in) {
      fail(p, IRPC_EPROTO);
      return;
    } else {
      goaway_received(p, ids);
    }
    if (p->closed || irpc__slic_ended(p->slic))
      return;
  }
  if (ended) {
    p->ctl_in_done = 1;
    if (!p->shutdown || !p->goaway_in || irpc_buf_len(&p->ctl_buf)) {
      fail(p, IRPC_EPROTO);
      return;
    }
    check_shutdown(p);
  }
}

/* The graceful shutdown ends once GoAway went both ways and no call or
 * dispatch is left: our control stream ends, and the client, once the
 * server's ended too, sends Slic's Close. */
static void check_shutdown(irpc__pconn *p) {
  if (!p->drained || !p->goaway_in || !p->goaway_sent || p->nxs_own)
    return;
  if (!p->ctl_out_done && p->ctl_out) {
    p->ctl_out_done = 1;
    irpc_buf empty;
    irpc__buf_init(&empty);
    irpc__slic_stream_write(p->ctl_out, &empty, 1);
    irpc__buf_fini(&empty);
    want_output(p);
  }
  if (p->ctl_in_done && p->is_client) {
    irpc__slic_close(p->slic, IRPC__SLIC_CLOSE_NO_ERROR);
    want_output(p);
  }
}

/* Abortive end found by the protocol (a bad control frame, an allocation
 * failure): Slic releases every stream, then reports its end. */
static void fail(irpc__pconn *p, int err) {
  if (p->closed || irpc__slic_ended(p->slic))
    return;
  irpc__conn_post_closing(p->conn, err);
  irpc__slic_abort(p->slic, err);
}

/* ---- Slic events ---- */

static void ev_connected(void *ud) {
  irpc__pconn *p = ud;
  irpc__slic_stream *s;
  if (p->refusing) {
    irpc__slic_close(p->slic, p->refuse_code);
    want_output(p);
    return;
  }
  irpc_buf b;
  irpc__buf_init(&b);
  int rc = irpc__slic_stream_open(p->slic, 0, &s);
  if (rc == 0) {
    p->ctl_out = s;
    irpc__slic_stream_set_user(s, &p->ctl_tag);
    rc = irpc__icerpc_settings_encode(
        &b, p->io.max_header_size,
        irpc__compress_announcement(p->o->dispatcher,
                                    p->io.compression_formats));
    if (rc == 0)
      rc = irpc__slic_stream_write(s, &b, 0);
  }
  irpc__buf_fini(&b);
  if (rc) {
    fail(p, rc);
    return;
  }
  want_output(p);
  if (p->settings_in && !p->connected)
    established(p);
}

static void ev_stream(void *ud, irpc__slic_stream *s) {
  irpc__pconn *p = ud;
  int bidi = irpc__slic_stream_bidi(s);
  uint64_t id = irpc__slic_stream_id(s);
  if (!bidi && !p->ctl_in) {
    p->ctl_in = s;
    irpc__slic_stream_set_user(s, &p->ctl_tag);
    return;
  }
  irpc__pdisp *d = NULL;
  int rc =
      p->goaway_sent ? IRPC_EREFUSED : irpc__conn_dispatch_open(p->conn, &d);
  if (rc == IRPC_ENOMEM) {
    fail(p, IRPC_ENOMEM);
    return;
  }
  if (rc) {
    irpc__slic_stream_abort_read(s);
    if (bidi)
      irpc__slic_stream_abort_write(s);
    want_output(p);
    return;
  }
  d->tag.kind = K_DISP;
  d->p = p;
  d->stream = s;
  d->oneway = !bidi;
  irpc__buf_init(&d->in);
  irpc__slic_stream_set_user(s, &d->tag);
  if (bidi)
    p->next_bidi_in = irpc__slic_next_id(id);
  else
    p->next_uni_in = irpc__slic_next_id(id);
}

static void ev_readable(void *ud, irpc__slic_stream *s) {
  irpc__pconn *p = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  if (!t) {
    /* an abandoned stream: drain and drop */
    irpc_buf sink;
    irpc__buf_init(&sink);
    irpc__slic_stream_read(s, &sink, SIZE_MAX);
    irpc__buf_fini(&sink);
    return;
  }
  if (t->kind == K_CALL)
    pcall_readable((irpc__pcall *)t);
  else if (t->kind == K_XSTREAM)
    x_readable_ev((xstream *)t);
  else if (t->kind == K_DISP)
    pdisp_readable((irpc__pdisp *)t);
  else if (s == p->ctl_in)
    control_readable(p, s);
  want_output(p);
}

static void ev_stream_error(void *ud, irpc__slic_stream *s, int err) {
  irpc__pconn *p = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  if (!t)
    return;
  if (t->kind == K_XSTREAM) {
    x_error_ev((xstream *)t, err);
    return;
  }
  if (t->kind == K_CALL) {
    irpc__pcall *k = (irpc__pcall *)t;
    if (err == UV_EPIPE) {
      /* the peer stopped reading: its answer may still come */
      pcall_drop_cont(k, IRPC_ESTOPPED);
      if (k->x)
        x_finish_writer(k->x, IRPC_ESTOPPED);
      return;
    }
    if (err == IRPC_ETRUNCATED && !k->header_done && !irpc_buf_len(&k->in) &&
        !p->closed) {
      /* Reset before any answer: the peer refused the request or failed
       * it. A GoAway that follows in the input read with it tells which
       * (goaway_received); the rest fail once the input is read
       * (input_done). */
      k->reset = 1;
      k->reset_id = irpc__slic_stream_id(s);
      pcall_abort_stream(k, IRPC_ETRUNCATED);
      p->resets = 1;
      return;
    }
    if (err != IRPC_ETRUNCATED) {
      /* the engine failed: the connection ends */
      irpc__conn_post_closing(p->conn, err);
      if (irpc__slic_stream_id(s) == UINT64_MAX)
        err = IRPC_EREFUSED; /* no frame of it was written */
    }
    pcall_fail(k, err);
  } else if (t->kind == K_DISP) {
    irpc__pdisp *d = (irpc__pdisp *)t;
    /* The peer aborted the request's continuation, which a streamed
     * request's dispatch learns from its reader; or it stopped reading a
     * response already sent, which only its continuation learns. */
    if (d->x && ((err == IRPC_ETRUNCATED && d->streamed) ||
                 (err == UV_EPIPE && d->responded))) {
      x_error_ev(d->x, err);
      return;
    }
    /* The peer canceled the call (it reset the stream), or the connection
     * ended: the dispatch is canceled with the connection's error then. */
    if (err != IRPC_ETRUNCATED && err != UV_EPIPE)
      err = irpc__conn_end_err(p->conn, err);
    else
      err = IRPC_ECANCELED;
    pdisp_abort((irpc__pdisp *)t, err);
  } else if (err == IRPC_ETRUNCATED && p->connected && !p->shutdown &&
             !p->goaway_in && !p->closed) {
    /* The peer aborted its control stream. Any other error is the end of
     * the connection, whose own error on_closed reports. */
    fail(p, IRPC_EPROTO);
  }
}

/* The calls whose stream the peer reset, and that no GoAway refused: the
 * peer failed them. */
static void settle_resets(irpc__pconn *p) {
  if (!p->resets)
    return;
  p->resets = 0;
  for (irpc__link *l = p->calls.head, *next; l; l = next) {
    next = l->next;
    irpc__pcall *k = IRPC__CONTAINER_OF(l, irpc__pcall, link);
    if (k->reset)
      pcall_release(k, 1, IRPC_ETRUNCATED, NULL);
  }
}

static void ev_stream_released(void *ud, irpc__slic_stream *s) {
  irpc__pconn *p = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  irpc__slic_stream_set_user(s, NULL);
  if (s == p->ctl_in)
    p->ctl_in = NULL;
  if (s == p->ctl_out)
    p->ctl_out = NULL;
  if (!t)
    return;
  if (t->kind == K_XSTREAM) {
    x_free((xstream *)t, irpc__conn_end_err(p->conn, IRPC_ECLOSED));
    return;
  }
  if (t->kind == K_CALL) {
    irpc__pcall *k = (irpc__pcall *)t;
    /* Released by the last read of pcall_readable (the peer had closed our
     * writes already): it completes the call with what it read. */
    if (irpc__slic_stream_read_done(s))
      return;
    k->stream = NULL;
    if (k->oneway) {
      irpc_incoming_response *ok;
      int rc = irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL);
      pcall_release(k, 1, rc, rc ? NULL : ok);
    } else {
      pcall_release(k, 1, irpc__conn_end_err(p->conn, IRPC_ETRUNCATED), NULL);
    }
  } else if (t->kind == K_DISP) {
    irpc__pdisp *d = (irpc__pdisp *)t;
    d->stream = NULL;
    /* Released by the last read of pdisp_readable, which posts the
     * request and then the end. */
    if (!d->posted && irpc__slic_stream_read_done(s))
      return;
    /* A dispatch still running when its stream goes (the peer stopped
     * reading its response) is canceled. */
    pdisp_end(d, d->oneway ? 0 : irpc__conn_end_err(p->conn, IRPC_ECANCELED));
  }
}

/* A streamed payload's stream drained: pull more on a later turn, outside
 * the engine's call. */
static void ev_stream_writable(void *ud, irpc__slic_stream *s) {
  irpc__pconn *p = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  if (!t)
    return;
  if (t->kind == K_XSTREAM) {
    x_writable_ev((xstream *)t);
  } else if (t->kind == K_CALL) {
    irpc__pcall *k = (irpc__pcall *)t;
    if (k->cont_wait)
      pcall_oneway_sent(k);
    else if (k->x)
      x_writable_ev(k->x);
    else
      irpc__conn_resume_later(p->conn, k);
  } else if (t->kind == K_DISP && ((irpc__pdisp *)t)->x) {
    x_writable_ev(((irpc__pdisp *)t)->x);
  }
}

static void ev_stream_slot(void *ud, int bidi) {
  (void)bidi;
  irpc__conn_post_slot(((irpc__pconn *)ud)->conn);
}

static void ev_closed(void *ud, int err) {
  irpc__pconn *p = ud;
  p->closed = 1;
  irpc__conn_post_closed(p->conn, err);
  want_output(p);
}

static void ev_output(void *ud) {
  want_output((irpc__pconn *)ud);
}

static uint64_t ev_now(void *ud) {
  return irpc__conn_now_ms(((irpc__pconn *)ud)->conn);
}

static const irpc__slic_events slic_events = {
    .on_connected = ev_connected,
    .on_stream = ev_stream,
    .on_readable = ev_readable,
    .on_stream_error = ev_stream_error,
    .on_stream_released = ev_stream_released,
    .on_stream_slot = ev_stream_slot,
    .on_stream_writable = ev_stream_writable,
    .on_closed = ev_closed,
    .on_output = ev_output,
    .now_ms = ev_now,
};

/* ---- The ops ---- */

static int icerpc_init(irpc__pconn *p, irpc_connection *c,
                       const irpc_connection_options *o, int is_client) {
  p->conn = c;
  p->o = o;
  if (o->icerpc)
    p->io = *o->icerpc;
  else
    irpc_icerpc_options_init(&p->io);
  irpc__conn_set_accepted_formats(c, p->io.compression_formats);
  p->is_client = is_client;
  p->ctl_tag.kind = K_CONTROL;
  p->peer_max_header = IRPC__ICERPC_DEFAULT_MAX_HEADER;
  p->size_width = 2;
  /* What GoAway says when no request was accepted (IceRPC's rule): the
   * first bidirectional id of the peer's, and the id after the peer's
   * control stream (its first unidirectional one). */
  p->next_bidi_in = irpc__slic_first_id(!is_client, 1);
  p->next_uni_in = irpc__slic_next_id(irpc__slic_first_id(!is_client, 0));
  irpc__buf_init(&p->ctl_buf);
  irpc__slic_params sp;
  irpc__slic_params_default(&sp);
  int dispatching = o->dispatcher != NULL;
  sp.max_bidi_streams = dispatching ? p->io.max_bidirectional_streams : 0;
  /* the peer's control stream comes on top of its requests */
  sp.max_uni_streams = dispatching ? p->io.max_unidirectional_streams + 1 : 1;
  sp.idle_timeout_ms = p->io.idle_timeout_ms;
  sp.initial_window = p->io.initial_stream_window_size;
  sp.max_frame_size = p->io.max_stream_frame_size;
  int rc = irpc__slic_new(&p->slic, is_client, &sp, &slic_events, p);
  if (rc)
    irpc__buf_fini(&p->ctl_buf);
  return rc;
}

static void icerpc_fini(irpc__pconn *p) {
  while (p->xs.head) {
    xstream *x = IRPC__CONTAINER_OF(p->xs.head, xstream, link);
    x->s = NULL;
    x_free(x, IRPC_ECLOSED);
  }
  irpc__slic_free(p->slic);
  irpc__buf_fini(&p->ctl_buf);
}

/* Frame by frame: Slic stops reading once a frame raised events, which
 * are handled before the next frame is read. */
static void icerpc_feed(irpc__pconn *p, const uint8_t *data, size_t len) {
  size_t used;
  int rc;
  do {
    rc = irpc__slic_feed(p->slic, data, len, &used);
    data += used;
    len -= used;
    slic_drain(p);
  } while (rc == 0 && len);
}

static void icerpc_feed_eof(irpc__pconn *p) {
  irpc__slic_feed_eof(p->slic);
  slic_drain(p);
}

static void icerpc_input_done(irpc__pconn *p) {
  settle_resets(p);
  slic_drain(p);
}

static size_t icerpc_take_output(irpc__pconn *p, irpc_buf *out) {
  irpc__slic_set_turn(p->slic, irpc__conn_turn(p->conn));
  size_t n = irpc__slic_take_output(p->slic, out);
  if (n == 0 && irpc__slic_paced(p->slic))
    irpc__conn_flush_later(p->conn);
  x_check_ending(p);
  slic_drain(p);
  return n;
}

static int icerpc_want_fin(const irpc__pconn *p) {
  return irpc__slic_want_shutdown(p->slic);
}

static int icerpc_finished(const irpc__pconn *p) {
  return irpc__slic_finished(p->slic);
}

static uint64_t icerpc_next_deadline(const irpc__pconn *p) {
  return irpc__slic_next_deadline(p->slic);
}

static void icerpc_tick(irpc__pconn *p) {
  irpc__slic_tick(p->slic);
  slic_drain(p);
}

static void icerpc_shutdown(irpc__pconn *p) {
  p->shutdown = 1;
  send_goaway(p);
  slic_drain(p);
}

static void icerpc_drained(irpc__pconn *p) {
  p->drained = 1;
  check_shutdown(p);
  slic_drain(p);
}

static void icerpc_refuse(irpc__pconn *p, irpc__refuse_reason why) {
  p->refusing = 1;
  p->refuse_code = why == IRPC__REFUSE_CLOSING ? IRPC__SLIC_CLOSE_REFUSED
                                               : IRPC__SLIC_CLOSE_SERVER_BUSY;
}

/* Slic releases every stream (their calls and dispatches are posted);
 * calls whose stream the peer reset end as the peer left them. */
static void icerpc_abort(irpc__pconn *p, int err) {
  irpc__slic_abort(p->slic, err);
  slic_drain(p);
  while (p->calls.head) {
    irpc__pcall *k = IRPC__CONTAINER_OF(p->calls.head, irpc__pcall, link);
    pcall_fail(k, k->reset ? IRPC_ETRUNCATED : err);
  }
  slic_drain(p);
}

const irpc__protocol_ops irpc__icerpc_protocol = {
    .name = "icerpc",
    .continuations = 1,
    .conn_size = sizeof(irpc__pconn),
    .call_size = sizeof(irpc__pcall),
    .disp_size = sizeof(irpc__pdisp),
    .options_check = icerpc_options_check,
    .init = icerpc_init,
    .fini = icerpc_fini,
    .feed = icerpc_feed,
    .feed_eof = icerpc_feed_eof,
    .input_done = icerpc_input_done,
    .take_output = icerpc_take_output,
    .want_fin = icerpc_want_fin,
    .finished = icerpc_finished,
    .next_deadline = icerpc_next_deadline,
    .tick = icerpc_tick,
    .send_request = icerpc_send_request,
    .send_more = icerpc_send_more,
    .abandon_request = icerpc_abandon_request,
    .send_response = icerpc_send_response,
    .shutdown = icerpc_shutdown,
    .drained = icerpc_drained,
    .refuse = icerpc_refuse,
    .abort = icerpc_abort,
};
