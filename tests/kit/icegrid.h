/* A real IceGrid registry for the tests: icegridregistry (ZeroC Ice 3.7)
 * with the minimal configuration of a registry without nodes (dynamic
 * registration on, null permissions verifiers, no discovery), listening on
 * loopback only, its database in a temporary directory. */
#ifndef IRPC_TESTS_KIT_ICEGRID_H
#define IRPC_TESTS_KIT_ICEGRID_H

#include "kit/peer.h"

#include <irpc/locator.h>
#include <irpc/pipeline.h>

typedef struct kit_icegrid {
  kit_peer peer;
  char dir[64];          /* the temporary directory (config and database) */
  char instance[32];     /* IceGrid.InstanceName */
  int port;              /* the client endpoint's port: the locator */
  char locator[128];     /* "<instance>/Locator:tcp -h 127.0.0.1 -p <port>" */
  char locator_arg[160]; /* "--Ice.Default.Locator=<locator>" */
} kit_icegrid;

/* Starts a registry named `instance` on a free loopback port and runs the
 * loop until it answers there (it sends an Ice ValidateConnection to a new
 * connection); polled every 10 ms, at most 20 s. Returns 0, UV_ENOENT when
 * icegridregistry is not installed, or another error (the registry exited,
 * or did not answer in time: it is then stopped). */
int kit_icegrid_start(kit_icegrid *g, uv_loop_t *loop, const char *instance);

/* An irpc client of the registry: the locator interceptor
 * (irpc/locator.h), whose locator is the registry's, in front of a
 * connection cache that also carries the locator's own calls. */
typedef struct kit_icegrid_client {
  irpc_service_address *locator_address;
  irpc_invoker *cache, *locator;
  irpc_pipeline *pipeline; /* locator, then into the cache */
  irpc_invoker *invoker;   /* the pipeline's */
} kit_icegrid_client;

/* Builds it on `loop` for the running registry `g`; fails the test on an
 * error. */
void kit_icegrid_client_init(kit_icegrid_client *k, uv_loop_t *loop,
                             const kit_icegrid *g);

/* Frees what init made (the interceptor with the pipeline); a zeroed one
 * is left alone. */
void kit_icegrid_client_fini(kit_icegrid_client *k);

/* Stops the registry by PID (SIGTERM, then SIGKILL after 10 s) and removes
 * its directory. Returns 0 when it exited with status 0. */
int kit_icegrid_stop(kit_icegrid *g);

#endif
