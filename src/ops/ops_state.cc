#include "ops/ops_state.h"

#include <spdlog/spdlog.h>

namespace firehose::ops {

OpsState::OpsState(const Config& config, Clock clock)
    : config_(config),
      clock_(std::move(clock)),
      slots_(static_cast<std::size_t>(config.limits.ops_partners_max)) {
  for (const PartnerConfig& partner : config.partners) {
    PartnerSeries* series = Add(partner.id.view());
    if (series == nullptr) {
      spdlog::warn(
          "ops: more configured partners than ops_partners_max ({}); partner={} and "
          "later ones are not tracked",
          config.limits.ops_partners_max, partner.id.str());
      break;
    }
    configured_.emplace(partner.id.str(), series);
  }
}

std::int64_t OpsState::NowSeconds() const {
  const std::int64_t now_us = Now().value();
  return now_us >= 0 ? now_us / 1'000'000 : 0;
}

PartnerSeries* OpsState::Add(std::string_view partner_id) {
  const std::size_t index = count_.load(std::memory_order_relaxed);
  if (index >= slots_.size()) return nullptr;
  slots_[index] = std::make_unique<PartnerSeries>(std::string(partner_id));
  count_.store(index + 1, std::memory_order_release);
  return slots_[index].get();
}

PartnerSeries* OpsState::Find(std::string_view partner_id) const {
  const auto configured = configured_.find(partner_id);
  if (configured != configured_.end()) return configured->second;
  const std::size_t count = partner_count();
  for (std::size_t i = 0; i < count; ++i) {
    if (slots_[i]->id() == partner_id) return slots_[i].get();
  }
  return nullptr;
}

PartnerSeries* OpsState::FindOrAdd(std::string_view partner_id) {
  if (PartnerSeries* found = Find(partner_id)) return found;
  PartnerSeries* added = Add(partner_id);
  if (added != nullptr) spdlog::info("ops: tracking partner={} (not in the config)", partner_id);
  return added;
}

bool OpsState::RecordRejections(TimestampUs at, std::string_view partner, std::string_view reason,
                                std::uint32_t count) {
  const auto found = configured_.find(partner);
  if (found == configured_.end()) {
    unknown_.fetch_add(count, std::memory_order_relaxed);
    return false;
  }
  found->second->RecordError(at, IngestErrorForReason(reason), count);
  return true;
}

bool OpsState::RecordPollFailures(TimestampUs at, std::string_view partner, std::uint32_t count) {
  const auto found = configured_.find(partner);
  if (found == configured_.end()) {
    unknown_.fetch_add(count, std::memory_order_relaxed);
    return false;
  }
  found->second->RecordError(at, IngestError::kPollFailure, count);
  return true;
}

void OpsState::Observer::OnRejected(std::string_view partner, std::string_view reason) {
  state_->RecordRejections(state_->Now(), partner, reason, 1);
}

}  // namespace firehose::ops
