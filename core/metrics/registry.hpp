#pragma once
// A small metrics registry: counters, gauges and histograms with fixed
// buckets, rendered in the Prometheus text exposition format 0.0.4.
//
// Metrics are grouped in families (one name, one type, one help text) and a
// family holds one series per label set. Registration validates names and
// throws std::invalid_argument, so a bad name fails at start-up; updating a
// series never throws and never allocates.
//
// Thread-safety: none. The daemon registers, updates and renders on its
// io_context thread. References returned by the registration calls stay
// valid for the registry's lifetime.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace smm::metrics {

// Label name -> value. Values must come from a small fixed set (an outcome,
// a dependency name): every label set is a separate series to Prometheus.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void increment(double amount = 1.0) { if (amount > 0.0) value_ += amount; }
  // Copies a running total kept elsewhere (such as the engine's counters).
  // A total lower than the current value is ignored, so the counter never
  // goes down.
  void set_total(double total) { if (total > value_) value_ = total; }
  double value() const { return value_; }

 private:
  double value_ = 0.0;
};

class Gauge {
 public:
  void set(double value) { value_ = value; }
  double value() const { return value_; }

 private:
  double value_ = 0.0;
};

class Histogram {
 public:
  // `upper_bounds` must be finite and strictly increasing; the +Inf bucket
  // is implied. Throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value);
  // Observes a duration in seconds, the base unit of *_seconds metrics.
  template <typename Rep, typename Period>
  void observe(std::chrono::duration<Rep, Period> duration) {
    observe(std::chrono::duration<double>(duration).count());
  }

  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Observations per bucket, not cumulative; the last entry is +Inf.
  const std::vector<std::uint64_t>& bucket_counts() const { return counts_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0.0;
};

// Upper bounds from 5 ms to 30 s, for request and statement durations.
std::vector<double> default_latency_buckets();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each call returns the series of `name` with `labels`, creating it on
  // first use. The same name with another type, help text or bucket layout
  // throws std::invalid_argument, as do invalid metric or label names and
  // a label set that repeats a name.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& upper_bounds, const Labels& labels = {});

  // Registers a function run at the start of every render(), for values
  // copied from other components when scraped rather than on each change.
  void add_collector(std::function<void()> collect);

  // Runs the collectors, then renders every family in registration order
  // and every series in label order, in the text format 0.0.4.
  std::string render();

 private:
  struct Family;
  Family& family(const std::string& name, const std::string& help, int type);

  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*, std::less<>> by_name_;
  std::vector<std::function<void()>> collectors_;
};

// The Content-Type header value of render()'s output.
inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace smm::metrics
