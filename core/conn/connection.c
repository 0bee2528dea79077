/* The icerpc protocol connection: icerpc over Slic over a duplex transport.
 *
 * The Slic engine (slic.c) and the icerpc codec (icerpc_codec.c) do no I/O;
 * this file moves bytes between them and the transport, runs the timers,
 * and maps streams to calls (our requests) and dispatches (the peer's). */
#include <stdio.h>
#include <string.h>

#include "connection_internal.h"
#include "base/defaults.h"
#include "protocol/icerpc/icerpc.h"
#include "model/compression.h"
#include "chain/chain.h"
#include "base/list.h"
#include "irpc/alloc.h"
#include "irpc/compress.h"
#include "irpc/connection_info.h"
#include "irpc/status.h"
#include "protocol/icerpc/slic.h"

enum { HANDSHAKE, ACTIVE, SHUTTING_DOWN, CLOSING, CLOSED };
enum { K_CALL = 1, K_DISP, K_CONTROL };

typedef struct stream_tag {
  int kind;
} stream_tag;

/* Room for any address text: a Unix socket path (108 bytes of sun_path)
 * after an '@', with its NUL. */
#define ADDRESS_TEXT_MAX 112
/* The largest control frame: its type, its varuint62 size, the largest
 * body (a Settings frame). */
#define CONTROL_FRAME_MAX                                                      \
  (1 + IRPC__VARUINT62_WIDTH_MAX + IRPC__ICERPC_MAX_SETTINGS_BODY)

/* A call of ours: the terminal invoker's per-call state. */
typedef struct ccall {
  stream_tag tag;
  irpc_connection *conn;
  irpc_call *call;
  irpc__slic_stream *stream;
  irpc__link link; /* in waiting (FIFO) or calls (newest first) */
  int listed;      /* 0, or 1 waiting for a stream, 2 sent */
  int header_done;
  int reset;         /* the peer reset the stream before answering */
  uint64_t reset_id; /* of that stream, for the peer's GoAway */
  irpc_buf in;
  irpc_incoming_response *resp;
  irpc__payload_stream ps; /* a payload sent as the stream drains */
  irpc__task pull_task;    /* ccall_pull_task, posted by ev_stream_writable */
} ccall;

/* A request of the peer's, from its stream to its response. */
typedef struct cdisp {
  stream_tag tag;
  irpc_connection *conn;
  irpc__slic_stream *stream;
  irpc__link link; /* in disps, or queued (FIFO) */
  irpc_dispatch *dispatch;
  irpc_incoming_request *req;
  irpc_buf in;
  int oneway;
  int queued;     /* waiting for a dispatch slot */
  int running;    /* dispatch under way */
  int pinned;     /* inside a function that still uses it */
  int done;       /* the dispatch completed */
  int cancel_err; /* a cancel that came while the dispatcher ran */
} cdisp;

typedef struct close_handler {
  struct close_handler *next;
  long token;
  irpc_connection_close_cb cb;
  void *ud;
} close_handler;

struct irpc_connection {
  long refs;
  struct cdisp *spare_disp; /* a finished dispatch's record, for the next */
  uint64_t id;
  uv_loop_t *loop;
  irpc__sched *sched;
  int is_client;
  int state;
  int close_err;
  int established;
  irpc_connection_options opts;
  irpc_duplex *duplex;
  irpc__slic *slic;
  irpc_invoker *invoker;
  const irpc__conn_owner *owner;
  void *owner_ud;
  char local[ADDRESS_TEXT_MAX];
  char remote[ADDRESS_TEXT_MAX];
  irpc_peer_credentials cred; /* Unix domain sockets */
  irpc_connection_info info;
  /* icerpc control streams */
  stream_tag ctl_tag;
  irpc__slic_stream *ctl_out;
  irpc__slic_stream *ctl_in;
  irpc_buf ctl_buf;
  int settings_in;
  int goaway_sent;
  int goaway_in;
  int peer_shutdown; /* the peer's GoAway started the graceful shutdown */
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
  int input_read; /* input was read since the last flush: see conn_invoke */
  /* calls and dispatches */
  irpc__list waiting; /* ccall: waiting for a stream, oldest first */
  irpc__list calls;   /* ccall: sent, newest first */
  irpc__list disps;   /* cdisp: not queued */
  irpc__list queued;  /* cdisp: waiting for a dispatch slot, oldest first */
  size_t ncalls, ndisps, running;
  /* I/O */
  irpc__task flush_task;
  irpc__task closed_task;
  irpc__task reset_task; /* settles the calls whose stream the peer reset */
  int writing;
  int fin_sent;
  int eof;
  int duplex_closing;
  irpc__timer slic_timer;
  irpc__timer idle_timer; /* inactivity */
  irpc__timer life_timer; /* connect or shutdown timeout */
  /* shutdown and close */
  irpc_connection_shutdown_cb shutdown_cb;
  void *shutdown_ud;
  int shutdown_status;
  close_handler *handlers;
  long next_token;
  int final_done; /* the owner was told and the open reference dropped */
};

static const irpc_invoker_ops conn_invoker_ops;
static uint64_t next_conn_id = 1;

#define CONN_OF(field, p) IRPC__CONTAINER_OF(p, irpc_connection, field)

static void schedule_flush(irpc_connection *c);
static void mark_closing(irpc_connection *c, int err);
static void fail_connection(irpc_connection *c, int err);
static void check_shutdown(irpc_connection *c);
static void check_idle(irpc_connection *c);
static void start_waiting(irpc_connection *c);
static void start_queued(irpc_connection *c);
static void finish_close(irpc_connection *c);

/* ---- Options ---- */

void irpc_connection_options_init(irpc_connection_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof(*o));
  o->max_header_size = IRPC__ICERPC_DEFAULT_MAX_HEADER;
  o->max_bidirectional_streams = IRPC__DEFAULT_MAX_BIDI_STREAMS;
  o->max_unidirectional_streams = IRPC__DEFAULT_MAX_UNI_STREAMS;
  o->max_dispatches = IRPC__DEFAULT_MAX_DISPATCHES;
  o->max_payload_size = IRPC__DEFAULT_MAX_PAYLOAD_SIZE;
  o->inactivity_timeout_ms = IRPC__DEFAULT_INACTIVITY_TIMEOUT_MS;
  o->idle_timeout_ms = IRPC__DEFAULT_IDLE_TIMEOUT_MS;
  o->initial_stream_window_size = IRPC__DEFAULT_STREAM_WINDOW;
  o->max_stream_frame_size = IRPC__DEFAULT_STREAM_FRAME_SIZE;
  o->connect_timeout_ms = IRPC__DEFAULT_CONNECT_TIMEOUT_MS;
  o->shutdown_timeout_ms = IRPC__DEFAULT_SHUTDOWN_TIMEOUT_MS;
  o->compression_formats = irpc_compress_formats_readable();
}

int irpc__connection_options_check(const irpc_connection_options *o) {
  if (o->max_header_size < IRPC__ICERPC_MIN_HEADER ||
      o->max_header_size > IRPC__ICERPC_MAX_HEADER ||
      o->max_bidirectional_streams == 0 || o->max_unidirectional_streams == 0 ||
      o->initial_stream_window_size < IRPC__SLIC_MIN_WINDOW ||
      o->initial_stream_window_size > IRPC__SLIC_MAX_WINDOW ||
      o->max_stream_frame_size < IRPC__SLIC_MIN_FRAME ||
      o->max_stream_frame_size > IRPC__SLIC_MAX_FRAME ||
      o->connect_timeout_ms == 0 || o->shutdown_timeout_ms == 0 ||
      (o->compression_formats & ~irpc_compress_formats_readable()))
    return IRPC_EINVAL;
  return 0;
}

/* ---- Lists ---- */

/* The call or dispatch of a list link, or NULL. */
static ccall *ccall_of(irpc__link *l) {
  return l ? IRPC__CONTAINER_OF(l, ccall, link) : NULL;
}

static cdisp *cdisp_of(irpc__link *l) {
  return l ? IRPC__CONTAINER_OF(l, cdisp, link) : NULL;
}

static void ccall_unlist(irpc_connection *c, ccall *k) {
  if (k->listed == 1) {
    irpc__list_remove(&c->waiting, &k->link);
  } else if (k->listed == 2) {
    irpc__list_remove(&c->calls, &k->link);
    c->ncalls--;
  }
  k->listed = 0;
}

/* ---- Calls (the terminal invoker) ---- */

/* Completes a call after detaching it from everything; its state is gone
 * once irpc_call_complete returns. */
static void ccall_finish(ccall *k, int err, irpc_incoming_response *resp) {
  irpc_connection *c = k->conn;
  irpc_call *call = k->call;
  ccall_unlist(c, k);
  irpc__sched_cancel(c->sched, &k->pull_task);
  if (k->ps.ops) {
    /* The payload was not all sent: the peer gets no more of it. */
    if (k->stream) {
      irpc__slic_stream_abort_write(k->stream);
      schedule_flush(c);
    }
    irpc__payload_stream_end(&k->ps);
  }
  if (k->stream) {
    irpc__slic_stream_set_user(k->stream, NULL);
    k->stream = NULL;
  }
  irpc__buf_fini(&k->in);
  if (k->resp && k->resp != resp)
    irpc_incoming_response_free(k->resp);
  k->resp = NULL;
  irpc_call_on_cancel(call, NULL, NULL);
  irpc_call_complete(call, err, resp);
  check_idle(c);
  check_shutdown(c);
}

/* Abandons the stream of a call both ways: the peer cancels its dispatch. */
static void ccall_abort_stream(ccall *k) {
  irpc__slic_stream *s = k->stream;
  if (!s)
    return;
  irpc__slic_stream_set_user(s, NULL);
  k->stream = NULL;
  irpc__slic_stream_abort_write(s);
  if (irpc__slic_stream_bidi(s))
    irpc__slic_stream_abort_read(s);
  schedule_flush(k->conn);
}

static void ccall_cancel(irpc_call *call, int err, void *ud) {
  ccall *k = ud;
  (void)call;
  ccall_abort_stream(k);
  ccall_finish(k, err, NULL);
}

/* A streamed payload is written while fewer than this many bytes of it wait
 * in the stream, in pieces of about this size: what the client holds of
 * it besides the connection's output is about twice this. */
#define PULL_LOW_WATER ((size_t)256 << 10)

/* Writes more of a streamed payload, then asks to be told when the stream
 * drains (ev_stream_writable), or ends the payload with its last piece.
 * Returns 0, the writer's error, IRPC_ENOMEM, or 1 when the stream takes
 * no more (the peer stopped reading, or the connection is closing). */
static int ccall_pull(ccall *k) {
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
  schedule_flush(k->conn);
  return 0;
}

static void ccall_pull_task(irpc__task *t) {
  ccall *k = IRPC__CONTAINER_OF(t, ccall, pull_task);
  if (!k->stream || !k->ps.ops)
    return;
  int rc = ccall_pull(k);
  if (rc > 0) {
    /* The peer stopped reading (StreamReadsClosed): its answer may still
     * come, without the rest of the payload. (A closing connection ends
     * the call itself.) */
    irpc__payload_stream_end(&k->ps);
  } else if (rc) {
    ccall_abort_stream(k);
    ccall_finish(k, rc, NULL);
  }
}

/* Header, then the payload as prepared for this peer: in one write, or for
 * a streamed payload (irpc__request_prepare_stream), the first pieces now
 * and the rest as the stream drains. */
static int ccall_send(ccall *k) {
  irpc_connection *c = k->conn;
  irpc_outgoing_request *req = irpc_call_request(k->call);
  irpc_buf out;
  irpc__buf_init(&out);
  irpc_buf payload;
  irpc__buf_init(&payload);
  int rc = irpc_features_set(&req->features, &irpc_connection_info_feature,
                             &c->info);
  if (rc == 0)
    rc = irpc__request_prepare_stream(req, c->peer_formats, &payload, &k->ps);
  if (rc == 0)
    rc = irpc__icerpc_request_header_encode(&out, c->size_width,
                                            c->peer_max_header, req->path,
                                            req->operation, &req->fields);
  if (rc == 0)
    rc = irpc_buf_move(&out, &payload);
  if (rc == 0)
    rc = irpc__slic_stream_write(k->stream, &out, !k->ps.ops);
  irpc__buf_fini(&payload);
  irpc__buf_fini(&out);
  if (rc == 0 && k->ps.ops && (rc = ccall_pull(k)) > 0)
    rc = IRPC_ECLOSED;
  return rc;
}

/* Opens a stream and sends; 1 when no stream is free yet. A peer that
 * allows no stream of this kind (no dispatcher) fails the call at once:
 * no stream would ever be free. */
static int ccall_try_start(ccall *k) {
  irpc_connection *c = k->conn;
  int oneway = irpc_outgoing_request_oneway(irpc_call_request(k->call));
  if (!(oneway ? c->peer_takes_uni : c->peer_takes_bidi)) {
    ccall_finish(k, IRPC_ENOREQUESTS, NULL);
    return 0;
  }
  irpc__slic_stream *s;
  int rc = irpc__slic_stream_open(c->slic, !oneway, &s);
  if (rc == IRPC_EBUSY)
    return 1;
  if (rc) {
    ccall_finish(k, rc, NULL);
    return 0;
  }
  k->stream = s;
  irpc__slic_stream_set_user(s, &k->tag);
  rc = ccall_send(k);
  if (rc) {
    /* Detached before the aborts: the events they raise must not reach
     * the call, which a retry may send again from its completion. */
    ccall_abort_stream(k);
    ccall_finish(k, rc, NULL);
    return 0;
  }
  k->listed = 2;
  irpc__list_push_front(&c->calls, &k->link);
  c->ncalls++;
  schedule_flush(c);
  return 0;
}

static void waiting_push(irpc_connection *c, ccall *k) {
  k->listed = 1;
  irpc__list_push_back(&c->waiting, &k->link);
}

static void conn_invoke(irpc_invoker *self, irpc_call *call) {
  irpc_connection *c = *(irpc_connection **)irpc_invoker_data(self);
  ccall *k = irpc_call_state(call);
  k->tag.kind = K_CALL;
  k->conn = c;
  k->call = call;
  irpc__buf_init(&k->in);
  k->ps.ops = NULL;
  k->pull_task.fn = ccall_pull_task;
  if (c->state == CLOSING || c->state == CLOSED) {
    irpc_call_complete(call, c->close_err ? c->close_err : IRPC_ECLOSED, NULL);
    return;
  }
  if (c->state == SHUTTING_DOWN || c->goaway_in) {
    irpc_call_complete(call, IRPC_EREFUSED, NULL);
    return;
  }
  irpc_call_on_cancel(call, ccall_cancel, k);
  irpc__timer_stop(c->sched, &c->idle_timer);
  /* A call made while input is read (from a completion, say) starts on
   * the flush task, once all the input of this loop turn was read: a
   * GoAway in the same bytes refuses it before it is sent. */
  if (c->state == HANDSHAKE || c->waiting.head || c->input_read) {
    waiting_push(c, k);
    return;
  }
  if (ccall_try_start(k) == 1)
    waiting_push(c, k);
}

static void start_waiting(irpc_connection *c) {
  while (c->waiting.head && c->state == ACTIVE && !c->goaway_in &&
         !c->input_read) {
    ccall *k = ccall_of(c->waiting.head);
    ccall_unlist(c, k);
    if (ccall_try_start(k) == 1) {
      /* back to the front: still no stream */
      k->listed = 1;
      irpc__list_push_front(&c->waiting, &k->link);
      return;
    }
  }
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

/* Response bytes: header first, then the payload to the end. */
static void ccall_readable(ccall *k) {
  irpc_connection *c = k->conn;
  irpc__slic_stream_read(k->stream, &k->in, SIZE_MAX);
  if (!k->header_done) {
    uint8_t small[SMALL_HEADER], *hdr;
    size_t len;
    int rc = take_header(&k->in, c->opts.max_header_size, small, &hdr, &len);
    if (rc == 1) {
      rc = irpc__icerpc_response_header_decode(hdr, len, &k->resp);
      release_header(hdr, small);
      if (rc == 0)
        k->header_done = 1;
    }
    if (rc < 0) {
      ccall_abort_stream(k);
      ccall_finish(k, rc == IRPC_ENOMEM ? rc : IRPC_EPROTO, NULL);
      return;
    }
  }
  if (k->header_done && c->opts.max_payload_size &&
      irpc_buf_len(&k->in) > c->opts.max_payload_size) {
    ccall_abort_stream(k);
    ccall_finish(k, IRPC_ELIMIT, NULL);
    return;
  }
  if (irpc__slic_stream_read_done(k->stream)) {
    if (!k->header_done) {
      ccall_abort_stream(k);
      ccall_finish(k, IRPC_ETRUNCATED, NULL);
      return;
    }
    irpc_incoming_response *r = k->resp;
    irpc_buf_move(irpc_incoming_response_payload(r), &k->in);
    k->resp = NULL;
    int rc = irpc__compress_screen_response(
        irpc_outgoing_request_fields(irpc_call_request(k->call)), &r);
    ccall_finish(k, rc, r);
  }
}

static const irpc_invoker_ops conn_invoker_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "connection",
    .data_size = sizeof(irpc_connection *),
    .call_state_size = sizeof(ccall),
    .invoke = conn_invoke,
};

/* ---- Dispatches (the peer's requests) ---- */

static void cdisp_free(cdisp *d) {
  irpc__buf_fini(&d->in);
  irpc_incoming_request_free(d->req);
  if (!d->conn->spare_disp)
    d->conn->spare_disp = d;
  else
    irpc_free(d);
}

/* The stream is gone and the dispatch too: forget it. */
static void cdisp_maybe_free(cdisp *d) {
  if (d->stream || d->running || d->pinned)
    return;
  irpc_connection *c = d->conn;
  if (d->queued) {
    irpc__list_remove(&c->queued, &d->link);
    d->queued = 0;
  } else {
    irpc__list_remove(&c->disps, &d->link);
  }
  c->ndisps--;
  cdisp_free(d);
  check_idle(c);
  check_shutdown(c);
}

static void cdisp_abort_stream(cdisp *d) {
  irpc__slic_stream *s = d->stream;
  if (!s)
    return;
  d->stream = NULL;
  irpc__slic_stream_set_user(s, NULL);
  irpc__slic_stream_abort_read(s);
  if (irpc__slic_stream_bidi(s))
    irpc__slic_stream_abort_write(s);
  schedule_flush(d->conn);
}

static int response_send(cdisp *d, irpc_outgoing_response *resp) {
  irpc_connection *c = d->conn;
  irpc__response *r = &((irpc_outgoing_response *)resp)->r;
  irpc_buf out, payload;
  irpc__buf_init(&out);
  irpc__buf_init(&payload);
  int rc = irpc__response_prepare(resp, c->peer_formats, &payload);
  if (rc == 0) {
    rc = irpc__icerpc_response_header_encode(&out, c->size_width,
                                             c->peer_max_header, r->status,
                                             r->message, &r->fields);
    if (rc == IRPC_ELIMIT) {
      /* The peer could not read it: tell it so instead. */
      irpc_buf_clear(&out);
      irpc_buf_clear(&payload);
      rc = irpc__icerpc_response_header_encode(
          &out, c->size_width, c->peer_max_header, IRPC_STATUS_INTERNAL_ERROR,
          "The response header is larger than the peer's limit.", NULL);
    }
  }
  if (rc == 0)
    rc = irpc_buf_move(&out, &payload);
  if (rc == 0)
    rc = irpc__slic_stream_write(d->stream, &out, 1);
  irpc__buf_fini(&payload);
  irpc__buf_fini(&out);
  return rc;
}

static void dispatch_done(irpc_dispatch *disp, irpc_outgoing_response *resp,
                          void *ud) {
  cdisp *d = ud;
  irpc_connection *c = d->conn;
  (void)disp;
  d->dispatch = NULL;
  d->done = 1;
  d->pinned++;
  if (d->stream && !d->oneway) {
    irpc_outgoing_response *r = resp;
    if (!r && irpc_outgoing_response_new(&r, IRPC_STATUS_INTERNAL_ERROR,
                                         "Out of memory.") != 0)
      r = NULL;
    if (!r || response_send(d, r) != 0)
      cdisp_abort_stream(d);
    if (r != resp)
      irpc_outgoing_response_free(r);
    schedule_flush(c);
  }
  irpc_outgoing_response_free(resp);
  if (d->stream && d->oneway)
    cdisp_abort_stream(d); /* nothing more to read or write */
  d->pinned--;
  d->running = 0;
  c->running--;
  cdisp_maybe_free(d);
  start_queued(c);
  irpc_connection_unref(c);
}

/* A request compressed in a format this side did not announce is answered
 * without dispatching it (irpc/compress.h). Returns 0 to dispatch, 1 when
 * answered, or IRPC_ENOMEM; the request is freed unless 0. */
static int cdisp_screen(cdisp *d, irpc_incoming_request *req) {
  irpc_connection *c = d->conn;
  char msg[200];
  uint64_t status = irpc__compress_screen_request(
      &req->fields,
      irpc__compress_announcement(c->opts.dispatcher,
                                  c->opts.compression_formats),
      msg, sizeof(msg));
  if (status == 0)
    return 0;
  irpc_incoming_request_free(req);
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, status, msg) != 0)
    return IRPC_ENOMEM;
  dispatch_done(NULL, r, d);
  return 1;
}

static void cdisp_run(cdisp *d) {
  irpc_connection *c = d->conn;
  irpc_incoming_request *req = d->req;
  d->req = NULL;
  req->invoker = c->invoker;
  irpc_buf_move(&req->payload, &d->in);
  if (irpc_features_set(&req->features, &irpc_connection_info_feature,
                        &c->info) != 0) {
    irpc_incoming_request_free(req);
    cdisp_abort_stream(d);
    cdisp_maybe_free(d);
    return;
  }
  d->running = 1;
  c->running++;
  irpc_connection_ref(c);
  irpc_dispatch *h = NULL;
  d->pinned++;
  int rc = cdisp_screen(d, req);
  if (rc == 0)
    rc =
        irpc_dispatcher_dispatch(c->opts.dispatcher, req, dispatch_done, d, &h);
  d->pinned--;
  if (rc < 0) {
    d->running = 0;
    c->running--;
    cdisp_abort_stream(d);
    cdisp_maybe_free(d);
    irpc_connection_unref(c);
    return;
  }
  if (d->done) {
    cdisp_maybe_free(d);
    return;
  }
  d->dispatch = h;
  if (d->cancel_err) {
    /* Canceled before the dispatcher returned (the dispatch aborted its
     * own connection, say): cancel it now. */
    d->pinned++;
    irpc_dispatch_cancel(h, d->cancel_err);
    d->pinned--;
    cdisp_maybe_free(d);
  }
}

static void cdisp_ready(cdisp *d) {
  irpc_connection *c = d->conn;
  if (c->opts.max_dispatches && c->running >= c->opts.max_dispatches) {
    irpc__list_remove(&c->disps, &d->link);
    d->queued = 1;
    irpc__list_push_back(&c->queued, &d->link);
    return;
  }
  cdisp_run(d);
}

static void start_queued(irpc_connection *c) {
  while (c->queued.head &&
         (!c->opts.max_dispatches || c->running < c->opts.max_dispatches)) {
    cdisp *d = cdisp_of(irpc__list_pop_front(&c->queued));
    d->queued = 0;
    irpc__list_push_front(&c->disps, &d->link);
    cdisp_run(d);
  }
}

static int cdisp_parse_header(cdisp *d) {
  uint8_t small[SMALL_HEADER], *hdr;
  size_t len;
  int rc =
      take_header(&d->in, d->conn->opts.max_header_size, small, &hdr, &len);
  if (rc != 1)
    return rc;
  rc = irpc__icerpc_request_header_decode(hdr, len, d->oneway, &d->req);
  release_header(hdr, small);
  if (rc == IRPC_EPATH)
    rc = IRPC_EPROTO;
  return rc ? rc : 1;
}

static void cdisp_read(cdisp *d) {
  irpc_connection *c = d->conn;
  irpc__slic_stream *s = d->stream;
  irpc__slic_stream_read(s, &d->in, SIZE_MAX);
  int ended = irpc__slic_stream_read_done(s);
  if (!d->req) {
    int rc = cdisp_parse_header(d);
    if (rc < 0 || (rc == 0 && ended)) {
      cdisp_abort_stream(d);
      return;
    }
    if (rc == 0)
      return;
  }
  if (c->opts.max_payload_size &&
      irpc_buf_len(&d->in) > c->opts.max_payload_size) {
    cdisp_abort_stream(d);
    return;
  }
  if (ended && !d->running && !d->done && d->req)
    cdisp_ready(d);
}

/* The stream may be released while it is read: keep `d` until the end. */
static void cdisp_readable(cdisp *d) {
  d->pinned++;
  cdisp_read(d);
  d->pinned--;
  cdisp_maybe_free(d);
}

static void dispatch_cancel(cdisp *d, int err) {
  if (!d->running)
    return;
  if (d->dispatch)
    irpc_dispatch_cancel(d->dispatch, err);
  else if (!d->cancel_err)
    d->cancel_err = err; /* still in its dispatcher's call: cdisp_run */
}

/* ---- The control stream ---- */

static void send_goaway(irpc_connection *c) {
  if (c->goaway_sent || !c->ctl_out)
    return;
  c->goaway_sent = 1;
  irpc_buf b;
  irpc__buf_init(&b);
  uint64_t uni = c->next_uni_in;
  int rc = irpc__icerpc_goaway_encode(&b, c->next_bidi_in, uni);
  if (rc == 0)
    rc = irpc__slic_stream_write(c->ctl_out, &b, 0);
  /* Framed now, so that it precedes the resets of the streams it refuses
   * (ev_stream), however much stream data waits to be framed. */
  if (rc == 0)
    irpc__slic_stream_flush(c->ctl_out);
  irpc__buf_fini(&b);
  if (rc)
    fail_connection(c, rc);
  else
    schedule_flush(c);
}

static void established(irpc_connection *c) {
  const irpc__slic_params *peer = irpc__slic_peer_params(c->slic);
  c->state = ACTIVE;
  c->established = 1;
  /* IceRPC's rule: a side without a dispatcher allows no bidirectional
   * stream and one unidirectional stream (our control stream). */
  c->peer_takes_bidi = peer->max_bidi_streams > 0;
  c->peer_takes_uni = peer->max_uni_streams > 1;
  irpc__timer_stop(c->sched, &c->life_timer);
  if (c->owner && c->owner->on_connected)
    c->owner->on_connected(c, 0, c->owner_ud);
  start_waiting(c);
  check_idle(c);
}

/* Whether the peer's GoAway refused a call: its stream has no id yet (no
 * frame of it was written: it will never be), or an id the peer did not
 * accept. */
static int goaway_refused(const irpc_connection *c, const ccall *k) {
  uint64_t id;
  int bidi;
  if (k->reset) {
    id = k->reset_id;
    bidi = !irpc_outgoing_request_oneway(irpc_call_request(k->call));
  } else if (k->stream) {
    id = irpc__slic_stream_id(k->stream);
    bidi = irpc__slic_stream_bidi(k->stream);
  } else {
    return 0;
  }
  return id == UINT64_MAX || id >= c->peer_goaway[bidi ? 0 : 1];
}

/* The peer's GoAway: our calls on streams it did not accept never ran, and
 * no call starts on this connection any more (conn_invoke refuses them). */
static void goaway_received(irpc_connection *c, const uint64_t ids[2]) {
  c->goaway_in = 1;
  c->peer_goaway[0] = ids[0];
  c->peer_goaway[1] = ids[1];
  if (c->state == ACTIVE)
    c->peer_shutdown = 1;
  /* The owner lets go of the connection first, so that what the refused
   * calls' completions do (a retry) goes to another connection. */
  if (c->state == ACTIVE) {
    if (c->owner && c->owner->on_shutdown_requested)
      c->owner->on_shutdown_requested(c, c->owner_ud);
    else
      irpc_connection_shutdown(c, NULL, NULL);
  }
  /* A completion may start calls: they are refused, and the list is
   * walked again from its head until nothing is left to refuse. */
  for (int again = 1; again;) {
    again = 0;
    for (ccall *k = ccall_of(c->calls.head); k; k = ccall_of(k->link.next)) {
      if (goaway_refused(c, k)) {
        ccall_abort_stream(k);
        ccall_finish(k, IRPC_EINVCANCELED, NULL);
        again = 1;
        break;
      }
    }
  }
  while (c->waiting.head)
    ccall_finish(ccall_of(c->waiting.head), IRPC_EINVCANCELED, NULL);
  check_shutdown(c);
}

static void control_readable(irpc_connection *c, irpc__slic_stream *in) {
  irpc__slic_stream_read(in, &c->ctl_buf, SIZE_MAX);
  int ended = irpc__slic_stream_read_done(in);
  for (;;) {
    size_t len = irpc_buf_len(&c->ctl_buf);
    if (len == 0)
      break;
    uint8_t tmp[CONTROL_FRAME_MAX];
    size_t n = len < sizeof tmp ? len : sizeof tmp;
    irpc_buf_copyout(&c->ctl_buf, 0, tmp, n);
    int type = -1;
    irpc__icerpc_settings s;
    uint64_t ids[2];
    long used = irpc__icerpc_control_decode(tmp, n, &type, &s, ids);
    if (used < 0) {
      fail_connection(c, IRPC_EPROTO);
      return;
    }
    if (used == 0)
      break;
    irpc_buf_consume(&c->ctl_buf, (size_t)used);
    if (!c->settings_in) {
      if (type != IRPC__ICERPC_SETTINGS) {
        fail_connection(c, IRPC_EPROTO);
        return;
      }
      c->settings_in = 1;
      c->peer_max_header = s.max_header_size;
      c->size_width = irpc__varuint62_size(s.max_header_size);
      c->peer_formats = irpc__compress_peer_formats(s.has_compression_formats,
                                                    s.compression_formats);
      if (c->state == HANDSHAKE && c->ctl_out)
        established(c);
    } else if (type != IRPC__ICERPC_GOAWAY || c->goaway_in) {
      fail_connection(c, IRPC_EPROTO);
      return;
    } else {
      goaway_received(c, ids);
    }
    if (c->state >= CLOSING)
      return;
  }
  if (ended) {
    c->ctl_in_done = 1;
    if (c->state != SHUTTING_DOWN || !c->goaway_in ||
        irpc_buf_len(&c->ctl_buf)) {
      fail_connection(c, IRPC_EPROTO);
      return;
    }
    check_shutdown(c);
  }
}

/* ---- Slic events ---- */

static void ev_connected(void *ud) {
  irpc_connection *c = ud;
  irpc__slic_stream *s;
  if (c->refusing) {
    irpc__slic_close(c->slic, c->refuse_code);
    schedule_flush(c);
    return;
  }
  irpc_buf b;
  irpc__buf_init(&b);
  int rc = irpc__slic_stream_open(c->slic, 0, &s);
  if (rc == 0) {
    c->ctl_out = s;
    irpc__slic_stream_set_user(s, &c->ctl_tag);
    rc = irpc__icerpc_settings_encode(
        &b, c->opts.max_header_size,
        irpc__compress_announcement(c->opts.dispatcher,
                                    c->opts.compression_formats));
    if (rc == 0)
      rc = irpc__slic_stream_write(s, &b, 0);
  }
  irpc__buf_fini(&b);
  if (rc) {
    fail_connection(c, rc);
    return;
  }
  schedule_flush(c);
  if (c->settings_in && c->state == HANDSHAKE)
    established(c);
}

static void ev_stream(void *ud, irpc__slic_stream *s) {
  irpc_connection *c = ud;
  int bidi = irpc__slic_stream_bidi(s);
  uint64_t id = irpc__slic_stream_id(s);
  if (!bidi && !c->ctl_in) {
    c->ctl_in = s;
    irpc__slic_stream_set_user(s, &c->ctl_tag);
    return;
  }
  if (c->state != ACTIVE || !c->opts.dispatcher || c->goaway_sent) {
    irpc__slic_stream_abort_read(s);
    if (bidi)
      irpc__slic_stream_abort_write(s);
    schedule_flush(c);
    return;
  }
  cdisp *d = c->spare_disp;
  c->spare_disp = NULL;
  if (d)
    memset(d, 0, sizeof(*d));
  else
    d = irpc_calloc(1, sizeof(*d));
  if (!d) {
    fail_connection(c, IRPC_ENOMEM);
    return;
  }
  d->tag.kind = K_DISP;
  d->conn = c;
  d->stream = s;
  d->oneway = !bidi;
  irpc__buf_init(&d->in);
  irpc__slic_stream_set_user(s, &d->tag);
  irpc__list_push_front(&c->disps, &d->link);
  c->ndisps++;
  if (bidi)
    c->next_bidi_in = id + IRPC__SLIC_ID_STEP;
  else
    c->next_uni_in = id + IRPC__SLIC_ID_STEP;
  irpc__timer_stop(c->sched, &c->idle_timer);
}

static void ev_readable(void *ud, irpc__slic_stream *s) {
  irpc_connection *c = ud;
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
    ccall_readable((ccall *)t);
  else if (t->kind == K_DISP)
    cdisp_readable((cdisp *)t);
  else if (s == c->ctl_in)
    control_readable(c, s);
  schedule_flush(c);
}

/* The error a connection ends with, as its users see it. The end of a
 * graceful shutdown (Close both ways) is IRPC_ECLOSED when this side
 * started it, IRPC_ECLOSEDBYPEER when the peer's GoAway did. */
static int closing_err(const irpc_connection *c, int err) {
  if (c->state == SHUTTING_DOWN &&
      (err == IRPC_ECLOSEDBYPEER || err == IRPC_ECLOSED))
    return c->peer_shutdown ? IRPC_ECLOSEDBYPEER : IRPC_ECLOSED;
  return err;
}

/* Calls still waiting for a stream were never sent: IRPC_EREFUSED (the
 * client connection sends them again on a new connection), but for a
 * connection that never got established, whose error is the answer. */
static void fail_waiting(irpc_connection *c) {
  int err = c->established ? IRPC_EREFUSED : c->close_err;
  while (c->waiting.head)
    ccall_finish(ccall_of(c->waiting.head), err, NULL);
}

static void ev_stream_error(void *ud, irpc__slic_stream *s, int err) {
  irpc_connection *c = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  if (!t)
    return;
  if (t->kind == K_CALL) {
    ccall *k = (ccall *)t;
    if (err == UV_EPIPE)
      return; /* the peer stopped reading: its answer may still come */
    if (err == IRPC_ETRUNCATED && !k->header_done && !irpc_buf_len(&k->in) &&
        c->state < CLOSING) {
      /* Reset before any answer: the peer refused the request or failed
       * it. A GoAway that follows in the input read with it tells which
       * (goaway_received); the rest fail on the task. */
      k->reset = 1;
      k->reset_id = irpc__slic_stream_id(s);
      ccall_abort_stream(k);
      irpc__sched_post(c->sched, &c->reset_task);
      return;
    }
    if (err != IRPC_ETRUNCATED) {
      mark_closing(c, err); /* the engine failed: the connection ends */
      if (irpc__slic_stream_id(s) == UINT64_MAX)
        err = IRPC_EREFUSED; /* no frame of it was written */
    }
    ccall_abort_stream(k);
    ccall_finish(k, err, NULL);
  } else if (t->kind == K_DISP) {
    cdisp *d = (cdisp *)t;
    d->pinned++; /* a cancel handler may complete the dispatch at once */
    /* The peer canceled the call (it reset the stream), or the connection
     * ended: the dispatch is canceled with the connection's error then. */
    if (err != IRPC_ETRUNCATED && err != UV_EPIPE)
      err = c->close_err ? c->close_err : closing_err(c, err);
    else
      err = IRPC_ECANCELED;
    dispatch_cancel(d, err);
    cdisp_abort_stream(d);
    d->pinned--;
    cdisp_maybe_free(d);
  } else if (err == IRPC_ETRUNCATED && c->state == ACTIVE) {
    /* The peer aborted its control stream. Any other error is the end of
     * the connection, whose own error on_closed reports. */
    fail_connection(c, IRPC_EPROTO);
  }
}

/* The calls whose stream the peer reset, and that no GoAway refused: the
 * peer failed them. */
static void reset_task(irpc__task *t) {
  irpc_connection *c = CONN_OF(reset_task, t);
  for (int again = 1; again;) {
    again = 0;
    for (ccall *k = ccall_of(c->calls.head); k; k = ccall_of(k->link.next)) {
      if (k->reset) {
        ccall_finish(k, IRPC_ETRUNCATED, NULL);
        again = 1;
        break;
      }
    }
  }
}

static void ev_stream_released(void *ud, irpc__slic_stream *s) {
  irpc_connection *c = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  irpc__slic_stream_set_user(s, NULL);
  if (s == c->ctl_in)
    c->ctl_in = NULL;
  if (s == c->ctl_out)
    c->ctl_out = NULL;
  if (!t)
    return;
  if (t->kind == K_CALL) {
    ccall *k = (ccall *)t;
    /* Released by the last read of ccall_readable (the peer had closed our
     * writes already): it completes the call with what it read. */
    if (irpc__slic_stream_read_done(s))
      return;
    k->stream = NULL;
    if (irpc_outgoing_request_oneway(irpc_call_request(k->call))) {
      irpc_incoming_response *ok;
      int rc = irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL);
      ccall_finish(k, rc, rc ? NULL : ok);
    } else {
      ccall_finish(k, c->close_err ? c->close_err : IRPC_ETRUNCATED, NULL);
    }
  } else if (t->kind == K_DISP) {
    cdisp *d = (cdisp *)t;
    d->stream = NULL;
    d->pinned++;
    if (d->running)
      dispatch_cancel(d, c->close_err ? c->close_err : IRPC_ECANCELED);
    d->pinned--;
    cdisp_maybe_free(d);
  }
}

/* A streamed payload's stream drained: pull more on a later turn, outside
 * the engine's call. */
static void ev_stream_writable(void *ud, irpc__slic_stream *s) {
  irpc_connection *c = ud;
  stream_tag *t = irpc__slic_stream_user(s);
  if (t && t->kind == K_CALL)
    irpc__sched_post(c->sched, &((ccall *)t)->pull_task);
}

static void ev_stream_slot(void *ud, int bidi) {
  (void)bidi;
  start_waiting((irpc_connection *)ud);
}

static void ev_closed(void *ud, int err) {
  irpc_connection *c = ud;
  if (!c->close_err)
    c->close_err = closing_err(c, err ? err : IRPC_ECLOSED);
  if (c->state < CLOSING)
    c->state = CLOSING;
  fail_waiting(c);
  schedule_flush(c);
}

static void ev_output(void *ud) {
  schedule_flush((irpc_connection *)ud);
}

static uint64_t ev_now(void *ud) {
  return uv_now(((irpc_connection *)ud)->loop);
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

/* ---- I/O ---- */

static void rearm_slic_timer(irpc_connection *c) {
  if (!c->slic || c->state == CLOSED)
    return;
  uint64_t due = irpc__slic_next_deadline(c->slic);
  if (due == UINT64_MAX) {
    irpc__timer_stop(c->sched, &c->slic_timer);
    return;
  }
  uint64_t now = uv_now(c->loop);
  if (irpc__timer_armed(&c->slic_timer) && c->slic_timer.due <= due)
    return;
  irpc__timer_start(c->sched, &c->slic_timer, due > now ? due - now : 0);
}

static void on_slic_timer(irpc__timer *t) {
  irpc_connection *c = CONN_OF(slic_timer, t);
  irpc__slic_tick(c->slic);
  schedule_flush(c);
  rearm_slic_timer(c);
}

/* The connection is ending with `err`: it stops being active before the
 * engine fails its streams, so what their callbacks do (a retry, a new
 * call) never picks this connection again. */
static void mark_closing(irpc_connection *c, int err) {
  if (c->state >= CLOSING)
    return;
  if (!c->close_err)
    c->close_err = err;
  if (c->state == SHUTTING_DOWN && c->shutdown_status == 0 &&
      err != IRPC_ECLOSED && err != IRPC_ECLOSEDBYPEER)
    c->shutdown_status = err;
  c->state = CLOSING;
}

static void abort_engine(irpc_connection *c, int err) {
  mark_closing(c, err);
  irpc__slic_abort(c->slic, err);
}

/* A transport error that means the peer is gone (reset, or a write to a
 * closed connection) is reported as UV_ECONNRESET, as the end of the
 * transport without a Slic Close is (slic.c). */
static int transport_err(int status) {
  return status == UV_EPIPE ? UV_ECONNRESET : status;
}

static void on_write(irpc_duplex *d, int status, void *ud) {
  irpc_connection *c = ud;
  (void)d;
  c->writing--;
  if (status && status != UV_ECANCELED && c->state < CLOSED) {
    abort_engine(c, transport_err(status));
    finish_close(c);
    return;
  }
  schedule_flush(c);
}

static void on_duplex_shutdown(irpc_duplex *d, int status, void *ud) {
  (void)d;
  (void)status;
  irpc_connection *c = ud;
  if (c->eof)
    finish_close(c);
}

#define MAX_QUEUED_WRITE (256u * 1024u)

static void flush_task(irpc__task *t) {
  irpc_connection *c = CONN_OF(flush_task, t);
  if (c->state == CLOSED || c->duplex_closing)
    return;
  c->input_read = 0;
  if (c->waiting.head) {
    start_waiting(c);
    if (c->state == CLOSED || c->duplex_closing)
      return;
  }
  while (irpc_duplex_write_queue_size(c->duplex) < MAX_QUEUED_WRITE) {
    irpc_buf out;
    irpc__buf_init(&out);
    size_t n = irpc__slic_take_output(c->slic, &out);
    if (n == 0) {
      irpc__buf_fini(&out);
      break;
    }
    int rc = irpc_duplex_write(c->duplex, &out, on_write, c);
    irpc__buf_fini(&out);
    if (rc) {
      abort_engine(c, rc);
      finish_close(c);
      return;
    }
    c->writing++;
  }
  rearm_slic_timer(c);
  if (irpc__slic_want_shutdown(c->slic) && !c->fin_sent &&
      irpc_duplex_write_queue_size(c->duplex) == 0) {
    c->fin_sent = 1;
    if (irpc_duplex_shutdown(c->duplex, on_duplex_shutdown, c) != 0)
      finish_close(c);
    return;
  }
  /* Failed: close now, without waiting for the writes already queued (a
   * peer that stops reading would hold them, and the connection, forever). */
  if (c->state == CLOSING && irpc__slic_finished(c->slic) &&
      !irpc__slic_want_shutdown(c->slic))
    finish_close(c);
}

static void schedule_flush(irpc_connection *c) {
  if (c->state != CLOSED)
    irpc__sched_post(c->sched, &c->flush_task);
}

static void on_read(irpc_duplex *d, int status, const uint8_t *data, size_t len,
                    void *ud) {
  irpc_connection *c = ud;
  (void)d;
  if (status == UV_EOF) {
    c->eof = 1;
    irpc_duplex_read_stop(c->duplex);
    irpc__slic_feed_eof(c->slic);
    if (irpc__slic_finished(c->slic) && !irpc__slic_want_shutdown(c->slic))
      finish_close(c);
    else if (c->fin_sent)
      finish_close(c);
    else
      schedule_flush(c);
    return;
  }
  if (status) {
    abort_engine(c, transport_err(status));
    finish_close(c);
    return;
  }
  c->input_read = 1;
  irpc__slic_feed(c->slic, data, len);
  schedule_flush(c);
}

/* ---- Timers: connect/shutdown and inactivity ---- */

static void on_life_timer(irpc__timer *t) {
  irpc_connection *c = CONN_OF(life_timer, t);
  if (c->state == SHUTTING_DOWN)
    c->shutdown_status = IRPC_ETIMEDOUT;
  fail_connection(c, c->state == HANDSHAKE ? IRPC_ETIMEDOUT : UV_ECONNABORTED);
}

static void on_idle_timer(irpc__timer *t) {
  irpc_connection *c = CONN_OF(idle_timer, t);
  if (c->state != ACTIVE || c->ncalls || c->ndisps || c->waiting.head)
    return;
  if (c->owner && c->owner->on_shutdown_requested)
    c->owner->on_shutdown_requested(c, c->owner_ud);
  else
    irpc_connection_shutdown(c, NULL, NULL);
}

static void check_idle(irpc_connection *c) {
  if (c->state != ACTIVE || c->ncalls || c->ndisps || c->waiting.head ||
      !c->opts.inactivity_timeout_ms)
    return;
  irpc__timer_start(c->sched, &c->idle_timer, c->opts.inactivity_timeout_ms);
}

/* ---- Shutdown and close ---- */

static void check_shutdown(irpc_connection *c) {
  if (c->state != SHUTTING_DOWN || !c->goaway_in || !c->goaway_sent ||
      c->ncalls || c->ndisps || c->waiting.head)
    return;
  if (!c->ctl_out_done && c->ctl_out) {
    c->ctl_out_done = 1;
    irpc_buf empty;
    irpc__buf_init(&empty);
    irpc__slic_stream_write(c->ctl_out, &empty, 1);
    irpc__buf_fini(&empty);
    schedule_flush(c);
  }
  if (c->ctl_in_done && c->is_client) {
    irpc__slic_close(c->slic, IRPC__SLIC_CLOSE_NO_ERROR);
    schedule_flush(c);
  }
}

static void fail_connection(irpc_connection *c, int err) {
  if (c->state >= CLOSING)
    return;
  abort_engine(c, err);
  finish_close(c);
}

static void duplex_closed(irpc_duplex *d, int status, void *ud) {
  (void)d;
  (void)status;
  irpc_connection *c = ud;
  c->duplex = NULL;
  irpc_connection_unref(c); /* the transport's reference */
}

static void closed_task(irpc__task *t) {
  irpc_connection *c = CONN_OF(closed_task, t);
  int err = c->close_err;
  while (c->handlers) {
    close_handler *h = c->handlers;
    c->handlers = h->next;
    h->cb(c, err, h->ud);
    irpc_free(h);
  }
  if (c->final_done)
    return;
  c->final_done = 1;
  irpc_connection_shutdown_cb scb = c->shutdown_cb;
  c->shutdown_cb = NULL;
  if (scb)
    scb(c, c->shutdown_status, c->shutdown_ud);
  const irpc__conn_owner *owner = c->owner;
  c->owner = NULL;
  if (owner && owner->on_connected && !c->established)
    owner->on_connected(c, err, c->owner_ud);
  if (owner && owner->on_closed)
    owner->on_closed(c, err, c->owner_ud);
  irpc_connection_unref(c); /* the open connection's reference */
}

/* Everything ends here: fail what is left, release the transport, tell the
 * owner and the close handlers on a later turn. */
static void finish_close(irpc_connection *c) {
  if (c->state == CLOSED)
    return;
  if (!c->close_err)
    c->close_err = IRPC_ECLOSED;
  if (c->state == SHUTTING_DOWN && c->shutdown_status == 0 &&
      c->close_err != IRPC_ECLOSED && c->close_err != IRPC_ECLOSEDBYPEER)
    c->shutdown_status = c->close_err;
  c->state = CLOSING;
  irpc__slic_abort(c->slic, c->close_err); /* releases every stream */
  fail_waiting(c);
  for (ccall *k; (k = ccall_of(c->calls.head)) != NULL;)
    ccall_finish(k, k->reset ? IRPC_ETRUNCATED : c->close_err, NULL);
  irpc__sched_cancel(c->sched, &c->reset_task);
  c->state = CLOSED;
  irpc__timer_stop(c->sched, &c->slic_timer);
  irpc__timer_stop(c->sched, &c->idle_timer);
  irpc__timer_stop(c->sched, &c->life_timer);
  if (!c->duplex_closing) {
    c->duplex_closing = 1;
    irpc_duplex_close(c->duplex, duplex_closed, c);
  }
  irpc__sched_post(c->sched, &c->closed_task);
}

int irpc_connection_shutdown(irpc_connection *c, irpc_connection_shutdown_cb cb,
                             void *user_data) {
  if (!c)
    return IRPC_EINVAL;
  if (c->state >= SHUTTING_DOWN || c->shutdown_cb)
    return IRPC_ECLOSED;
  c->shutdown_cb = cb;
  c->shutdown_ud = user_data;
  if (c->state == HANDSHAKE) {
    c->close_err = IRPC_ECLOSED;
    fail_connection(c, IRPC_ECLOSED);
    return 0;
  }
  c->state = SHUTTING_DOWN;
  irpc__timer_stop(c->sched, &c->idle_timer);
  irpc__timer_start(c->sched, &c->life_timer, c->opts.shutdown_timeout_ms);
  /* GoAway first: a completion of a call refused below may find nothing
   * left to wait for (check_shutdown). Those calls were not sent: refused
   * by us, or by the peer's GoAway. */
  send_goaway(c);
  int refused = c->goaway_in ? IRPC_EINVCANCELED : IRPC_EREFUSED;
  while (c->waiting.head && c->state == SHUTTING_DOWN)
    ccall_finish(ccall_of(c->waiting.head), refused, NULL);
  check_shutdown(c);
  return 0;
}

void irpc_connection_abort(irpc_connection *c, int err) {
  if (!c)
    return;
  fail_connection(c, err ? err : UV_ECONNABORTED);
}

/* ---- Creation and references ---- */

int irpc__connection_new(irpc_connection **out, irpc_duplex *d, int is_client,
                         const irpc_connection_options *opts,
                         const irpc__conn_owner *owner, void *owner_ud) {
  irpc_connection_options o;
  if (opts)
    o = *opts;
  else
    irpc_connection_options_init(&o);
  int rc = irpc__connection_options_check(&o);
  irpc_connection *c = rc ? NULL : irpc_calloc(1, sizeof(*c));
  if (!c) {
    irpc_duplex_close(d, NULL, NULL);
    return rc ? rc : IRPC_ENOMEM;
  }
  c->refs = 3; /* the owner's, the open connection's, the transport's */
  c->id = next_conn_id++;
  c->loop = irpc_duplex_loop(d);
  c->is_client = is_client;
  c->opts = o;
  c->duplex = d;
  c->owner = owner;
  c->owner_ud = owner_ud;
  c->ctl_tag.kind = K_CONTROL;
  c->peer_max_header = IRPC__ICERPC_DEFAULT_MAX_HEADER;
  c->size_width = 2;
  /* What GoAway says when no request was accepted (IceRPC's rule): the
   * first bidirectional id of the peer's, and the id after the peer's
   * control stream (its first unidirectional one). */
  c->next_bidi_in = irpc__slic_first_id(!is_client, 1);
  /* the peer's first unidirectional stream is its control stream */
  c->next_uni_in = irpc__slic_first_id(!is_client, 0) + IRPC__SLIC_ID_STEP;
  irpc__buf_init(&c->ctl_buf);
  c->flush_task.fn = flush_task;
  c->closed_task.fn = closed_task;
  c->reset_task.fn = reset_task;
  irpc__timer_init(&c->slic_timer, on_slic_timer);
  irpc__timer_init(&c->idle_timer, on_idle_timer);
  irpc__timer_init(&c->life_timer, on_life_timer);
  irpc_duplex_local_address(d, c->local, sizeof c->local);
  irpc_duplex_remote_address(d, c->remote, sizeof c->remote);
  c->info.local_address = c->local;
  c->info.remote_address = c->remote;
  if (irpc_duplex_peer_credentials(d, &c->cred) == 0)
    c->info.peer_credentials = &c->cred;

  irpc__slic_params p;
  irpc__slic_params_default(&p);
  int dispatching = o.dispatcher != NULL;
  p.max_bidi_streams = dispatching ? o.max_bidirectional_streams : 0;
  p.max_uni_streams = dispatching ? o.max_unidirectional_streams + 1 : 1;
  p.idle_timeout_ms = o.idle_timeout_ms;
  p.initial_window = o.initial_stream_window_size;
  p.max_frame_size = o.max_stream_frame_size;
  rc = irpc_invoker_new(&c->invoker, c->loop, &conn_invoker_ops, NULL);
  if (rc == 0) {
    *(irpc_connection **)irpc_invoker_data(c->invoker) = c;
    c->sched = c->invoker->node.sched;
    rc = irpc__slic_new(&c->slic, is_client, &p, &slic_events, c);
  }
  if (rc == 0)
    rc = irpc_duplex_read_start(d, on_read, c);
  if (rc == 0)
    rc = irpc__timer_start(c->sched, &c->life_timer, o.connect_timeout_ms);
  if (rc) {
    if (c->sched) /* Slic may have asked for a flush before failing */
      irpc__sched_cancel(c->sched, &c->flush_task);
    irpc__slic_free(c->slic);
    irpc_invoker_free(c->invoker);
    irpc_duplex_close(d, NULL, NULL);
    irpc_free(c);
    return rc;
  }
  schedule_flush(c);
  rearm_slic_timer(c);
  *out = c;
  return 0;
}

void irpc__connection_disown(irpc_connection *c) {
  if (c)
    c->owner = NULL;
}

void irpc__connection_refuse(irpc_connection *c, uint64_t code) {
  c->refusing = 1;
  c->refuse_code = code;
  c->owner = NULL;
}

int irpc__connection_shutdown_status(const irpc_connection *c) {
  return c->shutdown_status;
}

irpc_connection *irpc_connection_ref(irpc_connection *c) {
  if (c)
    c->refs++;
  return c;
}

void irpc_connection_unref(irpc_connection *c) {
  if (!c || --c->refs > 0)
    return;
  while (c->handlers) {
    close_handler *h = c->handlers;
    c->handlers = h->next;
    irpc_free(h);
  }
  irpc__slic_free(c->slic);
  irpc__buf_fini(&c->ctl_buf);
  irpc_invoker_free(c->invoker);
  irpc_free(c->spare_disp);
  irpc_free(c);
}

irpc_invoker *irpc_connection_invoker(irpc_connection *c) {
  return c ? c->invoker : NULL;
}

uint64_t irpc_connection_id(const irpc_connection *c) {
  return c ? c->id : 0;
}

const char *irpc_connection_remote_address(const irpc_connection *c) {
  return c ? c->remote : "";
}

const char *irpc_connection_local_address(const irpc_connection *c) {
  return c ? c->local : "";
}

const irpc_peer_credentials *
irpc_connection_peer_credentials(const irpc_connection *c) {
  return c ? c->info.peer_credentials : NULL;
}

int irpc_connection_is_active(const irpc_connection *c) {
  return c && c->state == ACTIVE && !c->refusing && !c->goaway_in;
}

int irpc_connection_close_error(const irpc_connection *c) {
  return c && c->state >= CLOSING ? c->close_err : 0;
}

long irpc_connection_on_close(irpc_connection *c, irpc_connection_close_cb cb,
                              void *user_data) {
  if (!c || !cb)
    return IRPC_EINVAL;
  close_handler *h = irpc_malloc(sizeof(*h));
  if (!h)
    return IRPC_ENOMEM;
  h->token = ++c->next_token;
  h->cb = cb;
  h->ud = user_data;
  h->next = c->handlers;
  c->handlers = h;
  if (c->state == CLOSED)
    irpc__sched_post(c->sched, &c->closed_task);
  return h->token;
}

void irpc_connection_off_close(irpc_connection *c, long token) {
  if (!c)
    return;
  for (close_handler **p = &c->handlers; *p; p = &(*p)->next) {
    if ((*p)->token == token) {
      close_handler *h = *p;
      *p = h->next;
      irpc_free(h);
      return;
    }
  }
}

irpc_connection *
irpc_incoming_request_connection(const irpc_incoming_request *r) {
  if (!r || !r->invoker || r->invoker->node.ops != &conn_invoker_ops)
    return NULL;
  return *(irpc_connection **)irpc_invoker_data(r->invoker);
}
