/* The protocols this build speaks, by name. */
#include <string.h>

#include "protocol.h"

static const irpc__protocol_ops *const protocols[] = {
    &irpc__icerpc_protocol,
#ifdef IRPC_WITH_ICE
    &irpc__ice_protocol,
#endif
};

const irpc__protocol_ops *irpc__protocol_find(const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++)
    if (strcmp(protocols[i]->name, name) == 0)
      return protocols[i];
  return NULL;
}

int irpc__protocol_options_check(const irpc_connection_options *o) {
  for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
    int rc = protocols[i]->options_check ? protocols[i]->options_check(o) : 0;
    if (rc)
      return rc;
  }
  return 0;
}
