#include "provider/client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <unordered_set>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <curl/curl.h>

#include "common/error.hpp"
#include "log/log.hpp"
#include "provider/detail/request.hpp"
#include "provider/detail/socket_watcher.hpp"

namespace smm::provider {
namespace {

// curl_global_init() must run once before any other libcurl call. It is
// never undone: the process uses libcurl until it exits.
void init_curl_once() {
  static const CURLcode result = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (result != CURLE_OK) {
    throw std::runtime_error(std::string("libcurl initialisation failed: ") +
                             curl_easy_strerror(result));
  }
}

}  // namespace

// Drives libcurl's multi_socket interface from the io_context: curl names
// the sockets and the one timeout it needs, SocketWatcher and `timer_` wait
// for them, and each wake-up calls curl_multi_socket_action() and collects
// finished transfers. No libcurl call happens inside a libcurl callback.
struct Client::Impl {
  Impl(boost::asio::io_context& io, const config::ProviderConfig& config);
  ~Impl();

  void fetch(const std::string& order_id, Callback done);
  void stop();
  std::size_t in_flight() const { return active_count_; }

 private:
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* user, void* socket_user);
  static int on_timer(CURLM* multi, long timeout_ms, void* user);
  static curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* address);
  static int on_close_socket(void* user, curl_socket_t fd);

  void set_multi_options();
  void arm_timer(long timeout_ms);
  void socket_action(curl_socket_t fd, int select_mask);
  void collect_finished();
  void finish(CURL* easy, CURLcode code);
  detail::Transfer* take_transfer();
  void recycle(detail::Transfer* transfer);
  void drop_transfer(detail::Transfer* transfer);
  void deliver(Callback done, FetchResult result);
  void deliver_error(Callback done, std::error_code error);

  boost::asio::io_context& io_;
  config::ProviderConfig config_;
  std::string url_;
  std::string form_prefix_;  // contains the credentials, so it is never logged
  std::shared_ptr<spdlog::logger> log_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  boost::asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  bool timeout_posted_ = false;  // a zero timeout's handler is queued
  detail::SocketWatcher sockets_;
  std::unordered_set<curl_socket_t> own_sockets_;  // opened by on_open_socket, not yet closed
  // Every transfer made so far, each with its configured easy handle; at
  // most max_in_flight of them are kept once idle.
  std::vector<std::unique_ptr<detail::Transfer>> transfers_;
  std::vector<detail::Transfer*> idle_;
  std::size_t active_count_ = 0;
  bool stopped_ = false;
  // Posted handlers keep a weak_ptr to this token. It expires when Impl is
  // destroyed, so no handler runs against a destroyed client.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

Client::Impl::Impl(boost::asio::io_context& io, const config::ProviderConfig& config)
    : io_(io),
      config_(config),
      url_(detail::status_url(config.base_url)),
      form_prefix_(detail::form_prefix(config)),
      log_(log::get("provider")),
      timer_(io),
      sockets_(io, [this](curl_socket_t fd, int mask) { socket_action(fd, mask); }) {
  init_curl_once();
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("libcurl could not create a multi handle");

  // "Expect:" stops libcurl from waiting for 100-continue on a POST.
  const std::string user_agent = detail::user_agent_header(config_.user_agent);
  for (const char* line : {"Accept: application/json", "Expect:", user_agent.c_str()}) {
    curl_slist* appended = curl_slist_append(headers_, line);
    if (appended == nullptr) {
      curl_slist_free_all(headers_);
      headers_ = nullptr;
      break;
    }
    headers_ = appended;
  }
  if (headers_ == nullptr) {
    curl_multi_cleanup(multi_);
    throw std::runtime_error("libcurl could not allocate the request headers");
  }
  set_multi_options();
}

void Client::Impl::set_multi_options() {
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, static_cast<void*>(this));
  // Requests beyond this wait inside libcurl for a cached connection.
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                    static_cast<long>(config_.max_in_flight));
  // By default the cache holds four times the handles added at the moment
  // (libcurl 7.88), so it shrinks whenever few requests run and closes idle
  // connections that the next burst has to open again.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(config_.max_in_flight));
}

Client::Impl::~Impl() {
  alive_.reset();
  timer_.cancel();

  // Closing cached connections during curl_multi_cleanup() calls
  // on_close_socket(), which still needs sockets_, so the watcher goes last.
  for (auto& transfer : transfers_) {
    if (transfer->active) curl_multi_remove_handle(multi_, transfer->easy);
    curl_easy_cleanup(transfer->easy);
  }
  transfers_.clear();
  idle_.clear();
  curl_multi_cleanup(multi_);
  curl_slist_free_all(headers_);
  sockets_.forget_all();
}

void Client::Impl::fetch(const std::string& order_id, Callback done) {
  if (stopped_) return deliver_error(std::move(done), errc::shutting_down);

  detail::Transfer* transfer = take_transfer();
  if (transfer == nullptr) return deliver_error(std::move(done), errc::http_transport);
  std::error_code error = detail::prepare_request(*transfer, form_prefix_, order_id);
  transfer->started = std::chrono::steady_clock::now();
  CURLMcode added = CURLM_OK;
  if (!error) added = curl_multi_add_handle(multi_, transfer->easy);
  if (error || added != CURLM_OK) {
    log_->warn("provider_request_not_started order_id={} error=\"{}\"", order_id,
               error ? error.message() : curl_multi_strerror(added));
    recycle(transfer);
    return deliver_error(std::move(done), errc::http_transport);
  }

  // The timer callback libcurl made inside curl_multi_add_handle() starts
  // the transfer from the io_context.
  transfer->done = std::move(done);
  transfer->active = true;
  ++active_count_;
}

void Client::Impl::stop() {
  stopped_ = true;

  // Collected first: removing a handle can re-enter on_socket/on_timer.
  std::vector<detail::Transfer*> aborted;
  for (auto& transfer : transfers_) {
    if (transfer->active) aborted.push_back(transfer.get());
  }
  for (detail::Transfer* transfer : aborted) {
    curl_multi_remove_handle(multi_, transfer->easy);
    transfer->active = false;
    --active_count_;
    Callback done = std::move(transfer->done);
    recycle(transfer);
    deliver_error(std::move(done), errc::shutting_down);
  }
  if (!aborted.empty()) log_->info("provider_requests_aborted count={}", aborted.size());
}

int Client::Impl::on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
  auto* self = static_cast<Impl*>(user);
  if (what == CURL_POLL_REMOVE) {
    // libcurl removes a connection's socket after every transfer, even when
    // it keeps the connection for the next one. Our own sockets stay in
    // epoll until on_close_socket(), which saves an epoll_ctl() pair per
    // request. Sockets libcurl opened itself are released at once, because
    // their close is never reported to us.
    if (self->own_sockets_.count(fd) != 0) {
      self->sockets_.stop_reporting(fd);
    } else {
      self->sockets_.forget(fd);
    }
    return 0;
  }
  return self->sockets_.watch(fd, what) ? 0 : -1;
}

int Client::Impl::on_timer(CURLM*, long timeout_ms, void* user) {
  static_cast<Impl*>(user)->arm_timer(timeout_ms);
  return 0;
}

curl_socket_t Client::Impl::on_open_socket(void* user, curlsocktype purpose,
                                           curl_sockaddr* address) {
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;

  // The kernel hands out the lowest free number, often that of a socket
  // libcurl just closed without telling us (the resolver's socketpair). A
  // watch left under this number is stale and would wait on nothing.
  auto* self = static_cast<Impl*>(user);
  self->sockets_.forget(fd);
  self->own_sockets_.insert(fd);
  return fd;
}

int Client::Impl::on_close_socket(void* user, curl_socket_t fd) {
  // Release from epoll before the number can be reused, then close.
  auto* self = static_cast<Impl*>(user);
  self->sockets_.forget(fd);
  self->own_sockets_.erase(fd);
  return ::close(fd) == 0 ? 0 : 1;
}

void Client::Impl::arm_timer(long timeout_ms) {
  ++timer_generation_;
  if (timeout_ms < 0) {
    timer_.cancel();
    return;
  }
  if (timeout_ms == 0) {
    // libcurl requests a zero timeout after every curl_multi_add_handle().
    // A posted handler runs as soon and does not re-arm the kernel timer,
    // which costs a timerfd_settime() call per request. The armed wait, if
    // any, is left to expire because its generation no longer matches.
    if (timeout_posted_) return;
    timeout_posted_ = true;
    boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
      if (alive.expired()) return;
      timeout_posted_ = false;
      socket_action(CURL_SOCKET_TIMEOUT, 0);
    });
    return;
  }

  timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  timer_.async_wait([this, alive = std::weak_ptr<char>(alive_),
                     generation = timer_generation_](const boost::system::error_code& error) {
    if (alive.expired() || error || generation != timer_generation_) return;
    socket_action(CURL_SOCKET_TIMEOUT, 0);
  });
}

void Client::Impl::socket_action(curl_socket_t fd, int select_mask) {
  int running = 0;
  CURLMcode code = curl_multi_socket_action(multi_, fd, select_mask, &running);
  // CURLM_BAD_SOCKET means an event for an fd libcurl already let go of.
  if (code != CURLM_OK && code != CURLM_BAD_SOCKET) {
    log_->warn("provider_socket_action_failed fd={} error=\"{}\"", fd, curl_multi_strerror(code));
  }
  collect_finished();
}

void Client::Impl::collect_finished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    // `message` is invalid once the handle is removed, so copy what we need.
    CURL* easy = message->easy_handle;
    CURLcode code = message->data.result;
    finish(easy, code);
  }
}

void Client::Impl::finish(CURL* easy, CURLcode code) {
  char* user = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &user) != CURLE_OK || user == nullptr) return;
  auto* transfer = reinterpret_cast<detail::Transfer*>(user);
  if (!transfer->active) return;

  FetchResult result = detail::make_result(*transfer, code);
  if (code != CURLE_OK) {
    result.transport_detail = detail::curl_error_text(*transfer, code);
    log_->debug("provider_request_failed order_id={} curl_code={} http_status={} error=\"{}\"",
                transfer->order_id, static_cast<int>(code), result.http_status,
                result.transport_detail);
  }

  curl_multi_remove_handle(multi_, easy);
  transfer->active = false;
  --active_count_;
  Callback done = std::move(transfer->done);
  recycle(transfer);
  deliver(std::move(done), std::move(result));
}

detail::Transfer* Client::Impl::take_transfer() {
  if (!idle_.empty()) {
    detail::Transfer* transfer = idle_.back();
    idle_.pop_back();
    return transfer;
  }
  auto transfer = std::make_unique<detail::Transfer>();
  transfer->easy = curl_easy_init();
  if (transfer->easy == nullptr) return nullptr;
  const detail::SocketHooks hooks{&Impl::on_open_socket, &Impl::on_close_socket, this};
  if (std::error_code error = detail::configure_handle(*transfer, config_, url_, headers_, hooks)) {
    log_->warn("provider_handle_not_configured error=\"{}\"", error.message());
    curl_easy_cleanup(transfer->easy);
    return nullptr;
  }
  transfers_.push_back(std::move(transfer));
  return transfers_.back().get();
}

// A configured handle keeps its options, so reuse saves setting them up
// again; the connections themselves stay in the multi handle's cache. At
// most max_in_flight idle transfers are kept, which bounds the pool: more
// than that are only made when callers exceed max_in_flight.
void Client::Impl::recycle(detail::Transfer* transfer) {
  transfer->done = nullptr;
  if (idle_.size() < static_cast<std::size_t>(config_.max_in_flight)) {
    idle_.push_back(transfer);
    return;
  }
  drop_transfer(transfer);
}

void Client::Impl::drop_transfer(detail::Transfer* transfer) {
  curl_easy_cleanup(transfer->easy);
  for (auto it = transfers_.begin(); it != transfers_.end(); ++it) {
    if (it->get() == transfer) {
      transfers_.erase(it);
      return;
    }
  }
}

void Client::Impl::deliver(Callback done, FetchResult result) {
  boost::asio::post(io_, [alive = std::weak_ptr<char>(alive_), done = std::move(done),
                          result = std::move(result)]() mutable {
    if (alive.expired()) return;
    done(std::move(result));
  });
}

void Client::Impl::deliver_error(Callback done, std::error_code error) {
  FetchResult result;
  result.transport_error = error;
  deliver(std::move(done), std::move(result));
}

Client::Client(boost::asio::io_context& io, const config::ProviderConfig& config)
    : impl_(std::make_unique<Impl>(io, config)) {}

Client::~Client() = default;

void Client::fetch_status(const std::string& order_id, Callback done) {
  impl_->fetch(order_id, std::move(done));
}

void Client::stop() { impl_->stop(); }

std::size_t Client::in_flight() const { return impl_->in_flight(); }

}  // namespace smm::provider
