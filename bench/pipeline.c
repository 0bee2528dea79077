/* bench/pipeline: the cost of the interceptor pipeline.
 *
 * Calls go through chains of 0, 1, 4 and 16 no-op interceptors into the
 * coloc invoker and a dispatcher that answers Ok at once. Each interceptor
 * is a real one: invoke passes the call on, on_complete sees the result
 * and keeps 16 bytes of per-call state. The figures per interceptor are
 * the difference to the 0-interceptor chain measured in the same run.
 *
 * Then one row per interceptor of the catalog: a chain of that one
 * interceptor, configured as an application would, minus a 0-interceptor
 * baseline measured just before (each the best of three runs):
 *   logger            with a sink that discards the line (formatted)
 *   logger_silent     no sink (the default)
 *   deadline          default timeout 10 s (field + timer per call)
 *   retry             defaults, every call succeeds
 *   compress_off      the request does not ask for compression
 *   compress_zstd     2 KiB text payload, compressed with zstd level 3
 *                     at the terminal (the response is empty); its
 *                     terminal is a coloc invoker into the compress
 *                     middleware in front of the same dispatcher, since a
 *                     peer without one is never sent compressed bytes, so
 *                     the row also counts decompressing the request
 *   request_context   a one-entry context
 *   telemetry         no hooks: ids generated, field written
 *   metrics           counters and histogram
 *   use_feature       one feature set per call
 *
 *   irpc-bench-pipeline [--calls N] [--inflight N] [--json FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "benchutil.h"

static size_t bench_sink_bytes;

typedef struct noop_state {
  uint64_t started;
  uint64_t seen;
} noop_state;

static void noop_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  noop_state *s = irpc_call_state(call);
  s->started = 1;
  irpc_call_next(call);
}

static int noop_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  noop_state *s = irpc_call_state(call);
  s->seen = s->started;
  return 0;
}

static const irpc_invoker_ops noop_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "noop",
    .call_state_size = sizeof(noop_state),
    .invoke = noop_invoke,
    .on_complete = noop_on_complete,
};

static void ok_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops ok_ops = {.struct_size =
                                               sizeof(irpc_dispatcher_ops),
                                           .name = "ok",
                                           .dispatch = ok_dispatch};

typedef struct run {
  irpc_invoker *invoker;
  irpc_outgoing_request **requests;
  long remaining; /* calls still to start */
  long done;
  long failed;
} run;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud);

static void start_one(run *r, irpc_outgoing_request *req) {
  if (r->remaining <= 0)
    return;
  r->remaining--;
  if (irpc_invoke(r->invoker, req, on_done, r, NULL) != 0)
    r->failed++;
}

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  run *r = ud;
  irpc_outgoing_request *req = irpc_call_request(call);
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK)
    r->failed++;
  irpc_incoming_response_free(resp);
  r->done++;
  start_one(r, req);
}

typedef struct result {
  double ns_per_call;
  double allocs_per_call;
} result;

/* Makes the one catalog interceptor of a row, and prepares requests. */
typedef struct row {
  const char *name;
  irpc_invoker *(*make)(uv_loop_t *loop);
  void (*prep)(irpc_outgoing_request *req);
  int decompressing_peer; /* the terminal has the compress middleware */
} row;

static result measure_row(uv_loop_t *loop, irpc_invoker *terminal, int n,
                          const row *rw, long calls, int inflight) {
  irpc_pipeline *p;
  irpc_pipeline_new(&p, loop);
  for (int i = 0; i < n; i++) {
    irpc_invoker *ic;
    irpc_invoker_new(&ic, loop, &noop_ops, NULL);
    irpc_pipeline_use(p, ic);
  }
  if (rw)
    irpc_pipeline_use(p, rw->make(loop));
  irpc_pipeline_into(p, terminal);
  run r = {.invoker = irpc_pipeline_invoker(p), .remaining = calls / 10};
  r.requests = calloc((size_t)inflight, sizeof(*r.requests));
  for (int i = 0; i < inflight; i++) {
    irpc_outgoing_request_new(&r.requests[i], "/bench", "op");
    if (rw && rw->prep)
      rw->prep(r.requests[i]);
  }
  /* Warm-up: fills the pools. */
  for (int i = 0; i < inflight; i++)
    start_one(&r, r.requests[i]);
  uv_run(loop, UV_RUN_DEFAULT);
  r.remaining = calls;
  r.done = 0;
  uint64_t a0 = bench_alloc_count();
  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < inflight; i++)
    start_one(&r, r.requests[i]);
  uv_run(loop, UV_RUN_DEFAULT);
  uint64_t t1 = bench_now_ns();
  uint64_t a1 = bench_alloc_count();
  if (r.failed || r.done != calls) {
    fprintf(stderr, "pipeline(%d): %ld failed, %ld done\n", n, r.failed,
            r.done);
    exit(1);
  }
  for (int i = 0; i < inflight; i++)
    irpc_outgoing_request_free(r.requests[i]);
  free(r.requests);
  irpc_pipeline_free(p);
  return (result){.ns_per_call = (double)(t1 - t0) / (double)calls,
                  .allocs_per_call = (double)(a1 - a0) / (double)calls};
}

static result measure(uv_loop_t *loop, irpc_invoker *terminal, int n,
                      long calls, int inflight) {
  return measure_row(loop, terminal, n, NULL, calls, inflight);
}

/* ---- The catalog rows ---- */

static void discard_sink(irpc_log_level level, const irpc_log_record *rec,
                         const char *line, void *ud) {
  (void)level;
  (void)rec;
  (void)ud;
  bench_sink_bytes += strlen(line);
}

static irpc_invoker *make_logger(uv_loop_t *loop) {
  irpc_logger_options o;
  irpc_logger_options_init(&o);
  o.sink = discard_sink;
  irpc_invoker *ic = NULL;
  irpc_logger_interceptor_new(&ic, loop, &o);
  return ic;
}

static irpc_invoker *make_logger_silent(uv_loop_t *loop) {
  irpc_invoker *ic = NULL;
  irpc_logger_interceptor_new(&ic, loop, NULL);
  return ic;
}

static irpc_invoker *make_deadline(uv_loop_t *loop) {
  irpc_deadline_options o;
  irpc_deadline_options_init(&o);
  o.default_timeout_ms = 10000;
  irpc_invoker *ic = NULL;
  irpc_deadline_interceptor_new(&ic, loop, &o);
  return ic;
}

static irpc_invoker *make_retry(uv_loop_t *loop) {
  irpc_invoker *ic = NULL;
  irpc_retry_interceptor_new(&ic, loop, NULL);
  return ic;
}

static irpc_invoker *make_compress(uv_loop_t *loop) {
  irpc_invoker *ic = NULL;
  irpc_compress_interceptor_new(&ic, loop, NULL);
  return ic;
}

static void prep_compress(irpc_outgoing_request *req) {
  static const char *words[] = {"request ", "response ", "payload ",
                                "interceptor ", "pipeline "};
  char text[2048];
  size_t k = 0;
  for (unsigned i = 0; k < sizeof(text) - 16; i = i * 7 + 3) {
    const char *w = words[i % 5];
    memcpy(text + k, w, strlen(w));
    k += strlen(w);
  }
  irpc_buf_append(irpc_outgoing_request_payload(req), text, sizeof(text));
  irpc_features_set_compress(irpc_outgoing_request_features(req), 1);
}

static irpc_invoker *make_request_context(uv_loop_t *loop) {
  irpc_invoker *ic = NULL;
  irpc_request_context_interceptor_new(&ic, loop);
  return ic;
}

static void prep_request_context(irpc_outgoing_request *req) {
  irpc_context *c;
  irpc_context_new(&c);
  irpc_context_set(c, "tenant", "42");
  irpc_features_set(irpc_outgoing_request_features(req),
                    &irpc_request_context_feature, c);
}

static irpc_invoker *make_telemetry(uv_loop_t *loop) {
  irpc_invoker *ic = NULL;
  irpc_telemetry_interceptor_new(&ic, loop, NULL);
  return ic;
}

static irpc_metrics *bench_metrics;
static irpc_invoker *make_metrics(uv_loop_t *loop) {
  irpc_invoker *ic = NULL;
  irpc_metrics_interceptor_new(&ic, loop, bench_metrics, NULL);
  return ic;
}

static const irpc_feature_key bench_key = {.name = "bench", .destroy = NULL};
static irpc_invoker *make_use_feature(uv_loop_t *loop) {
  static int value;
  irpc_invoker *ic = NULL;
  irpc_use_feature_interceptor_new(&ic, loop, &bench_key, &value);
  return ic;
}

static const row rows[] = {
    {"logger", make_logger, NULL, 0},
    {"logger_silent", make_logger_silent, NULL, 0},
    {"deadline", make_deadline, NULL, 0},
    {"retry", make_retry, NULL, 0},
    {"compress_off", make_compress, NULL, 0},
    {"compress_zstd", make_compress, prep_compress, 1},
    {"request_context", make_request_context, prep_request_context, 0},
    {"telemetry", make_telemetry, NULL, 0},
    {"metrics", make_metrics, NULL, 0},
    {"use_feature", make_use_feature, NULL, 0},
};

int main(int argc, char **argv) {
  long calls = 1000000;
  int inflight = 64;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--calls") && i + 1 < argc)
      calls = atol(argv[++i]);
    else if (!strcmp(argv[i], "--inflight") && i + 1 < argc)
      inflight = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--calls N] [--inflight N] [--json FILE]\n",
              argv[0]);
      return 2;
    }
  }
  if (calls < 10 || inflight < 1) {
    fprintf(stderr, "--calls must be >= 10 and --inflight >= 1\n");
    return 2;
  }
  bench_alloc_install();
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *ok, *decompress;
  irpc_invoker *coloc, *coloc_decompressing;
  irpc_router *router;
  irpc_dispatcher_new(&ok, &loop, &ok_ops, NULL);
  irpc_coloc_new(&coloc, &loop, ok);
  irpc_router_new(&router, &loop);
  irpc_compress_middleware_new(&decompress, &loop, NULL);
  irpc_router_use(router, decompress);
  irpc_router_mount(router, "/", ok);
  irpc_coloc_new(&coloc_decompressing, &loop, irpc_router_dispatcher(router));

  bench_json j;
  if (bench_json_open(&j, json) != 0) {
    fprintf(stderr, "cannot write %s\n", json);
    return 1;
  }
  static const int lengths[] = {0, 1, 4, 16};
  result base = {0};
  printf("%12s %14s %12s %20s %16s %24s\n", "interceptors", "calls_per_s",
         "ns_per_call", "ns_per_interceptor", "allocs_per_call",
         "allocs_per_interceptor");
  for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
    int n = lengths[k];
    result r = measure(&loop, coloc, n, calls, inflight);
    if (n == 0)
      base = r;
    double per_ic = n ? (r.ns_per_call - base.ns_per_call) / n : 0;
    double allocs_ic = n ? (r.allocs_per_call - base.allocs_per_call) / n : 0;
    printf("%12d %14.0f %12.1f %20.1f %16.2f %24.3f\n", n, 1e9 / r.ns_per_call,
           r.ns_per_call, per_ic, r.allocs_per_call, allocs_ic);
    bench_json_begin(&j);
    bench_json_num(&j, "interceptors", n);
    bench_json_num(&j, "calls_per_s", 1e9 / r.ns_per_call);
    bench_json_num(&j, "ns_per_call", r.ns_per_call);
    bench_json_num(&j, "ns_per_interceptor", per_ic);
    bench_json_num(&j, "allocs_per_call", r.allocs_per_call);
    bench_json_num(&j, "allocs_per_interceptor", allocs_ic);
    bench_json_end(&j);
  }
  irpc_metrics_new(&bench_metrics, "bench");
  /* A fresh baseline next to the rows, best of three like them. */
  result row_base = {0};
  for (int rep = 0; rep < 3; rep++) {
    result b = measure(&loop, coloc, 0, calls, inflight);
    if (rep == 0 || b.ns_per_call < row_base.ns_per_call)
      row_base = b;
  }
  printf("\n%16s %12s %18s %16s\n", "interceptor", "ns_per_call",
         "ns_per_interceptor", "allocs_per_call");
  for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
    result r = {0};
    for (int rep = 0; rep < 3; rep++) {
      irpc_invoker *t =
          rows[k].decompressing_peer ? coloc_decompressing : coloc;
      result x = measure_row(&loop, t, 0, &rows[k], calls, inflight);
      if (rep == 0 || x.ns_per_call < r.ns_per_call)
        r = x;
    }
    double per_ic = r.ns_per_call - row_base.ns_per_call;
    printf("%16s %12.1f %18.1f %16.2f\n", rows[k].name, r.ns_per_call, per_ic,
           r.allocs_per_call);
    bench_json_begin(&j);
    bench_json_str(&j, "interceptor", rows[k].name);
    bench_json_num(&j, "ns_per_call", r.ns_per_call);
    bench_json_num(&j, "ns_per_interceptor", per_ic);
    bench_json_num(&j, "allocs_per_call", r.allocs_per_call);
    bench_json_end(&j);
  }
  irpc_metrics_free(bench_metrics);
  bench_json_close(&j);
  irpc_invoker_free(coloc);
  irpc_invoker_free(coloc_decompressing);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(ok);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}
