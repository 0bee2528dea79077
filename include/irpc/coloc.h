/* irpc: the coloc invoker, calls to a dispatcher in the same process.
 *
 * A terminal invoker that turns each outgoing request into an incoming
 * request (path, operation, fields and payload; features stay on the
 * client side, as over a network) and dispatches it on the loop, never
 * from inside irpc_invoke. The response comes back as an incoming
 * response. The payload blocks are shared, not copied.
 *
 * Canceling a call cancels its dispatch (the dispatcher sees it through
 * irpc_dispatch_on_cancel) and completes the call at once; the dispatch's
 * eventual response is discarded. */
#ifndef IRPC_COLOC_H
#define IRPC_COLOC_H

#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a coloc invoker that dispatches to `dispatcher` (borrowed; it must
 * outlive the coloc invoker). Free it with irpc_invoker_free once it has no
 * call in flight (irpc_coloc_shutdown ensures that).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_coloc_new(irpc_invoker **out, uv_loop_t *loop,
                            irpc_dispatcher *dispatcher);

typedef void (*irpc_shutdown_cb)(int status, void *user_data);

/* Stops taking calls (new ones fail with IRPC_ECLOSED) and waits for the
 * dispatches in flight. When `timeout_ms` passes first, the remaining
 * dispatches are canceled and their calls complete with IRPC_EABORTED, so
 * shutdown finishes even when a dispatcher never completes; `cb` then gets
 * IRPC_ETIMEDOUT, else 0. `cb` runs once, never before this returns.
 * Errors: IRPC_EINVAL (not a coloc invoker, or cb NULL), IRPC_ECLOSED
 * (shutdown already requested). */
IRPC_API int irpc_coloc_shutdown(irpc_invoker *coloc, uint64_t timeout_ms,
                                 irpc_shutdown_cb cb, void *user_data);

/* Number of dispatches in flight (started and not completed). */
IRPC_API size_t irpc_coloc_in_flight(const irpc_invoker *coloc);

#ifdef __cplusplus
}
#endif
#endif
