#include "kit/peer.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The PIDs of the running peers, killed at exit if a failing test left
 * one behind. */
#define MAX_PEERS 64
static int running_pids[MAX_PEERS];
static int atexit_done;

static void kill_left_behind(void) {
  for (int i = 0; i < MAX_PEERS; i++)
    if (running_pids[i] > 0)
      kill(running_pids[i], SIGKILL);
}

static void list_pid(int pid) {
  for (int i = 0; i < MAX_PEERS; i++)
    if (running_pids[i] == 0) {
      running_pids[i] = pid;
      return;
    }
}

static void unlist(kit_peer *p) {
  for (int i = 0; i < MAX_PEERS; i++)
    if (running_pids[i] == p->proc.pid)
      running_pids[i] = 0;
}

static void on_handle_closed(uv_handle_t *h) {
  kit_peer *p = h->data;
  p->handles--;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  kit_peer *p = h->data;
  if (p->cap - p->len < 4097) {
    size_t cap = p->cap ? p->cap * 2 : 8192;
    char *t = realloc(p->text, cap);
    if (!t) {
      buf->base = NULL;
      buf->len = 0;
      return;
    }
    p->text = t;
    p->cap = cap;
  }
  buf->base = p->text + p->len;
  buf->len = p->cap - p->len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  kit_peer *p = s->data;
  if (n > 0) {
    p->len += (size_t)n;
    p->text[p->len] = '\0';
  } else if (n < 0) {
    uv_read_stop(s);
    if (!uv_is_closing((uv_handle_t *)s))
      uv_close((uv_handle_t *)s, on_handle_closed);
  }
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int sig) {
  kit_peer *p = proc->data;
  p->exited = 1;
  p->running = 0;
  p->exit_status = status;
  p->term_signal = sig;
  unlist(p);
  uv_close((uv_handle_t *)proc, on_handle_closed);
}

int kit_peer_start(kit_peer *p, uv_loop_t *loop, const char *const *argv,
                   const char *cwd) {
  memset(p, 0, sizeof(*p));
  p->loop = loop;
  const char *base = strrchr(argv[0], '/');
  snprintf(p->name, sizeof p->name, "%s", base ? base + 1 : argv[0]);
  /* setpriv --pdeathsig KILL: the peer goes when the test process does. */
  const char *args[64];
  size_t n = 0;
  int wrap = access("/usr/bin/setpriv", X_OK) == 0;
  if (wrap) {
    args[n++] = "/usr/bin/setpriv";
    args[n++] = "--pdeathsig";
    args[n++] = "KILL";
  }
  for (size_t i = 0; argv[i] && n < 63; i++)
    args[n++] = argv[i];
  args[n] = NULL;

  uv_pipe_init(loop, &p->in, 0);
  uv_pipe_init(loop, &p->out, 0);
  p->in.data = p->out.data = p->proc.data = p;
  p->handles = 2;
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&p->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&p->out;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = args[0];
  o.args = (char **)args;
  o.cwd = cwd;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  int rc = uv_spawn(loop, &p->proc, &o);
  if (rc) {
    uv_close((uv_handle_t *)&p->in, on_handle_closed);
    uv_close((uv_handle_t *)&p->out, on_handle_closed);
    while (p->handles)
      uv_run(loop, UV_RUN_ONCE);
    return rc;
  }
  p->handles++;
  p->running = 1;
  list_pid(p->proc.pid);
  if (!atexit_done) {
    atexit(kill_left_behind);
    atexit_done = 1;
  }
  rc = uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
  if (rc)
    fprintf(stderr, "kit_peer: reading %s: %s\n", p->name, uv_strerror(rc));
  return 0;
}

static void on_deadline(uv_timer_t *t) {
  *(int *)t->data = 1;
}

/* The next complete line starting with prefix after p->scanned. */
static const char *scan_line(kit_peer *p, const char *prefix) {
  size_t plen = strlen(prefix);
  while (p->text && p->scanned < p->len) {
    char *line = p->text + p->scanned;
    char *nl = strchr(line, '\n');
    if (!nl)
      return NULL;
    p->scanned = (size_t)(nl - p->text) + 1;
    if (strncmp(line, prefix, plen) == 0) {
      *nl = '\0'; /* the text keeps lines NUL-separated from here on */
      return line + plen;
    }
  }
  return NULL;
}

const char *kit_peer_wait_line(kit_peer *p, const char *prefix,
                               int timeout_ms) {
  int expired = 0;
  uv_timer_t t;
  uv_timer_init(p->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
  const char *found = NULL;
  for (;;) {
    if ((found = scan_line(p, prefix)))
      break;
    if (expired || (!p->running && uv_is_closing((uv_handle_t *)&p->out)))
      break;
    uv_run(p->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(p->loop, UV_RUN_NOWAIT);
  if (!found)
    fprintf(stderr, "kit_peer: %s %s before printing \"%s\"\n", p->name,
            expired ? "timed out" : "exited", prefix);
  return found;
}

int kit_peer_wait_exit(kit_peer *p, int timeout_ms) {
  int expired = 0;
  uv_timer_t t;
  uv_timer_init(p->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
  while (!expired && (p->running || !uv_is_closing((uv_handle_t *)&p->out)))
    uv_run(p->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(p->loop, UV_RUN_NOWAIT);
  return p->running || !uv_is_closing((uv_handle_t *)&p->out) ? UV_ETIMEDOUT
                                                              : 0;
}

/* Lines are either '\n'-terminated or, once matched by scan_line,
 * NUL-terminated: a line ends at whichever comes first. */
static const char *next_line(const kit_peer *p, const char *at, size_t *len) {
  const char *end = p->text + p->len;
  if (!at || at >= end)
    return NULL;
  const char *e = at;
  while (e < end && *e != '\n' && *e != '\0')
    e++;
  *len = (size_t)(e - at);
  return at;
}

const char *kit_peer_find_line(const kit_peer *p, const char *prefix, char *buf,
                               size_t size) {
  size_t plen = strlen(prefix), len;
  for (const char *l = p->text; (l = next_line(p, l, &len)); l += len + 1)
    if (len >= plen && strncmp(l, prefix, plen) == 0) {
      snprintf(buf, size, "%.*s", (int)len, l);
      return buf;
    }
  return NULL;
}

int kit_peer_has_line(const kit_peer *p, const char *line) {
  size_t want = strlen(line), len;
  for (const char *l = p->text; (l = next_line(p, l, &len)); l += len + 1)
    if (len == want && strncmp(l, line, len) == 0)
      return 1;
  return 0;
}

int kit_peer_stop(kit_peer *p, int signum, int timeout_ms) {
  if (!p->loop)
    return -1;
  if (!uv_is_closing((uv_handle_t *)&p->in))
    uv_close((uv_handle_t *)&p->in, on_handle_closed);
  if (p->running)
    uv_process_kill(&p->proc, signum);
  if (kit_peer_wait_exit(p, timeout_ms) != 0 && p->running) {
    fprintf(stderr, "kit_peer: %s did not stop in %d ms: killed\n", p->name,
            timeout_ms);
    uv_process_kill(&p->proc, SIGKILL);
    kit_peer_wait_exit(p, 10000);
  }
  /* A peer that exits leaves its output pipe to end on its own; one whose
   * children keep it open is not waited for. */
  if (!uv_is_closing((uv_handle_t *)&p->out))
    uv_close((uv_handle_t *)&p->out, on_handle_closed);
  while (p->handles > 0)
    uv_run(p->loop, UV_RUN_ONCE);
  int ok = p->exited && p->term_signal == 0 && p->exit_status == 0;
  unlist(p);
  free(p->text);
  p->text = NULL;
  p->len = p->cap = p->scanned = 0;
  p->loop = NULL;
  return ok ? 0 : -1;
}
