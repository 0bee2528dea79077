/* A multi-loop server whose every loop echoes (and counts what it
 * echoed), for the tests that call it from other threads. */
#ifndef IRPC_TESTS_THREADS_ECHO_LOOP_H
#define IRPC_TESTS_THREADS_ECHO_LOOP_H

#include <stdatomic.h>
#include <stdio.h>

#include "kit/kit.h"

static int echo_loop_factory(uv_loop_t *loop, unsigned index,
                             irpc_dispatcher **out, void *ud) {
  (void)index;
  (void)ud;
  return irpc_dispatcher_new(out, loop, &kit_echo_oom_ops, NULL);
}

static void echo_loop_release(uv_loop_t *loop, unsigned index,
                              irpc_dispatcher *d, void *ud) {
  (void)loop;
  (void)index;
  (void)ud;
  irpc_dispatcher_free(d);
}

/* A server of `loops` loops whose dispatchers `factory` makes, listening
 * on a free TCP port of the loopback; its address in bound. */
static inline irpc_multi_server *
echo_loop_start_with(unsigned loops, irpc_multi_server_factory factory,
                     char *bound, size_t len) {
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  o.loops = loops;
  o.factory = factory;
  o.release = echo_loop_release;
  irpc_multi_server *ms;
  assert_irpc_ok(irpc_multi_server_new(&ms, &o));
  assert_irpc_ok(
      irpc_multi_server_listen(ms, "icerpc://127.0.0.1:0", bound, len));
  return ms;
}

/* A server of `loops` echoing loops listening on a free TCP port of the
 * loopback; its address in bound. */
static inline irpc_multi_server *echo_loop_start(unsigned loops, char *bound,
                                                 size_t len) {
  return echo_loop_start_with(loops, echo_loop_factory, bound, len);
}

#endif
