#pragma once
// Helpers for the integration tests: a temporary folder per test, child
// processes, and small synchronous Redis and PostgreSQL clients used only
// to set up and check state (never by the code under test).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

struct redisContext;
struct pg_conn;

namespace smm::test {

// Reads SMM_TEST_REDIS_URL / SMM_TEST_PG_CONNINFO, which scripts/test sets.
// Empty when unset; integration tests then skip with a message naming them.
std::string redis_url();
std::string pg_conninfo();

// A name unique to this process and call, usable as a key prefix or table.
std::string unique_name(const std::string& stem);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

// A child process with stdout and stderr sent to a log file.
class Process {
 public:
  Process(const std::string& program, const std::vector<std::string>& args,
          const std::string& log_path, const std::map<std::string, std::string>& env = {});
  ~Process();  // SIGKILLs the child if it is still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Waits for exit up to `timeout`; returns the exit code, 128+signal for a
  // signal, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Sleeps 20 ms; declared before eventually(), which calls it.
void sleep_for_poll();

// Polls `condition` every 20 ms until it is true or `timeout` passes. For
// waiting on state owned by another process, which gives no event to await.
template <typename F>
bool eventually(F condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    sleep_for_poll();
  }
  return condition();
}

// Runs a command and returns its exit code; stdout+stderr go to `output`.
int run_command(const std::string& program, const std::vector<std::string>& args,
                std::string* output, const std::map<std::string, std::string>& env = {});

class SyncRedis {
 public:
  explicit SyncRedis(const std::string& url);
  ~SyncRedis();
  // Runs one command; returns the reply flattened: a string or integer as
  // one element, an array as its elements, nil as an empty vector.
  std::vector<std::string> command(const std::vector<std::string>& argv);
  long long integer(const std::vector<std::string>& argv);
  std::string port() const { return port_; }

 private:
  redisContext* context_ = nullptr;
  std::string port_;
};

class SyncPg {
 public:
  explicit SyncPg(const std::string& conninfo);
  ~SyncPg();
  // Runs SQL; throws on failure. Returns rows of text values (NULL -> "<null>").
  std::vector<std::vector<std::string>> query(const std::string& sql);
  void exec(const std::string& sql) { query(sql); }

 private:
  pg_conn* conn_ = nullptr;
};

// The fake provider as a child process on a free loopback port.
// A response read by http_request.
struct HttpResponse {
  int status = 0;
  std::string headers;  // the header lines as received, without the status line
  std::string body;
};

// Sends one blocking HTTP/1.1 request with `Connection: close` to a loopback
// `base_url` ("http://127.0.0.1:PORT") and reads the whole response. Throws
// std::runtime_error on a connection failure or after a 10 s read timeout.
HttpResponse http_request(const std::string& base_url, const std::string& method,
                          const std::string& target, const std::string& body = "",
                          const std::string& content_type = "application/x-www-form-urlencoded");

// Percent-encodes a form value (application/x-www-form-urlencoded).
std::string form_encode(const std::string& value);

class FakeProvider {
 public:
  explicit FakeProvider(const TempDir& dir, std::vector<std::string> extra_args = {});
  const std::string& base_url() const { return base_url_; }
  // GET on the fake's own HTTP paths, e.g. "/stats"; returns the body.
  std::string get(const std::string& path) const;
  // POST of a form body, e.g. to "/api/status" or "/control".
  HttpResponse post(const std::string& path, const std::string& form_body) const;
  // The form body of a status request for `id` with the expected credentials.
  static std::string status_form(const std::string& id);
  Process& process() { return *process_; }

  static constexpr const char* kApiId = "example-api-id";
  static constexpr const char* kApiKey = "example-api-key";
  static constexpr const char* kSecretKey = "example-secret-key";

 private:
  std::unique_ptr<Process> process_;
  std::string base_url_;
};

}  // namespace smm::test
