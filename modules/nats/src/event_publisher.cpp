#include "shop/nats/event_publisher.h"

#include "connection_impl.h"

#include "shop/platform/log.h"

namespace shop::nats {
namespace {

/// At most one warning per 5 s: a NATS outage must not flood the log with one line per event.
void Warn(std::atomic<std::int64_t>& last_ms, std::string_view msg, natsStatus s, jsErrCode code) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t last = last_ms.load();
  if (now - last < 5000 || !last_ms.compare_exchange_strong(last, now)) return;
  log::Write(log::Level::kWarn, msg, {{"error", natsStatus_GetText(s)}, {"jetstream_code", static_cast<int>(code)}});
}

}  // namespace

JetStreamPublisher::JetStreamPublisher(Connection& connection) : connection_(connection) {}

bool JetStreamPublisher::EnsureStream() {
  std::lock_guard lock(mu_);
  if (stream_ready_) return true;
  jsCtx* js = connection_.impl().js;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js, kEventStream, nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    stream_ready_ = true;
    return true;
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {kEventSubjects};
  cfg.Name = kEventStream;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  s = js_AddStream(&info, js, &cfg, nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    log::Write(log::Level::kInfo, "event stream created", {{"stream", kEventStream}});
    stream_ready_ = true;
    return true;
  }
  // Another process may have created it meanwhile.
  if (js_GetStreamInfo(&info, js, kEventStream, nullptr, &code) == NATS_OK) {
    jsStreamInfo_Destroy(info);
    stream_ready_ = true;
    return true;
  }
  Warn(last_error_log_ms_, "event stream unavailable", s, code);
  return false;
}

bool JetStreamPublisher::Publish(const events::Event& event) {
  if (!connection_.connected() || !EnsureStream()) return false;
  const std::string body = events::ToCloudEventJson(event);
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MsgId = event.id.c_str();
  options.MaxWait = 2000;  // ms for the ack
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_Publish(&ack, connection_.impl().js, event.type.c_str(), body.data(),
                                  static_cast<int>(body.size()), &options, &code);
  if (ack) jsPubAck_Destroy(ack);
  if (s != NATS_OK) {
    Warn(last_error_log_ms_, "event not published", s, code);
    return false;
  }
  return true;
}

}  // namespace shop::nats
