// Stand-in for Firehose's durable append: one writer thread takes batches of
// pending requests (group commit) and runs each completion on its own thread.
// No fsync happens here: it measures only the cost of handing a request to
// another thread and answering after that thread says "done".
#pragma once
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

class FakeAppender {
 public:
  using Done = std::function<void()>;
  FakeAppender() : th_([this] { loop(); }) {}
  ~FakeAppender() {
    { std::lock_guard<std::mutex> g(m_); stop_ = true; }
    cv_.notify_one();
    th_.join();
  }
  void append(Done d) {
    { std::lock_guard<std::mutex> g(m_); q_.push_back(std::move(d)); }
    cv_.notify_one();
  }

 private:
  void loop() {
    std::vector<Done> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [this] { return stop_ || !q_.empty(); });
        if (stop_ && q_.empty()) return;
        batch.swap(q_);
      }
      for (auto& d : batch) d();  // "append durable": signal each waiter
      batch.clear();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Done> q_;
  bool stop_ = false;
  std::thread th_;
};
