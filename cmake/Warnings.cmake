# -Wnull-dereference is left out: GCC 12 reports false positives inside
# Boost.Asio 1.74 headers in release builds.
# One interface target that carries the project's warning flags; every
# project target links it so the flags stay in one place.
add_library(smm_warnings INTERFACE)
target_compile_options(smm_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(SMM_WERROR)
  target_compile_options(smm_warnings INTERFACE -Werror)
endif()
# GCC 12 at -O2 reports -Wrestrict overlaps inside libstdc++'s own
# std::string concatenation (operator+ on a literal and a temporary), a
# false positive; keep it a warning so release builds with -Werror pass.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(smm_warnings INTERFACE -Wno-error=restrict)
endif()

include(${CMAKE_CURRENT_LIST_DIR}/Sanitizers.cmake)
