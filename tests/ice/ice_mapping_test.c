/* irpc's model over ice, irpc client to irpc server (memory transport):
 * the path as an Ice identity and back (escapes included), the facet from
 * the request's feature and from a service address's fragment, the
 * idempotent field, the request context field (small and large), a path
 * that is not an Ice
 * identity, and the options' range (reverse calls: the conformance
 * suite). */
#include <string.h>

#include "ice_raw.h"

#define SERVER "ice://map?transport=memory"

typedef struct seen {
  char path[64], facet[32];
  int idempotent;
  uint8_t ctx[16384];
  size_t ctx_len;
} seen;

static seen S;

static void spy_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  snprintf(S.path, sizeof S.path, "%s", irpc_incoming_request_path(req));
  const char *f = irpc_features_get(irpc_incoming_request_features(req),
                                    &irpc_ice_facet_feature);
  snprintf(S.facet, sizeof S.facet, "%s", f ? f : "");
  irpc_fields *fl = irpc_incoming_request_fields(req);
  S.idempotent = irpc_fields_has(fl, IRPC_REQUEST_FIELD_IDEMPOTENT);
  irpc_bytes v = {0};
  S.ctx_len = 0;
  if (irpc_fields_get(fl, IRPC_REQUEST_FIELD_CONTEXT, &v) == 0) {
    memcpy(S.ctx, v.base, v.len < sizeof S.ctx ? v.len : sizeof S.ctx);
    S.ctx_len = v.len;
  }
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops spy_ops = {.struct_size =
                                                sizeof(irpc_dispatcher_ops),
                                            .name = "spy",
                                            .dispatch = spy_dispatch};

typedef struct fx {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_dispatcher *spy;
  irpc_server *server;
  irpc_connection_options co;
} fx;

static void fx_init(fx *x) {
  memset(x, 0, sizeof(*x));
  memset(&S, 0, sizeof S);
  assert_int_equal(uv_loop_init(&x->loop), 0);
  assert_irpc_ok(irpc_transport_memory_new(&x->memory));
  assert_irpc_ok(irpc_dispatcher_new(&x->spy, &x->loop, &spy_ops, NULL));
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = x->memory;
  assert_irpc_ok(irpc_server_new(&x->server, &x->loop, x->spy, &so));
  assert_irpc_ok(irpc_server_listen(x->server, SERVER, NULL, 0));
  irpc_connection_options_init(&x->co);
  x->co.transport = x->memory;
}

static void fx_fini(fx *x) {
  irpc_server_free(x->server);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  irpc_dispatcher_free(x->spy);
  irpc_transport_free(x->memory);
  test_loop_finish(&x->loop);
}

static ice_res call(fx *x, irpc_invoker *inv, irpc_outgoing_request *q) {
  ice_res r = {0};
  assert_irpc_ok(irpc_invoke_owned(inv, q, ice_on_res, &r, NULL));
  kit_run_until(&x->loop, &r.done);
  return r;
}

static void identity_facet_fields(void **state) {
  (void)state;
  fx x;
  fx_init(&x);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &x.loop, SERVER, &x.co));
  /* Category and name with escapes, the facet feature, the fields. */
  irpc_outgoing_request *q;
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/cat%2Fx/na%20me", "op"));
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(q),
                                   &irpc_ice_facet_feature,
                                   irpc_ice_facet_dup("fa#cet")));
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(q, 1));
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(q),
                                 IRPC_REQUEST_FIELD_CONTEXT,
                                 "\x08\x04k\x04v\x08k2\x00", 9));
  ice_res r = call(&x, inv, q);
  assert_irpc_ok(r.err);
  assert_string_equal(S.path, "/cat%2Fx/na%20me");
  assert_string_equal(S.facet, "fa#cet");
  assert_true(S.idempotent);
  assert_int_equal(S.ctx_len, 9);
  assert_memory_equal(S.ctx, "\x08\x04k\x04v\x08k2\x00", 9);
  /* "/name", none of the rest; an escape that needs none is read. */
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/n%61me", "op"));
  r = call(&x, inv, q);
  assert_irpc_ok(r.err);
  assert_string_equal(S.path, "/name");
  assert_string_equal(S.facet, "");
  assert_false(S.idempotent);
  assert_int_equal(S.ctx_len, 0);
  /* Not an Ice identity: three segments, a bad escape. */
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/a/b/c", "op"));
  assert_irpc_err(call(&x, inv, q).err, IRPC_EPATH);
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/a%2", "op"));
  assert_irpc_err(call(&x, inv, q).err, IRPC_EPATH);
  /* A context field that does not decode. */
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/a", "op"));
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(q),
                                 IRPC_REQUEST_FIELD_CONTEXT, "\x08\x04k", 3));
  assert_irpc_err(call(&x, inv, q).err, IRPC_EDATA);
  /* The connection is still up. */
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/a", "op"));
  assert_irpc_ok(call(&x, inv, q).err);
  irpc_invoker_free(inv);
  fx_fini(&x);
}

/* Through a connection cache: the fragment of the request's service
 * address is the facet, percent-decoded. */
/* Puts `v` (below 2^14) as a minimal varuint62; returns its width. */
static size_t put_vu(uint8_t *p, size_t v) {
  if (v < 64) {
    p[0] = (uint8_t)(v << 2);
    return 1;
  }
  p[0] = (uint8_t)(v << 2 | 1);
  p[1] = (uint8_t)(v >> 6);
  return 2;
}

/* Contexts of every size reach the dispatcher whole: one re-encoded on
 * the stack, one in a pooled object, one beyond the pool's classes. */
static void large_contexts(void **state) {
  (void)state;
  fx x;
  fx_init(&x);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &x.loop, SERVER, &x.co));
  static const size_t sizes[] = {10, 300, 9000};
  static uint8_t field[9100];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    /* {"key": sizes[i] bytes} */
    size_t n = put_vu(field, 1);
    n += put_vu(field + n, 3);
    memcpy(field + n, "key", 3);
    n += 3;
    n += put_vu(field + n, sizes[i]);
    for (size_t j = 0; j < sizes[i]; j++)
      field[n + j] = (uint8_t)('a' + (i + j) % 26);
    n += sizes[i];
    irpc_outgoing_request *q;
    assert_irpc_ok(irpc_outgoing_request_new(&q, "/a", "op"));
    assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(q),
                                   IRPC_REQUEST_FIELD_CONTEXT, field, n));
    assert_irpc_ok(call(&x, inv, q).err);
    assert_int_equal(S.ctx_len, n);
    assert_memory_equal(S.ctx, field, n);
  }
  irpc_invoker_free(inv);
  fx_fini(&x);
}

static void facet_from_fragment(void **state) {
  (void)state;
  fx x;
  fx_init(&x);
  irpc_connection_cache_options o;
  irpc_connection_cache_options_init(&o);
  o.connection = x.co;
  irpc_invoker *cache;
  assert_irpc_ok(irpc_connection_cache_new(&cache, &x.loop, &o));
  irpc_outgoing_request *q;
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/hello", "op"));
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse(
      &sa, "ice://map/hello?transport=memory#f%20x"));
  assert_irpc_ok(irpc_outgoing_request_set_service_address(q, sa));
  ice_res r = call(&x, cache, q);
  irpc_service_address_free(sa);
  assert_irpc_ok(r.err);
  assert_string_equal(S.path, "/hello");
  assert_string_equal(S.facet, "f x");
  irpc_invoker_free(cache);
  fx_fini(&x);
}

static void options_range(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_ice_options io;
  irpc_ice_options_init(&io);
  assert_int_equal(io.struct_size, sizeof io);
  assert_int_equal(io.max_message_size, 1048576);
  assert_int_equal(io.idle_timeout_ms, 60000);
  assert_int_equal(io.idle_check, 0);
  assert_int_equal(io.compress, 0);
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  assert_null(o.ice);
  o.ice = &io;
  irpc_invoker *inv;
  io.max_message_size = 255;
  assert_irpc_err(
      irpc_client_connection_new(&inv, &loop, "ice://127.0.0.1:4061", &o),
      IRPC_EINVAL);
  io.max_message_size = (uint64_t)1 << 31;
  assert_irpc_err(
      irpc_client_connection_new(&inv, &loop, "ice://127.0.0.1:4061", &o),
      IRPC_EINVAL);
  /* Checked whatever the protocol of the address. */
  assert_irpc_err(
      irpc_client_connection_new(&inv, &loop, "icerpc://127.0.0.1:4061", &o),
      IRPC_EINVAL);
  io.struct_size = 0;
  io.max_message_size = 256;
  assert_irpc_err(
      irpc_client_connection_new(&inv, &loop, "ice://127.0.0.1:4061", &o),
      IRPC_EINVAL);
  io.struct_size = sizeof io;
  assert_irpc_ok(
      irpc_client_connection_new(&inv, &loop, "ice://127.0.0.1:4061", &o));
  irpc_invoker_free(inv);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(identity_facet_fields),
      cmocka_unit_test(large_contexts),
      cmocka_unit_test(facet_from_fragment),
      cmocka_unit_test(options_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
