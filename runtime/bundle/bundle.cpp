#include "runtime/bundle/bundle.h"

#include <cmath>
#include <cstring>
#include <set>
#include <string_view>

#include "probex_bundle_generated.h"
#include "runtime/math/checked_math.h"
#include "runtime/math/float_formats.h"

namespace probex {
namespace {

// Collects the first problem found, with the bundle's name in front.
class Checker {
 public:
  explicit Checker(const std::string& name) : name_(name) {}
  bool fail(probex_status status, const std::string& what) {
    if (status_ == PROBEX_OK) {
      status_ = status;
      message_ = name_ + ": " + what;
    }
    return false;
  }
  bool content(const std::string& what) { return fail(PROBEX_BUNDLE_CONTENT, what); }
  probex_status status() const { return status_; }
  const std::string& message() const { return message_; }

 private:
  const std::string& name_;
  probex_status status_ = PROBEX_OK;
  std::string message_;
};

const char* str(const flatbuffers::String* s) { return s ? s->c_str() : ""; }

bool check_matrix(const fb::Tensor* t, const std::string& where, uint64_t rows, uint64_t cols, Checker& c,
                  MatrixView* out) {
  if (!t) return c.content(where + " is missing");
  if (t->rows() != rows || t->cols() != cols)
    return c.content(where + " is [" + std::to_string(t->rows()) + ", " + std::to_string(t->cols()) +
                     "], the expert's dimensions need [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  const auto type = t->type();
  if (type != fb::TensorType::F32 && type != fb::TensorType::F16 && type != fb::TensorType::I8)
    return c.content(where + " has unknown tensor type " + std::to_string(static_cast<int>(type)));
  MatrixView m;
  m.name = str(t->name());
  m.type = static_cast<StorageType>(type);
  m.rows = t->rows();
  m.cols = t->cols();
  uint64_t elements = 0, bytes = 0;
  if (!checked_mul(rows, cols, &elements) || !checked_mul(elements, storage_type_size(m.type), &bytes))
    return c.content(where + ": size overflows");
  if (!t->data() || t->data()->size() != bytes)
    return c.content(where + " holds " + std::to_string(t->data() ? t->data()->size() : 0) +
                     " data bytes, its shape needs " + std::to_string(bytes));
  m.data = t->data()->data();
  const size_t scale_count = t->scales() ? t->scales()->size() : 0;
  if (m.type == StorageType::kI8) {
    m.block_size = t->block_size();
    if (m.block_size > m.cols)
      return c.content(where + ": block size " + std::to_string(m.block_size) + " exceeds the row length");
    uint64_t expected = 0;
    if (!checked_mul(rows, blocks_per_row(m.cols, m.block_size), &expected) || scale_count != expected)
      return c.content(where + " has " + std::to_string(scale_count) + " scales, int8 with block size " +
                       std::to_string(m.block_size) + " needs " + std::to_string(expected));
    m.scales = t->scales()->data();
    m.scale_count = static_cast<uint32_t>(scale_count);
    for (size_t i = 0; i < scale_count; ++i)
      if (!std::isfinite(m.scales[i]) || m.scales[i] < 0.0f)
        return c.content(where + " has a negative or non-finite scale");
  } else {
    if (scale_count != 0 || t->block_size() != 0) return c.content(where + ": scales on a float tensor");
    // Float weights must be finite: one NaN would silently poison every audit.
    std::vector<float> row(m.cols);
    for (size_t r = 0; r < m.rows; ++r) {
      m.row(r, row.data());
      if (!all_finite(row.data(), row.size()))
        return c.content(where + " holds NaN or Inf (row " + std::to_string(r) + ")");
    }
  }
  *out = m;
  return true;
}

// A multi-view expert's views (schema: View): kinds in concatenation order, each once, shapes as the
// kind implies. The backends hold X whole for these (backends/kernels/multiview.h), so its size is bounded.
bool check_views(const fb::Expert* e, const std::string& where, uint32_t d_h, uint32_t d_w, Checker& c, ExpertView* v) {
  if (e->probes() || e->projection()) return c.content(where + " has views and probes of its own");
  if (e->views()->size() > kViewKinds)
    return c.content(where + " has more than " + std::to_string(kViewKinds) + " views");
  uint64_t layer = 0;
  if (!checked_mul(d_h, d_w, &layer) || layer > kMaxMultiViewLayer)
    return c.content(where + ": a multi-view expert reads the layer whole; [" + std::to_string(d_h) + ", " +
                     std::to_string(d_w) + "] exceeds " + std::to_string(kMaxMultiViewLayer) + " values");
  // The views stage's buffers (backends/kernels/multiview.h): the layer, the probe operands and responses
  // (at most 6 r (d_H + d_W) floats) and the projections (at most 2 p (d_H + d_W)).
  uint64_t sides = uint64_t{d_h} + d_w, rs = 0, ps = 0, work = 0;
  if (!checked_mul(sides, uint64_t{6} * v->r_u, &rs) || !checked_mul(sides, uint64_t{2} * v->r_v, &ps) ||
      !checked_add(rs, ps, &work) || !checked_add(work, layer, &work) || work > kMaxMultiViewWork)
    return c.content(where + ": a multi-view expert of r " + std::to_string(v->r_u) + ", p " + std::to_string(v->r_v) +
                     " on [" + std::to_string(d_h) + ", " + std::to_string(d_w) + "] needs more than " +
                     std::to_string(kMaxMultiViewWork) + " floats of buffers");
  v->std_eps = e->std_eps();
  if (!std::isfinite(v->std_eps) || v->std_eps < 0.0f) return c.content(where + ": std_eps is negative or not finite");
  if (e->probe_output_ratio() != 0.0f) return c.content(where + ": a multi-view expert has no int8 step 1");
  int last = -1;
  for (const fb::View* view : *e->views()) {
    if (!view) return c.content(where + " has a null view");
    const int kind = static_cast<int>(view->kind());
    if (kind >= kViewKinds) return c.content(where + " has unknown view kind " + std::to_string(kind));
    if (kind <= last) return c.content(where + ": views out of order or repeated");
    last = kind;
    ViewWeights w;
    w.kind = static_cast<ViewKind>(kind);
    const std::string name = where + " view " + view_name(w.kind);
    if (!check_matrix(view->probes(), name + " probes", v->r_u, view_probe_length(w.kind, d_h, d_w), c, &w.probes) ||
        !check_matrix(view->projection(), name + " projection", v->r_v, view_response_rows(w.kind, d_h, d_w), c,
                      &w.projection))
      return false;
    v->views.push_back(w);
  }
  return true;
}

// An expert for a layer [d_h, d_w] with d_y labels (0: no head, a zero-shot expert).
bool check_expert(const fb::Expert* e, const std::string& where, uint32_t d_h, uint32_t d_w, uint32_t d_y, Checker& c,
                  ExpertView* v) {
  if (!e) return c.content(where + " has no expert");
  v->r_u = e->r_u();
  v->r_v = e->r_v();
  v->r_t = e->r_t();
  v->d_y = d_y;
  if (!v->r_u || !v->r_v || !v->r_t) return c.content(where + " has a zero dimension");
  uint64_t g_size = 0;
  if (!checked_mul(v->r_u, v->r_v, &g_size) || g_size > UINT32_MAX) return c.content(where + ": r_U * r_V overflows");
  if (e->views() && e->views()->size() > 0) {
    if (!check_views(e, where, d_h, d_w, c, v)) return false;
    g_size *= v->views.size();
    if (g_size > UINT32_MAX) return c.content(where + ": the views' features overflow");
  } else if (!check_matrix(e->probes(), where + " probes", v->r_u, d_w, c, &v->probes) ||
             !check_matrix(e->projection(), where + " projection", v->r_v, d_h, c, &v->projection)) {
    return false;
  }
  if (!check_matrix(e->encoder(), where + " encoder", v->r_t, g_size, c, &v->encoder) ||
      !check_matrix(e->encoder_bias(), where + " encoder bias", 1, v->r_t, c, &v->encoder_bias))
    return false;
  if (d_y > 0 && (!check_matrix(e->head(), where + " head", d_y, v->r_t, c, &v->head) ||
                  !check_matrix(e->head_bias(), where + " head bias", 1, d_y, c, &v->head_bias)))
    return false;
  if (v->encoder_bias.type != StorageType::kF32 || (d_y > 0 && v->head_bias.type != StorageType::kF32))
    return c.content(where + ": biases must be f32");
  v->probe_output_ratio = e->probe_output_ratio();
  if (!std::isfinite(v->probe_output_ratio) || v->probe_output_ratio < 0.0f)
    return c.content(where + ": probe output ratio is negative or not finite");
  if (v->probe_output_ratio > 0.0f && v->views.empty() &&
      (v->probes.type != StorageType::kI8 || v->probes.block_size != 0))
    return c.content(where + ": a probe output ratio needs int8 per-channel probes");
  return true;
}

// Prototypes are unit rows (f16 storage rounds the norm by ~1e-3; more than 1e-2 off is corruption).
bool check_zero_shot(const fb::ZeroShot* z, const std::string& tree, uint32_t d_h, uint32_t d_w, Checker& c,
                     ZeroShotView* v) {
  const std::string where = tree + " zero-shot";
  if (!check_expert(z->expert(), where, d_h, d_w, 0, c, &v->expert)) return false;
  if (!z->labels() || z->labels()->size() == 0) return c.content(where + " has no labels");
  const uint32_t n = z->labels()->size();
  std::set<std::string_view> seen;
  for (const flatbuffers::String* label : *z->labels()) {
    if (!label || label->size() == 0) return c.content(where + " has an empty label");
    if (!seen.insert(label->string_view()).second) return c.content(where + " has label '" + label->str() + "' twice");
    v->labels.push_back(label->c_str());
  }
  if (!z->trained() || z->trained()->size() != n)
    return c.content(where + ": 'trained' must have one entry per label (" + std::to_string(n) + ")");
  v->trained = z->trained()->data();
  if (!check_matrix(z->prototypes(), where + " prototypes", n, v->expert.r_t, c, &v->prototypes)) return false;
  std::vector<float> row(v->expert.r_t);
  for (uint32_t i = 0; i < n; ++i) {
    v->prototypes.row(i, row.data());
    double norm = 0.0;
    for (float x : row) norm += static_cast<double>(x) * static_cast<double>(x);
    if (!(std::fabs(std::sqrt(norm) - 1.0) <= 1e-2))
      return c.content(where + " prototype of '" + v->labels[i] + "' is not a unit vector");
  }
  const fb::Tensor* proj = z->text_projection();
  if (!proj || proj->cols() == 0) return c.content(where + " has no text projection");
  if (!check_matrix(proj, where + " text projection", v->expert.r_t, proj->cols(), c, &v->text_projection) ||
      !check_matrix(z->text_bias(), where + " text bias", 1, v->expert.r_t, c, &v->text_bias))
    return false;
  if (v->text_projection.type != StorageType::kF32 || v->text_bias.type != StorageType::kF32)
    return c.content(where + ": the text projection must be f32");
  v->text_source = str(z->text_source());
  return true;
}

bool check_tree(const fb::Tree* t, size_t index, const fb::Bundle* b, Checker& c, TreeView* out) {
  std::string where = "tree " + std::to_string(index);
  if (!t) return c.content(where + " is null");
  TreeView v;
  v.name = str(t->name());
  if (!*v.name) return c.content(where + " has no name");
  where = std::string("tree '") + v.name + "'";
  v.root = str(t->root());
  v.layer_name = str(t->layer_name());
  v.reader_reason = str(t->reader_reason());
  if (!*v.layer_name) return c.content(where + " names no layer");
  const auto rule = static_cast<int>(t->layer_rule());
  if (rule < 0 || rule > static_cast<int>(LayerRule::kLoraProduct))
    return c.content(where + " has unknown layer rule " + std::to_string(rule));
  v.rule = static_cast<LayerRule>(rule);
  v.d_h = t->d_h();
  v.d_w = t->d_w();
  if (!v.d_h || !v.d_w) return c.content(where + " has a zero dimension");
  const auto* spaces = b->label_spaces();
  if (!spaces || t->label_space() >= spaces->size())
    return c.content(where + " refers to label space " + std::to_string(t->label_space()) + ", the bundle has " +
                     std::to_string(spaces ? spaces->size() : 0));
  const fb::LabelSpace* space = spaces->Get(t->label_space());
  if (!space || !space->names() || space->names()->size() == 0) return c.content(where + ": its label space is empty");
  for (const flatbuffers::String* label : *space->names()) v.labels.push_back(str(label));
  if (!check_expert(t->expert(), where, v.d_h, v.d_w, static_cast<uint32_t>(v.labels.size()), c, &v)) return false;
  if (t->metrics())
    for (const fb::Metric* m : *t->metrics()) {
      if (!m || !m->key()) return c.content(where + " has a metric without a key");
      v.metrics.emplace_back(m->key()->c_str(), m->value());
    }
  if (t->self_tests())
    for (const fb::SelfTest* s : *t->self_tests()) {
      if (!s || !s->logits() || !s->embedding() || s->logits()->size() != v.d_y || s->embedding()->size() != v.r_t)
        return c.content(where + " has a self-test whose outputs do not match d_Y and r_T");
      if (!std::isfinite(s->amplitude()) || !(s->amplitude() > 0.0f) || !std::isfinite(s->tolerance()) ||
          !(s->tolerance() > 0.0f))
        return c.content(where + " has a self-test with a bad amplitude or tolerance");
      SelfTestView st{s->seed(), s->amplitude(), s->logits()->data(), s->embedding()->data(), s->tolerance(), nullptr,
                      0};
      if (!all_finite(st.logits, v.d_y) || !all_finite(st.embedding, v.r_t))
        return c.content(where + " has a self-test with non-finite outputs");
      if (s->zero_shot_scores()) {
        st.zero_shot_scores = s->zero_shot_scores()->data();
        st.zero_shot_count = s->zero_shot_scores()->size();
        if (!all_finite(st.zero_shot_scores, st.zero_shot_count))
          return c.content(where + " has a self-test with non-finite zero-shot scores");
      }
      v.self_tests.push_back(st);
    }
  if (t->zero_shot()) {
    v.has_zero_shot = true;
    if (!check_zero_shot(t->zero_shot(), where, v.d_h, v.d_w, c, &v.zero_shot)) return false;
  }
  for (const SelfTestView& st : v.self_tests) {
    if (st.zero_shot_count > (v.has_zero_shot ? v.zero_shot.labels.size() : 0))
      return c.content(where + " has a self-test with more zero-shot scores than zero-shot labels");
  }
  *out = std::move(v);
  return true;
}

// The router and the trees must agree: a sketch of the router's size for every tree, or no router and no
// sketches at all.
void check_router(const fb::Bundle* root, std::vector<TreeView>* trees, Checker& c) {
  const fb::Router* router = root->router();
  const auto* fb_trees = root->trees();
  if (!router) {
    for (size_t i = 0; i < trees->size(); ++i)
      if (fb_trees->Get(static_cast<flatbuffers::uoffset_t>(i))->root_sketch()) {
        c.fail(PROBEX_BUNDLE_ROUTER,
               std::string("tree '") + (*trees)[i].name + "' has a root sketch but the bundle has no router");
        return;
      }
    return;
  }
  const uint32_t k_r = router->sketch_rows(), k_c = router->sketch_cols();
  if (k_r == 0 || k_c == 0 || k_r > 4096 || k_c > 4096) {
    c.fail(PROBEX_BUNDLE_ROUTER,
           "router sketch of " + std::to_string(k_r) + " x " + std::to_string(k_c) + " (each side must be 1..4096)");
    return;
  }
  for (size_t i = 0; i < trees->size(); ++i) {
    TreeView& t = (*trees)[i];
    const fb::Tree* ft = fb_trees->Get(static_cast<flatbuffers::uoffset_t>(i));
    const auto* sketch = ft->root_sketch();
    const std::string where = std::string("tree '") + t.name + "'";
    if (!sketch || sketch->size() != static_cast<size_t>(k_r) * k_c) {
      c.fail(PROBEX_BUNDLE_ROUTER, where + " has a root sketch of " + std::to_string(sketch ? sketch->size() : 0) +
                                       " values, the router needs " + std::to_string(static_cast<size_t>(k_r) * k_c));
      return;
    }
    if (!all_finite(sketch->data(), sketch->size())) {
      c.fail(PROBEX_BUNDLE_ROUTER, where + " has a non-finite root sketch");
      return;
    }
    const float accept = ft->accept_distance();
    if (!std::isfinite(accept) || !(accept > 0.0f)) {
      c.fail(PROBEX_BUNDLE_ROUTER, where + " has no positive acceptance distance");
      return;
    }
    t.root_sketch = sketch->data();
    t.accept_distance = accept;
  }
}

}  // namespace

probex_status Bundle::open(const std::string& path, Bundle* out, std::string* message, const uint8_t* trusted_keys,
                           size_t key_count, uint64_t max_bytes) {
  Bundle b;
  size_t size = 0;
  switch (platform::read_whole_file(path, max_bytes, &b.owned_, &size, message)) {
    case platform::ReadResult::kOk: break;
    case platform::ReadResult::kIoError: return PROBEX_IO_ERROR;
    case platform::ReadResult::kTooLarge: return PROBEX_LIMIT_EXCEEDED;
    case platform::ReadResult::kOutOfMemory: return PROBEX_OUT_OF_MEMORY;
  }
  b.data_ = b.owned_.get();
  b.signature_ = find_signature(b.data_, size);
  probex_status s = check_signature(b.data_, b.signature_, trusted_keys, key_count, path, message);
  if (s != PROBEX_OK) return s;
  b.size_ = b.signature_.content_size;
  s = b.parse(path, message);
  if (s == PROBEX_OK) *out = std::move(b);
  return s;
}

probex_status Bundle::open_buffer(const uint8_t* data, size_t size, const std::string& name, Bundle* out,
                                  std::string* message, const uint8_t* trusted_keys, size_t key_count,
                                  uint64_t max_bytes) {
  if (!data && size) {
    *message = name + ": null buffer";
    return PROBEX_INVALID_ARGUMENT;
  }
  if (size > max_bytes) {
    *message = name + ": " + std::to_string(size) + " bytes, above the limit of " + std::to_string(max_bytes) +
               " bytes for a bundle";
    return PROBEX_LIMIT_EXCEEDED;
  }
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    *message = name + ": the buffer is not 8-byte aligned (FlatBuffers scalars are read in place)";
    return PROBEX_BUNDLE_MISALIGNED;
  }
  Bundle b;
  b.data_ = data;
  b.signature_ = find_signature(data, size);
  probex_status s = check_signature(data, b.signature_, trusted_keys, key_count, name, message);
  if (s != PROBEX_OK) return s;
  b.size_ = b.signature_.content_size;
  s = b.parse(name, message);
  if (s == PROBEX_OK) *out = std::move(b);
  return s;
}

probex_status Bundle::parse(const std::string& name, std::string* message) {
  Checker c(name);
  // 4 bytes root offset + 4 bytes identifier; FlatBuffers caps buffers below 2 GiB.
  if (size_ < 8 || !fb::BundleBufferHasIdentifier(data_)) {
    c.fail(PROBEX_BUNDLE_IDENTIFIER, size_ < 8 ? "too small to be a probex bundle (" + std::to_string(size_) + " bytes)"
                                               : "not a probex bundle (file identifier is not \"PRBX\")");
  } else if (size_ >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    c.fail(PROBEX_BUNDLE_STRUCTURE, "larger than a FlatBuffer can be");
  } else {
    flatbuffers::Verifier verifier(data_, size_, /*max_depth=*/32, /*max_tables=*/1000000);
    // The version is read only after the verifier has passed: it is a field of the root table.
    if (!fb::VerifyBundleBuffer(verifier)) {
      c.fail(PROBEX_BUNDLE_STRUCTURE, "corrupt or truncated (FlatBuffers verification failed)");
    } else {
      const fb::Bundle* root = fb::GetBundle(data_);
      format_version_ = root->format_version();
      if (format_version_ != PROBEX_BUNDLE_FORMAT_VERSION) {
        c.fail(PROBEX_BUNDLE_VERSION, "format version " + std::to_string(format_version_) + ", this runtime reads " +
                                          std::to_string(PROBEX_BUNDLE_FORMAT_VERSION));
      } else {
        producer_ = str(root->producer());
        std::vector<TreeView> trees;
        std::set<std::string_view> names;
        if (!root->trees() || root->trees()->size() == 0) c.content("holds no trees");
        for (size_t i = 0; c.status() == PROBEX_OK && root->trees() && i < root->trees()->size(); ++i) {
          TreeView v;
          if (!check_tree(root->trees()->Get(static_cast<flatbuffers::uoffset_t>(i)), i, root, c, &v)) break;
          if (!names.insert(v.name).second) c.content(std::string("two trees are named '") + v.name + "'");
          trees.push_back(std::move(v));
        }
        if (c.status() == PROBEX_OK) check_router(root, &trees, c);
        if (c.status() == PROBEX_OK) {
          trees_ = std::move(trees);
          if (root->router())
            router_ = SketchSpec{root->router()->seed(), root->router()->sketch_rows(), root->router()->sketch_cols()};
        }
      }
    }
  }
  if (c.status() != PROBEX_OK) *message = c.message();
  return c.status();
}

}  // namespace probex
