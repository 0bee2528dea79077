/* The irpc side of the side-by-side benchmarks (bench/compare/run.sh,
 * bench/ice/run.sh): an irpc client measuring, against an echo server of
 * another process (`irpc-bench serve`, or an Ice server over ice), what
 * the other clients of the comparison measure, the way irpc-bench rpc does
 * (one loop, calls started from the completion callbacks), with default
 * options (over ice, a maximum message size with room for the 1 MiB echo):
 *   latency     empty two-way calls one at a time (p50, p99);
 *   inflight_N  calls per second with 1, 64 and 1,024 calls in flight on
 *               one connection;
 *   echo_64KiB, echo_1MiB
 *               echo calls one at a time: MB/s of request payload.
 *
 *   connects    with --connects: connections established per second (a
 *               new client connection each time: transport connect, TLS
 *               handshake when over TLS, icerpc handshake).
 *
 *   irpc-bench-client [--seconds S] [--tls-ca FILE] [--connects]
 *                     [--only FIGURE] ADDRESS
 *
 * --only: measures just that figure (latency, inflight, echo_64KiB or
 * echo_1MiB), for profiling one of them.
 *
 * --tls-ca: over TLS (irpc-bench serve --tls-cert ...), trusting the
 * certificates of FILE; the lines then start with "tls" instead of "tcp".
 *
 * ADDRESS is icerpc://host:port or ice://host:port (or any other irpc
 * server address); the calls go to /echo, operation "op". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/ice.h>
#include <irpc/irpc.h>

#include "benchutil.h"

/* MB/s of echo calls of size bytes, one at a time. */
static double echo_mbps(bench_calls *k, size_t size, double seconds,
                        double per_s) {
  irpc_buf *payload = irpc_outgoing_request_payload(k->req);
  void *blob = calloc(1, size);
  irpc_buf_clear(payload);
  irpc_buf_append(payload, blob, size);
  free(blob);
  bench_calls_run(k, 1, 3, NULL);
  uint64_t m = bench_count_for(seconds, per_s, 20);
  return (double)m * (double)size /
         ((double)bench_calls_run(k, 1, m, NULL) / 1e9) / 1e6;
}

static void up_cb(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  *(int *)ud = status ? status : 1;
}

/* Connections established per second: a new client connection each time,
 * connected then shut down. */
static double connects(uv_loop_t *loop, const char *address,
                       const irpc_connection_options *o, double seconds) {
  uint64_t n = 0, t0 = bench_now_ns();
  while (n < 20 || bench_now_ns() - t0 < (uint64_t)(seconds * 1e9)) {
    irpc_invoker *inv;
    int up = 0;
    if (irpc_client_connection_new(&inv, loop, address, o) != 0)
      return 0;
    if (irpc_client_connection_connect(inv, up_cb, &up) == 0)
      while (!up)
        uv_run(loop, UV_RUN_ONCE);
    if (up == 1)
      bench_client_shutdown(loop, inv);
    irpc_invoker_free(inv);
    if (up != 1)
      return 0;
    n++;
  }
  return (double)n / ((double)(bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv) {
  double seconds = 1.0;
  const char *address = NULL, *tls_ca = NULL, *only = NULL;
  int with_connects = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--tls-ca") && i + 1 < argc)
      tls_ca = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else if (!strcmp(argv[i], "--connects"))
      with_connects = 1;
    else if (argv[i][0] != '-' && !address)
      address = argv[i];
    else
      address = NULL, i = argc;
  }
  if (!address) {
    fprintf(stderr,
            "usage: irpc-bench-client [--seconds S] [--tls-ca FILE] "
            "[--connects] [--only latency|inflight|echo_64KiB|echo_1MiB] "
            "ADDRESS\n");
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  irpc_ice_options io;
  irpc_ice_options_init(&io);
  io.max_message_size = 4u << 20; /* room for the 1 MiB echo */
  o.ice = &io;
  irpc_tls_client *tls = NULL;
  int rc = 0;
  if (tls_ca) {
    irpc_tls_options to;
    irpc_tls_options_init(&to);
    to.ca_file = tls_ca;
    to.session_cache_size = 0; /* connects: full handshakes */
    rc = irpc_tls_client_new(&tls, &to);
    o.tls_client = tls;
  }
  const char *tag = tls ? "tls" : "tcp";
  bench_calls k = {.loop = &loop};
  if (rc == 0)
    rc = irpc_client_connection_new(&k.inv, &loop, address, &o);
  if (rc == 0)
    rc = irpc_outgoing_request_new(&k.req, "/echo", "op");
  if (rc) {
    fprintf(stderr, "irpc-bench-client: %s\n", irpc_strerror(rc));
    return 1;
  }
  bench_calls_run(&k, 1, 2000, NULL); /* connect and warm up */

#define WANT(name) (!only || !strcmp(only, name))
  /* (a) latency */
  if (WANT("latency")) {
    uint64_t n = bench_count_for(seconds, 20000, 2000);
    uint64_t *lat = calloc(n, sizeof(*lat));
    bench_calls_run(&k, 1, n, lat);
    double p50 = bench_pct_us(lat, n, 0.5), p99 = bench_pct_us(lat, n, 0.99);
    printf("%s  latency        p50 %7.1f us  p99 %7.1f us\n", tag, p50, p99);
    free(lat);
  }

  /* (b) rate with 1, 64, 1024 in flight */
  static const size_t depths[] = {1, 64, 1024};
  for (size_t i = 0; i < 3 && WANT("inflight"); i++) {
    uint64_t m = bench_count_for(seconds, depths[i] == 1 ? 20000 : 100000,
                                 depths[i] * 4);
    double rate =
        (double)m / ((double)bench_calls_run(&k, depths[i], m, NULL) / 1e9);
    printf("%s  inflight_%-5zu %10.0f calls/s\n", tag, depths[i], rate);
  }

  /* (c) 64 KiB and 1 MiB echo, one call at a time */
  if (WANT("echo_64KiB"))
    printf("%s  echo_64KiB     %7.0f MB/s\n", tag,
           echo_mbps(&k, 64 * 1024, seconds, 5000));
  if (WANT("echo_1MiB"))
    printf("%s  echo_1MiB      %7.0f MB/s\n", tag,
           echo_mbps(&k, 1u << 20, seconds, 500));

  bench_client_shutdown(&loop, k.inv);
  irpc_invoker_free(k.inv);
  irpc_outgoing_request_free(k.req);
  if (with_connects)
    printf("%s  connects       %7.0f /s\n", tag,
           connects(&loop, address, &o, seconds / 2));
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_tls_client_free(tls);
  uv_loop_close(&loop);
  if (k.failed) {
    fprintf(stderr, "irpc-bench-client: %llu calls failed\n",
            (unsigned long long)k.failed);
    return 1;
  }
  return 0;
}
