// libFuzzer: the sharded checkpoint's index parser (model.safetensors.index.json) on arbitrary bytes, with
// the default limits and with small ones; on success, the invariants a caller relies on: entries sorted and
// unique, every shard id valid, every shard name relative and without "..", find() finding each entry.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/formats/model_folder.h"

namespace {

void check(const probex::ShardIndex& index) {
  for (size_t i = 0; i < index.entries.size(); ++i) {
    const probex::ShardIndex::Entry& e = index.entries[i];
    if (e.shard >= index.shards.size()) std::abort();
    if (i > 0 && !(index.entries[i - 1].tensor < e.tensor)) std::abort();
    if (index.find(e.tensor) != &e) std::abort();
  }
  for (const std::string& name : index.shards) {
    if (!probex::folder::check_relative_name(name, "fuzz").ok()) std::abort();
  }
  if (index.entries.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  probex::ShardIndex index;
  if (probex::parse_shard_index(json, "fuzz", {}, &index).ok()) check(index);
  probex::ModelLimits small;
  small.max_tensors = 3;
  small.max_shards = 2;
  small.max_header_bytes = 4096;
  if (probex::parse_shard_index(json, "fuzz", small, &index).ok()) {
    check(index);
    if (index.entries.size() > 3 || index.shards.size() > 2) std::abort();
  }
  return 0;
}
