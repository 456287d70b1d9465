# probex_add_part(NAME SOURCES...): one part of the runtime (platform, core readers, the rest), compiled once
# into the OBJECT library NAME_objects, whose objects go both into the internal static archive NAME (for the
# CLIs, the converter, the tests and the fuzzers, which use C++ internals) and into the installable library
# probex (runtime/CMakeLists.txt), which exports the C API alone. Usage requirements go on NAME_objects.
#
# Hidden visibility: only what probex/probex.h marks PROBEX_API leaves a shared libprobex. Position-
# independent code only when that shared library is built (BUILD_SHARED_LIBS).
function(probex_add_part name)
  add_library(${name}_objects OBJECT ${ARGN})
  set_target_properties(${name}_objects PROPERTIES C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
                        VISIBILITY_INLINES_HIDDEN ON POSITION_INDEPENDENT_CODE ${BUILD_SHARED_LIBS})
  probex_set_warnings(${name}_objects)
  add_library(${name} STATIC)
  # Linked directly, the objects land in this archive; targets linking the archive get the usage requirements.
  target_link_libraries(${name} PUBLIC ${name}_objects)
endfunction()
