// Sharded safetensors checkpoints and PEFT LoRA adapters through open_model_file: valid folders (read
// back exactly), the variants each format accepts, and the malformed-folder corpora
// (model_folder_corpus.h), each case refused with its own code, detail and message.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/formats/model_file.h"
#include "runtime/formats/model_folder.h"
#include "tests/runtime/formats/model_folder_corpus.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;

namespace {

std::vector<float> read_all(const ModelFile& m, const std::string& name) {
  const ModelTensor* t = m.find(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  std::vector<float> out(static_cast<size_t>(t->element_count));
  const ModelStatus st = m.read_f32(*t, 0, t->element_count, out.data());
  REQUIRE_MESSAGE(st.ok(), st.message);
  return out;
}

std::unique_ptr<ModelFile> open_ok(const std::string& path) {
  std::unique_ptr<ModelFile> m;
  const ModelStatus st = open_model_file(path, &m);
  REQUIRE_MESSAGE(st.ok(), st.message);
  REQUIRE(m != nullptr);
  return m;
}

void check_case(const MalformedFolderCase& c, const std::string& folder) {
  const std::string name = c.name;
  CAPTURE(name);
  std::unique_ptr<ModelFile> m;
  const ModelStatus st = open_model_file(folder, &m, c.limits);
  CHECK(model_error_name(st.code) == std::string(model_error_name(c.expected)));
  CHECK(st.detail == c.detail);
  CHECK_MESSAGE(st.message.find(c.message_part) != std::string::npos, st.message);
  CHECK(m == nullptr);
}

}  // namespace

TEST_CASE("a 2-shard checkpoint opens from its folder and from its index, values exact across shards") {
  TempDir dir;
  const std::string folder = dir.file("ckpt");
  REQUIRE(write_folder(folder, sharded_folder(index_json(valid_map()))));
  const std::string index = folder + "/model.safetensors.index.json";
  for (const std::string& path : {folder, index}) {
    CAPTURE(path);
    const auto m = open_ok(path);
    CHECK(m->format() == ModelFormat::kShardedSafetensors);
    CHECK(std::string(model_format_name(m->format())) == "safetensors-sharded");
    CHECK(m->label() == index);
    CHECK(m->declared_base_model().empty());
    REQUIRE(m->tensors().size() == 3);
    // Shards in the order the index first names them, each in data order.
    CHECK(m->tensors()[0].name == "a");
    CHECK(m->tensors()[1].name == "b");
    CHECK(m->tensors()[2].name == "c");
    const ModelTensor* c = m->find("c");
    REQUIRE(c != nullptr);
    CHECK(c->shape == std::vector<uint64_t>{3, 2});
    CHECK(c->dtype == "F32");
    CHECK(c->readable);
    CHECK(read_all(*m, "a") == std::vector<float>{1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f});
    CHECK(read_all(*m, "b") == std::vector<float>{-3.0f, -2.5f, -2.0f, -1.5f});
    CHECK(read_all(*m, "c") == std::vector<float>{100.0f, 100.5f, 101.0f, 101.5f, 102.0f, 102.5f});
    std::vector<float> row(2);
    REQUIRE(m->read_rows_f32(*c, 2, 1, row.data()).ok());
    CHECK(row == std::vector<float>{102.0f, 102.5f});
    const ModelStatus past = m->read_rows_f32(*c, 3, 1, row.data());
    CHECK(past.code == ModelError::kOutOfRange);
    CHECK(m->find("d") == nullptr);
  }
}

TEST_CASE("a sharded checkpoint may name one shard two ways, keep shards in a subfolder or link inside its folder") {
  TempDir dir;
  const std::string folder = dir.file("ckpt");
  REQUIRE(write_folder(folder, {{"model.safetensors.index.json",
                                 text(index_json(std::string("\"a\": \"") + kShard1 + "\", \"b\": \"./" + kShard1 +
                                                 "\", \"c\": \"shards/c.safetensors\""))},
                                {kShard1, shard1_bytes()},
                                {"shards/real.safetensors", shard2_bytes()},
                                {"shards/c.safetensors", {}, "real.safetensors"}}));
  const auto m = open_ok(folder);
  REQUIRE(m->tensors().size() == 3);
  CHECK(read_all(*m, "b") == std::vector<float>{-3.0f, -2.5f, -2.0f, -1.5f});
  CHECK(read_all(*m, "c")[5] == 102.5f);
}

TEST_CASE("a checkpoint in the Hugging Face hub cache: snapshot files may link into the repository's blobs") {
  TempDir dir;
  const std::string repo = dir.file("models--org--name");
  REQUIRE(write_folder(repo, {{"blobs/1111", text(index_json(valid_map()))},
                              {"blobs/2222", shard1_bytes()},
                              {"blobs/3333", shard2_bytes()},
                              {"refs/main", text("abc")}}));
  const std::string snapshot = repo + "/snapshots/abc";
  REQUIRE(mkdir((repo + "/snapshots").c_str(), 0755) == 0);
  REQUIRE(write_folder(snapshot, {{"model.safetensors.index.json", {}, "../../blobs/1111"},
                                  {kShard1, {}, "../../blobs/2222"},
                                  {kShard2, {}, "../../blobs/3333"}}));
  const auto m = open_ok(snapshot);
  CHECK(m->format() == ModelFormat::kShardedSafetensors);
  CHECK(read_all(*m, "c")[0] == 100.0f);

  // Only a direct child of that repository's blobs folder: not another repository's, not a deeper file.
  const std::string other = dir.file("models--org--other");
  REQUIRE(write_folder(other, {{"blobs/4444", shard2_bytes()}, {"blobs/deep/5555", shard2_bytes()}}));
  REQUIRE(mkdir((other + "/snapshots").c_str(), 0755) == 0);
  int revision = 0;
  for (const std::string target : {"../../../models--org--name/blobs/3333", "../../blobs/deep/5555"}) {
    CAPTURE(target);
    const std::string s = other + "/snapshots/r" + std::to_string(revision++);
    REQUIRE(write_folder(s, {{"model.safetensors.index.json", {}, "../../../models--org--name/blobs/1111"},
                             {kShard1, {}, "../../../models--org--name/blobs/2222"},
                             {kShard2, {}, target}}));
    std::unique_ptr<ModelFile> out;
    const ModelStatus st = open_model_file(s, &out);
    CHECK(st.detail == "shard_outside_folder");
  }
}

TEST_CASE("the parsed shard index: shards in order of first mention, entries sorted, unknown keys ignored") {
  ShardIndex index;
  const std::string json = "{\"format\": \"pt\", \"weight_map\": {\"z\": \"s2\", \"a\": \"s1\", \"m\": \"s2\"}}";
  const ModelStatus st = parse_shard_index(json, "i.json", {}, &index);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(index.shards == std::vector<std::string>{"s2", "s1"});
  REQUIRE(index.entries.size() == 3);
  CHECK(index.entries[0].tensor == "a");
  CHECK(index.entries[0].shard == 1);
  REQUIRE(index.find("m") != nullptr);
  CHECK(index.find("m")->shard == 0);
  CHECK(index.find("b") == nullptr);
  // A refused index leaves *out empty.
  CHECK(parse_shard_index("{\"weight_map\": {\"a\": \"../x\"}}", "i.json", {}, &index).detail ==
        "shard_outside_folder");
  CHECK(index.entries.empty());
  CHECK(index.shards.empty());
}

TEST_CASE("an index given directly that is not JSON is no model; one without weight_map or peft_type neither") {
  TempDir dir;
  const std::string path = dir.file("x.json");
  REQUIRE(write_bytes(path, text("{\"weight_map\": ")));
  std::unique_ptr<ModelFile> m;
  CHECK(open_model_file(path, &m).code == ModelError::kNotAModel);
  REQUIRE(write_bytes(path, text("{\"architectures\": []}")));
  CHECK(open_model_file(path, &m).code == ModelError::kNotAModel);
}

TEST_CASE("every malformed sharded checkpoint gives its own specific error") {
  const auto cases = malformed_sharded_corpus();
  REQUIRE(cases.size() >= 25);
  TempDir dir;
  int i = 0;
  for (const auto& c : cases) {
    const std::string folder = dir.file("case-" + std::to_string(i++));
    REQUIRE(write_folder(folder, c.files));
    check_case(c, folder);
  }
}

TEST_CASE("a PEFT LoRA adapter opens from its folder and from its config") {
  TempDir dir;
  const std::string folder = dir.file("adapter");
  REQUIRE(write_folder(folder, adapter_folder(adapter_config(), adapter_tensors())));
  for (const std::string& path : {folder, folder + "/adapter_config.json"}) {
    CAPTURE(path);
    const auto m = open_ok(path);
    CHECK(m->format() == ModelFormat::kPeftAdapter);
    CHECK(std::string(model_format_name(m->format())) == "peft-lora");
    CHECK(m->label() == folder);
    CHECK(m->declared_base_model() == "org/base-7b");
    REQUIRE(m->tensors().size() == 4);
    const ModelTensor* b = m->find(std::string(kV) + ".lora_B.weight");
    REQUIRE(b != nullptr);
    CHECK(b->shape == std::vector<uint64_t>{5, 2});
    CHECK(read_all(*m, std::string(kQ) + ".lora_A.weight") ==
          std::vector<float>{1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f});
    CHECK(read_all(*m, std::string(kV) + ".lora_B.weight")[9] == 24.5f);
    const AdapterConfig* config = peft_adapter_config(*m);
    REQUIRE(config != nullptr);
    CHECK(config->r == 2);
    CHECK(config->lora_alpha == 16.0f);
    CHECK(config->targets == LoraTargets::kList);
    CHECK(config->target_modules == std::vector<std::string>{"q_proj", "v_proj"});
  }
  SUBCASE("peft_adapter_config is null for other formats") {
    const std::string ckpt = dir.file("ckpt");
    REQUIRE(write_folder(ckpt, sharded_folder(index_json(valid_map()))));
    CHECK(peft_adapter_config(*open_ok(ckpt)) == nullptr);
  }
}

TEST_CASE("PEFT adapters: what the config and the weights may also hold") {
  TempDir dir;
  int i = 0;
  const auto opens = [&](const std::string& config, const std::vector<StTensor>& tensors) {
    const std::string folder = dir.file("a" + std::to_string(i++));
    REQUIRE(write_folder(folder, adapter_folder(config, tensors)));
    std::unique_ptr<ModelFile> m;
    const ModelStatus st = open_model_file(folder, &m);
    CHECK_MESSAGE(st.ok(), st.message);
    return m;
  };
  auto t = adapter_tensors();
  SUBCASE("rank_pattern overrides r by module suffix, first match wins") {
    t[0].shape = {4, 4};
    t[1].shape = {3, 4};
    const auto m = opens(adapter_config(", \"rank_pattern\": {\"layers.0.self_attn.q_proj\": 4, \"q_proj\": 6}"), t);
    REQUIRE(m != nullptr);
    uint64_t rank = 0;
    const AdapterConfig* config = peft_adapter_config(*m);
    REQUIRE(config->rank_for("model.layers.0.self_attn.q_proj", &rank));
    CHECK(rank == 4);
    REQUIRE(config->rank_for("model.layers.1.self_attn.q_proj", &rank));
    CHECK(rank == 6);
    REQUIRE(config->rank_for("model.layers.0.self_attn.v_proj", &rank));
    CHECK(rank == 2);
  }
  SUBCASE("a rank_pattern regex probex cannot evaluate leaves the rank to A and B") {
    t[0].shape = {4, 4};
    t[1].shape = {3, 4};
    CHECK(opens(adapter_config(", \"rank_pattern\": {\"^model.*q_proj$\": 4}"), t) != nullptr);
  }
  SUBCASE("modules_to_save, saved biases and an Embedding LoRA pair") {
    t.push_back({"base_model.model.score.weight", {2, 4}});
    t.push_back({"base_model.model.classifier.dense.weight", {2, 2}});
    t.push_back({std::string(kQ) + ".bias", {3}});
    t.push_back({"base_model.model.model.embed_tokens.lora_embedding_A", {2, 10}});
    t.push_back({"base_model.model.model.embed_tokens.lora_embedding_B", {6, 2}});
    const auto m = opens("{\"peft_type\": \"LORA\", \"r\": 2, \"bias\": \"all\", \"modules_to_save\": [\"score\", "
                         "\"classifier\"], \"target_modules\": [\"q_proj\", \"v_proj\", \"embed_tokens\"]}",
                         t);
    REQUIRE(m != nullptr);
    CHECK(m->tensors().size() == 9);
    CHECK(m->find("base_model.model.score.weight") != nullptr);
  }
  SUBCASE("target_modules: null, all-linear, a regex and a full-match string") {
    for (const char* targets :
         {"null", "\"all-linear\"", "\".*\\\\.(q|v)_proj\"", "\"model.layers.0.self_attn.(q|v)_proj\""}) {
      CAPTURE(targets);
      const std::string config = "{\"peft_type\": \"LORA\", \"r\": 2, \"target_modules\": " + std::string(targets) +
                                 ", \"base_model_name_or_path\": null}";
      const auto m = opens(config, t);
      REQUIRE(m != nullptr);
      CHECK(m->declared_base_model().empty());
      CHECK(peft_adapter_config(*m)->lora_alpha == 8.0f);  // PEFT's default
    }
    AdapterConfig c;
    REQUIRE(parse_adapter_config("{\"peft_type\": \"LORA\", \"r\": 1, \"target_modules\": \"model.layers.0.q_proj\"}",
                                 "c", &c)
                .ok());
    CHECK(c.targets == LoraTargets::kFullMatch);
    bool known = false;
    CHECK(c.targets_module("model.layers.0.q_proj", &known));
    CHECK(known);
    CHECK(c.targets_module("model-layers-0-q_proj", &known));  // '.' is a regex wildcard
    CHECK_FALSE(c.targets_module("model.layers.0.q_proj.x", &known));
    CHECK_FALSE(c.targets_module("xmodel.layers.0.q_proj", &known));
  }
}

TEST_CASE("every malformed PEFT adapter gives its own specific error") {
  const auto cases = malformed_peft_corpus();
  REQUIRE(cases.size() >= 25);
  TempDir dir;
  int i = 0;
  for (const auto& c : cases) {
    const std::string folder = dir.file("case-" + std::to_string(i++));
    REQUIRE(write_folder(folder, c.files));
    check_case(c, folder);
  }
}

TEST_CASE("a folder with no adapter config or index, and a config path whose folder has none") {
  TempDir dir;
  std::unique_ptr<ModelFile> m;
  const ModelStatus empty = open_model_file(dir.path(), &m);
  CHECK(empty.code == ModelError::kNotAModel);
  // A PEFT config under another name: the adapter is read from its folder, which has no adapter_config.json.
  const std::string path = dir.file("my_config.json");
  REQUIRE(write_bytes(path, text(adapter_config())));
  const ModelStatus st = open_model_file(path, &m);
  CHECK(st.code == ModelError::kIo);
  CHECK(st.detail == "adapter_config_missing");
  CHECK(st.message.find("no adapter_config.json") != std::string::npos);
}
