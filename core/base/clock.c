/* Clocks: the system clock (the loop's timers) and a manual clock for
 * tests. */
#include <string.h>
#include <time.h>

#include "defaults.h"
#include "irpc/alloc.h"
#include "irpc/clock.h"
#include "irpc/error.h"
#include "list.h"
#include "scheduler.h"

typedef struct ctimer ctimer;
struct ctimer {
  irpc__timer t; /* due (ns for manual clocks), index (SIZE_MAX: unarmed) */
  irpc_clock_timer_fn fn;
  void *user_data;
  irpc_clock *clock;
  irpc__link link; /* manual clocks: in the armed list */
};

_Static_assert(sizeof(ctimer) <= sizeof(irpc_clock_timer),
               "irpc_clock_timer too small");

struct irpc_clock {
  long refs;
  int manual;
  uv_loop_t *loop;
  irpc__sched *sched; /* system clocks */
  int64_t wall0;      /* manual: wall-clock reading at mono 0 */
  uint64_t mono;      /* manual: current monotonic reading */
  irpc__list armed;   /* manual: armed timers (ctimer) */
  uint64_t seq;       /* manual: arming order, for ties */
};

static int clock_new(irpc_clock **out, uv_loop_t *loop, int manual) {
  if (!out || !loop)
    return IRPC_EINVAL;
  irpc_clock *c = irpc_calloc(1, sizeof(*c));
  if (!c)
    return IRPC_ENOMEM;
  c->refs = 1;
  c->manual = manual;
  c->loop = loop;
  if (!manual && !(c->sched = irpc__sched_acquire(loop))) {
    irpc_free(c);
    return IRPC_ENOMEM;
  }
  *out = c;
  return 0;
}

int irpc_clock_system_new(irpc_clock **out, uv_loop_t *loop) {
  return clock_new(out, loop, 0);
}

int irpc_clock_manual_new(irpc_clock **out, uv_loop_t *loop,
                          int64_t start_unix_ns) {
  int rc = clock_new(out, loop, 1);
  if (rc == 0)
    (*out)->wall0 = start_unix_ns;
  return rc;
}

int irpc_clock_take(irpc_clock **dst, irpc_clock *given, uv_loop_t *loop) {
  if (!dst || !loop)
    return IRPC_EINVAL;
  if (!given)
    return irpc_clock_system_new(dst, loop);
  if (given->loop != loop)
    return IRPC_EINVAL;
  *dst = irpc_clock_ref(given);
  return 0;
}

irpc_clock *irpc_clock_ref(irpc_clock *c) {
  if (c)
    c->refs++;
  return c;
}

void irpc_clock_unref(irpc_clock *c) {
  if (!c || --c->refs > 0)
    return;
  if (c->sched)
    irpc__sched_release(c->sched);
  irpc_free(c);
}

uv_loop_t *irpc_clock_loop(const irpc_clock *c) {
  return c ? c->loop : NULL;
}

int64_t irpc_clock_now_unix_ns(const irpc_clock *c) {
  if (c->manual)
    return c->wall0 + (int64_t)c->mono;
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t irpc_clock_mono_ns(const irpc_clock *c) {
  return c->manual ? c->mono : uv_hrtime();
}

static void manual_unlink(ctimer *t) {
  irpc__list_remove(&t->clock->armed, &t->link);
  t->t.index = SIZE_MAX;
}

int irpc_clock_advance(irpc_clock *c, uint64_t ns) {
  if (!c || !c->manual)
    return IRPC_EINVAL;
  uint64_t target = ns > UINT64_MAX - c->mono ? UINT64_MAX : c->mono + ns;
  for (;;) {
    ctimer *first = NULL;
    for (irpc__link *l = c->armed.head; l; l = l->next) {
      ctimer *t = IRPC__CONTAINER_OF(l, ctimer, link);
      if (t->t.due <= target &&
          (!first || t->t.due < first->t.due ||
           (t->t.due == first->t.due && t->t.seq < first->t.seq)))
        first = t;
    }
    if (!first)
      break;
    if (first->t.due > c->mono)
      c->mono = first->t.due;
    manual_unlink(first);
    first->fn((irpc_clock_timer *)first, first->user_data);
  }
  c->mono = target;
  return 0;
}

static void system_fire(irpc__timer *it) {
  ctimer *t = (ctimer *)it;
  t->fn((irpc_clock_timer *)t, t->user_data);
}

void irpc_clock_timer_init(irpc_clock_timer *pt, irpc_clock_timer_fn fn,
                           void *user_data) {
  ctimer *t = (ctimer *)pt;
  memset(pt, 0, sizeof(*pt));
  irpc__timer_init(&t->t, system_fire);
  t->fn = fn;
  t->user_data = user_data;
}

int irpc_clock_timer_start(irpc_clock *c, irpc_clock_timer *pt,
                           uint64_t delay_ns) {
  if (!c || !pt)
    return IRPC_EINVAL;
  ctimer *t = (ctimer *)pt;
  irpc_clock_timer_stop(pt);
  t->clock = c;
  if (!c->manual) {
    uint64_t ms = irpc__ns_to_ms_up(delay_ns);
    return irpc__timer_start(c->sched, &t->t, ms);
  }
  t->t.due = delay_ns > UINT64_MAX - c->mono ? UINT64_MAX : c->mono + delay_ns;
  t->t.seq = c->seq++;
  t->t.index = 0;
  irpc__list_push_front(&c->armed, &t->link);
  return 0;
}

void irpc_clock_timer_stop(irpc_clock_timer *pt) {
  if (!pt)
    return;
  ctimer *t = (ctimer *)pt;
  if (!t->clock || t->t.index == SIZE_MAX)
    return;
  if (t->clock->manual)
    manual_unlink(t);
  else
    irpc__timer_stop(t->clock->sched, &t->t);
}

int irpc_clock_timer_armed(const irpc_clock_timer *pt) {
  const ctimer *t = (const ctimer *)pt;
  return pt && t->clock && t->t.index != SIZE_MAX;
}

int64_t irpc_unix_ns_to_ticks(int64_t unix_ns) {
  /* Floor division, so times before 1970 round down as .NET does. */
  int64_t q = unix_ns / 100;
  if (unix_ns % 100 < 0)
    q--;
  return q + IRPC_TICKS_AT_UNIX_EPOCH;
}

int64_t irpc_ticks_to_unix_ns(int64_t ticks) {
  /* Ticks come from the network: saturate instead of overflowing. */
  if (ticks < INT64_MIN + IRPC_TICKS_AT_UNIX_EPOCH)
    return INT64_MIN;
  int64_t d = ticks - IRPC_TICKS_AT_UNIX_EPOCH;
  if (d > INT64_MAX / 100)
    return INT64_MAX;
  if (d < INT64_MIN / 100)
    return INT64_MIN;
  return d * 100;
}
