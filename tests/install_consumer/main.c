#include <stdio.h>
#include <irpc/irpc.h>

int main(void) {
  printf("irpc %s %s\n", irpc_version_string(),
         irpc_status_name(IRPC_STATUS_NOT_FOUND));
  return irpc_version() == IRPC_VERSION_HEX ? 0 : 1;
}
