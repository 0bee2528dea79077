/* The network benchmarks of irpc-bench. */
#ifndef IRPC_BENCH_RPC_H
#define IRPC_BENCH_RPC_H

#include <irpc/irpc.h>

#include "benchutil.h"

/* Tuned Slic sizes for bulk transfers (the defaults are IceRPC's 65,536
 * and 32,768). */
#define BENCH_TUNED_WINDOW (8u << 20)
#define BENCH_TUNED_FRAME (1u << 20)
/* The largest ice message the benchmark's connections take: a 1 MiB echo
 * plus its headers is over Ice's 1 MiB default. */
#define BENCH_ICE_MAX_MESSAGE (64u << 20)

/* A router with the echo service on /echo; `compress`: behind the compress
 * middleware, every response offered for compression. */
int bench_echo_router(irpc_router **out, irpc_dispatcher **echo,
                      uv_loop_t *loop, int compress);

int bench_rpc_main(int argc, char **argv);
int bench_serve_main(int argc, char **argv);
/* irpc-bench stream (stream.c). */
int bench_stream_main(int argc, char **argv);
/* Maps /stream for irpc-bench serve: requests read as streams (sets
 * sio->stream_request), answered Ok at once, the rest read and dropped. */
int bench_stream_serve_map(irpc_router *r, uv_loop_t *loop,
                           irpc_icerpc_options *sio, irpc_dispatcher **out);
/* Opens `n` idle connections to a child server and reports RSS per
 * connection per side. */
void bench_idle(const char *self, int n, bench_json *j);
/* Allocations per call on each side: bench_allocs runs
 * `irpc-bench rpc --allocs` (bench_allocs_main) in a child process and
 * prints and records its figures (bench/allocs.c). */
void bench_allocs(const char *self, const char *protocol, const char *transport,
                  double seconds, bench_json *j);
int bench_allocs_main(const char *protocol, const char *transport,
                      double seconds);

#endif
