#!/usr/bin/python3
"""Children of a zoo's roots fine-tuned by another recipe and another code path: the held-out set of
docs/zoo.md ("Answers that hold outside the zoo's recipe"). No reader is ever trained or selected on them.

    /usr/bin/python3 scripts/heldout_finetune.py --zoo ZOO --out DIR [--children N] [--seed S] [--tree T ...]

For every tree of ZOO (a folder <tree>/root/model.safetensors, written by probex-zoo), N children are
fine-tuned from the root on the subset task (K of the zoo's labels, a fresh head in its own class order,
K and the label set taken from the zoo's own subset children) and written as
DIR/<tree>/heldout/<model>/model.safetensors with the zoo's metadata keys (split "heldout", task "subset",
recipe "numpy-sgd"), plus DIR/manifest.jsonl. What differs from probex-zoo's recipe, on purpose:

- the code: NumPy (float32 GEMMs through NumPy's BLAS, this file's own backward pass), not the project's
  C++ trainer;
- the data pipeline: pixels scaled to [-1, 1] (x / 127.5 - 1) instead of the zoo's mean/std
  standardisation; random crops of the image padded by 3 pixels instead of shifts by up to 2 and flips;
- the optimiser and schedule: SGD with Nesterov momentum 0.9 and coupled L2 weight decay, a step decay
  (x0.1 at 70% of the steps), where the zoo draws AdamW, Adam or plain SGD with constant, warm-up,
  linear or cosine schedules;
- the loss: softmax cross-entropy with label smoothing 0.1;
- the head: Glorot-uniform weights and zero bias (the zoo: PyTorch's nn.Linear default);
- larger batches (128 or 256; the zoo: 32 to 128) and 2-5 whole epochs over 20-60% of the task's images.

Labels over class x quarter-turn (a zoo built with label rotations names them "Shirt (rotated 90)") are
honoured: such a label's images are turned counter-clockwise as numpy.rot90 turns them, as probex-zoo does.
Dependencies: python3-numpy (install-deps) and Debian's dataset-fashion-mnist.
"""
import argparse
import ast
import gzip
import json
import os
import re
import struct
import sys
import time

# One BLAS thread per process, set before NumPy loads its BLAS: these GEMMs are small, and threads fight
# over 2 cores (measured: 125 s for a child with OpenBLAS's default threads on a busy machine).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
LABEL = re.compile(r"^(.*?)(?: \(rotated (90|180|270)\))?$")


def fail(message):
    sys.exit(f"heldout_finetune: {message}")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, count * rows * cols, 16).reshape(count, rows, cols)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, count, 8)
    fail(f"{path}: not an IDX image or label file")


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            fail(f"{path}: tensor {name} is {t['dtype']}; roots are F32")
        begin, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data, np.float32, (end - begin) // 4, 8 + n + begin).reshape(t["shape"]).copy()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, offset, blobs = {"__metadata__": meta}, 0, []
    for name, value in tensors.items():
        blob = np.ascontiguousarray(value, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(tmp, path)


def parse_label(name):
    m = LABEL.match(name)
    if not m or m.group(1) not in CLASSES:
        fail(f"label '{name}' is not a Fashion-MNIST class (with an optional ' (rotated N)')")
    return CLASSES.index(m.group(1)), int(m.group(2) or 0) // 90


def layer_names(tensors):
    """fc1, fc2, ..., head: the MLP's Linear layers in order (converter/nn/model.cpp names them so)."""
    fcs = sorted((int(k[2:-7]), k[:-7]) for k in tensors if re.fullmatch(r"fc\d+\.weight", k))
    if "head.weight" not in tensors or not fcs:
        fail("the root is not a probex-zoo MLP (fc1..fcN and head)")
    return [name for _, name in fcs] + ["head"]


def zoo_subset_labels(zoo, tree):
    """The label universe and K of the zoo's own subset children of `tree` (from manifest.jsonl)."""
    labels, ks = set(), set()
    with open(os.path.join(zoo, "manifest.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if m.get("tree") == tree and m.get("task") == "subset":
                names = ast.literal_eval(m["dataset_chosen_targets"])
                labels.update(names)
                ks.add(len(names))
    if not labels:
        fail(f"{zoo}: no subset children of tree {tree} in manifest.jsonl")
    return sorted(labels, key=lambda n: parse_label(n)[::-1]), max(ks)


def images_of(images, classes, label):
    cls, turns = parse_label(label)
    x = images[classes == cls]
    return np.rot90(x, turns, axes=(1, 2)) if turns else x


def forward(params, names, x):
    acts = [x]
    for i, n in enumerate(names):
        z = acts[-1] @ params[n + ".weight"].T + params[n + ".bias"]
        acts.append(np.maximum(z, 0) if i + 1 < len(names) else z)
    return acts


def random_crops(batch, rng, pad=3):
    padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad)), constant_values=-1.0)
    out = np.empty_like(batch)
    offsets = rng.integers(0, 2 * pad + 1, size=(len(batch), 2))
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[i, dy:dy + 28, dx:dx + 28]
    return out


def finetune(root, names, train_x, train_y, k, rng):
    params = {n: v.copy() for n, v in root.items()}
    fan_in = params["head.weight"].shape[1]
    limit = np.sqrt(6.0 / (fan_in + k))
    params["head.weight"] = rng.uniform(-limit, limit, (k, fan_in)).astype(np.float32)
    params["head.bias"] = np.zeros(k, np.float32)
    lr = float(rng.choice([0.01, 0.02, 0.05]))
    batch = int(rng.choice([128, 256]))
    epochs = int(rng.integers(2, 6))
    decay, momentum, smoothing = 5e-4, 0.9, 0.1
    steps_per_epoch = max(1, len(train_x) // batch)
    total = epochs * steps_per_epoch
    velocity = {n: np.zeros_like(v) for n, v in params.items()}
    target_off = smoothing / k
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(train_x))
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            x = random_crops(train_x[idx], rng).reshape(len(idx), -1)
            acts = forward(params, names, x)
            logits = acts[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            target = np.full_like(p, target_off)
            target[np.arange(len(idx)), train_y[idx]] += 1.0 - smoothing
            grad = (p - target) / len(idx)
            grads = {}
            for i in range(len(names) - 1, -1, -1):
                n = names[i]
                grads[n + ".weight"] = grad.T @ acts[i] + decay * params[n + ".weight"]
                grads[n + ".bias"] = grad.sum(axis=0)
                if i:
                    grad = (grad @ params[n + ".weight"]) * (acts[i] > 0)
            rate = lr * (0.1 if step >= 0.7 * total else 1.0)
            for n, g in grads.items():  # Nesterov momentum, as torch.optim.SGD(nesterov=True)
                velocity[n] = momentum * velocity[n] + g
                params[n] -= (rate * (g + momentum * velocity[n])).astype(np.float32)
            step += 1
    return params, {"learning_rate": lr, "batch_size": batch, "epochs": epochs, "steps": step}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoo", required=True, help="a zoo built by probex-zoo (probex layout)")
    ap.add_argument("--out", required=True, help="the folder to write (refused if it exists)")
    ap.add_argument("--children", type=int, default=30, help="children per tree (default 30)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tree", action="append", help="only this tree (repeatable)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    if os.path.exists(args.out):
        fail(f"{args.out} exists")
    if args.children < 1:
        fail("--children must be at least 1")
    trees = args.tree or sorted(t for t in os.listdir(args.zoo)
                                if os.path.isfile(os.path.join(args.zoo, t, "root", "model.safetensors")))
    if not trees:
        fail(f"{args.zoo}: no <tree>/root/model.safetensors")
    train_images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz")).astype(np.float32) / 127.5 - 1.0
    train_classes = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))
    test_images = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 127.5 - 1.0
    test_classes = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))
    partial = args.out + ".partial"
    os.makedirs(partial, exist_ok=True)
    manifest = []
    start = time.time()
    for t_index, tree in enumerate(trees):
        root, root_meta = read_safetensors(os.path.join(args.zoo, tree, "root", "model.safetensors"))
        names = layer_names(root)
        universe, k = zoo_subset_labels(args.zoo, tree)
        for c in range(args.children):
            seed = args.seed * 1_000_003 + t_index * 10_007 + c
            rng = np.random.default_rng(seed)
            chosen = [universe[i] for i in rng.choice(len(universe), k, replace=False)]
            fraction = float(rng.uniform(0.2, 0.6))
            xs, ys, tx, ty = [], [], [], []
            for h, label in enumerate(chosen):
                x = images_of(train_images, train_classes, label)
                x = x[rng.permutation(len(x))[:max(1, int(fraction * len(x)))]]
                xs.append(x)
                ys.append(np.full(len(x), h))
                t = images_of(test_images, test_classes, label)
                tx.append(t)
                ty.append(np.full(len(t), h))
            train_x, train_y = np.concatenate(xs), np.concatenate(ys)
            params, hp = finetune(root, names, train_x, train_y, k, rng)
            test_x = np.concatenate(tx).reshape(-1, 28 * 28)
            accuracy = float((forward(params, names, test_x)[-1].argmax(axis=1) == np.concatenate(ty)).mean())
            model = f"heldout-{c:04d}"
            folder = os.path.join(partial, tree, "heldout", model)
            os.makedirs(folder, exist_ok=True)
            meta = {
                "format": "probex-zoo/1", "zoo": root_meta.get("zoo", ""), "tree": tree, "root": f"{tree}/root",
                "architecture": root_meta.get("architecture", ""), "task": "subset", "split": "heldout",
                "model": model, "recipe": "numpy-sgd (scripts/heldout_finetune.py)", "seed": str(seed),
                "dataset_chosen_targets": repr(chosen), "head": "fresh", "optimizer": "sgd-nesterov",
                "lr_schedule": "step", "weight_decay": "0.0005", "label_smoothing": "0.1",
                "data_fraction": repr(fraction), "train_examples": str(len(train_x)),
                "test_accuracy": repr(accuracy), "test_metric": "accuracy", "test_chance": repr(1.0 / k),
                **{key: str(value) for key, value in hp.items()},
            }
            write_safetensors(os.path.join(folder, "model.safetensors"), {n: params[n] for n in root}, meta)
            manifest.append({"path": f"{tree}/heldout/{model}/model.safetensors", **meta})
            done = t_index * args.children + c + 1
            print(f"\r{done}/{len(trees) * args.children} children, last test accuracy {accuracy:.3f}, "
                  f"{time.time() - start:.0f} s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with open(os.path.join(partial, "manifest.jsonl"), "w") as f:
        for m in manifest:
            f.write(json.dumps(m, sort_keys=True) + "\n")
    os.rename(partial, args.out)
    accs = [float(m["test_accuracy"]) for m in manifest]
    print(f"heldout_finetune: {len(manifest)} children in {args.out}, test accuracy mean {np.mean(accs):.3f} "
          f"(min {min(accs):.3f}), {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
