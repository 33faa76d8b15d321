// The split layout's event publisher against a real nats-server with JetStream: the stream is
// made on first use, each event is stored once under its type, a repeat of an id is dropped by the
// broker, and NATS being down is a refusal (the relay keeps the event), not a loss.
#include "shop/nats/event_publisher.h"

#include <doctest/doctest.h>
#include <nats/nats.h>

#include "service_process.h"
#include "temp_dir.h"

namespace {

using namespace shop;

/// Messages stored in SHOP_EVENTS, read with the C client directly.
std::int64_t StoredEvents(const std::string& url) {
  natsConnection* conn = nullptr;
  REQUIRE(natsConnection_ConnectTo(&conn, url.c_str()) == NATS_OK);
  jsCtx* js = nullptr;
  REQUIRE(natsConnection_JetStream(&js, conn, nullptr) == NATS_OK);
  jsStreamInfo* info = nullptr;
  std::int64_t count = -1;
  if (js_GetStreamInfo(&info, js, nats::kEventStream, nullptr, nullptr) == NATS_OK) {
    count = static_cast<std::int64_t>(info->State.Msgs);
    jsStreamInfo_Destroy(info);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
  return count;
}

TEST_CASE("events reach SHOP_EVENTS once each, repeats of an id are dropped, and NATS down is a refusal") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  {
    nats::Connection connection(server.url(), "event-publisher-test");
    nats::JetStreamPublisher publisher(connection);
    const auto a = events::MakeEvent("orders", "shop.orders.order_placed.v1", R"({"order_id":1})");
    const auto b = events::MakeEvent("orders", "shop.orders.order_cancelled.v1", R"({"order_id":1})");
    CHECK(publisher.Publish(a));
    CHECK(publisher.Publish(b));
    CHECK(publisher.Publish(a));  // a relay that lost the ack sends again: accepted, not stored twice
    CHECK(StoredEvents(server.url()) == 2);

    server.Stop();
    CHECK_FALSE(publisher.Publish(events::MakeEvent("orders", "shop.orders.order_placed.v1", R"({"order_id":2})")));
  }
  server.Start();  // the same port and data: what was stored is still there
  CHECK(StoredEvents(server.url()) == 2);
}

TEST_CASE("a stream lost from the server is created again by the publisher") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  nats::Connection connection(server.url(), "event-publisher-test");
  nats::JetStreamPublisher publisher(connection);
  CHECK(publisher.Publish(events::MakeEvent("orders", "shop.orders.order_placed.v1", R"({"order_id":1})")));
  {
    natsConnection* conn = nullptr;
    REQUIRE(natsConnection_ConnectTo(&conn, server.url().c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    REQUIRE(natsConnection_JetStream(&js, conn, nullptr) == NATS_OK);
    REQUIRE(js_DeleteStream(js, nats::kEventStream, nullptr, nullptr) == NATS_OK);  // as a wiped store would
    jsCtx_Destroy(js);
    natsConnection_Destroy(conn);
  }
  // The relay offers the event again after a refusal: the second offer at the latest is accepted.
  const auto event = events::MakeEvent("orders", "shop.orders.order_placed.v1", R"({"order_id":2})");
  const bool accepted = publisher.Publish(event) || publisher.Publish(event);
  CHECK(accepted);
  CHECK(StoredEvents(server.url()) == 1);
}

}  // namespace
