/* The test kit: one compiled library every test links. This header holds
 * what every test uses (assertions on irpc errors, a counting allocator,
 * the echo and hold dispatchers, requests, running a loop until a flag is
 * set); kit/rig.h, kit/net.h, kit/payload.h and kit/slice.h hold the
 * fixtures of the in-process, network, compression and Slice tests. */
#ifndef IRPC_TESTS_KIT_H
#define IRPC_TESTS_KIT_H

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
 * 0 disables) and, with fail_more = M, the M allocations after it too;
 * `failed` counts the allocations failed so far. It also counts the bytes
 * held (the allocator's usable size of each block) and their high-water
 * mark, which a test may reset to bytes_live before measuring.
 *
 * test_alloc_install_shared() installs it for tests whose irpc objects live
 * on several threads: its counts are then kept under a mutex (read and set
 * them through the functions below), and a thread may mark itself exempt:
 * its allocations then never fail, do not advance fail_at and are not
 * counted (a peer in the same process frees its blocks when it likes). A
 * test exempts the threads it does not examine, so that the allocations that
 * may fail happen in one order on every run and a sweep failing the Nth of
 * them for N = 1, 2, ... is deterministic. */
typedef struct test_alloc_stats {
  long allocs;
  long frees;
  long live;
  long fail_at;
  long fail_more;
  long failed;
  long failed_before; /* `failed` when test_alloc_arm last ran */
  long long bytes_live;
  long long bytes_peak;
} test_alloc_stats;

extern test_alloc_stats test_alloc;
void test_alloc_install(void);
void test_alloc_install_shared(void);
/* Fails the Nth counted allocation from now and `more` after it (0, 0:
 * none). */
void test_alloc_arm(long n, long more);
/* Disarms it; returns 1 when no allocation failed since it was armed. */
int test_alloc_disarm(void);
/* The counted blocks not freed. */
long test_alloc_live(void);
/* This thread's allocations never fail and are not counted (1), or are (0,
 * the default). */
void test_alloc_set_exempt(int exempt);

/* The echo service: answers Ok with the request's payload (asserting that
 * nothing fails). */
extern const irpc_dispatcher_ops test_echo_ops;

/* Echoes the request's payload, answering InternalError when an allocation
 * fails; kit_echo_oom_ops is the service doing only that. */
void kit_echo_reply(irpc_dispatch *d);
extern const irpc_dispatcher_ops kit_echo_oom_ops;

/* Runs the loop until nothing is left, then asserts that it closes: every
 * handle irpc opened was closed. */
void test_loop_finish(uv_loop_t *loop);

/* Runs the loop until *flag becomes non-zero; a watchdog fails the test
 * after 30 s instead of hanging. */
void kit_run_until(uv_loop_t *loop, const int *flag);

/* A request to `path` (operation "op") carrying `len` bytes of `data`. */
irpc_outgoing_request *kit_request(const char *path, const void *data,
                                   size_t len);

/* A completion callback (connect, shutdown) that stores 1 on success, else
 * the error, into the int `ud` points to: run kit_run_until on it. */
void kit_status_cb(irpc_invoker *inv, int status, void *ud);

/* The hold dispatcher: keeps each dispatch in kit_held (in arrival order,
 * kit_nheld of them) until the test completes it. Reset kit_nheld first. */
#define KIT_HELD_MAX 64
extern irpc_dispatch *kit_held[KIT_HELD_MAX];
extern int kit_nheld;
extern const irpc_dispatcher_ops kit_hold_ops;

#endif
