#include "support/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

namespace smm::test {
namespace {

constexpr std::chrono::milliseconds kPollInterval{20};
constexpr std::chrono::milliseconds kWaitPollInterval{5};
constexpr std::chrono::seconds kFakeStartTimeout{10};
constexpr int kHttpTimeoutSeconds = 10;
constexpr int kRedisConnectTimeoutSeconds = 5;

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

std::string errno_text() { return std::strerror(errno); }

// Converts a waitpid status to the exit code, or 128+signal.
int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The argv and envp for exec, built before fork because the child of a
// multi-threaded process may only call async-signal-safe functions.
struct ExecImage {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecImage make_exec_image(const std::string& program, const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env) {
  ExecImage image;
  image.argv_storage.push_back(program);
  image.argv_storage.insert(image.argv_storage.end(), args.begin(), args.end());

  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    std::string name = text.substr(0, text.find('='));
    if (env.find(name) == env.end()) image.env_storage.push_back(std::move(text));
  }
  for (const auto& [name, value] : env) image.env_storage.push_back(name + "=" + value);

  for (auto& arg : image.argv_storage) image.argv.push_back(arg.data());
  image.argv.push_back(nullptr);
  for (auto& entry : image.env_storage) image.envp.push_back(entry.data());
  image.envp.push_back(nullptr);
  return image;
}

// Runs in the child after fork: points stdin at /dev/null and stdout and
// stderr at `output_fd`, closes every other descriptor, then execs. The
// child is killed when the test process dies, so a crashed test leaves no
// server running.
[[noreturn]] void exec_child(const ExecImage& image, int output_fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(output_fd, STDOUT_FILENO);
  dup2(output_fd, STDERR_FILENO);
  close_range(3, ~0U, 0);
  execvpe(image.argv[0], image.argv.data(), image.envp.data());
  _exit(127);
}

pid_t spawn(const ExecImage& image, int output_fd) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed: " + errno_text());
  if (pid == 0) exec_child(image, output_fd, parent);
  return pid;
}

// Splits "http://HOST:PORT" into its port; only loopback hosts are accepted
// because the tests never talk to another machine.
std::uint16_t loopback_port(const std::string& base_url) {
  const std::string prefix = "http://127.0.0.1:";
  if (base_url.rfind(prefix, 0) != 0) {
    throw std::runtime_error("http_request supports only http://127.0.0.1:PORT, got " + base_url);
  }
  int port = std::stoi(base_url.substr(prefix.size()));
  if (port <= 0 || port > 65535) throw std::runtime_error("invalid port in " + base_url);
  return static_cast<std::uint16_t>(port);
}

int connect_loopback(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed: " + errno_text());

  timeval timeout{kHttpTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    std::string message = "connect to 127.0.0.1:" + std::to_string(port) + " failed: " + errno_text();
    close(fd);
    throw std::runtime_error(message);
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("HTTP send failed: " + errno_text());
    sent += static_cast<std::size_t>(n);
  }
}

// Reads until the server closes the connection.
std::string receive_all(int fd) {
  std::string data;
  char buffer[16384];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("HTTP receive failed or timed out: " + errno_text());
    if (n == 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

HttpResponse parse_response(const std::string& raw) {
  HttpResponse response;
  std::size_t header_end = raw.find("\r\n\r\n");
  std::size_t line_end = raw.find("\r\n");
  if (header_end == std::string::npos || line_end == std::string::npos || raw.size() < 12) {
    throw std::runtime_error("invalid HTTP response: " + raw.substr(0, 200));
  }
  response.status = std::stoi(raw.substr(9, 3));
  response.headers = raw.substr(line_end + 2, header_end - line_end - 2);
  response.body = raw.substr(header_end + 4);

  // A keep-alive server may leave bytes after the body; Content-Length bounds it.
  std::string lowered = lower(response.headers);
  std::size_t length_at = lowered.find("content-length:");
  if (length_at != std::string::npos) {
    std::size_t length = std::stoul(lowered.substr(length_at + 15));
    if (length < response.body.size()) response.body.resize(length);
  }
  return response;
}

// hiredis reply to flat strings; a nil element inside an array becomes "".
void flatten_reply(const redisReply* reply, std::vector<std::string>* out) {
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out->emplace_back(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      out->push_back(std::to_string(reply->integer));
      break;
    case REDIS_REPLY_ARRAY:
      for (std::size_t i = 0; i < reply->elements; ++i) {
        if (reply->element[i]->type == REDIS_REPLY_NIL) {
          out->emplace_back();
        } else {
          flatten_reply(reply->element[i], out);
        }
      }
      break;
    default:
      break;
  }
}

struct RedisTarget {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  std::string db;
};

// Parses redis://[[user]:password@]host[:port][/db].
RedisTarget parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("invalid Redis URL (expected redis://): " + url);
  std::string rest = url.substr(scheme.size());
  RedisTarget target;

  std::size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    target.db = rest.substr(slash + 1);
    rest.resize(slash);
  }
  std::size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string credentials = rest.substr(0, at);
    std::size_t colon = credentials.find(':');
    target.password = colon == std::string::npos ? credentials : credentials.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  std::size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    target.port = std::stoi(rest.substr(colon + 1));
    rest.resize(colon);
  }
  if (!rest.empty()) target.host = rest;
  return target;
}

void ignore_notice(void*, const char*) {}

}  // namespace

std::string redis_url() { return env_or_empty("SMM_TEST_REDIS_URL"); }
std::string pg_conninfo() { return env_or_empty("SMM_TEST_PG_CONNINFO"); }

std::string unique_name(const std::string& stem) {
  static std::atomic<unsigned> counter{0};
  std::string name = stem + "_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  return lower(std::move(name));
}

void sleep_for_poll() { std::this_thread::sleep_for(kPollInterval); }

// ---- TempDir ----

TempDir::TempDir() {
  std::string base = env_or_empty("TMPDIR");
  if (base.empty()) base = "/tmp";
  std::string pattern = base + "/smm-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed in " + base + ": " + errno_text());
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void TempDir::write(const std::string& name, const std::string& text) const {
  std::ofstream out(file(name), std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file(name));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- Process ----

Process::Process(const std::string& program, const std::vector<std::string>& args,
                 const std::string& log_path, const std::map<std::string, std::string>& env) {
  ExecImage image = make_exec_image(program, args, env);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open log " + log_path + ": " + errno_text());
  try {
    pid_ = spawn(image, log_fd);
  } catch (...) {
    close(log_fd);
    throw;
  }
  close(log_fd);
}

Process::~Process() {
  if (pid_ <= 0 || status_) return;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void Process::signal(int sig) const {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  // A child's exit gives no descriptor to block on here, so poll briefly.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!running()) return status_;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kWaitPollInterval);
  }
}

bool Process::running() {
  if (status_) return false;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t result = waitpid(pid_, &status, WNOHANG);
  if (result == 0) return true;
  status_ = result == pid_ ? decode_status(status) : -1;
  return false;
}

// ---- run_command ----

int run_command(const std::string& program, const std::vector<std::string>& args,
                std::string* output, const std::map<std::string, std::string>& env) {
  ExecImage image = make_exec_image(program, args, env);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed: " + errno_text());

  pid_t pid = -1;
  try {
    pid = spawn(image, fds[1]);
  } catch (...) {
    close(fds[0]);
    close(fds[1]);
    throw;
  }
  close(fds[1]);

  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output != nullptr) *output = std::move(text);
  return decode_status(status);
}

// ---- SyncRedis ----

SyncRedis::SyncRedis(const std::string& url) {
  RedisTarget target = parse_redis_url(url);
  port_ = std::to_string(target.port);

  timeval timeout{kRedisConnectTimeoutSeconds, 0};
  context_ = redisConnectWithTimeout(target.host.c_str(), target.port, timeout);
  if (context_ == nullptr || context_->err != 0) {
    std::string reason = context_ != nullptr ? context_->errstr : "out of memory";
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
    throw std::runtime_error("Redis connect to " + target.host + ":" + port_ + " failed: " + reason);
  }
  redisSetTimeout(context_, timeout);

  try {
    if (!target.password.empty()) command({"AUTH", target.password});
    if (!target.db.empty()) command({"SELECT", target.db});
  } catch (...) {
    redisFree(context_);
    context_ = nullptr;
    throw;
  }
}

SyncRedis::~SyncRedis() {
  if (context_ != nullptr) redisFree(context_);
}

std::vector<std::string> SyncRedis::command(const std::vector<std::string>& argv) {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& arg : argv) {
    pointers.push_back(arg.data());
    lengths.push_back(arg.size());
  }

  void* raw = redisCommandArgv(context_, static_cast<int>(argv.size()), pointers.data(), lengths.data());
  auto* reply = static_cast<redisReply*>(raw);
  std::string name = argv.empty() ? std::string() : argv.front();
  if (reply == nullptr) {
    throw std::runtime_error("Redis command " + name + " failed: " + context_->errstr);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    std::string message(reply->str, reply->len);
    freeReplyObject(reply);
    throw std::runtime_error("Redis command " + name + " returned an error: " + message);
  }

  std::vector<std::string> result;
  flatten_reply(reply, &result);
  freeReplyObject(reply);
  return result;
}

long long SyncRedis::integer(const std::vector<std::string>& argv) {
  std::vector<std::string> reply = command(argv);
  if (reply.size() != 1) {
    throw std::runtime_error("Redis command " + argv.front() + " did not return a single integer");
  }
  return std::stoll(reply.front());
}

// ---- SyncPg ----

SyncPg::SyncPg(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string reason = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    throw std::runtime_error("PostgreSQL connect failed: " + reason);
  }
  // NOTICE lines ("... does not exist, skipping") would clutter test output.
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
}

SyncPg::~SyncPg() {
  if (conn_ != nullptr) PQfinish(conn_);
}

std::vector<std::vector<std::string>> SyncPg::query(const std::string& sql) {
  PGresult* result = PQexec(conn_, sql.c_str());
  ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string message = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
    PQclear(result);
    throw std::runtime_error("SQL failed: " + message + "SQL: " + sql);
  }

  std::vector<std::vector<std::string>> rows;
  int row_count = PQntuples(result);
  int column_count = PQnfields(result);
  for (int row = 0; row < row_count; ++row) {
    std::vector<std::string>& values = rows.emplace_back();
    for (int column = 0; column < column_count; ++column) {
      values.emplace_back(PQgetisnull(result, row, column) != 0 ? "<null>" : PQgetvalue(result, row, column));
    }
  }
  PQclear(result);
  return rows;
}

// ---- HTTP ----

HttpResponse http_request(const std::string& base_url, const std::string& method,
                          const std::string& target, const std::string& body,
                          const std::string& content_type) {
  std::uint16_t port = loopback_port(base_url);
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;

  int fd = connect_loopback(port);
  std::string raw;
  try {
    send_all(fd, request);
    raw = receive_all(fd);
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  return parse_response(raw);
}

std::string form_encode(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// ---- FakeProvider ----

FakeProvider::FakeProvider(const TempDir& dir, std::vector<std::string> extra_args) {
  std::string port_file = dir.file("fake-port");
  std::string log_file = dir.file("fake-provider.log");
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--port-file", port_file,
                                   "--api-id", kApiId, "--api-key", kApiKey,
                                   "--secret-key", kSecretKey};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(SMM_FAKE_PROVIDER_PATH, args, log_file);

  // The fake writes the port file by rename, so once it exists it is whole.
  bool ready = eventually([&] { return std::filesystem::exists(port_file) || !process_->running(); },
                          kFakeStartTimeout);
  if (!ready || !std::filesystem::exists(port_file)) {
    std::string log;
    try {
      log = read_file(log_file);
    } catch (const std::runtime_error&) {
    }
    throw std::runtime_error("fake provider did not start within 10 s; its log: " + log);
  }

  std::string port = read_file(port_file);
  while (!port.empty() && (port.back() == '\n' || port.back() == '\r')) port.pop_back();
  base_url_ = "http://127.0.0.1:" + port;
}

std::string FakeProvider::get(const std::string& path) const {
  return http_request(base_url_, "GET", path).body;
}

HttpResponse FakeProvider::post(const std::string& path, const std::string& form_body) const {
  return http_request(base_url_, "POST", path, form_body);
}

std::string FakeProvider::status_form(const std::string& id) {
  return "api_id=" + form_encode(kApiId) + "&api_key=" + form_encode(kApiKey) +
         "&secret_key=" + form_encode(kSecretKey) + "&id=" + form_encode(id);
}

}  // namespace smm::test
