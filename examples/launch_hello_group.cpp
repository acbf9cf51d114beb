// launch_hello_group: process 0 on its own, processes 1 and 2 in a group named "pair".
//
//   ./launch_hello_group [path/to/hello_group]
//   (the same job: symphony-run --name solo ./hello_group : --group pair -n 2 ./hello_group)
#include <iostream>
#include <symphony/launcher.hpp>

#include "sibling.hpp"

int main(int argc, char** argv) {
  const std::string program = program_to_launch(argc, argv, "hello_group");
  symphony::launcher job;
  job.add_process("solo", program);   // rank 0, in no group
  auto pair = job.add_group("pair");  // ranks 1 and 2: groups get consecutive ranks
  pair.add_process("left", program);
  pair.add_process("right", program);

  symphony::launch_options options;
  options.tag = symphony::output_tag::name;
  const symphony::job_result result = job.run(options);
  std::cout << result.message << "\n";
  return result.exit_status();
}
