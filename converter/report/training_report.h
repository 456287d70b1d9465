// probex-train --report: one HTML page (report/html.h) with, per tree, the training curves of every
// method, the per-label test AUC, and PCA maps of the ProbeX expert's embeddings of the test models
// (by tree and by label); for --task detector, the curves, the scores per method and the map by class.
// docs/report.md describes what is drawn and how to read it.
#pragma once

#include <string>
#include <vector>

#include "converter/expert/train_tree.h"
#include "converter/expert/zero_shot_tree.h"
#include "converter/report/html.h"

namespace probex::convert::report {

// The run's settings for the page's header: zoo, layer, task, seed, epochs, learning rate, ...
Facts training_facts(const std::string& zoo, const TreeTrainOptions& options);

std::string training_report_html(const Facts& facts, const std::vector<TreeReport>& trees);
std::string zero_shot_report_html(const Facts& facts, const std::vector<ZeroShotReport>& trees);

// What probex-train calls: the page of whichever task was trained, written to DIR/index.html.
bool write_training_report(const std::string& dir, const std::string& zoo, const TreeTrainOptions& options,
                           const std::vector<TreeReport>& trees, const std::vector<ZeroShotReport>& zero_shot,
                           std::string* error);

}  // namespace probex::convert::report
