#include "queue/nats_connection.h"

namespace firehose {

namespace {

// How the connection behaves once up (see the header): reconnect at once and forever, give up
// on a connect attempt after 2 s, ping every 2 s and count a server dead after 2 unanswered
// pings.
constexpr int kReconnectWaitMs = 100;
constexpr std::int64_t kConnectTimeoutMs = 2000;
constexpr std::int64_t kPingIntervalMs = 2000;
constexpr int kPingsOutMax = 2;

}  // namespace

std::string NatsStatusText(natsStatus status) {
  const char* last = nats_GetLastError(nullptr);
  std::string text = natsStatus_GetText(status);
  if (last != nullptr && *last != '\0' && text != last) text += std::string(" (") + last + ")";
  return text;
}

Status NatsFailure(natsStatus status, int error_code, std::string_view what) {
  std::string message = std::string(what) + ": " + NatsStatusText(status);
  if (error_code != 0) message += " [jetstream error " + std::to_string(error_code) + "]";
  if (status == NATS_NO_RESPONDERS || status == NATS_TIMEOUT || status == NATS_CONNECTION_CLOSED ||
      status == NATS_NO_SERVER || status == NATS_CONNECTION_DISCONNECTED) {
    return Unavailable(message);
  }
  return Internal(message);
}

Status ConnectNats(const std::vector<std::string>& urls, std::string_view client_name,
                   natsConnection** connection) {
  *connection = nullptr;
  if (urls.empty()) return InvalidArgument("connecting to nats: no server urls");
  natsOptions* options = nullptr;
  natsStatus status = natsOptions_Create(&options);
  if (status != NATS_OK) return NatsFailure(status, 0, "nats options");
  std::vector<const char*> url_pointers;
  for (const std::string& url : urls) url_pointers.push_back(url.c_str());
  const std::string name(client_name);
  status =
      natsOptions_SetServers(options, url_pointers.data(), static_cast<int>(url_pointers.size()));
  if (status == NATS_OK) status = natsOptions_SetName(options, name.c_str());
  if (status == NATS_OK) status = natsOptions_SetMaxReconnect(options, -1);
  if (status == NATS_OK) status = natsOptions_SetReconnectWait(options, kReconnectWaitMs);
  if (status == NATS_OK) status = natsOptions_SetTimeout(options, kConnectTimeoutMs);
  if (status == NATS_OK) status = natsOptions_SetPingInterval(options, kPingIntervalMs);
  if (status == NATS_OK) status = natsOptions_SetMaxPingsOut(options, kPingsOutMax);
  if (status == NATS_OK) status = natsConnection_Connect(connection, options);
  natsOptions_Destroy(options);
  if (status != NATS_OK) {
    natsConnection_Destroy(*connection);
    *connection = nullptr;
    return NatsFailure(
        status, 0, "connecting to nats as " + name + " (" + std::to_string(urls.size()) + " urls)");
  }
  return Status::Ok();
}

}  // namespace firehose
