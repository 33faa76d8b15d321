#include "shop/nats/event_publisher.h"

#include "connection_impl.h"

#include "shop/platform/log.h"

namespace shop::nats {

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
  LogThrottled(last_error_log_ms_, "event stream unavailable",
               {{"error", natsStatus_GetText(s)}, {"jetstream_code", static_cast<int>(code)}});
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
    LogThrottled(last_error_log_ms_, "event not published",
                 {{"error", natsStatus_GetText(s)}, {"jetstream_code", static_cast<int>(code)}});
    return false;
  }
  return true;
}

}  // namespace shop::nats
