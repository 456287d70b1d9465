// Runs an expert exported by `probex-convert --onnx-expert` in ONNX Runtime on one layer and compares its
// outputs with probex-audit --json's record for the same layer: every label's probability (sigmoid of
// ONNX Runtime's logit) and every embedding value within TOLERANCE (absolute; for the embedding, relative
// to its largest magnitude when that is above 1).
//
//   node ort_expert_check.js ORT_FOLDER EXPERT.onnx MODEL.safetensors TENSOR AUDIT.json TOLERANCE
//
// Exit 0 when they agree, 1 otherwise (each difference over the tolerance printed).
'use strict';
const fs = require('fs');
const path = require('path');
const { loadOrt, readLayer } = require(path.join(__dirname, '..', '..', 'scripts', 'ort_bench.js'));

async function main() {
  const [folder, modelPath, layerPath, tensor, auditPath, toleranceText] = process.argv.slice(2);
  const tolerance = Number(toleranceText);
  const ort = loadOrt(folder);
  const layer = readLayer(layerPath, tensor);
  const record = JSON.parse(fs.readFileSync(auditPath, 'utf8').trim().split('\n')[0]);
  if (record.status !== 'ok') throw new Error(`${auditPath}: the audit failed: ${record.message}`);
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const out = await session.run({ layer: new ort.Tensor('float32', layer.data, layer.shape) });
  const logits = Array.from(out.logits.data), embedding = Array.from(out.embedding.data);
  const probex = { probability: record.labels.map((l) => l.probability), embedding: record.embedding };
  const ours = { probability: logits.map((z) => 1 / (1 + Math.exp(-z))), embedding };
  let bad = 0;
  const report = [];
  for (const key of ['probability', 'embedding']) {
    const a = ours[key], b = probex[key];
    if (a.length !== b.length) throw new Error(`${key}: ${a.length} values from ONNX Runtime, ${b.length} from probex`);
    const scale = key === 'embedding' ? Math.max(1, ...b.map(Math.abs)) : 1;
    let worst = 0;
    for (let i = 0; i < a.length; ++i) {
      const d = Math.abs(a[i] - b[i]) / scale;
      worst = Math.max(worst, d);
      if (!(d <= tolerance)) {
        console.log(`${key} ${i}: ONNX Runtime ${a[i]}, probex ${b[i]}`);
        ++bad;
      }
    }
    report.push(`${a.length} ${key === 'embedding' ? 'embedding values' : 'probabilities'} (largest difference ` +
                `${worst.toPrecision(3)})`);
  }
  if (bad) {
    console.log(`ort_expert_check: ${bad} values differ by more than ${tolerance}`);
    process.exit(1);
  }
  console.log(`ort_expert_check: ONNX Runtime ${ort.env.versions.node} equals probex on [${layer.shape.join(', ')}]: ` +
              `${report.join(', ')}, tolerance ${tolerance}`);
}

main().catch((e) => {
  console.error(`ort_expert_check: ${e.message}`);
  process.exit(1);
});
