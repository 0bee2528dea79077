/* Middleware that answers a dispatch itself (compress, deadline, request
 * context, use-feature) completes it exactly once when allocations fail:
 * each allocation of the call in turn fails (alone, or with every one
 * after it), the call's callback runs once, the loop ends and nothing
 * leaks. Each round has a new loop, so the loop's pools start empty and
 * every object of the call is allocated. */
#include <string.h>

#include "chain/chain.h"
#include "kit/rig.h"

/* Answers Ok; without memory for the response the call still ends. */
static void ok_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc__dispatch_reply_or_abort(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops ok_ops = {.struct_size =
                                               sizeof(irpc_dispatcher_ops),
                                           .name = "ok",
                                           .dispatch = ok_dispatch};

typedef struct ended {
  int done;
  int err;
  uint64_t status;
} ended;

/* Allocates nothing: it runs while allocations fail. */
static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  ended *e = ud;
  e->done++;
  e->err = err;
  e->status = resp ? irpc_incoming_response_status(resp) : UINT64_MAX;
  irpc_incoming_response_free(resp);
}

/* What a case installs and sends. */
typedef struct nomem_case {
  void (*use)(rig *r);
  void (*shape)(irpc_outgoing_request *req);
  uint64_t status; /* the answer when nothing fails */
} nomem_case;

/* Runs a round as described above, allocation `k` failing (0: none);
 * returns 1 once a round had no
 * failure left to inject (the call ran whole). */
static int round_at(const nomem_case *c, long k, long more) {
  long live = test_alloc.live;
  rig r;
  rig_init(&r);
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  c->use(&r);
  irpc_dispatcher *ok = rig_map(&r, "/t", &ok_ops);
  irpc_outgoing_request *req = kit_request("/t", "abc", 3);
  c->shape(req);
  ended e = {0, 0, 0};
  test_alloc.fail_at = k;
  test_alloc.fail_more = more;
  int rc =
      irpc_invoke(irpc_pipeline_invoker(r.pipeline), req, on_done, &e, NULL);
  rig_run(&r);
  int hit =
      k > 0 && (more ? test_alloc.fail_more < more : test_alloc.fail_at == 0);
  test_alloc.fail_at = 0;
  test_alloc.fail_more = 0;
  if (rc) {
    assert_irpc_err(rc, IRPC_ENOMEM);
    assert_int_equal(e.done, 0);
  } else {
    assert_int_equal(e.done, 1);
  }
  if (!hit) {
    assert_irpc_ok(e.err);
    assert_int_equal(e.status, c->status);
  }
  irpc_outgoing_request_free(req);
  rig_fini(&r, &ok, 1);
  if (k > 0) /* the pools went with the loop */
    assert_int_equal(test_alloc.live, live);
  return !hit;
}

static void sweep(const nomem_case *c) {
  test_alloc_install();
  /* what a first call keeps for the process (the thread's caches) */
  assert_true(round_at(c, 0, 0));
  long more[] = {0, 1L << 20};
  for (size_t m = 0; m < sizeof(more) / sizeof(more[0]); m++) {
    long k = 1;
    while (!round_at(c, k, more[m]))
      k++;
    assert_true(k > 1); /* the call allocates */
  }
}

/* ---- Deadline: an expired or malformed deadline ---- */

static void use_deadline(rig *r) {
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_deadline_middleware_new(&mw, &r->loop, NULL));
  assert_irpc_ok(irpc_router_use(r->router, mw));
}

static void expired(irpc_outgoing_request *req) {
  uint8_t v[8];
  irpc_deadline_encode(RIG_T0, v); /* long gone by the system's clock */
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_DEADLINE, v, 8));
}

static void short_deadline(irpc_outgoing_request *req) {
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_DEADLINE, "abc", 3));
}

static void test_deadline_expired(void **state) {
  (void)state;
  nomem_case c = {use_deadline, expired, IRPC_STATUS_DEADLINE_EXCEEDED};
  sweep(&c);
}

static void test_deadline_malformed(void **state) {
  (void)state;
  nomem_case c = {use_deadline, short_deadline, IRPC_STATUS_INVALID_DATA};
  sweep(&c);
}

/* ---- Request context: a field that does not decode ---- */

static void use_context(rig *r) {
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_request_context_middleware_new(&mw, &r->loop));
  assert_irpc_ok(irpc_router_use(r->router, mw));
}

static void bad_context(irpc_outgoing_request *req) {
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_CONTEXT, "\x08\x04", 2));
}

static void test_context_malformed(void **state) {
  (void)state;
  nomem_case c = {use_context, bad_context, IRPC_STATUS_INVALID_DATA};
  sweep(&c);
}

/* ---- Compress: a payload that does not decompress ---- */

static void use_compress(rig *r) {
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_compress_middleware_new(&mw, &r->loop, NULL));
  assert_irpc_ok(irpc_router_use(r->router, mw));
}

static void not_deflate(irpc_outgoing_request *req) {
  uint8_t f = IRPC_COMPRESSION_DEFLATE;
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &f, 1));
}

static void test_compress_undecodable(void **state) {
  (void)state;
  nomem_case c = {use_compress, not_deflate, IRPC_STATUS_INVALID_DATA};
  sweep(&c);
}

/* ---- Use-feature: the feature cannot be stored ---- */

static const irpc_feature_key tenant_key = {.name = "tenant", .destroy = NULL};

static void use_feature(rig *r) {
  static char value[] = "server";
  irpc_dispatcher *mw;
  assert_irpc_ok(
      irpc_use_feature_middleware_new(&mw, &r->loop, &tenant_key, value));
  assert_irpc_ok(irpc_router_use(r->router, mw));
}

static void plain(irpc_outgoing_request *req) {
  (void)req;
}

static void test_use_feature(void **state) {
  (void)state;
  nomem_case c = {use_feature, plain, IRPC_STATUS_OK};
  sweep(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline_expired),
      cmocka_unit_test(test_deadline_malformed),
      cmocka_unit_test(test_context_malformed),
      cmocka_unit_test(test_compress_undecodable),
      cmocka_unit_test(test_use_feature),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
