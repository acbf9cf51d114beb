// launcher_child: the process that the launcher tests start.
//
// Performs its arguments as actions, in order, and ignores anything else (so that tests can pass
// it arguments that look like symphony-run options):
//   --env-to DIR        write every SYMPHONY_* variable and TEST_* variable to DIR/<name>.env
//   --args-to DIR       write its arguments, one per line, to DIR/<name>.args
//   --pid-to DIR        write its pid to DIR/<name>.pid
//   --out TEXT          print TEXT and a newline to stdout (flushed)
//   --err TEXT          print TEXT and a newline to stderr
//   --out-partial TEXT  print TEXT to stdout without a newline (flushed)
//   --out-lines N       print N numbered lines of 100 characters to stdout, fflush after each
//   --bind-service SVC  listen on 127.0.0.1:$SYMPHONY_SERVICE_<SVC>_PORT (exit 4 if impossible)
//   --bind-address      listen on its own entry of SYMPHONY_ADDRESSES, tcp or ipc (exit 5)
//   --ignore-term       ignore SIGTERM from now on
//   --signal-parent SIG send signal number SIG to its parent
//   --sleep SECONDS     sleep (fractions allowed)
//   --raise SIG         raise signal number SIG
//   --exit CODE         exit with CODE
// <name> is $SYMPHONY_NAME. Files are written under a temporary name and renamed, so a test that
// sees a file sees all of it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <symphony/detail/launcher_names.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

void write_file(const std::string& dir, const std::string& suffix, const std::string& text) {
  const std::string name = env_or("SYMPHONY_NAME", "unnamed");
  const std::string path = dir + "/" + name + suffix;
  {
    std::ofstream out(path + ".tmp");
    out << text;
  }
  std::rename((path + ".tmp").c_str(), path.c_str());
}

bool listen_tcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = fd >= 0 &&
                  ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
                  ::listen(fd, 1) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

bool listen_ipc(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const bool ok = fd >= 0 &&
                  ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
                  ::listen(fd, 1) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

bool bind_own_address() {
  const std::string addresses = env_or("SYMPHONY_ADDRESSES", "");
  const int rank = std::atoi(env_or("SYMPHONY_RANK", "-1").c_str());
  std::vector<std::string> entries;
  std::string::size_type start = 0;
  while (true) {
    const auto comma = addresses.find(',', start);
    entries.push_back(addresses.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (rank < 0 || rank >= static_cast<int>(entries.size())) return false;
  const std::string& own = entries[static_cast<std::size_t>(rank)];
  if (own.rfind("ipc://", 0) == 0) return listen_ipc(own.substr(6));
  if (own.rfind("tcp://127.0.0.1:", 0) == 0) return listen_tcp(std::atoi(own.c_str() + 16));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    const std::string value = has_value ? args[i + 1] : std::string();
    if (a == "--env-to" && has_value) {
      std::string text;
      for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry(*e);
        if (entry.rfind("SYMPHONY_", 0) == 0 || entry.rfind("TEST_", 0) == 0) text += entry + "\n";
      }
      write_file(value, ".env", text);
      ++i;
    } else if (a == "--args-to" && has_value) {
      std::string text;
      for (const auto& arg : args)
        text += arg + "\n";
      write_file(value, ".args", text);
      ++i;
    } else if (a == "--pid-to" && has_value) {
      write_file(value, ".pid", std::to_string(::getpid()) + "\n");
      ++i;
    } else if (a == "--out" && has_value) {
      std::printf("%s\n", value.c_str());
      std::fflush(stdout);
      ++i;
    } else if (a == "--err" && has_value) {
      std::fprintf(stderr, "%s\n", value.c_str());
      ++i;
    } else if (a == "--out-partial" && has_value) {
      std::printf("%s", value.c_str());
      std::fflush(stdout);
      ++i;
    } else if (a == "--out-lines" && has_value) {
      const std::string name = env_or("SYMPHONY_NAME", "unnamed");
      for (int line = 0; line < std::atoi(value.c_str()); ++line) {
        std::string text = name + " line " + std::to_string(line) + " ";
        text.resize(100, 'x');
        std::printf("%s\n", text.c_str());
        std::fflush(stdout);
      }
      ++i;
    } else if (a == "--bind-service" && has_value) {
      const std::string variable =
          "SYMPHONY_SERVICE_" + symphony::detail::service_variable_stem(value) + "_PORT";
      if (!listen_tcp(std::atoi(env_or(variable.c_str(), "0").c_str()))) return 4;
      ++i;
    } else if (a == "--bind-address") {
      if (!bind_own_address()) return 5;
    } else if (a == "--ignore-term") {
      ::signal(SIGTERM, SIG_IGN);
    } else if (a == "--signal-parent" && has_value) {
      ::kill(::getppid(), std::atoi(value.c_str()));
      ++i;
    } else if (a == "--sleep" && has_value) {
      std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(value.c_str())));
      ++i;
    } else if (a == "--raise" && has_value) {
      ::raise(std::atoi(value.c_str()));
      ++i;
    } else if (a == "--exit" && has_value) {
      return std::atoi(value.c_str());
    }
  }
  return 0;
}
