#include "cli/platform.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>

#include "core/allocator.h"
#include "edge/edge_server.h"
#include "edge/http_server.h"
#include "lake/lake_consumer.h"
#include "ledger/scheduler.h"
#include "ops/error_relay.h"
#include "ops/ops_service.h"
#include "poll/poller.h"
#include "queue/jetstream_lease.h"
#include "queue/open_queue.h"

namespace firehose::cli {

namespace {
constexpr std::chrono::milliseconds kEdgeDrain{5000};
constexpr std::string_view kLakeConsumerName = "lake";
}  // namespace

Result<std::unique_ptr<Platform>> Platform::Start(const Config& config, Roles roles) {
  if (Status retained = RetainFreedHeap(config.limits.heap_retain_bytes); !retained.ok()) {
    spdlog::warn("heap_retain_bytes not applied: {}", retained.ToString());
  }
  std::unique_ptr<Platform> platform(new Platform(config, roles));
  FH_ASSIGN_OR_RETURN(platform->queue_, OpenQueue(platform->config_));
  if (!roles.ops) FH_RETURN_IF_ERROR(platform->ReleaseOpsCursor());
  if (roles.lake) FH_RETURN_IF_ERROR(platform->StartLake());
  // The ledger (which opens, and may create, its warehouse) before the edge: once the edge
  // listens, partners can fill the disk, and a role failing to start then would stop a process
  // that has been acknowledging webhooks.
  Status started = Status::Ok();
  if (roles.ledger) started = platform->StartLedger();
  if (started.ok()) started = platform->StartErrorRelay();
  if (started.ok()) {
    if (roles.edge) {
      started = platform->StartEdge();
    } else if (roles.ops) {
      started = platform->StartOpsAlone();
    }
  }
  if (started.ok() && roles.poll) started = platform->StartPoller();
  if (!started.ok()) {
    platform->Stop();
    return started;
  }
  return platform;
}

// See the header: without ops in this process, nothing would ever advance its cursor.
Status Platform::ReleaseOpsCursor() {
  if (config_.queue.backend != QueueBackend::kEmbedded) return Status::Ok();
  return queue_->DropConsumer(ops::kConsumerName).WithContext("releasing the ops cursor");
}

Status Platform::StartLake() {
  if (config_.queue.backend == QueueBackend::kJetStream) return StartLeasedLake();
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

Status Platform::StartLeasedLake() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string holder = std::string(host) + ":" + std::to_string(::getpid()) + ":" +
                             std::to_string(std::random_device{}());
  FH_ASSIGN_OR_RETURN(lake_lease_, JetStreamLease::Open(config_.queue, config_.limits,
                                                        "lake-" + config_.lake.writer_id, holder));
  lake_thread_ = std::thread([this] { RunLeasedLake(); });
  return Status::Ok();
}

// Holds the writer's lease, lands while it is held, stands by when it is not.
void Platform::RunLeasedLake() {
  while (!lake_stop_.load()) {
    if (!lake_lease_->Acquire(lake_stop_)) break;  // stopping
    auto consumer = queue_->OpenConsumer(kLakeConsumerName);
    if (!consumer.ok()) {
      spdlog::error("lake: opening the queue consumer: {}", consumer.status().ToString());
      lake_lease_->Release();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    // The loop stops when the platform stops or the lease is lost, whichever comes first.
    std::atomic<bool> run_stop{false};
    std::thread watch([&] {
      while (!run_stop.load()) {
        if (lake_stop_.load() || !lake_lease_->held()) {
          run_stop = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    lake::LakeConsumerOptions options;
    options.fence = [this] { return lake_lease_->Check(); };
    const Status status = lake::RunLakeConsumer(config_, **consumer, run_stop, options);
    run_stop = true;
    watch.join();
    consumer->reset();
    if (!status.ok()) spdlog::error("lake writer stopped: {}", status.ToString());
    if (lake_stop_.load()) break;
    if (lake_lease_->held()) {
      // Stopped for another reason (the lake could not be opened): hand over, retry later.
      lake_lease_->Release();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    spdlog::warn("lake: writer {} lost its lease; standing by", config_.lake.writer_id);
  }
  lake_lease_->Release();
}

// See the header: the relay's sending side, for a process whose edge or poller has no ops
// beside it. (The receiving side starts with the ops role, in StartOpsAlone.)
Status Platform::StartErrorRelay() {
  if (config_.queue.backend != QueueBackend::kJetStream || roles_.ops) return Status::Ok();
  if (!roles_.edge && !roles_.poll) return Status::Ok();
  FH_ASSIGN_OR_RETURN(relay_publisher_, ops::ErrorRelayPublisher::Start(config_));
  return Status::Ok();
}

Status Platform::StartEdge() {
  if (roles_.ops) ops_ = std::make_unique<ops::OpsService>(config_, *queue_);
  edge::WebhookObserver* observer = nullptr;
  if (ops_) {
    observer = ops_->webhook_observer();
  } else if (relay_publisher_) {
    observer = relay_publisher_.get();
  }
  edge_ = std::make_unique<edge::EdgeServer>(config_, *queue_, observer);
  if (ops_) {
    ops_->AddRoutes(edge_->http());
  } else {
    ops::AddMetricsRoute(edge_->http(), config_);  // a gateway's own counters, for scraping
  }
  FH_RETURN_IF_ERROR(edge_->Start());
  spdlog::info("edge listening on http://{}:{} ({} partners)", config_.server.listen_host,
               edge_->port(), config_.partners.size());
  if (ops_) {
    FH_RETURN_IF_ERROR(ops_->Start());
    spdlog::info("ops dashboard on http://{}:{}/", config_.server.listen_host, edge_->port());
  }
  return Status::Ok();
}

Status Platform::StartOpsAlone() {
  ops_ = std::make_unique<ops::OpsService>(config_, *queue_);
  edge::HttpServerOptions options = edge::EdgeServerOptions(config_);
  options.name = "ops";
  ops_server_ = std::make_unique<edge::HttpServer>(options);
  ops_server_->Handle("GET", "/healthz", [](edge::HttpRequest, edge::Responder responder) {
    responder.Send(edge::JsonResponse(200, R"({"status":"ok"})"));
  });
  ops_->AddRoutes(*ops_server_);
  FH_RETURN_IF_ERROR(ops_server_->Start());
  FH_RETURN_IF_ERROR(ops_->Start());
  if (config_.queue.backend == QueueBackend::kJetStream) {
    FH_ASSIGN_OR_RETURN(relay_subscriber_,
                        ops::ErrorRelaySubscriber::Start(config_, ops_->state()));
  }
  spdlog::info("ops dashboard on http://{}:{}/ (no webhook edge in this process)",
               config_.server.listen_host, ops_server_->port());
  return Status::Ok();
}

Status Platform::StartPoller() {
  poll::PollFailureObserver on_failure;
  if (ops_) {
    on_failure = [ops = ops_.get()](std::string_view partner, std::string_view /*reason*/) {
      ops->state().RecordPollFailure(partner);
    };
  } else if (relay_publisher_) {
    on_failure = [relay = relay_publisher_.get()](std::string_view partner,
                                                  std::string_view reason) {
      relay->OnPollFailure(partner, reason);
    };
  }
  poller_ = std::make_unique<poll::Poller>(config_, *queue_, std::move(on_failure));
  if (poller_->partner_count() == 0) {
    poller_.reset();
    return Status::Ok();
  }
  return poller_->Start();
}

std::uint16_t Platform::port() const {
  if (edge_) return edge_->port();
  return ops_server_ ? ops_server_->port() : 0;
}

Status Platform::StartLedger() {
  if (config_.ledger.schedule_tick_s == 0) return Status::Ok();
  ledger::SchedulerOptions options;
  options.tick = std::chrono::seconds(config_.ledger.schedule_tick_s);
  FH_ASSIGN_OR_RETURN(ledger_, ledger::LedgerScheduler::Create(config_, std::move(options)));
  FH_RETURN_IF_ERROR(ledger_->Start());
  spdlog::info("ledger scheduler: days are booked {} s after they close, stale days re-run",
               config_.ledger.close_delay_s);
  return Status::Ok();
}

void Platform::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (ledger_) ledger_->Stop();
  if (edge_) edge_->Stop(kEdgeDrain);
  if (poller_) poller_->Stop();
  if (relay_publisher_) relay_publisher_->Stop();
  if (ops_server_) ops_server_->Stop(std::chrono::milliseconds(0));
  if (relay_subscriber_) relay_subscriber_->Stop();
  if (ops_) ops_->Stop();
  // Nothing appends any more: the lake lands what the queue holds, then the queue closes.
  lake_stop_ = true;
  if (lake_thread_.joinable()) lake_thread_.join();
  if (queue_) queue_->Shutdown();
  edge_.reset();
  poller_.reset();
  relay_publisher_.reset();
  ops_server_.reset();
  relay_subscriber_.reset();
  ops_.reset();
  lake_consumer_.reset();
  ledger_.reset();
}

Platform::Platform(const Config& config, Roles roles) : config_(config), roles_(roles) {}

Platform::~Platform() { Stop(); }

}  // namespace firehose::cli
