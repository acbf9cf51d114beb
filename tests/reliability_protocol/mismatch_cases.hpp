// tests/reliability_protocol/mismatch_cases.hpp: ranks that disagree about a collective.
//
// Each case is one program that every rank runs, where rank 0 and rank 1 call something
// different: another collective, another root, another element type, another count. Each runs
// over threads (mismatch_threads.cpp) and over real processes (mismatch_processes.cpp), where
// the expected outcome is a prompt protocol_error naming what both sides called, never garbage
// or a wait until the timeout.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <symphony/communicator.hpp>

namespace mismatch {

/// One mismatch: what the ranks run, and the words every reported error must contain.
struct mismatch_case {
  std::string name;
  int ranks;
  std::vector<std::string> must_mention;  // both operations / roots / types / sizes
  // Over processes: the ranks that must see the error; the others finish, having had nothing
  // to receive. Empty: a case for threads only, where a rank that waits for one that threw is
  // stopped by run_threads (between processes it waits until the timeout, or until the peer is
  // detected as lost).
  std::vector<int> detecting;
};

inline const std::vector<mismatch_case>& cases() {
  static const std::vector<mismatch_case> all{
      {"broadcast_vs_reduce", 2, {"broadcast", "reduce"}, {0, 1}},
      {"broadcast_vs_reduce_4", 4, {"broadcast", "reduce"}, {}},
      {"broadcast_two_roots", 2, {"root 0", "root 1"}, {0, 1}},
      {"reduce_two_roots", 4, {"root 0", "root 2"}, {}},
      {"reduce_two_receiving_roots", 2, {"root 0", "root 1"}, {0, 1}},
      {"reduce_roots_then_gather", 3, {"already gone on to call #2", "root 0"}, {}},
      {"allreduce_float_vs_double",
       2,
       {"floating point of 4 bytes", "floating point of 8 bytes"},
       {0, 1}},
      {"broadcast_int_vs_float",
       2,
       {"signed integer of 4 bytes", "floating point of 4 bytes"},
       {1}},
      {"allreduce_counts",
       2,
       {"contributed", "elements to an element-wise reduction where this rank has"},
       {0, 1}},
      {"allreduce_long_counts", 2, {"bytes for", "same number of elements"}, {0, 1}},
      {"reduce_counts", 2, {"4 elements", "this rank has 2"}, {0}},
      {"gather_vs_allgather", 3, {"gather", "allgather"}, {}},
  };
  return all;
}

/// Runs case `name` on `comm` (every rank calls this).
template <class Comm>
void run_case(Comm& comm, const std::string& name) {
  const int me = comm.rank();
  if (name == "broadcast_vs_reduce" || name == "broadcast_vs_reduce_4") {
    int x = me;
    if (me == 1)
      (void)comm.reduce(x, symphony::ops::sum, 0);
    else
      comm.broadcast(x, 0);
    comm.barrier();  // where a side that had nothing to receive notices
  } else if (name == "broadcast_two_roots") {
    int x = me;
    comm.broadcast(x, me);  // 2 ranks, each its own root: nobody receives in the call itself
    comm.barrier();
  } else if (name == "reduce_two_roots") {
    // Rank 0 roots it at 0, the others at 2: rank 1 sends to rank 0 in the tree rooted at 2.
    (void)comm.reduce(me, symphony::ops::sum, me == 0 ? 0 : 2);
    comm.barrier();
  } else if (name == "reduce_two_receiving_roots") {
    // Each of two ranks roots it at itself: both only wait, nobody sends a message of the call.
    // The probe a waiting rank sends after a second reveals the other root.
    (void)comm.reduce(me, symphony::ops::sum, me);
  } else if (name == "reduce_roots_then_gather") {
    // Rank 0 waits for rank 1's reduce message in the tree rooted at 0; rank 1, rooted at 2,
    // sent its message to rank 2 and goes on to a gather, whose message reaches rank 0 first.
    (void)comm.reduce(me, symphony::ops::sum, me == 0 ? 0 : 2);
    (void)comm.gather(me, 0);
  } else if (name == "allreduce_float_vs_double") {
    // The same 8 bytes on the wire: without the type in the header, garbage.
    if (me == 0)
      (void)comm.allreduce(std::vector<float>{1.0f, 2.0f}, symphony::ops::sum);
    else
      (void)comm.allreduce(std::vector<double>{1.0}, symphony::ops::sum);
  } else if (name == "broadcast_int_vs_float") {
    if (me == 0) {
      int x = 42;
      comm.broadcast(x, 0);
    } else {
      float x = 0;
      comm.broadcast(x, 0);
    }
  } else if (name == "allreduce_counts") {
    (void)comm.allreduce(std::vector<int>(me == 0 ? 3 : 5, 1), symphony::ops::sum);
  } else if (name == "allreduce_long_counts") {
    // Both long (the long-message algorithm on both sides), of different lengths.
    (void)comm.allreduce(std::vector<double>(me == 0 ? 10000 : 12000, 1.0), symphony::ops::sum);
  } else if (name == "reduce_counts") {
    (void)comm.reduce(std::vector<int>(me == 0 ? 2 : 4, 1), symphony::ops::sum, 0);
  } else if (name == "gather_vs_allgather") {
    if (me == 0)
      (void)comm.gather(me, 0);
    else
      (void)comm.allgather(me);
    comm.barrier();
  } else {
    throw std::logic_error("no mismatch case named " + name);
  }
}

}  // namespace mismatch
