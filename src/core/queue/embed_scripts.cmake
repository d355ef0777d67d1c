# Embeds the Lua scripts of src/core/queue/scripts/ into the binary (run by CMake at build time,
# see the custom command beside tempest_core in CMakeLists.txt; nothing is downloaded).
#
#   cmake -DSCRIPTS_DIR=src/core/queue/scripts -DOUT=build/generated/core/queue/scripts_embedded.cpp \
#         -DNAMES=take,goodbye,reap,retry,history -P embed_scripts.cmake
#
# Writes one C++ file defining tempest::queue::scripts::<name>_source (declared in
# src/core/queue/scripts.hpp) as a raw string literal holding the file exactly. A file that
# contains the literal's delimiter is refused.
string(REPLACE "," ";" NAMES "${NAMES}")
set(delim "tempest_lua")
set(body "// Generated from src/core/queue/scripts/*.lua by src/core/queue/embed_scripts.cmake: do not edit.\n")
string(APPEND body "#include \"core/queue/scripts.hpp\"\n\nnamespace tempest::queue::scripts {\n")
foreach(name IN LISTS NAMES)
  file(READ "${SCRIPTS_DIR}/${name}.lua" text)
  string(FIND "${text}" ")${delim}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${name}.lua contains )${delim}\" and cannot be embedded")
  endif()
  string(APPEND body "extern const std::string_view ${name}_source = R\"${delim}(${text})${delim}\";\n")
endforeach()
string(APPEND body "}  // namespace tempest::queue::scripts\n")
# Only rewrite when changed, so that an unchanged script does not rebuild the library.
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL body)
  file(WRITE "${OUT}" "${body}")
endif()
