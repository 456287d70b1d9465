// Turning trained experts (trainer checkpoints) into a probex bundle (schema/probex_bundle.fbs):
// quantize, compute self-tests, compare quantized against float outputs, serialize.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "converter/bundle/quantize.h"
#include "converter/expert/checkpoint.h"
#include "converter/expert/multilabel.h"
#include "probex/probex.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/math/layer_sketch.h"
#include "runtime/math/multiview.h"

namespace probex::convert {

struct SelfTestEntry {
  uint64_t seed = 0;
  float amplitude = 0.0f;
  std::vector<float> logits, embedding;
  float tolerance = 0.0f;
  std::vector<float> zero_shot_scores;  // the zero-shot expert's cosines, for the labels it had then
};

// A multi-view expert's view as it goes into the bundle (schema: View).
struct BundleView {
  ViewKind kind = ViewKind::kXU;
  QuantizedMatrix probes, projection;  // U^T [r, d], V^T [p, rows of S]
};

// A tree's zero-shot expert as it goes into the bundle (schema: ZeroShot); bundle/zero_shot_bundle.h
// makes it from a zero-shot checkpoint and a text-embedding table.
struct BundleZeroShot {
  ProbexShape shape;  // d_y = 0; for a multi-view expert r_u = r probes per view, r_v = p (as BundleTree)
  QuantizedMatrix probes, projection, encoder, encoder_bias;
  std::vector<BundleView> views;  // a multi-view (MVProbe) expert instead of probes and projection
  float std_eps = 0.0f;
  float probe_output_ratio = 0.0f;
  std::vector<std::string> labels;
  std::vector<uint8_t> trained;     // per label: 1 if the expert was trained on it
  QuantizedMatrix prototypes;       // [labels, r_T], unit rows
  QuantizedMatrix text_projection;  // [r_T, d_text] f32
  QuantizedMatrix text_bias;        // [1, r_T] f32
  std::string text_source;
  // The expert with the stored weights, a ProbexExpert or an MvProbeExpert; null for a tree read back from a bundle.
  std::unique_ptr<MultiLabelModel> device_model;
};

// One tree as it goes into the bundle, plus the model the device will effectively run.
struct BundleTree {
  std::string name, root, layer_name;
  LayerRule rule = LayerRule::kMatrix;
  ProbexShape shape;  // for a multi-view expert: r_u = r probes per view, r_v = p
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, double>> metrics;
  std::string reader_reason;  // checkpoint metadata "reader_reason" (probex-train --expert auto)
  // [out, in] each: probes U^T, projection V^T, encoder M, head W; biases [1, n] in f32.
  QuantizedMatrix probes, projection, encoder, encoder_bias, head, head_bias;
  std::vector<SelfTestEntry> self_tests;
  float probe_output_ratio = 0.0f;  // int8 per-channel probes only: see calibrate_probe_output
  std::vector<float> root_sketch;   // router (bundle/router.h); empty: no router
  float accept_distance = 0.0f;
  // A multi-view (MVProbe) classifier instead of ProbeX's probes and projection (then empty).
  std::vector<BundleView> views;
  float std_eps = 0.0f;
  // The expert with the stored (dequantized) weights: a ProbexExpert or, with views, an MvProbeExpert.
  std::unique_ptr<MultiLabelModel> device_model;
  std::unique_ptr<BundleZeroShot> zero_shot;  // optional
};

// The four matrices every expert has, quantized as make_bundle_tree does (int8 on the probes and the
// encoder, f16 for the projection V under int8), and the device model that computes with them.
void quantize_expert_body(const ProbexExpert& expert, const QuantSpec& spec, QuantizedMatrix* probes,
                          QuantizedMatrix* projection, QuantizedMatrix* encoder, QuantizedMatrix* encoder_bias);
void set_expert_body(const QuantizedMatrix& probes, const QuantizedMatrix& projection, const QuantizedMatrix& encoder,
                     const QuantizedMatrix& encoder_bias, ProbexExpert* device_model);

// The same for an MVProbe expert: its computed views and the encoder's columns that read them, int8 on the
// probes and encoder, f16 on the projections; `device_model` gets the stored values (its head is the caller's).
void quantize_mvprobe_body(const MvProbeExpert& expert, const QuantSpec& spec, std::vector<BundleView>* views,
                           QuantizedMatrix* encoder, QuantizedMatrix* encoder_bias, MvProbeExpert* device_model);

// Reads a bundle back into trees (weights as stored, no device models) and its router, for rewriting it
// (probex-convert --add-labels). The bytes are verified by the runtime first.
bool unpack_bundle(const std::vector<uint8_t>& bytes, std::vector<BundleTree>* trees, SketchSpec* router,
                   std::string* error);

// From a checkpoint: tree name, layer and rule come from its metadata (an authors' bare state dict has
// none: pass them in `tree`, `layer`, `rule`; empty means "from metadata"). Numeric metadata whose key
// starts with "test_" or "val_" becomes the tree's metrics.
bool make_bundle_tree(const LoadedCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      BundleTree* out, std::string* error);
// The same from an MVProbe checkpoint (probex-train --expert mvprobe): only the views it computes go into
// the bundle, with the encoder's matching columns. int8 applies to the probes and the encoder as for
// ProbeX; the runtime multiplies by the probes in float32 (a multi-view expert has no int8 step 1).
bool make_bundle_tree(const LoadedMvProbeCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      BundleTree* out, std::string* error);

// Adds `count` self-tests with inputs uniform in [-amplitude, amplitude) and the device model's outputs
// (float arithmetic on the stored weights; the zero-shot scores too, if the tree has a zero-shot expert),
// and calibrates the probe output ratio on those inputs too.
void add_self_tests(BundleTree* tree, size_t count, float amplitude, uint64_t seed, float tolerance);

// For int8 per-channel probes: raises the tree's probe output ratio to cover `count` layers (X [d_H, d_W]
// each): max over rows of max_l |P[h, l]| / max_k |X[h, k]|, the output scale of the runtime's int8 step 1
// (schema: Expert.probe_output_ratio). Does nothing for other storage types.
void calibrate_probe_output(BundleTree* tree, const float* layers, size_t count);

// How far the runtime's outputs (the real device code, XNNPACK backend, on a serialized bundle) are from
// the float expert's, on real layers: the worst over the int8 step-1 paths a device may take
// (RuntimeBundle::device_paths()).
struct QuantComparison {
  size_t layers = 0;
  size_t decisions = 0;          // (layer, label) decisions at 0.5: layers x labels
  size_t flips = 0;              // of them, those that differ (the worst path's)
  double label_flip_rate = 0.0;  // flips / decisions
  double max_probability_error = 0.0;
  double min_embedding_cosine = 1.0;
};
bool compare_with_runtime(const std::vector<uint8_t>& bundle_bytes, size_t tree_index, MultiLabelModel& float_model,
                          const ExpertData& layers, QuantComparison* out, std::string* error);

// Runs the bundle's self-tests with the runtime's XNNPACK backend on every int8 step-1 path a device may
// take; *worst = largest relative difference.
bool measure_self_tests(const std::vector<uint8_t>& bundle_bytes, double* worst, std::string* error);

// probex-convert's quantization budget: how far the runtime may be from the float expert (QuantComparison)
// for the bundle to be written. The flip rate is a verdict on a count (flip_bound.h): over the budget
// when the flips are more than max_flips_within(decisions, max_flip_rate) allows.
struct QuantBudget {
  double max_flip_rate = 0.005;
  double max_probability_error = 0.05;
  double min_embedding_cosine = 0.99;
  double max_zero_shot_drop = 0.01;  // zero-shot top-1 the runtime may lose (bundle/zero_shot_bundle.h)
};
bool within_budget(const QuantComparison& c, const QuantBudget& budget);

// Whether a tree's classifier or zero-shot expert runs its step 1 in int8 (probe_output_ratio > 0).
bool uses_int8_step1(const BundleTree& tree);

// The self-test tolerance of trees with an int8 step 1, from the worst relative difference this machine's
// runtime shows on the self-tests: a device may differ by 4x that (other kernels round the int8 step
// differently), and never less than 1e-3 (float arithmetic in another order differs by ~1e-6).
float int8_self_test_tolerance(double worst);
// Sets every self-test's tolerance: int8_self_test_tolerance(worst) in trees with an int8 step 1, 1e-3
// in the others. Returns the int8 tolerance.
float set_self_test_tolerances(std::vector<BundleTree>* trees, double worst);

// Serializes the bundle; identical label lists share one label space. Tree names must be unique.
// `format_version` is for tests that need a bundle of another version.
// `router` (rows and cols > 0) is written when the trees carry root sketches.
bool build_bundle(const std::vector<const BundleTree*>& trees, const std::string& producer, std::vector<uint8_t>* out,
                  std::string* error, uint32_t format_version = PROBEX_BUNDLE_FORMAT_VERSION,
                  const SketchSpec& router = SketchSpec{});
// The same for every tree of `trees`, in order, at the current format version.
bool build_bundle(const std::vector<BundleTree>& trees, const std::string& producer, std::vector<uint8_t>* out,
                  std::string* error, const SketchSpec& router);

}  // namespace probex::convert
