// The simulated partners (DESIGN §9): who they are, what their payloads look like, how they sign,
// and the config file that makes the real server accept them.
//
// A simulated partner is an ordinary config partner: its mapping is a [mappings.*] table and its
// secret a `file:` reference, so the server treats it exactly like a real one. The simulator
// recognises its own partners in any config by their mapping's name (`sim_stripe`, ...): `sim run`
// rebuilds the fleet from the config the server loads, so the two can never disagree.
//
// Partner slots: `sim config --partners N` numbers N slots p000..p<N-1>. Two slots in three are
// webhook partners, cycling through the payload shapes; every third slot (p002, p005, ...) is a
// polled partner (`p002-poll-batch`, ...), served by the simulator's poll server
// (sim/poll_server.h) and cycling through shapes, pagination (cursor, since) and auth (bearer,
// basic, header key). `--no-poll` leaves those slots empty instead (webhook-only fleets keep
// their ids and secrets either way).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/money.h"
#include "core/secret.h"
#include "core/status.h"
#include "core/types.h"

namespace firehose::sim {

// A payload shape: one family of partner JSON, with the mapping that reads it.
enum class Shape : std::uint8_t {
  kStripe,       // single event, minor units, lower-case currency, unix seconds; Stripe signature
  kBatch,        // Standard Webhooks batch {"type","data":[...]}, decimal strings, RFC 3339 (ms)
  kBatchUnixMs,  // the same batch with "ts" as unix milliseconds
  kAdyen,        // nested amount, "success":"true"/"false", RFC 3339 with +01:00, version counter
  kPaypal,       // decimal as a JSON number, create_time + update_time (the version), RFC 3339
};
inline constexpr int kShapeCount = 5;

struct ShapeInfo {
  Shape shape;
  std::string_view tag;           // in partner ids: "stripe", "batch", "adyen", "paypal"
  std::string_view mapping_name;  // its [mappings.<name>] table
  std::string_view mapping_toml;  // the table's body (the single source of the mapping)
  SignatureScheme scheme;
  bool batched;                    // the body is {"data":[events]}
  bool versioned;                  // the mapping has version/updated_at: the greatest version wins
  std::int64_t time_precision_us;  // event times are multiples of this (1 s, 1 ms)
};

const ShapeInfo& InfoOf(Shape shape);
// The shape's mapping, parsed once from its mapping_toml (thread-safe).
const std::shared_ptr<const Mapping>& MappingFor(Shape shape);
std::optional<Shape> ShapeForMappingName(std::string_view mapping_name);

// One simulated partner: a webhook sender, or (polled) a feed on the poll server.
struct SimPartner {
  PartnerId id;
  Shape shape = Shape::kStripe;
  // Position among the fleet's partners: its Zipf rank (0 carries the most volume) and its
  // currency mix.
  std::uint32_t ordinal = 0;
  Secret secret;  // the signing secret (the config's first active one)
  std::int64_t tolerance_s = 300;
  std::shared_ptr<const Mapping> mapping;
  std::vector<Currency> currencies;  // [0] is the partner's main currency
  // Polled partners: the poll server serves their sends as a feed; `secret` is the API token
  // (the password for basic auth, the key for header auth).
  bool polled = false;
  PollPagination pagination = PollPagination::kCursor;
  PollAuthKind auth = PollAuthKind::kBearer;
  std::string poll_url;  // from the config (FleetFromConfig); empty in MakeFleet's fleets
};

struct Fleet {
  std::vector<SimPartner> partners;
  int reserved_poll_slots = 0;  // poll slots left empty (--no-poll; see the header comment)
  // Partners of the config that are not simulator partners (left alone by `sim run`).
  std::vector<std::string> foreign_partners;
};

struct FleetOptions {
  int partner_slots = 6;  // --partners
  std::uint64_t seed = 1;
  bool poll_partners = false;  // fill every third slot with a polled partner (sim config --poll)
};

// The user name polled partners with basic auth expect.
inline constexpr std::string_view kPollBasicUser = "firehose";
// The header polled partners with header auth read their key from.
inline constexpr std::string_view kPollAuthHeader = "X-Api-Key";

// The fleet `sim config` writes: ids, shapes and secrets are a pure function of the options.
Result<Fleet> MakeFleet(const FleetOptions& options);

// The simulator partners of a loaded config. Fails when there is none, or when a partner using a
// `sim_*` mapping name has a mapping that differs from the simulator's (the bodies it would send
// would not map the way the truth assumes).
Result<Fleet> FleetFromConfig(const Config& config);

struct ConfigFileOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string data_dir = "data";  // as written: relative paths resolve against the config's dir
  std::uint64_t seed = 1;         // recorded in the header comment
  std::uint16_t poll_port = 0;    // the poll server's port; 0: port + 1
};

// The TOML text of the config (secrets are `file:secrets/<partner>` references, never inline).
std::string ConfigText(const Fleet& fleet, const ConfigFileOptions& options);

// Writes `<dir>/firehose.toml` and `<dir>/secrets/<partner>` (mode 0600, directory 0700), each
// atomically, and nothing else. Creates `dir` if needed.
Status WriteConfigDirectory(const Fleet& fleet, const ConfigFileOptions& options,
                            const std::filesystem::path& dir);

// Field-by-field equality of what two mappings read (the name is not compared).
bool SameMapping(const Mapping& a, const Mapping& b);

}  // namespace firehose::sim
