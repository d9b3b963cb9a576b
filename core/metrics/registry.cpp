#include "metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace smm::metrics {
namespace {

enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };

const char* type_name(int type) {
  switch (type) {
    case kCounter: return "counter";
    case kGauge: return "gauge";
    default: return "histogram";
  }
}

bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool is_name_char(char c, bool allow_colon) {
  return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
}

// Metric names may contain ':'; label names may not.
bool valid_name(const std::string& name, bool allow_colon) {
  if (name.empty() || !is_name_start(name[0], allow_colon)) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return is_name_char(c, allow_colon); });
}

// Go's strconv.ParseFloat, which Prometheus uses, reads what fmt prints for
// finite values; the special values have their own spelling in the format.
std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

std::string escape(const std::string& text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// The label pairs sorted by name and rendered as `a="x",b="y"` (no braces),
// which is also the key that orders a family's series.
std::string label_text(Labels labels, bool histogram) {
  std::sort(labels.begin(), labels.end());
  std::string out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& [name, value] = labels[i];
    if (!valid_name(name, false) || name.starts_with("__")) {
      throw std::invalid_argument(fmt::format("invalid label name \"{}\"", name));
    }
    if (histogram && name == "le") throw std::invalid_argument("a histogram cannot have a label named \"le\"");
    if (i > 0 && labels[i - 1].first == name) {
      throw std::invalid_argument(fmt::format("label \"{}\" is given twice", name));
    }
    if (i > 0) out += ',';
    out += fmt::format("{}=\"{}\"", name, escape(value, true));
  }
  return out;
}

std::string braces(const std::string& labels) { return labels.empty() ? "" : "{" + labels + "}"; }

std::string with_le(const std::string& labels, double bound) {
  const std::string le = fmt::format("le=\"{}\"", format_value(bound));
  return "{" + (labels.empty() ? le : labels + "," + le) + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i])) throw std::invalid_argument("histogram bounds must be finite");
    if (i > 0 && !(bounds_[i] > bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be strictly increasing");
    }
  }
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  // The first bucket whose upper bound is >= value; "le" means less or equal.
  auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  ++count_;
  sum_ += value;
}

std::vector<double> default_latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

struct Registry::Family {
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<double> bounds;  // histograms only
  std::map<std::string, std::unique_ptr<Counter>> counters;
  std::map<std::string, std::unique_ptr<Gauge>> gauges;
  std::map<std::string, std::unique_ptr<Histogram>> histograms;

  void render(std::string& out) const;
};

void Registry::Family::render(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape(help, false), name, type_name(type));
  for (const auto& [labels, counter] : counters) {
    out += fmt::format("{}{} {}\n", name, braces(labels), format_value(counter->value()));
  }
  for (const auto& [labels, gauge] : gauges) {
    out += fmt::format("{}{} {}\n", name, braces(labels), format_value(gauge->value()));
  }
  for (const auto& [labels, histogram] : histograms) {
    // Buckets are cumulative in the format: each counts every value <= le.
    std::uint64_t cumulative = 0;
    const auto& counts = histogram->bucket_counts();
    for (std::size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      const double bound = i < bounds.size() ? bounds[i] : HUGE_VAL;
      out += fmt::format("{}_bucket{} {}\n", name, with_le(labels, bound), cumulative);
    }
    out += fmt::format("{}_sum{} {}\n", name, braces(labels), format_value(histogram->sum()));
    out += fmt::format("{}_count{} {}\n", name, braces(labels), histogram->count());
  }
}

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(const std::string& name, const std::string& help, int type) {
  if (auto found = by_name_.find(name); found != by_name_.end()) {
    Family& existing = *found->second;
    if (existing.type != type || existing.help != help) {
      throw std::invalid_argument(fmt::format("metric \"{}\" is already registered as a {} with other help text",
                                              name, type_name(existing.type)));
    }
    return existing;
  }
  if (!valid_name(name, true)) throw std::invalid_argument(fmt::format("invalid metric name \"{}\"", name));

  auto created = std::make_unique<Family>();
  created->name = name;
  created->help = help;
  created->type = type;
  Family& result = *created;
  by_name_.emplace(name, created.get());
  families_.push_back(std::move(created));
  return result;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  auto& series = family(name, help, kCounter).counters[label_text(labels, false)];
  if (!series) series = std::make_unique<Counter>();
  return *series;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  auto& series = family(name, help, kGauge).gauges[label_text(labels, false)];
  if (!series) series = std::make_unique<Gauge>();
  return *series;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& upper_bounds, const Labels& labels) {
  // Built first so that invalid bounds throw before the family exists.
  auto fresh = std::make_unique<Histogram>(upper_bounds);
  const bool is_new = by_name_.find(name) == by_name_.end();
  Family& owner = family(name, help, kHistogram);
  if (is_new) owner.bounds = upper_bounds;
  if (owner.bounds != upper_bounds) {
    throw std::invalid_argument(fmt::format("histogram \"{}\" is already registered with other buckets", name));
  }
  auto& series = owner.histograms[label_text(labels, true)];
  if (!series) series = std::move(fresh);
  return *series;
}

void Registry::add_collector(std::function<void()> collect) { collectors_.push_back(std::move(collect)); }

std::string Registry::render() {
  for (const auto& collect : collectors_) collect();
  std::string out;
  for (const auto& family : families_) family->render(out);
  return out;
}

}  // namespace smm::metrics
