/* Small shared helpers for the benchmark programs: a monotonic clock, an
 * allocation-counting allocator and a JSON record writer. */
#ifndef IRPC_BENCHUTIL_H
#define IRPC_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* Installs an allocator that counts calls to alloc/realloc(NULL, ...). */
void bench_alloc_install(void);
uint64_t bench_alloc_count(void);

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

#endif
