# Runs symphony-bench on 2 ranks with tiny sizes and checks the CSV it writes: the exact header,
# and one row per (op, size) measured. Called by CTest (bench_smoke) with RUN, BENCH and CSV set.
file(REMOVE ${CSV})
execute_process(
  COMMAND ${RUN} --timeout 30 --wait-timeout 20 -n 2 ${BENCH} --ops broadcast,reduce,gather,scatter,barrier,pingpong,zmq_pingpong
          --min-bytes 8 --max-bytes 128 --reps 2 --iters 3 --warmup 1 --csv ${CSV}
  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "symphony-bench exited with ${status}")
endif()
if(NOT EXISTS ${CSV})
  message(FATAL_ERROR "symphony-bench wrote no ${CSV}")
endif()
file(STRINGS ${CSV} lines)
list(GET lines 0 header)
set(expected "system,variant,op,ranks,bytes,iters,usec_median,usec_p10,usec_p90")
if(NOT header STREQUAL expected)
  message(FATAL_ERROR "CSV header is '${header}', expected '${expected}'")
endif()
# Sizes 8, 32, 128 for broadcast, reduce, gather, scatter, pingpong and zmq_pingpong, one row for
# barrier.
list(LENGTH lines count)
math(EXPR rows "${count} - 1")
if(NOT rows EQUAL 19)
  message(FATAL_ERROR "CSV has ${rows} rows, expected 19:\n${out}")
endif()
foreach(line IN LISTS lines)
  if(NOT line STREQUAL header AND NOT line MATCHES "^(symphony|zmq),ipc,[a-z_]+,2,[0-9]+,3,[0-9.]+,[0-9.]+,[0-9.]+$")
    message(FATAL_ERROR "malformed CSV row: ${line}")
  endif()
endforeach()
message(STATUS "bench_smoke: ${rows} rows with the expected header")
