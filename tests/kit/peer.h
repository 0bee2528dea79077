/* Peer processes for the tests that talk to real programs (ZeroC Ice
 * peers, icegridregistry): started on the test's loop with its standard
 * output collected line by line, waited for by their output or their exit
 * (never by sleeping), and stopped by PID.
 *
 * A peer gets a pipe as standard input that the test keeps open, and is
 * started through setpriv --pdeathsig when it is installed: a peer that
 * watches its input, or any peer when the test process dies, goes too. */
#ifndef IRPC_TESTS_KIT_PEER_H
#define IRPC_TESTS_KIT_PEER_H

#include "kit/kit.h"

typedef struct kit_peer {
  uv_loop_t *loop;
  uv_process_t proc;
  uv_pipe_t in, out;
  char name[64]; /* argv[0]'s base name, for messages */
  char *text;    /* everything it printed, NUL-terminated */
  size_t len, cap, scanned;
  int running; /* started and its exit not seen yet */
  int exited;
  int64_t exit_status;
  int term_signal;
  int handles; /* pipes and process handle still open */
} kit_peer;

/* Starts argv[0] (looked up in PATH) with argv; `cwd` may be NULL.
 * Returns 0 or a libuv error (UV_ENOENT: no such program). */
int kit_peer_start(kit_peer *p, uv_loop_t *loop, const char *const *argv,
                   const char *cwd);

/* Runs the loop until the peer printed a line starting with `prefix`, and
 * returns the rest of that line (valid until the next call on the peer);
 * NULL when the peer exited first or timeout_ms passed (the reason is
 * printed). Each line is matched once: a second call finds the next one. */
const char *kit_peer_wait_line(kit_peer *p, const char *prefix, int timeout_ms);

/* Runs the loop until the peer exited and its output ended; 0, or
 * UV_ETIMEDOUT after timeout_ms (the peer is left running). Its status is
 * then in exit_status and term_signal. */
int kit_peer_wait_exit(kit_peer *p, int timeout_ms);

/* 1 when the peer printed exactly this line. */
int kit_peer_has_line(const kit_peer *p, const char *line);

/* The first line the peer printed starting with `prefix`, copied into buf
 * (at most `size` bytes); NULL when there is none. */
const char *kit_peer_find_line(const kit_peer *p, const char *prefix, char *buf,
                               size_t size);

/* Stops the peer: closes its input, sends `signum` (SIGTERM for a graceful
 * stop) by PID, waits up to timeout_ms for its exit, then SIGKILL. Returns 0
 * when it exited on its own with status 0 after the signal, else -1 (the
 * status is in exit_status/term_signal). Frees what it holds; safe on a peer
 * that already exited or never started (zeroed). */
int kit_peer_stop(kit_peer *p, int signum, int timeout_ms);

#endif
