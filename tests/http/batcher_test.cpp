#include "shop/http/batcher.h"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shop/http/app.h"
#include "shop/http/request_context.h"

namespace {

using shop::http::Batcher;

/// Stands in for a server thread's event loop: deferred tasks wait until RunPass(), timed ones until
/// FireTimers().
struct FakeLoop {
  std::vector<std::function<void()>> deferred;
  std::vector<std::pair<std::chrono::microseconds, std::function<void()>>> timers;
  FakeLoop() {
    shop::http::SetThisThreadDeferral([this](std::function<void()> task) { deferred.push_back(std::move(task)); });
    shop::http::SetThisThreadTimedDeferral([this](std::chrono::microseconds delay, std::function<void()> task) {
      timers.emplace_back(delay, std::move(task));
    });
  }
  ~FakeLoop() {
    shop::http::SetThisThreadDeferral(nullptr);
    shop::http::SetThisThreadTimedDeferral(nullptr);
  }
  void RunPass() {
    auto tasks = std::move(deferred);
    deferred.clear();
    for (auto& task : tasks) task();
  }
  void FireTimers() {
    auto due = std::move(timers);
    timers.clear();
    for (auto& [delay, task] : due) task();
  }
};

using std::chrono::microseconds;

}  // namespace

TEST_CASE("the calls of one event-loop pass are flushed together, in arrival order, after the pass") {
  FakeLoop loop;
  std::vector<std::vector<int>> flushed;
  auto batcher = std::make_shared<Batcher<int>>([&](std::vector<int>& batch) { flushed.push_back(batch); });
  batcher->Add(1);
  batcher->Add(2);
  batcher->Add(3);
  CHECK(flushed.empty());
  CHECK(loop.deferred.size() == 1);  // one flush deferred, not one per call
  loop.RunPass();
  REQUIRE(flushed.size() == 1);
  CHECK(flushed[0] == std::vector<int>{1, 2, 3});
  batcher->Add(4);  // the next pass starts a new batch
  loop.RunPass();
  REQUIRE(flushed.size() == 2);
  CHECK(flushed[1] == std::vector<int>{4});
}

TEST_CASE("on a thread without an event loop each call is a batch of one, flushed before Add returns") {
  std::vector<std::vector<int>> flushed;
  auto batcher = std::make_shared<Batcher<int>>([&](std::vector<int>& batch) { flushed.push_back(batch); });
  batcher->Add(7);
  REQUIRE(flushed.size() == 1);
  batcher->Add(8);
  REQUIRE(flushed.size() == 2);
  CHECK(flushed[1] == std::vector<int>{8});
}

TEST_CASE("a deferred flush runs as its first call's request, so the calls it makes carry that request id") {
  FakeLoop loop;
  std::vector<std::string> seen;  // the request id current in each flush, "" for none
  std::string outgoing;           // the traceparent a call made by the flush would send
  auto batcher = std::make_shared<Batcher<int>>([&](std::vector<int>&) {
    const shop::http::RequestContext* current = shop::http::CurrentRequest();
    seen.push_back(current ? current->request_id : "");
    outgoing = shop::http::OutgoingTraceparent();
  });
  shop::http::RequestContext first{.request_id = "req-first", .trace_id = ""};
  shop::http::RequestContext second{.request_id = "req-second", .trace_id = ""};
  {
    shop::http::RequestScope scope(first);
    batcher->Add(1);
  }
  {
    shop::http::RequestScope scope(second);
    batcher->Add(2);
  }
  REQUIRE(shop::http::CurrentRequest() == nullptr);
  loop.RunPass();  // off both handlers' stacks, as on a server thread
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "req-first");
  // The first request got its trace id when it was queued; the flush's calls continue that trace.
  REQUIRE(first.trace_id.size() == 32);
  CHECK(outgoing.substr(3, 32) == first.trace_id);
  CHECK(second.trace_id.empty());
  CHECK(shop::http::CurrentRequest() == nullptr);  // the flush's scope ended with it

  batcher->Add(3);  // a call from no request: flushed with none current
  loop.RunPass();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].empty());
}

TEST_CASE("a pending flush keeps its batcher alive") {
  FakeLoop loop;
  int flushed = 0;
  auto batcher = std::make_shared<Batcher<int>>([&](std::vector<int>& batch) { flushed += static_cast<int>(batch.size()); });
  batcher->Add(1);
  batcher.reset();
  loop.RunPass();
  CHECK(flushed == 1);
}

TEST_CASE("an asynchronous route answers through the whole pipeline, later, on the calling thread") {
  FakeLoop loop;
  shop::http::App app("test", "9.9");
  auto batcher = std::make_shared<Batcher<shop::http::Respond>>([](std::vector<shop::http::Respond>& batch) {
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i](shop::http::JsonResponse(201, "{\"n\":" + std::to_string(i) + "}"));
  });
  app.router().AddAsync("POST", "/things", [batcher](const shop::http::Context&, shop::http::Respond respond) {
    batcher->Add(std::move(respond));
  });
  app.Seal();
  CHECK(app.has_async_routes());
  CHECK_FALSE(app.needs_event_loop());
  std::vector<shop::http::Response> answers;
  shop::http::Request first, second;
  first.method = second.method = "POST";
  first.target = second.target = "/things";
  app.Handle(first, [&](shop::http::Response r) { answers.push_back(std::move(r)); });
  app.Handle(second, [&](shop::http::Response r) { answers.push_back(std::move(r)); });
  CHECK(answers.empty());
  loop.RunPass();
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].status == 201);
  CHECK(answers[1].body == "{\"n\":1}");
  CHECK(answers[1].headers.Get("Api-Version") == "1");  // the pipeline's finish ran
}

TEST_CASE("with a linger, a batch smaller than the last waits for as many calls, or for the linger") {
  FakeLoop loop;
  std::vector<std::vector<int>> flushed;
  auto batcher = std::make_shared<Batcher<int>>([&](std::vector<int>& batch) { flushed.push_back(batch); },
                                                microseconds(200));
  // A lone call: nothing to wait for.
  batcher->Add(1);
  loop.RunPass();
  REQUIRE(flushed.size() == 1);
  CHECK(loop.timers.empty());
  // Three in one pass: the recent size is now 3.
  batcher->Add(2);
  batcher->Add(3);
  batcher->Add(4);
  loop.RunPass();
  REQUIRE(flushed.size() == 2);
  CHECK(flushed[1] == std::vector<int>{2, 3, 4});

  // One call, then its pass ends: it waits (a timer of the linger), and goes when the third arrives,
  // at the end of that pass, before the timer.
  batcher->Add(5);
  loop.RunPass();
  CHECK(flushed.size() == 2);
  REQUIRE(loop.timers.size() == 1);
  CHECK(loop.timers[0].first == microseconds(200));
  batcher->Add(6);
  loop.RunPass();
  CHECK(flushed.size() == 2);  // two of three
  batcher->Add(7);
  CHECK(flushed.size() == 2);  // at the end of the pass, not inside the handler
  loop.RunPass();
  REQUIRE(flushed.size() == 3);
  CHECK(flushed[2] == std::vector<int>{5, 6, 7});
  loop.FireTimers();  // the first batch's timer: that batch is gone, so it does nothing
  CHECK(flushed.size() == 3);
  batcher->Add(8);  // ...and does not cut short the next one
  loop.RunPass();
  CHECK(flushed.size() == 3);

  // Nobody else comes: the linger ends it. The size waited for comes down by one per batch.
  loop.FireTimers();
  REQUIRE(flushed.size() == 4);
  CHECK(flushed[3] == std::vector<int>{8});
  batcher->Add(9);
  batcher->Add(10);  // 2 = the recent size (3, less one)
  loop.RunPass();
  REQUIRE(flushed.size() == 5);
  CHECK(loop.timers.empty());
  batcher->Add(11);
  loop.RunPass();  // waits for 1 more (2, less one, or this batch's 2)
  CHECK(flushed.size() == 5);
  loop.FireTimers();
  batcher->Add(12);  // recent is now 1: goes at the end of its pass
  loop.RunPass();
  REQUIRE(flushed.size() == 7);
  CHECK(flushed[6] == std::vector<int>{12});
  CHECK(loop.timers.empty());
}

TEST_CASE("without an event loop a lingering batcher still flushes each call at once") {
  std::vector<std::vector<int>> flushed;
  auto batcher = std::make_shared<Batcher<int>>([&](std::vector<int>& batch) { flushed.push_back(batch); },
                                                microseconds(200));
  for (int i = 0; i < 5; ++i) batcher->Add(i);
  CHECK(flushed.size() == 5);
}
