/* irpc: clocks and timers for interceptors and middleware.
 *
 * Interceptors that deal with time (deadline, retry backoff, metrics
 * latency, logger duration) read it through an irpc_clock, so tests can
 * replace real time with a manual clock they advance by hand: no sleeps, no
 * flaky timing.
 *
 *   - The system clock reads the wall clock (UTC) and a monotonic clock, and
 *     runs timers on the loop (one libuv timer shared by every irpc timer of
 *     the loop; millisecond resolution).
 *   - A manual clock starts at a given wall-clock time and only moves when
 *     irpc_clock_advance is called; timers that become due fire from inside
 *     irpc_clock_advance, in due order.
 *
 * A clock is shared by reference: the interceptors given one keep a
 * reference (irpc_clock_ref), so the creator may drop its own at any time.
 *
 * Threading: a clock belongs to its loop; use it on that loop's thread. */
#ifndef IRPC_CLOCK_H
#define IRPC_CLOCK_H

#include <uv.h>

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_clock irpc_clock;
typedef struct irpc_clock_timer irpc_clock_timer;

typedef void (*irpc_clock_timer_fn)(irpc_clock_timer *t, void *user_data);

/* A timer, embedded by its user (typically in per-call state, which never
 * moves). Its members are private; initialize with irpc_clock_timer_init. */
struct irpc_clock_timer {
  uint64_t opaque_[10];
};

/* Creates the system clock of `loop`.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_clock_system_new(irpc_clock **out, uv_loop_t *loop);

/* Creates a manual clock whose wall clock reads `start_unix_ns`
 * (nanoseconds since 1970-01-01T00:00:00 UTC) and whose monotonic clock
 * reads 0, until advanced.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_clock_manual_new(irpc_clock **out, uv_loop_t *loop,
                                   int64_t start_unix_ns);

/* What an interceptor or middleware with a `clock` option does in its
 * init: *dst = a new reference to `given` when it is not NULL, else a new
 * system clock of `loop`. Drop it with irpc_clock_unref in destroy. Every
 * system clock of a loop runs its timers on the loop's one shared timer,
 * so a clock per interceptor costs no libuv handle.
 * Errors: IRPC_EINVAL (dst or loop NULL, or `given` belongs to another
 * loop; *dst is then untouched), IRPC_ENOMEM. */
IRPC_API int irpc_clock_take(irpc_clock **dst, irpc_clock *given,
                             uv_loop_t *loop);

/* Takes a reference; returns `c`. */
IRPC_API irpc_clock *irpc_clock_ref(irpc_clock *c);
/* Drops a reference; the last one frees the clock, which must then have no
 * timer armed. NULL is a no-op. */
IRPC_API void irpc_clock_unref(irpc_clock *c);

IRPC_API uv_loop_t *irpc_clock_loop(const irpc_clock *c);

/* Wall-clock time: nanoseconds since the Unix epoch, UTC. */
IRPC_API int64_t irpc_clock_now_unix_ns(const irpc_clock *c);
/* Monotonic time in nanoseconds (an arbitrary origin). */
IRPC_API uint64_t irpc_clock_mono_ns(const irpc_clock *c);

/* Moves a manual clock forward by `ns` (wall and monotonic), firing the
 * timers that become due, in due order, each at its due time.
 * Errors: IRPC_EINVAL (c NULL or not a manual clock). */
IRPC_API int irpc_clock_advance(irpc_clock *c, uint64_t ns);

/* Prepares a timer that will call fn(t, user_data). */
IRPC_API void irpc_clock_timer_init(irpc_clock_timer *t, irpc_clock_timer_fn fn,
                                    void *user_data);

/* Arms `t` to fire once after `delay_ns` on `c` (re-arming an armed timer
 * moves it). The system clock rounds up to whole milliseconds.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_clock_timer_start(irpc_clock *c, irpc_clock_timer *t,
                                    uint64_t delay_ns);

/* Disarms `t`; a no-op when it is not armed, or was never started (a
 * zeroed timer, as in fresh per-call state, included). */
IRPC_API void irpc_clock_timer_stop(irpc_clock_timer *t);

/* 1 when armed, else 0 (also for a zeroed timer never started). */
IRPC_API int irpc_clock_timer_armed(const irpc_clock_timer *t);

/* Converts between Unix nanoseconds and .NET ticks (100 ns units since
 * 0001-01-01T00:00:00 UTC), IceRPC's deadline encoding. A time beyond
 * what int64_t nanoseconds hold saturates to INT64_MIN or INT64_MAX. */
#define IRPC_TICKS_AT_UNIX_EPOCH INT64_C(621355968000000000)
IRPC_API int64_t irpc_unix_ns_to_ticks(int64_t unix_ns);
IRPC_API int64_t irpc_ticks_to_unix_ns(int64_t ticks);

#ifdef __cplusplus
}
#endif
#endif
