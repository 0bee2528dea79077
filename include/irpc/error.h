/* irpc: library errors.
 *
 * Library errors are negative ints; 0 is success. libuv's errors (negative
 * errno values, UV_E*) pass through unchanged, and the most common ones have
 * IRPC_ aliases below. irpc's own errors live in a disjoint range below
 * IRPC_ERRNO_BASE. irpc_strerror() and irpc_err_name() know both.
 *
 * Library errors are not RPC status codes: a status code (irpc_status, see
 * status.h) is what a dispatch answered and travels in a response; a library
 * error says that the call itself, or an API call, failed locally. */
#ifndef IRPC_ERROR_H
#define IRPC_ERROR_H

#include <uv.h>
#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IRPC_ERRNO_BASE (-10000)

/* XX(name, offset, message). The value of IRPC_<name> is
 * IRPC_ERRNO_BASE - offset. Offsets are never reused. */
#define IRPC_ERRNO_MAP(XX)                                                     \
  XX(ECLOSED, 1, "object is closed or closing")                                \
  XX(EFROZEN, 2, "pipeline or router is in use and can no longer change")      \
  XX(ENOINVOKER, 3, "pipeline has no terminal invoker")                        \
  XX(EPATH, 4, "invalid path")                                                 \
  XX(EDONE, 5, "call or dispatch already completed")                           \
  XX(ENOTFOUND, 6, "no such entry")                                            \
  XX(ELIMIT, 7, "limit exceeded")                                              \
  XX(EPROTO, 8, "protocol error")                                              \
  XX(EDATA, 9, "invalid data")                                                 \
  XX(ETRUNCATED, 10, "truncated data")                                         \
  XX(EOVERFLOW, 11, "value out of range")                                      \
  XX(EUTF8, 12, "invalid UTF-8")                                               \
  XX(EREFUSED, 13, "invocation refused: the request was not sent")             \
  XX(EINVCANCELED, 14, "invocation canceled before dispatch")                  \
  XX(ENOCONN, 15, "no connection")                                             \
  XX(ESERVERBUSY, 16, "server busy")                                           \
  XX(EIDLE, 17, "connection closed after being idle")                          \
  XX(ECLOSEDBYPEER, 18, "connection closed by peer")                           \
  XX(EABORTED, 19, "operation aborted: its owner was closed")                  \
  XX(EDEADLINE, 20, "deadline exceeded")                                       \
  XX(ECALLBACK, 21, "a user callback failed")                                  \
  XX(EENUM, 22, "enumerator out of range")                                     \
  XX(ETAG, 23, "invalid tagged field")                                         \
  XX(ESTATUS, 24, "the dispatch answered an error status")                     \
  XX(ENOREQUESTS, 25, "the peer accepts no requests")                          \
  XX(EPROTONOSUPPORT, 26, "protocol not supported by this build")              \
  XX(EBADMAGIC, 27, "the peer does not speak this protocol (bad magic)")       \
  XX(EMSGTYPE, 28, "unknown or unexpected message type")                       \
  XX(ESTOPPED, 40, "the peer stopped reading the stream")                      \
  XX(ETLS, 60, "TLS handshake failed")                                         \
  XX(ETLSUNKNOWNCA, 61,                                                        \
     "TLS: the peer's certificate is not from a trusted CA")                   \
  XX(ETLSEXPIRED, 62,                                                          \
     "TLS: the peer's certificate has expired or is not yet valid")            \
  XX(ETLSHOSTNAME, 63,                                                         \
     "TLS: the server's certificate does not match the host")                  \
  XX(ETLSNOCERT, 64,                                                           \
     "TLS: the server requires a client certificate, none was sent")           \
  XX(ETLSBADCERT, 65, "TLS: the peer rejected this side's certificate")        \
  XX(ETLSPLAINTEXT, 66,                                                        \
     "TLS: the peer does not speak TLS (plain text on a TLS connection)")      \
  XX(ETLSPEER, 67, "the peer speaks TLS on a plain-text connection")           \
  XX(ETLSALPN, 68, "TLS: no application protocol in common (ALPN)")            \
  XX(ETLSTIMEDOUT, 69, "TLS handshake timed out")                              \
  XX(ETLSCONFIG, 70, "TLS: bad certificate, key or trust roots")

enum {
#define IRPC__ERR_ENUM(name, off, msg) IRPC_##name = IRPC_ERRNO_BASE - (off),
  IRPC_ERRNO_MAP(IRPC__ERR_ENUM)
#undef IRPC__ERR_ENUM
};

/* libuv errors irpc returns itself, under irpc names. */
#define IRPC_EINVAL UV_EINVAL       /* invalid argument */
#define IRPC_ENOMEM UV_ENOMEM       /* the allocator returned NULL */
#define IRPC_ECANCELED UV_ECANCELED /* canceled by the caller */
#define IRPC_EBUSY UV_EBUSY         /* resource busy */
#define IRPC_ETIMEDOUT UV_ETIMEDOUT /* timed out */
#define IRPC_ENOTSUP UV_ENOTSUP     /* operation not supported */
#define IRPC_ERANGE UV_ERANGE       /* argument out of range */
#define IRPC_EAGAIN UV_EAGAIN       /* no room now: try again when told */

/* A short English description of `err` (an irpc or libuv code); a static
 * string, never NULL ("unknown error" for unknown codes). */
IRPC_API const char *irpc_strerror(int err);

/* The symbolic name of `err` ("IRPC_EPATH", "ECONNREFUSED"); a static
 * string, never NULL. */
IRPC_API const char *irpc_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
