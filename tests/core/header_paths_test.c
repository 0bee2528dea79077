/* The public headers a program may include alone: each one brings what its
 * declarations need. irpc/retry.h still declares the idempotent setter (it
 * lives in irpc/frames.h, which retry.h includes). */
#include <irpc/retry.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <irpc/error.h>

static void test_retry_header_declares_idempotent(void **state) {
  (void)state;
  irpc_outgoing_request *req;
  assert_int_equal(irpc_outgoing_request_new(&req, "/a", "op"), 0);
  assert_int_equal(irpc_outgoing_request_set_idempotent(req, 1), 0);
  assert_int_equal(irpc_outgoing_request_idempotent(req), 1);
  irpc_outgoing_request_free(req);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_header_declares_idempotent),
  };
  return cmocka_run_group_tests_name("header_paths", tests, NULL, NULL);
}
