#include "ops/ops_consumer.h"

#include <spdlog/spdlog.h>

#include "core/metrics.h"

namespace firehose::ops {

namespace {

constexpr std::size_t kFetchRecordsMax = 4096;
constexpr auto kFetchWait = std::chrono::milliseconds(100);
constexpr std::int64_t kMinuteRingUs = kMinuteBuckets * 60 * 1'000'000LL;

std::uint32_t LagMs(TimestampUs now, TimestampUs received_at) {
  const std::int64_t lag_us = now.value() - received_at.value();
  if (lag_us <= 0) return 0;
  return static_cast<std::uint32_t>(std::min<std::int64_t>(lag_us / 1000, UINT32_MAX));
}

}  // namespace

ArrivalProcessor::ArrivalProcessor(OpsState& state)
    : state_(state),
      mapper_(state.config().limits),
      sketch_(static_cast<std::size_t>(state.config().limits.ops_dedup_filter_bytes)) {}

ArrivalProcessor::Partner* ArrivalProcessor::Lookup(const PartnerId& partner_id) {
  const auto found = partners_.find(partner_id.str());
  if (found != partners_.end()) return &found->second;
  PartnerSeries* series = state_.FindOrAdd(partner_id.view());
  if (series == nullptr) return nullptr;
  Partner partner;
  partner.series = series;
  const PartnerConfig* config = state_.config().FindPartner(partner_id.view());
  partner.mapping = config != nullptr ? config->mapping.get() : nullptr;
  partner.seed = DuplicateSketch::PartnerSeed(partner_id.view());
  // The partner label holds configured ids only (docs/instrumentation.md).
  partner.received = &Metrics().CounterFor(
      "firehose_received_total",
      {{"stage", "ops"}, {"partner", config != nullptr ? partner_id.str() : "_unknown"}});
  return &partners_.emplace(partner_id.str(), partner).first->second;
}

void ArrivalProcessor::Process(const QueueRecord& record, TimestampUs now) {
  ++records_;
  Partner* partner = Lookup(record.partner_id);
  if (partner == nullptr) {
    state_.CountOverflow();
    return;
  }
  partner->received->Add();
  ArrivalCounts counts;
  counts.received_at = record.received_at;
  counts.lag_ms = LagMs(now, record.received_at);
  if (partner->mapping == nullptr || now.value() - record.received_at.value() > kMinuteRingUs) {
    // No mapping (a partner no longer configured), or too old for any bucket: count it only.
    counts.events = 1;
    ++events_;
    partner->series->RecordArrival(counts);
    return;
  }
  const MappedArrival mapped = mapper_.Map(record.partner_id, *partner->mapping, record.body);
  for (const MappedEvent& mapped_event : mapped.events) {
    const CanonicalEvent& event = mapped_event.event;
    ++counts.events;
    if (IsFailure(event.status)) ++counts.failed;
    if (sketch_.SeenBefore(partner->seed, event.txn_id.view())) ++counts.duplicates;
    partner->series->AddAmount(record.received_at, event.currency, event.amount);
  }
  counts.quarantined = static_cast<std::uint32_t>(mapped.unmapped.size());
  events_ += counts.events;
  partner->series->RecordArrival(counts);
}

OpsConsumer::OpsConsumer(OpsState& state, Queue& queue) : state_(state), queue_(queue) {}

OpsConsumer::~OpsConsumer() { Stop(); }

Status OpsConsumer::Start() {
  FH_ASSIGN_OR_RETURN(consumer_, queue_.OpenConsumer(kConsumerName));
  processor_ = std::make_unique<ArrivalProcessor>(state_);
  last_commit_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void OpsConsumer::Stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void OpsConsumer::Run() {
  Counter& fetch_errors =
      Metrics().CounterFor("firehose_errors_total", {{"stage", "ops"}, {"kind", "fetch"}});
  const auto bytes_max = static_cast<std::size_t>(state_.config().limits.consumer_fetch_bytes_max);
  while (!stop_.load(std::memory_order_acquire)) {
    auto batch = consumer_->Fetch(kFetchRecordsMax, bytes_max, kFetchWait);
    if (!batch.ok()) {
      fetch_errors.Add();
      spdlog::warn("ops: fetching from the queue failed: {}", batch.status().ToString());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    const TimestampUs now = state_.Now();
    for (const Delivery& delivery : *batch) processor_->Process(delivery.record, now);
    if (!batch->empty()) {
      records_.fetch_add(batch->size(), std::memory_order_relaxed);
      last_offset_ = batch->back().offset;
      have_uncommitted_ = true;
    }
    CommitIfDue(false);
  }
  CommitIfDue(true);
}

void OpsConsumer::CommitIfDue(bool force) {
  if (!have_uncommitted_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = std::chrono::milliseconds(state_.config().ops.commit_interval_ms);
  if (!force && now - last_commit_ < interval) return;
  const Status status = consumer_->Commit(last_offset_);
  last_commit_ = now;
  if (!status.ok()) {
    Metrics().CounterFor("firehose_errors_total", {{"stage", "ops"}, {"kind", "commit"}}).Add();
    spdlog::warn("ops: committing the cursor failed (will retry): {}", status.ToString());
    return;
  }
  have_uncommitted_ = false;
}

}  // namespace firehose::ops
