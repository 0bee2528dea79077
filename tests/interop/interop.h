/* The interop suite's shared part: the checks (tests/interop/peer.py runs
 * them from the Ice side), and starting the ZeroC Ice peers of peer.py. */
#ifndef IRPC_TESTS_INTEROP_H
#define IRPC_TESTS_INTEROP_H

#include "kit/icegrid.h"
#include "kit/peer.h"

#ifndef IRPC_ICE_PYTHON
#error "IRPC_ICE_PYTHON: a python3 that imports Ice"
#endif
#ifndef IRPC_INTEROP_DIR
#error "IRPC_INTEROP_DIR: the folder of peer.py and Interop.ice"
#endif

/* Every check of the suite, in the order peer.py runs them: X(name). */
#define INTEROP_CHECKS(X)                                                      \
  X(primitives)                                                                \
  X(structs)                                                                   \
  X(containers)                                                                \
  X(enums)                                                                     \
  X(optionals)                                                                 \
  X(exceptions)                                                                \
  X(context)                                                                   \
  X(oneway)                                                                    \
  X(idempotent_retry)                                                          \
  X(not_idempotent)                                                            \
  X(large_payload)                                                             \
  X(compression)                                                               \
  X(ping_isa)                                                                  \
  X(callback)                                                                  \
  X(close_by_client)                                                           \
  X(close_by_server)

/* Defines test_<name> for each check and test_client_exit_status, for
 * the suites where peer.py's Ice client ran the checks against an irpc
 * server: `client` names its kit_peer, `status` its exit status. */
#define INTEROP_CLIENT_TESTS(client, status)                                   \
  static const kit_peer *interop_client(void) {                                \
    return &(client);                                                          \
  }                                                                            \
  INTEROP_CHECKS(INTEROP_CHECK_TEST_)                                          \
  static void test_client_exit_status(void **state) {                          \
    (void)state;                                                               \
    assert_true(kit_peer_has_line(&(client), "done 16 passed 0 failed"));      \
    assert_int_equal((status), 0);                                             \
  }
#define INTEROP_CHECK_TEST_(name)                                              \
  static void test_##name(void **state) {                                      \
    (void)state;                                                               \
    interop_expect_pass(interop_client(), #name);                              \
  }
/* Their cmocka entries, in order. */
#define INTEROP_CLIENT_TEST_ENTRIES                                            \
  INTEROP_CHECKS(INTEROP_CHECK_ENTRY_) cmocka_unit_test(test_client_exit_status)
#define INTEROP_CHECK_ENTRY_(name) cmocka_unit_test(test_##name),

/* The checks of the protocol alone against an echo server (peer.py echo). */
#define INTEROP_ECHO_CHECKS(X)                                                 \
  X(echo_small)                                                                \
  X(echo_modes)                                                                \
  X(echo_context)                                                              \
  X(echo_large)                                                                \
  X(echo_compressed)                                                           \
  X(echo_in_flight)                                                            \
  X(echo_oneway)                                                               \
  X(echo_ping_heartbeat)                                                       \
  X(echo_not_found)                                                            \
  X(echo_close)

/* Starts an echo server (`argv`, looked up in PATH) that prints its
 * address, "ice://127.0.0.1:PORT", when ready; returns the port or fails
 * the test. */
int interop_echo_server_start(kit_peer *p, uv_loop_t *loop,
                              const char *const *argv);

/* Starts the Ice server of peer.py (identity "test" on a free loopback
 * port), with `extra` arguments (NULL-terminated, may be NULL), and waits
 * until it is ready. Fills *port and proxy (its direct proxy string).
 * Returns 0 or fails the test. */
void interop_ice_server_start(kit_peer *p, uv_loop_t *loop,
                              const char *const *extra, int *port, char *proxy,
                              size_t size);

/* Runs peer.py `mode` ("client", "echo" or "grid") with `args`
 * (NULL-terminated) until it exits (at most 180 s) and returns its exit status;
 * its output stays in *p (kit_peer_stop frees it). */
int interop_ice_run(kit_peer *p, uv_loop_t *loop, const char *mode,
                    const char *const *args);

/* Asserts that the Ice client printed "PASS <line>", failing with its
 * "FAIL <line>: why" otherwise. */
void interop_expect_pass(const kit_peer *client, const char *line);

#endif
