/* What the ice session fuzz targets share (ice_session.c for the server
 * side, ice_client.c for the client side): the check that aborts, the
 * message table's hex, and real time passing on the loop. */
#ifndef IRPC_TESTS_FUZZ_FZ_ICE_H
#define IRPC_TESTS_FUZZ_FZ_ICE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);   \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* The bytes of the hex text `s` into `out`; returns their number. */
static inline size_t fz_unhex(uint8_t *out, const char *s) {
  size_t n = 0;
  for (; s[0] && s[1]; s += 2) {
    unsigned v;
    sscanf(s, "%2x", &v);
    out[n++] = (uint8_t)v;
  }
  return n;
}

static inline void fz_on_tick(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop once, waiting up to `ms` of real time for something. The
 * loop's clock is brought up to date first: a timer started on a stale
 * clock is due at once, runs before the poll, and the poll then blocks
 * until the next timer of the connection (seconds away). A wait that
 * lasts much longer than asked aborts. */
static inline void fz_run_ms(uv_loop_t *loop, unsigned ms) {
  uint64_t start = uv_hrtime();
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_update_time(loop);
  uv_timer_start(&t, fz_on_tick, ms, 0);
  uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  CHECK(uv_hrtime() - start < (uint64_t)(ms + 2000) * 1000000);
}

/* Operation 2 of both scripts: a+1 loop turns without blocking. */
static inline void fz_turns(uv_loop_t *loop, unsigned a) {
  for (unsigned k = 0; k <= a; k++)
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Operation 3: a+1 ms of real time, at most 8 ms an input (*slept). */
static inline void fz_wait(uv_loop_t *loop, unsigned *slept, unsigned a) {
  if (*slept + a + 1 > 8)
    return;
  *slept += a + 1;
  fz_run_ms(loop, a + 1);
}

#endif
