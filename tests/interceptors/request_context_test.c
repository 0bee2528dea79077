/* The request context interceptor and middleware. */
#include "kit/rig.h"

static char seen[256];
static void ctx_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const irpc_context *c = irpc_features_get(
      irpc_incoming_request_features(irpc_dispatch_request(d)),
      &irpc_request_context_feature);
  seen[0] = '\0';
  for (size_t i = 0; c && i < irpc_context_count(c); i++) {
    const char *k, *v;
    assert_irpc_ok(irpc_context_at(c, i, &k, &v));
    snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s=%s;", k, v);
  }
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops ctx_ops = {.struct_size =
                                                sizeof(irpc_dispatcher_ops),
                                            .name = "ctx",
                                            .dispatch = ctx_dispatch};

static void test_encoding_bytes(void **state) {
  (void)state;
  irpc_context *c, *back;
  assert_irpc_ok(irpc_context_new(&c));
  assert_irpc_ok(irpc_context_set(c, "a", "b"));
  assert_irpc_ok(irpc_context_set(c, "key", "v\xC3\xA9"));
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_context_encode(c, b));
  /* varuint62 count 2 (0x08), "a" (0x04 'a'), "b", "key" (0x0C ...),
   * "vé" (3 bytes: 0x0C). */
  static const uint8_t want[] = {0x08, 0x04, 'a',  0x04, 'b',  0x0C, 'k',
                                 'e',  'y',  0x0C, 'v',  0xC3, 0xA9};
  assert_true(irpc_buf_equals(b, want, sizeof(want)));
  assert_irpc_ok(irpc_context_decode((irpc_bytes){want, sizeof(want)}, &back));
  assert_int_equal(irpc_context_count(back), 2);
  assert_string_equal(irpc_context_get(back, "key"), "v\xC3\xA9");
  irpc_context_free(back);
  /* Malformed: truncated, trailing bytes, bad UTF-8, too large a count. */
  assert_irpc_err(irpc_context_decode((irpc_bytes){want, 5}, &back),
                  IRPC_EDATA);
  static const uint8_t trailing[] = {0x04, 0x04, 'a', 0x04, 'b', 0x00};
  assert_irpc_err(irpc_context_decode((irpc_bytes){trailing, 6}, &back),
                  IRPC_EDATA);
  static const uint8_t bad_utf8[] = {0x04, 0x04, 0xFF, 0x04, 'b'};
  assert_irpc_err(irpc_context_decode((irpc_bytes){bad_utf8, 5}, &back),
                  IRPC_EUTF8);
  static const uint8_t huge[] = {0xFE, 0xFF, 0xFF, 0xFF};
  assert_irpc_err(irpc_context_decode((irpc_bytes){huge, 4}, &back),
                  IRPC_EDATA);
  assert_irpc_ok(irpc_context_remove(c, "a"));
  assert_irpc_err(irpc_context_remove(c, "a"), IRPC_ENOTFOUND);
  assert_irpc_ok(irpc_context_set(c, "key", "w"));
  assert_int_equal(irpc_context_count(c), 1);
  irpc_buf_free(b);
  irpc_context_free(c);
}

static void test_through_coloc(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  irpc_invoker *ic;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_request_context_interceptor_new(&ic, &r.loop));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  rig_spy(&r);
  assert_irpc_ok(irpc_request_context_middleware_new(&mw, &r.loop));
  assert_irpc_ok(irpc_router_use(r.router, mw));
  irpc_dispatcher *d = rig_map(&r, "/ctx", &ctx_ops);
  irpc_outgoing_request *req = kit_request("/ctx", NULL, 0);
  irpc_context *c;
  assert_irpc_ok(irpc_context_new(&c));
  assert_irpc_ok(irpc_context_set(c, "tenant", "42"));
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &irpc_request_context_feature, c));
  outcome o;
  outcome_init(&o);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_string_equal(seen, "tenant=42;");
  assert_field(r.spy.fields, IRPC_REQUEST_FIELD_CONTEXT,
               "\x04\x18tenant\x08"
               "42",
               11);
  /* An empty context removes the field. */
  assert_irpc_ok(irpc_context_remove(c, "tenant"));
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_false(irpc_fields_has(r.spy.fields, IRPC_REQUEST_FIELD_CONTEXT));
  assert_string_equal(seen, "");
  /* A malformed field is answered InvalidData. */
  assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                 IRPC_REQUEST_FIELD_CONTEXT, "\x08\x04", 2));
  rig_invoke(&r, r.coloc, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.status, IRPC_STATUS_INVALID_DATA);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &d, 1);
}

/* A context larger than the interceptor's stack room is sent whole, the
 * same bytes irpc_context_encode writes; a key that is not UTF-8 is
 * refused by the encoder (and the call fails) instead of reaching a peer
 * that would reject it. */
static void test_large_and_invalid(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  irpc_invoker *ic;
  assert_irpc_ok(irpc_request_context_interceptor_new(&ic, &r.loop));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  rig_spy(&r);
  irpc_dispatcher *d = rig_map(&r, "/ctx", &ctx_ops);
  irpc_outgoing_request *req = kit_request("/ctx", NULL, 0);
  irpc_context *c;
  assert_irpc_ok(irpc_context_new(&c));
  char big[1500];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_irpc_ok(irpc_context_set(c, "big", big));
  assert_irpc_ok(irpc_features_set(irpc_outgoing_request_features(req),
                                   &irpc_request_context_feature, c));
  irpc_buf *want;
  assert_irpc_ok(irpc_buf_new(&want));
  assert_irpc_ok(irpc_context_encode(c, want));
  irpc_bytes w;
  assert_irpc_ok(irpc_buf_pullup(want, &w));
  assert_int_equal(w.len, 1 + 1 + 3 + 2 + sizeof(big) - 1);
  outcome o;
  outcome_init(&o);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  assert_field(r.spy.fields, IRPC_REQUEST_FIELD_CONTEXT, w.base, w.len);
  /* Not UTF-8: encode leaves the buffer as it was, the call fails. */
  assert_irpc_ok(irpc_context_set(c, "bad\xFF", "v"));
  size_t before = irpc_buf_len(want);
  assert_irpc_err(irpc_context_encode(c, want), IRPC_EUTF8);
  assert_int_equal(irpc_buf_len(want), before);
  rig_invoke(&r, NULL, req, &o, NULL);
  rig_run(&r);
  assert_int_equal(o.done, 2);
  assert_irpc_err(o.err, IRPC_EUTF8);
  irpc_buf_free(want);
  irpc_outgoing_request_free(req);
  outcome_fini(&o);
  rig_fini(&r, &d, 1);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encoding_bytes),
      cmocka_unit_test(test_through_coloc),
      cmocka_unit_test(test_large_and_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
