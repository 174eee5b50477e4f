#include "sim/truth.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "sim/test_support.h"

namespace firehose::sim {
namespace {

constexpr std::int64_t kHourUs = 3600LL * 1'000'000;

class TruthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fleet = MakeFleet({6, 1});  // 0 p000-stripe, 1 p001-batch, 2 p003-adyen, 3 p004-paypal
    ASSERT_TRUE(fleet.ok());
    fleet_ = std::move(fleet).value();
    plan_.seed = 5;
    plan_.day = day_;
  }

  std::uint32_t AddEvent(std::uint32_t partner, std::uint32_t key, std::string_view currency,
                         std::int64_t amount, TxnStatus status, std::int64_t at_us,
                         std::optional<std::int64_t> version = std::nullopt) {
    SimEvent event;
    event.partner = partner;
    event.key = key;
    event.txn_id = "txn-" + std::to_string(key);
    event.currency = *Currency::FromCode(currency);
    event.amount = AmountMinor(amount);
    event.status = status;
    event.event_time = TimestampUs(at_us);
    event.version = version;
    plan_.events.push_back(event);
    plan_.transactions = std::max<std::int64_t>(plan_.transactions, key + 1);
    return static_cast<std::uint32_t>(plan_.events.size() - 1);
  }

  std::size_t AddSend(SendKind kind, std::uint32_t partner, std::vector<std::uint32_t> events,
                      std::uint8_t phase = 0, std::int64_t copy_of = -1) {
    PlannedSend send;
    send.kind = kind;
    send.partner = partner;
    send.events = std::move(events);
    send.phase = phase;
    send.copy_of = copy_of;
    plan_.sends.push_back(send);
    return plan_.sends.size() - 1;
  }

  TimestampUs Start() const { return calendar_.StartOf(day_); }

  Fleet fleet_;
  Plan plan_;
  BusinessCalendar calendar_;
  BusinessDate day_ = *BusinessDate::Parse("2025-11-27");
};

// Every rule on a case small enough to check by hand.
TEST_F(TruthTest, AppliesTheLedgerRuleToWhatWasAcknowledged) {
  const std::int64_t start = Start().value();
  const std::int64_t end = calendar_.StartOf(day_.AddDays(1)).value();
  const auto e0 = AddEvent(0, 0, "USD", 1000, TxnStatus::kSucceeded, start + 10 * kHourUs);
  const auto e1 = AddEvent(0, 1, "USD", 250, TxnStatus::kFailed, start + 11 * kHourUs);
  const auto e2 = AddEvent(2, 2, "JPY", 500, TxnStatus::kSucceeded, start + 12 * kHourUs, 1);
  const auto e3 = AddEvent(2, 3, "JPY", 700, TxnStatus::kSucceeded, end - 1'000'000, 1);
  const auto e4 = AddEvent(0, 4, "EUR", 99, TxnStatus::kSucceeded, start + 1 * kHourUs);
  const auto e5 =
      AddEvent(0, 0, "USD", 1500, TxnStatus::kSucceeded, start + 10 * kHourUs);  // conflict
  const auto e6 = AddEvent(2, 2, "JPY", 500, TxnStatus::kFailed, start + 12 * kHourUs, 2);  // newer
  const auto e7 = AddEvent(2, 3, "JPY", 700, TxnStatus::kSucceeded, end, 2);  // midnight
  plan_.carriers.push_back(plan_.events[e4]);

  std::vector<bool> acked;
  const auto add = [&](std::size_t send, bool ack) {
    acked.resize(send + 1);
    acked[send] = ack;
  };
  add(AddSend(SendKind::kOriginal, 0, {e0}), true);
  add(AddSend(SendKind::kDuplicate, 0, {e0}, 0, 0), true);
  add(AddSend(SendKind::kOriginal, 0, {e1}), false);  // never acknowledged: not booked
  add(AddSend(SendKind::kOriginal, 2, {e2}), true);
  add(AddSend(SendKind::kOriginal, 2, {e3}), true);
  const std::size_t with_broken_part = AddSend(SendKind::kOriginal, 0, {e4});
  plan_.sends[with_broken_part].malformation = Malformation::kUnknownStatus;
  plan_.sends[with_broken_part].carrier = 0;
  add(with_broken_part, true);
  const std::size_t forged = AddSend(SendKind::kBadSignature, 0, {});
  plan_.sends[forged].carrier = 0;
  plan_.sends[forged].bad_signature = BadSignature::kWrongSecret;
  add(forged, true);  // wrongly acknowledged: still never booked
  add(AddSend(SendKind::kConflict, 0, {e5}, 1), true);
  add(AddSend(SendKind::kUpdate, 2, {e6}, 1), true);
  add(AddSend(SendKind::kMidnight, 2, {e7}, 1), true);
  add(AddSend(SendKind::kLateResend, 2, {e2}, 2, 3), true);
  const std::size_t broken = AddSend(SendKind::kMalformed, 0, {}, 0);
  plan_.sends[broken].malformation = Malformation::kInvalidJson;
  plan_.sends[broken].carrier = 0;
  add(broken, true);

  auto truth = ComputeTruth(fleet_, plan_, acked, calendar_);
  ASSERT_TRUE(truth.ok()) << truth.status().message();
  const BusinessDate next = day_.AddDays(1);
  const auto usd = *Currency::FromCode("USD");
  const auto eur = *Currency::FromCode("EUR");
  const auto jpy = *Currency::FromCode("JPY");
  EXPECT_EQ(truth->totals,
            (std::vector<TruthTotal>{
                {day_, "p000-stripe", eur, TxnStatus::kSucceeded, 1, AmountMinor(99)},
                {day_, "p000-stripe", usd, TxnStatus::kSucceeded, 1, AmountMinor(1000)},
                {day_, "p003-adyen", jpy, TxnStatus::kFailed, 1, AmountMinor(500)},
                {next, "p003-adyen", jpy, TxnStatus::kSucceeded, 1, AmountMinor(700)},
            }));
  ASSERT_EQ(truth->conflicts.size(), 2u);
  EXPECT_EQ(truth->conflicts[0].partner_id, "p000-stripe");
  EXPECT_EQ(truth->conflicts[0].txn_id, "txn-0");
  EXPECT_EQ(truth->conflicts[0].reports, 3);
  EXPECT_EQ(truth->conflicts[0].amount, AmountMinor(1000))
      << "unversioned: the first received wins";
  EXPECT_EQ(truth->conflicts[1].txn_id, "txn-2");
  EXPECT_EQ(truth->conflicts[1].status, TxnStatus::kFailed)
      << "versioned: the greatest version wins";
  EXPECT_EQ(truth->conflicts[1].version, 2);
  EXPECT_EQ(truth->conflicts[1].reports, 3);

  EXPECT_EQ(truth->counts.transactions, 4);
  EXPECT_EQ(truth->counts.events_acked, 9);
  EXPECT_EQ(truth->counts.duplicate_events, 5);
  EXPECT_EQ(truth->counts.conflicts, 2);
  EXPECT_EQ(truth->counts.quarantined, 2);
  EXPECT_EQ(truth->counts.sends_planned, 12);
  EXPECT_EQ(truth->counts.sends_acked, 10);
  EXPECT_EQ(truth->counts.bad_signatures_sent, 1);
  EXPECT_EQ(truth->quarantined_by_reason,
            (std::map<std::string, std::int64_t>{{"invalid_json", 1}, {"unknown_status", 1}}));
  EXPECT_EQ(truth->counts.acked_by_kind, (std::map<std::string, std::int64_t>{{"conflict", 1},
                                                                              {"duplicate", 1},
                                                                              {"late_resend", 1},
                                                                              {"malformed", 1},
                                                                              {"midnight", 1},
                                                                              {"original", 4},
                                                                              {"update", 1}}));
  EXPECT_EQ(StatementsCsv(*truth),
            "business_date,partner_id,currency,txn_count,total\n"
            "2025-11-27,p000-stripe,EUR,1,0.99\n"
            "2025-11-27,p000-stripe,USD,1,10.00\n"
            "2025-11-28,p003-adyen,JPY,1,700\n");
}

TEST_F(TruthTest, ASumBeyondInt64IsAnErrorNotAWrapAround) {
  constexpr std::int64_t kHalf = std::numeric_limits<std::int64_t>::max() / 2 + 1;
  const std::int64_t noon = Start().value() + 12 * kHourUs;
  AddSend(SendKind::kOriginal, 0, {AddEvent(0, 0, "USD", kHalf, TxnStatus::kSucceeded, noon)});
  AddSend(SendKind::kOriginal, 0, {AddEvent(0, 1, "USD", kHalf, TxnStatus::kSucceeded, noon)});
  auto truth = ComputeTruth(fleet_, plan_, {true, true}, calendar_);
  ASSERT_FALSE(truth.ok());
  EXPECT_EQ(truth.status().code(), StatusCode::kOutOfRange);
  truth = ComputeTruth(fleet_, plan_, {true, false}, calendar_);
  ASSERT_TRUE(truth.ok());
  EXPECT_EQ(truth->totals.at(0).amount, AmountMinor(kHalf));
}

// Two truths of disjoint sends add up to the truth of both: the same cell's totals summed,
// other cells kept, counts and reasons added; a sum past int64 is an error.
TEST_F(TruthTest, AddTruthSumsCellsAndCountsOfDisjointSends) {
  const std::int64_t noon = Start().value() + 12 * kHourUs;
  AddSend(SendKind::kOriginal, 0, {AddEvent(0, 0, "USD", 150, TxnStatus::kSucceeded, noon)});
  AddSend(SendKind::kOriginal, 0, {AddEvent(0, 1, "USD", 250, TxnStatus::kSucceeded, noon)});
  AddSend(SendKind::kOriginal, 0, {AddEvent(0, 2, "EUR", 70, TxnStatus::kSucceeded, noon)});
  const auto first = ComputeTruth(fleet_, plan_, {true, false, false}, calendar_);
  const auto second = ComputeTruth(fleet_, plan_, {false, true, true}, calendar_);
  const auto both = ComputeTruth(fleet_, plan_, {true, true, true}, calendar_);
  ASSERT_TRUE(first.ok() && second.ok() && both.ok());
  Truth sum = *first;
  ASSERT_TRUE(AddTruth(*second, &sum).ok());
  EXPECT_EQ(sum.totals, both->totals);
  EXPECT_EQ(sum.counts.transactions, 3);
  EXPECT_EQ(sum.counts.transactions, both->counts.transactions);
  EXPECT_EQ(sum.counts.events_acked, both->counts.events_acked);

  Truth huge = *first;
  huge.totals.at(0).amount = AmountMinor(std::numeric_limits<std::int64_t>::max());
  Truth into = *first;
  EXPECT_EQ(AddTruth(huge, &into).code(), StatusCode::kOutOfRange);
}

TEST_F(TruthTest, TheFileRoundTripsExactlyAboveTwoToThe53) {
  const std::int64_t noon = Start().value() + 12 * kHourUs;
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  AddSend(SendKind::kOriginal, 2, {AddEvent(2, 0, "KWD", big, TxnStatus::kSucceeded, noon, 1)});
  AddSend(SendKind::kUpdate, 2, {AddEvent(2, 0, "KWD", big + 2, TxnStatus::kSucceeded, noon, 2)},
          1);
  auto truth = ComputeTruth(fleet_, plan_, {true, true}, calendar_);
  ASSERT_TRUE(truth.ok());
  truth->counts.ambiguous_sends = 3;
  truth->complete = false;
  const std::string json = TruthJson(*truth);
  EXPECT_NE(json.find("9007199254740995"), std::string::npos) << json;
  EXPECT_NE(json.find("\"amount\": \"9007199254740.995\""), std::string::npos) << json;
  auto parsed = ParseTruthJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(*parsed, *truth);

  testing::TempDir dir;
  ASSERT_TRUE(WriteTruthDirectory(*truth, dir.path() / "out").ok());
  auto read = ReadTruthFile(dir.path() / "out" / kTruthFileName);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(*read, *truth);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / kStatementsFileName));
  EXPECT_FALSE(ParseTruthJson(R"({"format":"other"})").ok());
  EXPECT_FALSE(ParseTruthJson("{").ok());
}

TEST(TruthOfAPlanTest, AGeneratedDayBooksEveryTransactionOnceAndCountsItsFaults) {
  testing::TempDir dir;
  const auto loaded = testing::WriteAndLoad(dir, 12);
  GeneratorOptions options;
  options.seed = 3;
  options.transactions = 3000;
  options.day = *BusinessDate::Parse("2025-11-27");
  options.faults = DefaultFaults();
  options.faults.midnight_ppm = 50'000;  // enough midnight resends to reach both neighbouring days
  auto plan = GeneratePlan(loaded.fleet, options);
  ASSERT_TRUE(plan.ok());
  auto truth = ComputeTruth(loaded.fleet, *plan, std::vector<bool>(plan->sends.size(), true),
                            options.calendar);
  ASSERT_TRUE(truth.ok()) << truth.status().message();
  std::int64_t conflicting = 0;
  std::int64_t broken = 0;
  std::int64_t mapped = 0;
  for (const PlannedSend& send : plan->sends) {
    conflicting += send.kind == SendKind::kConflict || send.kind == SendKind::kUpdate;
    broken += send.malformation.has_value();
    if (send.bad_signature == BadSignature::kNone) {
      mapped += static_cast<std::int64_t>(send.events.size());
    }
  }
  EXPECT_EQ(truth->counts.transactions, 3000);
  EXPECT_EQ(truth->counts.conflicts, conflicting);
  EXPECT_EQ(truth->counts.quarantined, broken);
  EXPECT_EQ(truth->counts.events_acked, mapped);
  std::int64_t booked = 0;
  std::set<BusinessDate> dates;
  for (const TruthTotal& total : truth->totals) {
    booked += total.txn_count;
    dates.insert(total.business_date);
  }
  EXPECT_EQ(booked, 3000);
  EXPECT_EQ(dates.size(), 3u)
      << "midnight resends of versioned partners book on the days either side";
}

}  // namespace
}  // namespace firehose::sim
