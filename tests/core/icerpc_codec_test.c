/* The icerpc frames byte for byte against IceRPC's examples, and the
 * decoders' checks. */
#include <string.h>

#include "kit/kit.h"

#include "protocol/icerpc/icerpc.h"

static void expect(irpc_buf *b, const uint8_t *want, size_t n) {
  uint8_t got[256];
  assert_int_equal(irpc_buf_len(b), n);
  irpc_buf_copyout(b, 0, got, n);
  assert_memory_equal(got, want, n);
}

static void default_settings(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc__icerpc_settings_encode(b, 16383, 0));
  static const uint8_t want[] = {0x00, 0x05, 0x00, 0x00};
  expect(b, want, sizeof want);
  /* and it decodes to the defaults */
  int type;
  irpc__icerpc_settings s;
  uint64_t ids[2];
  assert_int_equal(irpc__icerpc_control_decode(want, 4, &type, &s, ids), 4);
  assert_int_equal(type, IRPC__ICERPC_SETTINGS);
  assert_int_equal(s.max_header_size, 16383);
  assert_false(s.has_compression_formats);
  irpc_buf_free(b);
}

static void settings_values(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc__icerpc_settings_encode(b, 100000, 6));
  uint8_t raw[64];
  size_t n = irpc_buf_len(b);
  irpc_buf_copyout(b, 0, raw, n);
  int type;
  irpc__icerpc_settings s;
  uint64_t ids[2];
  assert_int_equal(irpc__icerpc_control_decode(raw, n, &type, &s, ids),
                   (long)n);
  assert_int_equal(s.max_header_size, 100000);
  assert_int_equal(s.compression_formats, 6);
  /* incomplete input asks for more */
  assert_int_equal(irpc__icerpc_control_decode(raw, n - 1, &type, &s, ids), 0);
  irpc_buf_free(b);
  /* max header size out of 63..1,048,575 */
  static const uint8_t low[] = {0x00, 0x0D, 0x00, 0x04, 0x00, 0xF8};
  assert_int_equal(irpc__icerpc_control_decode(low, sizeof low, &type, &s, ids),
                   IRPC_EPROTO);
  /* unknown keys are ignored */
  static const uint8_t unk[] = {0x00, 0x0D, 0x00, 0x04, 0x14, 0x04};
  assert_int_equal(irpc__icerpc_control_decode(unk, sizeof unk, &type, &s, ids),
                   6);
  /* unknown frame type, body over the limit, bytes left in a body */
  static const uint8_t badtype[] = {0x02, 0x01, 0x00};
  assert_int_equal(
      irpc__icerpc_control_decode(badtype, sizeof badtype, &type, &s, ids),
      IRPC_EPROTO);
  static const uint8_t big[] = {0x00, 0x06, 0x10, 0x00, 0x00};
  assert_int_equal(irpc__icerpc_control_decode(big, sizeof big, &type, &s, ids),
                   IRPC_EPROTO);
  static const uint8_t extra[] = {0x00, 0x09, 0x00, 0x00, 0x00};
  assert_int_equal(
      irpc__icerpc_control_decode(extra, sizeof extra, &type, &s, ids),
      IRPC_EPROTO);
}

static void goaway(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  /* a client that accepted nothing: bidirectional 1, unidirectional 7 */
  assert_irpc_ok(irpc__icerpc_goaway_encode(b, 1, 7));
  static const uint8_t want[] = {0x01, 0x09, 0x00, 0x04, 0x1C};
  expect(b, want, sizeof want);
  int type;
  irpc__icerpc_settings s;
  uint64_t ids[2];
  assert_int_equal(irpc__icerpc_control_decode(want, 5, &type, &s, ids), 5);
  assert_int_equal(type, IRPC__ICERPC_GOAWAY);
  assert_int_equal(ids[0], 1);
  assert_int_equal(ids[1], 7);
  irpc_buf_free(b);
}

static void request_header(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(
      irpc__icerpc_request_header_encode(b, 2, 16383, "/foo", "op", NULL));
  static const uint8_t want[] = {0x25, 0x00, 0x10, 0x2F, 0x66, 0x6F,
                                 0x6F, 0x08, 0x6F, 0x70, 0x00};
  expect(b, want, sizeof want);
  uint64_t size;
  assert_int_equal(irpc__icerpc_header_size(want, sizeof want, 16383, &size),
                   2);
  assert_int_equal(size, 9);
  irpc_incoming_request *req;
  assert_irpc_ok(irpc__icerpc_request_header_decode(want + 2, 9, 0, &req));
  assert_string_equal(irpc_incoming_request_path(req), "/foo");
  assert_string_equal(irpc_incoming_request_operation(req), "op");
  irpc_incoming_request_free(req);
  irpc_buf_free(b);
}

static void request_fields(void **state) {
  (void)state;
  irpc_outgoing_request *r;
  assert_irpc_ok(irpc_outgoing_request_new(&r, "/a", "b"));
  irpc_fields *f = irpc_outgoing_request_fields(r);
  assert_irpc_ok(irpc_fields_set(f, IRPC_REQUEST_FIELD_IDEMPOTENT, NULL, 0));
  assert_irpc_ok(irpc_fields_set(f, 7, "xyz", 3));
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc__icerpc_request_header_encode(b, 2, 16383, "/a", "b", f));
  uint8_t raw[64];
  size_t n = irpc_buf_len(b);
  irpc_buf_copyout(b, 0, raw, n);
  irpc_incoming_request *in;
  assert_irpc_ok(irpc__icerpc_request_header_decode(raw + 2, n - 2, 1, &in));
  assert_true(irpc_incoming_request_oneway(in));
  irpc_bytes v;
  assert_irpc_ok(irpc_fields_get(irpc_incoming_request_fields(in), 7, &v));
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.base, "xyz", 3);
  assert_true(irpc_fields_has(irpc_incoming_request_fields(in),
                              IRPC_REQUEST_FIELD_IDEMPOTENT));
  irpc_incoming_request_free(in);
  /* over the peer's max header size */
  irpc_buf_clear(b);
  assert_int_equal(irpc__icerpc_request_header_encode(b, 2, 8, "/a", "b", f),
                   IRPC_ELIMIT);
  irpc_buf_free(b);
  irpc_outgoing_request_free(r);
}

static void request_header_errors(void **state) {
  (void)state;
  irpc_incoming_request *req;
  /* duplicate field key */
  static const uint8_t dup[] = {0x08, '/',  'a',  0x04, 'b',
                                0x08, 0x00, 0x00, 0x00, 0x00};
  assert_int_equal(irpc__icerpc_request_header_decode(dup, sizeof dup, 0, &req),
                   IRPC_EPROTO);
  /* invalid path */
  static const uint8_t path[] = {0x08, 'a', 'b', 0x04, 'b', 0x00};
  assert_true(irpc__icerpc_request_header_decode(path, sizeof path, 0, &req) <
              0);
  /* bytes left over */
  static const uint8_t left[] = {0x08, '/', 'a', 0x04, 'b', 0x00, 0x00};
  assert_int_equal(
      irpc__icerpc_request_header_decode(left, sizeof left, 0, &req),
      IRPC_EPROTO);
  /* a string longer than the header */
  static const uint8_t lng[] = {0x28, '/', 'a'};
  assert_int_equal(irpc__icerpc_request_header_decode(lng, sizeof lng, 0, &req),
                   IRPC_EPROTO);
  /* more fields than bytes could hold */
  static const uint8_t many[] = {0x08, '/', 'a', 0x04, 'b', 0x40, 0x00};
  assert_int_equal(
      irpc__icerpc_request_header_decode(many, sizeof many, 0, &req),
      IRPC_EPROTO);
  /* an operation name that is not UTF-8 (a lone continuation byte, then
   * an overlong '/') */
  static const uint8_t bad_op[] = {0x08, '/', 'a', 0x04, 0x80, 0x00};
  assert_int_equal(
      irpc__icerpc_request_header_decode(bad_op, sizeof bad_op, 0, &req),
      IRPC_EPROTO);
  static const uint8_t overlong[] = {0x08, '/', 'a', 0x08, 0xC0, 0xAF, 0x00};
  assert_int_equal(
      irpc__icerpc_request_header_decode(overlong, sizeof overlong, 0, &req),
      IRPC_EPROTO);
  /* the same request with a two-byte UTF-8 operation name decodes */
  static const uint8_t good_op[] = {0x08, '/', 'a', 0x08, 0xC3, 0xA9, 0x00};
  assert_irpc_ok(
      irpc__icerpc_request_header_decode(good_op, sizeof good_op, 0, &req));
  assert_string_equal(irpc_incoming_request_operation(req), "\xC3\xA9");
  irpc_incoming_request_free(req);
  /* size 0 and size over the max */
  uint64_t size;
  static const uint8_t zero[] = {0x01, 0x00};
  assert_int_equal(irpc__icerpc_header_size(zero, 2, 16383, &size),
                   IRPC_EPROTO);
  static const uint8_t over[] = {0x02, 0x00, 0x01, 0x00};
  assert_int_equal(irpc__icerpc_header_size(over, 4, 16383, &size),
                   IRPC_ELIMIT);
}

static void response_header(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc__icerpc_response_header_encode(
      b, 2, 16383, IRPC_STATUS_OK, NULL, NULL));
  static const uint8_t want[] = {0x09, 0x00, 0x00, 0x00};
  expect(b, want, sizeof want);
  irpc_incoming_response *r;
  assert_irpc_ok(irpc__icerpc_response_header_decode(want + 2, 2, &r));
  assert_int_equal(irpc_incoming_response_status(r), IRPC_STATUS_OK);
  irpc_incoming_response_free(r);
  /* an error status carries its message */
  irpc_buf_clear(b);
  assert_irpc_ok(irpc__icerpc_response_header_encode(
      b, 2, 16383, IRPC_STATUS_NOT_FOUND, "gone", NULL));
  uint8_t raw[32];
  size_t n = irpc_buf_len(b);
  irpc_buf_copyout(b, 0, raw, n);
  assert_irpc_ok(irpc__icerpc_response_header_decode(raw + 2, n - 2, &r));
  assert_int_equal(irpc_incoming_response_status(r), IRPC_STATUS_NOT_FOUND);
  assert_string_equal(irpc_incoming_response_error_message(r), "gone");
  irpc_incoming_response_free(r);
  /* an error message that is not UTF-8 */
  static const uint8_t bad_msg[] = {0x0C, 0x04, 0xFF, 0x00};
  assert_int_equal(
      irpc__icerpc_response_header_decode(bad_msg, sizeof bad_msg, &r),
      IRPC_EPROTO);
  irpc_buf_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(default_settings),
      cmocka_unit_test(settings_values),
      cmocka_unit_test(goaway),
      cmocka_unit_test(request_header),
      cmocka_unit_test(request_fields),
      cmocka_unit_test(request_header_errors),
      cmocka_unit_test(response_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
