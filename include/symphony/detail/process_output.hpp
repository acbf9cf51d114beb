// symphony/detail/process_output.hpp: relaying a child's output line by line.
//
// When output is tagged, every child's stdout and stderr is a pipe to the launcher. A line_relay
// reads one such pipe and writes each complete line, prefixed, to the launcher's own stdout or
// stderr with a single write, so lines of different processes never interleave mid-line.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include "process.hpp"

namespace symphony::detail {

/// Reads one child stream (a non-blocking pipe) and writes it to `sink` line by line, each line
/// preceded by `prefix`. A line longer than `max_line` bytes is passed on in pieces of that size.
class line_relay {
 public:
  static constexpr std::size_t max_line = 64 * 1024;

  line_relay() = default;
  line_relay(unique_fd source, int sink, std::string prefix)
      : source_(std::move(source)), sink_(sink), prefix_(std::move(prefix)) {}

  /// The pipe to poll, or -1 once it reached end-of-file.
  int fd() const noexcept { return source_ ? source_.get() : -1; }
  bool open() const noexcept { return static_cast<bool>(source_); }

  /// Reads what is available without blocking and relays the complete lines. At end-of-file
  /// (all writers gone) relays the last, unterminated line with a newline and closes the pipe.
  void pump() {
    char chunk[8192];
    while (source_) {
      const ssize_t n = ::read(source_.get(), chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        emit_complete_lines();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      finish();  // end-of-file or a read error: nothing more will come
    }
  }

  /// Relays whatever is buffered (the last line gets a newline) and closes the pipe. Called when
  /// the child has ended: what it wrote is already in the pipe, a descendant that still holds the
  /// pipe open must not keep the launcher waiting.
  void finish() {
    if (!buffer_.empty()) {
      emit(buffer_);
      buffer_.clear();
    }
    source_.reset();
  }

 private:
  void emit_complete_lines() {
    std::string::size_type start = 0;
    while (true) {
      const auto newline = buffer_.find('\n', start);
      if (newline == std::string::npos) break;
      emit(std::string_view(buffer_).substr(start, newline - start));
      start = newline + 1;
    }
    buffer_.erase(0, start);
    while (buffer_.size() >= max_line) {
      emit(std::string_view(buffer_).substr(0, max_line));
      buffer_.erase(0, max_line);
    }
  }

  void emit(std::string_view line) {
    if (sink_broken_) return;  // keep draining the pipe so that the child never blocks
    std::string out;
    out.reserve(prefix_.size() + line.size() + 1);
    out.append(prefix_).append(line).push_back('\n');
    if (!write_all(sink_, out)) sink_broken_ = true;
  }

  unique_fd source_;
  int sink_ = -1;
  std::string prefix_;
  std::string buffer_;
  bool sink_broken_ = false;
};

}  // namespace symphony::detail
