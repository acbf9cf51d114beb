// symphony::ops and detail::combine_into: how reduce combines two ranks' values.
//
// combine_into(op, acc, later) sets acc = acc op later. Built-in operators apply element-wise to
// arrays, vectors and strings; any other callable applies to whole values, in that order.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/ops.hpp>

#include <array>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace ops = symphony::ops;
using symphony::detail::combine_into;
using symphony::detail::is_commutative_v;

// acc op later, through combine_into; fails the calling test if combine_into reports an error.
template <class Op, class T>
T combined(const Op& op, T acc, const T& later) {
  const std::string error = combine_into(op, acc, later);
  CHECK(error == "");
  return acc;
}

using doubles = std::array<double, 3>;
using flags = std::array<bool, 3>;

}  // namespace

TEST_CASE("arithmetic operators on int and double") {
  CHECK(combined(ops::sum, 3, 4) == 7);
  CHECK(combined(ops::prod, 3, -4) == -12);
  CHECK(combined(ops::min, 3, -4) == -4);
  CHECK(combined(ops::max, 3, -4) == 3);

  CHECK(combined(ops::sum, 0.5, 0.25) == 0.75);
  CHECK(combined(ops::prod, 0.5, 0.25) == 0.125);
  CHECK(combined(ops::min, 0.5, 0.25) == 0.25);
  CHECK(combined(ops::max, 0.5, 0.25) == 0.5);
}

TEST_CASE("small integer types keep their type: the sum is cast back, not promoted") {
  const unsigned char a = 200, b = 100;
  CHECK(combined(ops::sum, a, b) == static_cast<unsigned char>(44));  // 300 mod 256
}

TEST_CASE("logical operators treat any non-zero value as true and yield 0 or 1") {
  CHECK(combined(ops::logical_and, 2, 3) == 1);
  CHECK(combined(ops::logical_and, 2, 0) == 0);
  CHECK(combined(ops::logical_or, 0, 0) == 0);
  CHECK(combined(ops::logical_or, 0, -7) == 1);
  CHECK(combined(ops::logical_and, true, false) == false);
  CHECK(combined(ops::logical_or, true, false) == true);
  CHECK(combined(ops::logical_and, 0.5, 2.0) == 1.0);
}

TEST_CASE("bit operators on unsigned values") {
  const unsigned a = 0b1100u, b = 0b1010u;
  CHECK(combined(ops::bit_and, a, b) == 0b1000u);
  CHECK(combined(ops::bit_or, a, b) == 0b1110u);
  CHECK(combined(ops::bit_xor, a, b) == 0b0110u);
  CHECK(combined(ops::bit_xor, 0xffffffffu, 0x0f0f0f0fu) == 0xf0f0f0f0u);
}

TEST_CASE("built-in operators say which element types they accept") {
  CHECK(ops::sum_t::accepts<int>);
  CHECK(ops::sum_t::accepts<double>);
  CHECK_FALSE(ops::sum_t::accepts<std::string>);
  CHECK(ops::bit_or_t::accepts<unsigned>);
  CHECK_FALSE(ops::bit_or_t::accepts<double>);
}

TEST_CASE("built-in operators apply element-wise to vectors, arrays and strings") {
  SUBCASE("std::vector<int>") {
    CHECK(combined(ops::sum, std::vector<int>{1, 2, 3}, {10, 20, 30}) ==
          std::vector<int>{11, 22, 33});
    CHECK(combined(ops::min, std::vector<int>{1, 20, 3}, {10, 2, 30}) == std::vector<int>{1, 2, 3});
  }
  SUBCASE("empty vectors") {
    CHECK(combined(ops::sum, std::vector<int>{}, {}).empty());
  }
  SUBCASE("std::array<double, 3>") {
    CHECK(combined(ops::max, doubles{1.0, -2.0, 3.0}, doubles{0.0, 5.0, 3.5}) ==
          doubles{1.0, 5.0, 3.5});
  }
  SUBCASE("std::array<bool, 3>") {
    CHECK(combined(ops::logical_and, flags{true, true, false}, flags{true, false, false}) ==
          flags{true, false, false});
    CHECK(combined(ops::logical_or, flags{true, true, false}, flags{true, false, false}) ==
          flags{true, true, false});
  }
  SUBCASE("std::vector<unsigned> with bit operators") {
    CHECK(combined(ops::bit_xor, std::vector<unsigned>{0b11, 0b01}, {0b01, 0b01}) ==
          std::vector<unsigned>{0b10, 0b00});
  }
  SUBCASE("std::string: character by character") {
    CHECK(combined(ops::min, std::string("adc"), std::string("bbb")) == "abb");
    CHECK(combined(ops::max, std::string("adc"), std::string("bbb")) == "bdc");
  }
}

TEST_CASE("an element-wise reduction of different lengths is reported, leaving acc unchanged") {
  std::vector<int> acc{1, 2, 3};
  const std::string error = combine_into(ops::sum, acc, std::vector<int>{1, 2});
  CHECK(error.find("contributed 2 elements") != std::string::npos);
  CHECK(error.find("this rank has 3") != std::string::npos);
  CHECK(acc == std::vector<int>{1, 2, 3});

  std::string text = "ab";
  CHECK(combine_into(ops::max, text, std::string("abcd")).find("contributed 4 elements") !=
        std::string::npos);
  CHECK(text == "ab");
}

TEST_CASE("a custom callable applies to whole values, keeping the order acc op later") {
  const auto concatenate = [](const std::string& a, const std::string& b) { return a + b; };
  SUBCASE("two values") {
    CHECK(combined(concatenate, std::string("left"), std::string("right")) == "leftright");
  }
  SUBCASE("a chain, as reduce folds ranks 0, 1, 2 in order") {
    std::string acc = "r0";
    CHECK(combine_into(concatenate, acc, std::string("r1")) == "");
    CHECK(combine_into(concatenate, acc, std::string("r2")) == "");
    CHECK(acc == "r0r1r2");
  }
  SUBCASE("a callable over a whole vector, not element-wise") {
    const auto longer = [](const std::vector<int>& a, const std::vector<int>& b) {
      return b.size() > a.size() ? b : a;
    };
    CHECK(combined(longer, std::vector<int>{1}, {2, 3}) == std::vector<int>{2, 3});
  }
  SUBCASE("ops::commutative(f) still calls f") {
    const auto gcd = ops::commutative([](int a, int b) {
      while (b != 0)
        a = std::exchange(b, a % b);
      return a;
    });
    CHECK(combined(gcd, 12, 18) == 6);
  }
}

TEST_CASE("built-ins and ops::commutative(f) are commutative; other callables are not") {
  const auto plain = [](int a, int b) { return a - b; };
  const auto declared = ops::commutative([](int a, int b) { return a + b; });

  SUBCASE("every built-in operator") {
    CHECK(is_commutative_v<ops::sum_t>);
    CHECK(is_commutative_v<ops::prod_t>);
    CHECK(is_commutative_v<ops::min_t>);
    CHECK(is_commutative_v<ops::max_t>);
    CHECK(is_commutative_v<ops::logical_and_t>);
    CHECK(is_commutative_v<ops::logical_or_t>);
    CHECK(is_commutative_v<ops::bit_and_t>);
    CHECK(is_commutative_v<ops::bit_or_t>);
    CHECK(is_commutative_v<ops::bit_xor_t>);
  }
  SUBCASE("whatever the operator's reference or const qualification") {
    CHECK(is_commutative_v<decltype(ops::sum)>);  // const ops::sum_t
    CHECK(is_commutative_v<const ops::max_t&>);
    CHECK(is_commutative_v<decltype(declared)&>);
  }
  SUBCASE("a user callable declared with ops::commutative") {
    CHECK(is_commutative_v<decltype(declared)>);
  }
  SUBCASE("a plain lambda, a standard functor, a function pointer") {
    CHECK_FALSE(is_commutative_v<decltype(plain)>);
    CHECK_FALSE(is_commutative_v<std::plus<>>);
    CHECK_FALSE(is_commutative_v<int (*)(int, int)>);
  }
}

TEST_CASE("built-in operators apply element-wise to std::vector<bool> too") {
  std::vector<bool> acc{true, true, false};
  const std::vector<bool> later{true, false, false};
  CHECK(symphony::detail::combine_into(symphony::ops::logical_and, acc, later).empty());
  CHECK(acc == std::vector<bool>{true, false, false});
  CHECK(symphony::detail::combine_into(symphony::ops::logical_or, acc,
                                       std::vector<bool>{false, false, true})
            .empty());
  CHECK(acc == std::vector<bool>{true, false, true});
}
