/* Field dictionaries: replacing values in place, compaction, values that
 * point into the dictionary itself, and the allocator. */
#include "kit/rig.h"

/* A value set again and again with the same size (a deadline, a trace
 * context on a reused request) never allocates, even past the inline
 * arena. */
static void test_replace_same_size_no_allocation(void **state) {
  (void)state;
  irpc_outgoing_request *r = kit_request("/f", NULL, 0);
  irpc_fields *f = irpc_outgoing_request_fields(r);
  uint8_t v[28];
  memset(v, 1, sizeof v);
  assert_irpc_ok(irpc_fields_set(f, 1, v, sizeof v));
  assert_irpc_ok(irpc_fields_set(f, 3, "deadline", 8));
  long allocs = test_alloc.allocs;
  for (int i = 0; i < 1000; i++) {
    memset(v, i, sizeof v);
    assert_irpc_ok(irpc_fields_set(f, 1, v, sizeof v));
    assert_irpc_ok(irpc_fields_set(f, 3, &i, sizeof i));
  }
  assert_int_equal(test_alloc.allocs, allocs);
  assert_field(f, 1, v, sizeof v);
  int last = 999;
  assert_field(f, 3, &last, sizeof last);
  /* Shorter, then longer again: still in place. */
  assert_irpc_ok(irpc_fields_set(f, 1, "ab", 2));
  assert_irpc_ok(irpc_fields_set(f, 1, v, sizeof v));
  assert_int_equal(test_alloc.allocs, allocs);
  assert_field(f, 1, v, sizeof v);
  assert_int_equal(irpc_fields_count(f), 2);
  irpc_outgoing_request_free(r);
}

/* Growing values that are not last leave garbage; compaction reclaims it
 * in place while the live values fit, so every value stays intact. */
static void test_compaction_keeps_values(void **state) {
  (void)state;
  irpc_outgoing_request *r = kit_request("/f", NULL, 0);
  irpc_fields *f = irpc_outgoing_request_fields(r);
  char a[20], b[20], c[20];
  long allocs = test_alloc.allocs;
  for (int i = 0; i < 200; i++) {
    size_t n = (size_t)(i % 19) + 1;
    memset(a, 'a' + i % 26, n);
    memset(b, 'A' + i % 26, 20 - n);
    memset(c, '0' + i % 10, n);
    assert_irpc_ok(irpc_fields_set(f, 10, a, n));
    assert_irpc_ok(irpc_fields_set(f, 11, b, 20 - n));
    assert_irpc_ok(irpc_fields_set(f, 12, c, n));
    assert_field(f, 10, a, n);
    assert_field(f, 11, b, 20 - n);
    assert_field(f, 12, c, n);
  }
  /* At most 39 live bytes plus the value being set: the 64-byte inline
   * arena always suffices. */
  assert_int_equal(test_alloc.allocs, allocs);
  assert_int_equal(irpc_fields_count(f), 3);
  /* Removing the last value frees its space too. */
  assert_irpc_ok(irpc_fields_remove(f, 12));
  assert_irpc_ok(irpc_fields_set(f, 13, "0123456789", 10));
  assert_field(f, 13, "0123456789", 10);
  irpc_outgoing_request_free(r);
}

/* A value read from the dictionary and set under another key, while the
 * arena has to grow or compact: the source bytes are read before the old
 * arena goes away. */
static void test_value_aliasing_the_arena(void **state) {
  (void)state;
  irpc_outgoing_request *r = kit_request("/f", NULL, 0);
  irpc_fields *f = irpc_outgoing_request_fields(r);
  char big[48];
  memset(big, 'x', sizeof big);
  assert_irpc_ok(irpc_fields_set(f, 1, big, sizeof big));
  irpc_bytes v;
  assert_irpc_ok(irpc_fields_get(f, 1, &v));
  assert_irpc_ok(irpc_fields_set(f, 2, v.base, v.len)); /* must grow */
  assert_field(f, 1, big, sizeof big);
  assert_field(f, 2, big, sizeof big);
  for (int i = 0; i < 50; i++) {
    assert_irpc_ok(irpc_fields_get(f, (uint64_t)(1 + i % 2), &v));
    assert_irpc_ok(irpc_fields_set(f, (uint64_t)(2 - i % 2), v.base, v.len));
    assert_irpc_ok(irpc_fields_get(f, 1, &v));
    assert_irpc_ok(irpc_fields_set(f, 1, v.base + 1, v.len - 1 - (i % 3)));
    assert_irpc_ok(irpc_fields_get(f, 1, &v));
    for (size_t k = 0; k < v.len; k++)
      assert_int_equal(v.base[k], 'x');
    /* Back to full size: the value grows (the other one follows it). */
    assert_irpc_ok(irpc_fields_set(f, 1, big, sizeof big));
  }
  assert_field(f, 1, big, sizeof big);
  /* The heap arena is full: the copy moves to a bigger one, and the old one
   * (where the source lives) is freed only after the copy. */
  assert_irpc_ok(irpc_fields_get(f, 2, &v));
  assert_irpc_ok(irpc_fields_set(f, 3, v.base, v.len));
  assert_field(f, 3, big, sizeof big);
  assert_field(f, 2, big, sizeof big);
  irpc_outgoing_request_free(r);
}

/* A failed allocation while growing leaves the dictionary as it was. */
static void test_enomem_keeps_old_value(void **state) {
  (void)state;
  irpc_outgoing_request *r = kit_request("/f", NULL, 0);
  irpc_fields *f = irpc_outgoing_request_fields(r);
  assert_irpc_ok(irpc_fields_set(f, 1, "first", 5));
  assert_irpc_ok(irpc_fields_set(f, 2, "second", 6));
  char big[200];
  memset(big, 'b', sizeof big);
  test_alloc.fail_at = 1;
  assert_irpc_err(irpc_fields_set(f, 1, big, sizeof big), IRPC_ENOMEM);
  test_alloc.fail_at = 0;
  assert_field(f, 1, "first", 5);
  assert_field(f, 2, "second", 6);
  assert_irpc_ok(irpc_fields_set(f, 1, big, sizeof big));
  assert_field(f, 1, big, sizeof big);
  assert_field(f, 2, "second", 6);
  irpc_outgoing_request_free(r);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replace_same_size_no_allocation),
      cmocka_unit_test(test_compaction_keeps_values),
      cmocka_unit_test(test_value_aliasing_the_arena),
      cmocka_unit_test(test_enomem_keeps_old_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
