#include "irpc/version.h"

#define IRPC__STR2(x) #x
#define IRPC__STR(x) IRPC__STR2(x)

unsigned irpc_version(void) {
  return IRPC_VERSION_HEX;
}

const char *irpc_version_string(void) {
  return IRPC__STR(IRPC_VERSION_MAJOR) "." IRPC__STR(
      IRPC_VERSION_MINOR) "." IRPC__STR(IRPC_VERSION_PATCH) IRPC_VERSION_SUFFIX;
}
