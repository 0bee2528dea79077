/* Buffer chains: appends, headroom, sharing, slicing and ownership. */
#include <string.h>

#include "kit/kit.h"

static void test_append_and_copyout(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_int_equal(irpc_buf_len(b), 0);
  assert_irpc_ok(irpc_buf_append(b, "hello ", 6));
  assert_irpc_ok(irpc_buf_append(b, "world", 5));
  assert_int_equal(irpc_buf_len(b), 11);
  assert_int_equal(irpc_buf_segment_count(b), 1);
  char out[12] = {0};
  assert_irpc_ok(irpc_buf_copyout(b, 0, out, 11));
  assert_string_equal(out, "hello world");
  assert_irpc_err(irpc_buf_copyout(b, 6, out, 6), IRPC_ERANGE);
  assert_true(irpc_buf_equals(b, "hello world", 11));
  irpc_buf_free(b);
}

static void test_prepend_uses_headroom(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "payload", 7));
  irpc_bytes before = irpc_buf_segment(b, 0);
  assert_irpc_ok(irpc_buf_prepend(b, "HDR:", 4));
  assert_int_equal(irpc_buf_segment_count(b), 1);
  irpc_bytes after = irpc_buf_segment(b, 0);
  assert_ptr_equal(after.base + 4, before.base);
  assert_true(irpc_buf_equals(b, "HDR:payload", 11));
  /* More than the headroom: a new segment in front. */
  char big[IRPC_BUF_HEADROOM * 2];
  memset(big, 'x', sizeof(big));
  assert_irpc_ok(irpc_buf_prepend(b, big, sizeof(big)));
  assert_int_equal(irpc_buf_segment_count(b), 2);
  assert_int_equal(irpc_buf_len(b), 11 + sizeof(big));
  irpc_buf_free(b);
}

static void test_large_append_spans_blocks(void **state) {
  (void)state;
  size_t n = IRPC_BUF_BLOCK_SIZE * 5 + 17;
  uint8_t *data = malloc(n);
  for (size_t i = 0; i < n; i++)
    data[i] = (uint8_t)(i * 7);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, data, n));
  assert_true(irpc_buf_segment_count(b) > 1);
  assert_true(irpc_buf_equals(b, data, n));
  irpc_bytes flat;
  assert_irpc_ok(irpc_buf_pullup(b, &flat));
  assert_int_equal(irpc_buf_segment_count(b), 1);
  assert_int_equal(flat.len, n);
  assert_memory_equal(flat.base, data, n);
  free(data);
  irpc_buf_free(b);
}

static int released;
static void on_release(void *data, void *user_data) {
  (void)data;
  released += *(int *)user_data;
}

static void test_external_shared_and_released_once(void **state) {
  (void)state;
  static char text[] = "external bytes";
  int one = 1;
  released = 0;
  irpc_buf *a, *b;
  assert_irpc_ok(irpc_buf_new(&a));
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append_external(a, text, 14, on_release, &one));
  assert_ptr_equal(irpc_buf_segment(a, 0).base, (const uint8_t *)text);
  assert_irpc_ok(irpc_buf_append_ref(b, a, 9, 5));
  assert_true(irpc_buf_equals(b, "bytes", 5));
  irpc_buf_free(a);
  assert_int_equal(released, 0); /* b still refers to it */
  /* A shared block is never written: appending copies into a new block. */
  assert_irpc_ok(irpc_buf_append(b, "!", 1));
  assert_string_equal(text, "external bytes");
  assert_true(irpc_buf_equals(b, "bytes!", 6));
  irpc_buf_free(b);
  assert_int_equal(released, 1);
}

static void test_shared_block_not_modified(void **state) {
  (void)state;
  irpc_buf *a, *b;
  assert_irpc_ok(irpc_buf_new(&a));
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(a, "abc", 3));
  assert_irpc_ok(irpc_buf_append_ref(b, a, 0, 3));
  assert_irpc_ok(irpc_buf_append(a, "def", 3));
  assert_irpc_ok(irpc_buf_prepend(a, "0", 1));
  assert_true(irpc_buf_equals(a, "0abcdef", 7));
  assert_true(irpc_buf_equals(b, "abc", 3));
  /* Self-reference doubles the content. */
  assert_irpc_ok(irpc_buf_append_ref(b, b, 0, 3));
  assert_true(irpc_buf_equals(b, "abcabc", 6));
  irpc_buf_free(a);
  irpc_buf_free(b);
}

static void test_move_consume_truncate(void **state) {
  (void)state;
  irpc_buf *a, *b;
  assert_irpc_ok(irpc_buf_new(&a));
  assert_irpc_ok(irpc_buf_new(&b));
  for (int i = 0; i < 10; i++) {
    static char piece[] = "0123456789";
    assert_irpc_ok(irpc_buf_append_external(a, piece, 10, NULL, NULL));
  }
  assert_int_equal(irpc_buf_segment_count(a), 10);
  assert_irpc_err(irpc_buf_move(a, a), IRPC_EINVAL);
  assert_irpc_ok(irpc_buf_move(b, a));
  assert_int_equal(irpc_buf_len(a), 0);
  assert_int_equal(irpc_buf_len(b), 100);
  assert_irpc_ok(irpc_buf_consume(b, 15));
  assert_int_equal(irpc_buf_len(b), 85);
  char out[6] = {0};
  assert_irpc_ok(irpc_buf_copyout(b, 0, out, 5));
  assert_string_equal(out, "56789");
  assert_irpc_err(irpc_buf_consume(b, 86), IRPC_ERANGE);
  assert_irpc_ok(irpc_buf_truncate(b, 7));
  assert_true(irpc_buf_equals(b, "5678901", 7));
  assert_irpc_err(irpc_buf_truncate(b, 8), IRPC_ERANGE);
  assert_irpc_ok(irpc_buf_consume(b, 7));
  assert_int_equal(irpc_buf_segment_count(b), 0);
  irpc_buf_free(a);
  irpc_buf_free(b);
}

static void test_reserve_commit(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  uint8_t *at;
  size_t avail;
  assert_irpc_ok(irpc_buf_reserve(b, 100, &at, &avail));
  assert_true(avail >= 100);
  memcpy(at, "xyz", 3);
  assert_irpc_err(irpc_buf_commit(b, avail + 1), IRPC_EINVAL);
  assert_irpc_ok(irpc_buf_commit(b, 3));
  assert_irpc_ok(irpc_buf_reserve(b, 1, &at, &avail));
  at[0] = '!';
  assert_irpc_ok(irpc_buf_commit(b, 1));
  assert_true(irpc_buf_equals(b, "xyz!", 4));
  /* The first block keeps headroom for a header. */
  assert_irpc_ok(irpc_buf_prepend(b, "#", 1));
  assert_int_equal(irpc_buf_segment_count(b), 1);
  irpc_buf_free(b);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  assert_irpc_err(irpc_buf_new(NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_buf_append(NULL, "x", 1), IRPC_EINVAL);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_err(irpc_buf_append(b, NULL, 1), IRPC_EINVAL);
  assert_irpc_ok(irpc_buf_append(b, NULL, 0));
  assert_irpc_err(irpc_buf_append_ref(b, b, 1, 0), IRPC_ERANGE);
  irpc_bytes none = irpc_buf_segment(b, 3);
  assert_null(none.base);
  irpc_buf_free(b);
  irpc_buf_free(NULL);
}

static void test_allocation_failures_leave_chain_intact(void **state) {
  (void)state;
  /* Fail each allocation in turn: every call fails cleanly or succeeds,
   * and nothing leaks. */
  for (long k = 1; k < 40; k++) {
    long live = test_alloc.live;
    irpc_buf *b = NULL;
    test_alloc.fail_at = k;
    if (irpc_buf_new(&b) == 0) {
      for (int i = 0; i < 8; i++) {
        static char ext[] = "ext";
        int rc = irpc_buf_append(b, "0123456789abcdef", 16);
        assert_true(rc == 0 || rc == IRPC_ENOMEM);
        rc = irpc_buf_append_external(b, ext, 3, NULL, NULL);
        assert_true(rc == 0 || rc == IRPC_ENOMEM);
        rc = irpc_buf_prepend(b, ext, 3);
        assert_true(rc == 0 || rc == IRPC_ENOMEM);
      }
      irpc_bytes flat;
      size_t len = irpc_buf_len(b);
      int rc = irpc_buf_pullup(b, &flat);
      assert_true(rc == 0 || rc == IRPC_ENOMEM);
      assert_int_equal(irpc_buf_len(b), len);
      irpc_buf_free(b);
    }
    test_alloc.fail_at = 0;
    assert_int_equal(test_alloc.live, live);
  }
}

/* A chain with `n` full segments, each in a block of its own. */
static irpc_buf *full_segments(size_t n) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  for (size_t i = 0; i < n; i++) {
    uint8_t *at;
    size_t avail;
    assert_irpc_ok(irpc_buf_reserve(b, 0, &at, &avail));
    memset(at, 'a', avail);
    assert_irpc_ok(irpc_buf_commit(b, avail));
  }
  assert_int_equal(irpc_buf_segment_count(b), n);
  return b;
}

/* A chain holds its first segments inline; the next block it takes needs
 * a segment array. Without memory for it, irpc_buf_commit and
 * irpc_buf_append fail with IRPC_ENOMEM, add nothing, and the chain takes
 * the bytes once memory is back (the reserved block is kept). */
static void test_no_room_for_a_segment(void **state) {
  (void)state;
  long live = test_alloc.live;
  irpc_buf *b = full_segments(4);
  size_t len = irpc_buf_len(b);
  uint8_t *at;
  size_t avail;
  assert_irpc_ok(irpc_buf_reserve(b, 0, &at, &avail)); /* a new block */
  memcpy(at, "xyz", 3);
  test_alloc.fail_at = 1;
  assert_irpc_err(irpc_buf_commit(b, 3), IRPC_ENOMEM);
  assert_int_equal(test_alloc.fail_at, 0); /* the segment array's */
  assert_int_equal(irpc_buf_len(b), len);
  assert_int_equal(irpc_buf_segment_count(b), 4);
  assert_irpc_ok(irpc_buf_commit(b, 3));
  assert_int_equal(irpc_buf_len(b), len + 3);
  assert_int_equal(irpc_buf_segment_count(b), 5);
  irpc_buf_free(b);

  b = full_segments(4);
  test_alloc.fail_at = 2; /* the block succeeds, the segment array fails */
  assert_irpc_err(irpc_buf_append(b, "xyz", 3), IRPC_ENOMEM);
  assert_int_equal(test_alloc.fail_at, 0);
  assert_int_equal(irpc_buf_len(b), len);
  assert_int_equal(irpc_buf_segment_count(b), 4);
  assert_irpc_ok(irpc_buf_append(b, "xyz", 3));
  assert_int_equal(irpc_buf_len(b), len + 3);
  assert_int_equal(irpc_buf_segment_count(b), 5);
  irpc_buf_free(b);
  assert_int_equal(test_alloc.live, live);
}

/* With an allocator installed, a chain's blocks go back to it as the chain
 * is freed: none is kept for reuse. */
static void test_installed_allocator_gets_blocks_back(void **state) {
  (void)state;
  static uint8_t bytes[64 * 1024];
  for (int round = 0; round < 2; round++) {
    long live = test_alloc.live, allocs = test_alloc.allocs;
    irpc_buf *b;
    assert_irpc_ok(irpc_buf_new(&b));
    assert_irpc_ok(irpc_buf_append(b, bytes, sizeof bytes));
    long segs = (long)irpc_buf_segment_count(b);
    assert_true(segs > 2);
    irpc_buf_free(b);
    assert_int_equal(test_alloc.live, live);
    /* each round allocates every block anew */
    assert_true(test_alloc.allocs - allocs >= segs);
  }
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_and_copyout),
      cmocka_unit_test(test_prepend_uses_headroom),
      cmocka_unit_test(test_large_append_spans_blocks),
      cmocka_unit_test(test_external_shared_and_released_once),
      cmocka_unit_test(test_shared_block_not_modified),
      cmocka_unit_test(test_move_consume_truncate),
      cmocka_unit_test(test_reserve_commit),
      cmocka_unit_test(test_no_room_for_a_segment),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_allocation_failures_leave_chain_intact),
      cmocka_unit_test(test_installed_allocator_gets_blocks_back),
  };
  return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
