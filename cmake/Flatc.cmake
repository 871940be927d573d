# aifs_flatc(<out-var> <schema.fbs>...): C++ headers from FlatBuffers schemas,
# generated into ${CMAKE_BINARY_DIR}/fbs_gen (on the include path of libaifs).
find_program(AIFS_FLATC flatc REQUIRED)
set(AIFS_FBS_OUT ${CMAKE_BINARY_DIR}/fbs_gen)
file(MAKE_DIRECTORY ${AIFS_FBS_OUT})
function(aifs_flatc out_var)
  set(headers)
  foreach(schema ${ARGN})
    get_filename_component(stem ${schema} NAME_WE)
    set(h ${AIFS_FBS_OUT}/${stem}_generated.h)
    add_custom_command(
      OUTPUT ${h}
      COMMAND ${AIFS_FLATC} --cpp --scoped-enums -o ${AIFS_FBS_OUT} ${schema}
      DEPENDS ${schema} VERBATIM)
    list(APPEND headers ${h})
  endforeach()
  set(${out_var} ${headers} PARENT_SCOPE)
endfunction()
