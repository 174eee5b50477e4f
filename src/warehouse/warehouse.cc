#include "warehouse/warehouse.h"

#include "core/file.h"
#include "warehouse/postgres_warehouse.h"
#include "warehouse/sqlite_warehouse.h"

namespace firehose::warehouse {

Result<std::int64_t> Warehouse::ReplaceDay(BusinessDate day, const DayLedger& ledger, RunRecord run,
                                           const std::vector<RunFile>& files,
                                           const std::vector<Finding>& findings) {
  FH_ASSIGN_OR_RETURN(std::unique_ptr<DayWriter> writer, BeginDay(day));
  for (const TransactionRow& row : ledger.transactions)
    FH_RETURN_IF_ERROR(writer->AddTransaction(row));
  for (const TotalRow& row : ledger.totals) FH_RETURN_IF_ERROR(writer->AddTotal(row));
  for (const ConflictRow& row : ledger.conflicts) FH_RETURN_IF_ERROR(writer->AddConflict(row));
  run.business_date = day;
  return writer->Commit(std::move(run), files, findings);
}

Result<DayLedger> Warehouse::ReadDay(BusinessDate day) {
  DayLedger ledger;
  FH_RETURN_IF_ERROR(ForEachTransaction(day, [&ledger](const TransactionRow& row) {
    ledger.transactions.push_back(row);
    return true;
  }));
  FH_ASSIGN_OR_RETURN(ledger.totals, ReadTotals(day));
  FH_ASSIGN_OR_RETURN(ledger.conflicts, ReadConflicts(day));
  return ledger;
}

std::string_view FindingKindName(FindingKind kind) {
  switch (kind) {
    case FindingKind::kStale:
      return "stale";
    case FindingKind::kDoubleBooked:
      return "double_booked";
    case FindingKind::kBeyondWindow:
      return "beyond_window";
  }
  return "stale";
}

std::optional<FindingKind> FindingKindFromName(std::string_view name) {
  for (const FindingKind kind :
       {FindingKind::kStale, FindingKind::kDoubleBooked, FindingKind::kBeyondWindow}) {
    if (FindingKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

void AppendCopyText(std::string_view text, std::string* out) {
  for (const char c : text) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        out->push_back(c);
    }
  }
}

Result<std::unique_ptr<Warehouse>> OpenWarehouse(const Config& config) {
  const std::string& url = config.ledger.warehouse_url;
  if (!url.empty()) {
    if (!IsPostgresUrl(url)) {
      return InvalidArgument(
          "[ledger] warehouse_url must be a PostgreSQL URL (postgresql://...) or a libpq "
          "key=value string");
    }
    return OpenPostgresWarehouse(url);
  }
  FH_RETURN_IF_ERROR(EnsureDirectory(config.data_dir));
  return OpenSqliteWarehouse(config.data_dir / kSqliteFileName);
}

}  // namespace firehose::warehouse
