// Loading layers from a zoo: both layouts, labels, and every kind of bad model.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "converter/expert/layer_dataset.h"
#include "converter/io/safetensors_writer.h"
#include "tests/test_util.h"

using namespace probex::convert;
namespace fs = std::filesystem;

namespace {

// Writes one model with layer "w" [rows, cols] filled with `fill`, and metadata.
void write_model(const std::string& dir, size_t rows, size_t cols, float fill, const std::string& targets,
                 const std::string& task = "subset", const std::string& layer = "w") {
  fs::create_directories(dir);
  SafetensorsWriter w;
  std::string error;
  std::vector<float> v(rows * cols, fill);
  REQUIRE(w.add_f32(layer, probex::Dtype::kF32, {rows, cols}, v.data(), &error));
  if (!targets.empty()) w.set_metadata("dataset_chosen_targets", targets);
  w.set_metadata("task", task);
  REQUIRE(w.write_file(dir + "/model.safetensors", &error));
}

LoadOptions options() {
  LoadOptions o;
  o.layer = "w";
  return o;
}

}  // namespace

TEST_CASE("good models load into one contiguous array with multi-hot labels") {
  probex::test::TempDir zoo;
  write_model(zoo.file("t/train/m0"), 2, 3, 1.0f, "['b', 'a']");
  write_model(zoo.file("t/train/m1"), 2, 3, 2.0f, "['c']");
  write_model(zoo.file("t/train/d0"), 2, 3, 9.0f, "['a']", "detector");  // another task: not a candidate
  write_model(zoo.file("t/root"), 2, 3, 0.0f, "['a', 'b', 'c']", "pretrain");
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE(list_zoo_files(zoo.path(), &files, &error));
  CHECK(files.size() == 4);
  CHECK(zoo_trees(files) == std::vector<std::string>{"t"});
  std::vector<std::string> space;
  LoadedSplit split;
  REQUIRE_MESSAGE(load_split(files, "t", "train", options(), &space, 0, 0, &split, &error), error);
  CHECK(space == std::vector<std::string>{"a", "b", "c"});
  CHECK(split.data.count == 2);
  CHECK(split.rows == 2);
  CHECK(split.cols == 3);
  CHECK(split.data.x == std::vector<float>{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2});
  CHECK(split.data.y == std::vector<float>{1, 1, 0, 0, 0, 1});
  CHECK(split.skipped.empty());
}

TEST_CASE("bad models are listed with reasons and skipped, or refused") {
  probex::test::TempDir zoo;
  for (int i = 0; i < 5; ++i) write_model(zoo.file("t/train/good" + std::to_string(i)), 2, 3, 1.0f, "['a']");
  write_model(zoo.file("t/train/bad_shape"), 3, 3, 1.0f, "['a']");
  write_model(zoo.file("t/train/bad_nan"), 2, 3, NAN, "['a']");
  write_model(zoo.file("t/train/bad_inf"), 2, 3, INFINITY, "['a']");
  write_model(zoo.file("t/train/bad_literal"), 2, 3, 1.0f, "['a'");
  write_model(zoo.file("t/train/bad_no_targets"), 2, 3, 1.0f, "");
  write_model(zoo.file("t/train/bad_layer"), 2, 3, 1.0f, "['a']", "subset", "other");
  fs::create_directories(zoo.file("t/train/bad_file"));
  probex::test::write_bytes(zoo.file("t/train/bad_file/model.safetensors"), {1, 2, 3});
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE(list_zoo_files(zoo.path(), &files, &error));

  LoadOptions o = options();
  o.max_bad_share = 1.0;
  std::vector<std::string> space;
  LoadedSplit split;
  REQUIRE_MESSAGE(load_split(files, "t", "train", o, &space, 0, 0, &split, &error), error);
  CHECK(split.data.count == 5);
  REQUIRE(split.skipped.size() == 7);
  std::string all;
  for (const auto& s : split.skipped) all += s + "\n";
  CHECK(all.find("bad_shape/model.safetensors: layer 'w' is [3, 3], expected [2, 3]") != std::string::npos);
  CHECK(all.find("bad_nan/model.safetensors: layer 'w' holds NaN or Inf") != std::string::npos);
  CHECK(all.find("bad_inf/model.safetensors: layer 'w' holds NaN or Inf") != std::string::npos);
  CHECK(all.find("bad_literal/model.safetensors: dataset_chosen_targets is not a Python list") != std::string::npos);
  CHECK(all.find("bad_no_targets/model.safetensors: no dataset_chosen_targets") != std::string::npos);
  CHECK(all.find("bad_layer/model.safetensors: no tensor named 'w'") != std::string::npos);
  CHECK(all.find("bad_file/model.safetensors: the file has 3 bytes, fewer than any format's header") !=
        std::string::npos);

  space.clear();
  CHECK_FALSE(load_split(files, "t", "train", options(), &space, 0, 0, &split, &error));  // 7 of 12 bad > 10%
  CHECK(error.find("7 of 12 models are bad") != std::string::npos);
  o.strict = true;
  space.clear();
  CHECK_FALSE(load_split(files, "t", "train", o, &space, 0, 0, &split, &error));
  CHECK(error.find("7 bad models") != std::string::npos);
}

TEST_CASE("a label outside the training label space and an empty split are errors") {
  probex::test::TempDir zoo;
  write_model(zoo.file("t/train/m0"), 2, 2, 1.0f, "['a']");
  write_model(zoo.file("t/val/m0"), 2, 2, 1.0f, "['zebra']");
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE(list_zoo_files(zoo.path(), &files, &error));
  std::vector<std::string> space;
  LoadedSplit split;
  REQUIRE(load_split(files, "t", "train", options(), &space, 0, 0, &split, &error));
  CHECK_FALSE(load_split(files, "t", "val", options(), &space, 2, 2, &split, &error));
  CHECK(error.find("label 'zebra' is not in the expert's label space") != std::string::npos);
  CHECK_FALSE(load_split(files, "t", "test", options(), &space, 2, 2, &split, &error));
  CHECK(error == "tree 't' has no 'subset' models in split 'test'");
  CHECK_FALSE(list_zoo_files(zoo.file("nope"), &files, &error));
  CHECK(error.find("not a folder") != std::string::npos);
}

TEST_CASE("the Hugging Face cache layout follows refs/main and refuses refs that escape") {
  probex::test::TempDir zoo;
  write_model(zoo.file("t/train/m0/snapshots/abc123"), 2, 2, 1.0f, "['a']");
  write_model(zoo.file("t/train/m0/snapshots/old"), 2, 2, 5.0f, "['a']");
  fs::create_directories(zoo.file("t/train/m0/refs"));
  std::ofstream(zoo.file("t/train/m0/refs/main")) << "abc123\n";
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE_MESSAGE(list_zoo_files(zoo.path(), &files, &error), error);
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == zoo.file("t/train/m0/snapshots/abc123/model.safetensors"));
  CHECK(files[0].model == "m0");
  std::ofstream(zoo.file("t/train/m0/refs/main")) << "../../../etc\n";
  CHECK_FALSE(list_zoo_files(zoo.path(), &files, &error));
  CHECK(error.find("not a valid ref") != std::string::npos);
}
