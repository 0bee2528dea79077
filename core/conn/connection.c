/* The generic connection: one transport connection running one protocol
 * (protocol.h). It owns what every protocol needs the same way: the
 * lifecycle and its close reasons, references, calls waiting for the
 * protocol and dispatches waiting for max_dispatches, the inactivity,
 * connect and shutdown timers, the protocol's timer, and the duplex I/O
 * pump. The protocol (core/protocol/<name>/) turns bytes into requests and
 * responses; what it reports comes back as events, queued in `events` and
 * delivered by drain() once the protocol call that posted them returned.
 *
 * Every entry from outside (a transport callback, a task or timer, the
 * invoker, a dispatch's completion, the public functions) ends with
 * drain(); drain() does nothing when an outer entry is draining already. */
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "connection_internal.h"
#include "protocol.h"
#include "base/defaults.h"
#include "base/list.h"
#include "base/pool.h"
#include "base/struct_size.h"
#include "chain/chain.h"
#include "model/compression.h"
#include "model/stream_internal.h"
#include "transport/transport_internal.h"
#include "irpc/alloc.h"
#include "irpc/compression.h"
#include "irpc/connection_info.h"
#include "irpc/tls.h"
#include "irpc/status.h"

enum { HANDSHAKE, ACTIVE, SHUTTING_DOWN, CLOSING, CLOSED };

/* Events from the protocol: a node lives in the record it is about. */
enum {
  EV_CONNECTED = 1,
  EV_RESPONSE,
  EV_REQUEST,
  EV_DISPATCH_END,
  EV_PEER_SHUTDOWN,
  EV_SLOT,
  EV_CLOSED
};

typedef struct event {
  irpc__link link; /* in events while queued */
  uint8_t type;
  uint8_t queued;
} event;

/* Room for any address text: a Unix socket path (108 bytes of sun_path)
 * after an '@', with its NUL. */
#define ADDRESS_TEXT_MAX 112

/* Where a call is. */
enum { CALL_NEW, CALL_WAITING, CALL_SENT };

/* A call of ours: the terminal invoker's per-call state, the protocol's
 * state at its end. */
typedef struct ccall {
  irpc_connection *conn;
  irpc_call *call;
  irpc__link link; /* in waiting (FIFO) or calls (newest first) */
  int where;       /* CALL_* */
  int held;        /* the protocol holds it (no response posted yet) */
  int err;         /* the posted response */
  irpc_incoming_response *resp;
  event ev; /* EV_RESPONSE */
  irpc__task resume_task;
  max_align_t proto[IRPC__PCALL_SIZE_MAX / sizeof(max_align_t)];
} ccall;

/* A request of the peer's, from the protocol's dispatch_open to the end
 * of its dispatch; the protocol's state at its end. */
typedef struct cdisp {
  irpc_connection *conn;
  irpc__link link; /* in disps, or queued (FIFO) */
  irpc_dispatch *dispatch;
  irpc_incoming_request *req;      /* posted, not dispatched yet */
  irpc_incoming_request *answered; /* during send_response, the request */
  event ev_req, ev_end;
  int end_err;       /* the posted dispatch end's cancel error */
  int held;          /* the protocol holds it (no dispatch end yet) */
  int oneway;        /* no response to send */
  int queued;        /* waiting for a dispatch slot */
  int running;       /* dispatch under way */
  int in_dispatcher; /* inside the dispatcher's dispatch or cancel call,
                        which may complete it at once: cdisp_run frees */
  int done;          /* the dispatch completed */
  int cancel_err;    /* a cancel that came while the dispatcher ran */
  int end_canceled;  /* canceled because the connection ended */
  max_align_t proto[];
} cdisp;

typedef struct close_handler {
  struct close_handler *next;
  long token;
  irpc_connection_close_cb cb;
  void *ud;
} close_handler;

struct irpc_connection {
  long refs;
  const irpc__protocol_ops *proto;
  struct cdisp *spare_disp; /* a finished dispatch's record, for the next */
  uint64_t id;
  uv_loop_t *loop;
  irpc__sched *sched;
  int is_client;
  int state;
  int close_err;
  int established;
  irpc_connection_options opts;
  /* What requests may be compressed with, as the protocol announced it
   * (irpc__conn_set_accepted_formats). */
  uint64_t accepted_formats;
  irpc_duplex *duplex;
  irpc_invoker *invoker;
  const irpc__conn_owner *owner;
  void *owner_ud;
  char local[ADDRESS_TEXT_MAX];
  char remote[ADDRESS_TEXT_MAX];
  irpc_peer_credentials cred; /* Unix domain sockets */
  irpc_connection_info info;
  int goaway_in;     /* the peer shut down: no call starts any more */
  int peer_shutdown; /* the peer's shutdown started ours */
  int refusing;
  int input_read; /* input was read since the last flush: see conn_invoke */
  int got_input;  /* any input was read */
  /* events from the protocol */
  irpc__list events;
  int draining;
  event ev_connected, ev_peer_shutdown, ev_slot, ev_closed;
  /* calls and dispatches */
  irpc__list waiting; /* ccall: waiting for the protocol, oldest first */
  irpc__list calls;   /* ccall: sent, newest first */
  irpc__list disps;   /* cdisp: not queued */
  irpc__list queued;  /* cdisp: waiting for a dispatch slot, oldest first */
  size_t ncalls, ndisps, running;
  size_t nstreams; /* continuations flowing after their call ended */
  /* I/O */
  irpc__task flush_task;
  uint64_t flush_turn;  /* the loop turn of flushed_bytes */
  size_t flushed_bytes; /* handed to the transport in that turn */
  irpc__task closed_task;
  int writing;
  int fin_sent;
  int eof;
  int duplex_closing;
  irpc__timer proto_timer;
  irpc__timer idle_timer; /* inactivity */
  uint64_t idle_since;    /* the loop's time when it last became idle */
  irpc__timer life_timer; /* connect or shutdown timeout */
  /* shutdown and close */
  irpc_connection_shutdown_cb shutdown_cb;
  void *shutdown_ud;
  int shutdown_status;
  close_handler *handlers;
  long next_token;
  int final_done; /* the owner was told and the open reference dropped */
  max_align_t pconn[];
};

static const irpc_invoker_ops conn_invoker_ops;
/* Shared by every loop: connections are created on several threads. */
static _Atomic uint64_t next_conn_id = 1;

#define CONN_OF(field, p) IRPC__CONTAINER_OF(p, irpc_connection, field)
#define PC(c) ((irpc__pconn *)(c)->pconn)
#define PCALL(k) ((irpc__pcall *)(k)->proto)
#define PDISP(d) ((irpc__pdisp *)(d)->proto)

static ccall *ccall_of_p(irpc__pcall *p) {
  return IRPC__CONTAINER_OF((max_align_t *)p, ccall, proto);
}

static cdisp *cdisp_of_p(irpc__pdisp *p) {
  return IRPC__CONTAINER_OF((max_align_t *)p, cdisp, proto);
}

static void schedule_flush(irpc_connection *c);
static void mark_closing(irpc_connection *c, int err);
static void fail_connection(irpc_connection *c, int err);
static void check_shutdown(irpc_connection *c);
static void check_idle(irpc_connection *c);
static void start_waiting(irpc_connection *c);
static void start_queued(irpc_connection *c);
static void finish_close(irpc_connection *c);
static void drain(irpc_connection *c);

/* ---- Options ---- */

void irpc_connection_options_init_sized(irpc_connection_options *o,
                                        size_t size) {
  irpc_connection_options d;
  memset(&d, 0, sizeof(d));
  d.max_dispatches = IRPC__DEFAULT_MAX_DISPATCHES;
  d.max_payload_size = IRPC__DEFAULT_MAX_PAYLOAD_SIZE;
  d.inactivity_timeout_ms = IRPC__DEFAULT_INACTIVITY_TIMEOUT_MS;
  d.connect_timeout_ms = IRPC__DEFAULT_CONNECT_TIMEOUT_MS;
  d.shutdown_timeout_ms = IRPC__DEFAULT_SHUTDOWN_TIMEOUT_MS;
  irpc__struct_export(o, size, &d, sizeof(d));
}

/* The options hold a part for every protocol: each is checked, whichever
 * the connection speaks. */
int irpc__connection_options_check(const irpc_connection_options *o) {
  if (o->connect_timeout_ms == 0 || o->shutdown_timeout_ms == 0)
    return IRPC_EINVAL;
  return irpc__protocol_options_check(o);
}

int irpc__connection_options_import(irpc_connection_options *dst,
                                    irpc__proto_options *store,
                                    const irpc_connection_options *src,
                                    int embedded) {
  if (!src) {
    irpc_connection_options_init(dst);
  } else if (embedded) {
    if (dst != src)
      *dst = *src;
    dst->struct_size = sizeof(*dst);
  } else if (IRPC__IMPORT(dst, src, irpc_connection_options) < 0) {
    return IRPC_EINVAL;
  }
  if (dst->icerpc) {
    if (IRPC__IMPORT(&store->icerpc, dst->icerpc, irpc_icerpc_options) < 0)
      return IRPC_EINVAL;
    dst->icerpc = &store->icerpc;
  }
  if (dst->ice) {
    if (IRPC__IMPORT(&store->ice, dst->ice, irpc_ice_options) < 0)
      return IRPC_EINVAL;
    dst->ice = &store->ice;
  }
  return irpc__connection_options_check(dst);
}

void irpc__proto_options_point(irpc_connection_options *o,
                               irpc__proto_options *store) {
  if (o->icerpc)
    o->icerpc = &store->icerpc;
  if (o->ice)
    o->ice = &store->ice;
}

/* ---- The event queue ---- */

static void post(irpc_connection *c, event *e) {
  if (e->queued)
    return;
  e->queued = 1;
  irpc__list_push_back(&c->events, &e->link);
}

static void unpost(irpc_connection *c, event *e) {
  if (!e->queued)
    return;
  e->queued = 0;
  irpc__list_remove(&c->events, &e->link);
}

/* ---- Calls (the terminal invoker) ---- */

static void ccall_unlist(irpc_connection *c, ccall *k) {
  if (k->where == CALL_WAITING) {
    irpc__list_remove(&c->waiting, &k->link);
  } else if (k->where == CALL_SENT) {
    irpc__list_remove(&c->calls, &k->link);
    c->ncalls--;
  }
  k->where = CALL_NEW;
}

/* Completes a call after detaching it from everything (a call the
 * protocol still holds is abandoned there); its state is gone once
 * irpc_call_complete returns. */
static void ccall_finish(ccall *k, int err, irpc_incoming_response *resp) {
  irpc_connection *c = k->conn;
  irpc_call *call = k->call;
  if (k->held) {
    k->held = 0;
    k->err = err; /* irpc__conn_call_err */
    c->proto->abandon_request(PC(c), PCALL(k));
  }
  unpost(c, &k->ev);
  ccall_unlist(c, k);
  irpc__sched_cancel(c->sched, &k->resume_task);
  if (k->resp && k->resp != resp)
    irpc_incoming_response_free(k->resp);
  k->resp = NULL;
  irpc_call_on_cancel(call, NULL, NULL);
  irpc_call_complete(call, err, resp);
  check_idle(c);
  check_shutdown(c);
}

/* Completes a call with the response the protocol posted. */
static void ccall_settle(ccall *k) {
  irpc_incoming_response *resp = k->resp;
  k->resp = NULL;
  unpost(k->conn, &k->ev);
  ccall_finish(k, k->err, resp);
}

static void ccall_cancel(irpc_call *call, int err, void *ud) {
  ccall *k = ud;
  irpc_connection *c = k->conn;
  (void)call;
  ccall_finish(k, err, NULL);
  drain(c);
}

static void resume_task(irpc__task *t) {
  ccall *k = IRPC__CONTAINER_OF(t, ccall, resume_task);
  irpc_connection *c = k->conn;
  if (!k->held)
    return;
  c->proto->send_more(PC(c), PCALL(k));
  drain(c);
}

/* Hands the call to the protocol; 1 when it has no slot for it yet. */
static int ccall_try_start(ccall *k) {
  irpc_connection *c = k->conn;
  irpc_outgoing_request *req = irpc_call_request(k->call);
  int rc = irpc_features_set(&req->features, &irpc_connection_info_feature,
                             &c->info);
  if (rc == 0)
    rc = c->proto->send_request(PC(c), PCALL(k), req);
  if (rc == IRPC__PROTO_NO_SLOT)
    return 1;
  if (rc) {
    ccall_finish(k, rc, NULL);
    return 0;
  }
  k->where = CALL_SENT;
  k->held = 1;
  irpc__list_push_front(&c->calls, &k->link);
  c->ncalls++;
  return 0;
}

static void waiting_push(irpc_connection *c, ccall *k) {
  k->where = CALL_WAITING;
  irpc__list_push_back(&c->waiting, &k->link);
}

static void conn_invoke(irpc_invoker *self, irpc_call *call) {
  irpc_connection *c = *(irpc_connection **)irpc_invoker_data(self);
  ccall *k = irpc_call_state(call);
  k->conn = c;
  k->call = call;
  k->where = CALL_NEW;
  k->held = 0;
  k->resp = NULL;
  k->ev.type = EV_RESPONSE;
  k->ev.queued = 0;
  k->resume_task.fn = resume_task;
  if (c->state == CLOSING || c->state == CLOSED) {
    irpc_call_complete(call, c->close_err ? c->close_err : IRPC_ECLOSED, NULL);
    return;
  }
  if (c->state == SHUTTING_DOWN || c->goaway_in) {
    irpc_call_complete(call, IRPC_EREFUSED, NULL);
    return;
  }
  if (!c->proto->continuations) {
    const irpc_outgoing_request *req = irpc_call_request(call);
    if (req->cont || req->stream_response) {
      irpc_call_complete(call, IRPC_ENOTSUP, NULL);
      return;
    }
  }
  irpc_call_on_cancel(call, ccall_cancel, k);
  /* A call made while input is read (from a completion, say) starts on
   * the flush task, once all the input of this loop turn was read: a
   * GoAway in the same bytes refuses it before it is sent. */
  if (c->state == HANDSHAKE || c->waiting.head || c->input_read) {
    waiting_push(c, k);
    return;
  }
  if (ccall_try_start(k) == 1)
    waiting_push(c, k);
  drain(c);
}

static void start_waiting(irpc_connection *c) {
  while (c->waiting.head && c->state == ACTIVE && !c->goaway_in &&
         !c->input_read) {
    ccall *k = IRPC__CONTAINER_OF(c->waiting.head, ccall, link);
    ccall_unlist(c, k);
    if (ccall_try_start(k) == 1) {
      /* back to the front: still no slot */
      k->where = CALL_WAITING;
      irpc__list_push_front(&c->waiting, &k->link);
      return;
    }
  }
}

/* Calls still waiting were never sent: IRPC_EREFUSED (the client
 * connection sends them again on a new connection), but for a connection
 * that never got established, whose error is the answer. */
static void fail_waiting(irpc_connection *c) {
  int err = c->established ? IRPC_EREFUSED : c->close_err;
  while (c->waiting.head)
    ccall_finish(IRPC__CONTAINER_OF(c->waiting.head, ccall, link), err, NULL);
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
  irpc_connection *c = d->conn;
  if (d->queued) {
    irpc__list_remove(&c->queued, &d->link);
    d->queued = 0;
  } else {
    irpc__list_remove(&c->disps, &d->link);
  }
  c->ndisps--;
  unpost(c, &d->ev_req);
  irpc_incoming_request_free(d->req);
  if (!c->spare_disp)
    c->spare_disp = d;
  else
    irpc__pool_put(d, sizeof(cdisp) + c->proto->disp_size);
  check_idle(c);
  check_shutdown(c);
}

/* Frees the record once neither the protocol nor a dispatch uses it. */
static void cdisp_maybe_free(cdisp *d) {
  if (d->held || d->running || d->in_dispatcher)
    return;
  cdisp_free(d);
}

const irpc_features *irpc__conn_dispatch_features(const irpc__pdisp *pd) {
  const cdisp *d = cdisp_of_p((irpc__pdisp *)pd);
  return d->answered ? &d->answered->features : NULL;
}

static void dispatch_done(irpc_dispatch *disp, irpc_outgoing_response *resp,
                          void *ud) {
  cdisp *d = ud;
  irpc_connection *c = d->conn;
  (void)disp;
  d->dispatch = NULL;
  d->done = 1;
  if (d->oneway) {
    c->proto->send_response(PC(c), PDISP(d), NULL);
  } else {
    irpc_outgoing_response *r = resp;
    if (r && r->r.wcont && !c->proto->continuations)
      irpc__stream_writer_refuse(r->r.wcont, IRPC_ENOTSUP);
    if (!r && irpc_outgoing_response_new(&r, IRPC_STATUS_INTERNAL_ERROR,
                                         "Out of memory.") != 0)
      r = NULL;
    d->answered = disp ? irpc_dispatch_request(disp) : NULL;
    c->proto->send_response(PC(c), PDISP(d), r);
    d->answered = NULL;
    if (r != resp)
      irpc_outgoing_response_free(r);
  }
  irpc_outgoing_response_free(resp);
  d->running = 0;
  c->running--;
  cdisp_maybe_free(d);
  start_queued(c);
  drain(c);
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
      irpc__compress_announcement(c->opts.dispatcher, c->accepted_formats), msg,
      sizeof(msg));
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
  d->oneway = req->oneway;
  req->invoker = c->invoker;
  if (irpc_features_set(&req->features, &irpc_connection_info_feature,
                        &c->info) != 0) {
    irpc_incoming_request_free(req);
    c->proto->send_response(PC(c), PDISP(d), NULL);
    cdisp_maybe_free(d);
    return;
  }
  d->running = 1;
  c->running++;
  irpc_connection_ref(c);
  irpc_dispatch *h = NULL;
  d->in_dispatcher = 1;
  int rc = cdisp_screen(d, req);
  if (rc == 0)
    rc =
        irpc_dispatcher_dispatch(c->opts.dispatcher, req, dispatch_done, d, &h);
  d->in_dispatcher = 0;
  if (rc < 0) {
    d->running = 0;
    c->running--;
    c->proto->send_response(PC(c), PDISP(d), NULL);
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
    d->in_dispatcher = 1;
    irpc_dispatch_cancel(h, d->cancel_err);
    d->in_dispatcher = 0;
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

/* Once the connection has closed no request starts: its response has
 * nowhere to go and nothing would cancel it (drop_queued). */
static void start_queued(irpc_connection *c) {
  if (c->state == CLOSED)
    return;
  while (c->queued.head &&
         (!c->opts.max_dispatches || c->running < c->opts.max_dispatches)) {
    cdisp *d =
        IRPC__CONTAINER_OF(irpc__list_pop_front(&c->queued), cdisp, link);
    d->queued = 0;
    irpc__list_push_front(&c->disps, &d->link);
    cdisp_run(d);
  }
}

static void dispatch_cancel(cdisp *d, int err) {
  if (!d->running)
    return;
  if (d->dispatch)
    irpc_dispatch_cancel(d->dispatch, err);
  else if (!d->cancel_err)
    d->cancel_err = err; /* still in its dispatcher's call: cdisp_run */
}

/* ---- Events: posting (state changes at once) ---- */

/* The error a connection ends with, as its users see it. The end of a
 * graceful shutdown is IRPC_ECLOSED when this side started it,
 * IRPC_ECLOSEDBYPEER when the peer's shutdown did. */
static int closing_err(const irpc_connection *c, int err) {
  if (c->state == SHUTTING_DOWN &&
      (err == IRPC_ECLOSEDBYPEER || err == IRPC_ECLOSED))
    return c->peer_shutdown ? IRPC_ECLOSEDBYPEER : IRPC_ECLOSED;
  return err;
}

void irpc__conn_post_connected(irpc_connection *c) {
  if (c->state != HANDSHAKE)
    return;
  c->state = ACTIVE;
  c->established = 1;
  irpc__timer_stop(c->sched, &c->life_timer);
  post(c, &c->ev_connected);
}

void irpc__conn_post_response(irpc_connection *c, irpc__pcall *p, int err,
                              irpc_incoming_response *resp) {
  ccall *k = ccall_of_p(p);
  k->held = 0;
  k->err = err;
  k->resp = resp;
  post(c, &k->ev);
}

void irpc__conn_post_request(irpc_connection *c, irpc__pdisp *p,
                             irpc_incoming_request *req) {
  cdisp *d = cdisp_of_p(p);
  d->req = req;
  post(c, &d->ev_req);
}

void irpc__conn_post_dispatch_end(irpc_connection *c, irpc__pdisp *p,
                                  int cancel_err) {
  cdisp *d = cdisp_of_p(p);
  d->end_err = cancel_err;
  post(c, &d->ev_end);
}

void irpc__conn_post_peer_shutdown(irpc_connection *c) {
  c->goaway_in = 1;
  if (c->state == ACTIVE)
    c->peer_shutdown = 1;
  post(c, &c->ev_peer_shutdown);
}

void irpc__conn_post_slot(irpc_connection *c) {
  post(c, &c->ev_slot);
}

void irpc__conn_post_closing(irpc_connection *c, int err) {
  mark_closing(c, err);
}

void irpc__conn_post_closed(irpc_connection *c, int err) {
  if (!c->close_err)
    c->close_err = closing_err(c, err ? err : IRPC_ECLOSED);
  if (c->state < CLOSING)
    c->state = CLOSING;
  post(c, &c->ev_closed);
}

void irpc__conn_post_output(irpc_connection *c) {
  schedule_flush(c);
}

int irpc__conn_dispatch_open(irpc_connection *c, irpc__pdisp **out) {
  if (c->state != ACTIVE || !c->opts.dispatcher)
    return IRPC_EREFUSED;
  size_t size = sizeof(cdisp) + c->proto->disp_size;
  cdisp *d = c->spare_disp;
  c->spare_disp = NULL;
  if (!d && !(d = irpc__pool_get(size)))
    return IRPC_ENOMEM;
  memset(d, 0, size);
  d->conn = c;
  d->held = 1;
  d->ev_req.type = EV_REQUEST;
  d->ev_end.type = EV_DISPATCH_END;
  irpc__list_push_front(&c->disps, &d->link);
  c->ndisps++;
  *out = PDISP(d);
  return 0;
}

void irpc__conn_resume_later(irpc_connection *c, irpc__pcall *p) {
  irpc__sched_post_later(c->sched, &ccall_of_p(p)->resume_task);
}

uint64_t irpc__conn_turn(irpc_connection *c) {
  return irpc__sched_turn(c->sched) + 1;
}

void irpc__conn_flush_later(irpc_connection *c) {
  if (c->state != CLOSED)
    irpc__sched_post_later(c->sched, &c->flush_task);
}

void irpc__conn_set_accepted_formats(irpc_connection *c, uint64_t formats) {
  c->accepted_formats = formats;
}

int irpc__conn_call_err(irpc__pcall *p) {
  return ccall_of_p(p)->err;
}

void irpc__conn_streams(irpc_connection *c, int delta) {
  if (delta > 0) {
    c->nstreams++;
  } else if (c->nstreams) {
    c->nstreams--;
    check_idle(c);
  }
}

uv_loop_t *irpc__conn_loop(irpc_connection *c) {
  return c->loop;
}

uint64_t irpc__conn_now_ms(irpc_connection *c) {
  return uv_now(c->loop);
}

int irpc__conn_end_err(const irpc_connection *c, int err) {
  return c->close_err ? c->close_err : closing_err(c, err);
}

/* ---- Events: delivery ---- */

static void on_connected_event(irpc_connection *c) {
  if (c->owner && c->owner->on_connected)
    c->owner->on_connected(c, 0, c->owner_ud);
  start_waiting(c);
  check_idle(c);
}

static void on_request_event(cdisp *d) {
  if (!d->running && !d->done && d->req)
    cdisp_ready(d);
}

static void on_dispatch_end_event(cdisp *d) {
  d->held = 0;
  if (d->running) {
    /* The peer canceled the call, or the connection ended: the dispatch
     * is canceled (its completion frees the record). */
    if (d->end_err)
      dispatch_cancel(d, d->end_err);
    return;
  }
  if (d->queued) {
    /* The peer canceled it before it ran, or the connection closed. */
    if (d->end_err || d->conn->state == CLOSED)
      cdisp_free(d);
    return; /* else a whole request, waiting for its slot */
  }
  cdisp_maybe_free(d);
}

/* The owner lets go of the connection first, so that what the refused
 * calls' completions do (a retry) goes to another connection; the
 * protocol posted those completions after this event. */
static void on_peer_shutdown_event(irpc_connection *c) {
  if (c->state == ACTIVE) {
    if (c->owner && c->owner->on_shutdown_requested)
      c->owner->on_shutdown_requested(c, c->owner_ud);
    else
      irpc_connection_shutdown(c, NULL, NULL);
  }
  while (c->waiting.head)
    ccall_finish(IRPC__CONTAINER_OF(c->waiting.head, ccall, link),
                 IRPC_EINVCANCELED, NULL);
  check_shutdown(c);
}

static void on_closed_event(irpc_connection *c) {
  fail_waiting(c);
  schedule_flush(c);
  /* Failed: close now, without waiting for the writes already queued (a
   * peer that stops reading would hold them, and the connection,
   * forever). */
  if (c->state == CLOSING && c->proto->finished(PC(c)) &&
      !c->proto->want_fin(PC(c))) {
    finish_close(c);
    return;
  }
  /* It waits for its writes or the peer's end of the transport: a peer that
   * sends neither is given the shutdown timeout, as our own shutdown is. */
  if (c->state == CLOSING && !irpc__timer_armed(&c->life_timer))
    irpc__timer_start(c->sched, &c->life_timer, c->opts.shutdown_timeout_ms);
}

static void deliver(irpc_connection *c, event *e) {
  switch (e->type) {
  case EV_CONNECTED:
    on_connected_event(c);
    break;
  case EV_RESPONSE:
    ccall_settle(IRPC__CONTAINER_OF(e, ccall, ev));
    break;
  case EV_REQUEST:
    on_request_event(IRPC__CONTAINER_OF(e, cdisp, ev_req));
    break;
  case EV_DISPATCH_END:
    on_dispatch_end_event(IRPC__CONTAINER_OF(e, cdisp, ev_end));
    break;
  case EV_PEER_SHUTDOWN:
    on_peer_shutdown_event(c);
    break;
  case EV_SLOT:
    start_waiting(c);
    break;
  case EV_CLOSED:
    on_closed_event(c);
    break;
  default:
    break;
  }
}

/* Delivers the queued events in order, the ones posted meanwhile too. */
static void drain(irpc_connection *c) {
  if (c->draining)
    return;
  c->draining = 1;
  for (irpc__link *l; (l = irpc__list_pop_front(&c->events)) != NULL;) {
    event *e = IRPC__CONTAINER_OF(l, event, link);
    e->queued = 0;
    deliver(c, e);
  }
  c->draining = 0;
}

/* ---- I/O ---- */

static void rearm_proto_timer(irpc_connection *c) {
  if (c->state == CLOSED)
    return;
  uint64_t due = c->proto->next_deadline(PC(c));
  if (due == UINT64_MAX) {
    irpc__timer_stop(c->sched, &c->proto_timer);
    return;
  }
  uint64_t now = uv_now(c->loop);
  if (irpc__timer_armed(&c->proto_timer) && c->proto_timer.due <= due)
    return;
  irpc__timer_start(c->sched, &c->proto_timer, due > now ? due - now : 0);
}

static void on_proto_timer(irpc__timer *t) {
  irpc_connection *c = CONN_OF(proto_timer, t);
  c->proto->tick(PC(c));
  schedule_flush(c);
  rearm_proto_timer(c);
  drain(c);
}

/* The connection is ending with `err`: it stops being active before the
 * protocol ends its requests and dispatches, so what their completions do
 * (a retry, a new call) never picks this connection again. */
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

/* A transport error that means the peer is gone (reset, or a write to a
 * closed connection) is reported as UV_ECONNRESET, as the end of the
 * transport without the protocol's close is. */
static int transport_err(int status) {
  return status == UV_EPIPE ? UV_ECONNRESET : status;
}

static void on_write(irpc_duplex *d, int status, void *ud) {
  irpc_connection *c = ud;
  (void)d;
  c->writing--;
  if (status && status != UV_ECANCELED && c->state < CLOSED) {
    fail_connection(c, transport_err(status));
    drain(c);
    return;
  }
  schedule_flush(c);
}

static void on_duplex_shutdown(irpc_duplex *d, int status, void *ud) {
  (void)d;
  (void)status;
  irpc_connection *c = ud;
  if (c->eof) {
    finish_close(c);
    drain(c);
  }
}

/* Output is handed to the transport while less than MAX_QUEUED_WRITE of it
 * waits there (more would only wait in front of later frames: a small
 * call behind a stream), in writes of up to WRITE_BATCH_MAX bytes while
 * the socket took every write whole, WRITE_BATCH while one waits for it (one
 * writev for many frames: fewer system calls and wake-ups of the peer), and up
 * to TURN_MAX bytes a loop turn (the rest goes on after the loop polled for
 * input again; icerpc paces each stream more finely). */
#define MAX_QUEUED_WRITE (64u * 1024u)
#define WRITE_BATCH (256u * 1024u)
#define WRITE_BATCH_MAX (1024u * 1024u)
#define TURN_MAX (1024u * 1024u)

static void flush(irpc_connection *c) {
  if (c->state == CLOSED || c->duplex_closing)
    return;
  if (c->input_read) {
    c->input_read = 0;
    c->proto->input_done(PC(c));
    drain(c);
    if (c->state == CLOSED || c->duplex_closing)
      return;
  }
  if (c->waiting.head) {
    start_waiting(c);
    drain(c);
    if (c->state == CLOSED || c->duplex_closing)
      return;
  }
  /* A batch that ended short of WRITE_BATCH took all the output there is
   * now: output that appears later is posted (irpc__conn_post_output), and
   * the write's completion flushes again. */
  uint64_t turn = irpc__sched_turn(c->sched);
  if (c->flush_turn != turn) {
    c->flush_turn = turn;
    c->flushed_bytes = 0;
  }
  int more = 1;
  while (more && irpc_duplex_write_queue_size(c->duplex) < MAX_QUEUED_WRITE) {
    if (c->flushed_bytes >= TURN_MAX) {
      irpc__conn_flush_later(c);
      break;
    }
    irpc_buf out;
    irpc__buf_init(&out);
    size_t n = 0, got = 0;
    size_t batch =
        irpc__duplex_writing(c->duplex) ? WRITE_BATCH : WRITE_BATCH_MAX;
    while (n < batch && (got = c->proto->take_output(PC(c), &out)) > 0)
      n += got;
    more = got > 0;
    if (n == 0) {
      irpc__buf_fini(&out);
      break;
    }
    int rc = irpc_duplex_write(c->duplex, &out, on_write, c);
    irpc__buf_fini(&out);
    if (rc) {
      fail_connection(c, rc);
      return;
    }
    c->flushed_bytes += n;
    c->writing++;
  }
  rearm_proto_timer(c);
  if (c->proto->want_fin(PC(c)) && !c->fin_sent &&
      irpc_duplex_write_queue_size(c->duplex) == 0) {
    c->fin_sent = 1;
    if (irpc_duplex_shutdown(c->duplex, on_duplex_shutdown, c) != 0)
      finish_close(c);
    return;
  }
  /* Failed: close now, without waiting for the writes already queued. */
  if (c->state == CLOSING && c->proto->finished(PC(c)) &&
      !c->proto->want_fin(PC(c)))
    finish_close(c);
}

static void flush_task(irpc__task *t) {
  irpc_connection *c = CONN_OF(flush_task, t);
  flush(c);
  drain(c);
}

static void schedule_flush(irpc_connection *c) {
  if (c->state != CLOSED)
    irpc__sched_post(c->sched, &c->flush_task);
}

/* The first bytes of a plain-text connection are a TLS record (a handshake
 * or an alert, version 3.x): the peer speaks TLS. Neither protocol starts
 * that way (icerpc: a Slic frame type up to 11; ice: 'I'). */
static int looks_like_tls(const uint8_t *data, size_t len) {
  return len >= 3 && (data[0] == 0x16 || data[0] == 0x15) && data[1] == 0x03 &&
         data[2] <= 0x04;
}

static void on_read(irpc_duplex *d, int status, const uint8_t *data, size_t len,
                    void *ud) {
  irpc_connection *c = ud;
  (void)d;
  if (status == UV_EOF) {
    c->eof = 1;
    irpc_duplex_read_stop(c->duplex);
    c->proto->feed_eof(PC(c));
    drain(c);
    if (c->state == CLOSED)
      return;
    if (c->proto->finished(PC(c)) && !c->proto->want_fin(PC(c)))
      finish_close(c);
    else if (c->fin_sent)
      finish_close(c);
    else
      schedule_flush(c);
    drain(c);
    return;
  }
  if (status) {
    fail_connection(c, transport_err(status));
    drain(c);
    return;
  }
  if (!c->got_input) {
    c->got_input = 1;
    if (!c->info.tls && looks_like_tls(data, len)) {
      fail_connection(c, IRPC_ETLSPEER);
      drain(c);
      return;
    }
  }
  c->input_read = 1;
  c->proto->feed(PC(c), data, len);
  schedule_flush(c);
  drain(c);
}

/* ---- Timers: connect/shutdown and inactivity ---- */

static void on_life_timer(irpc__timer *t) {
  irpc_connection *c = CONN_OF(life_timer, t);
  if (c->state == SHUTTING_DOWN)
    c->shutdown_status = IRPC_ETIMEDOUT;
  fail_connection(c, c->state == HANDSHAKE ? IRPC_ETIMEDOUT : UV_ECONNABORTED);
  drain(c);
}

static void on_idle_timer(irpc__timer *t) {
  irpc_connection *c = CONN_OF(idle_timer, t);
  if (c->state != ACTIVE || c->ncalls || c->ndisps || c->nstreams ||
      c->waiting.head)
    return; /* armed again once idle */
  uint64_t due = c->idle_since + c->opts.inactivity_timeout_ms;
  uint64_t now = uv_now(c->loop);
  if (due > now) { /* calls came and went since it was armed */
    irpc__timer_start(c->sched, &c->idle_timer, due - now);
    return;
  }
  if (c->owner && c->owner->on_shutdown_requested)
    c->owner->on_shutdown_requested(c, c->owner_ud);
  else
    irpc_connection_shutdown(c, NULL, NULL);
  drain(c);
}

/* The connection became idle: inactive from this loop turn's time on. The
 * timer stays armed while calls come and go (when it fires, it checks that
 * the connection is still idle and waits for the rest of the timeout), so
 * a call neither arms nor stops it: calls cost no timer operation and no
 * reading of the clock. */
static void check_idle(irpc_connection *c) {
  if (c->state != ACTIVE || c->ncalls || c->ndisps || c->nstreams ||
      c->waiting.head || !c->opts.inactivity_timeout_ms)
    return;
  c->idle_since = uv_now(c->loop);
  if (!irpc__timer_armed(&c->idle_timer))
    irpc__timer_start(c->sched, &c->idle_timer, c->opts.inactivity_timeout_ms);
}

/* ---- Shutdown and close ---- */

static void check_shutdown(irpc_connection *c) {
  if (c->state != SHUTTING_DOWN || c->ncalls || c->ndisps || c->waiting.head)
    return;
  c->proto->drained(PC(c));
}

/* Abortive end: the protocol lets go of everything, then the connection
 * closes. A connection already closing (its protocol ended; it waits for
 * its writes or for the peer's end of the transport) closes now too: what
 * fails it (the transport, the shutdown timer, the user's abort) ends that
 * wait, and nothing else would. */
static void fail_connection(irpc_connection *c, int err) {
  if (c->state == CLOSED)
    return;
  mark_closing(c, err);
  finish_close(c); /* the protocol's abort, then the end of everything */
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

/* Every dispatch still running is canceled with the connection's error,
 * also one the protocol already let go of (a one-way request read whole):
 * its response has nowhere to go. A cancel may complete dispatches and
 * change the list, so the walk starts over after each. */
static void cancel_dispatches(irpc_connection *c, int err) {
  for (irpc__link *l = c->disps.head; l;) {
    cdisp *d = IRPC__CONTAINER_OF(l, cdisp, link);
    if (!d->running || d->end_canceled) {
      l = l->next;
      continue;
    }
    d->end_canceled = 1;
    dispatch_cancel(d, err);
    l = c->disps.head;
  }
}

/* The requests still waiting for a dispatch slot when the connection has
 * closed never run; the ones the protocol still holds go with their end. */
static void drop_queued(irpc_connection *c) {
  for (irpc__link *l = c->queued.head; l;) {
    cdisp *d = IRPC__CONTAINER_OF(l, cdisp, link);
    l = l->next;
    if (!d->held)
      cdisp_free(d);
  }
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
  c->proto->abort(PC(c), c->close_err); /* posts the end of everything */
  fail_waiting(c);
  /* The calls end as the protocol said (it let go of every one). */
  for (ccall *k; c->calls.head;) {
    k = IRPC__CONTAINER_OF(c->calls.head, ccall, link);
    if (!k->held)
      ccall_settle(k);
    else
      ccall_finish(k, c->close_err, NULL);
  }
  cancel_dispatches(c, c->close_err);
  c->state = CLOSED;
  drop_queued(c);
  irpc__timer_stop(c->sched, &c->proto_timer);
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
    drain(c);
    return 0;
  }
  c->state = SHUTTING_DOWN;
  irpc__timer_stop(c->sched, &c->idle_timer);
  irpc__timer_start(c->sched, &c->life_timer, c->opts.shutdown_timeout_ms);
  /* The peer first learns that nothing new is accepted: a completion of a
   * call refused below may find nothing left to wait for (check_shutdown).
   * Those calls were not sent: refused by us, or by the peer's shutdown. */
  c->proto->shutdown(PC(c));
  int refused = c->goaway_in ? IRPC_EINVCANCELED : IRPC_EREFUSED;
  while (c->waiting.head && c->state == SHUTTING_DOWN)
    ccall_finish(IRPC__CONTAINER_OF(c->waiting.head, ccall, link), refused,
                 NULL);
  check_shutdown(c);
  drain(c);
  return 0;
}

void irpc_connection_abort(irpc_connection *c, int err) {
  if (!c)
    return;
  fail_connection(c, err ? err : UV_ECONNABORTED);
  drain(c);
}

/* ---- Creation and references ---- */

int irpc__connection_new(irpc_connection **out, irpc_duplex *d,
                         const irpc__protocol_ops *proto, int is_client,
                         const irpc_connection_options *opts,
                         const irpc__conn_owner *owner, void *owner_ud) {
  irpc_connection_options o;
  if (opts)
    o = *opts;
  else
    irpc_connection_options_init(&o);
  int rc = irpc__connection_options_check(&o);
  if (rc == 0 && (!proto || proto->call_size > IRPC__PCALL_SIZE_MAX))
    rc = IRPC_EINVAL;
  irpc_connection *c =
      rc ? NULL : irpc_calloc(1, sizeof(*c) + proto->conn_size);
  if (!c) {
    irpc_duplex_close(d, NULL, NULL);
    return rc ? rc : IRPC_ENOMEM;
  }
  c->refs = 3; /* the owner's, the open connection's, the transport's */
  c->proto = proto;
  c->id = atomic_fetch_add_explicit(&next_conn_id, 1, memory_order_relaxed);
  c->loop = irpc_duplex_loop(d);
  c->is_client = is_client;
  c->opts = o;
  c->accepted_formats = irpc_compress_formats_readable();
  c->duplex = d;
  c->owner = owner;
  c->owner_ud = owner_ud;
  c->ev_connected.type = EV_CONNECTED;
  c->ev_peer_shutdown.type = EV_PEER_SHUTDOWN;
  c->ev_slot.type = EV_SLOT;
  c->ev_closed.type = EV_CLOSED;
  c->flush_task.fn = flush_task;
  c->closed_task.fn = closed_task;
  irpc__timer_init(&c->proto_timer, on_proto_timer);
  irpc__timer_init(&c->idle_timer, on_idle_timer);
  irpc__timer_init(&c->life_timer, on_life_timer);
  irpc_duplex_local_address(d, c->local, sizeof c->local);
  irpc_duplex_remote_address(d, c->remote, sizeof c->remote);
  c->info.local_address = c->local;
  c->info.remote_address = c->remote;
  if (irpc_duplex_peer_credentials(d, &c->cred) == 0)
    c->info.peer_credentials = &c->cred;
  c->info.tls = irpc_duplex_tls_info(d);

  int inited = 0;
  rc = irpc_invoker_new(&c->invoker, c->loop, &conn_invoker_ops, NULL);
  if (rc == 0) {
    *(irpc_connection **)irpc_invoker_data(c->invoker) = c;
    c->sched = c->invoker->node.sched;
    rc = proto->init(PC(c), c, &c->opts, is_client);
    inited = rc == 0;
  }
  if (rc == 0)
    rc = irpc_duplex_read_start(d, on_read, c);
  if (rc == 0)
    rc = irpc__timer_start(c->sched, &c->life_timer, o.connect_timeout_ms);
  if (rc) {
    if (c->sched) /* the protocol may have asked for a flush */
      irpc__sched_cancel(c->sched, &c->flush_task);
    if (inited)
      proto->fini(PC(c));
    irpc_invoker_free(c->invoker);
    irpc_duplex_close(d, NULL, NULL);
    irpc_free(c);
    return rc;
  }
  schedule_flush(c);
  rearm_proto_timer(c);
  *out = c;
  return 0;
}

void irpc__connection_disown(irpc_connection *c) {
  if (c)
    c->owner = NULL;
}

void irpc__connection_refuse(irpc_connection *c, irpc__refuse_reason why) {
  c->refusing = 1;
  c->owner = NULL;
  c->proto->refuse(PC(c), why);
  drain(c);
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
  c->proto->fini(PC(c));
  /* A flush paced to a later turn may still wait there. */
  irpc__sched_cancel(c->sched, &c->flush_task);
  irpc_invoker_free(c->invoker);
  if (c->spare_disp)
    irpc__pool_put(c->spare_disp, sizeof(cdisp) + c->proto->disp_size);
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

const irpc_tls_info *irpc_connection_tls_info(const irpc_connection *c) {
  return c ? c->info.tls : NULL;
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
