/* The TLS floor of the TLS comparison (bench/compare/tls.sh): OpenSSL
 * alone over TCP between two processes, no RPC protocol and no glue of
 * ours: non-blocking sockets read and written by OpenSSL itself (its
 * socket BIO, SSL_read/SSL_write straight on the descriptor), driven by
 * poll(). TLS 1.3 with the ciphers irpc prefers (AES-128-GCM first). The
 * server echoes every byte; the client measures what irpc-bench-client
 * measures, with messages instead of calls:
 *   latency     a 16-byte ping-pong, one at a time (p50, p99);
 *   echo_1MiB   one 1 MiB message at a time: MB/s of message payload;
 *   handshakes  full TLS handshakes per second (a new TCP connection each
 *               time, no resumption).
 *
 *   irpc-bench-raw-tls serve CERT KEY   prints tcp://127.0.0.1:PORT when
 *                                       ready, echoes until killed
 *   irpc-bench-raw-tls client [--seconds S] tcp://HOST:PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "benchutil.h"

enum { buf_size = 256 * 1024, max_conns = 64 };

static const char *ciphers = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                             "TLS_CHACHA20_POLY1305_SHA256";

static void nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- Server ---- */

typedef struct conn {
  int fd;
  SSL *ssl;
  int open; /* the handshake completed */
  short want;
  char *buf; /* read, not echoed yet: buf[off..len) */
  size_t off, len;
} conn;

static void conn_free(conn *c) {
  SSL_free(c->ssl);
  close(c->fd);
  free(c->buf);
  memset(c, 0, sizeof(*c));
  c->fd = -1;
}

/* Drives one connection as far as it goes; 0 when it ended. */
static int conn_step(conn *c) {
  for (;;) {
    int r, e;
    if (!c->open) {
      r = SSL_accept(c->ssl);
      if (r == 1) {
        c->open = 1;
        continue;
      }
    } else if (c->off < c->len) {
      size_t w = 0;
      r = SSL_write_ex(c->ssl, c->buf + c->off, c->len - c->off, &w);
      if (r == 1) {
        c->off += w;
        if (c->off == c->len)
          c->off = c->len = 0;
        continue;
      }
    } else {
      size_t n = 0;
      r = SSL_read_ex(c->ssl, c->buf, buf_size, &n);
      if (r == 1) {
        c->len = n;
        continue;
      }
    }
    e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ) {
      c->want = POLLIN;
      return 1;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
      c->want = POLLOUT;
      return 1;
    }
    return 0;
  }
}

static int serve(const char *cert, const char *key) {
  signal(SIGPIPE, SIG_IGN);
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "irpc-bench-raw-tls: cannot load %s and %s\n", cert, key);
    return 1;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, ciphers);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64) ||
      getsockname(l, (struct sockaddr *)&a, &len)) {
    perror("irpc-bench-raw-tls");
    return 1;
  }
  printf("tcp://127.0.0.1:%u\n", (unsigned)ntohs(a.sin_port));
  fflush(stdout);
  static conn conns[max_conns];
  for (int i = 0; i < max_conns; i++)
    conns[i].fd = -1;
  for (;;) {
    struct pollfd p[max_conns + 1];
    int idx[max_conns + 1];
    int n = 0;
    p[n] = (struct pollfd){.fd = l, .events = POLLIN};
    idx[n++] = -1;
    for (int i = 0; i < max_conns; i++)
      if (conns[i].fd >= 0) {
        p[n] = (struct pollfd){.fd = conns[i].fd, .events = conns[i].want};
        idx[n++] = i;
      }
    if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
      return 1;
    for (int k = 1; k < n; k++)
      if (p[k].revents && !conn_step(&conns[idx[k]]))
        conn_free(&conns[idx[k]]);
    if (p[0].revents & POLLIN) {
      int fd = accept(l, NULL, NULL);
      int i = 0;
      while (i < max_conns && conns[i].fd >= 0)
        i++;
      if (fd < 0)
        continue;
      if (i == max_conns) {
        close(fd);
        continue;
      }
      nonblocking(fd);
      conn *c = &conns[i];
      c->fd = fd;
      c->ssl = SSL_new(ctx);
      c->buf = malloc(buf_size);
      SSL_set_fd(c->ssl, fd);
      if (!conn_step(c))
        conn_free(c);
    }
  }
}

/* ---- Client ---- */

typedef struct client {
  SSL_CTX *ctx;
  struct sockaddr_in addr;
  int fd;
  SSL *ssl;
  char *msg, *rbuf;
} client;

/* Waits until the socket is ready for what the engine wants; 0 on a
 * failure of the engine. */
static int wait_for(client *c, int r) {
  int e = SSL_get_error(c->ssl, r);
  ERR_clear_error();
  struct pollfd p = {.fd = c->fd};
  if (e == SSL_ERROR_WANT_READ)
    p.events = POLLIN;
  else if (e == SSL_ERROR_WANT_WRITE)
    p.events = POLLOUT;
  else
    return 0;
  return poll(&p, 1, -1) >= 0 || errno == EINTR;
}

static int cl_connect(client *c) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0 ||
      connect(c->fd, (struct sockaddr *)&c->addr, sizeof c->addr) != 0)
    return -1;
  nonblocking(c->fd);
  c->ssl = SSL_new(c->ctx);
  SSL_set_fd(c->ssl, c->fd);
  int r;
  while ((r = SSL_connect(c->ssl)) != 1)
    if (!wait_for(c, r))
      return -1;
  return 0;
}

static void cl_close(client *c) {
  SSL_free(c->ssl);
  close(c->fd);
  c->ssl = NULL;
  c->fd = -1;
}

/* Sends `size` bytes and reads them back, writing while the echo comes
 * back; 0 on success. */
static int cl_echo(client *c, size_t size) {
  size_t sent = 0, got = 0;
  while (got < size) {
    int progressed = 0, r = 1;
    if (sent < size) {
      size_t w = 0;
      r = SSL_write_ex(c->ssl, c->msg + sent, size - sent, &w);
      if (r == 1) {
        sent += w;
        progressed = 1;
      } else if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_WRITE &&
                 SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
        return -1;
      }
      ERR_clear_error();
    }
    size_t n = 0;
    int rr = SSL_read_ex(c->ssl, c->rbuf, buf_size, &n);
    if (rr == 1) {
      got += n;
      continue;
    }
    if (SSL_get_error(c->ssl, rr) != SSL_ERROR_WANT_READ)
      return -1;
    ERR_clear_error();
    if (progressed)
      continue;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (sent < size)
      p.events |= POLLOUT;
    if (poll(&p, 1, -1) < 0 && errno != EINTR)
      return -1;
  }
  return 0;
}

static int run_client(const char *address, double seconds) {
  client c = {.fd = -1};
  if (bench_tcp_address(address, &c.addr)) {
    fprintf(stderr, "irpc-bench-raw-tls: bad address %s\n", address);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  c.ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(c.ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(c.ctx, ciphers);
  SSL_CTX_set_session_cache_mode(c.ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(c.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* The server is this machine's own: the floor does not verify it
   * (verification costs the client one signature check per handshake,
   * which irpc's client does). */
  SSL_CTX_set_verify(c.ctx, SSL_VERIFY_NONE, NULL);
  c.msg = calloc(1, 1u << 20);
  c.rbuf = malloc(buf_size);
  if (cl_connect(&c)) {
    fprintf(stderr, "irpc-bench-raw-tls: cannot connect to %s\n", address);
    return 1;
  }
  fprintf(stderr, "irpc-bench-raw-tls: %s %s\n", SSL_get_version(c.ssl),
          SSL_get_cipher_name(c.ssl));
  int failed = 0;
  for (int i = 0; i < 2000 && !failed; i++)
    failed = cl_echo(&c, 16);
  uint64_t n = bench_count_for(seconds, 20000, 2000);
  uint64_t *lat = calloc(n, sizeof(*lat));
  for (uint64_t i = 0; i < n && !failed; i++) {
    uint64_t t0 = bench_now_ns();
    failed = cl_echo(&c, 16);
    lat[i] = bench_now_ns() - t0;
  }
  printf("tls  latency        p50 %7.1f us  p99 %7.1f us\n",
         bench_pct_us(lat, n, 0.5), bench_pct_us(lat, n, 0.99));
  free(lat);
  size_t mib = 1u << 20;
  for (int i = 0; i < 3 && !failed; i++)
    failed = cl_echo(&c, mib);
  uint64_t m = bench_count_for(seconds, 500, 20);
  uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < m && !failed; i++)
    failed = cl_echo(&c, mib);
  double s = (double)(bench_now_ns() - t0) / 1e9;
  printf("tls  echo_1MiB      %7.0f MB/s\n", (double)m * (double)mib / s / 1e6);
  cl_close(&c);
  uint64_t h = 0;
  t0 = bench_now_ns();
  while (!failed && (h < 20 || bench_now_ns() - t0 < seconds * 1e9 / 2)) {
    failed = cl_connect(&c);
    cl_close(&c);
    h++;
  }
  s = (double)(bench_now_ns() - t0) / 1e9;
  printf("tls  handshakes     %7.0f /s\n", (double)h / s);
  free(c.msg);
  free(c.rbuf);
  SSL_CTX_free(c.ctx);
  if (failed)
    fprintf(stderr, "irpc-bench-raw-tls: the connection failed\n");
  return failed ? 1 : 0;
}

int main(int argc, char **argv) {
  double seconds = 1.0;
  if (argc == 4 && !strcmp(argv[1], "serve"))
    return serve(argv[2], argv[3]);
  const char *address = bench_client_args(argc, argv, &seconds);
  if (address)
    return run_client(address, seconds);
  fprintf(stderr, "usage: irpc-bench-raw-tls serve CERT KEY\n"
                  "       irpc-bench-raw-tls client [--seconds S] "
                  "tcp://HOST:PORT\n");
  return 2;
}
