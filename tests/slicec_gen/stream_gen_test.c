/* Operations taking and returning streams (stream_gen.slice), served and
 * called through generated code over the memory transport and TCP: int32
 * (fixed size), string (segments) and uint8 (raw bytes) elements with the
 * producer waiting for room, server to client, client to server and both
 * ways; a writer that aborts (either side), a stream that does not decode,
 * a stream the client does not take, a dispatch that fails. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kit/net.h"
#include "stream_gen.slice.h"

enum { K_INT32, K_STRING, K_BYTES };

/* ---- A producer of a stream of `kind`: `n` items, then the end; the
 * server's answers a call (S), the client's feeds a request (P) ---- */

typedef struct producer {
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  int kind;
  int32_t n, sent;
  int abort, bad;
  int must_write; /* a write may not fail (else the reader stopped) */
  int eagain;
  int ended, end_err;
  char prefix[32];
  char names[64][48];
} producer;

static producer S, P;

static void produce(producer *p) {
  if (p->bad) { /* an empty segment: the consumer refuses it */
    irpc_buf *b;
    assert_irpc_ok(irpc_buf_new(&b));
    assert_irpc_ok(irpc_buf_append(b, "\x00", 1));
    assert_irpc_ok(irpc_stream_writer_write(p->w, b));
    irpc_buf_free(b);
    assert_irpc_ok(irpc_slice_stream_end(p->s));
    return;
  }
  while (p->sent < p->n) {
    size_t n = p->n - p->sent < 64 ? (size_t)(p->n - p->sent) : 64;
    int32_t ints[64];
    irpc_str strs[64];
    uint8_t bytes[64];
    const void *items = ints;
    for (size_t i = 0; i < n; i++) {
      int32_t k = p->sent + (int32_t)i;
      ints[i] = k;
      bytes[i] = (uint8_t)(k % 251);
      snprintf(p->names[i], sizeof p->names[i], "%s-%d", p->prefix, (int)k);
      strs[i].ptr = p->names[i];
      strs[i].len = strlen(p->names[i]);
    }
    if (p->kind == K_STRING)
      items = strs;
    else if (p->kind == K_BYTES)
      items = bytes;
    int rc = irpc_slice_stream_write(p->s, items, n);
    if (rc == IRPC_EAGAIN) {
      p->eagain++;
      return;
    }
    if (p->must_write)
      assert_irpc_ok(rc);
    if (rc)
      return; /* the reader stopped: on_end says so */
    p->sent += (int32_t)n;
  }
  if (p->n >= 0 && !p->abort) /* else left open: the test aborts it */
    assert_irpc_ok(irpc_slice_stream_end(p->s));
  p->n = -1; /* done */
}

static void writable(irpc_stream_writer *w, void *ud) {
  (void)w;
  producer *p = ud;
  if (p->sent < p->n)
    produce(p);
}

static void wend(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  producer *p = ud;
  p->ended = 1;
  p->end_err = err;
}

static const irpc_stream_writer_ops wops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = writable,
    .on_end = wend,
};

static void producer_start(producer *p, uv_loop_t *loop, int kind, int32_t n,
                           const irpc_slice_stream_elem *elem,
                           size_t max_queued) {
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->n = n;
  irpc_stream_writer_options wo;
  irpc_stream_writer_options_init(&wo);
  wo.max_queued = max_queued;
  assert_irpc_ok(irpc_stream_writer_new(&p->w, loop, &wo, &wops, p));
  assert_irpc_ok(irpc_slice_stream_writer_new(&p->s, p->w, elem));
}

static void producer_free(producer *p) {
  irpc_slice_stream_writer_free(p->s);
  irpc_stream_writer_free(p->w);
  p->s = NULL;
  p->w = NULL;
}

/* Starts the stream of `kind` for the dispatch; the caller replies. */
static void serve(irpc_slice_dispatch *sd, int kind, int32_t n,
                  const irpc_slice_stream_elem *elem) {
  /* small: the producer waits often; echo writes as it reads, without
   * waiting, so its 5000 strings must fit */
  producer_start(&S, irpc_dispatch_loop(irpc_slice_dispatch_raw(sd)), kind, n,
                 elem, kind == K_STRING && n == 0 ? 256 << 10 : 16 << 10);
  assert_irpc_ok(irpc_slice_dispatch_set_stream(sd, S.w));
  assert_int_equal(irpc_slice_dispatch_set_stream(sd, S.w), IRPC_EBUSY);
}

static void srv_free(void) {
  producer_free(&S);
}

static void impl_count(void *impl, irpc_slice_dispatch *sd, int32_t n) {
  (void)impl;
  serve(sd, K_INT32, n < 0 ? -n : n, &StreamGen_Feed_count_return_elem);
  S.abort = n < 0;
  assert_irpc_ok(StreamGen_Feed_count_reply(sd));
  produce(&S);
}

static void impl_lines(void *impl, irpc_slice_dispatch *sd, irpc_str prefix,
                       int32_t n) {
  (void)impl;
  serve(sd, K_STRING, n < 0 ? 0 : n, &StreamGen_Feed_lines_return_elem);
  S.bad = n < 0;
  snprintf(S.prefix, sizeof S.prefix, "%.*s", (int)prefix.len, prefix.ptr);
  produce(&S); /* before the reply: the bytes wait in the writer */
  assert_irpc_ok(StreamGen_Feed_lines_reply(sd, n));
}

static void impl_blob(void *impl, irpc_slice_dispatch *sd, int32_t n) {
  (void)impl;
  if (n < 0) {
    assert_irpc_ok(
        irpc_slice_dispatch_fail(sd, IRPC_STATUS_NOT_FOUND, "no such blob"));
    return;
  }
  serve(sd, K_BYTES, n, &StreamGen_Feed_blob_return_elem);
  assert_irpc_ok(StreamGen_Feed_blob_reply(sd));
  produce(&S);
}

static void impl_size(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  StreamGen_Feed_size_reply(sd, (int64_t)name.len);
}

/* upload: counts and checks the bytes, replies at their end. */
typedef struct up {
  irpc_slice_dispatch *sd;
  irpc_slice_stream_reader *s;
  int64_t count;
  int bad;
  int ended, end_err;
} up;

static up U;

/* When set, the client's upload writer (same loop) is aborted once the
 * server received that many bytes. */
static irpc_stream_writer *abort_writer;
static int64_t abort_after;

static void up_items(void *ud, const void *items, size_t n) {
  up *u = ud;
  for (size_t i = 0; i < n; i++, u->count++)
    if (((const uint8_t *)items)[i] != (uint8_t)(u->count % 251))
      u->bad = 1;
  if (abort_writer && u->count >= abort_after) {
    irpc_stream_writer_abort(abort_writer);
    abort_writer = NULL;
  }
}

static void up_end(void *ud, int err) {
  up *u = ud;
  u->ended++;
  u->end_err = err;
  if (err)
    assert_irpc_ok(irpc_slice_dispatch_fail(u->sd, IRPC_STATUS_INVALID_DATA,
                                            irpc_strerror(err)));
  else
    assert_irpc_ok(StreamGen_Feed_upload_reply(u->sd, u->count));
  u->sd = NULL;
}

static const irpc_slice_stream_handler up_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = up_items,
    .on_end = up_end,
};

static void impl_upload(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  irpc_slice_stream_reader_free(U.s);
  memset(&U, 0, sizeof U);
  assert_true(name.len == 4 && memcmp(name.ptr, "file", 4) == 0);
  U.sd = sd;
  assert_irpc_ok(irpc_slice_dispatch_take_stream(sd, &up_handler, &U, &U.s));
  assert_int_equal(irpc_slice_dispatch_take_stream(sd, &up_handler, &U, &U.s),
                   IRPC_ENOTFOUND);
}

/* echo: replies at once, then writes back every string it receives. */
static void echo_items(void *ud, const void *items, size_t n) {
  producer *p = ud;
  assert_irpc_ok(irpc_slice_stream_write(p->s, items, n));
  p->sent += (int32_t)n;
}

static void echo_end(void *ud, int err) {
  producer *p = ud;
  if (err)
    irpc_stream_writer_abort(p->w);
  else
    assert_irpc_ok(irpc_slice_stream_end(p->s));
}

static const irpc_slice_stream_handler echo_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = echo_items,
    .on_end = echo_end,
};

static irpc_slice_stream_reader *echo_in;

/* When set, echo takes its stream into a state of its own whose on_end
 * completes the dispatch and frees the reader and the state. */
static int echo_early;
static int early_ended, early_err, early_in_take, early_items_n;

typedef struct early {
  irpc_slice_dispatch *sd;
  irpc_slice_stream_reader *in;
} early;

static void early_items(void *ud, const void *items, size_t n) {
  (void)ud;
  (void)items;
  assert_false(early_in_take);
  early_items_n += (int)n;
}

static void early_end(void *ud, int err) {
  early *st = ud;
  assert_false(early_in_take);
  assert_non_null(st->in); /* the handle was set before */
  early_ended++;
  early_err = err;
  assert_irpc_ok(irpc_slice_dispatch_fail(st->sd, IRPC_STATUS_INVALID_DATA,
                                          irpc_strerror(err)));
  irpc_slice_stream_reader_free(st->in);
  free(st);
}

static const irpc_slice_stream_handler early_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = early_items,
    .on_end = early_end,
};

static void impl_echo(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  if (echo_early) {
    early *st = calloc(1, sizeof *st);
    assert_non_null(st);
    st->sd = sd;
    early_in_take = 1;
    assert_irpc_ok(
        irpc_slice_dispatch_take_stream(sd, &early_handler, st, &st->in));
    early_in_take = 0;
    return;
  }
  serve(sd, K_STRING, 0, &StreamGen_Feed_echo_return_elem);
  S.n = -1; /* the writer is driven by echo_items */
  assert_irpc_ok(
      irpc_slice_dispatch_take_stream(sd, &echo_handler, &S, &echo_in));
  assert_irpc_ok(StreamGen_Feed_echo_reply(sd));
}

static const StreamGen_Feed_ops feed_ops = {
    .count = impl_count,
    .lines = impl_lines,
    .blob = impl_blob,
    .size = impl_size,
    .upload = impl_upload,
    .echo = impl_echo,
};

static const irpc_slice_iface *const served[] = {&StreamGen_Feed_iface, NULL};

/* ---- The client: consumes the returned stream ---- */

typedef struct cli {
  int kind;
  int take;
  int done, err;
  int take_rc;
  int32_t total;
  int64_t size;
  irpc_slice_stream_reader *s;
  uint64_t items;
  uint64_t want; /* reached set once this many items arrived */
  int reached;
  int bad;
  int ended, end_err;
  uint64_t free_at; /* the reader is freed from on_items at this count */
  int freed;
  char prefix[32];
} cli;

static cli C;

static void on_items(void *ud, const void *items, size_t n) {
  cli *c = ud;
  for (size_t i = 0; i < n; i++, c->items++) {
    if (c->kind == K_INT32) {
      if (((const int32_t *)items)[i] != (int32_t)c->items)
        c->bad = 1;
    } else if (c->kind == K_STRING) {
      char want[48];
      snprintf(want, sizeof want, "%s-%d", c->prefix, (int)c->items);
      const irpc_str *s = &((const irpc_str *)items)[i];
      if (s->len != strlen(want) || memcmp(s->ptr, want, s->len) != 0)
        c->bad = 1;
    } else if (((const uint8_t *)items)[i] != (uint8_t)(c->items % 251)) {
      c->bad = 1;
    }
  }
  if (c->want && c->items >= c->want)
    c->reached = 1;
  if (c->free_at && c->items >= c->free_at && c->s) {
    irpc_slice_stream_reader_free(c->s);
    c->s = NULL;
    c->freed++;
  }
}

static void on_end(void *ud, int err) {
  cli *c = ud;
  c->ended++;
  c->end_err = err;
}

static const irpc_slice_stream_handler handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = on_items,
    .on_end = on_end,
};

static void got_reply(irpc_slice_reply *reply, int err) {
  C.done++;
  C.err = err;
  if (C.take)
    C.take_rc = irpc_slice_reply_take_stream(reply, &handler, &C, &C.s);
}

static void count_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  got_reply(reply, err);
}

static void lines_cb(irpc_slice_reply *reply, int err,
                     const StreamGen_Feed_lines_ret *ret, void *ud) {
  (void)ud;
  if (ret)
    C.total = ret->total;
  got_reply(reply, err);
}

static void blob_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  got_reply(reply, err);
}

static void size_cb(irpc_slice_reply *reply, int err, const int64_t *ret,
                    void *ud) {
  (void)ud;
  C.done++;
  C.err = err;
  C.size = ret ? *ret : -1;
  C.take_rc = irpc_slice_reply_take_stream(reply, &handler, &C, &C.s);
}

static void upload_cb(irpc_slice_reply *reply, int err, const int64_t *ret,
                      void *ud) {
  (void)reply;
  (void)ud;
  C.done++;
  C.err = err;
  C.size = ret ? *ret : -1;
}

/* Starts the client's producer of a request stream (P) and sets opts to
 * send it. */
static void prod_start(uv_loop_t *loop, int kind, int32_t n,
                       const irpc_slice_stream_elem *elem,
                       irpc_slice_call_opts *opts) {
  producer_start(&P, loop, kind, n, elem, 16 << 10);
  P.must_write = 1;
  snprintf(P.prefix, sizeof P.prefix, "echo");
  irpc_slice_call_opts_init(opts);
  opts->stream = P.w;
}

static void prod_free(void) {
  producer_free(&P);
}

static void cli_reset(int kind) {
  irpc_slice_stream_reader_free(C.s);
  memset(&C, 0, sizeof C);
  C.kind = kind;
  C.take = 1;
}

/* Runs until both ends of the stream are done, then frees them. */
static void finish(uv_loop_t *loop) {
  kit_run_until(loop, &C.ended);
  kit_run_until(loop, &S.ended);
  assert_int_equal(C.ended, 1);
  irpc_slice_stream_reader_free(C.s);
  C.s = NULL;
  srv_free();
}

typedef struct rig {
  net_rig net;
  irpc_dispatcher *disp;
  irpc_invoker *client;
  StreamGen_FeedProxy proxy;
} rig;

static void rig_start(rig *r, int kind) {
  net_rig_init(&r->net, kind);
  r->net.sicerpc.stream_request = irpc_slice_stream_request;
  r->net.sicerpc.stream_request_user_data = (void *)served;
  assert_irpc_ok(
      StreamGen_Feed_map(r->net.router, NULL, &feed_ops, NULL, &r->disp));
  r->net.disps[r->net.ndisps++] = r->disp; /* freed by net_rig_fini */
  net_rig_start(&r->net);
  r->client = net_client(&r->net);
  r->proxy = StreamGen_FeedProxy_from(r->client, NULL);
}

static void rig_stop(rig *r) {
  net_client_close(&r->net, r->client);
  net_rig_fini(&r->net);
}

/* ---- Tests ---- */

static void test_streams(void **state) {
  (void)state;
  int kinds[] = {NET_MEMORY, NET_TCP};
  for (size_t k = 0; k < 2; k++) {
    rig r;
    rig_start(&r, kinds[k]);
    uv_loop_t *loop = &r.net.loop;

    cli_reset(K_INT32);
    assert_irpc_ok(
        StreamGen_Feed_count(&r.proxy, 200000, NULL, count_cb, NULL));
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_irpc_ok(C.take_rc);
    finish(loop);
    assert_irpc_ok(C.end_err);
    assert_int_equal(C.items, 200000);
    assert_false(C.bad);
    assert_irpc_ok(S.end_err);
    assert_true(S.eagain > 0);

    cli_reset(K_STRING);
    snprintf(C.prefix, sizeof C.prefix, "line");
    assert_irpc_ok(StreamGen_Feed_lines(&r.proxy, (irpc_str){"line", 4}, 30000,
                                        NULL, lines_cb, NULL));
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_int_equal(C.total, 30000);
    finish(loop);
    assert_irpc_ok(C.end_err);
    assert_int_equal(C.items, 30000);
    assert_false(C.bad);

    cli_reset(K_BYTES);
    assert_irpc_ok(StreamGen_Feed_blob(&r.proxy, 500000, NULL, blob_cb, NULL));
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    finish(loop);
    assert_irpc_ok(C.end_err);
    assert_int_equal(C.items, 500000);
    assert_false(C.bad);

    /* an empty stream, and one with no element */
    cli_reset(K_INT32);
    assert_irpc_ok(StreamGen_Feed_count(&r.proxy, 0, NULL, count_cb, NULL));
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.take_rc);
    finish(loop);
    assert_irpc_ok(C.end_err);
    assert_int_equal(C.items, 0);

    /* an operation without a stream is unchanged */
    cli_reset(K_INT32);
    assert_irpc_ok(StreamGen_Feed_size(&r.proxy, (irpc_str){"abcde", 5}, NULL,
                                       size_cb, NULL));
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_int_equal(C.size, 5);
    assert_int_equal(C.take_rc, IRPC_EINVAL);
    rig_stop(&r);
  }
}

/* Client to server: an upload of raw bytes, and strings both ways. */
static void test_request_streams(void **state) {
  (void)state;
  int kinds[] = {NET_MEMORY, NET_TCP};
  for (size_t k = 0; k < 2; k++) {
    rig r;
    rig_start(&r, kinds[k]);
    uv_loop_t *loop = &r.net.loop;
    irpc_slice_call_opts opts;

    cli_reset(K_BYTES);
    prod_start(loop, K_BYTES, 400000, &StreamGen_Feed_upload_param_elem, &opts);
    assert_irpc_ok(StreamGen_Feed_upload(&r.proxy, (irpc_str){"file", 4}, &opts,
                                         upload_cb, NULL));
    produce(&P);
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_int_equal(C.size, 400000);
    assert_false(U.bad);
    kit_run_until(loop, &P.ended);
    assert_irpc_ok(P.end_err);
    assert_true(P.eagain > 0);
    prod_free();

    cli_reset(K_STRING);
    snprintf(C.prefix, sizeof C.prefix, "echo");
    prod_start(loop, K_STRING, 5000, &StreamGen_Feed_echo_param_elem, &opts);
    assert_irpc_ok(StreamGen_Feed_echo(&r.proxy, &opts, count_cb, NULL));
    produce(&P);
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_irpc_ok(C.take_rc);
    kit_run_until(loop, &C.ended);
    assert_irpc_ok(C.end_err);
    assert_int_equal(C.items, 5000);
    assert_false(C.bad);
    kit_run_until(loop, &S.ended);
    assert_irpc_ok(S.end_err);
    kit_run_until(loop, &P.ended);
    assert_irpc_ok(P.end_err);
    irpc_slice_stream_reader_free(C.s);
    C.s = NULL;
    irpc_slice_stream_reader_free(echo_in);
    echo_in = NULL;
    irpc_slice_stream_reader_free(U.s);
    U.s = NULL;
    srv_free();
    prod_free();
    rig_stop(&r);
  }
}

/* The client aborts its upload: the server's consumer gets
 * IRPC_ETRUNCATED and the dispatch answers InvalidData. */
static void test_upload_aborted(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  irpc_slice_call_opts opts;
  cli_reset(K_BYTES);
  prod_start(&r.net.loop, K_BYTES, 400000, &StreamGen_Feed_upload_param_elem,
             &opts);
  abort_writer = P.w;
  abort_after = 1000;
  assert_irpc_ok(StreamGen_Feed_upload(&r.proxy, (irpc_str){"file", 4}, &opts,
                                       upload_cb, NULL));
  produce(&P);
  kit_run_until(&r.net.loop, &C.done);
  assert_int_not_equal(C.err, 0); /* the call fails, once */
  assert_int_equal(C.done, 1);
  kit_run_until(&r.net.loop, &U.ended);
  assert_int_equal(U.ended, 1);
  assert_int_equal(U.end_err, IRPC_ETRUNCATED);
  assert_true(U.count >= 1000 && U.count < 400000);
  assert_null(abort_writer);
  kit_run_until(&r.net.loop, &P.ended);
  assert_int_equal(P.end_err, IRPC_ECANCELED);
  prod_free();
  irpc_slice_stream_reader_free(U.s);
  U.s = NULL;
  rig_stop(&r);
}

/* The server aborts its writer once the client got 100 elements: the
 * client then gets IRPC_ETRUNCATED. */
static void test_aborted(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  cli_reset(K_INT32);
  C.want = 100;
  assert_irpc_ok(StreamGen_Feed_count(&r.proxy, -100, NULL, count_cb, NULL));
  kit_run_until(&r.net.loop, &C.done);
  assert_irpc_ok(C.err);
  kit_run_until(&r.net.loop, &C.reached);
  assert_int_equal(C.ended, 0);
  irpc_stream_writer_abort(S.w);
  finish(&r.net.loop);
  assert_int_equal(C.end_err, IRPC_ETRUNCATED);
  assert_int_equal(C.items, 100);
  assert_false(C.bad);
  assert_int_equal(S.end_err, IRPC_ECANCELED);
  rig_stop(&r);
}

/* An empty segment in a stream of strings: the consumer ends with
 * IRPC_EDATA, having decoded nothing. */
static void test_framing_error(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  cli_reset(K_STRING);
  assert_irpc_ok(StreamGen_Feed_lines(&r.proxy, (irpc_str){"x", 1}, -1, NULL,
                                      lines_cb, NULL));
  kit_run_until(&r.net.loop, &C.done);
  assert_irpc_ok(C.err);
  assert_int_equal(C.total, -1);
  finish(&r.net.loop);
  assert_int_equal(C.end_err, IRPC_EDATA);
  assert_int_equal(C.items, 0);
  rig_stop(&r);
}

/* A client that does not take the stream: freeing the reply stops the
 * server's writer. */
static void test_not_taken(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  cli_reset(K_INT32);
  C.take = 0;
  assert_irpc_ok(StreamGen_Feed_count(&r.proxy, 4000000, NULL, count_cb, NULL));
  kit_run_until(&r.net.loop, &C.done);
  assert_irpc_ok(C.err);
  kit_run_until(&r.net.loop, &S.ended);
  assert_int_equal(S.end_err, IRPC_ESTOPPED);
  assert_true(S.sent < 4000000);
  assert_int_equal(C.ended, 0);
  srv_free();
  rig_stop(&r);
}

/* A dispatch that fails: the callback gets IRPC_ESTATUS and no stream. */
static void test_failed(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  cli_reset(K_BYTES);
  assert_irpc_ok(StreamGen_Feed_blob(&r.proxy, -1, NULL, blob_cb, NULL));
  kit_run_until(&r.net.loop, &C.done);
  assert_int_equal(C.err, IRPC_ESTATUS);
  assert_int_equal(C.take_rc, IRPC_ENOTFOUND);
  assert_null(C.s);
  assert_int_equal(C.done, 1);
  rig_stop(&r);
}

/* Elements and the end that arrived before the stream was taken come on
 * a later loop turn, never inside take_stream: an on_end that completes
 * the dispatch and frees its state (and the reader) is safe. The request
 * is echo's empty arguments (04 FC) then an empty segment (00). */
static void test_take_defers(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  echo_early = 1;
  early_ended = early_err = early_items_n = 0;
  irpc_stream_writer *w;
  assert_irpc_ok(irpc_stream_writer_new(&w, &r.net.loop, NULL, &wops, &P));
  memset(&P, 0, sizeof P);
  irpc_outgoing_request *req;
  assert_irpc_ok(
      irpc_outgoing_request_new(&req, STREAMGEN_FEED_DEFAULT_PATH, "echo"));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(req), "\x04\xfc\x00", 3));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, w));
  assert_irpc_ok(irpc_stream_writer_end(w));
  net_result res = {0};
  net_call_sync(&r.net.loop, r.client, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_INVALID_DATA);
  assert_int_equal(early_ended, 1);
  assert_int_equal(early_err, IRPC_EDATA);
  assert_int_equal(early_items_n, 0);
  kit_run_until(&r.net.loop, &P.ended);
  irpc_stream_writer_free(w);
  irpc_outgoing_request_free(req);
  echo_early = 0;
  rig_stop(&r);
}

/* The client frees the reader from on_items after 1000 items: no item and
 * no end after that, and the server's writer is stopped. */
static void test_free_in_items(void **state) {
  (void)state;
  rig r;
  rig_start(&r, NET_MEMORY);
  cli_reset(K_INT32);
  C.free_at = 1000;
  assert_irpc_ok(StreamGen_Feed_count(&r.proxy, 400000, NULL, count_cb, NULL));
  kit_run_until(&r.net.loop, &C.done);
  assert_irpc_ok(C.err);
  assert_irpc_ok(C.take_rc);
  kit_run_until(&r.net.loop, &S.ended);
  assert_int_equal(S.end_err, IRPC_ESTOPPED);
  assert_int_equal(C.freed, 1);
  assert_int_equal(C.ended, 0);
  assert_true(C.items >= 1000 && C.items < 400000);
  assert_false(C.bad);
  assert_null(C.s);
  srv_free();
  rig_stop(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_aborted),
      cmocka_unit_test(test_framing_error),
      cmocka_unit_test(test_not_taken),
      cmocka_unit_test(test_failed),
      cmocka_unit_test(test_request_streams),
      cmocka_unit_test(test_upload_aborted),
      cmocka_unit_test(test_take_defers),
      cmocka_unit_test(test_free_in_items),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
