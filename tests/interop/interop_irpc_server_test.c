/* A ZeroC Ice 3.7 client calls an irpc server: the Ice client of peer.py
 * (Ice for Python, from Interop.ice) runs every check of the suite against
 * ::Interop::Test implemented here with the C code irpc-slicec generates
 * from the same file, served over the ice protocol through the public
 * API (a router with the request context middleware). The server runs in
 * this process, on the loop that waits for the client; each check is one
 * test, passed when the Ice client printed "PASS name". */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <irpc/ice.h>
#include <irpc/use_feature.h>

#include "Interop.ice.h"
#include "interop.h"

#define MIB (1u << 20)
#define MAX_KEYS 64

typedef struct ended {
  char name[96];
  const char *how; /* NULL while open */
  irpc_slice_dispatch *waiting[4];
  int nwaiting;
} ended;

static struct {
  uv_loop_t loop;
  irpc_router *router;
  irpc_dispatcher *test_disp, *ctx_mw, *limits_mw;
  irpc_slice_limits limits;
  irpc_server *server;
  irpc_ice_options ice;
  char bound[256];
  int port;
  kit_peer client;
  int client_status;
  /* the servant's state */
  int32_t npings;
  char log[256];
  struct {
    char key[96];
    int32_t n;
  } attempts[MAX_KEYS];
  int nattempts;
  ended ends[MAX_KEYS];
  int nends;
  uv_timer_t closed_timer; /* answers "open" to waits past 10 s */
} s;

static irpc_str str_of(const char *c) {
  return irpc_str_c(c);
}

static int str_eq_c(irpc_str a, const char *b) {
  return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

static void copy_str(char *dst, size_t size, irpc_str v) {
  snprintf(dst, size, "%.*s", (int)v.len, v.ptr);
}

/* ---- ::Interop::Pinger and ::Interop::Test ---- */

static void op_pings(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  assert_irpc_ok(Interop_Pinger_pings_reply(sd, ++s.npings));
}

static void op_primitives(void *impl, irpc_slice_dispatch *sd, bool flag,
                          uint8_t octet, int16_t i16, int32_t i32, int64_t i64,
                          float f32, double f64, irpc_str text) {
  (void)impl;
  char *t = malloc(text.len + 3);
  assert_non_null(t);
  t[0] = '<';
  memcpy(t + 1, text.ptr, text.len);
  t[text.len + 1] = '>';
  irpc_str ot = {t, text.len + 2};
  assert_irpc_ok(Interop_Test_primitives_reply(sd, (uint8_t)(255 - octet),
                                               (int16_t)~i16, ~i32, ~i64, -f32,
                                               -f64, ot, !flag));
  free(t);
}

static void op_echoEverything(void *impl, irpc_slice_dispatch *sd,
                              const Interop_Everything *e) {
  (void)impl;
  Interop_Everything r = *e;
  r.i32 = (int32_t)((uint32_t)e->i32 + 1u);
  r.point.x = e->point.y;
  r.point.y = e->point.x;
  int32_t *ints = malloc((e->ints.n ? e->ints.n : 1) * sizeof(int32_t));
  assert_non_null(ints);
  for (size_t i = 0; i < e->ints.n; i++)
    ints[i] = e->ints.items[e->ints.n - 1 - i];
  r.ints.items = ints;
  assert_irpc_ok(Interop_Test_echoEverything_reply(sd, e, &r));
  free(ints);
}

/* A reversed copy of n elements of `size` bytes (freed by the caller). */
static void *reversed(const void *items, size_t n, size_t size) {
  char *out = malloc(n ? n * size : 1);
  assert_non_null(out);
  for (size_t i = 0; i < n; i++)
    memcpy(out + i * size, (const char *)items + (n - 1 - i) * size, size);
  return out;
}

static void op_reverseContainers(void *impl, irpc_slice_dispatch *sd,
                                 const Interop_Containers *c) {
  (void)impl;
  Interop_Containers r = *c;
  void *allocs[11];
  int na = 0;
#define REV(m)                                                                 \
  allocs[na++] = r.m.items = reversed(c->m.items, c->m.n, sizeof(c->m.items[0]))
  REV(bools);
  REV(shorts);
  REV(ints);
  REV(longs);
  REV(floats);
  REV(doubles);
  REV(strings);
  REV(colors);
  REV(points);
  REV(nested);
#undef REV
  uint8_t *bytes = reversed(c->bytes.base, c->bytes.len, 1);
  allocs[na++] = bytes;
  r.bytes.base = bytes;
  assert_irpc_ok(Interop_Test_reverseContainers_reply(sd, &r));
  for (int i = 0; i < na; i++)
    free(allocs[i]);
}

static void op_nextColor(void *impl, irpc_slice_dispatch *sd, Interop_Color c) {
  (void)impl;
  Interop_Color n = c == Interop_Color_Red     ? Interop_Color_Green
                    : c == Interop_Color_Green ? Interop_Color_Blue
                                               : Interop_Color_Red;
  assert_irpc_ok(Interop_Test_nextColor_reply(sd, n));
}

static void op_optionals(void *impl, irpc_slice_dispatch *sd, const int32_t *i,
                         const irpc_str *str, const Interop_IntSeq *seq) {
  (void)impl;
  int32_t oi = i ? 2 * *i : 0;
  Interop_Point op = {i ? *i : 0, i ? -*i : 0};
  int32_t olen = seq ? (int32_t)seq->n : 0;
  assert_irpc_ok(Interop_Test_optionals_reply(
      sd, i ? &oi : NULL, i ? &op : NULL, seq ? &olen : NULL, str));
}

static void op_fail(void *impl, irpc_slice_dispatch *sd, int32_t which) {
  (void)impl;
  switch (which) {
  case 1: {
    Interop_BaseError e = {.reason = IRPC_STR("base")};
    assert_irpc_ok(Interop_BaseError_throw(sd, &e));
    return;
  }
  case 2:
  case 3: {
    Interop_DerivedError e = {
        .base = {.reason = which == 2 ? IRPC_STR("derived") : IRPC_STR("bare")},
        .code = which == 2 ? 7 : 8,
        .has_detail = which == 2,
        .detail = IRPC_STR("more")};
    assert_irpc_ok(Interop_DerivedError_throw(sd, &e));
    return;
  }
  case 4: {
    Interop_OtherError e = {.value = -5};
    assert_irpc_ok(Interop_OtherError_throw(sd, &e));
    return;
  }
  default:
    assert_irpc_ok(Interop_Test_fail_reply(sd));
  }
}

static void op_context(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  irpc_context *c = irpc_features_get(
      irpc_incoming_request_features(irpc_slice_dispatch_request(sd)),
      &irpc_request_context_feature);
  size_t n = c ? irpc_context_count(c) : 0;
  Interop_Dict_string_string_entry *items = calloc(n ? n : 1, sizeof(*items));
  assert_non_null(items);
  for (size_t i = 0; i < n; i++) {
    const char *k, *v;
    assert_irpc_ok(irpc_context_at(c, i, &k, &v));
    items[i].key = str_of(k);
    items[i].value = str_of(v);
  }
  Interop_StringDict d = {n, items};
  assert_irpc_ok(Interop_Test_context_reply(sd, &d));
  free(items);
}

static void op_note(void *impl, irpc_slice_dispatch *sd, irpc_str message) {
  (void)impl;
  size_t len = strlen(s.log);
  snprintf(s.log + len, sizeof s.log - len, "%s%.*s", len ? "," : "",
           (int)message.len, message.ptr);
  assert_irpc_ok(Interop_Test_note_reply(sd));
}

static void op_notes(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  assert_irpc_ok(Interop_Test_notes_reply(sd, str_of(s.log)));
  s.log[0] = '\0';
}

/* The first attempt for a key aborts the connection: no reply. */
static void attempt(irpc_slice_dispatch *sd, irpc_str key,
                    int (*reply)(irpc_slice_dispatch *, int32_t)) {
  int i;
  for (i = 0; i < s.nattempts; i++)
    if (str_eq_c(key, s.attempts[i].key))
      break;
  if (i == s.nattempts) {
    assert_true(s.nattempts < MAX_KEYS);
    copy_str(s.attempts[i].key, sizeof s.attempts[i].key, key);
    s.attempts[i].n = 0;
    s.nattempts++;
  }
  int32_t n = ++s.attempts[i].n;
  if (n == 1)
    irpc_connection_abort(irpc_slice_dispatch_connection(sd), 0);
  /* After an abort the response goes nowhere. */
  assert_irpc_ok(reply(sd, n));
}

static void op_retried(void *impl, irpc_slice_dispatch *sd, irpc_str key) {
  (void)impl;
  attempt(sd, key, Interop_Test_retried_reply);
}

static void op_notRetried(void *impl, irpc_slice_dispatch *sd, irpc_str key) {
  (void)impl;
  attempt(sd, key, Interop_Test_notRetried_reply);
}

static void op_reverse(void *impl, irpc_slice_dispatch *sd,
                       Interop_ByteSeq data) {
  (void)impl;
  uint8_t *out = reversed(data.base, data.len, 1);
  assert_irpc_ok(
      Interop_Test_reverse_reply(sd, (Interop_ByteSeq){out, data.len}));
  free(out);
}

static void notify_done(irpc_slice_reply *reply, int err, const irpc_str *ret,
                        void *ud) {
  irpc_slice_dispatch *sd = ud;
  if (err) {
    irpc_slice_dispatch_fail(sd, IRPC_STATUS_INTERNAL_ERROR,
                             irpc_slice_reply_message(reply));
    return;
  }
  assert_irpc_ok(Interop_Test_callback_reply(sd, *ret));
}

static void op_callback(void *impl, irpc_slice_dispatch *sd,
                        const Interop_CallbackProxy *cb, irpc_str message) {
  (void)impl;
  /* cb has no endpoints: its calls go back over this request's
   * connection. */
  int rc = Interop_Callback_notify(cb, message, NULL, notify_done, sd);
  if (rc)
    irpc_slice_dispatch_fail(sd, IRPC_STATUS_INTERNAL_ERROR, irpc_strerror(rc));
}

static ended *ended_for(irpc_str name) {
  for (int i = 0; i < s.nends; i++)
    if (str_eq_c(name, s.ends[i].name))
      return &s.ends[i];
  assert_true(s.nends < MAX_KEYS);
  ended *e = &s.ends[s.nends++];
  memset(e, 0, sizeof(*e));
  copy_str(e->name, sizeof e->name, name);
  return e;
}

static void answer_waiting(ended *e, const char *how) {
  for (int i = 0; i < e->nwaiting; i++)
    assert_irpc_ok(Interop_Test_closed_reply(e->waiting[i], str_of(how)));
  e->nwaiting = 0;
}

static void on_labelled_close(irpc_connection *c, int err, void *ud) {
  (void)c;
  ended *e = ud;
  e->how = err == IRPC_ECLOSEDBYPEER ? "graceful" : "lost";
  answer_waiting(e, e->how);
}

static void op_label(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  ended *e = ended_for(name);
  e->how = NULL;
  assert_true(irpc_connection_on_close(irpc_slice_dispatch_connection(sd),
                                       on_labelled_close, e) > 0);
  assert_irpc_ok(Interop_Test_label_reply(sd));
}

static void on_closed_timer(uv_timer_t *t) {
  (void)t;
  for (int i = 0; i < s.nends; i++)
    if (!s.ends[i].how)
      answer_waiting(&s.ends[i], "open");
}

static void op_closed(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  ended *e = ended_for(name);
  if (e->how) {
    assert_irpc_ok(Interop_Test_closed_reply(sd, str_of(e->how)));
    return;
  }
  assert_true(e->nwaiting < 4);
  e->waiting[e->nwaiting++] = sd;
  uv_timer_start(&s.closed_timer, on_closed_timer, 10000, 0);
}

static void op_closeMe(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  irpc_connection *c = irpc_slice_dispatch_connection(sd);
  /* The shutdown waits for this dispatch, then sends CloseConnection. */
  assert_irpc_ok(irpc_connection_shutdown(c, NULL, NULL));
  assert_irpc_ok(Interop_Test_closeMe_reply(sd));
}

static const Interop_Test_ops test_ops = {
    .Pinger = {.pings = op_pings},
    .primitives = op_primitives,
    .echoEverything = op_echoEverything,
    .reverseContainers = op_reverseContainers,
    .nextColor = op_nextColor,
    .optionals = op_optionals,
    .fail = op_fail,
    .context = op_context,
    .note = op_note,
    .notes = op_notes,
    .retried = op_retried,
    .notRetried = op_notRetried,
    .reverse = op_reverse,
    .callback = op_callback,
    .label = op_label,
    .closed = op_closed,
    .closeMe = op_closeMe,
};

/* ---- The suite ---- */

static int suite_setup(void **state) {
  (void)state;
  uv_loop_init(&s.loop);
  uv_timer_init(&s.loop, &s.closed_timer);
  assert_irpc_ok(irpc_router_new(&s.router, &s.loop));
  assert_irpc_ok(irpc_request_context_middleware_new(&s.ctx_mw, &s.loop));
  assert_irpc_ok(irpc_router_use(s.router, s.ctx_mw));
  /* Room for the 10 MiB argument: the decoding limits of every request. */
  irpc_slice_limits_init(&s.limits);
  s.limits.max_collection_allocation = 16 * MIB;
  assert_irpc_ok(irpc_use_feature_middleware_new(
      &s.limits_mw, &s.loop, &irpc_slice_limits_feature, &s.limits));
  assert_irpc_ok(irpc_router_use(s.router, s.limits_mw));
  assert_irpc_ok(
      Interop_Test_map(s.router, "/test", &test_ops, NULL, &s.test_disp));
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_ice_options_init(&s.ice);
  s.ice.max_message_size = 16 * MIB; /* room for the 10 MiB payload */
  so.connection.ice = &s.ice;
  assert_irpc_ok(irpc_server_new(&s.server, &s.loop,
                                 irpc_router_dispatcher(s.router), &so));
  assert_irpc_ok(irpc_server_listen(s.server, "ice://127.0.0.1:0", s.bound,
                                    sizeof s.bound));
  const char *colon = strrchr(s.bound, ':');
  assert_non_null(colon);
  s.port = atoi(colon + 1);
  char proxy[64];
  snprintf(proxy, sizeof proxy, "test:tcp -h 127.0.0.1 -p %d", s.port);
  const char *args[] = {"--proxy", proxy, NULL};
  s.client_status = interop_ice_run(&s.client, &s.loop, "client", args);
  return 0;
}

static void server_down(irpc_server *server, int status, void *ud) {
  (void)server;
  *(int *)ud = status == 0 ? 1 : status;
}

static int suite_teardown(void **state) {
  (void)state;
  kit_peer_stop(&s.client, SIGKILL, 5000);
  int down = 0;
  if (irpc_server_shutdown(s.server, server_down, &down) == 0)
    kit_run_until(&s.loop, &down);
  irpc_server_free(s.server);
  irpc_router_free(s.router); /* and its middleware */
  irpc_dispatcher_free(s.test_disp);
  uv_close((uv_handle_t *)&s.closed_timer, NULL);
  test_loop_finish(&s.loop);
  return 0;
}

/* Each check passed; the client saw them all pass and exited 0. */
INTEROP_CLIENT_TESTS(s.client, s.client_status)

int main(void) {
  const struct CMUnitTest tests[] = {
      INTEROP_CLIENT_TEST_ENTRIES,
  };
  return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
