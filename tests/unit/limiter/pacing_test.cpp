// GCRA reservations, the throttle backoff and the circuit state machine,
// all driven by a fake clock (plain microsecond values).

#include <algorithm>
#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include "limiter/circuit.hpp"
#include "limiter/gcra.hpp"
#include "limiter/rate_factor.hpp"

using namespace std::chrono_literals;
using smm::limiter::AccountSignal;
using smm::limiter::Circuit;
using smm::limiter::CircuitAction;
using smm::limiter::CircuitPhase;
using smm::limiter::Gcra;
using smm::limiter::Micros;
using smm::limiter::RateFactor;
using smm::limiter::ThrottlePolicy;

namespace {

// The provider's own GCRA, as the fake provider and common servers apply
// it: a request conforms when it arrives no earlier than TAT - tolerance.
class ServerGcra {
 public:
  ServerGcra(double rate, int burst)
      : interval_(1e6 / rate), tolerance_(interval_ * (burst - 1)) {}
  bool allow(double now_us) {
    const double arrival = std::max(tat_, now_us);
    if (arrival - now_us > tolerance_) return false;
    tat_ = arrival + interval_;
    return true;
  }

 private:
  double interval_;
  double tolerance_;
  double tat_ = 0;
};

// Reserves `count` send times as a backlogged sender would and delays
// groups of five sends alternately by 15 ms and 0 ms, the worst shape of
// send-time spread for a GCRA. Returns how many of them, taken in arrival
// order, the provider's GCRA at 50/s and burst 5 rejects.
int provider_violations(Gcra& gcra, int count) {
  const auto lookahead = 100ms;
  std::vector<double> arrivals;
  Micros now(0);
  while (static_cast<int>(arrivals.size()) < count) {
    auto slot = gcra.reserve(now, lookahead);
    if (!slot) {
      now += gcra.wait_for_slot(now, lookahead);
      continue;
    }
    const bool late_group = (arrivals.size() / 5) % 2 == 0;
    arrivals.push_back(static_cast<double>((now + *slot).count()) + (late_group ? 15000.0 : 0.0));
  }
  std::sort(arrivals.begin(), arrivals.end());

  ServerGcra server(50.0, 5);
  int violations = 0;
  for (double arrival : arrivals) {
    if (!server.allow(arrival)) ++violations;
  }
  return violations;
}

}  // namespace

TEST(Gcra, BurstToleranceLeavesMarginForSendSpread) {
  // 50/s, burst 5: the provider tolerates 4 intervals of 20 ms = 80 ms.
  EXPECT_EQ(smm::limiter::burst_tolerance(50.0, 5, 0us), 80000us);
  EXPECT_EQ(smm::limiter::burst_tolerance(50.0, 5, 20ms), 60000us);
  EXPECT_EQ(smm::limiter::burst_tolerance(50.0, 1, 20ms), 0us);
  EXPECT_DOUBLE_EQ(smm::limiter::target_rate(50.0, 0.02), 49.0);
}

TEST(Gcra, GrantsBurstAtOnceThenEvenSpacing) {
  Gcra gcra(10.0, Micros(300000));  // 100 ms interval, 3 intervals of tolerance
  const Micros now(1'000'000);
  std::vector<Micros> slots;
  for (int i = 0; i < 6; ++i) {
    auto slot = gcra.reserve(now, 1s);
    ASSERT_TRUE(slot.has_value()) << i;
    slots.push_back(*slot);
  }
  EXPECT_EQ(slots[0], 0us);
  EXPECT_EQ(slots[3], 0us);   // the burst: four at once
  EXPECT_EQ(slots[4], 100000us);
  EXPECT_EQ(slots[5], 200000us);
}

TEST(Gcra, RefusesBeyondLookaheadAndSaysWhen) {
  Gcra gcra(10.0, Micros(0));
  const Micros now(5'000'000);
  ASSERT_EQ(gcra.reserve(now, 50ms), std::optional<Micros>(0us));
  EXPECT_FALSE(gcra.reserve(now, 50ms).has_value());
  EXPECT_EQ(gcra.wait_for_slot(now, 50ms), 50000us);
  EXPECT_EQ(gcra.reserve(now + 50ms, 50ms), std::optional<Micros>(50000us));
}

TEST(Gcra, IdleTimeRefillsOnlyTheBurst) {
  Gcra gcra(100.0, Micros(10000));  // 10 ms interval, burst 2
  const Micros start(0);
  ASSERT_TRUE(gcra.reserve(start, 0us).has_value());
  ASSERT_TRUE(gcra.reserve(start, 0us).has_value());
  EXPECT_FALSE(gcra.reserve(start, 0us).has_value());
  // A long idle period gives back the burst, not a pile of saved grants.
  const Micros later = start + 10s;
  EXPECT_TRUE(gcra.reserve(later, 0us).has_value());
  EXPECT_TRUE(gcra.reserve(later, 0us).has_value());
  EXPECT_FALSE(gcra.reserve(later, 0us).has_value());
}

TEST(Gcra, LateSendsStayWithinProviderLimit) {
  // Client: 50/s with 2% headroom, burst 5 less a 20 ms margin.
  Gcra gcra(smm::limiter::target_rate(50.0, 0.02), smm::limiter::burst_tolerance(50.0, 5, 20ms));
  EXPECT_EQ(provider_violations(gcra, 2000), 0);
}

TEST(Gcra, FullRateWithoutMarginCrossesProviderLimit) {
  // The provider's own figures with no margin: late groups followed by
  // prompt ones cross the limit, which is why the margin exists.
  Gcra gcra(50.0, smm::limiter::burst_tolerance(50.0, 5, 0us));
  EXPECT_GT(provider_violations(gcra, 2000), 0);
}

TEST(RateFactor, CutsByBackoffAndRecoversLinearly) {
  RateFactor factor(ThrottlePolicy{0.5, 0.1, 0.05, 1s});
  const Micros t0(10'000'000);
  EXPECT_DOUBLE_EQ(factor.value(t0), 1.0);
  ASSERT_TRUE(factor.cut(t0));
  EXPECT_DOUBLE_EQ(factor.value(t0), 0.5);
  EXPECT_NEAR(factor.value(t0 + 4s), 0.7, 1e-9);
  EXPECT_DOUBLE_EQ(factor.value(t0 + 60s), 1.0);
}

TEST(RateFactor, CutsOncePerHold) {
  RateFactor factor(ThrottlePolicy{0.5, 0.1, 0.05, 1s});
  const Micros t0(0);
  ASSERT_TRUE(factor.cut(t0));
  EXPECT_FALSE(factor.cut(t0 + 500ms));  // a 429 to a request sent before the cut
  EXPECT_NEAR(factor.value(t0 + 500ms), 0.525, 1e-9);
  EXPECT_TRUE(factor.cut(t0 + 1s));
  EXPECT_NEAR(factor.value(t0 + 1s), 0.275, 1e-9);
}

TEST(RateFactor, NeverDropsBelowFloor) {
  RateFactor factor(ThrottlePolicy{0.5, 0.1, 0.0001, 1ms});
  Micros now(0);
  for (int i = 0; i < 20; ++i) {
    factor.cut(now);
    now += 1ms;
  }
  EXPECT_NEAR(factor.value(now), 0.1, 1e-6);
}

TEST(Circuit, AccountRejectionOpensOnce) {
  Circuit circuit;
  EXPECT_EQ(circuit.on_answer(AccountSignal::rejected, false), CircuitAction::open_shared);
  EXPECT_TRUE(circuit.is_open());
  // Other requests already in flight come back rejected too: no new action.
  EXPECT_EQ(circuit.on_answer(AccountSignal::rejected, false), CircuitAction::none);
  // Nor does an answer to a request sent before the circuit opened close it.
  EXPECT_EQ(circuit.on_answer(AccountSignal::accepted, false), CircuitAction::none);
  EXPECT_EQ(circuit.phase(), CircuitPhase::open);
}

TEST(Circuit, AcceptedProbeClosesCircuit) {
  Circuit circuit;
  circuit.on_answer(AccountSignal::rejected, false);
  circuit.on_probe_won();
  EXPECT_EQ(circuit.phase(), CircuitPhase::probing);
  EXPECT_TRUE(circuit.is_open());
  EXPECT_EQ(circuit.on_answer(AccountSignal::accepted, true), CircuitAction::close_shared);
  EXPECT_EQ(circuit.phase(), CircuitPhase::closed);
}

TEST(Circuit, RejectedProbeReopensCircuit) {
  Circuit circuit;
  circuit.on_answer(AccountSignal::rejected, false);
  circuit.on_probe_won();
  EXPECT_EQ(circuit.on_answer(AccountSignal::rejected, true), CircuitAction::open_shared);
  EXPECT_EQ(circuit.phase(), CircuitPhase::open);
}

TEST(Circuit, InconclusiveProbeKeepsCircuitOpen) {
  Circuit circuit;
  circuit.on_answer(AccountSignal::rejected, false);
  circuit.on_probe_won();
  EXPECT_EQ(circuit.on_answer(AccountSignal::inconclusive, true), CircuitAction::none);
  EXPECT_EQ(circuit.phase(), CircuitPhase::open);
}

TEST(Circuit, SharedStateOpensAndClosesIt) {
  Circuit circuit;
  EXPECT_TRUE(circuit.on_shared_open());
  EXPECT_FALSE(circuit.on_shared_open());
  circuit.on_probe_won();
  circuit.on_probe_abandoned();
  EXPECT_EQ(circuit.phase(), CircuitPhase::open);
  circuit.on_shared_closed();
  EXPECT_FALSE(circuit.is_open());
  // A probe win while closed (a stale check) changes nothing.
  circuit.on_probe_won();
  EXPECT_EQ(circuit.phase(), CircuitPhase::closed);
}
