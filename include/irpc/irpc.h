/* irpc: umbrella header. */
#ifndef IRPC_IRPC_H
#define IRPC_IRPC_H

#include "irpc/version.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "irpc/buf.h"

#endif
