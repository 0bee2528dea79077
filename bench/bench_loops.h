/* irpc-bench loops: the multi-loop server, 1 loop against N. */
#ifndef IRPC_BENCH_LOOPS_H
#define IRPC_BENCH_LOOPS_H

#include <irpc/irpc.h>

int bench_loops_main(int argc, char **argv);

#endif
