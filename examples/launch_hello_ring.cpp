// launch_hello_ring: start hello_ring on 3 processes from C++, as `symphony-run -n 3` would.
//
//   ./launch_hello_ring [path/to/hello_ring]
#include <iostream>
#include <symphony/launcher.hpp>

#include "sibling.hpp"

int main(int argc, char** argv) {
  symphony::launcher job;
  // Three copies of one program: ranks 0, 1, 2, named ring0, ring1, ring2.
  job.add_processes(3, "ring", program_to_launch(argc, argv, "hello_ring"), {"--iterations", "3"});

  symphony::launch_options options;
  options.tag = symphony::output_tag::name;              // prefix every output line with "[ring1] "
  const symphony::job_result result = job.run(options);  // start all, wait for all
  std::cout << result.message << "\n";  // "all 3 processes exited with code 0", or who failed
  return result.exit_status();
}
