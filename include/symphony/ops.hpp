// symphony/ops.hpp: reduction operators.
//
// symphony::ops::sum, prod, min, max, logical_and, logical_or, bit_and, bit_or and bit_xor apply
// element-wise: to arithmetic values, and to std::array, std::vector and std::basic_string of
// arithmetic elements (every rank must then contribute the same number of elements). They are
// commutative, which lets reduce pick the cheapest tree for any root.
//
// Any callable `T(const T&, const T&)` works too, applied to whole values. It must be associative
// but need not be commutative: values are combined in rank order, so reducing strings with
// concatenation yields rank 0's piece first, then rank 1's, and so on (as MPI does for
// non-commutative operations). Wrap a commutative callable in symphony::ops::commutative(f) to
// let reduce use the cheaper tree.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace symphony {
namespace ops {

/// Base of symphony's built-in element-wise operators.
struct builtin_operator {
  static constexpr bool commutative = true;
};

#define SYMPHONY_DEFINE_OPERATOR(name, requirement, expression)                                  \
  struct name##_t : builtin_operator {                                                           \
    template <class A>                                                                           \
    static constexpr bool accepts = requirement;                                                 \
    template <class A>                                                                           \
    constexpr A operator()(const A& a, const A& b) const {                                       \
      static_assert(accepts<A>, "symphony::ops::" #name " does not apply to this element type"); \
      return static_cast<A>(expression);                                                         \
    }                                                                                            \
  };                                                                                             \
  inline constexpr name##_t name {}

SYMPHONY_DEFINE_OPERATOR(sum, std::is_arithmetic_v<A>, a + b);
SYMPHONY_DEFINE_OPERATOR(prod, std::is_arithmetic_v<A>, a* b);
SYMPHONY_DEFINE_OPERATOR(min, std::is_arithmetic_v<A>, b < a ? b : a);
SYMPHONY_DEFINE_OPERATOR(max, std::is_arithmetic_v<A>, a < b ? b : a);
SYMPHONY_DEFINE_OPERATOR(logical_and, std::is_arithmetic_v<A>, a&& b);
SYMPHONY_DEFINE_OPERATOR(logical_or, std::is_arithmetic_v<A>, a || b);
SYMPHONY_DEFINE_OPERATOR(bit_and, std::is_integral_v<A>, a& b);
SYMPHONY_DEFINE_OPERATOR(bit_or, std::is_integral_v<A>, a | b);
SYMPHONY_DEFINE_OPERATOR(bit_xor, std::is_integral_v<A>, a ^ b);
#undef SYMPHONY_DEFINE_OPERATOR

/// Declares a user callable commutative (as MPI_Op_create's `commute`), so that reduce may
/// combine values in any order. Only do this when f(a, b) == f(b, a) for all values.
template <class F>
struct commutative_operator {
  F function;
  static constexpr bool commutative = true;
  template <class T>
  T operator()(const T& a, const T& b) const {
    return function(a, b);
  }
};

template <class F>
commutative_operator<std::decay_t<F>> commutative(F&& function) {
  return {std::forward<F>(function)};
}

}  // namespace ops

namespace detail {

template <class Op>
inline constexpr bool is_builtin_operator_v = std::is_base_of_v<ops::builtin_operator, Op>;

template <class Op, class = void>
struct operator_commutativity : std::false_type {};
template <class Op>
struct operator_commutativity<Op, std::void_t<decltype(Op::commutative)>>
    : std::bool_constant<Op::commutative> {};

/// True when reduce may combine values of `Op` in any order.
template <class Op>
inline constexpr bool is_commutative_v = operator_commutativity<std::decay_t<Op>>::value;

template <class T>
struct element_sequence : std::false_type {};
template <class T, std::size_t N>
struct element_sequence<std::array<T, N>> : std::true_type {};
template <class T, class A>
struct element_sequence<std::vector<T, A>> : std::true_type {};
template <class C, class Tr, class A>
struct element_sequence<std::basic_string<C, Tr, A>> : std::true_type {};

/// Sets acc = acc op later. Returns what is wrong (leaving acc unchanged) when a built-in
/// operator is given sequences of different lengths, else an empty string.
template <class Op, class T>
std::string combine_into(const Op& op, T& acc, const T& later) {
  if constexpr (is_builtin_operator_v<Op> && element_sequence<T>::value) {
    if (acc.size() != later.size())
      return "contributed " + std::to_string(later.size()) +
             " elements to an element-wise reduction where this rank has " +
             std::to_string(acc.size()) + " (every rank must pass the same number)";
    using element = typename T::value_type;  // by index: vector<bool> has proxy references
    for (std::size_t i = 0; i < acc.size(); ++i)
      acc[i] = op(static_cast<element>(acc[i]), static_cast<element>(later[i]));
  } else if constexpr (is_builtin_operator_v<Op>) {
    static_assert(std::is_arithmetic_v<T>,
                  "symphony's built-in operators apply to arithmetic values and to std::array, "
                  "std::vector and std::basic_string of them; for other types pass a callable "
                  "T(const T&, const T&)");
    acc = op(acc, later);
  } else {
    static_assert(std::is_invocable_r_v<T, const Op&, const T&, const T&>,
                  "a reduction operator must be callable as T(const T&, const T&)");
    acc = op(std::as_const(acc), later);
  }
  return {};
}

}  // namespace detail
}  // namespace symphony
