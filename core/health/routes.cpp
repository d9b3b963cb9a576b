// The routing decision of the health endpoint, kept apart from the socket
// code so that it is tested without a server.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "health/server.hpp"
#include "metrics/registry.hpp"

namespace smm::health {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";

enum class Route { liveness, readiness, metrics, unknown };

Route route_of(std::string_view path) {
  if (path == "/healthz" || path == "/livez") return Route::liveness;
  if (path == "/readyz") return Route::readiness;
  if (path == "/metrics") return Route::metrics;
  return Route::unknown;
}

Response liveness(const Sources& sources) {
  const LoopState loop = sources.loop ? sources.loop() : LoopState{};
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("status");
  writer.String(loop.healthy ? "ok" : "stalled");
  writer.Key("loop_lag_seconds");
  writer.Double(loop.lag_seconds);
  writer.EndObject();
  return {loop.healthy ? 200 : 503, kJson, std::string(buffer.GetString()) + "\n", false};
}

Response readiness(const Sources& sources) {
  const std::vector<Check> checks = sources.checks ? sources.checks() : std::vector<Check>{};
  bool ready = true;
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("checks");
  writer.StartObject();
  for (const auto& check : checks) {
    ready = ready && check.ok;
    writer.Key(check.name.c_str(), static_cast<rapidjson::SizeType>(check.name.size()));
    writer.String(check.state.c_str(), static_cast<rapidjson::SizeType>(check.state.size()));
  }
  writer.EndObject();
  writer.Key("status");
  writer.String(ready ? "ready" : "not ready");
  writer.EndObject();
  return {ready ? 200 : 503, kJson, std::string(buffer.GetString()) + "\n", false};
}

}  // namespace

Response handle_request(std::string_view method, std::string_view target, const Sources& sources) {
  const Route route = route_of(target.substr(0, target.find('?')));
  if (route == Route::unknown) return {404, kText, "not found; try /healthz, /readyz or /metrics\n", false};
  if (method != "GET") return {405, kText, "method not allowed; use GET\n", true};

  switch (route) {
    case Route::liveness: return liveness(sources);
    case Route::readiness: return readiness(sources);
    case Route::metrics: return {200, metrics::kTextContentType, sources.metrics ? sources.metrics() : "", false};
    case Route::unknown: break;
  }
  return {404, kText, "not found\n", false};
}

}  // namespace smm::health
