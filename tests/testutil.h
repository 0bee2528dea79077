/* Shared helpers for the cmocka tests. */
#ifndef IRPC_TESTUTIL_H
#define IRPC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <irpc/irpc.h>

/* Asserts that an irpc call returned 0, naming the error otherwise. */
#define assert_irpc_ok(expr)                                                   \
  test_irpc_check((expr), 0, #expr, __FILE__, __LINE__)
/* Asserts that an irpc call returned exactly `code`. */
#define assert_irpc_err(expr, code)                                            \
  test_irpc_check((expr), (code), #expr, __FILE__, __LINE__)

void test_irpc_check(int got, int want, const char *expr, const char *file,
                     int line);

/* A counting allocator: install with test_alloc_install(); counts live
 * allocations and can fail the Nth allocation from now (fail_at = N, 1-based;
 * 0 disables). It also counts the bytes held (the allocator's usable size of
 * each block) and their high-water mark, which a test may reset to
 * bytes_live before measuring. */
typedef struct test_alloc_stats {
  long allocs;
  long frees;
  long live;
  long fail_at;
  long long bytes_live;
  long long bytes_peak;
} test_alloc_stats;

extern test_alloc_stats test_alloc;
void test_alloc_install(void);

/* The echo service: answers Ok with the request's payload (asserting that
 * nothing fails). */
extern const irpc_dispatcher_ops test_echo_ops;

/* Runs the loop until nothing is left, then asserts that it closes: every
 * handle irpc opened was closed. */
void test_loop_finish(uv_loop_t *loop);

#endif
