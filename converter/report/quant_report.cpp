#include "converter/report/quant_report.h"

#include <cmath>
#include <cstdio>

#include "converter/report/svg.h"

namespace probex::convert::report {

bool measure_quantizations(std::vector<LoadedCheckpoint>& floats, const std::vector<std::string>& paths,
                           const std::vector<LoadedSplit>& held_out, const std::vector<QuantSpec>& specs,
                           std::vector<QuantCost>* out, std::string* error) {
  out->clear();
  for (const QuantSpec& spec : specs) {
    std::vector<BundleTree> trees(floats.size());
    std::vector<const BundleTree*> pointers;
    QuantCost cost;
    cost.quant = quant_spec_name(spec);
    for (size_t i = 0; i < floats.size(); ++i) {
      if (!make_bundle_tree(floats[i], paths[i], spec, &trees[i], error)) return false;
      calibrate_probe_output(&trees[i], held_out[i].data.x.data(), held_out[i].data.count);
      pointers.push_back(&trees[i]);
      cost.trees.push_back(trees[i].name);
    }
    std::vector<uint8_t> bytes;
    if (!build_bundle(pointers, "probex-convert --report", &bytes, error)) return false;
    cost.bundle_bytes = bytes.size();
    for (size_t i = 0; i < floats.size(); ++i) {
      QuantComparison c;
      if (!compare_with_runtime(bytes, i, *floats[i].expert, held_out[i].data, &c, error)) return false;
      cost.comparisons.push_back(c);
    }
    out->push_back(std::move(cost));
  }
  return true;
}

namespace {

// Cosines of quantized experts differ from 1 in the 6th decimal or later.
std::string precise(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.8f", v);
  return buf;
}

}  // namespace

std::string quantization_report_html(const Facts& facts, const std::vector<QuantCost>& costs) {
  std::vector<std::string> quants;
  std::vector<std::vector<std::string>> rows;
  BarGroup size{"bundle", {}, palette_color(0)};
  std::vector<BarGroup> flips, prob, cosine;
  const double f32_bytes = costs.empty() ? 0.0 : static_cast<double>(costs.front().bundle_bytes);
  for (const QuantCost& q : costs) {
    quants.push_back(q.quant);
    size.values.push_back(static_cast<double>(q.bundle_bytes) / 1024.0);
    for (size_t t = 0; t < q.trees.size(); ++t) {
      const QuantComparison& c = q.comparisons[t];
      if (flips.size() <= t) {  // one bar group per tree, in the same colour on every chart
        for (std::vector<BarGroup>* g : {&flips, &prob, &cosine}) g->push_back({q.trees[t], {}, palette_color(t)});
      }
      flips[t].values.push_back(c.label_flip_rate);
      prob[t].values.push_back(c.max_probability_error);
      cosine[t].values.push_back(1.0 - c.min_embedding_cosine);
      rows.push_back({q.quant, std::to_string(q.bundle_bytes),
                      cell(f32_bytes > 0 ? static_cast<double>(q.bundle_bytes) / f32_bytes : 0.0), q.trees[t],
                      std::to_string(c.layers), cell(c.label_flip_rate), cell(c.max_probability_error),
                      precise(c.min_embedding_cosine)});
    }
  }
  std::string body = "<section class=\"quantization\"><h2>Size and accuracy cost per storage type</h2>";
  body += html_table({"quantization", "bundle bytes", "size vs the first", "tree", "held-out layers", "label flip rate",
                      "largest probability change", "smallest embedding cosine"},
                     rows);
  ChartFrame sf("Bundle size", "storage type", "KiB", 440, 300);
  sf.y_min = 0.0;
  ChartFrame ff("Label flips vs the float expert", "storage type", "share of label decisions", 440, 300);
  ChartFrame pf("Largest probability change", "storage type", "probability", 440, 300);
  ChartFrame cf("1 - smallest embedding cosine", "storage type", "1 - cosine", 440, 300);
  const double none = std::nan("");
  body += html_figures(
      {bar_chart(sf, quants, {size}, none, ""), bar_chart(ff, quants, flips, none, ""),
       bar_chart(pf, quants, prob, none, ""), bar_chart(cf, quants, cosine, none, "")},
      "Each storage type's bundle holds the given classification experts only (no self-tests, router "
      "or zero-shot experts); the runtime (XNNPACK) runs it on the zoo's held-out layers and is compared "
      "with the float expert. int8 uses the int8 step 1 where calibrated; probex-convert falls back "
      "to float step 1 for a tree over its budget.");
  return html_page("probex-convert quantization report", facts, body + "</section>");
}

bool write_quantization_report(const std::string& dir, const std::string& zoo, const std::string& split,
                               std::vector<LoadedCheckpoint>& floats, const std::vector<std::string>& paths,
                               const std::vector<LoadedSplit>& held_out, std::string* error) {
  std::vector<QuantSpec> specs;
  for (const char* name : {"f32", "f16", "int8", "int8-b32"}) {
    specs.emplace_back();
    if (!parse_quant_spec(name, &specs.back(), error)) return false;
  }
  std::vector<QuantCost> costs;
  if (!measure_quantizations(floats, paths, held_out, specs, &costs, error)) return false;
  Facts facts{{"zoo", zoo}, {"held-out split", split}};
  for (const std::string& p : paths) facts.push_back({"checkpoint", p});
  return write_report_page(dir, quantization_report_html(facts, costs), error);
}

}  // namespace probex::convert::report
