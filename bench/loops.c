/* irpc-bench loops: a multi-loop server with 1 loop against the same server
 * with 2 (or --loops N), in one run.
 *
 *   throughput  --conns client connections (8), each with 2 calls in
 *               flight, call "/deflate": the dispatch compresses 64 KiB
 *               (zlib, level 6) it holds and answers the compressed size:
 *               CPU-bound on the server, cheap for the client. Calls per
 *               second.
 *   latency     one connection, one small call at a time ("/echo", 16
 *               bytes): p50 and p99 of the round trip.
 *
 * The clients run on one loop on the main thread of the same process; the
 * server's loops on their own threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bench_loops.h"
#include "benchutil.h"

#define BLOCK (64 * 1024)
#define DEPTH 2
#define CONNS_MAX 64

typedef struct per_loop {
  irpc_router *router;
  irpc_dispatcher *deflate, *echo;
  uint8_t *block; /* BLOCK bytes to compress */
  uint8_t *out;
  uLong out_cap;
} per_loop;

typedef struct server_ctx {
  per_loop loops[16];
} server_ctx;

static void deflate_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  per_loop *pl = *(per_loop **)irpc_dispatcher_data(self);
  uLongf n = pl->out_cap;
  int zrc = compress2(pl->out, &n, pl->block, BLOCK, 6);
  irpc_outgoing_response *r;
  if (zrc != Z_OK ||
      irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  uint32_t size = (uint32_t)n;
  irpc_buf_append(irpc_outgoing_response_payload(r), &size, sizeof(size));
  irpc_dispatch_complete(d, r);
}

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(r),
                irpc_incoming_request_payload(irpc_dispatch_request(d)));
  irpc_dispatch_complete(d, r);
}

static int cfg_init(irpc_dispatcher *self, const void *config) {
  *(const void **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops deflate_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "deflate",
    .data_size = sizeof(void *),
    .init = cfg_init,
    .dispatch = deflate_dispatch,
};
static const irpc_dispatcher_ops echo_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "echo",
    .dispatch = echo_dispatch,
};

/* Text-like bytes that compress about 3:1, the same on every loop. */
static void fill_block(uint8_t *b) {
  static const char *words[] = {"irpc ",   "loop ",   "thread ", "call ",
                                "server ", "client ", "slic ",   "frame ",
                                "stream ", "deflate "};
  uint32_t x = 12345;
  size_t i = 0;
  while (i < BLOCK) {
    x = x * 1103515245u + 12345u;
    const char *w = words[(x >> 16) % 10];
    for (; *w && i < BLOCK; w++)
      b[i++] = (uint8_t)(*w ^ ((x >> 8) & 1 ? 0x20 : 0));
  }
}

static int factory(uv_loop_t *loop, unsigned index, irpc_dispatcher **out,
                   void *ud) {
  server_ctx *sc = ud;
  per_loop *pl = &sc->loops[index];
  pl->block = malloc(BLOCK);
  pl->out_cap = compressBound(BLOCK);
  pl->out = malloc(pl->out_cap);
  if (!pl->block || !pl->out)
    return IRPC_ENOMEM;
  fill_block(pl->block);
  int rc = irpc_router_new(&pl->router, loop);
  if (!rc)
    rc = irpc_dispatcher_new(&pl->deflate, loop, &deflate_ops, pl);
  if (!rc)
    rc = irpc_dispatcher_new(&pl->echo, loop, &echo_ops, NULL);
  if (!rc)
    rc = irpc_router_map(pl->router, "/deflate", pl->deflate);
  if (!rc)
    rc = irpc_router_map(pl->router, "/echo", pl->echo);
  if (!rc)
    *out = irpc_router_dispatcher(pl->router);
  return rc;
}

static void release(uv_loop_t *loop, unsigned index, irpc_dispatcher *d,
                    void *ud) {
  server_ctx *sc = ud;
  per_loop *pl = &sc->loops[index];
  (void)loop;
  (void)d;
  irpc_router_free(pl->router);
  irpc_dispatcher_free(pl->deflate);
  irpc_dispatcher_free(pl->echo);
  free(pl->block);
  free(pl->out);
}

/* ---- The client side ---- */

typedef struct client {
  uv_loop_t loop;
  irpc_invoker *conns[CONNS_MAX];
  int nconns;
  uint64_t deadline_ns;
  uint64_t completed;
  uint64_t failed;
  int outstanding;
  int stop;
} client;

typedef struct slot {
  client *cl;
  irpc_invoker *inv;
} slot;

static void issue(slot *s);

static void on_deflated(irpc_call *call, int err, irpc_incoming_response *r,
                        void *ud) {
  slot *s = ud;
  client *cl = s->cl;
  (void)call;
  if (err || irpc_incoming_response_status(r) != IRPC_STATUS_OK)
    cl->failed++;
  else
    cl->completed++;
  irpc_incoming_response_free(r);
  cl->outstanding--;
  if (bench_now_ns() < cl->deadline_ns && !cl->failed)
    issue(s);
  else
    cl->stop = cl->outstanding == 0;
}

static void issue(slot *s) {
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, "/deflate", "run") != 0)
    return;
  if (irpc_invoke_owned(s->inv, req, on_deflated, s, NULL) == 0)
    s->cl->outstanding++;
}

static void run_until_stop(client *cl) {
  while (!cl->stop && uv_run(&cl->loop, UV_RUN_ONCE))
    ;
}

static int connect_all(client *cl, const char *bound, int n) {
  cl->nconns = n;
  for (int i = 0; i < n; i++)
    if (irpc_client_connection_new(&cl->conns[i], &cl->loop, bound, NULL))
      return -1;
  return 0;
}

static void on_shut(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  (*(int *)ud)--;
}

static void close_all(client *cl) {
  int left = 0;
  for (int i = 0; i < cl->nconns; i++)
    if (irpc_client_connection_shutdown(cl->conns[i], on_shut, &left) == 0)
      left++;
  while (left > 0 && uv_run(&cl->loop, UV_RUN_ONCE))
    ;
  for (int i = 0; i < cl->nconns; i++)
    irpc_invoker_free(cl->conns[i]);
  uv_run(&cl->loop, UV_RUN_DEFAULT);
}

/* Calls per second of /deflate over `seconds`. */
static double throughput(client *cl, double seconds, uint64_t *failed) {
  slot slots[CONNS_MAX * DEPTH];
  int ns = 0;
  /* Warm up: every connection established, the pools filled. */
  cl->completed = cl->failed = 0;
  cl->stop = 0;
  cl->deadline_ns = bench_now_ns() + 300 * 1000000ull;
  for (int i = 0; i < cl->nconns; i++)
    for (int k = 0; k < DEPTH; k++) {
      slots[ns].cl = cl;
      slots[ns].inv = cl->conns[i];
      issue(&slots[ns++]);
    }
  run_until_stop(cl);
  cl->completed = 0;
  cl->stop = 0;
  uint64_t t0 = bench_now_ns();
  cl->deadline_ns = t0 + (uint64_t)(seconds * 1e9);
  for (int i = 0; i < ns; i++)
    issue(&slots[i]);
  run_until_stop(cl);
  double elapsed = (double)(bench_now_ns() - t0) / 1e9;
  *failed = cl->failed;
  return (double)cl->completed / elapsed;
}

typedef struct lat {
  int done;
  int err;
} lat;

static void on_echo(irpc_call *call, int err, irpc_incoming_response *r,
                    void *ud) {
  lat *l = ud;
  (void)call;
  l->err = err ? err : (int)irpc_incoming_response_status(r);
  l->done = 1;
  irpc_incoming_response_free(r);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* p50 and p99 of small sequential calls on the first connection. */
static int latency(client *cl, int calls, uint64_t *p50, uint64_t *p99) {
  uint64_t *t = malloc(sizeof(uint64_t) * (size_t)calls);
  if (!t)
    return -1;
  int warm = calls / 10;
  for (int i = -warm; i < calls; i++) {
    irpc_outgoing_request *req;
    if (irpc_outgoing_request_new(&req, "/echo", "op") != 0)
      break;
    irpc_buf_append(irpc_outgoing_request_payload(req), "0123456789abcdef", 16);
    lat l = {0};
    uint64_t t0 = bench_now_ns();
    if (irpc_invoke_owned(cl->conns[0], req, on_echo, &l, NULL) != 0)
      break;
    while (!l.done)
      uv_run(&cl->loop, UV_RUN_ONCE);
    if (l.err) {
      free(t);
      return -1;
    }
    if (i >= 0)
      t[i] = bench_now_ns() - t0;
  }
  qsort(t, (size_t)calls, sizeof(uint64_t), cmp_u64);
  *p50 = t[calls / 2];
  *p99 = t[(size_t)calls * 99 / 100];
  free(t);
  return 0;
}

typedef struct figures {
  unsigned loops;
  double calls_per_s;
  uint64_t failed;
  uint64_t p50, p99;
  unsigned spread[16];
} figures;

static int measure(unsigned loops, int conns, double seconds, figures *f) {
  server_ctx *sc = calloc(1, sizeof(*sc));
  if (!sc)
    return -1;
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  o.loops = loops;
  o.factory = factory;
  o.release = release;
  o.user_data = sc;
  irpc_multi_server *ms;
  char bound[256];
  int rc = irpc_multi_server_new(&ms, &o);
  if (rc) {
    fprintf(stderr, "multi-loop server: %s\n", irpc_strerror(rc));
    free(sc);
    return -1;
  }
  rc = irpc_multi_server_listen(ms, "icerpc://127.0.0.1:0", bound,
                                sizeof(bound));
  client cl;
  memset(&cl, 0, sizeof(cl));
  uv_loop_init(&cl.loop);
  if (rc == 0)
    rc = connect_all(&cl, bound, conns);
  memset(f, 0, sizeof(*f));
  f->loops = loops;
  if (rc == 0)
    f->calls_per_s = throughput(&cl, seconds, &f->failed);
  if (rc == 0)
    rc = latency(&cl, 5000, &f->p50, &f->p99);
  irpc_multi_server_stats each[16];
  unsigned n = irpc_multi_server_read_stats(ms, NULL, each, 16);
  for (unsigned i = 0; i < n && i < 16; i++)
    f->spread[i] = (unsigned)each[i].connections_current;
  close_all(&cl);
  uv_loop_close(&cl.loop);
  irpc_multi_server_free(ms);
  free(sc);
  return rc ? -1 : 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of each figure over the rounds (the spread of the first). */
static figures median(const figures *r, int n) {
  figures m = r[0];
  double v[3][9];
  for (int i = 0; i < n; i++) {
    v[0][i] = r[i].calls_per_s;
    v[1][i] = (double)r[i].p50;
    v[2][i] = (double)r[i].p99;
    m.failed |= r[i].failed;
  }
  for (int k = 0; k < 3; k++)
    qsort(v[k], (size_t)n, sizeof(double), cmp_double);
  m.calls_per_s = v[0][n / 2];
  m.p50 = (uint64_t)v[1][n / 2];
  m.p99 = (uint64_t)v[2][n / 2];
  return m;
}

static void usage(void) {
  fprintf(stderr,
          "usage: irpc-bench loops [--loops N] [--conns N] [--seconds S] "
          "[--rounds R] [--json FILE]\n"
          "  a multi-loop server with 1 loop, then N (2), in one run: calls "
          "per second\n"
          "  of a CPU-bound call (compressing 64 KiB) over --conns "
          "connections (8),\n"
          "  and the latency of small calls one at a time; R rounds (3) of "
          "S seconds (2)\n  each, alternating, medians reported\n");
  exit(2);
}

int bench_loops_main(int argc, char **argv) {
  unsigned loops = 2;
  int conns = 8;
  double seconds = 2.0;
  int rounds = 3;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--loops") && i + 1 < argc)
      loops = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
      conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else
      usage();
  }
  if (loops < 2 || loops > 16 || conns < 1 || conns > CONNS_MAX ||
      seconds <= 0 || rounds < 1 || rounds > 9)
    usage();
  bench_json j;
  if (bench_json_open(&j, json)) {
    perror(json);
    return 1;
  }
  printf("multi-loop server over TCP on the loopback, clients on one loop "
         "of the same process; %u cores\n",
         uv_available_parallelism());
  printf("throughput: %d connections x %d calls in flight, each call "
         "compresses 64 KiB (zlib 6); latency: one 16-byte call at a time\n",
         conns, DEPTH);
  /* Rounds alternate 1 loop and N loops, so that what else the machine
   * does weighs on both alike; each figure is the median of its rounds. */
  enum { ROUNDS_MAX = 9 };
  figures r1[ROUNDS_MAX], rn[ROUNDS_MAX];
  for (int k = 0; k < rounds; k++)
    if (measure(1, conns, seconds, &r1[k]) ||
        measure(loops, conns, seconds, &rn[k])) {
      fprintf(stderr, "irpc-bench loops: a run failed\n");
      return 1;
    }
  figures f1 = median(r1, rounds), fn = median(rn, rounds);
  printf("%-6s %12s %10s %10s  %s\n", "loops", "calls/s", "p50 us", "p99 us",
         "connections per loop");
  figures *all[2] = {&f1, &fn};
  for (int k = 0; k < 2; k++) {
    figures *f = all[k];
    printf("%-6u %12.0f %10.1f %10.1f  ", f->loops, f->calls_per_s,
           (double)f->p50 / 1e3, (double)f->p99 / 1e3);
    for (unsigned i = 0; i < f->loops; i++)
      printf("%s%u", i ? "/" : "", f->spread[i]);
    printf("%s\n", f->failed ? "  (calls failed)" : "");
    bench_json_begin(&j);
    bench_json_num(&j, "loops", f->loops);
    bench_json_num(&j, "calls_per_s", f->calls_per_s);
    bench_json_num(&j, "p50_us", (double)f->p50 / 1e3);
    bench_json_num(&j, "p99_us", (double)f->p99 / 1e3);
    bench_json_end(&j);
  }
  printf("ratio %u loops / 1 loop: %.2fx calls/s, %.2fx small-call p50\n",
         loops, fn.calls_per_s / f1.calls_per_s,
         (double)fn.p50 / (double)f1.p50);
  bench_json_close(&j);
  return f1.failed || fn.failed ? 1 : 0;
}
