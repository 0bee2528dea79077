/* The loop's scheduler arms a timer from the time it is armed, even when
 * the loop's cached time is stale because the application blocked before
 * arming it. */
#include <time.h>

#include "base/scheduler.h"
#include "kit/kit.h"

static int fired;
static uint64_t fired_at;

static void on_fire(irpc__timer *t) {
  (void)t;
  fired = 1;
  fired_at = uv_hrtime();
}

static void test_timer_after_blocking(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc__sched *s = irpc__sched_acquire(&loop);
  assert_non_null(s);
  /* setup: the application blocks 300 ms, the loop's time stays behind */
  struct timespec ts = {0, 300 * 1000000L};
  nanosleep(&ts, NULL);
  irpc__timer t;
  irpc__timer_init(&t, on_fire);
  uint64_t start = uv_hrtime();
  assert_irpc_ok(irpc__timer_start(s, &t, 200));
  while (!fired)
    uv_run(&loop, UV_RUN_ONCE);
  /* the loop's clock is in whole milliseconds, and may be a coarse one */
  assert_true(fired_at - start >= 190 * 1000000ULL);
  irpc__sched_release(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timer_after_blocking),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
