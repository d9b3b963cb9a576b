# One interface target that carries the project's warning flags; every
# project target links it so the flags stay in one place.
add_library(smm_warnings INTERFACE)
target_compile_options(smm_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
  -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(SMM_WERROR)
  target_compile_options(smm_warnings INTERFACE -Werror)
endif()
