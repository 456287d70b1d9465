#include "converter/expert/layer_dataset.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "converter/expert/labels.h"
#include "runtime/formats/python_literal.h"

namespace probex::convert {

namespace {

struct Candidate {
  const ZooFile* file;
  std::unique_ptr<ModelFile> model;
  ProbedLayer layer;
  std::vector<std::string> names;
};

}  // namespace

bool load_split(const std::vector<ZooFile>& files, const std::string& tree, const std::string& split,
                const LoadOptions& options, std::vector<std::string>* space, size_t expect_rows, size_t expect_cols,
                LoadedSplit* out, std::string* error) {
  *out = LoadedSplit();
  std::vector<Candidate> good;
  size_t candidates = 0;
  auto bad = [&](const ZooFile& f, const std::string& why) { out->skipped.push_back(f.path + ": " + why); };

  for (const ZooFile& f : files) {
    if (f.tree != tree || f.split != split) continue;
    Candidate c{&f, {}, {}, {}};
    ModelStatus st = open_model_file(f.path, &c.model);
    if (!st.ok()) {
      ++candidates;
      out->skipped.push_back(st.message);
      continue;
    }
    const std::string* task = c.model->metadata_string("task");
    if (task != nullptr && !options.task.empty() && *task != options.task) continue;
    ++candidates;
    st = find_probed_layer(*c.model, options.layer, &c.layer);
    if (!st.ok()) {
      out->skipped.push_back(st.message);
      continue;
    }
    const std::string* targets = c.model->metadata_string("dataset_chosen_targets");
    std::string why;
    if (targets == nullptr) {
      bad(f, "no dataset_chosen_targets in the metadata");
      continue;
    }
    if (!parse_python_string_list(*targets, &c.names, &why)) {
      bad(f, "dataset_chosen_targets is " + why);
      continue;
    }
    good.push_back(std::move(c));
  }
  if (candidates == 0) {
    *error = "tree '" + tree + "' has no '" + options.task + "' models in split '" + split + "'";
    return false;
  }

  // The layer shape: pinned by the caller, else the most common one (so one odd model cannot decide).
  if (expect_rows == 0) {
    std::map<std::pair<uint64_t, uint64_t>, size_t> shapes;
    for (const Candidate& c : good) ++shapes[{c.layer.rows, c.layer.cols}];
    size_t most = 0;
    for (const auto& [shape, n] : shapes) {
      if (n > most) {
        most = n;
        expect_rows = static_cast<size_t>(shape.first);
        expect_cols = static_cast<size_t>(shape.second);
      }
    }
  }
  const bool build_space = space->empty();
  if (build_space) {
    std::vector<std::vector<std::string>> all;
    for (const Candidate& c : good) all.push_back(c.names);
    *space = label_space(all);
  }

  std::vector<Candidate*> kept;
  std::vector<float> row(space->size());
  for (Candidate& c : good) {
    std::string why;
    if (c.layer.rows != expect_rows || c.layer.cols != expect_cols) {
      bad(*c.file, "layer '" + options.layer + "' is [" + std::to_string(c.layer.rows) + ", " +
                       std::to_string(c.layer.cols) + "], expected [" + std::to_string(expect_rows) + ", " +
                       std::to_string(expect_cols) + "]");
    } else if (!multi_hot(c.names, *space, row.data(), &why)) {
      bad(*c.file, why);
    } else {
      kept.push_back(&c);
    }
  }

  const size_t features = expect_rows * expect_cols;
  out->rows = expect_rows;
  out->cols = expect_cols;
  out->data.features = features;
  out->data.labels = space->size();
  out->data.x.resize(kept.size() * features);
  out->data.y.resize(kept.size() * space->size());
  std::vector<float> scratch;
  size_t n = 0;
  for (Candidate* c : kept) {
    float* x = out->data.x.data() + n * features;
    ModelStatus st = ProbedRowReader(*c->model, c->layer, &scratch).read(0, expect_rows, x);
    if (!st.ok()) {
      out->skipped.push_back(st.message);
      continue;
    }
    if (!std::all_of(x, x + features, [](float v) { return std::isfinite(v); })) {
      bad(*c->file, "layer '" + options.layer + "' holds NaN or Inf");
      continue;
    }
    std::string unused;
    multi_hot(c->names, *space, out->data.y.data() + n * space->size(), &unused);
    out->data.names.push_back(c->file->path);
    out->rule = c->layer.rule;
    ++n;
  }
  out->data.count = n;
  out->data.x.resize(n * features);
  out->data.y.resize(n * space->size());

  const std::string where = "tree '" + tree + "', split '" + split + "'";
  if (!out->skipped.empty() && options.strict) {
    *error = where + ": " + std::to_string(out->skipped.size()) + " bad models (first: " + out->skipped.front() + ")";
    return false;
  }
  if (static_cast<double>(out->skipped.size()) > options.max_bad_share * static_cast<double>(candidates)) {
    *error = where + ": " + std::to_string(out->skipped.size()) + " of " + std::to_string(candidates) +
             " models are bad (first: " + out->skipped.front() + ")";
    return false;
  }
  if (n == 0) {
    *error = where + ": no usable models";
    return false;
  }
  return true;
}

}  // namespace probex::convert
