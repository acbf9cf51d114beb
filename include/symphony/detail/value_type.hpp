// symphony/detail/value_type.hpp: the element type of a collective's values, as sent in every
// message header (wire.hpp, offsets 5..7).
//
// Ranks that call one collective with different value types (float on one, double on another;
// int and a struct of the same size) would otherwise decode each other's bytes as garbage, or fail
// later with a size complaint that hides the cause. The kind and sizeof of the element type are
// compact, identical on every build of one platform, and enough to tell the usual mistakes apart.
// Containers count as their elements (std::vector<float> and std::basic_string<float> agree; a
// std::vector<float> of any length is float of 4 bytes). Types that travel through cereal are
// only "serialized": their decoding checks the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "serialization.hpp"
#include "wire.hpp"

namespace symphony::detail {

template <class E>
constexpr value_type scalar_type_of() {
  constexpr auto size = static_cast<std::uint16_t>(sizeof(E) < 65535 ? sizeof(E) : 65535);
  if constexpr (!std::is_trivially_copyable_v<E>) {
    return {type_kind::serialized, 0};
  } else if constexpr (std::is_same_v<E, bool>) {
    return {type_kind::boolean, size};
  } else if constexpr (std::is_same_v<E, char> || std::is_same_v<E, signed char> ||
                       std::is_same_v<E, unsigned char> || std::is_same_v<E, std::byte>) {
    return {type_kind::character, size};
  } else if constexpr (std::is_enum_v<E>) {
    return {type_kind::enumeration, size};
  } else if constexpr (std::is_integral_v<E> && std::is_signed_v<E>) {
    return {type_kind::signed_int, size};
  } else if constexpr (std::is_integral_v<E>) {
    return {type_kind::unsigned_int, size};
  } else if constexpr (std::is_floating_point_v<E>) {
    return {type_kind::floating, size};
  } else {
    return {type_kind::trivial, size};
  }
}

template <class T>
struct value_type_traits {
  static constexpr value_type get() { return scalar_type_of<T>(); }
};
template <>
struct value_type_traits<void> {
  static constexpr value_type get() { return {}; }
};
template <class E, class A>
struct value_type_traits<std::vector<E, A>> {
  static constexpr value_type get() {
    return contiguous_raw<std::vector<E, A>>::value ? scalar_type_of<E>()
                                                    : value_type{type_kind::serialized, 0};
  }
};
template <class C, class Tr, class A>
struct value_type_traits<std::basic_string<C, Tr, A>> {
  static constexpr value_type get() { return scalar_type_of<C>(); }
};

/// The value type a collective over values of type T announces (void: none, as in barrier).
template <class T>
constexpr value_type value_type_of() {
  return value_type_traits<std::remove_cv_t<T>>::get();
}

}  // namespace symphony::detail
