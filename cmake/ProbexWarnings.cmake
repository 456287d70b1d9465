# probex_set_warnings(target): the warning set every probex target compiles with. Warnings are errors
# only in CI (PROBEX_WERROR), so a newer compiler on a user's machine cannot break their build.
option(PROBEX_WERROR "Treat compiler warnings as errors" OFF)

function(probex_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
                                           -Wcast-align -Wnull-dereference -Wdouble-promotion
                                           -Wformat=2 -Wimplicit-fallthrough
                                           $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>)
  if(PROBEX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
