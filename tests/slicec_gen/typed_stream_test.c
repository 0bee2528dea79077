/* The typed consumers generated for streams (stream_gen.slice): handlers
 * whose on_items takes the element's C type (int32_t, irpc_str, uint8_t),
 * started with M_I_op_return_take on the client and M_I_op_param_take on
 * the server, fed by the typed writers, over the memory transport; a
 * handler without a callback is refused and leaves the stream to take. */
#include <stdio.h>
#include <string.h>

#include "kit/net.h"
#include "stream_gen.slice.h"

enum { K_INT32, K_STRING, K_BYTES, K_ECHO };

/* ---- The server ---- */

/* A writer's end. */
typedef struct wend_state {
  int ended, err;
} wend_state;

static void wend(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  wend_state *e = ud;
  e->ended = 1;
  e->err = err;
}

static const irpc_stream_writer_ops wops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_end = wend,
};

typedef struct srv {
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  wend_state end;
  /* echo: the request's stream, read through a typed handler */
  irpc_slice_stream_reader *in;
  StreamGen_Feed_echo_param_handler h;
  size_t echoed;
} srv;

static srv S;

/* A writer of the dispatch's returned stream, with the default room (what
 * each test writes fits it). */
static void serve(irpc_slice_dispatch *sd, const irpc_slice_stream_elem *e) {
  memset(&S, 0, sizeof S);
  uv_loop_t *loop = irpc_dispatch_loop(irpc_slice_dispatch_raw(sd));
  assert_irpc_ok(irpc_stream_writer_new(&S.w, loop, NULL, &wops, &S.end));
  assert_irpc_ok(irpc_slice_stream_writer_new(&S.s, S.w, e));
  assert_irpc_ok(irpc_slice_dispatch_set_stream(sd, S.w));
}

static void impl_count(void *impl, irpc_slice_dispatch *sd, int32_t n) {
  (void)impl;
  serve(sd, &StreamGen_Feed_count_return_elem);
  StreamGen_Feed_count_return_item ints[1000];
  assert_true(n > 0 && (size_t)n <= sizeof ints / sizeof ints[0]);
  for (int32_t i = 0; i < n; i++)
    ints[i] = i;
  assert_irpc_ok(StreamGen_Feed_count_return_write(S.s, ints, (size_t)n));
  assert_irpc_ok(irpc_slice_stream_end(S.s));
  assert_irpc_ok(StreamGen_Feed_count_reply(sd));
}

static void impl_lines(void *impl, irpc_slice_dispatch *sd, irpc_str prefix,
                       int32_t n) {
  (void)impl;
  serve(sd, &StreamGen_Feed_lines_return_elem);
  static char names[500][32];
  StreamGen_Feed_lines_return_item strs[500];
  assert_true(n > 0 && (size_t)n <= sizeof strs / sizeof strs[0]);
  for (int32_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "%.*s-%d", (int)prefix.len, prefix.ptr,
             (int)i);
    strs[i] = (irpc_str){names[i], strlen(names[i])};
  }
  assert_irpc_ok(StreamGen_Feed_lines_return_write(S.s, strs, (size_t)n));
  assert_irpc_ok(irpc_slice_stream_end(S.s));
  assert_irpc_ok(StreamGen_Feed_lines_reply(sd, n));
}

static void impl_blob(void *impl, irpc_slice_dispatch *sd, int32_t n) {
  (void)impl;
  serve(sd, &StreamGen_Feed_blob_return_elem);
  StreamGen_Feed_blob_return_item bytes[3000];
  assert_true(n > 0 && (size_t)n <= sizeof bytes);
  for (int32_t i = 0; i < n; i++)
    bytes[i] = (uint8_t)(i % 251);
  assert_irpc_ok(StreamGen_Feed_blob_return_write(S.s, bytes, (size_t)n));
  assert_irpc_ok(irpc_slice_stream_end(S.s));
  assert_irpc_ok(StreamGen_Feed_blob_reply(sd));
}

/* echo: every string of the request's stream written back as it comes. */
static void echo_items(void *ud, const irpc_str *items, size_t n) {
  srv *p = ud;
  assert_irpc_ok(StreamGen_Feed_echo_return_write(p->s, items, n));
  p->echoed += n;
}

static void echo_end(void *ud, int err) {
  srv *p = ud;
  assert_irpc_ok(err);
  assert_irpc_ok(irpc_slice_stream_end(p->s));
}

static void impl_echo(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  serve(sd, &StreamGen_Feed_echo_return_elem);
  S.h = (StreamGen_Feed_echo_param_handler){
      .on_items = echo_items, .on_end = echo_end, .user_data = &S};
  assert_irpc_ok(StreamGen_Feed_echo_param_take(sd, &S.h, &S.in));
  assert_int_equal(StreamGen_Feed_echo_param_take(sd, &S.h, &S.in),
                   IRPC_ENOTFOUND);
  assert_irpc_ok(StreamGen_Feed_echo_reply(sd));
}

static const StreamGen_Feed_ops feed_ops = {
    .count = impl_count,
    .lines = impl_lines,
    .blob = impl_blob,
    .echo = impl_echo,
};

static const irpc_slice_iface *const served[] = {&StreamGen_Feed_iface, NULL};

/* ---- The client: one typed handler per element type ---- */

typedef struct cli {
  int kind;
  int done, err, take_rc;
  irpc_slice_stream_reader *s;
  size_t items;
  int bad;
  int ended, end_err;
  StreamGen_Feed_count_return_handler ints;
  StreamGen_Feed_lines_return_handler lines;
  StreamGen_Feed_blob_return_handler blob;
  StreamGen_Feed_echo_return_handler echo;
} cli;

static cli C;

static void int_items(void *ud, const int32_t *items, size_t n) {
  cli *c = ud;
  for (size_t i = 0; i < n; i++, c->items++)
    if (items[i] != (int32_t)c->items)
      c->bad = 1;
}

/* "line-i" (lines) or "echo-i" (echo) */
static void str_items(void *ud, const irpc_str *items, size_t n) {
  cli *c = ud;
  for (size_t i = 0; i < n; i++, c->items++) {
    char want[32];
    snprintf(want, sizeof want, "%s-%zu", c->kind == K_STRING ? "line" : "echo",
             c->items);
    if (items[i].len != strlen(want) ||
        memcmp(items[i].ptr, want, items[i].len) != 0)
      c->bad = 1;
  }
}

static void byte_items(void *ud, const uint8_t *items, size_t n) {
  cli *c = ud;
  for (size_t i = 0; i < n; i++, c->items++)
    if (items[i] != (uint8_t)(c->items % 251))
      c->bad = 1;
}

static void cli_end(void *ud, int err) {
  cli *c = ud;
  c->ended++;
  c->end_err = err;
}

static void cli_reset(int kind) {
  memset(&C, 0, sizeof C);
  C.kind = kind;
  C.ints = (StreamGen_Feed_count_return_handler){
      .on_items = int_items, .on_end = cli_end, .user_data = &C};
  C.lines = (StreamGen_Feed_lines_return_handler){
      .on_items = str_items, .on_end = cli_end, .user_data = &C};
  C.blob = (StreamGen_Feed_blob_return_handler){
      .on_items = byte_items, .on_end = cli_end, .user_data = &C};
  C.echo = (StreamGen_Feed_echo_return_handler){
      .on_items = str_items, .on_end = cli_end, .user_data = &C};
}

/* count: first handlers that are refused (the stream stays to take),
 * then the typed one. */
static void count_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  C.done = 1;
  C.err = err;
  StreamGen_Feed_count_return_handler no_end = C.ints;
  no_end.on_end = NULL;
  StreamGen_Feed_count_return_handler no_items = C.ints;
  no_items.on_items = NULL;
  assert_int_equal(StreamGen_Feed_count_return_take(reply, &no_end, &C.s),
                   IRPC_EINVAL);
  assert_int_equal(StreamGen_Feed_count_return_take(reply, &no_items, &C.s),
                   IRPC_EINVAL);
  assert_int_equal(StreamGen_Feed_count_return_take(reply, NULL, &C.s),
                   IRPC_EINVAL);
  C.take_rc = StreamGen_Feed_count_return_take(reply, &C.ints, &C.s);
}

static void lines_cb(irpc_slice_reply *reply, int err,
                     const StreamGen_Feed_lines_ret *ret, void *ud) {
  (void)ud;
  C.done = 1;
  C.err = err;
  if (ret && ret->total != 500)
    C.bad = 1;
  C.take_rc = StreamGen_Feed_lines_return_take(reply, &C.lines, &C.s);
}

static void blob_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  C.done = 1;
  C.err = err;
  C.take_rc = StreamGen_Feed_blob_return_take(reply, &C.blob, &C.s);
}

static void echo_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  C.done = 1;
  C.err = err;
  C.take_rc = StreamGen_Feed_echo_return_take(reply, &C.echo, &C.s);
}

/* Runs until both ends of the returned stream are done, checks that
 * `items` good ones arrived, and frees both ends. */
static void finish(uv_loop_t *loop, size_t items) {
  kit_run_until(loop, &C.done);
  assert_irpc_ok(C.err);
  assert_irpc_ok(C.take_rc);
  kit_run_until(loop, &C.ended);
  kit_run_until(loop, &S.end.ended);
  assert_int_equal(C.ended, 1);
  assert_irpc_ok(C.end_err);
  assert_irpc_ok(S.end.err);
  assert_int_equal(C.items, items);
  assert_false(C.bad);
  irpc_slice_stream_reader_free(C.s);
  irpc_slice_stream_reader_free(S.in);
  irpc_slice_stream_writer_free(S.s);
  irpc_stream_writer_free(S.w);
}

static void test_typed_consumers(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  r.sicerpc.stream_request = irpc_slice_stream_request;
  r.sicerpc.stream_request_user_data = (void *)served;
  irpc_dispatcher *disp;
  assert_irpc_ok(StreamGen_Feed_map(r.router, NULL, &feed_ops, NULL, &disp));
  r.disps[r.ndisps++] = disp; /* freed by net_rig_fini */
  net_rig_start(&r);
  irpc_invoker *client = net_client(&r);
  StreamGen_FeedProxy proxy = StreamGen_FeedProxy_from(client, NULL);

  cli_reset(K_INT32);
  assert_irpc_ok(StreamGen_Feed_count(&proxy, 1000, NULL, count_cb, NULL));
  finish(&r.loop, 1000);

  cli_reset(K_STRING);
  assert_irpc_ok(StreamGen_Feed_lines(&proxy, (irpc_str){"line", 4}, 500, NULL,
                                      lines_cb, NULL));
  finish(&r.loop, 500);

  cli_reset(K_BYTES);
  assert_irpc_ok(StreamGen_Feed_blob(&proxy, 3000, NULL, blob_cb, NULL));
  finish(&r.loop, 3000);

  /* both ways: the client's strings through the typed writer, the
   * server's typed handler, and back */
  cli_reset(K_ECHO);
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  wend_state wended = {0};
  assert_irpc_ok(irpc_stream_writer_new(&w, &r.loop, NULL, &wops, &wended));
  assert_irpc_ok(
      irpc_slice_stream_writer_new(&s, w, &StreamGen_Feed_echo_param_elem));
  char names[300][32];
  StreamGen_Feed_echo_param_item strs[300];
  for (size_t i = 0; i < 300; i++) {
    snprintf(names[i], sizeof names[i], "echo-%zu", i);
    strs[i] = (irpc_str){names[i], strlen(names[i])};
  }
  assert_irpc_ok(StreamGen_Feed_echo_param_write(s, strs, 300));
  assert_irpc_ok(irpc_slice_stream_end(s));
  irpc_slice_call_opts opts;
  irpc_slice_call_opts_init(&opts);
  opts.stream = w;
  assert_irpc_ok(StreamGen_Feed_echo(&proxy, &opts, echo_cb, NULL));
  finish(&r.loop, 300);
  assert_int_equal(S.echoed, 300);
  kit_run_until(&r.loop, &wended.ended);
  assert_irpc_ok(wended.err);
  irpc_slice_stream_writer_free(s);
  irpc_stream_writer_free(w);

  net_client_close(&r, client);
  net_rig_fini(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_consumers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
