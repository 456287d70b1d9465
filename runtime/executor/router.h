// The router: which tree of the bundle a model file belongs to (docs/routing.md). Each distinct probed
// layer of the bundle's trees (name, shaping rule, shape) is a site; a model's layer at a site is sketched
// while it streams, S(X) = L X R with X R on the backend, and compared with each root's stored sketch
// by the direction distance. The nearest root within its tree's acceptance distance wins; otherwise the
// model is of no known tree, with the reason.
//
// A lossy copy (Q4_K, int8, F16, ...) is its float original plus a rounding error that moves its sketch
// away from every root; the router estimates that error from the stored type (math/storage_rounding.h)
// and widens the acceptance distance into a band: below it accepted, above it refused, inside it near
// the boundary (docs/routing.md, "Lossy copies").
//
// The router does not read: the executor streams each row block once and hands it to the router and,
// when it can tell the tree in advance, to that tree's experts in the same pass (auditor.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probex/probex.h"
#include "runtime/backends/backend.h"
#include "runtime/bundle/bundle.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/math/storage_rounding.h"

namespace probex {

class Router {
 public:
  struct Site {
    const char* layer_name;
    LayerRule rule;
    uint32_t d_h, d_w;
    uint32_t projection;      // the backend's X R operator
    std::vector<float> left;  // L [k_r, d_H]
    std::vector<uint32_t> trees;
  };
  // The band of a site's measured distances around each tree's acceptance distance a: the copy of an
  // original at exactly a is expected at a rounding-dependent distance above a, give or take its spread.
  // The two constants scale the spread's terms (the sketch's sampling of the error, and the estimate of its
  // energy), chosen by measurement on exported zoos (docs/routing.md): the worst copy of 4,656 (the standard
  // zoo's 1,164 models as F16, Q8_0, Q4_K and int8 TFLite) sat 4.1 of the first term's sigmas from where
  // its original predicts, the estimate of the energy was at most 30% off.
  static constexpr double kBandSigmas = 5.0;
  static constexpr double kEnergyUncertainty = 0.5;

  // Builds the sites of a bundle with a router (none otherwise) and their projections on `backend`, which
  // must outlive the router. Allocates everything an audit needs.
  probex_status prepare(const Bundle& bundle, Backend* backend, uint32_t rows_per_block, std::string* message);
  bool enabled() const { return bundle_ && bundle_->has_router(); }
  const std::vector<Site>& sites() const { return sites_; }

  // Finds the layer of every site in `file`: layer(i).rows == 0 where the model has no layer fitting site
  // i (its name, shape and rule); *why_not then says why, for the first such site. A refusal to read (a
  // limit) is an error, not a verdict.
  probex_status match(const ModelFile& file, uint64_t max_lora_rank, std::string* why_not, std::string* message);
  const ProbedLayer& layer(size_t site) const { return layers_[site]; }

  // One site's sketch over a pass: begin, every row block in order, end (the site's trees' distances).
  void begin(size_t site);
  probex_status add_block(size_t site, const float* x, uint32_t first, uint32_t rows, std::string* message);
  void end(size_t site);

  // The decision over the sites sketched since reset(): fills the result's routing fields and *tree
  // (PROBEX_NO_TREE with reason() set when no tree accepts the model).
  void reset();
  void decide(const std::string& why_not, probex_audit_result* result, uint32_t* tree);
  const char* reason() const { return reason_; }

 private:
  const Bundle* bundle_ = nullptr;
  Backend* backend_ = nullptr;
  std::vector<Site> sites_;
  std::vector<ProbedLayer> layers_;        // per site, of the file last matched
  std::vector<StorageRounding> rounding_;  // per site, of the file last matched
  std::vector<float> sketch_, y_, distances_;
  std::vector<float> band_low_, band_high_, rounding_error_;  // per tree, as distances_
  double rounding_energy_ = 0.0;                              // of the site being sketched
  char reason_[512] = "";
};

}  // namespace probex
