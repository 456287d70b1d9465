// ONNX Runtime as the peer of probex-bench: the latency of an expert exported by
// `probex-convert --onnx-expert` on one layer already in memory, in onnxruntime-node (CPU, MLAS kernels),
// fetched by scripts/fetch-onnxruntime.sh. scripts/bench.sh prints it beside probex-bench.
//
//   node scripts/ort_bench.js ORT_FOLDER EXPERT.onnx MODEL.safetensors [--tensor NAME] [--threads N]
//                             [--runs N] [--warmup N] [--profile]
//
// The layer (default: the file's only tensor) is read once into a Float32Array; each run is one awaited
// session.run on it, timed from the call to the outputs in hand (what a Node.js caller waits for, including
// the binding's hop through setImmediate). Prints p10 / p50 / p90 in milliseconds. --profile then runs a
// second session with ONNX Runtime's profiler on and prints the p50 of each node's kernel time and of the
// whole run inside ONNX Runtime (after the optimizer: e.g. Transpose, Gemm and Relu fused into one node),
// to set beside probex-bench's stages.
// Also a module: loadOrt and readLayer serve tests/tools/ort_expert_check.js.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

function loadOrt(folder) {
  return require(path.resolve(folder, 'node_modules', 'onnxruntime-node'));
}

// One tensor of a safetensors file as float32 (F32 only: the layers here are written as such), with its shape.
function readLayer(file, name) {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (name === undefined) {
    if (names.length !== 1) throw new Error(`${file}: ${names.length} tensors; name one with --tensor`);
    name = names[0];
  }
  const entry = header[name];
  if (!entry) throw new Error(`${file}: no tensor '${name}'`);
  if (entry.dtype !== 'F32' || entry.shape.length !== 2) {
    throw new Error(`${file}: '${name}' is ${entry.dtype} ${JSON.stringify(entry.shape)}; a 2-D F32 layer is needed`);
  }
  const [begin, end] = entry.data_offsets;
  // A copy: the data need not be 4-byte aligned inside the file.
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + headerLength + begin,
                                                   bytes.byteOffset + 8 + headerLength + end));
  return { name, shape: entry.shape, data };
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// A bad command line: exit 2, as probex's CLIs.
class UsageError extends Error {}

function parseArgs(argv) {
  const usage = 'usage: node scripts/ort_bench.js ORT_FOLDER EXPERT.onnx MODEL.safetensors [--tensor NAME] ' +
                '[--threads N] [--runs N] [--warmup N] [--profile]';
  const o = { threads: 1, runs: 200, warmup: 20, profile: false, positional: [] };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(usage);
      process.exit(0);
    } else if (a === '--profile') {
      o.profile = true;
    } else if (a === '--tensor') {
      o.tensor = argv[++i];
    } else if (a === '--threads' || a === '--runs' || a === '--warmup') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < (a === '--warmup' ? 0 : 1)) throw new UsageError(`${a} needs a positive integer`);
      o[a.slice(2)] = v;
    } else if (a.startsWith('--')) {
      throw new UsageError(`unknown argument '${a}'`);
    } else {
      o.positional.push(a);
    }
  }
  if (o.positional.length !== 3) throw new UsageError(usage);
  return o;
}

function sessionOptions(o, extra) {
  return { intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential',
           graphOptimizationLevel: 'all', ...extra };
}

// Runs `runs` times after `warmup`; the milliseconds of each timed run, sorted.
async function timeRuns(session, feeds, o) {
  const times = [];
  for (let i = 0; i < o.warmup + o.runs; ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (i >= o.warmup) times.push(ms);
  }
  return times.sort((a, b) => a - b);
}

// ONNX Runtime's own profile (Chrome trace JSON): per node kernel time and the whole run, warm-up left out.
async function profile(ort, modelPath, feeds, o) {
  const prefix = path.join(os.tmpdir(), `ort-bench-${process.pid}`);
  const session = await ort.InferenceSession.create(modelPath,
                                                    sessionOptions(o, { enableProfiling: true, profileFilePrefix: prefix }));
  await timeRuns(session, feeds, o);
  session.endProfiling();
  const files = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(path.basename(prefix)) && f.endsWith('.json'));
  if (files.length !== 1) throw new Error(`expected one profile file ${prefix}*.json, found ${files.length}`);
  const events = JSON.parse(fs.readFileSync(path.join(os.tmpdir(), files[0]), 'utf8'));
  fs.unlinkSync(path.join(os.tmpdir(), files[0]));
  const byName = new Map();
  for (const e of events) {
    let name;
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) name = `${e.args.op_name} ${e.name.slice(0, -'_kernel_time'.length)}`;
    else if (e.cat === 'Session' && e.name === 'model_run') name = 'model_run (all nodes)';
    else continue;
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name).push(e.dur / 1e3);
  }
  console.log(`ONNX Runtime profile, p50 of ${o.runs} runs (ms):`);
  for (const [name, all] of byName) {
    const times = all.slice(o.warmup).sort((a, b) => a - b);
    console.log(`  ${name.padEnd(48)} ${percentile(times, 0.5).toFixed(3)}`);
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const [folder, modelPath, layerPath] = o.positional;
  const ort = loadOrt(folder);
  const layer = readLayer(layerPath, o.tensor);
  const session = await ort.InferenceSession.create(modelPath, sessionOptions(o, {}));
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', layer.data, layer.shape) };
  const times = await timeRuns(session, feeds, o);
  console.log(`onnxruntime-node ${ort.env.versions.node} (CPU), graph optimization all, ${o.threads} intra-op ` +
              `thread(s), ${o.runs} runs: ${path.basename(modelPath)} on ${layer.name} [${layer.shape.join(', ')}]`);
  console.log(`${'session.run (ms)'.padEnd(26)} p10 ${percentile(times, 0.1).toFixed(3)}  ` +
              `p50 ${percentile(times, 0.5).toFixed(3)}  p90 ${percentile(times, 0.9).toFixed(3)}`);
  if (o.profile) await profile(ort, modelPath, feeds, o);
}

module.exports = { loadOrt, readLayer };

if (require.main === module) {
  main().catch((e) => {
    console.error(`ort_bench: ${e.message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
