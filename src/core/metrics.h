// Process-wide counters, gauges and histograms, exported at /metrics in the Prometheus text
// format. Every stage follows one instrumentation contract (docs/instrumentation.md):
//
//   firehose_received_total{stage,partner}          items that reached the stage
//   firehose_accepted_total{stage,partner}          items the stage took responsibility for
//   firehose_rejected_total{stage,partner,reason}   items refused, by specific reason
//   firehose_written_events_total{stage}            events the stage wrote downstream
//   firehose_written_bytes_total{stage}             bytes the stage wrote downstream
//   firehose_errors_total{stage,kind}               operating errors (I/O, timeouts, ...)
//
// Series are created on first use and live as long as the process: hot paths look a series up
// once and keep the reference. Lookups are thread-safe; updates are lock-free atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace firehose {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(std::uint64_t amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A fixed-bucket histogram of seconds (latencies).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double seconds);
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Cumulative counts per bucket (the last is +Inf), the count and the sum.
  std::vector<std::uint64_t> CumulativeCounts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // The q-quantile (0..1) estimated from the buckets, for benchmarks and the dashboard.
  double Quantile(double q) const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // one per bound + one for +Inf
  std::atomic<double> sum_{0};
};

// Latency buckets from 100 us to 10 s.
std::vector<double> DefaultLatencyBounds();

class MetricsRegistry {
 public:
  Counter& CounterFor(std::string_view name, const Labels& labels = {});
  Gauge& GaugeFor(std::string_view name, const Labels& labels = {});
  Histogram& HistogramFor(std::string_view name, const Labels& labels = {},
                          const std::vector<double>& upper_bounds = DefaultLatencyBounds());
  // Sets the # HELP text of a family, now or when the family is first used (promtool wants one
  // for every family).
  void Describe(std::string_view name, std::string_view help);
  // Runs before every exposition, to refresh gauges that are cheaper to read than to track.
  void AddCollector(std::function<void()> collector);

  // The Prometheus text exposition format (version 0.0.4).
  std::string Expose() const;

  // Sum of a counter family over all its series whose labels include `filter`.
  std::uint64_t SumCounters(std::string_view name, const Labels& filter = {}) const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& FamilyFor(std::string_view name, Kind kind);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
  std::map<std::string, std::string, std::less<>> help_;  // for families not created yet
  std::vector<std::function<void()>> collectors_;
};

// The process-wide registry.
MetricsRegistry& Metrics();

}  // namespace firehose
