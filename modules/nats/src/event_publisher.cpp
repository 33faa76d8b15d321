#include "shop/nats/event_publisher.h"

#include "connection_impl.h"
#include "event_stream.h"

#include "shop/platform/log.h"

namespace shop::nats {

JetStreamPublisher::JetStreamPublisher(Connection& connection) : connection_(connection) {}

bool JetStreamPublisher::EnsureStream() {
  std::lock_guard lock(mu_);
  if (stream_ready_) return true;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = EnsureEventStream(connection_.impl().js, code);
  if (s != NATS_OK) {
    LogThrottled(last_error_log_ms_, "event stream unavailable",
                 {{"error", natsStatus_GetText(s)}, {"jetstream_code", static_cast<int>(code)}});
    return false;
  }
  stream_ready_ = true;
  return true;
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
    if (s == NATS_NO_RESPONDERS) {
      // No stream takes the subject: it was deleted, or the server came back without its store. The
      // next offer makes it again.
      std::lock_guard lock(mu_);
      stream_ready_ = false;
    }
    LogThrottled(last_error_log_ms_, "event not published",
                 {{"error", natsStatus_GetText(s)}, {"jetstream_code", static_cast<int>(code)}});
    return false;
  }
  return true;
}

}  // namespace shop::nats
