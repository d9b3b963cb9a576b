# SMM_SANITIZE builds every target (core libraries, daemon, tests, fake
# provider) with the named sanitizers: "" (none, the default),
# "address,undefined" or "thread". The flags are added globally, before any
# target is defined, because a sanitizer must instrument every object that
# shares memory with the code under test.
set(SMM_SANITIZE "" CACHE STRING "Sanitizers to build with: \"\", \"address,undefined\" or \"thread\"")
set_property(CACHE SMM_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")

if(NOT SMM_SANITIZE STREQUAL "" AND NOT SMM_SANITIZE STREQUAL "address,undefined"
   AND NOT SMM_SANITIZE STREQUAL "thread")
  message(FATAL_ERROR "SMM_SANITIZE is \"${SMM_SANITIZE}\"; expected \"\", \"address,undefined\" or \"thread\"")
endif()

if(SMM_SANITIZE)
  # -fno-sanitize-recover makes UndefinedBehaviorSanitizer findings fail the
  # test instead of printing a line that nobody reads.
  add_compile_options(-fsanitize=${SMM_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SMM_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_compile_options(-fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/sanitizer-ignorelist.txt)
  endif()
endif()

# Fuzzing instruments the same objects, so it is set up here too.
include(${CMAKE_CURRENT_LIST_DIR}/Fuzz.cmake)
