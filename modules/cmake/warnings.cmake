# Warnings as an INTERFACE target: every first-party target links shop::warnings.
add_library(shop_warnings INTERFACE)
add_library(shop::warnings ALIAS shop_warnings)
target_compile_options(shop_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Wno-missing-field-initializers)
