/* The public structs a caller fills (options structs, ops tables, hooks,
 * generated descriptors) keep working when either side grows: a struct from
 * an older header reads as if its missing members were 0, one from a newer
 * header is accepted when the members this library does not know are 0 and
 * refused otherwise, and a struct_size of 0 (forgotten) or below the first
 * version is refused with IRPC_EINVAL. Every struct is passed in a heap
 * block of exactly the size it announces, so that a library reading or
 * writing past it is caught by the address sanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <irpc/irpc.h>

#include "base/struct_size.h"
#include "chain/chain.h"

static uv_loop_t loop;

static void run_loop(void) {
  uv_run(&loop, UV_RUN_DEFAULT);
}

/* A heap copy of the `n` first bytes of `src`, in a block of exactly n
 * bytes, announcing struct_size `announced`. */
static void *exact_copy(const void *src, size_t n, size_t announced) {
  unsigned char *p = malloc(n);
  assert_non_null(p);
  memcpy(p, src, n);
  memcpy(p, &announced, sizeof(announced));
  return p;
}

/* ---- The helper, on a struct that grew from v1 to v2 ---- */

typedef struct grown_v1 {
  size_t struct_size;
  int a;
  const char *b;
} grown_v1;

typedef struct grown_v2 {
  size_t struct_size;
  int a;
  const char *b;
  uint64_t c; /* added by v2 */
  int d;      /* added by v2 */
} grown_v2;

#define GROWN_FIRST IRPC__V1_SIZE(grown_v2, b)

static void short_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self, (void)call;
}
static int short_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self, (void)call;
  return 0;
}

static void import_of_an_older_struct_reads_new_members_as_zero(void **st) {
  (void)st;
  grown_v1 v1 = {.struct_size = sizeof(grown_v1), .a = 7, .b = "x"};
  grown_v1 *old = exact_copy(&v1, sizeof(v1), sizeof(v1));
  assert_int_equal(irpc__struct_check(old, sizeof(grown_v2), GROWN_FIRST), 1);
  grown_v2 got;
  memset(&got, 0xA5, sizeof(got));
  assert_int_equal(irpc__struct_import(&got, sizeof(got), old, GROWN_FIRST), 0);
  assert_int_equal(got.struct_size, sizeof(grown_v2));
  assert_int_equal(got.a, 7);
  assert_string_equal(got.b, "x");
  assert_int_equal(got.c, 0);
  assert_int_equal(got.d, 0);
  /* The view of an older struct is the imported copy. */
  grown_v2 buf;
  int err = 1;
  const void *v = irpc__struct_view(old, &buf, sizeof(buf), GROWN_FIRST, &err);
  assert_int_equal(err, 0);
  assert_ptr_equal(v, &buf);
  assert_int_equal(buf.a, 7);
  assert_int_equal(buf.c, 0);
  free(old);
}

static void import_of_a_newer_struct_needs_a_zero_tail(void **st) {
  (void)st;
  /* The library knows v1; the caller was built with v2. */
  grown_v2 v2 = {.struct_size = sizeof(grown_v2), .a = 3, .b = "y"};
  grown_v2 *newer = exact_copy(&v2, sizeof(v2), sizeof(v2));
  grown_v1 got;
  assert_int_equal(irpc__struct_import(&got, sizeof(got), newer, GROWN_FIRST),
                   0);
  assert_int_equal(got.struct_size, sizeof(grown_v1));
  assert_int_equal(got.a, 3);
  assert_string_equal(got.b, "y");

  newer->d = 1;
  got.a = 9;
  assert_int_equal(irpc__struct_import(&got, sizeof(got), newer, GROWN_FIRST),
                   IRPC_EINVAL);
  assert_int_equal(got.a, 0); /* nothing of a refused struct is kept */
  int err = 0;
  assert_null(irpc__struct_view(newer, &got, sizeof(got), GROWN_FIRST, &err));
  assert_int_equal(err, IRPC_EINVAL);
  free(newer);
}

static void import_refuses_a_size_of_zero_or_below_the_first(void **st) {
  (void)st;
  grown_v2 v2 = {.a = 1};
  grown_v2 got;
  v2.struct_size = 0;
  assert_int_equal(irpc__struct_import(&got, sizeof(got), &v2, GROWN_FIRST),
                   IRPC_EINVAL);
  v2.struct_size = GROWN_FIRST - 1;
  assert_int_equal(irpc__struct_import(&got, sizeof(got), &v2, GROWN_FIRST),
                   IRPC_EINVAL);
  v2.struct_size = GROWN_FIRST;
  assert_int_equal(irpc__struct_import(&got, sizeof(got), &v2, GROWN_FIRST), 0);
  assert_int_equal(got.a, 1);
}

static void export_never_writes_past_the_callers_struct(void **st) {
  (void)st;
  grown_v2 defaults = {.a = 5, .b = "z", .c = 6, .d = 7};
  /* An older caller: v1 bytes only (the sanitizer guards the block). */
  grown_v1 *old = malloc(sizeof(grown_v1));
  assert_non_null(old);
  irpc__struct_export(old, sizeof(*old), &defaults, sizeof(defaults));
  assert_int_equal(old->struct_size, sizeof(grown_v1));
  assert_int_equal(old->a, 5);
  assert_string_equal(old->b, "z");
  free(old);
  /* A newer caller: its members unknown here are zeroed. */
  unsigned char *newer = malloc(sizeof(grown_v2) + 16);
  assert_non_null(newer);
  memset(newer, 0xA5, sizeof(grown_v2) + 16);
  irpc__struct_export(newer, sizeof(grown_v2) + 16, &defaults,
                      sizeof(defaults));
  size_t announced;
  memcpy(&announced, newer, sizeof(announced));
  assert_int_equal(announced, sizeof(grown_v2) + 16);
  for (size_t i = sizeof(grown_v2); i < sizeof(grown_v2) + 16; i++)
    assert_int_equal(newer[i], 0);
  free(newer);
}

/* An ops table shorter than the library's (a future older binary's) is
 * kept as a zero-extended copy inside the node, read from there. */
static void a_shorter_ops_table_is_kept_zero_extended(void **st) {
  (void)st;
  size_t shorter = offsetof(irpc_invoker_ops, on_complete);
  irpc_invoker_ops full = {.struct_size = shorter,
                           .name = "short",
                           .invoke = short_invoke,
                           .on_complete = short_on_complete};
  void *old = exact_copy(&full, shorter, shorter);
  irpc__node *n;
  assert_int_equal(irpc__node_new(&n, IRPC__CLIENT, &loop, old,
                                  sizeof(irpc_invoker_ops), 32, 0),
                   0);
  const irpc_invoker_ops *kept = n->ops;
  assert_ptr_not_equal(kept, old);
  assert_int_equal(kept->struct_size, sizeof(irpc_invoker_ops));
  assert_string_equal(kept->name, "short");
  assert_ptr_equal(kept->invoke, short_invoke);
  assert_null(kept->on_complete); /* not in the caller's table: 0 */
  assert_null(kept->destroy);
  free(old); /* the node no longer reads the caller's table */
  assert_ptr_equal(((const irpc_invoker_ops *)n->ops)->invoke, short_invoke);
  irpc__node_free(n);
}

/* ---- The first versions, as a binary built against them has them ---- */

/* irpc_invoker_ops and irpc_retry_options as their first version declared
 * them. A later version adds members after the last one here; these copies
 * stay as they are. */
typedef struct invoker_ops_v1 {
  size_t struct_size;
  const char *name;
  size_t data_size;
  size_t call_state_size;
  int (*init)(irpc_invoker *self, const void *config);
  void (*invoke)(irpc_invoker *self, irpc_call *call);
  int (*on_complete)(irpc_invoker *self, irpc_call *call);
  void (*destroy)(irpc_invoker *self);
} invoker_ops_v1;

typedef struct retry_options_v1 {
  size_t struct_size;
  unsigned max_attempts;
  size_t max_payload_size;
  uint64_t initial_backoff_ms;
  uint64_t max_backoff_ms;
  double multiplier;
  double jitter;
  double budget_max_tokens;
  double budget_token_ratio;
  irpc_clock *clock;
  uint64_t seed;
} retry_options_v1;

#define SAME_MEMBER(v1, type, m)                                               \
  _Static_assert(offsetof(v1, m) == offsetof(type, m), #type "." #m)
SAME_MEMBER(invoker_ops_v1, irpc_invoker_ops, name);
SAME_MEMBER(invoker_ops_v1, irpc_invoker_ops, call_state_size);
SAME_MEMBER(invoker_ops_v1, irpc_invoker_ops, invoke);
SAME_MEMBER(invoker_ops_v1, irpc_invoker_ops, destroy);
SAME_MEMBER(retry_options_v1, irpc_retry_options, max_attempts);
SAME_MEMBER(retry_options_v1, irpc_retry_options, multiplier);
SAME_MEMBER(retry_options_v1, irpc_retry_options, clock);
SAME_MEMBER(retry_options_v1, irpc_retry_options, seed);
_Static_assert(sizeof(invoker_ops_v1) <= sizeof(irpc_invoker_ops), "grows");
_Static_assert(sizeof(retry_options_v1) <= sizeof(irpc_retry_options), "grows");

static int destroyed;

static void answer_ok(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_incoming_response *resp;
  assert_int_equal(irpc_incoming_response_new(&resp, IRPC_STATUS_OK, NULL), 0);
  assert_int_equal(irpc_call_complete(call, 0, resp), 0);
}

static void count_destroy(irpc_invoker *self) {
  (void)self;
  destroyed++;
}

static void invoked(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  *(int *)ud = err == 0 && resp ? 1 : -1;
  irpc_incoming_response_free(resp);
}

/* Makes a call through `inv`; 1 when it was answered Ok. */
static int call_through(irpc_invoker *inv) {
  irpc_outgoing_request *req;
  assert_int_equal(irpc_outgoing_request_new(&req, "/abi", "op"), 0);
  int got = 0;
  assert_int_equal(irpc_invoke_owned(inv, req, invoked, &got, NULL), 0);
  run_loop();
  return got;
}

static void v1_invoker_ops_work_as_they_did(void **st) {
  (void)st;
  invoker_ops_v1 v1 = {.struct_size = sizeof(invoker_ops_v1),
                       .name = "v1",
                       .invoke = answer_ok,
                       .destroy = count_destroy};
  invoker_ops_v1 *ops = exact_copy(&v1, sizeof(v1), sizeof(v1));
  irpc_invoker *inv;
  assert_int_equal(
      irpc_invoker_new(&inv, &loop, (const irpc_invoker_ops *)ops, NULL), 0);
  assert_int_equal(call_through(inv), 1);
  destroyed = 0;
  irpc_invoker_free(inv);
  assert_int_equal(destroyed, 1);
  free(ops);
}

static void v1_retry_options_are_read_member_by_member(void **st) {
  (void)st;
  retry_options_v1 *o = malloc(sizeof(*o));
  assert_non_null(o);
  /* Filled by the library as far as the caller's struct goes. */
  irpc_retry_options_init_sized((irpc_retry_options *)o, sizeof(*o));
  assert_int_equal(o->struct_size, sizeof(retry_options_v1));
  assert_int_equal(o->max_attempts, 2);
  assert_true(o->budget_token_ratio > 0.09 && o->budget_token_ratio < 0.11);
  irpc_invoker *inv;
  assert_int_equal(
      irpc_retry_interceptor_new(&inv, &loop, (irpc_retry_options *)o), 0);
  irpc_invoker_free(inv);
  /* The members are read where v1 had them: one out of range is seen. */
  o->multiplier = 0.5;
  assert_int_equal(
      irpc_retry_interceptor_new(&inv, &loop, (irpc_retry_options *)o),
      IRPC_EINVAL);
  free(o);
}

/* ---- Every public struct a caller fills, through the public API ---- */

static void nop_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  (void)call;
}
static int nop_dispatcher_init(irpc_dispatcher *self, const void *config) {
  (void)self;
  (void)config;
  return 0;
}
static int writer_write(const void *config, irpc_fields *fields, uint64_t peer,
                        irpc_buf *in, int may_consume, irpc_buf *out) {
  (void)config, (void)fields, (void)peer, (void)in, (void)may_consume;
  (void)out;
  return IRPC_PAYLOAD_UNCHANGED;
}
static int duplex_read_start(irpc_duplex *d) {
  (void)d;
  return 0;
}
static void duplex_read_stop(irpc_duplex *d) {
  (void)d;
}
static int duplex_write(irpc_duplex *d, irpc_buf *data, void *req) {
  (void)d, (void)data, (void)req;
  return 0;
}
static int duplex_shutdown(irpc_duplex *d) {
  (void)d;
  return 0;
}
static void duplex_close(irpc_duplex *d, int abort) {
  (void)abort;
  irpc_duplex_close_done(d);
}
static void listener_close(irpc_listener *l) {
  irpc_listener_close_done(l);
}
static int transport_connect(irpc_transport *t, uv_loop_t *l,
                             const irpc_server_address *a, irpc_duplex **out) {
  (void)t, (void)l, (void)a, (void)out;
  return IRPC_ENOTSUP;
}
static int transport_listen(irpc_transport *t, uv_loop_t *l,
                            const irpc_server_address *a, irpc_accept_cb cb,
                            void *ud, irpc_listener **out) {
  (void)t, (void)l, (void)a, (void)cb, (void)ud, (void)out;
  return IRPC_ENOTSUP;
}
static void accepted(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l, (void)d, (void)ud;
}
static void *a_alloc(void *o, size_t n) {
  (void)o;
  return malloc(n);
}
static void *a_realloc(void *o, void *p, size_t n) {
  (void)o;
  return realloc(p, n);
}
static void a_free(void *o, void *p) {
  (void)o;
  free(p);
}
static void *span_start(void *ud, int kind, const char *path, const char *op,
                        const irpc_trace_context *parent,
                        irpc_trace_context *ctx) {
  (void)ud, (void)kind, (void)path, (void)op, (void)parent, (void)ctx;
  return NULL;
}
static void span_end(void *ud, void *span, int err, uint64_t status) {
  (void)ud, (void)span, (void)err, (void)status;
}

/* A Slice operation without parameters or return value. */
static int delivered;
static void op_deliver(irpc_slice_reply *r, int err, const void *ret,
                       void (*cb)(void), void *ud) {
  (void)r, (void)ret, (void)cb, (void)ud;
  delivered = err == 0 ? 1 : -1;
}
static int op_call(const void *ops, void *impl, irpc_slice_dispatch *sd,
                   void *args) {
  (void)ops, (void)impl, (void)sd, (void)args;
  return IRPC_ENOTSUP;
}
static const irpc_slice_op the_op = {.struct_size = sizeof(irpc_slice_op),
                                     .name = "op",
                                     .deliver = op_deliver,
                                     .call = op_call};
static const irpc_slice_op_ref the_op_ref = {.op = &the_op};
static const irpc_slice_iface the_iface = {.struct_size =
                                               sizeof(irpc_slice_iface),
                                           .magic = IRPC_SLICE_IFACE_MAGIC,
                                           .type_id = "::abi::I",
                                           .default_path = "/abi.I",
                                           .ops = &the_op_ref,
                                           .nops = 1};
static const struct { void (*op)(void); } slice_impl_ops = {NULL};
static void slice_cb(void) {}

static void fill_invoker_ops(void *s) {
  irpc_invoker_ops *o = s;
  o->name = "abi";
  o->invoke = nop_invoke;
}
static int use_invoker_ops(const void *s) {
  irpc_invoker *inv;
  int rc = irpc_invoker_new(&inv, &loop, s, NULL);
  if (rc == 0)
    irpc_invoker_free(inv);
  return rc;
}
static void fill_dispatcher_ops(void *s) {
  irpc_dispatcher_ops *o = s;
  o->name = "abi";
  o->init = nop_dispatcher_init;
}
static int use_dispatcher_ops(const void *s) {
  irpc_dispatcher *d;
  int rc = irpc_dispatcher_new(&d, &loop, s, NULL);
  if (rc == 0)
    irpc_dispatcher_free(d);
  return rc;
}
static void fill_writer_ops(void *s) {
  irpc_payload_writer_ops *o = s;
  o->name = "abi";
  o->write = writer_write;
}
static int use_writer_ops(const void *s) {
  irpc_outgoing_request *r;
  assert_int_equal(irpc_outgoing_request_new(&r, "/abi", "op"), 0);
  int rc = irpc_outgoing_request_use_writer(r, s, NULL, 0);
  if (rc == 0)
    assert_true(irpc_outgoing_request_has_writer(r, s));
  irpc_outgoing_request_free(r);
  return rc;
}
static void fill_duplex_ops(void *s) {
  irpc_duplex_ops *o = s;
  o->name = "abi";
  o->read_start = duplex_read_start;
  o->read_stop = duplex_read_stop;
  o->write = duplex_write;
  o->shutdown = duplex_shutdown;
  o->close = duplex_close;
}
static int use_duplex_ops(const void *s) {
  irpc_duplex *d;
  int rc = irpc_duplex_new(&d, &loop, s, 0);
  if (rc == 0)
    irpc_duplex_discard(d);
  return rc;
}
static void fill_listener_ops(void *s) {
  irpc_listener_ops *o = s;
  o->name = "abi";
  o->close = listener_close;
}
static int use_listener_ops(const void *s) {
  irpc_server_address *a;
  assert_int_equal(
      irpc_server_address_parse(&a, "icerpc://abi?transport=memory"), 0);
  irpc_listener *l;
  int rc = irpc_listener_new(&l, &loop, s, a, accepted, NULL);
  if (rc == 0)
    irpc_listener_discard(l);
  irpc_server_address_free(a);
  return rc;
}
static void fill_transport_ops(void *s) {
  irpc_transport_ops *o = s;
  o->name = "abi";
  o->connect = transport_connect;
  o->listen = transport_listen;
}
static int use_transport_ops(const void *s) {
  irpc_transport *t;
  int rc = irpc_transport_new(&t, s);
  if (rc == 0)
    irpc_transport_free(t);
  return rc;
}
static void fill_allocator(void *s) {
  irpc_allocator *a = s;
  a->alloc = a_alloc;
  a->realloc = a_realloc;
  a->free = a_free;
}
static int use_allocator(const void *s) {
  int rc = irpc_set_allocator(s);
  if (rc == 0) {
    assert_ptr_equal(irpc_get_allocator()->alloc, a_alloc);
    assert_int_equal(irpc_set_allocator(NULL), 0);
  }
  return rc;
}
static void fill_telemetry_hooks(void *s) {
  irpc_telemetry_hooks *h = s;
  h->start = span_start;
  h->end = span_end;
}
static int use_telemetry_hooks(const void *s) {
  irpc_invoker *inv;
  irpc_dispatcher *d;
  int rc = irpc_telemetry_interceptor_new(&inv, &loop, s);
  int rc2 = irpc_telemetry_middleware_new(&d, &loop, s);
  assert_int_equal(rc, rc2);
  if (rc == 0) {
    irpc_invoker_free(inv);
    irpc_dispatcher_free(d);
  }
  return rc;
}
static void fill_compress_options(void *s) {
  irpc_compress_options_init_sized(s, sizeof(irpc_compress_options));
}
static int use_compress_options(const void *s) {
  irpc_invoker *inv;
  irpc_dispatcher *d;
  int rc = irpc_compress_interceptor_new(&inv, &loop, s);
  assert_int_equal(irpc_compress_middleware_new(&d, &loop, s), rc);
  irpc_outgoing_request *r;
  assert_int_equal(irpc_outgoing_request_new(&r, "/abi", "op"), 0);
  assert_int_equal(irpc_compress_use_on_request(r, s), rc);
  irpc_outgoing_request_free(r);
  if (rc == 0) {
    irpc_invoker_free(inv);
    irpc_dispatcher_free(d);
  }
  return rc;
}
static void fill_deadline_options(void *s) {
  irpc_deadline_options_init_sized(s, sizeof(irpc_deadline_options));
}
static int use_deadline_options(const void *s) {
  irpc_invoker *inv;
  irpc_dispatcher *d;
  int rc = irpc_deadline_interceptor_new(&inv, &loop, s);
  assert_int_equal(irpc_deadline_middleware_new(&d, &loop, s), rc);
  if (rc == 0) {
    irpc_invoker_free(inv);
    irpc_dispatcher_free(d);
  }
  return rc;
}
static void fill_logger_options(void *s) {
  irpc_logger_options_init_sized(s, sizeof(irpc_logger_options));
}
static int use_logger_options(const void *s) {
  irpc_invoker *inv;
  irpc_dispatcher *d;
  int rc = irpc_logger_interceptor_new(&inv, &loop, s);
  assert_int_equal(irpc_logger_middleware_new(&d, &loop, s), rc);
  if (rc == 0) {
    irpc_invoker_free(inv);
    irpc_dispatcher_free(d);
  }
  return rc;
}
static void fill_retry_options(void *s) {
  irpc_retry_options_init_sized(s, sizeof(irpc_retry_options));
}
static int use_retry_options(const void *s) {
  irpc_invoker *inv;
  int rc = irpc_retry_interceptor_new(&inv, &loop, s);
  if (rc == 0)
    irpc_invoker_free(inv);
  return rc;
}
static void fill_server_options(void *s) {
  irpc_server_options_init_sized(s, sizeof(irpc_server_options));
}
static int use_server_options(const void *s) {
  irpc_router *router;
  assert_int_equal(irpc_router_new(&router, &loop), 0);
  irpc_server *srv;
  int rc = irpc_server_new(&srv, &loop, irpc_router_dispatcher(router), s);
  if (rc == 0) {
    irpc_server_free(srv);
    run_loop();
  }
  irpc_router_free(router);
  return rc;
}
static irpc_router *abi_router; /* of the one loop running */
static int abi_factory(uv_loop_t *l, unsigned index, irpc_dispatcher **out,
                       void *ud) {
  (void)index;
  (void)ud;
  int rc = irpc_router_new(&abi_router, l);
  if (rc == 0)
    *out = irpc_router_dispatcher(abi_router);
  return rc;
}
static void abi_release(uv_loop_t *l, unsigned index, irpc_dispatcher *d,
                        void *ud) {
  (void)l;
  (void)index;
  (void)ud;
  (void)d;
  irpc_router_free(abi_router);
}
static void fill_multi_server_options(void *s) {
  irpc_multi_server_options_init_sized(s, sizeof(irpc_multi_server_options));
  irpc_multi_server_options *o = s;
  o->loops = 1;
  o->factory = abi_factory;
  o->release = abi_release;
}
static int use_multi_server_options(const void *s) {
  irpc_multi_server *ms;
  int rc = irpc_multi_server_new(&ms, s);
  if (rc == 0)
    irpc_multi_server_free(ms);
  return rc;
}
static void fill_offload_pool_options(void *s) {
  irpc_offload_pool_options_init_sized(s, sizeof(irpc_offload_pool_options));
  ((irpc_offload_pool_options *)s)->threads = 1;
}
static int use_offload_pool_options(const void *s) {
  irpc_offload_pool *p;
  int rc = irpc_offload_pool_new(&p, s);
  if (rc == 0)
    irpc_offload_pool_free(p);
  return rc;
}
static void fill_cache_options(void *s) {
  irpc_connection_cache_options_init_sized(
      s, sizeof(irpc_connection_cache_options));
}
static int use_cache_options(const void *s) {
  irpc_invoker *inv;
  int rc = irpc_connection_cache_new(&inv, &loop, s);
  if (rc == 0) {
    irpc_invoker_free(inv);
    run_loop();
  }
  return rc;
}
static void fill_connection_options(void *s) {
  irpc_connection_options_init_sized(s, sizeof(irpc_connection_options));
}
static int use_connection_options(const void *s) {
  irpc_invoker *inv;
  int rc = irpc_client_connection_new(&inv, &loop, "icerpc://abi", s);
  if (rc == 0)
    irpc_invoker_free(inv);
  return rc;
}
static void fill_icerpc_options(void *s) {
  irpc_icerpc_options_init_sized(s, sizeof(irpc_icerpc_options));
}
/* Through each creation that copies it: a client connection, a connection
 * cache and a server, which agree. */
static int use_icerpc_options(const void *s) {
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.icerpc = s;
  irpc_invoker *inv;
  int rc = irpc_client_connection_new(&inv, &loop, "icerpc://abi", &co);
  if (rc == 0)
    irpc_invoker_free(inv);
  irpc_connection_cache_options ko;
  irpc_connection_cache_options_init(&ko);
  ko.connection.icerpc = s;
  int rc2 = irpc_connection_cache_new(&inv, &loop, &ko);
  if (rc2 == 0)
    irpc_invoker_free(inv);
  assert_int_equal(rc2, rc);
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.icerpc = s;
  assert_int_equal(use_server_options(&so), rc);
  run_loop();
  return rc;
}
#ifdef IRPC_WITH_TLS
static void fill_tls_options(void *s) {
  irpc_tls_options_init_sized(s, sizeof(irpc_tls_options));
}
static int use_tls_options(const void *s) {
  irpc_tls_client *c;
  int rc = irpc_tls_client_new(&c, s);
  if (rc == 0)
    irpc_tls_client_free(c);
  return rc;
}
#endif
static void fill_slice_op(void *s) {
  memcpy(s, &the_op, sizeof(the_op));
}
static int use_slice_op(const void *s) {
  irpc_slice_op_ref ref = {.op = s};
  irpc_slice_iface iface = the_iface;
  iface.ops = &ref;
  irpc_dispatcher *d;
  int rc = irpc_slice_dispatcher_new(&d, &loop, &iface, &slice_impl_ops, NULL);
  if (rc == 0)
    irpc_dispatcher_free(d);
  return rc;
}
static void fill_slice_iface(void *s) {
  memcpy(s, &the_iface, sizeof(the_iface));
}
static int use_slice_iface(const void *s) {
  irpc_dispatcher *d;
  int rc = irpc_slice_dispatcher_new(&d, &loop, s, &slice_impl_ops, NULL);
  if (rc == 0)
    irpc_dispatcher_free(d);
  return rc;
}
static irpc_call *made_call;
static void fill_call_opts(void *s) {
  irpc_slice_call_opts *o = s;
  irpc_slice_call_opts_init_sized(o, sizeof(irpc_slice_call_opts));
  o->call_out = &made_call;
}
static int use_call_opts(const void *s) {
  static const irpc_invoker_ops ok_ops = {.struct_size =
                                              sizeof(irpc_invoker_ops),
                                          .name = "ok",
                                          .invoke = answer_ok};
  irpc_invoker *inv;
  assert_int_equal(irpc_invoker_new(&inv, &loop, &ok_ops, NULL), 0);
  irpc_slice_proxy proxy = {.invoker = inv};
  delivered = 0;
  made_call = NULL;
  int rc =
      irpc_slice_invoke(&proxy, &the_iface, &the_op, NULL, s, slice_cb, NULL);
  if (rc == 0) {
    assert_non_null(made_call); /* opts->call_out was read */
    run_loop();
    assert_int_equal(delivered, 1);
  } else {
    run_loop();
    assert_int_equal(delivered, 0); /* refused: the callback never runs */
  }
  irpc_invoker_free(inv);
  return rc;
}

typedef struct abi_case {
  const char *name;
  size_t size;               /* sizeof in this header */
  size_t v1_size;            /* its first version */
  void (*fill)(void *s);     /* a valid struct (struct_size aside) */
  int (*use)(const void *s); /* hands it to the library; its result */
} abi_case;

#define CASE(type, fill, use)                                                  \
  { #type, sizeof(type), IRPC__V1_##type, fill, use }

static const abi_case cases[] = {
    CASE(irpc_invoker_ops, fill_invoker_ops, use_invoker_ops),
    CASE(irpc_dispatcher_ops, fill_dispatcher_ops, use_dispatcher_ops),
    CASE(irpc_payload_writer_ops, fill_writer_ops, use_writer_ops),
    CASE(irpc_duplex_ops, fill_duplex_ops, use_duplex_ops),
    CASE(irpc_listener_ops, fill_listener_ops, use_listener_ops),
    CASE(irpc_transport_ops, fill_transport_ops, use_transport_ops),
    CASE(irpc_allocator, fill_allocator, use_allocator),
    CASE(irpc_telemetry_hooks, fill_telemetry_hooks, use_telemetry_hooks),
    CASE(irpc_compress_options, fill_compress_options, use_compress_options),
    CASE(irpc_deadline_options, fill_deadline_options, use_deadline_options),
    CASE(irpc_logger_options, fill_logger_options, use_logger_options),
    CASE(irpc_retry_options, fill_retry_options, use_retry_options),
    CASE(irpc_server_options, fill_server_options, use_server_options),
    CASE(irpc_connection_cache_options, fill_cache_options, use_cache_options),
    CASE(irpc_connection_options, fill_connection_options,
         use_connection_options),
    CASE(irpc_icerpc_options, fill_icerpc_options, use_icerpc_options),
#ifdef IRPC_WITH_TLS
    CASE(irpc_tls_options, fill_tls_options, use_tls_options),
#endif
    CASE(irpc_slice_op, fill_slice_op, use_slice_op),
    CASE(irpc_slice_iface, fill_slice_iface, use_slice_iface),
    CASE(irpc_slice_call_opts, fill_call_opts, use_call_opts),
    CASE(irpc_multi_server_options, fill_multi_server_options,
         use_multi_server_options),
    CASE(irpc_offload_pool_options, fill_offload_pool_options,
         use_offload_pool_options),
};

#define TAIL 16

/* Hands the valid struct `full` to the library announcing `announced`, in
 * a block of exactly max(announced, sizeof(size_t)) bytes whose bytes past
 * the struct are zero, except `tail_byte` at the end when non-zero. */
static int use_as(const abi_case *c, const unsigned char *full,
                  size_t announced, unsigned char tail_byte) {
  size_t n = announced < sizeof(size_t) ? sizeof(size_t) : announced;
  unsigned char *p = calloc(1, n);
  assert_non_null(p);
  memcpy(p, full, n < c->size ? n : c->size);
  memcpy(p, &announced, sizeof(announced));
  if (tail_byte)
    p[n - 1] = tail_byte;
  int rc = c->use(p);
  free(p);
  return rc;
}

static void every_struct_accepts_its_versions_and_refuses_bad_sizes(void **st) {
  (void)st;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const abi_case *c = &cases[i];
    print_message("%s (%zu bytes, first version %zu)\n", c->name, c->size,
                  c->v1_size);
    assert_true(c->v1_size >= sizeof(size_t) && c->v1_size <= c->size);
    unsigned char *full = calloc(1, c->size);
    assert_non_null(full);
    c->fill(full);
    /* This header's size, then a newer, larger one with a zero tail. */
    assert_int_equal(use_as(c, full, c->size, 0), 0);
    assert_int_equal(use_as(c, full, c->size + TAIL, 0), 0);
    /* The first version: an older binary's struct. */
    assert_int_equal(use_as(c, full, c->v1_size, 0), 0);
    /* Refused, with nothing of it used: a member this library does not
     * know set, struct_size forgotten, or below the first version. */
    assert_int_equal(use_as(c, full, c->size + TAIL, 1), IRPC_EINVAL);
    assert_int_equal(use_as(c, full, c->size + 1, 0x80), IRPC_EINVAL);
    assert_int_equal(use_as(c, full, 0, 0), IRPC_EINVAL);
    assert_int_equal(use_as(c, full, c->v1_size - 1, 0), IRPC_EINVAL);
    assert_int_equal(use_as(c, full, sizeof(size_t), 0), IRPC_EINVAL);
    free(full);
  }
  assert_string_equal(irpc_err_name(IRPC_EINVAL), "EINVAL");
}

/* The _init functions set struct_size to the caller's sizeof and fill no
 * more than that. */
static void init_sets_the_callers_size(void **st) {
  (void)st;
  irpc_compress_options co;
  irpc_compress_options_init(&co);
  assert_int_equal(co.struct_size, sizeof(co));
  irpc_deadline_options dl;
  irpc_deadline_options_init(&dl);
  assert_int_equal(dl.struct_size, sizeof(dl));
  assert_int_equal(dl.enforce_feature_deadlines, 1);
  irpc_logger_options lo;
  irpc_logger_options_init(&lo);
  assert_int_equal(lo.struct_size, sizeof(lo));
  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  assert_int_equal(ro.struct_size, sizeof(ro));
  irpc_server_options so;
  irpc_server_options_init(&so);
  assert_int_equal(so.struct_size, sizeof(so));
  irpc_connection_cache_options cc;
  irpc_connection_cache_options_init(&cc);
  assert_int_equal(cc.struct_size, sizeof(cc));
  assert_int_equal(cc.max_connections, 100);
  irpc_connection_options cn;
  irpc_connection_options_init(&cn);
  assert_int_equal(cn.struct_size, sizeof(cn));
  assert_int_equal(cn.max_dispatches, 100);
  irpc_icerpc_options io;
  irpc_icerpc_options_init(&io);
  assert_int_equal(io.struct_size, sizeof(io));
  assert_int_equal(io.max_header_size, 16383);
  /* The connection options end these two: they grow with them. */
  assert_int_equal(offsetof(irpc_server_options, connection) +
                       sizeof(irpc_connection_options),
                   sizeof(irpc_server_options));
  assert_int_equal(offsetof(irpc_connection_cache_options, connection) +
                       sizeof(irpc_connection_options),
                   sizeof(irpc_connection_cache_options));

  /* A newer caller's struct: the members unknown here come back zero, so
   * the library accepts it as is. */
  unsigned char *newer = malloc(sizeof(irpc_retry_options) + TAIL);
  assert_non_null(newer);
  memset(newer, 0xA5, sizeof(irpc_retry_options) + TAIL);
  irpc_retry_options_init_sized((irpc_retry_options *)newer,
                                sizeof(irpc_retry_options) + TAIL);
  irpc_invoker *inv;
  assert_int_equal(
      irpc_retry_interceptor_new(&inv, &loop, (irpc_retry_options *)newer), 0);
  irpc_invoker_free(inv);
  free(newer);
}

int main(void) {
  uv_loop_init(&loop);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(import_of_an_older_struct_reads_new_members_as_zero),
      cmocka_unit_test(import_of_a_newer_struct_needs_a_zero_tail),
      cmocka_unit_test(import_refuses_a_size_of_zero_or_below_the_first),
      cmocka_unit_test(export_never_writes_past_the_callers_struct),
      cmocka_unit_test(a_shorter_ops_table_is_kept_zero_extended),
      cmocka_unit_test(v1_invoker_ops_work_as_they_did),
      cmocka_unit_test(v1_retry_options_are_read_member_by_member),
      cmocka_unit_test(every_struct_accepts_its_versions_and_refuses_bad_sizes),
      cmocka_unit_test(init_sets_the_callers_size),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  run_loop();
  assert_int_equal(uv_loop_close(&loop), 0);
  return rc;
}
