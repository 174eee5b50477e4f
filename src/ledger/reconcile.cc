#include "ledger/reconcile.h"

#include <algorithm>
#include <charconv>
#include <map>

namespace firehose::ledger {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kFieldNames[] = {"business_date", "partner_id", "currency", "txn_count",
                                            "total"};
constexpr std::size_t kFieldCount = std::size(kFieldNames);

Status LineError(std::int64_t line, std::string_view message) {
  return InvalidArgument("statements line " + std::to_string(line) + ": " + std::string(message));
}

Status FieldError(std::int64_t line, std::size_t field, std::string_view message) {
  return LineError(line, std::string(kFieldNames[field]) + " " + std::string(message));
}

// Splits one line (without its line ending) into RFC 4180 fields.
Status SplitFields(std::string_view line, std::int64_t number, std::vector<std::string>* fields) {
  fields->clear();
  std::size_t at = 0;
  while (true) {
    std::string field;
    if (at < line.size() && line[at] == '"') {
      ++at;
      while (true) {
        if (at >= line.size()) return LineError(number, "a quoted field is not closed");
        if (line[at] == '"') {
          if (at + 1 < line.size() && line[at + 1] == '"') {
            field.push_back('"');
            at += 2;
            continue;
          }
          ++at;
          break;
        }
        field.push_back(line[at++]);
      }
      if (at < line.size() && line[at] != ',') {
        return LineError(number, "text after a quoted field's closing quote");
      }
    } else {
      const std::size_t end = line.find(',', at);
      field =
          std::string(line.substr(at, end == std::string_view::npos ? line.size() - at : end - at));
      if (field.find('"') != std::string::npos) {
        return LineError(number, "a quote inside an unquoted field");
      }
      at = end == std::string_view::npos ? line.size() : end;
    }
    fields->push_back(std::move(field));
    if (fields->size() > kFieldCount) {
      return LineError(number, "more than " + std::to_string(kFieldCount) + " fields");
    }
    if (at >= line.size()) break;
    ++at;  // the comma
    if (at == line.size()) {
      fields->emplace_back();  // a trailing comma: an empty last field
      break;
    }
  }
  if (fields->size() != kFieldCount) {
    return LineError(number, std::to_string(fields->size()) + " fields, expected " +
                                 std::to_string(kFieldCount) + " (" +
                                 std::string(kStatementsHeader) + ")");
  }
  return Status::Ok();
}

Result<std::int64_t> ParseCount(std::string_view text, std::int64_t line) {
  if (text.empty() || text.size() > 19 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return FieldError(line, 3, "'" + std::string(text) + "' is not a non-negative integer");
  }
  if (text.size() > 1 && text[0] == '0') {
    return FieldError(line, 3, "'" + std::string(text) + "' has a leading zero");
  }
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return FieldError(line, 3, "'" + std::string(text) + "' is out of range");
  }
  return value;
}

Result<StatementRow> ParseRow(const std::vector<std::string>& fields, std::int64_t line) {
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    if (fields[i].empty()) return FieldError(line, i, "is empty");
  }
  StatementRow row;
  row.line = line;
  Result<BusinessDate> date = BusinessDate::Parse(fields[0]);
  if (!date.ok() || date->ToString() != fields[0]) {
    return FieldError(line, 0, "'" + fields[0] + "' is not a date (YYYY-MM-DD)");
  }
  row.business_date = *date;
  if (!PartnerId::IsValid(fields[1])) {
    return FieldError(line, 1, "'" + fields[1] + "' is not a partner id ([a-z0-9_-]{1,64})");
  }
  row.partner_id = fields[1];
  Result<Currency> currency = Currency::FromCode(fields[2]);
  if (!currency.ok()) return FieldError(line, 2, "'" + fields[2] + "' is not an ISO 4217 code");
  if (currency->code() != fields[2]) {
    return FieldError(line, 2, "'" + fields[2] + "' is not upper case");
  }
  row.currency = fields[2];
  FH_ASSIGN_OR_RETURN(row.txn_count, ParseCount(fields[3], line));
  const MoneyParse total = ParseDecimalAmount(fields[4], currency->exponent());
  if (!total.ok) {
    return FieldError(line, 4,
                      "'" + fields[4] + "' is not an exact " + fields[2] + " amount (" +
                          std::string(MoneyErrorName(total.error)) + ")");
  }
  row.total = total.amount;
  return row;
}

}  // namespace

Result<std::vector<StatementRow>> ParseStatements(std::string_view text) {
  if (text.size() > kStatementsBytesMax) {
    return InvalidArgument("statements: the file is larger than " +
                           std::to_string(kStatementsBytesMax) + " bytes");
  }
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  std::vector<StatementRow> rows;
  std::map<std::tuple<BusinessDate, std::string, std::string>, std::int64_t> seen;
  std::vector<std::string> fields;
  std::int64_t number = 0;
  bool header_seen = false;
  while (!text.empty()) {
    ++number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.size() > kStatementLineBytesMax) {
      return LineError(number, "longer than " + std::to_string(kStatementLineBytesMax) + " bytes");
    }
    if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
      return LineError(number, "a carriage return or NUL inside the line");
    }
    if (!header_seen) {
      if (line != kStatementsHeader) {
        return LineError(number,
                         "the header must be exactly '" + std::string(kStatementsHeader) + "'");
      }
      header_seen = true;
      continue;
    }
    if (line.empty()) return LineError(number, "an empty line");
    FH_RETURN_IF_ERROR(SplitFields(line, number, &fields));
    FH_ASSIGN_OR_RETURN(StatementRow row, ParseRow(fields, number));
    const auto [at, inserted] =
        seen.emplace(std::make_tuple(row.business_date, row.partner_id, row.currency), number);
    if (!inserted) {
      return LineError(number, "a second row for " + row.business_date.ToString() + " " +
                                   row.partner_id + " " + row.currency + " (first on line " +
                                   std::to_string(at->second) + ")");
    }
    rows.push_back(std::move(row));
  }
  if (!header_seen) return InvalidArgument("statements: the file is empty (no header)");
  return rows;
}

Reconciliation Reconcile(BusinessDate day, const std::vector<StatementRow>& statements,
                         const std::vector<warehouse::TotalRow>& totals) {
  Reconciliation out;
  out.day = day;
  using Key = std::pair<std::string, std::string>;
  std::map<Key, const StatementRow*> stated;
  for (const StatementRow& row : statements) {
    if (row.business_date != day) {
      ++out.other_day_rows;
      continue;
    }
    ++out.statement_rows;
    stated[{row.partner_id, row.currency}] = &row;
  }
  std::map<Key, const warehouse::TotalRow*> booked;
  for (const warehouse::TotalRow& row : totals) {
    if (row.business_date != day || row.status != TxnStatus::kSucceeded) continue;
    ++out.ledger_rows;
    booked[{row.partner_id, row.currency}] = &row;
  }
  std::map<Key, bool> cells;
  for (const auto& [key, row] : stated) cells[key] = true;
  for (const auto& [key, row] : booked) cells[key] = true;
  for (const auto& [key, unused] : cells) {
    const auto statement = stated.find(key);
    const auto ledger = booked.find(key);
    Mismatch mismatch;
    mismatch.partner_id = key.first;
    mismatch.currency = key.second;
    if (statement != stated.end()) {
      mismatch.statement_count = statement->second->txn_count;
      mismatch.statement_total = statement->second->total;
      mismatch.line = statement->second->line;
    }
    if (ledger != booked.end()) {
      mismatch.ledger_count = ledger->second->txn_count;
      mismatch.ledger_total = ledger->second->amount;
    }
    if (statement == stated.end()) {
      mismatch.kind = "missing_in_statements";
    } else if (ledger == booked.end()) {
      mismatch.kind = "missing_in_ledger";
    } else {
      const bool count = *mismatch.statement_count != *mismatch.ledger_count;
      const bool total = *mismatch.statement_total != *mismatch.ledger_total;
      if (!count && !total) {
        ++out.matched;
        continue;
      }
      mismatch.kind = count && total ? "count_and_total_differ"
                      : count        ? "count_differs"
                                     : "total_differs";
    }
    out.mismatches.push_back(std::move(mismatch));
  }
  return out;
}

}  // namespace firehose::ledger
