#include <stdlib.h>
#include <time.h>

#include <irpc/alloc.h>

#include "benchutil.h"

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t alloc_count;

static void *count_alloc(void *opaque, size_t size) {
  (void)opaque;
  alloc_count++;
  return malloc(size);
}

static void *count_realloc(void *opaque, void *ptr, size_t size) {
  (void)opaque;
  if (!ptr)
    alloc_count++;
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
  return alloc_count;
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
