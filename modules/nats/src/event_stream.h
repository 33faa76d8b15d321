#pragma once

// The event stream SHOP_EVENTS as both ends of the split layout's events need it; internal to shop::nats.
#include <nats/nats.h>

namespace shop::nats {

/// Makes sure JetStream stream `SHOP_EVENTS` (subjects `shop.>`, file storage) exists on the server
/// of `js`, creating it when absent: a publisher or a consumer may be the first to start. NATS_OK
/// when it exists (found, created, or created meanwhile by another process); otherwise the status of
/// the failed creation, with the JetStream error code in `code`. Does not log failures (the caller
/// throttles its own log); logs a creation. Blocks at most about three JetStream API waits.
natsStatus EnsureEventStream(jsCtx* js, jsErrCode& code);

}  // namespace shop::nats
