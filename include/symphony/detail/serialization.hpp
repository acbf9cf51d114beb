// symphony/detail/serialization.hpp: turning values into payload bytes and back.
//
// Two paths, chosen at compile time:
//  - raw: a trivially copyable T, or a std::vector / std::basic_string of trivially copyable
//    elements, travels as its own bytes. Encoding is a view of the value (no copy, no allocation);
//    decoding is the one memcpy into the destination.
//  - cereal: anything else cereal can serialize (std::map, std::vector<std::string>, user structs
//    with a `serialize` member or free function) goes through a cereal binary archive; it is read
//    back by payload_input_archive, which checks declared counts before allocating.
// Both ends of a message must use the same T; sizes are checked on the way in.
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
#if __has_include(<span>)
#include <span>
#endif

namespace symphony::detail {

template <class T>
struct contiguous_raw : std::false_type {};
template <class T, class A>
struct contiguous_raw<std::vector<T, A>>
    : std::bool_constant<std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool>> {};
template <class C, class Tr, class A>
struct contiguous_raw<std::basic_string<C, Tr, A>> : std::true_type {};

/// True when T travels as raw bytes with no serialization step.
template <class T>
inline constexpr bool is_raw_value_v = std::is_trivially_copyable_v<T> || contiguous_raw<T>::value;

template <class T>
inline constexpr bool is_contiguous_raw_v = contiguous_raw<T>::value;

/// The bytes of one encoded value: a view of the value itself on the raw path, or a buffer this
/// object owns on the cereal path. Must not outlive the value it was made from.
class encoded_value {
 public:
  encoded_value(const void* data, std::size_t size)
      : data_(static_cast<const std::byte*>(data)), size_(size) {}
  explicit encoded_value(std::string owned)
      : owned_(std::move(owned)),
        data_(reinterpret_cast<const std::byte*>(owned_.data())),
        size_(owned_.size()) {}
  encoded_value(const encoded_value&) = delete;
  encoded_value& operator=(const encoded_value&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::string owned_;
  const std::byte* data_;
  std::size_t size_;
};

template <class T>
struct is_view : std::false_type {};
template <class C, class Tr>
struct is_view<std::basic_string_view<C, Tr>> : std::true_type {};
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
template <class E, std::size_t N>
struct is_view<std::span<E, N>> : std::true_type {};
#endif

template <class T>
encoded_value encode_value(const T& value) {
  static_assert(!std::is_pointer_v<T>, "symphony cannot send pointers: send the pointed-to value");
  static_assert(!is_view<T>::value,
                "symphony cannot send a view (string_view, span): it would send the pointer, not "
                "the data; send a std::string or std::vector");
  if constexpr (std::is_trivially_copyable_v<T>) {
    return encoded_value(&value, sizeof(T));
  } else if constexpr (is_contiguous_raw_v<T>) {
    return encoded_value(value.data(), value.size() * sizeof(typename T::value_type));
  } else {
    std::ostringstream stream(std::ios::binary);
    {
      cereal::BinaryOutputArchive archive(stream);
      archive(value);
    }
    return encoded_value(std::move(stream).str());
  }
}

/// Reads what cereal::BinaryOutputArchive wrote, from a byte range, without trusting it. It
/// differs from cereal::BinaryInputArchive in two checks, made before anything is allocated:
///  - a count (of a string's characters, a container's elements) larger than the bytes left in
///    the payload is refused. cereal's own archive sizes the container first, so that a 16-byte
///    payload declaring 2^32 elements made it allocate gigabytes. The price: a container of
///    elements that serialize to no bytes at all (empty structs) cannot hold more elements than
///    bytes follow its count;
///  - a bool must be 0 or 1 (any other byte would be undefined behaviour once read as a bool).
/// Every violation, and reading past the end, throws cereal::Exception. Value types serialize
/// through it as through any cereal archive (a serialize/load template of the archive type).
class payload_input_archive
    : public cereal::InputArchive<payload_input_archive, cereal::AllowEmptyClassElision> {
 public:
  payload_input_archive(const std::byte* data, std::size_t size)
      : InputArchive(this), next_(data), left_(size) {}

  /// Copies the next `size` bytes to `out`; throws cereal::Exception when fewer are left.
  void loadBinary(void* out, std::size_t size) {
    if (size > left_)
      throw cereal::Exception("the payload ends " + std::to_string(size - left_) +
                              " bytes too early");
    if (size != 0) std::memcpy(out, next_, size);
    next_ += size;
    left_ -= size;
  }

  /// Throws cereal::Exception unless `count` elements, of at least one byte each, can follow.
  void check_count(std::uint64_t count) const {
    if (count > left_)
      throw cereal::Exception("a count of " + std::to_string(count) + " elements with only " +
                              std::to_string(left_) + " bytes left");
  }

  /// Bytes not read yet.
  std::size_t left() const { return left_; }

 private:
  const std::byte* next_;
  std::size_t left_;
};

// cereal finds these by argument-dependent lookup, as it finds BinaryInputArchive's.
template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(payload_input_archive& archive,
                                                                   T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    unsigned char byte = 0;
    archive.loadBinary(&byte, 1);
    if (byte > 1) throw cereal::Exception("a bool of value " + std::to_string(byte));
    value = byte != 0;
  } else {
    archive.loadBinary(std::addressof(value), sizeof(value));
  }
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(payload_input_archive& archive, cereal::NameValuePair<T>& pair) {
  archive(pair.value);
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(payload_input_archive& archive, cereal::SizeTag<T>& tag) {
  archive(tag.size);
  archive.check_count(static_cast<std::uint64_t>(tag.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(payload_input_archive& archive, cereal::BinaryData<T>& data) {
  archive.loadBinary(data.data, static_cast<std::size_t>(data.size));
}

/// Decodes `size` bytes into `out`. Returns an empty string on success, else what is wrong
/// (the caller adds which operation and which rank sent it): a size that does not fit the type,
/// bytes that do not deserialize, or bytes left over after the value.
template <class T>
std::string decode_value(const std::byte* data, std::size_t size, T& out) {
  if constexpr (std::is_trivially_copyable_v<T>) {
    if (size != sizeof(T))
      return "a payload of " + std::to_string(size) + " bytes where a value of " +
             std::to_string(sizeof(T)) + " bytes was expected (do both sides use the same type?)";
    std::memcpy(static_cast<void*>(&out), data, sizeof(T));
  } else if constexpr (is_contiguous_raw_v<T>) {
    using element = typename T::value_type;
    if (size % sizeof(element) != 0)
      return "a payload of " + std::to_string(size) + " bytes, not a whole number of " +
             std::to_string(sizeof(element)) + "-byte elements (do both sides use the same type?)";
    out.resize(size / sizeof(element));
    if (size != 0) std::memcpy(static_cast<void*>(out.data()), data, size);
  } else {
    try {
      payload_input_archive archive(data, size);
      archive(out);
      // Bytes after the value mean the sender encoded something else (another type whose
      // encoding starts like this one's): as wrong as a raw payload of the wrong size.
      if (archive.left() > 0)
        return "a payload of " + std::to_string(size) + " bytes with " +
               std::to_string(archive.left()) +
               " bytes left over after the value (do both sides use the same type?)";
    } catch (const std::exception& e) {
      return "a payload of " + std::to_string(size) + " bytes that does not deserialize (" +
             e.what() + "; do both sides use the same type?)";
    }
  }
  return {};
}

}  // namespace symphony::detail

// Polymorphic types registered with CEREAL_REGISTER_TYPE load through this archive too, and
// load_minimal (enums) needs to know which output archive wrote the data.
CEREAL_REGISTER_ARCHIVE(symphony::detail::payload_input_archive)
namespace cereal::traits::detail {
template <>
struct get_output_from_input<symphony::detail::payload_input_archive> {
  using type = cereal::BinaryOutputArchive;
};
}  // namespace cereal::traits::detail
