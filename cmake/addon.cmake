# The N-API addon: binding/ glue over the clicktrain_core static library.
file(GLOB CLICKTRAIN_BINDING_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/binding/*.cc)
add_library(clicktrain_addon SHARED ${CLICKTRAIN_BINDING_SOURCES} ${CMAKE_JS_SRC})
set_target_properties(clicktrain_addon PROPERTIES PREFIX "" SUFFIX ".node" OUTPUT_NAME "clicktrain")
execute_process(COMMAND node -p "require('node-addon-api').include"
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} OUTPUT_VARIABLE NODE_ADDON_API_DIR OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REPLACE "\"" "" NODE_ADDON_API_DIR "${NODE_ADDON_API_DIR}")
target_include_directories(clicktrain_addon PRIVATE ${CMAKE_JS_INC} ${NODE_ADDON_API_DIR} ${CMAKE_SOURCE_DIR})
target_compile_definitions(clicktrain_addon PRIVATE NAPI_VERSION=8 NAPI_CPP_EXCEPTIONS NODE_ADDON_API_DISABLE_DEPRECATED)
target_link_libraries(clicktrain_addon PRIVATE clicktrain_core ${CMAKE_JS_LIB})
# CUDA kernels when native/cuda built them (nvcc found); the target carries CLICKTRAIN_HAVE_CUDA=1.
if(TARGET clicktrain_cuda)
  target_link_libraries(clicktrain_addon PRIVATE clicktrain_cuda)
endif()
if(MSVC AND CMAKE_JS_NODELIB_DEF AND CMAKE_JS_NODELIB_TARGET)
  execute_process(COMMAND ${CMAKE_AR} /def:${CMAKE_JS_NODELIB_DEF} /out:${CMAKE_JS_NODELIB_TARGET} ${CMAKE_STATIC_LINKER_FLAGS})
endif()
