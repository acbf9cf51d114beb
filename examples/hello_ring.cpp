// hello_ring: three processes pass greetings around a ring.
//
//   process 0 sends "hello0 {i}" to process 1 and receives "hello2 {i}" from process 2
//   process 1 sends "hello1 {i}" to process 2 and receives "hello0 {i}" from process 0
//   process 2 sends "hello2 {i}" to process 0 and receives "hello1 {i}" from process 1
//
// for i = 0, 1, ..., iterations - 1 (default 3; `--iterations N` to change, `--forever` to loop
// until stopped with Ctrl-C).
//
// Launch it with symphony-run:           symphony-run -n 3 ./hello_ring --iterations 5
// or with the C++ launcher beside it:    ./launch_hello_ring ./hello_ring
//
// The ring works for any number of processes; the tutorial uses 3.
#include <cstdlib>
#include <iostream>
#include <string>
#include <symphony/collectives.hpp>

int main(int argc, char** argv) {
  // A tiny argument parser: examples stay dependency-free (symphony-run itself uses CLI11).
  long iterations = 3;
  bool forever = false;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--forever") {
      forever = true;
    } else if (arg == "--iterations" && a + 1 < argc) {
      iterations = std::atol(argv[++a]);
    } else {
      std::cerr << "usage: hello_ring [--iterations N | --forever]\n";
      return 2;
    }
  }

  // Join the job: rank, size and every peer's address come from the environment that
  // symphony-run (or the C++ launcher, or a scheduler) set for this process.
  symphony::communicator world;
  const int me = world.rank();
  const int next = (me + 1) % world.size();                     // whom I greet
  const int previous = (me + world.size() - 1) % world.size();  // who greets me

  for (long i = 0; forever || i < iterations; ++i) {
    // send() returns as soon as the message is queued: it does not wait for the receiver. That
    // is why every process can send first and receive second without deadlocking.
    world.send("hello" + std::to_string(me) + " " + std::to_string(i), next);

    // recv<T>() waits for the next message from `previous` (messages from one sender arrive in
    // the order they were sent). A peer that never sends makes this throw symphony::timeout_error
    // after SYMPHONY_TIMEOUT seconds, instead of hanging forever.
    const auto greeting = world.recv<std::string>(previous);
    std::cout << "process " << me << " received \"" << greeting << "\"" << std::endl;
  }
}
