// probex-train's policy, as the library holds it: the zero-shot hyper-parameters, which trees are trained,
// and the --layer auto sweep's refusal.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "converter/expert/train_tree.h"
#include "converter/expert/zero_shot_tree.h"

using namespace probex::convert;

TEST_CASE("zero-shot defaults: the authors' settings for every fit setting not given, the rest untouched") {
  FitConfig fit;
  fit.batch_size = 64;
  fit.seed = 9;
  apply_zero_shot_defaults(GivenFitSettings{}, &fit);
  CHECK(fit.epochs == 200);
  CHECK(fit.lr == doctest::Approx(2e-3));
  CHECK(fit.weight_decay == 0.0);
  CHECK(fit.eval_every == 10);
  CHECK(fit.batch_size == 64);  // not a zero-shot setting
  CHECK(fit.seed == 9);

  FitConfig given;
  given.epochs = 7;
  given.lr = 0.5;
  given.weight_decay = 0.25;
  given.eval_every = 3;
  GivenFitSettings which;
  which.epochs = true;
  which.weight_decay = true;
  apply_zero_shot_defaults(which, &given);
  CHECK(given.epochs == 7);
  CHECK(given.lr == doctest::Approx(2e-3));
  CHECK(given.weight_decay == doctest::Approx(0.25));
  CHECK(given.eval_every == 10);
}

TEST_CASE("trees to train: every tree with training models, or the ones named") {
  const std::vector<ZooFile> files = {
      {"p", "b", "train", "m0"},      {"p", "b", "test", "m1"}, {"p", "foreign", "root", "root"},
      {"p", "foreign", "test", "m0"}, {"p", "a", "val", "m0"},  {"p", "a", "train", "m1"},
  };
  const TreeChoice all = trees_to_train(files, {});
  CHECK(all.trees == std::vector<std::string>{"a", "b"});  // sorted, as the zoo lists them
  CHECK(all.without_training == std::vector<std::string>{"foreign"});
  // Named trees are taken as given, in the order given: one without training models fails when loaded.
  const TreeChoice named = trees_to_train(files, {"foreign", "b"});
  CHECK(named.trees == std::vector<std::string>{"foreign", "b"});
  CHECK(named.without_training.empty());
  CHECK(trees_to_train({}, {}).trees.empty());
}

TEST_CASE("--layer auto on a tree without training models: no usable layer, with the reason") {
  const std::vector<ZooFile> files = {{"p", "a", "test", "m0"}};
  LayerChoice chosen;
  std::string error;
  CHECK_FALSE(choose_layer(files, "a", TreeTrainOptions{}, 5, &chosen, &error));
  CHECK(error == "tree a: no usable layer: tree 'a' has no training models");
  CHECK(chosen.layer.empty());
}
