/* The icerpc protocol's frames, sans-I/O: control frames (Settings,
 * GoAway) and the request and response headers. Encoders append to a
 * buffer chain; decoders read contiguous bytes and check every limit. */
#ifndef IRPC_CORE_ICERPC_H
#define IRPC_CORE_ICERPC_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "base/defaults.h"
#include "base/varuint62.h"

enum { IRPC__ICERPC_SETTINGS = 0, IRPC__ICERPC_GOAWAY = 1 };
enum { IRPC__ICERPC_SETTING_MAX_HEADER_SIZE = 0 };

#define IRPC__ICERPC_DEFAULT_MAX_HEADER IRPC__DEFAULT_MAX_HEADER_SIZE
#define IRPC__ICERPC_MIN_HEADER 63u
#define IRPC__ICERPC_MAX_HEADER 1048575u
#define IRPC__ICERPC_MAX_SETTINGS_BODY 1024u
#define IRPC__ICERPC_MAX_GOAWAY_BODY 16u

/* ---- Control frames ---- */

typedef struct irpc__icerpc_settings {
  uint64_t max_header_size; /* the default when absent */
  uint64_t compression_formats;
  int has_compression_formats;
} irpc__icerpc_settings;

/* Appends a Settings frame: the max header size is sent only when it is not
 * the default; `formats` is announced under IRPC_SETTING_COMPRESSION_FORMATS
 * when not 0. Errors: IRPC_ENOMEM. */
int irpc__icerpc_settings_encode(irpc_buf *out, uint64_t max_header_size,
                                 uint64_t formats);
int irpc__icerpc_goaway_encode(irpc_buf *out, uint64_t bidi, uint64_t uni);

/* Parses one control frame from the front of `p`. Returns the bytes used (0
 * when more are needed) and sets *type; the body is decoded into `settings`
 * or `goaway`. Errors (negative): IRPC_EPROTO (unknown type, bad value, a
 * body over its limit, bytes left in a body). */
long irpc__icerpc_control_decode(const uint8_t *p, size_t len, int *type,
                                 irpc__icerpc_settings *settings,
                                 uint64_t goaway[2]);

/* ---- Request and response headers ---- */

/* Appends the request header (size placeholder of `size_width` bytes, path,
 * operation, fields). Errors: IRPC_ELIMIT (bigger than `max_header`),
 * IRPC_ENOMEM. */
int irpc__icerpc_request_header_encode(irpc_buf *out, size_t size_width,
                                       uint64_t max_header, const char *path,
                                       const char *operation,
                                       const irpc_fields *fields);
int irpc__icerpc_response_header_encode(irpc_buf *out, size_t size_width,
                                        uint64_t max_header, uint64_t status,
                                        const char *message,
                                        const irpc_fields *fields);

/* The size of the header at the front of `p`: returns the bytes of the
 * size prefix (0 when more are needed) and sets *size.
 * Errors (negative): IRPC_EPROTO (size 0), IRPC_ELIMIT (over max). */
long irpc__icerpc_header_size(const uint8_t *p, size_t len, uint64_t max,
                              uint64_t *size);

/* Decodes a request header body (exactly `len` bytes) into a new incoming
 * request. Errors: IRPC_EPROTO (malformed, duplicate field key, bytes left
 * over), IRPC_EPATH, IRPC_ENOMEM. */
int irpc__icerpc_request_header_decode(const uint8_t *p, size_t len, int oneway,
                                       irpc_incoming_request **out);
/* Decodes a response header body into a new incoming response. */
int irpc__icerpc_response_header_decode(const uint8_t *p, size_t len,
                                        irpc_incoming_response **out);

#endif
