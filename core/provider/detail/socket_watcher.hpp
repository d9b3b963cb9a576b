#pragma once
// Readiness waits on the sockets libcurl reports through
// CURLMOPT_SOCKETFUNCTION, done with Asio without Asio owning them.
//
// Asio's descriptors close their fd when destroyed, but libcurl owns these
// fds: it closes them itself, keeps them in its connection cache, and reports
// some it never opened through CURLOPT_OPENSOCKETFUNCTION (the threaded
// resolver's socketpair). So each watched fd gets a posix::stream_descriptor
// used only for async_wait(), and forget() release()s it, which cancels the
// waits and removes the fd from epoll without closing it.
//
// Thread-safety: none; everything runs on the io_context's thread. Wait
// handlers that complete after the watcher is destroyed do nothing.
//
// NOTE: libcurl opens some sockets itself (the resolver's socketpair). If it
// closes one and gets the same fd number for another of its own, with no
// CURL_POLL_REMOVE in between, the old watch stays registered for a
// descriptor the kernel already dropped from epoll. The transfer then waits
// for its CURLOPT_TIMEOUT_MS. Sockets opened through the
// client's open-socket hook do not have this problem, because the hook
// forgets any watch under the new number.

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <curl/curl.h>

namespace smm::provider::detail {

class SocketWatcher {
 public:
  // Called when a requested direction is ready, with a CURL_CSELECT_* mask for
  // curl_multi_socket_action(). It may call watch() or forget() on any fd.
  using ReadyHandler = std::function<void(curl_socket_t fd, int select_mask)>;

  SocketWatcher(boost::asio::io_context& io, ReadyHandler on_ready);
  ~SocketWatcher();
  SocketWatcher(const SocketWatcher&) = delete;
  SocketWatcher& operator=(const SocketWatcher&) = delete;

  // Starts or changes the watch on `fd`, where `what` is CURL_POLL_IN, _OUT
  // or _INOUT. Returns false when Asio cannot register the fd.
  bool watch(curl_socket_t fd, int what);

  // Stops reporting readiness of `fd` but keeps it registered with epoll,
  // for a socket that is likely watched again soon (a connection going back
  // to libcurl's cache). Waits already queued are ignored when they end.
  // Only for sockets whose close the caller handles, so that forget() runs
  // before the fd number can name another socket.
  void stop_reporting(curl_socket_t fd);

  // Stops watching `fd` and releases it to its owner. Unknown fds are ignored.
  void forget(curl_socket_t fd);

  void forget_all();

  std::size_t size() const { return watches_.size(); }

 private:
  enum class Direction { read, write };

  // One fd's state. A wait handler compares `generation` to check that the
  // entry it was started for is still the one under that fd number, because
  // curl may close an fd and get the same number again for a new socket.
  struct Watch {
    Watch(boost::asio::io_context& io, std::uint64_t id) : descriptor(io), generation(id) {}
    boost::asio::posix::stream_descriptor descriptor;
    std::uint64_t generation;
    int requested = CURL_POLL_NONE;  // CURL_POLL_IN, _OUT or _INOUT
    bool read_pending = false;
    bool write_pending = false;
  };

  Watch* find(curl_socket_t fd, std::uint64_t generation);
  void arm_requested(curl_socket_t fd, Watch& watch);
  void arm(curl_socket_t fd, Watch& watch, Direction direction);
  void on_wait_done(curl_socket_t fd, std::uint64_t generation, Direction direction,
                    const boost::system::error_code& error);

  boost::asio::io_context& io_;
  ReadyHandler on_ready_;
  std::unordered_map<curl_socket_t, std::unique_ptr<Watch>> watches_;
  std::uint64_t next_generation_ = 0;
  // Wait handlers keep a weak_ptr to this token, which expires when the
  // watcher is destroyed.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace smm::provider::detail
