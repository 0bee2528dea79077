/* irpc: the pipeline, an invoker made of interceptors and a terminal.
 *
 *     irpc_pipeline_new(&p, loop);
 *     irpc_pipeline_use(p, logger);      -- outermost: sees the call first
 *     irpc_pipeline_use(p, deadline);
 *     irpc_pipeline_into(p, connection); -- terminal
 *     irpc_invoke(irpc_pipeline_invoker(p), req, on_done, ctx, NULL);
 *
 * Requests run through interceptors in the order they were added, and
 * responses come back in the reverse order. The pipeline owns the
 * interceptors given to `use` (it destroys them), but not the terminal: a
 * connection is typically shared by several pipelines. The chain is fixed at
 * the first invocation; changing it afterwards fails with IRPC_EFROZEN. */
#ifndef IRPC_PIPELINE_H
#define IRPC_PIPELINE_H

#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_pipeline irpc_pipeline;

/* The most interceptors a pipeline takes. A call through the pipeline
 * enters the pipeline itself, each interceptor and the terminal, and the
 * terminal may forward it further (a client connection or a connection
 * cache to its connection): 60 leaves room for every terminal of the
 * library within IRPC_CALL_MAX_DEPTH. A chain that still goes deeper (a
 * pipeline into a pipeline, say) completes its calls with IRPC_ELIMIT. */
#define IRPC_PIPELINE_MAX_INTERCEPTORS 60

/* Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_pipeline_new(irpc_pipeline **out, uv_loop_t *loop);

/* Destroys the pipeline and the interceptors it owns; no call may be in
 * flight. NULL is a no-op. */
IRPC_API void irpc_pipeline_free(irpc_pipeline *p);

/* Appends an interceptor (ownership passes to the pipeline on success).
 * Errors: IRPC_EINVAL (NULL, an interceptor of another loop, or one
 * already added), IRPC_EFROZEN (already invoked), IRPC_ELIMIT (the
 * pipeline already has IRPC_PIPELINE_MAX_INTERCEPTORS), IRPC_ENOMEM. */
IRPC_API int irpc_pipeline_use(irpc_pipeline *p, irpc_invoker *interceptor);

/* Sets the terminal invoker (borrowed; it must outlive the pipeline).
 * Errors: IRPC_EINVAL (NULL, or another loop), IRPC_EFROZEN. */
IRPC_API int irpc_pipeline_into(irpc_pipeline *p, irpc_invoker *terminal);

/* The pipeline as an invoker, for irpc_invoke or as another pipeline's
 * terminal. Invoking it without a terminal completes with
 * IRPC_ENOINVOKER. */
IRPC_API irpc_invoker *irpc_pipeline_invoker(irpc_pipeline *p);

/* Number of interceptors added. */
IRPC_API size_t irpc_pipeline_count(const irpc_pipeline *p);

#ifdef __cplusplus
}
#endif
#endif
