#include "support/nats_server.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

namespace firehose::testing {

std::string NatsServerProgram() {
  if (const char* program = std::getenv("FIREHOSE_NATS_SERVER"); program != nullptr && *program) {
    return program;
  }
  for (const char* path :
       {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

bool NatsCluster::Start(const std::filesystem::path& dir, int nodes,
                        std::chrono::milliseconds timeout) {
  nodes_.resize(static_cast<std::size_t>(nodes));
  for (Node& node : nodes_) {
    node.client_port = FreePort();
    node.cluster_port = FreePort();
    node.monitor_port = FreePort();
  }
  for (int i = 0; i < nodes; ++i) {
    Node& node = nodes_[static_cast<std::size_t>(i)];
    const std::string name = "n" + std::to_string(i);
    const std::filesystem::path store = dir / name;
    std::filesystem::create_directories(store);
    node.config_path = dir / (name + ".conf");
    node.log_path = dir / (name + ".log");
    std::ofstream config(node.config_path);
    config << "server_name: " << name << "\n"
           << "listen: 127.0.0.1:" << node.client_port << "\n"
           << "http: 127.0.0.1:" << node.monitor_port << "\n"
           << "jetstream { store_dir: \"" << store.string() << "\" }\n";
    if (nodes > 1) {
      config << "cluster {\n  name: firehose-test\n  listen: 127.0.0.1:" << node.cluster_port
             << "\n  routes: [";
      for (const Node& other : nodes_) {
        if (&other != &node) config << "\n    nats-route://127.0.0.1:" << other.cluster_port;
      }
      config << "\n  ]\n}\n";
    }
  }
  for (Node& node : nodes_) {
    if (!StartNode(node)) return false;
  }
  for (const Node& node : nodes_) {
    if (!WaitHealthy(node, timeout)) return false;
  }
  return true;
}

std::vector<std::string> NatsCluster::Urls() const {
  std::vector<std::string> urls;
  for (const Node& node : nodes_)
    urls.push_back("nats://127.0.0.1:" + std::to_string(node.client_port));
  return urls;
}

void NatsCluster::Kill(int index, int signal_number) {
  Node& node = nodes_.at(static_cast<std::size_t>(index));
  if (node.process) node.process->Kill(signal_number);
}

bool NatsCluster::Restart(int index, std::chrono::milliseconds timeout) {
  Node& node = nodes_.at(static_cast<std::size_t>(index));
  return StartNode(node) && WaitHealthy(node, timeout);
}

bool NatsCluster::StartNode(Node& node) {
  node.process = std::make_unique<ChildProcess>();
  return node.process->Start({NatsServerProgram(), "-c", node.config_path.string()}, {},
                             node.log_path);
}

bool NatsCluster::WaitHealthy(const Node& node, std::chrono::milliseconds timeout) {
  // /healthz answers 200 once the server (and its JetStream) is ready.
  return WaitForHttp(node.monitor_port, "/healthz", 200, timeout);
}

}  // namespace firehose::testing
