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
#include "irpc/clock.h"
#include "irpc/connection_info.h"
#include "irpc/compress.h"
#include "irpc/deadline.h"
#include "irpc/retry.h"
#include "irpc/request_context.h"
#include "irpc/telemetry.h"
#include "irpc/metrics.h"
#include "irpc/logger.h"
#include "irpc/use_feature.h"
#include "irpc/address.h"
#include "irpc/transport.h"
#include "irpc/connection.h"
#include "irpc/server.h"

#endif
