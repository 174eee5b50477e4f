// libFuzzer target for the settlement statements reader (ledger/reconcile.h): any bytes either
// parse into rows that satisfy the documented rules or give an InvalidArgument; never a crash.
//   cmake -DFIREHOSE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ... && statements_fuzz -max_len=4096
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/check.h"
#include "ledger/reconcile.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  firehose::Result<std::vector<firehose::ledger::StatementRow>> rows =
      firehose::ledger::ParseStatements(text);
  if (!rows.ok()) {
    FH_CHECK(rows.status().code() == firehose::StatusCode::kInvalidArgument,
             "a statements error that is not InvalidArgument");
    return 0;
  }
  for (const firehose::ledger::StatementRow& row : *rows) {
    FH_CHECK(row.txn_count >= 0, "a negative count was accepted");
    FH_CHECK(firehose::PartnerId::IsValid(row.partner_id), "a bad partner id was accepted");
    FH_CHECK(row.currency.size() == 3, "a bad currency was accepted");
  }
  return 0;
}
