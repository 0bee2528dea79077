/* The interceptors and middleware over TCP: each call goes through an
 * interceptor, a client connection, the real server, the middleware, the
 * router and a dispatcher, and each test checks both sides. A spy
 * middleware, first in the router, records the request as it came off the
 * wire; a wire spy interceptor, last in the pipeline, the response as it
 * came off the wire. */
#include "kit/rig.h"
#include "kit/net.h"

/* ---- The rig: a client pipeline into a connection to a server ---- */

typedef struct pn {
  net_rig n;
  irpc_pipeline *pipeline;
  irpc_invoker *conn;
  irpc_clock *clock;             /* manual */
  irpc_outgoing_request *holder; /* owns spy.fields */
  spy spy;
} pn;

static void pn_init(pn *t) {
  memset(t, 0, sizeof(*t));
  net_rig_init(&t->n, NET_TCP);
  assert_irpc_ok(irpc_pipeline_new(&t->pipeline, &t->n.loop));
  assert_irpc_ok(irpc_clock_manual_new(&t->clock, &t->n.loop, RIG_T0));
  assert_irpc_ok(irpc_outgoing_request_new(&t->holder, "/spy", "fields"));
  t->spy.fields = irpc_outgoing_request_fields(t->holder);
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, &t->n.loop, &spy_ops, &t->spy));
  assert_irpc_ok(irpc_router_use(t->n.router, d));
}

static void pn_use(pn *t, irpc_invoker *ic) {
  assert_irpc_ok(irpc_pipeline_use(t->pipeline, ic));
}

static void pn_mw(pn *t, irpc_dispatcher *mw) {
  assert_irpc_ok(irpc_router_use(t->n.router, mw));
}

/* Starts the server and puts the client connection at the end of the
 * pipeline. */
static void pn_start(pn *t) {
  net_rig_start(&t->n);
  t->conn = net_client(&t->n);
  assert_irpc_ok(irpc_pipeline_into(t->pipeline, t->conn));
}

static void pn_fini(pn *t) {
  irpc_pipeline_free(t->pipeline);
  net_client_close(&t->n, t->conn);
  irpc_clock_unref(t->clock);
  irpc_outgoing_request_free(t->holder);
  net_rig_fini(&t->n);
}

/* Invokes through the pipeline; returns once the call completed. */
static void pn_call(pn *t, irpc_outgoing_request *req, outcome *o) {
  o->done = 0;
  o->message[0] = 0;
  rig_invoke(NULL, irpc_pipeline_invoker(t->pipeline), req, o, NULL);
  kit_run_until(&t->n.loop, &o->done);
  assert_int_equal(o->done, 1);
}

/* ---- The wire spy interceptor ---- */

typedef struct wire_spy {
  int responses;
  uint8_t format; /* the response's compression field, 0 without */
  size_t payload_len;
} wire_spy;

static int wspy_init(irpc_invoker *self, const void *config) {
  *(wire_spy **)irpc_invoker_data(self) = (wire_spy *)config;
  return 0;
}

static int wspy_on_complete(irpc_invoker *self, irpc_call *call) {
  wire_spy *w = *(wire_spy **)irpc_invoker_data(self);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  if (err)
    return 0;
  w->responses++;
  irpc_bytes v;
  w->format =
      irpc_fields_get(irpc_incoming_response_fields(resp),
                      IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, &v) == 0 &&
              v.len == 1
          ? v.base[0]
          : 0;
  w->payload_len = irpc_buf_len(irpc_incoming_response_payload(resp));
  return 0;
}

static const irpc_invoker_ops wspy_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "wire-spy",
    .data_size = sizeof(wire_spy *),
    .init = wspy_init,
    .on_complete = wspy_on_complete,
};

static void pn_wire_spy(pn *t, wire_spy *w) {
  irpc_invoker *ic;
  assert_irpc_ok(irpc_invoker_new(&ic, &t->n.loop, &wspy_ops, w));
  pn_use(t, ic);
}

/* ---- Dispatchers ---- */

/* Echoes the payload; asks for the response to be compressed. */
static void compress_echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  irpc_features_set_compress(
      irpc_incoming_request_features(irpc_dispatch_request(d)), 1);
  test_echo_ops.dispatch(self, d);
}

static const irpc_dispatcher_ops compress_echo_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "echo",
    .dispatch = compress_echo_dispatch};

static void fail_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_dispatch_reply(d, IRPC_STATUS_APPLICATION_ERROR, "no luck");
}

static const irpc_dispatcher_ops fail_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "fail",
                                             .dispatch = fail_dispatch};

/* Text-like bytes, compressible about 4:1. */
static irpc_outgoing_request *text_request(const char *path, size_t n) {
  static const char *words[] = {"request ",     "response ", "payload ",
                                "interceptor ", "server ",   "\n"};
  irpc_outgoing_request *req = kit_request(path, NULL, 0);
  irpc_buf *b = irpc_outgoing_request_payload(req);
  uint64_t s = 7;
  while (irpc_buf_len(b) < n) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const char *w = words[(s >> 33) % 6];
    size_t k = strlen(w), room = n - irpc_buf_len(b);
    assert_irpc_ok(irpc_buf_append(b, w, k < room ? k : room));
  }
  return req;
}

static int same_payload(outcome *o, irpc_outgoing_request *req) {
  irpc_buf *a = o->payload, *b = irpc_outgoing_request_payload(req);
  if (irpc_buf_len(a) != irpc_buf_len(b))
    return 0;
  irpc_bytes x, y;
  assert_irpc_ok(irpc_buf_pullup(a, &x));
  assert_irpc_ok(irpc_buf_pullup(b, &y));
  return x.len == 0 || memcmp(x.base, y.base, x.len) == 0;
}

/* ---- Logger ---- */

static void test_logger(void **state) {
  (void)state;
  pn t;
  pn_init(&t);
  sink_log client = {0}, server = {0};
  irpc_logger_options o;
  irpc_logger_options_init(&o);
  o.sink = sink;
  o.user_data = &client;
  irpc_invoker *ic;
  assert_irpc_ok(irpc_logger_interceptor_new(&ic, &t.n.loop, &o));
  pn_use(&t, ic);
  o.user_data = &server;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_logger_middleware_new(&mw, &t.n.loop, &o));
  pn_mw(&t, mw);
  net_map(&t.n, "/echo", &test_echo_ops, NULL);
  pn_start(&t);

  outcome out;
  outcome_init(&out);
  irpc_outgoing_request *req = kit_request("/echo", "hi", 2);
  pn_call(&t, req, &out);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  irpc_outgoing_request *nf = kit_request("/nowhere", NULL, 0);
  pn_call(&t, nf, &out);
  assert_int_equal(out.status, IRPC_STATUS_NOT_FOUND);

  assert_int_equal(client.count, 2);
  assert_int_equal(server.count, 2);
  assert_string_equal(client.events[0], "Invoke");
  assert_int_equal(client.levels[0], IRPC_LOG_INFO);
  assert_non_null(
      strstr(client.lines[0], "path=/echo operation=op status=Ok duration="));
  assert_string_equal(client.events[1], "InvokeError");
  assert_int_equal(client.levels[1], IRPC_LOG_WARNING);
  assert_string_equal(server.events[0], "Dispatch");
  assert_string_equal(server.events[1], "DispatchError");
  assert_non_null(strstr(server.lines[1], "status=NotFound"));
  /* The addresses of the real TCP connection, seen from both ends. */
  assert_true(strncmp(client.remote, "127.0.0.1:", 10) == 0);
  assert_true(strncmp(client.local, "127.0.0.1:", 10) == 0);
  assert_string_equal(client.remote, server.local);
  assert_string_equal(client.local, server.remote);
  assert_non_null(strstr(client.lines[0], client.remote));

  irpc_outgoing_request_free(req);
  irpc_outgoing_request_free(nf);
  outcome_fini(&out);
  pn_fini(&t);
}

/* ---- Compress ---- */

/* What crossed the wire in one compressed call: the request's format and
 * payload length as the server received them, the response's as the
 * client did (format 0: none). */
typedef struct seen {
  uint8_t request_format, response_format;
  size_t request_len, response_len;
} seen;

/* One echo call of `n` text bytes, compressed both ways, with the
 * interceptor and the middleware preferring `prefs` (0-terminated), the
 * server announcing `server_formats` and the client `client_formats`. */
static seen compress_call(const uint8_t prefs[2], uint64_t server_formats,
                          uint64_t client_formats, size_t n) {
  pn t;
  pn_init(&t);
  t.n.sicerpc.compression_formats = server_formats;
  t.n.cicerpc.compression_formats = client_formats;
  irpc_compress_options o;
  irpc_compress_options_init(&o);
  o.formats[0] = prefs[0];
  o.formats[1] = prefs[1];
  irpc_invoker *ic;
  assert_irpc_ok(irpc_compress_interceptor_new(&ic, &t.n.loop, &o));
  pn_use(&t, ic);
  wire_spy w = {0};
  pn_wire_spy(&t, &w);
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_compress_middleware_new(&mw, &t.n.loop, &o));
  pn_mw(&t, mw);
  net_map(&t.n, "/echo", &compress_echo_ops, NULL);
  pn_start(&t);

  irpc_outgoing_request *req = text_request("/echo", n);
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(req), 1));
  outcome out;
  outcome_init(&out);
  pn_call(&t, req, &out);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  /* Whatever the wire carried, the caller gets the bytes back, without the
   * field. */
  assert_true(same_payload(&out, req));
  assert_false(
      irpc_fields_has(out.fields, IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT));
  seen s = {.request_len = t.spy.payload_len,
            .response_format = w.format,
            .response_len = w.payload_len};
  irpc_bytes v;
  if (irpc_fields_get(t.spy.fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT,
                      &v) == 0) {
    assert_int_equal(v.len, 1); /* the one-byte format field */
    s.request_format = v.base[0];
  }
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  pn_fini(&t);
  return s;
}

/* Compressed on the wire both ways, with the format's field. */
static void compress_both_ways(int format) {
  const uint8_t prefs[2] = {(uint8_t)format, 0};
  const uint64_t all = irpc_compress_formats_readable();
  seen s = compress_call(prefs, all, all, 200000);
  assert_int_equal(s.request_format, format);
  assert_true(s.request_len < 200000 / 2);
  assert_int_equal(s.response_format, format);
  assert_true(s.response_len < 200000 / 2);
}

static void test_compress_zstd(void **state) {
  (void)state;
  compress_both_ways(IRPC_COMPRESSION_ZSTD);
}

static void test_compress_brotli(void **state) {
  (void)state;
  compress_both_ways(IRPC_COMPRESSION_BROTLI);
}

static void test_compress_deflate(void **state) {
  (void)state;
  compress_both_ways(IRPC_COMPRESSION_DEFLATE);
}

/* The formats of a call as negotiated; an uncompressed payload is whole. */
static uint8_t negotiated(const uint8_t prefs[2], uint64_t server_formats,
                          uint64_t client_formats, uint8_t *resp_format) {
  seen s = compress_call(prefs, server_formats, client_formats, 50000);
  if (s.request_format)
    assert_true(s.request_len < 50000 / 2);
  else
    assert_int_equal(s.request_len, 50000);
  if (!s.response_format)
    assert_int_equal(s.response_len, 50000);
  *resp_format = s.response_format;
  return s.request_format;
}

/* A server that did not announce zstd never receives it: the writer falls
 * back to brotli, or to no compression when zstd is all it may use.
 * Responses follow what the call's interceptor listed, whatever the
 * client's connection announced (that is about its own dispatcher). */
static void test_zstd_negotiation(void **state) {
  (void)state;
  const uint64_t all = irpc_compress_formats_readable();
  const uint64_t icerpc = IRPC_COMPRESSION_FORMATS_ICERPC;
  const uint8_t zstd_brotli[2] = {IRPC_COMPRESSION_ZSTD,
                                  IRPC_COMPRESSION_BROTLI};
  const uint8_t zstd_only[2] = {IRPC_COMPRESSION_ZSTD, 0};
  uint8_t resp;
  /* Both accept zstd (the default): zstd both ways. */
  assert_int_equal(negotiated(zstd_brotli, all, all, &resp),
                   IRPC_COMPRESSION_ZSTD);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  /* The server does not accept zstd: requests fall back to brotli;
   * responses still use zstd, which the interceptor listed. */
  assert_int_equal(negotiated(zstd_brotli, icerpc, all, &resp),
                   IRPC_COMPRESSION_BROTLI);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  /* The client connection's own option does not change responses. */
  assert_int_equal(negotiated(zstd_brotli, icerpc, icerpc, &resp),
                   IRPC_COMPRESSION_BROTLI);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  /* The server accepts nothing: requests go uncompressed, no field. */
  assert_int_equal(negotiated(zstd_brotli, 0, all, &resp), 0);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  /* zstd is the only format allowed and the server refuses it. */
  assert_int_equal(negotiated(zstd_only, icerpc, icerpc, &resp), 0);
  assert_int_equal(resp, IRPC_COMPRESSION_ZSTD);
  /* A connection cannot announce a format this build does not read. */
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_icerpc_options io;
  irpc_icerpc_options_init(&io);
  assert_true(io.compression_formats == all);
  io.compression_formats = IRPC_COMPRESSION_BIT(7);
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.icerpc = &io;
  irpc_invoker *inv;
  assert_irpc_err(
      irpc_client_connection_new(&inv, &loop, "icerpc://127.0.0.1:4062", &co),
      IRPC_EINVAL);
  test_loop_finish(&loop);
}

/* ---- Deadline ---- */

static void dl_init(pn *t, int client) {
  pn_init(t);
  irpc_deadline_options o;
  irpc_deadline_options_init(&o);
  o.default_timeout_ms = 100;
  o.clock = t->clock;
  if (client) {
    irpc_invoker *ic;
    assert_irpc_ok(irpc_deadline_interceptor_new(&ic, &t->n.loop, &o));
    pn_use(t, ic);
  }
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_deadline_middleware_new(&mw, &t->n.loop, &o));
  pn_mw(t, mw);
  net_map(&t->n, "/hang", &rig_hang_ops, NULL);
  pn_start(t);
}

/* The deadline expires while the server holds the dispatch: in the same
 * timer tick the client's call fails with IRPC_EDEADLINE and the server
 * cancels the dispatch and answers DeadlineExceeded. */
static void test_deadline_expires_both_sides(void **state) {
  (void)state;
  pn tt, *t = &tt;
  dl_init(t, 1);
  irpc_outgoing_request *req = kit_request("/hang", NULL, 0);
  outcome out;
  outcome_init(&out);
  rig_hang_canceled = 0;
  rig_invoke(NULL, irpc_pipeline_invoker(t->pipeline), req, &out, NULL);
  kit_run_until(&t->n.loop, &t->spy.requests); /* the dispatch runs */
  uint8_t v[8];
  irpc_deadline_encode(RIG_T0 + 100 * MS, v);
  assert_field(t->spy.fields, IRPC_REQUEST_FIELD_DEADLINE, v, 8);
  /* One millisecond early: nothing on either side. */
  assert_irpc_ok(irpc_clock_advance(t->clock, 99 * MS));
  assert_int_equal(out.done, 0);
  assert_int_equal(rig_hang_canceled, 0);
  /* On time: both timers fire in this tick. */
  assert_irpc_ok(irpc_clock_advance(t->clock, 1 * MS));
  assert_irpc_err(rig_hang_canceled, IRPC_EDEADLINE);
  kit_run_until(&t->n.loop, &out.done);
  assert_irpc_err(out.err, IRPC_EDEADLINE);
  kit_run_until(&t->n.loop, &t->spy.responses);
  assert_int_equal(t->spy.status, IRPC_STATUS_DEADLINE_EXCEEDED);
  /* A deadline already past fails at once, nothing sent. */
  assert_irpc_ok(irpc_features_set_deadline(irpc_outgoing_request_features(req),
                                            RIG_T0 + 50 * MS));
  pn_call(t, req, &out);
  assert_irpc_err(out.err, IRPC_EDEADLINE);
  assert_int_equal(t->spy.requests, 1);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  pn_fini(t);
}

/* Without the interceptor: the field set by hand; the server's timer
 * cancels the dispatch and the client receives DeadlineExceeded; a request
 * already expired on arrival is answered without dispatching. */
static void test_deadline_server_side(void **state) {
  (void)state;
  pn tt, *t = &tt;
  dl_init(t, 0);
  irpc_outgoing_request *req = kit_request("/hang", NULL, 0);
  uint8_t v[8];
  irpc_deadline_encode(RIG_T0 + 50 * MS, v);
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_DEADLINE, v, 8));
  outcome out;
  outcome_init(&out);
  rig_hang_canceled = 0;
  rig_invoke(NULL, irpc_pipeline_invoker(t->pipeline), req, &out, NULL);
  kit_run_until(&t->n.loop, &t->spy.requests);
  assert_irpc_ok(irpc_clock_advance(t->clock, 50 * MS));
  assert_irpc_err(rig_hang_canceled, IRPC_EDEADLINE);
  kit_run_until(&t->n.loop, &out.done);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_DEADLINE_EXCEEDED);
  assert_string_equal(out.message, "The request deadline has expired.");
  /* Expired on arrival: the dispatcher never runs. */
  rig_hang_canceled = 0;
  pn_call(t, req, &out);
  assert_int_equal(out.status, IRPC_STATUS_DEADLINE_EXCEEDED);
  assert_int_equal(t->spy.requests, 2);
  assert_int_equal(rig_hang_canceled, 0);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  pn_fini(t);
}

/* ---- Metrics ---- */

static void test_metrics(void **state) {
  (void)state;
  pn t;
  pn_init(&t);
  irpc_metrics *mc, *ms;
  assert_irpc_ok(irpc_metrics_new(&mc, "client"));
  assert_irpc_ok(irpc_metrics_new(&ms, "server"));
  irpc_invoker *ic;
  assert_irpc_ok(irpc_metrics_interceptor_new(&ic, &t.n.loop, mc, NULL));
  pn_use(&t, ic);
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_metrics_middleware_new(&mw, &t.n.loop, ms, NULL));
  pn_mw(&t, mw);
  net_map(&t.n, "/echo", &test_echo_ops, NULL);
  net_map(&t.n, "/fail", &fail_ops, NULL);
  pn_start(&t);

  outcome out;
  outcome_init(&out);
  const char *paths[] = {"/echo", "/echo", "/fail", "/nowhere", "/echo"};
  for (int i = 0; i < 5; i++) {
    irpc_outgoing_request *req = kit_request(paths[i], "x", 1);
    pn_call(&t, req, &out);
    assert_irpc_ok(out.err);
    irpc_outgoing_request_free(req);
  }
  irpc_metrics_snapshot c, s;
  assert_irpc_ok(irpc_metrics_read(mc, &c));
  assert_irpc_ok(irpc_metrics_read(ms, &s));
  assert_int_equal(c.total, 5);
  assert_int_equal(c.current, 0);
  assert_int_equal(c.failed, 2); /* ApplicationError and NotFound */
  assert_int_equal(c.canceled, 0);
  assert_true(c.p50_ns > 0 && c.max_ns >= c.p50_ns);
  assert_int_equal(s.total, 5);
  assert_int_equal(s.current, 0);
  assert_int_equal(s.failed, 2);
  assert_true(s.max_ns > 0);
  irpc_metrics *both[2] = {mc, ms};
  irpc_buf *text;
  assert_irpc_ok(irpc_buf_new(&text));
  assert_irpc_ok(irpc_metrics_write_prometheus(both, 2, text));
  assert_irpc_ok(irpc_buf_append(text, "", 1));
  irpc_bytes flat;
  assert_irpc_ok(irpc_buf_pullup(text, &flat));
  const char *p = (const char *)flat.base;
  assert_non_null(
      strstr(p, "irpc_invocation_requests_total{pipeline=\"client\"} 5\n"));
  assert_non_null(
      strstr(p, "irpc_dispatch_failed_requests_total{router=\"server\"} 2\n"));
  irpc_buf_free(text);
  outcome_fini(&out);
  pn_fini(&t);
  irpc_metrics_free(mc);
  irpc_metrics_free(ms);
}

/* ---- Request context ---- */

static void context_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const irpc_context *c = irpc_features_get(irpc_incoming_request_features(req),
                                            &irpc_request_context_feature);
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  char text[64];
  snprintf(text, sizeof text, "%zu:%s/%s", c ? irpc_context_count(c) : 0,
           c ? irpc_context_get(c, "tenant") : "-",
           c ? irpc_context_get(c, "user") : "-");
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_response_payload(resp), text,
                                 strlen(text)));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops context_ops = {.struct_size =
                                                    sizeof(irpc_dispatcher_ops),
                                                .name = "context",
                                                .dispatch = context_dispatch};

static void test_request_context(void **state) {
  (void)state;
  pn t;
  pn_init(&t);
  irpc_invoker *ic;
  assert_irpc_ok(irpc_request_context_interceptor_new(&ic, &t.n.loop));
  pn_use(&t, ic);
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_request_context_middleware_new(&mw, &t.n.loop));
  pn_mw(&t, mw);
  net_map(&t.n, "/ctx", &context_ops, NULL);
  pn_start(&t);

  irpc_outgoing_request *req = kit_request("/ctx", NULL, 0);
  irpc_context *c;
  assert_irpc_ok(irpc_context_new(&c));
  assert_irpc_ok(irpc_context_set(c, "tenant", "42"));
  assert_irpc_ok(irpc_context_set(c, "user", "ana"));
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &irpc_request_context_feature, c));
  outcome out;
  outcome_init(&out);
  pn_call(&t, req, &out);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  /* Field 0 on the wire: Slice Dictionary<string, string>. */
  static const uint8_t want[] = {0x08, /* 2 entries */
                                 0x18, 't',  'e', 'n',  'a', 'n', 't',
                                 0x08, '4',  '2', 0x10, 'u', 's', 'e',
                                 'r',  0x0C, 'a', 'n',  'a'};
  assert_field(t.spy.fields, IRPC_REQUEST_FIELD_CONTEXT, want, sizeof want);
  assert_true(irpc_buf_equals(out.payload, "2:42/ana", 8));
  /* The same request again, its context emptied: no field is sent. */
  assert_irpc_ok(irpc_context_remove(c, "tenant"));
  assert_irpc_ok(irpc_context_remove(c, "user"));
  pn_call(&t, req, &out);
  assert_false(irpc_fields_has(t.spy.fields, IRPC_REQUEST_FIELD_CONTEXT));
  assert_true(irpc_buf_equals(out.payload, "0:-/-", 5));
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  pn_fini(&t);
}

/* ---- Telemetry ---- */

typedef struct spans {
  int client_start, client_end, server_start, server_end;
  int client_err;
  uint64_t client_status, server_status;
  uint8_t parent_trace[16], parent_span[8];
  uint8_t seen_trace[16]; /* the feature, read by the dispatcher */
} spans;

static spans sp;

static void *span_start(void *ud, int kind, const char *path,
                        const char *operation, const irpc_trace_context *parent,
                        irpc_trace_context *ctx) {
  (void)ud;
  (void)operation;
  assert_string_equal(path, "/traced");
  if (kind == IRPC_SPAN_CLIENT) {
    sp.client_start++;
    assert_null(parent);
    for (int i = 0; i < 16; i++)
      ctx->trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++)
      ctx->span_id[i] = (uint8_t)(0xA1 + i);
    ctx->trace_flags = 1;
    return &sp.client_start;
  }
  sp.server_start++;
  assert_non_null(parent);
  memcpy(sp.parent_trace, parent->trace_id, 16);
  memcpy(sp.parent_span, parent->span_id, 8);
  return &sp.server_start;
}

static void span_end(void *ud, void *span, int err, uint64_t status) {
  (void)ud;
  if (span == &sp.client_start) {
    sp.client_end++;
    sp.client_err = err;
    sp.client_status = status;
  } else {
    assert_ptr_equal(span, &sp.server_start);
    sp.server_end++;
    sp.server_status = status;
  }
}

static void traced_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const irpc_trace_context *c = irpc_features_get(
      irpc_incoming_request_features(irpc_dispatch_request(d)),
      &irpc_trace_context_feature);
  assert_non_null(c);
  memcpy(sp.seen_trace, c->trace_id, 16);
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops traced_ops = {.struct_size =
                                                   sizeof(irpc_dispatcher_ops),
                                               .name = "traced",
                                               .dispatch = traced_dispatch};

static void test_telemetry(void **state) {
  (void)state;
  memset(&sp, 0, sizeof sp);
  pn t;
  pn_init(&t);
  irpc_telemetry_hooks hooks = {.struct_size = sizeof(irpc_telemetry_hooks),
                                .start = span_start,
                                .end = span_end};
  irpc_invoker *ic;
  assert_irpc_ok(irpc_telemetry_interceptor_new(&ic, &t.n.loop, &hooks));
  pn_use(&t, ic);
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_telemetry_middleware_new(&mw, &t.n.loop, &hooks));
  pn_mw(&t, mw);
  net_map(&t.n, "/traced", &traced_ops, NULL);
  pn_start(&t);

  irpc_outgoing_request *req = kit_request("/traced", NULL, 0);
  outcome out;
  outcome_init(&out);
  pn_call(&t, req, &out);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  /* Field 1 on the wire, as IceRPC encodes it. */
  static const uint8_t want[] = {
      0x00,                                           /* version */
      1,    2,    3,    4,    5,    6,    7,    8,    /* trace id */
      9,    10,   11,   12,   13,   14,   15,   16,   /* */
      0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, /* span id */
      0x01,                                           /* sampled */
      0x00,                                           /* no tracestate */
      0x00};                                          /* no baggage */
  assert_field(t.spy.fields, IRPC_REQUEST_FIELD_TRACE_CONTEXT, want,
               sizeof want);
  /* The server span's parent is the client span; the dispatch sees the
   * trace; every span ended once, with the status. */
  assert_int_equal(sp.client_start, 1);
  assert_int_equal(sp.server_start, 1);
  assert_memory_equal(sp.parent_trace, want + 1, 16);
  assert_memory_equal(sp.parent_span, want + 17, 8);
  assert_memory_equal(sp.seen_trace, want + 1, 16);
  assert_int_equal(sp.server_end, 1);
  assert_int_equal(sp.server_status, IRPC_STATUS_OK);
  assert_int_equal(sp.client_end, 1);
  assert_irpc_ok(sp.client_err);
  assert_int_equal(sp.client_status, IRPC_STATUS_OK);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  pn_fini(&t);
}

/* ---- Use feature ---- */

static const irpc_feature_key client_key = {.name = "client-only"};
static const irpc_feature_key server_key = {.name = "server-only"};
static int client_value, server_value;
static int probe_saw;

/* Last in the pipeline: the feature set by the interceptor reached the
 * terminal. */
static void probe_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  probe_saw =
      irpc_features_get(irpc_outgoing_request_features(irpc_call_request(call)),
                        &client_key) == &client_value;
  irpc_call_next(call);
}

static const irpc_invoker_ops probe_ops = {.struct_size =
                                               sizeof(irpc_invoker_ops),
                                           .name = "probe",
                                           .invoke = probe_invoke};

/* Answers Ok only when the middleware's feature is there and the client's
 * (local, never sent) is not. */
static void feature_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_features *f = irpc_incoming_request_features(irpc_dispatch_request(d));
  int ok = irpc_features_get(f, &server_key) == &server_value &&
           irpc_features_get(f, &client_key) == NULL;
  irpc_dispatch_reply(d, ok ? IRPC_STATUS_OK : IRPC_STATUS_APPLICATION_ERROR,
                      ok ? NULL : "feature");
}

static const irpc_dispatcher_ops feature_ops = {.struct_size =
                                                    sizeof(irpc_dispatcher_ops),
                                                .name = "feature",
                                                .dispatch = feature_dispatch};

static void test_use_feature(void **state) {
  (void)state;
  pn t;
  pn_init(&t);
  irpc_invoker *ic, *probe;
  assert_irpc_ok(irpc_use_feature_interceptor_new(&ic, &t.n.loop, &client_key,
                                                  &client_value));
  pn_use(&t, ic);
  assert_irpc_ok(irpc_invoker_new(&probe, &t.n.loop, &probe_ops, NULL));
  pn_use(&t, probe);
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_use_feature_middleware_new(&mw, &t.n.loop, &server_key,
                                                 &server_value));
  pn_mw(&t, mw);
  net_map(&t.n, "/feature", &feature_ops, NULL);
  pn_start(&t);

  irpc_outgoing_request *req = kit_request("/feature", NULL, 0);
  outcome out;
  outcome_init(&out);
  probe_saw = 0;
  pn_call(&t, req, &out);
  assert_irpc_ok(out.err);
  assert_int_equal(out.status, IRPC_STATUS_OK);
  assert_true(probe_saw);
  assert_ptr_equal(
      irpc_features_get(irpc_outgoing_request_features(req), &client_key),
      &client_value);
  irpc_outgoing_request_free(req);
  outcome_fini(&out);
  pn_fini(&t);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logger),
      cmocka_unit_test(test_compress_zstd),
      cmocka_unit_test(test_compress_brotli),
      cmocka_unit_test(test_compress_deflate),
      cmocka_unit_test(test_zstd_negotiation),
      cmocka_unit_test(test_deadline_expires_both_sides),
      cmocka_unit_test(test_deadline_server_side),
      cmocka_unit_test(test_metrics),
      cmocka_unit_test(test_request_context),
      cmocka_unit_test(test_telemetry),
      cmocka_unit_test(test_use_feature),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
