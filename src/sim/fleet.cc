#include "sim/fleet.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "core/file.h"
#include "edge/signature.h"
#include "sim/random.h"

namespace firehose::sim {

namespace {

constexpr std::string_view kStripeMapping = R"(txn_id = "/data/object/id"
amount = "/data/object/amount"
amount_format = "minor_units"
currency = "/data/object/currency"
status = "/data/object/status"
status_map = { "succeeded" = "succeeded", "failed" = "failed", "pending" = "pending", "refunded" = "refunded" }
event_time = "/created"
event_time_format = "unix_s"
error_code = "/data/object/failure_code"
)";

constexpr std::string_view kBatchMapping = R"(batch = "/data"
txn_id = "/txn"
amount = "/amount"
amount_format = "decimal"
currency = "/ccy"
status = "/state"
status_map = { "SETTLED" = "succeeded", "DECLINED" = "failed", "PENDING" = "pending", "REFUNDED" = "refunded", "CANCELLED" = "canceled" }
event_time = "/ts"
event_time_format = "rfc3339"
error_code = "/decline_reason"
)";

constexpr std::string_view kBatchUnixMsMapping = R"(batch = "/data"
txn_id = "/txn"
amount = "/amount"
amount_format = "decimal"
currency = "/ccy"
status = "/state"
status_map = { "SETTLED" = "succeeded", "DECLINED" = "failed", "PENDING" = "pending", "REFUNDED" = "refunded", "CANCELLED" = "canceled" }
event_time = "/ts"
event_time_format = "unix_ms"
error_code = "/decline_reason"
)";

constexpr std::string_view kAdyenMapping = R"(txn_id = "/pspReference"
amount = "/amount/value"
amount_format = "minor_units"
currency = "/amount/currency"
status = "/success"
status_map = { "true" = "succeeded", "false" = "failed" }
event_time = "/eventDate"
event_time_format = "rfc3339"
version = "/version"
version_format = "integer"
error_code = "/reason"
)";

constexpr std::string_view kPaypalMapping = R"(txn_id = "/resource/id"
amount = "/resource/amount/total"
amount_format = "decimal"
currency = "/resource/amount/currency_code"
status = "/resource/state"
status_map = { "completed" = "succeeded", "denied" = "failed", "pending" = "pending", "refunded" = "refunded" }
event_time = "/create_time"
event_time_format = "rfc3339"
version = "/update_time"
version_format = "rfc3339"
)";

constexpr std::int64_t kSecondUs = 1'000'000;
constexpr std::int64_t kMilliUs = 1'000;

constexpr std::array<ShapeInfo, kShapeCount> kShapes = {{
    {Shape::kStripe, "stripe", "sim_stripe", kStripeMapping, SignatureScheme::kStripe, false, false,
     kSecondUs},
    {Shape::kBatch, "batch", "sim_batch", kBatchMapping, SignatureScheme::kStandardWebhooks, true,
     false, kMilliUs},
    {Shape::kBatchUnixMs, "batch", "sim_batch_ms", kBatchUnixMsMapping,
     SignatureScheme::kStandardWebhooks, true, false, kMilliUs},
    {Shape::kAdyen, "adyen", "sim_adyen", kAdyenMapping, SignatureScheme::kStripe, false, true,
     kSecondUs},
    {Shape::kPaypal, "paypal", "sim_paypal", kPaypalMapping, SignatureScheme::kStandardWebhooks,
     false, true, kSecondUs},
}};

// Webhook partners cycle through the four families; the batch family alternates between its two
// time formats so that a fleet of eight or more webhook partners uses every mapping option.
Shape ShapeForWebhookOrdinal(std::uint32_t ordinal) {
  switch (ordinal % 4) {
    case 0:
      return Shape::kStripe;
    case 1:
      return (ordinal / 4) % 2 == 0 ? Shape::kBatch : Shape::kBatchUnixMs;
    case 2:
      return Shape::kAdyen;
    default:
      return Shape::kPaypal;
  }
}

bool IsPollSlot(int slot) { return slot % 3 == 2; }

// Polled partners cycle through a batch shape (the page is one record) and single-event shapes
// (each item is one record), and independently through pagination and auth.
Shape ShapeForPollOrdinal(std::uint32_t poll_ordinal) {
  constexpr std::array<Shape, 5> kPollShapes = {Shape::kBatch, Shape::kStripe, Shape::kAdyen,
                                                Shape::kPaypal, Shape::kBatchUnixMs};
  return kPollShapes[poll_ordinal % kPollShapes.size()];
}
PollPagination PaginationForPollOrdinal(std::uint32_t poll_ordinal) {
  return poll_ordinal % 2 == 0 ? PollPagination::kCursor : PollPagination::kSince;
}
PollAuthKind AuthForPollOrdinal(std::uint32_t poll_ordinal) {
  constexpr std::array<PollAuthKind, 3> kAuths = {PollAuthKind::kBearer, PollAuthKind::kBasic,
                                                  PollAuthKind::kHeader};
  return kAuths[poll_ordinal % kAuths.size()];
}
std::string_view PollAuthName(PollAuthKind auth) {
  switch (auth) {
    case PollAuthKind::kNone:
      return "none";
    case PollAuthKind::kBearer:
      return "bearer";
    case PollAuthKind::kBasic:
      return "basic";
    case PollAuthKind::kHeader:
      return "header";
  }
  return "none";
}

// Main and secondary currency, rotating over exponents 2, 2, 0, 3 so that every exponent appears
// as soon as there are three partners.
std::vector<Currency> CurrenciesForOrdinal(std::uint32_t ordinal) {
  static const std::array<Currency, 4> kMix = {
      *Currency::FromCode("USD"), *Currency::FromCode("EUR"), *Currency::FromCode("JPY"),
      *Currency::FromCode("KWD")};
  // The offset 1..3 never lands on the main currency, and varies every four partners.
  return {kMix[ordinal % 4], kMix[(ordinal + 1 + (ordinal / 4) % 3) % 4]};
}

// Stripe's endpoint secrets are "whsec_" + alphanumerics and used as-is as the HMAC key;
// Standard Webhooks secrets are "whsec_" + base64 of the key bytes.
std::string MakeSecret(SignatureScheme scheme, std::uint64_t seed, int slot) {
  SimRandom random = SimRandom::Stream(seed, "secret", static_cast<std::uint64_t>(slot));
  if (scheme == SignatureScheme::kStripe) return "whsec_" + random.Text(kAlphanumeric, 32);
  std::string key(24, '\0');
  for (char& byte : key) byte = static_cast<char>(random.Below(256));
  return "whsec_" + edge::Base64Encode(key);
}

std::string TomlString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Writes a file readable by its owner only: temp (0600) -> fsync -> rename -> fsync directory.
Status WritePrivateFile(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path temp = path.string() + ".tmp";
  {
    FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(temp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    Status status = ::fchmod(fd.get(), 0600) == 0 ? Status::Ok()
                                                  : ErrnoStatus("fchmod " + temp.string(), errno);
    if (status.ok()) status = WriteAll(fd.get(), bytes);
    if (status.ok()) status = SyncData(fd.get());
    if (status.ok()) status = fd.Close();
    if (!status.ok()) {
      ::unlink(temp.c_str());
      return status.WithContext("writing " + path.string());
    }
  }
  return RenameDurably(temp, path);
}

}  // namespace

const ShapeInfo& InfoOf(Shape shape) { return kShapes[static_cast<std::size_t>(shape)]; }

const std::shared_ptr<const Mapping>& MappingFor(Shape shape) {
  static const std::array<std::shared_ptr<const Mapping>, kShapeCount> kMappings = [] {
    std::array<std::shared_ptr<const Mapping>, kShapeCount> mappings;
    for (const ShapeInfo& info : kShapes) {
      auto mapping = ParseMappingToml(info.mapping_toml, std::string(info.mapping_name));
      FH_CHECK(mapping.ok(), "a simulator mapping does not parse");
      mappings[static_cast<std::size_t>(info.shape)] = std::make_shared<const Mapping>(*mapping);
    }
    return mappings;
  }();
  return kMappings[static_cast<std::size_t>(shape)];
}

std::optional<Shape> ShapeForMappingName(std::string_view mapping_name) {
  for (const ShapeInfo& info : kShapes) {
    if (info.mapping_name == mapping_name) return info.shape;
  }
  return std::nullopt;
}

bool SameMapping(const Mapping& a, const Mapping& b) {
  return a.batch_pointer == b.batch_pointer && a.txn_id_pointer == b.txn_id_pointer &&
         a.amount_pointer == b.amount_pointer && a.amount_format == b.amount_format &&
         a.currency_pointer == b.currency_pointer && a.status_pointer == b.status_pointer &&
         a.status_table == b.status_table && a.event_time_pointer == b.event_time_pointer &&
         a.event_time_format == b.event_time_format && a.version_pointer == b.version_pointer &&
         a.version_format == b.version_format && a.error_code_pointer == b.error_code_pointer;
}

Result<Fleet> MakeFleet(const FleetOptions& options) {
  if (options.partner_slots < 1 || options.partner_slots > 1000) {
    return InvalidArgument("--partners must be in 1..1000, not " +
                           std::to_string(options.partner_slots));
  }
  Fleet fleet;
  std::uint32_t ordinal = 0;
  std::uint32_t poll_ordinal = 0;
  for (int slot = 0; slot < options.partner_slots; ++slot) {
    if (IsPollSlot(slot) && !options.poll_partners) {
      ++fleet.reserved_poll_slots;
      continue;
    }
    if (IsPollSlot(slot)) {
      SimPartner partner;
      partner.polled = true;
      partner.shape = ShapeForPollOrdinal(poll_ordinal);
      partner.pagination = PaginationForPollOrdinal(poll_ordinal);
      partner.auth = AuthForPollOrdinal(poll_ordinal);
      const ShapeInfo& info = InfoOf(partner.shape);
      char id[80];
      std::snprintf(id, sizeof id, "p%03d-poll-%.*s", slot, static_cast<int>(info.tag.size()),
                    info.tag.data());
      FH_ASSIGN_OR_RETURN(partner.id, PartnerId::Parse(id));
      partner.ordinal = ordinal;
      SimRandom random =
          SimRandom::Stream(options.seed, "poll_token", static_cast<std::uint64_t>(slot));
      partner.secret = Secret("tok_" + random.Text(kAlphanumeric, 32), "sim");
      partner.mapping = MappingFor(partner.shape);
      partner.currencies = CurrenciesForOrdinal(ordinal);
      fleet.partners.push_back(std::move(partner));
      ++ordinal;
      ++poll_ordinal;
      continue;
    }
    SimPartner partner;
    partner.shape = ShapeForWebhookOrdinal(ordinal - poll_ordinal);
    const ShapeInfo& info = InfoOf(partner.shape);
    char id[80];
    std::snprintf(id, sizeof id, "p%03d-%.*s", slot, static_cast<int>(info.tag.size()),
                  info.tag.data());
    FH_ASSIGN_OR_RETURN(partner.id, PartnerId::Parse(id));
    partner.ordinal = ordinal;
    partner.secret = Secret(MakeSecret(info.scheme, options.seed, slot), "sim");
    partner.mapping = MappingFor(partner.shape);
    partner.currencies = CurrenciesForOrdinal(ordinal);
    fleet.partners.push_back(std::move(partner));
    ++ordinal;
  }
  return fleet;
}

Result<Fleet> FleetFromConfig(const Config& config) {
  Fleet fleet;
  std::uint32_t ordinal = 0;
  for (const PartnerConfig& configured : config.partners) {
    const auto shape =
        configured.mapping ? ShapeForMappingName(configured.mapping->name) : std::nullopt;
    if (!shape) {
      fleet.foreign_partners.push_back(configured.id.str());
      continue;
    }
    if (!SameMapping(*MappingFor(*shape), *configured.mapping)) {
      return InvalidArgument(
          "partner " + configured.id.str() + ": mapping '" + configured.mapping->name +
          "' was edited; the simulator only sends the shape it defines (regenerate "
          "the config with `firehose sim config`, or rename the mapping)");
    }
    if (configured.mode == PartnerMode::kPoll) {
      if (!configured.poll || configured.poll->auth_secret.empty()) {
        return InvalidArgument("poll partner " + configured.id.str() + " has no auth secret");
      }
      SimPartner partner;
      partner.id = configured.id;
      partner.shape = *shape;
      partner.ordinal = ordinal++;
      partner.polled = true;
      partner.pagination = configured.poll->pagination;
      partner.auth = configured.poll->auth;
      partner.poll_url = configured.poll->url;
      partner.secret = configured.poll->auth_secret;
      partner.mapping = configured.mapping;
      partner.currencies = CurrenciesForOrdinal(partner.ordinal);
      fleet.partners.push_back(std::move(partner));
      continue;
    }
    if (configured.signature.scheme != InfoOf(*shape).scheme) {
      return InvalidArgument("partner " + configured.id.str() + ": mapping '" +
                             configured.mapping->name + "' is signed with " +
                             std::string(SignatureSchemeName(InfoOf(*shape).scheme)) +
                             " by the simulator, but the config says " +
                             std::string(SignatureSchemeName(configured.signature.scheme)));
    }
    if (configured.signature.secrets.empty()) {
      return InvalidArgument("partner " + configured.id.str() + " has no secret");
    }
    SimPartner partner;
    partner.id = configured.id;
    partner.shape = *shape;
    partner.ordinal = ordinal++;
    partner.secret = configured.signature.secrets.front();
    partner.tolerance_s = configured.signature.tolerance_s;
    partner.mapping = configured.mapping;
    partner.currencies = CurrenciesForOrdinal(partner.ordinal);
    fleet.partners.push_back(std::move(partner));
  }
  if (fleet.partners.empty()) {
    return InvalidArgument(
        "the config has no simulator partners (webhook partners whose mapping is one of "
        "sim_stripe, sim_batch, sim_batch_ms, sim_adyen, sim_paypal); create one with "
        "`firehose sim config`");
  }
  return fleet;
}

std::string ConfigText(const Fleet& fleet, const ConfigFileOptions& options) {
  std::string out;
  out += "# Generated by `firehose sim config --seed " + std::to_string(options.seed) +
         "`: " + std::to_string(fleet.partners.size()) + " simulated partners";
  if (fleet.reserved_poll_slots > 0) {
    out +=
        " (" + std::to_string(fleet.reserved_poll_slots) + " slots reserved for polled partners)";
  }
  out += ".\n# Secrets are random from the seed: for tests and demos only.\n\n";
  out += "data_dir = " + TomlString(options.data_dir) + "\n\n";
  out +=
      "[server]\nlisten = " + TomlString(options.listen_host + ":" + std::to_string(options.port)) +
      "\n";

  std::array<bool, kShapeCount> used{};
  for (const SimPartner& partner : fleet.partners) {
    used[static_cast<std::size_t>(partner.shape)] = true;
  }
  for (const ShapeInfo& info : kShapes) {
    if (!used[static_cast<std::size_t>(info.shape)]) continue;
    out += "\n[mappings." + std::string(info.mapping_name) + "]\n";
    out += info.mapping_toml;
  }
  const std::uint16_t poll_port =
      options.poll_port != 0 ? options.poll_port : static_cast<std::uint16_t>(options.port + 1);
  for (const SimPartner& partner : fleet.partners) {
    const ShapeInfo& info = InfoOf(partner.shape);
    if (partner.polled) {
      out += "\n[[partners]]\n";
      out += "id = " + TomlString(partner.id.str()) + "\n";
      out += "mode = \"poll\"\n";
      out += "mapping = " + TomlString(info.mapping_name) + "\n";
      out += "[partners.poll]\n";
      out += "url = " +
             TomlString("http://" + options.listen_host + ":" + std::to_string(poll_port) +
                        "/poll/" + partner.id.str()) +
             "\n";
      out += "interval_ms = 500\npage_size = 50\n";
      out += "auth = " + TomlString(PollAuthName(partner.auth)) + "\n";
      if (partner.auth == PollAuthKind::kBasic)
        out += "basic_user = " + TomlString(kPollBasicUser) + "\n";
      if (partner.auth == PollAuthKind::kHeader)
        out += "auth_header = " + TomlString(kPollAuthHeader) + "\n";
      out += "auth_secret = " + TomlString("file:secrets/" + partner.id.str()) + "\n";
      if (partner.pagination == PollPagination::kSince) {
        out += "pagination = \"since\"\ncursor_param = \"since\"\nsince_field = \"/seq\"\n";
      }
      out += "backoff_initial_ms = 100\nbackoff_max_ms = 2000\nbreaker_open_ms = 2000\n";
      continue;
    }
    out += "\n[[partners]]\n";
    out += "id = " + TomlString(partner.id.str()) + "\n";
    out += "mode = \"webhook\"\n";
    out += "mapping = " + TomlString(info.mapping_name) + "\n";
    out += "signature = " + TomlString(SignatureSchemeName(info.scheme)) + "\n";
    out += "secrets = [" + TomlString("file:secrets/" + partner.id.str()) + "]\n";
  }
  return out;
}

Status WriteConfigDirectory(const Fleet& fleet, const ConfigFileOptions& options,
                            const std::filesystem::path& dir) {
  const std::filesystem::path secrets_dir = dir / "secrets";
  FH_RETURN_IF_ERROR(EnsureDirectory(secrets_dir));
  if (::chmod(secrets_dir.c_str(), 0700) != 0) {
    return ErrnoStatus("chmod " + secrets_dir.string(), errno);
  }
  for (const SimPartner& partner : fleet.partners) {
    FH_RETURN_IF_ERROR(WritePrivateFile(secrets_dir / partner.id.str(), partner.secret.Reveal()));
  }
  return WriteFileAtomically(dir / "firehose.toml", ConfigText(fleet, options));
}

}  // namespace firehose::sim
