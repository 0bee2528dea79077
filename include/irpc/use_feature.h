/* irpc: an interceptor and a middleware that set one feature on every
 * request (IceRPC's UseFeature).
 *
 * The value is shared by every request, so the key must not own its values
 * (key->destroy NULL); it must outlive the interceptor or middleware and
 * the requests. A value already set on a request is replaced, as IceRPC
 * does. */
#ifndef IRPC_USE_FEATURE_H
#define IRPC_USE_FEATURE_H

#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors: IRPC_EINVAL (NULL out, loop, key or value; a key with a destroy
 * function), IRPC_ENOMEM. Calls and dispatches whose features cannot grow
 * fail with IRPC_ENOMEM (InternalError for a dispatch). */
IRPC_API int irpc_use_feature_interceptor_new(irpc_invoker **out,
                                              uv_loop_t *loop,
                                              const irpc_feature_key *key,
                                              void *value);
IRPC_API int irpc_use_feature_middleware_new(irpc_dispatcher **out,
                                             uv_loop_t *loop,
                                             const irpc_feature_key *key,
                                             void *value);

#ifdef __cplusplus
}
#endif
#endif
