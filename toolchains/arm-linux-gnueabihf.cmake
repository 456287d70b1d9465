# 32-bit ARM Linux, hard-float with NEON (ARMv7-A, e.g. Raspberry Pi 2/3 on a 32-bit OS, many gateways).
# Debian's armhf baseline is ARMv7 + VFPv3-D16; NEON is what XNNPACK's kernels use, chosen at run time.
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(PROBEX_TRIPLET arm-linux-gnueabihf)
set(PROBEX_DEB_ARCH armhf)
set(PROBEX_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
