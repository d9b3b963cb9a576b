# SMM_FUZZ builds the libFuzzer targets in tests/fuzz/ (clang only). Every
# object gets coverage instrumentation (-fsanitize=fuzzer-no-link) so the
# fuzzer sees branches inside the core libraries, not only in the harness.
# scripts/fuzz configures a separate build with SMM_FUZZ=ON and
# SMM_SANITIZE=address,undefined. Without SMM_FUZZ, tests/fuzz/ builds
# programs that replay the seed corpora as ordinary tests.
option(SMM_FUZZ "Build the libFuzzer targets (requires clang)" OFF)

if(SMM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SMM_FUZZ needs clang (libFuzzer); CMAKE_CXX_COMPILER is "
                        "${CMAKE_CXX_COMPILER_ID}. Configure with -DCMAKE_CXX_COMPILER=clang++.")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
