#include "interop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PEER_PY IRPC_INTEROP_DIR "/peer.py"
#define SLICE_FILE IRPC_INTEROP_DIR "/Interop.ice"

static size_t build_argv(const char **argv, size_t max, const char *mode,
                         const char *const *extra) {
  size_t n = 0;
  argv[n++] = IRPC_ICE_PYTHON;
  argv[n++] = PEER_PY;
  argv[n++] = mode;
  argv[n++] = "--slice";
  argv[n++] = SLICE_FILE;
  for (size_t i = 0; extra && extra[i] && n < max - 1; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  return n;
}

void interop_ice_server_start(kit_peer *p, uv_loop_t *loop,
                              const char *const *extra, int *port, char *proxy,
                              size_t size) {
  const char *argv[40];
  build_argv(argv, 40, "server", extra);
  int rc = kit_peer_start(p, loop, argv, NULL);
  if (rc)
    fail_msg("starting the Ice server (%s %s): %s", IRPC_ICE_PYTHON, PEER_PY,
             uv_strerror(rc));
  const char *ready = kit_peer_wait_line(p, "ready ", 30000);
  if (!ready) {
    kit_peer_stop(p, SIGKILL, 5000);
    fail_msg("the Ice server did not start");
  }
  char *end;
  long v = strtol(ready, &end, 10);
  if (v <= 0 || v > 65535 || *end != ' ') {
    kit_peer_stop(p, SIGKILL, 5000);
    fail_msg("the Ice server printed \"ready %s\"", ready);
  }
  *port = (int)v;
  snprintf(proxy, size, "%s", end + 1);
}

int interop_ice_run(kit_peer *p, uv_loop_t *loop, const char *mode,
                    const char *const *args) {
  const char *argv[40];
  build_argv(argv, 40, mode, args);
  int rc = kit_peer_start(p, loop, argv, NULL);
  if (rc)
    fail_msg("starting the Ice %s: %s", mode, uv_strerror(rc));
  if (kit_peer_wait_exit(p, 180000) != 0) {
    kit_peer_stop(p, SIGKILL, 5000);
    fail_msg("the Ice %s did not finish in 180 s", mode);
  }
  return p->term_signal ? 128 + p->term_signal : (int)p->exit_status;
}

void interop_expect_pass(const kit_peer *client, const char *line) {
  char want[256], why[1024], prefix[256];
  snprintf(want, sizeof want, "PASS %s", line);
  if (kit_peer_has_line(client, want))
    return;
  snprintf(prefix, sizeof prefix, "FAIL %s:", line);
  if (kit_peer_find_line(client, prefix, why, sizeof why))
    fail_msg("%s", why);
  fail_msg("the Ice client did not run the check %s", line);
}

int interop_echo_server_start(kit_peer *p, uv_loop_t *loop,
                              const char *const *argv) {
  int rc = kit_peer_start(p, loop, argv, NULL);
  if (rc)
    fail_msg("starting %s: %s", argv[0], uv_strerror(rc));
  const char *addr = kit_peer_wait_line(p, "ice://", 30000);
  const char *colon = addr ? strrchr(addr, ':') : NULL;
  long port = colon ? strtol(colon + 1, NULL, 10) : 0;
  if (port <= 0 || port > 65535) {
    kit_peer_stop(p, SIGKILL, 5000);
    fail_msg("%s did not print its ice:// address", argv[0]);
  }
  return (int)port;
}
