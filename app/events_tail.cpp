// shop-events: prints the domain events of a running layout as they are published, one CloudEvents
// JSON object per line (PLATFORM.md "Events"). Either layout: the split services publish to NATS
// JetStream, and so does the single binary when given --nats-url.
//   shop-events [--nats-url URL] [--from-start] [SUBJECT]
//     SUBJECT       the event types to show, with NATS wildcards (default shop.>, e.g. shop.orders.>)
//     --from-start  first replay what stream SHOP_EVENTS still holds, then follow (an ordered
//                   JetStream consumer, nothing acknowledged or kept on the server)
// Without --from-start it is a plain NATS subscription: events published from now on.
#include <nats/nats.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile std::sig_atomic_t stop = 0;

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
  std::fwrite(natsMsg_GetData(msg), 1, static_cast<std::size_t>(natsMsg_GetDataLength(msg)), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  natsMsg_Destroy(msg);
}

int Fail(const char* what, natsStatus s) {
  std::fprintf(stderr, "shop-events: %s: %s\n", what, natsStatus_GetText(s));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_url = std::getenv("SHOP_NATS_URL");
  std::string url = env_url && *env_url ? env_url : "nats://127.0.0.1:4222";
  std::string subject = "shop.>";
  bool from_start = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--nats-url" && i + 1 < argc) {
      url = argv[++i];
    } else if (arg == "--from-start") {
      from_start = true;
    } else if (arg == "-h" || arg == "--help") {
      std::puts("usage: shop-events [--nats-url URL] [--from-start] [SUBJECT]\n"
                "Prints shop's domain events (CloudEvents JSON, one per line) as they are published.\n"
                "  --nats-url URL  the NATS server (default $SHOP_NATS_URL, else nats://127.0.0.1:4222)\n"
                "  --from-start    replay what stream SHOP_EVENTS holds first, then follow\n"
                "  SUBJECT         event types to show, NATS wildcards allowed (default shop.>)");
      return 0;
    } else if (!arg.starts_with("-")) {
      subject = arg;
    } else {
      std::fprintf(stderr, "shop-events: unknown argument %s (see --help)\n", arg.c_str());
      return 2;
    }
  }
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });

  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
  if (s != NATS_OK) return Fail(("cannot connect to " + url).c_str(), s);
  natsSubscription* sub = nullptr;
  if (from_start) {
    jsCtx* js = nullptr;
    s = natsConnection_JetStream(&js, nc, nullptr);
    if (s != NATS_OK) return Fail("JetStream", s);
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = "SHOP_EVENTS";
    options.Ordered = true;  // an ephemeral, flow-controlled consumer the client re-creates on gaps
    options.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_Subscribe(&sub, js, subject.c_str(), OnMessage, nullptr, nullptr, &options, &code);
    if (s != NATS_OK) return Fail("subscribing to stream SHOP_EVENTS (does it exist yet?)", s);
  } else {
    s = natsConnection_Subscribe(&sub, nc, subject.c_str(), OnMessage, nullptr);
    if (s != NATS_OK) return Fail("subscribing", s);
  }
  std::fprintf(stderr, "shop-events: following %s on %s\n", subject.c_str(), url.c_str());
  while (!stop) nats_Sleep(100);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  nats_Close();
  return 0;
}
