/* The frozen 1.0 header's version.h (the generated file of probex 1.0.0), beside the frozen probex.h: a
 * program compiled against these two is a caller built with probex 1.0. Never edit. */
#ifndef PROBEX_VERSION_H_
#define PROBEX_VERSION_H_

#define PROBEX_VERSION_MAJOR 1
#define PROBEX_VERSION_MINOR 0
#define PROBEX_VERSION_PATCH 0
#define PROBEX_VERSION_STRING "1.0.0"
#define PROBEX_FROZEN_ABI_HEADER 1  /* not in the real version.h: tests/abi checks which header it compiled against */

#endif
