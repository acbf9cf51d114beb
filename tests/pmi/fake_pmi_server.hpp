// fake_pmi_server.hpp: a PMI-1 server for tests, in a thread of the test process.
//
// It serves `size` simulated ranks the way MPICH hydra and Slurm's pmi2 plugin do (lock-step
// lines, puts visible after the barrier, rc=-1 with a msg for refusals), and is stricter than
// both where a real server would silently misbehave: a request line longer than 1024 bytes closes
// the connection (Slurm would cut it), a value or key beyond the announced limits, a value with
// '=', space or a byte outside printable ASCII, a second put of one key and a put to another KVS
// are refused. Every request is logged, so tests can check what went over the wire.
//
// Transports: socketpairs (the client end's number is what a test passes as PMI_FD), or a TCP
// listener on 127.0.0.1 (PMI_PORT), where each connection first sends "cmd=initack pmiid=N" and
// is told size, rank (rank_of_id(N)) and debug.
//
// Misbehaviour on demand, for one rank or all (misbehaving_rank < 0): answer a command with
// rc=-1, close the connection instead of answering, never answer, or answer with another cmd.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pmi_test {

struct fake_pmi_options {
  int size = 4;
  bool tcp = false;  ///< PMI_PORT mode (listener on 127.0.0.1) instead of socketpairs
  std::function<int(int)> rank_of_id = [](int id) { return id; };  ///< tcp: pmiid -> rank
  std::size_t kvsname_max = 256;
  std::size_t keylen_max = 64;
  std::size_t vallen_max = 1024;
  bool announce_maxes = true;         ///< false: get_maxes answers without the three sizes
  std::string kvsname = "kvs_fake_42";
  std::size_t max_line = 1024;        ///< longer requests close the connection
  int misbehaving_rank = -1;          ///< the rank the options below apply to; -1: all
  std::string fail_cmd;               ///< answer this command with rc=-1 msg=fail_msg
  std::string fail_msg = "injected_failure";
  std::string close_cmd;              ///< close the connection when this command arrives
  std::string silent_cmd;             ///< never answer this command
  std::string garble_cmd;             ///< answer this command with "cmd=nonsense"
  std::string corrupt_key_prefix;     ///< a get of a key starting with this is answered with
  std::string corrupt_value;          ///< corrupt_value instead of the stored one
};

class fake_pmi_server {
 public:
  explicit fake_pmi_server(fake_pmi_options options) : o_(std::move(options)) {
    if (::pipe(wake_) != 0) throw std::runtime_error("pipe failed");
    if (o_.tcp) {
      listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          ::listen(listener_, 64) != 0 ||
          ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("cannot listen on 127.0.0.1");
      port_ = ntohs(a.sin_port);
    } else {
      for (int r = 0; r < o_.size; ++r) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
          throw std::runtime_error("socketpair failed");
        client_fds_.push_back(pair[1]);
        struct stat status {};
        ::fstat(pair[1], &status);
        client_inodes_.push_back(status.st_ino);
        client_devices_.push_back(status.st_dev);
        connections_.push_back(connection{pair[0], r, {}, false});
      }
    }
    thread_ = std::thread([this] { run(); });
  }

  ~fake_pmi_server() {
    stop_ = true;
    const char byte = 0;
    (void)!::write(wake_[1], &byte, 1);
    thread_.join();
    for (auto& c : connections_)
      if (c.fd >= 0) ::close(c.fd);
    // A pmi_client closes the client end it took; one that failed early may not have taken it.
    // Close the ends still open, recognised by their inode (the number may have been reused).
    for (std::size_t r = 0; r < client_fds_.size(); ++r) {
      struct stat now {};
      if (::fstat(client_fds_[r], &now) == 0 && now.st_ino == client_inodes_[r] &&
          now.st_dev == client_devices_[r])
        ::close(client_fds_[r]);
    }
    if (listener_ >= 0) ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  fake_pmi_server(const fake_pmi_server&) = delete;
  fake_pmi_server& operator=(const fake_pmi_server&) = delete;

  /// The client end of rank r's socketpair: the number to pass as PMI_FD.
  int client_fd(int r) const { return client_fds_.at(static_cast<std::size_t>(r)); }
  /// The TCP port (tcp mode).
  int port() const { return port_; }

  /// Every request line received so far, as "rank: line" ("?" before the handshake).
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  /// The KVS after the last barrier.
  std::map<std::string, std::string> kvs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return committed_;
  }

 private:
  struct connection {
    int fd = -1;
    int rank = -1;  ///< -1 until the initack (tcp)
    std::string buffer;
    bool in_barrier = false;
  };

  bool applies(const connection& c, const std::string& setting, const std::string& cmd) const {
    return !setting.empty() && setting == cmd && (o_.misbehaving_rank < 0 || o_.misbehaving_rank == c.rank);
  }

  static void say(connection& c, const std::string& line) {
    const std::string text = line + "\n";
    (void)!::send(c.fd, text.data(), text.size(), MSG_NOSIGNAL);
  }

  static void hang_up(connection& c) {
    ::close(c.fd);
    c.fd = -1;
  }

  static std::map<std::string, std::string> fields(const std::string& line) {
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ')
        ++i;
      std::size_t end = line.find(' ', i);
      if (end == std::string::npos) end = line.size();
      const std::string token = line.substr(i, end - i);
      const std::size_t eq = token.find('=');
      if (!token.empty()) out[token.substr(0, eq)] = eq == std::string::npos ? "" : token.substr(eq + 1);
      i = end;
    }
    return out;
  }

  static std::string answer_to(const std::string& cmd) {
    static const std::map<std::string, std::string> answers = {
        {"init", "response_to_init"}, {"get_maxes", "maxes"},   {"get_my_kvsname", "my_kvsname"},
        {"put", "put_result"},        {"get", "get_result"},    {"barrier_in", "barrier_out"},
        {"finalize", "finalize_ack"}, {"initack", "initack"}};
    const auto it = answers.find(cmd);
    return it == answers.end() ? cmd + "_result" : it->second;
  }

  void handle(connection& c, const std::string& line) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      log_.push_back((c.rank < 0 ? std::string("?") : std::to_string(c.rank)) + ": " + line);
    }
    if (line.size() + 1 > o_.max_line) return hang_up(c);
    auto f = fields(line);
    const std::string cmd = f["cmd"];
    if (applies(c, o_.silent_cmd, cmd)) return;
    if (applies(c, o_.close_cmd, cmd)) return hang_up(c);
    if (applies(c, o_.garble_cmd, cmd)) return say(c, "cmd=nonsense rc=0");
    if (applies(c, o_.fail_cmd, cmd))
      return say(c, "cmd=" + answer_to(cmd) + " rc=-1 msg=" + o_.fail_msg);

    if (cmd == "initack" && o_.tcp) {
      const int id = std::stoi(f["pmiid"]);
      c.rank = o_.rank_of_id(id);
      say(c, "cmd=initack");
      say(c, "cmd=set size=" + std::to_string(o_.size));
      say(c, "cmd=set rank=" + std::to_string(c.rank));
      return say(c, "cmd=set debug=0");
    }
    if (cmd == "init") return say(c, "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0");
    if (cmd == "get_maxes") {
      if (!o_.announce_maxes) return say(c, "cmd=maxes rc=0");
      return say(c, "cmd=maxes kvsname_max=" + std::to_string(o_.kvsname_max) +
                        " keylen_max=" + std::to_string(o_.keylen_max) +
                        " vallen_max=" + std::to_string(o_.vallen_max));
    }
    if (cmd == "get_my_kvsname") return say(c, "cmd=my_kvsname kvsname=" + o_.kvsname);
    if (cmd == "put") {
      const std::string key = f["key"], value = f["value"];
      std::string problem;
      if (f["kvsname"] != o_.kvsname) problem = "wrong_kvsname";
      else if (key.empty() || key.size() > o_.keylen_max - 1) problem = "bad_key_length";
      else if (value.empty() || value.size() > o_.vallen_max - 1) problem = "bad_value_length";
      else if (std::count(line.begin(), line.end(), '=') != 4) problem = "equals_sign_in_value";
      else if (pending_.count(key) || committed_.count(key)) problem = "duplicate_key";
      for (char ch : value)
        if (ch <= ' ' || ch > '~') problem = "unprintable_value";
      if (!problem.empty()) return say(c, "cmd=put_result rc=-1 msg=" + problem);
      pending_[key] = value;
      return say(c, "cmd=put_result rc=0 msg=success");
    }
    if (cmd == "get") {
      const std::string key = f["key"];
      std::lock_guard<std::mutex> lock(mutex_);
      if (!o_.corrupt_key_prefix.empty() && key.rfind(o_.corrupt_key_prefix, 0) == 0)
        return say(c, "cmd=get_result rc=0 msg=success value=" + o_.corrupt_value);
      const auto it = committed_.find(key);
      if (it == committed_.end())
        return say(c, "cmd=get_result rc=-1 msg=key_" + key + "_not_found value=unknown");
      return say(c, "cmd=get_result rc=0 msg=success value=" + it->second);
    }
    if (cmd == "barrier_in") {
      c.in_barrier = true;
      std::size_t waiting = 0;
      for (const auto& other : connections_)
        waiting += other.in_barrier ? 1 : 0;
      if (waiting == static_cast<std::size_t>(o_.size)) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          committed_.insert(pending_.begin(), pending_.end());
        }
        pending_.clear();
        for (auto& other : connections_) {
          other.in_barrier = false;
          if (other.fd >= 0) say(other, "cmd=barrier_out");
        }
      }
      return;
    }
    if (cmd == "finalize") {
      say(c, "cmd=finalize_ack");
      return hang_up(c);  // as Slurm does: the connection ends with finalize
    }
    hang_up(c);  // an unknown command: hydra would end the job
  }

  void run() {
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({wake_[0], POLLIN, 0});
      if (listener_ >= 0) fds.push_back({listener_, POLLIN, 0});
      std::vector<std::size_t> which;
      for (std::size_t i = 0; i < connections_.size(); ++i)
        if (connections_[i].fd >= 0) {
          fds.push_back({connections_[i].fd, POLLIN, 0});
          which.push_back(i);
        }
      if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
      std::size_t next = 1;
      if (listener_ >= 0) {
        if (fds[1].revents & POLLIN) {
          const int fd = ::accept(listener_, nullptr, nullptr);
          if (fd >= 0) connections_.push_back(connection{fd, -1, {}, false});
        }
        next = 2;
      }
      for (std::size_t k = 0; k < which.size(); ++k) {
        if (!(fds[next + k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        connection& c = connections_[which[k]];
        char chunk[4096];
        const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
          hang_up(c);
          continue;
        }
        c.buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t newline;
        while (c.fd >= 0 && (newline = c.buffer.find('\n')) != std::string::npos) {
          const std::string line = c.buffer.substr(0, newline);
          c.buffer.erase(0, newline + 1);
          handle(c, line);
        }
      }
    }
  }

  fake_pmi_options o_;
  int wake_[2] = {-1, -1};
  int listener_ = -1;
  int port_ = 0;
  std::vector<int> client_fds_;
  std::vector<ino_t> client_inodes_;
  std::vector<dev_t> client_devices_;
  std::vector<connection> connections_;
  std::map<std::string, std::string> pending_;
  std::map<std::string, std::string> committed_;
  std::vector<std::string> log_;
  mutable std::mutex mutex_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pmi_test
