// hello: the smallest symphony program, and the one the README runs first.
//
// Every copy of this program is one "rank" of the job. Start 4 copies with symphony-run:
//
//   symphony-run -n 4 ./hello
//
// or by hand, giving each copy the three variables a launcher would set:
//
//   export SYMPHONY_NRANKS=4
//   SYMPHONY_ADDRESSES=ipc:///tmp/h0,ipc:///tmp/h1,ipc:///tmp/h2,ipc:///tmp/h3 for r in 0 1 2 3; do
//   SYMPHONY_RANK=$r ./hello & done; wait
#include <iostream>
#include <string>
#include <symphony/collectives.hpp>

int main() {
  // Joining the job: the communicator reads this rank, the job size and every rank's address from
  // the environment and binds this rank's own address. A missing or malformed variable is a
  // symphony::config_error whose message names it.
  symphony::communicator world;

  // Broadcast: rank 0's value reaches every rank. Every rank calls it; the others' `greeting`
  // is overwritten. Any type works: numbers, strings, vectors, maps, your own structs.
  std::string greeting;
  if (world.rank() == 0) greeting = "hello from rank 0 of " + std::to_string(world.size());
  world.broadcast(greeting, /*root=*/0);

  // Reduce: every rank contributes a value; the root gets their combination. Here the sum of
  // 1 + 2 + ... + size, which rank 0 can check against the formula.
  const int total = world.reduce(world.rank() + 1, symphony::ops::sum, /*root=*/0);

  // Gather: the root gets one value from every rank, in rank order.
  const auto names = world.gather("rank " + std::to_string(world.rank()), /*root=*/0);

  std::cout << "rank " << world.rank() << " heard: " << greeting << "\n";
  if (world.rank() == 0) {
    const int n = world.size();
    std::cout << "sum of 1.." << n << " = " << total << " (expected " << n * (n + 1) / 2 << ")\n";
    std::cout << "gathered " << names.size() << " names, last: " << names.back() << "\n";
  }
  // Leaving main destroys the communicator; messages still on their way are delivered first.
}
