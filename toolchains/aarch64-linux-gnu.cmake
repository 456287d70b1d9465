# 64-bit ARM Linux (ARMv8-A, e.g. Raspberry Pi 4/5, Jetson, phones' Linux userlands).
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(PROBEX_TRIPLET aarch64-linux-gnu)
set(PROBEX_DEB_ARCH arm64)
set(PROBEX_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
