// Reconciliation (docs/ledger.md, "Reconciliation"): partner settlement statements against the
// ledger's succeeded totals, exact to the minor unit.
//
// Statements are CSV (RFC 4180), header first:
//   business_date,partner_id,currency,txn_count,total
// `total` is a decimal string in the currency's exponent ("316407.42", "1500" for JPY, at most
// the exponent's fraction digits). The reader is strict: anything else is an InvalidArgument that
// names the line and the field (it is fed untrusted files and fuzzed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.h"
#include "core/status.h"
#include "core/types.h"
#include "warehouse/warehouse.h"

namespace firehose::ledger {

inline constexpr std::string_view kStatementsHeader =
    "business_date,partner_id,currency,txn_count,total";
// Statements are one row per (day, partner, currency): a file past this is not a statement.
inline constexpr std::size_t kStatementsBytesMax = 256 << 20;
inline constexpr std::size_t kStatementLineBytesMax = 4096;

struct StatementRow {
  BusinessDate business_date;
  std::string partner_id;
  std::string currency;  // ISO 4217, upper case
  std::int64_t txn_count = 0;
  AmountMinor total;
  std::int64_t line = 0;  // 1-based line in the file (the header is line 1)
};

// Parses a whole statements file. Rejects: a missing or different header, a line with other than
// five fields, a bad quote, an empty field, a date that is not YYYY-MM-DD, a bad partner id, an
// unknown or lower-case currency, a txn_count that is not a non-negative integer, a total that is
// not an exact decimal in the currency's exponent, a second row for the same (date, partner,
// currency), a blank line before the end, a line over kStatementLineBytesMax.
Result<std::vector<StatementRow>> ParseStatements(std::string_view text);

struct Mismatch {
  std::string kind;  // missing_in_ledger | missing_in_statements | count_differs |
                     // total_differs | count_and_total_differ
  std::string partner_id;
  std::string currency;
  std::optional<std::int64_t> statement_count;
  std::optional<AmountMinor> statement_total;
  std::optional<std::int64_t> ledger_count;
  std::optional<AmountMinor> ledger_total;
  std::int64_t line = 0;  // the statement's line, 0 when missing there
};

struct Reconciliation {
  BusinessDate day;
  std::int64_t statement_rows = 0;  // rows for the day
  std::int64_t other_day_rows = 0;  // rows for other days (ignored)
  std::int64_t ledger_rows = 0;     // succeeded totals of the day
  std::int64_t matched = 0;
  std::vector<Mismatch> mismatches;  // in (partner, currency) order
  bool ok() const { return mismatches.empty(); }
};

// Compares the statements' rows for `day` with the ledger's totals of the day (only the status
// `succeeded` is compared).
Reconciliation Reconcile(BusinessDate day, const std::vector<StatementRow>& statements,
                         const std::vector<warehouse::TotalRow>& totals);

}  // namespace firehose::ledger
