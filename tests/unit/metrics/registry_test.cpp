// The metrics registry and its Prometheus text exposition (format 0.0.4).

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "metrics/registry.hpp"

namespace smm::metrics {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(MetricsRegistry, RendersCounterWithHelpAndType) {
  Registry registry;
  registry.counter("smm_syncd_retries_total", "Polls retried later.").increment(3);
  EXPECT_EQ(registry.render(),
            "# HELP smm_syncd_retries_total Polls retried later.\n"
            "# TYPE smm_syncd_retries_total counter\n"
            "smm_syncd_retries_total 3\n");
}

TEST(MetricsRegistry, RendersLabelledSeriesSortedByLabels) {
  Registry registry;
  registry.counter("polls_total", "Polls.", {{"outcome", "throttled"}}).increment();
  registry.counter("polls_total", "Polls.", {{"outcome", "status_known"}}).increment(2);
  EXPECT_EQ(registry.render(),
            "# HELP polls_total Polls.\n"
            "# TYPE polls_total counter\n"
            "polls_total{outcome=\"status_known\"} 2\n"
            "polls_total{outcome=\"throttled\"} 1\n");
}

TEST(MetricsRegistry, SameNameAndLabelsReturnSameSeries) {
  Registry registry;
  Counter& first = registry.counter("c_total", "C.", {{"a", "1"}, {"b", "2"}});
  Counter& second = registry.counter("c_total", "C.", {{"b", "2"}, {"a", "1"}});
  EXPECT_EQ(&first, &second);
}

TEST(MetricsRegistry, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  registry.gauge("g", "Line one\\two\nthree", {{"path", "a\"b\\c\nd"}}).set(1);
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text, "# HELP g Line one\\\\two\\nthree\n")) << text;
  EXPECT_TRUE(contains(text, "g{path=\"a\\\"b\\\\c\\nd\"} 1\n")) << text;
}

TEST(MetricsRegistry, GaugeRendersFractionsAndSpecialValues) {
  Registry registry;
  registry.gauge("a", "A.").set(0.25);
  registry.gauge("b", "B.").set(-2);
  registry.gauge("c", "C.").set(HUGE_VAL);
  registry.gauge("d", "D.").set(-HUGE_VAL);
  registry.gauge("e", "E.").set(std::nan(""));
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text, "\na 0.25\n")) << text;
  EXPECT_TRUE(contains(text, "\nb -2\n")) << text;
  EXPECT_TRUE(contains(text, "\nc +Inf\n")) << text;
  EXPECT_TRUE(contains(text, "\nd -Inf\n")) << text;
  EXPECT_TRUE(contains(text, "\ne NaN\n")) << text;
}

TEST(MetricsRegistry, LargeCounterIsExact) {
  Registry registry;
  registry.counter("big_total", "Big.").set_total(9007199254740992.0);  // 2^53
  EXPECT_TRUE(contains(registry.render(), "\nbig_total 9007199254740992\n")) << registry.render();
}

TEST(MetricsRegistry, CounterNeverGoesDown) {
  Registry registry;
  Counter& counter = registry.counter("c_total", "C.");
  counter.set_total(10);
  counter.set_total(4);
  counter.increment(-5);
  EXPECT_EQ(counter.value(), 10);
}

TEST(MetricsRegistry, HistogramBucketsAreCumulative) {
  Registry registry;
  Histogram& histogram = registry.histogram("latency_seconds", "Latency.", {0.25, 0.5, 1}, {{"kind", "x"}});
  histogram.observe(0.125);
  histogram.observe(0.25);  // on the bound: counted in le="0.25"
  histogram.observe(0.375);
  histogram.observe(7);
  EXPECT_EQ(registry.render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{kind=\"x\",le=\"0.25\"} 2\n"
            "latency_seconds_bucket{kind=\"x\",le=\"0.5\"} 3\n"
            "latency_seconds_bucket{kind=\"x\",le=\"1\"} 3\n"
            "latency_seconds_bucket{kind=\"x\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{kind=\"x\"} 7.75\n"
            "latency_seconds_count{kind=\"x\"} 4\n");
}

TEST(MetricsRegistry, HistogramObservesDurationsInSeconds) {
  Registry registry;
  Histogram& histogram = registry.histogram("d_seconds", "D.", default_latency_buckets());
  histogram.observe(std::chrono::microseconds(250'000));
  EXPECT_EQ(histogram.count(), 1u);
  EXPECT_DOUBLE_EQ(histogram.sum(), 0.25);
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text, "d_seconds_bucket{le=\"0.1\"} 0\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_bucket{le=\"0.25\"} 1\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_bucket{le=\"30\"} 1\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_bucket{le=\"+Inf\"} 1\n")) << text;
}

TEST(MetricsRegistry, HistogramIgnoresNan) {
  Histogram histogram({1});
  histogram.observe(std::nan(""));
  EXPECT_EQ(histogram.count(), 0u);
}

TEST(MetricsRegistry, InvalidRegistrationsThrow) {
  Registry registry;
  EXPECT_THROW(registry.counter("9starts_with_digit", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("has-dash", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "X.", {{"bad-label", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "X.", {{"__reserved", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "X.", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "H.", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h2", "H.", {2, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h3", "H.", {1, HUGE_VAL}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h4", "H.", {1}, {{"le", "x"}}), std::invalid_argument);
}

TEST(MetricsRegistry, ConflictingReRegistrationThrows) {
  Registry registry;
  registry.counter("x_total", "X.");
  EXPECT_THROW(registry.gauge("x_total", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("x_total", "Other help."), std::invalid_argument);
  registry.histogram("h_seconds", "H.", {1, 2});
  EXPECT_THROW(registry.histogram("h_seconds", "H.", {1, 3}), std::invalid_argument);
}

TEST(MetricsRegistry, FamiliesKeepRegistrationOrder) {
  Registry registry;
  registry.gauge("zeta", "Z.");
  registry.gauge("alpha", "A.");
  const std::string text = registry.render();
  EXPECT_LT(text.find("zeta"), text.find("alpha"));
}

TEST(MetricsRegistry, CollectorsRunBeforeEachRender) {
  Registry registry;
  Gauge& gauge = registry.gauge("g", "G.");
  int runs = 0;
  registry.add_collector([&] { gauge.set(++runs); });
  EXPECT_TRUE(contains(registry.render(), "\ng 1\n"));
  EXPECT_TRUE(contains(registry.render(), "\ng 2\n"));
}

TEST(MetricsRegistry, EveryLineIsCommentOrSample) {
  Registry registry;
  registry.counter("a_total", "A.", {{"k", "v"}}).increment();
  registry.histogram("b_seconds", "B.", {1}).observe(0.5);
  const std::string text = registry.render();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    // A sample: name, optional labels, one space, a value.
    const auto space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    EXPECT_FALSE(line.substr(space + 1).empty()) << line;
    EXPECT_NE(line[0], '#') << line;
  }
}

}  // namespace
}  // namespace smm::metrics
