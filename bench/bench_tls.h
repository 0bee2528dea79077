/* TLS in irpc-bench (bench/tls.c), built when irpc has TLS. */
#ifndef IRPC_BENCH_TLS_H
#define IRPC_BENCH_TLS_H

#include <irpc/irpc.h>

#include "benchutil.h"

/* irpc-bench rpc --tls: the figures over TLS and over plain TCP, printed
 * side by side and recorded in `j`. Returns the exit status. */
int bench_tls_run(double seconds, bench_json *j);

/* irpc-bench serve --tls-cert FILE --tls-key FILE [--tls-ca FILE]
 * [--tls-client-auth none|optional|required]: a server context in *out,
 * set on so->connection. Returns 0 or the error. */
int bench_tls_server_options(irpc_server_options *so, const char *cert,
                             const char *key, const char *ca,
                             const char *client_auth, irpc_tls_server **out);

#endif
