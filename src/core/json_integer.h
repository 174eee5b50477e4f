// Reading integers out of nlohmann::json documents Firehose reads back from disk (lake
// manifests and quarantine lines, shard manifests, poll cursors, simulator truth, the
// warehouse's JSON columns). nlohmann's get<std::int64_t>() casts whatever number it finds:
// 1.5 reads as 1, -1 as 2^64 - 1 into an unsigned, and an integer beyond 64 bits — which its
// parser keeps as a double — is undefined behaviour in the cast (found by lake_line_fuzz). These
// read an integer only when the document holds one that fits.
//
// Header-only and generic over the JSON type, so that core needs no nlohmann dependency.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace firehose {

// The integer `value` holds, or nullopt when it is not an integer JSON number that fits T.
template <typename T, typename Json>
std::optional<T> JsonInteger(const Json& value) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (value.is_number_unsigned()) {
    const auto number = value.template get<std::uint64_t>();
    if (!std::in_range<T>(number)) return std::nullopt;
    return static_cast<T>(number);
  }
  if (value.is_number_integer()) {
    const auto number = value.template get<std::int64_t>();
    if (!std::in_range<T>(number)) return std::nullopt;
    return static_cast<T>(number);
  }
  return std::nullopt;
}

// value.get<T>() for parsers that turn nlohmann's exceptions into errors, except that an integer
// T is read as JsonInteger reads it: where get<T>() would have guessed, this throws the JSON
// type's type_error.
template <typename T, typename Json>
T JsonGet(const Json& value) {
  if constexpr (!std::is_integral_v<T> || std::is_same_v<T, bool>) {
    return value.template get<T>();
  } else {
    if (const std::optional<T> number = JsonInteger<T>(value)) return *number;
    throw Json::type_error::create(
        302,
        std::string("expected an integer that fits ") + (std::is_signed_v<T> ? "" : "un") +
            "signed " + std::to_string(sizeof(T) * 8) + " bits, found " +
            (value.is_number() ? value.dump() : std::string(value.type_name()) + " value"),
        &value);
  }
}

}  // namespace firehose
