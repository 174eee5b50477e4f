#include "sim/generator.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <set>

#include "core/check.h"
#include "sim/random.h"

namespace firehose::sim {

namespace {

constexpr std::int64_t kPartsPerMillion = 1'000'000;
constexpr std::int64_t kMillisUs = 1'000;
constexpr std::int64_t kSecondUs = 1'000'000;
// Midnight faults put the original 100 ms from the day's edge and the resend 100 ms past it.
constexpr std::int64_t kMidnightMarginUs = 100 * kMillisUs;
constexpr std::int64_t kBigAmountsMax = 8;
constexpr std::int64_t kBigAmountBase = std::int64_t{1} << 53;
constexpr std::int64_t kBigAmountSpread = std::int64_t{1} << 40;
constexpr std::int64_t kPaypalUpdateDelayMaxUs = 600 * kSecondUs;
// Carriers (malformed parts, forged bodies) use transaction numbers far above real ones, so their
// ids never collide with a booked transaction's.
constexpr std::int64_t kCarrierNumberBase = 9'000'000'000;

struct FaultSpec {
  std::string_view name;
  std::uint32_t FaultRates::*field;
  std::uint32_t default_ppm;
};

constexpr std::array<FaultSpec, 7> kFaultSpecs = {{
    {"duplicate", &FaultRates::duplicate_ppm, 30'000},
    {"late", &FaultRates::late_ppm, 10'000},
    {"conflict", &FaultRates::conflict_ppm, 5'000},
    {"update", &FaultRates::update_ppm, 10'000},
    {"midnight", &FaultRates::midnight_ppm, 2'000},
    {"malformed", &FaultRates::malformed_ppm, 5'000},
    {"bad_signature", &FaultRates::bad_signature_ppm, 2'000},
}};

// Parses "0.02" or "2%" into parts per million, exactly (no floating point).
std::optional<std::uint32_t> ParseRatePpm(std::string_view text) {
  bool percent = false;
  if (!text.empty() && text.back() == '%') {
    percent = true;
    text.remove_suffix(1);
  }
  const int scale_digits = percent ? 4 : 6;  // 1% = 10^4 ppm, 1.0 = 10^6 ppm
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 3 ||
      fraction.size() > static_cast<std::size_t>(scale_digits)) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  for (int i = 0; i < scale_digits; ++i) {
    const char c = i < static_cast<int>(fraction.size()) ? fraction[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > kPartsPerMillion) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

// round(base * ppm / 10^6), and at least one when the fault is on and there is something to
// apply it to (small demo runs still show every fault).
std::int64_t CountFor(std::uint32_t ppm, std::int64_t base) {
  if (ppm == 0 || base <= 0) return 0;
  const std::int64_t count =
      (base * static_cast<std::int64_t>(ppm) + kPartsPerMillion / 2) / kPartsPerMillion;
  return std::max<std::int64_t>(1, count);
}

std::string Base36(std::int64_t value, std::size_t width) {
  static constexpr std::string_view kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[static_cast<std::size_t>(value % 36)]);
    value /= 36;
  } while (value > 0);
  if (out.size() < width) out.insert(0, width - out.size(), '0');
  return out;
}

std::string Padded(std::int64_t value, std::size_t width) {
  std::string digits = std::to_string(value);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

// Picks `count` distinct elements of `pool` (partial Fisher-Yates; `pool` is reordered).
std::vector<std::uint32_t> Choose(std::vector<std::uint32_t>* pool, std::int64_t count,
                                  SimRandom* random) {
  const std::size_t take = static_cast<std::size_t>(
      std::min<std::int64_t>(count, static_cast<std::int64_t>(pool->size())));
  for (std::size_t i = 0; i < take; ++i) {
    const std::size_t j = i + random->Below(pool->size() - i);
    std::swap((*pool)[i], (*pool)[j]);
  }
  std::vector<std::uint32_t> chosen(pool->begin(),
                                    pool->begin() + static_cast<std::ptrdiff_t>(take));
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

class Generator {
 public:
  Generator(const Fleet& fleet, const GeneratorOptions& options)
      : fleet_(fleet),
        options_(options),
        partner_random_(SimRandom::Stream(options.seed, "partner")),
        content_random_(SimRandom::Stream(options.seed, "content")),
        fault_random_(SimRandom::Stream(options.seed, "fault")),
        id_random_(SimRandom::Stream(options.seed, "id")),
        batch_random_(SimRandom::Stream(options.seed, "batch")) {}

  Result<Plan> Run() {
    FH_RETURN_IF_ERROR(Validate());
    plan_.seed = options_.seed;
    plan_.day = options_.day;
    plan_.transactions = options_.transactions;
    day_start_ = options_.calendar.StartOf(options_.day);
    day_end_ = options_.calendar.StartOf(options_.day.AddDays(1));
    run_tag_ = SimRandom::Stream(options_.seed, "run_tag").Text(kAlphanumeric, 6);
    run_number_ =
        static_cast<std::int64_t>(SimRandom::Stream(options_.seed, "run_number").Below(900'000)) +
        100'000;
    BuildZipf();
    MakeTransactions();
    MakeBigAmounts();
    PlanVersionFaults();
    BuildOriginalSends();
    AttachAndPlanExtras();
    EmitPhaseZero();
    EmitPhaseOne();
    EmitPhaseTwo();
    return std::move(plan_);
  }

 private:
  Status Validate() const {
    if (fleet_.partners.empty()) return InvalidArgument("the fleet has no partners");
    if (options_.transactions < 1 || options_.transactions > kTransactionsMax) {
      return InvalidArgument("--events must be in 1.." + std::to_string(kTransactionsMax));
    }
    if (options_.batch_events_max < 1) return InvalidArgument("the batch size must be at least 1");
    return Status::Ok();
  }

  // Zipf weights 1/rank^1.5 in integers (rank = partner ordinal + 1): a few partners carry most
  // of the volume. Integer arithmetic keeps the draw identical on every platform.
  void BuildZipf() {
    std::uint64_t total = 0;
    for (std::size_t rank = 1; rank <= fleet_.partners.size(); ++rank) {
      const std::uint64_t cube = static_cast<std::uint64_t>(rank) * rank * rank;
      std::uint64_t root = 0;  // floor(sqrt(cube << 20)) = rank^1.5 * 2^10, rounded down
      const std::uint64_t target = cube << 20;
      for (std::uint64_t bit = std::uint64_t{1} << 31; bit > 0; bit >>= 1) {
        if ((root | bit) * (root | bit) <= target) root |= bit;
      }
      total += (std::uint64_t{1} << 40) / root;
      zipf_cumulative_.push_back(total);
    }
  }

  std::uint32_t DrawPartner(SimRandom* random) const {
    const std::uint64_t point = random->Below(zipf_cumulative_.back());
    return static_cast<std::uint32_t>(
        std::upper_bound(zipf_cumulative_.begin(), zipf_cumulative_.end(), point) -
        zipf_cumulative_.begin());
  }

  Shape ShapeOf(std::uint32_t partner) const { return fleet_.partners[partner].shape; }

  std::string TxnIdFor(Shape shape, std::int64_t number) const {
    number += options_.txn_number_base;
    switch (shape) {
      case Shape::kStripe:
        return "ch_" + run_tag_ + Base36(number, 8);
      case Shape::kBatch:
      case Shape::kBatchUnixMs:
        return "tx_" + run_tag_ + "_" + Padded(number, 10);
      case Shape::kAdyen:
        return std::to_string(run_number_) + Padded(number, 10);  // 16 digits
      case Shape::kPaypal:
        return "PAY" + run_tag_ + "X" + Base36(number, 10);
    }
    return std::to_string(number);
  }

  std::string DeliveryId(Shape shape) {
    switch (shape) {
      case Shape::kStripe:
        return "evt_" + id_random_.Text(kAlphanumeric, 24);
      case Shape::kPaypal:
        return "WH-" + id_random_.Text("0123456789ABCDEFGHJKLMNPRSTUVWXY", 17);
      case Shape::kAdyen:
        return id_random_.Text(kLowerHex, 12);
      default:
        return {};
    }
  }

  AmountMinor RandomAmount(const Currency& currency) {
    const int exponent = currency.exponent();
    // Decades of major units: yen amounts are larger numbers, dinar amounts smaller.
    const int decade_min = exponent == 0 ? 2 : 0;
    const int decade_max = exponent == 0 ? 5 : exponent == 3 ? 2 : 3;
    const int decade = static_cast<int>(content_random_.Between(decade_min, decade_max));
    std::int64_t low = 1;
    for (int i = 0; i < decade; ++i) low *= 10;
    std::int64_t minor_per_major = 1;
    for (int i = 0; i < exponent; ++i) minor_per_major *= 10;
    const std::int64_t major = content_random_.Between(low, low * 10 - 1);
    return AmountMinor(major * minor_per_major + content_random_.Between(0, minor_per_major - 1));
  }

  TxnStatus RandomStatus(Shape shape) {
    // Per mille: succeeded 850, failed 90, pending 40, refunded 15, canceled 5 (where the shape
    // has them; the rest falls to succeeded).
    static constexpr std::array<std::pair<TxnStatus, int>, 4> kOthers = {
        {{TxnStatus::kFailed, 90},
         {TxnStatus::kPending, 40},
         {TxnStatus::kRefunded, 15},
         {TxnStatus::kCanceled, 5}}};
    std::int64_t draw = content_random_.Between(0, 999);
    for (const auto& [status, per_mille] : kOthers) {
      if (draw < per_mille) {
        return PartnerStatusValue(shape, status) ? status : TxnStatus::kSucceeded;
      }
      draw -= per_mille;
    }
    return TxnStatus::kSucceeded;
  }

  std::string ErrorCodeFor(Shape shape, TxnStatus status, SimRandom* random) {
    if (status != TxnStatus::kFailed || MappingFor(shape)->error_code_pointer.empty()) return {};
    static constexpr std::array<std::string_view, 3> kStripe = {
        "card_declined", "insufficient_funds", "expired_card"};
    static constexpr std::array<std::string_view, 3> kBatch = {"do_not_honor", "insufficient_funds",
                                                               "stolen_card"};
    static constexpr std::array<std::string_view, 3> kAdyen = {"Refused", "Not enough balance",
                                                               "Expired Card"};
    const auto& codes = shape == Shape::kStripe  ? kStripe
                        : shape == Shape::kAdyen ? kAdyen
                                                 : kBatch;
    return std::string(codes[random->Below(codes.size())]);
  }

  TimestampUs Quantize(Shape shape, std::int64_t micros) const {
    const std::int64_t precision = InfoOf(shape).time_precision_us;
    return TimestampUs(micros - micros % precision);
  }

  SimEvent RandomEvent(std::uint32_t partner, std::int64_t number) {
    const SimPartner& simulated = fleet_.partners[partner];
    const Shape shape = simulated.shape;
    SimEvent event;
    event.partner = partner;
    event.txn_id = TxnIdFor(shape, number);
    const bool main_currency = simulated.currencies.size() < 2 || content_random_.Below(5) != 0;
    event.currency = simulated.currencies[main_currency ? 0 : 1];
    event.amount = RandomAmount(event.currency);
    event.status = RandomStatus(shape);
    event.error_code = ErrorCodeFor(shape, event.status, &content_random_);
    const std::int64_t offset = static_cast<std::int64_t>(
        content_random_.Below(static_cast<std::uint64_t>(day_end_.value() - day_start_.value())));
    event.event_time = Quantize(shape, day_start_.value() + offset);
    if (shape == Shape::kAdyen) event.version = 1;
    if (shape == Shape::kPaypal) {
      const std::int64_t delay = content_random_.Between(0, kPaypalUpdateDelayMaxUs);
      event.version = Quantize(shape, event.event_time.value() + delay).value();
    }
    event.delivery_id = DeliveryId(shape);
    return event;
  }

  void MakeTransactions() {
    plan_.events.reserve(static_cast<std::size_t>(options_.transactions));
    for (std::int64_t key = 0; key < options_.transactions; ++key) {
      SimEvent event = RandomEvent(DrawPartner(&partner_random_), key);
      event.key = static_cast<std::uint32_t>(key);
      plan_.events.push_back(std::move(event));
    }
  }

  void MakeBigAmounts() {
    const std::int64_t wanted = options_.big_amounts >= 0
                                    ? options_.big_amounts
                                    : std::min(kBigAmountsMax, options_.transactions / 200);
    std::vector<std::uint32_t> pool = AllKeys();
    for (std::uint32_t key : Choose(&pool, wanted, &fault_random_)) {
      plan_.events[key].amount = AmountMinor(
          kBigAmountBase + static_cast<std::int64_t>(fault_random_.Below(kBigAmountSpread)) + 1);
      ++plan_.big_amounts;
    }
  }

  std::vector<std::uint32_t> AllKeys() const {
    std::vector<std::uint32_t> keys(static_cast<std::size_t>(options_.transactions));
    for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<std::uint32_t>(i);
    return keys;
  }

  std::vector<std::uint32_t> FreeKeys(std::optional<bool> versioned) const {
    std::vector<std::uint32_t> keys;
    for (std::uint32_t key = 0; key < options_.transactions; ++key) {
      if (taken_.count(key) != 0) continue;
      if (versioned && InfoOf(ShapeOf(plan_.events[key].partner)).versioned != *versioned) continue;
      keys.push_back(key);
    }
    return keys;
  }

  // A second report of `original` whose amount or status differs (alternating).
  SimEvent Changed(const SimEvent& original, std::int64_t variant) {
    SimEvent changed = original;
    const Shape shape = ShapeOf(original.partner);
    changed.delivery_id = DeliveryId(shape);
    if (variant % 2 == 0) {
      changed.amount = AmountMinor(original.amount.value() + fault_random_.Between(1, 999));
      return changed;
    }
    std::vector<TxnStatus> others;
    for (TxnStatus status : StatusesOf(shape)) {
      if (status != original.status) others.push_back(status);
    }
    changed.status = others[fault_random_.Below(others.size())];
    changed.error_code = ErrorCodeFor(shape, changed.status, &fault_random_);
    return changed;
  }

  // A version greater than `event`'s: the next integer, or a later updated_at.
  std::int64_t NextVersion(const SimEvent& event) {
    FH_CHECK(event.version.has_value(), "a versioned shape's event has a version");
    if (ShapeOf(event.partner) == Shape::kAdyen) return *event.version + 1;
    return *event.version + fault_random_.Between(1, 3600) * kSecondUs;
  }

  void PlanVersionFaults() {
    const FaultRates& faults = options_.faults;
    std::vector<std::uint32_t> pool = FreeKeys(std::nullopt);
    std::int64_t variant = 0;
    for (std::uint32_t key :
         Choose(&pool, CountFor(faults.midnight_ppm, options_.transactions), &fault_random_)) {
      taken_.insert(key);
      PlanMidnight(key, variant++);
    }
    pool = FreeKeys(false);
    variant = 0;
    for (std::uint32_t key :
         Choose(&pool, CountFor(faults.conflict_ppm, options_.transactions), &fault_random_)) {
      taken_.insert(key);
      phase_one_.push_back({SendKind::kConflict, key, Changed(plan_.events[key], variant++)});
    }
    pool = FreeKeys(true);
    variant = 0;
    for (std::uint32_t key :
         Choose(&pool, CountFor(faults.update_ppm, options_.transactions), &fault_random_)) {
      taken_.insert(key);
      PlanUpdate(key, variant++);
    }
    std::sort(phase_one_.begin(), phase_one_.end(),
              [](const Resend& a, const Resend& b) { return a.key < b.key; });
  }

  // Even variants: the original at 23:59:59.9 on the day, the resend at 00:00:00.1 the next
  // day; odd variants: the original at 00:00:00.1 on the day, the resend at 23:59:59.9 the day
  // before. Versioned partners give the resend a greater version (so it is the one booked).
  void PlanMidnight(std::uint32_t key, std::int64_t variant) {
    SimEvent& original = plan_.events[key];
    const Shape shape = ShapeOf(original.partner);
    const bool late_edge = variant % 2 == 0;
    const std::int64_t edge = late_edge ? day_end_.value() : day_start_.value();
    original.event_time =
        Quantize(shape, late_edge ? edge - kMidnightMarginUs : edge + kMidnightMarginUs);
    if (shape == Shape::kPaypal) original.version = original.event_time.value();
    SimEvent resend = original;
    resend.delivery_id = DeliveryId(shape);
    resend.event_time =
        Quantize(shape, late_edge ? edge + kMidnightMarginUs : edge - kMidnightMarginUs);
    if (original.version) resend.version = NextVersion(original);
    phase_one_.push_back({SendKind::kMidnight, key, std::move(resend)});
  }

  // The second version differs in amount or status. Even variants deliver the newer version
  // second; odd ones deliver it first, so that "greatest version wins" is tested against
  // "last received wins".
  void PlanUpdate(std::uint32_t key, std::int64_t variant) {
    SimEvent older = plan_.events[key];
    SimEvent newer = Changed(older, variant / 2);
    newer.version = NextVersion(older);
    if (variant % 2 == 0) {
      phase_one_.push_back({SendKind::kUpdate, key, std::move(newer)});
      return;
    }
    older.delivery_id = DeliveryId(ShapeOf(older.partner));
    plan_.events[key] = std::move(newer);
    phase_one_.push_back({SendKind::kUpdate, key, std::move(older)});
  }

  std::string MessageId(std::uint32_t partner) {
    if (InfoOf(ShapeOf(partner)).scheme != SignatureScheme::kStandardWebhooks) return {};
    return "msg_" + id_random_.Text(kAlphanumeric, 24);
  }

  // Originals in event-time order; batched partners fill bodies of 1..batch_events_max events.
  void BuildOriginalSends() {
    std::vector<std::uint32_t> order = AllKeys();
    std::stable_sort(order.begin(), order.end(), [this](std::uint32_t a, std::uint32_t b) {
      return plan_.events[a].event_time < plan_.events[b].event_time;
    });
    std::map<std::uint32_t, std::pair<std::size_t, std::size_t>> open;  // partner -> (send, target)
    for (std::uint32_t key : order) {
      const std::uint32_t partner = plan_.events[key].partner;
      if (!InfoOf(ShapeOf(partner)).batched) {
        originals_.push_back(NewSend(SendKind::kOriginal, partner, {key}));
        continue;
      }
      auto found = open.find(partner);
      if (found == open.end()) {
        const auto target =
            static_cast<std::size_t>(batch_random_.Between(1, options_.batch_events_max));
        originals_.push_back(NewSend(SendKind::kOriginal, partner, {}));
        found = open.emplace(partner, std::make_pair(originals_.size() - 1, target)).first;
      }
      PlannedSend& send = originals_[found->second.first];
      send.events.push_back(key);
      if (send.events.size() >= found->second.second) open.erase(found);
    }
  }

  PlannedSend NewSend(SendKind kind, std::uint32_t partner, std::vector<std::uint32_t> events) {
    PlannedSend send;
    send.kind = kind;
    send.partner = partner;
    send.events = std::move(events);
    return send;
  }

  std::uint32_t NewCarrier(std::uint32_t partner, std::string_view marker) {
    SimEvent carrier =
        RandomEvent(partner, kCarrierNumberBase + static_cast<std::int64_t>(plan_.carriers.size()));
    if (ShapeOf(partner) != Shape::kAdyen) {
      const std::size_t underscore = carrier.txn_id.find('_');
      carrier.txn_id.insert(underscore == std::string::npos ? 0 : underscore + 1,
                            std::string(marker) + "_");
    }
    plan_.carriers.push_back(std::move(carrier));
    return static_cast<std::uint32_t>(plan_.carriers.size() - 1);
  }

  // Malformed parts go into an original batch of their partner when they break one element, or
  // into a body of their own; bad-signature bodies always stand alone. Duplicated and late sends
  // are chosen among originals (a copy of a batch with a broken element is quarantined again).
  void AttachAndPlanExtras() {
    const FaultRates& faults = options_.faults;
    std::map<std::uint32_t, std::vector<std::size_t>> batches_of_partner;
    for (std::size_t i = 0; i < originals_.size(); ++i) {
      if (InfoOf(ShapeOf(originals_[i].partner)).batched) {
        batches_of_partner[originals_[i].partner].push_back(i);
      }
    }
    std::map<std::uint32_t, std::size_t> malformed_of_partner;
    const std::int64_t malformed = CountFor(faults.malformed_ppm, options_.transactions);
    for (std::int64_t k = 0; k < malformed; ++k) {
      const std::uint32_t partner = DrawPartner(&fault_random_);
      const auto& kinds = MalformationsFor(ShapeOf(partner));
      const Malformation malformation = kinds[malformed_of_partner[partner]++ % kinds.size()];
      const std::uint32_t carrier = NewCarrier(partner, "bad");
      auto& batches = batches_of_partner[partner];
      if (!BreaksWholeBody(malformation) && !batches.empty()) {
        const std::size_t pick = fault_random_.Below(batches.size());
        PlannedSend& host = originals_[batches[pick]];
        // One broken part per body: the host leaves the list of candidates.
        batches.erase(batches.begin() + static_cast<std::ptrdiff_t>(pick));
        host.malformation = malformation;
        host.carrier = carrier;
        continue;
      }
      PlannedSend send = NewSend(SendKind::kMalformed, partner, {});
      send.malformation = malformation;
      send.carrier = carrier;
      AddExtra(std::move(send));
    }
    const std::int64_t forged = CountFor(faults.bad_signature_ppm, options_.transactions);
    for (std::int64_t k = 0; k < forged; ++k) {
      const std::uint32_t partner = DrawPartner(&fault_random_);
      PlannedSend send = NewSend(SendKind::kBadSignature, partner, {});
      send.carrier = NewCarrier(partner, "forged");
      send.bad_signature = static_cast<BadSignature>(1 + k % 3);
      AddExtra(std::move(send));
    }
    std::vector<std::uint32_t> pool(originals_.size());
    for (std::size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<std::uint32_t>(i);
    for (std::uint32_t index :
         Choose(&pool, CountFor(faults.duplicate_ppm, static_cast<std::int64_t>(originals_.size())),
                &fault_random_)) {
      // Mostly one copy; one in ten is a small storm of two or three.
      duplicate_copies_[index] =
          fault_random_.Below(10) == 0 ? static_cast<int>(fault_random_.Between(2, 3)) : 1;
    }
    for (std::size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<std::uint32_t>(i);
    late_ = Choose(&pool, CountFor(faults.late_ppm, static_cast<std::int64_t>(originals_.size())),
                   &fault_random_);
  }

  void AddExtra(PlannedSend send) {
    const std::size_t position = fault_random_.Below(originals_.size() + 1);
    extras_.emplace(position, std::move(send));
  }

  std::size_t Emit(PlannedSend send, std::uint8_t phase) {
    send.phase = phase;
    if (send.message_id.empty() && send.copy_of < 0) send.message_id = MessageId(send.partner);
    plan_.sends.push_back(std::move(send));
    return plan_.sends.size() - 1;
  }

  void EmitExtrasAt(std::size_t position) {
    const auto [begin, end] = extras_.equal_range(position);
    for (auto it = begin; it != end; ++it) Emit(std::move(it->second), 0);
  }

  void EmitPhaseZero() {
    send_of_key_.assign(static_cast<std::size_t>(options_.transactions), 0);
    final_index_.resize(originals_.size());
    for (std::size_t i = 0; i < originals_.size(); ++i) {
      EmitExtrasAt(i);
      const std::size_t index = Emit(std::move(originals_[i]), 0);
      final_index_[i] = index;
      for (std::uint32_t key : plan_.sends[index].events) send_of_key_[key] = index;
      const auto copies = duplicate_copies_.find(i);
      for (int copy = 0; copies != duplicate_copies_.end() && copy < copies->second; ++copy) {
        EmitCopy(SendKind::kDuplicate, index, 0);
      }
    }
    EmitExtrasAt(originals_.size());
  }

  void EmitCopy(SendKind kind, std::size_t source, std::uint8_t phase) {
    PlannedSend copy = NewSend(kind, plan_.sends[source].partner, plan_.sends[source].events);
    copy.copy_of = static_cast<std::int64_t>(source);
    copy.malformation = plan_.sends[source].malformation;
    copy.carrier = plan_.sends[source].carrier;
    copy.message_id = plan_.sends[source].message_id;
    Emit(std::move(copy), phase);
  }

  void EmitPhaseOne() {
    for (Resend& resend : phase_one_) {
      const std::uint32_t partner = resend.event.partner;
      plan_.events.push_back(std::move(resend.event));
      plan_.events.back().key = resend.key;
      PlannedSend send =
          NewSend(resend.kind, partner, {static_cast<std::uint32_t>(plan_.events.size() - 1)});
      send.depends_on = static_cast<std::int64_t>(send_of_key_[resend.key]);
      Emit(std::move(send), 1);
    }
  }

  void EmitPhaseTwo() {
    for (std::uint32_t original : late_) EmitCopy(SendKind::kLateResend, final_index_[original], 2);
  }

  struct Resend {
    SendKind kind;
    std::uint32_t key;
    SimEvent event;
  };

  const Fleet& fleet_;
  const GeneratorOptions& options_;
  SimRandom partner_random_;
  SimRandom content_random_;
  SimRandom fault_random_;
  SimRandom id_random_;
  SimRandom batch_random_;
  Plan plan_;
  TimestampUs day_start_;
  TimestampUs day_end_;
  std::string run_tag_;
  std::int64_t run_number_ = 0;
  std::vector<std::uint64_t> zipf_cumulative_;
  std::set<std::uint32_t> taken_;  // keys that already carry a version fault
  std::vector<Resend> phase_one_;
  std::vector<PlannedSend> originals_;
  std::multimap<std::size_t, PlannedSend> extras_;  // inserted before originals_[position]
  std::map<std::size_t, int> duplicate_copies_;     // originals_ index -> copies
  std::vector<std::uint32_t> late_;                 // originals_ indices
  std::vector<std::size_t> send_of_key_;            // key -> final index of its original send
  std::vector<std::size_t> final_index_;            // originals_ index -> final index
};

}  // namespace

FaultRates DefaultFaults() {
  FaultRates faults;
  for (const FaultSpec& spec : kFaultSpecs) faults.*spec.field = spec.default_ppm;
  return faults;
}

Result<FaultRates> ParseFaults(std::string_view list) {
  if (list == "none") return FaultRates{};
  if (list == "default" || list.empty()) return DefaultFaults();
  FaultRates faults;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const std::size_t equals = item.find('=');
    const std::string_view name = item.substr(0, equals);
    const FaultSpec* spec = nullptr;
    for (const FaultSpec& candidate : kFaultSpecs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      return InvalidArgument(
          "unknown fault '" + std::string(name) +
          "' (none, default, duplicate, late, conflict, update, midnight, malformed, "
          "bad_signature)");
    }
    if (equals == std::string_view::npos) {
      faults.*spec->field = spec->default_ppm;
      continue;
    }
    const auto rate = ParseRatePpm(item.substr(equals + 1));
    if (!rate) {
      return InvalidArgument("fault rate '" + std::string(item.substr(equals + 1)) +
                             "' is not a fraction in 0..1 (\"0.02\") or a percentage (\"2%\")");
    }
    faults.*spec->field = *rate;
  }
  return faults;
}

std::string DescribeFaults(const FaultRates& faults) {
  std::string out;
  for (const FaultSpec& spec : kFaultSpecs) {
    const std::uint32_t ppm = faults.*spec.field;
    if (ppm == 0) continue;
    std::string fraction = std::to_string(kPartsPerMillion + ppm).substr(1);  // 6 digits
    while (fraction.size() > 1 && fraction.back() == '0') fraction.pop_back();
    if (!out.empty()) out += ',';
    out += std::string(spec.name) + "=" + (ppm == kPartsPerMillion ? "1" : "0." + fraction);
  }
  return out.empty() ? "none" : out;
}

std::string_view SendKindName(SendKind kind) {
  static constexpr std::array<std::string_view, kSendKindCount> kNames = {
      "original", "duplicate", "late_resend", "conflict",
      "update",   "midnight",  "malformed",   "bad_signature"};
  return kNames[static_cast<std::size_t>(kind)];
}

std::string_view BadSignatureName(BadSignature kind) {
  switch (kind) {
    case BadSignature::kNone:
      return "none";
    case BadSignature::kWrongSecret:
      return "wrong_secret";
    case BadSignature::kTamperedBody:
      return "tampered_body";
    case BadSignature::kStaleTimestamp:
      return "stale_timestamp";
  }
  return "?";
}

Result<Plan> GeneratePlan(const Fleet& fleet, const GeneratorOptions& options) {
  return Generator(fleet, options).Run();
}

std::string RenderBody(const Fleet& fleet, const Plan& plan, std::size_t send_index) {
  const PlannedSend* send = &plan.sends.at(send_index);
  while (send->copy_of >= 0) send = &plan.sends.at(static_cast<std::size_t>(send->copy_of));
  const Shape shape = fleet.partners.at(send->partner).shape;
  std::vector<std::string> elements;
  elements.reserve(send->events.size() + 1);
  for (std::uint32_t event : send->events) {
    elements.push_back(RenderEvent(shape, plan.events.at(event)));
  }
  if (send->carrier >= 0) {
    const SimEvent& carrier = plan.carriers.at(static_cast<std::size_t>(send->carrier));
    if (!send->malformation) {
      elements.push_back(RenderEvent(shape, carrier));
    } else if (BreaksWholeBody(*send->malformation)) {
      return BreakBody(WrapBody(shape, {RenderEvent(shape, carrier)}), *send->malformation);
    } else {
      elements.push_back(RenderMalformedEvent(shape, carrier, *send->malformation));
    }
  }
  return WrapBody(shape, elements);
}

Plan SelectPartners(const Plan& plan, const std::vector<bool>& keep) {
  Plan part;
  part.seed = plan.seed;
  part.day = plan.day;
  part.transactions = plan.transactions;
  part.events = plan.events;
  part.carriers = plan.carriers;
  part.big_amounts = plan.big_amounts;
  std::vector<std::int64_t> renumbered(plan.sends.size(), -1);
  const auto kept_index = [&renumbered](std::int64_t index) -> std::int64_t {
    if (index < 0) return -1;
    const std::int64_t kept = renumbered.at(static_cast<std::size_t>(index));
    FH_CHECK(kept >= 0, "a copy or resend belongs to the partner of the send it follows");
    return kept;
  };
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    if (!keep.at(send.partner)) continue;
    PlannedSend copy = send;
    copy.copy_of = kept_index(send.copy_of);
    copy.depends_on = kept_index(send.depends_on);
    renumbered[i] = static_cast<std::int64_t>(part.sends.size());
    part.sends.push_back(std::move(copy));
  }
  return part;
}

ExpectedAnswer Expect(const Plan& plan, std::size_t send_index) {
  const PlannedSend& send = plan.sends.at(send_index);
  ExpectedAnswer answer;
  if (send.bad_signature != BadSignature::kNone) {
    answer.http_status = 401;
    return answer;
  }
  answer.events = send.events.size();
  if (send.malformation) answer.quarantine_reasons.push_back(ReasonOf(*send.malformation));
  return answer;
}

std::vector<PhaseRange> Phases(const Plan& plan) {
  std::vector<PhaseRange> phases(kPhaseCount);
  std::size_t index = 0;
  for (int phase = 0; phase < kPhaseCount; ++phase) {
    phases[phase].begin = index;
    while (index < plan.sends.size() && plan.sends[index].phase == phase) ++index;
    phases[phase].end = index;
  }
  FH_CHECK(index == plan.sends.size(), "plan sends are grouped by phase");
  return phases;
}

}  // namespace firehose::sim
