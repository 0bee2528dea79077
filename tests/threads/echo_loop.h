/* A multi-loop server whose every loop echoes (and counts what it
 * echoed), for the tests that call it from other threads. */
#ifndef IRPC_TESTS_THREADS_ECHO_LOOP_H
#define IRPC_TESTS_THREADS_ECHO_LOOP_H

#include <stdatomic.h>
#include <stdio.h>

#include "kit/kit.h"

static void echo_loop_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(r),
                irpc_incoming_request_payload(irpc_dispatch_request(d)));
  irpc_dispatch_complete(d, r);
}

static const irpc_dispatcher_ops echo_loop_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "echo",
    .dispatch = echo_loop_dispatch,
};

static int echo_loop_factory(uv_loop_t *loop, unsigned index,
                             irpc_dispatcher **out, void *ud) {
  (void)index;
  (void)ud;
  return irpc_dispatcher_new(out, loop, &echo_loop_ops, NULL);
}

static void echo_loop_release(uv_loop_t *loop, unsigned index,
                              irpc_dispatcher *d, void *ud) {
  (void)loop;
  (void)index;
  (void)ud;
  irpc_dispatcher_free(d);
}

/* A server of `loops` echoing loops listening on a free TCP port of the
 * loopback; its address in bound. */
static inline irpc_multi_server *echo_loop_start(unsigned loops, char *bound,
                                                 size_t len) {
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  o.loops = loops;
  o.factory = echo_loop_factory;
  o.release = echo_loop_release;
  irpc_multi_server *ms;
  assert_irpc_ok(irpc_multi_server_new(&ms, &o));
  assert_irpc_ok(
      irpc_multi_server_listen(ms, "icerpc://127.0.0.1:0", bound, len));
  return ms;
}

#endif
