/* The compression formats a dispatcher chain decompresses: what a
 * connection announces in its Settings and the coloc invoker accepts
 * (model/compression.h). A dispatcher says what it decompresses with
 * irpc__dispatcher_set_decompresses; the compress middleware does. */
#include "chain.h"
#include "model/compression.h"

/* A bound on the chain walked, against a cycle. */
#define FORMATS_MAX_CHAIN IRPC__MAX_DEPTH

void irpc__dispatcher_set_decompresses(irpc_dispatcher *d, uint64_t formats) {
  if (d)
    d->node.decompresses = formats;
}

uint64_t irpc_compress_formats_decompressed_by(irpc_dispatcher *d) {
  uint64_t mask = 0;
  for (int depth = 0; d && depth < FORMATS_MAX_CHAIN; depth++) {
    irpc_dispatcher *const *mw;
    size_t n;
    if (irpc__router_middleware(d, &mw, &n)) {
      /* Its middleware (linked to each other only once it first
       * dispatches), then routing: a path's own chain does not count. */
      for (size_t i = 0; i < n; i++)
        mask |= mw[i]->node.decompresses;
      break;
    }
    mask |= d->node.decompresses;
    d = irpc_dispatcher_next(d);
  }
  return mask;
}

uint64_t irpc__compress_announcement(irpc_dispatcher *d, uint64_t allowed) {
  return (irpc_compress_formats_decompressed_by(d) & allowed) |
         IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_NONE);
}
