// The conversion pipeline (converter/pipeline/convert.h) without a zoo: checkpoint files in, a bundle the
// runtime verifies out, the report's lines as probex-convert prints them, and the errors a user meets.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "converter/expert/checkpoint.h"
#include "converter/pipeline/convert.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

namespace probex::convert {
namespace {

// A random ProbeX checkpoint of tree `tree` on a [12, 10] layer with 3 labels, saved at `path`.
void save_checkpoint(const std::string& path, const std::string& tree, uint64_t seed) {
  const ProbexShape shape{12, 10, 4, 4, 4, 3};
  LoadedCheckpoint c = test::random_checkpoint(shape, seed, tree);
  c.metadata["labels"] = "['coat', 'bag', 'shirt']";
  std::string error;
  REQUIRE_MESSAGE(save_probex_checkpoint(*c.expert, c.metadata, path, &error), error);
}

}  // namespace

TEST_CASE("convert_bundle: two checkpoints -> a bundle the runtime verifies, its trees in the order given") {
  test::TempDir dir;
  save_checkpoint(dir.file("b.safetensors"), "tree-b", 3);
  save_checkpoint(dir.file("a.safetensors"), "tree-a", 4);
  ConvertOptions o;
  o.checkpoints = {dir.file("b.safetensors"), dir.file("a.safetensors")};
  o.producer = "test";
  std::string error;
  REQUIRE(parse_quant_spec("f16", &o.spec, &error));
  ConvertReport r;
  REQUIRE_MESSAGE(convert_bundle(o, &r, &error) == ConvertOutcome::kWritten, error);
  const auto loaded = test::load_bundle(r.bytes);
  REQUIRE(loaded->bundle.trees().size() == 2);
  CHECK(std::string(loaded->bundle.trees()[0].name) == "tree-b");
  CHECK(std::string(loaded->bundle.trees()[1].name) == "tree-a");
  CHECK(r.tree_types == std::vector<std::string>{"f16", "f16"});
  CHECK(r.unsigned_size == r.bytes.size());
  // Without a zoo: no router, no budget check, self-tests from this machine's own run of the bundle.
  CHECK_FALSE(r.with_router);
  CHECK(router_text(o, r).empty());
  CHECK(budget_text(o, r, false).empty());
  CHECK(r.worst_self_test < 1e-3);
  const std::string text = written_text(o, r, "out.probex");
  CHECK(text.find("tree-b     probes.weight                [4, 10]        f16") != std::string::npos);
  CHECK(text.find("bundle out.probex: " + std::to_string(r.bytes.size()) + " bytes, 2 tree(s), f16\n") !=
        std::string::npos);
}

TEST_CASE("convert_bundle: a missing checkpoint fails naming it; options the checkpoints contradict are refused") {
  test::TempDir dir;
  ConvertOptions o;
  o.checkpoints = {dir.file("absent.safetensors")};
  ConvertReport r;
  std::string error;
  CHECK(convert_bundle(o, &r, &error) == ConvertOutcome::kFailed);
  CHECK(error.find("absent.safetensors") != std::string::npos);

  save_checkpoint(dir.file("a.safetensors"), "tree-a", 4);
  o.checkpoints = {dir.file("a.safetensors")};
  o.extra_labels = {"a raincoat"};
  ConvertReport r2;
  CHECK(convert_bundle(o, &r2, &error) == ConvertOutcome::kBadRequest);
  CHECK(error == "--label needs a zero-shot checkpoint");
  CHECK(r2.bytes.empty());
}

}  // namespace probex::convert
