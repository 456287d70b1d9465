// probex-audit's texts (runtime/tools/audit_report.h) on a real bundle and hand-set results: the report's
// lines, the tally's summary with its accuracies, and the --query ranking's order, ties and refusals.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/tools/audit_report.h"
#include "tests/roundtrip/bundle_fixture.h"

namespace probex::tools {
namespace {

// A one-tree bundle (tree-a, labels "class 0".."class 2") opened through the public C++ API.
struct OneTreeBundle {
  convert::BundleTree tree = test::bundle_tree({6, 5, 2, 2, 2, 3}, 11);
  test::AlignedBytes bytes{test::bundle_bytes({&tree})};
  api::Bundle bundle;
  OneTreeBundle() { REQUIRE_FALSE(api::Bundle::open_buffer(bytes.data(), bytes.size(), &bundle)); }
};

// A result of tree 0 with these probabilities (predicted at >= 0.5) and no zero-shot part.
struct Result {
  float probabilities[3];
  bool predicted[3];
  probex_audit_result r{};
  explicit Result(std::vector<float> p) {
    probex_audit_result_init(&r, sizeof r);
    for (size_t k = 0; k < 3; ++k) probabilities[k] = p[k], predicted[k] = p[k] >= 0.5f;
    r.tree = 0;
    r.label_count = 3;
    r.probabilities = probabilities;
    r.predicted = predicted;
    r.model_format = "safetensors";
    r.declared_base_model = "";  // as a successful audit sets them
    r.unknown_reason = "";
    r.seconds_read = 0.001;
  }
};

}  // namespace

TEST_CASE("audit report: the labels by probability, the truth marked, the bit accuracy") {
  OneTreeBundle b;
  Result res({0.2f, 0.9f, 0.6f});
  const std::vector<std::string> truth = {"class 1", "class 0"};
  const AuditedModel m = audited_model(b.bundle, "m.safetensors", res.r, &truth);
  CHECK(m.right == 1);  // class 1 right; class 0 missed; class 2 predicted but not in the truth
  const std::string text = report_text(m, {"tree-a"}, "targets");
  CHECK(text.find("model  m.safetensors (safetensors)\ntree   tree-a (root ") == 0);
  CHECK(text.find("fine-tuned on: class 1 (0.90) class 2 (0.60)\n"
                  "  class 1                  0.900 yes   (trained on it)\n"
                  "  class 2                  0.600 yes\n"
                  "  class 0                  0.200 no    (trained on it)\n"
                  "bit accuracy against targets: 1 / 3\n") != std::string::npos);
  CHECK(text.find("time   1.000 ms") != std::string::npos);

  AuditTally tally;
  tally.add(m);
  tally.add(audited_model(b.bundle, "n.safetensors", Result({0.1f, 0.1f, 0.1f}).r, nullptr));
  tally.add_unknown_tree();
  CHECK(tally.summary(4, true, PROBEX_BACKEND_XNNPACK, "targets") ==
        "audited 3 of 4 models (routed, 1 of unknown tree; xnnpack backend), mean 0.667 ms; against targets: "
        "bit accuracy 0.3333, exact set 0.0000 over 1 models\n");
}

TEST_CASE("audit report: a declared base model names the root with or without its owner") {
  CHECK(same_model_name("org/mlp-a", "mlp-a"));
  CHECK(same_model_name("mlp-a", "zoo/org/mlp-a"));
  CHECK_FALSE(same_model_name("org/xmlp-a", "mlp-a"));
  CHECK_FALSE(same_model_name("", "mlp-a"));
}

TEST_CASE("--query: a tree without the label is not comparable; the ranking is by cosine, ties in audit order") {
  OneTreeBundle b;  // no zero-shot labels: nothing is comparable
  QueryRanking ranking("handbag");
  ranking.add(audited_model(b.bundle, "m.safetensors", Result({0.2f, 0.9f, 0.6f}).r, nullptr));
  CHECK(ranking.empty());
  REQUIRE(ranking.not_comparable().size() == 1);
  CHECK(
      ranking.not_comparable()[0] ==
      "m.safetensors (tree tree-a): the tree has no zero-shot label 'handbag' (add it with probex-convert --add-labels)");
  CHECK(ranking.text(false) == "models ranked by cosine with 'handbag':\n");
  CHECK(ranking.text(true).empty());

  // A zero-shot tree (labels class 0..2, boot, sandal): ranked by the cosine with "sandal" (index 4).
  convert::BundleTree zs = test::zero_shot_tree({6, 5, 2, 2, 2, 3}, 12);
  test::AlignedBytes bytes(test::bundle_bytes({&zs}));
  api::Bundle bundle;
  REQUIRE_FALSE(api::Bundle::open_buffer(bytes.data(), bytes.size(), &bundle));
  QueryRanking sandal("sandal");
  const std::vector<std::vector<float>> scores = {{0, 0, 0, 0, 0.2f}, {0, 0, 0, 0, 0.7f}, {0, 0, 0, 0.9f, 0.2f}};
  for (size_t i = 0; i < scores.size(); ++i) {
    Result res({0.1f, 0.1f, 0.1f});
    res.r.zero_shot_count = 5;
    res.r.zero_shot_scores = scores[i].data();
    sandal.add(audited_model(bundle, "m" + std::to_string(i), res.r, nullptr));
  }
  CHECK(sandal.not_comparable().empty());
  CHECK(sandal.text(false) == "models ranked by cosine with 'sandal':\n"
                              "     1   0.700  tree-a   m1\n"
                              "     2   0.200  tree-a   m0\n"
                              "     3   0.200  tree-a   m2\n");
  CHECK(sandal.text(true).find("{\"schema_version\":1,\"query\":\"sandal\",\"rank\":1,\"cosine\":0.699999988,"
                               "\"tree\":\"tree-a\",\"model\":\"m1\"}\n") == 0);
}

}  // namespace probex::tools
