#include "core/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/check.h"

namespace firehose {

namespace {

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void AppendEscapedLabelValue(std::string* out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') out->append("\\\\");
    else if (c == '"') out->append("\\\"");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

void AppendLabels(std::string* out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(name);
    out->append("=\"");
    AppendEscapedLabelValue(out, value);
    out->push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    out->append(extra_name);
    out->append("=\"");
    out->append(extra_value);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendNumber(std::string* out, double value) {
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out->append(buffer, result.ptr);
}

void AppendUnsigned(std::string* out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out->append(buffer, result.ptr);
}

bool Includes(const Labels& labels, const Labels& filter) {
  return std::all_of(filter.begin(), filter.end(), [&](const auto& wanted) {
    return std::find(labels.begin(), labels.end(), wanted) != labels.end();
  });
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(new std::atomic<std::uint64_t>[upper_bounds_.size() + 1]) {
  FH_CHECK(std::is_sorted(upper_bounds_.begin(), upper_bounds_.end()), "histogram bounds must be sorted");
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double seconds) {
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), seconds) - upper_bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(seconds, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::CumulativeCounts() const {
  std::vector<std::uint64_t> cumulative(upper_bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    cumulative[i] = running;
  }
  return cumulative;
}

double Histogram::Quantile(double q) const {
  const std::vector<std::uint64_t> cumulative = CumulativeCounts();
  const std::uint64_t total = cumulative.back();
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  for (std::size_t i = 0; i < cumulative.size(); ++i) {
    if (static_cast<double>(cumulative[i]) < rank) continue;
    if (i == upper_bounds_.size()) return upper_bounds_.empty() ? 0 : upper_bounds_.back();
    const double lower = i == 0 ? 0 : upper_bounds_[i - 1];
    const double below = i == 0 ? 0 : static_cast<double>(cumulative[i - 1]);
    const double in_bucket = static_cast<double>(cumulative[i]) - below;
    const double fraction = in_bucket > 0 ? (rank - below) / in_bucket : 1;
    return lower + (upper_bounds_[i] - lower) * fraction;
  }
  return upper_bounds_.empty() ? 0 : upper_bounds_.back();
}

std::vector<double> DefaultLatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, Kind kind) {
  FH_CHECK(IsValidMetricName(name), "invalid metric name");
  auto found = families_.find(name);
  if (found == families_.end()) {
    const auto help = help_.find(name);
    found = families_
                .emplace(std::string(name),
                         Family{kind, help != help_.end() ? help->second : "", {}, {}, {}})
                .first;
  }
  FH_CHECK(found->second.kind == kind, "metric family registered with two kinds");
  return found->second;
}

Counter& MetricsRegistry::CounterFor(std::string_view name, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = FamilyFor(name, Kind::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GaugeFor(std::string_view name, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = FamilyFor(name, Kind::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::HistogramFor(std::string_view name, const Labels& labels,
                                         const std::vector<double>& upper_bounds) {
  std::lock_guard lock(mutex_);
  auto& slot = FamilyFor(name, Kind::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(upper_bounds);
  return *slot;
}

void MetricsRegistry::Describe(std::string_view name, std::string_view help) {
  std::lock_guard lock(mutex_);
  help_[std::string(name)] = std::string(help);
  auto found = families_.find(name);
  if (found != families_.end()) found->second.help = std::string(help);
}

void MetricsRegistry::AddCollector(std::function<void()> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::uint64_t MetricsRegistry::SumCounters(std::string_view name, const Labels& filter) const {
  std::lock_guard lock(mutex_);
  const auto found = families_.find(name);
  if (found == families_.end()) return 0;
  std::uint64_t total = 0;
  for (const auto& [labels, counter] : found->second.counters) {
    if (Includes(labels, filter)) total += counter->value();
  }
  return total;
}

std::string MetricsRegistry::Expose() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();

  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(64 * 1024);
  for (const auto& [name, family] : families_) {
    if (!family.help.empty()) out += "# HELP " + name + " " + family.help + "\n";
    switch (family.kind) {
      case Kind::kCounter:
        out += "# TYPE " + name + " counter\n";
        for (const auto& [labels, counter] : family.counters) {
          out += name;
          AppendLabels(&out, labels);
          out.push_back(' ');
          AppendUnsigned(&out, counter->value());
          out.push_back('\n');
        }
        break;
      case Kind::kGauge:
        out += "# TYPE " + name + " gauge\n";
        for (const auto& [labels, gauge] : family.gauges) {
          out += name;
          AppendLabels(&out, labels);
          out.push_back(' ');
          AppendNumber(&out, gauge->value());
          out.push_back('\n');
        }
        break;
      case Kind::kHistogram:
        out += "# TYPE " + name + " histogram\n";
        for (const auto& [labels, histogram] : family.histograms) {
          const std::vector<std::uint64_t> cumulative = histogram->CumulativeCounts();
          for (std::size_t i = 0; i < cumulative.size(); ++i) {
            std::string bound;
            if (i < histogram->upper_bounds().size()) {
              AppendNumber(&bound, histogram->upper_bounds()[i]);
            } else {
              bound = "+Inf";
            }
            out += name + "_bucket";
            AppendLabels(&out, labels, "le", bound);
            out.push_back(' ');
            AppendUnsigned(&out, cumulative[i]);
            out.push_back('\n');
          }
          out += name + "_sum";
          AppendLabels(&out, labels);
          out.push_back(' ');
          AppendNumber(&out, histogram->sum());
          out.push_back('\n');
          out += name + "_count";
          AppendLabels(&out, labels);
          out.push_back(' ');
          AppendUnsigned(&out, cumulative.back());
          out.push_back('\n');
        }
        break;
    }
  }
  return out;
}

MetricsRegistry& Metrics() {
  static auto* registry = [] {
    auto* created = new MetricsRegistry();
    // The instrumentation contract's families (docs/instrumentation.md).
    created->Describe("firehose_received_total", "Items that reached the stage");
    created->Describe("firehose_accepted_total", "Items the stage took responsibility for");
    created->Describe("firehose_rejected_total", "Items the stage refused, by reason");
    created->Describe("firehose_written_events_total", "Events the stage wrote downstream");
    created->Describe("firehose_written_bytes_total", "Bytes the stage wrote downstream");
    created->Describe("firehose_errors_total",
                      "Operating errors that are not an item's fault, by kind");
    created->Describe("firehose_consumer_lag_records",
                      "Durable queue records a consumer has not committed yet");
    return created;
  }();
  return *registry;
}

}  // namespace firehose
