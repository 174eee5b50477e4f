#include "sim/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "core/mapping.h"
#include "edge/signature.h"
#include "sim/sender.h"
#include "sim/test_support.h"
#include "sim/truth.h"

namespace firehose::sim {
namespace {

using testing::TempDir;
using testing::WriteAndLoad;

FaultRates HeavyFaults() {
  auto faults = ParseFaults(
      "duplicate=0.1,late=0.05,conflict=0.1,update=0.1,midnight=5%,malformed=0.1,bad_signature=0."
      "05");
  FH_CHECK(faults.ok(), "heavy faults parse");
  return *faults;
}

class GeneratorTest : public ::testing::Test {
 protected:
  GeneratorOptions Options(std::int64_t transactions, FaultRates faults,
                           std::uint64_t seed = 11) const {
    GeneratorOptions options;
    options.seed = seed;
    options.transactions = transactions;
    options.day = day_;
    options.calendar = loaded_.config.lake.calendar;
    options.faults = faults;
    options.batch_events_max = 5;
    options.big_amounts = 4;
    return options;
  }

  Plan Generate(const GeneratorOptions& options) const {
    auto plan = GeneratePlan(loaded_.fleet, options);
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    FH_CHECK(plan.ok(), "GeneratePlan failed");
    return std::move(plan).value();
  }

  const PartnerConfig& Configured(const PlannedSend& send) const {
    const PartnerConfig* partner =
        loaded_.config.FindPartner(loaded_.fleet.partners[send.partner].id.view());
    FH_CHECK(partner != nullptr, "every simulated partner is in the config");
    return *partner;
  }

  TempDir dir_;
  testing::ConfiguredFleet loaded_ = WriteAndLoad(dir_, 12, 7);
  BusinessDate day_ = *BusinessDate::Parse("2025-11-27");
};

TEST_F(GeneratorTest, EveryBodyMapsThroughTheConfiguredMappingToTheEventsThePlanIntends) {
  const Plan plan = Generate(Options(600, HeavyFaults()));
  Mapper mapper(loaded_.config.limits);
  std::set<std::string> reasons_seen;
  std::set<SendKind> kinds_seen;
  std::int64_t big_amounts_seen = 0;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    kinds_seen.insert(send.kind);
    const PartnerConfig& partner = Configured(send);
    const std::string body = RenderBody(loaded_.fleet, plan, i);
    const MappedArrival arrival = mapper.Map(partner.id, *partner.mapping, body);
    const ExpectedAnswer expected = Expect(plan, i);
    if (send.bad_signature != BadSignature::kNone) {
      EXPECT_EQ(expected.http_status, 401);
      EXPECT_EQ(arrival.events.size(), 1u) << "a forged body is otherwise valid: " << body;
      continue;
    }
    ASSERT_EQ(arrival.events.size(), expected.events) << body;
    for (std::size_t k = 0; k < arrival.events.size(); ++k) {
      const CanonicalEvent& mapped = arrival.events[k].event;
      const SimEvent& intended = plan.events[send.events[k]];
      EXPECT_EQ(mapped.partner_id, partner.id);
      EXPECT_EQ(mapped.txn_id.str(), intended.txn_id) << body;
      EXPECT_EQ(mapped.amount, intended.amount) << body;
      EXPECT_EQ(mapped.currency, intended.currency) << body;
      EXPECT_EQ(mapped.status, intended.status) << body;
      EXPECT_EQ(mapped.event_time, intended.event_time) << body;
      EXPECT_EQ(mapped.version, intended.version) << body;
      EXPECT_EQ(mapped.error_code, intended.error_code) << body;
      big_amounts_seen += mapped.amount.value() > (std::int64_t{1} << 53);
    }
    std::vector<std::string_view> reasons;
    for (const UnmappedPart& part : arrival.unmapped) {
      reasons.push_back(part.reason);
      reasons_seen.insert(part.reason);
    }
    EXPECT_EQ(reasons, expected.quarantine_reasons) << body;
  }
  EXPECT_EQ(kinds_seen.size(), static_cast<std::size_t>(kSendKindCount));
  EXPECT_GE(reasons_seen.size(), 8u) << "malformed bodies use many different quarantine reasons";
  EXPECT_GE(big_amounts_seen, 4);
}

TEST_F(GeneratorTest, SignaturesVerifyWithTheConfiguredSecretsAndBadOnesFailForTheirReason) {
  const Plan plan = Generate(Options(300, HeavyFaults()));
  const TimestampUs now = NowUs();
  std::set<BadSignature> bad_kinds;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    const PartnerConfig& partner = Configured(send);
    const std::string body = RenderBody(loaded_.fleet, plan, i);
    const auto headers =
        SignatureHeaders(loaded_.fleet.partners[send.partner], send, body, now.value() / 1'000'000);
    const auto header = [&](std::string_view name) {
      for (const HttpHeader& h : headers) {
        if (h.name == name) return h.value;
      }
      return std::string();
    };
    edge::Verification verification;
    if (partner.signature.scheme == SignatureScheme::kStripe) {
      verification = edge::VerifyStripe(header("Stripe-Signature"), body, partner.signature.secrets,
                                        now, partner.signature.tolerance_s);
    } else {
      EXPECT_TRUE(header("webhook-id").starts_with("msg_"));
      verification = edge::VerifyStandardWebhooks(
          header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), body,
          partner.signature.secrets, now, partner.signature.tolerance_s);
    }
    switch (send.bad_signature) {
      case BadSignature::kNone:
        EXPECT_TRUE(verification.ok()) << edge::SignatureFailureName(verification.failure);
        break;
      case BadSignature::kWrongSecret:
      case BadSignature::kTamperedBody:
        EXPECT_EQ(verification.failure, edge::SignatureFailure::kNoMatch);
        break;
      case BadSignature::kStaleTimestamp:
        EXPECT_EQ(verification.failure, edge::SignatureFailure::kTimestampTooOld);
        break;
    }
    bad_kinds.insert(send.bad_signature);
  }
  EXPECT_EQ(bad_kinds.size(), 4u);
}

TEST_F(GeneratorTest, TheSameSeedGivesTheSameBytesAndTruth) {
  const Plan first = Generate(Options(400, HeavyFaults()));
  const Plan again = Generate(Options(400, HeavyFaults()));
  const Plan other = Generate(Options(400, HeavyFaults(), 12));
  ASSERT_EQ(first.sends.size(), again.sends.size());
  for (std::size_t i = 0; i < first.sends.size(); ++i) {
    EXPECT_EQ(RenderBody(loaded_.fleet, first, i), RenderBody(loaded_.fleet, again, i)) << i;
    EXPECT_EQ(first.sends[i].message_id, again.sends[i].message_id);
    EXPECT_EQ(first.sends[i].kind, again.sends[i].kind);
  }
  EXPECT_NE(RenderBody(loaded_.fleet, first, 0), RenderBody(loaded_.fleet, other, 0));
  const auto truth = [&](const Plan& plan) {
    return ComputeTruth(loaded_.fleet, plan, std::vector<bool>(plan.sends.size(), true),
                        loaded_.config.lake.calendar);
  };
  EXPECT_EQ(TruthJson(*truth(first)), TruthJson(*truth(again)));
  EXPECT_NE(TruthJson(*truth(first)), TruthJson(*truth(other)));
}

TEST_F(GeneratorTest, ResendsFollowTheirOriginalAndCopiesRepeatItsBytes) {
  const Plan plan = Generate(Options(2000, HeavyFaults()));
  std::map<SendKind, std::int64_t> kinds;
  std::int64_t stale_first = 0;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    ++kinds[send.kind];
    if (send.copy_of >= 0) {
      const auto source = static_cast<std::size_t>(send.copy_of);
      ASSERT_LT(source, i);
      EXPECT_EQ(plan.sends[source].kind, SendKind::kOriginal);
      EXPECT_EQ(RenderBody(loaded_.fleet, plan, i), RenderBody(loaded_.fleet, plan, source));
      EXPECT_EQ(send.message_id, plan.sends[source].message_id);
      EXPECT_EQ(send.phase, send.kind == SendKind::kLateResend ? 2 : 0);
    }
    if (send.depends_on < 0) continue;
    const PlannedSend& before = plan.sends[static_cast<std::size_t>(send.depends_on)];
    ASSERT_EQ(send.phase, 1);
    ASSERT_EQ(before.phase, 0);
    ASSERT_EQ(send.events.size(), 1u);
    const SimEvent& resend = plan.events[send.events[0]];
    const SimEvent& original = plan.events[resend.key];
    EXPECT_NE(std::find(before.events.begin(), before.events.end(), resend.key),
              before.events.end())
        << "depends on the send that carried the original";
    EXPECT_EQ(resend.txn_id, original.txn_id);
    const bool versioned = InfoOf(loaded_.fleet.partners[send.partner].shape).versioned;
    const bool differs = resend.amount != original.amount || resend.status != original.status;
    switch (send.kind) {
      case SendKind::kConflict:
        EXPECT_FALSE(versioned);
        EXPECT_TRUE(differs);
        EXPECT_EQ(resend.event_time, original.event_time);
        break;
      case SendKind::kUpdate:
        EXPECT_TRUE(versioned);
        EXPECT_TRUE(differs);
        EXPECT_NE(resend.version, original.version);
        stale_first += *resend.version < *original.version;
        break;
      case SendKind::kMidnight: {
        EXPECT_FALSE(differs);
        const BusinessDate original_date = loaded_.config.lake.calendar.DateOf(original.event_time);
        const BusinessDate resend_date = loaded_.config.lake.calendar.DateOf(resend.event_time);
        EXPECT_EQ(original_date, day_);
        EXPECT_EQ(std::abs(resend_date.days_since_epoch() - day_.days_since_epoch()), 1);
        if (versioned) {
          EXPECT_GT(*resend.version, *original.version);
        }
        break;
      }
      default:
        ADD_FAILURE() << "unexpected dependent send kind " << SendKindName(send.kind);
    }
  }
  // 10% of 2000 conflicts and updates, 5% midnight, 5% bad signatures.
  EXPECT_EQ(kinds[SendKind::kMidnight], 100);
  EXPECT_EQ(kinds[SendKind::kConflict], 200);
  EXPECT_EQ(kinds[SendKind::kUpdate], 200);
  EXPECT_EQ(kinds[SendKind::kBadSignature], 100);
  EXPECT_GT(stale_first, 50) << "about half the updates deliver the newer version first";
  EXPECT_GT(kinds[SendKind::kDuplicate], kinds[SendKind::kLateResend]);
}

TEST_F(GeneratorTest, WithoutFaultsEveryTransactionIsSentOnceWithinTheDay) {
  const Plan plan = Generate(Options(1000, FaultRates{}));
  std::vector<int> sent(1000, 0);
  const TimestampUs start = loaded_.config.lake.calendar.StartOf(day_);
  const TimestampUs end = loaded_.config.lake.calendar.StartOf(day_.AddDays(1));
  std::size_t batched_events = 0;
  for (const PlannedSend& send : plan.sends) {
    EXPECT_EQ(send.kind, SendKind::kOriginal);
    EXPECT_FALSE(send.malformation.has_value());
    EXPECT_LE(send.events.size(), 5u);
    if (send.events.size() > 1) batched_events += send.events.size();
    for (std::uint32_t event : send.events) {
      ++sent[plan.events[event].key];
      EXPECT_GE(plan.events[event].event_time, start);
      EXPECT_LT(plan.events[event].event_time, end);
    }
  }
  EXPECT_EQ(std::count(sent.begin(), sent.end(), 1), 1000);
  EXPECT_GT(batched_events, 0u);
  EXPECT_EQ(plan.events.size(), 1000u);
}

TEST_F(GeneratorTest, AFewPartnersCarryMostOfTheVolume) {
  TempDir dir;
  const auto wide = WriteAndLoad(dir, 30, 7);  // 20 webhook partners
  GeneratorOptions options = Options(20000, FaultRates{});
  options.calendar = wide.config.lake.calendar;
  auto plan = GeneratePlan(wide.fleet, options);
  ASSERT_TRUE(plan.ok());
  std::vector<std::int64_t> volume(wide.fleet.partners.size(), 0);
  for (const SimEvent& event : plan->events) ++volume[event.partner];
  EXPECT_GT(volume[0], volume[1]);
  EXPECT_GT(volume[1], volume[5]);
  EXPECT_GT(volume[5], volume[19]);
  EXPECT_GT(volume[0] + volume[1] + volume[2], 20000 / 2) << "the top three carry more than half";
  EXPECT_GT(volume[19], 0);
}

// A partner offline for its day and the rest of the fleet: their two parts send the full plan's
// bytes, and their truths add up to the full plan's truth.
TEST_F(GeneratorTest, TwoComplementaryPartsSendTheFullPlansBytesAndAddUpToItsTruth) {
  const Plan plan = Generate(Options(800, HeavyFaults()));
  std::vector<bool> offline(loaded_.fleet.partners.size(), false);
  offline[1] = true;
  std::vector<bool> others(offline.size());
  for (std::size_t p = 0; p < offline.size(); ++p) others[p] = !offline[p];
  const Plan replay = SelectPartners(plan, offline);
  const Plan rest = SelectPartners(plan, others);
  ASSERT_GT(replay.sends.size(), 0u);
  ASSERT_EQ(replay.sends.size() + rest.sends.size(), plan.sends.size());

  std::multiset<std::string> full_bodies;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    full_bodies.insert(RenderBody(loaded_.fleet, plan, i));
  }
  std::multiset<std::string> part_bodies;
  std::set<SendKind> replay_kinds;
  for (const Plan* part : {&replay, &rest}) {
    for (std::size_t i = 0; i < part->sends.size(); ++i) {
      const PlannedSend& send = part->sends[i];
      EXPECT_EQ(offline[send.partner], part == &replay);
      part_bodies.insert(RenderBody(loaded_.fleet, *part, i));
      if (part == &replay) replay_kinds.insert(send.kind);
      // Copies and resends point at an earlier send of the same partner in the part.
      for (const std::int64_t earlier : {send.copy_of, send.depends_on}) {
        if (earlier < 0) continue;
        ASSERT_LT(static_cast<std::size_t>(earlier), i);
        EXPECT_EQ(part->sends[static_cast<std::size_t>(earlier)].partner, send.partner);
      }
    }
    EXPECT_EQ(Phases(*part).back().end, part->sends.size());
  }
  EXPECT_EQ(part_bodies, full_bodies);
  EXPECT_EQ(replay_kinds.count(SendKind::kDuplicate), 1u) << "the replay repeats its own sends";

  const auto truth = [&](const Plan& part) {
    auto computed = ComputeTruth(loaded_.fleet, part, std::vector<bool>(part.sends.size(), true),
                                 loaded_.config.lake.calendar);
    FH_CHECK(computed.ok(), "truth");
    return *computed;
  };
  const Truth full = truth(plan);
  const Truth offline_truth = truth(replay);
  const Truth rest_truth = truth(rest);
  EXPECT_EQ(offline_truth.counts.transactions + rest_truth.counts.transactions,
            full.counts.transactions);
  EXPECT_EQ(offline_truth.counts.events_acked + rest_truth.counts.events_acked,
            full.counts.events_acked);
  EXPECT_EQ(offline_truth.conflicts.size() + rest_truth.conflicts.size(), full.conflicts.size());
  std::vector<TruthTotal> totals = offline_truth.totals;
  totals.insert(totals.end(), rest_truth.totals.begin(), rest_truth.totals.end());
  const auto order = [](const TruthTotal& a, const TruthTotal& b) {
    return std::make_tuple(a.business_date, a.partner_id, a.currency, a.status) <
           std::make_tuple(b.business_date, b.partner_id, b.currency, b.status);
  };
  std::vector<TruthTotal> expected = full.totals;
  std::sort(totals.begin(), totals.end(), order);
  std::sort(expected.begin(), expected.end(), order);
  EXPECT_EQ(totals, expected);
  for (const TruthTotal& total : offline_truth.totals) {
    EXPECT_EQ(total.partner_id, loaded_.fleet.partners[1].id.str());
  }
}

TEST(FaultsTest, ParsesNamesRatesAndPercentages) {
  EXPECT_EQ(DescribeFaults(*ParseFaults("none")), "none");
  EXPECT_EQ(DescribeFaults(*ParseFaults("default")),
            "duplicate=0.03,late=0.01,conflict=0.005,update=0.01,midnight=0.002,malformed=0.005,"
            "bad_signature=0.002");
  EXPECT_EQ(DescribeFaults(*ParseFaults("late,conflict=2%,malformed=0.25")),
            "late=0.01,conflict=0.02,malformed=0.25");
  EXPECT_EQ(ParseFaults("update=1")->update_ppm, 1'000'000u);
  EXPECT_EQ(ParseFaults("update=100%")->update_ppm, 1'000'000u);
  EXPECT_FALSE(ParseFaults("dupes").ok());
  EXPECT_FALSE(ParseFaults("late=2").ok());
  EXPECT_FALSE(ParseFaults("late=-0.1").ok());
  EXPECT_FALSE(ParseFaults("late=0.0000001").ok());
  EXPECT_FALSE(ParseFaults("late=abc").ok());
}

}  // namespace
}  // namespace firehose::sim
