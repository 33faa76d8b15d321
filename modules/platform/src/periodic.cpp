#include "shop/platform/periodic.h"

#include <exception>

#include "shop/platform/log.h"

namespace shop {

PeriodicTask::PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<void()> task)
    : name_(std::move(name)), interval_(interval), task_(std::move(task)) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      try {
        task_();
      } catch (const std::exception& e) {
        log::Write(log::Level::kError, "periodic task failed", {{"task", name_}, {"error", e.what()}});
      }
      lock.lock();
    }
  });
}

PeriodicTask::~PeriodicTask() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

}  // namespace shop
