/* irpc-bench: the benchmark programs behind one command.
 *
 *   irpc-bench rpc ...      calls over TCP and Unix domain sockets
 *   irpc-bench compress ... does compression pay? (see compress.c)
 *   irpc-bench stream ...   payload continuations against the transport
 *   irpc-bench loops ...    a multi-loop server, 1 loop against 2 (see
 *                           loops.c)
 *   irpc-bench serve ADDR   the benchmark's echo server (icerpc:// or
 *                           ice://), until SIGTERM or SIGINT: then it
 *                           drains its calls, sends GoAway (ice:
 *                           CloseConnection) and exits 0 */
#include <stdio.h>
#include <string.h>

#include "bench_compress.h"
#include "bench_loops.h"
#include "bench_rpc.h"

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "rpc") == 0)
    return bench_rpc_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "compress") == 0)
    return bench_compress_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "loops") == 0)
    return bench_loops_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return bench_serve_main(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "stream") == 0)
    return bench_stream_main(argc - 1, argv + 1);
  fprintf(stderr, "usage: irpc-bench rpc|compress|loops|serve|stream ...\n"
                  "  irpc-bench rpc --help, irpc-bench compress --help for "
                  "the options\n");
  return 2;
}
