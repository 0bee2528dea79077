/* irpc: call metrics (interceptor and middleware), as IceRPC's Metrics,
 * with a latency histogram and a Prometheus export.
 *
 * An irpc_metrics object holds the counters of one pipeline (given to a
 * metrics interceptor) or one router (given to a metrics middleware):
 *   total     calls or dispatches started;
 *   current   those not completed yet;
 *   failed    completed with a library error or a status other than Ok
 *             (canceled ones excluded);
 *   canceled  calls completed with IRPC_ECANCELED (the caller gave up), or
 *             dispatches that were canceled;
 * and a latency histogram (start to completion) with log-scale buckets
 * (four per power of two, from 1 us to 2^38 ns, about 275 s), from which
 * p50, p90 and p99 are read, interpolated within a bucket (relative error
 * below 25%).
 *
 * irpc_metrics_write_prometheus writes several objects in the Prometheus
 * text exposition format (version 0.0.4):
 *   irpc_invocation_requests_total{pipeline="<name>"}          counter
 *   irpc_invocation_current_requests{pipeline="<name>"}        gauge
 *   irpc_invocation_failed_requests_total{pipeline="<name>"}   counter
 *   irpc_invocation_canceled_requests_total{pipeline="<name>"} counter
 *   irpc_invocation_duration_seconds{pipeline="<name>"}        histogram
 * and the same with irpc_dispatch_ and the label router="<name>".
 *
 * Threading: counters are updated on the loop thread; read them there. */
#ifndef IRPC_METRICS_H
#define IRPC_METRICS_H

#include "irpc/clock.h"
#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_metrics irpc_metrics;

/* Creates a metrics object labeled `name` (copied; printable, any bytes
 * escaped in the export).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_metrics_new(irpc_metrics **out, const char *name);
/* NULL is a no-op. No interceptor or middleware may still use it. */
IRPC_API void irpc_metrics_free(irpc_metrics *m);

typedef struct irpc_metrics_snapshot {
  uint64_t total;
  uint64_t current;
  uint64_t failed;
  uint64_t canceled;
  uint64_t p50_ns; /* 0 while there is no completed call */
  uint64_t p90_ns;
  uint64_t p99_ns;
  uint64_t max_ns;
  double sum_seconds; /* sum of the latencies */
} irpc_metrics_snapshot;

/* Errors: IRPC_EINVAL (NULL argument). */
IRPC_API int irpc_metrics_read(const irpc_metrics *m,
                               irpc_metrics_snapshot *out);

/* The latency under which a fraction q (0..1) of the completed calls fell,
 * in ns; 0 when none completed. */
IRPC_API uint64_t irpc_metrics_quantile_ns(const irpc_metrics *m, double q);

/* Adds the counters and the latency histogram of `from` to `into`, which
 * then reads (irpc_metrics_read, the quantiles) and exports as one object
 * for both: the way to report one figure for the metrics objects of the
 * loops of a multi-loop server (irpc/multi_server.h), each merged on its
 * own loop's thread from irpc_multi_server_visit into an object that
 * nothing else uses meanwhile. `into` takes the side of `from` when it has
 * none yet (a new object, not attached).
 * Errors: IRPC_EINVAL (NULL argument, into == from, one counting calls and
 * the other dispatches). */
IRPC_API int irpc_metrics_merge(irpc_metrics *into, const irpc_metrics *from);

/* Creates the interceptor or middleware that counts into `m` (borrowed: it
 * must outlive them). An irpc_metrics object serves either interceptors or
 * middleware, not both. `clock` NULL = the system clock.
 * Errors: IRPC_EINVAL (NULL out, loop or m; m already used for the other
 * side; a clock of another loop), IRPC_ENOMEM. */
IRPC_API int irpc_metrics_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                          irpc_metrics *m, irpc_clock *clock);
IRPC_API int irpc_metrics_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                         irpc_metrics *m, irpc_clock *clock);

/* Appends the Prometheus text exposition of `count` metrics objects to
 * `out` (objects not yet attached to an interceptor or middleware are
 * skipped).
 * Errors: IRPC_EINVAL (NULL list with count > 0, NULL out), IRPC_ENOMEM. */
IRPC_API int irpc_metrics_write_prometheus(irpc_metrics *const *list,
                                           size_t count, irpc_buf *out);

#ifdef __cplusplus
}
#endif
#endif
