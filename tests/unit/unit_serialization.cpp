// symphony::detail::encode_value / decode_value: values to payload bytes and back.
//
// Trivially copyable values, and vectors and strings of them, travel as their own bytes (the
// "raw" path, no copy on the way out); everything else goes through a cereal binary archive.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/detail/serialization.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using symphony::detail::decode_value;
using symphony::detail::encode_value;
using symphony::detail::is_contiguous_raw_v;
using symphony::detail::is_raw_value_v;

// A plain struct with padding between its members: travels raw.
struct point {
  char label;
  double x;
  int y;
};

// A struct cereal serializes through its `serialize` member: not trivially copyable.
struct particle {
  std::string name;
  std::vector<double> position;
  int charge = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, position, charge);
  }
  bool operator==(const particle& o) const {
    return name == o.name && position == o.position && charge == o.charge;
  }
};

using string_map = std::map<std::string, int>;
using int_array = std::array<int, 3>;
using named_value = std::pair<int, std::string>;
using int_double = std::pair<int, double>;

template <class T>
struct decoded {
  std::string error;  // what decode_value reported: "" on success
  T value{};
};

// Encodes `original`, then decodes those bytes into a fresh T.
template <class T>
decoded<T> round_trip(const T& original) {
  const auto bytes = encode_value(original);
  decoded<T> out;
  out.error = decode_value(bytes.data(), bytes.size(), out.value);
  return out;
}

template <class T>
const std::byte* bytes_of(const T& value) {
  return reinterpret_cast<const std::byte*>(&value);
}

}  // namespace

TEST_CASE("the raw path is chosen for trivially copyable values and vectors and strings of them") {
  SUBCASE("raw, as the value's own bytes") {
    CHECK(is_raw_value_v<int>);
    CHECK(is_raw_value_v<double>);
    CHECK(is_raw_value_v<point>);
    CHECK(is_raw_value_v<int_array>);
    CHECK_FALSE(is_contiguous_raw_v<int>);
    CHECK_FALSE(is_contiguous_raw_v<int_array>);
  }
  SUBCASE("raw, as the container's element bytes") {
    CHECK(is_raw_value_v<std::string>);
    CHECK(is_raw_value_v<std::u16string>);
    CHECK(is_raw_value_v<std::vector<double>>);
    CHECK(is_raw_value_v<std::vector<point>>);
    CHECK(is_contiguous_raw_v<std::string>);
    CHECK(is_contiguous_raw_v<std::vector<double>>);
  }
  SUBCASE("cereal, for everything else") {
    CHECK_FALSE(is_raw_value_v<std::vector<bool>>);  // packed bits: no element storage to view
    CHECK_FALSE(is_raw_value_v<std::vector<std::string>>);
    CHECK_FALSE(is_raw_value_v<string_map>);
    CHECK_FALSE(is_raw_value_v<particle>);
    CHECK_FALSE(is_raw_value_v<named_value>);
    CHECK_FALSE(is_raw_value_v<std::optional<std::string>>);
    CHECK_FALSE(is_raw_value_v<std::vector<std::vector<int>>>);
  }
}

TEST_CASE("the raw path encodes a view of the value itself: no copy") {
  SUBCASE("a scalar") {
    const int value = 42;
    const auto bytes = encode_value(value);
    CHECK(bytes.data() == bytes_of(value));
    CHECK(bytes.size() == sizeof(int));
  }
  SUBCASE("a struct") {
    const point value{'p', 1.5, -3};
    const auto bytes = encode_value(value);
    CHECK(bytes.data() == bytes_of(value));
    CHECK(bytes.size() == sizeof(point));
  }
  SUBCASE("a std::array") {
    const int_array value{1, 2, 3};
    const auto bytes = encode_value(value);
    CHECK(bytes.data() == bytes_of(value));
    CHECK(bytes.size() == 3 * sizeof(int));
  }
  SUBCASE("a vector: its elements, not the vector object") {
    const std::vector<double> value(100, 2.5);
    const auto bytes = encode_value(value);
    CHECK(bytes.data() == bytes_of(value.front()));
    CHECK(bytes.size() == 100 * sizeof(double));
  }
  SUBCASE("a string: its characters, without the terminating zero") {
    const std::string value(1000, 'x');
    const auto bytes = encode_value(value);
    CHECK(bytes.data() == bytes_of(value.front()));
    CHECK(bytes.size() == 1000);
  }
  SUBCASE("a cereal value gets a buffer of its own") {
    const std::vector<std::string> value{"a", "b"};
    const auto bytes = encode_value(value);
    CHECK(bytes.data() != nullptr);
    CHECK(bytes.data() != bytes_of(value));
    CHECK(bytes.size() > 0);
  }
}

TEST_CASE("raw values survive encode and decode") {
  SUBCASE("int") {
    const auto back = round_trip(-123456789);
    CHECK(back.error == "");
    CHECK(back.value == -123456789);
  }
  SUBCASE("double") {
    const auto back = round_trip(3.141592653589793);
    CHECK(back.error == "");
    CHECK(back.value == 3.141592653589793);
  }
  SUBCASE("a plain struct") {
    const auto back = round_trip(point{'q', -0.25, 77});
    CHECK(back.error == "");
    CHECK(back.value.label == 'q');
    CHECK(back.value.x == -0.25);
    CHECK(back.value.y == 77);
  }
  SUBCASE("std::array<int, 3>") {
    const auto back = round_trip(int_array{7, -8, 9});
    CHECK(back.error == "");
    CHECK(back.value == int_array{7, -8, 9});
  }
  SUBCASE("std::pair<int, double>, whichever path it takes") {
    const auto back = round_trip(int_double{4, 0.5});
    CHECK(back.error == "");
    CHECK(back.value == int_double{4, 0.5});
  }
  SUBCASE("std::optional<int>, empty and set, whichever path it takes") {
    CHECK(round_trip(std::optional<int>{}).value == std::nullopt);
    CHECK(round_trip(std::optional<int>{17}).value == std::optional<int>{17});
  }
}

TEST_CASE("strings of every length survive encode and decode") {
  std::string text;
  SUBCASE("empty") {}
  SUBCASE("one character") {
    text = "x";
  }
  SUBCASE("with embedded zeros") {
    text = std::string("a\0b\0", 4);
  }
  SUBCASE("1 MiB") {
    text.resize(std::size_t{1} << 20);
    for (std::size_t i = 0; i < text.size(); ++i)
      text[i] = static_cast<char>(i * 7 + i / 256);
  }
  CAPTURE(text.size());
  const auto back = round_trip(text);
  CHECK(back.error == "");
  CHECK(back.value.size() == text.size());
  CHECK(back.value == text);
}

TEST_CASE("vectors of doubles of every length survive encode and decode") {
  std::size_t n = 0;
  SUBCASE("0 elements") {
    n = 0;
  }
  SUBCASE("1 element") {
    n = 1;
  }
  SUBCASE("1000 elements") {
    n = 1000;
  }
  SUBCASE("1 << 20 elements") {
    n = std::size_t{1} << 20;
  }
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i)
    values[i] = 0.5 * static_cast<double>(i) - 3.0;
  CAPTURE(n);
  const auto back = round_trip(values);
  CHECK(back.error == "");
  CHECK(back.value.size() == n);
  CHECK(back.value == values);
}

TEST_CASE("cereal values survive encode and decode") {
  SUBCASE("std::vector<std::string>, including empty strings") {
    const std::vector<std::string> value{"alpha", "", "gamma", std::string(300, 'z')};
    const auto back = round_trip(value);
    CHECK(back.error == "");
    CHECK(back.value == value);
  }
  SUBCASE("std::map<std::string, int>") {
    const string_map value{{"one", 1}, {"two", 2}, {"minus", -1}};
    const auto back = round_trip(value);
    CHECK(back.error == "");
    CHECK(back.value == value);
  }
  SUBCASE("std::vector<bool>, whose bits are packed") {
    std::vector<bool> value(1001);
    for (std::size_t i = 0; i < value.size(); ++i)
      value[i] = i % 3 == 0;
    const auto back = round_trip(value);
    CHECK(back.error == "");
    CHECK(back.value == value);
  }
  SUBCASE("a user struct with a serialize member") {
    const particle value{"electron", {0.5, -1.0, 2.0}, -1};
    const auto back = round_trip(value);
    CHECK(back.error == "");
    CHECK(back.value == value);
  }
  SUBCASE("std::pair<int, std::string>") {
    const auto back = round_trip(named_value{3, "three"});
    CHECK(back.error == "");
    CHECK(back.value == named_value{3, "three"});
  }
  SUBCASE("std::optional<std::string>, empty and set") {
    const auto empty = round_trip(std::optional<std::string>{});
    CHECK(empty.error == "");
    CHECK(empty.value == std::nullopt);
    const auto set = round_trip(std::optional<std::string>{"here"});
    CHECK(set.error == "");
    CHECK(set.value == std::optional<std::string>{"here"});
  }
}

TEST_CASE("decoding replaces what the destination held") {
  SUBCASE("raw vector") {
    const std::vector<double> sent{1.0, 2.0};
    const auto bytes = encode_value(sent);
    std::vector<double> out(50, 9.0);
    CHECK(decode_value(bytes.data(), bytes.size(), out) == "");
    CHECK(out == sent);
  }
  SUBCASE("cereal map") {
    const string_map sent{{"a", 1}};
    const auto bytes = encode_value(sent);
    string_map out{{"b", 2}, {"c", 3}};
    CHECK(decode_value(bytes.data(), bytes.size(), out) == "");
    CHECK(out == sent);
  }
}

TEST_CASE("decode reports a payload that does not fit the type, and leaves the destination alone") {
  SUBCASE("a raw value of the wrong size") {
    const std::array<std::byte, 8> payload{};
    int out = 7;
    for (std::size_t size : {0, 3, 5, 8}) {
      CAPTURE(size);
      const auto error = decode_value(payload.data(), size, out);
      CHECK(error.find("a payload of " + std::to_string(size) +
                       " bytes where a value of 4 bytes") != std::string::npos);
      CHECK(out == 7);
    }
  }
  SUBCASE("a vector payload that is not a whole number of elements") {
    const std::array<std::byte, 12> payload{};
    std::vector<double> out{1.0};
    const auto error = decode_value(payload.data(), payload.size(), out);
    CHECK(error.find("12 bytes, not a whole number of 8-byte elements") != std::string::npos);
    CHECK(out == std::vector<double>{1.0});
  }
  SUBCASE("a u16string payload of an odd number of bytes") {
    const std::array<std::byte, 3> payload{};
    std::u16string out;
    CHECK(decode_value(payload.data(), payload.size(), out).find("2-byte elements") !=
          std::string::npos);
  }
}

TEST_CASE("every truncation of a cereal payload is reported, never a crash") {
  SUBCASE("std::map<std::string, int>") {
    const auto bytes = encode_value(string_map{{"one", 1}, {"two", 2}});
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      CAPTURE(size);
      string_map out;
      const auto error = decode_value(bytes.data(), size, out);
      CHECK(error.find("does not deserialize") != std::string::npos);
    }
  }
  SUBCASE("a user struct") {
    const auto bytes = encode_value(particle{"proton", {1.0, 2.0}, 1});
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      CAPTURE(size);
      particle out;
      CHECK(decode_value(bytes.data(), size, out) != "");
    }
  }
  SUBCASE("std::vector<bool>") {
    const auto bytes = encode_value(std::vector<bool>(70, true));
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      CAPTURE(size);
      std::vector<bool> out;
      CHECK(decode_value(bytes.data(), size, out) != "");
    }
  }
}

TEST_CASE("a cereal payload with an impossible element count is reported, never a crash") {
  // cereal writes a container's element count as 8 bytes; all ones is more than any container
  // can hold, so decoding must fail cleanly instead of trying to allocate it.
  std::array<std::byte, 8> payload{};
  payload.fill(std::byte{0xff});
  SUBCASE("std::vector<std::string>") {
    std::vector<std::string> out;
    CHECK(decode_value(payload.data(), payload.size(), out).find("does not deserialize") !=
          std::string::npos);
  }
  SUBCASE("std::vector<bool>") {
    std::vector<bool> out;
    CHECK(decode_value(payload.data(), payload.size(), out) != "");
  }
  SUBCASE("std::pair<int, std::string>: the string's length") {
    std::array<std::byte, 12> pair_payload{};
    pair_payload.fill(std::byte{0xff});
    named_value out;
    CHECK(decode_value(pair_payload.data(), pair_payload.size(), out) != "");
  }
}
