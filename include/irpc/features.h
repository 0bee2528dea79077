/* irpc: features, the local typed bag of a request.
 *
 * Features carry information between the application, interceptors and
 * middleware inside one process; they are never sent. A feature is keyed by
 * the address of a static irpc_feature_key, which names it and says how its
 * value is released:
 *
 *     static const irpc_feature_key my_key = {.name = "my", .destroy = free};
 *     irpc_features_set(irpc_outgoing_request_features(req), &my_key, p);
 *
 * Typed accessors for the built-in features (compress, deadline, ...) come
 * with the interceptors that use them. */
#ifndef IRPC_FEATURES_H
#define IRPC_FEATURES_H

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_feature_key {
  const char *name; /* for logs and debugging */
  /* Releases a value when it is replaced, removed, or its collection is
   * dropped; NULL when the collection does not own the values. */
  void (*destroy)(void *value);
} irpc_feature_key;

typedef struct irpc_features irpc_features;

/* Sets the value of `key`, releasing the previous one; a NULL value removes
 * the entry. On error the collection is unchanged and `value` is NOT
 * released (the caller keeps it).
 * Errors: IRPC_EINVAL (f or key NULL), IRPC_ENOMEM. */
IRPC_API int irpc_features_set(irpc_features *f, const irpc_feature_key *key,
                               void *value);

/* The value of `key`, or NULL when absent. */
IRPC_API void *irpc_features_get(const irpc_features *f,
                                 const irpc_feature_key *key);

/* Number of features set. */
IRPC_API size_t irpc_features_count(const irpc_features *f);

#ifdef __cplusplus
}
#endif
#endif
