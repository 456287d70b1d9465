# Shared part of the ARM Linux toolchain files (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake), which
# set PROBEX_TRIPLET (the GNU triplet), PROBEX_DEB_ARCH (Debian's name) and PROBEX_QEMU before including it.
# The recipe, and why each setting is here: toolchains/README.md.
#
# Dependencies: the cross compilers and qemu-user from Debian, and the ARM builds of XNNPACK, pthreadpool,
# cpuinfo and FlatBuffers unpacked by scripts/arm-deps.sh into build/arm-deps/<arch>/root (they cannot be
# installed beside the host's). Host tools (flatc) come from the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${PROBEX_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${PROBEX_TRIPLET}-g++)

get_filename_component(PROBEX_SOURCE_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(PROBEX_ARM_DEPS "${PROBEX_SOURCE_ROOT}/build/arm-deps/${PROBEX_DEB_ARCH}/root" CACHE PATH
    "ARM dependency root made by scripts/arm-deps.sh")
if(NOT EXISTS "${PROBEX_ARM_DEPS}/usr/include/xnnpack.h")
  message(FATAL_ERROR "${PROBEX_ARM_DEPS} has no xnnpack.h: run scripts/arm-deps.sh ${PROBEX_DEB_ARCH}")
endif()
set(PROBEX_ARM_LIBDIR "${PROBEX_ARM_DEPS}/usr/lib/${PROBEX_TRIPLET}")

set(CMAKE_FIND_ROOT_PATH /usr/${PROBEX_TRIPLET} "${PROBEX_ARM_DEPS}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # flatc: the host's
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)    # doctest's config is architecture-independent
# libXNNPACK.so needs libpthreadpool and libcpuinfo at link time; they live in the dependency root.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${PROBEX_ARM_LIBDIR}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${PROBEX_ARM_LIBDIR}")

# Tests run under qemu-user (binfmt_misc is not available here). The ARM C library must be on the
# library path too, or programs can hang in pthread_create (seen here).
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${PROBEX_QEMU} -L /usr/${PROBEX_TRIPLET} -E LD_LIBRARY_PATH=${PROBEX_ARM_LIBDIR}:/usr/${PROBEX_TRIPLET}/lib)
