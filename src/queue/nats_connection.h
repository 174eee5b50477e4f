// Connecting to the NATS servers of [queue] nats_urls, one way for every client in the process:
// the JetStream queue, the lake writer's lease and the ops error relay each open their own
// connection through ConnectNats, so that they reconnect alike and a failure reads alike.
//
// A connection made here reconnects forever (a lost server is normal in a cluster), quickly
// (100 ms between attempts), notices a dead server within about two ping intervals (4 s), and
// names itself to the server (`client_name`, shown in the server's connz). Callers that must not
// queue work while disconnected check natsConnection_Status themselves: the client's reconnect
// buffer would otherwise hold their publishes until the connection is back.
#pragma once

#include <nats/nats.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace firehose {

// What NATS said about `status`, with the library's last error text when it adds something.
std::string NatsStatusText(natsStatus status);

// A failed client call as a Status: what was being done and what NATS said. Unavailable for the
// outcomes that waiting or reconnecting can cure (timeout, no responders, no server,
// disconnected, closed); Internal otherwise. `error_code`: a JetStream API error (0: none).
Status NatsFailure(natsStatus status, int error_code, std::string_view what);

// Connects to `urls` (nats://host:port, at least one). On success the caller owns *connection
// (natsConnection_Close + natsConnection_Destroy); on failure *connection is left null.
// Unavailable when no server answers.
Status ConnectNats(const std::vector<std::string>& urls, std::string_view client_name,
                   natsConnection** connection);

}  // namespace firehose
