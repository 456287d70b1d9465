# FindXNNPACK: Debian's libxnnpack-dev ships only xnnpack.h and libXNNPACK.so (capital letters): no CMake
# config and no pkg-config file. This module makes the imported target XNNPACK::XNNPACK.
# xnnpack.h includes pthreadpool.h, which comes from libpthreadpool-dev (not a dependency of the package).
#
# Result variables: XNNPACK_FOUND, XNNPACK_INCLUDE_DIR, XNNPACK_LIBRARY.
find_path(XNNPACK_INCLUDE_DIR NAMES xnnpack.h)
find_path(XNNPACK_PTHREADPOOL_INCLUDE_DIR NAMES pthreadpool.h)
find_library(XNNPACK_LIBRARY NAMES XNNPACK xnnpack)
find_library(XNNPACK_PTHREADPOOL_LIBRARY NAMES pthreadpool)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(XNNPACK
  REQUIRED_VARS XNNPACK_LIBRARY XNNPACK_INCLUDE_DIR XNNPACK_PTHREADPOOL_INCLUDE_DIR XNNPACK_PTHREADPOOL_LIBRARY)

if(XNNPACK_FOUND AND NOT TARGET XNNPACK::XNNPACK)
  add_library(XNNPACK::XNNPACK UNKNOWN IMPORTED)
  set_target_properties(XNNPACK::XNNPACK PROPERTIES
    IMPORTED_LOCATION "${XNNPACK_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${XNNPACK_INCLUDE_DIR};${XNNPACK_PTHREADPOOL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${XNNPACK_PTHREADPOOL_LIBRARY}")
endif()
mark_as_advanced(XNNPACK_INCLUDE_DIR XNNPACK_PTHREADPOOL_INCLUDE_DIR XNNPACK_LIBRARY XNNPACK_PTHREADPOOL_LIBRARY)
