// The smm_syncd_* metric families and how each is filled when /metrics is
// scraped. Counters copy the engine's running totals and gauges copy
// current states. The queue gauges contain the last counts read from Redis,
// which are the same for every instance sharing that Redis, so dashboards
// take max().

#include <array>
#include <string>
#include <vector>

#include "sync/decision.hpp"
#include "telemetry.hpp"

namespace smm::daemon {
namespace {

using metrics::Counter;
using metrics::Gauge;
using metrics::Registry;

double as_double(std::uint64_t value) { return static_cast<double>(value); }

struct EngineSeries {
  std::array<Counter*, sync::kPollOutcomeCount> polls{};
  Counter* writes_updated;
  Counter* writes_unchanged;
  Counter* writes_final_protected;
  Counter* writes_no_row;
  Counter* writes_error;
  Counter* retries;
  Counter* rate_limit_waits;
  Counter* claims;
  Counter* orders_final;
  Counter* orders_rescheduled;
  Counter* dead_orders;
  Counter* dead_payloads;
  Counter* drained;
  Counter* released;
  Counter* ack_failures;
  Counter* rate_slots_granted;
  Counter* rate_slots_unused;
  Counter* throttle_pauses;
  Counter* rate_cuts;
  Counter* rate_local_fallbacks;
  Counter* circuit_opened;
  Counter* circuit_probes;
  Counter* circuit_handed_back;
  Gauge* rate_factor;
  Gauge* rate_limit_local;
  Gauge* in_flight;
  Gauge* circuit_open;
};

EngineSeries register_engine(Registry& registry) {
  EngineSeries s;
  for (int i = 0; i < sync::kPollOutcomeCount; ++i) {
    const auto outcome = static_cast<sync::PollOutcome>(i);
    s.polls[static_cast<std::size_t>(i)] = &registry.counter(
        "smm_syncd_polls_total", "Provider status polls by outcome.", {{"outcome", sync::to_string(outcome)}});
  }
  const std::string writes = "smm_syncd_status_writes_total";
  const std::string writes_help = "Status writes to PostgreSQL by outcome.";
  s.writes_updated = &registry.counter(writes, writes_help, {{"outcome", "updated"}});
  s.writes_unchanged = &registry.counter(writes, writes_help, {{"outcome", "unchanged"}});
  s.writes_final_protected = &registry.counter(writes, writes_help, {{"outcome", "final_protected"}});
  s.writes_no_row = &registry.counter(writes, writes_help, {{"outcome", "no_row"}});
  s.writes_error = &registry.counter(writes, writes_help, {{"outcome", "error"}});
  s.retries = &registry.counter("smm_syncd_retries_total", "Polls to be retried later after a fault or rejection.");
  s.rate_limit_waits =
      &registry.counter("smm_syncd_rate_limit_waits_total", "Times a poll waited for the rate limit.");
  s.claims = &registry.counter("smm_syncd_claims_total", "Order ids claimed for polling.");
  s.orders_final = &registry.counter("smm_syncd_orders_final_total", "Orders completed in a final status.");
  s.orders_rescheduled =
      &registry.counter("smm_syncd_orders_rescheduled_total", "Orders scheduled for another poll.");
  const std::string dead = "smm_syncd_dead_letters_total";
  const std::string dead_help = "Entries this instance moved to the dead list, by source.";
  s.dead_orders = &registry.counter(dead, dead_help, {{"source", "order"}});
  s.dead_payloads = &registry.counter(dead, dead_help, {{"source", "invalid_payload"}});
  s.drained = &registry.counter("smm_syncd_inbox_drained_total", "Order ids moved from the inbox to the schedule.");
  s.released = &registry.counter("smm_syncd_released_total", "Claimed order ids handed back on shutdown.");
  s.ack_failures = &registry.counter("smm_syncd_ack_failures_total",
                                     "Completions Redis did not apply; those ids are polled again after their lease.");
  s.rate_slots_granted = &registry.counter("smm_syncd_rate_slots_granted_total",
                                           "Send times reserved from the rate limit.");
  s.rate_slots_unused = &registry.counter("smm_syncd_rate_slots_unused_total",
                                          "Reserved send times left unused (pause, circuit, no work).");
  s.throttle_pauses = &registry.counter("smm_syncd_throttle_pauses_total",
                                        "Retry-After pauses this instance set for all instances.");
  s.rate_cuts = &registry.counter("smm_syncd_rate_cuts_total",
                                  "Shared rate cuts after a 429 without Retry-After.");
  s.rate_local_fallbacks = &registry.counter("smm_syncd_rate_local_fallbacks_total",
                                             "Switches to the local rate limit while Redis was unreachable.");
  s.circuit_opened = &registry.counter("smm_syncd_circuit_opened_total",
                                       "Times this instance opened or found open the provider circuit.");
  s.circuit_probes = &registry.counter("smm_syncd_circuit_probes_total",
                                       "Half-open probes this instance sent to the provider.");
  s.circuit_handed_back = &registry.counter("smm_syncd_circuit_handed_back_total",
                                            "Claimed order ids handed back because the circuit was open.");
  s.rate_factor = &registry.gauge("smm_syncd_rate_factor",
                                  "Shared rate backoff factor; 1 is the full configured rate.");
  s.rate_limit_local = &registry.gauge("smm_syncd_rate_limit_local",
                                       "1 while pacing by the local fallback limit, else 0.");
  s.in_flight = &registry.gauge("smm_syncd_in_flight", "Claimed order ids not yet completed by this instance.");
  s.circuit_open = &registry.gauge("smm_syncd_provider_circuit_open",
                                   "1 while account rejections have stopped polling, else 0.");
  return s;
}

void copy_engine(const EngineSeries& s, const sync::Engine& engine) {
  const sync::Counters& c = engine.counters();
  for (std::size_t i = 0; i < s.polls.size(); ++i) s.polls[i]->set_total(as_double(c.polls[i]));
  s.writes_updated->set_total(as_double(c.writes_updated));
  s.writes_unchanged->set_total(as_double(c.writes_unchanged));
  s.writes_final_protected->set_total(as_double(c.writes_final_protected));
  s.writes_no_row->set_total(as_double(c.writes_no_row));
  s.writes_error->set_total(as_double(c.write_errors));
  s.retries->set_total(as_double(c.retries));
  s.rate_limit_waits->set_total(as_double(c.rate_limit_waits));
  s.claims->set_total(as_double(c.claimed));
  s.orders_final->set_total(as_double(c.completed_final));
  s.orders_rescheduled->set_total(as_double(c.rescheduled));
  s.dead_orders->set_total(as_double(c.dead_lettered));
  s.dead_payloads->set_total(as_double(c.drained_invalid));
  s.drained->set_total(as_double(c.drained_ids));
  s.released->set_total(as_double(c.released));
  s.ack_failures->set_total(as_double(c.ack_failures));
  s.rate_slots_granted->set_total(as_double(c.rate_slots_granted));
  s.rate_slots_unused->set_total(as_double(c.rate_slots_unused));
  s.throttle_pauses->set_total(as_double(c.throttle_pauses));
  s.rate_cuts->set_total(as_double(c.rate_cuts));
  s.rate_local_fallbacks->set_total(as_double(c.rate_local_fallbacks));
  s.circuit_opened->set_total(as_double(c.circuit_opened));
  s.circuit_probes->set_total(as_double(c.circuit_probes));
  s.circuit_handed_back->set_total(as_double(c.circuit_handed_back));
  s.rate_factor->set(c.rate_factor);
  s.rate_limit_local->set(c.rate_limit_local ? 1.0 : 0.0);
  s.in_flight->set(as_double(engine.active()));
  s.circuit_open->set(engine.provider_circuit_open() ? 1.0 : 0.0);
}

struct QueueSeries {
  Gauge* inbox;
  Gauge* scheduled;
  Gauge* due_now;
  Gauge* oldest_due_age;
  Gauge* leased;
  Gauge* dead;
};

QueueSeries register_queue(Registry& registry) {
  return {
      &registry.gauge("smm_syncd_queue_inbox_length", "Entries waiting in the Redis inbox."),
      &registry.gauge("smm_syncd_queue_scheduled", "Order ids in the schedule, leased ones included."),
      &registry.gauge("smm_syncd_queue_due_now", "Scheduled order ids due now and not leased."),
      &registry.gauge("smm_syncd_queue_oldest_due_age_seconds", "Time the longest-waiting due order id has been due."),
      &registry.gauge("smm_syncd_queue_leased", "Order ids leased by any instance."),
      &registry.gauge("smm_syncd_queue_dead_letters", "Entries in the dead list."),
  };
}

void copy_queue(const QueueSeries& s, const queue::Stats& stats) {
  s.inbox->set(static_cast<double>(stats.inbox));
  s.scheduled->set(static_cast<double>(stats.scheduled));
  s.due_now->set(static_cast<double>(stats.due_now));
  s.oldest_due_age->set(stats.oldest_due_age_seconds);
  s.leased->set(static_cast<double>(stats.leased));
  s.dead->set(static_cast<double>(stats.dead));
}

}  // namespace

void Telemetry::register_metrics() {
  registry_.gauge("smm_syncd_build_info", "Always 1; the labels name the running build.", {{"version", SMM_VERSION}})
      .set(1);
  const EngineSeries engine = register_engine(registry_);
  provider_latency_ = &registry_.histogram("smm_syncd_provider_request_duration_seconds",
                                           "Duration of provider status requests, connection included.",
                                           metrics::default_latency_buckets());
  const QueueSeries queue = register_queue(registry_);
  stats_errors_ = &registry_.counter("smm_syncd_queue_stats_errors_total", "Failed reads of the queue counts.");

  const std::string up = "smm_syncd_dependency_up";
  const std::string up_help = "1 while the dependency is connected and ready, else 0.";
  Gauge* redis_up = &registry_.gauge(up, up_help, {{"dependency", "redis"}});
  Gauge* postgres_up = &registry_.gauge(up, up_help, {{"dependency", "postgres"}});
  Gauge* pending_writes = &registry_.gauge("smm_syncd_pending_writes", "Status writes queued for PostgreSQL.");
  Gauge* lag = &registry_.gauge("smm_syncd_event_loop_lag_seconds", "Lateness of the last event-loop check.");
  Gauge* max_lag = &registry_.gauge("smm_syncd_event_loop_max_lag_seconds", "Largest event-loop check lateness since start.");
  Gauge* open_connections =
      &registry_.gauge("smm_syncd_health_open_connections", "Open connections to this HTTP endpoint.");
  Counter* rejected = &registry_.counter("smm_syncd_health_connections_rejected_total",
                                         "Connections closed because health.max_connections were open.");

  registry_.add_collector([=, this] {
    copy_engine(engine, *engine_);
    copy_queue(queue, queue_stats_);
    redis_up->set(queue_.connected() ? 1.0 : 0.0);
    postgres_up->set(store_.ready() ? 1.0 : 0.0);
    pending_writes->set(static_cast<double>(store_.pending()));
    lag->set(loop_.lag_seconds());
    max_lag->set(loop_.max_lag_seconds());

    const health::ServerStats& server = server_.stats();
    open_connections->set(as_double(server.open_connections));
    rejected->set_total(as_double(server.connections_rejected));
    for (const auto& [code, count] : server.responses) {
      registry_
          .counter("smm_syncd_health_responses_total", "Responses of this HTTP endpoint by status code.",
                   {{"code", std::to_string(code)}})
          .set_total(as_double(count));
    }
  });
}

}  // namespace smm::daemon
