// Training one tree's zero-shot expert (docs/method.md sections 3-4) on the zoo's one-class `detector`
// children, with the Dense expert plus the same text projection as a baseline, and evaluating it:
//   in-distribution top-1: test models, candidates = the seen (training) classes, parameters kept on val;
//   zero-shot top-1: test_holdout models, candidates = the unseen classes only, parameters kept on
//                    val_holdout (this is the checkpoint written, the one a bundle carries);
//   retrieval: one text query per class (seen and unseen), ranking the test and test_holdout models.
#pragma once

#include <string>
#include <vector>

#include "converter/expert/train_tree.h"
#include "converter/expert/zero_shot.h"
#include "converter/text/embedding_table.h"

namespace probex::convert {

struct ZeroShotMethod {
  std::string method;  // "probex", "dense", "chance"
  size_t parameters = 0;
  double in_distribution_top1 = 0.0;
  double zero_shot_top1 = 0.0;
  RetrievalMetrics retrieval;
  int seen_epoch = 0, unseen_epoch = 0;
  double seconds_per_epoch = 0.0;
  std::vector<ZeroShotEval> evals;  // the training curve (empty for chance)
};

struct ZeroShotReport {
  std::string tree, layer, rule;
  size_t rows = 0, cols = 0;
  size_t train = 0, val = 0, test = 0, val_holdout = 0, test_holdout = 0;
  std::vector<std::string> seen, unseen;  // class names, in projection order
  std::vector<std::string> text_words;    // per class (seen then unseen): the table entries used
  std::vector<ZeroShotMethod> methods;
  std::vector<std::string> skipped;
  // The written ProbeX expert's embedding e of the test then test_holdout models, [models,
  // embedding_width], and each model's class (an index into seen ++ unseen).
  size_t embedding_width = 0;
  std::vector<float> test_embeddings;
  std::vector<size_t> test_classes;
};

// The fit settings a caller gave explicitly (probex-train's --epochs, --lr, --weight-decay, --eval-every).
struct GivenFitSettings {
  bool epochs = false, lr = false, weight_decay = false, eval_every = false;
};
// The authors' zero-shot hyper-parameters (docs/method.md section 3: 200 epochs, lr 2e-3, weight decay 0,
// an evaluation every 10 epochs), each set unless given: the zero-shot expert is trained as the authors
// train theirs, not with the classification settings FitConfig defaults to.
void apply_zero_shot_defaults(const GivenFitSettings& given, FitConfig* fit);

// options.load.task must be "detector"-like (one class per model); the fit is used as given (see
// apply_zero_shot_defaults).
bool train_zero_shot_tree(const std::vector<ZooFile>& files, const std::string& tree, const TreeTrainOptions& options,
                          const EmbeddingTable& table, ZeroShotReport* report, std::string* error);

}  // namespace probex::convert
