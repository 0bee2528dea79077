// The public headers compile as C++: this file is only compiled.
#include <irpc/irpc.h>

static_assert(alignof(irpc_arena) >= 16, "irpc_arena keeps its alignment");

int irpc_cxx_include_check() {
  return IRPC_EINVAL != 0;
}
