// libFuzzer: the PEFT adapter config parser (adapter_config.json) on arbitrary bytes; on success, the
// target and rank lookups PEFT's semantics need (suffix lists, '.'-wildcard full matches, rank_pattern
// keys), then the adapter consistency check on tensors made from the config: one LoRA pair per target
// entry and rank_pattern key, with the rank the config gives it, which must pass, and one with a wrong
// rank, which must not.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/formats/model_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  probex::AdapterConfig config;
  if (!probex::parse_adapter_config(json, "fuzz", &config).ok()) return 0;
  if (config.r == 0) std::abort();
  std::vector<std::string> modules = config.target_modules;
  for (const auto& [key, rank] : config.rank_pattern) {
    if (rank == 0) std::abort();
    modules.push_back(key);
  }
  modules.push_back("model.layers.0.self_attn.q_proj");
  std::sort(modules.begin(), modules.end());
  modules.erase(std::unique(modules.begin(), modules.end()), modules.end());
  if (modules.size() > 64) modules.resize(64);
  std::vector<probex::ModelTensor> tensors;
  for (const std::string& m : modules) {
    bool known = false;
    const bool targeted = config.targets_module(m, &known);
    uint64_t rank = 0;
    const bool rank_known = config.rank_for(m, &rank);
    if (rank_known && rank == 0) std::abort();
    if ((known && !targeted) || !rank_known || rank > (uint64_t{1} << 20) || m.empty()) {
      continue;
    }
    const std::string name = "base_model.model." + m;
    tensors.push_back({name + ".lora_A.weight", {rank, 4}, "F32", true, rank * 4, tensors.size()});
    tensors.push_back({name + ".lora_B.weight", {3, rank}, "F32", true, rank * 3, tensors.size()});
  }
  const probex::ModelStatus st = probex::check_adapter_tensors(config, tensors, "fuzz");
  // Pairs built from modules that a name such as "a.lora_A.weight" would split differently, or that
  // share a name, may be refused; a refusal must still be one of the documented details.
  if (!st.ok() && st.detail.empty()) std::abort();
  if (!tensors.empty()) {
    tensors[0].shape[0] += 1;
    if (probex::check_adapter_tensors(config, tensors, "fuzz").ok()) std::abort();
  }
  return 0;
}
