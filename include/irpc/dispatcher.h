/* irpc: dispatchers, dispatches and middleware (server side).
 *
 * The mirror image of invoker.h. A dispatcher receives an incoming request
 * and completes it with an outgoing response; middleware are dispatchers
 * that sit in front of another (their `next`). A dispatch (irpc_dispatch)
 * is one request travelling down the chain and its response coming back:
 *
 *   - A dispatcher that receives a dispatch holds it and must, now or
 *     later, do exactly one of irpc_dispatch_next, irpc_dispatch_forward or
 *     irpc_dispatch_complete (irpc_dispatch_reply is a shorthand).
 *   - The response travels back through every dispatcher the dispatch
 *     passed, in reverse order: on_complete sees it (irpc_dispatch_response)
 *     and may replace it (irpc_dispatch_set_response); it returns 0 to let
 *     it go on, or IRPC_DISPATCH_HOLD to hold the dispatch again.
 *   - A dispatch always ends with a response: errors are status codes.
 *
 * Exactly once: completing a dispatch a second time returns IRPC_EDONE and
 * changes nothing, as long as the dispatch has not been released (the
 * framework releases it after the response has been handed on, at the
 * earliest when the completing call returns). After release the handle
 * must not be used.
 *
 * Cancellation: when the caller gives up (client canceled, deadline, the
 * connection or server shuts down) the dispatch is canceled: the handler
 * set with irpc_dispatch_on_cancel runs, and irpc_dispatch_canceled tells.
 * The dispatcher should then complete soon; its response is discarded.
 *
 * Threading: a dispatcher and its dispatches belong to the loop given at
 * creation. */
#ifndef IRPC_DISPATCHER_H
#define IRPC_DISPATCHER_H

#include <uv.h>

#include "irpc/common.h"
#include "irpc/frames.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_dispatcher irpc_dispatcher;
typedef struct irpc_dispatch irpc_dispatch;

#define IRPC_DISPATCH_HOLD 1

/* A dispatch passes at most this many dispatchers, counting every one it
 * enters (routers, middleware, the route, the target). Going further
 * completes it with InternalError "The dispatch would pass more than 64
 * dispatchers.". */
#define IRPC_DISPATCH_MAX_DEPTH 64

/* A dispatcher type. Write `.struct_size = sizeof(irpc_dispatcher_ops)` in
 * its initializer (irpc/version.h). */
typedef struct irpc_dispatcher_ops {
  size_t struct_size; /* sizeof(irpc_dispatcher_ops) */
  const char *name;
  size_t data_size;           /* private bytes per instance */
  size_t dispatch_state_size; /* per-dispatch bytes (irpc_dispatch_state) */
  int (*init)(irpc_dispatcher *self, const void *config);
  /* Receives a dispatch. NULL means "pass it to next". */
  void (*dispatch)(irpc_dispatcher *self, irpc_dispatch *d);
  /* Sees the response on the way back. NULL means "let it pass". Returns 0
   * or IRPC_DISPATCH_HOLD. */
  int (*on_complete)(irpc_dispatcher *self, irpc_dispatch *d);
  void (*destroy)(irpc_dispatcher *self);
} irpc_dispatcher_ops;

/* The end of a dispatch started with irpc_dispatcher_dispatch: the callee
 * owns `response`, which is NULL only when memory ran out while the
 * framework built one itself (treat it as InternalError). */
typedef void (*irpc_dispatch_done_cb)(irpc_dispatch *d,
                                      irpc_outgoing_response *response,
                                      void *user_data);

/* Creates a dispatcher of type `ops` on `loop`; `config` goes to ops->init.
 * `ops` is checked here, once, as by irpc_invoker_new.
 * Errors: IRPC_EINVAL (NULL out, loop or ops; ops->struct_size 0, smaller
 * than the first irpc_dispatcher_ops, or larger with non-zero unknown
 * members), IRPC_ENOMEM, or what init returned. */
IRPC_API int irpc_dispatcher_new(irpc_dispatcher **out, uv_loop_t *loop,
                                 const irpc_dispatcher_ops *ops,
                                 const void *config);

/* Destroys a dispatcher no router owns, with no dispatch in flight. NULL is
 * a no-op. */
IRPC_API void irpc_dispatcher_free(irpc_dispatcher *d);

IRPC_API void *irpc_dispatcher_data(irpc_dispatcher *d);
IRPC_API const irpc_dispatcher_ops *
irpc_dispatcher_get_ops(const irpc_dispatcher *d);
IRPC_API uv_loop_t *irpc_dispatcher_loop(const irpc_dispatcher *d);
IRPC_API irpc_dispatcher *irpc_dispatcher_next(const irpc_dispatcher *d);
/* Errors: IRPC_EINVAL (d NULL or d == next). */
IRPC_API int irpc_dispatcher_set_next(irpc_dispatcher *d,
                                      irpc_dispatcher *next);

/* Starts dispatching `request` (ownership passes to the dispatch, also on
 * error) through `disp`. `done` runs exactly once with the response; it may
 * run before this function returns. For transports and tests; `d_out`, if
 * not NULL, receives the dispatch for irpc_dispatch_cancel.
 * Errors (done will not run, request freed): IRPC_EINVAL, IRPC_ENOMEM. */
IRPC_API int irpc_dispatcher_dispatch(irpc_dispatcher *disp,
                                      irpc_incoming_request *request,
                                      irpc_dispatch_done_cb done,
                                      void *user_data, irpc_dispatch **d_out);

/* Creates an incoming request, for transports and for tests of dispatchers.
 * Errors: IRPC_EINVAL, IRPC_EPATH, IRPC_ENOMEM. */
IRPC_API int irpc_incoming_request_new(irpc_incoming_request **out,
                                       const char *path, const char *operation,
                                       int oneway);
/* Frees a request not handed to irpc_dispatcher_dispatch. */
IRPC_API void irpc_incoming_request_free(irpc_incoming_request *r);

/* ---- For dispatchers holding a dispatch ---- */

IRPC_API irpc_incoming_request *irpc_dispatch_request(const irpc_dispatch *d);
IRPC_API void *irpc_dispatch_state(irpc_dispatch *d);
IRPC_API irpc_dispatcher *irpc_dispatch_dispatcher(const irpc_dispatch *d);
IRPC_API uv_loop_t *irpc_dispatch_loop(const irpc_dispatch *d);

/* Passes the dispatch to the holder's next dispatcher, or to `to`.
 *
 * As irpc_call_next: the holder no longer holds the dispatch afterwards
 * (unless it was not holding it). When it cannot go on, it is completed at
 * the holder, whose own on_complete sees a response that says why:
 * canceled (DeadlineExceeded for IRPC_EDEADLINE, else InternalError), no
 * next (NotFound), too deep or out of memory (InternalError). A middleware
 * may ignore the return value; it must not complete the dispatch after a
 * failure.
 *
 * Returns 0 when the dispatch went on, or was completed because it was
 * canceled or has no next.
 * Errors (the dispatch has been completed): IRPC_ELIMIT (more than
 * IRPC_DISPATCH_MAX_DEPTH dispatchers), IRPC_ENOMEM (no memory for the next
 * dispatcher's per-dispatch state or for the frames), IRPC_EINVAL (`to`
 * NULL).
 * Errors (nothing happened): IRPC_EINVAL (d NULL), IRPC_EDONE (not held). */
IRPC_API int irpc_dispatch_next(irpc_dispatch *d);
IRPC_API int irpc_dispatch_forward(irpc_dispatch *d, irpc_dispatcher *to);

/* Completes the dispatch with `response` (ownership passes, also on error).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_EDONE (already completed:
 * the response is freed and nothing else happens). */
IRPC_API int irpc_dispatch_complete(irpc_dispatch *d,
                                    irpc_outgoing_response *response);

/* Completes with a new response of `status` and `message` (see
 * irpc_outgoing_response_new).
 * Errors: IRPC_EINVAL (d NULL, or a message with status Ok),
 * IRPC_EOVERFLOW, IRPC_ENOMEM (the dispatch is still held),
 * IRPC_EDONE (already completed). */
IRPC_API int irpc_dispatch_reply(irpc_dispatch *d, uint64_t status,
                                 const char *message);

/* In on_complete: the response (owned by the dispatch), and replacing it
 * (the previous one is freed). irpc_dispatch_set_response errors:
 * IRPC_EINVAL. */
IRPC_API irpc_outgoing_response *irpc_dispatch_response(const irpc_dispatch *d);
IRPC_API int irpc_dispatch_set_response(irpc_dispatch *d,
                                        irpc_outgoing_response *response);

typedef void (*irpc_dispatch_cancel_fn)(irpc_dispatch *d, int err,
                                        void *user_data);

/* Cancels the dispatch with `err`; only the first cancel counts.
 * Errors: IRPC_EINVAL, IRPC_EDONE (already completed). */
IRPC_API int irpc_dispatch_cancel(irpc_dispatch *d, int err);
IRPC_API void irpc_dispatch_on_cancel(irpc_dispatch *d,
                                      irpc_dispatch_cancel_fn fn,
                                      void *user_data);
IRPC_API int irpc_dispatch_canceled(const irpc_dispatch *d);

#ifdef __cplusplus
}
#endif
#endif
