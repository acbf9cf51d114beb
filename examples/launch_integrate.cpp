// launch_integrate: the supermaster S0, group0 = G0 + W01, W02, group1 = G1 + W11 .. W14.
//
//   ./launch_integrate [path/to/integrate]
//   (the same job with symphony-run, on one line:
//    symphony-run --name S0 ./integrate : --group group0 --name G0 ./integrate
//                 : --group group0 -n 2 --name W0 ./integrate : --group group1 --name G1
//                 ./integrate : --group group1 -n 4 --name W1 ./integrate)
#include <iostream>
#include <string>
#include <symphony/launcher.hpp>

#include "sibling.hpp"

int main(int argc, char** argv) {
  const std::string program = program_to_launch(argc, argv, "integrate");
  symphony::launcher job;
  job.add_process("S0", program);  // rank 0: standalone, so it becomes the supermaster

  // A group's first process is its groupmaster; the rest are its workers.
  const int workers_per_group[] = {2, 4};
  for (int g = 0; g < 2; ++g) {
    auto group = job.add_group("group" + std::to_string(g));
    group.add_process("G" + std::to_string(g), program);
    for (int w = 1; w <= workers_per_group[g]; ++w)
      group.add_process("W" + std::to_string(g) + std::to_string(w), program);
  }

  symphony::launch_options options;
  options.tag = symphony::output_tag::name;
  const symphony::job_result result = job.run(options);
  std::cout << result.message << "\n";
  return result.exit_status();
}
