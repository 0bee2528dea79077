/* Small shared helpers for the benchmark programs: a monotonic clock, an
 * allocation-counting allocator, a JSON record writer, closed-loop calls,
 * percentiles and the command line of the comparison peers. */
#ifndef IRPC_BENCHUTIL_H
#define IRPC_BENCHUTIL_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <irpc/irpc.h>

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* Installs an allocator that counts calls to alloc/realloc(NULL, ...):
 * in all (bench_alloc_count) and per thread (the counter of the calling
 * thread, which any thread may read with bench_alloc_read). */
void bench_alloc_install(void);
uint64_t bench_alloc_count(void);
const atomic_uint_least64_t *bench_alloc_thread_counter(void);
uint64_t bench_alloc_read(const atomic_uint_least64_t *counter);

/* A JSON array of flat records, written as it goes. */
typedef struct bench_json {
  FILE *f;
  int records;
  int fields;
} bench_json;

/* Opens `path` (NULL: a disabled writer). Returns 0 or -1. */
int bench_json_open(bench_json *j, const char *path);
void bench_json_begin(bench_json *j);
void bench_json_num(bench_json *j, const char *key, double value);
void bench_json_str(bench_json *j, const char *key, const char *value);
void bench_json_end(bench_json *j);
void bench_json_close(bench_json *j);

/* Closed-loop calls of one request on one invoker: `inflight` at once, a
 * new one started as each completes, until `n` completed (the loop runs
 * meanwhile). A call that fails, or ends with a status other than Ok,
 * counts in `failed`. With `lat`, the latency of each call in ns (for one
 * call in flight). Returns the time it took in ns. */
typedef struct bench_calls {
  uv_loop_t *loop;
  irpc_invoker *inv;
  irpc_outgoing_request *req;
  uint64_t started, done, failed, target;
  uint64_t *lat, t0;
} bench_calls;

uint64_t bench_calls_run(bench_calls *k, size_t inflight, uint64_t n,
                         uint64_t *lat);

/* Shuts the client connection `inv` down gracefully and runs `loop` until
 * that completed (at once when the shutdown could not start). */
void bench_client_shutdown(uv_loop_t *loop, irpc_invoker *inv);

/* qsort's comparison of uint64_t values. */
int bench_cmp_u64(const void *a, const void *b);
/* The p-th percentile (0..1) of n samples in ns, in us; sorts them. */
double bench_pct_us(uint64_t *ns, size_t n, double p);
/* seconds * per_s, at least min: how many iterations fill a figure. */
uint64_t bench_count_for(double seconds, double per_s, uint64_t min);

/* The command line of a comparison peer's client, argv[1..]:
 * `client [--seconds S] tcp://HOST:PORT`. Returns the address (and sets
 * *seconds when given), or NULL when the line is not that. */
const char *bench_client_args(int argc, char **argv, double *seconds);
/* tcp://HOST:PORT with an IPv4 HOST into *a: 0, or -1. */
int bench_tcp_address(const char *address, struct sockaddr_in *a);

#endif
