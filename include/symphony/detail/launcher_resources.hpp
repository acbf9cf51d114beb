// symphony/detail/launcher_resources.hpp: what a job takes from the machine and gives back.
//
// A private temporary directory for the ipc sockets (removed with everything in it), and free
// tcp ports on 127.0.0.1.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "process.hpp"

namespace symphony::detail {

/// The longest ipc socket path ZeroMQ accepts on Linux (sizeof(sockaddr_un::sun_path) - 1).
inline constexpr std::size_t max_ipc_path = 107;

/// A directory created with mkdtemp() (mode 0700, so other users cannot reach the sockets in it)
/// and removed, with its contents, on destruction. Move-only.
class temp_directory {
 public:
  temp_directory() = default;

  /// Creates "<base>/symphony-XXXXXX". Throws std::system_error if that fails.
  explicit temp_directory(const std::filesystem::path& base) {
    std::string pattern = (base / "symphony-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw errno_error("cannot create a temporary directory " + pattern);
    path_ = pattern;
  }
  temp_directory(temp_directory&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  temp_directory& operator=(temp_directory&& other) noexcept {
    if (this != &other) {
      remove();
      path_ = std::exchange(other.path_, {});
    }
    return *this;
  }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;
  ~temp_directory() { remove(); }

  /// The directory; empty when this object owns none.
  const std::string& path() const noexcept { return path_; }

  /// Removes the directory and everything in it now (never throws; errors are ignored).
  void remove() noexcept {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    path_.clear();
  }

 private:
  std::string path_;
};

/// Where ipc sockets go: $TMPDIR (else /tmp) unless socket paths there, up to
/// `longest_file_name` characters after the directory, would be too long for ZeroMQ; then /tmp.
inline std::filesystem::path ipc_base_directory(std::size_t longest_file_name) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  const std::size_t room = std::string("/symphony-XXXXXX/").size() + longest_file_name;
  if (error || base.string().size() + room > max_ipc_path) base = "/tmp";
  return base;
}

/// `count` distinct tcp ports on 127.0.0.1 that were free a moment ago: each is bound with port 0
/// (the kernel picks) and all are held until every one is picked, then released for the children
/// to bind. Another program may still take one in between; that is inherent in choosing ports
/// for someone else. Throws std::system_error.
inline std::vector<int> pick_free_tcp_ports(std::size_t count) {
  std::vector<unique_fd> held;
  std::vector<int> ports;
  held.reserve(count);
  ports.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw errno_error("socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
      throw errno_error("cannot bind a tcp port on 127.0.0.1");
    socklen_t length = sizeof address;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw errno_error("getsockname");
    ports.push_back(ntohs(address.sin_port));
    held.push_back(std::move(fd));
  }
  return ports;
}

}  // namespace symphony::detail
