#include <stdio.h>
#include <irpc/irpc.h>
#ifdef IRPC_CONSUMER_SLICE
#include "hello.slice.h"
#endif

int main(void) {
  printf("irpc %s %s\n", irpc_version_string(),
         irpc_status_name(IRPC_STATUS_NOT_FOUND));
#ifdef IRPC_CONSUMER_SLICE
  irpc_buf *b;
  irpc_slice_encoder e;
  Consumer_Point p = {3, 4};
  if (irpc_buf_new(&b) ||
      irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2) ||
      Consumer_Point_encode(&e, &p) || irpc_slice_encoder_flush(&e) ||
      irpc_buf_len(b) != 8)
    return 1;
  irpc_buf_free(b);
  printf("generated Consumer_Point: 8 bytes\n");
#endif
  return irpc_version() == IRPC_VERSION_HEX ? 0 : 1;
}
