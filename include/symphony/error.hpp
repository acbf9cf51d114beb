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

}  // namespace symphony
