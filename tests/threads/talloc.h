/* A failing allocator for the thread tests: the kit's counting allocator
 * (fail_at, fail_more, live) made safe for several threads. Its counts are
 * kept under a mutex; a thread may mark itself exempt, and then its
 * allocations never fail, do not advance fail_at and are not counted as
 * live (a peer in the same process frees its blocks when it likes). A test
 * exempts the threads it does not examine (a server's other loops, the thread
 * playing the peer), so that the allocations that may fail happen in one order
 * on every run: a sweep that fails the Nth of them for N = 1, 2, ... is
 * deterministic. */
#ifndef IRPC_TESTS_THREADS_TALLOC_H
#define IRPC_TESTS_THREADS_TALLOC_H

#include <stddef.h>
#include <stdlib.h>

#include "kit/kit.h"

typedef struct talloc_stats {
  long live;      /* blocks allocated by the threads not exempt, not freed */
  long fail_at;   /* the Nth counted allocation from now fails; 0: none */
  long fail_more; /* and so many after it */
  long failed;    /* allocations failed so far */
  long failed_before; /* when it was armed */
} talloc_stats;

static uv_mutex_t talloc_mutex;
static talloc_stats talloc_s;
static _Thread_local int talloc_exempt;

/* Under the mutex: whether this allocation fails. */
static int talloc_fail_now(void) {
  if (talloc_exempt || talloc_s.fail_at <= 0 || --talloc_s.fail_at != 0)
    return 0;
  if (talloc_s.fail_more > 0) {
    talloc_s.fail_more--;
    talloc_s.fail_at = 1;
  }
  talloc_s.failed++;
  return 1;
}

/* Each block starts with a header telling whether it was counted. */
typedef union talloc_head {
  int counted;
  max_align_t align;
} talloc_head;

static void *talloc_alloc(void *opaque, size_t size) {
  (void)opaque;
  uv_mutex_lock(&talloc_mutex);
  talloc_head *h =
      talloc_fail_now() ? NULL : malloc(sizeof(talloc_head) + size);
  if (h) {
    h->counted = !talloc_exempt;
    talloc_s.live += h->counted;
  }
  uv_mutex_unlock(&talloc_mutex);
  return h ? h + 1 : NULL;
}

static void *talloc_realloc(void *opaque, void *ptr, size_t size) {
  if (!ptr)
    return talloc_alloc(opaque, size);
  uv_mutex_lock(&talloc_mutex);
  talloc_head *h = talloc_fail_now() ? NULL
                                     : realloc((talloc_head *)ptr - 1,
                                               sizeof(talloc_head) + size);
  uv_mutex_unlock(&talloc_mutex);
  return h ? h + 1 : NULL;
}

static void talloc_free(void *opaque, void *ptr) {
  (void)opaque;
  if (!ptr)
    return;
  talloc_head *h = (talloc_head *)ptr - 1;
  uv_mutex_lock(&talloc_mutex);
  talloc_s.live -= h->counted;
  uv_mutex_unlock(&talloc_mutex);
  free(h);
}

/* Installs it: once, first thing in main. */
static inline void talloc_install(void) {
  static const irpc_allocator a = {
      .struct_size = sizeof(irpc_allocator),
      .alloc = talloc_alloc,
      .realloc = talloc_realloc,
      .free = talloc_free,
  };
  if (uv_mutex_init(&talloc_mutex) != 0 || irpc_set_allocator(&a) != 0)
    abort();
}

/* Fails the Nth counted allocation from now and `more` after it (0, 0:
 * none). */
static inline void talloc_arm(long n, long more) {
  uv_mutex_lock(&talloc_mutex);
  talloc_s.fail_at = n;
  talloc_s.fail_more = more;
  talloc_s.failed_before = talloc_s.failed;
  uv_mutex_unlock(&talloc_mutex);
}

/* Disarms it; returns 1 when no allocation failed since it was armed. */
static inline int talloc_disarm(void) {
  uv_mutex_lock(&talloc_mutex);
  int untouched = talloc_s.failed == talloc_s.failed_before;
  talloc_s.fail_at = 0;
  talloc_s.fail_more = 0;
  uv_mutex_unlock(&talloc_mutex);
  return untouched;
}

static inline long talloc_live(void) {
  uv_mutex_lock(&talloc_mutex);
  long n = talloc_s.live;
  uv_mutex_unlock(&talloc_mutex);
  return n;
}

/* This thread's allocations never fail (1) or may (0, the default). */
static inline void talloc_set_exempt(int exempt) {
  talloc_exempt = exempt;
}

#endif
