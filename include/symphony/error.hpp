// symphony/error.hpp: the exceptions symphony throws.
//
// Every symphony failure is a symphony::error (itself a std::runtime_error), so one catch clause
// handles them all; the subclasses let a program react to one kind. Messages always name the
// culprit: the variable and value, or the operation, communicator and peer rank.
//
// Bad arguments to a call (a root out of range, a scatter with the wrong number of values) are
// std::invalid_argument, as in the standard library: they are bugs in the calling code, detected
// on the calling rank before anything is sent.
#pragma once

#include <stdexcept>
#include <string>

namespace symphony {

/// Base of every exception symphony throws for a communication or configuration failure.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The job description is wrong: a missing or malformed environment variable, an inconsistent
/// config struct. The message names the variable (or field) and the offending value.
class config_error : public error {
 public:
  using error::error;
};

/// A blocking wait passed its deadline (SYMPHONY_TIMEOUT, default 300 s). The message names the
/// operation, the communicator and the peer rank that was waited for.
class timeout_error : public error {
 public:
  using error::error;
};

/// A message arrived that does not fit what this rank expected: another operation, another root,
/// a payload of the wrong size, or a malformed frame. Usually means the ranks did not call the same
/// collectives in the same order, or disagree on a type.
class protocol_error : public error {
 public:
  using error::error;
};

/// A peer this rank was waiting for (to send it a message, or for a message from it) is gone:
/// its process died or exited, its connection dropped and did not come back within
/// SYMPHONY_PEER_TIMEOUT. Raised long before SYMPHONY_TIMEOUT would expire. peer() is the lost
/// rank in the communicator of the operation (world_peer() its rank in the whole job),
/// operation() what this rank was doing ("broadcast (root 0) [call #3 on communicator 'world']").
/// When a peer fails, its own waiters may fail in turn: a rank may name a peer that reported a
/// loss itself rather than the process that died first.
class peer_lost_error : public error {
 public:
  peer_lost_error(const std::string& what, int peer, int world_peer, std::string operation)
      : error(what), peer_(peer), world_peer_(world_peer), operation_(std::move(operation)) {}
  int peer() const noexcept { return peer_; }
  int world_peer() const noexcept { return world_peer_; }
  const std::string& operation() const noexcept { return operation_; }

 private:
  int peer_;
  int world_peer_;
  std::string operation_;
};

}  // namespace symphony
