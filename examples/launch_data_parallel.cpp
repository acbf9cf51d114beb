// launch_data_parallel: data_parallel on 4 processes.
//
//   ./launch_data_parallel [path/to/data_parallel]     (or: symphony-run -n 4 ./data_parallel)
#include <iostream>
#include <symphony/launcher.hpp>

#include "sibling.hpp"

int main(int argc, char** argv) {
  symphony::launcher job;
  job.add_processes(4, "rank", program_to_launch(argc, argv, "data_parallel"));
  const symphony::job_result result = job.run();  // output goes straight to this terminal
  std::cout << result.message << "\n";
  return result.exit_status();
}
