/* Frames, fields, features, status codes, errors and the version. */
#include <string.h>

#include "kit/kit.h"

static void test_status_names(void **state) {
  (void)state;
  static const char *names[] = {"Ok",
                                "ApplicationError",
                                "NotFound",
                                "NotImplemented",
                                "Unavailable",
                                "InternalError",
                                "InvalidData",
                                "TruncatedPayload",
                                "DeadlineExceeded",
                                "Unauthorized",
                                "NotSupported"};
  for (uint64_t i = 0; i <= IRPC_STATUS_NOT_SUPPORTED; i++)
    assert_string_equal(irpc_status_name(i), names[i]);
  assert_string_equal(irpc_status_name(11), "Unknown");
  assert_string_equal(irpc_status_name(IRPC_VARUINT62_MAX), "Unknown");
}

static void test_errors(void **state) {
  (void)state;
  assert_string_equal(irpc_err_name(IRPC_EPATH), "IRPC_EPATH");
  assert_string_equal(irpc_strerror(IRPC_EPATH), "invalid path");
  assert_string_equal(irpc_err_name(IRPC_EINVAL), "EINVAL");
  assert_string_equal(irpc_strerror(UV_ECONNREFUSED), "connection refused");
  assert_string_equal(irpc_err_name(0), "OK");
  assert_string_equal(irpc_err_name(-999999), "UNKNOWN");
  assert_string_equal(irpc_strerror(-999999), "unknown error");
  assert_string_equal(irpc_strerror(12345), "unknown error");
  /* irpc's codes never collide with libuv's. */
  assert_true((int)IRPC_ECLOSED < (int)UV_EOF);
}

static void test_version(void **state) {
  (void)state;
  assert_int_equal(irpc_version(), IRPC_VERSION_HEX);
  char want[32];
  snprintf(want, sizeof(want), "%d.%d.%d%s", IRPC_VERSION_MAJOR,
           IRPC_VERSION_MINOR, IRPC_VERSION_PATCH, IRPC_VERSION_SUFFIX);
  assert_string_equal(irpc_version_string(), want);
}

static void test_fields(void **state) {
  (void)state;
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/a", "op"));
  irpc_fields *f = irpc_outgoing_request_fields(req);
  irpc_bytes v;
  assert_irpc_err(irpc_fields_get(f, 0, &v), IRPC_ENOTFOUND);
  assert_irpc_ok(irpc_fields_set(f, IRPC_REQUEST_FIELD_IDEMPOTENT, NULL, 0));
  assert_true(irpc_fields_has(f, IRPC_REQUEST_FIELD_IDEMPOTENT));
  assert_irpc_ok(irpc_fields_get(f, IRPC_REQUEST_FIELD_IDEMPOTENT, &v));
  assert_int_equal(v.len, 0);
  assert_irpc_err(irpc_fields_set(f, IRPC_VARUINT62_MAX + 1, "x", 1),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_fields_set(f, IRPC_VARUINT62_MAX, "max", 3));
  /* Many keys and large values: past the inline storage. */
  char big[300];
  memset(big, 'z', sizeof(big));
  for (uint64_t k = 100; k < 120; k++)
    assert_irpc_ok(irpc_fields_set(f, k, big, (size_t)k));
  assert_int_equal(irpc_fields_count(f), 22);
  /* Replacing keeps one entry per key. */
  assert_irpc_ok(irpc_fields_set(f, 105, "new", 3));
  assert_int_equal(irpc_fields_count(f), 22);
  assert_irpc_ok(irpc_fields_get(f, 105, &v));
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.base, "new", 3);
  assert_irpc_ok(irpc_fields_get(f, 119, &v));
  assert_int_equal(v.len, 119);
  assert_irpc_ok(irpc_fields_get(f, IRPC_VARUINT62_MAX, &v));
  assert_memory_equal(v.base, "max", 3);
  /* Copy, remove, iterate in insertion order. */
  irpc_incoming_response *resp;
  assert_irpc_ok(irpc_incoming_response_new(&resp, 0, NULL));
  irpc_fields *g = irpc_incoming_response_fields(resp);
  assert_irpc_ok(irpc_fields_copy(g, f));
  assert_irpc_ok(irpc_fields_remove(f, 105));
  assert_irpc_err(irpc_fields_remove(f, 105), IRPC_ENOTFOUND);
  assert_int_equal(irpc_fields_count(f), 21);
  assert_int_equal(irpc_fields_count(g), 22);
  uint64_t key;
  assert_irpc_ok(irpc_fields_at(g, 0, &key, &v));
  assert_int_equal(key, IRPC_REQUEST_FIELD_IDEMPOTENT);
  assert_irpc_err(irpc_fields_at(g, 22, &key, &v), IRPC_ERANGE);
  irpc_fields_clear(g);
  assert_int_equal(irpc_fields_count(g), 0);
  assert_irpc_err(irpc_fields_set(NULL, 1, "x", 1), IRPC_EINVAL);
  assert_irpc_err(irpc_fields_set(f, 1, NULL, 1), IRPC_EINVAL);
  irpc_incoming_response_free(resp);
  irpc_outgoing_request_free(req);
}

static int destroyed;
static void count_destroy(void *v) {
  destroyed += *(int *)v;
}

static const irpc_feature_key owned_key = {.name = "owned",
                                           .destroy = count_destroy};
static const irpc_feature_key plain_key = {.name = "plain"};

static void test_features(void **state) {
  (void)state;
  static int one = 1, ten = 10, hundred = 100;
  destroyed = 0;
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/a", "op"));
  irpc_features *f = irpc_outgoing_request_features(req);
  assert_null(irpc_features_get(f, &owned_key));
  assert_irpc_ok(irpc_features_set(f, &owned_key, &one));
  assert_irpc_ok(irpc_features_set(f, &plain_key, &ten));
  assert_ptr_equal(irpc_features_get(f, &owned_key), &one);
  assert_ptr_equal(irpc_features_get(f, &plain_key), &ten);
  /* Replacing releases the old value; NULL removes. */
  assert_irpc_ok(irpc_features_set(f, &owned_key, &ten));
  assert_int_equal(destroyed, 1);
  assert_irpc_ok(irpc_features_set(f, &owned_key, NULL));
  assert_int_equal(destroyed, 11);
  assert_int_equal(irpc_features_count(f), 1);
  /* Many keys go past the inline storage. */
  static irpc_feature_key keys[10];
  for (int i = 0; i < 10; i++) {
    keys[i] = (irpc_feature_key){.name = "k"};
    assert_irpc_ok(irpc_features_set(f, &keys[i], &hundred));
  }
  assert_int_equal(irpc_features_count(f), 11);
  assert_ptr_equal(irpc_features_get(f, &keys[9]), &hundred);
  assert_irpc_ok(irpc_features_set(f, &owned_key, &hundred));
  irpc_outgoing_request_free(req); /* releases owned values */
  assert_int_equal(destroyed, 111);
  assert_irpc_err(irpc_features_set(NULL, &plain_key, &one), IRPC_EINVAL);
}

static void test_frames(void **state) {
  (void)state;
  irpc_outgoing_request *req;
  assert_irpc_err(irpc_outgoing_request_new(&req, "/a", ""), IRPC_EINVAL);
  assert_irpc_err(irpc_outgoing_request_new(&req, "/a", NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_outgoing_request_new(&req, "a", "op"), IRPC_EPATH);
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/Greeter", "greet"));
  assert_string_equal(irpc_outgoing_request_path(req), "/Greeter");
  assert_string_equal(irpc_outgoing_request_operation(req), "greet");
  assert_int_equal(irpc_outgoing_request_oneway(req), 0);
  irpc_outgoing_request_set_oneway(req, 7);
  assert_int_equal(irpc_outgoing_request_oneway(req), 1);
  /* idempotent: the field, set and removed through the frame's setter */
  irpc_fields *f = irpc_outgoing_request_fields(req);
  assert_int_equal(irpc_outgoing_request_idempotent(req), 0);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 3));
  assert_int_equal(irpc_outgoing_request_idempotent(req), 1);
  assert_int_equal(irpc_fields_has(f, IRPC_REQUEST_FIELD_IDEMPOTENT), 1);
  irpc_bytes v;
  assert_irpc_ok(irpc_fields_get(f, IRPC_REQUEST_FIELD_IDEMPOTENT, &v));
  assert_int_equal(v.len, 0);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  assert_int_equal(irpc_fields_count(f), 1);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 0));
  assert_int_equal(irpc_outgoing_request_idempotent(req), 0);
  assert_int_equal(irpc_fields_count(f), 0);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 0));
  assert_irpc_err(irpc_outgoing_request_set_idempotent(NULL, 1), IRPC_EINVAL);
  assert_int_equal(irpc_outgoing_request_idempotent(NULL), 0);
  irpc_outgoing_request_free(req);
  irpc_outgoing_request_free(NULL);

  irpc_outgoing_response *r;
  assert_irpc_err(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, "msg"),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_outgoing_response_new(&r, IRPC_VARUINT62_MAX + 1, NULL),
                  IRPC_EOVERFLOW);
  assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
  assert_null(irpc_outgoing_response_error_message(r));
  irpc_outgoing_response_free(r);
  assert_irpc_ok(
      irpc_outgoing_response_new(&r, IRPC_STATUS_DEADLINE_EXCEEDED, NULL));
  assert_string_equal(irpc_outgoing_response_error_message(r),
                      "The dispatch failed with status code DeadlineExceeded.");
  irpc_outgoing_response_free(r);
  irpc_incoming_response *in;
  assert_irpc_ok(irpc_incoming_response_new(&in, 77, NULL));
  assert_int_equal(irpc_incoming_response_status(in), 77);
  assert_string_equal(irpc_incoming_response_error_message(in),
                      "The dispatch failed with status code 77.");
  irpc_incoming_response_free(in);

  irpc_incoming_request *ir;
  assert_irpc_ok(irpc_incoming_request_new(&ir, "/x", "op", 1));
  assert_int_equal(irpc_incoming_request_oneway(ir), 1);
  assert_string_equal(irpc_incoming_request_path(ir), "/x");
  assert_irpc_ok(irpc_buf_append(irpc_incoming_request_payload(ir), "p", 1));
  irpc_incoming_request_free(ir);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_names), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_version),      cmocka_unit_test(test_fields),
      cmocka_unit_test(test_features),     cmocka_unit_test(test_frames),
  };
  return cmocka_run_group_tests_name("frames", tests, NULL, NULL);
}
