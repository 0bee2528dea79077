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
 * The clients run on one loop on the main thread of the same process, or
 * (--client-process) of a process of their own; the server's loops on
 * their own threads. Each round also times the same compression on plain
 * threads without irpc: the ratio of those is the ceiling the machine
 * allowed in the run, and irpc's ratio is reported as a share of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
  z_stream z; /* reset for each call: no allocation per call */
  int z_live;
} per_loop;

typedef struct server_ctx {
  per_loop loops[16];
  double cpu[16]; /* each loop thread's CPU seconds, at the last visit */
} server_ctx;

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void read_cpu(irpc_multi_server *ms, unsigned index, uv_loop_t *loop,
                     void *ud) {
  server_ctx *sc = ud;
  (void)ms;
  (void)loop;
  sc->cpu[index] = thread_cpu_s();
}

/* Compresses the 64 KiB block; returns the compressed size or 0. */
static uLong deflate_block(z_stream *z, const uint8_t *block, uint8_t *out,
                           uLong cap) {
  if (deflateReset(z) != Z_OK)
    return 0;
  z->next_in = (Bytef *)block;
  z->avail_in = BLOCK;
  z->next_out = out;
  z->avail_out = (uInt)cap;
  return deflate(z, Z_FINISH) == Z_STREAM_END ? z->total_out : 0;
}

static void deflate_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  per_loop *pl = *(per_loop **)irpc_dispatcher_data(self);
  uLong n = deflate_block(&pl->z, pl->block, pl->out, pl->out_cap);
  irpc_outgoing_response *r;
  if (n == 0 || irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0) {
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
  if (deflateInit(&pl->z, 6) != Z_OK)
    return IRPC_ENOMEM;
  pl->z_live = 1;
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
  if (pl->z_live)
    deflateEnd(&pl->z);
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

/* The calls of /deflate: every connection established, the pools
 * filled, then `seconds` of calls. The server's loops' CPU time is read
 * between the two, in this process (`ms`), or by the parent process that
 * runs the server, told "start" and "end" on stdout (`ms` NULL). Returns
 * the calls per second; client_busy receives the share of the time the
 * client's thread was on a CPU, busy[] each server loop's. */
static double throughput(client *cl, double seconds, uint64_t *failed,
                         irpc_multi_server *ms, server_ctx *sc, double *busy,
                         double *client_busy) {
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
  unsigned n = ms ? irpc_multi_server_loops(ms) : 0;
  double before[16];
  if (ms) {
    irpc_multi_server_visit(ms, read_cpu, sc);
    memcpy(before, sc->cpu, sizeof(before));
  } else {
    printf("start\n");
    fflush(stdout);
  }
  double c0 = thread_cpu_s();
  uint64_t t0 = bench_now_ns();
  cl->deadline_ns = t0 + (uint64_t)(seconds * 1e9);
  for (int i = 0; i < ns; i++)
    issue(&slots[i]);
  run_until_stop(cl);
  double elapsed = (double)(bench_now_ns() - t0) / 1e9;
  *client_busy = (thread_cpu_s() - c0) / elapsed;
  if (ms) {
    irpc_multi_server_visit(ms, read_cpu, sc);
    for (unsigned i = 0; i < n && i < 16; i++)
      busy[i] = (sc->cpu[i] - before[i]) / elapsed;
  }
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
  qsort(t, (size_t)calls, sizeof(uint64_t), bench_cmp_u64);
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
  double busy[16]; /* CPU share of each loop's thread */
  double client_busy;
} figures;

/* The client in a process of its own (irpc-bench loops --client), which
 * says "start" and "end" around its calls and then its latencies: the
 * server's loops then share the cores with nothing of this process. */
static int measure_remote(irpc_multi_server *ms, server_ctx *sc,
                          const char *bound, int conns, double seconds,
                          figures *f) {
  char exe[1024];
  size_t len = sizeof(exe);
  if (uv_exepath(exe, &len) != 0)
    return -1;
  char cmd[2048];
  snprintf(cmd, sizeof(cmd), "'%s' loops --client '%s' --conns %d --seconds %g",
           exe, bound, conns, seconds);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  unsigned n = irpc_multi_server_loops(ms);
  double before[16];
  uint64_t t0 = 0;
  int rc = -1;
  char line[256];
  while (fgets(line, sizeof(line), p)) {
    double cps, cbusy;
    unsigned long long failed, p50, p99;
    if (strcmp(line, "start\n") == 0) {
      irpc_multi_server_visit(ms, read_cpu, sc);
      memcpy(before, sc->cpu, sizeof(before));
      t0 = bench_now_ns();
    } else if (sscanf(line, "end %lf %lf %llu", &cps, &cbusy, &failed) == 3) {
      double elapsed = (double)(bench_now_ns() - t0) / 1e9;
      irpc_multi_server_visit(ms, read_cpu, sc);
      for (unsigned i = 0; i < n && i < 16; i++)
        f->busy[i] = (sc->cpu[i] - before[i]) / elapsed;
      f->calls_per_s = cps;
      f->client_busy = cbusy;
      f->failed = failed;
    } else if (sscanf(line, "lat %llu %llu", &p50, &p99) == 2) {
      f->p50 = p50;
      f->p99 = p99;
      rc = 0;
    }
  }
  if (pclose(p) != 0)
    rc = -1;
  return rc;
}

/* The other end of measure_remote. */
static int client_main(const char *address, int conns, double seconds) {
  client cl;
  memset(&cl, 0, sizeof(cl));
  uv_loop_init(&cl.loop);
  int rc = connect_all(&cl, address, conns);
  if (rc == 0) {
    uint64_t failed;
    double cbusy;
    double cps = throughput(&cl, seconds, &failed, NULL, NULL, NULL, &cbusy);
    printf("end %.3f %.4f %llu\n", cps, cbusy, (unsigned long long)failed);
    fflush(stdout);
    uint64_t p50, p99;
    rc = latency(&cl, 5000, &p50, &p99);
    if (rc == 0)
      printf("lat %llu %llu\n", (unsigned long long)p50,
             (unsigned long long)p99);
  }
  close_all(&cl);
  uv_loop_close(&cl.loop);
  return rc ? 1 : 0;
}

typedef struct mode {
  int conns;
  double seconds;
  int client_process; /* the client in a process of its own */
  int reuseport;      /* irpc_multi_server_listen_reuseport */
} mode;

static int measure(unsigned loops, const mode *m, figures *f) {
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
  rc = m->reuseport ? irpc_multi_server_listen_reuseport(
                          ms, "icerpc://127.0.0.1:0", bound, sizeof(bound))
                    : irpc_multi_server_listen(ms, "icerpc://127.0.0.1:0",
                                               bound, sizeof(bound));
  memset(f, 0, sizeof(*f));
  f->loops = loops;
  client cl;
  memset(&cl, 0, sizeof(cl));
  uv_loop_init(&cl.loop);
  if (rc == 0 && m->client_process) {
    rc = measure_remote(ms, sc, bound, m->conns, m->seconds, f);
  } else {
    if (rc == 0)
      rc = connect_all(&cl, bound, m->conns);
    if (rc == 0)
      f->calls_per_s = throughput(&cl, m->seconds, &f->failed, ms, sc, f->busy,
                                  &f->client_busy);
    if (rc == 0)
      rc = latency(&cl, 5000, &f->p50, &f->p99);
  }
  irpc_multi_server_stats each[16];
  unsigned n = irpc_multi_server_read_stats(ms, NULL, each, 16);
  for (unsigned i = 0; i < n && i < 16; i++)
    f->spread[i] = (unsigned)each[i].connections_accepted;
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

/* The round of the median calls per second (with its CPU shares), with
 * the median latencies of all rounds. */
static figures median(const figures *r, int n) {
  double v[3][9];
  int failed = 0;
  for (int i = 0; i < n; i++) {
    v[0][i] = r[i].calls_per_s;
    v[1][i] = (double)r[i].p50;
    v[2][i] = (double)r[i].p99;
    failed |= r[i].failed != 0;
  }
  for (int k = 0; k < 3; k++)
    qsort(v[k], (size_t)n, sizeof(double), cmp_double);
  figures m = r[0];
  for (int i = 0; i < n; i++)
    if (r[i].calls_per_s == v[0][n / 2])
      m = r[i];
  m.p50 = (uint64_t)v[1][n / 2];
  m.p99 = (uint64_t)v[2][n / 2];
  m.failed = (uint64_t)failed;
  return m;
}

/* The machine's own figure: the same compression on `n` plain threads,
 * without irpc, in calls per second. */
typedef struct raw_thread {
  uv_thread_t t;
  double seconds;
  uint64_t count;
} raw_thread;

static void raw_main(void *arg) {
  raw_thread *rt = arg;
  uint8_t *block = malloc(BLOCK);
  uLong cap = compressBound(BLOCK);
  uint8_t *out = malloc(cap);
  z_stream z;
  memset(&z, 0, sizeof(z));
  if (!block || !out || deflateInit(&z, 6) != Z_OK) {
    free(block);
    free(out);
    return;
  }
  fill_block(block);
  uint64_t end = bench_now_ns() + (uint64_t)(rt->seconds * 1e9);
  while (bench_now_ns() < end && deflate_block(&z, block, out, cap))
    rt->count++;
  deflateEnd(&z);
  free(block);
  free(out);
}

static double raw_threads(unsigned n, double seconds) {
  raw_thread rt[16];
  uint64_t t0 = bench_now_ns();
  for (unsigned i = 0; i < n; i++) {
    rt[i].seconds = seconds;
    rt[i].count = 0;
    uv_thread_create(&rt[i].t, raw_main, &rt[i]);
  }
  uint64_t total = 0;
  for (unsigned i = 0; i < n; i++) {
    uv_thread_join(&rt[i].t);
    total += rt[i].count;
  }
  return (double)total / ((double)(bench_now_ns() - t0) / 1e9);
}

static void usage(void) {
  fprintf(stderr,
          "usage: irpc-bench loops [--loops N] [--conns N] [--seconds S] "
          "[--rounds R] [--client-process] [--reuseport] [--json FILE]\n"
          "  a multi-loop server with 1 loop, then N (2), in one run: calls "
          "per second\n"
          "  of a CPU-bound call (compressing 64 KiB) over --conns "
          "connections (8),\n"
          "  and the latency of small calls one at a time; R rounds (3) of "
          "S seconds (2)\n  each, alternating, medians reported; "
          "--client-process runs the client in a\n  process of its own, "
          "--reuseport listens with SO_REUSEPORT on every loop\n");
  exit(2);
}

int bench_loops_main(int argc, char **argv) {
  unsigned loops = 2;
  mode m = {.conns = 8, .seconds = 2.0};
  int rounds = 3;
  const char *json = NULL;
  const char *client_of = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--loops") && i + 1 < argc)
      loops = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
      m.conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      m.seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--client-process"))
      m.client_process = 1;
    else if (!strcmp(argv[i], "--reuseport"))
      m.reuseport = 1;
    else if (!strcmp(argv[i], "--client") && i + 1 < argc)
      client_of = argv[++i];
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else
      usage();
  }
  if (loops < 2 || loops > 16 || m.conns < 1 || m.conns > CONNS_MAX ||
      m.seconds <= 0 || rounds < 1 || rounds > 9)
    usage();
  if (client_of)
    return client_main(client_of, m.conns, m.seconds);
  bench_json j;
  if (bench_json_open(&j, json)) {
    perror(json);
    return 1;
  }
  printf("multi-loop server over TCP on the loopback (%s), clients on one "
         "loop of %s; %u cores\n",
         m.reuseport ? "SO_REUSEPORT on every loop" : "loop 0 hands over",
         m.client_process ? "another process" : "the same process",
         uv_available_parallelism());
  printf("throughput: %d connections x %d calls in flight, each call "
         "compresses 64 KiB (zlib 6); latency: one 16-byte call at a time\n",
         m.conns, DEPTH);
  /* Rounds alternate 1 loop and N loops, so that what else the machine
   * does weighs on both alike; each figure is the median of its rounds. */
  enum { ROUNDS_MAX = 9 };
  figures r1[ROUNDS_MAX], rn[ROUNDS_MAX];
  double raw1[ROUNDS_MAX], rawn[ROUNDS_MAX];
  for (int k = 0; k < rounds; k++) {
    if (measure(1, &m, &r1[k]) || measure(loops, &m, &rn[k])) {
      fprintf(stderr, "irpc-bench loops: a run failed\n");
      return 1;
    }
    raw1[k] = raw_threads(1, m.seconds / 2);
    rawn[k] = raw_threads(loops, m.seconds / 2);
  }
  qsort(raw1, (size_t)rounds, sizeof(double), cmp_double);
  qsort(rawn, (size_t)rounds, sizeof(double), cmp_double);
  figures f1 = median(r1, rounds), fn = median(rn, rounds);
  printf("%-6s %12s %10s %10s  %-12s %s\n", "loops", "calls/s", "p50 us",
         "p99 us", "conns/loop", "CPU share: loops, client");
  figures *all[2] = {&f1, &fn};
  for (int k = 0; k < 2; k++) {
    figures *f = all[k];
    printf("%-6u %12.0f %10.1f %10.1f  ", f->loops, f->calls_per_s,
           (double)f->p50 / 1e3, (double)f->p99 / 1e3);
    char spread[64] = "";
    for (unsigned i = 0, at = 0; i < f->loops && at < sizeof(spread) - 8; i++)
      at += (unsigned)snprintf(spread + at, sizeof(spread) - at, "%s%u",
                               i ? "/" : "", f->spread[i]);
    printf("%-12s ", spread);
    for (unsigned i = 0; i < f->loops; i++)
      printf("%s%.0f%%", i ? "/" : "", f->busy[i] * 100);
    printf(", %.0f%%%s\n", f->client_busy * 100,
           f->failed ? "  (calls failed)" : "");
    bench_json_begin(&j);
    bench_json_num(&j, "loops", f->loops);
    bench_json_num(&j, "calls_per_s", f->calls_per_s);
    bench_json_num(&j, "p50_us", (double)f->p50 / 1e3);
    bench_json_num(&j, "p99_us", (double)f->p99 / 1e3);
    bench_json_end(&j);
  }
  printf("ratio %u loops / 1 loop: %.2fx calls/s, %.2fx small-call p50, "
         "%.2fx p99\n",
         loops, fn.calls_per_s / f1.calls_per_s,
         (double)fn.p50 / (double)f1.p50, (double)fn.p99 / (double)f1.p99);
  double cpu1 = 0, cpun = 0;
  for (unsigned i = 0; i < f1.loops; i++)
    cpu1 += f1.busy[i];
  for (unsigned i = 0; i < fn.loops; i++)
    cpun += fn.busy[i];
  /* What the loops did with the CPU time they got: equal figures mean the
   * calls per second follow the cores the machine gives the loops. */
  printf("calls per CPU-second of the loops: 1 loop %.0f, %u loops %.0f\n",
         cpu1 > 0 ? f1.calls_per_s / cpu1 : 0.0, loops,
         cpun > 0 ? fn.calls_per_s / cpun : 0.0);
  double ceiling = rawn[rounds / 2] / raw1[rounds / 2];
  double gain = fn.calls_per_s / f1.calls_per_s;
  printf("the machine itself, same compression on plain threads without "
         "irpc: 1 thread %.0f/s, %u threads %.0f/s (%.2fx)\n",
         raw1[rounds / 2], loops, rawn[rounds / 2], ceiling);
  /* The plain threads' ratio is what this machine allowed during the run:
   * irpc's ratio is read against it, not against the number of loops. */
  printf("irpc's gain with %u loops, %.2fx, is %.0f%% of the plain threads' "
         "%.2fx (the ceiling of this run)\n",
         loops, gain, ceiling > 0 ? 100.0 * gain / ceiling : 0.0, ceiling);
  bench_json_close(&j);
  return f1.failed || fn.failed ? 1 : 0;
}
