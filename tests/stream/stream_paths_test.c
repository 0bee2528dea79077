/* The failure paths of payload continuations (irpc/stream.h) that the
 * large transfers do not take, over the memory transport and TCP (and
 * Unix sockets where read blocks matter):
 *   - a deadline that cannot be armed (the scheduler's timer heap cannot
 *     grow): IRPC_ENOMEM, the stream goes on and ends once;
 *   - a writer or reader freed, or its call or connection torn down, while
 *     its deadline is armed: no timer fires after, each end comes once;
 *   - a writer without a transform whose end the stream refuses: its end
 *     gets the error, the peer's reader IRPC_ETRUNCATED, and nothing keeps
 *     a pointer to the writer;
 *   - the read blocks a paused reader's input pins (at most 4);
 *   - a one-way request whose connection dies before its payload went out.
 * Deadlines are short and waited for by running the loop until a callback
 * fires; nothing depends on how long anything takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf_internal.h"
#include "kit/net.h"
#include "stream_kit.h"

/* ---- The server ----
 * "/up": a streamed request read by srv.up, answered at once (a one-way
 * one is not answered).
 * "/down": answers Ok with "head" and a continuation of the 8-byte size its
 * payload carries, written by srv.down.
 * "/echo": a small echo. */
typedef struct server_state {
  uv_loop_t *loop;
  consumer up;
  int up_slow;
  producer down;
  uint64_t down_hold_at;
  int dispatches;
  int oom_ok; /* allocations may fail: answer InternalError then */
} server_state;

static server_state srv;

static int stream_request(void *ud, const char *path, const char *operation) {
  (void)ud;
  (void)operation;
  return strcmp(path, "/up") == 0 ? IRPC_STREAM_REQUEST_STREAM
                                  : IRPC_STREAM_REQUEST_WHOLE;
}

static void srv_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *path = irpc_incoming_request_path(req);
  srv.dispatches++;
  if (strcmp(path, "/up") == 0) {
    assert_null(srv.up.r);
    srv.up.slow = srv.up_slow;
    consumer_start(&srv.up, irpc_incoming_request_take_continuation(req));
  }
  irpc_outgoing_response *resp;
  int rc = irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL);
  if (rc && srv.oom_ok) { /* an allocation failing on purpose */
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  assert_irpc_ok(rc);
  if (strcmp(path, "/down") == 0) {
    uint64_t total = 0;
    assert_irpc_ok(irpc_buf_copyout(irpc_incoming_request_payload(req), 0,
                                    &total, sizeof total));
    assert_null(srv.down.w);
    producer_init(&srv.down, srv.loop, total);
    srv.down.hold_at = srv.down_hold_at;
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_response_payload(resp), "head", 4));
    assert_irpc_ok(irpc_outgoing_response_set_continuation(resp, srv.down.w));
  } else if (irpc_buf_move(irpc_outgoing_response_payload(resp),
                           irpc_incoming_request_payload(req)) != 0) {
    assert_true(srv.oom_ok);
    irpc_outgoing_response_free(resp);
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  int down = strcmp(path, "/down") == 0;
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
  if (down)
    produce(&srv.down);
}

static const irpc_dispatcher_ops srv_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "paths",
    .dispatch = srv_dispatch,
};

/* ---- Rig ---- */

typedef struct stream_rig {
  net_rig net;
  irpc_invoker *client;
} stream_rig;

static void small_call(stream_rig *r);

static void rig_init(stream_rig *r, int kind) {
  memset(&srv, 0, sizeof(srv));
  net_rig_init(&r->net, kind);
  srv.loop = &r->net.loop;
  r->net.sicerpc.stream_request = stream_request;
  net_map(&r->net, "/up", &srv_ops, NULL);
  net_map(&r->net, "/down", &srv_ops, NULL);
  net_map(&r->net, "/echo", &srv_ops, NULL);
}

static void rig_start(stream_rig *r) {
  net_rig_start(&r->net);
  r->client = net_client(&r->net);
  small_call(r); /* connected */
}

static void rig_up(stream_rig *r, int kind) {
  rig_init(r, kind);
  rig_start(r);
}

/* The server's side of the last stream goes. */
static void srv_reset(void) {
  consumer_fini(&srv.up);
  memset(&srv.up, 0, sizeof srv.up);
  producer_fini(&srv.down);
  memset(&srv.down, 0, sizeof srv.down);
}

static void rig_down(stream_rig *r, int graceful) {
  srv_reset();
  if (graceful)
    net_client_close(&r->net, r->client);
  else
    irpc_invoker_free(r->client);
  net_rig_fini(&r->net);
}

typedef struct client_call {
  net_result res;
  irpc_outgoing_request *req;
  consumer down;
  int stream_response;
  uint64_t reader_deadline; /* set on a streamed response's reader, not
                               taken, before the response is freed */
} client_call;

static void on_call(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  client_call *cc = ud;
  assert_int_equal(cc->res.done, 0); /* exactly once */
  cc->res.done = 1;
  cc->res.err = err;
  if (!resp)
    return;
  cc->res.status = irpc_incoming_response_status(resp);
  if (cc->stream_response && cc->reader_deadline) {
    /* armed, then freed with its response: it stops the peer */
    assert_irpc_ok(irpc_stream_reader_set_deadline(
        irpc_incoming_response_continuation(resp), cc->reader_deadline));
  } else if (cc->stream_response) {
    cc->down.prefix = "head";
    consumer_start(&cc->down, irpc_incoming_response_take_continuation(resp));
  }
  irpc_incoming_response_free(resp);
}

/* Invokes "/up" with `p` as its continuation; what `p` may write before
 * the invocation waits in the writer. */
static void start_upload(stream_rig *r, client_call *cc, producer *p,
                         uint64_t total, int oneway) {
  memset(cc, 0, sizeof(*cc));
  producer_init(p, &r->net.loop, total);
  assert_irpc_ok(irpc_outgoing_request_new(&cc->req, "/up", "op"));
  irpc_outgoing_request_set_oneway(cc->req, oneway);
  assert_irpc_ok(irpc_outgoing_request_set_continuation(cc->req, p->w));
}

static void invoke(stream_rig *r, client_call *cc) {
  assert_irpc_ok(irpc_invoke(r->client, cc->req, on_call, cc, NULL));
}

static void start_download(stream_rig *r, client_call *cc, uint64_t total) {
  memset(cc, 0, sizeof(*cc));
  cc->stream_response = 1;
  assert_irpc_ok(irpc_outgoing_request_new(&cc->req, "/down", "op"));
  assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(cc->req), &total,
                                 sizeof total));
  assert_irpc_ok(irpc_outgoing_request_set_stream_response(cc->req, 1));
  invoke(r, cc);
}

static void call_fini(client_call *cc) {
  consumer_fini(&cc->down);
  irpc_outgoing_request_free(cc->req);
  cc->req = NULL;
}

static void run_until(stream_rig *r, const int *flag) {
  kit_run_until(&r->net.loop, flag);
}

static void small_call(stream_rig *r) {
  irpc_outgoing_request *req = kit_request("/echo", "hi", 2);
  net_result o = {0};
  net_call_sync(&r->net.loop, r->client, req, &o);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  irpc_outgoing_request_free(req);
}

/* Runs the loop until a timer of `ms` started now fires. A deadline of
 * fewer milliseconds armed before this call is due earlier, so it would
 * have fired (libuv runs expired timers in order of their due time). */
static void on_past(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static void run_past(uv_loop_t *loop, uint64_t ms) {
  int fired = 0;
  uv_timer_t t;
  uv_timer_init(loop, &t);
  t.data = &fired;
  uv_timer_start(&t, on_past, ms, 0);
  kit_run_until(loop, &fired);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

static void abort_client(stream_rig *r) {
  irpc_connection_abort(irpc_client_connection_connection(r->client),
                        UV_ECONNABORTED);
}

static int kinds[] = {NET_MEMORY, NET_TCP};

static const char *kind_name(int kind) {
  return kind == NET_TCP ? "tcp" : kind == NET_UDS ? "uds" : "memory";
}

/* ---- 1. A deadline that cannot be armed ---- */

/* Writers that only hold a timer each. */
static void filler_end(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  (void)err;
  (void)ud;
  fail_msg("a filler's end ran");
}

static const irpc_stream_writer_ops filler_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_end = filler_end,
};

#define MAX_FILLERS 512

typedef struct fillers {
  irpc_stream_writer *w[MAX_FILLERS];
  int n;
} fillers;

static void fillers_free(fillers *f) {
  for (int i = 0; i < f->n; i++)
    irpc_stream_writer_free(f->w[i]);
  f->n = 0;
}

typedef int (*set_deadline_fn)(void *obj, uint64_t ms);

static int writer_deadline(void *obj, uint64_t ms) {
  return irpc_stream_writer_set_deadline(obj, ms);
}

static int reader_deadline(void *obj, uint64_t ms) {
  return irpc_stream_reader_set_deadline(obj, ms);
}

/* Arms the deadline of `obj` (`ms`) with its scheduler's timer heap full,
 * its growth failing: while arming it takes no allocation (the heap has
 * room), it is removed again and one more timer (a filler's) takes a
 * place. Returns what the arming that needed the heap to grow returned. */
static int set_deadline_heap_full(uv_loop_t *loop, set_deadline_fn set,
                                  void *obj, uint64_t ms, fillers *f) {
  for (;;) {
    test_alloc_arm(1, 0);
    int rc = set(obj, ms);
    int none_failed = test_alloc_disarm();
    if (rc == IRPC_ENOMEM) {
      assert_false(none_failed);
      return rc;
    }
    assert_irpc_ok(rc);
    assert_true(none_failed);
    assert_irpc_ok(set(obj, 0));
    assert_true(f->n < MAX_FILLERS);
    irpc_stream_writer **w = &f->w[f->n++];
    assert_irpc_ok(irpc_stream_writer_new(w, loop, NULL, &filler_ops, NULL));
    assert_irpc_ok(irpc_stream_writer_set_deadline(*w, 3600 * 1000));
  }
}

/* After the call completed, arming the writer's or the reader's deadline
 * fails with IRPC_ENOMEM: no deadline, and the continuation goes on to its
 * normal end, reported once on both sides. A deadline armed again once
 * memory is back fires: IRPC_EDEADLINE, once. */
static void test_deadline_arm_fails(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    print_message("%s\n", kind_name(kinds[k]));
    stream_rig r;
    rig_up(&r, kinds[k]);
    fillers f = {0};

    /* the writer's, then the stream ends */
    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 2 << 20, 0);
    p.hold = 1;
    invoke(&r, &cc);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_int_equal(
        set_deadline_heap_full(&r.net.loop, writer_deadline, p.w, 1, &f),
        IRPC_ENOMEM);
    fillers_free(&f);
    p.hold = 0;
    produce(&p);
    run_until(&r, &p.ended);
    assert_irpc_ok(p.end_err);
    assert_int_equal(p.sent, p.total);
    run_until(&r, &srv.up.ended);
    assert_irpc_ok(srv.up.end_err);
    assert_int_equal(srv.up.got, p.total);
    assert_false(srv.up.bad);
    producer_fini(&p);
    call_fini(&cc);
    srv_reset();

    /* the writer's, then armed again: it passes */
    start_upload(&r, &cc, &p, 2 << 20, 0);
    p.hold = 1;
    invoke(&r, &cc);
    run_until(&r, &cc.res.done);
    assert_int_equal(
        set_deadline_heap_full(&r.net.loop, writer_deadline, p.w, 1, &f),
        IRPC_ENOMEM);
    fillers_free(&f);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, 5));
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_EDEADLINE);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    producer_fini(&p);
    call_fini(&cc);
    srv_reset();

    /* the reader's, then the stream ends */
    srv.down_hold_at = 256 << 10;
    client_call dc;
    start_download(&r, &dc, 1 << 20);
    run_until(&r, &dc.res.done);
    assert_irpc_ok(dc.res.err);
    while (dc.down.got < (256 << 10) + 4)
      uv_run(&r.net.loop, UV_RUN_ONCE);
    assert_int_equal(
        set_deadline_heap_full(&r.net.loop, reader_deadline, dc.down.r, 1, &f),
        IRPC_ENOMEM);
    fillers_free(&f);
    srv.down.hold_at = 0;
    produce(&srv.down);
    run_until(&r, &dc.down.ended);
    assert_irpc_ok(dc.down.end_err);
    assert_int_equal(dc.down.got, (1 << 20) + 4);
    assert_false(dc.down.bad);
    run_until(&r, &srv.down.ended);
    assert_irpc_ok(srv.down.end_err);
    call_fini(&dc);
    srv_reset();

    /* the reader's, then armed again: it passes */
    start_download(&r, &dc, 1 << 20);
    run_until(&r, &dc.res.done);
    while (dc.down.got < (256 << 10) + 4)
      uv_run(&r.net.loop, UV_RUN_ONCE);
    assert_int_equal(
        set_deadline_heap_full(&r.net.loop, reader_deadline, dc.down.r, 1, &f),
        IRPC_ENOMEM);
    fillers_free(&f);
    assert_irpc_ok(irpc_stream_reader_set_deadline(dc.down.r, 5));
    run_until(&r, &dc.down.ended);
    assert_int_equal(dc.down.end_err, IRPC_EDEADLINE);
    run_until(&r, &srv.down.ended);
    assert_int_equal(srv.down.end_err, IRPC_ESTOPPED);
    call_fini(&dc);
    srv_reset();
    srv.down_hold_at = 0;

    small_call(&r);
    rig_down(&r, 1);
  }
}

/* ---- 2. Freed or torn down while a deadline is armed ---- */

#define SHORT_MS 5
#define PAST_MS 50
/* An upload the writer takes whole while the server's reader is paused
 * after its first chunk: within the server's window (1 MiB) and the
 * writer's queue (256 KiB), so that its end waits unframed. */
#define STALLED_TOTAL ((uint64_t)(1 << 20) + (128 << 10))

/* Holds until the paused server reader holds nothing: its stream ended
 * (the bytes of a reset stream are dropped). */
static void run_until_up_reset(stream_rig *r) {
  while (irpc_stream_reader_buffered(srv.up.r) > 0)
    uv_run(&r->net.loop, UV_RUN_ONCE);
}

static void test_freed_with_deadline(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    print_message("%s\n", kind_name(kinds[k]));
    stream_rig r;
    rig_up(&r, kinds[k]);

    /* A writer ended, its end not framed yet (the server's reader is
     * paused with a window's worth), then freed: its deadline keeps
     * running, aborts the stream (the server's reader: IRPC_ETRUNCATED)
     * and no callback of the writer runs. */
    client_call cc;
    producer p;
    srv.up_slow = 1;
    start_upload(&r, &cc, &p, STALLED_TOTAL, 0);
    invoke(&r, &cc);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    produce(&p);
    run_until(&r, &srv.up.paused);
    run_until(&r, &p.end_called);
    assert_irpc_ok(p.end_rc);
    assert_false(p.ended);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
    producer_fini(&p);
    run_until_up_reset(&r);
    srv.up.slow = 0;
    irpc_stream_reader_resume(srv.up.r);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    assert_true(srv.up.got < p.total);
    run_past(&r.net.loop, PAST_MS);
    assert_false(p.ended);
    call_fini(&cc);
    srv_reset();
    srv.up_slow = 0;

    /* A writer not ended, freed with its deadline armed: it aborts, its
     * deadline goes with it. */
    start_upload(&r, &cc, &p, 1 << 20, 0);
    p.hold = 1;
    invoke(&r, &cc);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
    producer_fini(&p);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    run_past(&r.net.loop, PAST_MS);
    assert_false(p.ended);
    call_fini(&cc);
    srv_reset();

    /* A reader taken, started and freed with its deadline armed: the
     * server's writer ends with IRPC_ESTOPPED, nothing more. */
    srv.down_hold_at = 64 << 10;
    client_call dc;
    start_download(&r, &dc, 1 << 20);
    run_until(&r, &dc.res.done);
    assert_irpc_ok(irpc_stream_reader_set_deadline(dc.down.r, SHORT_MS));
    irpc_stream_reader_free(dc.down.r);
    dc.down.r = NULL;
    run_until(&r, &srv.down.ended);
    assert_int_equal(srv.down.end_err, IRPC_ESTOPPED);
    run_past(&r.net.loop, PAST_MS);
    assert_false(dc.down.ended);
    call_fini(&dc);
    srv_reset();

    /* A reader never taken, its deadline armed, freed with its response */
    memset(&dc, 0, sizeof dc);
    dc.stream_response = 1;
    dc.reader_deadline = SHORT_MS;
    uint64_t total = 1 << 20;
    assert_irpc_ok(irpc_outgoing_request_new(&dc.req, "/down", "op"));
    assert_irpc_ok(irpc_buf_append(irpc_outgoing_request_payload(dc.req),
                                   &total, sizeof total));
    assert_irpc_ok(irpc_outgoing_request_set_stream_response(dc.req, 1));
    invoke(&r, &dc);
    run_until(&r, &dc.res.done);
    assert_irpc_ok(dc.res.err);
    run_until(&r, &srv.down.ended);
    assert_int_equal(srv.down.end_err, IRPC_ESTOPPED);
    run_past(&r.net.loop, PAST_MS);
    call_fini(&dc);
    srv_reset();
    srv.down_hold_at = 0;

    /* A writer whose request is freed unsent, its deadline armed: it ends
     * once, IRPC_ECANCELED. */
    start_upload(&r, &cc, &p, 10, 0);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
    call_fini(&cc);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_ECANCELED);
    run_past(&r.net.loop, PAST_MS);
    producer_fini(&p);

    /* A writer ended and freed with its deadline armed, then its
     * connection dies before the deadline: the connection lets go of it
     * (ASan: nothing touches it after). */
    srv.up_slow = 1;
    start_upload(&r, &cc, &p, STALLED_TOTAL, 0);
    invoke(&r, &cc);
    run_until(&r, &cc.res.done);
    produce(&p);
    run_until(&r, &srv.up.paused);
    run_until(&r, &p.end_called);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, PAST_MS));
    producer_fini(&p);
    abort_client(&r);
    srv.up.slow = 0;
    irpc_stream_reader_resume(srv.up.r);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, UV_ECONNRESET);
    run_past(&r.net.loop, 2 * PAST_MS);
    assert_false(p.ended);
    call_fini(&cc);
    rig_down(&r, 0);
  }
}

/* The connection dies while a writer's and a reader's deadlines are armed
 * (their calls completed): each ends once with the connection's error and
 * no deadline fires after. */
static void test_conn_dies_with_deadlines(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    print_message("%s\n", kind_name(kinds[k]));
    stream_rig r;
    rig_up(&r, kinds[k]);
    client_call cc, dc;
    producer p;
    start_upload(&r, &cc, &p, 1 << 20, 0);
    p.hold = 1;
    invoke(&r, &cc);
    srv.down_hold_at = 64 << 10;
    start_download(&r, &dc, 1 << 20);
    run_until(&r, &cc.res.done);
    run_until(&r, &dc.res.done);
    assert_irpc_ok(cc.res.err);
    assert_irpc_ok(dc.res.err);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
    assert_irpc_ok(irpc_stream_reader_set_deadline(dc.down.r, SHORT_MS));
    abort_client(&r);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, UV_ECONNABORTED);
    run_until(&r, &dc.down.ended);
    assert_int_equal(dc.down.end_err, UV_ECONNABORTED);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, UV_ECONNRESET);
    run_until(&r, &srv.down.ended);
    assert_int_equal(srv.down.end_err, UV_ECONNRESET);
    assert_int_equal(irpc_stream_writer_set_deadline(p.w, 1), IRPC_ECLOSED);
    assert_int_equal(irpc_stream_reader_set_deadline(dc.down.r, 1),
                     IRPC_ECLOSED);
    run_past(&r.net.loop, PAST_MS);
    /* the callbacks assert that each end came once */
    producer_fini(&p);
    call_fini(&cc);
    call_fini(&dc);
    rig_down(&r, 0);
  }
}

/* The call is canceled before its response, the writer's deadline armed:
 * the writer ends once, with the cancel error. */
static void test_call_canceled_with_deadline(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    print_message("%s\n", kind_name(kinds[k]));
    stream_rig r;
    rig_up(&r, kinds[k]);
    client_call cc;
    producer p;
    start_upload(&r, &cc, &p, 1 << 20, 0);
    p.hold = 1;
    irpc_call *call;
    assert_irpc_ok(irpc_invoke(r.client, cc.req, on_call, &cc, &call));
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
    assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
    run_until(&r, &cc.res.done);
    assert_int_equal(cc.res.err, IRPC_ECANCELED);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_ECANCELED);
    run_past(&r.net.loop, PAST_MS);
    producer_fini(&p);
    call_fini(&cc);
    small_call(&r);
    rig_down(&r, 1);
  }
}

/* ---- 3. A writer without a transform whose end the stream refuses ---- */

/* The request's payload is more than Slic frames at once (its output
 * takes 64 KiB), so what follows it waits in the stream's queue. The
 * continuation is written and ended before the request is sent, in more
 * pieces than a chain holds inline: the stream takes the pieces and the
 * end with the writer, and queuing them allocates, which may fail. */
#define REFUSED_PAYLOAD ((size_t)256 << 10)
#define REFUSED_PIECE ((size_t)1 << 10)
#define REFUSED_PIECES 64
#define REFUSED_TOTAL (REFUSED_PAYLOAD + REFUSED_PIECES * REFUSED_PIECE)

typedef struct settle_state {
  const client_call *cc;
  const producer *p;
  int shut; /* the client's connection shut down (or could not start to) */
} settle_state;

static int refused_call_settled(const settle_state *st) {
  return st->cc->res.done;
}

static int refused_writer_settled(const settle_state *st) {
  return st->p->ended;
}

static int refused_server_settled(const settle_state *st) {
  return st->shut && (!srv.up.r || srv.up.ended);
}

/* Runs until `done(st)`, failing after 20 s. */
static void on_stuck(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static void run_until_cond(uv_loop_t *loop, int (*done)(const settle_state *),
                           const settle_state *st) {
  int stuck = 0;
  uv_timer_t t;
  uv_timer_init(loop, &t);
  t.data = &stuck;
  uv_timer_start(&t, on_stuck, 20000, 0);
  while (!done(st) && !stuck)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  if (!done(st))
    fail_msg("stuck: call %d, writer %d, shut %d, server reader %s %d",
             st->cc->res.done, st->p->ended, st->shut,
             srv.up.r ? "started" : "none", srv.up.ended);
}

static void on_shut(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  ((settle_state *)ud)->shut = 1;
}

/* One run, the n-th allocation from the invocation on failing (0: none).
 * Returns 1 when nothing failed. `*refused` counts the runs where the
 * writer ended with IRPC_ENOMEM and the server's reader with
 * IRPC_ETRUNCATED: the stream refused what the writer handed it. */
static int run_refused(long n, int *refused) {
  long live0 = test_alloc.live;
  stream_rig r;
  rig_up(&r, NET_MEMORY);
  srv.oom_ok = 1;

  client_call cc;
  producer p;
  start_upload(&r, &cc, &p, REFUSED_PIECES * REFUSED_PIECE, 0);
  p.chunk = REFUSED_PIECE;
  p.base = REFUSED_PAYLOAD;
  p.free_on_end = 1; /* ASan: nothing touches it after its end */
  irpc_buf *payload = irpc_outgoing_request_payload(cc.req);
  for (size_t i = 0; i < REFUSED_PAYLOAD; i++) {
    uint8_t b = stream_pattern(i);
    assert_irpc_ok(irpc_buf_append(payload, &b, 1));
  }
  produce(&p); /* every piece and the end wait in the writer */
  assert_true(p.end_called);
  assert_irpc_ok(p.end_rc);

  settle_state st = {.cc = &cc, .p = &p};
  if (n)
    test_alloc_arm(n, 0);
  int rc = irpc_invoke(r.client, cc.req, on_call, &cc, NULL);
  if (rc) {
    assert_int_equal(rc, IRPC_ENOMEM);
    cc.res.done = 1;
  }
  run_until_cond(&r.net.loop, refused_call_settled, &st);
  /* a writer never sent ends when its request goes */
  call_fini(&cc);
  run_until_cond(&r.net.loop, refused_writer_settled, &st);
  int untouched = test_alloc_disarm();

  if (irpc_client_connection_shutdown(r.client, on_shut, &st) != 0)
    st.shut = 1;
  run_until_cond(&r.net.loop, refused_server_settled, &st);

  if (untouched) {
    assert_irpc_ok(cc.res.err);
    assert_int_equal(cc.res.status, IRPC_STATUS_OK);
    assert_irpc_ok(p.end_err);
    assert_true(srv.up.ended);
  }
  if (srv.up.ended && srv.up.end_err == 0) {
    assert_int_equal(srv.up.got, REFUSED_TOTAL);
    assert_false(srv.up.bad);
  }
  if (p.end_err && srv.up.ended && srv.up.end_err == 0)
    fail_msg("allocation %ld failing: the writer ended with %d, its reader "
             "with 0",
             n, p.end_err);
  if (p.end_err == IRPC_ENOMEM && srv.up.ended &&
      srv.up.end_err == IRPC_ETRUNCATED)
    (*refused)++;
  assert_null(p.w); /* freed by its end */

  srv_reset();
  irpc_invoker_free(r.client);
  net_rig_fini(&r.net);
  if (n && test_alloc.live != live0)
    fail_msg("allocation %ld failing: %ld blocks leaked", n,
             test_alloc.live - live0);
  return untouched;
}

/* Every allocation from the invocation on failing in turn, while a writer
 * ended before it was sent hands its pieces and its end to the stream:
 * the call and the writer end once (the writer is freed in its end, so
 * nothing may refer to it after), a writer that failed never leaves its
 * reader with a clean end, some runs fail exactly where the stream refuses
 * the pieces and the end (the writer: IRPC_ENOMEM, the server's reader:
 * IRPC_ETRUNCATED), and nothing leaks. */
static void test_refused_end(void **state) {
  (void)state;
  int refused = 0;
  run_refused(0, &refused);
  long n = 1;
  while (!run_refused(n, &refused))
    assert_true(++n < 5000);
  print_message("%ld allocations failed in turn, %d refused\n", n - 1, refused);
  assert_true(refused > 0);
}

/* ---- 4. The read blocks a paused reader pins ---- */

/* A read block (buf_internal.h) that a chain refers to: a block of the
 * pool's big class whose mark is past the bytes referred to (a block a
 * large append filled has no mark). */
static int is_read_block(const irpc__blk *k) {
  return k->big && !k->external && k->mark != 0;
}

/* The read blocks the first `len` bytes of `b` refer to. */
static size_t read_blocks(const irpc_buf *b, size_t len) {
  const irpc__blk *seen[512];
  size_t n = 0, at = 0;
  for (size_t i = 0; i < b->nsegs && at < len; i++) {
    const irpc__blk *k = b->segs[i].blk;
    at += b->segs[i].len;
    if (!is_read_block(k))
      continue;
    size_t j = 0;
    while (j < n && seen[j] != k)
      j++;
    if (j == n) {
      assert_true(n < sizeof seen / sizeof seen[0]);
      seen[n++] = k;
    }
  }
  return n;
}

/* The most read blocks a stream's unread input refers to (MAX_PINS in
 * core/protocol/icerpc/slic.c). */
#define MAX_PINNED 4

static int kept_full(const consumer *c) {
  return c->kept && irpc_buf_len(c->kept) >= c->keep;
}

/* A reader paused while a 4 MiB window's worth of a download arrives in
 * large pieces over a socket: what it holds refers to at most 4 read
 * blocks (the rest was copied), and it refers to read blocks again once
 * it resumed and emptied its input; every byte arrives intact. */
static void test_paused_reader_pins(void **state) {
  (void)state;
  static const int sock_kinds[] = {NET_TCP, NET_UDS};
  for (size_t k = 0; k < sizeof sock_kinds / sizeof sock_kinds[0]; k++) {
    print_message("%s\n", kind_name(sock_kinds[k]));
    stream_rig r;
    rig_init(&r, sock_kinds[k]);
    r.net.cicerpc.initial_stream_window_size = 4 << 20;
    rig_start(&r);
    if (r.net.tls_client) { /* TLS plain text is copied: no read block */
      print_message("skipped over TLS\n");
      rig_down(&r, 1);
      continue;
    }
    const uint64_t total = 16 << 20;
    client_call dc;
    start_download(&r, &dc, total);
    dc.down.slow = 1; /* paused after its first chunk */
    run_until(&r, &dc.res.done);
    assert_irpc_ok(dc.res.err);
    run_until(&r, &dc.down.paused);
    while (irpc_stream_reader_buffered(dc.down.r) < (3 << 20)) {
      assert_false(dc.down.ended);
      uv_run(&r.net.loop, UV_RUN_ONCE);
    }
    size_t held = irpc_stream_reader_buffered(dc.down.r);

    /* what it held comes first once resumed: kept, its blocks counted */
    assert_irpc_ok(irpc_buf_new(&dc.down.kept));
    dc.down.keep = held;
    dc.down.slow = 0;
    irpc_stream_reader_resume(dc.down.r);
    while (!kept_full(&dc.down))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    size_t pinned = read_blocks(dc.down.kept, held);
    print_message("%zu bytes held, referring to %zu read blocks\n", held,
                  pinned);
    assert_true(pinned >= 1);
    assert_true(pinned <= MAX_PINNED);
    irpc_buf_free(dc.down.kept);
    dc.down.kept = NULL;

    /* once its input was empty, the stream refers to read blocks again */
    uint64_t from = dc.down.got;
    while (dc.down.got < from + (1 << 20))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    assert_irpc_ok(irpc_buf_new(&dc.down.kept));
    dc.down.keep = 1 << 20;
    while (!kept_full(&dc.down))
      uv_run(&r.net.loop, UV_RUN_ONCE);
    assert_true(read_blocks(dc.down.kept, 1 << 20) >= 1);
    irpc_buf_free(dc.down.kept);
    dc.down.kept = NULL;

    run_until(&r, &dc.down.ended);
    assert_irpc_ok(dc.down.end_err);
    assert_int_equal(dc.down.got, total + 4);
    assert_false(dc.down.bad);
    run_until(&r, &srv.down.ended);
    assert_irpc_ok(srv.down.end_err);
    call_fini(&dc);
    rig_down(&r, 1);
  }
}

/* ---- 5. One-way requests whose payload did not go out yet ---- */

/* A one-way request with a 4 MiB payload and a continuation, the server's
 * reader paused after its first chunk: the payload cannot go out whole,
 * so the call waits and the writer is not attached yet. The connection
 * dies then: the call and the writer end once, with the connection's
 * error, the server's reader with its side's. The call is canceled then:
 * the call and the writer end once with IRPC_ECANCELED, the server's
 * reader with IRPC_ETRUNCATED. With the writer's deadline
 * passing first instead, the writer ends once with IRPC_EDEADLINE, the
 * call still completes once the payload went out, and the server's
 * reader sees the stream aborted. */
static void start_oneway_big(stream_rig *r, client_call *cc, producer *p,
                             irpc_call **call) {
  const size_t payload = 4 << 20;
  start_upload(r, cc, p, 64 << 10, 1);
  p->base = payload;
  irpc_buf *b = irpc_outgoing_request_payload(cc->req);
  uint8_t *dst;
  size_t avail, done = 0;
  while (done < payload) {
    assert_irpc_ok(irpc_buf_reserve(b, 0, &dst, &avail));
    if (avail > payload - done)
      avail = payload - done;
    for (size_t i = 0; i < avail; i++)
      dst[i] = stream_pattern(done + i);
    assert_irpc_ok(irpc_buf_commit(b, avail));
    done += avail;
  }
  produce(p); /* waits in the writer */
  srv.up_slow = 1;
  assert_irpc_ok(irpc_invoke(r->client, cc->req, on_call, cc, call));
  run_until(r, &srv.up.paused);
  /* the window is full: the rest of the payload waits */
  for (int i = 0; i < 20; i++)
    uv_run(&r->net.loop, UV_RUN_NOWAIT);
  assert_int_equal(cc->res.done, 0);
  assert_false(p->ended);
}

static void test_oneway_before_payload_sent(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    print_message("%s\n", kind_name(kinds[k]));
    stream_rig r;
    rig_up(&r, kinds[k]);

    /* the connection dies, a deadline armed */
    client_call cc;
    producer p;
    start_oneway_big(&r, &cc, &p, NULL);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, PAST_MS));
    abort_client(&r);
    run_until(&r, &cc.res.done);
    assert_int_equal(cc.res.err, UV_ECONNABORTED);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, UV_ECONNABORTED);
    srv.up.slow = 0;
    irpc_stream_reader_resume(srv.up.r);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, UV_ECONNRESET);
    run_past(&r.net.loop, 2 * PAST_MS);
    producer_fini(&p);
    call_fini(&cc);
    srv_reset();
    irpc_invoker_free(r.client);
    r.client = net_client(&r.net);
    small_call(&r);

    /* the call is canceled */
    irpc_call *call;
    start_oneway_big(&r, &cc, &p, &call);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, PAST_MS));
    assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
    run_until(&r, &cc.res.done);
    assert_int_equal(cc.res.err, IRPC_ECANCELED);
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_ECANCELED);
    srv.up.slow = 0;
    irpc_stream_reader_resume(srv.up.r);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    run_past(&r.net.loop, 2 * PAST_MS);
    producer_fini(&p);
    call_fini(&cc);
    srv_reset();
    small_call(&r);

    /* the writer's deadline passes first */
    start_oneway_big(&r, &cc, &p, NULL);
    assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
    run_until(&r, &p.ended);
    assert_int_equal(p.end_err, IRPC_EDEADLINE);
    assert_int_equal(cc.res.done, 0);
    srv.up.slow = 0;
    irpc_stream_reader_resume(srv.up.r);
    run_until(&r, &cc.res.done);
    assert_irpc_ok(cc.res.err);
    run_until(&r, &srv.up.ended);
    assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
    assert_false(srv.up.bad);
    producer_fini(&p);
    call_fini(&cc);
    small_call(&r);
    rig_down(&r, 1);
  }
}

/* ---- 6. A writer that ended before its request was sent ---- */

/* A request whose writer was aborted, or whose deadline passed, before the
 * request was sent: the writer's end came once. A two-way request then
 * cannot go whole: its call fails with the writer's error and nothing
 * reaches the server. A one-way one goes with its continuation aborted
 * (its call Ok, the server's reader IRPC_ETRUNCATED), as when the writer
 * aborts while its payload is sent. */
static void test_writer_done_before_sent(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    print_message("%s\n", kind_name(kinds[k]));
    stream_rig r;
    rig_up(&r, kinds[k]);
    for (int i = 0; i < 4; i++) {
      int deadline = i & 1, oneway = i >> 1;
      client_call cc;
      producer p;
      start_upload(&r, &cc, &p, 1 << 20, oneway);
      p.hold = 1;
      int want;
      if (deadline) {
        assert_irpc_ok(irpc_stream_writer_set_deadline(p.w, SHORT_MS));
        want = IRPC_EDEADLINE;
      } else {
        irpc_stream_writer_abort(p.w);
        want = IRPC_ECANCELED;
      }
      run_until(&r, &p.ended);
      assert_int_equal(p.end_err, want);
      assert_false(irpc_stream_writer_replayable(p.w));
      int dispatches = srv.dispatches;
      invoke(&r, &cc);
      run_until(&r, &cc.res.done);
      if (oneway) {
        assert_irpc_ok(cc.res.err);
        run_until(&r, &srv.up.ended);
        assert_int_equal(srv.up.end_err, IRPC_ETRUNCATED);
      } else {
        assert_int_equal(cc.res.err, want);
      }
      small_call(&r); /* the server saw what it would by now */
      assert_int_equal(srv.dispatches, dispatches + oneway + 1);
      run_past(&r.net.loop, PAST_MS);
      producer_fini(&p);
      call_fini(&cc);
      srv_reset();
    }
    rig_down(&r, 1);
  }
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline_arm_fails),
      cmocka_unit_test(test_freed_with_deadline),
      cmocka_unit_test(test_conn_dies_with_deadlines),
      cmocka_unit_test(test_call_canceled_with_deadline),
      cmocka_unit_test(test_refused_end),
      cmocka_unit_test(test_paused_reader_pins),
      cmocka_unit_test(test_oneway_before_payload_sent),
      cmocka_unit_test(test_writer_done_before_sent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
