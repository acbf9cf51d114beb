// symphony/bootstrap/hostlist.hpp: Slurm's compressed host lists, task counts and port ranges.
//
// Slurm describes a job step in compressed forms that a program must expand before it can use
// them (all observed with Slurm 22.05 and checked against `scontrol show hostnames`; the vectors
// are in tests/bootstrap/data/hostlist-vectors.tsv):
//
//   SLURM_STEP_NODELIST        node[01-03]      -> node01 node02 node03
//   SLURM_STEP_TASKS_PER_NODE  3,1(x2)          -> 3 1 1
//   SLURM_STEP_RESV_PORTS      12001-12005      -> 12001 ... 12005
//
// Host list rules, as Slurm's src/common/hostlist.c applies them (_hostlist_create_bracketed,
// _parse_single_range, _push_range_list):
//   * Items are separated by ',' or whitespace outside brackets; empty items are skipped, order
//     and duplicates are kept (SLURM_NODEID indexes the expanded list, so order matters).
//   * `prefix[r,r,...]` where r is N or LO-HI in decimal with LO <= HI. The width of every number
//     in a range is the length of LO as written: node[08-10] -> node08 node09 node10, but
//     node[8-010] -> node8 node9 node10. One range holds at most 65536 hosts (Slurm's MAX_RANGE).
//   * Nothing may follow the last ']' of an item (Slurm rejects n[1-3]-ib and host[1-2]x), but
//     text may sit between bracket groups: rack[1-2]-node[01-02] is a cartesian product.
//   * With several groups Slurm varies the last group fastest, then the first, the second, ...,
//     and the next-to-last slowest: a[1-2]b[3-4]c[5-6] -> a1b3c5 a1b3c6 a2b3c5 a2b3c6 a1b4c5 ...
//     (for two groups that is the plain row-major order). Slurm never writes more than one group
//     per item into the environment; the product is here so that hand-written lists work too.
//
// Where this parser is stricter than Slurm, Slurm would have produced garbage: an unclosed '['
// (Slurm turns node[1-2 into "node]"), a stray ']', whitespace inside brackets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace symphony::detail {

/// Most hosts one LO-HI range may hold; Slurm's own limit (MAX_RANGE in hostlist.c).
inline constexpr std::uint64_t hostlist_max_range = 65536;

/// Most entries a whole list may expand to. Slurm has no such limit, but a product of two
/// maximal ranges would be 2^32 names: refuse instead of exhausting memory.
inline constexpr std::size_t hostlist_max_entries = std::size_t{1} << 20;

/// Throws the config_error every malformed list produces: variable, value, what is wrong.
[[noreturn]] inline void throw_list_error(std::string_view variable, std::string_view value,
                                          const std::string& problem) {
  throw config_error(std::string(variable) + "='" + std::string(value) + "' " + problem);
}

inline bool is_hostlist_separator(char c) {
  return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/// Parses a run of decimal digits (at most 18, so it fits) or returns false.
inline bool parse_decimal(std::string_view digits, std::uint64_t& value) {
  if (digits.empty() || digits.size() > 18) return false;
  value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

/// One N or LO-HI entry of a bracket group; `width` is the length of LO as written.
struct hostlist_range {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::size_t width = 0;
  std::uint64_t count() const { return hi - lo + 1; }
};

/// Parses the inside of one bracket group ("01-04,07"). `list` and `variable` are for messages;
/// `bracketed` says whether the group stood in brackets (a host list) or alone (a port list).
inline std::vector<hostlist_range> parse_hostlist_ranges(std::string_view group,
                                                         std::string_view list,
                                                         std::string_view variable,
                                                         bool bracketed = true) {
  const std::string shown = bracketed ? "the bracket group '[" + std::string(group) + "]'"
                                      : "'" + std::string(group) + "'";
  if (group.empty())
    throw_list_error(variable, list, bracketed ? "has an empty bracket group '[]'" : "is empty");
  std::vector<hostlist_range> ranges;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = group.find(',', start);
    const std::string_view entry = group.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (entry.empty()) throw_list_error(variable, list, "has an empty entry in " + shown);
    const std::size_t dash = entry.find('-');
    const std::string_view lo_text = entry.substr(0, dash);
    const std::string_view hi_text =
        dash == std::string_view::npos ? lo_text : entry.substr(dash + 1);
    hostlist_range r;
    if (!parse_decimal(lo_text, r.lo) || !parse_decimal(hi_text, r.hi))
      throw_list_error(variable, list,
                       "has '" + std::string(entry) + "' in " + shown +
                           ", which is neither a number nor a LO-HI range of numbers");
    if (r.lo > r.hi)
      throw_list_error(variable, list,
                       "has the reversed range '" + std::string(entry) + "' in " + shown +
                           " (Slurm ranges count upwards)");
    if (r.count() > hostlist_max_range)
      throw_list_error(variable, list,
                       "has the range '" + std::string(entry) + "', which holds more than " +
                           std::to_string(hostlist_max_range) + " hosts (Slurm's limit)");
    r.width = lo_text.size();
    ranges.push_back(r);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return ranges;
}

/// `value` in decimal, left-padded with zeros to `width` digits.
inline std::string zero_padded(std::uint64_t value, std::size_t width) {
  std::string digits = std::to_string(value);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

/// Expands one item (no top-level separator in it) and appends the names to `out`.
inline void expand_hostlist_item(std::string_view item, std::string_view list,
                                 std::string_view variable, std::vector<std::string>& out) {
  // Split "rack[1-2]-node[01-02]" into texts {"rack", "-node", ""} and the groups between them.
  std::vector<std::string_view> texts;
  std::vector<std::vector<hostlist_range>> groups;
  std::size_t pos = 0;
  while (true) {
    const std::size_t open = item.find('[', pos);
    texts.push_back(item.substr(pos, open == std::string_view::npos ? open : open - pos));
    if (open == std::string_view::npos) break;
    const std::size_t close = item.find(']', open);  // found: the caller checked the brackets
    groups.push_back(
        parse_hostlist_ranges(item.substr(open + 1, close - open - 1), list, variable));
    pos = close + 1;
  }
  if (groups.empty()) {
    out.emplace_back(item);
    return;
  }
  if (!texts.back().empty())
    throw_list_error(variable, list,
                     "has '" + std::string(texts.back()) + "' after the ']' of '" +
                         std::string(item) +
                         "' (Slurm allows text after a bracket group only before another group)");

  std::uint64_t total = 1;
  for (const auto& group : groups) {
    std::uint64_t in_group = 0;
    for (const auto& r : group)
      in_group += r.count();
    // Both factors are at most the cap (2^20) before multiplying, so this cannot overflow.
    if (in_group <= hostlist_max_entries) total *= in_group;
    if (in_group > hostlist_max_entries || total > hostlist_max_entries - out.size())
      throw_list_error(variable, list,
                       "expands to more than " + std::to_string(hostlist_max_entries) + " hosts");
  }

  // Slurm's loop nesting (hostlist.c, _push_range_list recurses on the *last* '[' of the
  // prefix): next-to-last group outermost, then down to the first, and the last group innermost.
  std::vector<std::size_t> nesting;
  for (std::size_t g = groups.size() - 1; g-- > 0;)
    nesting.push_back(g);
  nesting.push_back(groups.size() - 1);

  std::vector<std::string> chosen(groups.size());
  const auto emit = [&](const auto& self, std::size_t level) -> void {
    if (level == nesting.size()) {
      std::string name(texts[0]);
      for (std::size_t g = 0; g < groups.size(); ++g) {
        name += chosen[g];
        name += texts[g + 1];
      }
      out.push_back(std::move(name));
      return;
    }
    const std::size_t g = nesting[level];
    for (const auto& r : groups[g])
      for (std::uint64_t n = r.lo;; ++n) {
        chosen[g] = zero_padded(n, r.width);
        self(self, level + 1);
        if (n == r.hi) break;
      }
  };
  emit(emit, 0);
}

}  // namespace symphony::detail

namespace symphony::bootstrap {

/// Expands a Slurm host list such as SLURM_STEP_NODELIST (`node[01-04,07],gpu[1-2]`) into one name
/// per entry, in Slurm's order, keeping zero padding and duplicates (rules at the top of this
/// header). `variable` names the list in error messages.
///
/// Throws config_error naming `variable`, the value and the problem when the list is malformed:
/// an unclosed or stray bracket, an empty or reversed range, text after the last ']', a range of
/// more than 65536 hosts, or a list that names no host at all.
inline std::vector<std::string> expand_hostlist(std::string_view list, std::string_view variable) {
  std::vector<std::string> hosts;
  std::size_t i = 0;
  while (i < list.size()) {
    if (detail::is_hostlist_separator(list[i])) {
      ++i;  // empty items are fine: Slurm itself accepts "node[1-2]," and ",node1"
      continue;
    }
    const std::size_t start = i;
    std::size_t open = std::string_view::npos;  // position of the '[' we are inside, if any
    for (; i < list.size(); ++i) {
      const char c = list[i];
      if (c == '[') {
        if (open != std::string_view::npos)
          detail::throw_list_error(variable, list,
                                   "has a '[' inside the bracket group opened at character " +
                                       std::to_string(open + 1) + " (groups do not nest)");
        open = i;
      } else if (c == ']') {
        if (open == std::string_view::npos)
          detail::throw_list_error(variable, list,
                                   "has a ']' without a '[' at character " + std::to_string(i + 1));
        open = std::string_view::npos;
      } else if (detail::is_hostlist_separator(c)) {
        if (open == std::string_view::npos) break;  // the end of this item
        if (c != ',')  // inside brackets a comma separates ranges; whitespace is an error
          detail::throw_list_error(variable, list,
                                   "has whitespace inside the bracket group opened at character " +
                                       std::to_string(open + 1));
      }
    }
    if (open != std::string_view::npos)
      detail::throw_list_error(variable, list,
                               "has an unclosed '[' at character " + std::to_string(open + 1));
    detail::expand_hostlist_item(list.substr(start, i - start), list, variable, hosts);
  }
  if (hosts.empty()) detail::throw_list_error(variable, list, "names no host");
  return hosts;
}

/// Expands a Slurm task-count list such as SLURM_STEP_TASKS_PER_NODE: comma-separated items
/// `count` or `count(xrepeat)`, so `2(x3),1` -> {2, 2, 2, 1} (the form of slurm.conf and srun(1);
/// observed: `4`, `3,1(x2)`, `4,2,1(x2)`, `2(x2)`).
///
/// Throws config_error naming `variable` and the value when an item is empty, is not of that form,
/// repeats zero times, or the list expands to more than 2^20 entries.
inline std::vector<int> expand_tasks_per_node(std::string_view spec, std::string_view variable) {
  if (spec.empty()) detail::throw_list_error(variable, spec, "is empty (expected e.g. 2(x3),1)");
  std::vector<int> counts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = spec.find(',', start);
    const std::string_view item =
        spec.substr(start, comma == std::string_view::npos ? comma : comma - start);
    const auto bad = [&](const std::string& why) {
      detail::throw_list_error(variable, spec, "has the item '" + std::string(item) + "', " + why);
    };
    if (item.empty()) bad("which is empty");
    const std::size_t paren = item.find('(');
    std::uint64_t count = 0;
    std::uint64_t repeat = 1;
    if (!detail::parse_decimal(item.substr(0, paren), count) || count > 1000000000)
      bad("which does not start with a task count (expected N or N(xR))");
    if (paren != std::string_view::npos) {
      const std::string_view tail = item.substr(paren);  // "(x3)"
      if (tail.size() < 4 || tail.substr(0, 2) != "(x" || tail.back() != ')' ||
          !detail::parse_decimal(tail.substr(2, tail.size() - 3), repeat))
        bad("whose repeat is not of the form (xR)");
      if (repeat == 0) bad("which repeats zero times");
    }
    if (repeat > detail::hostlist_max_entries - counts.size())
      detail::throw_list_error(
          variable, spec,
          "expands to more than " + std::to_string(detail::hostlist_max_entries) + " entries");
    counts.insert(counts.end(), static_cast<std::size_t>(repeat), static_cast<int>(count));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return counts;
}

/// Expands a port list such as SLURM_STEP_RESV_PORTS (`12001-12005`, `12000,12998-12999`): the
/// inside of a bracket group without the brackets. Every port must be in 1-65535.
///
/// Throws config_error naming `variable` and the value when the list is empty or malformed, or a
/// port is out of range.
inline std::vector<int> expand_ports(std::string_view spec, std::string_view variable) {
  std::vector<int> ports;
  for (const auto& r : detail::parse_hostlist_ranges(spec, spec, variable, false)) {
    if (r.lo < 1 || r.hi > 65535)
      detail::throw_list_error(
          variable, spec,
          "has a port outside 1-65535 (" + std::to_string(r.lo) + "-" + std::to_string(r.hi) + ")");
    for (std::uint64_t p = r.lo; p <= r.hi; ++p)
      ports.push_back(static_cast<int>(p));
  }
  return ports;
}

/// The host of every rank when nodes take ranks in blocks, in order: node i runs the next
/// `tasks_per_node[i]` ranks (Slurm's default "block" distribution, Flux's default task map).
/// So {node01, node02} with {3, 1} gives {node01, node01, node01, node02}.
///
/// Throws config_error naming both variables when the two lists have different lengths (they must
/// describe the same nodes) or a count is negative. Whether the job really used a block layout is
/// the caller's question: with cyclic, plane or arbitrary layouts the result is wrong.
inline std::vector<std::string> hosts_by_rank(const std::vector<std::string>& hosts,
                                              const std::vector<int>& tasks_per_node,
                                              std::string_view hosts_variable = "host list",
                                              std::string_view counts_variable = "task counts") {
  if (hosts.size() != tasks_per_node.size())
    throw config_error(std::string(hosts_variable) + " names " + std::to_string(hosts.size()) +
                       " node(s) but " + std::string(counts_variable) + " gives task counts for " +
                       std::to_string(tasks_per_node.size()) +
                       " node(s); both must describe the same nodes");
  std::vector<std::string> by_rank;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (tasks_per_node[i] < 0)
      throw config_error(std::string(counts_variable) + " gives node " + std::to_string(i) + " (" +
                         hosts[i] + ") a negative task count " + std::to_string(tasks_per_node[i]));
    by_rank.insert(by_rank.end(), static_cast<std::size_t>(tasks_per_node[i]), hosts[i]);
  }
  return by_rank;
}

}  // namespace symphony::bootstrap
