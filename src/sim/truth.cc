#include "sim/truth.h"

#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/file.h"
#include "core/json_integer.h"

namespace firehose::sim {

namespace {

using Json = nlohmann::ordered_json;

// What the truth knows about one transaction after the acknowledged sends.
struct KeyState {
  const SimEvent* first = nullptr;
  const SimEvent* canonical = nullptr;
  std::int64_t reports = 0;
  bool disagrees = false;
};

bool Disagree(const SimEvent& a, const SimEvent& b) {
  return a.amount != b.amount || !(a.currency == b.currency) || a.status != b.status;
}

// Applies one acknowledged report to its key: the first report is canonical until a report
// with a greater version arrives (versioned partners only). Reports arrive in plan order, which
// is the order the sender guarantees (phases).
void Apply(const SimEvent& event, bool versioned, KeyState* state) {
  ++state->reports;
  if (state->first == nullptr) {
    state->first = state->canonical = &event;
    return;
  }
  if (Disagree(*state->first, event)) state->disagrees = true;
  if (versioned && event.version.value_or(0) > state->canonical->version.value_or(0)) {
    state->canonical = &event;
  }
}

using TotalKey = std::tuple<BusinessDate, std::string, std::string, std::string>;

Json VersionJson(const std::optional<std::int64_t>& version) {
  return version ? Json(*version) : Json(nullptr);
}

Result<Currency> CurrencyField(const Json& object, const char* key) {
  return Currency::FromCode(object.at(key).get<std::string>());
}

Result<TxnStatus> StatusField(const Json& object) {
  const std::string name = object.at("status").get<std::string>();
  const auto status = TxnStatusFromName(name);
  if (!status) return InvalidArgument("unknown status '" + name + "'");
  return *status;
}

Result<BusinessDate> DateField(const Json& object) {
  return BusinessDate::Parse(object.at("business_date").get<std::string>());
}

Result<Truth> ParseTruthObject(const Json& root) {
  if (root.value("format", "") != kTruthFormat) {
    return InvalidArgument("not a simulator truth file");
  }
  const auto version = root.find("format_version");
  if (version == root.end() || JsonInteger<int>(*version) != kTruthFormatVersion) {
    return InvalidArgument("truth format_version " +
                           (version == root.end() ? std::string("missing") : version->dump()) +
                           " is not " + std::to_string(kTruthFormatVersion));
  }
  Truth truth;
  truth.seed = JsonGet<std::uint64_t>(root.at("seed"));
  FH_ASSIGN_OR_RETURN(truth.day, BusinessDate::Parse(root.at("day").get<std::string>()));
  truth.timezone = root.at("timezone").get<std::string>();
  truth.complete = root.at("complete").get<bool>();
  const Json& counts = root.at("counts");
  truth.counts.transactions = JsonGet<std::int64_t>(counts.at("transactions"));
  truth.counts.events_acked = JsonGet<std::int64_t>(counts.at("events_acked"));
  truth.counts.duplicate_events = JsonGet<std::int64_t>(counts.at("duplicate_events"));
  truth.counts.conflicts = JsonGet<std::int64_t>(counts.at("conflicts"));
  truth.counts.quarantined = JsonGet<std::int64_t>(counts.at("quarantined"));
  truth.counts.sends_planned = JsonGet<std::int64_t>(counts.at("sends_planned"));
  truth.counts.sends_acked = JsonGet<std::int64_t>(counts.at("sends_acked"));
  truth.counts.bad_signatures_sent = JsonGet<std::int64_t>(counts.at("bad_signatures_sent"));
  truth.counts.ambiguous_sends = JsonGet<std::int64_t>(counts.at("ambiguous_sends"));
  for (const auto& [kind, count] : counts.at("acked_by_kind").items()) {
    truth.counts.acked_by_kind[kind] = JsonGet<std::int64_t>(count);
  }
  for (const auto& [reason, count] : root.at("quarantined_by_reason").items()) {
    truth.quarantined_by_reason[reason] = JsonGet<std::int64_t>(count);
  }
  for (const Json& row : root.at("totals")) {
    TruthTotal total;
    FH_ASSIGN_OR_RETURN(total.business_date, DateField(row));
    total.partner_id = row.at("partner_id").get<std::string>();
    FH_ASSIGN_OR_RETURN(total.currency, CurrencyField(row, "currency"));
    FH_ASSIGN_OR_RETURN(total.status, StatusField(row));
    total.txn_count = JsonGet<std::int64_t>(row.at("txn_count"));
    total.amount = AmountMinor(JsonGet<std::int64_t>(row.at("amount_minor")));
    truth.totals.push_back(std::move(total));
  }
  for (const Json& row : root.at("conflicts")) {
    TruthConflict conflict;
    FH_ASSIGN_OR_RETURN(conflict.business_date, DateField(row));
    conflict.partner_id = row.at("partner_id").get<std::string>();
    conflict.txn_id = row.at("txn_id").get<std::string>();
    conflict.reports = JsonGet<std::int64_t>(row.at("reports"));
    FH_ASSIGN_OR_RETURN(conflict.currency, CurrencyField(row, "currency"));
    FH_ASSIGN_OR_RETURN(conflict.status, StatusField(row));
    conflict.amount = AmountMinor(JsonGet<std::int64_t>(row.at("amount_minor")));
    conflict.event_time = TimestampUs(JsonGet<std::int64_t>(row.at("event_time_us")));
    if (!row.at("version").is_null()) conflict.version = JsonGet<std::int64_t>(row.at("version"));
    truth.conflicts.push_back(std::move(conflict));
  }
  return truth;
}

}  // namespace

Result<Truth> ComputeTruth(const Fleet& fleet, const Plan& plan,
                           const std::vector<bool>& acknowledged,
                           const BusinessCalendar& calendar) {
  FH_CHECK(acknowledged.size() == plan.sends.size(), "one acknowledgement flag per planned send");
  Truth truth;
  truth.seed = plan.seed;
  truth.day = plan.day;
  truth.timezone = calendar.zone_name();
  truth.counts.sends_planned = static_cast<std::int64_t>(plan.sends.size());
  std::vector<KeyState> keys(static_cast<std::size_t>(plan.transactions));
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    if (send.bad_signature != BadSignature::kNone) {
      ++truth.counts.bad_signatures_sent;
      continue;
    }
    if (!acknowledged[i]) continue;
    ++truth.counts.sends_acked;
    ++truth.counts.acked_by_kind[std::string(SendKindName(send.kind))];
    const bool versioned = InfoOf(fleet.partners.at(send.partner).shape).versioned;
    for (std::uint32_t index : send.events) {
      const SimEvent& event = plan.events.at(index);
      Apply(event, versioned, &keys.at(event.key));
      ++truth.counts.events_acked;
    }
    if (send.malformation) {
      ++truth.quarantined_by_reason[std::string(ReasonOf(*send.malformation))];
      ++truth.counts.quarantined;
    }
  }

  std::map<TotalKey, TruthTotal> totals;
  for (const KeyState& state : keys) {
    if (state.canonical == nullptr) continue;
    const SimEvent& booked = *state.canonical;
    const PartnerId& partner = fleet.partners.at(booked.partner).id;
    const BusinessDate date = calendar.DateOf(booked.event_time);
    TruthTotal& total = totals[{date, partner.str(), std::string(booked.currency.code()),
                                std::string(TxnStatusName(booked.status))}];
    if (total.txn_count == 0) {
      total = {date, partner.str(), booked.currency, booked.status, 0, AmountMinor(0)};
    }
    ++total.txn_count;
    if (!CheckedAdd(total.amount, booked.amount, &total.amount)) {
      return OutOfRange("the truth's total for " + partner.str() + " " +
                        std::string(booked.currency.code()) + " on " + date.ToString() +
                        " overflows int64 minor units");
    }
    ++truth.counts.transactions;
    if (!state.disagrees) continue;
    truth.conflicts.push_back({date, partner.str(), booked.txn_id, state.reports, booked.amount,
                               booked.currency, booked.status, booked.event_time, booked.version});
  }
  for (auto& [key, total] : totals) truth.totals.push_back(std::move(total));
  std::sort(truth.conflicts.begin(), truth.conflicts.end(),
            [](const TruthConflict& a, const TruthConflict& b) {
              return std::tie(a.partner_id, a.txn_id) < std::tie(b.partner_id, b.txn_id);
            });
  truth.counts.conflicts = static_cast<std::int64_t>(truth.conflicts.size());
  truth.counts.duplicate_events = truth.counts.events_acked - truth.counts.transactions;
  return truth;
}

std::string TruthJson(const Truth& truth) {
  Json root;
  root["format"] = kTruthFormat;
  root["format_version"] = kTruthFormatVersion;
  root["seed"] = truth.seed;
  root["day"] = truth.day.ToString();
  root["timezone"] = truth.timezone;
  root["complete"] = truth.complete;
  Json& counts = root["counts"];
  counts["transactions"] = truth.counts.transactions;
  counts["events_acked"] = truth.counts.events_acked;
  counts["duplicate_events"] = truth.counts.duplicate_events;
  counts["conflicts"] = truth.counts.conflicts;
  counts["quarantined"] = truth.counts.quarantined;
  counts["sends_planned"] = truth.counts.sends_planned;
  counts["sends_acked"] = truth.counts.sends_acked;
  counts["bad_signatures_sent"] = truth.counts.bad_signatures_sent;
  counts["ambiguous_sends"] = truth.counts.ambiguous_sends;
  counts["acked_by_kind"] = Json::object();
  for (const auto& [kind, count] : truth.counts.acked_by_kind) {
    counts["acked_by_kind"][kind] = count;
  }
  root["quarantined_by_reason"] = Json::object();
  for (const auto& [reason, count] : truth.quarantined_by_reason) {
    root["quarantined_by_reason"][reason] = count;
  }
  root["totals"] = Json::array();
  for (const TruthTotal& total : truth.totals) {
    root["totals"].push_back({{"business_date", total.business_date.ToString()},
                              {"partner_id", total.partner_id},
                              {"currency", total.currency.code()},
                              {"status", TxnStatusName(total.status)},
                              {"txn_count", total.txn_count},
                              {"amount_minor", total.amount.value()},
                              {"amount", FormatAmount(total.amount, total.currency.exponent())}});
  }
  root["conflicts"] = Json::array();
  for (const TruthConflict& conflict : truth.conflicts) {
    root["conflicts"].push_back(
        {{"business_date", conflict.business_date.ToString()},
         {"partner_id", conflict.partner_id},
         {"txn_id", conflict.txn_id},
         {"reports", conflict.reports},
         {"currency", conflict.currency.code()},
         {"status", TxnStatusName(conflict.status)},
         {"amount_minor", conflict.amount.value()},
         {"amount", FormatAmount(conflict.amount, conflict.currency.exponent())},
         {"event_time", FormatRfc3339Micros(conflict.event_time)},
         {"event_time_us", conflict.event_time.value()},
         {"version", VersionJson(conflict.version)}});
  }
  return root.dump(1) + "\n";
}

Result<Truth> ParseTruthJson(std::string_view text) {
  try {
    return ParseTruthObject(Json::parse(text));
  } catch (const Json::exception& error) {
    return InvalidArgument(std::string("truth file: ") + error.what());
  }
}

std::string StatementsCsv(const Truth& truth) {
  std::string out = std::string(kStatementsHeader) + "\n";
  for (const TruthTotal& total : truth.totals) {
    if (total.status != TxnStatus::kSucceeded) continue;
    out += total.business_date.ToString() + "," + total.partner_id + "," +
           std::string(total.currency.code()) + "," + std::to_string(total.txn_count) + "," +
           FormatAmount(total.amount, total.currency.exponent()) + "\n";
  }
  return out;
}

Status WriteTruthDirectory(const Truth& truth, const std::filesystem::path& dir) {
  FH_RETURN_IF_ERROR(EnsureDirectory(dir));
  FH_RETURN_IF_ERROR(WriteFileAtomically(dir / kTruthFileName, TruthJson(truth)));
  return WriteFileAtomically(dir / kStatementsFileName, StatementsCsv(truth));
}

Result<Truth> ReadTruthFile(const std::filesystem::path& path) {
  FH_ASSIGN_OR_RETURN(const std::string text, ReadFile(path, kTruthFileBytesMax));
  auto truth = ParseTruthJson(text);
  if (!truth.ok()) return truth.status().WithContext(path.string());
  return truth;
}

Status AddTruth(const Truth& part, Truth* into) {
  TruthCounts& counts = into->counts;
  counts.transactions += part.counts.transactions;
  counts.events_acked += part.counts.events_acked;
  counts.duplicate_events += part.counts.duplicate_events;
  counts.conflicts += part.counts.conflicts;
  counts.quarantined += part.counts.quarantined;
  counts.sends_planned += part.counts.sends_planned;
  counts.sends_acked += part.counts.sends_acked;
  counts.bad_signatures_sent += part.counts.bad_signatures_sent;
  counts.ambiguous_sends += part.counts.ambiguous_sends;
  for (const auto& [kind, count] : part.counts.acked_by_kind) counts.acked_by_kind[kind] += count;
  for (const auto& [reason, count] : part.quarantined_by_reason) {
    into->quarantined_by_reason[reason] += count;
  }
  into->conflicts.insert(into->conflicts.end(), part.conflicts.begin(), part.conflicts.end());
  into->complete = into->complete && part.complete;

  using Key = std::tuple<BusinessDate, std::string, std::string, std::string>;
  std::map<Key, TruthTotal> totals;
  for (const std::vector<TruthTotal>* rows :
       {static_cast<const std::vector<TruthTotal>*>(&into->totals), &part.totals}) {
    for (const TruthTotal& row : *rows) {
      const Key key{row.business_date, row.partner_id, std::string(row.currency.code()),
                    std::string(TxnStatusName(row.status))};
      auto [at, inserted] = totals.emplace(key, row);
      if (inserted) continue;
      at->second.txn_count += row.txn_count;
      if (!CheckedAdd(at->second.amount, row.amount, &at->second.amount)) {
        return OutOfRange("the truth's total of " + row.partner_id + " " +
                          std::string(row.currency.code()) + " overflows int64");
      }
    }
  }
  into->totals.clear();
  for (auto& [key, row] : totals) into->totals.push_back(std::move(row));
  return Status::Ok();
}

}  // namespace firehose::sim
