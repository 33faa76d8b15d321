#include "shop/http/batcher.h"

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shop/http/app.h"
#include "shop/http/request_context.h"

namespace {

using shop::http::Batcher;

/// Stands in for a server thread's event loop: deferred tasks wait until RunPass().
struct FakeLoop {
  std::vector<std::function<void()>> deferred;
  FakeLoop() {
    shop::http::SetThisThreadDeferral([this](std::function<void()> task) { deferred.push_back(std::move(task)); });
  }
  ~FakeLoop() { shop::http::SetThisThreadDeferral(nullptr); }
  void RunPass() {
    auto tasks = std::move(deferred);
    deferred.clear();
    for (auto& task : tasks) task();
  }
};

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
