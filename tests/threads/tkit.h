/* What the thread tests share: running a blocking function on a thread of
 * its own while the test's loop runs, and waking that loop when it
 * returns (a uv_async_t: no shared flag is read across threads). */
#ifndef IRPC_TESTS_THREADS_TKIT_H
#define IRPC_TESTS_THREADS_TKIT_H

#include "kit/kit.h"

typedef struct tkit_bg {
  uv_thread_t thread;
  uv_async_t async;
  void (*fn)(void *arg);
  void *arg;
  int done; /* set on the loop's thread by the async callback */
} tkit_bg;

static void tkit_bg_async(uv_async_t *a) {
  tkit_bg *bg = a->data;
  bg->done = 1;
}

static void tkit_bg_main(void *arg) {
  tkit_bg *bg = arg;
  bg->fn(bg->arg);
  uv_async_send(&bg->async);
}

/* Runs fn(arg) on a new thread; the loop wakes (bg->done) when it
 * returned. */
static inline void tkit_bg_start(tkit_bg *bg, uv_loop_t *loop,
                                 void (*fn)(void *), void *arg) {
  bg->fn = fn;
  bg->arg = arg;
  bg->done = 0;
  assert_int_equal(uv_async_init(loop, &bg->async, tkit_bg_async), 0);
  bg->async.data = bg;
  assert_int_equal(uv_thread_create(&bg->thread, tkit_bg_main, bg), 0);
}

/* Runs the loop until fn returned, then joins its thread. */
static inline void tkit_bg_finish(tkit_bg *bg, uv_loop_t *loop) {
  kit_run_until(loop, &bg->done);
  assert_int_equal(uv_thread_join(&bg->thread), 0);
  uv_close((uv_handle_t *)&bg->async, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

#endif
