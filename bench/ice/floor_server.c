// The floor of the side-by-side benchmark: the least work a server of the
// ice protocol can do for the echo calls of irpc-bench-ice-client. One
// thread, blocking sockets, one connection at a time; it validates the
// connection, reads whatever has arrived, answers every complete request
// in it with one writev whose reply payloads point into the read buffer,
// and decodes only what it must skip to find a request's payload. No
// dispatch, no allocation per call, no event loop.
//
// What an Ice client achieves against it bounds what any server (irpc's,
// Ice's) can make that client achieve on this machine: the rest of the
// round trip is the client's own time and the kernel's.
//
//   irpc-bench-ice-floor-server
//
// Listens on 127.0.0.1 (any free port), prints "ice://127.0.0.1:PORT" when
// ready, and runs until killed. Not a server to use: it trusts its input
// only as far as it needs to stay in bounds, and closes a connection that
// sends anything else than requests and CloseConnection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
  header_size = 14,
  max_message = 64 << 20,
  max_replies = 256,
  max_iov = 1024 /* POSIX guarantees at least 16; Linux allows 1024 */
};

static const uint8_t validate[header_size] = {'I', 'c', 'e', 'P', 1, 0, 1,
                                              0,   3,   0,   14,  0, 0, 0};

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

// Reads an Ice size (one byte, or 255 then an int32) at *at; 0 when it
// does not fit before end.
static int get_size(const uint8_t *p, size_t end, size_t *at, size_t *out) {
  if (*at >= end)
    return 0;
  if (p[*at] != 255) {
    *out = p[(*at)++];
    return 1;
  }
  if (end - *at < 5)
    return 0;
  *out = get_le32(p + *at + 1);
  *at += 5;
  return 1;
}

static int skip_string(const uint8_t *p, size_t end, size_t *at) {
  size_t n;
  if (!get_size(p, end, at, &n) || end - *at < n)
    return 0;
  *at += n;
  return 1;
}

// The offset of the payload (encapsulation) of the request body p[0..end)
// after its request id, or 0 when the body is malformed.
static size_t payload_at(const uint8_t *p, size_t end) {
  size_t at = 4, n, i;
  if (end < 4 || !skip_string(p, end, &at) || !skip_string(p, end, &at))
    return 0; // identity
  if (!get_size(p, end, &at, &n) || n > 1)
    return 0; // facet
  if (n == 1 && !skip_string(p, end, &at))
    return 0;
  if (!skip_string(p, end, &at) || at >= end)
    return 0; // operation, then mode
  at++;
  if (!get_size(p, end, &at, &n))
    return 0; // context
  for (i = 0; i < 2 * n; i++)
    if (!skip_string(p, end, &at))
      return 0;
  if (end - at < 6 || get_le32(p + at) != end - at)
    return 0;
  return at;
}

struct reply {
  uint8_t head[header_size + 5]; // header, request id, status
};

static int write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n > max_iov ? max_iov : n);
    if (w < 0)
      return -1;
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

// Answers every complete message in buf[0..*len); keeps the incomplete
// tail. -1 ends the connection.
static int answer(int fd, uint8_t *buf, size_t *len) {
  static struct reply replies[max_replies];
  static struct iovec iov[2 * max_replies];
  size_t at = 0;
  int n = 0;
  while (*len - at >= header_size) {
    const uint8_t *h = buf + at;
    uint32_t size = get_le32(h + 10);
    if (memcmp(h, "IceP", 4) || size < header_size || size > max_message ||
        h[9] != 0)
      return -1;
    if (*len - at < size)
      break;
    if (h[8] == 4)
      return -1; // CloseConnection
    if (h[8] != 0)
      return -1;
    const uint8_t *body = h + header_size;
    size_t body_len = size - header_size, pay = payload_at(body, body_len);
    if (!pay)
      return -1;
    if (get_le32(body) != 0) { // two-way: reply
      struct reply *r = &replies[n / 2];
      uint32_t enc = (uint32_t)(body_len - pay);
      memcpy(r->head, validate, 8);
      r->head[8] = 2;
      r->head[9] = 0;
      put_le32(r->head + 10, header_size + 5 + enc);
      memcpy(r->head + 14, body, 4);
      r->head[18] = 0;
      iov[n++] = (struct iovec){r->head, sizeof r->head};
      iov[n++] = (struct iovec){(void *)(body + pay), enc};
      if (n == 2 * max_replies) {
        if (write_all(fd, iov, n))
          return -1;
        n = 0;
      }
    }
    at += size;
  }
  if (n && write_all(fd, iov, n))
    return -1;
  memmove(buf, buf + at, *len - at);
  *len -= at;
  return 0;
}

static void serve(int fd, uint8_t *buf, size_t cap) {
  int one = 1;
  size_t len = 0;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (write(fd, validate, sizeof validate) != (ssize_t)sizeof validate)
    return;
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - len);
    if (r <= 0)
      return;
    len += (size_t)r;
    if (answer(fd, buf, &len))
      return;
  }
}

int main(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t alen = sizeof a;
  int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
  size_t cap = (size_t)max_message + 256 * 1024;
  uint8_t *buf = malloc(cap);
  signal(SIGPIPE, SIG_IGN);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || !buf ||
      setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 16) ||
      getsockname(lfd, (struct sockaddr *)&a, &alen)) {
    perror("irpc-bench-ice-floor-server");
    return 1;
  }
  printf("ice://127.0.0.1:%u\n", (unsigned)ntohs(a.sin_port));
  fflush(stdout);
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
      continue;
    serve(fd, buf, cap);
    close(fd);
  }
}
