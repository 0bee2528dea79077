/* irpc: invokers, calls and interceptors (client side).
 *
 * An invoker sends a request and completes with a response. Interceptors are
 * invokers that sit in front of another (their `next`); a terminal invoker
 * (a connection, the coloc invoker) ends the chain.
 *
 * An invoker type is a static const irpc_invoker_ops table; an instance is
 * made with irpc_invoker_new, which allocates the instance and `data_size`
 * bytes of private data (irpc_invoker_data) in one block.
 *
 * A call (irpc_call) is one invocation travelling down the chain and back:
 *
 *   - irpc_invoke() starts it at an invoker and calls that invoker's
 *     `invoke`. An invoker that receives a call *holds* it and must, now or
 *     later, do exactly one of:
 *       irpc_call_next(call)          pass it to its next invoker;
 *       irpc_call_forward(call, inv)  pass it to another invoker;
 *       irpc_call_complete(call, err, response)   answer it itself.
 *     After doing so it must not touch the call until its on_complete runs.
 *     irpc_call_next and irpc_call_forward never lose the call: when it
 *     cannot go on (canceled, no next, too deep, out of memory) they
 *     complete it with the reason.
 *   - When the call completes, it travels back through every invoker it
 *     passed, in reverse order: each one's `on_complete` sees the result
 *     (irpc_call_result) and may change it (irpc_call_set_result). It
 *     returns 0 to let the result go on back, or IRPC_CALL_HOLD to hold the
 *     call again: it will then next, forward (a retry) or complete it later.
 *   - Finally the callback given to irpc_invoke runs, once, with ownership
 *     of the response. It never runs before irpc_invoke has returned.
 *
 * Each invoker on a call's path gets `call_state_size` bytes of per-call
 * state (irpc_call_state), zeroed when the call reaches it; the framework
 * recycles calls, so a steady flow of calls allocates nothing.
 *
 * Cancellation: irpc_call_cancel(call, err) asks the invoker holding the
 * call to give up. The holder learns of it through the handler it set with
 * irpc_call_on_cancel (terminal invokers set one while waiting), and must
 * then complete the call, normally with `err`. A call canceled while no
 * handler is set completes with `err` at its next irpc_call_next or
 * irpc_call_forward instead of going further.
 *
 * Threading: an invoker and its calls belong to the loop given at creation
 * and are used on that loop's thread only. */
#ifndef IRPC_INVOKER_H
#define IRPC_INVOKER_H

#include <uv.h>

#include "irpc/common.h"
#include "irpc/frames.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_call irpc_call;

/* Returned by on_complete to hold the call again. */
#define IRPC_CALL_HOLD 1

/* A call passes at most this many invokers, counting every one it enters
 * (a pipeline, its interceptors, its terminal and the invokers that one
 * forwards to). Going further completes the call with IRPC_ELIMIT. */
#define IRPC_CALL_MAX_DEPTH 64

/* An invoker type. Write `.struct_size = sizeof(irpc_invoker_ops)` in its
 * initializer (irpc/version.h). */
typedef struct irpc_invoker_ops {
  size_t struct_size; /* sizeof(irpc_invoker_ops) */
  const char *name;
  size_t data_size;       /* private bytes per instance (irpc_invoker_data) */
  size_t call_state_size; /* per-call bytes (irpc_call_state) */
  /* Optional: sets up the private data from `config` (the pointer given to
   * irpc_invoker_new). A negative return fails irpc_invoker_new. */
  int (*init)(irpc_invoker *self, const void *config);
  /* Receives a call. NULL means "pass it to next". */
  void (*invoke)(irpc_invoker *self, irpc_call *call);
  /* Sees the result on the way back. NULL means "let it pass". Returns 0 or
   * IRPC_CALL_HOLD. */
  int (*on_complete)(irpc_invoker *self, irpc_call *call);
  /* Optional: releases what init acquired. Called once, by irpc_invoker_free
   * (or by the pipeline that owns the invoker); never chains to next. */
  void (*destroy)(irpc_invoker *self);
} irpc_invoker_ops;

/* Completion of irpc_invoke: `err` is 0 and `response` non-NULL on success
 * (the callee owns it and frees it with irpc_incoming_response_free), or
 * `err` is a negative library error and `response` NULL. */
typedef void (*irpc_invoke_cb)(irpc_call *call, int err,
                               irpc_incoming_response *response,
                               void *user_data);

/* Creates an invoker of type `ops` on `loop`; `config` goes to ops->init.
 * `ops` is checked here, once (see irpc/version.h): a table from an older
 * header is kept as a zero-extended copy, which irpc_invoker_get_ops then
 * returns.
 * Errors: IRPC_EINVAL (NULL out, loop or ops; ops->struct_size 0, smaller
 * than the first irpc_invoker_ops, or larger with non-zero unknown
 * members), IRPC_ENOMEM, or what init returned. */
IRPC_API int irpc_invoker_new(irpc_invoker **out, uv_loop_t *loop,
                              const irpc_invoker_ops *ops, const void *config);

/* Destroys an invoker that no pipeline owns and that has no call in flight.
 * NULL is a no-op. */
IRPC_API void irpc_invoker_free(irpc_invoker *inv);

/* The instance's private data (data_size bytes, zeroed at creation, aligned
 * for any type). */
IRPC_API void *irpc_invoker_data(irpc_invoker *inv);
IRPC_API const irpc_invoker_ops *irpc_invoker_get_ops(const irpc_invoker *inv);
IRPC_API uv_loop_t *irpc_invoker_loop(const irpc_invoker *inv);

/* The invoker a call goes to on irpc_call_next (set by the pipeline). */
IRPC_API irpc_invoker *irpc_invoker_next(const irpc_invoker *inv);
/* Sets `next` by hand, for chains built without a pipeline.
 * Errors: IRPC_EINVAL (inv NULL or inv == next). */
IRPC_API int irpc_invoker_set_next(irpc_invoker *inv, irpc_invoker *next);

/* Starts a call of `request` through `inv`. The request is borrowed until
 * `cb` returns: the caller frees it, at the earliest inside `cb`
 * (irpc_invoke_owned hands it to the call instead). If `call_out` is not
 * NULL it receives the call, for irpc_call_cancel; the handle is valid
 * until `cb` starts.
 * Returns 0 when the call started: `cb` will then run exactly once, later.
 * Errors (cb will not run): IRPC_EINVAL (NULL inv, request or cb),
 * IRPC_ENOMEM. */
IRPC_API int irpc_invoke(irpc_invoker *inv, irpc_outgoing_request *request,
                         irpc_invoke_cb cb, void *user_data,
                         irpc_call **call_out);

/* As irpc_invoke, but the call takes ownership of `request`, also on
 * error: the library frees it when the call ends, after `cb` has returned
 * (cb may still read it with irpc_call_request), or at once when this
 * function fails. The caller must not use or free it afterwards.
 *
 *     irpc_outgoing_request *req;
 *     irpc_outgoing_request_new(&req, "/hello", "greet");
 *     irpc_invoke_owned(inv, req, on_done, ctx, NULL);  -- nothing to free
 *
 * Errors (cb will not run, the request is freed): as irpc_invoke. */
IRPC_API int irpc_invoke_owned(irpc_invoker *inv,
                               irpc_outgoing_request *request,
                               irpc_invoke_cb cb, void *user_data,
                               irpc_call **call_out);

/* ---- For invokers holding a call ---- */

/* The call's request. Valid while the call runs and inside the completion
 * callback given to irpc_invoke, which receives the call: a callback may
 * read the request there (and, with irpc_invoke, free it). */
IRPC_API irpc_outgoing_request *irpc_call_request(const irpc_call *call);

/* The per-call state of the invoker that holds the call (or whose
 * on_complete is running): call_state_size bytes, NULL when that is 0. */
IRPC_API void *irpc_call_state(irpc_call *call);

/* The invoker holding the call. */
IRPC_API irpc_invoker *irpc_call_invoker(const irpc_call *call);
IRPC_API uv_loop_t *irpc_call_loop(const irpc_call *call);

/* Passes the call to the holder's next invoker, or to `to`.
 *
 * Whatever they return, the holder no longer holds the call afterwards
 * (unless it was not holding it): the call went on, or it could not and
 * has been completed at the holder, whose own on_complete sees the result
 * as if the next invoker had answered. An invoker may therefore ignore the
 * return value; it must not complete the call after a failure.
 *
 * Returns 0 when the call went on, or when it was completed for a reason
 * of its own: canceled (the result is the cancel error) or no next
 * invoker (IRPC_ENOINVOKER).
 * Errors (the call has been completed with this error):
 *   IRPC_ELIMIT   the call would pass more than IRPC_CALL_MAX_DEPTH
 *                 invokers;
 *   IRPC_ENOMEM   no memory for the next invoker's per-call state or for
 *                 the call's frames;
 *   IRPC_EINVAL   `to` is NULL (irpc_call_forward).
 * Errors (nothing happened): IRPC_EINVAL (call NULL), IRPC_EDONE (the
 * call is not held: already passed on or completed). */
IRPC_API int irpc_call_next(irpc_call *call);
IRPC_API int irpc_call_forward(irpc_call *call, irpc_invoker *to);

/* Completes the call at the holder: the result starts back up the chain.
 * Ownership of `response` passes to the call (also on error). `err` 0
 * needs a response; a negative `err` takes none (a response given with it
 * is freed).
 * Errors: IRPC_EINVAL (NULL call, or err 0 without a response),
 * IRPC_EDONE (the call is not held: completing twice). */
IRPC_API int irpc_call_complete(irpc_call *call, int err,
                                irpc_incoming_response *response);

/* The current result, in on_complete. The response stays owned by the call;
 * either pointer may be NULL. */
IRPC_API void irpc_call_result(const irpc_call *call, int *err,
                               irpc_incoming_response **response);

/* Replaces the current result, in on_complete (the previous response is
 * freed unless it is `response`). Same rules as irpc_call_complete.
 * Errors: IRPC_EINVAL. */
IRPC_API int irpc_call_set_result(irpc_call *call, int err,
                                  irpc_incoming_response *response);

/* Takes the response out of the result (the call keeps err, or
 * IRPC_ECANCELED if err was 0), for an interceptor that wants to keep it. */
IRPC_API irpc_incoming_response *irpc_call_take_response(irpc_call *call);

/* ---- Cancellation ---- */

typedef void (*irpc_call_cancel_fn)(irpc_call *call, int err, void *user_data);

/* Asks the call to stop with `err` (a negative library error, typically
 * IRPC_ECANCELED or IRPC_EDEADLINE). Only the first cancel counts.
 * Errors: IRPC_EINVAL (call NULL or err >= 0), IRPC_EDONE (the call has
 * already completed back to its callback). */
IRPC_API int irpc_call_cancel(irpc_call *call, int err);

/* Sets the holder's cancel handler; cleared when the call is passed on or
 * completed. If the call is already canceled the handler runs at once. */
IRPC_API void irpc_call_on_cancel(irpc_call *call, irpc_call_cancel_fn fn,
                                  void *user_data);

/* The cancel error, or 0 if the call has not been canceled. */
IRPC_API int irpc_call_canceled(const irpc_call *call);

#ifdef __cplusplus
}
#endif
#endif
