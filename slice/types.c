/* Sizes of the Slice element types, on the wire and in C. */
#include "slice_internal.h"

size_t irpc__slice_wire_size(irpc_slice_type type) {
  switch (type) {
  case IRPC_SLICE_BOOL:
  case IRPC_SLICE_INT8:
  case IRPC_SLICE_UINT8:
    return 1;
  case IRPC_SLICE_INT16:
  case IRPC_SLICE_UINT16:
    return 2;
  case IRPC_SLICE_INT32:
  case IRPC_SLICE_UINT32:
  case IRPC_SLICE_FLOAT32:
    return 4;
  case IRPC_SLICE_INT64:
  case IRPC_SLICE_UINT64:
  case IRPC_SLICE_FLOAT64:
    return 8;
  default:
    return 0;
  }
}

size_t irpc__slice_min_wire_size(irpc_slice_type type) {
  size_t n = irpc__slice_wire_size(type);
  if (n == 0 && type >= IRPC_SLICE_VARINT32 && type <= IRPC_SLICE_VARUINT62)
    n = 1;
  return n;
}

size_t irpc_slice_type_size(irpc_slice_type type) {
  switch (type) {
  case IRPC_SLICE_BOOL:
    return sizeof(bool);
  case IRPC_SLICE_FLOAT32:
    return sizeof(float);
  case IRPC_SLICE_FLOAT64:
    return sizeof(double);
  case IRPC_SLICE_VARINT32:
  case IRPC_SLICE_VARUINT32:
    return 4;
  case IRPC_SLICE_VARINT62:
  case IRPC_SLICE_VARUINT62:
    return 8;
  default:
    return irpc__slice_wire_size(type);
  }
}

size_t irpc_slice_varuint62_len(uint64_t value) {
  return irpc__slice_varuint62_len(value);
}
