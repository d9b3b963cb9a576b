#include "http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "fake_service.hpp"

namespace smm::fake {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::uint64_t kBodyLimit = 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);
constexpr std::size_t kReadBufferReserve = 8 * 1024;

std::string_view to_std(beast::string_view text) { return {text.data(), text.size()}; }

// One client connection over `Stream`: beast::tcp_stream for HTTP or
// TlsStream for HTTPS. Its requests are served in order, one at a time.
// Each pending handler owns a shared_ptr to the session, and the socket
// closes when the last one is gone.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket socket, FakeService& service)
    requires(!kTls)
      : stream_(std::move(socket)), delay_timer_(stream_.get_executor()), service_(service) {
    opened();
  }
  Session(tcp::socket socket, asio::ssl::context& tls, FakeService& service)
    requires kTls
      : stream_(std::move(socket), tls), delay_timer_(stream_.get_executor()), service_(service) {
    opened();
  }
  ~Session() { service_.connection_closed(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    if constexpr (kTls) {
      // A client that rejects the certificate aborts here; the session ends
      // without counting a request.
      lowest().expires_after(kIdleTimeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code error) {
                                if (!error) self->read_request();
                              });
    } else {
      read_request();
    }
  }

 private:
  void opened() {
    service_.connection_opened();
    buffer_.reserve(kReadBufferReserve);
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read_request() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    lowest().expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code error, std::size_t) {
    if (error == http::error::body_limit) return send_error(http::status::payload_too_large, "request body over 64 KiB\n");
    if (error == http::error::header_limit) {
      return send_error(http::status::request_header_fields_too_large, "request header too large\n");
    }
    if (error == http::error::end_of_stream || error == http::error::partial_message) return close();
    if (error.category() == http::make_error_code(http::error::bad_method).category()) {
      return send_error(http::status::bad_request, "invalid HTTP request\n");
    }
    if (error) return close();
    answer(parser_->get());
  }

  void answer(const http::request<http::string_body>& request) {
    if (request.target() == "/api/status") service_.note_user_agent(to_std(request[http::field::user_agent]));
    Reply reply = service_.handle(to_std(request.method_string()), to_std(request.target()), request.body(),
                                  Clock::now());
    prepare_response(reply, request.version(), request.keep_alive());
    if (reply.delay.count() <= 0) return write_response();

    // The delay runs on a timer so that other connections are served meanwhile.
    delay_timer_.expires_after(reply.delay);
    delay_timer_.async_wait([self = this->shared_from_this()](beast::error_code timer_error) {
      if (!timer_error) self->write_response();
    });
  }

  void prepare_response(Reply& reply, unsigned version, bool keep_alive) {
    response_ = {};
    response_.version(version);
    response_.result(reply.status);
    response_.set(http::field::content_type, beast::string_view(reply.content_type.data(), reply.content_type.size()));
    if (reply.retry_after_s >= 0) response_.set(http::field::retry_after, std::to_string(reply.retry_after_s));
    response_.keep_alive(keep_alive);
    response_.body() = std::move(reply.body);
    response_.prepare_payload();
  }

  void send_error(http::status status, std::string_view text) {
    response_ = {};
    response_.result(status);
    response_.set(http::field::content_type, "text/plain");
    response_.keep_alive(false);
    response_.body() = std::string(text);
    response_.prepare_payload();
    write_response();
  }

  void write_response() {
    lowest().expires_after(kWriteTimeout);
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code error, std::size_t) {
    if (error) return close();
    if (!response_.keep_alive()) return drain_and_close();
    read_request();
  }

  void close() {
    if constexpr (kTls) {
      // Sends close_notify; a client that already left makes this fail,
      // which changes nothing here.
      lowest().expires_after(kWriteTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code unused;
        self->lowest().socket().shutdown(tcp::socket::shutdown_send, unused);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  // Closing a socket with unread input sends a reset, which can destroy the
  // response before the client reads it (say a 413 sent while the body is
  // still arriving). So read and discard until the client closes, within
  // the idle timeout.
  void drain_and_close() {
    if constexpr (kTls) {
      // close() waits for the client's close_notify, which drains the input.
      close();
    } else {
      close();
      stream_.expires_after(kIdleTimeout);
      buffer_.clear();
      stream_.async_read_some(buffer_.prepare(kReadBufferReserve),
                              [self = this->shared_from_this()](beast::error_code error, std::size_t) {
                                if (!error) self->drain_and_close();
                              });
    }
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  asio::steady_timer delay_timer_;
  FakeService& service_;
};

class Listener {
 public:
  // With `tls` set, every connection is served over TLS with that context.
  Listener(asio::io_context& io, const tcp::endpoint& endpoint, asio::ssl::context* tls, FakeService& service)
      : acceptor_(io), retry_timer_(io), tls_(tls), service_(service) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
      on_accept(error, std::move(socket));
    });
  }

 private:
  void on_accept(beast::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted) return;
    if (error) {
      // Out of descriptors or similar: wait a little rather than spin.
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([this](beast::error_code timer_error) {
        if (!timer_error) accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (tls_ != nullptr) {
      std::make_shared<Session<TlsStream>>(std::move(socket), *tls_, service_)->start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(std::move(socket), service_)->start();
    }
    accept();
  }

  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::ssl::context* tls_;
  FakeService& service_;
};

// A server context with the PEM certificate chain and private key of the
// options; throws boost::system::system_error when either cannot be loaded.
std::unique_ptr<asio::ssl::context> make_tls_context(const Options& options) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  context->use_certificate_chain_file(options.tls_cert_file);
  context->use_private_key_file(options.tls_key_file, asio::ssl::context::pem);
  return context;
}

// Writes "PORT\n" to a temporary file and renames it, so a reader never
// sees a partly written port.
void write_port_file(const std::string& path, std::uint16_t port) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write port file " + temporary);
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace

int run_server(const Options& options) {
  asio::io_context io(1);
  FakeService service(options);
  tcp::endpoint endpoint(asio::ip::make_address(options.listen_host), options.listen_port);
  std::unique_ptr<asio::ssl::context> tls;
  if (!options.tls_cert_file.empty()) tls = make_tls_context(options);
  Listener listener(io, endpoint, tls.get(), service);
  listener.accept();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });

  if (!options.port_file.empty()) write_port_file(options.port_file, listener.port());
  std::fprintf(stderr, "fake_provider_listening address=%s port=%u scheme=%s polls_to_final=%u seed=%llu\n",
               options.listen_host.c_str(), static_cast<unsigned>(listener.port()), tls ? "https" : "http",
               options.polls_to_final, static_cast<unsigned long long>(options.seed));

  io.run();
  return 0;
}

}  // namespace smm::fake
