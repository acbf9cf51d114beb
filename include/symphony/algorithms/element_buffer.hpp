// symphony/algorithms/element_buffer.hpp: a vector of elements that block algorithms cut up.
//
// The long-message reductions (Rabenseifner, ring, recursive halving) send ranges of a vector's
// elements and combine what arrives into ranges of their own. An element_buffer is that vector
// seen as elements: it packs a range into payload bytes and combines or copies received bytes
// into a range, element by element with the operator, in an order the algorithm names (the
// incoming range first when it comes from lower ranks), so that non-commutative operators stay
// correct.
//
// Trivially copyable elements travel as raw bytes: packing is a view (no copy) and combining reads
// each element straight from the message. Other elements (std::string, a user struct with a
// cereal `serialize`) travel as a cereal archive of the range, laid out as a std::vector<E> would
// be.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/serialization.hpp"
#include "../ops.hpp"

namespace symphony::algorithms {

template <class T>
struct contiguous_elements : std::false_type {};
template <class E, class A>
struct contiguous_elements<std::vector<E, A>> : std::bool_constant<!std::is_same_v<E, bool>> {};
template <class C, class Tr, class A>
struct contiguous_elements<std::basic_string<C, Tr, A>> : std::true_type {};
template <class E, std::size_t N>
struct contiguous_elements<std::array<E, N>> : std::true_type {};

/// True when a T reduced with Op may be cut into blocks of elements and the blocks reduced
/// separately: a contiguous sequence (std::vector, std::basic_string, std::array) of arithmetic
/// elements and a built-in element-wise operator. This is what the long-message reductions
/// (Rabenseifner, ring) need; anything else is reduced as whole values.
template <class T, class Op>
inline constexpr bool splits_into_elements_v = [] {
  if constexpr (contiguous_elements<T>::value && detail::is_builtin_operator_v<Op>)
    return std::is_arithmetic_v<typename T::value_type>;
  else
    return false;
}();

/// The payload of `count` elements at `first`: raw bytes (a view, no copy) for trivially copyable
/// elements, else a cereal archive that decode_value reads back as a std::vector<E>.
template <class E>
detail::encoded_value encode_elements(const E* first, std::size_t count) {
  if constexpr (std::is_trivially_copyable_v<E>) {
    return detail::encoded_value(first, count * sizeof(E));
  } else {
    std::ostringstream stream(std::ios::binary);
    {
      cereal::BinaryOutputArchive archive(stream);
      archive(cereal::make_size_tag(static_cast<cereal::size_type>(count)));
      for (std::size_t i = 0; i < count; ++i)
        archive(first[i]);
    }
    return detail::encoded_value(std::move(stream).str());
  }
}

template <class E, class Op>
class element_buffer {
 public:
  /// A view of `count` elements at `data`, combined with `op` (E(const E&, const E&)).
  element_buffer(E* data, std::size_t count, const Op& op) : data_(data), count_(count), op_(op) {}

  std::size_t size() const { return count_; }
  E* data() const { return data_; }

  /// The payload of elements [first, first + count).
  detail::encoded_value pack(std::size_t first, std::size_t count) const {
    return encode_elements(data_ + first, count);
  }

  /// Elements [first, first + count) become incoming op mine (incoming_first) or mine op incoming,
  /// element by element. Returns what is wrong with the payload (nothing changed), else "".
  std::string combine(std::size_t first, std::size_t count, const std::byte* bytes,
                      std::size_t size, bool incoming_first) {
    if constexpr (raw) {
      if (const auto problem = check_size(count, size); !problem.empty()) return problem;
      E* acc = data_ + first;
      if (incoming_first) {
        for (std::size_t i = 0; i < count; ++i)
          acc[i] = op_(load(bytes, i), std::as_const(acc[i]));
      } else {
        for (std::size_t i = 0; i < count; ++i)
          acc[i] = op_(std::as_const(acc[i]), load(bytes, i));
      }
    } else {
      if (const auto problem = unpack(count, bytes, size); !problem.empty()) return problem;
      E* acc = data_ + first;
      for (std::size_t i = 0; i < count; ++i)
        acc[i] = incoming_first ? op_(std::as_const(incoming_[i]), std::as_const(acc[i]))
                                : op_(std::as_const(acc[i]), std::as_const(incoming_[i]));
    }
    return {};
  }

  /// Elements [first, first + count) become the payload's. Returns what is wrong, else "".
  std::string assign(std::size_t first, std::size_t count, const std::byte* bytes,
                     std::size_t size) {
    if constexpr (raw) {
      if (const auto problem = check_size(count, size); !problem.empty()) return problem;
      if (size != 0) std::memcpy(static_cast<void*>(data_ + first), bytes, size);
    } else {
      if (const auto problem = unpack(count, bytes, size); !problem.empty()) return problem;
      for (std::size_t i = 0; i < count; ++i)
        data_[first + i] = std::move(incoming_[i]);
    }
    return {};
  }

 private:
  static constexpr bool raw = std::is_trivially_copyable_v<E>;

  static E load(const std::byte* bytes, std::size_t i) {
    E value;  // the payload may not be aligned for E: copy, which compilers turn into a load
    std::memcpy(static_cast<void*>(&value), bytes + i * sizeof(E), sizeof(E));
    return value;
  }

  static std::string check_size(std::size_t count, std::size_t size) {
    if (size == count * sizeof(E)) return {};
    return "sent " + std::to_string(size) + " bytes for " + std::to_string(count) +
           " elements of " + std::to_string(sizeof(E)) +
           " bytes (every rank must pass the same number of elements)";
  }

  std::string unpack(std::size_t count, const std::byte* bytes, std::size_t size) {
    const std::string problem = detail::decode_value(bytes, size, incoming_);
    if (!problem.empty()) return "sent " + problem;
    if (incoming_.size() != count)
      return "sent " + std::to_string(incoming_.size()) + " elements where this rank has " +
             std::to_string(count) + " (every rank must pass the same number of elements)";
    return {};
  }

  E* data_;
  std::size_t count_;
  const Op& op_;
  std::vector<E> incoming_;  // decoded elements (cereal path), reused between messages
};

}  // namespace symphony::algorithms
