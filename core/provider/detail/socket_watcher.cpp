#include "provider/detail/socket_watcher.hpp"

#include <boost/asio/error.hpp>

#include "log/log.hpp"

namespace smm::provider::detail {
namespace {

bool wants(int requested, bool read) {
  if (read) return requested == CURL_POLL_IN || requested == CURL_POLL_INOUT;
  return requested == CURL_POLL_OUT || requested == CURL_POLL_INOUT;
}

}  // namespace

SocketWatcher::SocketWatcher(boost::asio::io_context& io, ReadyHandler on_ready)
    : io_(io), on_ready_(std::move(on_ready)) {}

SocketWatcher::~SocketWatcher() {
  alive_.reset();
  forget_all();
}

bool SocketWatcher::watch(curl_socket_t fd, int what) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) {
    auto entry = std::make_unique<Watch>(io_, ++next_generation_);
    boost::system::error_code error;
    entry->descriptor.assign(fd, error);
    if (error) {
      log::get("provider")->warn("provider_socket_watch_failed fd={} error=\"{}\"", fd,
                                 error.message());
      return false;
    }
    it = watches_.emplace(fd, std::move(entry)).first;
  }

  it->second->requested = what;
  arm_requested(fd, *it->second);
  return true;
}

void SocketWatcher::stop_reporting(curl_socket_t fd) {
  auto it = watches_.find(fd);
  if (it != watches_.end()) it->second->requested = CURL_POLL_NONE;
}

void SocketWatcher::forget(curl_socket_t fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;

  // release() cancels the waits (their handlers see operation_aborted) and
  // takes the fd out of epoll, leaving the fd itself open for curl.
  it->second->descriptor.release();
  watches_.erase(it);
}

void SocketWatcher::forget_all() {
  for (auto& [fd, entry] : watches_) entry->descriptor.release();
  watches_.clear();
}

SocketWatcher::Watch* SocketWatcher::find(curl_socket_t fd, std::uint64_t generation) {
  auto it = watches_.find(fd);
  if (it == watches_.end() || it->second->generation != generation) return nullptr;
  return it->second.get();
}

void SocketWatcher::arm_requested(curl_socket_t fd, Watch& watch) {
  if (wants(watch.requested, true)) arm(fd, watch, Direction::read);
  if (wants(watch.requested, false)) arm(fd, watch, Direction::write);
}

void SocketWatcher::arm(curl_socket_t fd, Watch& watch, Direction direction) {
  bool& pending = direction == Direction::read ? watch.read_pending : watch.write_pending;
  if (pending) return;
  pending = true;

  auto wait_type = direction == Direction::read
                       ? boost::asio::posix::stream_descriptor::wait_read
                       : boost::asio::posix::stream_descriptor::wait_write;
  watch.descriptor.async_wait(
      wait_type, [this, alive = std::weak_ptr<char>(alive_), fd, generation = watch.generation,
                  direction](const boost::system::error_code& error) {
        if (alive.expired()) return;
        on_wait_done(fd, generation, direction, error);
      });
}

void SocketWatcher::on_wait_done(curl_socket_t fd, std::uint64_t generation, Direction direction,
                                 const boost::system::error_code& error) {
  Watch* watch = find(fd, generation);
  if (watch == nullptr) return;  // forgotten, or the fd number now names another socket

  const bool read = direction == Direction::read;
  (read ? watch->read_pending : watch->write_pending) = false;
  if (error == boost::asio::error::operation_aborted) return;
  // curl may have dropped this direction while the wait was queued.
  if (!wants(watch->requested, read)) return;

  int mask = read ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
  if (error) mask |= CURL_CSELECT_ERR;
  on_ready_(fd, mask);

  // The handler may have forgotten or replaced the entry. After an error the
  // direction is not waited on again, so a broken fd cannot spin the loop,
  // and curl's own timeout ends the transfer.
  watch = find(fd, generation);
  if (watch != nullptr && !error) arm_requested(fd, *watch);
}

}  // namespace smm::provider::detail
