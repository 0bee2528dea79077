/* The Slice1 (Ice encoding 1.1) parts of the generated-code runtime that
 * the other runtime files call: proxies as 1.1 proxy records. */
#ifndef IRPC_SLICE_GEN_SLICE1_H
#define IRPC_SLICE_GEN_SLICE1_H

#include "irpc/slice_gen.h"

/* irpc_slice_encode_proxy and _decode_proxy_opt for a 1.1 encoder or
 * decoder (p NULL encodes the null proxy). */
int irpc__slice_encode_proxy11(irpc_slice_encoder *e, const irpc_slice_proxy *p,
                               const char *default_path);
int irpc__slice_decode_proxy11(irpc_slice_in *in, irpc_slice_proxy *p,
                               bool *present);

#endif
