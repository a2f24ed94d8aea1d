# Writes lua/bpflua/abi.lua: the declarations of runtime/bpflua.h as a string for ffi.cdef,
# so that the Lua side declares exactly what the library was built with (a struct or enum
# changed in the header cannot drift from a hand-kept copy). The header goes through the C
# preprocessor without its #include lines (the FFI knows size_t and the rest of stddef.h):
# comments, macros, pragmas and the C++ guards go; macros used in declarations are expanded.
#   cmake -DCC=cc -DHEADER=runtime/bpflua.h -DOUTPUT=build/lua/bpflua/abi.lua -P this file
file(READ ${HEADER} text)
string(REGEX REPLACE "#[ \t]*include[^\n]*" "" text "${text}")
set(stripped ${OUTPUT}.h)
file(WRITE ${stripped} "${text}")
execute_process(COMMAND ${CC} -E -P -x c ${stripped}
  OUTPUT_VARIABLE declarations RESULT_VARIABLE status ERROR_VARIABLE errors)
file(REMOVE ${stripped})
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cannot preprocess ${HEADER}: ${errors}")
endif()
string(REGEX REPLACE "#pragma[^\n]*" "" declarations "${declarations}")
string(REGEX REPLACE "\n[ \t\n]*\n" "\n" declarations "${declarations}")
file(WRITE ${OUTPUT}.new
  "-- Generated from runtime/bpflua.h by cmake/generate_abi.cmake when bpflua is built: do not\n"
  "-- edit. bpflua.cdefs hands it to ffi.cdef.\n"
  "return [==[\n${declarations}]==]\n")
# Rewritten only when it changes, so that nothing depending on it rebuilds for nothing.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.new ${OUTPUT})
file(REMOVE ${OUTPUT}.new)
