#pragma once
// The Redis side of smm-syncd: the inbox LIST fed by the web frontend, the
// schedule ZSET of ids and when each is next due, leases, and the dead list.
//
// Keys (P = key_prefix, all inside one hash tag so one cluster slot holds
// them):
//   {P}:inbox     LIST that producers push ids to
//   {P}:schedule  ZSET, score = due time (Unix ms)
//   {P}:dead      LIST of JSON {"payload","reason","at"}
//   {P}:lease     HASH of the ids in flight: id -> "token:expiry_ms", with
//                 ":1" appended when a producer re-enqueued the id during the
//                 lease (the holder's reschedule then makes it due at once)
//   {P}:seq       counter that lease tokens come from
//   {P}:meta      HASH id -> "since_ms:attempts:failures": when the id was
//                 first seen, its order-level rejections and its transient
//                 failures in a row
//   {P}:rl        HASH, the shared pacing state
//   {P}:circuit   HASH, and {P}:circuit_probe: the provider circuit and its
//                 probe lock
//
// Upgrading from a version that kept {P}:since, {P}:attempts, {P}:failures
// and {P}:bump: those keys are no longer read or written. An id scheduled
// before the upgrade gets a meta entry when it is next enqueued or claimed,
// so its give_up_after clock and its rejection count start again then. Old
// instances must be stopped first, because they read a flagged lease as
// expired. The old keys can be deleted once no old instance runs.
//
// A claimed id never leaves the schedule: claiming re-scores it to the
// lease's end, so if this process dies the id is simply due again then.
// Every multi-step change runs as one Lua script, timed by Redis' TIME so
// instance clocks do not matter.
//
// Thread-safety: none; all calls and callbacks on the io_context thread.
// Every callback runs exactly once. While disconnected, calls fail at once
// with errc::redis_disconnected and the queue reconnects by itself with
// backoff between reconnect_min and reconnect_max.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace smm::queue {

// One id taken for polling. `token` fences the lease: completing with a
// token that is no longer current does nothing.
struct Claim {
  std::string id;
  std::int64_t token = 0;
  int attempts = 0;          // order-level rejections so far
  int failures = 0;          // transient failures in a row so far
};

// The outcome applied to a claimed id once its poll (and write) is done.
struct Completion {
  enum class Kind {
    done,            // final, or no such row: leave the schedule
    reschedule,      // not final: poll again at `due_ms`; resets attempts and failures
    retry_transient, // provider or database fault: poll again at `due_ms`, failures + 1
    retry_rejected,  // order-level rejection: poll again at `due_ms`, attempts + 1
    dead,            // give up: dead list with `reason`
  };
  std::string id;
  std::int64_t token = 0;
  Kind kind = Kind::done;
  std::int64_t due_ms = 0;   // absolute Unix ms, for reschedule and retries
  std::string reason;        // for dead
};

struct DrainResult {
  int scheduled = 0;         // valid ids moved into the schedule
  int dead = 0;              // invalid payloads moved to the dead list
};

struct ClaimResult {
  std::vector<Claim> claims;
  // Due time of the earliest id still in the schedule after this claim, if
  // any (Unix ms); lets the caller sleep until then.
  std::optional<std::int64_t> next_due_ms;
  int given_up = 0;          // ids moved to the dead list by give_up_after
};

struct Stats {
  std::int64_t inbox = 0;
  std::int64_t scheduled = 0;
  std::int64_t due_now = 0;
  double oldest_due_age_seconds = 0;
  std::int64_t leased = 0;
  std::int64_t dead = 0;
};

struct DeadLetter {
  std::string json;          // the entry as stored
  std::string payload;
  std::string reason;
  std::int64_t at_ms = 0;
};

// One request for send times under the shared rate limit.
struct RateRequest {
  double rate_per_second = 0;      // the target rate, headroom applied
  std::int64_t tolerance_us = 0;   // the burst's tolerance
  int wanted = 0;                  // slots wanted; 0 only reads the state
  std::int64_t lookahead_us = 0;   // latest slot accepted, from now
  double recovery_per_second = 0;  // factor regained per second after a cut
  bool probe = false;              // the circuit probe, allowed while the circuit is open
};

struct RateGrant {
  // Send times granted, as offsets from the moment Redis ran the script.
  std::vector<std::int64_t> slot_offsets_us;
  // When fewer slots than wanted were granted: wait this long before asking
  // again (the pause's end, or until the next slot is within the lookahead).
  std::int64_t wait_us = 0;
  double rate_factor = 1.0;        // the shared backoff factor, in (0, 1]
  std::int64_t pause_remaining_us = 0;
  bool circuit_open = false;
};

struct ThrottleRequest {
  std::int64_t pause_ms = 0;       // Retry-After, capped; 0 cuts the rate instead
  double backoff = 0.5;
  double floor = 0.1;
  double recovery_per_second = 0.05;
  std::int64_t hold_us = 0;
};

struct ThrottleResult {
  std::int64_t pause_remaining_us = 0;
  double rate_factor = 1.0;
  bool cut = false;                // this call cut the rate
};

struct CircuitState {
  enum class Kind { closed, open, probe };  // probe: open, and this caller probes now
  Kind kind = Kind::closed;
  std::int64_t wait_ms = 0;        // when open: time until worth asking again
  std::string reason;
};

class Queue {
 public:
  template <typename T>
  using Callback = std::function<void(std::error_code, T)>;

  Queue(boost::asio::io_context& io, const config::RedisConfig& redis,
        const config::PollConfig& poll);
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Connects (and keeps reconnecting); `on_state` runs on every change of
  // connection state with true once connected and scripts are loaded.
  void start(std::function<void(bool connected)> on_state);
  void stop();
  bool connected() const;

  // Moves up to drain_batch payloads from the inbox into the schedule (due
  // now; an id already scheduled only moves earlier). Invalid payloads go to
  // the dead list with a reason. Pop and add are one atomic step.
  void drain(Callback<DrainResult> done);

  // Calls `woken` once the inbox is non-empty (or after idle_poll), using a
  // blocking wait on a second connection that never takes the element.
  void wait_for_inbox(std::function<void()> woken);

  // Claims up to `max` due ids with a lease of poll.lease. Ids whose lease
  // expired are claimed again with a new token.
  void claim(int max, Callback<ClaimResult> done);

  // Applies completions in one round trip. Stale tokens are skipped.
  void complete(std::vector<Completion> completions, Callback<int> done);

  // Hands claims back (due now, lease dropped); used on shutdown.
  void release(std::vector<Claim> claims, Callback<int> done);

  // Pushes ids to the schedule due now (moves earlier if present).
  void enqueue(std::vector<std::string> ids, Callback<int> done);

  void stats(Callback<Stats> done);
  void dead_letters(std::int64_t limit, Callback<std::vector<DeadLetter>> done);

  // Moves dead entries whose payload is a valid id back to the schedule, due
  // now; `ids` empty means all. Returns how many were requeued.
  void requeue_dead(std::vector<std::string> ids, Callback<int> done);

  // The provider's shared limits ({P}:rl, {P}:circuit, {P}:circuit_probe).
  // Reserves send times under the cluster-wide rate (one round trip).
  void acquire_rate(const RateRequest& request, Callback<RateGrant> done);
  // Records a throttling response for every instance: a pause, or a rate cut.
  void throttle(const ThrottleRequest& request, Callback<ThrottleResult> done);
  // Opens the circuit (or restarts its cool-down); returns whether it was
  // closed before.
  void open_circuit(const std::string& reason, std::chrono::milliseconds cooldown,
                    Callback<bool> done);
  // Reads the circuit; once the probe is due, one caller (named `holder`)
  // gets Kind::probe and holds the probe lock for `lock`.
  void check_circuit(const std::string& holder, std::chrono::milliseconds lock,
                     Callback<CircuitState> done);
  // Closes the circuit; returns whether it was open.
  void close_circuit(Callback<bool> done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace smm::queue
