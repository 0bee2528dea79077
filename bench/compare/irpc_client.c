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
 *   irpc-bench-client [--seconds S] ADDRESS
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

static void shut_cb(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  *(int *)ud = 1;
}

int main(int argc, char **argv) {
  double seconds = 1.0;
  const char *address = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (argv[i][0] != '-' && !address)
      address = argv[i];
    else
      address = NULL, i = argc;
  }
  if (!address) {
    fprintf(stderr, "usage: irpc-bench-client [--seconds S] "
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
  bench_calls k = {.loop = &loop};
  int rc = irpc_client_connection_new(&k.inv, &loop, address, &o);
  if (rc == 0)
    rc = irpc_outgoing_request_new(&k.req, "/echo", "op");
  if (rc) {
    fprintf(stderr, "irpc-bench-client: %s\n", irpc_strerror(rc));
    return 1;
  }
  bench_calls_run(&k, 1, 2000, NULL); /* connect and warm up */

  /* (a) latency */
  uint64_t n = bench_count_for(seconds, 20000, 2000);
  uint64_t *lat = calloc(n, sizeof(*lat));
  bench_calls_run(&k, 1, n, lat);
  double p50 = bench_pct_us(lat, n, 0.5), p99 = bench_pct_us(lat, n, 0.99);
  printf("tcp  latency        p50 %7.1f us  p99 %7.1f us\n", p50, p99);
  free(lat);

  /* (b) rate with 1, 64, 1024 in flight */
  static const size_t depths[] = {1, 64, 1024};
  for (size_t i = 0; i < 3; i++) {
    uint64_t m = bench_count_for(seconds, depths[i] == 1 ? 20000 : 100000,
                                 depths[i] * 4);
    double rate =
        (double)m / ((double)bench_calls_run(&k, depths[i], m, NULL) / 1e9);
    printf("tcp  inflight_%-5zu %10.0f calls/s\n", depths[i], rate);
  }

  /* (c) 64 KiB and 1 MiB echo, one call at a time */
  printf("tcp  echo_64KiB     %7.0f MB/s\n",
         echo_mbps(&k, 64 * 1024, seconds, 5000));
  printf("tcp  echo_1MiB      %7.0f MB/s\n",
         echo_mbps(&k, 1u << 20, seconds, 500));

  int done = 0;
  if (irpc_client_connection_shutdown(k.inv, shut_cb, &done) == 0)
    while (!done)
      uv_run(&loop, UV_RUN_ONCE);
  irpc_invoker_free(k.inv);
  irpc_outgoing_request_free(k.req);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (k.failed) {
    fprintf(stderr, "irpc-bench-client: %llu calls failed\n",
            (unsigned long long)k.failed);
    return 1;
  }
  return 0;
}
