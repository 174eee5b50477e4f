// Real nats-server processes for tests: one node or a cluster, JetStream on, every port a free
// loopback port, storage in a directory the test owns. Tests skip when nats-server is missing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace firehose::testing {

// The nats-server program ($FIREHOSE_NATS_SERVER, or nats-server on the usual paths); empty if
// there is none.
std::string NatsServerProgram();

class NatsCluster {
 public:
  // Starts `nodes` servers with JetStream (file storage under `dir`/n<i>), routed into one
  // cluster when nodes > 1, and waits until every node reports healthy (JetStream ready).
  bool Start(const std::filesystem::path& dir, int nodes,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // nats://127.0.0.1:<port> of every node.
  std::vector<std::string> Urls() const;
  int nodes() const { return static_cast<int>(nodes_.size()); }
  // Sends `signal_number` to node `index` (SIGKILL also reaps it).
  void Kill(int index, int signal_number);
  // Starts node `index` again on the same ports and storage, and waits until it is healthy.
  bool Restart(int index, std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  struct Node {
    std::uint16_t client_port = 0;
    std::uint16_t cluster_port = 0;
    std::uint16_t monitor_port = 0;
    std::filesystem::path config_path;
    std::filesystem::path log_path;
    std::unique_ptr<ChildProcess> process;
  };
  bool StartOnce(const std::filesystem::path& dir, int nodes, std::chrono::milliseconds timeout,
                 bool* port_taken);
  bool StartNode(Node& node);
  bool WaitHealthy(const Node& node, std::chrono::milliseconds timeout);

  std::vector<Node> nodes_;
};

}  // namespace firehose::testing
