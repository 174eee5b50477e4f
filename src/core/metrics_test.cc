#include "core/metrics.h"

#include <gtest/gtest.h>

namespace firehose {
namespace {

TEST(Metrics, ExposesCountersGaugesAndHistograms) {
  MetricsRegistry registry;
  registry.CounterFor("firehose_received_total", {{"stage", "edge"}, {"partner", "acme"}}).Add(3);
  registry.Describe("firehose_received_total", "Items that reached the stage.");
  registry.GaugeFor("firehose_queue_bytes").Set(42);
  Histogram& latency = registry.HistogramFor("firehose_edge_request_seconds", {}, {0.1, 1});
  latency.Observe(0.05);
  latency.Observe(0.5);
  latency.Observe(5);
  const std::string text = registry.Expose();
  EXPECT_NE(text.find("# HELP firehose_received_total Items that reached the stage.\n"), std::string::npos);
  EXPECT_NE(text.find("firehose_received_total{stage=\"edge\",partner=\"acme\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE firehose_queue_bytes gauge\nfirehose_queue_bytes 42\n"), std::string::npos);
  EXPECT_NE(text.find("firehose_edge_request_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("firehose_edge_request_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("firehose_edge_request_seconds_count 3\n"), std::string::npos);
  EXPECT_EQ(registry.SumCounters("firehose_received_total", {{"partner", "acme"}}), 3u);
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry registry;
  registry.CounterFor("x_total", {{"reason", "a\"b\\c\nd"}}).Add();
  EXPECT_NE(registry.Expose().find(R"(x_total{reason="a\"b\\c\nd"} 1)"), std::string::npos);
}

TEST(Histogram, QuantilesInterpolateWithinBuckets) {
  Histogram histogram({1, 2, 4});
  for (int i = 0; i < 100; ++i) histogram.Observe(1.5);
  EXPECT_GT(histogram.Quantile(0.99), 1.0);
  EXPECT_LE(histogram.Quantile(0.99), 2.0);
}

}  // namespace
}  // namespace firehose
