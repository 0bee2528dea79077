/* The use-feature interceptor (see irpc/use_feature.h). */
#include "irpc/error.h"
#include "irpc/use_feature.h"

typedef struct ufc {
  const irpc_feature_key *key;
  void *value;
} ufc;

static int uf_init(irpc_invoker *self, const void *config) {
  *(ufc *)irpc_invoker_data(self) = *(const ufc *)config;
  return 0;
}

static void uf_invoke(irpc_invoker *self, irpc_call *call) {
  ufc *u = irpc_invoker_data(self);
  int rc =
      irpc_features_set(irpc_outgoing_request_features(irpc_call_request(call)),
                        u->key, u->value);
  if (rc)
    irpc_call_complete(call, rc, NULL);
  else
    irpc_call_next(call);
}

static const irpc_invoker_ops uf_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "use_feature",
    .data_size = sizeof(ufc),
    .init = uf_init,
    .invoke = uf_invoke,
};

int irpc_use_feature_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                     const irpc_feature_key *key, void *value) {
  if (!key || !value || key->destroy)
    return IRPC_EINVAL;
  ufc c = {.key = key, .value = value};
  return irpc_invoker_new(out, loop, &uf_ops, &c);
}
