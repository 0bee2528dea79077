/* The ice protocol's public options and facet feature. Compiled in every
 * build, with or without the protocol (IRPC_WITH_ICE): irpc/ice.h is part
 * of the API either way, and a build without the protocol refuses ice://
 * addresses when they are used. */
#include <string.h>

#include "base/struct_size.h"
#include "ice_internal.h"
#include "irpc/alloc.h"
#include "irpc/ice.h"

void irpc_ice_options_init_sized(irpc_ice_options *o, size_t size) {
  irpc_ice_options d;
  memset(&d, 0, sizeof(d));
  d.max_message_size = IRPC__ICE_DEFAULT_MAX_MESSAGE_SIZE;
  d.idle_timeout_ms = IRPC__ICE_DEFAULT_IDLE_TIMEOUT_MS;
  irpc__struct_export(o, size, &d, sizeof(d));
}

static void facet_free(void *v) {
  irpc_free(v);
}

const irpc_feature_key irpc_ice_facet_feature = {.name = "ice_facet",
                                                 .destroy = facet_free};

char *irpc_ice_facet_dup(const char *facet) {
  if (!facet)
    return NULL;
  size_t n = strlen(facet) + 1;
  char *s = irpc_malloc(n);
  if (s)
    memcpy(s, facet, n);
  return s;
}
