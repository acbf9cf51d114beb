# symphony_target_options(target): the warning and sanitizer flags of symphony's own targets
# (tests, examples, tools, benchmarks). Never applied to the symphony::symphony interface target:
# users choose their own flags.
function(symphony_target_options target)
  target_link_libraries(${target} PRIVATE symphony::symphony)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(SYMPHONY_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(SYMPHONY_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${SYMPHONY_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${SYMPHONY_SANITIZE})
  endif()
endfunction()
