// Reads a GGUF file with npm's @huggingface/gguf (an independent parser) and prints what it found in the
// line format of write_gguf_sample, sorted, so the two can be compared with diff.
// Usage: node gguf_peer_dump.js PACKAGE_DIR FILE
const { gguf, GGMLQuantizationType } = require(process.argv[2]);
gguf(process.argv[3], { allowLocalFile: true }).then((r) => {
  const lines = [];
  for (const [key, value] of Object.entries(r.metadata)) {
    if (key === "version" || key === "tensor_count" || key === "kv_count") continue;  // header fields
    lines.push(`meta ${key} ${Array.isArray(value) ? value.join("|") : String(value)}`);
  }
  for (const t of r.tensorInfos) {
    // The type by the package's own name for it ("Q4_K"), so both sides name it independently.
    lines.push(`tensor ${t.name} ${t.shape.map(String).join(",")} ${GGMLQuantizationType[t.dtype]} ${t.offset}`);
  }
  lines.sort();
  console.log(lines.join("\n"));
}).catch((e) => {
  console.error(`gguf_peer_dump: ${e.message}`);
  process.exit(1);
});
