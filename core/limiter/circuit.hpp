#pragma once
// One instance's view of the provider circuit, which opens when the provider
// rejects the account (wrong key, IP not whitelisted, suspended account).
// The circuit itself is shared through Redis; this class only decides, from
// the answers this instance sees and the shared state it reads, which phase
// it is in and what to tell Redis. Pure: no I/O, no clock.
//
//   closed --account rejected--> open --probe lock won--> probing
//   probing --account accepted--> closed (and closes the shared circuit)
//   probing --rejected--> open (and restarts the cool-down)
//   probing --inconclusive, or nothing to probe with--> open
//   open/probing --shared circuit gone--> closed

namespace smm::limiter {

enum class CircuitPhase { closed, open, probing };
const char* to_string(CircuitPhase phase);

// What one poll's answer says about the account.
enum class AccountSignal {
  accepted,      // the provider answered about the order (status or order rejection)
  rejected,      // a rejection that names the account or the request
  inconclusive,  // no usable answer: transport, HTTP or parse failure, throttling
};

enum class CircuitAction { none, open_shared, close_shared };

class Circuit {
 public:
  CircuitPhase phase() const { return phase_; }
  bool is_open() const { return phase_ != CircuitPhase::closed; }

  // Feeds the answer to one poll; `probe` marks the half-open probe. Answers
  // to requests sent before the circuit opened neither close nor reopen it.
  CircuitAction on_answer(AccountSignal signal, bool probe);

  // The shared state in Redis: open (returns true when this instance was
  // closed until now), or gone because another instance closed it.
  bool on_shared_open();
  void on_shared_closed();

  // This instance won the probe lock, or gave it up with nothing to probe.
  void on_probe_won();
  void on_probe_abandoned();

 private:
  CircuitPhase phase_ = CircuitPhase::closed;
};

}  // namespace smm::limiter
