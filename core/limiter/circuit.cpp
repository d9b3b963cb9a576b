#include "limiter/circuit.hpp"

namespace smm::limiter {

const char* to_string(CircuitPhase phase) {
  switch (phase) {
    case CircuitPhase::closed: return "closed";
    case CircuitPhase::open: return "open";
    case CircuitPhase::probing: return "probing";
  }
  return "unknown";
}

CircuitAction Circuit::on_answer(AccountSignal signal, bool probe) {
  const bool probing = probe && phase_ == CircuitPhase::probing;
  switch (signal) {
    case AccountSignal::rejected:
      // The first rejection opens the circuit; the probe's rejection restarts
      // the cool-down. Rejections of other requests in flight change nothing.
      if (phase_ == CircuitPhase::closed || probing) {
        phase_ = CircuitPhase::open;
        return CircuitAction::open_shared;
      }
      return CircuitAction::none;
    case AccountSignal::accepted:
      if (probing) {
        phase_ = CircuitPhase::closed;
        return CircuitAction::close_shared;
      }
      return CircuitAction::none;
    case AccountSignal::inconclusive:
      if (probing) phase_ = CircuitPhase::open;
      return CircuitAction::none;
  }
  return CircuitAction::none;
}

bool Circuit::on_shared_open() {
  if (phase_ != CircuitPhase::closed) return false;
  phase_ = CircuitPhase::open;
  return true;
}

void Circuit::on_shared_closed() { phase_ = CircuitPhase::closed; }

void Circuit::on_probe_won() {
  if (phase_ == CircuitPhase::open) phase_ = CircuitPhase::probing;
}

void Circuit::on_probe_abandoned() {
  if (phase_ == CircuitPhase::probing) phase_ = CircuitPhase::open;
}

}  // namespace smm::limiter
