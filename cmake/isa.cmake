# Per-ISA translation units: a file named *_avx2.cc or *_avx512.cc gets that ISA's flags and
# nothing else does, so one binary runs on any x86-64 CPU and picks its path by CPUID at run time.
set(CLICKTRAIN_AVX2_FLAGS -mavx2 -mfma -mf16c)
set(CLICKTRAIN_AVX512_FLAGS -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c)

function(clicktrain_apply_isa_flags)
  foreach(src ${ARGN})
    if(src MATCHES "_avx512\\.cc$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${CLICKTRAIN_AVX512_FLAGS}")
    elseif(src MATCHES "_avx2\\.cc$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${CLICKTRAIN_AVX2_FLAGS}")
    endif()
  endforeach()
endfunction()
