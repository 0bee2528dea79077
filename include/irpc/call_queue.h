/* irpc: starting calls from threads that do not run the loop.
 *
 * An invoker and its calls belong to one loop (irpc/invoker.h). A call
 * queue is the thread-safe way in: any thread hands it a request, the
 * loop's thread starts the call on the invoker the queue was made for, in
 * the order the requests were queued, and the completion comes back
 * either on the loop's thread (irpc_call_queue_invoke) or to the thread
 * that waits for it (irpc_call_queue_submit and irpc_call_ticket_wait,
 * irpc_call_queue_invoke_sync). The queue wakes the loop with one
 * uv_async_t; what it costs per call is one allocation and a mutex taken
 * twice, on the cross-thread path only: calls started on the loop's own
 * thread do not go through it.
 *
 * irpc_blocking_client is the convenience for a command-line tool that is
 * not built around a loop: it runs a loop on a thread of its own with a
 * client connection to one server address, and its calls block.
 *
 * Threading: irpc_call_queue_new and irpc_call_queue_free on the loop's
 * thread; irpc_call_queue_invoke, _submit, _invoke_sync and
 * irpc_call_ticket_wait from any thread, while the queue exists.
 * irpc_blocking_client_invoke from any thread; its _new and _free from one
 * thread. A response handed to another thread is that thread's to read and
 * free. */
#ifndef IRPC_CALL_QUEUE_H
#define IRPC_CALL_QUEUE_H

#include <uv.h>

#include "irpc/common.h"
#include "irpc/connection.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_call_queue irpc_call_queue;
typedef struct irpc_call_ticket irpc_call_ticket;

/* Creates a queue that starts its calls on `target` (borrowed: it must
 * outlive the queue and its calls). On target's loop thread.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM, libuv's. */
IRPC_API int irpc_call_queue_new(irpc_call_queue **out, irpc_invoker *target);

/* The end of a call started by irpc_call_queue_invoke, on the loop's
 * thread: err 0 and the response (the callee's to free), or a negative
 * error (the call's, as for irpc_invoke_cb, or IRPC_ECLOSED when the queue
 * was freed before the call started) and NULL. */
typedef void (*irpc_call_queue_cb)(int err, irpc_incoming_response *response,
                                   void *user_data);

/* From any thread: queues `request` (ownership passes, also on error); the
 * loop's thread starts it and `cb` runs there, exactly once, when it
 * completes.
 * Errors (cb will not run, the request is freed): IRPC_EINVAL (NULL q,
 * request or cb), IRPC_ECLOSED (the queue is being freed), IRPC_ENOMEM. */
IRPC_API int irpc_call_queue_invoke(irpc_call_queue *q,
                                    irpc_outgoing_request *request,
                                    irpc_call_queue_cb cb, void *user_data);

/* From any thread: queues `request` (ownership passes, also on error) and
 * returns a ticket the caller (or a thread it hands the ticket to) waits
 * on with irpc_call_ticket_wait, exactly once.
 * Errors (no ticket, the request is freed): IRPC_EINVAL, IRPC_ECLOSED,
 * IRPC_ENOMEM. */
IRPC_API int irpc_call_queue_submit(irpc_call_queue *q,
                                    irpc_outgoing_request *request,
                                    irpc_call_ticket **out);

/* Blocks until the ticket's call completed, frees the ticket and returns
 * the call's result: 0 with *response (the caller's to free, on this
 * thread or any), or the call's error (as irpc_call_queue_cb's) with
 * *response NULL. Not on the queue's loop thread (the loop would wait for
 * itself): IRPC_EINVAL then, and the ticket stays valid. */
IRPC_API int irpc_call_ticket_wait(irpc_call_ticket *t,
                                   irpc_incoming_response **response);

/* irpc_call_queue_submit, then irpc_call_ticket_wait.
 * Errors: those of both. */
IRPC_API int irpc_call_queue_invoke_sync(irpc_call_queue *q,
                                         irpc_outgoing_request *request,
                                         irpc_incoming_response **response);

/* On the loop's thread: requests queued and not started yet complete with
 * IRPC_ECLOSED (their callbacks run, and their tickets are ready, before
 * this returns); calls under way complete normally, then the queue's memory
 * goes. Threads must have stopped using the queue: calls made while this
 * runs fail with IRPC_ECLOSED, calls made after it returned are undefined.
 * NULL is a no-op. */
IRPC_API void irpc_call_queue_free(irpc_call_queue *q);

/* ---- A blocking client ---- */

typedef struct irpc_blocking_client irpc_blocking_client;

/* Starts a thread running a loop of its own, with a client connection to
 * `server_address` (irpc_client_connection_new, `opts` NULL for the
 * defaults) that connects on the first call.
 * Errors: those of irpc_client_connection_new (IRPC_EINVAL, ...),
 * IRPC_ENOMEM, libuv's starting the loop or the thread. */
IRPC_API int irpc_blocking_client_new(irpc_blocking_client **out,
                                      const char *server_address,
                                      const irpc_connection_options *opts);

/* From any thread, several at once: sends `request` (ownership passes,
 * also on error) and blocks until the call completed.
 * Returns 0 with *response (the caller's to free), or the call's error
 * (irpc/connection.h: UV_ECONNREFUSED, IRPC_ECLOSEDBYPEER, ...) with
 * *response NULL.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ECLOSED (being freed),
 * IRPC_ENOMEM. */
IRPC_API int irpc_blocking_client_invoke(irpc_blocking_client *c,
                                         irpc_outgoing_request *request,
                                         irpc_incoming_response **response);

/* Shuts the connection down gracefully (calls under way complete; queued
 * ones fail with IRPC_ECLOSED), stops the loop and joins its thread. No
 * other thread may use the client any more. NULL is a no-op. */
IRPC_API void irpc_blocking_client_free(irpc_blocking_client *c);

#ifdef __cplusplus
}
#endif
#endif
