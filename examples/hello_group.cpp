// hello_group: the ring of hello_ring, where process 0 runs on its own and processes 1 and 2
// form a group (think of a group as a pod: a few closely related processes).
//
//   symphony-run --name solo ./hello_group : --group pair -n 2 ./hello_group
//   ./launch_hello_group ./hello_group
//
// Every process greets the next around the ring as in hello_ring. In addition, the members of a
// group get a communicator of their own with one line, symphony::group_communicator(world), and
// use it: the group's first member broadcasts a greeting to the rest of its group.
#include <cstdlib>
#include <iostream>
#include <string>
#include <symphony/collectives.hpp>

int main(int argc, char** argv) {
  const long iterations =
      argc > 2 && std::string(argv[1]) == "--iterations" ? std::atol(argv[2]) : 3;

  symphony::communicator world;
  // The group this process was started in. A process started on its own is a group of one, so
  // this line is the same in every process; only the launch line differs.
  auto group = symphony::group_communicator(world);
  const char* group_name = std::getenv("SYMPHONY_GROUP");  // set by the launcher for members

  const int me = world.rank();
  const int next = (me + 1) % world.size();
  const int previous = (me + world.size() - 1) % world.size();

  for (long i = 0; i < iterations; ++i) {
    world.send("hello" + std::to_string(me) + " " + std::to_string(i), next);
    const auto greeting = world.recv<std::string>(previous);
    std::cout << "process " << me << " received \"" << greeting << "\"" << std::endl;

    // Inside the group: its rank 0 speaks, everyone in the group hears. The group communicator
    // has its own ranks (0 .. group.size()-1) and its messages never mix with the world's.
    if (group_name != nullptr) {
      std::string news;
      if (group.rank() == 0) news = std::string(group_name) + " says hi " + std::to_string(i);
      group.broadcast(news, 0);
      std::cout << "process " << me << " (rank " << group.rank() << " of group " << group_name
                << ") heard \"" << news << "\"" << std::endl;
    }
  }
}
