/* Metrics: counters, the latency histogram, the Prometheus export and the
 * interceptor. The middleware is in middleware/metrics.c. */
#include <stdio.h>
#include <string.h>

#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/metrics.h"
#include "irpc/status.h"

/* Buckets: [0] below 2^10 ns, then 4 per octave 2^10 .. 2^38, then one for
 * everything above. */
#define OCT_MIN 10
#define OCT_MAX 38
#define NBUCKETS (1 + (OCT_MAX - OCT_MIN) * 4 + 1)

struct irpc_metrics {
  char *name;
  int side; /* 0 unused, IRPC__CLIENT invocation, IRPC__SERVER dispatch */
  uint64_t total, current, failed, canceled;
  uint64_t count, max_ns;
  double sum_ns;
  uint64_t buckets[NBUCKETS];
};

static size_t bucket_of(uint64_t ns) {
  if (ns < ((uint64_t)1 << OCT_MIN))
    return 0;
  int k = 63 - __builtin_clzll(ns);
  if (k >= OCT_MAX)
    return NBUCKETS - 1;
  size_t sub = (size_t)(ns >> (k - 2)) & 3;
  return 1 + (size_t)(k - OCT_MIN) * 4 + sub;
}

/* Bounds [lo, hi) of bucket i, in ns. */
static void bucket_bounds(size_t i, double *lo, double *hi) {
  if (i == 0) {
    *lo = 0;
    *hi = (double)((uint64_t)1 << OCT_MIN);
    return;
  }
  if (i == NBUCKETS - 1) {
    *lo = *hi = (double)((uint64_t)1 << OCT_MAX);
    return;
  }
  int k = OCT_MIN + (int)((i - 1) / 4);
  size_t sub = (i - 1) % 4;
  double unit = (double)((uint64_t)1 << (k - 2));
  *lo = (double)(4 + sub) * unit;
  *hi = (double)(5 + sub) * unit;
}

int irpc_metrics_new(irpc_metrics **out, const char *name) {
  if (!out || !name)
    return IRPC_EINVAL;
  irpc_metrics *m = irpc_calloc(1, sizeof(*m));
  size_t n = strlen(name) + 1;
  if (m)
    m->name = irpc_malloc(n);
  if (!m || !m->name) {
    irpc_free(m);
    return IRPC_ENOMEM;
  }
  memcpy(m->name, name, n);
  *out = m;
  return 0;
}

void irpc_metrics_free(irpc_metrics *m) {
  if (!m)
    return;
  irpc_free(m->name);
  irpc_free(m);
}

uint64_t irpc_metrics_quantile_ns(const irpc_metrics *m, double q) {
  if (!m || m->count == 0)
    return 0;
  q = q < 0 ? 0 : q > 1 ? 1 : q;
  double target = q * (double)m->count;
  if (target < 1)
    target = 1;
  uint64_t cum = 0;
  for (size_t i = 0; i < NBUCKETS; i++) {
    if (!m->buckets[i])
      continue;
    if ((double)(cum + m->buckets[i]) >= target) {
      double lo, hi;
      bucket_bounds(i, &lo, &hi);
      double v =
          lo + (hi - lo) * ((target - (double)cum) / (double)m->buckets[i]);
      if (v > (double)m->max_ns)
        v = (double)m->max_ns;
      return (uint64_t)v;
    }
    cum += m->buckets[i];
  }
  return m->max_ns;
}

int irpc_metrics_read(const irpc_metrics *m, irpc_metrics_snapshot *out) {
  if (!m || !out)
    return IRPC_EINVAL;
  *out = (irpc_metrics_snapshot){
      .total = m->total,
      .current = m->current,
      .failed = m->failed,
      .canceled = m->canceled,
      .p50_ns = irpc_metrics_quantile_ns(m, 0.50),
      .p90_ns = irpc_metrics_quantile_ns(m, 0.90),
      .p99_ns = irpc_metrics_quantile_ns(m, 0.99),
      .max_ns = m->max_ns,
      .sum_seconds = m->sum_ns / 1e9,
  };
  return 0;
}

int irpc_metrics_merge(irpc_metrics *into, const irpc_metrics *from) {
  if (!into || !from || into == from ||
      (into->side && from->side && into->side != from->side))
    return IRPC_EINVAL;
  if (!into->side)
    into->side = from->side;
  into->total += from->total;
  into->current += from->current;
  into->failed += from->failed;
  into->canceled += from->canceled;
  into->count += from->count;
  into->sum_ns += from->sum_ns;
  if (from->max_ns > into->max_ns)
    into->max_ns = from->max_ns;
  for (size_t i = 0; i < NBUCKETS; i++)
    into->buckets[i] += from->buckets[i];
  return 0;
}

int irpc__metrics_attach(irpc_metrics *m, int side) {
  if (m->side && m->side != side)
    return IRPC_EINVAL;
  m->side = side;
  return 0;
}

void irpc__metrics_start(irpc_metrics *m) {
  m->total++;
  m->current++;
}

void irpc__metrics_end(irpc_metrics *m, uint64_t ns, int failed, int canceled) {
  m->current--;
  if (canceled)
    m->canceled++;
  else if (failed)
    m->failed++;
  m->count++;
  m->sum_ns += (double)ns;
  if (ns > m->max_ns)
    m->max_ns = ns;
  m->buckets[bucket_of(ns)]++;
}

/* ---- Prometheus text exposition ---- */

static int put(irpc_buf *out, const char *s) {
  return irpc_buf_append(out, s, strlen(s));
}

static int put_label(irpc_buf *out, const char *label, const char *name,
                     const char *extra) {
  int rc = put(out, "{");
  rc = rc ? rc : put(out, label);
  rc = rc ? rc : put(out, "=\"");
  for (const char *p = name; *p && rc == 0; p++) {
    if (*p == '\\' || *p == '"')
      rc = irpc_buf_append(out, "\\", 1);
    if (rc == 0)
      rc = *p == '\n' ? put(out, "\\n") : irpc_buf_append(out, p, 1);
  }
  rc = rc ? rc : put(out, "\"");
  if (extra)
    rc = rc ? rc : put(out, extra);
  return rc ? rc : put(out, "}");
}

static int write_family(irpc_buf *out, irpc_metrics *const *list, size_t n,
                        int side, const char *suffix, const char *type,
                        const char *help, size_t field) {
  const char *prefix =
      side == IRPC__CLIENT ? "irpc_invocation_" : "irpc_dispatch_";
  const char *label = side == IRPC__CLIENT ? "pipeline" : "router";
  char line[256];
  int any = 0;
  for (size_t i = 0; i < n; i++)
    any |= list[i] && list[i]->side == side;
  if (!any)
    return 0;
  snprintf(line, sizeof(line), "# HELP %s%s %s\n# TYPE %s%s %s\n", prefix,
           suffix, help, prefix, suffix, type);
  int rc = put(out, line);
  for (size_t i = 0; i < n && rc == 0; i++) {
    const irpc_metrics *m = list[i];
    if (!m || m->side != side)
      continue;
    if (field != (size_t)-1) {
      snprintf(line, sizeof(line), "%s%s", prefix, suffix);
      rc = put(out, line);
      rc = rc ? rc : put_label(out, label, m->name, NULL);
      uint64_t v = *(const uint64_t *)((const uint8_t *)m + field);
      snprintf(line, sizeof(line), " %llu\n", (unsigned long long)v);
      rc = rc ? rc : put(out, line);
      continue;
    }
    /* The histogram: cumulative counts at each power of two. */
    uint64_t cum = m->buckets[0];
    for (int k = OCT_MIN; k <= OCT_MAX && rc == 0; k++) {
      if (k > OCT_MIN)
        for (size_t b = 1 + (size_t)(k - 1 - OCT_MIN) * 4;
             b < 1 + (size_t)(k - OCT_MIN) * 4; b++)
          cum += m->buckets[b];
      char le[64];
      snprintf(le, sizeof(le), ",le=\"%.9g\"",
               (double)((uint64_t)1 << k) / 1e9);
      snprintf(line, sizeof(line), "%s%s_bucket", prefix, suffix);
      rc = put(out, line);
      rc = rc ? rc : put_label(out, label, m->name, le);
      snprintf(line, sizeof(line), " %llu\n", (unsigned long long)cum);
      rc = rc ? rc : put(out, line);
    }
    const char *tails[3] = {"_bucket", "_sum", "_count"};
    for (int t = 0; t < 3 && rc == 0; t++) {
      snprintf(line, sizeof(line), "%s%s%s", prefix, suffix, tails[t]);
      rc = put(out, line);
      rc = rc ? rc
              : put_label(out, label, m->name, t == 0 ? ",le=\"+Inf\"" : NULL);
      if (t == 1)
        snprintf(line, sizeof(line), " %.9g\n", m->sum_ns / 1e9);
      else
        snprintf(line, sizeof(line), " %llu\n", (unsigned long long)m->count);
      rc = rc ? rc : put(out, line);
    }
  }
  return rc;
}

int irpc_metrics_write_prometheus(irpc_metrics *const *list, size_t count,
                                  irpc_buf *out) {
  if ((!list && count) || !out)
    return IRPC_EINVAL;
  int rc = 0;
  for (int side = IRPC__CLIENT; side <= IRPC__SERVER && rc == 0; side++) {
    rc = write_family(out, list, count, side, "requests_total", "counter",
                      "Requests started.", offsetof(irpc_metrics, total));
    rc = rc ? rc
            : write_family(out, list, count, side, "current_requests", "gauge",
                           "Requests in progress.",
                           offsetof(irpc_metrics, current));
    rc = rc ? rc
            : write_family(out, list, count, side, "failed_requests_total",
                           "counter",
                           "Requests that failed (error or status not Ok).",
                           offsetof(irpc_metrics, failed));
    rc = rc ? rc
            : write_family(out, list, count, side, "canceled_requests_total",
                           "counter", "Requests canceled.",
                           offsetof(irpc_metrics, canceled));
    rc = rc ? rc
            : write_family(out, list, count, side, "duration_seconds",
                           "histogram", "Request latency.", (size_t)-1);
  }
  return rc;
}

/* ---- The interceptor ---- */

typedef struct mcfg {
  irpc_metrics *m;
  irpc_clock *clock;
} mcfg;

typedef struct mic_state {
  uint64_t start;
} mic_state;

static int mic_init(irpc_invoker *self, const void *config) {
  const mcfg *c = config;
  mcfg *d = irpc_invoker_data(self);
  d->m = c->m;
  int rc = irpc_clock_take(&d->clock, c->clock, irpc_invoker_loop(self));
  if (rc == 0 && (rc = irpc__metrics_attach(d->m, IRPC__CLIENT)) != 0)
    irpc_clock_unref(d->clock);
  return rc;
}

static void mic_destroy(irpc_invoker *self) {
  mcfg *d = irpc_invoker_data(self);
  irpc_clock_unref(d->clock);
}

static void mic_invoke(irpc_invoker *self, irpc_call *call) {
  mcfg *d = irpc_invoker_data(self);
  mic_state *s = irpc_call_state(call);
  s->start = irpc_clock_mono_ns(d->clock);
  irpc__metrics_start(d->m);
  irpc_call_next(call);
}

static int mic_on_complete(irpc_invoker *self, irpc_call *call) {
  mcfg *d = irpc_invoker_data(self);
  mic_state *s = irpc_call_state(call);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  int failed =
      !resp || err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK;
  irpc__metrics_end(d->m, irpc_clock_mono_ns(d->clock) - s->start, failed,
                    !resp && err == IRPC_ECANCELED);
  return 0;
}

static const irpc_invoker_ops mic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "metrics",
    .data_size = sizeof(mcfg),
    .call_state_size = sizeof(mic_state),
    .init = mic_init,
    .invoke = mic_invoke,
    .on_complete = mic_on_complete,
    .destroy = mic_destroy,
};

int irpc_metrics_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                 irpc_metrics *m, irpc_clock *clock) {
  if (!m)
    return IRPC_EINVAL;
  mcfg c = {.m = m, .clock = clock};
  return irpc_invoker_new(out, loop, &mic_ops, &c);
}
