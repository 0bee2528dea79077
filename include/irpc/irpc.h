/* irpc: umbrella header. */
#ifndef IRPC_IRPC_H
#define IRPC_IRPC_H

#include "irpc/version.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "irpc/buf.h"
#include "irpc/slice.h"
#include "irpc/fields.h"
#include "irpc/features.h"
#include "irpc/frames.h"
#include "irpc/invoker.h"
#include "irpc/dispatcher.h"
#include "irpc/pipeline.h"
#include "irpc/router.h"
#include "irpc/coloc.h"

#endif
