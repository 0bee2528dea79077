/* irpc-bench stream: the throughput of a payload continuation.
 *
 * Over TCP and a Unix domain socket, client and server on one loop and one
 * thread (pin the process with taskset to keep them on one CPU), in one
 * run:
 *   raw      the transport alone: libuv writes N bytes one way, 256 KiB at
 *            a time, the other side reads and drops them;
 *   echo     1 MiB echo calls one at a time: MB/s of request payload;
 *   stream   one request whose continuation carries N bytes (written as
 *            the writer takes them, 256 KiB at a time), the server reading
 *            them as they arrive and answering at the end: MB/s one way,
 *            and its share of raw;
 *   small    p50/p99 of empty calls one at a time on the same connection,
 *            alone and while a stream runs.
 * Slic window and frame sizes are the tuned ones of irpc-bench rpc.
 *
 *   irpc-bench stream [--mib N] [--transport tcp|uds|all] [--json FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <irpc/irpc.h>

#include "bench_rpc.h"
#include "benchutil.h"

#define CHUNK ((size_t)256 << 10)

static uv_loop_t loop;
static uint64_t total;
static uint8_t *chunk_bytes;

static void usage(void) {
  fprintf(stderr, "usage: irpc-bench stream [--mib N] "
                  "[--transport tcp|uds|all] [--json FILE]\n");
  exit(2);
}

/* ---- raw: libuv one way ---- */

typedef struct raw1 {
  uv_tcp_t ltcp, ctcp, stcp;
  uv_pipe_t lpipe, cpipe, spipe;
  uv_stream_t *listener, *client, *server;
  uv_connect_t connect;
  uint64_t sent, got;
  int inflight;
  int done;
  char buf[65536];
} raw1;

static void raw1_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  raw1 *r = h->data;
  (void)sz;
  *b = uv_buf_init(r->buf, sizeof r->buf);
}

static void raw1_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  raw1 *r = s->data;
  (void)b;
  if (n > 0) {
    r->got += (uint64_t)n;
    if (r->got >= total)
      r->done = 1;
  }
}

static void raw1_pump(raw1 *r);

static void raw1_wrote(uv_write_t *w, int status) {
  raw1 *r = w->data;
  (void)status;
  free(w);
  r->inflight--;
  raw1_pump(r);
}

static void raw1_pump(raw1 *r) {
  while (r->inflight < 4 && r->sent < total) {
    uv_write_t *w = malloc(sizeof(*w));
    w->data = r;
    size_t n = total - r->sent < CHUNK ? (size_t)(total - r->sent) : CHUNK;
    uv_buf_t b = uv_buf_init((char *)chunk_bytes, (unsigned)n);
    if (uv_write(w, r->client, &b, 1, raw1_wrote) != 0) {
      free(w);
      return;
    }
    r->inflight++;
    r->sent += n;
  }
}

static void raw1_on_conn(uv_stream_t *l, int status) {
  raw1 *r = l->data;
  if (status)
    return;
  if (r->listener == (uv_stream_t *)&r->ltcp) {
    uv_tcp_init(&loop, &r->stcp);
    r->server = (uv_stream_t *)&r->stcp;
  } else {
    uv_pipe_init(&loop, &r->spipe, 0);
    r->server = (uv_stream_t *)&r->spipe;
  }
  r->server->data = r;
  uv_accept(l, r->server);
  uv_read_start(r->server, raw1_alloc, raw1_read);
}

static void raw1_on_connect(uv_connect_t *c, int status) {
  raw1 *r = c->data;
  if (status == 0)
    raw1_pump(r);
}

/* MB/s of N bytes one way, or 0 on failure. */
static double run_raw(int uds, const char *path) {
  raw1 *r = calloc(1, sizeof(*r));
  r->connect.data = r;
  if (uds) {
    uv_pipe_init(&loop, &r->lpipe, 0);
    uv_pipe_init(&loop, &r->cpipe, 0);
    r->listener = (uv_stream_t *)&r->lpipe;
    r->client = (uv_stream_t *)&r->cpipe;
    unlink(path);
    if (uv_pipe_bind(&r->lpipe, path) != 0)
      return 0;
  } else {
    uv_tcp_init(&loop, &r->ltcp);
    uv_tcp_init(&loop, &r->ctcp);
    r->listener = (uv_stream_t *)&r->ltcp;
    r->client = (uv_stream_t *)&r->ctcp;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&r->ltcp, (const struct sockaddr *)&a, 0);
  }
  r->listener->data = r;
  r->client->data = r;
  uv_listen(r->listener, 16, raw1_on_conn);
  uint64_t t0 = bench_now_ns();
  if (uds) {
    uv_pipe_connect(&r->connect, &r->cpipe, path, raw1_on_connect);
  } else {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&r->ltcp, (struct sockaddr *)&ss, &len);
    uv_tcp_nodelay(&r->ctcp, 1);
    uv_tcp_connect(&r->connect, &r->ctcp, (const struct sockaddr *)&ss,
                   raw1_on_connect);
  }
  while (!r->done)
    uv_run(&loop, UV_RUN_ONCE);
  double secs = (double)(bench_now_ns() - t0) / 1e9;
  uv_close((uv_handle_t *)r->listener, NULL);
  uv_close((uv_handle_t *)r->client, NULL);
  if (r->server)
    uv_close((uv_handle_t *)r->server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  free(r);
  if (uds)
    unlink(path);
  return (double)total / secs / 1e6;
}

/* ---- irpc: the streaming service ---- */

typedef struct upload {
  irpc_dispatch *d;
  irpc_stream_reader *r;
  uint64_t got;
} upload;

static upload up;

static void up_data(irpc_stream_reader *r, irpc_buf *data, void *ud) {
  (void)r;
  (void)ud;
  up.got += irpc_buf_len(data);
}

static void up_end(irpc_stream_reader *r, int err, void *ud) {
  (void)r;
  (void)ud;
  irpc_dispatch *d = up.d;
  up.d = NULL;
  if (d)
    irpc_dispatch_reply(d, err ? IRPC_STATUS_TRUNCATED_PAYLOAD : IRPC_STATUS_OK,
                        NULL);
}

static const irpc_stream_reader_ops up_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = up_data,
    .on_end = up_end,
};

static void up_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_stream_reader_free(up.r);
  up.r = irpc_incoming_request_take_continuation(irpc_dispatch_request(d));
  up.d = d;
  up.got = 0;
  if (!up.r || irpc_stream_reader_start(up.r, &up_ops, NULL) != 0) {
    up.d = NULL;
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
  }
}

static const irpc_dispatcher_ops up_ops_d = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "upload",
    .dispatch = up_dispatch,
};

static int stream_request(void *ud, const char *path, const char *op) {
  (void)ud;
  (void)op;
  return strcmp(path, "/up") == 0;
}

/* The client's side of an upload. */
typedef struct producer {
  irpc_stream_writer *w;
  uint64_t sent;
  int ended;
} producer;

static void produce(producer *p) {
  while (p->sent < total) {
    size_t n = total - p->sent < CHUNK ? (size_t)(total - p->sent) : CHUNK;
    irpc_buf *b;
    if (irpc_buf_new(&b) != 0)
      return;
    /* static bytes, referenced: the benchmark measures irpc, not memcpy */
    irpc_buf_append_external(b, chunk_bytes, n, NULL, NULL);
    int rc = irpc_stream_writer_write(p->w, b);
    irpc_buf_free(b);
    if (rc)
      return; /* IRPC_EAGAIN: on_writable follows */
    p->sent += n;
  }
  irpc_stream_writer_end(p->w);
}

static void prod_writable(irpc_stream_writer *w, void *ud) {
  (void)w;
  produce(ud);
}

static void prod_end(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  producer *p = ud;
  p->ended = err ? err : 1;
}

static const irpc_stream_writer_ops prod_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = prod_writable,
    .on_end = prod_end,
};

typedef struct done_flag {
  int done;
  int err;
  uint64_t status;
} done_flag;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  done_flag *f = ud;
  f->done = 1;
  f->err = err;
  if (resp) {
    f->status = irpc_incoming_response_status(resp);
    irpc_incoming_response_free(resp);
  }
}

static int call_sync(irpc_invoker *inv, irpc_outgoing_request *req) {
  done_flag f = {0};
  if (irpc_invoke(inv, req, on_done, &f, NULL) != 0)
    return -1;
  while (!f.done)
    uv_run(&loop, UV_RUN_ONCE);
  return f.err || f.status ? -1 : 0;
}

/* Starts an upload of N bytes; returns the request (the caller frees it). */
static irpc_outgoing_request *start_upload(irpc_invoker *inv, producer *p,
                                           done_flag *f) {
  memset(p, 0, sizeof(*p));
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, "/up", "put") != 0 ||
      irpc_stream_writer_new(&p->w, &loop, NULL, &prod_ops, p) != 0 ||
      irpc_outgoing_request_set_continuation(req, p->w) != 0) {
    fprintf(stderr, "irpc-bench stream: setup failed\n");
    exit(1);
  }
  produce(p);
  if (irpc_invoke(inv, req, on_done, f, NULL) != 0) {
    fprintf(stderr, "irpc-bench stream: invoke failed\n");
    exit(1);
  }
  return req;
}

static double run_stream(irpc_invoker *inv) {
  producer p;
  done_flag f = {0};
  uint64_t t0 = bench_now_ns();
  irpc_outgoing_request *req = start_upload(inv, &p, &f);
  while (!f.done)
    uv_run(&loop, UV_RUN_ONCE);
  double secs = (double)(bench_now_ns() - t0) / 1e9;
  while (!p.ended)
    uv_run(&loop, UV_RUN_ONCE);
  int ok = f.err == 0 && f.status == 0 && up.got == total;
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(req);
  return ok ? (double)total / secs / 1e6 : 0;
}

static double run_echo(irpc_invoker *inv) {
  uint64_t calls = total >> 20, t0 = bench_now_ns();
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, "/echo", "echo") != 0)
    return 0;
  irpc_buf_append_external(irpc_outgoing_request_payload(req), chunk_bytes,
                           (size_t)1 << 20, NULL, NULL);
  for (uint64_t i = 0; i < calls; i++)
    if (call_sync(inv, req) != 0) {
      irpc_outgoing_request_free(req);
      return 0;
    }
  double secs = (double)(bench_now_ns() - t0) / 1e9;
  irpc_outgoing_request_free(req);
  return (double)(calls << 20) / secs / 1e6;
}

/* p50 and p99 (microseconds) of `n` empty calls one at a time; with
 * `beside` set, an upload runs meanwhile (restarted when it ends). */
static void run_small(irpc_invoker *inv, int beside, double *p50, double *p99) {
  enum { N = 2000 };
  static uint64_t lat[N];
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, "/echo", "ping") != 0)
    exit(1);
  producer p;
  done_flag f = {0};
  irpc_outgoing_request *sreq = NULL;
  uint64_t saved = total;
  if (beside) {
    total = UINT64_C(1) << 40; /* longer than the small calls */
    sreq = start_upload(inv, &p, &f);
    while (up.got < (8u << 20)) /* under way */
      uv_run(&loop, UV_RUN_ONCE);
  }
  for (int i = 0; i < N; i++) {
    uint64_t t0 = bench_now_ns();
    if (call_sync(inv, req) != 0)
      exit(1);
    lat[i] = bench_now_ns() - t0;
  }
  if (beside) {
    irpc_stream_writer_abort(p.w);
    while (!f.done || !p.ended)
      uv_run(&loop, UV_RUN_ONCE);
    irpc_stream_writer_free(p.w);
    irpc_outgoing_request_free(sreq);
    total = saved;
  }
  irpc_outgoing_request_free(req);
  qsort(lat, N, sizeof lat[0], bench_cmp_u64);
  *p50 = (double)lat[N / 2] / 1e3;
  *p99 = (double)lat[N * 99 / 100] / 1e3;
}

static void run_transport(int uds, bench_json *j) {
  char dir[] = "/tmp/irpc-bench-stream-XXXXXX";
  char listen[160], rawpath[160], bound[256];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(1);
  }
  snprintf(rawpath, sizeof rawpath, "%s/raw.sock", dir);
  if (uds)
    snprintf(listen, sizeof listen, "unix:%s/irpc.sock", dir);
  else
    snprintf(listen, sizeof listen, "icerpc://127.0.0.1:0");
  double raw = run_raw(uds, rawpath);

  irpc_router *router;
  irpc_dispatcher *echo, *upd;
  irpc_server *server;
  irpc_server_options so;
  irpc_icerpc_options sio, cio;
  irpc_connection_options co;
  irpc_server_options_init(&so);
  irpc_icerpc_options_init(&sio);
  irpc_icerpc_options_init(&cio);
  irpc_connection_options_init(&co);
  sio.initial_stream_window_size = cio.initial_stream_window_size =
      BENCH_TUNED_WINDOW;
  sio.max_stream_frame_size = cio.max_stream_frame_size = BENCH_TUNED_FRAME;
  sio.stream_request = stream_request;
  so.connection.icerpc = &sio;
  co.icerpc = &cio;
  irpc_invoker *client;
  if (bench_echo_router(&router, &echo, &loop, 0) != 0 ||
      irpc_dispatcher_new(&upd, &loop, &up_ops_d, NULL) != 0 ||
      irpc_router_map(router, "/up", upd) != 0 ||
      irpc_server_new(&server, &loop, irpc_router_dispatcher(router), &so) !=
          0 ||
      irpc_server_listen(server, listen, bound, sizeof bound) != 0 ||
      irpc_client_connection_new(&client, &loop, bound, &co) != 0) {
    fprintf(stderr, "irpc-bench stream: cannot set up %s\n", listen);
    exit(1);
  }
  double echo_mbs = run_echo(client);
  double stream_mbs = run_stream(client);
  double p50, p99, p50s, p99s;
  run_small(client, 0, &p50, &p99);
  run_small(client, 1, &p50s, &p99s);
  const char *name = uds ? "uds" : "tcp";
  printf("%-4s raw %8.0f MB/s  echo 1 MiB %8.0f MB/s  stream %8.0f MB/s "
         "(%3.0f%% of raw)\n",
         name, raw, echo_mbs, stream_mbs, raw > 0 ? 100 * stream_mbs / raw : 0);
  printf("%-4s small calls: p50 %.1f us p99 %.1f us alone; p50 %.1f us p99 "
         "%.1f us beside a stream\n",
         name, p50, p99, p50s, p99s);
  bench_json_begin(j);
  bench_json_str(j, "bench", "stream");
  bench_json_str(j, "transport", name);
  bench_json_num(j, "bytes", (double)total);
  bench_json_num(j, "raw_mbs", raw);
  bench_json_num(j, "echo_1mib_mbs", echo_mbs);
  bench_json_num(j, "stream_mbs", stream_mbs);
  bench_json_num(j, "small_p50_us", p50);
  bench_json_num(j, "small_p99_us", p99);
  bench_json_num(j, "small_p50_beside_stream_us", p50s);
  bench_json_num(j, "small_p99_beside_stream_us", p99s);
  bench_json_end(j);

  int done = 0;
  irpc_client_connection_shutdown(client, NULL, NULL);
  irpc_invoker_free(client);
  irpc_stream_reader_free(up.r);
  up.r = NULL;
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  (void)done;
  irpc_router_free(router);
  irpc_dispatcher_free(echo);
  irpc_dispatcher_free(upd);
  uv_run(&loop, UV_RUN_DEFAULT);
  char p[200];
  snprintf(p, sizeof p, "%s/irpc.sock", dir);
  unlink(p);
  rmdir(dir);
}

int bench_stream_main(int argc, char **argv) {
  uint64_t mib = 512;
  const char *transport = "all", *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mib") && i + 1 < argc)
      mib = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--transport") && i + 1 < argc)
      transport = argv[++i];
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else
      usage();
  }
  if (mib == 0)
    usage();
  total = mib << 20;
  chunk_bytes = calloc(1, CHUNK > ((size_t)1 << 20) ? CHUNK : (size_t)1 << 20);
  uv_loop_init(&loop);
  bench_json j;
  if (bench_json_open(&j, json) != 0)
    return 1;
  printf("irpc-bench stream: %llu MiB one way, one loop\n",
         (unsigned long long)mib);
  if (!strcmp(transport, "tcp") || !strcmp(transport, "all"))
    run_transport(0, &j);
  if (!strcmp(transport, "uds") || !strcmp(transport, "all"))
    run_transport(1, &j);
  bench_json_close(&j);
  uv_loop_close(&loop);
  free(chunk_bytes);
  return 0;
}

/* ---- irpc-bench serve: /stream ----
 *
 * A request to /stream is read as a stream: the server answers Ok at once
 * (an empty payload) and goes on reading, then drops, whatever of the
 * request's payload and continuation keeps arriving, until its end. */

typedef struct sink {
  irpc_stream_reader *r;
} sink;

static void sink_data(irpc_stream_reader *r, irpc_buf *data, void *ud) {
  (void)r;
  (void)data;
  (void)ud;
}

static void sink_end(irpc_stream_reader *r, int err, void *ud) {
  (void)err;
  irpc_stream_reader_free(r);
  free(ud);
}

static const irpc_stream_reader_ops sink_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = sink_data,
    .on_end = sink_end,
};

static void sink_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_stream_reader *r =
      irpc_incoming_request_take_continuation(irpc_dispatch_request(d));
  sink *s = r ? malloc(sizeof(*s)) : NULL;
  if (s && irpc_stream_reader_start(r, &sink_ops, s) == 0) {
    s->r = r;
  } else {
    free(s);
    irpc_stream_reader_free(r); /* stops the peer */
  }
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops sink_dops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "stream-sink",
    .dispatch = sink_dispatch,
};

static int serve_stream_request(void *ud, const char *path, const char *op) {
  (void)ud;
  (void)op;
  return strcmp(path, "/stream") == 0;
}

int bench_stream_serve_map(irpc_router *r, uv_loop_t *l,
                           irpc_icerpc_options *sio, irpc_dispatcher **out) {
  sio->stream_request = serve_stream_request;
  int rc = irpc_dispatcher_new(out, l, &sink_dops, NULL);
  if (rc == 0 && (rc = irpc_router_map(r, "/stream", *out)) != 0) {
    irpc_dispatcher_free(*out);
    *out = NULL;
  }
  return rc;
}
