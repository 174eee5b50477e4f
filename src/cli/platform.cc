#include "cli/platform.h"

#include <spdlog/spdlog.h>

#include "edge/edge_server.h"
#include "lake/lake_consumer.h"
#include "ledger/scheduler.h"
#include "queue/open_queue.h"

namespace firehose::cli {

namespace {
constexpr std::chrono::milliseconds kEdgeDrain{5000};
constexpr std::string_view kLakeConsumerName = "lake";
}  // namespace

Result<std::unique_ptr<Platform>> Platform::Start(const Config& config, Roles roles) {
  std::unique_ptr<Platform> platform(new Platform(config, roles));
  FH_ASSIGN_OR_RETURN(platform->queue_, OpenQueue(platform->config_));
  if (roles.lake) FH_RETURN_IF_ERROR(platform->StartLake());
  if (roles.ledger) FH_RETURN_IF_ERROR(platform->StartLedger());
  if (roles.edge) {
    const Status started = platform->StartEdge();
    if (!started.ok()) {
      platform->Stop();
      return started;
    }
  }
  return platform;
}

Status Platform::StartLake() {
  FH_ASSIGN_OR_RETURN(lake_consumer_, queue_->OpenConsumer(kLakeConsumerName));
  lake_thread_ = std::thread([this] {
    const Status status = lake::RunLakeConsumer(config_, *lake_consumer_, lake_stop_);
    if (!status.ok()) {
      spdlog::critical("lake writer stopped: {}", status.ToString());
      failed_ = true;
    }
  });
  return Status::Ok();
}

Status Platform::StartEdge() {
  edge_ = std::make_unique<edge::EdgeServer>(config_, *queue_);
  FH_RETURN_IF_ERROR(edge_->Start());
  spdlog::info("edge listening on http://{}:{} ({} partners)", config_.server.listen_host,
               edge_->port(), config_.partners.size());
  return Status::Ok();
}

Status Platform::StartLedger() {
  // The scheduler keeps a reference to config_ (the Platform's copy, which outlives it).
  FH_ASSIGN_OR_RETURN(ledger_, ledger::LedgerScheduler::Create(config_));
  FH_RETURN_IF_ERROR(ledger_->Start());
  spdlog::info("ledger scheduler running (days close in {}, booked {} s later)",
               config_.lake.calendar.zone_name(), config_.ledger.close_delay_s);
  return Status::Ok();
}

std::uint16_t Platform::port() const { return edge_ ? edge_->port() : 0; }

void Platform::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (ledger_) ledger_->Stop();
  if (edge_) edge_->Stop(kEdgeDrain);
  if (queue_) queue_->Shutdown();
  lake_stop_ = true;
  if (lake_thread_.joinable()) lake_thread_.join();
  edge_.reset();
  lake_consumer_.reset();
  ledger_.reset();
}

Platform::Platform(const Config& config, Roles roles) : config_(config), roles_(roles) {}

Platform::~Platform() { Stop(); }

}  // namespace firehose::cli
