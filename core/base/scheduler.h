/* The per-loop scheduler: deferred tasks (run on the loop, never inside the
 * caller's stack), timers without a libuv handle each, a pool of call
 * objects and the loop's read buffer. One per uv_loop_t, shared by
 * reference count: the process's one registry of per-loop state. */
#ifndef IRPC_CORE_SCHEDULER_H
#define IRPC_CORE_SCHEDULER_H

#include <uv.h>

#include "list.h"

typedef struct irpc__task irpc__task;
struct irpc__task {
  irpc__link link; /* in its scheduler's queue while queued */
  void (*fn)(irpc__task *t);
  int queued; /* 1: to run soon, 2: after the next poll */
};

typedef struct irpc__timer irpc__timer;
struct irpc__timer {
  uint64_t due;
  size_t index; /* position in the heap, SIZE_MAX when not armed */
  uint64_t seq;
  void (*fn)(irpc__timer *t);
};

typedef struct irpc__sched irpc__sched;

/* The scheduler of `loop`, created on first use; NULL when out of memory. */
irpc__sched *irpc__sched_acquire(uv_loop_t *loop);
void irpc__sched_release(irpc__sched *s);
/* The loop of `s`. */
uv_loop_t *irpc__sched_loop(const irpc__sched *s);

/* Runs t->fn(t) on the loop soon: in the phase of the loop turn that runs
 * tasks next (before or right after the loop polls), or, when posted by a
 * task, on a later pass of that phase. A task already queued stays queued
 * once. */
void irpc__sched_post(irpc__sched *s, irpc__task *t);
/* Runs t->fn(t) after the loop's next poll for input: for work that goes
 * on in pieces (pulling a large payload), so that input is read between
 * two pieces. The loop does not sleep while it waits. */
void irpc__sched_post_later(irpc__sched *s, irpc__task *t);
/* The loop turn the tasks run in: it changes each time tasks run after a
 * poll, so work may be paced per turn. */
uint64_t irpc__sched_turn(const irpc__sched *s);
/* Takes `t` off the queue if it is queued (before its owner goes away). */
void irpc__sched_cancel(irpc__sched *s, irpc__task *t);

void irpc__timer_init(irpc__timer *t, void (*fn)(irpc__timer *t));
/* Arms (or re-arms) `t` to fire after `timeout_ms`. Errors: IRPC_ENOMEM. */
int irpc__timer_start(irpc__sched *s, irpc__timer *t, uint64_t timeout_ms);
void irpc__timer_stop(irpc__sched *s, irpc__timer *t);
int irpc__timer_armed(const irpc__timer *t);

/* An object of `size` bytes, from the pool when `size` is the size of the
 * first object asked for (the pool's, at least sizeof(irpc__link)), or
 * NULL. */
void *irpc__sched_obj_get(irpc__sched *s, size_t size);
void irpc__sched_obj_put(irpc__sched *s, void *obj);

/* Where the loop's next read goes, *len bytes (at most 256 KiB, at least
 * 64 KiB): in the loop's read block (buf_internal.h), taken on first use;
 * NULL when out of memory. Every stream of the loop reads into it, so one
 * loop needs one block while nothing keeps the bytes it read, and an idle
 * connection none. What a read callback gets is valid during that
 * callback; a chain that keeps a large piece of it refers to it
 * (irpc__buf_append_rblk), and the loop reads on after it or into a fresh
 * block. */
void *irpc__sched_read_buf(irpc__sched *s, size_t *len);

#endif
