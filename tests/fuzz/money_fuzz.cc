// Fuzz target: the money parser (core/money.h) and the time parsers it sits next to on the
// event path (core/time.h). Input: byte 0 picks the exponent (0..4) and the parser; the rest is
// the text. Properties: no crash; an accepted decimal amount formats back to text that parses to
// the same amount; an accepted minor-units amount is its own decimal text; an accepted time
// formats to RFC 3339 that parses back to the same instant.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check.h"
#include "core/money.h"
#include "core/time.h"

namespace firehose {
namespace {

void CheckDecimal(std::string_view text, int exponent) {
  const MoneyParse parse = ParseDecimalAmount(text, exponent);
  if (!parse.ok) {
    FH_CHECK(!MoneyErrorName(parse.error).empty(), "a money error without a name");
    return;
  }
  const std::string formatted = FormatAmount(parse.amount, exponent);
  const MoneyParse again = ParseDecimalAmount(formatted, exponent);
  FH_CHECK(again.ok && again.amount == parse.amount, "FormatAmount does not parse back");
}

void CheckMinorUnits(std::string_view text) {
  const MoneyParse parse = ParseMinorUnits(text);
  if (!parse.ok) return;
  const MoneyParse again = ParseMinorUnits(std::to_string(parse.amount.value()));
  FH_CHECK(again.ok && again.amount == parse.amount, "minor units do not parse back");
  FH_CHECK(ParseDecimalAmount(text, 0).ok, "an integer accepted as minor units is not a decimal");
}

void CheckTime(Result<TimestampUs> parsed) {
  if (!parsed.ok()) return;
  const Result<TimestampUs> again = ParseRfc3339(FormatRfc3339Micros(*parsed));
  FH_CHECK(again.ok() && *again == *parsed, "a parsed time does not round-trip through RFC 3339");
}

void CheckCurrency(std::string_view text) {
  const Result<Currency> currency = Currency::FromCode(text);
  if (!currency.ok()) return;
  FH_CHECK(currency->exponent() >= 0 && currency->exponent() <= 4,
           "a currency exponent off the table");
  for (char c : currency->code())
    FH_CHECK(c >= 'A' && c <= 'Z', "a currency code not in upper case");
}

}  // namespace
}  // namespace firehose

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int selector = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  using namespace firehose;
  switch (selector % 8) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      CheckDecimal(text, selector % 8);
      break;
    case 5:
      CheckMinorUnits(text);
      CheckCurrency(text);
      break;
    case 6:
      CheckTime(ParseRfc3339(text));
      break;
    default:
      CheckTime(ParseUnixSeconds(text));
      CheckTime(ParseUnixMillis(text));
      break;
  }
  return 0;
}
