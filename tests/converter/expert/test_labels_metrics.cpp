#include <doctest/doctest.h>

#include "converter/expert/labels.h"
#include "converter/expert/metrics.h"
#include "converter/expert/weight_stats.h"

#include <cmath>
#include "runtime/formats/python_literal.h"

using namespace probex;
using namespace probex::convert;

TEST_CASE("dataset_chosen_targets literals parse as data") {
  std::vector<std::string> out;
  std::string error;
  REQUIRE(parse_python_string_list("['Bag', 'T-shirt/top', \"Ankle boot\"]", &out, &error));
  CHECK(out == std::vector<std::string>{"Bag", "T-shirt/top", "Ankle boot"});
  REQUIRE(parse_python_string_list(" [ 'it\\'s' , 'a\\\\b', '\\xe9\\u20ac', ] ", &out, &error));
  CHECK(out == std::vector<std::string>{"it's", "a\\b", "\xc3\xa9\xe2\x82\xac"});
  REQUIRE(parse_python_string_list("[]", &out, &error));
  CHECK(out.empty());
  CHECK(parse_python_string_list(python_list_literal({"a'b", "c\\d", "e"}), &out, &error));
  CHECK(out == std::vector<std::string>{"a'b", "c\\d", "e"});
  for (const char* bad : {"", "Bag", "['Bag'", "['Bag' 'Coat']", "[Bag]", "['Bag', 3]", "['a'] x", "['\\q']",
                          "['\\x4']", "[__import__('os')]", "('a', 'b')", "['a',,]", "['\\ud800']"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_python_string_list(bad, &out, &error));
    CHECK(error.rfind("not a Python list of strings: ", 0) == 0);
  }
}

TEST_CASE("label spaces are sorted unions; unknown labels are errors") {
  const auto space = label_space({{"Coat", "Bag"}, {"Bag", "Shirt"}});
  CHECK(space == std::vector<std::string>{"Bag", "Coat", "Shirt"});
  float row[3];
  std::string error;
  REQUIRE(multi_hot({"Shirt", "Bag"}, space, row, &error));
  CHECK(row[0] == 1.0f);
  CHECK(row[1] == 0.0f);
  CHECK(row[2] == 1.0f);
  CHECK_FALSE(multi_hot({"Sandal"}, space, row, &error));
  CHECK(error == "label 'Sandal' is not in the expert's label space");
}

TEST_CASE("ROC AUC, bit accuracy, exact-set accuracy and chance") {
  CHECK(roc_auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}) == doctest::Approx(0.75));
  CHECK(roc_auc({1, 1, 1, 1}, {0, 1, 0, 1}) == doctest::Approx(0.5));  // ties count half
  CHECK(roc_auc({1, 2}, {1, 1}) == -1.0);
  const float logits[6] = {2, -1, 3, /**/ -2, 1, 1};
  const float targets[6] = {1, 0, 1, /**/ 0, 0, 1};
  const MultiLabelMetrics m = multilabel_metrics(logits, targets, 2, 3);
  CHECK(m.bit_accuracy == doctest::Approx(5.0 / 6));
  CHECK(m.exact_set == doctest::Approx(0.5));
  CHECK(m.auc_labels == 1);  // only label 0 has both classes (AUC 1); labels 1 and 2 are left out
  CHECK(m.mean_auc == doctest::Approx(1.0));
  CHECK(m.label_auc == std::vector<double>{1.0, -1.0, -1.0});  // per label, -1 where undefined
  const float train[6] = {1, 0, 1, 1, 0, 0};  // majorities: label 0 -> 1 (2 of 2), label 1 -> 0, label 2 tie -> 0
  const MultiLabelMetrics c = chance_metrics(train, 2, targets, 2, 3);
  CHECK(c.bit_accuracy == doctest::Approx(3.0 / 6));  // label 0: 1 of 2, label 1: 2 of 2, label 2: 0 of 2
  CHECK(c.mean_auc == 0.5);
}

TEST_CASE("weight statistics of a known layer") {
  // X = [[1, 2, 3], [5, 6, 7]]
  const float x[6] = {1, 2, 3, 5, 6, 7};
  std::vector<float> f(weight_stat_count(2, 3));
  REQUIRE(f.size() == 11 + 4 + 6);
  weight_stats(x, 2, 3, f.data());
  CHECK(f[0] == doctest::Approx(4.0));                  // mean
  CHECK(f[1] == doctest::Approx(std::sqrt(14.0 / 3)));  // std
  CHECK(f[2] == 1.0f);                                  // min
  CHECK(f[3] == 7.0f);                                  // max
  CHECK(f[11] == doctest::Approx(2.0));                 // row 0 mean
  CHECK(f[13] == doctest::Approx(6.0));                 // row 1 mean
  CHECK(f[15] == doctest::Approx(3.0));                 // column 0 mean
  CHECK(f[16] == doctest::Approx(2.0));                 // column 0 std
  std::vector<float> cols_only(weight_stat_count(2, 3, {false, false, true}));
  REQUIRE(cols_only.size() == 6);
  weight_stats(x, 2, 3, cols_only.data(), {false, false, true});
  CHECK(cols_only[0] == doctest::Approx(3.0));
  CHECK(cols_only[5] == doctest::Approx(2.0));
}
