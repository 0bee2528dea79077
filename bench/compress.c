/* irpc-bench compress: does compression pay for my traffic?
 *
 * A real client pipeline
 *     [mark_out] -> [compress interceptor] -> [mark_in] -> terminal
 * calls a real server
 *     router: [mark_srv] -> [compress middleware] -> /echo
 * over coloc (the coloc invoker), a Unix domain socket or TCP (a client
 * connection and a server), client and server on one loop in one process.
 * The echo service asks for its response to be compressed too, so every
 * call compresses and decompresses the payload once in each direction.
 * Calls go one at a time (--inflight N for more).
 *
 * mark_* are thin interceptors and middleware of this file around the
 * compressor: they read the clock right before the payload writers run and
 * right after (a payload writer of their own attached behind the
 * compressor's), and around the decompression, so the compression time is
 * measured inside the real pipeline without touching it.
 *
 * For each payload x codec x level the program reports the compression
 * ratio (payload bytes / bytes on the wire), the compression and
 * decompression time per call, calls per second, MB/s of application
 * payload, p50/p99 latency, and the raw library speed on the same bytes in
 * the same run (ZSTD_compressCCtx, BrotliEncoderCompress, zlib's deflate),
 * so the pipeline's overhead shows as pipeline / raw.
 *
 * Over a simulated link (irpc/link.h: a shaped transport around TCP), it
 * measures the effective throughput at each link bandwidth, and from the
 * loopback figures the break-even bandwidth below which each codec pays.
 *
 *   irpc-bench compress [--transport coloc,uds,tcp] [--kinds json,...]
 *       [--sizes 1k,64k,1m] [--payload FILE... [--builtin]] [--codecs
 * none,zstd:1,...]
 *       [--link SPEC]... [--link-payload NAME|all] [--seconds S]
 *       [--min-calls N] [--inflight N] [--json FILE] [--csv FILE]
 *       [--svg FILE|none] [--quiet] */
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "bench_compress.h"
#include "bench_rpc.h"
#include "benchutil.h"

enum { T_COLOC = 1, T_UDS = 2, T_TCP = 4 };
static const char *const transport_names[] = {"coloc", "uds", "tcp"};

#define MAX_LINKS 16
#define MAX_CODECS 32
#define MAX_LINK_PAYLOADS 16

typedef struct opts {
  int transports;
  int kinds;
  size_t sizes[8];
  size_t nsizes;
  const char *files[64];
  size_t nfiles;
  int builtin; /* keep the built-in corpus next to --payload files */
  cz_codec codecs[MAX_CODECS];
  size_t ncodecs;
  irpc_link links[MAX_LINKS];
  size_t nlinks;
  int no_links;
  const char *link_payloads[MAX_LINK_PAYLOADS];
  size_t nlink_payloads;
  double seconds;
  unsigned min_calls;
  unsigned inflight;
  const char *json, *csv, *svg;
  int quiet;
} opts;

static void die(const char *what, int rc) {
  fprintf(stderr, "\nirpc-bench compress: %s: %s\n", what, irpc_strerror(rc));
  exit(1);
}

/* ---- The marks: timing around the compressor ---- */

static struct marks {
  uint64_t req_t0;  /* client: the request's writers are about to run */
  uint64_t resp_t0; /* server: the response's writers are about to run */
  uint64_t sdec_t0; /* server: the request's decompression starts */
  uint64_t cdec_t0; /* client: the response's decompression starts */
  int sdec_compressed, cdec_compressed;
  int codec_on;
  uint64_t compress_ns, compress_count;
  uint64_t side_compress_ns[2]; /* requests (client), responses (server) */
  uint64_t decompress_ns, decompress_count;
  uint64_t wire_bytes, wire_count; /* request payloads as sent */
  uint64_t unmeasured;             /* a writer ran with no mark armed */
} mk;

static void marks_reset(int codec_on) {
  memset(&mk, 0, sizeof mk);
  mk.codec_on = codec_on;
}

/* A payload writer attached behind the compressor's: it stops the clock
 * and notes the size as sent. */
static int tw_write(const void *config, irpc_fields *fields,
                    uint64_t peer_formats, irpc_buf *in, int may_consume,
                    irpc_buf *out) {
  (void)fields;
  (void)peer_formats;
  (void)may_consume;
  (void)out;
  uint64_t now = bench_now_ns();
  int side = *(const int *)config;
  uint64_t *t0 = side ? &mk.resp_t0 : &mk.req_t0;
  if (*t0) {
    if (mk.codec_on) {
      mk.compress_ns += now - *t0;
      mk.side_compress_ns[side] += now - *t0;
      mk.compress_count++;
    }
    *t0 = 0;
  } else {
    mk.unmeasured++;
  }
  if (side == 0) {
    mk.wire_bytes += irpc_buf_len(in);
    mk.wire_count++;
  }
  return IRPC_PAYLOAD_UNCHANGED;
}

static const irpc_payload_writer_ops tw_ops = {
    .struct_size = sizeof(irpc_payload_writer_ops),
    .name = "bench-timing",
    .write = tw_write};
static const int side_request = 0, side_response = 1;

static void mark_decompressed(uint64_t *t0, int compressed) {
  if (!*t0)
    return;
  if (compressed) {
    mk.decompress_ns += bench_now_ns() - *t0;
    mk.decompress_count++;
  }
  *t0 = 0;
}

/* Client, outermost: the response has been decompressed. */
static int mark_out_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  (void)call;
  mark_decompressed(&mk.cdec_t0, mk.cdec_compressed);
  return 0;
}

static const irpc_invoker_ops mark_out_ops = {.struct_size =
                                                  sizeof(irpc_invoker_ops),
                                              .name = "mark-out",
                                              .on_complete = mark_out_complete};

/* Client, innermost: the request goes to the terminal, which runs the
 * writers at once; the response arrives still compressed. */
static void mark_in_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_outgoing_request *req = irpc_call_request(call);
  int rc = irpc_outgoing_request_use_writer(req, &tw_ops, &side_request,
                                            sizeof side_request);
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  mk.req_t0 = bench_now_ns();
  irpc_call_next(call);
}

static int mark_in_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  mk.cdec_compressed = !err && resp &&
                       irpc_fields_has(irpc_incoming_response_fields(resp),
                                       IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT);
  mk.cdec_t0 = bench_now_ns();
  return 0;
}

static const irpc_invoker_ops mark_in_ops = {.struct_size =
                                                 sizeof(irpc_invoker_ops),
                                             .name = "mark-in",
                                             .invoke = mark_in_invoke,
                                             .on_complete = mark_in_complete};

/* Server, outermost: the request is about to be decompressed; on the way
 * back the response is about to be written. */
static void mark_srv_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  mk.sdec_compressed = irpc_fields_has(irpc_incoming_request_fields(req),
                                       IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  mk.sdec_t0 = bench_now_ns();
  irpc_dispatch_next(d);
}

static int mark_srv_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *resp = irpc_dispatch_response(d);
  if (resp && irpc_outgoing_response_use_writer(resp, &tw_ops, &side_response,
                                                sizeof side_response) == 0)
    mk.resp_t0 = bench_now_ns();
  return 0;
}

static const irpc_dispatcher_ops mark_srv_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "mark-srv",
    .dispatch = mark_srv_dispatch,
    .on_complete = mark_srv_complete};

/* The echo service: the request payload back, compressed if possible. */
static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  mark_decompressed(&mk.sdec_t0, mk.sdec_compressed);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_outgoing_response *resp;
  if (irpc_features_set_compress(irpc_incoming_request_features(req), 1) ||
      irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL)) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(resp),
                irpc_incoming_request_payload(req));
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo_dispatch};

/* ---- The raw library on the same bytes ---- */

typedef struct rawctx {
  ZSTD_CCtx *zc;
  ZSTD_DCtx *zd;
} rawctx;

static size_t raw_bound(int format, size_t n) {
  switch (format) {
  case IRPC_COMPRESSION_ZSTD:
    return ZSTD_compressBound(n);
  case IRPC_COMPRESSION_BROTLI:
    return BrotliEncoderMaxCompressedSize(n) ? BrotliEncoderMaxCompressedSize(n)
                                             : n + 1024;
  default:
    return compressBound((uLong)n) + 64;
  }
}

/* Raw deflate (window 15, memLevel 8, as the pipeline's codec) of all of
 * `in` at once, or its inflate; the output size, 0 on error. */
static size_t zlib_once(int compress, int level, const uint8_t *in, size_t n,
                        uint8_t *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (compress ? deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
               : inflateInit2(&z, -15))
    return 0;
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int r = compress ? deflate(&z, Z_FINISH) : inflate(&z, Z_FINISH);
  size_t outn = cap - z.avail_out;
  if (compress)
    deflateEnd(&z);
  else
    inflateEnd(&z);
  return r == Z_STREAM_END ? outn : 0;
}

/* One complete compressed stream of `in`, as the pipeline's codec makes
 * it (raw deflate, window 15, memLevel 8). Returns its size, 0 on error. */
static size_t raw_compress(rawctx *x, const cz_codec *c, const uint8_t *in,
                           size_t n, uint8_t *out, size_t cap) {
  switch (c->format) {
  case IRPC_COMPRESSION_ZSTD: {
    size_t r = ZSTD_compressCCtx(x->zc, out, cap, in, n, c->level);
    return ZSTD_isError(r) ? 0 : r;
  }
  case IRPC_COMPRESSION_BROTLI: {
    size_t outn = cap;
    return BrotliEncoderCompress(c->level, BROTLI_DEFAULT_WINDOW,
                                 BROTLI_MODE_GENERIC, n, in, &outn, out)
               ? outn
               : 0;
  }
  default:
    return zlib_once(1, c->level, in, n, out, cap);
  }
}

static size_t raw_decompress(rawctx *x, const cz_codec *c, const uint8_t *in,
                             size_t n, uint8_t *out, size_t cap) {
  switch (c->format) {
  case IRPC_COMPRESSION_ZSTD: {
    size_t r = ZSTD_decompressDCtx(x->zd, out, cap, in, n);
    return ZSTD_isError(r) ? 0 : r;
  }
  case IRPC_COMPRESSION_BROTLI: {
    size_t outn = cap;
    return BrotliDecoderDecompress(n, in, &outn, out) ==
                   BROTLI_DECODER_RESULT_SUCCESS
               ? outn
               : 0;
  }
  default:
    return zlib_once(0, 0, in, n, out, cap);
  }
}

typedef struct rawfig {
  uint64_t bytes;
  uint64_t c_iters, c_ns, d_iters, d_ns;
} rawfig;

/* Compresses then decompresses `p` until `min_ns` have passed each way (at
 * least 3 times), checking the round trip; adds to `f`. */
static void raw_measure(rawctx *x, const cz_payload *p, const cz_codec *c,
                        uint64_t min_ns, rawfig *f) {
  size_t cap = raw_bound(c->format, p->len);
  uint8_t *z = malloc(cap), *back = malloc(p->len + 1);
  if (!z || !back)
    die("raw", IRPC_ENOMEM);
  size_t zn = 0;
  uint64_t n = 0, t0 = bench_now_ns(), now;
  do {
    zn = raw_compress(x, c, p->data, p->len, z, cap);
    if (zn == 0) {
      fprintf(stderr, "\n%s failed on %s\n", c->name, p->name);
      exit(1);
    }
    n++;
    now = bench_now_ns();
  } while (now - t0 < min_ns || n < 3);
  f->c_iters += n;
  f->c_ns += now - t0;
  f->bytes = zn;
  n = 0;
  t0 = bench_now_ns();
  do {
    size_t bn = raw_decompress(x, c, z, zn, back, p->len + 1);
    if (bn != p->len || (n == 0 && memcmp(back, p->data, bn) != 0)) {
      fprintf(stderr, "\n%s round trip failed on %s\n", c->name, p->name);
      exit(1);
    }
    n++;
    now = bench_now_ns();
  } while (now - t0 < min_ns || n < 3);
  f->d_iters += n;
  f->d_ns += now - t0;
  free(z);
  free(back);
}

/* ---- One setup: client pipeline, server, transport, codec ---- */

typedef struct env {
  uv_loop_t loop;
  int transport;
  irpc_transport *shaped;
  irpc_router *router;
  irpc_dispatcher *echo;
  irpc_server *server;
  irpc_invoker *terminal;
  irpc_pipeline *pipe;
  char dir[64];
  char sock[128];
} env;

static void compress_options(irpc_compress_options *co, const cz_codec *c) {
  irpc_compress_options_init(co);
  memset(co->formats, 0, sizeof co->formats);
  co->formats[0] = (uint8_t)c->format;
  if (c->format == IRPC_COMPRESSION_ZSTD)
    co->zstd_level = c->level;
  else if (c->format == IRPC_COMPRESSION_BROTLI)
    co->brotli_level = c->level;
  else
    co->deflate_level = c->level;
  co->min_size = 0; /* measure every payload, even the smallest */
}

static void env_server(env *e, const cz_codec *c) {
  irpc_dispatcher *mw;
  int rc = irpc_router_new(&e->router, &e->loop);
  if (rc == 0 &&
      (rc = irpc_dispatcher_new(&mw, &e->loop, &mark_srv_ops, NULL)) == 0 &&
      (rc = irpc_router_use(e->router, mw)) != 0)
    irpc_dispatcher_free(mw);
  if (rc == 0 && c->format) {
    irpc_compress_options co;
    compress_options(&co, c);
    if ((rc = irpc_compress_middleware_new(&mw, &e->loop, &co)) == 0 &&
        (rc = irpc_router_use(e->router, mw)) != 0)
      irpc_dispatcher_free(mw);
  }
  if (rc == 0)
    rc = irpc_dispatcher_new(&e->echo, &e->loop, &echo_ops, NULL);
  if (rc == 0)
    rc = irpc_router_map(e->router, "/echo", e->echo);
  if (rc)
    die("server setup", rc);
}

static void env_terminal(env *e, const irpc_link *link) {
  if (e->transport == T_COLOC) {
    int rc = irpc_coloc_new(&e->terminal, &e->loop,
                            irpc_router_dispatcher(e->router));
    if (rc)
      die("coloc", rc);
    return;
  }
  char listen[160], bound[256];
  if (e->transport == T_UDS) {
    strcpy(e->dir, "/tmp/irpc-cz-XXXXXX");
    if (!mkdtemp(e->dir)) {
      perror("mkdtemp");
      exit(1);
    }
    snprintf(e->sock, sizeof e->sock, "%s/s.sock", e->dir);
    snprintf(listen, sizeof listen, "unix:%s", e->sock);
  } else {
    snprintf(listen, sizeof listen, "icerpc://127.0.0.1:0");
  }
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_icerpc_options sio;
  irpc_icerpc_options_init(&sio);
  sio.initial_stream_window_size = BENCH_TUNED_WINDOW;
  sio.max_stream_frame_size = BENCH_TUNED_FRAME;
  so.connection.icerpc = &sio;
  int rc = irpc_server_new(&e->server, &e->loop,
                           irpc_router_dispatcher(e->router), &so);
  if (rc == 0)
    rc = irpc_server_listen(e->server, listen, bound, sizeof bound);
  if (rc)
    die(listen, rc);
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  irpc_icerpc_options cio;
  irpc_icerpc_options_init(&cio);
  cio.initial_stream_window_size = BENCH_TUNED_WINDOW;
  cio.max_stream_frame_size = BENCH_TUNED_FRAME;
  co.icerpc = &cio;
  if (link) {
    rc = irpc_transport_shaped_new(&e->shaped,
                                   e->transport == T_UDS ? irpc_transport_uds()
                                                         : irpc_transport_tcp(),
                                   link);
    if (rc)
      die("shaped transport", rc);
    co.transport = e->shaped;
  }
  rc = irpc_client_connection_new(&e->terminal, &e->loop, bound, &co);
  if (rc)
    die("client connection", rc);
}

static void env_pipeline(env *e, const cz_codec *c) {
  irpc_invoker *out, *comp = NULL, *in;
  int rc = irpc_pipeline_new(&e->pipe, &e->loop);
  if (rc == 0)
    rc = irpc_invoker_new(&out, &e->loop, &mark_out_ops, NULL);
  if (rc == 0 && (rc = irpc_pipeline_use(e->pipe, out)) != 0)
    irpc_invoker_free(out);
  if (rc == 0 && c->format) {
    irpc_compress_options co;
    compress_options(&co, c);
    if ((rc = irpc_compress_interceptor_new(&comp, &e->loop, &co)) == 0 &&
        (rc = irpc_pipeline_use(e->pipe, comp)) != 0)
      irpc_invoker_free(comp);
  }
  if (rc == 0)
    rc = irpc_invoker_new(&in, &e->loop, &mark_in_ops, NULL);
  if (rc == 0 && (rc = irpc_pipeline_use(e->pipe, in)) != 0)
    irpc_invoker_free(in);
  if (rc == 0)
    rc = irpc_pipeline_into(e->pipe, e->terminal);
  if (rc)
    die("pipeline", rc);
}

static void env_open(env *e, int transport, const irpc_link *link,
                     const cz_codec *c) {
  memset(e, 0, sizeof *e);
  e->transport = transport;
  if (uv_loop_init(&e->loop))
    die("uv_loop_init", IRPC_ENOMEM);
  env_server(e, c);
  env_terminal(e, link);
  env_pipeline(e, c);
}

static void env_close(env *e) {
  irpc_pipeline_free(e->pipe);
  if (e->transport != T_COLOC)
    bench_client_shutdown(&e->loop, e->terminal);
  irpc_invoker_free(e->terminal);
  irpc_server_free(e->server);
  irpc_router_free(e->router);
  irpc_dispatcher_free(e->echo);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  uv_loop_close(&e->loop);
  irpc_transport_free(e->shaped);
  if (e->dir[0]) {
    unlink(e->sock);
    rmdir(e->dir);
  }
}

/* ---- Calls ---- */

typedef struct slot slot;

typedef struct run {
  env *e;
  irpc_outgoing_request *req;
  const cz_payload *p;
  slot *slots;
  uint64_t started, done;
  uint64_t min_calls;
  uint64_t t_begin, min_ns;
  int stopping;
  int verify_next; /* compare the next response byte for byte */
  uint64_t *lat;
  size_t nlat, cap_lat;
  int record;
} run;

struct slot {
  run *r;
  uint64_t t0;
};

static void call_start(slot *s);

static void call_done(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  (void)call;
  slot *s = ud;
  run *r = s->r;
  uint64_t now = bench_now_ns();
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK) {
    fprintf(stderr, "\ncall failed: %s\n",
            err ? irpc_strerror(err)
                : irpc_incoming_response_error_message(resp));
    exit(1);
  }
  irpc_buf *pl = irpc_incoming_response_payload(resp);
  if (irpc_buf_len(pl) != r->p->len ||
      (r->verify_next && !irpc_buf_equals(pl, r->p->data, r->p->len))) {
    fprintf(stderr, "\n%s: the echoed payload differs\n", r->p->name);
    exit(1);
  }
  r->verify_next = 0;
  irpc_incoming_response_free(resp);
  if (r->record) {
    if (r->nlat == r->cap_lat) {
      r->cap_lat = r->cap_lat ? r->cap_lat * 2 : 1024;
      r->lat = realloc(r->lat, r->cap_lat * sizeof(*r->lat));
      if (!r->lat)
        die("latencies", IRPC_ENOMEM);
    }
    r->lat[r->nlat++] = now - s->t0;
  }
  r->done++;
  if (r->started >= r->min_calls && now - r->t_begin >= r->min_ns)
    r->stopping = 1;
  if (!r->stopping)
    call_start(s);
}

static void call_start(slot *s) {
  run *r = s->r;
  r->started++;
  s->t0 = bench_now_ns();
  int rc = irpc_invoke(irpc_pipeline_invoker(r->e->pipe), r->req, call_done, s,
                       NULL);
  if (rc)
    die("invoke", rc);
}

/* Runs calls until `min_ns` have passed and `min_calls` were made. */
static uint64_t calls_run(run *r, unsigned inflight, uint64_t min_calls,
                          uint64_t min_ns) {
  r->started = r->done = 0;
  r->stopping = 0;
  r->min_calls = min_calls;
  r->min_ns = min_ns;
  r->t_begin = bench_now_ns();
  for (unsigned i = 0; i < inflight && i < min_calls; i++)
    call_start(&r->slots[i]);
  while (r->done < r->started || !r->stopping)
    uv_run(&r->e->loop, UV_RUN_ONCE);
  return bench_now_ns() - r->t_begin;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t link_bytes(const env *e) {
  irpc_link_stats st = {0, 0, 0};
  if (e->shaped)
    irpc_transport_shaped_stats(e->shaped, &st);
  return st.bytes_up + st.bytes_down;
}

static void measure(env *e, const opts *o, const cz_payload *p,
                    const cz_codec *c, cz_result *res) {
  run r;
  memset(&r, 0, sizeof r);
  r.e = e;
  r.p = p;
  r.slots = calloc(o->inflight, sizeof(*r.slots));
  for (unsigned i = 0; i < o->inflight; i++)
    r.slots[i].r = &r;
  int rc = irpc_outgoing_request_new(&r.req, "/echo", "echo");
  if (rc == 0)
    rc = irpc_buf_append_external(irpc_outgoing_request_payload(r.req), p->data,
                                  p->len, NULL, NULL);
  if (rc == 0 && c->format)
    rc = irpc_features_set_compress(irpc_outgoing_request_features(r.req), 1);
  if (rc)
    die("request", rc);
  /* Calls over a link are few (each waits for the link): three times as
   * long keeps their mean as steady as the loopback ones. */
  uint64_t min_ns = (uint64_t)(o->seconds * 1e9 * (e->shaped ? 3 : 1));
  /* Warm up (connects, fills caches), checking the bytes once. */
  r.verify_next = 1;
  calls_run(&r, o->inflight, o->inflight, min_ns / 10);
  marks_reset(c->format != 0);
  r.record = 1;
  uint64_t lb0 = link_bytes(e), cpu0 = thread_cpu_ns();
  res->elapsed_ns = calls_run(&r, o->inflight, o->min_calls, min_ns);
  res->cpu_ns = thread_cpu_ns() - cpu0;
  res->link_bytes = link_bytes(e) - lb0;
  res->calls = r.done;
  res->p50_us = bench_pct_us(r.lat, r.nlat, 0.50);
  res->p99_us = bench_pct_us(r.lat, r.nlat, 0.99);
  res->wire_bytes = mk.wire_count ? (double)mk.wire_bytes / mk.wire_count : 0;
  res->compress_count = mk.compress_count;
  res->compress_ns = mk.compress_ns;
  res->request_compress_ns = mk.side_compress_ns[0];
  res->response_compress_ns = mk.side_compress_ns[1];
  res->decompress_count = mk.decompress_count;
  res->decompress_ns = mk.decompress_ns;
  if (mk.unmeasured || mk.wire_count != r.done) {
    fprintf(stderr,
            "\n%s %s: %llu payload writes ran without a mark: the terminal "
            "no longer writes payloads inside the call; figures unreliable\n",
            p->name, c->name, (unsigned long long)mk.unmeasured);
    exit(1);
  }
  irpc_outgoing_request_free(r.req);
  free(r.lat);
  free(r.slots);
}

/* ---- Options ---- */

static void usage(void) {
  fprintf(
      stderr,
      "usage: irpc-bench compress [options]\n"
      "  --transport LIST   coloc,uds,tcp or all (default all)\n"
      "  --kinds LIST       json,slice,log,random (default all)\n"
      "  --sizes LIST       payload sizes, e.g. 1k,64k,1m (default)\n"
      "  --payload FILE...  measure these files instead of the built-in\n"
      "                     payloads (add --builtin to keep them)\n"
      "  --codecs LIST      none,zstd:1,zstd:3,brotli:1,brotli:5,deflate:1,\n"
      "                     deflate:6 (default); any level the codec takes\n"
      "  --link SPEC        a simulated link, e.g. 100mbit,1ms; repeat for\n"
      "                     several (default 10mbit, 100mbit, 300mbit,\n"
      "                     1gbit, 3gbit, 10gbit, all at 1 ms);\n"
      "                     --link none for no link runs\n"
      "  --link-payload P   payload measured over the links (default\n"
      "                     json-64k, or the first file); repeat, or all\n"
      "  --seconds S        time per measurement (default 0.04; three\n"
      "                     times that over a link)\n"
      "  --min-calls N      calls per measurement at least (default 3)\n"
      "  --inflight N       calls in flight (default 1)\n"
      "  --json FILE, --csv FILE   one record per measurement\n"
      "  --svg FILE         the chart (default compress.svg; none: off)\n"
      "  --quiet            no progress line\n");
  exit(2);
}

/* Splits `list` at commas, calling fn(item, len) for each. */
static void each_item(const char *list,
                      void (*fn)(opts *, const char *, size_t), opts *o) {
  while (*list) {
    size_t n = strcspn(list, ",");
    if (n == 0)
      usage();
    fn(o, list, n);
    list += n;
    if (*list == ',')
      list++;
  }
}

static void add_transport(opts *o, const char *s, size_t n) {
  for (int i = 0; i < 3; i++)
    if (strlen(transport_names[i]) == n &&
        memcmp(s, transport_names[i], n) == 0) {
      o->transports |= 1 << i;
      return;
    }
  if (n == 3 && memcmp(s, "all", 3) == 0) {
    o->transports = T_COLOC | T_UDS | T_TCP;
    return;
  }
  fprintf(stderr, "unknown transport: %.*s\n", (int)n, s);
  exit(2);
}

static void add_kind(opts *o, const char *s, size_t n) {
  int k = cz_kind_by_name(s, n);
  if (!k) {
    fprintf(stderr, "unknown payload kind: %.*s\n", (int)n, s);
    exit(2);
  }
  o->kinds |= k;
}

static void add_size(opts *o, const char *s, size_t n) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  size_t mul = 1;
  if (end < s + n && (*end == 'k' || *end == 'K'))
    mul = 1024, end++;
  else if (end < s + n && (*end == 'm' || *end == 'M'))
    mul = 1u << 20, end++;
  if (end != s + n || v == 0 || v * mul > ((size_t)64 << 20) ||
      o->nsizes == 8) {
    fprintf(stderr, "bad size: %.*s (1 byte .. 64m, at most 8 sizes)\n", (int)n,
            s);
    exit(2);
  }
  o->sizes[o->nsizes++] = v * mul;
}

static void add_codec(opts *o, const char *s, size_t n) {
  static const struct {
    const char *name;
    int format, lo, hi;
  } known[] = {{"zstd", IRPC_COMPRESSION_ZSTD, 1, 22},
               {"brotli", IRPC_COMPRESSION_BROTLI, 0, 11},
               {"deflate", IRPC_COMPRESSION_DEFLATE, 1, 9}};
  if (o->ncodecs == MAX_CODECS)
    usage();
  cz_codec *c = &o->codecs[o->ncodecs];
  memset(c, 0, sizeof *c);
  if (n == 4 && memcmp(s, "none", 4) == 0) {
    strcpy(c->name, "none");
    o->ncodecs++;
    return;
  }
  for (int i = 0; i < 3; i++) {
    size_t k = strlen(known[i].name);
    if (n <= k + 1 || memcmp(s, known[i].name, k) != 0 ||
        (s[k] != ':' && s[k] != '-'))
      continue;
    char digits[8] = {0};
    if (n - k - 1 >= sizeof digits)
      break;
    memcpy(digits, s + k + 1, n - k - 1);
    char *end;
    long lv = strtol(digits, &end, 10);
    if (*end || lv < known[i].lo || lv > known[i].hi)
      break;
    c->format = known[i].format;
    c->level = (int)lv;
    snprintf(c->name, sizeof c->name, "%s-%ld", known[i].name, lv);
    o->ncodecs++;
    return;
  }
  fprintf(stderr,
          "bad codec: %.*s (none, zstd:1..22, brotli:0..11, deflate:1..9)\n",
          (int)n, s);
  exit(2);
}

static void parse_args(opts *o, int argc, char **argv) {
  memset(o, 0, sizeof *o);
  o->seconds = 0.04;
  o->min_calls = 3;
  o->inflight = 1;
  o->svg = "compress.svg";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--transport") && more)
      each_item(argv[++i], add_transport, o);
    else if (!strcmp(a, "--kinds") && more)
      each_item(argv[++i], add_kind, o);
    else if (!strcmp(a, "--sizes") && more)
      each_item(argv[++i], add_size, o);
    else if (!strcmp(a, "--codecs") && more)
      each_item(argv[++i], add_codec, o);
    else if (!strcmp(a, "--payload") && more) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 &&
             o->nfiles < 64)
        o->files[o->nfiles++] = argv[++i];
    } else if (!strcmp(a, "--builtin"))
      o->builtin = 1;
    else if (!strcmp(a, "--link") && more) {
      const char *spec = argv[++i];
      if (!strcmp(spec, "none")) {
        o->no_links = 1;
        continue;
      }
      int rc = o->nlinks < MAX_LINKS
                   ? irpc_link_parse(&o->links[o->nlinks], spec)
                   : IRPC_ELIMIT;
      if (rc) {
        fprintf(stderr,
                "bad link %s: %s (e.g. 100mbit,1ms; 1gbit; 20ms; units: "
                "bit kbit mbit gbit, Bps kBps MBps GBps, ns us ms s)\n",
                spec, irpc_strerror(rc));
        exit(2);
      }
      o->nlinks++;
    } else if (!strcmp(a, "--link-payload") && more &&
               o->nlink_payloads < MAX_LINK_PAYLOADS)
      o->link_payloads[o->nlink_payloads++] = argv[++i];
    else if (!strcmp(a, "--seconds") && more)
      o->seconds = atof(argv[++i]);
    else if (!strcmp(a, "--min-calls") && more)
      o->min_calls = (unsigned)atoi(argv[++i]);
    else if (!strcmp(a, "--inflight") && more)
      o->inflight = (unsigned)atoi(argv[++i]);
    else if (!strcmp(a, "--json") && more)
      o->json = argv[++i];
    else if (!strcmp(a, "--csv") && more)
      o->csv = argv[++i];
    else if (!strcmp(a, "--svg") && more)
      o->svg = argv[++i];
    else if (!strcmp(a, "--quiet"))
      o->quiet = 1;
    else
      usage();
  }
  if (!o->transports)
    o->transports = T_COLOC | T_UDS | T_TCP;
  if (!o->kinds)
    o->kinds = CZ_ALL_KINDS;
  if (!o->nsizes) {
    o->sizes[0] = 1024;
    o->sizes[1] = 64 * 1024;
    o->sizes[2] = 1024 * 1024;
    o->nsizes = 3;
  }
  if (!o->ncodecs)
    each_item("none,zstd:1,zstd:3,brotli:1,brotli:5,deflate:1,deflate:6",
              add_codec, o);
  if (o->codecs[0].format != 0) {
    /* "none" first: every codec is compared with it. */
    memmove(&o->codecs[1], &o->codecs[0], o->ncodecs * sizeof(cz_codec));
    memset(&o->codecs[0], 0, sizeof(cz_codec));
    strcpy(o->codecs[0].name, "none");
    o->ncodecs++;
  }
  if (!o->nlinks && !o->no_links) {
    static const char *const defaults[] = {"10mbit,1ms",  "100mbit,1ms",
                                           "300mbit,1ms", "1gbit,1ms",
                                           "3gbit,1ms",   "10gbit,1ms"};
    for (int i = 0; i < 6; i++)
      irpc_link_parse(&o->links[o->nlinks++], defaults[i]);
  }
  if (o->no_links)
    o->nlinks = 0;
  if (o->seconds < 0 || o->min_calls < 1 || o->inflight < 1 ||
      o->inflight > 64 || o->ncodecs > MAX_CODECS) {
    fprintf(stderr, "bad --seconds, --min-calls or --inflight (1..64)\n");
    exit(2);
  }
}

/* ---- The runs ---- */

typedef struct bench {
  opts o;
  cz_payload *payloads;
  size_t npayloads;
  int *over_link; /* per payload: measured over the links */
  rawctx rx;
  cz_result *rs;
  size_t nrs, total;
  int tty;
  uint64_t t_start;
} bench;

static void progress(bench *b, const char *t, const char *link,
                     const cz_codec *c, const cz_payload *p) {
  if (b->o.quiet || !b->tty)
    return;
  fprintf(stderr, "\r\033[K[%3zu/%zu %4.0fs] %s %s %s %s", b->nrs + 1, b->total,
          (double)(bench_now_ns() - b->t_start) / 1e9, t, link, c->name,
          p->name);
  fflush(stderr);
}

static void run_env(bench *b, int t, const irpc_link *link, size_t ci) {
  const opts *o = &b->o;
  const cz_codec *c = &o->codecs[ci];
  char lname[40] = "-";
  if (link)
    irpc_link_format(link, lname, sizeof lname);
  env e;
  env_open(&e, t, link, c);
  for (size_t pi = 0; pi < b->npayloads; pi++) {
    if (link && !b->over_link[pi])
      continue;
    const cz_payload *p = &b->payloads[pi];
    progress(b,
             transport_names[t == T_COLOC ? 0
                             : t == T_UDS ? 1
                                          : 2],
             lname, c, p);
    cz_result *r = &b->rs[b->nrs++];
    memset(r, 0, sizeof *r);
    r->transport = transport_names[t == T_COLOC ? 0 : t == T_UDS ? 1 : 2];
    snprintf(r->link, sizeof r->link, "%s", lname);
    r->has_link = link != NULL;
    if (link) {
      r->link_bits_per_s = link->bits_per_s;
      r->link_latency_ns = link->latency_ns;
    }
    r->payload = p;
    r->codec = c;
    /* The library alone, half before and half after the pipeline, so that
     * both see the same machine. */
    rawfig rf = {0, 0, 0, 0, 0};
    uint64_t raw_ns = (uint64_t)(o->seconds * 1e9 / 2);
    if (c->format)
      raw_measure(&b->rx, p, c, raw_ns, &rf);
    measure(&e, o, p, c, r);
    if (c->format)
      raw_measure(&b->rx, p, c, raw_ns, &rf);
    r->raw_bytes = rf.bytes;
    r->raw_compress_iters = rf.c_iters;
    r->raw_compress_ns = rf.c_ns;
    r->raw_decompress_iters = rf.d_iters;
    r->raw_decompress_ns = rf.d_ns;
  }
  env_close(&e);
}

static void load_payloads(bench *b) {
  const opts *o = &b->o;
  size_t cap = o->nfiles + 4 * o->nsizes;
  b->payloads = calloc(cap, sizeof(*b->payloads));
  for (size_t i = 0; i < o->nfiles; i++)
    if (cz_payload_file(&b->payloads[b->npayloads++], o->files[i]))
      exit(1);
  if (o->nfiles && !o->builtin)
    return;
  for (int k = CZ_JSON; k <= CZ_RANDOM; k <<= 1) {
    if (!(o->kinds & k))
      continue;
    for (size_t s = 0; s < o->nsizes; s++) {
      int rc = cz_payload_builtin(&b->payloads[b->npayloads++], k, o->sizes[s]);
      if (rc)
        die("payload", rc);
    }
  }
}

/* Marks the payloads measured over the links. */
static void pick_link_payloads(bench *b) {
  const opts *o = &b->o;
  b->over_link = calloc(b->npayloads + 1, sizeof(int));
  size_t chosen = 0;
  for (size_t i = 0; i < o->nlink_payloads; i++) {
    int found = 0;
    for (size_t p = 0; p < b->npayloads; p++)
      if (!strcmp(o->link_payloads[i], "all") ||
          !strcmp(o->link_payloads[i], b->payloads[p].name))
        b->over_link[p] = found = 1;
    if (!found) {
      fprintf(stderr, "--link-payload %s: no such payload\n",
              o->link_payloads[i]);
      exit(2);
    }
  }
  for (size_t p = 0; p < b->npayloads; p++)
    chosen += (size_t)b->over_link[p];
  if (chosen || !b->npayloads)
    return;
  /* Default: json-64k, else the first payload. */
  size_t pick = 0;
  for (size_t p = 0; p < b->npayloads; p++)
    if (!strcmp(b->payloads[p].name, "json-64k"))
      pick = p;
  b->over_link[pick] = 1;
}

/* The transport under the links: TCP, or UDS when TCP is not measured. */
static int link_transport(const opts *o) {
  return o->transports & T_TCP ? T_TCP : o->transports & T_UDS ? T_UDS : 0;
}

static const char *first_link_payload(const bench *b) {
  for (size_t p = 0; p < b->npayloads; p++)
    if (b->over_link[p])
      return b->payloads[p].name;
  return "";
}

/* The check: zstd-1 on the 1 MiB JSON payload over coloc. */
static void print_overhead_check(const bench *b) {
  for (size_t i = 0; i < b->nrs; i++) {
    const cz_result *r = &b->rs[i];
    if (strcmp(r->transport, "coloc") || strcmp(r->codec->name, "zstd-1") ||
        strcmp(r->payload->name, "json-1m"))
      continue;
    printf("\npipeline overhead, zstd-1 on json-1m over coloc: the pipeline "
           "compresses at %.0f MB/s, the library alone at %.0f MB/s in the "
           "same run: %.0f%% (target >= 90%%)\n",
           r->pipeline_compress_mb_per_s, r->raw_compress_mb_per_s,
           100 * r->overhead_ratio);
  }
}

static void print_break_even(const bench *b) {
  const char *lp = first_link_payload(b);
  int lt = link_transport(&b->o);
  if (!b->o.nlinks || !lt || !*lp)
    return;
  const char *tname = lt == T_TCP ? "tcp" : "uds";
  printf("\nwhere compression pays for %s (break-even link bandwidth; "
         "below it the codec is faster than none):\n",
         lp);
  printf("  %-11s %-24s %s\n", "codec", "predicted from loopback",
         "measured over the simulated links");
  for (size_t i = 0; i < b->nrs; i++) {
    const cz_result *r = &b->rs[i];
    if (r->has_link || !r->codec->format || strcmp(r->transport, tname) ||
        strcmp(r->payload->name, lp))
      continue;
    char pred[40], meas[64];
    if (r->pays == CZ_PAYS_NEVER)
      snprintf(pred, sizeof pred, "never");
    else if (r->pays == CZ_PAYS_ALWAYS)
      snprintf(pred, sizeof pred, "always (even on loopback)");
    else
      snprintf(pred, sizeof pred, "%.0f Mbit/s", r->break_even_mbit_per_s);
    double x = cz_link_crossing(b->rs, b->nrs, lp, r->codec->name);
    if (x > 0)
      snprintf(meas, sizeof meas, "%.0f Mbit/s", x);
    else
      snprintf(meas, sizeof meas, "%s",
               x == CZ_CROSS_ALWAYS  ? "pays on every link measured"
               : x == CZ_CROSS_NEVER ? "pays on no link measured"
                                     : "not measured");
    printf("  %-11s %-24s %s\n", r->codec->name, pred, meas);
  }
}

static int transport_rank(const char *t) {
  return !strcmp(t, "coloc") ? 0 : !strcmp(t, "uds") ? 1 : 2;
}

/* Loopback rows first (coloc, uds, tcp), then the links by bandwidth;
 * within each, payloads and codecs in the order given. */
static int cmp_result(const void *a, const void *b) {
  const cz_result *x = a, *y = b;
  if (x->has_link != y->has_link)
    return x->has_link - y->has_link;
  int t = transport_rank(x->transport) - transport_rank(y->transport);
  if (t)
    return t;
  if (x->link_bits_per_s != y->link_bits_per_s)
    return x->link_bits_per_s < y->link_bits_per_s ? -1 : 1;
  if (x->link_latency_ns != y->link_latency_ns)
    return x->link_latency_ns < y->link_latency_ns ? -1 : 1;
  if (x->payload != y->payload)
    return x->payload < y->payload ? -1 : 1;
  return x->codec < y->codec ? -1 : x->codec > y->codec;
}

static void derive_all(bench *b) {
  for (size_t i = 0; i < b->nrs; i++) {
    cz_result *r = &b->rs[i];
    const cz_result *none = NULL;
    for (size_t j = 0; j < b->nrs; j++) {
      const cz_result *n = &b->rs[j];
      if (n->codec->format == 0 && n->payload == r->payload &&
          !strcmp(n->transport, r->transport) && !strcmp(n->link, r->link))
        none = n;
    }
    cz_derive(r, none);
  }
}

int bench_compress_main(int argc, char **argv) {
  bench b;
  memset(&b, 0, sizeof b);
  parse_args(&b.o, argc, argv);
  const opts *o = &b.o;
  signal(SIGPIPE, SIG_IGN);
  b.tty = isatty(2);
  b.t_start = bench_now_ns();
  load_payloads(&b);
  pick_link_payloads(&b);
  b.rx.zc = ZSTD_createCCtx();
  b.rx.zd = ZSTD_createDCtx();
  int ntrans = !!(o->transports & T_COLOC) + !!(o->transports & T_UDS) +
               !!(o->transports & T_TCP);
  size_t nlinkp = 0;
  for (size_t p = 0; p < b.npayloads; p++)
    nlinkp += (size_t)b.over_link[p];
  int lt = link_transport(o);
  b.total = o->ncodecs *
            ((size_t)ntrans * b.npayloads + (lt ? o->nlinks * nlinkp : 0));
  b.rs = calloc(b.total + 1, sizeof(*b.rs));
  if (!b.payloads || !b.rs || !b.rx.zc || !b.rx.zd)
    die("setup", IRPC_ENOMEM);
  printf("irpc-bench compress: client pipeline and server in one process, on "
         "one loop (one thread); %u call%s in flight; Slic window %u, frame "
         "%u; at least %.0f ms and %u calls per measurement\n",
         o->inflight, o->inflight > 1 ? "s" : "", BENCH_TUNED_WINDOW,
         BENCH_TUNED_FRAME, o->seconds * 1e3, o->min_calls);
  for (int t = T_COLOC; t <= T_TCP; t <<= 1)
    if (o->transports & t)
      for (size_t c = 0; c < o->ncodecs; c++)
        run_env(&b, t, NULL, c);
  for (size_t l = 0; lt && l < o->nlinks; l++)
    for (size_t c = 0; c < o->ncodecs; c++)
      run_env(&b, lt, &o->links[l], c);
  if (!o->quiet && b.tty)
    fprintf(stderr, "\r\033[K");
  qsort(b.rs, b.nrs, sizeof(*b.rs), cmp_result);
  derive_all(&b);
  cz_print_table(stdout, b.rs, b.nrs);
  print_break_even(&b);
  print_overhead_check(&b);
  int rc = 0;
  if (o->json && cz_write_json(o->json, b.rs, b.nrs)) {
    perror(o->json);
    rc = 1;
  }
  if (o->csv && cz_write_csv(o->csv, b.rs, b.nrs)) {
    perror(o->csv);
    rc = 1;
  }
  if (strcmp(o->svg, "none") != 0) {
    char sub[200], lat[48] = "";
    int same = o->nlinks > 0;
    for (size_t l = 1; l < o->nlinks; l++)
      same &= o->links[l].latency_ns == o->links[0].latency_ns;
    if (same)
      snprintf(lat, sizeof lat, ", %g ms latency each way",
               (double)o->links[0].latency_ns / 1e6);
    snprintf(sub, sizeof sub,
             "payload %s echoed over %s through a simulated link%s; %u "
             "call%s in flight",
             first_link_payload(&b), lt == T_UDS ? "uds" : "tcp", lat,
             o->inflight, o->inflight > 1 ? "s" : "");
    int s = cz_write_svg(o->svg, b.rs, b.nrs, first_link_payload(&b), sub);
    if (s < 0) {
      perror(o->svg);
      rc = 1;
    } else {
      printf(s == 0 ? "\nchart: %s\n"
                    : "\nno chart (%s): no simulated link was measured\n",
             o->svg);
    }
  }
  printf("total time %.1f s\n", (double)(bench_now_ns() - b.t_start) / 1e9);
  for (size_t p = 0; p < b.npayloads; p++)
    cz_payload_free(&b.payloads[p]);
  free(b.payloads);
  free(b.over_link);
  free(b.rs);
  ZSTD_freeCCtx(b.rx.zc);
  ZSTD_freeDCtx(b.rx.zd);
  return rc;
}
