/* The router: exact and prefix routes, middleware, sub-routers, limits,
 * and dispatchers that misbehave. Dispatches are started directly and
 * through the coloc invoker. */
#include <string.h>

#include "kit/kit.h"

/* A dispatcher that answers Ok with its own name as the payload. */
static void named_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  const char *name = *(const char **)irpc_dispatcher_data(self);
  irpc_outgoing_response *r;
  assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_response_payload(r), name, strlen(name)));
  assert_irpc_ok(irpc_dispatch_complete(d, r));
}

static int named_init(irpc_dispatcher *self, const void *config) {
  *(const char **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops named_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "named",
    .data_size = sizeof(const char *),
    .init = named_init,
    .dispatch = named_dispatch,
};

typedef struct answer {
  int calls;
  uint64_t status;
  char text[128];
} answer;

static void on_answer(irpc_dispatch *d, irpc_outgoing_response *r, void *ud) {
  (void)d;
  answer *a = ud;
  a->calls++;
  a->status = irpc_outgoing_response_status(r);
  memset(a->text, 0, sizeof(a->text));
  if (a->status == IRPC_STATUS_OK) {
    irpc_buf *p = irpc_outgoing_response_payload(r);
    irpc_buf_copyout(p, 0, a->text, irpc_buf_len(p));
  } else {
    strncpy(a->text, irpc_outgoing_response_error_message(r),
            sizeof(a->text) - 1);
  }
  irpc_outgoing_response_free(r);
}

/* Dispatches `path` through `disp` and returns the answer. */
static answer route(irpc_dispatcher *disp, const char *path) {
  irpc_incoming_request *req;
  assert_irpc_ok(irpc_incoming_request_new(&req, path, "op", 0));
  answer a = {0};
  assert_irpc_ok(irpc_dispatcher_dispatch(disp, req, on_answer, &a, NULL));
  assert_int_equal(a.calls, 1);
  return a;
}

static irpc_dispatcher *named(uv_loop_t *loop, const char *name) {
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, loop, &named_ops, name));
  return d;
}

static void test_routes(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *hello = named(&loop, "hello"),
                  *admin = named(&loop, "admin"), *root = named(&loop, "root"),
                  *deep = named(&loop, "deep");
  irpc_router *r;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  assert_irpc_ok(irpc_router_map(r, "/hello", hello));
  assert_irpc_ok(irpc_router_mount(r, "/admin/", admin));
  assert_irpc_ok(irpc_router_mount(r, "/a/b/c", deep));
  irpc_dispatcher *disp = irpc_router_dispatcher(r);

  assert_string_equal(route(disp, "/hello").text, "hello");
  /* Exact routes do not match below themselves. */
  answer a = route(disp, "/hello/x");
  assert_int_equal(a.status, IRPC_STATUS_NOT_FOUND);
  assert_string_equal(a.text, "The dispatch failed with status code NotFound.");
  assert_string_equal(route(disp, "/admin").text, "admin");
  assert_string_equal(route(disp, "/admin/users/7").text, "admin");
  assert_int_equal(route(disp, "/administrator").status, IRPC_STATUS_NOT_FOUND);
  assert_string_equal(route(disp, "/a/b/c/d/e").text, "deep");
  assert_int_equal(route(disp, "/a/b").status, IRPC_STATUS_NOT_FOUND);
  assert_int_equal(route(disp, "/").status, IRPC_STATUS_NOT_FOUND);
  /* Frozen after the first dispatch. */
  assert_irpc_err(irpc_router_map(r, "/late", hello), IRPC_EFROZEN);
  assert_irpc_err(irpc_router_mount(r, "/late", hello), IRPC_EFROZEN);
  irpc_router_free(r);

  /* A root mount catches everything; map replaces an earlier map. */
  assert_irpc_ok(irpc_router_new(&r, &loop));
  assert_irpc_ok(irpc_router_mount(r, "/", root));
  assert_irpc_ok(irpc_router_map(r, "/hello", admin));
  assert_irpc_ok(irpc_router_map(r, "/hello", hello));
  disp = irpc_router_dispatcher(r);
  assert_string_equal(route(disp, "/anything/at/all").text, "root");
  assert_string_equal(route(disp, "/hello").text, "hello");
  irpc_router_free(r);

  irpc_dispatcher_free(hello);
  irpc_dispatcher_free(admin);
  irpc_dispatcher_free(root);
  irpc_dispatcher_free(deep);
  test_loop_finish(&loop);
}

static void test_too_many_segments(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *root = named(&loop, "root");
  irpc_router *r;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  assert_irpc_ok(irpc_router_mount(r, "/", root));
  irpc_dispatcher *disp = irpc_router_dispatcher(r);
  /* Nine segments: the prefix search reaches "/" on its 10th try. */
  assert_string_equal(route(disp, "/1/2/3/4/5/6/7/8/9").text, "root");
  answer a = route(disp, "/1/2/3/4/5/6/7/8/9/10");
  assert_int_equal(a.status, IRPC_STATUS_INVALID_DATA);
  assert_string_equal(a.text, "Too many segments in path.");
  irpc_router_free(r);
  irpc_dispatcher_free(root);
  test_loop_finish(&loop);
}

static void test_sub_routers(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *users = named(&loop, "users"), *info = named(&loop, "info"),
                  *other = named(&loop, "other");
  irpc_router *r, *v2, *admin;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  assert_irpc_ok(irpc_router_route(r, "/v2", &v2));
  assert_irpc_ok(irpc_router_map(v2, "/users", users));
  assert_irpc_ok(irpc_router_route(v2, "/admin", &admin));
  assert_irpc_ok(irpc_router_mount(admin, "/", info));
  assert_irpc_ok(irpc_router_map(r, "/users", other));
  irpc_dispatcher *disp = irpc_router_dispatcher(r);
  assert_string_equal(route(disp, "/v2/users").text, "users");
  assert_string_equal(route(disp, "/users").text, "other");
  assert_string_equal(route(disp, "/v2/admin/x/y").text, "info");
  assert_string_equal(route(disp, "/v2/admin").text, "info");
  assert_int_equal(route(disp, "/v2/nothing").status, IRPC_STATUS_NOT_FOUND);
  /* Sub-routers freeze with their parent. */
  assert_irpc_err(irpc_router_map(v2, "/late", users), IRPC_EFROZEN);
  irpc_router_free(r);
  irpc_dispatcher_free(users);
  irpc_dispatcher_free(info);
  irpc_dispatcher_free(other);
  test_loop_finish(&loop);
}

/* Middleware that records its name on the way in and out, in a trace. */
static char mw_trace[256];

static void mw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  const char *name = *(const char **)irpc_dispatcher_data(self);
  strcat(mw_trace, ">");
  strcat(mw_trace, name);
  irpc_dispatch_next(d);
}

static int mw_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  const char *name = *(const char **)irpc_dispatcher_data(self);
  strcat(mw_trace, "<");
  strcat(mw_trace, name);
  strcat(mw_trace, ":");
  strcat(mw_trace, irpc_status_name(irpc_outgoing_response_status(
                       irpc_dispatch_response(d))));
  return 0;
}

static const irpc_dispatcher_ops mw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "mw",
    .data_size = sizeof(const char *),
    .init = named_init,
    .dispatch = mw_dispatch,
    .on_complete = mw_on_complete,
};

static void test_middleware_order_and_not_found(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *hello = named(&loop, "hello");
  irpc_router *r;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  irpc_dispatcher *m1, *m2;
  assert_irpc_ok(irpc_dispatcher_new(&m1, &loop, &mw_ops, "m1"));
  assert_irpc_ok(irpc_dispatcher_new(&m2, &loop, &mw_ops, "m2"));
  assert_irpc_ok(irpc_router_use(r, m1));
  assert_irpc_ok(irpc_router_use(r, m2));
  assert_irpc_err(irpc_router_use(r, m2), IRPC_EINVAL);
  assert_irpc_ok(irpc_router_map(r, "/hello", hello));
  irpc_dispatcher *disp = irpc_router_dispatcher(r);
  mw_trace[0] = '\0';
  assert_string_equal(route(disp, "/hello").text, "hello");
  assert_string_equal(mw_trace, ">m1>m2<m2:Ok<m1:Ok");
  mw_trace[0] = '\0';
  assert_int_equal(route(disp, "/nope").status, IRPC_STATUS_NOT_FOUND);
  assert_string_equal(mw_trace, ">m1>m2<m2:NotFound<m1:NotFound");
  irpc_dispatcher *m3;
  assert_irpc_ok(irpc_dispatcher_new(&m3, &loop, &mw_ops, "m3"));
  assert_irpc_err(irpc_router_use(r, m3), IRPC_EFROZEN);
  irpc_dispatcher_free(m3);
  irpc_router_free(r);
  irpc_dispatcher_free(hello);
  test_loop_finish(&loop);
}

static void test_invalid_paths(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *hello = named(&loop, "hello");
  irpc_router *r, *sub;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  static const char *bad[] = {"",      "hello", "/a b",  "/a?b",        "/a#b",
                              "/a\"b", "/<a>",  "/a\\b", "/a^b",        "/a`b",
                              "/{a}",  "/a|b",  "/\x7f", "/caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_irpc_err(irpc_path_check(bad[i]), IRPC_EPATH);
    assert_irpc_err(irpc_router_map(r, bad[i], hello), IRPC_EPATH);
    assert_irpc_err(irpc_router_mount(r, bad[i], hello), IRPC_EPATH);
    assert_irpc_err(irpc_router_route(r, bad[i], &sub), IRPC_EPATH);
    irpc_outgoing_request *o;
    assert_irpc_err(irpc_outgoing_request_new(&o, bad[i], "op"), IRPC_EPATH);
    irpc_incoming_request *in;
    assert_irpc_err(irpc_incoming_request_new(&in, bad[i], "op", 0),
                    IRPC_EPATH);
  }
  assert_irpc_ok(irpc_path_check("/Ice.Object/a-b_c.~!$%&'()*+,;=:@[]"));
  assert_irpc_err(irpc_path_check(NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_router_map(NULL, "/a", hello), IRPC_EINVAL);
  assert_irpc_err(irpc_router_map(r, "/a", NULL), IRPC_EINVAL);
  irpc_router_free(r);
  irpc_dispatcher_free(hello);
  test_loop_finish(&loop);
}

/* ---- Dispatchers that misbehave ---- */

static int second_rc;

static void twice_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
  second_rc = irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
  irpc_outgoing_response *r;
  assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
  /* The response given to a second completion is freed, not leaked. */
  assert_irpc_err(irpc_dispatch_complete(d, r), IRPC_EDONE);
}

static const irpc_dispatcher_ops twice_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "twice",
                                              .dispatch = twice_dispatch};

static void test_dispatcher_completes_twice(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *twice;
  assert_irpc_ok(irpc_dispatcher_new(&twice, &loop, &twice_ops, NULL));
  answer a = route(twice, "/x");
  assert_int_equal(a.status, IRPC_STATUS_OK);
  assert_irpc_err(second_rc, IRPC_EDONE);
  irpc_dispatcher_free(twice);
  test_loop_finish(&loop);
}

static int never_canceled;

static void never_on_cancel(irpc_dispatch *d, int err, void *ud) {
  (void)d;
  (void)ud;
  never_canceled = err;
}

static void never_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_dispatch_on_cancel(d, never_on_cancel, NULL);
}

static const irpc_dispatcher_ops never_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "never",
                                              .dispatch = never_dispatch};

typedef struct client_outcome {
  int calls;
  int err;
} client_outcome;

static void on_call_done(irpc_call *call, int err, irpc_incoming_response *resp,
                         void *ud) {
  (void)call;
  client_outcome *o = ud;
  o->calls++;
  o->err = err;
  irpc_incoming_response_free(resp);
}

static void on_shutdown(int status, void *ud) {
  *(int *)ud = status == 0 ? 1 : status;
}

static void test_shutdown_with_dispatcher_that_never_completes(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *never, *hello = named(&loop, "hello");
  assert_irpc_ok(irpc_dispatcher_new(&never, &loop, &never_ops, NULL));
  irpc_router *r;
  assert_irpc_ok(irpc_router_new(&r, &loop));
  assert_irpc_ok(irpc_router_map(r, "/never", never));
  assert_irpc_ok(irpc_router_map(r, "/hello", hello));
  irpc_invoker *coloc;
  assert_irpc_ok(irpc_coloc_new(&coloc, &loop, irpc_router_dispatcher(r)));
  irpc_outgoing_request *stuck, *fine;
  assert_irpc_ok(irpc_outgoing_request_new(&stuck, "/never", "op"));
  assert_irpc_ok(irpc_outgoing_request_new(&fine, "/hello", "op"));
  client_outcome o1 = {0}, o2 = {0};
  assert_irpc_ok(irpc_invoke(coloc, stuck, on_call_done, &o1, NULL));
  assert_irpc_ok(irpc_invoke(coloc, fine, on_call_done, &o2, NULL));
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(o2.calls, 1);
  assert_int_equal(o2.err, 0);
  assert_int_equal(o1.calls, 0);
  assert_int_equal(irpc_coloc_in_flight(coloc), 1);
  int done = 0;
  never_canceled = 0;
  assert_irpc_ok(irpc_coloc_shutdown(coloc, 20, on_shutdown, &done));
  assert_irpc_err(irpc_coloc_shutdown(coloc, 20, on_shutdown, &done),
                  IRPC_ECLOSED);
  /* New calls are refused while shutting down. */
  client_outcome o3 = {0};
  assert_irpc_ok(irpc_invoke(coloc, fine, on_call_done, &o3, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_irpc_err(o3.err, IRPC_ECLOSED);
  assert_irpc_err(done, IRPC_ETIMEDOUT);
  assert_int_equal(o1.calls, 1);
  assert_irpc_err(o1.err, IRPC_EABORTED);
  assert_irpc_err(never_canceled, IRPC_EABORTED);
  irpc_outgoing_request_free(stuck);
  irpc_outgoing_request_free(fine);
  irpc_invoker_free(coloc); /* reclaims the dispatch that never completed */
  irpc_router_free(r);
  irpc_dispatcher_free(never);
  irpc_dispatcher_free(hello);
  test_loop_finish(&loop);
}

static void test_graceful_shutdown_waits(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *hello = named(&loop, "hello");
  irpc_invoker *coloc;
  assert_irpc_ok(irpc_coloc_new(&coloc, &loop, hello));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/hello", "op"));
  client_outcome o = {0};
  assert_irpc_ok(irpc_invoke(coloc, req, on_call_done, &o, NULL));
  int done = 0;
  assert_irpc_ok(irpc_coloc_shutdown(coloc, 60000, on_shutdown, &done));
  assert_int_equal(done, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(done, 1); /* drained, not timed out */
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.err, 0);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(coloc);
  irpc_dispatcher_free(hello);
  test_loop_finish(&loop);
}

/* Fields cross the coloc boundary; features stay behind. */
static const irpc_feature_key secret_key = {.name = "secret"};

static void fields_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_bytes v;
  assert_irpc_ok(irpc_fields_get(irpc_incoming_request_fields(req), 7, &v));
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.base, "abc", 3);
  assert_null(
      irpc_features_get(irpc_incoming_request_features(req), &secret_key));
  assert_null(irpc_incoming_request_invoker(req));
  irpc_outgoing_response *r;
  assert_irpc_ok(
      irpc_outgoing_response_new(&r, IRPC_STATUS_APPLICATION_ERROR, "nope"));
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_response_fields(r),
                                 IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT, "\0",
                                 1));
  assert_irpc_ok(irpc_dispatch_complete(d, r));
}

static const irpc_dispatcher_ops fields_ops = {.struct_size =
                                                   sizeof(irpc_dispatcher_ops),
                                               .name = "fields",
                                               .dispatch = fields_dispatch};

static void check_fields_response(irpc_call *call, int err,
                                  irpc_incoming_response *resp, void *ud) {
  (void)call;
  assert_int_equal(err, 0);
  assert_int_equal(irpc_incoming_response_status(resp),
                   IRPC_STATUS_APPLICATION_ERROR);
  assert_string_equal(irpc_incoming_response_error_message(resp), "nope");
  assert_true(irpc_fields_has(irpc_incoming_response_fields(resp),
                              IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT));
  irpc_incoming_response_free(resp);
  (*(int *)ud)++;
}

static void test_fields_cross_features_stay(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_dispatcher *fd;
  assert_irpc_ok(irpc_dispatcher_new(&fd, &loop, &fields_ops, NULL));
  irpc_invoker *coloc;
  assert_irpc_ok(irpc_coloc_new(&coloc, &loop, fd));
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/f", "op"));
  assert_irpc_ok(
      irpc_fields_set(irpc_outgoing_request_fields(req), 7, "abc", 3));
  static int secret = 42;
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &secret_key, &secret));
  int done = 0;
  assert_irpc_ok(irpc_invoke(coloc, req, check_fields_response, &done, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(done, 1);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(coloc);
  irpc_dispatcher_free(fd);
  test_loop_finish(&loop);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes),
      cmocka_unit_test(test_too_many_segments),
      cmocka_unit_test(test_sub_routers),
      cmocka_unit_test(test_middleware_order_and_not_found),
      cmocka_unit_test(test_invalid_paths),
      cmocka_unit_test(test_dispatcher_completes_twice),
      cmocka_unit_test(test_shutdown_with_dispatcher_that_never_completes),
      cmocka_unit_test(test_graceful_shutdown_waits),
      cmocka_unit_test(test_fields_cross_features_stay),
  };
  return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
