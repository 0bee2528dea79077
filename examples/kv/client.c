/* kv client: stores NKEYS keys (values from 10 bytes to 200 KiB) in the
 * /kv service, reads each back and checks it, deletes it and checks that
 * it is gone, with 8 calls in flight.
 *
 *   irpc-kv-client [ADDRESS [NKEYS]]   default icerpc://127.0.0.1:4062 1000
 *
 * The pipeline, outermost first: deadline (5 s per call, retries
 * included), retry (what the server refused or never took, and, as every
 * operation here is idempotent, what a lost connection cut short), compress
 * (every request of 16 KiB or more, by policy), a counter of compressed
 * responses, then the client connection. Requests belong to their call
 * (irpc_invoke_owned).
 *
 * It survives the server being killed and restarted. While the server is
 * down, connecting fails at once (UV_ECONNREFUSED), which no interceptor
 * retries: the client sends such calls again after a pause. The connect
 * hook reports the reconnection; from then on a key the new server does not
 * have is stored again. Prints "stored N keys" on stdout once a third of
 * the keys are stored (run.sh kills the server then), and "OK: ..." at the
 * end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "kv.h"

#define MAX_KEYS 1000
#define INFLIGHT 8
#define MIN_VALUE 10
#define MAX_VALUE (200 * 1024)

enum { ST_PUT, ST_GET, ST_DEL, ST_CHECK_GONE, ST_DONE };

typedef struct key_op {
  struct app *app;
  int index;
  int state;
  int queued; /* in the pending queue */
  int busy;   /* a call is under way */
} key_op;

typedef struct app {
  uv_loop_t *loop;
  irpc_pipeline *pipeline;
  irpc_invoker *conn;
  irpc_invoker *retry;
  uv_timer_t backoff;
  key_op keys[MAX_KEYS];
  int nkeys;
  int queue[MAX_KEYS];
  int qhead, qlen;
  int inflight;
  int done;
  int failed;
  int restarts;    /* reconnections seen by the connect hook */
  int call_errors; /* calls that failed with a library error */
  int reputs;      /* keys stored again after a restart */
  int stored;      /* successful puts */
  int backoff_armed;
} app;

static size_t value_size(int i, int n) {
  /* geometric spread from MIN_VALUE to MAX_VALUE */
  double t = n > 1 ? (double)i / (n - 1) : 0;
  size_t s = (size_t)(MIN_VALUE * pow((double)MAX_VALUE / MIN_VALUE, t));
  return s < MIN_VALUE ? MIN_VALUE : s > MAX_VALUE ? MAX_VALUE : s;
}

/* Text-like, compressible, different for every key. */
static void fill_value(int i, uint8_t *p, size_t n) {
  static const char *words[] = {"alpha ", "bravo ", "charlie ", "delta ",
                                "echo ",  "fox ",   "golf ",    "hotel "};
  uint32_t x = 2654435761u * (uint32_t)(i + 1);
  size_t o = 0;
  while (o < n) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    const char *w = words[x & 7];
    for (; *w && o < n; w++)
      p[o++] = (uint8_t)*w;
  }
}

static int key_name(int i, char *out) {
  return sprintf(out, "key-%04d", i);
}

static void pump(app *a);
static uint64_t compressed_responses;

static void enqueue(app *a, int i) {
  if (a->keys[i].queued)
    return;
  a->keys[i].queued = 1;
  a->queue[(a->qhead + a->qlen++) % MAX_KEYS] = i;
}

static void on_backoff(uv_timer_t *t) {
  app *a = t->data;
  a->backoff_armed = 0;
  pump(a);
}

static void finish(app *a) {
  fprintf(stderr,
          "client: %d keys done, %d failed, %d call errors, %d restarts, "
          "%d keys stored again\n",
          a->done, a->failed, a->call_errors, a->restarts, a->reputs);
  irpc_retry_stats rs;
  if (irpc_retry_stats_get(a->retry, &rs) == 0)
    fprintf(stderr,
            "client: retry: %llu calls, %llu attempts, %llu refused "
            "by budget\n",
            (unsigned long long)rs.calls, (unsigned long long)rs.attempts,
            (unsigned long long)rs.budget_refusals);
  fprintf(stderr, "client: %llu responses arrived compressed\n",
          (unsigned long long)compressed_responses);
  uv_close((uv_handle_t *)&a->backoff, NULL);
  irpc_client_connection_shutdown(a->conn, NULL, NULL);
}

static void on_response(irpc_call *call, int err, irpc_incoming_response *resp,
                        void *ud) {
  key_op *k = ud;
  app *a = k->app;
  irpc_outgoing_request *req = irpc_call_request(call);
  a->inflight--;
  k->busy = 0;
  uint64_t status = resp ? irpc_incoming_response_status(resp) : 0;
  char name[32];
  key_name(k->index, name);

  if (err) {
    /* Connection lost, server down, deadline: try again a bit later. */
    if (a->call_errors++ < 10)
      fprintf(stderr, "client: %s %s: %s (%s), will retry\n", name,
              irpc_outgoing_request_operation(req), irpc_strerror(err),
              irpc_err_name(err));
    enqueue(a, k->index);
    if (!a->backoff_armed) {
      a->backoff_armed = 1;
      uv_timer_start(&a->backoff, on_backoff, 200, 0);
    }
    return; /* resp is NULL */
  }
  switch (k->state) {
  case ST_PUT:
    if (status == IRPC_STATUS_OK) {
      k->state = ST_GET;
      if (++a->stored == a->nkeys / 3) {
        printf("stored %d keys\n", a->stored); /* for run.sh */
        fflush(stdout);
      }
    }
    break;
  case ST_GET:
    if (status == IRPC_STATUS_OK) {
      irpc_buf *p = irpc_incoming_response_payload(resp);
      size_t n = value_size(k->index, a->nkeys);
      uint8_t *want = malloc(n);
      fill_value(k->index, want, n);
      if (!irpc_buf_equals(p, want, n)) {
        fprintf(stderr, "client: %s: value differs (%zu bytes, want %zu)\n",
                name, irpc_buf_len(p), n);
        a->failed++;
        k->state = ST_DONE;
      } else {
        k->state = ST_DEL;
      }
      free(want);
    } else if (status == IRPC_STATUS_NOT_FOUND && a->restarts > 0) {
      k->state = ST_PUT; /* the restarted server lost it */
      a->reputs++;
      status = IRPC_STATUS_OK;
    }
    break;
  case ST_DEL:
    /* NotFound after a restart: the key is gone anyway. */
    if (status == IRPC_STATUS_OK ||
        (status == IRPC_STATUS_NOT_FOUND && a->restarts > 0)) {
      k->state = ST_CHECK_GONE;
      status = IRPC_STATUS_OK;
    }
    break;
  case ST_CHECK_GONE:
    if (status == IRPC_STATUS_NOT_FOUND) {
      k->state = ST_DONE;
      a->done++;
      status = IRPC_STATUS_OK;
    }
    break;
  }
  if (status != IRPC_STATUS_OK) {
    fprintf(stderr, "client: %s %s: %s: %s\n", name,
            irpc_outgoing_request_operation(req), irpc_status_name(status),
            irpc_incoming_response_error_message(resp)
                ? irpc_incoming_response_error_message(resp)
                : "");
    a->failed++;
    k->state = ST_DONE;
  }
  irpc_incoming_response_free(resp);
  if (k->state != ST_DONE)
    enqueue(a, k->index);
  if (a->done + a->failed == a->nkeys && a->inflight == 0)
    finish(a);
  else
    pump(a);
}

static int send_op(app *a, key_op *k) {
  static const char *ops[] = {"put", "get", "delete", "get"};
  char name[32];
  int key_len = key_name(k->index, name);
  irpc_outgoing_request *req;
  int rc = irpc_outgoing_request_new(&req, KV_PATH, ops[k->state]);
  if (rc)
    return rc;
  irpc_buf *p = irpc_outgoing_request_payload(req);
  if (k->state == ST_PUT) {
    uint8_t hdr[2] = {(uint8_t)key_len, (uint8_t)(key_len >> 8)};
    size_t n = value_size(k->index, a->nkeys);
    uint8_t *v;
    size_t avail;
    rc = irpc_buf_append(p, hdr, 2);
    if (rc == 0)
      rc = irpc_buf_append(p, name, (size_t)key_len);
    if (rc == 0)
      rc = irpc_buf_reserve(p, n, &v, &avail);
    if (rc == 0) {
      fill_value(k->index, v, n);
      rc = irpc_buf_commit(p, n);
    }
  } else {
    rc = irpc_buf_append(p, name, (size_t)key_len);
  }
  /* Every operation is idempotent: put and delete set a final state. */
  if (rc == 0)
    rc = irpc_outgoing_request_set_idempotent(req, 1);
  if (rc) {
    irpc_outgoing_request_free(req);
    return rc;
  }
  rc = irpc_invoke_owned(irpc_pipeline_invoker(a->pipeline), req, on_response,
                         k, NULL);
  if (rc == 0) {
    k->busy = 1;
    a->inflight++;
  }
  return rc;
}

static void pump(app *a) {
  if (a->backoff_armed)
    return; /* waiting after an error */
  while (a->inflight < INFLIGHT && a->qlen > 0) {
    int i = a->queue[a->qhead];
    a->qhead = (a->qhead + 1) % MAX_KEYS;
    a->qlen--;
    a->keys[i].queued = 0;
    int rc = send_op(a, &a->keys[i]);
    if (rc) {
      fprintf(stderr, "client: cannot start a call: %s\n", irpc_strerror(rc));
      a->failed++;
      a->keys[i].state = ST_DONE;
    }
  }
}

static void on_connect(irpc_invoker *inv, const irpc_connect_event *ev,
                       void *ud) {
  (void)inv;
  app *a = ud;
  if (!ev->reconnected)
    return;
  a->restarts++;
  fprintf(stderr,
          "client: reconnected (connection #%llu; the previous one ended "
          "with %s)\n",
          (unsigned long long)ev->count, irpc_err_name(ev->previous_error));
}

/* An interceptor inside the compress interceptor: its on_complete sees a
 * response before it is decompressed, and counts the compressed ones. */

static int count_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  if (err == 0 && irpc_fields_has(irpc_incoming_response_fields(resp),
                                  IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT))
    compressed_responses++;
  return 0;
}
static const irpc_invoker_ops count_ops = {.struct_size =
                                               sizeof(irpc_invoker_ops),
                                           .name = "count",
                                           .on_complete = count_on_complete};

/* Adds an interceptor to the pipeline, freeing it when refused. */
static int use(irpc_pipeline *p, int made, irpc_invoker **ic) {
  int rc = made;
  if (rc == 0 && (rc = irpc_pipeline_use(p, *ic)) != 0)
    irpc_invoker_free(*ic);
  return rc;
}

int main(int argc, char **argv) {
  const char *address = argc > 1 ? argv[1] : "icerpc://127.0.0.1:4062";
  static app a;
  a.nkeys = argc > 2 ? atoi(argv[2]) : MAX_KEYS;
  if (a.nkeys < 1 || a.nkeys > MAX_KEYS)
    a.nkeys = MAX_KEYS;
  a.loop = uv_default_loop();

  irpc_deadline_options dopts;
  irpc_deadline_options_init(&dopts);
  dopts.default_timeout_ms = 5000;
  irpc_retry_options ropts;
  irpc_retry_options_init(&ropts);
  ropts.max_attempts = 3;
  /* The budget is shared by all calls: more than twice the calls in
   * flight, so that a server restart does not use it up at once. */
  ropts.budget_max_tokens = 4 * INFLIGHT;
  irpc_compress_options copts;
  irpc_compress_options_init(&copts);
  copts.always = 1;           /* compression by policy ... */
  copts.min_size = 16 * 1024; /* ... for values of 16 KiB and more */

  irpc_invoker *ic = NULL;
  int rc = irpc_pipeline_new(&a.pipeline, a.loop);
  if (rc == 0)
    rc = use(a.pipeline, irpc_deadline_interceptor_new(&ic, a.loop, &dopts),
             &ic);
  if (rc == 0)
    rc = use(a.pipeline, irpc_retry_interceptor_new(&a.retry, a.loop, &ropts),
             &a.retry);
  if (rc == 0)
    rc = use(a.pipeline, irpc_compress_interceptor_new(&ic, a.loop, &copts),
             &ic);
  if (rc == 0)
    rc = use(a.pipeline, irpc_invoker_new(&ic, a.loop, &count_ops, NULL), &ic);
  if (rc == 0)
    rc = irpc_client_connection_new(&a.conn, a.loop, address, NULL);
  if (rc == 0)
    rc = irpc_pipeline_into(a.pipeline, a.conn);
  if (rc == 0) {
    long tok = irpc_client_connection_on_connect(a.conn, on_connect, &a);
    rc = tok < 0 ? (int)tok : 0;
  }
  if (rc) {
    fprintf(stderr, "client: %s\n", irpc_strerror(rc));
    irpc_pipeline_free(a.pipeline);
    irpc_invoker_free(a.conn);
    uv_run(a.loop, UV_RUN_DEFAULT);
    return 1;
  }
  uv_timer_init(a.loop, &a.backoff);
  a.backoff.data = &a;
  for (int i = 0; i < a.nkeys; i++) {
    a.keys[i] = (key_op){.app = &a, .index = i, .state = ST_PUT};
    enqueue(&a, i);
  }
  pump(&a);
  uv_run(a.loop, UV_RUN_DEFAULT);

  irpc_pipeline_free(a.pipeline);
  irpc_invoker_free(a.conn);
  uv_run(a.loop, UV_RUN_DEFAULT);
  int ok = a.failed == 0 && a.done == a.nkeys;
  printf("%s: %d/%d keys stored, read back, deleted\n", ok ? "OK" : "FAILED",
         a.done, a.nkeys);
  return !ok || uv_loop_close(a.loop) != 0;
}
