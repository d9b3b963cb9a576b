#include "health/server.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <array>
#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "log/log.hpp"

namespace smm::health {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::shared_ptr<spdlog::logger> logger() { return log::get("health"); }

// "127.0.0.1:9580" or "[::1]:9580"; the config loader has validated it.
tcp::endpoint parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.starts_with('[')) host = host.substr(1, host.size() - 2);
  const auto port = static_cast<unsigned short>(std::stoul(listen.substr(colon + 1)));
  return {asio::ip::make_address(host), port};
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// Written to a temporary name and renamed, so a reader never sees half a
// number. A blocking write, once, at start-up before the loop runs.
void write_port_file(const std::string& path, unsigned short port) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) throw std::runtime_error(fmt::format("cannot write health.port_file {}", temporary));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    throw std::runtime_error(fmt::format("cannot rename {} to health.port_file {}: {}", temporary, path, error.message()));
  }
}

class Session;

}  // namespace

namespace detail {

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(asio::io_context& io, const config::HealthConfig& health, Sources answer_sources)
      : config(health), sources(std::move(answer_sources)), acceptor(io), retry_timer(io) {}

  void accept();
  void on_accept(boost::system::error_code error, tcp::socket socket);

  config::HealthConfig config;
  Sources sources;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  ServerStats stats;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  bool stopped = false;
  bool limit_logged = false;
};

}  // namespace detail

namespace {

// One client connection: reads requests one at a time (keep-alive is
// honoured), responds to each, and closes on any error or limit.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<detail::ServerState> state)
      : stream_(std::move(socket)),
        // Twice the limit: room for a whole header and a whole body, so the
        // parser, not the buffer, reports which of the two was too large.
        buffer_(2 * state->config.max_request_bytes),
        state_(std::move(state)) {
    ++state_->stats.open_connections;
  }

  ~Session() {
    --state_->stats.open_connections;
    state_->sessions.erase(this);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    state_->sessions.emplace(this, weak_from_this());
    read_request();
  }

  void close() {
    boost::system::error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->config.max_request_bytes));
    parser_->body_limit(state_->config.max_request_bytes);
    stream_.expires_after(state_->config.read_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code error, std::size_t) {
    if (error == http::error::body_limit) return reject(413, "request body too large\n");
    if (error == http::error::header_limit) return reject(431, "request header too large\n");
    if (error == http::error::buffer_overflow) {
      const bool header_done = parser_->is_header_done();
      return reject(header_done ? 413 : 431, header_done ? "request body too large\n" : "request header too large\n");
    }
    // A timeout, a reset or a client that hung up gets no response.
    const bool hung_up = error == http::error::end_of_stream || error == http::error::partial_message;
    const bool parse_error = error.category() == http::make_error_code(http::error::bad_method).category();
    if (error && parse_error && !hung_up) return reject(400, "invalid HTTP request\n");
    if (error) return close();

    const auto& request = parser_->get();
    const std::string_view method(request.method_string().data(), request.method_string().size());
    const std::string_view target(request.target().data(), request.target().size());
    send(handle_request(method, target, state_->sources), request.version(), request.keep_alive());
  }

  void reject(int status, const char* text) {
    send(Response{status, "text/plain; charset=utf-8", text, false}, 11, false);
  }

  void send(Response answer, unsigned version, bool keep_alive) {
    ++state_->stats.responses[answer.status];
    response_ = {};
    response_.version(version);
    response_.result(static_cast<unsigned>(answer.status));
    response_.set(http::field::content_type, answer.content_type);
    response_.set(http::field::cache_control, "no-store");
    if (answer.allow_get_only) response_.set(http::field::allow, "GET");
    response_.keep_alive(keep_alive);
    response_.body() = std::move(answer.body);
    response_.prepare_payload();

    // The same limit applies to a client too slow to read its response.
    stream_.expires_after(state_->config.read_timeout);
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code error, std::size_t) {
    if (error) return close();
    if (response_.keep_alive()) return read_request();
    linger();
  }

  // Closing with unread request bytes would make the kernel send a reset,
  // which can destroy the answer before the client reads it. So stop
  // sending, then read and drop what the client still sends, for at most
  // read_timeout.
  void linger() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(state_->config.read_timeout);
    discard();
  }

  void discard() {
    stream_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code error, std::size_t) {
      if (error) return self->close();
      self->discard();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> discard_{};
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace

void detail::ServerState::accept() {
  acceptor.async_accept([self = shared_from_this()](boost::system::error_code error, tcp::socket socket) {
    self->on_accept(error, std::move(socket));
  });
}

void detail::ServerState::on_accept(boost::system::error_code error, tcp::socket socket) {
  if (stopped || error == asio::error::operation_aborted) return;
  if (error) {
    // Usually out of file descriptors. Open connections end within
    // read_timeout at the latest, so accepting again after that can succeed.
    logger()->warn("health_accept_failed error=\"{}\" retry_in_ms={}", error.message(), config.read_timeout.count());
    retry_timer.expires_after(config.read_timeout);
    retry_timer.async_wait([self = shared_from_this()](boost::system::error_code timer_error) {
      if (!timer_error && !self->stopped) self->accept();
    });
    return;
  }

  if (stats.open_connections >= static_cast<std::uint64_t>(config.max_connections)) {
    ++stats.connections_rejected;
    if (!limit_logged) {
      logger()->warn("health_connection_limit_reached max_connections={} action=close_new", config.max_connections);
      limit_logged = true;
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  } else {
    limit_logged = false;
    std::make_shared<Session>(std::move(socket), shared_from_this())->start();
  }
  accept();
}

Server::Server(asio::io_context& io, const config::HealthConfig& config, Sources sources)
    : state_(std::make_shared<detail::ServerState>(io, config, std::move(sources))) {}

Server::~Server() { stop(); }

unsigned short Server::start() {
  const tcp::endpoint endpoint = parse_listen(state_->config.listen);
  boost::system::error_code error;
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    throw std::runtime_error(
        fmt::format("cannot listen on health.listen {}: {}", state_->config.listen, error.message()));
  }

  const tcp::endpoint bound = acceptor.local_endpoint();
  if (!state_->config.port_file.empty()) write_port_file(state_->config.port_file, bound.port());
  logger()->info("health_listening address={} max_connections={}", format_endpoint(bound), state_->config.max_connections);
  state_->accept();
  return bound.port();
}

void Server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  state_->retry_timer.cancel();
  // Closing a socket ends its session: the pending read or write fails.
  auto sessions = state_->sessions;
  for (auto& [raw, weak] : sessions) {
    if (auto session = weak.lock()) session->close();
  }
}

const ServerStats& Server::stats() const { return state_->stats; }

}  // namespace smm::health
