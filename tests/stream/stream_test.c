/* Payload continuations (irpc/stream.h) over icerpc, on the memory
 * transport, TCP and Unix domain sockets: large continuations both ways
 * with the peak of what irpc holds bounded, a slow reader, each side
 * stopping or aborting mid-stream, a peer that dies, a deadline, many
 * streams at once next to small calls, and the protocols that refuse
 * continuations.
 *
 * Sizes: the large transfers move STREAM_BIG bytes (64 MiB by default; set
 * IRPC_STREAM_TEST_MIB to change it, 1024 for 1 GiB) each way; the memory
 * bound asserted does not depend on that size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/net.h"
#include "stream_kit.h"

static uint64_t big_size(void) {
  const char *e = getenv("IRPC_STREAM_TEST_MIB");
  uint64_t mib = e ? strtoull(e, NULL, 10) : 64;
  return (mib ? mib : 64) << 20;
}

/* What irpc may hold at once while streaming, whatever the size streamed:
 * both sides' writer queues, Slic buffers and windows, the transport
 * queues and the loop's read buffer. */
#define PEAK_BOUND ((long long)6 << 20)

/* ---- The server ---- */

/* "/up": a streamed request, read by srv.up; answered at once when
 * reply_early, else once the upload ended (with its byte count), or with
 * the reader's error.
 * "/down": answers Ok with a continuation of the 8-byte size its payload
 * carries, written by SRV_DOWN.
 * "/echo": a small echo. */
typedef struct server_state {
  uv_loop_t *loop;
  consumer up;
  producer downs[16]; /* one per download */
  int ndowns;
  irpc_dispatch *held;
  int reply_early;
  int dispatches;
  int canceled;
  int cancel_err;
  size_t down_chunk;
  uint64_t down_abort_at;
  uint64_t down_hold_at;
  size_t seg_len;  /* the payload of the last "/seg" request */
  size_t echo_len; /* of the last "/echo" one */
} server_state;

static server_state srv;
/* The producer of the last download. */
#define SRV_DOWN (srv.downs[srv.ndowns ? srv.ndowns - 1 : 0])

static int stream_request(void *ud, const char *path, const char *operation) {
  (void)ud;
  (void)operation;
  if (strcmp(path, "/seg") == 0)
    return IRPC_STREAM_REQUEST_SEGMENT;
  return strcmp(path, "/up") == 0 ? IRPC_STREAM_REQUEST_STREAM
                                  : IRPC_STREAM_REQUEST_WHOLE;
}

static void reply_count(irpc_dispatch *d, uint64_t n) {
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_response_payload(resp), &n, sizeof n));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static void up_end(irpc_stream_reader *r, int err, void *ud) {
  consumer_on_end(r, err, ud);
  if (srv.held) {
    irpc_dispatch *d = srv.held;
    srv.held = NULL;
    if (err)
      assert_irpc_ok(
          irpc_dispatch_reply(d, IRPC_STATUS_TRUNCATED_PAYLOAD, NULL));
    else
      reply_count(d, srv.up.got);
  }
}

static const irpc_stream_reader_ops up_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = consumer_on_data,
    .on_end = up_end,
};

static void up_canceled(irpc_dispatch *d, int err, void *ud) {
  (void)ud;
  srv.canceled++;
  srv.cancel_err = err;
  if (srv.held == d) {
    srv.held = NULL;
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
  }
}

static void srv_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *path = irpc_incoming_request_path(req);
  srv.dispatches++;
  if (strcmp(path, "/up") == 0) {
    irpc_stream_reader *r = irpc_incoming_request_take_continuation(req);
    assert_non_null(r);
    assert_int_equal(irpc_buf_len(irpc_incoming_request_payload(req)), 0);
    srv.up.r = r;
    assert_irpc_ok(irpc_stream_reader_start(r, &up_ops, &srv.up));
    if (srv.reply_early) {
      reply_count(d, 0);
    } else {
      srv.held = d;
      irpc_dispatch_on_cancel(d, up_canceled, NULL);
    }
    return;
  }
  /* not streamed: no reader */
  assert_null(irpc_incoming_request_take_continuation(req));
  if (strcmp(path, "/down") == 0) {
    uint64_t total = 0;
    assert_irpc_ok(irpc_buf_copyout(irpc_incoming_request_payload(req), 0,
                                    &total, sizeof total));
    assert_true(srv.ndowns < 16);
    producer *pd = &srv.downs[srv.ndowns++];
    producer_init(pd, srv.loop, total);
    if (srv.down_chunk)
      pd->chunk = srv.down_chunk;
    pd->abort_at = srv.down_abort_at;
    pd->hold_at = srv.down_hold_at;
    irpc_outgoing_response *resp;
    assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_response_payload(resp), "head", 4));
    assert_irpc_ok(irpc_outgoing_response_set_continuation(resp, pd->w));
    assert_irpc_ok(irpc_dispatch_complete(d, resp));
    produce(pd);
    return;
  }
  size_t len = irpc_buf_len(irpc_incoming_request_payload(req));
  if (strcmp(path, "/seg") == 0)
    srv.seg_len = len;
  else
    srv.echo_len = len;
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(resp),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops srv_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "streams",
    .dispatch = srv_dispatch,
};

/* ---- Rig ---- */

typedef struct stream_rig {
  net_rig net;
  irpc_invoker *client;
} stream_rig;

static void small_call(stream_rig *r, const char *text);

static void rig_up(stream_rig *r, int kind) {
  memset(&srv, 0, sizeof(srv));
  net_rig_init(&r->net, kind);

  srv.loop = &r->net.loop;
  r->net.sicerpc.stream_request = stream_request;
  net_map(&r->net, "/up", &srv_ops, NULL);
  net_map(&r->net, "/down", &srv_ops, NULL);
  net_map(&r->net, "/echo", &srv_ops, NULL);
  net_map(&r->net, "/seg", &srv_ops, NULL);
  net_rig_start(&r->net);
  r->client = net_client(&r->net);
  small_call(r, "hi"); /* connected */
}

static void rig_down(stream_rig *r, int graceful) {
  consumer_fini(&srv.up);
  for (int i = 0; i < srv.ndowns; i++)
    irpc_stream_writer_free(srv.downs[i].w);
  if (graceful)
    net_client_close(&r->net, r->client);
  else
    irpc_invoker_free(r->client);
  net_rig_fini(&r->net);
}

/* The call of a test, with its response's reader when asked for. */
typedef struct client_call {
  net_result res;
  irpc_outgoing_request *req;
  consumer down;
  int stream_response;
  uint64_t count; /* the upload's answer */
} client_call;

static void on_call(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  client_call *cc = ud;
  cc->res.done++;
  cc->res.err = err;
  if (!resp)
    return;
  cc->res.status = irpc_incoming_response_status(resp);
  if (cc->stream_response) {
    cc->down.prefix = "head";
    consumer_start(&cc->down, irpc_incoming_response_take_continuation(resp));
  } else {
    irpc_buf *p = irpc_incoming_response_payload(resp);
    if (irpc_buf_len(p) == sizeof cc->count)
      irpc_buf_copyout(p, 0, &cc->count, sizeof cc->count);
  }
  irpc_incoming_response_free(resp);
}

static void start_upload_as(stream_rig *r, client_call *cc, producer *p,
                            uint64_t total, int oneway) {
  memset(cc, 0, sizeof(*cc));
  producer_init(p, &r->net.loop, total);
  assert_irpc_ok(irpc_outgoing_request_new(&cc->req, "/up", "op"));
  irpc_outgoing_request_set_oneway(cc->req, oneway);
  assert_irpc_ok(irpc_outgoing_request_set_continuation(cc->req, p->w));
  produce(p); /* before the invocation: waits in the writer */
  assert_irpc_ok(irpc_invoke(r->client, cc->req, on_call, cc, NULL));
}

static void start_upload(stream_rig *r, client_call *cc, producer *p,
                         uint64_t total) {
  start_upload_as(r, cc, p, total, 0);
}

static void start_download(stream_rig *r, irpc_invoker *inv, client_call *cc,
                           uint64_t total) {
  memset(cc, 0, sizeof(*cc));
  cc->stream_response = 1;
  assert_irpc_ok(irpc_outgoing_request_new(&cc->req, "/down", "op"));
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(cc->req), &total,
                                 sizeof total));
  assert_irpc_ok(irpc_outgoing_request_set_stream_response(cc->req, 1));
  assert_irpc_ok(
      irpc_invoke(inv ? inv : r->client, cc->req, on_call, cc, NULL));
}

static void run_until(stream_rig *r, const int *flag) {
  kit_run_until(&r->net.loop, flag);
}

/* Runs until *flag is set, failing only when *progress stays the same for
 * 30 s (a large transfer under the sanitizers may take longer than the
 * kit's fixed watchdog, but never stalls). */
typedef struct progress_watch {
  const uint64_t *progress;
  uint64_t last;
  int stalled;
} progress_watch;

static void on_progress_check(uv_timer_t *t) {
  progress_watch *w = t->data;
  if (*w->progress == w->last)
    w->stalled = 1;
  w->last = *w->progress;
}

static void run_until_progress(stream_rig *r, const int *flag,
                               const uint64_t *progress) {
  progress_watch w = {.progress = progress, .last = *progress};
  uv_timer_t t;
  uv_timer_init(&r->net.loop, &t);
  t.data = &w;
  uv_timer_start(&t, on_progress_check, 30000, 30000);
  while (!*flag && !w.stalled)
    uv_run(&r->net.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&r->net.loop, UV_RUN_NOWAIT);
  if (w.stalled)
    fail_msg("the stream made no progress for 30 s");
}

static int kinds[] = {NET_MEMORY, NET_TCP, NET_UDS};

static const char *kind_name(int kind) {
  return kind == NET_TCP ? "tcp" : kind == NET_UDS ? "uds" : "memory";
}

/* A small echo call, synchronous. */
static void small_call(stream_rig *r, const char *text) {
  irpc_outgoing_request *req = kit_request("/echo", text, strlen(text));
  net_result o = {0};
  net_call_sync(&r->net.loop, r->client, req, &o);
  assert_irpc_ok(o.err);
  irpc_outgoing_request_free(req);
}

/* ---- Tests ---- */

/* An upload of `total` bytes to a server that answers at once: the call
 * completes (once) while a large continuation is still sent; then the
 * server's reader and the writer end with 0 and every byte arrived. */
static void upload_outlives_call(stream_rig *r, uint64_t total, int oneway) {
  client_call cc;
  producer p;
  start_upload_as(r, &cc, &p, total, oneway);
  run_until(r, &cc.res.done);
  assert_irpc_ok(cc.res.err);
  assert_int_equal(cc.res.status, IRPC_STATUS_OK);
  if (total > (1 << 20)) {
    assert_false(p.ended); /* still sending */
    assert_true(p.sent < p.total);
  }
  run_until(r, &srv.up.ended);
  assert_irpc_ok(srv.up.end_err);
  assert_int_equal(srv.up.got, total);
  assert_false(srv.up.bad);
  run_until(r, &p.ended);
  assert_irpc_ok(p.end_err);
  small_call(r, "x");
  assert_int_equal(cc.res.done, 1);
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(cc.req);
}

/* A large upload and a large download on one connection, one after the
 * other: every byte arrives in order, and the peak of what irpc holds
 * stays under PEAK_BOUND whatever the size. */
static void test_large_both_ways(void **state) {
  (void)state;
  uint64_t total = big_size();
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    long long base = test_alloc.bytes_live;
    test_alloc.bytes_peak = base;

    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, total);
    run_until_progress(&r, &cc.res.done, &srv.up.got);
    run_until(&r, &p.ended);
    assert_irpc_ok(cc.res.err);
    assert_int_equal(cc.res.status, IRPC_STATUS_OK);
    assert_irpc_ok(p.end_err);
    assert_true(srv.up.ended);
    assert_irpc_ok(srv.up.end_err);
    assert_int_equal(srv.up.got, total);
    assert_int_equal(cc.count, total);
    assert_false(srv.up.bad);
    assert_true(p.eagain > 0); /* back-pressure reached the producer */
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    long long up_peak = test_alloc.bytes_peak - base;

    test_alloc.bytes_peak = test_alloc.bytes_live;
    base = test_alloc.bytes_live;
    client_call dc;
    start_download(&r, NULL, &dc, total);
    run_until(&r, &dc.res.done);
    assert_irpc_ok(dc.res.err);
    run_until_progress(&r, &dc.down.ended, &dc.down.got);
    assert_irpc_ok(dc.down.end_err);
    assert_int_equal(dc.down.got, total + 4); /* "head" then the stream */
    assert_false(dc.down.bad);
    run_until(&r, &SRV_DOWN.ended);
    assert_irpc_ok(SRV_DOWN.end_err);
    assert_true(SRV_DOWN.eagain > 0);
    long long down_peak = test_alloc.bytes_peak - base;
    consumer_fini(&dc.down);
    irpc_outgoing_request_free(dc.req);
    print_message("%s: %llu MiB each way, irpc peak %lld KiB up, "
                  "%lld KiB down\n",
                  kind_name(kinds[k]), (unsigned long long)(total >> 20),
                  up_peak >> 10, down_peak >> 10);
    assert_true(up_peak < PEAK_BOUND);
    assert_true(down_peak < PEAK_BOUND);
    rig_down(&r, 1);
  }
}

/* The response completes while the request's continuation is still being
 * sent; the dispatch keeps reading it after it replied. */
static void test_response_before_continuation_ends(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    srv.reply_early = 1;
    upload_outlives_call(&r, 8 << 20, 0);
    rig_down(&r, 1);
  }
}

/* A reader slower than the writer: while it is paused, what it holds stays
 * within one flow-control window plus one chunk, and the writer is told to
 * wait. */
static void test_slow_reader(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    client_call dc;
    start_download(&r, NULL, &dc, 4 << 20);
    dc.down.slow = 1;
    run_until(&r, &dc.res.done);
    assert_irpc_ok(dc.res.err);
    size_t max_held = 0;
    int rounds = 0;
    while (!dc.down.ended) {
      if (dc.down.paused) {
        /* let the writer run into the window while the reader sleeps */
        for (int i = 0; i < 50; i++)
          uv_run(&r.net.loop, UV_RUN_NOWAIT);
        size_t held = irpc_stream_reader_buffered(dc.down.r);
        if (held > max_held)
          max_held = held;
        dc.down.paused = 0;
        rounds++;
        irpc_stream_reader_resume(dc.down.r);
      }
      uv_run(&r.net.loop, UV_RUN_ONCE);
    }
    assert_irpc_ok(dc.down.end_err);
    assert_int_equal(dc.down.got, (4 << 20) + 4);
    assert_true(rounds > 4);
    /* window (1 MiB) plus the reader's chunk (256 KiB) */
    assert_true(max_held <= (1 << 20) + (256 << 10));
    run_until(&r, &SRV_DOWN.ended);
    assert_irpc_ok(SRV_DOWN.end_err);
    assert_true(SRV_DOWN.eagain > 0);
    consumer_fini(&dc.down);
    irpc_outgoing_request_free(dc.req);
    rig_down(&r, 1);
  }
}

/* The client stops reading a download: the server's writer ends with
 * IRPC_ESTOPPED. The server stops reading an upload: the client's writer
 * ends with IRPC_ESTOPPED. The connection stays usable. */
static void test_reader_stops(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    client_call dc;
    start_download(&r, NULL, &dc, 64 << 20);
    dc.down.stop_at = 1 << 20;
    run_until(&r, &dc.down.stopped);
    run_until(&r, &SRV_DOWN.ended);
    assert_int_equal(SRV_DOWN.end_err, IRPC_ESTOPPED);
    assert_false(dc.down.ended); /* freed: no callback */
    irpc_outgoing_request_free(dc.req);

    srv.up.stop_at = 1 << 20;
    srv.reply_early = 1;
    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 64 << 20);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_ESTOPPED);
    assert_true(srv.up.stopped);
    run_until(&r, &cc.res.done);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);

    small_call(&r, "x");
    srv.up.r = NULL;
    rig_down(&r, 1);
  }
}

/* A writer that aborts mid-stream: the reader on the other side ends with
 * IRPC_ETRUNCATED, both ways. */
static void test_writer_aborts(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    srv.down_abort_at = 1 << 20;
    client_call dc;
    start_download(&r, NULL, &dc, 64 << 20);
    run_until(&r, &dc.down.ended);
    assert_int_equal(dc.down.end_err, IRPC_ETRUNCATED);
    run_until(&r, &SRV_DOWN.ended);
    assert_int_equal(SRV_DOWN.end_err, IRPC_ECANCELED);
    consumer_fini(&dc.down);
    irpc_outgoing_request_free(dc.req);

    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 64 << 20);
    p.abort_at = 1 << 20;
    produce(&p);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    /* the dispatch answered TruncatedPayload */
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_int_equal(cc.res.status, IRPC_STATUS_TRUNCATED_PAYLOAD);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_ECANCELED);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    rig_down(&r, 1);
  }
}

/* The client's connection dies mid-stream: the server's writer and reader
 * and the client's end with an error, and the dispatch is canceled. */
static void test_peer_dies(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    client_call dc;
    start_download(&r, NULL, &dc, 64 << 20);
    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 64 << 20);
    while (dc.down.got < (1 << 20) || srv.up.got < (1 << 20))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    irpc_connection_abort(irpc_client_connection_connection(r.client),
                          UV_ECONNABORTED);
    run_until(&r, &dc.down.ended);
    assert_int_equal(dc.down.end_err, UV_ECONNABORTED);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, UV_ECONNABORTED);
    run_until(&r, &cc.res.done);
    assert_int_equal(cc.res.err, UV_ECONNABORTED);
    run_until(&r, &SRV_DOWN.ended);
    assert_int_equal(SRV_DOWN.end_err, UV_ECONNRESET);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, UV_ECONNRESET);
    run_until(&r, &srv.canceled);
    assert_int_equal(srv.cancel_err, UV_ECONNRESET);
    consumer_fini(&dc.down);
    irpc_outgoing_request_free(dc.req);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    rig_down(&r, 0);
  }
}

/* A deadline expires while the request's continuation is sent: the call
 * fails with IRPC_EDEADLINE, so does the writer, and the server's reader
 * sees the stream aborted (its dispatch is canceled). */
static void test_deadline_mid_stream(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    irpc_clock *clock;
    assert_irpc_ok(
        irpc_clock_manual_new(&clock, &r.net.loop, INT64_C(1) << 60));
    irpc_deadline_options dopts;
    irpc_deadline_options_init(&dopts);
    dopts.default_timeout_ms = 1000;
    dopts.clock = clock;
    irpc_invoker *deadline;
    assert_irpc_ok(
        irpc_deadline_interceptor_new(&deadline, &r.net.loop, &dopts));
    irpc_pipeline *pl;
    assert_irpc_ok(irpc_pipeline_new(&pl, &r.net.loop));
    assert_irpc_ok(irpc_pipeline_use(pl, deadline));
    assert_irpc_ok(irpc_pipeline_into(pl, r.client));

    client_call cc;
    producer p;
    memset(&cc, 0, sizeof cc);
    producer_init(&p, &r.net.loop, 64 << 20);
    p.hold = 1;
    assert_irpc_ok(irpc_outgoing_request_new(&cc.req, "/up", "op"));
    assert_irpc_ok(irpc_outgoing_request_set_continuation(cc.req, p.w));
    assert_irpc_ok(
        irpc_invoke(irpc_pipeline_invoker(pl), cc.req, on_call, &cc, NULL));
    p.hold = 0;
    produce(&p);
    while (srv.up.got < (1 << 20))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    p.hold = 1; /* mid-stream */
    assert_irpc_ok(irpc_clock_advance(clock, (uint64_t)2000 * 1000000));
    run_until(&r, &cc.res.done);
    assert_int_equal(cc.res.err, IRPC_EDEADLINE);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_EDEADLINE);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    irpc_pipeline_free(pl);
    irpc_clock_unref(clock);
    rig_down(&r, 1);
  }
}

/* Many streams at once on one connection: small calls made meanwhile
 * complete while every stream is still under way. */
static void test_small_calls_beside_streams(void **state) {
  (void)state;
  enum { STREAMS = 8, SMALL = 20 };
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    static client_call dc[STREAMS];
    for (int i = 0; i < STREAMS; i++)
      start_download(&r, NULL, &dc[i], 16 << 20);
    int small_done = 0;
    for (int i = 0; i < SMALL; i++) {
      small_call(&r, "ping");
      small_done++;
    }
    int finished = 0;
    for (int i = 0; i < STREAMS; i++)
      finished += dc[i].down.ended;
    print_message("%s: %d small calls done, %d of %d streams ended\n",
                  kind_name(kinds[k]), small_done, finished, STREAMS);
    assert_int_equal(finished, 0);
    for (int i = 0; i < STREAMS; i++) {
      run_until(&r, &dc[i].down.ended);
      assert_irpc_ok(dc[i].down.end_err);
      assert_int_equal(dc[i].down.got, (16 << 20) + 4);
      assert_false(dc[i].down.bad);
      consumer_fini(&dc[i].down);
      irpc_outgoing_request_free(dc[i].req);
    }
    rig_down(&r, 1);
  }
}

/* Sees whether requests arrive compressed (before the compress
 * middleware) and responses come back compressed (before the compress
 * interceptor). */
static int spied_compressed_requests, spied_compressed_responses;

static void spy_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  if (irpc_fields_has(irpc_incoming_request_fields(req),
                      IRPC_REQUEST_FIELD_COMPRESSION_FORMAT))
    spied_compressed_requests++;
  irpc_dispatch_next(d);
}

static const irpc_dispatcher_ops spy_mw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "spy",
    .dispatch = spy_dispatch,
};

static void spy_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_call_next(call);
}

static int spy_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  if (!err && irpc_fields_has(irpc_incoming_response_fields(resp),
                              IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT))
    spied_compressed_responses++;
  return 0;
}

static const irpc_invoker_ops spy_ic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "spy",
    .invoke = spy_invoke,
    .on_complete = spy_complete,
};

/* The compress interceptor and middleware compress a continuation with its
 * payload as one stream, chunk by chunk, both ways; the readers get the
 * bytes as written. */
static void test_compression(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    spied_compressed_requests = spied_compressed_responses = 0;
    uv_loop_t *loop;
    stream_rig r;
    /* the router's middleware must exist before the rig maps routes: the
     * loop is the rig's own, so create them right after its init */
    memset(&r, 0, sizeof r);
    net_rig_init(&r.net, kinds[k]);
    loop = &r.net.loop;
    irpc_compress_options co;
    irpc_compress_options_init(&co);
    co.always = 1;
    irpc_dispatcher *spy_mw, *cmw;
    assert_irpc_ok(irpc_dispatcher_new(&spy_mw, loop, &spy_mw_ops, NULL));
    assert_irpc_ok(irpc_compress_middleware_new(&cmw, loop, &co));
    assert_irpc_ok(irpc_router_use(r.net.router, spy_mw));
    assert_irpc_ok(irpc_router_use(r.net.router, cmw));
    memset(&srv, 0, sizeof(srv));
    srv.loop = loop;
    r.net.sicerpc.stream_request = stream_request;
    net_map(&r.net, "/up", &srv_ops, NULL);
    net_map(&r.net, "/down", &srv_ops, NULL);
    net_map(&r.net, "/echo", &srv_ops, NULL);
    net_rig_start(&r.net);
    irpc_invoker *conn = net_client(&r.net);
    irpc_invoker *cic, *spy;
    assert_irpc_ok(irpc_compress_interceptor_new(&cic, loop, &co));
    assert_irpc_ok(irpc_invoker_new(&spy, loop, &spy_ic_ops, NULL));
    irpc_pipeline *pl;
    assert_irpc_ok(irpc_pipeline_new(&pl, loop));
    assert_irpc_ok(irpc_pipeline_use(pl, cic));
    assert_irpc_ok(irpc_pipeline_use(pl, spy));
    assert_irpc_ok(irpc_pipeline_into(pl, conn));
    r.client = irpc_pipeline_invoker(pl);

    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 8 << 20);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    run_until(&r, &srv.up.ended);
    assert_irpc_ok(srv.up.end_err);
    assert_int_equal(srv.up.got, 8 << 20);
    assert_false(srv.up.bad);
    assert_int_equal(cc.count, 8 << 20);
    assert_int_equal(spied_compressed_requests, 1);
    run_until(&r, &p.ended);
    assert_irpc_ok(p.end_err);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);

    client_call dc;
    start_download(&r, NULL, &dc, 8 << 20);
    run_until(&r, &dc.down.ended);
    assert_irpc_ok(dc.down.end_err);
    assert_int_equal(dc.down.got, (8 << 20) + 4);
    assert_false(dc.down.bad);
    assert_true(spied_compressed_responses >= 1);
    consumer_fini(&dc.down);
    irpc_outgoing_request_free(dc.req);

    r.client = conn;
    irpc_pipeline_free(pl);
    rig_down(&r, 1);
  }
}

/* The first attempt through it is refused before it reaches a connection;
 * later ones pass. */
static int flaky_attempts;

static void flaky_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  if (flaky_attempts++ == 0)
    irpc_call_complete(call, IRPC_EREFUSED, NULL);
  else
    irpc_call_next(call);
}

static const irpc_invoker_ops flaky_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "flaky",
    .invoke = flaky_invoke,
};

/* The retry interceptor sends a request with a continuation again only
 * while none of the continuation reached a connection. */
static void test_retry_guard(void **state) {
  (void)state;
  stream_rig r;
  rig_up(&r, NET_MEMORY);
  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.initial_backoff_ms = 0;
  ro.max_attempts = 3;
  irpc_invoker *retry, *flaky;
  assert_irpc_ok(irpc_retry_interceptor_new(&retry, &r.net.loop, &ro));
  assert_irpc_ok(irpc_invoker_new(&flaky, &r.net.loop, &flaky_ops, NULL));
  irpc_pipeline *pl;
  assert_irpc_ok(irpc_pipeline_new(&pl, &r.net.loop));
  assert_irpc_ok(irpc_pipeline_use(pl, retry));
  assert_irpc_ok(irpc_pipeline_use(pl, flaky));
  assert_irpc_ok(irpc_pipeline_into(pl, r.client));

  /* refused before it was sent: retried, and the whole upload arrives */
  flaky_attempts = 0;
  client_call cc;
  producer p;
  memset(&cc, 0, sizeof cc);
  producer_init(&p, &r.net.loop, 1 << 20);
  assert_irpc_ok(irpc_outgoing_request_new(&cc.req, "/up", "op"));
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(cc.req, 1));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(cc.req, p.w));
  produce(&p);
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(pl), cc.req, on_call, &cc, NULL));
  run_until(&r, &cc.res.done);
  assert_irpc_ok(cc.res.err);
  assert_int_equal(cc.count, 1 << 20);
  run_until(&r, &p.ended);
  assert_irpc_ok(p.end_err);
  irpc_retry_stats st;
  assert_irpc_ok(irpc_retry_stats_get(retry, &st));
  assert_int_equal(st.attempts, 2);
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(cc.req);

  /* the connection dies under an idempotent request whose continuation
   * went out: not sent again */
  consumer_fini(&srv.up);
  memset(&srv.up, 0, sizeof srv.up);
  memset(&cc, 0, sizeof cc);
  producer_init(&p, &r.net.loop, 64 << 20);
  assert_irpc_ok(irpc_outgoing_request_new(&cc.req, "/up", "op"));
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(cc.req, 1));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(cc.req, p.w));
  produce(&p);
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(pl), cc.req, on_call, &cc, NULL));
  while (srv.up.got < (1 << 20))
    uv_run(&r.net.loop, UV_RUN_ONCE);
  assert_false(irpc_stream_writer_replayable(p.w));
  irpc_connection_abort(irpc_client_connection_connection(r.client),
                        UV_ECONNABORTED);
  run_until(&r, &cc.res.done);
  assert_int_equal(cc.res.err, UV_ECONNABORTED);
  run_until(&r, &p.ended);
  assert_int_equal(p.end_err, UV_ECONNABORTED);
  assert_irpc_ok(irpc_retry_stats_get(retry, &st));
  assert_int_equal(st.attempts, 3); /* 2 before, 1 now */
  assert_int_equal(srv.dispatches, 3);
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(cc.req);
  irpc_pipeline_free(pl);
  rig_down(&r, 0);
}

/* Sends "/seg" or "/echo" with `payload` and a continuation of `total`
 * bytes; `open` keeps the continuation open (not ended) until the call
 * completed. */
static void start_plain_with_cont(stream_rig *r, client_call *cc, producer *p,
                                  const char *path, const void *payload,
                                  size_t len, uint64_t total, int open) {
  memset(cc, 0, sizeof *cc);
  producer_init(p, &r->net.loop, total);
  assert_irpc_ok(irpc_outgoing_request_new(&cc->req, path, "op"));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(cc->req), payload, len));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(cc->req, p->w));
  if (open)
    p->end_called = 1; /* never ends on its own */
  produce(p);
  assert_irpc_ok(irpc_invoke(r->client, cc->req, on_call, cc, NULL));
}

/* A request with a continuation to an operation that does not take one.
 * Read by segment (what generated servers answer for a Slice2 operation
 * without a stream): the dispatch gets the segment alone, the server stops
 * reading, the client's writer ends with IRPC_ESTOPPED, the call completes
 * once with the response, whether the continuation was still open or had
 * ended. Read whole (no stream_request answer): payload and continuation
 * are one payload, dispatched at its end. The connection stays usable. */
static void test_not_opted_in(void **state) {
  (void)state;
  /* a segment: size 4 on 4 bytes, then "args" */
  static const uint8_t seg[] = {0x12, 0, 0, 0, 'a', 'r', 'g', 's'};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    for (int open = 1; open >= 0; open--) {
      client_call cc;
      producer p;
      start_plain_with_cont(&r, &cc, &p, "/seg", seg, sizeof seg, 4 << 20,
                            open);
      run_until(&r, &cc.res.done);
      assert_irpc_ok(cc.res.err);
      assert_int_equal(cc.res.status, IRPC_STATUS_OK);
      assert_int_equal(srv.seg_len, sizeof seg); /* the segment alone */
      run_until(&r, &p.ended);
      assert_int_equal(p.end_err, IRPC_ESTOPPED);
      assert_true(p.sent < p.total); /* stopped mid-stream */
      small_call(&r, "x");
      assert_int_equal(cc.res.done, 1);
      irpc_stream_writer_free(p.w);
      irpc_outgoing_request_free(cc.req);
    }

    /* a short continuation that ended before the segment was read */
    client_call cc;
    producer p;
    start_plain_with_cont(&r, &cc, &p, "/seg", seg, sizeof seg, 100, 0);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_int_equal(srv.seg_len, sizeof seg);
    run_until(&r, &p.ended);
    assert_true(p.end_err == 0 || p.end_err == IRPC_ESTOPPED);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);

    /* read whole: the continuation is part of the payload */
    start_plain_with_cont(&r, &cc, &p, "/echo", "args", 4, 1 << 20, 0);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_int_equal(cc.res.status, IRPC_STATUS_OK);
    assert_int_equal(srv.echo_len, 4 + (1 << 20));
    run_until(&r, &p.ended);
    assert_irpc_ok(p.end_err);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    small_call(&r, "x");
    rig_down(&r, 1);
  }
}

/* The server's reader of the last upload goes; the next one starts
 * afresh. */
static void reset_up(void) {
  consumer_fini(&srv.up);
  memset(&srv.up, 0, sizeof srv.up);
}

/* A one-way request with a continuation completes once its header and
 * payload were sent, while the continuation still flows; its writer ends
 * on its own: 0 once its end went out, IRPC_ESTOPPED when the server stops
 * reading, the connection's error when the connection dies. Each callback
 * runs once. */
static void test_oneway_continuation(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    srv.reply_early = 1; /* the dispatch ends, its reader goes on */
    upload_outlives_call(&r, 8 << 20, 1);
    /* a short continuation, ended before the payload went out */
    reset_up();
    upload_outlives_call(&r, 100, 1);

    /* the server stops reading */
    client_call cc;
    producer p;
    reset_up();
    srv.up.stop_at = 1 << 20;
    start_upload_as(&r, &cc, &p, 64 << 20, 1);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_ESTOPPED);
    assert_true(srv.up.stopped);
    assert_false(srv.up.ended); /* freed: no callback */
    small_call(&r, "x");
    assert_int_equal(cc.res.done, 1);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);

    /* the connection dies mid-continuation */
    reset_up();
    start_upload_as(&r, &cc, &p, 64 << 20, 1);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    while (srv.up.got < (1 << 20))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    irpc_connection_abort(irpc_client_connection_connection(r.client),
                          UV_ECONNABORTED);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, UV_ECONNABORTED);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, UV_ECONNRESET);
    assert_int_equal(cc.res.done, 1);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    rig_down(&r, 0);
  }
}

/* Deadlines of continuations whose call completed. The writer's, while
 * the server's reader stalls (paused): the writer ends with
 * IRPC_EDEADLINE, the server's reader with IRPC_ETRUNCATED. The reader's,
 * while the server's writer stalls: the reader ends with IRPC_EDEADLINE,
 * the server's writer with IRPC_ESTOPPED. Deadlines that do not pass
 * because the stream ended first change nothing. Every end comes once
 * and the connection stays usable. */
static void test_continuation_deadline(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    stream_rig r;
    rig_up(&r, kinds[k]);
    srv.reply_early = 1;
    assert_int_equal(irpc_stream_writer_set_deadline(NULL, 1), IRPC_EINVAL);
    assert_int_equal(irpc_stream_reader_set_deadline(NULL, 1), IRPC_EINVAL);

    /* the writer's */
    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 64 << 20);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_int_equal(cc.res.status, IRPC_STATUS_OK);
    srv.up.slow = 1;
    run_until(&r, &srv.up.paused);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, 100));
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_EDEADLINE);
    assert_true(p.sent < p.total);
    assert_int_equal(irpc_stream_writer_set_deadline(p.w, 100), IRPC_ECLOSED);
    srv.up.slow = 0;
    irpc_stream_reader_resume(srv.up.r);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    reset_up();

    /* the reader's */
    srv.down_hold_at = 1 << 20;
    client_call dc;
    start_download(&r, NULL, &dc, 64 << 20);
    run_until(&r, &dc.res.done);
    assert_irpc_ok(dc.res.err);
    while (dc.down.got < (1 << 20))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    assert_irpc_ok(irpc_stream_reader_set_deadline(dc.down.r, 100));
    run_until(&r, &dc.down.ended);
    assert_int_equal(dc.down.end_err, IRPC_EDEADLINE);
    assert_true(dc.down.got <= (1 << 20) + 4);
    assert_false(dc.down.bad);
    assert_int_equal(irpc_stream_reader_set_deadline(dc.down.r, 100),
                     IRPC_ECLOSED);
    run_until(&r, &SRV_DOWN.ended);
    assert_int_equal(SRV_DOWN.end_err, IRPC_ESTOPPED);
    consumer_fini(&dc.down);
    irpc_outgoing_request_free(dc.req);
    srv.down_hold_at = 0;

    /* deadlines on both ends, the stream ending first */
    start_upload(&r, &cc, &p, 1 << 20);
    p.hold = 1;
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_non_null(srv.up.r);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, 1000));
    assert_irpc_ok(irpc_stream_reader_set_deadline(srv.up.r, 1000));
    p.hold = 0;
    produce(&p);
    run_until(&r, &p.ended);
    run_until(&r, &srv.up.ended);
    /* both ended: their deadlines were stopped with them, and an end
     * callback comes once (the producer and consumer assert it) */
    assert_irpc_ok(p.end_err);
    assert_irpc_ok(srv.up.end_err);
    assert_int_equal(srv.up.got, 1 << 20);
    assert_false(srv.up.bad);
    assert_int_equal(irpc_stream_writer_set_deadline(p.w, 1), IRPC_ECLOSED);
    assert_int_equal(irpc_stream_reader_set_deadline(srv.up.r, 1),
                     IRPC_ECLOSED);
    small_call(&r, "x");
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(cc.req);
    rig_down(&r, 1);
  }
}

#ifdef IRPC_WITH_ICE
/* The ice protocol has no continuation: a request carrying one, or asking
 * for a streamed response, fails with IRPC_ENOTSUP; a response's writer
 * ends with IRPC_ENOTSUP and the response goes without it. */
static void test_ice_refuses(void **state) {
  (void)state;
  stream_rig r;
  memset(&srv, 0, sizeof(srv));
  net_rig_init(&r.net, NET_TCP);
  snprintf(r.net.listen, sizeof r.net.listen, "ice://127.0.0.1:0");
  srv.loop = &r.net.loop;
  net_map(&r.net, "/down", &srv_ops, NULL);
  net_map(&r.net, "/echo", &srv_ops, NULL);
  net_rig_start(&r.net);
  r.client = net_client(&r.net);

  producer p;
  producer_init(&p, &r.net.loop, 10);
  irpc_outgoing_request *req = kit_request("/echo", "a", 1);
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, p.w));
  net_result o = {0};
  net_call_sync(&r.net.loop, r.client, req, &o);
  assert_int_equal(o.err, IRPC_ENOTSUP);
  assert_true(irpc_stream_writer_replayable(p.w));
  irpc_outgoing_request_free(req);
  irpc_stream_writer_free(p.w);

  req = kit_request("/echo", "a", 1);
  assert_irpc_ok(irpc_outgoing_request_set_stream_response(req, 1));
  memset(&o, 0, sizeof o);
  net_call_sync(&r.net.loop, r.client, req, &o);
  assert_int_equal(o.err, IRPC_ENOTSUP);
  irpc_outgoing_request_free(req);

  /* a dispatch answering with a continuation over ice */
  uint64_t total = 1000;
  req = kit_request("/down", &total, sizeof total);
  memset(&o, 0, sizeof o);
  net_call_sync(&r.net.loop, r.client, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  run_until(&r, &SRV_DOWN.ended);
  assert_int_equal(SRV_DOWN.end_err, IRPC_ENOTSUP);
  irpc_outgoing_request_free(req);
  rig_down(&r, 1);
}
#endif

/* Continuations need a connection: the coloc invoker refuses them. */
static void test_coloc_refuses(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *echo;
  assert_irpc_ok(irpc_dispatcher_new(&echo, &loop, &test_echo_ops, NULL));
  irpc_invoker *coloc;
  assert_irpc_ok(irpc_coloc_new(&coloc, &loop, echo));
  producer p;
  producer_init(&p, &loop, 10);
  irpc_outgoing_request *req = kit_request("/x", "a", 1);
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, p.w));
  net_result o = {0};
  net_call_sync(&loop, coloc, req, &o);
  assert_int_equal(o.err, IRPC_ENOTSUP);
  assert_true(irpc_stream_writer_replayable(p.w));
  irpc_outgoing_request_free(req); /* the writer was never sent */
  kit_run_until(&loop, &p.ended);
  assert_int_equal(p.end_err, IRPC_ECANCELED);
  irpc_stream_writer_free(p.w);
  irpc_invoker_free(coloc);
  irpc_dispatcher_free(echo);
  test_loop_finish(&loop);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_not_opted_in),
      cmocka_unit_test(test_large_both_ways),
      cmocka_unit_test(test_response_before_continuation_ends),
      cmocka_unit_test(test_slow_reader),
      cmocka_unit_test(test_reader_stops),
      cmocka_unit_test(test_writer_aborts),
      cmocka_unit_test(test_peer_dies),
      cmocka_unit_test(test_deadline_mid_stream),
      cmocka_unit_test(test_oneway_continuation),
      cmocka_unit_test(test_continuation_deadline),
      cmocka_unit_test(test_small_calls_beside_streams),
      cmocka_unit_test(test_compression),
      cmocka_unit_test(test_retry_guard),
      cmocka_unit_test(test_coloc_refuses),
#ifdef IRPC_WITH_ICE
      cmocka_unit_test(test_ice_refuses),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
