/* An irpc client calls a ZeroC Ice 3.7 server: the C code irpc-slicec
 * generates from Interop.ice, through the public API, over the ice
 * protocol, against the Ice server of peer.py (Ice for Python, from the
 * same file). One test per check of the suite, each the counterpart of the
 * Ice client's check in peer.py (interop_ice_test runs those against the
 * same server). The client's pipeline is the one an application builds:
 * the retry interceptor, the request context interceptor, a client
 * connection whose dispatcher serves the callback. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <irpc/ice.h>

#include "Interop.ice.h"
#include "interop.h"

#define MIB (1u << 20)

static struct {
  uv_loop_t loop;
  kit_peer server;
  int port;
  char proxy_str[256];
  char address[64];
  irpc_ice_options ice;
  irpc_connection_options copts;
  irpc_router *router; /* the client's: the callback */
  irpc_dispatcher *callback_disp;
  int callback_calls;
  irpc_invoker *conn, *retry, *ctx, *pipeline_inv;
  irpc_pipeline *pipeline;
  Interop_TestProxy test;
} s;

/* ---- Calls made synchronous: the reply is kept for the test to read ---- */

typedef struct res {
  int done;
  int err;
  irpc_slice_reply *reply;
  const void *ret;
} res;

static void keep(res *r, irpc_slice_reply *reply, int err, const void *ret) {
  irpc_slice_reply_keep(reply);
  r->reply = reply;
  r->err = err;
  r->ret = ret;
  r->done = 1;
}

#define RET_CB(name, T)                                                        \
  static void name(irpc_slice_reply *reply, int err, const T *ret, void *ud) { \
    keep(ud, reply, err, ret);                                                 \
  }
#define VOID_CB(name)                                                          \
  static void name(irpc_slice_reply *reply, int err, void *ud) {               \
    keep(ud, reply, err, NULL);                                                \
  }

/* Runs the loop until the call completed; fails the test when it could not
 * start. */
static void wait_call(int rc, res *r) {
  assert_irpc_ok(rc);
  kit_run_until(&s.loop, &r->done);
}

static void expect_ok(res *r) {
  if (!r->err)
    return;
  char why[512];
  snprintf(why, sizeof why, "%s",
           r->reply ? irpc_slice_reply_message(r->reply) : "");
  irpc_slice_reply_free(r->reply); /* a failing test leaks nothing */
  r->reply = NULL;
  fail_msg("the call failed: %s (%s)", irpc_strerror(r->err), why);
}

static void done_with(res *r) {
  irpc_slice_reply_free(r->reply);
  memset(r, 0, sizeof(*r));
}

static int str_eq(irpc_str a, const char *b) {
  return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

#define assert_str(a, b)                                                       \
  do {                                                                         \
    irpc_str a_ = (a);                                                         \
    if (!str_eq(a_, (b)))                                                      \
      fail_msg("got \"%.*s\", want \"%s\"", (int)a_.len, a_.ptr, (b));         \
  } while (0)

/* ---- The callback servant (on the client's connection) ---- */

static void cb_notify(void *impl, irpc_slice_dispatch *sd, irpc_str message) {
  (void)impl;
  s.callback_calls++;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "callback: %.*s", (int)message.len,
                   message.ptr);
  irpc_str r = {buf, (size_t)n};
  assert_irpc_ok(Interop_Callback_notify_reply(sd, r));
}

static const Interop_Callback_ops callback_ops = {.notify = cb_notify};

/* ---- Setup ---- */

static int set_context(irpc_outgoing_request *req, void *data) {
  irpc_context *c = NULL;
  int rc = irpc_context_new(&c);
  const char *const *kv = data;
  for (size_t i = 0; rc == 0 && kv[i]; i += 2)
    rc = irpc_context_set(c, kv[i], kv[i + 1]);
  if (rc == 0)
    rc = irpc_features_set(irpc_outgoing_request_features(req),
                           &irpc_request_context_feature, c);
  if (rc)
    irpc_context_free(c);
  return rc;
}

static int set_limits(irpc_outgoing_request *req, void *data) {
  return irpc_features_set(irpc_outgoing_request_features(req),
                           &irpc_slice_limits_feature, data);
}

static int set_oneway(irpc_outgoing_request *req, void *data) {
  (void)data;
  irpc_outgoing_request_set_oneway(req, 1);
  return 0;
}

static irpc_invoker *client_connection(int compress) {
  irpc_ice_options ice = s.ice;
  ice.compress = compress;
  irpc_connection_options o = s.copts;
  o.ice = &ice;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &s.loop, s.address, &o));
  return inv;
}

static int suite_setup(void **state) {
  (void)state;
  uv_loop_init(&s.loop);
  interop_ice_server_start(&s.server, &s.loop, NULL, &s.port, s.proxy_str,
                           sizeof s.proxy_str);
  snprintf(s.address, sizeof s.address, "ice://127.0.0.1:%d", s.port);

  irpc_ice_options_init(&s.ice);
  s.ice.max_message_size = 16 * MIB; /* room for the 10 MiB payload */
  irpc_connection_options_init(&s.copts);
  assert_irpc_ok(irpc_router_new(&s.router, &s.loop));
  assert_irpc_ok(Interop_Callback_map(s.router, "/callback", &callback_ops,
                                      NULL, &s.callback_disp));
  s.copts.dispatcher = irpc_router_dispatcher(s.router);
  s.conn = client_connection(0);

  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.initial_backoff_ms = 0;
  assert_irpc_ok(irpc_retry_interceptor_new(&s.retry, &s.loop, &ro));
  assert_irpc_ok(irpc_request_context_interceptor_new(&s.ctx, &s.loop));
  assert_irpc_ok(irpc_pipeline_new(&s.pipeline, &s.loop));
  assert_irpc_ok(irpc_pipeline_use(s.pipeline, s.retry));
  assert_irpc_ok(irpc_pipeline_use(s.pipeline, s.ctx));
  assert_irpc_ok(irpc_pipeline_into(s.pipeline, s.conn));
  s.pipeline_inv = irpc_pipeline_invoker(s.pipeline);
  s.test = Interop_TestProxy_from(s.pipeline_inv, "/test");
  return 0;
}

static void shut_cb(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  *(int *)ud = status == 0 ? 1 : status;
}

static int suite_teardown(void **state) {
  (void)state;
  if (s.conn) {
    int done = 0;
    if (irpc_client_connection_shutdown(s.conn, shut_cb, &done) == 0)
      kit_run_until(&s.loop, &done);
  }
  irpc_pipeline_free(s.pipeline); /* and its interceptors */
  irpc_invoker_free(s.conn);
  irpc_router_free(s.router);
  irpc_dispatcher_free(s.callback_disp);
  kit_peer_stop(&s.server, SIGKILL, 5000);
  test_loop_finish(&s.loop);
  return 0;
}

/* ---- The checks ---- */

RET_CB(primitives_cb, Interop_Test_primitives_ret)

static float as_float(double v) {
  return (float)v;
}

static void test_primitives(void **state) {
  (void)state;
  char long_text[600] = "";
  for (int i = 0; i < 40; i++)
    strcat(long_text, "\xc3\xa9\xe2\x9c\x93 interop "); /* "é✓ interop " */
  struct {
    bool flag;
    uint8_t octet;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    const char *text;
  } cases[] = {
      {true, 0, INT16_MIN, INT32_MIN, INT64_MIN, 1.5f, -1e300, long_text},
      {false, 255, INT16_MAX, INT32_MAX, INT64_MAX, -0.25f, 2.5e-300, ""},
      {true, 128, -1, 0, (int64_t)1 << 40, as_float(3.0e38), 0.1, "abc"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    res r = {0};
    wait_call(Interop_Test_primitives(
                  &s.test, cases[i].flag, cases[i].octet, cases[i].i16,
                  cases[i].i32, cases[i].i64, cases[i].f32, cases[i].f64,
                  irpc_str_c(cases[i].text), NULL, primitives_cb, &r),
              &r);
    expect_ok(&r);
    const Interop_Test_primitives_ret *ret = r.ret;
    assert_int_equal(ret->returnValue, !cases[i].flag);
    assert_int_equal(ret->oOctet, 255 - cases[i].octet);
    assert_int_equal(ret->oI16, (int16_t)~cases[i].i16);
    assert_int_equal(ret->oI32, ~cases[i].i32);
    assert_true(ret->oI64 == ~cases[i].i64);
    assert_true(ret->oF32 == -cases[i].f32);
    assert_true(ret->oF64 == -cases[i].f64);
    char want[700];
    snprintf(want, sizeof want, "<%s>", cases[i].text);
    assert_str(ret->oText, want);
    done_with(&r);
  }
}

RET_CB(everything_cb, Interop_Test_echoEverything_ret)

static void test_structs(void **state) {
  (void)state;
  int32_t ints[] = {1, 2, 3};
  Interop_Dict_string_string_entry labels[] = {
      {IRPC_STR("a"), IRPC_STR("b")},
      {IRPC_STR("\xc3\xa9"), IRPC_STR("\xe2\x9c\x93")}};
  Interop_Everything e = {.flag = true,
                          .octet = 7,
                          .i16 = -2,
                          .i32 = INT32_MAX,
                          .i64 = -((int64_t)1 << 40),
                          .f32 = 0.5f,
                          .f64 = 3.25,
                          .text = IRPC_STR("text \xe2\x9c\x93"),
                          .color = Interop_Color_Blue,
                          .point = {3, -4},
                          .ints = {3, ints},
                          .labels = {2, labels}};
  res r = {0};
  wait_call(Interop_Test_echoEverything(&s.test, &e, NULL, everything_cb, &r),
            &r);
  expect_ok(&r);
  const Interop_Test_echoEverything_ret *ret = r.ret;
  const Interop_Everything *c = &ret->copy, *v = &ret->returnValue;
  /* copy: e unchanged */
  assert_true(c->flag && c->octet == 7 && c->i16 == -2 && c->i32 == INT32_MAX &&
              c->i64 == e.i64 && c->f32 == 0.5f && c->f64 == 3.25);
  assert_str(c->text, "text \xe2\x9c\x93");
  assert_int_equal(c->color, Interop_Color_Blue);
  assert_int_equal(c->point.x, 3);
  assert_int_equal(c->point.y, -4);
  assert_int_equal(c->ints.n, 3);
  assert_int_equal(c->ints.items[2], 3);
  assert_int_equal(c->labels.n, 2);
  /* return value: point swapped, ints reversed, i32 incremented (wraps) */
  assert_int_equal(v->i32, INT32_MIN);
  assert_int_equal(v->point.x, -4);
  assert_int_equal(v->point.y, 3);
  assert_int_equal(v->ints.n, 3);
  assert_int_equal(v->ints.items[0], 3);
  assert_int_equal(v->ints.items[2], 1);
  assert_int_equal(v->color, Interop_Color_Blue);
  assert_str(v->text, "text \xe2\x9c\x93");
  int found = 0;
  for (size_t i = 0; i < v->labels.n; i++)
    found += str_eq(v->labels.items[i].key, "\xc3\xa9") &&
             str_eq(v->labels.items[i].value, "\xe2\x9c\x93");
  assert_int_equal(found, 1);
  done_with(&r);
}

RET_CB(containers_cb, Interop_Containers)

static void test_containers(void **state) {
  (void)state;
  bool bools[] = {true, false, false};
  uint8_t bytes[] = {0, 1, 254, 255};
  int16_t shorts[] = {INT16_MIN, 0, INT16_MAX};
  int32_t ints[303];
  ints[0] = INT32_MIN;
  ints[1] = 0;
  ints[2] = INT32_MAX;
  for (int i = 0; i < 300; i++)
    ints[3 + i] = i;
  int64_t longs[] = {INT64_MIN, INT64_MAX};
  float floats[] = {0.5f, -2.0f};
  double doubles[] = {1e-300, -1e300};
  char xs[301];
  memset(xs, 'x', 300);
  xs[300] = '\0';
  irpc_str strings[] = {IRPC_STR(""), IRPC_STR("a"),
                        IRPC_STR("\xc3\xa9\xe2\x9c\x93"), irpc_str_c(xs)};
  Interop_Color colors[] = {Interop_Color_Red, Interop_Color_Blue,
                            Interop_Color_Green};
  Interop_Point points[] = {{1, 2}, {-3, -4}};
  int32_t one[] = {1}, two[] = {2, 3};
  Interop_IntSeq nested[] = {{1, one}, {0, NULL}, {2, two}};
  Interop_Dict_string_string_entry labels[] = {
      {IRPC_STR("k"), IRPC_STR("v")}, {IRPC_STR(""), IRPC_STR("empty")}};
  Interop_Dict_int32_Point_entry by_id[] = {{-1, {0, 0}}, {INT32_MAX, {5, 6}}};
  int32_t some[] = {1, 2, 3};
  Interop_Dict_string_IntSeq_entry by_name[] = {{IRPC_STR("none"), {0, NULL}},
                                                {IRPC_STR("some"), {3, some}}};
  Interop_Containers c = {
      .bools = {3, bools},
      .bytes = {bytes, 4},
      .shorts = {3, shorts},
      .ints = {303, ints},
      .longs = {2, longs},
      .floats = {2, floats},
      .doubles = {2, doubles},
      .strings = {4, strings},
      .colors = {3, colors},
      .points = {2, points},
      .nested = {3, nested},
      .labels = {2, labels},
      .pointsById = {2, by_id},
      .intsByName = {2, by_name},
  };
  res r = {0};
  wait_call(
      Interop_Test_reverseContainers(&s.test, &c, NULL, containers_cb, &r), &r);
  expect_ok(&r);
  const Interop_Containers *v = r.ret;
  assert_int_equal(v->bools.n, 3);
  assert_true(!v->bools.items[0] && !v->bools.items[1] && v->bools.items[2]);
  assert_int_equal(v->bytes.len, 4);
  assert_int_equal(v->bytes.base[0], 255);
  assert_int_equal(v->bytes.base[3], 0);
  assert_int_equal(v->shorts.items[0], INT16_MAX);
  assert_int_equal(v->ints.n, 303);
  assert_int_equal(v->ints.items[0], 299);
  assert_int_equal(v->ints.items[300], INT32_MAX);
  assert_int_equal(v->ints.items[302], INT32_MIN);
  assert_true(v->longs.items[0] == INT64_MAX);
  assert_true(v->floats.items[0] == -2.0f && v->floats.items[1] == 0.5f);
  assert_true(v->doubles.items[0] == -1e300);
  assert_int_equal(v->strings.n, 4);
  assert_str(v->strings.items[0], xs);
  assert_str(v->strings.items[1], "\xc3\xa9\xe2\x9c\x93");
  assert_str(v->strings.items[3], "");
  assert_int_equal(v->colors.items[0], Interop_Color_Green);
  assert_int_equal(v->colors.items[2], Interop_Color_Red);
  assert_int_equal(v->points.items[0].x, -3);
  assert_int_equal(v->nested.n, 3);
  assert_int_equal(v->nested.items[0].n, 2);
  assert_int_equal(v->nested.items[0].items[1], 3);
  assert_int_equal(v->nested.items[1].n, 0);
  assert_int_equal(v->nested.items[2].items[0], 1);
  assert_int_equal(v->labels.n, 2);
  assert_int_equal(v->pointsById.n, 2);
  for (size_t i = 0; i < v->pointsById.n; i++)
    if (v->pointsById.items[i].key == INT32_MAX)
      assert_int_equal(v->pointsById.items[i].value.y, 6);
  assert_int_equal(v->intsByName.n, 2);
  done_with(&r);
}

RET_CB(color_cb, Interop_Color)

static void test_enums(void **state) {
  (void)state;
  const Interop_Color next[][2] = {{Interop_Color_Red, Interop_Color_Green},
                                   {Interop_Color_Green, Interop_Color_Blue},
                                   {Interop_Color_Blue, Interop_Color_Red}};
  assert_int_equal(Interop_Color_Blue, 300);
  for (int i = 0; i < 3; i++) {
    res r = {0};
    wait_call(Interop_Test_nextColor(&s.test, next[i][0], NULL, color_cb, &r),
              &r);
    expect_ok(&r);
    assert_int_equal(*(const Interop_Color *)r.ret, next[i][1]);
    done_with(&r);
  }
}

RET_CB(optionals_cb, Interop_Test_optionals_ret)

static void test_optionals(void **state) {
  (void)state;
  int32_t i = 21;
  irpc_str str = IRPC_STR("s");
  int32_t items[] = {1, 2, 3};
  Interop_IntSeq seq = {3, items};
  res r = {0};
  wait_call(
      Interop_Test_optionals(&s.test, &i, &str, &seq, NULL, optionals_cb, &r),
      &r);
  expect_ok(&r);
  const Interop_Test_optionals_ret *v = r.ret;
  assert_true(v->has_returnValue && v->has_oI && v->has_oP && v->has_oLen);
  assert_str(v->returnValue, "s");
  assert_int_equal(v->oI, 42);
  assert_int_equal(v->oP.x, 21);
  assert_int_equal(v->oP.y, -21);
  assert_int_equal(v->oLen, 3);
  done_with(&r);

  wait_call(
      Interop_Test_optionals(&s.test, NULL, NULL, NULL, NULL, optionals_cb, &r),
      &r);
  expect_ok(&r);
  v = r.ret;
  assert_false(v->has_returnValue || v->has_oI || v->has_oP || v->has_oLen);
  done_with(&r);

  Interop_IntSeq empty = {0, NULL};
  str = IRPC_STR("only");
  wait_call(Interop_Test_optionals(&s.test, NULL, &str, &empty, NULL,
                                   optionals_cb, &r),
            &r);
  expect_ok(&r);
  v = r.ret;
  assert_true(v->has_returnValue && !v->has_oI && !v->has_oP && v->has_oLen);
  assert_str(v->returnValue, "only");
  assert_int_equal(v->oLen, 0);
  done_with(&r);
}

VOID_CB(fail_cb)

static void test_exceptions(void **state) {
  (void)state;
  res r = {0};
  wait_call(Interop_Test_fail(&s.test, 0, NULL, fail_cb, &r), &r);
  expect_ok(&r);
  done_with(&r);

  /* 1: BaseError, exactly */
  wait_call(Interop_Test_fail(&s.test, 1, NULL, fail_cb, &r), &r);
  assert_int_equal(r.err, IRPC_ESTATUS);
  assert_int_equal(irpc_slice_reply_status(r.reply),
                   IRPC_STATUS_APPLICATION_ERROR);
  const Interop_BaseError *base = Interop_BaseError_from_reply(r.reply);
  assert_non_null(base);
  assert_null(Interop_DerivedError_from_reply(r.reply));
  assert_string_equal(irpc_slice_reply_exception_id(r.reply),
                      INTEROP_BASEERROR_TYPE_ID);
  assert_str(base->reason, "base");
  done_with(&r);

  /* 2: DerivedError with its optional member, also seen as a BaseError */
  wait_call(Interop_Test_fail(&s.test, 2, NULL, fail_cb, &r), &r);
  assert_int_equal(r.err, IRPC_ESTATUS);
  const Interop_DerivedError *d = Interop_DerivedError_from_reply(r.reply);
  assert_non_null(d);
  assert_string_equal(irpc_slice_reply_exception_id(r.reply),
                      INTEROP_DERIVEDERROR_TYPE_ID);
  assert_str(d->base.reason, "derived");
  assert_int_equal(d->code, 7);
  assert_true(d->has_detail);
  assert_str(d->detail, "more");
  base = Interop_BaseError_from_reply(r.reply);
  assert_ptr_equal(base, &d->base);
  done_with(&r);

  /* 3: DerivedError without the optional member */
  wait_call(Interop_Test_fail(&s.test, 3, NULL, fail_cb, &r), &r);
  d = Interop_DerivedError_from_reply(r.reply);
  assert_non_null(d);
  assert_str(d->base.reason, "bare");
  assert_int_equal(d->code, 8);
  assert_false(d->has_detail);
  done_with(&r);

  /* 4: OtherError */
  wait_call(Interop_Test_fail(&s.test, 4, NULL, fail_cb, &r), &r);
  assert_int_equal(r.err, IRPC_ESTATUS);
  const Interop_OtherError *o = Interop_OtherError_from_reply(r.reply);
  assert_non_null(o);
  assert_null(Interop_BaseError_from_reply(r.reply));
  assert_true(o->value == -5);
  done_with(&r);
}

RET_CB(dict_cb, Interop_StringDict)

static void test_context(void **state) {
  (void)state;
  static const char *const kv[] = {"k",     "v", "\xc3\xa9", "\xe2\x9c\x93",
                                   "empty", "",  NULL};
  irpc_slice_call_opts opts = {.struct_size = sizeof opts,
                               .prepare = set_context,
                               .prepare_data = (void *)kv};
  res r = {0};
  wait_call(Interop_Test_context(&s.test, &opts, dict_cb, &r), &r);
  expect_ok(&r);
  const Interop_StringDict *d = r.ret;
  assert_int_equal(d->n, 3);
  int found = 0;
  for (size_t i = 0; i < d->n; i++)
    for (int k = 0; kv[k]; k += 2)
      found += str_eq(d->items[i].key, kv[k]) &&
               str_eq(d->items[i].value, kv[k + 1]);
  assert_int_equal(found, 3);
  done_with(&r);

  wait_call(Interop_Test_context(&s.test, NULL, dict_cb, &r), &r);
  expect_ok(&r);
  assert_int_equal(((const Interop_StringDict *)r.ret)->n, 0);
  done_with(&r);
}

VOID_CB(void_cb)
RET_CB(str_cb, irpc_str)

static void test_oneway(void **state) {
  (void)state;
  irpc_slice_call_opts opts = {.struct_size = sizeof opts,
                               .prepare = set_oneway};
  res r = {0};
  wait_call(Interop_Test_note(&s.test, IRPC_STR("one"), &opts, void_cb, &r),
            &r);
  expect_ok(&r);
  done_with(&r);
  wait_call(Interop_Test_note(&s.test, IRPC_STR("two"), &opts, void_cb, &r),
            &r);
  expect_ok(&r);
  done_with(&r);
  wait_call(Interop_Test_notes(&s.test, NULL, str_cb, &r), &r);
  expect_ok(&r);
  assert_str(*(const irpc_str *)r.ret, "one,two");
  done_with(&r);
}

RET_CB(int_cb, int32_t)

static void key_for(char *buf, size_t size, const char *what) {
  static int n;
  snprintf(buf, size, "irpc-%s-%d-%d", what, (int)getpid(), ++n);
}

static void test_idempotent_retry(void **state) {
  (void)state;
  irpc_retry_stats before, after;
  assert_irpc_ok(irpc_retry_stats_get(s.retry, &before));
  char key[64];
  key_for(key, sizeof key, "retried");
  res r = {0};
  wait_call(Interop_Test_retried(&s.test, irpc_str_c(key), NULL, int_cb, &r),
            &r);
  expect_ok(&r);
  assert_int_equal(*(const int32_t *)r.ret, 2);
  done_with(&r);
  assert_irpc_ok(irpc_retry_stats_get(s.retry, &after));
  assert_int_equal(after.attempts - before.attempts, 2);
}

static void test_not_idempotent(void **state) {
  (void)state;
  char key[64];
  key_for(key, sizeof key, "notRetried");
  res r = {0};
  wait_call(Interop_Test_notRetried(&s.test, irpc_str_c(key), NULL, int_cb, &r),
            &r);
  assert_int_equal(r.err, UV_ECONNRESET);
  done_with(&r);
  wait_call(Interop_Test_notRetried(&s.test, irpc_str_c(key), NULL, int_cb, &r),
            &r);
  expect_ok(&r);
  assert_int_equal(*(const int32_t *)r.ret, 2);
  done_with(&r);
}

RET_CB(bytes_cb, Interop_ByteSeq)

static void test_large_payload(void **state) {
  (void)state;
  size_t n = 10 * MIB;
  uint8_t *data = malloc(n);
  assert_non_null(data);
  for (size_t i = 0; i < n; i++)
    data[i] = (uint8_t)(i % 251);
  Interop_ByteSeq in = {data, n};
  /* Room for the 10 MiB reply: the decoding limits of this call. */
  static irpc_slice_limits limits;
  irpc_slice_limits_init(&limits);
  limits.max_collection_allocation = 16 * MIB;
  irpc_slice_call_opts opts = {.struct_size = sizeof opts,
                               .prepare = set_limits,
                               .prepare_data = &limits};
  res r = {0};
  wait_call(Interop_Test_reverse(&s.test, in, &opts, bytes_cb, &r), &r);
  expect_ok(&r);
  const Interop_ByteSeq *out = r.ret;
  assert_int_equal(out->len, n);
  for (size_t i = 0; i < n; i++)
    if (out->base[i] != data[n - 1 - i])
      fail_msg("byte %zu of the 10 MiB reply differs", i);
  done_with(&r);
  free(data);
}

static void test_compression(void **state) {
  (void)state;
  irpc_invoker *z = client_connection(1);
  Interop_TestProxy zt = Interop_TestProxy_from(z, "/test");
  size_t n = 13 * 5000;
  uint8_t *data = malloc(n);
  assert_non_null(data);
  for (size_t i = 0; i < n; i++)
    data[i] = (uint8_t) "compressible "[i % 13];
  res r = {0};
  wait_call(
      Interop_Test_reverse(&zt, (Interop_ByteSeq){data, n}, NULL, bytes_cb, &r),
      &r);
  expect_ok(&r);
  const Interop_ByteSeq *out = r.ret;
  assert_int_equal(out->len, n);
  for (size_t i = 0; i < n; i++)
    if (out->base[i] != data[n - 1 - i])
      fail_msg("byte %zu of the compressed reply differs", i);
  done_with(&r);
  wait_call(Interop_Test_reverse(&zt, (Interop_ByteSeq){(uint8_t *)"ab", 2},
                                 NULL, bytes_cb, &r),
            &r);
  expect_ok(&r);
  out = r.ret;
  assert_int_equal(out->len, 2);
  assert_memory_equal(out->base, "ba", 2);
  done_with(&r);
  free(data);
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(z, shut_cb, &done));
  kit_run_until(&s.loop, &done);
  assert_int_equal(done, 1);
  irpc_invoker_free(z);
}

static void ping_cb(irpc_slice_reply *reply, int err, void *ud) {
  keep(ud, reply, err, NULL);
}
static void isa_cb(irpc_slice_reply *reply, int err, const bool *ret,
                   void *ud) {
  keep(ud, reply, err, ret);
}
static void id_cb(irpc_slice_reply *reply, int err, const irpc_str *ret,
                  void *ud) {
  keep(ud, reply, err, ret);
}
static void ids_cb(irpc_slice_reply *reply, int err,
                   const irpc_slice_str_seq *ret, void *ud) {
  keep(ud, reply, err, ret);
}

static void expect_is_a(const char *type_id, bool want) {
  res r = {0};
  wait_call(
      Interop_Test_ice_isA(&s.test, irpc_str_c(type_id), NULL, isa_cb, &r), &r);
  expect_ok(&r);
  if (*(const bool *)r.ret != want)
    fail_msg("ice_isA(%s): %d, want %d", type_id, !want, want);
  done_with(&r);
}

static void test_ping_isa(void **state) {
  (void)state;
  res r = {0};
  wait_call(Interop_Test_ice_ping(&s.test, NULL, ping_cb, &r), &r);
  expect_ok(&r);
  done_with(&r);
  expect_is_a("::Interop::Test", true);
  expect_is_a("::Interop::Pinger", true);
  expect_is_a("::Ice::Object", true);
  expect_is_a("::Interop::Callback", false);
  wait_call(Interop_Test_ice_id(&s.test, NULL, id_cb, &r), &r);
  expect_ok(&r);
  assert_str(*(const irpc_str *)r.ret, "::Interop::Test");
  done_with(&r);
  wait_call(Interop_Test_ice_ids(&s.test, NULL, ids_cb, &r), &r);
  expect_ok(&r);
  const irpc_slice_str_seq *ids = r.ret;
  assert_int_equal(ids->n, 3);
  assert_str(ids->items[0], "::Ice::Object");
  assert_str(ids->items[1], "::Interop::Pinger");
  assert_str(ids->items[2], "::Interop::Test");
  done_with(&r);

  wait_call(Interop_Test_pings(&s.test, NULL, int_cb, &r), &r);
  expect_ok(&r);
  int32_t p = *(const int32_t *)r.ret;
  done_with(&r);
  wait_call(Interop_Test_pings(&s.test, NULL, int_cb, &r), &r);
  expect_ok(&r);
  assert_int_equal(*(const int32_t *)r.ret, p + 1);
  done_with(&r);

  /* ObjectNotExist is NotFound */
  Interop_TestProxy missing =
      Interop_TestProxy_from(s.pipeline_inv, "/missing");
  wait_call(Interop_Test_ice_ping(&missing, NULL, ping_cb, &r), &r);
  assert_int_equal(r.err, IRPC_ESTATUS);
  assert_int_equal(irpc_slice_reply_status(r.reply), IRPC_STATUS_NOT_FOUND);
  done_with(&r);
}

static void test_callback(void **state) {
  (void)state;
  Interop_CallbackProxy cb = Interop_CallbackProxy_from(NULL, "/callback");
  int before = s.callback_calls;
  res r = {0};
  wait_call(
      Interop_Test_callback(&s.test, &cb, IRPC_STR("hi"), NULL, str_cb, &r),
      &r);
  expect_ok(&r);
  assert_str(*(const irpc_str *)r.ret, "callback: hi");
  assert_int_equal(s.callback_calls, before + 1);
  done_with(&r);
}

static void test_close_by_client(void **state) {
  (void)state;
  irpc_invoker *c = client_connection(0);
  Interop_TestProxy ct = Interop_TestProxy_from(c, "/test");
  char name[64];
  key_for(name, sizeof name, "client-closes");
  res r = {0};
  wait_call(Interop_Test_label(&ct, irpc_str_c(name), NULL, void_cb, &r), &r);
  expect_ok(&r);
  done_with(&r);
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(c, shut_cb, &done));
  kit_run_until(&s.loop, &done);
  assert_int_equal(done, 1);
  irpc_invoker_free(c);
  wait_call(Interop_Test_closed(&s.test, irpc_str_c(name), NULL, str_cb, &r),
            &r);
  expect_ok(&r);
  assert_str(*(const irpc_str *)r.ret, "graceful");
  done_with(&r);
}

static void on_closed(irpc_connection *c, int err, void *ud) {
  (void)c;
  *(int *)ud = err ? err : 1;
}

static void test_close_by_server(void **state) {
  (void)state;
  irpc_invoker *c = client_connection(0);
  int connected = 0;
  assert_irpc_ok(irpc_client_connection_connect(c, shut_cb, &connected));
  kit_run_until(&s.loop, &connected);
  assert_int_equal(connected, 1);
  irpc_connection *conn =
      irpc_connection_ref(irpc_client_connection_connection(c));
  int closed = 0;
  assert_true(irpc_connection_on_close(conn, on_closed, &closed) > 0);
  Interop_TestProxy ct = Interop_TestProxy_from(c, "/test");
  res r = {0};
  wait_call(Interop_Test_closeMe(&ct, NULL, void_cb, &r), &r);
  expect_ok(&r);
  done_with(&r);
  kit_run_until(&s.loop, &closed);
  assert_int_equal(closed, IRPC_ECLOSEDBYPEER);
  irpc_connection_unref(conn);
  int done = 0;
  if (irpc_client_connection_shutdown(c, shut_cb, &done) == 0)
    kit_run_until(&s.loop, &done);
  irpc_invoker_free(c);
}

/* SIGTERM: the Ice server shuts down gracefully and exits 0 (it saw no
 * protocol error it could not handle). */
static void test_server_stops(void **state) {
  (void)state;
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(s.conn, shut_cb, &done));
  kit_run_until(&s.loop, &done);
  assert_int_equal(kit_peer_stop(&s.server, SIGTERM, 10000), 0);
}

#define CHECK_ENTRY(name) cmocka_unit_test(test_##name),

int main(void) {
  const struct CMUnitTest tests[] = {
      INTEROP_CHECKS(CHECK_ENTRY) cmocka_unit_test(test_server_stops),
  };
  return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
