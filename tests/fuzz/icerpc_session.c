/* libFuzzer targets for whole icerpc sessions, through the public API only:
 *
 *   fuzz_icerpc_server  a real irpc_server (router, middleware, dispatchers
 *                       that answer, hold, fail, stream and call back)
 *                       faces fuzzed client peers;
 *   fuzz_icerpc_client  a real client connection or connection cache,
 *                       behind a pipeline of interceptors (retry, deadline,
 *                       compress), faces a fuzzed server peer while calls
 *                       are in flight.
 *
 * The peer is a raw duplex of the memory transport; the endpoint under test
 * optionally reaches it through the shaped link decorator running on a
 * manual clock, which also drives the deadline and retry interceptors and
 * the deadline middleware. The input is a script:
 *
 *   byte 0   bit 0     the endpoint's transport is a shaped link on the
 *                      manual clock; bits 1-2 its profile (latency,
 *                      bandwidth);
 *            bit 3     at the end the peers reset (else FIN and close);
 *            bit 4     a held dispatch completes as soon as it is canceled
 *                      (else when the script or the end releases it);
 *            bit 5     at the end the endpoint is freed before the held
 *                      dispatches are completed;
 *            bit 6     client: the terminal is a connection cache (else a
 *                      client connection);
 *            bit 7     client: the client connection has a dispatcher.
 *   byte 1   connection timers: idle (bits 0-1), inactivity (bits 2-3),
 *            shutdown (bit 4) and connect (bit 5) timeouts of a few
 *            milliseconds, max_dispatches (bits 6-7).
 *   byte 2   limits: bidirectional (bits 0-1) and unidirectional (bits 2-3)
 *            streams, the smallest Slic window and frame (bit 4), the
 *            smallest header (bit 5), a 1,000-byte payload limit (bit 6),
 *            no compression format accepted (bit 7).
 *   byte 3   pipeline and middleware: retry (bit 0; 4 attempts with bit 7),
 *            deadline interceptor (bit 1; a 20 ms default timeout with bit
 *            2), compress interceptor (bit 3; always with bit 4), deadline
 *            middleware (bit 5), compress middleware (bit 6).
 *   then operations, one byte each (low nibble: the operation, high
 *   nibble: its argument `a`), some followed by bytes of their own:
 *     0, 12  SEND n, then n+1 bytes: the peer writes them at once
 *     1, 15  the peer writes the next a+1 bytes at once
 *     2, 13  run the loop a+1 turns without blocking
 *     3, 14  advance the manual clock (steps[a])
 *     4      let a+1 ms of real time pass (the connection's own timers run
 *            on the loop's clock; at most 8 ms an input)
 *     5      the current peer stops (a even) or starts reading
 *     6      the current peer: FIN, close, abort, or switch to peer a>>2
 *     7      server: a new peer connects; client: connect now
 *     8      CALL k: start a call of kind k (one-way, idempotent, deadline,
 *            compressed, big payload...); server: a call to the peer over
 *            one of its connections
 *     9      CANCEL i: cancel call i
 *     10     RELEASE i: complete held dispatch i (Ok, failure, big)
 *     11     the endpoint shuts down gracefully, shuts a connection down,
 *            aborts one, or (client) connects again
 * gen_session_corpus.py writes seeds that hold real sessions.
 *
 * Checks (abort() on violation, beyond ASan, UBSan and LeakSanitizer): a
 * call's callback runs exactly once, never inside irpc_invoke, with a
 * response exactly when it succeeds; every dispatch that enters the
 * dispatcher chain comes back through it once; a dispatch held when its
 * connection ends is canceled; every connection established closes
 * exactly once; once the input ends and the peers are gone, every call
 * completes and every connection closes within a bounded number of loop
 * turns, and after everything is freed the loop has no handle left.
 * IRPC_FUZZ_TRACE=1 prints what a run reached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>
#include <sanitizer/lsan_interface.h>

#ifndef FZ_CLIENT
#error "FZ_CLIENT must be 0 (server under test) or 1 (client under test)"
#endif

#define FZ_ADDR "icerpc://fz?transport=memory"
#define FZ_SERVICE "icerpc://fz/echo?transport=memory"
#define FZ_PEERS 4
#define FZ_CALLS 32
#define FZ_HELD 32
#define FZ_BIG 70000 /* more than one Slic window */
/* Bigger than IRPC_PAYLOAD_STREAM_THRESHOLD: a request payload the
 * connection streams when the compress interceptor's writer is attached. */
#define FZ_HUGE (((size_t)1 << 20) + 1000)
#define FZ_WAIT_BUDGET_MS 8
#define FZ_ROUNDS 2000 /* loop turns allowed to drain */
#define FZ_SETTLE 64   /* loop turns a drain runs at least */
#define FZ_START_NS INT64_C(1800000000000000000)
#define MS UINT64_C(1000000)

static const uint64_t steps[16] = {
    0,         1000,      MS / 2,     MS,        2 * MS,   5 * MS,
    10 * MS,   20 * MS,   50 * MS,    100 * MS,  250 * MS, 1000 * MS,
    2000 * MS, 5000 * MS, 15000 * MS, 60000 * MS};

typedef struct fz fz;

typedef struct fz_call {
  fz *f;
  irpc_call *call;
  int state; /* 0 unused, 1 running, 2 completed, 3 refused by invoke */
  int invoking;
  int held; /* the held dispatch it completes, or -1 */
} fz_call;

typedef struct fz_held {
  fz *f;
  irpc_dispatch *d;
  int state; /* 1 held, 2 completed */
  int canceled;
  int call; /* the call it waits for, or -1 */
} fz_held;

typedef struct fz_peer {
  fz *f;
  irpc_duplex *d;
  int reading;
  int closed; /* close or abort called: never touched again */
  int ended;  /* read error or EOF seen */
} fz_peer;

struct fz {
  uv_loop_t loop;
  const uint8_t *in;
  size_t len, off;
  uint8_t cfg[4];
  irpc_transport *memory, *shaped, *transport;
  irpc_clock *clock;
  fz_peer peers[FZ_PEERS];
  int npeers, cur;
  irpc_listener *listener;
  int ending;
  uv_timer_t waiter;
  int waited, wait_ms;
  /* Dispatch side (the server, or the client's dispatcher). */
  irpc_router *router;
  irpc_dispatcher *counter, *echo, *hold, *fail, *stream, *callback;
  uint64_t entered, completed;
  fz_held held[FZ_HELD];
  int nheld;
  /* Calls. */
  fz_call calls[FZ_CALLS];
  int ncalls;
  /* Client under test. */
  irpc_invoker *terminal;
  irpc_pipeline *pipeline;
  /* Server under test. */
  irpc_server *server;
  int shutdowns, shutdown_cbs;
  /* Connections established, and close callbacks run. */
  uint64_t opened, closed;
  int trace; /* IRPC_FUZZ_TRACE set: what happened, on stderr */
  uint64_t peer_bytes;
};

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_icerpc_%s: %s\n", FZ_CLIENT ? "client" : "server",
            what);
    abort();
  }
}

static int next_byte(fz *f, uint8_t *b) {
  if (f->off >= f->len)
    return 0;
  *b = f->in[f->off++];
  return 1;
}

static void spin(fz *f, int turns) {
  for (int i = 0; i < turns; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void fill(irpc_buf *b, size_t n) {
  uint8_t chunk[256];
  for (size_t i = 0; i < sizeof chunk; i++)
    chunk[i] = (uint8_t)(i * 7 + (i >> 3));
  while (n > 0) {
    size_t k = n < sizeof chunk ? n : sizeof chunk;
    if (irpc_buf_append(b, chunk, k) != 0)
      return;
    n -= k;
  }
}

/* ---- Calls ---- */

static void held_complete(fz *f, fz_held *h, int mode);

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  fz_call *c = ud;
  fz *f = c->f;
  check(c->state == 1, "a call completed twice, or one never started");
  check(!c->invoking, "a callback ran inside irpc_invoke");
  check(err == 0 ? resp != NULL : err < 0 && resp == NULL,
        "a callback's error and response disagree");
  c->state = 2;
  c->call = NULL;
  if (f->trace)
    fprintf(stderr, "call %d: %s, status %d\n", (int)(c - f->calls),
            err ? irpc_strerror(err) : "ok",
            resp ? (int)irpc_incoming_response_status(resp) : -1);
  irpc_incoming_response_free(resp);
  if (c->held >= 0 && f->held[c->held].state == 1)
    held_complete(f, &f->held[c->held], err ? 1 : 0);
}

/* Starts call number f->ncalls through `inv`; returns its index or -1.
 * Kind: bit 0 one-way, 1 idempotent, 2 a deadline feature, 3 the compress
 * feature, 4 a payload bigger than a Slic window (bigger than the streaming
 * threshold when bits 5-7 are all set), bits 5-7 the deadline and payload
 * size. */
static int start_call(fz *f, irpc_invoker *inv, const char *path, unsigned kind,
                      int held) {
  if (!inv || f->ncalls == FZ_CALLS)
    return -1;
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, path, "op") != 0)
    return -1;
  size_t size = 4 + 100 * (kind >> 5);
  if (kind & 16)
    size = (kind >> 5) == 7 ? FZ_HUGE : FZ_BIG;
  fill(irpc_outgoing_request_payload(req), size);
  irpc_features *ft = irpc_outgoing_request_features(req);
  if (kind & 1)
    irpc_outgoing_request_set_oneway(req, 1);
  if (kind & 2)
    irpc_outgoing_request_set_idempotent(req, 1);
  if (kind & 4)
    irpc_features_set_deadline(ft, irpc_clock_now_unix_ns(f->clock) +
                                       (int64_t)(((kind >> 5) + 1) * 5 * MS));
  if (kind & 8)
    irpc_features_set_compress(ft, IRPC_COMPRESS_YES);
  int i = f->ncalls++;
  fz_call *c = &f->calls[i];
  c->f = f;
  c->state = 1;
  c->held = held;
  c->invoking = 1;
  int rc = irpc_invoke_owned(inv, req, on_done, c, &c->call);
  c->invoking = 0;
  if (rc != 0) {
    check(c->state == 1, "a refused call's callback ran");
    c->state = 3;
    c->call = NULL;
    return -1;
  }
  return i;
}

static int calls_running(const fz *f) {
  for (int i = 0; i < f->ncalls; i++)
    if (f->calls[i].state == 1)
      return 1;
  return 0;
}

/* ---- Connections: each one established closes exactly once ---- */

static void on_conn_closed(irpc_connection *c, int err, void *ud) {
  (void)c;
  fz *f = ud;
  check(err != 0, "a connection closed with no error");
  check(++f->closed <= f->opened, "a connection's close callback ran twice");
}

static void conn_opened(fz *f, irpc_connection *c) {
  check(irpc_connection_is_active(c) || irpc_connection_close_error(c) != 0,
        "an established connection is neither active nor closed");
  if (irpc_connection_on_close(c, on_conn_closed, f) > 0)
    f->opened++;
}

/* ---- Dispatchers: each one's data is the fz ---- */

static int fz_init(irpc_dispatcher *self, const void *config) {
  *(fz **)irpc_dispatcher_data(self) = (fz *)config;
  return 0;
}

static fz *fz_of(irpc_dispatcher *self) {
  return *(fz **)irpc_dispatcher_data(self);
}

/* In front of everything: counts dispatches in and back. */
static void counter_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  fz *f = fz_of(self);
  *(int *)irpc_dispatch_state(d) = 1;
  f->entered++;
  irpc_dispatch_next(d);
}

static int counter_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  fz *f = fz_of(self);
  int *st = irpc_dispatch_state(d);
  check(*st == 1, "a dispatch came back twice");
  *st = 2;
  f->completed++;
  return 0;
}

static const irpc_dispatcher_ops counter_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "fz-counter",
    .data_size = sizeof(fz *),
    .dispatch_state_size = sizeof(int),
    .init = fz_init,
    .dispatch = counter_dispatch,
    .on_complete = counter_complete};

static irpc_outgoing_response *response_of(irpc_incoming_request *req,
                                           size_t big) {
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0)
    return NULL;
  if (big)
    fill(irpc_outgoing_response_payload(resp), big);
  else if (req)
    irpc_buf_move(irpc_outgoing_response_payload(resp),
                  irpc_incoming_request_payload(req));
  return resp;
}

static void reply(irpc_dispatch *d, irpc_outgoing_response *resp) {
  int rc = resp ? irpc_dispatch_complete(d, resp)
                : irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
  check(rc == 0, "completing a dispatch failed");
}

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  if (irpc_buf_len(irpc_incoming_request_payload(req)) > 64)
    irpc_features_set_compress(irpc_incoming_request_features(req),
                               IRPC_COMPRESS_YES);
  reply(d, response_of(req, 0));
}

static void fail_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  check(irpc_dispatch_reply(d, IRPC_STATUS_APPLICATION_ERROR, "failed") == 0,
        "replying failed");
}

static void stream_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_features_set_compress(
      irpc_incoming_request_features(irpc_dispatch_request(d)),
      IRPC_COMPRESS_NO);
  reply(d, response_of(NULL, FZ_BIG));
}

static void held_complete(fz *f, fz_held *h, int mode) {
  (void)f;
  irpc_dispatch *d = h->d;
  h->state = 2;
  h->d = NULL;
  if (mode == 1)
    check(irpc_dispatch_reply(d, IRPC_STATUS_APPLICATION_ERROR, "held") == 0,
          "replying failed");
  else
    reply(d, response_of(mode == 2 ? NULL : irpc_dispatch_request(d),
                         mode == 2 ? FZ_BIG : 0));
}

static void held_on_cancel(irpc_dispatch *d, int err, void *ud) {
  fz_held *h = ud;
  fz *f = h->f;
  check(h->state == 1 && h->d == d, "a completed dispatch was canceled");
  h->canceled = 1;
  if (f->trace)
    fprintf(stderr, "held dispatch %d canceled: %s\n", (int)(h - f->held),
            irpc_strerror(err));
  if (h->call >= 0 && f->calls[h->call].state == 1)
    irpc_call_cancel(f->calls[h->call].call, IRPC_ECANCELED);
  else if (f->cfg[0] & 0x10)
    held_complete(f, h, 1);
}

static fz_held *hold_dispatch(fz *f, irpc_dispatch *d) {
  if (f->nheld == FZ_HELD) {
    check(irpc_dispatch_reply(d, IRPC_STATUS_UNAVAILABLE, NULL) == 0,
          "replying failed");
    return NULL;
  }
  fz_held *h = &f->held[f->nheld++];
  h->f = f;
  h->d = d;
  h->state = 1;
  h->call = -1;
  irpc_dispatch_on_cancel(d, held_on_cancel, h);
  return h;
}

static void hold_dispatch_cb(irpc_dispatcher *self, irpc_dispatch *d) {
  hold_dispatch(fz_of(self), d);
}

/* Calls the peer back over the request's connection; the dispatch
 * completes when that call does. */
static void callback_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  fz *f = fz_of(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_invoker *inv = irpc_incoming_request_invoker(req);
  fz_held *h = hold_dispatch(f, d);
  if (!h)
    return;
  int hi = (int)(h - f->held);
  h->call = start_call(f, inv, "/back", 0, hi);
  if (h->call < 0 && h->state == 1)
    held_complete(f, h, 1);
}

#define FZ_DISPATCHER(var, fn)                                                 \
  static const irpc_dispatcher_ops var = {.struct_size =                       \
                                              sizeof(irpc_dispatcher_ops),     \
                                          .name = #fn,                         \
                                          .data_size = sizeof(fz *),           \
                                          .init = fz_init,                     \
                                          .dispatch = fn}
FZ_DISPATCHER(echo_ops, echo_dispatch);
FZ_DISPATCHER(fail_ops, fail_dispatch);
FZ_DISPATCHER(stream_ops, stream_dispatch);
FZ_DISPATCHER(hold_ops, hold_dispatch_cb);
FZ_DISPATCHER(callback_ops, callback_dispatch);

static void setup_dispatch(fz *f) {
  uint8_t m = f->cfg[3];
  check(irpc_router_new(&f->router, &f->loop) == 0, "router");
  if (m & 0x20) {
    irpc_deadline_options o;
    irpc_deadline_options_init(&o);
    o.clock = f->clock;
    irpc_dispatcher *mw;
    check(irpc_deadline_middleware_new(&mw, &f->loop, &o) == 0 &&
              irpc_router_use(f->router, mw) == 0,
          "deadline middleware");
  }
  if (m & 0x40) {
    irpc_compress_options o;
    irpc_compress_options_init(&o);
    o.min_size = 64;
    irpc_dispatcher *mw;
    check(irpc_compress_middleware_new(&mw, &f->loop, &o) == 0 &&
              irpc_router_use(f->router, mw) == 0,
          "compress middleware");
  }
  check(irpc_dispatcher_new(&f->counter, &f->loop, &counter_ops, f) == 0 &&
            irpc_dispatcher_new(&f->echo, &f->loop, &echo_ops, f) == 0 &&
            irpc_dispatcher_new(&f->fail, &f->loop, &fail_ops, f) == 0 &&
            irpc_dispatcher_new(&f->stream, &f->loop, &stream_ops, f) == 0 &&
            irpc_dispatcher_new(&f->hold, &f->loop, &hold_ops, f) == 0 &&
            irpc_dispatcher_new(&f->callback, &f->loop, &callback_ops, f) ==
                0 &&
            irpc_router_map(f->router, "/echo", f->echo) == 0 &&
            irpc_router_map(f->router, "/fail", f->fail) == 0 &&
            irpc_router_map(f->router, "/stream", f->stream) == 0 &&
            irpc_router_map(f->router, "/hold", f->hold) == 0 &&
            irpc_router_map(f->router, "/callback", f->callback) == 0 &&
            irpc_dispatcher_set_next(f->counter,
                                     irpc_router_dispatcher(f->router)) == 0,
        "dispatchers");
}

/* ---- Peers ---- */

static void peer_on_read(irpc_duplex *d, int status, const uint8_t *data,
                         size_t len, void *ud) {
  (void)d, (void)data, (void)len;
  fz_peer *p = ud;
  if (status < 0)
    p->ended = 1;
  else
    p->f->peer_bytes += len;
}

static void peer_start(fz *f, irpc_duplex *d) {
  fz_peer *p = &f->peers[f->npeers];
  f->cur = f->npeers++;
  p->f = f;
  p->d = d;
  p->reading = irpc_duplex_read_start(d, peer_on_read, p) == 0;
}

#if FZ_CLIENT
static void peer_on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  fz *f = ud;
  if (f->ending || f->npeers == FZ_PEERS) {
    irpc_duplex_abort(d, NULL, NULL);
    return;
  }
  peer_start(f, d);
}

#else
static void peer_on_connect(irpc_duplex *d, int status, void *ud) {
  fz *f = ud;
  if (status != 0)
    return; /* the duplex is freed by the transport */
  if (f->ending || f->npeers == FZ_PEERS) {
    irpc_duplex_abort(d, NULL, NULL);
    return;
  }
  peer_start(f, d);
}

#endif

static fz_peer *peer_cur(fz *f) {
  if (f->npeers == 0)
    return NULL;
  fz_peer *p = &f->peers[f->cur];
  return p->closed ? NULL : p;
}

static void peer_send(fz *f, size_t n) {
  if (n > f->len - f->off)
    n = f->len - f->off;
  const uint8_t *data = f->in + f->off;
  f->off += n;
  fz_peer *p = peer_cur(f);
  if (!p || n == 0 || irpc_duplex_closing(p->d))
    return;
  irpc_buf *b;
  if (irpc_buf_new(&b) != 0)
    return;
  if (irpc_buf_append(b, data, n) == 0)
    irpc_duplex_write(p->d, b, NULL, NULL);
  irpc_buf_free(b);
}

static void peer_close(fz_peer *p, int reset) {
  if (p->closed)
    return;
  p->closed = 1;
  if (reset) {
    irpc_duplex_abort(p->d, NULL, NULL);
  } else {
    irpc_duplex_shutdown(p->d, NULL, NULL);
    irpc_duplex_close(p->d, NULL, NULL);
  }
}

/* ---- Real time, for the connection's own timers ---- */

static void on_waited(uv_timer_t *t) {
  ((fz *)t->data)->waited = 1;
}

static void wait_real(fz *f, unsigned ms) {
  if (f->wait_ms + (int)ms > FZ_WAIT_BUDGET_MS)
    return;
  f->wait_ms += (int)ms;
  f->waited = 0;
  uv_timer_start(&f->waiter, on_waited, ms, 0);
  /* Not UV_RUN_ONCE: once the waiter fired at the start of a turn, it would
   * still block for the next timer, a connection's 10 s one say. */
  while (!f->waited)
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* ---- The endpoint under test ---- */

/* `io` holds the icerpc part; it needs to live until the endpoint is
 * created (which copies it). */
static void apply_options(fz *f, irpc_connection_options *o,
                          irpc_icerpc_options *io) {
  static const uint64_t idle[4] = {30000, 0, 3, 20};
  static const uint64_t inactivity[4] = {300000, 0, 2, 10};
  static const uint64_t dispatches[4] = {100, 1, 2, 0};
  static const uint64_t streams[4] = {100, 1, 2, 4};
  uint8_t t = f->cfg[1], l = f->cfg[2];
  irpc_icerpc_options_init(io);
  o->icerpc = io;
  o->transport = f->transport;
  io->idle_timeout_ms = idle[t & 3];
  o->inactivity_timeout_ms = inactivity[(t >> 2) & 3];
  if (t & 0x10)
    o->shutdown_timeout_ms = 5;
  if (t & 0x20)
    o->connect_timeout_ms = 5;
  o->max_dispatches = dispatches[t >> 6];
  io->max_bidirectional_streams = streams[l & 3];
  io->max_unidirectional_streams = streams[(l >> 2) & 3];
  if (l & 0x10)
    io->initial_stream_window_size = io->max_stream_frame_size = 1024;
  if (l & 0x20)
    io->max_header_size = 63;
  if (l & 0x40)
    o->max_payload_size = 1000;
  if (l & 0x80)
    io->compression_formats = 0;
}

static void setup_transport(fz *f) {
  static const char *const profiles[4] = {"1ms", "100mbit,100us", "1mbit,5ms",
                                          "10mbit"};
  check(irpc_transport_memory_new(&f->memory) == 0, "memory transport");
  f->transport = f->memory;
  if (f->cfg[0] & 1) {
    irpc_link link;
    check(irpc_link_parse(&link, profiles[(f->cfg[0] >> 1) & 3]) == 0, "link");
    link.clock = f->clock;
    check(irpc_transport_shaped_new(&f->shaped, f->memory, &link) == 0,
          "shaped transport");
    f->transport = f->shaped;
  }
}

#if FZ_CLIENT
static void on_hook(irpc_invoker *inv, const irpc_connect_event *ev, void *ud) {
  (void)inv;
  fz *f = ud;
  check(ev->count >= 1 && ev->reconnected == (ev->count > 1),
        "a connect event's count and reconnected disagree");
  conn_opened(f, ev->connection);
}

static irpc_invoker *endpoint_invoker(fz *f) {
  return irpc_pipeline_invoker(f->pipeline);
}

static void setup_endpoint(fz *f) {
  uint8_t m = f->cfg[3];
  irpc_server_address *a;
  check(irpc_server_address_parse(&a, FZ_ADDR) == 0, "address");
  check(irpc_transport_listen(f->memory, &f->loop, a, peer_on_accept, f,
                              &f->listener) == 0,
        "listen");
  irpc_server_address_free(a);
  if (f->cfg[0] & 0x40) {
    irpc_connection_cache_options o;
    irpc_connection_cache_options_init(&o);
    irpc_icerpc_options io;
    apply_options(f, &o.connection, &io);
    o.default_service_address = FZ_SERVICE;
    if (f->cfg[0] & 0x80)
      o.connection.dispatcher = f->counter;
    check(irpc_connection_cache_new(&f->terminal, &f->loop, &o) == 0,
          "connection cache");
  } else {
    irpc_connection_options o;
    irpc_connection_options_init(&o);
    irpc_icerpc_options io;
    apply_options(f, &o, &io);
    if (f->cfg[0] & 0x80)
      o.dispatcher = f->counter;
    check(irpc_client_connection_new(&f->terminal, &f->loop, FZ_ADDR, &o) == 0,
          "client connection");
  }
  check(irpc_pipeline_new(&f->pipeline, &f->loop) == 0, "pipeline");
  irpc_invoker *ic;
  if (m & 1) {
    irpc_retry_options o;
    irpc_retry_options_init(&o);
    o.max_attempts = m & 0x80 ? 4 : 2;
    o.clock = f->clock;
    o.seed = 1;
    check(irpc_retry_interceptor_new(&ic, &f->loop, &o) == 0 &&
              irpc_pipeline_use(f->pipeline, ic) == 0,
          "retry");
  }
  if (m & 2) {
    irpc_deadline_options o;
    irpc_deadline_options_init(&o);
    o.clock = f->clock;
    o.default_timeout_ms = m & 4 ? 20 : 0;
    check(irpc_deadline_interceptor_new(&ic, &f->loop, &o) == 0 &&
              irpc_pipeline_use(f->pipeline, ic) == 0,
          "deadline");
  }
  if (m & 8) {
    irpc_compress_options o;
    irpc_compress_options_init(&o);
    o.min_size = 64;
    o.always = (m & 0x10) != 0;
    check(irpc_compress_interceptor_new(&ic, &f->loop, &o) == 0 &&
              irpc_pipeline_use(f->pipeline, ic) == 0,
          "compress");
  }
  check(irpc_pipeline_into(f->pipeline, f->terminal) == 0, "pipeline");
  long token = f->cfg[0] & 0x40
                   ? irpc_connection_cache_on_connect(f->terminal, on_hook, f)
                   : irpc_client_connection_on_connect(f->terminal, on_hook, f);
  check(token > 0, "connect hook");
  if (!(f->cfg[0] & 0x40))
    irpc_client_connection_connect(f->terminal, NULL, NULL);
}

static irpc_connection *endpoint_connection(fz *f, unsigned a) {
  if (!(f->cfg[0] & 0x40))
    return irpc_client_connection_connection(f->terminal);
  irpc_connection *cs[FZ_PEERS];
  size_t n = irpc_connection_cache_connections(f->terminal, cs, FZ_PEERS);
  if (n > FZ_PEERS)
    n = FZ_PEERS;
  return n ? cs[a % n] : NULL;
}

static void op_call(fz *f, unsigned a, unsigned kind) {
  static const char *const paths[4] = {"/echo", "/hold", "/a/b", "/echo"};
  start_call(f, a & 8 ? f->terminal : endpoint_invoker(f), paths[a & 3], kind,
             -1);
}

static void on_endpoint_down(irpc_invoker *inv, int status, void *ud) {
  (void)inv, (void)status;
  fz *f = ud;
  check(++f->shutdown_cbs <= f->shutdowns, "a shutdown callback ran twice");
}

static void endpoint_shutdown(fz *f) {
  int rc =
      f->cfg[0] & 0x40
          ? irpc_connection_cache_shutdown(f->terminal, on_endpoint_down, f)
          : irpc_client_connection_shutdown(f->terminal, on_endpoint_down, f);
  if (rc == 0)
    f->shutdowns++;
}

static void endpoint_new_peer(fz *f) {
  if (!(f->cfg[0] & 0x40))
    irpc_client_connection_connect(f->terminal, NULL, NULL);
}

static void endpoint_free(fz *f) {
  irpc_pipeline_free(f->pipeline);
  irpc_invoker_free(f->terminal);
  f->pipeline = NULL;
  f->terminal = NULL;
}
#else
static void on_server_open(irpc_server *s, irpc_connection *c, int err,
                           void *ud) {
  (void)s, (void)err;
  conn_opened(ud, c);
}

static void peer_connect(fz *f) {
  irpc_server_address *a;
  irpc_duplex *d;
  check(irpc_server_address_parse(&a, FZ_ADDR) == 0, "address");
  irpc_transport_connect(f->memory, &f->loop, a, &d, peer_on_connect, f);
  irpc_server_address_free(a);
}

static void setup_endpoint(fz *f) {
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_icerpc_options io;
  apply_options(f, &so.connection, &io);
  check(irpc_server_new(&f->server, &f->loop, f->counter, &so) == 0 &&
            irpc_server_listen(f->server, FZ_ADDR, NULL, 0) == 0,
        "server");
  irpc_server_on_connection(f->server, on_server_open, NULL, f);
  peer_connect(f);
}

static irpc_connection *endpoint_connection(fz *f, unsigned a) {
  irpc_connection *cs[FZ_PEERS];
  size_t n = irpc_server_connections(f->server, cs, FZ_PEERS);
  if (n > FZ_PEERS)
    n = FZ_PEERS;
  return n ? cs[a % n] : NULL;
}

static void op_call(fz *f, unsigned a, unsigned kind) {
  irpc_connection *c = endpoint_connection(f, a);
  if (c)
    start_call(f, irpc_connection_invoker(c), "/cb", kind, -1);
}

static void on_server_down(irpc_server *s, int status, void *ud) {
  (void)s, (void)status;
  fz *f = ud;
  check(++f->shutdown_cbs <= f->shutdowns, "a shutdown callback ran twice");
}

static void endpoint_shutdown(fz *f) {
  if (irpc_server_shutdown(f->server, on_server_down, f) == 0)
    f->shutdowns++;
}

static void endpoint_new_peer(fz *f) {
  peer_connect(f);
}

static void endpoint_free(fz *f) {
  irpc_server_free(f->server);
  f->server = NULL;
}
#endif

static void on_conn_down(irpc_connection *c, int status, void *ud) {
  (void)c, (void)status;
  fz *f = ud;
  check(++f->shutdown_cbs <= f->shutdowns, "a shutdown callback ran twice");
}

static void op_shutdown(fz *f, unsigned a) {
  irpc_connection *c;
  switch (a & 3) {
  case 0:
    endpoint_shutdown(f);
    break;
  case 1:
    if ((c = endpoint_connection(f, a >> 2)) &&
        irpc_connection_shutdown(c, on_conn_down, f) == 0)
      f->shutdowns++;
    break;
  case 2:
    if ((c = endpoint_connection(f, a >> 2)))
      irpc_connection_abort(c, 0);
    break;
  default:
    endpoint_new_peer(f);
    break;
  }
}

/* ---- The script ---- */

static void op_peer(fz *f, unsigned a) {
  fz_peer *p = peer_cur(f);
  switch (a & 3) {
  case 0:
    if (p && !irpc_duplex_closing(p->d))
      irpc_duplex_shutdown(p->d, NULL, NULL);
    break;
  case 1:
  case 2:
    if (p)
      peer_close(p, (a & 3) == 2);
    break;
  default:
    if (f->npeers)
      f->cur = (int)((a >> 2) % (unsigned)f->npeers);
    break;
  }
}

static void op_read(fz *f, unsigned a) {
  fz_peer *p = peer_cur(f);
  if (!p || p->ended || irpc_duplex_closing(p->d))
    return;
  if ((a & 1) && !p->reading)
    p->reading = irpc_duplex_read_start(p->d, peer_on_read, p) == 0;
  else if (!(a & 1) && p->reading) {
    irpc_duplex_read_stop(p->d);
    p->reading = 0;
  }
}

static void run_script(fz *f) {
  uint8_t b, x;
  while (next_byte(f, &b)) {
    unsigned a = b >> 4;
    switch (b & 15) {
    case 0:
    case 12:
      if (next_byte(f, &x))
        peer_send(f, (size_t)x + 1);
      break;
    case 1:
    case 15:
      peer_send(f, a + 1);
      break;
    case 2:
    case 13:
      spin(f, (int)a + 1);
      break;
    case 3:
    case 14:
      irpc_clock_advance(f->clock, steps[a]);
      break;
    case 4:
      wait_real(f, (a & 3) + 1);
      break;
    case 5:
      op_read(f, a);
      break;
    case 6:
      op_peer(f, a);
      break;
    case 7:
      endpoint_new_peer(f);
      break;
    case 8:
      if (next_byte(f, &x))
        op_call(f, a, x);
      break;
    case 9:
      if (next_byte(f, &x)) {
        fz_call *c = &f->calls[x % FZ_CALLS];
        if (c->state == 1)
          irpc_call_cancel(c->call, a & 1 ? IRPC_EDEADLINE : IRPC_ECANCELED);
      }
      break;
    case 10:
      if (next_byte(f, &x)) {
        fz_held *h = &f->held[x % FZ_HELD];
        if (h->state == 1 && h->call < 0)
          held_complete(f, h, (int)(a % 3));
      }
      break;
    default:
      op_shutdown(f, a);
      break;
    }
  }
}

/* ---- The end: everything closes, in a bounded number of turns ---- */

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "open handle: %s%s\n", uv_handle_type_name(h->type),
          uv_is_active(h) ? " (active)" : "");
}

/* Runs the loop and the manual clock (whose timers, the shaped link's,
 * keep no handle active) until the loop has nothing active, at least
 * FZ_SETTLE turns. */
static void drain(fz *f, int tick) {
  for (int r = 0; r < FZ_ROUNDS; r++) {
    if (r >= FZ_SETTLE && !uv_loop_alive(&f->loop))
      break;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (tick && r % 8 == 7)
      irpc_clock_advance(f->clock, 100 * MS);
  }
}

static void teardown(fz *f) {
  int reset = (f->cfg[0] & 8) != 0;
  f->ending = 1;
  for (int i = 0; i < f->npeers; i++)
    peer_close(&f->peers[i], reset);
  /* Every call ends once its peer is gone; the retry backoffs and the link
   * run on the manual clock, advanced here. */
  for (int r = 0; r < FZ_ROUNDS && calls_running(f); r++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (r % 8 == 7)
      irpc_clock_advance(f->clock, 100 * MS);
  }
  check(!calls_running(f), "a call never completed after its peer was gone");
  drain(f, 1);
  check(f->opened == f->closed,
        "a connection did not close after its peer was gone");
  for (int i = 0; i < f->nheld; i++)
    check(f->held[i].state != 1 || f->held[i].canceled,
          "a held dispatch was not canceled when its connection ended");
  int free_first = (f->cfg[0] & 0x20) != 0;
  if (free_first)
    endpoint_free(f);
  for (int i = 0; i < f->nheld; i++)
    if (f->held[i].state == 1)
      held_complete(f, &f->held[i], i % 3);
  if (!free_first)
    endpoint_free(f);
  spin(f, 8);
  check(!calls_running(f), "a call started while the endpoint closed");
  if (f->trace)
    fprintf(stderr, "peers %d, bytes to peers %llu, dispatches %llu/%llu\n",
            f->npeers, (unsigned long long)f->peer_bytes,
            (unsigned long long)f->completed, (unsigned long long)f->entered);
  check(f->entered == f->completed, "a dispatch never completed");
  uv_close((uv_handle_t *)&f->waiter, NULL);
  irpc_router_free(f->router);
  irpc_dispatcher_free(f->counter);
  irpc_dispatcher_free(f->echo);
  irpc_dispatcher_free(f->fail);
  irpc_dispatcher_free(f->stream);
  irpc_dispatcher_free(f->hold);
  irpc_dispatcher_free(f->callback);
  if (f->listener)
    irpc_listener_close(f->listener, NULL, NULL);
  drain(f, 1);
  irpc_transport_free(f->shaped);
  irpc_transport_free(f->memory);
  drain(f, 0);
  irpc_clock_unref(f->clock);
  if (uv_loop_close(&f->loop) != 0) {
    uv_walk(&f->loop, print_handle, NULL);
    if (getenv("IRPC_FUZZ_LEAKS"))
      __lsan_do_recoverable_leak_check();
    check(0, "the loop still has handles after everything closed");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  fz *f = calloc(1, sizeof(fz));
  check(f != NULL, "out of memory");
  memcpy(f->cfg, data, 4);
  f->trace = getenv("IRPC_FUZZ_TRACE") != NULL;
  f->in = data + 4;
  f->len = size - 4;
  check(uv_loop_init(&f->loop) == 0, "loop");
  check(uv_timer_init(&f->loop, &f->waiter) == 0, "timer");
  f->waiter.data = f;
  check(irpc_clock_manual_new(&f->clock, &f->loop, FZ_START_NS) == 0, "clock");
  setup_transport(f);
  setup_dispatch(f);
  setup_endpoint(f);
  spin(f, 2);
  run_script(f);
  teardown(f);
  free(f);
  return 0;
}
