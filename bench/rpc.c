/* irpc-bench rpc / serve: the cost of a call over the network.
 *
 * Client and server run on one loop, on one thread (pin the process with
 * taskset to keep them on one CPU). Each figure comes with a baseline
 * measured in the same run over the same transport with raw libuv:
 *   latency   empty two-way calls one at a time (p50, p99), next to a
 *             16-byte ping-pong;
 *   rate      calls per second with 1, 64 and 1,024 calls in flight on one
 *             connection, next to a pipelined 16-byte echo with as many
 *             messages in flight;
 *   bulk      1 MiB echo calls one at a time: MB/s of request payload, with
 *             the default and tuned Slic window and frame sizes, next to a
 *             raw 1 MiB echo.
 *   idle      RSS per idle connection per side, with N connections open to
 *             a server in a child process (--idle N).
 *   allocs    allocations per call in steady state, client and server
 *             apart, empty calls and calls through the built-in
 *             interceptors and middleware, over TCP, UDS and the memory
 *             transport (bench/allocs.c: a process of its own, which
 *             --allocs runs alone; none with --server).
 *
 *   irpc-bench rpc [--protocol icerpc|ice] [--transport tcp|uds|all]
 *                  [--server ADDRESS] [--seconds S] [--idle N] [--json FILE]
 *                                the same figures over either protocol
 *                                (ice: no Slic window; its max message
 *                                size raised to BENCH_ICE_MAX_MESSAGE for
 *                                the 1 MiB echo); --server calls the echo
 *                                server of another process at ADDRESS
 *                                (irpc-bench serve, or Ice's) instead of
 *                                one in this process, with no raw baseline
 *                                (0), over the one transport of ADDRESS
 *   irpc-bench rpc --tls [--seconds S] [--json FILE]
 *                                icerpc over TLS next to plain TCP
 *                                (bench/tls.c)
 *   irpc-bench serve [--compress] [--tls-cert F --tls-key F [--tls-ca F]
 *                    [--tls-client-auth none|optional|required]] ADDRESS
 *                                echo server on /echo (and /stream: a
 *                                request read as a stream, answered at
 *                                once, the rest read and dropped) until
 *                                SIGTERM or SIGINT, then a graceful
 *                                shutdown (see below); with --compress,
 *                                the compress middleware and responses
 *                                offered for compression. An ice://
 *                                ADDRESS serves
 *                                the same echo over ice: the reply carries
 *                                the request's encapsulation back. With
 *                                --tls-cert and --tls-key it speaks TLS
 *                                (for ice://...?transport=ssl too). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <irpc/irpc.h>

#include "bench_rpc.h"
#include "benchutil.h"
#ifdef IRPC_BENCH_TLS
#include "bench_tls.h"
#endif

/* ---- The echo service ---- */

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(resp),
                irpc_incoming_request_payload(irpc_dispatch_request(d)));
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo_dispatch};

/* With the compress middleware: every response is offered for compression
 * (the middleware compresses it when it is big enough, shrinks, and the
 * client reads the format). */
static void compress_echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  irpc_incoming_request *req = irpc_dispatch_request(d);
  if (irpc_features_set_compress(irpc_incoming_request_features(req), 1)) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  echo_dispatch(self, d);
}

static const irpc_dispatcher_ops compress_echo_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "echo",
    .dispatch = compress_echo_dispatch};

int bench_echo_router(irpc_router **out, irpc_dispatcher **echo,
                      uv_loop_t *loop, int compress) {
  int rc = irpc_router_new(out, loop);
  if (rc == 0 && compress) {
    irpc_dispatcher *mw;
    if ((rc = irpc_compress_middleware_new(&mw, loop, NULL)) == 0 &&
        (rc = irpc_router_use(*out, mw)) != 0)
      irpc_dispatcher_free(mw);
  }
  if (rc == 0)
    rc = irpc_dispatcher_new(echo, loop,
                             compress ? &compress_echo_ops : &echo_ops, NULL);
  if (rc == 0)
    rc = irpc_router_map(*out, "/echo", *echo);
  return rc;
}

/* ---- Raw libuv baselines: a server that echoes every byte, a client
 * that keeps `inflight` messages of `size` bytes going. ---- */

typedef struct raw_conn {
  uv_stream_t *s;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
} raw_conn;

typedef struct raw {
  uv_loop_t *loop;
  int uds;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } listener;
  raw_conn server_side;
  raw_conn client_side;
  int connected;
  size_t size;
  size_t inflight;
  size_t got;    /* bytes of the current message(s) received */
  uint64_t done; /* messages completed */
  uint64_t target;
  uint64_t t0;
  uint64_t *lat;
  char *msg;
  char rbuf[65536];
  uv_connect_t creq;
} raw;

static void raw_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  raw *r = h->data;
  (void)sz;
  b->base = r->rbuf;
  b->len = sizeof r->rbuf;
}

typedef struct raw_wreq {
  uv_write_t w;
  char data[];
} raw_wreq;

static void raw_wdone(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void raw_write(uv_stream_t *s, const char *data, size_t len) {
  raw_wreq *w = malloc(sizeof(*w) + len);
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  uv_write(&w->w, s, &b, 1, raw_wdone);
}

static void raw_echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  if (n > 0)
    raw_write(s, b->base, (size_t)n);
}

static void raw_send(raw *r) {
  r->t0 = bench_now_ns();
  raw_write(r->client_side.s, r->msg, r->size);
}

static void raw_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  raw *r = s->data;
  (void)b;
  if (n <= 0)
    return;
  r->got += (size_t)n;
  while (r->got >= r->size) {
    r->got -= r->size;
    if (r->lat)
      r->lat[r->done] = bench_now_ns() - r->t0;
    r->done++;
    if (r->done + r->inflight <= r->target)
      raw_send(r);
  }
}

static void raw_on_conn(uv_stream_t *l, int status) {
  raw *r = l->data;
  (void)status;
  raw_conn *c = &r->server_side;
  if (r->uds)
    uv_pipe_init(r->loop, &c->h.pipe, 0);
  else
    uv_tcp_init(r->loop, &c->h.tcp);
  c->s = (uv_stream_t *)&c->h;
  c->s->data = r;
  uv_accept(l, c->s);
  if (!r->uds)
    uv_tcp_nodelay(&c->h.tcp, 1);
  uv_read_start(c->s, raw_alloc, raw_echo_read);
}

static void raw_on_connect(uv_connect_t *req, int status) {
  raw *r = req->data;
  (void)status;
  r->connected = 1;
}

static int raw_setup(raw *r, uv_loop_t *loop, int uds, const char *path) {
  memset(r, 0, sizeof(*r));
  r->loop = loop;
  r->uds = uds;
  raw_conn *c = &r->client_side;
  if (uds) {
    uv_pipe_init(loop, &r->listener.pipe, 0);
    unlink(path);
    if (uv_pipe_bind(&r->listener.pipe, path))
      return -1;
    uv_pipe_init(loop, &c->h.pipe, 0);
  } else {
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &r->listener.tcp);
    uv_tcp_bind(&r->listener.tcp, (struct sockaddr *)&a, 0);
    uv_tcp_init(loop, &c->h.tcp);
  }
  r->listener.tcp.data = r;
  uv_listen((uv_stream_t *)&r->listener, 128, raw_on_conn);
  c->s = (uv_stream_t *)&c->h;
  c->s->data = r;
  r->creq.data = r;
  if (uds) {
    uv_pipe_connect(&r->creq, &c->h.pipe, path, raw_on_connect);
  } else {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&r->listener.tcp, (struct sockaddr *)&ss, &len);
    uv_tcp_nodelay(&c->h.tcp, 1);
    uv_tcp_connect(&r->creq, &c->h.tcp, (struct sockaddr *)&ss, raw_on_connect);
  }
  while (!r->connected || !r->server_side.s)
    uv_run(loop, UV_RUN_ONCE);
  uv_read_start(c->s, raw_alloc, raw_client_read);
  return 0;
}

/* Runs `target` messages of `size` bytes with `inflight` going at once;
 * returns the elapsed ns. */
static uint64_t raw_run(raw *r, size_t size, size_t inflight, uint64_t target,
                        uint64_t *lat) {
  free(r->msg);
  r->msg = calloc(1, size);
  r->size = size;
  r->inflight = inflight;
  r->target = target;
  r->done = 0;
  r->got = 0;
  r->lat = lat;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < inflight && i < target; i++)
    raw_send(r);
  while (r->done < target)
    uv_run(r->loop, UV_RUN_ONCE);
  return bench_now_ns() - t0;
}

static void raw_teardown(raw *r) {
  uv_close((uv_handle_t *)r->client_side.s, NULL);
  uv_close((uv_handle_t *)r->server_side.s, NULL);
  uv_close((uv_handle_t *)&r->listener, NULL);
  free(r->msg); /* the handles finish closing with the loop's last run */
}

/* ---- One transport ---- */

typedef struct opts {
  const char *protocol; /* "icerpc" or "ice" */
  const char *server;   /* --server: call this server (another process) */
  double seconds;
  const char *json;
  int idle;
  const char *self; /* argv[0], for the child server */
} opts;

static void record(bench_json *j, const char *transport, const char *name,
                   double p50, double p99, double cps, double mbps, double bp50,
                   double bmsgs, double bmbps) {
  bench_json_begin(j);
  bench_json_str(j, "transport", transport);
  bench_json_str(j, "case", name);
  bench_json_num(j, "p50_us", p50);
  bench_json_num(j, "p99_us", p99);
  bench_json_num(j, "calls_per_s", cps);
  bench_json_num(j, "mb_per_s", mbps);
  bench_json_num(j, "baseline_p50_us", bp50);
  bench_json_num(j, "baseline_msgs_per_s", bmsgs);
  bench_json_num(j, "baseline_mb_per_s", bmbps);
  bench_json_end(j);
}

/* The ice options of the benchmark: messages up to
 * BENCH_ICE_MAX_MESSAGE (a 1 MiB echo is over Ice's 1 MiB default). */
static void bench_ice_options(irpc_ice_options *io) {
  irpc_ice_options_init(io);
  io->max_message_size = BENCH_ICE_MAX_MESSAGE;
}

static int client_for(irpc_invoker **inv, uv_loop_t *loop, const char *addr,
                      uint64_t window, uint64_t frame) {
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  irpc_icerpc_options io;
  irpc_icerpc_options_init(&io);
  io.initial_stream_window_size = window;
  io.max_stream_frame_size = frame;
  o.icerpc = &io;
  irpc_ice_options iio;
  bench_ice_options(&iio);
  o.ice = &iio;
  return irpc_client_connection_new(inv, loop, addr, &o);
}

static void client_close(uv_loop_t *loop, irpc_invoker *inv) {
  bench_client_shutdown(loop, inv);
  irpc_invoker_free(inv);
}

static void bench_transport(const opts *o, bench_json *j, int uds) {
  int ice = strcmp(o->protocol, "ice") == 0;
  const char *tname =
      uds ? (ice ? "uds/ice" : "uds") : (ice ? "tcp/ice" : "tcp");
  uv_loop_t loop;
  uv_loop_init(&loop);
  char dir[] = "/tmp/irpc-bench-XXXXXX";
  char listen[128], rawpath[128], bound[256];
  if (uds) {
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      exit(1);
    }
    if (ice)
      snprintf(listen, sizeof listen,
               "ice://localhost?transport=uds&path=%s/irpc.sock", dir);
    else
      snprintf(listen, sizeof listen, "unix:%s/irpc.sock", dir);
    snprintf(rawpath, sizeof rawpath, "%s/raw.sock", dir);
  } else {
    snprintf(listen, sizeof listen, "%s://127.0.0.1:0", o->protocol);
  }
  irpc_router *router;
  irpc_dispatcher *echo;
  irpc_server *server;
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_icerpc_options sio;
  irpc_icerpc_options_init(&sio);
  sio.initial_stream_window_size = BENCH_TUNED_WINDOW;
  sio.max_stream_frame_size = BENCH_TUNED_FRAME;
  so.connection.icerpc = &sio;
  irpc_ice_options siio;
  bench_ice_options(&siio);
  so.connection.ice = &siio;
  if (bench_echo_router(&router, &echo, &loop, 0) ||
      irpc_server_new(&server, &loop, irpc_router_dispatcher(router), &so) ||
      irpc_server_listen(server, listen, bound, sizeof bound)) {
    fprintf(stderr, "server setup failed on %s\n", listen);
    exit(1);
  }
  raw rw;
  int remote = o->server != NULL;
  if (remote) {
    /* The server of another process: no raw baseline (0 below). */
    snprintf(bound, sizeof bound, "%s", o->server);
  } else if (raw_setup(&rw, &loop, uds, rawpath)) {
    fprintf(stderr, "raw setup failed\n");
    exit(1);
  }

  irpc_invoker *inv;
  client_for(&inv, &loop, bound, 65536, 32768);
  bench_calls k = {.loop = &loop, .inv = inv};
  irpc_outgoing_request_new(&k.req, "/echo", "op");
  bench_calls_run(&k, 1, 2000, NULL); /* connect and warm up */
  if (!remote)
    raw_run(&rw, 16, 1, 2000, NULL);

  /* (a) latency */
  uint64_t n = bench_count_for(o->seconds, 20000, 2000);
  uint64_t *lat = calloc(n, sizeof(*lat));
  uint64_t *blat = calloc(n, sizeof(*blat));
  if (!remote)
    raw_run(&rw, 16, 1, n, blat);
  else
    for (uint64_t i = 0; i < n; i++)
      blat[i] = 1000;
  bench_calls_run(&k, 1, n, lat);
  double bp50 = bench_pct_us(blat, n, 0.5), bp99 = bench_pct_us(blat, n, 0.99);
  double p50 = bench_pct_us(lat, n, 0.5), p99 = bench_pct_us(lat, n, 0.99);
  printf("%-7s latency        p50 %7.1f us  p99 %7.1f us   raw p50 %7.1f us  "
         "p99 %7.1f us   ratio %.2fx\n",
         tname, p50, p99, bp50, bp99, p50 / bp50);
  record(j, tname, "latency", p50, p99, 1e6 / p50, 0, bp50, 1e6 / bp50, 0);
  (void)bp99;
  free(lat);
  free(blat);

  /* (b) rate with 1, 64, 1024 in flight */
  static const size_t depths[] = {1, 64, 1024};
  for (size_t i = 0; i < 3; i++) {
    uint64_t m = bench_count_for(o->seconds, depths[i] == 1 ? 20000 : 100000,
                                 depths[i] * 4);
    double braw =
        remote
            ? 0
            : (double)m / ((double)raw_run(&rw, 16, depths[i], m, NULL) / 1e9);
    double rate =
        (double)m / ((double)bench_calls_run(&k, depths[i], m, NULL) / 1e9);
    char name[32];
    snprintf(name, sizeof name, "inflight_%zu", depths[i]);
    printf("%-7s %-14s %10.0f calls/s   raw %10.0f msgs/s   ratio %.2f\n",
           tname, name, rate, braw, rate / braw);
    record(j, tname, name, 0, 0, rate, 0, 0, braw, 0);
  }

  /* (c) 1 MiB echo: default and tuned window/frame sizes */
  size_t mib = 1u << 20;
  irpc_buf_clear(irpc_outgoing_request_payload(k.req));
  void *blob = calloc(1, mib);
  irpc_buf_append(irpc_outgoing_request_payload(k.req), blob, mib);
  free(blob);
  uint64_t m = bench_count_for(o->seconds, 500, 20);
  double braw = remote
                    ? 0
                    : (double)m * (double)mib /
                          ((double)raw_run(&rw, mib, 1, m, NULL) / 1e9) / 1e6;
  double def = (double)m * (double)mib /
               ((double)bench_calls_run(&k, 1, m, NULL) / 1e9) / 1e6;
  client_close(&loop, inv);
  client_for(&inv, &loop, bound, BENCH_TUNED_WINDOW, BENCH_TUNED_FRAME);
  k.inv = inv;
  bench_calls_run(&k, 1, 3, NULL);
  double tuned = (double)m * (double)mib /
                 ((double)bench_calls_run(&k, 1, m, NULL) / 1e9) / 1e6;
  printf("%-7s echo_1MiB      default %7.0f MB/s  tuned %7.0f MB/s   raw "
         "%7.0f MB/s\n",
         tname, def, tuned, braw);
  record(j, tname, "echo_1MiB_default", 0, 0, 0, def, 0, 0, braw);
  record(j, tname, "echo_1MiB_tuned", 0, 0, 0, tuned, 0, 0, braw);
  if (k.failed)
    fprintf(stderr, "%s: %llu calls failed\n", tname,
            (unsigned long long)k.failed);

  client_close(&loop, inv);
  irpc_outgoing_request_free(k.req);
  if (!remote)
    raw_teardown(&rw);
  /* Nothing is in flight: the router can go with the server. */
  irpc_server_free(server);
  irpc_router_free(router);
  irpc_dispatcher_free(echo);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (uds) {
    unlink(rawpath);
    char p[160];
    snprintf(p, sizeof p, "%s/irpc.sock", dir);
    unlink(p);
    rmdir(dir);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: irpc-bench rpc [--protocol icerpc|ice] [--transport "
          "tcp|uds|all]\n"
          "                      [--server ADDRESS] [--seconds S] [--idle N]"
          " [--json FILE]\n"
          "       irpc-bench rpc --allocs [--protocol icerpc|ice] [--transport "
          "tcp|uds|memory|all]\n"
          "       irpc-bench rpc --tls [--seconds S] [--json FILE]\n"
          "       irpc-bench serve [--compress] [--tls-cert F --tls-key F"
          " [--tls-ca F]\n"
          "                        [--tls-client-auth none|optional|required]]"
          " ADDRESS\n");
  exit(2);
}

int bench_rpc_main(int argc, char **argv) {
  opts o = {.protocol = "icerpc", .seconds = 1.0, .self = argv[0]};
  const char *transport = "all";
  int tls = 0, allocs = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tls"))
      tls = 1;
    else if (!strcmp(argv[i], "--allocs"))
      allocs = 1;
    else if (!strcmp(argv[i], "--transport") && i + 1 < argc)
      transport = argv[++i];
    else if (!strcmp(argv[i], "--server") && i + 1 < argc)
      o.server = argv[++i];
    else if (!strcmp(argv[i], "--protocol") && i + 1 < argc &&
             (!strcmp(argv[i + 1], "icerpc") || !strcmp(argv[i + 1], "ice")))
      o.protocol = argv[++i];
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      o.seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      o.json = argv[++i];
    else if (!strcmp(argv[i], "--idle") && i + 1 < argc)
      o.idle = atoi(argv[++i]);
    else
      usage();
  }
  if (allocs) /* the child of bench_allocs */
    return bench_allocs_main(o.protocol, transport, o.seconds);
  if (o.server && !strcmp(transport, "all"))
    transport = "tcp"; /* the one transport of the server's address */
  bench_json j;
  if (bench_json_open(&j, o.json)) {
    perror(o.json);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  if (tls) {
#ifdef IRPC_BENCH_TLS
    int rc = bench_tls_run(o.seconds, &j);
    bench_json_close(&j);
    return rc;
#else
    fprintf(stderr, "irpc-bench: this build has no TLS\n");
    return 2;
#endif
  }
  if (!strcmp(o.protocol, "ice"))
    printf("client and server on one loop, one thread; protocol ice (no "
           "window: default and tuned are the same)\n");
  else
    printf("client and server on one loop, one thread; Slic window/frame: "
           "default 65536/32768, tuned %u/%u\n",
           BENCH_TUNED_WINDOW, BENCH_TUNED_FRAME);
  if (!strcmp(transport, "tcp") || !strcmp(transport, "all"))
    bench_transport(&o, &j, 0);
  if (!strcmp(transport, "uds") || !strcmp(transport, "all"))
    bench_transport(&o, &j, 1);
  if (!o.server)
    bench_allocs(o.self, o.protocol, transport, o.seconds, &j);
  if (o.idle > 0)
    bench_idle(o.self, o.idle, &j);
  bench_json_close(&j);
  return 0;
}

/* ---- serve ----
 *
 * Runs until SIGTERM or SIGINT, then shuts down as a production server
 * does: stops listening, sends GoAway to every client, lets the calls in
 * flight complete, and exits 0 (1 when some connection had to be aborted
 * after the shutdown timeout). A second signal aborts at once.
 *
 * /hold answers a call only once the server is shutting down (a moment
 * after the signal), so a test can have a call in flight when it sends
 * the signal and check that the call still completes. */

#define HOLD_MAX 64

typedef struct serve_state {
  uv_loop_t *loop;
  irpc_server *server;
  irpc_router *router;
  irpc_dispatcher *echo, *hold;
  uv_signal_t sigterm, sigint;
  uv_timer_t release; /* answers the held calls */
  irpc_dispatch *held[HOLD_MAX];
  int nheld;
  int stopping;
  int status; /* the exit status */
} serve_state;

static serve_state serve;

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  if (serve.stopping || serve.nheld == HOLD_MAX) {
    echo_dispatch(self, d);
    return;
  }
  serve.held[serve.nheld++] = d;
}

static const irpc_dispatcher_ops hold_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hold",
                                             .dispatch = hold_dispatch};

static void release_held(uv_timer_t *t) {
  (void)t;
  for (int i = 0; i < serve.nheld; i++)
    echo_dispatch(serve.hold, serve.held[i]);
  serve.nheld = 0;
}

static void serve_close_handles(void) {
  uv_close((uv_handle_t *)&serve.sigterm, NULL);
  uv_close((uv_handle_t *)&serve.sigint, NULL);
  uv_close((uv_handle_t *)&serve.release, NULL);
}

/* The server is down (freed after the loop returns: not from inside its
 * own callback). */
static void serve_down(irpc_server *s, int status, void *ud) {
  (void)s;
  (void)ud;
  if (status) {
    fprintf(stderr, "irpc-bench serve: shutdown: %s\n", irpc_strerror(status));
    serve.status = 1;
  }
  serve_close_handles();
}

static void on_stop_signal(uv_signal_t *s, int sig) {
  (void)s;
  if (serve.stopping) {
    /* A second signal: abort what is left. */
    fprintf(stderr, "irpc-bench serve: aborting\n");
    for (int i = 0; i < serve.nheld; i++)
      irpc_dispatch_reply(serve.held[i], IRPC_STATUS_UNAVAILABLE, NULL);
    serve.nheld = 0;
    irpc_server_free(serve.server);
    serve.server = NULL;
    serve.status = 1;
    serve_close_handles();
    return;
  }
  serve.stopping = 1;
  fprintf(stderr, "irpc-bench serve: %s, shutting down\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (irpc_server_shutdown(serve.server, serve_down, NULL) != 0) {
    serve.status = 1;
    serve_close_handles();
    return;
  }
  uv_timer_start(&serve.release, release_held, 20, 0);
}

int bench_serve_main(int argc, char **argv) {
  const char *address = NULL;
  const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
  const char *tls_auth = NULL;
  int compress = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--compress"))
      compress = 1;
    else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc)
      tls_cert = argv[++i];
    else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc)
      tls_key = argv[++i];
    else if (!strcmp(argv[i], "--tls-ca") && i + 1 < argc)
      tls_ca = argv[++i];
    else if (!strcmp(argv[i], "--tls-client-auth") && i + 1 < argc)
      tls_auth = argv[++i];
    else if (argv[i][0] != '-' && !address)
      address = argv[i];
    else
      usage();
  }
  if (!address)
    usage();
  uv_loop_t loop;
  uv_loop_init(&loop);
  serve.loop = &loop;
  char bound[256];
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_icerpc_options sio;
  irpc_icerpc_options_init(&sio);
  sio.initial_stream_window_size = BENCH_TUNED_WINDOW;
  sio.max_stream_frame_size = BENCH_TUNED_FRAME;
  so.connection.icerpc = &sio;
  irpc_ice_options siio;
  bench_ice_options(&siio);
  so.connection.ice = &siio;
  so.connection.inactivity_timeout_ms = 0;
  irpc_tls_server *tls = NULL;
  int rc = 0;
  if (tls_cert || tls_key || tls_ca || tls_auth) {
#ifdef IRPC_BENCH_TLS
    rc = bench_tls_server_options(&so, tls_cert, tls_key, tls_ca, tls_auth,
                                  &tls);
#else
    rc = IRPC_ENOTSUP;
#endif
  }
  if (rc == 0)
    rc = bench_echo_router(&serve.router, &serve.echo, &loop, compress);
  if (rc == 0)
    rc = irpc_dispatcher_new(&serve.hold, &loop, &hold_ops, NULL);
  if (rc == 0)
    rc = irpc_router_map(serve.router, "/hold", serve.hold);
  irpc_dispatcher *stream_sink = NULL;
  if (rc == 0)
    rc = bench_stream_serve_map(serve.router, &loop, &sio, &stream_sink);
  if (rc == 0)
    rc = irpc_server_new(&serve.server, &loop,
                         irpc_router_dispatcher(serve.router), &so);
  if (rc == 0)
    rc = irpc_server_listen(serve.server, address, bound, sizeof bound);
  if (rc) {
    fprintf(stderr, "irpc-bench serve: %s\n", irpc_strerror(rc));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_signal_init(&loop, &serve.sigterm);
  uv_signal_start(&serve.sigterm, on_stop_signal, SIGTERM);
  uv_signal_init(&loop, &serve.sigint);
  uv_signal_start(&serve.sigint, on_stop_signal, SIGINT);
  uv_timer_init(&loop, &serve.release);
  printf("%s\n", bound);
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* Everything has closed: the server's connections, then the handles. */
  irpc_server_free(serve.server);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(serve.router);
  irpc_dispatcher_free(serve.echo);
  irpc_dispatcher_free(serve.hold);
  irpc_dispatcher_free(stream_sink);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_tls_server_free(tls);
  if (uv_loop_close(&loop) != 0)
    serve.status = 1;
  return serve.status;
}
