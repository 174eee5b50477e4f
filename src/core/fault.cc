#include "core/fault.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace firehose::fault {

namespace {

struct Rule {
  std::string probe;
  int errno_value = 0;  // 0 with crash = true
  bool crash = false;
  long sleep_ms = 0;
  long first_hit = 1;
  bool and_later = true;
  long hits = 0;
};

struct Registry {
  std::mutex mutex;
  std::vector<Rule> rules;
  std::atomic<bool> active{false};
};

Registry& GetRegistry();

void Parse(std::string_view spec, std::vector<Rule>* rules) {
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos) continue;
    Rule rule;
    rule.probe = std::string(item.substr(0, equals));
    std::string_view action = item.substr(equals + 1);
    const std::size_t at = action.find('@');
    if (at != std::string_view::npos) {
      std::string count(action.substr(at + 1));
      rule.and_later = !count.empty() && count.back() == '+';
      if (rule.and_later) count.pop_back();
      rule.first_hit = std::atol(count.c_str());
      action = action.substr(0, at);
    }
    if (action == "eio")
      rule.errno_value = EIO;
    else if (action == "enospc")
      rule.errno_value = ENOSPC;
    else if (action == "crash")
      rule.crash = true;
    else if (action.starts_with("sleep"))
      rule.sleep_ms = std::atol(std::string(action.substr(5)).c_str());
    if (rule.errno_value == 0 && !rule.crash && rule.sleep_ms <= 0) continue;  // unknown: ignored
    rules->push_back(std::move(rule));
  }
}

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* created = new Registry();
    if (const char* spec = std::getenv("FIREHOSE_FAULTS")) {
      Parse(spec, &created->rules);
      created->active = !created->rules.empty();
    }
    return created;
  }();
  return *registry;
}

}  // namespace

int Check(std::string_view probe) {
  Registry& registry = GetRegistry();
  if (!registry.active.load(std::memory_order_relaxed)) return 0;
  long sleep_ms = 0;
  int injected = 0;
  {
    std::lock_guard lock(registry.mutex);
    for (Rule& rule : registry.rules) {
      if (rule.probe != probe) continue;
      ++rule.hits;
      const bool fires =
          rule.hits == rule.first_hit || (rule.and_later && rule.hits > rule.first_hit);
      if (!fires) continue;
      if (rule.crash) {
        std::fprintf(stderr, "fault: crashing at %.*s (hit %ld)\n", static_cast<int>(probe.size()),
                     probe.data(), rule.hits);
        _exit(137);
      }
      if (rule.sleep_ms > 0) {
        sleep_ms = rule.sleep_ms;
        continue;  // a probe can be slow and then fail too
      }
      injected = rule.errno_value;
      break;
    }
  }
  if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return injected;
}

void SetForTest(std::string_view spec) {
  Registry& registry = GetRegistry();
  std::lock_guard lock(registry.mutex);
  registry.rules.clear();
  Parse(spec, &registry.rules);
  registry.active = !registry.rules.empty();
}

}  // namespace firehose::fault
