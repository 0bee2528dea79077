/* The baseline of the side-by-side benchmark (bench/compare/run.sh): raw
 * libuv over TCP between two processes, no protocol at all. The server
 * echoes every byte it reads; the client measures what the RPC clients of
 * the comparison measure, with messages instead of calls:
 *   latency     a 16-byte ping-pong, one at a time (p50, p99);
 *   inflight_64 16-byte messages with 64 in flight (a new one sent for
 *               each one echoed back), messages per second;
 *   echo_64KiB, echo_1MiB
 *               one message at a time: MB/s of message payload.
 *
 *   irpc-bench-raw serve            prints tcp://127.0.0.1:PORT when ready,
 *                                   echoes until killed
 *   irpc-bench-raw client [--seconds S] tcp://HOST:PORT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "benchutil.h"

enum { ping_size = 16, read_size = 256 * 1024 };

/* ---- Server ---- */

typedef struct echo_write {
  uv_write_t w;
  char data[];
} echo_write;

static void srv_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)sz;
  static char buf[read_size];
  (void)h;
  *b = uv_buf_init(buf, sizeof buf);
}

static void srv_wdone(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void srv_closed(uv_handle_t *h) {
  free(h);
}

/* Writes what it can at once and queues a copy of the rest. */
static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  if (n < 0) {
    uv_close((uv_handle_t *)s, srv_closed);
    return;
  }
  uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
  int w = n > 0 ? uv_try_write(s, &out, 1) : 0;
  if (w == UV_EAGAIN)
    w = 0;
  if (w < 0) {
    uv_close((uv_handle_t *)s, srv_closed);
    return;
  }
  if (w < n) {
    size_t rest = (size_t)(n - w);
    echo_write *q = malloc(sizeof(*q) + rest);
    if (!q) {
      uv_close((uv_handle_t *)s, srv_closed);
      return;
    }
    memcpy(q->data, b->base + w, rest);
    out = uv_buf_init(q->data, (unsigned)rest);
    uv_write(&q->w, s, &out, 1, srv_wdone);
  }
}

static void srv_conn(uv_stream_t *l, int status) {
  if (status < 0)
    return;
  uv_tcp_t *c = malloc(sizeof(*c));
  uv_tcp_init(l->loop, c);
  if (uv_accept(l, (uv_stream_t *)c) != 0) {
    uv_close((uv_handle_t *)c, srv_closed);
    return;
  }
  uv_tcp_nodelay(c, 1);
  uv_read_start((uv_stream_t *)c, srv_alloc, srv_read);
}

static int serve(void) {
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t l;
  struct sockaddr_in a;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(loop, &l);
  int rc = uv_tcp_bind(&l, (struct sockaddr *)&a, 0);
  if (!rc)
    rc = uv_listen((uv_stream_t *)&l, 64, srv_conn);
  if (!rc)
    rc = uv_tcp_getsockname(&l, (struct sockaddr *)&bound, &len);
  if (rc) {
    fprintf(stderr, "irpc-bench-raw: %s\n", uv_strerror(rc));
    return 1;
  }
  printf("tcp://127.0.0.1:%u\n",
         (unsigned)ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- Client ---- */

typedef struct client {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  int connected, failed;
  char *msg;           /* the message sent, size bytes (all zero) */
  size_t size;         /* bytes per message */
  size_t pending;      /* bytes echoed back not yet counted */
  uint64_t sent, done; /* messages */
  uint64_t target;     /* messages to complete */
  uint64_t t0, *lat;   /* latency samples, or NULL */
  char rbuf[read_size];
} client;

static void cl_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  (void)sz;
  client *c = h->data;
  *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void cl_wdone(uv_write_t *w, int status) {
  client *c = w->data;
  if (status < 0)
    c->failed = 1;
  free(w);
}

/* Sends k messages in one write (the payload is zeros: one buffer per
 * message, the same bytes). */
static void cl_send(client *c, uint64_t k) {
  uv_buf_t bufs[64];
  while (k > 0) {
    unsigned n = k > 64 ? 64 : (unsigned)k;
    for (unsigned i = 0; i < n; i++)
      bufs[i] = uv_buf_init(c->msg, (unsigned)c->size);
    uv_write_t *w = malloc(sizeof(*w));
    w->data = c;
    if (uv_write(w, (uv_stream_t *)&c->tcp, bufs, n, cl_wdone) != 0) {
      free(w);
      c->failed = 1;
      return;
    }
    c->sent += n;
    k -= n;
  }
}

static void cl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  client *c = s->data;
  if (n < 0) {
    c->failed = 1;
    return;
  }
  c->pending += (size_t)n;
  uint64_t k = c->pending / c->size;
  c->pending -= k * c->size;
  for (uint64_t i = 0; i < k; i++) {
    if (c->lat)
      c->lat[c->done] = bench_now_ns() - c->t0;
    c->done++;
  }
  uint64_t room = c->target > c->sent ? c->target - c->sent : 0;
  if (k > room)
    k = room;
  if (k) {
    c->t0 = bench_now_ns();
    cl_send(c, k);
  }
}

static void cl_connected(uv_connect_t *r, int status) {
  client *c = r->data;
  if (status < 0)
    c->failed = 1;
  else
    c->connected = 1;
}

/* Completes target messages of size bytes with inflight at once; the time
 * it took in ns, 0 on failure. */
static uint64_t cl_run(client *c, size_t size, size_t inflight, uint64_t target,
                       uint64_t *lat) {
  if (size != c->size) {
    free(c->msg);
    c->msg = calloc(1, size);
    c->size = size;
  }
  c->sent = c->done = 0;
  c->target = target;
  c->lat = lat;
  uint64_t t0 = bench_now_ns();
  c->t0 = t0;
  cl_send(c, inflight < target ? inflight : target);
  while (c->done < target && !c->failed)
    uv_run(c->loop, UV_RUN_ONCE);
  return c->failed ? 0 : bench_now_ns() - t0;
}

static double mbps(client *c, size_t size, double seconds, double per_s) {
  cl_run(c, size, 1, 3, NULL);
  uint64_t m = bench_count_for(seconds, per_s, 20);
  uint64_t ns = cl_run(c, size, 1, m, NULL);
  return ns ? (double)m * (double)size / ((double)ns / 1e9) / 1e6 : 0;
}

static int run_client(const char *address, double seconds) {
  struct sockaddr_in a;
  if (bench_tcp_address(address, &a)) {
    fprintf(stderr, "irpc-bench-raw: bad address %s\n", address);
    return 2;
  }
  client *c = calloc(1, sizeof(*c));
  uv_connect_t cr;
  c->loop = uv_default_loop();
  uv_tcp_init(c->loop, &c->tcp);
  c->tcp.data = c;
  cr.data = c;
  uv_tcp_connect(&cr, &c->tcp, (struct sockaddr *)&a, cl_connected);
  while (!c->connected && !c->failed)
    uv_run(c->loop, UV_RUN_ONCE);
  if (c->failed) {
    fprintf(stderr, "irpc-bench-raw: cannot connect to %s\n", address);
    return 1;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, cl_alloc, cl_read);
  cl_run(c, ping_size, 1, 2000, NULL); /* warm up */

  uint64_t n = bench_count_for(seconds, 20000, 2000);
  uint64_t *lat = calloc(n, sizeof(*lat));
  cl_run(c, ping_size, 1, n, lat);
  printf("tcp  latency        p50 %7.1f us  p99 %7.1f us\n",
         bench_pct_us(lat, n, 0.5), bench_pct_us(lat, n, 0.99));
  free(lat);

  uint64_t m = bench_count_for(seconds, 300000, 256);
  uint64_t ns = cl_run(c, ping_size, 64, m, NULL);
  printf("tcp  inflight_64    %10.0f calls/s\n",
         ns ? (double)m / ((double)ns / 1e9) : 0);
  printf("tcp  echo_64KiB     %7.0f MB/s\n", mbps(c, 64 * 1024, seconds, 5000));
  printf("tcp  echo_1MiB      %7.0f MB/s\n", mbps(c, 1 << 20, seconds, 500));
  int failed = c->failed;
  free(c->msg);
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->tcp, NULL);
  uv_run(c->loop, UV_RUN_DEFAULT);
  free(c);
  if (failed)
    fprintf(stderr, "irpc-bench-raw: the connection failed\n");
  return failed;
}

int main(int argc, char **argv) {
  double seconds = 1.0;
  if (argc == 2 && !strcmp(argv[1], "serve"))
    return serve();
  const char *address = bench_client_args(argc, argv, &seconds);
  if (address)
    return run_client(address, seconds);
  fprintf(stderr, "usage: irpc-bench-raw serve\n"
                  "       irpc-bench-raw client [--seconds S] "
                  "tcp://HOST:PORT\n");
  return 2;
}
