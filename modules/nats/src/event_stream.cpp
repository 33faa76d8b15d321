#include "event_stream.h"

#include <chrono>

#include "shop/nats/event_publisher.h"
#include "shop/platform/log.h"

namespace shop::nats {

natsStatus EnsureEventStream(jsCtx* js, jsErrCode& code) {
  code = static_cast<jsErrCode>(0);
  jsStreamInfo* info = nullptr;
  natsStatus s = js_GetStreamInfo(&info, js, kEventStream, nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return NATS_OK;
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {kEventSubjects};
  cfg.Name = kEventStream;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  // Events older than this are dropped: a consumer away longer misses them. Consumers keep the ids
  // they applied (their inbox) longer than this (events::Relay::Options::inbox_retention), so a
  // consumer created again, which replays the stream, applies nothing twice.
  cfg.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(kEventRetention).count();
  s = js_AddStream(&info, js, &cfg, nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    log::Write(log::Level::kInfo, "event stream created", {{"stream", kEventStream}});
    return NATS_OK;
  }
  // Another process may have created it meanwhile.
  jsErrCode again = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&info, js, kEventStream, nullptr, &again) == NATS_OK) {
    jsStreamInfo_Destroy(info);
    code = static_cast<jsErrCode>(0);
    return NATS_OK;
  }
  return s;
}

}  // namespace shop::nats
