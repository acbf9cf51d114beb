// Built against the installed package: one communicator per thread, and a one-rank job over
// ZeroMQ from an explicit config.
#include <unistd.h>

#include <iostream>
#include <symphony/collectives.hpp>

int main() {
  int total = 0;
  symphony::run_threads(4, [&](symphony::thread_communicator& comm) {
    const int sum = comm.reduce(comm.rank() + 1, symphony::ops::sum, 0);
    if (comm.rank() == 0) total = sum;
  });
  symphony::communicator alone(
      symphony::config{0, 1, {"ipc:///tmp/symphony-consumer-" + std::to_string(::getpid())}});
  int x = 42;
  alone.broadcast(x, 0);
  std::cout << "consumer: sum " << total << ", broadcast " << x << "\n";
  return total == 10 && x == 42 ? 0 : 1;
}
