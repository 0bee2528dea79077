/* The per-loop scheduler. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "irpc/alloc.h"
#include "irpc/error.h"
#include "buf_internal.h"
#include "pool.h"
#include "scheduler.h"

#define POOL_MAX 256
/* The timer heap's first capacity: the timers of a few connections and
 * calls (inactivity, Slic's idle and ping, deadlines) without growing
 * again while calls come and go. */
#define HEAP_FIRST 32
/* How many generations of tasks one phase of a loop turn runs (tasks that
 * tasks posted): enough for a call's whole chain of reactions (a response
 * read, the next call sent, the write's completion, the flush after it),
 * few enough that a task that always posts again still lets the loop
 * poll for input. */
#define PASSES_PER_PHASE 8

struct irpc__sched {
  uv_loop_t *loop;
  irpc__sched *reg_next;
  long refs;
  uv_idle_t idle;   /* runs tasks posted before the loop polls */
  uv_check_t check; /* runs tasks posted by what the poll delivered */
  uv_timer_t timer;
  int closing;
  irpc__list tasks;     /* irpc__task, in the order posted */
  irpc__list later;     /* posted for after the loop's next poll */
  uint64_t turn;        /* polls followed by tasks, counted */
  irpc__link *run_last; /* the last task of the running pass */
  irpc__timer **heap;
  size_t nheap;
  size_t heap_cap;
  uint64_t seq;
  irpc__list pool; /* free objects of obj_size bytes, linked at their start */
  size_t obj_size;
  irpc__blk *read_blk; /* the loop's read block (buf_internal.h), or NULL */
  void *thread_pool;   /* the thread's pool (pool.h), attached */
};

static uv_once_t reg_once = UV_ONCE_INIT;
static uv_mutex_t reg_mutex;
static irpc__sched *registry;

static void reg_init(void) {
  if (uv_mutex_init(&reg_mutex) != 0)
    abort();
}

/* Runs the tasks queued when it starts; those they post run on the next
 * pass. The queue stays the one list, so a task can still be canceled. */
static void run_pass(irpc__sched *s) {
  s->run_last = s->tasks.tail;
  while (s->run_last) {
    irpc__link *l = irpc__list_pop_front(&s->tasks);
    if (l == s->run_last)
      s->run_last = NULL;
    irpc__task *t = IRPC__CONTAINER_OF(l, irpc__task, link);
    t->queued = 0;
    t->fn(t);
  }
}

static void stop_if_empty(irpc__sched *s) {
  if (!s->tasks.head && !s->later.head) {
    uv_idle_stop(&s->idle);
    uv_check_stop(&s->check);
  }
}

/* Runs up to PASSES_PER_PHASE passes. Tasks run both before the loop polls
 * (idle: what was posted outside the loop's callbacks, or left over) and
 * right after it (check: what the input and the completions of this turn
 * posted), so a call's reactions end within the turn that started them and
 * the loop's next poll may sleep. */
static void run_phase(irpc__sched *s) {
  for (int i = 0; i < PASSES_PER_PHASE && s->tasks.head; i++)
    run_pass(s);
  stop_if_empty(s);
}

static void on_idle(uv_idle_t *idle) {
  run_phase(idle->data);
}

/* After the poll: the tasks posted for a later turn before it join. */
static void on_check(uv_check_t *check) {
  irpc__sched *s = check->data;
  s->turn++;
  irpc__link *l;
  while ((l = irpc__list_pop_front(&s->later)))
    irpc__list_push_back(&s->tasks, l);
  run_phase(s);
}

static void start(irpc__sched *s) {
  if (!uv_is_active((uv_handle_t *)&s->idle)) {
    uv_idle_start(&s->idle, on_idle);
    uv_check_start(&s->check, on_check);
  }
}

/* Queues `t` on `list` (tasks or later), `mark` telling which. */
static void enqueue(irpc__sched *s, irpc__task *t, irpc__list *list, int mark) {
  if (t->queued)
    return;
  t->queued = mark;
  irpc__list_push_back(list, &t->link);
  start(s);
}

void irpc__sched_post(irpc__sched *s, irpc__task *t) {
  enqueue(s, t, &s->tasks, 1);
}

void irpc__sched_post_later(irpc__sched *s, irpc__task *t) {
  enqueue(s, t, &s->later, 2);
}

uint64_t irpc__sched_turn(const irpc__sched *s) {
  return s->turn;
}

void irpc__sched_cancel(irpc__sched *s, irpc__task *t) {
  if (!t->queued)
    return;
  if (t->queued == 2) {
    irpc__list_remove(&s->later, &t->link);
  } else {
    if (s->run_last == &t->link)
      s->run_last = t->link.prev;
    irpc__list_remove(&s->tasks, &t->link);
  }
  t->queued = 0;
}

/* ---- Timers: a binary min-heap ordered by (due, seq). ---- */

static int timer_less(const irpc__timer *a, const irpc__timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(irpc__sched *s, size_t i, irpc__timer *t) {
  s->heap[i] = t;
  t->index = i;
}

static void heap_up(irpc__sched *s, size_t i) {
  irpc__timer *t = s->heap[i];
  while (i > 0 && timer_less(t, s->heap[(i - 1) / 2])) {
    heap_set(s, i, s->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  heap_set(s, i, t);
}

static void heap_down(irpc__sched *s, size_t i) {
  irpc__timer *t = s->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->nheap)
      break;
    if (c + 1 < s->nheap && timer_less(s->heap[c + 1], s->heap[c]))
      c++;
    if (!timer_less(s->heap[c], t))
      break;
    heap_set(s, i, s->heap[c]);
    i = c;
  }
  heap_set(s, i, t);
}

static void heap_remove(irpc__sched *s, irpc__timer *t) {
  size_t i = t->index;
  irpc__timer *last = s->heap[--s->nheap];
  t->index = SIZE_MAX;
  if (last == t)
    return;
  heap_set(s, i, last);
  heap_up(s, i);
  heap_down(s, last->index);
}

static void on_uv_timer(uv_timer_t *h);

static void rearm(irpc__sched *s) {
  if (s->nheap == 0) {
    uv_timer_stop(&s->timer);
    return;
  }
  uint64_t now = uv_now(s->loop);
  uint64_t due = s->heap[0]->due;
  uv_timer_start(&s->timer, on_uv_timer, due > now ? due - now : 0, 0);
}

static void on_uv_timer(uv_timer_t *h) {
  irpc__sched *s = h->data;
  uint64_t now = uv_now(s->loop);
  while (s->nheap > 0 && s->heap[0]->due <= now) {
    irpc__timer *t = s->heap[0];
    heap_remove(s, t);
    t->fn(t);
  }
  rearm(s);
}

void irpc__timer_init(irpc__timer *t, void (*fn)(irpc__timer *t)) {
  t->due = 0;
  t->index = SIZE_MAX;
  t->seq = 0;
  t->fn = fn;
}

int irpc__timer_armed(const irpc__timer *t) {
  return t->index != SIZE_MAX;
}

int irpc__timer_start(irpc__sched *s, irpc__timer *t, uint64_t timeout_ms) {
  if (irpc__timer_armed(t))
    heap_remove(s, t);
  if (irpc__array_grow((void **)&s->heap, NULL, &s->heap_cap, s->nheap,
                       s->nheap < HEAP_FIRST ? HEAP_FIRST : s->nheap + 1,
                       sizeof(*s->heap)))
    return IRPC_ENOMEM;
  /* the loop's cached time is stale when the caller ran long (or blocked)
   * since the loop last woke: a fresh reading (a vDSO clock read) */
  uv_update_time(s->loop);
  uint64_t now = uv_now(s->loop);
  t->due = timeout_ms > UINT64_MAX - now ? UINT64_MAX : now + timeout_ms;
  t->seq = s->seq++;
  s->heap[s->nheap] = t;
  t->index = s->nheap++;
  heap_up(s, t->index);
  if (s->heap[0] == t)
    rearm(s);
  return 0;
}

void irpc__timer_stop(irpc__sched *s, irpc__timer *t) {
  if (!irpc__timer_armed(t))
    return;
  int was_first = s->heap[0] == t;
  heap_remove(s, t);
  if (was_first)
    rearm(s);
}

/* ---- Object pool ---- */

void *irpc__sched_obj_get(irpc__sched *s, size_t size) {
  if (s->obj_size == 0)
    s->obj_size = size;
  if (size == s->obj_size && s->pool.head) {
    irpc__link *l = irpc__list_pop_front(&s->pool);
    IRPC__UNPOISON(l, s->obj_size);
    return l;
  }
  return irpc_malloc(size);
}

void irpc__sched_obj_put(irpc__sched *s, void *obj) {
  if (s->pool.len >= POOL_MAX) {
    irpc_free(obj);
    return;
  }
  /* Only the link stays readable while the object is free. The list's
   * pops and pushes write the links of neighbours, which are free too. */
  irpc__list_push_front(&s->pool, obj);
  IRPC__POISON((irpc__link *)obj + 1, s->obj_size - sizeof(irpc__link));
}

void *irpc__sched_read_buf(irpc__sched *s, size_t *len) {
  return irpc__rblk_region(&s->read_blk, len);
}

/* ---- Lifetime ---- */

static void on_close(uv_handle_t *h) {
  irpc__sched *s = h->data;
  if (--s->closing > 0)
    return;
  irpc__link *l;
  while ((l = irpc__list_pop_front(&s->pool))) {
    IRPC__UNPOISON(l, s->obj_size);
    irpc_free(l);
  }
  void *thread_pool = s->thread_pool;
  irpc_free(s->heap);
  irpc__rblk_release(s->read_blk);
  irpc_free(s);
  irpc__pool_detach(thread_pool);
}

irpc__sched *irpc__sched_acquire(uv_loop_t *loop) {
  uv_once(&reg_once, reg_init);
  uv_mutex_lock(&reg_mutex);
  irpc__sched *s = registry;
  while (s && s->loop != loop)
    s = s->reg_next;
  if (s) {
    s->refs++;
    uv_mutex_unlock(&reg_mutex);
    return s;
  }
  s = irpc_calloc(1, sizeof(*s));
  if (s) {
    s->loop = loop;
    s->refs = 1;
    s->obj_size = 0;
    uv_idle_init(loop, &s->idle);
    uv_check_init(loop, &s->check);
    uv_timer_init(loop, &s->timer);
    s->idle.data = s;
    s->check.data = s;
    s->timer.data = s;
    s->reg_next = registry;
    registry = s;
    s->thread_pool = irpc__pool_attach();
  }
  uv_mutex_unlock(&reg_mutex);
  return s;
}

uv_loop_t *irpc__sched_loop(const irpc__sched *s) {
  return s->loop;
}

void irpc__sched_release(irpc__sched *s) {
  uv_mutex_lock(&reg_mutex);
  if (--s->refs > 0) {
    uv_mutex_unlock(&reg_mutex);
    return;
  }
  irpc__sched **pp = &registry;
  while (*pp != s)
    pp = &(*pp)->reg_next;
  *pp = s->reg_next;
  uv_mutex_unlock(&reg_mutex);
  /* Tasks still queued release what their owners left behind. */
  irpc__link *l;
  while ((l = irpc__list_pop_front(&s->later)))
    irpc__list_push_back(&s->tasks, l);
  while (s->tasks.head)
    run_pass(s);
  s->closing = 3;
  uv_close((uv_handle_t *)&s->idle, on_close);
  uv_close((uv_handle_t *)&s->check, on_close);
  uv_close((uv_handle_t *)&s->timer, on_close);
}
