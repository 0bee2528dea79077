/* The loop's scheduler: a timer counts from the time it is armed, even
 * when the loop's cached time is stale because the application blocked
 * before arming it; tasks a poll set off end in that turn; a task posted
 * for later waits for the next poll, and can be canceled while it
 * waits. */
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

/* A chain of tasks: each posts the next until `left` is 0. */
typedef struct chain {
  irpc__task task;
  irpc__sched *s;
  int left;
  int ran;
} chain;

static void chain_step(irpc__task *t) {
  chain *c = (chain *)t;
  c->ran++;
  if (--c->left > 0)
    irpc__sched_post(c->s, &c->task);
}

static void on_timer(uv_timer_t *h) {
  chain *c = h->data;
  irpc__sched_post(c->s, &c->task);
}

/* A chain of 4 tasks started by what the poll delivered (a timer here)
 * runs whole in that turn: one uv_run, and the loop then has nothing to
 * do. A chain longer than a phase's passes goes on in later turns. */
static void test_chain_ends_in_its_turn(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  chain c = {.task.fn = chain_step, .left = 4};
  c.s = irpc__sched_acquire(&loop);
  assert_non_null(c.s);
  uv_timer_t h;
  uv_timer_init(&loop, &h);
  h.data = &c;
  uv_timer_start(&h, on_timer, 0, 0);
  uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(c.ran, 4);
  assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0); /* nothing left */
  c.ran = 0;
  c.left = 100;
  uv_timer_start(&h, on_timer, 0, 0);
  uv_run(&loop, UV_RUN_ONCE);
  assert_true(c.ran > 1 && c.ran < 100);
  while (c.left > 0)
    uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(c.ran, 100);
  uv_close((uv_handle_t *)&h, NULL);
  irpc__sched_release(c.s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static int later_ran;
static uint64_t later_turn;

static void later_step(irpc__task *t) {
  (void)t;
  later_ran++;
}

static void post_later_task(irpc__task *t) {
  chain *c = (chain *)t;
  later_turn = irpc__sched_turn(c->s);
  irpc__sched_post_later(c->s, (irpc__task *)&c[1]);
}

/* Posted for later, a task runs after the next poll, in a later turn than
 * the one that posted it; canceled while it waits, it never runs. */
static void test_post_later(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  chain c[2] = {{.task.fn = post_later_task}, {.task.fn = later_step}};
  c[0].s = irpc__sched_acquire(&loop);
  assert_non_null(c[0].s);
  irpc__sched_post(c[0].s, &c[0].task);
  while (!later_ran)
    uv_run(&loop, UV_RUN_ONCE);
  assert_true(irpc__sched_turn(c[0].s) > later_turn);
  irpc__sched_post_later(c[0].s, &c[1].task);
  irpc__sched_cancel(c[0].s, &c[1].task);
  assert_int_equal(c[1].task.queued, 0);
  for (int i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(later_ran, 1);
  irpc__sched_release(c[0].s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timer_after_blocking),
      cmocka_unit_test(test_chain_ends_in_its_turn),
      cmocka_unit_test(test_post_later),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
