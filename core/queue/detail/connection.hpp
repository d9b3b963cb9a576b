#pragma once
// One hiredis 0.14 async connection driven by an Asio io_context, with what
// hiredis 0.14 lacks: command deadlines, reconnecting with backoff, AUTH and
// SELECT after each connect, and one log line per change of state.
//
// Thread-safety: none; all calls and handlers on the io_context thread.
// Every command handler is posted to the io_context and runs exactly once,
// never from inside a hiredis callback, so handlers may issue new commands or
// stop the connection.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "queue/detail/redis_url.hpp"
#include "queue/detail/reply.hpp"

struct redisAsyncContext;
struct redisReply;

namespace smm::queue::detail {

struct DescriptorWatch;

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  using Duration = std::chrono::milliseconds;
  // On success `ec` is empty. An error reply gives errc::redis_reply_error
  // with the reply, whose `str` is the message. A lost or timed-out
  // connection gives redis_disconnected, redis_connect_failed, redis_timeout
  // or shutting_down with a nil reply.
  using ReplyHandler = std::function<void(std::error_code ec, Reply reply)>;

  struct Options {
    RedisEndpoint endpoint;
    std::string name;            // which connection, for logs ("main", "blocking")
    std::string client_name;     // CLIENT SETNAME value; empty = not named
    Duration command_timeout{};  // also bounds connect, AUTH and SELECT
    Duration reconnect_min{};
    Duration reconnect_max{};
  };

  RedisConnection(boost::asio::io_context& io, Options options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects and keeps reconnecting until stop(). `on_state` is posted with
  // true once AUTH and SELECT succeeded and with false when that session ends.
  void start(std::function<void(bool ready)> on_state);

  // Drops the connection for good; pending handlers get errc::shutting_down.
  void stop();

  bool ready() const { return state_ == State::ready; }

  // Sends one command. Fails at once (posted) with redis_disconnected unless
  // ready(). If no reply comes within `timeout`, the whole connection is torn
  // down because later replies would queue behind the missing one. Every
  // pending handler then gets errc::redis_timeout and a reconnect follows.
  void command(const std::vector<std::string>& argv, Duration timeout, ReplyHandler handler);

  // Drops the current session (e.g. when the owner's own set-up after
  // connecting failed) and reconnects after the usual backoff.
  void reset(std::error_code reason, const std::string& detail);

  // Called by the hiredis hooks and the descriptor watch; not for callers.
  void on_hiredis_reply(std::uint64_t id, redisReply* reply);
  void on_hiredis_connect(int status);
  void on_context_cleanup();
  void handle_io(DescriptorWatch& watch, bool readable);

 private:
  enum class State { idle, resolving, connecting, ready, waiting, stopped };

  struct Pending {
    ReplyHandler handler;
    std::unique_ptr<boost::asio::steady_timer> deadline;
  };

  void begin_connect();
  void open_context(const std::string& address);
  bool attach(redisAsyncContext* context);
  void handshake();
  void send(const std::vector<std::string>& argv, Duration timeout, ReplyHandler handler);
  void on_deadline(std::uint64_t id, Duration timeout);
  void teardown(std::error_code reason, const std::string& detail);
  void fail_pending(std::error_code ec);
  void attempt_failed(const std::string& detail);
  void become_ready();
  std::error_code loss_code() const;
  void post_state(bool ready);
  void post_reply(ReplyHandler handler, std::error_code ec, Reply reply);

  boost::asio::io_context& io_;
  Options options_;
  State state_ = State::idle;
  std::function<void(bool)> on_state_;

  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<DescriptorWatch> watch_;
  std::uint64_t generation_ = 0;   // bumped per context, so stale handlers do nothing
  int hiredis_depth_ = 0;          // > 0 while hiredis runs our callbacks

  std::map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;

  std::error_code teardown_reason_;  // why we dropped the context ourselves
  std::string last_error_;           // hiredis' or our own description of the last failure

  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer retry_timer_;
  int failed_attempts_ = 0;
  bool outage_logged_ = false;
  std::mt19937_64 random_;
};

}  // namespace smm::queue::detail
