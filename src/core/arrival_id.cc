#include "core/arrival_id.h"

#include <sys/random.h>

#include <array>
#include <cstring>

namespace firehose {

namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct Generator {
  Generator() {
    std::size_t filled = 0;
    while (filled < sizeof random) {
      const ssize_t got = getrandom(random + filled, sizeof random - filled, 0);
      FH_CHECK(got > 0, "getrandom failed: no source of randomness for arrival ids");
      filled += static_cast<std::size_t>(got);
    }
  }

  // Increments the 80-bit random part, big-endian: keeps ids from this thread increasing.
  void Increment() {
    for (int i = sizeof random - 1; i >= 0; --i) {
      if (++random[i] != 0) return;
    }
  }

  std::uint64_t last_millis = 0;
  unsigned char random[10];
};

}  // namespace

ArrivalId NewArrivalId(TimestampUs now) {
  thread_local Generator generator;
  std::uint64_t millis = static_cast<std::uint64_t>(now.value() / 1000);
  if (millis <= generator.last_millis) {
    millis = generator.last_millis;  // clock went back or same millisecond: stay monotonic
    generator.Increment();
  } else {
    getrandom(generator.random, sizeof generator.random, 0);
    generator.last_millis = millis;
  }
  // 128 bits: 48 of time, 80 of randomness -> 26 base32 characters (130 bits, top 2 zero).
  std::array<unsigned char, 16> bytes{};
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<unsigned char>(millis >> (8 * (5 - i)));
  std::memcpy(bytes.data() + 6, generator.random, 10);
  std::string text(ArrivalId::kChars, '0');
  // Emit 5 bits at a time from the most significant end; the first char carries 3 bits.
  __extension__ using Uint128 = unsigned __int128;
  Uint128 value = 0;
  for (unsigned char byte : bytes) value = (value << 8) | byte;
  for (int i = ArrivalId::kChars - 1; i >= 0; --i) {
    text[static_cast<std::size_t>(i)] = kAlphabet[static_cast<unsigned>(value & 31)];
    value >>= 5;
  }
  return ArrivalId::FromTrusted(std::move(text));
}

}  // namespace firehose
