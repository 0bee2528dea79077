/* Request payloads streamed through an icerpc connection: the connection
 * pulls a large request's payload from its writer (the compress writer, or
 * a relay writer that counts its calls) as the stream drains, so the client
 * never holds a whole compressed copy beside the application's payload. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit/rig.h"
#include "chain/chain.h"
#include "kit/net.h"
#include "kit/payload.h"

#define MIB ((size_t)1 << 20)
#define BIG (64 * MIB)

static int has_format(irpc_fields *f) {
  return irpc_fields_has(f, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
}

/* ---- The compress writer's streaming operations alone ---- */

/* Pulled in 64 KiB pieces, in each format, the output decompresses to the
 * payload (left unchanged); random bytes are declined (sent as they are,
 * without the field), and a payload at the threshold is not streamed. */
static void test_writer_streams_every_format(void **state) {
  (void)state;
  static const int formats[] = {IRPC_COMPRESSION_ZSTD, IRPC_COMPRESSION_BROTLI,
                                IRPC_COMPRESSION_DEFLATE};
  uint64_t all = irpc_compress_formats_readable();
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  for (int f = 0; f < 3; f++) {
    o.formats[0] = (uint8_t)formats[f];
    o.formats[1] = 0;
    irpc_outgoing_request *req = kit_request("/svc", NULL, 0);
    irpc_buf *payload = irpc_outgoing_request_payload(req);
    uint64_t h = fill_noise(payload, 6 * MIB, (uint64_t)f + 1);
    assert_irpc_ok(irpc_compress_use_on_request(req, &o));
    irpc_buf *wire, *back;
    assert_irpc_ok(irpc_buf_new(&wire));
    assert_irpc_ok(irpc_buf_new(&back));
    irpc__payload_stream ps;
    assert_irpc_ok(irpc__request_prepare_stream(req, all, wire, &ps));
    assert_non_null(ps.ops);
    assert_int_equal(irpc_buf_len(wire), 0);
    uint8_t v = (uint8_t)formats[f];
    assert_field(irpc_outgoing_request_fields(req),
                 IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v, 1);
    int done = 0, pulls = 0;
    while (!done) {
      size_t before = irpc_buf_len(wire);
      assert_irpc_ok(irpc__payload_stream_next(&ps, wire, 64 << 10, &done));
      assert_true(done || irpc_buf_len(wire) > before);
      assert_true(++pulls < 1000);
    }
    irpc__payload_stream_end(&ps);
    irpc__payload_stream_end(&ps); /* idempotent */
    assert_true(pulls > 10);
    assert_true(irpc_buf_len(wire) < 4 * MIB);
    assert_irpc_ok(irpc_decompress(formats[f], wire, 1, 6 * MIB, back));
    assert_int_equal(irpc_buf_len(back), 6 * MIB);
    assert_true(hash_chain(back) == h);
    assert_true(hash_chain(payload) == h);
    irpc_buf_free(wire);
    irpc_buf_free(back);
    irpc_outgoing_request_free(req);
  }

  irpc_compress_options_init(&o);
  size_t n = 12 * MIB;
  uint8_t *rnd = malloc(n);
  fill_random(rnd, n, 5);
  irpc_outgoing_request *req = kit_request("/svc", rnd, n);
  assert_irpc_ok(irpc_compress_use_on_request(req, &o));
  irpc_buf *wire;
  assert_irpc_ok(irpc_buf_new(&wire));
  irpc__payload_stream ps;
  assert_irpc_ok(irpc__request_prepare_stream(req, all, wire, &ps));
  assert_null(ps.ops);
  assert_false(has_format(irpc_outgoing_request_fields(req)));
  assert_true(irpc_buf_equals(wire, rnd, n));
  irpc_outgoing_request_free(req);
  free(rnd);

  irpc_buf_clear(wire);
  req = kit_request("/svc", NULL, 0);
  fill_noise(irpc_outgoing_request_payload(req), IRPC_PAYLOAD_STREAM_THRESHOLD,
             9);
  assert_irpc_ok(irpc_compress_use_on_request(req, &o));
  assert_irpc_ok(irpc__request_prepare_stream(req, all, wire, &ps));
  assert_null(ps.ops); /* compressed at once */
  assert_true(has_format(irpc_outgoing_request_fields(req)));
  assert_true(irpc_buf_len(wire) < IRPC_PAYLOAD_STREAM_THRESHOLD * 3 / 4);
  irpc_outgoing_request_free(req);
  irpc_buf_free(wire);
}

/* ---- A streaming writer that relays the payload as it is ---- */

typedef struct relay {
  const irpc_buf *in;
  size_t off;
} relay;

static int relay_begins, relay_nexts, relay_ends;
static int relay_fail_at;   /* the next() call that fails, 0 = none */
static int relay_signal_at; /* the next() call that sets relay_signal */
static int relay_signal;

static void relay_reset(void) {
  relay_begins = relay_nexts = relay_ends = 0;
  relay_fail_at = relay_signal_at = relay_signal = 0;
}

static int relay_write(const void *config, irpc_fields *fields,
                       uint64_t peer_formats, irpc_buf *in, int may_consume,
                       irpc_buf *out) {
  (void)config, (void)fields, (void)peer_formats, (void)in, (void)may_consume;
  (void)out;
  return IRPC_PAYLOAD_UNCHANGED;
}

static int relay_begin(const void *config, irpc_fields *fields,
                       uint64_t peer_formats, const irpc_buf *in,
                       void **state) {
  (void)config, (void)fields, (void)peer_formats;
  relay *r = calloc(1, sizeof(*r));
  r->in = in;
  relay_begins++;
  *state = r;
  return 0;
}

static int relay_next(void *state, irpc_buf *out, size_t want, int *done) {
  relay *r = state;
  if (++relay_nexts == relay_signal_at)
    relay_signal = 1;
  if (relay_nexts == relay_fail_at)
    return IRPC_EDATA;
  size_t left = irpc_buf_len(r->in) - r->off;
  size_t n = want < left ? want : left;
  assert_irpc_ok(irpc_buf_append_ref(out, r->in, r->off, n));
  r->off += n;
  *done = r->off == irpc_buf_len(r->in);
  return 0;
}

static void relay_end(void *state) {
  relay_ends++;
  free(state);
}

static const irpc_payload_writer_ops relay_ops = {
    .struct_size = sizeof(irpc_payload_writer_ops),
    .name = "relay",
    .write = relay_write,
    .begin = relay_begin,
    .next = relay_next,
    .end = relay_end};

/* The streaming operations come all three or not at all. */
static void test_writer_ops_all_or_none(void **state) {
  (void)state;
  irpc_outgoing_request *req = kit_request("/svc", NULL, 0);
  irpc_payload_writer_ops half = relay_ops;
  half.end = NULL;
  assert_irpc_err(irpc_outgoing_request_use_writer(req, &half, NULL, 0),
                  IRPC_EINVAL);
  half = relay_ops;
  half.begin = NULL;
  assert_irpc_err(irpc_outgoing_request_use_writer(req, &half, NULL, 0),
                  IRPC_EINVAL);
  half.next = NULL;
  half.end = NULL; /* write only: as before */
  assert_irpc_ok(irpc_outgoing_request_use_writer(req, &half, NULL, 0));
  assert_irpc_ok(irpc_outgoing_request_use_writer(req, &relay_ops, NULL, 0));
  irpc_outgoing_request_free(req);
}

/* ---- An in-process rig: the memory transport, a spy on the wire ---- */

/* Answers Unavailable to the first request after flaky_calls is reset,
 * then echoes. */
static int flaky_calls;
static void flaky_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  if (flaky_calls++ == 0) {
    assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_UNAVAILABLE, NULL));
    return;
  }
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops flaky_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "flaky",
                                              .dispatch = flaky_dispatch};

typedef struct srig {
  net_rig n;
  irpc_pipeline *pipeline;
  irpc_invoker *retry;
  irpc_invoker *conn;
  irpc_outgoing_request *holder; /* owns spy.fields */
  spy spy;                       /* requests as they came over the wire */
} srig;

/* Pipeline: retry (large payloads allowed, no backoff), compress, the
 * connection. Router: the spy, then the compress middleware. */
static void srig_init(srig *t) {
  memset(t, 0, sizeof(*t));
  net_rig_init(&t->n, NET_MEMORY);
  assert_irpc_ok(irpc_outgoing_request_new(&t->holder, "/spy", "fields"));
  t->spy.fields = irpc_outgoing_request_fields(t->holder);
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, &t->n.loop, &spy_ops, &t->spy));
  assert_irpc_ok(irpc_router_use(t->n.router, d));
  assert_irpc_ok(irpc_compress_middleware_new(&d, &t->n.loop, NULL));
  assert_irpc_ok(irpc_router_use(t->n.router, d));
  net_map(&t->n, "/echo", &test_echo_ops, NULL);
  net_map(&t->n, "/flaky", &flaky_ops, NULL);
  net_rig_start(&t->n);
  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.max_payload_size = BIG;
  ro.initial_backoff_ms = 0;
  assert_irpc_ok(irpc_retry_interceptor_new(&t->retry, &t->n.loop, &ro));
  irpc_invoker *ic;
  assert_irpc_ok(irpc_compress_interceptor_new(&ic, &t->n.loop, NULL));
  assert_irpc_ok(irpc_pipeline_new(&t->pipeline, &t->n.loop));
  assert_irpc_ok(irpc_pipeline_use(t->pipeline, t->retry));
  assert_irpc_ok(irpc_pipeline_use(t->pipeline, ic));
  t->conn = net_client(&t->n);
  assert_irpc_ok(irpc_pipeline_into(t->pipeline, t->conn));
}

static void srig_fini(srig *t) {
  irpc_pipeline_free(t->pipeline);
  net_client_close(&t->n, t->conn);
  irpc_outgoing_request_free(t->holder);
  net_rig_fini(&t->n);
}

static void srig_call(srig *t, irpc_outgoing_request *req, outcome *o) {
  o->done = 0;
  rig_invoke(NULL, irpc_pipeline_invoker(t->pipeline), req, o, NULL);
  kit_run_until(&t->n.loop, &o->done);
  assert_int_equal(o->done, 1);
}

/* A small echo: the connection is up, and still serves calls. */
static void srig_ping(srig *t) {
  outcome o;
  outcome_init(&o);
  irpc_outgoing_request *req = kit_request("/echo", "ping", 4);
  srig_call(t, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_true(irpc_buf_equals(o.payload, "ping", 4));
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
}

/* A request of `n` bytes of noise that only the relay writer streams (the
 * counters reset). */
static irpc_outgoing_request *relay_request(const char *path, size_t n,
                                            uint64_t *hash) {
  relay_reset();
  irpc_outgoing_request *req = kit_request(path, NULL, 0);
  *hash = fill_noise(irpc_outgoing_request_payload(req), n, n + 1);
  assert_irpc_ok(irpc_outgoing_request_use_writer(req, &relay_ops, NULL, 0));
  return req;
}

static irpc_outgoing_request *noise_request(const char *path, size_t n,
                                            uint64_t *hash) {
  irpc_outgoing_request *req = kit_request(path, NULL, 0);
  *hash = fill_noise(irpc_outgoing_request_payload(req), n, n);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(req), 1));
  return req;
}

/* A streamed compressed request carries the field and arrives whole; one
 * that does not shrink (random bytes, decided on its first 8 MiB) goes as
 * it is, without the field. */
static void test_streamed_request_on_the_wire(void **state) {
  (void)state;
  srig t;
  srig_init(&t);
  outcome o;
  outcome_init(&o);
  uint64_t h;
  irpc_outgoing_request *req = noise_request("/echo", 4 * MIB, &h);
  srig_call(&t, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_field(t.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x20", 1);
  assert_true(t.spy.payload_len < 3 * MIB);
  assert_int_equal(irpc_buf_len(o.payload), 4 * MIB);
  assert_true(hash_chain(o.payload) == h);
  irpc_outgoing_request_free(req);

  size_t n = 12 * MIB;
  uint8_t *rnd = malloc(n);
  fill_random(rnd, n, 3);
  req = kit_request("/echo", rnd, n);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(req), 1));
  srig_call(&t, req, &o);
  assert_irpc_ok(o.err);
  assert_false(has_format(t.spy.fields));
  assert_false(has_format(irpc_outgoing_request_fields(req)));
  assert_int_equal(t.spy.payload_len, n);
  assert_true(irpc_buf_equals(o.payload, rnd, n));
  free(rnd);
  irpc_outgoing_request_free(req);

  /* One-way: done once the peer has read it all. */
  req = noise_request("/echo", 4 * MIB, &h);
  irpc_outgoing_request_set_oneway(req, 1);
  t.spy.requests = 0;
  srig_call(&t, req, &o);
  assert_irpc_ok(o.err);
  kit_run_until(&t.n.loop, &t.spy.requests);
  assert_field(t.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x20", 1);
  assert_true(t.spy.payload_len < 3 * MIB);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  srig_fini(&t);
}

/* Starts a 16 MiB call through the relay writer on a connected rig and
 * runs until its 10th piece (2.5 MiB) was pulled: mid-stream. */
static irpc_outgoing_request *relay_mid_stream(srig *t, outcome *o,
                                               irpc_call **call) {
  srig_ping(t);
  uint64_t h;
  irpc_outgoing_request *req = relay_request("/echo", 16 * MIB, &h);
  relay_signal_at = 10;
  rig_invoke(NULL, irpc_pipeline_invoker(t->pipeline), req, o, call);
  kit_run_until(&t->n.loop, &relay_signal);
  assert_int_equal(o->done, 0);
  assert_int_equal(relay_ends, 0);
  return req;
}

/* Canceling a call whose payload is being pulled ends the writer's state
 * (the relay counts it; ASan sees the compress writer's) and aborts the
 * stream; the connection goes on. */
static void test_cancel_mid_stream(void **state) {
  (void)state;
  srig t;
  srig_init(&t);
  outcome o;
  outcome_init(&o);
  irpc_call *call;
  irpc_outgoing_request *req = relay_mid_stream(&t, &o, &call);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&t.n.loop, &o.done);
  assert_irpc_err(o.err, IRPC_ECANCELED);
  assert_int_equal(relay_begins, 1);
  assert_int_equal(relay_ends, 1);
  assert_true(relay_nexts < 64);
  irpc_outgoing_request_free(req);

  /* The compress writer, canceled a few turns after its first pieces. */
  uint64_t h;
  req = noise_request("/echo", 16 * MIB, &h);
  o.done = 0;
  rig_invoke(NULL, irpc_pipeline_invoker(t.pipeline), req, &o, &call);
  for (int i = 0; i < 4 && !o.done; i++)
    uv_run(&t.n.loop, UV_RUN_NOWAIT);
  assert_int_equal(o.done, 0);
  assert_field(irpc_outgoing_request_fields(req),
               IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x20", 1);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  kit_run_until(&t.n.loop, &o.done);
  assert_irpc_err(o.err, IRPC_ECANCELED);
  irpc_outgoing_request_free(req);
  srig_ping(&t);
  assert_int_equal(t.spy.requests, 2); /* the pings only */
  outcome_fini(&o);
  srig_fini(&t);
}

/* A writer's error fails the call with it; the stream is aborted, so the
 * peer never dispatches the partial request. */
static void test_writer_error_fails_call(void **state) {
  (void)state;
  srig t;
  srig_init(&t);
  outcome o;
  outcome_init(&o);
  uint64_t h;
  irpc_outgoing_request *req = relay_request("/echo", 4 * MIB, &h);
  relay_fail_at = 3;
  srig_call(&t, req, &o);
  assert_irpc_err(o.err, IRPC_EDATA);
  assert_int_equal(relay_begins, 1);
  assert_int_equal(relay_ends, 1);
  assert_int_equal(relay_nexts, 3);
  irpc_outgoing_request_free(req);
  srig_ping(&t);
  assert_int_equal(t.spy.requests, 1);
  outcome_fini(&o);
  srig_fini(&t);
}

/* The connection lost while a payload is being pulled: the call fails
 * with the connection's error and the writer's state is ended. */
static void test_connection_lost_mid_stream(void **state) {
  (void)state;
  srig t;
  srig_init(&t);
  outcome o;
  outcome_init(&o);
  irpc_outgoing_request *req = relay_mid_stream(&t, &o, NULL);
  irpc_server_free(t.n.server); /* aborts its connections */
  t.n.server = NULL;
  kit_run_until(&t.n.loop, &o.done);
  assert_true(o.err < 0);
  assert_int_equal(relay_begins, 1);
  assert_int_equal(relay_ends, 1);
  assert_true(relay_nexts < 64);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  irpc_pipeline_free(t.pipeline);
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(t.conn, kit_status_cb, &done));
  kit_run_until(&t.n.loop, &done);
  irpc_invoker_free(t.conn);
  irpc_outgoing_request_free(t.holder);
  net_rig_fini(&t.n);
}

static int addresses_left(irpc_server_addresses *self) {
  (void)self;
  return 1;
}

/* The server answers Unavailable once: the retry interceptor sends the
 * request again, each attempt streaming the whole payload from the start
 * (the application's payload is intact). */
static void test_retry_streams_again(void **state) {
  (void)state;
  srig t;
  srig_init(&t);
  irpc_server_addresses sa = {.remove_current = addresses_left};
  outcome o;
  outcome_init(&o);
  for (int with_relay = 0; with_relay < 2; with_relay++) {
    flaky_calls = 0;
    uint64_t h;
    irpc_outgoing_request *req = with_relay
                                     ? relay_request("/flaky", 4 * MIB, &h)
                                     : noise_request("/flaky", 4 * MIB, &h);
    assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
    assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                     &irpc_server_addresses_feature, &sa));
    irpc_retry_stats before, after;
    assert_irpc_ok(irpc_retry_stats_get(t.retry, &before));
    srig_call(&t, req, &o);
    assert_irpc_ok(o.err);
    assert_int_equal(o.status, IRPC_STATUS_OK);
    assert_irpc_ok(irpc_retry_stats_get(t.retry, &after));
    assert_int_equal(after.attempts - before.attempts, 2);
    assert_int_equal(flaky_calls, 2);
    assert_int_equal(irpc_buf_len(o.payload), 4 * MIB);
    assert_true(hash_chain(o.payload) == h);
    if (with_relay) {
      assert_int_equal(relay_begins, 2);
      assert_int_equal(relay_ends, 2);
      assert_int_equal(relay_nexts, 2 * 16); /* 256 KiB each */
      assert_int_equal(t.spy.payload_len, 4 * MIB);
    } else {
      assert_field(t.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, "\x20",
                   1);
      assert_true(t.spy.payload_len < 3 * MIB);
    }
    irpc_outgoing_request_free(req);
  }
  outcome_fini(&o);
  srig_fini(&t);
}

/* ---- 64 MiB over TCP, with the server in another process ----
 *
 * The counting allocator counts the whole process, so the server runs in
 * a child (this program again, with --serve): the parent's peak is the
 * client's alone. When the request has all arrived, the server calls the
 * client back on "/sent" before it echoes: the client's peak at that
 * moment is what sending cost. */

#define SERVE_CHECK(expr)                                                      \
  do {                                                                         \
    if ((expr) != 0) {                                                         \
      fprintf(stderr, "serve: %s failed (line %d)\n", #expr, __LINE__);        \
      _exit(2);                                                                \
    }                                                                          \
  } while (0)

static int serve_quit;
static irpc_outgoing_request *serve_note;

static void serve_noted(irpc_call *call, int err, irpc_incoming_response *resp,
                        void *ud) {
  (void)call;
  irpc_dispatch *d = ud;
  irpc_incoming_response_free(resp);
  irpc_outgoing_request_free(serve_note);
  serve_note = NULL;
  SERVE_CHECK(err);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  SERVE_CHECK(
      irpc_features_set_compress(irpc_incoming_request_features(req), 1));
  irpc_outgoing_response *resp_out;
  SERVE_CHECK(irpc_outgoing_response_new(&resp_out, IRPC_STATUS_OK, NULL));
  SERVE_CHECK(irpc_buf_move(irpc_outgoing_response_payload(resp_out),
                            irpc_incoming_request_payload(req)));
  SERVE_CHECK(irpc_dispatch_complete(d, resp_out));
}

static void serve_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  SERVE_CHECK(irpc_outgoing_request_new(&serve_note, "/sent", "op"));
  SERVE_CHECK(irpc_invoke(irpc_incoming_request_invoker(req), serve_note,
                          serve_noted, d, NULL));
}

static const irpc_dispatcher_ops serve_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "serve",
                                              .dispatch = serve_dispatch};

static void serve_stdin_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  free(buf->base);
  if (n < 0) { /* the parent closed our stdin: done */
    serve_quit = 1;
    uv_close((uv_handle_t *)s, NULL);
  }
}

static void serve_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(size);
  buf->len = size;
}

static void serve_watchdog(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "serve: still running after 280 s\n");
  _exit(3);
}

/* The child: an echo server over TCP behind the compress middleware; it
 * prints its address and runs until its stdin closes. */
static int serve(void) {
  uv_loop_t loop;
  SERVE_CHECK(uv_loop_init(&loop));
  irpc_router *router;
  irpc_dispatcher *mw, *echo;
  SERVE_CHECK(irpc_router_new(&router, &loop));
  SERVE_CHECK(irpc_compress_middleware_new(&mw, &loop, NULL));
  SERVE_CHECK(irpc_router_use(router, mw));
  SERVE_CHECK(irpc_dispatcher_new(&echo, &loop, &serve_ops, NULL));
  SERVE_CHECK(irpc_router_map(router, "/echo", echo));
  irpc_server *server;
  SERVE_CHECK(
      irpc_server_new(&server, &loop, irpc_router_dispatcher(router), NULL));
  char bound[256];
  SERVE_CHECK(
      irpc_server_listen(server, "icerpc://127.0.0.1:0", bound, sizeof bound));
  printf("%s\n", bound);
  fflush(stdout);
  uv_pipe_t in;
  SERVE_CHECK(uv_pipe_init(&loop, &in, 0));
  SERVE_CHECK(uv_pipe_open(&in, 0));
  SERVE_CHECK(uv_read_start((uv_stream_t *)&in, serve_alloc, serve_stdin_read));
  uv_timer_t wd;
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, serve_watchdog, 280000, 0);
  while (!serve_quit)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wd, NULL);
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(echo);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 ? 0 : 4;
}

typedef struct child {
  pid_t pid;
  int to_child; /* its stdin */
  char address[256];
} child;

static void child_start(child *ch) {
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  ch->pid = fork();
  assert_true(ch->pid >= 0);
  if (ch->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execl("/proc/self/exe", "compress_stream_test", "--serve", (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  ch->to_child = in[1];
  FILE *f = fdopen(out[0], "r");
  assert_non_null(fgets(ch->address, sizeof ch->address, f));
  fclose(f);
  ch->address[strcspn(ch->address, "\n")] = 0;
}

/* Closes its stdin and waits: it exits 0 when it closed cleanly, with no
 * leak (ASan's leak check runs at its exit). */
static void child_finish(child *ch) {
  close(ch->to_child);
  int st;
  assert_int_equal(waitpid(ch->pid, &st, 0), ch->pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static long long sent_peak; /* the client's peak when "/sent" came */
static int sent_calls;

static void sent_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  sent_peak = test_alloc.bytes_peak;
  sent_calls++;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops sent_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "sent",
                                             .dispatch = sent_dispatch};

/* A 64 MiB request of 4-bit noise (about 35 MiB once compressed) through
 * the compress interceptor, echoed back compressed. Sending it, the
 * client holds the payload plus a few MiB (the codec, the prefix that
 * decided, the bytes queued in the stream and the transport), where
 * compressing it whole before sending would hold the payload plus all of
 * its 35 MiB compressed form. */
static void slow_watchdog(uv_timer_t *t) {
  (void)t;
  fail_msg("a 64 MiB round trip did not end within 180 s");
}

/* kit_run_until with room for 64 MiB compressed and decompressed under
 * the sanitizers on a loaded machine (a hang guard, not a timing). */
static void run_until_slow(uv_loop_t *loop, const int *flag) {
  uv_timer_t wd;
  uv_timer_init(loop, &wd);
  uv_timer_start(&wd, slow_watchdog, 180000, 0);
  while (!*flag)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

/* One format: a warm-up call (the codecs' per-thread contexts are made
 * before measuring), then the 64 MiB call. */
static void big_call(uv_loop_t *loop, irpc_invoker *conn, int format,
                     const char *name) {
  irpc_compress_options co;
  irpc_compress_options_init(&co);
  co.formats[0] = (uint8_t)format;
  co.formats[1] = 0;
  irpc_invoker *ic;
  assert_irpc_ok(irpc_compress_interceptor_new(&ic, loop, &co));
  irpc_pipeline *p;
  assert_irpc_ok(irpc_pipeline_new(&p, loop));
  assert_irpc_ok(irpc_pipeline_use(p, ic));
  assert_irpc_ok(irpc_pipeline_into(p, conn));
  outcome o;
  outcome_init(&o);
  uint64_t h;
  irpc_outgoing_request *req = noise_request("/echo", 2 * MIB, &h);
  rig_invoke(NULL, irpc_pipeline_invoker(p), req, &o, NULL);
  kit_run_until(loop, &o.done);
  assert_irpc_ok(o.err);
  assert_true(hash_chain(o.payload) == h);
  irpc_outgoing_request_free(req);
  irpc_buf_clear(o.payload);

  long long base = test_alloc.bytes_live;
  test_alloc.bytes_peak = base;
  int sent_before = sent_calls;
  req = noise_request("/echo", BIG, &h);
  o.done = 0;
  uint64_t t0 = uv_hrtime();
  rig_invoke(NULL, irpc_pipeline_invoker(p), req, &o, NULL);
  run_until_slow(loop, &o.done);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_int_equal(sent_calls, sent_before + 1);
  uint8_t v = (uint8_t)format;
  assert_field(irpc_outgoing_request_fields(req),
               IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v, 1);
  assert_int_equal(irpc_buf_len(o.payload), BIG);
  assert_true(hash_chain(o.payload) == h);
  long long send = sent_peak - base, all = test_alloc.bytes_peak - base;
  printf("# %s: 64 MiB request over TCP, %.2f s round trip; client peak "
         "%.1f MiB over the payload while sending, %.1f MiB for the round "
         "trip (the response held too)\n",
         name, secs, (double)(send - (long long)BIG) / MIB,
         (double)(all - (long long)BIG) / MIB);
  assert_true(send < (long long)(BIG + 8 * MIB));
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  irpc_pipeline_free(p);
}

static void test_compressed_request_64mib_streams(void **state) {
  (void)state;
  child ch;
  child_start(&ch);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_dispatcher *sent;
  assert_irpc_ok(irpc_dispatcher_new(&sent, &loop, &sent_ops, NULL));
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.dispatcher = sent;
  irpc_invoker *conn;
  assert_irpc_ok(irpc_client_connection_new(&conn, &loop, ch.address, &co));
  big_call(&loop, conn, IRPC_COMPRESSION_ZSTD, "zstd");
  big_call(&loop, conn, IRPC_COMPRESSION_BROTLI, "brotli");
  big_call(&loop, conn, IRPC_COMPRESSION_DEFLATE, "deflate");
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(conn, kit_status_cb, &done));
  kit_run_until(&loop, &done);
  irpc_invoker_free(conn);
  irpc_dispatcher_free(sent);
  test_loop_finish(&loop);
  child_finish(&ch);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--serve") == 0)
    return serve();
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writer_ops_all_or_none),
      cmocka_unit_test(test_writer_streams_every_format),
      cmocka_unit_test(test_streamed_request_on_the_wire),
      cmocka_unit_test(test_cancel_mid_stream),
      cmocka_unit_test(test_writer_error_fails_call),
      cmocka_unit_test(test_connection_lost_mid_stream),
      cmocka_unit_test(test_retry_streams_again),
      cmocka_unit_test(test_compressed_request_64mib_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
