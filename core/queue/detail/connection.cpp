#include "queue/detail/connection.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "queue/detail/backoff.hpp"

namespace smm::queue::detail {

// Watches the socket of one hiredis context for readiness. The descriptor
// only waits and is released, never closed, because hiredis owns the fd and
// closes it when it frees the context. One watch per context; `owner` is
// valid while `context` is set, because the owner frees its context before
// it dies.
struct DescriptorWatch : std::enable_shared_from_this<DescriptorWatch> {
  DescriptorWatch(boost::asio::io_context& io, RedisConnection* owner_in,
                  redisAsyncContext* context_in)
      : descriptor(io), owner(owner_in), context(context_in) {}

  void arm(bool readable);
  void detach();

  boost::asio::posix::stream_descriptor descriptor;
  RedisConnection* owner;
  redisAsyncContext* context;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;
};

void DescriptorWatch::arm(bool readable) {
  bool& want = readable ? want_read : want_write;
  bool& armed = readable ? read_armed : write_armed;
  if (!want || armed || context == nullptr) return;

  armed = true;
  auto wait = readable ? boost::asio::posix::stream_descriptor::wait_read
                       : boost::asio::posix::stream_descriptor::wait_write;
  descriptor.async_wait(wait, [self = shared_from_this(), readable](const boost::system::error_code& ec) {
    (readable ? self->read_armed : self->write_armed) = false;
    bool wanted = readable ? self->want_read : self->want_write;
    if (ec || self->context == nullptr || !wanted) return;
    self->owner->handle_io(*self, readable);
  });
}

void DescriptorWatch::detach() {
  context = nullptr;
  want_read = false;
  want_write = false;
  // Deregisters from epoll and aborts the waits; the fd stays open for hiredis.
  descriptor.release();
}

namespace {

DescriptorWatch* watch_of(void* privdata) { return static_cast<DescriptorWatch*>(privdata); }

void hook_add_read(void* privdata) {
  watch_of(privdata)->want_read = true;
  watch_of(privdata)->arm(true);
}

void hook_del_read(void* privdata) { watch_of(privdata)->want_read = false; }

void hook_add_write(void* privdata) {
  watch_of(privdata)->want_write = true;
  watch_of(privdata)->arm(false);
}

void hook_del_write(void* privdata) { watch_of(privdata)->want_write = false; }

// hiredis 0.14 calls this once or twice while freeing a context (from both
// its disconnect and its free path), so it must be idempotent.
void hook_cleanup(void* privdata) {
  DescriptorWatch* watch = watch_of(privdata);
  if (watch->context == nullptr) return;
  RedisConnection* owner = watch->owner;
  owner->on_context_cleanup();
  watch->detach();
}

void on_reply_callback(redisAsyncContext* context, void* reply, void* privdata) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr) return;
  auto id = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(privdata));
  self->on_hiredis_reply(id, static_cast<redisReply*>(reply));
}

void on_connect_callback(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self != nullptr) self->on_hiredis_connect(status);
}

}  // namespace

RedisConnection::RedisConnection(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      resolver_(io),
      retry_timer_(io),
      random_(std::random_device{}()) {}

RedisConnection::~RedisConnection() {
  // Owners are not destroyed from inside our hiredis callbacks (handlers are
  // posted), so freeing the context here is safe.
  state_ = State::stopped;
  if (context_ != nullptr) teardown(errc::shutting_down, "stopped");
  fail_pending(errc::shutting_down);
}

void RedisConnection::start(std::function<void(bool)> on_state) {
  if (state_ != State::idle) return;
  on_state_ = std::move(on_state);
  begin_connect();
}

void RedisConnection::stop() {
  if (state_ == State::stopped) return;
  state_ = State::stopped;
  retry_timer_.cancel();
  resolver_.cancel();
  if (context_ != nullptr) teardown(errc::shutting_down, "stopped");
  fail_pending(errc::shutting_down);
}

void RedisConnection::begin_connect() {
  state_ = State::resolving;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(options_.endpoint.host, ec);
  if (!ec) {
    open_context(address.to_string());
    return;
  }

  // hiredis 0.14 resolves host names with a blocking getaddrinfo(); Asio's
  // resolver runs it off the event loop, and hiredis gets the address.
  // NOTE: Asio has no resolve timeout; a hanging DNS server delays the
  // connect by the resolver's own timeouts (resolv.conf).
  resolver_.async_resolve(
      options_.endpoint.host, std::to_string(options_.endpoint.port),
      [weak = weak_from_this()](const boost::system::error_code& resolve_ec,
                                const boost::asio::ip::tcp::resolver::results_type& results) {
        auto self = weak.lock();
        if (!self || self->state_ != State::resolving) return;
        if (resolve_ec || results.empty()) {
          self->attempt_failed("cannot resolve host: " + resolve_ec.message());
          return;
        }
        self->open_context(results.begin()->endpoint().address().to_string());
      });
}

void RedisConnection::open_context(const std::string& address) {
  ++generation_;
  teardown_reason_.clear();
  last_error_.clear();

  redisAsyncContext* context = redisAsyncConnect(address.c_str(), options_.endpoint.port);
  if (context == nullptr) {
    attempt_failed("cannot allocate a hiredis context");
    return;
  }
  if (context->err != 0 || !attach(context)) {
    std::string detail = context->err != 0 ? context->errstr : last_error_;
    redisAsyncFree(context);  // no hooks are set yet, so this only closes the socket
    attempt_failed(detail);
    return;
  }

  context_ = context;
  state_ = State::connecting;
  handshake();
}

bool RedisConnection::attach(redisAsyncContext* context) {
  auto watch = std::make_shared<DescriptorWatch>(io_, this, context);
  boost::system::error_code ec;
  watch->descriptor.assign(context->c.fd, ec);
  if (ec) {
    last_error_ = "cannot watch the socket: " + ec.message();
    watch->context = nullptr;
    return false;
  }

  context->data = this;
  context->ev.data = watch.get();
  context->ev.addRead = hook_add_read;
  context->ev.delRead = hook_del_read;
  context->ev.addWrite = hook_add_write;
  context->ev.delWrite = hook_del_write;
  context->ev.cleanup = hook_cleanup;
  redisAsyncSetConnectCallback(context, on_connect_callback);
  // The previous watch (if any) is detached; hiredis no longer refers to it.
  watch_ = std::move(watch);
  return true;
}

// AUTH (when the URL has a password), CLIENT SETNAME and SELECT, sent right away: hiredis
// queues them until the TCP connect completes, and their deadlines bound the
// connect as well.
void RedisConnection::handshake() {
  auto select = [this, weak = weak_from_this(), generation = generation_]() {
    send({"SELECT", std::to_string(options_.endpoint.db)}, options_.command_timeout,
         [weak, generation](std::error_code ec, Reply reply) {
           auto self = weak.lock();
           if (!self || self->generation_ != generation || self->state_ != State::connecting) return;
           if (ec) {
             self->reset(errc::redis_connect_failed, "SELECT failed: " + (reply.is_error() ? reply.str : ec.message()));
             return;
           }
           self->become_ready();
         });
  };

  // Naming only helps operators read CLIENT LIST, so its reply is ignored;
  // SELECT is pipelined right behind it.
  auto name_and_select = [this, select]() {
    if (!options_.client_name.empty()) {
      send({"CLIENT", "SETNAME", options_.client_name}, options_.command_timeout,
           [](std::error_code, Reply) {});
    }
    select();
  };

  if (options_.endpoint.password.empty()) {
    name_and_select();
    return;
  }

  std::vector<std::string> auth{"AUTH"};
  if (!options_.endpoint.username.empty()) auth.push_back(options_.endpoint.username);
  auth.push_back(options_.endpoint.password);
  send(std::move(auth), options_.command_timeout,
       [weak = weak_from_this(), generation = generation_, name_and_select](std::error_code ec,
                                                                            Reply reply) {
         auto self = weak.lock();
         if (!self || self->generation_ != generation || self->state_ != State::connecting) return;
         if (ec) {
           // Redis' AUTH errors never echo the password.
           self->reset(errc::redis_connect_failed, "AUTH failed: " + (reply.is_error() ? reply.str : ec.message()));
           return;
         }
         name_and_select();
       });
}

void RedisConnection::command(const std::vector<std::string>& argv, Duration timeout, ReplyHandler handler) {
  if (state_ != State::ready) {
    auto ec = state_ == State::stopped ? errc::shutting_down : errc::redis_disconnected;
    post_reply(std::move(handler), ec, {});
    return;
  }
  send(argv, timeout, std::move(handler));
}

void RedisConnection::send(const std::vector<std::string>& argv, Duration timeout, ReplyHandler handler) {
  std::vector<const char*> args;
  std::vector<std::size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& arg : argv) {
    args.push_back(arg.data());
    lengths.push_back(arg.size());
  }

  std::uint64_t id = next_id_++;
  int rc = redisAsyncCommandArgv(context_, on_reply_callback,
                                 reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)),
                                 static_cast<int>(args.size()), args.data(), lengths.data());
  if (rc != REDIS_OK) {
    post_reply(std::move(handler), errc::redis_disconnected, {});
    return;
  }

  auto deadline = std::make_unique<boost::asio::steady_timer>(io_, timeout);
  deadline->async_wait([weak = weak_from_this(), id, timeout](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_deadline(id, timeout);
  });
  pending_.emplace(id, Pending{std::move(handler), std::move(deadline)});
}

void RedisConnection::on_deadline(std::uint64_t id, Duration timeout) {
  if (pending_.count(id) == 0) return;
  // Replies arrive in order, so a missing one blocks every later reply: drop
  // the connection and fail them all.
  teardown(errc::redis_timeout, "no reply within " + std::to_string(timeout.count()) + " ms");
}

void RedisConnection::on_hiredis_reply(std::uint64_t id, redisReply* reply) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  ReplyHandler handler = std::move(it->second.handler);
  pending_.erase(it);

  if (reply == nullptr) {
    post_reply(std::move(handler), loss_code(), {});
    return;
  }
  Reply value = Reply::from_hiredis(*reply);
  std::error_code ec;
  if (value.is_error()) ec = errc::redis_reply_error;
  post_reply(std::move(handler), ec, std::move(value));
}

void RedisConnection::on_hiredis_connect(int status) {
  // Only note the reason: freeing or disconnecting from inside the connect
  // callback is unsafe before hiredis 1.1, and hiredis frees the context
  // itself right after a failed connect.
  if (status != REDIS_OK && context_ != nullptr && context_->errstr != nullptr) {
    last_error_ = context_->errstr;
  }
}

void RedisConnection::on_context_cleanup() {
  if (context_ == nullptr) return;
  if (last_error_.empty() && context_->err != 0 && context_->errstr != nullptr) {
    last_error_ = context_->errstr;
  }
  // hiredis frees the context after this returns; never touch it again.
  context_ = nullptr;
  ++generation_;
  fail_pending(loss_code());
  if (state_ == State::stopped) return;
  attempt_failed(last_error_.empty() ? "connection closed by the server" : last_error_);
}

void RedisConnection::handle_io(DescriptorWatch& watch, bool readable) {
  ++hiredis_depth_;
  if (readable) {
    redisAsyncHandleRead(watch.context);
  } else {
    redisAsyncHandleWrite(watch.context);
  }
  --hiredis_depth_;
  // Both are no-ops once hiredis freed the context during the call.
  watch.arm(true);
  watch.arm(false);
}

void RedisConnection::reset(std::error_code reason, const std::string& detail) {
  if (state_ == State::connecting || state_ == State::ready) teardown(reason, detail);
}

void RedisConnection::teardown(std::error_code reason, const std::string& detail) {
  if (context_ == nullptr) return;
  if (hiredis_depth_ > 0) {
    // Inside hiredis the context must not be freed; do it once hiredis returned.
    boost::asio::post(io_, [weak = weak_from_this(), generation = generation_, reason, detail]() {
      auto self = weak.lock();
      if (self && self->generation_ == generation) self->teardown(reason, detail);
    });
    return;
  }

  teardown_reason_ = reason;
  last_error_ = detail;
  ++hiredis_depth_;
  // Runs pending callbacks with a nil reply and the cleanup hook, which
  // clears context_ and schedules the reconnect.
  redisAsyncFree(context_);
  --hiredis_depth_;
}

void RedisConnection::fail_pending(std::error_code ec) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, entry] : pending) post_reply(std::move(entry.handler), ec, {});
}

void RedisConnection::attempt_failed(const std::string& detail) {
  bool was_ready = state_ == State::ready;
  double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  auto delay = reconnect_delay(failed_attempts_, options_.reconnect_min, options_.reconnect_max, unit);
  if (failed_attempts_ < 62) ++failed_attempts_;
  state_ = State::waiting;

  const auto& name = options_.name;
  auto endpoint = options_.endpoint.display();
  if (was_ready) {
    spdlog::warn("redis_disconnected connection={} endpoint={} error=\"{}\" retry_in_ms={}", name,
                 endpoint, detail, delay.count());
    post_state(false);
  } else if (!outage_logged_) {
    spdlog::warn("redis_connect_failed connection={} endpoint={} error=\"{}\" retry_in_ms={}", name,
                 endpoint, detail, delay.count());
  } else {
    spdlog::debug("redis_connect_failed connection={} endpoint={} error=\"{}\" retry_in_ms={}", name,
                  endpoint, detail, delay.count());
  }
  outage_logged_ = true;

  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ != State::waiting) return;
    self->begin_connect();
  });
}

void RedisConnection::become_ready() {
  state_ = State::ready;
  failed_attempts_ = 0;
  outage_logged_ = false;
  spdlog::info("redis_connected connection={} endpoint={}", options_.name, options_.endpoint.display());
  post_state(true);
}

std::error_code RedisConnection::loss_code() const {
  if (teardown_reason_) return teardown_reason_;
  if (state_ == State::stopped) return errc::shutting_down;
  if (state_ == State::ready) return errc::redis_disconnected;
  return errc::redis_connect_failed;
}

void RedisConnection::post_state(bool ready_now) {
  boost::asio::post(io_, [weak = weak_from_this(), ready_now]() {
    auto self = weak.lock();
    if (!self || self->state_ == State::stopped || !self->on_state_) return;
    self->on_state_(ready_now);
  });
}

void RedisConnection::post_reply(ReplyHandler handler, std::error_code ec, Reply reply) {
  boost::asio::post(io_, [handler = std::move(handler), ec, reply = std::move(reply)]() mutable {
    handler(ec, std::move(reply));
  });
}

}  // namespace smm::queue::detail
