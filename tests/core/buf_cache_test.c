/* The full-size blocks of buffer chains are reused on their thread while
 * the C library's allocator is in force (this program installs none), and
 * go back to it when the thread ends. */
#include <pthread.h>
#include <string.h>

#include "kit/kit.h"

#define CHAIN_BYTES (64 * 1024)
#define MAX_SEGS 64

/* A chain of CHAIN_BYTES: a small first block, then full-size ones. */
static size_t fill(irpc_buf *b, const uint8_t *seg[MAX_SEGS]) {
  static uint8_t bytes[CHAIN_BYTES];
  memset(bytes, 0x5a, sizeof bytes);
  assert_irpc_ok(irpc_buf_append(b, bytes, sizeof bytes));
  size_t n = irpc_buf_segment_count(b);
  assert_true(n > 2 && n <= MAX_SEGS);
  for (size_t i = 0; i < n; i++)
    seg[i] = irpc_buf_segment(b, i).base;
  return n;
}

static int has(const uint8_t *const seg[], size_t n, const uint8_t *p) {
  for (size_t i = 0; i < n; i++)
    if (seg[i] == p)
      return 1;
  return 0;
}

static void test_freed_blocks_are_reused(void **state) {
  (void)state;
  const uint8_t *first[MAX_SEGS], *again[MAX_SEGS];
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  size_t n = fill(b, first);
  irpc_buf_free(b);
  assert_irpc_ok(irpc_buf_new(&b));
  size_t m = fill(b, again);
  assert_int_equal(m, n);
  /* every full-size block (all but the first) is one freed before */
  for (size_t i = 1; i < m; i++)
    assert_true(has(first + 1, n - 1, again[i]));
  assert_int_equal(irpc_buf_len(b), CHAIN_BYTES);
  irpc_buf_free(b);
}

static void *churn(void *arg) {
  const uint8_t *seg[MAX_SEGS];
  irpc_buf *b;
  (void)arg;
  for (int i = 0; i < 4; i++) {
    if (irpc_buf_new(&b) != 0)
      return "irpc_buf_new failed";
    fill(b, seg);
    irpc_buf_free(b);
  }
  return NULL;
}

/* The thread's cached blocks are freed when it ends (the leak checker of
 * the sanitizer build reports them otherwise). */
static void test_thread_end_frees_its_blocks(void **state) {
  (void)state;
  pthread_t t;
  void *res = (void *)"not run";
  assert_int_equal(pthread_create(&t, NULL, churn, NULL), 0);
  assert_int_equal(pthread_join(t, &res), 0);
  assert_null(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_freed_blocks_are_reused),
      cmocka_unit_test(test_thread_end_frees_its_blocks),
  };
  return cmocka_run_group_tests_name("buf_cache", tests, NULL, NULL);
}
