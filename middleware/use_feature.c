/* The use-feature middleware (see irpc/use_feature.h). */
#include "chain/chain.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "irpc/use_feature.h"

typedef struct ufm {
  const irpc_feature_key *key;
  void *value;
} ufm;

static int ufm_init(irpc_dispatcher *self, const void *config) {
  *(ufm *)irpc_dispatcher_data(self) = *(const ufm *)config;
  return 0;
}

static void ufm_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  ufm *u = irpc_dispatcher_data(self);
  int rc = irpc_features_set(
      irpc_incoming_request_features(irpc_dispatch_request(d)), u->key,
      u->value);
  if (rc)
    irpc__dispatch_reply_or_abort(d, IRPC_STATUS_INTERNAL_ERROR,
                                  irpc_strerror(rc));
  else
    irpc_dispatch_next(d);
}

static const irpc_dispatcher_ops ufm_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "use_feature",
    .data_size = sizeof(ufm),
    .init = ufm_init,
    .dispatch = ufm_dispatch,
};

int irpc_use_feature_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                    const irpc_feature_key *key, void *value) {
  if (!key || !value || key->destroy)
    return IRPC_EINVAL;
  ufm c = {.key = key, .value = value};
  return irpc_dispatcher_new(out, loop, &ufm_ops, &c);
}
