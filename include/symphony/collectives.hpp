// symphony/collectives.hpp: everything a program needs, in one include.
//
//   #include <symphony/collectives.hpp>
//   int main() {
//     symphony::communicator world;              // rank, size, peers from the environment
//     double x = world.rank();
//     world.broadcast(x, /*root=*/0);
//     double total = world.reduce(x, symphony::ops::sum, 0);
//   }
#pragma once

#include "communicator.hpp"
#include "config.hpp"
#include "error.hpp"
#include "group.hpp"
#include "ops.hpp"
#include "threads.hpp"
