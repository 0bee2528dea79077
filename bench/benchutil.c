#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <irpc/alloc.h>

#include "benchutil.h"

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static atomic_uint_least64_t alloc_count;
/* Written by its own thread only, read by any. */
static _Thread_local atomic_uint_least64_t alloc_thread_count;

static void count_one(void) {
  atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
  atomic_store_explicit(
      &alloc_thread_count,
      atomic_load_explicit(&alloc_thread_count, memory_order_relaxed) + 1,
      memory_order_relaxed);
}

static void *count_alloc(void *opaque, size_t size) {
  (void)opaque;
  count_one();
  return malloc(size);
}

static void *count_realloc(void *opaque, void *ptr, size_t size) {
  (void)opaque;
  if (!ptr)
    count_one();
  return realloc(ptr, size);
}

static void count_free(void *opaque, void *ptr) {
  (void)opaque;
  free(ptr);
}

void bench_alloc_install(void) {
  static const irpc_allocator a = {.struct_size = sizeof(irpc_allocator),
                                   .alloc = count_alloc,
                                   .realloc = count_realloc,
                                   .free = count_free};
  if (irpc_set_allocator(&a) != 0) {
    fprintf(stderr, "cannot install the counting allocator\n");
    exit(1);
  }
}

uint64_t bench_alloc_count(void) {
  return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}

const atomic_uint_least64_t *bench_alloc_thread_counter(void) {
  return &alloc_thread_count;
}

uint64_t bench_alloc_read(const atomic_uint_least64_t *counter) {
  return atomic_load_explicit(counter, memory_order_relaxed);
}

int bench_json_open(bench_json *j, const char *path) {
  j->f = NULL;
  j->records = 0;
  j->fields = 0;
  if (!path)
    return 0;
  j->f = fopen(path, "w");
  if (!j->f)
    return -1;
  fputs("[", j->f);
  return 0;
}

void bench_json_begin(bench_json *j) {
  if (j->f)
    fprintf(j->f, "%s\n  {", j->records++ ? "," : "");
  j->fields = 0;
}

void bench_json_num(bench_json *j, const char *key, double value) {
  if (!j->f)
    return;
  /* Whole numbers (counts, bytes) are written exactly. */
  if (value == (double)(int64_t)value && value < 9007199254740992.0 &&
      value > -9007199254740992.0)
    fprintf(j->f, "%s\"%s\": %lld", j->fields++ ? ", " : "", key,
            (long long)value);
  else
    fprintf(j->f, "%s\"%s\": %.6g", j->fields++ ? ", " : "", key, value);
}

void bench_json_str(bench_json *j, const char *key, const char *value) {
  if (!j->f)
    return;
  fprintf(j->f, "%s\"%s\": \"", j->fields++ ? ", " : "", key);
  for (const char *p = value; *p; p++) {
    if (*p == '"' || *p == '\\')
      fputc('\\', j->f);
    fputc(*p, j->f);
  }
  fputc('"', j->f);
}

void bench_json_end(bench_json *j) {
  if (j->f)
    fputs("}", j->f);
}

void bench_json_close(bench_json *j) {
  if (!j->f)
    return;
  fputs("\n]\n", j->f);
  fclose(j->f);
  j->f = NULL;
}

static void calls_start(bench_calls *k);

static void calls_done(irpc_call *call, int err, irpc_incoming_response *resp,
                       void *ud) {
  (void)call;
  bench_calls *k = ud;
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK)
    k->failed++;
  irpc_incoming_response_free(resp);
  if (k->lat)
    k->lat[k->done] = bench_now_ns() - k->t0;
  k->done++;
  if (k->started < k->target)
    calls_start(k);
}

static void calls_start(bench_calls *k) {
  k->started++;
  if (k->lat)
    k->t0 = bench_now_ns();
  if (irpc_invoke(k->inv, k->req, calls_done, k, NULL) != 0) {
    k->failed++;
    k->done++;
  }
}

uint64_t bench_calls_run(bench_calls *k, size_t inflight, uint64_t n,
                         uint64_t *lat) {
  k->started = k->done = 0;
  k->target = n;
  k->lat = lat;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < inflight && i < n; i++)
    calls_start(k);
  while (k->done < n)
    uv_run(k->loop, UV_RUN_ONCE);
  return bench_now_ns() - t0;
}

static void shut_done(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  *(int *)ud = 1;
}

void bench_client_shutdown(uv_loop_t *loop, irpc_invoker *inv) {
  int done = 0;
  if (irpc_client_connection_shutdown(inv, shut_done, &done) == 0)
    while (!done)
      uv_run(loop, UV_RUN_ONCE);
}

int bench_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

double bench_pct_us(uint64_t *ns, size_t n, double p) {
  qsort(ns, n, sizeof(*ns), bench_cmp_u64);
  return (double)ns[(size_t)(p * (double)(n - 1) + 0.5)] / 1000.0;
}

uint64_t bench_count_for(double seconds, double per_s, uint64_t min) {
  double n = seconds * per_s;
  return n < (double)min ? min : (uint64_t)n;
}

const char *bench_client_args(int argc, char **argv, double *seconds) {
  if (argc < 3 || strcmp(argv[1], "client"))
    return NULL;
  if (argc == 5 && !strcmp(argv[2], "--seconds")) {
    *seconds = atof(argv[3]);
    return argv[4];
  }
  return argc == 3 ? argv[2] : NULL;
}

int bench_tcp_address(const char *address, struct sockaddr_in *a) {
  char host[64];
  unsigned port;
  if (sscanf(address, "tcp://%63[^:]:%u", host, &port) != 2 || port > 65535 ||
      uv_ip4_addr(host, (int)port, a) != 0)
    return -1;
  return 0;
}
