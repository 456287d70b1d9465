# probex_set_warnings(target): the warning set every probex target compiles with. Warnings are errors
# only in CI (PROBEX_WERROR), so a newer compiler on a user's machine cannot break their build.
option(PROBEX_WERROR "Treat compiler warnings as errors" OFF)

function(probex_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
                                           -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
                                           -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
                                           -Wformat=2 -Wimplicit-fallthrough)
  if(PROBEX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
