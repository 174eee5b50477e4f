#include "ledger/reconcile.h"

#include <gtest/gtest.h>

#include <random>

namespace firehose::ledger {
namespace {

const BusinessDate kDay = BusinessDate::FromCivil(2025, 11, 27);

std::string Csv(const std::string& rows) { return std::string(kStatementsHeader) + "\n" + rows; }

TEST(Statements, ParsesTheTruthsFormat) {
  Result<std::vector<StatementRow>> rows =
      ParseStatements(Csv("2025-11-27,p000-stripe,EUR,183,316407.42\n"
                          "2025-11-27,p001-batch,JPY,60,9007840396880692\r\n"
                          "\"2025-11-27\",\"p004-paypal\",KWD,100,9008075458687.695\n"
                          "2025-11-28,p004-paypal,USD,0,-0.5"));
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].total.value(), 31640742);
  EXPECT_EQ((*rows)[1].total.value(), 9007840396880692);
  EXPECT_EQ((*rows)[2].total.value(), 9008075458687695);
  EXPECT_EQ((*rows)[2].line, 4);
  EXPECT_EQ((*rows)[3].total.value(), -50) << "fewer fraction digits are still exact";
  EXPECT_TRUE(ParseStatements("\xEF\xBB\xBF" + Csv("")).ok()) << "a UTF-8 BOM is allowed";
}

TEST(Statements, EveryMalformationHasItsOwnError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"date,partner\n", "header"},
      {Csv("2025-11-27,p,EUR,1\n"), "4 fields"},
      {Csv("2025-11-27,p,EUR,1,1.00,x\n"), "more than 5"},
      {Csv("2025-11-27,p,EUR,1,\n"), "total is empty"},
      {Csv("2025-11-27,p,EUR,1,1.00,\n"), "6 fields"},
      {Csv("27/11/2025,p,EUR,1,1.00\n"), "business_date"},
      {Csv("2025-02-30,p,EUR,1,1.00\n"), "business_date"},
      {Csv("2025-11-27,P!,EUR,1,1.00\n"), "partner_id"},
      {Csv("2025-11-27,p,ZZZ,1,1.00\n"), "ISO 4217"},
      {Csv("2025-11-27,p,eur,1,1.00\n"), "upper case"},
      {Csv("2025-11-27,p,EUR,-1,1.00\n"), "txn_count"},
      {Csv("2025-11-27,p,EUR,01,1.00\n"), "leading zero"},
      {Csv("2025-11-27,p,EUR,99999999999999999999,1.00\n"), "txn_count"},
      {Csv("2025-11-27,p,EUR,1,1.001\n"), "too_many_fraction_digits"},
      {Csv("2025-11-27,p,JPY,1,1.5\n"), "too_many_fraction_digits"},
      {Csv("2025-11-27,p,EUR,1,1e3\n"), "exponent"},
      {Csv("2025-11-27,p,EUR,1,99999999999999999.00\n"), "overflow"},
      {Csv("2025-11-27,p,EUR,1, 1.00\n"), "whitespace"},
      {Csv("2025-11-27,p,EUR,1,\"1.00\n"), "not closed"},
      {Csv("2025-11-27,p,EUR,1,\"1.00\"x\n"), "after a quoted field"},
      {Csv("2025-11-27,p,EUR,1,1\"00\n"), "quote inside"},
      {Csv("2025-11-27,p,EUR,1,1.00\n\n2025-11-27,q,EUR,1,1.00\n"), "empty line"},
      {Csv("2025-11-27,p,EUR,1,1.00\n2025-11-27,p,EUR,2,2.00\n"), "first on line 2"},
      {Csv("2025-11-27,p,EUR,1,1.00\r\r\n"), "carriage return"},
      {Csv(std::string(5000, 'x') + "\n"), "longer than"},
  };
  for (const auto& [text, expected] : cases) {
    Result<std::vector<StatementRow>> rows = ParseStatements(text);
    ASSERT_FALSE(rows.ok()) << text;
    EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(rows.status().message().find(expected), std::string::npos)
        << "for " << text << "\ngot: " << rows.status().message();
  }
}

// Mutated statement files never crash the reader and either parse or give a specific error
// (a small deterministic fuzz; the libFuzzer target tests/fuzz/statements_fuzz.cc goes further).
TEST(Statements, MutatedFilesGiveAnErrorOrRows) {
  const std::string seed = Csv(
      "2025-11-27,p000-stripe,EUR,183,316407.42\n2025-11-27,p001-batch,JPY,60,9007840396880692\n"
      "\"2025-11-27\",\"p004-paypal\",KWD,100,9008075458687.695\n");
  std::mt19937_64 random(7);
  const std::string alphabet =
      "0123456789,.\"-\r\n \xEF\xBB\xBF"
      "abcXYZ";
  for (int i = 0; i < 20000; ++i) {
    std::string text = seed;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % (text.size() + 1);
      switch (random() % 3) {
        case 0:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at),
                      alphabet[random() % alphabet.size()]);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1 + random() % 3);
          break;
        default:
          if (at < text.size()) text[at] = alphabet[random() % alphabet.size()];
      }
    }
    Result<std::vector<StatementRow>> rows = ParseStatements(text);
    if (!rows.ok()) {
      EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
      EXPECT_FALSE(rows.status().message().empty());
    }
  }
}

TEST(Reconcile, ListsEveryMismatchExactly) {
  const std::vector<StatementRow> statements = {
      {kDay, "a", "USD", 10, AmountMinor(1000), 2},
      {kDay, "a", "EUR", 5, AmountMinor(501), 3},  // one cent off
      {kDay, "b", "JPY", 2, AmountMinor(300), 4},  // count off
      {kDay, "c", "KWD", 1, AmountMinor(1), 5},    // not in the ledger
      {kDay.AddDays(1), "a", "USD", 1, AmountMinor(1), 6},
  };
  const std::vector<warehouse::TotalRow> totals = {
      {kDay, "a", "EUR", TxnStatus::kSucceeded, 5, AmountMinor(500)},
      {kDay, "a", "USD", TxnStatus::kSucceeded, 10, AmountMinor(1000)},
      {kDay, "a", "USD", TxnStatus::kFailed, 3, AmountMinor(7)},  // not a settlement
      {kDay, "b", "JPY", TxnStatus::kSucceeded, 3, AmountMinor(300)},
      {kDay, "d", "USD", TxnStatus::kSucceeded, 1, AmountMinor(9'007'199'254'740'993)},
  };
  const Reconciliation result = Reconcile(kDay, statements, totals);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.matched, 1);
  EXPECT_EQ(result.other_day_rows, 1);
  ASSERT_EQ(result.mismatches.size(), 4u);
  EXPECT_EQ(result.mismatches[0].kind, "total_differs");
  EXPECT_EQ(result.mismatches[0].currency, "EUR");
  EXPECT_EQ(
      result.mismatches[0].statement_total->value() - result.mismatches[0].ledger_total->value(),
      1);
  EXPECT_EQ(result.mismatches[1].kind, "count_differs");
  EXPECT_EQ(result.mismatches[2].kind, "missing_in_ledger");
  EXPECT_EQ(result.mismatches[2].line, 5);
  EXPECT_EQ(result.mismatches[3].kind, "missing_in_statements");
  EXPECT_EQ(result.mismatches[3].ledger_total->value(), 9'007'199'254'740'993);

  EXPECT_TRUE(Reconcile(kDay, {statements[0]}, {totals[1], totals[2]}).ok());
}

}  // namespace
}  // namespace firehose::ledger
