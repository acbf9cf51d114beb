// The bootstrap tests' data: files in tests/bootstrap/data (copied from the scheduler notes),
// read into environments that detect_job() can be fed through a lookup.
//
// Capture formats:
//   *.added.txt  "rankN: NAME=value", one line per variable a launcher added for task N
//                (or plain "NAME=value" lines for a single process, e.g. a batch script)
//   *.vars.txt   "NAME (N tasks)": how many tasks had each added variable
//   other *.txt  hand-written summaries; each test says how it reads them
#pragma once

#include <symphony/bootstrap/detect.hpp>

#include <cstddef>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef SYMPHONY_BOOTSTRAP_DATA
#error "SYMPHONY_BOOTSTRAP_DATA must name the tests/bootstrap/data directory"
#endif

namespace bootstrap_test {

using environment = std::map<std::string, std::string>;

inline std::string data_path(const std::string& name) {
  return std::string(SYMPHONY_BOOTSTRAP_DATA) + "/" + name;
}

/// Every line of a data file; throws if the file is missing, so a test cannot pass on no data.
inline std::vector<std::string> read_lines(const std::string& name) {
  std::ifstream in(data_path(name));
  if (!in) throw std::runtime_error("cannot open test data " + data_path(name));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

/// True for NAME=value where NAME looks like an environment variable.
inline bool split_assignment(const std::string& text, std::string& name, std::string& value) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (std::size_t i = 0; i < eq; ++i) {
    const char c = text[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  name = text.substr(0, eq);
  value = text.substr(eq + 1);
  return true;
}

/// A per-task capture ("rankN: NAME=value"): one environment per task, in task order.
inline std::vector<environment> read_tasks(const std::string& name) {
  std::vector<environment> tasks;
  for (const auto& line : read_lines(name)) {
    const auto colon = line.find(": ");
    if (line.rfind("rank", 0) != 0 || colon == std::string::npos)
      throw std::runtime_error(name + ": unexpected line '" + line + "'");
    const auto task = static_cast<std::size_t>(std::stoul(line.substr(4, colon - 4)));
    if (tasks.size() <= task) tasks.resize(task + 1);
    std::string var, value;
    if (!split_assignment(line.substr(colon + 2), var, value))
      throw std::runtime_error(name + ": unexpected line '" + line + "'");
    tasks[task][var] = value;
  }
  return tasks;
}

/// The NAME=value lines of a file (or of `lines`), others skipped.
inline environment assignments(const std::vector<std::string>& lines) {
  environment env;
  std::string var, value;
  for (const auto& line : lines)
    if (split_assignment(line, var, value)) env[var] = value;
  return env;
}

/// The lines after the line `header` up to the next line starting with "==".
inline std::vector<std::string> section(const std::string& name, const std::string& header) {
  const auto lines = read_lines(name);
  std::vector<std::string> out;
  bool inside = false;
  for (const auto& line : lines) {
    if (line == header) {
      inside = true;
    } else if (inside) {
      if (line.rfind("==", 0) == 0) break;
      out.push_back(line);
    }
  }
  if (!inside) throw std::runtime_error(name + ": no section '" + header + "'");
  return out;
}

/// "NAME (N tasks)" lines: variable -> number of tasks that had it.
inline std::map<std::string, int> read_task_counts(const std::string& name) {
  std::map<std::string, int> counts;
  for (const auto& line : read_lines(name)) {
    const auto open = line.find(" (");
    if (open == std::string::npos) throw std::runtime_error(name + ": unexpected line " + line);
    counts[line.substr(0, open)] = std::stoi(line.substr(open + 2));
  }
  return counts;
}

/// Space-separated NAME=value tokens of one summary line.
inline environment tokens(const std::string& line) {
  environment env;
  std::size_t start = 0;
  while (start < line.size()) {
    auto end = line.find(' ', start);
    if (end == std::string::npos) end = line.size();
    std::string var, value;
    if (split_assignment(line.substr(start, end - start), var, value)) env[var] = value;
    start = end + 1;
  }
  return env;
}

/// `base` with `over` laid on top; a value of "unset" removes the variable (the summaries'
/// spelling of an unset variable).
inline environment overlay(environment base, const environment& over) {
  for (const auto& [var, value] : over) {
    if (value == "unset")
      base.erase(var);
    else
      base[var] = value;
  }
  return base;
}

inline symphony::bootstrap::environment_lookup lookup_in(const environment& env) {
  return [&env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

/// A file reader that serves `files` (path -> contents) and records the paths asked for.
struct fake_files {
  std::map<std::string, std::string> files;
  std::vector<std::string> asked;

  symphony::bootstrap::file_reader reader() {
    return [this](const std::string& path) -> std::optional<std::string> {
      asked.push_back(path);
      const auto it = files.find(path);
      if (it == files.end()) return std::nullopt;
      return it->second;
    };
  }
};

/// detect_job() on `env`, with no readable file.
inline symphony::bootstrap::job_identity detect(const environment& env) {
  fake_files none;
  return symphony::bootstrap::detect_job(lookup_in(env), none.reader());
}

/// The config_error message detect_job() throws on `env`, or "" if it does not throw one.
inline std::string detect_error(const environment& env) {
  try {
    detect(env);
  } catch (const symphony::config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace bootstrap_test
