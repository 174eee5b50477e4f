// The ops consumer's per-record work (map the arrival, count events / failures / amounts,
// estimate duplicates, bucket by receive time), on the simulator's realistic bodies: 50
// partners of every payload shape, batches included, with its default fault mix (duplicates,
// conflicts, malformed bodies). Target: >= 500 k events/s per core (DESIGN §6 via issue #4).
//
// Reported (items_per_second = events):
//   BM_OpsProcess      the consumer's work per record, one thread
//   BM_SimdjsonAnchor  the anchor: simdjson On-Demand iterating every field of the same bodies
//                      (the least any JSON consumer must do), one thread
// The ratio of the two is the claim; absolute numbers move with the machine's load.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <functional>
#include <vector>

#include "core/arrival_id.h"
#include "core/check.h"
#include "ops/ops_consumer.h"
#include "sim/fleet.h"
#include "sim/generator.h"

namespace firehose {
namespace {

struct Corpus {
  Config config;
  std::vector<QueueRecord> records;
  std::uint64_t events = 0;
};

const Corpus& TheCorpus() {
  static const Corpus* corpus = [] {
    auto* built = new Corpus;
    sim::FleetOptions fleet_options;
    fleet_options.partner_slots = 75;  // 50 webhook partners
    auto fleet = sim::MakeFleet(fleet_options);
    FH_CHECK(fleet.ok(), "fleet");
    std::string text = sim::ConfigText(*fleet, {});
    // The sim config points secrets at files that do not exist here: keep the mappings and
    // partners, drop the secrets (ops never verifies signatures).
    ConfigLoad load = ParseConfig(text, "/nonexistent");
    if (!load.config) {
      // Secrets are file: references; the consumer needs only ids and mappings.
      Config config;
      config.limits.ops_dedup_filter_bytes = 16 << 20;
      for (const sim::SimPartner& partner : fleet->partners) {
        PartnerConfig entry;
        entry.id = partner.id;
        entry.mapping = partner.mapping;
        config.partners.push_back(entry);
      }
      built->config = std::move(config);
    } else {
      built->config = std::move(*load.config);
    }
    sim::GeneratorOptions options;
    options.transactions = 200'000;
    options.day = BusinessDate::FromCivil(2026, 11, 27);
    auto plan = sim::GeneratePlan(*fleet, options);
    FH_CHECK(plan.ok(), "plan");
    for (std::size_t i = 0; i < plan->sends.size(); ++i) {
      const sim::PlannedSend& send = plan->sends[i];
      QueueRecord record;
      record.partner_id = fleet->partners[send.partner].id;
      record.received_at = NowUs();
      record.arrival_id = NewArrivalId(record.received_at);
      record.body = sim::RenderBody(*fleet, *plan, i);
      built->events += send.events.size();
      built->records.push_back(std::move(record));
    }
    return built;
  }();
  return *corpus;
}

void BM_OpsProcess(benchmark::State& state) {
  const Corpus& corpus = TheCorpus();
  ops::OpsState ops_state(corpus.config);
  ops::ArrivalProcessor processor(ops_state);
  for (auto _ : state) {
    const TimestampUs now = NowUs();
    for (const QueueRecord& record : corpus.records) processor.Process(record, now);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * corpus.events));
  state.counters["records_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * corpus.records.size()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OpsProcess)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_SimdjsonAnchor(benchmark::State& state) {
  const Corpus& corpus = TheCorpus();
  simdjson::ondemand::parser parser;
  std::vector<simdjson::padded_string> bodies;
  for (const QueueRecord& record : corpus.records) bodies.emplace_back(record.body);
  std::uint64_t fields = 0;
  std::function<void(simdjson::ondemand::value)> walk = [&](simdjson::ondemand::value value) {
    switch (value.type()) {
      case simdjson::ondemand::json_type::object:
        for (auto field : value.get_object()) {
          ++fields;
          walk(field.value());
        }
        break;
      case simdjson::ondemand::json_type::array:
        for (auto element : value.get_array()) walk(element.value());
        break;
      default:
        fields += value.raw_json_token().size() > 0;
    }
  };
  for (auto _ : state) {
    for (const simdjson::padded_string& body : bodies) {
      auto document = parser.iterate(body);
      if (document.error()) continue;
      simdjson::ondemand::value root;
      if (document.get_value().get(root)) continue;
      try {
        walk(root);
      } catch (const simdjson::simdjson_error&) {
        // a malformed body of the fault mix: the mapper quarantines it too
      }
    }
  }
  benchmark::DoNotOptimize(fields);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * corpus.events));
}
BENCHMARK(BM_SimdjsonAnchor)->Unit(benchmark::kMillisecond)->MinTime(2);

}  // namespace
}  // namespace firehose

BENCHMARK_MAIN();
