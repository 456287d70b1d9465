#include "converter/bundle/route_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "converter/bundle/runtime_bundle.h"

namespace probex::convert {

bool print_route_report(const std::vector<uint8_t>& bundle_bytes, const std::vector<ZooFile>& zoo,
                        const std::vector<ZooFile>& foreign, std::string* error) {
  RuntimeBundle rt;
  if (!rt.open(bundle_bytes, error)) return false;
  const auto& trees = rt.bundle.trees();
  std::set<std::string> known;
  for (const TreeView& t : trees) known.insert(t.name);

  size_t in_total = 0, in_right = 0, in_wrong = 0, in_rejected = 0, out_total = 0, out_rejected = 0;
  double in_max = 0, out_min = INFINITY, route_seconds = 0, margin_min = INFINITY;
  std::vector<std::string> examples;
  const auto route = [&](const ZooFile& f, bool is_foreign) {
    probex_audit_result r{};
    std::string message;
    if (rt.auditor->route_only(f.path, &r, &message) != PROBEX_OK) {
      examples.push_back(f.path + ": " + message);
      return;
    }
    route_seconds += r.seconds_route;
    const bool in_bundle = !is_foreign && known.count(f.tree) > 0;
    const double d = static_cast<double>(r.route_distance);  // INFINITY when no tree applies
    if (in_bundle) {
      ++in_total;
      in_max = std::max(in_max, d);
      if (r.tree == PROBEX_NO_TREE) {
        ++in_rejected;
        if (examples.size() < 5) examples.push_back(f.path + ": rejected: " + r.unknown_reason);
      } else if (trees[r.tree].name == f.tree) {
        ++in_right;
        margin_min = std::min(margin_min, static_cast<double>(r.route_margin));
      } else {
        ++in_wrong;
        if (examples.size() < 5) examples.push_back(f.path + ": routed to " + trees[r.tree].name);
      }
    } else {
      ++out_total;
      out_min = std::min(out_min, d);
      if (r.tree == PROBEX_NO_TREE) {
        ++out_rejected;
      } else if (examples.size() < 5) {
        examples.push_back(f.path + " (foreign) accepted into " + std::string(trees[r.tree].name));
      }
    }
  };
  for (const ZooFile& f : zoo)
    if (f.split.rfind("test", 0) == 0 || f.split == "foreign") route(f, false);
  for (const ZooFile& f : foreign) route(f, true);
  const size_t routed = in_total + out_total;
  std::printf("\nrouting report (runtime, xnnpack; %zu models routed, mean %.3f ms each)\n", routed,
              routed ? route_seconds * 1e3 / static_cast<double>(routed) : 0.0);
  if (in_total)
    std::printf("  models of the bundle's trees (test splits): %zu; routed to their tree %.4f, to another tree %.4f, "
                "rejected %.4f; largest distance %.3f, smallest margin %.1fx\n",
                in_total, static_cast<double>(in_right) / static_cast<double>(in_total),
                static_cast<double>(in_wrong) / static_cast<double>(in_total),
                static_cast<double>(in_rejected) / static_cast<double>(in_total), in_max, margin_min);
  if (out_total)
    std::printf(
        "  models of trees the bundle does not hold: %zu; rejected as unknown tree %.4f; smallest distance %.3f\n",
        out_total, static_cast<double>(out_rejected) / static_cast<double>(out_total), out_min);
  for (const std::string& e : examples) std::printf("  e.g. %s\n", e.c_str());
  return true;
}

}  // namespace probex::convert
