/* TCP and Unix domain socket duplexes: one implementation over
 * uv_stream_t. Reads land in the loop's read buffer (the scheduler's: the
 * data is only valid during the read callback), so an idle connection
 * costs its handle and a few requests, not a read buffer. Writes are scatter
 * writes straight from the irpc_buf segments. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred (SO_PEERCRED) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "irpc/alloc.h"
#include "irpc/error.h"
#include "base/list.h"
#include "base/pool.h"
#include "base/scheduler.h"
#include "transport_internal.h"

#define BACKLOG 511
#define STACK_BUFS 16

/* ---- Duplex ---- */

typedef union stream_handle {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
} stream_handle;

typedef struct sdx {
  stream_handle h;
  irpc_duplex *d;
  int is_pipe;
  int handle_live;    /* initialized and not closed */
  int handle_closing; /* uv_close under way */
  int retrying;       /* closing to try the next address */
  int closing;
  int gai_pending;
  int last_err;
  unsigned uv_writes; /* uv_write requests not completed yet */
  uint16_t port;
  uv_getaddrinfo_t gai;
  struct addrinfo *res;
  struct addrinfo *next_ai;
  uv_connect_t creq;
  uv_shutdown_t sreq;
} sdx;

static const irpc_duplex_ops tcp_duplex_ops;
static const irpc_duplex_ops uds_duplex_ops;

static sdx *sdx_of(irpc_duplex *d) {
  return irpc_duplex_data(d);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  irpc_duplex *d = h->data;
  size_t len = 0;
  buf->base = irpc__sched_read_buf(irpc__duplex_sched(d), &len);
  buf->len = buf->base ? len : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  irpc_duplex *d = st->data;
  if (nread > 0)
    irpc_duplex_read_done(d, 0, (const uint8_t *)buf->base, (size_t)nread);
  else if (nread < 0)
    irpc_duplex_read_done(d, (int)nread, NULL, 0);
}

static int sdx_read_start(irpc_duplex *d) {
  return uv_read_start(&sdx_of(d)->h.stream, on_alloc, on_read);
}

static void sdx_read_stop(irpc_duplex *d) {
  uv_read_stop(&sdx_of(d)->h.stream);
}

static void on_write(uv_write_t *req, int status) {
  irpc_duplex *d = req->handle->data;
  sdx_of(d)->uv_writes--;
  irpc_duplex_write_done(d, status);
}

/* Fills `bufs` (n entries) with the segments of `data`, skipping the first
 * `skip` bytes; returns how many entries it used. */
static size_t fill_bufs(uv_buf_t *bufs, size_t n, const irpc_buf *data,
                        size_t skip) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    irpc_bytes seg = irpc_buf_segment(data, i);
    if (skip >= seg.len) {
      skip -= seg.len;
      continue;
    }
    bufs[k++] =
        uv_buf_init((char *)seg.base + skip, (unsigned)(seg.len - skip));
    skip = 0;
  }
  return k;
}

/* Writes what the socket takes at once when nothing is queued before it
 * (no poll registration and no completion round for a small frame); libuv
 * queues the rest. Returns the bytes written, or 0. */
static size_t write_now(sdx *s, uv_buf_t *bufs, size_t n) {
  if (s->uv_writes || uv_stream_get_write_queue_size(&s->h.stream))
    return 0;
  int rc = uv_try_write(&s->h.stream, bufs, (unsigned)n);
  return rc > 0 ? (size_t)rc : 0;
}

static int sdx_write(irpc_duplex *d, irpc_buf *data, void *req) {
  sdx *s = sdx_of(d);
  size_t n = irpc_buf_segment_count(data);
  size_t total = irpc_buf_len(data);
  uv_buf_t stack[STACK_BUFS];
  uv_buf_t *bufs = stack;
  if (n > STACK_BUFS) {
    bufs = irpc__pool_get(n * sizeof(*bufs));
    if (!bufs)
      return IRPC_ENOMEM;
  }
  size_t k = fill_bufs(bufs, n, data, 0);
  size_t done = total ? write_now(s, bufs, k) : 0;
  int rc = 0;
  if (total && done == total) {
    irpc_duplex_write_done(d, 0);
  } else {
    if (done)
      k = fill_bufs(bufs, n, data, done);
    if (k == 0)
      bufs[k++] = uv_buf_init((char *)"", 0);
    /* libuv copies the uv_buf_t array; the bytes stay in `data`, which the
     * framework keeps until the write completes. */
    rc = uv_write(req, &s->h.stream, bufs, (unsigned)k, on_write);
    if (rc == 0)
      s->uv_writes++;
  }
  if (bufs != stack)
    irpc__pool_put(bufs, n * sizeof(*bufs));
  return rc;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  irpc_duplex_shutdown_done(req->handle->data, status);
}

static int sdx_shutdown(irpc_duplex *d) {
  sdx *s = sdx_of(d);
  return uv_shutdown(&s->sreq, &s->h.stream, on_shutdown);
}

static void maybe_close_done(sdx *s) {
  if (s->closing && !s->handle_live && !s->gai_pending) {
    if (s->res) {
      uv_freeaddrinfo(s->res);
      s->res = NULL;
    }
    irpc_duplex_close_done(s->d);
  }
}

static void on_retry_closed(sdx *s);

static void on_handle_closed(uv_handle_t *h) {
  sdx *s = sdx_of(h->data);
  s->handle_live = 0;
  s->handle_closing = 0;
  if (s->retrying)
    on_retry_closed(s);
  else
    maybe_close_done(s);
}

static void sdx_close(irpc_duplex *d, int abort) {
  sdx *s = sdx_of(d);
  s->closing = 1;
  if (s->gai_pending)
    uv_cancel((uv_req_t *)&s->gai);
  if (s->handle_live && !s->handle_closing) {
    s->handle_closing = 1;
    if (!abort || s->is_pipe ||
        uv_tcp_close_reset(&s->h.tcp, on_handle_closed) != 0)
      uv_close(&s->h.handle, on_handle_closed);
  }
  maybe_close_done(s);
}

static int format_sockaddr(const struct sockaddr_storage *ss, char *buf,
                           size_t len) {
  char ip[64];
  char out[80];
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    uv_ip4_name(in, ip, sizeof(ip));
    snprintf(out, sizeof(out), "%s:%u", ip, (unsigned)ntohs(in->sin_port));
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(in6, ip, sizeof(ip));
    snprintf(out, sizeof(out), "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
  } else {
    return UV_EAFNOSUPPORT;
  }
  return irpc__copy_str(buf, len, out);
}

static int tcp_address(const irpc_duplex *d, char *buf, size_t len, int peer) {
  const sdx *s = irpc_duplex_cdata(d);
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  int rc = peer ? uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&ss, &n)
                : uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *)&ss, &n);
  return rc ? rc : format_sockaddr(&ss, buf, len);
}

static int tcp_local(const irpc_duplex *d, char *buf, size_t len) {
  return tcp_address(d, buf, len, 0);
}

static int tcp_remote(const irpc_duplex *d, char *buf, size_t len) {
  return tcp_address(d, buf, len, 1);
}

static int pipe_address(const irpc_duplex *d, char *buf, size_t len, int peer) {
  const sdx *s = irpc_duplex_cdata(d);
  char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
  size_t n = sizeof(name) - 1;
  int rc = peer ? uv_pipe_getpeername(&s->h.pipe, name, &n)
                : uv_pipe_getsockname(&s->h.pipe, name, &n);
  if (rc)
    return rc;
  name[n] = '\0';
  if (n > 0 && name[0] == '\0')
    name[0] = '@'; /* abstract */
  if (len <= n) {
    if (len > 0)
      buf[0] = '\0';
    return UV_ENOBUFS;
  }
  memcpy(buf, name, n + 1);
  return 0;
}

static int pipe_local(const irpc_duplex *d, char *buf, size_t len) {
  return pipe_address(d, buf, len, 0);
}

static int pipe_remote(const irpc_duplex *d, char *buf, size_t len) {
  return pipe_address(d, buf, len, 1);
}

static int pipe_cred(const irpc_duplex *d, irpc_peer_credentials *out) {
#ifdef SO_PEERCRED
  const sdx *s = irpc_duplex_cdata(d);
  uv_os_fd_t fd;
  int rc = uv_fileno(&s->h.handle, &fd);
  if (rc)
    return rc;
  struct ucred uc;
  socklen_t n = sizeof(uc);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &n) != 0)
    return (-errno);
  out->pid = uc.pid;
  out->uid = uc.uid;
  out->gid = uc.gid;
  return 0;
#else
  (void)d;
  (void)out;
  return IRPC_ENOTSUP;
#endif
}

static const irpc_duplex_ops tcp_duplex_ops = {
    .struct_size = sizeof(irpc_duplex_ops),
    .name = "tcp",
    .data_size = sizeof(sdx),
    .write_req_size = sizeof(uv_write_t),
    .read_start = sdx_read_start,
    .read_stop = sdx_read_stop,
    .write = sdx_write,
    .shutdown = sdx_shutdown,
    .close = sdx_close,
    .local_address = tcp_local,
    .remote_address = tcp_remote,
};

static const irpc_duplex_ops uds_duplex_ops = {
    .struct_size = sizeof(irpc_duplex_ops),
    .name = "uds",
    .data_size = sizeof(sdx),
    .write_req_size = sizeof(uv_write_t),
    .read_start = sdx_read_start,
    .read_stop = sdx_read_stop,
    .write = sdx_write,
    .shutdown = sdx_shutdown,
    .close = sdx_close,
    .local_address = pipe_local,
    .remote_address = pipe_remote,
    .peer_credentials = pipe_cred,
};

static int sdx_init_handle(sdx *s, uv_loop_t *loop) {
  int rc = s->is_pipe ? uv_pipe_init(loop, &s->h.pipe, 0)
                      : uv_tcp_init(loop, &s->h.tcp);
  if (rc)
    return rc;
  s->h.handle.data = s->d;
  s->handle_live = 1;
  return 0;
}

/* A write to a socket whose peer is gone raises SIGPIPE, whose default
 * action ends the process. While SIGPIPE has that default action, a socket
 * transport sets it to ignored, so such a write fails with UV_EPIPE and
 * ends one connection instead; a disposition the application chose is left
 * alone. */
static void sigpipe_default_to_ignore(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
      sa.sa_handler == SIG_DFL)
    signal(SIGPIPE, SIG_IGN);
}

/* A duplex with its handle initialized (connecting or to be accepted). */
static int sdx_new(irpc_duplex **out, uv_loop_t *loop, int is_pipe,
                   int connecting) {
  irpc_duplex *d;
  sigpipe_default_to_ignore();
  int rc = irpc_duplex_new(
      &d, loop, is_pipe ? &uds_duplex_ops : &tcp_duplex_ops, connecting);
  if (rc)
    return rc;
  sdx *s = sdx_of(d);
  s->d = d;
  s->is_pipe = is_pipe;
  rc = sdx_init_handle(s, loop);
  if (rc) {
    irpc_duplex_discard(d);
    return rc;
  }
  *out = d;
  return 0;
}

/* ---- Connecting ---- */

static void try_next(sdx *s);

static void on_connect(uv_connect_t *req, int status) {
  sdx *s = sdx_of(req->handle->data);
  if (s->closing)
    return;
  if (status == 0) {
    if (!s->is_pipe)
      uv_tcp_nodelay(&s->h.tcp, 1);
    if (s->res) {
      uv_freeaddrinfo(s->res);
      s->res = NULL;
    }
    irpc_duplex_connect_done(s->d, 0);
    return;
  }
  s->last_err = status;
  if (s->next_ai) {
    /* A failed socket cannot connect again: close it, then retry. */
    s->retrying = 1;
    s->handle_closing = 1;
    uv_close(&s->h.handle, on_handle_closed);
    return;
  }
  irpc_duplex_connect_done(s->d, status);
}

static void connect_to(sdx *s, const struct sockaddr *sa) {
  int rc = uv_tcp_connect(&s->creq, &s->h.tcp, sa, on_connect);
  if (rc) {
    s->last_err = rc;
    if (s->next_ai)
      try_next(s);
    else
      irpc_duplex_connect_done(s->d, rc);
  }
}

/* Tries the next getaddrinfo result (after a retry closed the handle). */
static void try_next(sdx *s) {
  struct addrinfo *ai = s->next_ai;
  s->next_ai = ai ? ai->ai_next : NULL;
  if (!ai) {
    irpc_duplex_connect_done(s->d, s->last_err ? s->last_err : UV_EAI_NONAME);
    return;
  }
  if (!s->handle_live) {
    int rc = sdx_init_handle(s, irpc_duplex_loop(s->d));
    if (rc) {
      irpc_duplex_connect_done(s->d, rc);
      return;
    }
  }
  struct sockaddr_storage ss;
  memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
  if (ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = htons(s->port);
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons(s->port);
  connect_to(s, (struct sockaddr *)&ss);
}

static void on_retry_closed(sdx *s) {
  s->retrying = 0;
  if (s->closing)
    maybe_close_done(s);
  else
    try_next(s);
}

static void on_gai(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  sdx *s = IRPC__CONTAINER_OF(req, sdx, gai);
  s->gai_pending = 0;
  s->res = res;
  if (s->closing) {
    maybe_close_done(s);
    return;
  }
  if (status) {
    irpc_duplex_connect_done(s->d, status);
    return;
  }
  s->next_ai = res;
  try_next(s);
}

/* An IP literal, with the port, or UV_EINVAL. */
static int ip_literal(const char *host, uint16_t port,
                      struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
    return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  return UV_EINVAL;
}

static int tcp_connect(irpc_transport *t, uv_loop_t *loop,
                       const irpc_server_address *addr, irpc_duplex **out) {
  (void)t;
  const char *tr = irpc_server_address_transport(addr);
  if (tr && strcmp(tr, "tcp") != 0)
    return IRPC_EINVAL;
  irpc_duplex *d;
  int rc = sdx_new(&d, loop, 0, 1);
  if (rc)
    return rc;
  sdx *s = sdx_of(d);
  s->port = irpc_server_address_port(addr);
  const char *host = irpc_server_address_host(addr);
  struct sockaddr_storage ss;
  if (ip_literal(host, s->port, &ss) == 0) {
    connect_to(s, (struct sockaddr *)&ss);
  } else {
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = uv_getaddrinfo(loop, &s->gai, on_gai, host, NULL, &hints);
    if (rc)
      irpc_duplex_connect_done(d, rc);
    else
      s->gai_pending = 1;
  }
  *out = d;
  return 0;
}

/* Fills a sockaddr_un for `path` ('@' = abstract); returns its length or a
 * negative error. */
static int unix_addr(const char *path, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n >= sizeof(sa->sun_path))
    return UV_ENAMETOOLONG;
  if (path[0] == '@') {
#ifdef __linux__
    memcpy(sa->sun_path + 1, path + 1, n - 1);
    return (int)(offsetof(struct sockaddr_un, sun_path) + n);
#else
    return IRPC_ENOTSUP;
#endif
  }
  memcpy(sa->sun_path, path, n);
  return (int)sizeof(*sa);
}

/* The socket path of a uds address, checked; NULL with *err set. */
static const char *uds_path(const irpc_server_address *addr, int *err) {
  const char *tr = irpc_server_address_transport(addr);
  const char *path = irpc_server_address_param(addr, "path");
  struct sockaddr_un sa;
  if ((tr && strcmp(tr, "uds") != 0) || !path || !*path)
    *err = IRPC_EINVAL;
  else if ((*err = unix_addr(path, &sa)) >= 0)
    return path;
  return NULL;
}

static void on_pipe_connect(uv_connect_t *req, int status) {
  on_connect(req, status);
}

/* A connected or bound socket for an abstract name, opened in the pipe. */
static int abstract_socket(uv_pipe_t *pipe, const char *path, int do_bind) {
  struct sockaddr_un sa;
  int len = unix_addr(path, &sa);
  if (len < 0)
    return len;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return (-errno);
  int rc = do_bind ? bind(fd, (struct sockaddr *)&sa, (socklen_t)len)
                   : connect(fd, (struct sockaddr *)&sa, (socklen_t)len);
  if (rc != 0) {
    rc = (-errno);
    close(fd);
    return rc;
  }
  rc = uv_pipe_open(pipe, fd);
  if (rc)
    close(fd);
  return rc;
}

static int uds_connect(irpc_transport *t, uv_loop_t *loop,
                       const irpc_server_address *addr, irpc_duplex **out) {
  (void)t;
  int rc;
  const char *path = uds_path(addr, &rc);
  if (!path)
    return rc;
  irpc_duplex *d;
  rc = sdx_new(&d, loop, 1, 1);
  if (rc)
    return rc;
  sdx *s = sdx_of(d);
  if (path[0] == '@') {
    rc = abstract_socket(&s->h.pipe, path, 0);
    irpc_duplex_connect_done(d, rc);
  } else {
    uv_pipe_connect(&s->creq, &s->h.pipe, path, on_pipe_connect);
  }
  *out = d;
  return 0;
}

/* ---- Listening ---- */

/* A connection that cannot get a duplex (out of memory) is accepted into
 * `reject` and closed at once, so the peer sees it end. libuv owns a
 * handle until its close callback, so `reject` lives in the listener, and
 * the listener ends only when both handles are closed. While `reject` is
 * closing, libuv holds the next connection and stops accepting; the close
 * callback takes that connection again. */
typedef struct sls {
  stream_handle h;
  stream_handle reject;
  irpc_listener *l;
  int is_pipe;
  int closing;        /* sls_close called */
  int h_closed;       /* the listening handle's close callback ran */
  int reject_closing; /* `reject` is closing */
  int reject_waiting; /* a connection waits until `reject` is closed */
  char *unlink_path;
} sls;

static void on_listener_closed(uv_handle_t *h) {
  irpc_listener *l = h->data;
  sls *s = irpc_listener_data(l);
  s->h_closed = 1;
  if (!s->reject_closing)
    irpc_listener_close_done(l);
}

static void sls_close(irpc_listener *l) {
  sls *s = irpc_listener_data(l);
  s->closing = 1;
  if (s->unlink_path)
    unlink(s->unlink_path);
  uv_close(&s->h.handle, on_listener_closed);
}

static void sls_destroy(irpc_listener *l) {
  sls *s = irpc_listener_data(l);
  irpc_free(s->unlink_path);
}

static const irpc_listener_ops stream_listener_ops = {
    .struct_size = sizeof(irpc_listener_ops),
    .name = "stream",
    .data_size = sizeof(sls),
    .close = sls_close,
    .destroy = sls_destroy,
};

static void on_connection(uv_stream_t *server, int status);

static void on_reject_closed(uv_handle_t *h) {
  irpc_listener *l = h->data;
  sls *s = irpc_listener_data(l);
  s->reject_closing = 0;
  if (s->h_closed) {
    irpc_listener_close_done(l);
    return;
  }
  if (s->reject_waiting && !s->closing) {
    s->reject_waiting = 0;
    on_connection(&s->h.stream, 0);
  }
}

/* Takes the connection libuv accepted off the listener and closes it. */
static void reject_connection(uv_stream_t *server, sls *s) {
  if (s->reject_closing) {
    s->reject_waiting = 1;
    return;
  }
  if ((s->is_pipe ? uv_pipe_init(server->loop, &s->reject.pipe, 0)
                  : uv_tcp_init(server->loop, &s->reject.tcp)) != 0)
    return;
  s->reject.handle.data = s->l;
  uv_accept(server, &s->reject.stream);
  s->reject_closing = 1;
  uv_close(&s->reject.handle, on_reject_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  irpc_listener *l = server->data;
  sls *ls = irpc_listener_data(l);
  if (status < 0)
    return;
  irpc_duplex *d;
  if (sdx_new(&d, irpc_listener_loop(l), ls->is_pipe, 0) != 0) {
    reject_connection(server, ls);
    return;
  }
  sdx *s = sdx_of(d);
  if (uv_accept(server, &s->h.stream) != 0) {
    irpc_duplex_close(d, NULL, NULL);
    return;
  }
  if (!ls->is_pipe)
    uv_tcp_nodelay(&s->h.tcp, 1);
  irpc_listener_accepted(l, d);
}

static int listen_new(irpc_listener **out, uv_loop_t *loop,
                      const irpc_server_address *addr, int is_pipe,
                      irpc_accept_cb cb, void *ud) {
  irpc_listener *l;
  sigpipe_default_to_ignore();
  int rc = irpc_listener_new(&l, loop, &stream_listener_ops, addr, cb, ud);
  if (rc)
    return rc;
  sls *s = irpc_listener_data(l);
  s->l = l;
  s->is_pipe = is_pipe;
  rc = is_pipe ? uv_pipe_init(loop, &s->h.pipe, 0)
               : uv_tcp_init(loop, &s->h.tcp);
  if (rc) {
    irpc_listener_discard(l);
    return rc;
  }
  s->h.handle.data = l;
  *out = l;
  return 0;
}

/* Closes a listener whose handle is initialized but that failed to bind;
 * the loop frees it (its accept callback never runs). */
static int listen_fail(irpc_listener *l, int rc) {
  sls *s = irpc_listener_data(l);
  irpc_free(s->unlink_path);
  s->unlink_path = NULL;
  irpc_listener_close(l, NULL, NULL);
  return rc;
}

static int tcp_bind_addr(uv_loop_t *loop, const irpc_server_address *addr,
                         struct sockaddr_storage *ss) {
  const char *host = irpc_server_address_host(addr);
  uint16_t port = irpc_server_address_port(addr);
  if (!*host || strcmp(host, "::0") == 0)
    host = "::";
  if (ip_literal(host, port, ss) == 0)
    return 0;
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  uv_getaddrinfo_t req;
  int rc = uv_getaddrinfo(loop, &req, NULL, host, NULL, &hints);
  if (rc)
    return rc;
  struct addrinfo *ai = req.addrinfo;
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
  uv_freeaddrinfo(req.addrinfo);
  return 0;
}

/* The address a TCP listener of `addr` binds (IRPC_EINVAL: not a TCP
 * address). */
static int tcp_listen_addr(uv_loop_t *loop, const irpc_server_address *addr,
                           struct sockaddr_storage *ss) {
  const char *tr = irpc_server_address_transport(addr);
  if (tr && strcmp(tr, "tcp") != 0)
    return IRPC_EINVAL;
  return tcp_bind_addr(loop, addr, ss);
}

/* A TCP listener whose socket is bound (`rc` 0) listens and learns its
 * port; else it fails with `rc`. */
static int tcp_listen_start(irpc_listener *l, int rc, irpc_listener **out) {
  sls *s = irpc_listener_data(l);
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  if (!rc)
    rc = uv_listen(&s->h.stream, BACKLOG, on_connection);
  if (!rc)
    rc = uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *)&ss, &n);
  if (rc)
    return listen_fail(l, rc);
  uint16_t port =
      ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
  irpc__server_address_set_port((irpc_server_address *)irpc_listener_address(l),
                                port);
  *out = l;
  return 0;
}

static int tcp_listen(irpc_transport *t, uv_loop_t *loop,
                      const irpc_server_address *addr, irpc_accept_cb cb,
                      void *ud, irpc_listener **out) {
  (void)t;
  struct sockaddr_storage ss;
  int rc = tcp_listen_addr(loop, addr, &ss);
  if (rc)
    return rc;
  irpc_listener *l;
  rc = listen_new(&l, loop, addr, 0, cb, ud);
  if (rc)
    return rc;
  sls *s = irpc_listener_data(l);
  return tcp_listen_start(l, uv_tcp_bind(&s->h.tcp, (struct sockaddr *)&ss, 0),
                          out);
}

int irpc__tcp_listen_reuseport(irpc_listener **out, uv_loop_t *loop,
                               const irpc_server_address *addr,
                               irpc_accept_cb cb, void *ud) {
#ifdef SO_REUSEPORT
  struct sockaddr_storage ss;
  int rc = tcp_listen_addr(loop, addr, &ss);
  if (rc)
    return rc;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  int on = 1;
  socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
      bind(fd, (struct sockaddr *)&ss, len) != 0) {
    rc = uv_translate_sys_error(errno);
    close(fd);
    return rc;
  }
  irpc_listener *l;
  rc = listen_new(&l, loop, addr, 0, cb, ud);
  if (rc) {
    close(fd);
    return rc;
  }
  sls *s = irpc_listener_data(l);
  rc = uv_tcp_open(&s->h.tcp, fd);
  if (rc) {
    close(fd);
    return listen_fail(l, rc);
  }
  return tcp_listen_start(l, 0, out);
#else
  (void)out, (void)loop, (void)addr, (void)cb, (void)ud;
  return IRPC_ENOTSUP;
#endif
}

/* A socket file at `path` left by a listener that is gone (a crashed
 * predecessor) is removed; a live listener's is not. The only reliable
 * test is to knock: ECONNREFUSED means nobody listens, a connection (or a
 * full backlog: EAGAIN) means somebody does. Any other kind of file, or
 * another answer, is left alone and the bind decides (UV_EADDRINUSE).
 * Returns UV_EADDRINUSE when a live listener answered, else 0. */
static int clear_stale(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
    return 0;
  struct sockaddr_un sa;
  int len = unix_addr(path, &sa);
  if (len < 0)
    return 0;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return 0;
  int rc = connect(fd, (struct sockaddr *)&sa, (socklen_t)len);
  int err = rc ? errno : 0;
  close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
    return UV_EADDRINUSE;
  if (err == ECONNREFUSED)
    unlink(path);
  return 0;
}

static int uds_listen(irpc_transport *t, uv_loop_t *loop,
                      const irpc_server_address *addr, irpc_accept_cb cb,
                      void *ud, irpc_listener **out) {
  (void)t;
  int rc;
  const char *path = uds_path(addr, &rc);
  if (!path)
    return rc;
  irpc_listener *l;
  rc = listen_new(&l, loop, addr, 1, cb, ud);
  if (rc)
    return rc;
  sls *s = irpc_listener_data(l);
  if (path[0] == '@') {
    rc = abstract_socket(&s->h.pipe, path, 1);
  } else {
    rc = clear_stale(path);
    if (!rc)
      rc = uv_pipe_bind(&s->h.pipe, path);
    if (!rc) {
      s->unlink_path = irpc_malloc(strlen(path) + 1);
      if (s->unlink_path)
        memcpy(s->unlink_path, path, strlen(path) + 1);
      else
        rc = IRPC_ENOMEM;
    }
  }
  if (!rc)
    rc = uv_listen(&s->h.stream, BACKLOG, on_connection);
  if (rc)
    return listen_fail(l, rc);
  *out = l;
  return 0;
}

const irpc_transport_ops irpc__tcp_transport_ops = {
    .struct_size = sizeof(irpc_transport_ops),
    .name = "tcp",
    .connect = tcp_connect,
    .listen = tcp_listen,
};

const irpc_transport_ops irpc__uds_transport_ops = {
    .struct_size = sizeof(irpc_transport_ops),
    .name = "uds",
    .connect = uds_connect,
    .listen = uds_listen,
};

/* ---- Moving a connection to another loop ---- */

int irpc__stream_duplex_detach(irpc_duplex *d, uv_os_sock_t *fd, int *is_pipe) {
  const irpc_duplex_ops *ops = irpc_duplex_get_ops(d);
  if (ops != &tcp_duplex_ops && ops != &uds_duplex_ops)
    return IRPC_ENOTSUP;
  sdx *s = sdx_of(d);
  uv_os_fd_t own;
  int rc = uv_fileno(&s->h.handle, &own);
  if (rc)
    return rc;
  int dup_fd = fcntl(own, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0)
    return uv_translate_sys_error(errno);
  *fd = dup_fd;
  *is_pipe = s->is_pipe;
  /* A plain close of this handle's descriptor: the socket lives on in the
   * duplicate (no shutdown, no reset). */
  irpc_duplex_close(d, NULL, NULL);
  return 0;
}

int irpc__stream_duplex_adopt(irpc_duplex **out, uv_loop_t *loop,
                              uv_os_sock_t fd, int is_pipe) {
  irpc_duplex *d;
  int rc = sdx_new(&d, loop, is_pipe, 0);
  if (rc) {
    close(fd);
    return rc;
  }
  sdx *s = sdx_of(d);
  rc = is_pipe ? uv_pipe_open(&s->h.pipe, fd) : uv_tcp_open(&s->h.tcp, fd);
  if (rc) {
    close(fd);
    irpc_duplex_close(d, NULL, NULL);
    return rc;
  }
  if (!is_pipe)
    uv_tcp_nodelay(&s->h.tcp, 1);
  *out = d;
  return 0;
}
