// The ledger's line scanner against the lake's fast parser on the same lines (bench/RESULTS.md
// "## Ledger"): lake::ScanLedgerFields (stops before raw, no tape) vs RawLineParser with_raw=0
// (simdjson On-Demand, the anchor).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/time.h"
#include "lake/lake_line.h"

namespace firehose::lake {
namespace {

// ~650-byte lines like a simulated partner's: a 250-byte raw event escaped into the line.
std::vector<std::string> Lines() {
  std::vector<std::string> lines;
  const std::string received = FormatRfc3339Micros(TimestampUs(1'764'201'600'000'000));
  for (int i = 0; i < 4096; ++i) {
    CanonicalEvent event;
    event.partner_id = *PartnerId::Parse("p000-stripe");
    event.txn_id = *TxnId::Parse("ch_Ab3dE9" + std::to_string(100'000'000 + i * 7919));
    event.amount = AmountMinor(1000 + i * 37);
    event.currency = *Currency::FromCode("USD");
    event.status = TxnStatus::kSucceeded;
    event.event_time = TimestampUs(1'764'201'600'000'000 + i * 1'000'000LL);
    if (i % 3 == 0) event.version = i;
    const std::string raw =
        R"({"id":"evt_)" + std::string(24, 'x') +
        R"(","type":"charge.succeeded","created":1764201600,)" +
        R"("data":{"object":{"id":"ch_Ab3dE9)" + std::to_string(i) +
        R"(","amount":1000,"currency":"usd","status":"succeeded","metadata":{"order":")" +
        std::string(80, 'o') + R"("}}}})";
    const LineEnvelope envelope{"p000-stripe",
                                "01JD0000000000000000000000",
                                TimestampUs(1'764'201'602'000'000),
                                received,
                                "webhook",
                                QueueOffset(static_cast<std::uint64_t>(i))};
    std::string line;
    AppendRawLine(envelope, event, BusinessDate::FromCivil(2025, 11, 27), 0, raw, &line);
    line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

void BM_ScanLedgerFields(benchmark::State& state) {
  const std::vector<std::string> lines = Lines();
  LedgerFields fields;
  std::string scratch;
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& line : lines) {
      if (!ScanLedgerFields(line, &fields, &scratch).ok()) state.SkipWithError("scan failed");
      benchmark::DoNotOptimize(fields.amount_minor);
      bytes += line.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * lines.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_ScanLedgerFields);

void BM_RawLineParserFastAnchor(benchmark::State& state) {
  std::vector<std::string> lines = Lines();
  for (std::string& line : lines) line.reserve(line.size() + kLinePaddingBytes);
  RawLineParser parser(/*with_raw=*/false);
  RawLineView view;
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const std::string& line : lines) {
      // ParsePadded: the padding bytes are the string's capacity (as LineReader provides).
      if (!parser.ParsePadded(line, &view).ok()) state.SkipWithError("parse failed");
      benchmark::DoNotOptimize(view.amount_minor);
      bytes += line.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * lines.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_RawLineParserFastAnchor);

}  // namespace
}  // namespace firehose::lake

BENCHMARK_MAIN();
