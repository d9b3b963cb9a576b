#include "queue/queue.hpp"

#include <array>
#include <iterator>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/order_id.hpp"
#include "queue/detail/connection.hpp"
#include "queue/detail/results.hpp"
#include "queue/detail/scripts.hpp"

namespace smm::queue {
namespace {

using detail::RedisConnection;
using detail::Reply;
using detail::Script;

// Maximum bytes of a payload (or dead reason) stored in a dead-list entry.
// The entry keeps the original size in payload_bytes.
constexpr int kDeadPayloadMaxBytes = 1024;

std::string key_name(const std::string& prefix, const char* name) {
  return "{" + prefix + "}:" + name;
}

struct Keys {
  explicit Keys(const std::string& prefix)
      : inbox(key_name(prefix, "inbox")),
        schedule(key_name(prefix, "schedule")),
        dead(key_name(prefix, "dead")),
        lease(key_name(prefix, "lease")),
        seq(key_name(prefix, "seq")),
        meta(key_name(prefix, "meta")),
        rate(key_name(prefix, "rl")),
        circuit(key_name(prefix, "circuit")),
        circuit_probe(key_name(prefix, "circuit_probe")) {}

  std::string inbox, schedule, dead, lease, seq, meta;
  std::string rate, circuit, circuit_probe;
};

const char* kind_name(Completion::Kind kind) {
  switch (kind) {
    case Completion::Kind::done: return "done";
    case Completion::Kind::reschedule: return "reschedule";
    case Completion::Kind::retry_transient: return "retry_transient";
    case Completion::Kind::retry_rejected: return "retry_rejected";
    case Completion::Kind::dead: return "dead";
  }
  return "unknown";
}

// BLMOVE takes its timeout in seconds; "0" would block forever, so at least 1 ms.
std::string blocking_timeout_text(config::Duration timeout) {
  auto ms = std::max<long long>(timeout.count(), 1);
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

template <typename T>
void post_done(boost::asio::io_context& io, Queue::Callback<T> done, std::error_code ec, T value = T{}) {
  boost::asio::post(io, [done = std::move(done), ec, value = std::move(value)]() mutable {
    done(ec, std::move(value));
  });
}

// A reply handler that parses a script's reply into T, reporting a reply of
// an unexpected shape as errc::redis_protocol.
template <typename T, typename Parse>
RedisConnection::ReplyHandler parse_into(std::string_view command, Queue::Callback<T> done,
                                         Parse parse) {
  return [command, done = std::move(done), parse](std::error_code ec, Reply reply) {
    if (ec) {
      done(ec, T{});
      return;
    }
    std::optional<T> value = parse(reply);
    if (!value) {
      spdlog::warn("redis_unexpected_reply command={}", command);
      done(errc::redis_protocol, T{});
      return;
    }
    done({}, std::move(*value));
  };
}

}  // namespace

struct Queue::Impl : std::enable_shared_from_this<Queue::Impl> {
  Impl(boost::asio::io_context& io_in, const config::RedisConfig& redis_in,
       const config::PollConfig& poll_in);
  ~Impl();

  void start(std::function<void(bool)> on_state_in);
  void stop();
  bool connected() const { return !stopped && scripts_loaded && main->ready(); }

  void on_main_state(bool ready);
  void load_scripts();
  void report(bool state);
  void run_script(Script script, const std::vector<std::string>& script_keys,
                  std::vector<std::string> args, RedisConnection::ReplyHandler handler);
  void evalsha(Script script, std::shared_ptr<std::vector<std::string>> argv, bool may_reload,
               RedisConnection::ReplyHandler handler);
  void reload_and_retry(Script script, std::shared_ptr<std::vector<std::string>> argv,
                        RedisConnection::ReplyHandler handler);
  void wait_for_inbox(std::function<void()> woken);
  void wait_idle(std::function<void()> woken);

  boost::asio::io_context& io;
  config::RedisConfig redis;
  config::PollConfig poll;
  Keys keys;
  std::shared_ptr<RedisConnection> main;
  std::shared_ptr<RedisConnection> blocking;  // only for BLMOVE, which blocks its connection

  std::array<std::string, detail::kScriptCount> shas;
  bool scripts_loaded = false;
  std::uint64_t session = 0;   // bumped per main connection session
  bool started = false;
  bool stopped = false;
  bool reported = false;
  bool blocking_error_logged = false;
  std::function<void(bool)> on_state;
  std::set<std::shared_ptr<boost::asio::steady_timer>> idle_timers;
};

namespace {

detail::RedisEndpoint endpoint_from(const config::RedisConfig& redis) {
  std::string error;
  auto endpoint = detail::parse_redis_url(redis.url, &error);
  if (!endpoint) throw std::invalid_argument("redis.url: " + error);
  return *endpoint;
}

// "<key_prefix>:<role>", with characters CLIENT SETNAME rejects (spaces,
// control and non-ASCII bytes) replaced by '_'.
std::string client_name(const std::string& prefix, const char* role) {
  std::string name = prefix + ":" + role;
  for (char& c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte >= 0x7f) c = '_';
  }
  return name;
}

std::shared_ptr<RedisConnection> make_connection(boost::asio::io_context& io,
                                                 const config::RedisConfig& redis,
                                                 const detail::RedisEndpoint& endpoint,
                                                 const char* name) {
  RedisConnection::Options options{endpoint, name, client_name(redis.key_prefix, name),
                                   redis.command_timeout, redis.reconnect_min, redis.reconnect_max};
  return std::make_shared<RedisConnection>(io, std::move(options));
}

}  // namespace

Queue::Impl::Impl(boost::asio::io_context& io_in, const config::RedisConfig& redis_in,
                  const config::PollConfig& poll_in)
    : io(io_in), redis(redis_in), poll(poll_in), keys(redis_in.key_prefix) {
  auto endpoint = endpoint_from(redis);
  main = make_connection(io, redis, endpoint, "main");
  blocking = make_connection(io, redis, endpoint, "blocking");
}

Queue::Impl::~Impl() { stop(); }

void Queue::Impl::start(std::function<void(bool)> on_state_in) {
  if (started || stopped) return;
  started = true;
  on_state = std::move(on_state_in);
  main->start([weak = weak_from_this()](bool ready) {
    if (auto self = weak.lock()) self->on_main_state(ready);
  });
  blocking->start([](bool) {});
}

void Queue::Impl::stop() {
  if (stopped) return;
  stopped = true;
  scripts_loaded = false;
  main->stop();
  blocking->stop();
  // The waits' handlers call woken() when cancelled, so each runs once.
  for (const auto& timer : idle_timers) timer->cancel();
  if (reported) {
    boost::asio::post(io, [weak = weak_from_this()]() {
      if (auto self = weak.lock()) self->report(false);
    });
  }
}

void Queue::Impl::on_main_state(bool ready) {
  ++session;
  if (!ready) {
    scripts_loaded = false;
    report(false);
    return;
  }
  load_scripts();
}

// SCRIPT LOAD after every connect: a restarted or failed-over Redis has an
// empty script cache. A failure drops the connection so the reconnect
// backoff retries the whole set-up.
void Queue::Impl::load_scripts() {
  auto remaining = std::make_shared<std::size_t>(detail::kScriptCount);
  for (std::size_t i = 0; i < detail::kScriptCount; ++i) {
    auto script = static_cast<Script>(i);
    main->command({"SCRIPT", "LOAD", detail::script_source(script)}, redis.command_timeout,
                  [weak = weak_from_this(), current = session, script, i, remaining](
                      std::error_code ec, Reply reply) {
                    auto self = weak.lock();
                    if (!self || self->session != current || self->stopped) return;
                    auto sha = as_string(reply);
                    if (ec || !sha) {
                      self->session++;
                      std::string detail = reply.is_error() ? reply.str : ec.message();
                      self->main->reset(ec ? ec : make_error_code(errc::redis_protocol),
                                        fmt::format("SCRIPT LOAD {} failed: {}",
                                                    detail::script_name(script), detail));
                      return;
                    }
                    self->shas[i] = *sha;
                    if (--*remaining > 0) return;
                    self->scripts_loaded = true;
                    self->report(true);
                  });
  }
}

void Queue::Impl::report(bool state) {
  if (state == reported) return;
  reported = state;
  if (on_state) on_state(state);
}

void Queue::Impl::run_script(Script script, const std::vector<std::string>& script_keys,
                             std::vector<std::string> args, RedisConnection::ReplyHandler handler) {
  if (!connected()) {
    auto ec = stopped ? errc::shutting_down : errc::redis_disconnected;
    boost::asio::post(io, [handler = std::move(handler), ec]() { handler(ec, Reply{}); });
    return;
  }

  auto argv = std::make_shared<std::vector<std::string>>();
  argv->reserve(3 + script_keys.size() + args.size());
  argv->push_back("EVALSHA");
  argv->push_back(shas[static_cast<std::size_t>(script)]);
  argv->push_back(std::to_string(script_keys.size()));
  argv->insert(argv->end(), script_keys.begin(), script_keys.end());
  argv->insert(argv->end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  evalsha(script, std::move(argv), true, std::move(handler));
}

// The handler keeps `argv` alive for one retry after NOSCRIPT, so the
// arguments are built once and never copied.
void Queue::Impl::evalsha(Script script, std::shared_ptr<std::vector<std::string>> argv, bool may_reload,
                          RedisConnection::ReplyHandler handler) {
  const auto& sent = *argv;
  main->command(sent, redis.command_timeout,
                [weak = weak_from_this(), script, argv = std::move(argv), may_reload,
                 handler = std::move(handler)](std::error_code ec, Reply reply) mutable {
                  bool noscript = ec == errc::redis_reply_error && reply.str.rfind("NOSCRIPT", 0) == 0;
                  auto self = weak.lock();
                  if (noscript && may_reload && self) {
                    self->reload_and_retry(script, std::move(argv), std::move(handler));
                    return;
                  }
                  if (ec == errc::redis_reply_error) {
                    spdlog::warn("redis_script_failed script={} error=\"{}\"",
                                 detail::script_name(script), reply.str);
                  }
                  handler(ec, std::move(reply));
                });
}

// The script cache was flushed (SCRIPT FLUSH, or a failover to a replica
// that never saw SCRIPT LOAD): load this script again and retry once.
void Queue::Impl::reload_and_retry(Script script, std::shared_ptr<std::vector<std::string>> argv,
                                   RedisConnection::ReplyHandler handler) {
  spdlog::info("redis_script_reloaded script={}", detail::script_name(script));
  main->command({"SCRIPT", "LOAD", detail::script_source(script)}, redis.command_timeout,
                [weak = weak_from_this(), script, argv = std::move(argv),
                 handler = std::move(handler)](std::error_code ec, Reply reply) mutable {
                  auto self = weak.lock();
                  auto sha = as_string(reply);
                  if (ec || !sha || !self) {
                    if (!ec) ec = self ? errc::redis_protocol : errc::shutting_down;
                    handler(ec, std::move(reply));
                    return;
                  }
                  self->shas[static_cast<std::size_t>(script)] = *sha;
                  (*argv)[1] = *sha;
                  self->evalsha(script, std::move(argv), false, std::move(handler));
                });
}

void Queue::Impl::wait_for_inbox(std::function<void()> woken) {
  if (stopped) {
    boost::asio::post(io, std::move(woken));
    return;
  }
  if (!blocking->ready()) {
    wait_idle(std::move(woken));
    return;
  }

  // Moving the tail to the tail of the same list leaves it unchanged, so
  // BLMOVE only waits for an element and never takes it.
  std::vector<std::string> argv{"BLMOVE", keys.inbox, keys.inbox, "RIGHT", "RIGHT",
                                blocking_timeout_text(redis.idle_poll)};
  blocking->command(std::move(argv), redis.idle_poll + redis.command_timeout,
                    [weak = weak_from_this(), woken = std::move(woken)](std::error_code ec,
                                                                        Reply reply) mutable {
                      auto self = weak.lock();
                      if (!ec || !self || self->stopped) {
                        if (self && !ec) self->blocking_error_logged = false;
                        woken();
                        return;
                      }
                      if (ec == errc::redis_reply_error && !self->blocking_error_logged) {
                        spdlog::warn("redis_inbox_wait_failed error=\"{}\" fallback=idle_poll", reply.str);
                        self->blocking_error_logged = true;
                      }
                      // Without a working wait, fall back to waking every idle_poll.
                      self->wait_idle(std::move(woken));
                    });
}

void Queue::Impl::wait_idle(std::function<void()> woken) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io, redis.idle_poll);
  idle_timers.insert(timer);
  timer->async_wait([weak = weak_from_this(), timer, woken = std::move(woken)](
                        const boost::system::error_code&) {
    if (auto self = weak.lock()) self->idle_timers.erase(timer);
    woken();
  });
}

Queue::Queue(boost::asio::io_context& io, const config::RedisConfig& redis,
             const config::PollConfig& poll)
    : impl_(std::make_shared<Impl>(io, redis, poll)) {}

Queue::~Queue() { impl_->stop(); }

void Queue::start(std::function<void(bool connected)> on_state) { impl_->start(std::move(on_state)); }

void Queue::stop() { impl_->stop(); }

bool Queue::connected() const { return impl_->connected(); }

void Queue::drain(Callback<DrainResult> done) {
  const auto& k = impl_->keys;
  int batch = std::max(impl_->redis.drain_batch, 1);
  impl_->run_script(Script::drain, {k.inbox, k.schedule, k.meta, k.dead},
                    {std::to_string(batch), std::to_string(kDeadPayloadMaxBytes)},
                    parse_into<DrainResult>(detail::script_name(Script::drain), std::move(done), detail::parse_drain_reply));
}

void Queue::wait_for_inbox(std::function<void()> woken) { impl_->wait_for_inbox(std::move(woken)); }

void Queue::claim(int max, Callback<ClaimResult> done) {
  if (max <= 0) {
    post_done(impl_->io, std::move(done), {}, ClaimResult{});
    return;
  }
  const auto& k = impl_->keys;
  const auto& poll = impl_->poll;
  auto parse = [](const Reply& reply) -> std::optional<ClaimResult> {
    auto parsed = detail::parse_claim_reply(reply);
    if (!parsed) return std::nullopt;
    if (parsed->result.given_up > 0) {
      spdlog::warn("queue_given_up count={} reason=give_up_after", parsed->result.given_up);
    }
    if (parsed->invalid > 0) {
      spdlog::warn("queue_invalid_schedule_members count={} moved_to=dead", parsed->invalid);
    }
    return std::move(parsed->result);
  };
  impl_->run_script(Script::claim,
                    {k.schedule, k.lease, k.seq, k.meta, k.dead},
                    {std::to_string(max), std::to_string(poll.lease.count()),
                     std::to_string(poll.give_up_after.count()), std::to_string(kDeadPayloadMaxBytes)},
                    parse_into<ClaimResult>(detail::script_name(Script::claim), std::move(done), parse));
}

void Queue::complete(std::vector<Completion> completions, Callback<int> done) {
  if (completions.empty()) {
    post_done(impl_->io, std::move(done), {}, 0);
    return;
  }
  std::vector<std::string> args;
  args.reserve(1 + completions.size() * 5);
  args.push_back(std::to_string(kDeadPayloadMaxBytes));
  for (auto& completion : completions) {
    args.push_back(std::move(completion.id));
    args.push_back(std::to_string(completion.token));
    args.push_back(kind_name(completion.kind));
    args.push_back(std::to_string(completion.due_ms));
    args.push_back(std::move(completion.reason));
  }

  auto parse = [](const Reply& reply) -> std::optional<int> {
    auto parsed = detail::parse_complete_reply(reply);
    if (!parsed) return std::nullopt;
    // Stale: the lease ran out and someone else claimed the id meanwhile.
    if (parsed->stale > 0) spdlog::info("queue_stale_completions count={}", parsed->stale);
    return parsed->applied;
  };
  const auto& k = impl_->keys;
  impl_->run_script(Script::complete, {k.schedule, k.lease, k.meta, k.dead}, std::move(args),
                    parse_into<int>(detail::script_name(Script::complete), std::move(done), parse));
}

void Queue::release(std::vector<Claim> claims, Callback<int> done) {
  if (claims.empty()) {
    post_done(impl_->io, std::move(done), {}, 0);
    return;
  }
  std::vector<std::string> args;
  args.reserve(claims.size() * 2);
  for (auto& claim : claims) {
    args.push_back(std::move(claim.id));
    args.push_back(std::to_string(claim.token));
  }
  const auto& k = impl_->keys;
  impl_->run_script(Script::release, {k.schedule, k.lease}, std::move(args),
                    parse_into<int>(detail::script_name(Script::release), std::move(done), detail::parse_count_reply));
}

void Queue::enqueue(std::vector<std::string> ids, Callback<int> done) {
  std::vector<std::string> valid;
  valid.reserve(ids.size());
  for (const auto& raw : ids) {
    std::string reason;
    if (auto id = parse_order_id(raw, &reason)) {
      valid.push_back(std::move(*id));
    } else {
      spdlog::warn("queue_enqueue_invalid_id reason=\"{}\" bytes={}", reason, raw.size());
    }
  }
  if (valid.empty()) {
    post_done(impl_->io, std::move(done), {}, 0);
    return;
  }
  const auto& k = impl_->keys;
  impl_->run_script(Script::enqueue, {k.schedule, k.meta}, std::move(valid),
                    parse_into<int>(detail::script_name(Script::enqueue), std::move(done), detail::parse_count_reply));
}

void Queue::stats(Callback<Stats> done) {
  const auto& k = impl_->keys;
  impl_->run_script(Script::stats, {k.inbox, k.schedule, k.lease, k.dead}, {},
                    parse_into<Stats>(detail::script_name(Script::stats), std::move(done), detail::parse_stats_reply));
}

void Queue::dead_letters(std::int64_t limit, Callback<std::vector<DeadLetter>> done) {
  using Letters = std::vector<DeadLetter>;
  if (limit <= 0) {
    post_done(impl_->io, std::move(done), {}, Letters{});
    return;
  }
  if (!impl_->connected()) {
    auto ec = impl_->stopped ? errc::shutting_down : errc::redis_disconnected;
    post_done(impl_->io, std::move(done), ec, Letters{});
    return;
  }

  auto parse = [](const Reply& reply) -> std::optional<Letters> {
    if (reply.type != Reply::Type::array) return std::nullopt;
    Letters letters;
    letters.reserve(reply.elements.size());
    for (const auto& element : reply.elements) {
      auto json = detail::as_string(element);
      if (!json) return std::nullopt;
      letters.push_back(detail::parse_dead_letter(std::move(*json)));
    }
    return letters;
  };
  impl_->main->command({"LRANGE", impl_->keys.dead, "0", std::to_string(limit - 1)},
                       impl_->redis.command_timeout,
                       parse_into<Letters>("LRANGE dead", std::move(done), parse));
}

void Queue::requeue_dead(std::vector<std::string> ids, Callback<int> done) {
  std::vector<std::string> wanted;
  for (const auto& raw : ids) {
    if (auto id = parse_order_id(raw)) wanted.push_back(std::move(*id));
  }
  // An empty list means "all" to the script; a list of only invalid ids
  // matches nothing.
  if (!ids.empty() && wanted.empty()) {
    post_done(impl_->io, std::move(done), {}, 0);
    return;
  }
  const auto& k = impl_->keys;
  impl_->run_script(Script::requeue_dead, {k.dead, k.schedule, k.meta}, std::move(wanted),
                    parse_into<int>(detail::script_name(Script::requeue_dead), std::move(done), detail::parse_count_reply));
}

namespace {

// Lua reads numbers from text; fixed notation keeps small rates exact enough.
std::string number_text(double value) { return fmt::format("{:.9f}", value); }

}  // namespace

void Queue::acquire_rate(const RateRequest& request, Callback<RateGrant> done) {
  const auto& k = impl_->keys;
  impl_->run_script(Script::rate_acquire, {k.rate, k.circuit},
                    {number_text(request.rate_per_second), std::to_string(request.tolerance_us),
                     std::to_string(std::max(request.wanted, 0)), std::to_string(request.lookahead_us),
                     number_text(request.recovery_per_second), request.probe ? "1" : "0"},
                    parse_into<RateGrant>(detail::script_name(Script::rate_acquire), std::move(done),
                                          detail::parse_rate_grant_reply));
}

void Queue::throttle(const ThrottleRequest& request, Callback<ThrottleResult> done) {
  const auto& k = impl_->keys;
  impl_->run_script(Script::rate_throttle, {k.rate},
                    {std::to_string(std::max<std::int64_t>(request.pause_ms, 0)), number_text(request.backoff),
                     number_text(request.floor), number_text(request.recovery_per_second),
                     std::to_string(request.hold_us)},
                    parse_into<ThrottleResult>(detail::script_name(Script::rate_throttle), std::move(done),
                                               detail::parse_throttle_reply));
}

void Queue::open_circuit(const std::string& reason, std::chrono::milliseconds cooldown,
                         Callback<bool> done) {
  const auto& k = impl_->keys;
  impl_->run_script(Script::circuit_open, {k.circuit, k.circuit_probe},
                    {reason, std::to_string(cooldown.count()), std::to_string(kDeadPayloadMaxBytes)},
                    parse_into<bool>(detail::script_name(Script::circuit_open), std::move(done),
                                     detail::parse_circuit_open_reply));
}

void Queue::check_circuit(const std::string& holder, std::chrono::milliseconds lock,
                          Callback<CircuitState> done) {
  const auto& k = impl_->keys;
  impl_->run_script(Script::circuit_check, {k.circuit, k.circuit_probe},
                    {holder, std::to_string(std::max<std::int64_t>(lock.count(), 1))},
                    parse_into<CircuitState>(detail::script_name(Script::circuit_check), std::move(done),
                                             detail::parse_circuit_check_reply));
}

void Queue::close_circuit(Callback<bool> done) {
  const auto& k = impl_->keys;
  auto parse = [](const Reply& reply) -> std::optional<bool> {
    auto count = detail::parse_count_reply(reply);
    if (!count) return std::nullopt;
    return *count == 1;
  };
  impl_->run_script(Script::circuit_close, {k.circuit, k.circuit_probe}, {},
                    parse_into<bool>(detail::script_name(Script::circuit_close), std::move(done), parse));
}

}  // namespace smm::queue
